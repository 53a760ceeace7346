//! Certified mail carried as mail (DESIGN §3.2 under §3.3, issue 12 §4): the sealed message of
//! step (a), the key request of step (b), and the optimistic variant's direct key and receipt
//! travel between the two parties as the plaintext M of an ordinary mail, whose `MailContent`
//! has its `certified` part set ([`Carried::to_plaintext`]). The gateways see nothing of it:
//! it is inside Z like any mail.
//!
//! The recipient's client recognises it in a decrypted mail ([`Carried::in_plaintext`]) and
//! checks that the mail's authenticated sender (sig_A under the sender's proven binding) is the
//! party the message names ([`Carried::check_parties`]): a sealed message must come from its
//! `sender` to its `recipient`, a key request from its `recipient` to its `sender`. The direct
//! key and the receipt name no party; they answer a request by req_hash and are checked by
//! cryptography (c_K, sig_B under the bound IK_B) in the state machines.
//!
//! A carried message must fit one mail (`wire::MAX_MAIL_CONTENT_BYTES`): a letter whose sealed
//! message is larger goes the file-based way (`herald cm send --out`), see docs/decisions.md.

use prost::Message as _;

use crate::wire::pb::{self, certified_part::Part};
use crate::wire::{MAX_MAIL_CONTENT_BYTES, Validate as _, WireError, decode_valid};

/// One certified-mail message as a mail carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Carried {
    /// Step (a), A → B.
    Sealed(pb::SealedMessage),
    /// Step (b), B → A.
    Request(pb::SignedKeyRequest),
    /// Optimistic variant, A → B.
    DirectKey(pb::DirectKey),
    /// Optimistic variant, B → A.
    Receipt(pb::Receipt),
}

/// Why a carried message is refused. Nothing is changed by a refusal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CarriedError {
    /// The mail's plaintext, or the message in it, breaks the schema.
    #[error("malformed certified-mail part: {0}")]
    Wire(#[from] WireError),
    /// The mail came from another account than the one the message names as its author.
    #[error("a {what} written by {author} arrived in a mail from {mail_sender}")]
    NotTheAuthor {
        /// Which message.
        what: &'static str,
        /// Its author, as it names it.
        author: String,
        /// The mail's authenticated sender.
        mail_sender: String,
    },
    /// The message is for another account than the mail's recipient.
    #[error("a {what} for {addressed} arrived in the mailbox of {account}")]
    NotForUs {
        /// Which message.
        what: &'static str,
        /// The account it is for.
        addressed: String,
        /// The mailbox's account.
        account: String,
    },
}

