//! The offline arbiter on step (c) and the optimistic receipt: timing, quorum, proofs,
//! equivocation, duplicates, and receipts, each attack a named test.

mod certmail_support;

use certmail_support::forge::{self, leaf_mut};
use certmail_support::*;
use herald_proto::certmail::{MessageKey, ephemeral_secret, publication_entry};
use herald_proto::checkpoint::{Checkpoint, VerifiedCheckpoint};
use herald_proto::equivocation::Equivocation;
use herald_proto::evidence::{ArbiterContext, Check, Outcome, Status, Verdict, arbitrate};
use herald_proto::merkle::HashAlgorithm;
use herald_proto::wire::pb;

fn context() -> ArbiterContext {
    ArbiterContext {
        now: NOW + 3600,
        max_skew: SKEW,
        ..Default::default()
    }
}

fn not_shown_by(verdict: &Verdict, check: Check) {
    assert_eq!(
        (verdict.outcome, verdict.decided_by),
        (Outcome::NotShown, check),
        "{verdict}"
    );
}

/// A publication bundle cosigned by `cosigners`.
fn cosigned_by(cosigners: &[(u8, u64)]) -> (World, forge::Forged) {
    let mut rng = TestRng::new(21);
    let mut world = World::new();
    let f = forge::publication(&mut world, &mut rng, b"M", |_| {}, cosigners);
    (world, f)
}

const T_DELTA: u64 = DEADLINE + SKEW;

#[test]
fn publication_cosigned_exactly_at_t_plus_delta_counts() {
    let (_, f) = cosigned_by(&[(1, T_DELTA), (2, T_DELTA)]);
    assert_eq!(arbitrate(&f.bundle, &context()).outcome, Outcome::Received);
}

#[test]
fn late_publication_is_not_shown() {
    // The quorum is reached only after T + δ.
    let (_, f) = cosigned_by(&[(1, NOW + 20), (2, T_DELTA + 1), (3, T_DELTA + 5)]);
    let v = arbitrate(&f.bundle, &context());
    not_shown_by(&v, Check::PublicationCosignedInTime);
    let detail = &v.check(Check::PublicationCosignedInTime).unwrap().detail;
    assert!(detail.contains("2 more timestamped too late"), "{detail}");
}

#[test]
fn publication_below_quorum_is_not_shown() {
    let (_, f) = cosigned_by(&[(1, NOW + 20)]);
    not_shown_by(
        &arbitrate(&f.bundle, &context()),
        Check::PublicationCosignedInTime,
    );
}

#[test]
fn cosignature_by_an_unknown_witness_does_not_count() {
    // Witness 7 is not in X's witness set.
    let (_, f) = cosigned_by(&[(1, NOW + 20), (7, NOW + 20)]);
    not_shown_by(
        &arbitrate(&f.bundle, &context()),
        Check::PublicationCosignedInTime,
    );
}

#[test]
fn the_same_witness_counted_twice_is_refused() {
    // Witness 1's cosignature appears twice (two timestamps) next to nobody else's.
    let (world, mut f) = cosigned_by(&[(1, NOW + 20)]);
    let leaf = leaf_mut(&mut f.bundle);
    let note = String::from_utf8(leaf.checkpoint.clone()).unwrap();
    let cp = VerifiedCheckpoint::verify(note.as_bytes(), &world.alpha.signer.verifier()).unwrap();
    let again = witness(1).cosign(&cp, NOW + 21).unwrap();
    leaf.checkpoint = format!("{note}{}", again.to_line()).into_bytes();
    let v = arbitrate(&f.bundle, &context());
    not_shown_by(&v, Check::PublicationCosignedInTime);
    let detail = &v.check(Check::PublicationCosignedInTime).unwrap().detail;
    assert!(detail.contains("more than once"), "{detail}");
}

#[test]
fn cosignature_timestamped_in_the_future_does_not_count() {
    // Before T + δ, but ahead of the arbiter's clock plus δ.
    let (_, f) = cosigned_by(&[(1, NOW + 20), (2, NOW + 500)]);
    let early = ArbiterContext {
        now: NOW + 30,
        ..context()
    };
    not_shown_by(
        &arbitrate(&f.bundle, &early),
        Check::PublicationCosignedInTime,
    );
    // The same bundle judged once that time has come is fine.
    assert_eq!(arbitrate(&f.bundle, &context()).outcome, Outcome::Received);
}

