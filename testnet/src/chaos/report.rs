//! The chaos run's report: a summary table on the terminal (one row per check, then every
//! violation with its details, then the faults and what the clients did), and the same as JSON
//! (`target/bench-report/chaos.json` by default, written like the benchmarks' reports).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::audit::{EquivocationAudit, LogAudit};
use super::conductor::{Event, Performed};
use super::flood::FloodReport;
use super::ledger::{Check, LetterRecord, Violation};
use super::mail::MailRecord;
use super::plan::Plan;
use super::recovery::Recovery;
use super::traffic::Workload;
use crate::bench::{Environment, Latency};

/// One row of the summary.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRow {
    /// Which check.
    pub check: Check,
    /// Its title.
    pub title: &'static str,
    /// Whether it held.
    pub passed: bool,
    /// How many violations.
    pub violations: usize,
    /// What was checked, in a line.
    pub summary: String,
}

/// One fault as it happened.
#[derive(Clone, Debug, Serialize)]
pub struct FaultRow {
    /// The fault's number in the schedule.
    pub fault: usize,
    /// The schedule's line for it.
    pub planned: String,
    /// When it really began and was undone, ms after the fault phase began.
    pub begun_ms: Option<u64>,
    /// See `begun_ms`.
    pub undone_ms: Option<u64>,
    /// Ms after it was undone until every honest log was cosigned again at its size then.
    pub cosigned_again_ms: Option<u64>,
    /// Whether another fault overlapped that span.
    pub overlapped: bool,
    /// Whether it is one act (the equivocation), with nothing to undo.
    pub instant: bool,
}

/// Certified mail, summed up.
#[derive(Clone, Debug, Serialize)]
pub struct LetterSummary {
    /// Letters that finished (delivered, lapsed or failed).
    pub sent: u64,
    /// Letters opened with the plaintext sent.
    pub delivered: u64,
    /// Evidence bundles judged "received" by the arbiter.
    pub evidence: u64,
    /// Letters lapsed.
    pub lapsed: u64,
    /// Other failures, by reason.
    pub failed: BTreeMap<String, u64>,
    /// Senders that stopped because X was shown to equivocate.
    pub senders_stopped: u64,
    /// Sealing to plaintext.
    pub delivery: Latency,
}

impl LetterSummary {
    /// From the record.
    pub fn of(record: &LetterRecord) -> Self {
        let samples: Vec<std::time::Duration> = record
            .delivery_ms
            .iter()
            .map(|ms| std::time::Duration::from_secs_f64(ms / 1e3))
            .collect();
        LetterSummary {
            sent: record.sent,
            delivered: record.delivered,
            evidence: record.evidence,
            lapsed: record.lapsed,
            failed: record.failed.clone(),
            senders_stopped: record.senders_stopped,
            delivery: Latency::of(&samples),
        }
    }
}

/// Wall time of each phase, seconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Phases {
    /// Starting the nodes, enrolling the accounts.
    pub setup_s: f64,
    /// Faults under load.
    pub faults_s: f64,
    /// Until every honest log was cosigned again (or the bound).
    pub settle_s: f64,
    /// Re-reading the logs, the alerts, stopping everything.
    pub audit_s: f64,
    /// All of it.
    pub total_s: f64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct ChaosReport {
    /// `chaos`.
    pub command: &'static str,
    /// Whether every check held.
    pub passed: bool,
    /// The seed: give it back (with the same arguments) to replay the schedule.
    pub seed: u64,
    /// The command line that replays it.
    pub replay: String,
    /// The client traffic driven.
    pub workloads: Vec<Workload>,
    /// Every node's time between sequencing rounds, ms.
    pub sequence_interval_ms: u64,
    /// Submitters per log.
    pub submitters_per_log: usize,
    /// Bound on every honest log being cosigned again, seconds.
    pub cosign_bound_s: u64,
    /// The tmpfs of the disk node, MiB (none without the disk fault).
    pub disk_mib: Option<u64>,
    /// The schedule, as planned.
    pub schedule: Plan,
    /// The schedule, as printed.
    pub schedule_text: String,
    /// Each fault as it happened.
    pub faults: Vec<FaultRow>,
    /// What the conductor did and saw.
    pub events: Vec<Event>,
    /// The floods, by fault.
    pub floods: BTreeMap<usize, FloodReport>,
    /// After each fault, how long until every honest log was cosigned again.
    pub recoveries: Vec<Recovery>,
    /// At the end of the faults, how long until every honest log was cosigned again, ms
    /// (`None`: not within the bound).
    pub final_cosigned_ms: Option<u64>,
    /// When each honest domain distrusted the equivocating log, ms after the fork.
    pub detections: BTreeMap<String, u64>,
    /// The proofs held.
    pub equivocation: EquivocationAudit,
    /// Nodes restarted because they had exited on their own.
    pub supervisor_restarts: usize,
    /// Every log, re-read.
    pub logs: Vec<LogAudit>,
    /// Certified mail.
    pub letters: LetterSummary,
    /// Mail.
    pub mail: MailRecord,
    /// The checks.
    pub checks: Vec<CheckRow>,
    /// Every violation.
    pub violations: Vec<Violation>,
    /// Wall times.
    pub phases: Phases,
    /// Where it ran.
    pub environment: Environment,
}

