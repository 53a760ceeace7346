//! Finding a leaf by its hash without one sled key per leaf.
//!
//! The log is cut into epochs of 65536 leaves. When an epoch completes, the round that completes
//! it also writes 256 bucket values `x‖epoch‖b`, one per first byte `b` of the leaf hash, each a
//! sorted list of (next 8 bytes of the hash, u16 offset in the epoch). A lookup binary-searches
//! one bucket per completed epoch and confirms the full hash from the level-0 tile, so it costs
//! O(n / 65536) small reads. The current, incomplete epoch is indexed in memory
//! ([`EpochIndex`]), rebuilt at startup from its ≤ 256 level-0 tiles: bounded, whatever n is.
//!
//! When a hash occurs more than once (the same entry submitted twice), the lowest index wins.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use herald_proto::merkle::Hash;

use super::error::ReadError;
use super::layout::{BUCKET_RECORD_BYTES, EPOCH_LEAVES};

/// A `Hasher` for keys that are already uniformly random (8 bytes of a leaf hash).
#[derive(Default)]
pub(crate) struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with this; fold anything else in for completeness.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn prefix(leaf: &Hash) -> u64 {
    let mut p = [0u8; 8];
    p.copy_from_slice(&leaf[..8]);
    u64::from_be_bytes(p)
}

/// The leaves of the current epoch, in order, with a map from hash to offset.
///
/// Owned by the store's published state: it holds exactly the published leaves of the epoch.
#[derive(Clone, Debug)]
pub(crate) struct EpochIndex {
    epoch: u64,
    leaves: Vec<Hash>,
    /// First 8 bytes of the hash → lowest offset with that prefix.
    by_prefix: HashMap<u64, u16, BuildHasherDefault<PrefixHasher>>,
    /// Leaves whose prefix was taken by a different hash (about never; kept for correctness).
    collisions: Vec<(Hash, u16)>,
}

impl EpochIndex {
    /// The empty index of `epoch`.
    pub(crate) fn new(epoch: u64) -> Self {
        EpochIndex {
            epoch,
            leaves: Vec::new(),
            by_prefix: HashMap::default(),
            collisions: Vec::new(),
        }
    }

    /// The index of epoch `epoch` holding `leaves`, its leaves from its start.
    pub(crate) fn from_leaves(epoch: u64, leaves: Vec<Hash>) -> Self {
        let mut index = EpochIndex::new(epoch);
        index.by_prefix.reserve(leaves.len());
        index.leaves.reserve(leaves.len());
        for leaf in leaves {
            index.push(leaf);
        }
        index
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(crate) fn leaves(&self) -> &[Hash] {
        &self.leaves
    }

    /// Appends the next leaf of the log. After the epoch's 65536th leaf the index moves on to
    /// the next, empty epoch: the completed one is then in the bucket values, written by the
    /// same round. So the index always holds leaves `65536·epoch .. size`.
    pub(crate) fn push(&mut self, leaf: Hash) {
        self.insert_at(self.leaves.len(), &leaf);
        self.leaves.push(leaf);
        if self.leaves.len() as u64 == EPOCH_LEAVES {
            *self = EpochIndex::new(self.epoch + 1);
        }
    }

    fn insert_at(&mut self, offset: usize, leaf: &Hash) {
        // offset < 65536 by the epoch size.
        let offset = offset as u16;
        match self.by_prefix.entry(prefix(leaf)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(offset);
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                let first = self.leaves[usize::from(*o.get())];
                if first != *leaf && !self.collisions.iter().any(|(h, _)| h == leaf) {
                    self.collisions.push((*leaf, offset));
                }
            }
        }
    }

    /// The lowest offset in this epoch of a leaf with hash `leaf`.
    pub(crate) fn find(&self, leaf: &Hash) -> Option<u64> {
        let offset = *self.by_prefix.get(&prefix(leaf))?;
        if self.leaves.get(usize::from(offset)) == Some(leaf) {
            return Some(self.epoch * EPOCH_LEAVES + u64::from(offset));
        }
        self.collisions
            .iter()
            .find(|(h, _)| h == leaf)
            .map(|(_, o)| self.epoch * EPOCH_LEAVES + u64::from(*o))
    }
}

