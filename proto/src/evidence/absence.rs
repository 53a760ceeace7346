//! Non-publication, the recipient's positive defence (DESIGN §3.3): every leaf X's log appended
//! between two cosigned checkpoints, none naming req_hash.
//!
//! What makes the window complete:
//! - **Before**: a quorum of X's witnesses cosigned checkpoint 1 at or before `created − 2δ`.
//!   The sender refuses requests dated more than δ ahead of its clock (`certmail::sender`), so it
//!   did not publish for req_hash (which needs sig_B) before `created − δ` by its clock, which is
//!   no earlier than `created − 2δ` by a witness's clock (clocks agree within δ): no publication
//!   lies below checkpoint 1's size.
//! - **After**: at least `n − q + 1` of X's `n` witnesses cosigned checkpoint 2 after `T + δ`.
//!   A publication counts only in a checkpoint with `q` cosignatures timestamped ≤ `T + δ`; those
//!   `q` witnesses and these `n − q + 1` share one, and a witness never cosigns a smaller tree
//!   after a larger one (C2SP tlog-witness), so every counted publication lies below checkpoint
//!   2's size.
//! - **Between**: the right edge at size 1 folds to checkpoint 1's root, and appending the leaves
//!   gives checkpoint 2's root: exactly these leaves, in this order, are the log between them.
//!
//! Bounds: at most [`MAX_ABSENCE_LEAVES`] leaves and [`MAX_ABSENCE_PROOF_BYTES`] encoded.
//! The Merkle work runs before any signature is checked.

use super::bundle::{BundleError, decode_limited};
use super::names_request;
use crate::certmail::{CertMailError, VerifiedKeyRequest, verify_request};
use crate::checkpoint::{Checkpoint, CheckpointError, PolicyError, WitnessPolicy};
use crate::merkle::{CompactRange, CompactRangeError, Hash, LogHasher};
use crate::note::SignedNote;
use crate::wire::{MAX_ABSENCE_LEAVES, MAX_ABSENCE_PROOF_BYTES, Validate as _, WireError, pb};

/// The absence proof format version this code writes and reads.
pub const ABSENCE_PROOF_VERSION: u32 = 1;

/// Why an absence proof does not show non-publication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AbsenceError {
    /// The proof breaks the schema's bounds (too many leaves, a leaf too large, ...).
    #[error("malformed proof: {0}")]
    Wire(#[from] WireError),
    /// The request is not a validly signed key request.
    #[error("request: {0}")]
    Request(CertMailError),
    /// More leaves than an absence proof may hold.
    #[error("window of {leaves} leaves exceeds {max}")]
    WindowTooLarge {
        /// Leaves in the window.
        leaves: u64,
        /// The bound.
        max: usize,
    },
    /// A checkpoint note does not parse (or, when checked, its log signature fails).
    #[error("{which} checkpoint: {error}")]
    Checkpoint {
        /// "before" or "after".
        which: &'static str,
        /// Why.
        error: CheckpointError,
    },
    /// Checkpoint 1 is larger than checkpoint 2.
    #[error("checkpoint sizes {before} > {after}")]
    SizesOutOfOrder {
        /// Checkpoint 1's size.
        before: u64,
        /// Checkpoint 2's size.
        after: u64,
    },
    /// The number of leaves is not the difference of the sizes.
    #[error("{got} leaves for a window of {want}")]
    LeafCount {
        /// Leaves given.
        got: usize,
        /// `size2 − size1`.
        want: u64,
    },
    /// The right edge has the wrong number of hashes for checkpoint 1's size.
    #[error("right edge: {0}")]
    RightEdge(CompactRangeError),
    /// The right edge does not fold to checkpoint 1's root.
    #[error("the right edge does not give checkpoint 1's root")]
    RightEdgeMismatch,
    /// Appending the leaves does not give checkpoint 2's root.
    #[error("the leaves do not lead from checkpoint 1's root to checkpoint 2's")]
    WindowMismatch,
    /// A leaf in the window names the request: it was published.
    #[error("the leaf at index {index} names the request")]
    PublicationFound {
        /// Its index in X's log.
        index: u64,
    },
    /// Checkpoint 1 lacks a quorum of cosignatures at or before `created − 2δ`.
    #[error("checkpoint 1 is not cosigned before created − 2δ = {limit}: {error}")]
    NotBefore {
        /// `created − 2δ`.
        limit: u64,
        /// What the policy check found.
        error: PolicyError,
    },
    /// Checkpoint 2 lacks `n − q + 1` cosignatures after `T + δ`.
    #[error("checkpoint 2 has {counted} cosignatures after T + δ = {limit}, {needed} needed")]
    NotAfter {
        /// `T + δ`.
        limit: u64,
        /// Valid cosignatures by X's witnesses timestamped after it.
        counted: usize,
        /// `n − q + 1`.
        needed: usize,
    },
}

