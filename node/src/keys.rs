//! The node's three secret keys and their files.
//!
//! | file (in `<data_dir>/keys/`) | what | format |
//! |---|---|---|
//! | `log.key` | the log's checkpoint signing key, name `<domain>/herald` | C2SP signer key string (`PRIVATE+KEY+…`), one line |
//! | `witness.key` | the key it cosigns other logs' checkpoints with (cosignature/v1), name `<domain>/witness` | C2SP signer key string, one line |
//! | `libp2p.key` | the node's libp2p identity (its peer id) | libp2p protobuf encoding of an Ed25519 keypair |
//! | `login.key` | the secret that keys the fake login records of unknown accounts (PAEP, [`login_secret`]) | 64 hex digits, one line |
//! | `mailbox.key` | the key mail is sealed under at rest ([`mailbox_key`]) | 64 hex digits, one line |
//!
//! Files are created with mode 0600 from the start (never widened then narrowed), written in full
//! to a temporary name and hard-linked into place, so a crash leaves either no key or a whole one,
//! and an existing key is never overwritten. Loading **refuses** a key file that group or others
//! may read (as ssh does): a leaked log key lets anyone sign a split view of the log.

use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use herald_light_client::durable_file::{self, CreateError};
use herald_proto::checkpoint::{WitnessSigner, WitnessVerifier};
use herald_proto::note::{NoteSigner, NoteVerifier};
use libp2p::PeerId;
use libp2p::identity::Keypair;

/// The file of the login secret in the key directory.
pub const LOGIN_SECRET_FILE: &str = "login.key";
/// The file of the mailbox key in the key directory.
pub const MAILBOX_KEY_FILE: &str = "mailbox.key";

/// Largest key file read: a key string is at most 1 KiB, an identity ~70 bytes.
const MAX_KEY_FILE_LEN: u64 = 4096;

/// The node's secret keys.
#[derive(Clone)]
pub struct NodeKeys {
    /// Signs the log's checkpoints; its name is the log's origin.
    pub log: NoteSigner,
    /// Cosigns other logs' checkpoints (C2SP cosignature/v1).
    pub witness: WitnessSigner,
    /// The libp2p identity; its public key gives the peer id.
    pub identity: Keypair,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signers print no secrets; the keypair is shown by its peer id only.
        f.debug_struct("NodeKeys")
            .field("log", &self.log)
            .field("witness", &self.witness)
            .field("peer_id", &self.peer_id())
            .finish()
    }
}

/// Why keys could not be made, written or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The OS random number generator failed.
    #[error("OS random number generator failed: {0}")]
    Random(getrandom::Error),
    /// The domain makes no valid key name.
    #[error("domain {domain:?} makes no valid key name: {source}")]
    BadDomain {
        /// The domain.
        domain: String,
        /// Why the key name was refused.
        source: herald_proto::note::KeyError,
    },
    /// A key file already exists; `init` never overwrites keys.
    #[error("key file {0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A key file may be read by group or others.
    #[error(
        "key file {path} has mode {mode:04o}; it must not be readable by group or others (chmod 600 {path})"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file is not a regular file or is larger than any key.
    #[error("key file {0} is not a regular file of at most 4 KiB")]
    NotAKeyFile(PathBuf),
    /// A key string does not parse.
    #[error("key file {path}: {source}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why the key string was refused.
        source: herald_proto::note::KeyError,
    },
    /// The libp2p identity does not decode.
    #[error("key file {path}: not a libp2p identity: {source}")]
    BadIdentity {
        /// The file.
        path: PathBuf,
        /// libp2p's decoding error.
        source: libp2p::identity::DecodingError,
    },
    /// A key belongs to another name than this node's domain gives.
    #[error("key file {path} is for {found:?}, but this node's key is named {expected:?}")]
    NameMismatch {
        /// The file.
        path: PathBuf,
        /// The name the configuration implies.
        expected: String,
        /// The name in the file.
        found: String,
    },
}

/// Where the key files of a key directory are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPaths {
    /// `log.key`.
    pub log: PathBuf,
    /// `witness.key`.
    pub witness: PathBuf,
    /// `libp2p.key`.
    pub identity: PathBuf,
}

