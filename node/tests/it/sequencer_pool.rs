//! Back-pressure and shutdown: a full pool answers Busy at once; a shutdown finishes the rounds
//! already taken from the pool, flushes them, and answers the rest Stopped.

use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use crate::store_support::{GatedWriter, ORIGIN, append, entry, fast_config, signer};
use herald_node::sequencer::{Sequencer, SequencerConfig, SubmitError};
use herald_node::store::LogStore;
use herald_proto::merkle::HashAlgorithm;
use prometheus_client::registry::Registry;

/// Polls `submit` once per entry without yielding, so the sequencer (on this single-threaded
/// runtime) drains nothing meanwhile; returns the futures still waiting and the Busy count.
macro_rules! submit_without_yielding {
    ($handle:expr, $entries:expr, $retry:expr) => {{
        let mut waiting = Vec::new();
        let mut busy = 0;
        for e in $entries {
            let mut f = Box::pin($handle.submit(e));
            match futures::poll!(f.as_mut()) {
                Poll::Ready(Err(SubmitError::Busy { retry_after })) => {
                    assert_eq!(retry_after, $retry);
                    busy += 1;
                }
                Poll::Ready(other) => panic!("unexpected answer {other:?}"),
                Poll::Pending => waiting.push(f),
            }
        }
        (waiting, busy)
    }};
}

#[tokio::test]
async fn a_full_pool_answers_busy_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let config = SequencerConfig {
        pool_max: 4,
        sequence_interval: Duration::from_millis(30),
        ..fast_config()
    };
    let (handle, task) =
        Sequencer::spawn(store.clone(), signer(), config, &mut Registry::default()).unwrap();
    let (waiting, busy) =
        submit_without_yielding!(handle, (0..100).map(entry), Duration::from_millis(30));
    assert_eq!(
        (waiting.len(), busy),
        (4, 96),
        "4 fit in the pool, 96 are turned away"
    );
    let acks = futures::future::join_all(waiting).await;
    let indexes: Vec<u64> = acks.into_iter().map(|a| a.unwrap().index).collect();
    assert_eq!(indexes, vec![0, 1, 2, 3]);
    // Answered entries leave the pool: there is room again.
    assert_eq!(handle.submit(entry(100)).await.unwrap().index, 4);
    assert_eq!(store.head().size, 5, "busy submissions were never appended");
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_pool_is_bounded_in_bytes_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let config = SequencerConfig {
        pool_max_bytes: 2 * 65_535,
        ..fast_config()
    };
    let (handle, task) =
        Sequencer::spawn(store.clone(), signer(), config, &mut Registry::default()).unwrap();
    let big = (0..10u8).map(|i| vec![i; 40_000]);
    let (waiting, busy) = submit_without_yielding!(handle, big, Duration::from_millis(10));
    assert_eq!(
        (waiting.len(), busy),
        (3, 7),
        "3 × 40000 bytes fit in 131070"
    );
    for ack in futures::future::join_all(waiting).await {
        ack.unwrap();
    }
    assert_eq!(handle.submit(vec![1; 65_535]).await.unwrap().index, 3);
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_rounds_in_flight_and_stops_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    // Sign the empty log's first checkpoint before the gate is in the way.
    append(&store, Vec::new()).await;
    let gate = GatedWriter::closed(store.clone());
    let config = SequencerConfig {
        batch_max: 1,
        pool_max: 64,
        ..fast_config()
    };
    let (handle, task) = Sequencer::spawn_with_writer(
        store.clone(),
        gate.clone(),
        signer(),
        config,
        &mut Registry::default(),
    )
    .unwrap();
    let submitters: Vec<_> = (0..20)
        .map(|i| {
            let h = handle.clone();
            tokio::spawn(async move { (i, h.submit(entry(i)).await) })
        })
        .collect();
    // Let the first round reach the writer and the pipeline fill up behind it.
    while !gate.waiting.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    handle.shutdown();
    assert!(!handle.is_running());
    gate.open();

    let mut acked = Vec::new();
    let mut stopped = 0;
    for s in submitters {
        match s.await.unwrap() {
            (i, Ok(ack)) => acked.push((ack.index, i)),
            (_, Err(SubmitError::Stopped)) => stopped += 1,
            (_, Err(e)) => panic!("unexpected {e:?}"),
        }
    }
    task.await.unwrap().unwrap();
    assert!(!acked.is_empty(), "the rounds in flight were finished");
    assert!(
        stopped > 0,
        "what was still in the pool was answered Stopped"
    );
    assert_eq!(acked.len() + stopped, 20);
    assert_eq!(handle.submit(entry(99)).await, Err(SubmitError::Stopped));

    // Every acknowledged entry, and nothing else, is durable at its index.
    acked.sort_unstable();
    drop(gate);
    drop(store);
    let store = LogStore::open(dir.path()).unwrap();
    assert_eq!(store.head().size, acked.len() as u64);
    for (k, (index, i)) in acked.iter().enumerate() {
        assert_eq!(
            *index, k as u64,
            "acknowledged indexes are contiguous from 0"
        );
        assert_eq!(store.entries(*index, 1).unwrap(), vec![entry(*i)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let (handle, task) = Sequencer::spawn(
        store.clone(),
        signer(),
        fast_config(),
        &mut Registry::default(),
    )
    .unwrap();
    handle.submit(entry(0)).await.unwrap();
    drop(handle);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task ends once no handle is left")
        .unwrap()
        .unwrap();
    // The store is free for the next sequencer.
    let (handle, task) = Sequencer::spawn(
        store.clone(),
        signer(),
        fast_config(),
        &mut Registry::default(),
    )
    .unwrap();
    assert_eq!(handle.submit(entry(1)).await.unwrap().index, 1);
    handle.shutdown();
    task.await.unwrap().unwrap();
}
