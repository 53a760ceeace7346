//! A full disk (reliability review F1), on real node processes with their data directory on a small
//! tmpfs (CI runs as root; every wait is bounded and the tmpfs is unmounted in every path).
//!
//! - With the disk guard off, submissions fill the disk until a write fails with ENOSPC: acks
//!   stop, the node exits within a bound (by itself, or on SIGTERM) with a failure status and
//!   the reason in its log, never a hang (it used to block for good in its final flush, holding
//!   the database lock and ignoring SIGTERM) nor a panic; once space returns it starts again
//!   with every acknowledged entry at its index.
//! - With the guard on, the node refuses submissions with BUSY before the disk is full, says
//!   why in `/health` and `/metrics`, takes submissions again by itself once space is freed,
//!   and stops cleanly on SIGTERM.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{bounded, options};
use ed25519_dalek::SigningKey;
use herald_light_client::{ClientError, Gateway as _, GatewayClient};
use herald_node::config::NodeConfig;
use herald_proto::wire::{MAX_ENTRY_PAGE_COUNT, pb};
use herald_testnet::load::notarization_entry;
use herald_testnet::tmpfs::Tmpfs;
use herald_testnet::{Testnet, TestnetError, node_api, wait};
use tokio::sync::Mutex;

const TEST_BOUND: Duration = Duration::from_secs(170);
const DISK_MIB: u64 = 24;
/// The largest notarization entries (1 KiB labels), so the disk fills quickly.
const ENTRY_BYTES: usize = 1_150;
const CLIENTS: usize = 4;
const INFLIGHT_PER_CLIENT: usize = 16;
/// Longest the disk may take to fill.
const FILL_BOUND: Duration = Duration::from_secs(60);
/// Acks have stopped once none came for this long after the first refusal.
const QUIET: Duration = Duration::from_secs(3);
/// Longest a node may take to exit once acks stopped (the node's own stop bound is 10 s).
const EXIT_BOUND: Duration = Duration::from_secs(15);

#[derive(Default)]
struct Load {
    acked: Mutex<Vec<(u64, Vec<u8>)>>,
    acks: AtomicU64,
    refusals: AtomicU64,
    /// Refusals that were a typed BUSY.
    busy: AtomicU64,
    last_ack_ms: AtomicU64,
    next_tag: AtomicU64,
    stop: AtomicBool,
}

fn author() -> SigningKey {
    SigningKey::from_bytes(&[0x3c; 32])
}

