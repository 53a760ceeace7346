//! Alert anti-entropy. Gossip reaches only the peers connected when an alert is first
//! published, and gossipsub refuses to republish a message inside its duplicate window, so a
//! domain that was away (killed, cut off) while a log equivocated would never hear of it. So
//! whenever the network reports that a connection to a registered peer opened, the node asks
//! that peer for the alerts it holds (`AlertsRequest` over `/herald/client/1`, through the light
//! client's typed call) and judges each answer like an alert received by gossip
//! ([`GossipJudge::listed_alert`]): decoded, verified, about a log this node knows under the key
//! it knows it by, then handed to the watch, which records it. A peer that serves a proof that
//! does not verify gains nothing: the proof is dropped and logged.
//!
//! The network worker only reports the connection; the asking and the judging are here, on the
//! application floor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald_light_client::Gateway as _;
use libp2p::PeerId;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::gossip::GossipJudge;
use crate::network::NodeHandle;

/// Least time between two asks of one peer (a flapping connection asks once per interval).
const ASK_INTERVAL: Duration = Duration::from_secs(10);

/// Asks registered peers for their alerts when a connection to them opens. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AlertSync {
    node: NodeHandle,
    judge: GossipJudge,
    /// Last ask per peer (only registered peers are reported, so bounded by the registry).
    asked: Arc<Mutex<HashMap<PeerId, Instant>>>,
}

impl AlertSync {
    /// Alert sync over `node`'s network, judging what peers list with `judge`.
    pub fn new(node: NodeHandle, judge: GossipJudge) -> Self {
        AlertSync {
            node,
            judge,
            asked: Arc::default(),
        }
    }

    /// A connection to the registered `peer` opened: unless it was asked lately, ask it (on a
    /// task of its own) for the alerts it holds and judge each. An ask that fails (the
    /// connection closed, no answer in time) is asked again by the next connection after the
    /// ask interval, so a peer whose answers always fail is not asked at every reconnection.
    pub fn peer_connected(&self, peer: PeerId) {
        let now = Instant::now();
        {
            let mut asked = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(at) = asked.get(&peer)
                && now.duration_since(*at) < ASK_INTERVAL
            {
                return;
            }
            asked.insert(peer, now);
        }
        let (node, judge) = (self.node.clone(), self.judge.clone());
        tokio::spawn(async move {
            debug!(%peer, "asking a peer for the alerts it holds");
            // Connected already: no address needed.
            match node.gateway(peer, Vec::new()).alerts(None).await {
                Ok(alerts) => {
                    for alert in alerts {
                        judge.listed_alert(peer, alert);
                    }
                }
                Err(error) if error.is_peer_misbehaviour() => {
                    warn!(%peer, %error, "a peer answered the ask for alerts with garbage");
                }
                Err(error) => debug!(%peer, %error, "asking a peer for its alerts failed"),
            }
        });
    }
}
