//! What a submitter is promised: an index, its leaf hash, and a checkpoint signed by the log's
//! key that includes the entry — all durable before the answer. Plus the checks made before
//! anything is queued, and the refusals at start.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::store_support::{ORIGIN, entry, fast_config, signer, signer_for, submit_all};
use herald_node::sequencer::{
    IndexValue, IndexWrite, Sequencer, SequencerConfig, SequencerError, SubmitError,
};
use herald_node::store::LogStore;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::{HashAlgorithm, LogHasher, verify_inclusion};
use prometheus_client::registry::Registry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_are_durable_and_included_in_their_signed_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let h = store.hasher();
    let verifier = signer().verifier();
    let mut registry = Registry::default();
    let config = SequencerConfig {
        batch_max: 64,
        ..fast_config()
    };
    let (handle, task) = Sequencer::spawn(store.clone(), signer(), config, &mut registry).unwrap();
    // The empty log got its first checkpoint at start.
    let first = handle.latest().borrow().clone();
    assert_eq!(first.size, 0);
    VerifiedCheckpoint::verify(&first.checkpoint, &verifier).unwrap();

    let entries: Vec<Vec<u8>> = (0..1000).map(entry).collect();
    let acks = submit_all(&handle, entries.clone(), 300).await;
    let indexes: HashSet<u64> = acks.iter().map(|a| a.index).collect();
    assert_eq!(indexes, (0..1000).collect(), "each entry got its own index");
    let mut rounds = HashSet::new();
    for (e, ack) in entries.iter().zip(&acks) {
        assert_eq!(ack.leaf_hash, h.hash_leaf(e));
        let cp = VerifiedCheckpoint::verify(&ack.checkpoint, &verifier).unwrap();
        assert!(
            cp.size() > ack.index,
            "checkpoint {} includes {}",
            cp.size(),
            ack.index
        );
        rounds.insert(cp.size());
        let proof = store.inclusion_proof(ack.index, cp.size()).unwrap();
        verify_inclusion(&h, ack.index, cp.size(), &ack.leaf_hash, &proof, cp.root()).unwrap();
        assert_eq!(store.entries(ack.index, 1).unwrap(), vec![e.clone()]);
    }
    assert!(rounds.len() >= 1000 / 64, "batches of at most 64 entries");

    // One submitter at a time: indexes and checkpoint sizes strictly increase.
    let (mut last_index, mut last_size) = (999, 1000);
    for i in 1000..1010 {
        let ack = handle.submit(entry(i)).await.unwrap();
        let cp = VerifiedCheckpoint::verify(&ack.checkpoint, &verifier).unwrap();
        assert!(ack.index > last_index && cp.size() > last_size);
        assert_eq!(cp.size(), ack.index + 1);
        (last_index, last_size) = (ack.index, cp.size());
    }
    assert_eq!(handle.latest().borrow().size, 1010);
    handle.shutdown();
    task.await.unwrap().unwrap();
    assert!(!handle.is_running());
    assert_eq!(handle.submit(entry(0)).await, Err(SubmitError::Stopped));

    // Everything acknowledged is on disk.
    drop(store);
    let store = LogStore::open(dir.path()).unwrap();
    assert_eq!(store.head().size, 1010);
    for ack in &acks {
        assert_eq!(store.leaf_hash(ack.index).unwrap(), ack.leaf_hash);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_writes_land_with_their_entry() {
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
    let ack = handle
        .submit_with_indexes(
            entry(1),
            vec![
                IndexWrite {
                    name: "req_hash",
                    key: b"request-1".to_vec(),
                    value: IndexValue::LeafIndex,
                },
                IndexWrite {
                    name: "req",
                    key: b"_hashrequest-1".to_vec(),
                    value: IndexValue::Bytes(b"other".to_vec()),
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(ack.index, 1);
    assert_eq!(store.index_leaf("req_hash", b"request-1").unwrap(), Some(1));
    assert_eq!(
        store.index_value("req", b"_hashrequest-1").unwrap(),
        Some(b"other".to_vec())
    );
    assert_eq!(store.index_leaf("req_hash", b"request-2").unwrap(), None);
    assert_eq!(store.index_value("", b"x").unwrap(), None);

    let too_many = vec![
        IndexWrite {
            name: "n",
            key: vec![],
            value: IndexValue::LeafIndex,
        };
        17
    ];
    let bad = [
        too_many,
        vec![IndexWrite {
            name: "",
            key: vec![],
            value: IndexValue::LeafIndex,
        }],
        vec![IndexWrite {
            name: "n",
            key: vec![0; 1025],
            value: IndexValue::LeafIndex,
        }],
        vec![IndexWrite {
            name: "n",
            key: vec![],
            value: IndexValue::Bytes(vec![0; 4097]),
        }],
    ];
    for writes in bad {
        assert!(matches!(
            handle.submit_with_indexes(entry(2), writes).await,
            Err(SubmitError::InvalidIndexWrite { .. })
        ));
    }
    assert_eq!(
        handle.latest().borrow().size,
        2,
        "refused submissions change nothing"
    );
    handle.shutdown();
    task.await.unwrap().unwrap();
    drop(store);
    let store = LogStore::open(dir.path()).unwrap();
    assert_eq!(store.index_leaf("req_hash", b"request-1").unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_outside_the_bundle_format_are_refused_before_queueing() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let (handle, task) = Sequencer::spawn(
        store.clone(),
        signer(),
        fast_config(),
        &mut Registry::default(),
    )
    .unwrap();
    assert_eq!(
        handle.submit(vec![]).await,
        Err(SubmitError::EntrySize { len: 0 })
    );
    assert_eq!(
        handle.submit(vec![1; 65_536]).await,
        Err(SubmitError::EntrySize { len: 65_536 })
    );
    let ack = handle.submit(vec![1; 65_535]).await.unwrap();
    assert_eq!(ack.index, 0);
    assert_eq!(store.entries(0, 1).unwrap(), vec![vec![1; 65_535]]);
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_refuses_a_second_writer_a_wrong_key_and_bad_configs() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let mut registry = Registry::default();
    let wrong_name = signer_for("beta.test/herald", 7);
    assert!(matches!(
        Sequencer::spawn(store.clone(), wrong_name, fast_config(), &mut registry),
        Err(SequencerError::KeyMismatch { .. })
    ));
    for config in [
        SequencerConfig {
            batch_max: 0,
            ..fast_config()
        },
        SequencerConfig {
            pool_max: 0,
            ..fast_config()
        },
        SequencerConfig {
            pool_max_bytes: 1000,
            ..fast_config()
        },
    ] {
        assert!(matches!(
            Sequencer::spawn(store.clone(), signer(), config, &mut registry),
            Err(SequencerError::InvalidConfig(_))
        ));
    }
    let (handle, task) =
        Sequencer::spawn(store.clone(), signer(), fast_config(), &mut registry).unwrap();
    assert!(matches!(
        Sequencer::spawn(store.clone(), signer(), fast_config(), &mut registry),
        Err(SequencerError::AlreadyRunning)
    ));
    handle.submit(entry(0)).await.unwrap();
    handle.shutdown();
    task.await.unwrap().unwrap();

    // Same name, another key: the stored checkpoint does not verify, so it must not sign.
    let impostor = signer_for(ORIGIN, 8);
    assert!(matches!(
        Sequencer::spawn(store.clone(), impostor, fast_config(), &mut registry),
        Err(SequencerError::CheckpointKey(_))
    ));
    // The refusals released the store: the right key starts again.
    let (handle, task) =
        Sequencer::spawn(store.clone(), signer(), fast_config(), &mut registry).unwrap();
    assert_eq!(handle.submit(entry(1)).await.unwrap().index, 1);
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[test]
fn spawn_outside_a_runtime_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    assert!(matches!(
        Sequencer::spawn(store, signer(), fast_config(), &mut Registry::default()),
        Err(SequencerError::NoRuntime)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_appends_batches_and_tree_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let mut registry = Registry::default();
    let config = SequencerConfig {
        sequence_interval: Duration::from_millis(20),
        ..fast_config()
    };
    let (handle, task) = Sequencer::spawn(store.clone(), signer(), config, &mut registry).unwrap();
    submit_all(&handle, (0..100).map(entry).collect(), 100).await;
    handle.shutdown();
    task.await.unwrap().unwrap();
    let registry = Arc::new(registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("herald_log_appends_total 100"), "{text}");
    assert!(text.contains("herald_log_tree_size 100"), "{text}");
    assert!(text.contains("herald_log_batch_size_count"), "{text}");
    assert!(
        text.contains("herald_log_batch_latency_seconds_count"),
        "{text}"
    );
    assert!(text.contains("herald_log_pool_depth 0"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_gets_consecutive_indexes_in_one_round_among_single_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Sha256).unwrap();
    let h = store.hasher();
    let verifier = signer().verifier();
    let config = SequencerConfig {
        batch_max: 16,
        ..fast_config()
    };
    let (handle, task) =
        Sequencer::spawn(store.clone(), signer(), config, &mut Registry::default()).unwrap();
    // Singles and batches (one larger than batch_max) queued together.
    let mut singles = Vec::new();
    let mut batches = Vec::new();
    for round in 0..4u32 {
        for i in 0..5 {
            singles.push(
                handle
                    .enqueue(entry(u64::from(round * 1000 + i)), Vec::new())
                    .unwrap(),
            );
        }
        let len = [3usize, 40, 1, 17][round as usize];
        let batch: Vec<(Vec<u8>, Vec<IndexWrite>)> = (0..len)
            .map(|i| (entry(u64::from(round * 1000 + 100) + i as u64), Vec::new()))
            .collect();
        let leaves: Vec<_> = batch.iter().map(|(e, _)| h.hash_leaf(e)).collect();
        batches.push((handle.enqueue_batch(batch).unwrap(), leaves));
    }
    let mut seen = HashSet::new();
    for (pending, leaves) in batches {
        let ack = pending.await.unwrap();
        assert_eq!(ack.leaf_hashes, leaves);
        let cp = VerifiedCheckpoint::verify(&ack.checkpoint, &verifier).unwrap();
        assert_eq!(cp.size(), ack.size);
        let end = ack.first + leaves.len() as u64;
        assert!(end <= ack.size, "the batch's round includes all of it");
        for (offset, leaf) in leaves.iter().enumerate() {
            let index = ack.first + offset as u64;
            assert_eq!(store.leaf_hash(index).unwrap(), *leaf);
            assert!(seen.insert(index));
        }
        // One range proof proves the whole batch in its checkpoint.
        let proof = store.range_proof(ack.first, end, ack.size).unwrap();
        herald_proto::merkle::verify_range(&h, ack.first, ack.size, &leaves, &proof, cp.root())
            .unwrap();
    }
    for pending in singles {
        let ack = pending.await.unwrap();
        assert!(seen.insert(ack.index), "indexes are not shared");
    }
    assert_eq!(seen.len(), 20 + 3 + 40 + 1 + 17);
    // An empty batch, or one with an empty entry, is refused whole before anything is queued.
    assert!(matches!(
        handle.submit_batch(Vec::new()).await,
        Err(SubmitError::EntrySize { len: 0 })
    ));
    assert!(matches!(
        handle
            .submit_batch(vec![(entry(1), Vec::new()), (Vec::new(), Vec::new())])
            .await,
        Err(SubmitError::EntrySize { len: 0 })
    ));
    assert_eq!(handle.latest().borrow().size, 81);
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_enough_round_starts_before_its_interval_and_a_small_one_waits() {
    // A round of EARLY_ROUND_ENTRIES (1024) or more starts as soon as the builder can take it;
    // a smaller one waits for the interval (or batch_max). Both are answered after the flush.
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Sha256).unwrap();
    let interval = Duration::from_secs(3);
    let config = SequencerConfig {
        sequence_interval: interval,
        batch_max: 4096,
        ..fast_config()
    };
    let (handle, task) =
        Sequencer::spawn(store.clone(), signer(), config, &mut Registry::default()).unwrap();
    let batch = |from: u64, len: u64| -> Vec<(Vec<u8>, Vec<IndexWrite>)> {
        (from..from + len).map(|i| (entry(i), Vec::new())).collect()
    };
    let started = std::time::Instant::now();
    let ack = handle.submit_batch(batch(0, 1024)).await.unwrap();
    let early = started.elapsed();
    assert_eq!((ack.first, ack.size), (0, 1024));
    assert!(early < interval / 2, "a 1024-entry round took {early:?}");
    assert_eq!(store.head().size, 1024, "acknowledged after its flush");

    let started = std::time::Instant::now();
    let ack = handle.submit_batch(batch(2000, 100)).await.unwrap();
    let waited = started.elapsed();
    assert_eq!((ack.first, ack.size), (1024, 1124));
    assert!(
        waited >= interval - Duration::from_millis(100),
        "a 100-entry round started after {waited:?}"
    );
    handle.shutdown();
    task.await.unwrap().unwrap();
}
