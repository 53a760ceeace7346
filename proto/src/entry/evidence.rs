//! `Evidence`: the gateway's notary records of a mail's life (DESIGN §3.4), signed with the
//! gateway's log key (see [`super::identity`] for why that key, and how its uses stay apart).
//!
//! Addresses appear only as salted commitments `commit(salt, address) =
//! KDF("herald v1 evidence address", lp(salt) ‖ lp(address))`, so a public log does not show who
//! mails whom. The salt is 32 random bytes chosen per mail by the sender and carried with the mail,
//! never logged: whoever holds it and an address can check a record; nobody else can test guesses.
//! Addresses are committed byte for byte; callers pass the canonical (lower-case) address
//! ([`MailParties::new`] makes it so).
//!
//! **Who may write what.** [`EvidenceRecord::new`] is the one constructor a gateway uses: it
//! refuses an unspecified kind, a msg_id outside 1..=`MAX_MSG_ID_BYTES`, a reason over
//! `MAX_REASON_BYTES`, and a `NON_DELIVERY`, `EXPIRY` or `REJECTION` without a reason (those
//! kinds exist to say why). [`verify_evidence`] applies the same rules to a logged record, so
//! a record no honest gateway could have written is refused as well as a forged one.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use super::{EntryError, fixed, lp, signing_input, verify_signature};
use crate::wire::{MAX_ACCOUNT_BYTES, MAX_MSG_ID_BYTES, MAX_REASON_BYTES, pb};

/// The label that starts an evidence record's signing input (signed by the gateway).
pub const EVIDENCE_LABEL: &str = "herald v1 entry evidence";

/// The KDF label of an address commitment.
pub const ADDRESS_COMMITMENT_LABEL: &str = "herald v1 evidence address";

/// `KDF("herald v1 evidence address", lp(salt) ‖ lp(address))`.
pub fn commit_address(salt: &[u8; 32], address: &str) -> [u8; 32] {
    let mut ikm = Vec::with_capacity(16 + 32 + address.len());
    lp(&mut ikm, salt);
    lp(&mut ikm, address.as_bytes());
    blake3::derive_key(ADDRESS_COMMITMENT_LABEL, &ikm)
}

/// Whether records of `kind` must say why (DESIGN §3.4: non-delivery, expiry and rejection
/// carry their reason).
pub fn reason_required(kind: pb::EvidenceKind) -> bool {
    matches!(
        kind,
        pb::EvidenceKind::NonDelivery | pb::EvidenceKind::Expiry | pb::EvidenceKind::Rejection
    )
}

/// The two addresses of one mail and its salt: what its records' commitments commit to, and
/// what a party needs to open them. The salt is the mail's (chosen by the sender and carried
/// with the mail), so both parties hold it and nobody who reads only the log does.
#[derive(Clone, PartialEq, Eq)]
pub struct MailParties {
    salt: [u8; 32],
    sender: String,
    recipient: String,
}

impl std::fmt::Debug for MailParties {
    // The salt opens the commitments: it stays out of logs and error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailParties")
            .field("sender", &self.sender)
            .field("recipient", &self.recipient)
            .finish_non_exhaustive()
    }
}

impl MailParties {
    /// The parties `sender` → `recipient` of a mail salted with `salt`. Addresses are
    /// lower-cased (ASCII) so that every party commits to the same bytes; each must be 1 to
    /// `MAX_ACCOUNT_BYTES` bytes.
    pub fn new(salt: [u8; 32], sender: &str, recipient: &str) -> Result<Self, EntryError> {
        for (field, address) in [
            ("MailParties.sender", sender),
            ("MailParties.recipient", recipient),
        ] {
            if address.is_empty() || address.len() > MAX_ACCOUNT_BYTES {
                return Err(EntryError::BadFieldLength { field });
            }
        }
        Ok(MailParties {
            salt,
            sender: sender.to_ascii_lowercase(),
            recipient: recipient.to_ascii_lowercase(),
        })
    }

    /// The salt.
    pub fn salt(&self) -> &[u8; 32] {
        &self.salt
    }

