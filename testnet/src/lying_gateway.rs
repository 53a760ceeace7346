//! [`LyingGateway`]: a gateway that lies in one chosen way, over real libp2p.
//!
//! It stands in front of a real gateway (a node, reached with the light client's
//! [`GatewayClient`]) and serves `/herald/client/1` itself, with the transport and codec every
//! Herald party uses (`herald_light_client::net`): a light client connects to it as to any
//! gateway. Every request is forwarded; while a [`Lie`] is set, the request it is about is
//! answered with the real gateway's honest answer to *another* question (another first index,
//! tree size, leaf or pair of sizes), or with an acknowledgement whose index is edited — so the
//! only untruth in what the client receives is the one under test, and every signature and proof
//! in it is the real log's. The light-client attack tests (the reliability review's §3) run the
//! client against it.
//!
//! One worker task owns the swarm; each request is answered by a task of its own (the real
//! gateway's answer can take a sequencing round), which hands the answer back to the worker
//! over a bounded channel. Dropping the gateway stops the worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use herald_light_client::net::{self, CLIENT_PROTOCOL, ClientCodec};
use herald_light_client::{Gateway as _, GatewayClient};
use herald_proto::checkpoint::Checkpoint;
use herald_proto::note::SignedNote;
use herald_proto::wire::pb::{self, client_request, client_response, inclusion_request};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::TestnetError;

/// Connections idle longer than this are closed.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the real gateway may take to answer a forwarded request (one sequencing round).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Answers waiting for the worker to send them.
const ANSWERS_IN_FLIGHT: usize = 64;
/// How far past its checkpoint's size [`Lie::AckIndexPastTheSize`] puts an entry.
const PAST_THE_SIZE: u64 = 1_000;

/// One way to lie; each answers only the requests it names and forwards the others honestly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lie {
    /// `entries(start, count)` is answered with the page from `start + 1`.
    EntriesFromAnotherStart,
    /// A submission's ack names the index equal to its own checkpoint's size.
    AckIndexAtTheSize,
    /// A submission's ack names an index far past its own checkpoint's size.
    AckIndexPastTheSize,
    /// `inclusion(leaf, size)` is answered with the proof of that leaf in the tree of `size - 1`.
    InclusionForAnotherSize,
    /// `inclusion(leaf, size)` is answered with the proof of a neighbouring leaf (by index: the
    /// one before, or after leaf 0; by hash: leaf 0).
    InclusionForAnotherLeaf,
    /// `inclusion` is answered with the leaf's hash and no proof.
    InclusionWithoutProof,
    /// `consistency(size1, size2)` is answered with the proof from `size1 - 1` (or, from 1, to
    /// `size2 - 1`).
    ConsistencyForOtherSizes,
}

/// A running lying gateway (see the module docs).
#[derive(Debug)]
pub struct LyingGateway {
    addr: Multiaddr,
    lie: Arc<Mutex<Option<Lie>>>,
    told: Arc<AtomicU64>,
    worker: JoinHandle<()>,
}

impl LyingGateway {
    /// Starts a gateway on 127.0.0.1 (a port the OS picks) in front of `upstream`, honest until
    /// [`tell`](Self::tell) is called.
    pub async fn start(upstream: GatewayClient) -> Result<Self, TestnetError> {
        let failed = |e: String| TestnetError::Options(format!("lying gateway: {e}"));
        let mut swarm =
            net::build_swarm(Keypair::generate_ed25519(), IDLE_CONNECTION_TIMEOUT, |_| {
                Ok(request_response::Behaviour::with_codec(
                    ClientCodec::new(),
                    [(CLIENT_PROTOCOL, ProtocolSupport::Inbound)],
                    request_response::Config::default().with_request_timeout(UPSTREAM_TIMEOUT),
                ))
            })
            .map_err(|e| failed(e.to_string()))?;
        let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0"
            .parse()
            .map_err(|e| failed(format!("{e}")))?;
        swarm.listen_on(listen).map_err(|e| failed(e.to_string()))?;
        let bound = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                    return address;
                }
            }
        })
        .await
        .map_err(|_| failed("no listen address within 10 s".into()))?;
        let addr = bound.with(Protocol::P2p(*swarm.local_peer_id()));
        let lie = Arc::new(Mutex::new(None));
        let told = Arc::new(AtomicU64::new(0));
        let worker = tokio::spawn(serve(swarm, Arc::new(upstream), lie.clone(), told.clone()));
        Ok(LyingGateway {
            addr,
            lie,
            told,
            worker,
        })
    }

    /// Its address, with `/p2p/<peer id>`.
    pub fn addr(&self) -> &Multiaddr {
        &self.addr
    }

    /// From now on, tells `lie`.
    pub fn tell(&self, lie: Lie) {
        *self.lie.lock().unwrap_or_else(|e| e.into_inner()) = Some(lie);
    }

    /// From now on, forwards every answer as it is.
    pub fn be_honest(&self) {
        *self.lie.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// How many answers carried a lie so far.
    pub fn lies_told(&self) -> u64 {
        self.told.load(Ordering::Relaxed)
    }
}

