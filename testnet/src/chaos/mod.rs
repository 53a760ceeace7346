//! `herald-testnet chaos --domains N --minutes M --seed S`: clients load a testnet while faults
//! happen on a schedule derived from the seed, then the run checks that the network kept its
//! promises, so that what the reliability review broke stays fixed.
//!
//! The phases, each bounded:
//! 1. **Setup.** N domains as real node processes ([`Testnet`], test hooks on for the fork); the
//!    disk node's data directory on a small tmpfs (`disk`); a sender and a recipient account in
//!    every domain for certified mail (`letters`) and for mail (`mail`).
//! 2. **Faults under load** for M minutes: submitters and watchers on every log (`traffic`),
//!    certified mail and mail between the domains (`letters`, `mail`), while the `conductor` runs the
//!    `plan`: SIGKILLs and restarts, partitions and heals, a full disk freed, floods of
//!    half-open connections (`flood`), one log made to equivocate. Everything the clients see
//!    goes to the `ledger`.
//! 3. **Settle**: every honest log must be cosigned again within the bound (`recovery`), and
//!    every mail accepted between honest domains read.
//! 4. **Audit** (`audit`): every log re-read and its tree recomputed against every ack and
//!    every checkpoint any client saw; every honest domain's proof of the equivocation verified
//!    offline; every node stopped; the process table checked (`processes`).
//!
//! It prints a summary table and writes a JSON report (`report`); it fails (exit 1) when any
//! check was violated, with the details. Ctrl-C stops everything it started: the run's future
//! is dropped, which kills the nodes (the `Testnet`), aborts every client and flood task (their
//! `JoinSet`s) and unmounts the tmpfs (declared first, so dropped last).

mod audit;
mod conductor;
mod disk;
mod flood;
mod ledger;
mod letters;
mod mail;
mod plan;
mod processes;
mod recovery;
mod report;
mod traffic;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use tokio::task::JoinSet;

pub use ledger::{Check, Violation};
pub use plan::{
    DEFAULT_FLOOD_CONNECTIONS, Fault, FaultKind, FaultMix, MAX_FLOOD_CONNECTIONS, Plan, PlanShape,
};
pub use report::ChaosReport;
pub use traffic::Workload;

use crate::bench::{CommonArgs, Environment, scratch_dir, write_report};
use crate::testnet::{Testnet, TestnetOptions};
use conductor::Conductor;
use ledger::Ledger;
use traffic::{Context, LogTarget, Stop};

/// Bound on the client tasks' stop once the signal is given (letters may be mid-poll).
const STOP_BOUND: Duration = Duration::from_secs(5);
/// Bound on finding no process left after the nodes are stopped.
const PROCESS_BOUND: Duration = Duration::from_secs(10);

/// Options of `herald-testnet chaos`.
#[derive(Args, Debug, Clone)]
pub struct ChaosArgs {
    /// How many domains (at least 3: one equivocates, the others must catch it).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(3..=16))]
    pub domains: u16,
    /// Minutes of faults under load (decimals allowed: 0.5 is 30 s).
    #[arg(long, default_value_t = 5.0)]
    pub minutes: f64,
    /// The schedule's seed (default: a fresh one, printed). The same seed with the same
    /// arguments replays the same schedule.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Half-open connections per flood. The default stays below the node's 128 pending
    /// connections; 200 is the full-size flood of the reliability review's F2.
    #[arg(long, default_value_t = DEFAULT_FLOOD_CONNECTIONS as u16,
          value_parser = clap::value_parser!(u16).range(1..=MAX_FLOOD_CONNECTIONS as i64))]
    pub flood_connections: u16,
    /// Seconds every honest log may take to be cosigned again after the faults end (and
    /// after each fault that does not overlap another).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub cosign_bound_secs: u64,
    /// Milliseconds between sequencing rounds on every node.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=10_000))]
    pub sequence_interval_ms: u64,
    /// Concurrent submitters per log.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub submitters: u16,
    /// Size of the disk node's tmpfs, MiB (default: 192, plus 8 per minute of faults; the
    /// node keeps its default free-space thresholds).
    #[arg(long, value_parser = clap::value_parser!(u64).range(8..=4096))]
    pub disk_mib: Option<u64>,
    /// Leave the disk fault out (it mounts a tmpfs, which needs root).
    #[arg(long)]
    pub no_disk_fault: bool,
    /// Leave certified mail out of the load.
    #[arg(long)]
    pub no_certmail: bool,
    /// Leave mail (relayed between gateways, read from mailboxes) out of the load.
    #[arg(long)]
    pub no_mail: bool,
    /// Keep the scratch directory (node data and logs) after a successful run.
    #[arg(long)]
    pub keep: bool,
    /// The options every run shares (report file, scratch directory).
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Everything a chaos run needs (the CLI builds it from [`ChaosArgs`]; tests build it directly).
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    /// Directory for the nodes and parties (must be empty or missing).
    pub dir: PathBuf,
    /// The `herald-testnet` executable (its hidden `node` subcommand runs the nodes).
    pub binary: PathBuf,
    /// Domains.
    pub domains: usize,
    /// Length of the fault phase.
    pub duration: Duration,
    /// The schedule's seed.
    pub seed: u64,
    /// How many faults of each kind.
    pub mix: FaultMix,
    /// Half-open connections per flood.
    pub flood_connections: usize,
    /// Bound on every honest log being cosigned again.
    pub cosign_bound: Duration,
    /// Every node's time between sequencing rounds.
    pub sequence_interval: Duration,
    /// Concurrent submitters per log.
    pub submitters_per_log: usize,
    /// The client traffic.
    pub workloads: Vec<Workload>,
    /// Size of the disk node's tmpfs, MiB.
    pub disk_mib: u64,
}

