//! PAEP on the client protocol (DESIGN §3.1, §3.2): the gateway's answers to
//! `password_params`, `login_share`, `login_finish`, `session` frames and `prekey_bundle`.
//! [`Paep`] holds the login attempts (`super::login`), the live sessions
//! (`super::sessions`) and the prekey book, and serves what a session carries: prekey uploads
//! and status (`super::prekeys`) and password changes.
//!
//! Requests that act for an account are taken only inside a live session: there is no other
//! way to reach them on `/herald/client/1`. Each is carried out for the session's account only
//! while that account is still active with the key it logged in with; otherwise the session
//! ends and the request is refused.

use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::paep::session::{Inbound, open_request, seal_response};
use herald_proto::paep::{Argon2Params, FakeRecords};
use herald_proto::wire::pb::{self, client_response, session_request};
use libp2p::PeerId;
use tracing::{debug, info, warn};
use zeroize::Zeroizing;

use super::login::Logins;
use super::sessions::{Live, Sessions, refusal_label};
use super::{Intake, MailService, Refusal};
use crate::accounts::attempts::Strikes;
use crate::accounts::prekeys::PrekeyBook;
use crate::accounts::{AccountBook, LoginRecord};
use crate::metrics::PaepMetrics;

/// What [`Paep`] works with.
pub struct PaepParts {
    /// Client intake (binding answers for prekey bundles, the clock, blocking work).
    pub intake: Intake,
    /// The gateway's secret for fake records of unknown accounts (`keys::login_secret`).
    pub login_secret: Zeroizing<[u8; 32]>,
    /// Seconds a session lives.
    pub session_lifetime: u64,
    /// Live sessions at once.
    pub max_sessions: usize,
    /// Prekey bundles one registered peer gateway may ask for per minute (`relay_prekey`).
    pub relay_prekey_bundles_per_minute: u32,
    /// Where logins, sessions and prekeys are counted.
    pub metrics: PaepMetrics,
    /// Mail (sending, mailboxes, relays); `None`: the gateway carries no mail.
    pub mail: Option<MailService>,
}

pub(super) struct Inner {
    pub(super) intake: Intake,
    pub(super) logins: Mutex<Logins>,
    pub(super) sessions: Sessions,
    pub(super) bundles: Mutex<Strikes<super::prekeys::BundleAsker>>,
    /// Prekey bundles asked for by registered peer gateways (`relay_prekey`), per peer.
    pub(super) relay_bundles: Mutex<Strikes<PeerId>>,
    pub(super) metrics: PaepMetrics,
    pub(super) mail: Option<MailService>,
    /// Prekey takes with their bindings, done in groups (`service::prekeys`).
    pub(super) takes: Arc<super::prekeys::Takes>,
}

/// PAEP's server side (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Paep {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Paep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paep").finish_non_exhaustive()
    }
}

impl Paep {
    /// The service over `parts`.
    pub fn new(parts: PaepParts) -> Self {
        let params = parts.intake.parts().password_params;
        let domain = parts.intake.accounts().domain().to_owned();
        Paep {
            inner: Arc::new(Inner {
                logins: Mutex::new(Logins::new(
                    FakeRecords::new(*parts.login_secret, params),
                    &domain,
                )),
                sessions: Sessions::new(parts.max_sessions, parts.session_lifetime),
                bundles: Mutex::new(Strikes::new(super::prekeys::BUNDLE_LIMIT)),
                relay_bundles: Mutex::new(Strikes::new(super::prekeys::relay_bundle_limit(
                    parts.relay_prekey_bundles_per_minute,
                ))),
                takes: super::prekeys::takes(&parts.intake),
                intake: parts.intake,
                metrics: parts.metrics,
                mail: parts.mail,
            }),
        }
    }

    fn logins(&self) -> std::sync::MutexGuard<'_, Logins> {
        // Attempts and counters only: a panic elsewhere leaves them usable.
        self.inner
            .logins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn accounts(&self) -> &AccountBook {
        self.inner.intake.accounts()
    }

    pub(super) fn prekeys(&self) -> &PrekeyBook {
        &self.inner.intake.parts().prekeys
    }

    pub(super) fn now(&self) -> u64 {
        self.inner.intake.now_secs()
    }

    /// The login record of `account`, if it has one (read on a blocking thread).
    async fn login_record(&self, account: &str) -> Result<Option<LoginRecord>, Refusal> {
        let account = account.to_owned();
        self.inner
            .intake
            .blocking(move |intake| Ok(intake.accounts().login_record(&account)?))
            .await
    }

