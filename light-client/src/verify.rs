//! Turning a gateway's answers into trusted facts, without I/O.
//!
//! A [`LogIdentity`] is what a client knows about a log before talking to it: the log's verifier
//! key (whose name is the origin) and its hash algorithm. Its methods check one answer each,
//! calling `herald-proto`'s verifiers, and return types that only verification makes
//! ([`VerifiedCheckpoint`], [`VerifiedInclusion`]). Every refusal is a [`VerifyError`] carrying
//! the evidence: the checkpoints, the proof, and when the answers prove a split view, a
//! transferable [`Equivocation`].

// `VerifyError` carries whole checkpoints as evidence, so it is large; it is made only when a
// gateway misbehaves, and `ClientError` boxes it.
#![allow(clippy::result_large_err)]

use herald_proto::checkpoint::{CheckpointError, PolicyError, VerifiedCheckpoint};
use herald_proto::equivocation::Equivocation;
use herald_proto::identity::IdentityError;
use herald_proto::inclusion::InclusionError;
use herald_proto::merkle::{
    AnyHasher, CompactRange, Hash, HashAlgorithm, LogHasher, ProofError, inclusion_nodes,
};
use herald_proto::note::b64;
use herald_proto::note::{KeyError, NoteVerifier};
use herald_proto::wire::pb;

use crate::verified::{VerifiedConsistency, VerifiedEntry, VerifiedInclusion};

/// What a client knows about a log before it talks to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogIdentity {
    verifier: NoteVerifier,
    algorithm: HashAlgorithm,
}

/// Why an answer from the gateway is not accepted. Each variant means the gateway misbehaved
/// (or the client was given the wrong log key or hash algorithm) and carries the evidence.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The note is not a checkpoint signed by the log's key: malformed, signed by another key,
    /// a failing signature, or another origin.
    #[error("checkpoint not signed by the log key: {error}")]
    Checkpoint {
        /// The note as received.
        note: Vec<u8>,
        /// Why it was refused.
        error: CheckpointError,
    },
    /// A checkpoint of the empty tree whose root is not the empty tree's hash (or the client's
    /// hash algorithm is not the log's).
    #[error("checkpoint of size 0 does not carry the empty tree's root")]
    EmptyTreeRoot {
        /// The checkpoint.
        checkpoint: VerifiedCheckpoint,
    },
    /// The log showed a smaller tree than one it signed before: it went back.
    #[error("the log went back from size {} to size {}", stored.size(), received.size())]
    Rollback {
        /// The checkpoint trusted so far (kept).
        stored: VerifiedCheckpoint,
        /// The smaller checkpoint received.
        received: VerifiedCheckpoint,
    },
    /// Two signed checkpoints of one size with different roots: a split view.
    #[error("two checkpoints of size {} have different roots", stored.size())]
    DifferentRoots {
        /// The checkpoint trusted so far (kept).
        stored: VerifiedCheckpoint,
        /// The conflicting checkpoint received.
        received: VerifiedCheckpoint,
        /// The transferable proof of the split view (form (i)).
        equivocation: Box<Equivocation>,
    },
    /// The consistency proof between two signed checkpoints does not verify: the newer tree is
    /// not shown to extend the older one.
    #[error(
        "checkpoint of size {} is not shown consistent with size {}: {error}",
        newer.size(),
        older.size()
    )]
    Inconsistent {
        /// The older (smaller) checkpoint.
        older: VerifiedCheckpoint,
        /// The newer checkpoint.
        newer: VerifiedCheckpoint,
        /// The proof received.
        proof: pb::ConsistencyProof,
        /// Why it does not verify.
        error: ProofError,
        /// When the proof does authenticate against the newer root but commits to another
        /// older root, the log signed two incompatible trees: the transferable proof (form (ii)).
        /// `None` when the proof is merely garbage, which proves nothing about the log.
        equivocation: Option<Box<Equivocation>>,
    },
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

/// How a received checkpoint relates to the one trusted so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Succession {
    /// The same tree (same size and root): nothing changes.
    Same,
    /// A larger tree, and nothing to prove: nothing was trusted yet, or the empty tree was.
    Unproven,
    /// A larger tree: a consistency proof from `size1` to `size2` must verify first.
    NeedsProof {
        /// The trusted size.
        size1: u64,
        /// The received size.
        size2: u64,
    },
}

