//! `inclusion::CheckpointMemo` (issue 12 §7): a verified cosigned checkpoint is not verified
//! again for the same bytes, trust and a later limit — and anything else is: other bytes (a new
//! checkpoint, a forged signature), another trust, a clock gone back. Bounded.

use herald_proto::inclusion::{CheckpointMemo, InclusionError};
use herald_proto::testkit::{MemoryLog, SKEW};

const NOW: u64 = 1_000_000;

/// A log with a few entries, and its current checkpoint cosigned by witnesses 1 and 2 at `t`.
fn log_with(entries: u8) -> MemoryLog {
    let mut log = MemoryLog::new("memo.test", 7);
    for i in 0..entries {
        log.append(&[i; 40]);
    }
    log
}

#[test]
fn the_same_note_is_verified_once() {
    let log = log_with(5);
    let trust = log.trust(2);
    let note = log.cosigned(&[(1, NOW), (2, NOW)]);
    let leaf = log.included(3, &note);
    let mut memo = CheckpointMemo::new();
    let first = trust
        .verify_included_memo(&leaf, u64::MAX, NOW, SKEW, &mut memo)
        .unwrap();
    assert_eq!(memo.hits(), 0);
    // Another leaf of the same checkpoint, later: from memory, and the same result as in full.
    let other = log.included(1, &note);
    let second = trust
        .verify_included_memo(&other, u64::MAX, NOW + 5, SKEW, &mut memo)
        .unwrap();
    assert_eq!(memo.hits(), 1);
    assert_eq!(
        second,
        trust
            .verify_included(&other, u64::MAX, NOW + 5, SKEW)
            .unwrap()
    );
    assert_eq!(
        first.inclusion().checkpoint(),
        second.inclusion().checkpoint()
    );
}

#[test]
fn attack_a_forged_or_new_checkpoint_is_verified_in_full() {
    let mut log = log_with(5);
    let trust = log.trust(2);
    let note = log.cosigned(&[(1, NOW), (2, NOW)]);
    let mut memo = CheckpointMemo::new();
    trust
        .verify_included_memo(&log.included(2, &note), u64::MAX, NOW, SKEW, &mut memo)
        .unwrap();
    // The same tree head with one signature byte changed: other bytes, checked, refused.
    let mut forged = log.included(2, &note);
    let at = forged.checkpoint.len() - 3;
    forged.checkpoint[at] ^= 1;
    assert!(matches!(
        trust.verify_included_memo(&forged, u64::MAX, NOW, SKEW, &mut memo),
        Err(InclusionError::Checkpoint(_) | InclusionError::Cosigned(_))
    ));
    // A new checkpoint cosigned by one witness only: below the quorum, refused.
    log.append(b"one more");
    let thin = log.cosigned(&[(1, NOW)]);
    assert!(matches!(
        trust.verify_included_memo(&log.included(5, &thin), u64::MAX, NOW, SKEW, &mut memo),
        Err(InclusionError::Cosigned(_))
    ));
    assert_eq!(memo.hits(), 0);
}

#[test]
fn another_trust_or_an_earlier_clock_is_verified_in_full() {
    let log = log_with(4);
    let note = log.cosigned(&[(1, NOW), (2, NOW)]);
    let leaf = log.included(0, &note);
    let mut memo = CheckpointMemo::new();
    log.trust(2)
        .verify_included_memo(&leaf, u64::MAX, NOW, SKEW, &mut memo)
        .unwrap();
    // A verifier requiring three cosignatures does not take the two-of-three verification.
    assert!(
        log.trust(3)
            .verify_included_memo(&leaf, u64::MAX, NOW, SKEW, &mut memo)
            .is_err()
    );
    // A clock so far back that the cosignatures are in its future: they do not count.
    assert!(
        log.trust(2)
            .verify_included_memo(&leaf, u64::MAX, NOW - SKEW - 1, SKEW, &mut memo)
            .is_err()
    );
    // Nor before a deadline earlier than the cosignatures.
    assert!(
        log.trust(2)
            .verify_included_memo(&leaf, NOW - 1, NOW, SKEW, &mut memo)
            .is_err()
    );
    assert_eq!(memo.hits(), 0);
}

#[test]
fn the_memo_is_bounded_and_forgets_the_oldest() {
    let mut log = log_with(1);
    let trust = log.trust(2);
    let mut memo = CheckpointMemo::new();
    let mut leaves = Vec::new();
    for i in 0..=CheckpointMemo::CAPACITY {
        log.append(&[0xa0, i as u8]);
        let note = log.cosigned(&[(1, NOW), (2, NOW)]);
        let leaf = log.included(0, &note);
        trust
            .verify_included_memo(&leaf, u64::MAX, NOW, SKEW, &mut memo)
            .unwrap();
        leaves.push(leaf);
    }
    assert_eq!(memo.hits(), 0);
    // The newest is remembered, the oldest was dropped (verified again, in full).
    trust
        .verify_included_memo(
            &leaves[CheckpointMemo::CAPACITY],
            u64::MAX,
            NOW,
            SKEW,
            &mut memo,
        )
        .unwrap();
    assert_eq!(memo.hits(), 1);
    trust
        .verify_included_memo(&leaves[0], u64::MAX, NOW, SKEW, &mut memo)
        .unwrap();
    assert_eq!(memo.hits(), 1);
}