/// A checked absence proof: no publication of `req_hash` in X's log between the two sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAbsence {
    /// The request (its signature verified under the key it names).
    pub request: VerifiedKeyRequest,
    /// Checkpoint 1's size: the first index scanned.
    pub from_size: u64,
    /// Checkpoint 2's size: one past the last index scanned.
    pub to_size: u64,
}

/// Reads an absence proof file: at most [`MAX_ABSENCE_PROOF_BYTES`], version
/// [`ABSENCE_PROOF_VERSION`].
pub fn decode_absence_proof(bytes: &[u8]) -> Result<pb::AbsenceProof, BundleError> {
    let proof: pb::AbsenceProof = decode_limited(bytes, MAX_ABSENCE_PROOF_BYTES, "absence proof")?;
    if proof.version != ABSENCE_PROOF_VERSION {
        return Err(BundleError::UnsupportedVersion {
            what: "absence proof",
            version: proof.version,
            supported: ABSENCE_PROOF_VERSION,
        });
    }
    Ok(proof)
}

fn tree(which: &'static str, note: &[u8]) -> Result<Checkpoint, AbsenceError> {
    SignedNote::parse(note)
        .map_err(CheckpointError::from)
        .and_then(|n| Checkpoint::parse_body(n.text()))
        .map_err(|error| AbsenceError::Checkpoint { which, error })
}

/// The Merkle part: the window is exactly the log between the two trees, and names no request.
fn check_window<H: LogHasher>(
    h: &H,
    req_hash: &[u8; 32],
    before: &Checkpoint,
    after: &Checkpoint,
    right_edge: Vec<Hash>,
    leaves: &[Vec<u8>],
) -> Result<(), AbsenceError> {
    if before.size > after.size {
        return Err(AbsenceError::SizesOutOfOrder {
            before: before.size,
            after: after.size,
        });
    }
    let want = after.size - before.size;
    if want > MAX_ABSENCE_LEAVES as u64 {
        return Err(AbsenceError::WindowTooLarge {
            leaves: want,
            max: MAX_ABSENCE_LEAVES,
        });
    }
    if leaves.len() as u64 != want {
        return Err(AbsenceError::LeafCount {
            got: leaves.len(),
            want,
        });
    }
    let mut range =
        CompactRange::from_parts(before.size, right_edge).map_err(AbsenceError::RightEdge)?;
    if range.root(h) != before.root {
        return Err(AbsenceError::RightEdgeMismatch);
    }
    for (offset, leaf) in leaves.iter().enumerate() {
        let index = before.size + offset as u64;
        if names_request(leaf, req_hash) {
            return Err(AbsenceError::PublicationFound { index });
        }
        range
            .try_append(h, h.hash_leaf(leaf), |_, _| {})
            .map_err(AbsenceError::RightEdge)?;
    }
    if range.root(h) != after.root {
        return Err(AbsenceError::WindowMismatch);
    }
    Ok(())
}

/// Checks an absence proof offline at time `now` (see the module documentation).
pub fn verify_absence(proof: &pb::AbsenceProof, now: u64) -> Result<VerifiedAbsence, AbsenceError> {
    proof.validate()?;
    let signed = proof.request.as_ref().ok_or(WireError::MissingField {
        field: "AbsenceProof.request",
    })?;
    let request = verify_request(signed).map_err(AbsenceError::Request)?;
    let x = request.location();
    let before = tree("before", &proof.checkpoint_before)?;
    let after = tree("after", &proof.checkpoint_after)?;
    // validate() checked every right-edge hash is 32 bytes.
    let edge: Vec<Hash> = proof
        .right_edge
        .iter()
        .filter_map(|h| h.as_slice().try_into().ok())
        .collect();
    check_window(
        &x.log().hasher(),
        request.req_hash(),
        &before,
        &after,
        edge,
        &proof.leaves,
    )?;

    let skew = x.clock_skew();
    let policy = x.policy();
    let limit = request.created().saturating_sub(skew.saturating_mul(2));
    policy
        .verify_cosigned_by(&proof.checkpoint_before, limit, now, skew)
        .map_err(|error| match error {
            PolicyError::Checkpoint(error) => AbsenceError::Checkpoint {
                which: "before",
                error,
            },
            error => AbsenceError::NotBefore { limit, error },
        })?;
    let limit = request.publication_limit();
    let (n, q) = (policy.witnesses().len(), policy.quorum());
    let needed = n - q + 1;
    // Count every valid cosignature by X's witnesses (none from the future); those after T + δ
    // must reach n − q + 1. The same witnesses with quorum 1 form a valid policy (X's has at
    // least one witness), so the note is checked without failing early on the quorum.
    let not_after = |counted| AbsenceError::NotAfter {
        limit,
        counted,
        needed,
    };
    let any = WitnessPolicy::new(policy.log().clone(), policy.witnesses().to_vec(), 1)
        .map_err(|_| not_after(0))?;
    let counted = match any.verify(&proof.checkpoint_after, now, skew) {
        Ok(cp) => cp
            .cosignatures()
            .iter()
            .filter(|c| c.timestamp() > limit)
            .count(),
        Err(PolicyError::Checkpoint(error)) => {
            return Err(AbsenceError::Checkpoint {
                which: "after",
                error,
            });
        }
        Err(_) => 0,
    };
    if counted < needed {
        return Err(not_after(counted));
    }
    Ok(VerifiedAbsence {
        request,
        from_size: before.size,
        to_size: after.size,
    })
}

