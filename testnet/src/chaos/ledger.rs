//! What the clients of a chaos run saw: every acknowledgement, every distinct checkpoint, every
//! letter's outcome, and the broken promises noticed on the way. The checks at the end
//! ([`super::audit`]) hold the logs as they are then against this record.
//!
//! Owned by the run; the client tasks write to it through an `Arc`. One mutex, held only for
//! the time of an insert (never across an await). Memory stays small on long runs: an ack is
//! its index, leaf hash and tree size (the leaf hash stands for the bytes: the entry read back
//! must hash to it), and checkpoints are kept once per distinct (size, root); of their signed
//! notes at most [`KEPT_CHECKPOINTS`] per log, thinned evenly over the run, for the audit's
//! consistency proofs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::Hash;
use serde::Serialize;

use super::mail::MailRecord;

/// Signed checkpoints kept per log (one per size) for the audit to ask consistency proofs
/// between; when full, every other one is dropped, so those kept stay spread over the run.
pub(super) const KEPT_CHECKPOINTS: usize = 512;

/// The promises a chaos run checks, each a row of the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// No acknowledged entry lost or moved, in any log.
    Acks,
    /// Every checkpoint a client saw is a prefix of its log as re-read at the end (the
    /// equivocating log excepted), and each succeeds the one before under proto's succession
    /// rule (no client saw a log shrink, split or fail its consistency proof).
    Checkpoints,
    /// Every honest domain holds a transferable proof of the equivocation, and none holds one
    /// against an honest log.
    Equivocation,
    /// Every honest log cosigned again within the bound once every fault was undone.
    Cosigning,
    /// Nodes come back from faults: no wedge, no unexpected exit, a full disk survived.
    Recovery,
    /// A fresh client is served while a node is flooded with half-open connections.
    Flood,
    /// Certified mail: what was delivered is what was sent, and every evidence bundle a sender
    /// received convinces an arbiter.
    Letters,
    /// Mail between domains: every mail read is one that was sent, with its body, read
    /// once; every mail a sender's gateway accepted was read by the end.
    Mail,
    /// The load really ran: every log took submissions after the last fault, letters went
    /// through (a run in which nothing happened proves nothing).
    Load,
    /// No node process, or any process started for the run, is left behind.
    Processes,
}

impl Check {
    /// Every check, in the order of the summary.
    pub const ALL: [Check; 10] = [
        Check::Acks,
        Check::Checkpoints,
        Check::Equivocation,
        Check::Cosigning,
        Check::Recovery,
        Check::Flood,
        Check::Letters,
        Check::Mail,
        Check::Load,
        Check::Processes,
    ];

    /// The row's title.
    pub fn title(self) -> &'static str {
        match self {
            Check::Acks => "acknowledged entries in place",
            Check::Checkpoints => "checkpoints consistent",
            Check::Equivocation => "equivocation proved to every honest domain",
            Check::Cosigning => "honest logs cosigned again",
            Check::Recovery => "nodes recovered from faults",
            Check::Flood => "clients served during floods",
            Check::Letters => "certified mail delivered correctly",
            Check::Mail => "mail delivered once and unaltered",
            Check::Load => "load ran throughout",
            Check::Processes => "no process left",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// A broken promise, with what was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Which promise.
    pub check: Check,
    /// What was seen, with enough detail to find it (log, index, sizes, hashes, times).
    pub detail: String,
}

/// An acknowledged submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ack {
    /// Where the log said the entry is.
    pub index: u64,
    /// The entry's leaf hash, computed by the submitter from the bytes it sent.
    pub leaf_hash: Hash,
    /// The size of the checkpoint that came with the ack.
    pub tree_size: u64,
}

/// What clients saw of one log.
#[derive(Clone, Debug, Default)]
pub(super) struct LogRecord {
    /// Every acknowledgement, in arrival order.
    pub acks: Vec<Ack>,
    /// Every distinct checkpoint seen: size → root → the first client that saw it.
    pub seen: BTreeMap<u64, BTreeMap<Hash, &'static str>>,
    /// A sample of the checkpoints seen, whole (the first seen at each size kept), at most
    /// [`KEPT_CHECKPOINTS`].
    pub kept: BTreeMap<u64, VerifiedCheckpoint>,
    /// Submissions sent.
    pub submissions: u64,
    /// Submissions that failed, by kind of failure.
    pub failures: BTreeMap<String, u64>,
    /// Milliseconds into the run of the last ack.
    pub last_ack_ms: Option<u64>,
    /// The largest cosigned size a client verified.
    pub cosigned_size: Option<u64>,
}

