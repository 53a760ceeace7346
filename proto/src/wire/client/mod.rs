//! The client protocol `/herald/client/1` (`client.proto`): the bounds its messages are checked
//! against after decoding (here), and its client side: the request of each call and the check
//! that an answer is the one asked for (`answer.rs`).

mod answer;
mod mail;
mod mail_batch;
mod mail_cycle;
mod mail_transfer;
mod relay_batch;
mod session;

pub use answer::{
    AnswerError, batch_outcomes, expect_alerts, expect_batch_submitted, expect_binding,
    expect_checkpoint, expect_consistency, expect_entries, expect_evidence, expect_inclusion,
    expect_policy, expect_publication, expect_registered, expect_submitted,
    expect_submitted_proved, expect_trust, response_kind,
};
pub use mail::{
    MAX_ATTACHMENT_MEDIA_TYPE_BYTES, MAX_ATTACHMENT_NAME_BYTES, MAX_ATTACHMENTS,
    MAX_DELIVERY_REASON_BYTES, MAX_DOMAIN_BYTES, MAX_INBOX_ENTRIES, MAX_INBOX_WAIT_MS,
    MAX_MAIL_CONTENT_BYTES, MAX_OUTBOX_ENTRIES, MAX_SUBJECT_BYTES, expect_inbox, expect_mail,
    expect_mail_accepted, expect_mail_acknowledged, expect_mail_prekey, expect_outbox,
    expect_relay_accepted, expect_sender_binding,
};
pub use mail_batch::{
    MAX_FETCH_MAILS, MAX_FETCHED_MAILS_BYTES, MAX_SENDER_BINDINGS, MAX_SENDER_BINDINGS_BYTES,
    expect_mails, expect_mails_acknowledged, expect_sender_bindings, fetch_batches,
};
pub use mail_cycle::expect_next_mails;
pub use mail_transfer::{
    MAIL_CHUNK_BYTES, MAX_ONE_REQUEST_CIPHERTEXT_BYTES, MAX_TRANSFER_BYTES, UPLOAD_ID_BYTES,
    expect_mail_part, expect_relay_chunk_progress, expect_upload_progress,
};
pub use relay_batch::{MAX_RELAYS_PER_REQUEST, expect_relays_accepted};
pub use session::{
    expect_login_accepted, expect_login_challenge, expect_password_changed, expect_password_params,
    expect_prekey_bundle, expect_prekey_status, expect_session_closed, expect_session_frame,
    session_response_kind,
};

use super::pb::{self, client_request, client_response, inclusion_request};
use super::validate::{KEY_LEN, SIGNATURE_LEN, exact, known_enum, sized};
use super::{
    MAX_ACCOUNT_BYTES, MAX_EQUIVOCATION_BYTES, MAX_INCLUSION_PROOF_BYTES, MAX_LOCATION_WITNESSES,
    MAX_LOG_ENTRY_BYTES, MAX_MSG_ID_BYTES, MAX_ORIGIN_BYTES, MAX_SIGNED_CHECKPOINT_BYTES,
    MAX_VERIFIER_KEY_BYTES,
};
use super::{Validate, WireError};
use crate::merkle::HASH_LEN;

/// Most entries in one [`pb::EntryPage`] (and the largest `EntriesRequest.count`): one entry bundle.
pub const MAX_ENTRY_PAGE_COUNT: u32 = 256;

/// A gateway stops filling an [`pb::EntryPage`] once it holds this many bytes of entries (it always
/// returns at least one entry, so a page holds at most this plus one entry).
pub const MAX_ENTRY_PAGE_BYTES: usize = 1024 * 1024;

/// Longest human-readable message in a [`pb::ClientError`].
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// Most equivocation proofs in one [`pb::AlertList`]: a gateway distrusts a log after one, so a
/// handful per origin is all a client needs, and 16 of the largest fit one response.
pub const MAX_ALERTS_PER_ANSWER: usize = 16;

/// Longest enrolment code in a [`pb::RegisterAccount`].
pub const MAX_ENROLMENT_CODE_BYTES: usize = 64;

/// Most revocations in one [`pb::BindingAnswer`]: an account is disabled once per key, so a
/// handful is a long history; the gateway sends the latest ones.
pub const MAX_REVOCATIONS_PER_ANSWER: usize = 16;

/// Most peer logs in one [`pb::TrustList`]: 64 of the largest `LogTrust`s fit one response.
pub const MAX_TRUSTED_PEERS: usize = 64;

/// Largest encoded `IdentityBinding` or `IdentityRevocation` log entry (an account of 320
/// bytes, keys, signatures, a time and their tags): what a [`pb::BindingAnswer`] carries.
const MAX_IDENTITY_ENTRY_BYTES: usize = MAX_ACCOUNT_BYTES + 3 * KEY_LEN + 2 * SIGNATURE_LEN + 64;

