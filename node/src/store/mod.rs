//! The log's durable storage: one sled tree of entry bundles, hash tiles, meta and indexes
//! (layout in [`layout`]).
//!
//! [`LogStore`] is a cheap, cloneable handle (`Send + Sync`): request handlers read from it on
//! blocking threads while the sequencer writes through it. Readers see the log only up to the
//! **published** head: the sequencer applies a round, flushes it, and only then publishes its
//! head, so nothing a reader returns can be lost by a crash. Every read checks its arguments
//! against that head and costs O(log n) stored hashes (a lookup by leaf hash adds one small read
//! per completed epoch of 65536 leaves). Opening reads meta, the right edge and the current
//! epoch's ≤ 256 level-0 tiles: O(log n), never all leaves. Entries, full tiles and buckets
//! live in append-only sealed files (`sealed`), so that sled's own recovery at open stays
//! O(1) too and sled never holds a value large enough to leave blob files behind.
//!
//! Opening refuses a log shorter than the largest tree it ever signed (`high_water`, kept
//! outside sled) before it cuts anything, and cuts (logged) only what a round that never
//! committed left in the sealed files.

mod appender;
mod checked_tiles;
mod edge_nodes;
mod error;
mod high_water;
pub mod layout;
mod leaf_index;
mod lists;
mod meta;
mod open;
pub mod scrub;
mod sealed;
pub mod space;
mod tiles;
mod upgrade;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use herald_proto::merkle::{
    AnyHasher, Hash, HashAlgorithm, HashReader, NodeId, TreeError, consistency_proof,
    inclusion_proof, range_proof, tree_root,
};
use herald_proto::tlog_tiles::TileId;
use herald_proto::wire::{MAX_ENTRY_PAGE_BYTES, MAX_ENTRY_PAGE_COUNT};

pub(crate) use appender::Appender;
pub use appender::{RoundBatch, RoundWriter};
pub use error::{OpenError, ReadError, WriteError};
pub use space::{DiskSpace, SpaceState};

use appender::{check_edge_entries, edge_bundle_len};
use high_water::{HighWater, Mark};
use layout::{BUNDLE_WIDTH, EPOCH_LEAVES, MAX_INDEX_NAME_BYTES};
use leaf_index::{EpochIndex, bucket_candidates};
use sealed::Sealed;
use tiles::TileReader;

/// The log's latest published tree head: what readers may see, and what the sequencer acks with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogHead {
    /// Number of entries.
    pub size: u64,
    /// The tree root at `size`.
    pub root: Hash,
    /// The signed checkpoint note for `size` and `root`; empty only for a log just created
    /// whose sequencer has not run yet.
    pub checkpoint: Vec<u8>,
    /// When the checkpoint was signed, milliseconds since the Unix epoch (0 before the first).
    pub time_ms: u64,
}

/// What readers see: the head, and the current epoch's leaf-hash index up to it.
struct Published {
    head: LogHead,
    epoch: EpochIndex,
}

/// Who writes: nobody, one sequencer, or nobody ever again (a write failed; reopen the store).
const WRITER_FREE: u8 = 0;
const WRITER_TAKEN: u8 = 1;
const WRITER_FAILED: u8 = 2;

/// How long opening a store took, split between sled and the log's own work (what a restart
/// costs; the node logs it at startup).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenTimes {
    /// Opening the sled database and the log's tree: sled's recovery.
    pub storage: Duration,
    /// Everything after: meta, sealed files, the right edge and the current epoch's leaves.
    pub log: Duration,
}

struct Inner {
    path: PathBuf,
    opened: OpenTimes,
    db: sled::Db,
    tree: sled::Tree,
    sealed: Sealed,
    origin: String,
    hasher: AnyHasher,
    /// Written only by the sequencer, after each flush.
    published: RwLock<Published>,
    writer: AtomicU8,
    /// The largest tree signed and flushed, outside sled.
    high_water: HighWater,
    /// The tree of the round applied and not yet flushed: the mark the next flush records.
    applied: Mutex<Option<Mark>>,
    /// Folded right-edge node hashes read before (`edge_nodes`), for every read of the
    /// published tree.
    edge: edge_nodes::EdgeNodes,
}

/// A Herald log stored in sled. Clone it freely; all clones share one database.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("path", &self.inner.path)
            .field("origin", &self.inner.origin)
            .field("size", &self.head().size)
            .finish_non_exhaustive()
    }
}

