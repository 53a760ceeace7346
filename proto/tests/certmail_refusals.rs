//! Every way a key request or a key can be wrong at the protocol level (DESIGN §3.3's attacks),
//! each a named test showing the sender or the recipient refuse it, with the reason.

mod certmail_support;

use certmail_support::*;
use ed25519_dalek::SigningKey;
use herald_proto::certmail::recipient::{RecipientInput, Requested};
use herald_proto::certmail::sender::{RequestArrived, Sealed, SenderInput, SenderState};
use herald_proto::certmail::{
    CertMailError, Expectation, KeyRequestDraft, Location, MessageKey, content_hash,
    publication_entry, sign_request, verify_request,
};
use herald_proto::identity::{NotBound, VerifiedRevocation, verify_binding};
use herald_proto::wire::pb;
use x25519_dalek::{PublicKey, StaticSecret};

/// A request for `message` as Bob would make it, to be altered by the test.
fn draft(world: &World, message: &pb::SealedMessage) -> KeyRequestDraft {
    KeyRequestDraft {
        sender: ALICE.into(),
        recipient: BOB.into(),
        msg_id: message.msg_id.clone(),
        ciphertext_hash: content_hash(&message.ciphertext),
        key_commitment: message.key_commitment.clone().try_into().unwrap(),
        deadline: DEADLINE,
        location: world.location(),
        request_key: PublicKey::from(&StaticSecret::from([5; 32])).to_bytes(),
        expect: None,
        nonce: [1; 32],
        created: NOW,
    }
}

struct Case {
    world: World,
    sealed: Sealed,
    message: pb::SealedMessage,
    rng: TestRng,
}

fn case(plaintext: &[u8]) -> Case {
    let mut rng = TestRng::new(42);
    let world = World::new();
    let (sealed, message) = world.seal(plaintext, false, &mut rng);
    Case {
        world,
        sealed,
        message,
        rng,
    }
}

impl Case {
    /// Offers `request` (with Bob's binding and `revocations`) at `now`; the refusal, if any.
    fn offer(
        self,
        request: pb::SignedKeyRequest,
        revocations: Vec<VerifiedRevocation>,
        now: u64,
    ) -> Result<SenderState, CertMailError> {
        let mut rng = self.rng;
        let input = SenderInput::Request(Box::new(RequestArrived {
            request,
            binding: self.world.bob_binding(),
            revocations,
        }));
        SenderState::Sealed(self.sealed)
            .handle(input, &self.world.alice, now, &mut rng)
            .map(|(state, _)| state)
            .map_err(|refused| {
                assert_eq!(refused.state.name(), "sealed", "a refusal keeps the state");
                refused.error
            })
    }

    fn offer_draft(self, edit: impl FnOnce(&mut KeyRequestDraft)) -> CertMailError {
        let mut d = draft(&self.world, &self.message);
        edit(&mut d);
        let request = sign_request(&d, &self.world.bob).unwrap();
        self.offer(request, Vec::new(), NOW + 1).unwrap_err()
    }
}

#[test]
fn an_honest_request_is_accepted() {
    let c = case(b"m");
    let request = sign_request(&draft(&c.world, &c.message), &c.world.bob).unwrap();
    assert_eq!(
        c.offer(request, Vec::new(), NOW + 1).unwrap().name(),
        "published"
    );
}

#[test]
fn bad_request_signature_is_refused() {
    let c = case(b"m");
    let mut request = sign_request(&draft(&c.world, &c.message), &c.world.bob).unwrap();
    request.signature[10] ^= 1;
    assert!(matches!(
        c.offer(request, Vec::new(), NOW + 1),
        Err(CertMailError::Signature {
            what: "request",
            ..
        })
    ));
}

