//! A peer gateway that answers a byte at a time (reliability review §3): a frame head announcing
//! the largest answer, then a byte every 100 ms. Every read succeeds quickly, so only a deadline
//! on the whole exchange cuts it off. The node's client requests to peers (relays, prekeys,
//! bindings, status, log reads: all [`NodeHandle::client_request`]) on a client stream, and its
//! witness requests on `/herald/witness/1`, must fail with their typed timeout within the
//! request timeout (with margin), and a log read through the peer keeps what it trusted. The
//! peer is the light client's testkit's (`herald_light_client::testkit::trickle`), the one its
//! own trickle tests use.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use herald_light_client::net::WITNESS_PROTOCOL;
use herald_light_client::testkit::trickle::{
    Answer, FakePeer, ORIGIN, checkpoint_until, note, request_peer, signer, stream_peer,
};
use herald_light_client::{
    CheckpointStore as _, ClientError, LogTrust, MemoryCheckpointStore, TrustedLog,
};
use herald_proto::merkle::HashAlgorithm;
use herald_proto::wire::{MAX_ADD_CHECKPOINT_RESPONSE_BYTES, MAX_CLIENT_RESPONSE_BYTES, pb};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};

use super::NetworkError;
use super::tests::{Fake, network};

/// The node's request timeout here: each request's whole exchange.
const TIMEOUT: Duration = Duration::from_millis(800);
/// Past the bound, what scheduling on two shared cores may add.
const MARGIN: Duration = Duration::from_millis(1500);

/// A peer gateway serving only `/herald/client-stream/1`: every request is answered with its
/// checkpoint until `trickling` is set, and trickled after that.
async fn start_trickling_gateway(trickling: Arc<AtomicBool>) -> (PeerId, Multiaddr) {
    let FakePeer { id, addr } =
        stream_peer(checkpoint_until(trickling, MAX_CLIENT_RESPONSE_BYTES)).await;
    (id, addr)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_trickling_its_answer_times_out_within_the_request_timeout() {
    // A witness that reads real requests and trickles every answer.
    let FakePeer { id: peer, addr } =
        request_peer::<pb::AddCheckpointRequest, _>(WITNESS_PROTOCOL, |_| {
            Answer::Trickle(MAX_ADD_CHECKPOINT_RESPONSE_BYTES)
        })
        .await;
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
