//! Equivocation proofs: two checkpoints signed by one log that cannot both be true (DESIGN §2,
//! "Split view").
//!
//! An [`Equivocation`] carries the log's verifier key, its hash algorithm, two signed checkpoint
//! notes and the [`Evidence`] that they conflict, in one of three transferable forms:
//! 1. [`Evidence::SameSize`]: equal sizes, different roots.
//! 2. [`Evidence::Consistency`]: a consistency proof from the smaller to the larger checkpoint
//!    whose second computed root *is* the larger root, yet whose first computed root is not the
//!    smaller root. When the smaller size is a power of two the proof does not carry the first
//!    root, so the evidence names the alternative root explicitly.
//! 3. [`Evidence::Inclusion`]: two inclusion proofs for one index with different leaf hashes,
//!    each valid against one checkpoint.
//!
//! [`Equivocation::verify`] checks all of it offline, from the bytes alone. A proof that merely
//! fails to verify is *not* an equivocation (the sender may have sent garbage): it is
//! [`EquivocationError::ProofDoesNotVerify`], and a witness refuses to cosign without raising an
//! alarm. The constructors build the evidence from what a witness saw and refuse inputs that do
//! not prove a conflict. Notes are stored reduced to the log's own signature, which keeps the
//! encoding (see [`Equivocation::encode`]) compact.

mod encoding;

pub use encoding::{DecodeError, MAX_EQUIVOCATION_LEN};

use crate::checkpoint::{Checkpoint, CheckpointError, VerifiedCheckpoint};
use crate::merkle::{
    AnyHasher, Hash, HashAlgorithm, ProofError, consistency_proof_roots, hash_from_slice,
    verify_inclusion,
};
use crate::note::{MAX_NOTE_LEN, NoteVerifier, SignedNote};

/// Most hashes in an inclusion proof (a tree of at most 2^64 leaves).
pub const MAX_INCLUSION_PROOF_LEN: usize = 64;

/// Most hashes in a consistency proof (at most 64 path hashes plus the seed).
pub const MAX_CONSISTENCY_PROOF_LEN: usize = 65;

/// Why two checkpoints and their evidence do not (or do not yet) prove an equivocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EquivocationError {
    /// The first note is not a checkpoint validly signed by the contained log key.
    #[error("first checkpoint: {0}")]
    FirstCheckpoint(CheckpointError),
    /// The second note is not a checkpoint validly signed by the contained log key.
    #[error("second checkpoint: {0}")]
    SecondCheckpoint(CheckpointError),
    /// The two checkpoints were verified with different log keys.
    #[error("the checkpoints are signed by different log keys")]
    DifferentLogKeys,
    /// The two checkpoints are of different origins.
    #[error("the checkpoints have different origins")]
    OriginsDiffer,
    /// Same-size evidence for checkpoints of different sizes.
    #[error("same-size evidence for sizes {first} and {second}")]
    SizesDiffer {
        /// The first checkpoint's size.
        first: u64,
        /// The second checkpoint's size.
        second: u64,
    },
    /// Consistency evidence needs the first checkpoint strictly smaller, and not empty.
    #[error("consistency evidence needs 0 < first size ({first}) < second size ({second})")]
    SizesNotIncreasing {
        /// The first checkpoint's size.
        first: u64,
        /// The second checkpoint's size.
        second: u64,
    },
    /// The first size is a power of two, so the evidence must name the alternative first root.
    #[error("first size is a power of two: the alternative first root is missing")]
    AlternativeRootMissing,
    /// The first size is not a power of two, so the proof carries the first root itself.
    #[error("first size is not a power of two: an alternative first root must not be given")]
    AlternativeRootUnexpected,
    /// An index, proof length, hash length or root does not check out: this proves nothing
    /// about the log (the sender may have sent garbage).
    #[error("the proof does not verify: {0}")]
    ProofDoesNotVerify(ProofError),
    /// The evidence is valid but shows no conflict (equal roots, consistent trees, equal leaves).
    #[error("the evidence shows no conflict between the checkpoints")]
    NoConflict,
    /// A note or proof is larger than an encoded equivocation may hold.
    #[error("{what} exceeds its size limit")]
    TooLarge {
        /// Which field.
        what: &'static str,
    },
}

