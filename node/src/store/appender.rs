//! The write side of the log: the right edge kept in memory, and the one batch a round writes.
//!
//! Owned by the sequencer (one writer per store). Appending a leaf touches O(1) values per tile
//! level: the entry is appended to the edge bundle in the sealed `bundles` file, the right edge
//! (`CompactRange`) reports every subtree it completes, and those at levels 8L go into the
//! partial tile of level L. Bundles and tiles are sealed (their index record or whole record
//! written to the sealed files, their sled key removed) as they fill; the partial tiles and the
//! edge bundle's length are rewritten in sled once at the end of the round (small values: sled
//! never holds entry bytes, see `sealed`). A round that completes a leaf-hash epoch also seals
//! its 256 buckets.
//!
//! A [`Round`] that is dropped without [`Round::finish`] leaves the appender ahead of the store:
//! the sequencer treats any failure after appending as fatal and reloads from disk at restart.

use herald_proto::merkle::{AnyHasher, CompactRange, Hash, LogHasher};

use super::LogHead;
use super::error::{ReadError, WriteError};
use super::layout::{
    BUNDLE_WIDTH, EPOCH_LEAVES, FULL_TILE_BYTES, TILE_HEIGHT, bundle_entries, bundle_key,
    index_key, push_bundle_entry, tile_key,
};
use super::leaf_index::encode_buckets;
use super::meta::put_head;
use super::sealed::{Counts, Sealed, SealedWrites};
use super::tiles::TileReader;

/// The writes of one sequencing round: the records it seals, then one atomic sled batch (the
/// commit point: the new size, root and checkpoint, the partial right edge, the indexes).
#[derive(Debug)]
pub struct RoundBatch {
    pub(crate) batch: sled::Batch,
    pub(crate) sealed: SealedWrites,
    size: u64,
    root: Hash,
}

impl RoundBatch {
    /// The tree size the log has once this round is applied.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree root at that size.
    pub fn root(&self) -> Hash {
        self.root
    }
}

/// The committed length of edge bundle `n` in the sealed `bundles` file, as the last round that
/// appended to it stored it in sled; `None` once it is full (or before its first entry).
pub(crate) fn edge_bundle_len(tree: &sled::Tree, n: u64) -> Result<Option<u64>, ReadError> {
    let Some(v) = tree.get(bundle_key(n))? else {
        return Ok(None);
    };
    let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| {
        ReadError::corrupt(format!(
            "edge bundle {n}'s length is {} bytes, not 8",
            v.len()
        ))
    })?;
    Ok(Some(u64::from_be_bytes(bytes)))
}

/// The first `count` entries of edge bundle `n` read back, checked against their leaf hashes
/// (`leaves[i]` is entry `i`'s): the edge bundle has no check of its own until it is sealed.
pub(crate) fn check_edge_entries(
    hasher: &AnyHasher,
    n: u64,
    bundle: &[u8],
    leaves: &[Hash],
) -> Result<usize, ReadError> {
    let entries = bundle_entries(bundle, leaves.len())
        .map_err(|e| ReadError::corrupt(format!("edge bundle {n}: {e}")))?;
    for (i, (entry, leaf)) in entries.iter().zip(leaves).enumerate() {
        if hasher.hash_leaf(entry) != *leaf {
            return Err(ReadError::corrupt(format!(
                "edge bundle {n} entry {i} does not match its leaf hash"
            )));
        }
    }
    Ok(entries.iter().map(|e| 2 + e.len()).sum())
}

/// Where rounds become durable. [`LogStore`](super::LogStore) is the implementation; tests wrap
/// it to make a write or a flush fail and check that nothing is acknowledged.
pub trait RoundWriter: Send + Sync + 'static {
    /// Writes and syncs the round's sealed records, then applies its sled batch atomically
    /// (visible, not yet durable: until then a crash leaves the log at the previous round).
    fn apply(&self, round: RoundBatch) -> Result<(), WriteError>;
    /// Makes everything applied so far durable; when it returns `Ok` a crash loses none of it.
    fn flush(&self) -> Result<(), WriteError>;
}

/// The partial right-edge tile of one tile level.
#[derive(Debug)]
struct EdgeTile {
    n: u64,
    data: Vec<u8>,
    dirty: bool,
    /// Whether sled holds it (as of the last round built): its key goes when it is sealed.
    stored: bool,
}