/// Assembles an absence proof from the request, the two checkpoint notes, the right edge at
/// checkpoint 1's size and the leaves up to checkpoint 2's size. Checks the Merkle part (so a
/// window containing the publication is refused here); signatures and timing are
/// [`verify_absence`]'s.
pub fn build_absence_proof(
    request: &pb::SignedKeyRequest,
    checkpoint_before: &[u8],
    checkpoint_after: &[u8],
    right_edge: &CompactRange,
    leaves: Vec<Vec<u8>>,
) -> Result<pb::AbsenceProof, AbsenceError> {
    let verified = verify_request(request).map_err(AbsenceError::Request)?;
    let before = tree("before", checkpoint_before)?;
    let after = tree("after", checkpoint_after)?;
    if right_edge.size() != before.size {
        return Err(AbsenceError::RightEdge(CompactRangeError::WrongHashCount {
            size: before.size,
            got: right_edge.hashes().len(),
            want: before.size.count_ones() as usize,
        }));
    }
    check_window(
        &verified.location().log().hasher(),
        verified.req_hash(),
        &before,
        &after,
        right_edge.hashes().to_vec(),
        &leaves,
    )?;
    Ok(pb::AbsenceProof {
        version: ABSENCE_PROOF_VERSION,
        request: Some(request.clone()),
        checkpoint_before: checkpoint_before.to_vec(),
        checkpoint_after: checkpoint_after.to_vec(),
        right_edge: right_edge.hashes().iter().map(|h| h.to_vec()).collect(),
        leaves,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{AnyHasher, HashAlgorithm, MemoryHashes};
    use prost::Message as _;

    fn publication(req_hash: [u8; 32]) -> Vec<u8> {
        pb::LogEntry {
            kind: Some(pb::log_entry::Kind::KeyPublication(pb::KeyPublication {
                req_hash: req_hash.to_vec(),
                ..Default::default()
            })),
        }
        .encode_to_vec()
    }

    /// Leaves 0..n, the tree heads at `a` and `b`, and the right edge at `a`.
    fn setup(leaves: &[Vec<u8>], a: u64, b: u64) -> (Checkpoint, Checkpoint, Vec<Hash>) {
        let h = AnyHasher(HashAlgorithm::Blake3);
        let head = |n: u64| {
            let (_, range) = MemoryHashes::from_leaf_hashes(
                &h,
                leaves[..n as usize].iter().map(|l| h.hash_leaf(l)),
            );
            (
                Checkpoint {
                    origin: "a.test/herald".into(),
                    size: n,
                    root: range.root(&h),
                },
                range.hashes().to_vec(),
            )
        };
        let ((before, edge), (after, _)) = (head(a), head(b));
        (before, after, edge)
    }

    #[test]
    fn the_window_is_scanned_and_bound_to_both_roots() {
        let h = AnyHasher(HashAlgorithm::Blake3);
        let mut leaves: Vec<Vec<u8>> = (0..9u8).map(|i| vec![i; 3]).collect();
        leaves[6] = publication([7; 32]);
        let (before, after, edge) = setup(&leaves, 3, 9);
        let window = &leaves[3..];
        assert_eq!(
            check_window(&h, &[8; 32], &before, &after, edge.clone(), window),
            Ok(())
        );
        assert_eq!(
            check_window(&h, &[7; 32], &before, &after, edge.clone(), window),
            Err(AbsenceError::PublicationFound { index: 6 })
        );
        assert_eq!(
            check_window(&h, &[8; 32], &after, &before, edge.clone(), window),
            Err(AbsenceError::SizesOutOfOrder {
                before: 9,
                after: 3
            })
        );
        assert_eq!(
            check_window(&h, &[8; 32], &before, &after, edge, &window[1..]),
            Err(AbsenceError::LeafCount { got: 5, want: 6 })
        );
    }
}
