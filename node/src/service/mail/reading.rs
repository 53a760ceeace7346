//! The reader's requests at S_B — listing, fetching and acknowledging mail — without a
//! blocking-pool hand-off each (docs/performance.md, "d1's CPU per mail").
//!
//! - **Reads** (a listing, a fetch) are done on the async thread that asked while what they
//!   open stays under `mailbox::reads::INLINE_BYTES` (the usual read: a few index records, a
//!   few small mails), and go on on the blocking pool past that (`Mailboxes::list_some`,
//!   `Mailboxes::fetch_some`). Before, every read was a `spawn_blocking`: a blocking thread
//!   woken, and the asking task woken again by it, for some microseconds of sled reads.
//! - **Acknowledgements** go in the groups of mailbox changes with the deliveries
//!   (`grouped`): one blocking thread deletes every acknowledgement waiting and flushes once,
//!   and each is answered only after that flush, as before.

use herald_proto::wire::pb;

use super::at_rest::StoreError;
use super::mailbox::Mailboxes;
use super::mailbox::reads::Budget;
use super::{MailService, store_refusal};
use crate::service::Refusal;

/// One step of a read: goes on with its state while the budget lasts, `true` once complete.
type Step<S> = fn(&Mailboxes, &mut S, &mut Budget) -> Result<bool, StoreError>;

impl MailService {
    /// The listing of `account`'s mailbox (`Mailboxes::list`).
    pub(super) async fn list_inbox(&self, account: &str) -> Result<pb::Inbox, Refusal> {
        let listing = self.inner.mailboxes.listing(account);
        Ok(self
            .read_in_steps(listing, Mailboxes::list_some)
            .await?
            .inbox)
    }

    /// The mails `ids` of `account`'s mailbox that fit one answer (`Mailboxes::fetch_some`).
    pub(super) async fn fetch_mails(
        &self,
        account: &str,
        ids: Vec<u64>,
    ) -> Result<pb::StoredMails, Refusal> {
        let fetching = self.inner.mailboxes.fetching(account, ids);
        Ok(self
            .read_in_steps(fetching, Mailboxes::fetch_some)
            .await?
            .answer)
    }

    /// Runs `step` here under the async thread's budget, and the rest, if any, on the
    /// blocking pool without one.
    async fn read_in_steps<S: Send + 'static>(
        &self,
        mut state: S,
        step: Step<S>,
    ) -> Result<S, Refusal> {
        let mailboxes = &self.inner.mailboxes;
        if step(mailboxes, &mut state, &mut Budget::inline()).map_err(store_refusal)? {
            return Ok(state);
        }
        self.blocking(move |mail| {
            step(&mail.inner.mailboxes, &mut state, &mut Budget::unlimited())?;
            Ok(state)
        })
        .await
    }
}
