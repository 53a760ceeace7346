//! The network steps of certified mail, between the driver and a gateway of X: the sender
//! publishes (step (c)) and the recipient fetches (step (d)).
//!
//! Both ask the gateway until proto's classifier proves the answer under X's own witness policy
//! ([`crate::publication::publication_answer`]: one check per answer) and give the proven
//! publication to the state machine, which does not check it again. The sender adopts the
//! proven checkpoint first (one consistency proof with the last one trusted for X); the
//! recipient's machine judges that consistency itself and returns the checkpoint to trust. They
//! read the driver's clock (the system's unless [`CertMail::with_clock`] set another): waiting
//! for cosignatures needs one.

use herald_proto::certmail::{Location, publication_opening};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::inclusion::LogTrust;
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
use crate::verify::VerifyError;

/// X's log as the client follows it: X's key, hash and witness policy, counting cosignatures
/// up to δ ahead of the clock (X's own rule).
fn log_of(location: &Location) -> LogTrust {
    location.log().clone().with_max_skew(location.clock_skew())
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
    /// it; the acknowledgement's uncosigned checkpoint proves nothing a publication needs, so
    /// it is not checked), asks for it until a lookup proves it in a checkpoint cosigned as X
    /// requires, proves that checkpoint consistent with the one `checkpoints` trusts for X, and
    /// gives the proven publication to [`CertMail::take_proven_inclusion`]. Asks until `polling.until` or T + δ, whichever comes
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
        // The leaf is sealed (DESIGN §3.4): the gateway is shown who wrote it beside it.
        let me = self.account()?;
        let opening = publication_opening(&request, me.key.to_bytes())?;
        let mut log = TrustedLog::open(gateway, log_of(location), checkpoints)?
            .with_clock(self.clock.clone());
        match log.send_with_opening(leaf.clone(), Some(opening)).await {
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
        let proven = match await_publication(
            log.gateway(),
            location,
            &req_hash,
            Some(&leaf),
            &polling,
            &*self.clock,
        )
        .await
        {
            Ok(proven) => proven,
            Err(e) if !e.is_peer_misbehaviour() && self.clock.now_secs() > limit => {
                return self.sender_timer(msg_id, self.clock.now_secs());
            }
            Err(e) => return Err(e.into()),
        };
        log.adopt_cosigned(proven.checkpoint().checkpoint().clone())
            .await?;
        let now = self.clock.now_secs();
        match self.take_proven_inclusion(proven, now) {
            // Cosigned, but after T + δ: it does not count, and the mail has lapsed.
            Err(CertifiedMailError::Refused(_)) if now > limit => self.sender_timer(msg_id, now),
            other => other,
        }
    }

    /// Step (d) over the network for the request `req_hash`: asks `gateway`, a gateway of X,
    /// for the publication until one is proven under X's witness policy (or `polling.until`),
    /// fetches the consistency proof between its checkpoint and the one `checkpoints` trusts
    /// for X, and gives both to [`CertMail::take_proven_publication`] (which judges the
    /// consistency, unwraps K, checks c_K, decrypts, and trusts the newer checkpoint). The request stays stored until
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
        let proven =
            await_publication(gateway, location, req_hash, None, polling, &*self.clock).await?;
        // One reading of the trusted checkpoint for both the proof and the machine: another
        // process may move it meanwhile, and a proof for another size must not read as a
        // split view.
        let pinned = Pinned {
            origin: location.origin().to_owned(),
            note: checkpoints.load(location.origin())?,
            store: checkpoints,
        };
        let size = proven.checkpoint().checkpoint().size();
        let proof =
            consistency_with_trusted(gateway, location, size, pinned.note.as_deref()).await?;
        self.take_proven_publication(proven, &proof, &pinned, self.clock.now_secs())
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
/// the proven checkpoint of `received` leaves (smaller size to larger; empty when nothing is
/// trusted yet or the sizes are equal). Checking it is the recipient machine's job.
async fn consistency_with_trusted<G: Gateway>(
    gateway: &G,
    location: &Location,
    received: u64,
    trusted: Option<&[u8]>,
) -> Result<Vec<Hash>, CertifiedMailError> {
    let Some(note) = trusted else {
        return Ok(Vec::new());
    };
    let trusted = location.log().verify_checkpoint(note).map_err(|error| {
        CertifiedMailError::UntrustedCheckpoint {
            origin: location.origin().to_owned(),
            error,
        }
    })?;
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
        .map(|h| Hash::try_from(h.as_ref()).unwrap_or_default())
        .collect())
}
