//! C2SP tlog-tiles (<https://c2sp.org/tlog-tiles>): the resource paths of a tiled log, which
//! tiles and entry bundles a tree of a given size has, the entry-bundle format, and node hashes
//! read back from tiles.
//!
//! The node serves these resources from its store; the light client fetches them and computes
//! its proofs from them (with [`TileHashes`] as the [`HashReader`] of proto's proof planner), so
//! both sides read paths, widths and bundles here and nowhere else. The Merkle tree is RFC 6962's
//! over the log's hash (SHA-256 as C2SP defines it, or BLAKE3 where a Herald log is configured
//! so: the tile layout does not depend on the hash).

use std::collections::HashMap;
use std::fmt;

use crate::merkle::{HASH_LEN, Hash, HashReader, LogHasher, NodeId};

/// Hashes in a full tile, entries in a full bundle.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels one tile level spans: tile level L holds the tree's level-8L hashes.
pub const TILE_HEIGHT: u8 = 8;
/// Bytes of a full tile.
pub const FULL_TILE_BYTES: usize = TILE_WIDTH as usize * HASH_LEN;
/// The highest tile level a path may name.
pub const MAX_TILE_LEVEL: u8 = 63;
/// Three-digit groups a `u64` index needs at most (20 digits).
const MAX_INDEX_GROUPS: usize = 7;

/// A tile or entry bundle: its level (`None` for an entry bundle), index and width (1 ..= 256;
/// 256 is a full one, fewer a partial one, `.p/<W>` in its path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// `Some(L)` for the Merkle tile `tile/<L>/...`, `None` for `tile/entries/...`.
    pub level: Option<u8>,
    /// `<N>`: the tile's index within its level.
    pub index: u64,
    /// `<W>`: its width.
    pub width: u16,
}

/// Why a path is not a tile path (an HTTP 400, never a 404).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TilePathError {
    /// It does not start with `tile/`, or has too few or too many elements.
    #[error("not a tile path")]
    NotATile,
    /// `<L>` is not a decimal from 0 to 63 without leading zeroes.
    #[error("bad tile level")]
    BadLevel,
    /// `<N>` is not 3-digit groups, all but the last prefixed `x`, within a u64.
    #[error("bad tile index")]
    BadIndex,
    /// `<W>` is not a decimal from 1 to 255 without leading zeroes.
    #[error("bad partial width")]
    BadWidth,
    /// The index has a leading `x000` group: every index has exactly one path.
    #[error("tile index not in its shortest form")]
    NotCanonical,
}

impl TileId {
    /// The Merkle tile (`level`, `index`), `width` hashes wide.
    pub const fn hashes(level: u8, index: u64, width: u16) -> Self {
        TileId {
            level: Some(level),
            index,
            width,
        }
    }

    /// Entry bundle `index`, `width` entries wide.
    pub const fn entries(index: u64, width: u16) -> Self {
        TileId {
            level: None,
            index,
            width,
        }
    }

    /// Whether it is a partial tile or bundle.
    pub fn is_partial(&self) -> bool {
        u64::from(self.width) < TILE_WIDTH
    }

    /// Parses a path relative to the log's prefix: `tile/<L>/<N>[.p/<W>]` or
    /// `tile/entries/<N>[.p/<W>]`, in its one canonical form.
    pub fn parse(path: &str) -> Result<Self, TilePathError> {
        let rest = path.strip_prefix("tile/").ok_or(TilePathError::NotATile)?;
        let (level, rest) = rest.split_once('/').ok_or(TilePathError::NotATile)?;
        let level = match level {
            "entries" => None,
            l => Some(
                parse_decimal(l, u64::from(MAX_TILE_LEVEL)).ok_or(TilePathError::BadLevel)? as u8,
            ),
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index, width)) => {
                let w = parse_decimal(width, TILE_WIDTH - 1)
                    .filter(|&w| w > 0)
                    .ok_or(TilePathError::BadWidth)?;
                (index, w as u16)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let groups: Vec<&str> = index_part.split('/').collect();
        if groups.is_empty() || groups.len() > MAX_INDEX_GROUPS {
            return Err(TilePathError::BadIndex);
        }
        let mut index: u64 = 0;
        for (i, group) in groups.iter().enumerate() {
            let digits = if i + 1 < groups.len() {
                group.strip_prefix('x').ok_or(TilePathError::BadIndex)?
            } else {
                group
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(TilePathError::BadIndex);
            }
            let value: u64 = digits.parse().map_err(|_| TilePathError::BadIndex)?;
            index = index
                .checked_mul(1000)
                .and_then(|i| i.checked_add(value))
                .ok_or(TilePathError::BadIndex)?;
        }
        let id = TileId {
            level,
            index,
            width,
        };
        if id.path() != path {
            return Err(TilePathError::NotCanonical);
        }
        Ok(id)
    }

