//! Failed enrolment attempts: limits per source (the libp2p peer that sent the registration) and
//! per account address, and the metrics of every refusal. Kept in memory only: a refused
//! request changes nothing durable, and a restart forgets the counts.
//!
//! What the limits may and may not do (F4 of the reliability review):
//! - **Nobody's failures block the right code.** Codes have 128 random bits, so guessing is
//!   hopeless and the limits are a second line of defence; an account is never locked. The one
//!   refusal that comes before the code is looked at is the *source's own*: a peer that failed
//!   [`MAX_SOURCE_FAILURES`] times within [`FAILURE_WINDOW`] is refused whatever it sends, for a
//!   back-off that doubles with each time it reaches the limit again ([`source_backoff`], from
//!   [`SOURCE_BACKOFF`] to [`FAILURE_WINDOW`]).
//! - **The answers do not tell accounts apart.** Failures are counted per address whatever the
//!   address is (unknown, pending, active, disabled), so "too many attempts" says nothing about
//!   the account: after [`MAX_ACCOUNT_FAILURES`] wrong codes for one address within the window,
//!   further wrong codes for it are answered "rate limited" with the fixed retry time
//!   [`FAILURE_WINDOW`] instead of "no pending enrolment"; a right code still registers.
//!
//! Each map holds at most [`MAX_TRACKED`] entries; entries whose window and block have ended
//! make room first, and a source or address that finds the map full of live entries is not
//! counted (the limits are bounded memory, not a guarantee under a flood of fresh peer ids).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::metrics::KindLabel;

/// Failed attempts one source may make within [`FAILURE_WINDOW`] before it is refused.
pub const MAX_SOURCE_FAILURES: u32 = 5;
/// Failed attempts for one address within [`FAILURE_WINDOW`] after which wrong codes for it are
/// answered "rate limited".
pub const MAX_ACCOUNT_FAILURES: u32 = 10;
/// The window failures are counted in, and the longest back-off.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// A source's first back-off; each further one doubles, up to [`FAILURE_WINDOW`].
pub const SOURCE_BACKOFF: Duration = Duration::from_secs(60);
/// Most sources, and most addresses, tracked at once.
pub const MAX_TRACKED: usize = 4096;

/// The back-off of a source that reached the limit for the `strikes`-th time in a row.
pub fn source_backoff(strikes: u32) -> Duration {
    ENROLMENT_SOURCE_LIMIT.backoff(strikes)
}

/// A limit on one key's failures (a peer's, an address's): at most `max_failures` within
/// `window`, after which the key is refused for `first_backoff`, doubling each time it reaches
/// the limit again without a quiet window in between, up to `max_backoff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Failures allowed within the window.
    pub max_failures: u32,
    /// The window failures are counted in; a quiet window after a block forgives the strikes.
    pub window: Duration,
    /// The first block.
    pub first_backoff: Duration,
    /// The longest block.
    pub max_backoff: Duration,
}

impl Limit {
    /// The block after the `strikes`-th time in a row the key reached the limit.
    pub fn backoff(&self, strikes: u32) -> Duration {
        let factor = 1u32 << strikes.saturating_sub(1).min(16);
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    fn window_ended(&self, start: u64, now: u64) -> bool {
        now >= start.saturating_add(self.window.as_secs())
    }
}

/// The limit on a registering peer (see the module docs).
pub const ENROLMENT_SOURCE_LIMIT: Limit = Limit {
    max_failures: MAX_SOURCE_FAILURES,
    window: FAILURE_WINDOW,
    first_backoff: SOURCE_BACKOFF,
    max_backoff: FAILURE_WINDOW,
};

#[derive(Clone, Copy, Debug, Default)]
struct StrikeState {
    failures: u32,
    window_start: u64,
    /// Times it reached the limit without a quiet window in between.
    strikes: u32,
    blocked_until: u64,
}

/// Failures per key under one [`Limit`], with exponential back-off; at most [`MAX_TRACKED`]
/// keys (entries whose window and block have ended make room first; a key that finds the map
/// full of live entries is not counted). Times are Unix seconds.
#[derive(Debug)]
pub struct Strikes<K> {
    limit: Limit,
    keys: HashMap<K, StrikeState>,
}

impl<K: Hash + Eq + Clone> Strikes<K> {
    /// No failures yet, under `limit`.
    pub fn new(limit: Limit) -> Self {
        Strikes {
            limit,
            keys: HashMap::new(),
        }
    }