#[test]
fn request_signed_by_a_key_not_bound_to_the_recipient_is_refused() {
    let c = case(b"m");
    let mallory = SigningKey::from_bytes(&[66; 32]);
    let request = sign_request(&draft(&c.world, &c.message), &mallory).unwrap();
    assert_eq!(
        c.offer(request, Vec::new(), NOW + 1).unwrap_err(),
        CertMailError::BindingMismatch {
            field: "identity key"
        }
    );
}

#[test]
fn request_made_before_the_key_was_bound_is_refused() {
    let c = case(b"m");
    let err = c.offer_draft(|d| d.created = BOUND_FROM - 1);
    assert_eq!(
        err,
        CertMailError::NotBound(NotBound::NotYetValid {
            valid_from: BOUND_FROM,
            at: BOUND_FROM - 1
        })
    );
}

#[test]
fn request_signed_with_a_revoked_key_is_refused() {
    let mut c = case(b"m");
    let (_, revocation) = c.world.revoke_bob(NOW - 100, NOW - 50);
    let request = sign_request(&draft(&c.world, &c.message), &c.world.bob).unwrap();
    assert!(matches!(
        c.offer(request, vec![revocation], NOW + 1),
        Err(CertMailError::NotBound(NotBound::Revoked {
            in_force_from,
            ..
        })) if in_force_from == NOW - 50
    ));
}

#[test]
fn wrong_ciphertext_hash_is_refused() {
    let err = case(b"m").offer_draft(|d| d.ciphertext_hash[0] ^= 1);
    assert_eq!(
        err,
        CertMailError::Mismatch {
            field: "ciphertext hash"
        }
    );
}

#[test]
fn wrong_key_commitment_is_refused() {
    let err = case(b"m").offer_draft(|d| d.key_commitment[0] ^= 1);
    assert_eq!(
        err,
        CertMailError::Mismatch {
            field: "key commitment"
        }
    );
}

#[test]
fn request_for_another_mail_or_party_is_refused() {
    let err = case(b"m").offer_draft(|d| d.msg_id = b"msg-0002".to_vec());
    assert_eq!(err, CertMailError::Mismatch { field: "msg_id" });
    let err = case(b"m").offer_draft(|d| d.sender = "carol@alpha.test".into());
    assert_eq!(err, CertMailError::Mismatch { field: "sender" });
}

#[test]
fn deadline_too_soon_is_refused() {
    // Publishing needs MMD (10) + witness period (30) + margin (60) = 100 s.
    let err = case(b"m").offer_draft(|d| d.deadline = NOW + 100);
    assert_eq!(
        err,
        CertMailError::DeadlineTooSoon {
            deadline: NOW + 100,
            earliest: NOW + 101
        }
    );
}

#[test]
fn deadline_past_is_refused() {
    let err = case(b"m").offer_draft(|d| {
        d.created = NOW - 500;
        d.deadline = NOW - 10;
    });
    assert!(matches!(err, CertMailError::DeadlineTooSoon { deadline, .. } if deadline == NOW - 10));
}

#[test]
fn deadline_too_far_is_refused() {
    let err = case(b"m").offer_draft(|d| d.deadline = NOW + 8 * 24 * 3600);
    assert!(matches!(err, CertMailError::DeadlineTooFar { .. }));
}

#[test]
fn request_dated_in_the_future_is_refused() {
    let err = case(b"m").offer_draft(|d| d.created = NOW + 1 + SKEW + 1);
    assert!(matches!(err, CertMailError::BadCreationTime { .. }));
}

#[test]
fn unknown_location_is_refused() {
    let c = case(b"m");
    // Another domain's log as X: the sender does not publish there.
    let elsewhere = Location::new(c.world.beta.trust(2), SKEW, MMD).unwrap();
    let err = c.offer_draft(|d| d.location = elsewhere);
    assert_eq!(
        err,
        CertMailError::UnknownLocation {
            origin: "beta.test/herald".into()
        }
    );
}

