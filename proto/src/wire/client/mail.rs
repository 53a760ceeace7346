//! Mail on `/herald/client/1` (`mail.proto`, DESIGN §3.2): the bounds of a mail's plaintext and
//! of the relay and mailbox messages, the requests, and the checks that an answer is the one
//! asked for.
//!
//! | message | limit | reason |
//! |---|---|---|
//! | `MailContent` (the plaintext M) | `MAX_MAIL_PLAINTEXT_BYTES` (8 MiB, DESIGN) | up to [`MAX_MAIL_CONTENT_BYTES`] its envelope fits one `ClientRequest` ([`MAX_CLIENT_REQUEST_BYTES`]) in a session frame and in a relay; a larger one travels in chunks (`mail_transfer`) |
//! | `MailContent.attachments` | [`MAX_ATTACHMENTS`] | a manifest a person reads |
//! | `Inbox` | [`MAX_INBOX_ENTRIES`] | one answer; the client acknowledges and lists again |
//! | `Outbox` | [`MAX_OUTBOX_ENTRIES`] | one answer, the newest |
//! | `InboxRequest.wait_ms` | [`MAX_INBOX_WAIT_MS`] | a held request stays well inside a client's timeout |
//!
//! **Why a mail in one request is this small.** Session frames and relays travel in one
//! `ClientRequest`, whose bound is one log entry (64 KiB): raising it raises what every peer
//! may make the gateway buffer per request. A mail of up to `MAX_MAIL_PLAINTEXT_BYTES` travels
//! in chunks instead (`mail_transfer`, docs/decisions.md "Mail larger than one request").

use super::answer::expect;
use super::session::expect_in_session;
use super::{AnswerError, MAX_CLIENT_REQUEST_BYTES};
use crate::merkle::HASH_LEN;
use crate::wire::pb::{self, client_request, client_response, session_request, session_response};
use crate::wire::validate::{SIGNATURE_LEN, exact, known_enum, sized};
use crate::wire::{MAX_ACCOUNT_BYTES, MAX_MSG_ID_BYTES, Validate, WireError};

/// Largest encoded `MailContent` (the plaintext M) whose envelope travels in one request; a
/// larger one (up to `MAX_MAIL_PLAINTEXT_BYTES`) travels in chunks (`mail_transfer`).
pub const MAX_MAIL_CONTENT_BYTES: usize = 60 * 1024;
/// Most attachments in one mail.
pub const MAX_ATTACHMENTS: usize = 64;
/// Longest attachment name.
pub const MAX_ATTACHMENT_NAME_BYTES: usize = 255;
/// Longest attachment media type.
pub const MAX_ATTACHMENT_MEDIA_TYPE_BYTES: usize = 127;
/// Longest subject (RFC 5322's line bound).
pub const MAX_SUBJECT_BYTES: usize = 998;
/// Longest domain name (RFC 1035).
pub const MAX_DOMAIN_BYTES: usize = 253;
/// Most entries in one `Inbox` answer.
pub const MAX_INBOX_ENTRIES: usize = 256;
/// Most entries in one `Outbox` answer.
pub const MAX_OUTBOX_ENTRIES: usize = 256;
/// Longest non-delivery reason in an `OutboxEntry`.
pub const MAX_DELIVERY_REASON_BYTES: usize = 256;
/// Longest a gateway holds an `InboxRequest` on an empty mailbox (`wait_ms`): well inside a
/// client's request timeout, and short enough that a held request ties up little.
pub const MAX_INBOX_WAIT_MS: u32 = 5_000;

/// The envelope overhead besides Z: msg_id, two addresses, Y_A, the prekey id, sig_A, tags.
const ENVELOPE_OVERHEAD: usize = MAX_MSG_ID_BYTES + 2 * MAX_ACCOUNT_BYTES + 32 + 64 + 64;
/// A relay's overhead besides the envelope: two domains, the time, the signature, tags.
const RELAY_OVERHEAD: usize = 2 * MAX_DOMAIN_BYTES + 64 + 64;
/// A session frame's overhead besides its plaintext: id, counter, tag, framing.
const FRAME_OVERHEAD: usize = 16 + 16 + 64;

