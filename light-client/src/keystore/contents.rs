//! What a software key store holds, the operations on it, and its plaintext encoding (the bytes
//! [`super::FileKeyStore`] encrypts). Shared by the memory and file stores so both behave alike.
//!
//! Encoding (all integers little-endian; any deviation is "corrupt"):
//! ```text
//! u8 has_identity (0 or 1)
//! if 1: u16 account length ‖ account (UTF-8, 1..=320 bytes) ‖ 32-byte Ed25519 seed
//! u32 secret count (≤ MAX_SECRETS)
//! per secret, ids strictly ascending: u8 id length ‖ id ‖ 32-byte X25519 secret
//! u64 next prekey id (≥ 1)                     [file format 2 on; format 1 stops before it]
//! ```
//!
//! **Prekeys** (DESIGN §3.2) are secrets named `prekey/one-time/<id>` and `prekey/fallback/<id>`
//! (decimal id, [`super::prekey_names`]); the identity binding's own fallback prekey is
//! [`super::FALLBACK_PREKEY_ID`], prekey number 0. New prekeys are numbered from the counter,
//! which only grows, so an erased prekey's number is never given to another key (the gateway
//! refuses numbers it has seen, and a recipient's replay cache is keyed by them).

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer as _, SigningKey};
use herald_proto::wire::MAX_ACCOUNT_BYTES;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use herald_proto::paep::{Agreed, PrekeyKind};

use super::prekey_names::{parse_prekey_id, prekey_secret_id};
use super::{Identity, KeyStoreError, MAX_SECRETS, Prekey, SecretId, random_bytes};

/// The keys of one account. `Debug` shows ids and public keys only.
#[derive(Clone)]
pub(crate) struct Contents {
    identity: Option<(String, SigningKey)>,
    secrets: BTreeMap<SecretId, StaticSecret>,
    /// The public halves of secrets made here, as computed when they were made (a reader's
    /// agreement names its prekey's public half; computing it again is a scalar
    /// multiplication per mail). Never written; a secret not in it (read from a file,
    /// inserted) has its half computed when asked. Removed with its secret.
    publics: BTreeMap<SecretId, [u8; 32]>,
    /// The number the next prekey gets; never decreases.
    next_prekey: u64,
}