impl ChaosConfig {
    /// A run of `domains` domains for `duration` with `seed`, with the default mix for that
    /// duration and every workload.
    pub fn new(
        dir: impl Into<PathBuf>,
        binary: impl Into<PathBuf>,
        domains: usize,
        duration: Duration,
        seed: u64,
    ) -> Self {
        ChaosConfig {
            dir: dir.into(),
            binary: binary.into(),
            domains,
            duration,
            seed,
            mix: FaultMix::for_duration(duration),
            flood_connections: DEFAULT_FLOOD_CONNECTIONS,
            cosign_bound: Duration::from_secs(60),
            sequence_interval: Duration::from_millis(200),
            submitters_per_log: 2,
            workloads: vec![
                Workload::Submissions,
                Workload::CertifiedMail,
                Workload::Mail,
            ],
            disk_mib: 192 + 8 * duration.as_secs().div_ceil(60),
        }
    }

    /// The schedule this configuration gives.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        Plan::new(
            self.seed,
            PlanShape {
                domains: self.domains,
                duration_ms: u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
                mix: self.mix.clone(),
                flood_connections: self.flood_connections,
            },
        )
        .map_err(anyhow::Error::msg)
    }

    /// The command line that replays this run's schedule.
    pub fn replay(&self) -> String {
        let mut line = format!(
            "herald-testnet chaos --domains {} --minutes {} --seed {} --flood-connections {}",
            self.domains,
            (self.duration.as_secs_f64() / 60.0 * 1e4).round() / 1e4,
            self.seed,
            self.flood_connections
        );
        if self.mix.disk_fills == 0 {
            line.push_str(" --no-disk-fault");
        }
        if !self.workloads.contains(&Workload::CertifiedMail) {
            line.push_str(" --no-certmail");
        }
        if !self.workloads.contains(&Workload::Mail) {
            line.push_str(" --no-mail");
        }
        line
    }
}

