//! The sender's sans-IO state machine (A in DESIGN §3.3).
//!
//! ```text
//! seal ─► Sealed ──request──► Published ──included in time──► Done (evidence bundle)
//!                  │              └──timer at T + δ──► Lapsed
//!                  └─(optimistic)─► AwaitingReceipt ──receipt──► Done
//!                                        └──timer at publish-by──► Published
//! ```
//!
//! Each state holds only what is valid in it; `handle(self, input, now, rng)` returns the next
//! state and the actions to carry out in order (persist before you send or publish). A refused
//! input hands the state back unchanged in [`Refused`] with the reason, which the caller may
//! pass on to B.
//!
//! IK_A stays in A's key store: the sealed message and the publication are signed through
//! [`IdentitySigner`], passed to the steps that sign. The ephemeral `a` is not a key-store
//! secret: it is made here, kept in the record, and disclosed in the evidence bundle
//! (DESIGN §3.3), where an arbiter recomputes the wrap from it.

use std::sync::Arc;

use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;

mod events;

pub use events::{RequestArrived, SenderAction, SenderInput, SenderPolicy, ToRecipient};

use super::answer::{ProvenPublication, classify_publication};
use super::keys::{MessageKey, ephemeral_secret, is_clamped, seal_direct_key};
use super::publication::publication_entry;
use super::receipt::verify_receipt;
use super::request::{VerifiedKeyRequest, verify_request};
use super::sealed::{open_sealed, seal_message};
use super::{CertMailError, Refused, content_hash, field};
use crate::evidence::BUNDLE_VERSION;
use crate::identity::{VerifiedBinding, verify_binding};
use crate::inclusion::{InclusionError, LogTrust};
use crate::paep::IdentitySigner;
use crate::wire::Validate as _;
use crate::wire::pb::{self, evidence_bundle};

/// The version of [`pb::SenderRecord`] this code writes and reads.
pub const SENDER_RECORD_VERSION: u32 = 1;

/// M, K and C: what step (a) made.
#[derive(Debug)]
struct Letter {
    sealed: pb::SealedMessage,
    plaintext: Vec<u8>,
    key: MessageKey,
}

/// An accepted request and the publication prepared for it.
struct Accepted {
    letter: Arc<Letter>,
    request: VerifiedKeyRequest,
    binding: VerifiedBinding,
    ephemeral_secret: StaticSecret,
    leaf: Vec<u8>,
    /// When an optimistic sender stops waiting for a receipt: T − publishing time.
    publish_by: u64,
}

impl core::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Accepted")
            .field("req_hash", self.request.req_hash())
            .field("publish_by", &self.publish_by)
            .finish_non_exhaustive()
    }
}

impl Accepted {
    fn record(&self, published: bool) -> pb::SenderRecord {
        pb::SenderRecord {
            request: Some(self.request.signed().clone()),
            recipient_binding: Some(self.binding.proof().clone()),
            recipient_domain: Some(self.binding.trust().to_pb()),
            ephemeral_secret: self.ephemeral_secret.to_bytes().to_vec(),
            publication: self.leaf.clone(),
            published,
            ..letter_record(&self.letter)
        }
    }

    fn bundle(&self, delivery: evidence_bundle::Delivery) -> pb::EvidenceBundle {
        pb::EvidenceBundle {
            version: BUNDLE_VERSION,
            plaintext: self.letter.plaintext.clone(),
            message_key: self.letter.key.as_bytes().to_vec(),
            ciphertext: self.letter.sealed.ciphertext.clone(),
            request: Some(self.request.signed().clone()),
            recipient_binding: Some(self.binding.proof().clone()),
            recipient_domain: Some(self.binding.trust().to_pb()),
            delivery: Some(delivery),
        }
    }

    /// Done with B's receipt, if it answers the request and B's key was bound when signing it.
    fn take_receipt(&self, receipt: pb::Receipt) -> Result<Done, CertMailError> {
        verify_receipt(&receipt, &self.request)?;
        self.binding.bound_at(receipt.time, &[])?;
        let bundle = self.bundle(evidence_bundle::Delivery::Receipt(receipt));
        Ok(Done { bundle })
    }
}

