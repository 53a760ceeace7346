//! The relay between gateways (DESIGN §3.2, §4 "Peer domains"): S_A hands A's envelope to S_B
//! in a relay envelope signed by S_A's log key; S_B takes it only from the registered peer of
//! its `from_domain` (the libp2p Noise session authenticates the peer id; the caller checks it)
//! and only if the signature verifies under that peer's registered log key.
//!
//! ```text
//! sig_S_A = Ed25519(S_A log key, lp("herald v1 relay envelope") ‖ lp(from_domain) ‖ lp(to_domain)
//!                   ‖ lp(msg_id) ‖ lp(A) ‖ lp(B) ‖ lp(Y_A) ‖ lp(id LE) ‖ lp(H(Z)) ‖ lp(sig_A)
//!                   ‖ lp(expires_at LE))
//! ```
//!
//! The gateway's signature does not make the mail A's: only sig_A does, and B checks it against
//! A's binding (`envelope::open_envelope`). It makes S_A answerable for having relayed it, and
//! refuses an envelope altered or re-addressed between the gateways.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::entry::{signing_input, verify_signature};
use crate::identity::account_domain;
use crate::wire::{Validate as _, WireError, pb};

/// Label of a relay envelope's gateway signature.
pub const RELAY_LABEL: &str = "herald v1 relay envelope";

/// Why a relay envelope is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// It breaks the schema's bounds.
    #[error("malformed: {0}")]
    Wire(#[from] WireError),
    /// The envelope's sender is not of `from_domain`, or its recipient not of `to_domain`.
    #[error("the {field} is not of the relay's domain")]
    WrongDomain {
        /// "sender" or "recipient".
        field: &'static str,
    },
    /// It is for another gateway than the one checking it.
    #[error("relayed to {to}, not to this domain")]
    NotForUs {
        /// Its `to_domain`.
        to: String,
    },
    /// The gateway signature does not verify under the sending peer's log key.
    #[error("the sending gateway's signature does not verify")]
    BadSignature,
    /// The mail's expiry has passed.
    #[error("expired at {expires_at} (now {now})")]
    Expired {
        /// Its expiry.
        expires_at: u64,
        /// The clock.
        now: u64,
    },
}

fn signed_bytes(
    from_domain: &str,
    to_domain: &str,
    envelope: &pb::MailEnvelope,
    expires_at: u64,
) -> Vec<u8> {
    let z_hash = blake3::hash(&envelope.ciphertext);
    signed_bytes_of(
        from_domain,
        to_domain,
        envelope,
        z_hash.as_bytes(),
        expires_at,
    )
}

/// The relay signature's input, Z given by its hash.
fn signed_bytes_of(
    from_domain: &str,
    to_domain: &str,
    envelope: &pb::MailEnvelope,
    z_hash: &[u8; 32],
    expires_at: u64,
) -> Vec<u8> {
    signing_input(
        RELAY_LABEL,
        &[
            from_domain.as_bytes(),
            to_domain.as_bytes(),
            &envelope.msg_id,
            envelope.sender.as_bytes(),
            envelope.recipient.as_bytes(),
            &envelope.ephemeral_key,
            &envelope.prekey_id.to_le_bytes(),
            z_hash,
            &envelope.sender_signature,
            &expires_at.to_le_bytes(),
        ],
    )
}

fn check_domains(
    from_domain: &str,
    to_domain: &str,
    envelope: &pb::MailEnvelope,
) -> Result<(), RelayError> {
    if account_domain(&envelope.sender) != Some(from_domain) {
        return Err(RelayError::WrongDomain { field: "sender" });
    }
    if account_domain(&envelope.recipient) != Some(to_domain) {
        return Err(RelayError::WrongDomain { field: "recipient" });
    }
    Ok(())
}

/// S_A: the relay envelope of `envelope` from `from_domain` (S_A's) to the recipient's domain,
/// signed by S_A's log key `gateway`.
pub fn sign_relay(
    envelope: pb::MailEnvelope,
    from_domain: &str,
    expires_at: u64,
    gateway: &SigningKey,
) -> Result<pb::RelayEnvelope, RelayError> {
    envelope.validate()?;
    let to_domain = account_domain(&envelope.recipient)
        .ok_or(RelayError::WrongDomain { field: "recipient" })?
        .to_owned();
    check_domains(from_domain, &to_domain, &envelope)?;
    let signature = gateway.sign(&signed_bytes(
        from_domain,
        &to_domain,
        &envelope,
        expires_at,
    ));
    Ok(pb::RelayEnvelope {
        from_domain: from_domain.to_owned(),
        to_domain,
        envelope: Some(envelope),
        expires_at,
        gateway_signature: signature.to_bytes().to_vec(),
    })
}

/// S_B (`own_domain`): checks a relay envelope the registered peer whose log key is
/// `peer_key` sent, at `now`; returns the envelope inside. The caller has checked that the
/// request came from the registered peer of `relay.from_domain`.
pub fn verify_relay<'a>(
    relay: &'a pb::RelayEnvelope,
    own_domain: &str,
    peer_key: &VerifyingKey,
    now: u64,
) -> Result<&'a pb::MailEnvelope, RelayError> {
    relay.validate_fields()?;
    let envelope = relay.envelope.as_ref().ok_or(WireError::MissingField {
        field: "RelayEnvelope.envelope",
    })?;
    let z_hash = blake3::hash(&envelope.ciphertext);
    verify_with_hash(
        relay,
        envelope,
        z_hash.as_bytes(),
        own_domain,
        peer_key,
        now,
    )
}

