//! Mail's storage work on the mail path done in groups (`db::GroupWork`): the mailboxes'
//! changes (S_B: deliveries, the relays of a `relay_mails` request and of other peers' requests
//! at the same time, and the readers' acknowledgements, which share the deliveries' groups and
//! flushes), mails queued by senders (S_A) and relayed mails recorded delivered (S_A).
//!
//! Each was a hand-off to the blocking pool and a sled flush per mail, in line behind the
//! store's writer lock. Now the mails that arrive while a group is stored wait for the next
//! group, stored by the same blocking thread with one flush; each caller is still answered only
//! once its mail is durable (`Mailboxes::change_all`, `Outbox::enqueue_all`,
//! `Outbox::finish_delivered` flush before they return), and what each mail's outcome is
//! (stored, duplicate, over quota; new or a repeat) is decided exactly as before, one mail at a
//! time under the store's own lock.

use std::sync::Arc;

use herald_proto::wire::pb;

use super::at_rest::StoreError;
use super::mailbox::{Change, Changed, Delivered, Mailboxes};
use super::outbox::{Outbox, Queued};
use super::{MailService, store_refusal};
use crate::db::{GroupFailed, GroupWork};
use crate::service::Refusal;

/// The groups of one gateway's mail stores.
pub(super) struct Groups {
    /// Deliveries and acknowledgements: one mailbox tree, one flush for both.
    mailboxes: Arc<GroupWork<Change, Changed>>,
    queueing: Arc<GroupWork<(pb::RelayEnvelope, u64), Result<bool, StoreError>>>,
    delivered: Arc<GroupWork<(Queued, u64), Result<(), StoreError>>>,
}

impl Groups {
    pub(super) fn new(mailboxes: &Mailboxes, outbox: &Outbox) -> Self {
        let (mailboxes, queue, ends) = (mailboxes.clone(), outbox.clone(), outbox.clone());
        Groups {
            mailboxes: GroupWork::new(move |changes| mailboxes.change_all(changes)),
            queueing: GroupWork::new(move |relays| queue.enqueue_all(relays)),
            delivered: GroupWork::new(move |mails: Vec<(Queued, u64)>| {
                ends.finish_delivered(&mails)
            }),
        }
    }
}

fn group_failed(e: GroupFailed) -> Refusal {
    Refusal::Internal(format!("mail storage: {e}"))
}

/// `Mailboxes::change_all` answered a change with another kind's outcome (a bug).
fn mismatched() -> Refusal {
    Refusal::Internal("mail storage: a change answered with another kind's outcome".into())
}

impl MailService {
    /// Puts `envelope`, relayed by `from_domain`, in its recipient's mailbox at `now`, in the
    /// next group of deliveries (`Mailboxes::deliver`); durable unless over quota.
    pub(super) async fn deliver(
        &self,
        envelope: pb::MailEnvelope,
        from_domain: String,
        now: u64,
    ) -> Result<Delivered, Refusal> {
        match self
            .change_mailboxes(Change::Deliver(envelope, from_domain, now))
            .await?
        {
            Changed::Delivered(outcome) => outcome.map_err(store_refusal),
            Changed::Acknowledged(_) => Err(mismatched()),
        }
    }

    /// Deletes the entries `ids` of `account`'s mailbox, in the next group of mailbox changes
    /// (`Mailboxes::acknowledge_all`): for each id whether it was there; durable when it
    /// returns (also for the ids that were not: another acknowledgement may have deleted them
    /// and waited for the same flush).
    pub(super) async fn acknowledge_grouped(
        &self,
        account: &str,
        ids: Vec<u64>,
    ) -> Result<Vec<bool>, Refusal> {
        match self
            .change_mailboxes(Change::Acknowledge(account.to_owned(), ids))
            .await?
        {
            Changed::Acknowledged(outcome) => outcome.map_err(store_refusal),
            Changed::Delivered(_) => Err(mismatched()),
        }
    }

    async fn change_mailboxes(&self, change: Change) -> Result<Changed, Refusal> {
        (self.inner.groups.mailboxes)
            .submit(change)
            .await
            .map_err(group_failed)
    }

    /// Queues `relay` for its first attempt at `now_ms`, in the next group
    /// (`Outbox::enqueue`): `false` for a repeat; durable either way.
    pub(super) async fn enqueue(
        &self,
        relay: pb::RelayEnvelope,
        now_ms: u64,
    ) -> Result<bool, Refusal> {
        (self.inner.groups.queueing)
            .submit((relay, now_ms))
            .await
            .map_err(group_failed)?
            .map_err(store_refusal)
    }

    /// Records the relayed `queued` delivered at `now` and ends it, in the next group
    /// (`Outbox::finish`); durable when it returns `Ok`.
    pub(super) async fn finish_delivered(&self, queued: Queued, now: u64) -> Result<(), String> {
        match (self.inner.groups.delivered).submit((queued, now)).await {
            Ok(done) => done.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}
