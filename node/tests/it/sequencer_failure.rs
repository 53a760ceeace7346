//! What the sequencer must never do: acknowledge an entry whose round did not reach disk, or
//! sign a checkpoint that goes back (smaller size, earlier time), even when the clock does.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::store_support::{
    FailingWriter, ManualClock, ORIGIN, append, entry, fast_config, signer,
};
use herald_node::sequencer::{Sequencer, SequencerConfig, SequencerError, SubmitError};
use herald_node::store::LogStore;
use herald_proto::merkle::HashAlgorithm;
use prometheus_client::registry::Registry;

/// Submits `n` entries at once and returns their answers.
async fn submit_many(
    handle: &herald_node::sequencer::SequencerHandle,
    from: u64,
    n: u64,
) -> Vec<Result<herald_node::sequencer::Ack, SubmitError>> {
    let tasks: Vec<_> = (from..from + n)
        .map(|i| {
            let h = handle.clone();
            tokio::spawn(async move { h.submit(entry(i)).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn a_failed_write_acks_nothing(fail_at_flush: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let writer = FailingWriter::new(store.clone());
    let (handle, task) = Sequencer::spawn_with_writer(
        store.clone(),
        writer.clone(),
        signer(),
        fast_config(),
        &mut Registry::default(),
    )
    .unwrap();
    let ok = handle.submit(entry(0)).await.unwrap();
    assert_eq!(ok.index, 0);
    let good_head = handle.latest().borrow().clone();

    if fail_at_flush {
        writer.fail_flush.store(true, Ordering::SeqCst);
    } else {
        writer.fail_apply.store(true, Ordering::SeqCst);
    }
    let answers = submit_many(&handle, 1, 50).await;
    assert!(
        answers.iter().all(|a| a.is_err()),
        "nothing acknowledged: {answers:?}"
    );
    assert!(answers.contains(&Err(SubmitError::Storage)));
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Err(SubmitError::Storage | SubmitError::Stopped)))
    );
    assert!(matches!(task.await.unwrap(), Err(SequencerError::Write(_))));
    assert!(!handle.is_running());
    assert_eq!(handle.submit(entry(99)).await, Err(SubmitError::Stopped));
    // Readers never saw the failed round.
    assert_eq!(store.head(), good_head);
    assert_eq!(handle.latest().borrow().clone(), good_head);
    // The store refuses another writer until it is reopened.
    assert!(matches!(
        Sequencer::spawn(
            store.clone(),
            signer(),
            fast_config(),
            &mut Registry::default()
        ),
        Err(SequencerError::StoreFailed)
    ));

    drop((store, writer, handle));
    let store = LogStore::open(dir.path()).unwrap();
    let size = store.head().size;
    if fail_at_flush {
        // The failed round was applied (not acknowledged): it may survive, whole or not at all.
        assert!(size >= 1, "the acknowledged entry survives");
    } else {
        assert_eq!(size, 1, "nothing of the failed round was applied");
    }
    assert_eq!(store.leaf_hash(0).unwrap(), ok.leaf_hash);
    // The reopened log is consistent and appends again.
    let acks = append(&store, vec![entry(1000)]).await;
    assert_eq!(acks[0].index, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_apply_acks_nothing_and_stops_the_sequencer() {
    a_failed_write_acks_nothing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_acks_nothing_and_stops_the_sequencer() {
    a_failed_write_acks_nothing(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_that_goes_backwards_delays_signing_and_never_signs_earlier() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let clock = ManualClock::at(1_000_000);
    let config = SequencerConfig {
        clock: clock.clone(),
        ..fast_config()
    };
    let (handle, task) =
        Sequencer::spawn(store.clone(), signer(), config, &mut Registry::default()).unwrap();
    // Record every head published, to check that none goes back.
    let mut heads = handle.latest();
    let seen = tokio::spawn(async move {
        let mut seen = vec![heads.borrow_and_update().clone()];
        while heads.changed().await.is_ok() {
            seen.push(heads.borrow_and_update().clone());
        }
        seen
    });
    assert_eq!(handle.submit(entry(0)).await.unwrap().index, 0);
    assert_eq!(store.head().time_ms, 1_000_000);

    clock.set(400_000);
    let h = handle.clone();
    let waiting = tokio::spawn(async move { h.submit(entry(1)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "no checkpoint is signed while the clock is behind"
    );
    assert_eq!(store.head().size, 1);
    assert_eq!(store.head().time_ms, 1_000_000);

    clock.set(1_000_250);
    let ack = waiting.await.unwrap().unwrap();
    assert_eq!(ack.index, 1);
    assert_eq!(store.head().time_ms, 1_000_250);
    handle.shutdown();
    task.await.unwrap().unwrap();
    let seen = seen.await.unwrap();
    for pair in seen.windows(2) {
        assert!(pair[1].size >= pair[0].size, "size went back: {pair:?}");
        assert!(
            pair[1].time_ms >= pair[0].time_ms,
            "time went back: {pair:?}"
        );
    }
    assert_eq!(seen.last().unwrap().size, 2);

    // The rule holds across a restart: meta keeps the last checkpoint's time.
    drop(store);
    let store = LogStore::open(dir.path()).unwrap();
    let config = SequencerConfig {
        clock: ManualClock::at(900_000),
        ..fast_config()
    };
    let (handle, task) =
        Sequencer::spawn(store.clone(), signer(), config, &mut Registry::default()).unwrap();
    let h = handle.clone();
    let waiting = tokio::spawn(async move { h.submit(entry(2)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished());
    // Shutting down while waiting for the clock signs nothing and answers Stopped.
    handle.shutdown();
    assert_eq!(waiting.await.unwrap(), Err(SubmitError::Stopped));
    task.await.unwrap().unwrap();
    assert_eq!(store.head().size, 2);
    assert_eq!(store.head().time_ms, 1_000_250);
}
