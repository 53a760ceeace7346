//! Enrolment (the local CA, DESIGN §4): issuing one-time codes, registering an identity key
//! with one, and disabling an account.
//!
//! **Registration** checks, before anything changes: the address is a canonical address of
//! this domain; IK's signature over the fallback prekey (proto `entry::sign_fallback_prekey`)
//! and over the registration (`entry::sign_registration`, which covers the code, so a
//! signature is good for one enrolment only); the account is pending with a code whose hash
//! matches (compared in constant time) and has not expired; IK was never revoked for it. Then
//! the gateway records the binding in flight (account, key, code; flushed), appends an
//! `IdentityBinding` (valid from now) signed with its log key, waits until it is durable, marks
//! the account active (flushed), and answers the binding's `SubmitAck`. Enrolments of one
//! account run one at a time ([`AccountLocks`]), so one code binds one key; different accounts'
//! enrolments run side by side and share sequencing rounds.
//!
//! **A crash between the append and the activation** leaves the account "binding"; a binding
//! in flight is refused like any account without a pending code, and
//! [`crate::accounts::settle`] settles it when the node next opens (active with the logged
//! binding, or pending again), so the code never binds a second key.
//!
//! **Failed attempts** are limited per source (the peer) and per address
//! ([`crate::accounts::attempts`]): a peer that failed too often is refused before its code is
//! looked at, with a growing back-off; wrong codes for an address that drew too many are answered
//! "rate limited"; nobody's failures ever block the right code. Every path does the same work and
//! gives the same answer whatever the address is (unknown, pending, active, disabled): the
//! presented code is always hashed and compared in constant time, against a dummy hash when the
//! account has no pending code, so neither the answer nor its timing says which accounts have a
//! pending enrolment.
//!
//! **The password** travels with the registration as its SPAKE2+ record (`w0`, `L`, Argon2id
//! costs at least those the gateway offers) and is recorded with the binding in flight, so it is
//! durable before the binding is acknowledged; the gateway never sees the password.
//!
//! **Disabling** an active account appends an `IdentityRevocation` of its key first, waits until
//! it is durable, then marks the account disabled; a crash in between leaves the key revoked in
//! the log and the account active, and disabling again completes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::entry::{
    IdentityBinding, IdentityRevocation, verify_fallback_prekey, verify_registration,
};
use herald_proto::wire::pb;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::{Intake, Refusal};
use libp2p::PeerId;

use crate::accounts::attempts::{EnrolmentAttempts, FAILURE_WINDOW};
use crate::accounts::{
    AccountError, AccountRecord, AccountState, EnrolmentCode, PasswordEntry, check_address,
    code_hash, same_hash,
};
use crate::sequencer::Ack;

/// What an enrolment refusal says, whatever was wrong: unknown account, active or disabled
/// account, or wrong code (so that guessing learns nothing about which).
const NO_ENROLMENT: &str = "no pending enrolment matches this account and code";

