//! The arbiter's verdict: the outcome, the check that decided it, every check with its result,
//! and which trust inputs came from where. `Display` is the human form (`herald verify-evidence`);
//! the fields, with [`Check::id`] as stable identifiers, are what a `--json` writer serialises.

use core::fmt;

/// What the evidence shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed. Whether that proves receipt depends on where the keys came from:
    /// see [`Verdict::conclusion`].
    Received,
    /// Receipt is not shown: a check failed or something was missing (a verdict for B).
    NotShown,
}

/// What an arbiter may conclude from a verdict, its trust inputs considered
/// ([`Verdict::conclusion`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conclusion {
    /// Received: every check passed, and every trust input is the arbiter's own key or named
    /// in the request the recipient signed.
    Received,
    /// Every check passed, but only under a key taken from the bundle itself (the recipient's
    /// domain log): a sender who runs a copy of that domain under the same name, with keys of
    /// its own, makes such a bundle for a recipient who never saw the letter. Not a proof of
    /// receipt until the arbiter checks that key independently.
    Unverified,
    /// Receipt is not shown.
    NotShown,
}

/// One check of the arbiter, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The key request is present, well formed, and sig_B verifies under the key it names.
    RequestSignature,
    /// The description of B's domain log (key, hash, witnesses) is usable.
    RecipientDomain,
    /// No presented equivocation proof shows B's domain log split its view.
    RecipientLogConsistent,
    /// B's identity binding is signed by B's domain and included in its cosigned log.
    RecipientBinding,
    /// The binding is for the request's account and key, and held at `created`.
    BoundAtCreated,
    /// H(C) in the request is the hash of the ciphertext.
    CiphertextHash,
    /// K matches c_K in the request.
    KeyCommitment,
    /// Dec_K(C) = M.
    Decryption,
    /// M meets the request's expectation (size bound, content hash).
    Expectation,
    /// Optimistic variant: B's receipt answers the request and is signed by IK_B.
    Receipt,
    /// IK_B was still bound when B signed the receipt.
    ReceiptKeyBound,
    /// No presented equivocation proof shows X's log split its view.
    LocationLogConsistent,
    /// The publication leaf is included in a checkpoint signed by X's log.
    PublicationIncluded,
    /// Among the publications naming req_hash that were presented, the one judged is the lowest.
    LowestIndex,
    /// The leaf is a signed KeyPublication for this request (req_hash, H(C), sender).
    PublicationMatchesRequest,
    /// The leaf wraps K to P_req (recomputed with the sender's ephemeral secret a).
    PublicationUnwrapsToKey,
    /// The checkpoint carries ≥ q valid cosignatures from X's witnesses timestamped ≤ T + δ.
    PublicationCosignedInTime,
}

impl Check {
    /// A stable identifier, for machine-readable output.
    pub fn id(self) -> &'static str {
        match self {
            Check::RequestSignature => "request-signature",
            Check::RecipientDomain => "recipient-domain",
            Check::RecipientLogConsistent => "recipient-log-consistent",
            Check::RecipientBinding => "recipient-binding",
            Check::BoundAtCreated => "bound-at-created",
            Check::CiphertextHash => "ciphertext-hash",
            Check::KeyCommitment => "key-commitment",
            Check::Decryption => "decryption",
            Check::Expectation => "expectation",
            Check::Receipt => "receipt",
            Check::ReceiptKeyBound => "receipt-key-bound",
            Check::LocationLogConsistent => "location-log-consistent",
            Check::PublicationIncluded => "publication-included",
            Check::LowestIndex => "lowest-index",
            Check::PublicationMatchesRequest => "publication-matches-request",
            Check::PublicationUnwrapsToKey => "publication-unwraps-to-key",
            Check::PublicationCosignedInTime => "publication-cosigned-in-time",
        }
    }

    /// What the check establishes, in plain words.
    pub fn description(self) -> &'static str {
        match self {
            Check::RequestSignature => "the key request is signed by the key it names",
            Check::RecipientDomain => "the recipient's domain log is known",
            Check::RecipientLogConsistent => "the recipient's domain log did not split its view",
            Check::RecipientBinding => "the recipient's key is bound in its domain's log",
            Check::BoundAtCreated => "that key was the recipient's when the request was made",
            Check::CiphertextHash => "the request names this ciphertext",
            Check::KeyCommitment => "the key is the one the request commits to",
            Check::Decryption => "the key decrypts the ciphertext to the message",
            Check::Expectation => "the message is what the recipient said he expected",
            Check::Receipt => "the recipient signed a receipt for this request",
            Check::ReceiptKeyBound => "the receipt's key was still the recipient's",
            Check::LocationLogConsistent => "the publication log did not split its view",
            Check::PublicationIncluded => "the publication is in the log the request named",
            Check::LowestIndex => "it is the first publication for this request",
            Check::PublicationMatchesRequest => "the publication answers this request",
            Check::PublicationUnwrapsToKey => "the publication gives the recipient this key",
            Check::PublicationCosignedInTime => "the log's witnesses saw it by the deadline",
        }
    }
}

