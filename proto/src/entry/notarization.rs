//! `Notarization`: a document digest a client asks its gateway to timestamp.

use ed25519_dalek::{Signer as _, SigningKey};

use super::{EntryError, signing_input, verify_signature};
use crate::wire::pb;

/// The label that starts a notarization's signing input.
pub const NOTARIZATION_LABEL: &str = "herald v1 entry notarization";

/// What an author signs to have a digest notarized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notarization {
    /// The document's digest (BLAKE3-256 by default).
    pub digest: [u8; 32],
    /// The document's media type; may be empty.
    pub media_type: String,
    /// A free-text label; may be empty.
    pub label: String,
    /// When the author made the request, Unix seconds.
    pub created: u64,
}

impl Notarization {
    /// The bytes the author signs.
    pub fn signing_input(&self, author_key: &[u8; 32]) -> Vec<u8> {
        signing_input(
            NOTARIZATION_LABEL,
            &[
                &self.digest,
                self.media_type.as_bytes(),
                self.label.as_bytes(),
                author_key,
                &self.created.to_le_bytes(),
            ],
        )
    }

    /// Signs this request as a log entry of kind `notarization`.
    pub fn sign(&self, author: &SigningKey) -> pb::LogEntry {
        let author_key = author.verifying_key().to_bytes();
        let signature = author.sign(&self.signing_input(&author_key));
        pb::LogEntry {
            kind: Some(pb::log_entry::Kind::Notarization(pb::Notarization {
                digest: self.digest.to_vec(),
                media_type: self.media_type.clone(),
                label: self.label.clone(),
                author_key: author_key.to_vec(),
                created: self.created,
                signature: signature.to_bytes().to_vec(),
            })),
        }
    }
}

/// Checks a notarization's author signature. The entry must already have passed
/// [`crate::wire::Validate`] (so digest and key have their lengths).
pub fn verify_notarization(entry: &pb::Notarization) -> Result<(), EntryError> {
    verify_notarization_by(entry, verify_signature)
}

/// [`verify_notarization`] with the author's key decompressed at most once while `keys`
/// remembers it (a gateway checking many entries of the same authors): the same answer.
pub fn verify_notarization_with(
    entry: &pb::Notarization,
    keys: &super::AuthorKeys,
) -> Result<(), EntryError> {
    verify_notarization_by(entry, |key, message, signature| {
        keys.verify(key, message, signature)
    })
}

fn verify_notarization_by(
    entry: &pb::Notarization,
    verify: impl FnOnce(&[u8], &[u8], &[u8]) -> Result<(), EntryError>,
) -> Result<(), EntryError> {
    let digest = super::fixed("Notarization.digest", &entry.digest)?;
    let author_key: [u8; 32] = entry
        .author_key
        .as_slice()
        .try_into()
        .map_err(|_| EntryError::BadAuthorKey)?;
    let request = Notarization {
        digest,
        media_type: entry.media_type.clone(),
        label: entry.label.clone(),
        created: entry.created,
    };
    verify(
        &author_key,
        &request.signing_input(&author_key),
        &entry.signature,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Notarization {
        Notarization {
            digest: *blake3::hash(b"contract v3").as_bytes(),
            media_type: "application/pdf".into(),
            label: "signed contract".into(),
            created: 1_790_000_000,
        }
    }

    fn inner(entry: pb::LogEntry) -> pb::Notarization {
        match entry.kind {
            Some(pb::log_entry::Kind::Notarization(n)) => n,
            other => panic!("not a notarization: {other:?}"),
        }
    }

    #[test]
    fn a_signed_notarization_verifies() {
        let key = SigningKey::from_bytes(&[7; 32]);
        assert_eq!(verify_notarization(&inner(request().sign(&key))), Ok(()));
    }

    #[test]
    fn changing_any_field_breaks_the_signature() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let good = inner(request().sign(&key));
        let mut tampered = Vec::new();
        let mut t = good.clone();
        t.digest[0] ^= 1;
        tampered.push(t);
        let mut t = good.clone();
        t.media_type.push('x');
        tampered.push(t);
        let mut t = good.clone();
        t.label = "other".into();
        tampered.push(t);
        let mut t = good.clone();
        t.created += 1;
        tampered.push(t);
        let mut t = good.clone();
        t.author_key = SigningKey::from_bytes(&[8; 32])
            .verifying_key()
            .to_bytes()
            .to_vec();
        tampered.push(t);
        // With remembered keys too, the good one's author key decompressed once for all.
        let keys = crate::entry::AuthorKeys::default();
        assert_eq!(verify_notarization_with(&good, &keys), Ok(()));
        for t in tampered {
            assert_eq!(verify_notarization(&t), Err(EntryError::BadSignature));
            assert_eq!(
                verify_notarization_with(&t, &keys),
                Err(EntryError::BadSignature)
            );
        }
        assert_eq!(verify_notarization_with(&good, &keys), Ok(()));
    }
}
