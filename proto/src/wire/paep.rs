//! Bounds of the PAEP messages (`paep.proto`), checked after decoding.
//!
//! | message | limit | reason |
//! |---|---|---|
//! | `PasswordRecord`, `PasswordParams` | [`MAX_PASSWORD_RECORD_BYTES`], [`MAX_PASSWORD_PARAMS_BYTES`] | fixed-size fields and three integers |
//! | `PasswordParamsRequest`, `LoginShare`, `PrekeyBundleRequest` | [`MAX_LOGIN_SHARE_BYTES`] | one account address (≤ 320 bytes) and one point |
//! | `LoginChallenge`, `LoginConfirm` | [`MAX_LOGIN_CHALLENGE_BYTES`], [`MAX_LOGIN_CONFIRM_BYTES`] | one point, one or two MACs |
//! | `SessionFrame` | [`MAX_SESSION_FRAME_BYTES`] | one plaintext of at most [`MAX_SESSION_PLAINTEXT_BYTES`] (a mail of [`MAX_MAIL_PLAINTEXT_BYTES`] in a request, with room) |
//! | `SessionRecord` | [`MAX_SESSION_RECORD_BYTES`] | two keys, an id, three integers |
//! | `PrekeyUpload` | [`MAX_PREKEY_UPLOAD_BYTES`] | at most [`MAX_PREKEYS_PER_UPLOAD`] one-time prekeys and a fallback |
//! | `PrekeyBundle` | [`MAX_PREKEY_BUNDLE_BYTES`] | a binding answer (one client response) and a prekey |
//! | `MailEnvelope` | [`MAX_MAIL_ENVELOPE_BYTES`] | a ciphertext of at most [`MAX_MAIL_PLAINTEXT_BYTES`] + 16 and short fields |

use std::collections::BTreeSet;

use super::pb::{self, PrekeyKind, SessionRole};
use super::validate::{KEY_LEN, SIGNATURE_LEN, exact, known_enum, sized};
use super::{
    AEAD_TAG_BYTES, MAX_ACCOUNT_BYTES, MAX_CLIENT_RESPONSE_BYTES, MAX_MSG_ID_BYTES, Validate,
    WireError,
};

/// Length of a SPAKE2+ confirmation in Herald's suite (a BLAKE3 keyed hash).
pub const CONFIRMATION_BYTES: usize = 32;
/// Length of a session identifier.
pub const SESSION_ID_BYTES: usize = 16;

/// Largest Argon2id memory cost a record may name, in KiB (4 GiB): bounds what a gateway can make
/// a client spend.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// Most Argon2id passes a record may name.
pub const MAX_ARGON2_ITERATIONS: u32 = 32;
/// Most Argon2id lanes a record may name.
pub const MAX_ARGON2_PARALLELISM: u32 = 16;

/// Largest encoded [`pb::PasswordRecord`].
pub const MAX_PASSWORD_RECORD_BYTES: usize = 128;
/// Largest encoded [`pb::PasswordParams`].
pub const MAX_PASSWORD_PARAMS_BYTES: usize = 64;
/// Largest encoded [`pb::LoginShare`] (also bounds `PasswordParamsRequest` and
/// `PrekeyBundleRequest`, which carry less).
pub const MAX_LOGIN_SHARE_BYTES: usize = MAX_ACCOUNT_BYTES + 64;
/// Largest encoded [`pb::LoginChallenge`].
pub const MAX_LOGIN_CHALLENGE_BYTES: usize = 128;
/// Largest encoded [`pb::LoginConfirm`].
pub const MAX_LOGIN_CONFIRM_BYTES: usize = 64;

/// Largest mail plaintext M (body and attachments, before encryption).
pub const MAX_MAIL_PLAINTEXT_BYTES: usize = 8 * 1024 * 1024;
/// Largest encoded [`pb::MailEnvelope`].
pub const MAX_MAIL_ENVELOPE_BYTES: usize = MAX_MAIL_PLAINTEXT_BYTES + AEAD_TAG_BYTES + 1024;