impl KeyPaths {
    /// The key files in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        KeyPaths {
            log: dir.join("log.key"),
            witness: dir.join("witness.key"),
            identity: dir.join("libp2p.key"),
        }
    }
}

/// The log key's name (and the log's origin) for `domain`.
pub fn log_key_name(domain: &str) -> String {
    format!("{domain}/herald")
}

/// The witness key's name for `domain`.
pub fn witness_key_name(domain: &str) -> String {
    format!("{domain}/witness")
}

impl NodeKeys {
    /// Fresh keys for `domain` from the OS random number generator.
    pub fn generate(domain: &str) -> Result<Self, KeyFileError> {
        let mut seeds = [[0u8; 32]; 3];
        for seed in &mut seeds {
            getrandom::fill(seed).map_err(KeyFileError::Random)?;
        }
        Self::from_seeds(domain, seeds)
    }

    /// The keys made from three 32-byte seeds (log, witness, identity): deterministic, for tests.
    pub fn from_seeds(domain: &str, seeds: [[u8; 32]; 3]) -> Result<Self, KeyFileError> {
        let bad_domain = |source| KeyFileError::BadDomain {
            domain: domain.to_owned(),
            source,
        };
        let [log, witness, mut identity] = seeds;
        let log = NoteSigner::new(&log_key_name(domain), SigningKey::from_bytes(&log))
            .map_err(bad_domain)?;
        let witness =
            WitnessSigner::new(&witness_key_name(domain), SigningKey::from_bytes(&witness))
                .map_err(bad_domain)?;
        // Invariant: any 32 bytes are a valid Ed25519 secret key, so this cannot fail.
        let identity = Keypair::ed25519_from_bytes(&mut identity)
            .expect("any 32 bytes are an Ed25519 secret key");
        Ok(NodeKeys {
            log,
            witness,
            identity,
        })
    }

    /// The libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.identity.public().to_peer_id()
    }

    /// The log's verifier key (C2SP `name+keyid+base64`), which clients pin.
    pub fn log_verifier(&self) -> NoteVerifier {
        self.log.verifier()
    }

    /// The witness's verifier key, which the logs it witnesses register.
    pub fn witness_verifier(&self) -> WitnessVerifier {
        self.witness.verifier()
    }

    /// Writes the three key files into `dir` (created with mode 0700 if missing). Refuses if any
    /// of them exists, before writing anything.
    pub fn write_new(&self, dir: &Path) -> Result<KeyPaths, KeyFileError> {
        let paths = KeyPaths::in_dir(dir);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| io_error(dir, source))?;
        for p in [&paths.log, &paths.witness, &paths.identity] {
            if p.symlink_metadata().is_ok() {
                return Err(KeyFileError::Exists(p.clone()));
            }
        }
        let mut log = self.log.to_private_key_string();
        log.push('\n');
        let mut witness = self.witness.to_private_key_string();
        witness.push('\n');
        // Invariant: an Ed25519 keypair always has a protobuf encoding.
        let identity = self
            .identity
            .to_protobuf_encoding()
            .expect("an Ed25519 keypair encodes");
        write_secret(&paths.log, log.as_bytes())?;
        write_secret(&paths.witness, witness.as_bytes())?;
        write_secret(&paths.identity, &identity)?;
        Ok(paths)
    }

    /// Loads the keys of `domain` from `dir`, checking permissions, formats and names.
    pub fn load(dir: &Path, domain: &str) -> Result<Self, KeyFileError> {
        let paths = KeyPaths::in_dir(dir);
        let log_text = read_secret(&paths.log)?;
        let log =
            NoteSigner::parse(text_line(&log_text)).map_err(|source| KeyFileError::BadKey {
                path: paths.log.clone(),
                source,
            })?;
        check_name(&paths.log, &log_key_name(domain), log.name())?;
        let witness_text = read_secret(&paths.witness)?;
        let witness = WitnessSigner::parse(text_line(&witness_text)).map_err(|source| {
            KeyFileError::BadKey {
                path: paths.witness.clone(),
                source,
            }
        })?;
        check_name(&paths.witness, &witness_key_name(domain), witness.name())?;
        let identity_bytes = read_secret(&paths.identity)?;
        let identity = Keypair::from_protobuf_encoding(&identity_bytes).map_err(|source| {
            KeyFileError::BadIdentity {
                path: paths.identity.clone(),
                source,
            }
        })?;
        Ok(NodeKeys {
            log,
            witness,
            identity,
        })
    }
}

