//! Inclusion (RFC 9162 §2.1.3.1) and consistency (§2.1.4.1) proof generation.
//!
//! A proof is first planned as the list of complete subtrees to read ([`ProofNodes`], after
//! transparency-dev/merkle's `proof.Nodes`), so the node can fetch them grouped by tile; then the
//! hashes read are folded into the proof. Only one proof element can be an incomplete subtree
//! (the "ephemeral" node on the right edge); the plan says which run of hashes rebuilds it.
//! The order of the plan is the order of the proof: from the leaf (or old root) upwards.

use core::ops::Range;

use super::hasher::{Hash, LogHasher};
use super::node::{HashReader, NodeId, bit_len, range_nodes, range_size};
use super::tree::{TreeError, read_hashes};

/// Which complete subtrees a proof is made of, and how to fold them into proof hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofNodes {
    /// The complete subtrees to read, one hash each, in proof order.
    pub ids: Vec<NodeId>,
    /// `ids[begin..end]` are hashed into the one ephemeral node, smallest (rightmost) first;
    /// `begin == end` when no element needs it.
    begin: usize,
    end: usize,
    /// The incomplete node `ids[begin..end]` stand for (meaningful only when `begin < end`).
    ephemeral: NodeId,
}

impl ProofNodes {
    fn empty() -> Self {
        ProofNodes {
            ids: Vec::new(),
            begin: 0,
            end: 0,
            ephemeral: NodeId::new(0, 0),
        }
    }

    /// The plan proving that the complete subtree `(level, index)` is in the tree of `size`:
    /// the node itself, its siblings up to the `fork` where its path leaves the right edge, the
    /// subtrees right of the fork (one ephemeral node), then the subtrees left of the fork.
    /// Requires `(index + 1) << level <= size`.
    fn path(level: u8, index: u64, size: u64) -> Self {
        // index < size >> level, so the xor is non-zero.
        let inner = bit_len(index ^ (size >> level)) - 1;
        let fork_level = u32::from(level) + inner;
        let fork_index = index >> inner;
        // The fork is complete and ends at or before `size`, so neither shift overflows.
        let fork_begin = fork_index << fork_level;
        let fork_end = (fork_index + 1) << fork_level;

        let mut ids = Vec::with_capacity(
            1 + inner as usize + range_size(fork_end, size) + range_size(0, fork_begin),
        );
        let mut node = NodeId::new(level, index);
        ids.push(node);
        for _ in 0..inner {
            ids.push(node.sibling());
            node = NodeId::new(node.level + 1, node.index >> 1);
        }
        let right_begin = ids.len();
        range_nodes(fork_end, size, &mut ids);
        let right_end = ids.len();
        // Both runs come out left to right; the proof goes bottom-up, i.e. right to left.
        ids[right_begin..right_end].reverse();
        range_nodes(0, fork_begin, &mut ids);
        ids[right_end..].reverse();

        // One node right of the fork is itself complete: nothing to rehash.
        let (begin, end) = if right_end - right_begin > 1 {
            (right_begin, right_end)
        } else {
            (0, 0)
        };
        ProofNodes {
            ids,
            begin,
            end,
            ephemeral: NodeId::new(fork_level as u8, fork_index ^ 1),
        }
    }

    /// Drops the first node (the leaf itself, or an old root the verifier already knows).
    fn skip_first(mut self) -> Self {
        self.ids.remove(0);
        if self.begin < self.end {
            self.begin -= 1;
            self.end -= 1;
        }
        self
    }

    /// The positions in [`ids`](Self::ids) whose hashes fold into one ephemeral node
    /// (empty when the proof has no incomplete node).
    pub fn rehash_range(&self) -> Range<usize> {
        self.begin..self.end
    }

    /// The incomplete node the proof needs, if any.
    pub fn ephemeral(&self) -> Option<NodeId> {
        (self.begin < self.end).then_some(self.ephemeral)
    }

    /// The number of hashes in the finished proof.
    pub fn proof_len(&self) -> usize {
        let run = self.end - self.begin;
        self.ids.len() - run + usize::from(run > 0)
    }

