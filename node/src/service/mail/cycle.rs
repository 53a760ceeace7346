//! Session `next_mails` (`mail.proto` `NextMails`; issue 12): a reader's cycle in one request,
//! composed of the session kinds it replaces, in their order: `acknowledge_mails` (durable
//! before anything else happens), `inbox` (held while the mailbox is empty), `fetch_mails` of
//! the first listed (each answered mail's `Handover` logged before the answer). The bounds
//! were checked when the request was decoded: one out of them changed nothing.

use herald_proto::wire::pb;

use super::MailService;
use crate::service::Refusal;

impl MailService {
    /// Whether the test hook `test_refuse_next_mails` is on: every `next_mails` is then
    /// answered as a gateway that does not know the kind answers it (`service::paep`).
    pub(crate) fn refuses_next_mails(&self) -> bool {
        self.inner.settings.refuse_next_mails
    }

    /// Session `next_mails` of `account`. A refusal after the acknowledgements leaves them
    /// done (they are durable first); acknowledging again answers them missing.
    pub(crate) async fn next_mails(
        &self,
        account: &str,
        request: pb::NextMails,
    ) -> Result<pb::NextMailsAnswer, Refusal> {
        let acknowledged = if request.acknowledge.is_empty() {
            pb::MailsAcknowledged::default()
        } else {
            self.acknowledge_all(account, request.acknowledge).await?
        };
        let inbox = self.inbox(account, request.wait_ms).await?;
        let first: Vec<u64> = (inbox.entries.iter().take(request.fetch as usize))
            .map(|e| e.id)
            .collect();
        let fetched = if first.is_empty() {
            pb::StoredMails::default()
        } else {
            self.fetch_all(account, first).await?
        };
        Ok(pb::NextMailsAnswer {
            acknowledged: Some(acknowledged),
            inbox: Some(inbox),
            fetched: Some(fetched),
        })
    }
}
