//! The network steps of certified mail, between the driver and a gateway of X: the sender
//! publishes (step (c)) and the recipient fetches (step (d)).
//!
//! Both ask the gateway, check its answer with [`verify_publication_answer`] under X's own
//! witness policy, prove the answer's checkpoint consistent with the last one trusted for X, and
//! only then give the answer to the state machine, which checks it again and decides. They read
//! the driver's clock (the system's unless [`CertMail::with_clock`] set another): waiting for
//! cosignatures needs one.

use herald_proto::certmail::Location;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::Hash;
use herald_proto::wire::pb;

use super::records::RecordStore;
use super::{CertMail, CertifiedMailError, Opened, SenderStatus, SenderStep, hex_name};
use crate::error::ClientError;
use crate::gateway::Gateway;
use crate::keystore::SecureKeyStore;
use crate::publication::{Polling, await_publication};
use crate::store::{CheckpointStore, StoreError};
use crate::trusted_log::TrustedLog;
use crate::verify::{LogIdentity, VerifyError};
use crate::witnessed::WitnessRequirement;

/// X's log as a [`LogIdentity`].
fn log_of(location: &Location) -> LogIdentity {
    LogIdentity::new(
        location.log().policy().log().clone(),
        location.log().algorithm(),
    )
}

fn status_name(s: &SenderStatus) -> &'static str {
    match s {
        SenderStatus::Sealed => "sealed",
        SenderStatus::AwaitingReceipt { .. } => "awaiting a receipt",
        SenderStatus::Published { .. } => "published",
        SenderStatus::Done => "done",
        SenderStatus::Lapsed { .. } => "lapsed",
    }
}

impl<K: SecureKeyStore, R: RecordStore> CertMail<K, R> {
    /// Step (c) over the network for the mail `msg_id`, once its publication is due
    /// ([`SenderStatus::Published`]: accepted, or an optimistic sender's timer ran): submits the
    /// leaf to `gateway`, a gateway of X (a `DUPLICATE` refusal means an earlier run logged
    /// it), asks for it until a lookup returns it in a checkpoint cosigned as X requires,
    /// proves that checkpoint consistent with the one `checkpoints` trusts for X, and gives it
    /// to [`CertMail::take_inclusion`]. Asks until `polling.until` or T + δ, whichever comes
    /// first; once T + δ has passed without proof the timer runs and the mail lapses.
    ///
    /// Returns the driver's steps: [`SenderStep::Evidence`] when proven,
    /// [`SenderStep::Lapsed`] when too late.
    pub async fn publish<G: Gateway, S: CheckpointStore>(
        &mut self,
        gateway: G,
        checkpoints: S,
        msg_id: &[u8],
        polling: &Polling,
    ) -> Result<Vec<SenderStep>, CertifiedMailError> {
        let (req_hash, leaf, limit) = match self.sender_status(msg_id, self.clock.now_secs())? {
            SenderStatus::Published {
                req_hash,
                leaf,
                limit,
            } => (req_hash, leaf, limit),
            SenderStatus::Lapsed { .. } => return self.sender_timer(msg_id, self.clock.now_secs()),
            other => {
                return Err(CertifiedMailError::WrongState {
                    id: hex_name(msg_id),
                    state: status_name(&other),
                    input: "publishing",
                });
            }
        };
        let request = self.sent_request(msg_id)?;
        let location = request.location();
        let mut log = TrustedLog::open(gateway, log_of(location), checkpoints)?
            .with_clock(self.clock.clone());
        log.require_cosigned(WitnessRequirement::new(
            location.log().policy().clone(),
            location.clock_skew(),
        ))?;
        match log.submit_encoded(leaf.clone()).await {
            Ok(_) => {}
            Err(ClientError::Refused(r)) if r.kind == pb::ClientErrorKind::Duplicate => {}
            Err(e) => return Err(e.into()),
        }
        // Poll through the whole second `limit` (T + δ still counts; the mail lapses only when
        // the clock reads past it), so a failed poll always ends in a lapse or a real error.
        let polling = Polling {
            until: polling.until.min(limit.saturating_add(1)),
            ..polling.clone()
        };
        let answer = match await_publication(
            log.gateway(),
            location,
            &req_hash,
            Some(&leaf),
            &polling,
            &*self.clock,
        )
        .await
        {
            Ok(answer) => answer,
            Err(e) if !e.is_peer_misbehaviour() && self.clock.now_secs() > limit => {
                return self.sender_timer(msg_id, self.clock.now_secs());
            }
            Err(e) => return Err(e.into()),
        };
        let included = location
            .log()
            .verify_logged(&answer)
            .map_err(|error| VerifyError::LeafNotProved {
                leaf: Box::new(answer.clone()),
                error,
            })
            .map_err(ClientError::from)?;
        log.adopt(included.checkpoint().clone()).await?;
        let now = self.clock.now_secs();
        match self.take_inclusion(&req_hash, answer, now) {
            // Cosigned, but after T + δ: it does not count, and the mail has lapsed.
            Err(CertifiedMailError::Refused(_)) if now > limit => self.sender_timer(msg_id, now),
            other => other,
        }
    }

