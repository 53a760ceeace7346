//! S_A's durable outbound queue (DESIGN §3.2 "Store and forward"), in sled tree `outbox`:
//! a mail is queued (flushed) before its sender is told it was accepted, tried until S_B
//! acknowledges it or its expiry passes, and then leaves a delivery record its sender can list.
//!
//! | key | value (sealed by [`AtRest`]) |
//! |---|---|
//! | `o` ‖ tag(sender, msg_id) | next attempt (ms, 8 LE) ‖ attempts (4 LE) ‖ `RelayEnvelope` |
//! | `o` ‖ tag(sender, msg_id) | the same ‖ 0 ‖ Z's length (8 LE) ‖ BLAKE3(Z) ‖ `RelayEnvelope` with Z empty (a large mail) |
//! | `z` ‖ tag(sender, msg_id) ‖ offset (8 BE) | 48 KiB of a large mail's Z ([`PIECE_BYTES`]) |
//! | `s` ‖ label(sender) ‖ seq (8 BE) | `OutboxEntry`: delivered, or not delivered and why |
//!
//! Keyed by (sender, msg_id): a mail sent twice (a client retrying after a lost answer) is
//! queued once. The relay envelope holds only Z, never M.
//!
//! **A large mail lies in pieces** (one that travels in chunks, `paep::transfer`), as in the
//! mailbox: its record holds the relay envelope with Z empty, and Z lies in pieces of one relay
//! chunk each, written with the record in one flushed batch and removed with it in one batch,
//! so no record is larger than a chunk and a crash leaves all or none. Reading the queue opens
//! the records only; the relay reads Z piece by piece as it sends the chunks
//! ([`Outbox::piece`]). Records written whole before this (Z in the relay envelope) still
//! read and relay.
//!
//! **What is due** is kept in memory beside the tree ([`Due`]: the queue keys ordered by next
//! attempt), read from the tree once when the node opens it and kept in step by every write
//! here, so the relay task opens only the records that are due ([`Outbox::take_due`]) and a
//! large queue of mail waiting for its retry costs nothing per look.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::paep::transfer::{travels_in_chunks, validate_head};
use herald_proto::wire::{
    MAIL_CHUNK_BYTES, MAX_CLIENT_REQUEST_BYTES, MAX_OUTBOX_ENTRIES, decode, pb,
};
use prost::Message as _;

use super::at_rest::{AtRest, LABEL_LEN, StoreError, flush_failed};
use crate::db::GroupFlush;

const QUEUED: u8 = b'o';
const STATUS: u8 = b's';
const PIECE: u8 = b'z';
/// Marks a record whose Z lies in pieces (never the first byte of a `RelayEnvelope`'s encoding:
/// protobuf has no field 0).
const PIECED: u8 = 0;
/// Bytes of Z in one piece of a large queued mail: one relay chunk.
pub(crate) const PIECE_BYTES: usize = MAIL_CHUNK_BYTES;
const QUEUE_SCOPE: &[u8] = b"outbox";
const QUEUE_PURPOSE: &str = "herald v1 outbox key";

/// One mail in the queue.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    /// Its sled key.
    pub key: Vec<u8>,
    /// When to try next, Unix ms.
    pub next_attempt_ms: u64,
    /// Attempts made.
    pub attempts: u32,
    /// What goes to S_B (its envelope's Z empty if `pieces`).
    pub relay: pb::RelayEnvelope,
    /// The envelope inside it (a copy: a record without one does not read).
    pub envelope: pb::MailEnvelope,
    /// Where Z is when it lies in pieces ([`Outbox::piece`]); `None`: in `relay`.
    pub pieces: Option<Pieces>,
}

/// The Z of a large queued mail, kept in pieces (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pieces {
    /// Z's length.
    pub total: u64,
    /// BLAKE3(Z), which the relay signature covers (checked when the pieces are put together).
    pub z_hash: [u8; 32],
}

