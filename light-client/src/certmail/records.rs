//! Where the certified-mail driver keeps the state machines' records between calls
//! ([`RecordStore`]): a directory ([`DirRecordStore`]) or memory ([`MemoryRecordStore`]).
//!
//! Records are opaque bytes here, named by kind and a lowercase hex name (a msg_id or a
//! req_hash). What they hold is the driver's business ([`super::CertMail`]); this file only
//! keeps them durable, bounded and private.
//!
//! A directory store keeps `<dir>/<kind>/<name>.<ext>`: `sent/*.record`, `sent-index/*.msgid`,
//! `received/*.record`, `evidence/*.bundle`, `offered/*.sealed`. Every save is a [`crate::durable_file::replace`]
//! (a temporary file with mode 0600, synced, renamed into place, the directory synced): a crash
//! leaves the old record or the new one. Records of the sender hold M and K (never `a` or the
//! request secrets, which the key store keeps): the store's directories are made mode 0700
//! (created so, or tightened if they exist with group or other access).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use herald_proto::wire::{
    MAX_EVIDENCE_BUNDLE_BYTES, MAX_RECIPIENT_RECORD_BYTES, MAX_SEALED_MESSAGE_BYTES,
    MAX_SENDER_RECORD_BYTES,
};

use crate::durable_file::{self, FileIoError, ReadError};

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordKind {
    /// A sender's mail, by msg_id: the sender record and the terms it was accepted under.
    Sent,
    /// req_hash → msg_id of a sent mail (receipts and inclusions name only the req_hash).
    SentIndex,
    /// A recipient's request, by req_hash.
    Received,
    /// A finished evidence bundle, by msg_id.
    Evidence,
    /// A sealed message that arrived by mail, by msg_id, kept until its recipient asks for the
    /// key (`mailed.rs`): the mail itself is gone from the mailbox once read.
    Offered,
    /// The envelope a sealed letter was mailed in, by msg_id, kept so that a resend after no
    /// answer is the very same envelope (`mailed.rs`, `resend_by_mail`): the gateways take it
    /// once and its evidence records are the same records.
    Envelope,
}

impl RecordKind {
    /// Largest record of this kind, in bytes.
    pub fn limit(self) -> usize {
        match self {
            // The sender record plus a location and a few numbers.
            RecordKind::Sent => MAX_SENDER_RECORD_BYTES + 64 * 1024,
            RecordKind::SentIndex => 64,
            RecordKind::Received => MAX_RECIPIENT_RECORD_BYTES,
            RecordKind::Evidence => MAX_EVIDENCE_BUNDLE_BYTES,
            RecordKind::Offered => MAX_SEALED_MESSAGE_BYTES,
            RecordKind::Envelope => herald_proto::wire::MAX_CLIENT_REQUEST_BYTES,
        }
    }

    fn dir(self) -> &'static str {
        match self {
            RecordKind::Sent => "sent",
            RecordKind::SentIndex => "sent-index",
            RecordKind::Received => "received",
            RecordKind::Evidence => "evidence",
            RecordKind::Offered => "offered",
            RecordKind::Envelope => "sent-envelope",
        }
    }

    fn ext(self) -> &'static str {
        match self {
            RecordKind::Sent | RecordKind::Received => "record",
            RecordKind::SentIndex => "msgid",
            RecordKind::Evidence => "bundle",
            RecordKind::Offered => "sealed",
            RecordKind::Envelope => "envelope",
        }
    }
}

