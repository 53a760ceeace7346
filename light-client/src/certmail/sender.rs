//! The sender's side (A): seal (a), accept a request (b), publish or send the key directly
//! (c, optimistic), take the inclusion or the receipt, and keep the evidence bundle.
//!
//! A sent mail is stored under its msg_id as a [`SentMail`]: proto's `SenderRecord` as the
//! machine made it, plus the terms the request was accepted under (the offered location and the
//! timing policy), so later steps resume exactly as accepted without the caller repeating its
//! policy. A `sent-index` record maps req_hash to msg_id for receipts and inclusions, which name
//! only the req_hash. When the machine ends, the bundle is stored under the msg_id first, and
//! only then are the record and the index removed.
//!
//! IK_A signs through the key store ([`CardView`]). The ephemeral `a` is **not** a key-store
//! secret: the evidence bundle discloses it (DESIGN §3.3) so that an arbiter can recompute the
//! wrap, so the record keeps it beside M and K (version 2 of [`SentMail`]). Version 1 records
//! kept `a` in the key store; one that was sealed only still loads, one with an accepted
//! request is refused with a [`CertifiedMailError::BadRecord`] that says why.

use herald_proto::certmail::sender::{
    Outgoing, RequestArrived, Sealed, SenderAction, SenderInput, SenderPolicy, SenderState,
    ToRecipient,
};
use herald_proto::certmail::{
    CertMailError, Location, MessageKey, ProvenPublication, VerifiedKeyRequest, req_hash,
    request_signing_input, seal_direct_key, verify_request,
};
use herald_proto::identity::{account_in_log_domain, verify_binding, verify_revocation};
use herald_proto::inclusion::LogTrust;
use herald_proto::wire::{Validate as _, WireError, pb};
use prost::Message as _;
use rand_core::CryptoRng;

use super::messages::{decode_receipt, decode_request};
use super::records::{RecordKind, RecordStore};
use super::{CertMail, CertifiedMailError, Lent, bad_record, hex_name};
use crate::keystore::{CardView, SecureKeyStore};

/// Version of the stored [`SentMail`]: 2 keeps `a` in the record (1 kept it in the key store).
const SENT_MAIL_VERSION: u32 = 2;

/// A sent mail as stored: the sender record and the terms of acceptance.
#[derive(Clone, PartialEq, prost::Message)]
struct SentMail {
    #[prost(uint32, tag = "1")]
    version: u32,
    #[prost(message, optional, tag = "2")]
    record: Option<pb::SenderRecord>,
    /// The sender's location that met the request's X (set once accepted).
    #[prost(message, optional, tag = "3")]
    offered: Option<pb::Location>,
    #[prost(uint64, tag = "4")]
    witness_period: u64,
    #[prost(uint64, tag = "5")]
    margin: u64,
    #[prost(uint64, tag = "6")]
    max_wait: u64,
    #[prost(uint64, tag = "7")]
    max_clock_skew: u64,
    #[prost(bool, tag = "8")]
    optimistic: bool,
}

/// What A sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    /// B's account address.
    pub recipient: String,
    /// M.
    pub plaintext: Vec<u8>,
    /// Whether A signs the sealed message with IK_A ("I sent this ciphertext").
    pub sign: bool,
}

/// What the sender accepts: proto's [`SenderPolicy`] (locations it publishes at, timing,
/// optimistic or not) and the domain logs it trusts to check recipients' identity bindings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderConfig {
    /// Locations, timing and the optimistic switch.
    pub policy: SenderPolicy,
    /// Recipients' domain logs (key, hash, witnesses); a request from `b@beta.test` needs
    /// `beta.test/herald` here.
    pub recipient_domains: Vec<LogTrust>,
}

/// B's identity binding as fetched from B's domain (a file until the node serves bindings):
/// the binding leaf and any revocations for B's account, each with its inclusion proof and
/// cosigned checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindingMaterial {
    /// The `IdentityBinding` leaf.
    pub binding: pb::IncludedLeaf,
    /// `IdentityRevocation` leaves for the account (those that do not verify are ignored).
    pub revocations: Vec<pb::IncludedLeaf>,
}

