//! A mail's plaintext M ([`MailContent`]: subject, body, attachments with their manifest) and
//! what a client does with it before sending and before showing ([`MailContent::inspect`]): the
//! gateway's rule set and a scanner, applied where the plaintext is (DESIGN §4).
//!
//! This is the inspection's view of M, with no encoding of its own: the mail relay owns M's
//! wire form (`MailContent` / `MailAttachment` in its schema, BLAKE3 hashes as here) and builds
//! this view from a decoded M. The manifest travels twice: inside M, where the recipient's
//! client checks it against the data here, and declared to the gateways, which judge it
//! ([`judge`](super::judge())). A manifest that lies about the data is quarantined.

use super::judge::{ManifestEntry, PolicyRefusal, judge_manifest};
use super::rules::{RuleSet, Scope};
use crate::scan::{ScanError, ScanVerdict, Scanner};

/// One attachment: its manifest entry and its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// As declared (by [`Attachment::new`], always true to `data`; a decoded one may lie).
    pub manifest: ManifestEntry,
    /// The data.
    pub data: Vec<u8>,
}

impl Attachment {
    /// An attachment of `data`, its manifest entry computed from it.
    pub fn new(name: &str, media_type: &str, data: Vec<u8>) -> Self {
        Attachment {
            manifest: ManifestEntry {
                name: name.to_owned(),
                media_type: media_type.to_owned(),
                size: data.len() as u64,
                hash: *blake3::hash(&data).as_bytes(),
            },
            data,
        }
    }
}

/// A mail's plaintext.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailContent {
    /// The subject.
    pub subject: String,
    /// The body.
    pub body: Vec<u8>,
    /// The attachments.
    pub attachments: Vec<Attachment>,
}

/// Which part of a mail a quarantine reason is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Subject and body.
    Body,
    /// The attachment at this position.
    Attachment(usize),
}

impl core::fmt::Display for Part {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Part::Body => f.write_str("the body"),
            Part::Attachment(i) => write!(f, "attachment {i}"),
        }
    }
}

/// Why a client keeps a mail aside instead of sending or showing it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuarantineReason {
    /// The manifest breaks the gateway's attachment rules.
    #[error("policy: {0}")]
    Policy(PolicyRefusal),
    /// An attachment's data is not what its manifest declares.
    #[error("attachment {index}: the data does not match its manifest ({what})")]
    ManifestMismatch {
        /// Its position.
        index: usize,
        /// `"size"` or `"hash"`.
        what: &'static str,
    },
    /// A content rule of the gateway's rule set matched.
    #[error("content rule {rule:?} matched in {part}")]
    ContentRule {
        /// The rule's name.
        rule: String,
        /// Where.
        part: Part,
    },
    /// The scanner found a signature.
    #[error("{scanner} found {signature} in {part}")]
    Malware {
        /// The scanner's name.
        scanner: String,
        /// The signature's name.
        signature: String,
        /// Where.
        part: Part,
    },
    /// The scanner gave no verdict: what was not scanned is not shown or sent (fail closed).
    #[error("{scanner} could not scan {part}: {error}")]
    NotScanned {
        /// The scanner's name.
        scanner: String,
        /// Why.
        error: ScanError,
        /// Where.
        part: Part,
    },
}

impl MailContent {
    /// The inspection's view of a mail's decoded plaintext M (what a sender built with
    /// [`paep::MailContent::build`](crate::paep::MailContent::build) and a recipient opened with
    /// [`paep::MailContent::open`](crate::paep::MailContent::open)), its manifest as declared:
    /// a declared hash that is not 32 bytes becomes one that matches no data, so
    /// [`inspect`](Self::inspect) quarantines it as a lying manifest.
    pub fn of_mail(mail: &crate::paep::MailContent) -> Self {
        MailContent {
            subject: mail.subject.clone(),
            body: mail.body.clone(),
            attachments: mail
                .attachments
                .iter()
                .map(|a| Attachment {
                    manifest: ManifestEntry {
                        name: a.name.clone(),
                        media_type: a.media_type.clone(),
                        size: a.size,
                        hash: a.hash.as_slice().try_into().unwrap_or([0; 32]),
                    },
                    data: a.data.clone(),
                })
                .collect(),
        }
    }

    /// The manifest of the attachments, as a gateway is told it.
    pub fn manifest(&self) -> Vec<ManifestEntry> {
        self.attachments
            .iter()
            .map(|a| a.manifest.clone())
            .collect()
    }

