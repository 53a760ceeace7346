//! Certified mail end to end through the sans-IO state machines, in memory: the honest run, the
//! optimistic run, the optimistic fall-back to publishing, lapses, and resuming from records.

mod certmail_support;

use certmail_support::*;
use herald_proto::certmail::recipient::{
    Delivery, RecipientAction, RecipientInput, RecipientState, Requested, ToSender, TrustedTree,
};
use herald_proto::certmail::sender::{SenderAction, SenderInput, SenderState, ToRecipient};
use herald_proto::evidence::{ArbiterContext, Outcome, arbitrate};
use herald_proto::wire::pb;

fn context() -> ArbiterContext {
    ArbiterContext {
        now: NOW + 3600,
        max_skew: SKEW,
        ..Default::default()
    }
}

#[test]
fn honest_run_delivers_the_message_and_evidence_convinces_the_arbiter() {
    let (_, bundle, bob, _) = honest_run(b"the contract, signed", 1);
    assert_eq!(bob.plaintext, b"the contract, signed");
    assert_eq!(
        bob.delivery,
        Delivery::Published {
            index: 5,
            on_time: true
        }
    );
    assert!(bob.expectation_met);
    let verdict = arbitrate(&bundle, &context());
    assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
}

#[test]
fn honest_run_actions_come_in_a_safe_order() {
    let mut rng = TestRng::new(2);
    let world = World::new();
    let (sealed, message) = world.seal(b"m", false, &mut rng);
    let (_, request) = world.request(&message, None, &mut rng);
    let (state, actions) = SenderState::Sealed(sealed)
        .handle(world.arrived(&request), &world.alice, NOW + 1, &mut rng)
        .unwrap();
    assert_eq!(state.name(), "published");
    // Persist (with a and the leaf) before publishing; then wait until T + δ.
    assert!(
        matches!(&actions[0], SenderAction::Persist(r) if r.published && r.ephemeral_secret.len() == 32)
    );
    assert!(matches!(&actions[1], SenderAction::Publish(_)));
    assert_eq!(actions[2], SenderAction::ArmTimer(DEADLINE + SKEW));
}

#[test]
fn optimistic_run_ends_with_a_receipt_and_no_publication() {
    let mut rng = TestRng::new(3);
    let world = World::new();
    let (sealed, message) = world.seal(b"optimistic", true, &mut rng);
    let (requested, request) = world.request(&message, None, &mut rng);
    let (state, actions) = SenderState::Sealed(sealed)
        .handle(world.arrived(&request), &world.alice, NOW + 1, &mut rng)
        .unwrap();
    assert_eq!(state.name(), "awaiting receipt");
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, SenderAction::Publish(_)))
    );
    // Publishing takes MMD + witness period + margin = 100 s; the wait ends that long before T.
    assert!(actions.contains(&SenderAction::ArmTimer(DEADLINE - 100)));
    let direct = actions
        .iter()
        .find_map(|a| match a {
            SenderAction::Send(ToRecipient::DirectKey(d)) => Some(d.clone()),
            _ => None,
        })
        .unwrap();
    let (bob, bob_actions) = requested
        .handle(
            RecipientInput::DirectKey(direct),
            &*world.bob_keys(),
            NOW + 2,
        )
        .unwrap();
    let bob = decrypted(bob);
    assert_eq!(bob.plaintext, b"optimistic");
    let receipt = match &bob_actions[..] {
        [RecipientAction::Send(ToSender::Receipt(r))] => r.clone(),
        other => panic!("{other:?}"),
    };
    assert!(matches!(bob.delivery, Delivery::Direct { .. }));
    let (state, actions) = state
        .handle(
            SenderInput::Receipt(receipt),
            &world.alice,
            NOW + 3,
            &mut rng,
        )
        .unwrap();
    let bundle = done_bundle(&state);
    assert!(matches!(actions[..], [SenderAction::Evidence(_)]));
    assert!(matches!(
        bundle.delivery,
        Some(pb::evidence_bundle::Delivery::Receipt(_))
    ));
    let verdict = arbitrate(&bundle, &context());
    assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
}

