//! The sequencer's stages: collect (async), then build, write and acknowledge (blocking
//! threads).
//!
//! Batches flow collect → build over a Tokio channel of one, rounds flow build → write over a
//! std channel of one, so one round is hashed while the previous one is flushed; flushed rounds
//! flow write → acknowledge, so answering a round's submitters overlaps with writing the next.
//! Every submission is answered exactly once: `Ack` after its round's flush, or an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use herald_proto::checkpoint::Checkpoint;
use herald_proto::merkle::Hash;
use herald_proto::note::NoteSigner;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::{Notify, OwnedSemaphorePermit, mpsc, watch};
use tracing::{error, info};

use super::status::{SequencerStatus, chain};
use super::submission::{Appended, Reply};
use super::{IndexValue, LOW_DISK_RETRY_AFTER, LogHead, SequencerError, Submission, SubmitError};
use crate::clock::Clock;
use crate::store::layout::{MAX_LOG_SIZE, leaf_list_key};
use crate::store::{
    Appender, DiskSpace, LogStore, RoundBatch, RoundWriter, SpaceState, WriteError,
};

/// Entries from which a round starts before its interval has passed, as soon as the pool has
/// nothing more ready and the builder can take the round (1024: a quarter of the default
/// `batch_max`; a batch submission of this size is answered after its own round's flush
/// instead of waiting for others to fill one of `batch_max`). Below `batch_max` only.
pub(crate) const EARLY_ROUND_ENTRIES: usize = 1024;

/// How often a clock that is behind is reported while the sequencer waits for it.
const CLOCK_LOG_EVERY: Duration = Duration::from_secs(10);

/// The sequencer's metrics (cheap clones of shared atomics).
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    appends: Counter,
    batch_size: Histogram,
    batch_latency: Histogram,
    pool_depth: Gauge,
    tree_size: Gauge,
    write_failures: Counter,
}

impl Metrics {
    pub(crate) fn register(registry: &mut Registry, size: u64) -> Self {
        let m = Metrics {
            appends: Counter::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            batch_latency: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            pool_depth: Gauge::default(),
            tree_size: Gauge::default(),
            write_failures: Counter::default(),
        };
        m.tree_size.set(i64::try_from(size).unwrap_or(i64::MAX));
        registry.register(
            "herald_log_appends",
            "Entries appended to the log and acknowledged",
            m.appends.clone(),
        );
        registry.register(
            "herald_log_batch_size",
            "Entries per sequencing round",
            m.batch_size.clone(),
        );
        registry.register(
            "herald_log_batch_latency_seconds",
            "Time from a round's oldest submission entering the pool to its acknowledgement",
            m.batch_latency.clone(),
        );
        registry.register(
            "herald_log_pool_depth",
            "Submissions waiting in the sequencer's pool",
            m.pool_depth.clone(),
        );
        registry.register(
            "herald_log_tree_size",
            "Entries in the log at its latest flushed checkpoint",
            m.tree_size.clone(),
        );
        registry.register(
            "herald_log_write_failures",
            "Rounds that failed to write (each stops the sequencer; see /health)",
            m.write_failures.clone(),
        );
        m
    }
}

/// A submission appended in a round (its entries from `first` on), waiting for the flush.
struct Pending {
    reply: Reply,
    first: u64,
}

/// The answers a round owes, and its entries' share of the pool's bounds (merged into one
/// permit each, held until they are answered).
struct Owed {
    pending: Vec<Pending>,
    /// Entries in the round.
    entries: usize,
    permit: Option<OwnedSemaphorePermit>,
    slots: Option<OwnedSemaphorePermit>,
    oldest: Instant,
}

impl Owed {
    fn fail(self, e: SubmitError) {
        drop(self.permit);
        drop(self.slots);
        for p in self.pending {
            let _ = p.reply.send(Err(e.clone()));
        }
    }
}

/// Adds `permit` to the round's merged permit.
fn merge(into: &mut Option<OwnedSemaphorePermit>, permit: OwnedSemaphorePermit) {
    match into {
        Some(p) => p.merge(permit),
        None => *into = Some(permit),
    }
}

