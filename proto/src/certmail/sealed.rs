//! Step (a): A seals M under a fresh K and sends B the ciphertext with the key commitment, and
//! optionally A's signature over `(H(C), c_K, A, msg_id)` (label [`SEALED_LABEL`]).
//!
//! The signature is A's statement "I sent this ciphertext"; certified mail does not need it (B's
//! request names H(C) and c_K, and that is what binds A's publication), so it is optional.

use rand_core::CryptoRng;

use super::keys::{MessageKey, encrypt_message};
use super::{CertMailError, SEALED_LABEL, content_hash, field, signed};
use crate::entry::{signing_input, verify_signature};
use crate::paep::IdentitySigner;
use crate::wire::{Validate as _, pb};

/// The bytes of A's optional signature on a sealed message.
pub fn sealed_signing_input(
    ciphertext_hash: &[u8; 32],
    key_commitment: &[u8; 32],
    sender: &str,
    msg_id: &[u8],
) -> Vec<u8> {
    signing_input(
        SEALED_LABEL,
        &[ciphertext_hash, key_commitment, sender.as_bytes(), msg_id],
    )
}

/// Encrypts `plaintext` for `recipient` under a fresh K; signs through `signer` (IK_A's key
/// store) if given. Returns K (which A keeps) and the message to send.
pub fn seal_message<S: IdentitySigner + ?Sized>(
    sender: &str,
    recipient: &str,
    msg_id: &[u8],
    plaintext: &[u8],
    signer: Option<&S>,
    rng: &mut impl CryptoRng,
) -> Result<(MessageKey, pb::SealedMessage), CertMailError> {
    let key = MessageKey::generate(rng);
    let ciphertext = encrypt_message(&key, msg_id, plaintext)?;
    let commitment = key.commitment();
    let (sender_key, sender_signature) = match signer {
        Some(ik) => {
            let input =
                sealed_signing_input(&content_hash(&ciphertext), &commitment, sender, msg_id);
            (ik.identity_key().to_vec(), signed(ik, &input)?.to_vec())
        }
        None => (Vec::new(), Vec::new()),
    };
    let message = pb::SealedMessage {
        msg_id: msg_id.to_vec(),
        sender: sender.to_owned(),
        recipient: recipient.to_owned(),
        ciphertext,
        key_commitment: commitment.to_vec(),
        sender_key,
        sender_signature,
    };
    // Our own output must pass what a receiver checks (e.g. the msg_id and address bounds).
    message.validate()?;
    Ok((key, message))
}

/// A sealed message as B checked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedInfo {
    /// H(C).
    pub ciphertext_hash: [u8; 32],
    /// c_K.
    pub key_commitment: [u8; 32],
    /// IK_A, when A signed (and the signature verified under it).
    pub sender_key: Option<[u8; 32]>,
}

/// Checks a sealed message's form and, if present, A's signature under the key it names
/// (whether that key is A's bound key is the caller's question).
pub fn open_sealed(message: &pb::SealedMessage) -> Result<SealedInfo, CertMailError> {
    message.validate()?;
    let ciphertext_hash = content_hash(&message.ciphertext);
    let key_commitment = field("SealedMessage.key_commitment", &message.key_commitment)?;
    let sender_key = if message.sender_key.is_empty() {
        None
    } else {
        let input = sealed_signing_input(
            &ciphertext_hash,
            &key_commitment,
            &message.sender,
            &message.msg_id,
        );
        verify_signature(&message.sender_key, &input, &message.sender_signature).map_err(
            |error| CertMailError::Signature {
                what: "sealed message",
                error,
            },
        )?;
        Some(field("SealedMessage.sender_key", &message.sender_key)?)
    };
    Ok(SealedInfo {
        ciphertext_hash,
        key_commitment,
        sender_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certmail::decrypt_message;
    use ed25519_dalek::SigningKey;

    fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
        rand_core::UnwrapErr(getrandom::SysRng)
    }

    #[test]
    fn a_sealed_message_opens_under_its_key() {
        let ik = SigningKey::from_bytes(&[1; 32]);
        let (k, m) =
            seal_message::<SigningKey>("a@a.test", "b@b.test", b"id", b"hi", Some(&ik), &mut rng())
                .unwrap();
        let info = open_sealed(&m).unwrap();
        assert_eq!(info.key_commitment, k.commitment());
        assert_eq!(info.sender_key, Some(ik.verifying_key().to_bytes()));
        assert_eq!(decrypt_message(&k, b"id", &m.ciphertext).unwrap(), b"hi");
    }

    #[test]
    fn a_sealed_message_signature_covers_the_ciphertext_and_sender() {
        let ik = SigningKey::from_bytes(&[1; 32]);
        let (_, good) =
            seal_message::<SigningKey>("a@a.test", "b@b.test", b"id", b"hi", Some(&ik), &mut rng())
                .unwrap();
        let mut t = good.clone();
        t.ciphertext[0] ^= 1;
        assert!(matches!(
            open_sealed(&t),
            Err(CertMailError::Signature { .. })
        ));
        let mut t = good;
        t.sender = "mallory@a.test".into();
        assert!(matches!(
            open_sealed(&t),
            Err(CertMailError::Signature { .. })
        ));
    }

    #[test]
    fn unsigned_messages_are_allowed_and_bounds_hold() {
        let (_, m) =
            seal_message::<SigningKey>("a@a.test", "b@b.test", b"id", b"", None, &mut rng())
                .unwrap();
        assert_eq!(open_sealed(&m).unwrap().sender_key, None);
        assert!(
            seal_message::<SigningKey>("a@a.test", "b@b.test", &[0; 65], b"", None, &mut rng())
                .is_err()
        );
    }
}
