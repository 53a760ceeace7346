//! Range proofs: one proof for a run of consecutive leaves (transparency-dev/merkle's compact
//! ranges, used the way its `proof` package proves a batch).
//!
//! A batch submission's accepted entries get consecutive indexes `[begin, end)`. Instead of one
//! audit path per entry, its acknowledgement carries the hashes of the complete subtrees left of
//! the run (those covering `[0, begin)`: the right edge of the tree of `begin` leaves, largest
//! first) and right of it (those covering `[end, size)`, left to right). With the run's leaf
//! hashes the verifier rebuilds the right edge of `[0, end)` by appending them, appends the right
//! subtrees (each starts where a subtree of its level starts), and compares the root. That is
//! about `3 log2 n` hashes however long the run (`wire::MAX_RANGE_PROOF_HASHES` at most), and
//! one pass of hashing over it.
//!
//! From a verified run the audit path of any of its leaves can be rebuilt
//! ([`ProvedRange::inclusion_proof`]): every sibling such a path needs is a subtree of the run,
//! one of the proof's subtrees, or a merge of them, all of which the verification computed. So a
//! client that submitted a batch holds an RFC 9162 inclusion proof of each entry without asking
//! again.

use std::collections::HashMap;

use super::compact::CompactRange;
use super::hasher::{Hash, LogHasher};
use super::node::{HashReader, NodeId, range_nodes, range_size};
use super::proof::{inclusion_nodes, inclusion_proof};
use super::tree::{TreeError, read_hashes};
use super::verify::{ProofError, hash_from_slice};

/// Checks `begin < end <= size`: a range proof proves at least one leaf of the tree.
fn check_range(begin: u64, end: u64, size: u64) -> bool {
    begin < end && end <= size
}

/// The complete subtrees whose hashes, with the leaf hashes of `[begin, end)`, prove that run in
/// the tree of `size` leaves: those covering `[0, begin)`, then those covering `[end, size)`,
/// each run left to right. Refused unless `begin < end <= size`.
pub fn range_proof_nodes(begin: u64, end: u64, size: u64) -> Result<Vec<NodeId>, TreeError> {
    if begin >= end {
        return Err(TreeError::BadRange { begin, end });
    }
    if end > size {
        return Err(TreeError::IndexOutOfRange {
            index: end - 1,
            size,
        });
    }
    let mut ids = Vec::with_capacity(range_size(0, begin) + range_size(end, size));
    range_nodes(0, begin, &mut ids);
    range_nodes(end, size, &mut ids);
    Ok(ids)
}

/// The number of hashes in the range proof of `[begin, end)` in the tree of `size` (0 when no
/// such proof exists).
pub fn range_proof_len(begin: u64, end: u64, size: u64) -> usize {
    if !check_range(begin, end, size) {
        return 0;
    }
    range_size(0, begin) + range_size(end, size)
}

/// The range proof of `[begin, end)` in the tree of `size`, read from `r`.
pub fn range_proof<R: HashReader>(
    r: &R,
    begin: u64,
    end: u64,
    size: u64,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    let ids = range_proof_nodes(begin, end, size).map_err(TreeError::widen)?;
    read_hashes(r, &ids)
}

/// A run of leaves proved in a tree: every complete subtree the verification computed, from
/// which the audit path of each leaf of the run is rebuilt.
#[derive(Clone, Debug)]
pub struct ProvedRange {
    begin: u64,
    end: u64,
    size: u64,
    root: Hash,
    nodes: HashMap<NodeId, Hash>,
}

/// A node a [`ProvedRange`] did not compute (never for the audit path of a leaf of its run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("node (level {}, index {}) is not part of the proved range", .0.level, .0.index)]
pub struct NotInRange(pub NodeId);

impl HashReader for ProvedRange {
    type Error = NotInRange;

    fn node_hash(&self, id: NodeId) -> Result<Hash, NotInRange> {
        self.nodes.get(&id).copied().ok_or(NotInRange(id))
    }
}