#[test]
fn optimistic_sender_publishes_when_no_receipt_comes() {
    let mut rng = TestRng::new(4);
    let mut world = World::new();
    let (sealed, message) = world.seal(b"no receipt", true, &mut rng);
    let (requested, request) = world.request(&message, None, &mut rng);
    let (state, _) = SenderState::Sealed(sealed)
        .handle(world.arrived(&request), &world.alice, NOW + 1, &mut rng)
        .unwrap();
    // An early timer only re-arms.
    let (state, actions) = state
        .handle(SenderInput::Timer, &world.alice, NOW + 5, &mut rng)
        .unwrap();
    assert_eq!(
        (state.name(), &actions[..]),
        (
            "awaiting receipt",
            &[SenderAction::ArmTimer(DEADLINE - 100)][..]
        )
    );
    let (state, actions) = state
        .handle(SenderInput::Timer, &world.alice, DEADLINE - 100, &mut rng)
        .unwrap();
    assert_eq!(state.name(), "published");
    let leaf = world.publish(&published_leaf(&actions), DEADLINE - 50);
    let (state, _) = state
        .handle(
            SenderInput::Included(leaf.clone()),
            &world.alice,
            DEADLINE - 40,
            &mut rng,
        )
        .unwrap();
    let verdict = arbitrate(&done_bundle(&state), &context());
    assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
    let (bob, _) = requested
        .handle(
            RecipientInput::Publication {
                leaf,
                trusted: None,
            },
            &*world.bob_keys(),
            DEADLINE - 30,
        )
        .unwrap();
    assert_eq!(decrypted(bob).plaintext, b"no receipt");
}

#[test]
fn a_publication_not_cosigned_in_time_lapses() {
    let mut rng = TestRng::new(5);
    let mut world = World::new();
    let (sealed, message) = world.seal(b"late", false, &mut rng);
    let (requested, request) = world.request(&message, None, &mut rng);
    let (state, actions) = SenderState::Sealed(sealed)
        .handle(world.arrived(&request), &world.alice, NOW + 1, &mut rng)
        .unwrap();
    // Cosigned only after T + δ: the sender refuses it as evidence and keeps waiting...
    let late = world.publish(&published_leaf(&actions), DEADLINE + SKEW + 1);
    let refused = state
        .handle(
            SenderInput::Included(late.clone()),
            &world.alice,
            DEADLINE + SKEW + 2,
            &mut rng,
        )
        .unwrap_err();
    assert_eq!(refused.state.name(), "published");
    // ...until its timer lapses the mail.
    let (state, _) = refused
        .state
        .handle(
            SenderInput::Timer,
            &world.alice,
            DEADLINE + SKEW + 1,
            &mut rng,
        )
        .unwrap();
    assert_eq!(state.name(), "lapsed");
    // The recipient still gets the message, and knows it came late.
    let (bob, _) = requested
        .handle(
            RecipientInput::Publication {
                leaf: late,
                trusted: None,
            },
            &*world.bob_keys(),
            DEADLINE + SKEW + 3,
        )
        .unwrap();
    let bob = decrypted(bob);
    assert_eq!(bob.plaintext, b"late");
    assert!(matches!(
        bob.delivery,
        Delivery::Published { on_time: false, .. }
    ));
}

#[test]
fn recipient_without_a_key_after_the_deadline_is_undelivered() {
    let mut rng = TestRng::new(6);
    let world = World::new();
    let (_, message) = world.seal(b"m", false, &mut rng);
    let (requested, _) = world.request(&message, None, &mut rng);
    let (state, actions) = requested
        .handle(RecipientInput::Timer, &*world.bob_keys(), NOW + 10)
        .unwrap();
    assert!(matches!(state, RecipientState::Requested(_)));
    assert_eq!(
        actions,
        vec![RecipientAction::ArmTimer(DEADLINE + SKEW + 1)]
    );
    let RecipientState::Requested(requested) = state else {
        unreachable!()
    };
    let (state, _) = requested
        .handle(
            RecipientInput::Timer,
            &*world.bob_keys(),
            DEADLINE + SKEW + 1,
        )
        .unwrap();
    assert!(matches!(state, RecipientState::Undelivered(_)));
}

