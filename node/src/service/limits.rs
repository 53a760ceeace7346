//! Per-peer submission limits (reliability review F8, DESIGN §4 "per-peer rate limits").
//!
//! Anyone who can reach the gateway may submit notarizations to a log that is never pruned, so
//! each client peer (libp2p peer id) gets two token buckets from the configuration: entries and
//! bytes, each refilled at its sustained rate up to its burst. A submission (one entry or a
//! batch) takes its count and bytes from both, or is refused `RATE_LIMITED` with the time after
//! which the buckets will hold enough; nothing is taken then. A batch larger than a burst is
//! charged the burst, so no batch the protocol allows is refused for good. The sequencer's pool
//! still bounds every peer together (`BUSY`).
//!
//! A peer id costs nothing to make, so these limits slow one client, not a crowd; the pool and
//! the connection bounds are what hold against many. The table of buckets is bounded: when it is
//! full, buckets that have refilled (their peer is idle) are dropped; if none has, a new peer is
//! told to retry after a second.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use crate::config::NodeConfig;

/// Most peers with a bucket at once.
const MAX_TRACKED_PEERS: usize = 16_384;

/// What a peer is told to wait when the table is full of busy peers.
const TABLE_FULL_RETRY: Duration = Duration::from_secs(1);

/// A sustained rate and a burst; a rate of 0 means no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Units per second, sustained; 0: no limit.
    pub per_sec: u64,
    /// Units at once above the rate (at least 1).
    pub burst: u64,
}

impl Rate {
    fn unlimited(self) -> bool {
        self.per_sec == 0
    }
}

/// The two limits every client peer has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmitLimits {
    /// Entries.
    pub entries: Rate,
    /// Bytes of entries.
    pub bytes: Rate,
}

impl SubmitLimits {
    /// The limits `config` sets.
    pub fn from_config(config: &NodeConfig) -> Self {
        SubmitLimits {
            entries: Rate {
                per_sec: config.peer_submit_rate,
                burst: config.peer_submit_burst.max(1),
            },
            bytes: Rate {
                per_sec: config.peer_submit_bytes_rate,
                burst: config.peer_submit_bytes_burst.max(1),
            },
        }
    }
}

/// One dimension's tokens.
#[derive(Clone, Copy, Debug)]
struct Tokens(f64);

impl Tokens {
    /// The tokens after `elapsed` of refill at `rate`.
    fn refilled(self, rate: Rate, elapsed: Duration) -> f64 {
        (self.0 + rate.per_sec as f64 * elapsed.as_secs_f64()).min(rate.burst as f64)
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    entries: Tokens,
    bytes: Tokens,
    at: Instant,
}

/// How long until `have` tokens refilled at `rate` reach `cost`.
fn wait(rate: Rate, have: f64, cost: f64) -> Duration {
    if have >= cost || rate.unlimited() {
        return Duration::ZERO;
    }
    Duration::from_secs_f64((cost - have) / rate.per_sec as f64)
}

/// The buckets of every client peer (see the module docs). Keyed by peer id for submissions;
/// the mail policy (`crate::policy`) keys the same buckets by account and by peer domain.
#[derive(Debug)]
pub struct SubmitLimiter<K = PeerId> {
    limits: SubmitLimits,
    buckets: Mutex<HashMap<K, Bucket>>,
    refused: Counter,
}

impl SubmitLimiter {
    /// A limiter with `limits`, counting its refusals in `registry`.
    pub fn new(limits: SubmitLimits, registry: &mut Registry) -> Self {
        let refused = Counter::default();
        registry.register(
            "herald_submit_rate_limited",
            "Client submissions refused by the per-peer rate limits",
            refused.clone(),
        );
        Self::with_counter(limits, refused)
    }
}

impl<K: Eq + Hash> SubmitLimiter<K> {
    /// A limiter with `limits` that counts its refusals in `refused` (registered by the caller,
    /// or nowhere).
    pub fn with_counter(limits: SubmitLimits, refused: Counter) -> Self {
        SubmitLimiter {
            limits,
            buckets: Mutex::new(HashMap::new()),
            refused,
        }
    }

