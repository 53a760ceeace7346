//! What the network tests share: a real node started in-process on 127.0.0.1 (ports from the
//! OS, a temporary data directory) and a raw libp2p client swarm that can send any bytes.
#![allow(dead_code)]

use std::io;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures::prelude::*;
use herald_light_client::net::{self, CLIENT_PROTOCOL, GossipMode, read_frame};
use herald_node::testkit::TestGateway;
use herald_proto::entry::Notarization;
use herald_proto::wire::{self, pb};
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};
use prost::Message as _;

/// Every wait in these tests is bounded by this.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// A node on loopback with its temporary data directory: the workspace's one in-process
/// starter, [`TestGateway`].
pub(crate) type TestNode = TestGateway;
/// A request-response codec that writes requests verbatim (so tests can send any bytes) and
/// reads one framed response with the one codec's reader (bounded like a real client), handing
/// up its bytes.
#[derive(Clone, Default)]
pub(crate) struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Vec<u8>> {
        Err(io::Error::other("the test client serves nothing"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        match read_frame::<pb::ClientResponse, _>(io).await? {
            Ok(response) => Ok(response.encode_to_vec()),
            Err(refused) => Err(io::Error::new(io::ErrorKind::InvalidData, refused)),
        }
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&request).await?;
        io.flush().await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()> {
        Err(io::Error::other("the test client serves nothing"))
    }
}

#[derive(NetworkBehaviour)]
pub(crate) struct ClientBehaviour {
    pub client: request_response::Behaviour<RawCodec>,
    pub gossipsub: gossipsub::Behaviour,
}

/// How an exchange ended: the node's response bytes, or the stream failed.
#[derive(Debug)]
pub(crate) enum Outcome {
    Response(Vec<u8>),
    Failed(String),
}

/// A raw libp2p client: TCP or QUIC, the client protocol (outbound), gossipsub.
pub(crate) struct TestClient {
    pub swarm: Swarm<ClientBehaviour>,
    pub node: PeerId,
    /// Gossip messages received so far: (topic, data).
    pub gossip: Vec<(String, Vec<u8>)>,
    /// Peers that have subscribed to a topic, as seen by this client.
    pub subscribed: Vec<PeerId>,
}

impl TestClient {
    /// Dials `addr` (ending in `/p2p/<peer>`) and waits for the connection.
    pub(crate) async fn connect(addr: Multiaddr) -> Self {
        let node = match addr.iter().last() {
            Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
            _ => panic!("{addr} has no /p2p/ part"),
        };
        let mut swarm = net::build_swarm(
            Keypair::generate_ed25519(),
            Duration::from_secs(60),
            |key| {
                Ok(ClientBehaviour {
                    client: request_response::Behaviour::with_codec(
                        RawCodec,
                        [(CLIENT_PROTOCOL, ProtocolSupport::Outbound)],
                        request_response::Config::default()
                            .with_request_timeout(Duration::from_secs(10)),
                    ),
                    gossipsub: net::gossipsub_behaviour(key, GossipMode::Observing)?,
                })
            },
        )
        .expect("swarm");
        swarm.dial(addr).expect("dial");
        let mut client = TestClient {
            swarm,
            node,
            gossip: Vec::new(),
            subscribed: Vec::new(),
        };
        client
            .drive_until(|c, e| match e {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if *peer_id == c.node => Some(()),
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    panic!("cannot connect: {error}")
                }
                _ => None,
            })
            .await;
        client
    }

    /// Drives the swarm until `f` returns `Some` for an event, recording gossip on the way.
    pub(crate) async fn drive_until<T>(
        &mut self,
        mut f: impl FnMut(&Self, &SwarmEvent<ClientBehaviourEvent>) -> Option<T>,
    ) -> T {
        tokio::time::timeout(WAIT, async {
            loop {
                let event = self.swarm.select_next_some().await;
                match &event {
                    SwarmEvent::Behaviour(ClientBehaviourEvent::Gossipsub(
                        gossipsub::Event::Message { message, .. },
                    )) => self
                        .gossip
                        .push((message.topic.to_string(), message.data.clone())),
                    SwarmEvent::Behaviour(ClientBehaviourEvent::Gossipsub(
                        gossipsub::Event::Subscribed { peer_id, .. },
                    )) => self.subscribed.push(*peer_id),
                    _ => {}
                }
                if let Some(out) = f(self, &event) {
                    return out;
                }
            }
        })
        .await
        .expect("the awaited event in time")
    }

    /// Drives the swarm until `done` holds (checked first, then after every event).
    pub(crate) async fn wait_until(&mut self, done: impl Fn(&Self) -> bool) {
        if done(self) {
            return;
        }
        self.drive_until(|c, _| done(c).then_some(())).await;
    }

    /// Drives the swarm for `duration`, recording gossip and subscriptions.
    pub(crate) async fn drive_for(&mut self, duration: Duration) {
        let _ = tokio::time::timeout(duration, self.drive_until(|_, _| None::<()>)).await;
    }

    /// Sends `bytes` as a request, verbatim, and waits for the outcome.
    pub(crate) async fn raw(&mut self, bytes: Vec<u8>) -> Outcome {
        let node = self.node;
        let id: OutboundRequestId = self.swarm.behaviour_mut().client.send_request(&node, bytes);
        self.drive_until(|_, e| match e {
            SwarmEvent::Behaviour(ClientBehaviourEvent::Client(
                request_response::Event::Message {
                    message:
                        request_response::Message::Response {
                            request_id,
                            response,
                        },
                    ..
                },
            )) if *request_id == id => Some(Outcome::Response(response.clone())),
            SwarmEvent::Behaviour(ClientBehaviourEvent::Client(
                request_response::Event::OutboundFailure {
                    request_id, error, ..
                },
            )) if *request_id == id => Some(Outcome::Failed(error.to_string())),
            _ => None,
        })
        .await
    }

    /// Sends a well-formed request and decodes the (validated) response.
    pub(crate) async fn request(
        &mut self,
        request: pb::client_request::Request,
    ) -> pb::ClientResponse {
        let frame = wire::encode_frame(&pb::ClientRequest {
            request: Some(request),
        });
        match self.raw(frame).await {
            Outcome::Response(body) => wire::decode_valid(&body).expect("a valid ClientResponse"),
            Outcome::Failed(e) => panic!("exchange failed: {e}"),
        }
    }

    /// Submits `entry` bytes.
    pub(crate) async fn submit(&mut self, entry: Vec<u8>) -> pb::ClientResponse {
        self.submit_with(entry, None).await
    }

    /// Submits `entry` bytes with a sealed publication's `opening`.
    pub(crate) async fn submit_with(
        &mut self,
        entry: Vec<u8>,
        opening: Option<pb::PublicationOpening>,
    ) -> pb::ClientResponse {
        self.request(pb::client_request::Request::Submit(pb::SubmitEntry {
            entry,
            trusted_size: 0,
            opening,
        }))
        .await
    }

    /// The node's latest checkpoint note.
    pub(crate) async fn checkpoint(&mut self) -> Vec<u8> {
        match self
            .request(pb::client_request::Request::Checkpoint(
                pb::CheckpointRequest { cosigned: false },
            ))
            .await
            .response
        {
            Some(pb::client_response::Response::Checkpoint(c)) => c.note,
            other => panic!("expected a checkpoint, got {other:?}"),
        }
    }

    /// Subscribes to `topic` and waits until the node is subscribed to it too.
    pub(crate) async fn subscribe(&mut self, topic: &IdentTopic) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(topic)
            .expect("subscribe");
        self.wait_until(|c| c.subscribed.contains(&c.node)).await;
    }
}

/// A signed notarization entry, encoded; `n` makes it unique.
pub(crate) fn notarization(n: u64) -> Vec<u8> {
    Notarization {
        digest: *blake3::hash(&n.to_le_bytes()).as_bytes(),
        media_type: "text/plain".into(),
        label: format!("document {n}"),
        created: 1_800_000_000 + n,
    }
    .sign(&SigningKey::from_bytes(&[42; 32]))
    .encode_to_vec()
}

/// The error kind of a response, if it is an error.
pub(crate) fn error_of(
    response: &pb::ClientResponse,
) -> Option<(pb::ClientErrorKind, pb::ClientError)> {
    match &response.response {
        Some(pb::client_response::Response::Error(e)) => {
            Some((pb::ClientErrorKind::try_from(e.kind).ok()?, e.clone()))
        }
        _ => None,
    }
}
