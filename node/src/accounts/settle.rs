//! Settling registrations a crash interrupted (F5 of the reliability review).
//!
//! Registration records the binding in flight ([`AccountState::Binding`]: the account, the key,
//! the code's hash and the log's size) durably before it appends the `IdentityBinding`, and
//! marks the account active only after the binding is durable. A crash in between leaves the
//! account "binding". When the node next opens — before any client is served — each such
//! account is settled from the log:
//! - the log holds a binding of that account and key at or after the recorded size: the
//!   account is made active with it, so the code cannot bind a second key;
//! - it does not: the append never became durable, and the account is pending again with the
//!   same code.
//!
//! No orphan binding can arise (the record names the only key the code may bind), so none needs
//! revoking.

use herald_proto::wire::pb::{self, log_entry};
use herald_proto::wire::{MAX_LOG_ENTRY_BYTES, decode};
use tracing::warn;

use super::{AccountBook, AccountError, AccountState, MAX_REVOKED_KEYS};
use crate::store::{LogStore, ReadError};

/// Most leaves of one account's list read: each enrolment adds a binding and each disabling a
/// revocation, at most [`MAX_REVOKED_KEYS`] times (the bound the binding lookup reads too).
const MAX_ACCOUNT_LEAVES: usize = 4 * MAX_REVOKED_KEYS + 2;

/// How a registration left in flight was settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The binding was in the log at `index`: the account is active with it.
    Activated {
        /// The binding's index.
        index: u64,
    },
    /// The binding was not in the log: the account is pending again with the same code.
    Abandoned,
}

/// Why settling failed (local: the database or the log could not be read).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettleError {
    /// The account book failed.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// The log could not be read.
    #[error("reading the log: {0}")]
    Read(#[from] ReadError),
    /// A leaf the account's index names is missing or does not decode.
    #[error("logged entry {index}: {reason}")]
    Entry {
        /// Its index.
        index: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Settles every account of `book` left "binding" from what `store` holds (see the module
/// docs); what it did, per account. Blocking (sled).
pub fn settle_in_flight(
    book: &AccountBook,
    store: &LogStore,
) -> Result<Vec<(String, Settled)>, SettleError> {
    let mut settled = Vec::new();
    for record in book.in_flight()? {
        let AccountState::Binding {
            identity_key,
            code_hash,
            from_size,
            ..
        } = record.state
        else {
            continue;
        };
        let account = record.account;
        let outcome = match logged_binding(store, &account, &identity_key, from_size)? {
            Some((index, valid_from)) => {
                book.activate(&account, &code_hash, identity_key, index, valid_from)?;
                warn!(
                    account,
                    index, "a registration interrupted by a crash is completed"
                );
                Settled::Activated { index }
            }
            None => {
                book.abandon_binding(&account, &identity_key)?;
                warn!(
                    account,
                    "a registration interrupted by a crash was not logged; its code is valid again"
                );
                Settled::Abandoned
            }
        };
        settled.push((account, outcome));
    }
    Ok(settled)
}

/// The logged binding of `identity_key` to `account` at index `from_size` or later, if any:
/// its index and `valid_from`.
fn logged_binding(
    store: &LogStore,
    account: &str,
    identity_key: &[u8; 32],
    from_size: u64,
) -> Result<Option<(u64, u64)>, SettleError> {
    let listed = store.index_leaves_latest("account", account.as_bytes(), MAX_ACCOUNT_LEAVES)?;
    for index in listed.into_iter().filter(|&i| i >= from_size) {
        let entry =
            store
                .entries(index, 1)?
                .into_iter()
                .next()
                .ok_or_else(|| SettleError::Entry {
                    index,
                    reason: "missing".into(),
                })?;
        let decoded: pb::LogEntry =
            decode(&entry, MAX_LOG_ENTRY_BYTES).map_err(|e| SettleError::Entry {
                index,
                reason: e.to_string(),
            })?;
        if let Some(log_entry::Kind::IdentityBinding(b)) = decoded.kind
            && b.account == account
            && b.identity_key.as_slice() == identity_key.as_slice()
        {
            return Ok(Some((index, b.valid_from)));
        }
    }
    Ok(None)
}