/// Largest plaintext of one session frame: a mail envelope inside a request, with room.
pub const MAX_SESSION_PLAINTEXT_BYTES: usize = MAX_MAIL_ENVELOPE_BYTES + 64 * 1024;
/// Largest encoded [`pb::SessionFrame`].
pub const MAX_SESSION_FRAME_BYTES: usize = MAX_SESSION_PLAINTEXT_BYTES + AEAD_TAG_BYTES + 64;
/// Largest encoded [`pb::SessionRecord`].
pub const MAX_SESSION_RECORD_BYTES: usize = 256;

/// Most one-time prekeys in one [`pb::PrekeyUpload`].
pub const MAX_PREKEYS_PER_UPLOAD: usize = 100;
/// Largest encoded [`pb::SignedPrekey`] inside an upload, with its tag and length.
const MAX_SIGNED_PREKEY_BYTES: usize = 128;
/// Largest encoded [`pb::PrekeyUpload`].
pub const MAX_PREKEY_UPLOAD_BYTES: usize = (MAX_PREKEYS_PER_UPLOAD + 1) * MAX_SIGNED_PREKEY_BYTES;
/// Largest encoded [`pb::PrekeyStatus`].
pub const MAX_PREKEY_STATUS_BYTES: usize = 32;
/// Largest encoded [`pb::PrekeyBundle`]: a binding answer (bounded like one client response) and
/// a prekey.
pub const MAX_PREKEY_BUNDLE_BYTES: usize = MAX_CLIENT_RESPONSE_BYTES + MAX_SIGNED_PREKEY_BYTES;

fn account(field: &'static str, account: &str) -> Result<(), WireError> {
    sized(field, account.len(), 1, MAX_ACCOUNT_BYTES)
}

fn required<'a, T>(field: &'static str, value: &'a Option<T>) -> Result<&'a T, WireError> {
    value.as_ref().ok_or(WireError::MissingField { field })
}

impl pb::Argon2Params {
    /// The bounds of Argon2id parameters (RFC 9106 allows more; a client must not be made to
    /// spend more than this). Also used by `paep::Argon2Params`.
    pub(crate) fn validate_fields(&self) -> Result<(), WireError> {
        let p = self.parallelism as usize;
        sized(
            "Argon2Params.parallelism",
            p,
            1,
            MAX_ARGON2_PARALLELISM as usize,
        )?;
        sized(
            "Argon2Params.iterations",
            self.iterations as usize,
            1,
            MAX_ARGON2_ITERATIONS as usize,
        )?;
        // Argon2 needs at least 8 KiB per lane.
        sized(
            "Argon2Params.memory_kib",
            self.memory_kib as usize,
            8 * p,
            MAX_ARGON2_MEMORY_KIB as usize,
        )
    }
}

impl Validate for pb::PasswordRecord {
    const MAX_ENCODED_LEN: usize = MAX_PASSWORD_RECORD_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        exact("PasswordRecord.w0", &self.w0, KEY_LEN)?;
        exact("PasswordRecord.l", &self.l, KEY_LEN)?;
        required("PasswordRecord.argon2", &self.argon2)?.validate_fields()
    }
}

impl Validate for pb::PasswordParamsRequest {
    const MAX_ENCODED_LEN: usize = MAX_LOGIN_SHARE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        account("PasswordParamsRequest.account", &self.account)
    }
}

impl Validate for pb::PasswordParams {
    const MAX_ENCODED_LEN: usize = MAX_PASSWORD_PARAMS_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        required("PasswordParams.argon2", &self.argon2)?.validate_fields()
    }
}

impl Validate for pb::LoginShare {
    const MAX_ENCODED_LEN: usize = MAX_LOGIN_SHARE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        account("LoginShare.account", &self.account)?;
        exact("LoginShare.share_p", &self.share_p, KEY_LEN)
    }
}

impl Validate for pb::LoginChallenge {
    const MAX_ENCODED_LEN: usize = MAX_LOGIN_CHALLENGE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        exact("LoginChallenge.share_v", &self.share_v, KEY_LEN)?;
        exact(
            "LoginChallenge.confirm_v",
            &self.confirm_v,
            CONFIRMATION_BYTES,
        )
    }
}