// The largest mail fits one request, relayed and in a session frame (with its AEAD tag).
const _: () = assert!(
    MAX_MAIL_CONTENT_BYTES + 16 + ENVELOPE_OVERHEAD + RELAY_OVERHEAD < MAX_CLIENT_REQUEST_BYTES
);
const _: () = assert!(
    MAX_MAIL_CONTENT_BYTES + 16 + ENVELOPE_OVERHEAD + 32 + FRAME_OVERHEAD
        < MAX_CLIENT_REQUEST_BYTES
);

fn account(field: &'static str, account: &str) -> Result<(), WireError> {
    sized(field, account.len(), 1, MAX_ACCOUNT_BYTES)
}

fn domain(field: &'static str, domain: &str) -> Result<(), WireError> {
    sized(field, domain.len(), 1, MAX_DOMAIN_BYTES)
}

fn msg_id(field: &'static str, id: &[u8]) -> Result<(), WireError> {
    sized(field, id.len(), 1, MAX_MSG_ID_BYTES)
}

pub(super) fn required<'a, T>(
    field: &'static str,
    value: &'a Option<T>,
) -> Result<&'a T, WireError> {
    value.as_ref().ok_or(WireError::MissingField { field })
}

impl Validate for pb::MailContent {
    // A mail longer than one request travels in chunks (`mail_transfer`).
    const MAX_ENCODED_LEN: usize = crate::wire::MAX_MAIL_PLAINTEXT_BYTES;

    /// Also: each attachment's declared size and hash are its data's, and no name twice.
    fn validate(&self) -> Result<(), WireError> {
        sized(
            "MailContent.subject",
            self.subject.len(),
            0,
            MAX_SUBJECT_BYTES,
        )?;
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(WireError::TooManyElements {
                field: "MailContent.attachments",
                count: self.attachments.len(),
                max: MAX_ATTACHMENTS,
            });
        }
        let mut names = std::collections::BTreeSet::new();
        for a in &self.attachments {
            sized(
                "MailAttachment.name",
                a.name.len(),
                1,
                MAX_ATTACHMENT_NAME_BYTES,
            )?;
            if a.name.contains(['/', '\\', '\0']) || a.name == "." || a.name == ".." {
                return Err(WireError::Inconsistent {
                    field: "MailAttachment.name",
                    reason: "not a plain file name",
                });
            }
            sized(
                "MailAttachment.media_type",
                a.media_type.len(),
                1,
                MAX_ATTACHMENT_MEDIA_TYPE_BYTES,
            )?;
            exact("MailAttachment.hash", &a.hash, HASH_LEN)?;
            if a.size != a.data.len() as u64 {
                return Err(WireError::Inconsistent {
                    field: "MailAttachment.size",
                    reason: "not the length of the data",
                });
            }
            if blake3::hash(&a.data).as_bytes()[..] != a.hash[..] {
                return Err(WireError::Inconsistent {
                    field: "MailAttachment.hash",
                    reason: "not the BLAKE3 hash of the data",
                });
            }
            if !names.insert(a.name.as_str()) {
                return Err(WireError::DuplicateElement {
                    field: "MailContent.attachments (name)",
                });
            }
        }
        if let Some(part) = &self.certified {
            part.validate_fields()?;
        }
        Ok(())
    }
}

impl pb::CertifiedPart {
    /// The bounds of a carried certified-mail message: exactly one part, valid as its own
    /// message (its size is bounded by the `MailContent` around it).
    pub fn validate_fields(&self) -> Result<(), WireError> {
        use pb::certified_part::Part;
        match required("CertifiedPart.part", &self.part)? {
            Part::Sealed(m) => m.validate(),
            Part::Request(m) => m.validate(),
            Part::DirectKey(m) => m.validate(),
            Part::Receipt(m) => m.validate(),
        }
    }
}

