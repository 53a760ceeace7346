//! Restart time against log size (DESIGN §6): a node's restart must stay flat (ratio
//! ≤ 2 from 10^4 to 10^7 entries), because opening reads meta, the right edge and the current
//! epoch's ≤ 256 level-0 tiles, never all leaves.
//!
//! What a restart is: the FIRST open of the log after the process that wrote it has ended. sled
//! 0.34 writes its recovery snapshot only when a database is opened, so the first open after a
//! writing session replays everything that session wrote, and every later open is fast; timing
//! repeated opens in one process hides exactly the cost a node pays. So, per size and per way of
//! ending the writer:
//! - a **writer** child process (this binary, re-run with `HERALD_BENCH_RESTART_ROLE`) writes
//!   the log through the sequencer (256-byte entries, batches of 4096, flush before ack), then
//!   either stops cleanly (`clean`: sequencer shutdown, store dropped, process exits) or reports
//!   that everything is acknowledged and is killed with SIGKILL (`sigkill`);
//! - the directory it left is kept untouched; each repetition restores a byte-for-byte copy of
//!   it and times `LogStore::open` in a fresh **opener** child: its first open (split into
//!   sled's recovery and the log's own work, `LogStore::open_times`), then a few warm reopens in
//!   the same process for comparison.
//!
//! The report (`<target>/bench-report/node-log.json`, section `restart`) gives per size and
//! mode the median first open, its parts, the ratio to the smallest log, and the warm figures.
//! 10^7 entries need ~3 GB twice (original and copy); the bench skips sizes the disk cannot
//! hold and says so (`skipped_for_disk`). `HERALD_BENCH_RESTART_MAX=1000000` stops at 10^6,
//! `HERALD_BENCH_RESTART_REPS` sets the repetitions (default 5).
//! Run: `cargo bench -p herald-node --bench restart`.

mod report;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use herald_node::sequencer::{Sequencer, SequencerConfig, SubmitError};
use herald_node::store::LogStore;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::NoteSigner;
use prometheus_client::registry::Registry;
use serde_json::json;

const ORIGIN: &str = "bench.test/herald";
const ROLE: &str = "HERALD_BENCH_RESTART_ROLE";
const DIR: &str = "HERALD_BENCH_RESTART_DIR";
const ENTRIES: &str = "HERALD_BENCH_RESTART_ENTRIES";
/// What the writer prints once every entry is acknowledged (and, with SIGKILL, waits).
const ACKED: &str = "acked";
const WARM_OPENS: usize = 3;

fn entry(i: u64) -> Vec<u8> {
    let mut e = vec![0u8; 256];
    for (k, chunk) in e.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&(i ^ ((k as u64) << 40)).to_le_bytes());
    }
    e
}

/// How the writer process ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Clean,
    Sigkill,
}

impl End {
    fn name(self) -> &'static str {
        match self {
            End::Clean => "clean",
            End::Sigkill => "sigkill",
        }
    }
}

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("write-clean") => write_child(End::Clean),
        Ok("write-sigkill") => write_child(End::Sigkill),
        Ok("open") => open_child(),
        _ => parent(),
    }
}

fn child_args() -> (std::path::PathBuf, u64) {
    let dir = std::env::var_os(DIR).expect("writer/opener needs a directory");
    let n = std::env::var(ENTRIES)
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("writer/opener needs an entry count");
    (dir.into(), n)
}

/// Writes a log of `n` entries through the sequencer, then ends as `end` says.
fn write_child(end: End) {
    let (dir, n) = child_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = LogStore::create(&dir, ORIGIN, HashAlgorithm::Blake3).expect("create");
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
        assert_eq!(handle.latest().borrow().size, n);
        if end == End::Sigkill {
            // Everything is acknowledged, hence flushed; the parent kills us now, with the
            // sequencer, the store and sled's flusher all still running.
            println!("{ACKED}");
            std::io::stdout().flush().expect("stdout");
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        handle.shutdown();
        task.await.expect("join").expect("clean stop");
    });
    println!("{ACKED}");
}

/// Opens the log (the first open in this process), then reopens it a few times; prints one
/// JSON line.
fn open_child() {
    let (dir, n) = child_args();
    let t = Instant::now();
    let store = LogStore::open(&dir).expect("open");
    let first = t.elapsed();
    let times = store.open_times();
    assert_eq!(store.head().size, n, "the reopened log has every entry");
    drop(store);
    let mut warm = Vec::new();
    for _ in 0..WARM_OPENS {
        // sled releases its lock a moment after the last handle drops (see store::LOCK_WAIT);
        // let it, so that no warm figure includes waiting for it.
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        let store = LogStore::open(&dir).expect("reopen");
        warm.push(t.elapsed().as_secs_f64());
        drop(store);
    }
    println!(
        "{}",
        json!({
            "first_s": first.as_secs_f64(),
            "storage_s": times.storage.as_secs_f64(),
            "log_s": times.log.as_secs_f64(),
            "warm_s": warm,
        })
    );
}

fn child(role: &str, dir: &Path, n: u64) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("own path"));
    c.env(ROLE, role)
        .env(DIR, dir)
        .env(ENTRIES, n.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    c
}

