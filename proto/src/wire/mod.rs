//! The prost wire schema (`proto/herald/v1/*.proto`, package `herald.v1`) and size-limited,
//! validated decoding.
//!
//! Everything Herald sends between processes or keeps in a file is one of the messages in [`pb`].
//! Bytes from outside are decoded in two steps, both of which return a typed [`WireError`] and
//! never panic:
//!
//! 1. [`decode`] refuses input longer than a limit **before** prost looks at it, then maps prost's
//!    errors to [`WireError::Malformed`]. The limit bounds the memory a peer can make us allocate.
//! 2. [`Validate::validate`] checks what protobuf cannot express: required `oneof`s and enums,
//!    exact lengths of hashes, keys and signatures, and the number of hashes in a proof.
//!
//! [`decode_valid`] does both with the message's own limit ([`Validate::MAX_ENCODED_LEN`]); it is
//! what network and file readers call. Encoding is prost's `Message::encode_to_vec`.
//!
//! Limits, and why:
//!
//! | message | limit | reason |
//! |---|---|---|
//! | `LogEntry` | [`MAX_LOG_ENTRY_BYTES`] = 64 KiB − 1 | the largest kind, a witnessed checkpoint, is one note plus a little |
//! | `SignedCheckpoint` | note ≤ [`MAX_CHECKPOINT_NOTE_BYTES`] = 16 KiB | a checkpoint with dozens of cosignatures is under 8 KiB |
//! | `InclusionProof` | ≤ [`MAX_INCLUSION_PROOF_HASHES`] = 64 hashes, [`MAX_INCLUSION_PROOF_BYTES`] | a tree of `n < 2^64` leaves needs at most `ceil(log2 n) ≤ 64` |
//! | `ConsistencyProof` | ≤ [`MAX_CONSISTENCY_PROOF_HASHES`] = 65 hashes, [`MAX_CONSISTENCY_PROOF_BYTES`] | at most `ceil(log2 n) + 1 ≤ 65` (e.g. 3 → 2^63 + 1) |
//! | `RangeProof` | exactly `merkle::range_proof_len` ≤ [`MAX_RANGE_PROOF_HASHES`] = 192 hashes | one subtree per set bit of `begin`, at most two per level right of `end` |
//! | `AddCheckpointRequest` | [`MAX_ADD_CHECKPOINT_REQUEST_BYTES`] = 20 KiB | one note and one consistency proof |
//! | `AddCheckpointResponse` | [`MAX_ADD_CHECKPOINT_RESPONSE_BYTES`] = 2 KiB | one cosignature line ≤ [`MAX_COSIGNATURE_LINE_BYTES`] |
//! | `Equivocation` | [`MAX_EQUIVOCATION_BYTES`] = 40 KiB | two notes and at most two inclusion proofs |
//!
//! The certified-mail, PAEP and policy messages have their own tables (`wire::certmail`,
//! `wire::paep`, `wire::policy`).
//!
//! A test encodes the largest valid message of each kind and checks it fits its limit.
//!
//! The protocol ids and gossipsub topics the messages travel under are here too
//! ([`CLIENT_PROTOCOL`], [`WITNESS_PROTOCOL`], [`CHECKPOINT_TOPIC`], [`ALERT_TOPIC`]), and the
//! client side of `/herald/client/1` that every asker runs ([`client`]: one request per call,
//! one check that an answer is the one asked for).

mod certmail;
pub mod client;
mod frame;
mod names;
mod paep;
mod policy;
mod proof;
mod validate;