    /// The sender's canonical address.
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// The recipient's canonical address.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// `(commit_address(salt, sender), commit_address(salt, recipient))`.
    pub fn commitments(&self) -> ([u8; 32], [u8; 32]) {
        (
            commit_address(&self.salt, &self.sender),
            commit_address(&self.salt, &self.recipient),
        )
    }

    /// Whether `record` commits to these parties (a party opening the commitments).
    pub fn open(&self, record: &EvidenceRecord) -> bool {
        self.commitments() == (record.sender_commitment, record.recipient_commitment)
    }
}

/// One notary record: what happened to which mail, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRecord {
    /// What happened.
    pub kind: pb::EvidenceKind,
    /// The mail's identifier.
    pub msg_id: Vec<u8>,
    /// [`commit_address`] of the sender.
    pub sender_commitment: [u8; 32],
    /// [`commit_address`] of the recipient.
    pub recipient_commitment: [u8; 32],
    /// When the gateway saw it, Unix seconds.
    pub time: u64,
    /// Why, for non-delivery, expiry and rejection; may be empty.
    pub reason: String,
}

impl EvidenceRecord {
    /// The record of `kind` for the mail `msg_id` between `parties`, seen at `time`, saying
    /// `reason`; refused as the module docs say.
    pub fn new(
        kind: pb::EvidenceKind,
        msg_id: &[u8],
        parties: &MailParties,
        time: u64,
        reason: &str,
    ) -> Result<Self, EntryError> {
        let (sender_commitment, recipient_commitment) = parties.commitments();
        let record = EvidenceRecord {
            kind,
            msg_id: msg_id.to_vec(),
            sender_commitment,
            recipient_commitment,
            time,
            reason: reason.to_owned(),
        };
        record.check_shape()?;
        Ok(record)
    }

    /// The rules every record keeps, whoever wrote it.
    fn check_shape(&self) -> Result<(), EntryError> {
        if self.kind == pb::EvidenceKind::Unspecified {
            return Err(EntryError::UnknownEvidenceKind(self.kind as i32));
        }
        if self.msg_id.is_empty() || self.msg_id.len() > MAX_MSG_ID_BYTES {
            return Err(EntryError::BadFieldLength {
                field: "Evidence.msg_id",
            });
        }
        if self.reason.len() > MAX_REASON_BYTES {
            return Err(EntryError::BadFieldLength {
                field: "Evidence.reason",
            });
        }
        if reason_required(self.kind) && self.reason.trim().is_empty() {
            return Err(EntryError::MissingReason(self.kind.as_str_name()));
        }
        Ok(())
    }

    /// The bytes the gateway signs. The kind is signed as its schema number (4 bytes LE).
    pub fn signing_input(&self) -> Vec<u8> {
        signing_input(
            EVIDENCE_LABEL,
            &[
                &(self.kind as i32).to_le_bytes(),
                &self.msg_id,
                &self.sender_commitment,
                &self.recipient_commitment,
                &self.time.to_le_bytes(),
                self.reason.as_bytes(),
            ],
        )
    }

    /// Signs this record with the gateway's (log) key, as a log entry.
    pub fn sign(&self, gateway: &SigningKey) -> pb::LogEntry {
        let signature = gateway.sign(&self.signing_input());
        pb::LogEntry {
            kind: Some(pb::log_entry::Kind::Evidence(pb::Evidence {
                kind: self.kind as i32,
                msg_id: self.msg_id.clone(),
                sender_commitment: self.sender_commitment.to_vec(),
                recipient_commitment: self.recipient_commitment.to_vec(),
                time: self.time,
                reason: self.reason.clone(),
                gateway_signature: signature.to_bytes().to_vec(),
            })),
        }
    }

    /// Whether this record is about a mail from `sender` to `recipient`, given the mail's salt.
    pub fn names(&self, salt: &[u8; 32], sender: &str, recipient: &str) -> bool {
        commit_address(salt, sender) == self.sender_commitment
            && commit_address(salt, recipient) == self.recipient_commitment
    }
}