#[test]
fn truncated_or_over_long_inclusion_proof_is_not_shown() {
    let (_, f) = cosigned_by(&[(1, NOW + 20), (2, NOW + 20)]);
    let mut truncated = f.bundle.clone();
    leaf_mut(&mut truncated)
        .proof
        .as_mut()
        .unwrap()
        .hashes
        .pop();
    not_shown_by(
        &arbitrate(&truncated, &context()),
        Check::PublicationIncluded,
    );
    let mut long = f.bundle.clone();
    leaf_mut(&mut long)
        .proof
        .as_mut()
        .unwrap()
        .hashes
        .push(vec![0; 32].into());
    not_shown_by(&arbitrate(&long, &context()), Check::PublicationIncluded);
}

#[test]
fn inclusion_proof_with_index_at_or_past_the_size_is_not_shown() {
    let (_, f) = cosigned_by(&[(1, NOW + 20), (2, NOW + 20)]);
    let mut b = f.bundle.clone();
    let proof = leaf_mut(&mut b).proof.as_mut().unwrap();
    proof.leaf_index = proof.tree_size;
    let v = arbitrate(&b, &context());
    not_shown_by(&v, Check::PublicationIncluded);
    assert!(
        v.check(Check::PublicationIncluded)
            .unwrap()
            .detail
            .contains("not below tree size")
    );
    // A proof against another size than the checkpoint's.
    let mut b = f.bundle.clone();
    leaf_mut(&mut b).proof.as_mut().unwrap().tree_size += 1;
    not_shown_by(&arbitrate(&b, &context()), Check::PublicationIncluded);
}

fn same_size_split(world: &World) -> Equivocation {
    let sign = |root: [u8; 32]| {
        let cp = Checkpoint {
            origin: world.alpha.origin().into(),
            size: 3,
            root,
        };
        let note = cp.sign(&world.alpha.signer).unwrap().to_string();
        VerifiedCheckpoint::verify(note.as_bytes(), &world.alpha.signer.verifier()).unwrap()
    };
    Equivocation::from_same_size(HashAlgorithm::Blake3, &sign([1; 32]), &sign([2; 32])).unwrap()
}

#[test]
fn publication_in_a_log_that_equivocated_is_not_shown() {
    let (world, f) = cosigned_by(&[(1, NOW + 20), (2, NOW + 20)]);
    let mut ctx = context();
    ctx.equivocations.push(same_size_split(&world));
    not_shown_by(&arbitrate(&f.bundle, &ctx), Check::LocationLogConsistent);
}

#[test]
fn an_equivocation_claim_that_does_not_verify_changes_nothing() {
    let (world, f) = cosigned_by(&[(1, NOW + 20), (2, NOW + 20)]);
    let split = same_size_split(&world);
    // The same checkpoints claimed against another log key: not a proof about alpha.
    let garbage = Equivocation::new(
        world.beta.signer.verifier(),
        HashAlgorithm::Blake3,
        split.first_note().into(),
        split.second_note().into(),
        split.evidence().clone(),
    )
    .unwrap();
    let mut ctx = context();
    ctx.equivocations.push(garbage);
    assert_eq!(arbitrate(&f.bundle, &ctx).outcome, Outcome::Received);
}

#[test]
fn duplicate_publications_the_lowest_index_wins() {
    let mut rng = TestRng::new(22);
    let mut world = World::new();
    let (key, ciphertext, request) = forge::request(&world, &mut rng, b"M", |_| {});
    // Alice first publishes a wrap of the wrong key, then the right one.
    let junk = publication_entry(
        &request,
        &MessageKey::from_bytes([9; 32]),
        &ephemeral_secret(&mut rng),
        &world.alice,
        NOW + 1,
    )
    .unwrap();
    let a = ephemeral_secret(&mut rng);
    let good = publication_entry(&request, &key, &a, &world.alice, NOW + 2).unwrap();
    let (junk_index, good_index) = (world.alpha.append(&junk), world.alpha.append(&good));
    let note = world.alpha.cosigned(&[(1, NOW + 20), (2, NOW + 20)]);
    let bundle = |index: u64, a: &x25519_dalek::StaticSecret| {
        forge::bundle(
            &world,
            b"M",
            &key,
            ciphertext.clone(),
            &request,
            pb::evidence_bundle::Delivery::Publication(pb::Publication {
                leaf: Some(world.alpha.included(index, &note)),
                ephemeral_secret: a.to_bytes().to_vec(),
            }),
        )
    };
    let shows_good = bundle(good_index, &a);
    assert_eq!(
        arbitrate(&shows_good, &context()).outcome,
        Outcome::Received
    );
    // Bob presents the earlier leaf: it is the publication that counts, and it is junk.
    let mut ctx = context();
    ctx.publications
        .push(world.alpha.included(junk_index, &note));
    let v = arbitrate(&shows_good, &ctx);
    not_shown_by(&v, Check::LowestIndex);
    assert!(
        v.check(Check::LowestIndex)
            .unwrap()
            .detail
            .contains(&format!("index {junk_index}"))
    );
    // A later duplicate presented against the first one changes nothing.
    let mut world2 = World::new();
    let f = forge::publication(&mut world2, &mut rng, b"M", |_| {}, &[]);
    let later = world2.alpha.append(&f.entry);
    let note2 = world2.alpha.cosigned(&[(1, NOW + 20), (2, NOW + 20)]);
    let mut first = f.bundle.clone();
    *leaf_mut(&mut first) = world2.alpha.included(later - 1, &note2);
    let mut ctx = context();
    ctx.publications.push(world2.alpha.included(later, &note2));
    assert_eq!(arbitrate(&first, &ctx).outcome, Outcome::Received);
}

