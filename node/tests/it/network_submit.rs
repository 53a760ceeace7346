//! Batched and one-round-trip submission over real libp2p (DESIGN §6), and the per-peer
//! submission limits (reliability review F8): a light client (`GatewayClient` + `TrustedLog`) against a
//! running node, each ack verified with the log's key.

use std::time::Duration;

use crate::network_support::{TestNode, notarization};
use ed25519_dalek::SigningKey;
use herald_light_client::{
    ClientConfig, ClientError, GatewayClient, LogTrust, MemoryCheckpointStore, TrustedLog,
};
use herald_proto::entry::{Notarization, sign_notarization_batch};
use herald_proto::wire::MAX_CLIENT_REQUEST_BYTES;
use herald_proto::wire::pb::{self, ClientErrorKind};
use prost::Message as _;

const CONNECT: Duration = Duration::from_secs(10);

type Log = TrustedLog<GatewayClient, MemoryCheckpointStore>;

async fn open(node: &TestNode) -> Log {
    let client = GatewayClient::connect(&node.tcp_addr(), CONNECT)
        .await
        .expect("connect");
    // The log's own hash, as configured (SHA-256 by default).
    let trust = LogTrust::unwitnessed(node.log_key.clone(), node.gateway.store().algorithm());
    TrustedLog::open(client, trust, MemoryCheckpointStore::new()).expect("open")
}

/// A notarization whose signature does not cover its label: refused `INVALID_ENTRY`.
fn forged(n: u64) -> Vec<u8> {
    let mut entry = pb::LogEntry::decode(notarization(n).as_slice()).unwrap();
    let Some(pb::log_entry::Kind::Notarization(note)) = &mut entry.kind else {
        unreachable!("notarization() makes notarizations")
    };
    note.label.push_str(", amended");
    entry.encode_to_vec()
}