/// What the certified-mail clients achieved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LetterRecord {
    /// Letters that finished (delivered, lapsed or failed).
    pub sent: u64,
    /// Letters the recipient opened with the plaintext sent.
    pub delivered: u64,
    /// Letters for which the sender holds an evidence bundle the arbiter judged received.
    pub evidence: u64,
    /// Letters that lapsed (no cosigned publication by T + δ): allowed under faults.
    pub lapsed: u64,
    /// Letters that failed otherwise, by reason (allowed under faults unless a violation
    /// says otherwise).
    pub failed: BTreeMap<String, u64>,
    /// Senders that stopped because their own domain's log (X) was shown to equivocate.
    pub senders_stopped: u64,
    /// Milliseconds from sealing to the recipient's plaintext, per delivered letter.
    pub delivery_ms: Vec<f64>,
}

/// The record (see the module docs).
#[derive(Debug)]
pub(super) struct Ledger {
    inner: Mutex<Inner>,
    next_tag: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    logs: Vec<LogRecord>,
    letters: LetterRecord,
    mail: MailRecord,
    violations: Vec<Violation>,
}

/// Everything recorded, taken out at the end.
#[derive(Debug, Default)]
pub(super) struct Recorded {
    /// Per log, in node order.
    pub logs: Vec<LogRecord>,
    /// Certified mail.
    pub letters: LetterRecord,
    /// Mail.
    pub mail: MailRecord,
    /// Broken promises noticed while the run went on.
    pub violations: Vec<Violation>,
}

impl Ledger {
    /// An empty record for `logs` logs; tags of new entries start at `first_tag`.
    pub(super) fn new(logs: usize, first_tag: u64) -> Self {
        Ledger {
            inner: Mutex::new(Inner {
                logs: vec![LogRecord::default(); logs],
                ..Inner::default()
            }),
            next_tag: AtomicU64::new(first_tag),
        }
    }

    /// A tag no other entry of this run has.
    pub(super) fn next_tag(&self) -> u64 {
        self.next_tag.fetch_add(1, Ordering::Relaxed)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner)
    }

    /// A submission sent to `log`.
    pub(super) fn submitted(&self, log: usize) {
        self.with(|i| {
            if let Some(r) = i.logs.get_mut(log) {
                r.submissions += 1;
            }
        });
    }

    /// An acknowledgement from `log`, already checked against the entry and the log's key.
    pub(super) fn ack(&self, log: usize, ack: Ack, checkpoint: &VerifiedCheckpoint, at_ms: u64) {
        self.with(|i| {
            if let Some(r) = i.logs.get_mut(log) {
                r.acks.push(ack);
                r.last_ack_ms = Some(at_ms);
                note_seen(r, checkpoint, "submitter");
            }
        });
    }

    /// A checkpoint of `log` a client verified (`who` names the kind of client).
    pub(super) fn seen(&self, log: usize, checkpoint: &VerifiedCheckpoint, who: &'static str) {
        self.with(|i| {
            if let Some(r) = i.logs.get_mut(log) {
                note_seen(r, checkpoint, who);
            }
        });
    }

    /// A checkpoint of `log` verified as cosigned by a quorum of its witnesses.
    pub(super) fn cosigned(&self, log: usize, checkpoint: &VerifiedCheckpoint) {
        self.with(|i| {
            if let Some(r) = i.logs.get_mut(log) {
                note_seen(r, checkpoint, "cosigned");
                r.cosigned_size = r.cosigned_size.max(Some(checkpoint.size()));
            }
        });
    }

    /// A submission to `log` that failed, by kind (`busy`, `timeout`, `transport`, ...).
    pub(super) fn failure(&self, log: usize, kind: &str) {
        self.with(|i| {
            if let Some(r) = i.logs.get_mut(log) {
                *r.failures.entry(kind.to_owned()).or_default() += 1;
            }
        });
    }

    /// A broken promise noticed now.
    pub(super) fn violation(&self, check: Check, detail: impl Into<String>) {
        let detail = detail.into();
        tracing::error!(check = %check, %detail, "chaos: violation");
        self.with(|i| i.violations.push(Violation { check, detail }));
    }

    /// Updates the certified-mail record.
    pub(super) fn letters(&self, f: impl FnOnce(&mut LetterRecord)) {
        self.with(|i| f(&mut i.letters));
    }

    /// Updates the mail record.
    pub(super) fn mail(&self, f: impl FnOnce(&mut MailRecord)) {
        self.with(|i| f(&mut i.mail));
    }

    /// Acks and failed submissions of `log` so far.
    pub(super) fn counts(&self, log: usize) -> (usize, u64) {
        self.with(|i| {
            i.logs
                .get(log)
                .map_or((0, 0), |r| (r.acks.len(), r.failures.values().sum()))
        })
    }

    /// Milliseconds into the run of `log`'s last ack.
    pub(super) fn last_ack_ms(&self, log: usize) -> Option<u64> {
        self.with(|i| i.logs.get(log).and_then(|r| r.last_ack_ms))
    }

    /// Everything recorded so far (the record is left empty).
    pub(super) fn take(&self) -> Recorded {
        self.with(|i| Recorded {
            logs: std::mem::take(&mut i.logs),
            letters: std::mem::take(&mut i.letters),
            mail: std::mem::take(&mut i.mail),
            violations: std::mem::take(&mut i.violations),
        })
    }
}

