//! Where a client keeps the last checkpoint it verified, per log origin.
//!
//! The stored value is the signed note itself, byte for byte: it is small, self-describing, and
//! verified again against the log key whenever it is loaded ([`crate::TrustedLog::open`]), so a
//! state file that was edited or belongs to another key is refused rather than trusted.
//!
//! [`FileCheckpointStore`] keeps one file per origin under a directory the caller chooses
//! (the library never picks paths or reads the environment). A save replaces the file with
//! [`crate::durable_file::replace`], so a crash leaves either the old checkpoint or the new one. Two processes saving at once each save a checkpoint they
//! verified; the later rename wins, which may be the smaller one — a later refresh proves
//! consistency from it again, so nothing unverified is ever trusted.
//!
//! A log proved to have equivocated stays refused across runs: the proof (an encoded
//! `Equivocation`) is saved next to the checkpoint (`<origin>.equivocation`) and verified again
//! when loaded. Nothing ever removes it; a user who wants to follow that log again must delete
//! the file, deliberately.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use herald_proto::checkpoint::{Checkpoint, CheckpointError, VerifiedCheckpoint};
use herald_proto::equivocation::{Equivocation, MAX_EQUIVOCATION_LEN};
use herald_proto::note::{MAX_NOTE_LEN, SignedNote};

use crate::durable_file::{self, FileIoError, ReadError};
use crate::verify::VerifyError;

/// Largest state file read, in bytes: one signed note.
pub const MAX_STATE_FILE_BYTES: usize = MAX_NOTE_LEN;

/// Why the checkpoint store failed. All of these are local failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing a state file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A state file is larger than [`MAX_STATE_FILE_BYTES`]; it was not read.
    #[error("state file {path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// A state file does not hold a checkpoint note.
    #[error("state file {path} is corrupt: {error}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why it is not a checkpoint.
        error: CheckpointError,
    },
    /// A state file holds the checkpoint of another log.
    #[error("state file {path} holds a checkpoint of {found:?}, expected {expected:?}")]
    WrongOrigin {
        /// The file.
        path: PathBuf,
        /// The origin asked for.
        expected: String,
        /// The origin in the file.
        found: String,
    },
    /// The stored checkpoint does not verify under the log key the client was given: the key
    /// is not the one used before, or the state was tampered with. Nothing is trusted from it.
    #[error("the stored checkpoint of {origin} does not verify under the given log key: {error}")]
    Untrusted {
        /// The log.
        origin: String,
        /// Why it does not verify.
        error: Box<VerifyError>,
    },
    /// A saved equivocation proof does not decode, does not verify, or is about another log or
    /// key. It is not ignored (that would trust the log again): delete it to start over
    /// ([`FileCheckpointStore::equivocation_path`] names the file).
    #[error("the saved equivocation proof against {origin} is unusable: {reason}")]
    BadEquivocation {
        /// The log the proof was saved against.
        origin: String,
        /// Why.
        reason: String,
    },
}

/// Durable storage of the last verified checkpoint of each log.
pub trait CheckpointStore {
    /// The note last saved for `origin`, or `None` if there is none.
    fn load(&self, origin: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the checkpoint of its origin. When this returns, the new checkpoint survives a
    /// crash. Only verified checkpoints can be saved.
    fn save(&self, checkpoint: &VerifiedCheckpoint) -> Result<(), StoreError>;

    /// The equivocation proof saved against `origin`, decoded (not yet verified), if any.
    fn load_equivocation(&self, origin: &str) -> Result<Option<Equivocation>, StoreError>;

    /// Saves, for good, the proof that the log of `origin` equivocated. When this returns, it
    /// survives a crash.
    fn save_equivocation(&self, origin: &str, proof: &Equivocation) -> Result<(), StoreError>;
}

/// A shared reference to a store is a store.
impl<S: CheckpointStore + ?Sized> CheckpointStore for &S {
    fn load(&self, origin: &str) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).load(origin)
    }

    fn save(&self, checkpoint: &VerifiedCheckpoint) -> Result<(), StoreError> {
        (**self).save(checkpoint)
    }

    fn load_equivocation(&self, origin: &str) -> Result<Option<Equivocation>, StoreError> {
        (**self).load_equivocation(origin)
    }

    fn save_equivocation(&self, origin: &str, proof: &Equivocation) -> Result<(), StoreError> {
        (**self).save_equivocation(origin, proof)
    }
}

/// One file per log origin in a directory.
#[derive(Clone, Debug)]
pub struct FileCheckpointStore {
    dir: PathBuf,
}

