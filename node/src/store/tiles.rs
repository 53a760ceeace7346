//! Complete-subtree hashes read from 256-wide tiles: full ones from the sealed files, the
//! partial right-edge ones from sled.
//!
//! Tile (L, N) holds the level-8L hashes N·256 … N·256+255. A node at level `l = 8L + k`
//! (`k < 8`) covers 2^k consecutive, aligned level-8L nodes, always inside one tile, so its hash
//! is folded from at most 128 stored hashes. A proof reads O(log n) nodes from at most a few
//! tiles per level; [`TileReader`] keeps the tiles of one request so each is read once.
//!
//! Folding is what a proof cost: an audit path's nodes at levels 8L+1 … 8L+7 fold 2 + 4 + … +
//! 128 hashes, some 250 hash computations per tile level against O(log n) for the proof itself
//! (`bench proofs` spent 44% of the node's CPU in SHA-256 there; docs/performance.md). So the
//! inner levels of a *full* tile, which never changes, are folded once, all 254 nodes, and held
//! beside the checked tiles ([`Sealed::folded`]); a node inside a full tile is then a lookup.
//! Nodes of the partial right-edge tile, complete below the reader's limit, are folded once too
//! when the reader has the store's [`EdgeNodes`] (every read of the published tree does): every
//! ack of a round asks for the same right-edge nodes.

use std::cell::RefCell;

use herald_proto::merkle::{AnyHasher, HASH_LEN, Hash, HashReader, LogHasher as _, NodeId};
use herald_proto::tlog_tiles::fold_subtree;

use super::edge_nodes::EdgeNodes;
use super::error::ReadError;
use super::layout::{FULL_TILE_BYTES, TILE_HEIGHT, TILE_WIDTH, tile_key};
use super::sealed::{MAX_TILES_READ, Sealed};

/// Most hashes [`TileReader`]'s `node_hash` folds into one node: half a tile.
const MAX_FOLDED: usize = 1 << (TILE_HEIGHT - 1);

/// Tiles kept by one reader: a proof touches at most a few per tile level.
const CACHED_TILES: usize = 16;

/// Reads node hashes of the tree `[0, limit)` from the tiles in `tree`.
///
/// `limit` is what the reader may see: the published size for requests, the stored size at
/// startup. Nodes that are not complete below it are refused, whatever the tiles hold (a
/// partial tile may already hold hashes of a round not yet published).
pub(crate) struct TileReader<'a> {
    tree: &'a sled::Tree,
    sealed: &'a Sealed,
    hasher: AnyHasher,
    limit: u64,
    cache: RefCell<Vec<((u8, u64), sled::IVec)>>,
    /// Folded right-edge nodes remembered between reads (none at startup and in the appender).
    edge: Option<&'a EdgeNodes>,
}

impl<'a> TileReader<'a> {
    pub(crate) fn new(
        tree: &'a sled::Tree,
        sealed: &'a Sealed,
        hasher: AnyHasher,
        limit: u64,
    ) -> Self {
        TileReader {
            tree,
            sealed,
            hasher,
            limit,
            cache: RefCell::new(Vec::new()),
            edge: None,
        }
    }

    /// This reader, folding each right-edge node once into `edge` and answering it from there
    /// since. Only for a limit at most the published size (`edge_nodes` says why).
    pub(crate) fn remembering(self, edge: &'a EdgeNodes) -> Self {
        TileReader {
            edge: Some(edge),
            ..self
        }
    }

    /// Tile (`level`, `n`), from the cache, the sealed files or sled. A tile that should exist
    /// and does not, or whose length is not a whole number of hashes up to 256, is corrupt.
    fn tile(&self, level: u8, n: u64) -> Result<sled::IVec, ReadError> {
        if let Some((_, t)) = self.cache.borrow().iter().find(|(k, _)| *k == (level, n)) {
            return Ok(t.clone());
        }
        // Full below the limit: sealed. Otherwise partial in sled, unless a round applied
        // since the limit was taken has filled it and sealed it.
        let stored = match self.is_full(level, n) {
            true => None,
            false => self.tree.get(tile_key(level, n))?,
        };
        let tile = match stored {
            Some(tile) => tile,
            None => self.sealed.tile(level, n)?,
        };
        if tile.is_empty() || tile.len() > FULL_TILE_BYTES || !tile.len().is_multiple_of(HASH_LEN) {
            return Err(ReadError::corrupt(format!(
                "tile ({level}, {n}) is {} bytes",
                tile.len()
            )));
        }
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= CACHED_TILES {
            cache.remove(0);
        }
        cache.push(((level, n), tile.clone()));
        Ok(tile)
    }

