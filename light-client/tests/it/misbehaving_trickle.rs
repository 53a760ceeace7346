//! A gateway that answers a byte at a time (reliability review §3, "slow-trickle answers"):
//! a frame head announcing the largest answer, then a byte every 100 ms. Each read succeeds
//! quickly, so only a deadline on the whole exchange cuts it off: the client's call must fail
//! with its typed timeout within its request timeout (with margin), and the trusted log must
//! keep the checkpoint it had, on `/herald/client-stream/1` (an answer trickled on an open
//! stream, and the answer that would open one) and on `/herald/client/1`.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt as _, StreamExt as _};
use herald_light_client::net::stream::{StreamFrame, read_stream_request, write_stream_response};
use herald_light_client::net::{self, CLIENT_PROTOCOL, read_frame};
use herald_light_client::{
    CheckpointStore as _, ClientConfig, ClientError, GatewayClient, MemoryCheckpointStore,
    TrustedLog,
};
use herald_proto::checkpoint::Checkpoint;
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::{NoteSigner, NoteVerifier};
use herald_proto::wire::{Decoded, MAX_CLIENT_RESPONSE_BYTES, encode_frame, pb};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol, Swarm};

const ORIGIN: &str = "trickle.test/herald";
/// The client's bound on one request: the whole exchange.
const TIMEOUT: Duration = Duration::from_millis(800);
/// Past the bound, what scheduling on two shared cores may add.
const MARGIN: Duration = Duration::from_millis(1500);
/// A trickled byte every this long; at most `TRICKLED_BYTES` of them (a bounded loop, 10 s).
const EVERY: Duration = Duration::from_millis(100);
const TRICKLED_BYTES: usize = 100;

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[7; 32])).unwrap()
}

fn verifier() -> NoteVerifier {
    signer().verifier()
}

/// The gateway's answer while it behaves: its signed checkpoint of 3 entries.
fn checkpoint_answer() -> pb::ClientResponse {
    let note = Checkpoint {
        origin: ORIGIN.into(),
        size: 3,
        root: [3; 32],
    }
    .sign(&signer())
    .unwrap()
    .to_string();
    pb::ClientResponse {
        response: Some(pb::client_response::Response::Checkpoint(
            pb::SignedCheckpoint {
                note: note.into_bytes(),
            },
        )),
    }
}