fn note_seen(record: &mut LogRecord, checkpoint: &VerifiedCheckpoint, who: &'static str) {
    record
        .seen
        .entry(checkpoint.size())
        .or_default()
        .entry(*checkpoint.root())
        .or_insert(who);
    if record.kept.contains_key(&checkpoint.size()) {
        return;
    }
    if record.kept.len() >= KEPT_CHECKPOINTS {
        let thinned: Vec<u64> = record.kept.keys().skip(1).step_by(2).copied().collect();
        for size in thinned {
            record.kept.remove(&size);
        }
    }
    record.kept.insert(checkpoint.size(), checkpoint.clone());
}

#[cfg(test)]
mod tests {
    use herald_proto::testkit::MemoryLog;

    use super::*;

    /// Checkpoints of one log at sizes 0 to 5, and one of a fork of it at size 3.
    fn checkpoints() -> (Vec<VerifiedCheckpoint>, VerifiedCheckpoint) {
        let mut log = MemoryLog::new("d0.test", 1);
        let mut fork = MemoryLog::new("d0.test", 1);
        let mut out = vec![log.checkpoint()];
        for i in 0..5u8 {
            log.append(&[i]);
            fork.append(&[if i == 2 { 9 } else { i }]);
            out.push(log.checkpoint());
        }
        (out, fork.checkpoint_at(3))
    }

    #[test]
    fn checkpoints_are_kept_once_per_size_and_root() {
        let (c, forked) = checkpoints();
        let mut r = LogRecord::default();
        note_seen(&mut r, &c[3], "watcher");
        note_seen(&mut r, &c[3], "submitter");
        note_seen(&mut r, &forked, "submitter");
        note_seen(&mut r, &c[5], "cosigned");
        assert_eq!(r.seen.len(), 2);
        assert_eq!(r.seen[&3].len(), 2, "two roots at one size are both kept");
        assert_eq!(
            r.seen[&3][c[3].root()],
            "watcher",
            "the first viewer is named"
        );
        assert_eq!(r.kept.len(), 2, "one whole checkpoint per size");
        assert_eq!(r.kept[&3], c[3], "the first seen at its size");
    }

    #[test]
    fn the_kept_checkpoints_are_bounded_and_spread() {
        let mut log = MemoryLog::new("d0.test", 1);
        let mut r = LogRecord::default();
        for i in 0..(3 * KEPT_CHECKPOINTS) {
            log.append(&i.to_le_bytes());
            note_seen(&mut r, &log.checkpoint(), "watcher");
        }
        assert!(r.kept.len() <= KEPT_CHECKPOINTS, "{}", r.kept.len());
        assert!(r.kept.len() > KEPT_CHECKPOINTS / 4, "{}", r.kept.len());
        assert_eq!(r.kept.keys().next(), Some(&1), "the first is kept");
        assert_eq!(r.kept.keys().last(), Some(&(3 * KEPT_CHECKPOINTS as u64)));
        let middle = r
            .kept
            .keys()
            .filter(|s| **s > KEPT_CHECKPOINTS as u64 && **s < 2 * KEPT_CHECKPOINTS as u64);
        assert!(middle.count() > 10, "the middle of the run keeps some");
        assert_eq!(
            r.seen.len(),
            3 * KEPT_CHECKPOINTS,
            "every size is still seen"
        );
    }

    #[test]
    fn the_record_is_taken_whole() {
        let ledger = Ledger::new(2, 100);
        assert_eq!((ledger.next_tag(), ledger.next_tag()), (100, 101));
        ledger.submitted(1);
        ledger.failure(1, "busy");
        ledger.failure(1, "busy");
        ledger.failure(7, "ignored: no such log");
        ledger.violation(Check::Acks, "lost");
        ledger.letters(|l| l.sent += 1);
        ledger.mail(|m| m.read += 1);
        let taken = ledger.take();
        assert_eq!(taken.logs.len(), 2);
        assert_eq!(taken.logs[1].submissions, 1);
        assert_eq!(taken.logs[1].failures["busy"], 2);
        assert_eq!(taken.violations.len(), 1);
        assert_eq!(taken.letters.sent, 1);
        assert_eq!(taken.mail.read, 1);
        assert!(ledger.take().violations.is_empty());
        assert_eq!(Check::ALL.len(), 10);
    }
}