/// What shows that the two checkpoints conflict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Form (i): the checkpoints have one size and different roots.
    SameSize,
    /// Form (ii): a consistency proof from the first (smaller) checkpoint to the second.
    Consistency {
        /// The RFC 9162 consistency proof.
        proof: Vec<Hash>,
        /// The first root the proof commits to, when the first size is a power of two (the proof
        /// then starts from it instead of carrying it); `None` otherwise.
        alternative_root: Option<Hash>,
    },
    /// Form (iii): one index with a different leaf in each tree.
    Inclusion {
        /// The leaf index.
        index: u64,
        /// The leaf hash at `index` in the first tree.
        first_leaf: Hash,
        /// Its inclusion proof against the first checkpoint.
        first_proof: Vec<Hash>,
        /// The leaf hash at `index` in the second tree.
        second_leaf: Hash,
        /// Its inclusion proof against the second checkpoint.
        second_proof: Vec<Hash>,
    },
}

/// A claimed equivocation: unverified evidence, as received or built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equivocation {
    log: NoteVerifier,
    algorithm: HashAlgorithm,
    first: String,
    second: String,
    evidence: Evidence,
}

/// An equivocation that [`Equivocation::verify`] accepted: the log signed both checkpoints and
/// they cannot both be true.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEquivocation {
    equivocation: Equivocation,
    first: VerifiedCheckpoint,
    second: VerifiedCheckpoint,
}

impl VerifiedEquivocation {
    /// The evidence that was verified (to store and gossip).
    pub fn equivocation(&self) -> &Equivocation {
        &self.equivocation
    }

    /// The log that equivocated.
    pub fn origin(&self) -> &str {
        self.first.origin()
    }

    /// The first checkpoint (the smaller one for consistency evidence).
    pub fn first(&self) -> &VerifiedCheckpoint {
        &self.first
    }

    /// The second checkpoint.
    pub fn second(&self) -> &VerifiedCheckpoint {
        &self.second
    }
}

fn hashes<P: AsRef<[u8]>>(proof: &[P]) -> Result<Vec<Hash>, EquivocationError> {
    proof
        .iter()
        .map(|p| hash_from_slice("proof element", p.as_ref()))
        .collect::<Result<_, _>>()
        .map_err(EquivocationError::ProofDoesNotVerify)
}

fn same_log(a: &VerifiedCheckpoint, b: &VerifiedCheckpoint) -> Result<(), EquivocationError> {
    if a.log() != b.log() {
        return Err(EquivocationError::DifferentLogKeys);
    }
    Ok(())
}

impl Equivocation {
    /// Assembles a claimed equivocation from its parts (e.g. from a wire message); nothing is
    /// checked but the size limits, so call [`verify`](Self::verify).
    pub fn new(
        log: NoteVerifier,
        algorithm: HashAlgorithm,
        first_note: String,
        second_note: String,
        evidence: Evidence,
    ) -> Result<Self, EquivocationError> {
        if first_note.len() > MAX_NOTE_LEN || second_note.len() > MAX_NOTE_LEN {
            return Err(EquivocationError::TooLarge { what: "note" });
        }
        let too_long = match &evidence {
            Evidence::SameSize => false,
            Evidence::Consistency { proof, .. } => proof.len() > MAX_CONSISTENCY_PROOF_LEN,
            Evidence::Inclusion {
                first_proof,
                second_proof,
                ..
            } => {
                first_proof.len() > MAX_INCLUSION_PROOF_LEN
                    || second_proof.len() > MAX_INCLUSION_PROOF_LEN
            }
        };
        if too_long {
            return Err(EquivocationError::TooLarge { what: "proof" });
        }
        Ok(Equivocation {
            log,
            algorithm,
            first: first_note,
            second: second_note,
            evidence,
        })
    }

    /// Form (i) from two verified checkpoints of one size with different roots, in a canonical
    /// order (by their log-signed note bytes), so that everyone who sees the same two
    /// checkpoints builds, stores and gossips the same bytes, whichever they saw first.
    pub fn from_same_size(
        algorithm: HashAlgorithm,
        a: &VerifiedCheckpoint,
        b: &VerifiedCheckpoint,
    ) -> Result<Self, EquivocationError> {
        same_log(a, b)?;
        let (first, second) = if a.log_signed_note() <= b.log_signed_note() {
            (a, b)
        } else {
            (b, a)
        };
        Self::checked(first, second, algorithm, Evidence::SameSize)
    }

