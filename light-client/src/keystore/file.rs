//! [`FileKeyStore`]: one account's keys in one encrypted file.
//!
//! File format, version 2 (integers little-endian):
//! ```text
//! offset  size  field
//!      0     8  magic "HERALDKS"
//!      8     1  version = 2 (1 is read too: its contents have no prekey counter)
//!      9     4  Argon2id memory cost, KiB
//!     13     4  Argon2id iterations
//!     17     4  Argon2id parallelism
//!     21    16  salt
//!     37    12  nonce (fresh for every write)
//!     49    16  check = KDF("herald v1 keystore check", key)[..16]
//!     65     …  ChaCha20-Poly1305(key, nonce, AD = bytes 0..65, contents)
//! ```
//! `key = Argon2id(passphrase, salt, costs)`, 32 bytes. The check value tells a wrong passphrase
//! (check differs) from an altered file (check matches, the AEAD fails); it costs an attacker
//! nothing the ciphertext did not already offer, since both need the Argon2id work per guess.
//! The costs are read from the file and bounded before any work ([`KdfParams::check`]).
//!
//! A new store must meet the floor of [`super::strength`]: Argon2id costs of at least 19 MiB
//! and 2 passes ([`KdfParams::check_floor`]) and a passphrase that passes
//! [`super::strength::check_passphrase`]. A store made before the floor existed (or by other
//! code) with lower costs still opens — refusing it would lock its owner out of the identity
//! key — but [`FileKeyStore::open`] re-encrypts it at once with [`KdfParams::DEFAULT`] and a
//! fresh salt (the passphrase is in hand), so the weak file is replaced before anything else
//! happens; [`FileKeyStore::rekeyed_from`] says it did, and the CLI prints a warning.
//!
//! Every change is a [`crate::durable_file::replace`] (a temporary file with mode 0600, synced,
//! renamed over the store, the directory synced), and the first write a
//! [`crate::durable_file::create`], which never replaces a file: a crash leaves the old store or
//! the new one. A handle holds an exclusive advisory lock (`flock`) on `<store>.lock` from open
//! to drop, so a second process (or a second handle) opening the store is refused with
//! [`KeyStoreError::InUse`] (after waiting at most half a second for the lock) instead of racing the first and losing one of two changes.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::Signature;
use zeroize::Zeroizing;

use super::contents::Contents;
use super::strength::{MIN_ITERATIONS, MIN_MEMORY_KIB, check_passphrase};
use herald_proto::paep::{Agreed, PrekeyKind};

use super::{Identity, KeyStoreError, Prekey, SecretId, SecureKeyStore, random_bytes};
use crate::durable_file::{self, CreateError, FileIoError, ReadError};

/// Largest key store file read, in bytes ([`super::MAX_SECRETS`] secrets fit well inside).
pub const MAX_KEY_STORE_FILE_BYTES: usize = 1024 * 1024;

const MAGIC: &[u8; 8] = b"HERALDKS";
const VERSION: u8 = 2;
/// The first format, still read: the same header, contents without the prekey counter.
const VERSION_1: u8 = 1;
const HEADER_LEN: usize = 65;
const TAG_LEN: usize = 16;
const CHECK_LABEL: &str = "herald v1 keystore check";
/// The KDF label of [`FileKeyStore::file_key`].
const FILE_KEY_LABEL: &str = "herald v1 keystore file key";

/// Argon2id costs. The file records them, so a store opens with the costs it was made with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, KiB (8 · parallelism to 1 GiB).
    pub memory_kib: u32,
    /// Passes (1 to 64).
    pub iterations: u32,
    /// Lanes (1 to 16).
    pub parallelism: u32,
}

