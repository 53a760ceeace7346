//! Telling the app of new mail and of split views: [`HeraldAccount::check_mail`] looks once,
//! [`HeraldAccount::watch`] looks every interval until the app cancels it. What is found goes
//! to the client's [`crate::HeraldListener`] and comes back as a [`MailCheck`].
//!
//! - **New mail**: the mailbox listing, through the session; each entry is told once (the
//!   account remembers the entries told while it lives; a read forgets its entry).
//! - **Split views**: every configured log's alerts, asked of the home gateway (which gossips
//!   the alerts of the logs it follows) and verified by the light client
//!   ([`herald_light_client::TrustedLog::check_alerts`]): a verified proof makes the log refused
//!   from now on. Each log's split view is told once per account object.

use std::time::Duration;

use herald_light_client::TrustedLog;

use crate::account::HeraldAccount;
use crate::client::SplitViewAlert;
use crate::error::HeraldError;
use crate::mail::{InboxEntry, inbox_of};
use crate::session::{Acting, in_session};

/// Shortest and longest pause between two looks of [`HeraldAccount::watch`], milliseconds.
pub const MIN_WATCH_INTERVAL_MS: u64 = 100;
/// See [`MIN_WATCH_INTERVAL_MS`].
pub const MAX_WATCH_INTERVAL_MS: u64 = 3_600_000;

/// What one look found (each item was told to the listener too).
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct MailCheck {
    /// Mailbox entries not told before.
    pub new_mail: Vec<InboxEntry>,
    /// Logs newly proved to equivocate.
    pub split_views: Vec<SplitViewAlert>,
    /// Logs whose alerts could not be fetched this time (network), with why.
    pub unchecked_logs: Vec<String>,
}

/// One look (see the module docs).
async fn look(a: Acting<'_>) -> Result<MailCheck, HeraldError> {
    let mut found = MailCheck::default();
    let inbox = inbox_of(&a.session.inbox(&a.gateway).await?);
    let listed: std::collections::BTreeSet<u64> = inbox.entries.iter().map(|e| e.id).collect();
    // Only what is listed is remembered: the set stays as small as the listing.
    a.told.retain(|id| listed.contains(id));
    for entry in inbox.entries {
        if a.told.insert(entry.id) {
            a.client.new_mail(a.account, entry.clone());
            found.new_mail.push(entry);
        }
    }
    for log in &a.client.config.logs {
        let origin = log.origin().to_owned();
        let trust = log
            .trust
            .clone()
            .with_max_skew(a.client.config.max_clock_skew);
        let checked = match TrustedLog::open(a.gateway.clone(), trust, &a.client.checkpoints) {
            Ok(mut followed) => followed.check_alerts().await,
            Err(e) => Err(e),
        };
        match checked.map_err(HeraldError::from) {
            Ok(()) => {}
            Err(HeraldError::LogEquivocated { origin, proof }) => {
                if a.alerted.insert(origin.clone()) {
                    let alert = SplitViewAlert { origin, proof };
                    a.client.alert(alert.clone());
                    found.split_views.push(alert);
                }
            }
            Err(e @ HeraldError::Network { .. }) => {
                found.unchecked_logs.push(format!("{origin}: {e}"));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// How long `watch` waits after a failed look it goes on from, or `None` to end with it.
fn retry_after(e: &HeraldError, interval: Duration) -> Option<Duration> {
    match e {
        HeraldError::Network { .. } => Some(interval),
        HeraldError::NotYet { retry_after_ms, .. } => {
            Some(retry_after_ms.map_or(interval, Duration::from_millis))
        }
        HeraldError::RateLimited { retry_after_ms } => {
            Some(Duration::from_millis(*retry_after_ms).max(interval))
        }
        _ => None,
    }
}

#[uniffi::export]
impl HeraldAccount {
    /// Looks once for new mail and for split views of the configured logs, tells the client's
    /// listener of each, and returns what it found. Needs a session (`login`).
    pub async fn check_mail(&self) -> Result<MailCheck, HeraldError> {
        self.with_session(|a| Box::pin(look(a))).await
    }

    /// Looks (as [`HeraldAccount::check_mail`]) every `interval_ms` (100 ms to one hour) until
    /// the app cancels the call; a network failure, a "not yet" or a rate limit waits for the
    /// next look. Ends only with another failure (e.g. [`HeraldError::NotLoggedIn`]).
    pub async fn watch(&self, interval_ms: u64) -> Result<(), HeraldError> {
        if !(MIN_WATCH_INTERVAL_MS..=MAX_WATCH_INTERVAL_MS).contains(&interval_ms) {
            return Err(HeraldError::bad_input(format!(
                "interval_ms: {MIN_WATCH_INTERVAL_MS} to {MAX_WATCH_INTERVAL_MS}"
            )));
        }
        let interval = Duration::from_millis(interval_ms);
        let state = self.state.clone();
        self.runtime
            .run(async move {
                loop {
                    let pause = match in_session(&state, |a| Box::pin(look(a))).await {
                        Ok(_) => interval,
                        Err(e) => retry_after(&e, interval).ok_or(e)?,
                    };
                    tokio::time::sleep(pause).await;
                }
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::tests::{bad_input, block_on, offline_client};

    #[test]
    fn watch_bounds_its_interval_and_ends_when_not_logged_in() {
        let (_dir, client) = offline_client();
        let alice =
            block_on(client.create_account("alice@d0.test".into(), "a passphrase".into())).unwrap();
        bad_input(block_on(alice.watch(MIN_WATCH_INTERVAL_MS - 1)));
        bad_input(block_on(alice.watch(MAX_WATCH_INTERVAL_MS + 1)));
        let err = block_on(alice.watch(MIN_WATCH_INTERVAL_MS)).unwrap_err();
        assert!(matches!(err, HeraldError::NotLoggedIn { .. }), "{err:?}");
        let err = block_on(alice.check_mail()).unwrap_err();
        assert!(matches!(err, HeraldError::NotLoggedIn { .. }), "{err:?}");
        assert_eq!(client.operations_in_flight(), 0);
    }

    #[test]
    fn watch_goes_on_after_a_network_failure_and_stops_at_others() {
        let second = Duration::from_secs(1);
        let network = HeraldError::Network { reason: "x".into() };
        assert_eq!(retry_after(&network, second), Some(second));
        let busy = HeraldError::RateLimited {
            retry_after_ms: 5000,
        };
        assert_eq!(retry_after(&busy, second), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(&HeraldError::BadPassword, second), None);
        let ended = HeraldError::NotLoggedIn { reason: "x".into() };
        assert_eq!(retry_after(&ended, second), None);
    }
}
