//! The node's libp2p network, a transport: one worker task owns the `Swarm`; [`NodeHandle`]s
//! talk to it; what it serves is behind the [`Inbound`] trait, so the worker knows nothing of
//! the witness, the intake or certified mail, and is tested with a fake service.
//!
//! Shape (rust-libp2p `examples/file-sharing`, lumina's `Worker<S: Store>`): [`start`] builds the
//! swarm, binds the listen addresses and spawns the worker, whose `run()` is one `select!` over
//! shutdown, swarm events, commands from handles, finished requests and new checkpoints from the
//! sequencer. A [`NodeHandle`] sends commands over a bounded channel, each with a `oneshot` for
//! the reply. Codec, names, gossipsub settings and transport are `herald_light_client::net`'s.
//!
//! Protocols:
//! - `/herald/client/1`: light clients submit entries and ask for checkpoints, entries and
//!   proofs; [`Inbound::client`] answers. Requests are worked on outside the swarm task and
//!   answered through the worker; at most `max_inflight_requests` at once, more are answered
//!   `BUSY`. The node asks its peers too ([`NodeHandle::gateway`]: a [`PeerGateway`], the light
//!   client's typed calls over this swarm), on client streams it keeps to each peer when it can
//!   (`peer_stream`).
//! - `/herald/witness/1`: the witness protocol, both ways. Inbound requests go to
//!   [`Inbound::witness`]; outbound ones are sent for the cosigner through
//!   [`NodeHandle::witness_request`] (`witness`).
//! - gossipsub topics `herald/checkpoints/1`: every new checkpoint, and every cosigned one, is
//!   published; and `herald/alerts/1`: equivocation proofs. Received messages are judged by
//!   [`Inbound::gossip`] before they are forwarded (`relay.rs`).
//! - identify, and an allow/block list: blocked peers are disconnected and refused
//!   ([`NodeHandle::block`], the admin API's partition switch).
//!
//! The worker also keeps the registered peers connected: it dials their addresses and redials
//! with back-off when a connection drops (`dialer`), and reports each registered peer's first
//! connection ([`Inbound::peer_connected`]).

mod behaviour;
mod dialer;
mod inbound;
mod peer_request;
mod peer_stream;
mod pending;
mod relay;
mod stream;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trickle_tests;
mod witness;
mod worker;

pub use inbound::{GossipVerdict, Inbound};
pub use worker::{Network, NetworkParts, start};

use herald_light_client::{ClientError, Gateway};
use herald_proto::wire::{ALERT_TOPIC, CHECKPOINT_TOPIC, pb};
use libp2p::{Multiaddr, PeerId};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use peer_stream::{PeerStreams, Sent};

/// Capacity of the command channel between handles and the worker.
const COMMAND_CAPACITY: usize = 64;

/// Why the network could not start, or a command could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The swarm could not be built (transport or behaviour configuration).
    #[error("could not build the libp2p swarm: {0}")]
    Build(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// The transport's reason.
        reason: String,
    },
    /// A listener did not report its bound address in time.
    #[error("listener on {0} did not report an address in time")]
    ListenTimeout(Multiaddr),
    /// Dialing a peer failed at once (bad address, no transport for it).
    #[error("cannot dial {addr}: {reason}")]
    Dial {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
    /// A request to a peer got no whole answer within the request timeout (the whole
    /// exchange's: an answer trickled a byte at a time is cut off at it as a missing one).
    #[error("no answer from {peer} within {after:?}")]
    Timeout {
        /// The peer.
        peer: PeerId,
        /// The bound.
        after: Duration,
    },
    /// A request to a peer failed below the protocol: no connection, a reset stream, or an
    /// answer that is not a valid message.
    #[error("exchange with {peer} failed: {reason}")]
    Exchange {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// A gossip message could not be published (no subscribed peer, a duplicate, too large).
    #[error("cannot publish on {topic}: {reason}")]
    Publish {
        /// The topic.
        topic: &'static str,
        /// gossipsub's reason.
        reason: String,
    },
    /// The worker has stopped (shutdown or a fatal error); the handle is useless.
    #[error("the network worker has stopped")]
    Stopped,
}

/// A gossip topic the node publishes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// `herald/checkpoints/1`: `SignedCheckpoint` messages.
    Checkpoints,
    /// `herald/alerts/1`: `Equivocation` messages.
    Alerts,
}