    /// `PasswordParams` for `account`: its record's costs, or the offered ones for an address
    /// without a record (unknown, pending, disabled, no password) — the same as a fake record.
    pub async fn password_params(&self, account: &str) -> Result<pb::PasswordParams, Refusal> {
        let record = self.login_record(account).await?;
        let params = record
            .and_then(|r| r.password.params().ok())
            .unwrap_or_else(|| self.logins().fake_params());
        Ok(pb::PasswordParams {
            argon2: Some(params.to_pb()),
        })
    }

    /// Login message 1 from `peer`.
    pub async fn login_share(
        &self,
        peer: PeerId,
        share: pb::LoginShare,
    ) -> Result<pb::LoginChallenge, Refusal> {
        let metrics = &self.inner.metrics;
        // Limits first, before the record is read or any work is done.
        self.logins()
            .admit(&peer, &share.account, self.now(), metrics)?;
        let record = self.login_record(&share.account).await?;
        self.logins()
            .start(peer, &share, record, self.now(), metrics)
    }

    /// Login message 3 from `peer`: the session opens if confirmP verifies.
    pub async fn login_finish(
        &self,
        peer: PeerId,
        finish: pb::LoginFinish,
    ) -> Result<pb::LoginAccepted, Refusal> {
        let confirm = finish.confirm.unwrap_or_default();
        let now = self.now();
        let metrics = &self.inner.metrics;
        let completed = self
            .logins()
            .finish(peer, &finish.account, &confirm, now, metrics)?;
        let expires_at = self.inner.sessions.open(completed, now, metrics)?;
        info!(%peer, account = finish.account, expires_at, "logged in; session open");
        Ok(pb::LoginAccepted { expires_at })
    }

