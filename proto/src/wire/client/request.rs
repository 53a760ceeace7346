//! The bounds of a `/herald/client/1` request ([`pb::ClientRequest`]) and of the request
//! messages checked here: a batch, a registration, a delivery-status query.

use crate::merkle::HASH_LEN;
use crate::wire::pb::{self, client_request, inclusion_request};
use crate::wire::validate::{KEY_LEN, SIGNATURE_LEN, exact, sized};
use crate::wire::{MAX_ACCOUNT_BYTES, MAX_LOG_ENTRY_BYTES, MAX_MSG_ID_BYTES, MAX_ORIGIN_BYTES};
use crate::wire::{Validate, WireError};

use super::{
    MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_CLIENT_REQUEST_BYTES, MAX_ENROLMENT_CODE_BYTES,
    MAX_ENTRY_PAGE_COUNT, mail, relay_batch,
};

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
