//! Small, bounded trees built with `rs_merkle`: one sequencing batch or one tile of leaves.
//!
//! rs_merkle recomputes every layer on commit and keeps every past commit, so it is only ever
//! given one batch (at most [`MAX_BATCH_LEAVES`] leaf hashes), never the log. With a hasher
//! whose unpaired node is passed up unchanged, its trees have RFC 6962 roots and its single-leaf
//! proofs are RFC 6962 audit paths (checked by `tests/merkle_props.rs`). Its verifier ignores
//! surplus proof hashes and indexes past the tree, so [`BatchProof`] checks both before using it.

use core::marker::PhantomData;

use rs_merkle::{MerkleProof, MerkleTree};

use super::hasher::{Blake3Hasher, Hash, HashAlgorithm, LogHasher, Sha256Hasher};

/// The most leaves a [`BatchTree`] takes: the sequencer's default `batch_max`.
pub const MAX_BATCH_LEAVES: usize = 4096;

/// An `rs_merkle::Hasher` with RFC 6962 shape for the log hasher `H`.
///
/// `hash(data)` is the leaf hash `H(0x00 ‖ data)`; `concat_and_hash(l, Some(r))` is the node hash
/// `H(0x01 ‖ l ‖ r)`, and `concat_and_hash(l, None)` is `l`, which lifts an unpaired last node
/// unchanged: that is RFC 6962's split at the largest power of two. Trees are built from leaf
/// hashes, never raw entries.
pub struct RsMerkle<H>(PhantomData<H>);

impl<H> Clone for RsMerkle<H> {
    fn clone(&self) -> Self {
        RsMerkle(PhantomData)
    }
}

impl<H: LogHasher + Default> rs_merkle::Hasher for RsMerkle<H> {
    type Hash = Hash;

    fn hash(data: &[u8]) -> Hash {
        H::default().hash_leaf(data)
    }

    fn concat_and_hash(left: &Hash, right: Option<&Hash>) -> Hash {
        match right {
            Some(right) => H::default().hash_children(left, right),
            None => *left,
        }
    }
}

/// rs_merkle hasher for BLAKE3 logs.
pub type RsMerkleBlake3 = RsMerkle<Blake3Hasher>;
/// rs_merkle hasher for SHA-256 logs.
pub type RsMerkleSha256 = RsMerkle<Sha256Hasher>;

/// Why a batch tree or batch proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// A batch has no leaves (rs_merkle has no root for it; the sequencer never builds one).
    #[error("a batch needs at least one leaf")]
    Empty,
    /// More leaves than [`MAX_BATCH_LEAVES`].
    #[error("batch of {len} leaves exceeds the limit of {MAX_BATCH_LEAVES}")]
    TooLarge {
        /// Leaves given.
        len: usize,
    },
    /// A leaf index is not inside the batch.
    #[error("leaf index {index} is not below batch size {len}")]
    IndexOutOfRange {
        /// The index asked about.
        index: usize,
        /// The number of leaves in the batch.
        len: usize,
    },
    /// A proof must name at least one leaf.
    #[error("a proof needs at least one leaf index")]
    NoIndexes,
    /// Multi-leaf indexes must be given strictly increasing (sorted, no repeats).
    #[error("leaf indexes are not strictly increasing")]
    UnsortedIndexes,
    /// A proof was checked against a different number of leaf hashes than it has indexes.
    #[error("{got} leaf hashes for a proof of {want} leaves")]
    WrongLeafCount {
        /// Leaf hashes given.
        got: usize,
        /// Indexes in the proof.
        want: usize,
    },
    /// The proof has the wrong number of hashes for its indexes (truncated or over-long).
    #[error("proof has {got} hashes, expected {want}")]
    WrongProofLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes a proof of these indexes has.
        want: usize,
    },
    /// The proof is well formed but yields a different root.
    #[error("computed batch root does not match the expected root")]
    RootMismatch,
}

/// The rs_merkle tree of one batch, for the batch's hash algorithm.
#[derive(Clone)]
enum Inner {
    Blake3(MerkleTree<RsMerkleBlake3>),
    Sha256(MerkleTree<RsMerkleSha256>),
}

