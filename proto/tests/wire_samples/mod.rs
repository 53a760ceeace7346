//! Valid sample messages of every kind, shared by the `wire_*` tests: each field holds a distinct,
//! recognisable value of the length the schema asks for, so a test that breaks one field knows
//! every other one is fine.

#![allow(dead_code)] // Each test file uses a different subset.

use herald_proto::wire::pb::{self, add_checkpoint_response, equivocation, log_entry};

pub(crate) const NOTE: &[u8] =
    b"alpha.test/herald\n4\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n\
\xe2\x80\x94 alpha.test/herald AAAAAA==\n";

pub(crate) fn bytes(fill: u8, len: usize) -> Vec<u8> {
    vec![fill; len]
}

pub(crate) fn hashes(count: usize) -> Vec<Vec<u8>> {
    (0..count).map(|i| bytes(i as u8, 32)).collect()
}

/// [`hashes`] as a proof message holds them (`bytes::Bytes`, proto/build.rs).
pub(crate) fn proof_hashes<T: From<Vec<u8>>>(count: usize) -> Vec<T> {
    hashes(count).into_iter().map(T::from).collect()
}

pub(crate) fn key_publication() -> pb::KeyPublication {
    pb::KeyPublication {
        req_hash: bytes(1, 32),
        ciphertext_hash: bytes(2, 32),
        ephemeral_key: bytes(3, 32),
        wrapped_key: bytes(4, 32),
        author: "alice@alpha.test".into(),
        author_key: bytes(5, 32),
        created: 1_760_000_000,
        signature: bytes(6, 64),
        // The named shape (no commitments); the sealed one is `sealed_key_publication`.
        ..Default::default()
    }
}

/// A sealed key publication: commitments, no author in clear.
pub(crate) fn sealed_key_publication() -> pb::KeyPublication {
    pb::KeyPublication {
        author: String::new(),
        author_key: Vec::new(),
        author_commitment: bytes(10, 32),
        recipient_commitment: bytes(11, 32),
        ..key_publication()
    }
}

pub(crate) fn identity_binding() -> pb::IdentityBinding {
    pb::IdentityBinding {
        account: "bob@beta.test".into(),
        identity_key: bytes(7, 32),
        signed_prekey: bytes(8, 32),
        signed_prekey_signature: bytes(9, 64),
        valid_from: 1_760_000_001,
        gateway_signature: bytes(10, 64),
    }
}

pub(crate) fn identity_revocation() -> pb::IdentityRevocation {
    pb::IdentityRevocation {
        account: "bob@beta.test".into(),
        identity_key: bytes(7, 32),
        revoked_at: 1_760_000_002,
        gateway_signature: bytes(11, 64),
    }
}

pub(crate) fn evidence() -> pb::Evidence {
    pb::Evidence {
        kind: pb::EvidenceKind::Rejection as i32,
        msg_id: bytes(12, 16),
        sender_commitment: bytes(13, 32),
        recipient_commitment: bytes(14, 32),
        time: 1_760_000_003,
        reason: "content filter: attachment type .exe".into(),
        gateway_signature: bytes(15, 64),
    }
}

pub(crate) fn witnessed_checkpoint() -> pb::WitnessedCheckpoint {
    pb::WitnessedCheckpoint {
        origin: "alpha.test/herald".into(),
        checkpoint: NOTE.to_vec(),
        seen_at: 1_760_000_004,
    }
}

pub(crate) fn notarization() -> pb::Notarization {
    pb::Notarization {
        digest: bytes(19, 32),
        media_type: "message/rfc822".into(),
        label: "contract draft 3".into(),
        author_key: bytes(20, 32),
        created: 1_760_000_005,
        signature: bytes(21, 64),
    }
}

pub(crate) fn entry(kind: log_entry::Kind) -> pb::LogEntry {
    pb::LogEntry { kind: Some(kind) }
}

