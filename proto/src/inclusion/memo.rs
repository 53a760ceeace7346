//! Cosigned checkpoints a verifier has already verified, by their exact signed bytes
//! ([`CheckpointMemo`]; issue 12 §7): a mail reader proves each sender's binding, and a sender
//! each recipient's prekey, in the checkpoint its domain serves at the time, and a batch of them
//! is mostly proven in the same one. Its log signature and cosignatures are checked once.
//!
//! Why reusing a verification is sound: a note's verification depends only on its bytes, the
//! trust it is checked against, and the latest cosignature time that counts
//! (`min(deadline, now + max_skew)`, see `WitnessPolicy::verify_cosigned_by`). A note that met
//! the quorum under one limit meets it under any later limit (more cosignatures count, none
//! fewer). So a memoized result is used only for the same bytes (SHA-256 of the note), an equal
//! [`LogTrust`], and a limit no earlier than the one it was verified under; anything else —
//! another checkpoint, another trust, a clock gone backwards — is verified in full. The memo
//! holds at most [`CheckpointMemo::CAPACITY`] checkpoints, the oldest dropped first.

use std::collections::{HashMap, VecDeque};

use sha2::{Digest as _, Sha256};

use super::LogTrust;
use crate::checkpoint::CosignedCheckpoint;

/// What one memoized verification was.
#[derive(Clone, Debug)]
struct Memoized {
    trust: LogTrust,
    limit: u64,
    checkpoint: CosignedCheckpoint,
}

/// Verified cosigned checkpoints by their signed bytes (module docs). One per verifier (a
/// client session): it is a cache of this verifier's own checks, never shared with a party it
/// does not trust.
#[derive(Clone, Debug, Default)]
pub struct CheckpointMemo {
    entries: HashMap<[u8; 32], Memoized>,
    order: VecDeque<[u8; 32]>,
    hits: u64,
}

impl CheckpointMemo {
    /// Most checkpoints remembered (a few per log followed; they change every round).
    pub const CAPACITY: usize = 16;

    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many verifications the memo answered (for tests and benchmarks).
    pub fn hits(&self) -> u64 {
        self.hits
    }

    fn key(note: &[u8]) -> [u8; 32] {
        Sha256::digest(note).into()
    }

    /// The memoized verification of `note` against `trust` with cosignatures counted up to
    /// `limit`, if one holds (module docs).
    pub(super) fn get(
        &mut self,
        note: &[u8],
        trust: &LogTrust,
        limit: u64,
    ) -> Option<CosignedCheckpoint> {
        let m = self.entries.get(&Self::key(note))?;
        if &m.trust != trust || limit < m.limit {
            return None;
        }
        self.hits += 1;
        Some(m.checkpoint.clone())
    }

    /// Remembers that `note` verified against `trust` with cosignatures counted up to `limit`.
    pub(super) fn put(
        &mut self,
        note: &[u8],
        trust: &LogTrust,
        limit: u64,
        checkpoint: &CosignedCheckpoint,
    ) {
        let key = Self::key(note);
        let memoized = Memoized {
            trust: trust.clone(),
            limit,
            checkpoint: checkpoint.clone(),
        };
        if self.entries.insert(key, memoized).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }
}
