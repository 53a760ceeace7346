//! Herald's SPAKE2+ suite, `ristretto255-BLAKE3`: RFC 9383's shape with ristretto255 as the
//! group and BLAKE3 in place of SHA-256, HKDF and HMAC (docs/decisions.md, "PAEP").
//!
//! - Group: ristretto255 (curve25519-dalek), G its basepoint; prime order ℓ, so h = 1. Elements
//!   are 32-byte compressed encodings; decompression accepts only canonical ones.
//! - Scalars: 32 bytes little-endian, canonical (< ℓ); wide reduction reads 64 bytes
//!   little-endian.
//! - M, N: `RistrettoPoint::from_uniform_bytes` of 64 bytes of BLAKE3's XOF of
//!   [`M_LABEL`] / [`N_LABEL`] (DESIGN §3.1): hash-to-group, so nobody knows their discrete logs.
//! - Hash: BLAKE3-256. KDF(salt, ikm, info, L): BLAKE3 in key-derivation mode with the context
//!   [`KDF_CONTEXT`] over `lp(salt) ‖ lp(ikm) ‖ lp(info)`, L bytes of its XOF. MAC(k, m):
//!   BLAKE3 keyed hash, k 32 bytes (the confirmation keys are 32 bytes).

use std::sync::LazyLock;

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoBasepointTable, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity as _;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::suite::Ciphersuite;
use crate::entry::lp;

/// The input whose BLAKE3 XOF makes M.
pub const M_LABEL: &str = "herald v1 paep M";
/// The input whose BLAKE3 XOF makes N.
pub const N_LABEL: &str = "herald v1 paep N";
/// The BLAKE3 key-derivation context of the suite's KDF.
pub const KDF_CONTEXT: &str = "herald v1 paep spake2+ kdf";
/// The BLAKE3 key-derivation context that shortens a MAC key of another length than 32 bytes
/// (never the case for SPAKE2+'s confirmation keys; it keeps `mac` total).
const MAC_KEY_CONTEXT: &str = "herald v1 paep spake2+ mac key";

/// Herald's suite: ristretto255 with BLAKE3 as Hash, KDF and MAC.
#[derive(Clone, Copy, Debug)]
pub enum Ristretto255Blake3 {}

/// `RistrettoPoint::from_uniform_bytes` of 64 bytes of the BLAKE3 XOF of `label`.
pub fn derive_generator(label: &str) -> RistrettoPoint {
    let mut wide = [0u8; 64];
    blake3::Hasher::new()
        .update(label.as_bytes())
        .finalize_xof()
        .fill(&mut wide);
    RistrettoPoint::from_uniform_bytes(&wide)
}

struct Generator {
    point: RistrettoPoint,
    /// Its compressed encoding (in every transcript).
    encoded: [u8; 32],
    /// Fixed-base table: `w0·M` and `w0·N` are on every login's path (the server's included).
    table: RistrettoBasepointTable,
}

impl Generator {
    fn new(label: &str) -> Generator {
        let point = derive_generator(label);
        Generator {
            point,
            encoded: point.compress().to_bytes(),
            table: RistrettoBasepointTable::create(&point),
        }
    }
}

static M: LazyLock<Generator> = LazyLock::new(|| Generator::new(M_LABEL));
static N: LazyLock<Generator> = LazyLock::new(|| Generator::new(N_LABEL));

impl Ciphersuite for Ristretto255Blake3 {
    type Scalar = Scalar;
    type Element = RistrettoPoint;

    const NAME: &'static str = "ristretto255-BLAKE3";
    const HASH_LEN: usize = 32;
    const MAC_KEY_LEN: usize = 32;
    const MAC_LEN: usize = 32;

