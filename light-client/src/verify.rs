//! Turning a gateway's answers into trusted facts, without I/O.
//!
//! A log as the client knows it is proto's [`LogTrust`]. The functions here check one answer
//! each with proto's verifiers and return the types that only verification makes
//! ([`VerifiedCheckpoint`], [`VerifiedInclusion`], [`VerifiedConsistency`]); whether a checkpoint
//! may follow the trusted one is proto's succession rule ([`herald_proto::succession`]). Every
//! refusal is a [`VerifyError`] carrying the evidence: the checkpoints, the proof, and when the
//! answers prove a split view, a transferable [`Equivocation`].

// `VerifyError` carries whole checkpoints as evidence, so it is large; it is made only when a
// gateway misbehaves, and `ClientError` boxes it.
#![allow(clippy::result_large_err)]

use herald_proto::checkpoint::{CheckpointError, PolicyError, VerifiedCheckpoint};
use herald_proto::equivocation::Equivocation;
use herald_proto::identity::IdentityError;
use herald_proto::inclusion::{InclusionError, LogTrust, VerifiedInclusion};
use herald_proto::merkle::{Hash, ProofError};
use herald_proto::note::b64;
use herald_proto::succession::{SuccessionError, succession};
use herald_proto::wire::pb;

use crate::verified::VerifiedConsistency;

/// Why an answer from the gateway is not accepted. Each variant means the gateway misbehaved
/// (or the client was given the wrong log key or hash algorithm) and carries the evidence.
// The succession refusal carries two checkpoints and a proof inline; the enum travels boxed in
// `ClientError` and is made only when a gateway misbehaves.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The note is not a checkpoint signed by the log's key: malformed, signed by another key,
    /// a failing signature, another origin, or an empty tree with another root.
    #[error("checkpoint not signed by the log key: {error}")]
    Checkpoint {
        /// The note as received.
        note: Vec<u8>,
        /// Why it was refused.
        error: CheckpointError,
    },
    /// The received checkpoint may not follow the trusted one (proto's succession rule): the
    /// log went back, an empty tree has another root, a proof does not verify, or — carrying
    /// the transferable proof — the log showed a split view.
    #[error(transparent)]
    Succession(SuccessionError),
    /// A consistency proof between two roots proved against `anchor` does not verify.
    #[error("consistency proof from size {size1} to {size2} does not verify: {error}")]
    BadConsistencyProof {
        /// The trusted checkpoint both roots were proved against.
        anchor: VerifiedCheckpoint,
        /// The older size.
        size1: u64,
        /// Its root, proved against `anchor`.
        root1: Hash,
        /// The newer size.
        size2: u64,
        /// Its root, proved against `anchor`.
        root2: Hash,
        /// The proof received.
        proof: pb::ConsistencyProof,
        /// Why it does not verify.
        error: ProofError,
    },
    /// An inclusion proof does not verify against the checkpoint.
    #[error(
        "inclusion proof of leaf {} does not verify against the checkpoint of size {}: {error}",
        proof.leaf_index,
        checkpoint.size()
    )]
    NotIncluded {
        /// The checkpoint the proof should verify against.
        checkpoint: VerifiedCheckpoint,
        /// The leaf hash the proof should be for.
        leaf_hash: Hash,
        /// The proof received.
        proof: pb::InclusionProof,
        /// Why it does not verify.
        error: ProofError,
    },
    /// The checkpoint is not cosigned as the client's witness policy requires (too few valid
    /// cosignatures by its witnesses, a failing one, or timestamps from the future).
    #[error("checkpoint is not cosigned as required: {error}")]
    NotCosigned {
        /// The note as received.
        note: Vec<u8>,
        /// Why the policy refused it.
        error: PolicyError,
    },
    /// The log signed two checkpoints that cannot both be true: a verified equivocation proof
    /// (from the gateway's alerts or seen by this client). The log is no longer trusted.
    #[error("the log {} equivocated (signed two checkpoints that cannot both be true)", equivocation.log().name())]
    Equivocated {
        /// The transferable proof.
        equivocation: Box<Equivocation>,
    },
    /// An identity binding or revocation the gateway served does not verify: a bad gateway or
    /// prekey signature, an account of another domain, a leaf of another kind, or a leaf not
    /// included in a checkpoint of the domain's log cosigned as its witness policy requires.
    #[error("the identity {what} of {account:?} does not verify: {error}")]
    Identity {
        /// "binding" or "revocation".
        what: &'static str,
        /// The account asked about.
        account: String,
        /// The leaf as received.
        leaf: Box<pb::IncludedLeaf>,
        /// Why it does not verify.
        error: IdentityError,
    },
    /// A leaf the gateway served is not proved in a checkpoint signed by the log's key (a bad
    /// note or signature, another tree size, or a proof that does not lead to the root).
    #[error("the leaf is not proved in a checkpoint of the log: {error}")]
    LeafNotProved {
        /// The leaf as received.
        leaf: Box<pb::IncludedLeaf>,
        /// Why.
        error: InclusionError,
    },
    /// A delivery-status answer does not verify (proto's `evidence::verify_status`): a record
    /// not included, not signed by the log's key, about another msg_id, or a checkpoint not
    /// cosigned as required.
    #[error("the delivery-status answer does not verify: {error}")]
    Status {
        /// The answer as received.
        answer: Box<pb::EvidenceAnswer>,
        /// Why.
        error: herald_proto::evidence::StatusError,
    },
    /// A log in the gateway's trust list is not a usable description (a key that does not
    /// parse or is not canonical, an unknown hash, a bad quorum), or the list does not describe
    /// the gateway's own log under the key the client was given.
    #[error("the trust list's log {which:?} is not usable: {reason}")]
    BadTrustList {
        /// The log key as listed (or "own").
        which: String,
        /// What is wrong.
        reason: String,
    },
    /// The gateway answered about something other than what was asked (another index, tree
    /// size, leaf hash or range).
    #[error("the gateway answered for {what} {answered}, asked {asked}")]
    AnswerMismatch {
        /// What differs.
        what: &'static str,
        /// What was asked (or expected).
        asked: String,
        /// What the answer says.
        answered: String,
    },
}

