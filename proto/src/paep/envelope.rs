//! The mail envelope's cryptography (DESIGN §3.2): A encrypts to one of B's verified prekeys and
//! signs the header with IK_A; B checks the signature against A's verified binding, agrees
//! inside its key store, decrypts, and erases a one-time prekey's secret.
//!
//! ```text
//! Y_A = X25519(r_A, base)                          (r_A fresh, never stored)
//! sk  = KDF("herald v1 mail key", lp(A) ‖ lp(B) ‖ lp(S_A) ‖ lp(S_B) ‖ lp(Y_A) ‖ lp(Y_B)
//!                                 ‖ lp(id) ‖ lp(X25519(r_A, Y_B)))
//! AD  = lp("herald v1 paep mail ad") ‖ lp(msg_id) ‖ lp(A) ‖ lp(B) ‖ lp(Y_A) ‖ lp(id)
//! Z   = ChaCha20-Poly1305(sk, nonce 0, AD, M)
//! sig_A = Ed25519(IK_A, lp("herald v1 paep mail header") ‖ lp(msg_id) ‖ lp(A) ‖ lp(B)
//!                       ‖ lp(Y_A) ‖ lp(id) ‖ lp(H(Z)))
//! ```
//!
//! S_A and S_B are the domains of A and B (after the last `@`); `id` is 8 bytes little-endian;
//! `H` is BLAKE3-256. DESIGN's AD is "the header", but the header holds H(Z), which depends on
//! the AD: the AD is therefore the header without H(Z), and the signature covers all of it.
//! Nonce 0 is safe: sk is fresh per mail (r_A is). Every X25519 output is checked non-zero.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq as _;
use x25519_dalek::PublicKey;
use zeroize::Zeroizing;

use super::key32;
use super::keystore::{IdentitySigner, PrekeyAgreement};
use super::prekey::{PrekeyKind, VerifiedPrekeyBundle};
use super::replay::ReplayCache;
use crate::certmail::ephemeral_secret;
use crate::entry::{lp, signing_input, verify_signature_by, verifying_key};
use crate::identity::{NotBound, VerifiedBinding, VerifiedRevocation, account_domain};
use crate::wire::{MAX_MAIL_PLAINTEXT_BYTES, Validate as _, WireError, pb};

/// KDF label of the salt a relayed mail's evidence records commit its addresses with.
pub const MAIL_EVIDENCE_SALT_LABEL: &str = "herald v1 mail evidence salt";

/// The parties of a relayed mail as the gateways' evidence records commit to them (DESIGN
/// §3.4): its sender and recipient, and the salt `KDF("herald v1 mail evidence salt",
/// lp(msg_id) ‖ lp(Y_A))`. Every party to the mail can compute it — A made Y_A, both gateways
/// and B hold the envelope — and no log reader can: Y_A travels only inside the envelope, never
/// in a log, so nobody can test address guesses against the records' commitments. Both
/// gateways derive the same salt, so a party opens the records of both with one value.
pub fn mail_parties(
    envelope: &pb::MailEnvelope,
) -> Result<crate::entry::MailParties, crate::entry::EntryError> {
    let mut ikm = Vec::with_capacity(8 + envelope.msg_id.len() + envelope.ephemeral_key.len());
    lp(&mut ikm, &envelope.msg_id);
    lp(&mut ikm, &envelope.ephemeral_key);
    crate::entry::MailParties::new(
        blake3::derive_key(MAIL_EVIDENCE_SALT_LABEL, &ikm),
        &envelope.sender,
        &envelope.recipient,
    )
}

/// KDF label of the mail key sk (DESIGN §3.2).
pub const MAIL_KEY_LABEL: &str = "herald v1 mail key";
/// Label that starts the AEAD's associated data.
pub const MAIL_AD_LABEL: &str = "herald v1 paep mail ad";
/// Label that starts the header A signs.
pub const MAIL_HEADER_LABEL: &str = "herald v1 paep mail header";