impl LogIdentity {
    /// The log whose checkpoints `verifier` signs, hashing its tree with `algorithm`.
    pub fn new(verifier: NoteVerifier, algorithm: HashAlgorithm) -> Self {
        LogIdentity {
            verifier,
            algorithm,
        }
    }

    /// Parses a C2SP verifier key string (`name+hex8+base64`) for a log hashing with
    /// `algorithm`.
    pub fn parse(verifier_key: &str, algorithm: HashAlgorithm) -> Result<Self, KeyError> {
        Ok(Self::new(NoteVerifier::parse(verifier_key)?, algorithm))
    }

    /// The log's origin, `<domain>/herald`: its key's name.
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// The log's checkpoint key.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The log's hash algorithm.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The log's hasher.
    pub fn hasher(&self) -> AnyHasher {
        AnyHasher(self.algorithm)
    }

    /// The Merkle leaf hash of an entry in this log.
    pub fn leaf_hash(&self, entry: &[u8]) -> Hash {
        self.hasher().hash_leaf(entry)
    }

    /// Verifies checkpoint note bytes against the log's key.
    pub fn verify_checkpoint(&self, note: &[u8]) -> Result<VerifiedCheckpoint, VerifyError> {
        let checkpoint = VerifiedCheckpoint::verify(note, &self.verifier).map_err(|error| {
            VerifyError::Checkpoint {
                note: note.to_vec(),
                error,
            }
        })?;
        if checkpoint.size() == 0 && *checkpoint.root() != self.hasher().empty_root() {
            return Err(VerifyError::EmptyTreeRoot { checkpoint });
        }
        Ok(checkpoint)
    }

    /// What it takes to trust `received` after `stored`: refuses a smaller tree (the log went
    /// back) and a same-size tree with another root (a split view).
    pub fn succession(
        &self,
        stored: Option<&VerifiedCheckpoint>,
        received: &VerifiedCheckpoint,
    ) -> Result<Succession, VerifyError> {
        let Some(stored) = stored else {
            return Ok(Succession::Unproven);
        };
        if received.size() < stored.size() {
            return Err(VerifyError::Rollback {
                stored: stored.clone(),
                received: received.clone(),
            });
        }
        if received.size() == stored.size() {
            if received.root() == stored.root() {
                return Ok(Succession::Same);
            }
            return Err(self.different_roots(stored, received));
        }
        if stored.size() == 0 {
            return Ok(Succession::Unproven);
        }
        Ok(Succession::NeedsProof {
            size1: stored.size(),
            size2: received.size(),
        })
    }

    fn different_roots(
        &self,
        stored: &VerifiedCheckpoint,
        received: &VerifiedCheckpoint,
    ) -> VerifyError {
        // Both are verified under this log's key with one size: the constructor cannot fail.
        match Equivocation::from_same_size(self.algorithm, stored, received) {
            Ok(e) => VerifyError::DifferentRoots {
                stored: stored.clone(),
                received: received.clone(),
                equivocation: Box::new(e),
            },
            Err(e) => VerifyError::AnswerMismatch {
                what: "root",
                asked: b64(stored.root()),
                answered: format!("{} ({e})", b64(received.root())),
            },
        }
    }

    /// Checks that `newer` extends `older` by `proof` (both signed by the log; `older` not
    /// empty). Equal sizes need equal roots and an empty proof.
    pub fn verify_consistency(
        &self,
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
        if older.size() == newer.size() && older.root() != newer.root() {
            return Err(self.different_roots(older, newer));
        }
        proof
            .verify(&self.hasher(), older.root(), newer.root())
            .map_err(|error| VerifyError::Inconsistent {
                equivocation: Equivocation::from_consistency(
                    self.algorithm,
                    older,
                    newer,
                    &proof.hashes,
                    None,
                )
                .ok()
                .map(Box::new),
                older: older.clone(),
                newer: newer.clone(),
                proof: proof.clone(),
                error,
            })
    }

