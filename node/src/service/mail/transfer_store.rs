//! Mail larger than one request while its chunks come in (`paep::transfer`): S_A's uploads
//! from its accounts and S_B's relays from its peers, in sled tree `mail_transfer`, every chunk
//! sealed by [`AtRest`] for its owner (an account, or a peer domain) as mailboxes are.
//!
//! | key | value |
//! |---|---|
//! | `m` ‖ owner ‖ transfer | total (8 LE) ‖ received (8 LE) ‖ started_at (8 LE) |
//! | `c` ‖ owner ‖ transfer ‖ offset (8 BE) | the chunk sealed for the owner |
//! | `o` ‖ owner | transfers (8 LE) ‖ bytes held (8 LE), for the owner's bounds |
//!
//! `owner` is the owner's keyed label, `transfer` a keyed tag of the transfer's name (the upload
//! id, or sender and msg_id), so no key names an address or a msg_id in clear.
//!
//! - **Durable before acknowledged**: a chunk, its transfer's progress and its owner's totals
//!   are one sled batch, flushed before the answer.
//! - **Bounded per owner**: at most [`Owner::max_transfers`] transfers and
//!   [`Owner::max_bytes`] bytes held; a chunk past either is refused and changes nothing.
//! - **Expiring**: a transfer not finished [`TRANSFER_TTL_SECS`] after it started is deleted by
//!   [`Transfers::sweep`] (and no longer counts).
//!
//! One writer at a time (a mutex): the checks and the batch are one step.

use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::paep::transfer::{ChunkStep, TransferError, chunk_step};

use super::at_rest::{AtRest, LABEL_LEN, StoreError};

const META: u8 = b'm';
const CHUNK: u8 = b'c';
const OWNER: u8 = b'o';
const TRANSFER_PURPOSE: &str = "herald v1 mail transfer";

/// Largest record of a whole mail the gateway stores (a `StoredMail` in a mailbox, a
/// `RelayEnvelope` in the queue): the largest envelope and its framing.
pub(crate) const MAX_STORED_MAIL_BYTES: usize = herald_proto::wire::MAX_MAIL_ENVELOPE_BYTES + 4096;

/// Seconds an unfinished transfer is kept from its first chunk.
pub(crate) const TRANSFER_TTL_SECS: u64 = 3600;

/// A transfer's whole Z and its declared length, or why it is not whole yet.
pub(crate) type Assembled = Result<(Vec<u8>, u64), TransferError>;

/// Whose transfer, and the bounds on what it may hold.
#[derive(Clone, Debug)]
pub(crate) struct Owner {
    label: [u8; LABEL_LEN],
    /// Most unfinished transfers at once.
    pub(crate) max_transfers: u64,
    /// Most bytes held over all its unfinished transfers.
    pub(crate) max_bytes: u64,
}

/// Why a chunk was refused (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkRefused {
    /// Against the transfer's rules (order, overlap, total).
    Transfer(TransferError),
    /// The owner would hold more than its bytes bound.
    OverQuota,
    /// The owner has as many unfinished transfers as it may.
    TooManyTransfers,
}

/// The unfinished transfers. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Transfers {
    tree: sled::Tree,
    at_rest: Arc<AtRest>,
    writer: Arc<Mutex<()>>,
}

fn u64_at(bytes: &[u8], at: usize) -> Result<u64, StoreError> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| StoreError::Corrupt("a short transfer record".into()))
}

struct Meta {
    total: u64,
    received: u64,
    started_at: u64,
}

impl Meta {
    fn read(v: &[u8]) -> Result<Self, StoreError> {
        Ok(Meta {
            total: u64_at(v, 0)?,
            received: u64_at(v, 8)?,
            started_at: u64_at(v, 16)?,
        })
    }

    fn bytes(&self) -> Vec<u8> {
        [self.total, self.received, self.started_at]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect()
    }
}

fn pair(a: u64, b: u64) -> Vec<u8> {
    let mut v = a.to_le_bytes().to_vec();
    v.extend_from_slice(&b.to_le_bytes());
    v
}

impl Transfers {
    /// The transfers in `tree`, sealed by `at_rest`.
    pub(crate) fn new(tree: sled::Tree, at_rest: Arc<AtRest>) -> Self {
        Transfers {
            tree,
            at_rest,
            writer: Arc::new(Mutex::new(())),
        }
    }

