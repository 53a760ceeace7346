//! Attacks on certified mail that are meaningful across real node processes (DESIGN §3.3):
//! each is a named test on a shared 3-domain testnet (sender in d0, recipient in d1, X = d0's
//! log cosigned by d1 and d2) showing the attack refused by whoever must refuse it — the
//! sender's client, the recipient's client, or the gateway.
//!
//! The rest of DESIGN's list is proto's to refuse and is unit-tested there, on inputs no honest
//! gateway would serve: a ciphertext opening under two keys (`proto/tests/certmail_two_key.rs`);
//! deadline in the past, too far, request dated ahead (`certmail_refusals.rs`); below quorum,
//! unknown witness, the same witness twice, future timestamps, truncated or over-long inclusion
//! proofs, index ≥ size, duplicates where the lowest index wins, a receipt over another c_K
//! (`arbiter_publication.rs`); bundles with wrong H(C), c_K or a bad signature
//! (`arbiter_verdicts.rs`).

mod certmail_support;

use std::time::Duration;

use certmail_support::*;
use herald_light_client::certmail::{
    CertMail, CertifiedMailError, MemoryRecordStore, RequestTerms,
};
use herald_light_client::keystore::{MemoryKeyStore, SecureKeyStore as _};
use herald_light_client::{ClientError, Gateway as _, VerifyError};
use herald_proto::certmail::CertMailError;
use herald_proto::evidence::{Check, Outcome, arbitrate_bytes, decode_bundle};
use herald_proto::identity::NotBound;
use herald_proto::wire::pb::{self, evidence_bundle};
use herald_testnet::party::{CLOCK_SKEW_SECS, earliest_deadline, os_rng, polling, unix_now};
use prost::Message as _;

const FILE: &str = "certmail-attacks";

fn refused(result: Result<impl std::fmt::Debug, CertifiedMailError>) -> CertMailError {
    match result {
        Err(CertifiedMailError::Refused(e)) => e,
        other => panic!("expected proto's refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_request_with_a_bad_signature_is_refused_by_the_sender() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "badsig").await;
        let (msg_id, sealed) = p.send("m");
        let made = p.request(net, &sealed, unix_now() + 60);
        let mut forged = herald_light_client::certmail::decode_request(&made.request).unwrap();
        forged.signature[7] ^= 0x10;
        let err = refused(p.accept(net, &forged.encode_to_vec(), false));
        assert!(
            matches!(
                err,
                CertMailError::Signature {
                    what: "request",
                    ..
                }
            ),
            "{err:?}"
        );
        // Nothing changed: the genuine request is still accepted and the mail delivered.
        p.accept(net, &made.request, false).expect("accepted");
        evidence_bytes(&p.publish(net, &msg_id).await);
        assert_eq!(p.fetch(net, &made.req_hash).await.unwrap().plaintext, b"m");
    })
    .await;
}

/// Mallory makes a key store for bob's address (never registered) and asks for the key of a
/// mail she intercepted: the request is signed by a key that is not bob's bound key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_request_signed_by_a_key_not_bound_to_the_recipient_is_refused() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "unbound").await;
        let (_, sealed) = p.send("for bob only");
        let mut keys = MemoryKeyStore::new();
        keys.create_identity(p.bob.account()).unwrap();
        let mut mallory = CertMail::new(keys, MemoryRecordStore::new());
        let terms = RequestTerms {
            deadline: unix_now() + 60,
            location: location(net),
            expect: None,
        };
        let made = mallory
            .request(&sealed, terms, unix_now(), &mut os_rng())
            .unwrap();
        let err = refused(p.accept(net, &made.request, false));
        assert!(
            matches!(
                err,
                CertMailError::BindingMismatch {
                    field: "identity key"
                }
            ),
            "{err:?}"
        );
    })
    .await;
}