async fn submitter(client: GatewayClient, load: Arc<Load>, start: Instant) {
    while !load.stop.load(Ordering::SeqCst) {
        let tag = load.next_tag.fetch_add(1, Ordering::SeqCst);
        let entry = notarization_entry(&author(), tag, ENTRY_BYTES).unwrap();
        match client.submit(entry.clone()).await {
            Ok(ack) => {
                load.acked.lock().await.push((ack.index, entry));
                load.acks.fetch_add(1, Ordering::SeqCst);
                load.last_ack_ms
                    .store(start.elapsed().as_millis() as u64, Ordering::SeqCst);
            }
            Err(e) => {
                load.refusals.fetch_add(1, Ordering::SeqCst);
                if matches!(&e, ClientError::Refused(r) if r.kind == pb::ClientErrorKind::Busy) {
                    load.busy.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Submits from `CLIENTS` connections until acks stop (refusals seen, then no ack for
/// `QUIET`); returns what was acknowledged.
async fn fill(net: &Testnet, load: &Arc<Load>) -> Vec<(u64, Vec<u8>)> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = net.client(0).await.unwrap();
        for _ in 0..INFLIGHT_PER_CLIENT {
            tasks.push(tokio::spawn(submitter(client.clone(), load.clone(), start)));
        }
    }
    let filled = wait::until(FILL_BOUND, Duration::from_millis(100), || {
        let load = load.clone();
        async move {
            let now = start.elapsed().as_millis() as u64;
            let quiet = now > load.last_ack_ms.load(Ordering::SeqCst) + QUIET.as_millis() as u64;
            if load.refusals.load(Ordering::SeqCst) > 0 && quiet {
                Ok(())
            } else {
                Err(load.acks.load(Ordering::SeqCst))
            }
        }
    })
    .await;
    assert!(filled.is_ok(), "acks did not stop: {filled:?} acks so far");
    load.stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = std::mem::take(&mut *load.acked.lock().await);
    assert!(acked.len() > 1_000, "the disk filled with entries");
    acked
}

/// Every acknowledged entry is at its index with the same bytes (read in pages).
async fn check_acked(client: &GatewayClient, acked: &[(u64, Vec<u8>)]) {
    let by_index: BTreeMap<u64, &Vec<u8>> = acked.iter().map(|(i, e)| (*i, e)).collect();
    let end = by_index.keys().last().map_or(0, |i| i + 1);
    let mut next = 0;
    while next < end {
        let count = (end - next).min(u64::from(MAX_ENTRY_PAGE_COUNT)) as u32;
        let page = client.entries(next, count).await.unwrap();
        assert_eq!(page.start, next);
        assert!(!page.entries.is_empty());
        for (i, entry) in (next..).zip(&page.entries) {
            if let Some(want) = by_index.get(&i) {
                assert!(*want == entry, "acknowledged entry {i} changed");
            }
        }
        next += page.entries.len() as u64;
    }
}

/// Restarts node 0 with its configuration file changed by `change`.
async fn reconfigure(net: &mut Testnet, change: impl FnOnce(&mut NodeConfig)) {
    net.stop(0).await.unwrap();
    let path = net.node(0).config_path().to_owned();
    let mut config = NodeConfig::from_toml_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    change(&mut config);
    std::fs::write(&path, config.to_toml()).unwrap();
    net.restart(0).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_acks_and_the_node_exits_in_time_then_restarts_with_every_ack() {
    bounded(TEST_BOUND, async {
        let dir = tempfile::TempDir::new().unwrap();
        // Declared before the testnet: unmounted after its node is gone.
        let mut disk = Tmpfs::mount(&dir.path().join("d0"), DISK_MIB).unwrap();
        let mut net = Testnet::spawn(1, options(dir.path())).await.unwrap();
        reconfigure(&mut net, |c| {
            c.disk_warn_free_mib = 0;
            c.disk_min_free_mib = 0;
        })
        .await;
        let load = Arc::new(Load::default());
        let acked = fill(&net, &load).await;
        eprintln!(
            "{} acks, {} refusals, {} bytes free",
            acked.len(),
            load.refusals.load(Ordering::SeqCst),
            disk.free_bytes().unwrap()
        );

        // Acks stopped; the node must now be gone or go within the bound on SIGTERM.
        let exit = Instant::now();
        let log = net.node(0).log_path();
        match net.stop(0).await {
            Ok(()) => {}
            Err(TestnetError::Exited { status, .. }) => {
                assert_eq!(status, "exit status: 1", "a failure status, not a panic")
            }
            Err(e) => panic!("the node did not exit within the bound: {e}"),
        }
        assert!(exit.elapsed() < EXIT_BOUND, "{:?}", exit.elapsed());
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains("No space left on device"),
            "the log says why: {}",
            &text[text.len().saturating_sub(3_000)..]
        );

        // Space returns: the node starts (the lock was released) and holds every ack.
        disk.resize(4 * DISK_MIB).unwrap();
        net.restart(0).await.unwrap();
        let client = net.client(0).await.unwrap();
        check_acked(&client, &acked).await;
        let entry = notarization_entry(&author(), u64::MAX, ENTRY_BYTES).unwrap();
        let ack = client.submit(entry).await.unwrap();
        assert!(ack.index as usize >= acked.len());
        net.stop(0).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nearly_full_disk_is_refused_busy_with_reasons_and_recovers_when_space_returns() {
    bounded(TEST_BOUND, async {
        let dir = tempfile::TempDir::new().unwrap();
        let mut disk = Tmpfs::mount(&dir.path().join("d0"), DISK_MIB).unwrap();
        let mut net = Testnet::spawn(1, options(dir.path())).await.unwrap();
        reconfigure(&mut net, |c| {
            c.disk_warn_free_mib = 10;
            c.disk_min_free_mib = 6;
        })
        .await;
        let http = net.node(0).http_addr();
        let load = Arc::new(Load::default());
        let acked = fill(&net, &load).await;
        let (refusals, busy) = (
            load.refusals.load(Ordering::SeqCst),
            load.busy.load(Ordering::SeqCst),
        );
        eprintln!(
            "{} acks, {refusals} refusals ({busy} BUSY), {} bytes free",
            acked.len(),
            disk.free_bytes().unwrap()
        );
        assert_eq!(refusals, busy, "every refusal is a typed BUSY");
        assert!(
            disk.free_bytes().unwrap() > 2 << 20,
            "refused before the disk was full"
        );

        // Still up, and saying why.
        net.check_alive(0).unwrap();
        let health = node_api::request(http, "GET", "/health", None, None)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&health.body).into_owned();
        assert_eq!(health.status, 503, "{text}");
        assert!(
            text.starts_with("unhealthy\n") && text.contains("disk_min_free_mib"),
            "{text}"
        );
        let metrics = node_api::metrics(http).await.unwrap();
        assert_eq!(
            node_api::metric_sum(&metrics, "herald_disk_space_state"),
            Some(2.0)
        );
        assert!(node_api::metric_sum(&metrics, "herald_log_refused_low_disk_total") > Some(0.0));
        assert_eq!(
            node_api::metric_sum(&metrics, "herald_log_write_failures_total"),
            Some(0.0),
            "no write met a full disk"
        );

        // Space returns: without a restart, it takes submissions again.
        disk.resize(4 * DISK_MIB).unwrap();
        let client = net.client(0).await.unwrap();
        let resumed = wait::until(Duration::from_secs(15), Duration::from_millis(200), || {
            let client = client.clone();
            async move {
                let entry = notarization_entry(&author(), u64::MAX, ENTRY_BYTES).unwrap();
                client.submit(entry).await.map_err(|e| e.to_string())
            }
        })
        .await;
        assert!(resumed.is_ok(), "{resumed:?}");
        let health = node_api::request(http, "GET", "/health", None, None)
            .await
            .unwrap();
        assert_eq!(health.status, 200, "{}", health.body_text(500));

        // A clean stop, and every ack is there after a restart.
        net.stop(0).await.unwrap();
        net.restart(0).await.unwrap();
        let client = net.client(0).await.unwrap();
        check_acked(&client, &acked).await;
        net.stop(0).await.unwrap();
    })
    .await;
}
