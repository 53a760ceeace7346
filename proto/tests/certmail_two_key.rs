//! ChaCha20-Poly1305 is not key-committing: a sender can craft ONE ciphertext that decrypts,
//! tag and all, under TWO keys to two different messages (Len, Grubbs, Ristenpart 2021,
//! "Partitioning oracle attacks"). A cheating sender would show an arbiter K1 and M1 while
//! publishing K2, so that the recipient reads M2.
//!
//! This test builds such a ciphertext for real: Poly1305 is linear in the message blocks, so with
//! one free 16-byte block the tags under (r1, s1) and (r2, s2) are made equal by solving one
//! linear equation modulo 2^130 − 5. Both keys then open it with the real `chacha20poly1305`
//! crate. What stops the attack is Herald's key commitment `c_K = KDF("herald v1 cm commit", K)`:
//! the recipient and the arbiter check the key against the c_K in the signed request before
//! decrypting, and only K1 matches it.

mod certmail_support;

use certmail_support::*;
use herald_proto::certmail::recipient::{Received, RecipientInput, RequestTerms};
use herald_proto::certmail::{
    CertMailError, MessageKey, decrypt_message, encrypt_message, ephemeral_secret,
    publication_entry, verify_request,
};
use herald_proto::evidence::{ArbiterContext, Check, Outcome, arbitrate};
use herald_proto::wire::pb;

// ---- ChaCha20 (RFC 8439 §2.3), to get the Poly1305 one-time key the AEAD hides ----

