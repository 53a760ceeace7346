//! Restart: a log closed and reopened has the same head, serves the same proofs, and appends
//! continue at the right indexes, consistently with every earlier checkpoint. Opening refuses a
//! log of another origin or algorithm, a missing log, and a directory already in use.

use crate::store_support::{ORIGIN, append, entry, signer};
use herald_node::store::{LogStore, OpenError, ReadError};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::{HashAlgorithm, LogHasher, verify_consistency, verify_inclusion};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_log_has_the_same_head_and_keeps_appending() {
    let dir = tempfile::tempdir().unwrap();
    let verifier = signer().verifier();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Sha256).unwrap();
    let h = store.hasher();
    // Stop mid-bundle and mid-epoch, then cross the epoch boundary after the restart.
    let first: Vec<Vec<u8>> = (0..65_500).map(entry).collect();
    let acks = append(&store, first.clone()).await;
    let before = store.head();
    let old_cp = VerifiedCheckpoint::verify(&before.checkpoint, &verifier).unwrap();
    assert_eq!(old_cp.size(), 65_500);
    drop(store);

    let store = LogStore::open(dir.path()).unwrap();
    assert_eq!(store.head(), before, "same size, root, checkpoint and time");
    assert_eq!(store.algorithm(), HashAlgorithm::Sha256);
    assert_eq!(store.origin(), ORIGIN);
    for i in [0u64, 255, 256, 30_000, 65_499] {
        let proof = store.inclusion_proof(i, 65_500).unwrap();
        verify_inclusion(
            &h,
            i,
            65_500,
            &acks[i as usize].leaf_hash,
            &proof,
            old_cp.root(),
        )
        .unwrap();
        assert_eq!(
            store
                .find_leaf(&acks[i as usize].leaf_hash, 65_500)
                .unwrap(),
            i
        );
    }

    let second: Vec<Vec<u8>> = (65_500..66_000).map(entry).collect();
    let acks2 = append(&store, second.clone()).await;
    for (k, ack) in acks2.iter().enumerate() {
        assert_eq!(
            ack.index,
            65_500 + k as u64,
            "indexes continue after the restart"
        );
    }
    let last = acks2.last().unwrap();
    let new_cp = VerifiedCheckpoint::verify(&last.checkpoint, &verifier).unwrap();
    assert_eq!(new_cp.size(), 66_000);
    let proof = store.consistency_proof(65_500, 66_000).unwrap();
    verify_consistency(&h, 65_500, 66_000, &proof, old_cp.root(), new_cp.root()).unwrap();
    // Leaves from before the restart are now found in the completed epoch's buckets.
    assert_eq!(
        store.find_leaf(&h.hash_leaf(&first[12]), 66_000).unwrap(),
        12
    );
    assert_eq!(
        store.find_leaf(&h.hash_leaf(&second[99]), 66_000).unwrap(),
        65_599
    );
    drop(store);

    // And once more: the second run's head survives too.
    let store = LogStore::open(dir.path()).unwrap();
    assert_eq!(store.head().checkpoint, last.checkpoint);
    assert_eq!(store.entries(65_990, 20).unwrap(), &second[490..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_refuses_another_origin_or_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    append(&store, (0..3).map(entry).collect()).await;
    drop(store);
    assert!(matches!(
        LogStore::open_or_create(dir.path(), "beta.test/herald", HashAlgorithm::Blake3),
        Err(OpenError::OriginMismatch { stored, .. }) if stored == ORIGIN
    ));
    assert!(matches!(
        LogStore::open_or_create(dir.path(), ORIGIN, HashAlgorithm::Sha256),
        Err(OpenError::AlgorithmMismatch {
            stored: HashAlgorithm::Blake3,
            given: HashAlgorithm::Sha256
        })
    ));
    assert!(matches!(
        LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3),
        Err(OpenError::AlreadyExists { .. })
    ));
    let store = LogStore::open_or_create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    assert_eq!(store.head().size, 3);
}

#[test]
fn open_refuses_missing_logs_bad_origins_and_held_directories() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    assert!(matches!(
        LogStore::open(&missing),
        Err(OpenError::NotALog { .. })
    ));
    assert!(!missing.exists(), "open must not create a directory");
    // A sled database without a log in it.
    let empty = dir.path().join("empty");
    drop(sled::open(&empty).unwrap());
    assert!(matches!(
        LogStore::open(&empty),
        Err(OpenError::NotALog { .. })
    ));
    for bad in [
        "",
        "has space/herald",
        "plus+sign",
        &"x".repeat(herald_proto::wire::MAX_ORIGIN_BYTES + 1),
    ] {
        assert!(matches!(
            LogStore::create(dir.path().join("bad"), bad, HashAlgorithm::Blake3),
            Err(OpenError::InvalidOrigin(_))
        ));
    }

    let held = dir.path().join("held");
    let store = LogStore::create(&held, ORIGIN, HashAlgorithm::Blake3).unwrap();
    assert!(matches!(LogStore::open(&held), Err(OpenError::Locked { path }) if path == held));
    drop(store);
    assert!(
        LogStore::open(&held).is_ok(),
        "released once the first handle is gone"
    );
}

#[test]
fn a_fresh_log_reads_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let head = store.head();
    assert_eq!(head.size, 0);
    assert_eq!(head.root, store.hasher().empty_root());
    assert!(
        head.checkpoint.is_empty(),
        "no checkpoint before the sequencer signs one"
    );
    assert!(matches!(
        store.root_at(1),
        Err(ReadError::OutOfRange { size: 0 })
    ));
    assert_eq!(store.root_at(0).unwrap(), store.hasher().empty_root());
    drop(store);
    assert_eq!(LogStore::open(dir.path()).unwrap().head().size, 0);
}
