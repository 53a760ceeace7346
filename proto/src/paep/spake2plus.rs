//! The arithmetic, transcript and key schedule of SPAKE2+, exactly as RFC 9383 §3.3–3.4 write
//! them, for any [`Ciphersuite`]. Crate-private: the only way to use them is through the login
//! state machines ([`super::login`]), which enforce the order of checks; the RFC 9383 vector
//! test drives them directly.
//!
//! ```text
//! prover:   X = x·G + w0·M                 Z = x·(Y − w0·N)    V = w1·(Y − w0·N)
//! verifier: Y = y·G + w0·N                 Z = y·(X − w0·M)    V = y·L
//! TT = lp(Context) ‖ lp(idProver) ‖ lp(idVerifier) ‖ lp(M) ‖ lp(N)
//!      ‖ lp(shareP) ‖ lp(shareV) ‖ lp(Z) ‖ lp(V) ‖ lp(w0)
//! K_main = Hash(TT)
//! K_confirmP ‖ K_confirmV = KDF(nil, K_main, "ConfirmationKeys")
//! K_shared = KDF(nil, K_main, "SharedKey")
//! confirmP = MAC(K_confirmP, shareV)        confirmV = MAC(K_confirmV, shareP)
//! ```
//!
//! `lp` is RFC 9383's `len(x) ‖ x` with an 8-byte little-endian length, the same as Herald's.
//! Beyond the RFC's group-membership checks, Z and V must not be the identity (DESIGN §3:
//! "reject identity results"): a peer who chose its share as exactly `w0·M` would otherwise
//! force Z = I.

use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, Zeroizing};

use super::LoginError;
use super::suite::Ciphersuite;
use crate::entry::lp;

/// RFC 9383's KDF info for the confirmation keys.
const CONFIRMATION_KEYS_INFO: &[u8] = b"ConfirmationKeys";
/// RFC 9383's KDF info for the shared key.
const SHARED_KEY_INFO: &[u8] = b"SharedKey";

/// Context and identities that go at the front of the transcript. For Herald:
/// [`LoginContext::herald`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginContext {
    context: Vec<u8>,
    id_prover: String,
    id_verifier: String,
}

/// The transcript context of Herald's login (RFC 9383's `Context`).
pub const HERALD_LOGIN_CONTEXT: &str = "herald v1 paep login";

impl LoginContext {
    /// Any context and identities (the RFC's vectors use `"client"` and `"server"`).
    pub fn new(context: &[u8], id_prover: &str, id_verifier: &str) -> Self {
        LoginContext {
            context: context.to_vec(),
            id_prover: id_prover.to_owned(),
            id_verifier: id_verifier.to_owned(),
        }
    }

    /// Herald's: Context [`HERALD_LOGIN_CONTEXT`], idProver the account address, idVerifier the
    /// gateway's domain. Both identities are always present (RFC 9383 §3.3: against
    /// unknown-key-share attacks).
    pub fn herald(account: &str, domain: &str) -> Self {
        Self::new(HERALD_LOGIN_CONTEXT.as_bytes(), account, domain)
    }

    /// idProver: the account logging in.
    pub fn id_prover(&self) -> &str {
        &self.id_prover
    }

    /// idVerifier: the gateway.
    pub fn id_verifier(&self) -> &str {
        &self.id_verifier
    }
}

/// Decodes a peer's share: a canonical element, not the identity.
pub(crate) fn decode_share<S: Ciphersuite>(
    bytes: &[u8],
    what: &'static str,
) -> Result<S::Element, LoginError> {
    let element = S::decode_element(bytes).ok_or(LoginError::BadShare { what })?;
    if S::is_identity(&element) {
        return Err(LoginError::IdentityShare { what });
    }
    Ok(element)
}

/// `X = x·G + w0·M`.
pub(crate) fn share_p<S: Ciphersuite>(w0: &S::Scalar, x: &S::Scalar) -> S::Element {
    S::add(&S::base_mul(x), &S::m_mul(w0))
}

/// `Y = y·G + w0·N`.
pub(crate) fn share_v<S: Ciphersuite>(w0: &S::Scalar, y: &S::Scalar) -> S::Element {
    S::add(&S::base_mul(y), &S::n_mul(w0))
}

