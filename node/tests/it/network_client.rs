//! The client protocol `/herald/client/1` against a real node on loopback: what a light client
//! relies on (acks, proofs that verify) and what an attacker can send (DESIGN §5: every bad
//! request gets a typed error, changes nothing, and the node keeps serving).

use crate::network_support::{Outcome, TestClient, TestNode, error_of, notarization};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::{LogHasher, Sha256Hasher};
use herald_proto::wire::pb::{
    self, ClientErrorKind, client_request::Request, client_response::Response,
};
use herald_proto::wire::{self, MAX_CLIENT_REQUEST_BYTES};
use prost::Message as _;

fn submitted(response: pb::ClientResponse) -> pb::SubmitAck {
    match response.response {
        Some(Response::Submitted(ack)) => ack,
        other => panic!("expected an ack, got {other:?}"),
    }
}

fn inclusion(response: pb::ClientResponse) -> pb::InclusionAnswer {
    match response.response {
        Some(Response::Inclusion(answer)) => answer,
        other => panic!("expected an inclusion proof, got {other:?}"),
    }
}

/// Submits `entry` and checks the ack: a checkpoint signed by the log key that includes the
/// entry, with an inclusion proof that verifies against it. Returns the verified checkpoint.
async fn submit_and_verify(
    client: &mut TestClient,
    node: &TestNode,
    entry: Vec<u8>,
) -> (pb::SubmitAck, VerifiedCheckpoint) {
    let ack = submitted(client.submit(entry.clone()).await);
    assert_eq!(ack.leaf_hash, Sha256Hasher.hash_leaf(&entry).to_vec());
    let note = &ack
        .checkpoint
        .as_ref()
        .expect("ack carries a checkpoint")
        .note;
    let checkpoint = VerifiedCheckpoint::verify(note, &node.log_key).expect("signed by the log");
    assert!(checkpoint.size() > ack.index);
    let answer = inclusion(
        client
            .request(Request::Inclusion(pb::InclusionRequest {
                leaf: Some(pb::inclusion_request::Leaf::Index(ack.index)),
                tree_size: checkpoint.size(),
            }))
            .await,
    );
    assert_eq!(answer.leaf_hash, ack.leaf_hash);
    let proof = answer.proof.expect("a proof");
    assert_eq!(
        (proof.leaf_index, proof.tree_size),
        (ack.index, checkpoint.size())
    );
    proof
        .verify(&Sha256Hasher, &ack.leaf_hash, checkpoint.root())
        .expect("the inclusion proof verifies against the acked checkpoint");
    (ack, checkpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_is_acked_durably_and_everything_served_verifies() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(node.tcp_addr()).await;

    // A fresh log serves its signed empty checkpoint.
    let empty = VerifiedCheckpoint::verify(&client.checkpoint().await, &node.log_key).unwrap();
    assert_eq!(empty.size(), 0);

    let first = notarization(1);
    let (ack1, cp1) = submit_and_verify(&mut client, &node, first.clone()).await;
    assert_eq!(ack1.index, 0);
    let (ack2, cp2) = submit_and_verify(&mut client, &node, notarization(2)).await;
    assert_eq!(ack2.index, 1);

    // The latest checkpoint is the last acked one; what the node says is durable is.
    let latest = VerifiedCheckpoint::verify(&client.checkpoint().await, &node.log_key).unwrap();
    assert_eq!(latest.size(), 2);
    assert_eq!(node.gateway.head().size, 2);

    // By leaf hash, against the latest tree.
    let answer = inclusion(
        client
            .request(Request::Inclusion(pb::InclusionRequest {
                leaf: Some(pb::inclusion_request::Leaf::LeafHash(
                    ack1.leaf_hash.clone(),
                )),
                tree_size: 0,
            }))
            .await,
    );
    let proof = answer.proof.unwrap();
    assert_eq!((proof.leaf_index, proof.tree_size), (0, 2));
    proof
        .verify(&Sha256Hasher, &ack1.leaf_hash, latest.root())
        .unwrap();

    // Entries come back byte for byte.
    match client
        .request(Request::Entries(pb::EntriesRequest {
            start: 0,
            count: 10,
        }))
        .await
        .response
    {
        Some(Response::Entries(page)) => {
            assert_eq!(page.start, 0);
            assert_eq!(page.entries, vec![first, notarization(2)]);
        }
        other => panic!("expected entries, got {other:?}"),
    }

    // The second checkpoint extends the first.
    match client
        .request(Request::Consistency(pb::ConsistencyRequest {
            size1: cp1.size(),
            size2: cp2.size(),
        }))
        .await
        .response
    {
        Some(Response::Consistency(proof)) => proof
            .verify(&Sha256Hasher, cp1.root(), cp2.root())
            .expect("consistent"),
        other => panic!("expected a consistency proof, got {other:?}"),
    }

    // The same protocol over QUIC.
    let mut quic = TestClient::connect(node.quic_addr()).await;
    let over_quic = VerifiedCheckpoint::verify(&quic.checkpoint().await, &node.log_key).unwrap();
    assert_eq!(over_quic.size(), 2);

    assert_eq!(node.http_get("/health").await, (200, "ok\n".to_owned()));
    assert_eq!(node.http_get("/nowhere").await.0, 404);
    let (status, metrics) = node.http_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("herald_client_requests_total{kind=\"submit\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("herald_peers_connected 2"), "{metrics}");
    node.stop().await;
}

/// Every malformed or hostile request is answered with the right `ClientError` kind, the tree
/// does not change, and a valid submission afterwards is acked and proven.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_bad_requests_get_typed_errors_and_change_nothing() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(node.tcp_addr()).await;
    let (_, before) = submit_and_verify(&mut client, &node, notarization(1)).await;
    assert_eq!(before.size(), 1);

    let frame = |body: &[u8]| {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    };
    let submit = |entry: Vec<u8>| {
        wire::encode_frame(&pb::ClientRequest {
            request: Some(Request::Submit(pb::SubmitEntry {
                entry,
                trusted_size: 0,
                opening: None,
            })),
        })
    };
    let request = |r: Request| wire::encode_frame(&pb::ClientRequest { request: Some(r) });
    let inclusion_at = |leaf, tree_size| {
        request(Request::Inclusion(pb::InclusionRequest {
            leaf: Some(leaf),
            tree_size,
        }))
    };
    let forbidden = pb::LogEntry {
        kind: Some(pb::log_entry::Kind::Evidence(pb::Evidence {
            kind: pb::EvidenceKind::Acceptance as i32,
            msg_id: vec![1; 16],
            sender_commitment: vec![2; 32],
            recipient_commitment: vec![3; 32],
            time: 1,
            reason: String::new(),
            gateway_signature: vec![4; 64],
        })),
    };
    let mut bad_signature = pb::LogEntry::decode(notarization(2).as_slice()).unwrap();
    if let Some(pb::log_entry::Kind::Notarization(n)) = &mut bad_signature.kind {
        n.created += 1; // signed over another time
    }
    // An entry whose only field has a number no kind uses: a newer client's kind.
    let unknown_kind = vec![0xfa, 0x3f, 0x01, 0x00]; // field 1023, length-delimited, empty

    let cases: Vec<(&str, Vec<u8>, ClientErrorKind)> = vec![
        (
            "length header over the limit, body never sent",
            ((MAX_CLIENT_REQUEST_BYTES + 1) as u32)
                .to_be_bytes()
                .to_vec(),
            ClientErrorKind::TooLarge,
        ),
        (
            "malformed protobuf",
            frame(&[0xff, 0xff, 0xff, 0xff]),
            ClientErrorKind::Malformed,
        ),
        (
            "request with no kind",
            frame(&[]),
            ClientErrorKind::Malformed,
        ),
        (
            "entry of an unknown kind",
            submit(unknown_kind),
            ClientErrorKind::UnknownEntryKind,
        ),
        (
            "empty entry",
            submit(Vec::new()),
            ClientErrorKind::Malformed,
        ),
        (
            "forbidden kind",
            submit(forbidden.encode_to_vec()),
            ClientErrorKind::Forbidden,
        ),
        (
            "bad signature",
            submit(bad_signature.encode_to_vec()),
            ClientErrorKind::InvalidEntry,
        ),
        (
            "garbage entry",
            submit(vec![0xff; 8]),
            ClientErrorKind::Malformed,
        ),
        (
            "entries past the end",
            request(Request::Entries(pb::EntriesRequest { start: 1, count: 1 })),
            ClientErrorKind::OutOfRange,
        ),
        (
            "entry page of zero",
            request(Request::Entries(pb::EntriesRequest { start: 0, count: 0 })),
            ClientErrorKind::Malformed,
        ),
        (
            "inclusion of an index past the end",
            inclusion_at(pb::inclusion_request::Leaf::Index(1), 0),
            ClientErrorKind::OutOfRange,
        ),
        (
            "inclusion in a tree larger than the log",
            inclusion_at(pb::inclusion_request::Leaf::Index(0), 5),
            ClientErrorKind::OutOfRange,
        ),
        (
            "inclusion of an unknown leaf hash",
            inclusion_at(pb::inclusion_request::Leaf::LeafHash(vec![7; 32]), 0),
            ClientErrorKind::NotFound,
        ),
        (
            "inclusion by a short leaf hash",
            inclusion_at(pb::inclusion_request::Leaf::LeafHash(vec![7; 31]), 0),
            ClientErrorKind::Malformed,
        ),
        (
            "consistency with size1 > size2",
            request(Request::Consistency(pb::ConsistencyRequest {
                size1: 2,
                size2: 1,
            })),
            ClientErrorKind::OutOfRange,
        ),
        (
            "consistency past the end",
            request(Request::Consistency(pb::ConsistencyRequest {
                size1: 1,
                size2: 9,
            })),
            ClientErrorKind::OutOfRange,
        ),
        (
            "consistency from size 0",
            request(Request::Consistency(pb::ConsistencyRequest {
                size1: 0,
                size2: 1,
            })),
            ClientErrorKind::OutOfRange,
        ),
    ];
    for (what, bytes, expected) in cases {
        let Outcome::Response(body) = client.raw(bytes).await else {
            panic!("{what}: no answer");
        };
        let response: pb::ClientResponse = wire::decode_valid(&body).expect("a valid response");
        let (kind, error) = error_of(&response).unwrap_or_else(|| panic!("{what}: {response:?}"));
        assert_eq!(kind, expected, "{what}: {}", error.message);
        if kind == ClientErrorKind::OutOfRange {
            assert_eq!(error.tree_size, 1, "{what}: tells the current size");
        }
    }

    // A frame cut short (the client closed its side) is answered MALFORMED...
    let mut truncated = 100u32.to_be_bytes().to_vec();
    truncated.extend_from_slice(&[0x12, 0x05]);
    let Outcome::Response(body) = client.raw(truncated).await else {
        panic!("a truncated frame is answered");
    };
    let response: pb::ClientResponse = wire::decode_valid(&body).unwrap();
    assert_eq!(
        error_of(&response).map(|e| e.0),
        Some(ClientErrorKind::Malformed)
    );
    // ...and a frame really as large as it claims is answered TOO_LARGE, its body unread. (A
    // sender that keeps writing past the stream's flow-control window instead waits for its own
    // timeout: the node has dropped the stream and reads nothing more.)
    let mut oversized = ((MAX_CLIENT_REQUEST_BYTES + 1) as u32)
        .to_be_bytes()
        .to_vec();
    oversized.extend(std::iter::repeat_n(0u8, MAX_CLIENT_REQUEST_BYTES + 1));
    let Outcome::Response(body) = client.raw(oversized).await else {
        panic!("an oversized frame is answered");
    };
    let response: pb::ClientResponse = wire::decode_valid(&body).unwrap();
    assert_eq!(
        error_of(&response).map(|e| e.0),
        Some(ClientErrorKind::TooLarge)
    );

    // Nothing changed...
    let after = VerifiedCheckpoint::verify(&client.checkpoint().await, &node.log_key).unwrap();
    assert_eq!(after.checkpoint(), before.checkpoint());
    assert_eq!(node.gateway.head().size, 1);
    // ...every refusal was counted by kind...
    let (_, metrics) = node.http_get("/metrics").await;
    for line in [
        "herald_client_request_errors_total{kind=\"out_of_range\"} 6",
        "herald_client_request_errors_total{kind=\"malformed\"} 7",
        "herald_client_request_errors_total{kind=\"too_large\"} 2",
        "herald_client_request_errors_total{kind=\"forbidden\"} 1",
        "herald_client_request_errors_total{kind=\"invalid_entry\"} 1",
        "herald_client_request_errors_total{kind=\"unknown_entry_kind\"} 1",
        "herald_client_request_errors_total{kind=\"not_found\"} 1",
    ] {
        assert!(metrics.contains(line), "{line:?} not in\n{metrics}");
    }
    // ...and the node keeps serving, on the same connection and on a new one.
    let (ack, after) = submit_and_verify(&mut client, &node, notarization(3)).await;
    assert_eq!((ack.index, after.size()), (1, 2));
    let mut fresh = TestClient::connect(node.tcp_addr()).await;
    let (ack, _) = submit_and_verify(&mut fresh, &node, notarization(4)).await;
    assert_eq!(ack.index, 2);
    node.stop().await;
}

/// A client that opens many requests at once cannot make the node queue unbounded work: beyond
/// `max_inflight_requests` it is told BUSY, with a time to retry after, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_burst_of_requests_beyond_the_bound_is_answered_busy() {
    let node = TestNode::start("alpha.test", |c| {
        c.max_inflight_requests = 2;
        c.sequence_interval_ms = 1000;
    })
    .await;
    let mut client = TestClient::connect(node.tcp_addr()).await;
    let burst = 8;
    let ids: Vec<_> = (0..burst)
        .map(|n| {
            let frame = wire::encode_frame(&pb::ClientRequest {
                request: Some(Request::Submit(pb::SubmitEntry {
                    entry: notarization(n),
                    trusted_size: 0,
                    opening: None,
                })),
            });
            client
                .swarm
                .behaviour_mut()
                .client
                .send_request(&client.node, frame)
        })
        .collect();
    let mut answers = Vec::new();
    while answers.len() < ids.len() {
        let body = client
            .drive_until(|_, e| match e {
                libp2p::swarm::SwarmEvent::Behaviour(
                    crate::network_support::ClientBehaviourEvent::Client(
                        libp2p::request_response::Event::Message {
                            message: libp2p::request_response::Message::Response { response, .. },
                            ..
                        },
                    ),
                ) => Some(response.clone()),
                _ => None,
            })
            .await;
        answers.push(wire::decode_valid::<pb::ClientResponse>(&body).unwrap());
    }
    let busy: Vec<_> = answers.iter().filter_map(error_of).collect();
    let acked = answers.len() - busy.len();
    assert!(
        (1..=2).contains(&acked),
        "at most the bound is worked on: {acked} acks"
    );
    for (kind, error) in &busy {
        assert_eq!(*kind, ClientErrorKind::Busy);
        assert!(error.retry_after_ms > 0);
    }
    assert_eq!(node.gateway.head().size, acked as u64);
    node.stop().await;
}

