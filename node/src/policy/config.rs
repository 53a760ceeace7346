//! The `[policy]` table of the node's configuration file: every figure of proto's `RuleSet`,
//! with defaults that accept normal mail, checked when the configuration is loaded
//! ([`PolicyConfig::rule_set`], called by `NodeConfig::validate`).

use herald_proto::policy::{RuleError, RuleSet};
use herald_proto::wire::pb::{self, ContentScope};
use serde::{Deserialize, Serialize};

/// One content rule as the operator writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentRuleConfig {
    /// The rule's name, shown with a quarantine.
    pub name: String,
    /// The text looked for.
    pub pattern: String,
    /// Compare ASCII letters without case.
    #[serde(default)]
    pub ignore_case: bool,
    /// `"body"`, `"attachments"` or `"all"`.
    pub scope: String,
}

/// The `[policy]` table (see `to_toml_section` for each field's documentation in the file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Largest mail (encrypted envelope), bytes; 0: no limit.
    pub max_mail_bytes: u64,
    /// Largest declared attachment, bytes; 0: no limit.
    pub max_attachment_bytes: u64,
    /// Most attachments in one mail; 0: the protocol's bound.
    pub max_attachments: u32,
    /// Accepted attachment media types (`type/subtype`, `type/*`); empty: any.
    pub accepted_media_types: Vec<String>,
    /// Senders allowed (`local@domain`, `*@domain`, `*@*.domain`); empty: any.
    pub sender_allow: Vec<String>,
    /// Senders refused.
    pub sender_deny: Vec<String>,
    /// Recipients allowed; empty: any.
    pub recipient_allow: Vec<String>,
    /// Recipients refused.
    pub recipient_deny: Vec<String>,
    /// Mails per hour one account may send; 0: no limit.
    pub account_mails_per_hour: u32,
    /// Mails one account may send at once above its rate.
    pub account_burst: u32,
    /// Mails per hour one peer domain may relay here; 0: no limit.
    pub peer_mails_per_hour: u32,
    /// Mails one peer domain may relay at once above its rate.
    pub peer_burst: u32,
    /// Mails one mailbox may hold; 0: no limit.
    pub quota_mails: u64,
    /// Bytes one mailbox may hold; 0: no limit.
    pub quota_bytes: u64,
    /// Content rules the clients apply.
    pub content_rules: Vec<ContentRuleConfig>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self::from_rule_set(&RuleSet::default())
    }
}

impl PolicyConfig {
    /// The table that gives `rules` (content rules must be text).
    fn from_rule_set(rules: &RuleSet) -> Self {
        let w = rules.to_wire();
        let rate = |r: Option<pb::RateFigure>| r.map_or((0, 0), |r| (r.per_hour, r.burst));
        let (account_mails_per_hour, account_burst) = rate(w.account_rate);
        let (peer_mails_per_hour, peer_burst) = rate(w.peer_rate);
        let quota = w.quota.unwrap_or_default();
        PolicyConfig {
            max_mail_bytes: w.max_mail_bytes,
            max_attachment_bytes: w.max_attachment_bytes,
            max_attachments: w.max_attachments,
            accepted_media_types: w.accepted_media_types,
            sender_allow: w.sender_allow,
            sender_deny: w.sender_deny,
            recipient_allow: w.recipient_allow,
            recipient_deny: w.recipient_deny,
            account_mails_per_hour,
            account_burst,
            peer_mails_per_hour,
            peer_burst,
            quota_mails: quota.max_mails,
            quota_bytes: quota.max_bytes,
            content_rules: Vec::new(),
        }
    }

