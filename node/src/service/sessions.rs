//! The live sessions (PAEP, DESIGN §3.1): the gateway's end of each session channel a login
//! opened, in memory only, found by the session id a frame carries.
//!
//! - **Bound to the login's transcript, not to the libp2p peer.** The id and both channel keys
//!   are derived from the session key K_shared, which only the two ends of that login hold
//!   (proto's `Channel`), so a frame another peer makes or replays does not authenticate and
//!   changes nothing. Frames are not tied to the peer id that logged in: the CLI runs each
//!   command as a new process with a fresh libp2p identity, and a phone changes connections; the
//!   keys, not the transport, say who may use the session.
//! - **Bounded**: at most `max_sessions` live at once (a login beyond it is answered "busy"
//!   after expired sessions make room), each for the configured lifetime; a close frame (logout)
//!   or the account losing its key ends it earlier. A restart forgets every session: the client
//!   logs in again.
//! - **One frame at a time per session**: a session's channel is locked from opening a request
//!   frame to sealing its answer, so answers leave in the order requests came (the counters of
//!   both directions stay in step).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald_proto::paep::{Channel, ChannelError};
use herald_proto::wire::SESSION_ID_BYTES;

use super::Refusal;
use super::login::Completed;
use crate::metrics::PaepMetrics;

/// The gateway's end of one session.
pub(super) struct Live {
    /// The account that logged in.
    pub account: String,
    /// Its identity key when it logged in; the session ends if the account no longer holds it.
    pub identity_key: [u8; 32],
    /// The channel (server side).
    pub channel: Channel,
    /// The account book's change count ([`AccountBook::changes`]) taken before the last read
    /// that found the account still active with `identity_key`; `None` until the first
    /// request. While the count is the same, no record changed since and the read is not
    /// repeated (`Paep::serve`).
    ///
    /// [`AccountBook::changes`]: crate::accounts::AccountBook::changes
    pub checked_at: Option<u64>,
}

type Shared = Arc<tokio::sync::Mutex<Live>>;

/// The live sessions (see the module docs).
pub(super) struct Sessions {
    by_id: Mutex<HashMap<[u8; SESSION_ID_BYTES], (u64, Shared)>>,
    max: usize,
    lifetime: u64,
}

/// The metric label of a refused frame.
pub(super) fn refusal_label(e: &ChannelError) -> &'static str {
    match e {
        ChannelError::Replayed { .. } => "replayed",
        ChannelError::OutOfOrder { .. } => "out_of_order",
        ChannelError::Forged => "forged",
        ChannelError::Expired { .. } => "expired",
        ChannelError::Closed => "closed",
        ChannelError::WrongSession => "unknown_session",
        _ => "malformed",
    }
}

impl Sessions {
    pub(super) fn new(max: usize, lifetime: u64) -> Self {
        Sessions {
            by_id: Mutex::new(HashMap::new()),
            max,
            lifetime,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; SESSION_ID_BYTES], (u64, Shared)>> {
        // The map holds handles only: a panic elsewhere leaves it usable.
        self.by_id.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens the session of a completed login at `now`; its expiry.
    pub(super) fn open(
        &self,
        completed: Completed,
        now: u64,
        metrics: &PaepMetrics,
    ) -> Result<u64, Refusal> {
        let account = completed.logged_in.account().to_owned();
        let channel = completed
            .logged_in
            .into_channel(now, self.lifetime)
            .map_err(|e| Refusal::Internal(format!("opening a session: {e}")))?;
        let expires_at = channel.expires_at();
        let id = *channel.session_id();
        let mut map = self.map();
        if map.len() >= self.max {
            map.retain(|_, (expires, _)| now < *expires);
        }
        if map.len() >= self.max {
            return Err(Refusal::Busy {
                retry_after: Duration::from_secs(60),
            });
        }
        let live = Live {
            account,
            identity_key: completed.identity_key,
            channel,
            checked_at: None,
        };
        map.insert(id, (expires_at, Arc::new(tokio::sync::Mutex::new(live))));
        metrics.sessions.set(map.len() as i64);
        Ok(expires_at)
    }

    /// The session with `id`, if it is live (an expired one is forgotten here).
    pub(super) fn get(&self, id: &[u8], now: u64, metrics: &PaepMetrics) -> Option<Shared> {
        let id: [u8; SESSION_ID_BYTES] = id.try_into().ok()?;
        let mut map = self.map();
        let (expires, live) = map.get(&id)?;
        if now < *expires {
            return Some(live.clone());
        }
        map.remove(&id);
        metrics.sessions.set(map.len() as i64);
        None
    }

    /// Ends the session with `id`.
    pub(super) fn end(&self, id: &[u8; SESSION_ID_BYTES], metrics: &PaepMetrics) {
        let mut map = self.map();
        map.remove(id);
        metrics.sessions.set(map.len() as i64);
    }
}
