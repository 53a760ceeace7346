//! Several in-process gateways over real libp2p on 127.0.0.1, registered with each other: they
//! cosign each other's checkpoints, reach the quorum, serve the cosigned checkpoint to clients,
//! catch up after a witness was offline, cross-log each other, and detect a forked checkpoint.

use std::time::Duration;

use crate::network_support::{TestClient, error_of, notarization};
use crate::witness_support::{Domain, eventually, http, metric, register_all};
use herald_proto::checkpoint::{VerifiedCheckpoint, WitnessPolicy};
use herald_proto::equivocation::Equivocation;
use herald_proto::wire::pb;
use prost::Message as _;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Appends `n` entries to `node` through the client protocol.
async fn append(node: &Domain, n: u64) {
    let mut client = TestClient::connect(node.addr()).await;
    for i in 0..n {
        let answer = client.submit(notarization(now() * 1000 + i)).await;
        assert!(error_of(&answer).is_none(), "{answer:?}");
    }
}

/// The cosigned checkpoint a client gets from `node`, checked with proto's policy.
async fn cosigned_for_client(
    node: &Domain,
    witnesses: &[&Domain],
    quorum: usize,
) -> VerifiedCheckpoint {
    let mut client = TestClient::connect(node.addr()).await;
    let answer = client
        .request(pb::client_request::Request::Checkpoint(
            pb::CheckpointRequest { cosigned: true },
        ))
        .await;
    let Some(pb::client_response::Response::Checkpoint(c)) = answer.response else {
        panic!("no cosigned checkpoint: {answer:?}");
    };
    let policy = WitnessPolicy::new(
        node.keys.log_verifier(),
        witnesses
            .iter()
            .map(|w| w.keys.witness_verifier())
            .collect(),
        quorum,
    )
    .unwrap();
    policy
        .verify(&c.note, now(), 60)
        .expect("the served checkpoint satisfies the client's policy")
        .checkpoint()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_cosign_each_other_and_serve_the_cosigned_checkpoint() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    // Before any witness, asking for a cosigned checkpoint is NOT_FOUND.
    let mut client = TestClient::connect(alpha.addr()).await;
    let answer = client
        .request(pb::client_request::Request::Checkpoint(
            pb::CheckpointRequest { cosigned: true },
        ))
        .await;
    assert_eq!(
        error_of(&answer).map(|e| e.0),
        Some(pb::ClientErrorKind::NotFound)
    );
    register_all(&[&alpha, &beta]).await;
    append(&alpha, 3).await;
    let size = alpha.gateway.head().size;
    // alpha also cross-logs beta's cosigned checkpoints, so its log may grow past `size` on
    // its own: what counts is a cosigned checkpoint that covers the three entries.
    eventually("alpha's checkpoint cosigned by beta", || async {
        alpha.cosigned_size() >= Some(size)
    })
    .await;
    let served = cosigned_for_client(&alpha, &[&beta], 1).await;
    assert!(served.size() >= size);
    // beta holds what it cosigned: that checkpoint, or a later one of the same log.
    let (held_size, held_root) = beta.held(&alpha.origin()).expect("beta holds alpha's log");
    assert!(held_size >= served.size());
    if held_size == served.size() {
        assert_eq!(held_root, *served.root());
    }
    // And the other way round.
    append(&beta, 2).await;
    let beta_size = beta.gateway.head().size;
    eventually("beta's checkpoint cosigned by alpha", || async {
        beta.cosigned_size() >= Some(beta_size)
    })
    .await;
    cosigned_for_client(&beta, &[&alpha], 1).await;
    let status = alpha.status().await;
    assert_eq!(status["peers"][0]["domain"], "beta.test");
    assert_eq!(status["cosigned_size"].as_u64(), alpha.cosigned_size());
    let page = alpha.metrics().await;
    assert!(
        metric(&page, "herald_cosigned_checkpoints_total") >= 1.0,
        "{page}"
    );
    alpha.stop().await;
    beta.stop().await;
}

