//! The log store read back against an in-memory model: entries, leaf hashes, roots and proofs
//! across bundle, tile and epoch boundaries; lookups by leaf hash; typed errors for every
//! out-of-range argument.

use crate::store_support::{ORIGIN, append, entry};
use herald_node::store::{LogStore, ReadError};
use herald_proto::merkle::{
    Hash, HashAlgorithm, LogHasher, MemoryHashes, consistency_proof, inclusion_proof, tree_root,
    verify_consistency, verify_inclusion,
};
use herald_proto::wire::{MAX_ENTRY_PAGE_BYTES, MAX_ENTRY_PAGE_COUNT};

/// What the store must agree with: every entry and the reference tree of their leaf hashes.
struct Model {
    entries: Vec<Vec<u8>>,
    leaves: Vec<Hash>,
    hashes: MemoryHashes,
}

impl Model {
    fn new() -> Self {
        Model {
            entries: Vec::new(),
            leaves: Vec::new(),
            hashes: MemoryHashes::new(),
        }
    }

    fn extend<H: LogHasher>(&mut self, h: &H, entries: &[Vec<u8>]) {
        self.entries.extend_from_slice(entries);
        self.leaves.extend(entries.iter().map(|e| h.hash_leaf(e)));
        self.hashes = MemoryHashes::from_leaf_hashes(h, self.leaves.iter().copied()).0;
    }
}

/// Indexes worth checking in a tree of `size`: both sides of every boundary, and a few others.
fn probes(size: u64) -> Vec<u64> {
    let mut out = vec![0, 1, size / 2, size / 3];
    for b in [255u64, 256, 65535, 65536] {
        out.extend([b.saturating_sub(1), b, b + 1]);
    }
    out.extend([size.saturating_sub(2), size.saturating_sub(1)]);
    out.retain(|&i| i < size);
    out.sort_unstable();
    out.dedup();
    out
}

