//! Mailboxes at rest (DESIGN §4 "Mailboxes"): what S_B holds for its accounts until they fetch
//! and acknowledge it, in sled tree `mail`, each entry sealed by [`AtRest`] for its account.
//!
//! | key | value |
//! |---|---|
//! | `b` ‖ label ‖ id (8 bytes BE) | received_at (8 LE) ‖ `StoredMail` sealed for the label |
//! | `d` ‖ label ‖ tag(sender, msg_id) | created_at (8 LE): the mail was taken once |
//! | `u` ‖ label | bytes held (8 LE), for the quota |
//!
//! - **Idempotent by msg_id.** A relay of a mail already taken (a retry after a lost answer, a
//!   duplicate, a replay) stores nothing and says so; the `d` marker outlives the entry's
//!   acknowledgement until the retention period, which is at least the longest expiry, so a
//!   replay after that is refused as expired by `paep::verify_relay`.
//! - **Durable before acknowledged.** One sled batch per change, flushed before the answer.
//! - **Quota per account** in bytes of ciphertext held; **retention** from the configuration:
//!   [`Mailboxes::sweep`] deletes entries (and markers) older than it.
//!
//! One writer at a time (a mutex): the quota and marker checks and the batch are one step.

use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::wire::{MAX_INBOX_ENTRIES, Validate as _, decode, pb};
use prost::Message as _;

use super::at_rest::{AtRest, LABEL_LEN, StoreError};

const ENTRY: u8 = b'b';
const TAKEN: u8 = b'd';
const USED: u8 = b'u';
const DEDUP_PURPOSE: &str = "herald v1 mailbox dedup";

/// What a delivery did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Stored as entry `id`.
    Stored(u64),
    /// Taken before: nothing stored.
    Duplicate,
    /// Over the account's quota: nothing stored.
    OverQuota,
}

/// The gateway's mailboxes. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Mailboxes {
    tree: sled::Tree,
    db: sled::Db,
    at_rest: Arc<AtRest>,
    quota_bytes: u64,
    writer: Arc<Mutex<()>>,
}

fn key(kind: u8, label: &[u8; LABEL_LEN], rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + LABEL_LEN + rest.len());
    k.push(kind);
    k.extend_from_slice(label);
    k.extend_from_slice(rest);
    k
}

fn u64_at(bytes: &[u8]) -> Result<u64, StoreError> {
    bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| StoreError::Corrupt("a short mailbox record".into()))
}

impl Mailboxes {
    /// The mailboxes in `tree` of `db`, sealed by `at_rest`, each holding at most
    /// `quota_bytes` of ciphertext.
    pub(crate) fn new(
        db: sled::Db,
        tree: sled::Tree,
        at_rest: Arc<AtRest>,
        quota_bytes: u64,
    ) -> Self {
        Mailboxes {
            tree,
            db,
            at_rest,
            quota_bytes,
            writer: Arc::new(Mutex::new(())),
        }
    }

    fn taken_key(&self, label: &[u8; LABEL_LEN], envelope: &pb::MailEnvelope) -> Vec<u8> {
        let mut id = Vec::with_capacity(envelope.sender.len() + envelope.msg_id.len() + 16);
        herald_proto::entry::lp(&mut id, envelope.sender.as_bytes());
        herald_proto::entry::lp(&mut id, &envelope.msg_id);
        key(TAKEN, label, &self.at_rest.tag(DEDUP_PURPOSE, &id))
    }

