//! What this witness holds for each origin it witnesses: the size, root and log-signed note of
//! the last checkpoint it cosigned (sled tree `witness`).
//!
//! The witness's promise rests on this state: it never cosigns a checkpoint inconsistent with
//! what it holds. So every change is a compare-and-swap against the value the caller judged
//! against, followed by a flush, and only then may a cosignature leave the node (DESIGN §5).
//! A value read back is checked like any outside input.
//!
//! Owned by the witness service (the only writer); the split-view watch reads it through
//! [`HeldView`].

use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::{HASH_LEN, Hash};
use herald_proto::note::MAX_NOTE_LEN;

use crate::watch::{HeldTree, HeldView};

/// The sled tree of the witness state.
pub const WITNESS_TREE: &str = crate::db::Tree::Witness.name();

/// Why the witness state could not be read or written (always local).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeldError {
    /// sled failed.
    #[error("witness state storage: {0}")]
    Storage(#[from] sled::Error),
    /// A stored value is not one this module writes.
    #[error("witness state for {origin:?} is damaged: {reason}")]
    Corrupt {
        /// The origin.
        origin: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The value changed between reading and swapping (another writer): nothing was written.
    #[error("witness state for {0:?} changed concurrently")]
    Raced(String),
}

/// The checkpoint a witness holds for one origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// Its tree size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The checkpoint note reduced to the log's signature (kept to build equivocation proofs).
    pub note: String,
    /// The stored bytes, which a swap compares against.
    raw: Vec<u8>,
}

impl Held {
    /// The value to store for `checkpoint`.
    pub fn of(checkpoint: &VerifiedCheckpoint) -> Self {
        let note = checkpoint.log_signed_note();
        let mut raw = Vec::with_capacity(8 + HASH_LEN + note.len());
        raw.extend_from_slice(&checkpoint.size().to_be_bytes());
        raw.extend_from_slice(checkpoint.root());
        raw.extend_from_slice(note.as_bytes());
        Held {
            size: checkpoint.size(),
            root: *checkpoint.root(),
            note,
            raw,
        }
    }

    fn decode(origin: &str, raw: &[u8]) -> Result<Self, HeldError> {
        let corrupt = |reason| HeldError::Corrupt {
            origin: origin.to_owned(),
            reason,
        };
        if raw.len() > 8 + HASH_LEN + MAX_NOTE_LEN {
            return Err(corrupt("too long"));
        }
        let (size, rest) = raw
            .split_first_chunk::<8>()
            .ok_or_else(|| corrupt("too short"))?;
        let (root, note) = rest
            .split_first_chunk::<HASH_LEN>()
            .ok_or_else(|| corrupt("too short"))?;
        let note = std::str::from_utf8(note).map_err(|_| corrupt("note is not UTF-8"))?;
        Ok(Held {
            size: u64::from_be_bytes(*size),
            root: *root,
            note: note.to_owned(),
            raw: raw.to_vec(),
        })
    }
}

/// The witness state. Cheap to clone (a sled tree handle). Blocking.
#[derive(Clone, Debug)]
pub struct HeldCheckpoints {
    tree: sled::Tree,
}

impl HeldCheckpoints {
    /// Opens the state in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, HeldError> {
        Ok(HeldCheckpoints {
            tree: crate::db::Tree::Witness.open(db)?,
        })
    }

    /// What the witness holds for `origin`, if it ever cosigned it.
    pub fn get(&self, origin: &str) -> Result<Option<Held>, HeldError> {
        self.tree
            .get(origin.as_bytes())?
            .map(|raw| Held::decode(origin, &raw))
            .transpose()
    }

    /// Every origin and the size held for it.
    pub fn sizes(&self) -> Result<Vec<(String, u64)>, HeldError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (key, raw) = item?;
            let origin = String::from_utf8_lossy(&key).into_owned();
            let held = Held::decode(&origin, &raw)?;
            out.push((origin, held.size));
        }
        Ok(out)
    }

    /// Replaces `expected` (what the caller judged against; `None`: nothing held) by `new`, and
    /// flushes. When this returns `Ok`, the new state survives a crash; on any error nothing
    /// may be cosigned.
    pub fn swap(&self, origin: &str, expected: Option<&Held>, new: &Held) -> Result<(), HeldError> {
        if expected.is_some_and(|e| e.raw == new.raw) {
            return Ok(());
        }
        self.tree
            .compare_and_swap(
                origin.as_bytes(),
                expected.map(|e| e.raw.as_slice()),
                Some(new.raw.as_slice()),
            )?
            .map_err(|_| HeldError::Raced(origin.to_owned()))?;
        self.tree.flush()?;
        Ok(())
    }
}

impl HeldView for HeldCheckpoints {
    fn held_tree(&self, origin: &str) -> Result<Option<HeldTree>, String> {
        Ok(self
            .get(origin)
            .map_err(|e| e.to_string())?
            .map(|h| HeldTree {
                size: h.size,
                root: h.root,
                note: h.note,
            }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use herald_proto::checkpoint::Checkpoint;
    use herald_proto::note::NoteSigner;

    fn checkpoint(size: u64, root: u8) -> VerifiedCheckpoint {
        let key = NoteSigner::new("b.test/herald", SigningKey::from_bytes(&[4; 32])).unwrap();
        let note = Checkpoint {
            origin: "b.test/herald".into(),
            size,
            root: [root; 32],
        }
        .sign(&key)
        .unwrap()
        .to_string();
        VerifiedCheckpoint::verify(note.as_bytes(), &key.verifier()).unwrap()
    }

    #[test]
    fn swaps_compare_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let held = HeldCheckpoints::open(&db).unwrap();
        assert_eq!(held.get("b.test/herald").unwrap(), None);
        let first = Held::of(&checkpoint(3, 1));
        held.swap("b.test/herald", None, &first).unwrap();
        // A swap judged against a stale value changes nothing.
        let second = Held::of(&checkpoint(5, 2));
        assert!(matches!(
            held.swap("b.test/herald", None, &second),
            Err(HeldError::Raced(_))
        ));
        held.swap("b.test/herald", Some(&first), &second).unwrap();
        drop(held);
        drop(db);
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let held = HeldCheckpoints::open(&db).unwrap();
        let back = held.get("b.test/herald").unwrap().unwrap();
        assert_eq!((back.size, back.root), (5, [2; 32]));
        assert_eq!(back.note, checkpoint(5, 2).log_signed_note());
        assert_eq!(held.sizes().unwrap(), vec![("b.test/herald".into(), 5)]);
    }

    #[test]
    fn a_damaged_value_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let held = HeldCheckpoints::open(&db).unwrap();
        held.tree.insert("x/herald", &[1u8, 2, 3][..]).unwrap();
        assert!(matches!(
            held.get("x/herald"),
            Err(HeldError::Corrupt { .. })
        ));
    }
}
