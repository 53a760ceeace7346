//! The key operations PAEP needs from a device's key store — the seed's IC card (DESIGN §3.2). Every operation works **inside** the store: it signs, agrees, creates or erases,
//! and no method returns a private key. The light client's key stores (encrypted file, memory)
//! and a mobile app's (Android Keystore, iOS Keychain) implement these traits; proto's machines
//! take them as arguments and never see a secret.
//!
//! What does come out: signatures, public keys, and X25519 *outputs* (the shared secret of one
//! agreement, which the mail key is derived from and which is zeroized after use).

use zeroize::Zeroizing;

use super::prekey::PrekeyKind;

/// Signs with the account's Ed25519 identity key IK.
pub trait IdentitySigner {
    /// Why the store could not sign (locked, gone, user refused).
    type Error: std::error::Error + Send + Sync + 'static;

    /// IK's public key.
    fn identity_key(&self) -> [u8; 32];

    /// IK's Ed25519 signature over `message` (a Herald signing input).
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], Self::Error>;
}

/// A signing key held in memory is a (trivial) identity signer: for tests and for stores that
/// keep IK in process memory anyway.
impl IdentitySigner for ed25519_dalek::SigningKey {
    type Error = core::convert::Infallible;

    fn identity_key(&self) -> [u8; 32] {
        self.verifying_key().to_bytes()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], Self::Error> {
        Ok(ed25519_dalek::Signer::sign(self, message).to_bytes())
    }
}

/// The result of one X25519 agreement with a prekey secret `r[id]`.
pub struct Agreed {
    /// The prekey's public half `Y = X25519(r[id], base)`.
    pub prekey: [u8; 32],
    /// Its kind: a one-time prekey's secret must be erased after its mail is read.
    pub kind: PrekeyKind,
    /// `X25519(r[id], peer)`.
    pub shared: Zeroizing<[u8; 32]>,
}

impl core::fmt::Debug for Agreed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Agreed")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// X25519 with the prekey secrets the store holds, and their erasure.
pub trait PrekeyAgreement {
    /// Why the store could not agree or erase; in particular, `r[id]` is not held (never made,
    /// or already erased).
    type Error: std::error::Error + Send + Sync + 'static;

    /// `X25519(r[id], peer)` with the prekey's public half and kind.
    fn agree(&self, id: u64, peer: &[u8; 32]) -> Result<Agreed, Self::Error>;

    /// Erases `r[id]` for good: afterwards [`PrekeyAgreement::agree`] with `id` fails. When this
    /// returns, the erasure is durable.
    fn erase(&mut self, id: u64) -> Result<(), Self::Error>;
}

/// X25519 with a secret the store holds under a name: certified mail's request key P_req
/// (DESIGN §3.3), which the recipient holds from its request until its mail is finished. The
/// name is [`crate::certmail::request_secret_name`]; erasing the secret is the store's own
/// business (the light client's driver erases it when the mail is finished).
pub trait SecretAgreement {
    /// Why the store could not agree (in particular, `name` is not held).
    type Error: std::error::Error + Send + Sync + 'static;

    /// `X25519(secret name, peer)`.
    fn agree_secret(&self, name: &str, peer: &[u8; 32])
    -> Result<Zeroizing<[u8; 32]>, Self::Error>;
}

/// Creates a named X25519 secret inside the store and hands out only its public half (as
/// [`PrekeyCreator`] does for prekeys).
pub trait SecretCreator {
    /// Why the store could not create it (the name is taken, the store is full or locked).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Creates a fresh X25519 secret `s` under `name` inside the store; returns only
    /// `X25519(s, base)`. Refused if `name` is held already. Durable when this returns.
    fn create_secret(&mut self, name: &str) -> Result<[u8; 32], Self::Error>;
}

/// Creates prekeys inside the store and hands out only their public halves.
pub trait PrekeyCreator {
    /// Why the store could not create them.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Creates `count` prekeys of `kind`; returns each one's id (unique per account across
    /// kinds, one-time ids from 1) and public half. When this returns, the secrets are durable.
    fn create_prekeys(
        &mut self,
        kind: PrekeyKind,
        count: usize,
    ) -> Result<Vec<(u64, [u8; 32])>, Self::Error>;
}

/// A secret name the store does not hold (or, when creating, holds already).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret {name}: {problem}")]
pub struct SecretNameError {
    /// The name asked for.
    pub name: String,
    /// "not held" or "already held".
    pub problem: &'static str,
}

/// A prekey id the store does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("prekey {id} is not held (never created, or erased)")]
pub struct UnknownPrekey {
    /// The id asked for.
    pub id: u64,
}

/// An in-memory prekey store, for tests (this crate's and those above it). It keeps each
/// secret in the store and implements the same operations a real key store does; its secrets
/// are derived from a seed, so tests are deterministic.
#[cfg(any(test, feature = "testkit"))]
pub struct MemoryPrekeys {
    seed: u64,
    secrets: std::collections::BTreeMap<u64, (PrekeyKind, x25519_dalek::StaticSecret)>,
    next_id: u64,
}