/// Most records in one [`pb::EvidenceAnswer`]: a mail's life is a handful of events (DESIGN
/// §3.4); a gateway never logs more than this many for one msg_id.
pub const MAX_EVIDENCE_PER_ANSWER: usize = 64;

/// Largest encoded [`pb::PublicationOpening`]: two addresses, a salt and a key with their tags.
const MAX_OPENING_BYTES: usize = 2 * (MAX_ACCOUNT_BYTES + 3) + 2 * (KEY_LEN + 2);

/// Largest encoded [`pb::ClientRequest`] on `/herald/client/1`: one log entry, the opening a
/// sealed publication travels with, and framing (a [`pb::SubmitBatch`] there is bounded by
/// this too; whole batches travel on streams).
pub const MAX_CLIENT_REQUEST_BYTES: usize = MAX_LOG_ENTRY_BYTES + MAX_OPENING_BYTES + 64;

/// Most entries in one [`pb::SubmitBatch`]: one sequencing round at the default `batch_max`.
pub const MAX_BATCH_ENTRIES: usize = 4096;

/// Most bytes of entries (their lengths summed) in one [`pb::SubmitBatch`].
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Longest message of one entry's refusal in a [`pb::BatchAck`], so that a batch whose every
/// entry is refused still fits one response.
pub const MAX_BATCH_REFUSAL_MESSAGE_BYTES: usize = 128;

/// Largest encoded [`pb::StreamRequest`]: a full batch (each entry with at most 4 bytes of tag
/// and length), its id and framing.
pub const MAX_STREAM_REQUEST_BYTES: usize = MAX_BATCH_BYTES + 4 * MAX_BATCH_ENTRIES + 64;

/// Largest encoded [`pb::StreamResponse`]: a response and its id.
pub const MAX_STREAM_RESPONSE_BYTES: usize = MAX_CLIENT_RESPONSE_BYTES + 32;

/// Most requests a gateway reads from one stream ahead of its answers (and a client keeps in
/// flight on one stream): beyond it, the stream's flow control makes the client wait.
pub const MAX_STREAM_INFLIGHT: usize = 128;

/// Largest encoded [`pb::ClientResponse`]: a full page of entries (page bytes, one more entry,
/// and up to 6 bytes of tag and length per entry).
pub const MAX_CLIENT_RESPONSE_BYTES: usize =
    MAX_ENTRY_PAGE_BYTES + MAX_LOG_ENTRY_BYTES + 6 * MAX_ENTRY_PAGE_COUNT as usize + 64;

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

    fn validate_fields(&self, max_message: usize) -> Result<(), WireError> {
        known_enum::<pb::ClientErrorKind>("ClientError.kind", self.kind)?;
        sized("ClientError.message", self.message.len(), 0, max_message)
    }
}

impl Validate for pb::ClientRequest {
    const MAX_ENCODED_LEN: usize = MAX_CLIENT_REQUEST_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        match &self.request {
            None => Err(WireError::MissingField {
                field: "ClientRequest.request",
            }),
            Some(client_request::Request::Submit(s)) => {
                sized("SubmitEntry.entry", s.entry.len(), 1, MAX_LOG_ENTRY_BYTES)?;
                s.opening
                    .as_ref()
                    .map_or(Ok(()), pb::PublicationOpening::validate_fields)
            }
            Some(client_request::Request::Checkpoint(_)) => Ok(()),
            Some(client_request::Request::Entries(e)) => sized(
                "EntriesRequest.count",
                e.count as usize,
                1,
                MAX_ENTRY_PAGE_COUNT as usize,
            ),
            Some(client_request::Request::Inclusion(i)) => match &i.leaf {
                None => Err(WireError::MissingField {
                    field: "InclusionRequest.leaf",
                }),
                Some(inclusion_request::Leaf::Index(_)) => Ok(()),
                Some(inclusion_request::Leaf::LeafHash(h)) => {
                    exact("InclusionRequest.leaf_hash", h, HASH_LEN)
                }
            },
            Some(client_request::Request::Consistency(_)) => Ok(()),
            Some(client_request::Request::Alerts(a)) => {
                sized("AlertsRequest.origin", a.origin.len(), 0, MAX_ORIGIN_BYTES)
            }
            Some(client_request::Request::Register(r)) => r.validate_fields(),
            Some(client_request::Request::Binding(b)) => sized(
                "BindingRequest.account",
                b.account.len(),
                1,
                MAX_ACCOUNT_BYTES,
            ),
            Some(client_request::Request::Publication(p)) => {
                exact("PublicationRequest.req_hash", &p.req_hash, HASH_LEN)
            }
            Some(client_request::Request::Trust(_)) => Ok(()),
            Some(client_request::Request::PasswordParams(r)) => r.validate(),
            Some(client_request::Request::LoginShare(r)) => r.validate(),
            Some(client_request::Request::LoginFinish(r)) => r.validate_fields(),
            Some(client_request::Request::Session(frame)) => frame.validate(),
            Some(client_request::Request::PrekeyBundle(r)) => r.validate(),
            Some(client_request::Request::SubmitBatch(b)) => b.validate_fields(),
            Some(client_request::Request::Evidence(e)) => e.validate_fields(),
            Some(client_request::Request::Policy(_)) => Ok(()),
            Some(client_request::Request::RelayPrekey(r)) => r.validate_fields(),
            Some(client_request::Request::RelayMail(r)) => r.validate_fields(),
            Some(client_request::Request::RelayEvidence(r)) => r.validate_fields(),
            Some(client_request::Request::RelayMails(b)) => relay_batch::validate_relay_mails(b),
            Some(client_request::Request::RelayChunk(r)) => r.validate_fields(),
            Some(client_request::Request::RelayLargeMail(r)) => r.validate_fields(),
        }
    }
}

