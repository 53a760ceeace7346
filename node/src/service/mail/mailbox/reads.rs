//! The reader's reads of its mailbox — a listing, a fetch of mails — done in steps under a
//! budget of bytes opened, so that a small read (the usual one: a few index records, a few
//! small mails) is done on the async thread that asked, without a hand-off to the blocking
//! pool, and a large one goes on there after its first step.
//!
//! Why this is fine on an async thread: sled answers these reads from its page cache (the
//! mailboxes' records are in memory while they are read and acknowledged), a record's lookup
//! is a few microseconds, and opening it (ChaCha20-Poly1305, one key derivation per read) is
//! about a microsecond per kilobyte; [`INLINE_BYTES`] bounds a step to some tens of
//! microseconds, as any other request's work between two awaits. Past it the rest is done on
//! the blocking pool as before: nothing about what is answered changes, only where.

use std::ops::Bound;

use herald_proto::wire::{MAX_INBOX_ENTRIES, decode, pb};
use prost::Message as _;

use super::{
    ENTRY, Held, INDEX, LABEL_LEN, MAX_INDEX_BYTES, Mailboxes, Scoped, StoreError, entry_id, key,
};

/// Sealed bytes a read opens on an async thread before it goes on on the blocking pool.
pub(crate) const INLINE_BYTES: usize = 64 * 1024;

/// How many sealed bytes a read may still open where it runs; `None`: no limit (a blocking
/// thread).
#[derive(Debug)]
pub(crate) struct Budget(Option<usize>);

impl Budget {
    /// An async thread's: [`INLINE_BYTES`].
    pub(crate) fn inline() -> Self {
        Budget(Some(INLINE_BYTES))
    }

    /// `bytes` (tests: a step's bound).
    #[cfg(test)]
    pub(crate) fn bytes(bytes: usize) -> Self {
        Budget(Some(bytes))
    }

    /// A blocking thread's: no limit.
    pub(crate) fn unlimited() -> Self {
        Budget(None)
    }

    /// Whether `bytes` more may be opened here; if so they are counted.
    fn spend(&mut self, bytes: usize) -> bool {
        match &mut self.0 {
            None => true,
            Some(left) if bytes <= *left => {
                *left -= bytes;
                true
            }
            Some(_) => false,
        }
    }
}

/// A listing of one mailbox, done in steps ([`Mailboxes::list_some`]).
pub(crate) struct Listing {
    label: [u8; LABEL_LEN],
    scoped: Scoped,
    /// The last entry key listed (or skipped): the next step starts after it.
    after: Option<sled::IVec>,
    /// The entries so far.
    pub(crate) inbox: pb::Inbox,
}

/// A fetch of mails of one mailbox, done in steps ([`Mailboxes::fetch_some`]).
pub(crate) struct Fetching {
    label: [u8; LABEL_LEN],
    scoped: Scoped,
    ids: Vec<u64>,
    /// How many of `ids` are done.
    next: usize,
    /// Bytes of the mails answered so far.
    bytes: usize,
    /// The answer so far.
    pub(crate) answer: pb::StoredMails,
}

impl Mailboxes {
    /// A listing of `account`'s mailbox, not yet begun.
    pub(crate) fn listing(&self, account: &str) -> Listing {
        let label = self.at_rest.label(account);
        Listing {
            scoped: self.at_rest.scoped(&label),
            label,
            after: None,
            inbox: pb::Inbox::default(),
        }
    }

    /// The entries of `account`'s mailbox, oldest first, at most `MAX_INBOX_ENTRIES`: each from
    /// its index record (an entry without one is opened). Blocking.
    #[cfg(test)]
    pub(crate) fn list(&self, account: &str) -> Result<pb::Inbox, StoreError> {
        let mut listing = self.listing(account);
        self.list_some(&mut listing, &mut Budget::unlimited())?;
        Ok(listing.inbox)
    }

