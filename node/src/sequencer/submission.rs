//! Submissions: what a caller hands the sequencer (one entry, or a batch appended together) and
//! the answer it gets back once the round is flushed.
//!
//! A submission holds 1 or more entries; the builder appends a submission's entries at
//! consecutive indexes of one round (never split across rounds), so a batch is proved by one
//! range of the tree. The pool is bounded by entries (`pool_max`, one permit per entry) and by
//! bytes (`pool_max_bytes`); both permits are held until the submission is answered. Leaf
//! hashes are computed here, on the caller's thread, not on the one sequencer thread.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use herald_proto::merkle::{Hash, LogHasher as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc, oneshot};

use super::{
    IndexValue, IndexWrite, LOW_DISK_RETRY_AFTER, MAX_INDEX_WRITES, SequencerHandle, SubmitError,
};
use crate::store::layout::{
    MAX_ENTRY_BYTES, MAX_INDEX_KEY_BYTES, MAX_INDEX_NAME_BYTES, MAX_INDEX_VALUE_BYTES,
};

/// An entry is durable and included in `checkpoint`: the log's signed promise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The index the entry was given.
    pub index: u64,
    /// Its leaf hash under the log's algorithm.
    pub leaf_hash: Hash,
    /// The size of the tree `checkpoint` signs.
    pub size: u64,
    /// The signed checkpoint note of the round that included it (the first that does).
    pub checkpoint: Vec<u8>,
}

/// A batch is durable: its entries have the indexes `first ..` in order, all included in
/// `checkpoint` (the first checkpoint that includes any of them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchAck {
    /// The index of the batch's first entry.
    pub first: u64,
    /// The entries' leaf hashes, in order.
    pub leaf_hashes: Vec<Hash>,
    /// The size of the tree `checkpoint` signs.
    pub size: u64,
    /// The signed checkpoint note of the round.
    pub checkpoint: Vec<u8>,
}

/// What the pipeline tells a submitter once its round is flushed.
#[derive(Debug)]
pub(crate) struct Appended {
    pub(crate) first: u64,
    pub(crate) size: u64,
    pub(crate) checkpoint: Vec<u8>,
}

pub(crate) type Reply = oneshot::Sender<Result<Appended, SubmitError>>;

/// Where a submitter hears of its round.
type Answer = oneshot::Receiver<Result<Appended, SubmitError>>;

/// One entry of a submission.
pub(crate) struct Item {
    pub(crate) entry: Vec<u8>,
    pub(crate) leaf: Hash,
    pub(crate) indexes: Vec<IndexWrite>,
}

/// A submission waiting in the pool: entries appended together.
pub(crate) struct Submission {
    pub(crate) items: Vec<Item>,
    pub(crate) reply: Reply,
    pub(crate) queued: Instant,
    /// Its bytes' share of `pool_max_bytes`, returned when it is answered.
    pub(crate) permit: OwnedSemaphorePermit,
    /// One `pool_max` slot per entry, returned with the bytes.
    pub(crate) slots: OwnedSemaphorePermit,
}

impl SequencerHandle {
    /// Appends `entry` (1 to 65535 bytes, not otherwise checked: callers validate entries).
    /// Returns when the entry is durable (flushed) and included in the returned checkpoint.
    ///
    /// A full pool answers `Busy` without waiting. Dropping the future does not withdraw an
    /// entry already queued.
    pub async fn submit(&self, entry: Vec<u8>) -> Result<Ack, SubmitError> {
        self.submit_with_indexes(entry, Vec::new()).await
    }

    /// [`submit`](Self::submit), writing `indexes` in the same atomic batch as the entry.
    pub async fn submit_with_indexes(
        &self,
        entry: Vec<u8>,
        indexes: Vec<IndexWrite>,
    ) -> Result<Ack, SubmitError> {
        self.enqueue(entry, indexes)?.await
    }

    /// Checks and queues a submission without waiting (Busy if the pool is full, or a bound
    /// is broken), and returns the future of its answer: what [`submit`](Self::submit) awaits.
    /// For callers that keep many submissions in flight, e.g. a task that queues a stream of
    /// entries and awaits their acks in order.
    pub fn enqueue(
        &self,
        entry: Vec<u8>,
        indexes: Vec<IndexWrite>,
    ) -> Result<PendingAck, SubmitError> {
        let (rx, mut leaves) = self.queue(vec![(entry, indexes)])?;
        Ok(PendingAck {
            reply: rx,
            leaf: leaves.pop().unwrap_or_default(),
        })
    }

    /// Appends `entries` (each with its index writes) at consecutive indexes of one round, in
    /// order; returns when they are durable. All or none: one entry out of bounds refuses the
    /// batch before anything is queued (callers refuse bad entries one by one before this).
    pub async fn submit_batch(
        &self,
        entries: Vec<(Vec<u8>, Vec<IndexWrite>)>,
    ) -> Result<BatchAck, SubmitError> {
        self.enqueue_batch(entries)?.await
    }

    /// [`submit_batch`](Self::submit_batch) without waiting: queues the batch and returns the
    /// future of its answer.
    pub fn enqueue_batch(
        &self,
        entries: Vec<(Vec<u8>, Vec<IndexWrite>)>,
    ) -> Result<PendingBatch, SubmitError> {
        let (rx, leaves) = self.queue(entries)?;
        Ok(PendingBatch { reply: rx, leaves })
    }

