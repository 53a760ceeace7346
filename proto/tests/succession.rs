//! The one succession rule (`herald_proto::succession`): every refusal it makes, named, and the
//! split views it proves — at every older size, powers of two included — as transferable proofs
//! that an arbiter checks offline from their bytes.

use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::equivocation::{Equivocation, Evidence};
use herald_proto::inclusion::LogTrust;
use herald_proto::inclusion::VerifiedInclusion;
use herald_proto::merkle::{Hash, LogHasher as _, ProofError};
use herald_proto::succession::{
    Plan, Succession, SuccessionError, plan, succession, succession_with_prefix,
};
use herald_proto::testkit::MemoryLog;
use proptest::prelude::*;

const NONE: &[Hash] = &[];

/// A log of `n` entries (`entry <i>`), key seed 1.
fn honest(n: u64) -> MemoryLog {
    let mut log = MemoryLog::new("alpha.test", 1);
    for i in 0..n {
        log.append(format!("entry {i}").as_bytes());
    }
    log
}

/// The same log (same key) whose entry `at` was rewritten, grown to `n`.
fn forked(at: u64, n: u64) -> MemoryLog {
    let mut log = MemoryLog::new("alpha.test", 1);
    for i in 0..n {
        if i == at {
            log.append(b"rewritten");
        } else {
            log.append(format!("entry {i}").as_bytes());
        }
    }
    log
}

fn trust() -> LogTrust {
    honest(0).unwitnessed()
}

/// The verified inclusion of leaf `index` in `log`'s tree of `size`.
fn prefix(log: &MemoryLog, index: u64, size: u64) -> VerifiedInclusion {
    let checkpoint = log.checkpoint_at(size);
    let leaf = log.h.hash_leaf(&log.leaves[index as usize]);
    trust()
        .verify_inclusion(&checkpoint, &leaf, &log.inclusion(index, size))
        .unwrap()
}

/// The proof carried by a split view, re-read from its bytes and verified offline.
fn offline(e: &Equivocation) -> Equivocation {
    let back = Equivocation::decode(&e.encode()).unwrap();
    let verified = back.verify().unwrap();
    assert_eq!(verified.origin(), "alpha.test/herald");
    back
}

#[test]
fn a_growing_log_succeeds_and_the_same_tree_is_the_same() {
    let log = honest(10);
    let (three, ten) = (log.checkpoint_at(3), log.checkpoint_at(10));
    let t = trust();
    assert_eq!(
        plan(&t, Some(&three), &ten),
        Ok(Plan::NeedsProof {
            size1: 3,
            size2: 10
        })
    );
    assert_eq!(
        succession(&t, Some(&three), &ten, &log.consistency(3, 10)),
        Ok(Succession::Extends)
    );
    assert_eq!(succession(&t, Some(&ten), &ten, NONE), Ok(Succession::Same));
    assert_eq!(succession(&t, None, &three, NONE), Ok(Succession::Extends));
    // Every tree extends the empty one.
    let empty = log.checkpoint_at(0);
    assert_eq!(plan(&t, Some(&empty), &ten), Ok(Plan::Unproven));
    assert_eq!(
        succession(&t, Some(&empty), &ten, NONE),
        Ok(Succession::Extends)
    );
}

#[test]
fn attack_a_rollback_is_refused() {
    let log = honest(6);
    let (five, six) = (log.checkpoint_at(5), log.checkpoint_at(6));
    assert!(matches!(
        succession(&trust(), Some(&six), &five, NONE),
        Err(SuccessionError::Rollback { held, next }) if held == six && next == five
    ));
}

#[test]
fn attack_a_same_size_fork_is_a_split_view_of_form_one() {
    let (a, b) = (honest(6).checkpoint_at(6), forked(5, 6).checkpoint_at(6));
    let err = succession(&trust(), Some(&a), &b, NONE).unwrap_err();
    let e = offline(err.equivocation().expect("a split view"));
    assert_eq!(e.evidence(), &Evidence::SameSize);
}

#[test]
fn attack_a_fork_is_a_split_view_of_form_two() {
    let (log, fork) = (honest(5), forked(1, 9));
    let err = succession(
        &trust(),
        Some(&log.checkpoint_at(5)),
        &fork.checkpoint_at(9),
        &fork.consistency(5, 9),
    )
    .unwrap_err();
    let e = offline(err.equivocation().expect("a split view"));
    assert!(matches!(
        e.evidence(),
        Evidence::Consistency {
            alternative_root: None,
            ..
        }
    ));
}

