//! The sealed files beside sled (layout version 3): sled keeps only the log's right edge
//! whatever its size (what keeps a restart flat) and never an entry's bytes (so no value grows
//! into a sled blob file that a crash leaves behind), a round written to the sealed files but
//! never committed in sled is cut off at the next open, a lost sealed record refuses the open,
//! and a log of the oldest layout is refused with a clear error.

use crate::store_support::{ORIGIN, append, entry, signer};
use herald_node::store::layout::{
    FORMAT_VERSION, FULL_TILE_BYTES, META_FORMAT, SEALED_DIR, TREE_NAME, bundle_key,
};
use herald_node::store::{LogStore, OpenError, ReadError};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::{HashAlgorithm, verify_consistency, verify_inclusion};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_keeps_only_the_right_edge_of_a_long_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    // Two completed leaf-hash epochs and a level-1 tile, ending mid-bundle.
    append(&store, (0..140_000).map(entry).collect()).await;
    drop(store);
    let store = LogStore::open(dir.path()).unwrap();
    assert_eq!(store.head().size, 140_000);
    let tree = store.db().open_tree(TREE_NAME).unwrap();
    let keys = |prefix: u8| tree.scan_prefix([prefix]).count();
    // Edge bundle 546's length; partial tiles (0, 546), (1, 2) and (2, 0); nothing else.
    assert_eq!(keys(b'b'), 1);
    assert_eq!(tree.get(bundle_key(546)).unwrap().unwrap().len(), 8);
    assert_eq!(keys(b't'), 3);
    assert_eq!(keys(b'x'), 0, "leaf-hash buckets are sealed");
    assert_eq!(tree.len(), keys(b'b') + keys(b't') + keys(b'm'));
    for kv in tree.iter() {
        let (key, value) = kv.unwrap();
        assert!(
            value.len() <= FULL_TILE_BYTES,
            "{key:?} holds {}",
            value.len()
        );
    }
}

/// Entry `i` of 1 KiB: 255 of them make an edge bundle of ~260 KiB, twice sled's inline limit.
fn large_entry(i: u64) -> Vec<u8> {
    let mut e = entry(i);
    e.resize(1_024, (i % 251) as u8);
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_edge_bundle_rewritten_every_round_leaves_no_sled_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    // 20 rounds of 12 entries: the edge bundle grows to 240 KiB, rewritten each round.
    for round in 0..20 {
        append(
            &store,
            (round * 12..round * 12 + 12).map(large_entry).collect(),
        )
        .await;
    }
    let blobs = std::fs::read_dir(dir.path().join("blobs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "sled wrote blob files");
    drop(store);
    let store = LogStore::open(dir.path()).unwrap();
    assert_eq!(store.head().size, 240);
    let got = store.entries(0, 240).unwrap();
    assert_eq!(got.len(), 240);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, e)| *e == large_entry(i as u64))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_edge_bundle_is_corrupt_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    append(&store, (0..300).map(entry).collect()).await;
    // Entries 256..300 are the edge bundle, at the end of `bundles`: flip its last byte.
    let path = dir.path().join(SEALED_DIR).join("bundles");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(store.entries(0, 10).unwrap().len(), 10);
    assert!(matches!(
        store.entries(299, 1),
        Err(ReadError::Corrupt { what }) if what.contains("edge bundle 1")
    ));
    drop(store);
    assert!(matches!(
        LogStore::open(dir.path()),
        Err(OpenError::Read(ReadError::Corrupt { what })) if what.contains("edge bundle 1")
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_of_a_round_that_never_committed_are_cut_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Sha256).unwrap();
    let first = append(&store, (0..1_000).map(entry).collect()).await;
    let before = store.head();
    drop(store);
    // A crash after a round wrote its sealed records, before its sled batch was durable.
    let sealed = dir.path().join(SEALED_DIR);
    let files = ["bundles", "bundles.idx", "tiles.0"];
    let lens = || files.map(|f| std::fs::metadata(sealed.join(f)).unwrap().len());
    let committed = lens();
    for (file, junk) in files.into_iter().zip([70_000, 48, 8_200]) {
        let path = sealed.join(file);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::iter::repeat_n(0xa5u8, junk));
        std::fs::write(&path, bytes).unwrap();
    }
    let store = LogStore::open(dir.path()).unwrap();
    assert_eq!(store.head(), before);
    assert_eq!(lens(), committed, "the uncommitted records are gone");
    // Appends continue where the committed log ended; old and new entries read back.
    let second = append(&store, (1_000..2_000).map(entry).collect()).await;
    assert_eq!(second[0].index, 1_000);
    let head = store.head();
    let verifier = signer().verifier();
    let cp = VerifiedCheckpoint::verify(&head.checkpoint, &verifier).unwrap();
    let h = store.hasher();
    for ack in first.iter().chain(&second).step_by(97) {
        let proof = store.inclusion_proof(ack.index, 2_000).unwrap();
        verify_inclusion(&h, ack.index, 2_000, &ack.leaf_hash, &proof, cp.root()).unwrap();
        assert_eq!(store.entries(ack.index, 1).unwrap(), vec![entry(ack.index)]);
    }
    let proof = store.consistency_proof(1_000, 2_000).unwrap();
    verify_consistency(&h, 1_000, 2_000, &proof, &before.root, cp.root()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_sealed_record_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    append(&store, (0..1_000).map(entry).collect()).await;
    drop(store);
    let tiles = dir.path().join(SEALED_DIR).join("tiles.0");
    let len = std::fs::metadata(&tiles).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&tiles)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    assert!(matches!(
        LogStore::open(dir.path()),
        Err(OpenError::Read(ReadError::Corrupt { what })) if what.contains("tiles.0")
    ));
    std::fs::remove_dir_all(dir.path().join(SEALED_DIR)).unwrap();
    assert!(matches!(
        LogStore::open(dir.path()),
        Err(OpenError::Read(ReadError::Corrupt { what })) if what.contains("missing")
    ));
}

#[test]
fn a_log_of_the_older_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        // What layout version 1 wrote at creation.
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree(TREE_NAME).unwrap();
        tree.insert(META_FORMAT, &1u32.to_be_bytes()[..]).unwrap();
        tree.insert(b"morigin", ORIGIN.as_bytes()).unwrap();
        tree.insert(b"mhash", &b"blake3"[..]).unwrap();
        db.flush().unwrap();
    }
    let err = LogStore::open(dir.path()).unwrap_err();
    assert!(matches!(
        err,
        OpenError::UnsupportedFormat { found: 1, supported } if supported == FORMAT_VERSION
    ));
    assert_eq!(
        err.to_string(),
        "log layout version 1 is not supported (this build reads 3)"
    );
    // Nothing was created beside it.
    assert!(!dir.path().join(SEALED_DIR).exists());
}