    /// Its path relative to the log's prefix.
    pub fn path(&self) -> String {
        self.to_string()
    }

    /// Whether a log of tree size `size` has this resource: a full one once it is complete, a
    /// partial one of width W once its first W hashes or entries are (C2SP lets a log keep
    /// serving a partial tile after the full one exists; this one serves every such prefix).
    pub fn exists_at(&self, size: u64) -> bool {
        let available = match self.level {
            None => size,
            Some(level) => level_size(size, level),
        };
        self.index
            .checked_mul(TILE_WIDTH)
            .and_then(|start| start.checked_add(u64::from(self.width)))
            .is_some_and(|end| end <= available)
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level {
            Some(level) => write!(f, "tile/{level}/{}", encode_index(self.index))?,
            None => write!(f, "tile/entries/{}", encode_index(self.index))?,
        }
        if self.is_partial() {
            write!(f, ".p/{}", self.width)?;
        }
        Ok(())
    }
}

/// `<N>` as C2SP writes it: zero-padded 3-digit groups, all but the last prefixed `x`
/// (1234067 is `x001/x234/067`).
pub fn encode_index(index: u64) -> String {
    let mut groups = vec![index % 1000];
    let mut rest = index / 1000;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i < last {
                format!("x{g:03}")
            } else {
                format!("{g:03}")
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A decimal with no leading zeroes (`0` itself allowed), at most `max`.
fn parse_decimal(text: &str, max: u64) -> Option<u64> {
    if text.is_empty()
        || text.len() > 20
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse::<u64>().ok().filter(|&v| v <= max)
}

/// How many level-8·`level` hashes a tree of `size` has: `floor(size / 256^level)`.
pub fn level_size(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    size.checked_shr(shift).unwrap_or(0)
}

/// The width of the partial tile at `level` of a tree of `size` (0: there is none), C2SP's
/// `floor(s / 256**l) mod 256`.
pub fn partial_width(size: u64, level: u8) -> u16 {
    (level_size(size, level) % TILE_WIDTH) as u16
}

/// The tile a reader of the tree of `size` fetches for node `id`: the one holding the
/// level-8L hashes under it, full if complete at `size`, else the partial one of that size.
/// `None` if the node is not complete in that tree.
pub fn tile_for_node(id: NodeId, size: u64) -> Option<TileId> {
    let covered = id.coverage()?;
    if covered.end > size {
        return None;
    }
    let level = id.level / TILE_HEIGHT;
    let first = id.index << (id.level % TILE_HEIGHT);
    let index = first / TILE_WIDTH;
    let have = level_size(size, level) - index * TILE_WIDTH;
    Some(TileId::hashes(level, index, have.min(TILE_WIDTH) as u16))
}

/// An entry bundle that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry bundle: entry {entry} runs past its end, or bytes follow the last entry")]
pub struct BadBundle {
    /// The entry (counted within the bundle) that does not fit.
    pub entry: usize,
}

/// The first `count` entries of a bundle (big-endian u16 length, then the bytes, each) and the
/// bytes they take; whatever follows is left alone (a bundle still growing). Never reads past
/// the end.
pub fn bundle_prefix(bundle: &[u8], count: usize) -> Result<(Vec<&[u8]>, usize), BadBundle> {
    let mut out = Vec::with_capacity(count.min(TILE_WIDTH as usize));
    let mut rest = bundle;
    for entry in 0..count {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or(BadBundle { entry })?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(BadBundle { entry });
        }
        let (e, tail) = tail.split_at(len);
        out.push(e);
        rest = tail;
    }
    Ok((out, bundle.len() - rest.len()))
}

/// The entries of a served bundle: exactly `width` of them and nothing after.
pub fn bundle_entries(bundle: &[u8], width: usize) -> Result<Vec<&[u8]>, BadBundle> {
    let (entries, used) = bundle_prefix(bundle, width)?;
    if used != bundle.len() {
        return Err(BadBundle { entry: width });
    }
    Ok(entries)
}

/// Hashes `hashes` (2^k consecutive aligned nodes of one level) up into their subtree's root,
/// pairing neighbours in place. Empty input gives `None`.
pub fn fold_subtree<H: LogHasher>(h: &H, hashes: &mut [Hash]) -> Option<Hash> {
    let mut width = hashes.len();
    if width == 0 || !width.is_power_of_two() {
        return None;
    }
    while width > 1 {
        for i in 0..width / 2 {
            hashes[i] = h.hash_children(&hashes[2 * i], &hashes[2 * i + 1]);
        }
        width /= 2;
    }
    Some(hashes[0])
}

/// Why [`TileHashes`] cannot give a node's hash.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileReadError {
    /// The node is not complete in the tree the tiles are of.
    #[error("node {0:?} is not complete in the tree of size {1}")]
    OutOfRange(NodeId, u64),
    /// The tile the node needs was not added.
    #[error("{0} was not fetched")]
    Missing(TileId),
}

