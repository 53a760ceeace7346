//! Checkpoints, cosignatures and witness policies from outside: round trips, malformed bodies,
//! and every attack on the cosigning quorum (DESIGN §2 "Witnessing and gossip").

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use herald_proto::checkpoint::{
    Checkpoint, CheckpointError, Cosignature, PolicyError, VerifiedCheckpoint, WitnessPolicy,
    WitnessSigner, cosigned_message,
};
use herald_proto::note::{NoteError, NoteSigner};
use proptest::prelude::*;

const ORIGIN: &str = "alpha.test/herald";
const NOW: u64 = 1_750_000_000;
const SKEW: u64 = 60;

fn log() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).unwrap()
}

fn witness(i: u8) -> WitnessSigner {
    WitnessSigner::new(
        &format!("w{i}.test/herald"),
        SigningKey::from_bytes(&[i + 10; 32]),
    )
    .unwrap()
}

fn checkpoint(size: u64) -> Checkpoint {
    Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: [size as u8 ^ 0x5a; 32],
    }
}

fn verified(size: u64) -> VerifiedCheckpoint {
    let note = checkpoint(size).sign(&log()).unwrap().to_string();
    VerifiedCheckpoint::verify(note.as_bytes(), &log().verifier()).unwrap()
}

/// The log's checkpoint of `size` with each witness's cosignature at its timestamp merged in.
fn cosigned(size: u64, cosigners: &[(u8, u64)]) -> String {
    let mut cp = verified(size);
    for &(w, t) in cosigners {
        let w = witness(w);
        let c = w.cosign(&cp, t).unwrap();
        cp = cp.with_cosignature(&w.verifier(), &c).unwrap();
    }
    cp.note()
}

/// Witnesses 1..=n, quorum q.
fn policy(n: u8, q: usize) -> WitnessPolicy {
    let ws = (1..=n).map(|i| witness(i).verifier()).collect();
    WitnessPolicy::new(log().verifier(), ws, q).unwrap()
}

#[test]
fn checkpoint_note_has_the_c2sp_shape() {
    let note = checkpoint(20852163).sign(&log()).unwrap().to_string();
    let (body, sigs) = note.split_once("\n\n").unwrap();
    assert_eq!(
        body,
        format!(
            "{ORIGIN}\n20852163\n{}",
            BASE64.encode(checkpoint(20852163).root)
        )
    );
    assert!(sigs.starts_with(&format!("\u{2014} {ORIGIN} ")));
    assert!(sigs.ends_with('\n') && sigs.lines().count() == 1);
}

#[test]
fn checkpoint_with_bad_root_length_is_rejected() {
    let l = log();
    for root in [
        BASE64.encode([0u8; 31]),
        BASE64.encode([0u8; 33]),
        String::new(),
    ] {
        let note = l
            .sign(&format!("{ORIGIN}\n1\n{root}\n"))
            .unwrap()
            .to_string();
        assert_eq!(
            VerifiedCheckpoint::verify(note.as_bytes(), &l.verifier()),
            Err(CheckpointError::BadRoot)
        );
    }
}

#[test]
fn checkpoint_with_bad_size_is_rejected() {
    let l = log();
    let root = BASE64.encode([0u8; 32]);
    for size in ["007", "-1", "+1", "1e3", "18446744073709551616", ""] {
        let note = l
            .sign(&format!("{ORIGIN}\n{size}\n{root}\n"))
            .unwrap()
            .to_string();
        assert_eq!(
            VerifiedCheckpoint::verify(note.as_bytes(), &l.verifier()),
            Err(CheckpointError::BadSize),
            "{size:?}"
        );
    }
}

#[test]
fn checkpoint_with_trailing_garbage_is_rejected() {
    let l = log();
    let body = checkpoint(3).body();
    // An extension line, even signed by the log, is refused.
    let ext = l.sign(&format!("{body}extension\n")).unwrap().to_string();
    assert_eq!(
        VerifiedCheckpoint::verify(ext.as_bytes(), &l.verifier()),
        Err(CheckpointError::ExtensionLines)
    );
    // Bytes after the last signature line.
    let note = checkpoint(3).sign(&l).unwrap().to_string();
    for tail in ["x", "garbage\n", "\n"] {
        let with_tail = format!("{note}{tail}");
        assert!(
            matches!(
                VerifiedCheckpoint::verify(with_tail.as_bytes(), &l.verifier()),
                Err(CheckpointError::Note(_))
            ),
            "{tail:?}"
        );
    }
}

