//! Mail larger than one request at the gateway (issue 12 §1; rules in `paep::transfer`, store
//! in [`transfer_store`](super::transfer_store)):
//!
//! - **S_A takes an upload** ([`MailService::upload_chunk`], [`MailService::send_uploaded`]):
//!   chunks durable before each answer, bounded per account (count, and bytes counted with
//!   the account's mailbox against its quota); the envelope that follows is put together with
//!   Z and its sig_A checked under the account's bound key (sig_A covers H(Z)) before the mail
//!   goes the one-request mail's way (`send`: policy, ACCEPTANCE, the outbound queue). A Z
//!   that does not verify is refused; nothing is queued.
//! - **S_A relays in chunks** ([`MailService::relay_in_chunks`]): the relay task sends a large
//!   mail's Z chunk by chunk, each read from the outbound queue's pieces, skipping what S_B says
//!   it holds (resumable after either side restarts), then the relay envelope without Z. The
//!   first chunk carries the relay envelope's head and H(Z).
//! - **S_B takes a relay in chunks** ([`MailService::relay_chunk_in`],
//!   [`MailService::relay_large_in`]): only from the registered peer of the domain, bounded per
//!   peer; the first chunk's head is verified under the peer's log key and the policy judged
//!   on it (a refusal is the envelope's `REJECTION` record, and the peer's rate is taken there
//!   once per mail); the relay envelope is put together with Z and taken exactly as a
//!   one-request relay (`relay_in`: the relay signature over H(Z), the recipient, policy, the
//!   sealed mailbox, idempotent by msg_id, CONSIGNMENT). A Z that does not verify is refused
//!   and its chunks dropped, so S_A's retry starts over.
//! - **B fetches by parts** ([`MailService::fetch_part`]): each part from the sealed mailbox;
//!   the part holding the last byte logs the HANDOVER. B's client checks sig_A over H(Z)
//!   before opening.

use herald_light_client::ClientError;
use herald_proto::entry::lp;
use herald_proto::identity::account_domain;
use herald_proto::paep::transfer::{self, TransferError, travels_in_chunks};
use herald_proto::paep::{verify_relay_head, verify_sender_signature};
use herald_proto::policy::MailFacts;
use herald_proto::wire::client::expect_relay_chunk_progress;
use herald_proto::wire::pb::{self, ClientErrorKind};
use herald_proto::wire::{MAIL_CHUNK_BYTES, MAX_TRANSFER_BYTES};
use std::sync::{Arc, Mutex, PoisonError};

use libp2p::PeerId;
use tracing::warn;

use super::mailbox::{Held, HeldPart};
use super::outbox::Queued;
use super::transfer_store::{ChunkRefused, Owner};
use super::{MailService, policy_refusal};
use crate::peers::PeerDomain;
use crate::service::Refusal;

/// The large mail last read by parts, opened once for all its parts (in memory only; its
/// mailbox entry is checked to exist before each part is answered from it).
#[derive(Clone, Debug, Default)]
pub(crate) struct PartCache(Arc<Mutex<Option<CachedMail>>>);

/// A mail of `account`'s mailbox entry `id`, opened.
type CachedMail = (String, u64, Arc<pb::StoredMail>);

impl PartCache {
    fn get(&self, account: &str, id: u64) -> Option<Arc<pb::StoredMail>> {
        let held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match &*held {
            Some((a, i, m)) if a == account && *i == id => Some(m.clone()),
            _ => None,
        }
    }

    fn put(&self, account: &str, id: u64, mail: Arc<pb::StoredMail>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((account.to_owned(), id, mail));
    }

    fn forget(&self, account: &str, id: u64) {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(&*held, Some((a, i, _)) if a == account && *i == id) {
            *held = None;
        }
    }
}

/// Most unfinished uploads of one account at once.
pub(crate) const MAX_UPLOADS_PER_ACCOUNT: u64 = 4;
/// Most unfinished relays in chunks from one peer domain at once.
pub(crate) const MAX_RELAYS_PER_PEER: u64 = 32;
/// Most bytes of unfinished relays in chunks from one peer domain (32 of the largest mails).
pub(crate) const MAX_RELAY_BYTES_PER_PEER: u64 = MAX_RELAYS_PER_PEER * MAX_TRANSFER_BYTES as u64;

fn refused(kind: ClientErrorKind, reason: impl ToString) -> Refusal {
    Refusal::MailRefused {
        kind,
        reason: reason.to_string(),
    }
}

