//! The one strict Ed25519 check every signature in Herald goes through: entries' author
//! signatures, checkpoint and cosignature signatures, notes.
//!
//! It accepts exactly what ed25519-dalek's `VerifyingKey::verify_strict` accepts (RFC 8032
//! §5.1.7 with `S < ℓ`, and neither the key nor `R` of small order; the cofactorless equation),
//! and is checked against it input by input in the tests below. It differs in how: dalek
//! recomputes `R' = [S]B − [k]A`, *compresses* it (a field inversion: some 250 squarings) and
//! compares the bytes with `R`. It has already *decompressed* `R` for the small-order check,
//! so here `R'` is compared with that point in projective coordinates (four multiplications)
//! instead, with `R`'s `y` checked canonical (`y < p`) so that the two comparisons agree on every
//! encoding: a compressed point equals `R`'s bytes exactly when `y` is canonical, the points are
//! equal, and `x`'s sign bit is that of the decompressed point, which decompression ensures
//! except for `x = 0` (the points of `y = ±1`, both of small order and refused before).
//! Measured (22.9 → 19.2 µs): docs/performance.md, "After the IFMA backend, one strict check and
//! the ack path's allocations".

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha512};

/// Does `signature` by `key` over `message` hold under the strict rules (see the module docs)?
pub fn verify_strict(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
    let r_bytes = signature.r_bytes();
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*signature.s_bytes())) else {
        return false;
    };
    if !canonical_y(r_bytes) || small_order(r_bytes) || small_order(key.as_bytes()) {
        return false;
    }
    let Some(r) = CompressedEdwardsY(*r_bytes).decompress() else {
        return false;
    };
    let a = key.to_edwards();
    let mut hash = Sha512::new();
    hash.update(r_bytes);
    hash.update(key.as_bytes());
    hash.update(message);
    let digest: [u8; 64] = hash.finalize().into();
    let k = Scalar::from_bytes_mod_order_wide(&digest);
    // −[k]A + [S]B, compared with R without leaving projective coordinates.
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &s) == r
}

/// The `y` (low 255 bits, little-endian) of every encoding of a point of small order: 0, 1,
/// p − 1 and the two `y` of the points of order 8 (the eight points' canonical encodings, the
/// sign bit aside), and p and p + 1, the non-canonical spellings of 0 and 1 (y + p < 2^255 for no
/// other of them). Every point with one of these `y` is of small order, so an encoding that
/// decompresses is of a small-order point exactly when its `y` is listed: what
/// `EdwardsPoint::is_small_order` decides after decompression (three doublings), decided on the
/// bytes. Tested against it below, and against `EIGHT_TORSION`.
const SMALL_ORDER_Y: [[u8; 32]; 7] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// Would `bytes`, decompressed, be a point of small order (see [`SMALL_ORDER_Y`])?
fn small_order(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    SMALL_ORDER_Y.contains(&y)
}

