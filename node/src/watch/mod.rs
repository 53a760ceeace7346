//! The split-view watch (DESIGN §2 "Split view"): this node looking for a log that shows
//! different parties different trees, and keeping, raising and gossiping the proofs.
//!
//! Where it looks, each time turning what it sees into one of DESIGN §2's transferable proofs
//! or into nothing, always with proto's succession rule ([`herald_proto::succession`]):
//! - gossip, same size ([`SplitViewWatch::check_seen`]): a checkpoint against the ones gossip
//!   showed recently and against the one the witness holds;
//! - gossip, other sizes ([`audit`]): the log's own consistency proof between the held
//!   checkpoint and the gossiped one, plus one audit path when the older size is a power of two;
//! - peers' logs ([`scan`]): cross-logged checkpoints, including this log's own;
//! - alerts from peers ([`SplitViewWatch::receive_alert`]), by gossip or by asking each
//!   registered peer for the alerts it holds when a connection to it opens ([`alert_sync`]).
//!
//! Who owns what:
//! - this type owns the checkpoints recently seen on gossip (`recent`), the audit queues
//!   (`audits`) and the alert book ([`alerts`], sled tree `alerts`), and is the only writer of
//!   the last two; it hands peers' cosigned checkpoints to the cross-logger;
//! - it reads, never writes, what the witness holds, through [`HeldView`] (the witness service,
//!   `crate::witness`, owns and compare-and-swaps it);
//! - the witness service asks it, under its own per-origin lock, whether an origin is
//!   distrusted and whether gossip showed another root at a size, and hands it the split views
//!   its judgement proves ([`SplitViewWatch::raise`]).

pub mod alert_sync;
pub mod alerts;
pub mod audit;
pub mod scan;
pub mod watcher;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::equivocation::{Equivocation, VerifiedEquivocation};
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::Hash;
use herald_proto::note::NoteVerifier;
use herald_proto::succession::{SuccessionError, succession};
use tokio::sync::mpsc;
use tracing::{debug, error, warn};

use crate::gossip;
use crate::metrics::WitnessMetrics;
use crate::network::{NodeHandle, Topic};
use crate::peers::{PeerDomain, PeerRegistry};
use alerts::{AlertBook, AlertError, Recorded};

pub use scan::LogScanner;

/// Distinct checkpoint sizes remembered per origin for split-view checks of gossip.
const RECENT_PER_ORIGIN: usize = 32;
/// Peers' cosigned checkpoints waiting for the cross-logger; more are dropped.
const CROSSLOG_QUEUE: usize = 64;

/// Peers' cosigned checkpoints offered to the cross-logger.
pub type CrossLogOffers = mpsc::Receiver<(Arc<PeerDomain>, VerifiedCheckpoint)>;

/// What the witness holds for one origin, as the watch reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldTree {
    /// Its tree size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The checkpoint note reduced to the log's signature.
    pub note: String,
}

/// Read access to the witness's held state (written only by the witness service).
pub trait HeldView: Send + Sync + 'static {
    /// What the witness holds for `origin`, if it ever cosigned it. Blocking.
    fn held_tree(&self, origin: &str) -> Result<Option<HeldTree>, String>;
}

/// What [`SplitViewWatch`] is made of.
pub struct WatchParts {
    /// The node's sled database (tree `alerts` lives in it).
    pub db: sled::Db,
    /// The registry.
    pub peers: PeerRegistry,
    /// The witness's held state, read only.
    pub held: Arc<dyn HeldView>,
    /// This node's own log key.
    pub own_log: NoteVerifier,
    /// The network, to gossip alerts and ask logs for proofs.
    pub node: NodeHandle,
    /// The witnessing metrics.
    pub metrics: WitnessMetrics,
}

struct Inner {
    peers: PeerRegistry,
    held: Arc<dyn HeldView>,
    alerts: AlertBook,
    own_log: NoteVerifier,
    node: NodeHandle,
    metrics: WitnessMetrics,
    /// Recently seen checkpoints per origin, by size (split views shown to gossip).
    recent: Mutex<HashMap<String, BTreeMap<u64, VerifiedCheckpoint>>>,
    crosslog: mpsc::Sender<(Arc<PeerDomain>, VerifiedCheckpoint)>,
    /// Consistency audits waiting or running, per origin.
    audits: Mutex<HashMap<String, audit::AuditQueue>>,
}

/// The split-view watch (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct SplitViewWatch {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SplitViewWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplitViewWatch")
            .field("alerts", &self.inner.alerts.len())
            .finish_non_exhaustive()
    }
}

/// The split view `held` and `seen` (one size) prove, if any: proto's succession rule.
pub fn same_size_split(
    log: &LogTrust,
    held: &VerifiedCheckpoint,
    seen: &VerifiedCheckpoint,
) -> Option<Equivocation> {
    match succession(log, Some(held), seen, &[] as &[Hash]) {
        Err(SuccessionError::Split(e)) => Some(*e),
        Ok(_) => None,
        Err(e) => {
            warn!(origin = log.origin(), error = %e, "conflicting checkpoints prove nothing");
            None
        }
    }
}

