//! What the testnet's integration tests share: the binary, bounds, and process checks.
#![allow(dead_code)] // Each test crate uses a different part.

use std::time::Duration;

use herald_testnet::TestnetOptions;
use herald_testnet::process::{Liveness, liveness};

/// The testnet binary: its hidden `node` subcommand runs the real node command line.
pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_herald-testnet");

/// Runs `test`, failing (not hanging) if it takes longer than `bound`.
pub(crate) async fn bounded<T>(bound: Duration, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(bound, test)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {bound:?}"))
}

/// Options for a testnet in `dir`, with short rounds.
pub(crate) fn options(dir: &std::path::Path) -> TestnetOptions {
    TestnetOptions {
        sequence_interval: Duration::from_millis(30),
        ..TestnetOptions::new(dir, BINARY)
    }
}

/// Whether `pid` has exited (a zombie waiting for a parent that never reaps counts: it holds
/// no resources, ports or files).
pub(crate) fn is_gone(pid: u32) -> bool {
    liveness(pid) != Liveness::Alive
}

/// Waits (at most `bound`) until every pid is gone; panics naming the ones left.
pub(crate) async fn assert_gone(pids: &[u32], bound: Duration) {
    let left = herald_testnet::wait::until(bound, Duration::from_millis(20), || async {
        let alive: Vec<u32> = pids.iter().copied().filter(|p| !is_gone(*p)).collect();
        if alive.is_empty() { Ok(()) } else { Err(alive) }
    })
    .await;
    if let Err(alive) = left {
        panic!("processes left behind: {alive:?}");
    }
}

pub(crate) mod in_process;
