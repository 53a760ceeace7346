//! `KeyPublication`: certified mail step (c), the sender's leaf that wraps the message key K to
//! the recipient's request key (DESIGN §3.3). How K is wrapped is [`crate::certmail`]'s business;
//! this file defines only the entry's content and its author signature by IK_A.

use ed25519_dalek::SigningKey;

use super::{EntryError, fixed, signing_input, verify_signature};
use crate::paep::IdentitySigner;
use crate::wire::pb;

/// The label that starts a key publication's signing input (signed by the sender's IK_A).
pub const KEY_PUBLICATION_LABEL: &str = "herald v1 entry key publication";

/// The content of a key publication leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPublication {
    /// `req_hash = H(req ‖ sig_B)`: the request this answers (and the key the log indexes it by).
    pub req_hash: [u8; 32],
    /// H(C), the hash of the ciphertext the key opens.
    pub ciphertext_hash: [u8; 32],
    /// `A_eph = X25519(a, base)`.
    pub ephemeral_key: [u8; 32],
    /// `K_wrap = K ⊕ KDF("herald v1 cm wrap", lp(X25519(a, P_req)) ‖ lp(req_hash))`.
    pub wrapped_key: [u8; 32],
    /// The sender's account address.
    pub author: String,
    /// When the sender made the publication, Unix seconds.
    pub created: u64,
}

impl KeyPublication {
    /// The bytes the author signs.
    pub fn signing_input(&self, author_key: &[u8; 32]) -> Vec<u8> {
        signing_input(
            KEY_PUBLICATION_LABEL,
            &[
                &self.req_hash,
                &self.ciphertext_hash,
                &self.ephemeral_key,
                &self.wrapped_key,
                self.author.as_bytes(),
                author_key,
                &self.created.to_le_bytes(),
            ],
        )
    }

    /// Signs this publication with the author's identity key, as a log entry.
    pub fn sign(&self, author: &SigningKey) -> pb::LogEntry {
        match self.sign_with(author) {
            Ok(entry) => entry,
            Err(never) => match never {},
        }
    }

    /// Signs this publication through the author's key store (IK_A never leaves it).
    pub fn sign_with<S: IdentitySigner + ?Sized>(
        &self,
        author: &S,
    ) -> Result<pb::LogEntry, S::Error> {
        let author_key = author.identity_key();
        let signature = author.sign(&self.signing_input(&author_key))?;
        Ok(pb::LogEntry {
            kind: Some(pb::log_entry::Kind::KeyPublication(pb::KeyPublication {
                req_hash: self.req_hash.to_vec(),
                ciphertext_hash: self.ciphertext_hash.to_vec(),
                ephemeral_key: self.ephemeral_key.to_vec(),
                wrapped_key: self.wrapped_key.to_vec(),
                author: self.author.clone(),
                author_key: author_key.to_vec(),
                created: self.created,
                signature: signature.to_vec(),
            })),
        })
    }
}

/// Checks a key publication's author signature under its `author_key`; returns its content and
/// the author key. Whether that key is the author's bound identity key is the caller's question
/// (the gateway answers it when it accepts the submission).
pub fn verify_key_publication(
    entry: &pb::KeyPublication,
) -> Result<(KeyPublication, [u8; 32]), EntryError> {
    let author_key: [u8; 32] = entry
        .author_key
        .as_slice()
        .try_into()
        .map_err(|_| EntryError::BadAuthorKey)?;
    let publication = KeyPublication {
        req_hash: fixed("KeyPublication.req_hash", &entry.req_hash)?,
        ciphertext_hash: fixed("KeyPublication.ciphertext_hash", &entry.ciphertext_hash)?,
        ephemeral_key: fixed("KeyPublication.ephemeral_key", &entry.ephemeral_key)?,
        wrapped_key: fixed("KeyPublication.wrapped_key", &entry.wrapped_key)?,
        author: entry.author.clone(),
        created: entry.created,
    };
    verify_signature(
        &author_key,
        &publication.signing_input(&author_key),
        &entry.signature,
    )?;
    Ok((publication, author_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication() -> KeyPublication {
        KeyPublication {
            req_hash: [1; 32],
            ciphertext_hash: [2; 32],
            ephemeral_key: [3; 32],
            wrapped_key: [4; 32],
            author: "alice@alpha.test".into(),
            created: 1_700_000_000,
        }
    }

    fn inner(entry: pb::LogEntry) -> pb::KeyPublication {
        match entry.kind {
            Some(pb::log_entry::Kind::KeyPublication(k)) => k,
            other => panic!("not a publication: {other:?}"),
        }
    }

    #[test]
    fn a_signed_publication_verifies() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let entry = inner(publication().sign(&key));
        assert_eq!(
            verify_key_publication(&entry),
            Ok((publication(), key.verifying_key().to_bytes()))
        );
    }

    #[test]
    fn every_field_is_signed() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let good = inner(publication().sign(&key));
        let edits: [fn(&mut pb::KeyPublication); 6] = [
            |k| k.req_hash[0] ^= 1,
            |k| k.ciphertext_hash[0] ^= 1,
            |k| k.ephemeral_key[0] ^= 1,
            |k| k.wrapped_key[0] ^= 1,
            |k| k.author.push('x'),
            |k| k.created += 1,
        ];
        for edit in edits {
            let mut t = good.clone();
            edit(&mut t);
            assert_eq!(verify_key_publication(&t), Err(EntryError::BadSignature));
        }
        let mut t = good;
        t.req_hash.pop();
        assert_eq!(
            verify_key_publication(&t),
            Err(EntryError::BadFieldLength {
                field: "KeyPublication.req_hash"
            })
        );
    }
}
