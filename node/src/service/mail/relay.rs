//! The relay between registered peer gateways (module docs of `service::mail`): S_B's side
//! ([`MailService::relay_in`], [`MailService::admit_relay_peer`]) and S_A's (the relay task, and
//! what S_A asks S_B for its clients: prekeys and senders' bindings).

use std::time::Duration;

use herald_light_client::{ClientError, Gateway as _};
use herald_proto::identity::account_domain;
use herald_proto::paep::{RelayError, verify_relay};
use herald_proto::wire::client::{
    MAX_RELAYS_PER_REQUEST, expect_prekey_bundle, expect_relay_accepted,
};
use herald_proto::wire::pb::{self, ClientErrorKind};
use libp2p::PeerId;
use tracing::{debug, error, warn};

use super::outbox::Queued;
use super::{Delivered, MailService};
use crate::metrics::KindLabel;
use crate::service::Refusal;

/// Longest wait of the relay task between two looks at what is due (a look costs an index
/// peek, not a queue scan).
const QUEUE_TICK: Duration = Duration::from_millis(250);
/// Most relay requests in flight at once; the mails due meanwhile wait until one ends, and
/// then go together (`relay_batch`). Each is one request to a peer gateway awaiting its
/// mailbox flush and evidence round, so many must be in flight to fill a round; they share
/// one connection per peer, which carries 256 client-protocol streams at once
/// (`network::behaviour`), leaving room for prekey and binding requests.
const MAX_ATTEMPTS_AT_ONCE: usize = 192;
/// Most queued mails opened for one look at what is due.
const MAX_TAKEN_AT_ONCE: usize = 4096;
/// How often mailboxes and the senders' delivery records are swept for what is past the
/// retention period.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A relay envelope's refusal as `herald_relay_refused` counts it.
pub(super) fn relay_error_kind(e: &RelayError) -> &'static str {
    match e {
        RelayError::BadSignature => "bad_signature",
        RelayError::NotForUs { .. } | RelayError::WrongDomain { .. } => "not_for_us",
        RelayError::Expired { .. } => "expired",
        _ => "malformed",
    }
}

/// Whether a refusal by S_B is final (retrying cannot help) or may pass later.
fn is_final(kind: ClientErrorKind) -> bool {
    matches!(
        kind,
        ClientErrorKind::Forbidden
            | ClientErrorKind::Unauthorized
            | ClientErrorKind::NotFound
            | ClientErrorKind::Malformed
            | ClientErrorKind::TooLarge
            | ClientErrorKind::InvalidEntry
            | ClientErrorKind::Duplicate
    )
}

impl MailService {
    pub(super) fn refuse_relay(
        &self,
        kind: &'static str,
        msg_id: &[u8],
        refusal: Refusal,
    ) -> Refusal {
        self.inner
            .metrics
            .relay_refused
            .get_or_create(&KindLabel { kind })
            .inc();
        warn!(reason = kind, msg_id = hex::encode(msg_id), %refusal, "relay refused");
        if !msg_id.is_empty() {
            self.inner.events.rejected(msg_id, kind);
        }
        refusal
    }

    /// The registered peer `peer` speaking for `from_domain`, or the refusal (counted as
    /// `unregistered`): only registered peer domains may relay (DESIGN §4).
    pub(crate) fn admit_relay_peer(
        &self,
        peer: &PeerId,
        from_domain: &str,
    ) -> Result<std::sync::Arc<crate::peers::PeerDomain>, Refusal> {
        let peers = self.inner.peers.snapshot();
        match peers.by_peer_id(peer) {
            Some(p) if p.domain.eq_ignore_ascii_case(from_domain) => Ok(p.clone()),
            _ => Err(self.refuse_relay(
                "unregistered",
                &[],
                Refusal::Forbidden("relays from a domain that is not a registered peer"),
            )),
        }
    }

    /// S_B: a relay from `peer`. Answered once the mail is durable in its recipient's mailbox,
    /// or was there already; a relay that is not from the registered peer of its domain, not
    /// signed by that peer's log key, not for this domain, expired, for no active account, or
    /// over the quota changes nothing.
    pub(crate) async fn relay_in(
        &self,
        peer: PeerId,
        relay: pb::RelayEnvelope,
    ) -> Result<pb::RelayAccepted, Refusal> {
        self.relay_in_rated(peer, relay, true).await
    }

