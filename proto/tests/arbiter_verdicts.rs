//! The offline arbiter on the request, the recipient's binding and the message itself: the
//! honest verdict, where trust comes from, and each attack on these parts as a named test.

mod certmail_support;

use certmail_support::forge;
use certmail_support::*;
use ed25519_dalek::SigningKey;
use herald_proto::certmail::{Expectation, content_hash};
use herald_proto::checkpoint::WitnessPolicy;
use herald_proto::evidence::{
    ArbiterContext, Check, Outcome, Status, TrustSource, Verdict, arbitrate, arbitrate_bytes,
};
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::wire::pb;

fn context() -> ArbiterContext {
    ArbiterContext {
        now: NOW + 3600,
        max_skew: SKEW,
        ..Default::default()
    }
}

fn honest() -> (World, pb::EvidenceBundle) {
    let mut rng = TestRng::new(1);
    let mut world = World::new();
    let forged = forge::publication(
        &mut world,
        &mut rng,
        b"M",
        |_| {},
        &[(1, NOW + 20), (2, NOW + 20)],
    );
    (world, forged.bundle)
}

fn not_shown_by(verdict: &Verdict, check: Check) {
    assert_eq!(
        (verdict.outcome, verdict.decided_by),
        (Outcome::NotShown, check),
        "{verdict}"
    );
    assert_eq!(verdict.check(check).unwrap().status, Status::Failed);
}

#[test]
fn honest_bundle_is_received_with_every_check_passed() {
    let (_, bundle) = honest();
    let v = arbitrate(&bundle, &context());
    assert_eq!(v.outcome, Outcome::Received, "{v}");
    assert_eq!(v.decided_by, Check::PublicationCosignedInTime);
    let ran: Vec<Check> = v.checks.iter().map(|c| c.check).collect();
    assert_eq!(
        ran,
        [
            Check::RequestSignature,
            Check::RecipientDomain,
            Check::RecipientLogConsistent,
            Check::RecipientBinding,
            Check::BoundAtCreated,
            Check::CiphertextHash,
            Check::KeyCommitment,
            Check::Decryption,
            Check::Expectation,
            Check::LocationLogConsistent,
            Check::PublicationIncluded,
            Check::LowestIndex,
            Check::PublicationMatchesRequest,
            Check::PublicationUnwrapsToKey,
            Check::PublicationCosignedInTime,
        ]
    );
    assert!(v.checks.iter().all(|c| c.status == Status::Passed));
    // The encoded file gives the same verdict.
    assert_eq!(arbitrate_bytes(&bundle.to_file_bytes(), &context()), Ok(v));
}

#[test]
fn a_domain_key_taken_from_the_bundle_is_reported_as_assumed() {
    let (world, bundle) = honest();
    let v = arbitrate(&bundle, &context());
    let sources: Vec<TrustSource> = v.trust.iter().map(|t| t.source).collect();
    assert_eq!(
        sources,
        [TrustSource::SignedByRecipient, TrustSource::Assumed]
    );
    assert!(!v.fully_trusted());
    assert!(v.to_string().contains("ASSUMED"));
    // The arbiter's own copy of beta's log confirms it.
    let mut ctx = context();
    ctx.trusted_logs.push(world.beta.trust(2));
    let v = arbitrate(&bundle, &ctx);
    assert_eq!(v.outcome, Outcome::Received);
    assert!(v.fully_trusted());
    assert!(v.trust.iter().any(|t| t.source == TrustSource::Confirmed));
}

