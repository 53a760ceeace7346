//! Free space on the file system that holds the log, watched so that a disk filling up is seen
//! (and submissions refused) before a write fails with ENOSPC.
//!
//! Why: a round that fails to write stops the sequencer for good (sled's state after a failed
//! write is unknown; the node exits and a restart recovers the last durable round), and on a
//! full disk even the restart may fail. Refusing new submissions with a typed BUSY while there
//! is still room keeps the node up, serving reads and saying why, and it takes submissions again
//! by itself once space is freed (reliability review F1).
//!
//! Two thresholds, in bytes available to the node's user (`statvfs` `f_bavail`): below `warn`
//! `/health` reports the node degraded; below `refuse` the sequencer answers every new
//! submission BUSY and `/health` reports it unhealthy. [`DiskSpace::check`] measures (one
//! `statvfs` call): the sequencer calls it before every round, the gateway every second; the
//! verdict in between is cached for the submission path. A threshold of 0 turns that level off.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing::{error, info, warn};

/// How full the log's file system is, as of the last check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpaceState {
    /// Above both thresholds (or never measured).
    Ok,
    /// Below the warning threshold: still taking submissions.
    Low {
        /// Bytes available.
        free: u64,
    },
    /// Below the refusal threshold: new submissions are answered BUSY.
    Refusing {
        /// Bytes available.
        free: u64,
    },
}

const OK: u8 = 0;
const LOW: u8 = 1;
const REFUSING: u8 = 2;

/// The watched file system (cheap to share behind an `Arc`).
#[derive(Debug)]
pub struct DiskSpace {
    path: PathBuf,
    warn_below: u64,
    refuse_below: u64,
    free: AtomicU64,
    state: AtomicU8,
    free_gauge: Gauge,
    state_gauge: Gauge,
    refused: Counter,
}

impl DiskSpace {
    /// Watches the file system of `path` with these thresholds (bytes; 0 turns one off).
    pub fn new(path: &Path, warn_below: u64, refuse_below: u64) -> Self {
        DiskSpace {
            path: path.to_owned(),
            warn_below,
            refuse_below,
            free: AtomicU64::new(u64::MAX),
            state: AtomicU8::new(OK),
            free_gauge: Gauge::default(),
            state_gauge: Gauge::default(),
            refused: Counter::default(),
        }
    }

    /// Registers its metrics.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "herald_disk_free_bytes",
            "Bytes available on the file system of the log, at the last check",
            self.free_gauge.clone(),
        );
        registry.register(
            "herald_disk_space_state",
            "0: enough free space; 1: below disk_warn_free_mib; 2: below disk_min_free_mib, submissions refused",
            self.state_gauge.clone(),
        );
        registry.register(
            "herald_log_refused_low_disk",
            "Submissions answered BUSY because the log's disk is nearly full",
            self.refused.clone(),
        );
    }

    /// The watched path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The refusal threshold in bytes (0: never refuses).
    pub fn refuse_below(&self) -> u64 {
        self.refuse_below
    }

    /// The warning threshold in bytes (0: never warns).
    pub fn warn_below(&self) -> u64 {
        self.warn_below
    }

    /// Measures the free space now, updates the verdict and the metrics, and logs a change of
    /// verdict. A failed measurement keeps the previous verdict (logged). Blocking (`statvfs`).
    pub fn check(&self) -> SpaceState {
        match free_bytes(&self.path) {
            Ok(free) => self.record(free),
            Err(e) => {
                error!(path = %self.path.display(), error = %e, "cannot measure free disk space");
                self.state()
            }
        }
    }

    /// Records a measurement of `free` bytes (what [`check`](Self::check) does with `statvfs`).
    pub fn record(&self, free: u64) -> SpaceState {
        let state = if free < self.refuse_below {
            REFUSING
        } else if free < self.warn_below {
            LOW
        } else {
            OK
        };
        self.free.store(free, Ordering::Release);
        let before = self.state.swap(state, Ordering::AcqRel);
        self.free_gauge.set(i64::try_from(free).unwrap_or(i64::MAX));
        self.state_gauge.set(i64::from(state));
        if before != state {
            let path = self.path.display();
            match state {
                REFUSING => error!(
                    %path, free_bytes = free, min_free_bytes = self.refuse_below,
                    "disk nearly full: refusing new submissions (BUSY) until space is freed"
                ),
                LOW => warn!(
                    %path, free_bytes = free, warn_free_bytes = self.warn_below,
                    "disk space low"
                ),
                _ => info!(%path, free_bytes = free, "disk space back above the thresholds"),
            }
        }
        self.state()
    }

    /// The verdict of the last check.
    pub fn state(&self) -> SpaceState {
        let free = self.free.load(Ordering::Acquire);
        match self.state.load(Ordering::Acquire) {
            REFUSING => SpaceState::Refusing { free },
            LOW => SpaceState::Low { free },
            _ => SpaceState::Ok,
        }
    }

    /// Whether new submissions are refused; counts one refusal if so.
    pub fn refuses(&self) -> bool {
        let refusing = self.state.load(Ordering::Acquire) == REFUSING;
        if refusing {
            self.refused.inc();
        }
        refusing
    }

    /// Counts `n` submissions refused after they were queued (a batch the sequencer took just
    /// as the disk crossed the threshold).
    pub fn count_refused(&self, n: usize) {
        self.refused.inc_by(n as u64);
    }
}

/// Bytes available to this user on the file system of `path`.
// `fsblkcnt_t` and `c_ulong` are u64 here but not on every target.
#[allow(clippy::useless_conversion)]
fn free_bytes(path: &Path) -> nix::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(path)?;
    Ok(u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_give_the_verdict_and_a_real_check_measures() {
        let space = DiskSpace::new(Path::new("/"), 100, 10);
        assert_eq!(space.state(), SpaceState::Ok);
        assert_eq!(space.record(50), SpaceState::Low { free: 50 });
        assert!(!space.refuses());
        assert_eq!(space.record(9), SpaceState::Refusing { free: 9 });
        assert!(space.refuses());
        assert_eq!(space.refused.get(), 1);
        assert_eq!(space.record(1_000), SpaceState::Ok);
        assert!(!space.refuses());
        // Thresholds of 0 never warn nor refuse; a real file system has some free bytes.
        let off = DiskSpace::new(Path::new("/"), 0, 0);
        assert_eq!(off.record(0), SpaceState::Ok);
        assert_eq!(off.check(), SpaceState::Ok);
        assert!(off.free.load(Ordering::Acquire) > 0);
    }
}
