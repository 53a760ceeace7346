//! The recipient's sans-IO state machine (B in DESIGN §3.3).
//!
//! ```text
//! receive ─► Received ──request──► Requested ──publication found──► Decrypted
//!                                     ├──direct key (optimistic)──► Decrypted (+ receipt sent)
//!                                     └──timer after T + δ──► Undelivered
//! ```
//!
//! In `Requested`, a publication counts only if it is included in a checkpoint of X that a
//! quorum of X's witnesses cosigned and that is consistent with the last checkpoint of X the
//! recipient trusted; the key it unwraps must match `c_K` before anything is decrypted.
//!
//! B's keys stay in its key store (the IC card of DESIGN §3.2): the request's P_req is created
//! inside the store under [`request_secret_name`] ([`SecretCreator`]: only its public half
//! comes out), requests
//! and receipts are signed through [`IdentitySigner`], and K is unwrapped from the store's
//! `X25519(p_req, A_eph)` through [`SecretAgreement`]. The machine holds no private key.

use std::sync::Arc;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::answer::{ProvenPublication, classify_publication};
use super::keys::{MessageKey, decrypt_message, open_direct_key, unwrap_key};
use super::location::{Expectation, Location};
use super::publication::{check_publication, wrapped};
use super::receipt::sign_receipt;
use super::request::{
    KeyRequestDraft, VerifiedKeyRequest, request_secret_name, sign_request, verify_request,
};
use super::sealed::{SealedInfo, open_sealed};
use super::{CertMailError, Refused, field};
use crate::checkpoint::VerifiedCheckpoint;
use crate::merkle::Hash;
use crate::paep::{IdentitySigner, SecretAgreement, SecretCreator};
use crate::succession::succession;
use crate::wire::{Validate as _, pb};

/// The version of [`pb::RecipientRecord`] this code writes and reads. Version 2 holds no
/// secret: P_req's lives in the key store under [`request_secret_name`] of the request's
/// nonce. Version 1 records carried the secret itself and are refused.
pub const RECIPIENT_RECORD_VERSION: u32 = 2;

/// What to send to the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToSender {
    /// Step (b).
    Request(Box<pb::SignedKeyRequest>),
    /// Optimistic variant: the receipt for a directly sent key.
    Receipt(pb::Receipt),
}

/// What the caller must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientAction {
    /// Store this record durably before sending the request (it holds no secret: P_req's is
    /// in the key store already).
    Persist(Box<pb::RecipientRecord>),
    /// Send this to A.
    Send(ToSender),
    /// Call `handle(RecipientInput::Timer, ..)` at this Unix time.
    ArmTimer(u64),
    /// A checkpoint of X checked consistent with the trusted one: trust it from now on.
    TrustCheckpoint(Box<VerifiedCheckpoint>),
}

/// The recipient's last trusted checkpoint of X, and the consistency proof between it and the
/// checkpoint the lookup returned (from the smaller size to the larger; empty if one is empty or
/// the sizes are equal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedTree {
    /// The checkpoint trusted so far (verified under X's log key by whoever stored it).
    pub checkpoint: VerifiedCheckpoint,
    /// RFC 9162 consistency proof between the two sizes.
    pub proof: Vec<Hash>,
}

/// Something that happened.
#[derive(Clone, Debug)]
pub enum RecipientInput {
    /// The lookup by req_hash at X answered: leaf, proof and cosigned checkpoint, as received
    /// (the machine classifies it), and what the recipient trusted of X before (`None` the
    /// first time).
    Publication {
        /// The leaf with its inclusion proof and checkpoint.
        leaf: pb::IncludedLeaf,
        /// The last trusted checkpoint of X and the proof linking it.
        trusted: Option<TrustedTree>,
    },
    /// The answer, already classified as proven for this request at X (a driver that polled
    /// with [`crate::certmail::classify_publication`] hands over its result: one check).
    Proven {
        /// The proven publication.
        publication: Box<ProvenPublication>,
        /// The last trusted checkpoint of X and the proof linking it.
        trusted: Option<TrustedTree>,
    },
    /// Optimistic variant: A sent K directly.
    DirectKey(pb::DirectKey),
    /// A timer armed by [`RecipientAction::ArmTimer`] fired.
    Timer,
}

/// What B chooses for the request.
#[derive(Clone, Debug)]
pub struct RequestTerms {
    /// T.
    pub deadline: u64,
    /// X.
    pub location: Location,
    /// What B expects, if anything.
    pub expect: Option<Expectation>,
}

