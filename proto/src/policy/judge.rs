//! The gateway's judgement of one mail ([`judge`]): what a gateway can see of it — sender,
//! recipient, size, the declared attachment manifest, and the recipient's mailbox — against its
//! [`RuleSet`]. The one implementation every gateway runs, on a mail from its own client and on a
//! relay from a peer.
//!
//! Rates need state (token buckets per account and per peer), which the node keeps
//! (`herald_node::policy`); their refusals are [`PolicyRefusal::AccountRate`] and
//! [`PolicyRefusal::PeerRate`] so that every refusal has one type, one reason text and one
//! metric label.
//!
//! A refusal's [`reason`](PolicyRefusal::reason) is what a `Rejection` evidence record carries
//! and what the sender is told. Evidence records are public, so the reason names no address and
//! no attachment name (a public log must not show who mails whom or what): attachments are named
//! by their position in the manifest.

use core::time::Duration;

use super::rules::RuleSet;
use crate::wire::{MAX_MANIFEST_ENTRIES, WireError, pb};

/// One attachment as the mail's manifest declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestEntry {
    /// File name (never shown in a public reason).
    pub name: String,
    /// Media type, `type/subtype`.
    pub media_type: String,
    /// Size of the data in bytes.
    pub size: u64,
    /// BLAKE3-256 of the data.
    pub hash: [u8; 32],
}

impl ManifestEntry {
    /// The entry of a declared manifest, checked against the schema's bounds.
    pub fn from_wire(entry: &pb::AttachmentManifestEntry) -> Result<Self, WireError> {
        entry.validate_fields()?;
        let hash = entry
            .hash
            .as_slice()
            .try_into()
            .map_err(|_| WireError::FieldLength {
                field: "AttachmentManifestEntry.hash",
                len: entry.hash.len(),
                expected: 32,
            })?;
        Ok(ManifestEntry {
            name: entry.name.clone(),
            media_type: entry.media_type.clone(),
            size: entry.size,
            hash,
        })
    }

    /// The entry as the schema encodes it.
    pub fn to_wire(&self) -> pb::AttachmentManifestEntry {
        pb::AttachmentManifestEntry {
            name: self.name.clone(),
            media_type: self.media_type.clone(),
            size: self.size,
            hash: self.hash.to_vec(),
        }
    }
}

/// What the recipient's mailbox holds now (the receiving gateway knows it; a sending gateway
/// judging its own client's mail to another domain passes `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxUsage {
    /// Mails stored.
    pub mails: u64,
    /// Bytes stored.
    pub bytes: u64,
}

/// What a gateway can see of one mail.
#[derive(Clone, Copy, Debug)]
pub struct MailFacts<'a> {
    /// The sender's address.
    pub sender: &'a str,
    /// The recipient's address.
    pub recipient: &'a str,
    /// The mail's size as it travels (its encrypted envelope), bytes.
    pub size: u64,
    /// The declared attachment manifest.
    pub manifest: &'a [ManifestEntry],
    /// The recipient's mailbox, when this gateway keeps it.
    pub recipient_mailbox: Option<MailboxUsage>,
}

/// Why a gateway refuses a mail. Each variant has one reason text ([`reason`](Self::reason),
/// safe for a public `Rejection` record) and one metric label ([`label`](Self::label)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyRefusal {
    /// The sender matches the deny list, or an allow list exists and it is not on it.
    #[error("the sender is not accepted by this gateway's policy")]
    SenderRefused,
    /// The recipient matches the deny list, or an allow list exists and it is not on it.
    #[error("the recipient is not accepted by this gateway's policy")]
    RecipientRefused,
    /// The mail is larger than the policy allows.
    #[error("the mail is {size} bytes, the policy allows at most {max}")]
    MailTooLarge {
        /// Its size.
        size: u64,
        /// The bound.
        max: u64,
    },
    /// The mail has more attachments than the policy allows.
    #[error("the mail has {count} attachments, the policy allows at most {max}")]
    TooManyAttachments {
        /// How many.
        count: usize,
        /// The bound.
        max: u64,
    },
    /// One attachment is larger than the policy allows.
    #[error("attachment {index} is {size} bytes, the policy allows at most {max}")]
    AttachmentTooLarge {
        /// Its position in the manifest (from 0).
        index: usize,
        /// Its declared size.
        size: u64,
        /// The bound.
        max: u64,
    },
    /// One attachment's media type is not accepted.
    #[error("attachment {index} has media type {media_type:?}, which the policy does not accept")]
    MediaTypeRefused {
        /// Its position in the manifest (from 0).
        index: usize,
        /// Its declared media type.
        media_type: String,
    },
    /// The manifest declares more attachment bytes than the mail holds.
    #[error("the manifest declares {declared} bytes of attachments in a mail of {size} bytes")]
    ManifestInconsistent {
        /// Sum of the declared sizes.
        declared: u64,
        /// The mail's size.
        size: u64,
    },
    /// The recipient's mailbox would exceed its quota.
    #[error("the recipient's mailbox is full (quota of {max_mails} mails, {max_bytes} bytes)")]
    QuotaExceeded {
        /// The mail bound (0: none).
        max_mails: u64,
        /// The byte bound (0: none).
        max_bytes: u64,
    },
    /// The sending account sent more than its rate lately.
    #[error("the sending account is over its rate; retry after {} s", .retry_after.as_secs().max(1))]
    AccountRate {
        /// When its bucket holds a mail again.
        retry_after: Duration,
    },
    /// The relaying peer domain relayed more than its rate lately.
    #[error("the relaying domain is over its rate; retry after {} s", .retry_after.as_secs().max(1))]
    PeerRate {
        /// When its bucket holds a mail again.
        retry_after: Duration,
    },
}

