//! The task that owns the `Swarm`: one `select!` over shutdown, swarm events, commands, finished
//! client and witness requests, new checkpoints, registry changes and the redial timer.
//!
//! Nothing here blocks: client and witness requests are handed to the application ([`Inbound`])
//! on their own tasks (which read and write the store on blocking threads) and their answers come
//! back over channels, so a slow proof never stalls gossip or other peers.
//! The number of requests being worked on is bounded by semaphores; when one is exhausted, new
//! requests are answered `BUSY` (client) or `UNAVAILABLE` (witness) at once.
//!
//! Shutdown drains: listeners are closed, new requests are answered `INTERNAL` ("shutting
//! down"), requests already accepted (e.g. submissions waiting for the sequencer's last flush)
//! are answered, and the swarm is dropped once every answer has been written or the drain time
//! is up.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use herald_light_client::net::{self, alert_topic, checkpoint_topic};
use herald_proto::wire::Decoded;
use herald_proto::wire::pb::{self, ClientErrorKind, client_response};
use herald_proto::wire::{WireError, pb::ClientResponse};
use libp2p::core::transport::ListenerId;
use libp2p::gossipsub::IdentTopic;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, InboundRequestId, OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::behaviour::{self, Behaviour, BehaviourEvent};
use super::dialer::Redial;
use super::inbound::Inbound;
use super::peer_request::PendingClient;
use super::pending;
use super::stream;
use super::{Command, Commands, NetworkError, NodeHandle};
use crate::config::NodeConfig;
use crate::metrics::{NetworkMetrics, request_label};
use crate::peers::PeerSet;
use crate::store::LogHead;

/// How long `start` waits for each listener to report its bound address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// What a client is told to wait when every request slot is taken.
pub(super) const BUSY_RETRY_AFTER_MS: u64 = 200;
/// Witness requests worked on at once (one per registered peer and checkpoint is the norm).
pub(super) const MAX_WITNESS_INFLIGHT: usize = 64;
/// How often the redial schedule is looked at.
const REDIAL_TICK: Duration = Duration::from_millis(250);

type Responder = ResponseChannel<Decoded<ClientResponse>>;
pub(super) type WitnessResponder = ResponseChannel<Decoded<pb::AddCheckpointResponse>>;
pub(super) type WitnessReply = oneshot::Sender<Result<pb::AddCheckpointResponse, NetworkError>>;

/// What the network serves and whom it tells, handed to [`start`].
#[derive(Debug)]
pub struct NetworkParts<S> {
    /// The node's libp2p identity.
    pub identity: libp2p::identity::Keypair,
    /// The handle made with `commands` ([`super::command_channel`]).
    pub handle: NodeHandle,
    /// The command channel the worker reads.
    pub commands: Commands,
    /// Answers `/herald/client/1` and `/herald/witness/1`, judges gossip, hears of peers.
    pub service: S,
    /// The sequencer's view of the latest durable log head; each new checkpoint in it is
    /// published on the checkpoint topic.
    pub heads: watch::Receiver<LogHead>,
    /// The registry: whom to keep connected, whose connection to report.
    pub peers: watch::Receiver<Arc<PeerSet>>,
    /// The network metrics.
    pub metrics: NetworkMetrics,
}

/// The running network: its handle, bound addresses, and the means to stop it.
#[derive(Debug)]
pub struct Network {
    /// A handle for commands.
    pub handle: NodeHandle,
    /// The addresses bound at start, each ending in `/p2p/<peer id>`.
    pub listen_addrs: Vec<Multiaddr>,
    shutdown: Option<oneshot::Sender<()>>,
    /// `None` once the worker has been seen to end.
    task: Option<JoinHandle<()>>,
}

impl Network {
    /// Starts draining: no new requests, answer those in flight, then close the swarm.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Resolves when the worker has ended (after a shutdown, or on its own). Cancel-safe.
    pub async fn stopped(&mut self) {
        if let Some(task) = self.task.as_mut() {
            if let Err(e) = task.await {
                warn!(error = %e, "network worker ended abnormally");
            }
            self.task = None;
        }
    }

