//! The witnessing network against real node processes: five domains that register
//! each other and cosign each other's checkpoints with quorum 3, under kills, partitions and an
//! equivocating log; and the gossip they speak, received by a plain libp2p subscriber.
//!
//! Checks go through what a user relies on: `/status` (cosigned checkpoint, what each witness
//! holds, alerts), the admin API's alert list, gossip as a third party receives it, and the
//! light client. Cosigned checkpoints are verified with proto's `WitnessPolicy`, proofs with
//! proto's verifiers; nothing here trusts the nodes' own word for a signature.
//!
//! The five-domain tests run one at a time ([`FIVE_DOMAINS`]): five node processes each, on a
//! small machine. Cross-logging runs once per peer (long interval), so the logs come to rest
//! and "every log is cosigned" has a moment at which it holds.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{bounded, options};
use herald_light_client::{
    DEFAULT_MAX_SKEW_SECS, Gateway as _, GatewayClient, LogTrust, MemoryCheckpointStore,
    TrustedLog, VerifyError, verify_consistency,
};
use herald_node::routes::NodeStatus;
use herald_proto::checkpoint::{Checkpoint, VerifiedCheckpoint, WitnessPolicy};
use herald_proto::equivocation::Equivocation;
use herald_proto::wire::{CHECKPOINT_TOPIC, MAX_ENTRY_PAGE_COUNT, pb};
use herald_testnet::load::notarization_entry;
use herald_testnet::observer::{GossipMessage, GossipObserver};
use herald_testnet::{Testnet, wait};
use prost::Message as _;
use tempfile::TempDir;
use tokio::sync::Mutex;

const TEST_BOUND: Duration = Duration::from_secs(150);
/// Bound on each "eventually" (cosigning, catching up, detection).
const SETTLE: Duration = Duration::from_secs(40);
const QUORUM: usize = 3;
const DOMAINS: usize = 5;

/// One five-domain testnet at a time.
static FIVE_DOMAINS: Mutex<()> = Mutex::const_new(());

/// A subscriber built from standard libp2p parts only (TCP, noise, yamux, gossipsub with
/// SHA-256 message ids and signed messages; nothing of the node's network code) receives the
/// checkpoints a node publishes, as plain protobuf `SignedCheckpoint`s carrying C2SP notes that
/// verify under the log's key, authored by the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_gossipsub_subscriber_receives_checkpoints() {
    bounded(TEST_BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let mut observer = observe(&net).await;
        let acked = submit(&net, 1, 1).await;

        // Other checkpoints may come first (node 0's, or earlier ones): wait for this one.
        let mut received = None;
        while let Some(message) = observer.next(Duration::from_secs(20)).await {
            assert_eq!(message.topic, CHECKPOINT_TOPIC);
            let origin_node = net
                .nodes()
                .iter()
                .find(|n| Some(n.peer_id()) == message.source)
                .expect("messages are signed by their publishing node");
            let signed = pb::SignedCheckpoint::decode(message.data.as_slice()).unwrap();
            let checkpoint = VerifiedCheckpoint::verify(&signed.note, origin_node.log_key())
                .expect("the note verifies under the publisher's log key");
            if checkpoint.origin() == acked.origin() && checkpoint.size() >= acked.size() {
                received = Some(checkpoint);
                break;
            }
        }
        let received = received.expect("the acked checkpoint was gossiped");
        assert_eq!(received.origin(), "d1.test/herald");
        if received.size() == acked.size() {
            assert_eq!(received.root(), acked.root());
        }
        assert_eq!(observer.dropped(), 0);
    })
    .await;
}