/// The tree of one bounded batch of leaf hashes, built with rs_merkle.
#[derive(Clone)]
pub struct BatchTree {
    inner: Inner,
    len: usize,
    root: Hash,
}

impl BatchTree {
    /// Builds the tree of `leaf_hashes` (1 to [`MAX_BATCH_LEAVES`]) with the algorithm
    /// `h.algorithm()` names.
    pub fn new<H: LogHasher>(h: &H, leaf_hashes: &[Hash]) -> Result<Self, BatchError> {
        let len = check_len(leaf_hashes.len())?;
        let (inner, root) = match h.algorithm() {
            HashAlgorithm::Blake3 => {
                let tree = MerkleTree::<RsMerkleBlake3>::from_leaves(leaf_hashes);
                let root = tree.root();
                (Inner::Blake3(tree), root)
            }
            HashAlgorithm::Sha256 => {
                let tree = MerkleTree::<RsMerkleSha256>::from_leaves(leaf_hashes);
                let root = tree.root();
                (Inner::Sha256(tree), root)
            }
        };
        // rs_merkle returns None only for an empty tree, refused above.
        let root = root.ok_or(BatchError::Empty)?;
        Ok(BatchTree { inner, len, root })
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: an empty batch is refused by [`new`](Self::new).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The RFC 6962 root of the batch, `MTH(leaves)`.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The hash algorithm of the tree.
    pub fn algorithm(&self) -> HashAlgorithm {
        match self.inner {
            Inner::Blake3(_) => HashAlgorithm::Blake3,
            Inner::Sha256(_) => HashAlgorithm::Sha256,
        }
    }

    /// The RFC 6962 audit path of leaf `index` within the batch (verify it with
    /// [`verify_inclusion`](super::verify_inclusion) against [`root`](Self::root) and `len()`).
    pub fn inclusion_proof(&self, index: usize) -> Result<Vec<Hash>, BatchError> {
        Ok(self.multi_proof(&[index])?.hashes)
    }

    /// A proof that the leaves at `indexes` (strictly increasing) are in the batch.
    pub fn multi_proof(&self, indexes: &[usize]) -> Result<BatchProof, BatchError> {
        check_indexes(indexes, self.len)?;
        let hashes = match &self.inner {
            Inner::Blake3(t) => t.proof(indexes).proof_hashes().to_vec(),
            Inner::Sha256(t) => t.proof(indexes).proof_hashes().to_vec(),
        };
        Ok(BatchProof {
            algorithm: self.algorithm(),
            leaf_count: self.len,
            indexes: indexes.to_vec(),
            hashes,
        })
    }
}

/// The root of the RFC 6962 tree of one batch of leaf hashes, built with rs_merkle.
pub fn batch_subtree_root<H: LogHasher>(h: &H, leaf_hashes: &[Hash]) -> Result<Hash, BatchError> {
    BatchTree::new(h, leaf_hashes).map(|t| t.root())
}

/// A multi-leaf proof within one batch (rs_merkle's layout: per layer bottom-up, the sibling
/// hashes not computable from the proven leaves, left to right).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchProof {
    /// The hash algorithm of the batch.
    pub algorithm: HashAlgorithm,
    /// Leaves in the batch.
    pub leaf_count: usize,
    /// The proven leaves' indexes, strictly increasing.
    pub indexes: Vec<usize>,
    /// The proof hashes.
    pub hashes: Vec<Hash>,
}

