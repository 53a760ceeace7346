//! The gateway's notary records of mail it relays (DESIGN §3.4), and the delivery-status
//! answer over all its records.
//!
//! **Writing: [`EvidenceRecorder::record`]** is the one entry point for every event the mail
//! path sees. The relay calls it at each event, with the mail's parties and salt:
//!
//! | event | who calls | kind |
//! |---|---|---|
//! | S_A took A's mail | S_A, on accepting the envelope | `ACCEPTANCE` |
//! | S_B took the relay from S_A | S_B, on accepting the relay envelope | `RELAY_ACCEPTED` |
//! | the mail is in B's mailbox | S_B, once the mailbox write is flushed | `CONSIGNMENT` |
//! | B fetched it (or returned a receipt, or retrieved the key) | S_B | `HANDOVER` |
//! | S_B could not be reached, or refused for good | S_A | `NON_DELIVERY` (reason) |
//! | the mail's expiry passed undelivered | S_A | `EXPIRY` (reason) |
//! | policy, filter, virus, rate limit | the gateway that refused | `REJECTION` (reason) |
//!
//! The record is built by proto's [`EvidenceRecord::new`] (which refuses a record no honest
//! gateway writes: no reason for a non-delivery, an oversized msg_id, ...), signed with the log
//! key, and appended; `record` returns once it is **durable** (flushed and in a signed
//! checkpoint), so "tell the sender" comes after "logged". The addresses are committed with the
//! **mail's salt** ([`MailParties`]: chosen by the sender and carried with the mail), so both
//! parties can open every record of both gateways, and a public log reader cannot.
//! [`EvidenceRecorder::queue_all`] is the first half of [`EvidenceRecorder::record_all`]: it
//! returns once the records are queued in the sequencer, and [`QueuedRecords::durable`] waits
//! for their round, for a caller that must queue a later record behind them (S_B's handover
//! after the consignment) without waiting a round in between.
//!
//! **At least once, never twice.** A record is identified by (msg_id, kind, sender commitment,
//! recipient commitment). Before appending, the log's `msg-id` index is searched: a record
//! already logged is not written again ([`Recorded::AlreadyLogged`] with its index). Two calls
//! for the same record at the same time cannot both pass that check: the second is refused
//! `Busy` while the first is in flight, and finds it logged when it retries. So the caller's rule
//! is simple: call again after a crash or an error until `Ok`; the log holds it once.
//! At most `MAX_EVIDENCE_PER_ANSWER` records are kept per msg_id (a status answer holds them
//! all); beyond that `record` refuses.
//!
//! **Reading: [`Intake::evidence_status`]** answers `EvidenceRequest` (client protocol, open to
//! peer gateways too) with every record of the msg_id that the latest cosigned checkpoint
//! covers, each with its audit path in it, and the number logged after it.

use herald_proto::entry::{EvidenceRecord, MailParties};
use herald_proto::wire::pb::{self, log_entry};
use herald_proto::wire::{MAX_EVIDENCE_PER_ANSWER, MAX_LOG_ENTRY_BYTES, decode};

use super::{Intake, PENDING_RETRY, Refusal};

/// One event in a mail's life, as the gateway saw it.
#[derive(Debug, Clone)]
pub struct MailEvent {
    /// What happened.
    pub kind: pb::EvidenceKind,
    /// The mail's msg_id (1 to `MAX_MSG_ID_BYTES` bytes).
    pub msg_id: Vec<u8>,
    /// Its sender, recipient and salt.
    pub parties: MailParties,
    /// Why: required for `NON_DELIVERY`, `EXPIRY` and `REJECTION` (the policy's reason), at
    /// most `MAX_REASON_BYTES`; may be empty otherwise.
    pub reason: String,
}

/// Where the record of an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Appended now, at this index, durable.
    Logged(u64),
    /// Logged before (an earlier call, perhaps before a crash), at this index.
    AlreadyLogged(u64),
}

impl Recorded {
    /// The record's log index.
    pub fn index(&self) -> u64 {
        match self {
            Recorded::Logged(i) | Recorded::AlreadyLogged(i) => *i,
        }
    }
}

/// Writes the records of mail events (see the module docs). Cheap to clone.
#[derive(Clone, Debug)]
pub struct EvidenceRecorder {
    mail: Intake,
}

impl EvidenceRecorder {
    /// The recorder appending to `mail`'s log.
    pub fn new(mail: Intake) -> Self {
        EvidenceRecorder { mail }
    }

    /// Logs the record of `event` and returns once it is durable (see the module docs).
    pub async fn record(&self, event: MailEvent) -> Result<Recorded, Refusal> {
        let record = EvidenceRecord::new(
            event.kind,
            &event.msg_id,
            &event.parties,
            self.mail.now_secs(),
            &event.reason,
        )
        .map_err(|e| Refusal::BadEvent(e.to_string()))?;
        let key = record_key(&record);
        if !self.mail.claim_record(&key) {
            return Err(Refusal::Busy {
                retry_after: PENDING_RETRY,
            });
        }
        let result = self.write(record).await;
        self.mail.release_record(&key);
        result
    }