impl Queued {
    /// Whether its Z travels in chunks (it lies in pieces, or in a record written whole
    /// before pieces).
    pub(crate) fn travels_in_chunks(&self) -> bool {
        self.pieces.is_some() || travels_in_chunks(self.envelope.ciphertext.len())
    }
}

/// The queued mails not being tried right now, by next attempt (module docs). A key taken by
/// [`Outbox::take_due`] is out of it until its attempt ends in a retry (back in) or a finish.
#[derive(Debug, Default)]
struct Due {
    by_time: BTreeSet<(u64, Vec<u8>)>,
    at: HashMap<Vec<u8>, u64>,
    /// Keys taken and not yet retried or finished.
    taken: usize,
}

impl Due {
    /// The attempt on `key` ended: out of the taken (or, if it was waiting, of the waiting
    /// set), then waiting again until `next_ms` if given.
    fn settle(&mut self, key: Vec<u8>, next_ms: Option<u64>) {
        match self.at.remove(&key) {
            Some(old) => {
                self.by_time.remove(&(old, key.clone()));
            }
            None => self.taken = self.taken.saturating_sub(1),
        }
        if let Some(next) = next_ms {
            self.insert(key, next);
        }
    }

    fn insert(&mut self, key: Vec<u8>, next_ms: u64) {
        if let Some(old) = self.at.insert(key.clone(), next_ms) {
            self.by_time.remove(&(old, key.clone()));
        }
        self.by_time.insert((next_ms, key));
    }
}

/// The queue. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Outbox {
    tree: sled::Tree,
    db: sled::Db,
    at_rest: Arc<AtRest>,
    due: Arc<Mutex<Due>>,
    /// The flushes of queueing, retries and ends, shared by those in flight (`db::GroupFlush`).
    flushes: Arc<GroupFlush>,
}

impl Outbox {
    /// The queue in `tree`; reads every queued record once to know what is due when (a record
    /// that does not read is reported and left out). Blocking.
    pub(crate) fn new(db: sled::Db, tree: sled::Tree, at_rest: Arc<AtRest>) -> Self {
        let outbox = Outbox {
            flushes: Arc::new(GroupFlush::new(tree.clone())),
            tree,
            db,
            at_rest,
            due: Arc::default(),
        };
        let mut due = Due::default();
        for item in outbox.queued() {
            match item {
                Ok(q) => due.insert(q.key, q.next_attempt_ms),
                Err(e) => {
                    tracing::error!(error = %e, "an outbound queue record does not read; left in place")
                }
            }
        }
        *outbox.due() = due;
        outbox
    }

    fn due(&self) -> std::sync::MutexGuard<'_, Due> {
        // An index of keys only: a panic elsewhere leaves it usable.
        self.due.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Mails in the queue (waiting or being tried).
    pub(crate) fn len(&self) -> usize {
        let due = self.due();
        due.at.len() + due.taken
    }

    /// When the earliest waiting mail is due, Unix ms.
    pub(crate) fn next_due_ms(&self) -> Option<u64> {
        self.due().by_time.first().map(|(t, _)| *t)
    }

    /// Takes up to `max` mails due at `now_ms` out of the waiting set, earliest first, and
    /// opens only those; each must end in [`retry`](Self::retry),
    /// [`finish`](Self::finish) or [`put_back`](Self::put_back). A record that does not read is
    /// reported and left in the tree, out of the waiting set until the node opens the queue
    /// again. Blocking.
    pub(crate) fn take_due(&self, now_ms: u64, max: usize) -> Vec<Result<Queued, StoreError>> {
        let keys: Vec<Vec<u8>> = {
            let mut due = self.due();
            let mut keys = Vec::new();
            while keys.len() < max {
                match due.by_time.first() {
                    Some((t, _)) if *t <= now_ms => {}
                    _ => break,
                }
                let Some((_, key)) = due.by_time.pop_first() else {
                    break;
                };
                due.at.remove(&key);
                keys.push(key);
            }
            due.taken += keys.len();
            keys
        };
        let mut taken = Vec::with_capacity(keys.len());
        for key in keys {
            match self.tree.get(&key) {
                Ok(Some(sealed)) => taken.push(self.read(&key, &sealed)),
                Ok(None) => {}
                Err(e) => taken.push(Err(e.into())),
            }
            if !matches!(taken.last(), Some(Ok(_))) {
                let mut due = self.due();
                due.taken = due.taken.saturating_sub(1);
            }
        }
        taken
    }