/// The tiles of one tree size, as a [`HashReader`]: proto's proof planner asks it for nodes,
/// and it folds them from the tile hashes ([`tile_for_node`] says which tiles to add first).
#[derive(Clone, Debug)]
pub struct TileHashes<H> {
    hasher: H,
    size: u64,
    tiles: HashMap<(u8, u64), Vec<Hash>>,
}

impl<H: LogHasher> TileHashes<H> {
    /// No tiles yet, for the tree of `size`.
    pub fn new(hasher: H, size: u64) -> Self {
        TileHashes {
            hasher,
            size,
            tiles: HashMap::new(),
        }
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Adds tile `id`'s bytes; refused unless exactly `width` hashes.
    pub fn add(&mut self, id: TileId, bytes: &[u8]) -> Result<(), TileReadError> {
        let level = id.level.ok_or(TileReadError::Missing(id))?;
        if bytes.len() != usize::from(id.width) * HASH_LEN {
            return Err(TileReadError::Missing(id));
        }
        let hashes = bytes
            .chunks_exact(HASH_LEN)
            .map(|c| {
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(c);
                h
            })
            .collect();
        self.tiles.insert((level, id.index), hashes);
        Ok(())
    }

    /// Whether tile (`level`, `index`) was added.
    pub fn has(&self, level: u8, index: u64) -> bool {
        self.tiles.contains_key(&(level, index))
    }
}

impl<H: LogHasher> HashReader for TileHashes<H> {
    type Error = TileReadError;