    /// How long `key` must wait, if it is blocked.
    pub fn blocked(&self, key: &K, now: u64) -> Option<Duration> {
        let s = self.keys.get(key)?;
        (now < s.blocked_until).then(|| Duration::from_secs(s.blocked_until - now))
    }

    /// Counts a failure of `key` at `now`; the block it has just earned, if it reached the
    /// limit.
    pub fn record_failure(&mut self, key: &K, now: u64) -> Option<Duration> {
        let limit = self.limit;
        if self.keys.len() >= MAX_TRACKED {
            self.keys
                .retain(|_, s| !limit.window_ended(s.window_start, now) || now < s.blocked_until);
        }
        if self.keys.len() >= MAX_TRACKED && !self.keys.contains_key(key) {
            return None;
        }
        let s = self.keys.entry(key.clone()).or_default();
        if s.strikes > 0 && limit.window_ended(s.blocked_until, now) {
            // A quiet window after the last block: forgiven.
            s.strikes = 0;
        }
        if limit.window_ended(s.window_start, now) {
            s.failures = 0;
            s.window_start = now;
        }
        s.failures = s.failures.saturating_add(1);
        if s.failures < limit.max_failures {
            return None;
        }
        s.strikes = s.strikes.saturating_add(1);
        let backoff = limit.backoff(s.strikes);
        s.blocked_until = now.saturating_add(backoff.as_secs());
        s.failures = 0;
        s.window_start = now;
        Some(backoff)
    }

    /// Forgets `key`'s failures.
    pub fn clear(&mut self, key: &K) {
        self.keys.remove(key);
    }

    /// Keys tracked.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct AddressState {
    failures: u32,
    window_start: u64,
}

/// What recording a failure changed, for the log: each is true only the first time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The source has just been blocked, for this long.
    pub source_blocked: Option<Duration>,
    /// The address has just reached [`MAX_ACCOUNT_FAILURES`].
    pub account_limited: bool,
}

/// The failed attempts of sources (`S`, the peer id in the node) and addresses (see the module
/// docs). Times are Unix seconds.
#[derive(Debug)]
pub struct EnrolmentAttempts<S> {
    sources: Strikes<S>,
    addresses: HashMap<String, AddressState>,
}

impl<S: Hash + Eq + Clone> Default for EnrolmentAttempts<S> {
    fn default() -> Self {
        EnrolmentAttempts {
            sources: Strikes::new(ENROLMENT_SOURCE_LIMIT),
            addresses: HashMap::new(),
        }
    }
}

fn window_ended(start: u64, now: u64) -> bool {
    now >= start.saturating_add(FAILURE_WINDOW.as_secs())
}

impl<S: Hash + Eq + Clone> EnrolmentAttempts<S> {
    /// How long `source` must wait, if it is blocked.
    pub fn source_blocked(&self, source: &S, now: u64) -> Option<Duration> {
        self.sources.blocked(source, now)
    }

    /// Whether wrong codes for `address` are answered "rate limited" now.
    pub fn account_limited(&self, address: &str, now: u64) -> bool {
        self.addresses.get(address).is_some_and(|a| {
            a.failures >= MAX_ACCOUNT_FAILURES && !window_ended(a.window_start, now)
        })
    }

    /// Counts a failed attempt of `source` for `address` at `now`.
    pub fn record_failure(&mut self, source: &S, address: &str, now: u64) -> Recorded {
        let mut recorded = Recorded {
            source_blocked: self.sources.record_failure(source, now),
            account_limited: false,
        };
        if self.addresses.len() >= MAX_TRACKED {
            self.addresses
                .retain(|_, a| !window_ended(a.window_start, now));
        }
        if self.addresses.len() < MAX_TRACKED || self.addresses.contains_key(address) {
            let a = self.addresses.entry(address.to_owned()).or_default();
            if window_ended(a.window_start, now) {
                a.failures = 0;
                a.window_start = now;
            }
            a.failures = a.failures.saturating_add(1);
            recorded.account_limited = a.failures == MAX_ACCOUNT_FAILURES;
        }
        recorded
    }

    /// Forgets `address`'s failures (the operator issued a new code, or it registered).
    pub fn clear_account(&mut self, address: &str) {
        self.addresses.remove(address);
    }