    /// The rule set this table describes, or why it is not one (a pattern that does not parse,
    /// a rate without a burst, a list over its bound, a content rule with an unknown scope).
    pub fn rule_set(&self) -> Result<RuleSet, RuleError> {
        let content_rules = self
            .content_rules
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let scope = match r.scope.as_str() {
                    "body" => ContentScope::Body,
                    "attachments" => ContentScope::Attachments,
                    "all" => ContentScope::All,
                    _ => {
                        return Err(RuleError::ContentRule {
                            index,
                            reason: "scope must be \"body\", \"attachments\" or \"all\"",
                        });
                    }
                };
                Ok(pb::ContentRule {
                    name: r.name.clone(),
                    pattern: r.pattern.clone().into_bytes(),
                    ignore_case: r.ignore_case,
                    scope: scope as i32,
                })
            })
            .collect::<Result<_, _>>()?;
        RuleSet::from_parts(&pb::PolicyRules {
            max_mail_bytes: self.max_mail_bytes,
            max_attachment_bytes: self.max_attachment_bytes,
            max_attachments: self.max_attachments,
            accepted_media_types: self.accepted_media_types.clone(),
            sender_allow: self.sender_allow.clone(),
            sender_deny: self.sender_deny.clone(),
            recipient_allow: self.recipient_allow.clone(),
            recipient_deny: self.recipient_deny.clone(),
            account_rate: Some(pb::RateFigure {
                per_hour: self.account_mails_per_hour,
                burst: self.account_burst,
            }),
            peer_rate: Some(pb::RateFigure {
                per_hour: self.peer_mails_per_hour,
                burst: self.peer_burst,
            }),
            quota: Some(pb::MailboxQuota {
                max_mails: self.quota_mails,
                max_bytes: self.quota_bytes,
            }),
            content_rules,
        })
    }

    /// The documented `[policy]` table of the configuration file (`NodeConfig::to_toml`).
    /// Parsing it gives back `self`.
    pub fn to_toml_section(&self) -> String {
        let list = |items: &[String]| {
            toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect()).to_string()
        };
        let mut rules = String::new();
        for r in &self.content_rules {
            // Invariant: a struct of strings and a bool always converts to a TOML table.
            let table = toml::Value::try_from(r).expect("a content rule is a TOML table");
            rules.push_str("\n  ");
            rules.push_str(&table.to_string());
            rules.push(',');
        }
        if !rules.is_empty() {
            rules.push('\n');
        }
        let d = PolicyConfig::default();
        format!(
            r#"
# Mail policy (DESIGN §4): what this gateway accepts from its clients and from peer domains.
# Every refusal is a Rejection evidence record with its reason, told to the sender and counted
# in /metrics (herald_policy_rejections). The defaults accept normal mail. Clients fetch these
# rules and apply the content rules and their virus scanner where the plaintext is.
[policy]
# Largest mail, its encrypted envelope, in bytes (default {d_mail}; 0: no limit).
max_mail_bytes = {max_mail_bytes}
# Largest single attachment declared in a mail's manifest, bytes (default {d_att}; 0: no limit).
max_attachment_bytes = {max_attachment_bytes}
# Most attachments in one mail (default {d_count}; 0: the protocol's bound of 256).
max_attachments = {max_attachments}
# Accepted attachment media types, "type/subtype" or "type/*" (default: empty, any type).
accepted_media_types = {accepted_media_types}
# Address patterns: "alice@example.org", "*@example.org" (the domain), "*@*.example.org" (its
# subdomains). Deny wins; an empty allow list allows everyone (default: all empty).
sender_allow = {sender_allow}
sender_deny = {sender_deny}
recipient_allow = {recipient_allow}
recipient_deny = {recipient_deny}
# Mails per hour one account of this gateway may send, and how many at once above that
# (default {d_arate}/h, burst {d_aburst}; 0 per hour: no limit; a burst of at least 1 otherwise).
account_mails_per_hour = {account_mails_per_hour}
account_burst = {account_burst}
# Mails per hour one peer domain may relay to this gateway, and its burst (default
# {d_prate}/h, burst {d_pburst}).
peer_mails_per_hour = {peer_mails_per_hour}
peer_burst = {peer_burst}
# What one mailbox may hold: mails and bytes (default {d_qm} and {d_qb}; 0: no limit).
quota_mails = {quota_mails}
quota_bytes = {quota_bytes}
# Content rules the clients apply to the plaintext: a mail whose scope ("body", "attachments"
# or "all") contains the pattern text is quarantined. E.g.
# {{ name = "wire-fraud", pattern = "urgent wire transfer", ignore_case = true, scope = "all" }}
content_rules = [{rules}]
"#,
            d_mail = d.max_mail_bytes,
            max_mail_bytes = self.max_mail_bytes,
            d_att = d.max_attachment_bytes,
            max_attachment_bytes = self.max_attachment_bytes,
            d_count = d.max_attachments,
            max_attachments = self.max_attachments,
            accepted_media_types = list(&self.accepted_media_types),
            sender_allow = list(&self.sender_allow),
            sender_deny = list(&self.sender_deny),
            recipient_allow = list(&self.recipient_allow),
            recipient_deny = list(&self.recipient_deny),
            d_arate = d.account_mails_per_hour,
            d_aburst = d.account_burst,
            account_mails_per_hour = self.account_mails_per_hour,
            account_burst = self.account_burst,
            d_prate = d.peer_mails_per_hour,
            d_pburst = d.peer_burst,
            peer_mails_per_hour = self.peer_mails_per_hour,
            peer_burst = self.peer_burst,
            d_qm = d.quota_mails,
            d_qb = d.quota_bytes,
            quota_mails = self.quota_mails,
            quota_bytes = self.quota_bytes,
            rules = rules,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_is_the_default_rule_set_and_round_trips() {
        let config = PolicyConfig::default();
        assert_eq!(config.rule_set().unwrap(), RuleSet::default());
        let text = config.to_toml_section();
        #[derive(Deserialize)]
        struct File {
            policy: PolicyConfig,
        }
        let parsed: File = toml::from_str(&text).unwrap();
        assert_eq!(parsed.policy, config);
    }

    #[test]
    fn table_with_rules_round_trips() {
        let config = PolicyConfig {
            sender_deny: vec!["*@spam.test".into()],
            accepted_media_types: vec!["image/*".into()],
            content_rules: vec![ContentRuleConfig {
                name: "fraud \"quoted\"".into(),
                pattern: "wire transfer".into(),
                ignore_case: true,
                scope: "all".into(),
            }],
            ..PolicyConfig::default()
        };
        #[derive(Deserialize)]
        struct File {
            policy: PolicyConfig,
        }
        let parsed: File = toml::from_str(&config.to_toml_section()).unwrap();
        assert_eq!(parsed.policy, config);
        assert_eq!(parsed.policy.rule_set().unwrap().content_rules.len(), 1);
    }
}
