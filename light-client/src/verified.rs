//! What verification makes: facts about a log that hold because a proof verified against a
//! signed checkpoint. The fields are crate-private, so outside code cannot make one up; only
//! [`crate::LogIdentity`]'s checks and [`crate::TrustedLog`] construct them.

use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::Hash;
use herald_proto::wire::pb;

/// `leaf_hash` is leaf `leaf_index` of the tree of `checkpoint`; made only by
/// [`crate::LogIdentity::verify_inclusion`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedInclusion {
    pub(crate) leaf_index: u64,
    pub(crate) leaf_hash: Hash,
    pub(crate) checkpoint: VerifiedCheckpoint,
    pub(crate) proof: pb::InclusionProof,
}

impl VerifiedInclusion {
    /// The leaf's index.
    pub fn leaf_index(&self) -> u64 {
        self.leaf_index
    }

    /// The leaf's Merkle hash under the log's algorithm.
    pub fn leaf_hash(&self) -> &Hash {
        &self.leaf_hash
    }

    /// The signed checkpoint the leaf is proved in.
    pub fn checkpoint(&self) -> &VerifiedCheckpoint {
        &self.checkpoint
    }

    /// The audit path (for re-checking offline and for evidence).
    pub fn proof(&self) -> &pb::InclusionProof {
        &self.proof
    }
}

/// An entry's bytes, proved to be the leaf at its index under a signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEntry {
    pub(crate) entry: Vec<u8>,
    pub(crate) inclusion: VerifiedInclusion,
}

impl VerifiedEntry {
    /// The entry exactly as stored in the log (an encoded `LogEntry`).
    pub fn entry(&self) -> &[u8] {
        &self.entry
    }

    /// Its index in the log.
    pub fn index(&self) -> u64 {
        self.inclusion.leaf_index
    }

    /// The inclusion of its leaf hash.
    pub fn inclusion(&self) -> &VerifiedInclusion {
        &self.inclusion
    }

    /// The entry decoded and validated. Fails for a kind this version does not know, which a
    /// verified leaf may still be (the log is older or newer than this client).
    pub fn log_entry(&self) -> Result<pb::LogEntry, herald_proto::wire::WireError> {
        herald_proto::wire::decode_valid(&self.entry)
    }
}

/// Two roots of the log, both proved against a signed checkpoint, and the consistency proof
/// between them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedConsistency {
    pub(crate) anchor: VerifiedCheckpoint,
    pub(crate) size1: u64,
    pub(crate) root1: Hash,
    pub(crate) size2: u64,
    pub(crate) root2: Hash,
    pub(crate) proof: pb::ConsistencyProof,
}

impl VerifiedConsistency {
    /// The signed checkpoint both roots are proved against (the latest trusted one).
    pub fn anchor(&self) -> &VerifiedCheckpoint {
        &self.anchor
    }

    /// The older tree: `(size, root)`.
    pub fn older(&self) -> (u64, &Hash) {
        (self.size1, &self.root1)
    }

    /// The newer tree: `(size, root)`.
    pub fn newer(&self) -> (u64, &Hash) {
        (self.size2, &self.root2)
    }

    /// The consistency proof from the older to the newer tree (empty for equal sizes).
    pub fn proof(&self) -> &pb::ConsistencyProof {
        &self.proof
    }
}
