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

/// Runs the `herald` command line (the binary's hidden `herald` subcommand) for a person whose
/// state is in `home`, with key store passphrase `passphrase` and `env` besides; fails (not
/// hangs) past `bound`.
pub(crate) async fn herald(
    home: &std::path::Path,
    passphrase: &str,
    env: &[(&str, &str)],
    args: &[&str],
    bound: Duration,
) -> std::process::Output {
    let out = tokio::process::Command::new(BINARY)
        .arg("herald")
        .args(args)
        .env("HERALD_HOME", home)
        .env("HERALD_PASSPHRASE", passphrase)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(bound, out)
        .await
        .expect("herald finished in time")
        .expect("herald ran")
}

/// Asserts that `o` exited 0 (showing what it printed if not); what it printed as JSON (`Null`
/// for text output).
pub(crate) fn succeeded(o: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_default()
}

pub(crate) mod in_process;
