//! A background scrub of the sealed files: every record's check verified again, at a configured
//! pace, so a damaged record is found by the node and not first by a reader (reliability review F9).
//!
//! Why: opening checks only the right edge and the current epoch (O(log n), so restarts stay
//! flat); a corrupt old bundle, tile or bucket was found only when someone read its range
//! (answered "internal", never wrong data), while `/health` said all was well. The scrub walks
//! the records of the published size (bundles, then tiles level by level, then buckets) with
//! the same checked reads a request uses, and reports through [`ScrubStatus`]: the first damaged
//! record named in `/health` (degraded), counts in `/metrics`.
//!
//! Pace: at most `bytes_per_second` read (in steps of a tenth of a second's worth, on a
//! blocking thread), and a pass at most every [`MIN_PASS_INTERVAL`], so a small log is not read
//! in a tight loop. Owned by the gateway, which aborts it at stop.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tracing::{error, info};

use super::LogStore;
use super::error::ReadError;
use super::sealed::{Counts, TILE_LEVELS};

/// Least time between the starts of two passes.
pub const MIN_PASS_INTERVAL: Duration = Duration::from_secs(60);
/// Steps per second of budget: each step reads about this fraction of a second's bytes.
const STEPS_PER_SECOND: u64 = 10;

#[derive(Debug, Default)]
struct Counters {
    records: Counter,
    bytes: Counter,
    failures: Counter,
    passes: Counter,
}

/// What the scrub found (cheap to clone; `/health` reads it).
#[derive(Clone, Debug, Default)]
pub struct ScrubStatus {
    counters: Arc<Counters>,
    first_failure: Arc<Mutex<Option<String>>>,
}

impl ScrubStatus {
    /// Registers its metrics.
    pub fn register(&self, registry: &mut Registry) {
        let c = &self.counters;
        registry.register(
            "herald_scrub_records",
            "Sealed records whose check the scrub verified",
            c.records.clone(),
        );
        registry.register(
            "herald_scrub_bytes",
            "Bytes of sealed records the scrub read",
            c.bytes.clone(),
        );
        registry.register(
            "herald_scrub_failures",
            "Sealed records that failed their check (or could not be read) in the scrub",
            c.failures.clone(),
        );
        registry.register(
            "herald_scrub_passes",
            "Complete passes of the scrub over the sealed files",
            c.passes.clone(),
        );
    }

    /// The first damaged record found, named.
    pub fn first_failure(&self) -> Option<String> {
        self.first_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Failed checks so far.
    pub fn failures(&self) -> u64 {
        self.counters.failures.get()
    }

    /// Records verified so far.
    pub fn records(&self) -> u64 {
        self.counters.records.get()
    }

    fn fail(&self, what: String) {
        self.counters.failures.inc();
        let mut first = self
            .first_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            error!(record = %what, "scrub: a sealed record fails its check");
            *first = Some(what);
        }
    }
}

/// The next record to verify.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// 0: bundles; 1 + L: tiles of level L; 1 + TILE_LEVELS: buckets.
    kind: usize,
    n: u64,
}

const BUCKETS: usize = 1 + TILE_LEVELS;

/// What one step did.
#[derive(Debug, Default)]
pub(crate) struct Step {
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    pub(crate) failures: Vec<String>,
    /// The pass ended: the cursor is back at the first record.
    pub(crate) wrapped: bool,
}

fn named(e: ReadError) -> String {
    match e {
        ReadError::Corrupt { what } => what,
        other => other.to_string(),
    }
}

/// Verifies sealed records from `cursor` until about `budget` bytes are read or the pass ends
/// (at least one record). Blocking.
pub(crate) fn step(store: &LogStore, cursor: &mut Cursor, budget: u64) -> Step {
    let counts = Counts::of(store.head().size);
    let sealed = &store.inner.sealed;
    let mut out = Step::default();
    while out.bytes < budget || out.records == 0 {
        let limit = match cursor.kind {
            0 => counts.bundles,
            BUCKETS => counts.buckets,
            k => counts.tiles[k - 1],
        };
        if cursor.n >= limit {
            if cursor.kind == BUCKETS {
                *cursor = Cursor::default();
                out.wrapped = true;
                return out;
            }
            *cursor = Cursor {
                kind: cursor.kind + 1,
                n: 0,
            };
            continue;
        }
        let n = cursor.n;
        let read = match cursor.kind {
            0 => sealed.bundle(n).map(|b| b.len()),
            // 256 buckets per epoch, numbered by a byte.
            BUCKETS => sealed.bucket(n / 256, (n % 256) as u8).map(|b| b.len()),
            k => sealed.tile_on_disk((k - 1) as u8, n).map(|t| t.len()),
        };
        match read {
            Ok(len) => out.bytes += len as u64,
            Err(e) => out.failures.push(named(e)),
        }
        out.records += 1;
        cursor.n += 1;
    }
    out
}

