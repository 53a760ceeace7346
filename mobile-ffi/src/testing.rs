//! Hidden exports for the foreign-runtime tests and the benchmark, built only with the
//! `testing-hooks` feature (never in an app's library): a call that panics, to show what
//! reaches the app, and a Rust-side timing of `verify_evidence` to compare the binding's cost
//! against.

use std::time::Instant;

use crate::HeraldClient;
use crate::config::LogConfig;
use crate::error::HeraldError;
use crate::evidence::{ArbiterOptions, context, judge};
use crate::runtime::guard;

/// Panics. With `guarded`, inside the binding's panic guard (as every export runs): the app
/// gets [`HeraldError::Internal`]. Without, straight into uniffi's own catch: the app gets
/// uniffi's generic internal error (Python `InternalError`, Kotlin `InternalException`),
/// still never a crash.
#[uniffi::export]
pub(crate) fn testing_panic(guarded: bool) -> Result<(), HeraldError> {
    if guarded {
        guard(|| panic!("testing_panic: a bug, on purpose"))
    } else {
        panic!("testing_panic: a bug, on purpose, unguarded")
    }
}

#[uniffi::export]
impl HeraldClient {
    /// Panics inside a task on the binding's runtime: the app gets [`HeraldError::Internal`].
    pub async fn testing_panic_in_task(&self) -> Result<(), HeraldError> {
        self.runtime
            .run(async { panic!("testing_panic_in_task: a bug, on purpose") })
            .await
    }

    /// Waits `secs` on the binding's runtime (to watch a cancelled call stop).
    pub async fn testing_sleep(&self, secs: u64) -> Result<(), HeraldError> {
        self.runtime
            .run(async move {
                tokio::time::sleep(std::time::Duration::from_secs(secs.min(3600))).await;
                Ok(())
            })
            .await
    }
}

/// Runs what `verify_evidence` runs (the same inputs: context, decode, arbitrate, the verdict
/// record) `iterations` times in Rust and returns the mean nanoseconds per call.
#[uniffi::export]
pub(crate) fn testing_time_verify_evidence(
    bundle: Vec<u8>,
    trusted_logs: Vec<LogConfig>,
    options: ArbiterOptions,
    iterations: u32,
) -> Result<u64, HeraldError> {
    guard(|| {
        let iterations = iterations.clamp(1, 100_000);
        let start = Instant::now();
        for _ in 0..iterations {
            let verdict = judge(&bundle, &context(&trusted_logs, &options)?)?;
            std::hint::black_box(verdict);
        }
        let per_call = start.elapsed().as_nanos() / u128::from(iterations);
        Ok(u64::try_from(per_call).unwrap_or(u64::MAX))
    })
}