    /// [`relay_in`](Self::relay_in), taking the peer's rate only if `take_rate` (a mail relayed
    /// in chunks took it on its first chunk).
    pub(super) async fn relay_in_rated(
        &self,
        peer: PeerId,
        relay: pb::RelayEnvelope,
        take_rate: bool,
    ) -> Result<pb::RelayAccepted, Refusal> {
        let msg_id = relay
            .envelope
            .as_ref()
            .map(|e| e.msg_id.clone())
            .unwrap_or_default();
        let from = self.admit_relay_peer(&peer, &relay.from_domain)?;
        let now = self.now();
        let envelope =
            match verify_relay(&relay, &self.inner.domain, from.log_key().public_key(), now) {
                Ok(e) => e.clone(),
                Err(e) => {
                    let kind = relay_error_kind(&e);
                    return Err(self.refuse_relay(
                        kind,
                        &msg_id,
                        Refusal::MailRefused {
                            kind: ClientErrorKind::Forbidden,
                            reason: e.to_string(),
                        },
                    ));
                }
            };
        let active = self
            .inner
            .intake
            .accounts()
            .active_key(&envelope.recipient)
            .ok()
            .flatten()
            .is_some();
        if !active {
            return Err(self.refuse_relay(
                "unknown_recipient",
                &msg_id,
                Refusal::NotFound("no active account has this address"),
            ));
        }
        let policy = &self.inner.policy;
        let facts = super::mail_facts(&envelope);
        let judged = if take_rate {
            policy.judge_from_peer(&relay.from_domain, &facts, std::time::Instant::now())
        } else {
            policy.judge_announced_from_peer(&facts)
        };
        if let Err(refusal) = judged {
            let reason = refusal.reason();
            // Counted as a relay refusal; recorded (and counted) as the envelope's rejection.
            let refused = self.refuse_relay(refusal.label(), &[], super::policy_refusal(refusal));
            self.inner.events.rejected_mail(&envelope, &reason).await;
            return Err(refused);
        }
        // Held until the consignment's records are queued (not durable): a fetch's handover
        // is queued after them, usually into the same round (`record_order`).
        let turn = self.inner.events.consignment_turn(&msg_id).await;
        let delivered = self
            .deliver(envelope.clone(), relay.from_domain.clone(), now)
            .await?;
        match delivered {
            Delivered::Stored(id) => {
                // Durable in the mailbox, not yet answered: a crash here must not duplicate.
                crate::fault::reached(crate::fault::FaultPoint::MailConsigned);
                let records = self
                    .inner
                    .events
                    .consigned(&envelope, &relay.from_domain, id)
                    .await;
                drop(turn);
                // Woken now: the reader's fetch queues its HANDOVER behind the records.
                self.arrived(&envelope.recipient);
                // Answered only once RELAY_ACCEPTED and CONSIGNMENT are durable.
                records.durable().await;
                Ok(pb::RelayAccepted {
                    msg_id,
                    duplicate: false,
                })
            }
            Delivered::Duplicate => {
                self.inner.metrics.relay_duplicates.inc();
                let records = self
                    .inner
                    .events
                    .queue_consignment(&envelope, &relay.from_domain)
                    .await;
                drop(turn);
                records.durable().await;
                debug!(
                    msg_id = hex::encode(&msg_id),
                    "relay of a mail already taken"
                );
                Ok(pb::RelayAccepted {
                    msg_id,
                    duplicate: true,
                })
            }
            Delivered::OverQuota => Err(self.refuse_relay(
                "over_quota",
                &msg_id,
                Refusal::MailRefused {
                    kind: ClientErrorKind::TooLarge,
                    reason: "the recipient's mailbox is full".into(),
                },
            )),
        }
    }

    /// The registered peer of `domain`, or `NOT_FOUND` with `missing` (which names no address).
    pub(super) fn peer_of(
        &self,
        domain: &str,
        missing: &'static str,
    ) -> Result<std::sync::Arc<crate::peers::PeerDomain>, Refusal> {
        self.inner
            .peers
            .snapshot()
            .by_domain(domain)
            .cloned()
            .ok_or(Refusal::NotFound(missing))
    }

    /// S_A, for its client: one prekey of `account` at the registered peer of its domain.
    pub(crate) async fn remote_prekey(&self, account: &str) -> Result<pb::PrekeyBundle, Refusal> {
        let domain =
            account_domain(account).ok_or(Refusal::NotFound("the address has no domain"))?;
        let peer = self.peer_of(
            domain,
            "the recipient's domain is not a peer of this gateway",
        )?;
        let response = self
            .inner
            .node
            .client_request(
                peer.peer_id,
                peer.addrs.clone(),
                pb::ClientRequest::relay_prekey(&self.inner.domain, account),
            )
            .await
            .map_err(peer_failure)?;
        expect_prekey_bundle(response).map_err(|e| peer_failure(e.into()))
    }