impl ChaosReport {
    /// The summary as printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "chaos run, seed {}: {}",
            self.seed,
            if self.passed {
                "every check held"
            } else {
                "VIOLATIONS FOUND"
            }
        );
        let width = Check::ALL
            .iter()
            .map(|c| c.title().len())
            .max()
            .unwrap_or(0);
        let _ = writeln!(out, "  {:<width$}  {:<10}  what", "check", "result");
        for row in &self.checks {
            let result = if row.passed {
                "ok".to_owned()
            } else {
                format!("FAILED ({})", row.violations)
            };
            let _ = writeln!(
                out,
                "  {:<width$}  {:<10}  {}",
                row.title, result, row.summary
            );
        }
        if !self.violations.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "violations:");
            for v in &self.violations {
                let _ = writeln!(out, "  [{}] {}", v.check.title(), v.detail);
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  faults (planned; then as done, and every honest log cosigned again after):"
        );
        for f in &self.faults {
            let secs =
                |ms: Option<u64>| ms.map_or("-".to_owned(), |ms| format!("{:.1}", ms as f64 / 1e3));
            let again = match (f.cosigned_again_ms, f.overlapped) {
                (Some(ms), false) => format!("{:.1} s", ms as f64 / 1e3),
                (Some(ms), true) => format!("{:.1} s (overlapped)", ms as f64 / 1e3),
                (None, false) => "NOT within the bound".to_owned(),
                (None, true) => "not within the bound (overlapped)".to_owned(),
            };
            let done = if f.instant {
                format!("at {} s", secs(f.begun_ms))
            } else {
                format!(
                    "{}–{} s, cosigned again {again}",
                    secs(f.begun_ms),
                    secs(f.undone_ms)
                )
            };
            let _ = writeln!(out, "  {}  [{done}]", f.planned);
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<8} {:>9} {:>9} {:>11} {:>7}  failures",
            "log", "size", "acks", "checkpoints", "proofs"
        );
        for log in &self.logs {
            let failures: Vec<String> = log
                .failures
                .iter()
                .map(|(k, n)| format!("{k} ×{n}"))
                .collect();
            let _ = writeln!(
                out,
                "  {:<8} {:>9} {:>9} {:>11} {:>7}  {}{}",
                log.domain.trim_end_matches(".test"),
                log.tree_size,
                log.acks,
                log.checkpoints_seen,
                log.proofs_checked,
                if log.equivocator {
                    "(equivocated) "
                } else {
                    ""
                },
                failures.join(", ")
            );
        }
        let l = &self.letters;
        let _ = writeln!(
            out,
            "  letters: {} sent, {} delivered (p50 {:.0} ms), {} evidence bundles judged received, {} lapsed, {} failed",
            l.sent,
            l.delivered,
            l.delivery.p50_ms,
            l.evidence,
            l.lapsed,
            l.failed.values().sum::<u64>()
        );
        let m = &self.mail;
        let _ = writeln!(
            out,
            "  mail: {} sent, {} accepted, {} read once and unaltered, {} copies refused, {} accepted and not read, {} failed{}",
            m.sent,
            m.accepted,
            m.read,
            m.copies_refused,
            m.not_read,
            m.failed.values().sum::<u64>(),
            m.failed
                .iter()
                .map(|(kind, n)| format!("\n    {n} × {kind}"))
                .collect::<String>()
        );
        let _ = writeln!(
            out,
            "  wall time: {:.1} s (setup {:.1}, faults {:.1}, settle {:.1}, audit {:.1})",
            self.phases.total_s,
            self.phases.setup_s,
            self.phases.faults_s,
            self.phases.settle_s,
            self.phases.audit_s
        );
        let _ = writeln!(out, "  replay: {}", self.replay);
        out
    }
}

