//! The worker's side of gossip: each received message is judged ([`super::gossip`]) before
//! gossipsub may forward it, believed peer checkpoints and alerts go to the witness's watcher,
//! and the node publishes its checkpoints, cosigned checkpoints and alerts.

use herald_light_client::net;
use herald_proto::wire::MAX_ALERTS_PER_ANSWER;
use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, PublishError};
use tracing::{debug, info, warn};

use super::gossip::{self, GossipEvent, GossipRejection, SeenCheckpoint};
use super::worker::Worker;
use super::{NetworkError, Topic};

impl Worker {
    /// Publishes `data` on `topic`.
    pub(super) fn publish(&mut self, topic: Topic, data: Vec<u8>) -> Result<(), NetworkError> {
        let ident = match topic {
            Topic::Checkpoints => self.topic.clone(),
            Topic::Alerts => self.alerts.clone(),
        };
        match self.swarm.behaviour_mut().gossipsub.publish(ident, data) {
            Ok(_) => {
                self.metrics.gossip_published.inc();
                Ok(())
            }
            Err(e) => Err(NetworkError::Publish {
                topic: topic.name(),
                reason: e.to_string(),
            }),
        }
    }

    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                self.metrics.gossip_received.inc();
                let peers = self.peers.borrow().clone();
                let judged = if message.topic == self.topic.hash() {
                    gossip::judge_checkpoint(&message.data, &peers, &self.own_log)
                        .map(|seen| self.on_checkpoint_gossip(propagation_source, seen))
                } else if message.topic == self.alerts.hash() {
                    gossip::judge_alert(&message.data, &peers, &self.own_log)
                        .map(|alert| self.on_alert_gossip(propagation_source, alert))
                } else {
                    Err(GossipRejection::UnexpectedTopic(message.topic.to_string()))
                };
                let acceptance = match judged {
                    Ok(acceptance) => acceptance,
                    Err(reason) => {
                        self.metrics.gossip_rejected.inc();
                        warn!(peer = %propagation_source, %reason, "rejected gossip message");
                        MessageAcceptance::Reject
                    }
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                debug!(peer = %peer_id, %topic, "peer subscribed");
                if topic == self.alerts.hash() {
                    self.republish_alerts();
                }
            }
            other => debug!(event = ?other, "gossipsub"),
        }
    }

    /// A valid checkpoint message: forwarded; a peer's goes to the witness's watcher.
    fn on_checkpoint_gossip(&mut self, from: PeerId, seen: SeenCheckpoint) -> MessageAcceptance {
        match seen {
            SeenCheckpoint::Peer(peer, checkpoint) => {
                debug!(%from, origin = peer.origin(), size = checkpoint.size(), "checkpoint gossip");
                self.tell_watcher(GossipEvent::Checkpoint(peer, checkpoint));
            }
            SeenCheckpoint::Own(checkpoint) => {
                debug!(%from, size = checkpoint.size(), "own checkpoint gossip");
            }
            SeenCheckpoint::Unknown(checkpoint) => {
                debug!(%from, origin = %checkpoint.origin, "checkpoint of an unregistered log");
            }
        }
        MessageAcceptance::Accept
    }

    /// A verified alert: believed and forwarded if it concerns a known log, ignored otherwise.
    fn on_alert_gossip(
        &mut self,
        from: PeerId,
        alert: Option<herald_proto::equivocation::VerifiedEquivocation>,
    ) -> MessageAcceptance {
        match alert {
            Some(proof) => {
                info!(%from, origin = proof.origin(), "split-view alert received");
                self.tell_watcher(GossipEvent::Alert(proof));
                MessageAcceptance::Accept
            }
            None => {
                debug!(%from, "valid alert about a log this node does not know: ignored");
                MessageAcceptance::Ignore
            }
        }
    }

    /// Publishes the alerts this node holds again, for a peer that just subscribed: it may have
    /// been away (killed, cut off) when they were first gossiped. Peers drop what they have
    /// seen; gossipsub refuses a republication within its duplicate window, which is fine.
    fn republish_alerts(&mut self) {
        let book = self.witnessing.alerts();
        if book.is_empty() {
            return;
        }
        // At most one answer's worth, read from sled's cache (small, bounded).
        let alerts = match book.list(None, MAX_ALERTS_PER_ANSWER) {
            Ok(a) => a,
            Err(error) => return warn!(%error, "cannot read alerts to republish"),
        };
        for alert in alerts {
            match self
                .swarm
                .behaviour_mut()
                .gossipsub
                .publish(self.alerts.clone(), alert.encode())
            {
                Ok(_) => {
                    self.metrics.gossip_published.inc();
                }
                Err(error) => debug!(%error, "alert not republished"),
            }
        }
    }

    pub(super) fn tell_watcher(&self, event: GossipEvent) {
        if let Err(e) = self.gossip_events.try_send(event) {
            warn!(error = %e, "witness watcher is behind; gossip event dropped");
        }
    }

    /// Publishes the sequencer's newest checkpoint, once.
    pub(super) fn publish_head(&mut self) {
        let note = self.heads.borrow_and_update().checkpoint.clone();
        if note.is_empty() || note == self.last_published {
            return;
        }
        let data = net::checkpoint_message(&note);
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), data)
        {
            Ok(_) => {
                self.metrics.gossip_published.inc();
                debug!("published checkpoint");
            }
            Err(PublishError::NoPeersSubscribedToTopic) => {
                debug!("no peers subscribed to checkpoints yet");
            }
            Err(error) => warn!(%error, "could not publish checkpoint"),
        }
        self.last_published = note;
    }
}