    /// Puts `envelope`, relayed by `from_domain`, in the mailbox of its recipient at `now`.
    /// Blocking; durable when it returns [`Delivered::Stored`].
    pub(crate) fn deliver(
        &self,
        envelope: &pb::MailEnvelope,
        from_domain: &str,
        now: u64,
    ) -> Result<Delivered, StoreError> {
        let account = &envelope.recipient;
        let label = self.at_rest.label(account);
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = self.taken_key(&label, envelope);
        if self.tree.get(&taken)?.is_some() {
            return Ok(Delivered::Duplicate);
        }
        let used_key = key(USED, &label, &[]);
        let used = match self.tree.get(&used_key)? {
            Some(v) => u64_at(&v)?,
            None => 0,
        };
        let size = envelope.ciphertext.len() as u64;
        if used.saturating_add(size) > self.quota_bytes {
            return Ok(Delivered::OverQuota);
        }
        let id = self.db.generate_id()?;
        let entry_key = key(ENTRY, &label, &id.to_be_bytes());
        let stored = pb::StoredMail {
            id,
            envelope: Some(envelope.clone()),
            received_at: now,
            from_domain: from_domain.to_owned(),
        };
        let mut value = now.to_le_bytes().to_vec();
        value.extend(
            self.at_rest
                .seal(&label, &entry_key, &stored.encode_to_vec())?,
        );
        let mut batch = sled::Batch::default();
        batch.insert(entry_key, value);
        batch.insert(taken, now.to_le_bytes().to_vec());
        batch.insert(used_key, (used + size).to_le_bytes().to_vec());
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        Ok(Delivered::Stored(id))
    }

    /// Bytes of ciphertext `account`'s mailbox holds (its quota's use). Blocking.
    pub(crate) fn used(&self, account: &str) -> Result<u64, StoreError> {
        match self
            .tree
            .get(key(USED, &self.at_rest.label(account), &[]))?
        {
            Some(v) => u64_at(&v),
            None => Ok(0),
        }
    }

    /// An entry read back, checked like anything from outside.
    fn read(
        &self,
        label: &[u8; LABEL_LEN],
        entry_key: &[u8],
        value: &[u8],
    ) -> Result<pb::StoredMail, StoreError> {
        let sealed = value.get(8..).ok_or(StoreError::Unreadable)?;
        let plain = self.at_rest.open(label, entry_key, sealed)?;
        let mail: pb::StoredMail = decode(&plain, super::transfer_store::MAX_STORED_MAIL_BYTES)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        mail.envelope
            .as_ref()
            .ok_or_else(|| StoreError::Corrupt("a stored mail without its envelope".into()))?
            .validate()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(mail)
    }

    /// The entries of `account`'s mailbox, oldest first, at most `MAX_INBOX_ENTRIES`.
    /// Blocking.
    pub(crate) fn list(&self, account: &str) -> Result<pb::Inbox, StoreError> {
        let label = self.at_rest.label(account);
        let mut inbox = pb::Inbox::default();
        for item in self.tree.scan_prefix(key(ENTRY, &label, &[])) {
            let (k, v) = item?;
            if inbox.entries.len() == MAX_INBOX_ENTRIES {
                inbox.truncated = true;
                break;
            }
            let mail = self.read(&label, &k, &v)?;
            let envelope = mail.envelope.unwrap_or_default();
            inbox.entries.push(pb::InboxEntry {
                id: mail.id,
                msg_id: envelope.msg_id,
                sender: envelope.sender,
                received_at: mail.received_at,
                size: envelope.ciphertext.len() as u64,
            });
        }
        Ok(inbox)
    }

