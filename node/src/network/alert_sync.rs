//! Alert anti-entropy. Gossip reaches only the peers connected when an alert is first
//! published, and gossipsub refuses to republish a message inside its duplicate window, so a
//! domain that was away (killed, cut off) while a log equivocated would never hear of it. So
//! whenever a connection to a registered peer opens, the node asks that peer for the alerts it
//! holds (`AlertsRequest` over `/herald/client/1`) and judges each answer like an alert received
//! by gossip: decoded, verified, about a log this node knows under the key it knows it by, then
//! handed to the witness, which records it. A peer that serves a proof that does not verify
//! gains nothing: the proof is dropped and logged.

use std::collections::HashMap;
use std::time::Duration;

use herald_proto::wire::pb::{self, ClientResponse, client_request, client_response};
use libp2p::PeerId;
use libp2p::request_response::{OutboundFailure, OutboundRequestId};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::gossip::{self, GossipEvent};
use super::worker::Worker;
use crate::metrics::response_label;
use herald_proto::wire::Decoded;

/// Least time between two asks of one peer (a flapping connection asks once per interval).
const ASK_INTERVAL: Duration = Duration::from_secs(10);

/// Whom the node asked for alerts, and when.
#[derive(Debug, Default)]
pub(super) struct AlertSync {
    /// Last ask per registered peer (bounded by the registry).
    asked: HashMap<PeerId, Instant>,
    /// Asks waiting for their answer.
    pending: HashMap<OutboundRequestId, PeerId>,
}

impl Worker {
    /// A connection to `peer` opened: if it is a registered peer not asked lately, ask it for
    /// the alerts it holds.
    pub(super) fn ask_for_alerts(&mut self, peer: PeerId) {
        if self.peers.borrow().by_peer_id(&peer).is_none() {
            return;
        }
        let now = Instant::now();
        if let Some(at) = self.alert_sync.asked.get(&peer)
            && now.duration_since(*at) < ASK_INTERVAL
        {
            return;
        }
        self.alert_sync.asked.insert(peer, now);
        let request = pb::ClientRequest {
            request: Some(client_request::Request::Alerts(pb::AlertsRequest {
                origin: String::new(),
            })),
        };
        let id = self
            .swarm
            .behaviour_mut()
            .client
            .send_request(&peer, Ok(request));
        self.alert_sync.pending.insert(id, peer);
        debug!(%peer, "asked a peer for the alerts it holds");
    }

    /// A peer's answer to [`Worker::ask_for_alerts`].
    pub(super) fn on_alert_list(
        &mut self,
        request_id: OutboundRequestId,
        response: Decoded<ClientResponse>,
    ) {
        let Some(peer) = self.alert_sync.pending.remove(&request_id) else {
            return;
        };
        let alerts = match response {
            Ok(ClientResponse {
                response: Some(client_response::Response::Alerts(list)),
            }) => list.alerts,
            Ok(other) => {
                let answer = response_label(&other);
                return debug!(%peer, answer, "no alert list from the peer");
            }
            Err(error) => return warn!(%peer, %error, "malformed alert list from a peer"),
        };
        let peers = self.peers.borrow().clone();
        for alert in alerts {
            match gossip::judge_listed_alert(alert, &peers, &self.own_log) {
                Ok(Some(proof)) => {
                    debug!(%peer, origin = proof.origin(), "alert received from a peer's list");
                    self.tell_watcher(GossipEvent::Alert(proof));
                }
                Ok(None) => debug!(%peer, "listed alert about a log this node does not know"),
                Err(error) => warn!(%peer, %error, "a peer listed an alert that does not verify"),
            }
        }
    }

    /// An ask that failed (the connection closed, no answer in time): the next connection after
    /// the ask interval asks again (a peer whose answers always fail is not asked at every
    /// reconnection).
    pub(super) fn on_alert_sync_failure(
        &mut self,
        request_id: OutboundRequestId,
        error: &OutboundFailure,
    ) {
        if let Some(peer) = self.alert_sync.pending.remove(&request_id) {
            debug!(%peer, %error, "asking a peer for its alerts failed");
        }
    }
}
