//! `KeyPublication`: certified mail step (c), the sender's leaf that wraps the message key K to
//! the recipient's request key (DESIGN §3.3). How K is wrapped is [`crate::certmail`]'s business;
//! this file defines only the entry's content and its author signature by IK_A.
//!
//! Two shapes (DESIGN §3.4 "no leaf about a mail names a mail address in clear"):
//! - [`SealedKeyPublication`], written since the privacy fix: the leaf holds
//!   `commit_address(salt, A)` and `commit_address(salt, B)` and neither A's address nor IK_A.
//!   IK_A signs `lp(label) ‖ lp(req_hash) ‖ lp(H(C)) ‖ lp(A_eph) ‖ lp(K_wrap) ‖
//!   lp(author_commitment) ‖ lp(recipient_commitment) ‖ lp(IK_A) ‖ lp(salt) ‖ lp(created)` under
//!   [`SEALED_KEY_PUBLICATION_LABEL`]. The salt is inside the signed bytes so that a reader of
//!   the public log cannot find the author by trying every bound identity key against the
//!   signature. Whoever holds the [`PublicationOpening`] (A; the gateway, which is shown it at
//!   submission) checks everything; whoever holds the salt and the addresses (B and an arbiter,
//!   from the request) opens the commitments.
//! - [`KeyPublication`], the named shape written before: author and IK_A in clear. Old leaves
//!   keep verifying with [`verify_key_publication`] (a log is append-only); gateways no longer
//!   admit new ones.

use ed25519_dalek::SigningKey;

use super::evidence::MailParties;
use super::{EntryError, fixed, signing_input, verify_signature};
use crate::paep::IdentitySigner;
use crate::wire::pb;

/// The label that starts a sealed key publication's signing input (signed by IK_A).
pub const SEALED_KEY_PUBLICATION_LABEL: &str = "herald v1 entry key publication sealed";

/// What opens a sealed publication: the mail's parties and salt, and the author's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicationOpening {
    /// A, B and the mail's salt.
    pub parties: MailParties,
    /// IK_A.
    pub author_key: [u8; 32],
}

impl PublicationOpening {
    /// As sent beside the leaf.
    pub fn to_pb(&self) -> pb::PublicationOpening {
        pb::PublicationOpening {
            sender: self.parties.sender().to_owned(),
            recipient: self.parties.recipient().to_owned(),
            salt: self.parties.salt().to_vec(),
            author_key: self.author_key.to_vec(),
        }
    }

    /// From the wire (validated or not: lengths are checked here too).
    pub fn from_pb(opening: &pb::PublicationOpening) -> Result<Self, EntryError> {
        Ok(PublicationOpening {
            parties: MailParties::new(
                fixed("PublicationOpening.salt", &opening.salt)?,
                &opening.sender,
                &opening.recipient,
            )?,
            author_key: fixed("PublicationOpening.author_key", &opening.author_key)
                .map_err(|_| EntryError::BadAuthorKey)?,
        })
    }
}

/// The content of a sealed key publication leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKeyPublication {
    /// `req_hash = H(req ‖ sig_B)`.
    pub req_hash: [u8; 32],
    /// H(C).
    pub ciphertext_hash: [u8; 32],
    /// `A_eph`.
    pub ephemeral_key: [u8; 32],
    /// `K_wrap`.
    pub wrapped_key: [u8; 32],
    /// `commit_address(salt, A)`.
    pub author_commitment: [u8; 32],
    /// `commit_address(salt, B)`.
    pub recipient_commitment: [u8; 32],
    /// When the sender made the publication, Unix seconds.
    pub created: u64,
}

impl SealedKeyPublication {
    /// The bytes IK_A (`author_key`) signs, with the mail's `salt`.
    pub fn signing_input(&self, author_key: &[u8; 32], salt: &[u8; 32]) -> Vec<u8> {
        signing_input(
            SEALED_KEY_PUBLICATION_LABEL,
            &[
                &self.req_hash,
                &self.ciphertext_hash,
                &self.ephemeral_key,
                &self.wrapped_key,
                &self.author_commitment,
                &self.recipient_commitment,
                author_key,
                salt,
                &self.created.to_le_bytes(),
            ],
        )
    }

    /// Signs this publication with the author's identity key under the mail's `salt`.
    pub fn sign(&self, author: &SigningKey, salt: &[u8; 32]) -> pb::LogEntry {
        match self.sign_with(author, salt) {
            Ok(entry) => entry,
            Err(never) => match never {},
        }
    }

    /// Signs this publication through the author's key store (IK_A never leaves it) under the
    /// mail's `salt`.
    pub fn sign_with<S: IdentitySigner + ?Sized>(
        &self,
        author: &S,
        salt: &[u8; 32],
    ) -> Result<pb::LogEntry, S::Error> {
        let author_key = author.identity_key();
        let signature = author.sign(&self.signing_input(&author_key, salt))?;
        Ok(pb::LogEntry {
            kind: Some(pb::log_entry::Kind::KeyPublication(pb::KeyPublication {
                req_hash: self.req_hash.to_vec(),
                ciphertext_hash: self.ciphertext_hash.to_vec(),
                ephemeral_key: self.ephemeral_key.to_vec(),
                wrapped_key: self.wrapped_key.to_vec(),
                author: String::new(),
                author_key: Vec::new(),
                created: self.created,
                signature: signature.to_vec(),
                author_commitment: self.author_commitment.to_vec(),
                recipient_commitment: self.recipient_commitment.to_vec(),
            })),
        })
    }

