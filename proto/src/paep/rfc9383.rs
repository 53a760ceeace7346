//! RFC 9383 Appendix C, byte for byte: the `P256-SHA256-HKDF-SHA256-HMAC-SHA256` suite
//! implemented with the `p256`, `sha2`, `hkdf` and `hmac` crates (P-256 as a dev-dependency
//! only), run through Herald's generic SPAKE2+ code and its login state machines, must give
//! every value of the RFC's first test vector (`proto/testdata/paep-rfc9383-p256.txt`, whose
//! header says where the values come from).

use std::collections::BTreeMap;

use hmac::{KeyInit as _, Mac as _};
use p256::elliptic_curve::Group as _;
use p256::elliptic_curve::bigint::U256;
use p256::elliptic_curve::ff::PrimeField as _;
use p256::elliptic_curve::ops::Reduce as _;
use p256::elliptic_curve::sec1::{FromSec1Point as _, ToSec1Point as _};
use p256::{FieldBytes, ProjectivePoint, Scalar};
use rand_core::CryptoRng;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::login::{AwaitingChallenge, ServerStart};
use super::password::{ProverSecrets, VerifierRecord};
use super::spake2plus::{
    KeySchedule, LoginContext, prover_shared, share_p, share_v, transcript, verifier_shared,
};
use super::suite::Ciphersuite;

const VECTORS: &str = include_str!("../../testdata/paep-rfc9383-p256.txt");

/// RFC 9383's P-256 suite with SHA-256, HKDF-SHA256 and HMAC-SHA256. Elements are SEC1
/// uncompressed (as the RFC's vectors encode them); scalars 32 bytes big-endian.
enum P256Sha256 {}

fn point(bytes: &[u8]) -> ProjectivePoint {
    ProjectivePoint::from_sec1_bytes(bytes).expect("a point from the RFC")
}

impl Ciphersuite for P256Sha256 {
    type Scalar = Scalar;
    type Element = ProjectivePoint;

    const NAME: &'static str = "P256-SHA256-HKDF-SHA256-HMAC-SHA256";
    const HASH_LEN: usize = 32;
    const MAC_KEY_LEN: usize = 32;
    const MAC_LEN: usize = 32;

    fn random_scalar<R: CryptoRng + ?Sized>(rng: &mut R) -> Scalar {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        Self::scalar_from_wide(&wide)
    }

    fn scalar_from_wide(bytes: &[u8; 64]) -> Scalar {
        // hi·2^256 + lo mod n, the 64 bytes read big-endian.
        let hi = Scalar::reduce(&U256::from_be_slice(&bytes[..32]));
        let lo = Scalar::reduce(&U256::from_be_slice(&bytes[32..]));
        let two_256 = Scalar::reduce(&U256::MAX) + Scalar::ONE;
        hi * two_256 + lo
    }

    fn encode_scalar(scalar: &Scalar) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(scalar.to_bytes().to_vec())
    }

    fn decode_scalar(bytes: &[u8]) -> Option<Scalar> {
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Scalar::from_repr(FieldBytes::from(bytes)).into_option()
    }

    fn base_mul(scalar: &Scalar) -> ProjectivePoint {
        ProjectivePoint::GENERATOR * scalar
    }

    fn mul(element: &ProjectivePoint, scalar: &Scalar) -> ProjectivePoint {
        *element * scalar
    }

    fn add(a: &ProjectivePoint, b: &ProjectivePoint) -> ProjectivePoint {
        *a + b
    }

    fn sub(a: &ProjectivePoint, b: &ProjectivePoint) -> ProjectivePoint {
        *a - b
    }

    fn is_identity(element: &ProjectivePoint) -> bool {
        element.is_identity().into()
    }

    fn m() -> ProjectivePoint {
        point(&vector("M"))
    }

    fn n() -> ProjectivePoint {
        point(&vector("N"))
    }

    fn encode_element(element: &ProjectivePoint) -> Vec<u8> {
        element.to_affine().to_sec1_point(false).as_bytes().to_vec()
    }

    fn decode_element(bytes: &[u8]) -> Option<ProjectivePoint> {
        if bytes.len() != 65 || bytes[0] != 0x04 {
            return None;
        }
        let p = ProjectivePoint::from_sec1_bytes(bytes).ok()?;
        (Self::encode_element(&p) == bytes).then_some(p)
    }

    fn hash(transcript: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(Sha256::digest(transcript).to_vec())
    }

    fn kdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
        let salt = (!salt.is_empty()).then_some(salt);
        let mut out = Zeroizing::new(vec![0u8; len]);
        hkdf::Hkdf::<Sha256>::new(salt, ikm)
            .expand(info, &mut out)
            .expect("HKDF-SHA256 gives up to 8160 bytes");
        out
    }

    fn mac(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
}

