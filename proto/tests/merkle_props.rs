//! Property tests of the Merkle tree maths against the RFC 9162 verifiers and RFC 6962 itself.
//!
//! - Every (m, n) with n <= 64, under both hashes: generated inclusion and consistency proofs
//!   verify, and every mutation of them (a flipped bit in any hash, truncation, an extra hash,
//!   swapped roots, a wrong index or size) is rejected.
//! - Random pairs in a tree of 2^20 leaves (built once per hash), the same checks.
//! - rs_merkle trees with the RFC 6962 hashers have the reference root for every size 1..=1024
//!   and random sizes near 100k.

use std::sync::OnceLock;

use herald_proto::merkle::{
    Blake3Hasher, CompactRange, Hash, HashReader, LogHasher, MemoryHashes, NodeId, ProofError,
    RsMerkleBlake3, RsMerkleSha256, Sha256Hasher, consistency_proof, inclusion_proof, tree_root,
    verify_consistency, verify_inclusion,
};
use proptest::prelude::*;
use rs_merkle::MerkleTree;

/// Leaves in the large tree random pairs are drawn from.
const BIG: u64 = 1 << 20;
/// Leaves in the small tree every pair is checked in.
const SMALL: u64 = 64;

// RFC 6962 §2.1 MTH, straight from the definition.
use herald_proto::testkit::reference::mth as naive;

fn leaf_hashes<H: LogHasher>(h: &H, n: u64) -> impl Iterator<Item = Hash> + '_ {
    (0..n).map(move |i| h.hash_leaf(format!("entry {i}").as_bytes()))
}

/// A tree of `n` leaves in memory, checked against the right edge that built it.
fn build<H: LogHasher>(h: &H, n: u64) -> MemoryHashes {
    let (store, range) = MemoryHashes::from_leaf_hashes(h, leaf_hashes(h, n));
    assert_eq!(tree_root(h, &store, n).unwrap(), range.root(h));
    store
}

fn big_blake3() -> &'static MemoryHashes {
    static TREE: OnceLock<MemoryHashes> = OnceLock::new();
    TREE.get_or_init(|| build(&Blake3Hasher, BIG))
}

fn big_sha256() -> &'static MemoryHashes {
    static TREE: OnceLock<MemoryHashes> = OnceLock::new();
    TREE.get_or_init(|| build(&Sha256Hasher, BIG))
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out[(bit / 8) % 32] ^= 1 << (bit % 8);
    out
}

/// Checks the inclusion proof of `index` at `size`, and that every mutation of it fails.
/// `total` is how many leaves `store` holds (bounds the wrong-size variants).
fn check_inclusion<H: LogHasher>(h: &H, store: &MemoryHashes, total: u64, index: u64, size: u64) {
    let ctx = format!("inclusion {index} in {size}");
    let leaf = store.node_hash(NodeId::leaf(index)).unwrap();
    let root = tree_root(h, store, size).unwrap();
    let proof = inclusion_proof(h, store, index, size).unwrap();
    let verify = |index, size, leaf: &Hash, proof: &[Hash], root: &Hash| {
        verify_inclusion(h, index, size, leaf, proof, root)
    };
    assert_eq!(verify(index, size, &leaf, &proof, &root), Ok(()), "{ctx}");

    let reject = |r: Result<(), ProofError>, what: &str| {
        assert!(r.is_err(), "{ctx}: {what} accepted");
    };
    for j in 0..proof.len() {
        let mut bad = proof.clone();
        bad[j] = flip(&bad[j], j * 37 + index as usize);
        reject(
            verify(index, size, &leaf, &bad, &root),
            "flipped proof hash",
        );
    }
    reject(
        verify(index, size, &flip(&leaf, 3), &proof, &root),
        "flipped leaf",
    );
    reject(
        verify(index, size, &leaf, &proof, &flip(&root, 200)),
        "flipped root",
    );
    if let Some((_, rest)) = proof.split_last() {
        reject(verify(index, size, &leaf, rest, &root), "truncated proof");
        reject(
            verify(index, size, &leaf, &proof[1..], &root),
            "proof without first",
        );
    }
    let mut longer = proof.clone();
    longer.push(root);
    reject(verify(index, size, &leaf, &longer, &root), "extended proof");
    let mut longer = vec![leaf];
    longer.extend_from_slice(&proof);
    reject(
        verify(index, size, &leaf, &longer, &root),
        "proof with leaf prepended",
    );
    if size > 1 {
        let other = (index + 1) % size;
        reject(verify(other, size, &leaf, &proof, &root), "wrong index");
    }
    reject(verify(size, size, &leaf, &proof, &root), "index = size");
    // A wrong size comes with that size's (genuine) root, as in a checkpoint.
    for other in [size - 1, size + 1] {
        if other > index && other <= total {
            let other_root = tree_root(h, store, other).unwrap();
            reject(
                verify(index, other, &leaf, &proof, &other_root),
                "wrong size",
            );
        }
    }
}

