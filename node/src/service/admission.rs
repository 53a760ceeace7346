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
//! 5. Its author signature verifies (`INVALID_ENTRY`). A `KeyPublication` must be sealed (a
//!    named one shows its author to every reader: `INVALID_ENTRY`) and come with its opening
//!    (`SubmitEntry.opening`, never logged; without one `UNAUTHORIZED`), which must open its
//!    commitments; its signature is checked under the opening's key and salt. A `BatchNotarization`'s signature covers
//!    its author's whole batch: it is verified once per batch and remembered
//!    ([`VerifiedBatches`]), so the other items of the batch cost a path of hashes each.
//!    A `Notarization`'s author key is decompressed once while the gateway remembers it
//!    (`herald_proto::entry::AuthorKeys`); its signature is checked every time.
//! 6. A `KeyPublication`'s author (the opening's sender) is an active account of this domain
//!    whose bound identity key is the opening's `author_key` (`UNAUTHORIZED`), and no publication for its req_hash is logged or being
//!    logged (`DUPLICATE`).
//!
//! Nothing changes before all of them pass; the answer waits until the entry is durable.
//!
//! A batch ([`Intake::submit_batch`]) runs the same checks on every entry, on one blocking
//! thread: an entry that fails is refused alone, and the others are appended together, at
//! consecutive indexes of one round.

use std::collections::HashSet;
use std::sync::Mutex;

use herald_proto::entry::{
    AuthorKeys, BatchSignature, EntryError, PublicationOpening, batch_signature, is_sealed,
    verify_notarization_with, verify_sealed_publication,
};
use herald_proto::identity::account_in_log_domain;
use herald_proto::wire::pb::{self, log_entry};
use herald_proto::wire::{self, MAX_LOG_ENTRY_BYTES, Validate as _};

use super::{Intake, Refusal, index_writes};
use crate::sequencer::{Ack, BatchAck, IndexWrite};

/// Batch signatures remembered as verified: enough for the batches of many clients at once.
const VERIFIED_BATCHES: usize = 4096;

/// Batch signatures that verified (see [`BatchSignature`]): the same value verifies the same
/// way every time, so remembering it is as good as checking it again. Bounded: emptied when full.
#[derive(Debug, Default)]
pub(super) struct VerifiedBatches(Mutex<HashSet<BatchSignature>>);

impl VerifiedBatches {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<BatchSignature>> {
        // A set of verified values: a panic elsewhere leaves it usable.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks `signature`, from memory when it verified before.
    fn verify(&self, signature: BatchSignature) -> Result<(), herald_proto::entry::EntryError> {
        if self.set().contains(&signature) {
            return Ok(());
        }
        // Verified outside the lock: two threads may both verify one batch, never wait on it.
        signature.verify()?;
        let mut set = self.set();
        if set.len() >= VERIFIED_BATCHES {
            set.clear();
        }
        set.insert(signature);
        Ok(())
    }
}

/// A client entry that passed the checks that need no state.
#[derive(Debug)]
pub(super) struct Checked {
    pub(super) entry: pb::LogEntry,
    /// For a key publication: its author, author key and req_hash.
    pub(super) publication: Option<(String, [u8; 32], [u8; 32])>,
}

/// Checks 1–5 of the module docs; `opening` is what a sealed key publication was sent with.
pub(super) fn check_entry(
    bytes: &[u8],
    opening: Option<&pb::PublicationOpening>,
    batches: &VerifiedBatches,
    keys: &AuthorKeys,
) -> Result<Checked, Refusal> {
    let entry: pb::LogEntry =
        wire::decode(bytes, MAX_LOG_ENTRY_BYTES).map_err(Refusal::Malformed)?;
    match &entry.kind {
        None => return Err(Refusal::UnknownEntryKind),
        Some(
            log_entry::Kind::Notarization(_)
            | log_entry::Kind::BatchNotarization(_)
            | log_entry::Kind::KeyPublication(_),
        ) => {}
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
            verify_notarization_with(n, keys).map_err(|source| Refusal::BadSignature {
                what: "notarization",
                source,
            })?;
            None
        }
        Some(log_entry::Kind::BatchNotarization(n)) => {
            let bad = |source| Refusal::BadSignature {
                what: "batch notarization",
                source,
            };
            batches
                .verify(batch_signature(n).map_err(bad)?)
                .map_err(bad)?;
            None
        }
        Some(log_entry::Kind::KeyPublication(k)) => {
            let bad = |source| Refusal::BadSignature {
                what: "key publication",
                source,
            };
            // A named publication shows its author to every reader of the log: no longer
            // admitted (DESIGN §3.4). Named leaves already logged stay valid.
            if !is_sealed(k) {
                return Err(bad(EntryError::NotSealed));
            }
            let Some(opening) = opening else {
                return Err(Refusal::Unauthorized(
                    "a sealed key publication is submitted alone, with its opening".into(),
                ));
            };
            let opening = PublicationOpening::from_pb(opening).map_err(bad)?;
            let publication = verify_sealed_publication(k, &opening).map_err(bad)?;
            Some((
                opening.parties.sender().to_owned(),
                opening.author_key,
                publication.req_hash,
            ))
        }
        // Every other kind was refused above.
        _ => return Err(Refusal::UnknownEntryKind),
    };
    Ok(Checked { entry, publication })
}