    /// Reads a sealed leaf's content without checking its signature (which needs the opening).
    pub fn read(entry: &pb::KeyPublication) -> Result<Self, EntryError> {
        if !is_sealed(entry) {
            return Err(EntryError::NotSealed);
        }
        Ok(SealedKeyPublication {
            req_hash: fixed("KeyPublication.req_hash", &entry.req_hash)?,
            ciphertext_hash: fixed("KeyPublication.ciphertext_hash", &entry.ciphertext_hash)?,
            ephemeral_key: fixed("KeyPublication.ephemeral_key", &entry.ephemeral_key)?,
            wrapped_key: fixed("KeyPublication.wrapped_key", &entry.wrapped_key)?,
            author_commitment: fixed("KeyPublication.author_commitment", &entry.author_commitment)?,
            recipient_commitment: fixed(
                "KeyPublication.recipient_commitment",
                &entry.recipient_commitment,
            )?,
            created: entry.created,
        })
    }

    /// Whether `parties` open this publication's commitments (B or an arbiter, from the
    /// request).
    pub fn opens_to(&self, parties: &MailParties) -> bool {
        parties.commitments() == (self.author_commitment, self.recipient_commitment)
    }
}

/// Whether a publication leaf has the sealed shape (commitments, no author in clear).
pub fn is_sealed(entry: &pb::KeyPublication) -> bool {
    !entry.author_commitment.is_empty() || !entry.recipient_commitment.is_empty()
}

/// Checks a sealed publication against its `opening`: the commitments open to its parties,
/// and IK_A's signature verifies over the content and the salt. Returns the content.
pub fn verify_sealed_publication(
    entry: &pb::KeyPublication,
    opening: &PublicationOpening,
) -> Result<SealedKeyPublication, EntryError> {
    let publication = SealedKeyPublication::read(entry)?;
    if !publication.opens_to(&opening.parties) {
        return Err(EntryError::CommitmentMismatch);
    }
    verify_signature(
        &opening.author_key,
        &publication.signing_input(&opening.author_key, opening.parties.salt()),
        &entry.signature,
    )?;
    Ok(publication)
}

/// The label that starts a key publication's signing input (signed by the sender's IK_A).
pub const KEY_PUBLICATION_LABEL: &str = "herald v1 entry key publication";

/// The content of a named key publication leaf (the shape before the privacy fix).
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
                author_commitment: Vec::new(),
                recipient_commitment: Vec::new(),
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
    if is_sealed(entry) {
        return Err(EntryError::Sealed);
    }
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

    fn sealed() -> (SealedKeyPublication, PublicationOpening, SigningKey) {
        let key = SigningKey::from_bytes(&[5; 32]);
        let parties = MailParties::new([9; 32], "alice@alpha.test", "bob@beta.test").unwrap();
        let (author_commitment, recipient_commitment) = parties.commitments();
        let p = SealedKeyPublication {
            req_hash: [1; 32],
            ciphertext_hash: [2; 32],
            ephemeral_key: [3; 32],
            wrapped_key: [4; 32],
            author_commitment,
            recipient_commitment,
            created: 1_700_000_000,
        };
        let opening = PublicationOpening {
            parties,
            author_key: key.verifying_key().to_bytes(),
        };
        (p, opening, key)
    }

    #[test]
    fn a_sealed_publication_verifies_with_its_opening_only() {
        let (p, opening, key) = sealed();
        let entry = inner(p.sign(&key, opening.parties.salt()));
        assert!(entry.author.is_empty() && entry.author_key.is_empty());
        assert_eq!(verify_sealed_publication(&entry, &opening), Ok(p.clone()));
        assert_eq!(
            PublicationOpening::from_pb(&opening.to_pb()).as_ref(),
            Ok(&opening)
        );
        // The named check does not take it for a named publication.
        assert_eq!(verify_key_publication(&entry), Err(EntryError::Sealed));
        // Another salt, another recipient, another key: refused.
        let mut other = opening.clone();
        other.parties = MailParties::new([8; 32], "alice@alpha.test", "bob@beta.test").unwrap();
        assert_eq!(
            verify_sealed_publication(&entry, &other),
            Err(EntryError::CommitmentMismatch)
        );
        let mut other = opening.clone();
        other.parties = MailParties::new([9; 32], "alice@alpha.test", "carol@beta.test").unwrap();
        assert_eq!(
            verify_sealed_publication(&entry, &other),
            Err(EntryError::CommitmentMismatch)
        );
        let mut other = opening.clone();
        other.author_key = SigningKey::from_bytes(&[6; 32]).verifying_key().to_bytes();
        assert_eq!(
            verify_sealed_publication(&entry, &other),
            Err(EntryError::BadSignature)
        );
        // A reader without the salt cannot tell which key signed: under the right key but
        // without the salt in the signed bytes, the signature does not verify.
        let without_salt = p.signing_input(&opening.author_key, &[0; 32]);
        assert_eq!(
            verify_signature(&opening.author_key, &without_salt, &entry.signature),
            Err(EntryError::BadSignature)
        );
    }

    #[test]
    fn every_field_of_a_sealed_publication_is_signed() {
        let (p, opening, key) = sealed();
        let good = inner(p.sign(&key, opening.parties.salt()));
        let edits: [fn(&mut pb::KeyPublication); 5] = [
            |k| k.req_hash[0] ^= 1,
            |k| k.ciphertext_hash[0] ^= 1,
            |k| k.ephemeral_key[0] ^= 1,
            |k| k.wrapped_key[0] ^= 1,
            |k| k.created += 1,
        ];
        for edit in edits {
            let mut t = good.clone();
            edit(&mut t);
            assert_eq!(
                verify_sealed_publication(&t, &opening),
                Err(EntryError::BadSignature)
            );
        }
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
