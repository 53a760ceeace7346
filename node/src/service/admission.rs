//! Admission of client-submitted entries (DESIGN §2 "Entry types", §4): the checks every entry
//! passes before it goes to the sequencer, in the order a client learns the most from.
//!
//! 1. It decodes as a `LogEntry` within the size limit (`MALFORMED`, `TOO_LARGE`).
//! 2. Its kind is one clients author: `Notarization` or `KeyPublication`. No kind (or a kind
//!    this version does not know) is `UNKNOWN_ENTRY_KIND`; bindings, revocations, evidence and
//!    witnessed checkpoints are the gateway's own and `FORBIDDEN`.
//! 3. Its fields satisfy the schema's bounds (`MALFORMED`).
//! 4. It re-encodes to exactly its bytes (`INVALID_ENTRY`). prost skips unknown fields and
//!    accepts repeated or non-minimal encodings; a leaf carrying bytes its signed fields do not
//!    cover could smuggle data into the log under someone's signature, and would hash
//!    differently from what its author signed over.
//! 5. Its author signature verifies (`INVALID_ENTRY`).
//! 6. A `KeyPublication`'s author is an active account of this domain whose bound identity key
//!    is `author_key` (`UNAUTHORIZED`), and no publication for its req_hash is logged or being
//!    logged (`DUPLICATE`).
//!
//! Nothing changes before all of them pass; the answer waits until the entry is durable.

use herald_proto::entry::{verify_key_publication, verify_notarization};
use herald_proto::identity::account_in_log_domain;
use herald_proto::wire::pb::{self, log_entry};
use herald_proto::wire::{self, MAX_LOG_ENTRY_BYTES, Validate as _};

use super::{Intake, Refusal, index_writes};
use crate::sequencer::Ack;

/// A client entry that passed the checks that need no state.
#[derive(Debug)]
pub(super) struct Checked {
    pub(super) entry: pb::LogEntry,
    /// For a key publication: its author, author key and req_hash.
    pub(super) publication: Option<(String, [u8; 32], [u8; 32])>,
}

/// Checks 1–5 of the module docs.
pub(super) fn check_entry(bytes: &[u8]) -> Result<Checked, Refusal> {
    let entry: pb::LogEntry =
        wire::decode(bytes, MAX_LOG_ENTRY_BYTES).map_err(Refusal::Malformed)?;
    match &entry.kind {
        None => return Err(Refusal::UnknownEntryKind),
        Some(log_entry::Kind::Notarization(_) | log_entry::Kind::KeyPublication(_)) => {}
        Some(log_entry::Kind::IdentityBinding(_)) => {
            return Err(Refusal::Forbidden("identity binding"));
        }
        Some(log_entry::Kind::IdentityRevocation(_)) => {
            return Err(Refusal::Forbidden("identity revocation"));
        }
        Some(log_entry::Kind::Evidence(_)) => return Err(Refusal::Forbidden("evidence")),
        Some(log_entry::Kind::WitnessedCheckpoint(_)) => {
            return Err(Refusal::Forbidden("witnessed checkpoint"));
        }
    }
    entry.validate().map_err(Refusal::Malformed)?;
    wire::check_canonical(&entry, bytes).map_err(|_| Refusal::NonCanonical)?;
    let publication = match &entry.kind {
        Some(log_entry::Kind::Notarization(n)) => {
            verify_notarization(n).map_err(|source| Refusal::BadSignature {
                what: "notarization",
                source,
            })?;
            None
        }
        Some(log_entry::Kind::KeyPublication(k)) => {
            let (publication, author_key) =
                verify_key_publication(k).map_err(|source| Refusal::BadSignature {
                    what: "key publication",
                    source,
                })?;
            Some((publication.author, author_key, publication.req_hash))
        }
        // Every other kind was refused above.
        _ => return Err(Refusal::UnknownEntryKind),
    };
    Ok(Checked { entry, publication })
}

/// Removes a req_hash from the set of publications being logged when dropped (answered,
/// refused, or the request abandoned).
struct Publishing<'a> {
    mail: &'a Intake,
    req_hash: [u8; 32],
}

impl Drop for Publishing<'_> {
    fn drop(&mut self) {
        self.mail.publishing().remove(&self.req_hash);
    }
}