impl Default for Contents {
    fn default() -> Self {
        Contents {
            identity: None,
            secrets: BTreeMap::new(),
            publics: BTreeMap::new(),
            next_prekey: 1,
        }
    }
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contents")
            .field("identity", &self.identity())
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Contents {
    pub(super) fn identity(&self) -> Option<Identity> {
        self.identity.as_ref().map(|(account, key)| Identity {
            account: account.clone(),
            key: key.verifying_key(),
        })
    }

    pub(super) fn create_identity(&mut self, account: &str) -> Result<Identity, KeyStoreError> {
        let seed = Zeroizing::new(random_bytes::<32>()?);
        self.set_identity(account, SigningKey::from_bytes(&seed))
    }

    /// Makes `key` the account's IK, if the store has none yet.
    pub(super) fn set_identity(
        &mut self,
        account: &str,
        key: SigningKey,
    ) -> Result<Identity, KeyStoreError> {
        if let Some((existing, _)) = &self.identity {
            return Err(KeyStoreError::IdentityExists {
                account: existing.clone(),
            });
        }
        if account.is_empty() || account.len() > MAX_ACCOUNT_BYTES {
            return Err(KeyStoreError::InvalidAccount {
                max: MAX_ACCOUNT_BYTES,
            });
        }
        let identity = Identity {
            account: account.to_owned(),
            key: key.verifying_key(),
        };
        self.identity = Some((account.to_owned(), key));
        Ok(identity)
    }

    fn signing_key(&self) -> Result<&SigningKey, KeyStoreError> {
        self.identity
            .as_ref()
            .map(|(_, k)| k)
            .ok_or(KeyStoreError::NoIdentity)
    }

    pub(super) fn sign(&self, message: &[u8]) -> Result<Signature, KeyStoreError> {
        Ok(self.signing_key()?.sign(message))
    }

    /// IK's private half, for this module's tests only: no store method lets it out.
    #[cfg(test)]
    pub(super) fn export_identity(&self) -> Result<SigningKey, KeyStoreError> {
        self.signing_key().cloned()
    }

    pub(super) fn insert(
        &mut self,
        id: &SecretId,
        secret: StaticSecret,
    ) -> Result<(), KeyStoreError> {
        if self.secrets.contains_key(id) {
            return Err(KeyStoreError::SecretExists { id: id.clone() });
        }
        if self.secrets.len() >= MAX_SECRETS {
            return Err(KeyStoreError::Full { max: MAX_SECRETS });
        }
        self.secrets.insert(id.clone(), secret);
        Ok(())
    }

    /// A fresh secret, written clamped (one spelling per secret, as proto's `ephemeral_secret`).
    pub(super) fn generate(&mut self, id: &SecretId) -> Result<[u8; 32], KeyStoreError> {
        let mut bytes = Zeroizing::new(random_bytes::<32>()?);
        bytes[0] &= 0b1111_1000;
        bytes[31] &= 0b0111_1111;
        bytes[31] |= 0b0100_0000;
        let secret = StaticSecret::from(*bytes);
        let public = PublicKey::from(&secret).to_bytes();
        self.insert(id, secret)?;
        self.publics.insert(id.clone(), public);
        Ok(public)
    }

    fn secret(&self, id: &SecretId) -> Result<&StaticSecret, KeyStoreError> {
        self.secrets
            .get(id)
            .ok_or_else(|| KeyStoreError::UnknownSecret { id: id.clone() })
    }

    pub(super) fn public_key(&self, id: &SecretId) -> Option<[u8; 32]> {
        let secret = self.secrets.get(id)?;
        Some(
            self.publics
                .get(id)
                .copied()
                .unwrap_or_else(|| PublicKey::from(secret).to_bytes()),
        )
    }

    pub(super) fn diffie_hellman(
        &self,
        id: &SecretId,
        public: &[u8; 32],
    ) -> Result<[u8; 32], KeyStoreError> {
        let shared = self.secret(id)?.diffie_hellman(&PublicKey::from(*public));
        if !shared.was_contributory() {
            return Err(KeyStoreError::WeakKey);
        }
        Ok(shared.to_bytes())
    }

    /// Secret `id`'s private half, for this module's tests only.
    #[cfg(test)]
    pub(super) fn export_secret(&self, id: &SecretId) -> Result<StaticSecret, KeyStoreError> {
        self.secret(id).cloned()
    }

    pub(super) fn remove(&mut self, id: &SecretId) -> bool {
        self.publics.remove(id);
        self.secrets.remove(id).is_some()
    }

    pub(super) fn ids(&self) -> Vec<SecretId> {
        self.secrets.keys().cloned().collect()
    }

    /// Creates `count` prekeys of `kind` numbered from the counter; their public halves.
    pub(super) fn create_prekeys(
        &mut self,
        kind: PrekeyKind,
        count: usize,
    ) -> Result<Vec<(u64, [u8; 32])>, KeyStoreError> {
        if self.secrets.len().saturating_add(count) > MAX_SECRETS {
            return Err(KeyStoreError::Full { max: MAX_SECRETS });
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let id = self.next_prekey;
            self.next_prekey = id
                .checked_add(1)
                .ok_or(KeyStoreError::Full { max: MAX_SECRETS })?;
            out.push((id, self.generate(&prekey_secret_id(kind, id)?)?));
        }
        Ok(out)
    }

    /// The secret id and kind of prekey `id`, if it is held.
    fn prekey(&self, id: u64) -> Option<(SecretId, PrekeyKind)> {
        [PrekeyKind::OneTime, PrekeyKind::Fallback]
            .into_iter()
            .filter_map(|kind| Some((prekey_secret_id(kind, id).ok()?, kind)))
            .find(|(secret, _)| self.secrets.contains_key(secret))
    }

    /// `X25519(r[id], peer)` with the prekey's public half and kind.
    pub(super) fn prekey_agreement(
        &self,
        id: u64,
        peer: &[u8; 32],
    ) -> Result<Agreed, KeyStoreError> {
        let (secret, kind) = self.prekey(id).ok_or(KeyStoreError::UnknownPrekey { id })?;
        let shared = Zeroizing::new(self.diffie_hellman(&secret, peer)?);
        let prekey = self
            .public_key(&secret)
            .ok_or(KeyStoreError::UnknownPrekey { id })?;
        Ok(Agreed {
            prekey,
            kind,
            shared,
        })
    }

    /// Erases prekey `id`'s secret; false if it was not held.
    pub(super) fn erase_prekey(&mut self, id: u64) -> bool {
        match self.prekey(id) {
            Some((secret, _)) => self.remove(&secret),
            None => false,
        }
    }

    /// The prekeys held, by number.
    pub(super) fn prekeys(&self) -> Vec<Prekey> {
        let mut out: Vec<Prekey> = self
            .secrets
            .keys()
            .filter_map(|id| {
                let (kind, number) = parse_prekey_id(id)?;
                Some(Prekey {
                    id: number,
                    kind,
                    public_key: self.public_key(id)?,
                })
            })
            .collect();
        out.sort_by_key(|p| p.id);
        out
    }

    /// The plaintext encoding (module documentation).
    pub(super) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(64 + self.secrets.len() * 80));
        match &self.identity {
            None => out.push(0),
            Some((account, key)) => {
                out.push(1);
                // Accounts are at most MAX_ACCOUNT_BYTES (320), checked when created or decoded.
                out.extend_from_slice(&(account.len() as u16).to_le_bytes());
                out.extend_from_slice(account.as_bytes());
                out.extend_from_slice(key.as_bytes());
            }
        }
        out.extend_from_slice(&(self.secrets.len() as u32).to_le_bytes());
        for (id, secret) in &self.secrets {
            // Ids are at most MAX_SECRET_ID_BYTES (160) by construction.
            out.push(id.as_str().len() as u8);
            out.extend_from_slice(id.as_str().as_bytes());
            out.extend_from_slice(secret.as_bytes());
        }
        out.extend_from_slice(&self.next_prekey.to_le_bytes());
        out
    }

    /// Reads the plaintext encoding; the error says what is wrong. `with_prekey_counter` is
    /// false for file format 1, whose contents end after the secrets (its stores held no
    /// numbered prekey: the counter starts after any they hold all the same).
    pub(super) fn decode(bytes: &[u8], with_prekey_counter: bool) -> Result<Self, &'static str> {
        let mut r = Reader(bytes);
        let identity = match r.u8()? {
            0 => None,
            1 => {
                let len = usize::from(r.u16()?);
                let account = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| "account is not UTF-8")?
                    .to_owned();
                if account.is_empty() || account.len() > MAX_ACCOUNT_BYTES {
                    return Err("account length out of bounds");
                }
                let seed = Zeroizing::new(r.array::<32>()?);
                Some((account, SigningKey::from_bytes(&seed)))
            }
            _ => return Err("bad identity flag"),
        };
        let count = r.u32()? as usize;
        if count > MAX_SECRETS {
            return Err("too many secrets");
        }
        let mut secrets = BTreeMap::new();
        let mut last: Option<SecretId> = None;
        for _ in 0..count {
            let len = usize::from(r.u8()?);
            let id = std::str::from_utf8(r.take(len)?).map_err(|_| "secret id is not UTF-8")?;
            let id = SecretId::new(id).map_err(|_| "invalid secret id")?;
            if last.as_ref().is_some_and(|l| *l >= id) {
                return Err("secret ids out of order or repeated");
            }
            let secret = StaticSecret::from(*Zeroizing::new(r.array::<32>()?));
            secrets.insert(id.clone(), secret);
            last = Some(id);
        }
        let highest = secrets
            .keys()
            .filter_map(parse_prekey_id)
            .map(|(_, id)| id)
            .max()
            .unwrap_or(0);
        let next_prekey = if with_prekey_counter {
            let next = u64::from_le_bytes(r.array()?);
            if next == 0 || next <= highest {
                return Err("prekey counter behind the prekeys held");
            }
            next
        } else {
            highest.saturating_add(1)
        };
        if !r.0.is_empty() {
            return Err("trailing bytes");
        }
        Ok(Contents {
            identity,
            secrets,
            publics: BTreeMap::new(),
            next_prekey,
        })
    }
}

