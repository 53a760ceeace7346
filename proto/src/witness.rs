//! The witness's judgement of an `AddCheckpoint` request (C2SP tlog-witness), without I/O.
//!
//! A witness holds, per origin, the checkpoint it last cosigned, and promises never to cosign
//! one inconsistent with it. This module decides; the caller owns the held state, serializes
//! requests per origin, persists a [`Judgement::Cosign`] that advances (compare-and-swap, then
//! flush) and only then cosigns. The same judgement serves Herald's `/herald/witness/1` over
//! libp2p and C2SP's HTTP `POST /add-checkpoint`; each transport maps the refusals to its own
//! answer (HTTP: [`crate::tlog_witness::status_of`]):
//!
//! | step | refusal ([`Reason`]) | tlog-witness HTTP |
//! |---|---|---|
//! | [`claimed_origin`]: the note is a checkpoint | `MALFORMED_REQUEST` | 400 |
//! | the caller looks the origin up | `UNKNOWN_ORIGIN` | 404 |
//! | the caller checks its alerts | `DISTRUSTED_ORIGIN` | 403 |
//! | [`verify_request`]: the log signed it | `BAD_SIGNATURE` | 403 |
//! | [`verify_request`]: an empty tree has the empty root | `BAD_PROOF` | 422 |
//! | [`judge`]: `old_size` ≤ the size | `OLD_SIZE_TOO_LARGE` | 400 |
//! | [`judge`]: `old_size` is the held size | `CONFLICT` (+ held size) | 409 (+ held size) |
//! | [`judge`]: the succession rule ([`crate::succession`]) | `BAD_PROOF` | 422 |
//! | the caller persists | `UNAVAILABLE` | 503 |
//!
//! When the succession rule proves a split view instead of a bad proof, [`judge`] returns
//! [`Judgement::Split`] with the transferable proof; the caller raises it and refuses with
//! `DISTRUSTED_ORIGIN`. A request for the checkpoint already held is cosigned again (a log
//! that lost its cosignatures gets them back).

use crate::checkpoint::{Checkpoint, CheckpointError, VerifiedCheckpoint};
use crate::equivocation::Equivocation;
use crate::inclusion::LogTrust;
use crate::note::SignedNote;
use crate::succession::{Succession, SuccessionError, succession};
pub use crate::wire::pb::witness_refusal::Reason;

/// A refusal: the reason for the wire, the held size for `CONFLICT`, and why, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reason a transport answers with.
    pub reason: Reason,
    /// For [`Reason::Conflict`]: the size the witness holds (0 if nothing); 0 otherwise.
    pub held_size: u64,
    /// A human-readable explanation, for logs (never sent).
    pub why: String,
}

impl Refusal {
    /// A refusal for `reason` (not `CONFLICT`).
    pub fn new(reason: Reason, why: impl Into<String>) -> Self {
        Refusal {
            reason,
            held_size: 0,
            why: why.into(),
        }
    }
}

/// What the witness decided about a request under its origin's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Cosign. When `advance`, the checkpoint replaces the held one first (durably); otherwise
    /// it is the held tree, cosigned again.
    Cosign {
        /// Whether the held state must change before the cosignature leaves.
        advance: bool,
    },
    /// Refuse; nothing changes.
    Refuse(Refusal),
    /// A transferable proof that the log equivocated (boxed: large and rare). Raise it; refuse.
    Split(Box<Equivocation>),
}

/// The origin a request's note claims, read before anything else (to find the log it names).
pub fn claimed_origin(note: &[u8]) -> Result<String, Refusal> {
    let malformed =
        |e: &dyn core::fmt::Display| Refusal::new(Reason::MalformedRequest, e.to_string());
    let parsed = SignedNote::parse(note).map_err(|e| malformed(&e))?;
    let body = Checkpoint::parse_body(parsed.text()).map_err(|e| malformed(&e))?;
    Ok(body.origin)
}

/// The request's checkpoint, verified as `log`'s (before the origin's lock is taken).
pub fn verify_request(log: &LogTrust, note: &[u8]) -> Result<VerifiedCheckpoint, Refusal> {
    log.verify_checkpoint(note).map_err(|e| match e {
        CheckpointError::EmptyTreeRoot => Refusal::new(
            Reason::BadProof,
            "size 0 with a root other than the empty tree's",
        ),
        other => Refusal::new(Reason::BadSignature, other.to_string()),
    })
}

