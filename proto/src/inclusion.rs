//! Trust in one log ([`LogTrust`]: its key, hash and witness policy) and leaves proven in its
//! checkpoints ([`VerifiedInclusion`], made only by verification).
//!
//! Everything certified mail and key transparency rely on has the same shape: "this leaf is at
//! this index of a checkpoint that this log signed (and a quorum of its witnesses cosigned)".
//! One implementation here, used by the identity checks, both certified-mail parties, the
//! arbiter and the absence proof. The Merkle arithmetic runs before any signature is checked, so
//! garbage costs a verifier no signature verification.

use crate::checkpoint::{
    Checkpoint, CheckpointError, CosignedCheckpoint, PolicyError, VerifiedCheckpoint,
    WitnessPolicy, WitnessVerifier,
};
use crate::merkle::{AnyHasher, HashAlgorithm, LogHasher, ProofError, verify_inclusion};
use crate::note::{KeyError, NoteVerifier, SignedNote};
use crate::wire::{MAX_LOCATION_WITNESSES, WireError, pb};

/// Why a [`pb::LogTrust`] is not a usable description of a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The log key string does not parse.
    #[error("log key: {0}")]
    LogKey(KeyError),
    /// A witness key string does not parse.
    #[error("witness key {index}: {error}")]
    WitnessKey {
        /// Its position in `witness_keys`.
        index: usize,
        /// Why it does not parse.
        error: KeyError,
    },
    /// A key is not in the canonical spelling (the one Herald writes), so two parties could sign
    /// different bytes for the same key.
    #[error("{which} key is not spelled canonically")]
    NonCanonicalKey {
        /// "log" or "witness".
        which: &'static str,
    },
    /// More witnesses than a location may name.
    #[error("{count} witnesses, at most {MAX_LOCATION_WITNESSES} allowed")]
    TooManyWitnesses {
        /// How many were named.
        count: usize,
    },
    /// The hash algorithm is unspecified or unknown.
    #[error(transparent)]
    HashAlgorithm(WireError),
    /// Quorum or witnesses do not make a policy (zero or too large a quorum, a duplicate).
    #[error(transparent)]
    Policy(PolicyError),
}

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
    /// The checkpoint is not cosigned as the policy requires (in time).
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

/// A log as a verifier knows it: the log key (whose name is the origin), its hash algorithm and
/// the witness policy its checkpoints must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogTrust {
    policy: WitnessPolicy,
    algorithm: HashAlgorithm,
}

impl LogTrust {
    /// The log of `policy`, hashing with `algorithm`.
    pub fn new(policy: WitnessPolicy, algorithm: HashAlgorithm) -> Self {
        LogTrust { policy, algorithm }
    }

    /// Reads a wire description; keys must be spelled canonically.
    pub fn from_pb(trust: &pb::LogTrust) -> Result<Self, TrustError> {
        let log = NoteVerifier::parse(&trust.log_key).map_err(TrustError::LogKey)?;
        if log.to_string() != trust.log_key {
            return Err(TrustError::NonCanonicalKey { which: "log" });
        }
        if trust.witness_keys.len() > MAX_LOCATION_WITNESSES {
            return Err(TrustError::TooManyWitnesses {
                count: trust.witness_keys.len(),
            });
        }
        let mut witnesses = Vec::with_capacity(trust.witness_keys.len());
        for (index, key) in trust.witness_keys.iter().enumerate() {
            let w = WitnessVerifier::parse(key)
                .map_err(|error| TrustError::WitnessKey { index, error })?;
            if w.to_string() != *key {
                return Err(TrustError::NonCanonicalKey { which: "witness" });
            }
            witnesses.push(w);
        }
        let algorithm = pb::HashAlgorithm::try_from(trust.hash_algorithm)
            .map_err(|_| WireError::UnknownEnumValue {
                field: "LogTrust.hash_algorithm",
                value: trust.hash_algorithm,
            })
            .and_then(HashAlgorithm::try_from)
            .map_err(TrustError::HashAlgorithm)?;
        let policy = WitnessPolicy::new(log, witnesses, trust.quorum as usize)
            .map_err(TrustError::Policy)?;
        Ok(LogTrust { policy, algorithm })
    }

    /// The wire description, keys in canonical spelling.
    pub fn to_pb(&self) -> pb::LogTrust {
        pb::LogTrust {
            log_key: self.policy.log().to_string(),
            hash_algorithm: pb::HashAlgorithm::from(self.algorithm) as i32,
            witness_keys: self
                .policy
                .witnesses()
                .iter()
                .map(ToString::to_string)
                .collect(),
            // A policy holds fewer than 100 witnesses, so its quorum fits.
            quorum: self.policy.quorum() as u32,
        }
    }

