//! Complete subtrees of the log, how they are named, and how storage hands out their hashes.
//!
//! Every hash the log ever stores is the hash of a complete (perfect) subtree: a leaf, or a node
//! whose `2^level` leaves are all present. Incomplete ("ephemeral") nodes on the right edge are
//! never stored; proofs and roots recompute them from the complete subtrees that cover them.
//! This is transparency-dev/merkle's `compact.NodeID` and `compact.RangeNodes`.

use core::ops::Range;

use super::hasher::Hash;

/// A complete (perfect) subtree: `level` = log2 of its leaf count, `index` = its position among
/// subtrees of that level; it covers leaves `[index << level, (index + 1) << level)`.
///
/// Ordered by level first, then index, so a sorted list of ids groups each level together
/// (what a tile store reads in one go).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// log2 of the number of leaves under this node; 0 for a leaf.
    pub level: u8,
    /// Position of this node among the nodes of its level, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// The node at `level` and `index`.
    pub const fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }

    /// The leaf at `index`.
    pub const fn leaf(index: u64) -> Self {
        NodeId { level: 0, index }
    }

    /// The node next to this one under the same parent.
    pub const fn sibling(self) -> Self {
        NodeId {
            level: self.level,
            index: self.index ^ 1,
        }
    }

    /// The node directly above this one, or `None` past the top level a `u64` tree can have.
    pub const fn parent(self) -> Option<Self> {
        if self.level >= 63 {
            return None;
        }
        Some(NodeId {
            level: self.level + 1,
            index: self.index >> 1,
        })
    }

    /// The leaves this node covers, or `None` if they do not fit in a tree of at most
    /// `u64::MAX` leaves (such an id can come from corrupt storage, never from this module).
    pub fn coverage(self) -> Option<Range<u64>> {
        if self.level >= 64 {
            return None;
        }
        let begin = self.index.checked_mul(1u64 << self.level)?;
        let end = (self.index.checked_add(1)?).checked_mul(1u64 << self.level)?;
        Some(begin..end)
    }
}

/// Storage of complete-subtree hashes (sled in the node, memory in tests).
///
/// Implementations return the hash of the complete subtree `id`; asking for a node that is not
/// complete in the stored tree is the caller's bug and should be an error, not a made-up hash.
pub trait HashReader {
    /// Why a read failed (missing node, storage failure).
    type Error: std::error::Error + Send + Sync + 'static;
    /// The hash of the complete subtree `id`.
    fn node_hash(&self, id: NodeId) -> Result<Hash, Self::Error>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    type Error = R::Error;

    fn node_hash(&self, id: NodeId) -> Result<Hash, Self::Error> {
        (**self).node_hash(id)
    }
}

/// Bits needed to write `x` (Go's `bits.Len64`).
pub(crate) fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

/// Splits `[begin, end)` into the leaf counts of its left and right borders: the set bits of
/// `left` are the sizes of the complete subtrees hanging to the right of the path to leaf
/// `begin - 1`, those of `right` the sizes of the subtrees to the left of the path to leaf `end`.
/// Requires `begin <= end`.
fn decompose(begin: u64, end: u64) -> (u64, u64) {
    if begin == 0 {
        return (0, end);
    }
    let before = begin - 1;
    // Only the nodes strictly below the point where the paths to `begin - 1` and `end` meet
    // are inside the range.
    let split = bit_len(before ^ end) - 1;
    let mask = (1u64 << split) - 1;
    (!before & mask, end & mask)
}

/// The number of complete subtrees that cover `[begin, end)` (`begin <= end`).
pub fn range_size(begin: u64, end: u64) -> usize {
    if begin >= end {
        return 0;
    }
    let (left, right) = decompose(begin, end);
    (left.count_ones() + right.count_ones()) as usize
}

