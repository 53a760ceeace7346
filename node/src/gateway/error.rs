//! Why the node could not be initialised, started, or kept running: [`GatewayError`].

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use herald_light_client::durable_file::FileIoError;

use crate::accounts::AccountError;
use crate::accounts::prekeys::PrekeyStoreError;
use crate::accounts::settle::SettleError;
use crate::admin::TokenError;
use crate::config::ConfigError;
use crate::keys::KeyFileError;
use crate::network::NetworkError;
use crate::peers::PeerError;
use crate::sequencer::SequencerError;
use crate::store::OpenError;
use crate::witness::WitnessError;

/// Why the node could not be initialised, started, or kept running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key file is missing, unreadable, too open, or malformed.
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    /// The log store could not be created or opened (or is another log).
    #[error("log store: {0}")]
    Store(#[from] OpenError),
    /// The sequencer could not start, or stopped with an error.
    #[error("sequencer: {0}")]
    Sequencer(#[from] SequencerError),
    /// The network could not start.
    #[error("network: {0}")]
    Network(#[from] NetworkError),
    /// The admin token could not be made or read.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The peer registry could not be opened or seeded.
    #[error("peer registry: {0}")]
    Peers(#[from] PeerError),
    /// The witness state or the alerts could not be opened.
    #[error("witness state: {0}")]
    Witness(#[from] WitnessError),
    /// The account book or the evidence cursors could not be opened.
    #[error("accounts: {0}")]
    Accounts(#[from] AccountError),
    /// A registration interrupted by a crash could not be settled from the log.
    #[error("settling registrations interrupted by a crash: {0}")]
    Enrolments(#[from] SettleError),
    /// The prekey book could not be opened.
    #[error("prekeys: {0}")]
    Prekeys(#[from] PrekeyStoreError),
    /// The HTTP listener could not bind.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    Http {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// `init` found something in the data directory.
    #[error("data directory {0} is not empty; refusing to initialise over it")]
    DataDirNotEmpty(PathBuf),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// `node.json` does not parse.
    #[error("{path} is not a node description: {source}")]
    NodeInfo {
        /// The path.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A part of the node stopped while it should have been running.
    #[error("the {0} stopped unexpectedly")]
    Stopped(&'static str),
    /// The stop did not finish within [`STOP_BOUND`](super::STOP_BOUND); what it still waited
    /// on was left.
    #[error("the node did not stop within {0:?}; left what it still waited on")]
    StopTimedOut(Duration),
    /// A second signal came while the node was stopping: it was not waited for.
    #[error("{0} while stopping: not waiting for the stop to finish")]
    StopInterrupted(&'static str),
}

pub(super) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> GatewayError + '_ {
    move |source| GatewayError::Io {
        path: path.to_owned(),
        source,
    }
}

pub(super) fn file_error(e: FileIoError) -> GatewayError {
    GatewayError::Io {
        path: e.path,
        source: e.source,
    }
}