#[test]
fn cosignature_round_trip() {
    let cp = verified(42);
    let w = witness(1);
    let c = w.cosign(&cp, NOW).unwrap();
    // What a witness sends back is one line; the log parses, checks and merges it.
    let received = Cosignature::parse(&c.to_line()).unwrap();
    assert_eq!(received.timestamp(), NOW);
    w.verifier().verify(&cp, &received).unwrap();
    let merged = cp.with_cosignature(&w.verifier(), &received).unwrap();
    // Readers that only know the log key still accept the cosigned note.
    VerifiedCheckpoint::verify(merged.note().as_bytes(), &log().verifier()).unwrap();
    assert_eq!(merged.cosignatures(), vec![received.clone()]);
    // The signed message is the spec's.
    assert_eq!(
        cosigned_message(cp.body(), NOW),
        format!("cosignature/v1\ntime {NOW}\n{}", cp.body()).into_bytes()
    );
    let cc = policy(1, 1)
        .verify(merged.note().as_bytes(), NOW, SKEW)
        .unwrap();
    assert_eq!(cc.checkpoint().size(), 42);
    assert_eq!(cc.cosignatures().len(), 1);
    assert_eq!(cc.cosignatures()[0].name(), "w1.test/herald");
    assert_eq!(cc.cosignatures()[0].timestamp(), NOW);
    assert_eq!(cc.cosignatures()[0].witness(), 0);
    assert_eq!(cc.quorum_time(), NOW);
}

#[test]
fn quorum_of_distinct_witnesses_is_accepted() {
    let note = cosigned(7, &[(1, NOW - 3), (2, NOW - 2), (3, NOW - 1)]);
    let cc = policy(3, 3).verify(note.as_bytes(), NOW, SKEW).unwrap();
    let names: Vec<&str> = cc.cosignatures().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["w1.test/herald", "w2.test/herald", "w3.test/herald"]
    );
    assert_eq!(cc.quorum_time(), NOW - 1);
}

#[test]
fn attack_below_quorum_is_rejected() {
    let note = cosigned(7, &[(1, NOW), (2, NOW)]);
    assert_eq!(
        policy(3, 3).verify(note.as_bytes(), NOW, SKEW),
        Err(PolicyError::BelowQuorum {
            counted: 2,
            too_late: 0,
            quorum: 3
        })
    );
    // A bare log-signed checkpoint is not cosigned at all.
    let bare = verified(7).note();
    assert!(matches!(
        policy(3, 1).verify(bare.as_bytes(), NOW, SKEW),
        Err(PolicyError::BelowQuorum { counted: 0, .. })
    ));
}

#[test]
fn attack_unknown_witness_does_not_count() {
    // Witnesses 4 and 5 are valid cosigners, but not in the policy's set.
    let note = cosigned(7, &[(1, NOW), (4, NOW), (5, NOW)]);
    assert_eq!(
        policy(3, 2).verify(note.as_bytes(), NOW, SKEW),
        Err(PolicyError::BelowQuorum {
            counted: 1,
            too_late: 0,
            quorum: 2
        })
    );
}

#[test]
fn attack_same_witness_counted_twice_is_rejected() {
    let cp = verified(7);
    let w = witness(1);
    let once = cp
        .with_cosignature(&w.verifier(), &w.cosign(&cp, NOW).unwrap())
        .unwrap()
        .note();
    // The identical line again.
    let line = w.cosign(&cp, NOW).unwrap().to_line();
    let identical = format!("{once}{line}");
    // A second, equally valid cosignature by the same witness at another time.
    let other_time = format!("{once}{}", w.cosign(&cp, NOW - 5).unwrap().to_line());
    for note in [identical, other_time] {
        assert!(matches!(
            policy(3, 2).verify(note.as_bytes(), NOW, SKEW),
            Err(PolicyError::Checkpoint(CheckpointError::Note(
                NoteError::DuplicateSignature { .. }
            )))
        ));
    }
}

#[test]
fn attack_cosignature_over_a_different_body_is_rejected() {
    // Witness 2 cosigned size 8; its line is grafted onto the checkpoint of size 7.
    let other = verified(8);
    let stolen = witness(2).cosign(&other, NOW).unwrap().to_line();
    let note = format!("{}{stolen}", cosigned(7, &[(1, NOW)]));
    assert!(matches!(
        policy(2, 2).verify(note.as_bytes(), NOW, SKEW),
        Err(PolicyError::Checkpoint(CheckpointError::Note(
            NoteError::InvalidSignature { .. }
        )))
    ));
    // The log refuses to merge it, too.
    assert!(
        verified(7)
            .with_cosignature(
                &witness(2).verifier(),
                &Cosignature::parse(&stolen).unwrap()
            )
            .is_err()
    );
}

#[test]
fn attack_future_timestamp_does_not_count() {
    let note = cosigned(7, &[(1, NOW), (2, NOW + SKEW + 1)]);
    assert_eq!(
        policy(2, 2).verify(note.as_bytes(), NOW, SKEW),
        Err(PolicyError::BelowQuorum {
            counted: 1,
            too_late: 1,
            quorum: 2
        })
    );
    // Within the allowed clock skew it counts.
    let note = cosigned(7, &[(1, NOW), (2, NOW + SKEW)]);
    policy(2, 2).verify(note.as_bytes(), NOW, SKEW).unwrap();
}

