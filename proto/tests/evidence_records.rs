//! The notary evidence set (DESIGN §3.4): every kind signed by the gateway that saw it, opened
//! by the mail's parties and nobody else, and the delivery-status answer checked against the
//! log's cosigned checkpoint. Each refusal is a named attack.

use ed25519_dalek::SigningKey;
use herald_proto::entry::{
    EntryError, EvidenceRecord, MailParties, commit_address, verify_evidence, verify_evidence_leaf,
};
use herald_proto::evidence::{
    RelayedStatus, StatusError, sign_relayed_answer, unproven_relayed_answer,
    verify_relayed_status, verify_status,
};
use herald_proto::testkit::{MemoryLog, filler};
use herald_proto::wire::EVIDENCE_NONCE_BYTES;
use herald_proto::wire::pb;
use prost::Message as _;

const NOW: u64 = 1_800_000_000;
const SALT: [u8; 32] = [0x5a; 32];
const ALICE: &str = "alice@alpha.test";
const BOB: &str = "bob@beta.test";

/// Every kind DESIGN §3.4 names, with a reason where the kind must give one.
const KINDS: [(pb::EvidenceKind, &str); 7] = [
    (pb::EvidenceKind::Acceptance, ""),
    (pb::EvidenceKind::RelayAccepted, ""),
    (pb::EvidenceKind::Consignment, ""),
    (pb::EvidenceKind::Handover, "fetched by the recipient"),
    (
        pb::EvidenceKind::NonDelivery,
        "beta.test unreachable until expiry",
    ),
    (pb::EvidenceKind::Expiry, "deadline passed"),
    (
        pb::EvidenceKind::Rejection,
        "policy: attachment type application/x-msdownload",
    ),
];

fn parties() -> MailParties {
    MailParties::new(SALT, ALICE, BOB).unwrap()
}

fn evidence(entry: &pb::LogEntry) -> pb::Evidence {
    match &entry.kind {
        Some(pb::log_entry::Kind::Evidence(e)) => e.clone(),
        other => panic!("not evidence: {other:?}"),
    }
}

#[test]
fn each_evidence_kind_round_trips_signed_by_the_gateway_that_saw_it() {
    let s_a = SigningKey::from_bytes(&[1; 32]);
    let s_b = SigningKey::from_bytes(&[2; 32]);
    for (kind, reason) in KINDS {
        let record = EvidenceRecord::new(kind, b"msg-1", &parties(), NOW, reason).unwrap();
        let entry = record.sign(&s_b);
        // Through the wire and back, byte for byte as a log would store it.
        let bytes = entry.encode_to_vec();
        let back = verify_evidence_leaf(&bytes, &s_b.verifying_key(), b"msg-1").unwrap();
        assert_eq!(back, record, "{kind:?}");
        assert!(parties().open(&back), "{kind:?}");
        // Signed by S_B: it is not S_A's record.
        assert_eq!(
            verify_evidence(&evidence(&entry), &s_a.verifying_key()),
            Err(EntryError::BadSignature),
            "{kind:?}"
        );
    }
}

#[test]
fn a_gateway_cannot_write_a_record_it_could_not_defend() {
    let p = parties();
    for kind in [
        pb::EvidenceKind::NonDelivery,
        pb::EvidenceKind::Expiry,
        pb::EvidenceKind::Rejection,
    ] {
        assert!(matches!(
            EvidenceRecord::new(kind, b"m", &p, NOW, "  "),
            Err(EntryError::MissingReason(_))
        ));
    }
    assert!(EvidenceRecord::new(pb::EvidenceKind::Unspecified, b"m", &p, NOW, "").is_err());
    assert!(EvidenceRecord::new(pb::EvidenceKind::Acceptance, b"", &p, NOW, "").is_err());
    assert!(EvidenceRecord::new(pb::EvidenceKind::Acceptance, &[1; 65], &p, NOW, "").is_err());
    let long = "x".repeat(1025);
    assert!(EvidenceRecord::new(pb::EvidenceKind::Rejection, b"m", &p, NOW, &long).is_err());
    assert!(MailParties::new(SALT, "", BOB).is_err());
    assert!(MailParties::new(SALT, ALICE, &"b".repeat(321)).is_err());
}

/// One way to alter a logged record.
type Edit = fn(&mut pb::Evidence);