impl pb::SubmitBatch {
    fn validate_fields(&self) -> Result<(), WireError> {
        sized(
            "SubmitBatch.entries",
            self.entries.len(),
            1,
            MAX_BATCH_ENTRIES,
        )?;
        let mut total = 0usize;
        for entry in &self.entries {
            sized("SubmitBatch.entries[]", entry.len(), 1, MAX_LOG_ENTRY_BYTES)?;
            total += entry.len();
        }
        sized(
            "SubmitBatch.entries (total bytes)",
            total,
            1,
            MAX_BATCH_BYTES,
        )
    }
}

impl pb::BatchAck {
    fn validate_fields(&self) -> Result<(), WireError> {
        if self.refused.len() > MAX_BATCH_ENTRIES {
            return Err(WireError::TooManyElements {
                field: "BatchAck.refused",
                count: self.refused.len(),
                max: MAX_BATCH_ENTRIES,
            });
        }
        let mut next = 0usize;
        for refusal in &self.refused {
            let position = refusal.position as usize;
            if position < next || position >= MAX_BATCH_ENTRIES {
                return Err(WireError::Inconsistent {
                    field: "BatchAck.refused",
                    reason: "positions out of order or past the batch bound",
                });
            }
            next = position + 1;
            refusal
                .error
                .as_ref()
                .ok_or(WireError::MissingField {
                    field: "EntryRefusal.error",
                })?
                .validate_fields(MAX_BATCH_REFUSAL_MESSAGE_BYTES)?;
        }
        match (&self.checkpoint, &self.range) {
            (None, None) => {}
            (Some(checkpoint), Some(range)) => {
                checkpoint.validate()?;
                range.validate()?;
                if range.begin != self.first_index {
                    return Err(WireError::Inconsistent {
                        field: "BatchAck.range",
                        reason: "it does not begin at the first index",
                    });
                }
            }
            (Some(_), None) => {
                return Err(WireError::MissingField {
                    field: "BatchAck.range",
                });
            }
            (None, Some(_)) => {
                return Err(WireError::MissingField {
                    field: "BatchAck.checkpoint",
                });
            }
        }
        self.consistency.as_ref().map_or(Ok(()), Validate::validate)
    }
}

impl pb::SubmitAck {
    fn validate_fields(&self) -> Result<(), WireError> {
        exact("SubmitAck.leaf_hash", &self.leaf_hash, HASH_LEN)?;
        self.checkpoint
            .as_ref()
            .ok_or(WireError::MissingField {
                field: "SubmitAck.checkpoint",
            })?
            .validate()?;
        self.inclusion.as_ref().map_or(Ok(()), Validate::validate)?;
        self.consistency.as_ref().map_or(Ok(()), Validate::validate)
    }
}

impl Validate for pb::StreamRequest {
    const MAX_ENCODED_LEN: usize = MAX_STREAM_REQUEST_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        if self.id == 0 {
            return Err(WireError::Inconsistent {
                field: "StreamRequest.id",
                reason: "0 is the stream's own",
            });
        }
        self.request
            .as_ref()
            .ok_or(WireError::MissingField {
                field: "StreamRequest.request",
            })?
            .validate()
    }
}

impl Validate for pb::StreamRequestId {
    const MAX_ENCODED_LEN: usize = MAX_STREAM_REQUEST_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        Ok(())
    }
}

