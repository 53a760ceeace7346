//! An in-memory store of complete-subtree hashes, for tests, benchmarks, and clients that
//! rebuild a window of leaves to check what a log served them.
//!
//! Each level is one contiguous run of hashes, which is what appending produces: a right edge
//! reports the nodes of every level left to right with no gaps, starting wherever the window
//! starts. About 64 bytes per leaf (a leaf hash plus, on average, one node hash).

use super::compact::CompactRange;
use super::hasher::{Hash, LogHasher};
use super::node::{HashReader, NodeId};

/// Why a node could not be read from or stored in a [`MemoryHashes`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryHashesError {
    /// The node was never stored.
    #[error("node (level {}, index {}) is not stored", .0.level, .0.index)]
    Missing(NodeId),
    /// Storing the node would leave a hole in its level (nodes go in left to right).
    #[error("node (level {}, index {}) is not next to the stored run of its level", .id.level, .id.index)]
    Gap {
        /// The node that was to be stored.
        id: NodeId,
    },
}

/// One level's hashes: nodes `first .. first + hashes.len()`.
#[derive(Clone, Debug, Default)]
struct Level {
    first: u64,
    hashes: Vec<Hash>,
}

/// In-memory complete-subtree store; fill it from [`CompactRange::append`]'s visitor.
#[derive(Clone, Debug, Default)]
pub struct MemoryHashes {
    levels: Vec<Level>,
}

impl MemoryHashes {
    /// An empty store.
    pub fn new() -> Self {
        MemoryHashes::default()
    }

    /// Hashes `leaf_hashes` into a tree from size 0, storing every complete subtree; returns the
    /// store and the tree's right edge.
    pub fn from_leaf_hashes<H: LogHasher>(
        h: &H,
        leaf_hashes: impl IntoIterator<Item = Hash>,
    ) -> (Self, CompactRange) {
        let mut store = MemoryHashes::new();
        let mut range = CompactRange::new();
        for leaf in leaf_hashes {
            range.append(h, leaf, |id, hash| {
                // Appends from an empty tree report each level's nodes in order from index 0.
                store
                    .store(id, *hash)
                    .expect("appends report contiguous nodes");
            });
        }
        (store, range)
    }

    /// Stores the hash of `id`: the next node of its level, or a replacement of a stored one.
    /// The first node stored at a level may have any index (a window need not start at leaf 0).
    pub fn store(&mut self, id: NodeId, hash: Hash) -> Result<(), MemoryHashesError> {
        let level = usize::from(id.level);
        if self.levels.len() <= level {
            self.levels.resize_with(level + 1, Level::default);
        }
        let run = &mut self.levels[level];
        if run.hashes.is_empty() {
            run.first = id.index;
        }
        let Some(offset) = id.index.checked_sub(run.first) else {
            return Err(MemoryHashesError::Gap { id });
        };
        match usize::try_from(offset) {
            Ok(o) if o < run.hashes.len() => run.hashes[o] = hash,
            Ok(o) if o == run.hashes.len() => run.hashes.push(hash),
            _ => return Err(MemoryHashesError::Gap { id }),
        }
        Ok(())
    }

    /// The number of node hashes stored, all levels together.
    pub fn len(&self) -> usize {
        self.levels.iter().map(|l| l.hashes.len()).sum()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl HashReader for MemoryHashes {
    type Error = MemoryHashesError;

    fn node_hash(&self, id: NodeId) -> Result<Hash, MemoryHashesError> {
        let run = self
            .levels
            .get(usize::from(id.level))
            .ok_or(MemoryHashesError::Missing(id))?;
        id.index
            .checked_sub(run.first)
            .and_then(|o| usize::try_from(o).ok())
            .and_then(|o| run.hashes.get(o))
            .copied()
            .ok_or(MemoryHashesError::Missing(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{Blake3Hasher, range_root, tree_root};

    #[test]
    fn stores_every_complete_subtree_of_a_built_tree() {
        let h = Blake3Hasher;
        let leaves: Vec<Hash> = (0..100u32).map(|i| h.hash_leaf(&i.to_be_bytes())).collect();
        let (store, range) = MemoryHashes::from_leaf_hashes(&h, leaves.iter().copied());
        assert_eq!(range.size(), 100);
        assert_eq!(store.len(), 100 + 50 + 25 + 12 + 6 + 3 + 1);
        for (i, leaf) in leaves.iter().enumerate() {
            assert_eq!(store.node_hash(NodeId::leaf(i as u64)), Ok(*leaf));
        }
        assert_eq!(
            store.node_hash(NodeId::new(2, 25)),
            Err(MemoryHashesError::Missing(NodeId::new(2, 25)))
        );
        assert_eq!(
            store.node_hash(NodeId::new(9, 0)),
            Err(MemoryHashesError::Missing(NodeId::new(9, 0)))
        );
        assert_eq!(tree_root(&h, &store, 100), Ok(range.root(&h)));
    }

    #[test]
    fn a_window_that_starts_mid_log_proves_its_own_subtrees() {
        let h = Blake3Hasher;
        let leaves: Vec<Hash> = (0..64u32).map(|i| h.hash_leaf(&i.to_be_bytes())).collect();
        let (full, _) = MemoryHashes::from_leaf_hashes(&h, leaves.iter().copied());
        // A client knows the edge at 37 (e.g. from a checkpoint's proof) and the leaves after.
        let mut range = CompactRange::from_reader(&full, 37).unwrap();
        let mut window = MemoryHashes::new();
        for leaf in &leaves[37..] {
            range.append(&h, *leaf, |id, hash| window.store(id, *hash).unwrap());
        }
        assert_eq!(range.root(&h), tree_root(&h, &full, 64).unwrap());
        assert_eq!(
            range_root(&h, &window, 40, 48),
            range_root(&h, &full, 40, 48)
        );
        assert!(window.node_hash(NodeId::leaf(36)).is_err());
    }

    #[test]
    fn gaps_and_overwrites() {
        let mut store = MemoryHashes::new();
        store.store(NodeId::new(1, 5), [1; 32]).unwrap();
        store.store(NodeId::new(1, 6), [2; 32]).unwrap();
        store.store(NodeId::new(1, 5), [3; 32]).unwrap();
        assert_eq!(store.node_hash(NodeId::new(1, 5)), Ok([3; 32]));
        let gap = NodeId::new(1, 8);
        assert_eq!(
            store.store(gap, [0; 32]),
            Err(MemoryHashesError::Gap { id: gap })
        );
        let before = NodeId::new(1, 4);
        assert_eq!(
            store.store(before, [0; 32]),
            Err(MemoryHashesError::Gap { id: before })
        );
        assert_eq!(store.len(), 2);
        assert!(!store.is_empty());
    }
}