#[derive(Debug)]
struct Mailbox {
    account: String,
    sealed: pb::SealedMessage,
    info: SealedInfo,
}

/// A key store's failure, as a refusal that changes nothing.
fn key_store(e: impl std::error::Error) -> CertMailError {
    CertMailError::KeyStore(e.to_string())
}

/// Step (a) received; no request made yet.
#[derive(Debug)]
pub struct Received {
    mailbox: Arc<Mailbox>,
}

impl Received {
    /// Checks a sealed message addressed to `account` (B).
    pub fn receive(sealed: pb::SealedMessage, account: &str) -> Result<Received, CertMailError> {
        let info = open_sealed(&sealed)?;
        if sealed.recipient != account {
            return Err(CertMailError::Mismatch {
                field: "SealedMessage.recipient",
            });
        }
        let mailbox = Mailbox {
            account: account.to_owned(),
            sealed,
            info,
        };
        Ok(Received {
            mailbox: Arc::new(mailbox),
        })
    }

    /// The sealed message (the sender's key, if it signed, is in [`SealedInfo`]).
    pub fn sealed(&self) -> (&pb::SealedMessage, &SealedInfo) {
        (&self.mailbox.sealed, &self.mailbox.info)
    }

    /// Makes and signs the request with a fresh nonce and a fresh P_req, created inside `keys`
    /// under [`request_secret_name`] of the nonce and signed through `keys`. Actions: persist
    /// the record, send the request, arm a timer just after `T + δ`. If signing fails after
    /// P_req was created, its secret stays in the store under that name (the caller erases
    /// it: the light client's driver does; a retry makes a new nonce and a new secret).
    pub fn request<K: IdentitySigner + SecretCreator + ?Sized>(
        self,
        terms: RequestTerms,
        keys: &mut K,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(Requested, Vec<RecipientAction>), Box<Refused<Received>>> {
        if terms.deadline <= now {
            return Err(Refused::boxed(
                self,
                CertMailError::DeadlineTooSoon {
                    deadline: terms.deadline,
                    earliest: now.saturating_add(1),
                },
            ));
        }
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        let secret_name = request_secret_name(&nonce);
        let request_key = match keys.create_secret(&secret_name) {
            Ok(key) => key,
            Err(error) => return Err(Refused::boxed(self, key_store(error))),
        };
        let m = &self.mailbox;
        let draft = KeyRequestDraft {
            sender: m.sealed.sender.clone(),
            recipient: m.account.clone(),
            msg_id: m.sealed.msg_id.clone(),
            ciphertext_hash: m.info.ciphertext_hash,
            key_commitment: m.info.key_commitment,
            deadline: terms.deadline,
            location: terms.location,
            request_key,
            expect: terms.expect,
            nonce,
            created: now,
        };
        // A store that signed with another key than the one it reports is caught here.
        let signed = sign_request(&draft, keys).and_then(|s| Ok((verify_request(&s)?, s)));
        let (request, signed) = match signed {
            Ok(both) => both,
            Err(error) => return Err(Refused::boxed(self, error)),
        };
        let record = pb::RecipientRecord {
            version: RECIPIENT_RECORD_VERSION,
            sealed: Some(m.sealed.clone()),
            request: Some(signed.clone()),
            request_secret: Vec::new(),
        };
        let actions = vec![
            RecipientAction::Persist(Box::new(record)),
            RecipientAction::Send(ToSender::Request(Box::new(signed))),
            RecipientAction::ArmTimer(request.publication_limit().saturating_add(1)),
        ];
        let state = Requested {
            mailbox: self.mailbox,
            request,
            secret_name,
        };
        Ok((state, actions))
    }
}

/// The request is sent; waiting for the key (published at X, or sent directly).
pub struct Requested {
    mailbox: Arc<Mailbox>,
    request: VerifiedKeyRequest,
    /// Where the key store holds P_req's secret.
    secret_name: String,
}

impl core::fmt::Debug for Requested {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Requested")
            .field("req_hash", self.request.req_hash())
            .finish_non_exhaustive()
    }
}

impl Requested {
    /// The request as signed (its req_hash is what to look the publication up by).
    pub fn request(&self) -> &VerifiedKeyRequest {
        &self.request
    }

    /// The name under which the key store holds P_req's secret (to erase it when the mail is
    /// finished).
    pub fn secret_name(&self) -> &str {
        &self.secret_name
    }

