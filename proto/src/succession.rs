//! Checkpoint succession, decided once for every verifier of a log (DESIGN §2 "Split view").
//!
//! "May I move from the checkpoint I hold to this one, and if not, what does the refusal
//! prove?" The light client following a log, the witness answering `AddCheckpoint`, the gossip
//! watcher, the consistency audit and the scan of peers' logs all ask it here and only here.
//! Whoever orders two checkpoints by size (an audit of an older checkpoint seen on gossip)
//! passes the smaller as `held`.
//!
//! The rule, in this order (nothing is hashed before the cheap checks):
//! 1. both checkpoints are the log's (verified under its key), and one of size 0 carries the
//!    empty tree's root ([`SuccessionError::EmptyTreeRoot`]);
//! 2. nothing held: any tree succeeds, and no proof may be sent;
//! 3. a smaller tree than the one held is a [`SuccessionError::Rollback`];
//! 4. the same size with the same root is the same tree (no proof may be sent); with another
//!    root it is a split view of form (i), [`SuccessionError::Split`];
//! 5. every tree extends the empty one (no proof may be sent);
//! 6. otherwise the log's consistency proof must verify. When it does not, it either
//!    authenticates the newer root while committing the log to another older root — a split
//!    view of form (ii) — or it is garbage, which accuses nobody
//!    ([`SuccessionError::BadProof`]).
//!
//! A consistency proof from a power-of-two size does not carry the older root, so on its own a
//! failing one cannot be told from garbage. A verified inclusion proof of leaf `held.size()` in
//! the newer tree can: its audit path holds the log's root at that size and, read the other way,
//! a consistency proof built only from hashes the log committed to
//! ([`crate::merkle::consistency_from_audit_path`]). [`SuccessionError::wants_prefix`] says when
//! to fetch it, and [`succession_with_prefix`] decides again.

// `SuccessionError` carries whole checkpoints as evidence, so it is large; it is made only when a
// log misbehaves (or a caller errs), never on the path that succeeds.
#![allow(clippy::result_large_err)]

use crate::checkpoint::{CheckpointError, VerifiedCheckpoint};
use crate::equivocation::{Equivocation, EquivocationError};
use crate::inclusion::{LogTrust, VerifiedInclusion};
use crate::merkle::{ProofError, consistency_from_audit_path, verify_consistency};
use crate::wire::pb;

/// What it takes to move from the held checkpoint to the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The same tree (same size and root): nothing changes.
    Same,
    /// A larger tree with nothing to prove: nothing was held, or the empty tree was.
    Unproven,
    /// A larger tree: the log's consistency proof from `size1` to `size2` must verify.
    NeedsProof {
        /// The held size.
        size1: u64,
        /// The next size.
        size2: u64,
    },
}

/// How the next checkpoint succeeds the held one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Succession {
    /// The same tree.
    Same,
    /// A larger tree that extends the held one (proved, or nothing to prove).
    Extends,
}

