//! Storage faults on real node processes (the reliability review):
//!
//! - F7: SIGKILLs under load used to leave ~1 MB of orphaned sled blob files each (the partial
//!   right-edge bundle, rewritten in sled every round, became a blob once past ~128 KiB). After
//!   20 kills the log directory must stay within a small factor of a clean run's holding the
//!   same entries.
//! - F9: a damaged byte in an old sealed bundle of a stopped node is found by the background
//!   scrub soon after it starts, and `/health` names the record (it used to say "ok" until a
//!   reader asked for that range).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{bounded, options};
use ed25519_dalek::SigningKey;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use herald_light_client::{Gateway as _, GatewayClient, LogTrust};
use herald_proto::wire::MAX_ENTRY_PAGE_COUNT;
use herald_testnet::load::{Schedule, notarization_entry};
use herald_testnet::{Testnet, node_api, wait};

const KILLS: usize = 20;
/// 1 KiB entries: 256 of them make a ~300 KiB bundle, past sled's ~128 KiB inline limit.
const ENTRY_BYTES: usize = 1_150;
const SUBMITTERS: usize = 24;
/// Largest log directory after the kills, relative to a clean run of the same entries.
const MAX_RATIO: f64 = 1.5;
const ACK_WAIT: Duration = Duration::from_secs(20);

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        total += if meta.is_dir() {
            dir_bytes(&e.path())
        } else {
            meta.len()
        };
    }
    total
}

/// Every entry of a log, in order, up to its latest checkpoint.
async fn all_entries(client: &GatewayClient, identity: &LogTrust) -> Vec<Vec<u8>> {
    let note = client.checkpoint().await.unwrap().note;
    let size = identity.verify_checkpoint(&note).unwrap().size();
    let mut out = Vec::with_capacity(size as usize);
    while (out.len() as u64) < size {
        let start = out.len() as u64;
        let count = (size - start).min(u64::from(MAX_ENTRY_PAGE_COUNT)) as u32;
        let page = client.entries(start, count).await.unwrap();
        assert!(!page.entries.is_empty());
        out.extend(page.entries);
    }
    out
}

