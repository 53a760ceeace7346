//! The log's on-disk layout: one sled tree with prefixed keys for what changes, and append-only
//! sealed files for what never does.
//!
//! Public so that benchmarks (and any offline tool) write and read exactly the bytes the node does.
//!
//! In sled (tree [`TREE_NAME`]):
//!
//! | key | value |
//! |---|---|
//! | `b` ‖ u64 BE N | the right-edge bundle N: u64 BE length of its entries so far in the sealed `bundles` file (layout 2: the entries themselves) |
//! | `t` ‖ u8 L ‖ u64 BE N | the partial right-edge tile (L, N): its level-8L hashes so far, 32 bytes each |
//! | `m` ‖ name | meta: `format`, `origin`, `hash`, `size`, `root`, `checkpoint`, `time`, `cosigned` |
//! | `i` ‖ u8 len ‖ name ‖ key | secondary index `name`: one value per key |
//! | `i` ‖ u8 len ‖ name ‖ u16 BE len ‖ key ‖ u64 BE index | list index `name`: every leaf under key, empty value |
//!
//! In [`SEALED_DIR`] (see `store::sealed`): every entry (full bundles, then the right-edge
//! bundle's entries as they come), full tiles and the leaf-hash buckets of completed epochs, at
//! positions computed from their numbers, and the high-water mark (`store::high_water`). The
//! round that fills a bundle or tile seals it there and removes its sled key, so sled holds O(1)
//! small values for the log whatever its size: sled 0.34 replays all it wrote since it was last
//! opened when it is opened again, so anything kept in it for good would make restarts grow
//! with the log; and no value is large enough to become a sled blob file, which a crash would
//! leave behind.
//!
//! Bundles and tiles follow C2SP tlog-tiles numbering. Grouping matters: sled writes ~1.4M
//! entries/s as bundles and tiles, ~33k/s with one key per entry (STACK.md), so nothing on the
//! append path is one key per entry.
//!
//! The secondary-index name is length-prefixed (unlike a bare `i ‖ name ‖ key`) so that no
//! index's keys can be read as another index's whose name is a prefix of it.

use herald_proto::merkle::HASH_LEN;

/// The sled tree that holds the log.
pub const TREE_NAME: &str = crate::db::Tree::Log.name();

/// The directory, inside the data directory, of the sealed files.
pub const SEALED_DIR: &str = "sealed";

/// The layout version written at creation and checked at open. Version 2 kept the partial
/// right-edge bundle itself in sled (opening upgrades it: `store::upgrade`); version 1 kept
/// full bundles, full tiles and leaf-hash buckets in sled (refused).
pub const FORMAT_VERSION: u32 = 3;

/// The older layout version that opening upgrades to [`FORMAT_VERSION`].
pub const UPGRADABLE_FORMAT: u32 = 2;

/// Entries per bundle (C2SP tlog-tiles).
pub const BUNDLE_WIDTH: u64 = 256;

/// Hashes per tile (C2SP tlog-tiles).
pub const TILE_WIDTH: u64 = 256;

/// Tree levels one tile level spans: tile level L holds the level-8L hashes.
pub const TILE_HEIGHT: u8 = 8;

/// Bytes of a full tile.
pub const FULL_TILE_BYTES: usize = TILE_WIDTH as usize * HASH_LEN;

/// Leaves per leaf-hash-index epoch (256 level-0 tiles).
pub const EPOCH_LEAVES: u64 = 65536;

/// Longest entry: the bundle format writes each length as a u16.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// Most leaves the log can hold: epochs are numbered with a u32 in the index keys.
pub const MAX_LOG_SIZE: u64 = (u32::MAX as u64 + 1) * EPOCH_LEAVES;

/// Bytes of one leaf-hash-index record: the 8 bytes after the bucket byte, and a u16 BE offset.
pub const BUCKET_RECORD_BYTES: usize = 10;

/// Longest secondary-index name.
pub const MAX_INDEX_NAME_BYTES: usize = 64;

/// Longest secondary-index key.
pub const MAX_INDEX_KEY_BYTES: usize = 1024;

/// Longest secondary-index value.
pub const MAX_INDEX_VALUE_BYTES: usize = 4096;

const BUNDLE_PREFIX: u8 = b'b';
const TILE_PREFIX: u8 = b't';
const INDEX_PREFIX: u8 = b'i';

/// Meta: the layout version, u32 BE.
pub const META_FORMAT: &[u8] = b"mformat";
/// Meta: the log's origin (`<domain>/herald`), UTF-8.
pub const META_ORIGIN: &[u8] = b"morigin";
/// Meta: the hash algorithm, `blake3` or `sha256`.
pub const META_HASH: &[u8] = b"mhash";
/// Meta: the tree size of the latest checkpoint, u64 BE.
pub const META_SIZE: &[u8] = b"msize";
/// Meta: the tree root at that size, 32 bytes.
pub const META_ROOT: &[u8] = b"mroot";
/// Meta: the latest signed checkpoint note.
pub const META_CHECKPOINT: &[u8] = b"mcheckpoint";
/// Meta: the latest checkpoint a quorum of this log's witnesses cosigned (signed note with its
/// cosignature lines), written by the cosigner, never by a round.
pub const META_COSIGNED: &[u8] = b"mcosigned";
/// Meta: wall-clock time the latest checkpoint was signed, u64 BE milliseconds since the Unix
/// epoch; the sequencer never signs at an earlier time.
pub const META_TIME: &[u8] = b"mtime";