/// The in-memory right edge of the log, from which rounds are built.
#[derive(Debug)]
pub(crate) struct Appender {
    hasher: AnyHasher,
    range: CompactRange,
    bundle_n: u64,
    bundle_count: u64,
    /// The edge bundle's bytes so far (also in the `bundles` file, from `bundle_start`): kept to
    /// compute its check when it is sealed.
    bundle: Vec<u8>,
    /// Its length changed this round.
    bundle_dirty: bool,
    /// Whether sled holds its length (as of the last round built): the key goes when it fills.
    bundle_stored: bool,
    /// Where the edge bundle starts in `bundles`, and where the next sealed bucket goes in
    /// `buckets`.
    bundle_start: u64,
    bucket_end: u64,
    /// Index L: the partial tile of level 8L.
    tiles: Vec<EdgeTile>,
    /// The current epoch's leaf hashes, for its buckets when it completes.
    epoch_leaves: Vec<Hash>,
}

impl Appender {
    /// The right edge of the stored tree of `size` leaves: O(log n) tile reads, one bundle, and
    /// the current epoch's leaves (given by the caller, who keeps them anyway).
    pub(crate) fn load(
        tree: &sled::Tree,
        sealed: &Sealed,
        hasher: AnyHasher,
        size: u64,
        epoch_leaves: Vec<Hash>,
    ) -> Result<Self, ReadError> {
        let reader = TileReader::new(tree, sealed, hasher, size);
        let (bundle_start, bucket_end) = sealed.ends(Counts::of(size))?;
        let range = CompactRange::from_reader(&reader, size)?;

        let bundle_n = size / BUNDLE_WIDTH;
        let bundle_count = size % BUNDLE_WIDTH;
        let mut bundle = Vec::new();
        if bundle_count > 0 {
            let len = edge_bundle_len(tree, bundle_n)?.ok_or_else(|| {
                ReadError::corrupt(format!("edge bundle {bundle_n}'s length is missing"))
            })?;
            bundle = sealed.edge_bundle(bundle_n, len)?;
            // Its entries are the last `bundle_count` leaves of the epoch.
            let from = epoch_leaves.len().saturating_sub(bundle_count as usize);
            let used = check_edge_entries(&hasher, bundle_n, &bundle, &epoch_leaves[from..])?;
            if used as u64 != len || from as u64 + bundle_count != epoch_leaves.len() as u64 {
                return Err(ReadError::corrupt(format!(
                    "edge bundle {bundle_n} holds {len} bytes, its {bundle_count} entries {used}"
                )));
            }
        }

        let mut tiles = Vec::new();
        for level in 0..=(63 / TILE_HEIGHT) {
            let count = size >> (u32::from(level) * u32::from(TILE_HEIGHT));
            if count == 0 {
                break;
            }
            let (n, width) = (count / 256, (count % 256) as usize);
            let mut data = Vec::with_capacity(FULL_TILE_BYTES);
            if width > 0 {
                let stored = tree.get(tile_key(level, n))?.ok_or_else(|| {
                    ReadError::corrupt(format!("partial tile ({level}, {n}) is missing"))
                })?;
                let part = stored.get(..width * 32).ok_or_else(|| {
                    ReadError::corrupt(format!("partial tile ({level}, {n}) is too short"))
                })?;
                data.extend_from_slice(part);
            }
            tiles.push(EdgeTile {
                n,
                data,
                dirty: false,
                stored: width > 0,
            });
        }
        if epoch_leaves.len() as u64 != size % EPOCH_LEAVES {
            return Err(ReadError::corrupt(
                "current epoch's leaves do not match the size",
            ));
        }
        Ok(Appender {
            hasher,
            range,
            bundle_n,
            bundle_count,
            bundle,
            bundle_dirty: false,
            bundle_stored: bundle_count > 0,
            bundle_start,
            bucket_end,
            tiles,
            epoch_leaves,
        })
    }

    /// Starts a round: appends go into one new batch.
    pub(crate) fn round(&mut self) -> Round<'_> {
        Round {
            app: self,
            batch: sled::Batch::default(),
            sealed: SealedWrites::default(),
        }
    }
}

/// One round under construction.
pub(crate) struct Round<'a> {
    app: &'a mut Appender,
    batch: sled::Batch,
    sealed: SealedWrites,
}

