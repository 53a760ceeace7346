//! The gateway's mail policy (DESIGN §4 "Policy"): the `[policy]` table of the configuration
//! ([`PolicyConfig`], checked at load into proto's `RuleSet`), and the [`PolicyGate`] that judges
//! every mail the gateway accepts — from its own clients and relayed by peers — with proto's
//! `policy::judge` and the rate buckets, and counts refusals in `/metrics`.
//!
//! The client protocol serves the rule set (`ClientRequest.policy`, answered by
//! `service::ClientService` from [`PolicyGate::wire_rules`]) so that clients apply the content
//! rules and their scanner where the plaintext is.
//!
//! # For the mail relay (entry points)
//!
//! The relay calls the gate at the two places a mail enters this gateway, **before** it stores,
//! queues or acknowledges anything, and on a refusal writes a `Rejection` evidence record whose
//! reason is [`PolicyRefusal::reason`](herald_proto::policy::PolicyRefusal::reason) and answers
//! the sender with the same text:
//!
//! - S_A, accepting a mail from its logged-in client `account`:
//!   [`PolicyGate::judge_from_client`]`(account, &facts, Instant::now())`;
//! - S_B, accepting a relay from the registered peer domain `peer_domain`:
//!   [`PolicyGate::judge_from_peer`]`(peer_domain, &facts, Instant::now())`, with
//!   `facts.recipient_mailbox` set to the recipient's mailbox usage so the quota is judged.
//!
//! `facts` is a [`MailFacts`](herald_proto::policy::MailFacts): sender, recipient, the
//! envelope's size and the declared manifest. The gate reaches the relay through
//! `ClientService::policy`.

mod config;
mod gate;

pub use config::{ContentRuleConfig, PolicyConfig};
pub use gate::{PolicyGate, RejectionLabel};
