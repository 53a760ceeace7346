//! Trust in one log ([`LogTrust`]: its key, hash, witness policy and allowed clock skew) and
//! leaves proven in its checkpoints ([`VerifiedInclusion`] for a leaf hash, [`VerifiedEntry`]
//! for the leaf's bytes; both made only by verification).
//!
//! Everything certified mail, key transparency and a client following a log rely on has the
//! same shape: "this leaf is at this index of a checkpoint that this log signed (and a quorum of
//! its witnesses cosigned)". One implementation here, used by the light client, the identity
//! checks, both certified-mail parties, the arbiter and the absence proof. The Merkle arithmetic
//! runs before any signature is checked, so garbage costs a verifier no signature verification.

mod memo;
mod trust;

pub use memo::CheckpointMemo;
pub use trust::{LogTrust, TrustError};

use crate::checkpoint::{
    Checkpoint, CheckpointError, CosignedCheckpoint, PolicyError, VerifiedCheckpoint,
};
use crate::merkle::{
    AnyHasher, CompactRange, Hash, HashAlgorithm, LogHasher, PrefixError, ProofError, prefix_range,
    right_edge, verify_inclusion,
};
use crate::wire::{WireError, decode_valid, pb};

/// Why a leaf is not proven in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InclusionError {
    /// The inclusion proof is missing.
    #[error("the inclusion proof is missing")]
    MissingProof,
    /// The checkpoint note does not parse, or its log signature fails.
    #[error("checkpoint: {0}")]
    Checkpoint(CheckpointError),
    /// The checkpoint is not cosigned as the policy requires (in time), or there is no policy.
    #[error("checkpoint cosignatures: {0}")]
    Cosigned(PolicyError),
    /// The proof is for another tree size than the checkpoint's.
    #[error("the proof is for tree size {proof}, the checkpoint has size {checkpoint}")]
    SizeMismatch {
        /// The proof's tree size.
        proof: u64,
        /// The checkpoint's size.
        checkpoint: u64,
    },
    /// The proof does not verify (index ≥ size, truncated or over-long, wrong root).
    #[error("inclusion proof: {0}")]
    Proof(ProofError),
}

/// Checks that `leaf_hash` is leaf `proof.leaf_index` of the tree `checkpoint` describes.
pub fn prove_inclusion<H: LogHasher>(
    h: &H,
    checkpoint: &Checkpoint,
    leaf_hash: &Hash,
    proof: &pb::InclusionProof,
) -> Result<(), InclusionError> {
    if proof.tree_size != checkpoint.size {
        return Err(InclusionError::SizeMismatch {
            proof: proof.tree_size,
            checkpoint: checkpoint.size,
        });
    }
    verify_inclusion(
        h,
        proof.leaf_index,
        checkpoint.size,
        leaf_hash,
        &proof.hashes,
        &checkpoint.root,
    )
    .map_err(InclusionError::Proof)
}

/// A tree head a leaf was proven against: log-signed, or also cosigned.
pub trait ProvenTree {
    /// The tree head.
    fn tree(&self) -> &Checkpoint;
}

impl ProvenTree for VerifiedCheckpoint {
    fn tree(&self) -> &Checkpoint {
        self.checkpoint()
    }
}

impl ProvenTree for CosignedCheckpoint {
    fn tree(&self) -> &Checkpoint {
        self.checkpoint().checkpoint()
    }
}

/// A leaf hash proven at `index` of a checkpoint `C` ([`VerifiedCheckpoint`] by default, or
/// [`CosignedCheckpoint`]), with the audit path that proves it. Made only by [`LogTrust`]'s
/// verifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedInclusion<C = VerifiedCheckpoint> {
    index: u64,
    leaf_hash: Hash,
    /// The verified audit path: its length fits `index` and the tree size.
    path: Vec<Hash>,
    algorithm: HashAlgorithm,
    checkpoint: C,
}

impl<C: ProvenTree> VerifiedInclusion<C> {
    /// The leaf's index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The leaf's Merkle hash under the log's algorithm.
    pub fn leaf_hash(&self) -> &Hash {
        &self.leaf_hash
    }

    /// The checkpoint it is included in.
    pub fn checkpoint(&self) -> &C {
        &self.checkpoint
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.checkpoint.tree().origin
    }

