//! A reader's cycle in one request (`mail.proto` `NextMails`; issue 12): the mails read in the
//! previous cycle acknowledged, the mailbox listed (held while empty), its first mails fetched
//! and opened, where [`Session::acknowledge_mails`], [`Session::inbox_waiting`] and
//! [`Session::read_mails`] take three requests. Every check is the one those make (proto's
//! `expect_next_mails`, then [`ReadBatch::read`]'s opening). A gateway that does not know the
//! kind answers MALFORMED: the session then does the cycle in those three requests, from then
//! on.

use std::time::Duration;

use herald_proto::inclusion::LogTrust;
use herald_proto::paep::ReplayCache;
use herald_proto::wire::client::{AnswerError, MAX_FETCH_MAILS, expect_next_mails};
use herald_proto::wire::{MAX_INBOX_WAIT_MS, Validate, pb};

use crate::error::ClientError;
use crate::gateway::Gateway;
use crate::keystore::SecureKeyStore;
use crate::mail::ReadBatch;
use crate::session::{Session, SessionError, SessionStore, answer_error};

/// One reader's cycle ([`Session::next_mails`]).
#[derive(Debug)]
pub struct NextMails {
    /// The mails acknowledged: deleted now, or not held (deleted before).
    pub acknowledged: pb::MailsAcknowledged,
    /// The mailbox after the acknowledgements.
    pub inbox: pb::Inbox,
    /// Its first mails, opened (or why not); the deferred ones come in a later cycle.
    pub batch: ReadBatch,
}

impl<S: SessionStore> Session<S> {
    /// One reader's cycle in one request: deletes `acknowledge` (at most `MAX_FETCH_MAILS`,
    /// the mails read in the previous cycle; durable before the answer), lists the mailbox
    /// (held up to `wait`, cut to `MAX_INBOX_WAIT_MS`, while it is empty), and fetches and
    /// opens its first `MAX_FETCH_MAILS` mails as [`read_mails`](Self::read_mails) does. If
    /// this fails, the acknowledgements may or may not be done: send them again (a deleted
    /// one then comes back missing).
    #[allow(clippy::too_many_arguments)]
    pub async fn next_mails<G: Gateway, K: SecureKeyStore>(
        &mut self,
        gateway: &G,
        keys: &mut K,
        acknowledge: &[u64],
        wait: Duration,
        trusts: &[LogTrust],
        replay: &mut ReplayCache,
        now: u64,
        max_skew: u64,
    ) -> Result<NextMails, SessionError> {
        let wait_ms = u32::try_from(wait.as_millis())
            .unwrap_or(MAX_INBOX_WAIT_MS)
            .min(MAX_INBOX_WAIT_MS);
        let fetch = MAX_FETCH_MAILS as u32;
        if !self.no_next_mails {
            let request = pb::SessionRequest::next_mails(acknowledge.to_vec(), wait_ms, fetch);
            // Checked here: a MALFORMED answer then means the gateway does not know the kind.
            request
                .validate()
                .map_err(|e| SessionError::Gateway(ClientError::InvalidRequest(e.to_string())))?;
            let response = self.request(gateway, &request).await?;
            match expect_next_mails(response, acknowledge, fetch) {
                Ok((acknowledged, inbox, fetched)) => {
                    let batch = self
                        .read_fetched(gateway, keys, fetched, trusts, replay, now, max_skew)
                        .await?;
                    return Ok(NextMails {
                        acknowledged,
                        inbox,
                        batch,
                    });
                }
                Err(AnswerError::Refused(r)) if r.kind == pb::ClientErrorKind::Malformed as i32 => {
                    self.no_next_mails = true;
                }
                Err(e) => return Err(answer_error(e)),
            }
        }
        self.next_mails_in_three(
            gateway,
            keys,
            acknowledge,
            wait,
            trusts,
            replay,
            now,
            max_skew,
        )
        .await
    }

    /// [`next_mails`](Self::next_mails) as three requests, for a gateway older than it.
    #[allow(clippy::too_many_arguments)]
    async fn next_mails_in_three<G: Gateway, K: SecureKeyStore>(
        &mut self,
        gateway: &G,
        keys: &mut K,
        acknowledge: &[u64],
        wait: Duration,
        trusts: &[LogTrust],
        replay: &mut ReplayCache,
        now: u64,
        max_skew: u64,
    ) -> Result<NextMails, SessionError> {
        let acknowledged = if acknowledge.is_empty() {
            pb::MailsAcknowledged::default()
        } else {
            self.acknowledge_mails(gateway, acknowledge).await?
        };
        let inbox = self.inbox_waiting(gateway, wait).await?;
        let first: Vec<u64> = (inbox.entries.iter().take(MAX_FETCH_MAILS))
            .map(|e| e.id)
            .collect();
        let batch = if first.is_empty() {
            ReadBatch {
                read: Vec::new(),
                missing: Vec::new(),
                deferred: Vec::new(),
            }
        } else {
            self.read_mails(gateway, keys, &first, trusts, replay, now, max_skew)
                .await?
        };
        Ok(NextMails {
            acknowledged,
            inbox,
            batch,
        })
    }

    /// Whether this session found its gateway without `next_mails` (it answered one
    /// MALFORMED): [`next_mails`](Self::next_mails) then runs each cycle as three requests,
    /// for the rest of the session.
    pub fn cycles_in_three_requests(&self) -> bool {
        self.no_next_mails
    }
}
