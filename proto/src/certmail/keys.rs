//! The message key K and everything done with it: encrypting M (step a), the key commitment
//! `c_K`, wrapping K to the request key P_req (step c) and unwrapping it (step d), and the
//! optimistic variant's direct key.
//!
//! Nonce 0 is safe for both AEAD uses: K is fresh for every message, and the direct-key
//! encryption key is derived from a fresh ephemeral X25519 key. Every X25519 output is checked
//! to be non-zero ("contributory"), so a low-order public key cannot force a known shared secret.

use core::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq as _;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::{COMMIT_LABEL, CertMailError, DIRECT_KEY_LABEL, WRAP_LABEL};
use crate::entry::lp;
use crate::wire::{MAX_CM_PLAINTEXT_BYTES, pb};

/// K: the 256-bit ChaCha20-Poly1305 key of one certified message. Its `Debug` hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageKey([u8; 32]);

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKey(..)")
    }
}

impl MessageKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        MessageKey(k)
    }

    /// The key with these bytes (e.g. from an evidence bundle).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MessageKey(bytes)
    }

    /// The key's bytes (for the evidence bundle: K is revealed to the arbiter).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `c_K = KDF("herald v1 cm commit", K)`.
    pub fn commitment(&self) -> [u8; 32] {
        blake3::derive_key(COMMIT_LABEL, &self.0)
    }

    /// Whether this key is the one `commitment` commits to (constant time).
    pub fn matches(&self, commitment: &[u8]) -> bool {
        self.commitment().ct_eq(commitment).into()
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.0))
    }
}

/// `lp(x)` alone, as the associated data of the AEAD uses.
fn framed(x: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + x.len());
    lp(&mut out, x);
    out
}

