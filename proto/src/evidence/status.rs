//! The delivery-status answer (DESIGN §3.4): a gateway's notary records of one mail, each with
//! its inclusion proof in one cosigned checkpoint, checked once here for the light client
//! (`herald status`) and for a sender's gateway asking the recipient's (S_A asks S_B).
//!
//! [`verify_status`] takes nothing on the gateway's word. Cheap checks first: the answer's
//! shape (bounds, every proof for the checkpoint's size, indexes strictly increasing so no
//! record is counted twice); then the checkpoint, once, against the log's witness policy
//! ([`LogTrust::verify_cosigned`]); then, per record, the Merkle path to that checkpoint's
//! root, that the leaf is an `Evidence` record about the asked msg_id, and its signature by
//! the log's key (the gateway that saw the event signs with its log key, see
//! [`crate::entry::verify_evidence`]). One bad record refuses the whole answer: a gateway that
//! serves a forged or misplaced record is shown to, not half-trusted.

use crate::checkpoint::{CosignedCheckpoint, PolicyError};
use crate::entry::{EntryError, EvidenceRecord, verify_evidence_leaf};
use crate::inclusion::{InclusionError, LogTrust};
use crate::merkle::Hash;
use crate::wire::{EVIDENCE_NONCE_BYTES, MAX_EVIDENCE_PER_ANSWER, MAX_MSG_ID_BYTES, pb};

/// Why a delivery-status answer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The asked msg_id is empty or longer than `MAX_MSG_ID_BYTES`.
    #[error("a msg_id is 1 to {MAX_MSG_ID_BYTES} bytes, this one {0}")]
    BadMsgId(usize),
    /// No record, or more than `MAX_EVIDENCE_PER_ANSWER`.
    #[error("an answer holds 1 to {MAX_EVIDENCE_PER_ANSWER} records, this one {0}")]
    RecordCount(usize),
    /// A record has no inclusion proof.
    #[error("record {position} has no inclusion proof")]
    MissingProof {
        /// Its position in the answer.
        position: usize,
    },
    /// The records are not in strictly increasing log order (a record repeated or reordered).
    #[error("record {position} is not after the one before it in the log")]
    OutOfOrder {
        /// Its position in the answer.
        position: usize,
    },
    /// The checkpoint is not a checkpoint of the log cosigned as its policy requires.
    #[error("the checkpoint is not cosigned as the log's witness policy requires: {0}")]
    NotCosigned(PolicyError),
    /// A record is not proved in the checkpoint.
    #[error("record {position} is not included in the checkpoint: {error}")]
    NotIncluded {
        /// Its position in the answer.
        position: usize,
        /// Why.
        error: InclusionError,
    },
    /// A passed-on answer's nonce is not `wire::EVIDENCE_NONCE_BYTES` long.
    #[error("a nonce is {EVIDENCE_NONCE_BYTES} bytes, this one {0}")]
    BadNonce(usize),
    /// A passed-on answer is not signed, over all of it and the asker's nonce, by the log's key:
    /// the gateway that passed it on altered, trimmed or replayed it.
    #[error("the answer is not signed by the log's key over all of it and this nonce: {0}")]
    NotSignedByLog(EntryError),
    /// A record is not a validly signed evidence record about the asked msg_id.
    #[error("record {position}: {error}")]
    BadRecord {
        /// Its position in the answer.
        position: usize,
        /// Why.
        error: EntryError,
    },
}

/// One record, proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenRecord {
    /// Its content, signature checked.
    pub record: EvidenceRecord,
    /// Its index in the log.
    pub index: u64,
    /// Its Merkle leaf hash.
    pub leaf_hash: Hash,
    /// Its audit path, leaf side first.
    pub path: Vec<Hash>,
}

/// A verified delivery-status answer: the mail's records in log order, all in one checkpoint
/// cosigned as the log's policy requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStatus {
    /// The mail.
    pub msg_id: Vec<u8>,
    /// The records, oldest first.
    pub records: Vec<ProvenRecord>,
    /// The checkpoint they are proven in.
    pub checkpoint: CosignedCheckpoint,
    /// Records the gateway says it logged after that checkpoint (its word: unproven).
    pub pending: u32,
}

/// Checks `answer`, a gateway's answer about `msg_id` from the log `trust` describes, at time
/// `now` (see the module docs).
pub fn verify_status(
    trust: &LogTrust,
    msg_id: &[u8],
    answer: &pb::EvidenceAnswer,
    now: u64,
) -> Result<DeliveryStatus, StatusError> {
    if msg_id.is_empty() || msg_id.len() > MAX_MSG_ID_BYTES {
        return Err(StatusError::BadMsgId(msg_id.len()));
    }
    let count = answer.records.len();
    if count == 0 || count > MAX_EVIDENCE_PER_ANSWER {
        return Err(StatusError::RecordCount(count));
    }
    let mut previous = None;
    for (position, logged) in answer.records.iter().enumerate() {
        let proof = logged
            .proof
            .as_ref()
            .ok_or(StatusError::MissingProof { position })?;
        if previous.is_some_and(|p| proof.leaf_index <= p) {
            return Err(StatusError::OutOfOrder { position });
        }
        previous = Some(proof.leaf_index);
    }
    let checkpoint = trust
        .verify_cosigned(&answer.checkpoint, now)
        .map_err(StatusError::NotCosigned)?;
    let gateway = trust.log().public_key();
    let mut records = Vec::with_capacity(count);
    for (position, logged) in answer.records.iter().enumerate() {
        let proof = logged
            .proof
            .as_ref()
            .ok_or(StatusError::MissingProof { position })?;
        let leaf_hash = trust.leaf_hash(&logged.entry);
        let inclusion = trust
            .verify_inclusion(checkpoint.checkpoint(), &leaf_hash, proof)
            .map_err(|error| StatusError::NotIncluded { position, error })?;
        let record = verify_evidence_leaf(&logged.entry, gateway, msg_id)
            .map_err(|error| StatusError::BadRecord { position, error })?;
        records.push(ProvenRecord {
            record,
            index: inclusion.index(),
            leaf_hash,
            path: inclusion.path().to_vec(),
        });
    }
    Ok(DeliveryStatus {
        msg_id: msg_id.to_vec(),
        records,
        checkpoint,
        pending: answer.pending,
    })
}
