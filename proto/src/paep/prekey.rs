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

use super::key32;
use super::keystore::{IdentitySigner, PrekeyCreator};
use crate::entry::{EntryError, signing_input, verify_signature_by, verifying_key};
use crate::identity::{
    IdentityError, NotBound, VerifiedBinding, verify_binding_memo, verify_revocation_memo,
};
use crate::inclusion::{CheckpointMemo, LogTrust};
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
    let created = create_prekeys(store, one_time, fallback)?;
    sign_upload(signer, account, created)
}

/// [`prekey_upload`] with one key store that both signs and holds the prekeys (the IC card):
/// the prekeys are created first, then signed.
pub fn card_prekey_upload<K: IdentitySigner + PrekeyCreator>(
    account: &str,
    card: &mut K,
    one_time: usize,
    fallback: bool,
) -> Result<pb::PrekeyUpload, PrekeyError> {
    let created = create_prekeys(card, one_time, fallback)?;
    sign_upload(card, account, created)
}

/// The prekeys of an upload, created inside `store`: kind, id, public half.
fn create_prekeys<C: PrekeyCreator>(
    store: &mut C,
    one_time: usize,
    fallback: bool,
) -> Result<Vec<(PrekeyKind, u64, [u8; 32])>, PrekeyError> {
    if one_time > MAX_PREKEYS_PER_UPLOAD {
        return Err(PrekeyError::TooMany {
            count: one_time,
            max: MAX_PREKEYS_PER_UPLOAD,
        });
    }
    let store_error = |e: C::Error| PrekeyError::KeyStore(e.to_string());
    let mut created: Vec<_> = store
        .create_prekeys(PrekeyKind::OneTime, one_time)
        .map_err(store_error)?
        .into_iter()
        .map(|(id, public)| (PrekeyKind::OneTime, id, public))
        .collect();
    if fallback {
        let made = store
            .create_prekeys(PrekeyKind::Fallback, 1)
            .map_err(store_error)?;
        if let Some(&(id, public)) = made.first() {
            created.push((PrekeyKind::Fallback, id, public));
        }
    }
    Ok(created)
}

/// Signs created prekeys with IK into an upload, checked against the schema's bounds.
fn sign_upload<I: IdentitySigner>(
    signer: &I,
    account: &str,
    created: Vec<(PrekeyKind, u64, [u8; 32])>,
) -> Result<pb::PrekeyUpload, PrekeyError> {
    let mut upload = pb::PrekeyUpload::default();
    for (kind, id, public) in created {
        let signed = sign_prekey(signer, account, kind, id, public)?;
        match kind {
            PrekeyKind::OneTime => upload.one_time.push(signed),
            PrekeyKind::Fallback => upload.fallback = Some(signed),
        }
    }
    upload.validate()?;
    Ok(upload)
}

/// A signed prekey's kind and public key, from a message that passed validation.
fn parts(prekey: &pb::SignedPrekey) -> Result<(PrekeyKind, [u8; 32]), PrekeyError> {
    let kind = PrekeyKind::from_pb(prekey.kind).ok_or(WireError::UnknownEnumValue {
        field: "SignedPrekey.kind",
        value: prekey.kind,
    })?;
    Ok((kind, key32("SignedPrekey.public_key", &prekey.public_key)?))
}

