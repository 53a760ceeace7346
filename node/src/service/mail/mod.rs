//! Mail between domains through the gateways (DESIGN §3.2, §4 "Mailboxes", "Peer domains"):
//! [`MailService`] is both S_A (a sender's gateway: takes envelopes from its logged-in
//! accounts, queues them durably, relays them) and S_B (a recipient's gateway: takes relays
//! from registered peers only, keeps mailboxes sealed at rest, hands mail to its account).
//!
//! - **Relay protocol.** Relays ride `/herald/client/1` as two request kinds, `relay_prekey` and
//!   `relay_mail` (docs/decisions.md, "Mail between domains"): the node already carries that
//!   protocol both ways to its registered peers (`PeerGateway`), and the worker's bounds,
//!   timeouts and codec apply unchanged. A relay is taken only from the libp2p peer id (Noise
//!   authenticates it) registered for its `from_domain`, and only if the relay envelope verifies
//!   under that peer's registered log key (`paep::verify_relay`); anything else is refused and
//!   counted in `herald_relay_refused_total{kind}`.
//! - **Delivery status through S_A** (`status`): `relay_evidence` asks a peer for its records
//!   of a mail on a client's behalf; the peer signs its answer, the client checks it.
//! - **Prekeys through S_A.** A's client asks its gateway (`mail_prekey` in the session); S_A
//!   asks S_B (`relay_prekey`); S_B hands out one prekey exactly as to any asker (at most once,
//!   flushed first: `service::prekeys`). A's client verifies it against B's domain log.
//! - **Outbound queue** (`outbox`): flushed before `MailAccepted`; a relay task tries each mail
//!   with exponential back-off until S_B acknowledges it or it expires, the mails due for one
//!   peer together in one `relay_mails` request when they wait (`relay_batch`); a refusal by S_B or the
//!   expiry leaves a not-delivered record A lists (`outbox` in the session).
//! - **Mailboxes** (`mailbox`, `at_rest`): sealed per mailbox, idempotent by (sender, msg_id),
//!   quota and retention from the configuration.
//! - **Mail larger than one request** (`transfer`, `transfer_store`): uploaded to S_A,
//!   relayed to S_B and fetched by B in chunks, each hop checking the whole Z against the
//!   envelope's signatures before it takes the mail; the rest of the path is the one above.
//! - **Evidence points** ([`MailEvents`]): each place DESIGN §3.4 names an evidence record calls
//!   one method; today it logs and counts, the evidence writer is to be wired in there.

mod arrivals;
mod at_rest;
mod cycle;
mod events;
mod grouped;
mod mailbox;
mod outbox;
mod reading;
mod record_order;
mod relay;
mod relay_batch;
mod status;
mod transfer;
mod transfer_store;

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use herald_proto::identity::account_domain;
use herald_proto::policy::{MailFacts, PolicyRefusal};
use herald_proto::wire::MAX_INBOX_WAIT_MS;
use herald_proto::wire::pb::{self, ClientErrorKind};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use prost::Message as _;
use tokio::sync::Notify;
use zeroize::Zeroizing;

use at_rest::AtRest;
pub(crate) use at_rest::StoreError;
pub use events::MailEvents;
use mailbox::{Delivered, Mailboxes};
use outbox::Outbox;
use transfer_store::Transfers;

use super::mail_evidence::EvidenceRecorder;
use super::{Intake, Refusal};
use crate::db::Tree;
use crate::metrics::KindLabel;
use crate::network::NodeHandle;
use crate::peers::PeerRegistry;
use crate::policy::PolicyGate;