    /// Step (d) over the network for the request `req_hash`: asks `gateway`, a gateway of X,
    /// for the publication until one verifies under X's witness policy (or `polling.until`),
    /// fetches the consistency proof between its checkpoint and the one `checkpoints` trusts
    /// for X, and gives both to [`CertMail::take_publication`] (which checks them, unwraps K,
    /// checks c_K, decrypts, and trusts the newer checkpoint). The request stays stored until
    /// [`CertMail::forget_request`].
    pub async fn fetch<G: Gateway>(
        &mut self,
        gateway: &G,
        req_hash: &[u8; 32],
        checkpoints: &impl CheckpointStore,
        polling: &Polling,
    ) -> Result<Opened, CertifiedMailError> {
        let request = self.stored_request(req_hash)?;
        let location = request.location();
        let answer =
            await_publication(gateway, location, req_hash, None, polling, &*self.clock).await?;
        // One reading of the trusted checkpoint for both the proof and the machine: another
        // process may move it meanwhile, and a proof for another size must not read as a
        // split view.
        let pinned = Pinned {
            origin: location.origin().to_owned(),
            note: checkpoints.load(location.origin())?,
            store: checkpoints,
        };
        let proof =
            consistency_with_trusted(gateway, location, &answer, pinned.note.as_deref()).await?;
        self.take_publication(req_hash, answer, &proof, &pinned, self.clock.now_secs())
    }
}

/// A checkpoint store whose checkpoint of `origin` reads as `note`, as read once; saves go
/// through to `store`.
struct Pinned<'a, S> {
    origin: String,
    note: Option<Vec<u8>>,
    store: &'a S,
}

impl<S: CheckpointStore> CheckpointStore for Pinned<'_, S> {
    fn load(&self, origin: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if origin == self.origin {
            return Ok(self.note.clone());
        }
        self.store.load(origin)
    }

    fn save(&self, checkpoint: &VerifiedCheckpoint) -> Result<(), StoreError> {
        self.store.save(checkpoint)
    }

    fn load_equivocation(
        &self,
        origin: &str,
    ) -> Result<Option<herald_proto::equivocation::Equivocation>, StoreError> {
        self.store.load_equivocation(origin)
    }

    fn save_equivocation(
        &self,
        origin: &str,
        proof: &herald_proto::equivocation::Equivocation,
    ) -> Result<(), StoreError> {
        self.store.save_equivocation(origin, proof)
    }
}

/// The consistency proof between `trusted` (the note of X's checkpoint the client trusts) and
/// `answer`'s checkpoint (smaller size to larger; empty when nothing is trusted yet or the
/// sizes are equal). Checking it is the recipient machine's job.
async fn consistency_with_trusted<G: Gateway>(
    gateway: &G,
    location: &Location,
    answer: &pb::IncludedLeaf,
    trusted: Option<&[u8]>,
) -> Result<Vec<Hash>, CertifiedMailError> {
    let Some(note) = trusted else {
        return Ok(Vec::new());
    };
    let log = log_of(location);
    let trusted = VerifiedCheckpoint::verify(note, log.verifier()).map_err(|error| {
        CertifiedMailError::UntrustedCheckpoint {
            origin: location.origin().to_owned(),
            error,
        }
    })?;
    // The answer passed `verify_publication_answer`, so its note parses.
    let received = herald_proto::note::SignedNote::parse(&answer.checkpoint)
        .ok()
        .and_then(|n| herald_proto::checkpoint::Checkpoint::parse_body(n.text()).ok())
        .map_or(0, |c| c.size);
    let (a, b) = (trusted.size(), received);
    if a == 0 || b == 0 || a == b {
        return Ok(Vec::new());
    }
    let (size1, size2) = (a.min(b), a.max(b));
    let proof = gateway.consistency(size1, size2).await?;
    if (proof.size1, proof.size2) != (size1, size2) {
        return Err(ClientError::from(VerifyError::AnswerMismatch {
            what: "consistency proof sizes",
            asked: format!("{size1} to {size2}"),
            answered: format!("{} to {}", proof.size1, proof.size2),
        })
        .into());
    }
    // A validated proof's hashes are 32 bytes each.
    Ok(proof
        .hashes
        .iter()
        .map(|h| Hash::try_from(h.as_slice()).unwrap_or_default())
        .collect())
}