/// S_B, on a relay's first chunk (`RelayMailChunk.head`): checks as [`verify_relay`] does the
/// relay envelope `head` of a mail whose Z has not arrived (its `ciphertext` empty), Z given by
/// its hash `z_hash`, which the signature covers. What it proves is S_A's word for the
/// envelope and for H(Z); the Z that arrives is checked whole by `verify_relay` before the
/// mail is taken.
pub fn verify_relay_head<'a>(
    head: &'a pb::RelayEnvelope,
    z_hash: &[u8; 32],
    own_domain: &str,
    peer_key: &VerifyingKey,
    now: u64,
) -> Result<&'a pb::MailEnvelope, RelayError> {
    let envelope = head.envelope.as_ref().ok_or(WireError::MissingField {
        field: "RelayEnvelope.envelope",
    })?;
    crate::paep::transfer::validate_head(envelope)?;
    verify_with_hash(head, envelope, z_hash, own_domain, peer_key, now)
}

fn verify_with_hash<'a>(
    relay: &pb::RelayEnvelope,
    envelope: &'a pb::MailEnvelope,
    z_hash: &[u8; 32],
    own_domain: &str,
    peer_key: &VerifyingKey,
    now: u64,
) -> Result<&'a pb::MailEnvelope, RelayError> {
    if !relay.to_domain.eq_ignore_ascii_case(own_domain) {
        return Err(RelayError::NotForUs {
            to: relay.to_domain.clone(),
        });
    }
    check_domains(&relay.from_domain, &relay.to_domain, envelope)?;
    verify_signature(
        peer_key.as_bytes(),
        &signed_bytes_of(
            &relay.from_domain,
            &relay.to_domain,
            envelope,
            z_hash,
            relay.expires_at,
        ),
        &relay.gateway_signature,
    )
    .map_err(|_| RelayError::BadSignature)?;
    if relay.expires_at <= now {
        return Err(RelayError::Expired {
            expires_at: relay.expires_at,
            now,
        });
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> pb::MailEnvelope {
        pb::MailEnvelope {
            msg_id: b"m-1".to_vec(),
            sender: "alice@alpha.test".into(),
            recipient: "bob@beta.test".into(),
            ephemeral_key: vec![9; 32],
            prekey_id: 3,
            ciphertext: vec![1; 40],
            sender_signature: vec![2; 64],
        }
    }

    #[test]
    fn a_relay_verifies_only_under_the_sending_gateways_key_and_unaltered() {
        let alpha = SigningKey::from_bytes(&[1; 32]);
        let other = SigningKey::from_bytes(&[2; 32]);
        let relay = sign_relay(envelope(), "alpha.test", 2000, &alpha).unwrap();
        assert_eq!(relay.to_domain, "beta.test");
        let key = alpha.verifying_key();
        assert_eq!(
            verify_relay(&relay, "beta.test", &key, 1000).unwrap(),
            &envelope()
        );
        assert_eq!(
            verify_relay(&relay, "beta.test", &other.verifying_key(), 1000),
            Err(RelayError::BadSignature)
        );
        assert!(matches!(
            verify_relay(&relay, "gamma.test", &key, 1000),
            Err(RelayError::NotForUs { .. })
        ));
        assert!(matches!(
            verify_relay(&relay, "beta.test", &key, 2000),
            Err(RelayError::Expired { .. })
        ));
        let mut altered = relay.clone();
        altered.envelope.as_mut().unwrap().ciphertext[0] ^= 1;
        let mut later = relay.clone();
        later.expires_at += 1;
        let mut readdressed = relay.clone();
        readdressed.envelope.as_mut().unwrap().recipient = "carol@beta.test".into();
        for bad in [altered, later, readdressed] {
            assert_eq!(
                verify_relay(&bad, "beta.test", &key, 1000),
                Err(RelayError::BadSignature)
            );
        }
        let mut foreign = relay;
        foreign.from_domain = "gamma.test".into();
        assert_eq!(
            verify_relay(&foreign, "beta.test", &key, 1000),
            Err(RelayError::WrongDomain { field: "sender" })
        );
    }

    #[test]
    fn a_relay_head_verifies_with_the_hash_of_its_z_only() {
        let alpha = SigningKey::from_bytes(&[1; 32]);
        let relay = sign_relay(envelope(), "alpha.test", 2000, &alpha).unwrap();
        let z_hash = *blake3::hash(&envelope().ciphertext).as_bytes();
        let mut head = relay.clone();
        head.envelope.as_mut().unwrap().ciphertext.clear();
        let key = alpha.verifying_key();
        let verified = verify_relay_head(&head, &z_hash, "beta.test", &key, 1000).unwrap();
        assert_eq!(verified.recipient, "bob@beta.test");
        assert_eq!(
            verify_relay_head(&head, &[0; 32], "beta.test", &key, 1000),
            Err(RelayError::BadSignature)
        );
        // A head still carrying Z is not a head.
        assert!(matches!(
            verify_relay_head(&relay, &z_hash, "beta.test", &key, 1000),
            Err(RelayError::Wire(_))
        ));
    }

    #[test]
    fn a_gateway_relays_only_its_own_senders() {
        let alpha = SigningKey::from_bytes(&[1; 32]);
        assert_eq!(
            sign_relay(envelope(), "gamma.test", 2000, &alpha).unwrap_err(),
            RelayError::WrongDomain { field: "sender" }
        );
    }
}