impl PolicyRefusal {
    /// The human-readable reason, for the `Rejection` record and the sender (no address, no
    /// attachment name in it).
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// A short fixed label for metrics (`reason="..."`).
    pub fn label(&self) -> &'static str {
        match self {
            PolicyRefusal::SenderRefused => "sender",
            PolicyRefusal::RecipientRefused => "recipient",
            PolicyRefusal::MailTooLarge { .. } => "mail_size",
            PolicyRefusal::TooManyAttachments { .. } => "attachment_count",
            PolicyRefusal::AttachmentTooLarge { .. } => "attachment_size",
            PolicyRefusal::MediaTypeRefused { .. } => "media_type",
            PolicyRefusal::ManifestInconsistent { .. } => "manifest",
            PolicyRefusal::QuotaExceeded { .. } => "quota",
            PolicyRefusal::AccountRate { .. } => "account_rate",
            PolicyRefusal::PeerRate { .. } => "peer_rate",
        }
    }

    /// Every label [`label`](Self::label) can return (so a metric family can list them all).
    pub const LABELS: [&'static str; 10] = [
        "sender",
        "recipient",
        "mail_size",
        "attachment_count",
        "attachment_size",
        "media_type",
        "manifest",
        "quota",
        "account_rate",
        "peer_rate",
    ];
}

/// Whether `address` passes an allow list (empty: everyone) and a deny list (deny wins).
fn admitted(
    address: &str,
    allow: &[super::AddressPattern],
    deny: &[super::AddressPattern],
) -> bool {
    !deny.iter().any(|p| p.matches(address))
        && (allow.is_empty() || allow.iter().any(|p| p.matches(address)))
}

/// The attachment rules over a manifest (count, each size and media type): the sum of the
/// declared sizes, or the first refusal. The gateway runs it in [`judge`], the clients on the
/// plaintext's own manifest (`MailContent::inspect`).
pub(crate) fn judge_manifest(
    rules: &RuleSet,
    manifest: &[ManifestEntry],
) -> Result<u64, PolicyRefusal> {
    let count = manifest.len();
    // The protocol's own bound holds even when the policy sets none.
    let max_count = match rules.max_attachments {
        0 => MAX_MANIFEST_ENTRIES as u64,
        n => u64::from(n).min(MAX_MANIFEST_ENTRIES as u64),
    };
    if count as u64 > max_count {
        return Err(PolicyRefusal::TooManyAttachments {
            count,
            max: max_count,
        });
    }
    let mut declared = 0u64;
    for (index, entry) in manifest.iter().enumerate() {
        if rules.max_attachment_bytes != 0 && entry.size > rules.max_attachment_bytes {
            return Err(PolicyRefusal::AttachmentTooLarge {
                index,
                size: entry.size,
                max: rules.max_attachment_bytes,
            });
        }
        if !rules.accepted_media_types.is_empty()
            && !rules
                .accepted_media_types
                .iter()
                .any(|p| p.matches(&entry.media_type))
        {
            return Err(PolicyRefusal::MediaTypeRefused {
                index,
                media_type: entry.media_type.clone(),
            });
        }
        declared = declared.saturating_add(entry.size);
    }
    Ok(declared)
}