/// What the sender's caller must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderStep {
    /// Send B step (a): an encoded `SealedMessage`.
    SendSealed(Vec<u8>),
    /// Send B K encrypted to P_req (optimistic): an encoded `DirectKey`.
    SendDirectKey(Vec<u8>),
    /// Network: submit `leaf` (an encoded `LogEntry`) to the log `origin`, look it up by
    /// `req_hash` until it is in a cosigned checkpoint, and give the answer to
    /// [`CertMail::take_inclusion`].
    Publish {
        /// X's log origin.
        origin: String,
        /// The request answered.
        req_hash: [u8; 32],
        /// The leaf.
        leaf: Vec<u8>,
    },
    /// Call [`CertMail::sender_timer`] at this Unix time.
    WakeAt(u64),
    /// Finished: the evidence bundle (stored; [`CertMail::evidence`] returns it again).
    Evidence(Vec<u8>),
    /// Finished without proof: no receipt and no publication cosigned by T + δ was seen.
    Lapsed,
}

impl SenderStep {
    /// The sealed message among `steps`, if any.
    pub fn sealed_in(steps: &[SenderStep]) -> Option<&[u8]> {
        steps.iter().find_map(|s| match s {
            SenderStep::SendSealed(b) => Some(b.as_slice()),
            _ => None,
        })
    }

    /// The directly sent key among `steps`, if any.
    pub fn direct_key_in(steps: &[SenderStep]) -> Option<&[u8]> {
        steps.iter().find_map(|s| match s {
            SenderStep::SendDirectKey(b) => Some(b.as_slice()),
            _ => None,
        })
    }

    /// The publication to make among `steps` (req_hash and leaf), if any.
    pub fn publication_in(steps: &[SenderStep]) -> Option<(&[u8; 32], &[u8])> {
        steps.iter().find_map(|s| match s {
            SenderStep::Publish { req_hash, leaf, .. } => Some((req_hash, leaf.as_slice())),
            _ => None,
        })
    }

    /// The evidence bundle among `steps`, if any.
    pub fn evidence_in(steps: &[SenderStep]) -> Option<&[u8]> {
        steps.iter().find_map(|s| match s {
            SenderStep::Evidence(b) => Some(b.as_slice()),
            _ => None,
        })
    }
}

/// Where a sent mail stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderStatus {
    /// Sealed and sent; no request accepted yet.
    Sealed,
    /// Optimistic: K sent, waiting for B's receipt until `publish_by`.
    AwaitingReceipt {
        /// The accepted request.
        req_hash: [u8; 32],
        /// When A publishes if no receipt came.
        publish_by: u64,
    },
    /// The leaf is handed out; waiting for a quorum of X's witnesses by `limit` (T + δ).
    Published {
        /// The accepted request.
        req_hash: [u8; 32],
        /// The leaf to submit (again, if the log lost it).
        leaf: Vec<u8>,
        /// T + δ.
        limit: u64,
    },
    /// Proven: the evidence bundle is stored.
    Done,
    /// T + δ passed without proof.
    Lapsed {
        /// The accepted request.
        req_hash: [u8; 32],
    },
}

/// The policy of a machine that only seals: it is dropped right after, and every later step
/// resumes from the record with the policy that step needs.
fn inert_policy() -> SenderPolicy {
    SenderPolicy {
        locations: Vec::new(),
        witness_period: 0,
        margin: 0,
        max_wait: 0,
        max_clock_skew: 0,
        optimistic: false,
    }
}

fn request_hash(signed: &pb::SignedKeyRequest) -> Option<[u8; 32]> {
    let request = signed.request.as_ref()?;
    Some(req_hash(&request_signing_input(request), &signed.signature))
}

impl<K: SecureKeyStore, R: RecordStore> CertMail<K, R> {
    /// Step (a): seals `letter` under a fresh K with a fresh random msg_id. Returns the msg_id
    /// and the steps (send the sealed message).
    pub fn send(
        &mut self,
        letter: Letter,
        rng: &mut impl CryptoRng,
    ) -> Result<(Vec<u8>, Vec<SenderStep>), CertifiedMailError> {
        let me = self.account()?;
        let mut msg_id = vec![0u8; 16];
        rng.fill_bytes(&mut msg_id);
        let name = hex_name(&msg_id);
        // 128 random bits: a repeat means a broken RNG; never overwrite a mail.
        if self.records.load(RecordKind::Sent, &name)?.is_some()
            || self.records.load(RecordKind::Evidence, &name)?.is_some()
        {
            return Err(bad_record(&name, "a mail with this random msg_id exists"));
        }
        let outgoing = Outgoing {
            sender: me.account,
            recipient: letter.recipient,
            msg_id: msg_id.clone(),
            plaintext: letter.plaintext,
            sign: letter.sign,
        };
        let keys = Lent::new(CardView(&self.keys));
        let (_, actions) = Sealed::seal(outgoing, &keys, inert_policy(), rng)
            .map_err(|error| keys.refusal(error))?;
        let steps = self.carry_out(&msg_id, None, actions)?;
        Ok((msg_id, steps))
    }

