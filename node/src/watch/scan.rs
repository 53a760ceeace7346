//! Reading registered peers' logs: the second line of split-view detection (DESIGN §2 "Entry
//! types": `WitnessedCheckpoint`).
//!
//! Gossip is gone once delivered; a peer's log keeps, for good, the cosigned checkpoints that
//! peer was shown. So this node reads each registered peer's log up to the size its witness
//! cosigned (`EntriesRequest` over `/herald/client/1`, a few pages a round) and checks every
//! cross-logged checkpoint it finds:
//!
//! - of another registered peer's log: as if gossip had brought it
//!   ([`SplitViewWatch::check_seen`]: same-size conflicts at once, other sizes by an audit with
//!   that log's own consistency proof);
//! - of this node's own log: it must be one of this log's trees. A checkpoint signed with this
//!   log's key whose root is not this log's root at that size means the key signed a history
//!   the log does not have; proto's succession rule, given the log's own consistency proof to
//!   its current checkpoint (and, at a power-of-two size, the audit path of that leaf), makes it
//!   a transferable equivocation proof, raised like any other, and the log is distrusted — by
//!   this node too, because its key can no longer be believed.
//!
//! How far each peer's log was read is kept in the sled tree `scan_cursors` (not flushed on
//! its own: after a crash a few pages are read again, which changes nothing). Entries are not
//! checked against the peer's tree: what counts is the signature of the log a checkpoint
//! names, which is checked.

use std::sync::Arc;
use std::time::Duration;

use herald_light_client::Gateway as _;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::equivocation::Equivocation;
use herald_proto::inclusion::LogTrust;
use herald_proto::succession::{SuccessionError, succession, succession_with_prefix};
use herald_proto::wire::{self, MAX_ENTRY_PAGE_COUNT, pb};
use tokio::task::JoinHandle;
use tracing::{debug, error, warn};

use super::SplitViewWatch;
use crate::metrics::WitnessMetrics;
use crate::network::NodeHandle;
use crate::peers::PeerDomain;
use crate::store::LogStore;

/// Pages read per peer and round, so a long log is read over several rounds.
const PAGES_PER_ROUND: usize = 4;

/// What the scanner needs.
pub struct LogScanner {
    /// The watch: what the witness holds, and where findings go.
    pub watch: SplitViewWatch,
    /// The network, to ask peers for entries.
    pub node: NodeHandle,
    /// This node's own log, for its own cross-logged checkpoints.
    pub store: LogStore,
    /// Metrics.
    pub metrics: WitnessMetrics,
    /// Time between two rounds.
    pub interval: Duration,
}

impl LogScanner {
    /// Starts the task; it runs until aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let db = self.store.db().clone();
            let cursors =
                match tokio::task::spawn_blocking(move || crate::db::Tree::ScanCursors.open(&db))
                    .await
                {
                    Ok(Ok(tree)) => tree,
                    Ok(Err(e)) => {
                        return error!(error = %e, "cannot open the scan cursors; not scanning");
                    }
                    Err(e) => return error!(error = %e, "scan cursor task failed; not scanning"),
                };
            let mut tick = tokio::time::interval(self.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let peers = self.watch.peers().snapshot();
                for peer in peers.iter() {
                    self.scan_peer(&cursors, peer).await;
                }
            }
        })
    }

    /// Reads up to [`PAGES_PER_ROUND`] pages of `peer`'s log, up to the size this witness holds.
    async fn scan_peer(&self, cursors: &sled::Tree, peer: &Arc<PeerDomain>) {
        let origin = peer.origin();
        if self.watch.is_distrusted(origin) {
            return;
        }
        let (watch, tree, name) = (self.watch.clone(), cursors.clone(), origin.to_owned());
        let position = tokio::task::spawn_blocking(move || position(&watch, &tree, &name)).await;
        let (mut cursor, held) = match position {
            Ok(Ok(Some(position))) => position,
            Ok(Ok(None)) => return,
            Ok(Err(why)) => return error!(origin, why, "not scanning the peer's log"),
            Err(e) => return error!(origin, error = %e, "scan position task failed"),
        };
        let gateway = self.node.gateway(peer.peer_id, peer.addrs.clone());
        for _ in 0..PAGES_PER_ROUND {
            if cursor >= held {
                return;
            }
            let count = (held - cursor).min(u64::from(MAX_ENTRY_PAGE_COUNT)) as u32;
            // The light client's call: the page must start at the cursor and hold 1..=count.
            let entries = match gateway.entries(cursor, count).await {
                Ok(page) => page.entries,
                Err(e) => return debug!(origin, cursor, error = %e, "cannot read the peer's log"),
            };
            for bytes in &entries {
                self.check_entry(peer, bytes).await;
            }
            cursor += entries.len() as u64;
            self.metrics.scanned_entries.inc_by(entries.len() as u64);
            let (tree, name) = (cursors.clone(), origin.to_owned());
            let stored =
                tokio::task::spawn_blocking(move || tree.insert(name, &cursor.to_be_bytes())).await;
            if !matches!(stored, Ok(Ok(_))) {
                return error!(origin, "cannot store a scan cursor");
            }
        }
    }

    /// One entry of `from`'s log: a cross-logged checkpoint is checked, anything else skipped.
    async fn check_entry(&self, from: &PeerDomain, bytes: &[u8]) {
        let Ok(entry) = wire::decode_valid::<pb::LogEntry>(bytes) else {
            // A log never appends what it cannot decode: the peer served something else.
            return warn!(
                origin = from.origin(),
                "an entry of the peer's log does not decode"
            );
        };
        let Some(pb::log_entry::Kind::WitnessedCheckpoint(witnessed)) = entry.kind else {
            return;
        };
        let own = self.watch.own_log();
        if witnessed.origin == own.name() {
            if let Ok(checkpoint) = VerifiedCheckpoint::verify(&witnessed.checkpoint, own) {
                self.check_own(checkpoint).await;
            }
            return;
        }
        let Some(peer) = self
            .watch
            .peers()
            .snapshot()
            .by_origin(&witnessed.origin)
            .cloned()
        else {
            return;
        };
        if peer.origin() == from.origin() {
            // A log that cross-logs itself tells nothing its own answers do not.
            return;
        }
        if let Ok(checkpoint) = VerifiedCheckpoint::verify(&witnessed.checkpoint, peer.log_key()) {
            self.watch.check_seen(peer, checkpoint).await;
        }
    }

    /// A checkpoint signed with this log's key, found in a peer's log: it must describe this
    /// log's tree at its size.
    async fn check_own(&self, seen: VerifiedCheckpoint) {
        let store = self.store.clone();
        let own = LogTrust::unwitnessed(self.watch.own_log().clone(), self.store.algorithm());
        let size = seen.size();
        let judged = tokio::task::spawn_blocking(move || own_split(&store, &own, &seen)).await;
        match judged {
            Ok(Ok(None)) => {}
            Ok(Ok(Some(equivocation))) => {
                self.metrics.audit("split");
                error!(
                    size,
                    "a checkpoint signed with THIS log's key describes a tree this log does not \
                     have: the log key is compromised"
                );
                self.watch.raise(equivocation).await;
            }
            Ok(Err(why)) => {
                self.metrics.audit("unproven");
                error!(
                    size,
                    why, "a checkpoint signed with this log's key does not check"
                );
            }
            Err(e) => warn!(error = %e, "own checkpoint check failed"),
        }
    }
}