/// Bob's account is disabled (the gateway logs a revocation of his key); a request he signs
/// with the old key afterwards is refused: the key is not bound at `created`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_request_signed_after_the_key_was_revoked_is_refused() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "revoked").await;
        let (_, sealed) = p.send("after the revocation");
        let report = net
            .node(RECIPIENT)
            .disable_account(p.bob.account())
            .await
            .unwrap();
        assert!(report.revocation_index.is_some(), "{report:?}");
        // Alice asks d1 again: the answer now carries the revocation (served once cosigned).
        let trust = recipient_domain(net);
        let answer = herald_testnet::wait::until(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async {
                let a = p
                    .alice
                    .binding(net, RECIPIENT, p.bob.account(), &trust)
                    .await
                    .map_err(|e| e.to_string())?;
                if a.revocations().is_empty() {
                    Err("no revocation yet".to_owned())
                } else {
                    Ok(a)
                }
            },
        )
        .await
        .expect("the revocation is served");
        let in_force = answer.revocations()[0].in_force_from();
        while unix_now() <= in_force {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let made = p.request(net, &sealed, unix_now() + 60);
        p.binding = answer;
        let err = refused(p.accept(net, &made.request, false));
        assert!(
            matches!(err, CertMailError::NotBound(NotBound::Revoked { .. })),
            "{err:?}"
        );
        // The operator's view agrees: disabled, with the revocation's index.
        let accounts = net.node(RECIPIENT).accounts().await.unwrap();
        let listed = accounts
            .accounts
            .iter()
            .find(|a| a.account == p.bob.account())
            .unwrap();
        assert_eq!(listed.state, "disabled");
        assert_eq!(listed.revocation_index, report.revocation_index);
    })
    .await;
}

/// The sealed message is changed in transit (a byte of C, or c_K): Bob's request names what he
/// received, which is not what Alice sent, and Alice refuses to publish a key for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_request_for_another_ciphertext_or_key_commitment_is_refused() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "mismatch").await;
        for (field, edit) in [
            (
                "ciphertext hash",
                Box::new(|m: &mut pb::SealedMessage| m.ciphertext[0] ^= 1)
                    as Box<dyn Fn(&mut pb::SealedMessage)>,
            ),
            (
                "key commitment",
                Box::new(|m: &mut pb::SealedMessage| m.key_commitment[0] ^= 1),
            ),
        ] {
            let letter = herald_light_client::certmail::Letter {
                recipient: p.bob.account().to_owned(),
                plaintext: b"as sent".to_vec(),
                // Unsigned, so Bob cannot tell the tampering himself.
                sign: false,
            };
            let (_, steps) = p.alice.mail().send(letter, &mut os_rng()).unwrap();
            let sealed = tampered_sealed(&sealed_bytes(&steps), |m| edit(m));
            let made = p.request(net, &sealed, unix_now() + 60);
            let err = refused(p.accept(net, &made.request, false));
            assert_eq!(err, CertMailError::Mismatch { field }, "{field}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_deadline_too_soon_to_publish_is_refused() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "soon").await;
        let (_, sealed) = p.send("hurry");
        // One second short of MMD + witness period + margin.
        let made = p.request(net, &sealed, earliest_deadline(unix_now()) - 1);
        let err = refused(p.accept(net, &made.request, false));
        assert!(
            matches!(err, CertMailError::DeadlineTooSoon { .. }),
            "{err:?}"
        );
    })
    .await;
}

/// Bob names X = d2's log, where Alice does not publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_an_unknown_location_is_refused() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "elsewhere").await;
        let (_, sealed) = p.send("where?");
        let terms = RequestTerms {
            deadline: unix_now() + 60,
            location: net.location(THIRD, CLOCK_SKEW_SECS, 2).unwrap(),
            expect: None,
        };
        let made = p
            .bob
            .mail()
            .request(&sealed, terms, unix_now(), &mut os_rng())
            .unwrap();
        let err = refused(p.accept(net, &made.request, false));
        assert_eq!(
            err,
            CertMailError::UnknownLocation {
                origin: "d2.test/herald".into()
            }
        );
    })
    .await;
}

