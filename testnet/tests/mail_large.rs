//! Mail larger than one request through real gateway processes (issue 12 §1, DESIGN §3.2
//! "size limits"; `paep::transfer`): alice at d0 sends bob at d1 a mail of several MiB with
//! attachments. Her client uploads its Z to d0 in chunks, d0 checks it against sig_A and
//! queues it, relays it to d1 in chunks, d1 checks the relay signature over the whole Z and
//! keeps it sealed in bob's mailbox, bob's client fetches it by parts and opens it exactly.

mod common;
mod mail_cli_support;
mod mail_support;
mod paep_support;

use std::time::Duration;

use common::{bounded, options};
use herald_light_client::keystore::MemoryKeyStore;
use herald_light_client::{GatewayClient, MemorySessionStore, Session};
use herald_node::fault::FaultPoint;
use herald_proto::paep::transfer::{chunks, head_of};
use herald_proto::paep::{Attachment, MailContent, ReplayCache};
use herald_proto::wire::client::{AnswerError, expect_mail_accepted, expect_upload_progress};
use herald_proto::wire::{MAIL_CHUNK_BYTES, pb};
use herald_testnet::{Testnet, TestnetOptions};
use mail_support::{
    SKEW, WITHIN, evidence_kinds, inbox_of, login, outbox_state, pending, reconfigure, send, trusts,
};
use paep_support::{PASSWORD, now, register};
use tempfile::TempDir;

const BOUND: Duration = Duration::from_secs(300);
const ALICE: &str = "alice@d0.test";
const BOB: &str = "bob@d1.test";
const BODY_MARK: &[u8] = b"LARGE-PLAINTEXT-BODY-4e1f7a20";

