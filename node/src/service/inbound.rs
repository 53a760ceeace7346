//! [`NodeService`]: what the network worker serves, on the application floor. It implements
//! `network::Inbound` by routing each thing the worker carries to the part that owns it:
//!
//! | from the network | to |
//! |---|---|
//! | a `/herald/client/1` request | [`ClientService`] (the intake, the store, the watch's alerts) |
//! | a `/herald/witness/1` request | the witness service ([`WitnessService::add_checkpoint`]) |
//! | a gossip message | [`GossipJudge`] (its verdict back to gossipsub; believed news to the watcher) |
//! | a peer subscribing to alerts | the split-view watch's alert book (alerts to republish) |
//! | a registered peer's first connection | [`AlertSync`] (ask it for its alerts) |
//!
//! The worker sees only the trait; this is the one place that knows both sides.

use std::sync::Arc;

use herald_proto::wire::{Decoded, MAX_ALERTS_PER_ANSWER, pb};
use libp2p::PeerId;
use tracing::warn;

use super::ClientService;
use crate::gossip::GossipJudge;
use crate::network::{GossipVerdict, Inbound, Topic};
use crate::watch::SplitViewWatch;
use crate::watch::alert_sync::AlertSync;
use crate::witness::WitnessService;

/// The node's application as the network reaches it. Cheap to clone: one shared handle, since
/// the worker clones it for every request it hands to a task (its parts together are some
/// hundreds of bytes and tens of reference counts).
#[derive(Clone, Debug)]
pub struct NodeService(Arc<Parts>);

#[derive(Debug)]
struct Parts {
    client: ClientService,
    witness: WitnessService,
    watch: SplitViewWatch,
    gossip: GossipJudge,
    alert_sync: AlertSync,
}

impl NodeService {
    /// The service routing to these parts.
    pub fn new(
        client: ClientService,
        witness: WitnessService,
        watch: SplitViewWatch,
        gossip: GossipJudge,
        alert_sync: AlertSync,
    ) -> Self {
        NodeService(Arc::new(Parts {
            client,
            witness,
            watch,
            gossip,
            alert_sync,
        }))
    }
}

impl Inbound for NodeService {
    fn client(
        &self,
        peer: PeerId,
        request: pb::ClientRequest,
    ) -> impl Future<Output = pb::ClientResponse> + Send {
        self.0.client.handle(peer, request)
    }

    async fn witness(
        &self,
        peer: PeerId,
        request: Decoded<pb::AddCheckpointRequest>,
    ) -> pb::AddCheckpointResponse {
        self.0.witness.add_checkpoint(peer, request).await
    }

    fn gossip(&self, from: PeerId, topic: Topic, data: &[u8]) -> GossipVerdict {
        self.0.gossip.judge(from, topic, data)
    }

    fn alerts_to_republish(&self) -> Vec<Vec<u8>> {
        let book = self.0.watch.alerts();
        if book.is_empty() {
            return Vec::new();
        }
        // At most one answer's worth, read from sled's cache (small, bounded).
        match book.list(None, MAX_ALERTS_PER_ANSWER) {
            Ok(alerts) => alerts.iter().map(|a| a.encode()).collect(),
            Err(error) => {
                warn!(%error, "cannot read alerts to republish");
                Vec::new()
            }
        }
    }

    fn peer_connected(&self, peer: PeerId) {
        self.0.alert_sync.peer_connected(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, C, F: Future>(_: impl FnOnce(A, B, C) -> F) -> usize {
        size_of::<F>()
    }

    /// Every client request's future is boxed by the stream that carries it (and the task of
    /// one that waits holds it): one allocation per request, which stays in the allocator's
    /// small sizes only while the future does. A request kind whose future is large boxes its
    /// own (as `session`, `relay_mail` and the others do in `ClientService::handle`). The
    /// bound is for a debug build; a release build's futures are smaller.
    #[test]
    fn a_client_requests_future_stays_small() {
        let size = future_size(
            |service: NodeService, peer: PeerId, request: pb::ClientRequest| async move {
                service.client(peer, request).await
            },
        );
        assert!(size <= 2048, "a client request's future takes {size} bytes");
        assert_eq!(
            size_of::<NodeService>(),
            size_of::<usize>(),
            "one shared handle"
        );
    }
}
