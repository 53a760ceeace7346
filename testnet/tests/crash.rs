//! Crash safety of the real node binary: SIGKILL at random moments during sustained
//! submissions, at least 20 times, restarting after each; then every acknowledged entry must be
//! in the log at its acknowledged index with the same bytes, the tree must never have shrunk,
//! and consistency proofs must link every checkpoint seen, in order.
//!
//! Load: several client connections, each with a few submissions in flight, each submission a
//! fresh 256-byte notarization. An observer follows the log with a verifying `TrustedLog`
//! (which refuses a smaller tree or an unproven one) and checks that every checkpoint it sees
//! covers every ack received before it asked. The killer waits a random 0.3–1 s, and at least
//! one new ack, before each kill, so every kill lands during live submissions.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{bounded, options};
use ed25519_dalek::SigningKey;
use herald_light_client::{
    Gateway as _, GatewayClient, LogTrust, MemoryCheckpointStore, TrustedLog, verify_consistency,
};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::{CompactRange, Hash};
use herald_proto::wire::MAX_ENTRY_PAGE_COUNT;
use herald_testnet::load::{Schedule, notarization_entry};
use herald_testnet::{Testnet, wait};
use tempfile::TempDir;
use tokio::sync::Mutex;

const KILLS: usize = 20;
const CLIENTS: usize = 3;
const INFLIGHT_PER_CLIENT: usize = 4;
const ENTRY_BYTES: usize = 256;
const TEST_BOUND: Duration = Duration::from_secs(110);
/// Longest the killer waits for a new ack after a restart before it calls the load stalled.
const ACK_WAIT: Duration = Duration::from_secs(20);

/// An acknowledged submission: where the node said the entry is, and the checkpoint it gave.
struct Acked {
    index: u64,
    entry: Vec<u8>,
    checkpoint: VerifiedCheckpoint,
}

/// What the load and the observer collect.
#[derive(Default)]
struct Seen {
    acked: Vec<Acked>,
    /// Every submitted entry (acknowledged or not), by leaf hash.
    submitted: HashMap<Hash, Vec<u8>>,
    /// Checkpoints the observer trusted, in the order it saw them.
    observed: Vec<VerifiedCheckpoint>,
    /// Broken promises, with what was seen.
    violations: Vec<String>,
}

struct Shared {
    seen: Mutex<Seen>,
    /// Number of acks so far.
    acks: AtomicU64,
    /// The largest tree size of any ack received so far.
    max_acked_size: AtomicU64,
    next_tag: AtomicU64,
    stop: AtomicBool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_entries_survive_sigkill_at_random_moments() {
    bounded(TEST_BOUND, async {
        let started = Instant::now();
        let dir = TempDir::new().unwrap();
        let mut opts = options(dir.path());
        opts.request_timeout = Duration::from_secs(5);
        opts.connect_timeout = Duration::from_secs(5);
        let mut net = Testnet::spawn(1, opts).await.unwrap();
        let identity = net.log_identity(0).unwrap();
        let seed = Schedule::fresh_seed();
        eprintln!("crash test seed {seed}");
        let mut schedule = Schedule::new(seed);
        let shared = Arc::new(Shared {
            seen: Mutex::default(),
            acks: AtomicU64::new(0),
            max_acked_size: AtomicU64::new(0),
            next_tag: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });

        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let client = net.client(0).await.unwrap();
            for _ in 0..INFLIGHT_PER_CLIENT {
                tasks.push(tokio::spawn(submitter(
                    client.clone(),
                    identity.clone(),
                    shared.clone(),
                )));
            }
        }
        tasks.push(tokio::spawn(observer(
            net.client(0).await.unwrap(),
            identity.clone(),
            shared.clone(),
        )));

        for kill in 0..KILLS {
            let acks_before = shared.acks.load(Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(schedule.range(300, 1000))).await;
            let fresh = wait::until(ACK_WAIT, Duration::from_millis(10), || async {
                if shared.acks.load(Ordering::SeqCst) > acks_before {
                    Ok(())
                } else {
                    Err(())
                }
            })
            .await;
            assert!(
                fresh.is_ok(),
                "no submission acknowledged before kill {kill}"
            );
            net.kill(0).await.unwrap();
            net.restart(0).await.unwrap();
        }
        // Let the load run against the last restart, then stop it.
        let acks_before = shared.acks.load(Ordering::SeqCst);
        let fresh = wait::until(ACK_WAIT, Duration::from_millis(10), || async {
            if shared.acks.load(Ordering::SeqCst) > acks_before {
                Ok(())
            } else {
                Err(())
            }
        })
        .await;
        assert!(
            fresh.is_ok(),
            "no submission acknowledged after the last restart"
        );
        shared.stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.unwrap();
        }
        net.check_alive(0).unwrap();

        let seen = std::mem::take(&mut *shared.seen.lock().await);
        assert!(seen.violations.is_empty(), "{:#?}", seen.violations);
        let client = net.client(0).await.unwrap();
        let mut final_log =
            TrustedLog::open(&client, identity.clone(), MemoryCheckpointStore::new()).unwrap();
        let last = final_log.refresh().await.unwrap().checkpoint;
        check_entries(&client, &identity, &seen, &last).await;
        check_checkpoints(&client, &identity, &seen, &last).await;
        eprintln!(
            "{KILLS} kills; {} acks; {} entries; {} checkpoints observed; {:.1?}",
            seen.acked.len(),
            last.size(),
            seen.observed.len(),
            started.elapsed()
        );
    })
    .await;
}

