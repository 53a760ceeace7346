//! The account's key store: [`SecureKeyStore`], the interface an app implements over Android
//! Keystore, the iOS Keychain or a smart card (the seed's "IC card"), and its adaptation to the
//! light client's `keystore::SecureKeyStore`.
//!
//! The interface is the key-store operations of `herald_proto::paep::keystore`: create the identity key inside, sign with
//! it, create X25519 secrets inside (returning only the public half), X25519 agreement with a
//! named secret, erase a secret, list. **No method returns a private key**, and none takes one.
//!
//! Everything runs on those operations: making and signing the account's registration
//! (`HeraldAccount::register`), prekey secrets, identity lookups, and certified mail — proto's
//! machines sign through `sign`, the recipient's request key P_req is made with `create_secret`
//! (named `cm/p_req/<hex nonce>`), K is unwrapped from `agree`'s output, and P_req's secret is
//! erased with `erase` when the mail is finished. The sender needs no secret in the store. The
//! binding also offers the light client's encrypted file store (`HeraldClient::create_account` /
//! `open_account`).
//!
//! Everything the app's store answers is checked like any input: public keys are 32 bytes (IK a
//! valid Ed25519 point), signatures 64 bytes and valid under IK (a store that signs with another
//! key is caught at once), agreement outputs 32 bytes and not all zero, ids within the light
//! client's `SecretId` rules, lists within `MAX_SECRETS`.

use std::sync::Arc;

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use herald_light_client::keystore::{
    FileKeyStore, Identity, KeyStoreError, MAX_SECRETS, Prekey, SecretId,
    SecureKeyStore as RustKeyStore,
};
use herald_proto::paep::{Agreed, PrekeyKind};

use crate::error::{AppKeyStoreFailure, HeraldError};

/// The account's identity as a key store reports it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct KeyStoreIdentity {
    /// The account address, e.g. `alice@alpha.test`.
    pub account: String,
    /// IK's public half (32 bytes, Ed25519).
    pub identity_key: Vec<u8>,
}

/// Where an account's private keys live, implemented by the app (see the module docs). Methods
/// may block (a hardware store, a user prompt); they are called from the binding's own threads,
/// never the app's main thread. Throw [`HeraldError::KeyStoreLocked`] when the platform keeps
/// the keys locked; any other [`HeraldError`] reaches the caller unchanged.
#[uniffi::export(with_foreign)]
pub trait SecureKeyStore: Send + Sync {
    /// The account and IK's public half, or none before `create_identity`.
    fn identity(&self) -> Result<Option<KeyStoreIdentity>, HeraldError>;

    /// Creates the account's Ed25519 identity key inside the store; returns its public half.
    /// Refused if one exists (one store, one account).
    fn create_identity(&self, account: String) -> Result<Vec<u8>, HeraldError>;

    /// Signs `message` with IK (Ed25519, 64 bytes).
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, HeraldError>;

    /// Creates a fresh X25519 secret under `id` inside the store; returns its public half.
    fn create_secret(&self, id: String) -> Result<Vec<u8>, HeraldError>;

    /// The public half of secret `id`, or none.
    fn public_key(&self, id: String) -> Result<Option<Vec<u8>>, HeraldError>;

    /// X25519 of secret `id` with `peer_public` (32 bytes each way).
    fn agree(&self, id: String, peer_public: Vec<u8>) -> Result<Vec<u8>, HeraldError>;

    /// Erases secret `id`; false if there was none.
    fn erase(&self, id: String) -> Result<bool, HeraldError>;

    /// The ids of the secrets held.
    fn list(&self) -> Result<Vec<String>, HeraldError>;
}

/// The app's store as the light client's key store (see the module docs for what it refuses).
pub(crate) struct AppKeyStore {
    store: Arc<dyn SecureKeyStore>,
    /// Read once when the account is opened, checked, and fixed from then on.
    identity: Option<Identity>,
}

impl std::fmt::Debug for AppKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKeyStore")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// An app's error, carried through `KeyStoreError` (see [`AppKeyStoreFailure`]).
fn carried(e: HeraldError) -> KeyStoreError {
    KeyStoreError::Io {
        action: "the app's key store",
        path: std::path::PathBuf::new(),
        source: std::io::Error::other(AppKeyStoreFailure(e)),
    }
}

