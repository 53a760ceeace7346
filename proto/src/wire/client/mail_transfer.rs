//! Mail larger than one request on `/herald/client/1` (`mail_transfer.proto`; the rules of a
//! transfer are `paep::transfer`'s): the bounds of its messages, the requests, and the checks
//! that an answer is the one asked for.
//!
//! | message | limit | reason |
//! |---|---|---|
//! | a chunk's or part's `data` | [`MAIL_CHUNK_BYTES`] = 48 KiB | with its overhead, in one `ClientRequest` (64 KiB), sealed in a session frame or relayed |
//! | a transfer's `total_len` | [`MAX_ONE_REQUEST_CIPHERTEXT_BYTES`] + 1 to [`MAX_TRANSFER_BYTES`] | smaller mails travel whole; DESIGN's 8 MiB of plaintext and the tag |
//! | `upload_id` | [`UPLOAD_ID_BYTES`] | a fresh random name per upload |

use super::answer::expect;
use super::mail::validate_stored_mail_head;
use super::session::expect_in_session;
use super::{AnswerError, MAX_CLIENT_REQUEST_BYTES, MAX_MAIL_CONTENT_BYTES};
use crate::paep::transfer::validate_head;
use crate::wire::pb::{self, client_request, client_response, session_request, session_response};
use crate::wire::validate::{exact, sized};
use crate::wire::{
    AEAD_TAG_BYTES, MAX_ACCOUNT_BYTES, MAX_DOMAIN_BYTES, MAX_MAIL_PLAINTEXT_BYTES,
    MAX_MSG_ID_BYTES, WireError,
};

/// Most bytes of Z in one chunk (upload, relay) or part (fetch).
pub const MAIL_CHUNK_BYTES: usize = 48 * 1024;
/// Length of an upload's id.
pub const UPLOAD_ID_BYTES: usize = 16;
/// The longest Z that travels whole in one request (the largest `MailContent` that does, and
/// its AEAD tag); longer ones travel in chunks.
pub const MAX_ONE_REQUEST_CIPHERTEXT_BYTES: usize = MAX_MAIL_CONTENT_BYTES + AEAD_TAG_BYTES;
/// The longest Z of any mail: DESIGN's 8 MiB of plaintext and the AEAD tag.
pub const MAX_TRANSFER_BYTES: usize = MAX_MAIL_PLAINTEXT_BYTES + AEAD_TAG_BYTES;

/// A chunk's overhead besides its data: two domains or an account, msg_id or upload id, the
/// offsets, tags, a session frame's sealing.
const CHUNK_OVERHEAD: usize =
    MAX_DOMAIN_BYTES + MAX_ACCOUNT_BYTES + MAX_MSG_ID_BYTES + 64 + 128 + RELAY_HEAD_BYTES;
/// A relay chunk's head (first chunk only): two domains, two accounts, msg_id, Y_A, sig_A,
/// the gateway's signature, BLAKE3(Z), the numbers and their framing.
const RELAY_HEAD_BYTES: usize =
    2 * MAX_DOMAIN_BYTES + 2 * MAX_ACCOUNT_BYTES + MAX_MSG_ID_BYTES + 32 + 64 + 64 + 32 + 64;
// A chunk fits one request, relayed or sealed in a session frame.
const _: () = assert!(MAIL_CHUNK_BYTES + CHUNK_OVERHEAD < MAX_CLIENT_REQUEST_BYTES);

fn data(field: &'static str, data: &[u8]) -> Result<(), WireError> {
    sized(field, data.len(), 1, MAIL_CHUNK_BYTES)
}

fn total(field: &'static str, total: u64) -> Result<(), WireError> {
    if total > MAX_ONE_REQUEST_CIPHERTEXT_BYTES as u64 && total <= MAX_TRANSFER_BYTES as u64 {
        Ok(())
    } else {
        Err(WireError::Inconsistent {
            field,
            reason: "not a length that travels in chunks",
        })
    }
}

