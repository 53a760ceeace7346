//! Prekeys (DESIGN §3.2): X25519 keys `(id, Y)` an account publishes through its gateway so
//! that others can send it mail while it is offline, each signed by the account's identity key.
//!
//! - **One-time prekeys** are handed out at most once and their secret is erased after the one
//!   mail that used it (forward secrecy). **The fallback** is handed out only when none is left.
//!   Fallback 0 is the prekey already in the account's identity binding (signed by IK under
//!   [`crate::entry::FALLBACK_PREKEY_LABEL`] and published in the log); an uploaded fallback
//!   (id ≥ 1) replaces it.
//! - **Signing input** of an uploaded prekey (signed by IK):
//!   `lp("herald v1 paep prekey") ‖ lp(account) ‖ lp(kind) ‖ lp(id as 8 bytes LE) ‖ lp(Y)`,
//!   kind one byte (1 one-time, 2 fallback). The account and the kind are covered, so a prekey
//!   cannot be moved to another account nor a fallback passed off as one-time.
//! - **The sender trusts a prekey** only as a [`VerifiedPrekeyBundle`], made by
//!   [`verify_prekey_bundle`] alone: the recipient's identity binding is proven in its domain's
//!   cosigned log, is for the account asked for, is not revoked, and the prekey's signature
//!   verifies under the bound IK. A gateway that substitutes a prekey would have to substitute
//!   IK too, in public.

use super::keystore::{IdentitySigner, PrekeyCreator};
use crate::entry::{EntryError, signing_input, verify_signature};
use crate::identity::{
    IdentityError, NotBound, VerifiedBinding, verify_binding, verify_revocation,
};
use crate::inclusion::LogTrust;
use crate::wire::{MAX_PREKEYS_PER_UPLOAD, Validate as _, WireError, pb};

/// The label that starts an uploaded prekey's signing input (signed by the account's IK).
pub const PREKEY_LABEL: &str = "herald v1 paep prekey";

/// What a prekey is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrekeyKind {
    /// Used for one mail, then erased.
    OneTime,
    /// Used when no one-time prekey is left; kept until replaced.
    Fallback,
}

impl PrekeyKind {
    fn byte(self) -> u8 {
        match self {
            PrekeyKind::OneTime => 1,
            PrekeyKind::Fallback => 2,
        }
    }

    /// The wire enum.
    pub fn to_pb(self) -> pb::PrekeyKind {
        match self {
            PrekeyKind::OneTime => pb::PrekeyKind::OneTime,
            PrekeyKind::Fallback => pb::PrekeyKind::Fallback,
        }
    }

    /// From the wire enum; `None` for UNSPECIFIED or unknown values.
    pub fn from_pb(value: i32) -> Option<Self> {
        match pb::PrekeyKind::try_from(value) {
            Ok(pb::PrekeyKind::OneTime) => Some(PrekeyKind::OneTime),
            Ok(pb::PrekeyKind::Fallback) => Some(PrekeyKind::Fallback),
            _ => None,
        }
    }
}

