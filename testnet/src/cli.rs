//! The `herald-testnet` command line: `demo`, `up`, `status`, `down`, `bench`, `chaos`, and the
//! hidden `node` and `herald`.
//!
//! `node ARGS...` is how every testnet node runs: the arguments go unchanged to
//! [`herald_node::cli::main_with_args`], so a node started by the testnet is the real
//! `herald-node` command line in its own process, and one build gives both. `herald ARGS...` is
//! the light client's command line ([`herald_light_client::cli::main_with_args`]) the same way,
//! for the tests that run it against nodes.
//!
//! `up` starts detached node processes that outlive the command and writes `DIR/testnet.json`;
//! `status` asks each node for its `/status`; `down` stops them (SIGTERM, then SIGKILL after a
//! bound) and checks that no process is left. A pid is signalled only while its command line
//! still names the node's configuration file, so a pid the OS reused is never touched.
//!
//! Exit codes: 0 success, 1 failure, 2 usage error.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use nix::sys::signal::Signal;

use crate::bench::{self, BenchCommand};
use crate::chaos::{self, ChaosArgs};
use crate::demo::{self, DemoArgs};
use crate::manifest::{Manifest, ManifestNode};
use crate::process::{self, Liveness};
use crate::testnet::{Testnet, TestnetOptions};
use crate::{node_api, wait};

/// Most domains `up` starts.
const MAX_DOMAINS: usize = 64;

#[derive(Parser, Debug)]
#[command(
    name = "herald-testnet",
    version,
    about = "Run N Herald gateway domains on 127.0.0.1 as real processes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Certified mail end to end on a fresh 3-domain testnet, told step by step with its proofs.
    Demo(DemoArgs),
    /// Start N domains as detached processes and write DIR/testnet.json.
    Up(UpArgs),
    /// Show each node's status.
    Status(StatusArgs),
    /// Stop every node of DIR/testnet.json (SIGTERM, then SIGKILL after a bound).
    Down(DownArgs),
    /// Multi-process benchmarks; figures go to a JSON report.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Faults on a seeded schedule under client load, then checks that no promise broke;
    /// a summary table and a JSON report.
    Chaos(ChaosArgs),
}

#[derive(Args, Debug)]
struct UpArgs {
    /// How many domains (d0.test, d1.test, ...).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=MAX_DOMAINS as i64))]
    domains: u16,
    /// Directory for the nodes' data directories and testnet.json.
    #[arg(long)]
    dir: PathBuf,
    /// Milliseconds between sequencing rounds.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    sequence_interval_ms: u64,
    /// Cosignatures each log needs (default: a majority of its peers).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=63))]
    quorum: Option<u16>,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// The directory `up` used.
    #[arg(long)]
    dir: PathBuf,
    /// Print JSON (one object per node).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct DownArgs {
    /// The directory `up` used.
    #[arg(long)]
    dir: PathBuf,
    /// Seconds to wait for clean exits before SIGKILL.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout_secs: u64,
}

