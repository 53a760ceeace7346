//! A gateway's rule set ([`RuleSet`]): typed, checked once when it is built from the operator's
//! configuration or from the wire ([`RuleSet::from_wire`]), and encoded for its clients
//! ([`RuleSet::to_wire`]).
//!
//! Every bound of 0 means "no limit" and every empty allow list allows everyone, so
//! [`RuleSet::default`] accepts normal mail: mails up to the protocol's largest envelope, up to
//! 64 attachments, any media type, generous rates and quotas, no content rule.

use super::address::{AddressPattern, MediaTypePattern, PatternError};
use crate::wire::pb::{self, ContentScope};
use crate::wire::{
    MAX_ADDRESS_PATTERNS, MAX_CONTENT_PATTERN_BYTES, MAX_CONTENT_RULES, MAX_MAIL_ENVELOPE_BYTES,
    MAX_MAIL_PLAINTEXT_BYTES, MAX_MEDIA_TYPES, MAX_RULE_NAME_BYTES, Validate as _, WireError,
};

/// Default most attachments in one mail.
pub const DEFAULT_MAX_ATTACHMENTS: u32 = 64;
/// Default mails per hour one account may send, and its burst.
pub const DEFAULT_ACCOUNT_RATE: RateFigure = RateFigure {
    per_hour: 3_600,
    burst: 120,
};
/// Default mails per hour one peer domain may relay, and its burst.
pub const DEFAULT_PEER_RATE: RateFigure = RateFigure {
    per_hour: 3_600_000,
    burst: 10_000,
};
/// Default mailbox quota: 100 000 mails, 4 GiB.
pub const DEFAULT_QUOTA: MailboxQuota = MailboxQuota {
    max_mails: 100_000,
    max_bytes: 4 << 30,
};

/// Why a rule set is not usable (from a configuration file or a gateway's answer).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The encoding breaks a bound of the schema.
    #[error("rule set: {0}")]
    Wire(#[from] WireError),
    /// A pattern does not parse.
    #[error("rule set: {0}")]
    Pattern(#[from] PatternError),
    /// A rate has a sustained rate but no burst.
    #[error("rule set: {field} has per_hour {per_hour} but burst 0 (set a burst of at least 1)")]
    RateWithoutBurst {
        /// `account_rate` or `peer_rate`.
        field: &'static str,
        /// Its rate.
        per_hour: u32,
    },
    /// A content rule has an empty name or pattern, or one over its bound.
    #[error("rule set: content rule {index}: {reason}")]
    ContentRule {
        /// Its position.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A list is longer than its bound.
    #[error("rule set: {field} has {count} elements, at most {max} allowed")]
    TooMany {
        /// The list.
        field: &'static str,
        /// Its length.
        count: usize,
        /// The bound.
        max: usize,
    },
}

/// A sustained rate of mails and a burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateFigure {
    /// Mails per hour, sustained; 0: no limit.
    pub per_hour: u32,
    /// Mails at once above the rate.
    pub burst: u32,
}

impl RateFigure {
    /// No limit.
    pub const UNLIMITED: RateFigure = RateFigure {
        per_hour: 0,
        burst: 0,
    };

    /// Whether this rate limits nothing.
    pub fn is_unlimited(&self) -> bool {
        self.per_hour == 0
    }

    fn check(self, field: &'static str) -> Result<Self, RuleError> {
        if self.per_hour > 0 && self.burst == 0 {
            return Err(RuleError::RateWithoutBurst {
                field,
                per_hour: self.per_hour,
            });
        }
        Ok(self)
    }
}

/// What one account's mailbox may hold; 0: no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxQuota {
    /// Mails.
    pub max_mails: u64,
    /// Bytes of stored mail.
    pub max_bytes: u64,
}

/// Where a content rule looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Subject and body.
    Body,
    /// Attachments' data.
    Attachments,
    /// Both.
    All,
}

