//! Absence proofs (B's defence of non-publication): true and false cases, each way a window can
//! be wrong, and a property over random windows.

mod certmail_support;

use certmail_support::*;
use herald_proto::certmail::sender::SenderState;
use herald_proto::checkpoint::Checkpoint;
use herald_proto::evidence::{
    AbsenceError, BundleError, MAX_ABSENCE_LEAVES, build_absence_proof, decode_absence_proof,
    verify_absence,
};
use herald_proto::merkle::CompactRangeError;
use herald_proto::wire::pb;
use proptest::prelude::*;
use prost::Message as _;

const T_DELTA: u64 = DEADLINE + SKEW;
/// When the arbiter checks the proof.
const LATER: u64 = T_DELTA + 1000;

/// Cosigned at or before `created − 2δ`.
const BEFORE: u64 = NOW - 2 * SKEW;
/// Cosigned after `T + δ`.
const AFTER: u64 = T_DELTA + 1;

struct Window {
    world: World,
    request: pb::SignedKeyRequest,
    publication: Vec<u8>,
    before: Vec<u8>,
    size1: u64,
}

/// Bob's request is made at NOW; alpha's checkpoint at its current size is cosigned before.
fn window(seed: u64) -> Window {
    let mut rng = TestRng::new(seed);
    let world = World::new();
    let (sealed, message) = world.seal(b"M", false, &mut rng);
    let (_, request) = world.request(&message, None, &mut rng);
    let (_, actions) = SenderState::Sealed(sealed)
        .handle(world.arrived(&request), &world.alice, NOW + 1, &mut rng)
        .unwrap();
    let publication = published_leaf(&actions);
    let before = world.alpha.cosigned(&[(1, BEFORE), (2, BEFORE)]);
    let size1 = world.alpha.size();
    Window {
        world,
        request,
        publication,
        before,
        size1,
    }
}

impl Window {
    fn append(&mut self, leaves: &[Vec<u8>]) {
        for leaf in leaves {
            self.world.alpha.append(leaf);
        }
    }

    fn after(&self, cosigners: &[(u8, u64)]) -> Vec<u8> {
        self.world.alpha.cosigned(cosigners)
    }

    fn leaves(&self) -> Vec<Vec<u8>> {
        self.world.alpha.leaves[self.size1 as usize..].to_vec()
    }

    fn proof(&self, after: &[u8]) -> Result<pb::AbsenceProof, AbsenceError> {
        let edge = self.world.alpha.edge(self.size1);
        build_absence_proof(&self.request, &self.before, after, &edge, self.leaves())
    }

    /// The proof without the builder's checks, for verifying false cases.
    fn raw_proof(&self, after: &[u8]) -> pb::AbsenceProof {
        let edge = self.world.alpha.edge(self.size1);
        pb::AbsenceProof {
            version: 1,
            request: Some(self.request.clone()),
            checkpoint_before: self.before.clone(),
            checkpoint_after: after.to_vec(),
            right_edge: edge.hashes().iter().map(|h| h.to_vec()).collect(),
            leaves: self.leaves(),
        }
    }
}

fn fillers(n: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| filler(100 + i)).collect()
}

#[test]
fn absence_of_the_publication_is_shown() {
    let mut w = window(1);
    w.append(&fillers(7));
    let after = w.after(&[(1, AFTER), (3, AFTER + 5)]);
    let proof = w.proof(&after).unwrap();
    let verified = verify_absence(&proof, LATER).unwrap();
    assert_eq!(
        (verified.from_size, verified.to_size),
        (w.size1, w.size1 + 7)
    );
    // As a file too.
    let bytes = proof.encode_to_vec();
    assert_eq!(decode_absence_proof(&bytes).as_ref(), Ok(&proof));
}

#[test]
fn an_empty_window_is_a_valid_absence() {
    let w = window(2);
    let after = w.after(&[(1, AFTER), (2, AFTER)]);
    assert!(verify_absence(&w.proof(&after).unwrap(), LATER).is_ok());
}

#[test]
fn window_that_contains_the_publication_is_refused() {
    let mut w = window(3);
    let publication = w.publication.clone();
    w.append(&fillers(3));
    w.append(&[publication]);
    w.append(&fillers(2));
    let after = w.after(&[(1, AFTER), (2, AFTER)]);
    let at = w.size1 + 3;
    assert_eq!(
        w.proof(&after).unwrap_err(),
        AbsenceError::PublicationFound { index: at }
    );
    assert_eq!(
        verify_absence(&w.raw_proof(&after), LATER).unwrap_err(),
        AbsenceError::PublicationFound { index: at }
    );
}

#[test]
fn window_with_a_wrong_leaf_is_refused() {
    let mut w = window(4);
    w.append(&fillers(5));
    let after = w.after(&[(1, AFTER), (2, AFTER)]);
    let mut proof = w.raw_proof(&after);
    // The publication hidden by swapping it for a harmless leaf.
    proof.leaves[2] = filler(200);
    assert_eq!(
        verify_absence(&proof, LATER).unwrap_err(),
        AbsenceError::WindowMismatch
    );
    let mut proof = w.raw_proof(&after);
    proof.leaves.pop();
    assert!(matches!(
        verify_absence(&proof, LATER),
        Err(AbsenceError::LeafCount { .. })
    ));
}

