//! Witness policies: "this log's key, these witnesses, at least `q` of them", and the
//! [`CosignedCheckpoint`] that only such a policy's check produces.
//!
//! Time enters as parameters. A cosignature counts only if its timestamp is no later than
//! `now + max_skew` (C2SP lets verifiers refuse future timestamps; a witness whose clock runs ahead
//! must not lend a checkpoint an age it does not have). The certified-mail arbiter additionally
//! needs the quorum to be reached by a deadline (`T + δ`): [`WitnessPolicy::verify_cosigned_by`]
//! does both checks in one call.
//!
//! How far ahead a verifier lets cosignature timestamps run is [`DEFAULT_MAX_SKEW_SECS`] unless
//! the rules it applies say otherwise (a certified-mail location's δ, an arbiter's context).

use super::cosignature::{Cosignature, WitnessVerifier};
use super::{CheckpointError, VerifiedCheckpoint};
use crate::note::{KeyId, KnownKey, MAX_SIGNATURES, NoteVerifier};

/// Cosignatures timestamped more than this many seconds after the verifier's clock do not
/// count, unless the verifier's rules name another bound (a location's δ, an arbiter's context).
///
/// Five minutes, for every party (node and client alike; `docs/decisions.md`, Witnessing): the
/// bound decides only which cosignatures count towards a quorum, never what a log committed to,
/// and a verifier whose own clock lags (a phone) must not refuse honest, freshly cosigned
/// checkpoints. The checks that depend on time (publication by `T + δ`, absence windows, the
/// arbiter) take their bound from the certified-mail rules, not from this default.
pub const DEFAULT_MAX_SKEW_SECS: u64 = 300;

/// Why a policy could not be built, or a checkpoint did not satisfy it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A quorum of zero would call an unwitnessed checkpoint cosigned.
    #[error("a witness quorum must be at least 1")]
    ZeroQuorum,
    /// The quorum is larger than the witness set, so nothing could satisfy it.
    #[error("quorum {quorum} is larger than the {witnesses} witnesses")]
    QuorumTooLarge {
        /// The quorum asked for.
        quorum: usize,
        /// How many witnesses the policy has.
        witnesses: usize,
    },
    /// More witnesses than one note can carry cosignatures for.
    #[error("more than {} witnesses", MAX_SIGNATURES - 1)]
    TooManyWitnesses,
    /// Two witnesses share a name and key id, or a public key (which would let one key count
    /// twice: the cosignature message does not commit to the witness's name), or a witness
    /// shares the log key's name and key id.
    #[error("witness {name} appears twice in the policy")]
    DuplicateWitness {
        /// The second occurrence's name.
        name: String,
    },
    /// The checkpoint note was refused (form, log signature, or a witness's failing cosignature).
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The log is known without a witness policy, so nothing about it can count as cosigned.
    #[error("no witness policy is known for this log")]
    NoWitnessPolicy,
    /// Fewer distinct policy witnesses than the quorum cosigned within the time limit.
    #[error(
        "{counted} of the required {quorum} cosignatures ({too_late} more timestamped too late)"
    )]
    BelowQuorum {
        /// Valid cosignatures that counted.
        counted: usize,
        /// Valid cosignatures by policy witnesses whose timestamps were past the limit.
        too_late: usize,
        /// The quorum.
        quorum: usize,
    },
}

/// A log key, its witnesses and the quorum of them a checkpoint needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessPolicy {
    log: NoteVerifier,
    witnesses: Vec<WitnessVerifier>,
    quorum: usize,
}

impl WitnessPolicy {
    /// A policy requiring `quorum` distinct `witnesses` to cosign checkpoints of `log`.
    pub fn new(
        log: NoteVerifier,
        witnesses: Vec<WitnessVerifier>,
        quorum: usize,
    ) -> Result<Self, PolicyError> {
        if quorum == 0 {
            return Err(PolicyError::ZeroQuorum);
        }
        if witnesses.len() >= MAX_SIGNATURES {
            return Err(PolicyError::TooManyWitnesses);
        }
        if quorum > witnesses.len() {
            return Err(PolicyError::QuorumTooLarge {
                quorum,
                witnesses: witnesses.len(),
            });
        }
        for (i, w) in witnesses.iter().enumerate() {
            // A witness posing under the log key's name and id would make every signature line
            // by either ambiguous.
            let as_log = w.name() == log.name() && w.key_id() == log.key_id();
            let twice = as_log
                || witnesses[..i].iter().any(|earlier| {
                    (earlier.name() == w.name() && earlier.key_id() == w.key_id())
                        || earlier.public_key() == w.public_key()
                });
            if twice {
                return Err(PolicyError::DuplicateWitness {
                    name: w.name().to_owned(),
                });
            }
        }
        Ok(WitnessPolicy {
            log,
            witnesses,
            quorum,
        })
    }

