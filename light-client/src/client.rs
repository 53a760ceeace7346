//! [`GatewayClient`]: a connection to one gateway over libp2p, speaking `/herald/client/1`.
//!
//! One worker task owns the client-side `Swarm` (TCP + noise + yamux, and QUIC; request-response
//! only, outbound only). A cloneable [`GatewayClient`] sends it commands over a bounded channel,
//! each with a `oneshot` for the answer (rust-libp2p's `file-sharing` example). The worker stops
//! when the last handle is dropped, closing the connection.
//!
//! Answers come back as raw wire types, validated for shape by the codec; turning them into
//! trusted facts is [`crate::TrustedLog`]'s job.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt as _;
use herald_proto::merkle::Hash;
use herald_proto::wire::{MAX_CLIENT_REQUEST_BYTES, Validate as _, pb};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, SwarmBuilder, noise, tcp, yamux};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, trace};

use crate::codec::{CLIENT_STREAM_PROTOCOL, ClientCodec, wire_error};
use crate::error::{ClientError, GatewayRefusal};
use crate::gateway::{Gateway, Leaf};

/// Commands waiting for the worker; callers wait (back-pressure) when it is full.
const COMMAND_CAPACITY: usize = 32;

/// Timeouts of a [`GatewayClient`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// How long [`GatewayClient::connect_with`] waits for the connection (dial, noise, yamux).
    pub connect_timeout: Duration,
    /// How long one request waits for its answer. A submission waits for the gateway's next
    /// sequencing round and flush, so this should be well above its `sequence_interval`.
    pub request_timeout: Duration,
    /// How long an unused connection stays open; the next request redials.
    pub idle_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
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