    /// Takes `entries` and `bytes` from `peer`'s buckets at `now`, or says how long to wait
    /// (nothing taken then).
    pub fn take(&self, peer: K, entries: u64, bytes: u64, now: Instant) -> Result<(), Duration> {
        let SubmitLimits {
            entries: entry_rate,
            bytes: byte_rate,
        } = self.limits;
        if entry_rate.unlimited() && byte_rate.unlimited() {
            return Ok(());
        }
        let entry_cost = entries.min(entry_rate.burst) as f64;
        let byte_cost = bytes.min(byte_rate.burst) as f64;
        // A map of buckets: a panic elsewhere leaves it usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !buckets.contains_key(&peer) && buckets.len() >= MAX_TRACKED_PEERS {
            let limits = self.limits;
            buckets.retain(|_, b| !is_full(b, limits, now));
            if buckets.len() >= MAX_TRACKED_PEERS {
                self.refused.inc();
                return Err(TABLE_FULL_RETRY);
            }
        }
        let bucket = buckets.entry(peer).or_insert(Bucket {
            entries: Tokens(entry_rate.burst as f64),
            bytes: Tokens(byte_rate.burst as f64),
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at);
        let have_entries = bucket.entries.refilled(entry_rate, elapsed);
        let have_bytes = bucket.bytes.refilled(byte_rate, elapsed);
        let entries_ok = entry_rate.unlimited() || have_entries >= entry_cost;
        let bytes_ok = byte_rate.unlimited() || have_bytes >= byte_cost;
        if !(entries_ok && bytes_ok) {
            self.refused.inc();
            let after = wait(entry_rate, have_entries, entry_cost)
                .max(wait(byte_rate, have_bytes, byte_cost));
            // Whole milliseconds, at least one: "retry after 0" would be a busy loop.
            return Err(after.max(Duration::from_millis(1)));
        }
        bucket.entries = Tokens(have_entries - entry_cost);
        bucket.bytes = Tokens(have_bytes - byte_cost);
        bucket.at = now;
        Ok(())
    }

    /// Peers with a bucket (for tests and `/metrics` readers).
    pub fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// Whether a bucket has refilled completely by `now` (its peer could start afresh).
fn is_full(b: &Bucket, limits: SubmitLimits, now: Instant) -> bool {
    let elapsed = now.saturating_duration_since(b.at);
    (limits.entries.unlimited()
        || b.entries.refilled(limits.entries, elapsed) >= limits.entries.burst as f64)
        && (limits.bytes.unlimited()
            || b.bytes.refilled(limits.bytes, elapsed) >= limits.bytes.burst as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(entries: Rate, bytes: Rate) -> SubmitLimiter {
        SubmitLimiter::new(SubmitLimits { entries, bytes }, &mut Registry::default())
    }

    const OPEN: Rate = Rate {
        per_sec: 0,
        burst: 1,
    };

    #[test]
    fn a_peer_gets_its_burst_then_its_rate() {
        let l = limiter(
            Rate {
                per_sec: 10,
                burst: 20,
            },
            OPEN,
        );
        let peer = PeerId::random();
        let t0 = Instant::now();
        assert_eq!(l.take(peer, 20, 0, t0), Ok(()));
        // Empty: one more entry needs a tenth of a second.
        let wait = l.take(peer, 1, 0, t0).unwrap_err();
        assert!(wait >= Duration::from_millis(99) && wait <= Duration::from_millis(101));
        // Refused takes nothing: after half a second, 5 are there.
        let t1 = t0 + Duration::from_millis(500);
        assert!(l.take(peer, 6, 0, t1).is_err());
        assert_eq!(l.take(peer, 5, 0, t1), Ok(()));
        // Another peer has its own bucket.
        assert_eq!(l.take(PeerId::random(), 20, 0, t1), Ok(()));
    }

    #[test]
    fn bytes_are_limited_apart_from_entries() {
        let l = limiter(
            OPEN,
            Rate {
                per_sec: 1000,
                burst: 4000,
            },
        );
        let peer = PeerId::random();
        let t0 = Instant::now();
        assert_eq!(l.take(peer, 1, 3000, t0), Ok(()));
        let wait = l.take(peer, 1, 2000, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
    }

    #[test]
    fn a_batch_larger_than_the_burst_is_charged_the_burst() {
        let l = limiter(
            Rate {
                per_sec: 100,
                burst: 50,
            },
            OPEN,
        );
        let peer = PeerId::random();
        let t0 = Instant::now();
        assert_eq!(l.take(peer, 4096, 0, t0), Ok(()));
        assert!(l.take(peer, 4096, 0, t0).is_err());
        assert_eq!(
            l.take(peer, 4096, 0, t0 + Duration::from_millis(500)),
            Ok(())
        );
    }

    #[test]
    fn no_limit_takes_nothing_and_tracks_nobody() {
        let l = limiter(OPEN, OPEN);
        assert_eq!(
            l.take(PeerId::random(), u64::MAX, u64::MAX, Instant::now()),
            Ok(())
        );
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn attack_many_peer_ids_cannot_grow_the_table_without_bound() {
        let l = limiter(
            Rate {
                per_sec: 1,
                burst: 10,
            },
            OPEN,
        );
        let t0 = Instant::now();
        for _ in 0..MAX_TRACKED_PEERS {
            assert_eq!(l.take(PeerId::random(), 10, 0, t0), Ok(()));
        }
        // Every bucket is in debt: a new peer waits, and the table stays at its bound.
        assert_eq!(l.take(PeerId::random(), 1, 0, t0), Err(TABLE_FULL_RETRY));
        assert_eq!(l.tracked(), MAX_TRACKED_PEERS);
        // Once they have refilled, idle peers make room.
        let later = t0 + Duration::from_secs(11);
        assert_eq!(l.take(PeerId::random(), 1, 0, later), Ok(()));
        assert_eq!(l.tracked(), 1);
    }
}
