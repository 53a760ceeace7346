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

use herald_proto::wire::{Decoded, MAX_ALERTS_PER_ANSWER, pb};
use libp2p::PeerId;
use tracing::warn;

use super::ClientService;
use crate::gossip::GossipJudge;
use crate::network::{GossipVerdict, Inbound, Topic};
use crate::watch::SplitViewWatch;
use crate::watch::alert_sync::AlertSync;
use crate::witness::WitnessService;

/// The node's application as the network reaches it. Cheap to clone (handles inside).
#[derive(Clone, Debug)]
pub struct NodeService {
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
        NodeService {
            client,
            witness,
            watch,
            gossip,
            alert_sync,
        }
    }
}

impl Inbound for NodeService {
    async fn client(&self, peer: PeerId, request: pb::ClientRequest) -> pb::ClientResponse {
        self.client.handle(peer, request).await
    }

    async fn witness(
        &self,
        peer: PeerId,
        request: Decoded<pb::AddCheckpointRequest>,
    ) -> pb::AddCheckpointResponse {
        self.witness.add_checkpoint(peer, request).await
    }

    fn gossip(&self, from: PeerId, topic: Topic, data: &[u8]) -> GossipVerdict {
        self.gossip.judge(from, topic, data)
    }

    fn alerts_to_republish(&self) -> Vec<Vec<u8>> {
        let book = self.watch.alerts();
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
        self.alert_sync.peer_connected(peer);
    }
}
