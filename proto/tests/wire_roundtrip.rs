//! Every message of the wire schema survives encode → `decode_valid` unchanged, and the largest
//! valid message of each kind fits its limit (so the limits never refuse a valid message).

mod wire_samples;

use herald_proto::wire::pb::{self, equivocation, witness_refusal::Reason};
use herald_proto::wire::{
    MAX_ACCOUNT_BYTES, MAX_ADD_CHECKPOINT_REQUEST_BYTES, MAX_ADD_CHECKPOINT_RESPONSE_BYTES,
    MAX_CHECKPOINT_NOTE_BYTES, MAX_CONSISTENCY_PROOF_BYTES, MAX_CONSISTENCY_PROOF_HASHES,
    MAX_COSIGNATURE_LINE_BYTES, MAX_EQUIVOCATION_BYTES, MAX_INCLUSION_PROOF_BYTES,
    MAX_INCLUSION_PROOF_HASHES, MAX_LABEL_BYTES, MAX_LOG_ENTRY_BYTES, MAX_MEDIA_TYPE_BYTES,
    MAX_MSG_ID_BYTES, MAX_NOTARIZATION_BATCH, MAX_ORIGIN_BYTES, MAX_RANGE_PROOF_BYTES,
    MAX_RANGE_PROOF_HASHES, MAX_REASON_BYTES, MAX_SIGNED_CHECKPOINT_BYTES, MAX_VERIFIER_KEY_BYTES,
    Validate, decode_valid,
};
use prost::Message;
use wire_samples::*;

fn round_trip<M: Validate + PartialEq + std::fmt::Debug>(message: &M) {
    assert_eq!(
        message.validate(),
        Ok(()),
        "sample must be valid: {message:?}"
    );
    let bytes = message.encode_to_vec();
    assert!(bytes.len() <= M::MAX_ENCODED_LEN);
    assert_eq!(decode_valid::<M>(&bytes).as_ref(), Ok(message));
}

/// Encodes the largest valid `message` and checks that its limit accepts it.
fn fits<M: Validate + PartialEq + std::fmt::Debug>(message: &M, limit: usize) {
    assert_eq!(M::MAX_ENCODED_LEN, limit);
    let bytes = message.encode_to_vec();
    assert!(
        bytes.len() <= limit,
        "largest valid message is {} bytes, limit {limit}",
        bytes.len()
    );
    assert_eq!(decode_valid::<M>(&bytes).as_ref(), Ok(message));
}

#[test]
fn every_log_entry_kind_round_trips() {
    for entry in entries() {
        round_trip(&entry);
    }
}

#[test]
fn checkpoint_and_proof_messages_round_trip() {
    round_trip(&signed_checkpoint());
    round_trip(&inclusion_proof());
    round_trip(&consistency_proof());
    // Empty proofs are valid messages (a proof for a tree of one leaf, or between equal sizes).
    round_trip(&pb::InclusionProof {
        leaf_index: 0,
        tree_size: 1,
        hashes: Vec::new(),
    });
}

#[test]
fn witness_messages_round_trip() {
    round_trip(&add_checkpoint_request());
    round_trip(&pb::AddCheckpointRequest {
        old_size: 0,
        consistency_proof: Vec::new(),
        checkpoint: NOTE.to_vec(),
    });
    round_trip(&cosigned_response());
    for reason in [
        Reason::UnknownOrigin,
        Reason::BadSignature,
        Reason::OldSizeTooLarge,
        Reason::Conflict,
        Reason::BadProof,
        Reason::MalformedRequest,
        Reason::UnregisteredPeer,
        Reason::DistrustedOrigin,
        Reason::Unavailable,
    ] {
        round_trip(&refusal(reason, 0));
    }
    // CONFLICT carries the size the witness holds, which the log retries from.
    let conflict = refusal(Reason::Conflict, 1 << 40);
    round_trip(&conflict);
}

#[test]
fn every_equivocation_form_round_trips() {
    for e in equivocations() {
        round_trip(&e);
    }
}

#[test]
fn largest_log_entries_fit_their_limit() {
    let largest_witnessed = entry(pb::log_entry::Kind::WitnessedCheckpoint(
        pb::WitnessedCheckpoint {
            origin: "o".repeat(MAX_ORIGIN_BYTES),
            checkpoint: bytes(b'n', MAX_CHECKPOINT_NOTE_BYTES),
            seen_at: u64::MAX,
        },
    ));
    fits(&largest_witnessed, MAX_LOG_ENTRY_BYTES);
    let largest_evidence = entry(pb::log_entry::Kind::Evidence(pb::Evidence {
        msg_id: bytes(1, MAX_MSG_ID_BYTES),
        time: u64::MAX,
        reason: "r".repeat(MAX_REASON_BYTES),
        ..evidence()
    }));
    fits(&largest_evidence, MAX_LOG_ENTRY_BYTES);
    let largest_publication = entry(pb::log_entry::Kind::KeyPublication(pb::KeyPublication {
        author: "a".repeat(MAX_ACCOUNT_BYTES),
        created: u64::MAX,
        ..key_publication()
    }));
    fits(&largest_publication, MAX_LOG_ENTRY_BYTES);
    let largest_batch_item = entry(pb::log_entry::Kind::BatchNotarization(
        pb::BatchNotarization {
            media_type: "m".repeat(MAX_MEDIA_TYPE_BYTES),
            label: "l".repeat(MAX_LABEL_BYTES),
            created: u64::MAX,
            batch_size: MAX_NOTARIZATION_BATCH,
            batch_index: 0,
            batch_path: hashes(12),
            ..batch_notarization()
        },
    ));
    fits(&largest_batch_item, MAX_LOG_ENTRY_BYTES);
}

