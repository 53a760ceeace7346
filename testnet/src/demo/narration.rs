//! How the demo says things: numbered steps, indented facts, and the proofs written the way
//! checkpoints write them (hashes in base64, keys as their C2SP verifier strings).

use herald_proto::checkpoint::{CosignedCheckpoint, VerifiedCheckpoint};
use herald_proto::evidence::{Status, Verdict};
use herald_proto::inclusion::LogTrust;
use herald_proto::note::b64;

/// Prints the story: a numbered heading per step, facts indented under it.
#[derive(Debug, Default)]
pub(super) struct Narrator {
    step: usize,
}

impl Narrator {
    /// A new step: `n. title`.
    pub(super) fn step(&mut self, title: &str) {
        self.step += 1;
        println!();
        println!("{}. {title}", self.step);
    }

    /// A fact under the current step.
    pub(super) fn say(&self, line: impl AsRef<str>) {
        println!("   {}", line.as_ref());
    }

    /// A fact one level further in.
    pub(super) fn detail(&self, line: impl AsRef<str>) {
        println!("     {}", line.as_ref());
    }
}

/// The first 8 bytes of an identifier, in hex.
pub(super) fn short(bytes: &[u8]) -> String {
    format!("{}…", hex::encode(&bytes[..bytes.len().min(8)]))
}

/// `origin, size N, root R`.
pub(super) fn tree(checkpoint: &VerifiedCheckpoint) -> String {
    format!(
        "{} size {}, root {}",
        checkpoint.origin(),
        checkpoint.size(),
        b64(checkpoint.root())
    )
}

/// Who cosigned and when, relative to `deadline` if given (`T + δ`).
pub(super) fn cosigners(cosigned: &CosignedCheckpoint, deadline: Option<u64>) -> String {
    let mut parts = Vec::new();
    for c in cosigned.cosignatures() {
        let when = match deadline {
            Some(limit) if c.timestamp() <= limit => {
                format!(
                    "at {} ({} s before T + δ)",
                    c.timestamp(),
                    limit - c.timestamp()
                )
            }
            Some(limit) => format!(
                "at {} ({} s AFTER T + δ)",
                c.timestamp(),
                c.timestamp() - limit
            ),
            None => format!("at {}", c.timestamp()),
        };
        parts.push(format!("{} {when}", c.name()));
    }
    format!(
        "cosigned by {} (quorum {})",
        parts.join(", "),
        cosigned.quorum()
    )
}

/// A log and its witness policy in one line.
pub(super) fn policy(trust: &LogTrust) -> String {
    let witnesses: Vec<&str> = trust
        .policy()
        .map(|p| p.witnesses().iter().map(|w| w.name()).collect())
        .unwrap_or_default();
    format!(
        "{} ({}), witnesses {}, quorum {}",
        trust.origin(),
        trust.algorithm(),
        witnesses.join(" and "),
        trust.policy().map_or(0, |p| p.quorum())
    )
}

/// The verdict's first line and the check that decided it.
pub(super) fn verdict_summary(verdict: &Verdict) -> String {
    use herald_proto::evidence::Conclusion;
    let outcome = match verdict.conclusion() {
        Conclusion::Received => "recipient received it",
        Conclusion::Unverified => "unverified (keys taken from the bundle)",
        Conclusion::NotShown => "not shown",
    };
    format!(
        "verdict: {outcome} — decided by {} ({})",
        verdict.decided_by.id(),
        verdict.decided_by.description()
    )
}

/// Every check of a verdict, one per line.
pub(super) fn verdict_checks(verdict: &Verdict) -> Vec<String> {
    verdict
        .checks
        .iter()
        .map(|c| {
            let mark = match c.status {
                Status::Passed => "pass",
                Status::Failed => "FAIL",
                Status::NotRun => "skip",
            };
            format!("[{mark}] {}: {}", c.check.id(), c.detail.escape_debug())
        })
        .collect()
}

/// The deciding check's detail, if it failed (why a forgery was rejected).
pub(super) fn deciding_detail(verdict: &Verdict) -> String {
    verdict
        .check(verdict.decided_by)
        .map(|c| c.detail.escape_debug().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_shortened_and_hashes_are_base64() {
        assert_eq!(short(&[0xab; 32]), "abababababababab…");
        assert_eq!(short(&[1, 2]), "0102…");
        assert_eq!(b64(&[0; 3]), "AAAA");
    }
}
