//! The bounds the schema documents but protobuf cannot express, checked after decoding.
//!
//! prost accepts any length for `bytes`, any count for `repeated`, any number for an enum and an
//! unset `oneof`. Each top-level message implements [`Validate`], which checks every field against
//! the bound written in its `.proto` comment, so that code past [`super::decode_valid`] can rely
//! on them: hashes and keys are 32 bytes, signatures 64, proofs no longer than a 64-bit tree needs.

use super::pb::{self, add_checkpoint_response, equivocation, log_entry, witness_refusal};
use super::{
    MAX_ACCOUNT_BYTES, MAX_ADD_CHECKPOINT_REQUEST_BYTES, MAX_ADD_CHECKPOINT_RESPONSE_BYTES,
    MAX_CHECKPOINT_NOTE_BYTES, MAX_CONSISTENCY_PROOF_BYTES, MAX_CONSISTENCY_PROOF_HASHES,
    MAX_COSIGNATURE_LINE_BYTES, MAX_EQUIVOCATION_BYTES, MAX_INCLUSION_PROOF_BYTES,
    MAX_INCLUSION_PROOF_HASHES, MAX_LABEL_BYTES, MAX_LOG_ENTRY_BYTES, MAX_MEDIA_TYPE_BYTES,
    MAX_MSG_ID_BYTES, MAX_NOTARIZATION_BATCH, MAX_ORIGIN_BYTES, MAX_RANGE_PROOF_BYTES,
    MAX_RANGE_PROOF_HASHES, MAX_REASON_BYTES, MAX_SIGNED_CHECKPOINT_BYTES, MAX_VERIFIER_KEY_BYTES,
    WireError,
};
use crate::merkle::{HASH_LEN, inclusion_proof_len, range_proof_len};

/// Length of public keys (Ed25519, X25519) in the schema.
pub(super) const KEY_LEN: usize = 32;
/// Length of Ed25519 signatures in the schema.
pub(super) const SIGNATURE_LEN: usize = 64;

/// A top-level message: its encoding limit and the checks that follow decoding.
pub trait Validate: prost::Message + Default {
    /// The longest encoding accepted; [`super::decode_valid`] refuses longer input unread.
    const MAX_ENCODED_LEN: usize;

    /// Checks every field against the bound its schema comment gives.
    fn validate(&self) -> Result<(), WireError>;
}

pub(super) fn exact(field: &'static str, bytes: &[u8], expected: usize) -> Result<(), WireError> {
    if bytes.len() != expected {
        return Err(WireError::FieldLength {
            field,
            len: bytes.len(),
            expected,
        });
    }
    Ok(())
}

pub(super) fn sized(
    field: &'static str,
    len: usize,
    min: usize,
    max: usize,
) -> Result<(), WireError> {
    if len < min || len > max {
        return Err(WireError::FieldSize {
            field,
            len,
            min,
            max,
        });
    }
    Ok(())
}

/// A proof: at most `max` hashes, each exactly [`HASH_LEN`] bytes.
pub(super) fn proof<P: AsRef<[u8]>>(
    field: &'static str,
    hashes: &[P],
    max: usize,
) -> Result<(), WireError> {
    if hashes.len() > max {
        return Err(WireError::TooManyElements {
            field,
            count: hashes.len(),
            max,
        });
    }
    match hashes.iter().position(|h| h.as_ref().len() != HASH_LEN) {
        Some(index) => Err(WireError::ProofHashLength {
            field,
            index,
            len: hashes[index].as_ref().len(),
        }),
        None => Ok(()),
    }
}

/// An enum field: a value this version knows, and not `UNSPECIFIED` (always 0 in the schema).
pub(super) fn known_enum<E: TryFrom<i32>>(field: &'static str, value: i32) -> Result<E, WireError> {
    match E::try_from(value) {
        Ok(known) if value != 0 => Ok(known),
        _ => Err(WireError::UnknownEnumValue { field, value }),
    }
}

pub(super) fn note(field: &'static str, note: &[u8]) -> Result<(), WireError> {
    sized(field, note.len(), 1, MAX_CHECKPOINT_NOTE_BYTES)
}

fn account(field: &'static str, account: &str) -> Result<(), WireError> {
    sized(field, account.len(), 1, MAX_ACCOUNT_BYTES)
}