/// Checks a record's gateway signature under `gateway` (the domain's log key); returns its
/// content. A kind this version does not know is refused: nothing it cannot name is vouched for.
pub fn verify_evidence(
    entry: &pb::Evidence,
    gateway: &VerifyingKey,
) -> Result<EvidenceRecord, EntryError> {
    let kind = match pb::EvidenceKind::try_from(entry.kind) {
        Ok(kind) if kind != pb::EvidenceKind::Unspecified => kind,
        _ => return Err(EntryError::UnknownEvidenceKind(entry.kind)),
    };
    let record = EvidenceRecord {
        kind,
        msg_id: entry.msg_id.clone(),
        sender_commitment: fixed("Evidence.sender_commitment", &entry.sender_commitment)?,
        recipient_commitment: fixed("Evidence.recipient_commitment", &entry.recipient_commitment)?,
        time: entry.time,
        reason: entry.reason.clone(),
    };
    record.check_shape()?;
    verify_signature(
        gateway.as_bytes(),
        &record.signing_input(),
        &entry.gateway_signature,
    )?;
    Ok(record)
}

/// [`verify_evidence`] of an encoded leaf that must be an `Evidence` record about `msg_id`.
pub fn verify_evidence_leaf(
    leaf: &[u8],
    gateway: &VerifyingKey,
    msg_id: &[u8],
) -> Result<EvidenceRecord, EntryError> {
    let entry =
        crate::wire::decode_valid::<pb::LogEntry>(leaf).map_err(|_| EntryError::NotEvidence)?;
    let Some(pb::log_entry::Kind::Evidence(evidence)) = entry.kind else {
        return Err(EntryError::NotEvidence);
    };
    if evidence.msg_id != msg_id {
        return Err(EntryError::OtherMail);
    }
    verify_evidence(&evidence, gateway)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: [u8; 32] = [7; 32];

    fn record() -> EvidenceRecord {
        EvidenceRecord {
            kind: pb::EvidenceKind::Handover,
            msg_id: b"m-1".to_vec(),
            sender_commitment: commit_address(&SALT, "alice@alpha.test"),
            recipient_commitment: commit_address(&SALT, "bob@beta.test"),
            time: 1_700_000_000,
            reason: String::new(),
        }
    }

    fn inner(entry: pb::LogEntry) -> pb::Evidence {
        match entry.kind {
            Some(pb::log_entry::Kind::Evidence(e)) => e,
            other => panic!("not evidence: {other:?}"),
        }
    }

    #[test]
    fn commitment_is_the_documented_kdf() {
        let mut ikm = Vec::new();
        ikm.extend_from_slice(&32u64.to_le_bytes());
        ikm.extend_from_slice(&SALT);
        ikm.extend_from_slice(&13u64.to_le_bytes());
        ikm.extend_from_slice(b"bob@beta.test");
        assert_eq!(
            commit_address(&SALT, "bob@beta.test"),
            blake3::derive_key("herald v1 evidence address", &ikm)
        );
        // Without the salt, the address cannot be tested: another salt, another commitment.
        assert_ne!(
            commit_address(&[8; 32], "bob@beta.test"),
            commit_address(&SALT, "bob@beta.test")
        );
    }

    #[test]
    fn a_signed_record_verifies_and_names_its_parties() {
        let gateway = SigningKey::from_bytes(&[1; 32]);
        let entry = inner(record().sign(&gateway));
        let r = verify_evidence(&entry, &gateway.verifying_key()).unwrap();
        assert_eq!(r, record());
        assert!(r.names(&SALT, "alice@alpha.test", "bob@beta.test"));
        assert!(!r.names(&SALT, "bob@beta.test", "alice@alpha.test"));
    }

    #[test]
    fn kind_and_reason_are_signed() {
        let gateway = SigningKey::from_bytes(&[1; 32]);
        let good = inner(record().sign(&gateway));
        // (A kind that needs no reason, so that the signature is what refuses it.)
        let mut t = good.clone();
        t.kind = pb::EvidenceKind::Consignment as i32;
        assert_eq!(
            verify_evidence(&t, &gateway.verifying_key()),
            Err(EntryError::BadSignature)
        );
        let mut t = good;
        t.reason = "virus".into();
        assert_eq!(
            verify_evidence(&t, &gateway.verifying_key()),
            Err(EntryError::BadSignature)
        );
    }
}
