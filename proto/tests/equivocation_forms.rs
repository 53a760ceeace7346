//! Equivocation proofs (DESIGN §2 "Split view"): each transferable form verifies offline, every
//! tampering is refused, evidence that shows no conflict or does not verify is not an
//! equivocation, and an honest log never yields one.

use ed25519_dalek::SigningKey;
use herald_proto::checkpoint::{Checkpoint, CheckpointError, VerifiedCheckpoint};
use herald_proto::equivocation::{DecodeError, Equivocation, EquivocationError, Evidence};
use herald_proto::merkle::{AnyHasher, Hash, HashAlgorithm, LogHasher};
use herald_proto::note::{NoteError, NoteSigner};
use proptest::prelude::*;

const ORIGIN: &str = "alpha.test/herald";

fn log() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).unwrap()
}

fn signed_by(key: &NoteSigner, size: u64, root: Hash) -> VerifiedCheckpoint {
    let c = Checkpoint {
        origin: key.name().to_owned(),
        size,
        root,
    };
    let note = c.sign(key).unwrap().to_string();
    VerifiedCheckpoint::verify(note.as_bytes(), &key.verifier()).unwrap()
}

fn signed(size: u64, root: Hash) -> VerifiedCheckpoint {
    signed_by(&log(), size, root)
}

// A naive RFC 6962 §2.1 reference tree over leaf hashes, independent of the crate's generators.
struct Tree {
    h: AnyHasher,
    leaves: Vec<Hash>,
}

impl Tree {
    fn new(alg: HashAlgorithm, n: usize, tag: u64) -> Tree {
        let h = AnyHasher(alg);
        let leaves = (0..n as u64)
            .map(|i| h.hash_leaf(&[tag.to_be_bytes(), i.to_be_bytes()].concat()))
            .collect();
        Tree { h, leaves }
    }

    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn mth(&self, d: &[Hash]) -> Hash {
        match d.len() {
            0 => self.h.empty_root(),
            1 => d[0],
            n => {
                let k = Self::split(n);
                self.h.hash_children(&self.mth(&d[..k]), &self.mth(&d[k..]))
            }
        }
    }

    fn root(&self, size: usize) -> Hash {
        self.mth(&self.leaves[..size])
    }

    fn path(&self, m: usize, d: &[Hash]) -> Vec<Hash> {
        if d.len() <= 1 {
            return vec![];
        }
        let k = Self::split(d.len());
        let (mut p, sibling) = if m < k {
            (self.path(m, &d[..k]), self.mth(&d[k..]))
        } else {
            (self.path(m - k, &d[k..]), self.mth(&d[..k]))
        };
        p.push(sibling);
        p
    }

    fn inclusion(&self, index: usize, size: usize) -> Vec<Hash> {
        self.path(index, &self.leaves[..size])
    }

    fn subproof(&self, m: usize, d: &[Hash], whole: bool) -> Vec<Hash> {
        if m == d.len() {
            return if whole { vec![] } else { vec![self.mth(d)] };
        }
        let k = Self::split(d.len());
        let (mut p, sibling) = if m <= k {
            (self.subproof(m, &d[..k], whole), self.mth(&d[k..]))
        } else {
            (self.subproof(m - k, &d[k..], false), self.mth(&d[..k]))
        };
        p.push(sibling);
        p
    }

    fn consistency(&self, size1: usize, size2: usize) -> Vec<Hash> {
        self.subproof(size1, &self.leaves[..size2], true)
    }
}

/// The log forked: it signed `size1` of tree `b` and `size2` of tree `a`, which share no leaf.
fn forked_consistency(alg: HashAlgorithm, size1: usize, size2: usize) -> Equivocation {
    let a = Tree::new(alg, size2, 1);
    let b = Tree::new(alg, size1, 2);
    let older = signed(size1 as u64, b.root(size1));
    let newer = signed(size2 as u64, a.root(size2));
    let alternative = (size1 as u64).is_power_of_two().then(|| a.root(size1));
    Equivocation::from_consistency(
        alg,
        &older,
        &newer,
        &a.consistency(size1, size2),
        alternative,
    )
    .unwrap()
}

fn same_size() -> Equivocation {
    let a = Tree::new(HashAlgorithm::Blake3, 5, 1);
    let b = Tree::new(HashAlgorithm::Blake3, 5, 2);
    Equivocation::from_same_size(
        HashAlgorithm::Blake3,
        &signed(5, a.root(5)),
        &signed(5, b.root(5)),
    )
    .unwrap()
}

