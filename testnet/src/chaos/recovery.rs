//! How long the network takes to come back: from the end of a fault until every honest log is
//! cosigned again at least at the size it had then, and from the equivocation until each honest
//! domain distrusts the log.
//!
//! Both read the nodes' `/status` (no token, no `Testnet`: these run as tasks beside the
//! conductor) and trust nothing it says about signatures: a cosigned checkpoint counts only once
//! it verifies under the log's witness policy here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::ledger::{Check, Violation};
use super::plan::Plan;
use super::traffic::LogTarget;
use crate::node_api;
use crate::party::unix_now;

/// How often the watchers look.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// The tree size of each log in `logs` that answers now (a node that is down is left out).
pub(super) async fn tree_sizes(targets: &[LogTarget], logs: &[usize]) -> BTreeMap<usize, u64> {
    let mut sizes = BTreeMap::new();
    for &i in logs {
        if let Some(target) = targets.get(i)
            && let Ok(status) = node_api::status(target.http).await
        {
            sizes.insert(i, status.tree_size);
        }
    }
    sizes
}

/// The size of `target`'s latest cosigned checkpoint, if it has one that verifies under the
/// log's witness policy.
pub(super) async fn verified_cosigned_size(target: &LogTarget) -> Result<u64, String> {
    let status = node_api::status(target.http)
        .await
        .map_err(|e| format!("{}: {e}", target.domain))?;
    if status.cosigned_checkpoint.is_empty() {
        return Err(format!("{} has no cosigned checkpoint", target.domain));
    }
    target
        .trust
        .verify_cosigned(status.cosigned_checkpoint.as_bytes(), unix_now())
        .map(|c| c.checkpoint().size())
        .map_err(|e| {
            format!(
                "{}: its cosigned checkpoint does not verify: {e}",
                target.domain
            )
        })
}

/// Waits (at most `bound`) until every log in `sizes` is cosigned at least at its size there;
/// the time it took, or the logs still behind.
pub(super) async fn wait_cosigned(
    targets: &[LogTarget],
    sizes: &BTreeMap<usize, u64>,
    bound: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    let caught_up = crate::wait::until(bound, LOOK_EVERY, || async {
        let mut behind = Vec::new();
        for (&i, &size) in sizes {
            let Some(target) = targets.get(i) else {
                continue;
            };
            match verified_cosigned_size(target).await {
                Ok(cosigned) if cosigned >= size => {}
                Ok(cosigned) => behind.push(format!(
                    "{} cosigned at {cosigned} of {size}",
                    target.domain
                )),
                Err(e) => behind.push(e),
            }
        }
        if behind.is_empty() {
            Ok(())
        } else {
            Err(behind.join("; "))
        }
    })
    .await;
    match caught_up {
        Ok(()) => Ok(started.elapsed()),
        Err(last) => Err(last.unwrap_or_else(|| "no answer".into())),
    }
}

/// When each honest domain first distrusted the equivocating log, ms after the fork.
pub(super) type Detections = Arc<std::sync::Mutex<BTreeMap<String, u64>>>;

/// Watches every domain in `honest` until each lists `origin` as distrusted in its `/status`
/// (or `bound` passes), recording when, in ms after `forked`.
pub(super) async fn watch_detection(
    targets: Arc<Vec<LogTarget>>,
    honest: Vec<usize>,
    origin: String,
    forked: Instant,
    bound: Duration,
    detections: Detections,
) {
    let _ = crate::wait::until(bound, LOOK_EVERY, || async {
        let mut waiting = 0;
        for &i in &honest {
            let Some(target) = targets.get(i) else {
                continue;
            };
            let known = detections
                .lock()
                .map(|d| d.contains_key(&target.domain))
                .unwrap_or(true);
            if known {
                continue;
            }
            waiting += 1;
            if let Ok(status) = node_api::status(target.http).await
                && status.distrusted.contains(&origin)
            {
                let ms = u64::try_from(forked.elapsed().as_millis()).unwrap_or(u64::MAX);
                if let Ok(mut d) = detections.lock() {
                    d.insert(target.domain.clone(), ms);
                }
                waiting -= 1;
            }
        }
        if waiting == 0 { Ok(()) } else { Err(waiting) }
    })
    .await;
}

