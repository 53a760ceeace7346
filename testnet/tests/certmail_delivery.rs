//! Certified mail delivered across real node processes (DESIGN §3.3): a 3-domain testnet,
//! the sender alice-…@d0.test, the recipient bob-…@d1.test, X = d0's log cosigned by d1 and d2.
//! The honest run, the optimistic run (with a receipt, and published when none comes), the
//! evidence bundle judged by the offline arbiter, a tampered bundle, and absence proofs.
//!
//! The parties are the light client's (`herald_testnet::Party` wraps its key store, records
//! and driver); every check is proto's or the light client's. The tests share one testnet and
//! enrol fresh accounts each, so they do not interfere. Proto-level attacks on bundles and
//! absence proofs are unit-tested in `proto/tests/arbiter_*.rs`; here they run on what real
//! gateways served.

mod certmail_support;

use certmail_support::*;
use herald_light_client::certmail::{Delivery, SenderStatus, SenderStep};
use herald_light_client::{Gateway as _, prove_absence};
use herald_proto::evidence::{
    AbsenceError, Check, Outcome, arbitrate, arbitrate_bytes, decode_bundle, verify_absence,
};
use herald_proto::wire::pb::{self, evidence_bundle};
use herald_testnet::party::{CLOCK_SKEW_SECS, unix_now};

const FILE: &str = "certmail-delivery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_mail_is_published_at_the_senders_log_cosigned_by_the_others_and_judged_received()
{
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "honest").await;
        let (made, bundle) = p.deliver(net, "contract v1", 60).await;

        // The bundle's publication: in d0's log, cosigned by d1's and d2's witnesses by T + δ.
        let decoded = decode_bundle(&bundle).unwrap();
        let Some(evidence_bundle::Delivery::Publication(publication)) = &decoded.delivery else {
            panic!("a publication bundle")
        };
        let leaf = publication.leaf.clone().unwrap();
        let x = location(net);
        let proven = x
            .log()
            .verify_included(&leaf, made_limit(&made), unix_now(), CLOCK_SKEW_SECS)
            .expect("included and cosigned in time");
        let mut cosigners: Vec<&str> = proven
            .checkpoint()
            .cosignatures()
            .iter()
            .map(|c| c.name())
            .collect();
        cosigners.sort();
        assert_eq!(cosigners, ["d1.test/witness", "d2.test/witness"]);
        assert_eq!(proven.origin(), "d0.test/herald");

        // Bob finds it at X, checks it against his trusted checkpoint, and reads M.
        let opened = p.fetch(net, &made.req_hash).await.expect("bob opens it");
        assert_eq!(opened.plaintext, b"contract v1");
        assert_eq!(
            opened.delivery,
            Delivery::Published {
                index: proven.index(),
                on_time: true
            }
        );

        // The arbiter, offline: received, decided by the timely cosigned publication.
        let verdict = arbitrate_bytes(&bundle, &arbiter(net)).unwrap();
        assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
        assert_eq!(verdict.decided_by, Check::PublicationCosignedInTime);
        assert!(verdict.fully_trusted(), "{verdict}");
    })
    .await;
}

/// `T + δ` of a request, as the signed request says.
fn made_limit(made: &herald_light_client::certmail::RequestMade) -> u64 {
    let signed = herald_light_client::certmail::decode_request(&made.request).unwrap();
    herald_proto::certmail::verify_request(&signed)
        .unwrap()
        .publication_limit()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_optimistic_mail_ends_with_the_receipt_and_nothing_is_published() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "receipt").await;
        let (msg_id, sealed) = p.send("invoice 7");
        let made = p.request(net, &sealed, unix_now() + 60);
        let steps = p.accept(net, &made.request, true).unwrap();
        assert!(
            !steps.iter().any(|s| matches!(s, SenderStep::Publish { .. })),
            "{steps:?}"
        );
        let direct = direct_key_bytes(&steps);

        let opened = p
            .bob
            .mail()
            .take_direct_key(&direct, unix_now())
            .expect("the direct key opens the mail");
        assert_eq!(opened.plaintext, b"invoice 7");
        let receipt = opened.receipt.expect("a receipt to send back");
        let steps = p.alice.mail().take_receipt(&receipt, unix_now()).unwrap();
        let bundle = evidence_bytes(&steps);
        assert_eq!(
            p.alice.mail_ref().sender_status(&msg_id, unix_now()).unwrap(),
            SenderStatus::Done
        );

        let verdict = arbitrate_bytes(&bundle, &arbiter(net)).unwrap();
        assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
        assert!(
            matches!(verdict.decided_by, Check::Receipt | Check::ReceiptKeyBound),
            "{verdict}"
        );
        // Nothing named the request at X.
        let err = net
            .client(SENDER)
            .await
            .unwrap()
            .publication(&made.req_hash)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, herald_light_client::ClientError::Refused(r) if r.kind == pb::ClientErrorKind::NotFound),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_optimistic_mail_without_a_receipt_is_published_at_its_publish_by_time() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "noreceipt").await;
        let (msg_id, sealed) = p.send("invoice 8");
        let made = p.request(net, &sealed, unix_now() + 8);
        let steps = p.accept(net, &made.request, true).unwrap();
        // Bob never answers the direct key. Alice waits until publish-by = T − publishing time.
        let SenderStatus::AwaitingReceipt { publish_by, .. } = p
            .alice
            .mail_ref()
            .sender_status(&msg_id, unix_now())
            .unwrap()
        else {
            panic!("awaiting a receipt")
        };
        assert!(steps.contains(&SenderStep::WakeAt(publish_by)), "{steps:?}");
        // Too early, the timer only re-arms.
        let early = p.alice.mail().sender_timer(&msg_id, unix_now()).unwrap();
        assert!(
            !early
                .iter()
                .any(|s| matches!(s, SenderStep::Publish { .. }))
        );
        while unix_now() < publish_by {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let steps = p.alice.mail().sender_timer(&msg_id, unix_now()).unwrap();
        publish_step(&steps);
        let bundle = evidence_bytes(&p.publish(net, &msg_id).await);

        let opened = p.fetch(net, &made.req_hash).await.expect("bob opens it");
        assert_eq!(opened.plaintext, b"invoice 8");
        let verdict = arbitrate_bytes(&bundle, &arbiter(net)).unwrap();
        assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
        assert_eq!(verdict.decided_by, Check::PublicationCosignedInTime);
    })
    .await;
}