    /// Resumes from a persisted record, for the account that made it. The key store that made
    /// the request must still hold P_req's secret (checked when a key comes in).
    pub fn resume(record: &pb::RecipientRecord, account: &str) -> Result<Requested, CertMailError> {
        if record.version == 1 {
            return Err(CertMailError::BadRecord {
                reason: "version 1 (the request secret held outside the key store): \
                         not readable by this version",
            });
        }
        if record.version != RECIPIENT_RECORD_VERSION {
            return Err(CertMailError::BadRecord {
                reason: "unknown version",
            });
        }
        if !record.request_secret.is_empty() {
            return Err(CertMailError::BadRecord {
                reason: "a version 2 record holds no request secret",
            });
        }
        record.validate()?;
        let bad = |reason| CertMailError::BadRecord { reason };
        let sealed = record.sealed.clone().ok_or(bad("no sealed message"))?;
        let signed = record.request.as_ref().ok_or(bad("no request"))?;
        let received = Received::receive(sealed, account)?;
        let request = verify_request(signed)?;
        let nonce = field::<32>("KeyRequest.nonce", request.nonce())?;
        Ok(Requested {
            mailbox: received.mailbox,
            request,
            secret_name: request_secret_name(&nonce),
        })
    }

    /// A publication, a direct key, or the timer after `T + δ`. `keys` unwraps K with P_req's
    /// secret and signs the receipt (optimistic variant).
    pub fn handle<K: IdentitySigner + SecretAgreement + ?Sized>(
        self,
        input: RecipientInput,
        keys: &K,
        now: u64,
    ) -> Result<(RecipientState, Vec<RecipientAction>), Box<Refused<Requested>>> {
        let outcome = match input {
            RecipientInput::Publication { leaf, trusted } => {
                self.take_publication(&leaf, trusted.as_ref(), keys, now)
            }
            RecipientInput::Proven {
                publication,
                trusted,
            } => self.take_proven(&publication, trusted.as_ref(), keys),
            RecipientInput::DirectKey(direct) => self.take_direct_key(&direct, keys, now),
            RecipientInput::Timer if now > self.request.publication_limit() => {
                let undelivered = Undelivered {
                    request: self.request.clone(),
                };
                Ok((RecipientState::Undelivered(undelivered), Vec::new()))
            }
            RecipientInput::Timer => {
                let at = self.request.publication_limit().saturating_add(1);
                return Ok((
                    RecipientState::Requested(self),
                    vec![RecipientAction::ArmTimer(at)],
                ));
            }
        };
        outcome.map_err(|error| Refused::boxed(self, error))
    }

    /// An answer as received: classified ([`classify_publication`]), then taken.
    fn take_publication<K: SecretAgreement + ?Sized>(
        &self,
        leaf: &pb::IncludedLeaf,
        trusted: Option<&TrustedTree>,
        keys: &K,
        now: u64,
    ) -> Result<(RecipientState, Vec<RecipientAction>), CertMailError> {
        let request = &self.request;
        let proven = classify_publication(request.location(), request.req_hash(), None, leaf, now)
            .proven()?;
        self.take_proven(&proven, trusted, keys)
    }