    /// The audit path, leaf upwards.
    pub fn path(&self) -> &[Hash] {
        &self.path
    }

    /// The audit path as a wire message (for re-checking offline and for evidence).
    pub fn to_pb(&self) -> pb::InclusionProof {
        pb::InclusionProof::new(self.index, self.checkpoint.tree().size, &self.path)
    }

    /// The right edge of the log's first `index` leaves, as committed to by this checkpoint
    /// (see [`crate::merkle::prefix_range`]): the proof of leaf `n` tells the log's tree at `n`.
    pub fn prefix_range(&self) -> Result<CompactRange, PrefixError> {
        prefix_range(self.index, self.checkpoint.tree().size, &self.path)
    }

    /// The root of the log's first `index` leaves, as committed to by this checkpoint: the
    /// root an older checkpoint of size `index` must carry to be consistent with this one.
    pub fn prefix_root(&self) -> Result<Hash, PrefixError> {
        Ok(self.prefix_range()?.root(&AnyHasher(self.algorithm)))
    }

    /// The right edge of the whole tree, when this is the proof of its last leaf.
    pub fn right_edge(&self) -> Result<CompactRange, PrefixError> {
        right_edge(
            &AnyHasher(self.algorithm),
            self.index,
            self.checkpoint.tree().size,
            self.leaf_hash,
            &self.path,
        )
    }
}

/// An entry's bytes, proven to be the leaf at its index of a checkpoint `C`. Made only by
/// [`LogTrust`]'s verifiers (or from a [`VerifiedInclusion`] of the entry's own leaf hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEntry<C = VerifiedCheckpoint> {
    entry: Vec<u8>,
    inclusion: VerifiedInclusion<C>,
}

impl<C: ProvenTree> VerifiedEntry<C> {
    /// `entry` as proven by `inclusion`, if it is the leaf `inclusion` proves (its hash under
    /// the log's algorithm is the proven leaf hash); `None` otherwise.
    pub fn new(entry: Vec<u8>, inclusion: VerifiedInclusion<C>) -> Option<Self> {
        (AnyHasher(inclusion.algorithm).hash_leaf(&entry) == inclusion.leaf_hash)
            .then_some(VerifiedEntry { entry, inclusion })
    }

    /// The leaf bytes (an encoded `LogEntry`), as proven.
    pub fn entry(&self) -> &[u8] {
        &self.entry
    }

    /// The leaf's index.
    pub fn index(&self) -> u64 {
        self.inclusion.index
    }

    /// The checkpoint it is included in.
    pub fn checkpoint(&self) -> &C {
        &self.inclusion.checkpoint
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.inclusion.origin()
    }

    /// The inclusion of its leaf hash.
    pub fn inclusion(&self) -> &VerifiedInclusion<C> {
        &self.inclusion
    }

