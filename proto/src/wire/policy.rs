//! Bounds of the policy messages (`policy.proto`), checked after decoding.
//!
//! | message | limit | reason |
//! |---|---|---|
//! | `PolicyRules` | [`MAX_POLICY_RULES_BYTES`] | four address lists of [`MAX_ADDRESS_PATTERNS`], [`MAX_MEDIA_TYPES`] media types, [`MAX_CONTENT_RULES`] content rules, each bounded; fits one client response |
//!
//! Which patterns parse is `policy::RuleSet::from_wire`'s to check; here only sizes and counts.

use super::pb::{self, ContentScope};
use super::validate::{exact, known_enum, sized};
use super::{MAX_ACCOUNT_BYTES, MAX_MEDIA_TYPE_BYTES, Validate, WireError};

/// Most patterns in one address list of a rule set.
pub const MAX_ADDRESS_PATTERNS: usize = 256;
/// Most accepted media types in a rule set.
pub const MAX_MEDIA_TYPES: usize = 256;
/// Most content rules in a rule set.
pub const MAX_CONTENT_RULES: usize = 256;
/// Longest content rule name.
pub const MAX_RULE_NAME_BYTES: usize = 128;
/// Longest content rule pattern.
pub const MAX_CONTENT_PATTERN_BYTES: usize = 1024;
/// Largest encoded [`pb::PolicyRules`]: 4 × 256 addresses (≤ 323 bytes with tag and length),
/// 256 media types (≤ 131), 256 content rules (≤ 1170) and a few figures: about 660 KB.
pub const MAX_POLICY_RULES_BYTES: usize = 768 * 1024;
/// Most entries in a declared attachment manifest (the protocol's bound on attachments, which
/// a rule set's `max_attachments` may only lower).
pub const MAX_MANIFEST_ENTRIES: usize = 256;
/// Longest attachment file name in a manifest entry.
pub const MAX_MANIFEST_NAME_BYTES: usize = 255;

fn list(
    field: &'static str,
    items: &[String],
    max_items: usize,
    max_len: usize,
) -> Result<(), WireError> {
    if items.len() > max_items {
        return Err(WireError::TooManyElements {
            field,
            count: items.len(),
            max: max_items,
        });
    }
    items
        .iter()
        .try_for_each(|item| sized(field, item.len(), 1, max_len))
}

impl pb::PolicyRules {
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
        list(
            "PolicyRules.accepted_media_types",
            &self.accepted_media_types,
            MAX_MEDIA_TYPES,
            MAX_MEDIA_TYPE_BYTES,
        )?;
        for (field, patterns) in [
            ("PolicyRules.sender_allow", &self.sender_allow),
            ("PolicyRules.sender_deny", &self.sender_deny),
            ("PolicyRules.recipient_allow", &self.recipient_allow),
            ("PolicyRules.recipient_deny", &self.recipient_deny),
        ] {
            list(field, patterns, MAX_ADDRESS_PATTERNS, MAX_ACCOUNT_BYTES)?;
        }
        if self.content_rules.len() > MAX_CONTENT_RULES {
            return Err(WireError::TooManyElements {
                field: "PolicyRules.content_rules",
                count: self.content_rules.len(),
                max: MAX_CONTENT_RULES,
            });
        }
        for rule in &self.content_rules {
            sized("ContentRule.name", rule.name.len(), 1, MAX_RULE_NAME_BYTES)?;
            sized(
                "ContentRule.pattern",
                rule.pattern.len(),
                1,
                MAX_CONTENT_PATTERN_BYTES,
            )?;
            known_enum::<ContentScope>("ContentRule.scope", rule.scope)?;
        }
        Ok(())
    }
}

impl Validate for pb::PolicyRules {
    const MAX_ENCODED_LEN: usize = MAX_POLICY_RULES_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        self.validate_fields()
    }
}

impl pb::AttachmentManifestEntry {
    pub(crate) fn validate_fields(&self) -> Result<(), WireError> {
        sized(
            "AttachmentManifestEntry.name",
            self.name.len(),
            1,
            MAX_MANIFEST_NAME_BYTES,
        )?;
        sized(
            "AttachmentManifestEntry.media_type",
            self.media_type.len(),
            3,
            MAX_MEDIA_TYPE_BYTES,
        )?;
        exact("AttachmentManifestEntry.hash", &self.hash, 32)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn largest_rule_set_fits_its_limit_and_a_client_response() {
        let address = format!("{}@{}", "l".repeat(64), "d".repeat(MAX_ACCOUNT_BYTES - 65));
        let addresses = vec![address; MAX_ADDRESS_PATTERNS];
        let rules = pb::PolicyRules {
            max_mail_bytes: u64::MAX,
            max_attachment_bytes: u64::MAX,
            max_attachments: u32::MAX,
            accepted_media_types: vec!["m".repeat(MAX_MEDIA_TYPE_BYTES); MAX_MEDIA_TYPES],
            sender_allow: addresses.clone(),
            sender_deny: addresses.clone(),
            recipient_allow: addresses.clone(),
            recipient_deny: addresses,
            account_rate: Some(pb::RateFigure {
                per_hour: u32::MAX,
                burst: u32::MAX,
            }),
            peer_rate: Some(pb::RateFigure {
                per_hour: u32::MAX,
                burst: u32::MAX,
            }),
            quota: Some(pb::MailboxQuota {
                max_mails: u64::MAX,
                max_bytes: u64::MAX,
            }),
            content_rules: vec![
                pb::ContentRule {
                    name: "n".repeat(MAX_RULE_NAME_BYTES),
                    pattern: vec![0xff; MAX_CONTENT_PATTERN_BYTES],
                    ignore_case: true,
                    scope: ContentScope::All as i32,
                };
                MAX_CONTENT_RULES
            ],
        };
        assert_eq!(rules.validate(), Ok(()));
        let len = rules.encoded_len();
        assert!(len <= MAX_POLICY_RULES_BYTES, "{len}");
        let response = pb::ClientResponse {
            response: Some(pb::client_response::Response::Policy(rules)),
        };
        assert!(response.encoded_len() <= super::super::MAX_CLIENT_RESPONSE_BYTES);
    }
}
