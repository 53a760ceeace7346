//! Consistency audits of what gossip shows (DESIGN §2, split view).
//!
//! [`Witnessing::observe`] catches two roots for one size. A log can also show its witnesses one
//! branch and gossip another at other sizes, which no same-size check sees. So for a peer's
//! gossiped checkpoint whose size differs from the one this witness holds (and last verified by
//! compare-and-swap), the node asks the log itself for a consistency proof between the two over
//! `/herald/client/1`:
//!
//! - a proof that verifies settles it (`consistent`);
//! - a proof that authenticates the larger checkpoint but commits the log to another root at
//!   the smaller size is an equivocation proof of form (ii), raised like any other (`split`);
//! - anything else — no answer, an error, garbage — proves nothing about the log (`unproven`):
//!   it is logged, counted, and the next checkpoint is audited again.
//!
//! A log whose older checkpoint has a power-of-two size cannot be caught this way: its proof
//! does not carry the first root it starts from (see `Equivocation::from_consistency`), so such
//! a conflict stays `unproven`.
//!
//! Audits run on their own task per origin, one at a time, so the watcher that hands gossip over
//! never waits on the network. At most [`QUEUE_PER_ORIGIN`] checkpoints wait per origin; older
//! ones give way to newer ones.

use std::collections::VecDeque;
use std::sync::{Arc, PoisonError};

use herald_light_client::Gateway as _;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::equivocation::Equivocation;
use herald_proto::merkle::{AnyHasher, verify_consistency};
use tracing::{debug, warn};

use super::Witnessing;
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

impl Witnessing {
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
        if self.inner.alerts.is_distrusted(origin) {
            return Outcome::Skipped;
        }
        let held = match self.held_now(origin).await {
            Ok(Some(held)) if held.size != seen.size() => held,
            Ok(_) => return Outcome::Skipped,
            Err(e) => return Outcome::Unproven(format!("cannot read the witness state: {e}")),
        };
        let Ok(held) = VerifiedCheckpoint::verify(held.note.as_bytes(), &peer.log_key) else {
            return Outcome::Unproven("the held checkpoint no longer verifies".into());
        };
        let (older, newer) = if held.size() < seen.size() {
            (&held, seen)
        } else {
            (seen, &held)
        };
        if older.size() == 0 {
            // Every tree extends the empty one.
            return Outcome::Consistent;
        }
        // The light client's call: a proof between exactly these sizes, or why there is none.
        let answer = self
            .inner
            .node
            .gateway(peer.peer_id, peer.addrs.clone())
            .consistency(older.size(), newer.size())
            .await;
        let proof = match answer {
            Ok(proof) => proof.hashes,
            Err(e) => return Outcome::Unproven(e.to_string()),
        };
        let hasher = AnyHasher(peer.hash);
        match verify_consistency(
            &hasher,
            older.size(),
            newer.size(),
            &proof,
            older.root(),
            newer.root(),
        ) {
            Ok(()) => Outcome::Consistent,
            Err(error) => {
                match Equivocation::from_consistency(peer.hash, older, newer, &proof, None) {
                    Ok(equivocation) => Outcome::Split(Box::new(equivocation)),
                    Err(_) => Outcome::Unproven(format!(
                        "the log's proof from {} to {} does not verify: {error}",
                        older.size(),
                        newer.size()
                    )),
                }
            }
        }
    }
}