    /// Shuts down and waits until the worker has stopped.
    pub async fn join(mut self) {
        self.begin_shutdown();
        self.stopped().await;
    }
}

/// Builds the swarm from the identity in `parts`, binds every `config.listen` address (waiting
/// for the OS-chosen ports), logs them with `/p2p/<peer id>`, and spawns the worker.
pub async fn start<S: Inbound>(
    config: &NodeConfig,
    parts: NetworkParts<S>,
) -> Result<Network, NetworkError> {
    let NetworkParts {
        identity,
        handle,
        commands: Commands(commands),
        service,
        heads,
        peers,
        metrics,
    } = parts;
    let peer_id = identity.public().to_peer_id();
    let bounds = behaviour::ConnectionBounds {
        incoming: config.max_incoming_connections,
        per_peer: config.max_connections_per_peer,
        pending_per_ip: config.max_pending_per_ip,
        handshake_timeout: Duration::from_millis(config.handshake_timeout_ms),
    };
    let mut swarm = behaviour::build_swarm(identity, config.request_timeout(), bounds)?;
    let mut waiting: HashMap<ListenerId, Multiaddr> = HashMap::new();
    for addr in &config.listen {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        waiting.insert(id, addr.clone());
    }
    let listeners: Vec<ListenerId> = waiting.keys().copied().collect();
    let mut bound = Vec::new();
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    while !waiting.is_empty() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| {
                let addr = waiting
                    .values()
                    .next()
                    .cloned()
                    .unwrap_or_else(Multiaddr::empty);
                NetworkError::ListenTimeout(addr)
            })?;
        match event {
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                waiting.remove(&listener_id);
                bound.push(with_peer_id(address, peer_id));
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } if waiting.contains_key(&listener_id) => {
                return Err(NetworkError::Listen {
                    addr: waiting
                        .remove(&listener_id)
                        .unwrap_or_else(Multiaddr::empty),
                    reason: format!("{reason:?}"),
                });
            }
            SwarmEvent::ListenerError { listener_id, error }
                if waiting.contains_key(&listener_id) =>
            {
                return Err(NetworkError::Listen {
                    addr: waiting
                        .remove(&listener_id)
                        .unwrap_or_else(Multiaddr::empty),
                    reason: error.to_string(),
                });
            }
            other => debug!(event = ?other, "swarm event while binding"),
        }
    }
    for addr in &bound {
        info!(%addr, "listening");
    }
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let max_inflight = config.max_inflight_requests;
    let inflight = Arc::new(Semaphore::new(max_inflight));
    let draining = Arc::new(AtomicBool::new(false));
    let mut control = swarm.behaviour().stream.new_control();
    // Requests to peer gateways go on client streams opened through the same behaviour.
    let _ = handle.streams.set(super::peer_stream::PeerStreams::new(
        control.clone(),
        config.request_timeout(),
    ));
    let streams = stream::serve(
        &mut control,
        stream::StreamServer {
            service: service.clone(),
            inflight: inflight.clone(),
            draining: draining.clone(),
            metrics: metrics.clone(),
        },
    )?;
    let (responses_tx, responses_rx) = mpsc::channel(max_inflight);
    let (witness_tx, witness_rx) = mpsc::channel(MAX_WITNESS_INFLIGHT);
    let last_published = heads.borrow().checkpoint.clone();
    let mut redial = Redial::default();
    redial.sync(&peers.borrow(), Instant::now());
    let worker = Worker {
        swarm,
        peer_id,
        listeners,
        listen_addrs: bound.clone(),
        commands,
        shutdown: shutdown_rx,
        heads,
        last_published,
        service,
        responses_tx,
        responses_rx,
        inflight,
        max_inflight,
        draining,
        streams,
        unsent: HashSet::new(),
        metrics,
        topic: checkpoint_topic(),
        alerts: alert_topic(),
        request_timeout: config.request_timeout(),
        witness_tx,
        witness_rx,
        witness_inflight: Arc::new(Semaphore::new(MAX_WITNESS_INFLIGHT)),
        witness_unsent: HashSet::new(),
        pending_witness: HashMap::new(),
        peers,
        redial,
        pending_client: HashMap::new(),
        refusals: pending::RefusalLog::default(),
    };
    let task = tokio::spawn(worker.run());
    Ok(Network {
        handle,
        listen_addrs: bound,
        shutdown: Some(shutdown_tx),
        task: Some(task),
    })
}

