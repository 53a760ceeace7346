//! Enrolment (the local CA, DESIGN §4): issuing one-time codes, registering an identity key
//! with one, and disabling an account.
//!
//! **Registration** checks, before anything changes: the address is a canonical address of
//! this domain; IK's signature over the fallback prekey (proto `entry::sign_fallback_prekey`)
//! and over the registration (`entry::sign_registration`, which covers the code, so a
//! signature is good for one enrolment only); the account is pending with a code whose hash
//! matches (compared in constant time) and has not expired; IK was never revoked for it. Then
//! the gateway appends an `IdentityBinding` (valid from now) signed with its log key, waits
//! until it is durable, marks the account active (flushed), and answers the binding's
//! `SubmitAck`. Enrolments of one account run one at a time ([`AccountLocks`]), so one code
//! binds one key; different accounts' enrolments run side by side and share sequencing rounds.
//!
//! **Failed attempts**: a wrong code for a pending account counts against it; after
//! [`MAX_FAILED_ENROLMENTS`] within [`FAILURE_WINDOW`] the account's attempts are refused
//! without looking at the code until the window ends. The count is kept in memory only (a
//! refused request changes nothing durable); codes have 128 random bits, so the limit is a
//! second line of defence, not the first.
//!
//! **Disabling** an active account appends an `IdentityRevocation` of its key first, waits until
//! it is durable, then marks the account disabled; a crash in between leaves the key revoked in
//! the log and the account active, and disabling again completes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald_proto::entry::{
    IdentityBinding, IdentityRevocation, verify_fallback_prekey, verify_registration,
};
use herald_proto::wire::pb;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{Intake, Refusal};
use crate::accounts::{
    AccountError, AccountRecord, AccountState, EnrolmentCode, check_address, code_hash, same_hash,
};
use crate::sequencer::Ack;

/// Failed enrolment attempts an account may make within [`FAILURE_WINDOW`].
pub const MAX_FAILED_ENROLMENTS: u32 = 5;
/// The window failed attempts are counted in.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most accounts whose failures are tracked at once (only pending accounts are tracked, and
/// windows that ended are dropped first).
const MAX_TRACKED: usize = 4096;

/// What an enrolment refusal says, whatever was wrong: unknown account, active or disabled
/// account, or wrong code (so that guessing learns nothing about which).
const NO_ENROLMENT: &str = "no pending enrolment matches this account and code";

/// One lock per account with an enrolment (code issue, registration, disabling) in progress.
/// An account's entry lives only while someone holds or waits for its lock, so the map is as
/// large as the enrolments in flight, whatever addresses clients make up.
#[derive(Debug, Default)]
pub(super) struct AccountLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A held account lock; dropping it releases the lock and forgets the entry if nobody waits.
pub(super) struct AccountGuard<'a> {
    locks: &'a AccountLocks,
    account: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl AccountLocks {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        // The map only holds locks: a panic elsewhere leaves it usable.
        self.locks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for `account`'s lock.
    pub(super) async fn lock(&self, account: &str) -> AccountGuard<'_> {
        let lock = self.map().entry(account.to_owned()).or_default().clone();
        let guard = lock.lock_owned().await;
        AccountGuard {
            locks: self,
            account: account.to_owned(),
            guard: Some(guard),
        }
    }

    /// Accounts with an entry (held or waited for).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

impl Drop for AccountGuard<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map();
        // Only the map holds it: nobody holds or waits for this account's lock.
        if map
            .get(&self.account)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            map.remove(&self.account);
        }
    }
}

/// Failed enrolment attempts per account: (count, window start in Unix seconds).
#[derive(Debug, Default)]
pub struct FailedAttempts {
    by_account: HashMap<String, (u32, u64)>,
}

impl FailedAttempts {
    /// How long `account` must wait, if it used up its attempts.
    pub fn blocked(&self, account: &str, now: u64) -> Option<Duration> {
        let (count, start) = *self.by_account.get(account)?;
        let end = start.saturating_add(FAILURE_WINDOW.as_secs());
        (count >= MAX_FAILED_ENROLMENTS && now < end).then(|| Duration::from_secs(end - now))
    }

