//! Where a session is kept between requests: [`SessionStore`], in memory or in one encrypted
//! file.
//!
//! A saved session holds the channel's keys and counters (`pb::SessionRecord`), so it is a
//! secret as long as it lives. [`FileSessionStore`] encrypts it like the key store (0600 in a
//! 0700 directory, written atomically by [`crate::durable_file`]) under a key the caller gives —
//! the CLI's is the key store's [`FileKeyStore::file_key`](crate::keystore::FileKeyStore::file_key),
//! so the file opens only with the key store's passphrase. An app may keep sessions elsewhere by
//! implementing the trait.
//!
//! File format, version 1 (integers little-endian):
//! ```text
//! offset  size  field
//!      0     8  magic "HERALDSN"
//!      8     1  version = 1
//!      9    12  nonce (fresh for every write)
//!     21     …  ChaCha20-Poly1305(key, nonce, AD = bytes 0..21,
//!                                 u16 account length ‖ account ‖ SessionRecord protobuf)
//! ```

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use herald_proto::wire::{MAX_ACCOUNT_BYTES, MAX_SESSION_RECORD_BYTES, Validate as _, pb};
use prost::Message as _;
use zeroize::Zeroizing;

use crate::durable_file::{self, FileIoError, ReadError};

/// Largest session file read (an account, a record and the framing fit well inside).
pub const MAX_SESSION_FILE_BYTES: usize = 2048;

const MAGIC: &[u8; 8] = b"HERALDSN";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 21;

/// A session as kept between requests: the account and the channel's record.
#[derive(Clone, PartialEq)]
pub struct SavedSession {
    account: String,
    record: pb::SessionRecord,
}

impl core::fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The record holds the channel keys: never printed.
        f.debug_struct("SavedSession")
            .field("account", &self.account)
            .field("expires_at", &self.record.expires_at)
            .finish_non_exhaustive()
    }
}

impl SavedSession {
    pub(super) fn of(account: &str, record: &pb::SessionRecord) -> Self {
        SavedSession {
            account: account.to_owned(),
            record: record.clone(),
        }
    }

    /// The logged-in account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The channel's record (keys and counters: a secret).
    pub fn record(&self) -> &pb::SessionRecord {
        &self.record
    }

    /// When the session ends, Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.record.expires_at
    }
}

impl Drop for SavedSession {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.record.send_key.zeroize();
        self.record.receive_key.zeroize();
    }
}

/// Why a session store failed (local).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionStoreError {
    /// Reading, writing or removing the file failed.
    #[error(transparent)]
    Io(#[from] FileIoError),
    /// The file is larger than [`MAX_SESSION_FILE_BYTES`]; it was not read.
    #[error("session file {path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// The file is not a session this key opens: another key store's, altered, or damaged.
    #[error("session file {path} is unreadable: {reason} (log in again)")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The operating system gave no randomness.
    #[error("no randomness from the operating system: {0}")]
    Randomness(String),
}

/// Keeps one session between requests. `save` returns once the session is durable (for stores
/// that persist): the session calls it before each frame it sends.
pub trait SessionStore: Send {
    /// Replaces the kept session with `session`.
    fn save(&mut self, session: &SavedSession) -> Result<(), SessionStoreError>;

    /// The kept session, if any.
    fn load(&mut self) -> Result<Option<SavedSession>, SessionStoreError>;

    /// Forgets the kept session.
    fn clear(&mut self) -> Result<(), SessionStoreError>;
}

/// A session kept in memory only (tests; apps that log in per run).
#[derive(Debug, Default)]
pub struct MemorySessionStore(Option<SavedSession>);

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SessionStore for MemorySessionStore {
    fn save(&mut self, session: &SavedSession) -> Result<(), SessionStoreError> {
        self.0 = Some(session.clone());
        Ok(())
    }

    fn load(&mut self) -> Result<Option<SavedSession>, SessionStoreError> {
        Ok(self.0.clone())
    }

    fn clear(&mut self) -> Result<(), SessionStoreError> {
        self.0 = None;
        Ok(())
    }
}

/// A session kept in one encrypted file (see the module docs).
pub struct FileSessionStore {
    path: PathBuf,
    key: Zeroizing<[u8; 32]>,
}

