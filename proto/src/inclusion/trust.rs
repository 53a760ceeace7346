//! [`LogTrust`]: a log as a verifier knows it, for every verifier Herald has (the light client
//! following a log, a node witnessing its peers, certified mail, key transparency, the arbiter).
//!
//! It is the log's key (whose name is the origin), its hash algorithm, the witness policy its
//! checkpoints must satisfy when the verifier has one, and how far ahead of the verifier's clock
//! a cosignature may be timestamped ([`DEFAULT_MAX_SKEW_SECS`] unless set). Every check of one
//! answer about the log is a method here, so no caller pairs a key with the wrong hash.

use crate::checkpoint::{
    CheckpointError, CosignedCheckpoint, DEFAULT_MAX_SKEW_SECS, PolicyError, VerifiedCheckpoint,
    WitnessPolicy, WitnessVerifier,
};
use crate::merkle::{AnyHasher, Hash, HashAlgorithm, LogHasher, proof_hashes, verify_range};
use crate::note::{KeyError, NoteVerifier, SignedNote};
use crate::wire::{MAX_LOCATION_WITNESSES, WireError, pb};

use super::{CheckpointMemo, InclusionError, VerifiedEntry, VerifiedInclusion, prove_inclusion};
use crate::checkpoint::Checkpoint;

/// Why a [`pb::LogTrust`] (or a policy given to [`LogTrust::with_policy`]) is not a usable
/// description of a log.
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
    /// The witness policy is for another log key than this log's.
    #[error("the witness policy is for the log key {policy}, not {log}")]
    PolicyForAnotherLog {
        /// The log key of this log.
        log: String,
        /// The log key the policy names.
        policy: String,
    },
}

/// A log as a verifier knows it (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogTrust {
    log: NoteVerifier,
    algorithm: HashAlgorithm,
    /// Invariant: when set, `policy.log() == log`.
    policy: Option<WitnessPolicy>,
    max_skew: u64,
}

impl LogTrust {
    /// The log of `policy` (its key and witnesses), hashing with `algorithm`.
    pub fn new(policy: WitnessPolicy, algorithm: HashAlgorithm) -> Self {
        LogTrust {
            log: policy.log().clone(),
            algorithm,
            policy: Some(policy),
            max_skew: DEFAULT_MAX_SKEW_SECS,
        }
    }

    /// The log whose checkpoints `log` signs, hashing with `algorithm`, with no witness policy:
    /// its checkpoints are trusted on the log's signature and the succession rule alone.
    pub fn unwitnessed(log: NoteVerifier, algorithm: HashAlgorithm) -> Self {
        LogTrust {
            log,
            algorithm,
            policy: None,
            max_skew: DEFAULT_MAX_SKEW_SECS,
        }
    }

    /// [`unwitnessed`](Self::unwitnessed) from a C2SP verifier key string
    /// (`name+hex8+base64`).
    pub fn parse(log_key: &str, algorithm: HashAlgorithm) -> Result<Self, KeyError> {
        Ok(Self::unwitnessed(NoteVerifier::parse(log_key)?, algorithm))
    }

    /// This log, its checkpoints required to satisfy `policy` (which must be for its key).
    pub fn with_policy(mut self, policy: WitnessPolicy) -> Result<Self, TrustError> {
        if *policy.log() != self.log {
            return Err(TrustError::PolicyForAnotherLog {
                log: self.log.to_string(),
                policy: policy.log().to_string(),
            });
        }
        self.policy = Some(policy);
        Ok(self)
    }

    /// This log, counting cosignatures timestamped at most `secs` after the verifier's clock.
    pub fn with_max_skew(mut self, secs: u64) -> Self {
        self.max_skew = secs;
        self
    }

