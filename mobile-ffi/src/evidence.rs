//! [`verify_evidence`]: the offline arbiter, as `herald verify-evidence` runs it — decode the
//! bundle (size limit, version), then proto's `arbitrate` with the arbiter's own trusted logs.
//! No network, no key store, no state: the same inputs give the same [`Verdict`].
//!
//! A bundle that is not one this version reads is a verdict too ("not shown", with the
//! reason), as the command line treats it; bad *trust* inputs are the caller's error
//! ([`HeraldError::BadInput`]).

use herald_light_client::certmail::{MAX_INCLUDED_LEAF_BYTES, decode_included_leaf};
use herald_proto::equivocation::Equivocation;
use herald_proto::evidence::{
    self, ArbiterContext, Conclusion, Status, TrustSource, decode_bundle,
};
use herald_proto::wire::{MAX_EQUIVOCATION_BYTES, MAX_TRUSTED_PEERS};

use crate::client::unix_now;
use crate::config::{LogConfig, check_log};
use crate::error::HeraldError;
use crate::runtime::guard;

/// Most equivocation proofs, publications or revocations presented at once.
pub(crate) const MAX_PRESENTED: usize = 64;

/// What the arbiter brings besides the bundle and its trusted logs.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ArbiterOptions {
    /// Judge as of this Unix time (default: now).
    #[uniffi(default = None)]
    pub at: Option<u64>,
    /// Clock skew allowed for the recipient's domain log's cosignatures, seconds.
    #[uniffi(default = 60)]
    pub max_skew_secs: u64,
    /// Equivocation proofs (encoded `herald.v1.Equivocation`): a log shown to have split its
    /// view proves nothing.
    #[uniffi(default = [])]
    pub equivocations: Vec<Vec<u8>>,
    /// Other publications naming the request, presented by the recipient (encoded
    /// `IncludedLeaf`s): the lowest index counts.
    #[uniffi(default = [])]
    pub publications: Vec<Vec<u8>>,
    /// Revocations of the recipient's key, presented by the recipient (encoded `IncludedLeaf`s).
    #[uniffi(default = [])]
    pub revocations: Vec<Vec<u8>>,
}

/// What the evidence shows (proto's `Conclusion`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum VerdictOutcome {
    /// The recipient received the message: every check passed, and every trust input is the
    /// arbiter's own key or named in the request the recipient signed.
    Received,
    /// Every check passed, but only under the recipient's domain log as the bundle itself
    /// describes it: not a proof of receipt until the arbiter trusts that log on its own (give
    /// it in `trusted_logs`).
    Unverified,
    /// Receipt is not shown: a check failed, something is missing, or the bundle is unreadable.
    NotShown,
}

/// A check's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum CheckStatus {
    /// It holds.
    Passed,
    /// It does not hold (or its input is missing).
    Failed,
    /// It could not run: a check it depends on failed.
    NotRun,
}

/// One check of the arbiter.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct VerdictCheck {
    /// The check's stable id, e.g. `ciphertext-hash`, `publication-cosigned-in-time`.
    pub id: String,
    /// What it establishes, in plain words.
    pub description: String,
    /// Its result.
    pub status: CheckStatus,
    /// What was found, or why it failed.
    pub detail: String,
}

/// Where a trust input came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum TrustInputSource {
    /// The arbiter's own trusted log, and the bundle's agrees.
    Confirmed,
    /// The arbiter's own trusted log, which differs from the bundle's (the bundle's ignored).
    ArbiterOverride,
    /// Taken from the bundle only: assumed, not confirmed by a key the arbiter trusts.
    Assumed,
    /// Named in the request the recipient signed: binding on him.
    SignedByRecipient,
}

/// A trust input the verdict relies on.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TrustInput {
    /// What it is, e.g. "recipient domain log beta.test/herald".
    pub what: String,
    /// Where it came from.
    pub source: TrustInputSource,
}

/// The arbiter's answer.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Verdict {
    /// Received, or not shown.
    pub outcome: VerdictOutcome,
    /// The deciding check: the first that failed, or the delivery check that completed the
    /// proof. None when the bundle is unreadable.
    pub decided_by: Option<VerdictCheck>,
    /// Every check, in order.
    pub checks: Vec<VerdictCheck>,
    /// The trust inputs relied on, and their sources.
    pub trust: Vec<TrustInput>,
    /// Whether every trust input came from the arbiter's own keys or the recipient's signature.
    pub fully_trusted: bool,
    /// Why the bundle could not be read (then the outcome is not shown), if so.
    pub unreadable: Option<String>,
}

fn check_record(c: &evidence::CheckResult) -> VerdictCheck {
    VerdictCheck {
        id: c.check.id().to_owned(),
        description: c.check.description().to_owned(),
        status: match c.status {
            Status::Passed => CheckStatus::Passed,
            Status::Failed => CheckStatus::Failed,
            Status::NotRun => CheckStatus::NotRun,
        },
        detail: c.detail.clone(),
    }
}

fn verdict(v: &evidence::Verdict) -> Verdict {
    let decided = v
        .check(v.decided_by)
        .map(check_record)
        .unwrap_or_else(|| VerdictCheck {
            id: v.decided_by.id().to_owned(),
            description: v.decided_by.description().to_owned(),
            status: CheckStatus::NotRun,
            detail: String::new(),
        });
    Verdict {
        outcome: match v.conclusion() {
            Conclusion::Received => VerdictOutcome::Received,
            Conclusion::Unverified => VerdictOutcome::Unverified,
            Conclusion::NotShown => VerdictOutcome::NotShown,
        },
        decided_by: Some(decided),
        checks: v.checks.iter().map(check_record).collect(),
        trust: v
            .trust
            .iter()
            .map(|t| TrustInput {
                what: t.what.clone(),
                source: match t.source {
                    TrustSource::Confirmed => TrustInputSource::Confirmed,
                    TrustSource::ArbiterOverride => TrustInputSource::ArbiterOverride,
                    TrustSource::Assumed => TrustInputSource::Assumed,
                    TrustSource::SignedByRecipient => TrustInputSource::SignedByRecipient,
                },
            })
            .collect(),
        fully_trusted: v.fully_trusted(),
        unreadable: None,
    }
}