/// Checks the consistency proof from `size1` to `size2` (1 <= size1 <= size2 <= total), and
/// that every mutation of it fails.
fn check_consistency<H: LogHasher>(
    h: &H,
    store: &MemoryHashes,
    total: u64,
    size1: u64,
    size2: u64,
) {
    let ctx = format!("consistency {size1} -> {size2}");
    let root1 = tree_root(h, store, size1).unwrap();
    let root2 = tree_root(h, store, size2).unwrap();
    let proof = consistency_proof(h, store, size1, size2).unwrap();
    let verify =
        |m, n, proof: &[Hash], r1: &Hash, r2: &Hash| verify_consistency(h, m, n, proof, r1, r2);
    assert_eq!(
        verify(size1, size2, &proof, &root1, &root2),
        Ok(()),
        "{ctx}"
    );

    let reject = |r: Result<(), ProofError>, what: &str| {
        assert!(r.is_err(), "{ctx}: {what} accepted");
    };
    for j in 0..proof.len() {
        let mut bad = proof.clone();
        bad[j] = flip(&bad[j], j * 53 + size1 as usize);
        reject(
            verify(size1, size2, &bad, &root1, &root2),
            "flipped proof hash",
        );
    }
    reject(
        verify(size1, size2, &proof, &flip(&root1, 9), &root2),
        "flipped root1",
    );
    reject(
        verify(size1, size2, &proof, &root1, &flip(&root2, 77)),
        "flipped root2",
    );
    if let Some((_, rest)) = proof.split_last() {
        reject(
            verify(size1, size2, rest, &root1, &root2),
            "truncated proof",
        );
        reject(
            verify(size1, size2, &proof[1..], &root1, &root2),
            "proof without first",
        );
    }
    let mut longer = proof.clone();
    longer.push(root1);
    reject(
        verify(size1, size2, &longer, &root1, &root2),
        "extended proof",
    );
    let mut longer = vec![root2];
    longer.extend_from_slice(&proof);
    reject(
        verify(size1, size2, &longer, &root1, &root2),
        "proof with hash prepended",
    );
    if size1 < size2 {
        reject(
            verify(size1, size2, &proof, &root2, &root1),
            "swapped roots",
        );
        reject(
            verify(size2, size1, &proof, &root2, &root1),
            "swapped sizes",
        );
    }
    // Wrong sizes come with their genuine roots, as in checkpoints.
    let mut others = vec![(size1 + 1, size2), (size1, size2 + 1)];
    if size1 > 1 {
        others.push((size1 - 1, size2));
    }
    if size2 > size1 {
        others.push((size1, size2 - 1));
    }
    for (m, n) in others {
        if m <= n && n <= total {
            let r1 = tree_root(h, store, m).unwrap();
            let r2 = tree_root(h, store, n).unwrap();
            reject(verify(m, n, &proof, &r1, &r2), "wrong size");
        }
    }
}

fn every_pair_up_to_64<H: LogHasher>(h: H) {
    let store = build(&h, SMALL);
    let leaves: Vec<Hash> = leaf_hashes(&h, SMALL).collect();
    for size in 1..=SMALL {
        assert_eq!(
            tree_root(&h, &store, size).unwrap(),
            naive(&h, &leaves[..size as usize]),
            "root at {size}"
        );
        for index in 0..size {
            check_inclusion(&h, &store, SMALL, index, size);
        }
        for size1 in 1..=size {
            check_consistency(&h, &store, SMALL, size1, size);
        }
        // From the empty tree there is no proof; the verifier says so instead of accepting.
        assert_eq!(consistency_proof(&h, &store, 0, size), Ok(vec![]));
        let root = tree_root(&h, &store, size).unwrap();
        assert_eq!(
            verify_consistency(&h, 0, size, &[] as &[Hash], &h.empty_root(), &root),
            Err(ProofError::FromEmptyTree)
        );
    }
}

#[test]
fn every_pair_up_to_64_leaves_blake3() {
    every_pair_up_to_64(Blake3Hasher);
}

#[test]
fn every_pair_up_to_64_leaves_sha256() {
    every_pair_up_to_64(Sha256Hasher);
}

/// (index, size) with 1 <= size <= 2^20, index < size; half the sizes near a power of two,
/// where the proof shapes change.
fn index_and_size() -> impl Strategy<Value = (u64, u64)> {
    let size = prop_oneof![
        1..=BIG,
        (0u32..=20, -2i64..=2).prop_map(|(k, d)| ((1i64 << k) + d).clamp(1, BIG as i64) as u64),
    ];
    size.prop_flat_map(|n| (0..n, Just(n)))
}