#[test]
fn forged_domain_log_in_the_bundle_is_caught_by_a_trusted_domain_key() {
    // Alice invents "beta.test/herald": her own log key and witnesses, binding a key she holds
    // to bob@beta.test, and signs the request herself.
    let mut rng = TestRng::new(2);
    let mut world = World::new();
    let mut fake = MemoryLog::new("beta.test", 90);
    let fake_bob = SigningKey::from_bytes(&[91; 32]);
    let index = fake.append(&binding_entry(&fake, &fake_bob, BOB, BOUND_FROM));
    let note = fake.cosigned(&[(7, NOW - 10), (8, NOW - 10)]);
    let fake_leaf = fake.included(index, &note);
    let fake_trust = LogTrust::new(
        WitnessPolicy::new(
            fake.signer.verifier(),
            vec![witness(7).verifier(), witness(8).verifier()],
            2,
        )
        .unwrap(),
        HashAlgorithm::Blake3,
    );
    let real_bob = std::mem::replace(&mut world.bob, fake_bob);
    world.bob_binding_leaf = fake_leaf;
    let mut forged = forge::publication(
        &mut world,
        &mut rng,
        b"M",
        |_| {},
        &[(1, NOW + 20), (2, NOW + 20)],
    );
    forged.bundle.recipient_domain = Some(fake_trust.to_pb());
    world.bob = real_bob;

    // Alone, the arbiter can only say the domain key was assumed from the bundle.
    let v = arbitrate(&forged.bundle, &context());
    assert_eq!(v.outcome, Outcome::Received);
    assert!(!v.fully_trusted(), "{v}");
    // With beta's real key, the forgery fails.
    let mut ctx = context();
    ctx.trusted_logs.push(world.beta.trust(2));
    let v = arbitrate(&forged.bundle, &ctx);
    not_shown_by(&v, Check::RecipientBinding);
    assert!(
        v.trust
            .iter()
            .any(|t| t.source == TrustSource::ArbiterOverride)
    );
}

#[test]
fn bad_request_signature_is_not_shown() {
    let (_, mut bundle) = honest();
    bundle.request.as_mut().unwrap().signature[3] ^= 1;
    let v = arbitrate(&bundle, &context());
    not_shown_by(&v, Check::RequestSignature);
    assert!(v.checks[1..].iter().all(|c| c.status == Status::NotRun));
}

#[test]
fn request_made_before_the_key_was_bound_is_not_shown() {
    let mut rng = TestRng::new(3);
    let mut world = World::new();
    let f = forge::publication(
        &mut world,
        &mut rng,
        b"M",
        |d| d.created = BOUND_FROM - 1,
        &[(1, NOW + 20), (2, NOW + 20)],
    );
    not_shown_by(&arbitrate(&f.bundle, &context()), Check::BoundAtCreated);
}

#[test]
fn request_signed_with_a_revoked_key_is_not_shown() {
    let (mut world, bundle) = honest();
    let (revocation, _) = world.revoke_bob(NOW - 100, NOW - 50);
    let mut ctx = context();
    ctx.revocations.push(revocation);
    not_shown_by(&arbitrate(&bundle, &ctx), Check::BoundAtCreated);
}

#[test]
fn backdated_revocation_counts_only_from_when_it_was_witnessed() {
    // The revocation claims NOW − 100 but was first cosigned at NOW + 100, after the request.
    let (mut world, bundle) = honest();
    let (revocation, verified) = world.revoke_bob(NOW - 100, NOW + 100);
    assert_eq!(verified.in_force_from(), NOW + 100);
    let mut ctx = context();
    ctx.revocations.push(revocation);
    assert_eq!(arbitrate(&bundle, &ctx).outcome, Outcome::Received);
}

#[test]
fn request_signed_by_another_key_than_the_bound_one_is_not_shown() {
    let mut rng = TestRng::new(4);
    let mut world = World::new();
    let bound = world.bob.clone();
    world.bob = SigningKey::from_bytes(&[66; 32]);
    let f = forge::publication(
        &mut world,
        &mut rng,
        b"M",
        |_| {},
        &[(1, NOW + 20), (2, NOW + 20)],
    );
    world.bob = bound;
    not_shown_by(&arbitrate(&f.bundle, &context()), Check::BoundAtCreated);
}