impl Validate for pb::LoginConfirm {
    const MAX_ENCODED_LEN: usize = MAX_LOGIN_CONFIRM_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        exact(
            "LoginConfirm.confirm_p",
            &self.confirm_p,
            CONFIRMATION_BYTES,
        )
    }
}

impl Validate for pb::SessionFrame {
    const MAX_ENCODED_LEN: usize = MAX_SESSION_FRAME_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        exact(
            "SessionFrame.session_id",
            &self.session_id,
            SESSION_ID_BYTES,
        )?;
        sized(
            "SessionFrame.ciphertext",
            self.ciphertext.len(),
            AEAD_TAG_BYTES,
            MAX_SESSION_PLAINTEXT_BYTES + AEAD_TAG_BYTES,
        )
    }
}

impl Validate for pb::SessionRecord {
    const MAX_ENCODED_LEN: usize = MAX_SESSION_RECORD_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        known_enum::<SessionRole>("SessionRecord.role", self.role)?;
        exact(
            "SessionRecord.session_id",
            &self.session_id,
            SESSION_ID_BYTES,
        )?;
        exact("SessionRecord.send_key", &self.send_key, KEY_LEN)?;
        exact("SessionRecord.receive_key", &self.receive_key, KEY_LEN)
    }
}

impl pb::SignedPrekey {
    /// The bounds of one signed prekey of the kind `expected` (any kind if `None`).
    pub(super) fn validate_fields(
        &self,
        field: &'static str,
        expected: Option<PrekeyKind>,
    ) -> Result<(), WireError> {
        let kind = known_enum::<PrekeyKind>(field, self.kind)?;
        if expected.is_some_and(|e| e != kind) {
            return Err(WireError::UnknownEnumValue {
                field,
                value: self.kind,
            });
        }
        // Only the fallback may be number 0 (the identity binding's own prekey).
        if kind == PrekeyKind::OneTime && self.id == 0 {
            return Err(WireError::FieldSize {
                field: "SignedPrekey.id",
                len: 0,
                min: 1,
                max: usize::MAX,
            });
        }
        exact("SignedPrekey.public_key", &self.public_key, KEY_LEN)?;
        exact("SignedPrekey.signature", &self.signature, SIGNATURE_LEN)
    }
}

impl pb::SignedPrekey {
    /// The bounds of one signed prekey of `kind` on its own (e.g. as a gateway stores it).
    pub fn validate_as(&self, kind: PrekeyKind) -> Result<(), WireError> {
        self.validate_fields("SignedPrekey.kind", Some(kind))
    }
}

impl Validate for pb::PrekeyUpload {
    const MAX_ENCODED_LEN: usize = MAX_PREKEY_UPLOAD_BYTES;

    /// Also: no id twice, and an uploaded fallback is numbered from 1 (0 is the binding's).
    fn validate(&self) -> Result<(), WireError> {
        if self.one_time.len() > MAX_PREKEYS_PER_UPLOAD {
            return Err(WireError::TooManyElements {
                field: "PrekeyUpload.one_time",
                count: self.one_time.len(),
                max: MAX_PREKEYS_PER_UPLOAD,
            });
        }
        let mut ids = BTreeSet::new();
        for prekey in &self.one_time {
            prekey.validate_fields("PrekeyUpload.one_time[].kind", Some(PrekeyKind::OneTime))?;
            if !ids.insert(prekey.id) {
                return Err(WireError::DuplicateElement {
                    field: "PrekeyUpload (prekey id)",
                });
            }
        }
        if let Some(fallback) = &self.fallback {
            fallback.validate_fields("PrekeyUpload.fallback.kind", Some(PrekeyKind::Fallback))?;
            if fallback.id == 0 {
                return Err(WireError::FieldSize {
                    field: "PrekeyUpload.fallback.id",
                    len: 0,
                    min: 1,
                    max: usize::MAX,
                });
            }
            if !ids.insert(fallback.id) {
                return Err(WireError::DuplicateElement {
                    field: "PrekeyUpload (prekey id)",
                });
            }
        }
        Ok(())
    }
}