/// Tree `b` equals `a` except leaf 2; the log signed `a` at 6 and `b` at 9.
fn inclusion() -> Equivocation {
    let alg = HashAlgorithm::Sha256;
    let a = Tree::new(alg, 9, 1);
    let mut b = Tree::new(alg, 9, 1);
    b.leaves[2] = b.h.hash_leaf(b"rewritten history");
    Equivocation::from_inclusion(
        alg,
        &signed(6, a.root(6)),
        &signed(9, b.root(9)),
        2,
        &a.leaves[2],
        &a.inclusion(2, 6),
        &b.leaves[2],
        &b.inclusion(2, 9),
    )
    .unwrap()
}

fn all_forms() -> Vec<Equivocation> {
    vec![
        same_size(),
        forked_consistency(HashAlgorithm::Sha256, 6, 11),
        forked_consistency(HashAlgorithm::Blake3, 8, 13),
        inclusion(),
    ]
}

#[test]
fn reference_tree_proofs_verify_with_the_crate_verifiers() {
    use herald_proto::merkle::{verify_consistency, verify_inclusion};
    let t = Tree::new(HashAlgorithm::Sha256, 40, 3);
    for n in 1..=40 {
        for m in 0..n {
            verify_inclusion(
                &t.h,
                m as u64,
                n as u64,
                &t.leaves[m],
                &t.inclusion(m, n),
                &t.root(n),
            )
            .unwrap();
        }
        for m in 1..n {
            verify_consistency(
                &t.h,
                m as u64,
                n as u64,
                &t.consistency(m, n),
                &t.root(m),
                &t.root(n),
            )
            .unwrap();
        }
    }
}

#[test]
fn same_size_form_verifies() {
    let e = same_size();
    assert!(matches!(e.evidence(), Evidence::SameSize));
    let v = e.verify().unwrap();
    assert_eq!(v.origin(), ORIGIN);
    assert_eq!(v.first().size(), v.second().size());
    assert_ne!(v.first().root(), v.second().root());
}

#[test]
fn consistency_form_verifies_for_every_small_fork() {
    // Sizes up to 17 cover first sizes of 1, 2, 4, 8 and 16 (proofs without their first root).
    // The log signed prefixes of tree `b` at the smaller sizes and of `a` at the larger ones.
    for (alg, max) in [(HashAlgorithm::Sha256, 17usize), (HashAlgorithm::Blake3, 9)] {
        let a = Tree::new(alg, max, 1);
        let b = Tree::new(alg, max, 2);
        let older: Vec<_> = (1..max).map(|s| signed(s as u64, b.root(s))).collect();
        let newer: Vec<_> = (2..=max).map(|s| signed(s as u64, a.root(s))).collect();
        for size2 in 2..=max {
            for size1 in 1..size2 {
                let alternative = size1.is_power_of_two().then(|| a.root(size1));
                let e = Equivocation::from_consistency(
                    alg,
                    &older[size1 - 1],
                    &newer[size2 - 2],
                    &a.consistency(size1, size2),
                    alternative,
                );
                assert!(e.is_ok(), "{alg} {size1} -> {size2}: {e:?}");
            }
        }
    }
}

#[test]
fn consistency_form_with_power_of_two_carries_the_alternative_root() {
    let e = forked_consistency(HashAlgorithm::Sha256, 8, 13);
    let Evidence::Consistency {
        alternative_root, ..
    } = e.evidence()
    else {
        panic!("consistency evidence expected");
    };
    assert_eq!(
        *alternative_root,
        Some(Tree::new(HashAlgorithm::Sha256, 13, 1).root(8))
    );
    let e = forked_consistency(HashAlgorithm::Sha256, 6, 13);
    assert!(matches!(
        e.evidence(),
        Evidence::Consistency {
            alternative_root: None,
            ..
        }
    ));
}

#[test]
fn inclusion_form_verifies() {
    let v = inclusion().verify().unwrap();
    assert_eq!((v.first().size(), v.second().size()), (6, 9));
}

#[test]
fn every_form_round_trips_through_bytes_and_still_verifies() {
    for e in all_forms() {
        let bytes = e.encode();
        let decoded = Equivocation::decode(&bytes).unwrap();
        assert_eq!(decoded, e);
        assert_eq!(decoded.encode(), bytes);
        decoded.verify().unwrap();
    }
}

#[test]
fn notes_are_stored_with_the_log_signature_only() {
    let cp = signed(5, [1; 32]);
    let w =
        herald_proto::checkpoint::WitnessSigner::new("w.test", SigningKey::from_bytes(&[9; 32]))
            .unwrap();
    let cosigned = cp
        .with_cosignature(&w.verifier(), &w.cosign(&cp, 1).unwrap())
        .unwrap();
    let e = Equivocation::from_same_size(HashAlgorithm::Sha256, &cosigned, &signed(5, [2; 32]))
        .unwrap();
    assert_eq!(e.first_note(), cp.note());
}

