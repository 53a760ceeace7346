//! Consistency audits of gossiped checkpoints (DESIGN §2, split view): a log that shows its
//! witness one branch and gossip another, at another size, is caught with its own consistency
//! proof; an honest log's proof settles the question; a log that answers garbage proves nothing
//! and is not accused.
//!
//! The log here is a fake in the test (a tree in memory, a real log key, a registered peer id)
//! that speaks `/herald/witness/1` to the node and serves `/herald/client/1` with whatever
//! consistency proof the case needs; the node is a real gateway over real libp2p on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::network_support::TestClient;
use crate::witness_support::{Domain, FakeLog, WAIT, eventually, metric};
use futures::StreamExt as _;
use herald_light_client::net::{
    self, CLIENT_PROTOCOL, ClientCodec, WITNESS_PROTOCOL, WitnessCodec, checkpoint_topic,
};
use herald_proto::equivocation::Evidence;
use herald_proto::wire::pb::{self, add_checkpoint_response, client_request, client_response};
use libp2p::Swarm;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use prost::Message as _;

#[derive(NetworkBehaviour)]
struct FakePeerBehaviour {
    witness: request_response::Behaviour<WitnessCodec>,
    client: request_response::Behaviour<ClientCodec>,
}

/// How the fake log answers a consistency request `(size1, size2)`.
type Answer = Box<dyn Fn(u64, u64) -> pb::ClientResponse + Send>;

/// The fake log connected to `alpha`: it has had alpha cosign its checkpoint of `held` leaves,
/// then serves consistency requests with `answer` (counting them) and entry requests from
/// `entries` until dropped.
struct FakePeer {
    asked: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_peer(
    alpha: &Domain,
    log: &FakeLog,
    held: u64,
    answer: Answer,
    entries: Vec<Vec<u8>>,
) -> FakePeer {
    let (peer, result) = connect_fake_peer(alpha, log, held, answer, entries).await;
    assert!(
        matches!(
            result,
            Some(add_checkpoint_response::Result::Cosignature(_))
        ),
        "{result:?}"
    );
    peer
}

/// [`fake_peer`] without expecting a cosignature: the witness's answer to the checkpoint.
async fn connect_fake_peer(
    alpha: &Domain,
    log: &FakeLog,
    held: u64,
    answer: Answer,
    entries: Vec<Vec<u8>>,
) -> (FakePeer, Option<add_checkpoint_response::Result>) {
    connect_fake_peer_serving(alpha, log, held, answer, entries, None).await
}

/// [`connect_fake_peer`], also answering inclusion requests from the tree of `tree`.
async fn connect_fake_peer_serving(
    alpha: &Domain,
    log: &FakeLog,
    held: u64,
    answer: Answer,
    entries: Vec<Vec<u8>>,
    tree: Option<FakeLog>,
) -> (FakePeer, Option<add_checkpoint_response::Result>) {
    let mut swarm: Swarm<FakePeerBehaviour> =
        net::build_swarm(log.keys.identity.clone(), Duration::from_secs(60), |_| {
            Ok(FakePeerBehaviour {
                witness: request_response::Behaviour::with_codec(
                    WitnessCodec::new(),
                    [(WITNESS_PROTOCOL, ProtocolSupport::Outbound)],
                    request_response::Config::default(),
                ),
                client: request_response::Behaviour::with_codec(
                    ClientCodec::new(),
                    [(CLIENT_PROTOCOL, ProtocolSupport::Inbound)],
                    request_response::Config::default(),
                ),
            })
        })
        .unwrap();
    let node = alpha.gateway.handle().peer_id();
    swarm.add_peer_address(node, alpha.addr());
    let id = swarm
        .behaviour_mut()
        .witness
        .send_request(&node, Ok(log.request(0, held)));
    let asked = Arc::new(AtomicUsize::new(0));
    let mut witnessed = None;
    tokio::time::timeout(WAIT, async {
        while witnessed.is_none() {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(FakePeerBehaviourEvent::Witness(
                    request_response::Event::Message {
                        message:
                            request_response::Message::Response {
                                request_id,
                                response,
                            },
                        ..
                    },
                )) if request_id == id => {
                    witnessed = Some(response.unwrap().result);
                }
                SwarmEvent::Behaviour(FakePeerBehaviourEvent::Client(event)) => {
                    serve(&mut swarm, event, &answer, &entries, tree.as_ref(), &asked);
                }
                _ => {}
            }
        }
    })
    .await
    .expect("alpha answers the fake log's checkpoint");
    let counter = asked.clone();
    let task = tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(FakePeerBehaviourEvent::Client(event)) =
                swarm.select_next_some().await
            {
                serve(
                    &mut swarm,
                    event,
                    &answer,
                    &entries,
                    tree.as_ref(),
                    &counter,
                );
            }
        }
    });
    (FakePeer { asked, task }, witnessed.flatten())
}