pub use certmail::{
    AEAD_TAG_BYTES, MAX_ABSENCE_LEAVES, MAX_ABSENCE_PROOF_BYTES, MAX_CM_CIPHERTEXT_BYTES,
    MAX_CM_PLAINTEXT_BYTES, MAX_DIRECT_KEY_BYTES, MAX_EVIDENCE_BUNDLE_BYTES, MAX_KEY_REQUEST_BYTES,
    MAX_LOCATION_DELAY_SECS, MAX_LOCATION_WITNESSES, MAX_RECEIPT_BYTES, MAX_RECIPIENT_RECORD_BYTES,
    MAX_SEALED_MESSAGE_BYTES, MAX_SENDER_RECORD_BYTES,
};
pub use client::{
    MAIL_CHUNK_BYTES, MAX_ONE_REQUEST_CIPHERTEXT_BYTES, MAX_TRANSFER_BYTES, UPLOAD_ID_BYTES,
};
pub use client::{
    MAX_ALERTS_PER_ANSWER, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_BATCH_REFUSAL_MESSAGE_BYTES,
    MAX_CLIENT_REQUEST_BYTES, MAX_CLIENT_RESPONSE_BYTES, MAX_ENROLMENT_CODE_BYTES,
    MAX_ENTRY_PAGE_BYTES, MAX_ENTRY_PAGE_COUNT, MAX_ERROR_MESSAGE_BYTES, MAX_EVIDENCE_PER_ANSWER,
    MAX_REVOCATIONS_PER_ANSWER, MAX_STREAM_INFLIGHT, MAX_STREAM_REQUEST_BYTES,
    MAX_STREAM_RESPONSE_BYTES, MAX_TRUSTED_PEERS,
};
pub use client::{
    MAX_ATTACHMENTS, MAX_DOMAIN_BYTES, MAX_INBOX_ENTRIES, MAX_INBOX_WAIT_MS,
    MAX_MAIL_CONTENT_BYTES, MAX_OUTBOX_ENTRIES,
};
pub use frame::{Decoded, FRAME_HEADER_LEN, encode_frame, frame_body_len};
pub use names::{
    ALERT_TOPIC, CHECKPOINT_TOPIC, CLIENT_PROTOCOL, CLIENT_STREAM_PROTOCOL, WITNESS_PROTOCOL,
};
pub use paep::{
    CONFIRMATION_BYTES, MAX_ARGON2_ITERATIONS, MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_PARALLELISM,
    MAX_LOGIN_CHALLENGE_BYTES, MAX_LOGIN_CONFIRM_BYTES, MAX_LOGIN_SHARE_BYTES,
    MAX_MAIL_ENVELOPE_BYTES, MAX_MAIL_PLAINTEXT_BYTES, MAX_PASSWORD_PARAMS_BYTES,
    MAX_PASSWORD_RECORD_BYTES, MAX_PREKEY_BUNDLE_BYTES, MAX_PREKEY_STATUS_BYTES,
    MAX_PREKEY_UPLOAD_BYTES, MAX_PREKEYS_PER_UPLOAD, MAX_SESSION_FRAME_BYTES,
    MAX_SESSION_PLAINTEXT_BYTES, MAX_SESSION_RECORD_BYTES, SESSION_ID_BYTES,
};
pub use policy::{
    MAX_ADDRESS_PATTERNS, MAX_CONTENT_PATTERN_BYTES, MAX_CONTENT_RULES, MAX_MANIFEST_ENTRIES,
    MAX_MANIFEST_NAME_BYTES, MAX_MEDIA_TYPES, MAX_POLICY_RULES_BYTES, MAX_RULE_NAME_BYTES,
};
pub use proof::hash_list;
pub use validate::Validate;

/// The generated `herald.v1` messages (prost), with the schema's comments as their docs.
// The schema's comments write placeholders as `<origin>`, which rustdoc would read as HTML; and
// prost emits oneof fields and enum zero values without docs, which the schema documents where
// the oneof and the enum are declared.
#[allow(
    clippy::doc_lazy_continuation,
    clippy::doc_overindented_list_items,
    rustdoc::invalid_html_tags,
    missing_docs
)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/herald.v1.rs"));
}

/// Largest encoded [`pb::LogEntry`] (one leaf of a log): 65535 bytes, because a log stores each
/// entry behind a 2-byte length in C2SP tlog-tiles entry bundles.
pub const MAX_LOG_ENTRY_BYTES: usize = 64 * 1024 - 1;

/// Largest C2SP checkpoint note text, with all its signature and cosignature lines: the note
/// parser's own bound, so every note the parser accepts can travel and be logged.
pub const MAX_CHECKPOINT_NOTE_BYTES: usize = crate::note::MAX_NOTE_LEN;