fn two_sizes() -> impl Strategy<Value = (u64, u64)> {
    index_and_size().prop_map(|(i, n)| (i + 1, n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn random_inclusion_in_2_pow_20_blake3((index, size) in index_and_size()) {
        check_inclusion(&Blake3Hasher, big_blake3(), BIG, index, size);
    }

    #[test]
    fn random_inclusion_in_2_pow_20_sha256((index, size) in index_and_size()) {
        check_inclusion(&Sha256Hasher, big_sha256(), BIG, index, size);
    }

    #[test]
    fn random_consistency_in_2_pow_20_blake3((size1, size2) in two_sizes()) {
        check_consistency(&Blake3Hasher, big_blake3(), BIG, size1, size2);
    }

    #[test]
    fn random_consistency_in_2_pow_20_sha256((size1, size2) in two_sizes()) {
        check_consistency(&Sha256Hasher, big_sha256(), BIG, size1, size2);
    }
}

#[test]
fn full_2_pow_20_tree_proves_its_first_and_last_leaves() {
    for (index, size) in [(0, BIG), (BIG - 1, BIG), (BIG / 2, BIG)] {
        check_inclusion(&Blake3Hasher, big_blake3(), BIG, index, size);
        check_inclusion(&Sha256Hasher, big_sha256(), BIG, index, size);
    }
    for (size1, size2) in [(1, BIG), (BIG - 1, BIG), (BIG / 2 + 1, BIG), (BIG, BIG)] {
        check_consistency(&Blake3Hasher, big_blake3(), BIG, size1, size2);
        check_consistency(&Sha256Hasher, big_sha256(), BIG, size1, size2);
    }
}

fn rs_merkle_roots_match(n_max: usize) {
    let h3 = Blake3Hasher;
    let h2 = Sha256Hasher;
    let b3: Vec<Hash> = leaf_hashes(&h3, n_max as u64).collect();
    let s2: Vec<Hash> = leaf_hashes(&h2, n_max as u64).collect();
    // The reference for every prefix size, one append at a time.
    let (mut r3, mut r2) = (CompactRange::new(), CompactRange::new());
    for n in 1..=n_max {
        r3.append(&h3, b3[n - 1], |_, _| {});
        r2.append(&h2, s2[n - 1], |_, _| {});
        let t3 = MerkleTree::<RsMerkleBlake3>::from_leaves(&b3[..n]);
        let t2 = MerkleTree::<RsMerkleSha256>::from_leaves(&s2[..n]);
        let want3 = naive(&h3, &b3[..n]);
        let want2 = naive(&h2, &s2[..n]);
        assert_eq!(t3.root(), Some(want3), "blake3 size {n}");
        assert_eq!(t2.root(), Some(want2), "sha256 size {n}");
        assert_eq!(r3.root(&h3), want3);
        assert_eq!(r2.root(&h2), want2);
    }
}

#[test]
fn rs_merkle_roots_are_rfc6962_for_every_size_to_1024() {
    rs_merkle_roots_match(1024);
}

#[test]
fn rs_merkle_has_no_root_for_the_empty_tree() {
    // Why BatchTree refuses empty batches: RFC 6962's empty root is H(""), rs_merkle has none.
    assert_eq!(MerkleTree::<RsMerkleBlake3>::from_leaves(&[]).root(), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3))]

    #[test]
    fn rs_merkle_roots_are_rfc6962_near_100k(n in 90_000usize..=100_000, sha in any::<bool>()) {
        let root = if sha {
            let h = Sha256Hasher;
            let leaves: Vec<Hash> = leaf_hashes(&h, n as u64).collect();
            let tree = MerkleTree::<RsMerkleSha256>::from_leaves(&leaves);
            (tree.root(), naive(&h, &leaves))
        } else {
            let h = Blake3Hasher;
            let leaves: Vec<Hash> = leaf_hashes(&h, n as u64).collect();
            let tree = MerkleTree::<RsMerkleBlake3>::from_leaves(&leaves);
            (tree.root(), naive(&h, &leaves))
        };
        prop_assert_eq!(root.0, Some(root.1), "size {}", n);
    }
}

#[test]
fn rs_merkle_single_leaf_proofs_are_rfc6962_audit_paths() {
    let h = Sha256Hasher;
    let store = build(&h, 300);
    for n in [1usize, 2, 3, 7, 8, 100, 255, 256, 257, 300] {
        let leaves: Vec<Hash> = leaf_hashes(&h, n as u64).collect();
        let tree = MerkleTree::<RsMerkleSha256>::from_leaves(&leaves);
        for index in 0..n {
            let ours = inclusion_proof(&h, &store, index as u64, n as u64).unwrap();
            assert_eq!(
                tree.proof(&[index]).proof_hashes(),
                &ours[..],
                "{index} in {n}"
            );
        }
    }
}