impl Carried {
    /// The message's name, as errors and listings say it.
    pub fn name(&self) -> &'static str {
        match self {
            Carried::Sealed(_) => "sealed message",
            Carried::Request(_) => "key request",
            Carried::DirectKey(_) => "direct key",
            Carried::Receipt(_) => "receipt",
        }
    }

    /// The subject of the mail that carries it (fixed words: the gateways never see it, and a
    /// reader's mail program shows what the mail is for).
    pub fn subject(&self) -> &'static str {
        match self {
            Carried::Sealed(_) => "Certified mail: a sealed letter",
            Carried::Request(_) => "Certified mail: key request",
            Carried::DirectKey(_) => "Certified mail: the letter's key",
            Carried::Receipt(_) => "Certified mail: receipt",
        }
    }

    /// The certified-mail msg_id the message belongs to, where it names one (sealed message
    /// and key request; the others name only the req_hash).
    pub fn msg_id(&self) -> Option<&[u8]> {
        match self {
            Carried::Sealed(m) => Some(&m.msg_id),
            Carried::Request(r) => r.request.as_ref().map(|r| r.msg_id.as_slice()),
            Carried::DirectKey(_) | Carried::Receipt(_) => None,
        }
    }

    /// The message's own encoding (what the certified-mail driver takes).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Carried::Sealed(m) => m.encode_to_vec(),
            Carried::Request(m) => m.encode_to_vec(),
            Carried::DirectKey(m) => m.encode_to_vec(),
            Carried::Receipt(m) => m.encode_to_vec(),
        }
    }

    /// The plaintext M of the mail that carries it: a `MailContent` with [`Self::subject`], an
    /// empty body and the `certified` part. Refused when it would not fit one mail.
    pub fn to_plaintext(&self) -> Result<Vec<u8>, WireError> {
        let part = match self {
            Carried::Sealed(m) => Part::Sealed(m.clone()),
            Carried::Request(m) => Part::Request(m.clone()),
            Carried::DirectKey(m) => Part::DirectKey(m.clone()),
            Carried::Receipt(m) => Part::Receipt(m.clone()),
        };
        let content = pb::MailContent {
            subject: self.subject().to_owned(),
            body: Vec::new(),
            attachments: Vec::new(),
            certified: Some(pb::CertifiedPart { part: Some(part) }),
        };
        let len = content.encoded_len();
        if len > MAX_MAIL_CONTENT_BYTES {
            return Err(WireError::TooLarge {
                len,
                limit: MAX_MAIL_CONTENT_BYTES,
            });
        }
        content.validate()?;
        Ok(content.encode_to_vec())
    }

    /// The certified-mail message a decrypted mail carries, if any (`None` for plain mail).
    pub fn in_plaintext(plaintext: &[u8]) -> Result<Option<Carried>, WireError> {
        let content: pb::MailContent = decode_valid(plaintext)?;
        Ok(content
            .certified
            .and_then(|c| c.part)
            .map(|part| match part {
                Part::Sealed(m) => Carried::Sealed(m),
                Part::Request(m) => Carried::Request(m),
                Part::DirectKey(m) => Carried::DirectKey(m),
                Part::Receipt(m) => Carried::Receipt(m),
            }))
    }

    /// Checks the message against the mail that carried it: `mail_sender` (authenticated by
    /// sig_A) must be its author and `account` (the mailbox's) its addressee, where it names
    /// them (module docs).
    pub fn check_parties(&self, mail_sender: &str, account: &str) -> Result<(), CarriedError> {
        let (author, addressed) = match self {
            Carried::Sealed(m) => (m.sender.as_str(), m.recipient.as_str()),
            Carried::Request(r) => {
                let r = r.request.as_ref().ok_or(WireError::MissingField {
                    field: "SignedKeyRequest.request",
                })?;
                (r.recipient.as_str(), r.sender.as_str())
            }
            Carried::DirectKey(_) | Carried::Receipt(_) => return Ok(()),
        };
        if author != mail_sender {
            return Err(CarriedError::NotTheAuthor {
                what: self.name(),
                author: author.to_owned(),
                mail_sender: mail_sender.to_owned(),
            });
        }
        if addressed != account {
            return Err(CarriedError::NotForUs {
                what: self.name(),
                addressed: addressed.to_owned(),
                account: account.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(sender: &str, recipient: &str, ciphertext: usize) -> pb::SealedMessage {
        pb::SealedMessage {
            msg_id: vec![7; 16],
            sender: sender.into(),
            recipient: recipient.into(),
            ciphertext: vec![1; ciphertext],
            key_commitment: vec![2; 32],
            ..Default::default()
        }
    }

    #[test]
    fn a_carried_message_round_trips_and_plain_mail_carries_none() {
        let carried = Carried::Sealed(sealed("a@d0.test", "b@d1.test", 100));
        let m = carried.to_plaintext().unwrap();
        assert_eq!(Carried::in_plaintext(&m).unwrap(), Some(carried.clone()));
        assert_eq!(carried.msg_id(), Some(&[7u8; 16][..]));
        // The plain mail reader sees a subject and no body (an old client shows it as such).
        let content = crate::paep::MailContent::open(&m).unwrap();
        assert_eq!(content.subject, "Certified mail: a sealed letter");
        let plain = crate::paep::MailContent::build("hi", b"body", vec![]).unwrap();
        assert_eq!(Carried::in_plaintext(&plain).unwrap(), None);
    }

    #[test]
    fn a_malformed_or_empty_part_is_refused() {
        // A receipt with a short req_hash breaks the schema inside the mail.
        let bad = pb::MailContent {
            certified: Some(pb::CertifiedPart {
                part: Some(Part::Receipt(pb::Receipt {
                    req_hash: vec![0; 31],
                    ciphertext_hash: vec![0; 32],
                    key_commitment: vec![0; 32],
                    time: 1,
                    signature: vec![0; 64],
                })),
            }),
            ..Default::default()
        };
        assert!(Carried::in_plaintext(&bad.encode_to_vec()).is_err());
        let empty = pb::MailContent {
            certified: Some(pb::CertifiedPart { part: None }),
            ..Default::default()
        };
        assert_eq!(
            Carried::in_plaintext(&empty.encode_to_vec()),
            Err(WireError::MissingField {
                field: "CertifiedPart.part"
            })
        );
    }

    #[test]
    fn a_letter_too_large_for_one_mail_is_refused_with_its_size() {
        let big = Carried::Sealed(sealed("a@d0.test", "b@d1.test", MAX_MAIL_CONTENT_BYTES));
        assert!(matches!(
            big.to_plaintext(),
            Err(WireError::TooLarge { limit, .. }) if limit == MAX_MAIL_CONTENT_BYTES
        ));
    }

    #[test]
    fn attack_a_sealed_message_forwarded_by_another_account_is_refused() {
        let carried = Carried::Sealed(sealed("a@d0.test", "b@d1.test", 100));
        carried.check_parties("a@d0.test", "b@d1.test").unwrap();
        // Mallory re-mails Alice's letter as if she were Alice: the mail's sender is Mallory.
        assert!(matches!(
            carried.check_parties("mallory@d0.test", "b@d1.test"),
            Err(CarriedError::NotTheAuthor { .. })
        ));
        // Sent on to Carol: not hers.
        assert!(matches!(
            carried.check_parties("a@d0.test", "carol@d1.test"),
            Err(CarriedError::NotForUs { .. })
        ));
    }

    #[test]
    fn attack_a_key_request_mailed_by_another_account_is_refused() {
        let request = Carried::Request(pb::SignedKeyRequest {
            request: Some(pb::KeyRequest {
                sender: "a@d0.test".into(),
                recipient: "b@d1.test".into(),
                ..Default::default()
            }),
            signature: vec![0; 64],
        });
        request.check_parties("b@d1.test", "a@d0.test").unwrap();
        assert!(matches!(
            request.check_parties("mallory@d1.test", "a@d0.test"),
            Err(CarriedError::NotTheAuthor { .. })
        ));
    }
}