#[test]
fn wrong_right_edge_is_refused() {
    let mut w = window(5);
    w.append(&fillers(4));
    let after = w.after(&[(1, AFTER), (2, AFTER)]);
    let mut proof = w.raw_proof(&after);
    proof.right_edge[0][0] ^= 1;
    assert_eq!(
        verify_absence(&proof, LATER).unwrap_err(),
        AbsenceError::RightEdgeMismatch
    );
    let mut proof = w.raw_proof(&after);
    proof.right_edge.push(vec![0; 32]);
    assert!(matches!(
        verify_absence(&proof, LATER),
        Err(AbsenceError::RightEdge(
            CompactRangeError::WrongHashCount { .. }
        ))
    ));
}

#[test]
fn checkpoint_before_cosigned_too_late_is_refused() {
    // Cosigned after created − 2δ: the sender could already have published below its size.
    let mut w = window(6);
    w.before = w.world.alpha.cosigned(&[(1, BEFORE + 1), (2, BEFORE)]);
    w.append(&fillers(2));
    let after = w.after(&[(1, AFTER), (2, AFTER)]);
    assert!(matches!(
        verify_absence(&w.proof(&after).unwrap(), LATER),
        Err(AbsenceError::NotBefore { limit, .. }) if limit == NOW - 2 * SKEW
    ));
}

#[test]
fn checkpoint_after_cosigned_too_early_is_refused() {
    let mut w = window(7);
    w.append(&fillers(2));
    // At T + δ exactly: a publication could still follow in a checkpoint cosigned then.
    let after = w.after(&[(1, T_DELTA), (2, T_DELTA), (3, T_DELTA)]);
    assert_eq!(
        verify_absence(&w.proof(&after).unwrap(), LATER).unwrap_err(),
        AbsenceError::NotAfter {
            limit: T_DELTA,
            counted: 0,
            needed: 2
        }
    );
    // One witness after is not enough when two (n − q + 1) are needed.
    let after = w.after(&[(1, AFTER), (2, T_DELTA)]);
    assert_eq!(
        verify_absence(&w.proof(&after).unwrap(), LATER).unwrap_err(),
        AbsenceError::NotAfter {
            limit: T_DELTA,
            counted: 1,
            needed: 2
        }
    );
    // Cosignatures from the future do not count either.
    let after = w.after(&[(1, AFTER), (2, LATER + SKEW + 1)]);
    assert!(matches!(
        verify_absence(&w.proof(&after).unwrap(), LATER),
        Err(AbsenceError::NotAfter { counted: 1, .. })
    ));
}

#[test]
fn checkpoints_of_another_log_are_refused() {
    // A window that is consistent in itself, but of beta's log: it says nothing about X.
    let mut w = window(8);
    let beta = &mut w.world.beta;
    let size1 = beta.size();
    let before = beta.cosigned(&[(1, BEFORE), (2, BEFORE)]);
    beta.append(&filler(1));
    let after = beta.cosigned(&[(1, AFTER), (2, AFTER)]);
    let proof = pb::AbsenceProof {
        version: 1,
        request: Some(w.request.clone()),
        checkpoint_before: before,
        checkpoint_after: after,
        right_edge: beta
            .edge(size1)
            .hashes()
            .iter()
            .map(|h| h.to_vec())
            .collect(),
        leaves: beta.leaves[size1 as usize..].to_vec(),
    };
    assert!(matches!(
        verify_absence(&proof, LATER),
        Err(AbsenceError::Checkpoint {
            which: "before",
            ..
        })
    ));
}

#[test]
fn window_too_large_is_refused_before_any_leaf_is_read() {
    let w = window(9);
    let huge = Checkpoint {
        origin: w.world.alpha.origin().into(),
        size: w.size1 + MAX_ABSENCE_LEAVES as u64 + 1,
        root: [0; 32],
    };
    let after = huge.sign(&w.world.alpha.signer).unwrap().to_string();
    assert_eq!(
        verify_absence(&w.raw_proof(after.as_bytes()), LATER).unwrap_err(),
        AbsenceError::WindowTooLarge {
            leaves: MAX_ABSENCE_LEAVES as u64 + 1,
            max: MAX_ABSENCE_LEAVES
        }
    );
}

#[test]
fn absence_proof_files_are_versioned() {
    let w = window(10);
    let after = w.after(&[(1, AFTER), (2, AFTER)]);
    let mut proof = w.proof(&after).unwrap();
    proof.version = 2;
    assert!(matches!(
        decode_absence_proof(&proof.encode_to_vec()),
        Err(BundleError::UnsupportedVersion { version: 2, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Whatever the window, the proof verifies exactly when the publication is outside it.
    #[test]
    fn absence_verifies_iff_the_window_has_no_publication(
        before_n in 0u8..6,
        after_n in 0u8..6,
        published in any::<bool>(),
    ) {
        let mut w = window(100);
        w.append(&fillers(before_n));
        if published {
            let p = w.publication.clone();
            w.append(&[p]);
        }
        w.append(&fillers(after_n));
        let after = w.after(&[(1, AFTER), (2, AFTER)]);
        let result = verify_absence(&w.raw_proof(&after), LATER);
        prop_assert_eq!(result.is_ok(), !published);
        if published {
            let at = w.size1 + u64::from(before_n);
            prop_assert_eq!(result.unwrap_err(), AbsenceError::PublicationFound { index: at });
        }
    }
}