#[test]
fn attack_forged_or_altered_record_is_refused() {
    let gateway = SigningKey::from_bytes(&[2; 32]);
    let record = EvidenceRecord::new(
        pb::EvidenceKind::Rejection,
        b"msg-1",
        &parties(),
        NOW,
        "virus: EICAR",
    )
    .unwrap();
    let good = evidence(&record.sign(&gateway));
    let edits: [(&str, Edit); 7] = [
        ("kind", |e| e.kind = pb::EvidenceKind::Handover as i32),
        ("msg_id", |e| e.msg_id = b"msg-2".to_vec()),
        ("sender", |e| e.sender_commitment[0] ^= 1),
        ("recipient", |e| e.recipient_commitment[0] ^= 1),
        ("time", |e| e.time += 1),
        ("reason", |e| e.reason = "rate limit".into()),
        ("signature", |e| e.gateway_signature[0] ^= 1),
    ];
    for (what, edit) in edits {
        let mut altered = good.clone();
        edit(&mut altered);
        assert_eq!(
            verify_evidence(&altered, &gateway.verifying_key()),
            Err(EntryError::BadSignature),
            "altered {what}"
        );
    }
    // A record signed by someone else (a forger's key) for the same content.
    let forged = evidence(&record.sign(&SigningKey::from_bytes(&[66; 32])));
    assert_eq!(
        verify_evidence(&forged, &gateway.verifying_key()),
        Err(EntryError::BadSignature)
    );
    // A rejection whose reason was emptied and re-signed by the gateway itself is still refused:
    // no honest gateway writes one.
    let mut silent = record.clone();
    silent.reason.clear();
    assert!(matches!(
        verify_evidence(&evidence(&silent.sign(&gateway)), &gateway.verifying_key()),
        Err(EntryError::MissingReason(_))
    ));
}

#[test]
fn a_party_opens_the_commitments_and_nobody_else_can() {
    let record =
        EvidenceRecord::new(pb::EvidenceKind::Acceptance, b"m", &parties(), NOW, "").unwrap();
    // A party, with the mail's salt: the record is about alice → bob, in that order; the case
    // of an address does not matter.
    assert!(parties().open(&record));
    assert!(
        MailParties::new(SALT, "Alice@Alpha.test", BOB)
            .unwrap()
            .open(&record)
    );
    assert!(!MailParties::new(SALT, BOB, ALICE).unwrap().open(&record));
    assert!(
        !MailParties::new(SALT, ALICE, "carol@beta.test")
            .unwrap()
            .open(&record)
    );
    // Someone who guesses the addresses but lacks the salt learns nothing.
    assert!(!MailParties::new([0; 32], ALICE, BOB).unwrap().open(&record));
    assert_ne!(record.sender_commitment, commit_address(&[0; 32], ALICE));
    // The record's bytes never hold an address.
    let bytes = record
        .sign(&SigningKey::from_bytes(&[2; 32]))
        .encode_to_vec();
    for address in [ALICE, BOB, "alpha.test", "beta.test"] {
        assert!(
            !bytes
                .windows(address.len())
                .any(|w| w == address.as_bytes()),
            "{address} in clear"
        );
    }
}

/// S_B's log with two fillers, then ACCEPTANCE-like records of "msg-1" and one of "msg-2".
struct World {
    log: MemoryLog,
    indexes: Vec<u64>,
    other: u64,
}

fn world() -> World {
    let mut log = MemoryLog::new("beta.test", 9);
    log.append(&filler(1));
    log.append(&filler(2));
    let mut indexes = Vec::new();
    for (kind, reason) in &KINDS[1..4] {
        let record = EvidenceRecord::new(*kind, b"msg-1", &parties(), NOW, reason).unwrap();
        indexes.push(log.append(&record.sign(&log.key).encode_to_vec()));
    }
    let other = EvidenceRecord::new(pb::EvidenceKind::Consignment, b"msg-2", &parties(), NOW, "")
        .unwrap()
        .sign(&log.key)
        .encode_to_vec();
    let other = log.append(&other);
    World {
        log,
        indexes,
        other,
    }
}

fn answer(w: &World, indexes: &[u64]) -> pb::EvidenceAnswer {
    let note = w.log.cosigned(&[(1, NOW), (2, NOW)]);
    let records = indexes
        .iter()
        .map(|&i| {
            let leaf = w.log.included(i, &note);
            pb::LoggedRecord {
                entry: leaf.entry,
                proof: leaf.proof,
            }
        })
        .collect();
    pb::EvidenceAnswer {
        checkpoint: note,
        records,
        pending: 0,
        gateway_signature: Vec::new(),
    }
}

#[test]
fn a_status_answer_proves_each_record_in_the_cosigned_checkpoint() {
    let w = world();
    let status = verify_status(&w.log.trust(2), b"msg-1", &answer(&w, &w.indexes), NOW).unwrap();
    assert_eq!(status.records.len(), 3);
    assert_eq!(
        status.records.iter().map(|r| r.index).collect::<Vec<_>>(),
        w.indexes
    );
    assert_eq!(
        status
            .records
            .iter()
            .map(|r| r.record.kind)
            .collect::<Vec<_>>(),
        vec![
            pb::EvidenceKind::RelayAccepted,
            pb::EvidenceKind::Consignment,
            pb::EvidenceKind::Handover
        ]
    );
    assert_eq!(status.checkpoint.checkpoint().size(), w.log.size());
    assert!(status.records.iter().all(|r| parties().open(&r.record)));
}

