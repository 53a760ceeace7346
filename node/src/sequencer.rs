//! The sequencer: the one writer of the log.
//!
//! Submissions enter a bounded pool (at most `pool_max` entries and `pool_max_bytes` bytes not
//! yet acknowledged; beyond that [`SubmitError::Busy`] at once). The submitting task computes
//! the entry's leaf hash, so the work that grows with entry size runs on the callers' threads.
//! Every `sequence_interval`, or as soon as `batch_max` entries wait (or at least
//! `EARLY_ROUND_ENTRIES`, 1024, with nothing more ready and the builder free), a batch is taken
//! from the pool and goes down a pipeline, so hashing the next round overlaps with flushing this
//! one:
//!
//! 1. **collect** (async task): drains the pool into batches; owns shutdown.
//! 2. **build** (blocking thread): assigns indexes, appends to the in-memory right edge, builds
//!    bundles and tiles, signs the checkpoint, and makes ONE sled batch of it all (entries,
//!    hashes, secondary-index writes, size, root, checkpoint, time).
//! 3. **write** (blocking thread): applies that batch, **flushes**, and publishes the new head
//!    to readers and on [`SequencerHandle::latest`];
//! 4. **acknowledge** (blocking thread): only then answers each submitter of the round.
//!
//! So a crash leaves the log at the previous round or the new one (sled recovers a batch
//! atomically), and never loses an acknowledged entry.
//!
//! Rules kept here:
//! - The tree never shrinks and the checkpoint never goes back: sizes only grow, one round at a
//!   time, from the stored head; an empty round signs nothing.
//! - The clock must not go backwards (DESIGN §2): meta keeps the wall-clock time of the last
//!   checkpoint. If the clock reads earlier, the round waits — nothing is signed, its
//!   submitters keep waiting, the pool fills and answers Busy — and an error is logged (at once
//!   and every 10 s) until the clock reaches that time again. This holds across restarts.
//! - A failed write or flush is fatal: that round's submitters (and any round built on it) get
//!   [`SubmitError::Storage`], the others [`SubmitError::Stopped`], the task ends with
//!   [`SequencerError::Write`], and the store refuses another sequencer until it is reopened
//!   (sled's state after a failed flush is unknown; a restart recovers the last durable round).
//! - Shutdown ([`SequencerHandle::shutdown`], or every handle dropped): the batches already
//!   taken from the pool are finished, flushed and acknowledged; what is still in the pool is
//!   answered `Stopped`.
//! - A nearly full disk ([`SequencerConfig::space`], `store::space`): while it is below its
//!   refusal threshold every new submission is answered `Busy` at once, and a batch already
//!   taken is answered `Busy` instead of being written, so a write rarely meets ENOSPC.
//!
//! [`SequencerHandle::status`] tells `/health` about a failed write and a clock that is behind.

mod pipeline;
mod status;
mod submission;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use herald_proto::checkpoint::{Checkpoint, CheckpointError, VerifiedCheckpoint};
use herald_proto::merkle::AnyHasher;
use herald_proto::note::NoteSigner;
use prometheus_client::registry::Registry;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::store::layout::MAX_ENTRY_BYTES;
use crate::store::{DiskSpace, LogStore, ReadError, RoundWriter, WriteError, WriterRefused};

pub use crate::store::LogHead;
use pipeline::{Metrics, Pipeline};
pub use status::SequencerStatus;
pub(crate) use submission::Submission;
pub use submission::{Ack, BatchAck, PendingAck, PendingBatch};

/// Default time between rounds when the pool is not full enough for a batch.
pub const DEFAULT_SEQUENCE_INTERVAL: Duration = Duration::from_millis(250);
/// Default largest batch (entries per round).
pub const DEFAULT_BATCH_MAX: usize = 4096;
/// Default pool size in entries.
pub const DEFAULT_POOL_MAX: usize = 65536;
/// Default pool size in bytes of entries (and index writes) not yet acknowledged.
pub const DEFAULT_POOL_MAX_BYTES: usize = 256 * 1024 * 1024;
/// Most secondary-index writes one submission may carry.
pub const MAX_INDEX_WRITES: usize = 16;
/// When a submission refused for a nearly full disk may be retried.
pub const LOW_DISK_RETRY_AFTER: Duration = Duration::from_secs(5);