fn check_signature(
    prekey: &pb::SignedPrekey,
    account: &str,
    identity_key: &ed25519_dalek::VerifyingKey,
) -> Result<(), PrekeyError> {
    let (kind, public) = parts(prekey)?;
    let input = prekey_signing_input(account, kind, prekey.id, &public);
    verify_signature_by(identity_key, &input, &prekey.signature).map_err(|error| {
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
        .try_for_each(|p| {
            // Read per prekey, as before: an empty upload under a key that does not read is
            // not refused, and `parts` is judged before the key.
            parts(p)?;
            let key = verifying_key(identity_key)
                .map_err(|error| PrekeyError::BadSignature { id: p.id, error })?;
            check_signature(p, account, &key)
        })
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
    verify_prekey_bundle_memo(
        bundle,
        account,
        trust,
        now,
        max_skew,
        &mut CheckpointMemo::new(),
    )
}

/// [`verify_prekey_bundle`], with the checkpoint's signatures checked once per `memo`
/// ([`CheckpointMemo`]: a sender keeps one across its sends).
pub fn verify_prekey_bundle_memo(
    bundle: &pb::PrekeyBundle,
    account: &str,
    trust: &LogTrust,
    now: u64,
    max_skew: u64,
    memo: &mut CheckpointMemo,
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
    let binding =
        verify_binding_memo(trust, leaf, now, max_skew, memo).map_err(PrekeyError::Binding)?;
    if binding.account() != account {
        return Err(PrekeyError::OtherAccount {
            bound: binding.account().to_owned(),
            expected: account.to_owned(),
        });
    }
    let revocations = answer
        .revocations
        .iter()
        .map(|r| verify_revocation_memo(trust, r, now, max_skew, memo))
        .collect::<Result<Vec<_>, _>>()
        .map_err(PrekeyError::Revocation)?;
    binding.bound_at(now, &revocations)?;
    let (kind, public) = parts(prekey)?;
    if kind == PrekeyKind::Fallback && prekey.id == 0 {
        // Its signature by IK was checked with the binding.
        if &public != binding.signed_prekey() {
            return Err(PrekeyError::NotTheBindingPrekey);
        }
    } else {
        check_signature(prekey, account, binding.identity_verifying_key())?;
    }
    Ok(VerifiedPrekeyBundle {
        kind,
        id: prekey.id,
        prekey: public,
        binding,
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::super::fixtures::{NOW, World};
    use super::*;
    use crate::testkit::{ALICE, BOB, SKEW, alice_key, bob_key};

    fn check(
        world: &World,
        bundle: &pb::PrekeyBundle,
    ) -> Result<VerifiedPrekeyBundle, PrekeyError> {
        verify_prekey_bundle(bundle, BOB, &world.beta_trust(), NOW, SKEW)
    }

    #[test]
    fn an_upload_is_signed_by_ik_and_checked_by_the_gateway() {
        let mut world = World::new();
        let upload = prekey_upload(BOB, &bob_key(), &mut world.bob_keys, 3, true).unwrap();
        assert_eq!(upload.one_time.len(), 3);
        assert!(upload.fallback.is_some());
        // Only public halves left the store: 32-byte keys whose secrets it still holds.
        assert_eq!(world.bob_keys.len(), 1 + 4);
        let ik = bob_key().verifying_key().to_bytes();
        assert_eq!(verify_prekey_upload(&upload, BOB, &ik), Ok(()));
        // The signing input is the documented one.
        let p = &upload.one_time[0];
        let mut expected = Vec::new();
        for field in [
            PREKEY_LABEL.as_bytes(),
            BOB.as_bytes(),
            &[1],
            &p.id.to_le_bytes(),
            &p.public_key,
        ] {
            expected.extend_from_slice(&(field.len() as u64).to_le_bytes());
            expected.extend_from_slice(field);
        }
        let public: [u8; 32] = p.public_key[..].try_into().unwrap();
        assert_eq!(
            prekey_signing_input(BOB, PrekeyKind::OneTime, p.id, &public),
            expected
        );
        // Under another key, for another account, or with a field changed: refused whole.
        let alice_ik = alice_key().verifying_key().to_bytes();
        assert!(matches!(
            verify_prekey_upload(&upload, BOB, &alice_ik),
            Err(PrekeyError::BadSignature { .. })
        ));
        assert!(verify_prekey_upload(&upload, ALICE, &ik).is_err());
        let mut moved = upload.clone();
        moved.one_time[1].id += 100;
        assert!(verify_prekey_upload(&moved, BOB, &ik).is_err());
        let mut swapped = upload.clone();
        swapped.one_time[2].public_key = swapped.one_time[1].public_key.clone();
        assert!(verify_prekey_upload(&swapped, BOB, &ik).is_err());
        assert_eq!(
            prekey_upload(BOB, &bob_key(), &mut world.bob_keys, 101, false).unwrap_err(),
            PrekeyError::TooMany {
                count: 101,
                max: 100
            }
        );
    }

    /// One store that signs and holds its prekeys, as a device's key store does.
    struct Card {
        ik: SigningKey,
        prekeys: super::super::MemoryPrekeys,
    }

    impl IdentitySigner for Card {
        type Error = core::convert::Infallible;

        fn identity_key(&self) -> [u8; 32] {
            self.ik.identity_key()
        }

        fn sign(&self, message: &[u8]) -> Result<[u8; 64], Self::Error> {
            IdentitySigner::sign(&self.ik, message)
        }
    }

    impl PrekeyCreator for Card {
        type Error = super::super::UnknownPrekey;

        fn create_prekeys(
            &mut self,
            kind: PrekeyKind,
            count: usize,
        ) -> Result<Vec<(u64, [u8; 32])>, Self::Error> {
            self.prekeys.create_prekeys(kind, count)
        }
    }

    #[test]
    fn one_card_creates_and_signs_its_upload() {
        let mut card = Card {
            ik: bob_key(),
            prekeys: super::super::MemoryPrekeys::new(5),
        };
        let upload = card_prekey_upload(BOB, &mut card, 4, true).unwrap();
        assert_eq!(upload.one_time.len(), 4);
        assert_eq!(upload.fallback.as_ref().map(|f| f.id), Some(5));
        assert_eq!(card.prekeys.len(), 5);
        let ik = bob_key().verifying_key().to_bytes();
        assert_eq!(verify_prekey_upload(&upload, BOB, &ik), Ok(()));
        assert!(matches!(
            card_prekey_upload(BOB, &mut card, 101, false),
            Err(PrekeyError::TooMany { .. })
        ));
    }

    #[test]
    fn a_handed_out_prekey_verifies_against_the_recipients_binding() {
        let mut world = World::new();
        let upload = world.upload(2);
        let one_time = check(&world, &world.bundle(upload.one_time[1].clone(), vec![])).unwrap();
        assert_eq!(one_time.account(), BOB);
        assert_eq!(one_time.kind(), PrekeyKind::OneTime);
        assert_eq!(one_time.id(), upload.one_time[1].id);
        assert_eq!(one_time.prekey()[..], upload.one_time[1].public_key[..]);
        let fallback = check(&world, &world.bundle(world.fallback_zero(), vec![])).unwrap();
        assert_eq!((fallback.kind(), fallback.id()), (PrekeyKind::Fallback, 0));
    }

    #[test]
    fn attack_key_substitution_by_the_gateway_is_refused() {
        let mut world = World::new();
        let mut prekey = world.upload(1).one_time.remove(0);
        // The gateway swaps in its own key, keeping Bob's signature…
        let mut substituted = prekey.clone();
        substituted.public_key = vec![0x66; 32];
        assert!(matches!(
            check(&world, &world.bundle(substituted, vec![])),
            Err(PrekeyError::BadSignature { .. })
        ));
        // …or signs its key with a key of its own (not Bob's bound IK).
        let gateway = SigningKey::from_bytes(&[0x77; 32]);
        let forged = prekey_signing_input(BOB, PrekeyKind::OneTime, prekey.id, &[0x66; 32]);
        prekey.public_key = vec![0x66; 32];
        prekey.signature = ed25519_dalek::Signer::sign(&gateway, &forged)
            .to_bytes()
            .to_vec();
        assert!(matches!(
            check(&world, &world.bundle(prekey, vec![])),
            Err(PrekeyError::BadSignature { .. })
        ));
        // Fallback 0 must be the one the binding publishes.
        let mut zero = world.fallback_zero();
        zero.public_key = vec![0x66; 32];
        assert_eq!(
            check(&world, &world.bundle(zero, vec![])).unwrap_err(),
            PrekeyError::NotTheBindingPrekey
        );
    }

    #[test]
    fn the_prekey_signature_is_checked_with_ik_as_read_for_the_binding_byte_by_byte() {
        // IK is read once, when the binding is verified: each changed byte is still refused.
        let mut world = World::new();
        let prekey = world.upload(1).one_time.remove(0);
        assert!(check(&world, &world.bundle(prekey.clone(), vec![])).is_ok());
        for i in 0..prekey.signature.len() {
            let mut t = prekey.clone();
            t.signature[i] ^= 0x01;
            let refused = check(&world, &world.bundle(t, vec![]));
            assert!(
                matches!(refused, Err(PrekeyError::BadSignature { .. })),
                "{i}"
            );
        }
    }

    #[test]
    fn attack_a_prekey_signed_for_another_account_is_refused() {
        // Bob's IK signed this prekey as Alice's (or a fallback as one-time): not Bob's one-time.
        let mut world = World::new();
        let mut prekey = world.upload(1).one_time.remove(0);
        let public: [u8; 32] = prekey.public_key[..].try_into().unwrap();
        let input = prekey_signing_input(ALICE, PrekeyKind::OneTime, prekey.id, &public);
        prekey.signature = ed25519_dalek::Signer::sign(&bob_key(), &input)
            .to_bytes()
            .to_vec();
        assert!(matches!(
            check(&world, &world.bundle(prekey.clone(), vec![])),
            Err(PrekeyError::BadSignature { .. })
        ));
        prekey.kind = pb::PrekeyKind::Fallback as i32;
        assert!(check(&world, &world.bundle(prekey, vec![])).is_err());
    }

    #[test]
    fn attack_a_prekey_of_an_unbound_key_is_refused() {
        let mut world = World::new();
        let prekey = world.upload(1).one_time.remove(0);
        // Alice's binding handed out as Bob's: another domain's log, so it does not verify
        // against beta; and checked against alpha, it binds another account.
        let mut other = world.bundle(prekey.clone(), vec![]);
        other.binding.as_mut().unwrap().binding = Some(world.alice_binding.clone());
        assert!(matches!(
            check(&world, &other),
            Err(PrekeyError::Binding(_))
        ));
        assert!(matches!(
            verify_prekey_bundle(&other, BOB, &world.alpha_trust(), NOW, SKEW),
            Err(PrekeyError::OtherAccount { .. })
        ));
        // A binding whose proof does not hold (the leaf changed after logging).
        let mut unproven = world.bundle(prekey, vec![]);
        let leaf = unproven.binding.as_mut().unwrap().binding.as_mut().unwrap();
        let last = leaf.entry.len() - 1;
        leaf.entry[last] ^= 1;
        assert!(matches!(
            check(&world, &unproven),
            Err(PrekeyError::Binding(_))
        ));
    }

    #[test]
    fn attack_a_prekey_of_a_revoked_key_is_refused() {
        let mut world = World::new();
        let prekey = world.upload(1).one_time.remove(0);
        let revocation = world.revoke(BOB, &bob_key());
        assert!(matches!(
            check(
                &world,
                &world.bundle(prekey.clone(), vec![revocation.clone()])
            ),
            Err(PrekeyError::NotBound(NotBound::Revoked { .. }))
        ));
        // A revocation that does not verify is refused, not ignored.
        let mut broken = revocation;
        broken.checkpoint = b"not a note".to_vec();
        assert!(matches!(
            check(&world, &world.bundle(prekey, vec![broken])),
            Err(PrekeyError::Revocation(_))
        ));
    }
}