/// Appends to `out` the fewest complete subtrees that cover `[begin, end)` exactly, from left to
/// right (sizes first grow, then shrink). Nothing is appended when `begin >= end`.
pub fn range_nodes(begin: u64, end: u64, out: &mut Vec<NodeId>) {
    if begin >= end {
        return;
    }
    let (mut left, mut right) = decompose(begin, end);
    let mut pos = begin;
    // Left border, lower levels first: each set bit is a subtree starting at `pos`.
    while left != 0 {
        let level = left.trailing_zeros();
        out.push(NodeId::new(level as u8, pos >> level));
        // pos + 2^level <= end, so this cannot overflow.
        pos += 1u64 << level;
        left ^= 1u64 << level;
    }
    // Right border, upper levels first.
    while right != 0 {
        let level = bit_len(right) - 1;
        out.push(NodeId::new(level as u8, pos >> level));
        pos += 1u64 << level;
        right ^= 1u64 << level;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `nodes` are complete subtrees, in order, exactly tiling `[begin, end)`.
    fn assert_tiles(begin: u64, end: u64, nodes: &[NodeId]) {
        let mut pos = begin;
        for id in nodes {
            let cover = id.coverage().expect("node inside u64");
            assert_eq!(cover.start, pos, "[{begin},{end}) gap or overlap at {id:?}");
            pos = cover.end;
        }
        assert_eq!(pos, end, "[{begin},{end}) not covered to the end");
    }

    #[test]
    fn range_nodes_tile_every_small_range_minimally() {
        for begin in 0..=130u64 {
            for end in begin..=130u64 {
                let mut nodes = Vec::new();
                range_nodes(begin, end, &mut nodes);
                assert_tiles(begin, end, &nodes);
                assert_eq!(nodes.len(), range_size(begin, end));
                // Minimal: no two adjacent nodes of one level could merge into their parent.
                for pair in nodes.windows(2) {
                    let merge = pair[0].level == pair[1].level
                        && pair[0].index % 2 == 0
                        && pair[1].index == pair[0].index + 1;
                    assert!(!merge, "[{begin},{end}) not minimal: {pair:?}");
                }
            }
        }
    }

    #[test]
    fn range_nodes_from_zero_are_the_set_bits_of_end_largest_first() {
        let mut nodes = Vec::new();
        range_nodes(0, 0b1011, &mut nodes);
        assert_eq!(
            nodes,
            vec![NodeId::new(3, 0), NodeId::new(1, 4), NodeId::new(0, 10)]
        );
    }

    #[test]
    fn range_nodes_reach_the_top_of_u64() {
        let mut nodes = Vec::new();
        range_nodes(1, u64::MAX, &mut nodes);
        assert_tiles(1, u64::MAX, &nodes);
        assert_eq!(nodes.len(), range_size(1, u64::MAX));
        nodes.clear();
        range_nodes(0, u64::MAX, &mut nodes);
        assert_eq!(nodes.len(), 64);
        assert_eq!(nodes[0], NodeId::new(63, 0));
    }

    #[test]
    fn empty_or_reversed_ranges_have_no_nodes() {
        let mut nodes = Vec::new();
        range_nodes(5, 5, &mut nodes);
        range_nodes(7, 3, &mut nodes);
        assert!(nodes.is_empty());
        assert_eq!(range_size(5, 5), 0);
        assert_eq!(range_size(7, 3), 0);
    }

    #[test]
    fn node_relations() {
        let id = NodeId::new(2, 5);
        assert_eq!(id.coverage(), Some(20..24));
        assert_eq!(id.sibling(), NodeId::new(2, 4));
        assert_eq!(id.parent(), Some(NodeId::new(3, 2)));
        assert_eq!(NodeId::leaf(9), NodeId::new(0, 9));
        assert_eq!(NodeId::new(63, 0).parent(), None);
        // Ids that storage could hold but no u64 tree has: no panic, just None.
        assert_eq!(NodeId::new(63, 1).coverage(), None);
        assert_eq!(NodeId::new(200, 0).coverage(), None);
        assert_eq!(NodeId::new(1, u64::MAX).coverage(), None);
        assert_eq!(NodeId::new(63, 0).coverage(), Some(0..1u64 << 63));
    }
}
