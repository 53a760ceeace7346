//! Logging a [`HeraldAccount`] in to its home gateway and out again (PAEP, DESIGN §3.1), and
//! the session every mail call runs in.
//!
//! The light client's [`Session`] does the protocol: the Argon2id costs the gateway offers
//! (bounded), SPAKE2+ with the gateway's confirmation checked before the client's is sent, and
//! the sealed channel with its counters. This file holds the session for the account and hands
//! it, with the key store and the home gateway, to the calls in `mail.rs` and `listener.rs`.
//!
//! The session is kept in memory ([`MemorySessionStore`]) for as long as the account object
//! lives: a restarted app logs in again. Keeping the channel's keys on disk would need a key the
//! app's `SecureKeyStore` cannot give (it never exports one), and an app restart is rare next to
//! a login's cost. A failure that ends the session (expired, closed, out of step, forgotten by a
//! restarted gateway) forgets it here too, so the next call says [`HeraldError::NotLoggedIn`]
//! at once.

use std::collections::BTreeSet;
use std::path::Path;

use herald_light_client::durable_file;
use herald_light_client::{GatewayClient, MemorySessionStore, Session};
use herald_proto::paep::ReplayCache;
use herald_proto::wire::MAX_MSG_ID_BYTES;

use crate::account::{
    AccountState, HeraldAccount, MAX_PASSWORD_BYTES, check_len, futures_box::BoxFuture,
};
use crate::client::ClientState;
use crate::error::HeraldError;
use crate::key_store::AccountKeys;
use crate::runtime::guard;

/// The account's live session.
pub(crate) type AccountSession = Session<MemorySessionStore>;

/// The replay cache's file in the account's directory.
const REPLAY_FILE: &str = "mail-replay";
/// Most entries the replay cache file holds (it keeps only mails under prekeys still held, so
/// it stays far below this; a file above it is refused, not trusted).
const MAX_REPLAY_ENTRIES: usize = 65_536;
/// One entry's largest encoding: prekey id (8), msg_id length (1), msg_id.
const MAX_REPLAY_ENTRY_BYTES: usize = 9 + MAX_MSG_ID_BYTES;

/// What an account keeps between its mail calls (one lock, taken after the key store's).
#[derive(Default)]
pub(crate) struct Mailbox {
    /// The session, once logged in.
    pub(crate) session: Option<AccountSession>,
    /// The `(msg_id, prekey id)` of the mails read, loaded from the account's directory on the
    /// first read (DESIGN §3.2's replay cache).
    pub(crate) replay: Option<ReplayCache>,
    /// The mailbox entries the listener has been told of.
    pub(crate) told: BTreeSet<u64>,
    /// The logs whose split view `check_mail` has told the listener of.
    pub(crate) alerted: BTreeSet<String>,
}

/// What a call acting for the account gets: the home gateway, the key store, the session and
/// the rest of the mailbox state.
pub(crate) struct Acting<'a> {
    pub(crate) client: &'a ClientState,
    pub(crate) gateway: GatewayClient,
    pub(crate) keys: &'a mut AccountKeys,
    pub(crate) session: &'a mut AccountSession,
    pub(crate) replay: &'a mut Option<ReplayCache>,
    pub(crate) told: &'a mut BTreeSet<u64>,
    pub(crate) alerted: &'a mut BTreeSet<String>,
    pub(crate) account: &'a str,
    pub(crate) dir: &'a Path,
}

/// A session opened.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct LoginInfo {
    /// The account logged in.
    pub account: String,
    /// The session's public identifier (16 bytes).
    pub session_id: Vec<u8>,
    /// When the session ends, Unix seconds (log in again after it).
    pub expires_at: u64,
}

fn not_logged_in() -> HeraldError {
    HeraldError::NotLoggedIn {
        reason: "no session (login first)".into(),
    }
}

