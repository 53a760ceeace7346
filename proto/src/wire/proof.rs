//! Between the wire's proof messages and the verifiers of [`crate::merkle`].
//!
//! The verifiers take their hashes as byte slices and check every length themselves, so a proof
//! message can be verified straight after decoding; [`super::Validate`] only bounds it first.
//!
//! A proof message's hashes are `bytes::Bytes` (proto/build.rs): [`hash_list`] puts all of
//! them in one buffer, and a message decoded from a `Bytes` frame ([`super::decode_valid_bytes`])
//! holds slices of the frame: no allocation per hash on either side.

use bytes::Bytes;

use super::WireError;
use super::pb;
use crate::merkle::{
    HASH_LEN, Hash, HashAlgorithm, LogHasher, ProofError, root_from_inclusion_proof,
    verify_consistency, verify_inclusion,
};

/// `hashes` as the wire's list: slices of one buffer holding them all (two allocations and the
/// list's, whatever their number; none for no hashes).
pub fn hash_list(hashes: &[Hash]) -> Vec<Bytes> {
    if hashes.is_empty() {
        return Vec::new();
    }
    let all = Bytes::copy_from_slice(hashes.as_flattened());
    all.chunks_exact(HASH_LEN)
        .map(|hash| all.slice_ref(hash))
        .collect()
}

impl pb::InclusionProof {
    /// The message for the audit path `hashes` of leaf `leaf_index` in a tree of `tree_size`.
    pub fn new(leaf_index: u64, tree_size: u64, hashes: &[Hash]) -> Self {
        Self {
            leaf_index,
            tree_size,
            hashes: hash_list(hashes),
        }
    }

    /// The root this proof yields for `leaf_hash` ([`root_from_inclusion_proof`]).
    pub fn root<H: LogHasher>(&self, h: &H, leaf_hash: &[u8]) -> Result<Hash, ProofError> {
        root_from_inclusion_proof(h, self.leaf_index, self.tree_size, leaf_hash, &self.hashes)
    }

    /// Checks that `leaf_hash` is leaf `leaf_index` of the tree of `tree_size` whose root is
    /// `root` ([`verify_inclusion`]).
    pub fn verify<H: LogHasher>(
        &self,
        h: &H,
        leaf_hash: &[u8],
        root: &[u8],
    ) -> Result<(), ProofError> {
        verify_inclusion(
            h,
            self.leaf_index,
            self.tree_size,
            leaf_hash,
            &self.hashes,
            root,
        )
    }
}

impl pb::ConsistencyProof {
    /// The message for the consistency proof `hashes` from `size1` to `size2`.
    pub fn new(size1: u64, size2: u64, hashes: &[Hash]) -> Self {
        Self {
            size1,
            size2,
            hashes: hash_list(hashes),
        }
    }

    /// Checks that the tree of `size2` with `root2` extends the tree of `size1` with `root1`
    /// ([`verify_consistency`]).
    pub fn verify<H: LogHasher>(
        &self,
        h: &H,
        root1: &[u8],
        root2: &[u8],
    ) -> Result<(), ProofError> {
        verify_consistency(h, self.size1, self.size2, &self.hashes, root1, root2)
    }
}

impl From<HashAlgorithm> for pb::HashAlgorithm {
    fn from(algorithm: HashAlgorithm) -> Self {
        match algorithm {
            HashAlgorithm::Blake3 => pb::HashAlgorithm::Blake3,
            HashAlgorithm::Sha256 => pb::HashAlgorithm::Sha256,
        }
    }
}

impl TryFrom<pb::HashAlgorithm> for HashAlgorithm {
    type Error = WireError;

    /// `UNSPECIFIED` is no algorithm.
    fn try_from(algorithm: pb::HashAlgorithm) -> Result<Self, WireError> {
        match algorithm {
            pb::HashAlgorithm::Blake3 => Ok(HashAlgorithm::Blake3),
            pb::HashAlgorithm::Sha256 => Ok(HashAlgorithm::Sha256),
            pb::HashAlgorithm::Unspecified => Err(WireError::UnknownEnumValue {
                field: "HashAlgorithm",
                value: pb::HashAlgorithm::Unspecified as i32,
            }),
        }
    }
}