/// Why the next checkpoint does not succeed the held one, with the evidence. Only
/// [`Split`](Self::Split) accuses the log (transferably); the others are refusals.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SuccessionError {
    /// A checkpoint was verified under another log key than this log's (a caller's mistake).
    #[error("the checkpoint of size {} is not signed by this log's key", checkpoint.size())]
    ForeignCheckpoint {
        /// The checkpoint.
        checkpoint: VerifiedCheckpoint,
    },
    /// A checkpoint of the empty tree whose root is not the empty tree's hash (or the verifier
    /// was given another hash algorithm than the log's).
    #[error("checkpoint of size 0 does not carry the empty tree's root")]
    EmptyTreeRoot {
        /// The checkpoint.
        checkpoint: VerifiedCheckpoint,
    },
    /// The log showed a smaller tree than the one held: it went back.
    #[error("the log went back from size {} to size {}", held.size(), next.size())]
    Rollback {
        /// The checkpoint held (kept).
        held: VerifiedCheckpoint,
        /// The smaller checkpoint shown.
        next: VerifiedCheckpoint,
    },
    /// The log signed two checkpoints that cannot both be true: the transferable proof, of
    /// form (i) (one size, two roots) or (ii) (a consistency proof committing to another root).
    #[error("split view: the log {} signed two incompatible checkpoints", .0.log().name())]
    Split(Box<Equivocation>),
    /// The consistency proof does not verify and proves nothing about the log.
    #[error(
        "checkpoint of size {} is not shown consistent with size {}: {error}",
        newer.size(),
        older.size()
    )]
    BadProof {
        /// The held (older) checkpoint.
        older: VerifiedCheckpoint,
        /// The next (newer) checkpoint.
        newer: VerifiedCheckpoint,
        /// The proof received.
        proof: pb::ConsistencyProof,
        /// Why it does not verify.
        error: ProofError,
        /// The older size is a power of two and no prefix was given: a verified inclusion proof
        /// of leaf `older.size()` in `newer` could still show a split view
        /// ([`wants_prefix`](SuccessionError::wants_prefix)).
        undecided: bool,
    },
    /// A proof was sent where none is needed (from nothing, from the empty tree, or between two
    /// equal trees). It proves nothing.
    #[error("a proof of {len} hashes was sent where none is needed")]
    UnexpectedProof {
        /// Its number of hashes.
        len: usize,
    },
    /// The inclusion proof given to decide a power-of-two case is not of leaf `older.size()` in
    /// the newer checkpoint's tree.
    #[error(
        "the prefix proof is of leaf {index} in a tree of {size}, not of the older size in the newer tree"
    )]
    WrongPrefix {
        /// Its leaf index.
        index: u64,
        /// Its tree size.
        size: u64,
    },
}

impl SuccessionError {
    /// For an undecided [`BadProof`](Self::BadProof): the inclusion proof that would decide it,
    /// as `(leaf index, tree size)` — leaf `older.size()` in the newer tree.
    pub fn wants_prefix(&self) -> Option<(u64, u64)> {
        match self {
            SuccessionError::BadProof {
                older,
                newer,
                undecided: true,
                ..
            } => Some((older.size(), newer.size())),
            _ => None,
        }
    }

    /// The transferable proof of a split view, if this refusal is one.
    pub fn equivocation(&self) -> Option<&Equivocation> {
        match self {
            SuccessionError::Split(e) => Some(e),
            _ => None,
        }
    }
}

/// Steps 1–5 of the module docs: what it takes to move from `held` to `next`, or the refusal
/// that needs no proof.
pub fn plan(
    log: &LogTrust,
    held: Option<&VerifiedCheckpoint>,
    next: &VerifiedCheckpoint,
) -> Result<Plan, SuccessionError> {
    for checkpoint in held.into_iter().chain([next]) {
        if checkpoint.log() != log.log() {
            return Err(SuccessionError::ForeignCheckpoint {
                checkpoint: checkpoint.clone(),
            });
        }
        if let Err(CheckpointError::EmptyTreeRoot) = checkpoint.check_empty_root(log.algorithm()) {
            return Err(SuccessionError::EmptyTreeRoot {
                checkpoint: checkpoint.clone(),
            });
        }
    }
    let Some(held) = held else {
        return Ok(Plan::Unproven);
    };
    if next.size() < held.size() {
        return Err(SuccessionError::Rollback {
            held: held.clone(),
            next: next.clone(),
        });
    }
    if next.size() == held.size() {
        if next.root() == held.root() {
            return Ok(Plan::Same);
        }
        // Both are verified under this log's key with one size: the constructor cannot fail
        // but on a bug, and then nothing is proved.
        return match Equivocation::from_same_size(log.algorithm(), held, next) {
            Ok(e) => Err(SuccessionError::Split(Box::new(e))),
            Err(_) => Err(bad_proof(
                held,
                next,
                &[] as &[&[u8]],
                ProofError::EqualSizeRootsDiffer,
                false,
            )),
        };
    }
    if held.size() == 0 {
        return Ok(Plan::Unproven);
    }
    Ok(Plan::NeedsProof {
        size1: held.size(),
        size2: next.size(),
    })
}