/// The gateway's mail settings (from the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailSettings {
    /// The expiry a mail gets when its sender names none, and the latest it may name, seconds
    /// from acceptance.
    pub max_expiry_secs: u64,
    /// First retry delay after a failed relay; doubled per attempt up to `retry_max`.
    pub retry_min: Duration,
    /// Longest delay between two relay attempts.
    pub retry_max: Duration,
    /// Bytes of ciphertext one mailbox holds at most.
    pub quota_bytes: u64,
    /// Seconds a mail stays in a mailbox unacknowledged (and a taken msg_id is remembered,
    /// and a sender's delivery record kept); at least `max_expiry_secs`.
    pub retention_secs: u64,
    /// Test hook (`test_refuse_relay_batches`): answer every `relay_mails` request
    /// `MALFORMED`, as a gateway that predates it does (`relay_batch`).
    pub refuse_relay_batches: bool,
    /// Test hook (`test_refuse_next_mails`): answer every session request `next_mails`
    /// `MALFORMED`, as a gateway that predates the kind does (`service::paep`).
    pub refuse_next_mails: bool,
}

/// Mail's metrics.
#[derive(Clone, Debug, Default)]
pub struct MailMetrics {
    /// The evidence points passed, by kind (`acceptance`, `relay_accepted`, `consignment`,
    /// `handover`, `non_delivery`, `rejection`).
    pub events: Family<KindLabel, Counter>,
    /// Relays refused, by reason (`unregistered`, `bad_signature`, `not_for_us`, `expired`,
    /// `unknown_recipient`, `over_quota`, `malformed`, the policy's labels), and relays in
    /// chunks' refusals (`wrong_sender`, `out_of_range`, `too_many_transfers`, `no_chunks`).
    pub relay_refused: Family<KindLabel, Counter>,
    /// Relays taken that were duplicates (stored once).
    pub relay_duplicates: Counter,
    /// Mails in the outbound queue.
    pub queued: Gauge,
    /// Relay attempts that failed and will be retried.
    pub relay_retries: Counter,
}

impl MailMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = MailMetrics::default();
        registry.register(
            "herald_mail_events",
            "Mail evidence points passed, by kind",
            m.events.clone(),
        );
        registry.register(
            "herald_relay_refused",
            "Relays refused, by reason (unregistered: not from a registered peer domain)",
            m.relay_refused.clone(),
        );
        registry.register(
            "herald_relay_duplicates",
            "Relays of a mail already taken (nothing stored)",
            m.relay_duplicates.clone(),
        );
        registry.register(
            "herald_mail_queued",
            "Mails in the outbound queue",
            m.queued.clone(),
        );
        registry.register(
            "herald_relay_retries",
            "Relay attempts that failed and will be retried",
            m.relay_retries.clone(),
        );
        m
    }
}

/// What [`MailService`] works with.
pub struct MailParts {
    /// The node's database (trees `mail` and `outbox`).
    pub db: sled::Db,
    /// The gateway's mailbox key (`keys::mailbox_key`), never in sled.
    pub mailbox_key: Zeroizing<[u8; 32]>,
    /// The log key: signs relay envelopes.
    pub log_key: SigningKey,
    /// The registered peers.
    pub peers: PeerRegistry,
    /// The network (relays to peers).
    pub node: NodeHandle,
    /// Accounts, bindings, the clock.
    pub intake: Intake,
    /// Settings.
    pub settings: MailSettings,
    /// Metrics.
    pub metrics: MailMetrics,
    /// The notary evidence writer (DESIGN §3.4).
    pub evidence: EvidenceRecorder,
    /// The gateway's policy: every mail from a client (S_A) and every relay from a peer (S_B)
    /// is judged by it before anything is stored.
    pub policy: Arc<PolicyGate>,
}

pub(super) struct Inner {
    mailboxes: Mailboxes,
    outbox: Outbox,
    /// Deliveries, queueing and ends of relayed mails, done in groups (`grouped`).
    groups: grouped::Groups,
    /// Mail larger than one request while its chunks come in (`transfer`).
    transfers: Transfers,
    /// The large mail being read by parts (`transfer`).
    parts: transfer::PartCache,
    log_key: SigningKey,
    domain: String,
    peers: PeerRegistry,
    node: NodeHandle,
    intake: Intake,
    settings: MailSettings,
    metrics: MailMetrics,
    policy: Arc<PolicyGate>,
    events: MailEvents,
    wake: Notify,
    /// Inbox requests waiting for a mail (`arrivals`).
    arrivals: arrivals::Arrivals,
    /// Delivery-status queries passed on to peers now (`status`).
    status_queries: tokio::sync::Semaphore,
    /// Peers whose mails go one per request (they refused a batch; `relay_batch`).
    one_by_one: relay_batch::OneByOne,
}

