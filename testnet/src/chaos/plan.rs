//! The fault schedule of a chaos run: which fault hits which node when, and for how long.
//!
//! A [`Plan`] is a pure function of the seed and the run's [`PlanShape`] (domains, duration,
//! how many faults of each kind, flood size): the same seed with the same arguments replays the
//! same schedule, so a failing run is repeated by giving its seed back. Nothing else feeds it —
//! no clock, no process state. The conductor ([`super::conductor`]) executes it.
//!
//! Placement rules, so that every fault is meaningful and can be undone:
//! - every fault starts after a warm-up and ends before a tail at the end of the run;
//! - faults on one node never overlap, with a gap between them (a node is killed, cut off, full
//!   or flooded, one at a time; faults on different nodes overlap freely);
//! - the equivocation comes in the first half, so detection has time to spread, and a few
//!   seconds around it are kept free of other faults on that node (the fork needs it running);
//! - the disk fills only on the node whose data directory is on a tmpfs, never the equivocator
//!   (its recovery is then checked like every honest log's).
//!
//! A fault that finds no slot after a bounded number of tries is left out and listed
//! ([`Plan::unplaced`]); with the default mix on a run of 30 s or more every fault is placed.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::load::Schedule;

/// Tries to find a free slot for one fault.
const PLACEMENT_TRIES: usize = 64;
/// Least time between two faults on the same node, ms.
const SAME_NODE_GAP_MS: u64 = 2_000;
/// Time kept free of other faults on the equivocating node around the fork, ms.
const EQUIVOCATION_QUIET_MS: u64 = 3_000;
/// Most half-open connections one flood may hold.
pub const MAX_FLOOD_CONNECTIONS: usize = 512;
/// The default flood: below the node's 128 pending-connection bound, so that on code without
/// per-source limits (reliability review F2) the flood is felt but does not refuse every client.
pub const DEFAULT_FLOOD_CONNECTIONS: usize = 96;

/// How many faults of each kind a run makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultMix {
    /// SIGKILLs, each followed by a restart.
    pub kills: usize,
    /// Partitions (one node cut off from its peers), each healed.
    pub partitions: usize,
    /// Disk fills of the tmpfs node, each freed.
    pub disk_fills: usize,
    /// Floods of half-open TCP connections on a node's libp2p port.
    pub floods: usize,
    /// Logs made to equivocate: 0 or 1.
    pub equivocations: usize,
}

impl FaultMix {
    /// The default mix for a run of `duration`: per minute about four kills, one partition,
    /// three quarters of a flood and half a disk fill, each kind at least once (kills at least
    /// twice), and one equivocation.
    pub fn for_duration(duration: Duration) -> Self {
        let minutes = duration.as_secs_f64() / 60.0;
        let per_minute = |rate: f64, least: usize| ((minutes * rate).round() as usize).max(least);
        FaultMix {
            kills: per_minute(4.0, 2),
            partitions: per_minute(1.0, 1),
            disk_fills: per_minute(0.5, 1),
            floods: per_minute(0.75, 1),
            equivocations: 1,
        }
    }

    /// All faults.
    pub fn total(&self) -> usize {
        self.kills + self.partitions + self.disk_fills + self.floods + self.equivocations
    }
}

/// Everything besides the seed that shapes a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanShape {
    /// Domains in the testnet (at least 3: one equivocates, at least two detect it).
    pub domains: usize,
    /// Length of the fault phase, ms.
    pub duration_ms: u64,
    /// How many faults of each kind.
    pub mix: FaultMix,
    /// Half-open connections per flood.
    pub flood_connections: usize,
}

/// One kind of fault and its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL the node, restart it `down_ms` later.
    Kill {
        /// Time between the kill and the restart.
        down_ms: u64,
    },
    /// Cut the node off from every peer (both sides block), heal `for_ms` later.
    Partition {
        /// How long the cut lasts.
        for_ms: u64,
    },
    /// Fill the node's tmpfs with a filler file until ENOSPC, delete it `hold_ms` later.
    DiskFull {
        /// How long the disk stays full.
        hold_ms: u64,
    },
    /// Hold `connections` half-open TCP connections to the node's libp2p port for `hold_ms`.
    Flood {
        /// How many at once.
        connections: usize,
        /// For how long.
        hold_ms: u64,
    },
    /// Make the node's log sign a conflicting checkpoint (test hook) and show it to everyone.
    Equivocate,
}

