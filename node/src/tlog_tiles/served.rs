//! A bounded memory of full tiles and full entry bundles as served: their encoded bytes, ready
//! to hand to hyper.
//!
//! A full tile or bundle never changes (that is why it is served `immutable`), so the bytes
//! answered once answer every later GET of it. A hit costs one map lookup and a reference-count
//! increment (`Bytes` shares its buffer with hyper, which writes it without a copy); a miss
//! reads the store on the blocking pool as before and leaves the answer here. Before this, every
//! GET went to the blocking pool (two thread hand-offs), copied the tile out of the store's
//! memory, and read and BLAKE3-checked a whole bundle from its file: `bench tiles` spent more CPU
//! there than in HTTP (docs/performance.md).
//!
//! Partial tiles and bundles are never held: they are replaced as the log grows. The memory is
//! bounded in bytes ([`SERVED_BYTES`]), evicted by two generations like the store's checked
//! tiles: answers go to the young map; when it holds half the bytes, the old map is dropped and
//! the young one becomes old; a hit in the old map moves the answer back to the young one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use herald_proto::tlog_tiles::TileId;
use hyper::body::Bytes;

/// Bytes of answers held at most by one log's memory: 256 MiB. The two generations hold at least
/// half of it, so a log whose full tiles and bundles take up to 128 MiB (half a million entries
/// of some 400 bytes, with their level-0 tiles) is read from memory without churn; at 128 MiB
/// `bench tiles`' 108 MiB of resources were dropped and re-read from the files over and over.
/// Only what is read is held.
pub const SERVED_BYTES: usize = 256 << 20;

/// A full resource's place: `(level, n)` for a tile, `(None, n)` for an entry bundle.
type Key = (Option<u8>, u64);

/// Full tiles and bundles as served (see the module docs). Shared by every connection.
#[derive(Debug)]
pub struct ServedTiles {
    generations: Mutex<Generations>,
    /// Bytes per generation: half the bound.
    half: usize,
}

#[derive(Debug, Default)]
struct Generations {
    young: HashMap<Key, Bytes>,
    young_bytes: usize,
    old: HashMap<Key, Bytes>,
}

impl Default for ServedTiles {
    fn default() -> Self {
        ServedTiles::new(SERVED_BYTES)
    }
}

impl ServedTiles {
    /// A memory of at most `bytes` bytes of answers.
    pub fn new(bytes: usize) -> Self {
        ServedTiles {
            generations: Mutex::default(),
            half: (bytes / 2).max(1),
        }
    }

    /// The bytes of `id` if it is full and held.
    pub fn get(&self, id: &TileId) -> Option<Bytes> {
        let key = key(id)?;
        let mut g = self.lock();
        if let Some(bytes) = g.young.get(&key) {
            return Some(bytes.clone());
        }
        let bytes = g.old.remove(&key)?;
        g.insert(key, bytes.clone(), self.half);
        Some(bytes)
    }

    /// Remembers the answer to `id` when `id` is full (a partial one is not held); an answer
    /// larger than half the bound is not held either.
    pub fn insert(&self, id: &TileId, bytes: Bytes) {
        if let Some(key) = key(id)
            && bytes.len() <= self.half
        {
            self.lock().insert(key, bytes, self.half);
        }
    }

    /// Answers and bytes held now.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let g = self.lock();
        let old_bytes: usize = g.old.values().map(Bytes::len).sum();
        (g.young.len() + g.old.len(), g.young_bytes + old_bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // Every change is whole map operations: a poisoned lock's maps are still valid.
        self.generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where `id` is held, if it may be: full tiles and bundles only.
fn key(id: &TileId) -> Option<Key> {
    (!id.is_partial()).then_some((id.level, id.index))
}

impl Generations {
    fn insert(&mut self, key: Key, bytes: Bytes, half: usize) {
        if self.young_bytes + bytes.len() > half {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        self.young_bytes += bytes.len();
        if let Some(previous) = self.young.insert(key, bytes) {
            self.young_bytes -= previous.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(path: &str) -> TileId {
        TileId::parse(path).unwrap()
    }

    #[test]
    fn full_resources_are_held_and_partial_ones_are_not() {
        let served = ServedTiles::new(1 << 20);
        let full = tile("tile/0/001");
        let bundle = tile("tile/entries/001");
        let partial = tile("tile/0/002.p/7");
        served.insert(&full, Bytes::from_static(b"level-0 tile 1"));
        served.insert(&bundle, Bytes::from_static(b"bundle 1"));
        served.insert(&partial, Bytes::from_static(b"7 hashes"));
        assert_eq!(served.get(&full).as_deref(), Some(&b"level-0 tile 1"[..]));
        // Tile 1 of level 0 and bundle 1 are two resources.
        assert_eq!(served.get(&bundle).as_deref(), Some(&b"bundle 1"[..]));
        assert_eq!(served.get(&tile("tile/1/001")), None);
        assert_eq!(served.get(&partial), None);
        assert_eq!(served.held().0, 2);
    }

    #[test]
    fn the_memory_stays_within_its_bytes_and_keeps_what_is_read() {
        // Two generations of 1000 bytes: at most 2000 bytes held.
        let served = ServedTiles::new(2000);
        let hot = tile("tile/0/000");
        served.insert(&hot, Bytes::from(vec![7u8; 100]));
        for n in 1..100u64 {
            served.insert(
                &tile(&format!("tile/0/{:03}", n)),
                Bytes::from(vec![n as u8; 100]),
            );
            // Read between inserts, the hot tile is never the one dropped.
            assert_eq!(served.get(&hot).map(|b| b.len()), Some(100), "after {n}");
            assert!(served.held().1 <= 2000, "{:?} after {n}", served.held());
        }
        // Something was dropped: 100 answers of 100 bytes do not fit in 2000.
        assert!(served.held().0 < 100);
        // An answer larger than a generation is not held at all.
        let big = tile("tile/entries/000");
        served.insert(&big, Bytes::from(vec![0u8; 1001]));
        assert_eq!(served.get(&big), None);
    }
}
