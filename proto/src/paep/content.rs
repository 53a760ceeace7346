//! A mail's plaintext M (DESIGN §3.2, issue 12 "Attachments"): a subject, a body and
//! attachments, each declared in a manifest line (name, media type, size, BLAKE3 hash) that
//! travels inside Z with its data, so only the recipient sees it. M is the `MailContent`
//! encoding, at most `wire::MAX_MAIL_PLAINTEXT_BYTES` (DESIGN's 8 MiB; past
//! `wire::MAX_MAIL_CONTENT_BYTES` its Z travels in chunks, `paep::transfer`).
//!
//! The sender's client builds it ([`MailContent::build`]); the recipient's checks it
//! ([`MailContent::open`]): the declared size and hash of each attachment must be its data's,
//! names plain file names, once each. A gateway never sees M; its policy sees sizes only.

use prost::Message as _;

use crate::wire::{MAX_MAIL_PLAINTEXT_BYTES, WireError, decode_valid, pb};

/// One attachment to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Its file name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A mail's content, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailContent {
    /// The subject.
    pub subject: String,
    /// The body.
    pub body: Vec<u8>,
    /// The attachments, their manifest checked against their data.
    pub attachments: Vec<pb::MailAttachment>,
}

impl MailContent {
    /// The plaintext M of a mail with these parts, or why it cannot be sent (too large, too
    /// many attachments, a name that is not a plain file name or given twice).
    pub fn build(
        subject: &str,
        body: &[u8],
        attachments: Vec<Attachment>,
    ) -> Result<Vec<u8>, WireError> {
        let content = pb::MailContent {
            subject: subject.to_owned(),
            body: body.to_vec(),
            attachments: attachments
                .into_iter()
                .map(|a| pb::MailAttachment {
                    size: a.data.len() as u64,
                    hash: blake3::hash(&a.data).as_bytes().to_vec(),
                    name: a.name,
                    media_type: a.media_type,
                    data: a.data,
                })
                .collect(),
            certified: None,
        };
        let len = content.encoded_len();
        if len > MAX_MAIL_PLAINTEXT_BYTES {
            return Err(WireError::TooLarge {
                len,
                limit: MAX_MAIL_PLAINTEXT_BYTES,
            });
        }
        crate::wire::Validate::validate(&content)?;
        Ok(content.encode_to_vec())
    }

    /// The content of a decrypted plaintext, checked.
    pub fn open(plaintext: &[u8]) -> Result<Self, WireError> {
        let content: pb::MailContent = decode_valid(plaintext)?;
        Ok(MailContent {
            subject: content.subject,
            body: content.body,
            attachments: content.attachments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_round_trips_and_a_lying_manifest_is_refused() {
        let m = MailContent::build(
            "Contract",
            b"see attached",
            vec![Attachment {
                name: "c.pdf".into(),
                media_type: "application/pdf".into(),
                data: b"%PDF".to_vec(),
            }],
        )
        .unwrap();
        let opened = MailContent::open(&m).unwrap();
        assert_eq!(opened.subject, "Contract");
        assert_eq!(opened.attachments[0].size, 4);
        let mut lying: pb::MailContent = prost::Message::decode(&m[..]).unwrap();
        lying.attachments[0].data = b"%PDX".to_vec();
        assert!(MailContent::open(&lying.encode_to_vec()).is_err());
        let big = vec![0u8; MAX_MAIL_PLAINTEXT_BYTES];
        assert!(matches!(
            MailContent::build("", &big, vec![]),
            Err(WireError::TooLarge { .. })
        ));
    }
}