/// `addr` ending in `/p2p/<peer>`.
fn with_peer_id(addr: Multiaddr, peer: PeerId) -> Multiaddr {
    match addr.iter().last() {
        Some(Protocol::P2p(_)) => addr,
        _ => addr.with(Protocol::P2p(peer)),
    }
}

pub(super) struct Worker<S> {
    pub(super) swarm: Swarm<Behaviour>,
    peer_id: PeerId,
    listeners: Vec<ListenerId>,
    listen_addrs: Vec<Multiaddr>,
    commands: mpsc::Receiver<Command>,
    shutdown: oneshot::Receiver<()>,
    /// Owned by the sequencer; holds only flushed heads.
    pub(super) heads: watch::Receiver<LogHead>,
    pub(super) last_published: Vec<u8>,
    /// What the network serves (the application, or a fake in tests).
    pub(super) service: S,
    responses_tx: mpsc::Sender<(InboundRequestId, Responder, ClientResponse)>,
    responses_rx: mpsc::Receiver<(InboundRequestId, Responder, ClientResponse)>,
    /// One permit per request being worked on (on `/herald/client/1` or a client stream).
    inflight: Arc<Semaphore>,
    max_inflight: usize,
    /// Set when draining starts, for the client streams' tasks.
    draining: Arc<AtomicBool>,
    /// The task accepting client streams; it ends when the swarm is dropped.
    streams: JoinHandle<()>,
    /// Responses handed to the swarm but not yet written.
    unsent: HashSet<InboundRequestId>,
    pub(super) metrics: NetworkMetrics,
    pub(super) topic: IdentTopic,
    pub(super) alerts: IdentTopic,
    /// How long one request-response exchange may take; also how long shutdown waits for the
    /// answers in flight.
    pub(super) request_timeout: Duration,
    pub(super) witness_tx: mpsc::Sender<(
        InboundRequestId,
        WitnessResponder,
        pb::AddCheckpointResponse,
    )>,
    witness_rx: mpsc::Receiver<(
        InboundRequestId,
        WitnessResponder,
        pb::AddCheckpointResponse,
    )>,
    /// One permit per witness request being worked on.
    pub(super) witness_inflight: Arc<Semaphore>,
    /// Witness answers handed to the swarm but not yet written.
    pub(super) witness_unsent: HashSet<InboundRequestId>,
    /// Witness requests this node sent, and who waits for each answer.
    pub(super) pending_witness: HashMap<OutboundRequestId, WitnessReply>,
    /// The registry (owned by [`crate::peers::PeerRegistry`]).
    pub(super) peers: watch::Receiver<Arc<PeerSet>>,
    redial: Redial,
    /// Inbound connections refused at a connection bound, for the bounded-rate log.
    refusals: pending::RefusalLog,
    /// Client requests this node sent to peers, and who waits for each answer.
    pending_client: HashMap<OutboundRequestId, PendingClient>,
}