/// Where to read `origin`'s log from (its cursor) and up to where (the size this witness holds);
/// `None` if it holds nothing of that log yet. Blocking.
fn position(
    watch: &SplitViewWatch,
    cursors: &sled::Tree,
    origin: &str,
) -> Result<Option<(u64, u64)>, String> {
    let Some(held) = watch.held_blocking(origin)? else {
        return Ok(None);
    };
    let held = held.size;
    let cursor = match cursors.get(origin).map_err(|e| e.to_string())? {
        None => 0,
        Some(v) => u64::from_be_bytes(
            <[u8; 8]>::try_from(v.as_ref()).map_err(|_| "its scan cursor is not 8 bytes")?,
        ),
    };
    Ok(Some((cursor, held)))
}

/// `Ok(None)` if `seen` is this log's tree at its size; `Ok(Some)` the proof that it is not;
/// `Err` when it cannot be told (a size the log has not reached, a storage error). The log's
/// own proofs, judged by proto's succession rule from `seen` to the current checkpoint.
fn own_split(
    store: &LogStore,
    own: &LogTrust,
    seen: &VerifiedCheckpoint,
) -> Result<Option<Equivocation>, String> {
    let head = store.head();
    if seen.size() > head.size {
        return Err(format!(
            "it claims {} entries, the log has {}",
            seen.size(),
            head.size
        ));
    }
    let current = own
        .verify_checkpoint(&head.checkpoint)
        .map_err(|e| e.to_string())?;
    let proof = if seen.size() == 0 || seen.size() == head.size {
        Vec::new()
    } else {
        store
            .consistency_proof(seen.size(), head.size)
            .map_err(|e| e.to_string())?
    };
    let refusal = match succession(own, Some(seen), &current, &proof) {
        Ok(_) => return Ok(None),
        Err(SuccessionError::Split(e)) => return Ok(Some(*e)),
        Err(e) => e,
    };
    let Some((index, size)) = refusal.wants_prefix() else {
        return Err(refusal.to_string());
    };
    let path = store
        .inclusion_proof(index, size)
        .map_err(|e| e.to_string())?;
    let leaf_hash = store.leaf_hash(index).map_err(|e| e.to_string())?;
    let prefix = own
        .verify_inclusion(
            &current,
            &leaf_hash,
            &pb::InclusionProof::new(index, size, &path),
        )
        .map_err(|e| e.to_string())?;
    match succession_with_prefix(own, Some(seen), &current, &proof, &prefix) {
        Ok(_) => Ok(None),
        Err(SuccessionError::Split(e)) => Ok(Some(*e)),
        Err(e) => Err(e.to_string()),
    }
}