/// Mail at the gateway (module docs). Cheap to clone.
#[derive(Clone)]
pub struct MailService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MailService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailService")
            .field("domain", &self.inner.domain)
            .finish_non_exhaustive()
    }
}

/// What a gateway's policy sees of `envelope`: its addresses and size. The envelope declares no
/// attachment manifest, so attachment rules run in the clients (`MailContent::inspect`).
pub(super) fn mail_facts(envelope: &pb::MailEnvelope) -> MailFacts<'_> {
    MailFacts {
        sender: &envelope.sender,
        recipient: &envelope.recipient,
        size: envelope.encoded_len() as u64,
        manifest: &[],
        recipient_mailbox: None,
    }
}

/// A policy refusal as the client protocol's: a rate is `RATE_LIMITED` with its retry time,
/// any other rule `FORBIDDEN` with proto's reason (which names no address).
pub(super) fn policy_refusal(refusal: PolicyRefusal) -> Refusal {
    match refusal {
        PolicyRefusal::AccountRate { retry_after } | PolicyRefusal::PeerRate { retry_after } => {
            Refusal::TooManyAttempts { retry_after }
        }
        other => Refusal::MailRefused {
            kind: ClientErrorKind::Forbidden,
            reason: other.reason(),
        },
    }
}

/// Whether `mail`'s Z travels in parts only (`transfer`).
fn is_large(mail: &pb::StoredMail) -> bool {
    (mail.envelope.as_ref())
        .is_some_and(|e| herald_proto::paep::transfer::travels_in_chunks(e.ciphertext.len()))
}

fn store_refusal(e: StoreError) -> Refusal {
    Refusal::Internal(format!("mail storage: {e}"))
}

impl MailService {
    /// Opens the mail trees. Blocking.
    pub fn open(parts: MailParts) -> Result<Self, sled::Error> {
        let at_rest = Arc::new(AtRest::new(parts.mailbox_key));
        let mailboxes = Mailboxes::new(
            parts.db.clone(),
            Tree::Mail.open(&parts.db)?,
            at_rest.clone(),
            parts.settings.quota_bytes,
        );
        let transfers = Transfers::new(Tree::MailTransfer.open(&parts.db)?, at_rest.clone());
        let outbox = Outbox::new(parts.db.clone(), Tree::Outbox.open(&parts.db)?, at_rest);
        let domain = parts.intake.accounts().domain().to_owned();
        Ok(MailService {
            inner: Arc::new(Inner {
                groups: grouped::Groups::new(&mailboxes, &outbox),
                mailboxes,
                outbox,
                transfers,
                parts: transfer::PartCache::default(),
                log_key: parts.log_key,
                domain,
                peers: parts.peers,
                node: parts.node,
                intake: parts.intake,
                settings: parts.settings,
                events: MailEvents::new(parts.metrics.clone(), parts.evidence),
                metrics: parts.metrics,
                policy: parts.policy,
                wake: Notify::new(),
                arrivals: arrivals::Arrivals::default(),
                status_queries: tokio::sync::Semaphore::new(status::MAX_STATUS_QUERIES_AT_ONCE),
                one_by_one: relay_batch::OneByOne::default(),
            }),
        })
    }

    /// The evidence points.
    pub fn events(&self) -> &MailEvents {
        &self.inner.events
    }

    fn now(&self) -> u64 {
        self.inner.intake.now_secs()
    }

    fn now_ms(&self) -> u64 {
        self.inner.intake.parts().clock.now_ms()
    }

    fn is_own(&self, domain: &str) -> bool {
        domain.eq_ignore_ascii_case(&self.inner.domain)
    }