/// A round built and not yet written.
struct Built {
    batch: RoundBatch,
    head: LogHead,
    leaves: Vec<Hash>,
    owed: Owed,
}

/// A round flushed and published, whose submitters are still to hear of it.
struct Flushed {
    size: u64,
    checkpoint: Vec<u8>,
    owed: Owed,
}

// Answers return the pool's bytes first, so a submitter that hears back finds them free.

pub(crate) fn answer(s: Submission, e: SubmitError) {
    let Submission {
        reply,
        permit,
        slots,
        ..
    } = s;
    drop(permit);
    drop(slots);
    let _ = reply.send(Err(e));
}

fn answer_all(batch: Vec<Submission>, e: SubmitError) {
    for s in batch {
        answer(s, e.clone());
    }
}

/// Everything the running sequencer owns.
pub(crate) struct Pipeline {
    pub(crate) store: LogStore,
    pub(crate) writer: Arc<dyn RoundWriter>,
    pub(crate) signer: NoteSigner,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) interval: Duration,
    pub(crate) batch_max: usize,
    /// Time of the last signed checkpoint (ms since the Unix epoch).
    pub(crate) last_time: u64,
    pub(crate) appender: Appender,
    pub(crate) metrics: Metrics,
    /// Set by `shutdown()` and by the collector when it stops; read by a builder waiting for
    /// the clock.
    pub(crate) stopping: Arc<AtomicBool>,
    pub(crate) heads: watch::Sender<LogHead>,
    pub(crate) space: Option<Arc<DiskSpace>>,
    pub(crate) status: SequencerStatus,
}

/// Why the collector stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Shutdown,
    Failed,
}

impl Pipeline {
    /// Runs the three stages until shutdown or a fatal error; returns the outcome.
    pub(crate) async fn run(
        self,
        pool: mpsc::Receiver<Submission>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), SequencerError> {
        let (batch_tx, batch_rx) = mpsc::channel::<Vec<Submission>>(1);
        let (round_tx, round_rx) = std::sync::mpsc::sync_channel::<Built>(1);
        let (ack_tx, ack_rx) = std::sync::mpsc::sync_channel::<Flushed>(2);
        let failed = Arc::new(Notify::new());
        let store = self.store.clone();

        let builder = Builder {
            appender: self.appender,
            signer: self.signer,
            origin: store.origin().to_owned(),
            clock: self.clock,
            last_time: self.last_time,
            stopping: self.stopping.clone(),
            failed: failed.clone(),
            space: self.space,
            status: self.status.clone(),
        };
        let build = tokio::task::spawn_blocking(move || builder.run(batch_rx, round_tx));
        let writer = Writer {
            store: store.clone(),
            writer: self.writer,
            heads: self.heads,
            metrics: self.metrics.clone(),
            failed: failed.clone(),
            status: self.status,
        };
        let write = tokio::task::spawn_blocking(move || writer.run(round_rx, ack_tx));
        let metrics = self.metrics.clone();
        let acknowledge = tokio::task::spawn_blocking(move || acknowledge(ack_rx, &metrics));

        let collector = Collector {
            batches: batch_tx,
            failed,
            stopping: self.stopping,
            interval: self.interval,
            batch_max: self.batch_max,
            metrics: self.metrics,
        };
        collector.run(pool, shutdown).await;

        let (built, written, acked) = (build.await, write.await, acknowledge.await);
        let result = match (written, built) {
            _ if acked.is_err() => Err(SequencerError::Panicked),
            (Err(_), _) | (_, Err(_)) => Err(SequencerError::Panicked),
            (Ok(Err(e)), _) => Err(SequencerError::Write(e)),
            (Ok(Ok(())), Ok(r)) => r,
        };
        if matches!(result, Err(SequencerError::Panicked)) {
            // A stage died mid-round: what is applied is unknown. Reopen to write again.
            store.fail_writer();
        }
        // No-op after a failed write (the store stays refused until reopened).
        store.release_writer();
        match &result {
            Ok(()) => info!(size = store.head().size, "sequencer stopped"),
            Err(e) => error!(error = %e, "sequencer stopped on an error"),
        }
        result
    }
}

