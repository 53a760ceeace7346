//! What the network serves, as the worker sees it: one small trait in front of the application
//! (lumina's `Worker<S: Store>` shape).
//!
//! The worker owns the transport: the swarm, the connection bounds, the number of requests in
//! flight (`BUSY` / `UNAVAILABLE` beyond it), the refusals while draining, the answers to bytes
//! that are not a valid request (`MALFORMED`, `TOO_LARGE`), the redials and the publishing of the
//! sequencer's checkpoints. Everything it carries is answered or judged by an [`Inbound`]: the
//! node's is `crate::service::NodeService` (client intake, the witness, gossip judgement, alert
//! anti-entropy); tests use a fake. The worker knows nothing of what is behind it.

use core::future::Future;

use herald_proto::wire::{Decoded, pb};
use libp2p::PeerId;

use super::Topic;

/// The application behind the transport. Cheap to clone (handles inside): the worker clones it
/// into the task of each request.
pub trait Inbound: Clone + Send + Sync + 'static {
    /// Answers one valid `/herald/client/1` request from `peer`. Runs on its own task (on a
    /// client stream, one whose answer is ready on its first poll runs on the stream's task);
    /// the worker bounds how many run at once.
    fn client(
        &self,
        peer: PeerId,
        request: pb::ClientRequest,
    ) -> impl Future<Output = pb::ClientResponse> + Send;

    /// Answers one `/herald/witness/1` request from `peer`, as it arrived: a request whose bytes
    /// were not a valid message is the witness's to refuse (counted with its other refusals).
    /// Runs on its own task; the worker bounds how many run at once.
    fn witness(
        &self,
        peer: PeerId,
        request: Decoded<pb::AddCheckpointRequest>,
    ) -> impl Future<Output = pb::AddCheckpointResponse> + Send;

    /// Judges a gossip message `from` a peer on `topic` before gossipsub may forward it. Runs on
    /// the worker: quick, no storage.
    fn gossip(&self, from: PeerId, topic: Topic, data: &[u8]) -> GossipVerdict;

    /// The alert messages to publish again for a peer that just subscribed to the alert topic
    /// (it may have been away when they were first gossiped). Runs on the worker: bounded, from
    /// memory or cache.
    fn alerts_to_republish(&self) -> Vec<Vec<u8>>;

    /// The first connection to a registered peer opened (never while draining). Runs on the
    /// worker: whatever it starts runs on a task of its own.
    fn peer_connected(&self, peer: PeerId);
}

/// What gossipsub is told to do with a received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GossipVerdict {
    /// Valid: forward it.
    Accept,
    /// Valid but not for this node to vouch for: neither forward nor charge the sender.
    Ignore,
    /// Invalid: drop it and charge the sender (peer scoring); the reason is logged.
    Reject(String),
}
