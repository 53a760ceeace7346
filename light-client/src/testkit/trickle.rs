//! A fake peer gateway that answers as a test says, on `/herald/client-stream/1` or on a
//! request-response protocol (`/herald/client/1`, `/herald/witness/1`): with a real answer,
//! with any bytes, never, or a byte at a time (reliability review §3, "slow-trickle answers").
//!
//! A trickled answer is a frame head announcing a large answer, then one byte every [`EVERY`]:
//! every read succeeds quickly, so only a deadline on the whole exchange cuts it off. The loop is
//! bounded in count and time: at most [`TRICKLED_BYTES`] bytes, so [`TRICKLE_BOUND`] (10 s) at
//! most, and it ends early when the other side goes away (a write fails).
//!
//! A peer is started with [`stream_peer`] or [`request_peer`] and an answer policy: a function
//! of the request's number on its stream (0 for the first) giving the peer's [`Answer`]. On a
//! request-response protocol every request has a stream of its own, so that number is always 0.
//! [`checkpoint_until`] is the policy of a gateway that behaves until a test flips a switch.
//!
//! The peer listens on `127.0.0.1`, port 0, and runs on tasks of the test's tokio runtime, which
//! end with it. It keeps its connections open [`IDLE`] without traffic and, on a
//! request-response protocol, bounds its own writing of an answer at [`ANSWER_BOUND`]: both far
//! past any client timeout a test sets, so the client's bound is the one a test sees.

use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt as _, StreamExt as _};
use herald_proto::checkpoint::Checkpoint;
use herald_proto::note::NoteSigner;
use herald_proto::wire::{Decoded, Validate, encode_frame, pb};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};

use crate::net::stream::{StreamFrame, read_stream_request, write_stream_response};
use crate::net::{self, read_frame};

/// The origin of the fake peer's log.
pub const ORIGIN: &str = "trickle.test/herald";
/// A trickled byte every this long.
pub const EVERY: Duration = Duration::from_millis(100);
/// At most this many trickled bytes an answer.
pub const TRICKLED_BYTES: usize = 100;
/// The longest one trickled answer takes: [`TRICKLED_BYTES`] times [`EVERY`].
pub const TRICKLE_BOUND: Duration = EVERY.saturating_mul(TRICKLED_BYTES as u32);
/// How long the peer keeps a connection without traffic.
pub const IDLE: Duration = Duration::from_secs(60);
/// The peer's own bound on writing an answer on a request-response protocol.
pub const ANSWER_BOUND: Duration = Duration::from_secs(30);

/// The key of the fake peer's log ([`ORIGIN`]; a fixed seed).
pub fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[7; 32]))
        .expect("the fixed origin is a valid key name")
}

/// The fake peer's signed checkpoint of 3 entries (root `[3; 32]`), as note bytes.
pub fn note() -> Vec<u8> {
    Checkpoint {
        origin: ORIGIN.into(),
        size: 3,
        root: [3; 32],
    }
    .sign(&signer())
    .expect("the fixed checkpoint signs")
    .to_string()
    .into_bytes()
}

/// The fake peer's answer while it behaves: its checkpoint ([`note`]).
pub fn checkpoint_answer() -> pb::ClientResponse {
    pb::ClientResponse {
        response: Some(pb::client_response::Response::Checkpoint(
            pb::SignedCheckpoint { note: note() },
        )),
    }
}

/// What the fake peer does with one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// This answer, framed as the protocol frames it: on `/herald/client-stream/1` a stream
    /// response with the request's id, on a request-response protocol one frame.
    Response(pb::ClientResponse),
    /// These bytes as they are (a header alone, a frame of garbage, nothing).
    Raw(Vec<u8>),
    /// A frame head announcing this many bytes, then the bytes trickled ([`trickle`]).
    Trickle(usize),
    /// No answer: the request is read and its stream kept open.
    Silent,
}

/// The policy of a gateway that answers with its checkpoint ([`checkpoint_answer`]) until
/// `trickling` is set, and after that trickles answers announcing `announced` bytes.
pub fn checkpoint_until(
    trickling: Arc<AtomicBool>,
    announced: usize,
) -> impl Fn(usize) -> Answer + Send + Sync + 'static {
    move |_| {
        if trickling.load(Ordering::SeqCst) {
            Answer::Trickle(announced)
        } else {
            Answer::Response(checkpoint_answer())
        }
    }
}

/// Writes a frame head announcing `announced` bytes, then one byte every [`EVERY`],
/// [`TRICKLED_BYTES`] at most, until the other side goes away (the first failed write).
pub async fn trickle<T: AsyncWrite + Unpin>(io: &mut T, announced: usize) -> io::Result<()> {
    let head = u32::try_from(announced)
        .map_err(|_| io::Error::other("a frame announces at most u32::MAX bytes"))?
        .to_be_bytes();
    io.write_all(&head).await?;
    io.flush().await?;
    for _ in 0..TRICKLED_BYTES {
        tokio::time::sleep(EVERY).await;
        io.write_all(&[0x0a]).await?;
        io.flush().await?;
    }
    Ok(())
}

