//! The SPAKE2+ login as two sans-IO state machines, one struct per state (DESIGN §3.1,
//! RFC 9383 §3.3–3.4 and Appendix B's flow).
//!
//! ```text
//! client (prover)                                  gateway (verifier)
//! AwaitingChallenge::start ──LoginShare(X)──►      ServerStart::handle
//!                          ◄──LoginChallenge(Y, confirmV)── AwaitingConfirm
//! AwaitingChallenge::handle: checks confirmV,
//!   only then ──LoginConfirm(confirmP)──►          AwaitingConfirm::handle: checks confirmP
//! LoggedIn (client)                                LoggedIn (gateway)
//! ```
//!
//! **Order is in the types.** The only way to a
//! [`LoginConfirm`](crate::wire::pb::LoginConfirm) is
//! [`AwaitingChallenge::handle`], which returns one only after the gateway's confirmV has
//! verified; the only way to a gateway's [`LoggedIn`] (and so to its [`SessionKey`]) is
//! [`AwaitingConfirm::handle`] after confirmP verified. `handle` consumes the state, so a client
//! whose check failed has nothing left to confirm with (this does not compile):
//!
//! ```compile_fail,E0382
//! use herald_proto::paep::{AwaitingChallenge, Ristretto255Blake3};
//! use herald_proto::wire::pb::LoginChallenge;
//!
//! fn confirm_anyway(
//!     state: AwaitingChallenge<Ristretto255Blake3>,
//!     forged: &LoginChallenge,
//!     other: &LoginChallenge,
//! ) {
//!     if state.handle(forged, 0).is_err() {
//!         let _ = state.handle(other, 0); // E0382: the state was moved by the refused attempt
//!     }
//! }
//! ```
//!
//! and nobody outside the login machines can make a session key (nor does compile):
//!
//! ```compile_fail,E0624
//! use herald_proto::paep::SessionKey;
//!
//! let _ = SessionKey::new(zeroize::Zeroizing::new(vec![0u8; 32])); // E0624: private
//! ```
//!
//! **A refused input ends the attempt** (RFC 9383: "abort"): every `handle` consumes its state,
//! so a flipped or replayed message costs the attacker one attempt, which the gateway counts.
//! Each attempt must finish within [`LOGIN_TIMEOUT_SECS`] of its start (the clock is passed in).

mod client;
mod server;

#[cfg(test)]
mod attacks;

pub use client::AwaitingChallenge;
pub use server::{AwaitingConfirm, ServerStart};

use zeroize::Zeroizing;

use super::channel::{Channel, ChannelError, Role};

/// How long a login attempt may take from its first message to its last, in seconds.
pub const LOGIN_TIMEOUT_SECS: u64 = 60;

/// K_shared of a completed login. Made only by the login machines after the confirmations
/// that their side can check have verified; zeroized on drop; its bytes never leave the crate
/// except as channel keys.
pub struct SessionKey(Zeroizing<Vec<u8>>);

impl core::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    pub(super) fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        SessionKey(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A finished login: who logged in, to whom, and the session key, ready to open the channel.
#[derive(Debug)]
pub struct LoggedIn {
    role: Role,
    account: String,
    verifier: String,
    key: SessionKey,
}

impl LoggedIn {
    pub(super) fn new(role: Role, account: &str, verifier: &str, key: SessionKey) -> Self {
        LoggedIn {
            role,
            account: account.to_owned(),
            verifier: verifier.to_owned(),
            key,
        }
    }

    /// The account that logged in (idProver).
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The gateway logged in to (idVerifier).
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// Which side this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Opens the session channel, live from `now` for `lifetime` seconds.
    pub fn into_channel(self, now: u64, lifetime: u64) -> Result<Channel, ChannelError> {
        Channel::new(&self.key, self.role, now, lifetime)
    }

    #[cfg(test)]
    pub(crate) fn key(&self) -> &SessionKey {
        &self.key
    }
}

/// The deadline of an attempt started at `now`.
fn deadline(now: u64) -> u64 {
    now.saturating_add(LOGIN_TIMEOUT_SECS)
}

/// Refuses an input that comes after the attempt's deadline.
fn check_deadline(deadline: u64, now: u64) -> Result<(), super::LoginError> {
    if now > deadline {
        return Err(super::LoginError::Expired { deadline, now });
    }
    Ok(())
}