/// Is the `y` of a compressed point (its low 255 bits) below p = 2^255 − 19?
fn canonical_y(bytes: &[u8; 32]) -> bool {
    // y ≥ p exactly when its 255 bits are all ones but for the lowest byte, which is ≥ 0xed.
    !(bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer as _, SigningKey};

    use super::*;

    /// The order ℓ, little-endian.
    const ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    /// The reference: ed25519-dalek's own strict check, from the raw bytes.
    fn reference(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        VerifyingKey::from_bytes(key).is_ok_and(|k| {
            k.verify_strict(message, &Signature::from_bytes(signature))
                .is_ok()
        })
    }

    fn ours(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        VerifyingKey::from_bytes(key)
            .is_ok_and(|k| verify_strict(&k, message, &Signature::from_bytes(signature)))
    }

    /// A small deterministic generator (xorshift), so every run checks the same inputs.
    struct Bits(u64);
    impl Bits {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes<const N: usize>(&mut self) -> [u8; N] {
            std::array::from_fn(|_| self.next() as u8)
        }
    }

    /// Every encoding of a point of small order (the eight points, with each `y` that has a
    /// non-canonical spelling `y + p < 2^255`, and both sign bits).
    fn small_order_encodings() -> Vec<[u8; 32]> {
        let torsion = curve25519_dalek::constants::EIGHT_TORSION;
        let mut out = Vec::new();
        for point in torsion {
            let canonical = point.compress().to_bytes();
            for sign in [0u8, 0x80] {
                let mut bytes = canonical;
                bytes[31] = (bytes[31] & 0x7f) | sign;
                out.push(bytes);
            }
        }
        // y = 0 and y = 1 have spellings at or above p (p and p + 1): among all of those.
        out.extend(spellings_at_or_above_p().map(|(_, bytes)| bytes));
        out
    }

    /// Every encoding whose `y` is at or above p = 2^255 − 19: p + y for y < 19, each with the
    /// sign bit clear and set, with its `y`.
    fn spellings_at_or_above_p() -> impl Iterator<Item = (u8, [u8; 32])> {
        (0u8..19).flat_map(|y| {
            [0x7f, 0xff].map(|top| {
                let mut bytes = [0xff; 32];
                bytes[0] = 0xed + y;
                bytes[31] = top;
                (y, bytes)
            })
        })
    }

    fn agree(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        let expected = reference(key, message, signature);
        assert_eq!(
            ours(key, message, signature),
            expected,
            "key {key:02x?} message {message:02x?} signature {signature:02x?}"
        );
        expected
    }

    #[test]
    fn agrees_with_ed25519_dalek_verify_strict_on_good_tampered_and_degenerate_signatures() {
        let mut bits = Bits(0x2545_f491_4f6c_dd1d);
        let small = small_order_encodings();
        let mut accepted = 0;
        for round in 0..200 {
            let signer = SigningKey::from_bytes(&bits.bytes());
            let key = signer.verifying_key().to_bytes();
            let message: Vec<u8> = (0..round % 70).map(|_| bits.next() as u8).collect();
            let signature = signer.sign(&message).to_bytes();
            accepted += usize::from(agree(&key, &message, &signature));
            // A random bit of the signature, the key or the message flipped.
            let bit = (bits.next() % 512) as usize;
            let mut flipped = signature;
            flipped[bit / 8] ^= 1 << (bit % 8);
            agree(&key, &message, &flipped);
            let mut other_key = key;
            other_key[bit % 256 / 8] ^= 1 << (bit % 8);
            agree(&other_key, &message, &signature);
            // S + ℓ: the same scalar, not reduced.
            let mut unreduced = signature;
            let mut carry = 0u16;
            for (byte, order) in unreduced[32..].iter_mut().zip(ORDER) {
                let sum = u16::from(*byte) + u16::from(order) + carry;
                *byte = sum as u8;
                carry = sum >> 8;
            }
            agree(&key, &message, &unreduced);
            // R or the key replaced by a point of small order, in every spelling.
            let spelling = small[round % small.len()];
            let mut small_r = signature;
            small_r[..32].copy_from_slice(&spelling);
            agree(&key, &message, &small_r);
            agree(&spelling, &message, &signature);
            // Random bytes where R or the key goes (most are not points).
            let mut random_r = signature;
            random_r[..32].copy_from_slice(&bits.bytes::<32>());
            agree(&key, &message, &random_r);
            agree(&bits.bytes(), &message, &signature);
            // R with its sign bit flipped (the point's negative, or no point).
            let mut negated = signature;
            negated[31] ^= 0x80;
            agree(&key, &message, &negated);
        }
        assert_eq!(accepted, 200, "every untampered signature holds");
    }

    #[test]
    fn small_order_on_the_bytes_agrees_with_dalek_after_decompression() {
        // Every spelling of the eight points of small order, and 10,000 random encodings (about
        // half of them points, of large order) and random points' encodings.
        let mut bits = Bits(0x9e37_79b9_7f4a_7c15);
        let mut encodings = small_order_encodings();
        for _ in 0..5_000 {
            encodings.push(bits.bytes());
            let point = curve25519_dalek::constants::ED25519_BASEPOINT_POINT
                * Scalar::from_bytes_mod_order(bits.bytes());
            // Also of mixed order: a torsion point added.
            let torsion = curve25519_dalek::constants::EIGHT_TORSION[(bits.next() % 8) as usize];
            encodings.push((point + torsion).compress().to_bytes());
        }
        let mut small = 0;
        for bytes in &encodings {
            if let Some(point) = CompressedEdwardsY(*bytes).decompress() {
                assert_eq!(small_order(bytes), point.is_small_order(), "{bytes:02x?}");
                small += usize::from(point.is_small_order());
            }
        }
        // The eight points in both signs, and p and p + 1 (0 and 1) in both signs.
        assert_eq!(small, 20, "every spelling of a small-order point was tried");
        for point in curve25519_dalek::constants::EIGHT_TORSION {
            assert!(small_order(&point.compress().to_bytes()));
        }
    }

    #[test]
    fn canonical_y_refuses_exactly_the_spellings_at_or_above_p() {
        // The spellings p + y for y < 19 are the only ones at or above p (the agreement test
        // above signs with each of them as R, against dalek); the sign bit is not part of y.
        for (y, bytes) in spellings_at_or_above_p() {
            assert!(!canonical_y(&bytes), "p + {y}, top byte {:02x}", bytes[31]);
        }
        let mut below = [0xff; 32];
        below[0] = 0xec;
        below[31] = 0x7f;
        assert!(canonical_y(&below), "p − 1");
        assert!(canonical_y(&[0; 32]));
    }
}