/// How the network came back after one fault.
#[derive(Clone, Debug, Serialize)]
pub struct Recovery {
    /// The fault.
    pub fault: usize,
    /// Ms after the fault was undone until every honest log that answered then was cosigned at
    /// its size then; `None` if not within the bound.
    pub cosigned_again_ms: Option<u64>,
    /// What was still behind at the bound.
    pub behind: Option<String>,
    /// Whether another fault was active at some time in that span (then the figure says
    /// little about this fault, and a miss is not held against it).
    pub overlapped: bool,
}

/// The cosigning check: every honest log answered at the end of the faults and was cosigned
/// again at its size then within `bound` (`final_cosigned`), and after each fault that overlaps
/// no other, the same held (`recoveries`). The violations, and the row's summary.
pub(super) fn judge_cosigning(
    plan: &Plan,
    honest: &[usize],
    sizes: &BTreeMap<usize, u64>,
    final_cosigned: &Result<Duration, String>,
    recoveries: &[Recovery],
    bound: Duration,
) -> (Vec<Violation>, String) {
    let mut found = Vec::new();
    let silent: Vec<&usize> = honest.iter().filter(|i| !sizes.contains_key(i)).collect();
    if !silent.is_empty() {
        found.push(Violation {
            check: Check::Cosigning,
            detail: format!("at the end of the faults the honest logs {silent:?} did not answer"),
        });
    }
    let summary = match final_cosigned {
        Ok(took) => format!(
            "every honest log cosigned again {:.1} s after the faults (bound {bound:?})",
            took.as_secs_f64()
        ),
        Err(behind) => {
            found.push(Violation {
                check: Check::Cosigning,
                detail: format!(
                    "not every honest log was cosigned again within {bound:?} of the end of the faults: {behind}"
                ),
            });
            format!("not within {bound:?} of the end of the faults")
        }
    };
    for r in recoveries
        .iter()
        .filter(|r| !r.overlapped && r.cosigned_again_ms.is_none())
    {
        let fault = plan.faults.get(r.fault).map_or_else(
            || format!("fault {}", r.fault),
            |f| {
                format!(
                    "fault {} ({} of d{} at {:.1} s)",
                    f.id,
                    f.kind.name(),
                    f.node,
                    f.at_ms as f64 / 1e3
                )
            },
        );
        found.push(Violation {
            check: Check::Cosigning,
            detail: format!(
                "after {fault}, not every honest log was cosigned again within {bound:?}: {}",
                r.behind.as_deref().unwrap_or("")
            ),
        });
    }
    (found, summary)
}

#[cfg(test)]
mod tests {
    use super::super::plan::{FaultMix, PlanShape};
    use super::*;

    fn recovery(fault: usize, ms: Option<u64>, overlapped: bool) -> Recovery {
        Recovery {
            fault,
            cosigned_again_ms: ms,
            behind: ms
                .is_none()
                .then(|| "d1.test cosigned at 3 of 9".to_owned()),
            overlapped,
        }
    }

    #[test]
    fn a_miss_counts_unless_another_fault_overlapped_it() {
        let shape = PlanShape {
            domains: 3,
            duration_ms: 60_000,
            mix: FaultMix::for_duration(Duration::from_secs(60)),
            flood_connections: 96,
        };
        let plan = Plan::new(1, shape).unwrap();
        let sizes = BTreeMap::from([(0, 9), (1, 9)]);
        let bound = Duration::from_secs(60);
        let ok = Ok(Duration::from_millis(300));
        let fine = [recovery(0, Some(100), false), recovery(1, None, true)];
        let (found, summary) = judge_cosigning(&plan, &[0, 1], &sizes, &ok, &fine, bound);
        assert!(found.is_empty(), "{found:?}");
        assert!(summary.contains("0.3 s"));

        let missed = [recovery(2, None, false)];
        let (found, _) = judge_cosigning(&plan, &[0, 1], &sizes, &ok, &missed, bound);
        assert_eq!(found.len(), 1);
        assert!(found[0].detail.contains("cosigned at 3 of 9"), "{found:?}");

        let late = Err("d0.test cosigned at 1 of 9".to_owned());
        let (found, _) = judge_cosigning(&plan, &[0, 1, 2], &sizes, &late, &[], bound);
        assert_eq!(
            found.len(),
            2,
            "one log silent, and the final bound missed: {found:?}"
        );
        assert!(found.iter().all(|v| v.check == Check::Cosigning));
    }
}
