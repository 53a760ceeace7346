//! The node wired together: `init` a data directory, `run` it until shutdown, or `start` and
//! `stop` it from a test.
//!
//! Start order: configuration, keys, log store, admin token, peer registry (seeded from the
//! config's `[[peers]]`), sequencer (which registers its metrics), witness state and alerts,
//! account book and certified mail, network (binding every listen address), the witnessing
//! tasks (gossip watcher, cosigner, cross-logger) and the evidence writer, HTTP listener, then
//! `<data_dir>/node.json` so that other processes can find a node started on port 0. Stop
//! order: the network stops taking requests; the sequencer finishes the batches it has taken,
//! flushes and answers them; the network delivers those answers and closes the swarm; the
//! witnessing tasks, the evidence writer, the disk watch and the scrub end; the HTTP listener
//! closes; `node.json` is removed; the database is flushed once more, unless a write failed.
//!
//! [`run`] bounds the stop: whatever it waits on (storage that no longer answers, e.g. sled
//! after ENOSPC), `run` returns within [`STOP_BOUND`], or at once on a second signal. Nothing
//! acknowledged depends on the stop: every ack waited for its round's flush. After a failed
//! write the node stops and `run` returns the error, so the process exits non-zero and a
//! supervisor restarts it: reopening is the only way back to a known durable state (see
//! docs/decisions.md). A nearly full disk is refused before that happens (`store::space`).

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use herald_proto::note::NoteVerifier;
use libp2p::{Multiaddr, PeerId};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::NodeConfig;
use crate::http::HttpServer;
use crate::network::{Network, NodeHandle};
use crate::peers::PeerRegistry;
use crate::sequencer::{SequencerError, SequencerHandle};
use crate::service::Intake;
use crate::store::{LogHead, LogStore};
use crate::watch::SplitViewWatch;
use crate::witness::WitnessService;

mod data_dir;
mod error;
mod node_info;
mod open;
mod start;

#[cfg(test)]
mod tests;

pub use data_dir::{InitReport, init, make_data_dir_private, stored_head};
pub use error::GatewayError;
pub use node_info::NodeInfo;
pub use open::open_intake;

/// Longest [`run`] waits for a stop once it began; then it returns, leaving what still waits.
pub const STOP_BOUND: Duration = Duration::from_secs(10);
/// Longest the stop waits for the final flush of the database.
const FINAL_FLUSH_BOUND: Duration = Duration::from_secs(5);

/// Runs the node until the first of `signals` (or a part of it fails), then stops it within
/// [`STOP_BOUND`]; a second signal during the stop returns at once. The stop runs in a task of
/// its own, so whatever it still waits on when `run` returns is never dropped on the caller's
/// thread (a process shuts its runtime down with a timeout, as the `herald-node` binary does).
/// Returns the failure that stopped the node, else the stop's outcome.
pub async fn run(
    config: NodeConfig,
    mut signals: impl Stream<Item = &'static str> + Unpin,
) -> Result<(), GatewayError> {
    let mut gateway = Gateway::start(config).await?;
    let failure = tokio::select! {
        signal = signals.next() => {
            info!(signal = signal.unwrap_or("no more signals"), "shutting down");
            None
        }
        e = gateway.failed() => Some(e),
    };
    if let Some(e) = &failure {
        error!(error = %e, "node failed; stopping");
    }
    let mut stopping = tokio::spawn(gateway.stop());
    let stopped = tokio::select! {
        joined = &mut stopping => joined.unwrap_or(Err(GatewayError::Stopped("stop task"))),
        () = tokio::time::sleep(STOP_BOUND) => {
            error!(bound = ?STOP_BOUND, "the node did not stop in time; exiting without waiting");
            Err(GatewayError::StopTimedOut(STOP_BOUND))
        }
        Some(signal) = signals.next() => {
            warn!(signal, "second signal while stopping: exiting without waiting");
            Err(GatewayError::StopInterrupted(signal))
        }
    };
    match failure {
        Some(e) => Err(e),
        None => stopped,
    }
}