/// Submits fresh entries until told to stop, recording each ack after checking it: the leaf
/// hash is the entry's, the checkpoint is signed by the log and includes the index. Errors
/// (the node is down, the connection broke) mean "unknown whether appended": try another entry.
async fn submitter(client: GatewayClient, identity: LogTrust, shared: Arc<Shared>) {
    let author = SigningKey::from_bytes(&[0x5a; 32]);
    while !shared.stop.load(Ordering::SeqCst) {
        let tag = shared.next_tag.fetch_add(1, Ordering::SeqCst);
        let entry = notarization_entry(&author, tag, ENTRY_BYTES).unwrap();
        let leaf_hash = identity.leaf_hash(&entry);
        shared
            .seen
            .lock()
            .await
            .submitted
            .insert(leaf_hash, entry.clone());
        let ack = match client.submit(entry.clone()).await {
            Ok(ack) => ack,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let note = ack.checkpoint.map(|c| c.note).unwrap_or_default();
        let mut seen = shared.seen.lock().await;
        let checkpoint = match identity.verify_checkpoint(&note) {
            Ok(c) if ack.leaf_hash == leaf_hash && ack.index < c.size() => c,
            other => {
                seen.violations
                    .push(format!("bad ack for entry {tag}: {:?}", other.err()));
                continue;
            }
        };
        shared
            .max_acked_size
            .fetch_max(checkpoint.size(), Ordering::SeqCst);
        seen.acked.push(Acked {
            index: ack.index,
            entry,
            checkpoint,
        });
        shared.acks.fetch_add(1, Ordering::SeqCst);
    }
}

/// Follows the log with a verifying client: each refresh must prove the new checkpoint extends
/// the last trusted one (a smaller tree or another root at the same size is refused), and must
/// cover every ack received before the refresh was asked for.
async fn observer(client: GatewayClient, identity: LogTrust, shared: Arc<Shared>) {
    let store = MemoryCheckpointStore::new();
    let mut log = TrustedLog::open(client, identity, &store).unwrap();
    while !shared.stop.load(Ordering::SeqCst) {
        let floor = shared.max_acked_size.load(Ordering::SeqCst);
        match log.refresh().await {
            Ok(update) => {
                let size = update.checkpoint.size();
                let mut seen = shared.seen.lock().await;
                if size < floor {
                    seen.violations.push(format!(
                        "checkpoint of size {size} after an ack of a tree of {floor}"
                    ));
                }
                seen.observed.push(update.checkpoint);
            }
            Err(e) if e.is_peer_misbehaviour() => {
                shared
                    .seen
                    .lock()
                    .await
                    .violations
                    .push(format!("observer: {e}"));
            }
            // The node is down or restarting.
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

/// Reads the whole log, checks that it hashes to `last`'s root, that every entry in it was
/// submitted, and that every ack's entry is at its index with the same bytes.
async fn check_entries(
    client: &GatewayClient,
    identity: &LogTrust,
    seen: &Seen,
    last: &VerifiedCheckpoint,
) {
    let hasher = identity.hasher();
    let mut tree = CompactRange::new();
    let mut entries: Vec<Vec<u8>> = Vec::with_capacity(last.size() as usize);
    while (entries.len() as u64) < last.size() {
        let start = entries.len() as u64;
        let count = (last.size() - start).min(u64::from(MAX_ENTRY_PAGE_COUNT)) as u32;
        let page = client.entries(start, count).await.unwrap();
        assert_eq!(page.start, start);
        assert!(!page.entries.is_empty());
        for entry in page.entries.into_iter().take(count as usize) {
            let leaf_hash = identity.leaf_hash(&entry);
            assert!(
                seen.submitted.get(&leaf_hash) == Some(&entry),
                "entry {} was never submitted",
                entries.len()
            );
            tree.append(&hasher, leaf_hash, |_, _| {});
            entries.push(entry);
        }
    }
    assert_eq!(
        tree.root(&hasher),
        *last.root(),
        "the entries read are the signed tree"
    );
    let mut at_index: BTreeMap<u64, &Vec<u8>> = BTreeMap::new();
    for ack in &seen.acked {
        if let Some(other) = at_index.insert(ack.index, &ack.entry) {
            assert!(
                other == &ack.entry,
                "two entries acked at index {}",
                ack.index
            );
        }
        assert!(
            ack.index < last.size(),
            "acked index {} was lost",
            ack.index
        );
        assert!(
            entries[ack.index as usize] == ack.entry,
            "the entry at acked index {} is not the one acknowledged",
            ack.index
        );
    }
}

/// Every checkpoint seen (in acks and by the observer), ordered by size: equal sizes have equal
/// roots, and a verified consistency proof links each to the next, up to `last`.
async fn check_checkpoints(
    client: &GatewayClient,
    identity: &LogTrust,
    seen: &Seen,
    last: &VerifiedCheckpoint,
) {
    // The observer saw its checkpoints in time order: the tree never shrank.
    for pair in seen.observed.windows(2) {
        assert!(pair[0].size() <= pair[1].size(), "the tree shrank");
    }
    let mut by_size: BTreeMap<u64, &VerifiedCheckpoint> = BTreeMap::new();
    let all = seen
        .acked
        .iter()
        .map(|a| &a.checkpoint)
        .chain(&seen.observed)
        .chain(std::iter::once(last));
    for checkpoint in all {
        if let Some(other) = by_size.insert(checkpoint.size(), checkpoint) {
            assert_eq!(
                other.root(),
                checkpoint.root(),
                "two roots for size {}",
                checkpoint.size()
            );
        }
    }
    assert_eq!(by_size.last_key_value().map(|(s, _)| *s), Some(last.size()));
    let chain: Vec<&VerifiedCheckpoint> = by_size.into_values().filter(|c| c.size() > 0).collect();
    for pair in chain.windows(2) {
        let proof = client
            .consistency(pair[0].size(), pair[1].size())
            .await
            .unwrap();
        verify_consistency(identity, pair[0], pair[1], &proof).unwrap_or_else(|e| {
            panic!(
                "checkpoints {} and {} are not consistent: {e}",
                pair[0].size(),
                pair[1].size()
            )
        });
    }
    assert!(
        chain.len() > KILLS,
        "checkpoints were seen across the kills"
    );
}
