//! `/herald/client-stream/1` against a real node on loopback (DESIGN §6): requests written
//! without waiting are each answered under their id; a frame that is not a valid request is
//! refused under the id that could be read, and one without a readable id ends the stream; the
//! light client's `GatewayClient` pipelines on it and stays correct past the stream's in-flight
//! bound.

use std::collections::HashMap;
use std::time::Duration;

use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use herald_light_client::net::{self, CLIENT_STREAM_PROTOCOL, read_frame};
use herald_light_client::{Gateway as _, GatewayClient};
use herald_proto::wire::pb::{self, ClientErrorKind, client_response::Response};
use herald_proto::wire::{self, MAX_STREAM_INFLIGHT};
use libp2p::Stream;
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;

use crate::network_support::{TestNode, WAIT, notarization};

/// Opens a raw client stream to `node` from a fresh libp2p identity (the swarm is polled on a
/// task of its own for as long as the test runs).
async fn raw_stream(node: &TestNode) -> Stream {
    let mut swarm = net::build_swarm(Keypair::generate_ed25519(), Duration::from_secs(30), |_| {
        Ok(libp2p_stream::Behaviour::new())
    })
    .expect("a swarm");
    let addr = node.tcp_addr();
    swarm.dial(addr).expect("dial");
    let mut control = swarm.behaviour().new_control();
    let peer = node.keys.peer_id();
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::OutgoingConnectionError { error, .. } =
                swarm.select_next_some().await
            {
                panic!("could not connect: {error}");
            }
        }
    });
    tokio::time::timeout(WAIT, control.open_stream(peer, CLIENT_STREAM_PROTOCOL))
        .await
        .expect("a stream in time")
        .expect("the node serves the client stream")
}

fn request(id: u64, request: pb::ClientRequest) -> Vec<u8> {
    wire::encode_frame(&pb::StreamRequest {
        id,
        request: Some(request),
    })
}

async fn answer(stream: &mut Stream) -> pb::StreamResponse {
    tokio::time::timeout(WAIT, read_frame::<pb::StreamResponse, _>(stream))
        .await
        .expect("an answer in time")
        .expect("a frame")
        .expect("a valid StreamResponse")
}

fn refusal(response: &pb::StreamResponse) -> Option<ClientErrorKind> {
    match response.response.as_ref()?.response.as_ref()? {
        Response::Error(e) => ClientErrorKind::try_from(e.kind).ok(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_written_without_waiting_are_each_answered_under_their_id() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let mut stream = raw_stream(&node).await;
    let mut frames = Vec::new();
    frames.extend(request(7, pb::ClientRequest::checkpoint(false)));
    frames.extend(request(9, pb::ClientRequest::entries(1_000, 1)));
    frames.extend(request(11, pb::ClientRequest::consistency(0, 0)));
    stream.write_all(&frames).await.unwrap();
    stream.flush().await.unwrap();
    let mut answers = HashMap::new();
    for _ in 0..3 {
        let a = answer(&mut stream).await;
        answers.insert(a.id, a);
    }
    assert!(matches!(
        answers[&7]
            .response
            .as_ref()
            .and_then(|r| r.response.as_ref()),
        Some(Response::Checkpoint(_))
    ));
    assert_eq!(refusal(&answers[&9]), Some(ClientErrorKind::OutOfRange));
    assert!(answers.contains_key(&11), "{answers:?}");
    // The stream stays open for more.
    stream
        .write_all(&request(12, pb::ClientRequest::checkpoint(false)))
        .await
        .unwrap();
    assert_eq!(answer(&mut stream).await.id, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_bad_frame_is_refused_under_its_id_and_one_without_an_id_ends_the_stream() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let mut stream = raw_stream(&node).await;
    // A request with an id but no request: refused under its id, and the stream goes on.
    let missing = wire::encode_frame(&pb::StreamRequest {
        id: 5,
        request: None,
    });
    stream.write_all(&missing).await.unwrap();
    let refused = answer(&mut stream).await;
    assert_eq!(
        (refused.id, refusal(&refused)),
        (5, Some(ClientErrorKind::Malformed))
    );
    stream
        .write_all(&request(6, pb::ClientRequest::checkpoint(false)))
        .await
        .unwrap();
    assert_eq!(answer(&mut stream).await.id, 6);
    // Id 0 is not an id a client may choose.
    stream
        .write_all(&request(0, pb::ClientRequest::checkpoint(false)))
        .await
        .unwrap();
    let zero = answer(&mut stream).await;
    assert_eq!(
        (zero.id, refusal(&zero)),
        (0, Some(ClientErrorKind::Malformed))
    );
    // Id 0 has nothing to answer to: the node closes the stream after that answer.
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .expect("the stream ends in time")
        .ok();
    assert!(rest.is_empty(), "nothing after the id-0 answer: {rest:?}");
    // A frame over the stream's bound is refused without reading its body.
    let mut stream = raw_stream(&node).await;
    let too_long = u32::try_from(wire::MAX_STREAM_REQUEST_BYTES + 1).unwrap();
    stream.write_all(&too_long.to_be_bytes()).await.unwrap();
    let over = answer(&mut stream).await;
    assert_eq!(
        (over.id, refusal(&over)),
        (0, Some(ClientErrorKind::TooLarge))
    );
    // The node still serves everyone else.
    let mut fresh = raw_stream(&node).await;
    fresh
        .write_all(&request(1, pb::ClientRequest::checkpoint(false)))
        .await
        .unwrap();
    assert_eq!(answer(&mut fresh).await.id, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_client_pipelines_past_the_streams_in_flight_bound() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let client = GatewayClient::connect(&node.tcp_addr(), WAIT)
        .await
        .expect("connected");
    let entries: Vec<Vec<u8>> = (0..8).map(notarization).collect();
    for entry in &entries {
        client.submit(entry.clone()).await.expect("acked");
    }
    let asked = 3 * MAX_STREAM_INFLIGHT;
    let pages = futures::future::join_all((0..asked).map(|i| {
        let client = client.clone();
        async move { (i % 8, client.entries((i % 8) as u64, 1).await) }
    }))
    .await;
    for (i, page) in pages {
        let page = page.expect("every request answered");
        assert_eq!(page.start, i as u64, "answers matched to their requests");
        assert_eq!(page.entries, vec![entries[i].clone()]);
    }
    assert!(
        client.is_pipelined().await,
        "the requests went on a client stream"
    );
}

/// Found by the chaos run: after the gateway restarted, a `GatewayClient` that had pipelined
/// failed every request "transport" for good — the stream behaviour dials by peer id alone and
/// knows no address. Now a request whose stream cannot be opened goes on `/herald/client/1`,
/// which redials the gateway's address, and the stream is opened again on that connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_client_comes_back_after_the_gateway_restarts() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let client = GatewayClient::connect(&node.tcp_addr(), WAIT)
        .await
        .expect("connected");
    client.submit(notarization(1)).await.expect("acked");
    assert!(client.is_pipelined().await, "on a client stream first");
    let stopped = node.stop().await;
    // Requests while the gateway is down fail, as they must (the chaos run's clients kept
    // sending through the downtime).
    for n in 10..13 {
        assert!(client.submit(notarization(n)).await.is_err());
    }
    let node = stopped.start().await;
    // Bounded: the first request may still meet the stream of the old connection.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match client.submit(notarization(2)).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("no answer within {WAIT:?} of the restart: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    // And back on a client stream soon (the client tries it again a moment later).
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut n = 20;
    while !client.is_pipelined().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not back on a client stream within {WAIT:?}"
        );
        client.submit(notarization(n)).await.expect("acked");
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.stop().await;
}