    /// For a client: the binding of the sender `account` from its own domain's gateway (this
    /// one, or a registered peer), with its proof; the client verifies it.
    pub(crate) async fn sender_binding(&self, account: &str) -> Result<pb::BindingAnswer, Refusal> {
        let domain =
            account_domain(account).ok_or(Refusal::NotFound("the address has no domain"))?;
        if self.is_own(domain) {
            return self.inner.intake.binding(account.to_owned()).await;
        }
        let peer = self.peer_of(domain, "the sender's domain is not a peer of this gateway")?;
        self.inner
            .node
            .gateway(peer.peer_id, peer.addrs.clone())
            .binding(account)
            .await
            .map_err(peer_failure)
    }

    /// For a client: the bindings of the senders `accounts` ([`sender_binding`] each, all at
    /// once), one outcome per account in order; once the answers reach
    /// `MAX_SENDER_BINDINGS_BYTES` the rest are refused BUSY (ask again).
    ///
    /// [`sender_binding`]: Self::sender_binding
    pub(crate) async fn sender_bindings(&self, accounts: Vec<String>) -> pb::SenderBindings {
        use herald_proto::wire::client::MAX_SENDER_BINDINGS_BYTES;
        use herald_proto::wire::{MAX_ERROR_MESSAGE_BYTES, pb::ClientError};
        use prost::Message as _;
        let answers =
            futures::future::join_all(accounts.iter().map(|a| self.sender_binding(a))).await;
        let mut bytes = 0;
        let outcomes = accounts
            .into_iter()
            .zip(answers)
            .map(|(account, answer)| {
                let refused = |r: &Refusal| Some(r.to_wire().cut(MAX_ERROR_MESSAGE_BYTES));
                match answer {
                    Ok(a) if bytes > 0 && bytes + a.encoded_len() > MAX_SENDER_BINDINGS_BYTES => {
                        pb::SenderBindingOutcome {
                            account,
                            answer: None,
                            refused: Some(ClientError {
                                kind: ClientErrorKind::Busy as i32,
                                message: "the answer is full; ask again".into(),
                                ..ClientError::default()
                            }),
                        }
                    }
                    Ok(a) => {
                        bytes += a.encoded_len();
                        pb::SenderBindingOutcome {
                            account,
                            answer: Some(a),
                            refused: None,
                        }
                    }
                    Err(r) => pb::SenderBindingOutcome {
                        account,
                        answer: None,
                        refused: refused(&r),
                    },
                }
            })
            .collect();
        pb::SenderBindings { outcomes }
    }