/// Why the sequencer may not write to a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriterRefused {
    /// Another sequencer is running on it.
    Taken,
    /// A write failed earlier; the store must be reopened.
    Failed,
}

impl LogStore {
    /// How long opening this store took.
    pub fn open_times(&self) -> OpenTimes {
        self.inner.opened
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The log's origin, `<domain>/herald`.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The log's hash algorithm.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.inner.hasher.0
    }

    /// The log's hasher.
    pub fn hasher(&self) -> AnyHasher {
        self.inner.hasher
    }

    /// The sled database, for other parts of the node to keep their own trees in (one
    /// database per data directory; its `flush` makes them durable too).
    pub fn db(&self) -> &sled::Db {
        &self.inner.db
    }

    /// The latest published head.
    pub fn head(&self) -> LogHead {
        self.published().head.clone()
    }

    fn published(&self) -> std::sync::RwLockReadGuard<'_, Published> {
        // The writer only ever replaces whole values, so a panic elsewhere leaves them usable.
        self.inner
            .published
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The published size alone ([`head`](Self::head) without copying the checkpoint note).
    pub fn head_size(&self) -> u64 {
        self.published().head.size
    }

    /// A reader of the tree up to `size`, which must be at most the published size (so the
    /// right-edge nodes it folds may be remembered: `edge_nodes`).
    fn reader(&self, size: u64) -> TileReader<'_> {
        TileReader::new(
            &self.inner.tree,
            &self.inner.sealed,
            self.inner.hasher,
            size,
        )
        .remembering(&self.inner.edge)
    }

    /// Entry bundle `n` of the log of published size `size`: sealed if full at that size,
    /// otherwise the edge bundle (its entries below `size` checked against their leaf hashes),
    /// unless a round applied since has filled and sealed it.
    fn bundle(&self, n: u64, size: u64) -> Result<Vec<u8>, ReadError> {
        if (n + 1) * BUNDLE_WIDTH <= size {
            return self.inner.sealed.bundle(n);
        }
        let Some(len) = edge_bundle_len(&self.inner.tree, n)? else {
            return self.inner.sealed.bundle(n);
        };
        let bundle = self.inner.sealed.edge_bundle(n, len)?;
        let mut leaves = Vec::new();
        let first = n * BUNDLE_WIDTH;
        self.reader(size)
            .leaf_hashes(first, size - first, &mut leaves)?;
        check_edge_entries(&self.inner.hasher, n, &bundle, &leaves)?;
        Ok(bundle)
    }

    /// Entries `start ..` as stored: at most `count` (capped at `MAX_ENTRY_PAGE_COUNT`), cut at
    /// the published size and once `MAX_ENTRY_PAGE_BYTES` are reached (at least one entry).
    pub fn entries(&self, start: u64, count: u32) -> Result<Vec<Vec<u8>>, ReadError> {
        let size = self.head_size();
        if count == 0 {
            return Err(ReadError::InvalidCount);
        }
        if start >= size {
            return Err(ReadError::OutOfRange { size });
        }
        let count = u64::from(count.min(MAX_ENTRY_PAGE_COUNT));
        let end = start.saturating_add(count).min(size);
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut bytes = 0usize;
        let mut pos = start;
        while pos < end {
            let n = pos / BUNDLE_WIDTH;
            let bundle = self.bundle(n, size)?;
            let upto = (end - n * BUNDLE_WIDTH).min(BUNDLE_WIDTH) as usize;
            let entries = layout::bundle_entries(&bundle, upto)
                .map_err(|e| ReadError::corrupt(format!("bundle {n}: {e}")))?;
            for e in &entries[(pos - n * BUNDLE_WIDTH) as usize..] {
                out.push(e.to_vec());
                bytes += e.len();
                pos += 1;
                if bytes >= MAX_ENTRY_PAGE_BYTES {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// C2SP tlog-tiles resource `id` of the published tree: a Merkle tile's first `width`
    /// hashes, or an entry bundle's first `width` entries (as stored: u16 BE length, bytes).
    /// `OutOfRange` if the published tree does not have it (yet).
    pub fn tile_resource(&self, id: TileId) -> Result<Vec<u8>, ReadError> {
        let size = self.head_size();
        if !id.exists_at(size) {
            return Err(ReadError::OutOfRange { size });
        }
        let width = usize::from(id.width);
        match id.level {
            Some(level) => self.reader(size).tile_prefix(level, id.index, width),
            None => {
                let mut bundle = self.bundle(id.index, size)?;
                let (_, len) = herald_proto::tlog_tiles::bundle_prefix(&bundle, width)
                    .map_err(|e| ReadError::corrupt(format!("bundle {}: {e}", id.index)))?;
                bundle.truncate(len);
                Ok(bundle)
            }
        }
    }

    /// The leaf hash of entry `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, ReadError> {
        let size = self.head_size();
        if index >= size {
            return Err(ReadError::OutOfRange { size });
        }
        self.reader(size).node_hash(NodeId::leaf(index))
    }

    /// The tree root at any published size (`H("")` at 0).
    pub fn root_at(&self, size: u64) -> Result<Hash, ReadError> {
        let head = self.head_size();
        if size > head {
            return Err(ReadError::OutOfRange { size: head });
        }
        tree_root(&self.inner.hasher, &self.reader(size), size).map_err(|e| tree_error(e, head))
    }

    /// The inclusion proof (audit path) of entry `index` in the tree of `size`
    /// (`index < size <= published size`).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ReadError> {
        let head = self.head_size();
        if size > head || index >= size {
            return Err(ReadError::OutOfRange { size: head });
        }
        inclusion_proof(&self.inner.hasher, &self.reader(size), index, size)
            .map_err(|e| tree_error(e, head))
    }

    /// The lowest index below `size` whose leaf hash is `leaf_hash`, and its inclusion proof in
    /// the tree of `size`.
    pub fn inclusion_proof_by_leaf_hash(
        &self,
        leaf_hash: &Hash,
        size: u64,
    ) -> Result<(u64, Vec<Hash>), ReadError> {
        let index = self.find_leaf(leaf_hash, size)?;
        Ok((index, self.inclusion_proof(index, size)?))
    }

    /// The lowest index below `size` (at most the published size) whose leaf hash is
    /// `leaf_hash`. One small read per completed epoch of 65536 leaves, plus the memory index of
    /// the current epoch.
    pub fn find_leaf(&self, leaf_hash: &Hash, size: u64) -> Result<u64, ReadError> {
        // One snapshot of head and memory index, so an epoch that completes meanwhile is seen
        // either in memory or in the buckets, never in neither.
        let (head, in_memory) = {
            let p = self.published();
            (p.head.size, p.epoch.find(leaf_hash))
        };
        if size > head {
            return Err(ReadError::OutOfRange { size: head });
        }
        let reader = self.reader(head);
        let completed = head / EPOCH_LEAVES;
        let searched = completed.min(size.div_ceil(EPOCH_LEAVES));
        for epoch in 0..searched {
            let bucket = self.inner.sealed.bucket(epoch, leaf_hash[0])?;
            for offset in bucket_candidates(&bucket, leaf_hash)? {
                let index = epoch * EPOCH_LEAVES + u64::from(offset);
                if index >= size {
                    break;
                }
                if reader.node_hash(NodeId::leaf(index))? == *leaf_hash {
                    return Ok(index);
                }
            }
        }
        match in_memory {
            Some(index) if index < size => Ok(index),
            _ => Err(ReadError::NotFound),
        }
    }

    /// The consistency proof from the tree of `size1` to the tree of `size2`
    /// (`1 <= size1 <= size2 <= published size`; empty when the sizes are equal).
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, ReadError> {
        let head = self.head_size();
        if size2 > head || size1 > size2 || size1 == 0 {
            return Err(ReadError::OutOfRange { size: head });
        }
        consistency_proof(&self.inner.hasher, &self.reader(size2), size1, size2)
            .map_err(|e| tree_error(e, head))
    }

    /// The range proof of the leaves `[begin, end)` in the tree of `size`
    /// (`begin < end <= size <= published size`): what proves a batch in one answer.
    pub fn range_proof(&self, begin: u64, end: u64, size: u64) -> Result<Vec<Hash>, ReadError> {
        let head = self.head_size();
        if size > head || end > size || begin >= end {
            return Err(ReadError::OutOfRange { size: head });
        }
        range_proof(&self.reader(size), begin, end, size).map_err(|e| tree_error(e, head))
    }

    /// The value of `key` in secondary index `name`, as written by a round. Values become
    /// readable when their round is applied, a moment before its head is published: use
    /// [`index_leaf`](Self::index_leaf) for values that name a leaf.
    pub fn index_value(&self, name: &str, key: &[u8]) -> Result<Option<Vec<u8>>, ReadError> {
        if name.is_empty() || name.len() > MAX_INDEX_NAME_BYTES {
            return Ok(None);
        }
        Ok(self
            .inner
            .tree
            .get(layout::index_key(name, key))?
            .map(|v| v.to_vec()))
    }

    /// The leaf index stored at `key` in index `name` by `IndexValue::LeafIndex`, if that leaf
    /// is published.
    pub fn index_leaf(&self, name: &str, key: &[u8]) -> Result<Option<u64>, ReadError> {
        let Some(v) = self.index_value(name, key)? else {
            return Ok(None);
        };
        let bytes: [u8; 8] = v.as_slice().try_into().map_err(|_| {
            ReadError::corrupt(format!(
                "index {name:?} value is {} bytes, not a leaf index",
                v.len()
            ))
        })?;
        let index = u64::from_be_bytes(bytes);
        Ok((index < self.head_size()).then_some(index))
    }

    /// The latest cosigned checkpoint note stored by [`put_cosigned`](Self::put_cosigned).
    pub fn cosigned(&self) -> Result<Option<Vec<u8>>, ReadError> {
        let Some(note) = self.inner.tree.get(layout::META_COSIGNED)? else {
            return Ok(None);
        };
        if note.len() > herald_proto::wire::MAX_CHECKPOINT_NOTE_BYTES {
            return Err(ReadError::corrupt("meta cosigned is too long"));
        }
        Ok(Some(note.to_vec()))
    }

    /// Stores `note` as the latest cosigned checkpoint and flushes. The caller (the cosigner,
    /// the only writer) verified it and checked that it does not go back. Blocking.
    pub fn put_cosigned(&self, note: &[u8]) -> Result<(), WriteError> {
        self.inner.tree.insert(layout::META_COSIGNED, note)?;
        self.inner.tree.flush()?;
        Ok(())
    }

    // ---- the sequencer's side ----

    /// Claims the right to write; one sequencer per store.
    pub(crate) fn claim_writer(&self) -> Result<(), WriterRefused> {
        match self.inner.writer.compare_exchange(
            WRITER_FREE,
            WRITER_TAKEN,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(WRITER_FAILED) => Err(WriterRefused::Failed),
            Err(_) => Err(WriterRefused::Taken),
        }
    }

    /// Gives the right to write back (clean exit).
    pub(crate) fn release_writer(&self) {
        let _ = self.inner.writer.compare_exchange(
            WRITER_TAKEN,
            WRITER_FREE,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Marks the store unwritable: a round may be applied but not flushed, so the in-memory
    /// state no longer matches anything durable. Reopen the store to write again.
    pub(crate) fn fail_writer(&self) {
        self.inner.writer.store(WRITER_FAILED, Ordering::Release);
    }

    /// Whether a write failed: the store's storage may no longer answer (a full disk), so a
    /// stopping node does not flush it again (`Gateway::stop`).
    pub fn writer_failed(&self) -> bool {
        self.inner.writer.load(Ordering::Acquire) == WRITER_FAILED
    }

    /// The write side of the published tree (O(log n) reads; the current epoch's leaves are
    /// copied from memory).
    pub(crate) fn appender(&self) -> Result<Appender, ReadError> {
        let (size, leaves) = {
            let p = self.published();
            (p.head.size, p.epoch.leaves().to_vec())
        };
        Appender::load(
            &self.inner.tree,
            &self.inner.sealed,
            self.inner.hasher,
            size,
            leaves,
        )
    }

    /// Makes a flushed round visible to readers: its head and its leaves' hashes.
    pub(crate) fn publish(&self, head: LogHead, leaves: &[Hash]) {
        let mut p = self
            .inner
            .published
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for leaf in leaves {
            p.epoch.push(*leaf);
        }
        debug_assert_eq!(
            p.epoch.epoch() * EPOCH_LEAVES + p.epoch.leaves().len() as u64,
            head.size
        );
        p.head = head;
    }
}

impl RoundWriter for LogStore {
    fn apply(&self, round: RoundBatch) -> Result<(), WriteError> {
        let mark = Mark {
            size: round.size(),
            root: round.root(),
        };
        // Sealed records first and synced: sled may make the batch durable at any moment
        // after it is applied (its flusher runs every 500 ms), and the batch refers to them.
        self.inner.sealed.write(&round.sealed)?;
        self.inner.tree.apply_batch(round.batch)?;
        *self
            .inner
            .applied
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(mark);
        Ok(())
    }

    fn flush(&self) -> Result<(), WriteError> {
        self.inner.tree.flush()?;
        // Durable in sled: now the mark, before the caller publishes the round's checkpoint.
        let applied = self
            .inner
            .applied
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mark) = applied {
            self.inner
                .high_water
                .raise(mark)
                .map_err(WriteError::HighWater)?;
        }
        Ok(())
    }
}

/// Complete-subtree hashes of the published tree, for proto's proof and root functions.
impl HashReader for LogStore {
    type Error = ReadError;

    fn node_hash(&self, id: NodeId) -> Result<Hash, ReadError> {
        self.reader(self.head_size()).node_hash(id)
    }
}

/// Maps proto's tree errors: argument errors are the caller's, storage errors pass through.
fn tree_error(e: TreeError<ReadError>, head: u64) -> ReadError {
    match e {
        TreeError::Read(e) => e,
        TreeError::IndexOutOfRange { .. } | TreeError::SizesOutOfOrder { .. } => {
            ReadError::OutOfRange { size: head }
        }
        other => ReadError::corrupt(format!("tree computation failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_proto::merkle::{LogHasher, MemoryHashes, verify_inclusion};
    use layout::SEALED_DIR;
    use proptest::prelude::*;

    /// Appends one round directly (no sequencer, a placeholder checkpoint), flushed and
    /// published as the sequencer would.
    pub(super) fn append_round(store: &LogStore, entries: &[Vec<u8>]) -> Vec<Hash> {
        let mut app = store.appender().unwrap();
        let mut round = app.round();
        let h = store.hasher();
        let leaves: Vec<Hash> = entries
            .iter()
            .map(|e| {
                let leaf = h.hash_leaf(e);
                round.append(e, leaf);
                leaf
            })
            .collect();
        let head = LogHead {
            size: round.size(),
            root: round.root(),
            checkpoint: b"placeholder".to_vec(),
            time_ms: 1,
        };
        let batch = round.finish(&head);
        store.apply(batch).unwrap();
        RoundWriter::flush(store).unwrap();
        store.publish(head, &leaves);
        leaves
    }

    pub(super) fn entry(i: usize) -> Vec<u8> {
        (i as u32).to_be_bytes().repeat(1 + i % 5)
    }

    /// Every complete node up to level 17 (all tile-level offsets k = 0..7, tile levels 0..2)
    /// reads back as the reference tree's.
    fn assert_nodes_match(store: &LogStore, model: &MemoryHashes, size: u64) {
        for level in 0..=17u8 {
            for index in 0..size >> level {
                let id = NodeId::new(level, index);
                assert_eq!(store.node_hash(id).ok(), model.node_hash(id).ok(), "{id:?}");
            }
        }
    }

    #[test]
    fn every_node_hash_matches_the_reference_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut store =
            LogStore::create(dir.path(), "t.test/herald", HashAlgorithm::Blake3).unwrap();
        let h = store.hasher();
        let mut leaves = Vec::new();
        // Rounds that end on and around bundle, tile and epoch boundaries, with restarts.
        let mut next = 0usize;
        for (k, end) in [1usize, 256, 300, 65_535, 65_537, 131_072, 140_000]
            .into_iter()
            .enumerate()
        {
            let entries: Vec<Vec<u8>> = (next..end).map(entry).collect();
            leaves.extend(append_round(&store, &entries));
            next = end;
            if k % 2 == 1 {
                drop(store);
                store = LogStore::open(dir.path()).unwrap();
            }
        }
        let (model, range) = MemoryHashes::from_leaf_hashes(&h, leaves.iter().copied());
        let size = leaves.len() as u64;
        assert_eq!(store.head().root, range.root(&h));
        assert_nodes_match(&store, &model, size);
        // Nodes not complete in the published tree are refused, whatever the tiles hold.
        assert!(store.node_hash(NodeId::leaf(size)).is_err());
        assert!(store.node_hash(NodeId::new(17, 1)).is_err());
        assert!(store.node_hash(NodeId::new(63, 1)).is_err());
        for (i, leaf) in leaves.iter().enumerate().step_by(9_973) {
            assert_eq!(store.find_leaf(leaf, size).unwrap(), i as u64);
        }
        // Two completed epochs' buckets and the current epoch in memory.
        assert_eq!(store.find_leaf(&leaves[131_071], size).unwrap(), 131_071);
        assert_eq!(store.find_leaf(&leaves[139_999], size).unwrap(), 139_999);
    }

    fn flip_byte(path: &Path, at: usize) {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[at] ^= 1;
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn a_corrupt_tile_or_bundle_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::create(dir.path(), "t.test/herald", HashAlgorithm::Blake3).unwrap();
        append_round(&store, &(0..300).map(entry).collect::<Vec<_>>());
        // Tile (0, 0) and bundle 0 are full, hence sealed; tile (0, 1) and bundle 1 in sled.
        let sealed = dir.path().join(SEALED_DIR);
        flip_byte(&sealed.join("tiles.0"), 100);
        assert!(matches!(store.leaf_hash(3), Err(ReadError::Corrupt { .. })));
        flip_byte(&sealed.join("bundles"), 10);
        assert!(matches!(
            store.entries(0, 5),
            Err(ReadError::Corrupt { .. })
        ));
        let tree = &store.inner.tree;
        tree.insert(layout::tile_key(0, 1), &[1u8; 33][..]).unwrap();
        assert!(matches!(
            store.leaf_hash(299),
            Err(ReadError::Corrupt { .. })
        ));
        tree.insert(layout::tile_key(0, 1), &[1u8; 32][..]).unwrap();
        assert!(matches!(
            store.leaf_hash(299),
            Err(ReadError::Corrupt { .. })
        ));
        tree.insert(layout::bundle_key(1), &[0u8, 9, 1][..])
            .unwrap();
        assert!(matches!(
            store.entries(256, 5),
            Err(ReadError::Corrupt { .. })
        ));
        // Neither in sled nor sealed.
        tree.remove(layout::bundle_key(1)).unwrap();
        assert!(matches!(
            store.entries(256, 5),
            Err(ReadError::Corrupt { .. })
        ));
        RoundWriter::flush(&store).unwrap();
        drop(store);
        // The right edge no longer hashes to the stored root: opening refuses.
        assert!(matches!(
            LogStore::open(dir.path()),
            Err(OpenError::Read(ReadError::Corrupt { .. }))
        ));
    }

    #[test]
    fn reads_of_the_published_edge_survive_a_round_that_seals_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::create(dir.path(), "t.test/herald", HashAlgorithm::Blake3).unwrap();
        let leaves = append_round(&store, &(0..300).map(entry).collect::<Vec<_>>());
        // The next round fills bundle 1 and tile (0, 1): applied, their sled keys gone, but
        // its head not yet published.
        let mut app = store.appender().unwrap();
        let mut round = app.round();
        for e in (300..600).map(entry) {
            round.append(&e, store.hasher().hash_leaf(&e));
        }
        let head = LogHead {
            size: 600,
            root: round.root(),
            checkpoint: b"placeholder".to_vec(),
            time_ms: 2,
        };
        store.apply(round.finish(&head)).unwrap();
        assert!(
            store
                .inner
                .tree
                .get(layout::bundle_key(1))
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .inner
                .tree
                .get(layout::tile_key(0, 1))
                .unwrap()
                .is_none()
        );
        assert_eq!(store.head().size, 300);
        let want: Vec<Vec<u8>> = (256..300).map(entry).collect();
        assert_eq!(store.entries(256, 100).unwrap(), want);
        assert_eq!(store.leaf_hash(299).unwrap(), leaves[299]);
        assert!(store.leaf_hash(300).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn proofs_equal_the_reference_for_any_rounds(
            rounds in proptest::collection::vec(1usize..700, 1..5),
            picks in proptest::collection::vec(any::<u64>(), 8),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = LogStore::create(dir.path(), "t.test/herald", HashAlgorithm::Sha256).unwrap();
            let h = store.hasher();
            let mut leaves = Vec::new();
            for n in rounds {
                let start = leaves.len();
                let entries: Vec<Vec<u8>> = (start..start + n).map(entry).collect();
                leaves.extend(append_round(&store, &entries));
            }
            let (model, _) = MemoryHashes::from_leaf_hashes(&h, leaves.iter().copied());
            let size = leaves.len() as u64;
            for p in picks {
                let s = 1 + p % size;
                let i = (p >> 20) % s;
                let proof = store.inclusion_proof(i, s).unwrap();
                prop_assert_eq!(&proof, &inclusion_proof(&h, &model, i, s).unwrap());
                let root = store.root_at(s).unwrap();
                prop_assert!(verify_inclusion(&h, i, s, &leaves[i as usize], &proof, &root).is_ok());
                let old = 1 + (p >> 40) % s;
                prop_assert_eq!(
                    store.consistency_proof(old, s).unwrap(),
                    consistency_proof(&h, &model, old, s).unwrap()
                );
            }
        }
    }
}
