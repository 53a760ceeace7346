//! Verifiers for inclusion (RFC 9162 §2.1.3.2) and consistency (§2.1.4.2) proofs.
//!
//! Every function here takes its hashes as byte slices, because proofs come from the network
//! and from files: a hash of the wrong length, an index past the tree, a proof one hash too
//! short or too long, or `size1 > size2` is a typed [`ProofError`], never a panic. The expected
//! proof length is computed from the sizes first (as transparency-dev/merkle does), so trailing
//! or missing hashes are caught before any hashing.

use super::hasher::{HASH_LEN, Hash, LogHasher};

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// A hash (root, leaf hash or proof element) is not [`HASH_LEN`] bytes long.
    #[error("{what} is {len} bytes, expected {HASH_LEN}")]
    BadHashLength {
        /// Which hash: "root", "leaf hash", "proof element", ...
        what: &'static str,
        /// Its actual length.
        len: usize,
    },
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The index asked about.
        index: u64,
        /// The tree size it was asked against.
        size: u64,
    },
    /// The older tree is larger than the newer one.
    #[error("size1 {size1} is larger than size2 {size2}")]
    SizesOutOfOrder {
        /// The first (older) size.
        size1: u64,
        /// The second (newer) size.
        size2: u64,
    },
    /// The proof has the wrong number of hashes for these sizes (truncated or over-long).
    #[error("proof has {got} hashes, expected {want}")]
    WrongProofLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes a proof for these sizes has.
        want: usize,
    },
    /// The proof is well formed but the root it yields is not the expected one.
    #[error("computed root does not match the expected root")]
    RootMismatch {
        /// The root the caller expected.
        expected: Hash,
        /// The root the proof yields.
        computed: Hash,
    },
    /// Two equal-size trees have different roots (a consistency proof cannot fix that).
    #[error("trees of equal size have different roots")]
    EqualSizeRootsDiffer,
    /// A range proof for no leaves, or for leaves past the tree.
    #[error("leaves [{begin}, {end}) are not a run inside a tree of size {size}")]
    BadRange {
        /// The first leaf of the run.
        begin: u64,
        /// One past its last leaf.
        end: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof from the empty tree was asked for; RFC 9162 defines none, and
    /// every tree extends the empty tree, so the caller needs no proof.
    #[error("no consistency proof exists from the empty tree")]
    FromEmptyTree,
}

/// Reads `bytes` as one hash, or says which hash had the wrong length.
pub fn hash_from_slice(what: &'static str, bytes: &[u8]) -> Result<Hash, ProofError> {
    bytes.try_into().map_err(|_| ProofError::BadHashLength {
        what,
        len: bytes.len(),
    })
}

pub(crate) fn proof_hashes<P: AsRef<[u8]>>(proof: &[P]) -> Result<Vec<Hash>, ProofError> {
    // Sized once (collecting a `Result` would grow it from nothing): once per proof verified.
    let mut hashes = Vec::with_capacity(proof.len());
    for p in proof {
        hashes.push(hash_from_slice("proof element", p.as_ref())?);
    }
    Ok(hashes)
}

use super::node::bit_len;

/// Splits the audit path of `index` in a tree of `size` into its inner part (below the point
/// where the paths to `index` and to the last leaf diverge) and its border part.
fn decompose_inclusion(index: u64, size: u64) -> (u32, u32) {
    let inner = bit_len(index ^ (size - 1));
    // `inner` reaches 64 near the top of u64 (e.g. index 0, size u64::MAX), where a plain
    // shift would overflow: nothing of `index` is left above the fork then.
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

/// The number of hashes in an inclusion proof for `index` in a tree of `size`
/// (`index < size`, checked by the caller; 0 otherwise, as no proof exists).
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    if index >= size {
        return 0;
    }
    let (inner, border) = decompose_inclusion(index, size);
    (inner + border) as usize
}

/// The number of hashes in a consistency proof from `size1` to `size2` (`size1 <= size2`;
/// 0 otherwise, as no proof exists).
pub fn consistency_proof_len(size1: u64, size2: u64) -> usize {
    if size1 == 0 || size1 >= size2 {
        return 0;
    }
    let (inner, border) = decompose_inclusion(size1 - 1, size2);
    let shift = size1.trailing_zeros();
    let start = usize::from(size1 != 1u64 << shift);
    start + (inner - shift + border) as usize
}

fn chain_inner<H: LogHasher>(h: &H, seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |acc, (i, p)| {
        if (index >> i) & 1 == 0 {
            h.hash_children(&acc, p)
        } else {
            h.hash_children(p, &acc)
        }
    })
}

fn chain_inner_right<H: LogHasher>(h: &H, seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |acc, (i, p)| {
        if (index >> i) & 1 == 1 {
            h.hash_children(p, &acc)
        } else {
            acc
        }
    })
}

fn chain_border_right<H: LogHasher>(h: &H, seed: Hash, proof: &[Hash]) -> Hash {
    proof.iter().fold(seed, |acc, p| h.hash_children(p, &acc))
}

/// The root that an inclusion proof for `leaf_hash` at `index` in a tree of `size` yields.
///
/// The caller compares it with a trusted root; [`verify_inclusion`] does both.
pub fn root_from_inclusion_proof<H: LogHasher, P: AsRef<[u8]>>(
    h: &H,
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let leaf_hash = hash_from_slice("leaf hash", leaf_hash)?;
    let want = inclusion_proof_len(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want,
        });
    }
    let proof = proof_hashes(proof)?;
    let (inner, _) = decompose_inclusion(index, size);
    let (inner_part, border_part) = proof.split_at(inner as usize);
    let r = chain_inner(h, leaf_hash, inner_part, index);
    Ok(chain_border_right(h, r, border_part))
}