fn build_swarm(
    config: &ClientConfig,
) -> Result<Swarm<request_response::Behaviour<ClientCodec>>, ClientError> {
    let behaviour = request_response::Behaviour::with_codec(
        ClientCodec,
        [(CLIENT_STREAM_PROTOCOL, ProtocolSupport::Outbound)],
        request_response::Config::default().with_request_timeout(config.request_timeout),
    );
    let builder = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| ClientError::Transport {
            reason: format!("setting up noise: {e}"),
        })?
        .with_quic();
    let Ok(builder) = builder.with_behaviour(|_| behaviour);
    Ok(builder
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .build())
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
        })
    }

    /// The gateway's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer
    }

    /// Sends one request and waits for its answer (any kind, including the gateway's error).
    /// The request is checked against the protocol's bounds first; nothing out of bounds is sent.
    pub async fn request(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        request
            .validate()
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
        if request.encoded_len() > MAX_CLIENT_REQUEST_BYTES {
            return Err(ClientError::InvalidRequest(format!(
                "request of {} bytes is over the limit of {MAX_CLIENT_REQUEST_BYTES}",
                request.encoded_len()
            )));
        }
        let (reply, answer) = oneshot::channel();
        let exchange = async {
            self.commands
                .send(Command { request, reply })
                .await
                .map_err(|_| ClientError::Stopped)?;
            answer.await.map_err(|_| ClientError::Stopped)?
        };
        tokio::time::timeout(self.request_timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                after: self.request_timeout,
            })?
    }

    async fn call<T>(
        &self,
        kind: &'static str,
        request: pb::client_request::Request,
        pick: impl FnOnce(pb::client_response::Response) -> Result<T, pb::client_response::Response>,
    ) -> Result<T, ClientError> {
        let response = self
            .request(pb::ClientRequest {
                request: Some(request),
            })
            .await?;
        // The codec validated the response: its kind is set.
        let Some(response) = response.response else {
            return Err(ClientError::UnexpectedResponse {
                request: kind,
                response: "nothing",
            });
        };
        pick(response).map_err(|other| match other {
            pb::client_response::Response::Error(e) => {
                ClientError::Refused(GatewayRefusal::from_wire(e))
            }
            other => ClientError::UnexpectedResponse {
                request: kind,
                response: response_kind(&other),
            },
        })
    }

    /// The gateway's latest checkpoint (unverified).
    pub async fn checkpoint(&self) -> Result<pb::SignedCheckpoint, ClientError> {
        self.checkpoint_of_kind(false).await
    }

    /// The latest checkpoint a quorum of the gateway's witnesses cosigned, with its
    /// cosignature lines (unverified: check it with a `WitnessPolicy`). A gateway with none
    /// yet refuses with `NOT_FOUND`.
    pub async fn cosigned_checkpoint(&self) -> Result<pb::SignedCheckpoint, ClientError> {
        self.checkpoint_of_kind(true).await
    }

    async fn checkpoint_of_kind(
        &self,
        cosigned: bool,
    ) -> Result<pb::SignedCheckpoint, ClientError> {
        use pb::client_response::Response;
        self.call(
            "checkpoint",
            pb::client_request::Request::Checkpoint(pb::CheckpointRequest { cosigned }),
            |r| match r {
                Response::Checkpoint(c) => Ok(c),
                other => Err(other),
            },
        )
        .await
    }

    /// The split-view alerts (equivocation proofs) the gateway holds against `origin` (`None`:
    /// any origin), at most `wire::MAX_ALERTS_PER_ANSWER`, unverified.
    pub async fn alerts(&self, origin: Option<&str>) -> Result<Vec<pb::Equivocation>, ClientError> {
        use pb::client_response::Response;
        self.call(
            "alerts",
            pb::client_request::Request::Alerts(pb::AlertsRequest {
                origin: origin.unwrap_or_default().to_owned(),
            }),
            |r| match r {
                Response::Alerts(list) => Ok(list.alerts),
                other => Err(other),
            },
        )
        .await
    }

    /// Submits `entry`; answered once it is durable, with its index and the first checkpoint
    /// that includes it (unverified).
    pub async fn submit(&self, entry: &pb::LogEntry) -> Result<pb::SubmitAck, ClientError> {
        self.submit_encoded(entry.encode_to_vec()).await
    }

    /// Submits an already encoded `LogEntry`, which the log stores and hashes byte for byte.
    pub async fn submit_encoded(&self, entry: Vec<u8>) -> Result<pb::SubmitAck, ClientError> {
        use pb::client_response::Response;
        self.call(
            "submit",
            pb::client_request::Request::Submit(pb::SubmitEntry { entry }),
            |r| match r {
                Response::Submitted(a) => Ok(a),
                other => Err(other),
            },
        )
        .await
    }

    /// Entries `start .. start + count` (`count` 1 to `wire::MAX_ENTRY_PAGE_COUNT`); the gateway
    /// may return fewer.
    pub async fn entries(&self, start: u64, count: u32) -> Result<pb::EntryPage, ClientError> {
        use pb::client_response::Response;
        self.call(
            "entries",
            pb::client_request::Request::Entries(pb::EntriesRequest { start, count }),
            |r| match r {
                Response::Entries(p) => Ok(p),
                other => Err(other),
            },
        )
        .await
    }

    async fn inclusion(
        &self,
        leaf: Leaf,
        tree_size: u64,
    ) -> Result<pb::InclusionAnswer, ClientError> {
        use pb::client_response::Response;
        self.call(
            "inclusion",
            pb::client_request::Request::Inclusion(pb::InclusionRequest {
                leaf: Some(leaf.to_wire()),
                tree_size,
            }),
            |r| match r {
                Response::Inclusion(a) => Ok(a),
                other => Err(other),
            },
        )
        .await
    }

    /// Enrols an account with its operator-issued code (`RegisterAccount`, signed by its IK);
    /// answered, once the account's `IdentityBinding` is durable, with that leaf's ack
    /// (unverified). Refusals: `UNAUTHORIZED` (wrong or used code, unknown or disabled account),
    /// `INVALID_ENTRY` (a signature that does not verify).
    pub async fn register(
        &self,
        request: pb::RegisterAccount,
    ) -> Result<pb::SubmitAck, ClientError> {
        use pb::client_response::Response;
        self.call(
            "register",
            pb::client_request::Request::Register(request),
            |r| match r {
                Response::Submitted(a) => Ok(a),
                other => Err(other),
            },
        )
        .await
    }

    /// `account`'s current identity binding and revocations, each with an inclusion proof
    /// against the latest cosigned checkpoint (unverified).
    pub async fn binding(&self, account: &str) -> Result<pb::BindingAnswer, ClientError> {
        use pb::client_response::Response;
        self.call(
            "binding",
            pb::client_request::Request::Binding(pb::BindingRequest {
                account: account.to_owned(),
            }),
            |r| match r {
                Response::Binding(b) => Ok(b),
                other => Err(other),
            },
        )
        .await
    }

    /// The lowest-index key publication naming `req_hash`, with its inclusion proof against
    /// the latest cosigned checkpoint (unverified). Refusals: `PENDING` with a retry time while
    /// that checkpoint does not cover it, `NOT_FOUND` while none is logged.
    pub async fn publication(&self, req_hash: &[u8; 32]) -> Result<pb::IncludedLeaf, ClientError> {
        use pb::client_response::Response;
        self.call(
            "publication",
            pb::client_request::Request::Publication(pb::PublicationRequest {
                req_hash: req_hash.to_vec(),
            }),
            |r| match r {
                Response::Included(l) => Ok(l),
                other => Err(other),
            },
        )
        .await
    }

    /// The gateway's own log and its registered peers' logs, with the witness policy it
    /// applies (unverified: the gateway's word).
    pub async fn trust(&self) -> Result<pb::TrustList, ClientError> {
        use pb::client_response::Response;
        self.call(
            "trust",
            pb::client_request::Request::Trust(pb::TrustRequest {}),
            |r| match r {
                Response::Trust(t) => Ok(t),
                other => Err(other),
            },
        )
        .await
    }

    /// The audit path of leaf `index` in the tree of `tree_size` (0: the latest), unverified.
    pub async fn inclusion_by_index(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<pb::InclusionAnswer, ClientError> {
        self.inclusion(Leaf::Index(index), tree_size).await
    }

    /// The audit path of the leaf with `leaf_hash` in the tree of `tree_size` (0: the latest),
    /// unverified.
    pub async fn inclusion_by_leaf_hash(
        &self,
        leaf_hash: &Hash,
        tree_size: u64,
    ) -> Result<pb::InclusionAnswer, ClientError> {
        self.inclusion(Leaf::Hash(*leaf_hash), tree_size).await
    }

    /// A proof that the tree of `size2` extends the tree of `size1` (unverified).
    pub async fn consistency(
        &self,
        size1: u64,
        size2: u64,
    ) -> Result<pb::ConsistencyProof, ClientError> {
        use pb::client_response::Response;
        self.call(
            "consistency",
            pb::client_request::Request::Consistency(pb::ConsistencyRequest { size1, size2 }),
            |r| match r {
                Response::Consistency(c) => Ok(c),
                other => Err(other),
            },
        )
        .await
    }
}