/// Stage 1: drains the pool into batches.
struct Collector {
    batches: mpsc::Sender<Vec<Submission>>,
    failed: Arc<Notify>,
    stopping: Arc<AtomicBool>,
    interval: Duration,
    batch_max: usize,
    metrics: Metrics,
}

impl Collector {
    async fn run(self, mut pool: mpsc::Receiver<Submission>, mut shutdown: watch::Receiver<bool>) {
        let mut buf: Vec<Submission> = Vec::new();
        let stop = loop {
            if self.stopping.load(Ordering::Acquire) {
                break Stop::Shutdown;
            }
            // Wait for the first submission of the next batch.
            let mut entries = 0;
            tokio::select! {
                biased;
                () = self.failed.notified() => break Stop::Failed,
                _ = shutdown.wait_for(|s| *s) => break Stop::Shutdown,
                first = pool.recv() => match first {
                    Some(s) => {
                        entries += s.items.len();
                        buf.push(s);
                    }
                    None => break Stop::Shutdown,
                },
            }
            // Fill it until the interval has passed since then, or it holds `batch_max`
            // entries (a submission is never split, so a round may hold one batch more), or it
            // holds EARLY_ROUND_ENTRIES, nothing more waits and the builder can take it now: a
            // round that full is worth its checkpoint and flush, and its submitters are not
            // kept waiting for a pool that is not filling (each still answered after the flush).
            let deadline = tokio::time::Instant::now() + self.interval;
            let mut stop = None;
            let mut early = None;
            while entries < self.batch_max && stop.is_none() {
                // Take what is there without waiting, one submission at a time.
                match pool.try_recv() {
                    Ok(s) => {
                        entries += s.items.len();
                        buf.push(s);
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        stop = Some(Stop::Shutdown);
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => {}
                }
                tokio::select! {
                    biased;
                    () = self.failed.notified() => stop = Some(Stop::Failed),
                    _ = shutdown.wait_for(|s| *s) => stop = Some(Stop::Shutdown),
                    () = tokio::time::sleep_until(deadline) => break,
                    next = pool.recv() => match next {
                        Some(s) => {
                            entries += s.items.len();
                            buf.push(s);
                        }
                        None => stop = Some(Stop::Shutdown),
                    },
                    permit = self.batches.reserve(), if entries >= EARLY_ROUND_ENTRIES => {
                        match permit {
                            Ok(permit) => {
                                early = Some(permit);
                                break;
                            }
                            Err(_) => stop = Some(Stop::Failed),
                        }
                    }
                }
            }
            self.metrics
                .pool_depth
                .set(i64::try_from(pool.len()).unwrap_or(i64::MAX));
            if stop.is_some() {
                // A builder waiting for the clock must learn now, not after this batch.
                self.stopping.store(true, Ordering::Release);
            }
            if stop == Some(Stop::Failed) {
                break Stop::Failed;
            }
            // Shutdown still finishes the batch already taken: it goes down the pipeline.
            let permit = if let Some(permit) = early {
                permit
            } else {
                tokio::select! {
                    biased;
                    () = self.failed.notified() => break Stop::Failed,
                    p = self.batches.reserve() => match p {
                        Ok(p) => p,
                        Err(_) => break Stop::Failed,
                    },
                }
            };
            permit.send(std::mem::take(&mut buf));
            if let Some(stop) = stop {
                break stop;
            }
        };
        self.stopping.store(true, Ordering::Release);
        pool.close();
        answer_all(std::mem::take(&mut buf), SubmitError::Stopped);
        while let Ok(s) = pool.try_recv() {
            answer(s, SubmitError::Stopped);
        }
        self.metrics.pool_depth.set(0);
        if stop == Stop::Shutdown {
            info!("sequencer shutting down: finishing the rounds in flight");
        }
        // Dropping `batches` lets the builder finish what it has and end.
    }
}

/// Stage 2: turns batches into rounds (one sled batch each) and signs their checkpoints.
struct Builder {
    appender: Appender,
    signer: NoteSigner,
    origin: String,
    clock: Arc<dyn Clock>,
    last_time: u64,
    stopping: Arc<AtomicBool>,
    failed: Arc<Notify>,
    space: Option<Arc<DiskSpace>>,
    status: SequencerStatus,
}

impl Builder {
    fn run(
        mut self,
        mut batches: mpsc::Receiver<Vec<Submission>>,
        rounds: SyncSender<Built>,
    ) -> Result<(), SequencerError> {
        while let Some(batch) = batches.blocking_recv() {
            let Some(now) = self.wait_for_clock() else {
                // Shut down while the clock was behind: nothing of this batch was signed.
                answer_all(batch, SubmitError::Stopped);
                batches.close();
                while let Some(b) = batches.blocking_recv() {
                    answer_all(b, SubmitError::Stopped);
                }
                return Ok(());
            };
            // Measured now, not at the last periodic check: a disk that filled since must not
            // meet this round's writes. Nothing of the batch was appended: Busy is the truth.
            if let Some(space) = &self.space
                && matches!(space.check(), SpaceState::Refusing { .. })
            {
                space.count_refused(batch.len());
                answer_all(
                    batch,
                    SubmitError::Busy {
                        retry_after: LOW_DISK_RETRY_AFTER,
                    },
                );
                continue;
            }
            let built = match self.build(batch, now) {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => {
                    // The appender is now ahead of anything written: stop (nothing was written).
                    self.failed.notify_one();
                    return Err(e);
                }
            };
            if let Err(std::sync::mpsc::SendError(built)) = rounds.send(built) {
                // The writer stopped on a failed write, and this round was built on top of it.
                built.owed.fail(SubmitError::Storage);
                batches.close();
                while let Some(b) = batches.blocking_recv() {
                    answer_all(b, SubmitError::Stopped);
                }
                return Ok(());
            }
        }
        Ok(())
    }

