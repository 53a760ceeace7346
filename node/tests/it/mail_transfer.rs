//! A mail relayed in chunks (issue 12 §1, `paep::transfer`) on real in-process gateways: alpha
//! (S_A) speaks to beta (S_B) as the registered peer it is, through its own network handle. A
//! chunk altered after S_A signed the relay makes the whole Z fail the relay signature (which
//! covers H(Z)): beta refuses the mail, counts it, stores nothing, and drops the chunks so the
//! true ones can be relayed again.

use crate::certmail_support::now;
use crate::witness_support::{Domain, register_all};
use herald_proto::paep::sign_relay;
use herald_proto::paep::transfer::{chunks, head_of};
use herald_proto::wire::client::{AnswerError, expect_relay_accepted, expect_relay_chunk_progress};
use herald_proto::wire::{MAIL_CHUNK_BYTES, pb};

const ALICE: &str = "alice@alpha.test";
const BOB: &str = "bob@beta.test";

/// The value of `name{kind="kind"}` in a `/metrics` page (0 when absent).
fn counter(page: &str, name: &str, kind: &str) -> f64 {
    let prefix = format!("{name}{{kind=\"{kind}\"}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Alpha relays `relay` to beta in chunks, the byte at `altered` (if any) flipped on the way;
/// beta's answer to the relay envelope that follows.
async fn relay_in_chunks(
    alpha: &Domain,
    beta: &Domain,
    relay: &pb::RelayEnvelope,
    altered: Option<usize>,
) -> Result<pb::RelayAccepted, AnswerError> {
    let envelope = relay.envelope.clone().unwrap();
    let mut z = envelope.ciphertext.clone();
    if let Some(at) = altered {
        z[at] ^= 1;
    }
    let ask = |request| {
        alpha.gateway.handle().client_request(
            beta.gateway.peer_id(),
            beta.config.listen.clone(),
            request,
        )
    };
    for (offset, chunk) in chunks(&z) {
        let response = ask(pb::ClientRequest::relay_chunk(pb::RelayMailChunk {
            from_domain: "alpha.test".into(),
            sender: ALICE.into(),
            msg_id: envelope.msg_id.clone(),
            total_len: z.len() as u64,
            offset,
            data: chunk.to_vec(),
            recipient: String::new(),
            ..Default::default()
        }))
        .await
        .unwrap();
        let progress = expect_relay_chunk_progress(response, &envelope.msg_id).unwrap();
        assert_eq!(progress.received, offset + chunk.len() as u64);
    }
    let head = pb::RelayEnvelope {
        envelope: Some(head_of(&envelope)),
        ..relay.clone()
    };
    let response = ask(pb::ClientRequest::relay_large_mail(head, z.len() as u64))
        .await
        .unwrap();
    expect_relay_accepted(response, &envelope.msg_id)
}

fn refused_kind(outcome: Result<pb::RelayAccepted, AnswerError>) -> pb::ClientErrorKind {
    match outcome {
        Err(AnswerError::Refused(e)) => pb::ClientErrorKind::try_from(e.kind).unwrap(),
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_relayed_chunk_altered_after_signing_is_refused_and_nothing_is_stored() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    register_all(&[&alpha, &beta]).await;
    let envelope = pb::MailEnvelope {
        msg_id: b"m-relayed-large".to_vec(),
        sender: ALICE.into(),
        recipient: BOB.into(),
        ephemeral_key: vec![9; 32],
        prekey_id: 1,
        ciphertext: (0..150_000u32).map(|i| (i % 253) as u8).collect(),
        sender_signature: vec![2; 64],
    };
    let relay = sign_relay(
        envelope,
        "alpha.test",
        now() + 600,
        alpha.keys.log.signing_key(),
    )
    .unwrap();

    // One byte of the third chunk altered: every chunk is taken, the whole is refused.
    let altered = relay_in_chunks(&alpha, &beta, &relay, Some(100_000)).await;
    assert_eq!(refused_kind(altered), pb::ClientErrorKind::Forbidden);
    let page = beta.metrics().await;
    assert_eq!(
        counter(&page, "herald_relay_refused_total", "bad_signature"),
        1.0
    );
    assert_eq!(
        counter(&page, "herald_mail_events_total", "consignment"),
        0.0
    );

    // The chunks were dropped: the true Z is relayed from the start and passes the relay
    // signature (it is refused next only because beta has no account bob).
    let honest = relay_in_chunks(&alpha, &beta, &relay, None).await;
    assert_eq!(refused_kind(honest), pb::ClientErrorKind::NotFound);
    let page = beta.metrics().await;
    assert_eq!(
        counter(&page, "herald_relay_refused_total", "bad_signature"),
        1.0
    );
    assert_eq!(
        counter(&page, "herald_relay_refused_total", "unknown_recipient"),
        1.0
    );
    assert_eq!(
        counter(&page, "herald_mail_events_total", "consignment"),
        0.0
    );
    drop((alpha, beta));
}

/// The value of the series `name{labels}` in a `/metrics` page (0 when absent).
fn series(page: &str, name: &str, labels: &str) -> f64 {
    let prefix = format!("{name}{{{labels}}} ");
    page.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A chunk of `z` at `offset` of alpha's relay of `msg_id` to beta, naming `recipient` (empty:
/// as a peer that does not name it).
fn chunk_of(msg_id: &[u8], z: &[u8], offset: usize, recipient: &str) -> pb::ClientRequest {
    chunk_from(ALICE, msg_id, z, offset, recipient)
}

fn chunk_from(
    sender: &str,
    msg_id: &[u8],
    z: &[u8],
    offset: usize,
    recipient: &str,
) -> pb::ClientRequest {
    let end = (offset + MAIL_CHUNK_BYTES).min(z.len());
    pb::ClientRequest::relay_chunk(pb::RelayMailChunk {
        from_domain: "alpha.test".into(),
        sender: sender.into(),
        msg_id: msg_id.to_vec(),
        total_len: z.len() as u64,
        offset: offset as u64,
        data: z[offset..end].to_vec(),
        recipient: recipient.into(),
        ..Default::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_over_beta_size_limit_is_refused_at_its_first_chunk_with_its_reason_and_nothing_is_held()
 {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |c| c.policy.max_mail_bytes = 100_000).await;
    register_all(&[&alpha, &beta]).await;
    let ask = |request| {
        alpha.gateway.handle().client_request(
            beta.gateway.peer_id(),
            beta.config.listen.clone(),
            request,
        )
    };
    let msg_id = b"m-over-the-size-limit";
    let z: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();

    // The first chunk names the recipient and the total: beta's policy refuses it there.
    let response = ask(chunk_of(msg_id, &z, 0, BOB)).await.unwrap();
    match expect_relay_chunk_progress(response, msg_id) {
        Err(AnswerError::Refused(e)) => {
            assert_eq!(e.kind, pb::ClientErrorKind::Forbidden as i32);
            assert!(
                e.message.contains("the policy allows at most 100000"),
                "{}",
                e.message
            );
        }
        other => panic!("not refused: {other:?}"),
    }
    let page = beta.metrics().await;
    assert_eq!(
        counter(&page, "herald_relay_refused_total", "mail_size"),
        1.0
    );
    assert_eq!(
        series(
            &page,
            "herald_policy_rejections_total",
            "reason=\"mail_size\",from=\"peer\""
        ),
        1.0
    );

    // Nothing was held: the next chunk (from a peer that names no recipient, so no early
    // policy) is out of order, and that refusal is counted too.
    let response = ask(chunk_of(msg_id, &z, MAIL_CHUNK_BYTES, ""))
        .await
        .unwrap();
    match expect_relay_chunk_progress(response, msg_id) {
        Err(AnswerError::Refused(e)) => {
            assert_eq!(
                e.kind,
                pb::ClientErrorKind::OutOfRange as i32,
                "{}",
                e.message
            )
        }
        other => panic!("not refused: {other:?}"),
    }
    // A chunk naming a sender of another domain is refused and counted.
    let foreign = chunk_from("mallory@gamma.test", msg_id, &z, 0, "");
    assert!(matches!(
        expect_relay_chunk_progress(ask(foreign).await.unwrap(), msg_id),
        Err(AnswerError::Refused(_))
    ));
    let page = beta.metrics().await;
    assert_eq!(
        counter(&page, "herald_relay_refused_total", "out_of_range"),
        1.0
    );
    assert_eq!(
        counter(&page, "herald_relay_refused_total", "wrong_sender"),
        1.0
    );
    // A mail within the limit still goes chunk by chunk (to a recipient beta lacks).
    let small: Vec<u8> = z[..90_000].to_vec();
    for offset in (0..small.len()).step_by(MAIL_CHUNK_BYTES) {
        let response = ask(chunk_of(b"m-within", &small, offset, BOB))
            .await
            .unwrap();
        expect_relay_chunk_progress(response, b"m-within").unwrap();
    }
    drop((alpha, beta));
}