    /// Folds the hashes of [`ids`](Self::ids) (same order) into the proof.
    pub fn rehash<H: LogHasher>(&self, h: &H, hashes: &[Hash]) -> Result<Vec<Hash>, TreeError> {
        // `ids` is public, so do not trust that the run still fits inside it.
        if hashes.len() != self.ids.len() || self.end > hashes.len() {
            return Err(TreeError::WrongHashCount {
                got: hashes.len(),
                want: self.ids.len().max(self.end),
            });
        }
        let mut proof = Vec::with_capacity(self.proof_len());
        proof.extend_from_slice(&hashes[..self.begin]);
        if let Some((first, rest)) = hashes[self.begin..self.end].split_first() {
            // Smallest subtree first: each next one is the left neighbour of all before it.
            proof.push(
                rest.iter()
                    .fold(*first, |acc, left| h.hash_children(left, &acc)),
            );
        }
        proof.extend_from_slice(&hashes[self.end..]);
        Ok(proof)
    }

    /// Reads the planned nodes from `r` and folds them into the proof.
    pub fn resolve<H: LogHasher, R: HashReader>(
        &self,
        h: &H,
        r: &R,
    ) -> Result<Vec<Hash>, TreeError<R::Error>> {
        let hashes = read_hashes(r, &self.ids)?;
        self.rehash(h, &hashes).map_err(TreeError::widen)
    }
}

/// Plans the inclusion proof (audit path) of leaf `index` in the tree of `size`.
pub fn inclusion_nodes(index: u64, size: u64) -> Result<ProofNodes, TreeError> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    Ok(ProofNodes::path(0, index, size).skip_first())
}

