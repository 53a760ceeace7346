//! The chaos run in CI: a short, bounded `herald-testnet chaos` on three domains with
//! a fixed seed — three SIGKILLs and restarts, a partition, a full disk (a tmpfs: CI runs as
//! root), a flood of half-open connections below the node's pending bound, and one log made to
//! equivocate — under submissions, certified mail and mail; every check of the run must hold.
//!
//! The schedule comes from the seed alone, so a failure here replays with the seed and the
//! shape printed in the report (`herald-testnet chaos ... --seed 14`).

mod common;

use std::time::Duration;

use common::{BINARY, bounded};
use herald_testnet::chaos::{self, ChaosConfig, Check, FaultMix};

const SEED: u64 = 14;
/// The fault phase; setup, settling and the audit come on top.
const FAULTS: Duration = Duration::from_secs(40);
const TEST_BOUND: Duration = Duration::from_secs(420);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_chaos_run_keeps_every_promise() {
    bounded(TEST_BOUND, async {
        let dir = tempfile::TempDir::new().unwrap();
        let mut config = ChaosConfig::new(dir.path(), BINARY, 3, FAULTS, SEED);
        config.mix = FaultMix {
            kills: 3,
            partitions: 1,
            disk_fills: 1,
            floods: 1,
            equivocations: 1,
        };
        let plan = config.plan().unwrap();
        assert!(plan.unplaced.is_empty(), "{plan}");
        let report = chaos::run(config).await.expect("the harness ran");
        eprintln!("{}", report.summary());
        assert_eq!(
            report.schedule, plan,
            "the run followed the seed's schedule"
        );
        assert!(report.passed, "{}", report.summary());
        // Each fault happened and the load was real.
        assert_eq!(
            report
                .events
                .iter()
                .filter(|e| e.what.starts_with("SIGKILL"))
                .count(),
            3
        );
        assert!(report.equivocation.origin.is_some());
        assert_eq!(
            report.equivocation.proofs.len(),
            2,
            "both honest domains hold a proof"
        );
        assert_eq!(report.floods.len(), 1);
        assert!(report.floods.values().all(|f| f.probes > 0));
        assert!(report.logs.iter().all(|l| l.acks > 0));
        assert!(report.letters.delivered > 0);
        // Mail between domains ran too: read once and unaltered, every accepted one read.
        assert!(report.mail.read > 0, "{:?}", report.mail);
        assert_eq!(report.mail.not_read, 0, "{:?}", report.mail);
        // The JSON report (the CLI writes it to target/bench-report/chaos.json) says the same.
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["seed"], SEED);
        assert_eq!(json["passed"], true);
        assert_eq!(json["mail"]["read"], report.mail.read);
        assert_eq!(
            json["checks"].as_array().map(Vec::len),
            Some(Check::ALL.len())
        );
    })
    .await;
}
