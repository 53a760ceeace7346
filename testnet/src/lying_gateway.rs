//! [`LyingGateway`]: a gateway that lies in one chosen way, over real libp2p.
//!
//! It stands in front of a real gateway (a node, reached with the light client's
//! [`GatewayClient`]) and serves `/herald/client/1` itself, with the transport and codec every
//! Herald party uses (`herald_light_client::net`): a light client connects to it as to any
//! gateway. Every request is forwarded; while a [`Lie`] is set, the request it is about is
//! answered with the real gateway's honest answer to *another* question (another first index,
//! tree size, leaf or pair of sizes), or with an acknowledgement whose index is edited — so the
//! only untruth in what the client receives is the one under test, and every signature and proof
//! in it is the real log's. The lies are the light client's [`herald_light_client::lies`], the
//! same ones its in-memory fake gateway tells. The light-client attack tests (the reliability review's §3) run the
//! client against it.
//!
//! One worker task owns the swarm; each request is answered by a task of its own (the real
//! gateway's answer can take a sequencing round), which hands the answer back to the worker
//! over a bounded channel. Dropping the gateway stops the worker.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use herald_light_client::lies::Liar;
pub use herald_light_client::lies::Lie;
use herald_light_client::net::{self, CLIENT_PROTOCOL, ClientCodec};
use herald_light_client::{Gateway as _, GatewayClient};
use herald_proto::wire::pb;
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

/// A running lying gateway (see the module docs).
#[derive(Debug)]
pub struct LyingGateway {
    addr: Multiaddr,
    liar: Arc<Liar>,
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
        let liar = Arc::new(Liar::new());
        let worker = tokio::spawn(serve(swarm, Arc::new(upstream), liar.clone()));
        Ok(LyingGateway { addr, liar, worker })
    }

    /// Its address, with `/p2p/<peer id>`.
    pub fn addr(&self) -> &Multiaddr {
        &self.addr
    }

    /// From now on, tells `lie` (and only it).
    pub fn tell(&self, lie: Lie) {
        self.liar.be_honest();
        self.liar.tell(lie);
    }

    /// From now on, forwards every answer as it is.
    pub fn be_honest(&self) {
        self.liar.be_honest();
    }

    /// How many answers carried a lie so far.
    pub fn lies_told(&self) -> u64 {
        self.liar.lies_told()
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
async fn serve(mut swarm: Swarm<Behaviour>, upstream: Arc<GatewayClient>, liar: Arc<Liar>) {
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
                let (upstream, answers, liar) = (upstream.clone(), answers.clone(), liar.clone());
                tokio::spawn(async move {
                    let response = match request {
                        Ok(request) => answer(&upstream, request, &liar).await,
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

/// The answer to `request`: the real gateway's, with the lies `liar` tells now.
async fn answer(
    upstream: &GatewayClient,
    request: pb::ClientRequest,
    liar: &Liar,
) -> pb::ClientResponse {
    let honest = |asked| upstream.exchange(asked);
    liar.exchange(request, honest).await.unwrap_or_else(|e| {
        pb::ClientResponse::refusal(
            pb::ClientErrorKind::Internal,
            &format!("the gateway behind this one did not answer: {e}"),
        )
    })
}