    /// Entry `id` of `account`'s mailbox. Blocking.
    pub(crate) fn fetch(
        &self,
        account: &str,
        id: u64,
    ) -> Result<Option<pb::StoredMail>, StoreError> {
        let label = self.at_rest.label(account);
        let entry_key = key(ENTRY, &label, &id.to_be_bytes());
        match self.tree.get(&entry_key)? {
            Some(v) => self.read(&label, &entry_key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Whether `account`'s mailbox holds entry `id` (a key lookup; nothing is opened).
    /// Blocking.
    pub(crate) fn holds(&self, account: &str, id: u64) -> Result<bool, StoreError> {
        let label = self.at_rest.label(account);
        Ok(self
            .tree
            .contains_key(key(ENTRY, &label, &id.to_be_bytes()))?)
    }

    /// Deletes entry `id` of `account`'s mailbox (its marker stays until the retention period).
    /// `false` if there is none. Blocking; durable when it returns.
    pub(crate) fn acknowledge(&self, account: &str, id: u64) -> Result<bool, StoreError> {
        let label = self.at_rest.label(account);
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let entry_key = key(ENTRY, &label, &id.to_be_bytes());
        let Some(value) = self.tree.get(&entry_key)? else {
            return Ok(false);
        };
        let size = self
            .read(&label, &entry_key, &value)?
            .envelope
            .map_or(0, |e| e.ciphertext.len() as u64);
        self.remove(&label, &entry_key, size)?;
        self.tree.flush()?;
        Ok(true)
    }

    /// Deletes the entries `ids` of `account`'s mailbox, flushed once for all; for each id
    /// whether it was there (the order of `ids`).
    pub(crate) fn acknowledge_all(
        &self,
        account: &str,
        ids: &[u64],
    ) -> Result<Vec<bool>, StoreError> {
        let label = self.at_rest.label(account);
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut deleted = Vec::with_capacity(ids.len());
        for id in ids {
            let entry_key = key(ENTRY, &label, &id.to_be_bytes());
            let Some(value) = self.tree.get(&entry_key)? else {
                deleted.push(false);
                continue;
            };
            let size = self
                .read(&label, &entry_key, &value)?
                .envelope
                .map_or(0, |e| e.ciphertext.len() as u64);
            self.remove(&label, &entry_key, size)?;
            deleted.push(true);
        }
        if deleted.contains(&true) {
            self.tree.flush()?;
        }
        Ok(deleted)
    }

    fn remove(
        &self,
        label: &[u8; LABEL_LEN],
        entry_key: &[u8],
        size: u64,
    ) -> Result<(), StoreError> {
        let used_key = key(USED, label, &[]);
        let used = match self.tree.get(&used_key)? {
            Some(v) => u64_at(&v)?,
            None => 0,
        };
        let mut batch = sled::Batch::default();
        batch.remove(entry_key);
        batch.insert(used_key, used.saturating_sub(size).to_le_bytes().to_vec());
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Deletes entries and markers received before `now - retention`; returns how many entries
    /// went. Blocking; flushed.
    pub(crate) fn sweep(&self, now: u64, retention: u64) -> Result<usize, StoreError> {
        let cutoff = now.saturating_sub(retention);
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut removed = 0;
        for item in self.tree.scan_prefix([ENTRY]) {
            let (k, v) = item?;
            if u64_at(&v)? >= cutoff {
                continue;
            }
            let label: [u8; LABEL_LEN] = k
                .get(1..=LABEL_LEN)
                .and_then(|l| l.try_into().ok())
                .ok_or_else(|| StoreError::Corrupt("a short mailbox key".into()))?;
            // An entry that no longer opens still goes; it then leaves its bytes counted.
            let size = self
                .read(&label, &k, &v)
                .ok()
                .and_then(|m| m.envelope)
                .map_or(0, |e| e.ciphertext.len() as u64);
            self.remove(&label, &k, size)?;
            removed += 1;
        }
        for item in self.tree.scan_prefix([TAKEN]) {
            let (k, v) = item?;
            if u64_at(&v)? < cutoff {
                self.tree.remove(k)?;
            }
        }
        self.tree.flush()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;

    fn envelope(msg_id: &[u8], size: usize) -> pb::MailEnvelope {
        pb::MailEnvelope {
            msg_id: msg_id.to_vec(),
            sender: "alice@alpha.test".into(),
            recipient: "bob@beta.test".into(),
            ephemeral_key: vec![9; 32],
            prekey_id: 1,
            ciphertext: vec![0x5a; size],
            sender_signature: vec![2; 64],
        }
    }

    fn mailboxes(dir: &std::path::Path, quota: u64) -> (sled::Db, Mailboxes) {
        let db = crate::db::open(dir).unwrap().unwrap();
        let tree = crate::db::Tree::Mail.open(&db).unwrap();
        let at_rest = Arc::new(AtRest::new(Zeroizing::new([3; 32])));
        (db.clone(), Mailboxes::new(db, tree, at_rest, quota))
    }

    /// Every byte of every key and value in the tree, for greps.
    fn raw(db: &sled::Db) -> Vec<u8> {
        let tree = crate::db::Tree::Mail.open(db).unwrap();
        tree.iter()
            .flat_map(|kv| {
                let (k, v) = kv.unwrap();
                [k.to_vec(), v.to_vec()].concat()
            })
            .collect()
    }

    #[test]
    fn attack_a_repeated_relay_makes_one_entry_even_after_acknowledgement() {
        let dir = tempfile::tempdir().unwrap();
        let (_db, boxes) = mailboxes(dir.path(), 1 << 20);
        let mail = envelope(b"m-1", 40);
        let Delivered::Stored(id) = boxes.deliver(&mail, "alpha.test", 100).unwrap() else {
            panic!("not stored");
        };
        assert_eq!(
            boxes.deliver(&mail, "alpha.test", 101).unwrap(),
            Delivered::Duplicate
        );
        assert_eq!(boxes.list("bob@beta.test").unwrap().entries.len(), 1);
        let fetched = boxes.fetch("bob@beta.test", id).unwrap().unwrap();
        assert_eq!(fetched.envelope.unwrap(), mail);
        assert_eq!(fetched.from_domain, "alpha.test");
        // Another account sees nothing of it.
        assert!(boxes.list("carol@beta.test").unwrap().entries.is_empty());
        assert!(boxes.fetch("carol@beta.test", id).unwrap().is_none());
        assert!(boxes.acknowledge("bob@beta.test", id).unwrap());
        assert!(!boxes.acknowledge("bob@beta.test", id).unwrap());
        // Replayed after it was fetched and deleted: still taken once.
        assert_eq!(
            boxes.deliver(&mail, "alpha.test", 102).unwrap(),
            Delivered::Duplicate
        );
        assert!(boxes.list("bob@beta.test").unwrap().entries.is_empty());
    }

    #[test]
    fn a_mailbox_holds_no_address_or_ciphertext_in_clear_and_keeps_its_quota() {
        let dir = tempfile::tempdir().unwrap();
        let (db, boxes) = mailboxes(dir.path(), 100);
        assert!(matches!(
            boxes
                .deliver(&envelope(b"m-1", 60), "alpha.test", 100)
                .unwrap(),
            Delivered::Stored(_)
        ));
        assert_eq!(
            boxes
                .deliver(&envelope(b"m-2", 60), "alpha.test", 100)
                .unwrap(),
            Delivered::OverQuota
        );
        let bytes = raw(&db);
        for clear in [&b"alice@alpha.test"[..], b"bob@beta.test", &[0x5a; 16]] {
            assert!(
                !bytes.windows(clear.len()).any(|w| w == clear),
                "{clear:?} in clear"
            );
        }
        let id = boxes.list("bob@beta.test").unwrap().entries[0].id;
        boxes.acknowledge("bob@beta.test", id).unwrap();
        assert!(matches!(
            boxes
                .deliver(&envelope(b"m-2", 60), "alpha.test", 100)
                .unwrap(),
            Delivered::Stored(_)
        ));
    }

    #[test]
    fn entries_and_markers_past_the_retention_period_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let (_db, boxes) = mailboxes(dir.path(), 1 << 20);
        boxes
            .deliver(&envelope(b"old", 20), "alpha.test", 100)
            .unwrap();
        boxes
            .deliver(&envelope(b"new", 20), "alpha.test", 190)
            .unwrap();
        assert_eq!(boxes.sweep(200, 50).unwrap(), 1);
        let left = boxes.list("bob@beta.test").unwrap();
        assert_eq!(left.entries.len(), 1);
        assert_eq!(left.entries[0].msg_id, b"new");
        // The old marker went too (its relay has expired by now: verify_relay refuses it).
        assert!(matches!(
            boxes
                .deliver(&envelope(b"old", 20), "alpha.test", 200)
                .unwrap(),
            Delivered::Stored(_)
        ));
    }

    #[test]
    fn a_mailbox_reopened_with_another_mailbox_key_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (_db, boxes) = mailboxes(dir.path(), 1 << 20);
            boxes
                .deliver(&envelope(b"m", 20), "alpha.test", 100)
                .unwrap();
        }
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let tree = crate::db::Tree::Mail.open(&db).unwrap();
        let other = Mailboxes::new(
            db,
            tree,
            Arc::new(AtRest::new(Zeroizing::new([4; 32]))),
            1 << 20,
        );
        // Another key names other mailboxes: bob's is not even found.
        assert!(other.list("bob@beta.test").unwrap().entries.is_empty());
    }
}