/// Why the record store failed. All are local failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordStoreError {
    /// A record name is not 2 to 128 lowercase hex digits.
    #[error("record name {name:?} is not lowercase hex")]
    BadName {
        /// The name.
        name: String,
    },
    /// A record is larger than its kind allows: it was not read (or not written).
    #[error("record {path} is larger than {limit} bytes")]
    TooLarge {
        /// The file (or the name, for memory stores).
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// Reading or writing failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Durable storage of records. When `save` or `remove` returns, the change survives a crash.
pub trait RecordStore {
    /// The record, or `None`.
    fn load(&self, kind: RecordKind, name: &str) -> Result<Option<Vec<u8>>, RecordStoreError>;
    /// Creates or replaces the record.
    fn save(&self, kind: RecordKind, name: &str, bytes: &[u8]) -> Result<(), RecordStoreError>;
    /// Removes the record if present.
    fn remove(&self, kind: RecordKind, name: &str) -> Result<(), RecordStoreError>;
    /// The names of the records of a kind, sorted.
    fn list(&self, kind: RecordKind) -> Result<Vec<String>, RecordStoreError>;
}

impl<S: RecordStore + ?Sized> RecordStore for &S {
    fn load(&self, kind: RecordKind, name: &str) -> Result<Option<Vec<u8>>, RecordStoreError> {
        (**self).load(kind, name)
    }
    fn save(&self, kind: RecordKind, name: &str, bytes: &[u8]) -> Result<(), RecordStoreError> {
        (**self).save(kind, name, bytes)
    }
    fn remove(&self, kind: RecordKind, name: &str) -> Result<(), RecordStoreError> {
        (**self).remove(kind, name)
    }
    fn list(&self, kind: RecordKind) -> Result<Vec<String>, RecordStoreError> {
        (**self).list(kind)
    }
}

fn check_name(name: &str) -> Result<(), RecordStoreError> {
    let ok = (2..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RecordStoreError::BadName {
            name: name.chars().take(140).collect(),
        })
    }
}

fn too_large(kind: RecordKind, path: PathBuf, len: usize) -> Result<(), RecordStoreError> {
    if len > kind.limit() {
        return Err(RecordStoreError::TooLarge {
            path,
            limit: kind.limit(),
        });
    }
    Ok(())
}

/// Records in a directory the caller chooses (created on the first save).
#[derive(Clone, Debug)]
pub struct DirRecordStore {
    dir: PathBuf,
}

fn io_error(e: FileIoError) -> RecordStoreError {
    RecordStoreError::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    }
}

impl DirRecordStore {
    /// A store in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirRecordStore { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a record.
    pub fn path(&self, kind: RecordKind, name: &str) -> Result<PathBuf, RecordStoreError> {
        check_name(name)?;
        Ok(self
            .dir
            .join(kind.dir())
            .join(format!("{name}.{}", kind.ext())))
    }
}

impl RecordStore for DirRecordStore {
    fn load(&self, kind: RecordKind, name: &str) -> Result<Option<Vec<u8>>, RecordStoreError> {
        let path = self.path(kind, name)?;
        match durable_file::read_bounded(&path, kind.limit()) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(ReadError::Io(e)) if e.is_not_found() => Ok(None),
            Err(ReadError::Io(e)) => Err(io_error(e)),
            Err(ReadError::TooLarge { path, limit }) => {
                Err(RecordStoreError::TooLarge { path, limit })
            }
        }
    }

    fn save(&self, kind: RecordKind, name: &str, bytes: &[u8]) -> Result<(), RecordStoreError> {
        let path = self.path(kind, name)?;
        too_large(kind, path.clone(), bytes.len())?;
        // Records hold secrets and plaintexts: the store's own directories are private.
        durable_file::make_private_dir(&self.dir).map_err(io_error)?;
        durable_file::make_private_dir(&self.dir.join(kind.dir())).map_err(io_error)?;
        durable_file::replace(&path, bytes).map_err(io_error)
    }

    fn remove(&self, kind: RecordKind, name: &str) -> Result<(), RecordStoreError> {
        let path = self.path(kind, name)?;
        match fs::remove_file(&path) {
            Ok(()) => durable_file::sync_dir(&self.dir.join(kind.dir())).map_err(io_error),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(RecordStoreError::Io {
                action: "removing",
                path,
                source,
            }),
        }
    }

    fn list(&self, kind: RecordKind) -> Result<Vec<String>, RecordStoreError> {
        let dir = self.dir.join(kind.dir());
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(RecordStoreError::Io {
                    action: "listing",
                    path: dir,
                    source,
                });
            }
        };
        let suffix = format!(".{}", kind.ext());
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| RecordStoreError::Io {
                action: "listing",
                path: dir.clone(),
                source,
            })?;
            let file = entry.file_name();
            // Other files (temporaries, anything a person put there) are not records.
            if let Some(name) = file.to_str().and_then(|f| f.strip_suffix(&suffix))
                && check_name(name).is_ok()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// Records in memory (tests, and apps that persist elsewhere).