/// Why a mail could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The envelope breaks the schema's bounds.
    #[error("malformed: {0}")]
    Wire(#[from] WireError),
    /// The plaintext is longer than a mail carries.
    #[error("plaintext of {len} bytes exceeds {max}")]
    PlaintextTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An address has no domain.
    #[error("{account:?} has no domain")]
    NoDomain {
        /// The address.
        account: String,
    },
    /// The envelope is for someone else, or the sender's binding is another account's.
    #[error("{field} does not match")]
    Mismatch {
        /// Which: "recipient" or "sender binding".
        field: &'static str,
    },
    /// The sender's identity key is not bound now (revoked, or not yet valid).
    #[error("sender key not bound: {0}")]
    SenderNotBound(#[from] NotBound),
    /// The header's signature does not verify under the sender's bound identity key: the mail
    /// (or its header, or Z) is not as A sent it, or A did not send it.
    #[error("the sender's signature does not verify")]
    ForgedSender,
    /// `(msg_id, prekey id)` was opened before.
    #[error("mail already opened (replay)")]
    Replayed,
    /// The key store cannot agree with this prekey: never held, or erased after use.
    #[error("prekey {id} unavailable: {reason}")]
    PrekeyUnavailable {
        /// The prekey's id.
        id: u64,
        /// The key store's reason.
        reason: String,
    },
    /// X25519 gave the all-zero output (a low-order key).
    #[error("X25519 with a low-order key")]
    WeakKey,
    /// Z does not decrypt.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The key store could not sign or erase (a local failure; nothing was lost).
    #[error("key store: {0}")]
    KeyStore(String),
}

/// What A sends.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The mail's identifier (1 to 64 bytes, unique per sender).
    pub msg_id: &'a [u8],
    /// A's account.
    pub sender: &'a str,
    /// M.
    pub plaintext: &'a [u8],
}

/// A mail B opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedMail {
    /// Its identifier.
    pub msg_id: Vec<u8>,
    /// A, whose bound identity key signed it.
    pub sender: String,
    /// M.
    pub plaintext: Vec<u8>,
    /// The prekey it was encrypted to.
    pub prekey_id: u64,
    /// That prekey's kind (a one-time prekey's secret is now erased).
    pub prekey_kind: PrekeyKind,
}

fn domain(account: &str) -> Result<&str, MailError> {
    account_domain(account).ok_or_else(|| MailError::NoDomain {
        account: account.to_owned(),
    })
}

struct Header<'a> {
    msg_id: &'a [u8],
    sender: &'a str,
    recipient: &'a str,
    ephemeral: &'a [u8],
    id: u64,
}

impl<'a> Header<'a> {
    /// The header an envelope carries.
    fn of(envelope: &'a pb::MailEnvelope) -> Self {
        Header {
            msg_id: &envelope.msg_id,
            sender: &envelope.sender,
            recipient: &envelope.recipient,
            ephemeral: &envelope.ephemeral_key,
            id: envelope.prekey_id,
        }
    }

    fn associated_data(&self) -> Vec<u8> {
        signing_input(
            MAIL_AD_LABEL,
            &[
                self.msg_id,
                self.sender.as_bytes(),
                self.recipient.as_bytes(),
                self.ephemeral,
                &self.id.to_le_bytes(),
            ],
        )
    }

    fn signing_input(&self, ciphertext: &[u8]) -> Vec<u8> {
        signing_input(
            MAIL_HEADER_LABEL,
            &[
                self.msg_id,
                self.sender.as_bytes(),
                self.recipient.as_bytes(),
                self.ephemeral,
                &self.id.to_le_bytes(),
                blake3::hash(ciphertext).as_bytes(),
            ],
        )
    }