/// 5 domains, quorum 3: every log's checkpoints end up cosigned (verified under its witness
/// policy); every witness holds every log's latest size; every checkpoint anyone saw is a
/// prefix of the cosigned one; each gateway cross-logged every peer's cosigned checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_domains_cosign_every_log_and_agree() {
    let _one = FIVE_DOMAINS.lock().await;
    bounded(TEST_BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = five_domains(dir.path(), false).await;
        let mut observer = observe(&net).await;
        for i in 0..DOMAINS {
            submit(&net, i, 3).await;
        }
        let statuses = settle(&net, &all()).await;
        for status in &statuses {
            assert!(status.tree_size >= 3, "{}", status.origin);
            assert_eq!(status.alerts, 0);
            assert!(status.distrusted.is_empty());
        }

        // Everything gossiped: plain checkpoints are prefixes of the final cosigned ones, and
        // messages that carry cosignatures pass the policy.
        let seen = drain(&mut observer).await;
        assert!(!seen.is_empty());
        for message in &seen {
            let signed = pb::SignedCheckpoint::decode(message.data.as_slice()).unwrap();
            let i = index_of(&net, &signed.note);
            let checkpoint =
                VerifiedCheckpoint::verify(&signed.note, net.node(i).log_key()).unwrap();
            let fin = cosigned(&net, i, &statuses[i]);
            linked(&net, i, &checkpoint, &fin).await;
            if !checkpoint.cosignatures().is_empty() {
                assert!(policy(&net, i).verify(&signed.note, now(), 60).is_ok());
            }
        }

        // Cross-logging: each gateway logged a cosigned checkpoint of each peer.
        for j in 0..DOMAINS {
            let logged = cross_logged(&net, j, statuses[j].tree_size).await;
            for i in (0..DOMAINS).filter(|i| *i != j) {
                let notes = logged.get(&net.node(i).origin()).unwrap_or_else(|| {
                    panic!(
                        "{} did not cross-log {}",
                        net.node(j).domain(),
                        net.node(i).domain()
                    )
                });
                for note in notes {
                    let checkpoint = policy(&net, i)
                        .verify(note, now(), 60)
                        .expect("cross-logged checkpoints are cosigned");
                    let fin = cosigned(&net, i, &statuses[i]);
                    linked(&net, i, checkpoint.checkpoint(), &fin).await;
                }
            }
        }
    })
    .await;
}

/// One domain killed: the other four keep sequencing and cosigning (quorum 3 of the 3 peers
/// each still has); restarted, it catches up as a witness of every log and gets its own
/// checkpoints cosigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_domain_catches_up_after_restart() {
    let _one = FIVE_DOMAINS.lock().await;
    bounded(TEST_BOUND, async {
        let dir = TempDir::new().unwrap();
        let mut net = five_domains(dir.path(), false).await;
        for i in 0..DOMAINS {
            submit(&net, i, 1).await;
        }
        let before = settle(&net, &all()).await;
        net.kill(4).await.unwrap();
        let alive = [0, 1, 2, 3];
        for i in alive {
            submit(&net, i, 3).await;
        }
        let during = settle(&net, &alive).await;
        for i in alive {
            assert!(during[i].tree_size >= before[i].tree_size + 3);
        }

        net.restart(4).await.unwrap();
        net.wait_connected(SETTLE).await.unwrap();
        submit(&net, 4, 2).await;
        // No new entries for the others: their logs push their latest checkpoint to the
        // returning witness on their own.
        let after = settle(&net, &all()).await;
        for i in alive {
            assert_eq!(
                after[4].witnessed.get(&net.node(i).origin()).copied(),
                Some(after[i].tree_size),
                "d4 caught up with {}",
                net.node(i).domain()
            );
        }
        assert!(after[4].tree_size >= before[4].tree_size + 2);
    })
    .await;
}

