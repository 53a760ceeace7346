//! Restart time against log size (DESIGN §6, issue 3): opening a log must stay flat, because it
//! reads meta, the right edge and the current epoch's ≤ 256 level-0 tiles, never all leaves.
//!
//! Logs of 10^4, 10^6 and 10^7 entries of 256 bytes are written once through the sequencer
//! (10^7 takes ~5.4 GB of disk; set `HERALD_BENCH_RESTART_MAX=1000000` to skip it), then criterion
//! times `LogStore::open` (sled's own recovery included; closing is not timed). Each iteration
//! also opens the same directory with bare sled just before, so the report
//! (`<target>/bench-report/node-log.json`, section `restart`) gives, per size, the median open
//! time, sled's own share, the log's own work (the difference), and the ratios to the smallest
//! log (target ≤ 2).
//! Run: `cargo bench -p herald-node --bench restart`.

mod report;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use ed25519_dalek::SigningKey;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use herald_node::sequencer::{Sequencer, SequencerConfig, SubmitError};
use herald_node::store::LogStore;
use herald_node::store::layout::TREE_NAME;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::NoteSigner;
use prometheus_client::registry::Registry;

const ORIGIN: &str = "bench.test/herald";

fn entry(i: u64) -> Vec<u8> {
    let mut e = vec![0u8; 256];
    for (k, chunk) in e.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&(i ^ ((k as u64) << 40)).to_le_bytes());
    }
    e
}

/// Writes a log of `n` entries into `dir` through the sequencer.
fn build_log(dir: &Path, n: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = LogStore::create(dir, ORIGIN, HashAlgorithm::Blake3).expect("create");
        let signer = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[3; 32])).expect("key");
        let (handle, task) = Sequencer::spawn(
            store,
            signer,
            SequencerConfig::default(),
            &mut Registry::default(),
        )
        .expect("spawn");
        let mut in_flight = FuturesUnordered::new();
        let mut next = 0;
        loop {
            while in_flight.len() < 32_768 && next < n {
                let h = handle.clone();
                let e = entry(next);
                in_flight.push(async move {
                    loop {
                        match h.submit(e.clone()).await {
                            Err(SubmitError::Busy { retry_after }) => {
                                tokio::time::sleep(retry_after).await
                            }
                            r => return r,
                        }
                    }
                });
                next += 1;
            }
            match in_flight.next().await {
                None => break,
                Some(r) => {
                    r.expect("acknowledged");
                }
            }
        }
        handle.shutdown();
        task.await.expect("join").expect("clean stop");
    });
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let max: u64 = std::env::var("HERALD_BENCH_RESTART_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let sizes: Vec<u64> = [10_000u64, 1_000_000, 10_000_000]
        .into_iter()
        .filter(|&n| n <= max)
        .collect();
    let scratch = report::scratch_dir();
    let opens: RefCell<BTreeMap<u64, Vec<Duration>>> = RefCell::new(BTreeMap::new());
    let sled_opens: RefCell<BTreeMap<u64, Vec<Duration>>> = RefCell::new(BTreeMap::new());
    let mut disk = BTreeMap::new();
    let mut logs = Vec::new();
    for &n in &sizes {
        let dir = tempfile::tempdir_in(&scratch).expect("tempdir");
        let t = Instant::now();
        build_log(dir.path(), n);
        eprintln!(
            "restart: built a log of {n} entries in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        disk.insert(n, dir_bytes(dir.path()));
        logs.push((n, dir));
    }
    {
        let mut group = c.benchmark_group("restart");
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_secs(2));
        for (n, dir) in &logs {
            // Each iteration opens the directory twice, back to back: with sled alone, then as
            // a log. The difference is the log's own work (meta, right edge, current epoch).
            group.bench_function(format!("open_{n}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        let db = sled::Config::new().path(dir.path()).open().expect("open");
                        let tree = db.open_tree(TREE_NAME).expect("tree");
                        let bare = t.elapsed();
                        drop((tree, db));
                        let t = Instant::now();
                        let store = LogStore::open(dir.path()).expect("open");
                        let d = t.elapsed();
                        assert_eq!(store.head().size, *n);
                        drop(store);
                        opens.borrow_mut().entry(*n).or_default().push(d);
                        sled_opens.borrow_mut().entry(*n).or_default().push(bare);
                        total += d;
                    }
                    total
                })
            });
        }
        group.finish();
    }
    c.final_summary();
    let (opens, sled_opens) = (opens.into_inner(), sled_opens.into_inner());
    let Some(base) = opens.values().next().map(|v| report::median_secs(v)) else {
        return;
    };
    let sled_base = sled_opens
        .values()
        .next()
        .map(|v| report::median_secs(v))
        .unwrap_or(f64::NAN);
    let mut per_size = serde_json::Map::new();
    for (n, v) in &opens {
        let open = report::median_secs(v);
        let bare = sled_opens.get(n).cloned().unwrap_or_default();
        let sled_open = report::median_secs(&bare);
        let own: Vec<f64> = v
            .iter()
            .zip(&bare)
            .map(|(o, s)| o.as_secs_f64() - s.as_secs_f64())
            .collect();
        per_size.insert(
            n.to_string(),
            serde_json::json!({
                "open_median_s": open,
                "ratio_to_smallest": open / base,
                "sled_open_median_s": sled_open,
                "sled_ratio_to_smallest": sled_open / sled_base,
                "log_work_median_s": report::median(&own),
                "disk_bytes": disk.get(n),
                "current_epoch_leaves_read": n % 65_536,
                "runs": v.len(),
            }),
        );
    }
    report::write_section(
        "restart",
        serde_json::json!({
            "entry_bytes": 256,
            "sizes": per_size,
            "target": { "ratio_max": 2.0 },
        }),
    );
    // The logs are removed when `logs` drops.
}
