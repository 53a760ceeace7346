//! Folded node hashes remembered between proofs (DESIGN §6: every submission's ack carries
//! proofs).
//!
//! A node at level `8L + k` (`k` 1 … 7) is not stored: [`super::tiles::TileReader`] folds it from
//! the 2^k hashes under it, up to 127 hash computations a node and some 250 per tile level of an
//! audit path. Every ack of a round asks for proofs at the round's size, of entries next to
//! each other at the log's right edge: the same folded nodes, again and again (`bench submit`
//! with one entry per request spent a quarter of the node's CPU folding them;
//! `docs/performance.md`).
//!
//! The hash of a complete subtree never changes while the store is open (the log only grows;
//! the one cut, of a round that never committed, happens when the store opens), and a
//! [`super::tiles::TileReader`] only answers for nodes complete below its limit. So a folded
//! node's hash, once read, is remembered here for every later proof at any size. Bounded: two
//! generations of [`GENERATION`] nodes; when the newer is full the older is dropped.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use herald_proto::merkle::{Hash, HashReader, NodeId};

use super::layout::TILE_HEIGHT;

/// Nodes in one generation: the folded nodes of the proofs of a few thousand recent entries
/// (some 2 x 32 + 16 bytes each: at most ~650 KiB for both generations).
const GENERATION: usize = 4096;

#[derive(Debug, Default)]
struct Generations {
    newer: HashMap<NodeId, Hash>,
    older: HashMap<NodeId, Hash>,
}

/// Folded node hashes read before (see the module docs).
#[derive(Debug, Default)]
pub(super) struct FoldedNodes(Mutex<Generations>);

impl FoldedNodes {
    fn generations(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A memory of hashes read: a panic elsewhere leaves it usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, id: NodeId) -> Option<Hash> {
        let generations = self.generations();
        generations
            .newer
            .get(&id)
            .or_else(|| generations.older.get(&id))
            .copied()
    }

    fn remember(&self, id: NodeId, hash: Hash) {
        let mut generations = self.generations();
        if generations.newer.len() >= GENERATION {
            generations.older = std::mem::take(&mut generations.newer);
        }
        generations.newer.insert(id, hash);
    }

    /// `reader` of the tree `[0, limit)`, remembering the folded nodes it reads here.
    pub(super) fn over<R: HashReader>(&self, reader: R, limit: u64) -> Remembering<'_, R> {
        Remembering {
            reader,
            limit,
            folded: self,
        }
    }
}

/// A [`HashReader`] that answers folded nodes from [`FoldedNodes`] when it can.
pub(super) struct Remembering<'a, R> {
    reader: R,
    limit: u64,
    folded: &'a FoldedNodes,
}

impl<R: HashReader> HashReader for Remembering<'_, R> {
    type Error = R::Error;

    fn node_hash(&self, id: NodeId) -> Result<Hash, R::Error> {
        // Nodes at a tile's own level are one stored hash: nothing to save. A node not
        // complete below the limit is the reader's to refuse, whatever was read before.
        let complete = id.coverage().is_some_and(|c| c.end <= self.limit);
        if id.level.is_multiple_of(TILE_HEIGHT) || !complete {
            return self.reader.node_hash(id);
        }
        if let Some(hash) = self.folded.get(id) {
            return Ok(hash);
        }
        // Only a node the reader answered for (complete below its limit) is remembered.
        let hash = self.reader.node_hash(id)?;
        self.folded.remember(id, hash);
        Ok(hash)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Answers every node with its id's bytes, counting reads; refuses nodes at `missing`.
    struct Counting {
        reads: Cell<usize>,
        missing: u64,
    }

    impl HashReader for Counting {
        type Error = std::io::Error;

        fn node_hash(&self, id: NodeId) -> Result<Hash, std::io::Error> {
            self.reads.set(self.reads.get() + 1);
            if id.index == self.missing {
                return Err(std::io::ErrorKind::NotFound.into());
            }
            let mut hash = [id.level; 32];
            hash[..8].copy_from_slice(&id.index.to_le_bytes());
            Ok(hash)
        }
    }

    fn reader() -> Counting {
        Counting {
            reads: Cell::new(0),
            missing: u64::MAX,
        }
    }

    #[test]
    fn a_folded_node_is_read_once_and_answered_the_same() {
        let folded = FoldedNodes::default();
        let inner = reader();
        let remembering = folded.over(&inner, u64::MAX);
        let id = NodeId { level: 3, index: 7 };
        let first = remembering.node_hash(id).unwrap();
        assert_eq!(remembering.node_hash(id).unwrap(), first);
        assert_eq!(inner.reads.get(), 1);
        // A later proof (another reader, any size) is answered from memory too.
        let later = reader();
        assert_eq!(folded.over(&later, u64::MAX).node_hash(id).unwrap(), first);
        assert_eq!(later.reads.get(), 0);
        // A stored node (level 0, 8, ...) is always read from the tiles.
        let leaf = NodeId { level: 0, index: 7 };
        remembering.node_hash(leaf).unwrap();
        remembering.node_hash(leaf).unwrap();
        assert_eq!(inner.reads.get(), 3);
        // Past a reader's limit the node is the reader's to refuse, though remembered.
        let small = reader();
        folded
            .over(&small, 8)
            .node_hash(NodeId { level: 3, index: 1 })
            .ok();
        assert_eq!(small.reads.get(), 1);
    }

    #[test]
    fn a_node_the_reader_refused_is_not_remembered() {
        let folded = FoldedNodes::default();
        let refusing = Counting {
            reads: Cell::new(0),
            missing: 5,
        };
        let id = NodeId { level: 2, index: 5 };
        assert!(folded.over(&refusing, u64::MAX).node_hash(id).is_err());
        assert!(folded.over(&refusing, u64::MAX).node_hash(id).is_err());
        assert_eq!(refusing.reads.get(), 2);
        assert!(folded.get(id).is_none());
    }

    #[test]
    fn the_memory_is_bounded() {
        let folded = FoldedNodes::default();
        let inner = reader();
        for index in 0..3 * GENERATION as u64 {
            folded
                .over(&inner, u64::MAX)
                .node_hash(NodeId { level: 1, index })
                .unwrap();
        }
        let generations = folded.generations();
        assert!(generations.newer.len() + generations.older.len() <= 2 * GENERATION);
    }
}