#[test]
fn location_asking_more_than_offered_is_refused() {
    let c = case(b"m");
    // All three witnesses, or a tighter clock than the sender offers.
    let all = Location::new(c.world.alpha.trust(3), SKEW, MMD).unwrap();
    assert!(matches!(
        c.offer_draft(|d| d.location = all),
        CertMailError::UnknownLocation { .. }
    ));
    let c = case(b"m");
    let tight = Location::new(c.world.alpha.trust(2), SKEW - 1, MMD).unwrap();
    assert!(matches!(
        c.offer_draft(|d| d.location = tight),
        CertMailError::UnknownLocation { .. }
    ));
}

#[test]
fn expectation_the_message_does_not_meet_is_refused() {
    let err = case(b"the real text").offer_draft(|d| {
        d.expect = Some(Expectation {
            media_type: "text/plain".into(),
            max_size: None,
            content_hash: Some(content_hash(b"something else")),
        })
    });
    assert_eq!(
        err,
        CertMailError::ExpectationNotMet {
            reason: "content hash"
        }
    );
}

#[test]
fn low_order_request_key_is_refused() {
    let err = case(b"m").offer_draft(|d| d.request_key = [0; 32]);
    assert_eq!(err, CertMailError::WeakKey);
}

#[test]
fn a_refused_request_leaves_the_sender_ready_for_a_good_one() {
    let mut c = case(b"m");
    let mut bad = sign_request(&draft(&c.world, &c.message), &c.world.bob).unwrap();
    bad.signature[0] ^= 1;
    let input = SenderInput::Request(Box::new(RequestArrived {
        request: bad,
        binding: c.world.bob_binding(),
        revocations: Vec::new(),
    }));
    let refused = SenderState::Sealed(c.sealed)
        .handle(input, &c.world.alice, NOW + 1, &mut c.rng)
        .unwrap_err();
    let good = sign_request(&draft(&c.world, &c.message), &c.world.bob).unwrap();
    let (state, _) = refused
        .state
        .handle(c.world.arrived(&good), &c.world.alice, NOW + 2, &mut c.rng)
        .unwrap();
    assert_eq!(state.name(), "published");
}

#[test]
fn binding_from_another_domain_log_does_not_verify() {
    // Alpha's gateway binds a key for bob@beta.test in alpha's log: not a binding for Bob.
    let mut world = World::new();
    let entry = binding_entry(&world.alpha, &world.bob, BOB, BOUND_FROM);
    let index = world.alpha.append(&entry);
    let note = world.alpha.cosigned(&[(1, NOW), (2, NOW)]);
    let leaf = world.alpha.included(index, &note);
    assert!(matches!(
        verify_binding(&world.alpha.trust(2), &leaf, NOW, SKEW),
        Err(herald_proto::identity::IdentityError::WrongDomain { .. })
    ));
}

/// Bob's state after requesting, and Alice's verified view of the request.
fn requested(
    world: &World,
    plaintext: &[u8],
    rng: &mut TestRng,
) -> (Requested, pb::SignedKeyRequest) {
    let (_, message) = world.seal(plaintext, false, rng);
    world.request(&message, None, rng)
}

#[test]
fn publication_for_another_request_is_refused_by_the_recipient() {
    let mut rng = TestRng::new(7);
    let mut world = World::new();
    let (bob, _) = requested(&world, b"m", &mut rng);
    // Alice answers another request of Bob's (same mail, fresh nonce and key).
    let (_, other) = requested(&world, b"m", &mut rng);
    let other = verify_request(&other).unwrap();
    let a = StaticSecret::from([3; 32]);
    let leaf = publication_entry(
        &other,
        &MessageKey::from_bytes([1; 32]),
        &a,
        &world.alice,
        NOW,
    )
    .unwrap();
    let leaf = world.publish(&leaf, NOW + 20);
    let refused = bob
        .handle(
            RecipientInput::Publication {
                leaf,
                trusted: None,
            },
            &*world.bob_keys(),
            NOW + 21,
        )
        .unwrap_err();
    assert_eq!(
        refused.error,
        CertMailError::Mismatch {
            field: "KeyPublication.req_hash"
        }
    );
}