impl KdfParams {
    /// 64 MiB, 3 passes, 1 lane: about a tenth of a second on a laptop core.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Within the bounds this code opens (a file cannot make a reader allocate more than 1 GiB
    /// or loop for long).
    pub fn check(&self) -> Result<(), &'static str> {
        if !(1..=16).contains(&self.parallelism) {
            return Err("parallelism must be 1 to 16");
        }
        if !(1..=64).contains(&self.iterations) {
            return Err("iterations must be 1 to 64");
        }
        if self.memory_kib < 8 * self.parallelism || self.memory_kib > 1024 * 1024 {
            return Err("memory must be 8·parallelism KiB to 1 GiB");
        }
        Ok(())
    }

    /// At least the floor a new store needs ([`super::strength`]: 19 MiB and 2 passes, OWASP).
    pub fn check_floor(&self) -> Result<(), &'static str> {
        if self.memory_kib < MIN_MEMORY_KIB {
            return Err("Argon2id memory must be at least 19456 KiB (19 MiB)");
        }
        if self.iterations < MIN_ITERATIONS {
            return Err("Argon2id needs at least 2 passes");
        }
        Ok(())
    }

    fn derive(&self, passphrase: &[u8], salt: &[u8; 16]) -> Zeroizing<[u8; 32]> {
        let mut key = Zeroizing::new([0u8; 32]);
        // `check` keeps every cost inside argon2's own bounds, a 16-byte salt is above its
        // minimum, and 32 bytes of output is within its limits: neither call can fail.
        if let Ok(params) =
            Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
        {
            let _ = Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password_into(
                passphrase,
                salt,
                key.as_mut(),
            );
        }
        key
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::DEFAULT
    }
}

/// A key store in an encrypted file. Keys are decrypted into memory when opened; every change is
/// durable when the method returns.
pub struct FileKeyStore {
    path: PathBuf,
    params: KdfParams,
    salt: [u8; 16],
    key: Zeroizing<[u8; 32]>,
    contents: Contents,
    /// The costs the file had when opened, if they were under the floor and it was re-keyed.
    rekeyed_from: Option<KdfParams>,
    /// The held lock on `<path>.lock`; released when the handle is dropped.
    _lock: File,
}

impl std::fmt::Debug for FileKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeyStore")
            .field("path", &self.path)
            .field("params", &self.params)
            .field("contents", &self.contents)
            .finish_non_exhaustive()
    }
}

fn io_error(e: FileIoError) -> KeyStoreError {
    KeyStoreError::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    }
}

fn check_value(key: &[u8; 32]) -> [u8; 16] {
    let full = blake3::derive_key(CHECK_LABEL, key);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// `<path>.lock`, next to the store.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Longest [`lock`] waits for a lock held elsewhere before answering [`KeyStoreError::InUse`].
const LOCK_WAIT: Duration = Duration::from_millis(500);
/// Time between two attempts to take the lock.
const LOCK_RETRY: Duration = Duration::from_millis(10);

/// Takes the store's exclusive lock, waiting at most [`LOCK_WAIT`]. The lock file is created (mode 0600) if
/// missing and never removed: removing it would let two processes lock two different files.
fn lock(path: &Path) -> Result<File, KeyStoreError> {
    let lock_path = lock_path(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|source| KeyStoreError::Io {
            action: "opening the lock file",
            path: lock_path.clone(),
            source,
        })?;
    // A lock held for a moment longer than its handle is not a second user: a process that
    // spawns a child (the CLI's tests, an app starting a helper) lends the child its open
    // files until the child's exec closes them. Wait that out, briefly, before refusing.
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(LOCK_RETRY);
            }
            Err(TryLockError::WouldBlock) => {
                return Err(KeyStoreError::InUse {
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(KeyStoreError::Io {
                    action: "locking",
                    path: lock_path,
                    source,
                });
            }
        }
    }
}

