//! Bad input from outside is refused with a typed error, never a panic (DESIGN §5): oversized,
//! malformed, unknown entry kinds, unset oneofs, unknown enum values, fields of the wrong length,
//! proofs with bad hashes or more hashes than any 64-bit tree needs.

mod wire_samples;

use herald_proto::wire::pb::{self, add_checkpoint_response, equivocation, log_entry};
use herald_proto::wire::{
    MAX_ADD_CHECKPOINT_REQUEST_BYTES, MAX_CHECKPOINT_NOTE_BYTES, MAX_CONSISTENCY_PROOF_HASHES,
    MAX_INCLUSION_PROOF_HASHES, MAX_LOG_ENTRY_BYTES, Validate, WireError, decode, decode_valid,
    decode_valid_bytes,
};
use prost::Message;
use wire_samples::*;

/// Encodes `message` and decodes it back through the validating path.
fn reencode<M: Validate>(message: &M) -> Result<M, WireError> {
    decode_valid::<M>(&message.encode_to_vec())
}

#[test]
fn oversized_log_entry_is_refused_before_decoding() {
    // One byte over the limit, and garbage: if it were decoded the error would be Malformed.
    let garbage = vec![0xff; MAX_LOG_ENTRY_BYTES + 1];
    assert_eq!(
        decode_valid::<pb::LogEntry>(&garbage),
        Err(WireError::TooLarge {
            len: MAX_LOG_ENTRY_BYTES + 1,
            limit: MAX_LOG_ENTRY_BYTES
        })
    );
    // A well-formed entry over the limit is refused all the same.
    let big = entry(log_entry::Kind::WitnessedCheckpoint(
        pb::WitnessedCheckpoint {
            checkpoint: vec![b'n'; MAX_LOG_ENTRY_BYTES],
            ..witnessed_checkpoint()
        },
    ))
    .encode_to_vec();
    assert!(matches!(
        decode_valid::<pb::LogEntry>(&big),
        Err(WireError::TooLarge { .. })
    ));
    // The same refusal for a frame held in a `Bytes` (how the streams decode what they read).
    assert_eq!(
        decode_valid_bytes::<pb::LogEntry>(garbage.into()),
        Err(WireError::TooLarge {
            len: MAX_LOG_ENTRY_BYTES + 1,
            limit: MAX_LOG_ENTRY_BYTES
        })
    );
}

#[test]
fn oversized_witness_request_is_refused_before_decoding() {
    let request = pb::AddCheckpointRequest {
        checkpoint: vec![b'n'; MAX_ADD_CHECKPOINT_REQUEST_BYTES],
        ..add_checkpoint_request()
    }
    .encode_to_vec();
    assert_eq!(
        decode_valid::<pb::AddCheckpointRequest>(&request),
        Err(WireError::TooLarge {
            len: request.len(),
            limit: MAX_ADD_CHECKPOINT_REQUEST_BYTES
        })
    );
}

#[test]
fn garbage_is_malformed() {
    // 0xff.. is a varint that never ends; 0x0a 0x05 announces 5 bytes that are not there;
    // field number 0 is invalid; wire type 7 does not exist.
    for garbage in [&[0xff; 12][..], &[0x0a, 0x05, 1, 2], &[0x00, 0x01], &[0x0f]] {
        let err = decode_valid::<pb::LogEntry>(garbage).unwrap_err();
        assert!(
            matches!(err, WireError::Malformed(_)),
            "{garbage:?}: {err:?}"
        );
        let err = decode_valid::<pb::AddCheckpointRequest>(garbage).unwrap_err();
        assert!(
            matches!(err, WireError::Malformed(_)),
            "{garbage:?}: {err:?}"
        );
    }
}

#[test]
fn invalid_utf8_in_a_string_field_is_malformed() {
    // KeyPublication.author (field 5, string) with the byte 0xff, inside LogEntry field 1.
    let inner = [0x2a, 0x01, 0xff];
    let bytes = [&[0x0a, inner.len() as u8][..], &inner].concat();
    assert!(matches!(
        decode::<pb::LogEntry>(&bytes, MAX_LOG_ENTRY_BYTES),
        Err(WireError::Malformed(_))
    ));
}

