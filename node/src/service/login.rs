//! The gateway's side of the login (PAEP, DESIGN §3.1): the attempts in flight between message 1
//! and message 3, and the limits on failed attempts. The SPAKE2+ steps are proto's
//! (`ServerStart`, `AwaitingConfirm`); this file decides who may start one and keeps the state.
//!
//! - **Every message 1 is one online guess** (the client can test one password against
//!   confirmV), so it counts as a failure for its peer and for its account the moment it is
//!   answered; a login that completes clears both. A wrong password and an unknown account both
//!   end without message 3: the attempt is abandoned, expires after
//!   [`LOGIN_TIMEOUT_SECS`], and is logged then.
//! - **Limits with exponential back-off** ([`Strikes`]): a peer that started
//!   [`PEER_LOGIN_LIMIT`] attempts within the window without completing one, or an address that
//!   drew [`ACCOUNT_LOGIN_LIMIT`] of them from any peers, is refused (`RATE_LIMITED` with the
//!   time to wait) for 1 minute, doubling at each new strike up to 15 minutes. The address limit
//!   applies whatever the address is (unknown, pending, active, disabled), so "rate limited"
//!   says nothing about the account; it does let others delay an account's logins, the price of
//!   bounding online guessing of one password from many peers.
//! - **Bounded state, keyed by peer.** An attempt is kept under (peer, account), at most
//!   [`MAX_ATTEMPTS_PER_PEER`] per peer and [`MAX_LOGIN_ATTEMPTS`] in all, each for at most
//!   [`LOGIN_TIMEOUT_SECS`]; message 3 is taken only from the peer that sent message 1. A new
//!   message 1 of the same peer for the same account replaces the old attempt.
//! - **Unknown accounts** (and accounts without a password, not active, or disabled) meet
//!   proto's `FakeRecords`, keyed by the gateway's login secret (`keys::login_secret`), and the
//!   same code; the fake record is derived for every attempt, real or not, so both paths do the
//!   same work.

use std::collections::HashMap;
use std::time::Duration;

use herald_proto::paep::{
    AwaitingConfirm, FakeRecords, LOGIN_TIMEOUT_SECS, LoggedIn, LoginContext, ServerStart,
};
use herald_proto::wire::pb;
use libp2p::PeerId;
use tracing::warn;

use super::Refusal;
use crate::accounts::LoginRecord;
use crate::accounts::attempts::{FAILURE_WINDOW, Limit, SOURCE_BACKOFF, Strikes};
use crate::metrics::PaepMetrics;

/// Login attempts in flight at once, from all peers.
pub(super) const MAX_LOGIN_ATTEMPTS: usize = 4096;
/// Login attempts in flight at once from one peer (for different accounts).
pub(super) const MAX_ATTEMPTS_PER_PEER: usize = 4;
/// Attempts one peer may start without completing one, within the window.
pub(super) const PEER_LOGIN_LIMIT: Limit = Limit {
    max_failures: 10,
    window: FAILURE_WINDOW,
    first_backoff: SOURCE_BACKOFF,
    max_backoff: FAILURE_WINDOW,
};
/// Attempts one address may draw, from any peers, without one completing, within the window.
pub(super) const ACCOUNT_LOGIN_LIMIT: Limit = Limit {
    max_failures: 5,
    window: FAILURE_WINDOW,
    first_backoff: SOURCE_BACKOFF,
    max_backoff: FAILURE_WINDOW,
};

/// One attempt between message 1 and message 3.
struct Attempt {
    started: u64,
    /// Whether the account has a real record (for the operator's log only).
    known: bool,
    /// Proto's verifier, waiting for confirmP.
    state: AwaitingConfirm,
    /// The account's bound key, for the session (real accounts only).
    identity_key: Option<[u8; 32]>,
}

/// A completed login: proto's result and the account's bound key.
pub(super) struct Completed {
    pub logged_in: LoggedIn,
    pub identity_key: [u8; 32],
}

/// The attempts in flight and the failure counts (memory only: a restart forgets both, and
/// every attempt in flight then fails at message 3).
pub(super) struct Logins {
    fake: FakeRecords,
    domain: String,
    attempts: HashMap<(PeerId, String), Attempt>,
    peers: Strikes<PeerId>,
    accounts: Strikes<String>,
}

impl Logins {
    pub(super) fn new(fake: FakeRecords, domain: &str) -> Self {
        Logins {
            fake,
            domain: domain.to_owned(),
            attempts: HashMap::new(),
            peers: Strikes::new(PEER_LOGIN_LIMIT),
            accounts: Strikes::new(ACCOUNT_LOGIN_LIMIT),
        }
    }

    /// The Argon2id parameters offered for addresses without a real record.
    pub(super) fn fake_params(&self) -> herald_proto::paep::Argon2Params {
        self.fake.params()
    }