    /// The first `width` hashes of tile (`level`, `n`), as stored (C2SP tlog-tiles).
    pub(crate) fn tile_prefix(
        &self,
        level: u8,
        n: u64,
        width: usize,
    ) -> Result<Vec<u8>, ReadError> {
        let tile = self.tile(level, n)?;
        tile.get(..width * HASH_LEN)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                ReadError::corrupt(format!(
                    "tile ({level}, {n}) has {} hashes, {width} asked",
                    tile.len() / HASH_LEN
                ))
            })
    }

    /// The level-8L hashes `first .. first + out.len()`, all inside one tile, copied into `out`.
    fn tile_hashes(&self, tile_level: u8, first: u64, out: &mut [Hash]) -> Result<(), ReadError> {
        let n = first / 256;
        let offset = (first % 256) as usize;
        let count = out.len();
        let tile = self.tile(tile_level, n)?;
        let bytes = tile
            .get(offset * HASH_LEN..(offset + count) * HASH_LEN)
            .ok_or_else(|| {
                ReadError::corrupt(format!(
                    "tile ({tile_level}, {n}) has {} hashes, node needs {}",
                    tile.len() / HASH_LEN,
                    offset + count
                ))
            })?;
        for (h, c) in out.iter_mut().zip(bytes.chunks_exact(HASH_LEN)) {
            h.copy_from_slice(c);
        }
        Ok(())
    }

    /// The level-0 hashes (leaf hashes) `first .. first + count`, any range inside `limit`.
    pub(crate) fn leaf_hashes(
        &self,
        first: u64,
        count: u64,
        out: &mut Vec<Hash>,
    ) -> Result<(), ReadError> {
        let end = first
            .checked_add(count)
            .filter(|&e| e <= self.limit)
            .ok_or(ReadError::OutOfRange { size: self.limit })?;
        let mut pos = first;
        // Whole sealed tiles in one read: opening loads up to 255 of them (the current epoch).
        let sealed_end = (end / TILE_WIDTH) * TILE_WIDTH;
        while pos.is_multiple_of(TILE_WIDTH) && pos < sealed_end {
            let tiles = ((sealed_end - pos) / TILE_WIDTH).min(MAX_TILES_READ);
            self.sealed.level0_tiles(pos / TILE_WIDTH, tiles, out)?;
            pos += tiles * TILE_WIDTH;
        }
        while pos < end {
            let take = (256 - pos % 256).min(end - pos);
            let start = out.len();
            out.resize(start + take as usize, [0; HASH_LEN]);
            self.tile_hashes(0, pos, &mut out[start..])?;
            pos += take;
        }
        Ok(())
    }
}

/// Where level `k` (1 … 7) of a tile starts among its folded inner nodes: level 1's 128 nodes
/// first, then level 2's 64, …, level 7's 2 (254 in all).
fn inner_start(k: u32) -> usize {
    256 - (512 >> k)
}

/// Hashes of a tile's inner levels 1 … 7.
const INNER_HASHES: usize = 254;

impl TileReader<'_> {
    /// Whether tile (`level`, `n`) is full below the limit (so sealed, and never to change).
    fn is_full(&self, level: u8, n: u64) -> bool {
        (n + 1)
            .checked_mul(TILE_WIDTH)
            .is_some_and(|end| end <= self.limit >> (u32::from(level) * u32::from(TILE_HEIGHT)))
    }

    /// The inner levels 1 … 7 of full tile (`level`, `n`) ([`inner_start`]), folded from its
    /// checked hashes on first use and held by the sealed files' memory since.
    fn inner_nodes(&self, level: u8, n: u64) -> Result<sled::IVec, ReadError> {
        if let Some(inner) = self.sealed.folded(level, n) {
            return Ok(inner);
        }
        let tile = self.tile(level, n)?;
        if tile.len() != FULL_TILE_BYTES {
            return Err(ReadError::corrupt(format!(
                "full tile ({level}, {n}) is {} bytes",
                tile.len()
            )));
        }
        let mut below: Vec<Hash> = tile
            .chunks_exact(HASH_LEN)
            .map(|c| {
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(c);
                h
            })
            .collect();
        let mut inner = Vec::with_capacity(INNER_HASHES * HASH_LEN);
        while below.len() > 2 {
            let level_up: Vec<Hash> = below
                .chunks_exact(2)
                .map(|pair| self.hasher.hash_children(&pair[0], &pair[1]))
                .collect();
            for h in &level_up {
                inner.extend_from_slice(h);
            }
            below = level_up;
        }
        let inner = sled::IVec::from(inner);
        self.sealed.remember_folded(level, n, inner.clone());
        Ok(inner)
    }
}

impl HashReader for TileReader<'_> {
    type Error = ReadError;

    fn node_hash(&self, id: NodeId) -> Result<Hash, ReadError> {
        let covered = id
            .coverage()
            .filter(|c| c.end <= self.limit)
            .ok_or(ReadError::OutOfRange { size: self.limit })?;
        debug_assert!(covered.start < covered.end);
        let tile_level = id.level / TILE_HEIGHT;
        let k = u32::from(id.level % TILE_HEIGHT);
        // The node covers leaves below limit, so index << level fits, and so does index << k.
        let first = id.index << k;
        let n = first / TILE_WIDTH;
        if k > 0 && self.is_full(tile_level, n) {
            let inner = self.inner_nodes(tile_level, n)?;
            let at = inner_start(k) + (id.index - (n << (8 - k))) as usize;
            let bytes = inner
                .get(at * HASH_LEN..(at + 1) * HASH_LEN)
                .ok_or_else(|| ReadError::corrupt(format!("node {id:?}: inner nodes cut")))?;
            let mut h = [0u8; HASH_LEN];
            h.copy_from_slice(bytes);
            return Ok(h);
        }
        // A node of the partial edge tile: complete below the limit (checked above), so its
        // hash never changes once folded (`edge_nodes`).
        let edge = self.edge.filter(|_| k > 0);
        if let Some(hash) = edge.and_then(|edge| edge.get(id)) {
            return Ok(hash);
        }
        // At most half a tile (k < TILE_HEIGHT), read onto the stack: a proof needs a few of
        // these folds on every ack the edge cache does not cover yet, and a heap buffer of up
        // to 4 KiB each time made the allocator consolidate its free lists.
        let mut buf = [[0u8; HASH_LEN]; MAX_FOLDED];
        let hashes = &mut buf[..1usize << k];
        self.tile_hashes(tile_level, first, hashes)?;
        // The perfect subtree folded bottom-up (C2SP tlog-tiles: proto's, as clients do it).
        let hash = fold_subtree(&self.hasher, hashes)
            .ok_or_else(|| ReadError::corrupt(format!("node {id:?} read no hashes")))?;
        if let Some(edge) = edge {
            edge.remember(id, hash);
        }
        Ok(hash)
    }
}