    /// Applies `rules` and `scanner` to the plaintext, as a sender's client does before sending
    /// and a recipient's before showing: `Ok` or the first reason to quarantine, in this order:
    /// the manifest against the data, the attachment rules, the content rules, the scanner over
    /// the body and each attachment. A scanner error quarantines too ("not known clean").
    pub fn inspect(&self, rules: &RuleSet, scanner: &dyn Scanner) -> Result<(), QuarantineReason> {
        for (index, a) in self.attachments.iter().enumerate() {
            if a.manifest.size != a.data.len() as u64 {
                return Err(QuarantineReason::ManifestMismatch {
                    index,
                    what: "size",
                });
            }
            if a.manifest.hash != *blake3::hash(&a.data).as_bytes() {
                return Err(QuarantineReason::ManifestMismatch {
                    index,
                    what: "hash",
                });
            }
        }
        judge_manifest(rules, &self.manifest()).map_err(QuarantineReason::Policy)?;
        for rule in &rules.content_rules {
            if matches!(rule.scope, Scope::Body | Scope::All)
                && (rule.finds_in(self.subject.as_bytes()) || rule.finds_in(&self.body))
            {
                return Err(QuarantineReason::ContentRule {
                    rule: rule.name.clone(),
                    part: Part::Body,
                });
            }
            if matches!(rule.scope, Scope::Attachments | Scope::All)
                && let Some(index) = self.attachments.iter().position(|a| rule.finds_in(&a.data))
            {
                return Err(QuarantineReason::ContentRule {
                    rule: rule.name.clone(),
                    part: Part::Attachment(index),
                });
            }
        }
        let parts = core::iter::once((Part::Body, self.body.as_slice())).chain(
            self.attachments
                .iter()
                .enumerate()
                .map(|(i, a)| (Part::Attachment(i), a.data.as_slice())),
        );
        for (part, data) in parts {
            match scanner.scan(data) {
                Ok(ScanVerdict::Clean) => {}
                Ok(ScanVerdict::Infected { signature }) => {
                    return Err(QuarantineReason::Malware {
                        scanner: scanner.name().to_owned(),
                        signature,
                        part,
                    });
                }
                Err(error) => {
                    return Err(QuarantineReason::NotScanned {
                        scanner: scanner.name().to_owned(),
                        error,
                        part,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ContentRule, MediaTypePattern};
    use super::*;
    use crate::scan::{EICAR, EICAR_NAME, SignatureScanner};

    fn clean_mail() -> MailContent {
        MailContent {
            subject: "Minutes".into(),
            body: b"Hello Bob, the minutes are attached.".to_vec(),
            attachments: vec![Attachment::new(
                "minutes.txt",
                "text/plain",
                b"1. Budget approved.".to_vec(),
            )],
        }
    }

    #[test]
    fn a_built_mail_is_inspected_as_sent_and_eicar_in_it_is_found() {
        let plaintext = crate::paep::MailContent::build(
            "Minutes",
            b"see attached",
            vec![crate::paep::Attachment {
                name: "eicar.com".into(),
                media_type: "application/octet-stream".into(),
                data: EICAR.to_vec(),
            }],
        )
        .unwrap();
        let opened = crate::paep::MailContent::open(&plaintext).unwrap();
        let view = MailContent::of_mail(&opened);
        assert_eq!(view.subject, "Minutes");
        assert_eq!(view.attachments[0].manifest.size, EICAR.len() as u64);
        assert_eq!(
            view.inspect(&RuleSet::default(), &SignatureScanner::default()),
            Err(QuarantineReason::Malware {
                scanner: "builtin".into(),
                signature: EICAR_NAME.into(),
                part: Part::Attachment(0)
            })
        );
    }

    #[test]
    fn clean_mail_passes_builtin_inspection() {
        let mail = clean_mail();
        assert_eq!(
            mail.inspect(&RuleSet::default(), &SignatureScanner::default()),
            Ok(())
        );
    }

    #[test]
    fn eicar_attachment_is_quarantined_by_the_builtin_scanner() {
        let mut mail = clean_mail();
        mail.attachments.push(Attachment::new(
            "eicar.com",
            "application/octet-stream",
            EICAR.to_vec(),
        ));
        assert_eq!(
            mail.inspect(&RuleSet::default(), &SignatureScanner::default()),
            Err(QuarantineReason::Malware {
                scanner: "builtin".into(),
                signature: EICAR_NAME.into(),
                part: Part::Attachment(1)
            })
        );
    }

    #[test]
    fn attack_manifest_that_lies_about_its_data_is_quarantined() {
        let mut mail = clean_mail();
        // Declared as the clean file, carrying EICAR: the gateway saw the clean declaration.
        mail.attachments[0].data = EICAR.to_vec();
        mail.attachments[0].manifest.size = EICAR.len() as u64;
        assert_eq!(
            mail.inspect(&RuleSet::default(), &SignatureScanner::default()),
            Err(QuarantineReason::ManifestMismatch {
                index: 0,
                what: "hash"
            })
        );
        mail.attachments[0].manifest.size = 3;
        assert!(matches!(
            mail.inspect(&RuleSet::default(), &SignatureScanner::default()),
            Err(QuarantineReason::ManifestMismatch { what: "size", .. })
        ));
    }

    #[test]
    fn content_rules_and_attachment_types_quarantine() {
        let mail = clean_mail();
        let rules = RuleSet {
            content_rules: vec![ContentRule {
                name: "budget".into(),
                pattern: b"BUDGET".to_vec(),
                ignore_case: true,
                scope: Scope::Attachments,
            }],
            ..RuleSet::default()
        };
        assert_eq!(
            mail.inspect(&rules, &SignatureScanner::default()),
            Err(QuarantineReason::ContentRule {
                rule: "budget".into(),
                part: Part::Attachment(0)
            })
        );
        let body_only = RuleSet {
            content_rules: vec![ContentRule {
                scope: Scope::Body,
                ..rules.content_rules[0].clone()
            }],
            ..RuleSet::default()
        };
        assert_eq!(
            mail.inspect(&body_only, &SignatureScanner::default()),
            Ok(())
        );
        let pdf_only = RuleSet {
            accepted_media_types: vec![MediaTypePattern::parse("application/pdf").unwrap()],
            ..RuleSet::default()
        };
        assert!(matches!(
            mail.inspect(&pdf_only, &SignatureScanner::default()),
            Err(QuarantineReason::Policy(PolicyRefusal::MediaTypeRefused {
                index: 0,
                ..
            }))
        ));
    }

    #[test]
    fn scanner_error_quarantines() {
        struct Down;
        impl Scanner for Down {
            fn name(&self) -> &str {
                "down"
            }
            fn scan(&self, _: &[u8]) -> Result<ScanVerdict, ScanError> {
                Err(ScanError::Unavailable("connection refused".into()))
            }
        }
        assert!(matches!(
            clean_mail().inspect(&RuleSet::default(), &Down),
            Err(QuarantineReason::NotScanned {
                part: Part::Body,
                ..
            })
        ));
    }
}