/// A protobuf varint.
fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

/// A protobuf field key: field number and wire type.
fn field_key(number: u64, wire_type: u64) -> Vec<u8> {
    varint((number << 3) | wire_type)
}

#[test]
fn unknown_entry_kind_is_refused() {
    // A newer kind (a length-delimited message at a number no kind uses yet): prost skips it,
    // so no kind is set.
    let newer_kind = [field_key(1000, 2), vec![0x03, b'n', b'e', b'w']].concat();
    assert_eq!(
        decode::<pb::LogEntry>(&newer_kind, MAX_LOG_ENTRY_BYTES),
        Ok(pb::LogEntry { kind: None })
    );
    assert_eq!(
        decode_valid::<pb::LogEntry>(&newer_kind),
        Err(WireError::UnknownEntryKind)
    );
    // An unknown varint field, and the largest field number protobuf allows.
    for bytes in [
        [field_key(1001, 0), vec![0x01]].concat(),
        [field_key((1 << 29) - 1, 2), vec![0x00]].concat(),
    ] {
        assert_eq!(
            decode_valid::<pb::LogEntry>(&bytes),
            Err(WireError::UnknownEntryKind)
        );
    }
    // The empty message: no kind at all.
    assert_eq!(
        decode_valid::<pb::LogEntry>(&[]),
        Err(WireError::UnknownEntryKind)
    );
}

#[test]
fn known_kind_with_unknown_fields_still_decodes() {
    // A newer writer may add fields inside a kind; an older reader keeps the kind it knows.
    // (Signing inputs are built from named fields, so such additions are not signed over by
    // this version: the leaf hash still covers the bytes as submitted.)
    let publication = [
        key_publication().encode_to_vec(),
        field_key(1000, 2),
        vec![0x01, 0x00],
    ]
    .concat();
    let bytes = [
        field_key(1, 2), // LogEntry.key_publication
        varint(publication.len() as u64),
        publication,
    ]
    .concat();
    assert_eq!(
        decode_valid::<pb::LogEntry>(&bytes),
        Ok(entry(log_entry::Kind::KeyPublication(key_publication())))
    );
}

#[test]
fn a_sealed_publication_has_both_commitments_and_no_author_in_clear() {
    assert!(
        reencode(&entry(log_entry::Kind::KeyPublication(
            sealed_key_publication()
        )))
        .is_ok()
    );
    // An author (or its key) beside the commitments would defeat them.
    let named_too = pb::KeyPublication {
        author: "alice@alpha.test".into(),
        ..sealed_key_publication()
    };
    assert!(matches!(
        reencode(&entry(log_entry::Kind::KeyPublication(named_too))),
        Err(WireError::FieldSize {
            field: "KeyPublication.author",
            ..
        })
    ));
    let keyed_too = pb::KeyPublication {
        author_key: vec![5; 32],
        ..sealed_key_publication()
    };
    assert!(reencode(&entry(log_entry::Kind::KeyPublication(keyed_too))).is_err());
    // Half sealed: one commitment only.
    let half = pb::KeyPublication {
        recipient_commitment: Vec::new(),
        ..sealed_key_publication()
    };
    assert!(matches!(
        reencode(&entry(log_entry::Kind::KeyPublication(half))),
        Err(WireError::FieldLength {
            field: "KeyPublication.recipient_commitment",
            ..
        })
    ));
}

