//! A bounded memory of sealed tiles whose check has passed, shared by every reader of one log.
//!
//! A sealed tile never changes once written, so its BLAKE3 check needs to pass once per read
//! from the file, not once per proof: the profile of `bench proofs` put ~18% of the node's CPU
//! in re-checking the same tiles (docs/performance.md). Readers ask here first; a miss reads
//! and checks the file and remembers the tile. The scrub never asks here: it exists to read
//! what is on disk (`Sealed::tile_on_disk`).
//!
//! Eviction is by two generations: new tiles go to the young map; when it is full, the old map
//! is dropped and the young one becomes old; a hit in the old map moves the tile back to the
//! young one. Each lookup and insert is O(1), the tiles in use stay, and at most `capacity`
//! tiles are held (8 KiB each).

use std::collections::HashMap;
use std::sync::Mutex;

/// A tile's place: (level, number).
type TileKey = (u8, u64);

/// Checked tiles held by a log: 2048 × 8 KiB = 16 MiB at most. The upper tiles every proof
/// passes through are few and stay; the rest holds the level-0 tiles in use (all of them up to
/// half a million entries).
pub(crate) const CHECKED_TILES: usize = 2048;

pub(crate) struct CheckedTiles {
    generations: Mutex<Generations>,
    /// Tiles per generation: half the capacity.
    half: usize,
}

impl std::fmt::Debug for CheckedTiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedTiles")
            .field("capacity", &(self.half * 2))
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Generations {
    young: HashMap<TileKey, sled::IVec>,
    old: HashMap<TileKey, sled::IVec>,
}

impl CheckedTiles {
    /// A memory of at most `capacity` tiles (at least 2).
    pub(crate) fn new(capacity: usize) -> Self {
        CheckedTiles {
            generations: Mutex::default(),
            half: (capacity / 2).max(1),
        }
    }

    /// The tile (`level`, `n`) if it is held. A cheap clone: `IVec` shares its bytes.
    pub(crate) fn get(&self, level: u8, n: u64) -> Option<sled::IVec> {
        let mut g = self.lock();
        let key = (level, n);
        if let Some(tile) = g.young.get(&key) {
            return Some(tile.clone());
        }
        let tile = g.old.remove(&key)?;
        g.insert(key, tile.clone(), self.half);
        Some(tile)
    }

    /// Remembers a tile whose check passed.
    pub(crate) fn insert(&self, level: u8, n: u64, tile: sled::IVec) {
        self.lock().insert((level, n), tile, self.half);
    }

    /// Tiles held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.lock();
        g.young.len() + g.old.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic while holding the lock leaves whole maps behind (every change is one map
        // operation), so a poisoned lock's data is still a valid memory of checked tiles.
        self.generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Generations {
    fn insert(&mut self, key: TileKey, tile: sled::IVec, half: usize) {
        if self.young.len() >= half && !self.young.contains_key(&key) {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, tile);
    }
}

#[cfg(test)]
mod tests {
    use super::CheckedTiles;

    fn tile(byte: u8) -> sled::IVec {
        sled::IVec::from(vec![byte; 32])
    }

    #[test]
    fn held_tiles_come_back_and_the_capacity_holds() {
        let cache = CheckedTiles::new(8);
        for n in 0..100u64 {
            cache.insert(0, n, tile(n as u8));
            assert!(cache.len() <= 8, "{} tiles held", cache.len());
        }
        // The latest four are young: all come back intact.
        for n in 96..100u64 {
            assert_eq!(cache.get(0, n), Some(tile(n as u8)), "tile {n}");
        }
        // The four before them are old: one comes back (and moves to the young generation).
        assert_eq!(cache.get(0, 95), Some(tile(95)));
        assert_eq!(cache.get(0, 0), None);
        assert_eq!(cache.get(1, 99), None, "levels are told apart");
    }

    #[test]
    fn a_tile_in_use_survives_a_stream_of_others() {
        let cache = CheckedTiles::new(8);
        cache.insert(1, 0, tile(7));
        for n in 0..1000u64 {
            cache.insert(0, n, tile(0));
            // A proof that reads the hot upper tile every few requests keeps it.
            if n % 3 == 0 {
                assert_eq!(cache.get(1, 0), Some(tile(7)), "after {n} others");
            }
        }
        assert!(cache.len() <= 8);
    }
}
