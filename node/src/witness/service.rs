//! The witness's answer to `AddCheckpointRequest` over `/herald/witness/1`.
//!
//! The judgement is proto's ([`herald_proto::witness`], C2SP tlog-witness semantics, with its
//! table of refusals); this file adds what only a node knows, in this order, each refusal
//! changing nothing:
//! 1. the request decoded (`MALFORMED_REQUEST`); the caller's peer id is a registered peer
//!    (`UNREGISTERED_PEER`); the note is a checkpoint (`MALFORMED_REQUEST`) of that peer's
//!    origin (`UNKNOWN_ORIGIN`); the origin is not distrusted (`DISTRUSTED_ORIGIN`); the log
//!    signed it (`BAD_SIGNATURE`, or `BAD_PROOF` for an empty tree with another root);
//! 2. under the origin's lock: the held checkpoint is read and verified again under the peer's
//!    key (`BAD_PROOF` if it no longer verifies), and proto judges the request against it
//!    (`OLD_SIZE_TOO_LARGE`, `CONFLICT` with the held size, `BAD_PROOF`); a split view it proves
//!    is raised and the answer is `DISTRUSTED_ORIGIN`;
//! 3. gossip may already have shown another root at this size: then that split view is raised
//!    and nothing is cosigned;
//! 4. the held state is compare-and-swapped and flushed (`UNAVAILABLE` if that fails), and only
//!    then is the cosignature made and returned.
//!
//! A request for the checkpoint already held is cosigned again (fresh timestamp), which is how a
//! log that lost its cosignatures (a restart) gets them back.

use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::inclusion::LogTrust;
use herald_proto::wire::Decoded;
use herald_proto::wire::pb::{self, add_checkpoint_response};
use herald_proto::witness::{Judgement, Reason, Refusal, claimed_origin, judge, verify_request};
use libp2p::PeerId;
use tracing::{debug, warn};

use super::WitnessService;
use super::held::Held;
use crate::metrics::refusal_label;

/// What the judgement under the lock decided, once persisted.
enum Persisted {
    /// The held state names this checkpoint (durably): cosign it.
    Cosign,
    /// Refused, nothing changed.
    Refuse(Refusal),
    /// A transferable proof that the log equivocated (boxed: large and rare).
    Split(Box<herald_proto::equivocation::Equivocation>),
}

impl WitnessService {
    /// Answers one witness request from the connection of `caller` (see the module docs).
    pub async fn add_checkpoint(
        &self,
        caller: PeerId,
        request: Decoded<pb::AddCheckpointRequest>,
    ) -> pb::AddCheckpointResponse {
        let (origin, outcome) = self.answer(caller, request).await;
        self.record(&caller.to_string(), &origin, &outcome);
        let result = match outcome {
            Ok(line) => add_checkpoint_response::Result::Cosignature(line.into_bytes()),
            Err(r) => add_checkpoint_response::Result::Refusal(pb::WitnessRefusal {
                reason: r.reason as i32,
                held_size: r.held_size,
            }),
        };
        pb::AddCheckpointResponse {
            result: Some(result),
        }
    }

    /// Answers a C2SP `POST /add-checkpoint` (HTTP, [`crate::tlog_witness`]): the caller is
    /// anyone; the origin named in the checkpoint must be a registered peer's or a configured
    /// witnessed log's (else `UNKNOWN_ORIGIN`), and from there the judgement, lock and
    /// compare-and-swap are the same as for `/herald/witness/1`. The cosignature line, or the
    /// refusal.
    pub async fn add_checkpoint_by_origin(
        &self,
        request: pb::AddCheckpointRequest,
    ) -> Result<String, Refusal> {
        let outcome = match claimed_origin(&request.checkpoint) {
            Err(r) => (String::new(), Err(r)),
            Ok(claimed) => {
                let peer_log = (self.inner.peers.snapshot().by_origin(&claimed))
                    .map(|peer| (peer.log.clone(), peer.domain.clone()));
                let log = peer_log.or_else(|| {
                    (self.inner.witnessed_logs.get(&claimed))
                        .map(|log| (log.clone(), format!("witnessed log {claimed}")))
                });
                match log {
                    None => (
                        claimed,
                        Err(Refusal::new(
                            Reason::UnknownOrigin,
                            "neither a registered peer's log nor a witnessed log",
                        )),
                    ),
                    Some((log, name)) => (claimed, self.answer_log(log, &name, request).await),
                }
            }
        };
        let (origin, outcome) = outcome;
        self.record("http", &origin, &outcome);
        outcome
    }