/// Whether `client`'s connection to the node is refused: the node closes it at once, so the
/// first request on it fails instead of being answered.
async fn refused(client: &mut TestClient) -> bool {
    let frame = wire::encode_frame(&pb::ClientRequest {
        request: Some(Request::Checkpoint(pb::CheckpointRequest {
            cosigned: false,
        })),
    });
    matches!(client.raw(frame).await, Outcome::Failed(_))
}

/// The `herald_connections_refused_total` counter, read from `/metrics`.
async fn connections_refused(node: &TestNode) -> u64 {
    let (status, body) = node.http_get("/metrics").await;
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix("herald_connections_refused_total "))
        .expect("the metric is exported")
        .trim()
        .parse()
        .expect("a count")
}

/// Has `client` (connected once, under a bound of one connection per peer) dial `node` again,
/// and waits (at most 10 s) until the node counts that connection refused.
async fn second_connection_refused(node: &TestNode, client: &mut TestClient) {
    client.swarm.dial(node.tcp_addr()).expect("dial again");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while connections_refused(node).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second connection of one peer is never refused"
        );
        client
            .drive_for(std::time::Duration::from_millis(100))
            .await;
    }
}

/// A flood of connections cannot exhaust the node: beyond `max_incoming_connections` new
/// connections are refused and counted, the connected clients keep being served, and a slot
/// freed is a slot a new client can take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_connections_beyond_the_bound_are_refused_and_the_rest_keep_being_served() {
    let node = TestNode::start("alpha.test", |c| c.max_incoming_connections = 2).await;
    let mut first = TestClient::connect(node.tcp_addr()).await;
    let mut second = TestClient::connect(node.tcp_addr()).await;
    let mut third = TestClient::connect(node.tcp_addr()).await;
    assert!(refused(&mut third).await, "a third connection is refused");
    assert!(connections_refused(&node).await >= 1);
    drop(third);

    for client in [&mut first, &mut second] {
        let checkpoint = client.checkpoint().await;
        VerifiedCheckpoint::verify(&checkpoint, &node.log_key).expect("still served");
    }

    drop(first);
    // The node sees the closed connection a moment later; a new client then gets its slot.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut fresh = TestClient::connect(node.tcp_addr()).await;
        if !refused(&mut fresh).await {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a freed slot is never given to a new client"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    node.stop().await;
}

