//! The recipient's side (B): make the signed key request (b), then open the key, either sent
//! directly (optimistic, answering with a signed receipt) or found published at X (d).
//!
//! A request is stored under its req_hash as proto's `RecipientRecord` with the request secret
//! blanked: the secret of P_req goes into the key store ([`super::request_secret_id`]) before
//! the record is written, and the request is handed out only after both. [`CertMail::forget_request`]
//! erases both once the caller has kept the plaintext.

use herald_proto::certmail::recipient::{
    Delivery, Received, RecipientAction, RecipientInput, RecipientState, RequestTerms, Requested,
    ToSender, TrustedTree,
};
use herald_proto::certmail::{CertMailError, ProvenPublication, VerifiedKeyRequest};
use herald_proto::merkle::Hash;
use herald_proto::wire::{decode, pb};
use prost::Message as _;
use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroize as _;

use super::messages::{decode_direct_key, decode_sealed};
use super::records::{RecordKind, RecordStore};
use super::{CertMail, CertifiedMailError, bad_record, hex_name, request_secret_id};
use crate::keystore::SecureKeyStore;
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
        let (me, ik) = self.identity()?;
        if sealed.recipient != me.account {
            return Err(CertifiedMailError::NotOurs {
                addressed: sealed.recipient,
                account: me.account,
            });
        }
        let received = Received::receive(sealed, &me.account, ik)?;
        let sender_key = received.sealed().1.sender_key;
        let (requested, actions) = received
            .request(terms, now, rng)
            .map_err(|refused| refused.error)?;
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
                    self.persist_received(&made.req_hash, *record)?
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
        let (state, actions) = requested
            .handle(RecipientInput::DirectKey(direct), now)
            .map_err(|refused| refused.error)?;
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
        let (state, actions) = requested
            .handle(input(trusted), now)
            .map_err(|refused| refused.error)?;
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
        match requested.handle(RecipientInput::Timer, now) {
            Ok((RecipientState::Undelivered(_), _)) => Ok(RecipientStatus::Undelivered),
            Ok(_) => Ok(RecipientStatus::Waiting { until }),
            Err(refused) => Err(refused.error.into()),
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

    /// Forgets the request: erases its secret from the key store and removes its record. Call
    /// it once the plaintext is kept (or the mail is given up).
    pub fn forget_request(&mut self, req_hash: &[u8; 32]) -> Result<(), CertifiedMailError> {
        self.keys.erase(&request_secret_id(req_hash))?;
        self.records
            .remove(RecordKind::Received, &hex_name(req_hash))?;
        Ok(())
    }

    /// Stores the request secret in the key store, then the record without it.
    fn persist_received(
        &mut self,
        req_hash: &[u8; 32],
        mut record: pb::RecipientRecord,
    ) -> Result<(), CertifiedMailError> {
        let name = hex_name(req_hash);
        let secret: [u8; 32] = record
            .request_secret
            .as_slice()
            .try_into()
            .map_err(|_| bad_record(&name, "request secret is not 32 bytes"))?;
        self.keys
            .store_secret(&request_secret_id(req_hash), &StaticSecret::from(secret))?;
        record.request_secret.zeroize();
        record.request_secret.clear();
        self.records
            .save(RecordKind::Received, &name, &record.encode_to_vec())?;
        Ok(())
    }

    fn resume_recipient(&self, req_hash: &[u8; 32]) -> Result<Requested, CertifiedMailError> {
        let name = hex_name(req_hash);
        let bytes = self
            .records
            .load(RecordKind::Received, &name)?
            .ok_or_else(|| CertifiedMailError::UnknownMail {
                what: "req_hash",
                id: name.clone(),
            })?;
        let mut record: pb::RecipientRecord =
            decode(&bytes, RecordKind::Received.limit()).map_err(|e| bad_record(&name, e))?;
        let secret = self
            .keys
            .export_secret(&request_secret_id(req_hash))
            .map_err(|e| bad_record(&name, format!("the request secret: {e}")))?;
        record.request_secret = secret.to_bytes().to_vec();
        let (me, ik) = self.identity()?;
        let requested =
            Requested::resume(&record, &me.account, ik).map_err(|e| bad_record(&name, e))?;
        if requested.request().req_hash() != req_hash {
            return Err(bad_record(&name, "stored under another req_hash"));
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