#[cfg(any(test, feature = "testkit"))]
impl MemoryPrekeys {
    /// An empty store whose secrets derive from `seed`; the first prekey created is number 1.
    pub fn new(seed: u64) -> Self {
        MemoryPrekeys {
            seed,
            secrets: Default::default(),
            next_id: 1,
        }
    }

    /// Adds a secret under a chosen id (e.g. the binding's fallback prekey as id 0).
    pub fn insert(&mut self, id: u64, kind: PrekeyKind, secret: [u8; 32]) -> [u8; 32] {
        let secret = x25519_dalek::StaticSecret::from(secret);
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        self.secrets.insert(id, (kind, secret));
        public
    }

    /// How many secrets are held.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether no secret is held.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

#[cfg(any(test, feature = "testkit"))]
impl PrekeyAgreement for MemoryPrekeys {
    type Error = UnknownPrekey;

    fn agree(&self, id: u64, peer: &[u8; 32]) -> Result<Agreed, UnknownPrekey> {
        let (kind, secret) = self.secrets.get(&id).ok_or(UnknownPrekey { id })?;
        let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*peer));
        Ok(Agreed {
            prekey: x25519_dalek::PublicKey::from(secret).to_bytes(),
            kind: *kind,
            shared: Zeroizing::new(shared.to_bytes()),
        })
    }

    fn erase(&mut self, id: u64) -> Result<(), UnknownPrekey> {
        // StaticSecret zeroizes itself on drop.
        self.secrets
            .remove(&id)
            .map(drop)
            .ok_or(UnknownPrekey { id })
    }
}

#[cfg(any(test, feature = "testkit"))]
impl PrekeyCreator for MemoryPrekeys {
    type Error = UnknownPrekey;

    fn create_prekeys(
        &mut self,
        kind: PrekeyKind,
        count: usize,
    ) -> Result<Vec<(u64, [u8; 32])>, UnknownPrekey> {
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let id = self.next_id;
            self.next_id += 1;
            let mut input = self.seed.to_le_bytes().to_vec();
            input.extend_from_slice(&id.to_le_bytes());
            let secret = blake3::derive_key("herald test memory prekey", &input);
            out.push((id, self.insert(id, kind, secret)));
        }
        Ok(out)
    }
}

/// An in-memory identity key and named secrets, for tests (this crate's and those above it):
/// the same operations a real key store runs, with secrets derived from a seed so tests are
/// deterministic.
#[cfg(any(test, feature = "testkit"))]
pub struct MemoryCard {
    identity: ed25519_dalek::SigningKey,
    secrets: std::collections::BTreeMap<String, x25519_dalek::StaticSecret>,
}

#[cfg(any(test, feature = "testkit"))]
impl MemoryCard {
    /// A card holding `identity` as IK and no secret yet.
    pub fn new(identity: ed25519_dalek::SigningKey) -> Self {
        MemoryCard {
            identity,
            secrets: Default::default(),
        }
    }

    /// The names of the secrets held, in order.
    pub fn names(&self) -> Vec<String> {
        self.secrets.keys().cloned().collect()
    }

    /// Erases secret `name`; whether it was held.
    pub fn erase(&mut self, name: &str) -> bool {
        self.secrets.remove(name).is_some()
    }
}

#[cfg(any(test, feature = "testkit"))]
impl IdentitySigner for MemoryCard {
    type Error = core::convert::Infallible;

    fn identity_key(&self) -> [u8; 32] {
        self.identity.verifying_key().to_bytes()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], Self::Error> {
        IdentitySigner::sign(&self.identity, message)
    }
}

#[cfg(any(test, feature = "testkit"))]
impl SecretCreator for MemoryCard {
    type Error = SecretNameError;

    fn create_secret(&mut self, name: &str) -> Result<[u8; 32], SecretNameError> {
        if self.secrets.contains_key(name) {
            return Err(SecretNameError {
                name: name.to_owned(),
                problem: "already held",
            });
        }
        let mut input = self.identity.to_bytes().to_vec();
        input.extend_from_slice(name.as_bytes());
        let secret =
            x25519_dalek::StaticSecret::from(blake3::derive_key("herald test memory card", &input));
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        self.secrets.insert(name.to_owned(), secret);
        Ok(public)
    }
}

#[cfg(any(test, feature = "testkit"))]
impl SecretAgreement for MemoryCard {
    type Error = SecretNameError;

    fn agree_secret(
        &self,
        name: &str,
        peer: &[u8; 32],
    ) -> Result<Zeroizing<[u8; 32]>, SecretNameError> {
        let secret = self.secrets.get(name).ok_or_else(|| SecretNameError {
            name: name.to_owned(),
            problem: "not held",
        })?;
        let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*peer));
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}
