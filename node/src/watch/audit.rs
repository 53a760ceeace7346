//! Consistency audits of what gossip shows (DESIGN §2, split view).
//!
//! [`SplitViewWatch::check_seen`] catches two roots for one size. A log can also show its
//! witnesses one branch and gossip another at other sizes, which no same-size check sees. So for
//! a peer's gossiped checkpoint whose size differs from the one this witness holds (and last
//! verified by compare-and-swap), the node asks the log itself for a consistency proof between
//! the two over `/herald/client/1` and hands it to proto's succession rule:
//!
//! - a proof that verifies settles it (`consistent`);
//! - a proof that authenticates the larger checkpoint but commits the log to another root at
//!   the smaller size is an equivocation proof of form (ii), raised like any other (`split`);
//! - when the smaller size is a power of two the proof does not carry that root, so a failing
//!   one cannot be judged on its own: the node also asks for the audit path of leaf
//!   `smaller size` in the larger tree, whose left sibling is the log's root at the smaller size
//!   and from which proto reads the consistency proof of a split view — or sees the log's
//!   proof was merely garbage;
//! - anything else — no answer, an error, garbage — proves nothing about the log (`unproven`):
//!   it is logged, counted, and the next checkpoint is audited again.
//!
//! Audits run on their own task per origin, one at a time, so the watcher that hands gossip over
//! never waits on the network. At most [`QUEUE_PER_ORIGIN`] checkpoints wait per origin; older
//! ones give way to newer ones.

use std::collections::VecDeque;
use std::sync::{Arc, PoisonError};

use herald_light_client::Gateway as _;
use herald_light_client::Leaf;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::equivocation::Equivocation;
use herald_proto::inclusion::VerifiedInclusion;
use herald_proto::merkle::Hash;
use herald_proto::succession::{Plan, SuccessionError, plan, succession, succession_with_prefix};
use tracing::{debug, warn};

use super::SplitViewWatch;
use crate::peers::PeerDomain;

/// Checkpoints waiting for an audit per origin.
pub const QUEUE_PER_ORIGIN: usize = 8;

/// The audits of one origin: whether a task is running them, and what waits.
#[derive(Default)]
pub(super) struct AuditQueue {
    running: bool,
    waiting: VecDeque<(Arc<PeerDomain>, VerifiedCheckpoint)>,
}

/// How one audit ended.
#[derive(Debug)]
enum Outcome {
    /// Same size as the held checkpoint, no held checkpoint, or the origin is distrusted:
    /// nothing to ask.
    Skipped,
    Consistent,
    Split(Box<Equivocation>),
    Unproven(String),
}

impl SplitViewWatch {
    /// Queues `checkpoint` of `peer` for an audit and starts the origin's task if idle.
    pub(super) fn audit(&self, peer: Arc<PeerDomain>, checkpoint: VerifiedCheckpoint) {
        let origin = peer.origin().to_owned();
        let start = {
            let mut audits = self
                .inner
                .audits
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let queue = audits.entry(origin.clone()).or_default();
            if queue.waiting.len() == QUEUE_PER_ORIGIN {
                queue.waiting.pop_front();
            }
            queue.waiting.push_back((peer, checkpoint));
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            let this = self.clone();
            tokio::spawn(async move { this.run_audits(origin).await });
        }
    }

    async fn run_audits(&self, origin: String) {
        loop {
            let next = {
                let mut audits = self
                    .inner
                    .audits
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let Some(queue) = audits.get_mut(&origin) else {
                    return;
                };
                match queue.waiting.pop_front() {
                    Some(next) => next,
                    None => {
                        queue.running = false;
                        return;
                    }
                }
            };
            let (peer, checkpoint) = next;
            match self.audit_one(&peer, &checkpoint).await {
                Outcome::Skipped => {}
                Outcome::Consistent => {
                    self.inner.metrics.audit("consistent");
                    debug!(
                        origin,
                        size = checkpoint.size(),
                        "gossiped checkpoint consistent"
                    );
                }
                Outcome::Split(equivocation) => {
                    self.inner.metrics.audit("split");
                    self.raise(*equivocation).await;
                }
                Outcome::Unproven(why) => {
                    self.inner.metrics.audit("unproven");
                    warn!(
                        origin,
                        size = checkpoint.size(),
                        why,
                        "could not check a gossiped checkpoint against the held one"
                    );
                }
            }
        }
    }