#[derive(Debug, Default)]
pub struct MemoryRecordStore {
    records: Mutex<BTreeMap<(RecordKind, String), Vec<u8>>>,
}

impl MemoryRecordStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RecordStore for MemoryRecordStore {
    fn load(&self, kind: RecordKind, name: &str) -> Result<Option<Vec<u8>>, RecordStoreError> {
        check_name(name)?;
        // A poisoned lock only means another thread panicked between whole-value updates.
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        Ok(records.get(&(kind, name.to_owned())).cloned())
    }

    fn save(&self, kind: RecordKind, name: &str, bytes: &[u8]) -> Result<(), RecordStoreError> {
        check_name(name)?;
        too_large(kind, PathBuf::from(name), bytes.len())?;
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.insert((kind, name.to_owned()), bytes.to_vec());
        Ok(())
    }

    fn remove(&self, kind: RecordKind, name: &str) -> Result<(), RecordStoreError> {
        check_name(name)?;
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.remove(&(kind, name.to_owned()));
        Ok(())
    }

    fn list(&self, kind: RecordKind) -> Result<Vec<String>, RecordStoreError> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        Ok(records
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn records_round_trip_privately_and_list_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirRecordStore::new(dir.path().join("cm"));
        assert_eq!(store.load(RecordKind::Sent, "00ff").unwrap(), None);
        store.save(RecordKind::Sent, "00ff", b"one").unwrap();
        store.save(RecordKind::Sent, "00ff", b"two").unwrap();
        store.save(RecordKind::Received, "ab", b"r").unwrap();
        assert_eq!(
            store.load(RecordKind::Sent, "00ff").unwrap().as_deref(),
            Some(&b"two"[..])
        );
        assert_eq!(store.list(RecordKind::Sent).unwrap(), vec!["00ff"]);
        assert_eq!(
            store.list(RecordKind::Evidence).unwrap(),
            Vec::<String>::new()
        );
        let path = store.path(RecordKind::Sent, "00ff").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let sent = path.parent().unwrap();
        assert_eq!(
            fs::metadata(sent).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // Only the record itself is in the directory: no temporaries left.
        assert_eq!(fs::read_dir(sent).unwrap().count(), 1);
        store.remove(RecordKind::Sent, "00ff").unwrap();
        store.remove(RecordKind::Sent, "00ff").unwrap();
        assert_eq!(store.load(RecordKind::Sent, "00ff").unwrap(), None);
    }

    #[test]
    fn names_cannot_leave_the_directory_and_sizes_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirRecordStore::new(dir.path());
        for bad in ["../x", "AB", "", "a", "zz", &"a".repeat(130)] {
            assert!(matches!(
                store.save(RecordKind::Sent, bad, b"x"),
                Err(RecordStoreError::BadName { .. })
            ));
        }
        let big = vec![0u8; RecordKind::SentIndex.limit() + 1];
        assert!(matches!(
            store.save(RecordKind::SentIndex, "aa", &big),
            Err(RecordStoreError::TooLarge { .. })
        ));
        // A file grown past the limit behind the store's back is not read.
        let path = store.path(RecordKind::SentIndex, "aa").unwrap();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &big).unwrap();
        assert!(matches!(
            store.load(RecordKind::SentIndex, "aa"),
            Err(RecordStoreError::TooLarge { .. })
        ));
        let memory = MemoryRecordStore::new();
        assert!(memory.save(RecordKind::SentIndex, "aa", &big).is_err());
        memory.save(RecordKind::Evidence, "aa", b"e").unwrap();
        assert_eq!(memory.list(RecordKind::Evidence).unwrap(), vec!["aa"]);
    }
}