#[test]
fn entry_fields_of_the_wrong_length_are_refused() {
    let mut publication = key_publication();
    publication.req_hash.pop();
    assert_eq!(
        reencode(&entry(log_entry::Kind::KeyPublication(publication))),
        Err(WireError::FieldLength {
            field: "KeyPublication.req_hash",
            len: 31,
            expected: 32
        })
    );
    let mut publication = key_publication();
    publication.signature.push(0);
    assert_eq!(
        reencode(&entry(log_entry::Kind::KeyPublication(publication))),
        Err(WireError::FieldLength {
            field: "KeyPublication.signature",
            len: 65,
            expected: 64
        })
    );
    let binding = pb::IdentityBinding {
        identity_key: Vec::new(),
        ..identity_binding()
    };
    assert_eq!(
        reencode(&entry(log_entry::Kind::IdentityBinding(binding))),
        Err(WireError::FieldLength {
            field: "IdentityBinding.identity_key",
            len: 0,
            expected: 32
        })
    );
    let revocation = pb::IdentityRevocation {
        account: String::new(),
        ..identity_revocation()
    };
    assert!(matches!(
        reencode(&entry(log_entry::Kind::IdentityRevocation(revocation))),
        Err(WireError::FieldSize {
            field: "IdentityRevocation.account",
            len: 0,
            ..
        })
    ));
    let witnessed = pb::WitnessedCheckpoint {
        checkpoint: vec![b'n'; MAX_CHECKPOINT_NOTE_BYTES + 1],
        ..witnessed_checkpoint()
    };
    assert!(matches!(
        reencode(&entry(log_entry::Kind::WitnessedCheckpoint(witnessed))),
        Err(WireError::FieldSize {
            field: "WitnessedCheckpoint.checkpoint",
            ..
        })
    ));
}

#[test]
fn unknown_evidence_kind_is_refused() {
    for kind in [0, 99] {
        let e = pb::Evidence { kind, ..evidence() };
        assert_eq!(
            reencode(&entry(log_entry::Kind::Evidence(e))),
            Err(WireError::UnknownEnumValue {
                field: "Evidence.kind",
                value: kind
            })
        );
    }
}

#[test]
fn proof_hash_of_31_or_33_bytes_is_refused() {
    for len in [31, 33, 0] {
        let mut proof = inclusion_proof();
        proof.hashes[2] = vec![0; len].into();
        assert_eq!(
            reencode(&proof),
            Err(WireError::ProofHashLength {
                field: "InclusionProof.hashes",
                index: 2,
                len
            })
        );
        let mut proof = consistency_proof();
        proof.hashes[0] = vec![0; len].into();
        assert_eq!(
            reencode(&proof),
            Err(WireError::ProofHashLength {
                field: "ConsistencyProof.hashes",
                index: 0,
                len
            })
        );
        let mut request = add_checkpoint_request();
        request.consistency_proof[1] = vec![0; len];
        assert_eq!(
            reencode(&request),
            Err(WireError::ProofHashLength {
                field: "AddCheckpointRequest.consistency_proof",
                index: 1,
                len
            })
        );
    }
}

#[test]
fn more_proof_hashes_than_a_64_bit_tree_needs_are_refused() {
    let proof = pb::InclusionProof {
        hashes: proof_hashes(MAX_INCLUSION_PROOF_HASHES + 1),
        ..inclusion_proof()
    };
    assert_eq!(
        reencode(&proof),
        Err(WireError::TooManyElements {
            field: "InclusionProof.hashes",
            count: 65,
            max: 64
        })
    );
    let proof = pb::ConsistencyProof {
        hashes: proof_hashes(MAX_CONSISTENCY_PROOF_HASHES + 1),
        ..consistency_proof()
    };
    assert_eq!(
        reencode(&proof),
        Err(WireError::TooManyElements {
            field: "ConsistencyProof.hashes",
            count: 66,
            max: 65
        })
    );
    let request = pb::AddCheckpointRequest {
        consistency_proof: hashes(MAX_CONSISTENCY_PROOF_HASHES + 1),
        ..add_checkpoint_request()
    };
    assert!(matches!(
        reencode(&request),
        Err(WireError::TooManyElements { count: 66, .. })
    ));
}