async fn submitter(
    client: GatewayClient,
    acks: Arc<AtomicU64>,
    tags: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let author = SigningKey::from_bytes(&[0x71; 32]);
    while !stop.load(Ordering::SeqCst) {
        let tag = tags.fetch_add(1, Ordering::SeqCst);
        let entry = notarization_entry(&author, tag, ENTRY_BYTES).unwrap();
        match client.submit(entry).await {
            Ok(_) => {
                acks.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_under_load_leave_no_more_on_disk_than_a_clean_run_of_the_same_entries() {
    bounded(Duration::from_secs(100), async {
        let started = Instant::now();
        let dir = tempfile::TempDir::new().unwrap();
        let mut killed = Testnet::spawn(1, options(&dir.path().join("killed")))
            .await
            .unwrap();
        let seed = Schedule::fresh_seed();
        eprintln!("seed {seed}");
        let mut schedule = Schedule::new(seed);
        let (acks, tags, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let client = killed.client(0).await.unwrap();
        let tasks: Vec<_> = (0..SUBMITTERS)
            .map(|_| {
                tokio::spawn(submitter(
                    client.clone(),
                    acks.clone(),
                    tags.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        for kill in 0..KILLS {
            let before = acks.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(schedule.range(150, 500))).await;
            let fresh = wait::until(ACK_WAIT, Duration::from_millis(10), || async {
                if acks.load(Ordering::SeqCst) > before {
                    Ok(())
                } else {
                    Err(())
                }
            })
            .await;
            assert!(fresh.is_ok(), "no ack before kill {kill}");
            killed.kill(0).await.unwrap();
            killed.restart(0).await.unwrap();
        }
        stop.store(true, Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }
        let identity = killed.log_identity(0).unwrap();
        let entries = all_entries(&killed.client(0).await.unwrap(), &identity).await;
        killed.stop(0).await.unwrap();
        let killed_bytes = dir_bytes(&killed.node(0).dir().join("log"));

        // A clean run: the same entries, in the same order, no kill.
        let clean = Testnet::spawn(1, options(&dir.path().join("clean")))
            .await
            .unwrap();
        let client = clean.client(0).await.unwrap();
        let mut in_flight = FuturesUnordered::new();
        for (i, entry) in entries.iter().enumerate() {
            let c = client.clone();
            let e = entry.clone();
            in_flight.push(async move { (i, c.submit(e).await) });
            if in_flight.len() >= 64 {
                let (i, r) = in_flight.next().await.unwrap();
                assert!(r.is_ok(), "entry {i}: {r:?}");
            }
        }
        while let Some((i, r)) = in_flight.next().await {
            assert!(r.is_ok(), "entry {i}: {r:?}");
        }
        let mut clean = clean;
        clean.stop(0).await.unwrap();
        let clean_bytes = dir_bytes(&clean.node(0).dir().join("log"));
        let ratio = killed_bytes as f64 / clean_bytes as f64;
        eprintln!(
            "{KILLS} kills, {} entries: {killed_bytes} bytes after the kills, {clean_bytes} clean \
             (ratio {ratio:.2}); {:.1?}",
            entries.len(),
            started.elapsed()
        );
        assert!(entries.len() > 1_000, "the kills were under load");
        assert!(
            ratio <= MAX_RATIO,
            "{killed_bytes} bytes after {KILLS} kills against {clean_bytes} for a clean run"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_old_sealed_bundle_is_found_by_the_scrub_and_named_in_health() {
    bounded(Duration::from_secs(90), async {
        let dir = tempfile::TempDir::new().unwrap();
        let mut net = Testnet::spawn(1, options(dir.path())).await.unwrap();
        let client = net.client(0).await.unwrap();
        let author = SigningKey::from_bytes(&[0x72; 32]);
        let mut in_flight = FuturesUnordered::new();
        for tag in 0..3_000u64 {
            let c = client.clone();
            let e = notarization_entry(&author, tag, 300).unwrap();
            in_flight.push(async move { c.submit(e).await });
            if in_flight.len() >= 64 {
                in_flight.next().await.unwrap().unwrap();
            }
        }
        while let Some(r) = in_flight.next().await {
            r.unwrap();
        }
        net.stop(0).await.unwrap();

        // Flip one byte inside bundle 2 (entries 512..768), long sealed.
        let sealed = net.node(0).dir().join("log").join("sealed");
        let index = std::fs::read(sealed.join("bundles.idx")).unwrap();
        let start = u64::from_be_bytes(index[16..24].try_into().unwrap());
        let path = sealed.join("bundles");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[start as usize + 40] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();

        net.restart(0).await.unwrap();
        let http = net.node(0).http_addr();
        let found = wait::until(
            Duration::from_secs(20),
            Duration::from_millis(100),
            || async {
                let answer = node_api::request(http, "GET", "/health", None, None)
                    .await
                    .map_err(|e| e.to_string())?;
                let text = String::from_utf8_lossy(&answer.body).into_owned();
                if text.contains("sealed bundles record 2 fails its check") {
                    Ok((answer.status, text))
                } else {
                    Err(text)
                }
            },
        )
        .await;
        let (status, text) =
            found.unwrap_or_else(|last| panic!("/health never named it: {last:?}"));
        assert_eq!(status, 200, "degraded, still serving: {text}");
        assert!(text.starts_with("degraded\n"), "{text}");
        let metrics = node_api::metrics(http).await.unwrap();
        assert!(node_api::metric_sum(&metrics, "herald_scrub_failures_total") >= Some(1.0));
        assert!(node_api::metric_sum(&metrics, "herald_scrub_records_total") >= Some(3.0));
        // The damaged range is refused, never served wrong; the rest reads.
        let client = net.client(0).await.unwrap();
        assert!(client.entries(520, 1).await.is_err());
        assert!(client.entries(2_000, 1).await.is_ok());
        net.stop(0).await.unwrap();
    })
    .await;
}