    /// Form (ii) from the checkpoint a witness holds (`older`), a newer one and the consistency
    /// proof the log sent between them. `alternative_root` is needed exactly when `older`'s size
    /// is a power of two: the first root the log's proof starts from.
    ///
    /// Fails with [`EquivocationError::ProofDoesNotVerify`] when the proof does not authenticate
    /// against `newer` (garbage, not an equivocation), and [`EquivocationError::NoConflict`] when
    /// it shows the trees consistent.
    pub fn from_consistency<P: AsRef<[u8]>>(
        algorithm: HashAlgorithm,
        older: &VerifiedCheckpoint,
        newer: &VerifiedCheckpoint,
        proof: &[P],
        alternative_root: Option<Hash>,
    ) -> Result<Self, EquivocationError> {
        same_log(older, newer)?;
        if proof.len() > MAX_CONSISTENCY_PROOF_LEN {
            return Err(EquivocationError::ProofDoesNotVerify(
                ProofError::WrongProofLength {
                    got: proof.len(),
                    want: MAX_CONSISTENCY_PROOF_LEN,
                },
            ));
        }
        let evidence = Evidence::Consistency {
            proof: hashes(proof)?,
            alternative_root,
        };
        Self::checked(older, newer, algorithm, evidence)
    }

    /// Form (iii) from one index's leaf hash and inclusion proof in each of two checkpoints.
    #[allow(clippy::too_many_arguments)] // two (leaf, proof) pairs around one index
    pub fn from_inclusion<P: AsRef<[u8]>>(
        algorithm: HashAlgorithm,
        a: &VerifiedCheckpoint,
        b: &VerifiedCheckpoint,
        index: u64,
        a_leaf: &Hash,
        a_proof: &[P],
        b_leaf: &Hash,
        b_proof: &[P],
    ) -> Result<Self, EquivocationError> {
        same_log(a, b)?;
        for p in [a_proof.len(), b_proof.len()] {
            if p > MAX_INCLUSION_PROOF_LEN {
                return Err(EquivocationError::ProofDoesNotVerify(
                    ProofError::WrongProofLength {
                        got: p,
                        want: MAX_INCLUSION_PROOF_LEN,
                    },
                ));
            }
        }
        let evidence = Evidence::Inclusion {
            index,
            first_leaf: *a_leaf,
            first_proof: hashes(a_proof)?,
            second_leaf: *b_leaf,
            second_proof: hashes(b_proof)?,
        };
        Self::checked(a, b, algorithm, evidence)
    }

    /// Builds from verified checkpoints (reduced to the log's signature) and verifies.
    fn checked(
        first: &VerifiedCheckpoint,
        second: &VerifiedCheckpoint,
        algorithm: HashAlgorithm,
        evidence: Evidence,
    ) -> Result<Self, EquivocationError> {
        let e = Equivocation {
            log: first.log().clone(),
            algorithm,
            first: first.log_signed_note(),
            second: second.log_signed_note(),
            evidence,
        };
        e.verify()?;
        Ok(e)
    }

    /// The log's verifier key the notes are checked against.
    pub fn log(&self) -> &NoteVerifier {
        &self.log
    }

    /// The log's hash algorithm the proofs are computed with.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The first signed checkpoint note.
    pub fn first_note(&self) -> &str {
        &self.first
    }

    /// The second signed checkpoint note.
    pub fn second_note(&self) -> &str {
        &self.second
    }