    async fn write(&self, record: EvidenceRecord) -> Result<Recorded, Refusal> {
        let looked_for = record.clone();
        let found = self
            .mail
            .blocking(move |mail| mail.logged_record(&looked_for))
            .await?;
        if let Some(index) = found {
            return Ok(Recorded::AlreadyLogged(index));
        }
        let ack = self
            .mail
            .append(&record.sign(&self.mail.parts().log_key))
            .await?;
        Ok(Recorded::Logged(ack.index))
    }
}

impl EvidenceRecorder {
    /// Logs the records of `events` (the several records of one mail event, e.g. S_B's
    /// `RELAY_ACCEPTED` and `CONSIGNMENT`) at consecutive indexes of **one** sequencing round,
    /// in order, and returns once they are durable: [`record`](Self::record) for each, without a
    /// round per record. At least once, never twice, as `record`: a record already logged is
    /// not written again, and while any of them is being written by another call the whole call
    /// is refused `Busy` (nothing stays claimed). [`queue_all`](Self::queue_all), then
    /// [`QueuedRecords::durable`].
    pub async fn record_all(&self, events: Vec<MailEvent>) -> Result<Vec<Recorded>, Refusal> {
        self.queue_all(events).await?.durable().await
    }

    /// The first half of [`record_all`](Self::record_all): returns once the records that are
    /// not logged yet are **queued** in the sequencer (one submission, so one round, in order),
    /// not once they are durable. Anything this gateway queues after this returns gets later
    /// indexes, in this round or a later one (the sequencer keeps the order of its pool), so a
    /// caller that must log something after these records need not wait for their round.
    /// The records stay claimed (another call for any of them is refused `Busy`) until their
    /// round is answered, even if the returned value is dropped first.
    pub async fn queue_all(&self, events: Vec<MailEvent>) -> Result<QueuedRecords, Refusal> {
        let now = self.mail.now_secs();
        let mut records = Vec::with_capacity(events.len());
        for event in &events {
            records.push(
                EvidenceRecord::new(
                    event.kind,
                    &event.msg_id,
                    &event.parties,
                    now,
                    &event.reason,
                )
                .map_err(|e| Refusal::BadEvent(e.to_string()))?,
            );
        }
        let mut queued = QueuedRecords {
            mail: self.mail.clone(),
            claimed: Vec::with_capacity(records.len()),
            found: Vec::new(),
            pending: None,
        };
        for key in records.iter().map(record_key) {
            if !self.mail.claim_record(&key) {
                // Dropping `queued` releases what it claimed.
                return Err(Refusal::Busy {
                    retry_after: PENDING_RETRY,
                });
            }
            queued.claimed.push(key);
        }
        let looked_for = records.clone();
        let found = self
            .mail
            .blocking(move |mail| {
                looked_for
                    .iter()
                    .map(|r| mail.logged_record(r))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let key = &self.mail.parts().log_key;
        let fresh: Vec<pb::LogEntry> = records
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(r, _)| r.sign(key))
            .collect();
        if !fresh.is_empty() {
            queued.pending = Some(self.mail.enqueue_batch(&fresh)?);
        }
        queued.found = found;
        Ok(queued)
    }
}

/// Records queued by [`EvidenceRecorder::queue_all`], not yet durable.
#[derive(Debug)]
#[must_use = "the records are queued either way; this tells whether they were logged"]
pub struct QueuedRecords {
    mail: Intake,
    /// The records' keys, claimed until their round is answered.
    claimed: Vec<Vec<u8>>,
    /// Per record, its index if it was logged before.
    found: Vec<Option<u64>>,
    /// The round of the records that were not, if any.
    pending: Option<crate::sequencer::PendingBatch>,
}

impl QueuedRecords {
    /// Waits for the records' round and returns where each is, as
    /// [`record_all`](EvidenceRecorder::record_all) does (an error if the round failed).
    pub async fn durable(mut self) -> Result<Vec<Recorded>, Refusal> {
        let first = match self.pending.as_mut() {
            Some(pending) => {
                let answered = pending.await;
                // Answered: the claims can go (`Drop`) at once.
                self.pending = None;
                answered.map_err(Refusal::from_submit)?.first
            }
            None => 0,
        };
        let mut next = first;
        Ok(std::mem::take(&mut self.found)
            .into_iter()
            .map(|f| match f {
                Some(index) => Recorded::AlreadyLogged(index),
                None => {
                    next += 1;
                    Recorded::Logged(next - 1)
                }
            })
            .collect())
    }
}

impl Drop for QueuedRecords {
    fn drop(&mut self) {
        let (mail, claimed) = (self.mail.clone(), std::mem::take(&mut self.claimed));
        let release = move || {
            for key in &claimed {
                mail.release_record(key);
            }
        };
        match (self.pending.take(), tokio::runtime::Handle::try_current()) {
            // Dropped before its round was answered: the claims hold until it is, so another
            // call cannot find the records missing while they are still on their way.
            (Some(pending), Ok(runtime)) => {
                runtime.spawn(async move {
                    let _ = pending.await;
                    release();
                });
            }
            _ => release(),
        }
    }
}

/// What makes two records the same record.
fn record_key(record: &EvidenceRecord) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + 64 + record.msg_id.len());
    key.extend_from_slice(&(record.kind as i32).to_le_bytes());
    key.extend_from_slice(&record.sender_commitment);
    key.extend_from_slice(&record.recipient_commitment);
    key.extend_from_slice(&record.msg_id);
    key
}

