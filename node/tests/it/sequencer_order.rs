//! The order the sequencer keeps: submissions queued one after another (`enqueue`,
//! `enqueue_batch`) get indexes in that order, within one round and across rounds, and a batch
//! is never split between rounds. S_B's record order relies on it: a mail's `HANDOVER` is
//! queued after its `CONSIGNMENT` without waiting for the consignment's round
//! (`service::mail::record_order`).

use std::time::Duration;

use crate::store_support::{ORIGIN, entry, signer};
use herald_node::sequencer::{IndexWrite, Sequencer, SequencerConfig};
use herald_node::store::LogStore;
use herald_proto::merkle::HashAlgorithm;
use prometheus_client::registry::Registry;

/// Where one queued submission landed: its first index, its entries, its round's size.
#[derive(Debug, Clone, Copy)]
struct Landed {
    first: u64,
    len: u64,
    size: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submissions_queued_in_order_get_indexes_in_that_order_within_and_across_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Sha256).unwrap();
    // Small rounds (batch_max 8) so that the 300 submissions span many of them.
    let config = SequencerConfig {
        batch_max: 8,
        sequence_interval: Duration::from_millis(5),
        ..SequencerConfig::default()
    };
    let (handle, task) =
        Sequencer::spawn(store.clone(), signer(), config, &mut Registry::default()).unwrap();
    let mut pending = Vec::new();
    for i in 0..300u64 {
        // Singles and batches of up to 11 entries (over batch_max: still one round).
        let len = [1u64, 3, 1, 11, 2, 1, 5][(i % 7) as usize];
        let batch: Vec<(Vec<u8>, Vec<IndexWrite>)> =
            (0..len).map(|k| (entry(i * 100 + k), Vec::new())).collect();
        pending.push((handle.enqueue_batch(batch).unwrap(), len));
        if i % 50 == 49 {
            // Let rounds pass between some of them.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut landed = Vec::new();
    for (p, len) in pending {
        let ack = p.await.unwrap();
        landed.push(Landed {
            first: ack.first,
            len,
            size: ack.size,
        });
    }
    let mut rounds = 1;
    for pair in landed.windows(2) {
        let (before, after) = (pair[0], pair[1]);
        // Nothing else was queued: each starts where the one queued before it ends.
        assert_eq!(
            after.first,
            before.first + before.len,
            "{before:?} {after:?}"
        );
        // A batch is whole in its round.
        assert!(after.first + after.len <= after.size, "{after:?}");
        if after.size != before.size {
            // A round ends between two submissions, never inside one.
            assert_eq!(after.first, before.size, "{before:?} {after:?}");
            assert!(after.size > before.size);
            rounds += 1;
        }
    }
    assert!(rounds >= 10, "only {rounds} rounds");
    let last = landed.last().unwrap();
    assert_eq!(store.head().size, last.first + last.len);
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_queued_within_an_interval_lands_in_the_same_round_after_what_came_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Sha256).unwrap();
    // A long interval: a round waits 2 s after its first submission.
    let config = SequencerConfig {
        sequence_interval: Duration::from_secs(2),
        ..SequencerConfig::default()
    };
    let (handle, task) =
        Sequencer::spawn(store.clone(), signer(), config, &mut Registry::default()).unwrap();
    // A consignment's two records, then (not waiting for their round) a handover.
    let consignment = handle
        .enqueue_batch(vec![(entry(1), Vec::new()), (entry(2), Vec::new())])
        .unwrap();
    let handover = handle.enqueue(entry(3), Vec::new()).unwrap();
    let (consignment, handover) = (consignment.await.unwrap(), handover.await.unwrap());
    assert_eq!(consignment.first, 0);
    assert_eq!(handover.index, 2, "after the batch");
    assert_eq!(consignment.size, 3, "one round holds all three");
    assert_eq!(handover.size, 3);
    assert_eq!(consignment.checkpoint, handover.checkpoint);
    handle.shutdown();
    task.await.unwrap().unwrap();
}
