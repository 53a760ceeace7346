//! The ChaCha20-Poly1305 layer of mail at rest (DESIGN §4 "Mailboxes"): every mailbox entry and
//! every outbound-queue record is sealed under a key derived from the gateway's mailbox key
//! (`keys/mailbox.key`, never in sled) and the record's scope (the mailbox's account, or the
//! queue), with the record's sled key as associated data, so a record moved to another key or
//! mailbox does not open.
//!
//! ```text
//! k_scope = KDF("herald v1 mailbox key", lp(master) ‖ lp(scope))
//! record  = nonce (12 random bytes) ‖ ChaCha20-Poly1305(k_scope, nonce, AD = sled key, value)
//! label   = first 16 bytes of KDF("herald v1 mailbox label", lp(master) ‖ lp(account))
//! ```
//!
//! Mailboxes are named in sled keys by `label`, not by address, so the database's keys do not
//! list who receives mail either.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use herald_proto::entry::lp;
use zeroize::Zeroizing;

/// KDF label of a scope's key.
const KEY_LABEL: &str = "herald v1 mailbox key";
/// KDF label of a mailbox's name in sled keys.
const LABEL_LABEL: &str = "herald v1 mailbox label";
/// Length of a mailbox label.
pub(crate) const LABEL_LEN: usize = 16;
const NONCE_LEN: usize = 12;
/// Bytes a sealed record adds to its value: the nonce and the Poly1305 tag.
pub(crate) const SEALED_OVERHEAD: usize = NONCE_LEN + 16;

/// Why mail at rest could not be read or written (local failures: nothing from a peer).
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// A record does not open: damaged, moved, or sealed under another mailbox key.
    #[error("a mail record at rest does not open (damaged, moved, or another mailbox key)")]
    Unreadable,
    /// A record opens but does not decode.
    #[error("a mail record at rest does not decode: {0}")]
    Corrupt(String),
    /// The OS random number generator failed (no nonce, so nothing is sealed).
    #[error("the OS random number generator failed")]
    Random,
    /// sled failed.
    #[error("mail storage: {0}")]
    Storage(#[from] sled::Error),
}

/// The error of each change a failed group flush was to make durable (`db::GroupFlush`;
/// `sled::Error` is not `Clone`, so each gets its own, saying the same).
pub(crate) fn flush_failed(e: &sled::Error) -> StoreError {
    StoreError::Storage(sled::Error::Io(std::io::Error::other(format!(
        "flushing a group of changes: {e}"
    ))))
}

/// The gateway's mailbox key and what it derives.
pub(crate) struct AtRest {
    master: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for AtRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AtRest(..)")
    }
}

impl AtRest {
    pub(crate) fn new(master: Zeroizing<[u8; 32]>) -> Self {
        AtRest { master }
    }

    fn derive(&self, label: &str, scope: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut input = Zeroizing::new(Vec::with_capacity(96));
        lp(&mut input, self.master.as_ref());
        lp(&mut input, scope);
        Zeroizing::new(blake3::derive_key(label, &input))
    }

    /// The name of `account`'s mailbox in sled keys.
    pub(crate) fn label(&self, account: &str) -> [u8; LABEL_LEN] {
        let full = self.derive(LABEL_LABEL, account.as_bytes());
        let mut label = [0u8; LABEL_LEN];
        label.copy_from_slice(&full[..LABEL_LEN]);
        label
    }

    /// A keyed tag of `data` for `purpose` (e.g. a mail's identity in a dedup key), so that the
    /// database's keys name nothing a reader could confirm without the mailbox key.
    pub(crate) fn tag(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        *self.derive(purpose, data)
    }

    /// The cipher of `scope`, derived once for the records it seals or opens (a listing opens
    /// many records of one mailbox; a delivery seals several).
    pub(crate) fn scoped(&self, scope: &[u8]) -> Scoped {
        Scoped(ChaCha20Poly1305::new(&Key::from(
            *self.derive(KEY_LABEL, scope),
        )))
    }

    /// `value` sealed for `scope` under the sled key `key`.
    pub(crate) fn seal(
        &self,
        scope: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.scoped(scope).seal(key, value)
    }

    /// The value of a record sealed for `scope` under the sled key `key`.
    pub(crate) fn open(
        &self,
        scope: &[u8],
        key: &[u8],
        record: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.scoped(scope).open(key, record)
    }
}

/// The records of one scope (`AtRest::scoped`).
pub(crate) struct Scoped(ChaCha20Poly1305);

impl Scoped {
    /// `value` sealed under the sled key `key`.
    pub(crate) fn seal(&self, key: &[u8], value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| StoreError::Random)?;
        let sealed = (self.0)
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: value,
                    aad: key,
                },
            )
            // Only a value beyond ChaCha20's 256 GiB fails; mail records are bounded far below.
            .map_err(|_| StoreError::Corrupt("a record too large to seal".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The value of a record sealed under the sled key `key`.
    pub(crate) fn open(&self, key: &[u8], record: &[u8]) -> Result<Vec<u8>, StoreError> {
        if record.len() < NONCE_LEN {
            return Err(StoreError::Unreadable);
        }
        let (nonce, sealed) = record.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| StoreError::Unreadable)?;
        (self.0)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: key,
                },
            )
            .map_err(|_| StoreError::Unreadable)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Panics if a file under `dir` holds any of `needles` (what must not be at rest in clear).
    pub(crate) fn assert_no_file_holds(dir: &std::path::Path, needles: &[&[u8]]) {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                for needle in needles {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == *needle),
                        "{} holds {needle:?}",
                        path.display()
                    );
                }
            }
        }
    }

    #[test]
    fn a_record_opens_only_in_its_scope_under_its_key() {
        let at_rest = AtRest::new(Zeroizing::new([7; 32]));
        let record = at_rest.seal(b"bob@beta.test", b"k1", b"Dear Bob").unwrap();
        assert!(!record.windows(8).any(|w| w == b"Dear Bob"));
        assert_eq!(
            at_rest.open(b"bob@beta.test", b"k1", &record).unwrap(),
            b"Dear Bob"
        );
        assert!(at_rest.open(b"carol@beta.test", b"k1", &record).is_err());
        assert!(at_rest.open(b"bob@beta.test", b"k2", &record).is_err());
        let other = AtRest::new(Zeroizing::new([8; 32]));
        assert!(other.open(b"bob@beta.test", b"k1", &record).is_err());
        assert_ne!(
            at_rest.label("bob@beta.test"),
            at_rest.label("carol@beta.test")
        );
        assert_ne!(at_rest.label("bob@beta.test"), other.label("bob@beta.test"));
    }
}