impl Validate for pb::LogEntry {
    const MAX_ENCODED_LEN: usize = MAX_LOG_ENTRY_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        match &self.kind {
            None => Err(WireError::UnknownEntryKind),
            Some(log_entry::Kind::KeyPublication(k)) => k.validate_fields(),
            Some(log_entry::Kind::IdentityBinding(b)) => b.validate_fields(),
            Some(log_entry::Kind::IdentityRevocation(r)) => r.validate_fields(),
            Some(log_entry::Kind::Evidence(e)) => e.validate_fields(),
            Some(log_entry::Kind::WitnessedCheckpoint(w)) => w.validate_fields(),
            Some(log_entry::Kind::Notarization(n)) => n.validate_fields(),
            Some(log_entry::Kind::BatchNotarization(n)) => n.validate_fields(),
        }
    }
}

impl pb::BatchNotarization {
    fn validate_fields(&self) -> Result<(), WireError> {
        exact("BatchNotarization.digest", &self.digest, HASH_LEN)?;
        sized(
            "BatchNotarization.media_type",
            self.media_type.len(),
            0,
            MAX_MEDIA_TYPE_BYTES,
        )?;
        sized(
            "BatchNotarization.label",
            self.label.len(),
            0,
            MAX_LABEL_BYTES,
        )?;
        exact("BatchNotarization.author_key", &self.author_key, KEY_LEN)?;
        sized(
            "BatchNotarization.batch_size",
            self.batch_size as usize,
            1,
            MAX_NOTARIZATION_BATCH as usize,
        )?;
        if self.batch_index >= self.batch_size {
            return Err(WireError::FieldSize {
                field: "BatchNotarization.batch_index",
                len: self.batch_index as usize,
                min: 0,
                max: self.batch_size as usize - 1,
            });
        }
        let path_len = inclusion_proof_len(u64::from(self.batch_index), u64::from(self.batch_size));
        sized(
            "BatchNotarization.batch_path",
            self.batch_path.len(),
            path_len,
            path_len,
        )?;
        proof("BatchNotarization.batch_path", &self.batch_path, path_len)?;
        exact(
            "BatchNotarization.signature",
            &self.signature,
            SIGNATURE_LEN,
        )
    }
}

impl pb::Notarization {
    fn validate_fields(&self) -> Result<(), WireError> {
        exact("Notarization.digest", &self.digest, HASH_LEN)?;
        sized(
            "Notarization.media_type",
            self.media_type.len(),
            0,
            MAX_MEDIA_TYPE_BYTES,
        )?;
        sized("Notarization.label", self.label.len(), 0, MAX_LABEL_BYTES)?;
        exact("Notarization.author_key", &self.author_key, KEY_LEN)?;
        exact("Notarization.signature", &self.signature, SIGNATURE_LEN)
    }
}

impl pb::KeyPublication {
    fn validate_fields(&self) -> Result<(), WireError> {
        exact("KeyPublication.req_hash", &self.req_hash, HASH_LEN)?;
        exact(
            "KeyPublication.ciphertext_hash",
            &self.ciphertext_hash,
            HASH_LEN,
        )?;
        exact("KeyPublication.ephemeral_key", &self.ephemeral_key, KEY_LEN)?;
        exact("KeyPublication.wrapped_key", &self.wrapped_key, KEY_LEN)?;
        if self.author_commitment.is_empty() && self.recipient_commitment.is_empty() {
            // The named shape (before the privacy fix): still valid to read.
            account("KeyPublication.author", &self.author)?;
            exact("KeyPublication.author_key", &self.author_key, KEY_LEN)?;
        } else {
            // The sealed shape: commitments, and no author in clear at all.
            exact(
                "KeyPublication.author_commitment",
                &self.author_commitment,
                HASH_LEN,
            )?;
            exact(
                "KeyPublication.recipient_commitment",
                &self.recipient_commitment,
                HASH_LEN,
            )?;
            sized("KeyPublication.author", self.author.len(), 0, 0)?;
            sized("KeyPublication.author_key", self.author_key.len(), 0, 0)?;
        }
        exact("KeyPublication.signature", &self.signature, SIGNATURE_LEN)
    }
}