impl core::fmt::Debug for FileSessionStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileSessionStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileSessionStore {
    /// The session file at `path`, encrypted under `key`. The file's directory is created
    /// private (0700) at the first save if missing.
    pub fn new(path: impl Into<PathBuf>, key: Zeroizing<[u8; 32]>) -> Self {
        FileSessionStore {
            path: path.into(),
            key,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn unreadable(&self, reason: &'static str) -> SessionStoreError {
        SessionStoreError::Unreadable {
            path: self.path.clone(),
            reason,
        }
    }

    fn seal(&self, session: &SavedSession) -> Result<Vec<u8>, SessionStoreError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| SessionStoreError::Randomness(e.to_string()))?;
        let mut out = Vec::with_capacity(MAX_SESSION_FILE_BYTES);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let mut plaintext = Zeroizing::new(Vec::with_capacity(512));
        // Accounts are at most MAX_ACCOUNT_BYTES (320): the length fits a u16.
        plaintext.extend_from_slice(&(session.account.len() as u16).to_le_bytes());
        plaintext.extend_from_slice(session.account.as_bytes());
        plaintext.extend_from_slice(&Zeroizing::new(session.record.encode_to_vec()));
        let ciphertext = ChaCha20Poly1305::new(&Key::from(*self.key))
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: &out,
                },
            )
            // Only a plaintext beyond ChaCha20's 256 GiB fails; this one is under 1 KiB.
            .map_err(|_| self.unreadable("encryption failed"))?;
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    fn open(&self, bytes: &[u8]) -> Result<SavedSession, SessionStoreError> {
        if bytes.len() < HEADER_LEN + 16 {
            return Err(self.unreadable("shorter than a header"));
        }
        let (header, ciphertext) = bytes.split_at(HEADER_LEN);
        if &header[..8] != MAGIC {
            return Err(self.unreadable("not a Herald session file"));
        }
        if header[8] != VERSION {
            return Err(self.unreadable("unknown format version"));
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&header[9..21]);
        let plaintext = Zeroizing::new(
            ChaCha20Poly1305::new(&Key::from(*self.key))
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: header,
                    },
                )
                .map_err(|_| self.unreadable("it does not open with this key store's key"))?,
        );
        let (len, rest) = plaintext
            .split_first_chunk::<2>()
            .ok_or_else(|| self.unreadable("truncated"))?;
        let len = usize::from(u16::from_le_bytes(*len));
        if len == 0 || len > MAX_ACCOUNT_BYTES || rest.len() < len {
            return Err(self.unreadable("bad account"));
        }
        let (account, record) = rest.split_at(len);
        let account = std::str::from_utf8(account)
            .map_err(|_| self.unreadable("bad account"))?
            .to_owned();
        if record.len() > MAX_SESSION_RECORD_BYTES {
            return Err(self.unreadable("bad record"));
        }
        let record =
            pb::SessionRecord::decode(record).map_err(|_| self.unreadable("bad record"))?;
        record
            .validate()
            .map_err(|_| self.unreadable("bad record"))?;
        Ok(SavedSession { account, record })
    }
}

impl SessionStore for FileSessionStore {
    fn save(&mut self, session: &SavedSession) -> Result<(), SessionStoreError> {
        let bytes = self.seal(session)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            durable_file::create_private_dir(dir)?;
        }
        Ok(durable_file::replace(&self.path, &bytes)?)
    }

    fn load(&mut self) -> Result<Option<SavedSession>, SessionStoreError> {
        match durable_file::read_bounded(&self.path, MAX_SESSION_FILE_BYTES) {
            Ok(bytes) => self.open(&bytes).map(Some),
            Err(ReadError::Io(e)) if e.is_not_found() => Ok(None),
            Err(ReadError::Io(e)) => Err(e.into()),
            Err(ReadError::TooLarge { path, limit }) => {
                Err(SessionStoreError::TooLarge { path, limit })
            }
        }
    }

    fn clear(&mut self) -> Result<(), SessionStoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(FileIoError {
                    action: "removing",
                    path: self.path.clone(),
                    source,
                }
                .into());
            }
        }
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Ok(durable_file::sync_dir(dir)?)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn saved() -> SavedSession {
        SavedSession::of(
            "bob@beta.test",
            &pb::SessionRecord {
                role: pb::SessionRole::Client as i32,
                session_id: vec![1; 16],
                send_key: vec![2; 32],
                receive_key: vec![3; 32],
                send_counter: 4,
                receive_counter: 5,
                expires_at: 6,
            },
        )
    }

    #[test]
    fn a_saved_session_round_trips_privately_and_only_under_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("session");
        let mut store = FileSessionStore::new(&path, Zeroizing::new([7; 32]));
        assert_eq!(store.load().unwrap(), None);
        store.save(&saved()).unwrap();
        assert_eq!(store.load().unwrap(), Some(saved()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // The keys are not in the file in clear.
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(32).any(|w| w == [2; 32]));
        // Another key store's key does not open it; a flipped byte is refused.
        let mut other = FileSessionStore::new(&path, Zeroizing::new([8; 32]));
        assert!(matches!(
            other.load(),
            Err(SessionStoreError::Unreadable { .. })
        ));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(matches!(
            store.load(),
            Err(SessionStoreError::Unreadable { .. })
        ));
        std::fs::write(&path, vec![0; MAX_SESSION_FILE_BYTES + 1]).unwrap();
        assert!(matches!(
            store.load(),
            Err(SessionStoreError::TooLarge { .. })
        ));
        store.clear().unwrap();
        assert!(!path.exists());
        store.clear().unwrap();
        assert_eq!(store.load().unwrap(), None);
        assert!(!format!("{:?}", saved()).contains("[2, 2"));
    }
}