impl<S: Inbound> Worker<S> {
    async fn run(mut self) {
        let mut drain_deadline: Option<Instant> = None;
        let mut heads_open = true;
        let mut peers_open = true;
        let mut redial_tick = tokio::time::interval(REDIAL_TICK);
        redial_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if drain_deadline.is_some() && self.drained() {
                break;
            }
            let deadline = drain_deadline.unwrap_or_else(Instant::now);
            tokio::select! {
                _ = &mut self.shutdown, if drain_deadline.is_none() => {
                    info!("network draining");
                    self.draining.store(true, Ordering::Relaxed);
                    for id in self.listeners.drain(..) {
                        self.swarm.remove_listener(id);
                    }
                    drain_deadline = Some(Instant::now() + self.request_timeout);
                }
                _ = tokio::time::sleep_until(deadline), if drain_deadline.is_some() => {
                    warn!(
                        unanswered = self.max_inflight - self.inflight.available_permits(),
                        unsent = self.unsent.len(),
                        "network drain timed out"
                    );
                    break;
                }
                event = self.swarm.select_next_some() => self.on_swarm_event(event, drain_deadline.is_some()),
                Some(command) = self.commands.recv() => self.on_command(command),
                Some((id, channel, response)) = self.responses_rx.recv() => self.respond(id, channel, response),
                Some((id, channel, response)) = self.witness_rx.recv() => {
                    self.respond_witness(id, channel, response);
                }
                changed = self.heads.changed(), if heads_open => match changed {
                    Ok(()) => self.publish_head(),
                    Err(_) => {
                        debug!("sequencer stopped publishing heads");
                        heads_open = false;
                    }
                },
                changed = self.peers.changed(), if peers_open => match changed {
                    Ok(()) => {
                        let peers = self.peers.borrow_and_update().clone();
                        self.redial.sync(&peers, Instant::now());
                    }
                    Err(_) => peers_open = false,
                },
                _ = redial_tick.tick(), if drain_deadline.is_none() => self.redial_due(),
            }
        }
        self.streams.abort();
        info!("network stopped");
    }

    fn drained(&self) -> bool {
        self.inflight.available_permits() == self.max_inflight
            && self.unsent.is_empty()
            && self.witness_inflight.available_permits() == MAX_WITNESS_INFLIGHT
            && self.witness_unsent.is_empty()
    }

    /// Dials the registered peers that are due (see [`Redial`]).
    fn redial_due(&mut self) {
        let blocked = self.swarm.behaviour().blocked.blocked_peers().clone();
        for (peer, addrs) in self.redial.due(Instant::now(), |p| blocked.contains(p)) {
            let opts = DialOpts::peer_id(peer)
                .addresses(addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(error) = self.swarm.dial(opts) {
                debug!(%peer, %error, "dial not started");
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.listen_addrs.clone());
            }
            Command::ConnectedPeers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::Dial { addr, reply } => {
                let result = self
                    .swarm
                    .dial(addr.clone())
                    .map_err(|e| NetworkError::Dial {
                        addr,
                        reason: e.to_string(),
                    });
                let _ = reply.send(result);
            }
            Command::PeerScore { peer, reply } => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::WitnessRequest {
                peer,
                addrs,
                request,
                reply,
            } => self.send_witness_request(peer, addrs, request, reply),
            Command::ClientRequest {
                peer,
                addrs,
                request,
                reply,
            } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .client
                    .send_request_with_addresses(&peer, Ok(request.clone()), addrs.clone());
                let pending =
                    PendingClient::first(reply, peer, addrs, request, self.request_timeout);
                self.pending_client.insert(id, pending);
            }
            Command::PeerAddresses { peer, addrs, reply } => {
                for addr in addrs {
                    self.swarm.add_peer_address(peer, addr);
                }
                let _ = reply.send(());
            }
            Command::Publish { topic, data, reply } => {
                let _ = reply.send(self.publish(topic, data));
            }
            Command::Block { peers, reply } => {
                let blocked = &mut self.swarm.behaviour_mut().blocked;
                for peer in peers {
                    if blocked.block_peer(peer) {
                        info!(%peer, "peer blocked");
                    }
                }
                let _ = reply.send(blocked.blocked_peers().iter().copied().collect());
            }
            Command::UnblockAll(reply) => {
                let blocked = &mut self.swarm.behaviour_mut().blocked;
                let all: Vec<PeerId> = blocked.blocked_peers().iter().copied().collect();
                for peer in all {
                    blocked.unblock_peer(peer);
                    info!(%peer, "peer unblocked");
                }
                // Reconnect soon rather than after the back-off grown while blocked.
                let peers = self.peers.borrow().clone();
                self.redial = Redial::default();
                self.redial.sync(&peers, Instant::now());
                let _ = reply.send(());
            }
            Command::Blocked(reply) => {
                let blocked = self.swarm.behaviour().blocked.blocked_peers();
                let _ = reply.send(blocked.iter().copied().collect());
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>, draining: bool) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Client(event)) => {
                self.on_client_event(event, draining)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Witness(event)) => {
                self.on_witness_event(event, draining)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => {
                debug!(?event, "identify");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Blocked(never)) => match never {},
            SwarmEvent::Behaviour(BehaviourEvent::Limits(never)) => match never {},
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                debug!(peer = %peer_id, "connection established");
                self.redial.connected(&peer_id);
                self.count_peers();
                // The application hears of a registered peer's first connection (it asks it
                // for the alerts it holds: gossip only reaches who was connected).
                if num_established.get() == 1
                    && !draining
                    && self.peers.borrow().by_peer_id(&peer_id).is_some()
                {
                    self.service.peer_connected(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                cause,
                num_established,
                ..
            } => {
                debug!(peer = %peer_id, ?cause, "connection closed");
                if num_established == 0 {
                    self.redial.disconnected(&peer_id, Instant::now());
                }
                self.count_peers();
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                debug!(%peer, %error, "dial failed");
                if !self.swarm.is_connected(&peer) {
                    self.redial.failed(&peer, Instant::now());
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                let address = with_peer_id(address, self.peer_id);
                if !self.listen_addrs.contains(&address) {
                    info!(addr = %address, "listening");
                    self.listen_addrs.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let address = with_peer_id(address, self.peer_id);
                self.listen_addrs.retain(|a| *a != address);
            }
            SwarmEvent::ListenerError { error, .. } => warn!(%error, "listener error"),
            SwarmEvent::IncomingConnectionError { error, .. } => match refused_at(&error) {
                // Counted here; logged by the behaviour, at a bounded rate.
                Some(Refused::PerIp) => {
                    self.metrics.connections_refused.inc();
                }
                Some(Refused::Bound) => {
                    self.metrics.connections_refused.inc();
                    if let Some(refused) = self.refusals.note(std::time::Instant::now()) {
                        warn!(
                            %error,
                            refused,
                            "inbound connections refused at a connection bound (one line per \
                             {:?} at most)",
                            pending::LOG_EVERY
                        );
                    }
                }
                None => debug!(%error, "incoming connection failed"),
            },
            other => debug!(event = ?other, "swarm event"),
        }
    }

    fn count_peers(&mut self) {
        let peers = self.swarm.connected_peers().count();
        self.metrics
            .peers_connected
            .set(i64::try_from(peers).unwrap_or(i64::MAX));
    }

    fn on_client_event(
        &mut self,
        event: request_response::Event<Decoded<pb::ClientRequest>, Decoded<ClientResponse>>,
        draining: bool,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => self.on_client_request(peer, request_id, request, channel, draining),
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => match self.pending_client.remove(&request_id) {
                Some(PendingClient { reply, .. }) => {
                    if let Err(error) = &response {
                        debug!(%peer, %error, "malformed answer to a client request");
                    }
                    let _ = reply.send(net::client_answer(response));
                }
                None => debug!(%peer, "answer to a client request nobody waits for"),
            },
            request_response::Event::ResponseSent { request_id, .. } => {
                self.unsent.remove(&request_id);
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.unsent.remove(&request_id);
                self.metrics.stream_failure();
                debug!(%peer, %error, "client exchange failed");
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => match self.pending_client.remove(&request_id) {
                Some(pending) => match pending.after(error, self.request_timeout) {
                    Ok((again, reply)) => {
                        // The connection broke (`peer_request`): again, on another one.
                        debug!(%peer, "connection lost before a peer's answer; sending again");
                        let id = self
                            .swarm
                            .behaviour_mut()
                            .client
                            .send_request_with_addresses(
                                &again.peer,
                                Ok(again.request.clone()),
                                again.addrs.clone(),
                            );
                        self.pending_client
                            .insert(id, PendingClient::again(reply, again));
                    }
                    Err((reply, failure)) => {
                        debug!(%peer, %failure, "client request to a peer failed");
                        let _ = reply.send(Err(failure));
                    }
                },
                None => debug!(%peer, %error, "client request nobody waits for failed"),
            },
        }
    }

    fn on_client_request(
        &mut self,
        peer: PeerId,
        request_id: InboundRequestId,
        request: Decoded<pb::ClientRequest>,
        channel: Responder,
        draining: bool,
    ) {
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                self.metrics.request("invalid");
                debug!(%peer, %error, "undecodable client request");
                return self.respond(request_id, channel, wire_error_response(&error));
            }
        };
        // Validation guarantees a kind; the fallback only keeps this total.
        let Some(kind) = request.request.as_ref().map(request_label) else {
            return self.respond(
                request_id,
                channel,
                ClientResponse::refusal(ClientErrorKind::Malformed, "request has no kind"),
            );
        };
        self.metrics.request(kind);
        if draining {
            return self.respond(
                request_id,
                channel,
                ClientResponse::refusal(ClientErrorKind::Internal, "the gateway is shutting down"),
            );
        }
        let Ok(permit) = self.inflight.clone().try_acquire_owned() else {
            let mut busy =
                ClientResponse::refusal(ClientErrorKind::Busy, "too many requests in flight");
            if let Some(client_response::Response::Error(e)) = &mut busy.response {
                e.retry_after_ms = BUSY_RETRY_AFTER_MS;
            }
            return self.respond(request_id, channel, busy);
        };
        let service = self.service.clone();
        let responses = self.responses_tx.clone();
        tokio::spawn(async move {
            let response = service.client(peer, request).await;
            // The worker owns the receiver for as long as it runs; if it has stopped, the
            // exchange is abandoned with it.
            let _ = responses.send((request_id, channel, response)).await;
            drop(permit);
        });
    }

    /// Hands `response` to the swarm; it is pending until reported sent or failed.
    fn respond(
        &mut self,
        request_id: InboundRequestId,
        channel: Responder,
        response: ClientResponse,
    ) {
        if let Some(client_response::Response::Error(e)) = &response.response {
            let kind = ClientErrorKind::try_from(e.kind).unwrap_or(ClientErrorKind::Internal);
            self.metrics.request_error(kind);
        }
        match self
            .swarm
            .behaviour_mut()
            .client
            .send_response(channel, Ok(response))
        {
            Ok(()) => {
                self.unsent.insert(request_id);
            }
            Err(_) => {
                self.metrics.stream_failure();
                debug!("client went away before its answer");
            }
        }
    }
}

/// The answer to a request whose bytes were not an acceptable `ClientRequest`.
pub(super) fn wire_error_response(error: &WireError) -> ClientResponse {
    let kind = match error {
        WireError::TooLarge { .. } => ClientErrorKind::TooLarge,
        WireError::FieldSize { len, max, .. } if len > max => ClientErrorKind::TooLarge,
        _ => ClientErrorKind::Malformed,
    };
    ClientResponse::refusal(kind, &error.to_string())
}

/// Which bound refused an inbound connection.
enum Refused {
    /// Its source had too many connections in their handshake (`pending`).
    PerIp,
    /// A connection limit (`connection_limits`).
    Bound,
}

/// Whether an inbound connection failed because a bound refused it, and which.
fn refused_at(error: &libp2p::swarm::ListenError) -> Option<Refused> {
    let libp2p::swarm::ListenError::Denied { cause } = error else {
        return None;
    };
    if cause
        .downcast_ref::<pending::PendingPerIpExceeded>()
        .is_some()
    {
        Some(Refused::PerIp)
    } else if cause
        .downcast_ref::<libp2p::connection_limits::Exceeded>()
        .is_some()
    {
        Some(Refused::Bound)
    } else {
        None
    }
}