impl Topic {
    /// The topic's name.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Checkpoints => CHECKPOINT_TOPIC,
            Topic::Alerts => ALERT_TOPIC,
        }
    }
}

/// A command for the worker, with the channel its answer goes back on.
#[derive(Debug)]
enum Command {
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    ConnectedPeers(oneshot::Sender<Vec<PeerId>>),
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    PeerScore {
        peer: PeerId,
        reply: oneshot::Sender<Option<f64>>,
    },
    WitnessRequest {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::AddCheckpointRequest,
        reply: oneshot::Sender<Result<pb::AddCheckpointResponse, NetworkError>>,
    },
    ClientRequest {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::ClientRequest,
        reply: oneshot::Sender<Result<pb::ClientResponse, ClientError>>,
    },
    /// Tells the swarm where `peer` is, for a client stream about to be opened to it.
    PeerAddresses {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<()>,
    },
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
    Block {
        peers: Vec<PeerId>,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    UnblockAll(oneshot::Sender<()>),
    Blocked(oneshot::Sender<Vec<PeerId>>),
}

/// The receiving end of a [`NodeHandle`]'s commands, handed to [`start`].
#[derive(Debug)]
pub struct Commands(mpsc::Receiver<Command>);

/// A handle and the command channel its worker will read: made before the network starts, so
/// that parts the worker serves (the witness) can hold a handle too.
pub fn command_channel(peer_id: PeerId) -> (NodeHandle, Commands) {
    let (handle, receiver) = NodeHandle::new(peer_id);
    (handle, Commands(receiver))
}

/// A cloneable handle on the running network worker.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    peer_id: PeerId,
    commands: mpsc::Sender<Command>,
    /// The client streams to peer gateways, set once the worker starts (`peer_stream`).
    streams: Arc<OnceLock<PeerStreams>>,
}

impl NodeHandle {
    fn new(peer_id: PeerId) -> (Self, mpsc::Receiver<Command>) {
        let (commands, receiver) = mpsc::channel(COMMAND_CAPACITY);
        let streams = Arc::new(OnceLock::new());
        (
            NodeHandle {
                peer_id,
                commands,
                streams,
            },
            receiver,
        )
    }

    /// Whether a client request to `peer` would go on an open client stream now.
    pub fn is_pipelined_to(&self, peer: PeerId) -> bool {
        self.streams.get().is_some_and(|s| s.is_open(peer))
    }

