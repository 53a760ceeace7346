//! The Merkle transparency log: hashing, tree maths, proofs and their verifiers (RFC 6962 / RFC 9162).
//!
//! - [`LogHasher`]: the hash, with RFC 6962 domain separation (BLAKE3 or SHA-256).
//! - [`NodeId`] and [`HashReader`]: complete subtrees, and the storage that returns their hashes.
//! - [`CompactRange`]: the right edge the sequencer appends to in O(log n), reporting every
//!   subtree it completes so the caller can store it.
//! - [`tree_root`], [`range_root`], [`inclusion_proof`], [`consistency_proof`]: computed from
//!   O(log n) stored hashes; [`inclusion_nodes`] / [`consistency_nodes`] plan the reads first.
//! - [`verify_inclusion`], [`verify_consistency`]: RFC 9162 verifiers with typed errors.
//! - [`range_proof`], [`verify_range`]: one proof for a run of consecutive leaves (a batch),
//!   from which each leaf's audit path is rebuilt ([`ProvedRange`]).
//! - [`BatchTree`]: rs_merkle trees of one bounded batch, with RFC 6962 roots.
//! - [`MemoryHashes`]: an in-memory [`HashReader`] for tests, benchmarks and client windows.
//! - [`prefix_root`], [`prefix_range`], [`right_edge`]: a tree's prefixes read off one verified
//!   audit path (how an audit learns a log's root at an older size).

mod batch;
mod compact;
mod hasher;
mod memory;
mod node;
mod prefix;
mod proof;
mod range;
mod tree;
mod verify;

pub use batch::{
    BatchError, BatchProof, BatchTree, MAX_BATCH_LEAVES, RsMerkle, RsMerkleBlake3, RsMerkleSha256,
    batch_subtree_root,
};
pub use compact::{CompactRange, CompactRangeError};
pub use hasher::{
    AnyHasher, Blake3Hasher, HASH_LEN, Hash, HashAlgorithm, LEAF_PREFIX, LogHasher, NODE_PREFIX,
    Sha256Hasher, UnknownHashAlgorithm,
};
pub use memory::{MemoryHashes, MemoryHashesError};
pub use node::{HashReader, NodeId, range_nodes, range_size};
pub use prefix::{PrefixError, consistency_from_audit_path, prefix_range, prefix_root, right_edge};
pub use proof::{
    ProofNodes, consistency_nodes, consistency_proof, inclusion_nodes, inclusion_proof,
};
pub use range::{
    NotInRange, ProvedRange, range_proof, range_proof_len, range_proof_nodes, verify_range,
};
pub use tree::{TreeError, range_root, tree_root};
pub(crate) use verify::proof_hashes;
pub use verify::{
    ProofError, consistency_proof_len, consistency_proof_roots, hash_from_slice,
    inclusion_proof_len, root_from_inclusion_proof, verify_consistency, verify_inclusion,
};