impl FileKeyStore {
    /// Creates an empty store at `path` (its directory is created with mode 0700 if missing).
    /// Refused if a file is there, if `params` are under the floor
    /// ([`KeyStoreError::WeakParams`]) or if the passphrase fails the rule of
    /// [`super::strength`] ([`KeyStoreError::WeakPassphrase`]).
    pub fn create(
        path: impl Into<PathBuf>,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<Self, KeyStoreError> {
        let path = path.into();
        params
            .check_floor()
            .map_err(|reason| KeyStoreError::WeakParams { reason })?;
        check_passphrase(passphrase)?;
        Self::create_unchecked(path, passphrase, params)
    }

    /// [`FileKeyStore::create`] without the floor: only the bounds every reader applies. Kept
    /// private; the unit tests use it to make the sub-floor stores older code could write.
    fn create_unchecked(
        path: PathBuf,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<Self, KeyStoreError> {
        params
            .check()
            .map_err(|reason| KeyStoreError::UnsupportedParams {
                path: path.clone(),
                reason,
            })?;
        if path.exists() {
            return Err(KeyStoreError::AlreadyExists { path });
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            durable_file::create_private_dir(dir).map_err(io_error)?;
        }
        let lock = lock(&path)?;
        let salt = random_bytes::<16>()?;
        let store = FileKeyStore {
            key: params.derive(passphrase, &salt),
            path,
            params,
            salt,
            contents: Contents::default(),
            rekeyed_from: None,
            _lock: lock,
        };
        store.write(&store.contents, true)?;
        Ok(store)
    }

    /// Opens the store at `path` with `passphrase`.
    pub fn open(path: impl Into<PathBuf>, passphrase: &[u8]) -> Result<Self, KeyStoreError> {
        let path = path.into();
        if !path.exists() {
            return Err(KeyStoreError::NotFound { path });
        }
        let lock = lock(&path)?;
        let bytes = match durable_file::read_bounded(&path, MAX_KEY_STORE_FILE_BYTES) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(ReadError::Io(e)) if e.is_not_found() => {
                return Err(KeyStoreError::NotFound { path });
            }
            Err(ReadError::Io(e)) => return Err(io_error(e)),
            Err(ReadError::TooLarge { path, limit }) => {
                return Err(KeyStoreError::TooLarge { path, limit });
            }
        };
        let corrupt = |reason| KeyStoreError::Corrupt {
            path: path.clone(),
            reason,
        };
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(corrupt("shorter than a header"));
        }
        let (header, ciphertext) = bytes.split_at(HEADER_LEN);
        if &header[..8] != MAGIC {
            return Err(corrupt("not a Herald key store (bad magic)"));
        }
        let version = header[8];
        if version != VERSION && version != VERSION_1 {
            return Err(KeyStoreError::UnsupportedVersion {
                path,
                version: header[8],
                supported: VERSION,
            });
        }
        let word = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let params = KdfParams {
            memory_kib: word(9),
            iterations: word(13),
            parallelism: word(17),
        };
        params
            .check()
            .map_err(|reason| KeyStoreError::UnsupportedParams {
                path: path.clone(),
                reason,
            })?;
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&header[21..37]);
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&header[37..49]);
        let key = params.derive(passphrase, &salt);
        if check_value(&key)[..] != header[49..65] {
            return Err(KeyStoreError::WrongPassphrase { path });
        }
        let plaintext = Zeroizing::new(
            ChaCha20Poly1305::new(&Key::from(*key))
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: header,
                    },
                )
                .map_err(|_| corrupt("the contents were altered (authentication failed)"))?,
        );
        let contents = Contents::decode(&plaintext, version == VERSION).map_err(corrupt)?;
        let mut store = FileKeyStore {
            path,
            params,
            salt,
            key,
            contents,
            rekeyed_from: None,
            _lock: lock,
        };
        if params.check_floor().is_err() {
            store.rekey(passphrase, KdfParams::DEFAULT)?;
            store.rekeyed_from = Some(params);
        }
        Ok(store)
    }

    /// Re-encrypts the store under `params` and a fresh salt; durable when it returns. On a
    /// failure the handle keeps the old key and the file is as it was.
    fn rekey(&mut self, passphrase: &[u8], params: KdfParams) -> Result<(), KeyStoreError> {
        let old = (self.params, self.salt, self.key.clone());
        self.salt = random_bytes::<16>()?;
        self.params = params;
        self.key = params.derive(passphrase, &self.salt);
        if let Err(e) = self.write(&self.contents, false) {
            (self.params, self.salt, self.key) = old;
            return Err(e);
        }
        tracing::warn!(
            path = %self.path.display(),
            memory_kib = old.0.memory_kib,
            iterations = old.0.iterations,
            "key store had Argon2id costs under the floor; re-encrypted with the defaults"
        );
        Ok(())
    }

    /// The Argon2id costs the file had when [`FileKeyStore::open`] found them under the floor
    /// and re-encrypted it with [`KdfParams::DEFAULT`]; `None` if it did not.
    pub fn rekeyed_from(&self) -> Option<KdfParams> {
        self.rekeyed_from
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Argon2id costs the file was made with.
    pub fn params(&self) -> KdfParams {
        self.params
    }

    /// A key for another file of this account that must be "encrypted like the key store" (the
    /// CLI's saved session): `KDF("herald v1 keystore file key", lp(store key) ‖ lp(purpose))`.
    /// It opens only with the passphrase, and changes when the store is re-keyed (the other
    /// file is then unreadable: for a session, log in again). Not a private key of the account.
    pub fn file_key(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let mut input = Zeroizing::new(Vec::with_capacity(48 + purpose.len()));
        herald_proto::entry::lp(&mut input, &self.key[..]);
        herald_proto::entry::lp(&mut input, purpose.as_bytes());
        Zeroizing::new(blake3::derive_key(FILE_KEY_LABEL, &input))
    }

    /// Applies `change` to a copy of the contents, writes the copy, and only then keeps it, so a
    /// failed write leaves memory and file alike.
    fn change<T>(
        &mut self,
        change: impl FnOnce(&mut Contents) -> Result<T, KeyStoreError>,
    ) -> Result<T, KeyStoreError> {
        let mut next = self.contents.clone();
        let out = change(&mut next)?;
        self.write(&next, false)?;
        self.contents = next;
        Ok(out)
    }

    fn sealed(&self, contents: &Contents) -> Result<Vec<u8>, KeyStoreError> {
        self.sealed_as(VERSION, &contents.encode())
    }

    /// The file of `plaintext` contents under format `version` (tests write format 1 with it).
    fn sealed_as(&self, version: u8, plaintext: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        let nonce = random_bytes::<12>()?;
        let mut out = Vec::with_capacity(HEADER_LEN + 256);
        out.extend_from_slice(MAGIC);
        out.push(version);
        for word in [
            self.params.memory_kib,
            self.params.iterations,
            self.params.parallelism,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&check_value(&self.key));
        let ciphertext = ChaCha20Poly1305::new(&Key::from(*self.key))
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &out,
                },
            )
            // Only a plaintext beyond ChaCha20's 256 GiB counter fails; contents are < 1 MiB.
            .map_err(|_| KeyStoreError::Full {
                max: super::MAX_SECRETS,
            })?;
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Writes `contents` atomically; `new` refuses to replace an existing file.
    fn write(&self, contents: &Contents, new: bool) -> Result<(), KeyStoreError> {
        let bytes = self.sealed(contents)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            durable_file::create_private_dir(dir).map_err(io_error)?;
        }
        if !new {
            return durable_file::replace(&self.path, &bytes).map_err(io_error);
        }
        durable_file::create(&self.path, &bytes).map_err(|e| match e {
            CreateError::Exists { path } => KeyStoreError::AlreadyExists { path },
            CreateError::Io(e) => io_error(e),
        })
    }
}