impl pb::PublicationOpening {
    /// The bounds of an opening sent beside a sealed publication.
    pub(crate) fn validate_fields(&self) -> Result<(), WireError> {
        account("PublicationOpening.sender", &self.sender)?;
        account("PublicationOpening.recipient", &self.recipient)?;
        exact("PublicationOpening.salt", &self.salt, HASH_LEN)?;
        exact("PublicationOpening.author_key", &self.author_key, KEY_LEN)
    }
}

impl pb::IdentityBinding {
    fn validate_fields(&self) -> Result<(), WireError> {
        account("IdentityBinding.account", &self.account)?;
        exact("IdentityBinding.identity_key", &self.identity_key, KEY_LEN)?;
        exact(
            "IdentityBinding.signed_prekey",
            &self.signed_prekey,
            KEY_LEN,
        )?;
        exact(
            "IdentityBinding.signed_prekey_signature",
            &self.signed_prekey_signature,
            SIGNATURE_LEN,
        )?;
        exact(
            "IdentityBinding.gateway_signature",
            &self.gateway_signature,
            SIGNATURE_LEN,
        )
    }
}

impl pb::IdentityRevocation {
    fn validate_fields(&self) -> Result<(), WireError> {
        account("IdentityRevocation.account", &self.account)?;
        exact(
            "IdentityRevocation.identity_key",
            &self.identity_key,
            KEY_LEN,
        )?;
        exact(
            "IdentityRevocation.gateway_signature",
            &self.gateway_signature,
            SIGNATURE_LEN,
        )
    }
}

impl pb::Evidence {
    fn validate_fields(&self) -> Result<(), WireError> {
        known_enum::<pb::EvidenceKind>("Evidence.kind", self.kind)?;
        sized("Evidence.msg_id", self.msg_id.len(), 1, MAX_MSG_ID_BYTES)?;
        exact(
            "Evidence.sender_commitment",
            &self.sender_commitment,
            HASH_LEN,
        )?;
        exact(
            "Evidence.recipient_commitment",
            &self.recipient_commitment,
            HASH_LEN,
        )?;
        sized("Evidence.reason", self.reason.len(), 0, MAX_REASON_BYTES)?;
        exact(
            "Evidence.gateway_signature",
            &self.gateway_signature,
            SIGNATURE_LEN,
        )
    }
}

impl pb::WitnessedCheckpoint {
    fn validate_fields(&self) -> Result<(), WireError> {
        sized(
            "WitnessedCheckpoint.origin",
            self.origin.len(),
            1,
            MAX_ORIGIN_BYTES,
        )?;
        note("WitnessedCheckpoint.checkpoint", &self.checkpoint)
    }
}

impl Validate for pb::SignedCheckpoint {
    const MAX_ENCODED_LEN: usize = MAX_SIGNED_CHECKPOINT_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        note("SignedCheckpoint.note", &self.note)
    }
}

impl Validate for pb::InclusionProof {
    const MAX_ENCODED_LEN: usize = MAX_INCLUSION_PROOF_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        proof(
            "InclusionProof.hashes",
            &self.hashes,
            MAX_INCLUSION_PROOF_HASHES,
        )
    }
}

impl Validate for pb::RangeProof {
    const MAX_ENCODED_LEN: usize = MAX_RANGE_PROOF_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        if self.begin >= self.end || self.end > self.tree_size {
            return Err(WireError::Inconsistent {
                field: "RangeProof",
                reason: "its leaves are not a run inside its tree",
            });
        }
        let want = range_proof_len(self.begin, self.end, self.tree_size);
        sized("RangeProof.hashes", self.hashes.len(), want, want)?;
        proof("RangeProof.hashes", &self.hashes, MAX_RANGE_PROOF_HASHES)
    }
}

impl Validate for pb::ConsistencyProof {
    const MAX_ENCODED_LEN: usize = MAX_CONSISTENCY_PROOF_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        proof(
            "ConsistencyProof.hashes",
            &self.hashes,
            MAX_CONSISTENCY_PROOF_HASHES,
        )
    }
}

impl Validate for pb::AddCheckpointRequest {
    const MAX_ENCODED_LEN: usize = MAX_ADD_CHECKPOINT_REQUEST_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        proof(
            "AddCheckpointRequest.consistency_proof",
            &self.consistency_proof,
            MAX_CONSISTENCY_PROOF_HASHES,
        )?;
        note("AddCheckpointRequest.checkpoint", &self.checkpoint)
    }
}

