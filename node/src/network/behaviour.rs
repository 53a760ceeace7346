//! The node's libp2p behaviour and swarm: which protocols it speaks, with which limits.
//!
//! Only standard libp2p protocols (DESIGN §2): TCP with noise and yamux, QUIC, identify,
//! gossipsub v1.1, request-response and plain streams (`/herald/client-stream/1`), plus a local
//! allow/block list (no wire protocol).
//! No mDNS (it talks beyond loopback), no DHT yet. The codec, names, gossipsub configuration and
//! transport are the ones every Herald party uses (`herald_light_client::net`); what is the
//! node's own is the set of behaviours and the connection bounds.

use std::time::Duration;

use herald_light_client::net::{
    self, CLIENT_PROTOCOL, ClientCodec, GossipMode, IDENTIFY_PROTOCOL, SwarmBuildError,
    WITNESS_PROTOCOL, WitnessCodec, alert_topic, checkpoint_topic,
};
use libp2p::allow_block_list::{self, BlockedPeers};
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{Swarm, identify};

use super::NetworkError;
use super::pending::PendingPerIp;

/// Connections idle longer than this are closed.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything the node speaks.
///
/// The behaviours that refuse connections come first: the derive asks each field in order to
/// accept an established connection, and one that already accepted it (request-response
/// records it at once) is never told when a later one refuses it. Request-response then keeps
/// a phantom connection, trips its bookkeeping assertion when the peer's last real connection
/// closes (the network worker dies) and sends requests into it (rust-libp2p issue 4773).
#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    /// Peers refused and disconnected (the admin API's partition switch).
    pub blocked: allow_block_list::Behaviour<BlockedPeers>,
    /// Inbound connections in their handshake, per source address (ahead of `limits`, so that
    /// one source cannot take the global pending bound).
    pub pending: PendingPerIp,
    /// Bounds on connections: inbound established, pending inbound, and per peer.
    pub limits: connection_limits::Behaviour,
    /// Tells peers our listen addresses and protocols.
    pub identify: identify::Behaviour,
    /// Checkpoint gossip.
    pub gossipsub: gossipsub::Behaviour,
    /// `/herald/client/1`: served, and used to ask registered peers for their alerts.
    pub client: request_response::Behaviour<ClientCodec>,
    /// `/herald/witness/1`, served and used.
    pub witness: request_response::Behaviour<WitnessCodec>,
    /// `/herald/client-stream/1`, served (`super::stream`): streams handed out through its
    /// `Control`.
    pub stream: libp2p_stream::Behaviour,
}

/// Client-protocol requests one connection carries at once, both directions (libp2p's
/// default is 100, beyond which a stream is dropped unanswered). A peer gateway relays many
/// mails at once over its one connection (`service::mail`, up to 192 attempts in flight), each
/// waiting a sequencing round; the work they cause is bounded by `max_inflight_requests`, and
/// yamux allows 512 streams a connection.
const CLIENT_STREAMS_PER_CONNECTION: usize = 256;

/// How many connections the node accepts, from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ConnectionBounds {
    /// Established inbound connections at once.
    pub incoming: u32,
    /// Established connections with one peer at once, both directions.
    pub per_peer: u32,
    /// Inbound connections from one IP address in their handshake at once.
    pub pending_per_ip: u32,
    /// Time a TCP connection has to finish its handshake.
    pub handshake_timeout: Duration,
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

/// Builds the swarm: TCP (noise, yamux) and QUIC transports, identify, gossipsub subscribed to
/// the checkpoint and alert topics, the client protocol served and the witness protocol served
/// and used with `request_timeout` per exchange, an empty block list, and `bounds` on
/// connections.
pub(super) fn build_swarm(
    identity: Keypair,
    request_timeout: Duration,
    bounds: ConnectionBounds,
) -> Result<Swarm<Behaviour>, NetworkError> {
    let mut swarm = net::build_swarm_bounded(
        identity,
        IDLE_CONNECTION_TIMEOUT,
        bounds.handshake_timeout,
        |key| {
            let identify = identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                    .with_agent_version(format!("herald-node/{}", env!("CARGO_PKG_VERSION"))),
            );
            let gossipsub = net::gossipsub_behaviour(key, GossipMode::Validating)?;
            let client = request_response::Behaviour::with_codec(
                ClientCodec::new(),
                [(CLIENT_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(request_timeout)
                    .with_max_concurrent_streams(CLIENT_STREAMS_PER_CONNECTION),
            );
            let witness = request_response::Behaviour::with_codec(
                WitnessCodec::new(),
                [(WITNESS_PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default().with_request_timeout(request_timeout),
            );
            Ok(Behaviour {
                blocked: allow_block_list::Behaviour::default(),
                pending: PendingPerIp::new(bounds.pending_per_ip),
                limits: connection_limits::Behaviour::new(bounds.limits()),
                identify,
                gossipsub,
                client,
                witness,
                stream: libp2p_stream::Behaviour::new(),
            })
        },
    )
    .map_err(|e: SwarmBuildError| NetworkError::Build(e.reason))?;
    for topic in [checkpoint_topic(), alert_topic()] {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| NetworkError::Build(e.to_string()))?;
    }
    Ok(swarm)
}
