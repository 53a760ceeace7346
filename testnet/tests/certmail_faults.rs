//! Certified mail when the location X misbehaves, across real node processes (DESIGN §3.3):
//! a publication cosigned only after T + δ (X cut off from its witnesses until then), and a
//! publication in a log that then equivocated. Each test has its own 3-domain testnet (they
//! cut or fork d0) and they run one at a time.
//!
//! The late-publication bundle is what a dishonest sender could present: she runs proto's
//! sender machine herself (it refuses the late inclusion and lapses, as the light client's
//! driver does for the honest mail beside it), then builds a bundle from her own record and
//! the late leaf. The arbiter must say "not shown". Proto unit-tests the same verdicts on
//! bundles it builds (`proto/tests/arbiter_publication.rs`: `late_publication_is_not_shown`,
//! `publication_in_a_log_that_equivocated_is_not_shown`).

mod certmail_support;

use std::time::Duration;

use certmail_support::*;
use herald_light_client::certmail::{Delivery, SenderStatus, SenderStep, decode_sealed};
use herald_light_client::{Gateway as _, VerifyError};
use herald_proto::certmail::CertMailError;
use herald_proto::certmail::sender::{
    Outgoing, RequestArrived, Sealed, SenderAction, SenderInput, SenderPolicy, SenderState,
    ToRecipient,
};
use herald_proto::equivocation::Equivocation;
use herald_proto::evidence::{ArbiterContext, BUNDLE_VERSION, Check, Outcome, arbitrate};
use herald_proto::wire::pb::{self, evidence_bundle};
use herald_testnet::party::{
    CLOCK_SKEW_SECS, MARGIN_SECS, MAX_WAIT_SECS, WITNESS_PERIOD_SECS, earliest_deadline, os_rng,
    polling, unix_now,
};
use prost::Message as _;
use tempfile::TempDir;
use tokio::sync::Mutex;