impl FileCheckpointStore {
    /// A store in `dir`, created on the first save.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileCheckpointStore { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding `origin`'s checkpoint: the origin with every byte outside
    /// `[A-Za-z0-9._-]` written `%XX` (so `alpha.test/herald` is `alpha.test%2Fherald.checkpoint`);
    /// names too long for a file system are shortened and made unique with a BLAKE3 suffix.
    pub fn path(&self, origin: &str) -> PathBuf {
        let mut name = String::with_capacity(origin.len());
        for b in origin.bytes() {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                name.push(char::from(b));
            } else {
                name.push_str(&format!("%{b:02X}"));
            }
        }
        if name.len() > 160 || name.starts_with('.') {
            let digest = blake3::hash(origin.as_bytes()).to_hex();
            name = format!(
                "{}~{}",
                &name[..name.len().min(96)].trim_start_matches('.'),
                &digest[..32]
            );
        }
        self.dir.join(format!("{name}.checkpoint"))
    }

    /// The file holding the equivocation proof against `origin`, next to its checkpoint.
    pub fn equivocation_path(&self, origin: &str) -> PathBuf {
        self.path(origin).with_extension("equivocation")
    }
}

fn io_error(e: FileIoError) -> StoreError {
    StoreError::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    }
}

impl CheckpointStore for FileCheckpointStore {
    fn load(&self, origin: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(origin);
        let note = match durable_file::read_bounded(&path, MAX_STATE_FILE_BYTES) {
            Ok(note) => note,
            Err(ReadError::Io(e)) if e.is_not_found() => return Ok(None),
            Err(ReadError::Io(e)) => return Err(io_error(e)),
            Err(ReadError::TooLarge { path, limit }) => {
                return Err(StoreError::TooLarge { path, limit });
            }
        };
        let corrupt = |error| StoreError::Corrupt {
            path: path.clone(),
            error,
        };
        let parsed = SignedNote::parse(&note).map_err(|e| corrupt(e.into()))?;
        let checkpoint = Checkpoint::parse_body(parsed.text()).map_err(corrupt)?;
        if checkpoint.origin != origin {
            return Err(StoreError::WrongOrigin {
                path,
                expected: origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(Some(note))
    }

    fn save(&self, checkpoint: &VerifiedCheckpoint) -> Result<(), StoreError> {
        durable_file::create_private_dir(&self.dir).map_err(io_error)?;
        let path = self.path(checkpoint.origin());
        durable_file::replace(&path, checkpoint.note().as_bytes()).map_err(io_error)
    }

    fn load_equivocation(&self, origin: &str) -> Result<Option<Equivocation>, StoreError> {
        let path = self.equivocation_path(origin);
        let bytes = match durable_file::read_bounded(&path, MAX_EQUIVOCATION_LEN) {
            Ok(bytes) => bytes,
            Err(ReadError::Io(e)) if e.is_not_found() => return Ok(None),
            Err(ReadError::Io(e)) => return Err(io_error(e)),
            Err(ReadError::TooLarge { path, limit }) => {
                return Err(StoreError::TooLarge { path, limit });
            }
        };
        let proof = Equivocation::decode(&bytes).map_err(|e| StoreError::BadEquivocation {
            origin: origin.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Some(proof))
    }

    fn save_equivocation(&self, origin: &str, proof: &Equivocation) -> Result<(), StoreError> {
        durable_file::create_private_dir(&self.dir).map_err(io_error)?;
        durable_file::replace(&self.equivocation_path(origin), &proof.encode()).map_err(io_error)
    }
}

/// Checkpoints kept in memory only (tests, and clients that keep no state between runs).
#[derive(Debug, Default)]
pub struct MemoryCheckpointStore {
    notes: Mutex<HashMap<String, Vec<u8>>>,
    equivocations: Mutex<HashMap<String, Equivocation>>,
}

impl MemoryCheckpointStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl CheckpointStore for MemoryCheckpointStore {
    fn load(&self, origin: &str) -> Result<Option<Vec<u8>>, StoreError> {
        // A poisoned lock only means another thread panicked mid-insert of a whole value.
        let notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        Ok(notes.get(origin).cloned())
    }

    fn save(&self, checkpoint: &VerifiedCheckpoint) -> Result<(), StoreError> {
        let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
        let note = checkpoint.note_str().as_bytes();
        // A client that submits saves once an ack: the held note's buffer is reused.
        match notes.get_mut(checkpoint.origin()) {
            Some(held) => {
                held.clear();
                held.extend_from_slice(note);
            }
            None => {
                notes.insert(checkpoint.origin().to_owned(), note.to_vec());
            }
        }
        Ok(())
    }

    fn load_equivocation(&self, origin: &str) -> Result<Option<Equivocation>, StoreError> {
        let proofs = self.equivocations.lock().unwrap_or_else(|p| p.into_inner());
        Ok(proofs.get(origin).cloned())
    }

    fn save_equivocation(&self, origin: &str, proof: &Equivocation) -> Result<(), StoreError> {
        let mut proofs = self.equivocations.lock().unwrap_or_else(|p| p.into_inner());
        proofs.insert(origin.to_owned(), proof.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::test_log::TestLog;
    use herald_proto::inclusion::LogTrust;
    use herald_proto::merkle::HashAlgorithm;

    fn verified(log: &TestLog, size: u64) -> VerifiedCheckpoint {
        LogTrust::unwitnessed(log.verifier(), HashAlgorithm::Blake3)
            .verify_checkpoint(&log.checkpoint_note(size))
            .unwrap()
    }

    #[test]
    fn a_saved_checkpoint_loads_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::new(dir.path().join("state"));
        let log = TestLog::new(5);
        assert!(store.load("alpha.test/herald").unwrap().is_none());
        store.save(&verified(&log, 3)).unwrap();
        store.save(&verified(&log, 5)).unwrap();
        // Which logs a user follows is nobody else's business: the directory is private.
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(dir.path().join("state"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        let note = store.load("alpha.test/herald").unwrap().unwrap();
        assert_eq!(note, verified(&log, 5).note().into_bytes());
        assert_eq!(
            store.path("alpha.test/herald").file_name().unwrap(),
            "alpha.test%2Fherald.checkpoint"
        );
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(store.dir()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn the_memory_store_holds_the_last_checkpoint_saved_byte_for_byte() {
        let store = MemoryCheckpointStore::new();
        let log = TestLog::new(5);
        store.save(&verified(&log, 5)).unwrap();
        // A smaller note after a larger one: the held buffer is reused, nothing of 5 is left.
        store.save(&verified(&log, 2)).unwrap();
        let note = store.load("alpha.test/herald").unwrap().unwrap();
        assert_eq!(note, verified(&log, 2).note().into_bytes());
        assert!(store.load("beta.test/herald").unwrap().is_none());
    }

    #[test]
    fn a_corrupt_state_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::new(dir.path());
        let path = store.path("alpha.test/herald");
        fs::write(&path, b"not a note").unwrap();
        assert!(matches!(
            store.load("alpha.test/herald"),
            Err(StoreError::Corrupt { .. })
        ));
        // A note whose body is not a checkpoint.
        let log = TestLog::new(1);
        let mut note = log.checkpoint_note(1);
        let text = String::from_utf8(note.clone()).unwrap();
        note = text.replacen("\n1\n", "\n01\n", 1).into_bytes();
        fs::write(&path, &note).unwrap();
        assert!(matches!(
            store.load("alpha.test/herald"),
            Err(StoreError::Corrupt {
                error: CheckpointError::BadSize,
                ..
            })
        ));
    }

    #[test]
    fn an_oversized_state_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::new(dir.path());
        fs::write(
            store.path("alpha.test/herald"),
            vec![b'a'; MAX_STATE_FILE_BYTES + 1],
        )
        .unwrap();
        assert!(matches!(
            store.load("alpha.test/herald"),
            Err(StoreError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_checkpoint_of_another_origin_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileCheckpointStore::new(dir.path());
        let beta = TestLog::with_key("beta.test/herald", [3; 32], 2);
        fs::write(store.path("alpha.test/herald"), beta.checkpoint_note(2)).unwrap();
        assert!(matches!(
            store.load("alpha.test/herald"),
            Err(StoreError::WrongOrigin { .. })
        ));
    }

    #[test]
    fn file_names_are_distinct_and_safe() {
        let store = FileCheckpointStore::new("/s");
        let a = store.path("a/b");
        let b = store.path("a%2Fb");
        assert_ne!(a, b);
        let dots = store.path("../../etc");
        assert_eq!(dots.parent().unwrap(), Path::new("/s"));
        let long = "x".repeat(500);
        let p = store.path(&long);
        assert!(p.file_name().unwrap().len() < 200);
        assert_ne!(p, store.path(&format!("{long}y")));
    }
}
