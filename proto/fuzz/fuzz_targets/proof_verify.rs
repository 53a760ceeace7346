//! The inclusion and consistency verifiers of `herald_proto::merkle`, fed arbitrary sizes,
//! indices and hashes, through both the slice API and the wire messages; and the succession rule
//! (`herald_proto::succession`) that every verifier of a log calls, fed signed checkpoints of an
//! honest or a forked log with real, tampered or made-up proofs.
//!
//! Checks, beyond "no panic": the proof length functions agree with what the verifiers accept;
//! a proof of the right length verifies against the root it yields and against no other; a leaf
//! hash or proof element of the wrong length is a typed error. The succession rule never accuses
//! an honest log, never accepts a fork, and every split view it returns verifies offline; with
//! the audit path it asks for, a fork is always proved.
#![no_main]

use arbitrary::Arbitrary;
use herald_proto::equivocation::Equivocation;
use herald_proto::merkle::{
    Blake3Hasher, Hash, LogHasher, ProofError, Sha256Hasher, consistency_proof_len,
    consistency_proof_roots, inclusion_proof_len, root_from_inclusion_proof, verify_consistency,
    verify_inclusion,
};
use herald_proto::succession::{succession, succession_with_prefix};
use herald_proto::testkit::MemoryLog;
use herald_proto::wire::pb;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    /// A proof of whatever length the fuzzer picks.
    Inclusion {
        sha256: bool,
        index: u64,
        size: u64,
        leaf_hash: Vec<u8>,
        proof: Vec<Vec<u8>>,
        root: Vec<u8>,
    },
    /// A proof of exactly the length the verifier expects, so the hashing paths run.
    InclusionShaped {
        sha256: bool,
        index: u64,
        size: u64,
        leaf_hash: Hash,
        pool: Vec<Hash>,
        other_leaf: Hash,
    },
    Consistency {
        sha256: bool,
        size1: u64,
        size2: u64,
        proof: Vec<Vec<u8>>,
        root1: Vec<u8>,
        root2: Vec<u8>,
    },
    ConsistencyShaped {
        sha256: bool,
        size1: u64,
        size2: u64,
        pool: Vec<Hash>,
        root1_seed: Hash,
    },
    /// Succession from a checkpoint of `held` leaves to one of `held + grow` leaves (both at
    /// most 64), of the honest log or of one whose leaf `fork_at` (below `held`) was rewritten.
    Succession {
        held: u8,
        grow: u8,
        fork_at: Option<u8>,
        /// `None`: the newer tree's own consistency proof; `Some`: these hashes instead.
        proof: Option<Vec<Vec<u8>>>,
        /// Flips one bit of the chosen proof (at this element and bit).
        flip: Option<(u8, u8)>,
    },
}

/// `want` hashes drawn from `pool` (cycled; zeros if the pool is empty).
fn shaped(pool: &[Hash], want: usize) -> Vec<Hash> {
    (0..want)
        .map(|i| pool.get(i % pool.len().max(1)).copied().unwrap_or([0; 32]))
        .collect()
}

fn inclusion<H: LogHasher>(
    h: &H,
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[Vec<u8>],
    root: &[u8],
) {
    let direct = verify_inclusion(h, index, size, leaf, proof, root);
    let message = pb::InclusionProof {
        leaf_index: index,
        tree_size: size,
        hashes: proof.iter().map(|h| h.clone().into()).collect(),
    };
    assert_eq!(message.verify(h, leaf, root), direct);
    if direct.is_ok() {
        assert!(index < size);
        assert_eq!(proof.len(), inclusion_proof_len(index, size));
        assert_eq!(
            root_from_inclusion_proof(h, index, size, leaf, proof)
                .as_ref()
                .map(|r| &r[..]),
            Ok(root)
        );
    }
    if index >= size && root.len() == 32 {
        assert_eq!(direct, Err(ProofError::IndexOutOfRange { index, size }));
    }
}

fn inclusion_shaped<H: LogHasher>(
    h: &H,
    index: u64,
    size: u64,
    leaf: Hash,
    pool: &[Hash],
    other: Hash,
) {
    if index >= size {
        return;
    }
    let proof = shaped(pool, inclusion_proof_len(index, size));
    let root = root_from_inclusion_proof(h, index, size, &leaf, &proof)
        .expect("a proof of the expected length with 32-byte hashes yields a root");
    assert_eq!(
        verify_inclusion(h, index, size, &leaf, &proof, &root),
        Ok(())
    );
    if other != leaf {
        assert!(verify_inclusion(h, index, size, &other, &proof, &root).is_err());
    }
    // One hash too many or too few is refused.
    let mut longer = proof.clone();
    longer.push(other);
    assert!(matches!(
        verify_inclusion(h, index, size, &leaf, &longer, &root),
        Err(ProofError::WrongProofLength { .. })
    ));
    if let Some((_, shorter)) = proof.split_last() {
        assert!(matches!(
            verify_inclusion(h, index, size, &leaf, shorter, &root),
            Err(ProofError::WrongProofLength { .. })
        ));
    }
}