    /// sk, from the X25519 output `dh` and B's prekey `prekey`.
    fn mail_key(&self, prekey: &[u8; 32], dh: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, MailError> {
        if bool::from(dh.ct_eq(&[0u8; 32])) {
            return Err(MailError::WeakKey);
        }
        let mut input = Zeroizing::new(Vec::with_capacity(512));
        lp(&mut input, self.sender.as_bytes());
        lp(&mut input, self.recipient.as_bytes());
        lp(&mut input, domain(self.sender)?.as_bytes());
        lp(&mut input, domain(self.recipient)?.as_bytes());
        lp(&mut input, self.ephemeral);
        lp(&mut input, prekey);
        lp(&mut input, &self.id.to_le_bytes());
        lp(&mut input, dh);
        Ok(Zeroizing::new(blake3::derive_key(MAIL_KEY_LABEL, &input)))
    }
}

/// A's side: encrypts `outgoing` to the verified prekey and signs the header with IK_A.
pub fn seal_envelope<I: IdentitySigner>(
    outgoing: &Outgoing<'_>,
    bundle: &VerifiedPrekeyBundle,
    signer: &I,
    rng: &mut impl CryptoRng,
) -> Result<pb::MailEnvelope, MailError> {
    if outgoing.plaintext.len() > MAX_MAIL_PLAINTEXT_BYTES {
        return Err(MailError::PlaintextTooLarge {
            len: outgoing.plaintext.len(),
            max: MAX_MAIL_PLAINTEXT_BYTES,
        });
    }
    let r_a = ephemeral_secret(rng);
    let y_a = PublicKey::from(&r_a).to_bytes();
    let dh = Zeroizing::new(
        r_a.diffie_hellman(&PublicKey::from(*bundle.prekey()))
            .to_bytes(),
    );
    drop(r_a);
    let header = Header {
        msg_id: outgoing.msg_id,
        sender: outgoing.sender,
        recipient: bundle.account(),
        ephemeral: &y_a,
        id: bundle.id(),
    };
    let sk = header.mail_key(bundle.prekey(), &dh)?;
    let aad = header.associated_data();
    let ciphertext = ChaCha20Poly1305::new(&Key::from(*sk))
        .encrypt(
            &Nonce::from([0; 12]),
            Payload {
                msg: outgoing.plaintext,
                aad: &aad,
            },
        )
        // Only a plaintext beyond ChaCha20's 256 GiB fails; ours is bounded far below.
        .map_err(|_| MailError::PlaintextTooLarge {
            len: outgoing.plaintext.len(),
            max: MAX_MAIL_PLAINTEXT_BYTES,
        })?;
    let signature = signer
        .sign(&header.signing_input(&ciphertext))
        .map_err(|e| MailError::KeyStore(e.to_string()))?;
    let envelope = pb::MailEnvelope {
        msg_id: outgoing.msg_id.to_vec(),
        sender: outgoing.sender.to_owned(),
        recipient: bundle.account().to_owned(),
        ephemeral_key: y_a.to_vec(),
        prekey_id: bundle.id(),
        ciphertext,
        sender_signature: signature.to_vec(),
    };
    // What we send must pass what the recipient checks (msg_id and address bounds).
    envelope.validate()?;
    Ok(envelope)
}

/// S_A's check of a whole envelope from its own account (a mail that came in chunks): sig_A
/// verifies under `identity_key`, the account's bound key, so Z is the one A signed (sig_A
/// covers H(Z)).
pub fn verify_sender_signature(
    envelope: &pb::MailEnvelope,
    identity_key: &[u8; 32],
) -> Result<(), MailError> {
    envelope.validate()?;
    let identity_key = verifying_key(identity_key).map_err(|_| MailError::ForgedSender)?;
    check_sender_signature(envelope, &Header::of(envelope), &identity_key)
}

/// sig_A over `header` (the envelope's) and H(Z), under `identity_key`; the envelope is
/// validated.
fn check_sender_signature(
    envelope: &pb::MailEnvelope,
    header: &Header<'_>,
    identity_key: &ed25519_dalek::VerifyingKey,
) -> Result<(), MailError> {
    verify_signature_by(
        identity_key,
        &header.signing_input(&envelope.ciphertext),
        &envelope.sender_signature,
    )
    .map_err(|_| MailError::ForgedSender)
}

/// B's side: checks the envelope is for `recipient`, that A's header signature verifies under
/// A's verified binding (bound now, given `sender_revocations`), that it was not opened before;
/// then agrees with the prekey inside `keys`, decrypts, erases a one-time prekey's secret and
/// records the mail in `replay`. Nothing changes unless the mail opens.
pub fn open_envelope<K: PrekeyAgreement>(
    envelope: &pb::MailEnvelope,
    recipient: &str,
    sender_binding: &VerifiedBinding,
    sender_revocations: &[VerifiedRevocation],
    keys: &mut K,
    replay: &mut ReplayCache,
    now: u64,
) -> Result<OpenedMail, MailError> {
    envelope.validate()?;
    if envelope.recipient != recipient {
        return Err(MailError::Mismatch { field: "recipient" });
    }
    if sender_binding.account() != envelope.sender {
        return Err(MailError::Mismatch {
            field: "sender binding",
        });
    }
    sender_binding.bound_at(now, sender_revocations)?;
    let header = Header::of(envelope);
    check_sender_signature(envelope, &header, sender_binding.identity_verifying_key())?;
    if replay.contains(&envelope.msg_id, envelope.prekey_id) {
        return Err(MailError::Replayed);
    }
    let y_a = key32("MailEnvelope.ephemeral_key", &envelope.ephemeral_key)?;
    let agreed =
        keys.agree(envelope.prekey_id, &y_a)
            .map_err(|e| MailError::PrekeyUnavailable {
                id: envelope.prekey_id,
                reason: e.to_string(),
            })?;
    let sk = header.mail_key(&agreed.prekey, &agreed.shared)?;
    let aad = header.associated_data();
    let plaintext = ChaCha20Poly1305::new(&Key::from(*sk))
        .decrypt(
            &Nonce::from([0; 12]),
            Payload {
                msg: &envelope.ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| MailError::DecryptionFailed)?;
    if agreed.kind == PrekeyKind::OneTime {
        keys.erase(envelope.prekey_id)
            .map_err(|e| MailError::KeyStore(e.to_string()))?;
    }
    replay.insert(&envelope.msg_id, envelope.prekey_id);
    Ok(OpenedMail {
        msg_id: envelope.msg_id.clone(),
        sender: envelope.sender.clone(),
        plaintext,
        prekey_id: envelope.prekey_id,
        prekey_kind: agreed.kind,
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::super::fixtures::{NOW, World};
    use super::*;
    use crate::testkit::{ALICE, BOB, TestRng, alice_key};

    /// Alice seals `text` to Bob's prekey `prekey` (verified as her client does).
    fn sealed(
        world: &World,
        prekey: pb::SignedPrekey,
        msg_id: &[u8],
        text: &[u8],
    ) -> pb::MailEnvelope {
        let bundle = world.verified(prekey);
        let outgoing = Outgoing {
            msg_id,
            sender: ALICE,
            plaintext: text,
        };
        seal_envelope(&outgoing, &bundle, &alice_key(), &mut TestRng::new(1)).unwrap()
    }

    fn open(
        world: &mut World,
        envelope: &pb::MailEnvelope,
        replay: &mut ReplayCache,
    ) -> Result<OpenedMail, MailError> {
        let alice = world.alice();
        open_envelope(envelope, BOB, &alice, &[], &mut world.bob_keys, replay, NOW)
    }

    #[test]
    fn a_mail_opens_for_its_recipient_and_its_one_time_prekey_is_erased() {
        let mut world = World::new();
        let prekey = world.upload(1).one_time.remove(0);
        let id = prekey.id;
        let envelope = sealed(&world, prekey, b"m-1", b"Dear Bob");
        assert_eq!(envelope.prekey_id, id);
        assert_eq!(envelope.ciphertext.len(), 8 + 16);
        let held = world.bob_keys.len();
        let mut replay = ReplayCache::new();
        let mail = open(&mut world, &envelope, &mut replay).unwrap();
        assert_eq!(mail.plaintext, b"Dear Bob");
        assert_eq!((mail.sender.as_str(), mail.prekey_id), (ALICE, id));
        assert_eq!(mail.prekey_kind, PrekeyKind::OneTime);
        assert_eq!(world.bob_keys.len(), held - 1, "r[id] erased");
        assert!(replay.contains(b"m-1", id));
    }

    #[test]
    fn several_senders_to_the_fallback_all_decrypt_and_it_is_kept() {
        let mut world = World::new();
        let mut replay = ReplayCache::new();
        for i in 0..3u8 {
            let envelope = sealed(&world, world.fallback_zero(), &[i], &[i; 10]);
            let mail = open(&mut world, &envelope, &mut replay).unwrap();
            assert_eq!(mail.plaintext, [i; 10]);
            assert_eq!(mail.prekey_kind, PrekeyKind::Fallback);
        }
        assert_eq!(world.bob_keys.len(), 1, "the fallback stays");
        assert_eq!(replay.len(), 3);
    }

    #[test]
    fn attack_replayed_mail_is_refused() {
        let mut world = World::new();
        let envelope = sealed(&world, world.fallback_zero(), b"m-2", b"once");
        let mut replay = ReplayCache::new();
        open(&mut world, &envelope, &mut replay).unwrap();
        assert_eq!(
            open(&mut world, &envelope, &mut replay).unwrap_err(),
            MailError::Replayed
        );
    }

    #[test]
    fn attack_second_decryption_after_erasure_fails() {
        let mut world = World::new();
        let prekey = world.upload(1).one_time.remove(0);
        let id = prekey.id;
        let envelope = sealed(&world, prekey, b"m-3", b"burn after reading");
        open(&mut world, &envelope, &mut ReplayCache::new()).unwrap();
        // Even with the replay cache lost, the erased secret cannot open it again.
        let again = open(&mut world, &envelope, &mut ReplayCache::new()).unwrap_err();
        assert!(
            matches!(again, MailError::PrekeyUnavailable { id: i, .. } if i == id),
            "{again:?}"
        );
    }

    #[test]
    fn sig_a_is_checked_with_ik_as_read_for_the_binding_byte_by_byte() {
        // The sender's IK is read once, when its binding is verified; every changed byte of
        // sig_A is still refused under it, and by S_A's check from IK's bytes alike.
        let mut world = World::new();
        let real = sealed(&world, world.fallback_zero(), b"m-9", b"hello");
        let ik = world.alice().identity_key().to_owned();
        assert_eq!(verify_sender_signature(&real, &ik), Ok(()));
        for i in 0..real.sender_signature.len() {
            let mut t = real.clone();
            t.sender_signature[i] ^= 0x01;
            assert_eq!(
                open(&mut world, &t, &mut ReplayCache::new()).unwrap_err(),
                MailError::ForgedSender,
                "byte {i}"
            );
            assert_eq!(
                verify_sender_signature(&t, &ik),
                Err(MailError::ForgedSender)
            );
        }
        open(&mut world, &real, &mut ReplayCache::new()).unwrap();
    }

    #[test]
    fn attack_forged_from_a_is_refused() {
        let mut world = World::new();
        let bundle = world.verified(world.fallback_zero());
        // S_A (or anyone without IK_A) makes a mail "from Alice" signed with its own key.
        let gateway = SigningKey::from_bytes(&[0x55; 32]);
        let outgoing = Outgoing {
            msg_id: b"m-4",
            sender: ALICE,
            plaintext: b"Pay Mallory",
        };
        let forged = seal_envelope(&outgoing, &bundle, &gateway, &mut TestRng::new(2)).unwrap();
        let mut replay = ReplayCache::new();
        assert_eq!(
            open(&mut world, &forged, &mut replay).unwrap_err(),
            MailError::ForgedSender
        );
        // Alice's real mail re-labelled as from someone else whose binding Bob is shown.
        let real = sealed(&world, world.fallback_zero(), b"m-5", b"hi");
        let mut relabelled = real.clone();
        relabelled.sender = "carol@alpha.test".into();
        assert_eq!(
            open(&mut world, &relabelled, &mut replay).unwrap_err(),
            MailError::Mismatch {
                field: "sender binding"
            }
        );
        assert!(replay.is_empty(), "nothing recorded for refused mail");
    }

    #[test]
    fn attack_tampered_ciphertext_or_header_is_refused_and_changes_nothing() {
        let mut world = World::new();
        let prekey = world.upload(1).one_time.remove(0);
        let good = sealed(&world, prekey, b"m-6", b"the contract");
        let mut tampered = Vec::new();
        let mut z = good.clone();
        z.ciphertext[3] ^= 1;
        tampered.push(z);
        let mut msg_id = good.clone();
        msg_id.msg_id = b"m-7".to_vec();
        tampered.push(msg_id);
        let mut y_a = good.clone();
        y_a.ephemeral_key[0] ^= 1;
        tampered.push(y_a);
        let mut id = good.clone();
        id.prekey_id = 0;
        tampered.push(id);
        let mut sig = good.clone();
        sig.sender_signature[10] ^= 1;
        tampered.push(sig);
        let held = world.bob_keys.len();
        let mut replay = ReplayCache::new();
        for bad in &tampered {
            assert_eq!(
                open(&mut world, bad, &mut replay).unwrap_err(),
                MailError::ForgedSender
            );
        }
        let mut other = good.clone();
        other.recipient = "carol@beta.test".into();
        assert_eq!(
            open(&mut world, &other, &mut replay).unwrap_err(),
            MailError::Mismatch { field: "recipient" }
        );
        // Nothing was erased or recorded: the genuine mail still opens.
        assert_eq!(world.bob_keys.len(), held);
        assert!(replay.is_empty());
        assert_eq!(
            open(&mut world, &good, &mut replay).unwrap().plaintext,
            b"the contract"
        );
    }

    #[test]
    fn attack_the_senders_gateway_refuses_a_z_that_is_not_the_one_a_signed() {
        let world = World::new();
        let envelope = sealed(&world, world.fallback_zero(), b"m-z", &[7; 70_000]);
        let key = alice_key().verifying_key().to_bytes();
        assert_eq!(verify_sender_signature(&envelope, &key), Ok(()));
        // One byte of Z altered (a chunk changed on the way), or another account's key.
        let mut altered = envelope.clone();
        altered.ciphertext[50_000] ^= 1;
        assert_eq!(
            verify_sender_signature(&altered, &key),
            Err(MailError::ForgedSender)
        );
        let other = SigningKey::from_bytes(&[0x55; 32])
            .verifying_key()
            .to_bytes();
        assert_eq!(
            verify_sender_signature(&envelope, &other),
            Err(MailError::ForgedSender)
        );
    }

    #[test]
    fn a_mail_from_a_revoked_sender_key_is_refused() {
        let mut world = World::new();
        let envelope = sealed(&world, world.fallback_zero(), b"m-8", b"old key");
        let leaf = world.revoke(ALICE, &alice_key());
        let revocation = world.verified_revocation(&leaf);
        let alice = world.alice();
        let refused = open_envelope(
            &envelope,
            BOB,
            &alice,
            &[revocation],
            &mut world.bob_keys,
            &mut ReplayCache::new(),
            NOW,
        )
        .unwrap_err();
        assert!(matches!(
            refused,
            MailError::SenderNotBound(NotBound::Revoked { .. })
        ));
    }

    #[test]
    fn the_mail_key_and_header_are_the_documented_ones() {
        let world = World::new();
        let envelope = sealed(&world, world.fallback_zero(), b"m-9", b"M");
        let header = Header {
            msg_id: b"m-9",
            sender: ALICE,
            recipient: BOB,
            ephemeral: &envelope.ephemeral_key,
            id: 0,
        };
        let mut expected = Vec::new();
        for field in [
            MAIL_HEADER_LABEL.as_bytes(),
            b"m-9",
            ALICE.as_bytes(),
            BOB.as_bytes(),
            &envelope.ephemeral_key,
            &0u64.to_le_bytes(),
            blake3::hash(&envelope.ciphertext).as_bytes(),
        ] {
            lp(&mut expected, field);
        }
        assert_eq!(header.signing_input(&envelope.ciphertext), expected);
        // sk from Bob's side: the store's X25519 output and the documented KDF input.
        let y_a: [u8; 32] = envelope.ephemeral_key[..].try_into().unwrap();
        let agreed = world.bob_keys.agree(0, &y_a).unwrap();
        let mut input = Vec::new();
        for field in [
            ALICE.as_bytes(),
            BOB.as_bytes(),
            b"alpha.test",
            b"beta.test",
            &y_a,
            &agreed.prekey,
            &0u64.to_le_bytes(),
            &agreed.shared[..],
        ] {
            lp(&mut input, field);
        }
        let sk = blake3::derive_key("herald v1 mail key", &input);
        assert_eq!(
            *header.mail_key(&agreed.prekey, &agreed.shared).unwrap(),
            sk
        );
        // And a low-order ephemeral key (all-zero X25519 output) is refused.
        assert_eq!(
            header.mail_key(&agreed.prekey, &[0; 32]).unwrap_err(),
            MailError::WeakKey
        );
    }
}
