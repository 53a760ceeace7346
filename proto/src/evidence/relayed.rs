//! A delivery-status answer passed on by another gateway (DESIGN §3.4: "S_A, and A through it,
//! asks S_B"). A asks its own gateway S_A for the records S_B logged about a mail; S_A asks S_B
//! (`RelayEvidenceRequest`) and returns S_B's answer unchanged. A trusts S_A for none of it:
//!
//! - every record, proof and the cosigned checkpoint are checked against S_B's log, from A's own
//!   trust list, exactly as a direct answer ([`verify_status`]);
//! - S_B signs the whole answer with its log key, over A's fresh nonce too
//!   ([`sign_relayed_answer`]): S_A can drop no record, swap in an older answer (fewer records,
//!   an older checkpoint) or another mail's, nor add or reorder anything, without the signature
//!   failing ([`verify_relayed_status`]).
//!
//! S_B signs every answer it gives, "nothing logged" and "logged, not yet cosigned" too (an
//! answer without records: [`RelayedStatus::NotFound`], [`RelayedStatus::Pending`]), so S_A
//! can invent neither: what S_A can still do is not answer, or refuse in its own name (a
//! refusal, never a [`RelayedStatus`]), and a client says so.

use ed25519_dalek::{Signer as _, SigningKey};

use super::status::{DeliveryStatus, StatusError, verify_status};
use crate::entry::{lp, signing_input, verify_signature};
use crate::inclusion::LogTrust;
use crate::wire::{EVIDENCE_NONCE_BYTES, pb};

/// The label the answering gateway's signature over a passed-on answer starts with.
pub const RELAYED_EVIDENCE_LABEL: &str = "herald v1 relayed evidence";

/// The bytes S_B signs: the label, the msg_id asked about, the asker's nonce, the checkpoint,
/// the pending count, and every record's entry and proof, in the answer's order.
pub fn relayed_answer_message(msg_id: &[u8], nonce: &[u8], answer: &pb::EvidenceAnswer) -> Vec<u8> {
    let mut records = Vec::new();
    for logged in &answer.records {
        lp(&mut records, &logged.entry);
        let proof = logged.proof.clone().unwrap_or_default();
        let mut p = Vec::with_capacity(16 + 32 * proof.hashes.len());
        p.extend_from_slice(&proof.leaf_index.to_le_bytes());
        p.extend_from_slice(&proof.tree_size.to_le_bytes());
        for h in &proof.hashes {
            lp(&mut p, h);
        }
        lp(&mut records, &p);
    }
    signing_input(
        RELAYED_EVIDENCE_LABEL,
        &[
            msg_id,
            nonce,
            &answer.checkpoint,
            &answer.pending.to_le_bytes(),
            &(answer.records.len() as u64).to_le_bytes(),
            &records,
        ],
    )
}

/// S_B: signs `answer` (about `msg_id`, asked with `nonce`) with its log key `gateway`, in
/// place.
pub fn sign_relayed_answer(
    answer: &mut pb::EvidenceAnswer,
    msg_id: &[u8],
    nonce: &[u8],
    gateway: &SigningKey,
) {
    answer.gateway_signature = gateway
        .sign(&relayed_answer_message(msg_id, nonce, answer))
        .to_bytes()
        .to_vec();
}

/// What S_B answered about a mail, verified: signed by S_B's log key over the asker's nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayedStatus {
    /// The records, each proven in one cosigned checkpoint.
    Found(Box<DeliveryStatus>),
    /// S_B has logged no record of the mail.
    NotFound,
    /// S_B has logged records of the mail that no cosigned checkpoint covers yet.
    Pending {
        /// How many (S_B's word, signed: unproven until covered).
        pending: u32,
    },
}

/// S_B: the answer to a passed-on query about a mail it logged nothing of
/// ([`RelayedStatus::NotFound`]) or whose records no cosigned checkpoint covers yet (`pending`
/// of them: [`RelayedStatus::Pending`]), signed like any other with
/// [`sign_relayed_answer`].
pub fn unproven_relayed_answer(
    msg_id: &[u8],
    nonce: &[u8],
    pending: u32,
    gateway: &SigningKey,
) -> pb::EvidenceAnswer {
    let mut answer = pb::EvidenceAnswer {
        pending,
        ..pb::EvidenceAnswer::default()
    };
    sign_relayed_answer(&mut answer, msg_id, nonce, gateway);
    answer
}

/// A: checks `answer`, the records of `msg_id` in the log `trust` describes (S_B's, from A's
/// own trust list), passed on by another gateway in answer to A's `nonce`: S_B's signature
/// over all of it first, then, when it holds records, everything [`verify_status`] checks. An
/// answer without records is S_B's signed "nothing logged" (`pending` 0) or "not yet
/// cosigned" (no checkpoint may come with it: nothing is proven in it).
pub fn verify_relayed_status(
    trust: &LogTrust,
    msg_id: &[u8],
    nonce: &[u8],
    answer: &pb::EvidenceAnswer,
    now: u64,
) -> Result<RelayedStatus, StatusError> {
    if nonce.len() != EVIDENCE_NONCE_BYTES {
        return Err(StatusError::BadNonce(nonce.len()));
    }
    verify_signature(
        trust.log().public_key().as_bytes(),
        &relayed_answer_message(msg_id, nonce, answer),
        &answer.gateway_signature,
    )
    .map_err(StatusError::NotSignedByLog)?;
    if answer.records.is_empty() {
        if !answer.checkpoint.is_empty() {
            return Err(StatusError::RecordCount(0));
        }
        return Ok(match answer.pending {
            0 => RelayedStatus::NotFound,
            pending => RelayedStatus::Pending { pending },
        });
    }
    verify_status(trust, msg_id, answer, now).map(|s| RelayedStatus::Found(Box::new(s)))
}
