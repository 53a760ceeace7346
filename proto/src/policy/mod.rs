//! Gateway policy (DESIGN §4 "Policy"): the rule set, the gateway's judgement of a mail, and the
//! mail content the clients inspect.
//!
//! - [`RuleSet`] (`rules`): size limits, attachment count, size and media types, sender and
//!   recipient allow/deny lists with domain wildcards ([`AddressPattern`]), per-account and
//!   per-peer rates, mailbox quotas, and content rules for the clients. Built from the node's
//!   configuration or a gateway's answer, checked once ([`RuleError`]); served on the client
//!   protocol (`ClientRequest.policy`).
//! - [`judge`] (`judge`): what a gateway can see of a mail ([`MailFacts`]) against the rule set,
//!   `Ok` or a [`PolicyRefusal`] whose [`reason`](PolicyRefusal::reason) a `Rejection` evidence
//!   record carries. The node calls it on a mail from its own client and on a relay from a peer,
//!   after its rate buckets (`herald_node::policy::PolicyGate`).
//! - [`MailContent`] (`content`): the inspection's view of the plaintext M (subject, body,
//!   attachments with their manifest; the relay owns M's encoding) and [`MailContent::inspect`], which a client runs before sending and before
//!   showing, with a [`Scanner`](crate::scan::Scanner), and quarantines on a
//!   [`QuarantineReason`].

mod address;
mod content;
mod judge;
mod rules;

pub use address::{AddressPattern, MediaTypePattern, PatternError};
pub use content::{Attachment, MailContent, Part, QuarantineReason};
pub use judge::{MailFacts, MailboxUsage, ManifestEntry, PolicyRefusal, judge};
pub use rules::{
    ContentRule, DEFAULT_ACCOUNT_RATE, DEFAULT_MAX_ATTACHMENTS, DEFAULT_PEER_RATE, DEFAULT_QUOTA,
    MailboxQuota, RateFigure, RuleError, RuleSet, Scope,
};