/// Answers a client request: consistency with `answer`, entries from `entries`, inclusion
/// by index from `tree` (if any), alerts with none.
fn serve(
    swarm: &mut Swarm<FakePeerBehaviour>,
    event: request_response::Event<
        Result<pb::ClientRequest, herald_proto::wire::WireError>,
        Result<pb::ClientResponse, herald_proto::wire::WireError>,
    >,
    answer: &Answer,
    entries: &[Vec<u8>],
    tree: Option<&FakeLog>,
    asked: &AtomicUsize,
) {
    let request_response::Event::Message {
        message: request_response::Message::Request {
            request, channel, ..
        },
        ..
    } = event
    else {
        return;
    };
    let response = match request.unwrap().request {
        Some(client_request::Request::Consistency(r)) => {
            asked.fetch_add(1, Ordering::SeqCst);
            answer(r.size1, r.size2)
        }
        Some(client_request::Request::Inclusion(pb::InclusionRequest {
            leaf: Some(pb::inclusion_request::Leaf::Index(index)),
            tree_size,
        })) if tree.is_some_and(|t| index < tree_size && tree_size <= t.leaves.len() as u64) => {
            let tree = tree.expect("checked above");
            pb::ClientResponse {
                response: Some(client_response::Response::Inclusion(
                    tree.inclusion(index, tree_size),
                )),
            }
        }
        Some(client_request::Request::Entries(r)) => {
            let start = (r.start as usize).min(entries.len());
            let end = (start + r.count as usize).min(entries.len());
            pb::ClientResponse {
                response: Some(client_response::Response::Entries(pb::EntryPage {
                    start: r.start,
                    entries: entries[start..end].to_vec(),
                })),
            }
        }
        _ => pb::ClientResponse {
            response: Some(client_response::Response::Alerts(pb::AlertList::default())),
        },
    };
    let _ = swarm
        .behaviour_mut()
        .client
        .send_response(channel, Ok(response));
}

fn proof_answer(log: FakeLog) -> Answer {
    Box::new(move |size1, size2| pb::ClientResponse {
        response: Some(client_response::Response::Consistency(
            pb::ConsistencyProof {
                size1,
                size2,
                hashes: log
                    .proof(size1, size2)
                    .into_iter()
                    .map(Into::into)
                    .collect(),
            },
        )),
    })
}

/// Publishes `note` on the checkpoint topic to `alpha`, as any gossip peer could.
async fn gossip(alpha: &Domain, note: Vec<u8>) -> TestClient {
    let topic = checkpoint_topic();
    let mut relay = TestClient::connect(alpha.addr()).await;
    relay.subscribe(&topic).await;
    let message = pb::SignedCheckpoint { note }.encode_to_vec();
    relay
        .swarm
        .behaviour_mut()
        .gossipsub
        .publish(topic, message)
        .expect("published");
    relay
}

/// Keeps the gossip relay running until alpha has counted an audit of outcome `kind`.
async fn until_audited(alpha: &Domain, relay: &mut TestClient, kind: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while audits(alpha, kind).await < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind} audit in time"
        );
        relay.drive_for(Duration::from_millis(50)).await;
    }
}