#[test]
fn largest_checkpoint_and_proofs_fit_their_limits() {
    fits(
        &pb::SignedCheckpoint {
            note: bytes(b'n', MAX_CHECKPOINT_NOTE_BYTES),
        },
        MAX_SIGNED_CHECKPOINT_BYTES,
    );
    fits(
        &pb::InclusionProof {
            leaf_index: u64::MAX - 1,
            tree_size: u64::MAX,
            hashes: proof_hashes(MAX_INCLUSION_PROOF_HASHES),
        },
        MAX_INCLUSION_PROOF_BYTES,
    );
    fits(
        &pb::ConsistencyProof {
            size1: u64::MAX - 1,
            size2: u64::MAX,
            hashes: proof_hashes(MAX_CONSISTENCY_PROOF_HASHES),
        },
        MAX_CONSISTENCY_PROOF_BYTES,
    );
    // A longest range proof: 63 subtrees left of 2^63 - 1, 124 right of 2^63 + 1.
    let (begin, end, size) = ((1u64 << 63) - 1, (1u64 << 63) + 1, u64::MAX);
    let longest = herald_proto::merkle::range_proof_len(begin, end, size);
    assert_eq!(longest, 187);
    assert!(longest <= MAX_RANGE_PROOF_HASHES);
    fits(
        &pb::RangeProof {
            begin,
            end,
            tree_size: size,
            hashes: proof_hashes(longest),
        },
        MAX_RANGE_PROOF_BYTES,
    );
}

#[test]
fn largest_witness_messages_fit_their_limits() {
    fits(
        &pb::AddCheckpointRequest {
            old_size: u64::MAX,
            consistency_proof: hashes(MAX_CONSISTENCY_PROOF_HASHES),
            checkpoint: bytes(b'n', MAX_CHECKPOINT_NOTE_BYTES),
        },
        MAX_ADD_CHECKPOINT_REQUEST_BYTES,
    );
    fits(
        &pb::AddCheckpointResponse {
            result: Some(pb::add_checkpoint_response::Result::Cosignature(bytes(
                b'c',
                MAX_COSIGNATURE_LINE_BYTES,
            ))),
        },
        MAX_ADD_CHECKPOINT_RESPONSE_BYTES,
    );
    fits(
        &refusal(Reason::Conflict, u64::MAX),
        MAX_ADD_CHECKPOINT_RESPONSE_BYTES,
    );
}

#[test]
fn largest_equivocations_fit_their_limit() {
    let largest = |evidence| pb::Equivocation {
        log_key: "k".repeat(MAX_VERIFIER_KEY_BYTES),
        hash_algorithm: pb::HashAlgorithm::Sha256 as i32,
        checkpoint_a: bytes(b'a', MAX_CHECKPOINT_NOTE_BYTES),
        checkpoint_b: bytes(b'b', MAX_CHECKPOINT_NOTE_BYTES),
        evidence: Some(evidence),
    };
    fits(
        &largest(equivocation::Evidence::Inclusion(pb::InclusionEvidence {
            index: u64::MAX,
            leaf_hash_a: bytes(1, 32),
            proof_a: hashes(MAX_INCLUSION_PROOF_HASHES),
            leaf_hash_b: bytes(2, 32),
            proof_b: hashes(MAX_INCLUSION_PROOF_HASHES),
        })),
        MAX_EQUIVOCATION_BYTES,
    );
    fits(
        &largest(equivocation::Evidence::Consistency(
            pb::ConsistencyEvidence {
                proof: hashes(MAX_CONSISTENCY_PROOF_HASHES),
                alternative_root1: bytes(3, 32),
            },
        )),
        MAX_EQUIVOCATION_BYTES,
    );
}

#[test]
fn leaf_bytes_are_stable_for_hashing() {
    // A leaf is hashed as the bytes submitted; decoding and re-encoding a valid entry must give
    // the same bytes, or a node that re-encodes would compute another leaf hash.
    for e in entries() {
        let bytes = e.encode_to_vec();
        let again = decode_valid::<pb::LogEntry>(&bytes).map(|m| m.encode_to_vec());
        assert_eq!(again, Ok(bytes));
    }
}

#[test]
fn proof_bounds_are_the_true_maxima_for_64_bit_trees() {
    use herald_proto::merkle::{consistency_proof_len, inclusion_proof_len};
    // Inclusion: ceil(log2 n) hashes, 64 for any n above 2^63.
    assert_eq!(inclusion_proof_len(0, u64::MAX), MAX_INCLUSION_PROOF_HASHES);
    assert_eq!(
        inclusion_proof_len(2, (1 << 63) + 1),
        MAX_INCLUSION_PROOF_HASHES
    );
    // Consistency: ceil(log2 n) + 1, reached from 3 to 2^63 + 1.
    assert_eq!(
        consistency_proof_len(3, (1 << 63) + 1),
        MAX_CONSISTENCY_PROOF_HASHES
    );
}