    /// Checks, hashes and queues one submission of `entries` (at least one).
    fn queue(
        &self,
        entries: Vec<(Vec<u8>, Vec<IndexWrite>)>,
    ) -> Result<(Answer, Vec<Hash>), SubmitError> {
        let inner = &self.inner;
        if entries.is_empty() {
            return Err(SubmitError::EntrySize { len: 0 });
        }
        let mut bytes = 0usize;
        for (entry, indexes) in &entries {
            if entry.is_empty() || entry.len() > MAX_ENTRY_BYTES {
                return Err(SubmitError::EntrySize { len: entry.len() });
            }
            bytes = bytes.saturating_add(entry.len() + check_indexes(indexes)?);
        }
        if inner.space.as_ref().is_some_and(|s| s.refuses()) {
            return Err(SubmitError::Busy {
                retry_after: LOW_DISK_RETRY_AFTER,
            });
        }
        let busy = SubmitError::Busy {
            retry_after: inner.retry_after,
        };
        // A submission larger than a whole bound takes all of it, so it is never refused for
        // good. Both bounds are at most u32::MAX (spawn clamps them).
        let slots = entries.len().min(inner.pool_max) as u32;
        let slots = acquire(&inner.pool_slots, slots, &busy)?;
        let permits = bytes.min(inner.pool_max_bytes) as u32;
        let permit = acquire(&inner.pool_bytes, permits, &busy)?;
        let items: Vec<Item> = entries
            .into_iter()
            .map(|(entry, indexes)| Item {
                leaf: inner.hasher.hash_leaf(&entry),
                entry,
                indexes,
            })
            .collect();
        let leaves = items.iter().map(|i| i.leaf).collect();
        let (reply, rx) = oneshot::channel();
        let submission = Submission {
            items,
            reply,
            queued: Instant::now(),
            permit,
            slots,
        };
        match inner.pool.try_send(submission) {
            Ok(()) => Ok((rx, leaves)),
            Err(mpsc::error::TrySendError::Full(_)) => Err(busy),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SubmitError::Stopped),
        }
    }
}

fn acquire(
    semaphore: &std::sync::Arc<Semaphore>,
    permits: u32,
    busy: &SubmitError,
) -> Result<OwnedSemaphorePermit, SubmitError> {
    match semaphore.clone().try_acquire_many_owned(permits) {
        Ok(p) => Ok(p),
        Err(TryAcquireError::NoPermits) => Err(busy.clone()),
        Err(TryAcquireError::Closed) => Err(SubmitError::Stopped),
    }
}

/// The answer to a queued submission: `Ack` once its round is flushed, or why not.
/// Dropping it does not withdraw the entry.
#[derive(Debug)]
#[must_use = "the entry is queued either way; this only tells whether it was appended"]
pub struct PendingAck {
    reply: Answer,
    leaf: Hash,
}

impl Future for PendingAck {
    type Output = Result<Ack, SubmitError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let leaf = self.leaf;
        // A dropped reply means the sequencer stopped before answering.
        Pin::new(&mut self.reply).poll(cx).map(|r| {
            let appended = r.unwrap_or(Err(SubmitError::Stopped))?;
            Ok(Ack {
                index: appended.first,
                leaf_hash: leaf,
                size: appended.size,
                checkpoint: appended.checkpoint,
            })
        })
    }
}

/// The answer to a queued batch: [`BatchAck`] once its round is flushed, or why not.
#[derive(Debug)]
#[must_use = "the batch is queued either way; this only tells whether it was appended"]
pub struct PendingBatch {
    reply: Answer,
    leaves: Vec<Hash>,
}

impl Future for PendingBatch {
    type Output = Result<BatchAck, SubmitError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        Pin::new(&mut this.reply).poll(cx).map(|r| {
            let appended = r.unwrap_or(Err(SubmitError::Stopped))?;
            Ok(BatchAck {
                first: appended.first,
                leaf_hashes: std::mem::take(&mut this.leaves),
                size: appended.size,
                checkpoint: appended.checkpoint,
            })
        })
    }
}

/// Checks index writes against the bounds; returns the bytes they hold.
fn check_indexes(indexes: &[IndexWrite]) -> Result<usize, SubmitError> {
    let invalid = |reason| Err(SubmitError::InvalidIndexWrite { reason });
    if indexes.len() > MAX_INDEX_WRITES {
        return invalid("more than 16 index writes");
    }
    let mut bytes = 0;
    for w in indexes {
        if w.name.is_empty() || w.name.len() > MAX_INDEX_NAME_BYTES {
            return invalid("index name must be 1 to 64 bytes");
        }
        if w.key.len() > MAX_INDEX_KEY_BYTES {
            return invalid("index key is over 1024 bytes");
        }
        let value = match &w.value {
            IndexValue::LeafIndex | IndexValue::LeafList => 8,
            IndexValue::Bytes(v) if v.len() > MAX_INDEX_VALUE_BYTES => {
                return invalid("index value is over 4096 bytes");
            }
            IndexValue::Bytes(v) => v.len(),
        };
        bytes += w.name.len() + w.key.len() + value;
    }
    Ok(bytes)
}