impl Drop for LyingGateway {
    fn drop(&mut self) {
        self.worker.abort();
    }
}

type Behaviour = request_response::Behaviour<ClientCodec>;
type Answer = (
    ResponseChannel<herald_proto::wire::Decoded<pb::ClientResponse>>,
    pb::ClientResponse,
);

/// The worker: takes requests off the swarm, answers each in a task of its own, and sends the
/// answers as they come back.
async fn serve(
    mut swarm: Swarm<Behaviour>,
    upstream: Arc<GatewayClient>,
    lie: Arc<Mutex<Option<Lie>>>,
    told: Arc<AtomicU64>,
) {
    let (answers, mut ready) = mpsc::channel::<Answer>(ANSWERS_IN_FLIGHT);
    loop {
        tokio::select! {
            event = swarm.select_next_some() => {
                let SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Request { request, channel, .. },
                    ..
                }) = event
                else {
                    continue;
                };
                let lie = *lie.lock().unwrap_or_else(|e| e.into_inner());
                let (upstream, answers, told) = (upstream.clone(), answers.clone(), told.clone());
                tokio::spawn(async move {
                    let response = match request {
                        Ok(request) => answer(&upstream, request, lie, &told).await,
                        Err(e) => pb::ClientResponse::refusal(
                            pb::ClientErrorKind::Malformed,
                            &e.to_string(),
                        ),
                    };
                    let _ = answers.send((channel, response)).await;
                });
            }
            Some((channel, response)) = ready.recv() => {
                // The client may have gone; nothing to do then.
                let _ = swarm.behaviour_mut().send_response(channel, Ok(response));
            }
        }
    }
}

/// The answer to `request`: the real gateway's, or, when `lie` is about this request, the lie
/// (counted in `told` when the answer carries it).
async fn answer(
    upstream: &GatewayClient,
    request: pb::ClientRequest,
    lie: Option<Lie>,
    told: &AtomicU64,
) -> pb::ClientResponse {
    use client_request::Request as Q;
    let asked = request.request.clone();
    let forwarded = match (lie, &asked) {
        (Some(Lie::EntriesFromAnotherStart), Some(Q::Entries(e))) => {
            pb::ClientRequest::entries(e.start.saturating_add(1), e.count)
        }
        (Some(Lie::InclusionForAnotherSize), Some(Q::Inclusion(i))) if i.tree_size > 1 => {
            pb::ClientRequest::inclusion(leaf_of(i), i.tree_size - 1)
        }
        (Some(Lie::InclusionForAnotherLeaf), Some(Q::Inclusion(i))) => {
            let other = match leaf_of(i) {
                inclusion_request::Leaf::Index(0) => 1,
                inclusion_request::Leaf::Index(n) => n - 1,
                inclusion_request::Leaf::LeafHash(_) => 0,
            };
            pb::ClientRequest::inclusion(inclusion_request::Leaf::Index(other), i.tree_size)
        }
        (Some(Lie::ConsistencyForOtherSizes), Some(Q::Consistency(c))) if c.size1 > 1 => {
            pb::ClientRequest::consistency(c.size1 - 1, c.size2)
        }
        (Some(Lie::ConsistencyForOtherSizes), Some(Q::Consistency(c))) if c.size2 > 2 => {
            pb::ClientRequest::consistency(c.size1, c.size2 - 1)
        }
        _ => request.clone(),
    };
    let lied = forwarded != request;
    let mut response = match upstream.exchange(forwarded).await {
        Ok(response) => response,
        Err(e) => {
            return pb::ClientResponse::refusal(
                pb::ClientErrorKind::Internal,
                &format!("the gateway behind this one did not answer: {e}"),
            );
        }
    };
    use client_response::Response as A;
    let edited = match (lie, &mut response.response) {
        (Some(Lie::AckIndexAtTheSize), Some(A::Submitted(ack))) => set_ack_index(ack, 0),
        (Some(Lie::AckIndexPastTheSize), Some(A::Submitted(ack))) => {
            set_ack_index(ack, PAST_THE_SIZE)
        }
        (Some(Lie::InclusionWithoutProof), Some(A::Inclusion(answer))) => {
            answer.proof.take().is_some()
        }
        _ => false,
    };
    let carried = edited || (lied && !matches!(response.response, Some(A::Error(_)) | None));
    if carried {
        told.fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// The leaf an inclusion request asks about (validated requests name one).
fn leaf_of(request: &pb::InclusionRequest) -> inclusion_request::Leaf {
    request
        .leaf
        .clone()
        .unwrap_or(inclusion_request::Leaf::Index(0))
}

/// Sets `ack`'s index to its checkpoint's size plus `past`; whether it could (the checkpoint
/// parses).
fn set_ack_index(ack: &mut pb::SubmitAck, past: u64) -> bool {
    let size = ack
        .checkpoint
        .as_ref()
        .and_then(|c| SignedNote::parse(&c.note).ok())
        .and_then(|note| Checkpoint::parse_body(note.text()).ok())
        .map(|c| c.size);
    match size {
        Some(size) => {
            ack.index = size.saturating_add(past);
            true
        }
        None => false,
    }
}
