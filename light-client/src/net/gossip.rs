//! Gossipsub as Herald speaks it: the two topics, content-addressed message ids, one
//! configuration, and the peer scoring that makes an invalid message cost its sender.
//!
//! Interoperability (DESIGN §2, STACK.md) needs signed messages with strict validation and
//! message ids = SHA-256 of the data, the content addressing other libp2p implementations use;
//! identical checkpoints from several publishers are then one message. The node judges every
//! message before gossipsub may forward it ([`GossipMode::Validating`]); a plain subscriber such
//! as the testnet's observer forwards nothing of its own judgement ([`GossipMode::Observing`]).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use herald_proto::wire::{ALERT_TOPIC, CHECKPOINT_TOPIC, pb};
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::identity::Keypair;
use prost::Message as _;
use sha2::{Digest as _, Sha256};

use super::SwarmBuildError;

/// Largest gossipsub RPC frame: a checkpoint (≤ 16 KiB) or an alert (≤ 40 KiB) with its
/// signature, key and framing, and room for control messages. Checked by gossipsub before
/// decoding.
pub const MAX_GOSSIP_TRANSMIT_BYTES: usize = 64 * 1024;

/// The checkpoint topic ([`CHECKPOINT_TOPIC`]): `SignedCheckpoint` messages.
pub fn checkpoint_topic() -> IdentTopic {
    IdentTopic::new(CHECKPOINT_TOPIC)
}

/// The alert topic ([`ALERT_TOPIC`]): `Equivocation` messages.
pub fn alert_topic() -> IdentTopic {
    IdentTopic::new(ALERT_TOPIC)
}

/// The message published on the checkpoint topic for `note` (a signed checkpoint, possibly
/// cosigned): one encoded `SignedCheckpoint`.
pub fn checkpoint_message(note: &[u8]) -> Vec<u8> {
    pb::SignedCheckpoint {
        note: note.to_vec(),
    }
    .encode_to_vec()
}

/// Content-addressed message ids, as other libp2p implementations compute them: SHA-256 of the
/// data. Identical checkpoints from several publishers are then one message.
pub fn message_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    gossipsub::MessageId::from(Sha256::digest(&message.data).to_vec())
}

/// Who runs gossipsub, and so what it does with a message before forwarding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipMode {
    /// A node: every message waits for the node's own accept / ignore / reject before gossipsub
    /// forwards it, and peer scoring charges a rejected message to its sender.
    Validating,
    /// A subscriber that judges nothing (the testnet's observer): messages are delivered as
    /// gossipsub checks them (signature, size), without scoring.
    Observing,
}

/// Gossipsub with `key`'s signature on what it publishes: signed messages only, strict
/// validation, content-addressed ids, [`MAX_GOSSIP_TRANSMIT_BYTES`]; in
/// [`GossipMode::Validating`] also the caller's accept/reject for every message and
/// [`peer_scoring`]. It subscribes to nothing yet.
pub fn gossipsub_behaviour(
    key: &Keypair,
    mode: GossipMode,
) -> Result<gossipsub::Behaviour, SwarmBuildError> {
    let mut config = gossipsub::ConfigBuilder::default();
    config
        .validation_mode(ValidationMode::Strict)
        .message_id_fn(message_id)
        .max_transmit_size(MAX_GOSSIP_TRANSMIT_BYTES);
    if mode == GossipMode::Validating {
        config.validate_messages();
    }
    let config = config
        .build()
        .map_err(|e| SwarmBuildError::new(format!("gossipsub config: {e}")))?;
    let mut behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)
        .map_err(|e| SwarmBuildError::new(format!("gossipsub: {e}")))?;
    if mode == GossipMode::Validating {
        let (params, thresholds) = peer_scoring();
        behaviour
            .with_peer_score(params, thresholds)
            .map_err(|e| SwarmBuildError::new(format!("gossipsub peer scoring: {e}")))?;
    }
    Ok(behaviour)
}

/// Score parameters for the two topics, each carrying a few messages a second at most.
///
/// gossipsub's defaults suit busy topics: they reward time in the mesh by the millisecond and
/// punish mesh peers that deliver fewer than 20 messages per window, which would drown the one
/// signal that matters here. So: small, capped rewards for time in mesh and first deliveries, no
/// delivery-rate penalty, and a heavy P4 penalty, so that one invalid checkpoint (-100) takes the
/// sender below the graylist threshold (-80) for a few seconds and repeated ones keep it there.
/// Loopback is exempt from the same-IP penalty so that a local testnet of many nodes works.
pub fn peer_scoring() -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let topic = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.1,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 10.0,
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.5,
        first_message_deliveries_cap: 10.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    };
    let mut params = gossipsub::PeerScoreParams {
        ip_colocation_factor_whitelist: HashSet::from([
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]),
        ..Default::default()
    };
    params
        .topics
        .insert(checkpoint_topic().hash(), topic.clone());
    params.topics.insert(alert_topic().hash(), topic);
    (params, gossipsub::PeerScoreThresholds::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_sha256_of_the_data() {
        let message = gossipsub::Message {
            source: None,
            data: b"abc".to_vec(),
            sequence_number: Some(7),
            topic: checkpoint_topic().hash(),
        };
        // SHA-256("abc"), FIPS 180-2 test vector.
        assert_eq!(
            hex::encode(message_id(&message).0),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn one_invalid_message_graylists_its_sender() {
        let (params, thresholds) = peer_scoring();
        assert!(params.validate().is_ok());
        assert!(thresholds.validate().is_ok());
        let topic = &params.topics[&checkpoint_topic().hash()];
        assert!(topic.validate().is_ok());
        // The most a well-behaved peer can earn in this topic...
        let best = topic.topic_weight
            * (topic.time_in_mesh_weight * topic.time_in_mesh_cap
                + topic.first_message_deliveries_weight * topic.first_message_deliveries_cap);
        // ...cannot offset one invalid message enough to stay above the graylist.
        let one_invalid = topic.topic_weight * topic.invalid_message_deliveries_weight;
        assert!(best + one_invalid < thresholds.graylist_threshold);
    }

    #[test]
    fn a_checkpoint_message_is_one_signed_checkpoint() {
        let data = checkpoint_message(b"a.test/herald\n1\nAAAA\n");
        let message: pb::SignedCheckpoint = herald_proto::wire::decode_valid(&data).unwrap();
        assert_eq!(message.note, b"a.test/herald\n1\nAAAA\n");
    }

    #[test]
    fn both_modes_build() {
        let key = Keypair::generate_ed25519();
        assert!(gossipsub_behaviour(&key, GossipMode::Validating).is_ok());
        assert!(gossipsub_behaviour(&key, GossipMode::Observing).is_ok());
    }
}