impl HeraldAccount {
    /// Runs `work` with the account's key store and session at its home gateway, on the
    /// runtime; forgets the session if the call ended it.
    pub(crate) async fn with_session<T, F>(&self, work: F) -> Result<T, HeraldError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(Acting<'a>) -> BoxFuture<'a, T> + Send + 'static,
    {
        let state = self.state.clone();
        self.runtime
            .run(async move { in_session(&state, work).await })
            .await
    }
}

/// [`HeraldAccount::with_session`]'s work, in a task already on the runtime.
pub(crate) async fn in_session<T, F>(state: &AccountState, work: F) -> Result<T, HeraldError>
where
    F: for<'a> FnOnce(Acting<'a>) -> BoxFuture<'a, T>,
{
    let home = state.client.config.home().origin().to_owned();
    let mut slot = state.mail.lock().await;
    let mail = slot
        .as_mut()
        .ok_or_else(|| HeraldError::internal("the account's key store was lost"))?;
    let mut mailbox = state.mailbox.lock().await;
    let Mailbox {
        session,
        replay,
        told,
        alerted,
    } = &mut *mailbox;
    let live = session.as_mut().ok_or_else(not_logged_in)?;
    let result = match state.client.gateway(state.client.config.home()).await {
        Ok(gateway) => {
            work(Acting {
                client: &state.client,
                gateway,
                keys: mail.keys_mut(),
                session: live,
                replay,
                told,
                alerted,
                account: &state.account,
                dir: &state.dir,
            })
            .await
        }
        Err(e) => Err(e),
    };
    if matches!(result, Err(HeraldError::NotLoggedIn { .. })) {
        *session = None;
    }
    state.client.told(Some(&home), result).await
}

#[uniffi::export]
impl HeraldAccount {
    /// Logs the account in to its home gateway with its `password` (the one set at
    /// registration; 1 to 1024 bytes). [`HeraldError::BadPassword`] if the gateway refuses it
    /// (a wrong password and an unknown account look alike), [`HeraldError::RateLimited`] if
    /// it asks to wait. Replaces a session already open.
    pub async fn login(&self, password: String) -> Result<LoginInfo, HeraldError> {
        guard(|| check_len("password", password.as_bytes(), MAX_PASSWORD_BYTES))?;
        let password = zeroize::Zeroizing::new(password);
        let state = self.state.clone();
        let home = state.client.config.home().origin().to_owned();
        self.runtime
            .run(async move {
                let result = async {
                    let gateway = state.client.gateway(state.client.config.home()).await?;
                    let session = Session::login(
                        &gateway,
                        &state.account,
                        password.as_bytes(),
                        MemorySessionStore::new(),
                    )
                    .await?;
                    let info = LoginInfo {
                        account: session.account().to_owned(),
                        session_id: session.session_id().to_vec(),
                        expires_at: session.expires_at(),
                    };
                    state.mailbox.lock().await.session = Some(session);
                    Ok(info)
                }
                .await;
                state.client.told(Some(&home), result).await
            })
            .await
    }

    /// Ends the session: forgotten here first, then closed at the gateway (so it is gone on
    /// this side whatever the gateway answers). Nothing to do when not logged in.
    pub async fn logout(&self) -> Result<(), HeraldError> {
        let state = self.state.clone();
        let home = state.client.config.home().origin().to_owned();
        self.runtime
            .run(async move {
                let Some(session) = state.mailbox.lock().await.session.take() else {
                    return Ok(());
                };
                let result = async {
                    let gateway = state.client.gateway(state.client.config.home()).await?;
                    session.logout(&gateway).await?;
                    Ok(())
                }
                .await;
                state.client.told(Some(&home), result).await
            })
            .await
    }

    /// Whether a session is open (it may still have expired at the gateway).
    pub async fn logged_in(&self) -> bool {
        self.state.mailbox.lock().await.session.is_some()
    }
}