/// One valid `LogEntry` of every kind.
pub(crate) fn entries() -> Vec<pb::LogEntry> {
    vec![
        entry(log_entry::Kind::KeyPublication(key_publication())),
        entry(log_entry::Kind::IdentityBinding(identity_binding())),
        entry(log_entry::Kind::IdentityRevocation(identity_revocation())),
        entry(log_entry::Kind::Evidence(evidence())),
        entry(log_entry::Kind::WitnessedCheckpoint(witnessed_checkpoint())),
        entry(log_entry::Kind::Notarization(notarization())),
        entry(log_entry::Kind::BatchNotarization(batch_notarization())),
    ]
}

/// Item 5 of a batch of 13 (its path has 4 hashes).
pub(crate) fn batch_notarization() -> pb::BatchNotarization {
    pb::BatchNotarization {
        digest: bytes(22, 32),
        media_type: "application/pdf".into(),
        label: "invoice 5".into(),
        author_key: bytes(23, 32),
        created: 1_760_000_006,
        batch_size: 13,
        batch_index: 5,
        batch_path: hashes(4),
        signature: bytes(24, 64),
    }
}

pub(crate) fn signed_checkpoint() -> pb::SignedCheckpoint {
    pb::SignedCheckpoint {
        note: NOTE.to_vec(),
    }
}

pub(crate) fn inclusion_proof() -> pb::InclusionProof {
    pb::InclusionProof {
        leaf_index: 5,
        tree_size: 13,
        hashes: proof_hashes(4),
    }
}

pub(crate) fn consistency_proof() -> pb::ConsistencyProof {
    pb::ConsistencyProof {
        size1: 5,
        size2: 13,
        hashes: proof_hashes(5),
    }
}

pub(crate) fn add_checkpoint_request() -> pb::AddCheckpointRequest {
    pb::AddCheckpointRequest {
        old_size: 3,
        consistency_proof: hashes(3),
        checkpoint: NOTE.to_vec(),
    }
}

pub(crate) fn cosigned_response() -> pb::AddCheckpointResponse {
    pb::AddCheckpointResponse {
        result: Some(add_checkpoint_response::Result::Cosignature(
            "\u{2014} beta.test/witness AAAAAAAAAAAAAAAA\n".into(),
        )),
    }
}

pub(crate) fn refusal(
    reason: pb::witness_refusal::Reason,
    held_size: u64,
) -> pb::AddCheckpointResponse {
    pb::AddCheckpointResponse {
        result: Some(add_checkpoint_response::Result::Refusal(
            pb::WitnessRefusal {
                reason: reason as i32,
                held_size,
            },
        )),
    }
}

pub(crate) fn equivocation(evidence: equivocation::Evidence) -> pb::Equivocation {
    pb::Equivocation {
        log_key: "alpha.test/herald+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k".into(),
        hash_algorithm: pb::HashAlgorithm::Blake3 as i32,
        checkpoint_a: NOTE.to_vec(),
        checkpoint_b: NOTE.to_vec(),
        evidence: Some(evidence),
    }
}

/// One valid `Equivocation` of every form.
pub(crate) fn equivocations() -> Vec<pb::Equivocation> {
    vec![
        equivocation(equivocation::Evidence::SameSize(pb::SameSize {})),
        equivocation(equivocation::Evidence::Consistency(
            pb::ConsistencyEvidence {
                proof: hashes(6),
                alternative_root1: Vec::new(),
            },
        )),
        equivocation(equivocation::Evidence::Consistency(
            pb::ConsistencyEvidence {
                proof: hashes(2),
                alternative_root1: bytes(16, 32),
            },
        )),
        equivocation(equivocation::Evidence::Inclusion(pb::InclusionEvidence {
            index: 7,
            leaf_hash_a: bytes(17, 32),
            proof_a: hashes(3),
            leaf_hash_b: bytes(18, 32),
            proof_b: hashes(3),
        })),
    ]
}