/// A check's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// It holds.
    Passed,
    /// It does not hold (or its input is missing).
    Failed,
    /// It could not run because a check it depends on failed.
    NotRun,
}

/// One check with its result and a detail line (what was found, or why it failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// Which check.
    pub check: Check,
    /// Its result.
    pub status: Status,
    /// What was found: numbers, indexes, the error.
    pub detail: String,
}

/// Where a trust input the verdict relies on came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustSource {
    /// The arbiter's own trusted copy, and the bundle's agrees.
    Confirmed,
    /// The arbiter's own trusted copy, which differs from the bundle's (the bundle's was ignored).
    ArbiterOverride,
    /// Taken from the bundle only: assumed, not confirmed by a key the arbiter trusts.
    Assumed,
    /// Named in the request, which the recipient signed: binding on him.
    SignedByRecipient,
}

/// A trust input and its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustNote {
    /// What it is, e.g. "recipient domain log beta.test/herald".
    pub what: String,
    /// Where it came from.
    pub source: TrustSource,
}

/// The arbiter's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Every check passed, or not (the arbiter's conclusion is [`Verdict::conclusion`]).
    pub outcome: Outcome,
    /// The first failed check, or the delivery check that completed the proof.
    pub decided_by: Check,
    /// Every check, in order.
    pub checks: Vec<CheckResult>,
    /// The trust inputs relied on, and their sources.
    pub trust: Vec<TrustNote>,
}

impl Verdict {
    /// The result of one check, if it is part of this verdict.
    pub fn check(&self, check: Check) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == check)
    }

    /// Whether every trust input came from the arbiter's own keys or the recipient's signature.
    pub fn fully_trusted(&self) -> bool {
        self.trust.iter().all(|t| t.source != TrustSource::Assumed)
    }

    /// The arbiter's conclusion: received only when every check passed *and* every trust input
    /// is independent of the bundle ([`Conclusion`]).
    pub fn conclusion(&self) -> Conclusion {
        match self.outcome {
            Outcome::Received if self.fully_trusted() => Conclusion::Received,
            Outcome::Received => Conclusion::Unverified,
            Outcome::NotShown => Conclusion::NotShown,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.conclusion() {
            Conclusion::Received => "the recipient received the message",
            Conclusion::Unverified => {
                "UNVERIFIED: the checks pass only under keys taken from the bundle"
            }
            Conclusion::NotShown => "receipt is NOT shown",
        };
        writeln!(
            f,
            "verdict: {outcome} (decided by {}: {})",
            self.decided_by.id(),
            self.decided_by.description()
        )?;
        for c in &self.checks {
            let mark = match c.status {
                Status::Passed => "pass",
                Status::Failed => "FAIL",
                Status::NotRun => "skip",
            };
            writeln!(f, "  [{mark}] {}: {}", c.check.description(), c.detail)?;
        }
        for t in &self.trust {
            let source = match t.source {
                TrustSource::Confirmed => "confirmed by the arbiter's trusted key",
                TrustSource::ArbiterOverride => "the arbiter's trusted key (bundle's differs)",
                TrustSource::Assumed => "ASSUMED from the bundle, not confirmed",
                TrustSource::SignedByRecipient => "named in the request the recipient signed",
            };
            writeln!(f, "  trust: {}: {source}", t.what)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_deciding_check_and_assumptions() {
        let v = Verdict {
            outcome: Outcome::NotShown,
            decided_by: Check::KeyCommitment,
            checks: vec![CheckResult {
                check: Check::KeyCommitment,
                status: Status::Failed,
                detail: "K does not match c_K".into(),
            }],
            trust: vec![TrustNote {
                what: "recipient domain log b.test/herald".into(),
                source: TrustSource::Assumed,
            }],
        };
        let text = v.to_string();
        assert!(text.contains("NOT shown"));
        assert!(text.contains("key-commitment"));
        assert!(text.contains("[FAIL]"));
        assert!(text.contains("ASSUMED"));
        assert!(!v.fully_trusted());
        assert_eq!(v.conclusion(), Conclusion::NotShown);
        // Every check passed, under an assumed key: not received, unverified.
        let v = Verdict {
            outcome: Outcome::Received,
            ..v
        };
        assert_eq!(v.conclusion(), Conclusion::Unverified);
        assert!(v.to_string().contains("UNVERIFIED"), "{v}");
        let v = Verdict {
            trust: vec![TrustNote {
                what: "recipient domain log b.test/herald".into(),
                source: TrustSource::Confirmed,
            }],
            ..v
        };
        assert_eq!(v.conclusion(), Conclusion::Received);
        assert_eq!(
            v.check(Check::KeyCommitment).unwrap().status,
            Status::Failed
        );
        assert!(v.check(Check::Receipt).is_none());
    }
}