/// The judgement under the origin's lock: `held` is what the witness holds for `log` (verified
/// again under its key by the caller), `checkpoint` the request's (from [`verify_request`]),
/// `old_size` and `proof` the request's claim of where it extends from.
pub fn judge<P: AsRef<[u8]>>(
    log: &LogTrust,
    held: Option<&VerifiedCheckpoint>,
    checkpoint: &VerifiedCheckpoint,
    old_size: u64,
    proof: &[P],
) -> Judgement {
    let size = checkpoint.size();
    if old_size > size {
        return Judgement::Refuse(Refusal::new(
            Reason::OldSizeTooLarge,
            format!("old size {old_size} is above the new size {size}"),
        ));
    }
    let held_size = held.map_or(0, VerifiedCheckpoint::size);
    if old_size != held_size {
        return Judgement::Refuse(Refusal {
            reason: Reason::Conflict,
            held_size,
            why: format!("old size {old_size} is not the held size"),
        });
    }
    match succession(log, held, checkpoint, proof) {
        Ok(Succession::Same) => Judgement::Cosign { advance: false },
        Ok(Succession::Extends) => Judgement::Cosign { advance: true },
        Err(SuccessionError::Split(e)) => Judgement::Split(e),
        // `old_size == held_size <= size`: a held tree larger than the request's cannot reach
        // here; if it did, the log should retry from what is held.
        Err(SuccessionError::Rollback { .. }) => Judgement::Refuse(Refusal {
            reason: Reason::Conflict,
            held_size,
            why: "the held tree is larger".into(),
        }),
        Err(e @ SuccessionError::ForeignCheckpoint { .. }) => {
            Judgement::Refuse(Refusal::new(Reason::BadSignature, e.to_string()))
        }
        Err(e) => Judgement::Refuse(Refusal::new(Reason::BadProof, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::Hash;
    use crate::testkit::MemoryLog;

    const NONE: &[Hash] = &[];

    fn log(n: u64, tag: &str) -> MemoryLog {
        let mut log = MemoryLog::new("beta.test", 4);
        for i in 0..n {
            log.append(format!("{tag} {i}").as_bytes());
        }
        log
    }

    #[test]
    fn a_request_is_read_then_verified() {
        let l = log(3, "e");
        let note = l.checkpoint().note().into_bytes();
        assert_eq!(claimed_origin(&note).unwrap(), "beta.test/herald");
        assert_eq!(
            claimed_origin(b"garbage").unwrap_err().reason,
            Reason::MalformedRequest
        );
        assert_eq!(verify_request(&l.unwitnessed(), &note).unwrap().size(), 3);
        let stranger = MemoryLog::new("beta.test", 5);
        assert_eq!(
            verify_request(&stranger.unwitnessed(), &note)
                .unwrap_err()
                .reason,
            Reason::BadSignature
        );
    }

    #[test]
    fn sizes_are_judged_before_proofs() {
        let l = log(8, "e");
        let (t, held, next) = (l.unwitnessed(), l.checkpoint_at(5), l.checkpoint_at(8));
        let refusal = |j| match j {
            Judgement::Refuse(r) => r,
            other => panic!("{other:?}"),
        };
        let r = refusal(judge(&t, Some(&held), &next, 9, NONE));
        assert_eq!(r.reason, Reason::OldSizeTooLarge);
        let r = refusal(judge(&t, Some(&held), &next, 3, NONE));
        assert_eq!((r.reason, r.held_size), (Reason::Conflict, 5));
        let r = refusal(judge(&t, None, &next, 5, NONE));
        assert_eq!((r.reason, r.held_size), (Reason::Conflict, 0));
        assert_eq!(
            judge(&t, Some(&held), &next, 5, &l.consistency(5, 8)),
            Judgement::Cosign { advance: true }
        );
        assert_eq!(
            judge(&t, Some(&next), &next, 8, NONE),
            Judgement::Cosign { advance: false }
        );
        assert_eq!(
            judge(&t, None, &held, 0, NONE),
            Judgement::Cosign { advance: true }
        );
        let r = refusal(judge(&t, None, &held, 0, &[[0u8; 32]]));
        assert_eq!(r.reason, Reason::BadProof);
    }

    #[test]
    fn attack_a_conflicting_request_is_a_split_view_and_garbage_is_a_bad_proof() {
        let (honest, fork) = (log(9, "e"), log(9, "f"));
        let t = honest.unwitnessed();
        let held = honest.checkpoint_at(5);
        assert!(matches!(
            judge(
                &t,
                Some(&held),
                &fork.checkpoint_at(9),
                5,
                &fork.consistency(5, 9)
            ),
            Judgement::Split(_)
        ));
        assert!(matches!(
            judge(&t, Some(&held), &fork.checkpoint_at(5), 5, NONE),
            Judgement::Split(_)
        ));
        let mut garbage = honest.consistency(5, 9);
        garbage[0][0] ^= 1;
        assert!(matches!(
            judge(&t, Some(&held), &honest.checkpoint_at(9), 5, &garbage),
            Judgement::Refuse(Refusal {
                reason: Reason::BadProof,
                ..
            })
        ));
    }
}