/// Flipping the lowest or the highest bit of any byte of a bundle real gateways made must make
/// it unreadable or change the verdict (proto's `arbiter_tamper.rs` does the same on bundles it
/// builds itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_tampered_bundle_fails_to_parse_or_changes_the_verdict() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "tamper").await;
        let (_, bundle) = p.deliver(net, "tamper with me", 60).await;
        let ctx = arbiter(net);
        let honest = arbitrate_bytes(&bundle, &ctx).unwrap();
        assert_eq!(honest.outcome, Outcome::Received, "{honest}");
        let mut survived = Vec::new();
        let mut not_shown = 0;
        for i in 0..bundle.len() {
            for mask in [0x01u8, 0x80] {
                let mut t = bundle.clone();
                t[i] ^= mask;
                match arbitrate_bytes(&t, &ctx) {
                    Ok(v) if v == honest => survived.push((i, mask)),
                    Ok(v) if v.outcome == Outcome::NotShown => not_shown += 1,
                    _ => {}
                }
            }
        }
        assert_eq!(survived, Vec::<(usize, u8)>::new());
        assert!(
            not_shown > bundle.len(),
            "{not_shown} flips were judged not shown"
        );
    })
    .await;
}

/// B's defence: between a checkpoint cosigned before the request (by `created − 2δ`) and one
/// cosigned after `T + δ`, no leaf of X names the request — shown for a mail nobody published,
/// refused for a mail that was published in the same window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absence_is_shown_when_nothing_was_published_and_refused_when_something_was() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "absence").await;
        let gateway = net.client(SENDER).await.unwrap();
        let before = cosigned_note(net, &gateway).await;
        let cosigned_at = quorum_time(net, &before);
        wait_until(cosigned_at + 2 * CLOCK_SKEW_SECS + 1).await;

        let (_, unpublished) = p.send("never published");
        let (published_id, published) = p.send("published");
        let deadline = unix_now() + 5;
        let absent = p.request(net, &unpublished, deadline);
        let present = p.request(net, &published, deadline);
        p.accept(net, &present.request, false).unwrap();
        evidence_bytes(&p.publish(net, &published_id).await);
        wait_until(made_limit(&absent) + 1).await;
        // A leaf after T + δ, so that a checkpoint is cosigned after it.
        let author = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        gateway
            .submit(herald_testnet::load::notarization_entry(&author, unix_now(), 256).unwrap())
            .await
            .unwrap();
        let after = loop {
            let note = cosigned_note(net, &gateway).await;
            if quorum_time(net, &note) > made_limit(&absent) {
                break note;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };

        let signed = |made: &herald_light_client::certmail::RequestMade| {
            herald_light_client::certmail::decode_request(&made.request).unwrap()
        };
        let (proof, shown) = prove_absence(&gateway, &signed(&absent), &before, &after, unix_now())
            .await
            .expect("absence is shown");
        assert!(shown.to_size > shown.from_size);
        let offline = verify_absence(&proof, unix_now()).expect("it verifies offline");
        assert_eq!(offline.request.req_hash(), &absent.req_hash);

        let err = prove_absence(&gateway, &signed(&present), &before, &after, unix_now())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                herald_light_client::AbsenceBuildError::NotShown(
                    AbsenceError::PublicationFound { .. }
                )
            ),
            "{err:?}"
        );
        // And the published one is judged received.
        let bundle = p.alice.mail_ref().evidence(&published_id).unwrap();
        let verdict = arbitrate(&decode_bundle(&bundle).unwrap(), &arbiter(net));
        assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
    })
    .await;
}

/// The latest cosigned checkpoint of X, as note bytes with its cosignatures.
async fn cosigned_note(
    net: &herald_testnet::Testnet,
    gateway: &herald_light_client::GatewayClient,
) -> Vec<u8> {
    let note = gateway.cosigned_checkpoint().await.unwrap().note;
    location(net)
        .policy()
        .verify(&note, unix_now(), CLOCK_SKEW_SECS)
        .expect("cosigned by X's witnesses");
    note
}

fn quorum_time(net: &herald_testnet::Testnet, note: &[u8]) -> u64 {
    location(net)
        .policy()
        .verify(note, unix_now(), CLOCK_SKEW_SECS)
        .unwrap()
        .quorum_time()
}

async fn wait_until(t: u64) {
    while unix_now() < t {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