impl VerifyError {
    /// The transferable proof of a split view this refusal carries, if any.
    pub fn equivocation(&self) -> Option<&Equivocation> {
        match self {
            VerifyError::Succession(e) => e.equivocation(),
            VerifyError::Equivocated { equivocation } => Some(equivocation),
            _ => None,
        }
    }
}

/// Verifies checkpoint note bytes as one signed by `log`'s key ([`LogTrust::verify_checkpoint`]).
pub fn verify_checkpoint(log: &LogTrust, note: &[u8]) -> Result<VerifiedCheckpoint, VerifyError> {
    log.verify_checkpoint(note)
        .map_err(|error| VerifyError::Checkpoint {
            note: note.to_vec(),
            error,
        })
}

/// Verifies note bytes as a checkpoint of `log` cosigned as its witness policy requires, at
/// time `now` ([`LogTrust::verify_cosigned`]).
pub fn verify_cosigned(
    log: &LogTrust,
    note: &[u8],
    now: u64,
) -> Result<VerifiedCheckpoint, VerifyError> {
    match log.verify_cosigned(note, now) {
        Ok(cosigned) => Ok(cosigned.checkpoint().clone()),
        Err(error) => Err(VerifyError::NotCosigned {
            note: note.to_vec(),
            error,
        }),
    }
}

/// Checks that `newer` may follow `older` given the gateway's consistency `proof` (both signed
/// by the log): proto's succession rule, after checking the answer is for the sizes asked.
pub fn verify_consistency(
    log: &LogTrust,
    older: &VerifiedCheckpoint,
    newer: &VerifiedCheckpoint,
    proof: &pb::ConsistencyProof,
) -> Result<(), VerifyError> {
    check_proof_sizes(older, newer, proof)?;
    succession(log, Some(older), newer, &proof.hashes)
        .map(|_| ())
        .map_err(VerifyError::Succession)
}

/// The consistency answer is for the sizes asked.
pub(crate) fn check_proof_sizes(
    older: &VerifiedCheckpoint,
    newer: &VerifiedCheckpoint,
    proof: &pb::ConsistencyProof,
) -> Result<(), VerifyError> {
    if proof.size1 != older.size() || proof.size2 != newer.size() {
        return Err(VerifyError::AnswerMismatch {
            what: "consistency proof sizes",
            asked: format!("{} to {}", older.size(), newer.size()),
            answered: format!("{} to {}", proof.size1, proof.size2),
        });
    }
    Ok(())
}

/// Checks that `leaf_hash` is the leaf at `proof.leaf_index` of `checkpoint`'s tree. When the
/// caller asked for a particular index, `leaf_index` is it.
pub(crate) fn verify_inclusion(
    log: &LogTrust,
    checkpoint: &VerifiedCheckpoint,
    leaf_index: Option<u64>,
    leaf_hash: &Hash,
    proof: &pb::InclusionProof,
) -> Result<VerifiedInclusion, VerifyError> {
    if proof.tree_size != checkpoint.size() {
        return Err(VerifyError::AnswerMismatch {
            what: "inclusion proof tree size",
            asked: checkpoint.size().to_string(),
            answered: proof.tree_size.to_string(),
        });
    }
    if let Some(index) = leaf_index
        && index != proof.leaf_index
    {
        return Err(VerifyError::AnswerMismatch {
            what: "inclusion proof leaf index",
            asked: index.to_string(),
            answered: proof.leaf_index.to_string(),
        });
    }
    log.verify_inclusion(checkpoint, leaf_hash, proof)
        .map_err(|e| VerifyError::NotIncluded {
            checkpoint: checkpoint.clone(),
            leaf_hash: *leaf_hash,
            proof: proof.clone(),
            error: match e {
                InclusionError::Proof(error) => error,
                // The tree size was checked above; nothing else is left.
                _ => ProofError::WrongProofLength { got: 0, want: 0 },
            },
        })
}