#[test]
fn publication_of_another_key_is_caught_by_the_commitment() {
    let mut rng = TestRng::new(8);
    let mut world = World::new();
    let (bob, request) = requested(&world, b"m", &mut rng);
    let request = verify_request(&request).unwrap();
    let wrong = MessageKey::from_bytes([9; 32]);
    let leaf = publication_entry(
        &request,
        &wrong,
        &StaticSecret::from([3; 32]),
        &world.alice,
        NOW,
    )
    .unwrap();
    let leaf = world.publish(&leaf, NOW + 20);
    let refused = bob
        .handle(
            RecipientInput::Publication {
                leaf,
                trusted: None,
            },
            &*world.bob_keys(),
            NOW + 21,
        )
        .unwrap_err();
    assert_eq!(refused.error, CertMailError::KeyCommitmentMismatch);
}

#[test]
fn publication_below_quorum_is_refused_by_the_recipient() {
    let mut rng = TestRng::new(9);
    let mut world = World::new();
    let (sealed, message) = world.seal(b"m", false, &mut rng);
    let (bob, request) = world.request(&message, None, &mut rng);
    let (_, actions) = SenderState::Sealed(sealed)
        .handle(world.arrived(&request), &world.alice, NOW + 1, &mut rng)
        .unwrap();
    let index = world.alpha.append(&published_leaf(&actions));
    let note = world.alpha.cosigned(&[(1, NOW + 20)]);
    let leaf = world.alpha.included(index, &note);
    let refused = bob
        .handle(
            RecipientInput::Publication {
                leaf,
                trusted: None,
            },
            &*world.bob_keys(),
            NOW + 21,
        )
        .unwrap_err();
    assert!(
        matches!(refused.error, CertMailError::Inclusion(_)),
        "{:?}",
        refused.error
    );
}

#[test]
fn direct_key_that_is_not_the_committed_key_gets_no_receipt() {
    let mut rng = TestRng::new(10);
    let world = World::new();
    let (bob, request) = requested(&world, b"m", &mut rng);
    let request = verify_request(&request).unwrap();
    let direct = herald_proto::certmail::seal_direct_key(
        &MessageKey::from_bytes([9; 32]),
        request.request_key(),
        request.req_hash(),
        &mut rng,
    )
    .unwrap();
    let refused = bob
        .handle(
            RecipientInput::DirectKey(direct),
            &*world.bob_keys(),
            NOW + 2,
        )
        .unwrap_err();
    assert_eq!(refused.error, CertMailError::KeyCommitmentMismatch);
}

#[test]
fn request_dated_further_ahead_than_its_own_clock_skew_is_refused() {
    // The sender's policy tolerates an hour of skew, but X says δ = 60 s: an absence proof will
    // treat checkpoints cosigned by created − 2δ as before any publication, so the sender must not
    // publish earlier than that.
    let mut c = case(b"m");
    let mut policy = c.world.policy(false);
    policy.max_clock_skew = 3600;
    let (sealed, message) = {
        let (s, a) =
            Sealed::seal(c.world.outgoing(b"m"), &c.world.alice, policy, &mut c.rng).unwrap();
        let m = match &a[1] {
            herald_proto::certmail::sender::SenderAction::Send(
                herald_proto::certmail::sender::ToRecipient::Sealed(m),
            ) => m.clone(),
            other => panic!("{other:?}"),
        };
        (s, m)
    };
    c.sealed = sealed;
    c.message = message;
    let err = c.offer_draft(|d| {
        d.created = NOW + 1 + SKEW + 1;
        d.deadline = DEADLINE + 200;
    });
    assert!(matches!(err, CertMailError::BadCreationTime { .. }));
}
