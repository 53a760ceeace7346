//! The key store as the seed's IC card (DESIGN §3.2): proto's key-operation traits
//! (`paep::IdentitySigner`, `PrekeyAgreement`, `PrekeyCreator`, `SecretCreator`,
//! `SecretAgreement`) over a
//! [`SecureKeyStore`], so that proto's PAEP code (prekey uploads, the mail envelope) and its
//! certified-mail machines run their key steps inside the store and never hold a private key.
//! A named secret's name is a [`SecretId`] (proto's request-secret names always are one).
//! [`CardView`] lends a store for the operations that change nothing (sign, agree).
//!
//! [`MemoryKeyStore`] and [`FileKeyStore`] implement the traits themselves; any other store (an
//! app's over Android Keystore or the iOS Keychain) is lent to proto as a [`Card`].

use herald_proto::paep::{
    Agreed, IdentitySigner, PrekeyAgreement, PrekeyCreator, PrekeyKind, SecretAgreement,
    SecretCreator,
};
use zeroize::Zeroizing;

use super::{FileKeyStore, KeyStoreError, MemoryKeyStore, SecretId, SecureKeyStore};

/// Any key store, lent to proto's PAEP code for the length of a borrow.
#[derive(Debug)]
pub struct Card<'a, S: SecureKeyStore + ?Sized>(pub &'a mut S);

/// Any key store, lent to proto for the operations that change nothing: signing with IK and
/// agreeing with a named secret.
#[derive(Debug)]
pub struct CardView<'a, S: SecureKeyStore + ?Sized>(pub &'a S);

impl<S: SecureKeyStore + ?Sized> IdentitySigner for CardView<'_, S> {
    type Error = KeyStoreError;

    fn identity_key(&self) -> [u8; 32] {
        identity_key(self.0)
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], KeyStoreError> {
        Ok(self.0.sign(message)?.to_bytes())
    }
}

impl<S: SecureKeyStore + ?Sized> SecretAgreement for CardView<'_, S> {
    type Error = KeyStoreError;

    fn agree_secret(
        &self,
        name: &str,
        peer: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
        agree_secret(self.0, name, peer)
    }
}

fn identity_key<S: SecureKeyStore + ?Sized>(store: &S) -> [u8; 32] {
    // A store without IK signs nothing (`sign` fails), so the key it reports does not matter.
    store
        .identity()
        .map(|i| i.key.to_bytes())
        .unwrap_or_default()
}

/// `create_secret` over the named secrets: the name must be a valid [`SecretId`] not yet held.
fn create_secret<S: SecureKeyStore + ?Sized>(
    store: &mut S,
    name: &str,
) -> Result<[u8; 32], KeyStoreError> {
    store.generate_secret(&SecretId::new(name)?)
}

/// `agree_secret` over the named secrets (the store refuses a low-order peer).
fn agree_secret<S: SecureKeyStore + ?Sized>(
    store: &S,
    name: &str,
    peer: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
    Ok(Zeroizing::new(
        store.diffie_hellman(&SecretId::new(name)?, peer)?,
    ))
}

impl<S: SecureKeyStore + ?Sized> SecretCreator for Card<'_, S> {
    type Error = KeyStoreError;

    fn create_secret(&mut self, name: &str) -> Result<[u8; 32], KeyStoreError> {
        create_secret(self.0, name)
    }
}

impl<S: SecureKeyStore + ?Sized> SecretAgreement for Card<'_, S> {
    type Error = KeyStoreError;

    fn agree_secret(
        &self,
        name: &str,
        peer: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
        agree_secret(&*self.0, name, peer)
    }
}

impl<S: SecureKeyStore + ?Sized> IdentitySigner for Card<'_, S> {
    type Error = KeyStoreError;

    fn identity_key(&self) -> [u8; 32] {
        identity_key(&*self.0)
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], KeyStoreError> {
        Ok(self.0.sign(message)?.to_bytes())
    }
}

impl<S: SecureKeyStore + ?Sized> PrekeyAgreement for Card<'_, S> {
    type Error = KeyStoreError;

    fn agree(&self, id: u64, peer: &[u8; 32]) -> Result<Agreed, KeyStoreError> {
        self.0.prekey_agreement(id, peer)
    }

    fn erase(&mut self, id: u64) -> Result<(), KeyStoreError> {
        self.0.erase_prekey(id)
    }
}

