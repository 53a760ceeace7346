//! Certified mail riding on mail (issue 12 §4) between real gateway processes: alice@d0.test
//! writes to bob@d1.test, and every message between them — the sealed letter (a), the key
//! request (b), the optimistic variant's direct key and receipt — travels as a mail through
//! the two gateways (relayed d0 → d1 or d1 → d0, sealed to a one-time prekey, sig_A checked
//! against the sender's proven binding). No file passes between the parties: each holds only
//! its own key store, records and checkpoints. The key is published at X = d0's log and the
//! arbiter, offline, judges the bundle "received". Every wait is bounded.

mod common;

use std::time::Duration;

use common::{bounded, options};
use herald_light_client::certmail::{
    Arrival, CertifiedMailError, Delivery, Letter, RequestTerms, SenderStep,
};
use herald_proto::certmail::{Carried, CarriedError, Location};
use herald_proto::evidence::{ArbiterContext, Conclusion, arbitrate, decode_bundle};
use herald_proto::wire::pb;
use herald_testnet::Testnet;
use herald_testnet::party::{
    CHEAP_KDF, CLOCK_SKEW_SECS, MAX_MERGE_DELAY_SECS, Party, os_rng, polling, sender_config,
    unix_now,
};
use herald_testnet::postbox::{Postbox, timeline};
use tempfile::TempDir;

const BOUND: Duration = Duration::from_secs(300);
const ALICE: usize = 0;
const BOB: usize = 1;

struct World {
    _dir: TempDir,
    net: Testnet,
    alice: Party,
    bob: Party,
    alice_box: Postbox,
    bob_box: Postbox,
}

async fn world() -> World {
    let dir = TempDir::new().unwrap();
    let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
    let (mut alice, _) = Party::enrol(
        &net,
        ALICE,
        "alice@d0.test",
        &dir.path().join("alice"),
        CHEAP_KDF,
    )
    .await
    .unwrap();
    let (mut bob, _) = Party::enrol(&net, BOB, "bob@d1.test", &dir.path().join("bob"), CHEAP_KDF)
        .await
        .unwrap();
    let alice_box = Postbox::open(&net, &mut alice).await.unwrap();
    let bob_box = Postbox::open(&net, &mut bob).await.unwrap();
    World {
        _dir: dir,
        net,
        alice,
        bob,
        alice_box,
        bob_box,
    }
}

/// X (d0's log, where Alice publishes) as a location.
fn x(net: &Testnet) -> Location {
    Location::new(
        net.log_trust(ALICE).unwrap(),
        CLOCK_SKEW_SECS,
        MAX_MERGE_DELAY_SECS,
    )
    .unwrap()
}

fn terms(net: &Testnet) -> RequestTerms {
    RequestTerms {
        deadline: unix_now() + 60,
        location: x(net),
        expect: None,
    }
}

fn judge(bundle: &[u8], net: &Testnet) -> herald_proto::evidence::Verdict {
    let context = ArbiterContext {
        now: unix_now(),
        max_skew: CLOCK_SKEW_SECS,
        trusted_logs: vec![net.log_trust(BOB).unwrap()],
        ..ArbiterContext::default()
    };
    arbitrate(&decode_bundle(bundle).unwrap(), &context)
}