    /// The owner named `name` (an account, or a tag naming a peer domain) under the bounds.
    pub(crate) fn owner(&self, name: &str, max_transfers: u64, max_bytes: u64) -> Owner {
        Owner {
            label: self.at_rest.label(name),
            max_transfers,
            max_bytes,
        }
    }

    /// The keyed tag of a transfer's name (the upload id, or sender and msg_id).
    pub(crate) fn transfer_tag(&self, name: &[u8]) -> [u8; 32] {
        self.at_rest.tag(TRANSFER_PURPOSE, name)
    }

    fn key(kind: u8, owner: &Owner, transfer: &[u8; 32], rest: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + LABEL_LEN + 32 + rest.len());
        k.push(kind);
        k.extend_from_slice(&owner.label);
        k.extend_from_slice(transfer);
        k.extend_from_slice(rest);
        k
    }

    fn owner_key(owner: &Owner) -> Vec<u8> {
        let mut k = vec![OWNER];
        k.extend_from_slice(&owner.label);
        k
    }

    /// Takes a chunk of `transfer` (declaring `total`) at `offset` at time `now`; `extra_used`
    /// counts against the owner's bytes bound beside what it holds here (the mailbox an upload
    /// shares its quota with). Blocking; durable when it returns `Ok(Ok(received))`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn chunk(
        &self,
        owner: &Owner,
        transfer: &[u8; 32],
        total: u64,
        offset: u64,
        data: &[u8],
        extra_used: u64,
        now: u64,
    ) -> Result<Result<u64, ChunkRefused>, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let meta_key = Self::key(META, owner, transfer, &[]);
        let owner_key = Self::owner_key(owner);
        let (count, held) = match self.tree.get(&owner_key)? {
            Some(v) => (u64_at(&v, 0)?, u64_at(&v, 8)?),
            None => (0, 0),
        };
        let meta = match self.tree.get(&meta_key)? {
            Some(v) => Some(Meta::read(&v)?),
            None => None,
        };
        let (received, held_total) = match &meta {
            Some(m) => (m.received, m.total),
            None => (0, total),
        };
        let step = match chunk_step(received, held_total, total, offset, data.len()) {
            Ok(step) => step,
            Err(e) => return Ok(Err(ChunkRefused::Transfer(e))),
        };
        if step == ChunkStep::Held {
            return Ok(Ok(received));
        }
        if meta.is_none() && count >= owner.max_transfers {
            return Ok(Err(ChunkRefused::TooManyTransfers));
        }
        let len = data.len() as u64;
        if held.saturating_add(extra_used).saturating_add(len) > owner.max_bytes {
            return Ok(Err(ChunkRefused::OverQuota));
        }
        let chunk_key = Self::key(CHUNK, owner, transfer, &offset.to_be_bytes());
        let sealed = self.at_rest.seal(&owner.label, &chunk_key, data)?;
        let updated = Meta {
            total,
            received: received + len,
            started_at: meta.as_ref().map_or(now, |m| m.started_at),
        };
        let mut batch = sled::Batch::default();
        batch.insert(chunk_key, sealed);
        batch.insert(meta_key, updated.bytes());
        batch.insert(
            owner_key,
            pair(count + u64::from(meta.is_none()), held + len),
        );
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        Ok(Ok(updated.received))
    }

    /// The whole Z of `transfer`, if every byte it declared came: `None` for an unknown
    /// transfer, `Err(Incomplete)` for one still missing bytes. Blocking.
    pub(crate) fn assembled(
        &self,
        owner: &Owner,
        transfer: &[u8; 32],
    ) -> Result<Option<Assembled>, StoreError> {
        let Some(v) = self.tree.get(Self::key(META, owner, transfer, &[]))? else {
            return Ok(None);
        };
        let meta = Meta::read(&v)?;
        if meta.received != meta.total {
            return Ok(Some(Err(TransferError::Incomplete {
                received: meta.received,
                total: meta.total,
            })));
        }
        let mut z = Vec::with_capacity(meta.total as usize);
        for item in self
            .tree
            .scan_prefix(Self::key(CHUNK, owner, transfer, &[]))
        {
            let (k, sealed) = item?;
            let offset = k
                .get(k.len() - 8..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes);
            if offset != Some(z.len() as u64) {
                return Err(StoreError::Corrupt(
                    "a transfer's chunks do not follow".into(),
                ));
            }
            z.extend(self.at_rest.open(&owner.label, &k, &sealed)?);
        }
        if z.len() as u64 != meta.total {
            return Err(StoreError::Corrupt("a transfer's chunks miss bytes".into()));
        }
        Ok(Some(Ok((z, meta.total))))
    }

    /// Deletes `transfer` (finished, or expired). Blocking; durable when it returns.
    pub(crate) fn remove(&self, owner: &Owner, transfer: &[u8; 32]) -> Result<(), StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        self.remove_locked(owner.label, transfer)?;
        self.tree.flush()?;
        Ok(())
    }

    fn remove_locked(&self, label: [u8; LABEL_LEN], transfer: &[u8; 32]) -> Result<(), StoreError> {
        let owner = Owner {
            label,
            max_transfers: 0,
            max_bytes: 0,
        };
        let meta_key = Self::key(META, &owner, transfer, &[]);
        let Some(v) = self.tree.get(&meta_key)? else {
            return Ok(());
        };
        let meta = Meta::read(&v)?;
        let owner_key = Self::owner_key(&owner);
        let (count, held) = match self.tree.get(&owner_key)? {
            Some(v) => (u64_at(&v, 0)?, u64_at(&v, 8)?),
            None => (0, 0),
        };
        let mut batch = sled::Batch::default();
        for item in self
            .tree
            .scan_prefix(Self::key(CHUNK, &owner, transfer, &[]))
        {
            batch.remove(item?.0);
        }
        batch.remove(meta_key);
        batch.insert(
            owner_key,
            pair(count.saturating_sub(1), held.saturating_sub(meta.received)),
        );
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Deletes the transfers started more than [`TRANSFER_TTL_SECS`] before `now`; how many.
    /// Blocking; durable when it returns.
    pub(crate) fn sweep(&self, now: u64) -> Result<usize, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut expired = Vec::new();
        for item in self.tree.scan_prefix([META]) {
            let (k, v) = item?;
            if Meta::read(&v)?.started_at.saturating_add(TRANSFER_TTL_SECS) <= now {
                let label: Option<[u8; LABEL_LEN]> =
                    k.get(1..1 + LABEL_LEN).and_then(|b| b.try_into().ok());
                let transfer: Option<[u8; 32]> =
                    k.get(1 + LABEL_LEN..).and_then(|b| b.try_into().ok());
                match (label, transfer) {
                    (Some(l), Some(t)) => expired.push((l, t)),
                    _ => return Err(StoreError::Corrupt("a short transfer key".into())),
                }
            }
        }
        for (label, transfer) in &expired {
            self.remove_locked(*label, transfer)?;
        }
        if !expired.is_empty() {
            self.tree.flush()?;
        }
        Ok(expired.len())
    }
}

