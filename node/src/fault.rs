//! Test-only fault points: places in the node where a crash test needs the process to die at
//! an exact moment (the reliability review placed its kills there with gdb).
//!
//! **Only the testnet's harness arms them.** Nothing in the `herald-node` binary, its
//! configuration or its environment does: the testnet binary's hidden `node` subcommand reads
//! `HERALD_TESTNET_FAULT` (`herald_testnet::process::arm_fault_from_env`) and calls [`arm`]
//! before running the node's command line, and the testnet sets that variable only for a node a
//! test asked it to (`Testnet::set_fault`). An unarmed point costs one atomic load.
//!
//! | point | where | used by |
//! |---|---|---|
//! | `binding-durable` | registration, after the `IdentityBinding` is durable and before the account is marked active | `testnet/tests/enrolment_crash.rs` |
//! | `mail-queued` | a client's `send_mail`, after the mail is durable in the outbound queue and before it is answered | `testnet/tests/certmail_by_mail_cli.rs` |
//! | `mail-chunk-relayed` | a relayed large mail's chunk, after it is durable at the recipient's gateway and before it is answered | `testnet/tests/mail_large.rs` |
//! | `prekey-taken` | a prekey bundle, after a one-time prekey's removal is durable and before it is answered | `testnet/tests/prekeys.rs` |

use std::sync::OnceLock;

/// A place a test may crash the node at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultPoint {
    /// A registration's `IdentityBinding` is durable in the log; the account is not yet active.
    BindingDurable,
    /// A one-time prekey's removal is durable; it has not been handed out yet.
    PrekeyTaken,
    /// A relayed mail is durable in its recipient's mailbox; the relay is not yet answered.
    MailConsigned,
    /// A client's mail is durable in the outbound queue; its sender is not yet answered.
    MailQueued,
    /// A chunk of a relayed large mail is durable at the recipient's gateway; the relay chunk
    /// is not yet answered.
    MailChunkRelayed,
}

impl FaultPoint {
    /// The point's name, as `HERALD_TESTNET_FAULT` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultPoint::BindingDurable => "binding-durable",
            FaultPoint::PrekeyTaken => "prekey-taken",
            FaultPoint::MailConsigned => "mail-consigned",
            FaultPoint::MailQueued => "mail-queued",
            FaultPoint::MailChunkRelayed => "mail-chunk-relayed",
        }
    }

    /// The point named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "binding-durable" => Some(FaultPoint::BindingDurable),
            "prekey-taken" => Some(FaultPoint::PrekeyTaken),
            "mail-consigned" => Some(FaultPoint::MailConsigned),
            "mail-queued" => Some(FaultPoint::MailQueued),
            "mail-chunk-relayed" => Some(FaultPoint::MailChunkRelayed),
            _ => None,
        }
    }
}

type Action = Box<dyn Fn() + Send + Sync>;

static ARMED: OnceLock<(FaultPoint, Action)> = OnceLock::new();

/// Arms `point`: when the node reaches it, `action` runs (a test harness kills the process
/// there). At most one point per process; `false` if one was armed already.
pub fn arm(point: FaultPoint, action: impl Fn() + Send + Sync + 'static) -> bool {
    ARMED.set((point, Box::new(action))).is_ok()
}

/// Marks that the node reached `point`; runs the armed action if it is this point.
pub(crate) fn reached(point: FaultPoint) {
    if let Some((armed, action)) = ARMED.get()
        && *armed == point
    {
        action();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [
            FaultPoint::BindingDurable,
            FaultPoint::PrekeyTaken,
            FaultPoint::MailConsigned,
            FaultPoint::MailQueued,
        ] {
            assert_eq!(FaultPoint::parse(p.as_str()), Some(p));
        }
        let p = FaultPoint::BindingDurable;
        assert_eq!(p.as_str(), "binding-durable");
        assert_eq!(FaultPoint::parse("nonsense"), None);
    }
}