/// `herald-testnet chaos`: runs, prints the summary, writes the report; fails if a check was
/// violated. Ctrl-C stops the run and everything it started.
pub async fn run_cli(args: ChaosArgs) -> anyhow::Result<()> {
    if !(0.05..=1440.0).contains(&args.minutes) {
        bail!("--minutes must be between 0.05 and 1440");
    }
    let dir = scratch_dir(&args.common, "chaos")?;
    let binary = std::env::current_exe().context("locating the herald-testnet executable")?;
    let seed = args.seed.unwrap_or_else(crate::load::Schedule::fresh_seed);
    let duration = Duration::from_secs_f64(args.minutes * 60.0);
    let mut config = ChaosConfig::new(&dir, binary, usize::from(args.domains), duration, seed);
    config.flood_connections = usize::from(args.flood_connections);
    config.cosign_bound = Duration::from_secs(args.cosign_bound_secs);
    config.sequence_interval = Duration::from_millis(args.sequence_interval_ms);
    config.submitters_per_log = usize::from(args.submitters);
    if let Some(mib) = args.disk_mib {
        config.disk_mib = mib;
    }
    if args.no_disk_fault {
        config.mix.disk_fills = 0;
    }
    if args.no_certmail {
        config.workloads.retain(|w| *w != Workload::CertifiedMail);
    }
    if args.no_mail {
        config.workloads.retain(|w| *w != Workload::Mail);
    }
    let outcome = tokio::select! {
        outcome = run(config) => outcome,
        _ = tokio::signal::ctrl_c() => {
            bail!("interrupted: every node and client stopped, the tmpfs unmounted; data kept in {}", dir.display())
        }
    };
    let report =
        outcome.with_context(|| format!("node data and logs kept in {}", dir.display()))?;
    let path = write_report(&args.common, "chaos", &report)?;
    println!("{}", report.summary());
    println!("report written to {}", path.display());
    if !report.passed {
        bail!(
            "the chaos run found {} violations; node data and logs kept in {}",
            report.violations.len(),
            dir.display()
        );
    }
    if !args.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// Runs the whole chaos run (see the module docs); the report says whether every check held.
/// An `Err` means the harness itself could not do its job (a node that would not start at all,
/// the tmpfs that would not mount).
pub async fn run(config: ChaosConfig) -> anyhow::Result<ChaosReport> {
    let begun = Instant::now();
    let plan = config.plan()?;
    eprintln!("{plan}");
    std::fs::create_dir_all(&config.dir)
        .with_context(|| format!("creating {}", config.dir.display()))?;
    let net_dir = config.dir.join("net");
    // Declared before the testnet: unmounted after its nodes are gone, on every path.
    let mut disk = match plan.disk_node {
        Some(k) => Some(disk::Tmpfs::mount(
            &net_dir.join(format!("d{k}")),
            config.disk_mib,
        )?),
        None => None,
    };
    let options = TestnetOptions {
        sequence_interval: config.sequence_interval,
        test_hooks: true,
        log_level: "warn".into(),
        ..TestnetOptions::new(&net_dir, &config.binary)
    };
    eprintln!("starting {} domains ...", config.domains);
    let mut net = Testnet::spawn(config.domains, options)
        .await
        .context("starting the testnet")?;
    let targets = Arc::new(LogTarget::all(&net)?);
    let ledger = Arc::new(Ledger::new(config.domains, 0));
    let (stop_tx, stop) = Stop::new();
    let ctx = Context {
        targets: targets.clone(),
        ledger: ledger.clone(),
        stop,
        started: Instant::now(),
        seed: config.seed,
        equivocator: plan.equivocator,
    };
    let mut tasks = JoinSet::new();
    let certmail = config.workloads.contains(&Workload::CertifiedMail);
    let pairs = if certmail {
        eprintln!("enrolling a sender and a recipient in every domain ...");
        letters::introduce(&net, &config.dir.join("parties"))
            .await
            .context("enrolling the certified-mail parties")?
    } else {
        Vec::new()
    };
    let mailing = config.workloads.contains(&Workload::Mail);
    let mailers = if mailing {
        eprintln!("enrolling a mail sender and a mail recipient in every domain ...");
        mail::introduce(&net, &config.dir.join("mailers"))
            .await
            .context("enrolling the mail accounts")?
    } else {
        Vec::new()
    };
    let setup_s = begun.elapsed().as_secs_f64();

    eprintln!(
        "faults under load for {:.0} s:",
        config.duration.as_secs_f64()
    );
    let faults_begun = Instant::now();
    if config.workloads.contains(&Workload::Submissions) {
        traffic::start_submissions(&ctx, config.submitters_per_log, &mut tasks);
    }
    letters::start(&ctx, pairs, &mut tasks);
    let mail_book = mail::start(&ctx, mailers, &mut tasks);
    let performed = Conductor::new(
        &mut net,
        &plan,
        disk.as_ref(),
        targets.clone(),
        ledger.clone(),
        config.cosign_bound,
    )
    .run()
    .await?;
    let faults_end_ms = ctx.now_ms();
    let faults_s = faults_begun.elapsed().as_secs_f64();

    // Settle: under load still, every honest log cosigned again at its size now.
    let settle_begun = Instant::now();
    let honest: Vec<usize> = (0..config.domains)
        .filter(|i| plan.equivocator != Some(*i))
        .collect();
    let sizes = recovery::tree_sizes(&targets, &honest).await;
    let final_cosigned = recovery::wait_cosigned(&targets, &sizes, config.cosign_bound).await;
    // And every honest log takes submissions again (checked in the audit).
    if config.workloads.contains(&Workload::Submissions) {
        let _ = crate::wait::until(config.cosign_bound, Duration::from_millis(100), || async {
            let behind = honest
                .iter()
                .filter(|i| ledger.last_ack_ms(**i).is_none_or(|ms| ms < faults_end_ms))
                .count();
            if behind == 0 { Ok(()) } else { Err(behind) }
        })
        .await;
    }
    // And every mail accepted between honest domains reaches its reader (judged below).
    if mailing {
        let _ = crate::wait::until(config.cosign_bound, Duration::from_millis(250), || async {
            let unread = mail_book.unread(plan.equivocator).len();
            if unread == 0 { Ok(()) } else { Err(unread) }
        })
        .await;
    }
    stop_tx.send_replace(true);
    if tokio::time::timeout(STOP_BOUND, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tasks.abort_all();
    }
    let settle_s = settle_begun.elapsed().as_secs_f64();

    let audit_begun = Instant::now();
    if mailing {
        mail::judge(&ctx, &mail_book);
    }
    let recorded = ledger.take();
    let mut violations = recorded.violations.clone();
    let mut summaries = BTreeMap::new();
    let (found, summary) = recovery::judge_cosigning(
        &plan,
        &honest,
        &sizes,
        &final_cosigned,
        &performed.recoveries,
        config.cosign_bound,
    );
    violations.extend(found);
    summaries.insert(Check::Cosigning, summary);

    let mut logs = Vec::new();
    for target in targets.iter() {
        let record = recorded.logs.get(target.index).cloned().unwrap_or_default();
        let equivocator = plan.equivocator == Some(target.index);
        match audit::audit_log(target, &record, equivocator, config.seed, &mut violations).await {
            Ok(log) => logs.push(log),
            Err(e) => violations.push(Violation {
                check: Check::Acks,
                detail: format!("{} could not be re-read: {e:#}", target.domain),
            }),
        }
        let submitting = config.workloads.contains(&Workload::Submissions);
        if submitting && !equivocator && record.last_ack_ms.is_none_or(|ms| ms < faults_end_ms) {
            violations.push(Violation {
                check: Check::Load,
                detail: format!(
                    "{} acknowledged no submission after the faults ended (last ack at {:?} ms into the run, faults ended at {faults_end_ms} ms)",
                    target.domain, record.last_ack_ms
                ),
            });
        }
    }
    let equivocation = audit::audit_equivocation(
        &net,
        plan.equivocator,
        performed.fork.as_ref(),
        config.cosign_bound,
        &mut violations,
    )
    .await;
    if certmail && recorded.letters.delivered == 0 {
        violations.push(Violation {
            check: Check::Letters,
            detail: format!(
                "no letter was delivered in the whole run ({} sent)",
                recorded.letters.sent
            ),
        });
    }

    if mailing && recorded.mail.read == 0 {
        violations.push(Violation {
            check: Check::Mail,
            detail: format!(
                "no mail was read in the whole run ({} sent)",
                recorded.mail.sent
            ),
        });
    }

    // Stop everything; then nothing may be left.
    for k in 0..net.len() {
        if let Err(e) = net.stop(k).await {
            violations.push(Violation {
                check: Check::Processes,
                detail: format!("d{k} did not stop cleanly on SIGTERM: {e}"),
            });
        }
    }
    drop(net);
    if let (Some(disk), Some(k)) = (disk.as_mut(), plan.disk_node) {
        // The disk node's log lives on the tmpfs: keep a copy beside the other nodes' data.
        let _ = std::fs::copy(
            disk.path().join("node.log"),
            config.dir.join(format!("d{k}-node.log")),
        );
        disk.unmount()?;
    }
    let left = processes::leftover_processes(&config.dir, PROCESS_BOUND).await;
    for (pid, line) in &left {
        violations.push(Violation {
            check: Check::Processes,
            detail: format!("pid {pid} is still running: {line}"),
        });
    }
    let audit_s = audit_begun.elapsed().as_secs_f64();

    summaries.insert(Check::Mail, recorded.mail.summary());
    report::summarise(
        &mut summaries,
        &plan,
        &performed,
        &logs,
        &recorded.letters,
        &equivocation,
        left.len(),
    );
    let rows = report::rows(&violations, &summaries);
    let faults = report::fault_rows(&plan, &performed);
    Ok(ChaosReport {
        command: "chaos",
        passed: violations.is_empty(),
        seed: config.seed,
        replay: config.replay(),
        workloads: config.workloads.clone(),
        sequence_interval_ms: u64::try_from(config.sequence_interval.as_millis()).unwrap_or(0),
        submitters_per_log: config.submitters_per_log,
        cosign_bound_s: config.cosign_bound.as_secs(),
        disk_mib: plan.disk_node.map(|_| config.disk_mib),
        schedule_text: plan.to_string(),
        faults,
        schedule: plan,
        events: performed.events,
        floods: performed.floods,
        recoveries: performed.recoveries,
        final_cosigned_ms: final_cosigned
            .ok()
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        detections: performed.detections,
        equivocation,
        supervisor_restarts: performed.supervisor_restarts,
        logs,
        letters: report::LetterSummary::of(&recorded.letters),
        mail: recorded.mail.clone(),
        checks: rows,
        violations,
        phases: report::Phases {
            setup_s,
            faults_s,
            settle_s,
            audit_s,
            total_s: begun.elapsed().as_secs_f64(),
        },
        environment: Environment::now(),
    })
}