/// The rows of the summary from the violations found and a line per check.
pub(super) fn rows(violations: &[Violation], summaries: &BTreeMap<Check, String>) -> Vec<CheckRow> {
    Check::ALL
        .iter()
        .map(|&check| {
            let count = violations.iter().filter(|v| v.check == check).count();
            CheckRow {
                check,
                title: check.title(),
                passed: count == 0,
                violations: count,
                summary: summaries.get(&check).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

/// A line per check saying what was checked (mail's is `MailRecord::summary`).
pub(super) fn summarise(
    out: &mut BTreeMap<Check, String>,
    plan: &Plan,
    performed: &Performed,
    logs: &[LogAudit],
    letters: &LetterRecord,
    equivocation: &EquivocationAudit,
    left: usize,
) {
    let acks: usize = logs.iter().map(|l| l.acks).sum();
    out.insert(
        Check::Acks,
        format!("{acks} acks on {} logs, each log re-read whole", logs.len()),
    );
    let seen: usize = logs
        .iter()
        .filter(|l| !l.equivocator)
        .map(|l| l.checkpoints_seen)
        .sum();
    let proofs: usize = logs.iter().map(|l| l.proofs_checked).sum();
    out.insert(
        Check::Checkpoints,
        format!("{seen} checkpoints of honest logs against their trees, {proofs} consistency proofs judged by the succession rule"),
    );
    let detected: Vec<String> = equivocation
        .proofs
        .keys()
        .map(|d| match performed.detections.get(d) {
            Some(ms) => format!("{d} ({:.1} s)", *ms as f64 / 1e3),
            None => d.clone(),
        })
        .collect();
    out.insert(
        Check::Equivocation,
        match &equivocation.origin {
            Some(origin) => format!("{origin}: proofs held by {}", detected.join(", ")),
            None => "no log was made to equivocate".into(),
        },
    );
    out.entry(Check::Cosigning).or_default();
    out.insert(
        Check::Recovery,
        format!(
            "{} kills, {} disk fills, {} supervisor restarts",
            plan.count("kill"),
            plan.count("disk_full"),
            performed.supervisor_restarts
        ),
    );
    let (probes, served) = performed
        .floods
        .values()
        .fold((0, 0), |(p, s), f| (p + f.probes, s + f.probes_served));
    out.insert(
        Check::Flood,
        format!(
            "{} floods of {} connections: {served} of {probes} fresh clients served",
            performed.floods.len(),
            plan.shape.flood_connections
        ),
    );
    out.insert(
        Check::Letters,
        format!(
            "{} sent, {} delivered, {} evidence bundles judged received",
            letters.sent, letters.delivered, letters.evidence
        ),
    );
    let submissions: u64 = logs.iter().map(|l| l.submissions).sum();
    out.insert(
        Check::Load,
        format!("{submissions} submissions, acks on every honest log to the end"),
    );
    out.insert(Check::Processes, format!("{left} processes left"));
}

/// Each fault of `plan` as `performed` did it.
pub(super) fn fault_rows(plan: &Plan, performed: &Performed) -> Vec<FaultRow> {
    plan.faults
        .iter()
        .map(|f| {
            let span = performed.spans.get(&f.id);
            let recovery = performed.recoveries.iter().find(|r| r.fault == f.id);
            FaultRow {
                fault: f.id,
                planned: f.to_string(),
                begun_ms: span.map(|s| s.0),
                undone_ms: span.map(|s| s.1),
                cosigned_again_ms: recovery.and_then(|r| r.cosigned_again_ms),
                overlapped: recovery.is_some_and(|r| r.overlapped),
                instant: f.kind.length_ms() == 0,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_fails_with_its_violations_only() {
        let violations = vec![
            Violation {
                check: Check::Acks,
                detail: "lost".into(),
            },
            Violation {
                check: Check::Acks,
                detail: "moved".into(),
            },
        ];
        let rows = rows(&violations, &BTreeMap::new());
        assert_eq!(rows.len(), Check::ALL.len());
        let acks = rows.iter().find(|r| r.check == Check::Acks).unwrap();
        assert!(!acks.passed);
        assert_eq!(acks.violations, 2);
        assert!(
            rows.iter()
                .filter(|r| r.check != Check::Acks)
                .all(|r| r.passed)
        );
    }
}