fn presented<T>(
    what: &str,
    items: &[Vec<u8>],
    max_bytes: usize,
    decode: impl Fn(&[u8]) -> Result<T, String>,
) -> Result<Vec<T>, HeraldError> {
    if items.len() > MAX_PRESENTED {
        return Err(HeraldError::bad_input(format!(
            "{what}: at most {MAX_PRESENTED}"
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            if bytes.len() > max_bytes {
                return Err(HeraldError::bad_input(format!(
                    "{what}[{i}]: longer than {max_bytes} bytes"
                )));
            }
            decode(bytes).map_err(|e| HeraldError::bad_input(format!("{what}[{i}]: {e}")))
        })
        .collect()
}

/// The arbiter's context from the app's inputs, each checked.
pub(crate) fn context(
    trusted_logs: &[LogConfig],
    options: &ArbiterOptions,
) -> Result<ArbiterContext, HeraldError> {
    if trusted_logs.len() > MAX_TRUSTED_PEERS {
        return Err(HeraldError::bad_input(format!(
            "trusted_logs: at most {MAX_TRUSTED_PEERS}"
        )));
    }
    let trusted_logs = trusted_logs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            check_log(l)
                .map(|c| c.trust)
                .map_err(|e| HeraldError::bad_input(format!("trusted_logs[{i}]: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let leaf = |b: &[u8]| decode_included_leaf(b).map_err(|e| e.to_string());
    Ok(ArbiterContext {
        now: options.at.unwrap_or_else(unix_now),
        max_skew: options.max_skew_secs,
        trusted_logs,
        equivocations: presented(
            "equivocations",
            &options.equivocations,
            MAX_EQUIVOCATION_BYTES,
            |b| Equivocation::decode(b).map_err(|e| e.to_string()),
        )?,
        publications: presented(
            "publications",
            &options.publications,
            MAX_INCLUDED_LEAF_BYTES,
            leaf,
        )?,
        revocations: presented(
            "revocations",
            &options.revocations,
            MAX_INCLUDED_LEAF_BYTES,
            leaf,
        )?,
    })
}

/// Judges the evidence bundle `bundle` offline against the logs the arbiter trusts on its own
/// (`trusted_logs`: the recipient's domain log, preferred over the bundle's copy) and
/// `options`. Returns the verdict with the deciding check.
#[uniffi::export]
pub fn verify_evidence(
    bundle: Vec<u8>,
    trusted_logs: Vec<LogConfig>,
    options: ArbiterOptions,
) -> Result<Verdict, HeraldError> {
    guard(|| judge(&bundle, &context(&trusted_logs, &options)?))
}

/// Decodes and arbitrates (shared with the benchmark hook).
pub(crate) fn judge(bundle: &[u8], context: &ArbiterContext) -> Result<Verdict, HeraldError> {
    Ok(match decode_bundle(bundle) {
        Ok(decoded) => verdict(&evidence::arbitrate(&decoded, context)),
        Err(e) => Verdict {
            outcome: VerdictOutcome::NotShown,
            decided_by: None,
            checks: Vec::new(),
            trust: Vec::new(),
            fully_trusted: false,
            unreadable: Some(e.to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ArbiterOptions {
        ArbiterOptions {
            at: Some(1_700_000_000),
            max_skew_secs: 60,
            equivocations: vec![],
            publications: vec![],
            revocations: vec![],
        }
    }

    #[test]
    fn an_unreadable_bundle_is_a_not_shown_verdict_with_its_reason() {
        for bundle in [Vec::new(), b"not a bundle".to_vec(), vec![0xff; 100_000]] {
            let v = verify_evidence(bundle, vec![], options()).unwrap();
            assert_eq!(v.outcome, VerdictOutcome::NotShown);
            assert!(v.decided_by.is_none());
            assert!(v.unreadable.is_some());
        }
    }

    #[test]
    fn presented_inputs_are_bounded_and_checked() {
        let mut o = options();
        o.equivocations = vec![vec![1, 2, 3]];
        assert!(matches!(
            verify_evidence(vec![], vec![], o),
            Err(HeraldError::BadInput { reason }) if reason.starts_with("equivocations[0]")
        ));
        let mut o = options();
        o.publications = vec![vec![]; MAX_PRESENTED + 1];
        assert!(matches!(
            verify_evidence(vec![], vec![], o),
            Err(HeraldError::BadInput { .. })
        ));
        let mut o = options();
        o.revocations = vec![vec![0; MAX_INCLUDED_LEAF_BYTES + 1]];
        assert!(matches!(
            verify_evidence(vec![], vec![], o),
            Err(HeraldError::BadInput { .. })
        ));
        let bad_log = LogConfig {
            log_key: "nope".into(),
            hash: crate::config::LogHash::Sha256,
            witness_keys: vec![],
            quorum: 1,
            gateway: None,
            clock_skew_secs: 60,
            max_merge_delay_secs: 60,
        };
        assert!(matches!(
            verify_evidence(vec![], vec![bad_log], options()),
            Err(HeraldError::BadInput { reason }) if reason.starts_with("trusted_logs[0]")
        ));
    }
}