#[test]
fn binding_not_cosigned_by_a_quorum_is_not_shown() {
    let (world, mut bundle) = honest();
    let note = world.beta.cosigned(&[(1, NOW - 900)]);
    bundle.recipient_binding = Some(world.beta.included(1, &note));
    not_shown_by(&arbitrate(&bundle, &context()), Check::RecipientBinding);
}

#[test]
fn wrong_ciphertext_hash_is_not_shown() {
    let (_, mut bundle) = honest();
    bundle.ciphertext[0] ^= 1;
    let v = arbitrate(&bundle, &context());
    not_shown_by(&v, Check::CiphertextHash);
    assert_eq!(v.check(Check::Decryption).unwrap().status, Status::Failed);
}

#[test]
fn wrong_key_commitment_is_not_shown() {
    let (_, mut bundle) = honest();
    bundle.message_key[0] ^= 1;
    let v = arbitrate(&bundle, &context());
    not_shown_by(&v, Check::KeyCommitment);
    assert_eq!(v.check(Check::Decryption).unwrap().status, Status::NotRun);
}

#[test]
fn another_plaintext_than_the_ciphertext_holds_is_not_shown() {
    let (_, mut bundle) = honest();
    bundle.plaintext = b"N".to_vec();
    not_shown_by(&arbitrate(&bundle, &context()), Check::Decryption);
}

#[test]
fn message_not_meeting_the_expectation_is_not_shown() {
    let mut rng = TestRng::new(5);
    let mut world = World::new();
    let f = forge::publication(
        &mut world,
        &mut rng,
        b"an invoice",
        |d| {
            d.expect = Some(Expectation {
                media_type: "application/pdf".into(),
                max_size: Some(1 << 20),
                content_hash: Some(content_hash(b"the signed contract")),
            })
        },
        &[(1, NOW + 20), (2, NOW + 20)],
    );
    not_shown_by(&arbitrate(&f.bundle, &context()), Check::Expectation);
}

#[test]
fn missing_parts_are_a_verdict_for_the_recipient() {
    let (_, bundle) = honest();
    type Edit = fn(&mut pb::EvidenceBundle);
    let edits: [(Edit, Check); 5] = [
        (|b| b.request = None, Check::RequestSignature),
        (|b| b.recipient_binding = None, Check::RecipientBinding),
        (|b| b.recipient_domain = None, Check::RecipientDomain),
        (|b| b.message_key.clear(), Check::KeyCommitment),
        (|b| b.delivery = None, Check::PublicationIncluded),
    ];
    for (edit, check) in edits {
        let mut b = bundle.clone();
        edit(&mut b);
        not_shown_by(&arbitrate(&b, &context()), check);
    }
}

#[test]
fn the_verdict_is_a_pure_function_of_its_inputs() {
    let (_, bundle) = honest();
    assert_eq!(
        arbitrate(&bundle, &context()),
        arbitrate(&bundle, &context())
    );
}

#[test]
fn binding_in_a_domain_log_that_equivocated_is_not_shown() {
    use herald_proto::checkpoint::{Checkpoint, VerifiedCheckpoint};
    use herald_proto::equivocation::Equivocation;
    let (world, bundle) = honest();
    let sign = |root: [u8; 32]| {
        let cp = Checkpoint {
            origin: world.beta.origin().into(),
            size: 2,
            root,
        };
        let note = cp.sign(&world.beta.signer).unwrap().to_string();
        VerifiedCheckpoint::verify(note.as_bytes(), &world.beta.signer.verifier()).unwrap()
    };
    let split = Equivocation::from_same_size(HashAlgorithm::Blake3, &sign([1; 32]), &sign([2; 32]))
        .unwrap();
    let mut ctx = context();
    ctx.equivocations.push(split);
    not_shown_by(&arbitrate(&bundle, &ctx), Check::RecipientLogConsistent);
}