fn values() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in VECTORS.lines().filter(|l| !l.starts_with('#')) {
        if let Some((name, hex)) = line.split_once(" = 0x") {
            out.insert(name.to_owned(), hex.to_owned());
        } else if let Some(rest) = line.strip_prefix('[') {
            let (name, text) = rest
                .strip_suffix("']")
                .and_then(|r| r.split_once("=b'"))
                .expect("[name=b'text']");
            out.insert(name.to_owned(), text.to_owned());
        }
    }
    out
}

fn vector(name: &str) -> Vec<u8> {
    let hex = values()
        .remove(name)
        .unwrap_or_else(|| panic!("{name} in the file"));
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn text(name: &str) -> String {
    values()
        .remove(name)
        .unwrap_or_else(|| panic!("{name} in the file"))
}

fn scalar(name: &str) -> Scalar {
    P256Sha256::decode_scalar(&vector(name)).expect("a canonical scalar")
}

fn context() -> LoginContext {
    LoginContext::new(
        text("Context").as_bytes(),
        &text("idProver"),
        &text("idVerifier"),
    )
}

type S = P256Sha256;

#[test]
fn rfc9383_appendix_c_p256_every_intermediate_value() {
    let (w0, w1, x, y) = (scalar("w0"), scalar("w1"), scalar("x"), scalar("y"));
    assert_eq!(text("Context").len(), 56);
    // Registration: L = w1·G.
    let secrets = ProverSecrets::<S>::from_scalars(w0, w1);
    let record = secrets.record();
    assert_eq!(record.encode().1, vector("L"));
    assert_eq!(*record.encode().0, vector("w0"));
    // Shares.
    let big_x = share_p::<S>(&w0, &x);
    let big_y = share_v::<S>(&w0, &y);
    assert_eq!(S::encode_element(&big_x), vector("shareP"));
    assert_eq!(S::encode_element(&big_y), vector("shareV"));
    // Z and V, computed by each side.
    let (z, v) = prover_shared::<S>(&w0, &w1, &x, &big_y).unwrap();
    assert_eq!(S::encode_element(&z), vector("Z"));
    assert_eq!(S::encode_element(&v), vector("V"));
    let l = S::decode_element(&vector("L")).unwrap();
    let (z2, v2) = verifier_shared::<S>(&w0, &l, &y, &big_x).unwrap();
    assert_eq!(S::encode_element(&z2), vector("Z"));
    assert_eq!(S::encode_element(&v2), vector("V"));
    // Transcript and key schedule.
    let tt = transcript::<S>(
        &context(),
        &vector("shareP"),
        &vector("shareV"),
        &z,
        &v,
        &w0,
    );
    assert_eq!(*tt, vector("TT"));
    let keys = KeySchedule::derive::<S>(&tt);
    assert_eq!(*keys.k_main, vector("K_main"));
    assert_eq!(*keys.k_confirm_p, vector("K_confirmP"));
    assert_eq!(*keys.k_confirm_v, vector("K_confirmV"));
    assert_eq!(
        keys.confirm_p::<S>(&vector("shareV")),
        vector("HMAC(K_confirmP, shareV)")
    );
    assert_eq!(
        keys.confirm_v::<S>(&vector("shareP")),
        vector("HMAC(K_confirmV, shareP)")
    );
    assert_eq!(*keys.k_shared, vector("K_shared"));
}

#[test]
fn rfc9383_appendix_c_p256_through_the_login_state_machines() {
    let secrets = ProverSecrets::<S>::from_scalars(scalar("w0"), scalar("w1"));
    let record = VerifierRecord::<S>::decode(&vector("w0"), &vector("L")).unwrap();
    let now = 1_000;
    let (client, share) =
        AwaitingChallenge::<S>::with_ephemeral(context(), secrets, scalar("x"), now);
    assert_eq!(share.share_p, vector("shareP"));
    assert_eq!(share.account, "client");
    let server = ServerStart::<S>::new(context(), record);
    let (server, challenge) = server.respond(&share, scalar("y"), now + 1).unwrap();
    assert_eq!(challenge.share_v, vector("shareV"));
    assert_eq!(challenge.confirm_v, vector("HMAC(K_confirmV, shareP)"));
    let (client, confirm) = client.handle(&challenge, now + 2).unwrap();
    assert_eq!(confirm.confirm_p, vector("HMAC(K_confirmP, shareV)"));
    let server = server.handle(&confirm, now + 3).unwrap();
    assert_eq!(client.key().as_bytes(), vector("K_shared"));
    assert_eq!(server.key().as_bytes(), vector("K_shared"));
}

#[test]
fn the_p256_suite_refuses_non_canonical_and_compressed_points() {
    // The suite under test is strict too: compressed M is a valid point but not the
    // uncompressed encoding this suite uses.
    assert!(S::decode_element(&vector("M")).is_none());
    let mut off_curve = vector("shareP");
    off_curve[64] ^= 1;
    assert!(S::decode_element(&off_curve).is_none());
    assert!(S::decode_scalar(&[0xff; 32]).is_none());
}