/// The only alert alpha holds against `origin`.
fn the_one_alert(alpha: &Domain, origin: &str) -> herald_proto::equivocation::Equivocation {
    let mut held = alpha
        .gateway
        .watch()
        .alerts()
        .list(Some(origin), 16)
        .unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    held.remove(0)
}

async fn audits(alpha: &Domain, kind: &str) -> f64 {
    metric(
        &alpha.metrics().await,
        &format!("herald_consistency_audits_total{{kind=\"{kind}\"}}"),
    )
}

/// The log shows alpha's witness a tree of 6 leaves and gossips a 9-leaf tree that rewrote leaf
/// 2. Asked for a proof from 6 to 9, it can only prove its gossiped branch, which commits it to
/// another root at 6 than the one alpha cosigned: a form (ii) proof, verified, kept, gossiped,
/// and the log distrusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_log_gossiping_another_branch_at_another_size_is_caught_by_its_own_proof() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let log = FakeLog::new("liar.test", 60, 6);
    alpha.register(&log.record()).await;
    let mut branch = log.forked_at(2);
    branch.grow_to(9);
    let fake = fake_peer(&alpha, &log, 6, proof_answer(branch.clone()), Vec::new()).await;
    let mut relay = gossip(&alpha, branch.checkpoint(9)).await;

    let deadline = tokio::time::Instant::now() + WAIT;
    while !alpha.distrusts(&log.origin()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the split view is never caught"
        );
        relay.drive_for(Duration::from_millis(50)).await;
    }
    assert!(fake.asked.load(Ordering::SeqCst) >= 1);
    let held = the_one_alert(&alpha, &log.origin());
    let verified = held.verify().expect("the proof verifies offline");
    assert!(matches!(held.evidence(), Evidence::Consistency { .. }));
    let sizes = [verified.first().size(), verified.second().size()];
    assert_eq!(sizes, [6, 9]);
    assert_eq!(audits(&alpha, "split").await, 1.0);
    // What alpha cosigned stays; it cosigns nothing more of the log.
    assert_eq!(alpha.held(&log.origin()).map(|h| h.0), Some(6));
    drop(fake);
    alpha.stop().await;
}

/// DESIGN §2, `docs/decisions.md` (Witnessing): a fork is proved at every older size, powers of
/// two included. For each older size `m` a log has alpha cosign its tree of `m` leaves, then
/// gossips a tree of `2m + 3` leaves whose leaf `m - 1` was rewritten, and serves that branch's
/// proofs. A consistency proof from a power of two does not carry the older root, so the audit
/// asks for the audit path of leaf `m` as well; in every case the alert alpha keeps is a
/// form (ii) proof that verifies offline from its bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_fork_at_every_older_size_is_proved_by_the_audit() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    for (i, m) in [1u64, 2, 4, 8, 16, 1024, 1000].into_iter().enumerate() {
        let seed = 100 + 3 * i as u8;
        let log = FakeLog::new(&format!("fork{m}.test"), seed, m);
        alpha.register(&log.record()).await;
        let mut branch = log.forked_at((m - 1) as usize);
        branch.grow_to(2 * m + 3);
        let (fake, result) = connect_fake_peer_serving(
            &alpha,
            &log,
            m,
            proof_answer(branch.clone()),
            Vec::new(),
            Some(branch.clone()),
        )
        .await;
        assert!(
            matches!(
                result,
                Some(add_checkpoint_response::Result::Cosignature(_))
            ),
            "size {m}: {result:?}"
        );
        let mut relay = gossip(&alpha, branch.checkpoint(2 * m + 3)).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while !alpha.distrusts(&log.origin()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the fork at size {m} is never proved"
            );
            relay.drive_for(Duration::from_millis(50)).await;
        }
        let held = the_one_alert(&alpha, &log.origin());
        let bytes = held.encode();
        let offline = herald_proto::equivocation::Equivocation::decode(&bytes).unwrap();
        let verified = offline.verify().expect("the proof verifies offline");
        assert_eq!(
            [verified.first().size(), verified.second().size()],
            [m, 2 * m + 3]
        );
        let Evidence::Consistency {
            alternative_root, ..
        } = offline.evidence()
        else {
            panic!("size {m}: {:?}", offline.evidence())
        };
        assert_eq!(alternative_root.is_some(), m.is_power_of_two(), "size {m}");
        drop(fake);
    }
    assert_eq!(audits(&alpha, "split").await, 7.0);
    alpha.stop().await;
}

