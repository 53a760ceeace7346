//! The witness's answer to `AddCheckpointRequest` (WITNESS.md, C2SP tlog-witness semantics).
//!
//! Checks, in this order, each refusal changing nothing:
//! 1. the request decoded (`MALFORMED_REQUEST`); the caller's peer id is a registered peer
//!    (`UNREGISTERED_PEER`); the note is a checkpoint (`MALFORMED_REQUEST`) of that peer's
//!    origin (`UNKNOWN_ORIGIN`); the origin is not distrusted (`DISTRUSTED_ORIGIN`); the log
//!    signed it (`BAD_SIGNATURE`);
//! 2. under the origin's lock: `old_size` ≤ the new size (`OLD_SIZE_TOO_LARGE`) and equal to the
//!    size held (`CONFLICT` with the held size: the log retries from it);
//! 3. the consistency proof from the held checkpoint to the new one verifies (`BAD_PROOF`; equal
//!    sizes need equal roots and no proof; from nothing or from the empty tree, no proof). When
//!    the evidence proves a split view instead — equal sizes with other roots, or a proof that
//!    authenticates the new root yet commits to another held root — the proof is raised and the
//!    answer is `DISTRUSTED_ORIGIN`;
//! 4. the held state is compare-and-swapped and flushed (`UNAVAILABLE` if that fails), and only
//!    then is the cosignature made and returned.
//!
//! A request for the checkpoint already held is cosigned again (fresh timestamp), which is how a
//! log that lost its cosignatures (a restart) gets them back.

use std::sync::Arc;

use herald_proto::checkpoint::{Checkpoint, VerifiedCheckpoint};
use herald_proto::equivocation::Equivocation;
use herald_proto::merkle::{AnyHasher, LogHasher as _, verify_consistency};
use herald_proto::note::SignedNote;
use herald_proto::wire::Decoded;
use herald_proto::wire::pb::{self, add_checkpoint_response, witness_refusal::Reason};
use libp2p::PeerId;
use tracing::{debug, warn};

use super::Witnessing;
use super::held::Held;
use crate::metrics::refusal_label;
use crate::peers::PeerDomain;

/// A refusal: the reason on the wire, the held size for `CONFLICT`, and why, for the log.
#[derive(Debug)]
struct Refusal {
    reason: Reason,
    held_size: u64,
    why: String,
}

impl Refusal {
    fn new(reason: Reason, why: impl Into<String>) -> Self {
        Refusal {
            reason,
            held_size: 0,
            why: why.into(),
        }
    }
}

/// What the judgement under the lock decided.
enum Judged {
    /// Consistent, and the held state now names this checkpoint (durably).
    Cosign,
    /// Refused, nothing changed.
    Refuse(Refusal),
    /// A transferable proof that the log equivocated (boxed: large and rare).
    Split(Box<Equivocation>),
}

impl Witnessing {
    /// Answers one witness request from the connection of `caller` (see the module docs).
    pub async fn add_checkpoint(
        &self,
        caller: PeerId,
        request: Decoded<pb::AddCheckpointRequest>,
    ) -> pb::AddCheckpointResponse {
        let (origin, outcome) = self.judge(caller, request).await;
        let metrics = &self.inner.metrics;
        let result = match outcome {
            Ok(line) => {
                metrics.witness_answer("cosigned");
                debug!(peer = %caller, origin, "cosigned");
                add_checkpoint_response::Result::Cosignature(line.into_bytes())
            }
            Err(r) => {
                metrics.witness_answer(refusal_label(r.reason));
                warn!(
                    peer = %caller,
                    origin,
                    reason = refusal_label(r.reason),
                    held_size = r.held_size,
                    why = r.why,
                    "witness request refused"
                );
                add_checkpoint_response::Result::Refusal(pb::WitnessRefusal {
                    reason: r.reason as i32,
                    held_size: r.held_size,
                })
            }
        };
        pb::AddCheckpointResponse {
            result: Some(result),
        }
    }

