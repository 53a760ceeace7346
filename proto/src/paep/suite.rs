//! What SPAKE2+ needs of a ciphersuite (RFC 9383 §4): a prime-order group with canonical
//! encodings and the two generators M and N, and Hash, KDF and MAC.
//!
//! The login state machines ([`super::login`]) are generic over [`Ciphersuite`], so that the one
//! implementation is checked against the RFC's published vectors (the P-256 suite, in a test)
//! and runs Herald's suite ([`super::Ristretto255Blake3`]) in production.
//!
//! **Prime order only.** RFC 9383 multiplies by the cofactor h; every suite here has h = 1
//! (P-256, ristretto255), so the machines leave it out. A suite over a group with a cofactor
//! would have to clear it inside [`Ciphersuite::decode_element`].

use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

/// A SPAKE2+ ciphersuite: group, generators, Hash, KDF, MAC.
///
/// Implementations must be constant time in the scalars (x, y, w0, w1 are secret) and must make
/// [`Ciphersuite::decode_element`] refuse every byte string that is not the canonical encoding
/// of a group element: the machines then refuse the identity themselves.
pub trait Ciphersuite {
    /// An integer mod p (the group order). Zeroized on drop by its owners.
    type Scalar: Clone + Zeroize;
    /// A group element.
    type Element: Clone;

    /// The suite's name, e.g. `"ristretto255-BLAKE3"`.
    const NAME: &'static str;
    /// Length of Hash's output, and of K_main and K_shared.
    const HASH_LEN: usize;
    /// Length of each confirmation key (K_confirmP, K_confirmV).
    const MAC_KEY_LEN: usize;
    /// Length of a MAC (confirmP, confirmV).
    const MAC_LEN: usize;

    /// A scalar drawn uniformly from [0, p−1].
    fn random_scalar<R: CryptoRng + ?Sized>(rng: &mut R) -> Self::Scalar;
    /// Reduces 64 uniformly random bytes mod p (bias ≤ 2^-(512 − log2 p)); how the bytes are
    /// read as an integer is the suite's to say, once.
    fn scalar_from_wide(bytes: &[u8; 64]) -> Self::Scalar;
    /// The scalar's canonical encoding (as it appears in the transcript, `lp(w0)`).
    fn encode_scalar(scalar: &Self::Scalar) -> Zeroizing<Vec<u8>>;
    /// The scalar a canonical encoding stands for; `None` for anything else (including
    /// encodings of integers ≥ p).
    fn decode_scalar(bytes: &[u8]) -> Option<Self::Scalar>;

    /// `s·G` (G the group's generator, RFC 9383's P).
    fn base_mul(scalar: &Self::Scalar) -> Self::Element;
    /// `s·E`.
    fn mul(element: &Self::Element, scalar: &Self::Scalar) -> Self::Element;
    /// `s·M`; suites may use a precomputed table.
    fn m_mul(scalar: &Self::Scalar) -> Self::Element {
        Self::mul(&Self::m(), scalar)
    }
    /// `s·N`; suites may use a precomputed table.
    fn n_mul(scalar: &Self::Scalar) -> Self::Element {
        Self::mul(&Self::n(), scalar)
    }
    /// `A + B`.
    fn add(a: &Self::Element, b: &Self::Element) -> Self::Element;
    /// `A − B`.
    fn sub(a: &Self::Element, b: &Self::Element) -> Self::Element;
    /// Whether the element is the identity.
    fn is_identity(element: &Self::Element) -> bool;
    /// The generator M (nobody knows its discrete log).
    fn m() -> Self::Element;
    /// The generator N (nobody knows its discrete log).
    fn n() -> Self::Element;
    /// M's encoding (in every transcript); suites may cache it.
    fn encoded_m() -> Vec<u8> {
        Self::encode_element(&Self::m())
    }
    /// N's encoding (in every transcript); suites may cache it.
    fn encoded_n() -> Vec<u8> {
        Self::encode_element(&Self::n())
    }
    /// The element's canonical encoding.
    fn encode_element(element: &Self::Element) -> Vec<u8>;
    /// The element a canonical encoding stands for; `None` for anything else (wrong length,
    /// not on the curve, not in the prime-order group, a non-canonical spelling).
    fn decode_element(bytes: &[u8]) -> Option<Self::Element>;

    /// `Hash(TT)`: K_main, [`Ciphersuite::HASH_LEN`] bytes.
    fn hash(transcript: &[u8]) -> Zeroizing<Vec<u8>>;
    /// `KDF(salt, ikm, info)` producing `len` bytes.
    fn kdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Zeroizing<Vec<u8>>;
    /// `MAC(key, message)`, [`Ciphersuite::MAC_LEN`] bytes.
    fn mac(key: &[u8], message: &[u8]) -> Vec<u8>;
}