#[test]
fn both_parties_resume_from_their_records() {
    let mut rng = TestRng::new(7);
    let mut world = World::new();
    let (sealed, message) = world.seal(b"resumed", false, &mut rng);
    // Bob persisted his record; a new process resumes from it.
    let received =
        herald_proto::certmail::recipient::Received::receive(message.clone(), BOB).unwrap();
    let terms = herald_proto::certmail::recipient::RequestTerms {
        deadline: DEADLINE,
        location: world.location(),
        expect: None,
    };
    let (_, bob_actions) = received
        .request(terms, &mut *world.bob_card.borrow_mut(), NOW, &mut rng)
        .unwrap();
    let record = match &bob_actions[0] {
        RecipientAction::Persist(r) => (**r).clone(),
        other => panic!("{other:?}"),
    };
    let request = record.request.clone().unwrap();
    // The record holds no secret: P_req's stays in Bob's key store.
    assert!(record.request_secret.is_empty());
    assert_eq!(world.bob_keys().names().len(), 1);
    let requested = Requested::resume(&record, BOB).unwrap();
    assert_eq!(world.bob_keys().names(), [requested.secret_name()]);
    // Alice persisted after accepting; a new process resumes and waits for the inclusion.
    let (_, actions) = SenderState::Sealed(sealed)
        .handle(world.arrived(&request), &world.alice, NOW + 1, &mut rng)
        .unwrap();
    let SenderAction::Persist(alice_record) = &actions[0] else {
        panic!("persist first")
    };
    let state = SenderState::resume(alice_record, world.policy(false), NOW + 2).unwrap();
    assert_eq!(state.name(), "published");
    let leaf = world.publish(&published_leaf(&actions), NOW + 20);
    let (state, _) = state
        .handle(
            SenderInput::Included(leaf.clone()),
            &world.alice,
            NOW + 21,
            &mut rng,
        )
        .unwrap();
    assert_eq!(
        arbitrate(&done_bundle(&state), &context()).outcome,
        Outcome::Received
    );
    let (bob, _) = requested
        .handle(
            RecipientInput::Publication {
                leaf,
                trusted: None,
            },
            &*world.bob_keys(),
            NOW + 22,
        )
        .unwrap();
    assert_eq!(decrypted(bob).plaintext, b"resumed");
}

#[test]
fn recipient_checks_consistency_with_the_checkpoint_it_trusted() {
    let mut rng = TestRng::new(8);
    let mut world = World::new();
    let trusted_cp = world.alpha.checkpoint();
    let (sealed, message) = world.seal(b"consistent", false, &mut rng);
    let (requested, request) = world.request(&message, None, &mut rng);
    let (_, actions) = SenderState::Sealed(sealed)
        .handle(world.arrived(&request), &world.alice, NOW + 1, &mut rng)
        .unwrap();
    let leaf = world.publish(&published_leaf(&actions), NOW + 20);
    let size = note_size(&leaf.checkpoint);
    let proof = herald_proto::merkle::consistency_proof(
        &world.alpha.h,
        &world.alpha.store,
        trusted_cp.size(),
        size,
    )
    .unwrap();
    // Another root at the trusted size, signed by X's key: the log's proof to the published
    // tree commits it to its own root there, a split view of form (ii).
    let mut forged = trusted_cp.checkpoint().clone();
    forged.root[0] ^= 1;
    let forged = forged.sign(&world.alpha.signer).unwrap().to_string();
    let forged =
        herald_proto::checkpoint::VerifiedCheckpoint::verify(forged.as_bytes(), trusted_cp.log())
            .unwrap();
    let refused = requested
        .handle(
            RecipientInput::Publication {
                leaf: leaf.clone(),
                trusted: Some(TrustedTree {
                    checkpoint: forged,
                    proof: proof.clone(),
                }),
            },
            &*world.bob_keys(),
            NOW + 22,
        )
        .unwrap_err();
    let herald_proto::certmail::CertMailError::Inconsistent(refusal) = &refused.error else {
        panic!("{:?}", refused.error)
    };
    let split = refusal.equivocation().expect("a transferable split view");
    assert!(split.verify().is_ok());
    let (bob, actions) = refused
        .state
        .handle(
            RecipientInput::Publication {
                leaf,
                trusted: Some(TrustedTree {
                    checkpoint: trusted_cp,
                    proof,
                }),
            },
            &*world.bob_keys(),
            NOW + 22,
        )
        .unwrap();
    assert_eq!(decrypted(bob).plaintext, b"consistent");
    assert!(matches!(&actions[..], [RecipientAction::TrustCheckpoint(cp)] if cp.size() == size));
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let (_, a, _, _) = honest_run(b"deterministic", 9);
    let (_, b, _, _) = honest_run(b"deterministic", 9);
    let (_, c, _, _) = honest_run(b"deterministic", 10);
    assert_eq!(a, b);
    assert_ne!(a.message_key, c.message_key);
}