impl Gateway for GatewayClient {
    async fn checkpoint(&self) -> Result<pb::SignedCheckpoint, ClientError> {
        GatewayClient::checkpoint(self).await
    }

    async fn submit(&self, entry: Vec<u8>) -> Result<pb::SubmitAck, ClientError> {
        self.submit_encoded(entry).await
    }

    async fn entries(&self, start: u64, count: u32) -> Result<pb::EntryPage, ClientError> {
        GatewayClient::entries(self, start, count).await
    }

    async fn inclusion(
        &self,
        leaf: Leaf,
        tree_size: u64,
    ) -> Result<pb::InclusionAnswer, ClientError> {
        GatewayClient::inclusion(self, leaf, tree_size).await
    }

    async fn consistency(
        &self,
        size1: u64,
        size2: u64,
    ) -> Result<pb::ConsistencyProof, ClientError> {
        GatewayClient::consistency(self, size1, size2).await
    }

    async fn cosigned_checkpoint(&self) -> Result<pb::SignedCheckpoint, ClientError> {
        GatewayClient::cosigned_checkpoint(self).await
    }

    async fn alerts(&self, origin: Option<&str>) -> Result<Vec<pb::Equivocation>, ClientError> {
        GatewayClient::alerts(self, origin).await
    }

    async fn register(&self, request: pb::RegisterAccount) -> Result<pb::SubmitAck, ClientError> {
        GatewayClient::register(self, request).await
    }