/// Runs a writer child into `dir`; returns how long it took until every entry was acked.
fn write_log(dir: &Path, n: u64, end: End) -> Duration {
    let t = Instant::now();
    let mut writer = child(&format!("write-{}", end.name()), dir, n)
        .spawn()
        .expect("spawn writer");
    let stdout = writer.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("writer output");
    assert_eq!(line.trim(), ACKED, "the writer acknowledged every entry");
    let took = t.elapsed();
    if end == End::Sigkill {
        writer.kill().expect("SIGKILL the writer");
    }
    let status = writer.wait().expect("writer exit");
    assert_eq!(
        status.success(),
        end == End::Clean,
        "writer ended as planned: {status}"
    );
    took
}

/// One first open, in a fresh process, of a fresh copy of `pristine`.
fn first_open(pristine: &Path, scratch: &Path, n: u64) -> serde_json::Value {
    let copy = tempfile::tempdir_in(scratch).expect("tempdir");
    let dir = copy.path().join("log");
    copy_dir(pristine, &dir);
    let out = child("open", &dir, n).output().expect("run opener");
    assert!(out.status.success(), "opener failed: {}", out.status);
    serde_json::from_slice(&out.stdout).expect("opener JSON")
}

/// Copies a directory tree and syncs every copied file: the writer had synced what it wrote,
/// and an opener's first fsync must not pay for writing back the copy.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("dir entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
            std::fs::File::open(&target)
                .and_then(|f| f.sync_all())
                .expect("sync copy");
        }
    }
    std::fs::File::open(to)
        .and_then(|d| d.sync_all())
        .expect("sync copied directory");
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

/// Free bytes on the file system holding `dir`, from `df` (no unsafe `statvfs` here).
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let kb: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn field(runs: &[serde_json::Value], name: &str) -> Vec<f64> {
    runs.iter().filter_map(|r| r[name].as_f64()).collect()
}

fn parent() {
    let max: u64 = std::env::var("HERALD_BENCH_RESTART_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let reps: usize = std::env::var("HERALD_BENCH_RESTART_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let scratch = report::scratch_dir();
    let mut sizes = serde_json::Map::new();
    let mut skipped = Vec::new();
    // Per mode, the median first open of the smallest log: the ratios' base.
    let mut base: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for n in [10_000u64, 1_000_000, 10_000_000] {
        if n > max {
            continue;
        }
        let mut per_mode = serde_json::Map::new();
        for end in [End::Clean, End::Sigkill] {
            // ~300 bytes a 256-byte entry on disk, twice, and some room.
            if free_bytes(&scratch).is_some_and(|free| free < n * 700) {
                eprintln!("restart: not enough disk for two copies of {n} entries; skipped");
                skipped.push(n);
                break;
            }
            let held = tempfile::tempdir_in(&scratch).expect("tempdir");
            let pristine = held.path().join("log");
            let took = write_log(&pristine, n, end);
            let disk = dir_bytes(&pristine);
            // The copy needs as much again, plus room for the log to grow while open.
            if free_bytes(&scratch).is_some_and(|free| free < disk + disk / 10) {
                eprintln!("restart: not enough disk to copy a log of {n} entries; skipped");
                skipped.push(n);
                break;
            }
            eprintln!(
                "restart: {} log of {n} entries written in {:.1} s ({:.2} GB)",
                end.name(),
                took.as_secs_f64(),
                disk as f64 / 1e9
            );
            let runs: Vec<serde_json::Value> = (0..reps)
                .map(|_| first_open(&pristine, &scratch, n))
                .collect();
            let first = report::median(&field(&runs, "first_s"));
            let storage = report::median(&field(&runs, "storage_s"));
            let log = report::median(&field(&runs, "log_s"));
            let warm: Vec<f64> = runs
                .iter()
                .filter_map(|r| r["warm_s"].as_array())
                .flatten()
                .filter_map(serde_json::Value::as_f64)
                .collect();
            let (b_first, b_storage) = *base.entry(end.name()).or_insert((first, storage));
            eprintln!(
                "restart: {n} {}: first open {:.1} ms (sled {:.1}, log {:.1}), ratio {:.2}; \
                 warm {:.1} ms",
                end.name(),
                first * 1e3,
                storage * 1e3,
                log * 1e3,
                first / b_first,
                report::median(&warm) * 1e3
            );
            per_mode.insert(
                end.name().to_owned(),
                json!({
                    "first_open_median_s": first,
                    "ratio_to_smallest": first / b_first,
                    "sled_open_median_s": storage,
                    "sled_ratio_to_smallest": storage / b_storage,
                    "log_work_median_s": log,
                    "first_open_s": field(&runs, "first_s"),
                    "warm_open_median_s": report::median(&warm),
                    "warm_opens": warm.len(),
                    "write_s": took.as_secs_f64(),
                    "disk_bytes": disk,
                    "runs": runs.len(),
                }),
            );
        }
        if !per_mode.is_empty() {
            per_mode.insert("current_epoch_leaves".into(), json!(n % 65_536));
            sizes.insert(n.to_string(), serde_json::Value::Object(per_mode));
        }
    }
    report::write_section(
        "restart",
        json!({
            "method": "first open after the writing process ended (clean exit, or SIGKILL after \
                       the last ack), each repetition in a fresh process on a fresh copy of the \
                       directory the writer left; warm_* are later opens in the same process",
            "entry_bytes": 256,
            "batch_max": SequencerConfig::default().batch_max,
            "sizes": sizes,
            "skipped_for_disk": skipped,
            "target": { "ratio_max": 2.0 },
        }),
    );
}
