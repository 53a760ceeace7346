//! The recipient's side (B): make the signed key request (b), then open the key, either sent
//! directly (optimistic, answering with a signed receipt) or found published at X (d).
//!
//! P_req is created inside the key store by proto's machine (under `request_secret_name` of the
//! request's nonce; only its public half comes out). The request is then stored under its
//! req_hash as proto's `RecipientRecord` (version 2: no secret in it) and handed out only after
//! both. K is unwrapped from the store's `X25519(p_req, A_eph)`; [`CertMail::forget_request`]
//! erases P_req's secret and the record once the caller has kept the plaintext.
//!
//! Records of version 1 (written before P_req lived only in the store; its secret under
//! `cm/request/<req_hash>`) are refused with a [`CertifiedMailError::BadRecord`] that says so;
//! [`CertMail::forget_request`] still erases them and their secret.

use herald_proto::certmail::recipient::{
    Delivery, Received, RecipientAction, RecipientInput, RecipientState, RequestTerms, Requested,
    ToSender, TrustedTree,
};
use herald_proto::certmail::{CertMailError, ProvenPublication, VerifiedKeyRequest};
use herald_proto::merkle::Hash;
use herald_proto::wire::{decode, pb};
use prost::Message as _;
use rand_core::CryptoRng;

use super::messages::{decode_direct_key, decode_sealed};
use super::records::{RecordKind, RecordStore};
use super::{CertMail, CertifiedMailError, Lent, bad_record, hex_name};
use crate::keystore::{Card, CardView, SecretId, SecureKeyStore};
use crate::store::CheckpointStore;

/// What [`CertMail::request`] made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestMade {
    /// `req_hash`: what the publication is looked up by.
    pub req_hash: [u8; 32],
    /// The encoded `SignedKeyRequest` to send to A.
    pub request: Vec<u8>,
    /// X's log origin: where to look the publication up.
    pub origin: String,
    /// Just after T + δ: without the key by then, the mail is undelivered
    /// ([`CertMail::recipient_status`]).
    pub wake_at: u64,
    /// IK_A, if A signed the sealed message (whether it is A's bound key is the caller's
    /// question).
    pub sender_key: Option<[u8; 32]>,
}

/// M, opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The request answered.
    pub req_hash: [u8; 32],
    /// M.
    pub plaintext: Vec<u8>,
    /// Optimistic variant: the encoded `Receipt` to send back to A.
    pub receipt: Option<Vec<u8>>,
    /// How the key came (published at an index, in time or not; or directly).
    pub delivery: Delivery,
    /// Whether M meets the request's expectation (true when there was none).
    pub expectation_met: bool,
}

/// Where a request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientStatus {
    /// Waiting for the key; after `until` it is undelivered.
    Waiting {
        /// T + δ + 1.
        until: u64,
    },
    /// T + δ passed without the key: non-publication can be proven (absence proof).
    Undelivered,
}