    /// Audits one gossiped checkpoint against the held one.
    async fn audit_one(&self, peer: &PeerDomain, seen: &VerifiedCheckpoint) -> Outcome {
        let origin = peer.origin();
        if self.is_distrusted(origin) {
            return Outcome::Skipped;
        }
        let held = match self.held_now(origin).await {
            Ok(Some(held)) if held.size != seen.size() => held,
            Ok(_) => return Outcome::Skipped,
            Err(e) => return Outcome::Unproven(format!("cannot read the witness state: {e}")),
        };
        let Ok(held) = peer.log.verify_checkpoint(held.note.as_bytes()) else {
            return Outcome::Unproven("the held checkpoint no longer verifies".into());
        };
        let (older, newer) = if held.size() < seen.size() {
            (&held, seen)
        } else {
            (seen, &held)
        };
        let (size1, size2) = match plan(&peer.log, Some(older), newer) {
            // Every tree extends the empty one.
            Ok(Plan::Same | Plan::Unproven) => return Outcome::Consistent,
            Ok(Plan::NeedsProof { size1, size2 }) => (size1, size2),
            Err(e) => return judged(Err(e)),
        };
        let proof = match self.consistency(peer, size1, size2).await {
            Ok(proof) => proof,
            Err(why) => return Outcome::Unproven(why),
        };
        let decided = succession(&peer.log, Some(older), newer, &proof);
        let Some((index, size)) = decided
            .as_ref()
            .err()
            .and_then(SuccessionError::wants_prefix)
        else {
            return judged(decided.map(|_| ()));
        };
        match self.prefix(peer, newer, index, size).await {
            Ok(prefix) => judged(
                succession_with_prefix(&peer.log, Some(older), newer, &proof, &prefix).map(|_| ()),
            ),
            Err(why) => Outcome::Unproven(format!(
                "{}; and no audit path to decide it: {why}",
                decided.err().map(|e| e.to_string()).unwrap_or_default()
            )),
        }
    }

    /// The log's consistency proof from `size1` to `size2` (the light client's call: a proof
    /// between exactly these sizes, or why there is none).
    async fn consistency(
        &self,
        peer: &PeerDomain,
        size1: u64,
        size2: u64,
    ) -> Result<Vec<prost::bytes::Bytes>, String> {
        self.inner
            .node
            .gateway(peer.peer_id, peer.addrs.clone())
            .consistency(size1, size2)
            .await
            .map(|proof| proof.hashes)
            .map_err(|e| e.to_string())
    }

    /// The log's audit path of leaf `index` in `tree` (of `size` leaves), asked with the light
    /// client's call and verified against `tree`'s root.
    async fn prefix(
        &self,
        peer: &PeerDomain,
        tree: &VerifiedCheckpoint,
        index: u64,
        size: u64,
    ) -> Result<VerifiedInclusion, String> {
        let answer = self
            .inner
            .node
            .gateway(peer.peer_id, peer.addrs.clone())
            .inclusion(Leaf::Index(index), size)
            .await
            .map_err(|e| e.to_string())?;
        let leaf_hash = Hash::try_from(answer.leaf_hash.as_slice())
            .map_err(|_| "the answer's leaf hash is not 32 bytes".to_owned())?;
        let proof = answer.proof.ok_or("the answer carries no proof")?;
        if proof.leaf_index != index {
            return Err(format!("the log proved leaf {} instead", proof.leaf_index));
        }
        peer.log
            .verify_inclusion(tree, &leaf_hash, &proof)
            .map_err(|e| format!("its audit path does not verify: {e}"))
    }
}

/// An audit's outcome from the succession rule's verdict.
fn judged(verdict: Result<(), SuccessionError>) -> Outcome {
    match verdict {
        Ok(()) => Outcome::Consistent,
        Err(SuccessionError::Split(e)) => Outcome::Split(e),
        Err(e) => Outcome::Unproven(e.to_string()),
    }
}