    /// The node's libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Whether the worker is still running.
    pub fn is_running(&self) -> bool {
        !self.commands.is_closed()
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NetworkError::Stopped)?;
        answer.await.map_err(|_| NetworkError::Stopped)
    }

    /// The addresses the node listens on, each ending in `/p2p/<peer id>`.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetworkError> {
        self.ask(Command::ListenAddrs).await
    }

    /// The peers with at least one open connection.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetworkError> {
        self.ask(Command::ConnectedPeers).await
    }

    /// Starts dialing `addr`; returns once the dial is under way (not when connected).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetworkError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// The gossipsub score of `peer` (negative after it sent invalid messages), if connected.
    pub async fn gossip_peer_score(&self, peer: PeerId) -> Result<Option<f64>, NetworkError> {
        self.ask(|reply| Command::PeerScore { peer, reply }).await
    }

    /// Sends `request` to the witness `peer` (dialing `addrs` if not connected) and waits for
    /// its answer, at most the configured request timeout.
    pub async fn witness_request(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::AddCheckpointRequest,
    ) -> Result<pb::AddCheckpointResponse, NetworkError> {
        self.ask(|reply| Command::WitnessRequest {
            peer,
            addrs,
            request,
            reply,
        })
        .await?
    }

    /// Sends `request` to the gateway `peer` (dialing `addrs` if not connected) and waits for
    /// its answer, at most the configured request timeout: on one of the client streams kept to
    /// the peer (`/herald/client-stream/1`), else over `/herald/client/1` (`peer_stream` says
    /// when). The answer is a valid `ClientResponse`; what it says is the caller's to check,
    /// best through [`NodeHandle::gateway`]'s typed calls. Failures are reported as the light
    /// client reports them (network, timeout, a malformed answer).
    ///
    /// The request timeout bounds the whole exchange, from this call to the answer's last byte:
    /// opening a stream, the answer on it, and the answer on `/herald/client/1` after a stream
    /// broke or could not be opened all count toward one deadline, so a peer that answers a
    /// byte at a time (or trickles the answer that opens a stream) holds the caller no longer
    /// than a silent one ([`ClientError::Timeout`]).
    pub async fn client_request(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        let Some(streams) = self.streams.get() else {
            // The worker has not started: it bounds the request on `/herald/client/1` itself.
            return self.client_request_once(peer, addrs, request).await;
        };
        let timeout = streams.timeout();
        let deadline = tokio::time::Instant::now() + timeout;
        let exchange = async {
            if !streams.is_open(peer) && !addrs.is_empty() {
                // The stream's dial knows only what the swarm knows of the peer.
                let addrs = addrs.clone();
                let _ = self
                    .ask(|reply| Command::PeerAddresses { peer, addrs, reply })
                    .await;
            }
            match streams.exchange(peer, request, deadline).await {
                Sent::Answered(answer) => answer,
                // Opening a stream took the whole bound: nothing more is sent.
                Sent::Elsewhere(_) if tokio::time::Instant::now() >= deadline => {
                    Err(ClientError::Timeout { after: timeout })
                }
                Sent::Elsewhere(request) => self.client_request_once(peer, addrs, request).await,
            }
        };
        tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| ClientError::Timeout { after: timeout })?
    }

    /// `request` on `/herald/client/1`, through the worker (which bounds it by the request
    /// timeout from when it sends it).
    async fn client_request_once(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        self.ask(|reply| Command::ClientRequest {
            peer,
            addrs,
            request,
            reply,
        })
        .await
        .map_err(|_| ClientError::Stopped)?
    }

    /// The gateway of `peer` (at `addrs` if not connected), reached over this node's swarm: a
    /// [`Gateway`] whose typed calls are the light client's, answers matched by proto.
    pub fn gateway(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> PeerGateway {
        PeerGateway {
            node: self.clone(),
            peer,
            addrs,
        }
    }

    /// Publishes `data` on `topic`.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), NetworkError> {
        self.ask(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Adds `peers` to the block list: their connections are closed and refused until
    /// [`unblock_all`](Self::unblock_all). Returns the whole list. Not durable: a restart
    /// clears it.
    pub async fn block(&self, peers: Vec<PeerId>) -> Result<Vec<PeerId>, NetworkError> {
        self.ask(|reply| Command::Block { peers, reply }).await
    }

    /// Empties the block list.
    pub async fn unblock_all(&self) -> Result<(), NetworkError> {
        self.ask(Command::UnblockAll).await
    }

    /// The blocked peers.
    pub async fn blocked(&self) -> Result<Vec<PeerId>, NetworkError> {
        self.ask(Command::Blocked).await
    }
}

/// A peer's gateway as this node reaches it: the node is a light client of the logs it watches,
/// so it reads its peers' logs and asks them for alerts through the light client's [`Gateway`]
/// (typed calls, answers matched by `herald_proto::wire::client`), carried by the node's own
/// swarm instead of a connection of its own.
#[derive(Clone, Debug)]
pub struct PeerGateway {
    node: NodeHandle,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
}

impl Gateway for PeerGateway {
    async fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        self.node
            .client_request(self.peer, self.addrs.clone(), request)
            .await
    }
}
