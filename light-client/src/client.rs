//! [`GatewayClient`]: a connection to one gateway over libp2p, speaking `/herald/client/1`.
//!
//! One worker task owns the client-side `Swarm` (TCP + noise + yamux, and QUIC; request-response
//! only, outbound only). A cloneable [`GatewayClient`] sends it commands over a bounded channel,
//! each with a `oneshot` for the answer (rust-libp2p's `file-sharing` example). The worker stops
//! when the last handle is dropped, closing the connection.
//!
//! It is a [`Gateway`]: its one method sends a request and returns the answer, validated for
//! shape by the codec; the typed calls are the trait's. Turning answers into trusted facts is
//! [`crate::TrustedLog`]'s job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use herald_proto::wire::{MAX_CLIENT_REQUEST_BYTES, MAX_STREAM_REQUEST_BYTES, Validate as _, pb};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, trace};

use crate::error::ClientError;
use crate::gateway::Gateway;
use crate::net::stream::StreamPath;
use crate::net::{self, CLIENT_PROTOCOL, ClientCodec};

/// Commands waiting for the worker; callers wait (back-pressure) when it is full.
const COMMAND_CAPACITY: usize = 32;

/// What a `StreamRequest` frame adds to its request: the id (at most 11 bytes) and the
/// request's tag and length (at most 6).
const STREAM_FRAME_OVERHEAD: usize = 17;

/// Timeouts of a [`GatewayClient`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// How long [`GatewayClient::connect_with`] waits for the connection (dial, noise, yamux).
    pub connect_timeout: Duration,
    /// How long one request waits for its answer: the whole exchange, from the call to the
    /// answer's last byte (opening a client stream included), so a gateway that answers a byte
    /// at a time is cut off at it as a silent one. A submission waits for the gateway's next
    /// sequencing round and flush, so this should be well above its `sequence_interval`.
    pub request_timeout: Duration,
    /// How long an unused connection stays open; the next request redials.
    pub idle_timeout: Duration,
    /// Whether requests are pipelined on one `/herald/client-stream/1` stream (falling back to
    /// `/herald/client/1` for a gateway that does not serve it) rather than sent one substream
    /// each on `/herald/client/1`.
    pub pipelined: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            pipelined: true,
        }
    }
}

type Reply = oneshot::Sender<Result<pb::ClientResponse, ClientError>>;

/// One request for the worker, and where its answer goes.
struct Command {
    request: pb::ClientRequest,
    reply: Reply,
}

/// A handle on a connection to one gateway. Cheap to clone; calls may run concurrently.
#[derive(Clone, Debug)]
pub struct GatewayClient {
    commands: mpsc::Sender<Command>,
    peer: PeerId,
    request_timeout: Duration,
    /// The client stream, when pipelining (`None`: every request on `/herald/client/1`).
    stream: Option<Arc<StreamPath>>,
}

/// The gateway's peer id: the address's final `/p2p/<peer id>`.
fn peer_of(address: &Multiaddr) -> Result<PeerId, ClientError> {
    match address.iter().last() {
        Some(Protocol::P2p(peer)) => Ok(peer),
        _ => Err(ClientError::InvalidAddress {
            address: address.to_string(),
            reason: "it does not end in /p2p/<peer id>",
        }),
    }
}

/// What the client's swarm speaks: `/herald/client/1` (one substream per request) and
/// `/herald/client-stream/1` (one long-lived stream, opened through a [`libp2p_stream::Control`]).
#[derive(NetworkBehaviour)]
struct Behaviour {
    client: request_response::Behaviour<ClientCodec>,
    stream: libp2p_stream::Behaviour,
}

fn build_swarm(config: &ClientConfig) -> Result<Swarm<Behaviour>, ClientError> {
    let client = request_response::Behaviour::with_codec(
        ClientCodec::new(),
        [(CLIENT_PROTOCOL, ProtocolSupport::Outbound)],
        request_response::Config::default().with_request_timeout(config.request_timeout),
    );
    net::build_swarm(Keypair::generate_ed25519(), config.idle_timeout, |_| {
        Ok(Behaviour {
            client,
            stream: libp2p_stream::Behaviour::new(),
        })
    })
    .map_err(|e| ClientError::Transport { reason: e.reason })
}