/// The 256 bucket values of a completed epoch's leaves (in leaf order).
pub(crate) fn encode_buckets(leaves: &[Hash]) -> Vec<Vec<u8>> {
    let mut records: Vec<Vec<(u64, u16)>> = vec![Vec::new(); 256];
    for (offset, leaf) in leaves.iter().enumerate() {
        let mut next = [0u8; 8];
        next.copy_from_slice(&leaf[1..9]);
        // An epoch has 65536 leaves, so the offset fits in a u16.
        records[usize::from(leaf[0])].push((u64::from_be_bytes(next), offset as u16));
    }
    records
        .into_iter()
        .map(|mut bucket| {
            bucket.sort_unstable();
            let mut value = Vec::with_capacity(bucket.len() * BUCKET_RECORD_BYTES);
            for (next, offset) in bucket {
                value.extend_from_slice(&next.to_be_bytes());
                value.extend_from_slice(&offset.to_be_bytes());
            }
            value
        })
        .collect()
}

/// The offsets in a bucket (from disk) whose record matches `leaf`'s bytes 1..9, lowest first.
/// Each still has to be confirmed against the full leaf hash.
pub(crate) fn bucket_candidates(bucket: &[u8], leaf: &Hash) -> Result<Vec<u16>, ReadError> {
    if !bucket.len().is_multiple_of(BUCKET_RECORD_BYTES) {
        return Err(ReadError::corrupt(format!(
            "leaf-hash bucket of {} bytes",
            bucket.len()
        )));
    }
    let record = |i: usize| &bucket[i * BUCKET_RECORD_BYTES..(i + 1) * BUCKET_RECORD_BYTES];
    let want = &leaf[1..9];
    let n = bucket.len() / BUCKET_RECORD_BYTES;
    // Records are sorted by (next 8 bytes, offset); find the first with our 8 bytes.
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if &record(mid)[..8] < want {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mut out = Vec::new();
    for i in lo..n {
        let r = record(i);
        if &r[..8] != want {
            break;
        }
        out.push(u16::from_be_bytes([r[8], r[9]]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u32) -> Hash {
        *blake3::hash(&i.to_be_bytes()).as_bytes()
    }

    #[test]
    fn memory_index_finds_lowest_offset_and_rolls_over() {
        let mut index = EpochIndex::new(3);
        for i in 0..100 {
            index.push(leaf(i));
        }
        index.push(leaf(7));
        assert_eq!(index.find(&leaf(7)), Some(3 * EPOCH_LEAVES + 7));
        assert_eq!(index.find(&leaf(99)), Some(3 * EPOCH_LEAVES + 99));
        assert_eq!(index.find(&leaf(100)), None);
        let rebuilt = EpochIndex::from_leaves(3, index.leaves().to_vec());
        assert_eq!(rebuilt.find(&leaf(7)), Some(3 * EPOCH_LEAVES + 7));
        for i in 101..EPOCH_LEAVES as u32 {
            index.push(leaf(i));
        }
        // The 65536th leaf completes epoch 3: the index is now epoch 4's, empty.
        assert_eq!((index.epoch(), index.leaves().len()), (4, 0));
        assert_eq!(index.find(&leaf(7)), None);
        index.push(leaf(1));
        assert_eq!(index.find(&leaf(1)), Some(4 * EPOCH_LEAVES));
    }

    #[test]
    fn memory_index_survives_prefix_collisions() {
        let mut index = EpochIndex::new(0);
        let a = [1u8; 32];
        let mut b = a;
        b[31] = 2;
        index.push(a);
        index.push(b);
        index.push(b);
        assert_eq!(index.find(&a), Some(0));
        assert_eq!(index.find(&b), Some(1));
        let mut c = a;
        c[20] = 9;
        assert_eq!(index.find(&c), None);
    }

    #[test]
    fn buckets_find_every_leaf_and_reject_bad_lengths() {
        let leaves: Vec<Hash> = (0..5000).map(leaf).collect();
        let buckets = encode_buckets(&leaves);
        assert_eq!(buckets.len(), 256);
        for (i, l) in leaves.iter().enumerate() {
            let found = bucket_candidates(&buckets[usize::from(l[0])], l).unwrap();
            assert!(found.contains(&(i as u16)), "leaf {i}");
        }
        let absent = leaf(99_999);
        let found = bucket_candidates(&buckets[usize::from(absent[0])], &absent).unwrap();
        assert!(found.iter().all(|&o| leaves[usize::from(o)] != absent));
        assert!(bucket_candidates(&[0; 11], &absent).is_err());
        assert_eq!(bucket_candidates(&[], &absent).unwrap(), Vec::<u16>::new());
    }

    #[test]
    fn duplicate_hashes_list_every_offset_lowest_first() {
        let mut leaves: Vec<Hash> = (0..10).map(leaf).collect();
        leaves.push(leaf(4));
        leaves.push(leaf(4));
        let buckets = encode_buckets(&leaves);
        let l = leaf(4);
        assert_eq!(
            bucket_candidates(&buckets[usize::from(l[0])], &l).unwrap(),
            vec![4, 10, 11]
        );
    }
}
