//! Wall-clock time, passed in (STYLE: the library never reads the clock behind its caller's
//! back). Verifying cosignature timestamps, binding answers and publications, and waiting for a
//! publication, need "now"; [`TrustedLog`](crate::TrustedLog) and
//! [`CertMail`](crate::certmail::CertMail) take a [`Clock`] (the [`SystemClock`] unless told
//! otherwise, [`TrustedLog::with_clock`](crate::TrustedLog::with_clock),
//! [`CertMail::with_clock`](crate::certmail::CertMail::with_clock)), so a test or an app can set
//! the time.

use core::fmt::Debug;
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in seconds.
pub trait Clock: Debug + Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now_secs(&self) -> u64;
}

/// The system's wall clock (0 for a clock before 1970, which then counts no cosignature as
/// timely).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_secs(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock that always reads the same second: for tests, and for checking something "as of"
/// a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now_secs(&self) -> u64 {
        self.0
    }
}
