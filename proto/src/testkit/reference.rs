//! RFC 6962's Merkle tree definitions written straight from the text (§2.1), recursively and
//! slowly, for tests to check the real implementation against: the tree head `MTH`, the audit
//! path `PATH` and the consistency proof `PROOF`/`SUBPROOF`. Nothing here is clever on purpose;
//! it is the one naive reference every crate's tests use.

use crate::merkle::{Hash, LogHasher};

/// The largest power of two strictly below `n` (RFC 6962's split point `k`); `n >= 2`.
fn split(n: usize) -> usize {
    n.next_power_of_two() / 2
}

/// `MTH(D[n])` over leaf hashes (RFC 6962 §2.1): the empty root for no leaves.
pub fn mth<H: LogHasher>(h: &H, leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => h.empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            h.hash_children(&mth(h, &leaves[..k]), &mth(h, &leaves[k..]))
        }
    }
}

/// `PATH(m, D[n])` (RFC 6962 §2.1.1): the audit path of leaf `m`, leaf side first.
pub fn path<H: LogHasher>(h: &H, m: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let k = split(leaves.len());
    let (mut proof, sibling) = if m < k {
        (path(h, m, &leaves[..k]), mth(h, &leaves[k..]))
    } else {
        (path(h, m - k, &leaves[k..]), mth(h, &leaves[..k]))
    };
    proof.push(sibling);
    proof
}

/// `PROOF(m, D[n])` (RFC 6962 §2.1.2): the consistency proof from the first `m` leaves to all
/// of them; empty when `m` is 0 or `m == n`.
pub fn consistency<H: LogHasher>(h: &H, m: usize, leaves: &[Hash]) -> Vec<Hash> {
    if m == 0 || m >= leaves.len() {
        return Vec::new();
    }
    subproof(h, m, leaves, true)
}

/// `SUBPROOF(m, D[n], b)` (RFC 6962 §2.1.2).
fn subproof<H: LogHasher>(h: &H, m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if complete {
            Vec::new()
        } else {
            vec![mth(h, leaves)]
        };
    }
    let k = split(n);
    let (mut proof, sibling) = if m <= k {
        (subproof(h, m, &leaves[..k], complete), mth(h, &leaves[k..]))
    } else {
        (
            subproof(h, m - k, &leaves[k..], false),
            mth(h, &leaves[..k]),
        )
    };
    proof.push(sibling);
    proof
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{Sha256Hasher, verify_consistency, verify_inclusion};

    /// The reference agrees with proto's verifiers on every pair of small sizes: if both were
    /// wrong the same way, the RFC 6962 vector tests (tests/rfc6962_vectors.rs) would say so.
    #[test]
    fn the_reference_proofs_verify_with_protos_verifiers() {
        let h = Sha256Hasher;
        let leaves: Vec<Hash> = (0..20u8).map(|i| h.hash_leaf(&[i])).collect();
        for n in 1..=leaves.len() {
            let root = mth(&h, &leaves[..n]);
            for m in 0..n {
                let proof = path(&h, m, &leaves[..n]);
                verify_inclusion(&h, m as u64, n as u64, &leaves[m], &proof, &root).unwrap();
            }
            for m in 1..n {
                let proof = consistency(&h, m, &leaves[..n]);
                let old = mth(&h, &leaves[..m]);
                verify_consistency(&h, m as u64, n as u64, &proof, &old, &root).unwrap();
            }
        }
    }
}