/// The replay cache kept in `dir` (empty if none was written yet).
pub(crate) fn load_replay(dir: &Path) -> Result<ReplayCache, HeraldError> {
    let path = dir.join(REPLAY_FILE);
    if !path.exists() {
        return Ok(ReplayCache::new());
    }
    let bytes = durable_file::read_bounded(&path, MAX_REPLAY_ENTRIES * MAX_REPLAY_ENTRY_BYTES)
        .map_err(|e| HeraldError::internal(format!("the replay cache: {e}")))?;
    decode_replay(&bytes)
        .ok_or_else(|| HeraldError::internal(format!("{} is not a replay cache", path.display())))
}

/// Writes the replay cache to `dir`, durably (before the mail it now names is acknowledged).
pub(crate) fn save_replay(dir: &Path, cache: &ReplayCache) -> Result<(), HeraldError> {
    durable_file::replace(&dir.join(REPLAY_FILE), &encode_replay(cache))
        .map_err(|e| HeraldError::internal(format!("writing the replay cache: {e}")))
}

/// Entries as `prekey id (u64 LE) ‖ msg_id length (u8) ‖ msg_id`, one after the other.
fn encode_replay(cache: &ReplayCache) -> Vec<u8> {
    let mut out = Vec::new();
    for (msg_id, id) in cache.entries() {
        // Bounded by the wire schema (1 to 64 bytes); a longer one never opened a mail.
        let Ok(len) = u8::try_from(msg_id.len()) else {
            continue;
        };
        out.extend_from_slice(&id.to_le_bytes());
        out.push(len);
        out.extend_from_slice(msg_id);
    }
    out
}

fn decode_replay(mut bytes: &[u8]) -> Option<ReplayCache> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let (id, rest) = bytes.split_first_chunk::<8>()?;
        let (&len, rest) = rest.split_first()?;
        let len = usize::from(len);
        if len == 0 || len > MAX_MSG_ID_BYTES || rest.len() < len {
            return None;
        }
        entries.push((rest[..len].to_vec(), u64::from_le_bytes(*id)));
        bytes = &rest[len..];
    }
    Some(ReplayCache::from_entries(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::tests::{bad_input, block_on, offline_client};

    #[test]
    fn the_replay_cache_survives_a_restart_and_a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_replay(dir.path()).unwrap(), ReplayCache::new());
        let cache = ReplayCache::from_entries([
            (b"m-1".to_vec(), 7),
            (vec![0xff; MAX_MSG_ID_BYTES], u64::MAX),
        ]);
        save_replay(dir.path(), &cache).unwrap();
        assert_eq!(load_replay(dir.path()).unwrap(), cache);
        let mut bytes = encode_replay(&cache);
        bytes.pop();
        assert_eq!(decode_replay(&bytes), None, "a truncated entry");
        let mut bytes = encode_replay(&cache);
        bytes[8] = (MAX_MSG_ID_BYTES + 1) as u8;
        assert_eq!(decode_replay(&bytes), None, "a msg_id over its bound");
    }

    #[test]
    fn a_password_out_of_bounds_is_refused_and_calls_need_a_login() {
        let (_dir, client) = offline_client();
        let alice =
            block_on(client.create_account("alice@d0.test".into(), "a passphrase".into())).unwrap();
        bad_input(block_on(alice.login(String::new())));
        bad_input(block_on(alice.login("p".repeat(MAX_PASSWORD_BYTES + 1))));
        assert!(!block_on(alice.logged_in()));
        // Not logged in: a call acting for the account says so, before any network.
        let err = block_on(alice.inbox()).unwrap_err();
        assert!(matches!(err, HeraldError::NotLoggedIn { .. }), "{err:?}");
        // Logging out without a session is nothing to do.
        block_on(alice.logout()).unwrap();
        // A login with nobody at the gateway is a network error, within its bound.
        let err = block_on(alice.login("a password".into())).unwrap_err();
        assert!(matches!(err, HeraldError::Network { .. }), "{err:?}");
        assert_eq!(client.operations_in_flight(), 0);
    }
}