impl Validate for pb::PrekeyStatus {
    const MAX_ENCODED_LEN: usize = MAX_PREKEY_STATUS_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        Ok(())
    }
}

impl Validate for pb::PrekeyBundleRequest {
    const MAX_ENCODED_LEN: usize = MAX_LOGIN_SHARE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        account("PrekeyBundleRequest.account", &self.account)
    }
}

impl Validate for pb::PrekeyBundle {
    const MAX_ENCODED_LEN: usize = MAX_PREKEY_BUNDLE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        required("PrekeyBundle.prekey", &self.prekey)?
            .validate_fields("PrekeyBundle.prekey.kind", None)?;
        required("PrekeyBundle.binding", &self.binding)?.validate_fields()
    }
}

impl Validate for pb::MailEnvelope {
    const MAX_ENCODED_LEN: usize = MAX_MAIL_ENVELOPE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        sized(
            "MailEnvelope.msg_id",
            self.msg_id.len(),
            1,
            MAX_MSG_ID_BYTES,
        )?;
        account("MailEnvelope.sender", &self.sender)?;
        account("MailEnvelope.recipient", &self.recipient)?;
        exact("MailEnvelope.ephemeral_key", &self.ephemeral_key, KEY_LEN)?;
        sized(
            "MailEnvelope.ciphertext",
            self.ciphertext.len(),
            AEAD_TAG_BYTES,
            MAX_MAIL_PLAINTEXT_BYTES + AEAD_TAG_BYTES,
        )?;
        exact(
            "MailEnvelope.sender_signature",
            &self.sender_signature,
            SIGNATURE_LEN,
        )
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::wire::decode_valid;

    fn prekey(kind: PrekeyKind, id: u64) -> pb::SignedPrekey {
        pb::SignedPrekey {
            kind: kind as i32,
            id,
            public_key: vec![0xff; KEY_LEN],
            signature: vec![0xff; SIGNATURE_LEN],
        }
    }

    #[test]
    fn the_largest_valid_messages_fit_their_limits() {
        let argon2 = Some(pb::Argon2Params {
            memory_kib: u32::MAX,
            iterations: u32::MAX,
            parallelism: u32::MAX,
        });
        let long = "a".repeat(MAX_ACCOUNT_BYTES);
        let max = |bytes: usize| vec![0xffu8; bytes];
        let sizes = [
            (
                pb::PasswordRecord {
                    w0: max(32),
                    l: max(32),
                    argon2,
                }
                .encoded_len(),
                MAX_PASSWORD_RECORD_BYTES,
            ),
            (
                pb::PasswordParams { argon2 }.encoded_len(),
                MAX_PASSWORD_PARAMS_BYTES,
            ),
            (
                pb::LoginShare {
                    account: long.clone(),
                    share_p: max(32),
                }
                .encoded_len(),
                MAX_LOGIN_SHARE_BYTES,
            ),
            (
                pb::LoginChallenge {
                    share_v: max(32),
                    confirm_v: max(32),
                }
                .encoded_len(),
                MAX_LOGIN_CHALLENGE_BYTES,
            ),
            (
                pb::LoginConfirm { confirm_p: max(32) }.encoded_len(),
                MAX_LOGIN_CONFIRM_BYTES,
            ),
            (
                pb::SessionFrame {
                    session_id: max(16),
                    counter: u64::MAX,
                    close: true,
                    ciphertext: max(MAX_SESSION_PLAINTEXT_BYTES + AEAD_TAG_BYTES),
                }
                .encoded_len(),
                MAX_SESSION_FRAME_BYTES,
            ),
            (
                pb::SessionRecord {
                    role: SessionRole::Server as i32,
                    session_id: max(16),
                    send_key: max(32),
                    receive_key: max(32),
                    send_counter: u64::MAX,
                    receive_counter: u64::MAX,
                    expires_at: u64::MAX,
                }
                .encoded_len(),
                MAX_SESSION_RECORD_BYTES,
            ),
            (
                pb::PrekeyUpload {
                    one_time: vec![prekey(PrekeyKind::OneTime, u64::MAX); MAX_PREKEYS_PER_UPLOAD],
                    fallback: Some(prekey(PrekeyKind::Fallback, u64::MAX)),
                }
                .encoded_len(),
                MAX_PREKEY_UPLOAD_BYTES,
            ),
            (
                pb::PrekeyStatus {
                    one_time_remaining: u64::MAX,
                    fallback_used: true,
                }
                .encoded_len(),
                MAX_PREKEY_STATUS_BYTES,
            ),
            (
                pb::MailEnvelope {
                    msg_id: max(MAX_MSG_ID_BYTES),
                    sender: long.clone(),
                    recipient: long,
                    ephemeral_key: max(32),
                    prekey_id: u64::MAX,
                    ciphertext: max(MAX_MAIL_PLAINTEXT_BYTES + AEAD_TAG_BYTES),
                    sender_signature: max(64),
                }
                .encoded_len(),
                MAX_MAIL_ENVELOPE_BYTES,
            ),
        ];
        for (i, (len, limit)) in sizes.into_iter().enumerate() {
            assert!(len <= limit, "message {i}: {len} > {limit}");
        }
        // A mail envelope at its limit fits one session frame's plaintext, inside a request.
        const { assert!(MAX_MAIL_ENVELOPE_BYTES + 16 < MAX_SESSION_PLAINTEXT_BYTES) };
    }