    /// The log's key.
    pub fn log(&self) -> &NoteVerifier {
        &self.log
    }

    /// The witnesses.
    pub fn witnesses(&self) -> &[WitnessVerifier] {
        &self.witnesses
    }

    /// How many distinct witnesses must cosign.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Verifies note bytes as a checkpoint of this log cosigned by a quorum of its witnesses,
    /// counting cosignatures timestamped no later than `now + max_skew` (POSIX seconds).
    pub fn verify(
        &self,
        note: &[u8],
        now: u64,
        max_skew: u64,
    ) -> Result<CosignedCheckpoint, PolicyError> {
        self.verify_cosigned_by(note, u64::MAX, now, max_skew)
    }

    /// Like [`verify`](Self::verify), but counting only cosignatures timestamped no later than
    /// `deadline` as well: the arbiter's "≥ q valid cosignatures from X's witness set timestamped
    /// ≤ T + δ", with future timestamps (past `now + max_skew`) refused.
    pub fn verify_cosigned_by(
        &self,
        note: &[u8],
        deadline: u64,
        now: u64,
        max_skew: u64,
    ) -> Result<CosignedCheckpoint, PolicyError> {
        let limit = deadline.min(now.saturating_add(max_skew));
        let known: Vec<&dyn KnownKey> = self.witnesses.iter().map(|w| w as &dyn KnownKey).collect();
        // One pass over all known keys: a failing cosignature by a policy witness rejects the
        // note, and a witness signing twice is refused, so each witness counts at most once.
        let (checkpoint, verified) = VerifiedCheckpoint::verify_with(note, &self.log, &known)?;
        let mut cosignatures = Vec::with_capacity(verified.len());
        let mut too_late = 0;
        for (line, witness) in verified {
            // A witness key verifies only well-formed payloads, so this always parses; a line
            // that did not would simply not count.
            let Ok(cosignature) =
                Cosignature::from_note_signature(&checkpoint.inner.note.signatures()[line])
            else {
                continue;
            };
            let timestamp = cosignature.timestamp();
            if timestamp > limit {
                too_late += 1;
                continue;
            }
            let w = &self.witnesses[witness];
            cosignatures.push(WitnessCosignature {
                witness,
                name: w.name().to_owned(),
                key_id: w.key_id(),
                timestamp,
            });
        }
        if cosignatures.len() < self.quorum {
            return Err(PolicyError::BelowQuorum {
                counted: cosignatures.len(),
                too_late,
                quorum: self.quorum,
            });
        }
        Ok(CosignedCheckpoint {
            checkpoint,
            cosignatures,
            quorum: self.quorum,
        })
    }
}

/// One valid, counted cosignature by a policy witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessCosignature {
    witness: usize,
    name: String,
    key_id: KeyId,
    timestamp: u64,
}

impl WitnessCosignature {
    /// Index of the witness in [`WitnessPolicy::witnesses`].
    pub fn witness(&self) -> usize {
        self.witness
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// When the witness cosigned, POSIX seconds.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }
}

/// A checkpoint signed by its log and cosigned by a quorum of the policy's witnesses.
///
/// Made only by [`WitnessPolicy::verify`] / [`WitnessPolicy::verify_cosigned_by`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignedCheckpoint {
    checkpoint: VerifiedCheckpoint,
    cosignatures: Vec<WitnessCosignature>,
    quorum: usize,
}

impl CosignedCheckpoint {
    /// The log-signed checkpoint (tree head and full note).
    pub fn checkpoint(&self) -> &VerifiedCheckpoint {
        &self.checkpoint
    }

    /// The cosignatures that counted, one per distinct witness, in note order.
    pub fn cosignatures(&self) -> &[WitnessCosignature] {
        &self.cosignatures
    }

    /// The quorum of the policy that accepted it.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Whether the quorum was reached by `deadline`: the check [`WitnessPolicy::verify_cosigned_by`]
    /// makes, applied to a checkpoint already verified (without one).
    pub fn check_deadline(&self, deadline: u64) -> Result<(), PolicyError> {
        let counted = self
            .cosignatures
            .iter()
            .filter(|c| c.timestamp <= deadline)
            .count();
        if counted < self.quorum {
            return Err(PolicyError::BelowQuorum {
                counted,
                too_late: self.cosignatures.len() - counted,
                quorum: self.quorum,
            });
        }
        Ok(())
    }