impl ProvedRange {
    /// The first leaf of the run.
    pub fn begin(&self) -> u64 {
        self.begin
    }

    /// One past its last leaf.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The size of the tree it was proved in.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root it was proved against.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The RFC 9162 audit path of leaf `index` (inside the run) in the tree of
    /// [`size`](Self::size), as [`super::inclusion_proof`] makes it from stored hashes.
    pub fn inclusion_proof<H: LogHasher>(
        &self,
        h: &H,
        index: u64,
    ) -> Result<Vec<Hash>, ProofError> {
        if index < self.begin || index >= self.end {
            return Err(ProofError::IndexOutOfRange {
                index,
                size: self.end,
            });
        }
        // The module docs say why every node of the path is here; a missing one is a bug, and
        // reported as a proof that does not hold rather than a panic.
        inclusion_proof(h, self, index, self.size).map_err(|_| ProofError::WrongProofLength {
            got: 0,
            want: super::inclusion_proof_len(index, self.size),
        })
    }

    /// The audit path of every leaf of the run, in order: each equal to
    /// [`inclusion_proof`](Self::inclusion_proof) of it, but read from the nodes the
    /// verification computed with the incomplete (ephemeral) node of a path folded once for
    /// every leaf that shares it, so a batch's paths cost lookups, not a second pass of
    /// hashing.
    pub fn inclusion_proofs<H: LogHasher>(&self, h: &H) -> Result<Vec<Vec<Hash>>, ProofError> {
        let capacity = usize::try_from(self.end - self.begin).unwrap_or(0);
        let mut paths = Vec::with_capacity(capacity);
        // At most one ephemeral node per level of the right edge.
        let mut ephemeral: HashMap<NodeId, Hash> = HashMap::new();
        for index in self.begin..self.end {
            let missing = || ProofError::WrongProofLength {
                got: 0,
                want: super::inclusion_proof_len(index, self.size),
            };
            // As in `inclusion_proof`: a node missing here is a bug, reported as a proof that
            // does not hold rather than a panic.
            let plan = inclusion_nodes(index, self.size).map_err(|_| missing())?;
            let node = |id: &NodeId| self.nodes.get(id).copied().ok_or_else(missing);
            let run = plan.rehash_range();
            let mut path = Vec::with_capacity(plan.proof_len());
            for id in &plan.ids[..run.start] {
                path.push(node(id)?);
            }
            if let Some(id) = plan.ephemeral() {
                let hash = match ephemeral.get(&id) {
                    Some(hash) => *hash,
                    None => {
                        let (first, rest) =
                            plan.ids[run.clone()].split_first().ok_or_else(missing)?;
                        let mut acc = node(first)?;
                        // Smallest subtree first: each next one is the left neighbour of all
                        // before it (`ProofNodes::rehash`).
                        for left in rest {
                            acc = h.hash_children(&node(left)?, &acc);
                        }
                        ephemeral.insert(id, acc);
                        acc
                    }
                };
                path.push(hash);
            }
            for id in &plan.ids[run.end..] {
                path.push(node(id)?);
            }
            paths.push(path);
        }
        Ok(paths)
    }
}

