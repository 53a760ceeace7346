//! The worker's side of gossip: each received message is judged by the application
//! ([`Inbound::gossip`]) before gossipsub may forward it, and the node publishes its checkpoints,
//! cosigned checkpoints and alerts.

use herald_light_client::net;
use libp2p::gossipsub::{self, MessageAcceptance, PublishError};
use tracing::{debug, warn};

use super::inbound::{GossipVerdict, Inbound};
use super::worker::Worker;
use super::{NetworkError, Topic};

impl<S: Inbound> Worker<S> {
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
                let verdict = if message.topic == self.topic.hash() {
                    self.service
                        .gossip(propagation_source, Topic::Checkpoints, &message.data)
                } else if message.topic == self.alerts.hash() {
                    self.service
                        .gossip(propagation_source, Topic::Alerts, &message.data)
                } else {
                    GossipVerdict::Reject(format!("message on unexpected topic {}", message.topic))
                };
                let acceptance = match verdict {
                    GossipVerdict::Accept => MessageAcceptance::Accept,
                    GossipVerdict::Ignore => MessageAcceptance::Ignore,
                    GossipVerdict::Reject(reason) => {
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

    /// Publishes the alerts the application holds again, for a peer that just subscribed: it
    /// may have been away (killed, cut off) when they were first gossiped. Peers drop what they
    /// have seen; gossipsub refuses a republication within its duplicate window, which is fine.
    fn republish_alerts(&mut self) {
        for alert in self.service.alerts_to_republish() {
            match self
                .swarm
                .behaviour_mut()
                .gossipsub
                .publish(self.alerts.clone(), alert)
            {
                Ok(_) => {
                    self.metrics.gossip_published.inc();
                }
                Err(error) => debug!(%error, "alert not republished"),
            }
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