/// Largest encoded [`pb::SignedCheckpoint`]: one note plus its field tag and length.
pub const MAX_SIGNED_CHECKPOINT_BYTES: usize = MAX_CHECKPOINT_NOTE_BYTES + 16;

/// Most hashes in an inclusion proof: the audit path of a leaf in a tree of `n < 2^64` leaves has
/// `ceil(log2 n) ≤ 64` hashes.
pub const MAX_INCLUSION_PROOF_HASHES: usize = 64;

/// Most hashes in a consistency proof: `ceil(log2 n) + 1 ≤ 65` for `n < 2^64`. The `+ 1` is the
/// start node carried when the old size is not a power of two; 65 is reached, e.g. from 3 to
/// `2^63 + 1` leaves.
pub const MAX_CONSISTENCY_PROOF_HASHES: usize = 65;

/// Largest encoded [`pb::InclusionProof`] (64 hashes take 64 × 34 bytes, two sizes ≤ 22 bytes).
pub const MAX_INCLUSION_PROOF_BYTES: usize = 4 * 1024;

/// Largest encoded [`pb::ConsistencyProof`] (65 hashes take 65 × 34 bytes, two sizes ≤ 22 bytes).
pub const MAX_CONSISTENCY_PROOF_BYTES: usize = 4 * 1024;

/// Most hashes in a range proof: the subtrees covering `[0, begin)` (one per set bit of `begin`,
/// at most 64) and those covering `[end, size)` (at most two per level below 63), so at most
/// 190 in a tree of `n < 2^64` leaves (187 are reached); about `3 log2 n` in a real log.
pub const MAX_RANGE_PROOF_HASHES: usize = 192;

/// Largest encoded [`pb::RangeProof`] (192 hashes take 192 × 34 bytes, three sizes ≤ 33 bytes).
pub const MAX_RANGE_PROOF_BYTES: usize = 8 * 1024;

/// Most items in one author's batch of notarizations ([`pb::BatchNotarization`]): one batch
/// tree of `merkle::MAX_BATCH_LEAVES`, whose audit paths have at most 12 hashes.
pub const MAX_NOTARIZATION_BATCH: u32 = crate::merkle::MAX_BATCH_LEAVES as u32;

/// Largest encoded [`pb::AddCheckpointRequest`]: a note (16 KiB) and a consistency proof (2.2 KB).
pub const MAX_ADD_CHECKPOINT_REQUEST_BYTES: usize = 20 * 1024;

/// Largest cosignature line in a [`pb::AddCheckpointResponse`]. A cosignature/v1 line is
/// `"— " ‖ name ‖ " " ‖ 104 base64 characters ‖ "\n"`, so this leaves ~900 bytes of name.
pub const MAX_COSIGNATURE_LINE_BYTES: usize = 1024;

/// Largest encoded [`pb::AddCheckpointResponse`].
pub const MAX_ADD_CHECKPOINT_RESPONSE_BYTES: usize = 2 * 1024;

/// Largest encoded [`pb::Equivocation`]: two notes (32 KiB) and two inclusion proofs (4.3 KB).
pub const MAX_EQUIVOCATION_BYTES: usize = 40 * 1024;

/// Longest account address (`KeyPublication.author`, `IdentityBinding.account`, ...): RFC 5321
/// allows 64 bytes of local part, `@` and 255 of domain.
pub const MAX_ACCOUNT_BYTES: usize = 320;

/// Longest log origin (`<domain>/herald`, the log key's name): the longest key name the note
/// module accepts (a 253-byte DNS name and a path fit).
pub const MAX_ORIGIN_BYTES: usize = crate::note::MAX_KEY_NAME_LEN;

/// Longest mail identifier (`Evidence.msg_id`).
pub const MAX_MSG_ID_BYTES: usize = 64;

/// Length of the client's challenge in a delivery-status request passed on to a peer gateway
/// (`EvidenceRequest.nonce`, `RelayEvidenceRequest.nonce`).
pub const EVIDENCE_NONCE_BYTES: usize = 32;

/// Longest free-text reason (`Evidence.reason`).
pub const MAX_REASON_BYTES: usize = 1024;

/// Longest media type (`Notarization.media_type`).
pub const MAX_MEDIA_TYPE_BYTES: usize = 128;