    /// The log's origin (its key's name), `<domain>/herald`.
    pub fn origin(&self) -> &str {
        self.policy.log().name()
    }

    /// The log key and witness policy.
    pub fn policy(&self) -> &WitnessPolicy {
        &self.policy
    }

    /// The log's hash algorithm.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The log's hasher.
    pub fn hasher(&self) -> AnyHasher {
        AnyHasher(self.algorithm)
    }

    /// Checks that `leaf.entry` is included in `leaf.checkpoint`, a checkpoint of this log
    /// cosigned by a quorum of its witnesses with timestamps no later than `deadline` (and no
    /// later than `now + max_skew`: future timestamps do not count).
    pub fn verify_included(
        &self,
        leaf: &pb::IncludedLeaf,
        deadline: u64,
        now: u64,
        max_skew: u64,
    ) -> Result<VerifiedInclusion<CosignedCheckpoint>, InclusionError> {
        let (index, _) = self.check_proof(leaf)?;
        let checkpoint = self
            .policy
            .verify_cosigned_by(&leaf.checkpoint, deadline, now, max_skew)
            .map_err(|e| match e {
                PolicyError::Checkpoint(c) => InclusionError::Checkpoint(c),
                other => InclusionError::Cosigned(other),
            })?;
        Ok(VerifiedInclusion {
            entry: leaf.entry.clone(),
            index,
            checkpoint,
        })
    }

    /// Checks that `leaf.entry` is included in `leaf.checkpoint`, signed by this log's key
    /// (cosignatures are not required).
    pub fn verify_logged(
        &self,
        leaf: &pb::IncludedLeaf,
    ) -> Result<VerifiedInclusion<VerifiedCheckpoint>, InclusionError> {
        let (index, _) = self.check_proof(leaf)?;
        let checkpoint = VerifiedCheckpoint::verify(&leaf.checkpoint, self.policy.log())
            .map_err(InclusionError::Checkpoint)?;
        Ok(VerifiedInclusion {
            entry: leaf.entry.clone(),
            index,
            checkpoint,
        })
    }

    /// The Merkle part, before any signature: the proof leads from the leaf to the root the note
    /// claims. Returns the index and the claimed tree head.
    fn check_proof(&self, leaf: &pb::IncludedLeaf) -> Result<(u64, Checkpoint), InclusionError> {
        let proof = leaf.proof.as_ref().ok_or(InclusionError::MissingProof)?;
        let claimed = SignedNote::parse(&leaf.checkpoint)
            .map_err(CheckpointError::from)
            .and_then(|n| Checkpoint::parse_body(n.text()))
            .map_err(InclusionError::Checkpoint)?;
        prove_inclusion(&self.hasher(), &claimed, &leaf.entry, proof)?;
        Ok((proof.leaf_index, claimed))
    }
}

/// Checks that `entry` is leaf `proof.leaf_index` of the tree `checkpoint` describes.
pub fn prove_inclusion<H: LogHasher>(
    h: &H,
    checkpoint: &Checkpoint,
    entry: &[u8],
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
        &h.hash_leaf(entry),
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

/// A leaf proven at `index` of a checkpoint `C` ([`CosignedCheckpoint`] or
/// [`VerifiedCheckpoint`]). Made only by [`LogTrust::verify_included`] and
/// [`LogTrust::verify_logged`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedInclusion<C> {
    entry: Vec<u8>,
    index: u64,
    checkpoint: C,
}

impl<C: ProvenTree> VerifiedInclusion<C> {
    /// The leaf bytes (an encoded `LogEntry`), as proven.
    pub fn entry(&self) -> &[u8] {
        &self.entry
    }

    /// The leaf's index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The checkpoint it is included in.
    pub fn checkpoint(&self) -> &C {
        &self.checkpoint
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.checkpoint.tree().origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::WitnessSigner;
    use crate::merkle::{MemoryHashes, inclusion_proof};
    use crate::note::NoteSigner;
    use ed25519_dalek::SigningKey;

    fn log() -> NoteSigner {
        NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    fn witness(i: u8) -> WitnessSigner {
        WitnessSigner::new(&format!("w{i}.test"), SigningKey::from_bytes(&[i; 32])).unwrap()
    }

    fn trust() -> LogTrust {
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
}
