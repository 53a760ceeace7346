//! A node started in this process (no testnet, no child process) for tests that need one real
//! gateway over real libp2p, and the notarizations they submit to it.

use std::path::Path;

use herald_node::config::NodeConfig;
use herald_node::gateway::{Gateway, init};
use herald_proto::entry::Notarization;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// A gateway for `alpha.test`, initialised in `dir/node` and running.
pub(crate) async fn start_node(dir: &Path) -> Gateway {
    let mut config = NodeConfig::for_loopback_test("alpha.test", dir.join("node"));
    // Short rounds keep the tests quick; acks still wait for a real flush.
    config.sequence_interval_ms = 20;
    let init_config = config.clone();
    tokio::task::spawn_blocking(move || init(&init_config))
        .await
        .expect("init task")
        .expect("init");
    Gateway::start(config).await.expect("start")
}

/// The node's listen address over `quic` or TCP, with its `/p2p/<peer id>`.
pub(crate) fn address(gateway: &Gateway, quic: bool) -> Multiaddr {
    gateway
        .listen_addrs()
        .iter()
        .find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)) == quic)
        .cloned()
        .expect("the node listens on TCP and QUIC")
}

/// The `i`th test notarization.
pub(crate) fn request(i: u8) -> Notarization {
    Notarization {
        digest: *blake3::hash(&[i]).as_bytes(),
        media_type: "text/plain".into(),
        label: format!("document {i}"),
        created: 1_790_000_000 + u64::from(i),
    }
}