fn misbehaved(what: &str) -> KeyStoreError {
    carried(HeraldError::internal(format!(
        "the app's key store answered {what}"
    )))
}

fn key32(bytes: &[u8], what: &str) -> Result<[u8; 32], KeyStoreError> {
    bytes
        .try_into()
        .map_err(|_| misbehaved(&format!("{what} of {} bytes, not 32", bytes.len())))
}

fn identity_of(reported: KeyStoreIdentity) -> Result<Identity, KeyStoreError> {
    let key = key32(&reported.identity_key, "an identity key")?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| misbehaved("an invalid identity key"))?;
    Ok(Identity {
        account: reported.account,
        key,
    })
}

impl AppKeyStore {
    /// The app's store for `account`: its identity is read (and created inside the store if it
    /// has none yet) and checked.
    pub(crate) fn open(
        store: Arc<dyn SecureKeyStore>,
        account: &str,
    ) -> Result<Self, KeyStoreError> {
        let mut keys = AppKeyStore {
            store,
            identity: None,
        };
        let reported = keys.store.identity().map_err(carried)?;
        match reported {
            Some(reported) => {
                let identity = identity_of(reported)?;
                if identity.account != account {
                    return Err(KeyStoreError::IdentityExists {
                        account: identity.account,
                    });
                }
                keys.identity = Some(identity);
            }
            None => {
                keys.create_identity(account)?;
            }
        }
        Ok(keys)
    }
}

impl RustKeyStore for AppKeyStore {
    fn identity(&self) -> Option<Identity> {
        self.identity.clone()
    }

    fn create_identity(&mut self, account: &str) -> Result<Identity, KeyStoreError> {
        if let Some(existing) = &self.identity {
            return Err(KeyStoreError::IdentityExists {
                account: existing.account.clone(),
            });
        }
        let public = self
            .store
            .create_identity(account.to_owned())
            .map_err(carried)?;
        let identity = identity_of(KeyStoreIdentity {
            account: account.to_owned(),
            identity_key: public,
        })?;
        self.identity = Some(identity.clone());
        Ok(identity)
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, KeyStoreError> {
        let identity = self.identity.as_ref().ok_or(KeyStoreError::NoIdentity)?;
        let bytes = self.store.sign(message.to_vec()).map_err(carried)?;
        let bytes: [u8; 64] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| misbehaved(&format!("a signature of {} bytes, not 64", bytes.len())))?;
        let signature = Signature::from_bytes(&bytes);
        identity
            .key
            .verify(message, &signature)
            .map_err(|_| misbehaved("a signature that does not verify under its identity key"))?;
        Ok(signature)
    }

    fn generate_secret(&mut self, id: &SecretId) -> Result<[u8; 32], KeyStoreError> {
        let public = self
            .store
            .create_secret(id.as_str().to_owned())
            .map_err(carried)?;
        key32(&public, "a public key")
    }

    fn public_key(&self, id: &SecretId) -> Option<[u8; 32]> {
        // The light client's trait has no error here: a failing store reads as "no such key",
        // and the operation that needs the key then fails with the store's error.
        match self.store.public_key(id.as_str().to_owned()) {
            Ok(Some(p)) => key32(&p, "a public key").ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "the app's key store failed to give a public key");
                None
            }
        }
    }

    fn diffie_hellman(&self, id: &SecretId, public: &[u8; 32]) -> Result<[u8; 32], KeyStoreError> {
        let shared = self
            .store
            .agree(id.as_str().to_owned(), public.to_vec())
            .map_err(carried)?;
        let shared = key32(&shared, "an agreement")?;
        if shared == [0; 32] {
            return Err(KeyStoreError::WeakKey);
        }
        Ok(shared)
    }

    fn erase(&mut self, id: &SecretId) -> Result<bool, KeyStoreError> {
        self.store.erase(id.as_str().to_owned()).map_err(carried)
    }

    fn secret_ids(&self) -> Vec<SecretId> {
        match self.store.list() {
            Ok(ids) => {
                let mut ids: Vec<SecretId> = ids
                    .into_iter()
                    .take(MAX_SECRETS)
                    .filter_map(|id| SecretId::new(id).ok())
                    .collect();
                ids.sort();
                ids.dedup();
                ids
            }
            Err(e) => {
                tracing::warn!(error = %e, "the app's key store failed to list its secrets");
                Vec::new()
            }
        }
    }
}