/// Checks an inclusion answer for a leaf whose hash the client expects (it has the entry).
pub(crate) fn verify_inclusion_answer(
    log: &LogTrust,
    checkpoint: &VerifiedCheckpoint,
    leaf_index: Option<u64>,
    leaf_hash: &Hash,
    answer: &pb::InclusionAnswer,
) -> Result<VerifiedInclusion, VerifyError> {
    if answer.leaf_hash != leaf_hash {
        return Err(VerifyError::AnswerMismatch {
            what: "leaf hash",
            asked: b64(leaf_hash),
            answered: b64(&answer.leaf_hash),
        });
    }
    let proof = answer.proof.as_ref().ok_or(VerifyError::AnswerMismatch {
        what: "inclusion answer",
        asked: "a proof".into(),
        answered: "none".into(),
    })?;
    verify_inclusion(log, checkpoint, leaf_index, leaf_hash, proof)
}

/// The root of the first `size` leaves of the inclusion's tree, from the verified inclusion proof
/// of leaf `size` in it ([`VerifiedInclusion::prefix_root`]).
pub(crate) fn prefix_root(inclusion: &VerifiedInclusion, size: u64) -> Result<Hash, VerifyError> {
    let mismatch = |what| VerifyError::AnswerMismatch {
        what,
        asked: size.to_string(),
        answered: inclusion.index().to_string(),
    };
    if inclusion.index() != size {
        return Err(mismatch("leaf index of the prefix proof"));
    }
    inclusion
        .prefix_root()
        .map_err(|_| mismatch("prefix proof shape"))
}

/// Checks the consistency proof between two roots already proved against `anchor`.
#[allow(clippy::too_many_arguments)] // two (size, root) pairs, the log, the anchor and the proof
pub(crate) fn verify_consistency_between(
    log: &LogTrust,
    anchor: &VerifiedCheckpoint,
    size1: u64,
    root1: Hash,
    size2: u64,
    root2: Hash,
    proof: &pb::ConsistencyProof,
) -> Result<VerifiedConsistency, VerifyError> {
    if proof.size1 != size1 || proof.size2 != size2 {
        return Err(VerifyError::AnswerMismatch {
            what: "consistency proof sizes",
            asked: format!("{size1} to {size2}"),
            answered: format!("{} to {}", proof.size1, proof.size2),
        });
    }
    proof
        .verify(&log.hasher(), &root1, &root2)
        .map_err(|error| VerifyError::BadConsistencyProof {
            anchor: anchor.clone(),
            size1,
            root1,
            size2,
            root2,
            proof: proof.clone(),
            error,
        })?;
    Ok(VerifiedConsistency {
        anchor: anchor.clone(),
        size1,
        root1,
        size2,
        root2,
        proof: proof.clone(),
    })
}

/// Two equal-size views of one proved root: nothing to prove between them.
pub(crate) fn same_tree(anchor: &VerifiedCheckpoint, size: u64, root: Hash) -> VerifiedConsistency {
    VerifiedConsistency {
        anchor: anchor.clone(),
        size1: size,
        root1: root,
        size2: size,
        root2: root,
        proof: pb::ConsistencyProof::new(size, size, &[]),
    }
}

#[cfg(test)]
mod tests {
    //! The wrappers' mapping to evidence-carrying errors. The rules themselves are proto's and
    //! tested there: succession in `proto/tests/succession.rs`, prefixes in `merkle::prefix`.
    use herald_proto::merkle::HashAlgorithm;

    use super::*;
    use crate::test_log::TestLog;

    fn identity(log: &TestLog) -> LogTrust {
        LogTrust::unwitnessed(log.verifier(), HashAlgorithm::Blake3)
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let log = TestLog::new(4);
        let impostor = TestLog::with_key("alpha.test/herald", [9; 32], 4);
        let note = impostor.checkpoint_note(4);
        let err = verify_checkpoint(&identity(&log), &note).unwrap_err();
        assert!(
            matches!(err, VerifyError::Checkpoint { ref note, .. } if !note.is_empty()),
            "{err:?}"
        );
        assert!(verify_checkpoint(&identity(&log), &log.checkpoint_note(4)).is_ok());
    }