impl pb::RelayMailChunk {
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
        sized(
            "RelayMailChunk.from_domain",
            self.from_domain.len(),
            1,
            MAX_DOMAIN_BYTES,
        )?;
        sized(
            "RelayMailChunk.sender",
            self.sender.len(),
            1,
            MAX_ACCOUNT_BYTES,
        )?;
        sized(
            "RelayMailChunk.msg_id",
            self.msg_id.len(),
            1,
            MAX_MSG_ID_BYTES,
        )?;
        sized(
            "RelayMailChunk.recipient",
            self.recipient.len(),
            0,
            MAX_ACCOUNT_BYTES,
        )?;
        total("RelayMailChunk.total_len", self.total_len)?;
        data("RelayMailChunk.data", &self.data)?;
        let Some(head) = &self.head else {
            return sized("RelayMailChunk.z_hash", self.z_hash.len(), 0, 0);
        };
        let inconsistent = |reason| WireError::Inconsistent {
            field: "RelayMailChunk.head",
            reason,
        };
        if self.offset != 0 {
            return Err(inconsistent("only the first chunk carries the head"));
        }
        exact("RelayMailChunk.z_hash", &self.z_hash, 32)?;
        validate_relay_head(head)?;
        let envelope = head.envelope.as_ref().ok_or(WireError::MissingField {
            field: "RelayEnvelope.envelope",
        })?;
        if envelope.sender != self.sender
            || envelope.msg_id != self.msg_id
            || envelope.recipient != self.recipient
        {
            return Err(inconsistent(
                "the head names another sender, msg_id or recipient than the chunk",
            ));
        }
        Ok(())
    }
}

/// The bounds of a relay envelope whose Z travels in chunks (its `ciphertext` empty).
fn validate_relay_head(relay: &pb::RelayEnvelope) -> Result<(), WireError> {
    sized(
        "RelayEnvelope.from_domain",
        relay.from_domain.len(),
        1,
        MAX_DOMAIN_BYTES,
    )?;
    sized(
        "RelayEnvelope.to_domain",
        relay.to_domain.len(),
        1,
        MAX_DOMAIN_BYTES,
    )?;
    exact(
        "RelayEnvelope.gateway_signature",
        &relay.gateway_signature,
        crate::wire::validate::SIGNATURE_LEN,
    )?;
    validate_head(relay.envelope.as_ref().ok_or(WireError::MissingField {
        field: "RelayEnvelope.envelope",
    })?)
}

impl pb::RelayLargeMail {
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
        let relay = self.relay.as_ref().ok_or(WireError::MissingField {
            field: "RelayLargeMail.relay",
        })?;
        validate_relay_head(relay)?;
        total("RelayLargeMail.total_len", self.total_len)
    }
}

impl pb::RelayChunkProgress {
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
        sized(
            "RelayChunkProgress.msg_id",
            self.msg_id.len(),
            1,
            MAX_MSG_ID_BYTES,
        )
    }
}

/// The bounds of the transfer kinds of a `SessionRequest`.
pub(super) fn validate_session_request(r: &session_request::Request) -> Result<(), WireError> {
    match r {
        session_request::Request::UploadChunk(c) => {
            exact("MailUploadChunk.upload_id", &c.upload_id, UPLOAD_ID_BYTES)?;
            total("MailUploadChunk.total_len", c.total_len)?;
            data("MailUploadChunk.data", &c.data)
        }
        session_request::Request::SendUploadedMail(s) => {
            exact("SendUploadedMail.upload_id", &s.upload_id, UPLOAD_ID_BYTES)?;
            validate_head(s.envelope.as_ref().ok_or(WireError::MissingField {
                field: "SendUploadedMail.envelope",
            })?)
        }
        _ => Ok(()),
    }
}

