//! Log entries: the domain-separated signing input every entry kind is signed over, and the checks
//! of each kind's author signature.
//!
//! A signature on one kind can never be read as a signature on another, nor on anything else
//! Herald signs: each kind's signing input starts with its own fixed, versioned label, and every
//! field is length-prefixed (`lp(x)` = 8-byte little-endian length ‖ x, DESIGN §3).

mod author_keys;
mod batch_notarization;
mod evidence;
mod identity;
mod key_publication;
mod lookup;
mod notarization;

pub use author_keys::AuthorKeys;
pub use batch_notarization::{
    BatchSignature, NOTARIZATION_BATCH_LABEL, NOTARIZATION_ITEM_LABEL, batch_signature,
    sign_notarization_batch, verify_batch_notarization,
};
pub use evidence::{
    ADDRESS_COMMITMENT_LABEL, EVIDENCE_LABEL, EvidenceRecord, MailParties, commit_address,
    reason_required, verify_evidence, verify_evidence_leaf,
};
pub use identity::{
    ACCOUNT_REGISTRATION_LABEL, FALLBACK_PREKEY_LABEL, IDENTITY_BINDING_LABEL,
    IDENTITY_REVOCATION_LABEL, IdentityBinding, IdentityRevocation, fallback_prekey_signing_input,
    registration_signing_input, sign_fallback_prekey, sign_registration, verify_fallback_prekey,
    verify_identity_binding, verify_identity_binding_keyed, verify_identity_revocation,
    verify_registration,
};
pub use key_publication::{
    KEY_PUBLICATION_LABEL, KeyPublication, PublicationOpening, SEALED_KEY_PUBLICATION_LABEL,
    SealedKeyPublication, is_sealed, verify_key_publication, verify_sealed_publication,
};
pub use lookup::{LookupKey, lookup_key};
pub use notarization::{
    NOTARIZATION_LABEL, Notarization, verify_notarization, verify_notarization_with,
};

/// Why an entry's author signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The author key is not a valid Ed25519 public key.
    #[error("author key is not a valid Ed25519 public key")]
    BadAuthorKey,
    /// The signature field is not 64 bytes.
    #[error("signature is {0} bytes, expected 64")]
    BadSignatureLength(usize),
    /// The signature does not verify under the author key over the entry's signing input.
    #[error("signature does not verify")]
    BadSignature,
    /// A fixed-size field (hash, key) has the wrong length: the entry skipped
    /// [`crate::wire::Validate`].
    #[error("field {field} has the wrong length")]
    BadFieldLength {
        /// The field's name in the schema.
        field: &'static str,
    },
    /// An identity binding's signed prekey does not carry a valid signature by its identity key.
    #[error("the signed prekey's signature by the identity key does not verify")]
    BadPrekeySignature,
    /// An evidence record's kind is unspecified or unknown to this version.
    #[error("evidence kind {0} is not known")]
    UnknownEvidenceKind(i32),
    /// A non-delivery, expiry or rejection record that does not say why.
    #[error("an evidence record of kind {0} must give its reason")]
    MissingReason(&'static str),
    /// The leaf is not a valid `Evidence` log entry.
    #[error("the leaf is not an evidence record")]
    NotEvidence,
    /// The record is about another mail than the one asked for.
    #[error("the record is about another msg_id")]
    OtherMail,
    /// A sealed key publication read as a named one: it needs its opening.
    #[error("the publication is sealed: its author is checked with its opening")]
    Sealed,
    /// A named key publication read as a sealed one.
    #[error("the publication names its author in clear (not sealed)")]
    NotSealed,
    /// The opening does not open the publication's address commitments.
    #[error("the opening does not open the publication's address commitments")]
    CommitmentMismatch,
}

/// Appends `lp(x)`: the 8-byte little-endian length of `x`, then `x`.
pub fn lp(out: &mut Vec<u8>, x: &[u8]) {
    out.extend_from_slice(&(x.len() as u64).to_le_bytes());
    out.extend_from_slice(x);
}

/// `lp(label) ‖ lp(f1) ‖ lp(f2) ‖ …`: the bytes an entry kind is signed over.
pub fn signing_input(label: &str, fields: &[&[u8]]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(8 + label.len() + fields.iter().map(|f| 8 + f.len()).sum::<usize>());
    lp(&mut out, label.as_bytes());
    for field in fields {
        lp(&mut out, field);
    }
    out
}

/// A fixed-size field of an entry as an array, or [`EntryError::BadFieldLength`].
pub(crate) fn fixed<const N: usize>(
    field: &'static str,
    bytes: &[u8],
) -> Result<[u8; N], EntryError> {
    bytes
        .try_into()
        .map_err(|_| EntryError::BadFieldLength { field })
}

/// Checks an Ed25519 signature by `key` over `message`, with the strict (non-malleable) rules.
pub fn verify_signature(key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), EntryError> {
    verify_signature_by(&verifying_key(key)?, message, signature)
}

/// `key` as an Ed25519 public key (its point decompressed: the one costly step of reading a
/// key, which a caller checking several signatures by one key does once).
pub fn verifying_key(key: &[u8]) -> Result<ed25519_dalek::VerifyingKey, EntryError> {
    let key: [u8; 32] = key.try_into().map_err(|_| EntryError::BadAuthorKey)?;
    ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| EntryError::BadAuthorKey)
}

/// [`verify_signature`] by a key already read ([`verifying_key`]): the same strict check.
pub fn verify_signature_by(
    key: &ed25519_dalek::VerifyingKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), EntryError> {
    let signature = ed25519_dalek::Signature::from_slice(signature)
        .map_err(|_| EntryError::BadSignatureLength(signature.len()))?;
    crate::ed25519::verify_strict(key, message, &signature)
        .then_some(())
        .ok_or(EntryError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixes_keep_fields_apart() {
        // Moving a byte from one field to the next changes the signing input.
        assert_ne!(
            signing_input("l", &[b"ab", b"c"]),
            signing_input("l", &[b"a", b"bc"])
        );
        assert_eq!(
            signing_input("l", &[b"x"]),
            [&1u64.to_le_bytes()[..], b"l", &1u64.to_le_bytes()[..], b"x"].concat()
        );
    }
}