/// The whole rule (module docs): may the verifier holding `held` move to `next`, given the log's
/// consistency `proof` between them (empty where none is needed)?
pub fn succession<P: AsRef<[u8]>>(
    log: &LogTrust,
    held: Option<&VerifiedCheckpoint>,
    next: &VerifiedCheckpoint,
    proof: &[P],
) -> Result<Succession, SuccessionError> {
    let (older, size1, size2) = match plan(log, held, next)? {
        Plan::Same | Plan::Unproven if !proof.is_empty() => {
            return Err(SuccessionError::UnexpectedProof { len: proof.len() });
        }
        Plan::Same => return Ok(Succession::Same),
        Plan::Unproven => return Ok(Succession::Extends),
        Plan::NeedsProof { size1, size2 } => match held {
            Some(older) => (older, size1, size2),
            // `plan` asks for a proof only when something is held.
            None => return Ok(Succession::Extends),
        },
    };
    let h = log.hasher();
    let Err(error) = verify_consistency(&h, size1, size2, proof, older.root(), next.root()) else {
        return Ok(Succession::Extends);
    };
    // A proof that fails is garbage unless it authenticates the newer root and commits the log
    // to another root at the older size: then it is transferable evidence.
    match Equivocation::from_consistency(log.algorithm(), older, next, proof, None) {
        Ok(e) => Err(SuccessionError::Split(Box::new(e))),
        Err(e) => {
            let undecided = matches!(e, EquivocationError::AlternativeRootMissing);
            Err(bad_proof(older, next, proof, error, undecided))
        }
    }
}

/// [`succession`], for an older size that is a power of two, with `prefix`: a verified inclusion
/// proof of leaf `held.size()` in `next`'s tree. Its audit path says which root the log's newer
/// tree has at the held size: the held root (then a failing consistency proof is garbage), or
/// another one (then the path itself gives the consistency proof of a split view of form (ii)).
pub fn succession_with_prefix<P: AsRef<[u8]>>(
    log: &LogTrust,
    held: Option<&VerifiedCheckpoint>,
    next: &VerifiedCheckpoint,
    proof: &[P],
    prefix: &VerifiedInclusion,
) -> Result<Succession, SuccessionError> {
    let decided = succession(log, held, next, proof);
    let (
        Err(SuccessionError::BadProof {
            undecided: true, ..
        }),
        Some(older),
    ) = (&decided, held)
    else {
        return decided;
    };
    let tree = prefix.checkpoint();
    if prefix.index() != older.size() || tree.checkpoint() != next.checkpoint() {
        return Err(SuccessionError::WrongPrefix {
            index: prefix.index(),
            size: tree.size(),
        });
    }
    let h = log.hasher();
    // `index` is a power of two below the size and the path verified, so neither can fail.
    let (Ok(root), Ok(derived)) = (
        prefix.prefix_root(),
        consistency_from_audit_path(
            &h,
            prefix.index(),
            tree.size(),
            *prefix.leaf_hash(),
            prefix.path(),
        ),
    ) else {
        return decided;
    };
    if root == *older.root() {
        // The newer tree agrees with the held one: the log's proof was garbage.
        return match decided {
            Err(SuccessionError::BadProof {
                older,
                newer,
                proof,
                error,
                ..
            }) => Err(SuccessionError::BadProof {
                older,
                newer,
                proof,
                error,
                undecided: false,
            }),
            other => other,
        };
    }
    match Equivocation::from_consistency(log.algorithm(), older, next, &derived, Some(root)) {
        Ok(e) => Err(SuccessionError::Split(Box::new(e))),
        Err(_) => decided,
    }
}

/// A [`SuccessionError::BadProof`], carrying the verifier's error (a proof that proves
/// nothing is refused for why it does not verify).
fn bad_proof<P: AsRef<[u8]>>(
    older: &VerifiedCheckpoint,
    newer: &VerifiedCheckpoint,
    proof: &[P],
    error: ProofError,
    undecided: bool,
) -> SuccessionError {
    SuccessionError::BadProof {
        older: older.clone(),
        newer: newer.clone(),
        proof: pb::ConsistencyProof {
            size1: older.size(),
            size2: newer.size(),
            hashes: proof
                .iter()
                .map(|p| bytes::Bytes::copy_from_slice(p.as_ref()))
                .collect(),
        },
        error,
        undecided,
    }
}