impl GatewayClient {
    /// Connects to the gateway at `address` (which must end in `/p2p/<peer id>`; TCP or
    /// `/quic-v1`), waiting at most `timeout`, with the other timeouts at their defaults.
    /// Must be called inside a tokio runtime.
    pub async fn connect(address: &Multiaddr, timeout: Duration) -> Result<Self, ClientError> {
        let config = ClientConfig {
            connect_timeout: timeout,
            ..ClientConfig::default()
        };
        Self::connect_with(address, &config).await
    }

    /// Connects to the gateway at `address` with `config`. Must be called inside a tokio
    /// runtime: the worker is spawned on it.
    pub async fn connect_with(
        address: &Multiaddr,
        config: &ClientConfig,
    ) -> Result<Self, ClientError> {
        let peer = peer_of(address)?;
        let mut swarm = build_swarm(config)?;
        swarm.add_peer_address(peer, address.clone());
        swarm
            .dial(address.clone())
            .map_err(|e| ClientError::Transport {
                reason: e.to_string(),
            })?;
        tokio::time::timeout(config.connect_timeout, connected(&mut swarm, peer))
            .await
            .map_err(|_| ClientError::Timeout {
                after: config.connect_timeout,
            })??;
        debug!(%peer, %address, "connected to gateway");
        let (commands, receiver) = mpsc::channel(COMMAND_CAPACITY);
        let stream = config
            .pipelined
            .then(|| Arc::new(StreamPath::new(swarm.behaviour().stream.new_control())));
        let worker = Worker {
            swarm,
            commands: receiver,
            peer,
            address: address.clone(),
            request_timeout: config.request_timeout,
            pending: HashMap::new(),
        };
        tokio::spawn(worker.run());
        Ok(GatewayClient {
            commands,
            peer,
            request_timeout: config.request_timeout,
            stream,
        })
    }

    /// The gateway's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer
    }

    /// Whether requests go on an open `/herald/client-stream/1` stream now (false before the
    /// first request, when pipelining is off, or when the gateway does not serve it).
    pub async fn is_pipelined(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|path| path.open_now().is_some())
    }

    /// Sends one request and waits for its answer (any kind, including the gateway's error).
    /// The request is checked against the protocol's bounds first; nothing out of bounds is sent.
    /// On a client stream a request may be as large as a whole batch
    /// (`wire::MAX_STREAM_REQUEST_BYTES`); on `/herald/client/1` at most
    /// `wire::MAX_CLIENT_REQUEST_BYTES`.
    pub async fn request(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        request
            .validate()
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        let len = request.encoded_len();
        let over = |limit: usize| {
            ClientError::InvalidRequest(format!(
                "request of {len} bytes is over the limit of {limit}"
            ))
        };
        if len + STREAM_FRAME_OVERHEAD > MAX_STREAM_REQUEST_BYTES {
            return Err(over(MAX_STREAM_REQUEST_BYTES - STREAM_FRAME_OVERHEAD));
        }
        // One deadline for the whole exchange: opening a stream, the answer on it, or the
        // answer on `/herald/client/1` after no stream opened. A gateway that answers a byte at a
        // time is cut off at it as one that never answers.
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        let timed_out = || ClientError::Timeout {
            after: self.request_timeout,
        };
        if let Some(path) = &self.stream
            && let Some(pipeline) = path.pipeline_until(self.peer, deadline).await
        {
            // The stream's task keeps the deadline: no timer per request.
            let answered = pipeline
                .exchange_until(request, deadline, self.request_timeout)
                .await;
            if answered.is_err() {
                // A broken stream is replaced; so is one after a timeout, since an answer that
                // never came holds a slot of the stream's in-flight bound.
                path.discard(&pipeline);
            }
            return answered;
        }
        if len > MAX_CLIENT_REQUEST_BYTES {
            return Err(over(MAX_CLIENT_REQUEST_BYTES));
        }
        if tokio::time::Instant::now() >= deadline {
            // The stream's opening took the whole bound: nothing is sent.
            return Err(timed_out());
        }
        let (reply, answer) = oneshot::channel();
        let exchange = async {
            self.commands
                .send(Command { request, reply })
                .await
                .map_err(|_| ClientError::Stopped)?;
            answer.await.map_err(|_| ClientError::Stopped)?
        };
        tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| timed_out())?
    }
}