    /// Forgets attempts older than [`LOGIN_TIMEOUT_SECS`], logging each (a wrong password, an
    /// unknown account, or a client that gave up).
    fn expire(&mut self, now: u64, metrics: &PaepMetrics) {
        self.attempts.retain(|(peer, account), a| {
            let live = now <= a.started.saturating_add(LOGIN_TIMEOUT_SECS);
            if !live {
                metrics.login("abandoned");
                warn!(%peer, account, known = a.known, "login failed: no confirmation in time (wrong password, unknown account, or the client gave up)");
            }
            live
        });
    }

    /// Whether `peer` may start an attempt for `account` now, before any work is done.
    pub(super) fn admit(
        &mut self,
        peer: &PeerId,
        account: &str,
        now: u64,
        metrics: &PaepMetrics,
    ) -> Result<(), Refusal> {
        self.expire(now, metrics);
        let blocked = self
            .peers
            .blocked(peer, now)
            .into_iter()
            .chain(self.accounts.blocked(&account.to_owned(), now))
            .max();
        if let Some(retry_after) = blocked {
            metrics.login("rate_limited");
            return Err(Refusal::TooManyAttempts { retry_after });
        }
        let own = |p: &PeerId, a: &String| p == peer && a != account;
        let mut others: Vec<u64> = self
            .attempts
            .iter()
            .filter(|((p, a), _)| own(p, a))
            .map(|(_, a)| a.started)
            .collect();
        if others.len() + 1 > MAX_ATTEMPTS_PER_PEER {
            others.sort_unstable();
            let oldest_ends = others[0].saturating_add(LOGIN_TIMEOUT_SECS) + 1;
            metrics.login("rate_limited");
            return Err(Refusal::TooManyAttempts {
                retry_after: Duration::from_secs(oldest_ends.saturating_sub(now)),
            });
        }
        let replacing = self.attempts.contains_key(&(*peer, account.to_owned()));
        if !replacing && self.attempts.len() >= MAX_LOGIN_ATTEMPTS {
            metrics.login("busy");
            return Err(Refusal::Busy {
                retry_after: Duration::from_secs(1),
            });
        }
        Ok(())
    }

    /// Answers message 1 of `peer` with proto's verifier over `record` (or the fake record),
    /// keeps the attempt, and counts it as a failure until it completes. `admit` must have
    /// passed; it is checked again, since the record was read in between.
    pub(super) fn start(
        &mut self,
        peer: PeerId,
        share: &pb::LoginShare,
        record: Option<LoginRecord>,
        now: u64,
        metrics: &PaepMetrics,
    ) -> Result<pb::LoginChallenge, Refusal> {
        let account = share.account.clone();
        self.admit(&peer, &account, now, metrics)?;
        // The fake record is made whatever the account, so both paths do the same work.
        let fake = self.fake.server_start(&account, &self.domain);
        let real = record.and_then(|r| {
            let verifier = r.password.verifier().ok()?.0;
            let start = ServerStart::new(LoginContext::herald(&account, &self.domain), verifier);
            Some((start, r.identity_key))
        });
        let known = real.is_some();
        let (start, identity_key) = match real {
            Some((start, key)) => (start, Some(key)),
            None => (fake, None),
        };
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let (state, challenge) = start.handle(share, now, &mut rng).map_err(|e| {
            // A share that is not a canonical group element, or the identity: the client's own
            // doing, refused like any failed login.
            metrics.login("failed");
            warn!(%peer, account, reason = %e, "login failed: bad share");
            Refusal::LoginFailed
        })?;
        if let Some(old) = self.attempts.remove(&(peer, account.clone())) {
            metrics.login("abandoned");
            warn!(%peer, account, known = old.known, "login failed: replaced by a new attempt before its confirmation");
        }
        if let Some(backoff) = self.peers.record_failure(&peer, now) {
            warn!(%peer, ?backoff, "login: a peer started too many attempts without completing one; refused for a while");
        }
        if let Some(backoff) = self.accounts.record_failure(&account, now) {
            warn!(
                account,
                ?backoff,
                "login: too many attempts for this address without one completing; refused for a while"
            );
        }
        self.attempts.insert(
            (peer, account),
            Attempt {
                started: now,
                known,
                state,
                identity_key,
            },
        );
        metrics.login("started");
        Ok(challenge)
    }

    /// Message 3 of `peer` for `account`: the completed login if confirmP verifies. Any failure
    /// ends the attempt and is logged.
    pub(super) fn finish(
        &mut self,
        peer: PeerId,
        account: &str,
        confirm: &pb::LoginConfirm,
        now: u64,
        metrics: &PaepMetrics,
    ) -> Result<Completed, Refusal> {
        self.expire(now, metrics);
        let Some(attempt) = self.attempts.remove(&(peer, account.to_owned())) else {
            metrics.login("failed");
            warn!(%peer, account, "login failed: a confirmation without an attempt in progress");
            return Err(Refusal::LoginFailed);
        };
        let logged_in = match attempt.state.handle(confirm, now) {
            Ok(done) => done,
            Err(e) => {
                metrics.login("failed");
                warn!(%peer, account, known = attempt.known, reason = %e, "login failed");
                return Err(Refusal::LoginFailed);
            }
        };
        // A fake record's confirmP cannot be computed without its secret: only a real account
        // gets here, but nothing relies on it.
        let Some(identity_key) = attempt.identity_key else {
            metrics.login("failed");
            return Err(Refusal::LoginFailed);
        };
        self.peers.clear(&peer);
        self.accounts.clear(&account.to_owned());
        metrics.login("accepted");
        Ok(Completed {
            logged_in,
            identity_key,
        })
    }

