//! Accounts of this domain: the Trusted Mail Gateway's account management and local CA
//! (DESIGN §4), kept in the sled tree `accounts` of the node's database.
//!
//! An account is one of:
//! - **pending**: the operator issued a one-time enrolment code (`herald-node account add`);
//!   only a hash of the code is stored (`KDF("herald v1 enrolment code", lp(account) ‖
//!   lp(code))`), with its expiry;
//! - **binding**: a client presented the right code for IK and the gateway is logging the
//!   `IdentityBinding`; recorded before the append, so that a crash in between cannot let the
//!   code bind a second key (settled at the next start: active if the binding is in the log,
//!   pending again if not);
//! - **active**: a client registered its identity key IK with the code; the gateway logged an
//!   `IdentityBinding` at `binding_index`;
//! - **disabled**: the operator disabled it; if it was active the gateway first logged an
//!   `IdentityRevocation` of its key.
//!
//! Every change goes through [`AccountBook`] and is flushed before it is reported done: by the
//! gateway's registration and the admin API while the node runs, and by `herald-node account`
//! on a stopped node's database. What is logged is the truth clients verify; this book is the
//! gateway's own bookkeeping of it (who may register, which key may publish).
//!
//! Addresses are kept canonical so that what the log binds is exactly what clients sign: a
//! local part of 1 to 64 printable ASCII characters without upper case, white space or `@`,
//! then `@` and this node's domain as configured.

pub mod api;
pub mod attempts;
mod password;
pub mod prekeys;
mod record;
pub mod settle;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

pub use password::{LoginRecord, PasswordEntry};
pub use record::{AccountRecord, AccountState, AccountView};

use herald_proto::entry::lp;

/// The sled tree of the accounts.
pub const ACCOUNTS_TREE: &str = crate::db::Tree::Accounts.name();
/// Longest local part of an address (RFC 5321).
pub const MAX_LOCAL_PART_BYTES: usize = 64;
/// How long an enrolment code is valid unless the operator says otherwise: 7 days.
pub const DEFAULT_CODE_VALIDITY_SECS: u64 = 7 * 24 * 60 * 60;
/// Longest validity an operator may give a code: 90 days.
pub const MAX_CODE_VALIDITY_SECS: u64 = 90 * 24 * 60 * 60;
/// Most keys an account may have had revoked; re-enrolling after that many is refused (a
/// binding answer carries at most this many revocations).
pub const MAX_REVOKED_KEYS: usize = herald_proto::wire::MAX_REVOCATIONS_PER_ANSWER;
/// Longest stored record; anything longer is corruption.
const MAX_RECORD_BYTES: usize = 8 * 1024;
/// The KDF label of a stored enrolment code hash.
pub const ENROLMENT_CODE_LABEL: &str = "herald v1 enrolment code";
/// Random bytes in an enrolment code (128 bits: guessing is hopeless even without the limit
/// on failed attempts).
const CODE_BYTES: usize = 16;

/// Why an account change was refused, or the book failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The address is not a canonical address (see the module docs).
    #[error("{address:?} is not an account address: {reason}")]
    BadAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The address is of another domain than this node's.
    #[error("{address:?} is not an account of {domain}")]
    OtherDomain {
        /// The address as given.
        address: String,
        /// This node's domain.
        domain: String,
    },
    /// No such account.
    #[error("no account {0}")]
    Unknown(String),
    /// The account is active: disable it before issuing a new code.
    #[error("{0} is active; disable it before enrolling it again")]
    Active(String),
    /// The account is already disabled.
    #[error("{0} is already disabled")]
    AlreadyDisabled(String),
    /// The account has had [`MAX_REVOKED_KEYS`] keys revoked.
    #[error("{0} has had {MAX_REVOKED_KEYS} keys revoked; it cannot be enrolled again")]
    TooManyRevocations(String),
    /// The code validity is 0 or over [`MAX_CODE_VALIDITY_SECS`].
    #[error("a code is valid for 1 to {MAX_CODE_VALIDITY_SECS} seconds, not {0}")]
    BadValidity(u64),
    /// The account changed meanwhile (another registration or disabling won).
    #[error("{0} changed meanwhile; nothing was done")]
    Changed(String),
    /// A registration of the account is being logged (or was when the node stopped; the next
    /// start settles it).
    #[error("a registration of {0} is being logged; start the node (or wait) and try again")]
    BindingInFlight(String),
    /// The OS random number generator failed (local).
    #[error("OS random number generator failed: {0}")]
    Random(getrandom::Error),
    /// The database failed (local).
    #[error("account storage: {0}")]
    Storage(#[from] sled::Error),
    /// A stored record does not parse (local: the database was damaged or edited).
    #[error("the account book holds a bad record for {key:?}: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why it was refused.
        reason: String,
    },
}