impl FaultKind {
    /// How long the fault lasts (0 for the equivocation, which is one act).
    pub fn length_ms(&self) -> u64 {
        match *self {
            FaultKind::Kill { down_ms } => down_ms,
            FaultKind::Partition { for_ms } => for_ms,
            FaultKind::DiskFull { hold_ms } | FaultKind::Flood { hold_ms, .. } => hold_ms,
            FaultKind::Equivocate => 0,
        }
    }

    /// A short name: `kill`, `partition`, `disk_full`, `flood`, `equivocate`.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Kill { .. } => "kill",
            FaultKind::Partition { .. } => "partition",
            FaultKind::DiskFull { .. } => "disk_full",
            FaultKind::Flood { .. } => "flood",
            FaultKind::Equivocate => "equivocate",
        }
    }
}

/// One scheduled fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// Its number in the plan (time order).
    pub id: usize,
    /// When it starts, ms after the fault phase began.
    pub at_ms: u64,
    /// The node it hits.
    pub node: usize,
    /// What it does.
    #[serde(flatten)]
    pub kind: FaultKind,
}

impl Fault {
    /// When it is undone, ms after the fault phase began.
    pub fn end_ms(&self) -> u64 {
        self.at_ms + self.kind.length_ms()
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at_ms as f64 / 1e3;
        let node = format!("d{}", self.node);
        match self.kind {
            FaultKind::Kill { down_ms } => write!(
                f,
                "{at:7.1} s  {node:<4} SIGKILL, restart after {:.1} s",
                down_ms as f64 / 1e3
            ),
            FaultKind::Partition { for_ms } => write!(
                f,
                "{at:7.1} s  {node:<4} cut off from its peers for {:.1} s",
                for_ms as f64 / 1e3
            ),
            FaultKind::DiskFull { hold_ms } => write!(
                f,
                "{at:7.1} s  {node:<4} disk filled, freed after {:.1} s",
                hold_ms as f64 / 1e3
            ),
            FaultKind::Flood {
                connections,
                hold_ms,
            } => write!(
                f,
                "{at:7.1} s  {node:<4} {connections} half-open connections for {:.1} s",
                hold_ms as f64 / 1e3
            ),
            FaultKind::Equivocate => {
                write!(f, "{at:7.1} s  {node:<4} signs a conflicting checkpoint")
            }
        }
    }
}

/// A moment of the plan: a fault begins or is undone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Fault `id` begins.
    Begin(usize),
    /// Fault `id` is undone (restart, heal, free, stop flooding).
    End(usize),
}

/// The whole schedule (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The seed it came from.
    pub seed: u64,
    /// What shaped it.
    pub shape: PlanShape,
    /// The node whose log equivocates, if any.
    pub equivocator: Option<usize>,
    /// The node whose data directory is on a tmpfs (the disk fills there), if any.
    pub disk_node: Option<usize>,
    /// The faults, in time order.
    pub faults: Vec<Fault>,
    /// Faults that found no slot (kind names).
    pub unplaced: Vec<&'static str>,
}

impl Plan {
    /// The schedule for `seed` and `shape` (see the module docs). Needs at least 3 domains.
    pub fn new(seed: u64, shape: PlanShape) -> Result<Plan, String> {
        if shape.domains < 3 {
            return Err(format!(
                "a chaos run needs at least 3 domains (one equivocates, two detect it); got {}",
                shape.domains
            ));
        }
        if shape.mix.equivocations > 1 {
            return Err("at most one log is made to equivocate".into());
        }
        if shape.flood_connections == 0 || shape.flood_connections > MAX_FLOOD_CONNECTIONS {
            return Err(format!(
                "a flood holds 1 to {MAX_FLOOD_CONNECTIONS} connections; got {}",
                shape.flood_connections
            ));
        }
        let mut rng = Schedule::new(seed);
        let n = shape.domains as u64;
        let equivocator = (shape.mix.equivocations > 0).then(|| rng.range(0, n) as usize);
        let disk_node = (shape.mix.disk_fills > 0).then(|| {
            // Any node but the equivocator.
            let pick = rng.range(0, n - u64::from(equivocator.is_some())) as usize;
            match equivocator {
                Some(e) if pick >= e => pick + 1,
                _ => pick,
            }
        });
        let d = shape.duration_ms;
        let warm_up = (d / 10).clamp(2_000, 10_000);
        let tail = (d / 15).clamp(2_000, 10_000);
        let window = Window {
            start: warm_up,
            end: d.saturating_sub(tail).max(warm_up),
        };
        // A fault takes at most a third of the window, so that a short run still places it.
        let cap = (window.end - window.start) / 3;
        let mut placer = Placer {
            rng,
            domains: shape.domains,
            busy: vec![Vec::new(); shape.domains],
            faults: Vec::new(),
            unplaced: Vec::new(),
        };
        if let Some(node) = equivocator {
            let half = Window {
                start: window.start,
                end: window.start + (window.end - window.start) / 2,
            };
            placer.place(half, Some(node), |_| FaultKind::Equivocate);
        }
        for _ in 0..shape.mix.disk_fills {
            placer.place(window, disk_node, |rng| FaultKind::DiskFull {
                hold_ms: rng.range(5_000, 12_000).min(cap),
            });
        }
        for _ in 0..shape.mix.floods {
            let connections = shape.flood_connections;
            placer.place(window, None, |rng| FaultKind::Flood {
                connections,
                hold_ms: rng.range(6_000, 15_000).min(cap),
            });
        }
        for _ in 0..shape.mix.partitions {
            placer.place(window, None, |rng| FaultKind::Partition {
                for_ms: rng.range(3_000, 10_000).min(cap),
            });
        }
        for _ in 0..shape.mix.kills {
            placer.place(window, None, |rng| FaultKind::Kill {
                down_ms: rng.range(200, 3_000).min(cap),
            });
        }
        let mut faults = placer.faults;
        faults.sort_by_key(|f| (f.at_ms, f.node));
        for (id, fault) in faults.iter_mut().enumerate() {
            fault.id = id;
        }
        Ok(Plan {
            seed,
            shape,
            equivocator,
            disk_node,
            faults,
            unplaced: placer.unplaced,
        })
    }