impl pb::RelayEnvelope {
    /// The bounds of a relay envelope (checked again by `paep::verify_relay`).
    pub fn validate_fields(&self) -> Result<(), WireError> {
        domain("RelayEnvelope.from_domain", &self.from_domain)?;
        domain("RelayEnvelope.to_domain", &self.to_domain)?;
        required("RelayEnvelope.envelope", &self.envelope)?.validate()?;
        exact(
            "RelayEnvelope.gateway_signature",
            &self.gateway_signature,
            SIGNATURE_LEN,
        )
    }
}

impl pb::RelayPrekeyRequest {
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
        domain("RelayPrekeyRequest.from_domain", &self.from_domain)?;
        account("RelayPrekeyRequest.account", &self.account)
    }
}

impl pb::RelayEvidenceRequest {
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
        domain("RelayEvidenceRequest.from_domain", &self.from_domain)?;
        msg_id("RelayEvidenceRequest.msg_id", &self.msg_id)?;
        exact(
            "RelayEvidenceRequest.nonce",
            &self.nonce,
            crate::wire::EVIDENCE_NONCE_BYTES,
        )
    }
}

impl pb::RelayAccepted {
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
        msg_id("RelayAccepted.msg_id", &self.msg_id)
    }
}

/// The bounds of the mail kinds of a `SessionRequest`.
pub(super) fn validate_session_request(r: &session_request::Request) -> Result<(), WireError> {
    use session_request::Request;
    match r {
        Request::MailPrekey(m) => account("MailPrekeyRequest.account", &m.account),
        Request::SenderBinding(m) => account("SenderBindingRequest.account", &m.account),
        Request::SendMail(s) => required("SendMail.envelope", &s.envelope)?.validate(),
        Request::Inbox(i) if i.wait_ms > MAX_INBOX_WAIT_MS => Err(WireError::Inconsistent {
            field: "InboxRequest.wait_ms",
            reason: "longer than MAX_INBOX_WAIT_MS",
        }),
        Request::Inbox(_) | Request::Outbox(_) => Ok(()),
        Request::FetchMail(_) | Request::AcknowledgeMail(_) => Ok(()),
        Request::FetchMails(_) | Request::AcknowledgeMails(_) | Request::SenderBindings(_) => {
            super::mail_batch::validate_request(r)
        }
        Request::NextMails(n) => super::mail_cycle::validate_request(n),
        Request::UploadChunk(_) | Request::SendUploadedMail(_) => {
            super::mail_transfer::validate_session_request(r)
        }
        Request::FetchMailPart(_) => Ok(()),
        Request::PrekeyUpload(_) | Request::PrekeyStatus(_) | Request::PasswordChange(_) => Ok(()),
    }
}

/// The bounds of a `StoredMail` whose envelope's Z travels in parts (its ciphertext empty).
pub(super) fn validate_stored_mail_head(m: &pb::StoredMail) -> Result<(), WireError> {
    domain("StoredMail.from_domain", &m.from_domain)?;
    crate::paep::transfer::validate_head(required("StoredMail.envelope", &m.envelope)?)
}

/// The bounds of one `StoredMail` (alone or in a batch).
pub(super) fn validate_stored_mail(m: &pb::StoredMail) -> Result<(), WireError> {
    domain("StoredMail.from_domain", &m.from_domain)?;
    required("StoredMail.envelope", &m.envelope)?.validate()
}

/// The bounds of an `Inbox` (alone or in a `NextMailsAnswer`).
pub(super) fn validate_inbox(inbox: &pb::Inbox) -> Result<(), WireError> {
    if inbox.entries.len() > MAX_INBOX_ENTRIES {
        return Err(WireError::TooManyElements {
            field: "Inbox.entries",
            count: inbox.entries.len(),
            max: MAX_INBOX_ENTRIES,
        });
    }
    for e in &inbox.entries {
        msg_id("InboxEntry.msg_id", &e.msg_id)?;
        account("InboxEntry.sender", &e.sender)?;
    }
    Ok(())
}