/// One peer cannot hold more than `max_connections_per_peer` connections: a second connection
/// from the same client is refused while its first keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_one_peer_opening_many_connections_is_held_to_the_per_peer_bound() {
    let node = TestNode::start("alpha.test", |c| c.max_connections_per_peer = 1).await;
    let mut client = TestClient::connect(node.tcp_addr()).await;
    second_connection_refused(&node, &mut client).await;
    let checkpoint = client.checkpoint().await;
    VerifiedCheckpoint::verify(&checkpoint, &node.log_key).expect("the first connection serves");
    node.stop().await;
}

/// A connection the node refuses once it is established (over the per-peer bound here; a
/// blocked peer is refused the same way) must leave no trace in the protocols that saw it
/// first: when the peer then closes its real connection, the node goes on serving. (With the
/// bounds and the block list composed after request-response, libp2p's request-response kept
/// the refused connection as a phantom; the peer's last close then tripped its bookkeeping
/// assertion and the network worker died — found by `herald-testnet chaos` when a partition
/// met a kill; rust-libp2p issue 4773.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_refused_connection_does_not_take_the_network_down_when_its_peer_leaves() {
    let node = TestNode::start("alpha.test", |c| c.max_connections_per_peer = 1).await;
    let mut client = TestClient::connect(node.tcp_addr()).await;
    second_connection_refused(&node, &mut client).await;
    // The peer leaves: its one real connection closes.
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut fresh = TestClient::connect(node.tcp_addr()).await;
    let checkpoint = fresh.checkpoint().await;
    VerifiedCheckpoint::verify(&checkpoint, &node.log_key).expect("still served");
    node.stop().await;
}