/// A content rule the clients apply to a mail's plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentRule {
    /// Its name, shown with a quarantine.
    pub name: String,
    /// The bytes looked for (never empty).
    pub pattern: Vec<u8>,
    /// Compare ASCII letters without case.
    pub ignore_case: bool,
    /// Where to look.
    pub scope: Scope,
}

impl ContentRule {
    /// Whether `haystack` contains the pattern.
    pub fn finds_in(&self, haystack: &[u8]) -> bool {
        let n = self.pattern.len();
        if self.ignore_case {
            haystack
                .windows(n)
                .any(|w| w.eq_ignore_ascii_case(&self.pattern))
        } else {
            haystack.windows(n).any(|w| w == self.pattern.as_slice())
        }
    }
}

/// A gateway's rule set (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSet {
    /// Largest mail (encrypted envelope) in bytes; 0: no limit.
    pub max_mail_bytes: u64,
    /// Largest declared attachment in bytes; 0: no limit.
    pub max_attachment_bytes: u64,
    /// Most attachments in one mail; 0: no limit.
    pub max_attachments: u32,
    /// Accepted attachment media types; empty: any.
    pub accepted_media_types: Vec<MediaTypePattern>,
    /// Senders allowed; empty: any.
    pub sender_allow: Vec<AddressPattern>,
    /// Senders refused (wins over `sender_allow`).
    pub sender_deny: Vec<AddressPattern>,
    /// Recipients allowed; empty: any.
    pub recipient_allow: Vec<AddressPattern>,
    /// Recipients refused (wins over `recipient_allow`).
    pub recipient_deny: Vec<AddressPattern>,
    /// Mails one account of the gateway may send.
    pub account_rate: RateFigure,
    /// Mails one peer domain may relay to the gateway.
    pub peer_rate: RateFigure,
    /// What one account's mailbox may hold.
    pub quota: MailboxQuota,
    /// Content rules the clients apply.
    pub content_rules: Vec<ContentRule>,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet {
            max_mail_bytes: MAX_MAIL_ENVELOPE_BYTES as u64,
            max_attachment_bytes: MAX_MAIL_PLAINTEXT_BYTES as u64,
            max_attachments: DEFAULT_MAX_ATTACHMENTS,
            accepted_media_types: Vec::new(),
            sender_allow: Vec::new(),
            sender_deny: Vec::new(),
            recipient_allow: Vec::new(),
            recipient_deny: Vec::new(),
            account_rate: DEFAULT_ACCOUNT_RATE,
            peer_rate: DEFAULT_PEER_RATE,
            quota: DEFAULT_QUOTA,
            content_rules: Vec::new(),
        }
    }
}

fn bounded<T>(field: &'static str, items: &[T], max: usize) -> Result<(), RuleError> {
    if items.len() > max {
        return Err(RuleError::TooMany {
            field,
            count: items.len(),
            max,
        });
    }
    Ok(())
}

fn addresses(field: &'static str, texts: &[String]) -> Result<Vec<AddressPattern>, RuleError> {
    bounded(field, texts, MAX_ADDRESS_PATTERNS)?;
    Ok(texts
        .iter()
        .map(|t| AddressPattern::parse(t))
        .collect::<Result<_, _>>()?)
}

fn rate(field: &'static str, figure: Option<&pb::RateFigure>) -> Result<RateFigure, RuleError> {
    let figure = figure.map_or(RateFigure::UNLIMITED, |f| RateFigure {
        per_hour: f.per_hour,
        burst: f.burst,
    });
    figure.check(field)
}

impl RuleSet {
    /// The rule set of a gateway's answer (or of any encoding): the schema's bounds, then every
    /// pattern and figure. A rule set that fails is refused whole.
    pub fn from_wire(rules: &pb::PolicyRules) -> Result<Self, RuleError> {
        rules.validate()?;
        Self::from_parts(rules)
    }