/// An honest log grew from 6 to 9 leaves: its proof verifies, nothing is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_logs_gossiped_growth_is_audited_consistent() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut log = FakeLog::new("honest.test", 70, 6);
    alpha.register(&log.record()).await;
    let held_log = log.clone();
    log.grow_to(9);
    let fake = fake_peer(&alpha, &held_log, 6, proof_answer(log.clone()), Vec::new()).await;
    let mut relay = gossip(&alpha, log.checkpoint(9)).await;
    until_audited(&alpha, &mut relay, "consistent").await;
    assert!(fake.asked.load(Ordering::SeqCst) >= 1);
    assert!(!alpha.distrusts(&log.origin()));
    assert!(alpha.gateway.watch().alerts().is_empty());
    drop(fake);
    alpha.stop().await;
}

/// A log (or whoever answers for it) that sends garbage for a proof proves nothing about the
/// log: the audit is counted unproven and nobody is accused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_garbage_proof_accuses_nobody() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let log = FakeLog::new("garbage.test", 80, 6);
    alpha.register(&log.record()).await;
    let mut grown = log.clone();
    grown.grow_to(9);
    let garbage: Answer = Box::new(|size1, size2| pb::ClientResponse {
        response: Some(client_response::Response::Consistency(
            pb::ConsistencyProof {
                size1,
                size2,
                hashes: vec![vec![7; 32].into(); 4],
            },
        )),
    });
    let fake = fake_peer(&alpha, &log, 6, garbage, Vec::new()).await;
    let mut relay = gossip(&alpha, grown.checkpoint(9)).await;
    until_audited(&alpha, &mut relay, "unproven").await;
    assert!(fake.asked.load(Ordering::SeqCst) >= 1);
    assert!(!alpha.distrusts(&log.origin()));
    assert!(alpha.gateway.watch().alerts().is_empty());
    // The witness still holds and serves what it cosigned.
    assert_eq!(alpha.held(&log.origin()).map(|h| h.0), Some(6));
    eventually("alpha keeps serving", || async {
        alpha.status().await["origin"] == "alpha.test/herald"
    })
    .await;
    drop(fake);
    alpha.stop().await;
}

/// A `WitnessedCheckpoint` entry recording `note` of `origin`.
fn witnessed(origin: String, note: Vec<u8>) -> Vec<u8> {
    pb::LogEntry {
        kind: Some(pb::log_entry::Kind::WitnessedCheckpoint(
            pb::WitnessedCheckpoint {
                origin,
                checkpoint: note,
                seen_at: 1,
            },
        )),
    }
    .encode_to_vec()
}