fn letter_record(letter: &Letter) -> pb::SenderRecord {
    pb::SenderRecord {
        version: SENDER_RECORD_VERSION,
        sealed: Some(letter.sealed.clone()),
        plaintext: letter.plaintext.clone(),
        message_key: letter.key.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn persist(record: pb::SenderRecord) -> SenderAction {
    SenderAction::Persist(Box::new(record))
}

/// A's outgoing letter, before step (a).
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// A's account address.
    pub sender: String,
    /// B's account address.
    pub recipient: String,
    /// The mail's identifier (1 to 64 bytes, unique per sender).
    pub msg_id: Vec<u8>,
    /// M.
    pub plaintext: Vec<u8>,
    /// Whether A signs the sealed message with IK_A.
    pub sign: bool,
}

/// Step (a) done; waiting for B's request.
#[derive(Debug)]
pub struct Sealed {
    letter: Arc<Letter>,
    policy: Arc<SenderPolicy>,
}

impl Sealed {
    /// Seals `outgoing` under a fresh K, signed through `signer` (IK_A's key store) if
    /// `outgoing.sign`. Actions: persist the record, send the sealed message.
    pub fn seal<S: IdentitySigner + ?Sized>(
        outgoing: Outgoing,
        signer: &S,
        policy: SenderPolicy,
        rng: &mut impl CryptoRng,
    ) -> Result<(Sealed, Vec<SenderAction>), CertMailError> {
        let (key, sealed) = seal_message(
            &outgoing.sender,
            &outgoing.recipient,
            &outgoing.msg_id,
            &outgoing.plaintext,
            outgoing.sign.then_some(signer),
            rng,
        )?;
        let letter = Arc::new(Letter {
            sealed: sealed.clone(),
            plaintext: outgoing.plaintext,
            key,
        });
        let actions = vec![
            persist(letter_record(&letter)),
            SenderAction::Send(ToRecipient::Sealed(sealed)),
        ];
        let state = Sealed {
            letter,
            policy: Arc::new(policy),
        };
        Ok((state, actions))
    }

    /// The sealed message sent in step (a).
    pub fn sealed(&self) -> &pb::SealedMessage {
        &self.letter.sealed
    }

    /// Checks B's request and, if acceptable, prepares the publication: publishes it at once,
    /// or (optimistic) sends K to B directly and waits for a receipt until the publish-by time.
    /// The publication is signed through `signer` (IK_A's key store).
    pub fn accept<S: IdentitySigner + ?Sized>(
        self,
        input: RequestArrived,
        signer: &S,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(SenderState, Vec<SenderAction>), Box<Refused<Sealed>>> {
        match self.check(input, signer, now, rng) {
            Ok(accepted) => Ok(self.proceed(accepted, rng)),
            Err(error) => Err(Refused::boxed(self, error)),
        }
    }

    fn check<S: IdentitySigner + ?Sized>(
        &self,
        input: RequestArrived,
        signer: &S,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Accepted, CertMailError> {
        let policy = &self.policy;
        let request = verify_request(&input.request)?;
        let sealed = &self.letter.sealed;
        let ciphertext_hash = content_hash(&sealed.ciphertext);
        for (what, agree) in [
            ("sender", request.sender() == sealed.sender),
            ("recipient", request.recipient() == sealed.recipient),
            ("msg_id", request.msg_id() == sealed.msg_id),
            (
                "ciphertext hash",
                request.ciphertext_hash() == &ciphertext_hash,
            ),
            (
                "key commitment",
                request.key_commitment()[..] == sealed.key_commitment[..],
            ),
        ] {
            if !agree {
                return Err(CertMailError::Mismatch { field: what });
            }
        }
        request.check_binding(&input.binding, &input.revocations)?;
        let offered =
            policy
                .offering(request.location())
                .ok_or_else(|| CertMailError::UnknownLocation {
                    origin: request.location().origin().to_owned(),
                })?;
        let (created, deadline) = (request.created(), request.deadline());
        // Never accept a request dated further ahead than X's δ, whatever the policy allows:
        // an absence proof treats checkpoints cosigned by `created − 2δ` as before any possible
        // publication, so publishing earlier than that would let B disown a real publication.
        let skew = policy.max_clock_skew.min(request.location().clock_skew());
        if created > now.saturating_add(skew) || deadline <= created {
            return Err(CertMailError::BadCreationTime {
                created,
                now,
                deadline,
            });
        }
        let publishing = policy.publishing_time(request.location(), offered);
        let earliest = now.saturating_add(publishing);
        if deadline < earliest {
            return Err(CertMailError::DeadlineTooSoon { deadline, earliest });
        }
        let latest = now.saturating_add(policy.max_wait);
        if deadline > latest {
            return Err(CertMailError::DeadlineTooFar { deadline, latest });
        }
        if let Some(expect) = request.expect() {
            expect.check(&self.letter.plaintext)?;
        }
        let ephemeral_secret = ephemeral_secret(rng);
        let leaf = publication_entry(&request, &self.letter.key, &ephemeral_secret, signer, now)?;
        Ok(Accepted {
            letter: self.letter.clone(),
            request,
            binding: input.binding,
            ephemeral_secret,
            leaf,
            publish_by: deadline - publishing,
        })
    }

    fn proceed(
        self,
        accepted: Accepted,
        rng: &mut impl CryptoRng,
    ) -> (SenderState, Vec<SenderAction>) {
        let accepted = Arc::new(accepted);
        if self.policy.optimistic {
            let direct = seal_direct_key(
                &self.letter.key,
                accepted.request.request_key(),
                accepted.request.req_hash(),
                rng,
            );
            // P_req already passed the same low-order check when the leaf was wrapped to it.
            if let Ok(direct) = direct {
                let actions = vec![
                    persist(accepted.record(false)),
                    SenderAction::Send(ToRecipient::DirectKey(direct)),
                    SenderAction::ArmTimer(accepted.publish_by),
                ];
                let state = AwaitingReceipt { accepted };
                return (SenderState::AwaitingReceipt(state), actions);
            }
        }
        Published::start(accepted)
    }
}

/// Optimistic variant: K sent to B; waiting for B's receipt until the publish-by time.
#[derive(Debug)]
pub struct AwaitingReceipt {
    accepted: Arc<Accepted>,
}

impl AwaitingReceipt {
    /// When the sender publishes if no receipt came.
    pub fn publish_by(&self) -> u64 {
        self.accepted.publish_by
    }

    /// A receipt finishes with evidence; the timer at the publish-by time publishes.
    pub fn handle(
        self,
        input: SenderInput,
        now: u64,
    ) -> Result<(SenderState, Vec<SenderAction>), Box<Refused<AwaitingReceipt>>> {
        match input {
            SenderInput::Receipt(receipt) => match self.accepted.take_receipt(receipt) {
                Ok(done) => Ok(done.finish()),
                Err(error) => Err(Refused::boxed(self, error)),
            },
            SenderInput::Timer if now >= self.accepted.publish_by => {
                Ok(Published::start(self.accepted))
            }
            SenderInput::Timer => {
                let publish_by = self.accepted.publish_by;
                Ok((
                    SenderState::AwaitingReceipt(self),
                    vec![SenderAction::ArmTimer(publish_by)],
                ))
            }
            other => {
                let input = other.name();
                Err(Refused::boxed(
                    self,
                    CertMailError::UnexpectedInput {
                        state: "awaiting receipt",
                        input,
                    },
                ))
            }
        }
    }
}

/// The publication is handed out; waiting to see it in a timely cosigned checkpoint of X.
#[derive(Debug)]
pub struct Published {
    accepted: Arc<Accepted>,
}

impl Published {
    fn start(accepted: Arc<Accepted>) -> (SenderState, Vec<SenderAction>) {
        let actions = vec![
            persist(accepted.record(true)),
            SenderAction::Publish(accepted.leaf.clone()),
            SenderAction::ArmTimer(accepted.request.publication_limit()),
        ];
        (SenderState::Published(Published { accepted }), actions)
    }

    /// The encoded leaf submitted to X (to submit again if the log lost it before acknowledging).
    pub fn leaf(&self) -> &[u8] {
        &self.accepted.leaf
    }

    /// The req_hash to look the leaf up by.
    pub fn req_hash(&self) -> &[u8; 32] {
        self.accepted.request.req_hash()
    }

    /// Inclusion of our leaf in a checkpoint of X cosigned by a quorum by `T + δ` finishes with
    /// evidence; so does a (late) receipt. At `T + δ` without either, the mail lapses.
    pub fn handle(
        self,
        input: SenderInput,
        now: u64,
    ) -> Result<(SenderState, Vec<SenderAction>), Box<Refused<Published>>> {
        let limit = self.accepted.request.publication_limit();
        match input {
            SenderInput::Included(leaf) => match self.take_inclusion(leaf, now) {
                Ok(done) => Ok(done.finish()),
                Err(error) => Err(Refused::boxed(self, error)),
            },
            SenderInput::Proven(proven) => match self.take_proven(&proven) {
                Ok(done) => Ok(done.finish()),
                Err(error) => Err(Refused::boxed(self, error)),
            },
            SenderInput::Receipt(receipt) => match self.accepted.take_receipt(receipt) {
                Ok(done) => Ok(done.finish()),
                Err(error) => Err(Refused::boxed(self, error)),
            },
            SenderInput::Timer if now > limit => {
                let record = self.accepted.record(true);
                Ok((SenderState::Lapsed(Lapsed { record }), Vec::new()))
            }
            SenderInput::Timer => Ok((
                SenderState::Published(self),
                vec![SenderAction::ArmTimer(limit.saturating_add(1))],
            )),
            SenderInput::Request(_) => Err(Refused::boxed(
                self,
                CertMailError::UnexpectedInput {
                    state: "published",
                    input: "request",
                },
            )),
        }
    }

    /// An answer as received: classified ([`classify_publication`]), then taken.
    fn take_inclusion(&self, leaf: pb::IncludedLeaf, now: u64) -> Result<Done, CertMailError> {
        if leaf.entry != self.accepted.leaf {
            return Err(CertMailError::OtherLeaf);
        }
        let request = &self.accepted.request;
        let proven = classify_publication(
            request.location(),
            request.req_hash(),
            Some(&self.accepted.leaf),
            &leaf,
            now,
        )
        .proven()?;
        self.take_proven(&proven)
    }

    /// A publication proven for our request at X: done if it is our leaf and the quorum was
    /// reached by `T + δ`.
    fn take_proven(&self, proven: &ProvenPublication) -> Result<Done, CertMailError> {
        let request = &self.accepted.request;
        if proven.req_hash() != request.req_hash() || proven.location() != request.location() {
            return Err(CertMailError::Mismatch {
                field: "proven publication's request",
            });
        }
        if proven.leaf() != self.accepted.leaf.as_slice() {
            return Err(CertMailError::OtherLeaf);
        }
        proven
            .checkpoint()
            .check_deadline(request.publication_limit())
            .map_err(|e| CertMailError::Inclusion(InclusionError::Cosigned(e)))?;
        let publication = pb::Publication {
            leaf: Some(proven.answer().clone()),
            ephemeral_secret: self.accepted.ephemeral_secret.to_bytes().to_vec(),
        };
        let bundle = self
            .accepted
            .bundle(evidence_bundle::Delivery::Publication(publication));
        Ok(Done { bundle })
    }
}

/// Finished: B received M, and the bundle proves it.
#[derive(Clone, Debug, PartialEq)]
pub struct Done {
    bundle: pb::EvidenceBundle,
}

impl Done {
    fn finish(self) -> (SenderState, Vec<SenderAction>) {
        let actions = vec![SenderAction::Evidence(Box::new(self.bundle.clone()))];
        (SenderState::Done(self), actions)
    }

    /// The evidence bundle.
    pub fn bundle(&self) -> &pb::EvidenceBundle {
        &self.bundle
    }
}

/// Finished without proof: no receipt, and no publication cosigned by `T + δ` was seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Lapsed {
    record: pb::SenderRecord,
}

impl Lapsed {
    /// What the sender had (to look for a late inclusion by hand, or to keep).
    pub fn record(&self) -> &pb::SenderRecord {
        &self.record
    }
}

/// The sender's state.
#[derive(Debug)]
pub enum SenderState {
    /// Waiting for B's request.
    Sealed(Sealed),
    /// Optimistic: waiting for B's receipt.
    AwaitingReceipt(AwaitingReceipt),
    /// Waiting for the publication to be cosigned.
    Published(Published),
    /// Proven.
    Done(Done),
    /// Not proven in time.
    Lapsed(Lapsed),
}

impl SenderState {
    /// Feeds one input to whichever state this is; `signer` (IK_A's key store) signs the
    /// publication when a request is accepted.
    pub fn handle<S: IdentitySigner + ?Sized>(
        self,
        input: SenderInput,
        signer: &S,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<(SenderState, Vec<SenderAction>), Box<Refused<SenderState>>> {
        fn back<S>(wrap: fn(S) -> SenderState, r: Refused<S>) -> Box<Refused<SenderState>> {
            let Refused { state, error } = r;
            Refused::boxed(wrap(state), error)
        }
        match (self, input) {
            (SenderState::Sealed(s), SenderInput::Request(r)) => s
                .accept(*r, signer, now, rng)
                .map_err(|r| back(SenderState::Sealed, *r)),
            (SenderState::AwaitingReceipt(s), input) => s
                .handle(input, now)
                .map_err(|r| back(SenderState::AwaitingReceipt, *r)),
            (SenderState::Published(s), input) => s
                .handle(input, now)
                .map_err(|r| back(SenderState::Published, *r)),
            (state, input) => {
                let error = CertMailError::UnexpectedInput {
                    state: state.name(),
                    input: input.name(),
                };
                Err(Refused::boxed(state, error))
            }
        }
    }

    /// The state's name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            SenderState::Sealed(_) => "sealed",
            SenderState::AwaitingReceipt(_) => "awaiting receipt",
            SenderState::Published(_) => "published",
            SenderState::Done(_) => "done",
            SenderState::Lapsed(_) => "lapsed",
        }
    }

    /// Resumes from a persisted record: `Sealed` if no request was accepted yet, else
    /// `AwaitingReceipt` or `Published`. B's binding is verified again against the domain
    /// trust recorded with it (at `now`).
    pub fn resume(
        record: &pb::SenderRecord,
        policy: SenderPolicy,
        now: u64,
    ) -> Result<SenderState, CertMailError> {
        let bad = |reason| CertMailError::BadRecord { reason };
        if record.version != SENDER_RECORD_VERSION {
            return Err(bad("unknown version"));
        }
        record.validate()?;
        let sealed = record.sealed.clone().ok_or(bad("no sealed message"))?;
        let info = open_sealed(&sealed)?;
        let key = MessageKey::from_bytes(field("SenderRecord.message_key", &record.message_key)?);
        if !key.matches(&info.key_commitment) {
            return Err(CertMailError::KeyCommitmentMismatch);
        }
        let letter = Arc::new(Letter {
            sealed,
            plaintext: record.plaintext.clone(),
            key,
        });
        let Some(signed) = &record.request else {
            return Ok(SenderState::Sealed(Sealed {
                letter,
                policy: Arc::new(policy),
            }));
        };
        let request = verify_request(signed)?;
        let trust = LogTrust::from_pb(
            record
                .recipient_domain
                .as_ref()
                .ok_or(bad("no recipient domain"))?,
        )?;
        let binding_leaf = record
            .recipient_binding
            .as_ref()
            .ok_or(bad("no recipient binding"))?;
        let binding = verify_binding(&trust, binding_leaf, now, policy.max_clock_skew)
            .map_err(|_| bad("recipient binding does not verify"))?;
        let offered =
            policy
                .offering(request.location())
                .ok_or_else(|| CertMailError::UnknownLocation {
                    origin: request.location().origin().to_owned(),
                })?;
        let publishing = policy.publishing_time(request.location(), offered);
        let secret: [u8; 32] = field("SenderRecord.ephemeral_secret", &record.ephemeral_secret)?;
        if !is_clamped(&secret) {
            return Err(bad("ephemeral secret not clamped"));
        }
        let accepted = Arc::new(Accepted {
            letter,
            publish_by: request.deadline().saturating_sub(publishing),
            request,
            binding,
            ephemeral_secret: StaticSecret::from(secret),
            leaf: record.publication.clone(),
        });
        Ok(if record.published {
            SenderState::Published(Published { accepted })
        } else {
            SenderState::AwaitingReceipt(AwaitingReceipt { accepted })
        })
    }
}
