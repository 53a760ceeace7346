//! Readers waiting for mail: the long poll of `InboxRequest.wait_ms`.
//!
//! A reader with an empty mailbox used to ask again every few milliseconds; each look is a
//! session frame opened and sealed, the account's login record read and the mailbox scanned,
//! two hand-offs to the blocking pool — the bench's 100 readers made some thousands of them a
//! second against 140 mails. Now a reader may ask the gateway to hold the answer until a mail
//! reaches its mailbox, bounded by `MAX_INBOX_WAIT_MS`.
//!
//! Who owns what: the mail service owns one [`Arrivals`]; a delivery calls
//! [`Arrivals::arrived`] once the mail is durable in the mailbox and its `CONSIGNMENT` queued
//! in the sequencer (not yet logged: the reader's fetch queues its `HANDOVER` behind it and is
//! answered once that is durable, so the consignment's round is durable by then too);
//! an inbox request registers with [`Arrivals::watch`] *before* it lists the mailbox, so a mail
//! that arrives between the listing and the wait still wakes it. A wake-up is only a hint: the
//! request lists the mailbox again, and an answer after the wait with nothing new is an empty
//! inbox, as before. Nothing here is durable or needed for correctness; a delivery path that
//! did not call `arrived` would only make its reader wait out its bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// The accounts some inbox request is waiting on, each with its wake-up.
#[derive(Debug, Default)]
pub(crate) struct Arrivals {
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Arrivals {
    /// A mail reached `account`'s mailbox: wakes whoever waits on it (nobody, mostly).
    pub(crate) fn arrived(&self, account: &str) {
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(notify) = waiting.get(account) {
            notify.notify_waiters();
        }
    }

    /// Registers a wait on `account`; the entry goes when the last [`Watch`] of it does.
    pub(crate) fn watch<'a>(&'a self, account: &str) -> Watch<'a> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let notify = waiting
            .entry(account.to_owned())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone();
        Watch {
            arrivals: self,
            account: account.to_owned(),
            notify,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// One inbox request's registration (see [`Arrivals::watch`]).
pub(crate) struct Watch<'a> {
    arrivals: &'a Arrivals,
    account: String,
    notify: Arc<Notify>,
}

impl Watch<'_> {
    /// The wake-up to arm (`Notified::enable`) before listing the mailbox.
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut waiting = (self.arrivals.waiting.lock()).unwrap_or_else(PoisonError::into_inner);
        // The map's and this one: no other request waits on the account.
        if Arc::strong_count(&self.notify) == 2 {
            waiting.remove(&self.account);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_delivery_after_arming_wakes_the_waiter_and_the_entry_goes_with_it() {
        let arrivals = Arrivals::default();
        {
            let watch = arrivals.watch("bob@b.test");
            let notified = watch.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Arrives between the (empty) listing and the wait: not lost.
            arrivals.arrived("bob@b.test");
            tokio::time::timeout(Duration::from_secs(5), notified)
                .await
                .expect("woken");
            assert_eq!(arrivals.len(), 1);
        }
        assert_eq!(arrivals.len(), 0, "the last watch removes the entry");
    }

    #[tokio::test]
    async fn a_delivery_to_another_account_wakes_nobody() {
        let arrivals = Arrivals::default();
        let watch = arrivals.watch("bob@b.test");
        let second = arrivals.watch("bob@b.test");
        {
            let notified = watch.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            arrivals.arrived("carol@b.test");
            let waited = tokio::time::timeout(Duration::from_millis(50), notified).await;
            assert!(waited.is_err(), "not woken by another account's mail");
        }
        drop(watch);
        assert_eq!(arrivals.len(), 1, "a second request still waits on bob");
        drop(second);
        assert_eq!(arrivals.len(), 0);
    }
}
