//! The tokio runtime the binding owns, and how exported calls run on it.
//!
//! The app's threads never run Herald's network code: an async export spawns its work on this
//! runtime and awaits the task's handle, which any executor can poll (uniffi's Kotlin, Swift and
//! Python futures). Two promises hold for every call:
//! - **Cancellation reaches the work.** When the app cancels the foreign future (Kotlin
//!   `Job.cancel()`, Swift `Task.cancel()`, Python `asyncio.Task.cancel()`), uniffi drops the
//!   Rust future; [`Runtime::run`] holds the task behind a guard that aborts it on drop, so the
//!   network work stops at its next await instead of running on detached.
//!   [`Runtime::in_flight`] counts the tasks still running (the tests watch it reach zero).
//! - **No panic crosses the boundary.** A panic in a task comes back as its `JoinError` and a
//!   panic in a sync export is caught by [`guard`]; both become [`HeraldError::Internal`].
//!
//! The runtime is owned by the objects the app holds ([`crate::HeraldClient`] and the accounts
//! it made), never by a task, so it is dropped on an app thread; dropping it shuts it down in the
//! background, without blocking.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::task::JoinHandle;

use crate::error::HeraldError;

/// Worker threads: the binding waits on the network, it does not compute much.
const WORKER_THREADS: usize = 2;

/// A multi-threaded tokio runtime and the count of the calls running on it.
#[derive(Debug)]
pub(crate) struct Runtime {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    in_flight: Arc<AtomicUsize>,
}

impl Runtime {
    pub(crate) fn new() -> Result<Self, HeraldError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("herald-ffi")
            .enable_all()
            .build()
            .map_err(|e| HeraldError::internal(format!("starting the tokio runtime: {e}")))?;
        Ok(Runtime {
            runtime: Some(runtime),
            in_flight: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn handle(&self) -> Result<&tokio::runtime::Handle, HeraldError> {
        self.runtime
            .as_ref()
            .map(tokio::runtime::Runtime::handle)
            .ok_or_else(|| HeraldError::internal("the runtime has shut down"))
    }

    /// Runs `work` on the runtime and waits for it; dropping the returned future aborts it.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, HeraldError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, HeraldError>> + Send + 'static,
    {
        let counted = Counted::new(self.in_flight.clone());
        let task = AbortOnDrop(self.handle()?.spawn(async move {
            let _counted = counted;
            work.await
        }));
        task.join().await
    }

    /// The calls running now (started and neither finished nor cancelled).
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Never blocks, so dropping is safe on any thread, even inside another runtime.
            runtime.shutdown_background();
        }
    }
}

/// A spawned task that is aborted when this is dropped (a detached task would go on running
/// after the app cancelled the call).
struct AbortOnDrop<T>(JoinHandle<Result<T, HeraldError>>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, HeraldError> {
        match (&mut self.0).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(HeraldError::from_panic(e.into_panic().as_ref())),
            Err(e) => Err(HeraldError::internal(format!("the call was stopped: {e}"))),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Counts one call in flight from creation until dropped (the task's end, or its abort).
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Counted(count)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs a sync export's body; a panic in it becomes [`HeraldError::Internal`].
pub(crate) fn guard<T>(body: impl FnOnce() -> Result<T, HeraldError>) -> Result<T, HeraldError> {
    catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|p| Err(HeraldError::from_panic(p.as_ref())))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_panicking_task_and_a_panicking_body_become_internal_errors() {
        let runtime = Runtime::new().unwrap();
        let handle = runtime.handle().unwrap().clone();
        let err = handle
            .block_on(runtime.run(async {
                if std::hint::black_box(true) {
                    panic!("in a task");
                }
                Ok(())
            }))
            .unwrap_err();
        assert!(
            matches!(&err, HeraldError::Internal { reason } if reason.contains("in a task")),
            "{err:?}"
        );
        let err = guard(|| -> Result<(), HeraldError> { panic!("in a body") }).unwrap_err();
        assert!(
            matches!(&err, HeraldError::Internal { reason } if reason.contains("in a body")),
            "{err:?}"
        );
        assert_eq!(runtime.in_flight(), 0);
    }

    #[test]
    fn dropping_the_call_aborts_its_task() {
        let runtime = Runtime::new().unwrap();
        let call = runtime.run(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        // Poll it once (the task starts), then drop it, as uniffi does when the app cancels.
        let polled = futures_poll_once(call);
        assert!(polled.is_none());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while runtime.in_flight() != 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            runtime.in_flight(),
            0,
            "the task still runs after the cancel"
        );
    }

    /// Polls `future` once with a no-op waker, then drops it.
    fn futures_poll_once<F: Future>(future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    #[test]
    fn a_finished_call_is_no_longer_counted() {
        let runtime = Runtime::new().unwrap();
        let handle = runtime.handle().unwrap().clone();
        let value = handle.block_on(runtime.run(async { Ok("done") })).unwrap();
        assert_eq!(value, "done");
        assert_eq!(runtime.in_flight(), 0);
    }
}