/// An account's key store: the app's, or the light client's encrypted file.
#[derive(Debug)]
pub(crate) enum AccountKeys {
    /// The app's implementation of [`SecureKeyStore`].
    App(AppKeyStore),
    /// The light client's encrypted file (Argon2id, ChaCha20-Poly1305), in the state directory.
    File(FileKeyStore),
}

impl AccountKeys {
    fn inner(&self) -> &dyn RustKeyStore {
        match self {
            AccountKeys::App(k) => k,
            AccountKeys::File(k) => k,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn RustKeyStore {
        match self {
            AccountKeys::App(k) => k,
            AccountKeys::File(k) => k,
        }
    }
}

impl RustKeyStore for AccountKeys {
    fn identity(&self) -> Option<Identity> {
        self.inner().identity()
    }

    fn create_identity(&mut self, account: &str) -> Result<Identity, KeyStoreError> {
        self.inner_mut().create_identity(account)
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, KeyStoreError> {
        self.inner().sign(message)
    }

    fn generate_secret(&mut self, id: &SecretId) -> Result<[u8; 32], KeyStoreError> {
        self.inner_mut().generate_secret(id)
    }

    fn public_key(&self, id: &SecretId) -> Option<[u8; 32]> {
        self.inner().public_key(id)
    }

    fn diffie_hellman(&self, id: &SecretId, public: &[u8; 32]) -> Result<[u8; 32], KeyStoreError> {
        self.inner().diffie_hellman(id, public)
    }

    fn erase(&mut self, id: &SecretId) -> Result<bool, KeyStoreError> {
        self.inner_mut().erase(id)
    }

    fn secret_ids(&self) -> Vec<SecretId> {
        self.inner().secret_ids()
    }

    fn create_prekeys(
        &mut self,
        kind: PrekeyKind,
        count: usize,
    ) -> Result<Vec<(u64, [u8; 32])>, KeyStoreError> {
        self.inner_mut().create_prekeys(kind, count)
    }

    fn prekey_agreement(&self, id: u64, peer: &[u8; 32]) -> Result<Agreed, KeyStoreError> {
        self.inner().prekey_agreement(id, peer)
    }

    fn erase_prekey(&mut self, id: u64) -> Result<(), KeyStoreError> {
        self.inner_mut().erase_prekey(id)
    }

    fn prekeys(&self) -> Vec<Prekey> {
        self.inner().prekeys()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use ed25519_dalek::Signer as _;
    use ed25519_dalek::SigningKey;
    use x25519_dalek::PublicKey;
    use x25519_dalek::StaticSecret;

    use super::*;

    /// An app's store, as a test writes it: keys inside, operations out. `forge` makes it sign
    /// with another key; `fail` makes every call throw that error.
    #[derive(Default)]
    struct TestStore {
        identity: Mutex<Option<(String, SigningKey)>>,
        secrets: Mutex<BTreeMap<String, StaticSecret>>,
        forge: bool,
        fail: Option<HeraldError>,
    }

    impl TestStore {
        fn check(&self) -> Result<(), HeraldError> {
            self.fail.clone().map_or(Ok(()), Err)
        }
    }

    impl SecureKeyStore for TestStore {
        fn identity(&self) -> Result<Option<KeyStoreIdentity>, HeraldError> {
            self.check()?;
            Ok(self
                .identity
                .lock()
                .unwrap()
                .as_ref()
                .map(|(a, k)| KeyStoreIdentity {
                    account: a.clone(),
                    identity_key: k.verifying_key().to_bytes().to_vec(),
                }))
        }
        fn create_identity(&self, account: String) -> Result<Vec<u8>, HeraldError> {
            self.check()?;
            let key = SigningKey::from_bytes(&[9; 32]);
            let public = key.verifying_key().to_bytes().to_vec();
            *self.identity.lock().unwrap() = Some((account, key));
            Ok(public)
        }
        fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, HeraldError> {
            self.check()?;
            let key = if self.forge {
                SigningKey::from_bytes(&[1; 32])
            } else {
                self.identity.lock().unwrap().as_ref().unwrap().1.clone()
            };
            Ok(key.sign(&message).to_bytes().to_vec())
        }
        fn create_secret(&self, id: String) -> Result<Vec<u8>, HeraldError> {
            self.check()?;
            let secret = StaticSecret::from([id.len() as u8; 32]);
            let public = PublicKey::from(&secret).to_bytes().to_vec();
            self.secrets.lock().unwrap().insert(id, secret);
            Ok(public)
        }
        fn public_key(&self, id: String) -> Result<Option<Vec<u8>>, HeraldError> {
            self.check()?;
            Ok(self
                .secrets
                .lock()
                .unwrap()
                .get(&id)
                .map(|s| PublicKey::from(s).to_bytes().to_vec()))
        }
        fn agree(&self, id: String, peer: Vec<u8>) -> Result<Vec<u8>, HeraldError> {
            self.check()?;
            let peer: [u8; 32] = peer.try_into().unwrap();
            let secrets = self.secrets.lock().unwrap();
            let s = secrets
                .get(&id)
                .ok_or_else(|| HeraldError::bad_input("no such secret"))?;
            Ok(s.diffie_hellman(&PublicKey::from(peer)).to_bytes().to_vec())
        }
        fn erase(&self, id: String) -> Result<bool, HeraldError> {
            self.check()?;
            Ok(self.secrets.lock().unwrap().remove(&id).is_some())
        }
        fn list(&self) -> Result<Vec<String>, HeraldError> {
            self.check()?;
            let mut ids: Vec<String> = self.secrets.lock().unwrap().keys().cloned().collect();
            ids.push("has space".into());
            Ok(ids)
        }
    }

    #[test]
    fn an_app_store_runs_the_operations_and_never_exports() {
        let app = Arc::new(TestStore::default());
        let mut keys = AppKeyStore::open(app.clone(), "carol@d0.test").unwrap();
        let identity = keys.identity().unwrap();
        assert_eq!(identity.account, "carol@d0.test");
        let signature = keys.sign(b"hello").unwrap();
        identity.key.verify(b"hello", &signature).unwrap();

        let id = SecretId::new("prekey/fallback").unwrap();
        let public = keys.generate_secret(&id).unwrap();
        assert_eq!(keys.public_key(&id), Some(public));
        let peer = StaticSecret::from([5; 32]);
        let shared = keys
            .diffie_hellman(&id, &PublicKey::from(&peer).to_bytes())
            .unwrap();
        assert_eq!(
            shared,
            peer.diffie_hellman(&PublicKey::from(public)).to_bytes()
        );
        // Ids that break the light client's rules are dropped from the list.
        assert_eq!(keys.secret_ids(), vec![id.clone()]);
        assert!(keys.erase(&id).unwrap());
        assert_eq!(keys.public_key(&id), None);

        // Reopened: the identity is read back, and it is one account's only.
        assert!(AppKeyStore::open(app.clone(), "carol@d0.test").is_ok());
        assert!(matches!(
            AppKeyStore::open(app, "dave@d0.test"),
            Err(KeyStoreError::IdentityExists { .. })
        ));
    }

    #[test]
    fn attack_an_app_store_signing_with_another_key_is_caught() {
        let app = Arc::new(TestStore {
            forge: true,
            ..TestStore::default()
        });
        let keys = AppKeyStore::open(app, "carol@d0.test").unwrap();
        let err = HeraldError::from(keys.sign(b"hello").unwrap_err());
        assert!(
            matches!(&err, HeraldError::Internal { reason } if reason.contains("does not verify")),
            "{err:?}"
        );
    }

    #[test]
    fn the_apps_own_error_reaches_the_caller_unchanged() {
        let locked = HeraldError::KeyStoreLocked {
            reason: "unlock the phone".into(),
        };
        let app = Arc::new(TestStore {
            fail: Some(locked.clone()),
            ..TestStore::default()
        });
        let err = AppKeyStore::open(app, "carol@d0.test").unwrap_err();
        assert_eq!(HeraldError::from(err), locked);
    }
}
