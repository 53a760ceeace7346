//! Witnessing (DESIGN §2 "Witnessing and gossip"): this node as a witness of its registered
//! peers' logs, and as a log collecting its peers' cosignatures.
//!
//! - [`WitnessService`] (this file and `service`): answers `/herald/witness/1`
//!   ([`WitnessService::add_checkpoint`]) with proto's tlog-witness judgement
//!   ([`herald_proto::witness`]), which it merely persists.
//! - [`held`]: what the witness holds per origin, changed only by compare-and-swap + flush.
//! - [`cosigner`]: the log side: pushes each new checkpoint to every registered witness, merges
//!   the cosignatures, stores and gossips the checkpoint once a quorum cosigned it.
//! - [`crosslog`]: appends peers' cosigned checkpoints to this log, rate-limited.
//!
//! Who owns what: the witness service owns the held state (sled tree `witness`, the only
//! writer) and the per-origin locks that serialize its judgements. It asks the split-view watch
//! ([`crate::watch`]) whether an origin is distrusted and whether gossip showed another root at
//! a size, and hands the watch every split view its judgement proves; the watch owns the
//! alerts, the gossip memory and the audits, and reads the held state through
//! [`crate::watch::HeldView`].

pub mod cosigner;
pub mod crosslog;
pub mod held;
mod service;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::checkpoint::WitnessSigner;
use herald_proto::inclusion::LogTrust;
use herald_proto::note::NoteVerifier;

use crate::clock::Clock;
use crate::metrics::WitnessMetrics;
use crate::network::NodeHandle;
use crate::peers::PeerRegistry;
use crate::watch::alerts::AlertError;
use crate::watch::{CrossLogOffers, SplitViewWatch, WatchParts};
use held::{HeldCheckpoints, HeldError};

pub use cosigner::Cosigner;
pub use crosslog::CrossLogger;

/// Why the witnessing state could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// The witness state failed.
    #[error(transparent)]
    Held(#[from] HeldError),
    /// The alert book failed.
    #[error(transparent)]
    Alerts(#[from] AlertError),
}

/// What the witness service and the split-view watch are made of.
pub struct WitnessParts {
    /// The node's sled database (trees `witness` and `alerts` live in it).
    pub db: sled::Db,
    /// The registry.
    pub peers: PeerRegistry,
    /// This node's witness key.
    pub signer: WitnessSigner,
    /// This node's own log key.
    pub own_log: NoteVerifier,
    /// The C2SP logs witnessed besides the registered peers' (from the configuration).
    pub witnessed_logs: Vec<LogTrust>,
    /// The network, for the watch (to gossip alerts and ask logs for proofs).
    pub node: NodeHandle,
    /// The witnessing metrics.
    pub metrics: WitnessMetrics,
    /// Cosignature timestamps.
    pub clock: Arc<dyn Clock>,
}

/// Opens the witness's held state and the watch's alert book (blocking: reads and verifies the
/// stored alerts), and makes the two services over them. Returns the receiver of peers'
/// cosigned checkpoints, for a [`CrossLogger`].
pub fn open(
    parts: WitnessParts,
) -> Result<(WitnessService, SplitViewWatch, CrossLogOffers), WitnessError> {
    let held = HeldCheckpoints::open(&parts.db)?;
    let (watch, offers) = SplitViewWatch::open(WatchParts {
        db: parts.db,
        peers: parts.peers.clone(),
        held: Arc::new(held.clone()),
        own_log: parts.own_log,
        node: parts.node,
        metrics: parts.metrics.clone(),
    })?;
    let witness = WitnessService {
        inner: Arc::new(Inner {
            peers: parts.peers,
            witnessed_logs: (parts.witnessed_logs.into_iter())
                .map(|log| (log.origin().to_owned(), log))
                .collect(),
            held,
            signer: parts.signer,
            watch: watch.clone(),
            metrics: parts.metrics,
            clock: parts.clock,
            locks: Mutex::new(HashMap::new()),
        }),
    };
    Ok((witness, watch, offers))
}

struct Inner {
    peers: PeerRegistry,
    /// By origin: the configured C2SP logs, fixed for the node's run.
    witnessed_logs: HashMap<String, LogTrust>,
    held: HeldCheckpoints,
    signer: WitnessSigner,
    watch: SplitViewWatch,
    metrics: WitnessMetrics,
    clock: Arc<dyn Clock>,
    /// One lock per origin: requests for one origin are judged and swapped one at a time.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The witness service (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct WitnessService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WitnessService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WitnessService")
            .field("witness", &self.inner.signer.name())
            .finish_non_exhaustive()
    }
}

impl WitnessService {
    /// The size and root this witness holds for `origin` (what it last cosigned). Blocking.
    pub fn held(&self, origin: &str) -> Result<Option<(u64, [u8; 32])>, HeldError> {
        Ok(self.inner.held.get(origin)?.map(|h| (h.size, h.root)))
    }

    /// Every origin this witness cosigned and the size it holds. Blocking.
    pub fn held_sizes(&self) -> Result<Vec<(String, u64)>, HeldError> {
        self.inner.held.sizes()
    }

    fn now_secs(&self) -> u64 {
        self.inner.clock.now_ms() / 1000
    }

    fn origin_lock(&self, origin: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.inner
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(origin.to_owned())
            .or_default()
            .clone()
    }
}