impl pb::Equivocation {
    /// The log's hash algorithm, or [`WireError::UnknownEnumValue`] for `UNSPECIFIED` or a value
    /// this version does not know (prost keeps enums as open `i32`s).
    pub fn algorithm(&self) -> Result<HashAlgorithm, WireError> {
        pb::HashAlgorithm::try_from(self.hash_algorithm)
            .map_err(|_| WireError::UnknownEnumValue {
                field: "Equivocation.hash_algorithm",
                value: self.hash_algorithm,
            })
            .and_then(HashAlgorithm::try_from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{Blake3Hasher, Sha256Hasher};

    /// A four-leaf tree under `h`: leaf hashes and the root.
    fn four_leaves<H: LogHasher>(h: &H) -> ([Hash; 4], Hash, Hash) {
        let leaves = [b"a", b"b", b"c", b"d"].map(|e| h.hash_leaf(e));
        let left = h.hash_children(&leaves[0], &leaves[1]);
        let right = h.hash_children(&leaves[2], &leaves[3]);
        let root3 = h.hash_children(&left, &leaves[2]);
        (leaves, h.hash_children(&left, &right), root3)
    }

    #[test]
    fn inclusion_message_verifies_and_rejects_like_the_verifier() {
        let h = Blake3Hasher;
        let (leaves, root, _) = four_leaves(&h);
        let left = h.hash_children(&leaves[0], &leaves[1]);
        let proof = pb::InclusionProof::new(2, 4, &[leaves[3], left]);
        assert_eq!(proof.verify(&h, &leaves[2], &root), Ok(()));
        assert_eq!(proof.root(&h, &leaves[2]), Ok(root));
        assert!(matches!(
            proof.verify(&h, &leaves[3], &root),
            Err(ProofError::RootMismatch { .. })
        ));
        let past_end = pb::InclusionProof {
            leaf_index: 4,
            ..proof.clone()
        };
        assert_eq!(
            past_end.verify(&h, &leaves[2], &root),
            Err(ProofError::IndexOutOfRange { index: 4, size: 4 })
        );
    }

    #[test]
    fn consistency_message_verifies_and_rejects_like_the_verifier() {
        let h = Sha256Hasher;
        let (leaves, root4, root3) = four_leaves(&h);
        let left = h.hash_children(&leaves[0], &leaves[1]);
        // RFC 9162 proof from 3 to 4: leaf 2, leaf 3, then the left pair.
        let proof = pb::ConsistencyProof::new(3, 4, &[leaves[2], leaves[3], left]);
        assert_eq!(proof.verify(&h, &root3, &root4), Ok(()));
        assert!(matches!(
            proof.verify(&h, &root4, &root4),
            Err(ProofError::RootMismatch { .. })
        ));
        let backwards = pb::ConsistencyProof::new(4, 3, &[]);
        assert_eq!(
            backwards.verify(&h, &root4, &root3),
            Err(ProofError::SizesOutOfOrder { size1: 4, size2: 3 })
        );
    }

    #[test]
    fn a_hash_list_is_one_buffer_and_encodes_as_one_vector_per_hash_did() {
        use prost::Message as _;
        let hashes: Vec<Hash> = (0..5u8).map(|i| [i; 32]).collect();
        let list = hash_list(&hashes);
        assert!(hash_list(&[]).is_empty());
        // Slices of one buffer, back to back.
        for pair in list.windows(2) {
            assert_eq!(pair[0].as_ptr().wrapping_add(HASH_LEN), pair[1].as_ptr());
        }
        // The wire is unchanged: the same bytes as the hashes copied one by one.
        let sliced = pb::InclusionProof::new(3, 20, &hashes).encode_to_vec();
        let mut copied = Vec::new();
        prost::encoding::uint64::encode(1, &3, &mut copied);
        prost::encoding::uint64::encode(2, &20, &mut copied);
        let each: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_vec()).collect();
        prost::encoding::bytes::encode_repeated(3, &each, &mut copied);
        assert_eq!(sliced, copied);
        // Decoded from a `Bytes` frame: the same message, its hashes slices of the frame.
        let frame = bytes::Bytes::from(sliced);
        let decoded: pb::InclusionProof = crate::wire::decode_valid_bytes(frame.clone()).unwrap();
        assert_eq!(decoded, pb::InclusionProof::new(3, 20, &hashes));
        let range = frame.as_ptr_range();
        assert!(decoded.hashes.iter().all(|h| range.contains(&h.as_ptr())));
    }

    #[test]
    fn hash_algorithm_round_trips_and_unspecified_is_refused() {
        for a in [HashAlgorithm::Blake3, HashAlgorithm::Sha256] {
            assert_eq!(HashAlgorithm::try_from(pb::HashAlgorithm::from(a)), Ok(a));
        }
        let mut e = pb::Equivocation::default();
        assert!(e.algorithm().is_err());
        e.hash_algorithm = 77;
        assert_eq!(
            e.algorithm(),
            Err(WireError::UnknownEnumValue {
                field: "Equivocation.hash_algorithm",
                value: 77
            })
        );
        e.hash_algorithm = pb::HashAlgorithm::Sha256 as i32;
        assert_eq!(e.algorithm(), Ok(HashAlgorithm::Sha256));
    }
}
