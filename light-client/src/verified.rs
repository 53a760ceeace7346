//! What verification makes beyond proto's [`herald_proto::inclusion::VerifiedInclusion`] and
//! [`herald_proto::inclusion::VerifiedEntry`]: two roots of a log proved against one signed
//! checkpoint. The fields are crate-private, so outside code cannot make one up; only
//! [`crate::TrustedLog`] constructs it.

use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::Hash;
use herald_proto::wire::pb;

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