/// A split view no gossip carried: the log showed alpha one tree of 6 leaves and another peer
/// another, which that peer recorded in its own log. Reading the peer's log, alpha finds the
/// other checkpoint, and the two signed checkpoints of one size are the proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_split_view_recorded_only_in_a_peers_log_is_caught_by_reading_it() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let liar = FakeLog::new("liar.test", 90, 6);
    alpha.register(&liar.record()).await;
    let _liar = fake_peer(&alpha, &liar, 6, proof_answer(liar.clone()), Vec::new()).await;
    let recorder = FakeLog::new("recorder.test", 100, 3);
    alpha.register(&recorder.record()).await;
    let other_view = liar.forked_at(1).checkpoint(6);
    let entries = vec![
        crate::network_support::notarization(1),
        witnessed(liar.origin(), other_view),
        crate::network_support::notarization(2),
    ];
    let _recorder = fake_peer(
        &alpha,
        &recorder,
        3,
        proof_answer(recorder.clone()),
        entries,
    )
    .await;

    eventually(
        "alpha reads the peer's log and catches the split view",
        || async { alpha.distrusts(&liar.origin()) },
    )
    .await;
    let held = the_one_alert(&alpha, &liar.origin());
    assert!(matches!(held.evidence(), Evidence::SameSize));
    held.verify().expect("the proof verifies offline");
    let page = alpha.metrics().await;
    assert!(
        metric(&page, "herald_peer_log_entries_scanned_total") >= 3.0,
        "{page}"
    );
    // The honest recorder is not blamed.
    assert!(!alpha.distrusts(&recorder.origin()));
    alpha.stop().await;
}

/// A peer's log holds a checkpoint signed with alpha's own log key that is not alpha's tree at
/// that size (the key signed a history alpha never had): alpha proves it with its own
/// consistency proof, raises the alarm against itself, and serves the proof to its clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_checkpoint_signed_with_this_logs_key_but_not_its_tree_raises_the_alarm() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    for n in 0..5 {
        client.submit(crate::network_support::notarization(n)).await;
    }
    let own_entries = alpha.gateway.head().size;
    assert!(own_entries >= 5);
    let forged = herald_proto::checkpoint::Checkpoint {
        origin: alpha.origin(),
        size: 3,
        root: [9; 32],
    }
    .sign(&alpha.keys.log)
    .unwrap()
    .to_string()
    .into_bytes();
    // An honest record of alpha's real checkpoint too: it must not raise anything.
    let real = alpha.gateway.head().checkpoint;
    let recorder = FakeLog::new("recorder.test", 110, 2);
    alpha.register(&recorder.record()).await;
    let entries = vec![
        witnessed(alpha.origin(), real),
        witnessed(alpha.origin(), forged),
    ];
    let _recorder = fake_peer(
        &alpha,
        &recorder,
        2,
        proof_answer(recorder.clone()),
        entries,
    )
    .await;

    eventually("alpha catches the checkpoint its key signed", || async {
        alpha.distrusts(&alpha.origin())
    })
    .await;
    let held = the_one_alert(&alpha, &alpha.origin());
    let verified = held.verify().expect("the proof verifies offline");
    assert!(matches!(held.evidence(), Evidence::Consistency { .. }));
    assert_eq!(verified.first().size(), 3);
    let answer = client
        .request(pb::client_request::Request::Alerts(pb::AlertsRequest {
            origin: alpha.origin(),
        }))
        .await;
    let Some(client_response::Response::Alerts(list)) = answer.response else {
        panic!("{answer:?}");
    };
    assert_eq!(list.alerts.len(), 1, "clients are told");
    alpha.stop().await;
}

/// Gossip showed alpha one root at size 6; the log then asks alpha to cosign another root at
/// size 6, consistent with nothing alpha held before. The two signed checkpoints are a split
/// view: alpha raises it and does not cosign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_checkpoint_conflicting_with_gossip_is_not_cosigned() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let log = FakeLog::new("split.test", 120, 6);
    alpha.register(&log.record()).await;
    let mut relay = gossip(&alpha, log.forked_at(3).checkpoint(6)).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(&alpha.metrics().await, "herald_gossip_received_total") < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gossip never arrives"
        );
        relay.drive_for(Duration::from_millis(50)).await;
    }
    let (_fake, answer) =
        connect_fake_peer(&alpha, &log, 6, proof_answer(log.clone()), Vec::new()).await;
    assert!(
        matches!(answer, Some(add_checkpoint_response::Result::Refusal(_))),
        "{answer:?}"
    );
    assert!(alpha.distrusts(&log.origin()));
    let held = the_one_alert(&alpha, &log.origin());
    assert!(matches!(held.evidence(), Evidence::SameSize));
    alpha.stop().await;
}