/// The prover's `(Z, V) = (x·(Y − w0·N), w1·(Y − w0·N))`.
pub(crate) fn prover_shared<S: Ciphersuite>(
    w0: &S::Scalar,
    w1: &S::Scalar,
    x: &S::Scalar,
    share_v: &S::Element,
) -> Result<(S::Element, S::Element), LoginError> {
    let unmasked = S::sub(share_v, &S::n_mul(w0));
    non_identity::<S>(S::mul(&unmasked, x), S::mul(&unmasked, w1))
}

/// The verifier's `(Z, V) = (y·(X − w0·M), y·L)`.
pub(crate) fn verifier_shared<S: Ciphersuite>(
    w0: &S::Scalar,
    l: &S::Element,
    y: &S::Scalar,
    share_p: &S::Element,
) -> Result<(S::Element, S::Element), LoginError> {
    let unmasked = S::sub(share_p, &S::m_mul(w0));
    non_identity::<S>(S::mul(&unmasked, y), S::mul(l, y))
}

fn non_identity<S: Ciphersuite>(
    z: S::Element,
    v: S::Element,
) -> Result<(S::Element, S::Element), LoginError> {
    if S::is_identity(&z) || S::is_identity(&v) {
        return Err(LoginError::IdentityResult);
    }
    Ok((z, v))
}

/// TT (RFC 9383 §3.3). Secret: it holds Z, V and w0.
pub(crate) fn transcript<S: Ciphersuite>(
    context: &LoginContext,
    share_p: &[u8],
    share_v: &[u8],
    z: &S::Element,
    v: &S::Element,
    w0: &S::Scalar,
) -> Zeroizing<Vec<u8>> {
    let mut tt = Zeroizing::new(Vec::with_capacity(512));
    lp(&mut tt, &context.context);
    lp(&mut tt, context.id_prover.as_bytes());
    lp(&mut tt, context.id_verifier.as_bytes());
    lp(&mut tt, &S::encoded_m());
    lp(&mut tt, &S::encoded_n());
    lp(&mut tt, share_p);
    lp(&mut tt, share_v);
    let mut z = S::encode_element(z);
    let mut v = S::encode_element(v);
    lp(&mut tt, &z);
    lp(&mut tt, &v);
    z.zeroize();
    v.zeroize();
    lp(&mut tt, &S::encode_scalar(w0));
    tt
}

/// The keys of RFC 9383 §3.4, all zeroized on drop.
pub(crate) struct KeySchedule {
    /// Read only by the RFC 9383 vector test; the confirmation keys and K_shared come from it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) k_main: Zeroizing<Vec<u8>>,
    pub(crate) k_confirm_p: Zeroizing<Vec<u8>>,
    pub(crate) k_confirm_v: Zeroizing<Vec<u8>>,
    pub(crate) k_shared: Zeroizing<Vec<u8>>,
}

impl KeySchedule {
    /// K_main = Hash(TT), then the confirmation keys and K_shared from it.
    pub(crate) fn derive<S: Ciphersuite>(transcript: &[u8]) -> KeySchedule {
        let k_main = S::hash(transcript);
        let confirm = S::kdf(&[], &k_main, CONFIRMATION_KEYS_INFO, 2 * S::MAC_KEY_LEN);
        let (p, v) = confirm.split_at(S::MAC_KEY_LEN);
        let k_shared = S::kdf(&[], &k_main, SHARED_KEY_INFO, S::HASH_LEN);
        KeySchedule {
            k_confirm_p: Zeroizing::new(p.to_vec()),
            k_confirm_v: Zeroizing::new(v.to_vec()),
            k_main,
            k_shared,
        }
    }

    /// `confirmP = MAC(K_confirmP, shareV)`.
    pub(crate) fn confirm_p<S: Ciphersuite>(&self, share_v: &[u8]) -> Vec<u8> {
        S::mac(&self.k_confirm_p, share_v)
    }

    /// `confirmV = MAC(K_confirmV, shareP)`.
    pub(crate) fn confirm_v<S: Ciphersuite>(&self, share_p: &[u8]) -> Vec<u8> {
        S::mac(&self.k_confirm_v, share_p)
    }
}

/// Constant-time comparison of a received confirmation with the expected one.
pub(crate) fn confirmation_matches(expected: &[u8], received: &[u8]) -> bool {
    expected.len() == received.len() && bool::from(expected.ct_eq(received))
}