impl Intake {
    fn publishing(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<[u8; 32]>> {
        // A set of hashes: a panic elsewhere leaves it usable.
        self.inner
            .publishing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits a client's entry (see the module docs) and appends it; returns when it is durable.
    pub async fn submit(&self, bytes: Vec<u8>) -> Result<Ack, Refusal> {
        let checked = check_entry(&bytes)?;
        let writes = index_writes(&checked.entry);
        let Some((author, author_key, req_hash)) = checked.publication else {
            return self
                .parts()
                .sequencer
                .submit_with_indexes(bytes, writes)
                .await
                .map_err(Refusal::from_submit);
        };
        if !account_in_log_domain(&author, self.origin()) {
            return Err(Refusal::Unauthorized(format!(
                "{author} is not an account of this gateway's domain"
            )));
        }
        if !self.publishing().insert(req_hash) {
            return Err(Refusal::Duplicate);
        }
        let _publishing = Publishing {
            mail: self,
            req_hash,
        };
        self.blocking(move |mail| {
            match mail.accounts().active_key(&author)? {
                None => {
                    return Err(Refusal::Unauthorized(format!(
                        "{author} is not an active account"
                    )));
                }
                Some(bound) if bound != author_key => {
                    return Err(Refusal::Unauthorized(format!(
                        "author_key is not the identity key bound to {author}"
                    )));
                }
                Some(_) => {}
            }
            let logged = mail
                .parts()
                .store
                .index_leaves("cm-req", &req_hash, 0, 1)
                .map_err(Refusal::from_read)?;
            if !logged.is_empty() {
                return Err(Refusal::Duplicate);
            }
            Ok(())
        })
        .await?;
        self.parts()
            .sequencer
            .submit_with_indexes(bytes, writes)
            .await
            .map_err(Refusal::from_submit)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use herald_proto::entry::{KeyPublication, Notarization};
    use herald_proto::wire::pb::ClientErrorKind;

    use super::*;
    use prost::Message as _;

    fn notarization() -> pb::LogEntry {
        Notarization {
            digest: [3; 32],
            media_type: "text/plain".into(),
            label: "a".into(),
            created: 1_800_000_000,
        }
        .sign(&SigningKey::from_bytes(&[4; 32]))
    }

    fn publication() -> pb::LogEntry {
        KeyPublication {
            req_hash: [1; 32],
            ciphertext_hash: [2; 32],
            ephemeral_key: [3; 32],
            wrapped_key: [4; 32],
            author: "alice@alpha.test".into(),
            created: 1_800_000_000,
        }
        .sign(&SigningKey::from_bytes(&[5; 32]))
    }

    fn refusal(bytes: &[u8]) -> Option<ClientErrorKind> {
        check_entry(bytes).err().map(|e| e.kind())
    }

    #[test]
    fn signed_notarizations_and_publications_pass() {
        assert_eq!(refusal(&notarization().encode_to_vec()), None);
        let checked = check_entry(&publication().encode_to_vec()).unwrap();
        let (author, key, req_hash) = checked.publication.unwrap();
        assert_eq!(author, "alice@alpha.test");
        assert_eq!(
            key,
            SigningKey::from_bytes(&[5; 32]).verifying_key().to_bytes()
        );
        assert_eq!(req_hash, [1; 32]);
    }

    #[test]
    fn attack_gateway_kinds_are_forbidden_to_clients() {
        let gateway = SigningKey::from_bytes(&[9; 32]);
        let kinds = [
            herald_proto::entry::IdentityBinding {
                account: "bob@beta.test".into(),
                identity_key: [1; 32],
                signed_prekey: [2; 32],
                signed_prekey_signature: [3; 64],
                valid_from: 1,
            }
            .sign(&gateway),
            herald_proto::entry::IdentityRevocation {
                account: "bob@beta.test".into(),
                identity_key: [1; 32],
                revoked_at: 1,
            }
            .sign(&gateway),
            pb::LogEntry {
                kind: Some(log_entry::Kind::Evidence(pb::Evidence::default())),
            },
            pb::LogEntry {
                kind: Some(log_entry::Kind::WitnessedCheckpoint(
                    pb::WitnessedCheckpoint::default(),
                )),
            },
        ];
        for entry in kinds {
            assert_eq!(
                refusal(&entry.encode_to_vec()),
                Some(ClientErrorKind::Forbidden)
            );
        }
    }

    #[test]
    fn entries_are_refused_by_kind_before_fields() {
        assert_eq!(refusal(&[]), Some(ClientErrorKind::UnknownEntryKind));
        // Field 99 (no kind) with a varint: prost skips it, so the entry has no kind.
        assert_eq!(
            refusal(&[0xb8, 0x06, 0x01]),
            Some(ClientErrorKind::UnknownEntryKind)
        );
        assert_eq!(refusal(&[0xff, 0xff]), Some(ClientErrorKind::Malformed));
    }

    #[test]
    fn attack_bytes_outside_the_signed_fields_are_refused() {
        let good = publication().encode_to_vec();
        // An unknown field inside the KeyPublication message (field 99, varint 1): prost skips
        // it, the signature still verifies, but the leaf would carry unsigned bytes.
        let mut inner = match publication().kind {
            Some(log_entry::Kind::KeyPublication(k)) => k.encode_to_vec(),
            _ => unreachable!(),
        };
        inner.extend_from_slice(&[0xb8, 0x06, 0x01]);
        let tag = good[0];
        let mut smuggled = vec![tag];
        prost::encoding::encode_varint(inner.len() as u64, &mut smuggled);
        smuggled.extend_from_slice(&inner);
        assert!(wire::decode::<pb::LogEntry>(&smuggled, MAX_LOG_ENTRY_BYTES).is_ok());
        assert_eq!(refusal(&smuggled), Some(ClientErrorKind::InvalidEntry));
        // The same entry twice (prost keeps the last): refused too.
        let doubled = [good.clone(), good.clone()].concat();
        assert_eq!(refusal(&doubled), Some(ClientErrorKind::InvalidEntry));
        // An unknown top-level field after the kind.
        let trailing = [good, vec![0xb8, 0x06, 0x01]].concat();
        assert_eq!(refusal(&trailing), Some(ClientErrorKind::InvalidEntry));
    }

    #[test]
    fn a_bad_signature_or_field_is_refused() {
        let mut entry = publication();
        let Some(log_entry::Kind::KeyPublication(k)) = &mut entry.kind else {
            unreachable!()
        };
        k.wrapped_key[0] ^= 1;
        assert_eq!(
            refusal(&entry.encode_to_vec()),
            Some(ClientErrorKind::InvalidEntry)
        );
        let Some(log_entry::Kind::KeyPublication(k)) = &mut entry.kind else {
            unreachable!()
        };
        k.req_hash.pop();
        assert_eq!(
            refusal(&entry.encode_to_vec()),
            Some(ClientErrorKind::Malformed)
        );
        let mut entry = notarization();
        let Some(log_entry::Kind::Notarization(n)) = &mut entry.kind else {
            unreachable!()
        };
        n.label.push('!');
        assert_eq!(
            refusal(&entry.encode_to_vec()),
            Some(ClientErrorKind::InvalidEntry)
        );
    }
}
