//! `herald-testnet demo`: certified mail end to end on a fresh 3-domain testnet, told in plain
//! words with the proof each step rests on (`story`).
//!
//! It starts three real node processes in a temporary directory, runs the story, and stops
//! everything it started: cleanly at the end; by SIGKILL when a step fails, the time bound runs
//! out, or Ctrl-C comes (dropping the [`crate::Testnet`] kills and reaps its processes). Either
//! way it then checks that none of the node processes it started is left and says so, and the
//! temporary directory is removed (unless `--keep`).

mod narration;
mod story;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::process::{self, Liveness};
use crate::wait;

/// The pids of the node processes the demo started, shared with the code that checks they are
/// gone (the story may be dropped half way).
pub(crate) type Started = Arc<Mutex<Vec<u32>>>;

/// Options of `herald-testnet demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Give up (and stop everything) after this many seconds.
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(10..=3600))]
    pub timeout_secs: u64,
    /// Every node's time between sequencing rounds, milliseconds.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=5_000))]
    pub sequence_interval_ms: u64,
    /// Keep the temporary directory (node data, key stores, the evidence bundle) afterwards.
    #[arg(long)]
    pub keep: bool,
}

/// Runs the demo (see the module docs).
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("herald-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let binary = std::env::current_exe().context("locating the herald-testnet executable")?;
    println!(
        "Herald certified mail, end to end (DESIGN §3.3), in {}",
        dir.path().display()
    );
    let started: Started = Arc::default();
    let bound = Duration::from_secs(args.timeout_secs);
    let story = story::tell(
        dir.path(),
        binary,
        Duration::from_millis(args.sequence_interval_ms),
        &started,
    );
    // Whichever ends first, the story's future is dropped here, and with it the testnet.
    let outcome = tokio::select! {
        told = tokio::time::timeout(bound, story) => match told {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("the demo did not finish within {bound:?}")),
        },
        signal = tokio::signal::ctrl_c() => match signal {
            Ok(()) => Err(anyhow::anyhow!("interrupted")),
            Err(e) => Err(anyhow::anyhow!("listening for Ctrl-C: {e}")),
        },
    };
    let pids = started.lock().map(|p| p.clone()).unwrap_or_default();
    let left = gone_within(&pids, Duration::from_secs(15)).await;
    println!();
    if left.is_empty() {
        println!("{} node processes started, none left running", pids.len());
    } else {
        eprintln!("node processes still running: {left:?}");
    }
    if args.keep {
        let kept = dir.keep();
        println!("kept {}", kept.display());
    } else {
        let path = dir.path().to_owned();
        dir.close()
            .with_context(|| format!("removing {}", path.display()))?;
        println!("removed {}", path.display());
    }
    outcome?;
    if !left.is_empty() {
        bail!("node processes still running: {left:?}");
    }
    Ok(())
}

/// Waits (at most `bound`) until none of `pids` is alive; the ones still alive.
async fn gone_within(pids: &[u32], bound: Duration) -> Vec<u32> {
    let alive = |p: &u32| process::liveness(*p) == Liveness::Alive;
    let _ = wait::until(bound, wait::PROBE_EVERY, || async {
        if pids.iter().any(alive) {
            Err(())
        } else {
            Ok(())
        }
    })
    .await;
    pids.iter().copied().filter(alive).collect()
}