    /// Checks that `leaf_hash` is the leaf at `proof.leaf_index` of `checkpoint`'s tree. When
    /// the caller asked for a particular index, `leaf_index` is it.
    pub fn verify_inclusion(
        &self,
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
        proof
            .verify(&self.hasher(), leaf_hash, checkpoint.root())
            .map_err(|error| VerifyError::NotIncluded {
                checkpoint: checkpoint.clone(),
                leaf_hash: *leaf_hash,
                proof: proof.clone(),
                error,
            })?;
        Ok(VerifiedInclusion {
            leaf_index: proof.leaf_index,
            leaf_hash: *leaf_hash,
            checkpoint: checkpoint.clone(),
            proof: proof.clone(),
        })
    }

    /// Checks an inclusion answer for a leaf whose hash the client expects (it has the entry).
    pub fn verify_inclusion_answer(
        &self,
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
        self.verify_inclusion(checkpoint, leaf_index, leaf_hash, proof)
    }

    /// The root of the first `size` leaves of `anchor`'s tree, from a verified inclusion proof
    /// of leaf `size` in it (`size < anchor.size()`).
    ///
    /// The audit path of leaf `size` holds, as left siblings, exactly the complete subtrees that
    /// make up `[0, size)`; once the path verifies against the anchor's root, they are the log's
    /// committed hashes, and folding them gives the older root. This works for every size,
    /// including powers of two, where a consistency proof does not carry the older root.
    pub fn prefix_root(
        &self,
        inclusion: &VerifiedInclusion,
        size: u64,
    ) -> Result<Hash, VerifyError> {
        Ok(self.prefix_range(inclusion, size)?.root(&self.hasher()))
    }

    /// The right edge of the first `size` leaves of `anchor`'s tree (its perfect subtrees,
    /// largest first), from a verified inclusion proof of leaf `size` in it; see
    /// [`prefix_root`](Self::prefix_root) for why the audit path holds them.
    pub fn prefix_range(
        &self,
        inclusion: &VerifiedInclusion,
        size: u64,
    ) -> Result<CompactRange, VerifyError> {
        let mismatch = |what| VerifyError::AnswerMismatch {
            what,
            asked: size.to_string(),
            answered: inclusion.leaf_index.to_string(),
        };
        if inclusion.leaf_index != size {
            return Err(mismatch("leaf index of the prefix proof"));
        }
        // A verified proof has the planned length, so every position below is in range.
        let plan = inclusion_nodes(size, inclusion.checkpoint.size())
            .map_err(|_| mismatch("prefix proof tree size"))?;
        let run = plan.rehash_range();
        let position = |i: usize| -> Option<usize> {
            if run.is_empty() || i < run.start {
                Some(i)
            } else if i >= run.end {
                Some(i - run.len() + 1)
            } else {
                None
            }
        };
        let hashes = &inclusion.proof.hashes;
        let edge = CompactRange::nodes_for(size)
            .into_iter()
            .map(|id| {
                let i = plan.ids.iter().position(|p| *p == id)?;
                let hash = hashes.get(position(i)?)?;
                Hash::try_from(hash.as_slice()).ok()
            })
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| mismatch("prefix proof shape"))?;
        CompactRange::from_parts(size, edge).map_err(|_| mismatch("prefix proof shape"))
    }

    /// The right edge of a whole checkpoint's tree, from a verified inclusion proof of its last
    /// leaf: the path holds the right edge of the leaves before it, and the leaf completes it.
    /// (An absence proof starts from this edge, DESIGN §3.3.)
    pub fn right_edge(&self, inclusion: &VerifiedInclusion) -> Result<CompactRange, VerifyError> {
        let size = inclusion.checkpoint.size();
        if inclusion.leaf_index.checked_add(1) != Some(size) {
            return Err(VerifyError::AnswerMismatch {
                what: "leaf index of the right-edge proof",
                asked: size.saturating_sub(1).to_string(),
                answered: inclusion.leaf_index.to_string(),
            });
        }
        let mut range = self.prefix_range(inclusion, inclusion.leaf_index)?;
        // The range holds fewer than u64::MAX leaves (one less than a checkpoint's size).
        range
            .try_append(&self.hasher(), inclusion.leaf_hash, |_, _| {})
            .map_err(|_| VerifyError::AnswerMismatch {
                what: "right-edge size",
                asked: size.to_string(),
                answered: "a full tree".into(),
            })?;
        Ok(range)
    }

    /// Checks the consistency proof between two roots already proved against `anchor`.
    #[allow(clippy::too_many_arguments)] // two (size, root) pairs, the anchor and the proof
    pub fn verify_consistency_between(
        &self,
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
            .verify(&self.hasher(), &root1, &root2)
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
    pub(crate) fn same_tree(
        anchor: &VerifiedCheckpoint,
        size: u64,
        root: Hash,
    ) -> VerifiedConsistency {
        VerifiedConsistency {
            anchor: anchor.clone(),
            size1: size,
            root1: root,
            size2: size,
            root2: root,
            proof: pb::ConsistencyProof::new(size, size, &[]),
        }
    }

    /// An entry whose leaf hash `inclusion` proves.
    pub(crate) fn entry(entry: Vec<u8>, inclusion: VerifiedInclusion) -> VerifiedEntry {
        VerifiedEntry { entry, inclusion }
    }
}