    #[test]
    fn a_fork_is_refused_with_the_equivocation_and_garbage_without() {
        // Same first 4 leaves except leaf 2; both trees signed by the same key.
        let honest = TestLog::new(8);
        let mut forked = TestLog::new(8);
        forked.replace_leaf(2, b"forged".to_vec());
        let id = identity(&honest);
        let old = verify_checkpoint(&id, &honest.checkpoint_note(5)).unwrap();
        let new = verify_checkpoint(&id, &forked.checkpoint_note(8)).unwrap();
        let err = verify_consistency(&id, &old, &new, &forked.consistency(5, 8)).unwrap_err();
        assert!(err.equivocation().unwrap().verify().is_ok(), "{err:?}");
        let honest_new = verify_checkpoint(&id, &honest.checkpoint_note(8)).unwrap();
        let mut garbage = honest.consistency(5, 8);
        garbage.hashes[0] = herald_proto::testkit::flipped(&garbage.hashes[0]);
        let err = verify_consistency(&id, &old, &honest_new, &garbage).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Succession(SuccessionError::BadProof { .. })
            ),
            "{err:?}"
        );
        // A proof for other sizes than asked is not an answer.
        assert!(matches!(
            verify_consistency(&id, &old, &honest_new, &honest.consistency(4, 8)),
            Err(VerifyError::AnswerMismatch { .. })
        ));
    }

    #[test]
    fn truncated_and_over_long_inclusion_proofs_are_refused() {
        let log = TestLog::new(13);
        let id = identity(&log);
        let cp = verify_checkpoint(&id, &log.checkpoint_note(13)).unwrap();
        let leaf = log.leaf_hash(6);
        let good = log.inclusion(6, 13);
        assert!(verify_inclusion(&id, &cp, Some(6), &leaf, &good).is_ok());

        let mut short = good.clone();
        short.hashes.pop();
        let mut long = good.clone();
        long.hashes.push(vec![0; 32].into());
        for bad in [short, long] {
            let err = verify_inclusion(&id, &cp, Some(6), &leaf, &bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    VerifyError::NotIncluded {
                        error: ProofError::WrongProofLength { .. },
                        ..
                    }
                ),
                "{err:?}"
            );
        }
        // Another leaf's hash does not verify with this path.
        assert!(matches!(
            verify_inclusion(&id, &cp, Some(6), &log.leaf_hash(7), &good),
            Err(VerifyError::NotIncluded {
                error: ProofError::RootMismatch { .. },
                ..
            })
        ));
    }

    #[test]
    fn an_index_at_or_past_the_size_is_refused() {
        let log = TestLog::new(8);
        let id = identity(&log);
        let cp = verify_checkpoint(&id, &log.checkpoint_note(8)).unwrap();
        let mut proof = log.inclusion(7, 8);
        proof.leaf_index = 8;
        let err = verify_inclusion(&id, &cp, None, &log.leaf_hash(7), &proof).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::NotIncluded {
                    error: ProofError::IndexOutOfRange { index: 8, size: 8 },
                    ..
                }
            ),
            "{err:?}"
        );
        // A proof against another tree size than the checkpoint's is not an answer.
        let other = log.inclusion(2, 7);
        assert!(matches!(
            verify_inclusion(&id, &cp, Some(2), &log.leaf_hash(2), &other),
            Err(VerifyError::AnswerMismatch { .. })
        ));
    }

    #[test]
    fn a_prefix_root_comes_only_from_the_proof_of_that_leaf() {
        let log = TestLog::new(9);
        let id = identity(&log);
        let cp = verify_checkpoint(&id, &log.checkpoint_note(9)).unwrap();
        let inclusion =
            verify_inclusion(&id, &cp, Some(4), &log.leaf_hash(4), &log.inclusion(4, 9)).unwrap();
        assert_eq!(prefix_root(&inclusion, 4).unwrap(), log.root(4));
        assert!(matches!(
            prefix_root(&inclusion, 5),
            Err(VerifyError::AnswerMismatch { .. })
        ));
    }

    #[test]
    fn an_empty_checkpoint_needs_the_empty_root() {
        let log = TestLog::new(0);
        let id = identity(&log);
        assert!(verify_checkpoint(&id, &log.checkpoint_note(0)).is_ok());
        // Signed by the log, but claiming a non-empty root for zero leaves.
        let bogus = log.sign_raw(0, [7; 32]);
        assert!(matches!(
            verify_checkpoint(&id, &bogus),
            Err(VerifyError::Checkpoint {
                error: CheckpointError::EmptyTreeRoot,
                ..
            })
        ));
        // The same checkpoint under the other hash algorithm does not pass either.
        let sha = LogTrust::unwitnessed(log.verifier(), HashAlgorithm::Sha256);
        assert!(verify_checkpoint(&sha, &log.checkpoint_note(0)).is_err());
    }
}