/// The bounds of the mail kinds of a `SessionResponse`.
pub(super) fn validate_session_response(r: &session_response::Response) -> Result<(), WireError> {
    use session_response::Response;
    match r {
        Response::PrekeyBundle(b) => b.validate(),
        Response::SenderBinding(b) => b.validate_fields(),
        Response::MailAccepted(a) => msg_id("MailAccepted.msg_id", &a.msg_id),
        Response::Inbox(inbox) => validate_inbox(inbox),
        Response::Mail(m) => validate_stored_mail(m),
        Response::MailAcknowledged(_) => Ok(()),
        Response::Mails(_) | Response::MailsAcknowledged(_) | Response::SenderBindings(_) => {
            super::mail_batch::validate_response(r)
        }
        Response::NextMails(n) => super::mail_cycle::validate_response(n),
        Response::Outbox(outbox) => {
            if outbox.entries.len() > MAX_OUTBOX_ENTRIES {
                return Err(WireError::TooManyElements {
                    field: "Outbox.entries",
                    count: outbox.entries.len(),
                    max: MAX_OUTBOX_ENTRIES,
                });
            }
            for e in &outbox.entries {
                msg_id("OutboxEntry.msg_id", &e.msg_id)?;
                account("OutboxEntry.recipient", &e.recipient)?;
                known_enum::<pb::DeliveryState>("OutboxEntry.state", e.state)?;
                sized(
                    "OutboxEntry.reason",
                    e.reason.len(),
                    0,
                    MAX_DELIVERY_REASON_BYTES,
                )?;
            }
            Ok(())
        }
        Response::UploadProgress(_) | Response::MailPart(_) => {
            super::mail_transfer::validate_session_response(r)
        }
        Response::PrekeyStatus(_) | Response::PasswordChanged(_) | Response::Error(_) => Ok(()),
    }
}

/// The relay requests of `/herald/client/1` (gateway to gateway).
impl pb::ClientRequest {
    /// A relay of `envelope` (made by `paep::relay::sign_relay`).
    pub fn relay_mail(envelope: pb::RelayEnvelope) -> Self {
        Self::of(client_request::Request::RelayMail(envelope))
    }

    /// The records of the mail `msg_id` for a client of `from_domain`, signed over `nonce`
    /// (the client's challenge, passed on).
    pub fn relay_evidence(from_domain: &str, msg_id: &[u8], nonce: &[u8]) -> Self {
        Self::of(client_request::Request::RelayEvidence(
            pb::RelayEvidenceRequest {
                from_domain: from_domain.to_owned(),
                msg_id: msg_id.to_vec(),
                nonce: nonce.to_vec(),
            },
        ))
    }

    /// One prekey of `account` for a sender of `from_domain`.
    pub fn relay_prekey(from_domain: &str, account: &str) -> Self {
        Self::of(client_request::Request::RelayPrekey(
            pb::RelayPrekeyRequest {
                from_domain: from_domain.to_owned(),
                account: account.to_owned(),
            },
        ))
    }
}

/// The mail requests a session carries.
impl pb::SessionRequest {
    fn of(request: session_request::Request) -> Self {
        pb::SessionRequest {
            request: Some(request),
        }
    }

    /// One prekey of `account`, through the own gateway.
    pub fn mail_prekey(account: &str) -> Self {
        Self::of(session_request::Request::MailPrekey(
            pb::MailPrekeyRequest {
                account: account.to_owned(),
            },
        ))
    }

    /// The binding of the sender `account`, from its domain.
    pub fn sender_binding(account: &str) -> Self {
        Self::of(session_request::Request::SenderBinding(
            pb::SenderBindingRequest {
                account: account.to_owned(),
            },
        ))
    }