    /// Reads a wire description; keys must be spelled canonically. The result has a witness
    /// policy (a quorum of at least 1) and the default skew.
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
        Ok(LogTrust::new(policy, algorithm))
    }

    /// The wire description, keys in canonical spelling (an unwitnessed log has no witnesses
    /// and quorum 0, which [`from_pb`](Self::from_pb) refuses: the wire describes logs whose
    /// checkpoints can be cosigned).
    pub fn to_pb(&self) -> pb::LogTrust {
        let (witness_keys, quorum) = match &self.policy {
            Some(p) => (
                p.witnesses().iter().map(ToString::to_string).collect(),
                // A policy holds fewer than 100 witnesses, so its quorum fits.
                p.quorum() as u32,
            ),
            None => (Vec::new(), 0),
        };
        pb::LogTrust {
            log_key: self.log.to_string(),
            hash_algorithm: pb::HashAlgorithm::from(self.algorithm) as i32,
            witness_keys,
            quorum,
        }
    }

    /// The log's origin (its key's name), `<domain>/herald`.
    pub fn origin(&self) -> &str {
        self.log.name()
    }

    /// The log's checkpoint key.
    pub fn log(&self) -> &NoteVerifier {
        &self.log
    }

    /// The witness policy its checkpoints must satisfy, if the verifier has one.
    pub fn policy(&self) -> Option<&WitnessPolicy> {
        self.policy.as_ref()
    }

    /// The log's hash algorithm.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The log's hasher.
    pub fn hasher(&self) -> AnyHasher {
        AnyHasher(self.algorithm)
    }

    /// How many seconds after the verifier's clock a cosignature may be timestamped and count.
    pub fn max_skew(&self) -> u64 {
        self.max_skew
    }

    /// The Merkle leaf hash of an entry of this log.
    pub fn leaf_hash(&self, entry: &[u8]) -> Hash {
        self.hasher().hash_leaf(entry)
    }

    /// Verifies note bytes as a checkpoint signed by this log's key, with the empty tree's root
    /// if it is of size 0 ([`VerifiedCheckpoint::check_empty_root`]).
    pub fn verify_checkpoint(&self, note: &[u8]) -> Result<VerifiedCheckpoint, CheckpointError> {
        let checkpoint = VerifiedCheckpoint::verify(note, &self.log)?;
        checkpoint.check_empty_root(self.algorithm)?;
        Ok(checkpoint)
    }

    /// Verifies note bytes as a checkpoint of this log cosigned as its witness policy requires,
    /// at time `now` (POSIX seconds), counting cosignatures up to [`max_skew`](Self::max_skew)
    /// ahead; [`PolicyError::NoWitnessPolicy`] if the log has no policy.
    pub fn verify_cosigned(
        &self,
        note: &[u8],
        now: u64,
    ) -> Result<CosignedCheckpoint, PolicyError> {
        let policy = self.policy.as_ref().ok_or(PolicyError::NoWitnessPolicy)?;
        let cosigned = policy.verify(note, now, self.max_skew)?;
        cosigned.checkpoint().check_empty_root(self.algorithm)?;
        Ok(cosigned)
    }

    /// Checks that `leaf_hash` is leaf `proof.leaf_index` of `checkpoint`'s tree (a checkpoint
    /// of this log): the proof is for the checkpoint's size and leads to its root.
    pub fn verify_inclusion(
        &self,
        checkpoint: &VerifiedCheckpoint,
        leaf_hash: &Hash,
        proof: &pb::InclusionProof,
    ) -> Result<VerifiedInclusion, InclusionError> {
        let path = self.path(checkpoint.checkpoint(), leaf_hash, proof)?;
        Ok(VerifiedInclusion {
            index: proof.leaf_index,
            leaf_hash: *leaf_hash,
            path,
            algorithm: self.algorithm,
            checkpoint: checkpoint.clone(),
        })
    }

    /// Checks that `entries` are the consecutive leaves of `checkpoint`'s tree (a checkpoint of
    /// this log) from index `begin`, with the range `proof` of that run
    /// ([`crate::merkle::verify_range`]: each entry's leaf hash folded into the run's subtrees,
    /// one pass, against the checkpoint's root), and returns each entry proved at its index
    /// with its own audit path. The paths are read from the subtrees that pass computed and
    /// checked ([`crate::merkle::ProvedRange::inclusion_proofs`]), not hashed again: each
    /// [`VerifiedEntry`] is what [`verify_inclusion`](Self::verify_inclusion) of its path
    /// would make, for one leaf hash and one root check per batch instead of a path each.
    pub fn verify_range_entries<P: AsRef<[u8]>>(
        &self,
        checkpoint: &VerifiedCheckpoint,
        begin: u64,
        entries: Vec<Vec<u8>>,
        proof: &[P],
    ) -> Result<Vec<VerifiedEntry>, InclusionError> {
        let h = self.hasher();
        let tree = checkpoint.checkpoint();
        let leaves: Vec<Hash> = entries.iter().map(|e| h.hash_leaf(e)).collect();
        let proved = verify_range(&h, begin, tree.size, &leaves, proof, &tree.root)
            .map_err(InclusionError::Proof)?;
        let paths = proved.inclusion_proofs(&h).map_err(InclusionError::Proof)?;
        Ok(entries
            .into_iter()
            .zip(leaves)
            .zip(paths)
            .zip(begin..)
            .map(|(((entry, leaf_hash), path), index)| VerifiedEntry {
                entry,
                inclusion: VerifiedInclusion {
                    index,
                    leaf_hash,
                    path,
                    algorithm: self.algorithm,
                    checkpoint: checkpoint.clone(),
                },
            })
            .collect())
    }

    /// Checks that `leaf.entry` is included in `leaf.checkpoint`, a checkpoint of this log
    /// cosigned by a quorum of its witnesses with timestamps no later than `deadline` (and no
    /// later than `now + max_skew`: future timestamps do not count). The certified-mail rules
    /// pass their own `max_skew` (a location's δ, an arbiter's context).
    pub fn verify_included(
        &self,
        leaf: &pb::IncludedLeaf,
        deadline: u64,
        now: u64,
        max_skew: u64,
    ) -> Result<VerifiedEntry<CosignedCheckpoint>, InclusionError> {
        self.included(leaf, deadline, now, max_skew, None)
    }

    /// [`verify_included`](Self::verify_included), with the checkpoint's signatures checked
    /// only if `memo` has not verified the same note for this trust under an earlier limit
    /// (`memo`'s module docs say why that is sound); a verified checkpoint is remembered.
    pub fn verify_included_memo(
        &self,
        leaf: &pb::IncludedLeaf,
        deadline: u64,
        now: u64,
        max_skew: u64,
        memo: &mut CheckpointMemo,
    ) -> Result<VerifiedEntry<CosignedCheckpoint>, InclusionError> {
        self.included(leaf, deadline, now, max_skew, Some(memo))
    }

    fn included(
        &self,
        leaf: &pb::IncludedLeaf,
        deadline: u64,
        now: u64,
        max_skew: u64,
        memo: Option<&mut CheckpointMemo>,
    ) -> Result<VerifiedEntry<CosignedCheckpoint>, InclusionError> {
        let (claimed, proof) = self.claimed(leaf)?;
        let leaf_hash = self.leaf_hash(&leaf.entry);
        // The Merkle part first, before any signature.
        let path = self.path(&claimed, &leaf_hash, proof)?;
        let policy = self
            .policy
            .as_ref()
            .ok_or(InclusionError::Cosigned(PolicyError::NoWitnessPolicy))?;
        // The latest cosignature time that counts, as `verify_cosigned_by` computes it.
        let limit = deadline.min(now.saturating_add(max_skew));
        let verify = || {
            policy
                .verify_cosigned_by(&leaf.checkpoint, deadline, now, max_skew)
                .map_err(|e| match e {
                    PolicyError::Checkpoint(c) => InclusionError::Checkpoint(c),
                    other => InclusionError::Cosigned(other),
                })
        };
        let checkpoint = match memo {
            None => verify()?,
            Some(memo) => match memo.get(&leaf.checkpoint, self, limit) {
                Some(c) => c,
                None => {
                    let c = verify()?;
                    memo.put(&leaf.checkpoint, self, limit, &c);
                    c
                }
            },
        };
        Ok(VerifiedEntry {
            entry: leaf.entry.clone(),
            inclusion: VerifiedInclusion {
                index: proof.leaf_index,
                leaf_hash,
                path,
                algorithm: self.algorithm,
                checkpoint,
            },
        })
    }

    /// Checks that `leaf.entry` is included in `leaf.checkpoint`, signed by this log's key
    /// (cosignatures are not required).
    pub fn verify_logged(
        &self,
        leaf: &pb::IncludedLeaf,
    ) -> Result<VerifiedEntry<VerifiedCheckpoint>, InclusionError> {
        let (claimed, proof) = self.claimed(leaf)?;
        let leaf_hash = self.leaf_hash(&leaf.entry);
        let path = self.path(&claimed, &leaf_hash, proof)?;
        let checkpoint = VerifiedCheckpoint::verify(&leaf.checkpoint, &self.log)
            .map_err(InclusionError::Checkpoint)?;
        Ok(VerifiedEntry {
            entry: leaf.entry.clone(),
            inclusion: VerifiedInclusion {
                index: proof.leaf_index,
                leaf_hash,
                path,
                algorithm: self.algorithm,
                checkpoint,
            },
        })
    }

    /// The tree head a leaf's note claims (no signature checked yet) and its proof.
    fn claimed<'a>(
        &self,
        leaf: &'a pb::IncludedLeaf,
    ) -> Result<(Checkpoint, &'a pb::InclusionProof), InclusionError> {
        let proof = leaf.proof.as_ref().ok_or(InclusionError::MissingProof)?;
        let claimed = SignedNote::parse(&leaf.checkpoint)
            .map_err(CheckpointError::from)
            .and_then(|n| Checkpoint::parse_body(n.text()))
            .map_err(InclusionError::Checkpoint)?;
        Ok((claimed, proof))
    }

    /// The Merkle part: `proof` leads from `leaf_hash` to `tree`'s root; the path as hashes.
    fn path(
        &self,
        tree: &Checkpoint,
        leaf_hash: &Hash,
        proof: &pb::InclusionProof,
    ) -> Result<Vec<Hash>, InclusionError> {
        prove_inclusion(&self.hasher(), tree, leaf_hash, proof)?;
        // The proof verified, so every element is 32 bytes.
        proof_hashes(&proof.hashes).map_err(InclusionError::Proof)
    }
}