/// How the sequencer batches and bounds its pool.
#[derive(Clone)]
pub struct SequencerConfig {
    /// Longest time a submission waits for its batch to start (the round timer).
    pub sequence_interval: Duration,
    /// Most entries per round; a round starts at once when this many wait.
    pub batch_max: usize,
    /// Most entries waiting in the pool.
    pub pool_max: usize,
    /// Most bytes of submissions accepted and not yet answered (bounds memory whatever the
    /// entry sizes); at least one largest entry.
    pub pool_max_bytes: usize,
    /// The wall clock checkpoints are timed with.
    pub clock: Arc<dyn Clock>,
    /// The watched free space of the log's disk: below its refusal threshold, submissions are
    /// answered `Busy` (none: never refused for space).
    pub space: Option<Arc<DiskSpace>>,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            sequence_interval: DEFAULT_SEQUENCE_INTERVAL,
            batch_max: DEFAULT_BATCH_MAX,
            pool_max: DEFAULT_POOL_MAX,
            pool_max_bytes: DEFAULT_POOL_MAX_BYTES,
            clock: Arc::new(SystemClock),
            space: None,
        }
    }
}

impl fmt::Debug for SequencerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequencerConfig")
            .field("sequence_interval", &self.sequence_interval)
            .field("batch_max", &self.batch_max)
            .field("pool_max", &self.pool_max)
            .field("pool_max_bytes", &self.pool_max_bytes)
            .field("space", &self.space)
            .finish_non_exhaustive()
    }
}

/// Why a submission was not appended (or, for `Storage`, not acknowledged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The pool is full, or the log's disk nearly is; nothing was queued. Retry after
    /// `retry_after`.
    #[error("the log is busy; retry after {retry_after:?}")]
    Busy {
        /// When a retry may find room (one round interval).
        retry_after: Duration,
    },
    /// The sequencer is shutting down or has stopped; the entry was not appended.
    #[error("the sequencer has stopped")]
    Stopped,
    /// Writing the entry's round failed. It was not acknowledged and may or may not be in the
    /// log after a restart; the sequencer has stopped.
    #[error("the log could not write the entry")]
    Storage,
    /// The entry is empty or longer than the bundle format's 65535 bytes.
    #[error("entry is {len} bytes; entries are 1 to 65535 bytes")]
    EntrySize {
        /// Its length.
        len: usize,
    },
    /// The log holds its maximum number of entries (2^48).
    #[error("the log is full")]
    LogFull,
    /// A secondary-index write is out of bounds (`reason` says which).
    #[error("invalid index write: {reason}")]
    InvalidIndexWrite {
        /// What is wrong.
        reason: &'static str,
    },
}

/// A secondary-index write that becomes durable in the same atomic batch as its entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexWrite {
    /// The index, e.g. `"req_hash"`: 1 to 64 bytes, fixed in code.
    pub name: &'static str,
    /// The key within the index, at most 1024 bytes. A later write of the same key replaces it.
    pub key: Vec<u8>,
    /// What to store.
    pub value: IndexValue,
}

/// The value of an [`IndexWrite`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexValue {
    /// The index the entry is given (u64 BE), read back with [`LogStore::index_leaf`].
    LeafIndex,
    /// These bytes (at most 4096).
    Bytes(Vec<u8>),
    /// No value: the entry's index joins the list of leaves under `key` (the stored key is
    /// `key`'s u16 BE length ‖ `key` ‖ u64 BE index, `store::layout::leaf_list_key`), so a key
    /// can name many leaves and an earlier one is never replaced. Read back in index order with
    /// [`LogStore::index_leaves`]. A name is used either for lists or for single values.
    LeafList,
}