    /// Every begin and end, in time order, with its time in ms. At equal times the ends of
    /// faults that lasted come first, then the begins, then the ends of instant faults (the
    /// equivocation), so that every fault begins before it ends.
    pub fn steps(&self) -> Vec<(u64, Step)> {
        let mut steps: Vec<(u64, u8, Step)> = self
            .faults
            .iter()
            .flat_map(|f| {
                let end_rank = if f.kind.length_ms() == 0 { 2 } else { 0 };
                [
                    (f.at_ms, 1, Step::Begin(f.id)),
                    (f.end_ms(), end_rank, Step::End(f.id)),
                ]
            })
            .collect();
        steps.sort_by_key(|(at, rank, _)| (*at, *rank));
        steps.into_iter().map(|(at, _, step)| (at, step)).collect()
    }

    /// How many faults of `kind` (by name) were placed.
    pub fn count(&self, kind: &str) -> usize {
        self.faults.iter().filter(|f| f.kind.name() == kind).count()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chaos schedule: seed {}, {} domains, {:.1} s of faults",
            self.seed,
            self.shape.domains,
            self.shape.duration_ms as f64 / 1e3
        )?;
        if let Some(e) = self.equivocator {
            writeln!(f, "  d{e} is the log made to equivocate")?;
        }
        if let Some(d) = self.disk_node {
            writeln!(f, "  d{d} keeps its data on a tmpfs (the disk fills there)")?;
        }
        for fault in &self.faults {
            writeln!(f, "  {fault}")?;
        }
        if !self.unplaced.is_empty() {
            writeln!(
                f,
                "  not placed (no free slot): {}",
                self.unplaced.join(", ")
            )?;
        }
        Ok(())
    }
}

/// A span of the fault phase, ms.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: u64,
    end: u64,
}

/// Places faults one by one into free slots.
struct Placer {
    rng: Schedule,
    domains: usize,
    /// Per node, the spans taken (gap included).
    busy: Vec<Vec<(u64, u64)>>,
    faults: Vec<Fault>,
    unplaced: Vec<&'static str>,
}

