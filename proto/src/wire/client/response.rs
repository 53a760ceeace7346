//! The gateway's refusals, as it sends them, and the bounds of a `/herald/client/1` answer
//! ([`pb::ClientResponse`]) and of the answer messages checked here: errors, evidence,
//! bindings, trust lists, entry pages.

use crate::merkle::HASH_LEN;
use crate::wire::pb::{self, client_response};
use crate::wire::validate::{exact, known_enum, sized};
use crate::wire::{MAX_LOG_ENTRY_BYTES, MAX_SIGNED_CHECKPOINT_BYTES, Validate, WireError};

use super::{
    MAX_ALERTS_PER_ANSWER, MAX_CLIENT_RESPONSE_BYTES, MAX_ENTRY_PAGE_BYTES, MAX_ENTRY_PAGE_COUNT,
    MAX_ERROR_MESSAGE_BYTES, MAX_EVIDENCE_PER_ANSWER, MAX_REVOCATIONS_PER_ANSWER,
    MAX_TRUSTED_PEERS, relay_batch,
};

/// The gateway's refusals, as it sends them.
impl pb::ClientResponse {
    /// The refusal of `kind` saying `message` (cut to the bound, see [`error`](Self::error)).
    pub fn refusal(kind: pb::ClientErrorKind, message: &str) -> Self {
        Self::error(pb::ClientError {
            kind: kind as i32,
            message: message.to_owned(),
            retry_after_ms: 0,
            tree_size: 0,
        })
    }

    /// The answer carrying `error`, its message cut at a character boundary to
    /// [`MAX_ERROR_MESSAGE_BYTES`] so that the answer always passes validation.
    pub fn error(error: pb::ClientError) -> Self {
        pb::ClientResponse {
            response: Some(client_response::Response::Error(
                error.cut(MAX_ERROR_MESSAGE_BYTES),
            )),
        }
    }
}

impl pb::ClientError {
    /// The same error, its message cut at a character boundary to at most `max` bytes.
    pub fn cut(mut self, max: usize) -> Self {
        let mut end = self.message.len().min(max);
        while !self.message.is_char_boundary(end) {
            end -= 1;
        }
        self.message.truncate(end);
        self
    }

    pub(super) fn validate_fields(&self, max_message: usize) -> Result<(), WireError> {
        known_enum::<pb::ClientErrorKind>("ClientError.kind", self.kind)?;
        sized("ClientError.message", self.message.len(), 0, max_message)
    }
}

impl Validate for pb::ClientResponse {
    const MAX_ENCODED_LEN: usize = MAX_CLIENT_RESPONSE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        match &self.response {
            None => Err(WireError::MissingField {
                field: "ClientResponse.response",
            }),
            Some(client_response::Response::Submitted(ack)) => ack.validate_fields(),
            Some(client_response::Response::BatchSubmitted(ack)) => ack.validate_fields(),
            Some(client_response::Response::Checkpoint(c)) => c.validate(),
            Some(client_response::Response::Entries(page)) => page.validate_fields(),
            Some(client_response::Response::Inclusion(answer)) => {
                exact("InclusionAnswer.leaf_hash", &answer.leaf_hash, HASH_LEN)?;
                answer
                    .proof
                    .as_ref()
                    .ok_or(WireError::MissingField {
                        field: "InclusionAnswer.proof",
                    })?
                    .validate()
            }
            Some(client_response::Response::Consistency(c)) => c.validate(),
            Some(client_response::Response::Alerts(list)) => {
                if list.alerts.len() > MAX_ALERTS_PER_ANSWER {
                    return Err(WireError::TooManyElements {
                        field: "AlertList.alerts",
                        count: list.alerts.len(),
                        max: MAX_ALERTS_PER_ANSWER,
                    });
                }
                list.alerts.iter().try_for_each(Validate::validate)
            }
            Some(client_response::Response::Included(leaf)) => leaf.validate_fields(false),
            Some(client_response::Response::Binding(answer)) => answer.validate_fields(),
            Some(client_response::Response::Trust(list)) => list.validate_fields(),
            Some(client_response::Response::PasswordParams(p)) => p.validate(),
            Some(client_response::Response::LoginChallenge(c)) => c.validate(),
            Some(client_response::Response::LoginAccepted(_)) => Ok(()),
            Some(client_response::Response::Session(frame)) => frame.validate(),
            Some(client_response::Response::PrekeyBundle(b)) => b.validate(),
            Some(client_response::Response::SessionClosed(_)) => Ok(()),
            Some(client_response::Response::RelayAccepted(a)) => a.validate_fields(),
            Some(client_response::Response::RelayChunkProgress(p)) => p.validate_fields(),
            Some(client_response::Response::Error(e)) => e.validate_fields(MAX_ERROR_MESSAGE_BYTES),
            Some(client_response::Response::Evidence(answer)) => answer.validate_fields(),
            Some(client_response::Response::Policy(rules)) => rules.validate_fields(),
            Some(client_response::Response::RelaysAccepted(a)) => {
                relay_batch::validate_relays_accepted(a)
            }
        }
    }
}