impl SplitViewWatch {
    /// Opens the alert book (blocking: reads and verifies the stored alerts). Returns the
    /// receiver of peers' cosigned checkpoints, for a `CrossLogger`.
    pub fn open(parts: WatchParts) -> Result<(Self, CrossLogOffers), AlertError> {
        let alerts = AlertBook::open(&parts.db)?;
        let (crosslog, crosslog_rx) = mpsc::channel(CROSSLOG_QUEUE);
        let watch = SplitViewWatch {
            inner: Arc::new(Inner {
                peers: parts.peers,
                held: parts.held,
                alerts,
                own_log: parts.own_log,
                node: parts.node,
                metrics: parts.metrics,
                recent: Mutex::new(HashMap::new()),
                crosslog,
                audits: Mutex::new(HashMap::new()),
            }),
        };
        watch.update_alert_gauges();
        Ok((watch, crosslog_rx))
    }

    /// The alert book.
    pub fn alerts(&self) -> &AlertBook {
        &self.inner.alerts
    }

    /// The registry.
    pub fn peers(&self) -> &PeerRegistry {
        &self.inner.peers
    }

    /// This node's own log key.
    pub fn own_log(&self) -> &NoteVerifier {
        &self.inner.own_log
    }

    /// Whether this node holds an equivocation proof against `origin`.
    pub fn is_distrusted(&self, origin: &str) -> bool {
        self.inner.alerts.is_distrusted(origin)
    }

    /// What the witness holds for `origin`, read on a blocking thread (for async callers).
    pub(crate) async fn held_now(&self, origin: &str) -> Result<Option<HeldTree>, String> {
        let (held, origin) = (self.inner.held.clone(), origin.to_owned());
        tokio::task::spawn_blocking(move || held.held_tree(&origin))
            .await
            .map_err(|e| e.to_string())?
    }

    /// What the witness holds for `origin`. Blocking.
    pub(crate) fn held_blocking(&self, origin: &str) -> Result<Option<HeldTree>, String> {
        self.inner.held.held_tree(origin)
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
                // The succession rule verifies what it builds; this would be a bug.
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

    /// A verified alert received by gossip or from a peer's list: records it.
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

    /// Remembers a verified checkpoint; returns the one remembered at its size before, if any
    /// (which stays: the first one seen at a size is what later ones are judged against).
    fn remember(&self, checkpoint: &VerifiedCheckpoint) -> Option<VerifiedCheckpoint> {
        let mut recent = self
            .inner
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let sizes = recent.entry(checkpoint.origin().to_owned()).or_default();
        if let Some(known) = sizes.get(&checkpoint.size()) {
            return Some(known.clone());
        }
        sizes.insert(checkpoint.size(), checkpoint.clone());
        while sizes.len() > RECENT_PER_ORIGIN {
            sizes.pop_first();
        }
        None
    }

    /// The split view between `checkpoint` of `log` and one gossip showed at its size, if
    /// any; otherwise `checkpoint` is remembered.
    pub fn gossip_split(
        &self,
        log: &LogTrust,
        checkpoint: &VerifiedCheckpoint,
    ) -> Option<Equivocation> {
        let known = self.remember(checkpoint)?;
        same_size_split(log, &known, checkpoint)
    }

    /// A peer's checkpoint seen by gossip (verified under its log key): checked as
    /// [`SplitViewWatch::check_seen`] does; a cosigned one is also offered to the cross-logger.
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
    /// compared with what gossip showed at its size and with what the witness holds, and a
    /// split view is raised; one of another size than the held one is queued for an audit with
    /// the log's own consistency proof ([`audit`]). `false` if the origin is distrusted or a
    /// split view was found.
    pub async fn check_seen(&self, peer: Arc<PeerDomain>, checkpoint: VerifiedCheckpoint) -> bool {
        let origin = peer.origin().to_owned();
        if self.is_distrusted(&origin) {
            return false;
        }
        let mut split = self.gossip_split(&peer.log, &checkpoint);
        if split.is_none() {
            match self.held_now(&origin).await {
                Ok(Some(h)) if h.size == checkpoint.size() => {
                    match peer.log.verify_checkpoint(h.note.as_bytes()) {
                        Ok(held) => split = same_size_split(&peer.log, &held, &checkpoint),
                        Err(e) => {
                            warn!(origin, error = %e, "the held checkpoint no longer verifies")
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => error!(origin, error = %e, "cannot read the witness state"),
            }
        }
        if let Some(e) = split {
            self.raise(e).await;
            return false;
        }
        self.audit(peer, checkpoint);
        true
    }
}