    /// One session frame: a request carried out for the session's account and its answer
    /// sealed, or a logout. A frame the session does not take changes nothing.
    pub async fn session(
        &self,
        frame: pb::SessionFrame,
    ) -> Result<client_response::Response, Refusal> {
        let metrics = &self.inner.metrics;
        let refused = |label: &'static str, why: String| {
            metrics
                .frames_refused
                .get_or_create(&crate::metrics::KindLabel { kind: label })
                .inc();
            debug!(reason = label, "session frame refused");
            Refusal::NoSession(why)
        };
        let Some(shared) = self
            .inner
            .sessions
            .get(&frame.session_id, self.now(), metrics)
        else {
            return Err(refused(
                "unknown_session",
                "no live session has this id".into(),
            ));
        };
        let mut live = shared.lock().await;
        let id = *live.channel.session_id();
        let now = self.now();
        let request = match open_request(&mut live.channel, &frame, now) {
            Ok(Inbound::Request(request)) if !self.refuses(&request) => request,
            Ok(Inbound::Request(_)) => {
                // The test hook: answered as a gateway that does not know the kind, whose
                // decoding finds no request it knows (before any account check or wait).
                let unknown = herald_proto::wire::WireError::MissingField {
                    field: "SessionRequest.request",
                };
                let answer = pb::SessionResponse::error(Refusal::Malformed(unknown).to_wire());
                return self.seal(&mut live, &answer, now);
            }
            Ok(Inbound::Closed) => {
                self.inner.sessions.end(&id, metrics);
                info!(account = live.account, "logged out; session closed");
                return Ok(client_response::Response::SessionClosed(
                    pb::SessionClosed {},
                ));
            }
            Ok(Inbound::Malformed(e)) => {
                let answer = pb::SessionResponse::error(Refusal::Malformed(e).to_wire());
                return self.seal(&mut live, &answer, now);
            }
            Err(e) => {
                if matches!(
                    e,
                    herald_proto::paep::ChannelError::Expired { .. }
                        | herald_proto::paep::ChannelError::Closed
                ) {
                    self.inner.sessions.end(&id, metrics);
                }
                return Err(refused(refusal_label(&e), e.to_string()));
            }
        };
        let answer = match self.serve(&mut live, request).await {
            Ok(answer) => answer,
            Err(Refusal::NoSession(why)) => {
                // The account lost the key it logged in with: the session is over.
                self.inner.sessions.end(&id, metrics);
                warn!(
                    account = live.account,
                    why, "session ended: the account changed"
                );
                pb::SessionResponse::error(Refusal::NoSession(why).to_wire())
            }
            Err(refusal) => pb::SessionResponse::error(refusal.to_wire()),
        };
        self.seal(&mut live, &answer, self.now())
    }

    /// Whether `request` is a `next_mails` that the test hook `test_refuse_next_mails`
    /// refuses.
    fn refuses(&self, request: &pb::SessionRequest) -> bool {
        matches!(
            request.request,
            Some(session_request::Request::NextMails(_))
        ) && (self.inner.mail.as_ref()).is_some_and(MailService::refuses_next_mails)
    }

    fn seal(
        &self,
        live: &mut Live,
        answer: &pb::SessionResponse,
        now: u64,
    ) -> Result<client_response::Response, Refusal> {
        let frame = seal_response(&mut live.channel, answer, now)
            .map_err(|e| Refusal::NoSession(format!("sealing the answer: {e}")))?;
        Ok(client_response::Response::Session(frame))
    }

    /// Whether the session's account is still active with the key it logged in with. The
    /// record is read (on the blocking pool) only when an account record was written since the
    /// session last found it so (`Live::checked_at`): a session's requests then cost no
    /// blocking-pool hand-off of their own for this check, and a change of any account (a
    /// new key, disabled, a password change) makes every session read its record again.
    async fn check_account(&self, live: &mut Live) -> Result<(), Refusal> {
        // Taken before the read: a write after it changes the count, so it is never missed.
        let changes = self.accounts().changes();
        if live.checked_at == Some(changes) {
            return Ok(());
        }
        let current = self.login_record(&live.account).await?;
        if current.as_ref().map(|r| r.identity_key) != Some(live.identity_key) {
            return Err(Refusal::NoSession(
                "the account is no longer active with the key it logged in with".into(),
            ));
        }
        live.checked_at = Some(changes);
        Ok(())
    }

    /// Carries out one request for the session's account.
    async fn serve(
        &self,
        live: &mut Live,
        request: pb::SessionRequest,
    ) -> Result<pb::SessionResponse, Refusal> {
        self.check_account(live).await?;
        let account = live.account.clone();
        let key = live.identity_key;
        // An inbox listing may be held up to `MAX_INBOX_WAIT_MS` (`mail::arrivals`).
        let held = matches!(
            &request.request,
            Some(session_request::Request::Inbox(r)) if r.wait_ms > 0
        ) || matches!(
            &request.request,
            Some(session_request::Request::NextMails(r)) if r.wait_ms > 0
        );
        let response = match request.request {
            Some(session_request::Request::PrekeyUpload(upload)) => {
                let status = self.upload_prekeys(&account, &key, upload).await?;
                pb::session_response::Response::PrekeyStatus(status)
            }
            Some(session_request::Request::PrekeyStatus(_)) => {
                pb::session_response::Response::PrekeyStatus(self.prekey_status(&account).await?)
            }
            Some(session_request::Request::PasswordChange(record)) => {
                let entry = self.inner.intake.password_entry(Some(&record))?;
                let acc = account.clone();
                self.inner
                    .intake
                    .blocking(move |intake| {
                        Ok(intake.accounts().set_password(&acc, &key, entry)?)
                    })
                    .await?;
                info!(account, "password changed");
                pb::session_response::Response::PasswordChanged(pb::PasswordChanged {})
            }
            Some(mail_request) => self.serve_mail(&account, mail_request).await?,
            None => {
                return Err(Refusal::Malformed(
                    herald_proto::wire::WireError::MissingField {
                        field: "SessionRequest.request",
                    },
                ));
            }
        };
        if held {
            // Answered after its wait as a fresh request would be then: refused if the session
            // expired or the account lost its login (disabled, revoked) meanwhile.
            let metrics = &self.inner.metrics;
            let id = live.channel.session_id();
            if self.inner.sessions.get(id, self.now(), metrics).is_none() {
                return Err(Refusal::NoSession("no live session has this id".into()));
            }
            // Reads the record again only if an account changed during the wait.
            self.check_account(live).await?;
        }
        Ok(pb::SessionResponse {
            response: Some(response),
        })
    }

    fn mail(&self) -> Result<&MailService, Refusal> {
        self.inner.mail.as_ref().ok_or(Refusal::MailRefused {
            kind: pb::ClientErrorKind::Forbidden,
            reason: "this gateway carries no mail".into(),
        })
    }

    /// The mail requests of a session (`service::mail`), for `account`.
    async fn serve_mail(
        &self,
        account: &str,
        request: session_request::Request,
    ) -> Result<pb::session_response::Response, Refusal> {
        use pb::session_response::Response;
        let mail = self.mail()?;
        Ok(match request {
            session_request::Request::MailPrekey(r) => {
                let own = herald_proto::identity::account_domain(&r.account)
                    .is_some_and(|d| d.eq_ignore_ascii_case(self.accounts().domain()));
                // Limited per sending account here: the recipient's gateway sees this gateway
                // as one asker for all its accounts (`service::prekeys`).
                let asker = super::prekeys::BundleAsker::Account(account.to_owned());
                let bundle = if own {
                    self.prekey_bundle_for(asker, r.account).await?
                } else {
                    self.limit_bundles(&asker)?;
                    mail.remote_prekey(&r.account).await?
                };
                Response::PrekeyBundle(bundle)
            }
            session_request::Request::SenderBinding(r) => {
                Response::SenderBinding(mail.sender_binding(&r.account).await?)
            }
            session_request::Request::SendMail(r) => {
                Response::MailAccepted(mail.send(account, r).await?)
            }
            session_request::Request::Inbox(r) => {
                Response::Inbox(mail.inbox(account, r.wait_ms).await?)
            }
            session_request::Request::FetchMail(r) => {
                Response::Mail(mail.fetch(account, r.id).await?)
            }
            session_request::Request::AcknowledgeMail(r) => {
                mail.acknowledge(account, r.id).await?;
                Response::MailAcknowledged(pb::MailAcknowledged {})
            }
            session_request::Request::Outbox(_) => Response::Outbox(mail.outbox(account).await?),
            session_request::Request::FetchMails(r) => {
                Response::Mails(mail.fetch_all(account, r.ids).await?)
            }
            session_request::Request::AcknowledgeMails(r) => {
                Response::MailsAcknowledged(mail.acknowledge_all(account, r.ids).await?)
            }
            session_request::Request::NextMails(r) => {
                Response::NextMails(mail.next_mails(account, r).await?)
            }
            session_request::Request::SenderBindings(r) => {
                Response::SenderBindings(mail.sender_bindings(r.accounts).await)
            }
            session_request::Request::UploadChunk(r) => {
                Response::UploadProgress(mail.upload_chunk(account, r).await?)
            }
            session_request::Request::SendUploadedMail(r) => {
                Response::MailAccepted(mail.send_uploaded(account, r).await?)
            }
            session_request::Request::FetchMailPart(r) => {
                Response::MailPart(mail.fetch_part(account, r.id, r.offset).await?)
            }
            session_request::Request::PrekeyUpload(_)
            | session_request::Request::PrekeyStatus(_)
            | session_request::Request::PasswordChange(_) => {
                return Err(Refusal::Internal("not a mail request".into()));
            }
        })
    }

    /// `relay_prekey` from the peer gateway `peer`: one prekey of an account here, handed out
    /// as to any asker, only to a registered peer of the domain it names, under the registered
    /// peers' own, larger limit (`service::prekeys`).
    pub async fn relay_prekey(
        &self,
        peer: PeerId,
        request: pb::RelayPrekeyRequest,
    ) -> Result<pb::PrekeyBundle, Refusal> {
        let mail = self.mail()?;
        mail.admit_relay_peer(&peer, &request.from_domain)?;
        self.relay_prekey_bundle(peer, request.account).await
    }

    /// `relay_mail` from the peer gateway `peer`.
    pub async fn relay_mail(
        &self,
        peer: PeerId,
        relay: pb::RelayEnvelope,
    ) -> Result<pb::RelayAccepted, Refusal> {
        self.mail()?.relay_in(peer, relay).await
    }

    /// `relay_mails` from the peer gateway `peer`: each relay as `relay_mail` takes it.
    pub async fn relay_mails(
        &self,
        peer: PeerId,
        batch: pb::RelayMails,
    ) -> Result<pb::RelaysAccepted, Refusal> {
        self.mail()?.relay_in_all(peer, batch.relays).await
    }

    /// `relay_chunk` from the peer gateway `peer` (`service::mail::transfer`).
    pub async fn relay_chunk(
        &self,
        peer: PeerId,
        chunk: pb::RelayMailChunk,
    ) -> Result<pb::RelayChunkProgress, Refusal> {
        self.mail()?.relay_chunk_in(peer, chunk).await
    }

    /// `relay_large_mail` from the peer gateway `peer` (`service::mail::transfer`).
    pub async fn relay_large_mail(
        &self,
        peer: PeerId,
        request: pb::RelayLargeMail,
    ) -> Result<pb::RelayAccepted, Refusal> {
        self.mail()?.relay_large_in(peer, request).await
    }

    /// `relay_evidence` from the peer gateway `peer` (`service::mail::status`).
    pub async fn relay_evidence(
        &self,
        peer: PeerId,
        request: pb::RelayEvidenceRequest,
    ) -> Result<pb::EvidenceAnswer, Refusal> {
        self.mail()?.relay_evidence(peer, request).await
    }

    /// A client's delivery-status request naming a peer's domain: passed on to that peer.
    pub async fn peer_evidence(
        &self,
        request: pb::EvidenceRequest,
    ) -> Result<pb::EvidenceAnswer, Refusal> {
        self.mail()?
            .peer_evidence(&request.domain, request.msg_id, request.nonce)
            .await
    }

    /// The parameters the gateway offers for passwords.
    pub fn offered_params(&self) -> Argon2Params {
        self.logins().fake_params()
    }
}