fn quarter(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

fn chacha20_block(key: &[u8; 32], counter: u32, nonce: &[u8; 12]) -> [u8; 64] {
    let word = |b: &[u8]| u32::from_le_bytes(b.try_into().unwrap());
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for i in 0..8 {
        init[4 + i] = word(&key[4 * i..4 * i + 4]);
    }
    init[12] = counter;
    for i in 0..3 {
        init[13 + i] = word(&nonce[4 * i..4 * i + 4]);
    }
    let mut s = init;
    for _ in 0..10 {
        quarter(&mut s, 0, 4, 8, 12);
        quarter(&mut s, 1, 5, 9, 13);
        quarter(&mut s, 2, 6, 10, 14);
        quarter(&mut s, 3, 7, 11, 15);
        quarter(&mut s, 0, 5, 10, 15);
        quarter(&mut s, 1, 6, 11, 12);
        quarter(&mut s, 2, 7, 8, 13);
        quarter(&mut s, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for i in 0..16 {
        out[4 * i..4 * i + 4].copy_from_slice(&s[i].wrapping_add(init[i]).to_le_bytes());
    }
    out
}

// ---- Arithmetic modulo p = 2^130 − 5, five 26-bit limbs (poly1305-donna's layout) ----

const M26: u64 = (1 << 26) - 1;

#[derive(Clone, Copy, Debug)]
struct Fe([u64; 5]);

impl Fe {
    /// `lo + top · 2^128`.
    fn new(lo: u128, top: u64) -> Fe {
        Fe([
            (lo as u64) & M26,
            ((lo >> 26) as u64) & M26,
            ((lo >> 52) as u64) & M26,
            ((lo >> 78) as u64) & M26,
            ((lo >> 104) as u64) | (top << 24),
        ])
        .carry()
    }

    fn carry(mut self) -> Fe {
        for _ in 0..2 {
            for i in 0..4 {
                self.0[i + 1] += self.0[i] >> 26;
                self.0[i] &= M26;
            }
            self.0[0] += (self.0[4] >> 26) * 5;
            self.0[4] &= M26;
        }
        self
    }

    /// The unique representative in [0, p), as (low 128 bits, bits 128..130).
    fn canonical(self) -> (u128, u64) {
        let h = self.carry().0;
        // h ≥ p exactly when h + 5 reaches 2^130.
        let mut g = h;
        g[0] += 5;
        for i in 0..4 {
            g[i + 1] += g[i] >> 26;
            g[i] &= M26;
        }
        let v = if g[4] >> 26 != 0 {
            g[4] &= M26;
            g
        } else {
            h
        };
        let lo = u128::from(v[0])
            | u128::from(v[1]) << 26
            | u128::from(v[2]) << 52
            | u128::from(v[3]) << 78
            | u128::from(v[4] & ((1 << 24) - 1)) << 104;
        (lo, v[4] >> 24)
    }

    fn add(self, o: Fe) -> Fe {
        Fe(core::array::from_fn(|i| self.0[i] + o.0[i])).carry()
    }

    fn sub(self, o: Fe) -> Fe {
        // self + 4p − o, with o's limbs reduced below 2^26.
        let (lo, top) = o.canonical();
        let o = Fe::new(lo, top).0;
        let four_p = [4 * (M26 - 4), 4 * M26, 4 * M26, 4 * M26, 4 * M26];
        Fe(core::array::from_fn(|i| self.0[i] + four_p[i] - o[i])).carry()
    }

    fn mul(self, o: Fe) -> Fe {
        let (h, r) = (self.carry().0, o.carry().0);
        let s: [u64; 5] = core::array::from_fn(|i| r[i] * 5);
        Fe([
            h[0] * r[0] + h[1] * s[4] + h[2] * s[3] + h[3] * s[2] + h[4] * s[1],
            h[0] * r[1] + h[1] * r[0] + h[2] * s[4] + h[3] * s[3] + h[4] * s[2],
            h[0] * r[2] + h[1] * r[1] + h[2] * r[0] + h[3] * s[4] + h[4] * s[3],
            h[0] * r[3] + h[1] * r[2] + h[2] * r[1] + h[3] * r[0] + h[4] * s[4],
            h[0] * r[4] + h[1] * r[3] + h[2] * r[2] + h[3] * r[1] + h[4] * r[0],
        ])
        .carry()
    }

    /// `self^(p − 2) = self^-1`; p − 2 = 2^130 − 7 has bits 129..3 and bit 0 set.
    fn invert(self) -> Fe {
        let mut acc = Fe::new(1, 0);
        for bit in (0..130).rev() {
            acc = acc.mul(acc);
            if bit >= 3 || bit == 0 {
                acc = acc.mul(self);
            }
        }
        acc
    }
}

/// The Poly1305 key of ChaCha20-Poly1305 under `key` with nonce 0: (clamped r, s).
fn poly_key(key: &[u8; 32]) -> (Fe, u128) {
    let block = chacha20_block(key, 0, &[0; 12]);
    let r = u128::from_le_bytes(block[..16].try_into().unwrap())
        & 0x0fff_fffc_0fff_fffc_0fff_fffc_0fff_ffff;
    let s = u128::from_le_bytes(block[16..32].try_into().unwrap());
    (Fe::new(r, 0), s)
}

/// Σ n_i · r^(L − i + 1) over full 16-byte blocks, each with the 2^128 bit added.
fn poly_acc(blocks: &[[u8; 16]], r: Fe) -> Fe {
    blocks.iter().fold(Fe::new(0, 0), |acc, b| {
        acc.add(Fe::new(u128::from_le_bytes(*b), 1)).mul(r)
    })
}

fn tag(acc: Fe, s: u128) -> u128 {
    acc.canonical().0.wrapping_add(s)
}

const MSG_ID: &[u8; 8] = b"msg-2key";

/// The Poly1305 input of the AEAD for a 48-byte ciphertext and AD = lp(MSG_ID) (16 bytes): no
/// padding is needed. Five blocks: AD, C1, C2, C3, lengths.
fn mac_blocks(ciphertext: &[u8; 48]) -> [[u8; 16]; 5] {
    let mut ad = [0u8; 16];
    ad[..8].copy_from_slice(&8u64.to_le_bytes());
    ad[8..].copy_from_slice(MSG_ID);
    let mut lengths = [0u8; 16];
    lengths[..8].copy_from_slice(&16u64.to_le_bytes());
    lengths[8..].copy_from_slice(&48u64.to_le_bytes());
    let c = |i: usize| -> [u8; 16] { ciphertext[16 * i..16 * i + 16].try_into().unwrap() };
    [ad, c(0), c(1), c(2), lengths]
}

/// A 48-byte ciphertext with a tag valid under both keys. The first ciphertext block is the free
/// one (exponent 4 in the polynomial); the other two come from `filler`.
fn two_key_ciphertext(k1: &[u8; 32], k2: &[u8; 32], filler: &mut TestRng) -> Option<Vec<u8>> {
    use rand_core::Rng as _;
    let ((r1, s1), (r2, s2)) = (poly_key(k1), poly_key(k2));
    let (r1_4, r2_4) = (r1.mul(r1).mul(r1).mul(r1), r2.mul(r2).mul(r2).mul(r2));
    let inv = r1_4.sub(r2_4).invert();
    for _ in 0..64 {
        let mut c = [0u8; 48];
        filler.fill_bytes(&mut c[16..]);
        // With the free block x = 0: acc_k(x) = A_k + x · r_k^4.
        let blocks = mac_blocks(&c);
        let (a1, a2) = (poly_acc(&blocks, r1), poly_acc(&blocks, r2));
        let d = s2.wrapping_sub(s1);
        // acc1 − acc2 must be an integer D ≡ s2 − s1 (mod 2^128) with |D| < p.
        for k in -4i64..=3 {
            let shift = Fe::new(0, k.unsigned_abs());
            let target = if k < 0 {
                Fe::new(d, 0).sub(shift)
            } else {
                Fe::new(d, 0).add(shift)
            };
            let (x, top) = target.sub(a1.sub(a2)).mul(inv).canonical();
            if top != 0 {
                continue; // x ≥ 2^128 does not fit a block
            }
            c[..16].copy_from_slice(&x.to_le_bytes());
            let blocks = mac_blocks(&c);
            let (t1, t2) = (
                tag(poly_acc(&blocks, r1), s1),
                tag(poly_acc(&blocks, r2), s2),
            );
            if t1 == t2 {
                let mut out = c.to_vec();
                out.extend_from_slice(&t1.to_le_bytes());
                return Some(out);
            }
        }
    }
    None
}

#[test]
fn the_field_and_chacha_helpers_match_the_real_aead() {
    // The helpers are only trustworthy if they reproduce real tags.
    let key = MessageKey::from_bytes([0x42; 32]);
    let c = encrypt_message(&key, MSG_ID, &[0x17; 48]).unwrap();
    let (r, s) = poly_key(key.as_bytes());
    let blocks = mac_blocks(c[..48].try_into().unwrap());
    assert_eq!(tag(poly_acc(&blocks, r), s).to_le_bytes(), c[48..]);
    let a = Fe::new(123_456_789, 2);
    assert_eq!(a.mul(a.invert()).canonical(), (1, 0));
    assert_eq!(a.sub(a).canonical(), (0, 0));
}

#[test]
fn one_ciphertext_opens_under_two_keys_without_key_commitment() {
    let mut rng = TestRng::new(77);
    let (k1, k2) = (
        MessageKey::generate(&mut rng),
        MessageKey::generate(&mut rng),
    );
    let c = two_key_ciphertext(k1.as_bytes(), k2.as_bytes(), &mut rng).expect("a solution");
    let m1 = decrypt_message(&k1, MSG_ID, &c).expect("opens under K1");
    let m2 = decrypt_message(&k2, MSG_ID, &c).expect("opens under K2");
    assert_ne!(m1, m2);
    // The commitment tells the keys apart: a request naming c_K1 accepts only K1.
    assert!(k1.matches(&k1.commitment()));
    assert!(!k2.matches(&k1.commitment()));
}

#[test]
fn the_two_key_attack_fails_against_the_recipient_and_the_arbiter() {
    let mut rng = TestRng::new(78);
    let mut world = World::new();
    let (k1, k2) = (
        MessageKey::generate(&mut rng),
        MessageKey::generate(&mut rng),
    );
    let c = two_key_ciphertext(k1.as_bytes(), k2.as_bytes(), &mut rng).expect("a solution");
    let m1 = decrypt_message(&k1, MSG_ID, &c).unwrap();
    let m2 = decrypt_message(&k2, MSG_ID, &c).unwrap();
    // Alice sends C committed to K1 (what she will show an arbiter)...
    let sealed = pb::SealedMessage {
        msg_id: MSG_ID.to_vec(),
        sender: ALICE.into(),
        recipient: BOB.into(),
        ciphertext: c.clone(),
        key_commitment: k1.commitment().to_vec(),
        sender_key: Vec::new(),
        sender_signature: Vec::new(),
    };
    let received = Received::receive(sealed, BOB).unwrap();
    let terms = RequestTerms {
        deadline: DEADLINE,
        location: world.location(),
        expect: None,
    };
    let (bob, _) = received
        .request(terms, &mut *world.bob_card.borrow_mut(), NOW, &mut rng)
        .unwrap();
    let request = bob.request().clone();
    // ...and publishes K2, hoping Bob reads M2.
    let a = ephemeral_secret(&mut rng);
    let leaf = publication_entry(&request, &k2, &a, &world.alice, NOW + 1).unwrap();
    let leaf = world.publish(&leaf, NOW + 20);
    let refused = bob
        .handle(
            RecipientInput::Publication {
                leaf: leaf.clone(),
                trusted: None,
            },
            &*world.bob_keys(),
            NOW + 21,
        )
        .unwrap_err();
    assert_eq!(refused.error, CertMailError::KeyCommitmentMismatch);

    // The arbiter: whichever key and message Alice shows, the evidence fails.
    let context = ArbiterContext {
        now: NOW + 3600,
        max_skew: SKEW,
        ..Default::default()
    };
    let bundle = |key: &MessageKey, plaintext: &[u8]| pb::EvidenceBundle {
        version: 1,
        plaintext: plaintext.to_vec(),
        message_key: key.as_bytes().to_vec(),
        ciphertext: c.clone(),
        request: Some(request.signed().clone()),
        recipient_binding: Some(world.bob_binding_leaf.clone()),
        recipient_domain: Some(world.beta.trust(2).to_pb()),
        delivery: Some(pb::evidence_bundle::Delivery::Publication(
            pb::Publication {
                leaf: Some(leaf.clone()),
                ephemeral_secret: a.to_bytes().to_vec(),
            },
        )),
    };
    let shown_k2 = arbitrate(&bundle(&k2, &m2), &context);
    assert_eq!(
        (shown_k2.outcome, shown_k2.decided_by),
        (Outcome::NotShown, Check::KeyCommitment),
        "{shown_k2}"
    );
    let shown_k1 = arbitrate(&bundle(&k1, &m1), &context);
    assert_eq!(
        (shown_k1.outcome, shown_k1.decided_by),
        (Outcome::NotShown, Check::PublicationUnwrapsToKey),
        "{shown_k1}"
    );
    assert!(verify_request(request.signed()).is_ok());
}