    /// Send `envelope`, giving up at `expires_at` (0: the gateway's default).
    pub fn send_mail(envelope: pb::MailEnvelope, expires_at: u64) -> Self {
        Self::of(session_request::Request::SendMail(pb::SendMail {
            envelope: Some(envelope),
            expires_at,
        }))
    }

    /// List the mailbox.
    pub fn inbox() -> Self {
        Self::inbox_waiting(0)
    }

    /// List the mailbox; if it is empty, the gateway may hold the answer up to `wait_ms`
    /// (at most [`MAX_INBOX_WAIT_MS`]) until a mail arrives.
    pub fn inbox_waiting(wait_ms: u32) -> Self {
        Self::of(session_request::Request::Inbox(pb::InboxRequest {
            wait_ms,
        }))
    }

    /// Mail `id`, whole.
    pub fn fetch_mail(id: u64) -> Self {
        Self::of(session_request::Request::FetchMail(pb::FetchMail { id }))
    }

    /// Delete mail `id`.
    pub fn acknowledge_mail(id: u64) -> Self {
        Self::of(session_request::Request::AcknowledgeMail(
            pb::AcknowledgeMail { id },
        ))
    }

    /// What became of the mails sent.
    pub fn outbox() -> Self {
        Self::of(session_request::Request::Outbox(pb::OutboxRequest {}))
    }
}

/// The answer to [`pb::ClientRequest::relay_mail`].
pub fn expect_relay_accepted(
    response: pb::ClientResponse,
    msg_id: &[u8],
) -> Result<pb::RelayAccepted, AnswerError> {
    let accepted = expect(response, "relay_mail", |r| match r {
        client_response::Response::RelayAccepted(a) => Ok(a),
        other => Err(Box::new(other)),
    })?;
    if accepted.msg_id != msg_id {
        return Err(AnswerError::Mismatch {
            what: "relayed msg_id",
            asked: format!("{msg_id:02x?}"),
            answered: format!("{:02x?}", accepted.msg_id),
        });
    }
    Ok(accepted)
}

/// The answer to a `mail_prekey` session request.
pub fn expect_mail_prekey(response: pb::SessionResponse) -> Result<pb::PrekeyBundle, AnswerError> {
    expect_in_session(response, "mail_prekey", |r| match r {
        session_response::Response::PrekeyBundle(b) => Ok(b),
        other => Err(Box::new(other)),
    })
}

/// The answer to a `sender_binding` session request.
pub fn expect_sender_binding(
    response: pb::SessionResponse,
) -> Result<pb::BindingAnswer, AnswerError> {
    expect_in_session(response, "sender_binding", |r| match r {
        session_response::Response::SenderBinding(b) => Ok(b),
        other => Err(Box::new(other)),
    })
}

/// The answer to a `send_mail` session request.
pub fn expect_mail_accepted(
    response: pb::SessionResponse,
) -> Result<pb::MailAccepted, AnswerError> {
    expect_in_session(response, "send_mail", |r| match r {
        session_response::Response::MailAccepted(a) => Ok(a),
        other => Err(Box::new(other)),
    })
}

/// The answer to an `inbox` session request.
pub fn expect_inbox(response: pb::SessionResponse) -> Result<pb::Inbox, AnswerError> {
    expect_in_session(response, "inbox", |r| match r {
        session_response::Response::Inbox(i) => Ok(i),
        other => Err(Box::new(other)),
    })
}

/// The answer to a `fetch_mail` session request for `id`.
pub fn expect_mail(response: pb::SessionResponse, id: u64) -> Result<pb::StoredMail, AnswerError> {
    let mail = expect_in_session(response, "fetch_mail", |r| match r {
        session_response::Response::Mail(m) => Ok(m),
        other => Err(Box::new(other)),
    })?;
    if mail.id != id {
        return Err(AnswerError::Mismatch {
            what: "mail id",
            asked: id.to_string(),
            answered: mail.id.to_string(),
        });
    }
    Ok(mail)
}