#[test]
fn attack_status_answer_with_a_bad_proof_is_refused() {
    let w = world();
    let trust = w.log.trust(2);
    // A flipped hash of the audit path.
    let mut bad = answer(&w, &w.indexes);
    let path = &mut bad.records[1].proof.as_mut().unwrap().hashes;
    path[0] = herald_proto::testkit::flipped(&path[0]);
    assert!(matches!(
        verify_status(&trust, b"msg-1", &bad, NOW),
        Err(StatusError::NotIncluded { position: 1, .. })
    ));
    // A record moved to another index.
    let mut moved = answer(&w, &w.indexes);
    moved.records[0].proof.as_mut().unwrap().leaf_index = 0;
    assert!(matches!(
        verify_status(&trust, b"msg-1", &moved, NOW),
        Err(StatusError::NotIncluded { position: 0, .. })
    ));
    // A record altered after logging: its leaf hash is no longer on the path.
    let mut altered = answer(&w, &w.indexes);
    let last = altered.records[2].entry.len() - 1;
    altered.records[2].entry[last] ^= 1;
    assert!(matches!(
        verify_status(&trust, b"msg-1", &altered, NOW),
        Err(StatusError::NotIncluded { position: 2, .. })
    ));
    // The checkpoint cosigned by one witness where two are required.
    let mut thin = answer(&w, &w.indexes);
    thin.checkpoint = w.log.cosigned(&[(1, NOW)]);
    assert!(matches!(
        verify_status(&trust, b"msg-1", &thin, NOW),
        Err(StatusError::NotCosigned(_))
    ));
    // The same record twice, to look like more evidence.
    let twice = answer(&w, &[w.indexes[0], w.indexes[0]]);
    assert_eq!(
        verify_status(&trust, b"msg-1", &twice, NOW),
        Err(StatusError::OutOfOrder { position: 1 })
    );
    let mut none = answer(&w, &w.indexes);
    none.records.clear();
    assert_eq!(
        verify_status(&trust, b"msg-1", &none, NOW),
        Err(StatusError::RecordCount(0))
    );
    let mut unproved = answer(&w, &w.indexes);
    unproved.records[0].proof = None;
    assert_eq!(
        verify_status(&trust, b"msg-1", &unproved, NOW),
        Err(StatusError::MissingProof { position: 0 })
    );
}

#[test]
fn attack_status_answer_with_a_record_for_another_msg_id_is_refused() {
    let w = world();
    let trust = w.log.trust(2);
    let mixed = answer(&w, &[w.indexes[0], w.other]);
    assert_eq!(
        verify_status(&trust, b"msg-1", &mixed, NOW),
        Err(StatusError::BadRecord {
            position: 1,
            error: EntryError::OtherMail
        })
    );
    // A leaf that is not evidence at all (a filler), properly included.
    let filler = answer(&w, &[0]);
    assert_eq!(
        verify_status(&trust, b"msg-1", &filler, NOW),
        Err(StatusError::BadRecord {
            position: 0,
            error: EntryError::NotEvidence
        })
    );
    // A record of msg-1 signed by another gateway's key, even if this log holds it, is not a
    // record of this log's gateway.
    let foreign = EvidenceRecord::new(pb::EvidenceKind::Handover, b"msg-1", &parties(), NOW, "x")
        .unwrap()
        .sign(&SigningKey::from_bytes(&[12; 32]))
        .encode_to_vec();
    let mut w2 = world();
    let i = w2.log.append(&foreign);
    let forged = answer(&w2, &[i]);
    assert_eq!(
        verify_status(&w2.log.trust(2), b"msg-1", &forged, NOW),
        Err(StatusError::BadRecord {
            position: 0,
            error: EntryError::BadSignature
        })
    );
    assert_eq!(
        verify_status(&trust, b"", &answer(&w, &w.indexes), NOW),
        Err(StatusError::BadMsgId(0))
    );
}

const NONCE: [u8; EVIDENCE_NONCE_BYTES] = [7; EVIDENCE_NONCE_BYTES];

/// S_B's answer as S_B signs it for S_A to pass on to its client (`evidence::relayed`).
fn relayed(w: &World) -> pb::EvidenceAnswer {
    let mut a = answer(w, &w.indexes);
    sign_relayed_answer(&mut a, b"msg-1", &NONCE, &w.log.key);
    a
}