    fn node_hash(&self, id: NodeId) -> Result<Hash, TileReadError> {
        let tile = tile_for_node(id, self.size).ok_or(TileReadError::OutOfRange(id, self.size))?;
        let level = tile.level.unwrap_or_default();
        let k = id.level % TILE_HEIGHT;
        let first = ((id.index << k) % TILE_WIDTH) as usize;
        let count = 1usize << k;
        let mut hashes = self
            .tiles
            .get(&(level, tile.index))
            .and_then(|t| t.get(first..first + count))
            .ok_or(TileReadError::Missing(tile))?
            .to_vec();
        fold_subtree(&self.hasher, &mut hashes).ok_or(TileReadError::Missing(tile))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{
        MemoryHashes, Sha256Hasher, consistency_proof, inclusion_nodes, inclusion_proof,
    };

    /// The example of C2SP tlog-tiles, "Merkle Tree" section: "index 1234067 will be encoded
    /// as `x001/x234/067`".
    #[test]
    fn c2sp_tlog_tiles_index_encoding_example() {
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
        assert_eq!(
            TileId::parse("tile/0/x001/x234/067"),
            Ok(TileId::hashes(0, 1_234_067, 256))
        );
        assert_eq!(encode_index(0), "000");
        assert_eq!(encode_index(999), "999");
        assert_eq!(encode_index(1000), "x001/000");
        assert_eq!(encode_index(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        for n in [0, 1, 255, 1000, 65_535, 1_234_067, u64::MAX] {
            for id in [TileId::hashes(3, n, 256), TileId::entries(n, 17)] {
                assert_eq!(TileId::parse(&id.path()), Ok(id), "{id}");
            }
        }
    }

    /// C2SP tlog-tiles, "Partial Tiles": "a tree of size 70,000 will be represented by 273 full
    /// level 0 tiles, one partial level 0 tile of width 112, one full level 1 tile, one partial
    /// level 1 tile of width 17, and one partial level 2 tile of width 1. Note that a tree of
    /// size 256 will be represented by a full level 0 tile and a partial level 1 tile of width
    /// 1."
    #[test]
    fn c2sp_tlog_tiles_partial_tile_examples() {
        let size = 70_000;
        assert!(TileId::hashes(0, 272, 256).exists_at(size));
        assert!(!TileId::hashes(0, 273, 256).exists_at(size));
        assert_eq!(partial_width(size, 0), 112);
        assert!(TileId::hashes(0, 273, 112).exists_at(size));
        assert!(TileId::hashes(1, 0, 256).exists_at(size));
        assert!(!TileId::hashes(1, 1, 256).exists_at(size));
        assert_eq!(partial_width(size, 1), 17);
        assert!(TileId::hashes(1, 1, 17).exists_at(size));
        assert_eq!(partial_width(size, 2), 1);
        assert!(TileId::hashes(2, 0, 1).exists_at(size));
        assert!(!TileId::hashes(2, 0, 2).exists_at(size));
        assert_eq!(partial_width(size, 3), 0);
        assert!(!TileId::hashes(3, 0, 1).exists_at(size));
        assert_eq!((partial_width(256, 0), partial_width(256, 1)), (0, 1));
        assert!(TileId::hashes(0, 0, 256).exists_at(256));
        assert!(TileId::hashes(1, 0, 1).exists_at(256));
        assert!(TileId::entries(0, 256).exists_at(256));
        assert!(!TileId::entries(1, 1).exists_at(256));
        assert!(!TileId::hashes(63, u64::MAX, 256).exists_at(u64::MAX));
    }

    #[test]
    fn malformed_paths_are_refused_by_kind() {
        use TilePathError::*;
        for (path, want) in [
            ("tiles/0/000", NotATile),
            ("tile/0", NotATile),
            ("tile/00/000", BadLevel),
            ("tile/64/000", BadLevel),
            ("tile/-1/000", BadLevel),
            ("tile/a/000", BadLevel),
            ("tile/0/00", BadIndex),
            ("tile/0/0000", BadIndex),
            ("tile/0/x001", BadIndex),
            ("tile/0/001/002", BadIndex),
            ("tile/0/x1/002", BadIndex),
            ("tile/0/+01", BadIndex),
            ("tile/0/x018/x446/x744/x073/x709/x551/616", BadIndex),
            ("tile/0/x001/x001/x001/x001/x001/x001/x001/001", BadIndex),
            ("tile/0/000.p/0", BadWidth),
            ("tile/0/000.p/256", BadWidth),
            ("tile/0/000.p/012", BadWidth),
            ("tile/0/000.p/", BadWidth),
            ("tile/0/000.p/1/2", BadWidth),
            ("tile/entries/000.p/x", BadWidth),
            ("tile/0/x000/001", NotCanonical),
            ("tile/entries/x000/x000/001", NotCanonical),
        ] {
            assert_eq!(TileId::parse(path), Err(want), "{path}");
        }
    }

    #[test]
    fn bundles_parse_exactly() {
        let mut b = Vec::new();
        for e in [&b""[..], b"a", &[7u8; 300]] {
            b.extend_from_slice(&(e.len() as u16).to_be_bytes());
            b.extend_from_slice(e);
        }
        assert_eq!(bundle_entries(&b, 3).unwrap()[1], b"a");
        assert_eq!(bundle_entries(&b, 2), Err(BadBundle { entry: 2 }));
        assert_eq!(bundle_entries(&b, 4), Err(BadBundle { entry: 3 }));
        assert_eq!(
            bundle_entries(&b[..b.len() - 1], 3),
            Err(BadBundle { entry: 2 })
        );
    }

    /// Proofs computed from tiles equal those computed from every node hash.
    #[test]
    fn proofs_from_tiles_equal_proofs_from_the_tree() {
        let h = Sha256Hasher;
        let leaves: Vec<Hash> = (0..70_000u32)
            .map(|i| h.hash_leaf(&i.to_be_bytes()))
            .collect();
        let (all, _) = MemoryHashes::from_leaf_hashes(&h, leaves.iter().copied());
        for size in [1u64, 255, 256, 257, 65_536, 70_000] {
            let mut tiles = TileHashes::new(h, size);
            for level in 0..3u8 {
                let n = level_size(size, level);
                for index in 0..n.div_ceil(TILE_WIDTH) {
                    let width = (n - index * TILE_WIDTH).min(TILE_WIDTH);
                    let bytes: Vec<u8> = (0..width)
                        .flat_map(|i| {
                            all.node_hash(NodeId::new(level * 8, index * TILE_WIDTH + i))
                                .unwrap()
                        })
                        .collect();
                    tiles
                        .add(TileId::hashes(level, index, width as u16), &bytes)
                        .unwrap();
                }
            }
            for index in [0, size / 2, size - 1] {
                assert_eq!(
                    inclusion_proof(&h, &tiles, index, size).unwrap(),
                    inclusion_proof(&h, &all, index, size).unwrap()
                );
                let plan = inclusion_nodes(index, size).unwrap();
                for id in &plan.ids {
                    assert!(tile_for_node(*id, size).is_some());
                }
            }
            for old in [1, size / 3, size - 1] {
                assert_eq!(
                    consistency_proof(&h, &tiles, old, size).unwrap(),
                    consistency_proof(&h, &all, old, size).unwrap()
                );
            }
        }
    }
}
