//! C2SP tlog-witness over HTTP between two Herald nodes: alpha witnesses beta's log through
//! `POST /add-checkpoint`, with the same held state and compare-and-swap as
//! `/herald/witness/1`, and every answer code of the spec.

use std::time::Duration;

use crate::witness_support::{Domain, FakeLog, WAIT};
use ed25519_dalek::SigningKey;
use herald_light_client::http::{HttpAnswer, HttpClient, HttpRequest};
use herald_proto::checkpoint::{Cosignature, VerifiedCheckpoint};
use herald_proto::entry::Notarization;
use herald_proto::tlog_witness::{encode_add_checkpoint, parse_size_body};
use herald_proto::wire::pb;
use prost::Message as _;

/// Appends `count` notarizations to `domain`'s log and waits for the checkpoint of its new
/// size: (size, checkpoint note).
async fn grow(domain: &Domain, from: u64, count: u64) -> (u64, Vec<u8>) {
    let intake = domain.gateway.intake().clone();
    let author = SigningKey::from_bytes(&[9; 32]);
    for n in from..from + count {
        let entry = Notarization {
            digest: *blake3::hash(&n.to_le_bytes()).as_bytes(),
            media_type: "text/plain".into(),
            label: format!("document {n}"),
            created: 1_800_000_000 + n,
        }
        .sign(&author)
        .encode_to_vec();
        intake.submit(entry).await.expect("appended");
    }
    let started = std::time::Instant::now();
    loop {
        let head = domain.gateway.head();
        if head.size >= from + count && !head.checkpoint.is_empty() {
            return (head.size, head.checkpoint);
        }
        assert!(started.elapsed() < WAIT, "no checkpoint in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(client: &HttpClient, witness: &Domain, body: &[u8]) -> HttpAnswer {
    let url = format!("http://{}/add-checkpoint", witness.gateway.http_addr());
    client
        .send(HttpRequest {
            method: "POST",
            url: &url,
            bearer: None,
            body: Some(("text/plain", body)),
        })
        .await
        .expect("an answer")
}

fn request(old_size: u64, proof: Vec<Vec<u8>>, checkpoint: &[u8]) -> Vec<u8> {
    encode_add_checkpoint(&pb::AddCheckpointRequest {
        old_size,
        consistency_proof: proof,
        checkpoint: checkpoint.to_vec(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_witnesses_another_over_c2sp_http_with_every_answer_code() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    // alpha witnesses beta (beta does not know alpha, so only these requests move the state).
    alpha.register(&beta.record()).await;
    let origin = beta.origin();
    let client = HttpClient::new(WAIT, 1 << 20).unwrap();
    let (s1, cp1) = grow(&beta, 0, 5).await;

    // 404: an origin no registered peer has.
    let gamma = FakeLog::new("gamma.test", 90, 3);
    let answer = post(&client, &alpha, &request(0, vec![], &gamma.checkpoint(3))).await;
    assert_eq!(answer.status, 404, "{}", answer.body_text(200));
    // 403: beta's origin, signed by another key.
    let impostor = FakeLog::new("beta.test", 70, 3);
    let answer = post(
        &client,
        &alpha,
        &request(0, vec![], &impostor.checkpoint(3)),
    )
    .await;
    assert_eq!(answer.status, 403, "{}", answer.body_text(200));
    // 400: a malformed body, and an old size past the checkpoint.
    let answer = post(&client, &alpha, b"old 01\n\nnot a checkpoint\n").await;
    assert_eq!(answer.status, 400);
    let answer = post(&client, &alpha, &request(s1 + 1, vec![], &cp1)).await;
    assert_eq!(answer.status, 400, "{}", answer.body_text(200));
    // 405: the path takes POST only.
    let url = format!("http://{}/add-checkpoint", alpha.gateway.http_addr());
    assert_eq!(client.get(&url).await.unwrap().status, 405);
    assert_eq!(
        alpha.held(&origin),
        None,
        "nothing refused changed the state"
    );

    // 200: the first checkpoint from size 0; the cosignature is alpha's, over beta's checkpoint.
    let answer = post(&client, &alpha, &request(0, vec![], &cp1)).await;
    assert_eq!(answer.status, 200, "{}", answer.body_text(200));
    let line = String::from_utf8(answer.body).unwrap();
    assert!(line.starts_with("— ") && line.ends_with('\n'), "{line}");
    let checkpoint = VerifiedCheckpoint::verify(&cp1, &beta.keys.log_verifier()).unwrap();
    let cosignature = Cosignature::parse(line.trim_end()).unwrap();
    alpha
        .keys
        .witness_verifier()
        .verify(&checkpoint, &cosignature)
        .unwrap();
    assert_eq!(alpha.held(&origin).map(|h| h.0), Some(s1));

    let (s2, cp2) = grow(&beta, s1, 5).await;
    let proof: Vec<Vec<u8>> = beta
        .gateway
        .store()
        .consistency_proof(s1, s2)
        .unwrap()
        .iter()
        .map(|h| h.to_vec())
        .collect();
    assert!(!proof.is_empty());
    // 409 with the held size: the client's old size is not the one held.
    let answer = post(&client, &alpha, &request(0, vec![], &cp2)).await;
    assert_eq!(answer.status, 409);
    assert_eq!(answer.content_type.as_deref(), Some("text/x.tlog.size"));
    assert_eq!(parse_size_body(&answer.body), Some(s1));
    // 422: a consistency proof that does not verify.
    let mut bad = proof.clone();
    bad[0][0] ^= 1;
    let answer = post(&client, &alpha, &request(s1, bad, &cp2)).await;
    assert_eq!(answer.status, 422, "{}", answer.body_text(200));
    assert_eq!(alpha.held(&origin).map(|h| h.0), Some(s1));
    // 200: the right proof advances the held state, the one /herald/witness/1 uses too.
    let answer = post(&client, &alpha, &request(s1, proof, &cp2)).await;
    assert_eq!(answer.status, 200, "{}", answer.body_text(200));
    assert_eq!(alpha.held(&origin).map(|h| h.0), Some(s2));
    // The held checkpoint again: cosigned again, nothing moves.
    let answer = post(&client, &alpha, &request(s2, vec![], &cp2)).await;
    assert_eq!(answer.status, 200, "{}", answer.body_text(200));
    assert_eq!(alpha.held(&origin).map(|h| h.0), Some(s2));

    alpha.stop().await;
    beta.stop().await;
}

/// `[[witnessed_logs]]`: a node witnesses a C2SP log that is no peer of it — the log's key in
/// the configuration is all it needs — with the same judgement and held state as for a peer,
/// and a log that is not configured stays unknown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_c2sp_log_is_witnessed_without_being_a_peer() {
    let mut log = FakeLog::new("tiles.example", 40, 3);
    let key = log.keys.log_verifier().to_string();
    let alpha = Domain::start("alpha.test", |c| {
        c.witnessed_logs = vec![herald_node::config::WitnessedLog {
            key: key.clone(),
            hash: herald_proto::merkle::HashAlgorithm::Blake3,
        }];
    })
    .await;
    let origin = log.origin();
    let client = HttpClient::new(WAIT, 1 << 20).unwrap();

    // Another log, not configured: unknown. The configured origin under another key: refused.
    let stranger = FakeLog::new("other.example", 50, 3);
    let answer = post(
        &client,
        &alpha,
        &request(0, vec![], &stranger.checkpoint(3)),
    )
    .await;
    assert_eq!(answer.status, 404, "{}", answer.body_text(200));
    let impostor = FakeLog::new("tiles.example", 60, 3);
    let answer = post(
        &client,
        &alpha,
        &request(0, vec![], &impostor.checkpoint(3)),
    )
    .await;
    assert_eq!(answer.status, 403, "{}", answer.body_text(200));
    assert_eq!(alpha.held(&origin), None);

    // The log's own checkpoints: cosigned from size 0, then advanced with a consistency proof.
    let answer = post(&client, &alpha, &request(0, vec![], &log.checkpoint(3))).await;
    assert_eq!(answer.status, 200, "{}", answer.body_text(200));
    let checkpoint =
        VerifiedCheckpoint::verify(&log.checkpoint(3), &log.keys.log_verifier()).unwrap();
    let cosignature =
        Cosignature::parse(String::from_utf8(answer.body).unwrap().trim_end()).unwrap();
    alpha
        .keys
        .witness_verifier()
        .verify(&checkpoint, &cosignature)
        .unwrap();
    log.grow_to(9);
    let answer = post(&client, &alpha, &request(0, vec![], &log.checkpoint(9))).await;
    assert_eq!(answer.status, 409, "the held size is 3");
    assert_eq!(parse_size_body(&answer.body), Some(3));
    let answer = post(
        &client,
        &alpha,
        &request(3, log.proof(3, 9), &log.checkpoint(9)),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body_text(200));
    assert_eq!(alpha.held(&origin).map(|h| h.0), Some(9));
    // A fork of what was cosigned is not cosigned.
    let fork = log.forked_at(1);
    let answer = post(&client, &alpha, &request(9, vec![], &fork.checkpoint(9))).await;
    assert_ne!(answer.status, 200, "{}", answer.body_text(200));
    assert_eq!(alpha.held(&origin).map(|h| h.0), Some(9));

    alpha.stop().await;
}

/// `[[external_witnesses]]`: a log pushes its checkpoints to a C2SP witness over HTTP and counts
/// its cosignatures toward the quorum. Here the witness is another Herald node that witnesses
/// this log as a `[[witnessed_logs]]` entry: neither registered the other as a peer, so only
/// the two C2SP HTTP doors connect them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_reaches_its_quorum_through_an_external_c2sp_witness() {
    let witness = Domain::start("beta.test", |_| {}).await;
    let url = format!("http://{}", witness.gateway.http_addr());
    let witness_key = witness.keys.witness_verifier();
    let log = Domain::start("alpha.test", |c| {
        c.quorum = 1;
        c.external_witnesses = vec![herald_node::config::ExternalWitness {
            url: url.clone(),
            key: witness_key.to_string(),
        }];
    })
    .await;
    // Until the witness is told of the log it answers 404 (the log backs off); restarted on the
    // same address with the log's key in its configuration, it cosigns.
    let mut stopped = witness.stop().await;
    stopped.config.witnessed_logs = vec![herald_node::config::WitnessedLog {
        key: log.keys.log_verifier().to_string(),
        hash: log.config.hash,
    }];
    let witness = stopped.start().await;
    let origin = log.origin();
    for round in 0..2u64 {
        let (size, _) = grow(&log, round * 4, 4).await;
        crate::witness_support::eventually("cosigned by the external witness", || async {
            log.cosigned_size() >= Some(size)
        })
        .await;
        let note = log.cosigned().unwrap();
        let checkpoint = VerifiedCheckpoint::verify(&note, &log.keys.log_verifier()).unwrap();
        assert!(
            (checkpoint.cosignatures().iter())
                .any(|c| c.name() == witness_key.name() && c.key_id() == witness_key.key_id()),
            "the stored checkpoint carries the external witness's cosignature"
        );
        // The witness moved its held state for the log (from 0, then by a consistency proof).
        assert!(witness.held(&origin).is_some_and(|(held, _)| held >= size));
    }
    log.stop().await;
    witness.stop().await;
}

/// A C2SP witness that answers a byte at a time: it reads the request, sends a head promising
/// 16000 bytes (within the node's 16 KiB bound on a witness's answer, so only time cuts it
/// off), then a byte every 100 ms (at most 100: a bounded loop). Reports how long each
/// connection lasted until the node went away (a write failed).
async fn trickling_witness() -> (String, tokio::sync::mpsc::UnboundedReceiver<Duration>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (lasted, connections) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let lasted = lasted.clone();
            tokio::spawn(async move {
                let accepted = std::time::Instant::now();
                let mut buf = [0u8; 8192];
                let _ = stream.read(&mut buf).await;
                let head = b"HTTP/1.1 200 OK\r\nContent-Length: 16000\r\n\r\n";
                if stream.write_all(head).await.is_ok() {
                    for _ in 0..100 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if stream.write_all(b"x").await.is_err() {
                            let _ = lasted.send(accepted.elapsed());
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, connections)
}

/// `[[external_witnesses]]` that trickles its answer: each push is given up at its bound (the
/// request timeout and a second, the whole exchange), and neither the log nor anything else
/// waits on it: entries are sequenced and checkpointed meanwhile, the failure is counted, and
/// no cosigned checkpoint is stored (the quorum is not reached).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_external_witness_is_given_up_in_time_and_the_log_does_not_wait() {
    let (url, mut connections) = trickling_witness().await;
    let witness_key = herald_node::keys::NodeKeys::from_seeds("gamma.test", [[40; 32]; 3])
        .unwrap()
        .witness_verifier();
    let request_timeout = Duration::from_millis(1000);
    let log = Domain::start("alpha.test", |c| {
        c.quorum = 1;
        c.request_timeout_ms = request_timeout.as_millis() as u64;
        c.external_witnesses = vec![herald_node::config::ExternalWitness {
            url,
            key: witness_key.to_string(),
        }];
    })
    .await;
    // Entries are sequenced and checkpointed while the first push is still being trickled.
    let (size, _) = grow(&log, 0, 4).await;
    assert!(
        connections.try_recv().is_err(),
        "the log waited for its witness"
    );
    // The push's bound (`request_timeout` + 1 s), with margin for two shared cores; the node
    // gives up well before the witness's 10 s of trickling.
    let bound = request_timeout + Duration::from_secs(1);
    let lasted = tokio::time::timeout(WAIT, connections.recv())
        .await
        .expect("the node gave up a trickled push")
        .unwrap();
    assert!(
        lasted >= request_timeout && lasted < bound + Duration::from_millis(1500),
        "a push lasted {lasted:?}"
    );
    crate::witness_support::eventually("the failed push counted", || async {
        let page = log.metrics().await;
        crate::witness_support::metric(&page, "herald_cosign_requests_total") >= 1.0
    })
    .await;
    assert_eq!(log.cosigned_size(), None);
    assert!(log.gateway.head().size >= size);
    log.stop().await;
}