#[test]
fn a_leaf_for_another_request_is_not_shown() {
    let mut rng = TestRng::new(23);
    let mut world = World::new();
    let f = forge::publication(&mut world, &mut rng, b"M", |_| {}, &[]);
    // Another request's publication, included and cosigned, presented as this one's.
    let other = forge::publication(
        &mut world,
        &mut rng,
        b"M",
        |_| {},
        &[(1, NOW + 20), (2, NOW + 20)],
    );
    let mut b = f.bundle.clone();
    *leaf_mut(&mut b) = leaf_mut(&mut other.bundle.clone()).clone();
    let v = arbitrate(&b, &context());
    not_shown_by(&v, Check::PublicationMatchesRequest);
}

#[test]
fn publication_with_the_wrong_ephemeral_secret_is_not_shown() {
    let (_, f) = cosigned_by(&[(1, NOW + 20), (2, NOW + 20)]);
    let mut b = f.bundle.clone();
    let Some(pb::evidence_bundle::Delivery::Publication(p)) = b.delivery.as_mut() else {
        unreachable!()
    };
    p.ephemeral_secret = ephemeral_secret(&mut TestRng::new(5)).to_bytes().to_vec();
    not_shown_by(&arbitrate(&b, &context()), Check::PublicationUnwrapsToKey);
    // The same secret spelled unclamped is refused too: one secret, one spelling.
    let Some(pb::evidence_bundle::Delivery::Publication(p)) = b.delivery.as_mut() else {
        unreachable!()
    };
    p.ephemeral_secret = f.a.to_bytes().to_vec();
    p.ephemeral_secret[0] |= 1;
    not_shown_by(&arbitrate(&b, &context()), Check::PublicationUnwrapsToKey);
}

#[test]
fn receipt_is_received() {
    let world = World::new();
    let b = forge::receipt(&world, &mut TestRng::new(24), b"M", NOW + 5, |_| {});
    let v = arbitrate(&b, &context());
    assert_eq!(
        (v.outcome, v.decided_by),
        (Outcome::Received, Check::ReceiptKeyBound),
        "{v}"
    );
}

#[test]
fn receipt_over_a_different_key_commitment_is_not_shown() {
    let world = World::new();
    let b = forge::receipt(&world, &mut TestRng::new(25), b"M", NOW + 5, |r| {
        r.key_commitment[0] ^= 1
    });
    let v = arbitrate(&b, &context());
    not_shown_by(&v, Check::Receipt);
    assert!(
        v.check(Check::Receipt)
            .unwrap()
            .detail
            .contains("key_commitment")
    );
}

#[test]
fn receipt_for_another_request_or_ciphertext_is_not_shown() {
    let world = World::new();
    let b = forge::receipt(&world, &mut TestRng::new(26), b"M", NOW + 5, |r| {
        r.req_hash[0] ^= 1
    });
    not_shown_by(&arbitrate(&b, &context()), Check::Receipt);
    let b = forge::receipt(&world, &mut TestRng::new(26), b"M", NOW + 5, |r| {
        r.ciphertext_hash[0] ^= 1
    });
    not_shown_by(&arbitrate(&b, &context()), Check::Receipt);
}

#[test]
fn receipt_signed_after_the_key_was_revoked_is_not_shown() {
    let mut world = World::new();
    let (revocation, _) = world.revoke_bob(NOW + 100, NOW + 100);
    let b = forge::receipt(&world, &mut TestRng::new(27), b"M", NOW + 200, |_| {});
    let mut ctx = context();
    ctx.revocations.push(revocation);
    let v = arbitrate(&b, &ctx);
    not_shown_by(&v, Check::ReceiptKeyBound);
    assert_eq!(
        v.check(Check::BoundAtCreated).unwrap().status,
        Status::Passed
    );
}