    /// The checks of [`from_wire`](Self::from_wire) past the schema's bounds, for the operator's
    /// configuration, whose lists may be longer than a client would accept (they are refused
    /// here with [`RuleError::TooMany`] instead of a wire error).
    pub fn from_parts(rules: &pb::PolicyRules) -> Result<Self, RuleError> {
        bounded(
            "accepted_media_types",
            &rules.accepted_media_types,
            MAX_MEDIA_TYPES,
        )?;
        bounded("content_rules", &rules.content_rules, MAX_CONTENT_RULES)?;
        let content_rules = rules
            .content_rules
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let bad = |reason| RuleError::ContentRule { index, reason };
                if r.name.is_empty() || r.name.len() > MAX_RULE_NAME_BYTES {
                    return Err(bad("the name must be 1 to 128 bytes"));
                }
                if r.pattern.is_empty() || r.pattern.len() > MAX_CONTENT_PATTERN_BYTES {
                    return Err(bad("the pattern must be 1 to 1024 bytes"));
                }
                let scope = match ContentScope::try_from(r.scope) {
                    Ok(ContentScope::Body) => Scope::Body,
                    Ok(ContentScope::Attachments) => Scope::Attachments,
                    Ok(ContentScope::All) => Scope::All,
                    _ => return Err(bad("the scope must be body, attachments or all")),
                };
                Ok(ContentRule {
                    name: r.name.clone(),
                    pattern: r.pattern.clone(),
                    ignore_case: r.ignore_case,
                    scope,
                })
            })
            .collect::<Result<_, _>>()?;
        let quota = rules.quota.as_ref().map_or(
            MailboxQuota {
                max_mails: 0,
                max_bytes: 0,
            },
            |q| MailboxQuota {
                max_mails: q.max_mails,
                max_bytes: q.max_bytes,
            },
        );
        Ok(RuleSet {
            max_mail_bytes: rules.max_mail_bytes,
            max_attachment_bytes: rules.max_attachment_bytes,
            max_attachments: rules.max_attachments,
            accepted_media_types: rules
                .accepted_media_types
                .iter()
                .map(|t| MediaTypePattern::parse(t))
                .collect::<Result<_, _>>()?,
            sender_allow: addresses("sender_allow", &rules.sender_allow)?,
            sender_deny: addresses("sender_deny", &rules.sender_deny)?,
            recipient_allow: addresses("recipient_allow", &rules.recipient_allow)?,
            recipient_deny: addresses("recipient_deny", &rules.recipient_deny)?,
            account_rate: rate("account_rate", rules.account_rate.as_ref())?,
            peer_rate: rate("peer_rate", rules.peer_rate.as_ref())?,
            quota,
            content_rules,
        })
    }

    /// The rule set as the gateway serves it. `from_wire(&self.to_wire())` gives back `self`.
    pub fn to_wire(&self) -> pb::PolicyRules {
        let strings =
            |patterns: &[AddressPattern]| patterns.iter().map(|p| p.to_string()).collect();
        let figure = |r: RateFigure| pb::RateFigure {
            per_hour: r.per_hour,
            burst: r.burst,
        };
        pb::PolicyRules {
            max_mail_bytes: self.max_mail_bytes,
            max_attachment_bytes: self.max_attachment_bytes,
            max_attachments: self.max_attachments,
            accepted_media_types: self
                .accepted_media_types
                .iter()
                .map(|p| p.to_string())
                .collect(),
            sender_allow: strings(&self.sender_allow),
            sender_deny: strings(&self.sender_deny),
            recipient_allow: strings(&self.recipient_allow),
            recipient_deny: strings(&self.recipient_deny),
            account_rate: Some(figure(self.account_rate)),
            peer_rate: Some(figure(self.peer_rate)),
            quota: Some(pb::MailboxQuota {
                max_mails: self.quota.max_mails,
                max_bytes: self.quota.max_bytes,
            }),
            content_rules: self
                .content_rules
                .iter()
                .map(|r| pb::ContentRule {
                    name: r.name.clone(),
                    pattern: r.pattern.clone(),
                    ignore_case: r.ignore_case,
                    scope: match r.scope {
                        Scope::Body => ContentScope::Body,
                        Scope::Attachments => ContentScope::Attachments,
                        Scope::All => ContentScope::All,
                    } as i32,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn sample() -> pb::PolicyRules {
        pb::PolicyRules {
            max_mail_bytes: 1000,
            max_attachment_bytes: 500,
            max_attachments: 2,
            accepted_media_types: vec!["text/plain".into(), "image/*".into()],
            sender_allow: vec!["*@a.test".into()],
            sender_deny: vec!["spam@a.test".into()],
            recipient_allow: vec![],
            recipient_deny: vec!["*@*.evil.test".into()],
            account_rate: Some(pb::RateFigure {
                per_hour: 60,
                burst: 5,
            }),
            peer_rate: Some(pb::RateFigure {
                per_hour: 0,
                burst: 0,
            }),
            quota: Some(pb::MailboxQuota {
                max_mails: 10,
                max_bytes: 10_000,
            }),
            content_rules: vec![pb::ContentRule {
                name: "invoice-scam".into(),
                pattern: b"wire transfer now".to_vec(),
                ignore_case: true,
                scope: ContentScope::All as i32,
            }],
        }
    }

    #[test]
    fn rule_set_round_trips_through_the_wire() {
        let rules = RuleSet::from_wire(&sample()).unwrap();
        assert_eq!(rules.to_wire(), sample());
        let bytes = rules.to_wire().encode_to_vec();
        let decoded: pb::PolicyRules = crate::wire::decode_valid(&bytes).unwrap();
        assert_eq!(RuleSet::from_wire(&decoded).unwrap(), rules);
        let default = RuleSet::default();
        assert_eq!(RuleSet::from_wire(&default.to_wire()).unwrap(), default);
    }

    #[test]
    fn malformed_rule_set_is_refused_with_a_typed_error() {
        let mut bad = sample();
        bad.sender_deny.push("not an address".into());
        assert!(matches!(
            RuleSet::from_wire(&bad),
            Err(RuleError::Pattern(PatternError::Address(_)))
        ));
        let mut bad = sample();
        bad.accepted_media_types.push("pdf".into());
        assert!(matches!(
            RuleSet::from_wire(&bad),
            Err(RuleError::Pattern(PatternError::MediaType(_)))
        ));
        let mut bad = sample();
        bad.account_rate = Some(pb::RateFigure {
            per_hour: 10,
            burst: 0,
        });
        assert!(matches!(
            RuleSet::from_wire(&bad),
            Err(RuleError::RateWithoutBurst {
                field: "account_rate",
                ..
            })
        ));
        let mut bad = sample();
        bad.content_rules[0].pattern.clear();
        assert!(matches!(
            RuleSet::from_wire(&bad),
            Err(RuleError::Wire(_) | RuleError::ContentRule { index: 0, .. })
        ));
        let mut bad = sample();
        bad.content_rules[0].scope = 0;
        assert!(RuleSet::from_wire(&bad).is_err());
        let mut bad = sample();
        bad.recipient_deny = vec!["*@x.test".into(); MAX_ADDRESS_PATTERNS + 1];
        assert!(RuleSet::from_wire(&bad).is_err());
        assert!(matches!(
            RuleSet::from_parts(&bad),
            Err(RuleError::TooMany { .. })
        ));
    }

    #[test]
    fn content_rule_finds_with_and_without_case() {
        let rules = RuleSet::from_wire(&sample()).unwrap();
        let rule = &rules.content_rules[0];
        assert!(rule.finds_in(b"please WIRE TRANSFER NOW thanks"));
        assert!(!rule.finds_in(b"wire the transfer"));
        let exact = ContentRule {
            ignore_case: false,
            ..rule.clone()
        };
        assert!(!exact.finds_in(b"WIRE TRANSFER NOW"));
        assert!(exact.finds_in(b"xwire transfer now"));
        assert!(!exact.finds_in(b"short"));
    }
}