/// A new one-time enrolment code, to be given to the account's owner once.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolmentCode(String);

impl EnrolmentCode {
    /// The code's text (four groups of eight hex digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for EnrolmentCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A code is a password until used: never in logs.
        f.write_str("EnrolmentCode(..)")
    }
}

/// The stored hash of `code` for `account`.
pub fn code_hash(account: &str, code: &str) -> [u8; 32] {
    let mut ikm = Vec::with_capacity(16 + account.len() + code.len());
    lp(&mut ikm, account.as_bytes());
    lp(&mut ikm, code.as_bytes());
    blake3::derive_key(ENROLMENT_CODE_LABEL, &ikm)
}

/// Compares in constant time, so the time taken says nothing about how much of a guess was right.
pub(crate) fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks that `address` is a canonical address of `domain`.
pub fn check_address(address: &str, domain: &str) -> Result<(), AccountError> {
    let bad = |reason| AccountError::BadAddress {
        address: address.to_owned(),
        reason,
    };
    let Some((local, at_domain)) = address.split_once('@') else {
        return Err(bad("no @"));
    };
    if local.is_empty() || local.len() > MAX_LOCAL_PART_BYTES {
        return Err(bad("the local part must be 1 to 64 characters"));
    }
    if !local.bytes().all(|b| b.is_ascii_graphic() && b != b'@') {
        return Err(bad(
            "the local part must be printable ASCII without space or @",
        ));
    }
    if local.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(bad("addresses are written in lower case"));
    }
    if at_domain.contains('@') {
        return Err(bad("more than one @"));
    }
    if at_domain != domain {
        return Err(AccountError::OtherDomain {
            address: address.to_owned(),
            domain: domain.to_owned(),
        });
    }
    Ok(())
}

struct BookInner {
    tree: sled::Tree,
    domain: String,
    /// Changes are serialized so that each sees the state it changes.
    write: Mutex<()>,
    /// Records written through this book since it was opened ([`AccountBook::changes`]).
    changes: AtomicU64,
}

/// The durable account book (see the module docs). Cheap to clone; methods block on sled (and
/// those that change it on a flush), so async callers run them on a blocking thread.
#[derive(Clone)]
pub struct AccountBook {
    inner: Arc<BookInner>,
}

impl std::fmt::Debug for AccountBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountBook")
            .field("domain", &self.inner.domain)
            .finish_non_exhaustive()
    }
}

impl AccountBook {
    /// Opens the book of the node of `domain` in `db`.
    pub fn open(db: &sled::Db, domain: &str) -> Result<Self, AccountError> {
        Ok(AccountBook {
            inner: Arc::new(BookInner {
                tree: crate::db::Tree::Accounts.open(db)?,
                domain: domain.to_owned(),
                write: Mutex::new(()),
                changes: AtomicU64::new(0),
            }),
        })
    }

    /// This node's domain.
    pub fn domain(&self) -> &str {
        &self.inner.domain
    }

    /// The record of `account`, if any.
    pub fn get(&self, account: &str) -> Result<Option<AccountRecord>, AccountError> {
        if account.len() > herald_proto::wire::MAX_ACCOUNT_BYTES {
            return Ok(None);
        }
        self.inner
            .tree
            .get(account.as_bytes())?
            .map(|v| decode(account.as_bytes(), &v))
            .transpose()
    }

