//! How prekeys are named among a key store's X25519 secrets, and the prekey operations of a
//! store that holds nothing but named secrets (an app's store over Android Keystore or the iOS
//! Keychain): [`SecureKeyStore`]'s provided prekey methods.
//!
//! - `prekey/one-time/<id>` and `prekey/fallback/<id>` (decimal, no leading zero, id ≥ 1);
//!   [`FALLBACK_PREKEY_ID`] (`prekey/fallback`) is number 0, the identity binding's prekey.
//! - **Numbers are never reused.** A store with a place for a counter keeps one (the software
//!   stores: file format 2). A store of named secrets only keeps it in a secret's name,
//!   `prekey/next/<n>` (the secret itself is unused): a batch first creates the marker of the
//!   next free number after it, then the prekeys, then erases the older marker, so a crash at any
//!   point leaves a marker at or beyond every number given (numbers may be skipped, never
//!   repeated). The next number is past every marker and every prekey held.

use herald_proto::paep::{Agreed, PrekeyKind};
use zeroize::Zeroizing;

use super::{KeyStoreError, Prekey, SecretId, SecureKeyStore};

/// The secret id of the identity binding's fallback prekey (prekey number 0).
pub const FALLBACK_PREKEY_ID: &str = "prekey/fallback";
/// Secret ids of uploaded one-time prekeys start with this, then the decimal number.
const ONE_TIME_PREFIX: &str = "prekey/one-time/";
/// Secret ids of uploaded fallback prekeys start with this, then the decimal number.
const FALLBACK_PREFIX: &str = "prekey/fallback/";
/// The counter marker of a store of named secrets: this, then the next free number.
const COUNTER_PREFIX: &str = "prekey/next/";

/// The secret id of prekey `id` of `kind` (number 0 is the binding's fallback).
pub(super) fn prekey_secret_id(kind: PrekeyKind, id: u64) -> Result<SecretId, KeyStoreError> {
    match (kind, id) {
        (PrekeyKind::Fallback, 0) => SecretId::new(FALLBACK_PREKEY_ID),
        (PrekeyKind::OneTime, _) => SecretId::new(format!("{ONE_TIME_PREFIX}{id}")),
        (PrekeyKind::Fallback, _) => SecretId::new(format!("{FALLBACK_PREFIX}{id}")),
    }
}

/// A number as this module writes it: decimal, no sign, no leading zero, at least 1.
fn number(text: &str) -> Option<u64> {
    let n: u64 = text.parse().ok()?;
    (n.to_string() == text && n > 0).then_some(n)
}

/// The prekey a secret id names, if it names one.
pub(super) fn parse_prekey_id(id: &SecretId) -> Option<(PrekeyKind, u64)> {
    let s = id.as_str();
    if s == FALLBACK_PREKEY_ID {
        return Some((PrekeyKind::Fallback, 0));
    }
    if let Some(n) = s.strip_prefix(ONE_TIME_PREFIX) {
        return Some((PrekeyKind::OneTime, number(n)?));
    }
    Some((
        PrekeyKind::Fallback,
        number(s.strip_prefix(FALLBACK_PREFIX)?)?,
    ))
}

/// The counter markers among `ids`.
fn markers(ids: &[SecretId]) -> Vec<(u64, SecretId)> {
    ids.iter()
        .filter_map(|id| {
            Some((
                number(id.as_str().strip_prefix(COUNTER_PREFIX)?)?,
                id.clone(),
            ))
        })
        .collect()
}

/// The secret id and kind of prekey `id`, if `store` holds it.
fn held<S: SecureKeyStore + ?Sized>(store: &S, id: u64) -> Option<(SecretId, PrekeyKind)> {
    [PrekeyKind::OneTime, PrekeyKind::Fallback]
        .into_iter()
        .filter_map(|kind| Some((prekey_secret_id(kind, id).ok()?, kind)))
        .find(|(secret, _)| store.public_key(secret).is_some())
}

/// [`SecureKeyStore::create_prekeys`] over named secrets (see the module docs).
pub(super) fn create<S: SecureKeyStore + ?Sized>(
    store: &mut S,
    kind: PrekeyKind,
    count: usize,
) -> Result<Vec<(u64, [u8; 32])>, KeyStoreError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let ids = store.secret_ids();
    let old = markers(&ids);
    let past_prekeys = ids
        .iter()
        .filter_map(parse_prekey_id)
        .map(|(_, id)| id.saturating_add(1))
        .max()
        .unwrap_or(1);
    let first = old.iter().map(|(n, _)| *n).fold(past_prekeys, u64::max);
    let full = || KeyStoreError::Full {
        max: super::MAX_SECRETS,
    };
    let next = first
        .checked_add(u64::try_from(count).map_err(|_| full())?)
        .ok_or_else(full)?;
    store.generate_secret(&SecretId::new(format!("{COUNTER_PREFIX}{next}"))?)?;
    let mut out = Vec::with_capacity(count);
    for id in first..next {
        out.push((id, store.generate_secret(&prekey_secret_id(kind, id)?)?));
    }
    // `next` is past every old marker (count ≥ 1), so the new marker is never among them.
    for (_, marker) in old {
        store.erase(&marker)?;
    }
    Ok(out)
}

