//! What one verified inclusion proof says about the tree's prefixes: the root and right edge
//! of the first `index` leaves, and the right edge of the whole tree.
//!
//! The audit path of leaf `index` in a tree of `size` holds, as left siblings, exactly the
//! complete subtrees that make up `[0, index)` ([`CompactRange::nodes_for`]). Once the path is
//! verified against a signed root they are the log's committed hashes, and folding them gives
//! the log's root at `index`. This works for every `index`, powers of two included, where a
//! consistency proof omits the older root; that is how an audit supplies the first root of a
//! split view at a power-of-two size (see `crate::succession`).
//!
//! These functions trust that `path` was verified (they do no hashing of the leaf); they only
//! check that its length fits the sizes, so that outside input can never make them panic.

use super::compact::{CompactRange, CompactRangeError};
use super::hasher::{Hash, LogHasher};
use super::proof::inclusion_nodes;
use super::verify::inclusion_proof_len;

/// Why an audit path does not give a prefix of its tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// The leaf is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index (the prefix size).
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The path has the wrong number of hashes for its index and tree size.
    #[error("audit path has {got} hashes, a path of leaf {index} in {size} has {want}")]
    WrongPathLength {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
        /// Hashes given.
        got: usize,
        /// Hashes such a path has.
        want: usize,
    },
    /// A consistency proof is asked for from an audit path at a size that is not a power of two.
    #[error("prefix size {index} is not a power of two")]
    NotPowerOfTwo {
        /// The leaf index (the prefix size).
        index: u64,
    },
    /// A right edge is asked for from a leaf other than the tree's last one.
    #[error("leaf {index} is not the last leaf of a tree of {size}")]
    NotLastLeaf {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
}

/// The right edge of `[0, index)` (its perfect subtrees, largest first) from the verified audit
/// path of leaf `index` in the tree of `size` leaves.
pub fn prefix_range(index: u64, size: u64, path: &[Hash]) -> Result<CompactRange, PrefixError> {
    if index >= size {
        return Err(PrefixError::IndexOutOfRange { index, size });
    }
    let want = inclusion_proof_len(index, size);
    if path.len() != want {
        return Err(PrefixError::WrongPathLength {
            index,
            size,
            got: path.len(),
            want,
        });
    }
    // `index < size`, so the plan exists and has exactly the path's length once its ephemeral
    // run is folded; every position below is therefore inside `path`.
    let plan =
        inclusion_nodes(index, size).map_err(|_| PrefixError::IndexOutOfRange { index, size })?;
    let run = plan.rehash_range();
    // Where plan position `i` lands in the folded path: before the run unchanged, after it
    // shifted left by the run's length less the one folded node; inside it nowhere (the
    // ephemeral node is right of the leaf, never part of the prefix).
    let position = |i: usize| -> Option<usize> {
        if run.is_empty() || i < run.start {
            Some(i)
        } else if i >= run.end {
            Some(i - run.len() + 1)
        } else {
            None
        }
    };
    let edge = CompactRange::nodes_for(index)
        .into_iter()
        .map(|id| {
            let i = plan.ids.iter().position(|p| *p == id)?;
            path.get(position(i)?).copied()
        })
        .collect::<Option<Vec<Hash>>>()
        .ok_or(PrefixError::WrongPathLength {
            index,
            size,
            got: path.len(),
            want,
        })?;
    CompactRange::from_parts(index, edge).map_err(|e| match e {
        CompactRangeError::WrongHashCount { got, want, .. } => PrefixError::WrongPathLength {
            index,
            size,
            got,
            want,
        },
        // from_parts appends no subtree, so Unaligned does not arise from it.
        CompactRangeError::Full | CompactRangeError::Unaligned { .. } => {
            PrefixError::IndexOutOfRange { index, size }
        }
    })
}

/// The root of `[0, index)` from the verified audit path of leaf `index` in the tree of `size`
/// leaves ([`prefix_range`] folded).
pub fn prefix_root<H: LogHasher>(
    h: &H,
    index: u64,
    size: u64,
    path: &[Hash],
) -> Result<Hash, PrefixError> {
    Ok(prefix_range(index, size, path)?.root(h))
}

/// The right edge of the whole tree of `size` leaves from the verified audit path of its last
/// leaf (`index == size - 1`, whose hash is `leaf_hash`): the path holds the edge of the leaves
/// before it, and the leaf completes it. An absence proof starts from this edge (DESIGN §3.3).
pub fn right_edge<H: LogHasher>(
    h: &H,
    index: u64,
    size: u64,
    leaf_hash: Hash,
    path: &[Hash],
) -> Result<CompactRange, PrefixError> {
    if index.checked_add(1) != Some(size) {
        return Err(PrefixError::NotLastLeaf { index, size });
    }
    let mut range = prefix_range(index, size, path)?;
    // The range holds `size - 1 < u64::MAX` leaves, so one more fits.
    range
        .try_append(h, leaf_hash, |_, _| {})
        .map_err(|_| PrefixError::IndexOutOfRange { index, size })?;
    Ok(range)
}