/// Bob's part of step (a): the next mail is Alice's sealed letter, kept as an offer.
async fn offered(w: &mut World, msg_id: &[u8]) {
    match w.bob_box.next_arrival(&mut w.bob, None).await.unwrap() {
        Arrival::Offered {
            msg_id: got,
            sender,
            ..
        } => {
            assert_eq!(got, msg_id);
            assert_eq!(sender, "alice@d0.test");
        }
        other => panic!("expected the sealed letter, got {other:?}"),
    }
    assert_eq!(w.bob.mail_ref().offers().unwrap(), vec![msg_id.to_vec()]);
    // Taken and acknowledged: the gateway holds it no more.
    assert_eq!(w.bob_box.waiting().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certified_mail_travels_as_mail_and_is_judged_received() {
    bounded(BOUND, async {
        let mut w = world().await;
        let letter = b"the contract, certified, by mail".to_vec();
        let msg_id = w
            .alice_box
            .send_letter(
                &mut w.alice,
                Letter {
                    recipient: "bob@d1.test".into(),
                    plaintext: letter.clone(),
                    sign: true,
                },
            )
            .await
            .unwrap();
        offered(&mut w, &msg_id).await;

        // (b) Bob asks for the key; the request goes to Alice as mail.
        let terms = terms(&w.net);
        let made = w
            .bob_box
            .request_key(&mut w.bob, &msg_id, terms)
            .await
            .unwrap();
        assert!(w.bob.mail_ref().offers().unwrap().is_empty());

        // Alice takes it from her mailbox and accepts it, Bob's binding proven from d1.
        let config = sender_config(x(&w.net), vec![w.net.log_trust(BOB).unwrap()], false);
        let steps = match w
            .alice_box
            .next_arrival(&mut w.alice, Some(&config))
            .await
            .unwrap()
        {
            Arrival::Accepted { msg_id: got, steps } => {
                assert_eq!(got, msg_id);
                steps
            }
            other => panic!("expected Bob's request, got {other:?}"),
        };
        let (req_hash, _) = SenderStep::publication_in(&steps).expect("a publication to make");
        assert_eq!(*req_hash, made.req_hash);

        // (c) Alice publishes at X; (d) Bob fetches it there.
        let steps = w
            .alice
            .publish(w.net.client(ALICE).await.unwrap(), &msg_id, &polling(40))
            .await
            .unwrap();
        let bundle = SenderStep::evidence_in(&steps)
            .expect("evidence once published")
            .to_vec();
        let opened = w
            .bob
            .fetch(
                &w.net.client(ALICE).await.unwrap(),
                &made.req_hash,
                &polling(40),
            )
            .await
            .unwrap();
        assert_eq!(opened.plaintext, letter);
        assert!(matches!(
            opened.delivery,
            Delivery::Published { on_time: true, .. }
        ));
        w.bob.mail().forget_request(&made.req_hash).unwrap();

        // The arbiter: received, decided by the publication.
        let verdict = judge(&bundle, &w.net);
        assert_eq!(verdict.conclusion(), Conclusion::Received, "{verdict:?}");

        // The sealed letter's mail is the certified mail's msg_id: both gateways' evidence of
        // it, proven, reads as the timeline A → S_A → S_B → B.
        let d0 = timeline(&w.net, &w.alice, ALICE, &msg_id, 1).await.unwrap();
        assert_eq!(d0.records[0].record.kind, pb::EvidenceKind::Acceptance);
        let d1 = timeline(&w.net, &w.alice, BOB, &msg_id, 3).await.unwrap();
        // In log order: a quick fetch's HANDOVER waits for the CONSIGNMENT (the recipient
        // fetched as soon as the letter was in its mailbox).
        let kinds = d1.records.iter().map(|r| r.record.kind).collect::<Vec<_>>();
        assert_eq!(
            kinds,
            [
                pb::EvidenceKind::RelayAccepted,
                pb::EvidenceKind::Consignment,
                pb::EvidenceKind::Handover
            ]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optimistic_certified_mail_sends_key_and_receipt_as_mail() {
    bounded(BOUND, async {
        let mut w = world().await;
        let letter = b"optimistic, by mail".to_vec();
        let msg_id = w
            .alice_box
            .send_letter(
                &mut w.alice,
                Letter {
                    recipient: "bob@d1.test".into(),
                    plaintext: letter.clone(),
                    sign: true,
                },
            )
            .await
            .unwrap();
        offered(&mut w, &msg_id).await;
        let terms = terms(&w.net);
        let made = w
            .bob_box
            .request_key(&mut w.bob, &msg_id, terms)
            .await
            .unwrap();

        // Alice accepts optimistically: the direct key goes back to Bob as mail at once.
        let config = sender_config(x(&w.net), vec![w.net.log_trust(BOB).unwrap()], true);
        match w
            .alice_box
            .next_arrival(&mut w.alice, Some(&config))
            .await
            .unwrap()
        {
            Arrival::Accepted { steps, .. } => {
                assert!(SenderStep::direct_key_in(&steps).is_some(), "{steps:?}");
                assert!(SenderStep::publication_in(&steps).is_none(), "{steps:?}");
            }
            other => panic!("expected Bob's request, got {other:?}"),
        }
        // Bob opens it and mails the receipt.
        match w.bob_box.next_arrival(&mut w.bob, None).await.unwrap() {
            Arrival::Opened { opened, .. } => {
                assert_eq!(opened.plaintext, letter);
                assert_eq!(opened.req_hash, made.req_hash);
                assert!(matches!(opened.delivery, Delivery::Direct { .. }));
            }
            other => panic!("expected the direct key, got {other:?}"),
        }
        w.bob.mail().forget_request(&made.req_hash).unwrap();
        // Alice takes the receipt: evidence, judged received without any publication.
        let bundle = match w.alice_box.next_arrival(&mut w.alice, None).await.unwrap() {
            Arrival::Receipt(steps) => SenderStep::evidence_in(&steps)
                .expect("evidence from the receipt")
                .to_vec(),
            other => panic!("expected Bob's receipt, got {other:?}"),
        };
        assert_eq!(bundle, w.alice.mail_ref().evidence(&msg_id).unwrap());
        let verdict = judge(&bundle, &w.net);
        assert_eq!(verdict.conclusion(), Conclusion::Received, "{verdict:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_sealed_letter_mailed_by_another_account_is_refused() {
    bounded(BOUND, async {
        let mut w = world().await;
        let (mut carol, _) = Party::enrol(
            &w.net,
            ALICE,
            "carol@d0.test",
            &w._dir.path().join("carol"),
            CHEAP_KDF,
        )
        .await
        .unwrap();
        let mut carol_box = Postbox::open(&w.net, &mut carol).await.unwrap();
        // Alice seals a letter (offline, not sent); Carol, who got hold of it, mails it to Bob
        // as if it were hers to deliver.
        let (msg_id, steps) = w
            .alice
            .mail()
            .send(
                Letter {
                    recipient: "bob@d1.test".into(),
                    plaintext: b"not Carol's".to_vec(),
                    sign: true,
                },
                &mut os_rng(),
            )
            .unwrap();
        let sealed =
            herald_light_client::certmail::decode_sealed(SenderStep::sealed_in(&steps).unwrap())
                .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        loop {
            match carol_box
                .mail_carried(
                    &mut carol,
                    "bob@d1.test",
                    &msg_id,
                    &Carried::Sealed(sealed.clone()),
                )
                .await
            {
                Ok(_) => break,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("carol's mail: {e}"),
            }
        }
        match w.bob_box.next_arrival(&mut w.bob, None).await.unwrap() {
            Arrival::Refused { sender, error, .. } => {
                assert_eq!(sender, "carol@d0.test");
                assert!(
                    matches!(
                        *error,
                        CertifiedMailError::Carried(CarriedError::NotTheAuthor { .. })
                    ),
                    "{error}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Nothing kept, and the refused mail is gone from the mailbox.
        assert!(w.bob.mail_ref().offers().unwrap().is_empty());
        assert_eq!(w.bob_box.waiting().await.unwrap(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_letter_that_cannot_travel_as_mail_leaves_no_record() {
    bounded(BOUND, async {
        let mut w = world().await;
        // To a domain nobody trusts: refused before anything is handed over.
        let unknown = w
            .alice_box
            .send_letter(
                &mut w.alice,
                Letter {
                    recipient: "nobody@d9.test".into(),
                    plaintext: b"lost".to_vec(),
                    sign: true,
                },
            )
            .await;
        assert!(unknown.is_err(), "{unknown:?}");
        // Too large for one mail: refused with the limit (the file-based flow carries it).
        let large = w
            .alice_box
            .send_letter(
                &mut w.alice,
                Letter {
                    recipient: "bob@d1.test".into(),
                    plaintext: vec![b'x'; 70 * 1024],
                    sign: true,
                },
            )
            .await;
        assert!(
            matches!(
                large,
                Err(herald_testnet::postbox::PostboxError::CertMail(
                    CertifiedMailError::Malformed {
                        error: herald_proto::wire::WireError::TooLarge { .. },
                        ..
                    }
                ))
            ),
            "{large:?}"
        );
        assert!(w.alice.mail_ref().sent().unwrap().is_empty());
        assert_eq!(w.bob_box.waiting().await.unwrap(), 0);
    })
    .await;
}