/// A domain cut off from its peers keeps sequencing but gets no cosignature; its peers keep
/// cosigning each other. Healed, its checkpoints are cosigned again. No cosigned checkpoint of
/// any log, at any time, is inconsistent with that log's final cosigned checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_domain_is_cosigned_again_after_healing_and_nothing_inconsistent_is() {
    let _one = FIVE_DOMAINS.lock().await;
    bounded(TEST_BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = five_domains(dir.path(), false).await;
        let mut observer = observe(&net).await;
        for i in 0..DOMAINS {
            submit(&net, i, 1).await;
        }
        let before = settle(&net, &all()).await;

        net.cut(0).await.unwrap();
        let cut_off = wait_until(|| async {
            let s = net.status(0).await.map_err(|e| e.to_string())?;
            match s.peers.iter().find(|p| p.connected) {
                None => Ok(s),
                Some(p) => Err(format!("still connected to {}", p.domain)),
            }
        })
        .await;
        // What d0 had cosigned, and what its witnesses held, when the cut took effect.
        let held = cut_off.cosigned_size.unwrap();
        let mut witnessed = Vec::new();
        for j in 1..DOMAINS {
            let s = net.status(j).await.unwrap();
            witnessed.push(s.witnessed.get(&net.node(0).origin()).copied());
        }
        submit(&net, 0, 3).await;
        submit(&net, 1, 3).await;
        // d1 has three reachable witnesses: quorum.
        let others = settle(&net, &[1, 2, 3, 4]).await;
        assert!(others[1].tree_size >= before[1].tree_size + 3);
        // Meanwhile d0 sequenced, and nothing of it past `held` was cosigned.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let cut = net.status(0).await.unwrap();
        assert!(cut.tree_size >= held + 3);
        assert_eq!(cut.cosigned_size, Some(held));
        for (k, j) in (1..DOMAINS).enumerate() {
            let s = net.status(j).await.unwrap();
            assert_eq!(
                s.witnessed.get(&net.node(0).origin()).copied(),
                witnessed[k]
            );
        }

        net.heal(0).await.unwrap();
        net.wait_connected(SETTLE).await.unwrap();
        let after = settle(&net, &all()).await;
        assert!(after[0].cosigned_size.unwrap() >= held + 3);

        for message in drain(&mut observer).await {
            let signed = pb::SignedCheckpoint::decode(message.data.as_slice()).unwrap();
            let i = index_of(&net, &signed.note);
            let Ok(cosigned_one) = policy(&net, i).verify(&signed.note, now(), 60) else {
                continue;
            };
            let fin = cosigned(&net, i, &after[i]);
            linked(&net, i, cosigned_one.checkpoint(), &fin).await;
        }
    })
    .await;
}

