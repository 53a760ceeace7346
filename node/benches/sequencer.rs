//! Durable appends through the sequencer against raw sled (DESIGN §6).
//!
//! Each iteration writes 1M entries of 256 bytes twice, to fresh logs on disk:
//! - **raw**: the bytes the log stores (entry bundles, level-0/8/16 tiles, leaf-hash buckets,
//!   meta), all as sled batch inserts, built with no hashing, no signing and no channels, one
//!   `apply_batch` + `flush` per 4096 entries — the limit the node is measured against (the node
//!   itself writes full bundles, tiles and buckets to its sealed files, `store::sealed`, and
//!   only the partial right edge and meta to sled);
//! - **sequencer**: the same entries submitted concurrently through `SequencerHandle::enqueue`
//!   (4 submitter tasks keeping 65536 queued, so the pool stays fed), batches of 4096, each
//!   hashed, signed, applied, flushed and acknowledged.
//!
//! Criterion times the sequencer; the report (`<target>/bench-report/node-log.json`, section
//! `sequencer`) gives both medians, appends/s and their ratio (target: ≥ 100k/s, ≤ 2×).
//! Run: `cargo bench -p herald-node --bench sequencer`.

mod report;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use ed25519_dalek::SigningKey;
use herald_node::sequencer::{Sequencer, SequencerConfig, SequencerHandle, SubmitError};
use herald_node::store::LogStore;
use herald_node::store::layout::{
    EPOCH_LEAVES, FULL_TILE_BYTES, META_CHECKPOINT, META_ROOT, META_SIZE, META_TIME, TREE_NAME,
    bundle_key, push_bundle_entry, tile_key,
};
use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::NoteSigner;
use prometheus_client::registry::Registry;

const ENTRIES: u64 = 1_000_000;
const ENTRY_BYTES: usize = 256;
const BATCH: usize = 4096;
const SUBMITTERS: u64 = 4;
const WINDOW: usize = 16_384;
const ORIGIN: &str = "bench.test/herald";

/// Entry `i`: 256 bytes, distinct per `i`.
fn fill_entry(i: u64, out: &mut [u8; ENTRY_BYTES]) {
    for (k, chunk) in out.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&(i ^ ((k as u64) << 40)).to_le_bytes());
    }
}

fn entry(i: u64) -> Vec<u8> {
    let mut e = vec![0u8; ENTRY_BYTES];
    for (k, chunk) in e.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&(i ^ ((k as u64) << 40)).to_le_bytes());
    }
    e
}

/// A sled key for leaf-hash bucket `b` of `epoch` (as layout version 1 kept them).
fn bucket_key(epoch: u32, b: u8) -> [u8; 6] {
    let mut k = [b'x'; 6];
    k[1..5].copy_from_slice(&epoch.to_be_bytes());
    k[5] = b;
    k
}

/// The raw baseline: the same keys and value sizes as the log, built from the entries with
/// placeholder hashes, one batch and one flush per `BATCH` entries.
fn raw_sled(dir: &Path) -> Duration {
    let db = sled::Config::new().path(dir).open().expect("open sled");
    let tree = db.open_tree(TREE_NAME).expect("open tree");
    let checkpoint = vec![b'c'; 150];
    // One bucket value of an epoch: 65536 / 256 records of 10 bytes.
    let bucket = vec![0x5a; (EPOCH_LEAVES as usize / 256) * 10];
    let mut bundle = Vec::with_capacity(256 * (ENTRY_BYTES + 2));
    let mut tiles: [Vec<u8>; 3] = std::array::from_fn(|_| Vec::with_capacity(FULL_TILE_BYTES));
    let mut e = [0u8; ENTRY_BYTES];
    let start = Instant::now();
    let mut i = 0u64;
    while i < ENTRIES {
        let mut batch = sled::Batch::default();
        let end = (i + BATCH as u64).min(ENTRIES);
        while i < end {
            fill_entry(i, &mut e);
            push_bundle_entry(&mut bundle, &e);
            let size = i + 1;
            // A placeholder hash per completed level-0, level-8 and level-16 node.
            for (level, tile) in tiles.iter_mut().enumerate() {
                if !size.is_multiple_of(1 << (8 * level)) {
                    break;
                }
                tile.extend_from_slice(&[level as u8; 32]);
                if tile.len() == FULL_TILE_BYTES {
                    let n = ((size >> (8 * level)) - 1) / 256;
                    batch.insert(&tile_key(level as u8, n)[..], tile.as_slice());
                    tile.clear();
                }
            }
            if size.is_multiple_of(256) {
                batch.insert(&bundle_key(i / 256)[..], bundle.as_slice());
                bundle.clear();
            }
            if size.is_multiple_of(EPOCH_LEAVES) {
                for b in 0..=255u8 {
                    batch.insert(
                        &bucket_key((i / EPOCH_LEAVES) as u32, b)[..],
                        bucket.as_slice(),
                    );
                }
            }
            i += 1;
        }
        // The partial right edge is rewritten every round, as the sequencer does.
        if !bundle.is_empty() {
            batch.insert(&bundle_key(i / 256)[..], bundle.as_slice());
        }
        for (level, tile) in tiles.iter().enumerate() {
            if !tile.is_empty() {
                let n = (i >> (8 * level)) / 256;
                batch.insert(&tile_key(level as u8, n)[..], tile.as_slice());
            }
        }
        batch.insert(META_SIZE, &i.to_be_bytes()[..]);
        batch.insert(META_ROOT, &[7u8; 32][..]);
        batch.insert(META_CHECKPOINT, checkpoint.as_slice());
        batch.insert(META_TIME, &i.to_be_bytes()[..]);
        tree.apply_batch(batch).expect("apply");
        tree.flush().expect("flush");
    }
    start.elapsed()
}

