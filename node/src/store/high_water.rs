//! The high-water mark: the largest tree this log ever signed and made durable, kept outside
//! sled so that a log whose sled lost committed rounds is refused instead of written on.
//!
//! Why: the sealed files and the acks trust sled never to lose a flushed batch. If it does (a
//! partial backup restore, a storage fault that loses the tail of `db`), opening found a smaller
//! committed size, cut the newer sealed records as "a round that never committed", and the
//! sequencer then signed a second tree at sizes it had already signed: a fork of itself that
//! peers prove as an equivocation (reliability review F3). With the mark, `LogStore` refuses to open a
//! log shorter than what it signed, naming both sizes, before anything is cut.
//!
//! When: after a round's sled batch is flushed and before its head is published (so before the
//! checkpoint can reach a reader, a submitter or a peer), [`HighWater::raise`] writes the new
//! size and root and syncs the file. Written before the flush instead, a crash in between
//! would leave a mark above the committed log and refuse a log that lost nothing.
//!
//! File `sealed/high-water`: two 64-byte slots, each `"hwm1"` ‖ u64 BE size ‖ 32-byte root ‖
//! 8-byte check (BLAKE3 of the 44 bytes before it) ‖ zeros. A raise rewrites the slot that does
//! not hold the current mark, so a torn write leaves the previous mark readable; reading takes
//! the valid slot of the larger size. The file and its directory are synced when it is created.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use herald_proto::merkle::{HASH_LEN, Hash};

use super::error::ReadError;

/// The file's name in the sealed directory.
pub(crate) const FILE_NAME: &str = "high-water";
const MAGIC: &[u8; 4] = b"hwm1";
const SLOT: usize = 64;
const BODY: usize = 4 + 8 + HASH_LEN;
const CHECK: usize = 8;

/// A signed tree: its size and root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) size: u64,
    pub(crate) root: Hash,
}

fn encode(mark: Mark) -> [u8; SLOT] {
    let mut slot = [0u8; SLOT];
    slot[..4].copy_from_slice(MAGIC);
    slot[4..12].copy_from_slice(&mark.size.to_be_bytes());
    slot[12..BODY].copy_from_slice(&mark.root);
    let check = blake3::hash(&slot[..BODY]);
    slot[BODY..BODY + CHECK].copy_from_slice(&check.as_bytes()[..CHECK]);
    slot
}

fn decode(slot: &[u8]) -> Option<Mark> {
    if slot.len() != SLOT || &slot[..4] != MAGIC {
        return None;
    }
    let check = blake3::hash(&slot[..BODY]);
    if slot[BODY..BODY + CHECK] != check.as_bytes()[..CHECK] {
        return None;
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&slot[4..12]);
    let mut root = [0u8; HASH_LEN];
    root.copy_from_slice(&slot[12..BODY]);
    Some(Mark {
        size: u64::from_be_bytes(size),
        root,
    })
}

fn io_error(e: io::Error) -> ReadError {
    ReadError::Io {
        file: FILE_NAME.to_owned(),
        source: e,
    }
}

/// The open mark file; the sequencer's flush raises it.
#[derive(Debug)]
pub(crate) struct HighWater {
    file: File,
    /// The current mark and the slot that holds it.
    current: Mutex<(Mark, usize)>,
}

impl HighWater {
    /// Reads the mark in `dir`: `None` if there is no file (a log made before marks existed,
    /// or the file was removed). A file with no valid slot is corrupt.
    pub(crate) fn read(dir: &Path) -> Result<Option<(Mark, usize)>, ReadError> {
        let file = match File::open(dir.join(FILE_NAME)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(e)),
        };
        let mut bytes = [0u8; 2 * SLOT];
        let mut read = 0;
        while read < bytes.len() {
            match file.read_at(&mut bytes[read..], read as u64) {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(e)),
            }
        }
        let best = (0..2)
            .filter_map(|i| decode(bytes.get(i * SLOT..(i + 1) * SLOT)?).map(|m| (m, i)))
            .max_by_key(|(m, _)| m.size);
        match best {
            Some(best) => Ok(Some(best)),
            None => Err(ReadError::corrupt(format!(
                "sealed file {FILE_NAME} holds no valid mark (remove it to start a new one at \
                 the stored size, knowing that a lost round then goes unnoticed)"
            ))),
        }
    }

    /// Opens the mark file in `dir` holding `mark` (read by [`read`](Self::read)), or creates
    /// it at `start` when `found` is `None`: both slots written, the file and `dir` synced.
    pub(crate) fn open(
        dir: &Path,
        found: Option<(Mark, usize)>,
        start: Mark,
    ) -> Result<Self, ReadError> {
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(found.is_none())
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        let current = match found {
            Some(found) => found,
            None => {
                let slot = encode(start);
                let mut both = [0u8; 2 * SLOT];
                both[..SLOT].copy_from_slice(&slot);
                both[SLOT..].copy_from_slice(&slot);
                file.write_all_at(&both, 0)
                    .and_then(|()| file.sync_all())
                    .and_then(|()| File::open(dir)?.sync_all())
                    .map_err(io_error)?;
                (start, 0)
            }
        };
        Ok(HighWater {
            file,
            current: Mutex::new(current),
        })
    }

    /// The current mark.
    #[cfg(test)]
    pub(crate) fn mark(&self) -> Mark {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    /// Records `mark` if it is larger than the current one, durably (the file's data synced)
    /// before returning. The sequencer's flush calls it after sled's flush (module docs).
    pub(crate) fn raise(&self, mark: Mark) -> io::Result<()> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if mark.size <= current.0.size {
            return Ok(());
        }
        let slot = 1 - current.1;
        self.file
            .write_all_at(&encode(mark), (slot * SLOT) as u64)?;
        self.file.sync_data()?;
        *current = (mark, slot);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(size: u64) -> Mark {
        Mark {
            size,
            root: [size as u8; HASH_LEN],
        }
    }

    #[test]
    fn a_mark_survives_reopening_and_only_rises() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(HighWater::read(dir.path()).unwrap(), None);
        let hw = HighWater::open(dir.path(), None, mark(0)).unwrap();
        hw.raise(mark(5)).unwrap();
        hw.raise(mark(9)).unwrap();
        hw.raise(mark(7)).unwrap();
        assert_eq!(hw.mark(), mark(9));
        drop(hw);
        let found = HighWater::read(dir.path()).unwrap().unwrap();
        assert_eq!(found.0, mark(9));
        let hw = HighWater::open(dir.path(), Some(found), mark(0)).unwrap();
        hw.raise(mark(10)).unwrap();
        assert_eq!(HighWater::read(dir.path()).unwrap().unwrap().0, mark(10));
    }

    #[test]
    fn a_torn_slot_leaves_the_previous_mark_and_no_valid_slot_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let hw = HighWater::open(dir.path(), None, mark(0)).unwrap();
        hw.raise(mark(3)).unwrap();
        hw.raise(mark(4)).unwrap();
        drop(hw);
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        // Mark 4 went to slot 0 (3 to slot 1): tear it.
        bytes[10] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(HighWater::read(dir.path()).unwrap().unwrap().0, mark(3));
        bytes[SLOT + 10] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            HighWater::read(dir.path()),
            Err(ReadError::Corrupt { what }) if what.contains(FILE_NAME)
        ));
        std::fs::write(&path, b"short").unwrap();
        assert!(HighWater::read(dir.path()).is_err());
    }
}