/// Runs the `herald-testnet` command line on `args` (the first is the program name).
pub fn main_with_args<I: IntoIterator<Item = OsString>>(args: I) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == "node") {
        process::watch_parent_from_env();
        process::arm_fault_from_env();
        let forwarded =
            std::iter::once(OsString::from("herald-node")).chain(args[2..].iter().cloned());
        return herald_node::cli::main_with_args(forwarded);
    }
    if args.get(1).is_some_and(|a| a == "herald") {
        let forwarded = std::iter::once(OsString::from("herald")).chain(args[2..].iter().cloned());
        return herald_light_client::cli::main_with_args(forwarded);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
        .and_then(|runtime| {
            runtime.block_on(async {
                match cli.command {
                    Command::Demo(args) => demo::run(args).await,
                    Command::Up(args) => up(args).await,
                    Command::Status(args) => status(args).await,
                    Command::Down(args) => down(args).await,
                    Command::Bench(command) => bench::run(command).await,
                    Command::Chaos(args) => chaos::run_cli(args).await,
                }
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald-testnet: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    if let Ok(old) = Manifest::read(&args.dir)
        && let Some(node) = old.nodes.iter().find(|n| is_our_node(n))
    {
        bail!(
            "{} describes a running testnet ({} is pid {}); run `herald-testnet down --dir {}` first",
            Manifest::path(&args.dir).display(),
            node.domain,
            node.pid,
            args.dir.display()
        );
    }
    let binary = std::env::current_exe().context("locating the herald-testnet executable")?;
    let options = TestnetOptions {
        sequence_interval: Duration::from_millis(args.sequence_interval_ms),
        quorum: args.quorum.map(usize::from),
        detached: true,
        ..TestnetOptions::new(&args.dir, binary)
    };
    // Interrupted while starting, the half-started testnet is dropped, which kills its nodes:
    // none is left that no testnet.json names.
    let testnet = tokio::select! {
        started = Testnet::spawn(usize::from(args.domains), options) => {
            started.context("starting the testnet")?
        }
        _ = tokio::signal::ctrl_c() => bail!("interrupted while starting the testnet"),
    };
    let dir = testnet.options().dir.clone();
    let manifest = testnet.manifest();
    let written = manifest.write(&dir);
    if let Err(e) = written {
        // `testnet` is dropped here, which kills the nodes: nothing runs that `down` cannot find.
        return Err(e).context("writing testnet.json");
    }
    let manifest = testnet.detach();
    println!(
        "{} domains running; {} describes them",
        manifest.nodes.len(),
        Manifest::path(&dir).display()
    );
    for node in &manifest.nodes {
        println!();
        println!(
            "{} (pid {}, data {})",
            node.domain,
            node.pid,
            node.dir.display()
        );
        for addr in &node.listen_addrs {
            println!("  listen:  {addr}");
        }
        println!("  http:    http://{}/status", node.http_addr);
        println!("  log key: {}", node.log_key);
        if let Some(tcp) = node.listen_addrs.iter().find(|a| a.contains("/tcp/")) {
            println!(
                "  try:     herald log checkpoint --gateway {tcp} --log-key {}",
                node.log_key
            );
        }
    }
    println!();
    println!("stop with: herald-testnet down --dir {}", dir.display());
    Ok(())
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let manifest = Manifest::read(&args.dir)?;
    let mut rows = Vec::new();
    for node in &manifest.nodes {
        let running = is_our_node(node);
        let status = if running {
            Some(node_api::status(node.http_addr).await)
        } else {
            None
        };
        if args.json {
            rows.push(serde_json::json!({
                "domain": node.domain,
                "pid": node.pid,
                "running": running,
                "http_addr": node.http_addr,
                "status": match &status {
                    Some(Ok(s)) => serde_json::to_value(s).unwrap_or_default(),
                    Some(Err(e)) => serde_json::json!({ "error": e.to_string() }),
                    None => serde_json::Value::Null,
                },
            }));
            continue;
        }
        match status {
            None => println!("{}: not running (pid {} is gone)", node.domain, node.pid),
            Some(Err(e)) => println!(
                "{}: pid {} runs but does not answer: {e}",
                node.domain, node.pid
            ),
            Some(Ok(s)) => println!(
                "{}: running, pid {}, tree size {}, cosigned {}, peers connected {}/{}, alerts {}, http {}",
                node.domain,
                node.pid,
                s.tree_size,
                s.cosigned_size.map_or("none".to_owned(), |n| n.to_string()),
                s.peers.iter().filter(|p| p.connected).count(),
                s.peers.len(),
                s.alerts,
                node.http_addr
            ),
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    }
    Ok(())
}

async fn down(args: DownArgs) -> anyhow::Result<()> {
    let manifest = Manifest::read(&args.dir)?;
    let ours: Vec<&ManifestNode> = manifest.nodes.iter().filter(|n| is_our_node(n)).collect();
    for node in &ours {
        process::send_signal(node.pid, Signal::SIGTERM)
            .with_context(|| format!("stopping {}", node.domain))?;
    }
    let bound = Duration::from_secs(args.timeout_secs);
    let left = wait_gone(&ours, bound).await;
    for node in &left {
        eprintln!(
            "{} (pid {}) did not stop within {bound:?}: SIGKILL",
            node.domain, node.pid
        );
        process::send_signal(node.pid, Signal::SIGKILL)
            .with_context(|| format!("killing {}", node.domain))?;
    }
    let still = wait_gone(&left, Duration::from_secs(10)).await;
    if !still.is_empty() {
        let pids: Vec<String> = still.iter().map(|n| n.pid.to_string()).collect();
        bail!("processes still running after SIGKILL: {}", pids.join(", "));
    }
    println!(
        "stopped {} of {} nodes ({} were not running); no node process is left",
        ours.len(),
        manifest.nodes.len(),
        manifest.nodes.len() - ours.len()
    );
    Ok(())
}

/// Waits (at most `bound`) until none of `nodes` is alive; the ones still alive.
async fn wait_gone<'a>(nodes: &[&'a ManifestNode], bound: Duration) -> Vec<&'a ManifestNode> {
    let start = Instant::now();
    let alive = |n: &&ManifestNode| process::liveness(n.pid) == Liveness::Alive;
    let _ = wait::until(bound, process::POLL, || async {
        if nodes.iter().any(alive) {
            Err(())
        } else {
            Ok(())
        }
    })
    .await;
    let left: Vec<&ManifestNode> = nodes.iter().copied().filter(alive).collect();
    if left.is_empty() {
        tracing::debug!(elapsed = ?start.elapsed(), "all node processes gone");
    }
    left
}

/// Whether `node.pid` is alive and still the node `up` started (its command line names the
/// node's configuration file): a reused pid is someone else's process.
fn is_our_node(node: &ManifestNode) -> bool {
    if node.pid == 0 || process::liveness(node.pid) != Liveness::Alive {
        return false;
    }
    let config = node.config.to_string_lossy();
    process::command_line(node.pid).is_some_and(|args| {
        args.iter().any(|a| a == "node") && args.iter().any(|a| Path::new(a) == Path::new(&*config))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_pid_that_is_not_the_node_is_left_alone() {
        let node = ManifestNode {
            domain: "d0.test".into(),
            origin: "d0.test/herald".into(),
            dir: "/nonexistent/d0".into(),
            config: "/nonexistent/d0/herald-node.toml".into(),
            log: "/nonexistent/d0/node.log".into(),
            // This test process: alive, but not a node with that configuration.
            pid: std::process::id(),
            peer_id: String::new(),
            listen_addrs: vec![],
            http_addr: "127.0.0.1:1".parse().unwrap(),
            log_key: String::new(),
            witness_key: String::new(),
        };
        assert!(!is_our_node(&node));
        assert!(!is_our_node(&ManifestNode { pid: 0, ..node }));
    }
}
