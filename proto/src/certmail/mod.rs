//! Certified mail: Schneier–Riordan on the cosigned log (DESIGN §3.3).
//!
//! 1. (a) A → B: `C = ChaCha20-Poly1305(K, nonce 0, AD = lp(msg_id), M)` and the key commitment
//!    `c_K = KDF("herald v1 cm commit", K)` ([`seal_message`]); ChaCha20-Poly1305 is not
//!    key-committing, so without `c_K` a sender could craft one C that opens under two keys.
//! 2. (b) B → A: a [`KeyRequest`](crate::wire::pb::KeyRequest) signed by IK_B
//!    ([`sign_request`], [`verify_request`]): "publish the key of H(C) at X by T, wrapped to my
//!    fresh key P_req".
//! 3. (c) A publishes a `KeyPublication` leaf at X: `A_eph = X25519(a, base)`,
//!    `K_wrap = K ⊕ KDF("herald v1 cm wrap", lp(X25519(a, P_req)) ‖ lp(req_hash))` ([`wrap_key`]).
//! 4. (d) B finds it by req_hash, checks it is included in a checkpoint of X cosigned by a quorum
//!    and consistent with what B trusted before, unwraps ([`unwrap_key`]), checks `c_K`, decrypts.
//!
//! One check per lookup answer: [`classify_publication`] tells "not yet" from "the gateway
//! misbehaved" from a [`ProvenPublication`], which both machines take without checking again.
//!
//! Optimistic variant: A sends K straight to B encrypted to P_req ([`seal_direct_key`]); B answers
//! with a signed [`Receipt`](crate::wire::pb::Receipt) ([`sign_receipt`]); A publishes only if
//! none comes in time.
//!
//! The parties run [`sender`] and [`recipient`], sans-IO state machines: time and randomness
//! come in as arguments, and what to send, publish, persist and when to wake up go out as actions.
//!
//! ## Canonical bytes and labels
//! Every label is a fixed, versioned string; every signed or hashed field is `lp`-framed
//! (8-byte little-endian length first), integers as 8-byte little-endian.
//! - `req` = [`request_signing_input`]: `lp(KEY_REQUEST_LABEL) ‖ lp(A) ‖ lp(B) ‖ lp(msg_id) ‖
//!   lp(H(C)) ‖ lp(c_K) ‖ lp(T) ‖ lp(X) ‖ lp(P_req) ‖ lp(expect) ‖ lp(nonce) ‖ lp(created) ‖
//!   lp(IK_B)`, with X and expect encoded as documented there. sig_B signs exactly these bytes.
//! - `req_hash = BLAKE3(lp(req) ‖ lp(sig_B))` ([`req_hash`]), the same bytes everywhere: they
//!   depend on the request's fields and the signature, never on a protobuf encoding.
//! - `H(x)` is BLAKE3-256.

mod answer;
mod carried;
mod keys;
mod location;
mod publication;
mod receipt;
pub mod recipient;
mod request;
mod sealed;
pub mod sender;

pub use answer::{BadPublication, ProvenPublication, PublicationAnswer, classify_publication};
pub use carried::{Carried, CarriedError};
pub use keys::{
    MessageKey, WrappedKey, decrypt_message, encrypt_message, ephemeral_secret, is_clamped,
    open_direct_key, seal_direct_key, unwrap_key, wrap_key,
};
pub use location::{Expectation, Location};
pub use publication::{
    MAIL_SALT_LABEL, check_publication, mail_parties, mail_salt, publication_entry,
    publication_opening,
};
pub use receipt::{receipt_signing_input, sign_receipt, verify_receipt};
pub use request::{
    KeyRequestDraft, VerifiedKeyRequest, req_hash, request_secret_name, request_signing_input,
    sign_request, verify_request,
};
pub use sealed::{SealedInfo, open_sealed, seal_message, sealed_signing_input};

use crate::entry::EntryError;
use crate::identity::NotBound;
use crate::inclusion::{InclusionError, TrustError};
use crate::succession::SuccessionError;
use crate::wire::WireError;

/// KDF label of the key commitment `c_K`.
pub const COMMIT_LABEL: &str = "herald v1 cm commit";
/// KDF label of the key wrap in a `KeyPublication`.
pub const WRAP_LABEL: &str = "herald v1 cm wrap";
/// KDF label of the key that encrypts K in a [`DirectKey`](crate::wire::pb::DirectKey)
/// (optimistic variant).
pub const DIRECT_KEY_LABEL: &str = "herald v1 cm direct key";
/// Signing-input label of A's optional signature on a sealed message.
pub const SEALED_LABEL: &str = "herald v1 cm sealed message";
/// Signing-input label of B's key request.
pub const KEY_REQUEST_LABEL: &str = "herald v1 cm key request";
/// Signing-input label of B's receipt (optimistic variant).
pub const RECEIPT_LABEL: &str = "herald v1 cm receipt";

