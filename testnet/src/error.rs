//! The testnet's errors: one enum, each variant naming the node (domain) or file it is about.
//!
//! Wrapped errors are `source`s, not repeated in the message: print the chain (`{:#}` with
//! anyhow) to see them.
//!
//! Failures of the nodes themselves (a node exited, did not start in time, refused an admin
//! call) are kept apart from local failures (a file, a signal) so that a test can tell "the
//! system under test misbehaved" from "the harness could not do its job".

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use herald_light_client::ClientError;
use herald_node::gateway::GatewayError;

/// Why a testnet operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestnetError {
    /// `herald_node::gateway::init` failed for a domain's data directory.
    #[error("initialising {domain}")]
    Init {
        /// The domain.
        domain: String,
        /// The node library's error.
        source: Box<GatewayError>,
    },
    /// A file or directory could not be read or written.
    #[error("{path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The node process could not be started at all.
    #[error("cannot start {binary} for {domain}")]
    Spawn {
        /// The domain.
        domain: String,
        /// The executable.
        binary: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The node process exited while it should have been running (or starting).
    #[error("{domain} exited ({status}); last lines of {log}:\n{tail}")]
    Exited {
        /// The domain.
        domain: String,
        /// How it ended.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The end of its log file.
        tail: String,
    },
    /// A bounded wait ran out: the node did not reach the awaited state in time.
    #[error("{domain}: {what} did not happen within {after:?} (log: {log})")]
    Timeout {
        /// The domain.
        domain: String,
        /// What was awaited.
        what: String,
        /// The bound.
        after: Duration,
        /// Its log file.
        log: PathBuf,
    },
    /// The operation needs the node running, and it is not.
    #[error("{domain} is not running")]
    NotRunning {
        /// The domain.
        domain: String,
    },
    /// The operation needs the node stopped, and it is running.
    #[error("{domain} is already running (pid {pid})")]
    AlreadyRunning {
        /// The domain.
        domain: String,
        /// Its process id.
        pid: u32,
    },
    /// No node has this index.
    #[error("no node {index}: the testnet has {count}")]
    NoSuchNode {
        /// The index asked for.
        index: usize,
        /// How many nodes there are.
        count: usize,
    },
    /// A signal could not be sent to a process.
    #[error("cannot signal pid {pid}: {errno}")]
    Signal {
        /// The process id.
        pid: u32,
        /// The OS error.
        errno: nix::errno::Errno,
    },
    /// An HTTP exchange with a node's listener failed (connect, timeout, malformed answer).
    #[error("HTTP {path} at {addr}: {reason}")]
    Http {
        /// The node's HTTP address.
        addr: SocketAddr,
        /// The path asked for.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A node answered an HTTP call with an error status.
    #[error("{domain} answered {path} with {status}: {body}")]
    Refused {
        /// The domain.
        domain: String,
        /// The path called.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The body (truncated).
        body: String,
    },
    /// The light client failed (connect, request, or verification).
    #[error("{domain}: light client")]
    Client {
        /// The domain.
        domain: String,
        /// The client's error.
        source: Box<ClientError>,
    },
    /// `testnet.json` or `node.json` is missing a field or malformed.
    #[error("{path}: {reason}")]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The options cannot make a testnet (e.g. zero domains).
    #[error("invalid testnet options: {0}")]
    Options(String),
}

/// `map_err` helper for file operations on `path`.
pub(crate) fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> TestnetError {
    let path = path.into();
    move |source| TestnetError::Io { path, source }
}