/// Judges `mail` against `rules`: `Ok` or the first refusal, in this order: sender, recipient,
/// size, attachment count, each attachment's size and media type, the manifest against the size,
/// the recipient's quota. Rates are the node's (module docs).
pub fn judge(rules: &RuleSet, mail: &MailFacts<'_>) -> Result<(), PolicyRefusal> {
    if !admitted(mail.sender, &rules.sender_allow, &rules.sender_deny) {
        return Err(PolicyRefusal::SenderRefused);
    }
    if !admitted(
        mail.recipient,
        &rules.recipient_allow,
        &rules.recipient_deny,
    ) {
        return Err(PolicyRefusal::RecipientRefused);
    }
    if rules.max_mail_bytes != 0 && mail.size > rules.max_mail_bytes {
        return Err(PolicyRefusal::MailTooLarge {
            size: mail.size,
            max: rules.max_mail_bytes,
        });
    }
    let declared = judge_manifest(rules, mail.manifest)?;
    if declared > mail.size {
        return Err(PolicyRefusal::ManifestInconsistent {
            declared,
            size: mail.size,
        });
    }
    if let Some(usage) = mail.recipient_mailbox {
        let quota = rules.quota;
        let over_mails = quota.max_mails != 0 && usage.mails.saturating_add(1) > quota.max_mails;
        let over_bytes =
            quota.max_bytes != 0 && usage.bytes.saturating_add(mail.size) > quota.max_bytes;
        if over_mails || over_bytes {
            return Err(PolicyRefusal::QuotaExceeded {
                max_mails: quota.max_mails,
                max_bytes: quota.max_bytes,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{AddressPattern, MailboxQuota, MediaTypePattern};
    use super::*;

    fn entry(media_type: &str, size: u64) -> ManifestEntry {
        ManifestEntry {
            name: "secret-plans.pdf".into(),
            media_type: media_type.into(),
            size,
            hash: [7; 32],
        }
    }

    fn facts<'a>(manifest: &'a [ManifestEntry]) -> MailFacts<'a> {
        MailFacts {
            sender: "alice@a.test",
            recipient: "bob@b.test",
            size: 10_000,
            manifest,
            recipient_mailbox: Some(MailboxUsage { mails: 0, bytes: 0 }),
        }
    }

    fn rules() -> RuleSet {
        RuleSet {
            max_mail_bytes: 20_000,
            max_attachment_bytes: 4_000,
            max_attachments: 2,
            accepted_media_types: vec![
                MediaTypePattern::parse("application/pdf").unwrap(),
                MediaTypePattern::parse("image/*").unwrap(),
            ],
            ..RuleSet::default()
        }
    }

    #[test]
    fn clean_mail_passes_the_default_and_a_strict_rule_set() {
        let manifest = [entry("application/pdf", 3000), entry("image/png", 1000)];
        assert_eq!(judge(&RuleSet::default(), &facts(&manifest)), Ok(()));
        assert_eq!(judge(&rules(), &facts(&manifest)), Ok(()));
    }

    #[test]
    fn mail_over_the_size_limit_is_refused_with_its_reason() {
        let mail = MailFacts {
            size: 20_001,
            ..facts(&[])
        };
        let refusal = judge(&rules(), &mail).unwrap_err();
        assert_eq!(
            refusal,
            PolicyRefusal::MailTooLarge {
                size: 20_001,
                max: 20_000
            }
        );
        assert_eq!(
            refusal.reason(),
            "the mail is 20001 bytes, the policy allows at most 20000"
        );
        assert_eq!(refusal.label(), "mail_size");
    }

    #[test]
    fn denied_sender_and_recipient_are_refused_without_naming_them() {
        let mut r = rules();
        r.sender_deny = vec![AddressPattern::parse("*@a.test").unwrap()];
        let refusal = judge(&r, &facts(&[])).unwrap_err();
        assert_eq!(refusal, PolicyRefusal::SenderRefused);
        assert!(!refusal.reason().contains("alice"));

        let mut r = rules();
        r.recipient_allow = vec![AddressPattern::parse("carol@b.test").unwrap()];
        let refusal = judge(&r, &facts(&[])).unwrap_err();
        assert_eq!(refusal, PolicyRefusal::RecipientRefused);
        assert!(!refusal.reason().contains("bob"));

        // Deny wins over allow; other recipients of an allowed domain pass.
        let mut r = rules();
        r.recipient_allow = vec![AddressPattern::parse("*@b.test").unwrap()];
        assert_eq!(judge(&r, &facts(&[])), Ok(()));
        r.recipient_deny = vec![AddressPattern::parse("BOB@b.test").unwrap()];
        assert_eq!(judge(&r, &facts(&[])), Err(PolicyRefusal::RecipientRefused));
    }

    #[test]
    fn refused_attachment_type_is_refused_by_position() {
        let manifest = [
            entry("application/pdf", 10),
            entry("application/x-msdownload", 10),
        ];
        let refusal = judge(&rules(), &facts(&manifest)).unwrap_err();
        assert_eq!(
            refusal,
            PolicyRefusal::MediaTypeRefused {
                index: 1,
                media_type: "application/x-msdownload".into()
            }
        );
        assert!(!refusal.reason().contains("secret-plans"));
        assert_eq!(refusal.label(), "media_type");
    }

    #[test]
    fn attachment_size_count_manifest_and_quota_are_judged() {
        let big = [entry("image/png", 4_001)];
        assert!(matches!(
            judge(&rules(), &facts(&big)),
            Err(PolicyRefusal::AttachmentTooLarge { index: 0, .. })
        ));
        let many = [
            entry("image/png", 1),
            entry("image/png", 1),
            entry("image/png", 1),
        ];
        assert!(matches!(
            judge(&rules(), &facts(&many)),
            Err(PolicyRefusal::TooManyAttachments { count: 3, max: 2 })
        ));
        // Declared sizes that the mail cannot hold: a lying manifest.
        let lax = RuleSet {
            max_attachment_bytes: 0,
            ..RuleSet::default()
        };
        let lying = [entry("image/png", 6_000), entry("image/png", 6_000)];
        assert!(matches!(
            judge(&lax, &facts(&lying)),
            Err(PolicyRefusal::ManifestInconsistent {
                declared: 12_000,
                ..
            })
        ));
        let mut r = rules();
        r.quota = MailboxQuota {
            max_mails: 5,
            max_bytes: 0,
        };
        let full = MailFacts {
            recipient_mailbox: Some(MailboxUsage { mails: 5, bytes: 0 }),
            ..facts(&[])
        };
        assert!(matches!(
            judge(&r, &full),
            Err(PolicyRefusal::QuotaExceeded { .. })
        ));
        // The sending gateway does not know the recipient's mailbox: no quota check.
        let remote = MailFacts {
            recipient_mailbox: None,
            ..full
        };
        assert_eq!(judge(&r, &remote), Ok(()));
    }

    #[test]
    fn attack_case_and_suffix_tricks_do_not_slip_past_a_deny_list() {
        let r = RuleSet {
            sender_deny: vec![
                AddressPattern::parse("mallory@a.test").unwrap(),
                AddressPattern::parse("*@*.evil.test").unwrap(),
            ],
            ..RuleSet::default()
        };
        for sender in [
            "MALLORY@A.TEST",
            "Mallory@a.Test",
            "x@mail.EVIL.test",
            "x@a.b.evil.test",
        ] {
            let mail = MailFacts {
                sender,
                ..facts(&[])
            };
            assert_eq!(
                judge(&r, &mail),
                Err(PolicyRefusal::SenderRefused),
                "{sender}"
            );
        }
        // A look-alike domain is another domain, and passes.
        let mail = MailFacts {
            sender: "x@notevil.test",
            ..facts(&[])
        };
        assert_eq!(judge(&r, &mail), Ok(()));
    }

    #[test]
    fn every_label_is_listed() {
        let all = [
            PolicyRefusal::SenderRefused,
            PolicyRefusal::RecipientRefused,
            PolicyRefusal::MailTooLarge { size: 0, max: 0 },
            PolicyRefusal::TooManyAttachments { count: 0, max: 0 },
            PolicyRefusal::AttachmentTooLarge {
                index: 0,
                size: 0,
                max: 0,
            },
            PolicyRefusal::MediaTypeRefused {
                index: 0,
                media_type: String::new(),
            },
            PolicyRefusal::ManifestInconsistent {
                declared: 0,
                size: 0,
            },
            PolicyRefusal::QuotaExceeded {
                max_mails: 0,
                max_bytes: 0,
            },
            PolicyRefusal::AccountRate {
                retry_after: Duration::ZERO,
            },
            PolicyRefusal::PeerRate {
                retry_after: Duration::ZERO,
            },
        ];
        let labels: Vec<_> = all.iter().map(PolicyRefusal::label).collect();
        assert_eq!(labels, PolicyRefusal::LABELS);
    }
}
