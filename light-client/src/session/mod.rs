//! Logging in to one's gateway and the session channel it opens (PAEP, DESIGN §3.1).
//!
//! [`Session::login`] runs proto's SPAKE2+ prover over a [`Gateway`]:
//! 1. asks the gateway for the account's Argon2id parameters (`PasswordParams`; refused above
//!    [`MAX_CLIENT_ARGON2_MEMORY_KIB`], so a gateway cannot make this device spend more),
//! 2. derives `(w0, w1)` from the password on a blocking thread (the salt binds account and
//!    domain, the domain being the address's),
//! 3. sends shareP, checks the gateway's shareV and confirmV **before** sending confirmP
//!    (proto's `AwaitingChallenge` makes that order the only one), and
//! 4. opens the channel for the lifetime the gateway granted.
//!
//! A wrong password and an unknown account end the same way, [`SessionError::WrongPassword`]
//! (the gateway answers unknown accounts with a fake record; only confirmV tells, and it fails
//! alike).
//!
//! After login every request that acts for the account travels sealed in the session
//! ([`Session::request`]: one `SessionRequest` per frame, proto's `paep::session`). A
//! [`SessionStore`] keeps the session across processes: it is saved **after a frame is sealed
//! and before it is sent** (so no counter, and so no nonce, is ever used twice, even after a
//! crash) and again after the answer is opened. A lost answer leaves the two sides out of
//! step; the next answer is then refused and the user logs in again
//! ([`SessionError::needs_login`]). [`Session::logout`] clears the store before it sends the
//! close frame.

mod store;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use herald_proto::paep::session::{open_response, seal_request};
use herald_proto::paep::{
    Argon2Params, AwaitingChallenge, Channel, ChannelError, LoginContext, LoginError,
    MAX_SESSION_LIFETIME_SECS, PrekeyError, ProverSecrets, Ristretto255Blake3,
};
use herald_proto::wire::client::{AnswerError, expect_password_changed};
use herald_proto::wire::pb::{self, session_request};
use zeroize::Zeroizing;

pub use store::{
    FileSessionStore, MAX_SESSION_FILE_BYTES, MemorySessionStore, SavedSession, SessionStore,
    SessionStoreError,
};

use crate::clock::{Clock, SystemClock};
use crate::error::ClientError;
use crate::gateway::Gateway;
use crate::keystore::KeyStoreError;

/// The most Argon2id memory this client spends on a password, in KiB (1 GiB, the key store's
/// own bound): a gateway that asks for more is refused before any work.
pub const MAX_CLIENT_ARGON2_MEMORY_KIB: u32 = 1024 * 1024;