#[test]
fn attack_a_garbage_proof_accuses_nobody() {
    let log = honest(9);
    let (five, nine) = (log.checkpoint_at(5), log.checkpoint_at(9));
    let mut garbage = log.consistency(5, 9);
    garbage[0][0] ^= 1;
    let err = succession(&trust(), Some(&five), &nine, &garbage).unwrap_err();
    assert!(
        matches!(
            err,
            SuccessionError::BadProof {
                undecided: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.equivocation(), None);
    // One hash too many, a hash of the wrong length: the same.
    let mut long = log.consistency(5, 9);
    long.push([0; 32]);
    assert!(matches!(
        succession(&trust(), Some(&five), &nine, &long),
        Err(SuccessionError::BadProof {
            error: ProofError::WrongProofLength { .. },
            ..
        })
    ));
    let short: Vec<Vec<u8>> = log
        .consistency(5, 9)
        .iter()
        .map(|h| h[..31].to_vec())
        .collect();
    assert!(matches!(
        succession(&trust(), Some(&five), &nine, &short),
        Err(SuccessionError::BadProof { .. })
    ));
}

#[test]
fn a_proof_where_none_is_needed_is_refused() {
    let log = honest(4);
    let four = log.checkpoint_at(4);
    let stray = [[0u8; 32]];
    for held in [None, Some(&four), Some(&log.checkpoint_at(0))] {
        assert_eq!(
            succession(&trust(), held, &four, &stray),
            Err(SuccessionError::UnexpectedProof { len: 1 })
        );
    }
}

#[test]
fn attack_an_empty_tree_with_another_root_is_refused() {
    let log = honest(0);
    let bogus = herald_proto::checkpoint::Checkpoint {
        origin: "alpha.test/herald".into(),
        size: 0,
        root: [7; 32],
    }
    .sign(&log.signer)
    .unwrap()
    .to_string();
    let bogus = VerifiedCheckpoint::verify(bogus.as_bytes(), &log.signer.verifier()).unwrap();
    for (held, next) in [(None, &bogus), (Some(&bogus), &honest(3).checkpoint_at(3))] {
        assert!(matches!(
            succession(&trust(), held, next, NONE),
            Err(SuccessionError::EmptyTreeRoot { checkpoint }) if checkpoint == bogus
        ));
    }
}

#[test]
fn a_checkpoint_of_another_log_key_is_refused() {
    let stranger = MemoryLog::new("alpha.test", 2);
    let theirs = stranger.checkpoint_at(0);
    assert!(matches!(
        succession(&trust(), None, &theirs, NONE),
        Err(SuccessionError::ForeignCheckpoint { .. })
    ));
}

/// DESIGN §2 and `docs/decisions.md` (Witnessing): a fork whose older size is a power of two is
/// proved with one inclusion proof. For each older size the log signed `m` leaves of one history
/// and then a larger tree of another: the succession rule, given the log's own consistency proof
/// (and, where it asks, the audit path of leaf `m` in the larger tree), returns a split view
/// whose bytes verify offline.
#[test]
fn attack_a_fork_at_every_older_size_is_proved_offline() {
    for m in [1u64, 2, 4, 8, 16, 1024, 1000] {
        let n = 2 * m + 3;
        let (log, fork) = (honest(m), forked(m - 1, n));
        let (older, newer) = (log.checkpoint_at(m), fork.checkpoint_at(n));
        let t = trust();
        let first = succession(&t, Some(&older), &newer, &fork.consistency(m, n)).unwrap_err();
        let split = match first.wants_prefix() {
            None => first,
            Some((index, size)) => {
                assert!(m.is_power_of_two(), "size {m}: {first:?}");
                assert_eq!((index, size), (m, n));
                let p = prefix(&fork, index, size);
                succession_with_prefix(&t, Some(&older), &newer, &fork.consistency(m, n), &p)
                    .unwrap_err()
            }
        };
        let e = offline(
            split
                .equivocation()
                .unwrap_or_else(|| panic!("size {m}: {split:?}")),
        );
        let Evidence::Consistency {
            alternative_root, ..
        } = e.evidence()
        else {
            panic!("size {m}: {e:?}")
        };
        assert_eq!(alternative_root.is_some(), m.is_power_of_two(), "size {m}");
    }
}

/// A log that answers the consistency request with garbage at a power-of-two size does not
/// escape: the audit path alone carries the proof.
#[test]
fn attack_a_forked_log_serving_garbage_at_a_power_of_two_is_still_proved() {
    let m = 8;
    let (log, fork) = (honest(m), forked(3, 21));
    let (older, newer) = (log.checkpoint_at(m), fork.checkpoint_at(21));
    let garbage = vec![[9u8; 32]; fork.consistency(m, 21).len()];
    let t = trust();
    let first = succession(&t, Some(&older), &newer, &garbage).unwrap_err();
    assert_eq!(first.wants_prefix(), Some((m, 21)));
    let split = succession_with_prefix(&t, Some(&older), &newer, &garbage, &prefix(&fork, m, 21))
        .unwrap_err();
    offline(split.equivocation().expect("a split view"));
}

#[test]
fn attack_an_honest_log_with_a_garbage_proof_at_a_power_of_two_accuses_nobody() {
    let log = honest(20);
    let (older, newer) = (log.checkpoint_at(8), log.checkpoint_at(20));
    let mut garbage = log.consistency(8, 20);
    garbage[0][0] ^= 1;
    let t = trust();
    let first = succession(&t, Some(&older), &newer, &garbage).unwrap_err();
    assert_eq!(first.wants_prefix(), Some((8, 20)));
    let decided = succession_with_prefix(&t, Some(&older), &newer, &garbage, &prefix(&log, 8, 20))
        .unwrap_err();
    assert!(
        matches!(
            decided,
            SuccessionError::BadProof {
                undecided: false,
                ..
            }
        ),
        "{decided:?}"
    );
    // The audit path of another leaf, or in another tree, decides nothing.
    for wrong in [prefix(&log, 7, 20), prefix(&log, 8, 19)] {
        assert!(matches!(
            succession_with_prefix(&t, Some(&older), &newer, &garbage, &wrong),
            Err(SuccessionError::WrongPrefix { .. })
        ));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// An honest log always succeeds; a log forked below the held size never does, and always
    /// yields a transferable split view (with the prefix where the rule asks for it).
    #[test]
    fn honest_logs_succeed_and_forks_are_always_proved(
        n1 in 1u64..70,
        grow in 0u64..70,
        at in any::<prop::sample::Index>(),
    ) {
        let n2 = n1 + grow;
        let log = honest(n2);
        let (older, newer) = (log.checkpoint_at(n1), log.checkpoint_at(n2));
        let t = trust();
        let proof = if n1 == n2 { Vec::new() } else { log.consistency(n1, n2) };
        let honest_answer = succession(&t, Some(&older), &newer, &proof);
        prop_assert!(honest_answer.is_ok());

        let fork = forked(at.index(n1 as usize) as u64, n2);
        let other = fork.checkpoint_at(n2);
        let proof = if n1 == n2 { Vec::new() } else { fork.consistency(n1, n2) };
        let err = succession(&t, Some(&older), &other, &proof).unwrap_err();
        let split = match err.wants_prefix() {
            None => err,
            Some((index, size)) => succession_with_prefix(
                &t, Some(&older), &other, &proof, &prefix(&fork, index, size),
            ).unwrap_err(),
        };
        let e = split.equivocation().expect("a fork is always a split view");
        prop_assert!(Equivocation::decode(&e.encode()).unwrap().verify().is_ok());
    }

    /// Proofs of the right length but made up never accuse an honest log.
    #[test]
    fn made_up_proofs_never_accuse_an_honest_log(
        n1 in 1u64..70,
        grow in 1u64..70,
        pool in prop::collection::vec(any::<[u8; 32]>(), 1..8),
    ) {
        let n2 = n1 + grow;
        let log = honest(n2);
        let (older, newer) = (log.checkpoint_at(n1), log.checkpoint_at(n2));
        let len = log.consistency(n1, n2).len();
        let made_up: Vec<Hash> = (0..len).map(|i| pool[i % pool.len()]).collect();
        let t = trust();
        if let Err(err) = succession(&t, Some(&older), &newer, &made_up) {
            prop_assert!(err.equivocation().is_none());
            if let Some((index, size)) = err.wants_prefix() {
                let again = succession_with_prefix(
                    &t, Some(&older), &newer, &made_up, &prefix(&log, index, size),
                );
                prop_assert!(again.unwrap_err().equivocation().is_none());
            }
        }
    }
}