impl Round<'_> {
    /// Appends one entry (at most `MAX_ENTRY_BYTES`, with the log below `MAX_LOG_SIZE`: the
    /// sequencer checks both) whose leaf hash under the log's hasher is `leaf` (computed by the
    /// submitter's task, off the sequencer's one thread). Its index is the size before the call.
    pub(crate) fn append(&mut self, entry: &[u8], leaf: Hash) {
        let app = &mut *self.app;
        debug_assert_eq!(leaf, app.hasher.hash_leaf(entry));

        let before = app.bundle.len();
        push_bundle_entry(&mut app.bundle, entry);
        self.sealed
            .bundle_bytes(app.bundle_start + before as u64, &app.bundle[before..]);
        app.bundle_count += 1;
        app.bundle_dirty = true;
        if app.bundle_count == BUNDLE_WIDTH {
            let end = app.bundle_start + app.bundle.len() as u64;
            self.sealed.seal_bundle(app.bundle_n, &app.bundle, end);
            if app.bundle_stored {
                self.batch.remove(&bundle_key(app.bundle_n)[..]);
                app.bundle_stored = false;
            }
            // Keep our buffer (and its capacity).
            app.bundle.clear();
            app.bundle_start = end;
            app.bundle_n += 1;
            app.bundle_count = 0;
            app.bundle_dirty = false;
        }

        let tiles = &mut app.tiles;
        let (batch, sealed) = (&mut self.batch, &mut self.sealed);
        app.range.append(&app.hasher, leaf, |id, hash| {
            if id.level % TILE_HEIGHT == 0 {
                push_tile_hash(tiles, batch, sealed, id.level / TILE_HEIGHT, hash);
            }
        });

        app.epoch_leaves.push(leaf);
        if app.epoch_leaves.len() as u64 == EPOCH_LEAVES {
            let epoch = (app.range.size() - 1) / EPOCH_LEAVES;
            for (b, value) in encode_buckets(&app.epoch_leaves).into_iter().enumerate() {
                // 256 buckets, numbered by a byte.
                self.sealed
                    .bucket(epoch, b as u8, &value, &mut app.bucket_end);
            }
            app.epoch_leaves.clear();
        }
    }

    /// Adds a secondary-index write to the round (same atomic batch as the entries).
    pub(crate) fn put_index(&mut self, name: &str, key: &[u8], value: &[u8]) {
        self.batch.insert(index_key(name, key), value);
    }

    /// The tree size after the appends so far.
    pub(crate) fn size(&self) -> u64 {
        self.app.range.size()
    }

    /// The root of the tree after the appends so far.
    pub(crate) fn root(&self) -> Hash {
        self.app.range.root(&self.app.hasher)
    }

    /// Adds the partial bundle and tiles and the new head to the batch.
    pub(crate) fn finish(mut self, head: &LogHead) -> RoundBatch {
        let app = &mut *self.app;
        if app.bundle_dirty {
            self.batch.insert(
                &bundle_key(app.bundle_n)[..],
                &(app.bundle.len() as u64).to_be_bytes()[..],
            );
            app.bundle_dirty = false;
            app.bundle_stored = true;
        }
        for (level, tile) in app.tiles.iter_mut().enumerate() {
            if tile.dirty {
                // At most 8 tile levels (u64 tree), so the level fits in a u8.
                self.batch
                    .insert(&tile_key(level as u8, tile.n)[..], tile.data.as_slice());
                tile.dirty = false;
                tile.stored = true;
            }
        }
        put_head(&mut self.batch, head);
        RoundBatch {
            batch: self.batch,
            sealed: self.sealed,
            size: head.size,
            root: head.root,
        }
    }
}

/// Adds a level-8L hash to the partial tile of level L; a tile that fills is sealed.
fn push_tile_hash(
    tiles: &mut Vec<EdgeTile>,
    batch: &mut sled::Batch,
    sealed: &mut SealedWrites,
    level: u8,
    hash: &Hash,
) {
    let l = usize::from(level);
    while tiles.len() <= l {
        // A level's first node is node 0: the tree just reached 2^(8L) leaves.
        tiles.push(EdgeTile {
            n: 0,
            data: Vec::with_capacity(FULL_TILE_BYTES),
            dirty: false,
            stored: false,
        });
    }
    let tile = &mut tiles[l];
    tile.data.extend_from_slice(hash);
    tile.dirty = true;
    if tile.data.len() == FULL_TILE_BYTES {
        sealed.tile(level, tile.n, &tile.data);
        if tile.stored {
            batch.remove(&tile_key(level, tile.n)[..]);
            tile.stored = false;
        }
        tile.data.clear();
        tile.n += 1;
        tile.dirty = false;
    }
}
