//! What the sequencer tells `/health` and `/metrics` about itself: whether a write failed (and
//! why), and whether the wall clock reads earlier than the last checkpoint's time, which stops
//! all signing until it catches up (DESIGN §2: checkpoint times never go back; reliability review F13).
//!
//! Shared state written by the pipeline's stages and read by anyone holding a
//! [`SequencerStatus`] (which, unlike a [`SequencerHandle`](super::SequencerHandle), does not
//! keep the sequencer running). The clock is compared when asked, so a node whose clock jumped
//! back shows it even while nobody submits.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use crate::clock::Clock;

struct Inner {
    clock: Arc<dyn Clock>,
    /// Time of the last signed checkpoint, ms since the Unix epoch.
    last_time_ms: AtomicU64,
    /// Why a write failed, with its causes.
    failure: Mutex<Option<String>>,
}

/// The sequencer's state for `/health` (cheap to clone).
#[derive(Clone)]
pub struct SequencerStatus {
    inner: Arc<Inner>,
}

impl fmt::Debug for SequencerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequencerStatus")
            .field("clock_behind_ms", &self.clock_behind_ms())
            .field("failure", &self.failure())
            .finish()
    }
}

impl SequencerStatus {
    pub(crate) fn new(clock: Arc<dyn Clock>, last_time_ms: u64) -> Self {
        SequencerStatus {
            inner: Arc::new(Inner {
                clock,
                last_time_ms: AtomicU64::new(last_time_ms),
                failure: Mutex::new(None),
            }),
        }
    }

    /// How far (ms) the wall clock reads before the last checkpoint's time, if it does: no
    /// checkpoint is signed, so no submission acknowledged, until it catches up.
    pub fn clock_behind_ms(&self) -> Option<u64> {
        let last = self.inner.last_time_ms.load(Ordering::Acquire);
        let now = self.inner.clock.now_ms();
        (now < last).then(|| last - now)
    }

    /// Why writing the log failed, if it did (the sequencer has stopped then).
    pub fn failure(&self) -> Option<String> {
        self.inner
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn signed_at(&self, time_ms: u64) {
        self.inner.last_time_ms.store(time_ms, Ordering::Release);
    }

    pub(crate) fn set_failure(&self, why: String) {
        *self
            .inner
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(why);
    }
}

/// Renders `herald_log_clock_behind_ms` at each scrape, from the clock read then.
#[derive(Debug)]
pub(crate) struct ClockCollector(pub(crate) SequencerStatus);

impl Collector for ClockCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let behind = self.0.clock_behind_ms().unwrap_or(0);
        let gauge = ConstGauge::new(i64::try_from(behind).unwrap_or(i64::MAX));
        let metric = encoder.encode_descriptor(
            "herald_log_clock_behind_ms",
            "How far the wall clock reads before the last checkpoint's time (0: not behind); while above 0 nothing is signed",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}

/// `e` and its causes, `: `-separated (what an operator needs to act on a failure).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