    /// Goes on with `listing` while `budget` lasts; `true` once it is complete.
    pub(crate) fn list_some(
        &self,
        listing: &mut Listing,
        budget: &mut Budget,
    ) -> Result<bool, StoreError> {
        let prefix = key(ENTRY, &listing.label, &[]);
        let keys = match &listing.after {
            None => self.tree.scan_prefix(&prefix),
            Some(after) => self
                .tree
                .range::<&[u8], _>((Bound::Excluded(after.as_ref()), Bound::Unbounded)),
        };
        for item in keys.keys() {
            let k = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            if listing.inbox.entries.len() == MAX_INBOX_ENTRIES {
                listing.inbox.truncated = true;
                return Ok(true);
            }
            let id = entry_id(&k)?;
            let index_key = key(INDEX, &listing.label, &id.to_be_bytes());
            if let Some(sealed) = self.tree.get(&index_key)? {
                if !budget.spend(sealed.len()) {
                    return Ok(false);
                }
                let entry = open_index(&listing.scoped, &index_key, &sealed, id)?;
                listing.inbox.entries.push(entry);
            } else if let Some(v) = self.tree.get(&k)? {
                // Stored before the index: the entry itself is opened.
                if !budget.spend(v.len()) {
                    return Ok(false);
                }
                let mail = Self::read(&listing.scoped, &k, &v)?;
                let envelope = mail.envelope.unwrap_or_default();
                listing.inbox.entries.push(pb::InboxEntry {
                    id: mail.id,
                    msg_id: envelope.msg_id,
                    sender: envelope.sender,
                    received_at: mail.received_at,
                    size: envelope.ciphertext.len() as u64,
                });
            }
            listing.after = Some(k);
        }
        Ok(true)
    }

    /// A fetch of the mails `ids` of `account`'s mailbox, not yet begun.
    pub(crate) fn fetching(&self, account: &str, ids: Vec<u64>) -> Fetching {
        let label = self.at_rest.label(account);
        Fetching {
            scoped: self.at_rest.scoped(&label),
            label,
            ids,
            next: 0,
            bytes: 0,
            answer: pb::StoredMails::default(),
        }
    }

    /// Goes on with `fetching` while `budget` lasts; `true` once it is complete. The answer
    /// holds the mails of `ids` stored whole and small enough for one answer, in order, until
    /// they reach `MAX_FETCHED_MAILS_BYTES` (the rest deferred); the others are listed missing
    /// or large.
    pub(crate) fn fetch_some(
        &self,
        fetching: &mut Fetching,
        budget: &mut Budget,
    ) -> Result<bool, StoreError> {
        let limit = herald_proto::wire::client::MAX_FETCHED_MAILS_BYTES;
        while let Some(&id) = fetching.ids.get(fetching.next) {
            let answer = &mut fetching.answer;
            if !answer.deferred.is_empty() {
                answer.deferred.push(id);
                fetching.next += 1;
                continue;
            }
            let entry_key = key(ENTRY, &fetching.label, &id.to_be_bytes());
            let Some(v) = self.tree.get(&entry_key)? else {
                answer.missing.push(id);
                fetching.next += 1;
                continue;
            };
            if !budget.spend(v.len()) {
                return Ok(false);
            }
            let mail = Self::read(&fetching.scoped, &entry_key, &v)?;
            let held = match self.pieced_total(&fetching.label, id)? {
                Some(total) => Held::Pieced { head: mail, total },
                None => Held::Whole(mail),
            };
            match held {
                Held::Whole(m) if !super::super::is_large(&m) => {
                    let len = m.encoded_len();
                    if !answer.mails.is_empty() && fetching.bytes + len > limit {
                        answer.deferred.push(id);
                    } else {
                        fetching.bytes += len;
                        answer.mails.push(m);
                    }
                }
                _ => answer.large.push(id),
            }
            fetching.next += 1;
        }
        Ok(true)
    }

    /// Entry `id` of `account`'s mailbox; a mail in pieces comes without its Z (read it by
    /// [`Mailboxes::part`]). Blocking.
    pub(crate) fn fetch(&self, account: &str, id: u64) -> Result<Option<Held>, StoreError> {
        let label = self.at_rest.label(account);
        let entry_key = key(ENTRY, &label, &id.to_be_bytes());
        let Some(v) = self.tree.get(&entry_key)? else {
            return Ok(None);
        };
        let mail = Self::read(&self.at_rest.scoped(&label), &entry_key, &v)?;
        Ok(Some(match self.pieced_total(&label, id)? {
            Some(total) => Held::Pieced { head: mail, total },
            None => Held::Whole(mail),
        }))
    }
}

/// Index record `index_key` (of entry `id`) opened and checked.
pub(super) fn open_index(
    scoped: &Scoped,
    index_key: &[u8],
    sealed: &[u8],
    id: u64,
) -> Result<pb::InboxEntry, StoreError> {
    let plain = scoped.open(index_key, sealed)?;
    let entry: pb::InboxEntry =
        decode(&plain, MAX_INDEX_BYTES).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if entry.id != id {
        return Err(StoreError::Corrupt(
            "an index record of another entry".into(),
        ));
    }
    Ok(entry)
}