/// The answer to an `acknowledge_mail` session request.
pub fn expect_mail_acknowledged(response: pb::SessionResponse) -> Result<(), AnswerError> {
    expect_in_session(response, "acknowledge_mail", |r| match r {
        session_response::Response::MailAcknowledged(_) => Ok(()),
        other => Err(Box::new(other)),
    })
}

/// The answer to an `outbox` session request.
pub fn expect_outbox(response: pb::SessionResponse) -> Result<pb::Outbox, AnswerError> {
    expect_in_session(response, "outbox", |r| match r {
        session_response::Response::Outbox(o) => Ok(o),
        other => Err(Box::new(other)),
    })
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn attachment(name: &str, data: &[u8]) -> pb::MailAttachment {
        pb::MailAttachment {
            name: name.into(),
            media_type: "text/plain".into(),
            size: data.len() as u64,
            hash: blake3::hash(data).as_bytes().to_vec(),
            data: data.to_vec(),
        }
    }

    #[test]
    fn a_manifest_must_declare_its_data() {
        let ok = pb::MailContent {
            subject: "S".into(),
            body: b"B".to_vec(),
            attachments: vec![attachment("a.txt", b"aaa"), attachment("b.txt", b"bb")],
            certified: None,
        };
        assert_eq!(ok.validate(), Ok(()));
        let mut wrong_size = ok.clone();
        wrong_size.attachments[0].size = 4;
        let mut wrong_hash = ok.clone();
        wrong_hash.attachments[1].hash[0] ^= 1;
        let mut same_name = ok.clone();
        same_name.attachments[1].name = "a.txt".into();
        let mut path = ok.clone();
        path.attachments[0].name = "../etc/passwd".into();
        let mut too_many = ok.clone();
        too_many.attachments = (0..=MAX_ATTACHMENTS)
            .map(|i| attachment(&format!("{i}"), b""))
            .collect();
        for bad in [wrong_size, wrong_hash, same_name, path, too_many] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_largest_mail_fits_one_request_relayed() {
        let envelope = pb::MailEnvelope {
            msg_id: vec![0xff; MAX_MSG_ID_BYTES],
            sender: "a".repeat(MAX_ACCOUNT_BYTES),
            recipient: "b".repeat(MAX_ACCOUNT_BYTES),
            ephemeral_key: vec![0xff; 32],
            prekey_id: u64::MAX,
            ciphertext: vec![0xff; MAX_MAIL_CONTENT_BYTES + 16],
            sender_signature: vec![0xff; 64],
        };
        let relay = pb::ClientRequest::relay_mail(pb::RelayEnvelope {
            from_domain: "d".repeat(MAX_DOMAIN_BYTES),
            to_domain: "e".repeat(MAX_DOMAIN_BYTES),
            envelope: Some(envelope.clone()),
            expires_at: u64::MAX,
            gateway_signature: vec![0xff; 64],
        });
        assert!(relay.encoded_len() <= MAX_CLIENT_REQUEST_BYTES);
        let send = pb::SessionRequest::send_mail(envelope, u64::MAX);
        assert!(send.encoded_len() + 16 + FRAME_OVERHEAD <= MAX_CLIENT_REQUEST_BYTES);
    }

    #[test]
    fn an_inbox_wait_is_bounded() {
        for ms in [0, 1, MAX_INBOX_WAIT_MS] {
            assert_eq!(pb::SessionRequest::inbox_waiting(ms).validate(), Ok(()));
        }
        assert!(matches!(
            pb::SessionRequest::inbox_waiting(MAX_INBOX_WAIT_MS + 1).validate(),
            Err(WireError::Inconsistent {
                field: "InboxRequest.wait_ms",
                ..
            })
        ));
        assert_eq!(
            pb::SessionRequest::inbox(),
            pb::SessionRequest::inbox_waiting(0)
        );
    }
}
