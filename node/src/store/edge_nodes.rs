//! Folded nodes of the partial right-edge tiles, remembered between reads (DESIGN §6: every
//! submission's ack carries proofs).
//!
//! A node at level `8L + k` (`k` 1 … 7) is not stored: [`super::tiles::TileReader`] folds it from
//! the 2^k level-8L hashes under it. Inside a *full* tile the reader looks it up in the sealed
//! files' memory of folded tiles (`Sealed::folded`); inside the partial tile at the log's right
//! edge it folded it again on every read, up to 127 hash computations a node. Every ack of a
//! round asks for the proofs of entries next to each other at the right edge, at the round's
//! size: the same folded nodes, again and again (`bench submit` with one entry per request spent
//! 45% of the node's CPU in SHA-256 there; `docs/performance.md`).
//!
//! Why a remembered hash is always right: the reader folds only nodes *complete* below its
//! limit, and the limit is at most the published size, so every hash under such a node was
//! flushed before it was published. The hash of a complete subtree of a log never changes: the
//! log only grows, and the one cut (of a round that never committed) happens when the store
//! opens, before this memory exists (it lives in the store's `Inner`, one per open store of one
//! log, dropped with it). A hash is keyed by its node (level, index) alone: within one open log
//! nothing else, not the tree size of the proof nor the round, changes it.
//!
//! Bounded: two generations of [`GENERATION`] nodes; when the newer is full the older is
//! dropped.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use herald_proto::merkle::{Hash, NodeId};

/// Nodes in one generation: the right edge moves by one partial tile per 256 entries, and a
/// partial tile has at most 254 inner nodes per tile level, so this holds the edge's nodes of
/// thousands of recent entries (some 2 x 32 + 16 bytes each: at most ~650 KiB for both
/// generations).
const GENERATION: usize = 4096;

#[derive(Debug, Default)]
struct Generations {
    newer: HashMap<NodeId, Hash>,
    older: HashMap<NodeId, Hash>,
}

/// Folded right-edge node hashes read before (see the module docs). Only
/// [`super::tiles::TileReader`] fills it, and only with nodes complete below its limit.
#[derive(Debug, Default)]
pub(super) struct EdgeNodes(Mutex<Generations>);

