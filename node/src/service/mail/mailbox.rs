//! Mailboxes at rest (DESIGN §4 "Mailboxes"): what S_B holds for its accounts until they fetch
//! and acknowledge it, in sled tree `mail`, each entry sealed by [`AtRest`] for its account.
//!
//! | key | value |
//! |---|---|
//! | `b` ‖ label ‖ id (8 bytes BE) | received_at (8 LE) ‖ `StoredMail` sealed for the label |
//! | `d` ‖ label ‖ tag(sender, msg_id) | created_at (8 LE): the mail was taken once |
//! | `u` ‖ label | bytes held (8 LE), for the quota |
//! | `i` ‖ label ‖ id (8 bytes BE) | the entry's `InboxEntry` sealed for the label: what a listing shows |
//! | `p` ‖ label ‖ id (8 bytes BE) ‖ offset (8 BE) | a piece of a large mail's Z sealed for the label |
//!
//! - **A large mail is stored in pieces** (its Z travels in chunks, `paep::transfer`): the entry
//!   holds the mail with its envelope's head (Z empty), and Z lies in pieces of
//!   [`PIECE_BYTES`], one part of a fetch by parts each, so no record is larger than a chunk
//!   and a part reads one piece. Entries stored before pieces (Z in the entry) still read.
//! - **Listing opens only the index records**; an entry without one (stored before the index)
//!   is opened instead.
//! - **Idempotent by msg_id.** A relay of a mail already taken (a retry after a lost answer, a
//!   duplicate, a replay) stores nothing and says so; the `d` marker outlives the entry's
//!   acknowledgement until the retention period, which is at least the longest expiry, so a
//!   replay after that is refused as expired by `paep::verify_relay`.
//! - **Durable before acknowledged.** One sled batch per change, flushed before the answer: an
//!   entry, its index record and all its pieces appear (and go) together, so a crash leaves
//!   either all of them or none.
//! - **Quota per account** in bytes of ciphertext held; **retention** from the configuration:
//!   [`Mailboxes::sweep`] deletes entries (and markers) older than it.
//!
//! - **Reads are done where they are asked, when small** (`reads`): a listing or a fetch opens
//!   records on the async thread while what it opened stays under [`reads::INLINE_BYTES`],
//!   and hands the rest of its work to the blocking pool only past that.
//!
//! One writer at a time (a mutex): the quota and marker checks and the batch are one step. The
//! flush comes after the mutex is released and is shared by the changes in flight
//! (`db::GroupFlush`): the 64 relays of one `relay_mails` request, the acknowledgements of
//! many readers, wait for one or two flushes instead of one each in line.

use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::paep::transfer::{self, travels_in_chunks};
use herald_proto::wire::{MAIL_CHUNK_BYTES, Validate as _, decode, pb};
use prost::Message as _;

use super::at_rest::{AtRest, LABEL_LEN, SEALED_OVERHEAD, Scoped, StoreError, flush_failed};
use crate::db::GroupFlush;

const ENTRY: u8 = b'b';
const TAKEN: u8 = b'd';
const USED: u8 = b'u';
const INDEX: u8 = b'i';
const PIECE: u8 = b'p';
/// Bytes of Z per piece of a large mail at rest: one part of a fetch by parts.
pub(crate) const PIECE_BYTES: usize = MAIL_CHUNK_BYTES;
/// Largest index record's plaintext (an `InboxEntry`: msg_id, sender and three numbers).
const MAX_INDEX_BYTES: usize = 1024;
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

/// A change of the mailboxes done in a group (`Mailboxes::change_all`).
#[derive(Debug)]
pub(crate) enum Change {
    /// A mail to store: its envelope, the domain that relayed it, when it came (Unix s).
    Deliver(pb::MailEnvelope, String, u64),
    /// An account's acknowledgement of the entries `ids`.
    Acknowledge(String, Vec<u64>),
}

/// What a [`Change`] did, each durable once it is returned.
#[derive(Debug)]
pub(crate) enum Changed {
    /// The delivery's outcome.
    Delivered(Result<Delivered, StoreError>),
    /// For each id acknowledged, whether it was there.
    Acknowledged(Result<Vec<bool>, StoreError>),
}

/// A mailbox entry read back.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Held {
    /// Stored whole: every mail that fits one answer, and large mails stored before pieces.
    Whole(pb::StoredMail),
    /// Stored in pieces: the mail with its envelope's head (Z empty), and Z's length.
    Pieced {
        /// The mail without its Z.
        head: pb::StoredMail,
        /// Z's length.
        total: u64,
    },
}