/// Checks that `leaf_hashes` are the leaves `[begin, begin + leaf_hashes.len())` of the tree of
/// `size` leaves whose root is `root`, with the range `proof` (see the module docs); returns the
/// proved run. A wrong count of proof hashes, a hash of the wrong length, an empty run or one
/// past the tree, and a root that does not match are typed errors.
pub fn verify_range<H: LogHasher, P: AsRef<[u8]>>(
    h: &H,
    begin: u64,
    size: u64,
    leaf_hashes: &[Hash],
    proof: &[P],
    root: &[u8],
) -> Result<ProvedRange, ProofError> {
    let expected = hash_from_slice("root", root)?;
    let count = u64::try_from(leaf_hashes.len()).unwrap_or(u64::MAX);
    let end = begin.saturating_add(count);
    if !check_range(begin, end, size) || begin.checked_add(count).is_none() {
        return Err(ProofError::BadRange { begin, end, size });
    }
    let want = range_proof_len(begin, end, size);
    if proof.len() != want {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want,
        });
    }
    let left_count = range_size(0, begin);
    let (left, right) = proof.split_at(left_count);
    let left: Vec<Hash> = left
        .iter()
        .map(|p| hash_from_slice("proof element", p.as_ref()))
        .collect::<Result<_, _>>()?;
    let mut nodes = HashMap::with_capacity(2 * leaf_hashes.len() + want);
    for (id, hash) in CompactRange::nodes_for(begin).into_iter().zip(&left) {
        nodes.insert(id, *hash);
    }
    // `left` has popcount(begin) hashes: range_size(0, begin) is exactly that.
    let mut edge =
        CompactRange::from_parts(begin, left).map_err(|_| ProofError::WrongProofLength {
            got: proof.len(),
            want,
        })?;
    let mut keep = |id: NodeId, hash: &Hash| {
        nodes.insert(id, *hash);
    };
    for leaf in leaf_hashes {
        edge.try_append(h, *leaf, &mut keep)
            .map_err(|_| ProofError::BadRange { begin, end, size })?;
    }
    let mut right_ids = Vec::with_capacity(right.len());
    range_nodes(end, size, &mut right_ids);
    for (id, hash) in right_ids.into_iter().zip(right) {
        let hash = hash_from_slice("proof element", hash.as_ref())?;
        // range_nodes yields subtrees in order, each starting where the edge ends, aligned.
        edge.try_append_node(h, id.level, hash, &mut keep)
            .map_err(|_| ProofError::BadRange { begin, end, size })?;
    }
    let computed = edge.root(h);
    if computed != expected {
        return Err(ProofError::RootMismatch { expected, computed });
    }
    Ok(ProvedRange {
        begin,
        end,
        size,
        root: expected,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{
        Blake3Hasher, MemoryHashes, Sha256Hasher, inclusion_proof as stored_inclusion_proof,
        verify_inclusion,
    };

    fn leaves<H: LogHasher>(h: &H, n: u64) -> Vec<Hash> {
        (0..n).map(|i| h.hash_leaf(&i.to_be_bytes())).collect()
    }

    #[test]
    fn every_small_run_proves_and_rebuilds_each_audit_path() {
        let h = Sha256Hasher;
        let all = leaves(&h, 40);
        let (store, _) = MemoryHashes::from_leaf_hashes(&h, all.iter().copied());
        for size in 1..=40u64 {
            let root = crate::merkle::tree_root(&h, &store, size).unwrap();
            for begin in 0..size {
                for end in begin + 1..=size {
                    let proof = range_proof(&store, begin, end, size).unwrap();
                    assert_eq!(proof.len(), range_proof_len(begin, end, size));
                    let run = &all[begin as usize..end as usize];
                    let proved = verify_range(&h, begin, size, run, &proof, &root)
                        .unwrap_or_else(|e| panic!("[{begin},{end}) in {size}: {e}"));
                    for index in begin..end {
                        let path = proved.inclusion_proof(&h, index).unwrap();
                        assert_eq!(
                            path,
                            stored_inclusion_proof(&h, &store, index, size).unwrap(),
                            "leaf {index} of [{begin},{end}) in {size}"
                        );
                        verify_inclusion(&h, index, size, &all[index as usize], &path, &root)
                            .unwrap();
                    }
                    let paths = proved.inclusion_proofs(&h).unwrap();
                    assert_eq!(paths.len() as u64, end - begin);
                    for (index, path) in (begin..end).zip(paths) {
                        assert_eq!(
                            path,
                            stored_inclusion_proof(&h, &store, index, size).unwrap(),
                            "all paths: leaf {index} of [{begin},{end}) in {size}"
                        );
                    }
                    assert!(proved.inclusion_proof(&h, end).is_err());
                }
            }
        }
    }

    #[test]
    fn attack_a_wrong_leaf_hash_or_proof_is_refused() {
        let h = Blake3Hasher;
        let all = leaves(&h, 100);
        let (store, _) = MemoryHashes::from_leaf_hashes(&h, all.iter().copied());
        let size = 100;
        let root = crate::merkle::tree_root(&h, &store, size).unwrap();
        let (begin, end) = (37u64, 61u64);
        let proof = range_proof(&store, begin, end, size).unwrap();
        let run = all[begin as usize..end as usize].to_vec();
        assert!(verify_range(&h, begin, size, &run, &proof, &root).is_ok());
        // One leaf changed, swapped, the run shifted by one, another tree size, another root.
        let mut changed = run.clone();
        changed[5][0] ^= 1;
        let mut swapped = run.clone();
        swapped.swap(0, 1);
        for (what, result) in [
            (
                "changed leaf",
                verify_range(&h, begin, size, &changed, &proof, &root),
            ),
            (
                "swapped leaves",
                verify_range(&h, begin, size, &swapped, &proof, &root),
            ),
            (
                "shifted run",
                verify_range(&h, begin + 1, size, &run, &proof, &root),
            ),
            (
                "other size",
                verify_range(&h, begin, size + 1, &run, &proof, &root),
            ),
            (
                "other root",
                verify_range(&h, begin, size, &run, &proof, &[0u8; 32]),
            ),
        ] {
            assert!(result.is_err(), "{what} was accepted");
        }
        // A tampered, a missing and an extra proof hash; a short hash.
        let mut tampered = proof.clone();
        tampered[0][3] ^= 1;
        assert!(matches!(
            verify_range(&h, begin, size, &run, &tampered, &root),
            Err(ProofError::RootMismatch { .. })
        ));
        assert!(matches!(
            verify_range(&h, begin, size, &run, &proof[1..], &root),
            Err(ProofError::WrongProofLength { .. })
        ));
        let mut extra = proof.clone();
        extra.push([0; 32]);
        assert!(matches!(
            verify_range(&h, begin, size, &run, &extra, &root),
            Err(ProofError::WrongProofLength { .. })
        ));
        let mut short: Vec<Vec<u8>> = proof.iter().map(|p| p.to_vec()).collect();
        short[1].pop();
        assert!(matches!(
            verify_range(&h, begin, size, &run, &short, &root),
            Err(ProofError::BadHashLength { .. })
        ));
    }

    #[test]
    fn empty_or_out_of_tree_runs_are_refused_without_panicking() {
        let h = Sha256Hasher;
        let none: &[[u8; 32]] = &[];
        assert!(matches!(
            verify_range(&h, 3, 10, &[], none, &[0; 32]),
            Err(ProofError::BadRange { .. })
        ));
        assert!(matches!(
            verify_range(&h, 9, 10, &[[1; 32]; 2], none, &[0; 32]),
            Err(ProofError::BadRange { .. })
        ));
        assert!(matches!(
            verify_range(&h, u64::MAX, u64::MAX, &[[1; 32]], none, &[0; 32]),
            Err(ProofError::BadRange { .. })
        ));
        assert_eq!(range_proof_len(5, 5, 9), 0);
        assert_eq!(range_proof_len(5, 10, 9), 0);
        assert!(range_proof_nodes(4, 3, 9).is_err());
        // The largest trees: at most 192 hashes, no overflow.
        for (begin, end) in [(0, 1), (1, u64::MAX - 1), (u64::MAX / 3, u64::MAX / 2)] {
            let len = range_proof_len(begin, end, u64::MAX);
            assert!(len > 0 && len <= 192, "[{begin},{end}): {len}");
        }
    }
}