/// The consistency proof from `index` (a power of two) to `size`, from the verified audit path
/// of leaf `index` (whose hash is `leaf_hash`) in the tree of `size` leaves.
///
/// For `index = 2^k` the audit path of leaf `index` has exactly one left sibling, the subtree
/// `[0, index)`; below it are the right siblings of leaf `index`'s ancestors, above it the
/// siblings the consistency proof shares with it. RFC 9162's consistency proof from `2^k` is the
/// subtree right of `[0, 2^k)` at that level (the leaf folded with the siblings below) followed
/// by those upper siblings. So every hash of the proof is one the log committed to in the audit
/// path, and a log cannot escape a split-view proof at a power-of-two size by answering a
/// consistency request with garbage.
pub fn consistency_from_audit_path<H: LogHasher>(
    h: &H,
    index: u64,
    size: u64,
    leaf_hash: Hash,
    path: &[Hash],
) -> Result<Vec<Hash>, PrefixError> {
    if index >= size {
        return Err(PrefixError::IndexOutOfRange { index, size });
    }
    if !index.is_power_of_two() {
        return Err(PrefixError::NotPowerOfTwo { index });
    }
    let want = inclusion_proof_len(index, size);
    if path.len() != want {
        return Err(PrefixError::WrongPathLength {
            index,
            size,
            got: path.len(),
            want,
        });
    }
    // Where the one left sibling sits: at position k inside the path's inner part, or first in
    // its border part (the same arithmetic as the verifier's decomposition).
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let k = index.trailing_zeros();
    let split = k.min(inner) as usize;
    let (lower, upper) = path.split_at(split);
    let Some((_, upper)) = upper.split_first() else {
        return Err(PrefixError::WrongPathLength {
            index,
            size,
            got: path.len(),
            want,
        });
    };
    let right = lower
        .iter()
        .fold(leaf_hash, |acc, sibling| h.hash_children(&acc, sibling));
    let mut proof = Vec::with_capacity(1 + upper.len());
    proof.push(right);
    proof.extend_from_slice(upper);
    Ok(proof)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{
        Blake3Hasher, MemoryHashes, consistency_proof, inclusion_proof, tree_root, verify_inclusion,
    };

    fn tree(n: u64) -> (MemoryHashes, Vec<Hash>) {
        let h = Blake3Hasher;
        let leaves: Vec<Hash> = (0..n).map(|i| h.hash_leaf(&i.to_be_bytes())).collect();
        let (store, _) = MemoryHashes::from_leaf_hashes(&h, leaves.clone());
        (store, leaves)
    }

    #[test]
    fn prefix_roots_equal_the_tree_roots_at_every_size() {
        let h = Blake3Hasher;
        for n in [2u64, 3, 4, 5, 8, 9, 16, 17, 31, 33, 64, 65] {
            let (store, leaves) = tree(n);
            let root = tree_root(&h, &store, n).unwrap();
            for index in 1..n {
                let path = inclusion_proof(&h, &store, index, n).unwrap();
                verify_inclusion(&h, index, n, &leaves[index as usize], &path, &root).unwrap();
                assert_eq!(
                    prefix_root(&h, index, n, &path).unwrap(),
                    tree_root(&h, &store, index).unwrap(),
                    "prefix {index} of {n}"
                );
            }
        }
    }

    #[test]
    fn right_edges_fold_to_the_root_at_every_size() {
        let h = Blake3Hasher;
        for n in [1u64, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33] {
            let (store, leaves) = tree(n);
            let path = inclusion_proof(&h, &store, n - 1, n).unwrap();
            let edge = right_edge(&h, n - 1, n, leaves[(n - 1) as usize], &path).unwrap();
            assert_eq!(edge.size(), n);
            assert_eq!(edge.root(&h), tree_root(&h, &store, n).unwrap());
            if n > 1 {
                let first = inclusion_proof(&h, &store, 0, n).unwrap();
                assert_eq!(
                    right_edge(&h, 0, n, leaves[0], &first),
                    Err(PrefixError::NotLastLeaf { index: 0, size: n })
                );
            }
        }
    }

    #[test]
    fn paths_of_the_wrong_shape_are_typed_errors() {
        let h = Blake3Hasher;
        let (store, _) = tree(9);
        let mut path = inclusion_proof(&h, &store, 4, 9).unwrap();
        assert_eq!(
            prefix_range(9, 9, &path),
            Err(PrefixError::IndexOutOfRange { index: 9, size: 9 })
        );
        path.push([0; 32]);
        assert!(matches!(
            prefix_range(4, 9, &path),
            Err(PrefixError::WrongPathLength { .. })
        ));
        assert!(matches!(
            prefix_root(&h, u64::MAX - 1, u64::MAX, &[]),
            Err(PrefixError::WrongPathLength { .. })
        ));
    }

    #[test]
    fn a_power_of_two_consistency_proof_is_read_off_the_audit_path() {
        let h = Blake3Hasher;
        for n in 2u64..=70 {
            let (store, leaves) = tree(n);
            let mut m = 1;
            while m < n {
                let path = inclusion_proof(&h, &store, m, n).unwrap();
                let derived =
                    consistency_from_audit_path(&h, m, n, leaves[m as usize], &path).unwrap();
                assert_eq!(
                    derived,
                    consistency_proof(&h, &store, m, n).unwrap(),
                    "{m} to {n}"
                );
                m *= 2;
            }
        }
        let (store, leaves) = tree(9);
        let path = inclusion_proof(&h, &store, 3, 9).unwrap();
        assert_eq!(
            consistency_from_audit_path(&h, 3, 9, leaves[3], &path),
            Err(PrefixError::NotPowerOfTwo { index: 3 })
        );
    }
}