/// Why a prekey upload or bundle was refused (or could not be made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrekeyError {
    /// The message breaks the schema's bounds.
    #[error("malformed: {0}")]
    Wire(#[from] WireError),
    /// The recipient's identity binding does not verify (signature, domain, inclusion).
    #[error("identity binding: {0}")]
    Binding(IdentityError),
    /// A revocation presented with the binding does not verify.
    #[error("revocation: {0}")]
    Revocation(IdentityError),
    /// The binding is for another account than the one asked for.
    #[error("the binding is for {bound:?}, not {expected:?}")]
    OtherAccount {
        /// The account the binding names.
        bound: String,
        /// The account asked for.
        expected: String,
    },
    /// The bound key is revoked, or not yet valid, now.
    #[error("identity key not bound: {0}")]
    NotBound(#[from] NotBound),
    /// The prekey's signature does not verify under the bound identity key: a substituted key.
    #[error("prekey {id}: {error}")]
    BadSignature {
        /// The prekey's id.
        id: u64,
        /// Why.
        error: EntryError,
    },
    /// Fallback 0 is not the prekey the identity binding publishes.
    #[error("fallback 0 is not the binding's prekey")]
    NotTheBindingPrekey,
    /// More prekeys asked for than one upload carries.
    #[error("{count} one-time prekeys exceed {max} per upload")]
    TooMany {
        /// How many were asked for.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// The key store could not create prekeys or sign (a local failure).
    #[error("key store: {0}")]
    KeyStore(String),
}

/// The bytes IK signs for an uploaded prekey.
pub fn prekey_signing_input(
    account: &str,
    kind: PrekeyKind,
    id: u64,
    public: &[u8; 32],
) -> Vec<u8> {
    signing_input(
        PREKEY_LABEL,
        &[
            account.as_bytes(),
            &[kind.byte()],
            &id.to_le_bytes(),
            public,
        ],
    )
}

fn sign_prekey<I: IdentitySigner>(
    signer: &I,
    account: &str,
    kind: PrekeyKind,
    id: u64,
    public: [u8; 32],
) -> Result<pb::SignedPrekey, PrekeyError> {
    let signature = signer
        .sign(&prekey_signing_input(account, kind, id, &public))
        .map_err(|e| PrekeyError::KeyStore(e.to_string()))?;
    Ok(pb::SignedPrekey {
        kind: kind.to_pb() as i32,
        id,
        public_key: public.to_vec(),
        signature: signature.to_vec(),
    })
}

/// Creates `one_time` prekeys (and a new fallback if asked) inside the key store and signs
/// them with IK: the upload to send to the gateway. No secret leaves the store.
pub fn prekey_upload<I: IdentitySigner, C: PrekeyCreator>(
    account: &str,
    signer: &I,
    store: &mut C,
    one_time: usize,
    fallback: bool,
) -> Result<pb::PrekeyUpload, PrekeyError> {
    if one_time > MAX_PREKEYS_PER_UPLOAD {
        return Err(PrekeyError::TooMany {
            count: one_time,
            max: MAX_PREKEYS_PER_UPLOAD,
        });
    }
    let store_error = |e: C::Error| PrekeyError::KeyStore(e.to_string());
    let mut upload = pb::PrekeyUpload::default();
    for (id, public) in store
        .create_prekeys(PrekeyKind::OneTime, one_time)
        .map_err(store_error)?
    {
        upload.one_time.push(sign_prekey(
            signer,
            account,
            PrekeyKind::OneTime,
            id,
            public,
        )?);
    }
    if fallback {
        let created = store
            .create_prekeys(PrekeyKind::Fallback, 1)
            .map_err(store_error)?;
        if let Some(&(id, public)) = created.first() {
            upload.fallback = Some(sign_prekey(
                signer,
                account,
                PrekeyKind::Fallback,
                id,
                public,
            )?);
        }
    }
    upload.validate()?;
    Ok(upload)
}

fn check_signature(
    prekey: &pb::SignedPrekey,
    account: &str,
    identity_key: &[u8; 32],
) -> Result<(), PrekeyError> {
    let kind = PrekeyKind::from_pb(prekey.kind).ok_or(WireError::UnknownEnumValue {
        field: "SignedPrekey.kind",
        value: prekey.kind,
    })?;
    let public: [u8; 32] =
        prekey.public_key[..]
            .try_into()
            .map_err(|_| WireError::FieldLength {
                field: "SignedPrekey.public_key",
                len: prekey.public_key.len(),
                expected: 32,
            })?;
    let input = prekey_signing_input(account, kind, prekey.id, &public);
    verify_signature(identity_key, &input, &prekey.signature).map_err(|error| {
        PrekeyError::BadSignature {
            id: prekey.id,
            error,
        }
    })
}

/// The gateway's check of an upload from a logged-in account: every prekey signed by the
/// account's current identity key. Refuses the whole upload if one prekey is bad.
pub fn verify_prekey_upload(
    upload: &pb::PrekeyUpload,
    account: &str,
    identity_key: &[u8; 32],
) -> Result<(), PrekeyError> {
    upload.validate()?;
    upload
        .one_time
        .iter()
        .chain(upload.fallback.iter())
        .try_for_each(|p| check_signature(p, account, identity_key))
}

/// A prekey the sender may encrypt to: made only by [`verify_prekey_bundle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPrekeyBundle {
    kind: PrekeyKind,
    id: u64,
    prekey: [u8; 32],
    binding: VerifiedBinding,
}

impl VerifiedPrekeyBundle {
    /// The recipient's account.
    pub fn account(&self) -> &str {
        self.binding.account()
    }

    /// The prekey's kind.
    pub fn kind(&self) -> PrekeyKind {
        self.kind
    }

    /// The prekey's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Y_B.
    pub fn prekey(&self) -> &[u8; 32] {
        &self.prekey
    }

    /// The recipient's verified identity binding.
    pub fn binding(&self) -> &VerifiedBinding {
        &self.binding
    }
}

/// Checks a prekey bundle handed out for `account` by its gateway, against `trust`, the log of
/// the account's domain: the binding is proven in a cosigned checkpoint (timestamps ≤
/// `now + max_skew`), names `account`, is bound now given the revocations presented, and the
/// prekey is signed by the bound IK (fallback 0: is the binding's own prekey).
pub fn verify_prekey_bundle(
    bundle: &pb::PrekeyBundle,
    account: &str,
    trust: &LogTrust,
    now: u64,
    max_skew: u64,
) -> Result<VerifiedPrekeyBundle, PrekeyError> {
    bundle.validate()?;
    let missing = |field| WireError::MissingField { field };
    let answer = bundle
        .binding
        .as_ref()
        .ok_or(missing("PrekeyBundle.binding"))?;
    let leaf = answer
        .binding
        .as_ref()
        .ok_or(missing("BindingAnswer.binding"))?;
    let prekey = bundle
        .prekey
        .as_ref()
        .ok_or(missing("PrekeyBundle.prekey"))?;
    let binding = verify_binding(trust, leaf, now, max_skew).map_err(PrekeyError::Binding)?;
    if binding.account() != account {
        return Err(PrekeyError::OtherAccount {
            bound: binding.account().to_owned(),
            expected: account.to_owned(),
        });
    }
    let revocations = answer
        .revocations
        .iter()
        .map(|r| verify_revocation(trust, r, now, max_skew))
        .collect::<Result<Vec<_>, _>>()
        .map_err(PrekeyError::Revocation)?;
    binding.bound_at(now, &revocations)?;
    let kind = PrekeyKind::from_pb(prekey.kind).ok_or(WireError::UnknownEnumValue {
        field: "SignedPrekey.kind",
        value: prekey.kind,
    })?;
    let public: [u8; 32] =
        prekey.public_key[..]
            .try_into()
            .map_err(|_| WireError::FieldLength {
                field: "SignedPrekey.public_key",
                len: prekey.public_key.len(),
                expected: 32,
            })?;
    if kind == PrekeyKind::Fallback && prekey.id == 0 {
        // Its signature by IK was checked with the binding.
        if &public != binding.signed_prekey() {
            return Err(PrekeyError::NotTheBindingPrekey);
        }
    } else {
        check_signature(prekey, account, binding.identity_key())?;
    }
    Ok(VerifiedPrekeyBundle {
        kind,
        id: prekey.id,
        prekey: public,
        binding,
    })
}