/// `len` bytes no file would hold by chance (BLAKE3's output stream from `seed`).
fn noise(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// A mail of about 3 MiB: a marked body and two attachments.
fn large_mail() -> (Vec<u8>, Vec<Attachment>) {
    let attachments = vec![
        Attachment {
            name: "scan.pdf".into(),
            media_type: "application/pdf".into(),
            data: noise("scan", 2 * 1024 * 1024 + 17),
        },
        Attachment {
            name: "notes.txt".into(),
            media_type: "text/plain".into(),
            data: noise("notes", 900 * 1024),
        },
    ];
    let mut body = BODY_MARK.to_vec();
    body.extend(noise("body", 64 * 1024));
    (body, attachments)
}

/// How long a multi-MiB mail may take from queued to delivered. Debug-build gateways under a
/// loaded CI machine, with the file's other tests running beside it, took more than `WITHIN`
/// (40 s) once: the outbox showed one failed attempt and the mail queued for its retry. Not a
/// promise of the product's speed; `bench mail --size` measures that.
const DELIVERY: Duration = Duration::from_secs(120);

/// Waits (bounded) until the outbox lists `msg_id` delivered.
async fn delivered(
    client: &GatewayClient,
    session: &mut Session<MemorySessionStore>,
    msg_id: &[u8],
) {
    let deadline = tokio::time::Instant::now() + DELIVERY;
    loop {
        let outbox = session.outbox(client).await.unwrap();
        let entry = outbox.entries.into_iter().find(|e| e.msg_id == msg_id);
        match entry {
            Some(e) if e.state == pb::DeliveryState::Delivered as i32 => return,
            other if tokio::time::Instant::now() >= deadline => {
                panic!("mail {msg_id:?} not delivered in time: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Bob registered at d1 with two prekeys, alice at d0; both logged in.
struct Parties {
    bob_keys: MemoryKeyStore,
    bob_client: GatewayClient,
    bob: Session<MemorySessionStore>,
    alice_keys: MemoryKeyStore,
    alice_client: GatewayClient,
    alice: Session<MemorySessionStore>,
}

async fn parties(net: &Testnet) -> Parties {
    let mut bob_keys = register(net, 1, BOB, 1).await;
    let (bob_client, mut bob) = login(net, 1, BOB).await;
    bob.upload_prekeys(&bob_client, &mut bob_keys, 2, true)
        .await
        .unwrap();
    let alice_keys = register(net, 0, ALICE, 2).await;
    let (alice_client, alice) = login(net, 0, ALICE).await;
    Parties {
        bob_keys,
        bob_client,
        bob,
        alice_keys,
        alice_client,
        alice,
    }
}

/// The one mail in bob's mailbox, read (by parts) and opened, checked to be `plaintext`.
async fn bob_reads_exactly(net: &Testnet, p: &mut Parties, plaintext: &[u8]) {
    let inbox = inbox_of(&p.bob_client, &mut p.bob, 1).await;
    assert_eq!(inbox.entries.len(), 1, "{inbox:?}");
    let id = inbox.entries[0].id;
    assert!(inbox.entries[0].size > plaintext.len() as u64);
    // A batch read names it too large for one answer; the client reads it by parts.
    let batch = p
        .bob
        .read_mails(
            &p.bob_client,
            &mut p.bob_keys,
            &[id],
            &trusts(net),
            &mut ReplayCache::new(),
            now(),
            SKEW,
        )
        .await
        .unwrap();
    assert_eq!(batch.read.len(), 1);
    let (read_id, mail) = batch.read.into_iter().next().unwrap();
    assert_eq!(read_id, id);
    let mail = mail.unwrap();
    assert_eq!(mail.opened.sender, ALICE);
    assert_eq!(mail.opened.plaintext, plaintext);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_mib_mail_with_attachments_goes_through_both_gateways_in_chunks_and_bob_reads_it_exactly()
 {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let mut p = parties(&net).await;
        let (body, attachments) = large_mail();
        let m = MailContent::build("large", &body, attachments.clone()).unwrap();
        assert!(m.len() > 3_000_000, "{}", m.len());
        let accepted = send(
            &net,
            &p.alice_client,
            &mut p.alice,
            &mut p.alice_keys,
            BOB,
            b"m-large",
            &m,
        )
        .await;
        assert_eq!(accepted.msg_id, b"m-large");
        delivered(&p.alice_client, &mut p.alice, b"m-large").await;
        bob_reads_exactly(&net, &mut p, &m).await;
        let opened = MailContent::open(&m).unwrap();
        assert_eq!(opened.body, body);
        assert_eq!(opened.attachments.len(), 2);
        assert_eq!(opened.attachments[0].data, attachments[0].data);

        // The evidence points of a one-request mail were passed, once each.
        let metric = |i, kind| paep_support::counter(&net, i, "herald_mail_events", kind);
        assert_eq!(metric(0, "acceptance").await, 1.0);
        assert_eq!(metric(1, "consignment").await, 1.0);
        assert!(metric(1, "handover").await >= 1.0);

        // Mailboxes at rest: no file of either node's data directory holds the plaintext
        // (the body's mark, or a run of either attachment), nor the password.
        for i in 0..2 {
            let data = net.node(i).config().data_dir.clone();
            assert!(!mail_cli_support::files_holding(&data, b"d1.test").is_empty());
            let mid = attachments[0].data.len() / 2;
            for needle in [
                BODY_MARK,
                &attachments[0].data[mid..mid + 48],
                &attachments[1].data[1000..1048],
                PASSWORD,
            ] {
                let found = mail_cli_support::files_holding(&data, needle);
                assert!(found.is_empty(), "plaintext found in {found:?}");
            }
        }
    })
    .await;
}

/// Alice's sealed envelope of `plaintext` to bob (waiting out a binding not yet cosigned).
async fn sealed(
    net: &Testnet,
    p: &mut Parties,
    msg_id: &[u8],
    plaintext: &[u8],
) -> pb::MailEnvelope {
    mail_support::seal(
        net,
        &p.alice_client,
        &mut p.alice,
        &mut p.alice_keys,
        BOB,
        msg_id,
        plaintext,
    )
    .await
}

/// Uploads `z` under `upload_id` chunk by chunk; the refusal of the first refused chunk.
async fn upload(p: &mut Parties, upload_id: &[u8], z: &[u8]) -> Result<(), pb::ClientError> {
    for (offset, chunk) in chunks(z) {
        let request = pb::SessionRequest::upload_chunk(upload_id, z.len() as u64, offset, chunk);
        let response = p.alice.request(&p.alice_client, &request).await.unwrap();
        match expect_upload_progress(response, upload_id) {
            Ok(progress) => assert_eq!(progress.received, offset + chunk.len() as u64),
            Err(AnswerError::Refused(e)) => return Err(e),
            Err(other) => panic!("{other}"),
        }
    }
    Ok(())
}

/// Sends the upload `upload_id` as `envelope`'s mail.
async fn send_uploaded(
    p: &mut Parties,
    upload_id: &[u8],
    envelope: &pb::MailEnvelope,
) -> Result<pb::MailAccepted, pb::ClientError> {
    let request = pb::SessionRequest::send_uploaded_mail(upload_id, head_of(envelope), 0);
    let response = p.alice.request(&p.alice_client, &request).await.unwrap();
    match expect_mail_accepted(response) {
        Ok(a) => Ok(a),
        Err(AnswerError::Refused(e)) => Err(e),
        Err(other) => panic!("{other}"),
    }
}

/// Whether `e` is the gateway's BUSY (e.g. its connection to a restarted peer was lost).
fn busy(e: &herald_light_client::SessionError) -> bool {
    matches!(e, herald_light_client::SessionError::Gateway(c)
        if paep_support::refusal(c) == Some(pb::ClientErrorKind::Busy))
}

fn kind(e: &pb::ClientError) -> pb::ClientErrorKind {
    pb::ClientErrorKind::try_from(e.kind).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_tampered_chunk_is_refused_and_nothing_is_queued() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let mut p = parties(&net).await;
        let (body, attachments) = large_mail();
        let m = MailContent::build("tampered", &body, attachments).unwrap();
        let envelope = sealed(&net, &mut p, b"m-tampered", &m).await;
        let z = envelope.ciphertext.clone();

        // One byte of the second chunk altered on the way: every chunk is taken (nothing is
        // checked per chunk), the whole Z does not match sig_A's H(Z), and the mail is refused.
        let mut altered = z.clone();
        altered[MAIL_CHUNK_BYTES + 5] ^= 1;
        upload(&mut p, &[1; 16], &altered).await.unwrap();
        let refused = send_uploaded(&mut p, &[1; 16], &envelope)
            .await
            .unwrap_err();
        assert_eq!(
            kind(&refused),
            pb::ClientErrorKind::Forbidden,
            "{refused:?}"
        );
        let outbox = p.alice.outbox(&p.alice_client).await.unwrap();
        assert!(outbox.entries.is_empty(), "{outbox:?}");

        // Out of order, overlapping, and an unknown upload id: refused, nothing changes.
        let gap = pb::SessionRequest::upload_chunk(
            &[2; 16],
            z.len() as u64,
            MAIL_CHUNK_BYTES as u64,
            &z[..10],
        );
        // Upload 5 holds its first chunk; one from byte 10 goes past what it holds.
        let first =
            pb::SessionRequest::upload_chunk(&[5; 16], z.len() as u64, 0, &z[..MAIL_CHUNK_BYTES]);
        let response = p.alice.request(&p.alice_client, &first).await.unwrap();
        expect_upload_progress(response, &[5; 16]).unwrap();
        let overlap =
            pb::SessionRequest::upload_chunk(&[5; 16], z.len() as u64, 10, &z[..MAIL_CHUNK_BYTES]);
        for bad in [gap, overlap] {
            let response = p.alice.request(&p.alice_client, &bad).await.unwrap();
            match expect_upload_progress(response, &[0; 16]) {
                Err(AnswerError::Refused(e)) => {
                    assert_eq!(kind(&e), pb::ClientErrorKind::OutOfRange, "{e:?}")
                }
                other => panic!("{other:?}"),
            }
        }
        let unknown = send_uploaded(&mut p, &[3; 16], &envelope)
            .await
            .unwrap_err();
        assert_eq!(kind(&unknown), pb::ClientErrorKind::NotFound, "{unknown:?}");

        // The same envelope with its true Z goes (the refused upload changed nothing).
        upload(&mut p, &[4; 16], &z).await.unwrap();
        send_uploaded(&mut p, &[4; 16], &envelope).await.unwrap();
        delivered(&p.alice_client, &mut p.alice, b"m-tampered").await;
        bob_reads_exactly(&net, &mut p, &m).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_the_quota_or_past_the_unfinished_bound_is_refused_and_changes_nothing() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let options = TestnetOptions {
            // 1 MiB per account: a 3 MiB mail's upload passes it.
            mailbox_quota_kib: Some(1024),
            ..options(dir.path())
        };
        let net = Testnet::spawn(2, options).await.unwrap();
        let mut p = parties(&net).await;
        let (body, attachments) = large_mail();
        let m = MailContent::build("too large", &body, attachments).unwrap();
        let envelope = sealed(&net, &mut p, b"m-quota", &m).await;
        let refused = upload(&mut p, &[1; 16], &envelope.ciphertext)
            .await
            .unwrap_err();
        assert_eq!(kind(&refused), pb::ClientErrorKind::TooLarge, "{refused:?}");
        // The part taken before the quota was reached is not a mail.
        let incomplete = send_uploaded(&mut p, &[1; 16], &envelope)
            .await
            .unwrap_err();
        assert_eq!(
            kind(&incomplete),
            pb::ClientErrorKind::OutOfRange,
            "{incomplete:?}"
        );
        assert!(
            p.alice
                .outbox(&p.alice_client)
                .await
                .unwrap()
                .entries
                .is_empty()
        );

        // At most four unfinished uploads per account: a fifth is refused.
        let z = &envelope.ciphertext;
        let first =
            |id: u8| pb::SessionRequest::upload_chunk(&[id; 16], z.len() as u64, 0, &z[..100]);
        for id in 2..5 {
            let response = p.alice.request(&p.alice_client, &first(id)).await.unwrap();
            expect_upload_progress(response, &[id; 16]).unwrap();
        }
        let response = p.alice.request(&p.alice_client, &first(5)).await.unwrap();
        match expect_upload_progress(response, &[5; 16]) {
            Err(AnswerError::Refused(e)) => {
                assert_eq!(kind(&e), pb::ClientErrorKind::RateLimited, "{e:?}")
            }
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beta_killed_mid_relay_resumes_and_bob_gets_the_large_mail_once() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let mut net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let mut p = parties(&net).await;
        // d1 dies right after the first relayed chunk is durable, before answering it.
        net.set_fault(1, Some(FaultPoint::MailChunkRelayed))
            .unwrap();
        net.restart(1).await.unwrap();
        let (body, attachments) = large_mail();
        let m = MailContent::build("resumed", &body, attachments).unwrap();
        // d0's connection to the restarted d1 may be lost at first (BUSY): sent again, as a
        // user would.
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let sent = p
                .alice
                .send_mail(
                    &p.alice_client,
                    &mut p.alice_keys,
                    BOB,
                    &trusts(&net),
                    b"m-resumed",
                    &m,
                    0,
                    now(),
                    SKEW,
                )
                .await;
            match sent {
                Err(e) if (pending(&e) || busy(&e)) && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => {
                    assert_eq!(other.unwrap().msg_id, b"m-resumed");
                    break;
                }
            }
        }
        let died = herald_testnet::wait::until(WITHIN, Duration::from_millis(20), || {
            let alive = net.check_alive(1);
            async move {
                match alive {
                    Err(herald_testnet::TestnetError::Exited { .. }) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
        assert!(died.is_ok(), "d1 did not die at the fault point: {died:?}");
        net.set_fault(1, None).unwrap();
        net.restart(1).await.unwrap();
        // d0 relays again from what d1 holds; d1 takes the mail once.
        delivered(&p.alice_client, &mut p.alice, b"m-resumed").await;
        let (bob_client, bob) = login(&net, 1, BOB).await;
        p.bob_client = bob_client;
        p.bob = bob;
        bob_reads_exactly(&net, &mut p, &m).await;
        let inbox = p.bob.inbox(&p.bob_client).await.unwrap();
        assert_eq!(inbox.entries.len(), 1, "exactly one mail: {inbox:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sends_a_large_attachment_and_read_writes_it() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let (alice, bob) = mail_cli_support::sender_and_recipient(
            &net,
            dir.path(),
            ALICE,
            BOB,
            Duration::from_secs(120),
        )
        .await;

        let body = dir.path().join("body.txt");
        std::fs::write(&body, b"Bob, the scans.").unwrap();
        let big = noise("cli scan", 1536 * 1024);
        let attachment = dir.path().join("scans.bin");
        std::fs::write(&attachment, &big).unwrap();
        let sent = alice
            .send_when_cosigned(BOB, "Scans", &body, &attachment, Duration::from_secs(120))
            .await;
        let msg_id = sent["msg_id"].as_str().unwrap().to_owned();
        let id = bob.first_mail_from(ALICE, Duration::from_secs(120)).await;
        let out_dir = dir.path().join("attachments");
        let read = bob.read(id, &out_dir, Duration::from_secs(120)).await;
        assert_eq!(read["from"], ALICE);
        assert_eq!(read["subject"], "Scans");
        assert_eq!(read["msg_id"], msg_id.as_str());
        assert_eq!(std::fs::read(out_dir.join("scans.bin")).unwrap(), big);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_relay_chunks_from_an_unregistered_domain_are_refused_and_counted() {
    bounded(BOUND, async {
        use herald_light_client::Gateway as _;
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        register(&net, 1, BOB, 1).await;
        // A light client is no registered peer, whatever domain it names.
        let stranger = net.client(1).await.unwrap();
        let total = herald_proto::wire::MAX_ONE_REQUEST_CIPHERTEXT_BYTES as u64 + 1;
        let chunk = pb::ClientRequest::relay_chunk(pb::RelayMailChunk {
            from_domain: "d0.test".into(),
            sender: ALICE.into(),
            msg_id: b"m-stranger".to_vec(),
            total_len: total,
            offset: 0,
            data: vec![1; 100],
            recipient: BOB.into(),
            ..Default::default()
        });
        let head = pb::MailEnvelope {
            msg_id: b"m-stranger".to_vec(),
            sender: ALICE.into(),
            recipient: BOB.into(),
            ephemeral_key: vec![9; 32],
            prekey_id: 1,
            ciphertext: Vec::new(),
            sender_signature: vec![2; 64],
        };
        let relay = pb::RelayEnvelope {
            from_domain: "d0.test".into(),
            to_domain: "d1.test".into(),
            envelope: Some(head),
            expires_at: now() + 600,
            gateway_signature: vec![3; 64],
        };
        for request in [chunk, pb::ClientRequest::relay_large_mail(relay, total)] {
            let refused = stranger.exchange(request).await.unwrap();
            let Some(pb::client_response::Response::Error(e)) = refused.response else {
                panic!("a stranger's relay was taken: {refused:?}");
            };
            assert_eq!(e.kind, pb::ClientErrorKind::Forbidden as i32, "{e:?}");
        }
        let refused = paep_support::counter(&net, 1, "herald_relay_refused", "unregistered").await;
        assert_eq!(refused, 2.0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_mail_betas_policy_refuses_at_its_first_chunk_is_a_rejection_with_proof_and_alices_non_delivery()
 {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let mut net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        // d1 takes mails up to 1 MB; d0 up to its default.
        reconfigure(&mut net, 1, |c| c.policy.max_mail_bytes = 1_000_000).await;
        let mut p = parties(&net).await;
        let (body, attachments) = large_mail();
        let m = MailContent::build("too large for d1", &body, attachments).unwrap();
        let msg_id = b"m-refused-by-policy";
        send(
            &net,
            &p.alice_client,
            &mut p.alice,
            &mut p.alice_keys,
            BOB,
            msg_id,
            &m,
        )
        .await;

        // Alice sees d1's reason in her outbox: not delivered, refused for good.
        let entry = outbox_state(
            &p.alice_client,
            &mut p.alice,
            msg_id,
            pb::DeliveryState::NotDelivered,
            WITHIN,
        )
        .await;
        assert!(
            entry.reason.contains("the policy allows at most 1000000"),
            "{}",
            entry.reason
        );
        // d1 logged the REJECTION with the policy's reason, proved in a checkpoint d0's witness
        // cosigned; its addresses are committed with the mail's salt, as d0's ACCEPTANCE's.
        let d1_records = evidence_kinds(&net, 1, dir.path(), msg_id, 1).await;
        assert_eq!(d1_records.len(), 1, "{d1_records:?}");
        let rejection = &d1_records[0];
        assert_eq!(rejection.kind, pb::EvidenceKind::Rejection);
        assert!(
            rejection
                .reason
                .contains("the policy allows at most 1000000"),
            "{}",
            rejection.reason
        );
        let d0_records = evidence_kinds(&net, 0, dir.path(), msg_id, 2).await;
        let acceptance = (d0_records.iter())
            .find(|r| r.kind == pb::EvidenceKind::Acceptance)
            .unwrap();
        assert_eq!(rejection.sender_commitment, acceptance.sender_commitment);
        assert_eq!(
            rejection.recipient_commitment,
            acceptance.recipient_commitment
        );
        assert!(
            (d0_records.iter()).any(|r| r.kind == pb::EvidenceKind::NonDelivery),
            "{d0_records:?}"
        );

        // Nothing of it is stored at d1: bob's mailbox is empty, nothing was consigned, and
        // the refusal was counted once, at the first chunk.
        let inbox = p.bob.inbox(&p.bob_client).await.unwrap();
        assert!(inbox.entries.is_empty(), "{inbox:?}");
        let metric = |i, name, kind| paep_support::counter(&net, i, name, kind);
        assert_eq!(metric(1, "herald_mail_events", "consignment").await, 0.0);
        assert_eq!(metric(1, "herald_mail_events", "rejection").await, 1.0);
        assert_eq!(metric(1, "herald_relay_refused", "mail_size").await, 1.0);
    })
    .await;
}

/// The largest value and the queue keys (`o`: queued mail, `z`: its pieces) in the outbound
/// queue of the stopped node `i`.
fn outbox_tree(net: &Testnet, i: usize) -> (usize, usize) {
    let db = sled::Config::new()
        .path(net.node(i).config().store_dir())
        .open()
        .unwrap();
    let tree = herald_node::db::Tree::Outbox.open(&db).unwrap();
    let (mut largest, mut queue_keys) = (0, 0);
    for kv in tree.iter() {
        let (k, v) = kv.unwrap();
        largest = largest.max(v.len());
        if matches!(k.first(), Some(b'o' | b'z')) {
            queue_keys += 1;
        }
    }
    (largest, queue_keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_8_mib_mail_queued_while_beta_is_down_lies_in_pieces_survives_alphas_kill_and_arrives_whole()
 {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        // Sending an 8 MiB upload (Z put together and checked against sig_A, sealed into the
        // queue's pieces, ACCEPTANCE's round) can pass the default 15 s a request in a debug
        // build on a loaded machine.
        let options = TestnetOptions {
            request_timeout: Duration::from_secs(60),
            ..options(dir.path())
        };
        let mut net = Testnet::spawn(2, options).await.unwrap();
        let mut p = parties(&net).await;
        let attachments = vec![Attachment {
            name: "archive.bin".into(),
            media_type: "application/octet-stream".into(),
            data: noise(
                "archive",
                herald_proto::wire::MAX_MAIL_PLAINTEXT_BYTES - 64 * 1024,
            ),
        }];
        let m = MailContent::build("queued large", BODY_MARK, attachments).unwrap();
        assert!(m.len() > 8_000_000, "{}", m.len());
        // Sealed while d1 is up (its prekey), sent while it is down: d0 queues it.
        let envelope = sealed(&net, &mut p, b"m-queued-large", &m).await;
        net.stop(1).await.unwrap();
        upload(&mut p, &[7; 16], &envelope.ciphertext)
            .await
            .unwrap();
        send_uploaded(&mut p, &[7; 16], &envelope).await.unwrap();

        // d0 dies with the mail queued: its queue holds it in pieces, no record above one.
        net.kill(0).await.unwrap();
        let (largest, queue_keys) = outbox_tree(&net, 0);
        let pieces = envelope.ciphertext.len().div_ceil(MAIL_CHUNK_BYTES);
        assert_eq!(queue_keys, 1 + pieces, "the record and its pieces");
        assert!(
            largest <= MAIL_CHUNK_BYTES + 1024,
            "a record of {largest} bytes"
        );

        // Both up again: d0 relays it from its pieces; bob reads it whole.
        net.restart(0).await.unwrap();
        net.restart(1).await.unwrap();
        let (alice_client, alice) = login(&net, 0, ALICE).await;
        (p.alice_client, p.alice) = (alice_client, alice);
        delivered(&p.alice_client, &mut p.alice, b"m-queued-large").await;
        let (bob_client, bob) = login(&net, 1, BOB).await;
        (p.bob_client, p.bob) = (bob_client, bob);
        bob_reads_exactly(&net, &mut p, &m).await;

        // Delivered: nothing of it is left in d0's queue, only the delivery record.
        net.stop(0).await.unwrap();
        assert_eq!(outbox_tree(&net, 0).1, 0);
    })
    .await;
}
