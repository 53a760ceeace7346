//! Roots of the log and of its subtrees, computed from stored complete-subtree hashes.
//!
//! Nothing here needs the leaves: a root reads at most 64 stored hashes (one per set bit of the
//! range's size), so the node answers "what is the root at size n" in O(log n) for any past n.

use core::convert::Infallible;

use super::hasher::{Hash, LogHasher};
use super::node::{HashReader, NodeId, bit_len, range_nodes};

/// Why a root or proof could not be computed.
///
/// `E` is the storage's error; functions that read nothing (proof plans) use the default
/// [`Infallible`], and [`TreeError::widen`] turns their errors into any storage's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError<E = Infallible> {
    /// An inclusion proof was asked for a leaf that is not in the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf asked about.
        index: u64,
        /// The size of the tree it was asked in.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("size1 {size1} is larger than size2 {size2}")]
    SizesOutOfOrder {
        /// The first (older) size.
        size1: u64,
        /// The second (newer) size.
        size2: u64,
    },
    /// A range whose start is past its end.
    #[error("range [{begin}, {end}) ends before it begins")]
    BadRange {
        /// First leaf of the range.
        begin: u64,
        /// One past its last leaf.
        end: u64,
    },
    /// A range that RFC 6962 never hashes as a subtree: its start is not a multiple of the
    /// largest power of two not above its length, so its hash would be a value no proof uses.
    #[error("range [{begin}, {end}) is not an RFC 6962 subtree")]
    NotASubtree {
        /// First leaf of the range.
        begin: u64,
        /// One past its last leaf.
        end: u64,
    },
    /// [`ProofNodes::rehash`](super::ProofNodes::rehash) got a different number of hashes than
    /// the plan has nodes.
    #[error("got {got} hashes for a proof plan of {want} nodes")]
    WrongHashCount {
        /// Hashes passed in.
        got: usize,
        /// Nodes in the plan.
        want: usize,
    },
    /// Storage could not return a node hash (missing node, I/O failure).
    #[error("reading a node hash from storage failed")]
    Read(#[source] E),
}

impl TreeError<Infallible> {
    /// The same error, typed for a storage whose errors are `E` (this one read nothing).
    pub fn widen<E>(self) -> TreeError<E> {
        match self {
            TreeError::IndexOutOfRange { index, size } => {
                TreeError::IndexOutOfRange { index, size }
            }
            TreeError::SizesOutOfOrder { size1, size2 } => {
                TreeError::SizesOutOfOrder { size1, size2 }
            }
            TreeError::BadRange { begin, end } => TreeError::BadRange { begin, end },
            TreeError::NotASubtree { begin, end } => TreeError::NotASubtree { begin, end },
            TreeError::WrongHashCount { got, want } => TreeError::WrongHashCount { got, want },
            TreeError::Read(never) => match never {},
        }
    }
}

/// Reads the hashes of `ids` in order.
pub(crate) fn read_hashes<R: HashReader>(
    r: &R,
    ids: &[NodeId],
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    // Sized once: collecting a `Result` would grow the vector from nothing (a few reallocations
    // per proof on every ack a gateway answers).
    let mut hashes = Vec::with_capacity(ids.len());
    for id in ids {
        hashes.push(r.node_hash(*id).map_err(TreeError::Read)?);
    }
    Ok(hashes)
}

/// Hashes a left-to-right run of adjacent subtree hashes into one, as RFC 6962 does when the
/// sizes never grow from left to right: `fold(a, b, c) = H(a, H(b, c))`. `empty` for no hashes.
pub(crate) fn fold_right<H: LogHasher>(h: &H, hashes: &[Hash]) -> Hash {
    match hashes.split_last() {
        None => h.empty_root(),
        Some((last, rest)) => rest
            .iter()
            .rev()
            .fold(*last, |acc, left| h.hash_children(left, &acc)),
    }
}

/// The RFC 6962 hash `MTH(D[begin:end])` of leaves `[begin, end)`, from at most 64 stored hashes.
///
/// With `begin = 0` this is the root of the tree of size `end`. Otherwise `[begin, end)` must be
/// a range RFC 6962 hashes as one subtree somewhere: `begin` a multiple of the largest power of
/// two not above `end - begin` (every left subtree and every right part of an RFC 6962 tree is
/// such a range); other ranges are [`TreeError::NotASubtree`]. An empty range hashes to
/// `H("")`, as RFC 6962 hashes the empty list.
pub fn range_root<H: LogHasher, R: HashReader>(
    h: &H,
    r: &R,
    begin: u64,
    end: u64,
) -> Result<Hash, TreeError<R::Error>> {
    if begin > end {
        return Err(TreeError::BadRange { begin, end });
    }
    let len = end - begin;
    if len == 0 {
        return Ok(h.empty_root());
    }
    let split = 1u64 << (bit_len(len) - 1);
    if !begin.is_multiple_of(split) {
        return Err(TreeError::NotASubtree { begin, end });
    }
    // For such a range the covering subtrees shrink from left to right, which is exactly how
    // RFC 6962 splits it, so folding them from the right rebuilds MTH.
    let mut ids = Vec::with_capacity(64);
    range_nodes(begin, end, &mut ids);
    let hashes = read_hashes(r, &ids)?;
    Ok(fold_right(h, &hashes))
}

