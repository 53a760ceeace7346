//! Witnessing (DESIGN §2 "Witnessing and gossip", WITNESS.md): this node as a witness of its
//! registered peers' logs, as a log collecting its peers' cosignatures, and as a watcher for
//! split views.
//!
//! - [`Witnessing`] (this file and [`service`]): answers `/herald/witness/1`
//!   ([`Witnessing::add_checkpoint`]), watches gossip for conflicting checkpoints
//!   ([`Witnessing::observe`]), and raises, records and gossips equivocation proofs.
//! - [`audit`]: checks peers' gossiped checkpoints of other sizes against the held one with
//!   the log's own consistency proof.
//! - [`held`]: what the witness holds per origin, changed only by compare-and-swap + flush.
//! - [`alerts`]: the verified equivocation proofs and the origins they make it distrust.
//! - [`cosigner`]: the log side: pushes each new checkpoint to every registered witness, merges
//!   the cosignatures, stores and gossips the checkpoint once a quorum cosigned it.
//! - [`crosslog`]: appends peers' cosigned checkpoints to this log, rate-limited.
//! - [`scan`]: reads registered peers' logs for cross-logged checkpoints (the second line of
//!   split-view detection), including this log's own.
//! - [`watcher`]: the task that hands validated gossip to [`Witnessing`].
//! - [`alert_sync`]: asks each registered peer for the alerts it holds when a connection to it
//!   opens (the network reports the connection), and judges what it lists like gossip.
//!
//! Every protocol check is `herald-proto`'s (checkpoint and cosignature verification, consistency
//! proofs, equivocation proofs and witness policies); this module decides when to call them and
//! keeps the state.

pub mod alert_sync;
pub mod alerts;
pub mod audit;
pub mod cosigner;
pub mod crosslog;
pub mod held;
pub mod scan;
mod service;
pub mod watcher;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::checkpoint::{VerifiedCheckpoint, WitnessSigner};
use herald_proto::equivocation::{Equivocation, VerifiedEquivocation};
use herald_proto::note::NoteVerifier;
use tokio::sync::mpsc;
use tracing::{debug, error, warn};

use crate::clock::Clock;
use crate::gossip;
use crate::metrics::WitnessMetrics;
use crate::network::{NodeHandle, Topic};
use crate::peers::{PeerDomain, PeerRegistry};
use alerts::{AlertBook, AlertError, Recorded};
use held::{HeldCheckpoints, HeldError};

pub use cosigner::Cosigner;
pub use crosslog::CrossLogger;
pub use scan::LogScanner;

/// Distinct checkpoint sizes remembered per origin for split-view checks of gossip.
const RECENT_PER_ORIGIN: usize = 32;
/// Peers' cosigned checkpoints waiting for the cross-logger; more are dropped.
const CROSSLOG_QUEUE: usize = 64;

/// Peers' cosigned checkpoints offered to the cross-logger.
pub type CrossLogOffers = mpsc::Receiver<(Arc<PeerDomain>, VerifiedCheckpoint)>;

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

/// What [`Witnessing`] is made of.
pub struct WitnessingParts {
    /// The node's sled database (trees `witness` and `alerts` live in it).
    pub db: sled::Db,
    /// The registry.
    pub peers: PeerRegistry,
    /// This node's witness key.
    pub signer: WitnessSigner,
    /// This node's own log key.
    pub own_log: NoteVerifier,
    /// The network, to gossip alerts.
    pub node: NodeHandle,
    /// The witnessing metrics.
    pub metrics: WitnessMetrics,
    /// Cosignature timestamps.
    pub clock: Arc<dyn Clock>,
}

struct Inner {
    peers: PeerRegistry,
    held: HeldCheckpoints,
    alerts: AlertBook,
    signer: WitnessSigner,
    own_log: NoteVerifier,
    node: NodeHandle,
    metrics: WitnessMetrics,
    clock: Arc<dyn Clock>,
    /// One lock per origin: requests for one origin are judged and swapped one at a time.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Recently seen checkpoints per origin, by size (split views shown to gossip).
    recent: Mutex<HashMap<String, BTreeMap<u64, VerifiedCheckpoint>>>,
    crosslog: mpsc::Sender<(Arc<PeerDomain>, VerifiedCheckpoint)>,
    /// Consistency audits waiting or running, per origin.
    audits: Mutex<HashMap<String, audit::AuditQueue>>,
}

