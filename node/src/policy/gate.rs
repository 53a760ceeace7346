//! [`PolicyGate`]: the rule set, the per-account and per-peer mail rate buckets, and the
//! refusal counters. One per node, shared (`Arc`) by the client service and the relay.
//!
//! Rates reuse the submission limiter's token buckets (`service::limits`), keyed by account and
//! by peer domain. A rule set's rate is mails per hour; a bucket counts in 1/3600 of a mail, so
//! `per_hour` mails per hour is exactly `per_hour` tokens per second and one mail costs 3600.
//! A mail the rules refuse takes no token: only mails that would be accepted count.

use std::time::Instant;

use herald_proto::policy::{MailFacts, PolicyRefusal, RateFigure, RuleSet, judge};
use herald_proto::wire::pb;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tracing::debug;

use crate::service::{Rate, SubmitLimiter, SubmitLimits};

/// Tokens per mail in a rate bucket (see the module docs).
const TOKENS_PER_MAIL: u64 = 3600;

/// A label of `herald_policy_rejections`: why (proto's fixed refusal label) and from where
/// (`client` or `peer`). Both are fixed strings, so a sender cannot grow the series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectionLabel {
    /// `PolicyRefusal::label`.
    pub reason: &'static str,
    /// `client` or `peer`.
    pub from: &'static str,
}

/// The gateway's policy at run time (see the module docs).
#[derive(Debug)]
pub struct PolicyGate {
    rules: RuleSet,
    wire: pb::PolicyRules,
    accounts: SubmitLimiter<String>,
    peers: SubmitLimiter<String>,
    rejections: Family<RejectionLabel, Counter>,
}

fn limits(rate: RateFigure) -> SubmitLimits {
    SubmitLimits {
        entries: Rate {
            per_sec: u64::from(rate.per_hour),
            burst: u64::from(rate.burst.max(1)) * TOKENS_PER_MAIL,
        },
        // No byte dimension: sizes are the rules' to judge.
        bytes: Rate {
            per_sec: 0,
            burst: 1,
        },
    }
}

impl PolicyGate {
    /// A gate over `rules`, counting refusals in `registry` as `herald_policy_rejections`.
    pub fn new(rules: RuleSet, registry: &mut Registry) -> Self {
        let gate = Self::unregistered(rules);
        registry.register(
            "herald_policy_rejections",
            "Mails refused by the gateway's policy, by reason and by where they came from",
            gate.rejections.clone(),
        );
        gate
    }

    /// A gate whose counters are registered nowhere (tests, and services built without a
    /// configured policy).
    pub fn unregistered(rules: RuleSet) -> Self {
        let rejections = Family::<RejectionLabel, Counter>::default();
        // Every series at 0 from the start, so a dashboard sees each reason before it happens.
        for reason in PolicyRefusal::LABELS {
            for from in ["client", "peer"] {
                let _ = rejections.get_or_create(&RejectionLabel { reason, from });
            }
        }
        PolicyGate {
            wire: rules.to_wire(),
            accounts: SubmitLimiter::with_counter(limits(rules.account_rate), Counter::default()),
            peers: SubmitLimiter::with_counter(limits(rules.peer_rate), Counter::default()),
            rejections,
            rules,
        }
    }

    /// The rule set.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The rule set as the client protocol serves it.
    pub fn wire_rules(&self) -> pb::PolicyRules {
        self.wire.clone()
    }

    /// The refusal counters (read by tests; rendered in `/metrics`).
    pub fn rejections(&self) -> &Family<RejectionLabel, Counter> {
        &self.rejections
    }

    /// Judges a mail this gateway's logged-in client `account` hands it (S_A): the rules, then
    /// the account's rate. Call before storing or acknowledging anything; a refusal's
    /// `reason()` goes into the `Rejection` record and back to the sender.
    pub fn judge_from_client(
        &self,
        account: &str,
        mail: &MailFacts<'_>,
        now: Instant,
    ) -> Result<(), PolicyRefusal> {
        self.judge_with_rate(mail, "client", || {
            if self.rules.account_rate.is_unlimited() {
                return Ok(());
            }
            self.accounts
                .take(account.to_owned(), TOKENS_PER_MAIL, 0, now)
                .map_err(|retry_after| PolicyRefusal::AccountRate { retry_after })
        })
    }

    /// Judges a mail the registered peer domain `peer_domain` relays here (S_B): the rules (set
    /// `mail.recipient_mailbox` so the quota is judged), then the peer's rate.
    pub fn judge_from_peer(
        &self,
        peer_domain: &str,
        mail: &MailFacts<'_>,
        now: Instant,
    ) -> Result<(), PolicyRefusal> {
        self.judge_with_rate(mail, "peer", || self.peer_rate(peer_domain, now))
    }

    fn peer_rate(&self, peer_domain: &str, now: Instant) -> Result<(), PolicyRefusal> {
        if self.rules.peer_rate.is_unlimited() {
            return Ok(());
        }
        self.peers
            .take(peer_domain.to_ascii_lowercase(), TOKENS_PER_MAIL, 0, now)
            .map_err(|retry_after| PolicyRefusal::PeerRate { retry_after })
    }