    /// The key store's `X25519(p_req, peer)`.
    fn agree<'a, K: SecretAgreement + ?Sized>(
        &'a self,
        keys: &'a K,
    ) -> impl FnOnce(&[u8; 32]) -> Result<Zeroizing<[u8; 32]>, CertMailError> + 'a {
        move |peer| {
            keys.agree_secret(&self.secret_name, peer)
                .map_err(key_store)
        }
    }

    /// A publication proven for this request at X: the leaf must answer it (author, H(C), the
    /// author's signature), its checkpoint must follow the trusted one (proto's succession
    /// rule), and the key it unwraps must match `c_K`. B takes the key whenever it is cosigned;
    /// whether it was in time is recorded.
    fn take_proven<K: SecretAgreement + ?Sized>(
        &self,
        proven: &ProvenPublication,
        trusted: Option<&TrustedTree>,
        keys: &K,
    ) -> Result<(RecipientState, Vec<RecipientAction>), CertMailError> {
        let request = &self.request;
        if proven.req_hash() != request.req_hash() || proven.location() != request.location() {
            return Err(CertMailError::Mismatch {
                field: "proven publication's request",
            });
        }
        let publication = check_publication(proven.leaf(), request)?;
        let cosigned = proven.checkpoint();
        let received = cosigned.checkpoint();
        let mut actions = Vec::new();
        let newer = match trusted {
            Some(t) => {
                check_consistency(request.location(), &t.checkpoint, received, &t.proof)?;
                received.size() >= t.checkpoint.size()
            }
            None => true,
        };
        if newer {
            actions.push(RecipientAction::TrustCheckpoint(Box::new(received.clone())));
        }
        let key = unwrap_key(&wrapped(&publication), request.req_hash(), self.agree(keys))?;
        let plaintext = self.open(&key)?;
        let on_time = cosigned.quorum_time() <= request.publication_limit();
        let delivery = Delivery::Published {
            index: proven.index(),
            on_time,
        };
        Ok((self.decrypted(key, plaintext, delivery), actions))
    }

    fn take_direct_key<K: IdentitySigner + SecretAgreement + ?Sized>(
        &self,
        direct: &pb::DirectKey,
        keys: &K,
        now: u64,
    ) -> Result<(RecipientState, Vec<RecipientAction>), CertMailError> {
        let key = open_direct_key(direct, self.request.req_hash(), self.agree(keys))?;
        let plaintext = self.open(&key)?;
        // No receipt for what B did not ask for.
        if let Some(expect) = self.request.expect() {
            expect.check(&plaintext)?;
        }
        let receipt = sign_receipt(&self.request, keys, now)?;
        let actions = vec![RecipientAction::Send(ToSender::Receipt(receipt.clone()))];
        Ok((
            self.decrypted(key, plaintext, Delivery::Direct { receipt }),
            actions,
        ))
    }

    /// Checks K against c_K first (the AEAD alone would accept a second key), then decrypts.
    fn open(&self, key: &MessageKey) -> Result<Vec<u8>, CertMailError> {
        if !key.matches(self.request.key_commitment()) {
            return Err(CertMailError::KeyCommitmentMismatch);
        }
        decrypt_message(key, self.request.msg_id(), &self.mailbox.sealed.ciphertext)
    }

    fn decrypted(&self, key: MessageKey, plaintext: Vec<u8>, delivery: Delivery) -> RecipientState {
        let expectation_met = self
            .request
            .expect()
            .is_none_or(|e| e.check(&plaintext).is_ok());
        RecipientState::Decrypted(Decrypted {
            plaintext,
            key,
            delivery,
            expectation_met,
        })
    }
}

/// Checks that the received checkpoint and the trusted one are of one tree: proto's succession
/// rule, from the smaller to the larger.
fn check_consistency(
    location: &Location,
    trusted: &VerifiedCheckpoint,
    received: &VerifiedCheckpoint,
    proof: &[Hash],
) -> Result<(), CertMailError> {
    if trusted.origin() != received.origin() {
        return Err(CertMailError::Mismatch {
            field: "trusted checkpoint origin",
        });
    }
    let (older, newer) = if trusted.size() <= received.size() {
        (trusted, received)
    } else {
        (received, trusted)
    };
    succession(location.log(), Some(older), newer, proof)
        .map(|_| ())
        .map_err(|e| CertMailError::Inconsistent(Box::new(e)))
}

/// How B got the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// From the publication at X, at this index; `on_time` if a quorum cosigned it by `T + δ`.
    Published {
        /// The leaf's index in X's log.
        index: u64,
        /// Whether the quorum was reached by `T + δ` (otherwise an arbiter would not count it).
        on_time: bool,
    },
    /// Sent directly; B returned this receipt.
    Direct {
        /// The receipt sent.
        receipt: pb::Receipt,
    },
}

/// B has M.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decrypted {
    /// M.
    pub plaintext: Vec<u8>,
    /// K (checked against c_K).
    pub key: MessageKey,
    /// How the key came.
    pub delivery: Delivery,
    /// Whether M meets the request's expectation (true when there was none).
    pub expectation_met: bool,
}

/// `T + δ` passed without a key: B can prove non-publication with an absence proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undelivered {
    /// The request that was not answered.
    pub request: VerifiedKeyRequest,
}

/// The recipient's state after a request.
#[derive(Debug)]
pub enum RecipientState {
    /// Waiting for the key.
    Requested(Requested),
    /// Finished with M.
    Decrypted(Decrypted),
    /// Finished without a key.
    Undelivered(Undelivered),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certmail::seal_message;
    use crate::checkpoint::{WitnessPolicy, WitnessSigner};
    use crate::inclusion::LogTrust;
    use crate::merkle::HashAlgorithm;
    use crate::note::NoteSigner;
    use crate::paep::MemoryCard;
    use ed25519_dalek::SigningKey;

    fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
        rand_core::UnwrapErr(getrandom::SysRng)
    }

    fn location() -> Location {
        let log = NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap();
        let w = WitnessSigner::new("w.test", SigningKey::from_bytes(&[2; 32])).unwrap();
        let policy = WitnessPolicy::new(log.verifier(), vec![w.verifier()], 1).unwrap();
        Location::new(LogTrust::new(policy, HashAlgorithm::Blake3), 60, 10).unwrap()
    }

    fn sealed() -> pb::SealedMessage {
        seal_message::<SigningKey>("alice@a.test", "bob@b.test", b"m", b"hi", None, &mut rng())
            .unwrap()
            .1
    }

    fn bob() -> MemoryCard {
        MemoryCard::new(SigningKey::from_bytes(&[3; 32]))
    }

    #[test]
    fn mail_for_someone_else_is_refused() {
        let err = Received::receive(sealed(), "carol@b.test").unwrap_err();
        assert_eq!(
            err,
            CertMailError::Mismatch {
                field: "SealedMessage.recipient"
            }
        );
    }

    #[test]
    fn a_request_makes_p_req_inside_the_store_and_persists_no_secret() {
        let mut keys = bob();
        let received = Received::receive(sealed(), "bob@b.test").unwrap();
        let terms = RequestTerms {
            deadline: 1_000,
            location: location(),
            expect: None,
        };
        let (requested, actions) = received.request(terms, &mut keys, 500, &mut rng()).unwrap();
        let RecipientAction::Persist(record) = &actions[0] else {
            panic!("persist first: {actions:?}")
        };
        assert!(matches!(
            actions[1],
            RecipientAction::Send(ToSender::Request(_))
        ));
        assert_eq!(actions[2], RecipientAction::ArmTimer(1_061));
        // P_req's secret is in the store, under the name of the request's nonce; the record
        // carries none.
        assert!(record.request_secret.is_empty());
        assert_eq!(keys.names(), [requested.secret_name()]);
        let nonce: [u8; 32] = requested.request().nonce().try_into().unwrap();
        assert_eq!(requested.secret_name(), request_secret_name(&nonce));
        // The record resumes to the same request and the same secret name.
        let resumed = Requested::resume(record, "bob@b.test").unwrap();
        assert_eq!(resumed.request(), requested.request());
        assert_eq!(resumed.secret_name(), requested.secret_name());
        // A version 1 record (its secret held by value) is refused with the reason.
        let mut old = (**record).clone();
        old.version = 1;
        old.request_secret = vec![7; 32];
        assert!(matches!(
            Requested::resume(&old, "bob@b.test"),
            Err(CertMailError::BadRecord { reason }) if reason.contains("version 1")
        ));
    }

    #[test]
    fn a_store_that_cannot_agree_refuses_the_key_and_keeps_the_state() {
        let mut keys = bob();
        let received = Received::receive(sealed(), "bob@b.test").unwrap();
        let terms = RequestTerms {
            deadline: 1_000,
            location: location(),
            expect: None,
        };
        let (requested, _) = received.request(terms, &mut keys, 500, &mut rng()).unwrap();
        keys.erase(requested.secret_name());
        let direct = crate::certmail::seal_direct_key(
            &MessageKey::from_bytes([1; 32]),
            requested.request().request_key(),
            requested.request().req_hash(),
            &mut rng(),
        )
        .unwrap();
        let refused = requested
            .handle(RecipientInput::DirectKey(direct), &keys, 600)
            .unwrap_err();
        assert!(matches!(refused.error, CertMailError::KeyStore(_)));
    }

    #[test]
    fn a_deadline_already_past_is_not_requested() {
        let mut keys = bob();
        let received = Received::receive(sealed(), "bob@b.test").unwrap();
        let terms = RequestTerms {
            deadline: 500,
            location: location(),
            expect: None,
        };
        let refused = received
            .request(terms, &mut keys, 500, &mut rng())
            .unwrap_err();
        assert!(matches!(
            refused.error,
            CertMailError::DeadlineTooSoon { .. }
        ));
        assert!(
            keys.names().is_empty(),
            "no secret made for a refused request"
        );
    }
}