/// Why a login, a session request or a prekey step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The password is wrong, or the gateway has no such account: the gateway answers both
    /// alike, and the client cannot tell them apart.
    #[error("login failed: wrong password, or no such account")]
    WrongPassword,
    /// The gateway asks for Argon2id costs above what this client spends (it may be trying to
    /// exhaust the device).
    #[error(
        "the gateway asks for {memory_kib} KiB of Argon2id memory; this client spends at most {max}"
    )]
    CostTooHigh {
        /// What the gateway asked for.
        memory_kib: u32,
        /// [`MAX_CLIENT_ARGON2_MEMORY_KIB`].
        max: u32,
    },
    /// The account address has no domain.
    #[error("{0:?} is not an account address (no @domain)")]
    BadAccount(String),
    /// The login failed otherwise: the gateway sent a share that is not a group element, or
    /// the attempt took too long; or Argon2id failed locally.
    #[error("login: {0}")]
    Login(LoginError),
    /// The gateway could not be reached, refused, or misbehaved (see [`ClientError`]).
    #[error(transparent)]
    Gateway(#[from] ClientError),
    /// The session cannot go on (expired, closed, out of step after a lost answer, or a frame
    /// from the gateway that does not open): log in again.
    #[error("session: {0}")]
    Channel(#[from] ChannelError),
    /// No session is saved (never logged in, logged out, or expired): log in.
    #[error("not logged in")]
    NoSession,
    /// The saved session is of another account than the key store's.
    #[error("the saved session is for {session}, not {expected}")]
    OtherAccount {
        /// The session's account.
        session: String,
        /// The account expected.
        expected: String,
    },
    /// The session store failed (local).
    #[error(transparent)]
    Store(#[from] SessionStoreError),
    /// The key store failed (local).
    #[error("key store: {0}")]
    KeyStore(#[from] KeyStoreError),
    /// Prekeys could not be made, or a prekey bundle does not verify.
    #[error("prekeys: {0}")]
    Prekey(#[from] PrekeyError),
    /// A mail could not be sealed, or does not open (forged sender, replay, erased prekey,
    /// tampered, a content whose manifest lies).
    #[error("mail: {0}")]
    Mail(#[from] herald_proto::paep::MailError),
    /// No log is known for this domain (a mail to or from it cannot be verified).
    #[error("no log is known for the domain {0:?} (herald log trust)")]
    UnknownDomain(String),
}

impl SessionError {
    /// Whether the user must log in (again) before the next account request: no session, a
    /// session the channel cannot use any more, or a gateway that does not know the session
    /// (it forgot it at a restart, or it expired there).
    pub fn needs_login(&self) -> bool {
        match self {
            SessionError::NoSession | SessionError::Channel(_) => true,
            SessionError::Gateway(ClientError::Refused(r)) => {
                r.kind == pb::ClientErrorKind::Unauthorized
            }
            _ => false,
        }
    }
}

impl From<LoginError> for SessionError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::BadConfirmation { what: "confirmV" } => SessionError::WrongPassword,
            other => SessionError::Login(other),
        }
    }
}

/// The domain of an account address (`local@domain`).
fn domain_of(account: &str) -> Result<&str, SessionError> {
    match account.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(domain),
        _ => Err(SessionError::BadAccount(account.to_owned())),
    }
}

/// The Argon2id parameters the gateway offers for `account`, refused above this client's bound.
pub async fn offered_params<G: Gateway>(
    gateway: &G,
    account: &str,
) -> Result<Argon2Params, SessionError> {
    let answer = gateway.password_params(account).await?;
    // The codec validated the answer: its parameters are there and within the schema's bounds.
    let params = answer
        .argon2
        .as_ref()
        .ok_or(ClientError::MalformedResponse(
            herald_proto::wire::WireError::MissingField {
                field: "PasswordParams.argon2",
            },
        ))?;
    let params = Argon2Params::from_pb(params)?;
    if params.memory_kib() > MAX_CLIENT_ARGON2_MEMORY_KIB {
        return Err(SessionError::CostTooHigh {
            memory_kib: params.memory_kib(),
            max: MAX_CLIENT_ARGON2_MEMORY_KIB,
        });
    }
    Ok(params)
}

/// `(w0, w1)` of `password` for `account` (Argon2id on a blocking thread).
async fn derive(
    password: &[u8],
    account: &str,
    params: Argon2Params,
) -> Result<ProverSecrets<Ristretto255Blake3>, SessionError> {
    let domain = domain_of(account)?.to_owned();
    let password = Zeroizing::new(password.to_vec());
    let account = account.to_owned();
    tokio::task::spawn_blocking(move || ProverSecrets::derive(&password, &account, &domain, params))
        .await
        .map_err(|e| SessionError::Login(LoginError::Argon2(format!("task failed: {e}"))))?
        .map_err(SessionError::from)
}

/// The SPAKE2+ registration record of `password` for `account` with `params`: what
/// `herald account register` and a password change send. The password never leaves this
/// function; the record alone does not let anyone log in (it lacks w1).
pub async fn password_record(
    password: &[u8],
    account: &str,
    params: Argon2Params,
) -> Result<pb::PasswordRecord, SessionError> {
    Ok(derive(password, account, params)
        .await?
        .record()
        .to_pb(params))
}

/// The record of `password` for `account` with the parameters the gateway offers (what
/// registration and a password change should use, so that the account's parameters look like
/// every other account's).
pub async fn offered_password_record<G: Gateway>(
    gateway: &G,
    password: &[u8],
    account: &str,
) -> Result<pb::PasswordRecord, SessionError> {
    let params = offered_params(gateway, account).await?;
    password_record(password, account, params).await
}

/// A live session with one's gateway (see the module docs), kept in a [`SessionStore`].
pub struct Session<S: SessionStore> {
    account: String,
    channel: Channel,
    store: S,
    clock: Arc<dyn Clock>,
    /// What this session's own verifications of other domains' proofs found
    /// (`crate::sender_bindings`): checkpoints and senders' bindings checked once.
    pub(crate) verified: crate::sender_bindings::Verified,
    /// Whether the gateway refused `next_mails` as MALFORMED (a gateway older than it): the
    /// reader's cycle then goes in three requests (`crate::mail_cycle`).
    pub(crate) no_next_mails: bool,
}

impl<S: SessionStore> core::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("account", &self.account)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl<S: SessionStore> Session<S> {
    /// Logs `account` in to `gateway` with `password` (see the module docs) and saves the new
    /// session in `store`.
    pub async fn login<G: Gateway>(
        gateway: &G,
        account: &str,
        password: &[u8],
        store: S,
    ) -> Result<Self, SessionError> {
        Self::login_with_clock(gateway, account, password, store, Arc::new(SystemClock)).await
    }

    /// [`Session::login`] on `clock`.
    pub async fn login_with_clock<G: Gateway>(
        gateway: &G,
        account: &str,
        password: &[u8],
        mut store: S,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, SessionError> {
        let domain = domain_of(account)?.to_owned();
        let params = offered_params(gateway, account).await?;
        let secrets = derive(password, account, params).await?;
        let (state, share) = AwaitingChallenge::start(
            LoginContext::herald(account, &domain),
            secrets,
            clock.now_secs(),
            &mut rand_core::UnwrapErr(getrandom::SysRng),
        );
        let challenge = gateway.login_share(share).await?;
        let now = clock.now_secs();
        let (logged_in, confirm) = state.handle(&challenge, now)?;
        let accepted = gateway.login_finish(account, confirm).await?;
        let now = clock.now_secs();
        let lifetime = accepted
            .expires_at
            .saturating_sub(now)
            .min(MAX_SESSION_LIFETIME_SECS);
        let channel = logged_in.into_channel(now, lifetime)?;
        store.save(&SavedSession::of(account, &channel_record(&channel)?))?;
        Ok(Session {
            account: account.to_owned(),
            channel,
            store,
            clock,
            verified: Default::default(),
            no_next_mails: false,
        })
    }

    /// The session saved in `store`, if it is still live; [`SessionError::NoSession`] if none
    /// is saved or it has expired (an expired one is cleared).
    pub fn resume(store: S) -> Result<Self, SessionError> {
        Self::resume_with_clock(store, Arc::new(SystemClock))
    }

    /// [`Session::resume`] on `clock`.
    pub fn resume_with_clock(mut store: S, clock: Arc<dyn Clock>) -> Result<Self, SessionError> {
        let Some(saved) = store.load()? else {
            return Err(SessionError::NoSession);
        };
        match Channel::resume(saved.record(), clock.now_secs()) {
            Ok(channel) => Ok(Session {
                account: saved.account().to_owned(),
                channel,
                store,
                clock,
                verified: Default::default(),
                no_next_mails: false,
            }),
            Err(ChannelError::Expired { .. }) => {
                store.clear()?;
                Err(SessionError::NoSession)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The logged-in account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// When the session ends, Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.channel.expires_at()
    }

    /// The session's public identifier.
    pub fn session_id(&self) -> &[u8; 16] {
        self.channel.session_id()
    }

    /// The store (e.g. to hand it to the next session).
    pub fn into_store(self) -> S {
        self.store
    }

    fn save(&mut self) -> Result<(), SessionError> {
        let record = channel_record(&self.channel)?;
        self.store.save(&SavedSession::of(&self.account, &record))?;
        Ok(())
    }

    /// Sends one request for the account through the session and returns the gateway's
    /// answer (which may be a refusal inside the session). The session is saved after the
    /// frame is sealed and again after the answer is opened.
    pub async fn request<G: Gateway>(
        &mut self,
        gateway: &G,
        request: &pb::SessionRequest,
    ) -> Result<pb::SessionResponse, SessionError> {
        let frame = seal_request(&mut self.channel, request, self.clock.now_secs())?;
        self.save()?;
        let answer = gateway.session_frame(frame).await?;
        let response = open_response(&mut self.channel, &answer, self.clock.now_secs())?;
        self.save()?;
        Ok(response)
    }

    /// Replaces the account's password: sends the record of `password` (with the parameters
    /// the gateway offers for this account) inside the session; done once the gateway has
    /// stored it durably. The session stays open.
    pub async fn change_password<G: Gateway>(
        &mut self,
        gateway: &G,
        password: &[u8],
    ) -> Result<(), SessionError> {
        let record = offered_password_record(gateway, password, &self.account).await?;
        let request = pb::SessionRequest {
            request: Some(session_request::Request::PasswordChange(record)),
        };
        let response = self.request(gateway, &request).await?;
        expect_password_changed(response).map_err(answer_error)?;
        Ok(())
    }

    /// Ends the session: the store is cleared first, then the close frame is sent (after it the
    /// session is gone on this side whatever the answer).
    pub async fn logout<G: Gateway>(mut self, gateway: &G) -> Result<S, SessionError> {
        self.store.clear()?;
        let frame = self.channel.close()?;
        gateway.session_close(frame).await?;
        Ok(self.store)
    }
}

fn channel_record(channel: &Channel) -> Result<pb::SessionRecord, SessionError> {
    Ok(channel.to_record()?)
}

/// An answer inside the session that is not the one asked for, as a client error.
pub(crate) fn answer_error(e: AnswerError) -> SessionError {
    SessionError::Gateway(e.into())
}