impl<K: SecureKeyStore, R: RecordStore> CertMail<K, R> {
    /// Step (b): checks the sealed message is for this account, makes and signs the request
    /// with a fresh P_req for `terms` (deadline T, location X, expectation), and stores it.
    pub fn request(
        &mut self,
        sealed: &[u8],
        terms: RequestTerms,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<RequestMade, CertifiedMailError> {
        let sealed = decode_sealed(sealed)?;
        let me = self.account()?;
        if sealed.recipient != me.account {
            return Err(CertifiedMailError::NotOurs {
                addressed: sealed.recipient,
                account: me.account,
            });
        }
        let received = Received::receive(sealed, &me.account)?;
        let sender_key = received.sealed().1.sender_key;
        let mut keys = Lent::new(Card(&mut self.keys));
        let outcome = received.request(terms, &mut keys, now, rng);
        let (requested, actions) = match outcome {
            Ok(made) => made,
            Err(refused) => {
                let error = keys.refusal(refused.error);
                // P_req made, then the request refused (IK could not sign): never handed out.
                if let Some(name) = keys.created.take() {
                    let _ = self.keys.erase(&SecretId::new(name)?);
                }
                return Err(error);
            }
        };
        let secret = SecretId::new(requested.secret_name())?;
        let request = requested.request();
        let mut made = RequestMade {
            req_hash: *request.req_hash(),
            request: Vec::new(),
            origin: request.location().origin().to_owned(),
            wake_at: request.publication_limit().saturating_add(1),
            sender_key,
        };
        for action in actions {
            match action {
                RecipientAction::Persist(record) => {
                    if let Err(e) = self.persist_received(&made.req_hash, &record) {
                        // Never handed out: P_req's secret would only be litter.
                        let _ = self.keys.erase(&secret);
                        return Err(e);
                    }
                }
                RecipientAction::Send(ToSender::Request(signed)) => {
                    made.request = signed.encode_to_vec();
                }
                RecipientAction::ArmTimer(at) => made.wake_at = at,
                // Not produced by a new request.
                RecipientAction::Send(ToSender::Receipt(_))
                | RecipientAction::TrustCheckpoint(_) => {}
            }
        }
        Ok(made)
    }

    /// Optimistic variant: A's direct key. Checks it against c_K, decrypts, and signs the
    /// receipt to send back. The request stays stored until [`CertMail::forget_request`].
    pub fn take_direct_key(
        &mut self,
        direct: &[u8],
        now: u64,
    ) -> Result<Opened, CertifiedMailError> {
        let direct = decode_direct_key(direct)?;
        // Validated: 32 bytes.
        let req_hash: [u8; 32] = direct.req_hash.as_slice().try_into().unwrap_or([0; 32]);
        let requested = self.resume_recipient(&req_hash)?;
        let keys = Lent::new(CardView(&self.keys));
        let (state, actions) = requested
            .handle(RecipientInput::DirectKey(direct), &keys, now)
            .map_err(|refused| keys.refusal(refused.error))?;
        let receipt = actions.into_iter().find_map(|a| match a {
            RecipientAction::Send(ToSender::Receipt(r)) => Some(r.encode_to_vec()),
            _ => None,
        });
        opened(req_hash, state, receipt)
    }

    /// Step (d): X's answer to the lookup by `req_hash` (leaf, inclusion proof, cosigned
    /// checkpoint), as received, and, if this client trusted a checkpoint of X before, the
    /// consistency proof between that one and the answer's. The machine classifies the answer
    /// (inclusion under X's witness policy), checks consistency (a split view in the refusal is
    /// a transferable proof), unwraps K, checks c_K, decrypts; the newer checkpoint is then
    /// trusted.
    pub fn take_publication(
        &mut self,
        req_hash: &[u8; 32],
        included: pb::IncludedLeaf,
        consistency: &[Hash],
        checkpoints: &impl CheckpointStore,
        now: u64,
    ) -> Result<Opened, CertifiedMailError> {
        self.feed_publication(
            req_hash,
            |trusted| RecipientInput::Publication {
                leaf: included,
                trusted,
            },
            consistency,
            checkpoints,
            now,
        )
    }

    /// [`take_publication`](Self::take_publication) for an answer already classified as proven
    /// ([`herald_proto::certmail::classify_publication`]): the machine does not check it again.
    pub fn take_proven_publication(
        &mut self,
        publication: Box<ProvenPublication>,
        consistency: &[Hash],
        checkpoints: &impl CheckpointStore,
        now: u64,
    ) -> Result<Opened, CertifiedMailError> {
        let req_hash = *publication.req_hash();
        self.feed_publication(
            &req_hash,
            |trusted| RecipientInput::Proven {
                publication,
                trusted,
            },
            consistency,
            checkpoints,
            now,
        )
    }

    fn feed_publication(
        &mut self,
        req_hash: &[u8; 32],
        input: impl FnOnce(Option<TrustedTree>) -> RecipientInput,
        consistency: &[Hash],
        checkpoints: &impl CheckpointStore,
        now: u64,
    ) -> Result<Opened, CertifiedMailError> {
        let requested = self.resume_recipient(req_hash)?;
        let location = requested.request().location().clone();
        let trusted = match checkpoints.load(location.origin())? {
            None => None,
            Some(note) => {
                let checkpoint = location.log().verify_checkpoint(&note).map_err(|error| {
                    CertifiedMailError::UntrustedCheckpoint {
                        origin: location.origin().to_owned(),
                        error,
                    }
                })?;
                Some(TrustedTree {
                    checkpoint,
                    proof: consistency.to_vec(),
                })
            }
        };
        let keys = Lent::new(CardView(&self.keys));
        let (state, actions) = requested
            .handle(input(trusted), &keys, now)
            .map_err(|refused| keys.refusal(refused.error))?;
        for action in actions {
            if let RecipientAction::TrustCheckpoint(cp) = action {
                checkpoints.save(&cp)?;
            }
        }
        opened(*req_hash, state, None)
    }

    /// Where the request `req_hash` stands at `now`.
    pub fn recipient_status(
        &self,
        req_hash: &[u8; 32],
        now: u64,
    ) -> Result<RecipientStatus, CertifiedMailError> {
        let requested = self.resume_recipient(req_hash)?;
        let until = requested.request().publication_limit().saturating_add(1);
        let keys = Lent::new(CardView(&self.keys));
        match requested.handle(RecipientInput::Timer, &keys, now) {
            Ok((RecipientState::Undelivered(_), _)) => Ok(RecipientStatus::Undelivered),
            Ok(_) => Ok(RecipientStatus::Waiting { until }),
            Err(refused) => Err(keys.refusal(refused.error)),
        }
    }

    /// The request `req_hash` as signed and checked (for an absence proof, or to send again).
    pub fn stored_request(
        &self,
        req_hash: &[u8; 32],
    ) -> Result<VerifiedKeyRequest, CertifiedMailError> {
        Ok(self.resume_recipient(req_hash)?.request().clone())
    }

    /// The req_hashes of the requests kept here.
    pub fn requests(&self) -> Result<Vec<[u8; 32]>, CertifiedMailError> {
        Ok(self
            .records
            .list(RecordKind::Received)?
            .iter()
            .filter_map(|n| hex::decode(n).ok()?.try_into().ok())
            .collect())
    }

    /// Forgets the request: erases P_req's secret from the key store, then removes its record.
    /// Call it once the plaintext is kept (or the mail is given up): the mail is finished.
    pub fn forget_request(&mut self, req_hash: &[u8; 32]) -> Result<(), CertifiedMailError> {
        let name = hex_name(req_hash);
        if let Some(record) = self.load_received(req_hash)? {
            let secret = if record.version == 1 {
                // Where version 1 kept it (see the module docs).
                format!("cm/request/{name}")
            } else {
                let me = self.account()?;
                let requested =
                    Requested::resume(&record, &me.account).map_err(|e| bad_record(&name, e))?;
                requested.secret_name().to_owned()
            };
            self.keys.erase(&SecretId::new(secret)?)?;
        }
        self.records.remove(RecordKind::Received, &name)?;
        Ok(())
    }

    /// Stores the record (it holds no secret).
    fn persist_received(
        &mut self,
        req_hash: &[u8; 32],
        record: &pb::RecipientRecord,
    ) -> Result<(), CertifiedMailError> {
        self.records.save(
            RecordKind::Received,
            &hex_name(req_hash),
            &record.encode_to_vec(),
        )?;
        Ok(())
    }

    fn load_received(
        &self,
        req_hash: &[u8; 32],
    ) -> Result<Option<pb::RecipientRecord>, CertifiedMailError> {
        let name = hex_name(req_hash);
        let Some(bytes) = self.records.load(RecordKind::Received, &name)? else {
            return Ok(None);
        };
        let record =
            decode(&bytes, RecordKind::Received.limit()).map_err(|e| bad_record(&name, e))?;
        Ok(Some(record))
    }

    fn resume_recipient(&self, req_hash: &[u8; 32]) -> Result<Requested, CertifiedMailError> {
        let name = hex_name(req_hash);
        let record =
            self.load_received(req_hash)?
                .ok_or_else(|| CertifiedMailError::UnknownMail {
                    what: "req_hash",
                    id: name.clone(),
                })?;
        if record.version == 1 {
            return Err(bad_record(
                &name,
                "record version 1, written by an older herald that kept P_req's secret under \
                 cm/request/<req_hash>; this version keeps it inside the key store and does not \
                 resume such a request: finish it with the older version, or forget it",
            ));
        }
        let me = self.account()?;
        let requested =
            Requested::resume(&record, &me.account).map_err(|e| bad_record(&name, e))?;
        if requested.request().req_hash() != req_hash {
            return Err(bad_record(&name, "stored under another req_hash"));
        }
        // The store must still hold P_req's secret (only its public half is asked for).
        let secret = SecretId::new(requested.secret_name())?;
        if self.keys.public_key(&secret).as_ref() != Some(requested.request().request_key()) {
            return Err(bad_record(
                &name,
                format!("the key store holds no secret {secret} of this request's P_req (erased?)"),
            ));
        }
        Ok(requested)
    }
}

fn opened(
    req_hash: [u8; 32],
    state: RecipientState,
    receipt: Option<Vec<u8>>,
) -> Result<Opened, CertifiedMailError> {
    match state {
        RecipientState::Decrypted(d) => Ok(Opened {
            req_hash,
            plaintext: d.plaintext,
            receipt,
            delivery: d.delivery,
            expectation_met: d.expectation_met,
        }),
        // A key input either decrypts or is refused.
        _ => Err(CertMailError::UnexpectedInput {
            state: "requested",
            input: "key",
        }
        .into()),
    }
}