#[test]
fn any_bit_flip_in_either_note_is_rejected() {
    // The notes of every form have the same structure (body, log signature); one form's two
    // notes cover all of it, and every flip costs up to two signature checks.
    for e in [same_size()] {
        for which in 0..2 {
            let note = if which == 0 {
                e.first_note()
            } else {
                e.second_note()
            };
            for i in 0..note.len() {
                // Alternate the low bit and the ASCII case bit from byte to byte.
                let bit = if i % 2 == 0 { 0x01u8 } else { 0x20 };
                let mut bytes = note.as_bytes().to_vec();
                bytes[i] ^= bit;
                let Ok(flipped) = String::from_utf8(bytes) else {
                    continue; // cannot even be carried as a note
                };
                let (first, second) = if which == 0 {
                    (flipped, e.second_note().to_owned())
                } else {
                    (e.first_note().to_owned(), flipped)
                };
                let t = Equivocation::new(
                    e.log().clone(),
                    e.algorithm(),
                    first,
                    second,
                    e.evidence().clone(),
                )
                .unwrap();
                assert!(t.verify().is_err(), "flip {bit:#x} at {i} of note {which}");
            }
        }
    }
}

#[test]
fn any_bit_flip_outside_the_notes_is_rejected() {
    // Every bit of the encoded message outside the two notes' bytes (the notes are covered
    // above): key, algorithm, lengths, tags and evidence.
    for e in all_forms() {
        let bytes = e.encode();
        let notes: Vec<std::ops::Range<usize>> = [e.first_note(), e.second_note()]
            .iter()
            .map(|n| {
                let start = bytes
                    .windows(n.len())
                    .position(|w| w == n.as_bytes())
                    .expect("the note is in the encoding");
                start..start + n.len()
            })
            .collect();
        for i in (0..bytes.len()).filter(|i| !notes.iter().any(|r| r.contains(i))) {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                if let Ok(d) = Equivocation::decode(&b) {
                    assert!(d.verify().is_err(), "bit {bit} of byte {i} still verifies");
                }
            }
        }
    }
}

#[test]
fn wrong_key_is_rejected() {
    let other = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[2; 32])).unwrap();
    for e in all_forms() {
        let t = Equivocation::new(
            other.verifier(),
            e.algorithm(),
            e.first_note().to_owned(),
            e.second_note().to_owned(),
            e.evidence().clone(),
        )
        .unwrap();
        assert_eq!(
            t.verify(),
            Err(EquivocationError::FirstCheckpoint(CheckpointError::Note(
                NoteError::NoVerifiedSignature
            )))
        );
    }
    // Checkpoints verified under different log keys cannot be paired.
    let a = signed(3, [1; 32]);
    let b = signed_by(&other, 3, [2; 32]);
    assert_eq!(
        Equivocation::from_same_size(HashAlgorithm::Sha256, &a, &b),
        Err(EquivocationError::DifferentLogKeys)
    );
}