/// A counter's value in `/metrics` text (0 when absent).
async fn metric(node: &TestNode, line_start: &str) -> u64 {
    let (_, text) = node.http_get("/metrics").await;
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_bad_entry_refuses_that_entry_and_no_other() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let mut log = open(&node).await;
    log.refresh().await.unwrap();
    // Two plain notarizations, a forged one, and a signed batch of five of which one item was
    // changed after signing: two refusals, the other six logged in request order.
    let items: Vec<Notarization> = (0..5u8)
        .map(|i| Notarization {
            digest: [i; 32],
            media_type: String::new(),
            label: format!("item {i}"),
            created: 1_800_000_000,
        })
        .collect();
    let mut batch: Vec<Vec<u8>> =
        sign_notarization_batch(&items, &SigningKey::from_bytes(&[9; 32]))
            .unwrap()
            .iter()
            .map(prost::Message::encode_to_vec)
            .collect();
    let mut amended = pb::LogEntry::decode(batch[3].as_slice()).unwrap();
    if let Some(pb::log_entry::Kind::BatchNotarization(n)) = &mut amended.kind {
        n.label = "item 3, amended".into();
    }
    batch[3] = amended.encode_to_vec();
    let mut entries = vec![notarization(1), notarization(2), forged(3)];
    entries.extend(batch);
    let outcomes = log.submit_batch(entries.clone()).await.unwrap();
    let refused: Vec<usize> = (0..outcomes.len())
        .filter(|i| outcomes[*i].is_err())
        .collect();
    assert_eq!(
        refused,
        [2, 6],
        "the forged entry and the amended batch item only"
    );
    for i in refused {
        assert_eq!(
            outcomes[i].as_ref().unwrap_err().kind,
            ClientErrorKind::InvalidEntry
        );
    }
    let indexes: Vec<u64> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(|e| e.index())
        .collect();
    assert_eq!(
        indexes,
        (0..6).collect::<Vec<u64>>(),
        "consecutive, in order"
    );
    for (outcome, entry) in outcomes.iter().zip(&entries) {
        if let Ok(logged) = outcome {
            assert_eq!(
                logged.entry(),
                entry.as_slice(),
                "each proved with its own bytes"
            );
        }
    }
    // Durable before acknowledged: the node's published head holds them all.
    assert_eq!(node.gateway.head().size, 6);
    assert_eq!(log.trusted().unwrap().size(), 6);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_is_verified_from_its_ack_in_one_round_trip() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let mut log = open(&node).await;
    log.submit_encoded(notarization(1)).await.unwrap();
    log.submit_encoded(notarization(2)).await.unwrap();
    // The second ack carried its inclusion proof and the consistency proof from 1 to 2: the
    // client asked for no proof and no checkpoint for it.
    let entry = log.submit_encoded(notarization(3)).await.unwrap();
    assert_eq!(entry.index(), 2);
    assert_eq!(log.trusted().unwrap().size(), 3);
    assert_eq!(
        metric(&node, "herald_client_requests_total{kind=\"submit\"} ").await,
        3
    );
    // One checkpoint request in all: the client stream's opening request, which shows the
    // gateway took the stream; none per submission.
    assert_eq!(
        metric(&node, "herald_client_requests_total{kind=\"checkpoint\"} ").await,
        1
    );
    for kind in ["inclusion", "consistency"] {
        assert_eq!(
            metric(
                &node,
                &format!("herald_client_requests_total{{kind=\"{kind}\"}} ")
            )
            .await,
            0,
            "no {kind} request"
        );
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_peer_over_its_submission_limits_is_told_rate_limited_with_retry_after() {
    let node = TestNode::start("alpha.test", |c| {
        c.peer_submit_rate = 1;
        c.peer_submit_burst = 3;
    })
    .await;
    let mut log = open(&node).await;
    let outcomes = log
        .submit_batch((0..3).map(notarization).collect())
        .await
        .unwrap();
    assert!(outcomes.iter().all(Result::is_ok), "the burst is allowed");
    let refusal = match log.submit_encoded(notarization(10)).await {
        Err(ClientError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(refusal.kind, ClientErrorKind::RateLimited);
    let after = refusal.retry_after.expect("a time to retry after");
    assert!(
        after > Duration::ZERO && after <= Duration::from_secs(1),
        "{after:?}"
    );
    assert_eq!(
        node.gateway.head().size,
        3,
        "nothing appended for a refusal"
    );
    // Another peer has its own bucket.
    let mut other = open(&node).await;
    other.submit_encoded(notarization(11)).await.unwrap();
    assert_eq!(metric(&node, "herald_submit_rate_limited_total ").await, 1);
    assert_eq!(
        metric(
            &node,
            "herald_client_request_errors_total{kind=\"rate_limited\"} "
        )
        .await,
        1
    );
    // After the wait, the first peer is served again.
    tokio::time::sleep(after).await;
    log.submit_encoded(notarization(12)).await.unwrap();
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_peer_over_its_byte_limit_is_told_rate_limited() {
    let node = TestNode::start("alpha.test", |c| {
        c.peer_submit_bytes_rate = 1;
        c.peer_submit_bytes_burst = 70_000;
    })
    .await;
    let mut log = open(&node).await;
    // Each notarization is some 150 bytes: the burst holds a few hundred, then it is empty.
    let mut limited = None;
    for n in 0..1000 {
        match log
            .submit_batch((n * 50..n * 50 + 50).map(notarization).collect())
            .await
        {
            Ok(_) => {}
            Err(ClientError::Refused(r)) => {
                limited = Some(r);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let refusal = limited.expect("the byte limit is reached");
    assert_eq!(refusal.kind, ClientErrorKind::RateLimited);
    assert!(
        refusal.retry_after.unwrap() > Duration::from_secs(60),
        "1 byte/s refills slowly"
    );
    node.stop().await;
}

/// A batch over `/herald/client/1`'s request limit travels whole on the client stream: one
/// request, every entry appended and verified from the one ack. Without the stream the client
/// refuses the same batch before sending anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_entries_are_cut_into_batches_of_what_the_transport_carries() {
    // `herald log submit` of many files goes through `submit_batches`: on a client stream a
    // request carries a whole batch, on `/herald/client/1` one of MAX_CLIENT_REQUEST_BYTES.
    let node = TestNode::start("alpha.test", |_| {}).await;
    let requests = || {
        metric(
            &node,
            "herald_client_requests_total{kind=\"submit_batch\"} ",
        )
    };
    let entries: Vec<Vec<u8>> = (0..1500).map(notarization).collect();
    let bytes: usize = entries.iter().map(Vec::len).sum();
    assert!(bytes > 2 * MAX_CLIENT_REQUEST_BYTES, "{bytes} bytes");

    let mut log = open(&node).await;
    let outcomes = log
        .submit_batches(entries.clone())
        .await
        .expect("submitted");
    assert!(outcomes.iter().all(Result::is_ok));
    assert!(log.gateway().is_pipelined().await);
    assert_eq!(requests().await, 1, "one request on the client stream");

    let plain = ClientConfig {
        pipelined: false,
        ..ClientConfig::default()
    };
    let client = GatewayClient::connect_with(&node.tcp_addr(), &plain)
        .await
        .expect("connect");
    let trust = LogTrust::unwitnessed(node.log_key.clone(), node.gateway.store().algorithm());
    let mut log = TrustedLog::open(client, trust, MemoryCheckpointStore::new()).expect("open");
    let more: Vec<Vec<u8>> = (1500..3000).map(notarization).collect();
    let outcomes = log.submit_batches(more).await.expect("submitted");
    assert_eq!(outcomes.len(), 1500);
    for (i, outcome) in outcomes.iter().enumerate() {
        assert_eq!(outcome.as_ref().expect("accepted").index(), 1500 + i as u64);
    }
    let plain_requests = requests().await - 1;
    let least = bytes.div_ceil(MAX_CLIENT_REQUEST_BYTES) as u64;
    assert!(
        (least..=least + 1).contains(&plain_requests),
        "{plain_requests} requests of at most {MAX_CLIENT_REQUEST_BYTES} bytes for {bytes}"
    );
    assert_eq!(node.gateway.head().size, 3000);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_a_plain_request_travels_whole_on_the_client_stream() {
    let node = TestNode::start("alpha.test", |_| {}).await;
    let mut log = open(&node).await;
    let entries: Vec<Vec<u8>> = (0..1024).map(notarization).collect();
    let bytes: usize = entries.iter().map(Vec::len).sum();
    assert!(bytes > MAX_CLIENT_REQUEST_BYTES, "{bytes} bytes");
    let outcomes = log.submit_batch(entries.clone()).await.expect("one batch");
    for (i, outcome) in outcomes.iter().enumerate() {
        let entry = outcome.as_ref().expect("accepted");
        assert_eq!(entry.index(), i as u64);
    }
    assert!(log.gateway().is_pipelined().await);
    assert_eq!(
        metric(
            &node,
            "herald_client_requests_total{kind=\"submit_batch\"} "
        )
        .await,
        1,
        "one request for the whole batch"
    );
    assert_eq!(node.gateway.head().size, 1024);

    let plain = ClientConfig {
        pipelined: false,
        ..ClientConfig::default()
    };
    let client = GatewayClient::connect_with(&node.tcp_addr(), &plain)
        .await
        .expect("connect");
    let trust = LogTrust::unwitnessed(node.log_key.clone(), node.gateway.store().algorithm());
    let mut log = TrustedLog::open(client, trust, MemoryCheckpointStore::new()).expect("open");
    let refused = log
        .submit_batch((2000..3024).map(notarization).collect())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ClientError::InvalidRequest(_)),
        "{refused}"
    );
    assert_eq!(
        metric(
            &node,
            "herald_client_requests_total{kind=\"submit_batch\"} "
        )
        .await,
        1,
        "nothing sent"
    );
    assert_eq!(node.gateway.head().size, 1024);
    node.stop().await;
}
