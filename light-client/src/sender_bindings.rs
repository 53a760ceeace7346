//! What a session's own verifications of other domains' proofs found, kept for its next ones
//! (issue 12 §7): a mail reader checks the sender's binding for every mail, and a sender each
//! recipient's prekey; the same signed bytes are not checked twice.
//!
//! - [`CheckpointMemo`] (proto): a checkpoint's log signature and cosignatures, once per note.
//! - [`SenderBindings`]: a sender's whole binding answer (binding leaf, its proof, the
//!   checkpoint, the revocations), once per exact bytes. A changed binding, a new checkpoint, a
//!   revocation added — any other bytes — are verified in full; so is anything after the clock
//!   went back, or against another trust. Soundness as for the checkpoint memo: the answer's
//!   verification depends only on its bytes, the account, the trust, and the latest cosignature
//!   time that counts (`now + max_skew`), and what passed under one limit passes under a later
//!   one. Bounded ([`SenderBindings::CAPACITY`], oldest first out).

// `VerifyError` is large, as in `key_transparency`, whose verification this wraps.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};

use herald_proto::inclusion::{CheckpointMemo, LogTrust};
use herald_proto::wire::pb;
use prost::Message as _;
use sha2::{Digest as _, Sha256};

use crate::key_transparency::{VerifiedBindingAnswer, verify_binding_answer_memo};
use crate::verify::VerifyError;

/// A session's memory of its verifications (module docs). Never shared between sessions.
#[derive(Clone, Debug, Default)]
pub struct Verified {
    /// Checkpoints verified.
    pub checkpoints: CheckpointMemo,
    /// Senders' binding answers verified.
    pub bindings: SenderBindings,
}

#[derive(Clone, Debug)]
struct Remembered {
    trust: LogTrust,
    limit: u64,
    answer: VerifiedBindingAnswer,
}

/// Binding answers verified, by their exact bytes and account (module docs).
#[derive(Clone, Debug, Default)]
pub struct SenderBindings {
    entries: HashMap<[u8; 32], Remembered>,
    order: VecDeque<[u8; 32]>,
    hits: u64,
}

impl SenderBindings {
    /// Most answers remembered.
    pub const CAPACITY: usize = 256;

    /// How many verifications were answered from memory.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    fn key(account: &str, answer: &pb::BindingAnswer) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((account.len() as u64).to_le_bytes());
        h.update(account.as_bytes());
        h.update(answer.encode_to_vec());
        h.finalize().into()
    }
}

impl Verified {
    /// `answer` for `account` verified against `trust` at `now` (see
    /// [`verify_binding_answer`](crate::verify_binding_answer)), from memory when these exact
    /// bytes were verified before for this account and trust under an earlier limit.
    pub fn binding_answer(
        &mut self,
        trust: &LogTrust,
        account: &str,
        answer: pb::BindingAnswer,
        now: u64,
        max_skew: u64,
    ) -> Result<VerifiedBindingAnswer, VerifyError> {
        let limit = now.saturating_add(max_skew);
        let key = SenderBindings::key(account, &answer);
        let bindings = &mut self.bindings;
        if let Some(r) = bindings.entries.get(&key)
            && &r.trust == trust
            && limit >= r.limit
        {
            bindings.hits += 1;
            return Ok(r.answer.clone());
        }
        let verified = verify_binding_answer_memo(
            trust,
            account,
            answer,
            now,
            max_skew,
            &mut self.checkpoints,
        )?;
        let remembered = Remembered {
            trust: trust.clone(),
            limit,
            answer: verified.clone(),
        };
        if bindings.entries.insert(key, remembered).is_none() {
            bindings.order.push_back(key);
        }
        while bindings.order.len() > SenderBindings::CAPACITY {
            if let Some(old) = bindings.order.pop_front() {
                bindings.entries.remove(&old);
            }
        }
        Ok(verified)
    }
}
