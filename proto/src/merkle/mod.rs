//! The Merkle transparency log: hashing, tree maths, proofs and their verifiers (RFC 6962 / RFC 9162).

mod hasher;
mod verify;

pub use hasher::{
    AnyHasher, Blake3Hasher, HASH_LEN, Hash, HashAlgorithm, LEAF_PREFIX, LogHasher, NODE_PREFIX,
    Sha256Hasher, UnknownHashAlgorithm,
};
pub use verify::{
    ProofError, consistency_proof_len, consistency_proof_roots, hash_from_slice,
    inclusion_proof_len, root_from_inclusion_proof, verify_consistency, verify_inclusion,
};
