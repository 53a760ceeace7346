//! What the sequencer tells operators about itself (the reliability review): a wall clock behind the last
//! checkpoint's time, which stops all signing until it catches up (F13), shows in its status,
//! in `/metrics` and in the `/health` report; a nearly full disk answers submissions BUSY (F1).

use std::sync::Arc;
use std::time::Duration;

use crate::store_support::{ManualClock, ORIGIN, entry, fast_config, signer};
use herald_node::health::{Health, Level};
use herald_node::metrics;
use herald_node::sequencer::{LOW_DISK_RETRY_AFTER, Sequencer, SequencerConfig, SubmitError};
use herald_node::store::{DiskSpace, LogStore};
use herald_proto::merkle::HashAlgorithm;
use prometheus_client::registry::Registry;

/// The value of the unlabelled metric `name` in a rendered registry.
fn metric(registry: &Registry, name: &str) -> Option<f64> {
    let text = metrics::render(registry);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_behind_the_last_checkpoint_shows_in_status_metrics_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let clock = ManualClock::at(1_000_000);
    let config = SequencerConfig {
        clock: clock.clone(),
        ..fast_config()
    };
    let mut registry = Registry::default();
    let (handle, task) = Sequencer::spawn(store, signer(), config, &mut registry).unwrap();
    handle.submit(entry(0)).await.unwrap();
    let status = handle.status();
    assert_eq!(status.clock_behind_ms(), None);
    assert_eq!(metric(&registry, "herald_log_clock_behind_ms"), Some(0.0));
    let health = Health {
        sequencer: status.clone(),
        space: None,
        scrub: None,
    };
    assert_eq!(health.report(true, true).level, Level::Ok);

    // The clock jumps back 5 s: nothing is signed, and every view says so, with no round
    // needed to notice.
    clock.set(995_000);
    assert_eq!(status.clock_behind_ms(), Some(5_000));
    assert_eq!(
        metric(&registry, "herald_log_clock_behind_ms"),
        Some(5_000.0)
    );
    let report = health.report(true, true);
    assert_eq!(report.level, Level::Unhealthy);
    assert_eq!(report.response().status, 503);
    assert!(
        report.reasons.iter().any(|r| r.contains("5000 ms before")),
        "{report:?}"
    );
    let waiting = tokio::spawn({
        let h = handle.clone();
        async move { h.submit(entry(1)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "signed while the clock was behind");

    // It catches up: the round is signed, and the views clear.
    clock.set(1_000_010);
    let ack = waiting.await.unwrap().unwrap();
    assert_eq!(ack.index, 1);
    assert_eq!(status.clock_behind_ms(), None);
    assert_eq!(metric(&registry, "herald_log_clock_behind_ms"), Some(0.0));
    assert_eq!(health.report(true, true).level, Level::Ok);
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nearly_full_disk_answers_busy_before_anything_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    // No disk has u64::MAX bytes free: always below the refusal threshold.
    let space = Arc::new(DiskSpace::new(dir.path(), u64::MAX, u64::MAX));
    let mut registry = Registry::default();
    space.register(&mut registry);
    space.check();
    let config = SequencerConfig {
        space: Some(space.clone()),
        ..fast_config()
    };
    let (handle, task) = Sequencer::spawn(store.clone(), signer(), config, &mut registry).unwrap();
    for i in 0..3 {
        assert_eq!(
            handle.submit(entry(i)).await,
            Err(SubmitError::Busy {
                retry_after: LOW_DISK_RETRY_AFTER
            })
        );
    }
    assert_eq!(store.head().size, 0, "nothing was appended");
    assert_eq!(
        metric(&registry, "herald_log_refused_low_disk_total"),
        Some(3.0)
    );
    assert_eq!(metric(&registry, "herald_disk_space_state"), Some(2.0));
    handle.shutdown();
    task.await.unwrap().unwrap();
}