#[test]
fn many_empty_hashes_cannot_pass_as_a_proof() {
    // Within the byte limit a peer can pack ~2000 empty `bytes` into a proof; the count bound
    // refuses them before anything looks at the hashes.
    let mut bytes = Vec::new();
    for _ in 0..2100 {
        bytes.extend_from_slice(&[0x1a, 0x00]); // field 3, length 0
    }
    assert!(matches!(
        decode_valid::<pb::ConsistencyProof>(&bytes),
        Err(WireError::TooLarge { .. })
    ));
    bytes.truncate(2 * 1000);
    assert_eq!(
        decode_valid::<pb::ConsistencyProof>(&bytes),
        Err(WireError::TooManyElements {
            field: "ConsistencyProof.hashes",
            count: 1000,
            max: 65
        })
    );
}

#[test]
fn witness_response_without_result_or_reason_is_refused() {
    assert_eq!(
        decode_valid::<pb::AddCheckpointResponse>(&[]),
        Err(WireError::MissingField {
            field: "AddCheckpointResponse.result"
        })
    );
    let unspecified = pb::AddCheckpointResponse {
        result: Some(add_checkpoint_response::Result::Refusal(
            pb::WitnessRefusal {
                reason: 0,
                held_size: 0,
            },
        )),
    };
    assert_eq!(
        reencode(&unspecified),
        Err(WireError::UnknownEnumValue {
            field: "WitnessRefusal.reason",
            value: 0
        })
    );
    let empty_cosignature = pb::AddCheckpointResponse {
        result: Some(add_checkpoint_response::Result::Cosignature(Vec::new())),
    };
    assert!(matches!(
        reencode(&empty_cosignature),
        Err(WireError::FieldSize { len: 0, .. })
    ));
}

#[test]
fn witness_request_without_checkpoint_is_refused() {
    let request = pb::AddCheckpointRequest {
        checkpoint: Vec::new(),
        ..add_checkpoint_request()
    };
    assert!(matches!(
        reencode(&request),
        Err(WireError::FieldSize {
            field: "AddCheckpointRequest.checkpoint",
            len: 0,
            ..
        })
    ));
}

#[test]
fn malformed_equivocations_are_refused() {
    let same = equivocation::Evidence::SameSize(pb::SameSize {});
    let no_evidence = pb::Equivocation {
        evidence: None,
        ..equivocation(same.clone())
    };
    assert_eq!(
        reencode(&no_evidence),
        Err(WireError::MissingField {
            field: "Equivocation.evidence"
        })
    );
    let no_algorithm = pb::Equivocation {
        hash_algorithm: 0,
        ..equivocation(same.clone())
    };
    assert_eq!(
        reencode(&no_algorithm),
        Err(WireError::UnknownEnumValue {
            field: "Equivocation.hash_algorithm",
            value: 0
        })
    );
    let no_key = pb::Equivocation {
        log_key: String::new(),
        ..equivocation(same)
    };
    assert!(matches!(
        reencode(&no_key),
        Err(WireError::FieldSize {
            field: "Equivocation.log_key",
            ..
        })
    ));
    let short_root = equivocation(equivocation::Evidence::Consistency(
        pb::ConsistencyEvidence {
            proof: hashes(2),
            alternative_root1: vec![0; 31],
        },
    ));
    assert_eq!(
        reencode(&short_root),
        Err(WireError::FieldLength {
            field: "ConsistencyEvidence.alternative_root1",
            len: 31,
            expected: 32
        })
    );
    let long_proof = equivocation(equivocation::Evidence::Inclusion(pb::InclusionEvidence {
        index: 1,
        leaf_hash_a: vec![1; 32],
        proof_a: hashes(1),
        leaf_hash_b: vec![2; 32],
        proof_b: hashes(MAX_INCLUSION_PROOF_HASHES + 1),
    }));
    assert_eq!(
        reencode(&long_proof),
        Err(WireError::TooManyElements {
            field: "InclusionEvidence.proof_b",
            count: 65,
            max: 64
        })
    );
}
