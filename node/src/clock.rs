//! Wall-clock time, injected: the sequencer times checkpoints with it, the witness its
//! cosignatures, the intake enrolment codes and evidence records, the admin API its answers.
//! Tests pass a clock they can move (backwards too: the sequencer must refuse to sign then).
//!
//! It sits on the lowest floor of the node, beside the store, so that every part can take one
//! without importing the part that happened to define it first.

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time, injected so tests can move it backwards.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // A clock before 1970 reads as 0; the clock rule then waits for it.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}