/// The witness side of a node (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Witnessing {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Witnessing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witnessing")
            .field("witness", &self.inner.signer.name())
            .finish_non_exhaustive()
    }
}

impl Witnessing {
    /// Opens the witness state and the alert book (blocking: reads and verifies the stored
    /// alerts). Returns the receiver of peers' cosigned checkpoints, for a [`CrossLogger`].
    pub fn open(parts: WitnessingParts) -> Result<(Self, CrossLogOffers), WitnessError> {
        let held = HeldCheckpoints::open(&parts.db)?;
        let alerts = AlertBook::open(&parts.db)?;
        let (crosslog, crosslog_rx) = mpsc::channel(CROSSLOG_QUEUE);
        let witnessing = Witnessing {
            inner: Arc::new(Inner {
                peers: parts.peers,
                held,
                alerts,
                signer: parts.signer,
                own_log: parts.own_log,
                node: parts.node,
                metrics: parts.metrics,
                clock: parts.clock,
                locks: Mutex::new(HashMap::new()),
                recent: Mutex::new(HashMap::new()),
                crosslog,
                audits: Mutex::new(HashMap::new()),
            }),
        };
        witnessing.update_alert_gauges();
        Ok((witnessing, crosslog_rx))
    }

    /// The alert book.
    pub fn alerts(&self) -> &AlertBook {
        &self.inner.alerts
    }

    /// The registry.
    pub fn peers(&self) -> &PeerRegistry {
        &self.inner.peers
    }

    /// The size and root this witness holds for `origin` (what it last cosigned). Blocking.
    pub fn held(&self, origin: &str) -> Result<Option<(u64, [u8; 32])>, HeldError> {
        Ok(self.inner.held.get(origin)?.map(|h| (h.size, h.root)))
    }

