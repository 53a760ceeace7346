//! The node's libp2p behaviour and swarm: which protocols it speaks, with which limits.
//!
//! Only standard libp2p protocols (DESIGN §2): TCP with noise and yamux, QUIC, identify,
//! gossipsub v1.1 and request-response, plus a local allow/block list (no wire protocol).
//! No mDNS (it talks beyond loopback), no DHT yet.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use herald_proto::wire::{self, pb};
use libp2p::allow_block_list::{self, BlockedPeers};
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{StreamProtocol, Swarm, identify, noise, tcp, yamux};
use sha2::{Digest as _, Sha256};

use super::NetworkError;
use super::codec::ProstCodec;

/// The client protocol ([`wire::CLIENT_PROTOCOL`]): `ClientRequest` → `ClientResponse`.
pub const CLIENT_PROTOCOL: StreamProtocol = StreamProtocol::new(wire::CLIENT_PROTOCOL);

/// The witness protocol ([`wire::WITNESS_PROTOCOL`]): `AddCheckpointRequest` →
/// `AddCheckpointResponse`.
pub const WITNESS_PROTOCOL: StreamProtocol = StreamProtocol::new(wire::WITNESS_PROTOCOL);

/// The gossipsub topics of new checkpoints (`SignedCheckpoint` messages) and of split-view
/// alerts (`Equivocation` messages), as proto names them.
pub use herald_proto::wire::{ALERT_TOPIC, CHECKPOINT_TOPIC};

/// The identify protocol version Herald nodes announce.
pub const IDENTIFY_PROTOCOL: &str = "/herald/1.0.0";

/// Largest gossipsub RPC frame: a checkpoint (≤ 16 KiB) or an alert (≤ 40 KiB) with its
/// signature, key and framing, and room for control messages. Checked by gossipsub before
/// decoding.
pub const MAX_GOSSIP_TRANSMIT_BYTES: usize = 64 * 1024;

/// Connections idle longer than this are closed.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// The codec of `/herald/client/1`, as the node uses it (requests in, responses out).
pub type ClientCodec = ProstCodec<pb::ClientRequest, pb::ClientResponse>;

/// The codec of `/herald/witness/1`, both ways (a node is a log and a witness).
pub type WitnessCodec = ProstCodec<pb::AddCheckpointRequest, pb::AddCheckpointResponse>;

/// Everything the node speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Tells peers our listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Checkpoint gossip.
    pub gossipsub: gossipsub::Behaviour,
    /// `/herald/client/1`: served, and used to ask registered peers for their alerts.
    pub client: request_response::Behaviour<ClientCodec>,
    /// `/herald/witness/1`, served and used.
    pub witness: request_response::Behaviour<WitnessCodec>,
    /// Peers refused and disconnected (the admin API's partition switch).
    pub blocked: allow_block_list::Behaviour<BlockedPeers>,
    /// Bounds on connections: inbound established, pending inbound, and per peer.
    pub limits: connection_limits::Behaviour,
}

/// How many connections the node accepts, from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionBounds {
    /// Established inbound connections at once.
    pub incoming: u32,
    /// Established connections with one peer at once, both directions.
    pub per_peer: u32,
}

impl ConnectionBounds {
    /// Inbound connections still in their handshake at once: an eighth of the established
    /// bound, at least 16, so that a flood of half-open handshakes costs little.
    fn pending_incoming(self) -> u32 {
        (self.incoming / 8).max(16)
    }

    fn limits(self) -> ConnectionLimits {
        ConnectionLimits::default()
            .with_max_established_incoming(Some(self.incoming))
            .with_max_pending_incoming(Some(self.pending_incoming()))
            .with_max_established_per_peer(Some(self.per_peer))
    }
}

/// The checkpoint topic.
pub fn checkpoint_topic() -> IdentTopic {
    IdentTopic::new(CHECKPOINT_TOPIC)
}

/// The alert topic.
pub fn alert_topic() -> IdentTopic {
    IdentTopic::new(ALERT_TOPIC)
}

/// Content-addressed message ids, as other libp2p implementations compute them: SHA-256 of the
/// data. Identical checkpoints from several publishers are then one message.
pub fn message_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    gossipsub::MessageId::from(Sha256::digest(&message.data).to_vec())
}

/// Gossipsub: signed messages only, strict validation, our own accept/reject for every message,
/// and peer scoring that makes an invalid message cost its sender.
pub fn gossipsub_behaviour(key: &Keypair) -> Result<gossipsub::Behaviour, NetworkError> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(MAX_GOSSIP_TRANSMIT_BYTES)
        .build()
        .map_err(|e| NetworkError::Build(format!("gossipsub config: {e}")))?;
    let mut behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), config)
        .map_err(|e| NetworkError::Build(format!("gossipsub: {e}")))?;
    let (params, thresholds) = peer_scoring();
    behaviour
        .with_peer_score(params, thresholds)
        .map_err(|e| NetworkError::Build(format!("gossipsub peer scoring: {e}")))?;
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

/// Builds the swarm: TCP (noise, yamux) and QUIC transports, identify, gossipsub subscribed to
/// the checkpoint and alert topics, the client protocol served and the witness protocol served
/// and used with `request_timeout` per exchange, an empty block list, and `bounds` on
/// connections.
pub fn build_swarm(
    identity: Keypair,
    request_timeout: Duration,
    bounds: ConnectionBounds,
) -> Result<Swarm<Behaviour>, NetworkError> {
    let build = |e: &dyn std::fmt::Display| NetworkError::Build(e.to_string());
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| build(&e))?
        .with_quic()
        .with_behaviour(|key| {
            let identify = identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                    .with_agent_version(format!("herald-node/{}", env!("CARGO_PKG_VERSION"))),
            );
            let gossipsub = gossipsub_behaviour(key)?;
            let client = request_response::Behaviour::with_codec(
                ClientCodec::new(),
                [(CLIENT_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(request_timeout),
            );
            let witness = request_response::Behaviour::with_codec(
                WitnessCodec::new(),
                [(WITNESS_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(request_timeout),
            );
            Ok(Behaviour {
                identify,
                gossipsub,
                client,
                witness,
                blocked: allow_block_list::Behaviour::default(),
                limits: connection_limits::Behaviour::new(bounds.limits()),
            })
        })
        .map_err(|e| build(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    for topic in [checkpoint_topic(), alert_topic()] {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| build(&e))?;
    }
    Ok(swarm)
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
}