#[cfg(test)]
mod tests {
    use herald_proto::wire::{MAIL_CHUNK_BYTES, MAX_ONE_REQUEST_CIPHERTEXT_BYTES};
    use zeroize::Zeroizing;

    use super::*;

    const TOTAL: u64 = MAX_ONE_REQUEST_CIPHERTEXT_BYTES as u64 + 100;

    fn z() -> Vec<u8> {
        (0..TOTAL).map(|i| (i % 251) as u8).collect()
    }

    fn open(dir: &std::path::Path) -> (sled::Db, Transfers) {
        let db = crate::db::open(dir).unwrap().unwrap();
        let tree = crate::db::Tree::MailTransfer.open(&db).unwrap();
        let transfers = Transfers::new(tree, Arc::new(AtRest::new(Zeroizing::new([7; 32]))));
        (db, transfers)
    }

    fn send_all(t: &Transfers, owner: &Owner, tag: &[u8; 32], z: &[u8], now: u64) {
        for (offset, c) in herald_proto::paep::transfer::chunks(z) {
            let received = t
                .chunk(owner, tag, TOTAL, offset, c, 0, now)
                .unwrap()
                .unwrap();
            assert_eq!(received, offset + c.len() as u64);
        }
    }

    #[test]
    fn a_transfer_survives_a_restart_and_a_resent_chunk_is_held_once() {
        let dir = tempfile::tempdir().unwrap();
        let z = z();
        {
            let (_db, t) = open(dir.path());
            let owner = t.owner("alice@alpha.test", 4, 1 << 30);
            let tag = t.transfer_tag(b"upload");
            let first = &z[..MAIL_CHUNK_BYTES];
            assert_eq!(
                t.chunk(&owner, &tag, TOTAL, 0, first, 0, 10).unwrap(),
                Ok(MAIL_CHUNK_BYTES as u64)
            );
            assert_eq!(
                t.assembled(&owner, &tag).unwrap(),
                Some(Err(TransferError::Incomplete {
                    received: MAIL_CHUNK_BYTES as u64,
                    total: TOTAL
                }))
            );
        }
        let (_db, t) = open(dir.path());
        let owner = t.owner("alice@alpha.test", 4, 1 << 30);
        let tag = t.transfer_tag(b"upload");
        // The sender starts over from 0: the first chunk is held, the rest appended.
        assert_eq!(
            t.chunk(&owner, &tag, TOTAL, 0, &z[..MAIL_CHUNK_BYTES], 0, 11)
                .unwrap(),
            Ok(MAIL_CHUNK_BYTES as u64)
        );
        let rest = &z[MAIL_CHUNK_BYTES..];
        assert_eq!(
            t.chunk(&owner, &tag, TOTAL, MAIL_CHUNK_BYTES as u64, rest, 0, 11)
                .unwrap(),
            Ok(TOTAL)
        );
        assert_eq!(t.assembled(&owner, &tag).unwrap(), Some(Ok((z, TOTAL))));
        t.remove(&owner, &tag).unwrap();
        assert_eq!(t.assembled(&owner, &tag).unwrap(), None);
        assert!(t.tree.scan_prefix([CHUNK]).next().is_none());
    }