    /// Waits until the clock reads at least the last checkpoint's time (DESIGN §2: the clock
    /// must not go backwards); `None` if the sequencer is stopping meanwhile.
    fn wait_for_clock(&self) -> Option<u64> {
        let mut reported: Option<Instant> = None;
        loop {
            let now = self.clock.now_ms();
            if now >= self.last_time {
                if reported.is_some() {
                    info!(
                        now_ms = now,
                        "wall clock caught up; signing checkpoints again"
                    );
                }
                return Some(now);
            }
            if self.stopping.load(Ordering::Acquire) {
                return None;
            }
            if reported.is_none_or(|t| t.elapsed() >= CLOCK_LOG_EVERY) {
                error!(
                    now_ms = now,
                    last_checkpoint_ms = self.last_time,
                    "wall clock reads earlier than the last checkpoint; not signing until it catches up"
                );
                reported = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis((self.last_time - now).min(20)));
        }
    }

    /// Appends a batch to the right edge and makes its round; `None` if nothing was appended.
    /// Each submission's entries get consecutive indexes.
    fn build(&mut self, batch: Vec<Submission>, now: u64) -> Result<Option<Built>, SequencerError> {
        let mut round = self.appender.round();
        let mut pending = Vec::with_capacity(batch.len());
        let mut leaves = Vec::new();
        let mut oldest: Option<Instant> = None;
        let mut permit: Option<OwnedSemaphorePermit> = None;
        let mut slots: Option<OwnedSemaphorePermit> = None;
        for sub in batch {
            let first = round.size();
            if first.saturating_add(sub.items.len() as u64) > MAX_LOG_SIZE {
                answer(sub, SubmitError::LogFull);
                continue;
            }
            for (offset, item) in sub.items.iter().enumerate() {
                let index = first + offset as u64;
                round.append(&item.entry, item.leaf);
                for w in &item.indexes {
                    match &w.value {
                        IndexValue::LeafIndex => {
                            round.put_index(w.name, &w.key, &index.to_be_bytes())
                        }
                        IndexValue::Bytes(v) => round.put_index(w.name, &w.key, v),
                        IndexValue::LeafList => {
                            round.put_index(w.name, &leaf_list_key(&w.key, index), &[]);
                        }
                    }
                }
                leaves.push(item.leaf);
            }
            oldest = Some(oldest.map_or(sub.queued, |o| o.min(sub.queued)));
            // One permit per round: the bounds go back to the pool in one step.
            merge(&mut permit, sub.permit);
            merge(&mut slots, sub.slots);
            pending.push(Pending {
                reply: sub.reply,
                first,
            });
        }
        let Some(oldest) = oldest else {
            // Nothing appended: an empty round signs nothing.
            return Ok(None);
        };
        let (size, root) = (round.size(), round.root());
        let note = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        }
        .sign(&self.signer)
        .map_err(SequencerError::Sign)?;
        let head = LogHead {
            size,
            root,
            checkpoint: note.to_string().into_bytes(),
            time_ms: now,
        };
        let batch = round.finish(&head);
        self.last_time = now;
        self.status.signed_at(now);
        Ok(Some(Built {
            batch,
            head,
            owed: Owed {
                pending,
                entries: leaves.len(),
                permit,
                slots,
                oldest,
            },
            leaves,
        }))
    }
}

