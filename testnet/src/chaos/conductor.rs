//! Executes a [`Plan`] against the testnet: at each step's time it begins or undoes a fault, and
//! in between it acts as the nodes' supervisor — a node that exits on its own is noticed within
//! a second, reported, and started again (after the disk is freed, if its disk was full).
//!
//! The conductor is the only owner of the [`Testnet`] during the fault phase; client tasks use
//! addresses taken before ([`super::traffic::LogTarget`]). Every action is bounded (the
//! testnet's own start and stop bounds, the flood's deadline, [`RECOVER_BOUND`]); a step that
//! is delayed by a slow one runs late, and its real time is what the events record.
//!
//! What it finds on the way is reported to the ledger: a node that exited while nothing was
//! done to it, a node that does not take submissions again once its disk is freed (F1's
//! wedge), one that ignores SIGTERM, a flood during which fresh clients were refused (F2).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_light_client::Gateway as _;
use herald_node::admin::ForkReport;
use serde::Serialize;
use tokio::task::JoinSet;

use super::disk::{Tmpfs, fill, free};
use super::flood::{Flood, FloodReport};
use super::ledger::{Check, Ledger};
use super::plan::{Fault, FaultKind, Plan, Step};
use super::recovery::{self, Detections, Recovery};
use super::traffic::LogTarget;
use crate::error::TestnetError;
use crate::load::notarization_entry;
use crate::testnet::Testnet;

/// How often the supervisor looks at the processes between steps.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// Bound on a node taking a submission again after its disk was freed.
pub(super) const RECOVER_BOUND: Duration = Duration::from_secs(30);

/// One thing the conductor did or saw.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Ms after the fault phase began.
    pub at_ms: u64,
    /// The fault it belongs to, if any.
    pub fault: Option<usize>,
    /// The node.
    pub node: usize,
    /// What happened.
    pub what: String,
}

/// What the fault phase produced.
#[derive(Debug, Default, Serialize)]
pub(super) struct Performed {
    /// Everything done and seen, in order.
    pub events: Vec<Event>,
    /// When each fault really began and ended, ms after the phase began.
    pub spans: BTreeMap<usize, (u64, u64)>,
    /// The floods' reports, by fault.
    pub floods: BTreeMap<usize, FloodReport>,
    /// The equivocation, if one was made: the conflicting checkpoint.
    pub fork: Option<ForkReport>,
    /// Per fault, how the network came back.
    pub recoveries: Vec<Recovery>,
    /// When each honest domain distrusted the equivocating log, ms after the fork.
    pub detections: BTreeMap<String, u64>,
    /// Nodes restarted because they had exited on their own.
    pub supervisor_restarts: usize,
}

/// The conductor (see the module docs).
pub(super) struct Conductor<'a> {
    pub(super) net: &'a mut Testnet,
    pub(super) plan: &'a Plan,
    pub(super) disk: Option<&'a Tmpfs>,
    pub(super) targets: Arc<Vec<LogTarget>>,
    pub(super) ledger: Arc<Ledger>,
    /// Bound on every log being cosigned again after a fault.
    pub(super) cosign_bound: Duration,
    /// Watchers started on the way (recoveries, detection); awaited at the end.
    pub(super) watchers: JoinSet<Option<Recovery>>,
    pub(super) detections: Detections,
    started: Instant,
    done: Performed,
    floods: BTreeMap<usize, Flood>,
    /// Nodes that exited on their own while their disk was full: restarted once it is freed.
    full_disk_exits: BTreeSet<usize>,
    /// Nodes the conductor keeps down on purpose (killed, not yet restarted).
    killed: BTreeSet<usize>,
    /// Faults begun and not yet undone.
    active: BTreeSet<usize>,
    /// The disk node's acks and failed submissions when its disk was filled.
    counts_at_fill: (usize, u64),
}

