//! The right edge ("compact range") of the log: what the sequencer keeps in memory.
//!
//! A tree of `size` leaves is, seen from its right edge, `popcount(size)` perfect subtrees (one
//! per set bit of `size`, largest first). Their hashes are enough to compute the root and to
//! append: a new leaf merges with the edge's smallest subtrees exactly like binary addition
//! carries. So appending costs O(log n) hashes, restarting reads O(log n) stored hashes, and the
//! leaves never need to be in memory. Every subtree an append completes is reported to the
//! caller, who stores it; those stored hashes are all later proofs are made from.

use super::hasher::{Hash, LogHasher};
use super::node::{HashReader, NodeId};
use super::tree::fold_right;

/// Why a right edge could not be built or extended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompactRangeError {
    /// The number of hashes does not match the size (one per set bit of the size).
    #[error("a tree of size {size} has {want} right-edge hashes, got {got}")]
    WrongHashCount {
        /// The tree size claimed.
        size: u64,
        /// Hashes given.
        got: usize,
        /// Hashes a tree of that size has on its right edge.
        want: usize,
    },
    /// The tree already has `u64::MAX` leaves; a leaf index past it cannot be written.
    #[error("the tree is full: it already has u64::MAX leaves")]
    Full,
    /// A complete subtree of `2^level` leaves can only be appended to a tree whose size is a
    /// multiple of `2^level` (it must start where a subtree of its level starts).
    #[error("a subtree of level {level} cannot start at leaf {size}")]
    Unaligned {
        /// The tree's size, where the subtree would start.
        size: u64,
        /// The subtree's level.
        level: u8,
    },
}

