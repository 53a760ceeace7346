//! The witnessing network against real node processes (issue 4).

mod common;

use std::time::Duration;

use common::{bounded, options};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::wire::pb;
use herald_testnet::Testnet;
use herald_testnet::load::notarization_entry;
use herald_testnet::observer::GossipObserver;
use prost::Message as _;
use tempfile::TempDir;

const TEST_BOUND: Duration = Duration::from_secs(90);
const CHECKPOINT_TOPIC: &str = "herald/checkpoints/1";

/// A subscriber built from standard libp2p parts only (TCP, noise, yamux, gossipsub with
/// SHA-256 message ids and signed messages; nothing of the node's network code) receives the
/// checkpoints a node publishes, as plain protobuf `SignedCheckpoint`s carrying C2SP notes that
/// verify under the log's key, authored by the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_gossipsub_subscriber_receives_checkpoints() {
    bounded(TEST_BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let mut observer = GossipObserver::start(&[CHECKPOINT_TOPIC]).unwrap();
        for node in net.nodes() {
            observer.dial(node.multiaddr()).await.unwrap();
        }
        let peers: Vec<_> = net.nodes().iter().map(|n| n.peer_id()).collect();
        observer
            .wait_subscribed(CHECKPOINT_TOPIC, &peers, Duration::from_secs(20))
            .await
            .expect("every node announces its checkpoint subscription");

        let client = net.client(1).await.unwrap();
        let author = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let ack = client
            .submit_encoded(notarization_entry(&author, 1, 256).unwrap())
            .await
            .unwrap();
        let acked =
            VerifiedCheckpoint::verify(&ack.checkpoint.unwrap().note, net.node(1).log_key())
                .unwrap();

        // Other checkpoints may come first (node 0's, or earlier ones): wait for this one.
        let mut received = None;
        while let Some(message) = observer.next(Duration::from_secs(20)).await {
            assert_eq!(message.topic, CHECKPOINT_TOPIC);
            let signed = pb::SignedCheckpoint::decode(message.data.as_slice()).unwrap();
            let origin_node = net
                .nodes()
                .iter()
                .find(|n| Some(n.peer_id()) == message.source)
                .expect("messages are signed by their publishing node");
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