    fn random_scalar<R: CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
        Scalar::random(rng)
    }

    fn scalar_from_wide(bytes: &[u8; 64]) -> Scalar {
        Scalar::from_bytes_mod_order_wide(bytes)
    }

    fn encode_scalar(scalar: &Scalar) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(scalar.to_bytes().to_vec())
    }

    fn decode_scalar(bytes: &[u8]) -> Option<Scalar> {
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Scalar::from_canonical_bytes(bytes).into_option()
    }

    fn base_mul(scalar: &Scalar) -> RistrettoPoint {
        scalar * RISTRETTO_BASEPOINT_TABLE
    }

    fn mul(element: &RistrettoPoint, scalar: &Scalar) -> RistrettoPoint {
        element * scalar
    }

    fn m_mul(scalar: &Scalar) -> RistrettoPoint {
        &M.table * scalar
    }

    fn n_mul(scalar: &Scalar) -> RistrettoPoint {
        &N.table * scalar
    }

    fn add(a: &RistrettoPoint, b: &RistrettoPoint) -> RistrettoPoint {
        a + b
    }

    fn sub(a: &RistrettoPoint, b: &RistrettoPoint) -> RistrettoPoint {
        a - b
    }

    fn is_identity(element: &RistrettoPoint) -> bool {
        element.is_identity()
    }

    fn m() -> RistrettoPoint {
        M.point
    }

    fn n() -> RistrettoPoint {
        N.point
    }

    fn encoded_m() -> Vec<u8> {
        M.encoded.to_vec()
    }

    fn encoded_n() -> Vec<u8> {
        N.encoded.to_vec()
    }

    fn encode_element(element: &RistrettoPoint) -> Vec<u8> {
        element.compress().to_bytes().to_vec()
    }

    fn decode_element(bytes: &[u8]) -> Option<RistrettoPoint> {
        CompressedRistretto::from_slice(bytes).ok()?.decompress()
    }

    fn hash(transcript: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(blake3::hash(transcript).as_bytes().to_vec())
    }

    fn kdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
        let mut input =
            Zeroizing::new(Vec::with_capacity(24 + salt.len() + ikm.len() + info.len()));
        lp(&mut input, salt);
        lp(&mut input, ikm);
        lp(&mut input, info);
        let mut out = Zeroizing::new(vec![0u8; len]);
        blake3::Hasher::new_derive_key(KDF_CONTEXT)
            .update(&input)
            .finalize_xof()
            .fill(&mut out);
        out
    }

    fn mac(key: &[u8], message: &[u8]) -> Vec<u8> {
        let key: Zeroizing<[u8; 32]> = Zeroizing::new(
            key.try_into()
                .unwrap_or_else(|_| blake3::derive_key(MAC_KEY_CONTEXT, key)),
        );
        blake3::keyed_hash(&key, message).as_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::traits::Identity as _;

    type S = Ristretto255Blake3;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn m_and_n_are_rederived_from_their_labels() {
        // DESIGN §3.1, step by step: 64 bytes of BLAKE3's XOF of the label, then Elligator
        // (from_uniform_bytes).
        for (label, point) in [("herald v1 paep M", S::m()), ("herald v1 paep N", S::n())] {
            let mut reader = blake3::Hasher::new()
                .update(label.as_bytes())
                .finalize_xof();
            let mut wide = [0u8; 64];
            reader.fill(&mut wide);
            assert_eq!(RistrettoPoint::from_uniform_bytes(&wide), point, "{label}");
        }
        assert_ne!(S::m(), S::n());
        assert_eq!(S::encoded_m(), S::encode_element(&S::m()));
        assert_eq!(S::encoded_n(), S::encode_element(&S::n()));
        // Pinned (computed by this derivation when the suite was written), so that a change of
        // label or derivation cannot go unnoticed.
        assert_eq!(
            hex(&S::encode_element(&S::m())),
            "5eaabf72f13774e89771646cdc3e6baf38545d947a9fa77cd874bf7331b6147f"
        );
        assert_eq!(
            hex(&S::encode_element(&S::n())),
            "805ed8a050cbf9d8a70cfca8166d326cf3372db71f62f5f7f8bd8eeb37cf9a26"
        );
    }

    #[test]
    fn the_tables_agree_with_plain_multiplication() {
        let s = Scalar::from(0x1234_5678_9abc_def0u64);
        assert_eq!(S::m_mul(&s), S::m() * s);
        assert_eq!(S::n_mul(&s), S::n() * s);
        assert_eq!(S::base_mul(&s), RistrettoPoint::mul_base(&s));
    }

    #[test]
    fn non_canonical_encodings_are_refused() {
        // The identity decodes (the machines refuse it themselves).
        let identity = S::decode_element(&[0; 32]).unwrap();
        assert!(S::is_identity(&identity));
        assert_eq!(identity, RistrettoPoint::identity());
        // 2^255 − 1 is not a canonical field element; an odd ("negative") s is not canonical.
        assert!(S::decode_element(&[0xff; 32]).is_none());
        let mut negative = [0u8; 32];
        negative[0] = 1;
        assert!(S::decode_element(&negative).is_none());
        assert!(S::decode_element(&[0; 31]).is_none());
        assert!(S::decode_element(&[0; 33]).is_none());
        // Scalars: ℓ itself and anything above are refused.
        let l_bytes = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        assert!(S::decode_scalar(&l_bytes).is_none());
        let mut below = l_bytes;
        below[0] -= 1;
        assert!(S::decode_scalar(&below).is_some());
        assert!(S::decode_scalar(&[0xff; 32]).is_none());
    }

    #[test]
    fn kdf_separates_salt_ikm_and_info() {
        let a = S::kdf(b"", b"ab", b"c", 32);
        assert_ne!(*a, *S::kdf(b"", b"a", b"bc", 32));
        assert_ne!(*a, *S::kdf(b"a", b"b", b"c", 32));
        // A longer output extends a shorter one (XOF), as HKDF-Expand does.
        assert_eq!(S::kdf(b"", b"ab", b"c", 64)[..32], a[..]);
    }
}