#[test]
fn different_origins_are_rejected() {
    // Another log (its own name and key) signed a conflicting checkpoint: no equivocation of
    // either log.
    let beta = NoteSigner::new("beta.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap();
    let a = signed(3, [1; 32]);
    let b = signed_by(&beta, 3, [2; 32]);
    let t = Equivocation::new(
        log().verifier(),
        HashAlgorithm::Sha256,
        a.note(),
        b.note(),
        Evidence::SameSize,
    )
    .unwrap();
    assert_eq!(t.verify(), Err(EquivocationError::OriginsDiffer));
    assert_eq!(
        Equivocation::from_same_size(HashAlgorithm::Sha256, &a, &b),
        Err(EquivocationError::DifferentLogKeys)
    );
}

#[test]
fn same_size_with_equal_roots_is_no_conflict() {
    let a = signed(3, [1; 32]);
    assert_eq!(
        Equivocation::from_same_size(HashAlgorithm::Sha256, &a, &a),
        Err(EquivocationError::NoConflict)
    );
    assert_eq!(
        Equivocation::from_same_size(HashAlgorithm::Sha256, &a, &signed(4, [2; 32])),
        Err(EquivocationError::SizesDiffer {
            first: 3,
            second: 4
        })
    );
}

#[test]
fn honest_consistency_proof_is_no_conflict() {
    let alg = HashAlgorithm::Sha256;
    let t = Tree::new(alg, 13, 1);
    for size1 in [5, 8] {
        let alt = (size1 as u64).is_power_of_two().then(|| t.root(size1));
        assert_eq!(
            Equivocation::from_consistency(
                alg,
                &signed(size1 as u64, t.root(size1)),
                &signed(13, t.root(13)),
                &t.consistency(size1, 13),
                alt,
            ),
            Err(EquivocationError::NoConflict)
        );
    }
}

#[test]
fn consistency_proof_that_fails_to_verify_is_not_an_equivocation() {
    let alg = HashAlgorithm::Sha256;
    let a = Tree::new(alg, 13, 1);
    let b = Tree::new(alg, 6, 2);
    let older = signed(6, b.root(6));
    let newer = signed(13, a.root(13));
    let good = a.consistency(6, 13);
    // Garbage, a flipped hash, a truncated and an extended proof prove nothing about the log.
    let mut flipped = good.clone();
    flipped[1][0] ^= 1;
    let mut extended = good.clone();
    extended.push([0; 32]);
    for proof in [
        vec![[7u8; 32]; good.len()],
        flipped,
        good[1..].to_vec(),
        extended,
    ] {
        assert!(matches!(
            Equivocation::from_consistency(alg, &older, &newer, &proof, None),
            Err(EquivocationError::ProofDoesNotVerify(_))
        ));
    }
    // The right proof under the wrong hash algorithm also proves nothing.
    assert!(matches!(
        Equivocation::from_consistency(HashAlgorithm::Blake3, &older, &newer, &good, None),
        Err(EquivocationError::ProofDoesNotVerify(_))
    ));
    // A proof element of the wrong length.
    let short: Vec<Vec<u8>> = good.iter().map(|h| h[..31].to_vec()).collect();
    assert!(matches!(
        Equivocation::from_consistency(alg, &older, &newer, &short, None),
        Err(EquivocationError::ProofDoesNotVerify(_))
    ));
}

#[test]
fn consistency_evidence_needs_increasing_sizes_and_the_right_alternative_root() {
    let alg = HashAlgorithm::Sha256;
    let a = Tree::new(alg, 13, 1);
    let b = Tree::new(alg, 8, 2);
    let older = signed(8, b.root(8));
    let newer = signed(13, a.root(13));
    let proof = a.consistency(8, 13);
    assert!(matches!(
        Equivocation::from_consistency(alg, &newer, &older, &proof, None),
        Err(EquivocationError::SizesNotIncreasing { .. })
    ));
    assert_eq!(
        Equivocation::from_consistency(alg, &older, &newer, &proof, None),
        Err(EquivocationError::AlternativeRootMissing)
    );
    // A made-up alternative root does not authenticate against the newer root.
    assert!(matches!(
        Equivocation::from_consistency(alg, &older, &newer, &proof, Some([9; 32])),
        Err(EquivocationError::ProofDoesNotVerify(_))
    ));
    // The older checkpoint's own root is consistent: no conflict.
    assert_eq!(
        Equivocation::from_consistency(alg, &signed(8, a.root(8)), &newer, &proof, Some(a.root(8))),
        Err(EquivocationError::NoConflict)
    );
    let six = signed(6, Tree::new(alg, 6, 2).root(6));
    assert_eq!(
        Equivocation::from_consistency(alg, &six, &newer, &a.consistency(6, 13), Some([1; 32])),
        Err(EquivocationError::AlternativeRootUnexpected)
    );
}

#[test]
fn inclusion_evidence_that_does_not_conflict_or_verify_is_refused() {
    let alg = HashAlgorithm::Sha256;
    let a = Tree::new(alg, 9, 1);
    let (c6, c9) = (signed(6, a.root(6)), signed(9, a.root(9)));
    // The same leaf in both trees: consistent.
    assert_eq!(
        Equivocation::from_inclusion(
            alg,
            &c6,
            &c9,
            2,
            &a.leaves[2],
            &a.inclusion(2, 6),
            &a.leaves[2],
            &a.inclusion(2, 9)
        ),
        Err(EquivocationError::NoConflict)
    );
    // A different leaf whose proof does not verify: garbage, not an equivocation.
    let forged = a.h.hash_leaf(b"forged");
    assert!(matches!(
        Equivocation::from_inclusion(
            alg,
            &c6,
            &c9,
            2,
            &a.leaves[2],
            &a.inclusion(2, 6),
            &forged,
            &a.inclusion(2, 9)
        ),
        Err(EquivocationError::ProofDoesNotVerify(_))
    ));
    // Index outside the smaller tree.
    assert!(matches!(
        Equivocation::from_inclusion(
            alg,
            &c6,
            &c9,
            7,
            &a.leaves[7],
            &a.inclusion(7, 9),
            &a.leaves[7],
            &a.inclusion(7, 9)
        ),
        Err(EquivocationError::ProofDoesNotVerify(_))
    ));
}

#[test]
fn tampered_evidence_is_rejected() {
    let e = inclusion();
    let Evidence::Inclusion {
        index,
        first_leaf,
        first_proof,
        second_leaf,
        second_proof,
    } = e.evidence().clone()
    else {
        panic!("inclusion evidence expected");
    };
    let with = |ev: Evidence| {
        Equivocation::new(
            e.log().clone(),
            e.algorithm(),
            e.first_note().to_owned(),
            e.second_note().to_owned(),
            ev,
        )
        .unwrap()
        .verify()
    };
    let mut bad_proof = second_proof.clone();
    bad_proof[0][5] ^= 0x10;
    for ev in [
        Evidence::Inclusion {
            index: index + 1,
            first_leaf,
            first_proof: first_proof.clone(),
            second_leaf,
            second_proof: second_proof.clone(),
        },
        Evidence::Inclusion {
            index,
            first_leaf,
            first_proof: first_proof.clone(),
            second_leaf,
            second_proof: bad_proof,
        },
        Evidence::SameSize,
        Evidence::Consistency {
            proof: first_proof.clone(),
            alternative_root: None,
        },
    ] {
        assert!(with(ev).is_err());
    }
}

#[test]
fn decoding_is_bounded_and_typed() {
    let bytes = inclusion().encode();
    assert!(matches!(
        Equivocation::decode(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Wire(_))
    ));
    assert!(matches!(
        Equivocation::decode(&[]),
        Err(DecodeError::Wire(_))
    ));
    let huge = vec![0u8; herald_proto::equivocation::MAX_EQUIVOCATION_LEN + 1];
    assert!(matches!(
        Equivocation::decode(&huge),
        Err(DecodeError::Wire(
            herald_proto::wire::WireError::TooLarge { .. }
        ))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// An honest log (one tree, checkpoints of its prefixes) never yields a valid equivocation,
    /// whatever honest proofs and whatever alternative root a witness tries.
    #[test]
    fn honest_logs_never_yield_an_equivocation(
        size2 in 1usize..150,
        frac in 0.0f64..=1.0,
        index_frac in 0.0f64..1.0,
        tag in any::<u64>(),
        alt in any::<[u8; 32]>(),
        blake in any::<bool>(),
    ) {
        let alg = if blake { HashAlgorithm::Blake3 } else { HashAlgorithm::Sha256 };
        let size1 = ((size2 as f64 * frac) as usize).clamp(1, size2);
        let t = Tree::new(alg, size2, tag);
        let c1 = signed(size1 as u64, t.root(size1));
        let c2 = signed(size2 as u64, t.root(size2));
        prop_assert!(Equivocation::from_same_size(alg, &c1, &c1).is_err());
        prop_assert!(Equivocation::from_same_size(alg, &c1, &c2).is_err());
        if size1 < size2 {
            let proof = t.consistency(size1, size2);
            for root in [None, Some(alt), Some(t.root(size1))] {
                prop_assert!(Equivocation::from_consistency(alg, &c1, &c2, &proof, root).is_err());
            }
        }
        let index = ((size1 as f64 * index_frac) as usize).min(size1 - 1);
        let p1 = t.inclusion(index, size1);
        let p2 = t.inclusion(index, size2);
        prop_assert!(Equivocation::from_inclusion(
            alg, &c1, &c2, index as u64, &t.leaves[index], &p1, &t.leaves[index], &p2
        ).is_err());
        // Claiming another leaf with the honest proofs fails too.
        prop_assert!(Equivocation::from_inclusion(
            alg, &c1, &c2, index as u64, &t.leaves[index], &p1, &alt, &p2
        ).is_err());
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Equivocation::decode(&bytes).map(|e| e.verify());
    }
}

/// Whoever saw which checkpoint first, the same two checkpoints make the same proof bytes, so
/// nodes store one alert and gossip one message for one split view.
#[test]
fn a_same_size_proof_is_the_same_bytes_in_either_order() {
    let (a, b) = (signed(5, [1; 32]), signed(5, [2; 32]));
    let ab = Equivocation::from_same_size(HashAlgorithm::Sha256, &a, &b).unwrap();
    let ba = Equivocation::from_same_size(HashAlgorithm::Sha256, &b, &a).unwrap();
    assert_eq!(ab.encode(), ba.encode());
}