/// The gateway's login secret: the key of the fake records unknown accounts meet at login
/// (proto's `FakeRecords`). Kept across restarts in `<dir>/login.key` (mode 0600), never in
/// the database, so that an unknown account's fake record stays the same for the node's life
/// (a record that changed at each restart would tell it from a real one) and a copy of the
/// database does not reveal it. A key directory made before logins existed has none: it is
/// created at the first start (the boolean says so).
pub fn login_secret(dir: &Path) -> Result<(zeroize::Zeroizing<[u8; 32]>, bool), KeyFileError> {
    secret_file(dir, LOGIN_SECRET_FILE)
}

/// The gateway's mailbox key: the key mailboxes and the outbound queue are sealed under at rest
/// (`service::mail`). Kept in `<dir>/mailbox.key` (mode 0600), never in the database, so a copy
/// of the database holds no readable mail metadata. Made at the first start without one (the
/// boolean says so); losing it makes stored mail unreadable.
pub fn mailbox_key(dir: &Path) -> Result<(zeroize::Zeroizing<[u8; 32]>, bool), KeyFileError> {
    secret_file(dir, MAILBOX_KEY_FILE)
}

/// A 32-byte secret in `<dir>/<name>` (64 hex digits, one line), created if missing.
fn secret_file(
    dir: &Path,
    name: &str,
) -> Result<(zeroize::Zeroizing<[u8; 32]>, bool), KeyFileError> {
    let path = dir.join(name);
    match read_secret(&path) {
        Ok(bytes) => {
            let mut secret = zeroize::Zeroizing::new([0u8; 32]);
            hex::decode_to_slice(text_line(&bytes).trim(), secret.as_mut())
                .map_err(|_| KeyFileError::NotAKeyFile(path.clone()))?;
            Ok((secret, false))
        }
        Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            let mut secret = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(secret.as_mut()).map_err(KeyFileError::Random)?;
            let mut line = zeroize::Zeroizing::new(hex::encode(secret.as_ref()));
            line.push('\n');
            match write_secret(&path, line.as_bytes()) {
                Ok(()) => Ok((secret, true)),
                // Another process made it meanwhile: that one is the secret.
                Err(KeyFileError::Exists(_)) => secret_file(dir, name).map(|(s, _)| (s, false)),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

fn io_error(path: &Path, source: io::Error) -> KeyFileError {
    KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

fn check_name(path: &Path, expected: &str, found: &str) -> Result<(), KeyFileError> {
    if expected != found {
        return Err(KeyFileError::NameMismatch {
            path: path.to_owned(),
            expected: expected.to_owned(),
            found: found.to_owned(),
        });
    }
    Ok(())
}

/// The key string of a key file: invalid UTF-8 becomes text the key parser refuses.
fn text_line(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes)
        .unwrap_or("\u{fffd}")
        .trim_end_matches(['\n', '\r'])
}

/// Creates `path` holding `bytes`, mode 0600, atomically and without overwriting
/// (`durable_file::create`: temporary file synced, hard-linked, directory synced).
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    durable_file::create(path, bytes).map_err(|e| match e {
        CreateError::Exists { path } => KeyFileError::Exists(path),
        CreateError::Io(e) => io_error(&e.path, e.source),
        // `CreateError` is exhaustive today; a new case is a write that did not happen.
    })
}

/// Reads a key file after checking it is a small regular file only its owner can read.
fn read_secret(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let file = fs::File::open(path).map_err(|source| io_error(path, source))?;
    let meta = file.metadata().map_err(|source| io_error(path, source))?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::NotAKeyFile(path.to_owned()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    // The owner is not compared with our uid: a 0600 file we could open is ours or root's.
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_LEN)
        .read_to_end(&mut bytes)
        .map_err(|source| io_error(path, source))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> NodeKeys {
        NodeKeys::from_seeds("alpha.test", [[1; 32], [2; 32], [3; 32]]).unwrap()
    }

    #[test]
    fn written_keys_load_back_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys();
        let paths = keys.write_new(dir.path()).unwrap();
        for p in [&paths.log, &paths.witness, &paths.identity] {
            let mode = fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        let back = NodeKeys::load(dir.path(), "alpha.test").unwrap();
        assert_eq!(back.log_verifier(), keys.log_verifier());
        assert_eq!(back.witness_verifier(), keys.witness_verifier());
        assert_eq!(back.peer_id(), keys.peer_id());
        assert_eq!(back.log.name(), "alpha.test/herald");
        assert_eq!(back.witness.name(), "alpha.test/witness");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn existing_keys_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        keys().write_new(dir.path()).unwrap();
        let before = fs::read(dir.path().join("log.key")).unwrap();
        let other = NodeKeys::from_seeds("alpha.test", [[9; 32]; 3]).unwrap();
        assert!(matches!(
            other.write_new(dir.path()),
            Err(KeyFileError::Exists(_))
        ));
        assert_eq!(fs::read(dir.path().join("log.key")).unwrap(), before);
    }

    #[test]
    fn a_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let paths = keys().write_new(dir.path()).unwrap();
        fs::set_permissions(&paths.witness, fs::Permissions::from_mode(0o640)).unwrap();
        match NodeKeys::load(dir.path(), "alpha.test") {
            Err(KeyFileError::Permissions { path, mode }) => {
                assert_eq!(path, paths.witness);
                assert_eq!(mode, 0o640);
            }
            other => panic!("expected a permissions error, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_or_foreign_keys_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let paths = keys().write_new(dir.path()).unwrap();
        // Keys of another domain.
        assert!(matches!(
            NodeKeys::load(dir.path(), "beta.test"),
            Err(KeyFileError::NameMismatch { .. })
        ));
        // A log key with a flipped character.
        let mut text = fs::read_to_string(&paths.log).unwrap();
        text = text.replacen("PRIVATE+KEY+", "PRIVATE+KEY+x", 1);
        fs::remove_file(&paths.log).unwrap();
        write_secret(&paths.log, text.as_bytes()).unwrap();
        assert!(matches!(
            NodeKeys::load(dir.path(), "alpha.test"),
            Err(KeyFileError::BadKey { .. } | KeyFileError::NameMismatch { .. })
        ));
        // Garbage identity.
        let dir = tempfile::tempdir().unwrap();
        let paths = keys().write_new(dir.path()).unwrap();
        fs::remove_file(&paths.identity).unwrap();
        write_secret(&paths.identity, b"\xff\x00garbage").unwrap();
        assert!(matches!(
            NodeKeys::load(dir.path(), "alpha.test"),
            Err(KeyFileError::BadIdentity { .. })
        ));
        // A huge file is not read.
        fs::remove_file(&paths.identity).unwrap();
        write_secret(&paths.identity, &vec![0u8; 5000]).unwrap();
        assert!(matches!(
            NodeKeys::load(dir.path(), "alpha.test"),
            Err(KeyFileError::NotAKeyFile(_))
        ));
    }

    #[test]
    fn the_login_secret_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let (first, made) = login_secret(dir.path()).unwrap();
        assert!(made);
        let (again, made) = login_secret(dir.path()).unwrap();
        assert!(!made);
        assert_eq!(*first, *again);
        let path = dir.path().join(LOGIN_SECRET_FILE);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            login_secret(dir.path()),
            Err(KeyFileError::Permissions { .. })
        ));
        fs::remove_file(&path).unwrap();
        write_secret(&path, b"not hex\n").unwrap();
        assert!(matches!(
            login_secret(dir.path()),
            Err(KeyFileError::NotAKeyFile(_))
        ));
    }

    #[test]
    fn a_missing_key_is_an_io_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = NodeKeys::load(dir.path(), "alpha.test").unwrap_err();
        assert!(err.to_string().contains("log.key"), "{err}");
    }
}
