//! [`MemoryKeyStore`]: keys in memory only, gone when it is dropped (tests, and apps that keep
//! the keys in their own secure storage and load them per session).

use ed25519_dalek::{Signature, SigningKey};
use herald_proto::paep::{Agreed, PrekeyKind};

use super::contents::Contents;
use super::{Identity, KeyStoreError, Prekey, SecretId, SecureKeyStore};

/// A key store in memory. Like every store it lets no private key out; only
/// [`MemoryKeyStore::with_identity`] takes one in (a key the app kept elsewhere).
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    contents: Contents,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `identity` as `account`'s IK (to load a key kept elsewhere).
    pub fn with_identity(account: &str, identity: SigningKey) -> Result<Self, KeyStoreError> {
        let mut contents = Contents::default();
        contents.set_identity(account, identity)?;
        Ok(MemoryKeyStore { contents })
    }
}

impl SecureKeyStore for MemoryKeyStore {
    fn identity(&self) -> Option<Identity> {
        self.contents.identity()
    }

    fn create_identity(&mut self, account: &str) -> Result<Identity, KeyStoreError> {
        self.contents.create_identity(account)
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, KeyStoreError> {
        self.contents.sign(message)
    }

    fn generate_secret(&mut self, id: &SecretId) -> Result<[u8; 32], KeyStoreError> {
        self.contents.generate(id)
    }

    fn public_key(&self, id: &SecretId) -> Option<[u8; 32]> {
        self.contents.public_key(id)
    }

    fn diffie_hellman(&self, id: &SecretId, public: &[u8; 32]) -> Result<[u8; 32], KeyStoreError> {
        self.contents.diffie_hellman(id, public)
    }

    fn erase(&mut self, id: &SecretId) -> Result<bool, KeyStoreError> {
        Ok(self.contents.remove(id))
    }

    fn secret_ids(&self) -> Vec<SecretId> {
        self.contents.ids()
    }

    fn create_prekeys(
        &mut self,
        kind: PrekeyKind,
        count: usize,
    ) -> Result<Vec<(u64, [u8; 32])>, KeyStoreError> {
        self.contents.create_prekeys(kind, count)
    }

    fn prekey_agreement(&self, id: u64, peer: &[u8; 32]) -> Result<Agreed, KeyStoreError> {
        self.contents.prekey_agreement(id, peer)
    }

    fn erase_prekey(&mut self, id: u64) -> Result<(), KeyStoreError> {
        self.contents
            .erase_prekey(id)
            .then_some(())
            .ok_or(KeyStoreError::UnknownPrekey { id })
    }

    fn prekeys(&self) -> Vec<Prekey> {
        self.contents.prekeys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier as _;
    use x25519_dalek::{PublicKey, StaticSecret};

    #[test]
    fn signing_and_dh_run_inside_the_store() {
        let mut s = MemoryKeyStore::new();
        let me = s.create_identity("alice@alpha.test").unwrap();
        let sig = s.sign(b"hello").unwrap();
        assert!(me.key.verify(b"hello", &sig).is_ok());

        let id = SecretId::new("cm/request/1").unwrap();
        let public = s.generate_secret(&id).unwrap();
        let peer = StaticSecret::from([5; 32]);
        let shared = s
            .diffie_hellman(&id, &PublicKey::from(&peer).to_bytes())
            .unwrap();
        assert_eq!(
            shared,
            peer.diffie_hellman(&PublicKey::from(public)).to_bytes()
        );
        assert!(s.erase(&id).unwrap());
        assert!(!s.erase(&id).unwrap());
        assert!(s.public_key(&id).is_none());
    }

    #[test]
    fn a_given_identity_is_kept() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let s = MemoryKeyStore::with_identity("bob@beta.test", key.clone()).unwrap();
        assert_eq!(s.identity().unwrap().key, key.verifying_key());
        assert_eq!(
            s.sign(b"m").unwrap(),
            ed25519_dalek::Signer::sign(&key, b"m")
        );
        assert_eq!(s.identity().unwrap().account, "bob@beta.test");
        assert!(MemoryKeyStore::with_identity("", key).is_err());
    }
}
