//! The account's private keys: the "IC card" of DESIGN §3.2 and §4, as a trait an app may
//! implement ([`SecureKeyStore`]), with two software implementations.
//!
//! **As the IC card** the store runs PAEP's key operations inside itself ([`card`]): it signs
//! with IK (proto's `IdentitySigner`), creates prekeys and hands out only their public halves
//! (`PrekeyCreator`), runs X25519 with a named prekey secret and erases it after use
//! (`PrekeyAgreement`), creates a named X25519 secret and agrees with it (`SecretCreator`,
//! `SecretAgreement`:
//! certified mail's request key P_req), and lists the prekeys it holds
//! ([`SecureKeyStore::prekeys`]). Login, prekey uploads, the mail envelope and certified mail go
//! through these and never see a private key.
//!
//! A store holds one account's Ed25519 identity key IK and any number of X25519 secrets named by
//! [`SecretId`] (certified-mail request keys P_req, prekeys). It signs and runs Diffie–Hellman
//! with them, and **no method returns or imports a private key**: secrets are created inside
//! ([`SecureKeyStore::create_identity`], [`SecureKeyStore::generate_secret`]) and only public
//! halves, signatures and agreement outputs come out, so a hardware store fits the trait as it
//! is. (The sender's ephemeral `a` of certified mail is not a key-store secret: it is disclosed
//! in the evidence bundle, so the driver keeps it in the sent record; see `docs/decisions.md`.)
//!
//! - [`MemoryKeyStore`]: in memory only (tests, and apps that keep keys elsewhere).
//! - [`FileKeyStore`]: one encrypted file (Argon2id from a passphrase, ChaCha20-Poly1305),
//!   versioned, written atomically with mode 0600.

pub mod card;
mod contents;
mod file;
mod memory;
mod prekey_names;
pub mod strength;

use std::io;
use std::path::PathBuf;

use ed25519_dalek::{Signature, VerifyingKey};
use herald_proto::paep::{Agreed, PrekeyKind};

pub use card::{Card, CardView};
pub use file::{FileKeyStore, KdfParams, MAX_KEY_STORE_FILE_BYTES};
pub use memory::MemoryKeyStore;
pub use prekey_names::FALLBACK_PREKEY_ID;
pub use strength::WeakPassphrase;

/// Most X25519 secrets one store holds (each request in flight holds one).
pub const MAX_SECRETS: usize = 4096;

/// Longest [`SecretId`], in bytes.
pub const MAX_SECRET_ID_BYTES: usize = 160;

/// The name of one X25519 secret in a store: 1 to [`MAX_SECRET_ID_BYTES`] bytes of printable
/// ASCII without spaces, e.g. `cm/request/<hex req_hash>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretId(String);