/// The bounds of the transfer kinds of a `SessionResponse`.
pub(super) fn validate_session_response(r: &session_response::Response) -> Result<(), WireError> {
    match r {
        session_response::Response::UploadProgress(p) => exact(
            "MailUploadProgress.upload_id",
            &p.upload_id,
            UPLOAD_ID_BYTES,
        ),
        session_response::Response::MailPart(p) => {
            validate_stored_mail_head(p.head.as_ref().ok_or(WireError::MissingField {
                field: "MailPart.head",
            })?)?;
            total("MailPart.total_len", p.total_len)?;
            data("MailPart.data", &p.data)?;
            if p.offset.saturating_add(p.data.len() as u64) > p.total_len {
                return Err(WireError::Inconsistent {
                    field: "MailPart.data",
                    reason: "ends past the total",
                });
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl pb::ClientRequest {
    /// One chunk of a relayed mail's Z.
    pub fn relay_chunk(chunk: pb::RelayMailChunk) -> Self {
        Self::of(client_request::Request::RelayChunk(chunk))
    }

    /// The relay envelope (its Z empty) after the chunks of `total_len` bytes.
    pub fn relay_large_mail(relay: pb::RelayEnvelope, total_len: u64) -> Self {
        Self::of(client_request::Request::RelayLargeMail(
            pb::RelayLargeMail {
                relay: Some(relay),
                total_len,
            },
        ))
    }
}

impl pb::SessionRequest {
    /// One chunk of the upload `upload_id`.
    pub fn upload_chunk(upload_id: &[u8], total_len: u64, offset: u64, data: &[u8]) -> Self {
        Self {
            request: Some(session_request::Request::UploadChunk(pb::MailUploadChunk {
                upload_id: upload_id.to_vec(),
                total_len,
                offset,
                data: data.to_vec(),
            })),
        }
    }

    /// Send the mail uploaded as `upload_id` with the envelope `head` (its Z empty).
    pub fn send_uploaded_mail(upload_id: &[u8], head: pb::MailEnvelope, expires_at: u64) -> Self {
        Self {
            request: Some(session_request::Request::SendUploadedMail(
                pb::SendUploadedMail {
                    upload_id: upload_id.to_vec(),
                    envelope: Some(head),
                    expires_at,
                },
            )),
        }
    }

    /// Part of mail `id` from `offset`.
    pub fn fetch_mail_part(id: u64, offset: u64) -> Self {
        Self {
            request: Some(session_request::Request::FetchMailPart(pb::FetchMailPart {
                id,
                offset,
            })),
        }
    }
}

/// The answer to an `upload_chunk` for `upload_id`.
pub fn expect_upload_progress(
    response: pb::SessionResponse,
    upload_id: &[u8],
) -> Result<pb::MailUploadProgress, AnswerError> {
    let progress = expect_in_session(response, "upload_chunk", |r| match r {
        session_response::Response::UploadProgress(p) => Ok(p),
        other => Err(Box::new(other)),
    })?;
    if progress.upload_id != upload_id {
        return Err(AnswerError::Mismatch {
            what: "upload id",
            asked: hex_of(upload_id),
            answered: hex_of(&progress.upload_id),
        });
    }
    Ok(progress)
}

/// The answer to a `fetch_mail_part` for mail `id` at `offset`.
pub fn expect_mail_part(
    response: pb::SessionResponse,
    id: u64,
    offset: u64,
) -> Result<pb::MailPart, AnswerError> {
    let part = expect_in_session(response, "fetch_mail_part", |r| match r {
        session_response::Response::MailPart(p) => Ok(p),
        other => Err(Box::new(other)),
    })?;
    let answered_id = part.head.as_ref().map_or(0, |h| h.id);
    if answered_id != id || part.offset != offset {
        return Err(AnswerError::Mismatch {
            what: "mail part",
            asked: format!("{id} at {offset}"),
            answered: format!("{answered_id} at {}", part.offset),
        });
    }
    Ok(part)
}

/// The answer to a `relay_chunk` of `msg_id`.
pub fn expect_relay_chunk_progress(
    response: pb::ClientResponse,
    msg_id: &[u8],
) -> Result<pb::RelayChunkProgress, AnswerError> {
    let progress = expect(response, "relay_chunk", |r| match r {
        client_response::Response::RelayChunkProgress(p) => Ok(p),
        other => Err(Box::new(other)),
    })?;
    if progress.msg_id != msg_id {
        return Err(AnswerError::Mismatch {
            what: "relayed msg_id",
            asked: hex_of(msg_id),
            answered: hex_of(&progress.msg_id),
        });
    }
    Ok(progress)
}

fn hex_of(bytes: &[u8]) -> String {
    format!("{bytes:02x?}")
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::wire::Validate as _;

    fn head() -> pb::MailEnvelope {
        pb::MailEnvelope {
            msg_id: vec![1; 16],
            sender: "a@d0.test".into(),
            recipient: "b@d1.test".into(),
            ephemeral_key: vec![2; 32],
            prekey_id: 7,
            ciphertext: Vec::new(),
            sender_signature: vec![4; 64],
        }
    }

    #[test]
    fn chunks_and_heads_are_bounded() {
        let big = MAX_ONE_REQUEST_CIPHERTEXT_BYTES as u64 + 1;
        let ok = pb::SessionRequest::upload_chunk(&[0; 16], big, 0, &[1; MAIL_CHUNK_BYTES]);
        assert_eq!(ok.validate(), Ok(()));
        let bad = [
            pb::SessionRequest::upload_chunk(&[0; 15], big, 0, &[1; 10]),
            pb::SessionRequest::upload_chunk(&[0; 16], big - 1, 0, &[1; 10]),
            pb::SessionRequest::upload_chunk(&[0; 16], MAX_TRANSFER_BYTES as u64 + 1, 0, &[1]),
            pb::SessionRequest::upload_chunk(&[0; 16], big, 0, &[]),
            pb::SessionRequest::upload_chunk(&[0; 16], big, 0, &[1; MAIL_CHUNK_BYTES + 1]),
        ];
        for b in bad {
            assert!(b.validate().is_err());
        }
        assert_eq!(
            pb::SessionRequest::send_uploaded_mail(&[0; 16], head(), 0).validate(),
            Ok(())
        );
        let mut whole = head();
        whole.ciphertext = vec![0; 32];
        assert!(
            pb::SessionRequest::send_uploaded_mail(&[0; 16], whole, 0)
                .validate()
                .is_err()
        );
        let chunk = pb::ClientRequest::relay_chunk(pb::RelayMailChunk {
            from_domain: "d0.test".into(),
            sender: "a@d0.test".into(),
            msg_id: vec![1; 16],
            total_len: big,
            offset: 0,
            data: vec![0; MAIL_CHUNK_BYTES],
            recipient: "b@d1.test".into(),
            ..Default::default()
        });
        assert_eq!(chunk.validate(), Ok(()));
        assert!(chunk.encoded_len() < MAX_CLIENT_REQUEST_BYTES);
    }

    #[test]
    fn a_relay_chunks_announced_recipient_is_bounded() {
        let chunk = |recipient: String| {
            pb::ClientRequest::relay_chunk(pb::RelayMailChunk {
                from_domain: "d0.test".into(),
                sender: "a@d0.test".into(),
                msg_id: vec![1; 16],
                total_len: MAX_ONE_REQUEST_CIPHERTEXT_BYTES as u64 + 1,
                offset: 0,
                data: vec![0; 10],
                recipient,
                ..Default::default()
            })
        };
        // Empty: a relay from a gateway that predates the field (judged on the whole mail).
        assert_eq!(chunk(String::new()).validate(), Ok(()));
        assert_eq!(chunk("b".repeat(MAX_ACCOUNT_BYTES)).validate(), Ok(()));
        assert!(chunk("b".repeat(MAX_ACCOUNT_BYTES + 1)).validate().is_err());
    }

    #[test]
    fn a_relay_chunks_head_is_bounded_and_names_what_the_chunk_names() {
        let relay_head = || pb::RelayEnvelope {
            from_domain: "d0.test".into(),
            to_domain: "d1.test".into(),
            envelope: Some(pb::MailEnvelope {
                msg_id: vec![1; 16],
                ..head()
            }),
            expires_at: 9,
            gateway_signature: vec![5; 64],
        };
        let chunk = |offset: u64, relay: Option<pb::RelayEnvelope>, z_hash: Vec<u8>| {
            pb::ClientRequest::relay_chunk(pb::RelayMailChunk {
                from_domain: "d0.test".into(),
                sender: "a@d0.test".into(),
                msg_id: vec![1; 16],
                total_len: MAX_TRANSFER_BYTES as u64,
                offset,
                data: vec![0; MAIL_CHUNK_BYTES],
                recipient: "b@d1.test".into(),
                head: relay.map(Box::new),
                z_hash,
            })
        };
        let first = chunk(0, Some(relay_head()), vec![3; 32]);
        assert_eq!(first.validate(), Ok(()));
        assert!(first.encoded_len() < MAX_CLIENT_REQUEST_BYTES);
        let mut other_recipient = relay_head();
        other_recipient.envelope.as_mut().unwrap().recipient = "c@d1.test".into();
        let mut with_z = relay_head();
        with_z.envelope.as_mut().unwrap().ciphertext = vec![0; 32];
        for bad in [
            chunk(MAIL_CHUNK_BYTES as u64, Some(relay_head()), vec![3; 32]),
            chunk(0, Some(relay_head()), vec![3; 31]),
            chunk(0, Some(relay_head()), Vec::new()),
            chunk(0, None, vec![3; 32]),
            chunk(0, Some(other_recipient), vec![3; 32]),
            chunk(0, Some(with_z), vec![3; 32]),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