impl pb::EvidenceAnswer {
    /// The bounds of an answer: a checkpoint and 1 to `MAX_EVIDENCE_PER_ANSWER` records, or,
    /// signed for a passed-on query (`evidence::unproven_relayed_answer`), neither.
    fn validate_fields(&self) -> Result<(), WireError> {
        let unproven = !self.gateway_signature.is_empty() && self.records.is_empty();
        let least = usize::from(!unproven);
        sized(
            "EvidenceAnswer.checkpoint",
            self.checkpoint.len(),
            least,
            MAX_SIGNED_CHECKPOINT_BYTES,
        )?;
        sized(
            "EvidenceAnswer.records",
            self.records.len(),
            least,
            MAX_EVIDENCE_PER_ANSWER,
        )?;
        for record in &self.records {
            sized(
                "LoggedRecord.entry",
                record.entry.len(),
                1,
                MAX_LOG_ENTRY_BYTES,
            )?;
            record
                .proof
                .as_ref()
                .ok_or(WireError::MissingField {
                    field: "LoggedRecord.proof",
                })?
                .validate()?;
        }
        if !self.gateway_signature.is_empty() {
            exact(
                "EvidenceAnswer.gateway_signature",
                &self.gateway_signature,
                crate::wire::validate::SIGNATURE_LEN,
            )?;
        }
        Ok(())
    }
}

impl pb::BindingAnswer {
    /// Also the bounds of a prekey bundle's binding (`wire::paep`).
    pub(in crate::wire) fn validate_fields(&self) -> Result<(), WireError> {
        self.binding
            .as_ref()
            .ok_or(WireError::MissingField {
                field: "BindingAnswer.binding",
            })?
            .validate_fields(false)?;
        if self.revocations.len() > MAX_REVOCATIONS_PER_ANSWER {
            return Err(WireError::TooManyElements {
                field: "BindingAnswer.revocations",
                count: self.revocations.len(),
                max: MAX_REVOCATIONS_PER_ANSWER,
            });
        }
        self.revocations
            .iter()
            .try_for_each(|r| r.validate_fields(false))
    }
}

impl pb::TrustList {
    fn validate_fields(&self) -> Result<(), WireError> {
        self.own
            .as_ref()
            .ok_or(WireError::MissingField {
                field: "TrustList.own",
            })?
            .validate_fields()?;
        if self.peers.len() > MAX_TRUSTED_PEERS {
            return Err(WireError::TooManyElements {
                field: "TrustList.peers",
                count: self.peers.len(),
                max: MAX_TRUSTED_PEERS,
            });
        }
        self.peers
            .iter()
            .try_for_each(pb::LogTrust::validate_fields)
    }
}

impl pb::EntryPage {
    fn validate_fields(&self) -> Result<(), WireError> {
        let count = self.entries.len();
        if count == 0 || count > MAX_ENTRY_PAGE_COUNT as usize {
            return Err(WireError::FieldSize {
                field: "EntryPage.entries",
                len: count,
                min: 1,
                max: MAX_ENTRY_PAGE_COUNT as usize,
            });
        }
        let mut total = 0usize;
        for entry in &self.entries {
            sized("EntryPage.entries[]", entry.len(), 1, MAX_LOG_ENTRY_BYTES)?;
            total += entry.len();
        }
        sized(
            "EntryPage.entries (total bytes)",
            total,
            1,
            MAX_ENTRY_PAGE_BYTES + MAX_LOG_ENTRY_BYTES,
        )
    }
}