    /// Counts a failure of `account` at `now`.
    pub fn record(&mut self, account: &str, now: u64) {
        let window = FAILURE_WINDOW.as_secs();
        if self.by_account.len() >= MAX_TRACKED {
            self.by_account
                .retain(|_, (_, start)| now < start.saturating_add(window));
        }
        if let Some((count, start)) = self.by_account.get_mut(account) {
            if now >= start.saturating_add(window) {
                *count = 0;
                *start = now;
            }
            *count = count.saturating_add(1);
        } else if self.by_account.len() < MAX_TRACKED {
            self.by_account.insert(account.to_owned(), (1, now));
        }
    }

    /// Forgets `account`'s failures (it registered).
    pub fn clear(&mut self, account: &str) {
        self.by_account.remove(account);
    }
}

/// What disabling did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisableReport {
    /// The account.
    pub account: String,
    /// The key revoked (hex), if the account was active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_key: Option<String>,
    /// The index of the `IdentityRevocation` leaf, if one was logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_index: Option<u64>,
}

fn key32(field: &'static str, bytes: &[u8]) -> Result<[u8; 32], Refusal> {
    // Validation made these exact; anything else is malformed, not a panic.
    bytes.try_into().map_err(|_| {
        Refusal::Malformed(herald_proto::wire::WireError::FieldLength {
            field,
            len: bytes.len(),
            expected: 32,
        })
    })
}