/// Stage 3: applies, flushes, publishes; hands the answers to stage 4.
struct Writer {
    store: LogStore,
    writer: Arc<dyn RoundWriter>,
    heads: watch::Sender<LogHead>,
    metrics: Metrics,
    failed: Arc<Notify>,
    status: SequencerStatus,
}

impl Writer {
    fn run(self, rounds: Receiver<Built>, acks: SyncSender<Flushed>) -> Result<(), WriteError> {
        while let Ok(built) = rounds.recv() {
            let Built {
                batch,
                head,
                leaves,
                owed,
            } = built;
            let written = self.writer.apply(batch).and_then(|()| self.writer.flush());
            if let Err(e) = written {
                let why = chain(&e);
                error!(error = %why, size = head.size, "writing a round failed; stopping the sequencer");
                self.status.set_failure(format!(
                    "writing the round to size {} failed: {why}",
                    head.size
                ));
                self.metrics.write_failures.inc();
                self.store.fail_writer();
                owed.fail(SubmitError::Storage);
                self.failed.notify_one();
                // Rounds already built extend the failed one: they fail with it.
                while let Ok(b) = rounds.try_recv() {
                    b.owed.fail(SubmitError::Storage);
                }
                return Err(e);
            }
            // Durable: readers and watchers may see it, then submitters hear of it (so an
            // acknowledged submitter never finds an older head). Answering 4096 submitters
            // takes a while: stage 4 does it while this stage writes the next round.
            self.store.publish(head.clone(), &leaves);
            self.metrics.appends.inc_by(owed.entries as u64);
            self.metrics.batch_size.observe(owed.entries as f64);
            self.metrics
                .tree_size
                .set(i64::try_from(head.size).unwrap_or(i64::MAX));
            let (size, checkpoint) = (head.size, head.checkpoint.clone());
            self.heads.send_replace(head);
            let flushed = Flushed {
                size,
                checkpoint,
                owed,
            };
            if let Err(std::sync::mpsc::SendError(f)) = acks.send(flushed) {
                // Stage 4 is gone (it panicked): these entries are durable but unanswered.
                f.owed.fail(SubmitError::Stopped);
            }
        }
        Ok(())
    }
}

/// Stage 4: answers the submitters of flushed rounds.
fn acknowledge(rounds: Receiver<Flushed>, metrics: &Metrics) {
    while let Ok(Flushed {
        size,
        checkpoint,
        owed,
    }) = rounds.recv()
    {
        // The bounds go back first, so a submitter that hears back finds them free.
        drop(owed.permit);
        drop(owed.slots);
        for p in owed.pending {
            let _ = p.reply.send(Ok(Appended {
                first: p.first,
                size,
                checkpoint: checkpoint.clone(),
            }));
        }
        metrics
            .batch_latency
            .observe(owed.oldest.elapsed().as_secs_f64());
    }
}