impl Validate for pb::StreamResponse {
    const MAX_ENCODED_LEN: usize = MAX_STREAM_RESPONSE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        self.response
            .as_ref()
            .ok_or(WireError::MissingField {
                field: "StreamResponse.response",
            })?
            .validate()
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

impl pb::EvidenceRequest {
    /// The bounds of a delivery-status request: the msg_id, and a peer's domain only with a
    /// nonce of exactly [`EVIDENCE_NONCE_BYTES`](crate::wire::EVIDENCE_NONCE_BYTES) (none
    /// without).
    fn validate_fields(&self) -> Result<(), WireError> {
        sized(
            "EvidenceRequest.msg_id",
            self.msg_id.len(),
            1,
            MAX_MSG_ID_BYTES,
        )?;
        if self.domain.is_empty() {
            return sized("EvidenceRequest.nonce", self.nonce.len(), 0, 0);
        }
        sized(
            "EvidenceRequest.domain",
            self.domain.len(),
            1,
            mail::MAX_DOMAIN_BYTES,
        )?;
        exact(
            "EvidenceRequest.nonce",
            &self.nonce,
            crate::wire::EVIDENCE_NONCE_BYTES,
        )
    }
}

impl pb::RegisterAccount {
    fn validate_fields(&self) -> Result<(), WireError> {
        sized(
            "RegisterAccount.account",
            self.account.len(),
            1,
            MAX_ACCOUNT_BYTES,
        )?;
        exact("RegisterAccount.identity_key", &self.identity_key, KEY_LEN)?;
        exact(
            "RegisterAccount.signed_prekey",
            &self.signed_prekey,
            KEY_LEN,
        )?;
        exact(
            "RegisterAccount.signed_prekey_signature",
            &self.signed_prekey_signature,
            SIGNATURE_LEN,
        )?;
        sized(
            "RegisterAccount.enrolment_code",
            self.enrolment_code.len(),
            1,
            MAX_ENROLMENT_CODE_BYTES,
        )?;
        exact("RegisterAccount.signature", &self.signature, SIGNATURE_LEN)?;
        self.password
            .as_ref()
            .ok_or(WireError::MissingField {
                field: "RegisterAccount.password",
            })?
            .validate()
    }
}

impl pb::BindingAnswer {
    /// Also the bounds of a prekey bundle's binding (`wire::paep`).
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
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

// The nested messages are bounded by the response limit; these keep the arithmetic honest.
// A batch ack refusing every entry (each refusal: position, kind, a full message, both numbers,
// and 12 bytes of tags and lengths), with a checkpoint and both proofs, fits one response.
const _: () = assert!(
    MAX_BATCH_ENTRIES * (MAX_BATCH_REFUSAL_MESSAGE_BYTES + 5 + 2 + 11 + 11 + 12)
        + MAX_SIGNED_CHECKPOINT_BYTES
        + super::MAX_RANGE_PROOF_BYTES
        + super::MAX_CONSISTENCY_PROOF_BYTES
        + 64
        < MAX_CLIENT_RESPONSE_BYTES
);
// A stream frame holds any request a plain one may hold.
const _: () = assert!(MAX_CLIENT_REQUEST_BYTES + 16 < MAX_STREAM_REQUEST_BYTES);
const _: () = assert!(MAX_SIGNED_CHECKPOINT_BYTES < MAX_CLIENT_RESPONSE_BYTES);
const _: () = assert!(MAX_INCLUSION_PROOF_BYTES + HASH_LEN < MAX_CLIENT_RESPONSE_BYTES);
const _: () = assert!(KEY_LEN == HASH_LEN);
// A full alert list: each alert with up to 4 bytes of tag and length, and the list's own framing.
const _: () =
    assert!(MAX_ALERTS_PER_ANSWER * (MAX_EQUIVOCATION_BYTES + 4) + 16 < MAX_CLIENT_RESPONSE_BYTES);

// A binding answer of identity leaves (each with a full proof and a full note, 8 bytes of tags
// and lengths) fits one response.
const _: () = assert!(
    (1 + MAX_REVOCATIONS_PER_ANSWER)
        * (MAX_IDENTITY_ENTRY_BYTES + MAX_INCLUSION_PROOF_BYTES + MAX_SIGNED_CHECKPOINT_BYTES + 16)
        < MAX_CLIENT_RESPONSE_BYTES
);
// A full trust list: 65 logs of 32 witness keys, every key string at its bound (3 bytes of tag
// and length each, 8 for each log's own framing and fields).
const _: () = assert!(
    (1 + MAX_TRUSTED_PEERS) * ((1 + MAX_LOCATION_WITNESSES) * (MAX_VERIFIER_KEY_BYTES + 3) + 16)
        < MAX_CLIENT_RESPONSE_BYTES
);

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::wire::decode_valid;

    fn request(r: client_request::Request) -> Vec<u8> {
        pb::ClientRequest { request: Some(r) }.encode_to_vec()
    }

