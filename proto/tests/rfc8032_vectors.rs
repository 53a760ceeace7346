//! RFC 8032 §7.1's Ed25519 test vectors (TEST 1, 2, 3), checked through proto's own
//! verification functions: signing from each seed gives the RFC's public key and signature, the
//! strict check accepts them, and any flipped bit, or the RFC's `S` made non-canonical by adding
//! the group order, is refused.
//!
//! Source: RFC 8032, "Edwards-Curve Digital Signature Algorithm (EdDSA)", section 7.1. These
//! guard the arithmetic whichever curve25519-dalek backend the CPU selects at run time (IFMA,
//! AVX2 or serial; `.cargo/config.toml`, docs/decisions.md).

use ed25519_dalek::{Signer as _, SigningKey};
use herald_proto::entry::{AuthorKeys, EntryError, verify_signature, verifying_key};

/// (secret seed, public key, message, signature), hex, as printed in the RFC.
const VECTORS: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

/// The order of the prime-order subgroup, ℓ = 2^252 + 27742317777372353535851937790883648493,
/// little-endian (RFC 8032 §5.1, "L").
const ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn vectors() -> impl Iterator<Item = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>)> {
    VECTORS.iter().map(|(seed, key, message, signature)| {
        (unhex(seed), unhex(key), unhex(message), unhex(signature))
    })
}

#[test]
fn signing_from_each_seed_gives_the_rfc_key_and_signature_and_the_strict_check_accepts_them() {
    let memory = AuthorKeys::default();
    for (seed, key, message, signature) in vectors() {
        let signer = SigningKey::from_bytes(&seed.clone().try_into().unwrap());
        assert_eq!(signer.verifying_key().to_bytes().as_slice(), key);
        assert_eq!(signer.sign(&message).to_bytes().as_slice(), signature);
        verify_signature(&key, &message, &signature).unwrap();
        memory.verify(&key, &message, &signature).unwrap();
        verifying_key(&key).unwrap();
    }
}

#[test]
fn every_flipped_bit_of_key_message_or_signature_is_refused() {
    let memory = AuthorKeys::default();
    for (_, key, message, signature) in vectors() {
        for bit in 0..signature.len() * 8 {
            let mut bad = signature.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                verify_signature(&key, &message, &bad).is_err(),
                "signature bit {bit}"
            );
            assert!(
                memory.verify(&key, &message, &bad).is_err(),
                "signature bit {bit}"
            );
        }
        for bit in 0..key.len() * 8 {
            let mut bad = key.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                verify_signature(&bad, &message, &signature).is_err(),
                "key bit {bit}"
            );
        }
        let mut longer = message.clone();
        longer.push(0);
        assert_eq!(
            verify_signature(&key, &longer, &signature),
            Err(EntryError::BadSignature)
        );
    }
}

#[test]
fn a_signature_whose_s_is_not_reduced_is_refused() {
    // S + ℓ is the same scalar, so the group equation still holds; RFC 8032 §5.1.7 requires
    // refusing S ≥ ℓ (else one signature has two encodings).
    for (_, key, message, signature) in vectors() {
        let mut bad = signature.clone();
        let mut carry = 0u16;
        for (byte, order) in bad[32..].iter_mut().zip(ORDER) {
            let sum = u16::from(*byte) + u16::from(order) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0, "S + ℓ fits in 32 bytes");
        assert_eq!(
            verify_signature(&key, &message, &bad),
            Err(EntryError::BadSignature)
        );
    }
}