    /// Forgets `source`'s failures (it registered an account with a right code).
    pub fn clear_source(&mut self, source: &S) {
        self.sources.clear(source);
    }

    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        (self.sources.len(), self.addresses.len())
    }
}

/// Enrolment refusals by reason: `wrong_code` (no pending enrolment matches, for any address),
/// `source_limited`, `account_limited`, `expired`, `revoked_key`.
#[derive(Clone, Debug, Default)]
pub struct EnrolmentMetrics {
    /// Refusals, by reason.
    pub refusals: Family<KindLabel, Counter>,
}

impl EnrolmentMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = EnrolmentMetrics::default();
        registry.register(
            "herald_enrolment_refusals",
            "Account registrations refused, by reason",
            m.refusals.clone(),
        );
        m
    }

    /// Counts one refusal for `reason`.
    pub fn refused(&self, reason: &'static str) {
        self.refusals
            .get_or_create(&KindLabel { kind: reason })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: u64 = FAILURE_WINDOW.as_secs();

    /// A source that keeps failing is refused for 1, 2, 4, ... minutes, up to the window; a
    /// quiet window forgives it; another source is never affected.
    #[test]
    fn attack_a_source_that_keeps_failing_is_refused_with_a_growing_back_off() {
        let mut a = EnrolmentAttempts::<u32>::default();
        let mut now = 1000;
        for _ in 0..MAX_SOURCE_FAILURES - 1 {
            assert_eq!(
                a.record_failure(&1, "bob@beta.test", now).source_blocked,
                None
            );
        }
        assert_eq!(a.source_blocked(&1, now), None);
        let mut expected = SOURCE_BACKOFF;
        for strike in 1..=6 {
            let recorded = a.record_failure(&1, "bob@beta.test", now);
            assert_eq!(recorded.source_blocked, Some(expected), "strike {strike}");
            assert_eq!(a.source_blocked(&1, now), Some(expected));
            assert_eq!(a.source_blocked(&2, now), None, "another source");
            // Waited out, it fails again at once: the next block is twice as long.
            now += expected.as_secs();
            assert_eq!(a.source_blocked(&1, now), None);
            for _ in 0..MAX_SOURCE_FAILURES - 1 {
                a.record_failure(&1, "bob@beta.test", now);
            }
            expected = (expected * 2).min(FAILURE_WINDOW);
        }
        assert_eq!(expected, FAILURE_WINDOW, "capped at the window");
        // A quiet window after the last block starts over at the first back-off.
        now += 2 * WINDOW;
        for _ in 0..MAX_SOURCE_FAILURES - 1 {
            a.record_failure(&1, "bob@beta.test", now);
        }
        assert_eq!(
            a.record_failure(&1, "bob@beta.test", now).source_blocked,
            Some(SOURCE_BACKOFF)
        );
    }

    /// Failures are counted per address whatever sends them, and whatever the address is.
    #[test]
    fn an_address_is_limited_after_enough_failures_from_any_sources() {
        let mut a = EnrolmentAttempts::<u32>::default();
        for i in 0..MAX_ACCOUNT_FAILURES {
            assert!(!a.account_limited("nobody@beta.test", 10));
            let recorded = a.record_failure(&i, "nobody@beta.test", 10);
            assert_eq!(recorded.account_limited, i + 1 == MAX_ACCOUNT_FAILURES);
            assert_eq!(recorded.source_blocked, None, "one failure per source");
        }
        assert!(a.account_limited("nobody@beta.test", 10));
        assert!(!a.account_limited("bob@beta.test", 10));
        assert!(!a.account_limited("nobody@beta.test", 10 + WINDOW));
        a.clear_account("nobody@beta.test");
        assert!(!a.account_limited("nobody@beta.test", 10));
    }

    #[test]
    fn tracking_is_bounded_and_ended_windows_make_room() {
        let mut a = EnrolmentAttempts::<usize>::default();
        for i in 0..MAX_TRACKED + 10 {
            a.record_failure(&i, &format!("a{i}@beta.test"), 1);
        }
        assert_eq!(a.tracked(), (MAX_TRACKED, MAX_TRACKED));
        a.record_failure(&usize::MAX, "late@beta.test", 1 + WINDOW);
        assert_eq!(a.tracked(), (1, 1));
    }
}