impl SecretId {
    /// Checks `id` against the rules above.
    pub fn new(id: impl Into<String>) -> Result<Self, KeyStoreError> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_SECRET_ID_BYTES {
            return Err(KeyStoreError::InvalidId {
                reason: "length must be 1 to 160 bytes",
            });
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(KeyStoreError::InvalidId {
                reason: "only printable ASCII without spaces",
            });
        }
        Ok(SecretId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SecretId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A prekey the store holds: its number, kind and public half (the secret stays inside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prekey {
    /// Its number (0: the identity binding's fallback prekey).
    pub id: u64,
    /// One-time or fallback.
    pub kind: PrekeyKind,
    /// `Y = X25519(r, base)`.
    pub public_key: [u8; 32],
}

/// The account a store belongs to and its public identity key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The account address, e.g. `alice@alpha.test`.
    pub account: String,
    /// IK's public half.
    pub key: VerifyingKey,
}

/// Why a key store operation failed.
///
/// [`KeyStoreError::WrongPassphrase`], [`KeyStoreError::Corrupt`], [`KeyStoreError::TooLarge`]
/// and the other file variants are about the store's file; the rest are caller errors or the
/// store's limits. None means a peer misbehaved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyStoreError {
    /// No identity key was created in this store yet.
    #[error("the key store holds no identity key yet")]
    NoIdentity,
    /// The store already holds an identity key (one store, one account).
    #[error("the key store already holds the identity key of {account}")]
    IdentityExists {
        /// Its account.
        account: String,
    },
    /// The account address is empty or too long.
    #[error("account address must be 1 to {max} bytes")]
    InvalidAccount {
        /// The limit.
        max: usize,
    },
    /// A secret id breaks the [`SecretId`] rules.
    #[error("invalid secret id: {reason}")]
    InvalidId {
        /// Which rule.
        reason: &'static str,
    },
    /// No secret has this id.
    #[error("no secret {id} in the key store")]
    UnknownSecret {
        /// The id asked for.
        id: SecretId,
    },
    /// A secret with this id exists already; secrets are never silently replaced.
    #[error("secret {id} already exists")]
    SecretExists {
        /// The id.
        id: SecretId,
    },
    /// The store holds [`MAX_SECRETS`] secrets already.
    #[error("the key store is full ({max} secrets)")]
    Full {
        /// The limit.
        max: usize,
    },
    /// No prekey has this number (never created, or erased after use).
    #[error("prekey {id} is not held (never created, or erased)")]
    UnknownPrekey {
        /// The number asked for.
        id: u64,
    },
    /// Diffie–Hellman with a low-order public key gave the all-zero output.
    #[error("X25519 with a low-order public key")]
    WeakKey,
    /// Another process (or another handle in this one) has the store open; nothing was read
    /// or changed. Each store is used by one process at a time, so no change is lost.
    #[error("key store {path} is in use by another process; try again when it has finished")]
    InUse {
        /// The file.
        path: PathBuf,
    },
    /// The passphrase does not open the file.
    #[error("wrong passphrase for key store {path}")]
    WrongPassphrase {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a key store this code can read, or it was altered.
    #[error("key store {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The file is larger than [`MAX_KEY_STORE_FILE_BYTES`]; it was not read.
    #[error("key store {path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// The file's format version is not one this code reads.
    #[error("key store {path} has format version {version}; this code reads {supported}")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u8,
        /// The version this code reads.
        supported: u8,
    },
    /// The file asks for Argon2id costs outside the bounds this code accepts (a file that asks
    /// for terabytes of memory is refused before any work).
    #[error("key store {path}: Argon2id parameters out of bounds: {reason}")]
    UnsupportedParams {
        /// The file.
        path: PathBuf,
        /// Which bound.
        reason: &'static str,
    },
    /// `create` was asked for Argon2id costs under the floor of [`strength`] (19 MiB, 2 passes).
    #[error("refused: {reason} for a new key store (the floor is the OWASP minimum)")]
    WeakParams {
        /// Which floor.
        reason: &'static str,
    },
    /// `create` was given a passphrase that fails the rule of [`strength`].
    #[error("refused: {0}")]
    WeakPassphrase(#[from] WeakPassphrase),
    /// `create` found a file already there.
    #[error("key store {path} already exists")]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// `open` found no file.
    #[error("no key store at {path}")]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// Reading or writing the file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The operating system gave no randomness.
    #[error("no randomness from the operating system: {0}")]
    Randomness(String),
}

/// Where an account's private keys live. Every method that changes the store returns only
/// once the change is durable (for stores that persist).
pub trait SecureKeyStore {
    /// The account and its identity key, or `None` before [`SecureKeyStore::create_identity`].
    fn identity(&self) -> Option<Identity>;

    /// Creates the account's identity key IK inside the store. Refused if one exists.
    fn create_identity(&mut self, account: &str) -> Result<Identity, KeyStoreError>;

    /// Signs `message` with IK.
    fn sign(&self, message: &[u8]) -> Result<Signature, KeyStoreError>;

    /// Creates a fresh X25519 secret under `id`; returns its public key.
    fn generate_secret(&mut self, id: &SecretId) -> Result<[u8; 32], KeyStoreError>;

    /// The public key of secret `id`, if there is one.
    fn public_key(&self, id: &SecretId) -> Option<[u8; 32]>;

    /// `X25519(secret id, public)`, refusing the all-zero output of a low-order key.
    fn diffie_hellman(&self, id: &SecretId, public: &[u8; 32]) -> Result<[u8; 32], KeyStoreError>;

    /// Erases secret `id`; `false` if there was none.
    fn erase(&mut self, id: &SecretId) -> Result<bool, KeyStoreError>;

    /// The ids of the secrets held, in order.
    fn secret_ids(&self) -> Vec<SecretId>;

    /// Creates `count` X25519 prekeys of `kind` inside the store, each numbered once (numbers
    /// are never reused, one-time and fallback alike, from 1); returns each one's number and
    /// public half. Durable when this returns. Provided over the named secrets (the number kept
    /// in a marker secret's name, `prekey_names`); a store with a place for a counter may do
    /// better (the software stores write one file per batch).
    fn create_prekeys(
        &mut self,
        kind: PrekeyKind,
        count: usize,
    ) -> Result<Vec<(u64, [u8; 32])>, KeyStoreError> {
        prekey_names::create(self, kind, count)
    }

    /// `X25519(r[id], peer)` with prekey `id`'s secret (0: the binding's fallback prekey),
    /// refusing a low-order `peer`.
    fn prekey_agreement(&self, id: u64, peer: &[u8; 32]) -> Result<Agreed, KeyStoreError> {
        prekey_names::agree(self, id, peer)
    }

    /// Erases prekey `id`'s secret for good ([`KeyStoreError::UnknownPrekey`] if it is not
    /// held). Durable when this returns.
    fn erase_prekey(&mut self, id: u64) -> Result<(), KeyStoreError> {
        prekey_names::erase(self, id)
    }

    /// The prekeys held, by number.
    fn prekeys(&self) -> Vec<Prekey> {
        prekey_names::list(self)
    }
}

/// Fresh OS randomness for a software store.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], KeyStoreError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| KeyStoreError::Randomness(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ids_are_bounded_printable_ascii() {
        assert!(SecretId::new("cm/request/00ff").is_ok());
        assert!(SecretId::new("").is_err());
        assert!(SecretId::new("a b").is_err());
        assert!(SecretId::new("é").is_err());
        assert!(SecretId::new("x".repeat(MAX_SECRET_ID_BYTES)).is_ok());
        assert!(SecretId::new("x".repeat(MAX_SECRET_ID_BYTES + 1)).is_err());
    }
}