/// Why the sequencer could not start, or why it stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SequencerError {
    /// Another sequencer writes to this store.
    #[error("a sequencer is already running on this log")]
    AlreadyRunning,
    /// A write to this store failed earlier; reopen it to recover the last durable round.
    #[error("a write to this log failed earlier; reopen the store")]
    StoreFailed,
    /// The signing key's name is not the log's origin.
    #[error("the signing key is named {key_name:?}, the log's origin is {origin:?}")]
    KeyMismatch {
        /// The key's name.
        key_name: String,
        /// The log's origin.
        origin: String,
    },
    /// The stored checkpoint does not verify with this signing key (wrong key file?).
    #[error("the stored checkpoint is not signed by this key")]
    CheckpointKey(#[source] CheckpointError),
    /// The configuration is unusable (`0` sizes, a byte bound below one entry).
    #[error("invalid sequencer configuration: {0}")]
    InvalidConfig(&'static str),
    /// Not called inside a Tokio runtime.
    #[error("the sequencer must be spawned inside a Tokio runtime")]
    NoRuntime,
    /// Reading the stored log failed.
    #[error("reading the log failed")]
    Read(#[from] ReadError),
    /// Writing a round failed (fatal; see the module docs).
    #[error("writing the log failed")]
    Write(#[from] WriteError),
    /// Signing a checkpoint failed.
    #[error("signing a checkpoint failed")]
    Sign(#[source] CheckpointError),
    /// A sequencer thread panicked.
    #[error("a sequencer thread panicked")]
    Panicked,
}

struct HandleShared {
    pool: mpsc::Sender<Submission>,
    /// One permit per entry waiting or being appended (`pool_max`).
    pool_slots: Arc<Semaphore>,
    pool_max: usize,
    pool_bytes: Arc<Semaphore>,
    pool_max_bytes: usize,
    hasher: AnyHasher,
    shutdown: watch::Sender<bool>,
    stopping: Arc<AtomicBool>,
    head: watch::Receiver<LogHead>,
    retry_after: Duration,
    space: Option<Arc<DiskSpace>>,
    status: SequencerStatus,
}

/// The cloneable handle to the sequencer: submit entries, watch the head, stop it.
#[derive(Clone)]
pub struct SequencerHandle {
    inner: Arc<HandleShared>,
}

impl fmt::Debug for SequencerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequencerHandle")
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl SequencerHandle {
    /// The latest flushed head; `changed()` fires after every round.
    pub fn latest(&self) -> watch::Receiver<LogHead> {
        self.inner.head.clone()
    }

    /// What `/health` reports of the sequencer: a failed write, a clock that is behind.
    pub fn status(&self) -> SequencerStatus {
        self.inner.status.clone()
    }

    /// Asks the sequencer to stop: batches already taken are finished and flushed, the pool is
    /// answered `Stopped`. Returns at once; await the task's `JoinHandle` to know it is done.
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        self.inner.shutdown.send_replace(true);
    }

    /// Whether the sequencer still takes submissions (false after shutdown or a fatal error).
    pub fn is_running(&self) -> bool {
        !self.inner.pool.is_closed() && !self.inner.stopping.load(Ordering::Acquire)
    }
}

/// The sequencer task's entry points (it has no state of its own outside the task).
#[derive(Debug)]
pub enum Sequencer {}

/// What [`Sequencer::spawn`] returns: the handle, and the task that ends with its outcome.
pub type Spawned = (SequencerHandle, JoinHandle<Result<(), SequencerError>>);

impl Sequencer {
    /// Starts the sequencer of `store`, signing with `signer` (named as the log's origin), and
    /// registers its metrics in `registry`. Must be called inside a Tokio runtime; does
    /// O(log n) reads, and for a log never signed, writes and flushes its empty checkpoint.
    pub fn spawn(
        store: LogStore,
        signer: NoteSigner,
        config: SequencerConfig,
        registry: &mut Registry,
    ) -> Result<Spawned, SequencerError> {
        let writer: Arc<dyn RoundWriter> = Arc::new(store.clone());
        Self::spawn_with_writer(store, writer, signer, config, registry)
    }

    /// [`spawn`](Self::spawn), writing rounds through `writer` (a wrapper of `store`, e.g. one
    /// that injects failures in tests).
    pub fn spawn_with_writer(
        store: LogStore,
        writer: Arc<dyn RoundWriter>,
        signer: NoteSigner,
        config: SequencerConfig,
        registry: &mut Registry,
    ) -> Result<Spawned, SequencerError> {
        check_config(&config)?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| SequencerError::NoRuntime)?;
        if signer.name() != store.origin() {
            return Err(SequencerError::KeyMismatch {
                key_name: signer.name().to_owned(),
                origin: store.origin().to_owned(),
            });
        }
        store.claim_writer().map_err(|r| match r {
            WriterRefused::Taken => SequencerError::AlreadyRunning,
            WriterRefused::Failed => SequencerError::StoreFailed,
        })?;
        let prepared = prepare(&store, writer.as_ref(), &signer, config.clock.as_ref());
        let (head, appender) = match prepared {
            Ok(p) => p,
            Err(e) => {
                store.release_writer();
                return Err(e);
            }
        };

        let (pool_tx, pool_rx) = mpsc::channel(config.pool_max);
        let pool_max_bytes = config
            .pool_max_bytes
            .min(Semaphore::MAX_PERMITS)
            .min(u32::MAX as usize);
        let pool_bytes = Arc::new(Semaphore::new(pool_max_bytes));
        let pool_max = config.pool_max.min(Semaphore::MAX_PERMITS);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (head_tx, head_rx) = watch::channel(head.clone());
        let stopping = Arc::new(AtomicBool::new(false));
        let metrics = Metrics::register(registry, head.size);
        let status = SequencerStatus::new(config.clock.clone(), head.time_ms);
        registry.register_collector(Box::new(status::ClockCollector(status.clone())));
        let handle = SequencerHandle {
            inner: Arc::new(HandleShared {
                pool: pool_tx,
                pool_slots: Arc::new(Semaphore::new(pool_max)),
                pool_max,
                pool_bytes,
                pool_max_bytes,
                hasher: store.hasher(),
                shutdown: shutdown_tx,
                stopping: stopping.clone(),
                head: head_rx,
                retry_after: config.sequence_interval.max(Duration::from_millis(10)),
                space: config.space.clone(),
                status: status.clone(),
            }),
        };
        let pipeline = Pipeline {
            store,
            writer,
            signer,
            clock: config.clock.clone(),
            interval: config.sequence_interval,
            batch_max: config.batch_max,
            last_time: head.time_ms,
            appender,
            metrics,
            stopping,
            heads: head_tx,
            space: config.space.clone(),
            status,
        };
        let task = runtime.spawn(pipeline.run(pool_rx, shutdown_rx));
        Ok((handle, task))
    }
}

fn check_config(c: &SequencerConfig) -> Result<(), SequencerError> {
    if c.batch_max == 0 {
        return Err(SequencerError::InvalidConfig(
            "batch_max must be at least 1",
        ));
    }
    if c.pool_max == 0 {
        return Err(SequencerError::InvalidConfig("pool_max must be at least 1"));
    }
    if c.pool_max_bytes < MAX_ENTRY_BYTES {
        return Err(SequencerError::InvalidConfig(
            "pool_max_bytes must hold at least one 65535-byte entry",
        ));
    }
    Ok(())
}

/// Checks the stored checkpoint against the key, or signs and flushes the empty log's first
/// checkpoint; then loads the right edge.
fn prepare(
    store: &LogStore,
    writer: &dyn RoundWriter,
    signer: &NoteSigner,
    clock: &dyn Clock,
) -> Result<(LogHead, crate::store::Appender), SequencerError> {
    let mut head = store.head();
    if head.checkpoint.is_empty() {
        if head.size != 0 {
            return Err(ReadError::corrupt("a non-empty log has no checkpoint").into());
        }
        let cp = Checkpoint {
            origin: store.origin().to_owned(),
            size: 0,
            root: head.root,
        };
        let note = cp.sign(signer).map_err(SequencerError::Sign)?;
        head = LogHead {
            size: 0,
            root: head.root,
            checkpoint: note.to_string().into_bytes(),
            // No earlier checkpoint exists, so any reading of the clock keeps the rule.
            time_ms: clock.now_ms(),
        };
        let mut appender = store.appender()?;
        let round = appender.round().finish(&head);
        writer.apply(round)?;
        writer.flush()?;
        store.publish(head.clone(), &[]);
    } else {
        let verified = VerifiedCheckpoint::verify(&head.checkpoint, &signer.verifier())
            .map_err(SequencerError::CheckpointKey)?;
        if verified.size() != head.size || *verified.root() != head.root {
            return Err(ReadError::corrupt(
                "stored checkpoint is not for the stored size and root",
            )
            .into());
        }
    }
    Ok((head, store.appender()?))
}