#[cfg(test)]
mod tests {
    use herald_proto::merkle::{MemoryHashes, tree_root};

    use super::*;
    use crate::test_log::TestLog;

    fn identity(log: &TestLog) -> LogIdentity {
        LogIdentity::new(log.verifier(), HashAlgorithm::Blake3)
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let log = TestLog::new(4);
        let impostor = TestLog::with_key("alpha.test/herald", [9; 32], 4);
        let note = impostor.checkpoint_note(4);
        let err = identity(&log).verify_checkpoint(&note).unwrap_err();
        assert!(
            matches!(err, VerifyError::Checkpoint { ref note, .. } if !note.is_empty()),
            "{err:?}"
        );
        assert!(
            identity(&log)
                .verify_checkpoint(&log.checkpoint_note(4))
                .is_ok()
        );
    }

    #[test]
    fn a_valid_growth_is_accepted() {
        let log = TestLog::new(10);
        let id = identity(&log);
        let old = id.verify_checkpoint(&log.checkpoint_note(3)).unwrap();
        let new = id.verify_checkpoint(&log.checkpoint_note(10)).unwrap();
        assert_eq!(
            id.succession(Some(&old), &new).unwrap(),
            Succession::NeedsProof {
                size1: 3,
                size2: 10
            }
        );
        id.verify_consistency(&old, &new, &log.consistency(3, 10))
            .unwrap();
    }

    #[test]
    fn a_fork_is_refused_with_the_equivocation() {
        // Same first 4 leaves except leaf 2; both trees signed by the same key.
        let honest = TestLog::new(8);
        let mut forked = TestLog::new(8);
        forked.replace_leaf(2, b"forged".to_vec());
        let id = identity(&honest);
        for size1 in [3, 4, 5] {
            let old = id
                .verify_checkpoint(&honest.checkpoint_note(size1))
                .unwrap();
            let new = id.verify_checkpoint(&forked.checkpoint_note(8)).unwrap();
            let proof = forked.consistency(size1, 8);
            let err = id.verify_consistency(&old, &new, &proof).unwrap_err();
            let VerifyError::Inconsistent {
                older,
                newer,
                proof: p,
                equivocation,
                ..
            } = err
            else {
                panic!("{err:?}")
            };
            assert_eq!((older, newer, p), (old.clone(), new.clone(), proof));
            // A non-power-of-two old size carries its root in the proof: a split view proof.
            if size1 != 4 {
                let e = equivocation.expect("the forked proof commits to another old root");
                assert_eq!(e.verify().unwrap().origin(), "alpha.test/herald");
            }
        }
    }

    #[test]
    fn a_rollback_and_a_same_size_fork_are_refused() {
        let honest = TestLog::new(6);
        let mut forked = TestLog::new(6);
        forked.replace_leaf(5, b"other".to_vec());
        let id = identity(&honest);
        let six = id.verify_checkpoint(&honest.checkpoint_note(6)).unwrap();
        let five = id.verify_checkpoint(&honest.checkpoint_note(5)).unwrap();
        assert!(matches!(
            id.succession(Some(&six), &five),
            Err(VerifyError::Rollback { .. })
        ));
        let other_six = id.verify_checkpoint(&forked.checkpoint_note(6)).unwrap();
        let err = id.succession(Some(&six), &other_six).unwrap_err();
        let VerifyError::DifferentRoots { equivocation, .. } = err else {
            panic!("{err:?}")
        };
        assert!(equivocation.verify().is_ok());
        assert_eq!(id.succession(Some(&six), &six).unwrap(), Succession::Same);
        assert_eq!(id.succession(None, &five).unwrap(), Succession::Unproven);
    }

