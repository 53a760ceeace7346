//! Key transparency entries (DESIGN §2 "Entry types", §4 "Accounts and local CA"):
//! `IdentityBinding` and `IdentityRevocation`, signed by the domain's gateway.
//!
//! **Which key signs.** The gateway signs with its log's Ed25519 key, the key whose C2SP verifier
//! string (`<domain>/herald+…`) every client and peer already trusts for the domain's
//! checkpoints. One trust anchor per domain, nothing extra to distribute or rotate. This is safe
//! because the two uses can never be confused (domain separation):
//! - a checkpoint signature covers note text, which must be UTF-8 without control characters and
//!   start with the origin (a key name, no white space);
//! - an entry signature covers a signing input, which starts with `lp(label)`: the label's 8-byte
//!   little-endian length, i.e. NUL bytes, then a label such as
//!   `"herald v1 entry identity binding"` that contains spaces.
//!
//! No byte string is both, so no signature of one kind verifies as the other; and each entry kind
//! has its own label, so no entry signature verifies as another kind's.
//!
//! The account's fallback prekey is signed by the account's own identity key IK (label
//! [`FALLBACK_PREKEY_LABEL`]), so the gateway cannot substitute a prekey without also
//! substituting IK, which the log makes public.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use super::{
    EntryError, fixed, signing_input, verify_signature, verify_signature_by, verifying_key,
};
use crate::wire::pb;

/// The label that starts an identity binding's signing input (signed by the gateway).
pub const IDENTITY_BINDING_LABEL: &str = "herald v1 entry identity binding";

/// The label that starts an identity revocation's signing input (signed by the gateway).
pub const IDENTITY_REVOCATION_LABEL: &str = "herald v1 entry identity revocation";

/// The label that starts a fallback prekey's signing input (signed by the account's IK).
pub const FALLBACK_PREKEY_LABEL: &str = "herald v1 signed fallback prekey";

/// The label that starts an account registration's signing input (signed by the account's IK).
/// Not a log entry: it proves to the gateway that the registrant holds IK.
pub const ACCOUNT_REGISTRATION_LABEL: &str = "herald v1 account registration";

/// The bytes IK signs to register `account` with its gateway (`RegisterAccount.signature`):
/// `signing_input("herald v1 account registration", account, identity_key, signed_prekey,
/// enrolment_code)`. The one-time code makes each signature good for one enrolment only.
pub fn registration_signing_input(
    account: &str,
    identity_key: &[u8; 32],
    signed_prekey: &[u8; 32],
    enrolment_code: &str,
) -> Vec<u8> {
    signing_input(
        ACCOUNT_REGISTRATION_LABEL,
        &[
            account.as_bytes(),
            identity_key,
            signed_prekey,
            enrolment_code.as_bytes(),
        ],
    )
}

/// IK's signature registering `account` with the prekey and the operator's enrolment code.
pub fn sign_registration(
    identity: &SigningKey,
    account: &str,
    signed_prekey: &[u8; 32],
    enrolment_code: &str,
) -> [u8; 64] {
    let identity_key = identity.verifying_key().to_bytes();
    identity
        .sign(&registration_signing_input(
            account,
            &identity_key,
            signed_prekey,
            enrolment_code,
        ))
        .to_bytes()
}

/// Checks a registration's signature by `identity_key` (strict Ed25519).
pub fn verify_registration(
    account: &str,
    identity_key: &[u8; 32],
    signed_prekey: &[u8; 32],
    enrolment_code: &str,
    signature: &[u8],
) -> Result<(), EntryError> {
    verify_signature(
        identity_key,
        &registration_signing_input(account, identity_key, signed_prekey, enrolment_code),
        signature,
    )
}

/// Checks IK's signature over `prekey` as `account`'s fallback prekey.
pub fn verify_fallback_prekey(
    identity_key: &[u8; 32],
    account: &str,
    prekey: &[u8; 32],
    signature: &[u8],
) -> Result<(), EntryError> {
    verify_fallback_prekey_by(&verifying_key(identity_key)?, account, prekey, signature)
}

/// [`verify_fallback_prekey`] by IK already read ([`super::verifying_key`]).
fn verify_fallback_prekey_by(
    identity_key: &VerifyingKey,
    account: &str,
    prekey: &[u8; 32],
    signature: &[u8],
) -> Result<(), EntryError> {
    verify_signature_by(
        identity_key,
        &fallback_prekey_signing_input(account, prekey),
        signature,
    )
    .map_err(|e| match e {
        EntryError::BadSignature => EntryError::BadPrekeySignature,
        other => other,
    })
}