    /// Judges the first chunk (offset 0) of a mail the registered peer domain `peer_domain`
    /// relays in chunks (S_B): the rules on what the chunk announces, if it names the
    /// recipient (`mail`), then the peer's rate, taken here once for the mail; the whole mail is
    /// then judged by the rules only ([`Self::judge_announced_from_peer`]).
    pub fn judge_first_chunk_from_peer(
        &self,
        peer_domain: &str,
        mail: Option<&MailFacts<'_>>,
        now: Instant,
    ) -> Result<(), PolicyRefusal> {
        let rules = mail.map_or(Ok(()), |m| judge(&self.rules, m));
        self.counted(
            rules.and_then(|()| self.peer_rate(peer_domain, now)),
            "peer",
        )
    }

    /// Judges by the rules only a mail the registered peer domain relays in chunks (S_B), its
    /// peer's rate being taken on its first chunk ([`Self::judge_first_chunk_from_peer`]): what
    /// a chunk past the first announces (the size being Z's declared length, below the
    /// envelope's, so nothing the whole mail would pass is refused), and the whole mail.
    pub fn judge_announced_from_peer(&self, mail: &MailFacts<'_>) -> Result<(), PolicyRefusal> {
        self.judge_with_rate(mail, "peer", || Ok(()))
    }

    fn judge_with_rate(
        &self,
        mail: &MailFacts<'_>,
        from: &'static str,
        rate: impl FnOnce() -> Result<(), PolicyRefusal>,
    ) -> Result<(), PolicyRefusal> {
        self.counted(judge(&self.rules, mail).and_then(|()| rate()), from)
    }

    /// `verdict`, its refusal (if any) counted by reason and `from`.
    fn counted(
        &self,
        verdict: Result<(), PolicyRefusal>,
        from: &'static str,
    ) -> Result<(), PolicyRefusal> {
        if let Err(refusal) = &verdict {
            debug!(reason = refusal.label(), from, "mail refused by policy");
            self.rejections
                .get_or_create(&RejectionLabel {
                    reason: refusal.label(),
                    from,
                })
                .inc();
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use herald_proto::policy::{AddressPattern, MailboxUsage};

    use super::*;

    fn facts(size: u64) -> MailFacts<'static> {
        MailFacts {
            sender: "alice@a.test",
            recipient: "bob@b.test",
            size,
            manifest: &[],
            recipient_mailbox: Some(MailboxUsage { mails: 0, bytes: 0 }),
        }
    }

    fn count(gate: &PolicyGate, reason: &'static str, from: &'static str) -> u64 {
        gate.rejections()
            .get_or_create(&RejectionLabel { reason, from })
            .get()
    }

    #[test]
    fn mail_over_the_account_rate_is_refused_with_a_retry_time() {
        let rules = RuleSet {
            account_rate: RateFigure {
                per_hour: 3600,
                burst: 2,
            },
            ..RuleSet::default()
        };
        let gate = PolicyGate::unregistered(rules);
        let t0 = Instant::now();
        assert_eq!(
            gate.judge_from_client("alice@a.test", &facts(10), t0),
            Ok(())
        );
        assert_eq!(
            gate.judge_from_client("alice@a.test", &facts(10), t0),
            Ok(())
        );
        let refusal = gate
            .judge_from_client("alice@a.test", &facts(10), t0)
            .unwrap_err();
        let PolicyRefusal::AccountRate { retry_after } = refusal else {
            panic!("{refusal:?}");
        };
        // 3600 per hour: one mail a second.
        assert!(retry_after <= Duration::from_secs(1) && retry_after > Duration::ZERO);
        assert!(refusal.reason().contains("over its rate"));
        assert_eq!(count(&gate, "account_rate", "client"), 1);
        // Another account has its own bucket; a second later Alice has a mail again.
        assert_eq!(
            gate.judge_from_client("carol@a.test", &facts(10), t0),
            Ok(())
        );
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            gate.judge_from_client("alice@a.test", &facts(10), t1),
            Ok(())
        );
    }

    #[test]
    fn mail_over_the_peer_rate_is_refused_and_refused_mail_takes_no_token() {
        let rules = RuleSet {
            max_mail_bytes: 100,
            peer_rate: RateFigure {
                per_hour: 1,
                burst: 1,
            },
            ..RuleSet::default()
        };
        let gate = PolicyGate::unregistered(rules);
        let t0 = Instant::now();
        // Too large: refused by the rules, and its token is not spent.
        assert!(matches!(
            gate.judge_from_peer("b.test", &facts(101), t0),
            Err(PolicyRefusal::MailTooLarge { .. })
        ));
        assert_eq!(gate.judge_from_peer("b.test", &facts(10), t0), Ok(()));
        assert!(matches!(
            gate.judge_from_peer("B.TEST", &facts(10), t0),
            Err(PolicyRefusal::PeerRate { .. })
        ));
        assert_eq!(gate.judge_from_peer("c.test", &facts(10), t0), Ok(()));
        assert_eq!(count(&gate, "peer_rate", "peer"), 1);
        assert_eq!(count(&gate, "mail_size", "peer"), 1);
    }

    #[test]
    fn refusals_are_counted_in_metrics_by_reason() {
        let mut registry = Registry::default();
        let rules = RuleSet {
            sender_deny: vec![AddressPattern::parse("*@a.test").unwrap()],
            ..RuleSet::default()
        };
        let gate = PolicyGate::new(rules, &mut registry);
        assert_eq!(
            gate.judge_from_client("alice@a.test", &facts(1), Instant::now()),
            Err(PolicyRefusal::SenderRefused)
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"herald_policy_rejections_total{reason="sender",from="client"} 1"#),
            "{text}"
        );
    }
}