/// Checks that `leaf_hash` is the leaf at `index` of the tree of `size` whose root is `root`.
pub fn verify_inclusion<H: LogHasher, P: AsRef<[u8]>>(
    h: &H,
    index: u64,
    size: u64,
    leaf_hash: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), ProofError> {
    let expected = hash_from_slice("root", root)?;
    let computed = root_from_inclusion_proof(h, index, size, leaf_hash, proof)?;
    if computed != expected {
        return Err(ProofError::RootMismatch { expected, computed });
    }
    Ok(())
}

/// The two roots a consistency proof from `size1` to `size2` yields: `(first, second)`.
///
/// When `size1` is a power of two the proof does not carry the first root, and `root1_seed`
/// is used as the start of the chain (so `first == root1_seed`); otherwise `root1_seed` is
/// ignored and `first` is computed from the proof alone. A proof that yields the trusted
/// `root2` as `second` commits the log to `first` as its root at `size1`: if `first` differs
/// from a signed root at `size1`, the log signed two incompatible trees (DESIGN §2, split
/// view form (ii)). Requires `0 < size1 < size2`.
pub fn consistency_proof_roots<H: LogHasher, P: AsRef<[u8]>>(
    h: &H,
    size1: u64,
    size2: u64,
    proof: &[P],
    root1_seed: &[u8],
) -> Result<(Hash, Hash), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    let want = consistency_proof_len(size1, size2);
    if proof.len() != want {
        return Err(ProofError::WrongProofLength {
            got: proof.len(),
            want,
        });
    }
    if size1 == 0 {
        return Err(ProofError::FromEmptyTree);
    }
    if size1 == size2 {
        // Nothing links the two roots; equal sizes must have equal roots.
        return Err(ProofError::WrongProofLength { got: 0, want: 1 });
    }
    let proof = proof_hashes(proof)?;
    let (inner, border) = decompose_inclusion(size1 - 1, size2);
    let shift = size1.trailing_zeros();
    let inner = (inner - shift) as usize;
    let (seed, rest) = if size1 == 1u64 << shift {
        (hash_from_slice("root1", root1_seed)?, &proof[..])
    } else {
        (proof[0], &proof[1..])
    };
    debug_assert_eq!(rest.len(), inner + border as usize);
    let mask = (size1 - 1) >> shift;
    let (inner_part, border_part) = rest.split_at(inner);
    let first = chain_inner_right(h, seed, inner_part, mask);
    let first = chain_border_right(h, first, border_part);
    let second = chain_inner(h, seed, inner_part, mask);
    let second = chain_border_right(h, second, border_part);
    Ok((first, second))
}

/// Checks that the tree of `size2` with root `root2` extends the tree of `size1` with `root1`.
pub fn verify_consistency<H: LogHasher, P: AsRef<[u8]>>(
    h: &H,
    size1: u64,
    size2: u64,
    proof: &[P],
    root1: &[u8],
    root2: &[u8],
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == 0 {
        // RFC 9162 defines no proof from the empty tree; a caller that trusts nothing yet
        // needs none (every tree extends the empty one).
        return Err(ProofError::FromEmptyTree);
    }
    if size1 == size2 {
        // Equal sizes: consistent exactly when the roots are the same bytes. Nothing is hashed,
        // so the roots' lengths are left to whoever parsed them (checkpoints always carry 32).
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                got: proof.len(),
                want: 0,
            });
        }
        if root1 != root2 {
            return Err(ProofError::EqualSizeRootsDiffer);
        }
        return Ok(());
    }
    let root1 = hash_from_slice("root1", root1)?;
    let root2 = hash_from_slice("root2", root2)?;
    let (first, second) = consistency_proof_roots(h, size1, size2, proof, &root1)?;
    if first != root1 {
        return Err(ProofError::RootMismatch {
            expected: root1,
            computed: first,
        });
    }
    if second != root2 {
        return Err(ProofError::RootMismatch {
            expected: root2,
            computed: second,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::Sha256Hasher;

    #[test]
    fn verifiers_do_not_panic_at_the_top_of_u64() {
        // Sizes and indexes come from the network: the largest ones must be typed errors.
        let h = Sha256Hasher;
        let leaf = [0u8; 32];
        for (index, size) in [(0, u64::MAX), (1, u64::MAX), (u64::MAX - 1, u64::MAX)] {
            let want = inclusion_proof_len(index, size);
            assert!(want <= 128);
            let proof = vec![[1u8; 32]; want];
            assert!(matches!(
                verify_inclusion(&h, index, size, &leaf, &proof, &leaf),
                Err(ProofError::RootMismatch { .. })
            ));
        }
        assert_eq!(inclusion_proof_len(0, u64::MAX), 64);
        for (size1, size2) in [(1, u64::MAX), (u64::MAX - 1, u64::MAX), (1 << 63, u64::MAX)] {
            let proof = vec![[1u8; 32]; consistency_proof_len(size1, size2)];
            assert!(verify_consistency(&h, size1, size2, &proof, &leaf, &leaf).is_err());
        }
        assert_eq!(inclusion_proof_len(5, 0), 0);
        assert_eq!(consistency_proof_len(5, 0), 0);
        assert_eq!(consistency_proof_len(9, 5), 0);
    }
}