/// Key of entry bundle `n`.
pub fn bundle_key(n: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = BUNDLE_PREFIX;
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

/// Key of tile (`level`, `n`); `level` is the tile level L (tree level 8L).
pub fn tile_key(level: u8, n: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = TILE_PREFIX;
    k[1] = level;
    k[2..].copy_from_slice(&n.to_be_bytes());
    k
}

/// Key of `key` in secondary index `name`. `name` is at most [`MAX_INDEX_NAME_BYTES`] (checked
/// by the callers that take names from code).
pub fn index_key(name: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + name.len() + key.len());
    k.push(INDEX_PREFIX);
    // Names are at most 64 bytes, so the length fits in a byte.
    k.push(name.len().min(usize::from(u8::MAX)) as u8);
    k.extend_from_slice(name.as_bytes());
    k.extend_from_slice(key);
    k
}

/// The key, within a list index, of leaf `index` under `key`: u16 BE length of `key` ‖ `key` ‖
/// u64 BE `index`. The length keeps one key's leaves apart from a longer key's that it
/// prefixes; big-endian indexes make a key's leaves sort in log order. `key` is at most
/// [`MAX_INDEX_KEY_BYTES`] (checked by the sequencer).
pub fn leaf_list_key(key: &[u8], index: u64) -> Vec<u8> {
    let mut k = leaf_list_prefix(key);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// The part of [`leaf_list_key`] shared by every leaf under `key`.
pub fn leaf_list_prefix(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + key.len() + 8);
    // Keys are at most 1024 bytes, so the length fits in a u16.
    k.extend_from_slice(&(key.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// Appends one entry to a bundle under construction: u16 BE length, then the bytes.
/// Callers check `entry.len() <= MAX_ENTRY_BYTES`.
pub fn push_bundle_entry(bundle: &mut Vec<u8>, entry: &[u8]) {
    let len = u16::try_from(entry.len()).unwrap_or(u16::MAX);
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(&entry[..usize::from(len)]);
}

/// A bundle (from disk) that does not parse (C2SP's entry-bundle format is proto's).
pub use herald_proto::tlog_tiles::BadBundle;

/// The first `count` entries of a bundle, as slices of it; bytes after them are left (the edge
/// bundle grows past the published size). Never reads past its end.
pub fn bundle_entries(bundle: &[u8], count: usize) -> Result<Vec<&[u8]>, BadBundle> {
    herald_proto::tlog_tiles::bundle_prefix(bundle, count).map(|(entries, _)| entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_number_within_their_prefix() {
        assert!(bundle_key(255) < bundle_key(256));
        assert!(tile_key(0, u64::MAX) < tile_key(1, 0));
        // Prefixes never collide with meta keys.
        let prefixes = [bundle_key(0)[0], tile_key(0, 0)[0]];
        assert!(!prefixes.contains(&META_SIZE[0]));
        assert_eq!(index_key("req", b"k")[0], b'i');
    }

    #[test]
    fn index_names_that_prefix_each_other_do_not_share_keys() {
        assert_ne!(index_key("req", b"_hashX"), index_key("req_hash", b"X"));
    }

    #[test]
    fn list_keys_sort_by_index_and_keep_keys_apart() {
        assert!(leaf_list_key(b"k", 255) < leaf_list_key(b"k", 256));
        assert!(leaf_list_key(b"k", u64::MAX) < leaf_list_key(b"l", 0));
        // "k" and "k\0..." never share a prefix: the length comes first.
        let longer = leaf_list_key(&[b'k', 0, 0, 0, 0, 0, 0, 0, 0], 0);
        assert!(!longer.starts_with(&leaf_list_prefix(b"k")));
        assert!(leaf_list_key(b"k", 7).starts_with(&leaf_list_prefix(b"k")));
    }

    #[test]
    fn bundles_round_trip_and_refuse_truncation() {
        let mut b = Vec::new();
        let entries: Vec<Vec<u8>> = vec![vec![], vec![1], vec![7; 300], vec![9; MAX_ENTRY_BYTES]];
        for e in &entries {
            push_bundle_entry(&mut b, e);
        }
        let got = bundle_entries(&b, entries.len()).unwrap();
        assert_eq!(got, entries.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert_eq!(bundle_entries(&b, 2).unwrap().len(), 2);
        assert_eq!(
            bundle_entries(&b, 5),
            Err(BadBundle { entry: 4 }),
            "asking past the last entry"
        );
        assert_eq!(
            bundle_entries(&b[..b.len() - 1], 4),
            Err(BadBundle { entry: 3 })
        );
        assert_eq!(bundle_entries(&[0x00], 1), Err(BadBundle { entry: 0 }));
    }

    #[test]
    fn max_log_size_is_whole_epochs_numbered_by_u32() {
        assert_eq!(MAX_LOG_SIZE, 1u64 << 48);
        assert_eq!((MAX_LOG_SIZE - 1) / EPOCH_LEAVES, u64::from(u32::MAX));
    }
}
