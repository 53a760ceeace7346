//! Submissions over the client protocol, one entry or a batch, answered in one round trip
//! (DESIGN §6): the acknowledgement carries everything the client needs to verify it without
//! asking again.
//!
//! In order, before anything changes:
//! 1. the peer's submission limits ([`super::SubmitLimiter`]): `RATE_LIMITED` with a retry time;
//! 2. the size the client trusts must not be past the log (`OUT_OF_RANGE` with the log's size):
//!    the log only grows, so the acknowledged tree is then larger than it;
//! 3. admission ([`Intake::submit`], [`Intake::submit_batch`]): each entry on its own.
//!
//! Then the entries are appended and flushed, and the answer is built from the flushed tree:
//! - one entry: `SubmitAck` with its RFC 9162 audit path in the checkpoint's tree and the
//!   consistency proof from the trusted size;
//! - a batch: `BatchAck` with each refused entry by position, the first index of the accepted
//!   ones (consecutive, in request order), one range proof of all of them
//!   (`merkle::range_proof`: about `3 log2 n` hashes whatever the batch's length, from which
//!   the client also rebuilds each entry's audit path) and the consistency proof.
//!
//! The proofs are read on the calling task: a few tiles from the page cache (each sealed tile's
//! checksum verified on every read) and O(log n) hashes, which costs less than handing the work
//! to a blocking thread and back (`docs/performance.md`).

use std::sync::Arc;
use std::time::Instant;

use herald_proto::wire::pb::{self, client_response};
use herald_proto::wire::{MAX_BATCH_REFUSAL_MESSAGE_BYTES, hash_list};
use libp2p::PeerId;

use super::{BatchOutcome, ClientService, Refusal, SubmitLimiter};
use crate::sequencer::{Ack, BatchAck};
use crate::store::{LogStore, ReadError};

/// The gateway's answer to a submission: the response, or why not.
type Answer = Result<client_response::Response, Refusal>;

impl ClientService {
    /// `SubmitEntry`: one entry, proved in its ack (see the module docs).
    pub(super) async fn submit(
        &self,
        peer: PeerId,
        entry: Vec<u8>,
        opening: Option<pb::PublicationOpening>,
        trusted_size: u64,
    ) -> Answer {
        let bytes = entry.len() as u64;
        self.admit_request(peer, 1, bytes, trusted_size)?;
        let ack = self.intake.submit_with_opening(entry, opening).await?;
        Ok(client_response::Response::Submitted(proved_ack(
            &self.store,
            ack,
            trusted_size,
        )?))
    }

    /// `SubmitBatch`: many entries, each admitted or refused on its own, the accepted ones
    /// proved together (see the module docs).
    pub(super) async fn submit_batch(
        &self,
        peer: PeerId,
        entries: Vec<Vec<u8>>,
        trusted_size: u64,
    ) -> Answer {
        let bytes = entries.iter().map(|e| e.len() as u64).sum();
        self.admit_request(peer, entries.len() as u64, bytes, trusted_size)?;
        let outcome = self.intake.submit_batch(entries).await?;
        Ok(client_response::Response::BatchSubmitted(proved_batch(
            &self.store,
            outcome,
            trusted_size,
        )?))
    }

    /// Steps 1 and 2 of the module docs.
    fn admit_request(
        &self,
        peer: PeerId,
        entries: u64,
        bytes: u64,
        trusted_size: u64,
    ) -> Result<(), Refusal> {
        limit(&self.limiter, peer, entries, bytes)?;
        let size = self.store.head_size();
        if trusted_size > size {
            return Err(Refusal::OutOfRange { size });
        }
        Ok(())
    }
}

fn limit(
    limiter: &Arc<SubmitLimiter>,
    peer: PeerId,
    entries: u64,
    bytes: u64,
) -> Result<(), Refusal> {
    limiter
        .take(peer, entries, bytes, Instant::now())
        .map_err(|retry_after| Refusal::Throttled { retry_after })
}

fn from_read(e: ReadError) -> Refusal {
    Refusal::Internal(format!("proving an appended entry failed: {e}"))
}

/// The consistency proof from `trusted_size` (0: none asked) to `size`.
fn consistency(
    store: &LogStore,
    trusted_size: u64,
    size: u64,
) -> Result<Option<pb::ConsistencyProof>, Refusal> {
    if trusted_size == 0 || trusted_size >= size {
        return Ok(None);
    }
    let hashes = store
        .consistency_proof(trusted_size, size)
        .map_err(from_read)?;
    Ok(Some(pb::ConsistencyProof::new(trusted_size, size, &hashes)))
}

/// The ack of one durable entry with its audit path and the consistency proof from
/// `trusted_size` (registrations pass 0). Takes the ack whole: its checkpoint note moves into
/// the answer instead of being copied once more per entry.
pub(super) fn proved_ack(
    store: &LogStore,
    ack: Ack,
    trusted_size: u64,
) -> Result<pb::SubmitAck, Refusal> {
    let path = store
        .inclusion_proof(ack.index, ack.size)
        .map_err(from_read)?;
    Ok(pb::SubmitAck {
        index: ack.index,
        leaf_hash: ack.leaf_hash.to_vec(),
        checkpoint: Some(pb::SignedCheckpoint {
            note: ack.checkpoint,
        }),
        inclusion: Some(pb::InclusionProof::new(ack.index, ack.size, &path)),
        consistency: consistency(store, trusted_size, ack.size)?,
    })
}

/// The answer to a batch: its refusals, and the range proof of its durable entries.
fn proved_batch(
    store: &LogStore,
    outcome: BatchOutcome,
    trusted_size: u64,
) -> Result<pb::BatchAck, Refusal> {
    let refused = outcome
        .refused
        .iter()
        .map(|(position, refusal)| pb::EntryRefusal {
            // Positions are below wire::MAX_BATCH_ENTRIES.
            position: *position as u32,
            error: Some(refusal.to_wire().cut(MAX_BATCH_REFUSAL_MESSAGE_BYTES)),
        })
        .collect();
    let Some(BatchAck {
        first,
        leaf_hashes,
        size,
        checkpoint,
    }) = outcome.ack
    else {
        return Ok(pb::BatchAck {
            first_index: 0,
            refused,
            checkpoint: None,
            range: None,
            consistency: None,
        });
    };
    let end = first + leaf_hashes.len() as u64;
    let hashes = store.range_proof(first, end, size).map_err(from_read)?;
    Ok(pb::BatchAck {
        first_index: first,
        refused,
        checkpoint: Some(pb::SignedCheckpoint { note: checkpoint }),
        range: Some(pb::RangeProof {
            begin: first,
            end,
            tree_size: size,
            hashes: hash_list(&hashes),
        }),
        consistency: consistency(store, trusted_size, size)?,
    })
}