#[test]
fn a_passed_on_answer_signed_by_its_log_verifies_as_the_direct_one() {
    let w = world();
    let trust = w.log.trust(2);
    let passed = verify_relayed_status(&trust, b"msg-1", &NONCE, &relayed(&w), NOW).unwrap();
    let direct = verify_status(&trust, b"msg-1", &answer(&w, &w.indexes), NOW).unwrap();
    assert_eq!(passed, RelayedStatus::Found(Box::new(direct)));
}

#[test]
fn attack_the_passing_gateway_cannot_invent_a_not_found_or_pending_answer() {
    let w = world();
    let trust = w.log.trust(2);
    let verify = |a: &pb::EvidenceAnswer, msg_id: &[u8], nonce: &[u8]| {
        verify_relayed_status(&trust, msg_id, nonce, a, NOW)
    };
    // S_B's own "nothing logged" and "not yet cosigned" verify as such.
    let not_found = unproven_relayed_answer(b"msg-1", &NONCE, 0, &w.log.key);
    let pending = unproven_relayed_answer(b"msg-1", &NONCE, 2, &w.log.key);
    assert_eq!(
        verify(&not_found, b"msg-1", &NONCE),
        Ok(RelayedStatus::NotFound)
    );
    assert_eq!(
        verify(&pending, b"msg-1", &NONCE),
        Ok(RelayedStatus::Pending { pending: 2 })
    );
    // Made by S_A: unsigned, signed by S_A's key, S_B's for another mail or another
    // challenge, S_B's pending passed off as not found, S_B's records emptied.
    let mut unsigned = not_found.clone();
    unsigned.gateway_signature.clear();
    let by_passer =
        unproven_relayed_answer(b"msg-1", &NONCE, 0, &SigningKey::from_bytes(&[42; 32]));
    let other_mail = unproven_relayed_answer(b"msg-2", &NONCE, 0, &w.log.key);
    let other_nonce = unproven_relayed_answer(b"msg-1", &[8; EVIDENCE_NONCE_BYTES], 0, &w.log.key);
    let mut hidden_pending = pending.clone();
    hidden_pending.pending = 0;
    let mut emptied = relayed(&w);
    emptied.records.clear();
    emptied.checkpoint.clear();
    emptied.pending = 0;
    for (what, bad) in [
        ("no signature", unsigned),
        ("signed by the passing gateway", by_passer),
        ("the answer about another mail", other_mail),
        ("the answer to another challenge", other_nonce),
        ("pending passed off as not found", hidden_pending),
        ("the records removed", emptied),
    ] {
        assert!(
            matches!(
                verify(&bad, b"msg-1", &NONCE),
                Err(StatusError::NotSignedByLog(_))
            ),
            "{what}"
        );
    }
    // A checkpoint beside no records proves nothing and is refused.
    let mut with_checkpoint = relayed(&w);
    with_checkpoint.records.clear();
    sign_relayed_answer(&mut with_checkpoint, b"msg-1", &NONCE, &w.log.key);
    assert_eq!(
        verify(&with_checkpoint, b"msg-1", &NONCE),
        Err(StatusError::RecordCount(0))
    );
}

#[test]
fn attack_the_passing_gateway_cannot_alter_trim_or_replay_the_peers_answer() {
    let w = world();
    let trust = w.log.trust(2);
    let good = relayed(&w);
    let verify = |a: &pb::EvidenceAnswer, nonce: &[u8]| {
        verify_relayed_status(&trust, b"msg-1", nonce, a, NOW)
    };
    let mut trimmed = good.clone();
    trimmed.records.pop();
    let mut pending = good.clone();
    pending.pending += 1;
    let mut unsigned = good.clone();
    unsigned.gateway_signature.clear();
    let mut resigned = good.clone();
    sign_relayed_answer(
        &mut resigned,
        b"msg-1",
        &NONCE,
        &SigningKey::from_bytes(&[42; 32]),
    );
    // An older answer: an earlier checkpoint, fewer records, properly signed back then.
    let mut older = answer(&w, &w.indexes[..1]);
    sign_relayed_answer(&mut older, b"msg-1", &[9; EVIDENCE_NONCE_BYTES], &w.log.key);
    for (what, bad, nonce) in [
        ("a record dropped", trimmed, NONCE),
        ("pending changed", pending, NONCE),
        ("no signature", unsigned, NONCE),
        ("signed by the passing gateway", resigned, NONCE),
        ("an older answer replayed", older, NONCE),
        (
            "the answer to another challenge",
            good.clone(),
            [8; EVIDENCE_NONCE_BYTES],
        ),
    ] {
        assert!(
            matches!(verify(&bad, &nonce), Err(StatusError::NotSignedByLog(_))),
            "{what}"
        );
    }
    assert!(matches!(
        verify_relayed_status(&trust, b"msg-2", &NONCE, &good, NOW),
        Err(StatusError::NotSignedByLog(_))
    ));
    assert_eq!(verify(&good, &[7; 16]), Err(StatusError::BadNonce(16)));
}