impl<S: SecureKeyStore + ?Sized> PrekeyCreator for Card<'_, S> {
    type Error = KeyStoreError;

    fn create_prekeys(
        &mut self,
        kind: PrekeyKind,
        count: usize,
    ) -> Result<Vec<(u64, [u8; 32])>, KeyStoreError> {
        self.0.create_prekeys(kind, count)
    }
}

/// The traits for a concrete store, by delegation to its [`SecureKeyStore`] methods.
macro_rules! ic_card {
    ($store:ty) => {
        impl IdentitySigner for $store {
            type Error = KeyStoreError;

            fn identity_key(&self) -> [u8; 32] {
                identity_key(self)
            }

            fn sign(&self, message: &[u8]) -> Result<[u8; 64], KeyStoreError> {
                Ok(SecureKeyStore::sign(self, message)?.to_bytes())
            }
        }

        impl PrekeyAgreement for $store {
            type Error = KeyStoreError;

            fn agree(&self, id: u64, peer: &[u8; 32]) -> Result<Agreed, KeyStoreError> {
                self.prekey_agreement(id, peer)
            }

            fn erase(&mut self, id: u64) -> Result<(), KeyStoreError> {
                self.erase_prekey(id)
            }
        }

        impl SecretCreator for $store {
            type Error = KeyStoreError;

            fn create_secret(&mut self, name: &str) -> Result<[u8; 32], KeyStoreError> {
                create_secret(self, name)
            }
        }

        impl SecretAgreement for $store {
            type Error = KeyStoreError;

            fn agree_secret(
                &self,
                name: &str,
                peer: &[u8; 32],
            ) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
                agree_secret(self, name, peer)
            }
        }

        impl PrekeyCreator for $store {
            type Error = KeyStoreError;

            fn create_prekeys(
                &mut self,
                kind: PrekeyKind,
                count: usize,
            ) -> Result<Vec<(u64, [u8; 32])>, KeyStoreError> {
                SecureKeyStore::create_prekeys(self, kind, count)
            }
        }
    };
}

ic_card!(MemoryKeyStore);
ic_card!(FileKeyStore);

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use herald_proto::paep::{prekey_upload, verify_prekey_upload};

    use super::*;

    const BOB: &str = "bob@beta.test";

    /// An upload made through the store: proto signs with the store's IK and creates the
    /// prekeys inside it; only public halves and signatures come out, and the gateway's check
    /// passes under the store's identity key.
    #[test]
    fn a_prekey_upload_is_made_inside_the_store() {
        let mut store =
            MemoryKeyStore::with_identity(BOB, SigningKey::from_bytes(&[7; 32])).unwrap();
        let ik = IdentitySigner::identity_key(&store);
        let signer = MemoryKeyStore::with_identity(BOB, SigningKey::from_bytes(&[7; 32])).unwrap();
        let upload = prekey_upload(BOB, &signer, &mut store, 3, true).unwrap();
        assert_eq!(verify_prekey_upload(&upload, BOB, &ik), Ok(()));
        assert_eq!(store.prekeys().len(), 4);
        // The same through a Card over any store.
        let mut other =
            MemoryKeyStore::with_identity(BOB, SigningKey::from_bytes(&[8; 32])).unwrap();
        let ik2 = identity_key(&other);
        let card_signer =
            MemoryKeyStore::with_identity(BOB, SigningKey::from_bytes(&[8; 32])).unwrap();
        let mut card = Card(&mut other);
        let upload = prekey_upload(BOB, &Card(&mut { card_signer }), &mut card, 2, false).unwrap();
        assert_eq!(verify_prekey_upload(&upload, BOB, &ik2), Ok(()));
        // Agreement with one of them, then erasure: the second agreement fails.
        let id = upload.one_time[0].id;
        let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([3; 32]));
        assert!(card.agree(id, peer.as_bytes()).is_ok());
        card.erase(id).unwrap();
        assert!(matches!(
            card.agree(id, peer.as_bytes()),
            Err(KeyStoreError::UnknownPrekey { .. })
        ));
    }
}