/// Writes a frame head announcing the largest answer a client reads, then one byte every
/// [`EVERY`], [`TRICKLED_BYTES`] at most, until the other side goes away.
async fn trickle<T: AsyncWrite + Unpin>(io: &mut T) -> io::Result<()> {
    let head = u32::try_from(MAX_CLIENT_RESPONSE_BYTES)
        .unwrap()
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

async fn listen<B: libp2p::swarm::NetworkBehaviour>(swarm: &mut Swarm<B>) -> Multiaddr {
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    addr.with(libp2p::multiaddr::Protocol::P2p(*swarm.local_peer_id()))
}

/// A peer serving only `/herald/client-stream/1`: every request is answered with
/// [`checkpoint_answer`] until `trickling` is set, and trickled after that.
async fn start_trickling_stream_peer(trickling: Arc<AtomicBool>) -> Multiaddr {
    let mut swarm = net::build_swarm(Keypair::generate_ed25519(), Duration::from_secs(60), |_| {
        Ok(libp2p_stream::Behaviour::new())
    })
    .unwrap();
    let addr = listen(&mut swarm).await;
    let mut incoming = swarm
        .behaviour()
        .new_control()
        .accept(net::CLIENT_STREAM_PROTOCOL)
        .unwrap();
    tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    tokio::spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            let trickling = trickling.clone();
            tokio::spawn(async move {
                while let Ok(Some(StreamFrame::Request { id, .. })) =
                    read_stream_request(&mut stream).await
                {
                    let sent = if trickling.load(Ordering::SeqCst) {
                        trickle(&mut stream).await
                    } else {
                        write_stream_response(&mut stream, id, checkpoint_answer()).await
                    };
                    if sent.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// `/herald/client/1`'s codec on the gateway's side: reads real requests, and writes the
/// checkpoint answer (`false`) or trickles (`true`).
#[derive(Clone, Default)]
struct TrickleCodec;

impl request_response::Codec for TrickleCodec {
    type Protocol = StreamProtocol;
    type Request = Decoded<pb::ClientRequest>;
    type Response = bool;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Decoded<pb::ClientRequest>> {
        read_frame(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<bool> {
        Err(io::Error::other("this peer only answers"))
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Decoded<pb::ClientRequest>,
    ) -> io::Result<()> {
        Err(io::Error::other("this peer only answers"))
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        trickling: bool,
    ) -> io::Result<()> {
        if trickling {
            return trickle(io).await;
        }
        io.write_all(&encode_frame(&checkpoint_answer())).await?;
        io.flush().await
    }
}

/// A peer serving only `/herald/client/1`, answering as [`TrickleCodec`] says.
async fn start_trickling_peer(trickling: Arc<AtomicBool>) -> Multiaddr {
    let mut swarm = net::build_swarm(Keypair::generate_ed25519(), Duration::from_secs(60), |_| {
        Ok(request_response::Behaviour::with_codec(
            TrickleCodec,
            [(CLIENT_PROTOCOL, ProtocolSupport::Inbound)],
            // The peer's own bound on writing its answer is far past the client's.
            request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
        ))
    })
    .unwrap();
    let addr = listen(&mut swarm).await;
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            }) = swarm.select_next_some().await
            {
                let trickling = trickling.load(Ordering::SeqCst);
                let _ = swarm.behaviour_mut().send_response(channel, trickling);
            }
        }
    });
    addr
}

/// Trusts the gateway at `addr`'s checkpoint of 3, then (once `trickling` is set) asks twice
/// more: each time the call fails with the typed timeout within its bound, and the trusted
/// log, in memory and in its store, keeps the checkpoint of 3.
async fn trickled_answers_time_out_and_change_nothing(
    addr: Multiaddr,
    trickling: &AtomicBool,
    pipelined: bool,
) -> GatewayClient {
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(10),
        request_timeout: TIMEOUT,
        pipelined,
        ..ClientConfig::default()
    };
    let client = GatewayClient::connect_with(&addr, &config).await.unwrap();
    let store = MemoryCheckpointStore::new();
    let trust = LogTrust::unwitnessed(verifier(), HashAlgorithm::Blake3);
    let mut log = TrustedLog::open(&client, trust, &store).unwrap();
    assert_eq!(log.refresh().await.unwrap().checkpoint.size(), 3);
    let saved = store.load(ORIGIN).unwrap();
    assert!(saved.is_some());

    trickling.store(true, Ordering::SeqCst);
    for attempt in 0..2 {
        let started = Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(10), log.refresh())
            .await
            .expect("answered within the test's bound")
            .unwrap_err();
        let waited = started.elapsed();
        assert!(
            matches!(err, ClientError::Timeout { after } if after == TIMEOUT),
            "attempt {attempt}: {err:?}"
        );
        assert!(err.is_retryable() && !err.is_peer_misbehaviour());
        assert!(
            waited >= TIMEOUT && waited < TIMEOUT + MARGIN,
            "attempt {attempt}: after {waited:?}"
        );
        assert_eq!(log.trusted().map(|c| c.size()), Some(3));
        assert_eq!(store.load(ORIGIN).unwrap(), saved);
    }
    drop(log);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_trickled_on_the_client_stream_times_out_within_the_request_timeout() {
    // The first trickled answer is on the open stream; the stream is then replaced, and the
    // second is the answer that would open the new one: the opening is bounded by the same
    // deadline, not by the stream's own 2 s opening bound plus a fallback's request timeout.
    let trickling = Arc::new(AtomicBool::new(false));
    let addr = start_trickling_stream_peer(trickling.clone()).await;
    let client = trickled_answers_time_out_and_change_nothing(addr, &trickling, true).await;
    assert!(
        !client.is_pipelined().await,
        "a stream that timed out is replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_trickled_on_client_1_times_out_within_the_request_timeout() {
    let trickling = Arc::new(AtomicBool::new(false));
    let addr = start_trickling_peer(trickling.clone()).await;
    trickled_answers_time_out_and_change_nothing(addr, &trickling, false).await;
}