/// A refused chunk's reason as `herald_relay_refused` counts it.
fn chunk_refusal_kind(r: &ChunkRefused) -> &'static str {
    match r {
        ChunkRefused::Transfer(
            TransferError::BeyondEnd { .. }
            | TransferError::OutOfOrder { .. }
            | TransferError::Overlap { .. },
        ) => "out_of_range",
        ChunkRefused::Transfer(_) => "malformed",
        ChunkRefused::OverQuota => "over_quota",
        ChunkRefused::TooManyTransfers => "too_many_transfers",
    }
}

fn chunk_refusal(r: ChunkRefused) -> Refusal {
    match r {
        ChunkRefused::Transfer(e @ TransferError::BeyondEnd { .. })
        | ChunkRefused::Transfer(e @ TransferError::OutOfOrder { .. })
        | ChunkRefused::Transfer(e @ TransferError::Overlap { .. }) => {
            refused(ClientErrorKind::OutOfRange, e)
        }
        ChunkRefused::Transfer(e) => refused(ClientErrorKind::Malformed, e),
        ChunkRefused::OverQuota => refused(
            ClientErrorKind::TooLarge,
            "over the quota: unfinished transfers and the mailbox hold too much",
        ),
        ChunkRefused::TooManyTransfers => refused(
            ClientErrorKind::RateLimited,
            "too many unfinished transfers: finish one or let it expire",
        ),
    }
}

/// The name under which a peer domain owns its relays in chunks (never an account's: no NUL
/// in an address).
fn peer_owner(domain: &str) -> String {
    format!("\0relay from\0{}", domain.to_ascii_lowercase())
}

/// A relayed mail's transfer name: its sender and msg_id.
fn relay_name(sender: &str, msg_id: &[u8]) -> Vec<u8> {
    let mut name = Vec::with_capacity(sender.len() + msg_id.len() + 16);
    lp(&mut name, sender.as_bytes());
    lp(&mut name, msg_id);
    name
}

impl MailService {
    fn upload_owner(&self, account: &str) -> Owner {
        (self.inner.transfers).owner(
            account,
            MAX_UPLOADS_PER_ACCOUNT,
            self.inner.settings.quota_bytes,
        )
    }

    fn peer_owner(&self, domain: &str) -> Owner {
        (self.inner.transfers).owner(
            &peer_owner(domain),
            MAX_RELAYS_PER_PEER,
            MAX_RELAY_BYTES_PER_PEER,
        )
    }

    /// Session `upload_chunk` from `account` (module docs).
    pub(crate) async fn upload_chunk(
        &self,
        account: &str,
        chunk: pb::MailUploadChunk,
    ) -> Result<pb::MailUploadProgress, Refusal> {
        let owner = self.upload_owner(account);
        let account = account.to_owned();
        let now = self.now();
        let upload_id = chunk.upload_id.clone();
        let received = self
            .blocking(move |mail| {
                let transfers = &mail.inner.transfers;
                let tag = transfers.transfer_tag(&chunk.upload_id);
                let in_mailbox = mail.inner.mailboxes.used(&account)?;
                transfers.chunk(
                    &owner,
                    &tag,
                    chunk.total_len,
                    chunk.offset,
                    &chunk.data,
                    in_mailbox,
                    now,
                )
            })
            .await?
            .map_err(chunk_refusal)?;
        Ok(pb::MailUploadProgress {
            upload_id,
            received,
        })
    }

    /// Session `send_uploaded_mail` from `account` (module docs).
    pub(crate) async fn send_uploaded(
        &self,
        account: &str,
        request: pb::SendUploadedMail,
    ) -> Result<pb::MailAccepted, Refusal> {
        let head = request.envelope.ok_or(Refusal::Malformed(
            herald_proto::wire::WireError::MissingField {
                field: "SendUploadedMail.envelope",
            },
        ))?;
        if head.sender != account {
            return Err(Refusal::Unauthorized(
                "a mail's sender must be the logged-in account".into(),
            ));
        }
        let owner = self.upload_owner(account);
        let tag = self.inner.transfers.transfer_tag(&request.upload_id);
        let (z, total) = {
            let owner = owner.clone();
            self.blocking(move |mail| mail.inner.transfers.assembled(&owner, &tag))
                .await?
                .ok_or(Refusal::NotFound("no upload has this id"))?
                .map_err(|e| refused(ClientErrorKind::OutOfRange, e))?
        };
        let envelope = transfer::assemble(head, z, total)
            .map_err(|e| refused(ClientErrorKind::Malformed, e))?;
        let key = self
            .inner
            .intake
            .accounts()
            .active_key(account)
            .ok()
            .flatten()
            .ok_or(Refusal::Unauthorized("the account is not active".into()))?;
        if let Err(e) = verify_sender_signature(&envelope, &key) {
            self.inner
                .events
                .rejected(&envelope.msg_id, "the uploaded Z does not match sig_A");
            return Err(refused(
                ClientErrorKind::Forbidden,
                format!("the uploaded mail does not match its signed header ({e})"),
            ));
        }
        let accepted = self
            .send(
                account,
                pb::SendMail {
                    envelope: Some(envelope),
                    expires_at: request.expires_at,
                },
            )
            .await?;
        // Queued: the upload is no longer needed (a failure here leaves it to expire).
        if let Err(e) = self
            .blocking(move |mail| mail.inner.transfers.remove(&owner, &tag))
            .await
        {
            warn!(error = %e, "a finished upload was not deleted; it expires");
        }
        Ok(accepted)
    }