/// [`SecureKeyStore::prekey_agreement`] over named secrets.
pub(super) fn agree<S: SecureKeyStore + ?Sized>(
    store: &S,
    id: u64,
    peer: &[u8; 32],
) -> Result<Agreed, KeyStoreError> {
    let (secret, kind) = held(store, id).ok_or(KeyStoreError::UnknownPrekey { id })?;
    let shared = Zeroizing::new(store.diffie_hellman(&secret, peer)?);
    let prekey = store
        .public_key(&secret)
        .ok_or(KeyStoreError::UnknownPrekey { id })?;
    Ok(Agreed {
        prekey,
        kind,
        shared,
    })
}

/// [`SecureKeyStore::erase_prekey`] over named secrets.
pub(super) fn erase<S: SecureKeyStore + ?Sized>(
    store: &mut S,
    id: u64,
) -> Result<(), KeyStoreError> {
    let (secret, _) = held(store, id).ok_or(KeyStoreError::UnknownPrekey { id })?;
    if store.erase(&secret)? {
        Ok(())
    } else {
        Err(KeyStoreError::UnknownPrekey { id })
    }
}

/// [`SecureKeyStore::prekeys`] over named secrets.
pub(super) fn list<S: SecureKeyStore + ?Sized>(store: &S) -> Vec<Prekey> {
    let mut out: Vec<Prekey> = store
        .secret_ids()
        .iter()
        .filter_map(|secret| {
            let (kind, id) = parse_prekey_id(secret)?;
            Some(Prekey {
                id,
                kind,
                public_key: store.public_key(secret)?,
            })
        })
        .collect();
    out.sort_by_key(|p| p.id);
    out
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signature;

    use super::super::{Identity, MemoryKeyStore};
    use super::*;

    fn id(s: &str) -> SecretId {
        SecretId::new(s).unwrap()
    }

    /// A store of named secrets only: a memory store whose prekey methods are the provided
    /// ones (as an app's store's are).
    #[derive(Default)]
    struct NamedOnly(MemoryKeyStore);

    impl SecureKeyStore for NamedOnly {
        fn identity(&self) -> Option<Identity> {
            self.0.identity()
        }
        fn create_identity(&mut self, account: &str) -> Result<Identity, KeyStoreError> {
            self.0.create_identity(account)
        }
        fn sign(&self, message: &[u8]) -> Result<Signature, KeyStoreError> {
            self.0.sign(message)
        }
        fn generate_secret(&mut self, id: &SecretId) -> Result<[u8; 32], KeyStoreError> {
            self.0.generate_secret(id)
        }
        fn public_key(&self, id: &SecretId) -> Option<[u8; 32]> {
            self.0.public_key(id)
        }
        fn diffie_hellman(&self, id: &SecretId, p: &[u8; 32]) -> Result<[u8; 32], KeyStoreError> {
            self.0.diffie_hellman(id, p)
        }
        fn erase(&mut self, id: &SecretId) -> Result<bool, KeyStoreError> {
            self.0.erase(id)
        }
        fn secret_ids(&self) -> Vec<SecretId> {
            self.0.secret_ids()
        }
    }

    #[test]
    fn only_the_canonical_spelling_of_a_number_names_a_prekey() {
        assert_eq!(
            parse_prekey_id(&id("prekey/fallback")),
            Some((PrekeyKind::Fallback, 0))
        );
        assert_eq!(
            parse_prekey_id(&id("prekey/one-time/12")),
            Some((PrekeyKind::OneTime, 12))
        );
        for odd in [
            "prekey/one-time/01",
            "prekey/one-time/+1",
            "prekey/one-time/0",
            "prekey/x/1",
        ] {
            assert_eq!(parse_prekey_id(&id(odd)), None, "{odd}");
        }
    }

    #[test]
    fn a_store_of_named_secrets_numbers_prekeys_once_with_a_marker() {
        let mut s = NamedOnly::default();
        let made = s.create_prekeys(PrekeyKind::OneTime, 3).unwrap();
        assert_eq!(made.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(s.create_prekeys(PrekeyKind::Fallback, 1).unwrap()[0].0, 4);
        // An empty batch changes nothing (the marker stays).
        assert!(s.create_prekeys(PrekeyKind::OneTime, 0).unwrap().is_empty());
        // One marker, past every number given.
        assert_eq!(
            markers(&s.secret_ids())
                .iter()
                .map(|m| m.0)
                .collect::<Vec<_>>(),
            vec![5]
        );
        // The highest is erased: its number is not given again.
        s.erase_prekey(4).unwrap();
        s.erase_prekey(3).unwrap();
        assert!(matches!(
            s.erase_prekey(3),
            Err(KeyStoreError::UnknownPrekey { id: 3 })
        ));
        assert_eq!(s.create_prekeys(PrekeyKind::OneTime, 1).unwrap()[0].0, 5);
        // A crash that left an older marker behind: the larger one counts.
        s.generate_secret(&id("prekey/next/2")).unwrap();
        assert_eq!(s.create_prekeys(PrekeyKind::OneTime, 1).unwrap()[0].0, 6);
        assert_eq!(markers(&s.secret_ids()).len(), 1);
        let listed: Vec<u64> = s.prekeys().iter().map(|p| p.id).collect();
        assert_eq!(listed, vec![1, 2, 5, 6]);
        let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([3; 32]));
        let agreed = s.prekey_agreement(5, peer.as_bytes()).unwrap();
        assert_eq!(agreed.kind, PrekeyKind::OneTime);
    }
}