    /// The relay task: starts an attempt for each due mail as soon as it is due (woken when a
    /// mail is queued, else at the earliest next attempt, at least every `QUEUE_TICK`), at
    /// most `MAX_ATTEMPTS_AT_ONCE` in flight, without waiting for one attempt to start the
    /// next; sweeps mailboxes now and then.
    pub(super) async fn run(self) {
        let attempts = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_ATTEMPTS_AT_ONCE));
        let mut last_sweep = tokio::time::Instant::now();
        loop {
            let started = self.relay_due(&attempts).await;
            self.inner
                .metrics
                .queued
                .set(self.inner.outbox.len() as i64);
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = tokio::time::Instant::now();
                let (now, retention) = (self.now(), self.inner.settings.retention_secs);
                match self
                    .blocking(move |mail| mail.inner.mailboxes.sweep(now, retention))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => warn!(
                        removed = n,
                        "mailbox entries past the retention period deleted"
                    ),
                    Err(e) => error!(error = %e, "mailbox retention sweep failed"),
                }
                // The sender's delivery records (outbox) age out after the same retention.
                match self
                    .blocking(move |mail| mail.inner.outbox.sweep(now, retention))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => warn!(
                        removed = n,
                        "delivery records past the retention period deleted"
                    ),
                    Err(e) => error!(error = %e, "delivery record retention sweep failed"),
                }
                match self.blocking(move |mail| mail.sweep_transfers(now)).await {
                    Ok(0) => {}
                    Ok(n) => warn!(removed = n, "unfinished mail transfers expired"),
                    Err(e) => error!(error = %e, "mail transfer sweep failed"),
                }
            }
            if attempts.available_permits() == 0 {
                // Full: the next look is when an attempt ends.
                if let Ok(p) = attempts.clone().acquire_owned().await {
                    drop(p);
                }
                continue;
            }
            if started > 0 && self.due_in().is_some_and(|d| d.is_zero()) {
                continue;
            }
            let wait = self.due_in().unwrap_or(QUEUE_TICK).min(QUEUE_TICK);
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// How long until the earliest waiting mail is due (`None`: nothing waits).
    fn due_in(&self) -> Option<Duration> {
        let next = self.inner.outbox.next_due_ms()?;
        Some(Duration::from_millis(next.saturating_sub(self.now_ms())))
    }

    /// Starts an attempt for each mail due now, as many as `attempts` has room for; how many.
    async fn relay_due(&self, attempts: &std::sync::Arc<tokio::sync::Semaphore>) -> usize {
        let room = attempts.available_permits();
        if room == 0 || self.due_in().is_none_or(|d| !d.is_zero()) {
            return 0;
        }
        let now_ms = self.now_ms();
        // Enough for `room` full batches (`relay_batch`), bounded.
        let most = room
            .saturating_mul(MAX_RELAYS_PER_REQUEST)
            .min(MAX_TAKEN_AT_ONCE);
        let due = match self
            .blocking(move |mail| Ok(mail.inner.outbox.take_due(now_ms, most)))
            .await
        {
            Ok(q) => q,
            Err(e) => {
                error!(error = %e, "cannot read the outbound queue");
                return 0;
            }
        };
        let mut started = 0;
        for request in self.requests_of(due) {
            let Ok(permit) = attempts.clone().try_acquire_owned() else {
                // More requests than room: these mails wait for the next look.
                for q in &request {
                    self.inner.outbox.put_back(q, now_ms);
                }
                continue;
            };
            let this = self.clone();
            tokio::spawn(async move {
                match <[Queued; 1]>::try_from(request) {
                    Ok([q]) => this.attempt(q).await,
                    Err(batch) => this.attempt_batch(batch).await,
                }
                drop(permit);
            });
            started += 1;
        }
        started
    }

    /// One attempt at relaying `queued` alone, and what follows from its outcome.
    pub(super) async fn attempt(&self, queued: Queued) {
        let now = self.now();
        if queued.relay.expires_at <= now {
            return self.give_up(queued, EXPIRED.into(), EXPIRED).await;
        }
        let to = queued.relay.to_domain.clone();
        let outcome = if self.is_own(&to) {
            self.relay_locally(&queued).await
        } else {
            match self.inner.peers.snapshot().by_domain(&to).cloned() {
                None => Err(no_longer_a_peer(&to)),
                Some(peer) => {
                    let sent = if queued.travels_in_chunks() {
                        // Z in chunks, then the relay envelope (`transfer`).
                        self.relay_in_chunks(&peer, &queued).await
                    } else {
                        let request = pb::ClientRequest::relay_mail(queued.relay.clone());
                        (self.inner.node)
                            .client_request(peer.peer_id, peer.addrs.clone(), request)
                            .await
                    };
                    sent.and_then(|response| {
                        expect_relay_accepted(response, &queued.envelope.msg_id)
                            .map_err(ClientError::from)
                    })
                    .map(|a| a.duplicate)
                    .map_err(|e| refused_by(&to, e))
                }
            }
        };
        self.settle(queued, outcome, now).await;
    }

    /// What follows from the `outcome` of an attempt at relaying `queued` at `now`: recorded
    /// delivered, retried after its back-off, or given up.
    pub(super) async fn settle(&self, queued: Queued, outcome: AttemptOutcome, now: u64) {
        match outcome {
            Ok(duplicate) => {
                let envelope = queued.envelope.clone();
                let retained = queued.clone();
                let retry_later = self.inner.settings.retry_min.as_millis() as u64;
                let done = self.finish_delivered(queued, now).await;
                match done {
                    Ok(()) => self.inner.events.relayed(&envelope, duplicate),
                    Err(e) => {
                        error!(error = %e, "a delivered mail could not be recorded; it will be relayed again (S_B takes it once)");
                        self.inner
                            .outbox
                            .put_back(&retained, self.now_ms().saturating_add(retry_later));
                    }
                }
            }
            Err((true, reason, public)) => self.give_up(queued, reason, public).await,
            Err((false, reason, _)) => {
                self.inner.metrics.relay_retries.inc();
                let shift = queued.attempts.min(20);
                let delay = self
                    .inner
                    .settings
                    .retry_min
                    .saturating_mul(1u32 << shift)
                    .min(self.inner.settings.retry_max);
                let next = self.now_ms().saturating_add(delay.as_millis() as u64);
                debug!(msg_id = hex::encode(&queued.envelope.msg_id), %reason, ?delay, "relay failed; retrying");
                let retained = queued.clone();
                if let Err(e) = self
                    .blocking(move |mail| mail.inner.outbox.retry(queued, next))
                    .await
                {
                    error!(error = %e, "could not record a relay attempt");
                    self.inner.outbox.put_back(&retained, next);
                }
            }
        }
    }

    /// A mail between two accounts of this domain: straight into the mailbox.
    async fn relay_locally(&self, queued: &Queued) -> AttemptOutcome {
        // A large mail's Z is put together from its pieces: the mailbox keeps its own.
        let whole = queued.clone();
        let envelope = match self
            .blocking(move |mail| mail.inner.outbox.whole(&whole))
            .await
        {
            Ok(e) => e,
            Err(e) => return Err((false, e.to_string(), MAILBOX_FULL)),
        };
        let (domain, now) = (self.inner.domain.clone(), self.now());
        let stored = envelope.clone();
        let turn = self
            .inner
            .events
            .consignment_turn(&queued.envelope.msg_id)
            .await;
        match self
            .blocking(move |mail| mail.inner.mailboxes.deliver(&stored, &domain, now))
            .await
        {
            Ok(Delivered::Stored(id)) => {
                let records = self
                    .inner
                    .events
                    .consigned(&envelope, &self.inner.domain, id)
                    .await;
                drop(turn);
                self.arrived(&envelope.recipient);
                records.durable().await;
                Ok(false)
            }
            Ok(Delivered::Duplicate) => Ok(true),
            Ok(Delivered::OverQuota) => Err((true, MAILBOX_FULL.into(), MAILBOX_FULL)),
            Err(e) => Err((false, e.to_string(), MAILBOX_FULL)),
        }
    }

    /// Records the mail as not delivered: `reason` (the details, naming the peer and quoting
    /// its refusal) in the outbox its sender reads, `public` in the `NON_DELIVERY` record of the
    /// public log, which names no domain and quotes nothing a peer wrote.
    async fn give_up(&self, queued: Queued, reason: String, public: &'static str) {
        let envelope = queued.envelope.clone();
        let retained = queued.clone();
        let (now, why) = (self.now(), reason.clone());
        match self
            .blocking(move |mail| {
                mail.inner
                    .outbox
                    .finish(&queued, pb::DeliveryState::NotDelivered, &why, now)
            })
            .await
        {
            Ok(()) => self.inner.events.not_delivered(&envelope, public).await,
            Err(e) => {
                error!(error = %e, "a non-delivery could not be recorded");
                let later = self
                    .now_ms()
                    .saturating_add(self.inner.settings.retry_min.as_millis() as u64);
                self.inner.outbox.put_back(&retained, later);
            }
        }
    }
}

