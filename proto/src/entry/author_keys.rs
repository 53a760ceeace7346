//! Author keys remembered decompressed, for a verifier that checks many entries of the same
//! authors (a gateway's admission).
//!
//! An Ed25519 check with [`super::verify_signature`] first decompresses the author's key (a
//! square root in the field, some 250 squarings), then checks the signature (decompress R, a
//! double scalar multiplication, compress). `bench submit` with one entry per request spent
//! about a tenth of the gateway's signature checking on decompressing the same 64 keys again
//! and again (`docs/performance.md`). Decompression is a pure function of the key's 32 bytes,
//! so a key decompressed once is as good as one decompressed again; the signature itself is
//! always checked, with the same strict rules (`verify_strict`, which also refuses a key of
//! small order every time).
//!
//! Bounded: two generations of [`GENERATION`] keys; when the newer is full the older is
//! dropped. A key that does not decompress is never remembered.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ed25519_dalek::VerifyingKey;

use super::EntryError;

/// Keys in one generation (some 200 bytes each: at most ~1.6 MiB for both).
const GENERATION: usize = 4096;

#[derive(Debug, Default)]
struct Generations {
    newer: HashMap<[u8; 32], VerifyingKey>,
    older: HashMap<[u8; 32], VerifyingKey>,
}

/// Decompressed author keys (see the module docs). Share one per verifier.
#[derive(Debug)]
pub struct AuthorKeys {
    generations: Mutex<Generations>,
    /// Keys per generation.
    generation: usize,
}

impl Default for AuthorKeys {
    fn default() -> Self {
        AuthorKeys {
            generations: Mutex::default(),
            generation: GENERATION,
        }
    }
}

impl AuthorKeys {
    fn generations(&self) -> MutexGuard<'_, Generations> {
        // Changed one map operation at a time: a panic elsewhere leaves it usable.
        self.generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The decompressed key of `bytes`, from memory when it was decompressed before.
    fn key(&self, bytes: &[u8]) -> Result<VerifyingKey, EntryError> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| EntryError::BadAuthorKey)?;
        {
            let generations = self.generations();
            if let Some(key) = generations
                .newer
                .get(&bytes)
                .or_else(|| generations.older.get(&bytes))
            {
                return Ok(*key);
            }
        }
        // Decompressed outside the lock: two threads may both do it, never wait on it.
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| EntryError::BadAuthorKey)?;
        let mut generations = self.generations();
        if generations.newer.len() >= self.generation {
            generations.older = std::mem::take(&mut generations.newer);
        }
        generations.newer.insert(bytes, key);
        Ok(key)
    }

    /// [`super::verify_signature`], with `key` decompressed at most once while remembered:
    /// the same answer for every input.
    pub fn verify(&self, key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), EntryError> {
        let key = self.key(key)?;
        let signature = ed25519_dalek::Signature::from_slice(signature)
            .map_err(|_| EntryError::BadSignatureLength(signature.len()))?;
        crate::ed25519::verify_strict(&key, message, &signature)
            .then_some(())
            .ok_or(EntryError::BadSignature)
    }

    /// Keys held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let generations = self.generations();
        generations.newer.len() + generations.older.len()
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer as _, SigningKey};

    use super::super::verify_signature;
    use super::*;

    fn signer(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn answers_as_verify_signature_does_for_good_and_bad_inputs() {
        let keys = AuthorKeys::default();
        let alice = signer(1);
        let key = alice.verifying_key().to_bytes();
        let signature = alice.sign(b"message").to_bytes();
        let mut flipped = signature;
        flipped[5] ^= 1;
        // Not a point: no y has this x (y = 2 is not on the curve).
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        // The identity (y = 1) is a point of small order, refused by verify_strict.
        let mut small_order = [0u8; 32];
        small_order[0] = 1;
        let cases: [(&[u8], &[u8], &[u8]); 7] = [
            (&key, b"message", &signature),
            (&key, b"other message", &signature),
            (&key, b"message", &flipped),
            (&key, b"message", &signature[..63]),
            (&key[..31], b"message", &signature),
            (&not_a_point, b"message", &signature),
            (&small_order, b"message", &signature),
        ];
        // Twice over: the second time from memory.
        for _ in 0..2 {
            for (k, m, s) in cases {
                assert_eq!(
                    keys.verify(k, m, s),
                    verify_signature(k, m, s),
                    "{k:?} {m:?}"
                );
            }
        }
        assert!(keys.verify(&key, b"message", &signature).is_ok());
        // The key of every decompressible case is held; the one that is not a point is not.
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn the_memory_is_bounded_and_keeps_the_latest() {
        let keys = AuthorKeys {
            generations: Mutex::default(),
            generation: 4,
        };
        let all: Vec<[u8; 32]> = (0..20)
            .map(|n| signer(n).verifying_key().to_bytes())
            .collect();
        for key in &all {
            keys.key(key).expect("a valid key");
            assert!(keys.len() <= 8);
        }
        let generations = keys.generations();
        assert!(generations.newer.contains_key(&all[19]));
        assert!(!generations.newer.contains_key(&all[0]));
        assert!(!generations.older.contains_key(&all[0]));
    }
}