/// One submitter: keeps `WINDOW` entries queued and awaits their acks in order (acks come
/// per round, in index order, so the oldest is the first ready).
async fn submit_range(handle: SequencerHandle, from: u64, to: u64) {
    let mut in_flight = VecDeque::with_capacity(WINDOW);
    let mut next = from;
    while next < to || !in_flight.is_empty() {
        while in_flight.len() < WINDOW && next < to {
            match handle.enqueue(entry(next), Vec::new()) {
                Ok(ack) => {
                    in_flight.push_back(ack);
                    next += 1;
                }
                Err(SubmitError::Busy { .. }) => break,
                Err(e) => panic!("submit failed: {e}"),
            }
        }
        match in_flight.pop_front() {
            Some(ack) => {
                ack.await.expect("acknowledged");
            }
            None => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

fn through_sequencer(rt: &tokio::runtime::Runtime, dir: &Path) -> Duration {
    rt.block_on(async {
        let store = LogStore::create(dir, ORIGIN, HashAlgorithm::Blake3).expect("create log");
        let signer = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[3; 32])).expect("key");
        let config = SequencerConfig {
            batch_max: BATCH,
            ..SequencerConfig::default()
        };
        let (handle, task) =
            Sequencer::spawn(store, signer, config, &mut Registry::default()).expect("spawn");
        let start = Instant::now();
        let per = ENTRIES / SUBMITTERS;
        let tasks: Vec<_> = (0..SUBMITTERS)
            .map(|s| {
                let to = if s + 1 == SUBMITTERS {
                    ENTRIES
                } else {
                    (s + 1) * per
                };
                tokio::spawn(submit_range(handle.clone(), s * per, to))
            })
            .collect();
        for t in tasks {
            t.await.expect("submitter");
        }
        let elapsed = start.elapsed();
        assert_eq!(handle.latest().borrow().size, ENTRIES);
        handle.shutdown();
        task.await.expect("join").expect("clean stop");
        elapsed
    })
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let scratch = report::scratch_dir();
    let raw = RefCell::new(Vec::new());
    let seq = RefCell::new(Vec::new());
    {
        let mut group = c.benchmark_group("sequencer");
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_secs(1))
            .throughput(Throughput::Elements(ENTRIES));
        group.bench_function("durable_appends_1M_256B", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let d = tempfile::tempdir_in(&scratch).expect("tempdir");
                    let cpu = report::process_cpu();
                    let r = raw_sled(d.path());
                    let r_cpu = report::process_cpu().zip(cpu).map(|(b, a)| b - a);
                    drop(d);
                    let d = tempfile::tempdir_in(&scratch).expect("tempdir");
                    let cpu = report::process_cpu();
                    let s = through_sequencer(&rt, d.path());
                    let s_cpu = report::process_cpu().zip(cpu).map(|(b, a)| b - a);
                    drop(d);
                    eprintln!(
                        "  raw {:.3} s (cpu {:.2} s), sequencer {:.3} s (cpu {:.2} s), ratio {:.2}",
                        r.as_secs_f64(),
                        r_cpu.unwrap_or_default().as_secs_f64(),
                        s.as_secs_f64(),
                        s_cpu.unwrap_or_default().as_secs_f64(),
                        s.as_secs_f64() / r.as_secs_f64()
                    );
                    raw.borrow_mut().push((r, r_cpu));
                    seq.borrow_mut().push((s, s_cpu));
                    total += s;
                }
                total
            })
        });
        group.finish();
    }
    c.final_summary();
    let (raw, seq) = (raw.into_inner(), seq.into_inner());
    if seq.is_empty() {
        return;
    }
    let wall = |v: &[(Duration, Option<Duration>)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
    let cpu = |v: &[(Duration, Option<Duration>)]| v.iter().filter_map(|x| x.1).collect::<Vec<_>>();
    let (r, s) = (
        report::median_secs(&wall(&raw)),
        report::median_secs(&wall(&seq)),
    );
    let (r_cpu, s_cpu) = (
        report::median_secs(&cpu(&raw)),
        report::median_secs(&cpu(&seq)),
    );
    // Each run's raw and sequencer passes are back to back: their ratio cancels slow drift in
    // what else the machine is doing.
    let pair_ratios: Vec<f64> = raw
        .iter()
        .zip(&seq)
        .map(|(r, s)| s.0.as_secs_f64() / r.0.as_secs_f64())
        .collect();
    let n = ENTRIES as f64;
    report::write_section(
        "sequencer",
        serde_json::json!({
            "entries": ENTRIES,
            "entry_bytes": ENTRY_BYTES,
            "batch_max": BATCH,
            "flush": "one flush per batch",
            "runs": seq.len(),
            "raw_sled_median_s": r,
            "raw_sled_entries_per_s": n / r,
            "sequencer_median_s": s,
            "sequencer_appends_per_s": n / s,
            "ratio_sequencer_to_raw": s / r,
            "ratio_median_of_runs": report::median(&pair_ratios),
            "ratios_per_run": pair_ratios,
            "raw_sled_cpu_median_s": r_cpu,
            "sequencer_cpu_median_s": s_cpu,
            "cpu_ratio_sequencer_to_raw": s_cpu / r_cpu,
            "note": "wall times on a shared 2-core machine; other builds running at the same time add noise",
            "target": { "appends_per_s_min": 100_000, "ratio_max": 2.0 },
        }),
    );
}