/// `C = ChaCha20-Poly1305(K, nonce 0, AD = lp(msg_id), M)`.
pub fn encrypt_message(
    key: &MessageKey,
    msg_id: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CertMailError> {
    if plaintext.len() > MAX_CM_PLAINTEXT_BYTES {
        return Err(CertMailError::PlaintextTooLarge {
            len: plaintext.len(),
            max: MAX_CM_PLAINTEXT_BYTES,
        });
    }
    let aad = framed(msg_id);
    key.cipher()
        .encrypt(
            &Nonce::from([0; 12]),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        // The only failure is a plaintext longer than ChaCha20 can count (256 GiB).
        .map_err(|_| CertMailError::PlaintextTooLarge {
            len: plaintext.len(),
            max: MAX_CM_PLAINTEXT_BYTES,
        })
}

/// `M = Dec_K(C)` with `AD = lp(msg_id)`, or [`CertMailError::DecryptionFailed`].
///
/// A successful decryption does **not** show that K is the key A committed to:
/// ChaCha20-Poly1305 is not key-committing. Callers check `c_K` first.
pub fn decrypt_message(
    key: &MessageKey,
    msg_id: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CertMailError> {
    let aad = framed(msg_id);
    key.cipher()
        .decrypt(
            &Nonce::from([0; 12]),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| CertMailError::DecryptionFailed)
}

/// A fresh X25519 secret written in its clamped (RFC 7748) form. X25519 clamps any 32 bytes, so
/// 2^5 byte strings act as one secret; storing only the clamped one gives a secret a single
/// encoding (an evidence bundle must not have bytes that can change without changing anything).
pub fn ephemeral_secret(rng: &mut impl CryptoRng) -> StaticSecret {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    bytes[0] &= 0b1111_1000;
    bytes[31] &= 0b0111_1111;
    bytes[31] |= 0b0100_0000;
    StaticSecret::from(bytes)
}

/// Whether `secret` is written in the clamped form [`ephemeral_secret`] produces.
pub fn is_clamped(secret: &[u8; 32]) -> bool {
    secret[0] & 0b0000_0111 == 0 && secret[31] & 0b1100_0000 == 0b0100_0000
}

/// X25519 refusing the all-zero output of a low-order public key.
fn exchange(secret: &StaticSecret, public: &[u8; 32]) -> Result<[u8; 32], CertMailError> {
    let shared = secret.diffie_hellman(&PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(CertMailError::WeakKey);
    }
    Ok(shared.to_bytes())
}

/// The recipient's X25519 with the secret of P_req, run by its key store: given the peer's
/// public key, `X25519(p_req, peer)`. The all-zero output of a low-order peer is refused here,
/// whatever the store did.
fn agreed(
    agree: impl FnOnce(&[u8; 32]) -> Result<Zeroizing<[u8; 32]>, CertMailError>,
    peer: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, CertMailError> {
    let shared = agree(peer)?;
    if bool::from(shared.ct_eq(&[0u8; 32])) {
        return Err(CertMailError::WeakKey);
    }
    Ok(shared)
}

/// `KDF(label, lp(shared) ‖ lp(req_hash))`.
fn derive(label: &str, shared: &[u8; 32], req_hash: &[u8; 32]) -> [u8; 32] {
    let mut ikm = Vec::with_capacity(80);
    lp(&mut ikm, shared);
    lp(&mut ikm, req_hash);
    blake3::derive_key(label, &ikm)
}

/// The wrap fields of a `KeyPublication`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    /// `A_eph = X25519(a, base)`.
    pub ephemeral_key: [u8; 32],
    /// `K_wrap = K ⊕ KDF("herald v1 cm wrap", lp(X25519(a, P_req)) ‖ lp(req_hash))`.
    pub wrapped_key: [u8; 32],
}

/// Wraps K to `request_key` (P_req) with the ephemeral secret `a`, bound to `req_hash`.
///
/// Deterministic in `a`: an arbiter given `a` recomputes the wrap and compares.
pub fn wrap_key(
    key: &MessageKey,
    ephemeral_secret: &StaticSecret,
    request_key: &[u8; 32],
    req_hash: &[u8; 32],
) -> Result<WrappedKey, CertMailError> {
    let pad = derive(
        WRAP_LABEL,
        &exchange(ephemeral_secret, request_key)?,
        req_hash,
    );
    Ok(WrappedKey {
        ephemeral_key: PublicKey::from(ephemeral_secret).to_bytes(),
        wrapped_key: xor(key.as_bytes(), &pad),
    })
}

/// Unwraps `K_wrap` as B does in step (d): `agree` is B's key store running
/// `X25519(p_req, A_eph)` with the request secret, which never leaves it; the wrap is derived
/// here from that output. The result is unauthenticated until checked against `c_K`
/// ([`MessageKey::matches`]).
pub fn unwrap_key(
    wrapped: &WrappedKey,
    req_hash: &[u8; 32],
    agree: impl FnOnce(&[u8; 32]) -> Result<Zeroizing<[u8; 32]>, CertMailError>,
) -> Result<MessageKey, CertMailError> {
    let pad = derive(
        WRAP_LABEL,
        &*agreed(agree, &wrapped.ephemeral_key)?,
        req_hash,
    );
    Ok(MessageKey(xor(&wrapped.wrapped_key, &pad)))
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    core::array::from_fn(|i| a[i] ^ b[i])
}

/// Optimistic variant: K encrypted to `request_key` for B alone, with a fresh ephemeral key:
/// `ChaCha20-Poly1305(KDF("herald v1 cm direct key", lp(X25519(e, P_req)) ‖ lp(req_hash)),
/// nonce 0, AD = lp(req_hash), K)`.
pub fn seal_direct_key(
    key: &MessageKey,
    request_key: &[u8; 32],
    req_hash: &[u8; 32],
    rng: &mut impl CryptoRng,
) -> Result<pb::DirectKey, CertMailError> {
    let e = ephemeral_secret(rng);
    let k = derive(DIRECT_KEY_LABEL, &exchange(&e, request_key)?, req_hash);
    let aad = framed(req_hash);
    let sealed_key = MessageKey(k)
        .cipher()
        .encrypt(
            &Nonce::from([0; 12]),
            Payload {
                msg: key.as_bytes(),
                aad: &aad,
            },
        )
        .map_err(|_| CertMailError::DecryptionFailed)?;
    Ok(pb::DirectKey {
        req_hash: req_hash.to_vec(),
        ephemeral_key: PublicKey::from(&e).to_bytes().to_vec(),
        sealed_key,
    })
}

/// Opens a [`pb::DirectKey`] for the request `req_hash`; `agree` is B's key store running
/// `X25519(p_req, e)` with the request secret (as in [`unwrap_key`]). The result is
/// unauthenticated until checked against `c_K`.
pub fn open_direct_key(
    direct: &pb::DirectKey,
    req_hash: &[u8; 32],
    agree: impl FnOnce(&[u8; 32]) -> Result<Zeroizing<[u8; 32]>, CertMailError>,
) -> Result<MessageKey, CertMailError> {
    if direct.req_hash != req_hash {
        return Err(CertMailError::Mismatch {
            field: "DirectKey.req_hash",
        });
    }
    let ephemeral: [u8; 32] = super::field("DirectKey.ephemeral_key", &direct.ephemeral_key)?;
    let k = derive(DIRECT_KEY_LABEL, &*agreed(agree, &ephemeral)?, req_hash);
    let aad = framed(req_hash);
    let key = MessageKey(k)
        .cipher()
        .decrypt(
            &Nonce::from([0; 12]),
            Payload {
                msg: &direct.sealed_key,
                aad: &aad,
            },
        )
        .map_err(|_| CertMailError::DecryptionFailed)?;
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| CertMailError::DecryptionFailed)?;
    Ok(MessageKey(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(b: u8) -> StaticSecret {
        StaticSecret::from([b; 32])
    }

    /// The request secret's agreement, as a key store runs it.
    fn with(
        secret: &StaticSecret,
    ) -> impl FnOnce(&[u8; 32]) -> Result<Zeroizing<[u8; 32]>, CertMailError> + '_ {
        |peer| {
            let shared = secret.diffie_hellman(&PublicKey::from(*peer));
            Ok(Zeroizing::new(shared.to_bytes()))
        }
    }

    #[test]
    fn commitment_is_the_documented_kdf() {
        let k = MessageKey::from_bytes([3; 32]);
        assert_eq!(
            k.commitment(),
            blake3::derive_key("herald v1 cm commit", &[3; 32])
        );
        assert!(k.matches(&k.commitment()));
        assert!(!MessageKey::from_bytes([4; 32]).matches(&k.commitment()));
        assert!(!k.matches(&k.commitment()[..31]));
    }

    #[test]
    fn messages_open_only_with_their_key_and_msg_id() {
        let k = MessageKey::from_bytes([1; 32]);
        let c = encrypt_message(&k, b"id-1", b"hello").unwrap();
        assert_eq!(c.len(), 5 + 16);
        assert_eq!(decrypt_message(&k, b"id-1", &c).unwrap(), b"hello");
        assert_eq!(
            decrypt_message(&k, b"id-2", &c),
            Err(CertMailError::DecryptionFailed)
        );
        assert_eq!(
            decrypt_message(&MessageKey::from_bytes([2; 32]), b"id-1", &c),
            Err(CertMailError::DecryptionFailed)
        );
    }

    #[test]
    fn wrap_is_the_documented_xor_pad() {
        let (a, p) = (secret(5), secret(6));
        let p_req = PublicKey::from(&p).to_bytes();
        let k = MessageKey::from_bytes([9; 32]);
        let w = wrap_key(&k, &a, &p_req, &[7; 32]).unwrap();
        let shared = a.diffie_hellman(&PublicKey::from(p_req)).to_bytes();
        let mut ikm = Vec::new();
        lp(&mut ikm, &shared);
        lp(&mut ikm, &[7; 32]);
        let pad = blake3::derive_key("herald v1 cm wrap", &ikm);
        assert_eq!(w.wrapped_key, xor(&[9; 32], &pad));
        assert_eq!(w.ephemeral_key, PublicKey::from(&a).to_bytes());
        assert_eq!(unwrap_key(&w, &[7; 32], with(&p)).unwrap(), k);
        // Bound to req_hash: unwrapping for another request gives another (uncommitted) key.
        assert_ne!(unwrap_key(&w, &[8; 32], with(&p)).unwrap(), k);
    }

    #[test]
    fn ephemeral_secrets_are_clamped_and_act_as_written() {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let a = ephemeral_secret(&mut rng);
        assert!(is_clamped(a.as_bytes()));
        let mut other = a.to_bytes();
        other[0] |= 1;
        assert!(!is_clamped(&other));
        // The unclamped spelling is the same X25519 secret: only one spelling is accepted.
        assert_eq!(
            PublicKey::from(&StaticSecret::from(other)),
            PublicKey::from(&a)
        );
    }

    #[test]
    fn low_order_keys_are_refused() {
        let k = MessageKey::from_bytes([9; 32]);
        // The all-zero u-coordinate is a low-order point: every exchange with it gives zero.
        assert_eq!(
            wrap_key(&k, &secret(5), &[0; 32], &[7; 32]),
            Err(CertMailError::WeakKey)
        );
        let w = WrappedKey {
            ephemeral_key: [0; 32],
            wrapped_key: [1; 32],
        };
        assert_eq!(
            unwrap_key(&w, &[7; 32], with(&secret(6))),
            Err(CertMailError::WeakKey)
        );
    }

    #[test]
    fn direct_key_opens_for_its_request_only() {
        let p = secret(6);
        let p_req = PublicKey::from(&p).to_bytes();
        let k = MessageKey::from_bytes([9; 32]);
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let d = seal_direct_key(&k, &p_req, &[7; 32], &mut rng).unwrap();
        assert_eq!(d.sealed_key.len(), 48);
        assert_eq!(open_direct_key(&d, &[7; 32], with(&p)).unwrap(), k);
        assert!(matches!(
            open_direct_key(&d, &[8; 32], with(&p)),
            Err(CertMailError::Mismatch { .. })
        ));
        let mut forged = d.clone();
        forged.sealed_key[0] ^= 1;
        assert_eq!(
            open_direct_key(&forged, &[7; 32], with(&p)),
            Err(CertMailError::DecryptionFailed)
        );
        assert_eq!(
            open_direct_key(&d, &[7; 32], with(&secret(1))),
            Err(CertMailError::DecryptionFailed)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever K, a, P_req's secret and req_hash: B unwraps exactly K, and any other
        /// req_hash gives a key that fails the commitment.
        #[test]
        fn wrap_round_trips_and_binds_the_request(
            k in proptest::prelude::any::<[u8; 32]>(),
            a in proptest::prelude::any::<[u8; 32]>(),
            p in proptest::prelude::any::<[u8; 32]>(),
            req in proptest::prelude::any::<[u8; 32]>(),
        ) {
            let (k, p) = (MessageKey::from_bytes(k), StaticSecret::from(p));
            let p_req = PublicKey::from(&p).to_bytes();
            let w = wrap_key(&k, &StaticSecret::from(a), &p_req, &req).unwrap();
            proptest::prop_assert_eq!(unwrap_key(&w, &req, with(&p)).unwrap(), k.clone());
            let mut other = req;
            other[0] ^= 1;
            proptest::prop_assert!(!unwrap_key(&w, &other, with(&p)).unwrap().matches(&k.commitment()));
        }
    }
}