    /// Returns a taken mail to the waiting set, due at `next_attempt_ms`, unchanged on disk
    /// (its attempt's outcome could not be recorded).
    pub(crate) fn put_back(&self, queued: &Queued, next_attempt_ms: u64) {
        self.due().settle(queued.key.clone(), Some(next_attempt_ms));
    }

    fn queue_key(&self, envelope: &pb::MailEnvelope) -> Vec<u8> {
        let mut id = Vec::new();
        herald_proto::entry::lp(&mut id, envelope.sender.as_bytes());
        herald_proto::entry::lp(&mut id, &envelope.msg_id);
        let mut key = vec![QUEUED];
        key.extend_from_slice(&self.at_rest.tag(QUEUE_PURPOSE, &id));
        key
    }

    /// The record of `queued` (its head only, if its Z lies in pieces), sealed.
    fn sealed_record(&self, queued: &Queued) -> Result<Vec<u8>, StoreError> {
        let mut value = queued.next_attempt_ms.to_le_bytes().to_vec();
        value.extend_from_slice(&queued.attempts.to_le_bytes());
        if let Some(p) = &queued.pieces {
            value.push(PIECED);
            value.extend_from_slice(&p.total.to_le_bytes());
            value.extend_from_slice(&p.z_hash);
        }
        value.extend(queued.relay.encode_to_vec());
        self.at_rest.seal(QUEUE_SCOPE, &queued.key, &value)
    }

    fn write(&self, queued: &Queued) -> Result<(), StoreError> {
        let sealed = self.sealed_record(queued)?;
        self.tree.insert(&queued.key, sealed)?;
        Ok(())
    }

    /// The key of the piece of Z at `offset` of the mail queued under `queue_key`.
    fn piece_key(queue_key: &[u8], offset: u64) -> Vec<u8> {
        let mut key = vec![PIECE];
        key.extend_from_slice(queue_key.get(1..).unwrap_or_default());
        key.extend_from_slice(&offset.to_be_bytes());
        key
    }