impl<'a> Conductor<'a> {
    /// A conductor of `plan` on `net`.
    pub(super) fn new(
        net: &'a mut Testnet,
        plan: &'a Plan,
        disk: Option<&'a Tmpfs>,
        targets: Arc<Vec<LogTarget>>,
        ledger: Arc<Ledger>,
        cosign_bound: Duration,
    ) -> Self {
        Conductor {
            net,
            plan,
            disk,
            targets,
            ledger,
            cosign_bound,
            watchers: JoinSet::new(),
            detections: Detections::default(),
            started: Instant::now(),
            done: Performed::default(),
            floods: BTreeMap::new(),
            full_disk_exits: BTreeSet::new(),
            killed: BTreeSet::new(),
            active: BTreeSet::new(),
            counts_at_fill: (0, 0),
        }
    }

    /// Runs every step of the plan at its time, supervising in between, then undoes whatever
    /// is still in effect and makes sure every node runs. Fails only when the harness itself
    /// cannot go on (a node that cannot be started again at all).
    pub(super) async fn run(mut self) -> anyhow::Result<Performed> {
        self.started = Instant::now();
        let plan: &'a Plan = self.plan;
        let steps = plan.steps();
        for (at_ms, step) in steps {
            let due = self.started + Duration::from_millis(at_ms);
            while Instant::now() < due {
                let nap = due
                    .saturating_duration_since(Instant::now())
                    .min(LOOK_EVERY);
                tokio::time::sleep(nap).await;
                self.supervise().await;
            }
            let fault = &plan.faults[match step {
                Step::Begin(id) | Step::End(id) => id,
            }];
            match step {
                Step::Begin(_) => {
                    self.active.insert(fault.id);
                    self.begin(fault).await;
                }
                Step::End(_) => {
                    self.end(fault).await;
                    self.active.remove(&fault.id);
                }
            }
        }
        let until = self.started + Duration::from_millis(self.plan.shape.duration_ms);
        while Instant::now() < until {
            tokio::time::sleep(
                until
                    .saturating_duration_since(Instant::now())
                    .min(LOOK_EVERY),
            )
            .await;
            self.supervise().await;
        }
        self.undo_all().await?;
        self.finish().await
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn event(&mut self, fault: Option<usize>, node: usize, what: impl Into<String>) {
        let what = what.into();
        let at_ms = self.now_ms();
        eprintln!("  {:7.1} s  d{node:<3} {what}", at_ms as f64 / 1e3);
        self.done.events.push(Event {
            at_ms,
            fault,
            node,
            what,
        });
    }

    fn honest(&self) -> Vec<usize> {
        (0..self.net.len())
            .filter(|i| self.plan.equivocator != Some(*i))
            .collect()
    }

    async fn begin(&mut self, fault: &Fault) {
        let (id, k) = (Some(fault.id), fault.node);
        let at = self.now_ms();
        self.done.spans.insert(fault.id, (at, at));
        match fault.kind {
            FaultKind::Kill { .. } => {
                let pid = self.net.node(k).pid();
                match self.net.kill(k).await {
                    Ok(()) => self.event(id, k, format!("SIGKILL (pid {})", pid.unwrap_or(0))),
                    Err(e @ TestnetError::Exited { .. }) => {
                        self.ledger.violation(
                            Check::Recovery,
                            format!("d{k} had exited on its own before it was killed: {e}"),
                        );
                        self.event(id, k, "had exited on its own before the SIGKILL");
                    }
                    Err(e) => self.event(id, k, format!("SIGKILL: {e}")),
                }
                self.killed.insert(k);
            }
            FaultKind::Partition { .. } => match self.net.cut(k).await {
                Ok(()) => self.event(id, k, "cut off from every peer"),
                Err(e) => self.event(id, k, format!("cut failed: {e}")),
            },
            FaultKind::DiskFull { .. } => {
                let Some(disk) = self.disk else {
                    self.event(id, k, "disk fill skipped: no tmpfs");
                    return;
                };
                self.counts_at_fill = self.ledger.counts(k);
                let (path, mib) = (disk.path().to_owned(), disk.mib());
                let filled = tokio::task::spawn_blocking(move || fill(&path, mib)).await;
                match filled {
                    Ok(Ok(bytes)) => self.event(
                        id,
                        k,
                        format!(
                            "disk filled ({:.1} MiB of filler, {} bytes free)",
                            bytes as f64 / f64::from(1 << 20),
                            disk.free_bytes().unwrap_or(0)
                        ),
                    ),
                    Ok(Err(e)) => self.event(id, k, format!("disk fill failed: {e}")),
                    Err(e) => self.event(id, k, format!("disk fill task failed: {e}")),
                }
            }
            FaultKind::Flood {
                connections,
                hold_ms,
            } => {
                let Some(target) = self.targets.get(k).cloned() else {
                    return;
                };
                match Flood::start(&target, connections, Duration::from_millis(hold_ms)) {
                    Ok(flood) => {
                        self.floods.insert(fault.id, flood);
                        self.event(
                            id,
                            k,
                            format!("flood of {connections} half-open connections"),
                        );
                    }
                    Err(e) => self.event(id, k, format!("flood not started: {e:#}")),
                }
            }
            FaultKind::Equivocate => self.equivocate(fault).await,
        }
    }

    async fn equivocate(&mut self, fault: &Fault) {
        let k = fault.node;
        match self.net.fork(k).await {
            Ok(report) => {
                self.event(
                    Some(fault.id),
                    k,
                    format!(
                        "signed a conflicting checkpoint of size {} (root {})",
                        report.size, report.root
                    ),
                );
                let watch = recovery::watch_detection(
                    self.targets.clone(),
                    self.honest(),
                    report.origin.clone(),
                    Instant::now(),
                    self.cosign_bound * 2,
                    self.detections.clone(),
                );
                self.watchers.spawn(async move {
                    watch.await;
                    None
                });
                self.done.fork = Some(report);
            }
            Err(e) => {
                self.event(Some(fault.id), k, format!("fork failed: {e}"));
                self.ledger.violation(
                    Check::Equivocation,
                    format!("the harness could not make d{k} equivocate: {e}"),
                );
            }
        }
    }

    async fn end(&mut self, fault: &Fault) {
        let (id, k) = (Some(fault.id), fault.node);
        match fault.kind {
            FaultKind::Kill { .. } => {
                self.killed.remove(&k);
                let started = Instant::now();
                match self.net.restart(k).await {
                    Ok(()) => self.event(
                        id,
                        k,
                        format!("restarted in {:.1} s", started.elapsed().as_secs_f64()),
                    ),
                    Err(e) => {
                        self.event(id, k, format!("restart failed: {e}"));
                        self.ledger
                            .violation(Check::Recovery, format!("d{k} did not restart: {e}"));
                    }
                }
            }
            FaultKind::Partition { .. } => match self.net.heal(k).await {
                Ok(()) => self.event(id, k, "healed"),
                Err(e) => self.event(id, k, format!("heal failed: {e}")),
            },
            FaultKind::DiskFull { .. } => self.free_disk(fault).await,
            FaultKind::Flood { .. } => {
                if let Some(flood) = self.floods.remove(&fault.id) {
                    let report = flood.finish().await;
                    self.event(
                        id,
                        k,
                        format!(
                            "flood over: {} opened, {} closed by the node, {} failed; {} of {} fresh clients served",
                            report.opened,
                            report.closed_by_node,
                            report.failed_opens,
                            report.probes_served,
                            report.probes
                        ),
                    );
                    if report.probes > 0 && report.probes_served * 2 < report.probes {
                        self.ledger.violation(
                            Check::Flood,
                            format!(
                                "during a flood of {} half-open connections on d{k}, only {} of {} fresh clients were served (first failure: {})",
                                report.connections,
                                report.probes_served,
                                report.probes,
                                report.probe_failures.first().map_or("none", String::as_str)
                            ),
                        );
                    }
                    self.done.floods.insert(fault.id, report);
                }
            }
            FaultKind::Equivocate => {}
        }
        if let Some(span) = self.done.spans.get_mut(&fault.id) {
            span.1 = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        }
        if !matches!(fault.kind, FaultKind::Equivocate) {
            self.watch_recovery(fault.id).await;
        }
    }

    /// Frees the disk, then holds the node to F1's promise: it takes submissions again by
    /// itself within [`RECOVER_BOUND`], or it has exited (and is restarted, as a supervisor
    /// would); a node that is still running but does not take a submission is wedged.
    async fn free_disk(&mut self, fault: &Fault) {
        let (id, k) = (Some(fault.id), fault.node);
        if let Some(disk) = self.disk {
            let (acks, failed) = self.ledger.counts(k);
            let (acks0, failed0) = self.counts_at_fill;
            let while_full = format!(
                "while full: {} acks, {} failed submissions",
                acks - acks0,
                failed - failed0
            );
            match free(disk.path()) {
                Ok(()) => self.event(id, k, format!("disk freed ({while_full})")),
                Err(e) => self.event(id, k, format!("freeing the disk failed: {e}")),
            }
        }
        let freed = Instant::now();
        let target = self.targets[k].clone();
        loop {
            if self.full_disk_exits.remove(&k) || self.net.check_alive(k).is_err() {
                self.event(id, k, "had exited on the full disk: restarting it");
                self.restart_exited(k).await;
                return;
            }
            if takes_a_submission(&target).await {
                self.event(
                    id,
                    k,
                    format!(
                        "takes submissions again {:.1} s after the disk was freed",
                        freed.elapsed().as_secs_f64()
                    ),
                );
                return;
            }
            if freed.elapsed() > RECOVER_BOUND {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.ledger.violation(
            Check::Recovery,
            format!(
                "d{k} still runs but took no submission within {RECOVER_BOUND:?} of its disk being freed (wedged: reliability review F1)"
            ),
        );
        match self.net.stop(k).await {
            Ok(()) => self.event(id, k, "wedged; stopped on SIGTERM"),
            Err(TestnetError::Timeout { .. }) => {
                self.ledger.violation(
                    Check::Recovery,
                    format!("d{k}, wedged after a full disk, ignored SIGTERM (SIGKILLed)"),
                );
                self.event(id, k, "wedged; ignored SIGTERM; SIGKILLed");
            }
            Err(e) => self.event(id, k, format!("wedged; stop: {e}")),
        }
        self.restart_exited(k).await;
    }

    /// Starts a node that is not running again; counted as a supervisor restart.
    async fn restart_exited(&mut self, k: usize) {
        self.done.supervisor_restarts += 1;
        match self.net.restart(k).await {
            Ok(()) => self.event(None, k, "restarted by the supervisor"),
            Err(e) => {
                self.event(None, k, format!("supervisor restart failed: {e}"));
                self.ledger.violation(
                    Check::Recovery,
                    format!("d{k} could not be started again: {e}"),
                );
            }
        }
    }

    /// Between steps: a node that should run and has exited is reported and restarted (unless
    /// its disk is full: then after the disk is freed).
    async fn supervise(&mut self) {
        for k in 0..self.net.len() {
            if self.killed.contains(&k) || self.full_disk_exits.contains(&k) {
                continue;
            }
            let Err(e) = self.net.check_alive(k) else {
                continue;
            };
            let (status, panicked, tail) = match &e {
                TestnetError::Exited { status, tail, .. } => (
                    status.clone(),
                    tail.contains("panicked"),
                    last_lines(tail, 6),
                ),
                other => (other.to_string(), false, String::new()),
            };
            if self.disk_fault_active(k) {
                self.event(
                    None,
                    k,
                    format!("exited while its disk was full ({status})"),
                );
                // Exiting is one of the two ways F1 allows; a panic (of the process or of one
                // of its threads) or a signal is not.
                if !status.ends_with("status: 1") || panicked {
                    self.ledger.violation(
                        Check::Recovery,
                        format!(
                            "d{k} ended with {status} on a full disk, not a clean failure exit: it panicked or was signalled (reliability review F1); its log ends:\n{tail}"
                        ),
                    );
                }
                self.full_disk_exits.insert(k);
                continue;
            }
            self.ledger.violation(
                Check::Recovery,
                format!(
                    "d{k} exited ({status}) while no fault was done to it; its log ends:\n{tail}"
                ),
            );
            self.event(None, k, format!("exited on its own ({status})"));
            self.restart_exited(k).await;
        }
    }

    fn disk_fault_active(&self, k: usize) -> bool {
        self.active.iter().any(|id| {
            let f = &self.plan.faults[*id];
            f.node == k && matches!(f.kind, FaultKind::DiskFull { .. })
        })
    }

    /// Starts a watcher of how long every honest log takes to be cosigned again after fault
    /// `id` was undone.
    async fn watch_recovery(&mut self, id: usize) {
        let honest = self.honest();
        let sizes = recovery::tree_sizes(&self.targets, &honest).await;
        let targets = self.targets.clone();
        let bound = self.cosign_bound;
        self.watchers.spawn(async move {
            let outcome = recovery::wait_cosigned(&targets, &sizes, bound).await;
            Some(Recovery {
                fault: id,
                cosigned_again_ms: outcome
                    .as_ref()
                    .ok()
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                behind: outcome.err(),
                overlapped: false,
            })
        });
    }

    /// At the end of the phase: every flood stopped, the disk freed, every node running.
    async fn undo_all(&mut self) -> anyhow::Result<()> {
        for (id, flood) in std::mem::take(&mut self.floods) {
            let report = flood.finish().await;
            self.done.floods.insert(id, report);
        }
        if let Some(disk) = self.disk {
            free(disk.path())?;
        }
        for k in 0..self.net.len() {
            if !self.net.node(k).is_running() {
                self.killed.remove(&k);
                self.full_disk_exits.remove(&k);
                self.event(None, k, "not running at the end of the phase: restarting");
                self.restart_exited(k).await;
            }
        }
        Ok(())
    }

    /// Waits for the watchers (each bounded) and marks the recoveries that overlapped another
    /// fault.
    async fn finish(mut self) -> anyhow::Result<Performed> {
        while let Some(joined) = self.watchers.join_next().await {
            if let Ok(Some(recovery)) = joined {
                self.done.recoveries.push(recovery);
            }
        }
        let spans = self.done.spans.clone();
        for r in &mut self.done.recoveries {
            let Some(&(_, end)) = spans.get(&r.fault) else {
                continue;
            };
            let until = end
                + r.cosigned_again_ms
                    .unwrap_or(self.cosign_bound.as_millis() as u64);
            r.overlapped = spans
                .iter()
                .any(|(other, (b, e))| *other != r.fault && *b < until && *e > end);
        }
        self.done.recoveries.sort_by_key(|r| r.fault);
        self.done.detections = self
            .detections
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default();
        Ok(self.done)
    }
}

/// The last `n` lines of `text`.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether a fresh client gets a submission acknowledged by `target` (one try, bounded by the
/// client's timeouts).
async fn takes_a_submission(target: &LogTarget) -> bool {
    let Ok(client) = target.connect().await else {
        return false;
    };
    let author = ed25519_dalek::SigningKey::from_bytes(&[0xd1; 32]);
    let tag = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    )
    .unwrap_or(u64::MAX);
    let Ok(entry) = notarization_entry(&author, tag, 256) else {
        return false;
    };
    client.submit(entry).await.is_ok()
}