impl BatchProof {
    /// The batch root these leaf hashes (one per index, same order) and this proof yield.
    ///
    /// Checks what rs_merkle does not: the batch bound, indexes inside the batch and in order,
    /// and the exact proof length.
    pub fn root(&self, leaf_hashes: &[Hash]) -> Result<Hash, BatchError> {
        check_len(self.leaf_count)?;
        check_indexes(&self.indexes, self.leaf_count)?;
        if leaf_hashes.len() != self.indexes.len() {
            return Err(BatchError::WrongLeafCount {
                got: leaf_hashes.len(),
                want: self.indexes.len(),
            });
        }
        let want = multi_proof_len(&self.indexes, self.leaf_count);
        if self.hashes.len() != want {
            return Err(BatchError::WrongProofLength {
                got: self.hashes.len(),
                want,
            });
        }
        let root =
            match self.algorithm {
                HashAlgorithm::Blake3 => MerkleProof::<RsMerkleBlake3>::new(self.hashes.clone())
                    .root(&self.indexes, leaf_hashes, self.leaf_count),
                HashAlgorithm::Sha256 => MerkleProof::<RsMerkleSha256>::new(self.hashes.clone())
                    .root(&self.indexes, leaf_hashes, self.leaf_count),
            };
        // With the checks above rs_merkle has exactly the hashes it needs; treat any
        // complaint of its as a malformed proof rather than trusting it cannot happen.
        root.map_err(|_| BatchError::WrongProofLength {
            got: self.hashes.len(),
            want,
        })
    }

    /// Checks that the leaves (one hash per index, same order) are in the batch whose root is
    /// `root`.
    pub fn verify(&self, leaf_hashes: &[Hash], root: &Hash) -> Result<(), BatchError> {
        if self.root(leaf_hashes)? != *root {
            return Err(BatchError::RootMismatch);
        }
        Ok(())
    }
}

fn check_len(len: usize) -> Result<usize, BatchError> {
    match len {
        0 => Err(BatchError::Empty),
        n if n > MAX_BATCH_LEAVES => Err(BatchError::TooLarge { len: n }),
        n => Ok(n),
    }
}

fn check_indexes(indexes: &[usize], len: usize) -> Result<(), BatchError> {
    if indexes.is_empty() {
        return Err(BatchError::NoIndexes);
    }
    if indexes.windows(2).any(|w| w[0] >= w[1]) {
        return Err(BatchError::UnsortedIndexes);
    }
    match indexes.last() {
        Some(&index) if index >= len => Err(BatchError::IndexOutOfRange { index, len }),
        _ => Ok(()),
    }
}