/// Plans the consistency proof from the tree of `size1` to the tree of `size2`.
///
/// From the empty tree or between equal sizes the proof is empty (RFC 9162 §2.1.4.1); the
/// verifiers treat those cases without a proof.
pub fn consistency_nodes(size1: u64, size2: u64) -> Result<ProofNodes, TreeError> {
    if size1 > size2 {
        return Err(TreeError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 || size1 == size2 {
        return Ok(ProofNodes::empty());
    }
    // The largest complete subtree ending at size1, then its path in the tree of size2.
    let level = size1.trailing_zeros();
    let index = (size1 - 1) >> level;
    let plan = ProofNodes::path(level as u8, index, size2);
    // When size1 is a power of two that subtree is the old root, which the verifier has.
    Ok(if index == 0 { plan.skip_first() } else { plan })
}

/// The inclusion proof of leaf `index` in the tree of `size`, read from `r`.
pub fn inclusion_proof<H: LogHasher, R: HashReader>(
    h: &H,
    r: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    inclusion_nodes(index, size)
        .map_err(TreeError::widen)?
        .resolve(h, r)
}

/// The consistency proof from the tree of `size1` to the tree of `size2`, read from `r`.
pub fn consistency_proof<H: LogHasher, R: HashReader>(
    h: &H,
    r: &R,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    consistency_nodes(size1, size2)
        .map_err(TreeError::widen)?
        .resolve(h, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{
        Blake3Hasher, MemoryHashes, MemoryHashesError, Sha256Hasher, consistency_proof_len,
        inclusion_proof_len, tree_root, verify_consistency, verify_inclusion,
    };

    fn store<H: LogHasher>(h: &H, n: u64) -> (MemoryHashes, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| h.hash_leaf(&i.to_le_bytes())).collect();
        let (store, _) = MemoryHashes::from_leaf_hashes(h, leaves.iter().copied());
        (store, leaves)
    }

    #[test]
    fn plan_lengths_match_the_verifiers_expectations() {
        for size in 1..=200u64 {
            for index in 0..size {
                let plan = inclusion_nodes(index, size).unwrap();
                assert_eq!(plan.proof_len(), inclusion_proof_len(index, size));
            }
            for size1 in 0..=size {
                let plan = consistency_nodes(size1, size).unwrap();
                assert_eq!(plan.proof_len(), consistency_proof_len(size1, size));
            }
        }
    }

    #[test]
    fn plans_read_only_complete_subtrees_inside_the_tree() {
        for size in 1..=100u64 {
            let plans = (0..size)
                .map(|i| inclusion_nodes(i, size).unwrap())
                .chain((1..size).map(|m| consistency_nodes(m, size).unwrap()));
            for plan in plans {
                for id in &plan.ids {
                    let cover = id.coverage().unwrap();
                    assert!(cover.end <= size, "{id:?} outside tree of {size}");
                }
                if let Some(e) = plan.ephemeral() {
                    // The ephemeral node straddles the end of the tree.
                    let cover = e.coverage().unwrap();
                    assert!(cover.start < size && size < cover.end, "{e:?} at {size}");
                }
            }
        }
    }

    #[test]
    fn known_plan_for_leaf_2_of_7() {
        // Tree of 7: leaf 2's path is leaf 3, node [0,2), then the ephemeral [4,7) made of
        // [6,7) and [4,6).
        let plan = inclusion_nodes(2, 7).unwrap();
        assert_eq!(
            plan.ids,
            vec![
                NodeId::new(0, 3),
                NodeId::new(1, 0),
                NodeId::new(0, 6),
                NodeId::new(1, 2),
            ]
        );
        assert_eq!(plan.rehash_range(), 2..4);
        assert_eq!(plan.ephemeral(), Some(NodeId::new(2, 1)));
        assert_eq!(plan.proof_len(), 3);
    }

    fn proofs_verify<H: LogHasher>(h: H) {
        let (store, leaves) = store(&h, 40);
        for size in 1..=40u64 {
            let root = tree_root(&h, &store, size).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(&h, &store, index, size).unwrap();
                verify_inclusion(&h, index, size, &leaves[index as usize], &proof, &root).unwrap();
            }
            for size1 in 1..=size {
                let root1 = tree_root(&h, &store, size1).unwrap();
                let proof = consistency_proof(&h, &store, size1, size).unwrap();
                verify_consistency(&h, size1, size, &proof, &root1, &root).unwrap();
            }
        }
    }

    #[test]
    fn generated_proofs_verify() {
        proofs_verify(Blake3Hasher);
        proofs_verify(Sha256Hasher);
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        assert_eq!(
            inclusion_nodes(5, 5),
            Err(TreeError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            inclusion_nodes(0, 0),
            Err(TreeError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(
            consistency_nodes(6, 5),
            Err(TreeError::SizesOutOfOrder { size1: 6, size2: 5 })
        );
        let h = Blake3Hasher;
        let (store, _) = store(&h, 8);
        assert_eq!(
            inclusion_proof(&h, &store, 3, 9),
            Err(TreeError::Read(MemoryHashesError::Missing(NodeId::new(
                0, 8
            ))))
        );
        assert_eq!(consistency_proof(&h, &store, 0, 8), Ok(vec![]));
        assert_eq!(consistency_proof(&h, &store, 8, 8), Ok(vec![]));
    }

    #[test]
    fn rehash_rejects_a_wrong_number_of_hashes() {
        let plan = inclusion_nodes(2, 7).unwrap();
        let h = Sha256Hasher;
        assert_eq!(
            plan.rehash(&h, &[[0; 32]; 3]),
            Err(TreeError::WrongHashCount { got: 3, want: 4 })
        );
        assert_eq!(
            plan.rehash(&h, &[[0; 32]; 5]),
            Err(TreeError::WrongHashCount { got: 5, want: 4 })
        );
        // A caller that shortened the public ids gets an error, not a slice panic.
        let mut cut = plan.clone();
        cut.ids.truncate(3);
        assert!(cut.rehash(&h, &[[0; 32]; 3]).is_err());
    }

    #[test]
    fn plans_at_the_top_of_u64_do_not_overflow() {
        let size = u64::MAX;
        for index in [0, 1, size / 2, size - 2, size - 1] {
            let plan = inclusion_nodes(index, size).unwrap();
            assert_eq!(plan.proof_len(), inclusion_proof_len(index, size));
        }
        for size1 in [1, 2, 3, 1 << 63, size - 1] {
            let plan = consistency_nodes(size1, size).unwrap();
            assert_eq!(plan.proof_len(), consistency_proof_len(size1, size));
        }
    }
}
