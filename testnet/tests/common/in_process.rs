//! A node started in this process (no testnet, no child process) for tests that need one real
//! gateway over real libp2p, and the notarizations they submit to it.

use herald_node::testkit::TestGateway;
use herald_proto::entry::Notarization;

/// A gateway for `alpha.test`, started with the workspace's one in-process starter.
pub(crate) async fn start_node() -> TestGateway {
    TestGateway::start("alpha.test", |_| {}).await
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