impl Validate for pb::AddCheckpointResponse {
    const MAX_ENCODED_LEN: usize = MAX_ADD_CHECKPOINT_RESPONSE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        match &self.result {
            None => Err(WireError::MissingField {
                field: "AddCheckpointResponse.result",
            }),
            Some(add_checkpoint_response::Result::Cosignature(line)) => sized(
                "AddCheckpointResponse.cosignature",
                line.len(),
                1,
                MAX_COSIGNATURE_LINE_BYTES,
            ),
            Some(add_checkpoint_response::Result::Refusal(refusal)) => {
                known_enum::<witness_refusal::Reason>("WitnessRefusal.reason", refusal.reason)
                    .map(drop)
            }
        }
    }
}

impl Validate for pb::Equivocation {
    const MAX_ENCODED_LEN: usize = MAX_EQUIVOCATION_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        sized(
            "Equivocation.log_key",
            self.log_key.len(),
            1,
            MAX_VERIFIER_KEY_BYTES,
        )?;
        known_enum::<pb::HashAlgorithm>("Equivocation.hash_algorithm", self.hash_algorithm)?;
        note("Equivocation.checkpoint_a", &self.checkpoint_a)?;
        note("Equivocation.checkpoint_b", &self.checkpoint_b)?;
        match &self.evidence {
            None => Err(WireError::MissingField {
                field: "Equivocation.evidence",
            }),
            Some(equivocation::Evidence::SameSize(pb::SameSize {})) => Ok(()),
            Some(equivocation::Evidence::Consistency(c)) => {
                proof(
                    "ConsistencyEvidence.proof",
                    &c.proof,
                    MAX_CONSISTENCY_PROOF_HASHES,
                )?;
                if c.alternative_root1.is_empty() {
                    Ok(())
                } else {
                    exact(
                        "ConsistencyEvidence.alternative_root1",
                        &c.alternative_root1,
                        HASH_LEN,
                    )
                }
            }
            Some(equivocation::Evidence::Inclusion(i)) => {
                exact("InclusionEvidence.leaf_hash_a", &i.leaf_hash_a, HASH_LEN)?;
                proof(
                    "InclusionEvidence.proof_a",
                    &i.proof_a,
                    MAX_INCLUSION_PROOF_HASHES,
                )?;
                exact("InclusionEvidence.leaf_hash_b", &i.leaf_hash_b, HASH_LEN)?;
                proof(
                    "InclusionEvidence.proof_b",
                    &i.proof_b,
                    MAX_INCLUSION_PROOF_HASHES,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_and_unknown_enum_values_are_refused() {
        assert!(known_enum::<pb::EvidenceKind>("f", 1).is_ok());
        for value in [0, 8, -1, i32::MAX] {
            assert_eq!(
                known_enum::<pb::EvidenceKind>("f", value).map(drop),
                Err(WireError::UnknownEnumValue { field: "f", value })
            );
        }
    }

    #[test]
    fn proof_reports_the_first_bad_hash() {
        let hashes = vec![vec![0; 32], vec![0; 31], vec![0; 33]];
        assert_eq!(
            proof("p", &hashes, 64),
            Err(WireError::ProofHashLength {
                field: "p",
                index: 1,
                len: 31
            })
        );
    }

    #[test]
    fn proof_count_is_checked_before_hash_lengths() {
        // A long proof of bad hashes is refused by its count, without walking every hash.
        let hashes = vec![Vec::new(); 66];
        assert_eq!(
            proof("p", &hashes, 65),
            Err(WireError::TooManyElements {
                field: "p",
                count: 66,
                max: 65
            })
        );
    }

    #[test]
    fn reason_may_be_empty_but_msg_id_may_not() {
        let mut e = pb::Evidence {
            kind: pb::EvidenceKind::Acceptance as i32,
            msg_id: vec![1; 16],
            sender_commitment: vec![2; 32],
            recipient_commitment: vec![3; 32],
            time: 1,
            reason: String::new(),
            gateway_signature: vec![4; 64],
        };
        assert_eq!(e.validate_fields(), Ok(()));
        e.msg_id.clear();
        assert_eq!(
            e.validate_fields(),
            Err(WireError::FieldSize {
                field: "Evidence.msg_id",
                len: 0,
                min: 1,
                max: MAX_MSG_ID_BYTES
            })
        );
    }
}