/// The bytes IK signs to vouch for `prekey` as `account`'s fallback X25519 prekey
/// (`RegisterAccount.signed_prekey_signature`): `signing_input("herald v1 signed fallback
/// prekey", account, prekey)`. Public so that a key store that only signs can make it.
pub fn fallback_prekey_signing_input(account: &str, prekey: &[u8; 32]) -> Vec<u8> {
    signing_input(FALLBACK_PREKEY_LABEL, &[account.as_bytes(), prekey])
}

/// IK's signature on `prekey` as `account`'s signed fallback prekey.
pub fn sign_fallback_prekey(identity: &SigningKey, account: &str, prekey: &[u8; 32]) -> [u8; 64] {
    identity
        .sign(&fallback_prekey_signing_input(account, prekey))
        .to_bytes()
}

/// A domain's statement "`account`'s identity key is `identity_key` from `valid_from` on".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityBinding {
    /// The account address, e.g. `bob@beta.test`.
    pub account: String,
    /// IK, the account's Ed25519 identity key.
    pub identity_key: [u8; 32],
    /// The account's signed fallback X25519 prekey.
    pub signed_prekey: [u8; 32],
    /// IK's signature over the prekey ([`sign_fallback_prekey`]).
    pub signed_prekey_signature: [u8; 64],
    /// From when the binding holds, Unix seconds.
    pub valid_from: u64,
}

impl IdentityBinding {
    /// The bytes the gateway signs.
    pub fn signing_input(&self) -> Vec<u8> {
        signing_input(
            IDENTITY_BINDING_LABEL,
            &[
                self.account.as_bytes(),
                &self.identity_key,
                &self.signed_prekey,
                &self.signed_prekey_signature,
                &self.valid_from.to_le_bytes(),
            ],
        )
    }

    /// Signs this binding with the gateway's (log) key, as a log entry.
    pub fn sign(&self, gateway: &SigningKey) -> pb::LogEntry {
        let signature = gateway.sign(&self.signing_input());
        pb::LogEntry {
            kind: Some(pb::log_entry::Kind::IdentityBinding(pb::IdentityBinding {
                account: self.account.clone(),
                identity_key: self.identity_key.to_vec(),
                signed_prekey: self.signed_prekey.to_vec(),
                signed_prekey_signature: self.signed_prekey_signature.to_vec(),
                valid_from: self.valid_from,
                gateway_signature: signature.to_bytes().to_vec(),
            })),
        }
    }
}

/// Checks a binding's gateway signature under `gateway` (the domain's log key) and its prekey
/// signature under the bound identity key; returns the binding's content.
pub fn verify_identity_binding(
    entry: &pb::IdentityBinding,
    gateway: &VerifyingKey,
) -> Result<IdentityBinding, EntryError> {
    verify_identity_binding_keyed(entry, gateway).map(|(binding, _)| binding)
}

/// [`verify_identity_binding`], also returning IK as read for the check of its prekey
/// signature, so that a caller checking more signatures by IK (a one-time prekey's, a mail's
/// sig_A) does not read the key again. The same checks, in the same order.
pub fn verify_identity_binding_keyed(
    entry: &pb::IdentityBinding,
    gateway: &VerifyingKey,
) -> Result<(IdentityBinding, VerifyingKey), EntryError> {
    let binding = IdentityBinding {
        account: entry.account.clone(),
        identity_key: fixed("IdentityBinding.identity_key", &entry.identity_key)?,
        signed_prekey: fixed("IdentityBinding.signed_prekey", &entry.signed_prekey)?,
        signed_prekey_signature: fixed(
            "IdentityBinding.signed_prekey_signature",
            &entry.signed_prekey_signature,
        )?,
        valid_from: entry.valid_from,
    };
    // The gateway's key is read already: its point is not decompressed again.
    verify_signature_by(gateway, &binding.signing_input(), &entry.gateway_signature)?;
    let identity_key = verifying_key(&binding.identity_key)?;
    verify_fallback_prekey_by(
        &identity_key,
        &binding.account,
        &binding.signed_prekey,
        &binding.signed_prekey_signature,
    )?;
    Ok((binding, identity_key))
}

/// A domain's statement "`identity_key` is no longer `account`'s from `revoked_at` on".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRevocation {
    /// The account address.
    pub account: String,
    /// The identity key revoked.
    pub identity_key: [u8; 32],
    /// From when the key is revoked, Unix seconds.
    pub revoked_at: u64,
}

impl IdentityRevocation {
    /// The bytes the gateway signs.
    pub fn signing_input(&self) -> Vec<u8> {
        signing_input(
            IDENTITY_REVOCATION_LABEL,
            &[
                self.account.as_bytes(),
                &self.identity_key,
                &self.revoked_at.to_le_bytes(),
            ],
        )
    }