    /// The entry decoded and validated. Fails for a kind this version does not know, which a
    /// proven leaf may still be (the log is older or newer than this reader).
    pub fn log_entry(&self) -> Result<pb::LogEntry, WireError> {
        decode_valid(&self.entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{WitnessPolicy, WitnessSigner};
    use crate::merkle::{MemoryHashes, inclusion_proof};
    use crate::note::NoteSigner;
    use ed25519_dalek::SigningKey;

    fn log() -> NoteSigner {
        NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    fn witness(i: u8) -> WitnessSigner {
        WitnessSigner::new(&format!("w{i}.test"), SigningKey::from_bytes(&[i; 32])).unwrap()
    }

    pub(super) fn trust() -> LogTrust {
        let policy = WitnessPolicy::new(
            log().verifier(),
            vec![witness(2).verifier(), witness(3).verifier()],
            2,
        )
        .unwrap();
        LogTrust::new(policy, HashAlgorithm::Blake3)
    }

    /// Leaf 2 of a 5-leaf tree, cosigned at `times`.
    fn included(times: [u64; 2]) -> pb::IncludedLeaf {
        let h = AnyHasher(HashAlgorithm::Blake3);
        let entries: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 10]).collect();
        let (store, range) =
            MemoryHashes::from_leaf_hashes(&h, entries.iter().map(|e| h.hash_leaf(e)));
        let cp = Checkpoint {
            origin: "a.test/herald".into(),
            size: 5,
            root: range.root(&h),
        };
        let note = cp.sign(&log()).unwrap().to_string();
        let mut v = VerifiedCheckpoint::verify(note.as_bytes(), &log().verifier()).unwrap();
        for (i, t) in [2u8, 3].into_iter().zip(times) {
            let c = witness(i).cosign(&v, t).unwrap();
            v = v.with_cosignature(&witness(i).verifier(), &c).unwrap();
        }
        let hashes = inclusion_proof(&h, &store, 2, 5).unwrap();
        pb::IncludedLeaf {
            entry: entries[2].clone(),
            proof: Some(pb::InclusionProof::new(2, 5, &hashes)),
            checkpoint: v.note().into_bytes(),
        }
    }

    #[test]
    fn trust_round_trips_through_the_wire() {
        let t = trust();
        assert_eq!(LogTrust::from_pb(&t.to_pb()), Ok(t.clone()));
        assert_eq!(t.origin(), "a.test/herald");
    }

    #[test]
    fn a_non_canonical_key_spelling_is_refused() {
        let mut p = trust().to_pb();
        // Upper-case hex in the key id parses, but is not what Herald writes.
        let (name, rest) = p.log_key.split_once('+').unwrap();
        let (id, key) = rest.split_once('+').unwrap();
        let upper = format!("{name}+{}+{key}", id.to_uppercase());
        assert_ne!(upper, p.log_key, "the example's key id has hex letters");
        p.log_key = upper;
        assert_eq!(
            LogTrust::from_pb(&p),
            Err(TrustError::NonCanonicalKey { which: "log" })
        );
    }

    #[test]
    fn an_included_leaf_verifies_and_its_deadline_counts() {
        let leaf = included([100, 200]);
        let v = trust().verify_included(&leaf, 200, 1000, 0).unwrap();
        assert_eq!((v.index(), v.entry()), (2, &[2u8; 10][..]));
        assert_eq!(v.checkpoint().quorum_time(), 200);
        assert!(matches!(
            trust().verify_included(&leaf, 199, 1000, 0),
            Err(InclusionError::Cosigned(PolicyError::BelowQuorum { .. }))
        ));
        assert_eq!(trust().verify_logged(&leaf).unwrap().index(), 2);
    }

    #[test]
    fn proof_size_and_index_are_checked() {
        let mut leaf = included([1, 1]);
        leaf.proof.as_mut().unwrap().tree_size = 6;
        assert_eq!(
            trust().verify_logged(&leaf),
            Err(InclusionError::SizeMismatch {
                proof: 6,
                checkpoint: 5
            })
        );
        let mut leaf = included([1, 1]);
        leaf.proof.as_mut().unwrap().leaf_index = 5;
        assert!(matches!(
            trust().verify_logged(&leaf),
            Err(InclusionError::Proof(ProofError::IndexOutOfRange { .. }))
        ));
        let mut leaf = included([1, 1]);
        leaf.entry.push(0);
        assert!(matches!(
            trust().verify_logged(&leaf),
            Err(InclusionError::Proof(ProofError::RootMismatch { .. }))
        ));
        leaf.proof = None;
        assert_eq!(
            trust().verify_logged(&leaf),
            Err(InclusionError::MissingProof)
        );
    }

    #[test]
    fn an_unwitnessed_log_has_nothing_cosigned() {
        let leaf = included([1, 1]);
        let bare = LogTrust::unwitnessed(log().verifier(), HashAlgorithm::Blake3);
        assert_eq!(bare.verify_logged(&leaf).unwrap().index(), 2);
        assert_eq!(
            bare.verify_included(&leaf, u64::MAX, 1000, 0),
            Err(InclusionError::Cosigned(PolicyError::NoWitnessPolicy))
        );
        assert_eq!(
            bare.verify_cosigned(&leaf.checkpoint, 1000),
            Err(PolicyError::NoWitnessPolicy)
        );
        // Given the policy, it is the witnessed log again; a policy of another key is refused.
        let policy = trust().policy().unwrap().clone();
        assert_eq!(bare.clone().with_policy(policy), Ok(trust()));
        let stranger = NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[7; 32])).unwrap();
        let other =
            WitnessPolicy::new(stranger.verifier(), vec![witness(2).verifier()], 1).unwrap();
        assert!(matches!(
            bare.with_policy(other),
            Err(TrustError::PolicyForAnotherLog { .. })
        ));
    }

    #[test]
    fn cosigned_checkpoints_count_timestamps_up_to_the_skew() {
        let leaf = included([1000, 1100]);
        let t = trust().with_max_skew(100);
        assert_eq!(
            t.verify_cosigned(&leaf.checkpoint, 1000)
                .unwrap()
                .quorum_time(),
            1100
        );
        assert!(matches!(
            t.verify_cosigned(&leaf.checkpoint, 999),
            Err(PolicyError::BelowQuorum { .. })
        ));
    }

    #[test]
    fn an_empty_checkpoint_needs_the_empty_root() {
        let empty = Checkpoint {
            origin: "a.test/herald".into(),
            size: 0,
            root: AnyHasher(HashAlgorithm::Blake3).empty_root(),
        };
        let note = empty.sign(&log()).unwrap().to_string();
        trust().verify_checkpoint(note.as_bytes()).unwrap();
        // The same checkpoint under the other hash algorithm, and a made-up root, fail.
        let sha = LogTrust::unwitnessed(log().verifier(), HashAlgorithm::Sha256);
        assert_eq!(
            sha.verify_checkpoint(note.as_bytes()),
            Err(CheckpointError::EmptyTreeRoot)
        );
        let bogus = Checkpoint {
            root: [7; 32],
            ..empty
        }
        .sign(&log())
        .unwrap()
        .to_string();
        assert_eq!(
            trust().verify_checkpoint(bogus.as_bytes()),
            Err(CheckpointError::EmptyTreeRoot)
        );
    }

    #[test]
    fn an_entry_is_only_the_leaf_its_inclusion_proves() {
        let leaf = included([1, 1]);
        let entry = trust().verify_logged(&leaf).unwrap();
        let inclusion = entry.inclusion().clone();
        assert_eq!(
            VerifiedEntry::new(leaf.entry.clone(), inclusion.clone()),
            Some(entry)
        );
        assert_eq!(VerifiedEntry::new(b"other".to_vec(), inclusion), None);
    }

    #[test]
    fn a_range_of_entries_is_proved_each_as_its_own_audit_path_would_prove_it() {
        let h = AnyHasher(HashAlgorithm::Blake3);
        let entries: Vec<Vec<u8>> = (0..23u8).map(|i| vec![i; 7]).collect();
        let (store, range) =
            MemoryHashes::from_leaf_hashes(&h, entries.iter().map(|e| h.hash_leaf(e)));
        let cp = Checkpoint {
            origin: "a.test/herald".into(),
            size: 23,
            root: range.root(&h),
        };
        let note = cp.sign(&log()).unwrap().to_string();
        let t = trust();
        let v = t.verify_checkpoint(note.as_bytes()).unwrap();
        let (begin, end) = (5u64, 19u64);
        let run = entries[begin as usize..end as usize].to_vec();
        let proof = crate::merkle::range_proof(&store, begin, end, 23).unwrap();
        let proved = t
            .verify_range_entries(&v, begin, run.clone(), &proof)
            .unwrap();
        assert_eq!(proved.len(), run.len());
        for (index, entry) in (begin..).zip(&proved) {
            // The same VerifiedEntry a single entry's audit path, checked on its own, makes.
            let path = inclusion_proof(&h, &store, index, 23).unwrap();
            let single = t
                .verify_inclusion(
                    &v,
                    &h.hash_leaf(&entries[index as usize]),
                    &pb::InclusionProof::new(index, 23, &path),
                )
                .unwrap();
            let single = VerifiedEntry::new(entries[index as usize].clone(), single).unwrap();
            assert_eq!(entry, &single, "leaf {index}");
        }
        // attack: one entry of the run changed, the run shifted by one, a changed proof hash.
        let mut changed = run.clone();
        changed[3][0] ^= 1;
        assert!(t.verify_range_entries(&v, begin, changed, &proof).is_err());
        assert!(
            t.verify_range_entries(&v, begin + 1, run.clone(), &proof)
                .is_err()
        );
        let mut tampered = proof.clone();
        tampered[0][0] ^= 1;
        assert!(matches!(
            t.verify_range_entries(&v, begin, run, &tampered),
            Err(InclusionError::Proof(_))
        ));
    }
}