    /// Step (b) on A's side: checks B's request against the sealed mail, B's binding against the
    /// domain log `config` trusts, and the request against `config.policy` (deadline, location,
    /// expectation). Refusals come back as [`CertifiedMailError::Refused`] (or `Binding`,
    /// `UnknownDomain`) with the reason, and change nothing. Accepted: the steps are "publish
    /// this leaf" (or, optimistic, "send this direct key") and a wake-up time.
    pub fn accept(
        &mut self,
        request: &[u8],
        binding: &BindingMaterial,
        config: &SenderConfig,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<SenderStep>, CertifiedMailError> {
        let signed = decode_request(request)?;
        // `decode_request` validated the request: it is present.
        let Some(req) = signed.request.as_ref() else {
            return Err(CertifiedMailError::Malformed {
                what: "key request",
                error: WireError::MissingField {
                    field: "SignedKeyRequest.request",
                },
            });
        };
        let msg_id = req.msg_id.clone();
        let state = self.resume_sender(&msg_id, Some(&config.policy), now, "a key request")?;
        if !matches!(state, SenderState::Sealed(_)) {
            return Err(CertifiedMailError::WrongState {
                id: hex_name(&msg_id),
                state: state.name(),
                input: "a key request",
            });
        }
        let trust = config
            .recipient_domains
            .iter()
            .find(|t| account_in_log_domain(&req.recipient, t.origin()))
            .ok_or_else(|| CertifiedMailError::UnknownDomain {
                recipient: req.recipient.clone(),
            })?;
        let skew = config.policy.max_clock_skew;
        let verified_binding = verify_binding(trust, &binding.binding, now, skew)
            .map_err(CertifiedMailError::Binding)?;
        let revocations = binding
            .revocations
            .iter()
            .filter_map(|r| verify_revocation(trust, r, now, skew).ok())
            .collect();
        let arrived = RequestArrived {
            request: signed.clone(),
            binding: verified_binding,
            revocations,
        };
        let keys = Lent::new(CardView(&self.keys));
        let (_, actions) = state
            .handle(SenderInput::Request(Box::new(arrived)), &keys, now, rng)
            .map_err(|refused| keys.refusal(refused.error))?;
        // Accepted, so the request verifies and one offered location meets its X.
        let verified = verify_request(&signed)?;
        let offered = config
            .policy
            .locations
            .iter()
            .find(|o| verified.location().is_met_by(o))
            .ok_or_else(|| CertMailError::UnknownLocation {
                origin: verified.location().origin().to_owned(),
            })?;
        let terms = SenderPolicy {
            locations: vec![offered.clone()],
            ..config.policy.clone()
        };
        self.carry_out(&msg_id, Some(&terms), actions)
    }

    /// Optimistic: K encrypted to P_req again, with a fresh ephemeral key (if B lost the first).
    /// Only while waiting for the receipt.
    pub fn direct_key(
        &self,
        msg_id: &[u8],
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<u8>, CertifiedMailError> {
        let state = self.resume_sender(msg_id, None, now, "a direct key")?;
        if !matches!(state, SenderState::AwaitingReceipt(_)) {
            return Err(CertifiedMailError::WrongState {
                id: hex_name(msg_id),
                state: state.name(),
                input: "a direct key",
            });
        }
        let (record, _) = self.load_sent(msg_id)?;
        let name = hex_name(msg_id);
        let key: [u8; 32] = record
            .message_key
            .as_slice()
            .try_into()
            .map_err(|_| bad_record(&name, "K is not 32 bytes"))?;
        let signed = record
            .request
            .as_ref()
            .ok_or_else(|| bad_record(&name, "no request"))?;
        let verified = verify_request(signed)?;
        let direct = seal_direct_key(
            &MessageKey::from_bytes(key),
            verified.request_key(),
            verified.req_hash(),
            rng,
        )?;
        Ok(direct.encode_to_vec())
    }

    /// B's receipt (optimistic variant, or a late one after publishing): finishes with evidence
    /// if it answers the request and B's key was bound when B signed it.
    pub fn take_receipt(
        &mut self,
        receipt: &[u8],
        now: u64,
    ) -> Result<Vec<SenderStep>, CertifiedMailError> {
        let receipt = decode_receipt(receipt)?;
        // Validated: 32 bytes.
        let req_hash: [u8; 32] = receipt.req_hash.as_slice().try_into().unwrap_or([0; 32]);
        let msg_id = self.msg_id_of(&req_hash)?;
        self.feed(&msg_id, SenderInput::Receipt(receipt), now)
    }

    /// X's answer to the lookup by `req_hash`: the leaf, its inclusion proof and a cosigned
    /// checkpoint. Finishes with evidence if the leaf is ours and a quorum cosigned it by T + δ.
    pub fn take_inclusion(
        &mut self,
        req_hash: &[u8; 32],
        included: pb::IncludedLeaf,
        now: u64,
    ) -> Result<Vec<SenderStep>, CertifiedMailError> {
        let msg_id = self.msg_id_of(req_hash)?;
        self.feed(&msg_id, SenderInput::Included(included), now)
    }

    /// [`take_inclusion`](Self::take_inclusion) for an answer already classified as proven
    /// ([`herald_proto::certmail::classify_publication`]): the machine does not check it again.
    pub fn take_proven_inclusion(
        &mut self,
        publication: Box<ProvenPublication>,
        now: u64,
    ) -> Result<Vec<SenderStep>, CertifiedMailError> {
        let msg_id = self.msg_id_of(publication.req_hash())?;
        self.feed(&msg_id, SenderInput::Proven(publication), now)
    }

    /// A wake-up asked for by [`SenderStep::WakeAt`]: publishes when an optimistic sender stops
    /// waiting for the receipt, and ends with [`SenderStep::Lapsed`] after T + δ.
    pub fn sender_timer(
        &mut self,
        msg_id: &[u8],
        now: u64,
    ) -> Result<Vec<SenderStep>, CertifiedMailError> {
        self.feed(msg_id, SenderInput::Timer, now)
    }

    /// Where the mail `msg_id` stands at `now`.
    pub fn sender_status(
        &self,
        msg_id: &[u8],
        now: u64,
    ) -> Result<SenderStatus, CertifiedMailError> {
        if self
            .records
            .load(RecordKind::Evidence, &hex_name(msg_id))?
            .is_some()
        {
            return Ok(SenderStatus::Done);
        }
        let state = self.resume_sender(msg_id, None, now, "a status query")?;
        let (record, _) = self.load_sent(msg_id)?;
        let request = record.request.as_ref().map(verify_request).transpose()?;
        Ok(match (state, request) {
            (SenderState::AwaitingReceipt(s), Some(r)) => SenderStatus::AwaitingReceipt {
                req_hash: *r.req_hash(),
                publish_by: s.publish_by(),
            },
            (SenderState::Published(p), Some(r)) if now > r.publication_limit() => {
                SenderStatus::Lapsed {
                    req_hash: *p.req_hash(),
                }
            }
            (SenderState::Published(p), Some(r)) => SenderStatus::Published {
                req_hash: *p.req_hash(),
                leaf: p.leaf().to_vec(),
                limit: r.publication_limit(),
            },
            _ => SenderStatus::Sealed,
        })
    }

    /// The stored evidence bundle of a finished mail (the file bytes).
    pub fn evidence(&self, msg_id: &[u8]) -> Result<Vec<u8>, CertifiedMailError> {
        self.records
            .load(RecordKind::Evidence, &hex_name(msg_id))?
            .ok_or_else(|| CertifiedMailError::UnknownMail {
                what: "finished msg_id",
                id: hex_name(msg_id),
            })
    }

    /// The msg_ids of the mails sent from here (in progress and finished), sorted by hex.
    pub fn sent(&self) -> Result<Vec<Vec<u8>>, CertifiedMailError> {
        let mut names = self.records.list(RecordKind::Sent)?;
        names.extend(self.records.list(RecordKind::Evidence)?);
        names.sort();
        names.dedup();
        Ok(names.iter().filter_map(|n| hex::decode(n).ok()).collect())
    }

    /// The request accepted for the mail `msg_id`, as signed and checked (it names X).
    pub fn sent_request(&self, msg_id: &[u8]) -> Result<VerifiedKeyRequest, CertifiedMailError> {
        let (record, _) = self.load_sent(msg_id)?;
        let signed = record
            .request
            .as_ref()
            .ok_or_else(|| CertifiedMailError::WrongState {
                id: hex_name(msg_id),
                state: "sealed",
                input: "a request lookup",
            })?;
        Ok(verify_request(signed)?)
    }

    /// The msg_id of the mail whose accepted request is `req_hash`.
    pub fn msg_id_of(&self, req_hash: &[u8; 32]) -> Result<Vec<u8>, CertifiedMailError> {
        let name = hex_name(req_hash);
        self.records
            .load(RecordKind::SentIndex, &name)?
            .ok_or(CertifiedMailError::UnknownMail {
                what: "req_hash",
                id: name,
            })
    }

    fn feed(
        &mut self,
        msg_id: &[u8],
        input: SenderInput,
        now: u64,
    ) -> Result<Vec<SenderStep>, CertifiedMailError> {
        let name = match &input {
            SenderInput::Request(_) => "a key request",
            SenderInput::Receipt(_) => "a receipt",
            SenderInput::Included(_) | SenderInput::Proven(_) => "an inclusion proof",
            SenderInput::Timer => "a timer",
        };
        let state = self.resume_sender(msg_id, None, now, name)?;
        let (_, terms) = self.load_sent(msg_id)?;
        // Receipts, inclusions and timers need no randomness; proto's signature asks for one.
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let keys = Lent::new(CardView(&self.keys));
        let (next, actions) = state
            .handle(input, &keys, now, &mut rng)
            .map_err(|refused| keys.refusal(refused.error))?;
        let mut steps = self.carry_out(msg_id, terms.as_ref(), actions)?;
        if matches!(next, SenderState::Lapsed(_)) {
            steps.push(SenderStep::Lapsed);
        }
        Ok(steps)
    }

    /// Resumes the machine of `msg_id`: with the stored terms once accepted, else with
    /// `policy` (for accepting) or an inert one.
    fn resume_sender(
        &self,
        msg_id: &[u8],
        policy: Option<&SenderPolicy>,
        now: u64,
        input: &'static str,
    ) -> Result<SenderState, CertifiedMailError> {
        let name = hex_name(msg_id);
        if self.records.load(RecordKind::Evidence, &name)?.is_some() {
            return Err(CertifiedMailError::WrongState {
                id: name,
                state: "done",
                input,
            });
        }
        let (record, terms) = self.load_sent(msg_id)?;
        let policy = terms
            .or_else(|| policy.cloned())
            .unwrap_or_else(inert_policy);
        SenderState::resume(&record, policy, now).map_err(|e| bad_record(&name, e))
    }

    /// The record and the stored terms.
    pub(super) fn load_sent(
        &self,
        msg_id: &[u8],
    ) -> Result<(pb::SenderRecord, Option<SenderPolicy>), CertifiedMailError> {
        let name = hex_name(msg_id);
        let bytes = self.records.load(RecordKind::Sent, &name)?.ok_or_else(|| {
            CertifiedMailError::UnknownMail {
                what: "msg_id",
                id: name.clone(),
            }
        })?;
        let mail = SentMail::decode(bytes.as_slice()).map_err(|e| bad_record(&name, e))?;
        let record = mail.record.ok_or_else(|| bad_record(&name, "no record"))?;
        match mail.version {
            SENT_MAIL_VERSION => {}
            // Sealed only: there is no `a` yet, and the rest is the same.
            1 if record.request.is_none() => {}
            1 => {
                return Err(bad_record(
                    &name,
                    "record version 1, written by an older herald that kept the ephemeral a in \
                     the key store; this version keeps a in the record and reads no secret out of \
                     the store: finish the mail with the older version",
                ));
            }
            other => return Err(bad_record(&name, format!("version {other}"))),
        }
        let terms = match &mail.offered {
            None => None,
            Some(offered) => Some(SenderPolicy {
                locations: vec![Location::from_pb(offered).map_err(|e| bad_record(&name, e))?],
                witness_period: mail.witness_period,
                margin: mail.margin,
                max_wait: mail.max_wait,
                max_clock_skew: mail.max_clock_skew,
                optimistic: mail.optimistic,
            }),
        };
        Ok((record, terms))
    }

    /// Stores a record the machine asked to persist (with `a`, evidence to be disclosed), and
    /// the req_hash index.
    fn persist_sent(
        &mut self,
        msg_id: &[u8],
        record: pb::SenderRecord,
        terms: Option<&SenderPolicy>,
    ) -> Result<(), CertifiedMailError> {
        let name = hex_name(msg_id);
        let index = record.request.as_ref().and_then(request_hash);
        let mail = SentMail {
            version: SENT_MAIL_VERSION,
            record: Some(record),
            offered: terms.and_then(|t| t.locations.first()).map(Location::to_pb),
            witness_period: terms.map_or(0, |t| t.witness_period),
            margin: terms.map_or(0, |t| t.margin),
            max_wait: terms.map_or(0, |t| t.max_wait),
            max_clock_skew: terms.map_or(0, |t| t.max_clock_skew),
            optimistic: terms.is_some_and(|t| t.optimistic),
        };
        self.records
            .save(RecordKind::Sent, &name, &mail.encode_to_vec())?;
        if let Some(req_hash) = index {
            self.records
                .save(RecordKind::SentIndex, &hex_name(&req_hash), msg_id)?;
        }
        Ok(())
    }

    /// Carries out the machine's actions in order; returns what the caller must do.
    fn carry_out(
        &mut self,
        msg_id: &[u8],
        terms: Option<&SenderPolicy>,
        actions: Vec<SenderAction>,
    ) -> Result<Vec<SenderStep>, CertifiedMailError> {
        let mut steps = Vec::new();
        let mut accepted: Option<(String, [u8; 32])> = None;
        for action in actions {
            match action {
                SenderAction::Persist(record) => {
                    // Proto persists the accepted request before it asks to publish.
                    if let Some(signed) = &record.request {
                        let v = verify_request(signed)?;
                        accepted = Some((v.location().origin().to_owned(), *v.req_hash()));
                    }
                    self.persist_sent(msg_id, *record, terms)?;
                }
                SenderAction::Send(ToRecipient::Sealed(m)) => {
                    steps.push(SenderStep::SendSealed(m.encode_to_vec()));
                }
                SenderAction::Send(ToRecipient::DirectKey(d)) => {
                    steps.push(SenderStep::SendDirectKey(d.encode_to_vec()));
                }
                SenderAction::Publish(leaf) => {
                    let (origin, req_hash) = accepted.clone().ok_or_else(|| {
                        bad_record(&hex_name(msg_id), "publishing before a record")
                    })?;
                    steps.push(SenderStep::Publish {
                        origin,
                        req_hash,
                        leaf,
                    });
                }
                SenderAction::ArmTimer(at) => steps.push(SenderStep::WakeAt(at)),
                SenderAction::Evidence(bundle) => {
                    steps.push(SenderStep::Evidence(self.keep_evidence(msg_id, &bundle)?));
                }
            }
        }
        Ok(steps)
    }

    /// Stores the bundle (durably, first), then forgets the record and the index.
    fn keep_evidence(
        &mut self,
        msg_id: &[u8],
        bundle: &pb::EvidenceBundle,
    ) -> Result<Vec<u8>, CertifiedMailError> {
        let name = hex_name(msg_id);
        // The machine built it from verified parts; a bundle that fails its own schema would
        // be a bug worth refusing to store.
        bundle.validate().map_err(|e| bad_record(&name, e))?;
        let bytes = bundle.to_file_bytes();
        self.records.save(RecordKind::Evidence, &name, &bytes)?;
        if let Some(req_hash) = bundle.request.as_ref().and_then(request_hash) {
            self.records
                .remove(RecordKind::SentIndex, &hex_name(&req_hash))?;
        }
        self.records.remove(RecordKind::Sent, &name)?;
        Ok(bytes)
    }
}