/// One faulty testnet at a time: the late-publication test is about timing.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// Bound on "eventually": a heal, a detection.
const SETTLE: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_publication_cosigned_after_t_plus_delta_is_not_shown() {
    let _one = ONE_AT_A_TIME.lock().await;
    bounded(async {
        let dir = TempDir::new().unwrap();
        let net = spawn(dir.path(), false).await;
        let mut p = pair(&net, dir.path(), "late").await;
        let x = location(&net);

        // Two mails, both requested with the tightest deadline Alice accepts.
        let (honest_id, honest_sealed) = p.send("on time or not at all");
        let policy = SenderPolicy {
            locations: vec![x.clone()],
            witness_period: WITNESS_PERIOD_SECS,
            margin: MARGIN_SECS,
            max_wait: MAX_WAIT_SECS,
            max_clock_skew: CLOCK_SKEW_SECS,
            optimistic: false,
        };
        let outgoing = Outgoing {
            sender: p.alice.account().to_owned(),
            recipient: p.bob.account().to_owned(),
            msg_id: b"forged-late".to_vec(),
            plaintext: b"I claim you got this".to_vec(),
            sign: true,
        };
        // Signed inside Alice's key store, as her driver would.
        let alice_keys = p.alice.mail_ref().keys();
        let (sealed, actions) = Sealed::seal(outgoing, alice_keys, policy, &mut os_rng()).unwrap();
        let forged_sealed = actions
            .iter()
            .find_map(|a| match a {
                SenderAction::Send(ToRecipient::Sealed(m)) => Some(m.encode_to_vec()),
                _ => None,
            })
            .unwrap();
        let deadline = earliest_deadline(unix_now());
        let honest = p.request(&net, &honest_sealed, deadline);
        let forged = p.request(&net, &forged_sealed, deadline);
        let limit = deadline + CLOCK_SKEW_SECS;
        p.accept(&net, &honest.request, false).unwrap();
        let arrived = RequestArrived {
            request: herald_light_client::certmail::decode_request(&forged.request).unwrap(),
            binding: p.binding.binding().clone(),
            revocations: p.binding.revocations().to_vec(),
        };
        let (machine, actions) = SenderState::Sealed(sealed)
            .handle(
                SenderInput::Request(Box::new(arrived)),
                p.alice.mail_ref().keys(),
                unix_now(),
                &mut os_rng(),
            )
            .unwrap();
        let leaf = actions
            .iter()
            .find_map(|a| match a {
                SenderAction::Publish(leaf) => Some(leaf.clone()),
                _ => None,
            })
            .unwrap();

        // X is cut off from its witnesses: both leaves are logged, neither is cosigned.
        net.cut(SENDER).await.unwrap();
        let gateway = net.client(SENDER).await.unwrap();
        // The leaf is sealed: it goes with its opening, as a client sends it.
        let forged_request = herald_proto::certmail::verify_request(
            &herald_light_client::certmail::decode_request(&forged.request).unwrap(),
        )
        .unwrap();
        let ik = herald_light_client::keystore::SecureKeyStore::identity(p.alice.mail_ref().keys())
            .unwrap();
        let opening =
            herald_proto::certmail::publication_opening(&forged_request, ik.key.to_bytes())
                .unwrap();
        gateway.submit_publication(leaf, opening, 0).await.unwrap();
        let lapsed = loop {
            match p
                .alice
                .publish(net.client(SENDER).await.unwrap(), &honest_id, &polling(30))
                .await
            {
                Ok(steps) => break steps,
                // The second of T + δ itself: not lapsed yet, not proven either.
                Err(e) if unix_now() <= limit + 1 => {
                    eprintln!("publish before the limit: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(lapsed, vec![SenderStep::Lapsed]);
        assert!(matches!(
            p.alice.mail_ref().sender_status(&honest_id, unix_now()),
            Ok(SenderStatus::Lapsed { .. })
        ));
        assert!(unix_now() > limit);

        // Healed: the witnesses cosign now, after T + δ.
        net.heal(SENDER).await.unwrap();
        net.wait_connected(SETTLE).await.unwrap();
        let late = herald_testnet::wait::until(SETTLE, Duration::from_millis(100), || async {
            let answer = gateway
                .publication(&forged.req_hash)
                .await
                .map_err(|e| e.to_string())?;
            x.log()
                .verify_included(&answer, u64::MAX, unix_now(), CLOCK_SKEW_SECS)
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(answer)
        })
        .await
        .expect("the late publication is cosigned after the heal");
        let cosigned = x
            .log()
            .verify_included(&late, u64::MAX, unix_now(), CLOCK_SKEW_SECS)
            .unwrap();
        assert!(cosigned.checkpoint().quorum_time() > limit);

        // The machine refuses it, and lapses: an honest sender has no evidence.
        let Err(refused) = machine.handle(
            SenderInput::Included(late.clone()),
            p.alice.mail_ref().keys(),
            unix_now(),
            &mut os_rng(),
        ) else {
            panic!("a late inclusion was taken")
        };
        assert!(
            matches!(refused.error, CertMailError::Inclusion(_)),
            "{:?}",
            refused.error
        );
        let (SenderState::Lapsed(lapsed), _) = refused
            .state
            .handle(
                SenderInput::Timer,
                p.alice.mail_ref().keys(),
                unix_now(),
                &mut os_rng(),
            )
            .unwrap()
        else {
            panic!("lapsed after T + δ")
        };

        // Bob reads both, and knows they came late.
        for made in [&honest, &forged] {
            let opened = p.fetch(&net, &made.req_hash).await.unwrap();
            assert!(
                matches!(opened.delivery, Delivery::Published { on_time: false, .. }),
                "{:?}",
                opened.delivery
            );
        }

        // A dishonest sender's bundle from her record and the late leaf: not shown.
        let record = lapsed.record();
        let bundle = pb::EvidenceBundle {
            version: BUNDLE_VERSION,
            plaintext: record.plaintext.clone(),
            message_key: record.message_key.clone(),
            ciphertext: decode_sealed(&forged_sealed).unwrap().ciphertext,
            request: record.request.clone(),
            recipient_binding: record.recipient_binding.clone(),
            recipient_domain: record.recipient_domain.clone(),
            delivery: Some(evidence_bundle::Delivery::Publication(pb::Publication {
                leaf: Some(late),
                ephemeral_secret: record.ephemeral_secret.clone(),
            })),
        };
        let verdict = arbitrate(&bundle, &arbiter(&net));
        assert_eq!(verdict.outcome, Outcome::NotShown, "{verdict}");
        assert_eq!(verdict.decided_by, Check::PublicationCosignedInTime);
        // Every other check passed: the lateness alone decides.
        assert!(
            verdict
                .checks
                .iter()
                .filter(|c| c.check != Check::PublicationCosignedInTime)
                .all(|c| c.status == herald_proto::evidence::Status::Passed),
            "{verdict}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_publication_in_a_log_that_equivocated_is_not_shown_and_the_log_is_refused() {
    let _one = ONE_AT_A_TIME.lock().await;
    bounded(async {
        let dir = TempDir::new().unwrap();
        let net = spawn(dir.path(), true).await;
        let mut p = pair(&net, dir.path(), "fork").await;
        let (made, bundle) = p.deliver(&net, "before the fork", 60).await;
        assert_eq!(
            p.fetch(&net, &made.req_hash).await.unwrap().plaintext,
            b"before the fork"
        );
        let bundle = herald_proto::evidence::decode_bundle(&bundle).unwrap();
        assert_eq!(
            arbitrate(&bundle, &arbiter(&net)).outcome,
            Outcome::Received
        );

        // d0 signs a second, conflicting checkpoint with its real key and shows it around.
        let fork = net.fork(SENDER).await.unwrap();
        let origin = net.node(SENDER).origin();
        assert_eq!(fork.origin, origin);
        // Bob's gateway holds the proof, and gives it to Bob's light client.
        let home = net.client(RECIPIENT).await.unwrap();
        let proof = herald_testnet::wait::until(SETTLE, Duration::from_millis(100), || async {
            let alerts = home
                .alerts(Some(&origin))
                .await
                .map_err(|e| e.to_string())?;
            alerts
                .into_iter()
                .next()
                .ok_or_else(|| "no alert yet".to_owned())
        })
        .await
        .expect("d1 detects the equivocation");
        let proof = Equivocation::from_wire(proof).unwrap();
        assert_eq!(proof.verify().unwrap().origin(), origin);

        // The arbiter shown the proof: the log's cosignatures prove nothing any more.
        let ctx = ArbiterContext {
            equivocations: vec![proof],
            ..arbiter(&net)
        };
        let verdict = arbitrate(&bundle, &ctx);
        assert_eq!(verdict.outcome, Outcome::NotShown, "{verdict}");
        assert_eq!(verdict.decided_by, Check::LocationLogConsistent);

        // Bob's client, following X, refuses it from now on.
        let x = net.log_trust(SENDER).unwrap();
        let refused = herald_testnet::wait::until(SETTLE, Duration::from_millis(100), || async {
            match p.bob.follow(&net, SENDER, &x).await {
                Err(herald_testnet::PartyError::Gateway { source, .. })
                    if matches!(source.verification(), Some(VerifyError::Equivocated { .. })) =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        assert!(refused.is_ok(), "bob still follows d0: {refused:?}");
    })
    .await;
}