/// A second publication for the same request — the same leaf again, or another leaf naming the
/// req_hash — is refused by the gateway; lookups keep answering the first, which the arbiter
/// judges the lowest (proto's `duplicate_publications_the_lowest_index_wins` covers a log that
/// holds both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_duplicate_publications_are_refused_and_the_first_one_counts() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "duplicate").await;
        let (msg_id, sealed) = p.send("once");
        let made = p.request(net, &sealed, unix_now() + 60);
        let leaf = publish_step(&p.accept(net, &made.request, false).unwrap());
        let bundle = evidence_bytes(&p.publish(net, &msg_id).await);
        let Some(evidence_bundle::Delivery::Publication(first)) =
            decode_bundle(&bundle).unwrap().delivery
        else {
            panic!("a publication bundle")
        };
        let first_index = first.leaf.unwrap().proof.unwrap().leaf_index;

        // Another leaf naming the request, signed by Alice's key, wrapping another secret.
        let request = herald_proto::certmail::verify_request(
            &herald_light_client::certmail::decode_request(&made.request).unwrap(),
        )
        .unwrap();
        let other = herald_proto::certmail::publication_entry(
            &request,
            &herald_proto::certmail::MessageKey::generate(&mut os_rng()),
            &herald_proto::certmail::ephemeral_secret(&mut os_rng()),
            p.alice.mail_ref().keys(),
            unix_now(),
        )
        .unwrap();
        // Sent with its opening, as a client sends a sealed publication: what refuses it is
        // the duplicate, not a missing opening.
        let identity = p.alice.mail_ref().keys().identity().unwrap();
        let opening =
            herald_proto::certmail::publication_opening(&request, identity.key.to_bytes()).unwrap();
        let gateway = net.client(SENDER).await.unwrap();
        for again in [leaf, other] {
            let err = gateway
                .submit_publication(again, opening.clone(), 0)
                .await
                .unwrap_err();
            assert!(
                matches!(&err, ClientError::Refused(r) if r.kind == pb::ClientErrorKind::Duplicate),
                "{err:?}"
            );
        }
        let served = gateway.publication(&made.req_hash).await.unwrap();
        assert_eq!(served.proof.unwrap().leaf_index, first_index);
        let verdict = arbitrate_bytes(&bundle, &arbiter(net)).unwrap();
        assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
        let lowest = verdict.check(Check::LowestIndex).unwrap();
        assert_eq!(
            lowest.status,
            herald_proto::evidence::Status::Passed,
            "{verdict}"
        );
    })
    .await;
}

/// A gateway answers Bob's lookup with the (genuine, cosigned) publication of another request:
/// his client refuses it as the gateway's misbehaviour, opens nothing, and the honest answer
/// still opens the mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_publication_for_another_request_is_refused_by_the_fetch() {
    bounded(async {
        let w = shared(FILE).await;
        let net = &w.net;
        let mut p = pair(net, &w.dir, "swapped").await;
        let (first, _) = p.deliver(net, "first letter", 60).await;
        let (second, _) = p.deliver(net, "second letter", 60).await;
        let lying = Swapping {
            inner: net.client(SENDER).await.unwrap(),
            asked: second.req_hash,
            served: first.req_hash,
        };
        let err = p
            .bob
            .fetch(&lying, &second.req_hash, &polling(10))
            .await
            .unwrap_err();
        let CertifiedMailError::Gateway(e) = &err else {
            panic!("{err:?}")
        };
        assert!(e.is_peer_misbehaviour(), "{err:?}");
        assert!(
            matches!(
                e.verification(),
                Some(VerifyError::AnswerMismatch {
                    what: "req_hash of the publication",
                    ..
                })
            ),
            "{err:?}"
        );
        let opened = p.fetch(net, &second.req_hash).await.unwrap();
        assert_eq!(opened.plaintext, b"second letter");
    })
    .await;
}