/// Removes req_hashes from the set of publications being logged when dropped (answered,
/// refused, or the request abandoned).
struct Publishing {
    mail: Intake,
    req_hashes: Vec<[u8; 32]>,
}

impl Drop for Publishing {
    fn drop(&mut self) {
        let mut publishing = self.mail.publishing();
        for req_hash in &self.req_hashes {
            publishing.remove(req_hash);
        }
    }
}

/// A batch after admission: each entry's refusal (by position), and what goes to the sequencer.
struct Admitted {
    refused: Vec<(usize, Refusal)>,
    accepted: Vec<(Vec<u8>, Vec<IndexWrite>)>,
    /// Held until the batch is answered.
    publishing: Publishing,
}

/// What became of a batch: each refused entry by position, and the ack of the others (none
/// when every entry was refused).
#[derive(Debug)]
pub struct BatchOutcome {
    /// Refused entries, by position in the request, in order.
    pub refused: Vec<(usize, Refusal)>,
    /// The accepted entries, durable, in request order.
    pub ack: Option<BatchAck>,
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
        self.submit_with_opening(bytes, None).await
    }

    /// [`submit`](Self::submit) of an entry sent with an opening (a sealed key publication's).
    pub async fn submit_with_opening(
        &self,
        bytes: Vec<u8>,
        opening: Option<pb::PublicationOpening>,
    ) -> Result<Ack, Refusal> {
        // Neither the decoded entry nor the opening is kept across the awaits below (they
        // would make every submission's future, boxed per request, larger).
        let (writes, publication) = {
            // Not redundant: moved into this block, its storage ends with it (64 bytes less
            // in the future than `drop(opening)` after it, measured).
            #[allow(clippy::redundant_locals)]
            let opening = opening;
            let checked = check_entry(
                &bytes,
                opening.as_ref(),
                &self.inner.batches,
                &self.inner.author_keys,
            )?;
            (index_writes(&checked.entry), checked.publication)
        };
        let Some((author, author_key, req_hash)) = publication else {
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
            mail: self.clone(),
            req_hashes: vec![req_hash],
        };
        self.blocking(move |mail| mail.check_publication(&author, &author_key, &req_hash))
            .await?;
        self.parts()
            .sequencer
            .submit_with_indexes(bytes, writes)
            .await
            .map_err(Refusal::from_submit)
    }

    /// Check 6 of the module docs, for a publication whose req_hash this request holds in
    /// the set of publications being logged. Reads sled: call on a blocking thread.
    fn check_publication(
        &self,
        author: &str,
        author_key: &[u8; 32],
        req_hash: &[u8; 32],
    ) -> Result<(), Refusal> {
        match self.accounts().active_key(author)? {
            None => {
                return Err(Refusal::Unauthorized(format!(
                    "{author} is not an active account"
                )));
            }
            Some(bound) if bound != *author_key => {
                return Err(Refusal::Unauthorized(format!(
                    "author_key is not the identity key bound to {author}"
                )));
            }
            Some(_) => {}
        }
        let logged = self
            .parts()
            .store
            .index_leaves("cm-req", req_hash, 0, 1)
            .map_err(Refusal::from_read)?;
        if !logged.is_empty() {
            return Err(Refusal::Duplicate);
        }
        Ok(())
    }

    /// Admits each of `entries` as [`submit`](Self::submit) does, and appends the accepted
    /// ones together; returns when they are durable. One entry's refusal refuses no other. The
    /// checks (signatures, accounts) run on one blocking thread, so a large batch does not
    /// hold an async worker. Refused as a whole only when the sequencer cannot take the batch
    /// (busy, stopped).
    pub async fn submit_batch(&self, entries: Vec<Vec<u8>>) -> Result<BatchOutcome, Refusal> {
        let admitted = self.blocking(move |mail| Ok(mail.admit(entries))).await?;
        let Admitted {
            refused,
            accepted,
            publishing,
        } = admitted;
        if accepted.is_empty() {
            return Ok(BatchOutcome { refused, ack: None });
        }
        let ack = self
            .parts()
            .sequencer
            .submit_batch(accepted)
            .await
            .map_err(Refusal::from_submit)?;
        drop(publishing);
        Ok(BatchOutcome {
            refused,
            ack: Some(ack),
        })
    }

    /// The checks of every entry of a batch (blocking).
    fn admit(&self, entries: Vec<Vec<u8>>) -> Admitted {
        let mut admitted = Admitted {
            refused: Vec::new(),
            accepted: Vec::with_capacity(entries.len()),
            publishing: Publishing {
                mail: self.clone(),
                req_hashes: Vec::new(),
            },
        };
        for (position, bytes) in entries.into_iter().enumerate() {
            match self.admit_one(&bytes, &mut admitted.publishing) {
                Ok(writes) => admitted.accepted.push((bytes, writes)),
                Err(refusal) => admitted.refused.push((position, refusal)),
            }
        }
        admitted
    }

    /// One entry of a batch: its checks, and for a publication its req_hash held in
    /// `publishing` (so a second one in the same batch is a duplicate too).
    fn admit_one(
        &self,
        bytes: &[u8],
        publishing: &mut Publishing,
    ) -> Result<Vec<IndexWrite>, Refusal> {
        let checked = check_entry(bytes, None, &self.inner.batches, &self.inner.author_keys)?;
        let writes = index_writes(&checked.entry);
        if let Some((author, author_key, req_hash)) = checked.publication {
            if !account_in_log_domain(&author, self.origin()) {
                return Err(Refusal::Unauthorized(format!(
                    "{author} is not an account of this gateway's domain"
                )));
            }
            if !self.publishing().insert(req_hash) {
                return Err(Refusal::Duplicate);
            }
            publishing.req_hashes.push(req_hash);
            self.check_publication(&author, &author_key, &req_hash)?;
        }
        Ok(writes)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use herald_proto::entry::{KeyPublication, MailParties, Notarization, SealedKeyPublication};
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

    fn opening() -> PublicationOpening {
        PublicationOpening {
            parties: MailParties::new([6; 32], "alice@alpha.test", "bob@beta.test").unwrap(),
            author_key: SigningKey::from_bytes(&[5; 32]).verifying_key().to_bytes(),
        }
    }

    fn publication() -> pb::LogEntry {
        let (author_commitment, recipient_commitment) = opening().parties.commitments();
        SealedKeyPublication {
            req_hash: [1; 32],
            ciphertext_hash: [2; 32],
            ephemeral_key: [3; 32],
            wrapped_key: [4; 32],
            author_commitment,
            recipient_commitment,
            created: 1_800_000_000,
        }
        .sign(&SigningKey::from_bytes(&[5; 32]), &[6; 32])
    }

    fn refusal(bytes: &[u8]) -> Option<ClientErrorKind> {
        check_entry(
            bytes,
            Some(&opening().to_pb()),
            &VerifiedBatches::default(),
            &AuthorKeys::default(),
        )
        .err()
        .map(|e| e.kind())
    }

    #[test]
    fn attack_a_publication_naming_its_author_or_without_its_opening_is_refused() {
        let named = KeyPublication {
            req_hash: [1; 32],
            ciphertext_hash: [2; 32],
            ephemeral_key: [3; 32],
            wrapped_key: [4; 32],
            author: "alice@alpha.test".into(),
            created: 1_800_000_000,
        }
        .sign(&SigningKey::from_bytes(&[5; 32]))
        .encode_to_vec();
        assert_eq!(refusal(&named), Some(ClientErrorKind::InvalidEntry));
        let sealed = publication().encode_to_vec();
        assert_eq!(
            check_entry(
                &sealed,
                None,
                &VerifiedBatches::default(),
                &AuthorKeys::default()
            )
            .err()
            .map(|e| e.kind()),
            Some(ClientErrorKind::Unauthorized)
        );
        // An opening naming someone else does not open the commitments.
        let mut other = opening();
        other.parties = MailParties::new([6; 32], "mallory@alpha.test", "bob@beta.test").unwrap();
        assert_eq!(
            check_entry(
                &sealed,
                Some(&other.to_pb()),
                &VerifiedBatches::default(),
                &AuthorKeys::default()
            )
            .err()
            .map(|e| e.kind()),
            Some(ClientErrorKind::InvalidEntry)
        );
    }

    #[test]
    fn signed_notarizations_and_publications_pass() {
        assert_eq!(refusal(&notarization().encode_to_vec()), None);
        let checked = check_entry(
            &publication().encode_to_vec(),
            Some(&opening().to_pb()),
            &VerifiedBatches::default(),
            &AuthorKeys::default(),
        )
        .unwrap();
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

    #[test]
    fn batch_notarizations_verify_their_batch_signature_once() {
        let items: Vec<Notarization> = (0..8u64)
            .map(|i| Notarization {
                digest: [i as u8; 32],
                media_type: String::new(),
                label: format!("item {i}"),
                created: 1_800_000_000,
            })
            .collect();
        let key = SigningKey::from_bytes(&[6; 32]);
        let entries = herald_proto::entry::sign_notarization_batch(&items, &key).unwrap();
        let batches = VerifiedBatches::default();
        for entry in &entries {
            assert!(
                check_entry(
                    &entry.encode_to_vec(),
                    None,
                    &batches,
                    &AuthorKeys::default()
                )
                .is_ok()
            );
        }
        assert_eq!(
            batches.set().len(),
            1,
            "one batch, one remembered signature"
        );
        // An item changed after signing leads to another root: refused, whatever is cached.
        let mut forged = entries[3].clone();
        let Some(log_entry::Kind::BatchNotarization(n)) = &mut forged.kind else {
            unreachable!()
        };
        n.label = "item 3, amended".into();
        assert_eq!(
            check_entry(
                &forged.encode_to_vec(),
                None,
                &batches,
                &AuthorKeys::default()
            )
            .err()
            .map(|e| e.kind()),
            Some(ClientErrorKind::InvalidEntry)
        );
    }
}