/// Starts the scrub of `store` at `bytes_per_second` (0: not at all), reporting to `status`.
pub fn spawn(store: LogStore, bytes_per_second: u64, status: ScrubStatus) -> JoinHandle<()> {
    tokio::spawn(async move {
        if bytes_per_second == 0 {
            return;
        }
        info!(bytes_per_second, "scrub of the sealed files started");
        let budget = (bytes_per_second / STEPS_PER_SECOND).max(1);
        let mut cursor = Cursor::default();
        let mut pass_started = tokio::time::Instant::now();
        loop {
            let s = store.clone();
            let stepped = tokio::task::spawn_blocking(move || {
                let done = step(&s, &mut cursor, budget);
                (cursor, done)
            })
            .await;
            let Ok((next, done)) = stepped else {
                error!("scrub step panicked; the scrub stops");
                return;
            };
            cursor = next;
            status.counters.records.inc_by(done.records);
            status.counters.bytes.inc_by(done.bytes);
            for what in done.failures {
                status.fail(what);
            }
            // Spend the bytes read at the configured rate.
            let secs = done.bytes as f64 / bytes_per_second as f64;
            tokio::time::sleep(Duration::from_secs_f64(secs.min(60.0))).await;
            if done.wrapped {
                status.counters.passes.inc();
                tokio::time::sleep_until(pass_started + MIN_PASS_INTERVAL).await;
                pass_started = tokio::time::Instant::now();
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::SEALED_DIR;
    use crate::store::{LogHead, RoundWriter};
    use herald_proto::merkle::{HashAlgorithm, LogHasher};

    fn fill(store: &LogStore, n: u64) {
        let mut app = store.appender().unwrap();
        let mut round = app.round();
        let h = store.hasher();
        let mut leaves = Vec::new();
        for i in 0..n {
            let e = vec![(i % 251) as u8; 100];
            let leaf = h.hash_leaf(&e);
            round.append(&e, leaf);
            leaves.push(leaf);
        }
        let head = LogHead {
            size: round.size(),
            root: round.root(),
            checkpoint: b"placeholder".to_vec(),
            time_ms: 1,
        };
        store.apply(round.finish(&head)).unwrap();
        RoundWriter::flush(store).unwrap();
        store.publish(head, &leaves);
    }

    #[test]
    fn a_pass_verifies_every_sealed_record_and_names_a_damaged_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::create(dir.path(), "t.test/herald", HashAlgorithm::Blake3).unwrap();
        fill(&store, 70_000);
        let counts = Counts::of(70_000);
        let all = counts.bundles + counts.tiles.iter().sum::<u64>() + counts.buckets;
        let mut cursor = Cursor::default();
        let mut total = Step::default();
        while !total.wrapped {
            let s = step(&store, &mut cursor, 100_000);
            total.records += s.records;
            total.failures.extend(s.failures);
            total.wrapped = s.wrapped;
        }
        assert_eq!(total.records, all);
        assert!(total.failures.is_empty(), "{:?}", total.failures);

        // Bundle 100 starts at 100 · 256 · 102 bytes: flip a byte inside it.
        let path = dir.path().join(SEALED_DIR).join("bundles");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[100 * 256 * 102 + 7] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let mut failures = Vec::new();
        loop {
            let s = step(&store, &mut cursor, 1 << 20);
            failures.extend(s.failures);
            if s.wrapped {
                break;
            }
        }
        assert_eq!(failures, vec!["sealed bundles record 100 fails its check"]);
        let status = ScrubStatus::default();
        for f in failures {
            status.fail(f);
        }
        assert_eq!(status.failures(), 1);
        assert_eq!(
            status.first_failure().as_deref(),
            Some("sealed bundles record 100 fails its check")
        );
    }
}