impl Placer {
    /// Places one fault made by `make` in `window`, on `node` or a random one.
    fn place(
        &mut self,
        window: Window,
        node: Option<usize>,
        make: impl FnOnce(&mut Schedule) -> FaultKind,
    ) {
        let kind = make(&mut self.rng);
        let (before, after) = match kind {
            FaultKind::Equivocate => (EQUIVOCATION_QUIET_MS, EQUIVOCATION_QUIET_MS),
            _ => (SAME_NODE_GAP_MS, SAME_NODE_GAP_MS),
        };
        for _ in 0..PLACEMENT_TRIES {
            let latest = window.end.saturating_sub(kind.length_ms());
            if latest < window.start {
                break;
            }
            let at = self.rng.range(window.start, latest + 1);
            let target = node.unwrap_or_else(|| self.rng.range(0, self.domains as u64) as usize);
            let span = (at.saturating_sub(before), at + kind.length_ms() + after);
            let free = self.busy[target]
                .iter()
                .all(|(s, e)| span.1 <= *s || *e <= span.0);
            if free {
                self.busy[target].push(span);
                self.faults.push(Fault {
                    id: 0,
                    at_ms: at,
                    node: target,
                    kind,
                });
                return;
            }
        }
        self.unplaced.push(kind.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(domains: usize, seconds: u64) -> PlanShape {
        let duration = Duration::from_secs(seconds);
        PlanShape {
            domains,
            duration_ms: seconds * 1_000,
            mix: FaultMix::for_duration(duration),
            flood_connections: DEFAULT_FLOOD_CONNECTIONS,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        for seed in [0, 1, 42, u64::MAX] {
            let a = Plan::new(seed, shape(3, 45)).unwrap();
            let b = Plan::new(seed, shape(3, 45)).unwrap();
            assert_eq!(a, b);
            assert_eq!(a.to_string(), b.to_string());
            assert_eq!(a.steps(), b.steps());
        }
        let plans: Vec<Plan> = (0..8)
            .map(|seed| Plan::new(seed, shape(3, 45)).unwrap())
            .collect();
        assert!(
            plans.windows(2).any(|w| w[0].faults != w[1].faults),
            "different seeds give different schedules"
        );
    }

    #[test]
    fn a_short_run_places_every_fault_of_the_default_mix() {
        for seed in 0..200 {
            let plan = Plan::new(seed, shape(3, 40)).unwrap();
            assert!(plan.unplaced.is_empty(), "seed {seed}: {plan}");
            assert_eq!(plan.faults.len(), plan.shape.mix.total());
            assert!(plan.count("kill") >= 2);
            for kind in ["partition", "disk_full", "flood", "equivocate"] {
                assert_eq!(plan.count(kind), 1, "seed {seed}: {kind}");
            }
        }
    }

    #[test]
    fn faults_respect_the_placement_rules() {
        for seed in 0..200 {
            let plan = Plan::new(seed, shape(4, 300)).unwrap();
            let d = plan.shape.duration_ms;
            let (equivocator, disk) = (plan.equivocator.unwrap(), plan.disk_node.unwrap());
            assert_ne!(equivocator, disk);
            for f in &plan.faults {
                assert!(f.at_ms >= 2_000 && f.end_ms() <= d - 2_000, "{f}");
                assert!(f.node < 4);
                match f.kind {
                    FaultKind::Equivocate => {
                        assert_eq!(f.node, equivocator);
                        assert!(f.at_ms <= d / 2, "{f}");
                    }
                    FaultKind::DiskFull { .. } => assert_eq!(f.node, disk),
                    FaultKind::Flood { connections, .. } => {
                        assert_eq!(connections, DEFAULT_FLOOD_CONNECTIONS)
                    }
                    _ => {}
                }
            }
            // One fault at a time per node, with a gap.
            for a in &plan.faults {
                for b in plan
                    .faults
                    .iter()
                    .filter(|b| b.id != a.id && b.node == a.node)
                {
                    assert!(
                        a.end_ms() + SAME_NODE_GAP_MS <= b.at_ms
                            || b.end_ms() + SAME_NODE_GAP_MS <= a.at_ms,
                        "seed {seed}: {a} and {b} overlap"
                    );
                }
            }
            assert!(plan.faults.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            assert!(plan.faults.iter().enumerate().all(|(i, f)| f.id == i));
        }
    }

    #[test]
    fn steps_begin_each_fault_before_ending_it() {
        let plan = Plan::new(7, shape(3, 120)).unwrap();
        let steps = plan.steps();
        assert_eq!(steps.len(), 2 * plan.faults.len());
        assert!(steps.windows(2).all(|w| w[0].0 <= w[1].0));
        for fault in &plan.faults {
            let begin = steps.iter().position(|s| s.1 == Step::Begin(fault.id));
            let end = steps.iter().position(|s| s.1 == Step::End(fault.id));
            assert!(begin.is_some() && begin < end, "{fault}");
        }
    }

    #[test]
    fn impossible_shapes_are_refused() {
        assert!(Plan::new(1, shape(2, 60)).is_err());
        let mut two = shape(3, 60);
        two.mix.equivocations = 2;
        assert!(Plan::new(1, two).is_err());
        let mut huge = shape(3, 60);
        huge.flood_connections = MAX_FLOOD_CONNECTIONS + 1;
        assert!(Plan::new(1, huge).is_err());
        let mut none = shape(3, 60);
        none.mix = FaultMix {
            kills: 1,
            partitions: 0,
            disk_fills: 0,
            floods: 0,
            equivocations: 0,
        };
        let plan = Plan::new(1, none).unwrap();
        assert_eq!((plan.equivocator, plan.disk_node), (None, None));
        assert_eq!(plan.faults.len(), 1);
    }
}
