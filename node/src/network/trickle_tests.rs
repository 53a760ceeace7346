//! A peer gateway that answers a byte at a time (reliability review §3): a frame head announcing
//! the largest answer, then a byte every 100 ms. Every read succeeds quickly, so only a deadline
//! on the whole exchange cuts it off. The node's client requests to peers (relays, prekeys,
//! bindings, status, log reads: all [`NodeHandle::client_request`]) on a client stream, and its
//! witness requests on `/herald/witness/1`, must fail with their typed timeout within the
//! request timeout (with margin), and a log read through the peer keeps what it trusted.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncWrite, AsyncWriteExt as _, StreamExt as _};
use herald_light_client::net::stream::{StreamFrame, read_stream_request, write_stream_response};
use herald_light_client::net::{self, WITNESS_PROTOCOL, read_frame};
use herald_light_client::{
    CheckpointStore as _, ClientError, LogTrust, MemoryCheckpointStore, TrustedLog,
};
use herald_proto::checkpoint::Checkpoint;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::NoteSigner;
use herald_proto::wire::{
    Decoded, MAX_ADD_CHECKPOINT_RESPONSE_BYTES, MAX_CLIENT_RESPONSE_BYTES, pb,
};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};

use super::NetworkError;
use super::tests::{Fake, network};

const ORIGIN: &str = "trickle.test/herald";
/// The node's request timeout here: each request's whole exchange.
const TIMEOUT: Duration = Duration::from_millis(800);
/// Past the bound, what scheduling on two shared cores may add.
const MARGIN: Duration = Duration::from_millis(1500);
/// A trickled byte every this long; at most `TRICKLED_BYTES` of them (a bounded loop, 10 s).
const EVERY: Duration = Duration::from_millis(100);
const TRICKLED_BYTES: usize = 100;

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, ed25519_dalek::SigningKey::from_bytes(&[7; 32])).unwrap()
}

/// The peer's signed checkpoint of 3 entries.
fn note() -> Vec<u8> {
    Checkpoint {
        origin: ORIGIN.into(),
        size: 3,
        root: [3; 32],
    }
    .sign(&signer())
    .unwrap()
    .to_string()
    .into_bytes()
}

/// The peer's answer while it behaves: its checkpoint.
fn checkpoint_answer() -> pb::ClientResponse {
    pb::ClientResponse {
        response: Some(pb::client_response::Response::Checkpoint(
            pb::SignedCheckpoint { note: note() },
        )),
    }
}

/// A frame head announcing `len` bytes, then one byte every [`EVERY`] (at most
/// [`TRICKLED_BYTES`]) until the other side goes away.
async fn trickle<T: AsyncWrite + Unpin>(io: &mut T, len: usize) -> io::Result<()> {
    io.write_all(&u32::try_from(len).unwrap().to_be_bytes())
        .await?;
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
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            return address.with(libp2p::multiaddr::Protocol::P2p(*swarm.local_peer_id()));
        }
    }
}

/// A peer gateway serving only `/herald/client-stream/1`: every request is answered with
/// [`checkpoint_answer`] until `trickling` is set, and trickled after that.
async fn start_trickling_gateway(trickling: Arc<AtomicBool>) -> (PeerId, Multiaddr) {
    let mut swarm = net::build_swarm(Keypair::generate_ed25519(), Duration::from_secs(60), |_| {
        Ok(libp2p_stream::Behaviour::new())
    })
    .unwrap();
    let addr = listen(&mut swarm).await;
    let peer = *swarm.local_peer_id();
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
                        trickle(&mut stream, MAX_CLIENT_RESPONSE_BYTES).await
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
    (peer, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_trickling_its_answers_times_out_within_the_request_timeout() {
    let trickling = Arc::new(AtomicBool::new(false));
    let (peer, addr) = start_trickling_gateway(trickling.clone()).await;
    let alpha = network(
        Fake::new(true),
        Keypair::generate_ed25519(),
        Arc::default(),
        |c| {
            c.request_timeout_ms = TIMEOUT.as_millis() as u64;
        },
    )
    .await;
    // The peer's log as the node reads it (the log scanner's and the audits' way).
    let store = MemoryCheckpointStore::new();
    let trust = LogTrust::unwitnessed(signer().verifier(), HashAlgorithm::Blake3);
    let gateway = alpha.handle.gateway(peer, vec![addr]);
    let mut log = TrustedLog::open(gateway, trust, &store).unwrap();
    assert_eq!(log.refresh().await.unwrap().checkpoint.size(), 3);
    assert!(alpha.handle.is_pipelined_to(peer));
    let saved = store.load(ORIGIN).unwrap();

    trickling.store(true, Ordering::SeqCst);
    // The first trickled answer is on the open stream; the second is the answer that would
    // open the next one (the first stream was replaced after its timeout): the opening counts
    // toward the same deadline, not its own 2 s before a fallback's whole request timeout.
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
        assert!(
            waited >= TIMEOUT && waited < TIMEOUT + MARGIN,
            "attempt {attempt}: after {waited:?}"
        );
        assert_eq!(log.trusted().map(|c| c.size()), Some(3));
        assert_eq!(store.load(ORIGIN).unwrap(), saved);
    }
}

/// `/herald/witness/1` on the witness's side: reads real requests and trickles every answer.
#[derive(Clone, Default)]
struct TricklingWitness;

impl request_response::Codec for TricklingWitness {
    type Protocol = StreamProtocol;
    type Request = Decoded<pb::AddCheckpointRequest>;
    type Response = ();

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Self::Request> {
        read_frame(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<()> {
        Err(io::Error::other("this witness only answers"))
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Self::Request,
    ) -> io::Result<()> {
        Err(io::Error::other("this witness only answers"))
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        (): (),
    ) -> io::Result<()> {
        trickle(io, MAX_ADD_CHECKPOINT_RESPONSE_BYTES).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_trickling_its_answer_times_out_within_the_request_timeout() {
    let mut swarm = net::build_swarm(Keypair::generate_ed25519(), Duration::from_secs(60), |_| {
        Ok(request_response::Behaviour::with_codec(
            TricklingWitness,
            [(WITNESS_PROTOCOL, ProtocolSupport::Inbound)],
            // The witness's own bound on writing its answer is far past the node's.
            request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
        ))
    })
    .unwrap();
    let addr = listen(&mut swarm).await;
    let peer = *swarm.local_peer_id();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            }) = swarm.select_next_some().await
            {
                let _ = swarm.behaviour_mut().send_response(channel, ());
            }
        }
    });
    let alpha = network(
        Fake::new(true),
        Keypair::generate_ed25519(),
        Arc::default(),
        |c| {
            c.request_timeout_ms = TIMEOUT.as_millis() as u64;
        },
    )
    .await;
    let request = pb::AddCheckpointRequest {
        old_size: 0,
        consistency_proof: Vec::new(),
        checkpoint: note(),
    };
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        alpha.handle.witness_request(peer, vec![addr], request),
    )
    .await
    .expect("answered within the test's bound")
    .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(err, NetworkError::Timeout { peer: p, after } if p == peer && after == TIMEOUT),
        "{err:?}"
    );
    assert!(
        waited >= TIMEOUT && waited < TIMEOUT + MARGIN,
        "after {waited:?}"
    );
}
