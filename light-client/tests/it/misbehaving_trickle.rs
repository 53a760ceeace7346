//! A gateway that answers a byte at a time (reliability review §3, "slow-trickle answers"):
//! a frame head announcing the largest answer, then a byte every 100 ms. Each read succeeds
//! quickly, so only a deadline on the whole exchange cuts it off: the client's call must fail
//! with its typed timeout within its request timeout (with margin), and the trusted log must
//! keep the checkpoint it had, on `/herald/client-stream/1` (an answer trickled on an open
//! stream, and the answer that would open one) and on `/herald/client/1`. The peer is the
//! testkit's (`herald_light_client::testkit::trickle`), which the node's tests use too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use herald_light_client::net::CLIENT_PROTOCOL;
use herald_light_client::testkit::trickle::{
    FakePeer, ORIGIN, checkpoint_until, request_peer, signer, stream_peer,
};
use herald_light_client::{
    CheckpointStore as _, ClientConfig, ClientError, GatewayClient, MemoryCheckpointStore,
    TrustedLog,
};
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::wire::{MAX_CLIENT_RESPONSE_BYTES, pb};
use libp2p::Multiaddr;

/// The client's bound on one request: the whole exchange.
const TIMEOUT: Duration = Duration::from_millis(800);
/// Past the bound, what scheduling on two shared cores may add.
const MARGIN: Duration = Duration::from_millis(1500);

/// A peer serving only `/herald/client-stream/1`: every request is answered with its
/// checkpoint until `trickling` is set, and trickled after that.
async fn start_trickling_stream_peer(trickling: Arc<AtomicBool>) -> Multiaddr {
    let FakePeer { addr, .. } =
        stream_peer(checkpoint_until(trickling, MAX_CLIENT_RESPONSE_BYTES)).await;
    addr
}

/// A peer serving only `/herald/client/1`, answering the same way.
async fn start_trickling_peer(trickling: Arc<AtomicBool>) -> Multiaddr {
    let FakePeer { addr, .. } = request_peer::<pb::ClientRequest, _>(
        CLIENT_PROTOCOL,
        checkpoint_until(trickling, MAX_CLIENT_RESPONSE_BYTES),
    )
    .await;
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
    let trust = LogTrust::unwitnessed(signer().verifier(), HashAlgorithm::Blake3);
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