    #[test]
    fn truncated_and_over_long_inclusion_proofs_are_refused() {
        let log = TestLog::new(13);
        let id = identity(&log);
        let cp = id.verify_checkpoint(&log.checkpoint_note(13)).unwrap();
        let leaf = log.leaf_hash(6);
        let good = log.inclusion(6, 13);
        assert!(id.verify_inclusion(&cp, Some(6), &leaf, &good).is_ok());

        let mut short = good.clone();
        short.hashes.pop();
        let mut long = good.clone();
        long.hashes.push(vec![0; 32]);
        for bad in [short, long] {
            let err = id.verify_inclusion(&cp, Some(6), &leaf, &bad).unwrap_err();
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
            id.verify_inclusion(&cp, Some(6), &log.leaf_hash(7), &good),
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
        let cp = id.verify_checkpoint(&log.checkpoint_note(8)).unwrap();
        let mut proof = log.inclusion(7, 8);
        proof.leaf_index = 8;
        let err = id
            .verify_inclusion(&cp, None, &log.leaf_hash(7), &proof)
            .unwrap_err();
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
            id.verify_inclusion(&cp, Some(2), &log.leaf_hash(2), &other),
            Err(VerifyError::AnswerMismatch { .. })
        ));
    }

    #[test]
    fn prefix_roots_equal_the_tree_roots_at_every_size() {
        let h = AnyHasher(HashAlgorithm::Blake3);
        for n in [2u64, 3, 4, 5, 8, 9, 16, 17, 31, 33] {
            let log = TestLog::new(n);
            let id = identity(&log);
            let anchor = id.verify_checkpoint(&log.checkpoint_note(n)).unwrap();
            let leaves: Vec<Hash> = (0..n).map(|i| log.leaf_hash(i)).collect();
            let (store, _) = MemoryHashes::from_leaf_hashes(&h, leaves.clone());
            for size in 1..n {
                let proof = log.inclusion(size, n);
                let inclusion = id
                    .verify_inclusion(&anchor, Some(size), &leaves[size as usize], &proof)
                    .unwrap();
                assert_eq!(
                    id.prefix_root(&inclusion, size).unwrap(),
                    tree_root(&h, &store, size).unwrap(),
                    "size {size} of {n}"
                );
            }
        }
    }

    #[test]
    fn right_edges_fold_to_the_checkpoint_root_at_every_size() {
        let h = AnyHasher(HashAlgorithm::Blake3);
        for n in [1u64, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33] {
            let log = TestLog::new(n);
            let id = identity(&log);
            let cp = id.verify_checkpoint(&log.checkpoint_note(n)).unwrap();
            let last = id
                .verify_inclusion(
                    &cp,
                    Some(n - 1),
                    &log.leaf_hash(n - 1),
                    &log.inclusion(n - 1, n),
                )
                .unwrap();
            let edge = id.right_edge(&last).unwrap();
            assert_eq!((edge.size(), edge.root(&h)), (n, log.root(n)), "size {n}");
            // Any other leaf's proof is not a right-edge proof.
            if n > 1 {
                let other = id
                    .verify_inclusion(&cp, Some(0), &log.leaf_hash(0), &log.inclusion(0, n))
                    .unwrap();
                assert!(matches!(
                    id.right_edge(&other),
                    Err(VerifyError::AnswerMismatch { .. })
                ));
            }
        }
    }

    #[test]
    fn an_empty_checkpoint_needs_the_empty_root() {
        let log = TestLog::new(0);
        let id = identity(&log);
        assert!(id.verify_checkpoint(&log.checkpoint_note(0)).is_ok());
        // Signed by the log, but claiming a non-empty root for zero leaves.
        let bogus = log.sign_raw(0, [7; 32]);
        assert!(matches!(
            id.verify_checkpoint(&bogus),
            Err(VerifyError::EmptyTreeRoot { .. })
        ));
        // The same checkpoint under the other hash algorithm does not pass either.
        let sha = LogIdentity::new(log.verifier(), HashAlgorithm::Sha256);
        assert!(sha.verify_checkpoint(&log.checkpoint_note(0)).is_err());
    }
}