    /// What this witness holds for `origin`, read on a blocking thread (for async callers).
    async fn held_now(&self, origin: &str) -> Result<Option<held::Held>, String> {
        let (this, origin) = (self.clone(), origin.to_owned());
        tokio::task::spawn_blocking(move || this.inner.held.get(&origin))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
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

    fn update_alert_gauges(&self) {
        let m = &self.inner.metrics;
        m.alerts
            .set(i64::try_from(self.inner.alerts.len()).unwrap_or(i64::MAX));
        m.distrusted_origins
            .set(i64::try_from(self.inner.alerts.distrusted().len()).unwrap_or(i64::MAX));
    }

    /// Records `proof` (blocking on a flush); what happened, or `None` if it could not be kept.
    async fn record(&self, proof: VerifiedEquivocation) -> Option<Recorded> {
        let this = self.clone();
        let origin = proof.origin().to_owned();
        let outcome = tokio::task::spawn_blocking(move || this.inner.alerts.record(&proof)).await;
        self.update_alert_gauges();
        match outcome {
            Ok(Ok(recorded)) => Some(recorded),
            Ok(Err(e)) => {
                error!(origin, error = %e, "could not store an equivocation proof");
                None
            }
            Err(e) => {
                error!(origin, error = %e, "alert storage task failed");
                None
            }
        }
    }

    /// A split view this node found itself: verifies the proof, and if it concerns a log this
    /// node knows, records it (the origin is distrusted from then on) and gossips it.
    pub async fn raise(&self, equivocation: Equivocation) {
        let proof = match equivocation.verify() {
            Ok(proof) => proof,
            Err(e) => {
                // The constructors verify; this would be a bug, and proves nothing.
                error!(error = %e, "an equivocation built here does not verify");
                return;
            }
        };
        let peers = self.inner.peers.snapshot();
        if !gossip::concerns_known_log(&proof, &peers, &self.inner.own_log) {
            debug!(
                origin = proof.origin(),
                "equivocation of an unknown log: not kept"
            );
            return;
        }
        let origin = proof.origin().to_owned();
        if self.record(proof).await != Some(Recorded::New) {
            return;
        }
        self.inner.metrics.equivocations_detected.inc();
        error!(
            origin,
            "SPLIT VIEW: the log signed two checkpoints that cannot both be true; \
             proof stored and gossiped, origin distrusted"
        );
        if let Err(e) = self
            .inner
            .node
            .publish(Topic::Alerts, equivocation.encode())
            .await
        {
            warn!(origin, error = %e, "could not gossip the equivocation proof");
        }
    }

    /// A verified alert received by gossip (gossipsub forwards it): records it.
    pub async fn receive_alert(&self, proof: VerifiedEquivocation) {
        let origin = proof.origin().to_owned();
        if self.record(proof).await == Some(Recorded::New) {
            self.inner.metrics.alerts_received.inc();
            error!(
                origin,
                "split-view alert received and verified; origin distrusted"
            );
        }
    }

    /// Remembers a verified checkpoint of `peer`; returns a remembered one of the same size
    /// with another root, if any (a split view).
    fn remember(&self, checkpoint: &VerifiedCheckpoint) -> Option<VerifiedCheckpoint> {
        let mut recent = self
            .inner
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let sizes = recent.entry(checkpoint.origin().to_owned()).or_default();
        match sizes.get(&checkpoint.size()) {
            Some(known) if known.root() != checkpoint.root() => return Some(known.clone()),
            Some(_) => return None,
            None => {}
        }
        sizes.insert(checkpoint.size(), checkpoint.clone());
        while sizes.len() > RECENT_PER_ORIGIN {
            sizes.pop_first();
        }
        None
    }

    /// A peer's checkpoint seen by gossip (verified under its log key): checked as
    /// [`Witnessing::check_seen`] does; a cosigned one is also offered to the cross-logger.
    pub async fn observe(&self, peer: Arc<PeerDomain>, checkpoint: VerifiedCheckpoint) {
        if !self.check_seen(peer.clone(), checkpoint.clone()).await {
            return;
        }
        if !checkpoint.cosignatures().is_empty()
            && let Err(e) = self.inner.crosslog.try_send((peer.clone(), checkpoint))
        {
            debug!(origin = peer.origin(), error = %e, "cross-logger busy; cosigned checkpoint skipped");
        }
    }

    /// A peer's checkpoint seen anywhere (gossip, a peer's log), verified under its log key:
    /// compared with what this witness holds and with what it saw recently, and a conflict is
    /// raised; one of another size than the held one is queued for an audit with the log's own
    /// consistency proof ([`audit`]). `false` if the origin is distrusted or a conflict was found.
    pub async fn check_seen(&self, peer: Arc<PeerDomain>, checkpoint: VerifiedCheckpoint) -> bool {
        let origin = peer.origin().to_owned();
        if self.inner.alerts.is_distrusted(&origin) {
            return false;
        }
        let mut conflict = self.remember(&checkpoint);
        if conflict.is_none() {
            match self.held_now(&origin).await {
                Ok(Some(h)) if h.size == checkpoint.size() && h.root != *checkpoint.root() => {
                    conflict = VerifiedCheckpoint::verify(h.note.as_bytes(), &peer.log_key).ok();
                }
                Ok(_) => {}
                Err(e) => error!(origin, error = %e, "cannot read the witness state"),
            }
        }
        if let Some(other) = conflict {
            match Equivocation::from_same_size(peer.hash, &other, &checkpoint) {
                Ok(e) => self.raise(e).await,
                Err(e) => warn!(origin, error = %e, "conflicting checkpoints prove nothing"),
            }
            return false;
        }
        self.audit(peer, checkpoint);
        true
    }

    /// This node's own log key.
    pub fn own_log(&self) -> &NoteVerifier {
        &self.inner.own_log
    }
}
