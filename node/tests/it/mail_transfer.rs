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
use herald_proto::wire::pb;

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
