//! The log's hash function, with RFC 6962 / RFC 9162 domain separation.
//!
//! `leaf = H(0x00 ‖ entry)`, `node = H(0x01 ‖ left ‖ right)`, empty tree = `H("")`.
//! A log's algorithm is fixed when the log is created and recorded in its metadata,
//! so callers that pick it at run time use [`AnyHasher`].

use core::fmt;
use core::str::FromStr;

use sha2::Digest as _;

/// Length in bytes of every hash Herald's logs use (both algorithms produce 32 bytes).
pub const HASH_LEN: usize = 32;

/// A Merkle tree hash: of a leaf, an interior node, or a whole tree.
pub type Hash = [u8; HASH_LEN];

/// Domain-separation prefix of a leaf hash.
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash.
pub const NODE_PREFIX: u8 = 0x01;

/// The three hashes a Merkle log is built from (transparency-dev's `LogHasher`).
pub trait LogHasher: Clone + Send + Sync + 'static {
    /// Which algorithm this is, as recorded in a log's metadata.
    fn algorithm(&self) -> HashAlgorithm;
    /// The root of the empty tree, `H("")`.
    fn empty_root(&self) -> Hash;
    /// The hash of one leaf, `H(0x00 ‖ entry)`.
    fn hash_leaf(&self, entry: &[u8]) -> Hash;
    /// The hash of an interior node, `H(0x01 ‖ left ‖ right)`.
    fn hash_children(&self, left: &Hash, right: &Hash) -> Hash;
}

/// The hash algorithms a Herald log may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlgorithm {
    /// BLAKE3: a configuration choice for a log (Herald's default before C2SP tiles).
    Blake3,
    /// SHA-256, as in RFC 6962 and C2SP; passes the public RFC 6962 vectors. The default.
    Sha256,
}

impl HashAlgorithm {
    /// The hash of a new log unless its operator chooses another: SHA-256, which C2SP's tiles,
    /// checkpoints and witnesses are defined over, and which hashes Merkle nodes faster than
    /// BLAKE3 here (SHA-NI; docs/decisions.md has the measurement). Every default in the node,
    /// the CLIs and the testnet is this one.
    pub const DEFAULT: HashAlgorithm = HashAlgorithm::Sha256;

    /// The name used in configuration and metadata.
    pub const fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Blake3 => "blake3",
            HashAlgorithm::Sha256 => "sha256",
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hash algorithm name that Herald does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hash algorithm {0:?} (expected \"blake3\" or \"sha256\")")]
pub struct UnknownHashAlgorithm(pub String);

impl FromStr for HashAlgorithm {
    type Err = UnknownHashAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "blake3" => Ok(HashAlgorithm::Blake3),
            "sha256" => Ok(HashAlgorithm::Sha256),
            other => Err(UnknownHashAlgorithm(other.chars().take(32).collect())),
        }
    }
}

/// BLAKE3 with RFC 6962 domain separation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Blake3Hasher;

impl LogHasher for Blake3Hasher {
    fn algorithm(&self) -> HashAlgorithm {
        HashAlgorithm::Blake3
    }

    fn empty_root(&self) -> Hash {
        *blake3::hash(b"").as_bytes()
    }

    fn hash_leaf(&self, entry: &[u8]) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&[LEAF_PREFIX]);
        h.update(entry);
        *h.finalize().as_bytes()
    }

    fn hash_children(&self, left: &Hash, right: &Hash) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&[NODE_PREFIX]);
        h.update(left);
        h.update(right);
        *h.finalize().as_bytes()
    }
}

/// SHA-256 with RFC 6962 domain separation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sha256Hasher;

impl LogHasher for Sha256Hasher {
    fn algorithm(&self) -> HashAlgorithm {
        HashAlgorithm::Sha256
    }

    fn empty_root(&self) -> Hash {
        sha2::Sha256::digest(b"").into()
    }

    fn hash_leaf(&self, entry: &[u8]) -> Hash {
        let mut h = sha2::Sha256::new();
        h.update([LEAF_PREFIX]);
        h.update(entry);
        h.finalize().into()
    }

    fn hash_children(&self, left: &Hash, right: &Hash) -> Hash {
        let mut h = sha2::Sha256::new();
        h.update([NODE_PREFIX]);
        h.update(left);
        h.update(right);
        h.finalize().into()
    }
}

/// A hasher chosen at run time, for logs whose algorithm is read from metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnyHasher(pub HashAlgorithm);

impl LogHasher for AnyHasher {
    fn algorithm(&self) -> HashAlgorithm {
        self.0
    }

    fn empty_root(&self) -> Hash {
        match self.0 {
            HashAlgorithm::Blake3 => Blake3Hasher.empty_root(),
            HashAlgorithm::Sha256 => Sha256Hasher.empty_root(),
        }
    }

    fn hash_leaf(&self, entry: &[u8]) -> Hash {
        match self.0 {
            HashAlgorithm::Blake3 => Blake3Hasher.hash_leaf(entry),
            HashAlgorithm::Sha256 => Sha256Hasher.hash_leaf(entry),
        }
    }

    fn hash_children(&self, left: &Hash, right: &Hash) -> Hash {
        match self.0 {
            HashAlgorithm::Blake3 => Blake3Hasher.hash_children(left, right),
            HashAlgorithm::Sha256 => Sha256Hasher.hash_children(left, right),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_matches_rfc6962_known_answers() {
        // RFC 6962 test data as used by transparency-dev/merkle: empty root and leaf of "".
        assert_eq!(
            hex(&Sha256Hasher.empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&Sha256Hasher.hash_leaf(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn leaves_and_nodes_are_domain_separated() {
        for h in [
            AnyHasher(HashAlgorithm::Blake3),
            AnyHasher(HashAlgorithm::Sha256),
        ] {
            let a = h.hash_leaf(b"a");
            let b = h.hash_leaf(b"b");
            let node = h.hash_children(&a, &b);
            let mut concat = a.to_vec();
            concat.extend_from_slice(&b);
            // A leaf whose content is the two child hashes must not collide with the node.
            assert_ne!(node, h.hash_leaf(&concat));
            assert_ne!(h.hash_leaf(b""), h.empty_root());
        }
    }

    #[test]
    fn any_hasher_agrees_with_static_hashers() {
        let a = AnyHasher(HashAlgorithm::Blake3);
        assert_eq!(a.hash_leaf(b"x"), Blake3Hasher.hash_leaf(b"x"));
        let s = AnyHasher(HashAlgorithm::Sha256);
        assert_eq!(s.hash_leaf(b"x"), Sha256Hasher.hash_leaf(b"x"));
    }

    #[test]
    fn algorithm_names_round_trip() {
        for alg in [HashAlgorithm::Blake3, HashAlgorithm::Sha256] {
            assert_eq!(alg.as_str().parse::<HashAlgorithm>(), Ok(alg));
        }
        assert!("md5".parse::<HashAlgorithm>().is_err());
    }
}
