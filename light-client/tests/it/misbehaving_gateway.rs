//! A libp2p peer that speaks `/herald/client/1` badly, over a real TCP connection: the client
//! must report each misbehaviour as such (typed, never a panic or a hang), and keep it apart from
//! network failures. The peers are the testkit's (`herald_light_client::testkit::trickle`).

use std::time::Duration;

use herald_light_client::net::CLIENT_PROTOCOL;
use herald_light_client::testkit::trickle::{Answer, request_peer, stream_peer};
use herald_light_client::{ClientConfig, ClientError, Gateway as _, GatewayClient};
use herald_proto::wire::{MAX_CLIENT_RESPONSE_BYTES, WireError, encode_frame, pb};
use libp2p::{Multiaddr, StreamProtocol};

/// What the peer sends back, byte for byte (`None`: never answers).
type Raw = Option<Vec<u8>>;

/// Starts a peer answering every request with `answer`'s bytes (and speaking `protocol`);
/// returns its address with `/p2p/<peer id>`. It reads real requests, with the one codec's
/// framing; a request it never answers keeps its stream open.
async fn start_peer(protocol: StreamProtocol, answer: Raw) -> Multiaddr {
    let answer = answer.map_or(Answer::Silent, Answer::Raw);
    request_peer::<pb::ClientRequest, _>(protocol, move |_| answer.clone())
        .await
        .addr
}

async fn client_of(answer: Raw) -> GatewayClient {
    let addr = start_peer(CLIENT_PROTOCOL, answer).await;
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    };
    GatewayClient::connect_with(&addr, &config).await.unwrap()
}

fn response(r: pb::client_response::Response) -> Vec<u8> {
    encode_frame(&pb::ClientResponse { response: Some(r) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_is_refused_as_misbehaviour() {
    let header = ((MAX_CLIENT_RESPONSE_BYTES + 1) as u32)
        .to_be_bytes()
        .to_vec();
    let client = client_of(Some(header)).await;
    let err = client.checkpoint().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::MalformedResponse(WireError::TooLarge { .. })
        ),
        "{err:?}"
    );
    assert!(err.is_peer_misbehaviour());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_answer_is_refused_as_misbehaviour() {
    let mut frame = 6u32.to_be_bytes().to_vec();
    frame.extend_from_slice(&[0xff; 6]);
    let client = client_of(Some(frame)).await;
    let err = client.checkpoint().await.unwrap_err();
    assert!(
        matches!(err, ClientError::MalformedResponse(WireError::Malformed(_))),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_of_the_wrong_kind_is_refused() {
    let page = response(pb::client_response::Response::Entries(pb::EntryPage {
        start: 0,
        entries: vec![b"e".to_vec()],
    }));
    let client = client_of(Some(page)).await;
    let err = client.checkpoint().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::UnexpectedResponse {
                request: "checkpoint",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_peer_misbehaviour());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_typed_and_not_misbehaviour() {
    let busy = response(pb::client_response::Response::Error(pb::ClientError {
        kind: pb::ClientErrorKind::Busy as i32,
        message: "pool full".into(),
        retry_after_ms: 250,
        tree_size: 0,
    }));
    let client = client_of(Some(busy)).await;
    let err = client.entries(0, 1).await.unwrap_err();
    let ClientError::Refused(refusal) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(refusal.kind, pb::ClientErrorKind::Busy);
    assert_eq!(refusal.retry_after, Some(Duration::from_millis(250)));
    assert!(err.is_retryable() && !err.is_peer_misbehaviour());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_gateway_times_out() {
    let client = client_of(None).await;
    let started = std::time::Instant::now();
    let err = client.checkpoint().await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable() && !err.is_peer_misbehaviour());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_the_client_protocol_is_not_a_gateway() {
    let addr = start_peer(StreamProtocol::new("/other/1"), Some(Vec::new())).await;
    let client = GatewayClient::connect(&addr, Duration::from_secs(10))
        .await
        .unwrap();
    let err = client.checkpoint().await.unwrap_err();
    assert!(matches!(err, ClientError::UnsupportedProtocol), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_another_identity_is_refused() {
    // The address names one peer; another answers: noise authentication fails the dial.
    let addr = start_peer(CLIENT_PROTOCOL, None).await;
    let mut wrong: Multiaddr = addr
        .iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect();
    wrong.push(libp2p::multiaddr::Protocol::P2p(libp2p::PeerId::random()));
    let err = GatewayClient::connect(&wrong, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
}

/// Starts a peer serving only `/herald/client-stream/1`: on each stream it answers the first
/// request (the one that shows the stream was taken) and never any other.
async fn start_silent_stream_peer() -> Multiaddr {
    stream_peer(|nth| {
        if nth > 0 {
            return Answer::Silent;
        }
        Answer::Response(pb::ClientResponse {
            response: Some(pb::client_response::Response::Error(pb::ClientError {
                kind: pb::ClientErrorKind::Busy as i32,
                message: "any answer takes the stream".into(),
                retry_after_ms: 250,
                tree_size: 0,
            })),
        })
    })
    .await
    .addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_never_answered_on_the_client_stream_times_out() {
    // The stream's task keeps each request's deadline (no timer per request): a request the
    // gateway never answers is still answered Timeout after the request timeout, and the next
    // request goes on a new stream and times out the same way.
    let addr = start_silent_stream_peer().await;
    let timeout = Duration::from_millis(800);
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(10),
        request_timeout: timeout,
        ..ClientConfig::default()
    };
    let client = GatewayClient::connect_with(&addr, &config).await.unwrap();
    for attempt in 0..2 {
        let started = std::time::Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(10), client.checkpoint())
            .await
            .expect("answered within the test's bound")
            .unwrap_err();
        let waited = started.elapsed();
        assert!(
            matches!(err, ClientError::Timeout { after } if after == timeout),
            "attempt {attempt}: {err:?}"
        );
        assert!(waited >= timeout, "attempt {attempt}: after {waited:?}");
        assert!(
            !client.is_pipelined().await,
            "a stream that timed out is replaced"
        );
    }
}