impl Intake {
    fn failures(&self) -> std::sync::MutexGuard<'_, FailedAttempts> {
        // Counters only: a panic elsewhere leaves them usable.
        self.inner
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Issues a new one-time enrolment code for `account`, valid `valid_for` seconds (see
    /// `AccountBook::issue_code`). The code is shown once; only its hash is kept.
    pub async fn issue_code(
        &self,
        account: String,
        valid_for: u64,
    ) -> Result<(EnrolmentCode, AccountRecord), Refusal> {
        let _enrolling = self.inner.enrolling.lock(&account).await;
        let now = self.now_secs();
        let issued = self
            .blocking(move |mail| Ok(mail.accounts().issue_code(&account, now, valid_for)?))
            .await?;
        // The operator vouched for the account again: earlier failures no longer count.
        self.failures().clear(&issued.1.account);
        info!(account = issued.1.account, "enrolment code issued");
        Ok(issued)
    }

    /// Registers an identity key with an enrolment code (see the module docs); the answer is
    /// the durable binding's ack.
    pub async fn register(&self, r: pb::RegisterAccount) -> Result<Ack, Refusal> {
        let account = r.account;
        check_address(&account, self.accounts().domain())?;
        let identity_key = key32("RegisterAccount.identity_key", &r.identity_key)?;
        let prekey = key32("RegisterAccount.signed_prekey", &r.signed_prekey)?;
        let prekey_signature: [u8; 64] =
            r.signed_prekey_signature
                .as_slice()
                .try_into()
                .map_err(|_| Refusal::BadSignature {
                    what: "signed prekey",
                    source: herald_proto::entry::EntryError::BadSignatureLength(
                        r.signed_prekey_signature.len(),
                    ),
                })?;
        verify_fallback_prekey(&identity_key, &account, &prekey, &prekey_signature).map_err(
            |source| Refusal::BadSignature {
                what: "signed prekey",
                source,
            },
        )?;
        verify_registration(
            &account,
            &identity_key,
            &prekey,
            &r.enrolment_code,
            &r.signature,
        )
        .map_err(|source| Refusal::BadSignature {
            what: "registration",
            source,
        })?;

        let _enrolling = self.inner.enrolling.lock(&account).await;
        let now = self.now_secs();
        if let Some(retry_after) = self.failures().blocked(&account, now) {
            warn!(account, "enrolment refused: too many failed attempts");
            return Err(Refusal::RateLimited { retry_after });
        }
        let given = code_hash(&account, &r.enrolment_code);
        let acc = account.clone();
        let record = self
            .blocking(move |mail| Ok(mail.accounts().get(&acc)?))
            .await?;
        match record.as_ref().map(|r| &r.state) {
            Some(AccountState::Pending { code_hash, expires }) if same_hash(code_hash, &given) => {
                if now >= *expires {
                    return Err(Refusal::Unauthorized(
                        "this enrolment code has expired; ask the operator for a new one".into(),
                    ));
                }
            }
            Some(AccountState::Pending { .. }) => {
                self.failures().record(&account, now);
                warn!(account, "enrolment refused: wrong code");
                return Err(Refusal::Unauthorized(NO_ENROLMENT.into()));
            }
            _ => return Err(Refusal::Unauthorized(NO_ENROLMENT.into())),
        }
        if record
            .as_ref()
            .is_some_and(|r| r.revoked_keys.contains(&identity_key))
        {
            return Err(Refusal::Unauthorized(format!(
                "this identity key was revoked for {account}; register a new one"
            )));
        }

        let binding = IdentityBinding {
            account: account.clone(),
            identity_key,
            signed_prekey: prekey,
            signed_prekey_signature: prekey_signature,
            valid_from: now,
        }
        .sign(&self.parts().log_key);
        let ack = self.append(&binding).await?;
        let (acc, index) = (account.clone(), ack.index);
        self.blocking(move |mail| {
            Ok(mail
                .accounts()
                .activate(&acc, &given, identity_key, index, now)?)
        })
        .await?;
        self.failures().clear(&account);
        info!(account, index, "account registered; identity key bound");
        Ok(ack)
    }

    /// Disables `account` (see the module docs).
    pub async fn disable(&self, account: String) -> Result<DisableReport, Refusal> {
        let _enrolling = self.inner.enrolling.lock(&account).await;
        let acc = account.clone();
        let record = self
            .blocking(move |mail| Ok(mail.accounts().get(&acc)?))
            .await?
            .ok_or_else(|| AccountError::Unknown(account.clone()))?;
        let now = self.now_secs();
        let revocation = match record.state {
            AccountState::Disabled { .. } => {
                return Err(AccountError::AlreadyDisabled(account).into());
            }
            AccountState::Pending { .. } => None,
            AccountState::Active { identity_key, .. } => {
                let entry = IdentityRevocation {
                    account: account.clone(),
                    identity_key,
                    revoked_at: now,
                }
                .sign(&self.parts().log_key);
                let ack = self.append(&entry).await?;
                Some((identity_key, ack.index))
            }
        };
        let acc = account.clone();
        self.blocking(move |mail| Ok(mail.accounts().mark_disabled(&acc, revocation, now)?))
            .await?;
        info!(
            account,
            revocation_index = revocation.map(|r| r.1),
            "account disabled"
        );
        Ok(DisableReport {
            account,
            revoked_key: revocation.map(|(k, _)| hex::encode(k)),
            revocation_index: revocation.map(|(_, i)| i),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_block_after_the_limit_until_the_window_ends() {
        let mut f = FailedAttempts::default();
        for _ in 0..MAX_FAILED_ENROLMENTS - 1 {
            f.record("bob@beta.test", 100);
        }
        assert_eq!(f.blocked("bob@beta.test", 100), None);
        f.record("bob@beta.test", 100);
        let window = FAILURE_WINDOW.as_secs();
        assert_eq!(
            f.blocked("bob@beta.test", 110),
            Some(Duration::from_secs(window - 10))
        );
        assert_eq!(f.blocked("eve@beta.test", 110), None);
        assert_eq!(f.blocked("bob@beta.test", 100 + window), None);
        // A failure after the window starts a new one.
        f.record("bob@beta.test", 100 + window);
        assert_eq!(f.blocked("bob@beta.test", 100 + window), None);
        f.clear("bob@beta.test");
        assert!(f.by_account.is_empty());
    }

    #[test]
    fn tracking_is_bounded() {
        let mut f = FailedAttempts::default();
        for i in 0..MAX_TRACKED + 10 {
            f.record(&format!("a{i}@beta.test"), 1);
        }
        assert_eq!(f.by_account.len(), MAX_TRACKED);
        // Windows that ended make room.
        f.record("late@beta.test", 1 + FAILURE_WINDOW.as_secs());
        assert_eq!(f.by_account.len(), 1);
    }

    /// One account's enrolments wait for each other; another account's do not; and the map
    /// forgets an account once nobody holds or waits for its lock.
    #[tokio::test]
    async fn account_locks_serialise_one_account_only_and_forget_idle_ones() {
        let locks = AccountLocks::default();
        let bob = locks.lock("bob@alpha.test").await;
        let carol = tokio::time::timeout(Duration::from_secs(1), locks.lock("carol@alpha.test"))
            .await
            .expect("another account does not wait");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), locks.lock("bob@alpha.test"))
                .await
                .is_err(),
            "a second enrolment of one account waits for the first"
        );
        assert_eq!(locks.len(), 2);
        drop(carol);
        assert_eq!(locks.len(), 1);
        drop(bob);
        assert_eq!(locks.len(), 0);
        drop(locks.lock("bob@alpha.test").await);
        assert_eq!(locks.len(), 0);
    }
}