/// The public reasons of a non-delivery (see `give_up`).
const EXPIRED: &str = "expired: the recipient's gateway did not take it in time";
const NO_LONGER_A_PEER: &str = "the recipient's domain is no longer a registered peer domain";
const REFUSED_BY_PEER: &str = "refused for good by the recipient's gateway";
const MAILBOX_FULL: &str = "the recipient's mailbox is full";

/// How an attempt at relaying one mail ended: taken (whether S_B held it already), or not, with
/// whether that is final, the details for the sender and the public reason.
pub(super) type AttemptOutcome = Result<bool, (bool, String, &'static str)>;

/// An attempt's failure when the recipient's domain is no longer a registered peer.
pub(super) fn no_longer_a_peer(to: &str) -> (bool, String, &'static str) {
    (
        true,
        format!("{to} is no longer a registered peer domain"),
        NO_LONGER_A_PEER,
    )
}

/// An attempt's failure when the peer `to` refused the relay or could not be reached: final
/// if the refusal is.
pub(super) fn refused_by(to: &str, e: ClientError) -> (bool, String, &'static str) {
    match e {
        ClientError::Refused(r) => (
            is_final(r.kind),
            format!("refused by {to}: {}", r.message),
            REFUSED_BY_PEER,
        ),
        other => (false, other.to_string(), REFUSED_BY_PEER),
    }
}

/// A peer gateway's failure, as this gateway's client sees it.
fn peer_failure(e: ClientError) -> Refusal {
    match e {
        ClientError::Refused(r) => Refusal::MailRefused {
            kind: r.kind,
            reason: format!("the recipient's gateway refused: {}", r.message),
        },
        other => Refusal::MailRefused {
            kind: ClientErrorKind::Busy,
            reason: format!("the other domain's gateway could not be reached: {other}"),
        },
    }
}