/// The libp2p connection is a gateway: every typed call of [`Gateway`] goes through
/// [`GatewayClient::request`], so the request's bounds are checked before anything is sent.
impl Gateway for GatewayClient {
    async fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        self.request(request).await
    }

    /// A whole batch when requests go on a client stream (opened now if it is not yet, within
    /// the request timeout and at most 2 s), else what `/herald/client/1` carries.
    async fn max_request_bytes(&self) -> usize {
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        match &self.stream {
            Some(path) if path.pipeline_until(self.peer, deadline).await.is_some() => {
                MAX_STREAM_REQUEST_BYTES - STREAM_FRAME_OVERHEAD
            }
            _ => MAX_CLIENT_REQUEST_BYTES,
        }
    }
}

/// Waits until the swarm is connected to `peer`, or its dial failed.
async fn connected(swarm: &mut Swarm<Behaviour>, peer: PeerId) -> Result<(), ClientError> {
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == peer => return Ok(()),
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(p),
                error,
                ..
            } if p == peer => {
                return Err(ClientError::Transport {
                    reason: error.to_string(),
                });
            }
            event => trace!(?event, "swarm event while connecting"),
        }
    }
}

/// The task that owns the swarm. Owned state: the requests in flight and their reply channels.
struct Worker {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    peer: PeerId,
    address: Multiaddr,
    request_timeout: Duration,
    /// Requests sent and not yet answered; each ends with a response or an outbound failure
    /// (request-response times every request out), so this stays bounded.
    pending: HashMap<OutboundRequestId, Reply>,
}

impl Worker {
    async fn run(mut self) {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => self.send(command),
                    // Every handle is gone: drop the swarm, which closes the connection.
                    None => break,
                },
                event = self.swarm.select_next_some() => self.handle(event),
            }
        }
        debug!(peer = %self.peer, "gateway client stopped");
    }

    fn send(&mut self, command: Command) {
        // The address is passed each time so a connection closed while idle is redialled.
        let id = self
            .swarm
            .behaviour_mut()
            .client
            .send_request_with_addresses(
                &self.peer,
                Ok(command.request),
                vec![self.address.clone()],
            );
        self.pending.insert(id, command.reply);
    }

    fn handle(&mut self, event: SwarmEvent<BehaviourEvent>) {
        use request_response::{Event, Message};
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Client(Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) => self.answer(request_id, net::client_answer(response)),
            SwarmEvent::Behaviour(BehaviourEvent::Client(Event::OutboundFailure {
                request_id,
                error,
                ..
            })) => self.answer(
                request_id,
                Err(net::client_failure(error, self.request_timeout)),
            ),
            event => trace!(?event, "swarm event"),
        }
    }

    fn answer(&mut self, id: OutboundRequestId, result: Result<pb::ClientResponse, ClientError>) {
        if let Some(reply) = self.pending.remove(&id) {
            // The caller may have timed out and gone: nothing to do then.
            let _ = reply.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_without_a_peer_id_is_refused() {
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        assert!(matches!(
            peer_of(&addr),
            Err(ClientError::InvalidAddress { .. })
        ));
        let peer = PeerId::random();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/udp/4001/quic-v1/p2p/{peer}")
            .parse()
            .unwrap();
        assert_eq!(peer_of(&addr).unwrap(), peer);
    }

    #[tokio::test]
    async fn connecting_to_nobody_fails_within_the_timeout() {
        // A port nobody listens on: the dial fails (or times out) quickly, never hangs.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", PeerId::random())
            .parse()
            .unwrap();
        let started = std::time::Instant::now();
        let err = GatewayClient::connect(&addr, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Transport { .. } | ClientError::Timeout { .. }
            ),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(6));
    }

    #[tokio::test]
    async fn requests_out_of_bounds_are_not_sent() {
        let (commands, mut receiver) = mpsc::channel(1);
        let client = GatewayClient {
            commands,
            peer: PeerId::random(),
            request_timeout: Duration::from_secs(1),
            stream: None,
        };
        let err = client.entries(0, 0).await.unwrap_err();
        assert!(matches!(err, ClientError::InvalidRequest(_)), "{err:?}");
        let big = vec![1u8; herald_proto::wire::MAX_LOG_ENTRY_BYTES + 1];
        let err = client.submit(big).await.unwrap_err();
        assert!(matches!(err, ClientError::InvalidRequest(_)), "{err:?}");
        assert!(receiver.try_recv().is_err(), "nothing reached the worker");
    }
}