    #[test]
    fn an_owner_past_its_bounds_is_refused_and_expired_transfers_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let (_db, t) = open(dir.path());
        let z = z();
        let owner = t.owner("alice@alpha.test", 2, 2 * MAIL_CHUNK_BYTES as u64);
        let [a, b, c] = [b"a", b"b", b"c"].map(|n| t.transfer_tag(n));
        let chunk = &z[..MAIL_CHUNK_BYTES];
        assert!(t.chunk(&owner, &a, TOTAL, 0, chunk, 0, 0).unwrap().is_ok());
        // The mailbox's bytes count too.
        assert_eq!(
            t.chunk(&owner, &b, TOTAL, 0, chunk, MAIL_CHUNK_BYTES as u64 + 1, 0)
                .unwrap(),
            Err(ChunkRefused::OverQuota)
        );
        assert!(t.chunk(&owner, &b, TOTAL, 0, chunk, 0, 5).unwrap().is_ok());
        assert_eq!(
            t.chunk(&owner, &c, TOTAL, 0, &z[..10], 0, 5).unwrap(),
            Err(ChunkRefused::TooManyTransfers)
        );
        assert_eq!(
            t.chunk(&owner, &a, TOTAL, MAIL_CHUNK_BYTES as u64, &z[..10], 0, 5)
                .unwrap(),
            Err(ChunkRefused::OverQuota)
        );
        // Another owner is not affected; `a` expires first.
        let bob = t.owner("bob@alpha.test", 2, 2 * MAIL_CHUNK_BYTES as u64);
        assert!(t.chunk(&bob, &c, TOTAL, 0, chunk, 0, 0).unwrap().is_ok());
        assert_eq!(t.sweep(TRANSFER_TTL_SECS).unwrap(), 2);
        assert_eq!(t.assembled(&owner, &a).unwrap(), None);
        assert!(t.assembled(&owner, &b).unwrap().is_some());
        assert!(
            t.chunk(&owner, &c, TOTAL, 0, &z[..10], 0, 6)
                .unwrap()
                .is_ok()
        );
    }

    #[test]
    fn chunks_at_rest_hold_no_plaintext() {
        let dir = tempfile::tempdir().unwrap();
        let z: Vec<u8> = b"PLAINTEXT-CHUNK-MARK-2c9e"
            .iter()
            .copied()
            .cycle()
            .take(TOTAL as usize)
            .collect();
        {
            let (db, t) = open(dir.path());
            let owner = t.owner("alice@alpha.test", 4, 1 << 30);
            send_all(&t, &owner, &t.transfer_tag(b"u"), &z, 0);
            db.flush().unwrap();
        }
        super::super::at_rest::tests::assert_no_file_holds(
            dir.path(),
            &[b"PLAINTEXT-CHUNK-MARK", b"alice@alpha.test"],
        );
    }
}