#[test]
fn arbiter_deadline_and_future_are_checked_in_one_call() {
    // T + δ = NOW - 100: cosignatures after it do not count, even if honest.
    let deadline = NOW - 100;
    let note = cosigned(7, &[(1, deadline - 10), (2, deadline), (3, deadline + 1)]);
    let p = policy(3, 2);
    let cc = p
        .verify_cosigned_by(note.as_bytes(), deadline, NOW, SKEW)
        .unwrap();
    assert_eq!(cc.cosignatures().len(), 2);
    assert!(cc.cosignatures().iter().all(|c| c.timestamp() <= deadline));
    assert_eq!(
        policy(3, 3).verify_cosigned_by(note.as_bytes(), deadline, NOW, SKEW),
        Err(PolicyError::BelowQuorum {
            counted: 2,
            too_late: 1,
            quorum: 3
        })
    );
    // A deadline in the future does not let future-dated cosignatures through.
    let future = cosigned(7, &[(1, NOW + 1000), (2, NOW)]);
    assert!(matches!(
        policy(2, 2).verify_cosigned_by(future.as_bytes(), NOW + 5000, NOW, SKEW),
        Err(PolicyError::BelowQuorum { too_late: 1, .. })
    ));
}

#[test]
fn attack_log_signature_by_wrong_key_is_rejected() {
    // An impostor signs the checkpoint under the log's name, and real witnesses cosign it.
    let impostor = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[66; 32])).unwrap();
    let note = checkpoint(7).sign(&impostor).unwrap().to_string();
    let mut cp = VerifiedCheckpoint::verify(note.as_bytes(), &impostor.verifier()).unwrap();
    for i in 1..=3 {
        let w = witness(i);
        cp = cp
            .with_cosignature(&w.verifier(), &w.cosign(&cp, NOW).unwrap())
            .unwrap();
    }
    assert_eq!(
        policy(3, 3).verify(cp.note().as_bytes(), NOW, SKEW),
        Err(PolicyError::Checkpoint(CheckpointError::Note(
            NoteError::NoVerifiedSignature
        )))
    );
    assert!(VerifiedCheckpoint::verify(note.as_bytes(), &log().verifier()).is_err());
}

#[test]
fn attack_tampered_body_is_rejected() {
    let note = cosigned(7, &[(1, NOW), (2, NOW)]);
    let root = BASE64.encode(checkpoint(7).root);
    let other_root = BASE64.encode([0u8; 32]);
    for tampered in [
        note.replacen("\n7\n", "\n8\n", 1),
        note.replacen(&root, &other_root, 1),
        note.replacen(ORIGIN, "alphb.test/herald", 1),
    ] {
        assert_ne!(tampered, note);
        assert!(matches!(
            policy(2, 1).verify(tampered.as_bytes(), NOW, SKEW),
            Err(PolicyError::Checkpoint(_))
        ));
    }
}

#[test]
fn witness_cosignature_alone_does_not_make_a_checkpoint() {
    // Strip the log's line: only witnesses vouch, which is not a checkpoint of this log.
    let note = cosigned(7, &[(1, NOW), (2, NOW)]);
    let (body, sigs) = note.split_once("\n\n").unwrap();
    let witness_lines: String = sigs.lines().skip(1).map(|l| format!("{l}\n")).collect();
    let stripped = format!("{body}\n\n{witness_lines}");
    assert_eq!(
        policy(2, 1).verify(stripped.as_bytes(), NOW, SKEW),
        Err(PolicyError::Checkpoint(CheckpointError::Note(
            NoteError::NoVerifiedSignature
        )))
    );
}

fn origin_strategy() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.-]{0,30}/herald"
}

proptest! {
    #[test]
    fn parse_of_sign_is_identity(
        origin in origin_strategy(),
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        seed in any::<[u8; 32]>(),
    ) {
        let key = NoteSigner::new(&origin, SigningKey::from_bytes(&seed)).unwrap();
        let c = Checkpoint { origin, size, root };
        let note = c.sign(&key).unwrap().to_string();
        let v = VerifiedCheckpoint::verify(note.as_bytes(), &key.verifier()).unwrap();
        prop_assert_eq!(v.checkpoint(), &c);
        prop_assert_eq!(v.note(), note);
    }

    #[test]
    fn checkpoint_parser_never_panics(text in "[ -~\n]{0,200}") {
        let _ = Checkpoint::parse_body(&text);
        let _ = VerifiedCheckpoint::verify(text.as_bytes(), &log().verifier());
        let _ = policy(2, 1).verify(text.as_bytes(), NOW, SKEW);
    }
}
