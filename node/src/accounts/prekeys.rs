//! The prekeys this gateway holds for its accounts (DESIGN §3.2), in the sled tree `prekeys`.
//!
//! | key | value |
//! |---|---|
//! | `o` ‖ account ‖ 0x00 ‖ id (8 bytes BE) | a one-time `SignedPrekey` not yet handed out |
//! | `f` ‖ account | 1 byte "handed out since uploaded" ‖ the uploaded fallback `SignedPrekey` (none: fallback 0, the binding's prekey) |
//! | `h` ‖ account | the highest prekey id ever stored for the account (8 bytes BE) |
//!
//! Addresses are printable ASCII (`accounts::check_address`), so `account ‖ 0x00` never
//! prefixes another account's keys.
//!
//! - **At most once.** A one-time prekey is removed from the tree and the removal flushed before
//!   it is handed out ([`PrekeyBook::take`]); a gateway killed after that never hands it out
//!   again, and one killed before it never handed it out. Removals are serialised (the write
//!   lock), so two askers never get the same prekey; the flushes are not: the takes that come
//!   while one flush runs share the next (`db::GroupFlush`), each still answered only once its
//!   removal is durable.
//! - **The fallback** is handed out only when no one-time prekey is left; the hand-out is
//!   recorded (flushed) and reported, so the client knows to upload a new one.
//! - **Ids only grow.** An upload whose ids are not all above every id stored before for the
//!   account is refused whole, so a prekey handed out (and removed) can never come back by being
//!   uploaded again. A new registration (new IK, new key store) starts the account afresh
//!   ([`PrekeyBook::reset`]).
//! - Signatures are the caller's to check (against the account's bound IK) before
//!   [`PrekeyBook::store`]; what is read back is decoded and validated again.

use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::wire::pb::{self, PrekeyKind};
use prost::Message as _;

/// The sled tree of the prekeys.
pub const PREKEYS_TREE: &str = crate::db::Tree::Prekeys.name();

/// Most one-time prekeys held for one account; an upload beyond it is refused.
pub const MAX_ONE_TIME_PREKEYS: usize = 1000;

/// Why a prekey operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrekeyStoreError {
    /// An uploaded id is not above every id stored before for the account (a prekey may have
    /// been handed out under it).
    #[error("prekey id {id} was used before (ids must exceed {highest})")]
    IdReused {
        /// The id.
        id: u64,
        /// The highest id stored before.
        highest: u64,
    },
    /// The upload would hold more than [`MAX_ONE_TIME_PREKEYS`] one-time prekeys.
    #[error("{held} one-time prekeys held and {uploaded} uploaded exceed {MAX_ONE_TIME_PREKEYS}")]
    Full {
        /// Held now.
        held: usize,
        /// In the upload.
        uploaded: usize,
    },
    /// The database failed (local).
    #[error("prekey storage: {0}")]
    Storage(#[from] sled::Error),
    /// A stored value does not decode (local: the database was damaged).
    #[error("the prekey book holds a bad value for {account}: {reason}")]
    Corrupt {
        /// The account.
        account: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// What [`PrekeyBook::take`] handed out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handed {
    /// A one-time prekey, removed for good.
    OneTime(pb::SignedPrekey),
    /// No one-time prekey was left: the uploaded fallback.
    Fallback(pb::SignedPrekey),
    /// No one-time prekey was left and none was uploaded: fallback 0, the binding's own
    /// prekey, which the caller takes from the binding.
    BindingFallback,
}

struct Inner {
    tree: sled::Tree,
    /// Serialises changes (uploads, takes, resets), so each sees the state it changes.
    write: Mutex<()>,
    /// The takes' flushes, shared by the takes in flight (held outside `write`).
    takes: crate::db::GroupFlush,
}

/// The durable prekey book (see the module docs). Cheap to clone; methods block on sled (and
/// those that change it on a flush), so async callers run them on a blocking thread.
#[derive(Clone)]
pub struct PrekeyBook {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PrekeyBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrekeyBook").finish_non_exhaustive()
    }
}