    /// Session `fetch_mail_part` of `account` (module docs).
    pub(crate) async fn fetch_part(
        &self,
        account: &str,
        id: u64,
        offset: u64,
    ) -> Result<pb::MailPart, Refusal> {
        let owner = account.to_owned();
        let held = self
            .blocking(move |mail| mail.inner.mailboxes.part(&owner, id, offset))
            .await?
            .ok_or(Refusal::NotFound("no mail has this id in the mailbox"))?;
        let (head, total, data) = match held {
            HeldPart::Piece { head, total, data } => {
                let data = data.ok_or_else(|| {
                    refused(
                        ClientErrorKind::OutOfRange,
                        TransferError::NoPart { offset, total },
                    )
                })?;
                (*head, total, data)
            }
            HeldPart::Whole => self.whole_part(account, id, offset).await?,
        };
        if offset + data.len() as u64 == total {
            self.inner.events.handed_over(&head).await;
            self.inner.parts.forget(account, id);
        }
        Ok(pb::MailPart {
            head: Some(head),
            total_len: total,
            offset,
            data,
        })
    }

    /// The part at `offset` of a large mail stored whole (before mailboxes kept pieces): the
    /// mail's head, Z's length and the part.
    async fn whole_part(
        &self,
        account: &str,
        id: u64,
        offset: u64,
    ) -> Result<(pb::StoredMail, u64, Vec<u8>), Refusal> {
        let owner = account.to_owned();
        let cache = self.inner.parts.clone();
        let held = self
            .blocking(move |mail| {
                // Opened once per read, not once per part: the last opened large mail is kept
                // (in memory only) while its mailbox still holds it.
                if !mail.inner.mailboxes.holds(&owner, id)? {
                    return Ok(None);
                }
                if let Some(m) = cache.get(&owner, id) {
                    return Ok(Some(m));
                }
                let opened = match mail.inner.mailboxes.fetch(&owner, id)? {
                    Some(Held::Whole(m)) => Some(Arc::new(m)),
                    _ => None,
                };
                if let Some(m) = &opened {
                    cache.put(&owner, id, m.clone());
                }
                Ok(opened)
            })
            .await?
            .ok_or(Refusal::NotFound("no mail has this id in the mailbox"))?;
        let envelope = held.envelope.as_ref().cloned().unwrap_or_default();
        let total = envelope.ciphertext.len() as u64;
        if !travels_in_chunks(envelope.ciphertext.len()) {
            return Err(refused(
                ClientErrorKind::OutOfRange,
                "this mail fits one answer: fetch it whole",
            ));
        }
        let data = transfer::part_at(&envelope.ciphertext, offset)
            .map_err(|e| refused(ClientErrorKind::OutOfRange, e))?
            .to_vec();
        let head = pb::StoredMail {
            envelope: Some(transfer::head_of(&envelope)),
            ..(*held).clone()
        };
        Ok((head, total, data))
    }