    /// The time by which the quorum was reached: the `q`-th earliest counted timestamp.
    pub fn quorum_time(&self) -> u64 {
        let mut times: Vec<u64> = self.cosignatures.iter().map(|c| c.timestamp).collect();
        times.sort_unstable();
        // The policy check guarantees at least `quorum >= 1` counted cosignatures.
        times[self.quorum - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, WitnessSigner};
    use crate::note::NoteSigner;
    use ed25519_dalek::SigningKey;

    fn log() -> NoteSigner {
        NoteSigner::new("alpha.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    fn witness(seed: u8) -> WitnessSigner {
        WitnessSigner::new(
            &format!("w{seed}.test"),
            SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap()
    }

    fn cosigned(witnesses: &[(&WitnessSigner, u64)]) -> String {
        let c = Checkpoint {
            origin: "alpha.test/herald".into(),
            size: 4,
            root: [4; 32],
        };
        let note = c.sign(&log()).unwrap().to_string();
        let mut v = VerifiedCheckpoint::verify(note.as_bytes(), &log().verifier()).unwrap();
        for (w, t) in witnesses {
            v = v
                .with_cosignature(&w.verifier(), &w.cosign(&v, *t).unwrap())
                .unwrap();
        }
        v.note()
    }

    #[test]
    fn policy_construction_is_checked() {
        let (a, b) = (witness(2).verifier(), witness(3).verifier());
        let l = log().verifier();
        assert_eq!(
            WitnessPolicy::new(l.clone(), vec![a.clone()], 0),
            Err(PolicyError::ZeroQuorum)
        );
        assert!(matches!(
            WitnessPolicy::new(l.clone(), vec![a.clone()], 2),
            Err(PolicyError::QuorumTooLarge { .. })
        ));
        assert!(matches!(
            WitnessPolicy::new(l.clone(), vec![a.clone(), a.clone()], 1),
            Err(PolicyError::DuplicateWitness { .. })
        ));
        // The same public key under another name is the same witness.
        let renamed = WitnessVerifier::new("other.test", *a.public_key()).unwrap();
        assert!(matches!(
            WitnessPolicy::new(l.clone(), vec![a.clone(), renamed], 2),
            Err(PolicyError::DuplicateWitness { .. })
        ));
        WitnessPolicy::new(l, vec![a, b], 2).unwrap();
    }

    #[test]
    fn quorum_time_is_the_qth_earliest() {
        let (a, b, c) = (witness(2), witness(3), witness(4));
        let policy = WitnessPolicy::new(
            log().verifier(),
            vec![a.verifier(), b.verifier(), c.verifier()],
            2,
        )
        .unwrap();
        let note = cosigned(&[(&a, 300), (&b, 100), (&c, 200)]);
        let cc = policy.verify(note.as_bytes(), 1000, 0).unwrap();
        assert_eq!(cc.cosignatures().len(), 3);
        assert_eq!(cc.quorum_time(), 200);
        assert_eq!(cc.checkpoint().size(), 4);
    }

    #[test]
    fn a_deadline_checked_later_agrees_with_one_checked_at_once() {
        let (a, b) = (witness(2), witness(3));
        let policy =
            WitnessPolicy::new(log().verifier(), vec![a.verifier(), b.verifier()], 2).unwrap();
        let note = cosigned(&[(&a, 100), (&b, 200)]);
        let cc = policy.verify(note.as_bytes(), 1000, 0).unwrap();
        for deadline in [99, 100, 199, 200, 201] {
            assert_eq!(
                cc.check_deadline(deadline),
                policy
                    .verify_cosigned_by(note.as_bytes(), deadline, 1000, 0)
                    .map(|_| ()),
                "deadline {deadline}"
            );
        }
    }

    #[test]
    fn deadline_limits_which_cosignatures_count() {
        let (a, b) = (witness(2), witness(3));
        let policy =
            WitnessPolicy::new(log().verifier(), vec![a.verifier(), b.verifier()], 2).unwrap();
        let note = cosigned(&[(&a, 100), (&b, 200)]);
        policy
            .verify_cosigned_by(note.as_bytes(), 200, 1000, 0)
            .unwrap();
        assert_eq!(
            policy.verify_cosigned_by(note.as_bytes(), 199, 1000, 0),
            Err(PolicyError::BelowQuorum {
                counted: 1,
                too_late: 1,
                quorum: 2
            })
        );
    }
}