/// What the presented code's hash is compared with when the account has no pending code, so
/// that every path does the same work. No BLAKE3 output is all `0xff` in practice, and a match
/// would not count anyway: only a pending account can register.
const NO_CODE_HASH: [u8; 32] = [0xff; 32];

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
    fn failures(&self) -> std::sync::MutexGuard<'_, EnrolmentAttempts<PeerId>> {
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
        self.failures().clear_account(&issued.1.account);
        info!(account = issued.1.account, "enrolment code issued");
        Ok(issued)
    }

    /// Registers an identity key with an enrolment code sent by `source` (see the module docs);
    /// the answer is the durable binding's ack.
    pub async fn register(&self, source: PeerId, r: pb::RegisterAccount) -> Result<Ack, Refusal> {
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
        let password = self.password_entry(r.password.as_ref())?;

        let _enrolling = self.inner.enrolling.lock(&account).await;
        let now = self.now_secs();
        let metrics = &self.parts().enrolment_metrics;
        // The source's own failures, before anything about the account is looked at.
        if let Some(retry_after) = self.failures().source_blocked(&source, now) {
            metrics.refused("source_limited");
            return Err(Refusal::RateLimited { retry_after });
        }
        let given = code_hash(&account, &r.enrolment_code);
        let acc = account.clone();
        let record = self
            .blocking(move |mail| Ok(mail.accounts().get(&acc)?))
            .await?;
        let (stored, expires) = match record.as_ref().map(|r| &r.state) {
            Some(AccountState::Pending { code_hash, expires }) => (*code_hash, Some(*expires)),
            _ => (NO_CODE_HASH, None),
        };
        // Compared whatever the account's state, so that every path does the same work.
        let matches = same_hash(&stored, &given);
        let Some(expires) = expires.filter(|_| matches) else {
            let mut failures = self.failures();
            let recorded = failures.record_failure(&source, &account, now);
            let limited = failures.account_limited(&account, now);
            drop(failures);
            if let Some(backoff) = recorded.source_blocked {
                warn!(%source, ?backoff, "enrolment: a peer failed too often; refused for a while");
            }
            if recorded.account_limited {
                warn!(
                    account,
                    "enrolment: many wrong codes for this address; answered as rate limited"
                );
            }
            if limited {
                metrics.refused("account_limited");
                return Err(Refusal::RateLimited {
                    retry_after: FAILURE_WINDOW,
                });
            }
            metrics.refused("wrong_code");
            return Err(Refusal::Unauthorized(NO_ENROLMENT.into()));
        };
        if now >= expires {
            metrics.refused("expired");
            return Err(Refusal::Unauthorized(
                "this enrolment code has expired; ask the operator for a new one".into(),
            ));
        }
        if record
            .as_ref()
            .is_some_and(|r| r.revoked_keys.contains(&identity_key))
        {
            metrics.refused("revoked_key");
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
        // Durable before the append: a crash after it is settled at the next start. A new key
        // numbers its prekeys afresh: those of an earlier key go first.
        let (acc, from_size) = (account.clone(), self.parts().store.head().size);
        self.blocking(move |mail| {
            mail.parts()
                .prekeys
                .reset(&acc)
                .map_err(|e| Refusal::Internal(e.to_string()))?;
            Ok(mail
                .accounts()
                .begin_binding(&acc, &given, identity_key, from_size, &password)?)
        })
        .await?;
        let ack = match self.append(&binding).await {
            Ok(ack) => ack,
            Err(e @ Refusal::Busy { .. }) => {
                // Refused before it was queued: nothing was appended.
                let acc = account.clone();
                self.blocking(move |mail| {
                    Ok(mail.accounts().abandon_binding(&acc, &identity_key)?)
                })
                .await?;
                return Err(e);
            }
            // It may or may not be in the log: the account stays "binding" until the next
            // start settles it from the log (the sequencer has stopped; the node is stopping).
            Err(e) => return Err(e),
        };
        crate::fault::reached(crate::fault::FaultPoint::BindingDurable);
        let (acc, index) = (account.clone(), ack.index);
        self.blocking(move |mail| {
            Ok(mail
                .accounts()
                .activate(&acc, &given, identity_key, index, now)?)
        })
        .await?;
        {
            let mut failures = self.failures();
            failures.clear_account(&account);
            failures.clear_source(&source);
        }
        info!(account, index, "account registered; identity key bound");
        Ok(ack)
    }

    /// The password entry of a record a client sent (registration or a password change):
    /// well formed, and derived with at least the Argon2id costs this gateway offers.
    pub(super) fn password_entry(
        &self,
        record: Option<&pb::PasswordRecord>,
    ) -> Result<PasswordEntry, Refusal> {
        let record = record.ok_or_else(|| Refusal::BadPassword("missing".into()))?;
        let entry =
            PasswordEntry::from_wire(record).map_err(|e| Refusal::BadPassword(e.to_string()))?;
        let params = entry
            .params()
            .map_err(|e| Refusal::BadPassword(e.to_string()))?;
        let floor = self.parts().password_params;
        if !params.covers(floor) {
            return Err(Refusal::BadPassword(format!(
                "derived with {} KiB and {} passes; this gateway needs at least {} KiB and {} passes",
                params.memory_kib(),
                params.iterations(),
                floor.memory_kib(),
                floor.iterations()
            )));
        }
        Ok(entry)
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
            AccountState::Binding { .. } => {
                return Err(AccountError::BindingInFlight(account).into());
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
        self.blocking(move |mail| {
            mail.parts()
                .prekeys
                .reset(&acc)
                .map_err(|e| Refusal::Internal(e.to_string()))?;
            Ok(mail.accounts().mark_disabled(&acc, revocation, now)?)
        })
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
    use std::time::Duration;

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