    /// Runs blocking storage work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&MailService) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Refusal> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(|e| Refusal::Internal(format!("task failed: {e}")))?
            .map_err(store_refusal)
    }

    /// Session `send_mail` from `account`: checks the envelope is the account's, to a local
    /// account or a registered peer domain, signs the relay, queues it durably, then answers.
    pub(crate) async fn send(
        &self,
        account: &str,
        request: pb::SendMail,
    ) -> Result<pb::MailAccepted, Refusal> {
        let envelope = request.envelope.ok_or(Refusal::Malformed(
            herald_proto::wire::WireError::MissingField {
                field: "SendMail.envelope",
            },
        ))?;
        let reject = |reason: String, refusal: Refusal| {
            self.inner.events.rejected(&envelope.msg_id, &reason);
            refusal
        };
        if envelope.sender != account {
            return Err(reject(
                "sender is not the session's account".into(),
                Refusal::Unauthorized("a mail's sender must be the logged-in account".into()),
            ));
        }
        let Some(to_domain) = account_domain(&envelope.recipient) else {
            return Err(reject(
                "recipient has no domain".into(),
                Refusal::NotFound("the recipient has no domain"),
            ));
        };
        if self.is_own(to_domain) {
            let active = self
                .inner
                .intake
                .accounts()
                .active_key(&envelope.recipient)
                .ok()
                .flatten()
                .is_some();
            if !active {
                return Err(reject(
                    "no such local account".into(),
                    Refusal::NotFound("no active account has this address"),
                ));
            }
        } else if self.inner.peers.snapshot().by_domain(to_domain).is_none() {
            return Err(reject(
                format!("{to_domain} is not a registered peer domain"),
                Refusal::NotFound("the recipient's domain is not a peer of this gateway"),
            ));
        }
        if let Err(refusal) = (self.inner.policy).judge_from_client(
            account,
            &mail_facts(&envelope),
            std::time::Instant::now(),
        ) {
            // A policy refusal of the account's own, verified envelope: a `Rejection` record
            // with the policy's reason (which names no address) before the sender is told.
            self.inner
                .events
                .rejected_mail(&envelope, &refusal.reason())
                .await;
            return Err(policy_refusal(refusal));
        }
        let now = self.now();
        let latest = now.saturating_add(self.inner.settings.max_expiry_secs);
        let expires_at = match request.expires_at {
            0 => latest,
            t if t <= now => {
                return Err(reject(
                    "expiry in the past".into(),
                    Refusal::MailRefused {
                        kind: ClientErrorKind::Malformed,
                        reason: format!("the expiry {t} has passed (now {now})"),
                    },
                ));
            }
            t => t.min(latest),
        };
        let relay = herald_proto::paep::sign_relay(
            envelope.clone(),
            &self.inner.domain,
            expires_at,
            &self.inner.log_key,
        )
        .map_err(|e| {
            reject(
                e.to_string(),
                Refusal::MailRefused {
                    kind: ClientErrorKind::Malformed,
                    reason: e.to_string(),
                },
            )
        })?;
        let now_ms = self.now_ms();
        let new = self.enqueue(relay, now_ms).await?;
        // Durable in the queue, not yet answered: a sender that hears nothing sends again.
        crate::fault::reached(crate::fault::FaultPoint::MailQueued);
        if new {
            self.inner.metrics.queued.inc();
            // The relay starts now, while the acceptance record waits for its round: the mail
            // is durable in the queue, and the sender is answered once both are.
            self.inner.wake.notify_one();
            self.inner.events.accepted(&envelope, expires_at).await;
        } else {
            // A repeat (a sender that heard no answer sends again): the ACCEPTANCE is written
            // now if a crash kept it from being written the first time (records are idempotent).
            self.inner
                .events
                .record(pb::EvidenceKind::Acceptance, &envelope, "")
                .await;
        }
        Ok(pb::MailAccepted {
            msg_id: envelope.msg_id,
            expires_at,
        })
    }

    /// Session `inbox` of `account`; if it is empty, held up to `wait_ms` (bounded by the
    /// wire's `MAX_INBOX_WAIT_MS`) until a mail arrives (`arrivals`).
    pub(crate) async fn inbox(&self, account: &str, wait_ms: u32) -> Result<pb::Inbox, Refusal> {
        let list = || self.list_inbox(account);
        if wait_ms == 0 {
            return list().await;
        }
        let watch = self.inner.arrivals.watch(account);
        let arrived = watch.notified();
        tokio::pin!(arrived);
        // Armed before the listing: a mail delivered in between still wakes this request.
        arrived.as_mut().enable();
        let inbox = list().await?;
        if !inbox.entries.is_empty() {
            return Ok(inbox);
        }
        let wait = Duration::from_millis(u64::from(wait_ms.min(MAX_INBOX_WAIT_MS)));
        if tokio::time::timeout(wait, arrived).await.is_err() {
            return Ok(inbox);
        }
        list().await
    }

    /// Wakes an inbox request waiting on `account` (`arrivals`): a mail is in its mailbox.
    pub(super) fn arrived(&self, account: &str) {
        self.inner.arrivals.arrived(account);
    }

    /// Session `fetch_mail` of `account`.
    pub(crate) async fn fetch(&self, account: &str, id: u64) -> Result<pb::StoredMail, Refusal> {
        let found = self.fetch_mails(account, vec![id]).await?;
        let Some(mail) = found.mails.into_iter().next() else {
            if found.large.is_empty() {
                return Err(Refusal::NotFound("no mail has this id in the mailbox"));
            }
            return Err(Refusal::MailRefused {
                kind: ClientErrorKind::TooLarge,
                reason: "too large for one answer: fetch it by parts".into(),
            });
        };
        self.inner.events.handed_over(&mail).await;
        Ok(mail)
    }

    /// Session `acknowledge_mail` of `account`: the mail is deleted (durably) before the answer.
    pub(crate) async fn acknowledge(&self, account: &str, id: u64) -> Result<(), Refusal> {
        if self.acknowledge_grouped(account, vec![id]).await?.first() == Some(&true) {
            Ok(())
        } else {
            Err(Refusal::NotFound("no mail has this id in the mailbox"))
        }
    }

    /// Session `fetch_mails` of `account`: the mails it holds of `ids`, in order, until they
    /// reach `MAX_FETCHED_MAILS_BYTES` (the rest deferred); every answered mail's `Handover` is
    /// logged before the answer, all in one evidence round.
    pub(crate) async fn fetch_all(
        &self,
        account: &str,
        ids: Vec<u64>,
    ) -> Result<pb::StoredMails, Refusal> {
        let found = self.fetch_mails(account, ids).await?;
        futures::future::join_all(found.mails.iter().map(|m| self.inner.events.handed_over(m)))
            .await;
        Ok(found)
    }

    /// Session `acknowledge_mails` of `account`: the mails held of `ids` are deleted (durably,
    /// one flush) before the answer; the others are listed missing.
    pub(crate) async fn acknowledge_all(
        &self,
        account: &str,
        ids: Vec<u64>,
    ) -> Result<pb::MailsAcknowledged, Refusal> {
        let deleted = self.acknowledge_grouped(account, ids.clone()).await?;
        let mut answer = pb::MailsAcknowledged::default();
        for (id, deleted) in ids.into_iter().zip(deleted) {
            if deleted {
                answer.deleted.push(id);
            } else {
                answer.missing.push(id);
            }
        }
        Ok(answer)
    }

    /// Session `outbox` of `account`.
    pub(crate) async fn outbox(&self, account: &str) -> Result<pb::Outbox, Refusal> {
        let account = account.to_owned();
        self.blocking(move |mail| mail.inner.outbox.list(&account))
            .await
    }

    /// Starts the relay task (S_A's store and forward) and the mailbox retention sweep.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move { this.run().await })
    }
}