/// A fake peer: its id, and its address ending in `/p2p/<id>`.
#[derive(Clone, Debug)]
pub struct FakePeer {
    /// The peer's id.
    pub id: PeerId,
    /// Where it listens, with `/p2p/<id>`.
    pub addr: Multiaddr,
}

/// Has `swarm` listen on `127.0.0.1`, port 0, and waits for its address.
pub async fn listen<B: NetworkBehaviour>(swarm: &mut Swarm<B>) -> FakePeer {
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("a valid address"))
        .expect("loopback listens");
    let id = *swarm.local_peer_id();
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            let addr = address.with(libp2p::multiaddr::Protocol::P2p(id));
            return FakePeer { id, addr };
        }
    }
}

/// Starts a peer serving only `/herald/client-stream/1`: on every stream it reads each request
/// (so the client is never held back by flow control) and does what `answer` says for it, given
/// the request's number on that stream. A stream ends when the client closes it or a write fails.
pub async fn stream_peer<F>(answer: F) -> FakePeer
where
    F: Fn(usize) -> Answer + Send + Sync + 'static,
{
    let mut swarm = net::build_swarm(Keypair::generate_ed25519(), IDLE, |_| {
        Ok(libp2p_stream::Behaviour::new())
    })
    .expect("the swarm builds");
    let peer = listen(&mut swarm).await;
    let mut incoming = swarm
        .behaviour()
        .new_control()
        .accept(net::CLIENT_STREAM_PROTOCOL)
        .expect("the protocol is accepted once");
    tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut nth = 0;
                while let Ok(Some(StreamFrame::Request { id, .. })) =
                    read_stream_request(&mut stream).await
                {
                    let sent = match answer(nth) {
                        Answer::Response(response) => {
                            write_stream_response(&mut stream, id, response).await
                        }
                        Answer::Raw(bytes) => write_raw(&mut stream, &bytes).await,
                        Answer::Trickle(announced) => trickle(&mut stream, announced).await,
                        Answer::Silent => Ok(()),
                    };
                    if sent.is_err() {
                        return;
                    }
                    nth = nth.saturating_add(1);
                }
            });
        }
    });
    peer
}

/// Starts a peer serving only `protocol`, a request-response protocol whose requests are `Req`
/// frames (read with the one codec's reader): it does what `answer` says for every request
/// (given 0, the request's number on its own stream). The streams of requests it is silent on
/// are kept open as long as the peer runs (a test sends it a few).
pub async fn request_peer<Req, F>(protocol: StreamProtocol, answer: F) -> FakePeer
where
    Req: Validate + Send + 'static,
    F: Fn(usize) -> Answer + Send + 'static,
{
    let mut swarm = net::build_swarm(Keypair::generate_ed25519(), IDLE, |_| {
        Ok(request_response::Behaviour::with_codec(
            AnsweringCodec::<Req>(PhantomData),
            [(protocol, ProtocolSupport::Inbound)],
            request_response::Config::default().with_request_timeout(ANSWER_BOUND),
        ))
    })
    .expect("the swarm builds");
    let peer = listen(&mut swarm).await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            }) = swarm.select_next_some().await
            {
                match answer(0) {
                    Answer::Silent => held.push(channel),
                    written => {
                        let _ = swarm.behaviour_mut().send_response(channel, written);
                    }
                }
            }
        }
    });
    peer
}

async fn write_raw<T: AsyncWrite + Unpin>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// A request-response codec on the answering side: reads real `Req` requests and writes an
/// [`Answer`] ([`Answer::Silent`] never reaches it: the peer keeps that request's channel).
struct AnsweringCodec<Req>(PhantomData<fn() -> Req>);

impl<Req> Clone for AnsweringCodec<Req> {
    fn clone(&self) -> Self {
        AnsweringCodec(PhantomData)
    }
}

impl<Req: Validate + Send + 'static> request_response::Codec for AnsweringCodec<Req> {
    type Protocol = StreamProtocol;
    type Request = Decoded<Req>;
    type Response = Answer;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Decoded<Req>> {
        read_frame(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Answer> {
        Err(io::Error::other("this peer only answers"))
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Decoded<Req>,
    ) -> io::Result<()> {
        Err(io::Error::other("this peer only answers"))
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        answer: Answer,
    ) -> io::Result<()> {
        match answer {
            Answer::Response(response) => write_raw(io, &encode_frame(&response)).await,
            Answer::Raw(bytes) => write_raw(io, &bytes).await,
            Answer::Trickle(announced) => trickle(io, announced).await,
            Answer::Silent => Ok(()),
        }
    }
}