fn one_time_prefix(account: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(account.len() + 2);
    key.push(b'o');
    key.extend_from_slice(account.as_bytes());
    key.push(0);
    key
}

fn one_time_key(account: &str, id: u64) -> Vec<u8> {
    let mut key = one_time_prefix(account);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

fn tagged(tag: u8, account: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(account.len() + 1);
    key.push(tag);
    key.extend_from_slice(account.as_bytes());
    key
}

impl PrekeyBook {
    /// Opens the book in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, PrekeyStoreError> {
        let tree = crate::db::Tree::Prekeys.open(db)?;
        Ok(PrekeyBook {
            inner: Arc::new(Inner {
                takes: crate::db::GroupFlush::new(tree.clone()),
                tree,
                write: Mutex::new(()),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guard protects no data of its own: a panic elsewhere leaves nothing broken.
        self.inner
            .write
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn corrupt(account: &str, reason: &'static str) -> PrekeyStoreError {
        PrekeyStoreError::Corrupt {
            account: account.to_owned(),
            reason,
        }
    }

    fn highest(&self, account: &str) -> Result<u64, PrekeyStoreError> {
        match self.inner.tree.get(tagged(b'h', account))? {
            None => Ok(0),
            Some(v) => Ok(u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Self::corrupt(account, "highest id"))?,
            )),
        }
    }

    /// The uploaded fallback and whether it was handed out; `(None, used)` for fallback 0.
    fn fallback(
        &self,
        account: &str,
    ) -> Result<(Option<pb::SignedPrekey>, bool), PrekeyStoreError> {
        let Some(v) = self.inner.tree.get(tagged(b'f', account))? else {
            return Ok((None, false));
        };
        let (&used, prekey) = v
            .split_first()
            .ok_or_else(|| Self::corrupt(account, "fallback"))?;
        let prekey = if prekey.is_empty() {
            None
        } else {
            let p =
                pb::SignedPrekey::decode(prekey).map_err(|_| Self::corrupt(account, "fallback"))?;
            p.validate_as(PrekeyKind::Fallback)
                .map_err(|_| Self::corrupt(account, "fallback"))?;
            Some(p)
        };
        Ok((prekey, used != 0))
    }

    fn one_time_count(&self, account: &str) -> usize {
        self.inner
            .tree
            .scan_prefix(one_time_prefix(account))
            .keys()
            .count()
    }

    /// How many one-time prekeys are held for `account`, and whether its fallback was handed
    /// out since it was uploaded.
    pub fn status(&self, account: &str) -> Result<pb::PrekeyStatus, PrekeyStoreError> {
        Ok(pb::PrekeyStatus {
            one_time_remaining: self.one_time_count(account) as u64,
            fallback_used: self.fallback(account)?.1,
        })
    }

    /// Stores `upload` (signatures checked by the caller) for `account`; durable when this
    /// returns. Refused whole if an id is not above every id stored before, or the account
    /// would hold more than [`MAX_ONE_TIME_PREKEYS`].
    pub fn store(
        &self,
        account: &str,
        upload: &pb::PrekeyUpload,
    ) -> Result<pb::PrekeyStatus, PrekeyStoreError> {
        let _write = self.lock();
        let highest = self.highest(account)?;
        let ids = upload.one_time.iter().chain(upload.fallback.iter());
        if let Some(reused) = ids.clone().map(|p| p.id).find(|&id| id <= highest) {
            return Err(PrekeyStoreError::IdReused {
                id: reused,
                highest,
            });
        }
        let held = self.one_time_count(account);
        if held + upload.one_time.len() > MAX_ONE_TIME_PREKEYS {
            return Err(PrekeyStoreError::Full {
                held,
                uploaded: upload.one_time.len(),
            });
        }
        let mut batch = sled::Batch::default();
        for prekey in &upload.one_time {
            batch.insert(one_time_key(account, prekey.id), prekey.encode_to_vec());
        }
        if let Some(fallback) = &upload.fallback {
            let mut value = vec![0u8];
            value.extend_from_slice(&fallback.encode_to_vec());
            batch.insert(tagged(b'f', account), value);
        }
        let new_highest = ids.map(|p| p.id).max().unwrap_or(highest).max(highest);
        batch.insert(tagged(b'h', account), &new_highest.to_be_bytes());
        self.inner.tree.apply_batch(batch)?;
        self.inner.tree.flush()?;
        self.status(account)
    }

    /// Hands out one prekey of `account`: the one-time prekey with the lowest id, removed and
    /// flushed before this returns; when none is left, the fallback, its hand-out recorded and
    /// flushed. The change is made under the write lock and flushed after it is released, in
    /// one flush with the other takes in flight (module docs).
    pub fn take(&self, account: &str) -> Result<Handed, PrekeyStoreError> {
        let handed = self.take_in_memory(account)?;
        // Durable before it leaves: a restart never hands it out again. Also when this take
        // changed nothing (the fallback handed out before): an earlier take's mark may still be
        // waiting for its flush, and no answer says more than is durable.
        self.inner.takes.flush()?;
        Ok(handed)
    }

    /// [`take`](Self::take) for each of `accounts`, each after `first` of it succeeded (a
    /// take whose `first` fails consumes nothing), with one flush for all: one outcome per
    /// account, in order, each take durable when this returns (`service::prekeys` groups the
    /// takes in flight this way, one blocking thread for all of them).
    pub fn take_all<T, E>(
        &self,
        accounts: &[String],
        first: impl Fn(&str) -> Result<T, E>,
        store_error: impl Fn(PrekeyStoreError) -> E,
    ) -> Vec<Result<(T, Handed), E>> {
        let taken: Vec<Result<(T, Handed), E>> = accounts
            .iter()
            .map(|account| {
                let before = first(account)?;
                let handed = self.take_in_memory(account).map_err(&store_error)?;
                Ok((before, handed))
            })
            .collect();
        // Also when nothing was taken: as in `take`, no answer says more than is durable.
        let flushed = if accounts.is_empty() {
            Ok(())
        } else {
            self.inner.takes.flush()
        };
        taken
            .into_iter()
            .map(|outcome| match (outcome, &flushed) {
                (Ok(_), Err(e)) => Err(store_error(PrekeyStoreError::Storage(sled::Error::Io(
                    std::io::Error::other(format!("flushing the takes: {e}")),
                )))),
                (outcome, _) => outcome,
            })
            .collect()
    }

    /// [`take`](Self::take)'s change, applied but not yet flushed.
    fn take_in_memory(&self, account: &str) -> Result<Handed, PrekeyStoreError> {
        let _write = self.lock();
        if let Some(item) = self.inner.tree.scan_prefix(one_time_prefix(account)).next() {
            let (key, _) = item?;
            // Removals are serialised by the lock: it is still there.
            let Some(value) = self.inner.tree.remove(&key)? else {
                return Err(Self::corrupt(account, "one-time prekey vanished"));
            };
            let prekey = decode_valid_prekey(&value)
                .ok_or_else(|| Self::corrupt(account, "one-time prekey"))?;
            return Ok(Handed::OneTime(prekey));
        }
        let (fallback, used) = self.fallback(account)?;
        if !used {
            let mut value = vec![1u8];
            if let Some(p) = &fallback {
                value.extend_from_slice(&p.encode_to_vec());
            }
            self.inner.tree.insert(tagged(b'f', account), value)?;
        }
        Ok(match fallback {
            Some(p) => Handed::Fallback(p),
            None => Handed::BindingFallback,
        })
    }

    /// Forgets every prekey of `account` and its highest id: a new registration binds a new
    /// IK, whose key store numbers its prekeys from 1. Durable when this returns.
    pub fn reset(&self, account: &str) -> Result<(), PrekeyStoreError> {
        let _write = self.lock();
        let mut batch = sled::Batch::default();
        for key in self.inner.tree.scan_prefix(one_time_prefix(account)).keys() {
            batch.remove(key?);
        }
        batch.remove(tagged(b'f', account));
        batch.remove(tagged(b'h', account));
        self.inner.tree.apply_batch(batch)?;
        self.inner.tree.flush()?;
        Ok(())
    }
}

/// A stored one-time prekey, decoded and checked.
fn decode_valid_prekey(bytes: &[u8]) -> Option<pb::SignedPrekey> {
    let p = pb::SignedPrekey::decode(bytes).ok()?;
    p.validate_as(PrekeyKind::OneTime).ok()?;
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> (tempfile::TempDir, PrekeyBook) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        (dir, PrekeyBook::open(&db).unwrap())
    }

    fn prekey(kind: PrekeyKind, id: u64) -> pb::SignedPrekey {
        pb::SignedPrekey {
            kind: kind as i32,
            id,
            public_key: vec![id as u8; 32],
            signature: vec![7; 64],
        }
    }

    fn upload(ids: std::ops::Range<u64>, fallback: Option<u64>) -> pb::PrekeyUpload {
        pb::PrekeyUpload {
            one_time: ids.map(|i| prekey(PrekeyKind::OneTime, i)).collect(),
            fallback: fallback.map(|i| prekey(PrekeyKind::Fallback, i)),
        }
    }

    #[test]
    fn one_time_prekeys_are_handed_out_once_then_the_fallback() {
        let (_dir, book) = book();
        let status = book.store("bob@beta.test", &upload(1..4, Some(4))).unwrap();
        assert_eq!(status.one_time_remaining, 3);
        assert!(!status.fallback_used);
        // Another account's prekeys are its own ("bob@beta.test" is a prefix of this one).
        book.store("bob@beta.test2", &upload(1..3, None)).unwrap();
        let mut ids = Vec::new();
        for _ in 0..3 {
            match book.take("bob@beta.test").unwrap() {
                Handed::OneTime(p) => ids.push(p.id),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(
            book.take("bob@beta.test").unwrap(),
            Handed::Fallback(prekey(PrekeyKind::Fallback, 4))
        );
        assert!(book.status("bob@beta.test").unwrap().fallback_used);
        assert_eq!(book.status("bob@beta.test2").unwrap().one_time_remaining, 2);
        // Without an uploaded fallback, the binding's.
        assert_eq!(
            book.take("carol@beta.test").unwrap(),
            Handed::BindingFallback
        );
        assert!(book.status("carol@beta.test").unwrap().fallback_used);
        // A new fallback resets "used".
        book.store("bob@beta.test", &upload(5..6, Some(6))).unwrap();
        assert!(!book.status("bob@beta.test").unwrap().fallback_used);
    }

    #[test]
    fn attack_an_id_handed_out_cannot_be_uploaded_again() {
        let (_dir, book) = book();
        book.store("bob@beta.test", &upload(1..3, None)).unwrap();
        assert!(matches!(book.take("bob@beta.test").unwrap(), Handed::OneTime(p) if p.id == 1));
        for again in [
            upload(1..2, None),
            upload(2..4, None),
            upload(9..10, Some(2)),
        ] {
            assert!(matches!(
                book.store("bob@beta.test", &again),
                Err(PrekeyStoreError::IdReused { .. })
            ));
        }
        assert_eq!(book.status("bob@beta.test").unwrap().one_time_remaining, 1);
        // A new registration starts afresh.
        book.reset("bob@beta.test").unwrap();
        assert_eq!(book.status("bob@beta.test").unwrap().one_time_remaining, 0);
        book.store("bob@beta.test", &upload(1..2, None)).unwrap();
    }

    #[test]
    fn an_account_holds_a_bounded_number_of_prekeys() {
        let (_dir, book) = book();
        let max = MAX_ONE_TIME_PREKEYS as u64;
        let mut next = 1;
        while next <= max {
            book.store("bob@beta.test", &upload(next..next + 100, None))
                .unwrap();
            next += 100;
        }
        assert!(matches!(
            book.store("bob@beta.test", &upload(next..next + 1, None)),
            Err(PrekeyStoreError::Full { .. })
        ));
    }

    #[test]
    fn a_take_is_durable_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = crate::db::open(dir.path()).unwrap().unwrap();
            let book = PrekeyBook::open(&db).unwrap();
            book.store("bob@beta.test", &upload(1..3, None)).unwrap();
            book.take("bob@beta.test").unwrap();
        }
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let book = PrekeyBook::open(&db).unwrap();
        assert!(matches!(book.take("bob@beta.test").unwrap(), Handed::OneTime(p) if p.id == 2));
    }

    #[test]
    fn concurrent_takes_of_one_accounts_prekeys_are_all_distinct_and_durable() {
        let dir = tempfile::tempdir().unwrap();
        let taken = {
            let db = crate::db::open(dir.path()).unwrap().unwrap();
            let book = PrekeyBook::open(&db).unwrap();
            book.store("bob@beta.test", &upload(1..201, None)).unwrap();
            // 16 askers take 12 each at once (192 of 200): their takes share flushes.
            let askers: Vec<_> = (0..16)
                .map(|_| {
                    let book = book.clone();
                    std::thread::spawn(move || {
                        (0..12)
                            .map(|_| match book.take("bob@beta.test").unwrap() {
                                Handed::OneTime(p) => p.id,
                                other => panic!("{other:?}"),
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut taken: Vec<u64> = askers.into_iter().flat_map(|a| a.join().unwrap()).collect();
            taken.sort_unstable();
            taken
        };
        let before = taken.len();
        let mut distinct = taken.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), before, "a prekey was handed out twice");
        assert_eq!(before, 192);
        // After a reopen none of them is held any more, and the other 8 are.
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let book = PrekeyBook::open(&db).unwrap();
        assert_eq!(book.status("bob@beta.test").unwrap().one_time_remaining, 8);
        for _ in 0..8 {
            match book.take("bob@beta.test").unwrap() {
                Handed::OneTime(p) => assert!(taken.binary_search(&p.id).is_err()),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn takes_of_several_accounts_in_one_group_each_get_their_own_and_are_durable_when_answered() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(&dir.path().join("db")).unwrap().unwrap();
        let book = PrekeyBook::open(&db).unwrap();
        book.store("bob@beta.test", &upload(1..4, None)).unwrap();
        book.store("carol@beta.test", &upload(1..3, None)).unwrap();
        book.store("dave@beta.test", &upload(1..2, None)).unwrap();
        let accounts: Vec<String> = [
            "bob@beta.test",
            "carol@beta.test",
            "bob@beta.test",
            "dave@beta.test",
            "carol@beta.test",
        ]
        .map(String::from)
        .to_vec();
        // dave's binding cannot be shown: its take must consume nothing.
        let first = |a: &str| match a {
            "dave@beta.test" => Err("no binding".to_string()),
            a => Ok(a.to_owned()),
        };
        let taken: Vec<_> = book
            .take_all(&accounts, first, |e| e.to_string())
            .into_iter()
            .map(|outcome| match outcome {
                Ok((account, Handed::OneTime(p))) => Ok((account, p.id)),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e),
            })
            .collect();
        assert_eq!(
            taken,
            [
                Ok(("bob@beta.test".to_string(), 1)),
                Ok(("carol@beta.test".to_string(), 1)),
                Ok(("bob@beta.test".to_string(), 2)),
                Err("no binding".to_string()),
                Ok(("carol@beta.test".to_string(), 2)),
            ]
        );
        // Answered: a crash now (the files as they are, the database still open) keeps every
        // take, and dave's prekey.
        crate::db::copy_as_crashed(&dir.path().join("db"), &dir.path().join("crashed"));
        let crashed = PrekeyBook::open(
            &crate::db::open(&dir.path().join("crashed"))
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        let left = |a: &str| crashed.status(a).unwrap().one_time_remaining;
        assert_eq!(
            (
                left("bob@beta.test"),
                left("carol@beta.test"),
                left("dave@beta.test")
            ),
            (1, 0, 1)
        );
    }
}