    /// Signs this revocation with the gateway's (log) key, as a log entry.
    pub fn sign(&self, gateway: &SigningKey) -> pb::LogEntry {
        let signature = gateway.sign(&self.signing_input());
        pb::LogEntry {
            kind: Some(pb::log_entry::Kind::IdentityRevocation(
                pb::IdentityRevocation {
                    account: self.account.clone(),
                    identity_key: self.identity_key.to_vec(),
                    revoked_at: self.revoked_at,
                    gateway_signature: signature.to_bytes().to_vec(),
                },
            )),
        }
    }
}

/// Checks a revocation's gateway signature under `gateway`; returns its content.
pub fn verify_identity_revocation(
    entry: &pb::IdentityRevocation,
    gateway: &VerifyingKey,
) -> Result<IdentityRevocation, EntryError> {
    let revocation = IdentityRevocation {
        account: entry.account.clone(),
        identity_key: fixed("IdentityRevocation.identity_key", &entry.identity_key)?,
        revoked_at: entry.revoked_at,
    };
    verify_signature_by(
        gateway,
        &revocation.signing_input(),
        &entry.gateway_signature,
    )?;
    Ok(revocation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::note::{NoteSigner, SignedNote};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    fn gateway() -> SigningKey {
        SigningKey::from_bytes(&[9; 32])
    }

    fn binding() -> IdentityBinding {
        let ik = SigningKey::from_bytes(&[3; 32]);
        let prekey = [4u8; 32];
        IdentityBinding {
            account: "bob@beta.test".into(),
            identity_key: ik.verifying_key().to_bytes(),
            signed_prekey: prekey,
            signed_prekey_signature: sign_fallback_prekey(&ik, "bob@beta.test", &prekey),
            valid_from: 1_700_000_000,
        }
    }

    fn inner(entry: pb::LogEntry) -> pb::IdentityBinding {
        match entry.kind {
            Some(pb::log_entry::Kind::IdentityBinding(b)) => b,
            other => panic!("not a binding: {other:?}"),
        }
    }

    #[test]
    fn a_signed_binding_verifies_under_the_gateway_key_only() {
        let entry = inner(binding().sign(&gateway()));
        assert_eq!(
            verify_identity_binding(&entry, &gateway().verifying_key()),
            Ok(binding())
        );
        let other = SigningKey::from_bytes(&[10; 32]).verifying_key();
        assert_eq!(
            verify_identity_binding(&entry, &other),
            Err(EntryError::BadSignature)
        );
    }

    #[test]
    fn the_keyed_check_reads_ik_once_and_refuses_every_changed_byte_as_before() {
        let gw = gateway().verifying_key();
        let entry = inner(binding().sign(&gateway()));
        let (b, key) = verify_identity_binding_keyed(&entry, &gw).unwrap();
        assert_eq!(b, binding());
        assert_eq!(key.to_bytes(), binding().identity_key);
        // Every byte of the signed fields changed: refused by both, alike (the gateway's
        // signature is checked with the key as read, IK's with IK as read).
        let fields = |e: &mut pb::IdentityBinding, i: usize| -> bool {
            let all: [&mut Vec<u8>; 4] = [
                &mut e.identity_key,
                &mut e.signed_prekey,
                &mut e.signed_prekey_signature,
                &mut e.gateway_signature,
            ];
            let mut i = i;
            for f in all {
                if i < f.len() {
                    f[i] ^= 0x01;
                    return true;
                }
                i -= f.len();
            }
            false
        };
        let mut i = 0;
        while {
            let mut t = entry.clone();
            let changed = fields(&mut t, i);
            if changed {
                let plain = verify_identity_binding(&t, &gw);
                assert!(plain.is_err(), "byte {i}");
                assert_eq!(
                    verify_identity_binding_keyed(&t, &gw).map(|(b, _)| b),
                    plain,
                    "byte {i}"
                );
            }
            changed
        } {
            i += 1;
        }
        assert_eq!(i, 32 + 32 + 64 + 64);
    }

    #[test]
    fn a_prekey_signed_for_another_account_is_refused() {
        let mut b = binding();
        b.account = "mallory@beta.test".into();
        let entry = inner(b.sign(&gateway()));
        assert_eq!(
            verify_identity_binding(&entry, &gateway().verifying_key()),
            Err(EntryError::BadPrekeySignature)
        );
    }

    #[test]
    fn changing_a_binding_field_breaks_the_gateway_signature() {
        let good = inner(binding().sign(&gateway()));
        let mut t = good.clone();
        t.valid_from -= 1;
        assert_eq!(
            verify_identity_binding(&t, &gateway().verifying_key()),
            Err(EntryError::BadSignature)
        );
        let mut t = good;
        t.identity_key[0] ^= 1;
        assert!(verify_identity_binding(&t, &gateway().verifying_key()).is_err());
    }

    #[test]
    fn a_revocation_signature_is_not_a_binding_signature() {
        let r = IdentityRevocation {
            account: "bob@beta.test".into(),
            identity_key: binding().identity_key,
            revoked_at: 5,
        };
        let entry = match r.sign(&gateway()).kind {
            Some(pb::log_entry::Kind::IdentityRevocation(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            verify_identity_revocation(&entry, &gateway().verifying_key()),
            Ok(r)
        );
        // The same gateway key signs both kinds; their labels keep the signatures apart.
        let mut b = inner(binding().sign(&gateway()));
        b.gateway_signature = entry.gateway_signature;
        assert_eq!(
            verify_identity_binding(&b, &gateway().verifying_key()),
            Err(EntryError::BadSignature)
        );
    }

    #[test]
    fn an_entry_signing_input_is_never_a_checkpoint_note() {
        // The log key signs both; a signing input must not parse as note text.
        let input = binding().signing_input();
        let as_text = String::from_utf8_lossy(&input).into_owned();
        // Even followed by a well-formed signature line (4-byte key id and 64-byte signature).
        let line = format!("\u{2014} x {}\n", BASE64.encode([7u8; 68]));
        assert!(SignedNote::parse(format!("{as_text}\n{line}").as_bytes()).is_err());
        assert!(SignedNote::parse(format!("{as_text}\n\n{line}").as_bytes()).is_err());
        assert!(Checkpoint::parse_body(&as_text).is_err());
        // And the log's checkpoint signature does not verify as a binding signature.
        let log = NoteSigner::new("beta.test/herald", gateway()).unwrap();
        let note = Checkpoint {
            origin: "beta.test/herald".into(),
            size: 1,
            root: [0; 32],
        }
        .sign(&log)
        .unwrap();
        let sig = note.signatures()[0].signature().to_vec();
        let mut entry = inner(binding().sign(&gateway()));
        entry.gateway_signature = sig;
        assert_eq!(
            verify_identity_binding(&entry, &gateway().verifying_key()),
            Err(EntryError::BadSignature)
        );
    }

    #[test]
    fn a_registration_signature_is_the_documented_input_and_covers_every_field() {
        let ik = SigningKey::from_bytes(&[3; 32]);
        let key = ik.verifying_key().to_bytes();
        let prekey = [4u8; 32];
        let sig = sign_registration(&ik, "bob@beta.test", &prekey, "code-1");
        let mut expected = Vec::new();
        for field in [
            &b"herald v1 account registration"[..],
            b"bob@beta.test",
            &key,
            &prekey,
            b"code-1",
        ] {
            expected.extend_from_slice(&(field.len() as u64).to_le_bytes());
            expected.extend_from_slice(field);
        }
        assert_eq!(
            registration_signing_input("bob@beta.test", &key, &prekey, "code-1"),
            expected
        );
        assert_eq!(
            verify_registration("bob@beta.test", &key, &prekey, "code-1", &sig),
            Ok(())
        );
        let refused = [
            verify_registration("eve@beta.test", &key, &prekey, "code-1", &sig),
            verify_registration("bob@beta.test", &key, &[5; 32], "code-1", &sig),
            verify_registration("bob@beta.test", &key, &prekey, "code-2", &sig),
        ];
        assert!(refused.iter().all(|r| *r == Err(EntryError::BadSignature)));
        let other = SigningKey::from_bytes(&[6; 32]).verifying_key().to_bytes();
        assert_eq!(
            verify_registration("bob@beta.test", &other, &prekey, "code-1", &sig),
            Err(EntryError::BadSignature)
        );
    }

    #[test]
    fn a_registration_signature_is_not_a_prekey_signature() {
        // IK signs both; the labels keep one from being replayed as the other.
        let ik = SigningKey::from_bytes(&[3; 32]);
        let key = ik.verifying_key().to_bytes();
        let prekey = [4u8; 32];
        let prekey_sig = sign_fallback_prekey(&ik, "bob@beta.test", &prekey);
        assert_eq!(
            verify_fallback_prekey(&key, "bob@beta.test", &prekey, &prekey_sig),
            Ok(())
        );
        assert_eq!(
            verify_registration("bob@beta.test", &key, &prekey, "", &prekey_sig),
            Err(EntryError::BadSignature)
        );
        let reg_sig = sign_registration(&ik, "bob@beta.test", &prekey, "c");
        assert_eq!(
            verify_fallback_prekey(&key, "bob@beta.test", &prekey, &reg_sig),
            Err(EntryError::BadPrekeySignature)
        );
    }
}