    #[test]
    fn argon2_parameters_are_bounded() {
        let ok = pb::Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 8,
        };
        assert_eq!(ok.validate_fields(), Ok(()));
        for bad in [
            pb::Argon2Params {
                memory_kib: 63,
                ..ok
            },
            pb::Argon2Params {
                memory_kib: MAX_ARGON2_MEMORY_KIB + 1,
                ..ok
            },
            pb::Argon2Params {
                iterations: 0,
                ..ok
            },
            pb::Argon2Params {
                iterations: MAX_ARGON2_ITERATIONS + 1,
                ..ok
            },
            pb::Argon2Params {
                parallelism: 0,
                ..ok
            },
            pb::Argon2Params {
                parallelism: MAX_ARGON2_PARALLELISM + 1,
                memory_kib: 1024,
                ..ok
            },
        ] {
            assert!(bad.validate_fields().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uploads_are_bounded_and_numbered_once() {
        let upload =
            |one_time: Vec<pb::SignedPrekey>, fallback| pb::PrekeyUpload { one_time, fallback };
        let ok = upload(
            vec![
                prekey(PrekeyKind::OneTime, 1),
                prekey(PrekeyKind::OneTime, 2),
            ],
            Some(prekey(PrekeyKind::Fallback, 3)),
        );
        assert_eq!(decode_valid(&ok.encode_to_vec()), Ok(ok));
        let refused = [
            upload(vec![prekey(PrekeyKind::OneTime, 1); 2], None),
            upload(
                vec![prekey(PrekeyKind::OneTime, 1)],
                Some(prekey(PrekeyKind::Fallback, 1)),
            ),
            upload(vec![], Some(prekey(PrekeyKind::Fallback, 0))),
            upload(vec![prekey(PrekeyKind::OneTime, 0)], None),
            upload(vec![prekey(PrekeyKind::Fallback, 5)], None),
            upload(vec![], Some(prekey(PrekeyKind::OneTime, 5))),
            upload(
                (1..=MAX_PREKEYS_PER_UPLOAD as u64 + 1)
                    .map(|i| prekey(PrekeyKind::OneTime, i))
                    .collect(),
                None,
            ),
        ];
        for bad in refused {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn login_messages_have_exact_lengths() {
        let share = pb::LoginShare {
            account: "a@b.test".into(),
            share_p: vec![1; 31],
        };
        assert!(matches!(
            share.validate(),
            Err(WireError::FieldLength {
                field: "LoginShare.share_p",
                ..
            })
        ));
        let confirm = pb::LoginConfirm {
            confirm_p: vec![1; 33],
        };
        assert!(confirm.validate().is_err());
        let frame = pb::SessionFrame {
            session_id: vec![0; 16],
            counter: 0,
            close: false,
            ciphertext: vec![0; 15],
        };
        assert!(frame.validate().is_err());
    }
}