    /// The bound identity key of `account` if it is active.
    pub fn active_key(&self, account: &str) -> Result<Option<[u8; 32]>, AccountError> {
        Ok(self.get(account)?.and_then(|r| match r.state {
            AccountState::Active { identity_key, .. } => Some(identity_key),
            _ => None,
        }))
    }

    /// Issues a new one-time code for `account` (new, pending or disabled), valid for
    /// `valid_for` seconds from `now`; replaces any earlier code. Durable when this returns.
    pub fn issue_code(
        &self,
        account: &str,
        now: u64,
        valid_for: u64,
    ) -> Result<(EnrolmentCode, AccountRecord), AccountError> {
        check_address(account, &self.inner.domain)?;
        if valid_for == 0 || valid_for > MAX_CODE_VALIDITY_SECS {
            return Err(AccountError::BadValidity(valid_for));
        }
        let mut secret = [0u8; CODE_BYTES];
        getrandom::fill(&mut secret).map_err(AccountError::Random)?;
        let hex = hex::encode(secret);
        let code = EnrolmentCode(format!(
            "{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..16],
            &hex[16..24],
            &hex[24..32]
        ));
        let _write = self.lock();
        let previous = self.get(account)?;
        let revoked_keys = match &previous {
            Some(r) if matches!(r.state, AccountState::Active { .. }) => {
                return Err(AccountError::Active(account.to_owned()));
            }
            Some(r) if matches!(r.state, AccountState::Binding { .. }) => {
                return Err(AccountError::BindingInFlight(account.to_owned()));
            }
            Some(r) if r.revoked_keys.len() >= MAX_REVOKED_KEYS => {
                return Err(AccountError::TooManyRevocations(account.to_owned()));
            }
            Some(r) => r.revoked_keys.clone(),
            None => Vec::new(),
        };
        let record = AccountRecord {
            account: account.to_owned(),
            created: previous.as_ref().map_or(now, |r| r.created),
            state: AccountState::Pending {
                code_hash: code_hash(account, code.as_str()),
                expires: now.saturating_add(valid_for),
            },
            revoked_keys,
            // A new registration brings a new password.
            password: None,
        };
        self.put(&record)?;
        Ok((code, record))
    }

    /// Records that `identity_key` is being bound to `account` with the code whose hash is
    /// `code_hash` (checked by the caller) and `password` as its password, the log being
    /// `from_size` long: the account must be pending with that code. Durable when this
    /// returns, which must be before the binding is appended.
    pub fn begin_binding(
        &self,
        account: &str,
        code_hash: &[u8; 32],
        identity_key: [u8; 32],
        from_size: u64,
        password: &PasswordEntry,
    ) -> Result<AccountRecord, AccountError> {
        let _write = self.lock();
        let mut record = self
            .get(account)?
            .ok_or_else(|| AccountError::Unknown(account.to_owned()))?;
        let expires = match &record.state {
            AccountState::Pending {
                code_hash: h,
                expires,
            } if same_hash(h, code_hash) => *expires,
            _ => return Err(AccountError::Changed(account.to_owned())),
        };
        record.state = AccountState::Binding {
            code_hash: *code_hash,
            expires,
            identity_key,
            from_size,
        };
        record.password = Some(password.clone());
        self.put(&record)?;
        Ok(record)
    }

    /// Returns `account` from binding `identity_key` to pending with the same code: the binding
    /// was not appended (refused before it was queued, or not in the log after a restart).
    /// Durable when this returns.
    pub fn abandon_binding(
        &self,
        account: &str,
        identity_key: &[u8; 32],
    ) -> Result<AccountRecord, AccountError> {
        let _write = self.lock();
        let mut record = self
            .get(account)?
            .ok_or_else(|| AccountError::Unknown(account.to_owned()))?;
        let (code_hash, expires) = match &record.state {
            AccountState::Binding {
                code_hash,
                expires,
                identity_key: k,
                ..
            } if k == identity_key => (*code_hash, *expires),
            _ => return Err(AccountError::Changed(account.to_owned())),
        };
        record.state = AccountState::Pending { code_hash, expires };
        record.password = None;
        self.put(&record)?;
        Ok(record)
    }