    /// Counts and logs an answer.
    fn record(&self, caller: &str, origin: &str, outcome: &Result<String, Refusal>) {
        let metrics = &self.inner.metrics;
        match outcome {
            Ok(_) => {
                metrics.witness_answer("cosigned");
                debug!(caller, origin, "cosigned");
            }
            Err(r) => {
                metrics.witness_answer(refusal_label(r.reason));
                warn!(
                    caller,
                    origin,
                    reason = refusal_label(r.reason),
                    held_size = r.held_size,
                    why = r.why,
                    "witness request refused"
                );
            }
        }
    }

    /// The origin asked about (for the log) and the cosignature line or the refusal.
    async fn answer(
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
        let outcome = self
            .answer_log(peer.log.clone(), &peer.domain, request)
            .await;
        (origin, outcome)
    }

    /// Steps 1 (from the signature) to 4 for a request about `log`, asked by `asker` (a peer
    /// domain, or the witnessed log itself over HTTP).
    async fn answer_log(
        &self,
        log: LogTrust,
        asker: &str,
        request: pb::AddCheckpointRequest,
    ) -> Result<String, Refusal> {
        let claimed = claimed_origin(&request.checkpoint)?;
        if claimed != log.origin() {
            return Err(Refusal::new(
                Reason::UnknownOrigin,
                format!("{asker} may not ask for checkpoints of {claimed}"),
            ));
        }
        let watch = &self.inner.watch;
        let distrusted = || {
            Refusal::new(
                Reason::DistrustedOrigin,
                "this witness holds an equivocation proof against the origin",
            )
        };
        if watch.is_distrusted(&claimed) {
            return Err(distrusted());
        }
        let checkpoint = verify_request(&log, &request.checkpoint)?;
        let lock = self.origin_lock(&claimed);
        let _serialized = lock.lock().await;
        // An alert may have been recorded while this request waited for the lock.
        if watch.is_distrusted(&claimed) {
            return Err(distrusted());
        }
        let (this, judged_log, judged_checkpoint) = (self.clone(), log.clone(), checkpoint.clone());
        let persisted = tokio::task::spawn_blocking(move || {
            this.judge_held(&judged_log, &judged_checkpoint, &request)
        })
        .await
        .map_err(|e| Refusal::new(Reason::Unavailable, format!("witness task failed: {e}")))?;
        match persisted {
            Persisted::Cosign => {
                // Consistent with the held one; but gossip may already have shown another root
                // at this size: then it is a split view, and no cosignature.
                if let Some(split) = watch.gossip_split(&log, &checkpoint) {
                    watch.raise(split).await;
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
            Persisted::Refuse(r) => Err(r),
            Persisted::Split(equivocation) => {
                watch.raise(*equivocation).await;
                Err(Refusal::new(
                    Reason::DistrustedOrigin,
                    "the checkpoint conflicts with the one held: equivocation raised",
                ))
            }
        }
    }

    /// Step 2 and the swap of step 4 (module docs), under the origin's lock, on a blocking
    /// thread: proto judges, this persists.
    fn judge_held(
        &self,
        log: &LogTrust,
        checkpoint: &VerifiedCheckpoint,
        request: &pb::AddCheckpointRequest,
    ) -> Persisted {
        let origin = log.origin();
        let held = match self.inner.held.get(origin) {
            Ok(h) => h,
            Err(e) => return Persisted::Refuse(Refusal::new(Reason::Unavailable, e.to_string())),
        };
        let held_checkpoint = match &held {
            None => None,
            Some(h) => match log.verify_checkpoint(h.note.as_bytes()) {
                Ok(c) => Some(c),
                Err(e) => {
                    return Persisted::Refuse(Refusal::new(
                        Reason::BadProof,
                        format!(
                            "the held checkpoint no longer verifies under the registered key: {e}"
                        ),
                    ));
                }
            },
        };
        match judge(
            log,
            held_checkpoint.as_ref(),
            checkpoint,
            request.old_size,
            &request.consistency_proof,
        ) {
            Judgement::Cosign { advance: false } => Persisted::Cosign,
            Judgement::Cosign { advance: true } => {
                match self
                    .inner
                    .held
                    .swap(origin, held.as_ref(), &Held::of(checkpoint))
                {
                    Ok(()) => Persisted::Cosign,
                    Err(e) => Persisted::Refuse(Refusal::new(Reason::Unavailable, e.to_string())),
                }
            }
            Judgement::Refuse(r) => Persisted::Refuse(r),
            Judgement::Split(e) => Persisted::Split(e),
        }
    }
}