/// A cursor over the plaintext that fails instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        self.take(N)?.try_into().map_err(|_| "truncated")
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SecretId {
        SecretId::new(s).unwrap()
    }

    #[test]
    fn contents_round_trip_through_their_encoding() {
        let mut c = Contents::default();
        c.create_identity("alice@alpha.test").unwrap();
        let p = c.generate(&id("cm/b")).unwrap();
        c.insert(&id("cm/a"), StaticSecret::from([7; 32])).unwrap();
        let back = Contents::decode(&c.encode(), true).unwrap();
        assert_eq!(back.identity(), c.identity());
        assert_eq!(back.ids(), vec![id("cm/a"), id("cm/b")]);
        assert_eq!(back.public_key(&id("cm/b")), Some(p));
        assert_eq!(back.export_secret(&id("cm/a")).unwrap().to_bytes(), [7; 32]);
        // An empty store encodes too.
        let empty = Contents::decode(&Contents::default().encode(), true).unwrap();
        assert!(empty.identity().is_none() && empty.ids().is_empty());
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused() {
        let mut c = Contents::default();
        c.create_identity("bob@beta.test").unwrap();
        c.generate(&id("x")).unwrap();
        let bytes = c.encode();
        for n in 0..bytes.len() {
            assert!(Contents::decode(&bytes[..n], true).is_err(), "prefix {n}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert_eq!(
            Contents::decode(&longer, true).unwrap_err(),
            "trailing bytes"
        );
    }

    #[test]
    fn prekeys_are_numbered_once_and_the_counter_survives_encoding() {
        let mut c = Contents::default();
        let zero = c.generate(&id(super::super::FALLBACK_PREKEY_ID)).unwrap();
        let made = c.create_prekeys(PrekeyKind::OneTime, 3).unwrap();
        assert_eq!(made.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        let fallback = c.create_prekeys(PrekeyKind::Fallback, 1).unwrap();
        assert_eq!(fallback[0].0, 4);
        let listed = c.prekeys();
        assert_eq!(listed.len(), 5);
        assert_eq!(
            (listed[0].id, listed[0].kind, listed[0].public_key),
            (0, PrekeyKind::Fallback, zero)
        );
        assert_eq!(listed[4].kind, PrekeyKind::Fallback);
        // Agreement with a named prekey matches the public half; erasure ends it.
        let peer = StaticSecret::from([5; 32]);
        let agreed = c
            .prekey_agreement(2, &PublicKey::from(&peer).to_bytes())
            .unwrap();
        assert_eq!(agreed.prekey, made[1].1);
        assert_eq!(agreed.kind, PrekeyKind::OneTime);
        assert_eq!(
            *agreed.shared,
            peer.diffie_hellman(&PublicKey::from(made[1].1)).to_bytes()
        );
        assert!(c.erase_prekey(3));
        assert!(!c.erase_prekey(3));
        assert!(matches!(
            c.prekey_agreement(3, &[9; 32]),
            Err(KeyStoreError::UnknownPrekey { id: 3 })
        ));
        // The highest number was erased: the next prekey still gets a new one.
        let back = Contents::decode(&c.encode(), true).unwrap();
        let mut back2 = back.clone();
        assert_eq!(
            back2.create_prekeys(PrekeyKind::OneTime, 1).unwrap()[0].0,
            5
        );
        // A counter behind the prekeys held is corruption; format 1 has none and starts after
        // the highest held.
        let mut bytes = back.encode().to_vec();
        let n = bytes.len();
        bytes[n - 8..].copy_from_slice(&4u64.to_le_bytes());
        assert!(Contents::decode(&bytes, true).is_err());
        let v1 = &bytes[..n - 8];
        let mut old = Contents::decode(v1, false).unwrap();
        assert_eq!(old.create_prekeys(PrekeyKind::OneTime, 1).unwrap()[0].0, 5);
    }

    #[test]
    fn secrets_are_never_replaced_and_dh_refuses_low_order_keys() {
        let mut c = Contents::default();
        c.generate(&id("x")).unwrap();
        assert!(matches!(
            c.generate(&id("x")),
            Err(KeyStoreError::SecretExists { .. })
        ));
        assert!(matches!(
            c.diffie_hellman(&id("x"), &[0; 32]),
            Err(KeyStoreError::WeakKey)
        ));
        assert!(matches!(
            c.diffie_hellman(&id("y"), &[9; 32]),
            Err(KeyStoreError::UnknownSecret { .. })
        ));
        assert!(matches!(c.sign(b"m"), Err(KeyStoreError::NoIdentity)));
    }

    #[test]
    fn a_public_half_kept_from_generation_is_the_secret_s_and_goes_with_it() {
        let mut c = Contents::default();
        let made = c.generate(&id("x")).unwrap();
        let secret = c.export_secret(&id("x")).unwrap();
        assert_eq!(made, PublicKey::from(&secret).to_bytes());
        assert_eq!(c.public_key(&id("x")), Some(made));
        // Read back from its encoding: no half kept, computed, the same.
        let back = Contents::decode(&c.encode(), true).unwrap();
        assert!(back.publics.is_empty());
        assert_eq!(back.public_key(&id("x")), Some(made));
        // Removed with its secret: another secret under the same id has its own half.
        assert!(c.remove(&id("x")));
        assert_eq!(c.public_key(&id("x")), None);
        let other = StaticSecret::from([7; 32]);
        c.insert(&id("x"), other.clone()).unwrap();
        assert_eq!(
            c.public_key(&id("x")),
            Some(PublicKey::from(&other).to_bytes())
        );
        assert_ne!(c.public_key(&id("x")), Some(made));
    }
}