    /// Marks `account` active with `identity_key`, bound at `binding_index` from
    /// `valid_from`, if it is binding that key with the code hash `code_hash`
    /// ([`AccountBook::begin_binding`]). Durable when this returns.
    pub fn activate(
        &self,
        account: &str,
        code_hash: &[u8; 32],
        identity_key: [u8; 32],
        binding_index: u64,
        valid_from: u64,
    ) -> Result<AccountRecord, AccountError> {
        let _write = self.lock();
        let mut record = self
            .get(account)?
            .ok_or_else(|| AccountError::Unknown(account.to_owned()))?;
        match &record.state {
            AccountState::Binding {
                code_hash: h,
                identity_key: k,
                ..
            } if same_hash(h, code_hash) && *k == identity_key => {}
            _ => return Err(AccountError::Changed(account.to_owned())),
        }
        record.state = AccountState::Active {
            identity_key,
            binding_index,
            valid_from,
        };
        self.put(&record)?;
        Ok(record)
    }

    /// Marks `account` disabled at `now`. For an active account, `revocation` names the
    /// logged revocation (index) of the key `identity_key` the caller revoked; the account must
    /// still hold that key. Durable when this returns.
    pub fn mark_disabled(
        &self,
        account: &str,
        revocation: Option<([u8; 32], u64)>,
        now: u64,
    ) -> Result<AccountRecord, AccountError> {
        let _write = self.lock();
        let mut record = self
            .get(account)?
            .ok_or_else(|| AccountError::Unknown(account.to_owned()))?;
        let (identity_key, revocation_index) = match (&record.state, revocation) {
            (AccountState::Disabled { .. }, _) => {
                return Err(AccountError::AlreadyDisabled(account.to_owned()));
            }
            (AccountState::Binding { .. }, _) => {
                return Err(AccountError::BindingInFlight(account.to_owned()));
            }
            (AccountState::Pending { .. }, None) => (None, None),
            (AccountState::Active { identity_key, .. }, Some((revoked, index)))
                if *identity_key == revoked =>
            {
                (Some(revoked), Some(index))
            }
            _ => return Err(AccountError::Changed(account.to_owned())),
        };
        if let Some(key) = identity_key {
            record.revoked_keys.push(key);
        }
        record.state = AccountState::Disabled {
            identity_key,
            revocation_index,
            disabled_at: now,
        };
        self.put(&record)?;
        Ok(record)
    }

