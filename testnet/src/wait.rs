//! Bounded polling: every wait in the testnet and its tests ends, with the last thing seen.

use std::time::{Duration, Instant};

/// How often [`until`] probes by default.
pub const PROBE_EVERY: Duration = Duration::from_millis(50);

/// Probes every `every` until `probe` returns `Ok(value)` or `bound` has passed; on timeout,
/// the last `Err` the probe returned (what was seen instead), or `None` if it never ran.
pub async fn until<T, E, F, Fut>(
    bound: Duration,
    every: Duration,
    mut probe: F,
) -> Result<T, Option<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + bound;
    let mut last = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        // A probe that hangs counts against the bound too.
        match tokio::time::timeout(remaining, probe()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(seen)) => last = Some(seen),
            Err(_) => return Err(last),
        }
        if Instant::now() + every > deadline {
            return Err(last);
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[tokio::test]
    async fn it_returns_the_first_success() {
        let calls = Cell::new(0);
        let found = until(Duration::from_secs(5), Duration::from_millis(1), || async {
            calls.set(calls.get() + 1);
            if calls.get() == 3 {
                Ok(calls.get())
            } else {
                Err("not yet")
            }
        })
        .await;
        assert_eq!(found, Ok(3));
    }

    #[tokio::test]
    async fn it_gives_up_with_the_last_thing_seen() {
        let started = Instant::now();
        let found: Result<(), _> = until(
            Duration::from_millis(100),
            Duration::from_millis(10),
            || async { Err(started.elapsed()) },
        )
        .await;
        let last = found.unwrap_err().expect("the probe ran");
        let total = started.elapsed();
        assert!(last > Duration::from_millis(50), "{last:?}: gave up early");
        assert!(last <= total && total < Duration::from_secs(5), "{total:?}");
    }

    #[tokio::test]
    async fn a_hanging_probe_is_cut_at_the_bound() {
        let started = Instant::now();
        let found: Result<(), Option<()>> = until(
            Duration::from_millis(100),
            Duration::from_millis(10),
            std::future::pending,
        )
        .await;
        assert_eq!(found, Err(None));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