fn consistency<H: LogHasher>(
    h: &H,
    size1: u64,
    size2: u64,
    proof: &[Vec<u8>],
    root1: &[u8],
    root2: &[u8],
) {
    let direct = verify_consistency(h, size1, size2, proof, root1, root2);
    let message = pb::ConsistencyProof {
        size1,
        size2,
        hashes: proof.iter().map(|h| h.clone().into()).collect(),
    };
    assert_eq!(message.verify(h, root1, root2), direct);
    if direct.is_ok() {
        assert!(0 < size1 && size1 <= size2);
        assert_eq!(proof.len(), consistency_proof_len(size1, size2));
    }
    if size1 > size2 {
        assert_eq!(direct, Err(ProofError::SizesOutOfOrder { size1, size2 }));
    }
}

fn consistency_shaped<H: LogHasher>(h: &H, size1: u64, size2: u64, pool: &[Hash], seed: Hash) {
    if size1 == 0 || size1 >= size2 {
        return;
    }
    let proof = shaped(pool, consistency_proof_len(size1, size2));
    let (first, second) = consistency_proof_roots(h, size1, size2, &proof, &seed)
        .expect("a proof of the expected length with 32-byte hashes yields two roots");
    assert_eq!(
        verify_consistency(h, size1, size2, &proof, &first, &second),
        Ok(())
    );
    let mut wrong = second;
    wrong[0] ^= 1;
    assert!(verify_consistency(h, size1, size2, &proof, &first, &wrong).is_err());
}

/// A log of `n` entries, with entry `fork_at` rewritten when given.
fn log(n: u64, fork_at: Option<u64>) -> MemoryLog {
    let mut log = MemoryLog::new("fuzz.test", 1);
    for i in 0..n {
        if Some(i) == fork_at {
            log.append(b"rewritten");
        } else {
            log.append(&i.to_be_bytes());
        }
    }
    log
}

fn check_succession(
    held: u8,
    grow: u8,
    fork_at: Option<u8>,
    proof: &Option<Vec<Vec<u8>>>,
    flip: Option<(u8, u8)>,
) {
    let n1 = u64::from(held % 64) + 1;
    let n2 = (n1 + u64::from(grow % 64)).min(64);
    let fork_at = fork_at.map(|f| u64::from(f) % n1);
    let (honest, newer_log) = (log(n2, None), log(n2, fork_at));
    let trust = honest.unwitnessed();
    let older = honest.checkpoint_at(n1);
    let newer = newer_log.checkpoint_at(n2);
    let mut proof: Vec<Vec<u8>> = match proof {
        Some(p) => p.iter().take(70).cloned().collect(),
        None if n1 == n2 => Vec::new(),
        None => newer_log
            .consistency(n1, n2)
            .iter()
            .map(|h| h.to_vec())
            .collect(),
    };
    if let Some((i, bit)) = flip
        && !proof.is_empty()
    {
        let at = usize::from(i) % proof.len();
        let element = &mut proof[at];
        if !element.is_empty() {
            let len = element.len();
            element[usize::from(bit / 8) % len] ^= 1 << (bit % 8);
        }
    }
    let forked = fork_at.is_some();
    let mut verdict = succession(&trust, Some(&older), &newer, &proof);
    if let Some((index, size)) = verdict.as_ref().err().and_then(|e| e.wants_prefix()) {
        let leaf = newer_log.h.hash_leaf(&newer_log.leaves[index as usize]);
        let prefix = trust
            .verify_inclusion(&newer, &leaf, &newer_log.inclusion(index, size))
            .expect("the newer tree's own audit path verifies");
        verdict = succession_with_prefix(&trust, Some(&older), &newer, &proof, &prefix);
        // With the audit path, a fork is always proved.
        assert!(
            !forked
                || verdict
                    .as_ref()
                    .err()
                    .and_then(|e| e.equivocation())
                    .is_some(),
            "an unproved fork: {verdict:?}"
        );
    }
    match &verdict {
        Ok(_) => assert!(!forked, "a fork was accepted"),
        Err(e) => {
            if let Some(split) = e.equivocation() {
                assert!(forked, "an honest log was accused");
                let back = Equivocation::decode(&split.encode()).expect("its encoding decodes");
                assert!(back.verify().is_ok(), "a split view that does not verify");
            }
        }
    }
}

fn run<H: LogHasher>(h: &H, input: &Input) {
    match input {
        Input::Inclusion {
            index,
            size,
            leaf_hash,
            proof,
            root,
            ..
        } => inclusion(h, *index, *size, leaf_hash, proof, root),
        Input::InclusionShaped {
            index,
            size,
            leaf_hash,
            pool,
            other_leaf,
            ..
        } => inclusion_shaped(h, *index, *size, *leaf_hash, pool, *other_leaf),
        Input::Consistency {
            size1,
            size2,
            proof,
            root1,
            root2,
            ..
        } => consistency(h, *size1, *size2, proof, root1, root2),
        Input::ConsistencyShaped {
            size1,
            size2,
            pool,
            root1_seed,
            ..
        } => consistency_shaped(h, *size1, *size2, pool, *root1_seed),
        // The succession rule's log hashes with BLAKE3 whatever `h` is.
        Input::Succession {
            held,
            grow,
            fork_at,
            proof,
            flip,
        } => check_succession(*held, *grow, *fork_at, proof, *flip),
    }
}

fuzz_target!(|input: Input| {
    let sha256 = match &input {
        Input::Inclusion { sha256, .. }
        | Input::InclusionShaped { sha256, .. }
        | Input::Consistency { sha256, .. }
        | Input::ConsistencyShaped { sha256, .. } => *sha256,
        Input::Succession { .. } => false,
    };
    if sha256 {
        run(&Sha256Hasher, &input);
    } else {
        run(&Blake3Hasher, &input);
    }
});