/// Why a certified-mail step was refused. Every variant but [`CertMailError::UnexpectedInput`],
/// [`CertMailError::PlaintextTooLarge`] and [`CertMailError::KeyStore`] means the peer (or the log) misbehaved or the
/// message is not acceptable; retrying the same input gives the same answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertMailError {
    /// A message does not decode or breaks the schema's bounds.
    #[error("malformed message: {0}")]
    Wire(#[from] WireError),
    /// The location X (or a log description) is not usable.
    #[error("location: {0}")]
    Location(#[from] TrustError),
    /// The plaintext is longer than certified mail carries.
    #[error("plaintext of {len} bytes exceeds {max}")]
    PlaintextTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A signature (request, sealed message, receipt, publication) does not verify.
    #[error("{what}: {error}")]
    Signature {
        /// Whose signature: "request", "sealed message", "receipt", "publication".
        what: &'static str,
        /// Why it does not verify.
        error: EntryError,
    },
    /// The recipient's identity binding is for another account or key than the request names.
    #[error("the identity binding is for another {field}")]
    BindingMismatch {
        /// "account" or "identity key".
        field: &'static str,
    },
    /// The recipient's key was not bound to him at the time that matters.
    #[error("recipient key not bound: {0}")]
    NotBound(#[from] NotBound),
    /// A field differs between two messages that must agree (request vs. sealed message,
    /// publication vs. request, receipt vs. request).
    #[error("{field} does not match")]
    Mismatch {
        /// The field.
        field: &'static str,
    },
    /// The deadline leaves too little time to publish and be cosigned (or has passed).
    #[error("deadline {deadline} is before the earliest acceptable {earliest}")]
    DeadlineTooSoon {
        /// T.
        deadline: u64,
        /// `now + MMD + witness period + margin`.
        earliest: u64,
    },
    /// The deadline is further away than the sender is willing to wait.
    #[error("deadline {deadline} is after the latest acceptable {latest}")]
    DeadlineTooFar {
        /// T.
        deadline: u64,
        /// `now + max_wait`.
        latest: u64,
    },
    /// The request claims to be made in the future, or its deadline precedes its creation.
    #[error("request time {created} is not acceptable (now {now}, deadline {deadline})")]
    BadCreationTime {
        /// `created`.
        created: u64,
        /// The checker's clock.
        now: u64,
        /// T.
        deadline: u64,
    },
    /// The location X is not one the sender publishes at (or asks for more than it offers).
    #[error("location {origin} is not acceptable")]
    UnknownLocation {
        /// X's log origin.
        origin: String,
    },
    /// The plaintext does not meet the request's expectation.
    #[error("the plaintext does not meet the expectation: {reason}")]
    ExpectationNotMet {
        /// Which part: "size" or "content hash".
        reason: &'static str,
    },
    /// An X25519 exchange gave the all-zero output (a low-order public key).
    #[error("X25519 with a low-order key")]
    WeakKey,
    /// The key does not match the commitment `c_K`.
    #[error("the key does not match the key commitment c_K")]
    KeyCommitmentMismatch,
    /// The ciphertext (or the sealed key) does not decrypt under the key.
    #[error("decryption failed")]
    DecryptionFailed,
    /// A leaf is not a `KeyPublication`.
    #[error("the leaf is not a key publication")]
    NotAPublication,
    /// A publication is not included in a (timely) cosigned checkpoint of X.
    #[error("inclusion at X: {0}")]
    Inclusion(#[from] InclusionError),
    /// The checkpoint may not follow the one the recipient trusted (proto's succession rule):
    /// with a transferable proof when the log showed two trees (publish it as an
    /// equivocation), or a proof that does not verify.
    #[error("checkpoint inconsistent with the trusted one: {0}")]
    Inconsistent(Box<SuccessionError>),
    /// A leaf is included but it is not the one the sender published.
    #[error("the included leaf is not this publication")]
    OtherLeaf,
    /// The input has no meaning in the current state (a caller error, or a stray message).
    #[error("input {input} is not expected in state {state}")]
    UnexpectedInput {
        /// The state.
        state: &'static str,
        /// The input.
        input: &'static str,
    },
    /// The key store could not sign or agree (locked, the secret not held, the user refused):
    /// a local failure, nothing was sent or changed.
    #[error("key store: {0}")]
    KeyStore(String),
    /// A stored record cannot be resumed from.
    #[error("record: {reason}")]
    BadRecord {
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// An input a state could not take: the state comes back unchanged, with the reason.
#[derive(Debug)]
pub struct Refused<S> {
    /// The state, as before the input.
    pub state: S,
    /// Why the input was refused.
    pub error: CertMailError,
}

impl<S> Refused<S> {
    pub(crate) fn boxed(state: S, error: impl Into<CertMailError>) -> Box<Self> {
        Box::new(Refused {
            state,
            error: error.into(),
        })
    }
}

/// IK's signature over `message` through the key store, as a certified-mail error if it fails.
pub(crate) fn signed<S: crate::paep::IdentitySigner + ?Sized>(
    signer: &S,
    message: &[u8],
) -> Result<[u8; 64], CertMailError> {
    signer
        .sign(message)
        .map_err(|e| CertMailError::KeyStore(e.to_string()))
}

/// `H(x)`: BLAKE3-256.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

/// Reads a fixed-size field of a message that passed [`crate::wire::Validate`].
pub(crate) fn field<const N: usize>(
    name: &'static str,
    bytes: &[u8],
) -> Result<[u8; N], CertMailError> {
    bytes.try_into().map_err(|_| {
        CertMailError::Wire(WireError::FieldLength {
            field: name,
            len: bytes.len(),
            expected: N,
        })
    })
}