    /// The accounts with a registration being logged ([`AccountState::Binding`]): after a
    /// crash, the ones to settle. Reads every record (the book is read once per start).
    pub fn in_flight(&self) -> Result<Vec<AccountRecord>, AccountError> {
        let mut out = Vec::new();
        for item in self.inner.tree.iter() {
            let (key, value) = item?;
            let record = decode(&key, &value)?;
            if matches!(record.state, AccountState::Binding { .. }) {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Every account, by address, at most `limit`.
    pub fn list(&self, limit: usize) -> Result<Vec<AccountRecord>, AccountError> {
        let mut out = Vec::new();
        for item in self.inner.tree.iter().take(limit) {
            let (key, value) = item?;
            out.push(decode(&key, &value)?);
        }
        Ok(out)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The guard protects no data of its own, so a panic elsewhere leaves nothing broken.
        self.inner
            .write
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How many records were written through this book since it was opened. A reader that
    /// took this count *before* reading a record knows, while the count is unchanged, that no
    /// record was written since (PAEP's sessions check their account this way,
    /// `service::paep`). The node opens one book per database (`gateway`), and `put` is the
    /// only writer of the tree.
    pub fn changes(&self) -> u64 {
        self.inner.changes.load(Ordering::SeqCst)
    }

    fn put(&self, record: &AccountRecord) -> Result<(), AccountError> {
        self.inner
            .tree
            .insert(record.account.as_bytes(), record.encode())?;
        // Counted once the record is visible and before it is flushed: a reader that sees the
        // old count read before this write, and its next look sees the new count (even if the
        // flush fails: the record is in memory all the same).
        self.inner.changes.fetch_add(1, Ordering::SeqCst);
        self.inner.tree.flush()?;
        Ok(())
    }
}

fn decode(key: &[u8], value: &[u8]) -> Result<AccountRecord, AccountError> {
    let key_text = String::from_utf8_lossy(key).into_owned();
    let corrupt = |reason: String| AccountError::Corrupt {
        key: key_text.clone(),
        reason,
    };
    if value.len() > MAX_RECORD_BYTES {
        return Err(corrupt(format!("{} bytes", value.len())));
    }
    let record = AccountRecord::decode(value).map_err(corrupt)?;
    if record.account.as_bytes() != key {
        return Err(corrupt(format!("the record is for {}", record.account)));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw() -> PasswordEntry {
        password::tests::entry(b"pw")
    }

    fn book() -> (tempfile::TempDir, AccountBook) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        (dir, AccountBook::open(&db, "beta.test").unwrap())
    }

    #[test]
    fn addresses_must_be_canonical_and_of_this_domain() {
        assert!(check_address("bob@beta.test", "beta.test").is_ok());
        assert!(check_address("b.o+b_1@beta.test", "beta.test").is_ok());
        for bad in [
            "bob",
            "@beta.test",
            "Bob@beta.test",
            "b ob@beta.test",
            "bob@@beta.test",
            "b\u{e9}@beta.test",
        ] {
            assert!(
                matches!(
                    check_address(bad, "beta.test"),
                    Err(AccountError::BadAddress { .. })
                ),
                "{bad}"
            );
        }
        let long = format!("{}@beta.test", "a".repeat(65));
        assert!(check_address(&long, "beta.test").is_err());
        assert!(matches!(
            check_address("bob@alpha.test", "beta.test"),
            Err(AccountError::OtherDomain { .. })
        ));
        assert!(check_address("bob@BETA.test", "beta.test").is_err());
    }

    #[test]
    fn a_code_is_stored_only_as_its_hash_and_activates_once() {
        let (_dir, book) = book();
        let (code, record) = book.issue_code("bob@beta.test", 100, 60).unwrap();
        assert_eq!(code.as_str().len(), 35);
        assert!(!format!("{code:?}").contains(code.as_str()));
        let stored = String::from_utf8(record.encode()).unwrap();
        assert!(!stored.contains(code.as_str()), "{stored}");
        let AccountState::Pending {
            code_hash: h,
            expires,
        } = record.state
        else {
            panic!("{record:?}")
        };
        assert_eq!(expires, 160);
        assert_eq!(h, code_hash("bob@beta.test", code.as_str()));
        // Activation needs the binding recorded first.
        assert!(matches!(
            book.activate("bob@beta.test", &h, [7; 32], 3, 100),
            Err(AccountError::Changed(_))
        ));
        book.begin_binding("bob@beta.test", &h, [7; 32], 3, &pw())
            .unwrap();
        book.activate("bob@beta.test", &h, [7; 32], 3, 100).unwrap();
        assert_eq!(book.active_key("bob@beta.test").unwrap(), Some([7; 32]));
        // Used: the same code activates nothing again.
        assert!(matches!(
            book.activate("bob@beta.test", &h, [8; 32], 4, 100),
            Err(AccountError::Changed(_))
        ));
        // An active account needs disabling before a new code.
        assert!(matches!(
            book.issue_code("bob@beta.test", 100, 60),
            Err(AccountError::Active(_))
        ));
    }

    #[test]
    fn disabling_keeps_the_revoked_key_and_allows_re_enrolment() {
        let (_dir, book) = book();
        let (code, _) = book.issue_code("bob@beta.test", 1, 60).unwrap();
        let h = code_hash("bob@beta.test", code.as_str());
        book.begin_binding("bob@beta.test", &h, [7; 32], 0, &pw())
            .unwrap();
        book.activate("bob@beta.test", &h, [7; 32], 0, 1).unwrap();
        // The revocation must be of the key the account holds.
        assert!(matches!(
            book.mark_disabled("bob@beta.test", Some(([8; 32], 5)), 2),
            Err(AccountError::Changed(_))
        ));
        let r = book
            .mark_disabled("bob@beta.test", Some(([7; 32], 5)), 2)
            .unwrap();
        assert_eq!(r.revoked_keys, vec![[7; 32]]);
        assert_eq!(book.active_key("bob@beta.test").unwrap(), None);
        assert!(matches!(
            book.mark_disabled("bob@beta.test", None, 3),
            Err(AccountError::AlreadyDisabled(_))
        ));
        let (_, again) = book.issue_code("bob@beta.test", 4, 60).unwrap();
        assert_eq!(again.revoked_keys, vec![[7; 32]]);
        assert_eq!(again.created, 1);
        assert_eq!(book.list(10).unwrap().len(), 1);
    }

    /// While a binding is being logged the account can be neither re-issued, disabled nor
    /// bound to another key; it ends active with that key, or pending again with the same code.
    #[test]
    fn a_binding_in_flight_ends_active_or_pending_and_blocks_everything_else() {
        let (_dir, book) = book();
        let (code, _) = book.issue_code("bob@beta.test", 1, 60).unwrap();
        let h = code_hash("bob@beta.test", code.as_str());
        assert!(matches!(
            book.begin_binding("bob@beta.test", &[0; 32], [7; 32], 5, &pw()),
            Err(AccountError::Changed(_))
        ));
        book.begin_binding("bob@beta.test", &h, [7; 32], 5, &pw())
            .unwrap();
        assert_eq!(book.in_flight().unwrap().len(), 1);
        assert_eq!(book.in_flight().unwrap()[0].view().state, "binding");
        for refused in [
            book.begin_binding("bob@beta.test", &h, [8; 32], 5, &pw())
                .err(),
            book.activate("bob@beta.test", &h, [8; 32], 5, 1).err(),
            book.issue_code("bob@beta.test", 1, 60).err(),
            book.mark_disabled("bob@beta.test", None, 1).err(),
            book.abandon_binding("bob@beta.test", &[8; 32]).err(),
        ] {
            assert!(
                matches!(
                    refused,
                    Some(AccountError::Changed(_) | AccountError::BindingInFlight(_))
                ),
                "{refused:?}"
            );
        }
        // Not logged: pending again, with the same code.
        let back = book.abandon_binding("bob@beta.test", &[7; 32]).unwrap();
        assert_eq!(
            back.state,
            AccountState::Pending {
                code_hash: h,
                expires: 61
            }
        );
        assert!(book.in_flight().unwrap().is_empty());
        book.begin_binding("bob@beta.test", &h, [8; 32], 6, &pw())
            .unwrap();
        book.activate("bob@beta.test", &h, [8; 32], 6, 2).unwrap();
        assert_eq!(book.active_key("bob@beta.test").unwrap(), Some([8; 32]));
    }

    #[test]
    fn validity_and_unknown_accounts_are_checked() {
        let (_dir, book) = book();
        assert!(matches!(
            book.issue_code("bob@beta.test", 1, 0),
            Err(AccountError::BadValidity(0))
        ));
        assert!(
            book.issue_code("bob@beta.test", 1, MAX_CODE_VALIDITY_SECS + 1)
                .is_err()
        );
        assert!(matches!(
            book.mark_disabled("eve@beta.test", None, 1),
            Err(AccountError::Unknown(_))
        ));
        assert_eq!(book.get(&"x".repeat(400)).unwrap(), None);
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let (_dir, book) = book();
        book.inner.tree.insert("bob@beta.test", &b"{"[..]).unwrap();
        assert!(matches!(
            book.get("bob@beta.test"),
            Err(AccountError::Corrupt { .. })
        ));
        book.inner
            .tree
            .insert("eve@beta.test", vec![b' '; MAX_RECORD_BYTES + 1])
            .unwrap();
        assert!(book.list(10).is_err());
    }
}