/// A running node.
#[derive(Debug)]
pub struct Gateway {
    config: NodeConfig,
    store: LogStore,
    sequencer: SequencerHandle,
    /// Taken once it has ended (by `failed` or `stop`).
    sequencer_task: Option<JoinHandle<Result<(), SequencerError>>>,
    network: Network,
    http: HttpServer,
    info: NodeInfo,
    log_key: NoteVerifier,
    registry: PeerRegistry,
    witness: WitnessService,
    watch: SplitViewWatch,
    intake: Intake,
    /// The gossip watcher, the cosigner, the cross-logger, the evidence writer, the disk
    /// watch and the scrub; ended at stop.
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Client intake: accounts, registration, lookups.
    pub fn intake(&self) -> &Intake {
        &self.intake
    }

    /// The peer registry.
    pub fn peers(&self) -> &PeerRegistry {
        &self.registry
    }

    /// The log store (reads; the sequencer is its only writer of entries).
    pub fn store(&self) -> &LogStore {
        &self.store
    }

    /// The witness service: what this node holds of its peers' logs.
    pub fn witness(&self) -> &WitnessService {
        &self.witness
    }

    /// The split-view watch: alerts, audits, the scan of peers' logs.
    pub fn watch(&self) -> &SplitViewWatch {
        &self.watch
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// A handle on the network worker.
    pub fn handle(&self) -> &NodeHandle {
        &self.network.handle
    }

    /// The libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.network.handle.peer_id()
    }

    /// The listen addresses bound at start, each ending in `/p2p/<peer id>`.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.network.listen_addrs
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr
    }

    /// What `node.json` says.
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// The log's verifier key.
    pub fn log_key(&self) -> &NoteVerifier {
        &self.log_key
    }

    /// The log's latest durable head.
    pub fn head(&self) -> LogHead {
        self.store.head()
    }

    /// Resolves when a part of the node stops on its own: the sequencer (e.g. a failed write)
    /// or the network worker. Cancel-safe; a node that runs fine never resolves it.
    pub async fn failed(&mut self) -> GatewayError {
        let sequencer = async {
            match self.sequencer_task.as_mut() {
                Some(task) => {
                    let outcome = task.await;
                    self.sequencer_task = None;
                    sequencer_outcome(outcome)
                        .err()
                        .unwrap_or(GatewayError::Stopped("sequencer"))
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            e = sequencer => e,
            () = self.network.stopped() => GatewayError::Stopped("network worker"),
        }
    }

    /// Stops the node cleanly (see the module docs); the sequencer's error if it had failed.
    pub async fn stop(mut self) -> Result<(), GatewayError> {
        info!("herald-node stopping");
        self.network.begin_shutdown();
        self.sequencer.shutdown();
        let outcome = match self.sequencer_task.take() {
            Some(task) => sequencer_outcome(task.await),
            None => Ok(()),
        };
        self.network.join().await;
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        self.http.stop().await;
        let path = self.config.node_info_path();
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                warn!(path = %path.display(), error = %e, "could not remove node.json");
            }
            _ => {}
        }
        let store = self.store;
        if store.writer_failed() {
            // Its storage failed (e.g. ENOSPC), and sled may never answer a flush again: it
            // blocked here for good and held the database lock (reliability review F1). Every round
            // acknowledged was flushed before its ack; the rest is lost to the failure anyway.
            warn!("a write failed: skipping the final flush");
        } else {
            // Every round was flushed by the sequencer; this covers anything else in the
            // database, bounded: a storage that stopped answering must not hold the stop.
            let flush = tokio::task::spawn_blocking(move || store.db().flush());
            match tokio::time::timeout(FINAL_FLUSH_BOUND, flush).await {
                Ok(Ok(Ok(_))) => {}
                Ok(Ok(Err(e))) => error!(error = %e, "final flush failed"),
                Ok(Err(_)) => error!("final flush panicked"),
                Err(_) => error!(bound = ?FINAL_FLUSH_BOUND, "final flush did not finish in time"),
            }
        }
        info!("herald-node stopped");
        outcome
    }
}

fn sequencer_outcome(
    joined: Result<Result<(), SequencerError>, tokio::task::JoinError>,
) -> Result<(), GatewayError> {
    match joined {
        Ok(result) => result.map_err(GatewayError::from),
        Err(_) => Err(GatewayError::Sequencer(SequencerError::Panicked)),
    }
}