/// The right edge of the tree `[0, size)`: hashes of its `popcount(size)` perfect subtrees,
/// largest (leftmost) first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// Invariant: `hashes.len() == size.count_ones()`, and `hashes[i]` is the hash of
    /// `nodes_for(size)[i]`. Every constructor checks it; `append` keeps it.
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        CompactRange::default()
    }

    /// The tree of `size` leaves with these right-edge hashes (largest subtree first), e.g. as
    /// stored in the log's metadata. Only the count is checked; the hashes are trusted.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, CompactRangeError> {
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(CompactRangeError::WrongHashCount {
                size,
                got: hashes.len(),
                want,
            });
        }
        Ok(CompactRange { size, hashes })
    }

    /// The perfect subtrees forming the right edge of `[0, size)`, largest first.
    pub fn nodes_for(size: u64) -> Vec<NodeId> {
        (0..u64::BITS)
            .rev()
            .filter(|level| size >> level & 1 == 1)
            // size >> level is odd, so the subtree ending at the bit's boundary has index one less.
            .map(|level| NodeId::new(level as u8, (size >> level) - 1))
            .collect()
    }

    /// Restores the right edge of `[0, size)` from storage with at most 64 reads: the restart
    /// path of the sequencer.
    pub fn from_reader<R: HashReader>(r: &R, size: u64) -> Result<Self, R::Error> {
        let hashes = Self::nodes_for(size)
            .into_iter()
            .map(|id| r.node_hash(id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CompactRange { size, hashes })
    }

    /// The number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The right-edge hashes, largest subtree first (what [`from_parts`](Self::from_parts) takes).
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Whether the tree has `u64::MAX` leaves and can take no more.
    pub fn is_full(&self) -> bool {
        self.size == u64::MAX
    }

    /// Adds one leaf (already leaf-hashed); calls `visit(id, hash)` for the leaf (level 0) and for
    /// every complete subtree it completes, in bottom-up order.
    ///
    /// A full tree (see [`is_full`](Self::is_full)) is left unchanged and nothing is visited; use
    /// [`try_append`](Self::try_append) where the size came from outside and that must be seen.
    pub fn append<H: LogHasher>(
        &mut self,
        h: &H,
        leaf_hash: Hash,
        visit: impl FnMut(NodeId, &Hash),
    ) {
        // The only error is Full, documented above as a no-op.
        let _ = self.try_append(h, leaf_hash, visit);
    }

    /// [`append`](Self::append), reporting a full tree as [`CompactRangeError::Full`].
    pub fn try_append<H: LogHasher>(
        &mut self,
        h: &H,
        leaf_hash: Hash,
        mut visit: impl FnMut(NodeId, &Hash),
    ) -> Result<(), CompactRangeError> {
        let index = self.size;
        let size = index.checked_add(1).ok_or(CompactRangeError::Full)?;
        visit(NodeId::leaf(index), &leaf_hash);
        let mut hash = leaf_hash;
        let mut level = 0u32;
        // Each trailing one bit of `index` is a subtree of that level ending just before the new
        // leaf: merge with it (a carry). index < u64::MAX, so level stays below 64.
        while index >> level & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("one edge hash per set bit of size (struct invariant)");
            hash = h.hash_children(&left, &hash);
            level += 1;
            visit(NodeId::new(level as u8, index >> level), &hash);
        }
        self.hashes.push(hash);
        self.size = size;
        Ok(())
    }

    /// Adds the complete subtree of `2^level` leaves whose hash is `hash`, starting at leaf
    /// `size` (which must be a multiple of `2^level`): what a verifier does with the hashes
    /// of subtrees it does not hold the leaves of (a range proof's right side). Calls
    /// `visit(id, hash)` for the subtree and for every subtree it completes, bottom-up.
    pub fn try_append_node<H: LogHasher>(
        &mut self,
        h: &H,
        level: u8,
        hash: Hash,
        mut visit: impl FnMut(NodeId, &Hash),
    ) -> Result<(), CompactRangeError> {
        let unaligned = CompactRangeError::Unaligned {
            size: self.size,
            level,
        };
        let width = 1u64
            .checked_shl(u32::from(level))
            .ok_or(unaligned.clone())?;
        if !self.size.is_multiple_of(width) {
            return Err(unaligned);
        }
        let size = self
            .size
            .checked_add(width)
            .ok_or(CompactRangeError::Full)?;
        let mut at = NodeId::new(level, self.size >> level);
        visit(at, &hash);
        let mut hash = hash;
        // As in `try_append`, one level up: each set bit of the size at this node's level or
        // above, lowest first, is a subtree ending where this one starts. The size is aligned,
        // so its lowest set bit is at `level` or higher, and the edge's last hash is that one.
        while self.size.checked_shr(u32::from(at.level)).unwrap_or(0) & 1 == 1 {
            let left = self
                .hashes
                .pop()
                .expect("one edge hash per set bit of size (struct invariant)");
            hash = h.hash_children(&left, &hash);
            at = NodeId::new(at.level + 1, at.index >> 1);
            visit(at, &hash);
        }
        self.hashes.push(hash);
        self.size = size;
        Ok(())
    }

    /// The root of the tree: the edge folded from the right; `empty_root()` for size 0.
    pub fn root<H: LogHasher>(&self, h: &H) -> Hash {
        fold_right(h, &self.hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{AnyHasher, Blake3Hasher, HashAlgorithm, MemoryHashes, Sha256Hasher};
    use std::collections::BTreeMap;

    use crate::testkit::reference::mth as naive;

    fn hashers() -> [AnyHasher; 2] {
        [
            AnyHasher(HashAlgorithm::Blake3),
            AnyHasher(HashAlgorithm::Sha256),
        ]
    }

    #[test]
    fn roots_equal_rfc6962_for_sizes_0_to_300() {
        for h in hashers() {
            let leaves: Vec<Hash> = (0..300u32).map(|i| h.hash_leaf(&i.to_be_bytes())).collect();
            let mut range = CompactRange::new();
            assert_eq!(range.root(&h), h.empty_root());
            for (i, leaf) in leaves.iter().enumerate() {
                range.append(&h, *leaf, |_, _| {});
                assert_eq!(range.size(), i as u64 + 1);
                assert_eq!(range.root(&h), naive(&h, &leaves[..=i]), "size {}", i + 1);
                assert_eq!(range.hashes().len(), range.size().count_ones() as usize);
            }
        }
    }

    #[test]
    fn visit_reports_exactly_the_newly_completed_subtrees() {
        let h = Sha256Hasher;
        let leaves: Vec<Hash> = (0..200u32).map(|i| h.hash_leaf(&i.to_be_bytes())).collect();
        let mut range = CompactRange::new();
        let mut seen: BTreeMap<NodeId, Hash> = BTreeMap::new();
        for (i, leaf) in leaves.iter().enumerate() {
            let size = i as u64 + 1;
            let mut visited = Vec::new();
            range.append(&h, *leaf, |id, hash| visited.push((id, *hash)));
            // Exactly the subtrees whose last leaf is leaf i: levels 0..=trailing_ones(i).
            let want_levels: Vec<u8> = (0..=(i as u64).trailing_ones() as u8).collect();
            let got_levels: Vec<u8> = visited.iter().map(|(id, _)| id.level).collect();
            assert_eq!(got_levels, want_levels, "append #{i}");
            for (id, hash) in visited {
                let cover = id.coverage().unwrap();
                assert_eq!(cover.end, size, "{id:?} does not end at the new leaf");
                let want = naive(&h, &leaves[cover.start as usize..cover.end as usize]);
                assert_eq!(hash, want, "{id:?}");
                assert!(seen.insert(id, hash).is_none(), "{id:?} reported twice");
            }
        }
        // Every complete subtree of the 200-leaf tree was reported once.
        let complete: usize = (0..8).map(|level| 200usize >> level).sum();
        assert_eq!(seen.len(), complete);
    }

    #[test]
    fn nodes_for_lists_the_set_bits_largest_first() {
        assert_eq!(CompactRange::nodes_for(0), vec![]);
        assert_eq!(
            CompactRange::nodes_for(13),
            vec![NodeId::new(3, 0), NodeId::new(2, 2), NodeId::new(0, 12)]
        );
        let top = CompactRange::nodes_for(u64::MAX);
        assert_eq!(top.len(), 64);
        assert_eq!(top[0], NodeId::new(63, 0));
        assert_eq!(top[63], NodeId::new(0, u64::MAX - 1));
    }

    #[test]
    fn from_reader_restores_the_same_edge() {
        let h = Blake3Hasher;
        let mut store = MemoryHashes::new();
        let mut range = CompactRange::new();
        for i in 0..150u32 {
            range.append(&h, h.hash_leaf(&i.to_be_bytes()), |id, hash| {
                store
                    .store(id, *hash)
                    .expect("appends report contiguous nodes");
            });
            let restored = CompactRange::from_reader(&store, range.size()).unwrap();
            assert_eq!(restored, range);
            assert_eq!(
                CompactRange::from_parts(range.size(), range.hashes().to_vec()),
                Ok(range.clone())
            );
        }
        // A size past what is stored is the storage's error.
        assert!(CompactRange::from_reader(&store, 151).is_err());
    }

    #[test]
    fn restored_edge_keeps_appending_like_the_original() {
        let h = Sha256Hasher;
        let mut a = CompactRange::new();
        for i in 0..37u32 {
            a.append(&h, h.hash_leaf(&i.to_be_bytes()), |_, _| {});
        }
        let mut b = CompactRange::from_parts(a.size(), a.hashes().to_vec()).unwrap();
        for i in 37..100u32 {
            let leaf = h.hash_leaf(&i.to_be_bytes());
            let (mut va, mut vb) = (Vec::new(), Vec::new());
            a.append(&h, leaf, |id, x| va.push((id, *x)));
            b.append(&h, leaf, |id, x| vb.push((id, *x)));
            assert_eq!(va, vb);
        }
        assert_eq!(a.root(&h), b.root(&h));
    }

    #[test]
    fn from_parts_checks_the_hash_count() {
        assert_eq!(
            CompactRange::from_parts(6, vec![[0; 32]]),
            Err(CompactRangeError::WrongHashCount {
                size: 6,
                got: 1,
                want: 2
            })
        );
        assert!(CompactRange::from_parts(0, vec![[0; 32]]).is_err());
        assert!(CompactRange::from_parts(0, vec![]).is_ok());
    }

    #[test]
    fn appending_a_subtree_equals_appending_its_leaves() {
        let h = Sha256Hasher;
        let leaves: Vec<Hash> = (0..64u32).map(|i| h.hash_leaf(&i.to_be_bytes())).collect();
        for start in [0usize, 4, 8, 12, 16, 32, 40, 48] {
            for level in 0..=3u8 {
                let width = 1usize << level;
                if start % width != 0 || start + width > leaves.len() {
                    continue;
                }
                let mut by_leaf = CompactRange::new();
                let mut by_node = CompactRange::new();
                for leaf in &leaves[..start] {
                    by_leaf.append(&h, *leaf, |_, _| {});
                    by_node.append(&h, *leaf, |_, _| {});
                }
                let mut leaf_visits = BTreeMap::new();
                for leaf in &leaves[start..start + width] {
                    by_leaf.append(&h, *leaf, |id, x| {
                        leaf_visits.insert(id, *x);
                    });
                }
                let subtree = naive(&h, &leaves[start..start + width]);
                let mut node_visits = BTreeMap::new();
                by_node
                    .try_append_node(&h, level, subtree, |id, x| {
                        node_visits.insert(id, *x);
                    })
                    .unwrap();
                assert_eq!(by_node, by_leaf, "start {start} level {level}");
                // The subtree and everything above it that it completes are reported.
                for (id, x) in &node_visits {
                    assert_eq!(leaf_visits.get(id), Some(x), "{id:?}");
                    assert!(id.level >= level);
                }
            }
        }
    }

    #[test]
    fn an_unaligned_subtree_is_refused() {
        let h = Blake3Hasher;
        let mut range = CompactRange::from_parts(6, vec![[1; 32], [2; 32]]).unwrap();
        let before = range.clone();
        assert_eq!(
            range.try_append_node(&h, 2, [3; 32], |_, _| {}),
            Err(CompactRangeError::Unaligned { size: 6, level: 2 })
        );
        assert_eq!(
            range.try_append_node(&h, 200, [3; 32], |_, _| {}),
            Err(CompactRangeError::Unaligned {
                size: 6,
                level: 200
            })
        );
        assert_eq!(range, before);
        assert!(range.try_append_node(&h, 1, [3; 32], |_, _| {}).is_ok());
        assert_eq!(range.size(), 8);
    }

    #[test]
    fn a_full_tree_refuses_leaves_without_panicking() {
        let h = Blake3Hasher;
        let mut range = CompactRange::from_parts(u64::MAX - 1, vec![[7; 32]; 63]).unwrap();
        let mut visits = 0;
        range.append(&h, [1; 32], |_, _| visits += 1);
        assert_eq!((range.size(), visits), (u64::MAX, 1));
        assert!(range.is_full());
        assert_eq!(range.hashes().len(), 64);
        assert_eq!(
            range.try_append(&h, [2; 32], |_, _| visits += 1),
            Err(CompactRangeError::Full)
        );
        let before = range.clone();
        range.append(&h, [2; 32], |_, _| visits += 1);
        assert_eq!((range, visits), (before, 1));
    }
}
