//! Checkpoint gossip on `herald/checkpoints/1`: a subscriber receives every new checkpoint,
//! signed by the log; a peer that gossips garbage is rejected and penalised.

use std::time::Duration;

use crate::network_support::{TestClient, TestNode, WAIT, notarization};
use herald_light_client::net::checkpoint_topic;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::wire::{self, pb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_receives_each_new_checkpoint() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let mut peer = TestClient::connect(node.tcp_addr()).await;
    peer.subscribe(&checkpoint_topic()).await;

    // The node publishes when a round is signed. Our subscription reaches it at about the time
    // its subscription reached us, so a first round may go out before it knows of us: submit
    // until a checkpoint arrives (bounded), then check that a later one arrives too.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut n = 0;
    while peer.gossip.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no checkpoint gossiped"
        );
        n += 1;
        let _ = peer.submit(notarization(n)).await;
        peer.drive_for(Duration::from_millis(500)).await;
    }
    let seen = peer.gossip.len();
    let _ = peer.submit(notarization(1000)).await;
    let size_after = node.gateway.head().size;
    peer.wait_until(|p| p.gossip.len() > seen).await;

    let mut sizes = Vec::new();
    for (topic, data) in &peer.gossip {
        assert_eq!(topic, wire::CHECKPOINT_TOPIC);
        let message: pb::SignedCheckpoint = wire::decode_valid(data).expect("a SignedCheckpoint");
        let checkpoint = VerifiedCheckpoint::verify(&message.note, &node.log_key)
            .expect("gossiped checkpoints are signed by the log");
        sizes.push(checkpoint.size());
    }
    assert!(
        sizes.windows(2).all(|w| w[0] < w[1]),
        "sizes only grow: {sizes:?}"
    );
    assert_eq!(sizes.last(), Some(&size_after));
    let (_, metrics) = node.http_get("/metrics").await;
    let published: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("herald_gossip_published_total "))
        .and_then(|v| v.parse().ok())
        .expect("published counter");
    assert!(
        (sizes.len()..=size_after as usize).contains(&published),
        "at most one publication per round, each one seen: {published} for {sizes:?}"
    );
    node.stop().await;
}

/// A peer that gossips something that is not a checkpoint is rejected: the message is not
/// forwarded, the rejection is counted, and gossipsub's score charges the sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_invalid_gossip_is_rejected_and_penalises_its_sender() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let mut attacker = TestClient::connect(node.tcp_addr()).await;
    let topic = checkpoint_topic();
    attacker.subscribe(&topic).await;
    let me = *attacker.swarm.local_peer_id();

    attacker
        .swarm
        .behaviour_mut()
        .gossipsub
        .publish(topic, b"not a checkpoint".to_vec())
        .expect("published");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        attacker.drive_for(Duration::from_millis(200)).await;
        let (_, metrics) = node.http_get("/metrics").await;
        if metrics.contains("herald_gossip_rejected_total 1") {
            assert!(
                metrics.contains("herald_gossip_received_total 1"),
                "{metrics}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never rejected: {metrics}"
        );
    }
    let score = node
        .gateway
        .handle()
        .gossip_peer_score(me)
        .await
        .unwrap()
        .expect("the attacker is scored");
    assert!(
        score < -50.0,
        "one invalid message costs the sender: score {score}"
    );
    node.stop().await;
}
