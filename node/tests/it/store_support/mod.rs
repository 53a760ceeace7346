//! Shared helpers of the store and sequencer tests: keys, entries, filling a log through the
//! real sequencer, and writers that fail or block on demand.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use herald_node::clock::Clock;
use herald_node::sequencer::{Ack, Sequencer, SequencerConfig, SequencerHandle, SubmitError};
use herald_node::store::{LogStore, RoundBatch, RoundWriter, WriteError};
use herald_proto::note::NoteSigner;
use prometheus_client::registry::Registry;

pub(crate) const ORIGIN: &str = "alpha.test/herald";

/// The log key of `origin` (a fixed seed per name, so restarts use the same key).
pub(crate) fn signer_for(origin: &str, seed: u8) -> NoteSigner {
    NoteSigner::new(origin, SigningKey::from_bytes(&[seed; 32])).expect("valid key name")
}

pub(crate) fn signer() -> NoteSigner {
    signer_for(ORIGIN, 7)
}

/// Entry `i`: 8 to 300 bytes, starting with `i` (so no two entries are equal), then filler.
pub(crate) fn entry(i: u64) -> Vec<u8> {
    let len = 8 + (i.wrapping_mul(2_654_435_761) % 293) as usize;
    let mut e = i.to_be_bytes().to_vec();
    e.resize(len, (i % 251) as u8);
    e
}

/// A config for tests: short rounds.
pub(crate) fn fast_config() -> SequencerConfig {
    SequencerConfig {
        sequence_interval: Duration::from_millis(2),
        ..SequencerConfig::default()
    }
}

/// Submits every entry with up to `window` in flight, retrying on Busy; returns the acks in
/// submission order.
pub(crate) async fn submit_all(
    handle: &SequencerHandle,
    entries: Vec<Vec<u8>>,
    window: usize,
) -> Vec<Ack> {
    let mut acks: Vec<Option<Ack>> = vec![None; entries.len()];
    let mut in_flight = FuturesUnordered::new();
    let mut it = entries.into_iter().enumerate();
    loop {
        while in_flight.len() < window {
            let Some((i, e)) = it.next() else { break };
            let h = handle.clone();
            in_flight.push(async move {
                loop {
                    match h.submit(e.clone()).await {
                        Err(SubmitError::Busy { retry_after }) => {
                            tokio::time::sleep(retry_after).await
                        }
                        r => return (i, r),
                    }
                }
            });
        }
        match in_flight.next().await {
            None => break,
            Some((i, r)) => acks[i] = Some(r.expect("submission acknowledged")),
        }
    }
    acks.into_iter()
        .map(|a| a.expect("every entry answered"))
        .collect()
}

/// Appends `entries` to `store` through a real sequencer, then shuts it down cleanly.
pub(crate) async fn append(store: &LogStore, entries: Vec<Vec<u8>>) -> Vec<Ack> {
    let mut registry = Registry::default();
    let (handle, task) = Sequencer::spawn(store.clone(), signer(), fast_config(), &mut registry)
        .expect("sequencer starts");
    let acks = submit_all(&handle, entries, 8192).await;
    handle.shutdown();
    task.await.expect("task joins").expect("clean stop");
    acks
}

/// A clock the test sets by hand.
#[derive(Debug, Default)]
pub(crate) struct ManualClock(pub AtomicU64);

impl ManualClock {
    pub(crate) fn at(ms: u64) -> Arc<Self> {
        Arc::new(ManualClock(AtomicU64::new(ms)))
    }
    pub(crate) fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A writer that makes apply or flush fail on demand, and records the sizes it applied.
pub(crate) struct FailingWriter {
    pub inner: LogStore,
    pub fail_apply: AtomicBool,
    pub fail_flush: AtomicBool,
    pub applied: Mutex<Vec<u64>>,
}

impl FailingWriter {
    pub(crate) fn new(inner: LogStore) -> Arc<Self> {
        Arc::new(FailingWriter {
            inner,
            fail_apply: AtomicBool::new(false),
            fail_flush: AtomicBool::new(false),
            applied: Mutex::new(Vec::new()),
        })
    }
}

fn injected() -> WriteError {
    WriteError::Storage(sled::Error::Io(std::io::Error::other("injected failure")))
}

impl RoundWriter for FailingWriter {
    fn apply(&self, round: RoundBatch) -> Result<(), WriteError> {
        if self.fail_apply.load(Ordering::SeqCst) {
            return Err(injected());
        }
        let size = round.size();
        self.inner.apply(round)?;
        self.applied.lock().unwrap().push(size);
        Ok(())
    }

    fn flush(&self) -> Result<(), WriteError> {
        if self.fail_flush.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.flush()
    }
}

/// A writer whose `apply` blocks while its gate is closed: rounds pile up behind it.
pub(crate) struct GatedWriter {
    pub inner: LogStore,
    open: Mutex<bool>,
    cv: Condvar,
    pub waiting: AtomicBool,
}

impl GatedWriter {
    pub(crate) fn closed(inner: LogStore) -> Arc<Self> {
        Arc::new(GatedWriter {
            inner,
            open: Mutex::new(false),
            cv: Condvar::new(),
            waiting: AtomicBool::new(false),
        })
    }

    pub(crate) fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

impl RoundWriter for GatedWriter {
    fn apply(&self, round: RoundBatch) -> Result<(), WriteError> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            self.waiting.store(true, Ordering::SeqCst);
            open = self.cv.wait(open).unwrap();
        }
        drop(open);
        self.inner.apply(round)
    }

    fn flush(&self) -> Result<(), WriteError> {
        self.inner.flush()
    }
}