    #[test]
    fn a_status_request_through_a_peer_needs_its_nonce_and_only_then() {
        use crate::wire::EVIDENCE_NONCE_BYTES;
        let ok = |r: pb::ClientRequest| decode_valid::<pb::ClientRequest>(&r.encode_to_vec());
        assert!(ok(pb::ClientRequest::evidence(b"m")).is_ok());
        assert!(
            ok(pb::ClientRequest::peer_evidence(
                "d1.test",
                b"m",
                &[7; EVIDENCE_NONCE_BYTES]
            ))
            .is_ok()
        );
        assert!(
            ok(pb::ClientRequest::relay_evidence(
                "d0.test",
                b"m",
                &[7; EVIDENCE_NONCE_BYTES]
            ))
            .is_ok()
        );
        for bad in [
            // A peer's records without a nonce, or with a short one.
            pb::ClientRequest::peer_evidence("d1.test", b"m", &[]),
            pb::ClientRequest::peer_evidence("d1.test", b"m", &[7; 8]),
            // A nonce without a domain.
            pb::ClientRequest::peer_evidence("", b"m", &[7; EVIDENCE_NONCE_BYTES]),
            // A domain over the DNS bound, a msg_id over its bound.
            pb::ClientRequest::peer_evidence(&"d".repeat(254), b"m", &[7; EVIDENCE_NONCE_BYTES]),
            pb::ClientRequest::peer_evidence("d1.test", &[1; 65], &[7; EVIDENCE_NONCE_BYTES]),
            pb::ClientRequest::relay_evidence("", b"m", &[7; EVIDENCE_NONCE_BYTES]),
            pb::ClientRequest::relay_evidence("d0.test", b"", &[7; EVIDENCE_NONCE_BYTES]),
            pb::ClientRequest::relay_evidence("d0.test", b"m", &[7; 31]),
        ] {
            assert!(ok(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_request_without_kind_is_refused() {
        let bytes = pb::ClientRequest { request: None }.encode_to_vec();
        assert_eq!(
            decode_valid::<pb::ClientRequest>(&bytes),
            Err(WireError::MissingField {
                field: "ClientRequest.request"
            })
        );
    }

    #[test]
    fn page_count_is_bounded_both_ways() {
        for (count, ok) in [(0, false), (1, true), (256, true), (257, false)] {
            let bytes = request(client_request::Request::Entries(pb::EntriesRequest {
                start: 0,
                count,
            }));
            assert_eq!(
                decode_valid::<pb::ClientRequest>(&bytes).is_ok(),
                ok,
                "{count}"
            );
        }
    }

    #[test]
    fn inclusion_by_hash_needs_a_32_byte_hash() {
        for (len, ok) in [(31, false), (32, true), (33, false)] {
            let bytes = request(client_request::Request::Inclusion(pb::InclusionRequest {
                leaf: Some(inclusion_request::Leaf::LeafHash(vec![7; len])),
                tree_size: 0,
            }));
            assert_eq!(
                decode_valid::<pb::ClientRequest>(&bytes).is_ok(),
                ok,
                "{len}"
            );
        }
    }

    #[test]
    fn an_oversized_submission_is_refused() {
        // Just over the entry bound: decoded (the frame is small enough), then refused.
        let bytes = request(client_request::Request::Submit(pb::SubmitEntry {
            entry: vec![1; MAX_LOG_ENTRY_BYTES + 1],
            trusted_size: 0,
            opening: None,
        }));
        assert!(matches!(
            decode_valid::<pb::ClientRequest>(&bytes),
            Err(WireError::FieldSize {
                field: "SubmitEntry.entry",
                ..
            })
        ));
        // Far over: refused on length alone, never decoded.
        let bytes = request(client_request::Request::Submit(pb::SubmitEntry {
            entry: vec![1; MAX_CLIENT_REQUEST_BYTES],
            trusted_size: 0,
            opening: None,
        }));
        assert!(matches!(
            decode_valid::<pb::ClientRequest>(&bytes),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_full_page_fits_the_response_limit() {
        let entry = vec![9u8; MAX_ENTRY_PAGE_BYTES / MAX_ENTRY_PAGE_COUNT as usize];
        let mut entries = vec![entry; MAX_ENTRY_PAGE_COUNT as usize - 1];
        entries.push(vec![1u8; MAX_LOG_ENTRY_BYTES]);
        let bytes = pb::ClientResponse {
            response: Some(client_response::Response::Entries(pb::EntryPage {
                start: 0,
                entries,
            })),
        }
        .encode_to_vec();
        assert!(decode_valid::<pb::ClientResponse>(&bytes).is_ok());
    }

    #[test]
    fn alert_lists_are_bounded_and_each_alert_validated() {
        let alert = |log_key: &str| pb::Equivocation {
            log_key: log_key.into(),
            hash_algorithm: pb::HashAlgorithm::Blake3 as i32,
            checkpoint_a: b"a".to_vec(),
            checkpoint_b: b"b".to_vec(),
            evidence: Some(pb::equivocation::Evidence::SameSize(pb::SameSize {})),
        };
        let list = |alerts| {
            pb::ClientResponse {
                response: Some(client_response::Response::Alerts(pb::AlertList { alerts })),
            }
            .encode_to_vec()
        };
        assert!(decode_valid::<pb::ClientResponse>(&list(vec![alert("k"); 16])).is_ok());
        assert!(matches!(
            decode_valid::<pb::ClientResponse>(&list(vec![alert("k"); 17])),
            Err(WireError::TooManyElements { .. })
        ));
        assert!(matches!(
            decode_valid::<pb::ClientResponse>(&list(vec![alert("")])),
            Err(WireError::FieldSize { .. })
        ));
        let origin = |len| {
            request(client_request::Request::Alerts(pb::AlertsRequest {
                origin: "o".repeat(len),
            }))
        };
        assert!(decode_valid::<pb::ClientRequest>(&origin(0)).is_ok());
        assert!(decode_valid::<pb::ClientRequest>(&origin(MAX_ORIGIN_BYTES + 1)).is_err());
    }

    #[test]
    fn an_error_needs_a_known_kind() {
        let bytes = pb::ClientResponse {
            response: Some(client_response::Response::Error(pb::ClientError {
                kind: 99,
                message: String::new(),
                retry_after_ms: 0,
                tree_size: 0,
            })),
        }
        .encode_to_vec();
        assert!(matches!(
            decode_valid::<pb::ClientResponse>(&bytes),
            Err(WireError::UnknownEnumValue { .. })
        ));
    }

    fn register() -> pb::RegisterAccount {
        pb::RegisterAccount {
            account: "bob@beta.test".into(),
            identity_key: vec![1; 32],
            signed_prekey: vec![2; 32],
            signed_prekey_signature: vec![3; 64],
            enrolment_code: "code".into(),
            signature: vec![4; 64],
            password: Some(pb::PasswordRecord {
                w0: vec![5; 32],
                l: vec![6; 32],
                argon2: Some(pb::Argon2Params {
                    memory_kib: 64,
                    iterations: 1,
                    parallelism: 1,
                }),
            }),
        }
    }

    fn register_ok(r: pb::RegisterAccount) -> bool {
        decode_valid::<pb::ClientRequest>(&request(client_request::Request::Register(r))).is_ok()
    }

    #[test]
    fn a_registration_has_exact_keys_and_signatures() {
        assert!(register_ok(register()));
        let edits: [fn(&mut pb::RegisterAccount); 10] = [
            |r| r.identity_key.truncate(31),
            |r| r.identity_key.push(0),
            |r| r.signed_prekey.truncate(31),
            |r| r.signed_prekey_signature.push(0),
            |r| r.signature.truncate(63),
            |r| r.signature.clear(),
            |r| r.account.clear(),
            |r| r.enrolment_code.clear(),
            |r| r.password = None,
            |r| r.password.as_mut().unwrap().l.truncate(31),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut r = register();
            edit(&mut r);
            assert!(!register_ok(r), "edit {i}");
        }
    }

    #[test]
    fn a_registration_bounds_account_and_code() {
        for (len, ok) in [(MAX_ACCOUNT_BYTES, true), (MAX_ACCOUNT_BYTES + 1, false)] {
            let mut r = register();
            r.account = "a".repeat(len);
            assert_eq!(register_ok(r), ok, "account {len}");
        }
        for (len, ok) in [
            (1, true),
            (MAX_ENROLMENT_CODE_BYTES, true),
            (MAX_ENROLMENT_CODE_BYTES + 1, false),
        ] {
            let mut r = register();
            r.enrolment_code = "c".repeat(len);
            assert_eq!(register_ok(r), ok, "code {len}");
        }
    }

    #[test]
    fn lookups_bound_their_keys() {
        for (len, ok) in [(0, false), (1, true), (320, true), (321, false)] {
            let bytes = request(client_request::Request::Binding(pb::BindingRequest {
                account: "a".repeat(len),
            }));
            assert_eq!(
                decode_valid::<pb::ClientRequest>(&bytes).is_ok(),
                ok,
                "{len}"
            );
        }
        for (len, ok) in [(0, false), (31, false), (32, true), (33, false)] {
            let bytes = request(client_request::Request::Publication(
                pb::PublicationRequest {
                    req_hash: vec![9; len],
                },
            ));
            assert_eq!(
                decode_valid::<pb::ClientRequest>(&bytes).is_ok(),
                ok,
                "{len}"
            );
        }
        let trust = request(client_request::Request::Trust(pb::TrustRequest {}));
        assert!(decode_valid::<pb::ClientRequest>(&trust).is_ok());
    }

    fn leaf(proved: bool) -> pb::IncludedLeaf {
        pb::IncludedLeaf {
            entry: vec![1; 100],
            proof: proved.then(|| pb::InclusionProof {
                leaf_index: 0,
                tree_size: 1,
                hashes: vec![],
            }),
            checkpoint: if proved { b"note".to_vec() } else { vec![] },
        }
    }

    fn response(r: client_response::Response) -> Result<pb::ClientResponse, WireError> {
        decode_valid::<pb::ClientResponse>(
            &pb::ClientResponse { response: Some(r) }.encode_to_vec(),
        )
    }

    #[test]
    fn a_publication_answer_must_be_proved() {
        assert!(response(client_response::Response::Included(leaf(true))).is_ok());
        // A draft (no proof, no checkpoint) is a file format, never an answer.
        assert_eq!(
            response(client_response::Response::Included(leaf(false))),
            Err(WireError::MissingField {
                field: "IncludedLeaf.proof"
            })
        );
    }

    #[test]
    fn a_binding_answer_needs_its_binding_and_bounds_revocations() {
        let answer = |binding, revocations| {
            response(client_response::Response::Binding(pb::BindingAnswer {
                binding,
                revocations,
            }))
        };
        assert!(answer(Some(leaf(true)), vec![]).is_ok());
        assert!(
            answer(
                Some(leaf(true)),
                vec![leaf(true); MAX_REVOCATIONS_PER_ANSWER]
            )
            .is_ok()
        );
        assert!(matches!(
            answer(
                Some(leaf(true)),
                vec![leaf(true); MAX_REVOCATIONS_PER_ANSWER + 1]
            ),
            Err(WireError::TooManyElements { .. })
        ));
        assert_eq!(
            answer(None, vec![]),
            Err(WireError::MissingField {
                field: "BindingAnswer.binding"
            })
        );
        assert!(answer(Some(leaf(true)), vec![leaf(false)]).is_err());
    }

    fn log_trust(witnesses: usize, key_len: usize) -> pb::LogTrust {
        pb::LogTrust {
            log_key: "k".repeat(key_len),
            hash_algorithm: pb::HashAlgorithm::Blake3 as i32,
            witness_keys: vec!["w".repeat(key_len); witnesses],
            quorum: 1,
        }
    }

    #[test]
    fn a_trust_list_needs_its_own_log_and_bounds_peers() {
        let list = |own, peers| {
            response(client_response::Response::Trust(pb::TrustList {
                own,
                peers,
            }))
        };
        assert!(list(Some(log_trust(2, 10)), vec![]).is_ok());
        assert_eq!(
            list(None, vec![]),
            Err(WireError::MissingField {
                field: "TrustList.own"
            })
        );
        assert!(matches!(
            list(
                Some(log_trust(2, 10)),
                vec![log_trust(2, 10); MAX_TRUSTED_PEERS + 1]
            ),
            Err(WireError::TooManyElements { .. })
        ));
        // Each peer's policy is checked as a location's is: a peer without witnesses is refused.
        assert!(list(Some(log_trust(2, 10)), vec![log_trust(0, 10)]).is_err());
        // The largest trust list the bounds allow fits the response limit.
        let biggest = log_trust(MAX_LOCATION_WITNESSES, MAX_VERIFIER_KEY_BYTES);
        assert!(list(Some(biggest.clone()), vec![biggest; MAX_TRUSTED_PEERS]).is_ok());
    }

    #[test]
    fn the_certified_mail_error_kinds_are_known() {
        for kind in [
            pb::ClientErrorKind::Duplicate,
            pb::ClientErrorKind::Pending,
            pb::ClientErrorKind::Unauthorized,
        ] {
            let bytes = pb::ClientResponse {
                response: Some(client_response::Response::Error(pb::ClientError {
                    kind: kind as i32,
                    message: String::new(),
                    retry_after_ms: 500,
                    tree_size: 0,
                })),
            }
            .encode_to_vec();
            assert!(
                decode_valid::<pb::ClientResponse>(&bytes).is_ok(),
                "{kind:?}"
            );
        }
    }

    fn batch_request(entries: Vec<Vec<u8>>) -> Result<pb::ClientRequest, WireError> {
        decode_valid::<pb::ClientRequest>(&request(client_request::Request::SubmitBatch(
            pb::SubmitBatch {
                entries,
                trusted_size: 0,
            },
        )))
    }

    fn stream_request(entries: Vec<Vec<u8>>) -> Result<pb::StreamRequest, WireError> {
        let frame = pb::StreamRequest {
            id: 1,
            request: Some(pb::ClientRequest::submit_batch(entries, 0)),
        };
        decode_valid::<pb::StreamRequest>(&frame.encode_to_vec())
    }

    #[test]
    fn a_batch_is_bounded_by_count_and_bytes() {
        assert!(batch_request(vec![vec![1; 10]; 3]).is_ok());
        assert!(batch_request(vec![]).is_err());
        assert!(batch_request(vec![vec![1; 10], vec![]]).is_err());
        // A full batch travels on a stream, never as a plain request.
        let full = vec![vec![7u8; MAX_BATCH_BYTES / MAX_BATCH_ENTRIES]; MAX_BATCH_ENTRIES];
        assert!(stream_request(full.clone()).is_ok());
        assert!(matches!(
            batch_request(full.clone()),
            Err(WireError::TooLarge { .. })
        ));
        let mut too_many = full.clone();
        too_many.push(vec![1]);
        assert!(matches!(
            stream_request(too_many),
            Err(WireError::FieldSize {
                field: "SubmitBatch.entries",
                ..
            })
        ));
        let mut too_big = full;
        too_big[0].push(1);
        assert!(matches!(
            stream_request(too_big),
            Err(WireError::FieldSize {
                field: "SubmitBatch.entries (total bytes)",
                ..
            })
        ));
        // The largest entries a batch can hold fit the stream's frame limit.
        let largest = vec![vec![3u8; MAX_LOG_ENTRY_BYTES]; MAX_BATCH_BYTES / MAX_LOG_ENTRY_BYTES];
        assert!(stream_request(largest).is_ok());
    }

    #[test]
    fn a_stream_request_has_an_id_and_a_request() {
        let ok = pb::StreamRequest {
            id: 9,
            request: Some(pb::ClientRequest::checkpoint(false)),
        };
        assert!(decode_valid::<pb::StreamRequest>(&ok.encode_to_vec()).is_ok());
        let zero = pb::StreamRequest {
            id: 0,
            ..ok.clone()
        };
        assert!(matches!(
            decode_valid::<pb::StreamRequest>(&zero.encode_to_vec()),
            Err(WireError::Inconsistent { .. })
        ));
        let empty = pb::StreamRequest {
            id: 3,
            request: None,
        };
        assert!(decode_valid::<pb::StreamRequest>(&empty.encode_to_vec()).is_err());
        // A request that does not validate inside a frame that decodes: its id is still read.
        let bad = pb::StreamRequest {
            id: 77,
            request: Some(pb::ClientRequest::entries(0, 0)),
        }
        .encode_to_vec();
        assert!(decode_valid::<pb::StreamRequest>(&bad).is_err());
        assert_eq!(
            decode_valid::<pb::StreamRequestId>(&bad).map(|r| r.id),
            Ok(77)
        );
    }

    fn refusal(position: u32, message_len: usize) -> pb::EntryRefusal {
        pb::EntryRefusal {
            position,
            error: Some(pb::ClientError {
                kind: pb::ClientErrorKind::InvalidEntry as i32,
                message: "m".repeat(message_len),
                retry_after_ms: u64::MAX,
                tree_size: u64::MAX,
            }),
        }
    }

    fn batch_ack(ack: pb::BatchAck) -> Result<pb::ClientResponse, WireError> {
        response(client_response::Response::BatchSubmitted(ack))
    }

    fn proved_ack() -> pb::BatchAck {
        pb::BatchAck {
            first_index: 4,
            refused: vec![refusal(1, 5)],
            checkpoint: Some(pb::SignedCheckpoint {
                note: b"note".to_vec(),
            }),
            range: Some(pb::RangeProof {
                begin: 4,
                end: 6,
                tree_size: 6,
                hashes: vec![vec![1; 32]],
            }),
            consistency: None,
        }
    }

    #[test]
    fn a_batch_ack_is_checked_as_a_whole() {
        assert!(batch_ack(proved_ack()).is_ok());
        let edits: [fn(&mut pb::BatchAck); 7] = [
            |a| a.refused = vec![refusal(3, 1), refusal(3, 1)],
            |a| a.refused = vec![refusal(3, 1), refusal(2, 1)],
            |a| a.refused = vec![refusal(MAX_BATCH_ENTRIES as u32, 1)],
            |a| a.refused = vec![refusal(0, MAX_BATCH_REFUSAL_MESSAGE_BYTES + 1)],
            |a| a.range = None,
            |a| a.first_index = 5,
            |a| a.range.as_mut().unwrap().hashes.clear(),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut ack = proved_ack();
            edit(&mut ack);
            assert!(batch_ack(ack).is_err(), "edit {i}");
        }
        let mut no_error = proved_ack();
        no_error.refused[0].error = None;
        assert!(batch_ack(no_error).is_err());
        // Everything refused: no checkpoint, no range.
        let all_refused = pb::BatchAck {
            first_index: 0,
            refused: (0..MAX_BATCH_ENTRIES as u32)
                .map(|p| refusal(p, MAX_BATCH_REFUSAL_MESSAGE_BYTES))
                .collect(),
            checkpoint: None,
            range: None,
            consistency: None,
        };
        assert!(batch_ack(all_refused).is_ok());
    }

    #[test]
    fn a_submit_ack_bounds_its_proofs() {
        let ack = |hashes: usize| pb::SubmitAck {
            index: 1,
            leaf_hash: vec![1; 32],
            checkpoint: Some(pb::SignedCheckpoint {
                note: b"note".to_vec(),
            }),
            inclusion: Some(pb::InclusionProof {
                leaf_index: 1,
                tree_size: 2,
                hashes: vec![vec![2; 32]; hashes],
            }),
            consistency: None,
        };
        assert!(response(client_response::Response::Submitted(ack(1))).is_ok());
        assert!(response(client_response::Response::Submitted(ack(65))).is_err());
    }

    #[test]
    fn rate_limited_is_a_known_error_kind() {
        let bytes = pb::ClientResponse::error(pb::ClientError {
            kind: pb::ClientErrorKind::RateLimited as i32,
            message: "slow down".into(),
            retry_after_ms: 250,
            tree_size: 0,
        })
        .encode_to_vec();
        assert!(decode_valid::<pb::ClientResponse>(&bytes).is_ok());
    }
}