/// A part of a mailbox entry asked for by offset.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum HeldPart {
    /// The entry is stored whole: the caller cuts the part from it.
    Whole,
    /// The entry is stored in pieces: its head, Z's length, and the bytes of Z from the offset
    /// to the end of the piece holding it (`None`: the offset is at or past the end).
    Piece {
        /// The mail without its Z.
        head: Box<pb::StoredMail>,
        /// Z's length.
        total: u64,
        /// Z's bytes from the offset.
        data: Option<Vec<u8>>,
    },
}

/// The gateway's mailboxes. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Mailboxes {
    tree: sled::Tree,
    db: sled::Db,
    at_rest: Arc<AtRest>,
    quota_bytes: u64,
    writer: Arc<Mutex<()>>,
    /// The flushes of deliveries and acknowledgements, shared by those in flight.
    flushes: Arc<GroupFlush>,
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
            flushes: Arc::new(GroupFlush::new(tree.clone())),
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
    /// Blocking; durable when it returns [`Delivered::Stored`] or [`Delivered::Duplicate`] (the
    /// first delivery may still have been waiting for its flush).
    pub(crate) fn deliver(
        &self,
        envelope: &pb::MailEnvelope,
        from_domain: &str,
        now: u64,
    ) -> Result<Delivered, StoreError> {
        let delivered = self.deliver_in_memory(envelope, from_domain, now)?;
        if !matches!(delivered, Delivered::OverQuota) {
            self.flushes.flush()?;
        }
        Ok(delivered)
    }

    /// Each of `changes` (deliveries and acknowledgements of any accounts) as
    /// [`deliver`](Self::deliver) or [`acknowledge_all`](Self::acknowledge_all) does it, one at
    /// a time under the writer lock, then one flush for all of them: one outcome per change, in
    /// order, each durable when this returns.
    pub(crate) fn change_all(&self, changes: Vec<Change>) -> Vec<Changed> {
        let written: Vec<Changed> = changes
            .iter()
            .map(|change| match change {
                Change::Deliver(envelope, from_domain, now) => {
                    Changed::Delivered(self.deliver_in_memory(envelope, from_domain, *now))
                }
                Change::Acknowledge(account, ids) => {
                    Changed::Acknowledged(self.acknowledge_in_memory(account, ids))
                }
            })
            .collect();
        // An acknowledgement of ids already gone waits for the flush too: another one may have
        // deleted them and still wait for its own (see `acknowledge_all`).
        let needed = written.iter().any(|w| match w {
            Changed::Delivered(Ok(Delivered::OverQuota)) => false,
            Changed::Acknowledged(Ok(deleted)) => !deleted.is_empty(),
            _ => true,
        });
        let flushed = if needed { self.flushes.flush() } else { Ok(()) };
        let durable = |e: &sled::Error| flush_failed(e);
        written
            .into_iter()
            .map(|outcome| match (outcome, &flushed) {
                (Changed::Delivered(Ok(Delivered::OverQuota)), _) => {
                    Changed::Delivered(Ok(Delivered::OverQuota))
                }
                (Changed::Delivered(Ok(_)), Err(e)) => Changed::Delivered(Err(durable(e))),
                (Changed::Acknowledged(Ok(d)), Err(e)) if !d.is_empty() => {
                    Changed::Acknowledged(Err(durable(e)))
                }
                (outcome, _) => outcome,
            })
            .collect()
    }

    /// [`deliver`](Self::deliver)'s change, under the writer lock, not yet flushed.
    fn deliver_in_memory(
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
        let pieced = travels_in_chunks(envelope.ciphertext.len());
        let stored = pb::StoredMail {
            id,
            envelope: Some(if pieced {
                transfer::head_of(envelope)
            } else {
                envelope.clone()
            }),
            received_at: now,
            from_domain: from_domain.to_owned(),
        };
        let scoped = self.at_rest.scoped(&label);
        let mut value = now.to_le_bytes().to_vec();
        value.extend(scoped.seal(&entry_key, &stored.encode_to_vec())?);
        let mut batch = sled::Batch::default();
        if pieced {
            for (offset, piece) in envelope.ciphertext.chunks(PIECE_BYTES).enumerate() {
                let piece_key = piece_key(&label, id, (offset * PIECE_BYTES) as u64);
                let sealed = scoped.seal(&piece_key, piece)?;
                batch.insert(piece_key, sealed);
            }
        }
        let index = pb::InboxEntry {
            id,
            msg_id: envelope.msg_id.clone(),
            sender: envelope.sender.clone(),
            received_at: now,
            size,
        };
        let index_key = key(INDEX, &label, &id.to_be_bytes());
        let sealed_index = scoped.seal(&index_key, &index.encode_to_vec())?;
        batch.insert(index_key, sealed_index);
        batch.insert(entry_key, value);
        batch.insert(taken, now.to_le_bytes().to_vec());
        batch.insert(used_key, (used + size).to_le_bytes().to_vec());
        self.tree.apply_batch(batch)?;
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

    /// An entry read back, checked like anything from outside: a whole mail, or the head of one
    /// in pieces (its Z empty).
    fn read(scoped: &Scoped, entry_key: &[u8], value: &[u8]) -> Result<pb::StoredMail, StoreError> {
        let sealed = value.get(8..).ok_or(StoreError::Unreadable)?;
        let plain = scoped.open(entry_key, sealed)?;
        let mail: pb::StoredMail = decode(&plain, super::transfer_store::MAX_STORED_MAIL_BYTES)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let envelope = (mail.envelope.as_ref())
            .ok_or_else(|| StoreError::Corrupt("a stored mail without its envelope".into()))?;
        // A whole envelope's Z holds at least its tag: an empty one is a head of pieces.
        if envelope.ciphertext.is_empty() {
            transfer::validate_head(envelope)
        } else {
            envelope.validate()
        }
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(mail)
    }

    /// The index record of entry `id`, if it has one (entries stored before the index do not).
    fn index(
        &self,
        scoped: &Scoped,
        label: &[u8; LABEL_LEN],
        id: u64,
    ) -> Result<Option<pb::InboxEntry>, StoreError> {
        let index_key = key(INDEX, label, &id.to_be_bytes());
        let Some(sealed) = self.tree.get(&index_key)? else {
            return Ok(None);
        };
        reads::open_index(scoped, &index_key, &sealed, id).map(Some)
    }

    /// Z's length of entry `id` if it is stored in pieces (the last piece's end).
    fn pieced_total(&self, label: &[u8; LABEL_LEN], id: u64) -> Result<Option<u64>, StoreError> {
        let Some(last) = self
            .tree
            .scan_prefix(key(PIECE, label, &id.to_be_bytes()))
            .next_back()
        else {
            return Ok(None);
        };
        let (k, v) = last?;
        let offset = k
            .get(k.len().saturating_sub(8)..)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| StoreError::Corrupt("a short piece key".into()))?;
        let len = v
            .len()
            .checked_sub(SEALED_OVERHEAD)
            .ok_or(StoreError::Unreadable)?;
        Ok(Some(offset + len as u64))
    }

    /// The part of entry `id` of `account`'s mailbox at `offset` of its Z: for a mail in pieces
    /// the head and one piece are opened, nothing more. `None` if there is no such entry.
    /// Blocking.
    pub(crate) fn part(
        &self,
        account: &str,
        id: u64,
        offset: u64,
    ) -> Result<Option<HeldPart>, StoreError> {
        let label = self.at_rest.label(account);
        let entry_key = key(ENTRY, &label, &id.to_be_bytes());
        let Some(v) = self.tree.get(&entry_key)? else {
            return Ok(None);
        };
        let Some(total) = self.pieced_total(&label, id)? else {
            return Ok(Some(HeldPart::Whole));
        };
        let scoped = self.at_rest.scoped(&label);
        let head = Self::read(&scoped, &entry_key, &v)?;
        if offset >= total {
            return Ok(Some(HeldPart::Piece {
                head: Box::new(head),
                total,
                data: None,
            }));
        }
        let start = offset - offset % PIECE_BYTES as u64;
        let piece_key = piece_key(&label, id, start);
        let sealed = self
            .tree
            .get(&piece_key)?
            .ok_or_else(|| StoreError::Corrupt("a piece of a mail is missing".into()))?;
        let piece = scoped.open(&piece_key, &sealed)?;
        let data = piece
            .get((offset - start) as usize..)
            .ok_or_else(|| StoreError::Corrupt("a short piece of a mail".into()))?
            .to_vec();
        Ok(Some(HeldPart::Piece {
            head: Box::new(head),
            total,
            data: Some(data),
        }))
    }

    /// Whether `account`'s mailbox holds entry `id` (a key lookup; nothing is opened).
    /// Blocking.
    pub(crate) fn holds(&self, account: &str, id: u64) -> Result<bool, StoreError> {
        let label = self.at_rest.label(account);
        Ok(self
            .tree
            .contains_key(key(ENTRY, &label, &id.to_be_bytes()))?)
    }

    /// The bytes entry `id` counts against its mailbox's quota: from its index record, else
    /// from the entry opened.
    fn size(
        &self,
        scoped: &Scoped,
        label: &[u8; LABEL_LEN],
        entry_key: &[u8],
        value: &[u8],
    ) -> Result<u64, StoreError> {
        if let Some(entry) = self.index(scoped, label, entry_id(entry_key)?)? {
            return Ok(entry.size);
        }
        Ok(Self::read(scoped, entry_key, value)?
            .envelope
            .map_or(0, |e| e.ciphertext.len() as u64))
    }

    /// Deletes entry `id` of `account`'s mailbox (its marker stays until the retention period).
    /// `false` if there is none. Blocking; durable when it returns.
    #[cfg(test)]
    pub(crate) fn acknowledge(&self, account: &str, id: u64) -> Result<bool, StoreError> {
        Ok(self.acknowledge_all(account, &[id])?.first() == Some(&true))
    }

    /// Deletes the entries `ids` of `account`'s mailbox, flushed once for all; for each id
    /// whether it was there (the order of `ids`). Blocking; durable when it returns.
    #[cfg(test)]
    pub(crate) fn acknowledge_all(
        &self,
        account: &str,
        ids: &[u64],
    ) -> Result<Vec<bool>, StoreError> {
        let deleted = self.acknowledge_in_memory(account, ids)?;
        // Also when nothing was there: another acknowledgement may have deleted it and still
        // wait for its flush, and "missing" must not be said before that deletion is durable.
        if !ids.is_empty() {
            self.flushes.flush()?;
        }
        Ok(deleted)
    }

    /// [`acknowledge_all`](Self::acknowledge_all)'s change, under the writer lock, not yet
    /// flushed.
    fn acknowledge_in_memory(&self, account: &str, ids: &[u64]) -> Result<Vec<bool>, StoreError> {
        let label = self.at_rest.label(account);
        let scoped = self.at_rest.scoped(&label);
        let mut deleted = Vec::with_capacity(ids.len());
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        for id in ids {
            let entry_key = key(ENTRY, &label, &id.to_be_bytes());
            let Some(value) = self.tree.get(&entry_key)? else {
                deleted.push(false);
                continue;
            };
            let size = self.size(&scoped, &label, &entry_key, &value)?;
            self.remove(&label, &entry_key, size)?;
            deleted.push(true);
        }
        Ok(deleted)
    }

    /// Removes an entry with its index record and pieces, and its `size` from the quota's use,
    /// in one batch.
    fn remove(
        &self,
        label: &[u8; LABEL_LEN],
        entry_key: &[u8],
        size: u64,
    ) -> Result<(), StoreError> {
        let id = entry_id(entry_key)?.to_be_bytes();
        let used_key = key(USED, label, &[]);
        let used = match self.tree.get(&used_key)? {
            Some(v) => u64_at(&v)?,
            None => 0,
        };
        let mut batch = sled::Batch::default();
        for piece in self.tree.scan_prefix(key(PIECE, label, &id)).keys() {
            batch.remove(piece?);
        }
        batch.remove(key(INDEX, label, &id));
        batch.remove(entry_key);
        batch.insert(used_key, used.saturating_sub(size).to_le_bytes().to_vec());
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Deletes entries (with their pieces) and markers received before `now - retention`;
    /// returns how many entries went. Blocking; flushed.
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
            let scoped = self.at_rest.scoped(&label);
            let size = self.size(&scoped, &label, &k, &v).unwrap_or(0);
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

/// The key of the piece of entry `id` of the mailbox `label` starting at `offset` of Z.
fn piece_key(label: &[u8; LABEL_LEN], id: u64, offset: u64) -> Vec<u8> {
    let mut rest = id.to_be_bytes().to_vec();
    rest.extend_from_slice(&offset.to_be_bytes());
    key(PIECE, label, &rest)
}

/// The entry id at the end of an entry key.
fn entry_id(entry_key: &[u8]) -> Result<u64, StoreError> {
    entry_key
        .get(1 + LABEL_LEN..)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt("a short mailbox key".into()))
}

#[cfg(test)]
mod group_tests;
pub(super) mod reads;
#[cfg(test)]
mod tests;