/// The root of the log at `size` (`H("")` for the empty log), from at most 64 stored hashes.
pub fn tree_root<H: LogHasher, R: HashReader>(
    h: &H,
    r: &R,
    size: u64,
) -> Result<Hash, TreeError<R::Error>> {
    range_root(h, r, 0, size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{Blake3Hasher, MemoryHashes, MemoryHashesError, Sha256Hasher};

    use crate::testkit::reference::mth as naive;

    fn leaves<H: LogHasher>(h: &H, n: u64) -> Vec<Hash> {
        (0..n).map(|i| h.hash_leaf(&i.to_be_bytes())).collect()
    }

    fn check_roots<H: LogHasher>(h: H) {
        let leaves = leaves(&h, 70);
        let (store, _) = MemoryHashes::from_leaf_hashes(&h, leaves.iter().copied());
        for end in 0..=70u64 {
            for begin in 0..=end {
                let got = range_root(&h, &store, begin, end);
                let len = end - begin;
                let aligned = len == 0 || begin % (1u64 << (bit_len(len) - 1)) == 0;
                if aligned {
                    let want = naive(&h, &leaves[begin as usize..end as usize]);
                    assert_eq!(got, Ok(want), "[{begin},{end})");
                } else {
                    assert_eq!(got, Err(TreeError::NotASubtree { begin, end }));
                }
            }
        }
    }

    #[test]
    fn range_roots_equal_rfc6962_for_every_subtree_range() {
        check_roots(Blake3Hasher);
        check_roots(Sha256Hasher);
    }

    #[test]
    fn every_rfc6962_split_is_an_accepted_range() {
        // Walk the RFC's recursion for a few sizes: every (sub)range it hashes must be accepted.
        fn walk(begin: u64, end: u64, out: &mut Vec<(u64, u64)>) {
            out.push((begin, end));
            if end - begin > 1 {
                let k = (end - begin).next_power_of_two() / 2;
                walk(begin, begin + k, out);
                walk(begin + k, end, out);
            }
        }
        let h = Sha256Hasher;
        let (store, _) = MemoryHashes::from_leaf_hashes(&h, leaves(&h, 100));
        for size in 1..=100 {
            let mut ranges = Vec::new();
            walk(0, size, &mut ranges);
            for (begin, end) in ranges {
                assert!(
                    range_root(&h, &store, begin, end).is_ok(),
                    "[{begin},{end})"
                );
            }
        }
    }

    #[test]
    fn tree_root_of_empty_log_is_hash_of_empty_string() {
        let store = MemoryHashes::new();
        assert_eq!(
            tree_root(&Sha256Hasher, &store, 0),
            Ok(Sha256Hasher.empty_root())
        );
    }

    #[test]
    fn reversed_range_is_an_error() {
        let store = MemoryHashes::new();
        assert_eq!(
            range_root(&Blake3Hasher, &store, 5, 4),
            Err(TreeError::BadRange { begin: 5, end: 4 })
        );
    }

    #[test]
    fn missing_storage_is_a_read_error_not_a_panic() {
        let h = Blake3Hasher;
        let (store, _) = MemoryHashes::from_leaf_hashes(&h, leaves(&h, 5));
        assert_eq!(
            tree_root(&h, &store, 6),
            Err(TreeError::Read(MemoryHashesError::Missing(NodeId::new(
                1, 2
            ))))
        );
        assert_eq!(
            tree_root(&h, &store, u64::MAX),
            Err(TreeError::Read(MemoryHashesError::Missing(NodeId::new(
                63, 0
            ))))
        );
    }

    #[test]
    fn widen_keeps_the_error() {
        let e: TreeError<std::io::Error> = TreeError::IndexOutOfRange { index: 3, size: 2 }.widen();
        assert!(matches!(
            e,
            TreeError::IndexOutOfRange { index: 3, size: 2 }
        ));
    }
}