/// The `WitnessedCheckpoint` entries of `node`'s log, by origin.
fn crosslogged(node: &Domain) -> Vec<pb::WitnessedCheckpoint> {
    node.entries_from(0)
        .into_iter()
        .filter_map(|entry| match entry.kind {
            Some(pb::log_entry::Kind::WitnessedCheckpoint(w)) => Some(w),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_reach_quorum_and_cross_log_each_other_at_a_bounded_rate() {
    let tweak = |c: &mut herald_node::config::NodeConfig| {
        c.quorum = 2;
        c.crosslog_interval_ms = 300;
    };
    // The bound on cross-logged entries counts intervals from here: the waits below take as
    // long as the machine's load makes them, and entries accrue all along.
    let started = tokio::time::Instant::now();
    let alpha = Domain::start("alpha.test", tweak).await;
    let beta = Domain::start("beta.test", tweak).await;
    let gamma = Domain::start("gamma.test", tweak).await;
    let all = [&alpha, &beta, &gamma];
    register_all(&all).await;
    for node in all {
        append(node, 2).await;
    }
    for node in all {
        let size = node.gateway.head().size;
        eventually("a quorum of 2 cosigned each log", || async {
            node.cosigned_size() >= Some(size)
        })
        .await;
    }
    cosigned_for_client(&alpha, &[&beta, &gamma], 2).await;
    // Each gateway logs both of its peers' cosigned checkpoints.
    for node in all {
        eventually("both peers cross-logged", || async {
            let origins: std::collections::BTreeSet<String> =
                crosslogged(node).into_iter().map(|w| w.origin).collect();
            origins.len() == 2
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let elapsed = started.elapsed();
    for node in all {
        let entries = crosslogged(node);
        for peer in all.iter().filter(|p| p.origin() != node.origin()) {
            let of_peer: Vec<&pb::WitnessedCheckpoint> = entries
                .iter()
                .filter(|w| w.origin == peer.origin())
                .collect();
            // Every entry is a checkpoint of that peer cosigned by a quorum of the others...
            let witnesses = all
                .iter()
                .filter(|w| w.origin() != peer.origin())
                .map(|w| w.keys.witness_verifier())
                .collect();
            let policy = WitnessPolicy::new(peer.keys.log_verifier(), witnesses, 2).unwrap();
            let mut sizes = Vec::new();
            for w in &of_peer {
                let c = policy
                    .verify(&w.checkpoint, now(), 60)
                    .expect("cosigned by a quorum");
                sizes.push(c.checkpoint().size());
            }
            // ...each larger than the one before...
            assert!(sizes.windows(2).all(|s| s[0] < s[1]), "{sizes:?}");
            // ...and at most one per interval: the ping-pong between logs is bounded.
            let bound = (elapsed.as_millis() / 300) as usize + 4;
            assert!(
                of_peer.len() <= bound,
                "{} entries for {}",
                of_peer.len(),
                peer.origin()
            );
        }
    }
    let page = alpha.metrics().await;
    assert!(
        metric(&page, "herald_crosslogged_checkpoints_total") >= 2.0,
        "{page}"
    );
    for node in [alpha, beta, gamma] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_witness_does_not_stall_the_log_and_catches_up() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    register_all(&[&alpha, &beta]).await;
    append(&alpha, 1).await;
    let first = alpha.gateway.head().size;
    // At least `first`, not exactly: beta's first checkpoint, cross-logged by alpha, may be
    // sequenced before beta answers for `first`, and the cosigner pushes only the latest
    // checkpoint, so the first one cosigned may be larger (it was, in some runs under load).
    eventually("first checkpoint cosigned", || async {
        alpha.cosigned_size() >= Some(first)
    })
    .await;

    let beta = beta.stop().await;
    // An answer beta sent just before stopping is taken in by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cosigned = alpha.cosigned_size().unwrap();
    // The log keeps sequencing while its only witness is away. (Its size may also count a
    // cross-logged checkpoint of beta's, appended when beta's cosigned checkpoint arrived.)
    append(&alpha, 3).await;
    let size = alpha.gateway.head().size;
    assert!(size >= first + 3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        alpha.cosigned_size(),
        Some(cosigned),
        "nothing cosigns it meanwhile"
    );

    let beta = beta.start().await;
    eventually(
        "the returning witness cosigned the latest checkpoint",
        || async { alpha.cosigned_size() >= Some(size) },
    )
    .await;
    let held = beta
        .held(&alpha.origin())
        .expect("beta holds alpha's checkpoint");
    assert!(held.0 >= size);
    assert_eq!(
        alpha.cosigned_size(),
        Some(held.0),
        "what beta holds is alpha's cosigned checkpoint"
    );
    alpha.stop().await;
    beta.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_checkpoint_is_detected_gossiped_verified_and_the_origin_refused() {
    let alpha = Domain::start("alpha.test", |c| c.test_hooks = true).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    let gamma = Domain::start("gamma.test", |_| {}).await;
    register_all(&[&alpha, &beta, &gamma]).await;
    append(&alpha, 2).await;
    let head = alpha.gateway.head();
    for w in [&beta, &gamma] {
        eventually("both witnesses hold alpha's checkpoint", || async {
            w.held(&alpha.origin()) == Some((head.size, head.root))
        })
        .await;
    }
    // The test hook makes alpha sign another root at the same size with its real key.
    let token = alpha.admin_token();
    let (status, body) = http(
        alpha.gateway.http_addr(),
        "POST",
        "/admin/test/fork",
        Some(&token),
        Some(b""),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for w in [&beta, &gamma] {
        eventually("every peer detects the split view", || async {
            w.distrusts(&alpha.origin())
        })
        .await;
    }
    // They hold the same proof (built in a canonical order), and it verifies offline.
    let proofs = |d: &Domain| {
        d.gateway
            .watch()
            .alerts()
            .list(Some(&alpha.origin()), 16)
            .unwrap()
    };
    let (at_beta, at_gamma) = (proofs(&beta), proofs(&gamma));
    assert!(
        at_beta.iter().any(|p| at_gamma.contains(p)),
        "{at_beta:?} / {at_gamma:?}"
    );
    for p in at_beta.iter().chain(&at_gamma) {
        let verified = p.verify().expect("a stored proof verifies");
        assert_eq!(verified.equivocation().log(), &alpha.keys.log_verifier());
    }
    // Exposed to operators and to clients.
    let page = beta.metrics().await;
    assert!(metric(&page, "herald_alerts") >= 1.0, "{page}");
    assert_eq!(metric(&page, "herald_distrusted_origins"), 1.0);
    assert_eq!(beta.status().await["distrusted"][0], alpha.origin());
    let mut client = TestClient::connect(beta.addr()).await;
    let answer = client
        .request(pb::client_request::Request::Alerts(pb::AlertsRequest {
            origin: alpha.origin(),
        }))
        .await;
    let Some(pb::client_response::Response::Alerts(list)) = answer.response else {
        panic!("{answer:?}");
    };
    assert!(!list.alerts.is_empty());
    for a in list.alerts {
        Equivocation::from_wire(a)
            .unwrap()
            .verify()
            .expect("served alerts verify");
    }
    // From now on alpha's checkpoints are refused by both: its cosigned checkpoint stays.
    let cosigned_before = alpha.cosigned_size();
    append(&alpha, 2).await;
    eventually("alpha is told it is distrusted", || async {
        let page = alpha.metrics().await;
        page.contains("herald_cosign_requests_total{kind=\"distrusted_origin\"}")
    })
    .await;
    assert_eq!(alpha.cosigned_size(), cosigned_before);
    for w in [&beta, &gamma] {
        assert_eq!(w.held(&alpha.origin()), Some((head.size, head.root)));
    }
    for node in [alpha, beta, gamma] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_garbage_or_false_alert_is_rejected_and_a_strangers_is_not_kept() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let topic = herald_light_client::net::alert_topic();
    // A valid proof about a log alpha does not know, and the same proof made false (both
    // checkpoints the same): ignored, and rejected.
    let stranger = crate::witness_support::FakeLog::new("stranger.test", 90, 5);
    let fork = stranger.forked_at(1);
    let verify =
        |note: Vec<u8>| VerifiedCheckpoint::verify(&note, &stranger.keys.log_verifier()).unwrap();
    let proof = Equivocation::from_same_size(
        herald_proto::merkle::HashAlgorithm::Blake3,
        &verify(stranger.checkpoint(5)),
        &verify(fork.checkpoint(5)),
    )
    .unwrap();
    let mut false_alert = proof.to_wire();
    false_alert.checkpoint_b = false_alert.checkpoint_a.clone();
    // One attacker per bad message: after one, gossipsub graylists its sender and drops the rest.
    let sends = [
        vec![proof.encode(), b"\xffnot an equivocation".to_vec()],
        vec![false_alert.encode_to_vec()],
    ];
    let mut attackers = Vec::new();
    for messages in sends {
        let mut attacker = TestClient::connect(alpha.addr()).await;
        attacker.subscribe(&topic).await;
        for data in messages {
            attacker
                .swarm
                .behaviour_mut()
                .gossipsub
                .publish(topic.clone(), data)
                .expect("published");
        }
        attackers.push(attacker);
    }
    let deadline = tokio::time::Instant::now() + crate::witness_support::WAIT;
    while metric(&alpha.metrics().await, "herald_gossip_rejected_total") < 2.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bad alerts never rejected"
        );
        for a in &mut attackers {
            a.drive_for(Duration::from_millis(50)).await;
        }
    }
    assert!(alpha.gateway.watch().alerts().is_empty());
    assert!(!alpha.distrusts(&stranger.origin()));
    for a in &attackers {
        let me = *a.swarm.local_peer_id();
        let score = alpha
            .gateway
            .handle()
            .gossip_peer_score(me)
            .await
            .unwrap()
            .expect("the attacker is scored");
        assert!(score < -50.0, "a bad alert costs its sender: {score}");
    }
    alpha.stop().await;
}

/// A registered peer answers the node's "which alerts do you hold?" (asked when a connection
/// to it opens) with one false proof and one true one: the false one is dropped, the true one is
/// verified and kept, and the node distrusts that log from then on. The peer here is a fake that
/// serves `/herald/client/1` under a registered peer id, so the test controls its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_peer_listing_a_false_alert_gets_it_dropped_and_its_true_one_is_kept() {
    use crate::witness_support::FakeLog;
    use futures::StreamExt as _;
    use herald_light_client::net::{self, CLIENT_PROTOCOL, ClientCodec};
    use libp2p::request_response::{self, ProtocolSupport};
    use libp2p::swarm::SwarmEvent;

    let alpha = Domain::start("alpha.test", |_| {}).await;
    let peer = FakeLog::new("peer.test", 40, 6);
    alpha.register(&peer.record()).await;
    let verify =
        |note: Vec<u8>| VerifiedCheckpoint::verify(&note, &peer.keys.log_verifier()).unwrap();
    let proof = Equivocation::from_same_size(
        herald_proto::merkle::HashAlgorithm::Blake3,
        &verify(peer.checkpoint(6)),
        &verify(peer.forked_at(2).checkpoint(6)),
    )
    .unwrap();
    let mut false_alert = proof.to_wire();
    false_alert.checkpoint_b = false_alert.checkpoint_a.clone();

    let mut swarm = net::build_swarm(peer.keys.identity.clone(), Duration::from_secs(60), |_| {
        Ok(request_response::Behaviour::with_codec(
            ClientCodec::new(),
            [(CLIENT_PROTOCOL, ProtocolSupport::Inbound)],
            request_response::Config::default(),
        ))
    })
    .unwrap();
    swarm.dial(alpha.addr()).unwrap();
    let asked = tokio::time::timeout(crate::witness_support::WAIT, async {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) = swarm.select_next_some().await
            {
                let list = pb::ClientResponse {
                    response: Some(pb::client_response::Response::Alerts(pb::AlertList {
                        alerts: vec![false_alert.clone(), proof.to_wire()],
                    })),
                };
                swarm
                    .behaviour_mut()
                    .send_response(channel, Ok(list))
                    .unwrap();
                return request.unwrap();
            }
        }
    })
    .await
    .expect("the node asks a registered peer for its alerts when it connects");
    assert!(matches!(
        asked.request,
        Some(pb::client_request::Request::Alerts(_))
    ));
    let drive = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });

    eventually("the true alert is kept", || async {
        alpha.distrusts(&peer.origin())
    })
    .await;
    let held = alpha.gateway.watch().alerts().list(None, 16).unwrap();
    assert_eq!(held.len(), 1, "only the true proof is kept");
    assert_eq!(held[0].encode(), proof.encode());
    drive.abort();
    alpha.stop().await;
}