    /// The origin asked about (for the log) and the cosignature line or the refusal.
    async fn judge(
        &self,
        caller: PeerId,
        request: Decoded<pb::AddCheckpointRequest>,
    ) -> (String, Result<String, Refusal>) {
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                return (
                    String::new(),
                    Err(Refusal::new(Reason::MalformedRequest, e.to_string())),
                );
            }
        };
        let peers = self.inner.peers.snapshot();
        let Some(peer) = peers.by_peer_id(&caller).cloned() else {
            return (
                String::new(),
                Err(Refusal::new(
                    Reason::UnregisteredPeer,
                    "caller is not a registered peer",
                )),
            );
        };
        let origin = peer.origin().to_owned();
        let outcome = self.judge_peer(peer, request).await;
        (origin, outcome)
    }

    async fn judge_peer(
        &self,
        peer: Arc<PeerDomain>,
        request: pb::AddCheckpointRequest,
    ) -> Result<String, Refusal> {
        let malformed =
            |e: &dyn std::fmt::Display| Refusal::new(Reason::MalformedRequest, e.to_string());
        let note = SignedNote::parse(&request.checkpoint).map_err(|e| malformed(&e))?;
        let body = Checkpoint::parse_body(note.text()).map_err(|e| malformed(&e))?;
        if body.origin != peer.origin() {
            return Err(Refusal::new(
                Reason::UnknownOrigin,
                format!(
                    "{} may not ask for checkpoints of {}",
                    peer.domain, body.origin
                ),
            ));
        }
        let distrusted = || {
            Refusal::new(
                Reason::DistrustedOrigin,
                "this witness holds an equivocation proof against the origin",
            )
        };
        if self.inner.alerts.is_distrusted(&body.origin) {
            return Err(distrusted());
        }
        let checkpoint = VerifiedCheckpoint::verify(&request.checkpoint, &peer.log_key)
            .map_err(|e| Refusal::new(Reason::BadSignature, e.to_string()))?;
        if checkpoint.size() == 0 && *checkpoint.root() != AnyHasher(peer.hash).empty_root() {
            return Err(Refusal::new(
                Reason::BadProof,
                "size 0 with a root other than the empty tree's",
            ));
        }
        let lock = self.origin_lock(&body.origin);
        let _serialized = lock.lock().await;
        // An alert may have been recorded while this request waited for the lock.
        if self.inner.alerts.is_distrusted(&body.origin) {
            return Err(distrusted());
        }
        let algorithm = peer.hash;
        let this = self.clone();
        let judged_checkpoint = checkpoint.clone();
        let judged = tokio::task::spawn_blocking(move || {
            this.judge_held(&peer, &judged_checkpoint, &request)
        })
        .await
        .map_err(|e| Refusal::new(Reason::Unavailable, format!("witness task failed: {e}")))?;
        match judged {
            Judged::Cosign => {
                // Consistent with the held one; but gossip may already have shown another root
                // at this size: then it is a split view, and no cosignature.
                if let Some(other) = self.remember(&checkpoint) {
                    match Equivocation::from_same_size(algorithm, &other, &checkpoint) {
                        Ok(e) => self.raise(e).await,
                        Err(e) => warn!(error = %e, "conflicting checkpoints prove nothing"),
                    }
                    return Err(Refusal::new(
                        Reason::DistrustedOrigin,
                        "gossip showed another root at this size: equivocation raised",
                    ));
                }
                let cosignature = self
                    .inner
                    .signer
                    .cosign(&checkpoint, self.now_secs())
                    .map_err(|e| Refusal::new(Reason::Unavailable, e.to_string()))?;
                Ok(cosignature.to_line())
            }
            Judged::Refuse(r) => Err(r),
            Judged::Split(equivocation) => {
                self.raise(*equivocation).await;
                Err(Refusal::new(
                    Reason::DistrustedOrigin,
                    "the checkpoint conflicts with the one held: equivocation raised",
                ))
            }
        }
    }

    /// Steps 2–4 of the module docs, under the origin's lock, on a blocking thread.
    fn judge_held(
        &self,
        peer: &PeerDomain,
        checkpoint: &VerifiedCheckpoint,
        request: &pb::AddCheckpointRequest,
    ) -> Judged {
        let origin = peer.origin();
        let held = match self.inner.held.get(origin) {
            Ok(h) => h,
            Err(e) => return Judged::Refuse(Refusal::new(Reason::Unavailable, e.to_string())),
        };
        let held_size = held.as_ref().map_or(0, |h| h.size);
        let size = checkpoint.size();
        if request.old_size > size {
            return Judged::Refuse(Refusal::new(
                Reason::OldSizeTooLarge,
                format!("old size {} is above the new size {size}", request.old_size),
            ));
        }
        if request.old_size != held_size {
            return Judged::Refuse(Refusal {
                reason: Reason::Conflict,
                held_size,
                why: format!("old size {} is not the held size", request.old_size),
            });
        }
        let proof = &request.consistency_proof;
        let no_proof = || {
            Judged::Refuse(Refusal::new(
                Reason::BadProof,
                "a proof was sent where none is needed",
            ))
        };
        match &held {
            None => {
                if !proof.is_empty() {
                    return no_proof();
                }
            }
            Some(h) if h.size == size => {
                if h.root != *checkpoint.root() {
                    return self.split_same_size(peer, h, checkpoint);
                }
                if !proof.is_empty() {
                    return no_proof();
                }
                // Already held: cosigned again, nothing to store.
                return Judged::Cosign;
            }
            Some(h) if h.size == 0 => {
                if !proof.is_empty() {
                    return no_proof();
                }
            }
            Some(h) => {
                let hasher = AnyHasher(peer.hash);
                if let Err(error) =
                    verify_consistency(&hasher, h.size, size, proof, &h.root, checkpoint.root())
                {
                    return self.split_or_bad_proof(peer, h, checkpoint, proof, error);
                }
            }
        }
        match self
            .inner
            .held
            .swap(origin, held.as_ref(), &Held::of(checkpoint))
        {
            Ok(()) => Judged::Cosign,
            Err(e) => Judged::Refuse(Refusal::new(Reason::Unavailable, e.to_string())),
        }
    }

    /// The held note, verified again under the peer's registered key.
    fn held_checkpoint(
        &self,
        peer: &PeerDomain,
        held: &Held,
    ) -> Result<VerifiedCheckpoint, Refusal> {
        VerifiedCheckpoint::verify(held.note.as_bytes(), &peer.log_key).map_err(|e| {
            Refusal::new(
                Reason::BadProof,
                format!("the held checkpoint no longer verifies under the registered key: {e}"),
            )
        })
    }

    fn split_same_size(&self, peer: &PeerDomain, held: &Held, new: &VerifiedCheckpoint) -> Judged {
        let old = match self.held_checkpoint(peer, held) {
            Ok(c) => c,
            Err(r) => return Judged::Refuse(r),
        };
        match Equivocation::from_same_size(peer.hash, &old, new) {
            Ok(e) => Judged::Split(Box::new(e)),
            Err(e) => Judged::Refuse(Refusal::new(Reason::BadProof, e.to_string())),
        }
    }

    fn split_or_bad_proof(
        &self,
        peer: &PeerDomain,
        held: &Held,
        new: &VerifiedCheckpoint,
        proof: &[Vec<u8>],
        error: herald_proto::merkle::ProofError,
    ) -> Judged {
        let bad_proof = || {
            Judged::Refuse(Refusal::new(
                Reason::BadProof,
                format!(
                    "consistency proof from {} to {}: {error}",
                    held.size,
                    new.size()
                ),
            ))
        };
        let Ok(old) = self.held_checkpoint(peer, held) else {
            return bad_proof();
        };
        // A proof that fails is garbage unless it authenticates the new root and commits the
        // log to another root at the held size: then it is transferable evidence.
        match Equivocation::from_consistency(peer.hash, &old, new, proof, None) {
            Ok(e) => Judged::Split(Box::new(e)),
            Err(_) => bad_proof(),
        }
    }
}