    /// Attempts in flight.
    #[cfg(test)]
    pub(super) fn in_flight(&self) -> usize {
        self.attempts.len()
    }
}

#[cfg(test)]
mod tests {
    use herald_proto::paep::{Argon2Params, AwaitingChallenge, ProverSecrets, Ristretto255Blake3};

    use super::*;
    use crate::accounts::PasswordEntry;

    const BOB: &str = "bob@beta.test";
    const NOW: u64 = 1_800_000_000;

    fn params() -> Argon2Params {
        Argon2Params::new(64, 1, 1).unwrap()
    }

    fn secrets(password: &[u8]) -> ProverSecrets<Ristretto255Blake3> {
        ProverSecrets::derive(password, BOB, "beta.test", params()).unwrap()
    }

    fn record() -> LoginRecord {
        LoginRecord {
            password: PasswordEntry::from_wire(&secrets(b"pw").record().to_pb(params())).unwrap(),
            identity_key: [9; 32],
        }
    }

    fn logins() -> Logins {
        Logins::new(FakeRecords::new([1; 32], params()), "beta.test")
    }

    fn share(
        account: &str,
        password: &[u8],
    ) -> (AwaitingChallenge<Ristretto255Blake3>, pb::LoginShare) {
        let s = ProverSecrets::derive(password, account, "beta.test", params()).unwrap();
        AwaitingChallenge::start(
            LoginContext::herald(account, "beta.test"),
            s,
            NOW,
            &mut rand_core::UnwrapErr(getrandom::SysRng),
        )
    }

    #[test]
    fn a_login_completes_only_from_the_peer_that_started_it() {
        let metrics = PaepMetrics::default();
        let mut l = logins();
        let (peer, other) = (PeerId::random(), PeerId::random());
        let (client, m1) = share(BOB, b"pw");
        let m2 = l.start(peer, &m1, Some(record()), NOW, &metrics).unwrap();
        let (_, m3) = client.handle(&m2, NOW).unwrap();
        assert!(matches!(
            l.finish(other, BOB, &m3, NOW, &metrics),
            Err(Refusal::LoginFailed)
        ));
        let done = l.finish(peer, BOB, &m3, NOW, &metrics).unwrap();
        assert_eq!(done.identity_key, [9; 32]);
        assert_eq!(l.in_flight(), 0);
        // Replayed message 3: the attempt is gone.
        assert!(matches!(
            l.finish(peer, BOB, &m3, NOW, &metrics),
            Err(Refusal::LoginFailed)
        ));
    }

    #[test]
    fn attack_attempts_are_bounded_per_peer_and_expire() {
        let metrics = PaepMetrics::default();
        let mut l = logins();
        let peer = PeerId::random();
        for i in 0..MAX_ATTEMPTS_PER_PEER {
            let (_, m1) = share(&format!("a{i}@beta.test"), b"x");
            l.start(peer, &m1, None, NOW, &metrics).unwrap();
        }
        let (_, m1) = share("late@beta.test", b"x");
        assert!(matches!(
            l.start(peer, &m1, None, NOW, &metrics),
            Err(Refusal::TooManyAttempts { .. })
        ));
        // Another peer is not affected; after the timeout the table is empty again.
        l.start(PeerId::random(), &m1, None, NOW, &metrics).unwrap();
        l.expire(NOW + LOGIN_TIMEOUT_SECS + 1, &metrics);
        assert_eq!(l.in_flight(), 0);
    }

    #[test]
    fn attack_an_address_is_limited_from_any_peers_with_growing_back_off() {
        let metrics = PaepMetrics::default();
        let mut l = logins();
        let (_, m1) = share("ghost@beta.test", b"guess");
        for _ in 0..ACCOUNT_LOGIN_LIMIT.max_failures {
            l.start(PeerId::random(), &m1, None, NOW, &metrics).unwrap();
        }
        match l.start(PeerId::random(), &m1, None, NOW, &metrics) {
            Err(Refusal::TooManyAttempts { retry_after }) => {
                assert_eq!(retry_after, SOURCE_BACKOFF)
            }
            other => panic!("{:?}", other.err()),
        }
        // Another address is not affected.
        let (_, m1) = share(BOB, b"guess");
        l.start(PeerId::random(), &m1, Some(record()), NOW, &metrics)
            .unwrap();
    }
}