fn check_against_model(store: &LogStore, model: &Model, old_sizes: &[u64]) {
    let h = store.hasher();
    let size = model.entries.len() as u64;
    let head = store.head();
    assert_eq!(head.size, size);
    let root = tree_root(&h, &model.hashes, size).unwrap();
    assert_eq!(head.root, root, "root at {size}");
    assert_eq!(store.root_at(size).unwrap(), root);

    for i in probes(size) {
        assert_eq!(
            store.leaf_hash(i).unwrap(),
            model.leaves[i as usize],
            "leaf {i}"
        );
        let page = store.entries(i, 3).unwrap();
        let want = &model.entries[i as usize..(i as usize + 3).min(size as usize)];
        assert_eq!(page, want, "entries from {i} at size {size}");
        for s in [i + 1, size] {
            let proof = store.inclusion_proof(i, s).unwrap();
            assert_eq!(
                proof,
                inclusion_proof(&h, &model.hashes, i, s).unwrap(),
                "{i} in {s}"
            );
            let r = tree_root(&h, &model.hashes, s).unwrap();
            verify_inclusion(&h, i, s, &model.leaves[i as usize], &proof, &r).unwrap();
        }
    }
    for &old in old_sizes.iter().filter(|&&o| o > 0 && o <= size) {
        let proof = store.consistency_proof(old, size).unwrap();
        assert_eq!(
            proof,
            consistency_proof(&h, &model.hashes, old, size).unwrap()
        );
        let r1 = store.root_at(old).unwrap();
        verify_consistency(&h, old, size, &proof, &r1, &root).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_match_the_model_across_bundle_tile_and_epoch_boundaries() {
    for algorithm in [HashAlgorithm::Blake3, HashAlgorithm::Sha256] {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::create(dir.path(), ORIGIN, algorithm).unwrap();
        let h = store.hasher();
        let mut model = Model::new();
        let mut sizes = Vec::new();
        for target in [1u64, 255, 256, 257, 65535, 65536, 65537] {
            let next: Vec<Vec<u8>> = (model.entries.len() as u64..target).map(entry).collect();
            let acks = append(&store, next.clone()).await;
            for (k, ack) in acks.iter().enumerate() {
                assert_eq!(ack.index, model.entries.len() as u64 + k as u64);
                assert_eq!(ack.leaf_hash, h.hash_leaf(&next[k]));
            }
            model.extend(&h, &next);
            check_against_model(&store, &model, &sizes);
            sizes.push(target);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaf_hash_lookups_search_completed_epochs_and_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let h = store.hasher();
    // Epoch 0 complete (via buckets), 1000 leaves of epoch 1 (in memory); entry 5 and entry
    // 70000 submitted twice.
    let mut entries: Vec<Vec<u8>> = (0..66_536).map(entry).collect();
    entries[65_600] = entry(5);
    entries[66_000] = entry(65_900);
    append(&store, entries.clone()).await;
    let size = store.head().size;
    assert_eq!(size, 66_536);

    for i in [0u64, 1, 255, 256, 40_000, 65_535] {
        let leaf = h.hash_leaf(&entries[i as usize]);
        assert_eq!(
            store.find_leaf(&leaf, size).unwrap(),
            i,
            "completed epoch, leaf {i}"
        );
    }
    for i in [65_536u64, 65_537, 65_999, 66_535] {
        let leaf = h.hash_leaf(&entries[i as usize]);
        assert_eq!(
            store.find_leaf(&leaf, size).unwrap(),
            i,
            "current epoch, leaf {i}"
        );
        let (index, proof) = store.inclusion_proof_by_leaf_hash(&leaf, size).unwrap();
        assert_eq!(index, i);
        verify_inclusion(&h, i, size, &leaf, &proof, &store.head().root).unwrap();
    }
    // Duplicates: the lowest index wins, across epochs and within one.
    assert_eq!(store.find_leaf(&h.hash_leaf(&entry(5)), size).unwrap(), 5);
    assert_eq!(
        store.find_leaf(&h.hash_leaf(&entry(65_900)), size).unwrap(),
        65_900
    );
    // A leaf that is in the log, but not in the tree of the size asked about.
    let late = h.hash_leaf(&entries[66_000 - 1]);
    assert!(matches!(
        store.find_leaf(&late, 65_999),
        Err(ReadError::NotFound)
    ));
    let epoch0 = h.hash_leaf(&entries[60_000]);
    assert!(matches!(
        store.find_leaf(&epoch0, 60_000),
        Err(ReadError::NotFound)
    ));
    assert_eq!(store.find_leaf(&epoch0, 60_001).unwrap(), 60_000);
    // Never submitted.
    let absent = h.hash_leaf(b"never submitted");
    assert!(matches!(
        store.find_leaf(&absent, size),
        Err(ReadError::NotFound)
    ));
    assert!(matches!(
        store.inclusion_proof_by_leaf_hash(&absent, size),
        Err(ReadError::NotFound)
    ));
    // A size past the head.
    assert!(matches!(
        store.find_leaf(&epoch0, size + 1),
        Err(ReadError::OutOfRange { size: s }) if s == size
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_arguments_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    // Before anything is appended, every read is out of range.
    assert!(matches!(
        store.entries(0, 1),
        Err(ReadError::OutOfRange { size: 0 })
    ));
    assert!(matches!(
        store.leaf_hash(0),
        Err(ReadError::OutOfRange { size: 0 })
    ));
    assert!(matches!(
        store.inclusion_proof(0, 0),
        Err(ReadError::OutOfRange { size: 0 })
    ));
    append(&store, (0..10).map(entry).collect()).await;
    let out = |r: Result<_, ReadError>| matches!(r, Err(ReadError::OutOfRange { size: 10 }));
    assert!(out(store.leaf_hash(10).map(|_| ())));
    assert!(out(store.leaf_hash(u64::MAX).map(|_| ())));
    assert!(out(store.inclusion_proof(5, 5).map(|_| ())), "index = size");
    assert!(
        out(store.inclusion_proof(3, 11).map(|_| ())),
        "size past head"
    );
    assert!(out(store.inclusion_proof(u64::MAX, u64::MAX).map(|_| ())));
    assert!(
        out(store.consistency_proof(6, 5).map(|_| ())),
        "size1 > size2"
    );
    assert!(
        out(store.consistency_proof(5, 11).map(|_| ())),
        "size2 past head"
    );
    assert!(out(store.consistency_proof(0, 5).map(|_| ())), "size1 = 0");
    assert!(out(store.consistency_proof(u64::MAX, u64::MAX).map(|_| ())));
    assert!(out(store.root_at(11).map(|_| ())));
    assert!(out(store.entries(10, 1).map(|_| ())));
    assert!(out(store.entries(u64::MAX, u32::MAX).map(|_| ())));
    assert!(matches!(store.entries(0, 0), Err(ReadError::InvalidCount)));
    // Equal sizes need no proof; a page is cut at the head.
    assert_eq!(store.consistency_proof(7, 7).unwrap(), Vec::<Hash>::new());
    assert_eq!(store.entries(8, 100).unwrap().len(), 2);
    assert!(
        ReadError::OutOfRange { size: 1 }.is_request_error()
            && !ReadError::Corrupt { what: "x".into() }.is_request_error()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_pages_are_bounded_by_count_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::create(dir.path(), ORIGIN, HashAlgorithm::Blake3).unwrap();
    let mut entries: Vec<Vec<u8>> = (0..300).map(entry).collect();
    // 40 large entries: a page of them stops once it holds MAX_ENTRY_PAGE_BYTES.
    entries.extend((0..40u8).map(|i| vec![i; 60_000]));
    entries.push(vec![0xff; 65_535]);
    append(&store, entries.clone()).await;
    let page = store.entries(0, u32::MAX).unwrap();
    assert_eq!(page.len(), MAX_ENTRY_PAGE_COUNT as usize);
    assert_eq!(page, &entries[..256]);
    let page = store.entries(300, 256).unwrap();
    let bytes: usize = page.iter().map(Vec::len).sum();
    assert!(bytes >= MAX_ENTRY_PAGE_BYTES && bytes - 60_000 < MAX_ENTRY_PAGE_BYTES);
    assert_eq!(page, &entries[300..300 + page.len()]);
    assert_eq!(store.entries(340, 5).unwrap(), vec![vec![0xff; 65_535]]);
}