impl Intake {
    /// The index of the logged record that `record` repeats (same kind and commitments for its
    /// msg_id), if any; refuses when the msg_id already has its most records.
    fn logged_record(&self, record: &EvidenceRecord) -> Result<Option<u64>, Refusal> {
        let listed = self
            .parts()
            .store
            .index_leaves("msg-id", &record.msg_id, 0, MAX_EVIDENCE_PER_ANSWER)
            .map_err(Refusal::from_read)?;
        for &index in &listed {
            if let Some(logged) = self.evidence_at(index)?
                && logged.kind == record.kind as i32
                && logged.sender_commitment == record.sender_commitment
                && logged.recipient_commitment == record.recipient_commitment
            {
                return Ok(Some(index));
            }
        }
        if listed.len() >= MAX_EVIDENCE_PER_ANSWER {
            return Err(Refusal::BadEvent(format!(
                "msg_id already has {MAX_EVIDENCE_PER_ANSWER} records"
            )));
        }
        Ok(None)
    }

    /// The `Evidence` leaf at `index`, if it is one.
    fn evidence_at(&self, index: u64) -> Result<Option<pb::Evidence>, Refusal> {
        let entries = self
            .parts()
            .store
            .entries(index, 1)
            .map_err(Refusal::from_read)?;
        Ok(entries
            .first()
            .and_then(|b| decode::<pb::LogEntry>(b, MAX_LOG_ENTRY_BYTES).ok())
            .and_then(|e| match e.kind {
                Some(log_entry::Kind::Evidence(ev)) => Some(ev),
                _ => None,
            }))
    }

    /// The delivery status of `msg_id` (see the module docs): NOT_FOUND when no record is
    /// logged, PENDING while the cosigned checkpoint covers none.
    pub async fn evidence_status(&self, msg_id: Vec<u8>) -> Result<pb::EvidenceAnswer, Refusal> {
        let answer = self.evidence_found(msg_id).await?;
        match (answer.records.is_empty(), answer.pending) {
            (true, 0) => Err(Refusal::NotFound("no evidence is logged for this msg_id")),
            (true, _) => Err(Refusal::Pending {
                retry_after: PENDING_RETRY,
            }),
            (false, _) => Ok(answer),
        }
    }

    /// The records of `msg_id` the cosigned checkpoint covers, with it, and how many more are
    /// logged; without records (and without a checkpoint) when none is covered, `pending` 0
    /// when none is logged: the answer a peer's query gets signed either way
    /// (`evidence::unproven_relayed_answer`).
    pub(crate) async fn evidence_found(
        &self,
        msg_id: Vec<u8>,
    ) -> Result<pb::EvidenceAnswer, Refusal> {
        self.blocking(move |mail| {
            let store = &mail.parts().store;
            let listed = store
                .index_leaves("msg-id", &msg_id, 0, MAX_EVIDENCE_PER_ANSWER)
                .map_err(Refusal::from_read)?;
            let uncovered = |pending: usize| pb::EvidenceAnswer {
                pending: u32::try_from(pending).unwrap_or(u32::MAX),
                ..pb::EvidenceAnswer::default()
            };
            if listed.is_empty() {
                return Ok(uncovered(0));
            }
            let Some((note, size)) = mail.cosigned()? else {
                return Ok(uncovered(listed.len()));
            };
            let mut records = Vec::new();
            let mut pending = 0u32;
            for index in listed {
                if index >= size {
                    pending += 1;
                    continue;
                }
                let entry = store
                    .entries(index, 1)
                    .map_err(Refusal::from_read)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| Refusal::Internal(format!("entry {index} is missing")))?;
                let hashes = store
                    .inclusion_proof(index, size)
                    .map_err(Refusal::from_read)?;
                records.push(pb::LoggedRecord {
                    entry,
                    proof: Some(pb::InclusionProof::new(index, size, &hashes)),
                });
            }
            if records.is_empty() {
                return Ok(uncovered(pending as usize));
            }
            Ok(pb::EvidenceAnswer {
                checkpoint: note,
                records,
                pending,
                gateway_signature: Vec::new(),
            })
        })
        .await
    }
}