impl EdgeNodes {
    fn generations(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A memory of hashes read, changed one map operation at a time: a panic elsewhere
        // leaves it usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The hash of node `id`, if it was remembered.
    pub(super) fn get(&self, id: NodeId) -> Option<Hash> {
        let generations = self.generations();
        generations
            .newer
            .get(&id)
            .or_else(|| generations.older.get(&id))
            .copied()
    }

    /// Remembers the hash of node `id`, which the caller folded from stored hashes and which
    /// is complete below the published size (see the module docs).
    pub(super) fn remember(&self, id: NodeId, hash: Hash) {
        let mut generations = self.generations();
        if generations.newer.len() >= GENERATION {
            generations.older = std::mem::take(&mut generations.newer);
        }
        generations.newer.insert(id, hash);
    }

    /// Nodes held now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        let generations = self.generations();
        generations.newer.len() + generations.older.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{append_round, entry};
    use super::super::tiles::TileReader;
    use super::super::{LogHead, LogStore, RoundWriter};
    use super::*;
    use herald_proto::merkle::{
        HashAlgorithm, LogHasher as _, MemoryHashes, consistency_proof, inclusion_proof,
        range_proof, tree_root, verify_consistency, verify_inclusion,
    };

    fn hash(id: NodeId) -> Hash {
        let mut hash = [id.level; 32];
        hash[..8].copy_from_slice(&id.index.to_le_bytes());
        hash
    }

    #[test]
    fn a_remembered_node_comes_back_and_levels_are_told_apart() {
        let edge = EdgeNodes::default();
        let id = NodeId::new(3, 7);
        assert_eq!(edge.get(id), None);
        edge.remember(id, hash(id));
        assert_eq!(edge.get(id), Some(hash(id)));
        assert_eq!(edge.get(NodeId::new(4, 7)), None);
        assert_eq!(edge.get(NodeId::new(3, 6)), None);
    }

    #[test]
    fn the_memory_is_bounded_and_keeps_the_latest() {
        let edge = EdgeNodes::default();
        for index in 0..3 * GENERATION as u64 {
            let id = NodeId::new(1, index);
            edge.remember(id, hash(id));
            assert!(edge.len() <= 2 * GENERATION);
        }
        let last = NodeId::new(1, 3 * GENERATION as u64 - 1);
        assert_eq!(edge.get(last), Some(hash(last)));
        assert_eq!(edge.get(NodeId::new(1, 0)), None);
    }

    /// Proofs the store answers (through the memory, warmed in any order) and the same proofs
    /// computed without it, from the store's tiles and from proto's tree of the same leaves.
    fn assert_proofs_match(store: &LogStore, leaves: &[Hash], sizes: &[u64]) {
        let h = store.hasher();
        let (model, _) = MemoryHashes::from_leaf_hashes(&h, leaves.iter().copied());
        let inner = &store.inner;
        for &s in sizes {
            // No memory: what the reader folds per request.
            let plain = TileReader::new(&inner.tree, &inner.sealed, h, s);
            let root = tree_root(&h, &model, s).unwrap();
            assert_eq!(store.root_at(s).unwrap(), root, "root at {s}");
            // Entries at the edge (what acks ask for), at tile boundaries, and spread out.
            let mut indexes = vec![0, s / 2, s - 1, s.saturating_sub(2), s.saturating_sub(257)];
            indexes.extend((0..s).step_by(193));
            for i in indexes.into_iter().filter(|&i| i < s) {
                let proof = store.inclusion_proof(i, s).unwrap();
                assert_eq!(
                    proof,
                    inclusion_proof(&h, &model, i, s).unwrap(),
                    "{i} in {s}"
                );
                assert_eq!(
                    proof,
                    inclusion_proof(&h, &plain, i, s).unwrap(),
                    "{i} in {s}"
                );
                verify_inclusion(&h, i, s, &leaves[i as usize], &proof, &root).unwrap();
            }
            let mut olds = vec![
                1,
                s / 2,
                s - 1,
                s,
                s.saturating_sub(255),
                s.saturating_sub(300),
            ];
            olds.extend((1..s).step_by(181));
            for old in olds.into_iter().filter(|&o| (1..=s).contains(&o)) {
                let proof = store.consistency_proof(old, s).unwrap();
                let reference = consistency_proof(&h, &model, old, s).unwrap();
                assert_eq!(proof, reference, "{old} to {s}");
                assert_eq!(proof, consistency_proof(&h, &plain, old, s).unwrap());
                let old_root = tree_root(&h, &model, old).unwrap();
                verify_consistency(&h, old, s, &proof, &old_root, &root).unwrap();
            }
            for (begin, end) in [(s - 1, s), (s / 3, s), (0, s), (s / 2, s / 2 + 1)] {
                if begin < end {
                    assert_eq!(
                        store.range_proof(begin, end, s).unwrap(),
                        range_proof(&model, begin, end, s).unwrap(),
                        "range {begin}..{end} in {s}"
                    );
                }
            }
        }
    }

    /// The sizes to ask about at `size`: the last few dozen, around every tile boundary
    /// below, and every 61st, largest first and then smallest first, so that nodes
    /// remembered at one size are read back at others.
    fn sizes_up_to(size: u64) -> Vec<u64> {
        let mut sizes: Vec<u64> = (size.saturating_sub(40).max(1)..=size).rev().collect();
        for boundary in (1..=size / 256).rev().map(|n| n * 256) {
            sizes.extend([boundary + 1, boundary, boundary - 1]);
        }
        sizes.extend((1..size).step_by(61));
        sizes.retain(|&s| s <= size);
        sizes
    }

    #[test]
    fn proofs_through_the_memory_equal_the_reference_at_every_size_and_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            LogStore::create(dir.path(), "t.test/herald", HashAlgorithm::Sha256).unwrap();
        let mut leaves = Vec::new();
        // Single entries (as one-entry submissions make them), then rounds that end on, just
        // before and just after tile boundaries (256) and level-9 nodes (512 entries) of the
        // partial level-1 tile, with the store reopened (an empty memory) now and then.
        let rounds = [
            1usize, 1, 1, 1, 3, 120, 129, 1, 254, 2, 1, 255, 1, 300, 500, 1, 1,
        ];
        for (r, n) in rounds.into_iter().enumerate() {
            let start = leaves.len();
            let entries: Vec<Vec<u8>> = (start..start + n).map(entry).collect();
            leaves.extend(append_round(&store, &entries));
            let size = leaves.len() as u64;
            assert_proofs_match(&store, &leaves, &sizes_up_to(size));
            if r % 4 == 3 {
                drop(store);
                store = crate::store::LogStore::open(dir.path()).unwrap();
                assert_eq!(store.inner.edge.len(), 0, "a reopened store starts empty");
                assert_proofs_match(&store, &leaves, &sizes_up_to(size));
            }
        }
        assert!(
            store.inner.edge.len() > 0,
            "the proofs went through the memory"
        );

        // A round applied but not yet published (its hashes already in the edge tile, past
        // the published size): proofs at the published sizes are unchanged, and those at the
        // new size are right once it is published.
        let published = leaves.len();
        let mut app = store.appender().unwrap();
        let mut round = app.round();
        let h = store.hasher();
        let mut next = Vec::new();
        for e in (published..published + 77).map(entry) {
            let leaf = h.hash_leaf(&e);
            round.append(&e, leaf);
            next.push(leaf);
        }
        let head = LogHead {
            size: round.size(),
            root: round.root(),
            checkpoint: b"placeholder".to_vec(),
            time_ms: 2,
        };
        store.apply(round.finish(&head)).unwrap();
        assert_proofs_match(&store, &leaves, &sizes_up_to(published as u64));
        RoundWriter::flush(&store).unwrap();
        store.publish(head, &next);
        leaves.extend(next);
        assert_proofs_match(&store, &leaves, &sizes_up_to(leaves.len() as u64));
    }
}
