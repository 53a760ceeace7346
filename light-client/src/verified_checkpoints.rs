//! Checkpoints already verified, so that the same signed note is not checked twice (DESIGN §6).
//!
//! Every acknowledgement of a round carries the round's checkpoint: the same note bytes for
//! every entry the round appended. A client with many submissions in flight (the bench's 1024,
//! a mail client sending to many recipients) would check the log's ed25519 signature on those
//! same bytes once per ack. [`VerifiedCheckpoints`] remembers the notes that verified, each
//! with the [`LogTrust`] it verified under: the same bytes under the same log verify the same
//! way every time, so a remembered answer is as good as checking again. Anything else (other
//! bytes, another log, a note that failed) is verified in full.
//!
//! Bounded: two generations of at most [`GENERATION`] notes each; when the newer one is full the
//! older is dropped. A [`TrustedLog`](crate::TrustedLog) has its own by default; clones share
//! one, so the submissions of one process can share it
//! ([`TrustedLog::with_verified_checkpoints`](crate::TrustedLog::with_verified_checkpoints)).

// `VerifyError` carries the evidence of a refusal, as everywhere in the verifying layer.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::inclusion::LogTrust;

use crate::verify::{self, VerifyError};

/// Notes in one generation: a checkpoint lives a round or two at a client, so a few dozen
/// cover every round still being acknowledged.
const GENERATION: usize = 64;

type Notes = HashMap<Vec<u8>, (LogTrust, VerifiedCheckpoint)>;

#[derive(Debug, Default)]
struct Generations {
    newer: Notes,
    older: Notes,
}

/// Signed checkpoint notes that verified, shared by clones (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct VerifiedCheckpoints(Arc<Mutex<Generations>>);

impl VerifiedCheckpoints {
    /// An empty memory.
    pub fn new() -> Self {
        Self::default()
    }

    fn generations(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A memory of verified notes: a panic elsewhere leaves it usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `note` verified as a checkpoint signed by `log`'s key ([`crate::verify_checkpoint`]),
    /// from memory when these bytes verified under this log before.
    pub fn verify(&self, log: &LogTrust, note: &[u8]) -> Result<VerifiedCheckpoint, VerifyError> {
        if let Some(checkpoint) = self.remembered(log, note) {
            return Ok(checkpoint);
        }
        // Verified outside the lock: two callers may both verify one note, never wait on it.
        let checkpoint = verify::verify_checkpoint(log, note)?;
        let mut generations = self.generations();
        if generations.newer.len() >= GENERATION {
            generations.older = std::mem::take(&mut generations.newer);
        }
        generations
            .newer
            .insert(note.to_vec(), (log.clone(), checkpoint.clone()));
        Ok(checkpoint)
    }

    fn remembered(&self, log: &LogTrust, note: &[u8]) -> Option<VerifiedCheckpoint> {
        let generations = self.generations();
        let (trust, checkpoint) = generations
            .newer
            .get(note)
            .or_else(|| generations.older.get(note))?;
        (trust == log).then(|| checkpoint.clone())
    }

    /// How many notes are remembered (at most twice `GENERATION`).
    pub fn len(&self) -> usize {
        let generations = self.generations();
        generations.newer.len() + generations.older.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_log::TestLog;
    use herald_proto::merkle::HashAlgorithm;

    fn identity(log: &TestLog) -> LogTrust {
        LogTrust::unwitnessed(log.verifier(), HashAlgorithm::Blake3)
    }

    #[test]
    fn a_note_verified_once_is_remembered_and_other_bytes_are_not() {
        let log = TestLog::new(6);
        let id = identity(&log);
        let memory = VerifiedCheckpoints::new();
        let note = log.checkpoint_note(4);
        let first = memory.verify(&id, &note).unwrap();
        assert_eq!(memory.len(), 1);
        assert_eq!(memory.verify(&id, &note).unwrap(), first);
        assert_eq!(memory.len(), 1, "the second check came from memory");
        // One byte changed: verified in full, and refused.
        let mut forged = note.clone();
        let at = forged.iter().position(|&b| b == b'\n').unwrap() + 1;
        forged[at] = if forged[at] == b'9' { b'8' } else { b'9' };
        assert!(memory.verify(&id, &forged).is_err());
        assert_eq!(memory.len(), 1, "a note that failed is not remembered");
    }

    #[test]
    fn a_remembered_note_does_not_verify_under_another_log() {
        let log = TestLog::new(3);
        let impostor = TestLog::with_key("alpha.test/herald", [9; 32], 3);
        let memory = VerifiedCheckpoints::new();
        let note = log.checkpoint_note(3);
        memory.verify(&identity(&log), &note).unwrap();
        assert!(memory.verify(&identity(&impostor), &note).is_err());
    }

    #[test]
    fn the_memory_is_bounded() {
        let log = TestLog::new(3 * GENERATION as u64);
        let id = identity(&log);
        let memory = VerifiedCheckpoints::new();
        for size in 1..=3 * GENERATION as u64 {
            memory.verify(&id, &log.checkpoint_note(size)).unwrap();
            assert!(memory.len() <= 2 * GENERATION);
        }
        // The oldest notes are gone; they verify again in full, and still verify.
        assert!(memory.verify(&id, &log.checkpoint_note(1)).is_ok());
    }
}