/// Hashes in a multi-leaf proof of `indexes` (sorted, inside the batch) in a batch of `len`:
/// per layer, the siblings of known nodes that are neither known nor past the layer's end.
fn multi_proof_len(indexes: &[usize], len: usize) -> usize {
    let mut known: Vec<usize> = indexes.to_vec();
    let mut width = len;
    let mut count = 0;
    while width > 1 {
        count += known
            .iter()
            .filter(|&&i| {
                let sibling = i ^ 1;
                sibling < width && known.binary_search(&sibling).is_err()
            })
            .count();
        known = known.iter().map(|i| i / 2).collect();
        known.dedup();
        width = width.div_ceil(2);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{AnyHasher, verify_inclusion};

    fn leaves<H: LogHasher>(h: &H, n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| h.hash_leaf(&(i as u64).to_be_bytes()))
            .collect()
    }

    use crate::testkit::reference::mth as naive;

    #[test]
    fn rs_merkle_hash_is_the_leaf_hash() {
        use rs_merkle::Hasher as _;
        assert_eq!(RsMerkleBlake3::hash(b"x"), Blake3Hasher.hash_leaf(b"x"));
        assert_eq!(RsMerkleSha256::hash(b"x"), Sha256Hasher.hash_leaf(b"x"));
    }

    #[test]
    fn batch_roots_and_audit_paths_are_rfc6962() {
        for h in [
            AnyHasher(HashAlgorithm::Blake3),
            AnyHasher(HashAlgorithm::Sha256),
        ] {
            for n in 1..=40 {
                let leaves = leaves(&h, n);
                let tree = BatchTree::new(&h, &leaves).unwrap();
                assert_eq!(tree.root(), naive(&h, &leaves));
                assert_eq!(tree.algorithm(), h.algorithm());
                for (i, leaf) in leaves.iter().enumerate() {
                    let proof = tree.inclusion_proof(i).unwrap();
                    verify_inclusion(&h, i as u64, n as u64, leaf, &proof, &tree.root()).unwrap();
                }
            }
        }
    }

    #[test]
    fn multi_proofs_verify_and_reject_tampering() {
        let h = Sha256Hasher;
        let leaves = leaves(&h, 13);
        let tree = BatchTree::new(&h, &leaves).unwrap();
        let root = tree.root();
        for indexes in [
            vec![0],
            vec![12],
            vec![1, 2, 12],
            vec![4, 5, 6, 7],
            (0..13).collect(),
        ] {
            let proof = tree.multi_proof(&indexes).unwrap();
            let proven: Vec<Hash> = indexes.iter().map(|&i| leaves[i]).collect();
            proof.verify(&proven, &root).unwrap();

            let mut extended = proof.clone();
            extended.hashes.push([0; 32]);
            assert!(matches!(
                extended.verify(&proven, &root),
                Err(BatchError::WrongProofLength { .. })
            ));
            if let Some(first) = proof.hashes.first() {
                let mut flipped = proof.clone();
                flipped.hashes[0] = *first;
                flipped.hashes[0][0] ^= 1;
                assert_eq!(
                    flipped.verify(&proven, &root),
                    Err(BatchError::RootMismatch)
                );
                let mut cut = proof.clone();
                cut.hashes.pop();
                assert!(cut.verify(&proven, &root).is_err());
            }
            let mut wrong_leaf = proven.clone();
            wrong_leaf[0][31] ^= 0x80;
            assert_eq!(
                proof.verify(&wrong_leaf, &root),
                Err(BatchError::RootMismatch)
            );
        }
    }

    #[test]
    fn index_past_the_batch_is_refused_even_where_rs_merkle_would_accept_it() {
        let h = Blake3Hasher;
        let leaves = leaves(&h, 5);
        let tree = BatchTree::new(&h, &leaves).unwrap();
        assert_eq!(
            tree.inclusion_proof(5),
            Err(BatchError::IndexOutOfRange { index: 5, len: 5 })
        );
        let mut proof = tree.multi_proof(&[4]).unwrap();
        proof.indexes = vec![6];
        assert_eq!(
            proof.verify(&[leaves[4]], &tree.root()),
            Err(BatchError::IndexOutOfRange { index: 6, len: 5 })
        );
        proof.indexes = vec![4];
        proof.leaf_count = MAX_BATCH_LEAVES + 1;
        assert_eq!(
            proof.verify(&[leaves[4]], &tree.root()),
            Err(BatchError::TooLarge {
                len: MAX_BATCH_LEAVES + 1
            })
        );
    }

    #[test]
    fn bad_batches_and_index_lists_are_typed_errors() {
        let h = Blake3Hasher;
        assert_eq!(batch_subtree_root(&h, &[]), Err(BatchError::Empty));
        let big = vec![[0; 32]; MAX_BATCH_LEAVES + 1];
        assert_eq!(
            batch_subtree_root(&h, &big),
            Err(BatchError::TooLarge {
                len: MAX_BATCH_LEAVES + 1
            })
        );
        let tree = BatchTree::new(&h, &leaves(&h, 8)).unwrap();
        assert_eq!(tree.multi_proof(&[]), Err(BatchError::NoIndexes));
        assert_eq!(tree.multi_proof(&[3, 3]), Err(BatchError::UnsortedIndexes));
        assert_eq!(tree.multi_proof(&[4, 2]), Err(BatchError::UnsortedIndexes));
        let proof = tree.multi_proof(&[2, 4]).unwrap();
        assert_eq!(
            proof.verify(&[[0; 32]], &tree.root()),
            Err(BatchError::WrongLeafCount { got: 1, want: 2 })
        );
    }

    #[test]
    fn full_batch_of_4096_is_accepted() {
        let h = Blake3Hasher;
        let leaves = leaves(&h, MAX_BATCH_LEAVES);
        let tree = BatchTree::new(&h, &leaves).unwrap();
        assert_eq!(tree.len(), MAX_BATCH_LEAVES);
        assert!(!tree.is_empty());
        assert_eq!(tree.root(), naive(&h, &leaves));
    }
}