    /// S_B: `relay_chunk` from `peer` (module docs). A chunk naming its recipient is judged by
    /// the policy first (`judge_announced_from_peer`), so a mail the policy refuses is refused
    /// at its first chunk and nothing of it is held. Every refusal is counted in
    /// `herald_relay_refused` by reason, as a whole relay's is.
    pub(crate) async fn relay_chunk_in(
        &self,
        peer: PeerId,
        chunk: pb::RelayMailChunk,
    ) -> Result<pb::RelayChunkProgress, Refusal> {
        self.admit_relay_peer(&peer, &chunk.from_domain)?;
        if account_domain(&chunk.sender).is_none_or(|d| !d.eq_ignore_ascii_case(&chunk.from_domain))
        {
            return Err(self.refuse_relay(
                "wrong_sender",
                &[],
                Refusal::Forbidden("the sender is not of the relaying domain"),
            ));
        }
        let owner = self.peer_owner(&chunk.from_domain);
        // The first chunk's head, verified: S_A's signed word for the envelope (module docs).
        let head = match (&chunk.head, <[u8; 32]>::try_from(chunk.z_hash.as_slice())) {
            (Some(head), Ok(z_hash)) => Some(self.verified_head(&peer, head, &z_hash)?),
            _ => None,
        };
        let facts = MailFacts {
            sender: &chunk.sender,
            recipient: &chunk.recipient,
            size: chunk.total_len,
            manifest: &[],
            recipient_mailbox: None,
        };
        let announced = (!chunk.recipient.is_empty()).then_some(&facts);
        let policy = &self.inner.policy;
        let judged = if chunk.offset == 0 {
            // The peer's rate is taken here, once per mail relayed in chunks.
            policy.judge_first_chunk_from_peer(
                &chunk.from_domain,
                announced,
                std::time::Instant::now(),
            )
        } else {
            announced.map_or(Ok(()), |f| policy.judge_announced_from_peer(f))
        };
        if let Err(refusal) = judged {
            // Counted and logged; with a verified head, the same REJECTION record a whole
            // relay's refusal writes (else nothing is verified: no record). The chunks held of
            // it, if any, go.
            let (label, reason) = (refusal.label(), refusal.reason());
            let refused = self.refuse_relay(label, &[], policy_refusal(refusal));
            match &head {
                Some(envelope) => self.inner.events.rejected_mail(envelope, &reason).await,
                None => self.inner.events.rejected(&chunk.msg_id, label),
            }
            let tag =
                (self.inner.transfers).transfer_tag(&relay_name(&chunk.sender, &chunk.msg_id));
            if let Err(e) = self
                .blocking(move |mail| mail.inner.transfers.remove(&owner, &tag))
                .await
            {
                warn!(error = %e, "a refused relay's chunks were not deleted; they expire");
            }
            return Err(refused);
        }
        let now = self.now();
        let msg_id = chunk.msg_id.clone();
        let received = self
            .blocking(move |mail| {
                let transfers = &mail.inner.transfers;
                let tag = transfers.transfer_tag(&relay_name(&chunk.sender, &chunk.msg_id));
                transfers.chunk(
                    &owner,
                    &tag,
                    chunk.total_len,
                    chunk.offset,
                    &chunk.data,
                    0,
                    now,
                )
            })
            .await?
            .map_err(|r| {
                let kind = chunk_refusal_kind(&r);
                self.refuse_relay(kind, &[], chunk_refusal(r))
            })?;
        // Durable, not yet answered: S_A sends it again and S_B holds it once.
        crate::fault::reached(crate::fault::FaultPoint::MailChunkRelayed);
        Ok(pb::RelayChunkProgress { msg_id, received })
    }

    /// S_B: the head of a relay's first chunk, verified under the peer's log key as the relay
    /// envelope it is (`verify_relay_head`: Z by the hash the signature covers); a head that
    /// does not verify is refused as a relay that does not.
    fn verified_head(
        &self,
        peer: &PeerId,
        head: &pb::RelayEnvelope,
        z_hash: &[u8; 32],
    ) -> Result<pb::MailEnvelope, Refusal> {
        let from = self.admit_relay_peer(peer, &head.from_domain)?;
        let key = from.log_key().public_key();
        verify_relay_head(head, z_hash, &self.inner.domain, key, self.now())
            .cloned()
            .map_err(|e| {
                let kind = super::relay::relay_error_kind(&e);
                let msg_id = head.envelope.as_ref().map(|e| e.msg_id.clone());
                self.refuse_relay(
                    kind,
                    &msg_id.unwrap_or_default(),
                    refused(ClientErrorKind::Forbidden, e),
                )
            })
    }