impl SecureKeyStore for FileKeyStore {
    fn identity(&self) -> Option<Identity> {
        self.contents.identity()
    }

    fn create_identity(&mut self, account: &str) -> Result<Identity, KeyStoreError> {
        self.change(|c| c.create_identity(account))
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, KeyStoreError> {
        self.contents.sign(message)
    }

    fn generate_secret(&mut self, id: &SecretId) -> Result<[u8; 32], KeyStoreError> {
        self.change(|c| c.generate(id))
    }

    fn public_key(&self, id: &SecretId) -> Option<[u8; 32]> {
        self.contents.public_key(id)
    }

    fn diffie_hellman(&self, id: &SecretId, public: &[u8; 32]) -> Result<[u8; 32], KeyStoreError> {
        self.contents.diffie_hellman(id, public)
    }

    fn erase(&mut self, id: &SecretId) -> Result<bool, KeyStoreError> {
        if self.contents.public_key(id).is_none() {
            return Ok(false);
        }
        self.change(|c| Ok(c.remove(id)))
    }

    fn secret_ids(&self) -> Vec<SecretId> {
        self.contents.ids()
    }

    fn create_prekeys(
        &mut self,
        kind: PrekeyKind,
        count: usize,
    ) -> Result<Vec<(u64, [u8; 32])>, KeyStoreError> {
        self.change(|c| c.create_prekeys(kind, count))
    }

    fn prekey_agreement(&self, id: u64, peer: &[u8; 32]) -> Result<Agreed, KeyStoreError> {
        self.contents.prekey_agreement(id, peer)
    }

    fn erase_prekey(&mut self, id: u64) -> Result<(), KeyStoreError> {
        self.change(|c| {
            c.erase_prekey(id)
                .then_some(())
                .ok_or(KeyStoreError::UnknownPrekey { id })
        })
    }

    fn prekeys(&self) -> Vec<Prekey> {
        self.contents.prekeys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    /// The floor, the cheapest costs a new store may have; production uses
    /// [`KdfParams::DEFAULT`].
    const FAST: KdfParams = KdfParams {
        memory_kib: MIN_MEMORY_KIB,
        iterations: MIN_ITERATIONS,
        parallelism: 1,
    };
    /// Costs older code accepted for a new store, under the floor.
    const WEAK: KdfParams = KdfParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    fn id(s: &str) -> SecretId {
        SecretId::new(s).unwrap()
    }

    fn store(dir: &Path) -> (PathBuf, Identity) {
        let path = dir.join("keys/alice.keystore");
        let mut s = FileKeyStore::create(&path, b"correct horse", FAST).unwrap();
        let me = s.create_identity("alice@alpha.test").unwrap();
        s.generate_secret(&id("cm/request/1")).unwrap();
        s.generate_secret(&id("cm/ephemeral/2")).unwrap();
        (path, me)
    }

    #[test]
    fn a_store_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, me) = store(dir.path());
        let mut s = FileKeyStore::open(&path, b"correct horse").unwrap();
        assert_eq!(s.identity(), Some(me));
        assert_eq!(s.params(), FAST);
        assert_eq!(
            s.secret_ids(),
            vec![id("cm/ephemeral/2"), id("cm/request/1")]
        );
        // A secret read back is the one written: the same agreement as its public half gives
        // from the peer's side.
        let public = s.generate_secret(&id("cm/request/4")).unwrap();
        drop(s);
        let mut s = FileKeyStore::open(&path, b"correct horse").unwrap();
        let peer = x25519_dalek::StaticSecret::from([5; 32]);
        let peer_public = x25519_dalek::PublicKey::from(&peer).to_bytes();
        assert_eq!(s.public_key(&id("cm/request/4")), Some(public));
        assert_eq!(
            s.diffie_hellman(&id("cm/request/4"), &peer_public).unwrap(),
            peer.diffie_hellman(&x25519_dalek::PublicKey::from(public))
                .to_bytes()
        );
        assert!(s.erase(&id("cm/request/4")).unwrap());
        // An erase is durable too.
        assert!(s.erase(&id("cm/request/1")).unwrap());
        drop(s);
        let s = FileKeyStore::open(&path, b"correct horse").unwrap();
        assert_eq!(s.secret_ids(), vec![id("cm/ephemeral/2")]);
        // No temporary files are left behind: the store and its lock file.
        let mut names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["alice.keystore", "alice.keystore.lock"]);
    }

    /// Two handles on one store would each write a whole file and the later rename would undo
    /// the other's change (a lost secret is a lost mail): the second open is refused while the
    /// first handle lives, and succeeds once it is dropped.
    #[test]
    fn a_store_in_use_is_refused_until_its_handle_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = store(dir.path());
        let mut first = FileKeyStore::open(&path, b"correct horse").unwrap();
        assert!(matches!(
            FileKeyStore::open(&path, b"correct horse"),
            Err(KeyStoreError::InUse { path: p }) if p == path
        ));
        assert!(matches!(
            FileKeyStore::create(
                dir.path().join("keys/alice.keystore"),
                b"another long passphrase",
                FAST
            ),
            Err(KeyStoreError::AlreadyExists { .. })
        ));
        first.generate_secret(&id("cm/request/3")).unwrap();
        drop(first);
        let second = FileKeyStore::open(&path, b"correct horse").unwrap();
        assert!(second.secret_ids().contains(&id("cm/request/3")));
    }

    #[test]
    fn the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = store(dir.path());
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        // The plaintext seed is nowhere in the file.
        let bytes = fs::read(&path).unwrap();
        let s = FileKeyStore::open(&path, b"correct horse").unwrap();
        let seed = s.contents.export_identity().unwrap().to_bytes();
        assert!(!bytes.windows(32).any(|w| w == seed));
    }

    #[test]
    fn a_wrong_passphrase_is_told_apart_from_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = store(dir.path());
        assert!(matches!(
            FileKeyStore::open(&path, b"wrong horse"),
            Err(KeyStoreError::WrongPassphrase { .. })
        ));
        let good = fs::read(&path).unwrap();
        // Any byte of the encrypted contents flipped: corrupt, not a wrong passphrase.
        for at in [HEADER_LEN, HEADER_LEN + 10, good.len() - 1] {
            let mut bad = good.clone();
            bad[at] ^= 1;
            fs::write(&path, &bad).unwrap();
            assert!(
                matches!(
                    FileKeyStore::open(&path, b"correct horse"),
                    Err(KeyStoreError::Corrupt { .. })
                ),
                "byte {at}"
            );
        }
        // The nonce is authenticated too (it is part of the associated data).
        let mut bad = good.clone();
        bad[40] ^= 1;
        fs::write(&path, &bad).unwrap();
        assert!(matches!(
            FileKeyStore::open(&path, b"correct horse"),
            Err(KeyStoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn truncated_foreign_and_oversized_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = store(dir.path());
        let good = fs::read(&path).unwrap();
        for n in [0, 8, HEADER_LEN, HEADER_LEN + TAG_LEN, good.len() - 1] {
            fs::write(&path, &good[..n]).unwrap();
            assert!(
                matches!(
                    FileKeyStore::open(&path, b"correct horse"),
                    Err(KeyStoreError::Corrupt { .. })
                ),
                "length {n}"
            );
        }
        let mut foreign = good.clone();
        foreign[0] = b'X';
        fs::write(&path, &foreign).unwrap();
        assert!(matches!(
            FileKeyStore::open(&path, b"correct horse"),
            Err(KeyStoreError::Corrupt { .. })
        ));
        let mut newer = good.clone();
        newer[8] = 3;
        fs::write(&path, &newer).unwrap();
        assert!(matches!(
            FileKeyStore::open(&path, b"correct horse"),
            Err(KeyStoreError::UnsupportedVersion { version: 3, .. })
        ));
        // A file asking for 4 TiB of memory is refused before any work.
        let mut greedy = good.clone();
        greedy[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        fs::write(&path, &greedy).unwrap();
        assert!(matches!(
            FileKeyStore::open(&path, b"correct horse"),
            Err(KeyStoreError::UnsupportedParams { .. })
        ));
        fs::write(&path, vec![0u8; MAX_KEY_STORE_FILE_BYTES + 1]).unwrap();
        assert!(matches!(
            FileKeyStore::open(&path, b"correct horse"),
            Err(KeyStoreError::TooLarge { .. })
        ));
        assert!(matches!(
            FileKeyStore::open(dir.path().join("none"), b"x"),
            Err(KeyStoreError::NotFound { .. })
        ));
    }

    /// F10 of the reliability review: `m=8 KiB, t=1` and a one-character passphrase made a
    /// store silently. Both are refused now, each with the rule it breaks, and nothing is
    /// written.
    #[test]
    fn attack_weak_kdf_costs_and_passphrases_are_refused_at_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/weak.keystore");
        for params in [
            WEAK,
            KdfParams {
                memory_kib: MIN_MEMORY_KIB - 1,
                ..FAST
            },
            KdfParams {
                iterations: MIN_ITERATIONS - 1,
                ..FAST
            },
        ] {
            assert!(
                matches!(
                    FileKeyStore::create(&path, b"correct horse battery", params),
                    Err(KeyStoreError::WeakParams { .. })
                ),
                "{params:?}"
            );
        }
        for passphrase in [&b"a"[..], b"password1234", b"aaaaaaaaaaaaaaaaaaaa"] {
            let refused = FileKeyStore::create(&path, passphrase, FAST).unwrap_err();
            assert!(
                matches!(refused, KeyStoreError::WeakPassphrase(_)),
                "{refused:?}"
            );
            assert!(refused.to_string().contains("passphrase"), "{refused}");
        }
        assert!(!path.exists());
        FileKeyStore::create(&path, b"correct horse battery", FAST).unwrap();
    }

    /// A store under the floor (made by older code) still opens — its owner is not locked out
    /// — and is re-encrypted with the default costs and a fresh salt before `open` returns.
    #[test]
    fn a_store_under_the_floor_is_rekeyed_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.keystore");
        let mut old = FileKeyStore::create_unchecked(path.clone(), b"pw", WEAK).unwrap();
        let me = old.create_identity("alice@alpha.test").unwrap();
        drop(old);
        let before = fs::read(&path).unwrap();
        let s = FileKeyStore::open(&path, b"pw").unwrap();
        assert_eq!(s.rekeyed_from(), Some(WEAK));
        assert_eq!(s.params(), KdfParams::DEFAULT);
        assert_eq!(s.identity(), Some(me.clone()));
        drop(s);
        let after = fs::read(&path).unwrap();
        assert_ne!(before[21..37], after[21..37], "a fresh salt");
        assert_eq!(
            u32::from_le_bytes(after[9..13].try_into().unwrap()),
            KdfParams::DEFAULT.memory_kib
        );
        // Opened again: at the default costs, nothing more to do.
        let s = FileKeyStore::open(&path, b"pw").unwrap();
        assert_eq!(s.rekeyed_from(), None);
        assert_eq!(s.identity(), Some(me));
        // A wrong passphrase re-keys nothing.
        drop(s);
        let path2 = dir.path().join("old2.keystore");
        drop(FileKeyStore::create_unchecked(path2.clone(), b"pw", WEAK).unwrap());
        let before = fs::read(&path2).unwrap();
        assert!(matches!(
            FileKeyStore::open(&path2, b"wrong"),
            Err(KeyStoreError::WrongPassphrase { .. })
        ));
        assert_eq!(fs::read(&path2).unwrap(), before);
    }

    #[test]
    fn prekeys_live_in_the_file_and_a_format_1_file_still_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore");
        let mut s = FileKeyStore::create(&path, b"correct horse", FAST).unwrap();
        s.create_identity("bob@beta.test").unwrap();
        let made = s.create_prekeys(PrekeyKind::OneTime, 2).unwrap();
        s.erase_prekey(made[0].0).unwrap();
        assert!(matches!(
            s.erase_prekey(made[0].0),
            Err(KeyStoreError::UnknownPrekey { .. })
        ));
        drop(s);
        let mut s = FileKeyStore::open(&path, b"correct horse").unwrap();
        assert_eq!(
            s.prekeys().iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![made[1].0]
        );
        // The erased number is never given again, across the reopening.
        assert_eq!(s.create_prekeys(PrekeyKind::Fallback, 1).unwrap()[0].0, 3);
        // A file of format 1 (no prekey counter) opens, and is written as format 2 next time.
        let mut v1 = Contents::default();
        v1.set_identity("carol@beta.test", SigningKey::from_bytes(&[4; 32]))
            .unwrap();
        v1.generate(&id(super::super::FALLBACK_PREKEY_ID)).unwrap();
        let plaintext = v1.encode();
        let bytes = s
            .sealed_as(VERSION_1, &plaintext[..plaintext.len() - 8])
            .unwrap();
        drop(s);
        fs::write(&path, bytes).unwrap();
        let mut old = FileKeyStore::open(&path, b"correct horse").unwrap();
        assert_eq!(old.identity().unwrap().account, "carol@beta.test");
        assert_eq!(old.prekeys()[0].id, 0);
        assert_eq!(old.create_prekeys(PrekeyKind::OneTime, 1).unwrap()[0].0, 1);
        assert_eq!(fs::read(&path).unwrap()[8], VERSION);
    }

    #[test]
    fn a_file_key_is_bound_to_the_store_key_and_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let a = FileKeyStore::create(dir.path().join("a"), b"correct horse", FAST).unwrap();
        let b = FileKeyStore::create(dir.path().join("b"), b"correct horse", FAST).unwrap();
        assert_ne!(*a.file_key("session"), *a.file_key("other"));
        assert_ne!(*a.file_key("session"), *b.file_key("session"));
        assert_ne!(*a.file_key("session"), *a.key);
    }

    #[test]
    fn create_never_replaces_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let (path, me) = store(dir.path());
        assert!(matches!(
            FileKeyStore::create(&path, b"another long passphrase", FAST),
            Err(KeyStoreError::AlreadyExists { .. })
        ));
        let s = FileKeyStore::open(&path, b"correct horse").unwrap();
        assert_eq!(s.identity(), Some(me));
        let mut s = s;
        assert!(matches!(
            s.create_identity("mallory@alpha.test"),
            Err(KeyStoreError::IdentityExists { .. })
        ));
    }
}