/// Longest free-text label (`Notarization.label`).
pub const MAX_LABEL_BYTES: usize = 1024;

/// Longest C2SP verifier key string (`Equivocation.log_key`): the note module's bound.
pub const MAX_VERIFIER_KEY_BYTES: usize = crate::note::MAX_KEY_STRING_LEN;

/// Why bytes from outside are not an acceptable message.
///
/// Every variant is the sender's fault (a peer or a file misbehaved); none is a local failure,
/// and retrying the same bytes gives the same error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input is longer than the limit for its kind; it was not decoded at all.
    #[error("message of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit it was checked against.
        limit: usize,
    },
    /// The bytes are not a protobuf encoding of the expected message (prost's reason inside).
    #[error("malformed message: {0}")]
    Malformed(#[source] prost::DecodeError),
    /// A `LogEntry` has no kind, or a kind this version does not know (prost skips unknown
    /// fields, so a newer kind decodes to none). A node never appends what it cannot check.
    #[error("log entry has no kind this version knows")]
    UnknownEntryKind,
    /// A required field (a `oneof` or a nested message) is not set.
    #[error("required field {field} is missing")]
    MissingField {
        /// The field's path in the schema, e.g. `"AddCheckpointResponse.result"`.
        field: &'static str,
    },
    /// An enum field holds `UNSPECIFIED` or a value this version does not know.
    #[error("field {field} has unknown value {value}")]
    UnknownEnumValue {
        /// The field's path in the schema.
        field: &'static str,
        /// The number received.
        value: i32,
    },
    /// A fixed-size field (hash, key, signature) has the wrong length.
    #[error("field {field} is {len} bytes, expected {expected}")]
    FieldLength {
        /// The field's path in the schema.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The only length allowed.
        expected: usize,
    },
    /// A variable-size field is shorter or longer than allowed.
    #[error("field {field} is {len} bytes, allowed {min}..={max}")]
    FieldSize {
        /// The field's path in the schema.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The smallest length allowed.
        min: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// A repeated field has more elements than its bound (e.g. a proof longer than any tree of
    /// 64-bit size needs).
    #[error("field {field} has {count} elements, at most {max} allowed")]
    TooManyElements {
        /// The field's path in the schema.
        field: &'static str,
        /// How many it has.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// A repeated field names one thing twice (e.g. two prekeys with one id in an upload).
    #[error("field {field} has a duplicate element")]
    DuplicateElement {
        /// The field's path in the schema.
        field: &'static str,
    },
    /// Fields that are each in bounds do not fit together (e.g. a batch ack's range that does not
    /// begin at its first index, refusals out of order).
    #[error("field {field}: {reason}")]
    Inconsistent {
        /// The field's path in the schema.
        field: &'static str,
        /// What does not fit.
        reason: &'static str,
    },
    /// One hash of a proof is not 32 bytes.
    #[error("hash {index} of {field} is {len} bytes, expected 32")]
    ProofHashLength {
        /// The proof's path in the schema.
        field: &'static str,
        /// The position of the hash in the proof.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// A frame ended (its sender closed the stream) before the length its header announced.
    /// A server answers it as malformed; a client reading an answer counts it as a broken
    /// stream, because a connection cut short looks the same.
    #[error("the {part} ended after {len} of {expected} bytes")]
    Truncated {
        /// `"frame header"` or `"frame body"`.
        part: &'static str,
        /// The bytes that arrived.
        len: usize,
        /// The bytes announced (or the header's length).
        expected: usize,
    },
    /// The bytes decode, but are not the message's own encoding (unknown fields, another field
    /// order, a non-minimal varint): bytes a signature over the decoded fields does not cover.
    #[error("the message is not in its canonical encoding")]
    NonCanonical,
}

/// Decodes one message of type `M` from `bytes`, refusing input longer than `limit` before
/// decoding. Checks only the protobuf encoding: callers of messages from outside use
/// [`decode_valid`], which also validates.
pub fn decode<M: prost::Message + Default>(bytes: &[u8], limit: usize) -> Result<M, WireError> {
    within(bytes.len(), limit)?;
    M::decode(bytes).map_err(WireError::Malformed)
}

/// Input of `len` bytes is refused before decoding when longer than `limit`.
fn within(len: usize, limit: usize) -> Result<(), WireError> {
    if len > limit {
        return Err(WireError::TooLarge { len, limit });
    }
    Ok(())
}

/// Decodes one message of type `M` under its own limit ([`Validate::MAX_ENCODED_LEN`]) and
/// validates it. What comes back satisfies every bound the schema documents.
pub fn decode_valid<M: Validate>(bytes: &[u8]) -> Result<M, WireError> {
    let message: M = decode(bytes, M::MAX_ENCODED_LEN)?;
    message.validate()?;
    Ok(message)
}

/// [`decode_valid`] from a frame held in a [`bytes::Bytes`]: the message's `Bytes` fields (the
/// proof hashes) are then slices of `frame`, not copies.
pub fn decode_valid_bytes<M: Validate>(frame: bytes::Bytes) -> Result<M, WireError> {
    within(frame.len(), M::MAX_ENCODED_LEN)?;
    let message = M::decode(frame).map_err(WireError::Malformed)?;
    message.validate()?;
    Ok(message)
}

/// [`decode_valid`], and the bytes must be exactly the message's encoding: what an author's
/// signature over the decoded fields covers is then all there is (protobuf decoding skips
/// unknown fields, so a leaf could otherwise carry bytes nobody signed).
pub fn decode_canonical<M: Validate>(bytes: &[u8]) -> Result<M, WireError> {
    let message: M = decode_valid(bytes)?;
    check_canonical(&message, bytes)?;
    Ok(message)
}

/// Checks that `bytes` are exactly `message`'s encoding ([`decode_canonical`]'s last step, for
/// callers that decode in their own order).
pub fn check_canonical<M: prost::Message>(message: &M, bytes: &[u8]) -> Result<(), WireError> {
    if message.encoded_len() != bytes.len() || message.encode_to_vec() != bytes {
        return Err(WireError::NonCanonical);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn limit_is_checked_before_decoding() {
        // Valid encoding, one byte over: refused on length alone.
        let note = pb::SignedCheckpoint {
            note: b"a.test/herald\n1\nAAAA\n".to_vec(),
        };
        let bytes = note.encode_to_vec();
        let err = decode::<pb::SignedCheckpoint>(&bytes, bytes.len() - 1).unwrap_err();
        assert_eq!(
            err,
            WireError::TooLarge {
                len: bytes.len(),
                limit: bytes.len() - 1
            }
        );
        assert_eq!(
            decode::<pb::SignedCheckpoint>(&bytes, bytes.len()),
            Ok(note)
        );
    }

    #[test]
    fn truncated_input_is_malformed() {
        let bytes = pb::SignedCheckpoint {
            note: vec![b'x'; 100],
        }
        .encode_to_vec();
        let err = decode::<pb::SignedCheckpoint>(&bytes[..50], 1000).unwrap_err();
        assert!(matches!(err, WireError::Malformed(_)), "{err:?}");
    }

    #[test]
    fn decode_valid_uses_the_message_limit() {
        let big = vec![0u8; MAX_LOG_ENTRY_BYTES + 1];
        assert_eq!(
            decode_valid::<pb::LogEntry>(&big),
            Err(WireError::TooLarge {
                len: MAX_LOG_ENTRY_BYTES + 1,
                limit: MAX_LOG_ENTRY_BYTES
            })
        );
    }

    #[test]
    fn canonical_decoding_refuses_bytes_nobody_signed() {
        let entry = crate::entry::Notarization {
            digest: [5; 32],
            media_type: "text/plain".into(),
            label: "l".into(),
            created: 1,
        }
        .sign(&ed25519_dalek::SigningKey::from_bytes(&[4; 32]));
        let bytes = entry.encode_to_vec();
        assert_eq!(decode_canonical::<pb::LogEntry>(&bytes), Ok(entry.clone()));
        // An unknown field (number 15, varint 1) appended: it decodes, validates, and is refused.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[15 << 3, 1]);
        assert_eq!(decode_valid::<pb::LogEntry>(&padded), Ok(entry));
        assert_eq!(
            decode_canonical::<pb::LogEntry>(&padded),
            Err(WireError::NonCanonical)
        );
    }
}