    /// S_B: `relay_large_mail` from `peer` (module docs).
    pub(crate) async fn relay_large_in(
        &self,
        peer: PeerId,
        request: pb::RelayLargeMail,
    ) -> Result<pb::RelayAccepted, Refusal> {
        let mut relay = request.relay.unwrap_or_default();
        self.admit_relay_peer(&peer, &relay.from_domain)?;
        let head = relay.envelope.take().unwrap_or_default();
        let owner = self.peer_owner(&relay.from_domain);
        let tag = (self.inner.transfers).transfer_tag(&relay_name(&head.sender, &head.msg_id));
        let (z, total) = {
            let owner = owner.clone();
            self.blocking(move |mail| mail.inner.transfers.assembled(&owner, &tag))
                .await?
                .ok_or_else(|| {
                    self.refuse_relay(
                        "no_chunks",
                        &[],
                        Refusal::NotFound("no chunks of this mail were relayed"),
                    )
                })?
                .map_err(|e| {
                    self.refuse_relay("out_of_range", &[], refused(ClientErrorKind::OutOfRange, e))
                })?
        };
        if total != request.total_len {
            let changed = TransferError::TotalChanged {
                declared: request.total_len,
                held: total,
            };
            return Err(self.refuse_relay(
                "malformed",
                &[],
                refused(ClientErrorKind::Malformed, changed),
            ));
        }
        relay.envelope = Some(
            transfer::assemble(head, z, total)
                .map_err(|e| refused(ClientErrorKind::Malformed, e))?,
        );
        // The peer's rate was taken on the first chunk.
        let outcome = self.relay_in_rated(peer, relay, false).await;
        // Taken (or taken before), or refused for good (a Z that does not verify, a recipient
        // or policy refusal): the chunks are no longer needed, and a retry starts over.
        let finished = match &outcome {
            Ok(_) => true,
            Err(Refusal::MailRefused { .. } | Refusal::NotFound(_) | Refusal::Forbidden(_)) => true,
            Err(_) => false,
        };
        if finished
            && let Err(e) = self
                .blocking(move |mail| mail.inner.transfers.remove(&owner, &tag))
                .await
        {
            warn!(error = %e, "a finished relay's chunks were not deleted; they expire");
        }
        outcome
    }

    /// S_A: relays the queued mail `queued` (whose Z travels in chunks) to `peer`: each chunk
    /// S_B does not hold yet, read from the queue's pieces one at a time, then the relay
    /// envelope without Z; S_B's answer to that. A refused chunk is the attempt's refusal.
    pub(super) async fn relay_in_chunks(
        &self,
        peer: &PeerDomain,
        queued: &Queued,
    ) -> Result<pb::ClientResponse, ClientError> {
        let relay = &queued.relay;
        let envelope = &queued.envelope;
        // Z lies in the queue's pieces, or (a record written before pieces) in the envelope.
        let (total, z_hash) = match &queued.pieces {
            Some(p) => (p.total, p.z_hash.to_vec()),
            None => (
                envelope.ciphertext.len() as u64,
                blake3::hash(&envelope.ciphertext).as_bytes().to_vec(),
            ),
        };
        let mut offset = 0u64;
        while offset < total {
            let data = match queued.pieces {
                Some(_) => {
                    let q = queued.clone();
                    self.blocking(move |mail| mail.inner.outbox.piece(&q, offset))
                        .await
                        // Local, not S_B's: retried like a relay not reached.
                        .map_err(|e| {
                            ClientError::InvalidRequest(format!("the outbound queue: {e}"))
                        })?
                }
                None => {
                    let end = (offset as usize + MAIL_CHUNK_BYTES).min(total as usize);
                    envelope.ciphertext[offset as usize..end].to_vec()
                }
            };
            let end = offset + data.len() as u64;
            // The first chunk carries the relay's head and H(Z), so that S_B can verify
            // what it judges there and log a refusal as the REJECTION of this envelope.
            let (head, z_hash) = if offset == 0 {
                let head = pb::RelayEnvelope {
                    envelope: Some(transfer::head_of(envelope)),
                    ..relay.clone()
                };
                (Some(Box::new(head)), z_hash.clone())
            } else {
                (None, Vec::new())
            };
            let request = pb::ClientRequest::relay_chunk(pb::RelayMailChunk {
                from_domain: relay.from_domain.clone(),
                sender: envelope.sender.clone(),
                msg_id: envelope.msg_id.clone(),
                total_len: total,
                offset,
                data,
                recipient: envelope.recipient.clone(),
                head,
                z_hash,
            });
            let response = (self.inner.node)
                .client_request(peer.peer_id, peer.addrs.clone(), request)
                .await?;
            let progress = expect_relay_chunk_progress(response, &envelope.msg_id)?;
            // S_B may hold more (this mail was partly relayed before): go on from there.
            offset = progress.received.max(end);
        }
        let head = pb::RelayEnvelope {
            envelope: Some(transfer::head_of(envelope)),
            ..relay.clone()
        };
        (self.inner.node)
            .client_request(
                peer.peer_id,
                peer.addrs.clone(),
                pb::ClientRequest::relay_large_mail(head, total),
            )
            .await
    }

    /// Deletes unfinished transfers past their time; how many. Blocking.
    pub(super) fn sweep_transfers(&self, now: u64) -> Result<usize, super::StoreError> {
        self.inner.transfers.sweep(now)
    }
}