    async fn binding(&self, account: &str) -> Result<pb::BindingAnswer, ClientError> {
        GatewayClient::binding(self, account).await
    }

    async fn publication(&self, req_hash: &[u8; 32]) -> Result<pb::IncludedLeaf, ClientError> {
        GatewayClient::publication(self, req_hash).await
    }

    async fn trust(&self) -> Result<pb::TrustList, ClientError> {
        GatewayClient::trust(self).await
    }
}

/// A response kind's name, for errors.
fn response_kind(r: &pb::client_response::Response) -> &'static str {
    use pb::client_response::Response;
    match r {
        Response::Submitted(_) => "a submit ack",
        Response::Checkpoint(_) => "a checkpoint",
        Response::Entries(_) => "an entry page",
        Response::Inclusion(_) => "an inclusion proof",
        Response::Consistency(_) => "a consistency proof",
        Response::Alerts(_) => "an alert list",
        Response::Included(_) => "an included leaf",
        Response::Binding(_) => "a binding answer",
        Response::Trust(_) => "a trust list",
        Response::Error(_) => "an error",
    }
}

/// Waits until the swarm is connected to `peer`, or its dial failed.
async fn connected(
    swarm: &mut Swarm<request_response::Behaviour<ClientCodec>>,
    peer: PeerId,
) -> Result<(), ClientError> {
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
    swarm: Swarm<request_response::Behaviour<ClientCodec>>,
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
        let id = self.swarm.behaviour_mut().send_request_with_addresses(
            &self.peer,
            command.request,
            vec![self.address.clone()],
        );
        self.pending.insert(id, command.reply);
    }

    fn handle(
        &mut self,
        event: SwarmEvent<request_response::Event<pb::ClientRequest, pb::ClientResponse>>,
    ) {
        use request_response::{Event, Message};
        match event {
            SwarmEvent::Behaviour(Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) => self.answer(request_id, Ok(response)),
            SwarmEvent::Behaviour(Event::OutboundFailure {
                request_id, error, ..
            }) => self.answer(request_id, Err(failure(error, self.request_timeout))),
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

fn failure(error: OutboundFailure, request_timeout: Duration) -> ClientError {
    match error {
        OutboundFailure::DialFailure => ClientError::Transport {
            reason: "could not redial the gateway".into(),
        },
        OutboundFailure::Timeout => ClientError::Timeout {
            after: request_timeout,
        },
        OutboundFailure::ConnectionClosed => ClientError::Transport {
            reason: "the connection closed before the answer".into(),
        },
        OutboundFailure::UnsupportedProtocols => ClientError::UnsupportedProtocol,
        OutboundFailure::Io(e) => match wire_error(&e) {
            Some(w) => ClientError::MalformedResponse(w.clone()),
            None => ClientError::Transport {
                reason: e.to_string(),
            },
        },
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

    #[test]
    fn a_refused_response_frame_is_peer_misbehaviour() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            herald_proto::wire::WireError::UnknownEntryKind,
        );
        assert!(failure(OutboundFailure::Io(io), Duration::from_secs(1)).is_peer_misbehaviour());
        let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof");
        let e = failure(OutboundFailure::Io(io), Duration::from_secs(1));
        assert!(!e.is_peer_misbehaviour() && e.is_retryable());
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
        };
        let err = client.entries(0, 0).await.unwrap_err();
        assert!(matches!(err, ClientError::InvalidRequest(_)), "{err:?}");
        let big = vec![1u8; herald_proto::wire::MAX_LOG_ENTRY_BYTES + 1];
        let err = client.submit_encoded(big).await.unwrap_err();
        assert!(matches!(err, ClientError::InvalidRequest(_)), "{err:?}");
        assert!(receiver.try_recv().is_err(), "nothing reached the worker");
    }
}