    /// The piece keys of a mail queued under `queue_key` whose Z is `total` bytes.
    fn piece_keys(queue_key: &[u8], total: u64) -> impl Iterator<Item = Vec<u8>> + '_ {
        (0..total)
            .step_by(PIECE_BYTES)
            .map(move |offset| Self::piece_key(queue_key, offset))
    }

    /// The piece of a large queued mail's Z holding `offset`, from `offset` to the piece's
    /// end (at most [`PIECE_BYTES`]). Blocking.
    pub(crate) fn piece(&self, queued: &Queued, offset: u64) -> Result<Vec<u8>, StoreError> {
        let corrupt = |why: &str| StoreError::Corrupt(format!("an outbox piece: {why}"));
        let Some(p) = &queued.pieces else {
            return Err(corrupt("the mail is not kept in pieces"));
        };
        if offset >= p.total {
            return Err(corrupt("past the end of Z"));
        }
        let start = offset - offset % PIECE_BYTES as u64;
        let key = Self::piece_key(&queued.key, start);
        let sealed = self.tree.get(&key)?.ok_or_else(|| corrupt("missing"))?;
        let piece = self.at_rest.open(QUEUE_SCOPE, &key, &sealed)?;
        let expected = (p.total - start).min(PIECE_BYTES as u64) as usize;
        if piece.len() != expected {
            return Err(corrupt("of the wrong length"));
        }
        Ok(piece[(offset - start) as usize..].to_vec())
    }

    /// The whole envelope of `queued`, its Z put together from its pieces (if it lies in
    /// pieces) and checked against the hash its relay signature covers. Blocking.
    pub(crate) fn whole(&self, queued: &Queued) -> Result<pb::MailEnvelope, StoreError> {
        let Some(p) = &queued.pieces else {
            return Ok(queued.envelope.clone());
        };
        let mut z = Vec::with_capacity(p.total as usize);
        for offset in (0..p.total).step_by(PIECE_BYTES) {
            z.extend(self.piece(queued, offset)?);
        }
        if blake3::hash(&z).as_bytes() != &p.z_hash {
            return Err(StoreError::Corrupt(
                "an outbox mail's pieces do not hash to its Z".into(),
            ));
        }
        Ok(pb::MailEnvelope {
            ciphertext: z,
            ..queued.envelope.clone()
        })
    }

    fn read(&self, key: &[u8], sealed: &[u8]) -> Result<Queued, StoreError> {
        let value = self.at_rest.open(QUEUE_SCOPE, key, sealed)?;
        let corrupt = |why: &str| StoreError::Corrupt(format!("an outbox record: {why}"));
        let next = value
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| corrupt("short"))?;
        let attempts = value
            .get(8..12)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| corrupt("short"))?;
        let (pieces, rest) = match value.get(12..) {
            Some([PIECED, rest @ ..]) => {
                let total = rest
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes)
                    .ok_or_else(|| corrupt("short"))?;
                let z_hash = rest
                    .get(8..40)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| corrupt("short"))?;
                (Some(Pieces { total, z_hash }), &rest[40..])
            }
            Some(rest) => (None, rest),
            None => (None, &[][..]),
        };
        let relay: pb::RelayEnvelope = decode(rest, super::transfer_store::MAX_STORED_MAIL_BYTES)
            .map_err(|e| corrupt(&e.to_string()))?;
        let envelope = relay
            .envelope
            .clone()
            .ok_or_else(|| corrupt("no envelope"))?;
        match &pieces {
            Some(_) => validate_head(&envelope),
            None => relay.validate_fields(),
        }
        .map_err(|e| corrupt(&e.to_string()))?;
        Ok(Queued {
            key: key.to_vec(),
            next_attempt_ms: next,
            attempts,
            relay,
            envelope,
            pieces,
        })
    }

    /// [`enqueue_all`](Self::enqueue_all) of one relay (the service queues through
    /// `grouped`, in groups).
    #[cfg(test)]
    pub(crate) fn enqueue(
        &self,
        relay: pb::RelayEnvelope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.enqueue_all(vec![(relay, now_ms)])
            .pop()
            .unwrap_or_else(|| Err(StoreError::Corrupt("no outcome of a queueing".into())))
    }

    /// Queues each of `relays` for its first attempt at its time, with one flush for all of
    /// them: per relay, in order, `false` if this sender's mail of this msg_id is queued
    /// already (nothing changes), each durable when this returns. A repeat (its first send may
    /// still have been waiting for its flush) is answered after the same flush. Blocking.
    pub(crate) fn enqueue_all(
        &self,
        relays: Vec<(pb::RelayEnvelope, u64)>,
    ) -> Vec<Result<bool, StoreError>> {
        let written: Vec<_> = relays
            .into_iter()
            .map(|(relay, now_ms)| self.enqueue_in_memory(relay, now_ms))
            .collect();
        let flushed = self.flushes.flush();
        written
            .into_iter()
            .map(|outcome| {
                let new = outcome?;
                if let Err(e) = &flushed {
                    return Err(flush_failed(e));
                }
                Ok(match new {
                    Some((key, now_ms)) => {
                        self.due().insert(key, now_ms);
                        true
                    }
                    None => false,
                })
            })
            .collect()
    }

    /// One relay's write of [`enqueue_all`](Self::enqueue_all), not yet flushed: the key and
    /// first attempt of a new mail, `None` for a repeat. A Z that travels in chunks is kept in
    /// pieces (module docs), in one batch with the record.
    fn enqueue_in_memory(
        &self,
        mut relay: pb::RelayEnvelope,
        now_ms: u64,
    ) -> Result<Option<(Vec<u8>, u64)>, StoreError> {
        let mut envelope = relay
            .envelope
            .take()
            .ok_or_else(|| StoreError::Corrupt("a relay without its envelope".into()))?;
        let key = self.queue_key(&envelope);
        if self.tree.get(&key)?.is_some() {
            return Ok(None);
        }
        let mut batch = sled::Batch::default();
        let pieces = if travels_in_chunks(envelope.ciphertext.len()) {
            let z = std::mem::take(&mut envelope.ciphertext);
            for (i, piece) in z.chunks(PIECE_BYTES).enumerate() {
                let piece_key = Self::piece_key(&key, (i * PIECE_BYTES) as u64);
                let sealed = self.at_rest.seal(QUEUE_SCOPE, &piece_key, piece)?;
                batch.insert(piece_key, sealed);
            }
            Some(Pieces {
                total: z.len() as u64,
                z_hash: *blake3::hash(&z).as_bytes(),
            })
        } else {
            None
        };
        relay.envelope = Some(envelope.clone());
        let queued = Queued {
            key: key.clone(),
            next_attempt_ms: now_ms,
            attempts: 0,
            relay,
            envelope,
            pieces,
        };
        batch.insert(key.as_slice(), self.sealed_record(&queued)?);
        self.tree.apply_batch(batch)?;
        Ok(Some((key, now_ms)))
    }

    /// Every queued mail, read from the tree; a record that does not read is reported and
    /// skipped by the caller. Blocking; costs the whole queue (listing, opening).
    pub(crate) fn queued(&self) -> Vec<Result<Queued, StoreError>> {
        self.tree
            .scan_prefix([QUEUED])
            .map(|item| {
                let (k, v) = item?;
                self.read(&k, &v)
            })
            .collect()
    }

    /// Records a failed attempt of a taken mail: the next one at `next_attempt_ms`, when it is
    /// due again. Blocking; flushed. On an error the mail stays taken (the caller puts it back).
    pub(crate) fn retry(&self, mut queued: Queued, next_attempt_ms: u64) -> Result<(), StoreError> {
        queued.attempts = queued.attempts.saturating_add(1);
        queued.next_attempt_ms = next_attempt_ms;
        self.write(&queued)?;
        self.flushes.flush()?;
        self.due().settle(queued.key, Some(next_attempt_ms));
        Ok(())
    }

    /// Ends a queued mail: removes it and records `state` (with `reason`) for its sender, in one
    /// batch. Blocking; flushed.
    pub(crate) fn finish(
        &self,
        queued: &Queued,
        state: pb::DeliveryState,
        reason: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        self.finish_in_memory(queued, state, reason, now)?;
        self.flushes.flush()?;
        self.due().settle(queued.key.clone(), None);
        Ok(())
    }

    /// [`finish`](Self::finish) of each of `mails` as delivered (each with its time), with one
    /// flush for all of them: one outcome per mail, in order, each durable when this returns.
    pub(crate) fn finish_delivered(&self, mails: &[(Queued, u64)]) -> Vec<Result<(), StoreError>> {
        let written: Vec<Result<(), StoreError>> = mails
            .iter()
            .map(|(q, now)| self.finish_in_memory(q, pb::DeliveryState::Delivered, "", *now))
            .collect();
        let flushed = self.flushes.flush();
        mails
            .iter()
            .zip(written)
            .map(|((queued, _), outcome)| {
                outcome?;
                if let Err(e) = &flushed {
                    return Err(flush_failed(e));
                }
                self.due().settle(queued.key.clone(), None);
                Ok(())
            })
            .collect()
    }

    /// [`finish`](Self::finish)'s batch, applied, not yet flushed.
    fn finish_in_memory(
        &self,
        queued: &Queued,
        state: pb::DeliveryState,
        reason: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        let envelope = &queued.envelope;
        let label = self.at_rest.label(&envelope.sender);
        let mut key = vec![STATUS];
        key.extend_from_slice(&label);
        key.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        let mut reason = reason.to_owned();
        let mut end = reason
            .len()
            .min(herald_proto::wire::client::MAX_DELIVERY_REASON_BYTES);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        let entry = pb::OutboxEntry {
            msg_id: envelope.msg_id.clone(),
            recipient: envelope.recipient.clone(),
            state: state as i32,
            reason,
            attempts: queued.attempts.saturating_add(1),
            updated_at: now,
        };
        let sealed = self.at_rest.seal(&label, &key, &entry.encode_to_vec())?;
        let mut batch = sled::Batch::default();
        batch.remove(queued.key.as_slice());
        if let Some(p) = &queued.pieces {
            for piece_key in Self::piece_keys(&queued.key, p.total) {
                batch.remove(piece_key);
            }
        }
        batch.insert(key, sealed);
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Deletes the delivery records (`s` keys) last updated before `now - retention`, as the
    /// mailboxes drop what is past the same retention; returns how many went. A record that
    /// does not open is left in place (its age is sealed with it) and reported. Blocking;
    /// flushed.
    pub(crate) fn sweep(&self, now: u64, retention: u64) -> Result<usize, StoreError> {
        let cutoff = now.saturating_sub(retention);
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for item in self.tree.scan_prefix([STATUS]) {
            let (k, v) = item?;
            let Some(label) = k.get(1..=LABEL_LEN) else {
                tracing::error!("a short delivery record key in the outbox; left in place");
                continue;
            };
            let updated_at = self
                .at_rest
                .open(label, &k, &v)
                .map_err(|e| e.to_string())
                .and_then(|plain| {
                    decode::<pb::OutboxEntry>(&plain, MAX_CLIENT_REQUEST_BYTES)
                        .map_err(|e| e.to_string())
                })
                .map(|entry| entry.updated_at);
            match updated_at {
                Ok(t) if t < cutoff => {
                    batch.remove(k);
                    removed += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "a delivery record does not read; left in place")
                }
            }
        }
        if removed > 0 {
            self.tree.apply_batch(batch)?;
            self.tree.flush()?;
        }
        Ok(removed)
    }

    /// What became of `sender`'s mails: those still queued, then delivery records newest first,
    /// at most `MAX_OUTBOX_ENTRIES` in all. Blocking.
    pub(crate) fn list(&self, sender: &str) -> Result<pb::Outbox, StoreError> {
        let mut outbox = pb::Outbox::default();
        for queued in self.queued().into_iter().flatten() {
            let e = &queued.envelope;
            if e.sender == sender && outbox.entries.len() < MAX_OUTBOX_ENTRIES {
                outbox.entries.push(pb::OutboxEntry {
                    msg_id: e.msg_id.clone(),
                    recipient: e.recipient.clone(),
                    state: pb::DeliveryState::Queued as i32,
                    reason: String::new(),
                    attempts: queued.attempts,
                    updated_at: queued.next_attempt_ms / 1000,
                });
            }
        }
        let label = self.at_rest.label(sender);
        let mut prefix = vec![STATUS];
        prefix.extend_from_slice(&label);
        for item in self.tree.scan_prefix(prefix).rev() {
            if outbox.entries.len() >= MAX_OUTBOX_ENTRIES {
                break;
            }
            let (k, v) = item?;
            let plain = self.at_rest.open(&label, &k, &v)?;
            let entry: pb::OutboxEntry = decode(&plain, MAX_CLIENT_REQUEST_BYTES)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            outbox.entries.push(entry);
        }
        Ok(outbox)
    }
}

#[cfg(test)]
mod tests;