    /// The evidence of the conflict.
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }

    /// Checks, offline, that the log signed both checkpoints and the evidence shows they conflict.
    ///
    /// The cheap checks (note form, origins, evidence) run before the signature checks, so
    /// garbage costs a receiver no signature verification.
    pub fn verify(&self) -> Result<VerifiedEquivocation, EquivocationError> {
        let first =
            unverified_checkpoint(&self.first).map_err(EquivocationError::FirstCheckpoint)?;
        let second =
            unverified_checkpoint(&self.second).map_err(EquivocationError::SecondCheckpoint)?;
        if first.origin != second.origin {
            return Err(EquivocationError::OriginsDiffer);
        }
        self.check_evidence(&first, &second)?;
        let first = VerifiedCheckpoint::verify(self.first.as_bytes(), &self.log)
            .map_err(EquivocationError::FirstCheckpoint)?;
        let second = VerifiedCheckpoint::verify(self.second.as_bytes(), &self.log)
            .map_err(EquivocationError::SecondCheckpoint)?;
        Ok(VerifiedEquivocation {
            equivocation: self.clone(),
            first,
            second,
        })
    }

    /// Checks that the evidence shows the two tree heads conflict.
    fn check_evidence(
        &self,
        first: &Checkpoint,
        second: &Checkpoint,
    ) -> Result<(), EquivocationError> {
        let h = AnyHasher(self.algorithm);
        let (size1, size2) = (first.size, second.size);
        match &self.evidence {
            Evidence::SameSize => {
                if size1 != size2 {
                    return Err(EquivocationError::SizesDiffer {
                        first: size1,
                        second: size2,
                    });
                }
                if first.root == second.root {
                    return Err(EquivocationError::NoConflict);
                }
            }
            Evidence::Consistency {
                proof,
                alternative_root,
            } => {
                if size1 == 0 || size1 >= size2 {
                    return Err(EquivocationError::SizesNotIncreasing {
                        first: size1,
                        second: size2,
                    });
                }
                let seed = match (size1.is_power_of_two(), alternative_root) {
                    (true, Some(root)) => root,
                    (true, None) => return Err(EquivocationError::AlternativeRootMissing),
                    // Ignored by the verifier: the proof carries the seed.
                    (false, None) => &first.root,
                    (false, Some(_)) => return Err(EquivocationError::AlternativeRootUnexpected),
                };
                let (computed1, computed2) = consistency_proof_roots(&h, size1, size2, proof, seed)
                    .map_err(EquivocationError::ProofDoesNotVerify)?;
                if computed2 != second.root {
                    return Err(EquivocationError::ProofDoesNotVerify(
                        ProofError::RootMismatch {
                            expected: second.root,
                            computed: computed2,
                        },
                    ));
                }
                if computed1 == first.root {
                    return Err(EquivocationError::NoConflict);
                }
            }
            Evidence::Inclusion {
                index,
                first_leaf,
                first_proof,
                second_leaf,
                second_proof,
            } => {
                verify_inclusion(&h, *index, size1, first_leaf, first_proof, &first.root)
                    .map_err(EquivocationError::ProofDoesNotVerify)?;
                verify_inclusion(&h, *index, size2, second_leaf, second_proof, &second.root)
                    .map_err(EquivocationError::ProofDoesNotVerify)?;
                if first_leaf == second_leaf {
                    return Err(EquivocationError::NoConflict);
                }
            }
        }
        Ok(())
    }
}

/// The tree head a note claims, before any signature is checked.
fn unverified_checkpoint(note: &str) -> Result<Checkpoint, CheckpointError> {
    Checkpoint::parse_body(SignedNote::parse(note.as_bytes())?.text())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{LogHasher, Sha256Hasher};
    use crate::note::NoteSigner;
    use crate::testkit::reference;
    use ed25519_dalek::SigningKey;

    pub(super) fn log() -> NoteSigner {
        NoteSigner::new("alpha.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    pub(super) fn signed(size: u64, root: Hash) -> VerifiedCheckpoint {
        let c = Checkpoint {
            origin: "alpha.test/herald".into(),
            size,
            root,
        };
        let note = c.sign(&log()).unwrap().to_string();
        VerifiedCheckpoint::verify(note.as_bytes(), &log().verifier()).unwrap()
    }

    /// RFC 6962 §2.1 MTH over leaf hashes, naively.
    fn mth(leaves: &[Hash]) -> Hash {
        reference::mth(&Sha256Hasher, leaves)
    }

    /// RFC 6962 §2.1.1 PATH(m, D[n]), naively.
    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        reference::path(&Sha256Hasher, m, leaves)
    }

    fn leaves(n: usize, tag: u8) -> Vec<Hash> {
        (0..n)
            .map(|i| Sha256Hasher.hash_leaf(&[tag, i as u8]))
            .collect()
    }

    pub(super) fn inclusion_example() -> Equivocation {
        let a = leaves(6, 0);
        let mut b = a.clone();
        b[3] = Sha256Hasher.hash_leaf(b"forged");
        Equivocation::from_inclusion(
            HashAlgorithm::Sha256,
            &signed(6, mth(&a)),
            &signed(6, mth(&b)),
            3,
            &a[3],
            &path(3, &a),
            &b[3],
            &path(3, &b),
        )
        .unwrap()
    }

    #[test]
    fn naive_helpers_match_the_verifier() {
        for n in 1..20 {
            let l = leaves(n, 9);
            for m in 0..n {
                verify_inclusion(
                    &Sha256Hasher,
                    m as u64,
                    n as u64,
                    &l[m],
                    &path(m, &l),
                    &mth(&l),
                )
                .unwrap();
            }
        }
    }

    #[test]
    fn oversized_parts_are_refused_when_assembling() {
        let n = signed(1, [0; 32]).note();
        assert_eq!(
            Equivocation::new(
                log().verifier(),
                HashAlgorithm::Sha256,
                n.clone(),
                n,
                Evidence::Consistency {
                    proof: vec![[0; 32]; MAX_CONSISTENCY_PROOF_LEN + 1],
                    alternative_root: None
                }
            ),
            Err(EquivocationError::TooLarge { what: "proof" })
        );
    }
}