/// A log signs, with its real key, a checkpoint conflicting with the one its witnesses
/// cosigned: every honest node detects it within a bounded time, holds a verifiable proof of
/// the same two checkpoints, distrusts that origin and cosigns nothing more of it; a light
/// client that follows the log's cosigned checkpoints refuses it once it learns of the proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_log_is_caught_by_every_honest_node() {
    let _one = FIVE_DOMAINS.lock().await;
    bounded(TEST_BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = five_domains(dir.path(), true).await;
        for i in 0..DOMAINS {
            submit(&net, i, 2).await;
        }
        settle(&net, &all()).await;
        // A client following d0's cosigned checkpoints (quorum 3 of the other four).
        let store = MemoryCheckpointStore::new();
        let followed = net
            .log_identity(0)
            .unwrap()
            .with_policy(policy(&net, 0))
            .unwrap()
            .with_max_skew(DEFAULT_MAX_SKEW_SECS);
        let mut client_log =
            TrustedLog::open(net.client(0).await.unwrap(), followed, &store).unwrap();
        let trusted = client_log.refresh().await.unwrap().checkpoint;
        assert!(trusted.size() > 0);

        let fork = net.fork(0).await.unwrap();
        let origin = net.node(0).origin();
        assert_eq!(fork.origin, origin);
        let forked = VerifiedCheckpoint::verify(fork.checkpoint.as_bytes(), net.node(0).log_key())
            .expect("the conflicting checkpoint carries the log's real signature");

        let mut pairs = Vec::new();
        for j in 1..DOMAINS {
            let report = wait_until(|| async {
                let report = net.alerts(j).await.map_err(|e| e.to_string())?;
                if report.distrusted.contains(&origin) && !report.alerts.is_empty() {
                    Ok(report)
                } else {
                    Err(format!("{} holds no alert yet", net.node(j).domain()))
                }
            })
            .await;
            let record = report.alerts.iter().find(|a| a.origin == origin).unwrap();
            let proof = base64::engine::general_purpose::STANDARD
                .decode(&record.proof)
                .unwrap();
            let verified = Equivocation::decode(&proof)
                .unwrap()
                .verify()
                .expect("the proof verifies offline");
            assert_eq!(verified.origin(), origin);
            let bodies: BTreeSet<(u64, [u8; 32])> = [verified.first(), verified.second()]
                .iter()
                .map(|c| (c.size(), *c.root()))
                .collect();
            assert!(bodies.contains(&(forked.size(), *forked.root())));
            pairs.push(bodies);
        }
        assert!(pairs.windows(2).all(|w| w[0] == w[1]), "{pairs:?}");

        // The gateway's alert list reaches the client, which checks the proof itself and
        // refuses the log from then on, keeping what it trusted.
        let deadline = std::time::Instant::now() + SETTLE;
        loop {
            match client_log.refresh().await {
                Err(e) if matches!(e.verification(), Some(VerifyError::Equivocated { .. })) => {
                    break;
                }
                other => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the client still takes d0 after {SETTLE:?}: {other:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        assert!(client_log.equivocation().is_some());
        assert_eq!(client_log.trusted(), Some(&trusted));
        let author = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let entry = pb::LogEntry::decode(
            notarization_entry(&author, rand_tag(), 256)
                .unwrap()
                .as_slice(),
        )
        .unwrap();
        let err = client_log.submit(&entry).await.unwrap_err();
        assert!(
            matches!(err.verification(), Some(VerifyError::Equivocated { .. })),
            "{err}"
        );

        // d0 goes on appending; no honest witness cosigns it any more.
        let mut held = Vec::new();
        for j in 1..DOMAINS {
            let s = net.status(j).await.unwrap();
            held.push(s.witnessed.get(&origin).copied());
        }
        let cosigned_before = net.status(0).await.unwrap().cosigned_size;
        submit(&net, 0, 2).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        for (k, j) in (1..DOMAINS).enumerate() {
            let s = net.status(j).await.unwrap();
            assert_eq!(
                s.witnessed.get(&origin).copied(),
                held[k],
                "{} cosigned d0",
                s.origin
            );
        }
        let d0 = net.status(0).await.unwrap();
        assert_eq!(d0.cosigned_size, cosigned_before);
    })
    .await;
}

/// A domain cut off while a log equivocates hears neither the conflicting checkpoint nor the
/// alert's gossip (and gossipsub will not republish a message inside its duplicate window).
/// When it is back, it asks its peers for the alerts they hold, checks each proof itself, and
/// distrusts the log like everyone else — the log's later, honest-looking checkpoints do not
/// win it over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_cut_off_during_an_equivocation_learns_of_it_when_it_returns() {
    let _one = FIVE_DOMAINS.lock().await;
    bounded(TEST_BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = five_domains(dir.path(), true).await;
        for i in 0..DOMAINS {
            submit(&net, i, 1).await;
        }
        settle(&net, &all()).await;
        let away = DOMAINS - 1;
        net.cut(away).await.unwrap();
        wait_until(|| async {
            let s = net.status(away).await.map_err(|e| e.to_string())?;
            match s.peers.iter().find(|p| p.connected) {
                None => Ok(()),
                Some(p) => Err(format!("still connected to {}", p.domain)),
            }
        })
        .await;

        let fork = net.fork(0).await.unwrap();
        let origin = net.node(0).origin();
        let forked =
            VerifiedCheckpoint::verify(fork.checkpoint.as_bytes(), net.node(0).log_key()).unwrap();
        for j in 1..away {
            wait_until(|| async {
                let report = net.alerts(j).await.map_err(|e| e.to_string())?;
                if report.distrusted.contains(&origin) {
                    Ok(())
                } else {
                    Err(format!("{} holds no alert yet", net.node(j).domain()))
                }
            })
            .await;
        }
        let report = net.alerts(away).await.unwrap();
        assert!(
            report.alerts.is_empty() && !report.distrusted.contains(&origin),
            "the cut-off domain heard of the split view: {report:?}"
        );

        net.heal(away).await.unwrap();
        let report = wait_until(|| async {
            let report = net.alerts(away).await.map_err(|e| e.to_string())?;
            if report.distrusted.contains(&origin) {
                Ok(report)
            } else {
                Err("the returned domain holds no alert yet".to_owned())
            }
        })
        .await;
        let record = report.alerts.iter().find(|a| a.origin == origin).unwrap();
        let proof = base64::engine::general_purpose::STANDARD
            .decode(&record.proof)
            .unwrap();
        let verified = Equivocation::decode(&proof).unwrap().verify().unwrap();
        assert!(
            [verified.first(), verified.second()]
                .iter()
                .any(|c| (c.size(), c.root()) == (forked.size(), forked.root())),
            "the proof names the conflicting checkpoint"
        );
        let held = net
            .status(away)
            .await
            .unwrap()
            .witnessed
            .get(&origin)
            .copied();
        submit(&net, 0, 2).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let s = net.status(away).await.unwrap();
        assert_eq!(
            s.witnessed.get(&origin).copied(),
            held,
            "it cosigned d0 again"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------

fn all() -> Vec<usize> {
    (0..DOMAINS).collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn five_domains(dir: &std::path::Path, test_hooks: bool) -> Testnet {
    let mut opts = options(dir);
    opts.quorum = Some(QUORUM);
    opts.test_hooks = test_hooks;
    opts.cross_log_interval = Duration::from_secs(3600);
    opts.sequence_interval = Duration::from_millis(50);
    Testnet::spawn(DOMAINS, opts).await.unwrap()
}

/// A subscriber of the checkpoint topic, connected to every node.
async fn observe(net: &Testnet) -> GossipObserver {
    let mut observer = GossipObserver::start(&[CHECKPOINT_TOPIC]).unwrap();
    for node in net.nodes() {
        observer.dial(node.multiaddr()).await.unwrap();
    }
    let peers: Vec<_> = net.nodes().iter().map(|n| n.peer_id()).collect();
    observer
        .wait_subscribed(CHECKPOINT_TOPIC, &peers, Duration::from_secs(20))
        .await
        .expect("every node announces its checkpoint subscription");
    observer
}

/// Everything the observer received so far.
async fn drain(observer: &mut GossipObserver) -> Vec<GossipMessage> {
    let mut out = Vec::new();
    while let Some(m) = observer.next(Duration::from_millis(200)).await {
        out.push(m);
    }
    assert_eq!(observer.dropped(), 0);
    out
}

/// Submits `count` fresh notarizations to node `i`; the last ack's checkpoint, verified.
async fn submit(net: &Testnet, i: usize, count: u64) -> VerifiedCheckpoint {
    let client = net.client(i).await.unwrap();
    let author = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let mut last = None;
    for _ in 0..count {
        let tag = rand_tag();
        let ack = client
            .submit(notarization_entry(&author, tag, 256).unwrap())
            .await
            .unwrap();
        last = Some(
            VerifiedCheckpoint::verify(&ack.checkpoint.unwrap().note, net.node(i).log_key())
                .unwrap(),
        );
    }
    last.expect("count > 0")
}

fn rand_tag() -> u64 {
    herald_testnet::load::Schedule::new(herald_testnet::load::Schedule::fresh_seed()).next_u64()
}

/// Node `i`'s witness policy: its log key, every other node's witness key, the quorum.
fn policy(net: &Testnet, i: usize) -> WitnessPolicy {
    let witnesses = (0..net.len())
        .filter(|j| *j != i)
        .map(|j| net.node(j).witness_key().clone())
        .collect();
    WitnessPolicy::new(net.node(i).log_key().clone(), witnesses, QUORUM).unwrap()
}

/// The node whose log signed `note` (its first line is the origin).
fn index_of(net: &Testnet, note: &[u8]) -> usize {
    let text = String::from_utf8_lossy(note);
    let body = Checkpoint::parse_body(&text[..text.find("\n\n").unwrap() + 1]).unwrap();
    net.nodes()
        .iter()
        .position(|n| n.origin() == body.origin)
        .unwrap()
}

/// Node `i`'s cosigned checkpoint in `status`, verified under its policy.
fn cosigned(net: &Testnet, i: usize, status: &NodeStatus) -> VerifiedCheckpoint {
    policy(net, i)
        .verify(status.cosigned_checkpoint.as_bytes(), now(), 60)
        .unwrap_or_else(|e| panic!("{}: cosigned checkpoint: {e}", status.origin))
        .checkpoint()
        .clone()
}

/// Waits until each node of `logs` has its latest checkpoint cosigned (verified) and every
/// other running node of `logs` holds that size as a witness; the statuses of all nodes (those
/// not running: a default).
async fn settle(net: &Testnet, logs: &[usize]) -> Vec<NodeStatus> {
    wait_until(|| async {
        let mut statuses = Vec::new();
        for i in 0..net.len() {
            if logs.contains(&i) {
                statuses.push(Some(net.status(i).await.map_err(|e| e.to_string())?));
            } else {
                statuses.push(None);
            }
        }
        for &i in logs {
            let s = statuses[i].as_ref().unwrap();
            if s.cosigned_size != Some(s.tree_size) {
                return Err(format!(
                    "{}: cosigned {:?} of {}",
                    s.origin, s.cosigned_size, s.tree_size
                ));
            }
            policy(net, i)
                .verify(s.cosigned_checkpoint.as_bytes(), now(), 60)
                .map_err(|e| format!("{}: {e}", s.origin))?;
            for &j in logs.iter().filter(|j| **j != i) {
                let held = statuses[j]
                    .as_ref()
                    .unwrap()
                    .witnessed
                    .get(&s.origin)
                    .copied();
                if held != Some(s.tree_size) {
                    return Err(format!(
                        "d{j} holds {held:?} of {} at {}",
                        s.origin, s.tree_size
                    ));
                }
            }
        }
        Ok(statuses
            .into_iter()
            .map(|s| s.unwrap_or_else(empty_status))
            .collect())
    })
    .await
}

fn empty_status() -> NodeStatus {
    serde_json::from_value(serde_json::json!({
        "origin": "", "hash": "", "tree_size": 0, "root": "", "checkpoint": "",
        "peer_id": "", "listen_addrs": [], "log_key": "", "witness_key": "", "version": ""
    }))
    .unwrap()
}

/// Checks with a consistency proof from node `i` that `older` is a prefix of `newer`.
async fn linked(net: &Testnet, i: usize, older: &VerifiedCheckpoint, newer: &VerifiedCheckpoint) {
    assert!(older.size() <= newer.size(), "{} shrank", older.origin());
    if older.size() == 0 {
        return;
    }
    let client: GatewayClient = net.client(i).await.unwrap();
    let proof = if older.size() == newer.size() {
        pb::ConsistencyProof::new(older.size(), newer.size(), &[])
    } else {
        client
            .consistency(older.size(), newer.size())
            .await
            .unwrap()
    };
    let log = LogTrust::unwitnessed(net.node(i).log_key().clone(), net.node(i).hash());
    verify_consistency(&log, older, newer, &proof)
        .unwrap_or_else(|e| panic!("{}: {e}", older.origin()));
}

/// The `WitnessedCheckpoint` entries of node `j`'s first `size` entries, by origin.
async fn cross_logged(net: &Testnet, j: usize, size: u64) -> HashMap<String, Vec<Vec<u8>>> {
    let client = net.client(j).await.unwrap();
    let mut out: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    let mut next = 0;
    while next < size {
        let count = (size - next).min(u64::from(MAX_ENTRY_PAGE_COUNT)) as u32;
        let page = client.entries(next, count).await.unwrap();
        assert!(!page.entries.is_empty());
        next += page.entries.len() as u64;
        for bytes in page.entries {
            let entry = pb::LogEntry::decode(bytes.as_slice()).unwrap();
            if let Some(pb::log_entry::Kind::WitnessedCheckpoint(w)) = entry.kind {
                out.entry(w.origin).or_default().push(w.checkpoint);
            }
        }
    }
    out
}

/// Polls `probe` until it succeeds, at most [`SETTLE`]; panics with the last thing it saw.
async fn wait_until<T, F, Fut>(probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    match wait::until(SETTLE, Duration::from_millis(100), probe).await {
        Ok(v) => v,
        Err(last) => panic!("not within {SETTLE:?}: {}", last.unwrap_or_default()),
    }
}
