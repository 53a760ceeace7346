//! PAEP (DESIGN §3.1, §3.2): password login to one's gateway, the session channel it opens,
//! signed X25519 prekeys, and the mail envelope's cryptography. Sans-IO throughout: clocks and
//! randomness are passed in, keys the device must not export are reached through
//! [`IdentitySigner`] and [`PrekeyAgreement`].
//!
//! - **Login** ([`login`]): SPAKE2+ (RFC 9383), generic over a [`Ciphersuite`]; Herald runs
//!   [`Ristretto255Blake3`]. The client derives `(w0, w1)` from its password with Argon2id
//!   ([`ProverSecrets::derive`]); the gateway stores only `(w0, L = w1·G)` ([`VerifierRecord`]).
//!   Unknown accounts meet [`FakeRecords`]. A test reproduces RFC 9383 Appendix C's P-256
//!   vectors with this code.
//! - **Channel** ([`Channel`]): ChaCha20-Poly1305 keyed from the session key, one key and counter
//!   per direction, strictly ordered frames, a lifetime and an explicit close.
//! - **Prekeys** ([`prekey`]): one-time and fallback X25519 prekeys signed by the identity key
//!   IK; a [`VerifiedPrekeyBundle`] comes only from checking the prekey's signature against the
//!   recipient's identity binding proven in its domain's log.
//! - **Session requests** ([`session`]): what a session frame carries on the client protocol,
//!   one `SessionRequest` per frame and one `SessionResponse` back.
//! - **Mail envelope** ([`envelope`]): `sk` from X25519 with the prekey, `Z` under it, the header
//!   signed by IK_A; the recipient's side through the key store's agreement, with a
//!   [`ReplayCache`].
//! - **Mail content** ([`content`]): M as a subject, a body and attachments with a manifest.
//! - **Relay** ([`relay`]): the envelope between gateways, signed by the sending gateway's log
//!   key.
//!
//! Labels are fixed, versioned strings; every KDF input and signing input is `lp`-framed.

mod channel;
pub mod content;
pub mod envelope;
mod fake;
mod keystore;
pub mod login;
mod password;
pub mod prekey;
pub mod relay;
mod replay;
mod ristretto;
pub mod session;
mod spake2plus;
mod suite;
pub mod transfer;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod rfc9383;

pub use channel::{
    CLIENT_TO_SERVER_LABEL, Channel, ChannelError, DEFAULT_SESSION_LIFETIME_SECS, FRAME_LABEL,
    MAX_SESSION_LIFETIME_SECS, Received, Role, SERVER_TO_CLIENT_LABEL, SESSION_ID_LABEL,
};
pub use content::{Attachment, MailContent};
pub use envelope::{
    MailError, OpenedMail, Outgoing, mail_parties, open_envelope, seal_envelope,
    verify_sender_signature,
};
pub use fake::{FAKE_RECORD_LABEL, FakeRecords};
pub use keystore::{
    Agreed, IdentitySigner, PrekeyAgreement, PrekeyCreator, SecretAgreement, SecretCreator,
    SecretNameError, UnknownPrekey,
};
#[cfg(any(test, feature = "testkit"))]
pub use keystore::{MemoryCard, MemoryPrekeys};
pub use login::{
    AwaitingChallenge, AwaitingConfirm, LOGIN_TIMEOUT_SECS, LoggedIn, ServerStart, SessionKey,
};
pub use password::{Argon2Params, ProverSecrets, SALT_LABEL, VerifierRecord, password_salt};
pub use prekey::{
    PREKEY_LABEL, PrekeyError, PrekeyKind, VerifiedPrekeyBundle, card_prekey_upload,
    prekey_signing_input, prekey_upload, verify_prekey_bundle, verify_prekey_bundle_memo,
    verify_prekey_upload,
};
pub use relay::{RELAY_LABEL, RelayError, sign_relay, verify_relay, verify_relay_head};
pub use replay::ReplayCache;
pub use ristretto::{KDF_CONTEXT, M_LABEL, N_LABEL, Ristretto255Blake3, derive_generator};
pub use spake2plus::{HERALD_LOGIN_CONTEXT, LoginContext};
pub use suite::Ciphersuite;

use crate::wire::WireError;

/// Why a login step was refused. Every variant but [`LoginError::Argon2`] means the peer (or
/// the password) is wrong and the attempt is over; [`LoginError::Argon2`] is a local failure.
/// None says whether the account exists: a gateway answers unknown accounts as wrong passwords.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// A message or record breaks the schema's bounds.
    #[error("malformed: {0}")]
    Wire(#[from] WireError),
    /// A share is not the canonical encoding of a group element.
    #[error("{what} is not a canonical group element")]
    BadShare {
        /// "shareP" or "shareV".
        what: &'static str,
    },
    /// A share is the identity element.
    #[error("{what} is the identity element")]
    IdentityShare {
        /// "shareP" or "shareV".
        what: &'static str,
    },
    /// Z or V came out as the identity (a share crafted against w0).
    #[error("a shared point is the identity")]
    IdentityResult,
    /// A key confirmation does not verify: wrong password, wrong record, or a tampered message.
    #[error("{what} does not verify")]
    BadConfirmation {
        /// "confirmV" (checked by the client) or "confirmP" (checked by the gateway).
        what: &'static str,
    },
    /// Message 1 names another account than the verifier was set up for.
    #[error("the share names another account")]
    WrongAccount,
    /// The attempt took longer than [`LOGIN_TIMEOUT_SECS`].
    #[error("login attempt expired at {deadline} (now {now})")]
    Expired {
        /// The attempt's deadline.
        deadline: u64,
        /// The clock.
        now: u64,
    },
    /// A registration record is not usable.
    #[error("registration record: {reason}")]
    BadRecord {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Argon2id failed (out of memory, or parameters it refuses): a local failure.
    #[error("argon2id: {0}")]
    Argon2(String),
}

/// A 32-byte key field of a message that passed [`crate::wire::Validate`] (which checked the
/// length; this keeps the conversion total without an `expect`).
pub(crate) fn key32(field: &'static str, bytes: &[u8]) -> Result<[u8; 32], WireError> {
    bytes.try_into().map_err(|_| WireError::FieldLength {
        field,
        len: bytes.len(),
        expected: 32,
    })
}
