//! S_A's durable outbound queue (DESIGN §3.2 "Store and forward"), in sled tree `outbox`:
//! a mail is queued (flushed) before its sender is told it was accepted, tried until S_B
//! acknowledges it or its expiry passes, and then leaves a delivery record its sender can list.
//!
//! | key | value (sealed by [`AtRest`]) |
//! |---|---|
//! | `o` ‖ tag(sender, msg_id) | next attempt (ms, 8 LE) ‖ attempts (4 LE) ‖ `RelayEnvelope` |
//! | `s` ‖ label(sender) ‖ seq (8 BE) | `OutboxEntry`: delivered, or not delivered and why |
//!
//! Keyed by (sender, msg_id): a mail sent twice (a client retrying after a lost answer) is
//! queued once. The relay envelope holds only Z, never M.

use std::sync::Arc;

use herald_proto::wire::{MAX_CLIENT_REQUEST_BYTES, MAX_OUTBOX_ENTRIES, decode, pb};
use prost::Message as _;

use super::at_rest::{AtRest, StoreError};

const QUEUED: u8 = b'o';
const STATUS: u8 = b's';
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
    /// What goes to S_B.
    pub relay: pb::RelayEnvelope,
    /// The envelope inside it (a copy: a record without one does not read).
    pub envelope: pb::MailEnvelope,
}

/// The queue. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Outbox {
    tree: sled::Tree,
    db: sled::Db,
    at_rest: Arc<AtRest>,
}

impl Outbox {
    pub(crate) fn new(db: sled::Db, tree: sled::Tree, at_rest: Arc<AtRest>) -> Self {
        Outbox { tree, db, at_rest }
    }

    fn queue_key(&self, envelope: &pb::MailEnvelope) -> Vec<u8> {
        let mut id = Vec::new();
        herald_proto::entry::lp(&mut id, envelope.sender.as_bytes());
        herald_proto::entry::lp(&mut id, &envelope.msg_id);
        let mut key = vec![QUEUED];
        key.extend_from_slice(&self.at_rest.tag(QUEUE_PURPOSE, &id));
        key
    }

    fn write(&self, queued: &Queued) -> Result<(), StoreError> {
        let mut value = queued.next_attempt_ms.to_le_bytes().to_vec();
        value.extend_from_slice(&queued.attempts.to_le_bytes());
        value.extend(queued.relay.encode_to_vec());
        let sealed = self.at_rest.seal(QUEUE_SCOPE, &queued.key, &value)?;
        self.tree.insert(&queued.key, sealed)?;
        Ok(())
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
        let relay: pb::RelayEnvelope = decode(
            value.get(12..).unwrap_or_default(),
            MAX_CLIENT_REQUEST_BYTES,
        )
        .map_err(|e| corrupt(&e.to_string()))?;
        relay
            .validate_fields()
            .map_err(|e| corrupt(&e.to_string()))?;
        let envelope = relay
            .envelope
            .clone()
            .ok_or_else(|| corrupt("no envelope"))?;
        Ok(Queued {
            key: key.to_vec(),
            next_attempt_ms: next,
            attempts,
            relay,
            envelope,
        })
    }

    /// Queues `relay` for its first attempt at `now_ms`; `false` if this sender's mail of this
    /// msg_id is queued already (nothing changes). Blocking; flushed when it returns.
    pub(crate) fn enqueue(
        &self,
        relay: pb::RelayEnvelope,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let envelope = relay
            .envelope
            .clone()
            .ok_or_else(|| StoreError::Corrupt("a relay without its envelope".into()))?;
        let key = self.queue_key(&envelope);
        if self.tree.get(&key)?.is_some() {
            return Ok(false);
        }
        self.write(&Queued {
            key,
            next_attempt_ms: now_ms,
            attempts: 0,
            relay,
            envelope,
        })?;
        self.tree.flush()?;
        Ok(true)
    }

    /// Every queued mail; a record that does not read is reported and skipped by the caller.
    pub(crate) fn queued(&self) -> Vec<Result<Queued, StoreError>> {
        self.tree
            .scan_prefix([QUEUED])
            .map(|item| {
                let (k, v) = item?;
                self.read(&k, &v)
            })
            .collect()
    }

    /// Records a failed attempt: the next one at `next_attempt_ms`. Blocking; flushed.
    pub(crate) fn retry(&self, mut queued: Queued, next_attempt_ms: u64) -> Result<(), StoreError> {
        queued.attempts = queued.attempts.saturating_add(1);
        queued.next_attempt_ms = next_attempt_ms;
        self.write(&queued)?;
        self.tree.flush()?;
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
        batch.insert(key, sealed);
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        Ok(())
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
mod tests {
    use ed25519_dalek::SigningKey;
    use zeroize::Zeroizing;

    use super::*;

    fn relay(msg_id: &[u8]) -> pb::RelayEnvelope {
        let envelope = pb::MailEnvelope {
            msg_id: msg_id.to_vec(),
            sender: "alice@alpha.test".into(),
            recipient: "bob@beta.test".into(),
            ephemeral_key: vec![9; 32],
            prekey_id: 1,
            ciphertext: vec![0x5a; 32],
            sender_signature: vec![2; 64],
        };
        herald_proto::paep::sign_relay(
            envelope,
            "alpha.test",
            5000,
            &SigningKey::from_bytes(&[1; 32]),
        )
        .unwrap()
    }

    #[test]
    fn a_mail_is_queued_once_retried_and_its_outcome_listed_for_its_sender_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let tree = crate::db::Tree::Outbox.open(&db).unwrap();
        let outbox = Outbox::new(
            db.clone(),
            tree.clone(),
            Arc::new(AtRest::new(Zeroizing::new([3; 32]))),
        );
        assert!(outbox.enqueue(relay(b"m-1"), 1000).unwrap());
        assert!(!outbox.enqueue(relay(b"m-1"), 1001).unwrap(), "queued once");
        assert!(outbox.enqueue(relay(b"m-2"), 1000).unwrap());
        let queued: Vec<Queued> = outbox.queued().into_iter().map(Result::unwrap).collect();
        assert_eq!(queued.len(), 2);
        let first = queued
            .iter()
            .find(|q| q.envelope.msg_id == b"m-1")
            .unwrap()
            .clone();
        outbox.retry(first.clone(), 9000).unwrap();
        let again = outbox
            .queued()
            .into_iter()
            .map(Result::unwrap)
            .find(|q| q.envelope.msg_id == b"m-1")
            .unwrap();
        assert_eq!((again.attempts, again.next_attempt_ms), (1, 9000));
        outbox
            .finish(&again, pb::DeliveryState::NotDelivered, "expired", 6000)
            .unwrap();
        let listed = outbox.list("alice@alpha.test").unwrap();
        assert_eq!(listed.entries.len(), 2);
        let done = listed.entries.iter().find(|e| e.msg_id == b"m-1").unwrap();
        assert_eq!(done.state, pb::DeliveryState::NotDelivered as i32);
        assert_eq!((done.reason.as_str(), done.attempts), ("expired", 2));
        assert!(outbox.list("carol@alpha.test").unwrap().entries.is_empty());
        // Nothing of the addresses in clear.
        for kv in tree.iter() {
            let (k, v) = kv.unwrap();
            let bytes = [k.to_vec(), v.to_vec()].concat();
            assert!(!bytes.windows(13).any(|w| w == b"bob@beta.test"));
        }
    }
}
