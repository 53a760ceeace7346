//! What `/health` answers: a level and the reasons for it, gathered from the parts that know.
//!
//! - **unhealthy** (HTTP 503): the node cannot take submissions: the network worker or the
//!   sequencer stopped (a failed write says why), the log's disk is below `disk_min_free_mib`
//!   (submissions answered BUSY), or the wall clock reads before the last checkpoint's time (no
//!   checkpoint is signed until it catches up).
//! - **degraded** (HTTP 200): it works, but an operator should look: the disk is below
//!   `disk_warn_free_mib`, or the scrub found a sealed record that fails its check (named; reads
//!   of its range answer "internal" until the data directory is restored).
//! - **ok** (HTTP 200).
//!
//! The body's first line is the level; each reason follows on a line of its own. Each part
//! keeps its own state ([`SequencerStatus`], [`DiskSpace`], [`ScrubStatus`]); this module only
//! reads them, so an answer never waits on storage.

use std::sync::Arc;

use crate::http::Response;
use crate::sequencer::SequencerStatus;
use crate::store::scrub::ScrubStatus;
use crate::store::{DiskSpace, SpaceState};

/// How well the node is, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Cannot take submissions.
    Unhealthy,
    /// Works, with something to look at.
    Degraded,
    /// Nothing to report.
    Ok,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Unhealthy => "unhealthy",
            Level::Degraded => "degraded",
            Level::Ok => "ok",
        }
    }
}

/// A `/health` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The worst level any reason has.
    pub level: Level,
    /// One line per thing wrong.
    pub reasons: Vec<String>,
}

impl Report {
    fn new() -> Self {
        Report {
            level: Level::Ok,
            reasons: Vec::new(),
        }
    }

    fn add(&mut self, level: Level, reason: String) {
        self.level = self.level.min(level);
        self.reasons.push(reason);
    }

    /// The HTTP answer: 503 when unhealthy, 200 otherwise; the level, then the reasons.
    pub fn response(&self) -> Response {
        let mut body = format!("{}\n", self.level.as_str());
        for r in &self.reasons {
            body.push_str(r);
            body.push('\n');
        }
        let status = if self.level == Level::Unhealthy {
            503
        } else {
            200
        };
        Response::text(status, body)
    }
}

/// The parts `/health` asks.
#[derive(Clone, Debug)]
pub struct Health {
    /// The sequencer's failure and clock.
    pub sequencer: SequencerStatus,
    /// The log's disk, if watched.
    pub space: Option<Arc<DiskSpace>>,
    /// The sealed files' scrub, if running.
    pub scrub: Option<ScrubStatus>,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

impl Health {
    /// The report, given whether the network worker and the sequencer still run.
    pub fn report(&self, network_running: bool, sequencer_running: bool) -> Report {
        let mut r = Report::new();
        if !network_running {
            r.add(Level::Unhealthy, "network: the worker stopped".into());
        }
        match self.sequencer.failure() {
            Some(why) => r.add(
                Level::Unhealthy,
                format!("log: {why}; the sequencer stopped (the node exits; restart it)"),
            ),
            None if !sequencer_running => {
                r.add(Level::Unhealthy, "log: the sequencer stopped".into());
            }
            None => {}
        }
        if let Some(ms) = self.sequencer.clock_behind_ms() {
            r.add(
                Level::Unhealthy,
                format!(
                    "clock: the wall clock reads {ms} ms before the last checkpoint's time; no \
                     checkpoint is signed (so no submission acknowledged) until it catches up"
                ),
            );
        }
        if let Some(space) = &self.space {
            let path = space.path().display();
            match space.state() {
                SpaceState::Refusing { free } => r.add(
                    Level::Unhealthy,
                    format!(
                        "disk: {} free on {path}, below disk_min_free_mib ({}): new submissions \
                         are refused (BUSY) until space is freed",
                        mib(free),
                        mib(space.refuse_below())
                    ),
                ),
                SpaceState::Low { free } => r.add(
                    Level::Degraded,
                    format!(
                        "disk: {} free on {path}, below disk_warn_free_mib ({})",
                        mib(free),
                        mib(space.warn_below())
                    ),
                ),
                SpaceState::Ok => {}
            }
        }
        if let Some(scrub) = &self.scrub
            && let Some(bad) = scrub.first_failure()
        {
            r.add(
                Level::Degraded,
                format!(
                    "storage: the scrub found a damaged sealed record: {bad} ({} so far); reads \
                     of its range fail until the data directory is restored",
                    scrub.failures()
                ),
            );
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use std::path::Path;

    #[test]
    fn the_worst_reason_decides_the_level_and_the_status() {
        let health = Health {
            sequencer: SequencerStatus::new(Arc::new(SystemClock), 0),
            space: Some(Arc::new(DiskSpace::new(
                Path::new("/data"),
                1 << 30,
                1 << 20,
            ))),
            scrub: None,
        };
        let ok = health.report(true, true);
        assert_eq!(ok.level, Level::Ok);
        assert_eq!(ok.response().status, 200);
        assert_eq!(&ok.response().body[..], b"ok\n");

        health.space.as_ref().unwrap().record(1 << 25);
        let low = health.report(true, true);
        assert_eq!(low.level, Level::Degraded);
        assert_eq!(low.response().status, 200);
        assert!(low.reasons[0].contains("disk_warn_free_mib"), "{low:?}");

        health.space.as_ref().unwrap().record(1 << 10);
        health
            .sequencer
            .set_failure("writing failed: No space left on device".into());
        let bad = health.report(true, true);
        assert_eq!(bad.level, Level::Unhealthy);
        let text = String::from_utf8(bad.response().body.to_vec()).unwrap();
        assert_eq!(bad.response().status, 503);
        assert!(text.starts_with("unhealthy\n"), "{text}");
        assert!(text.contains("No space left on device"), "{text}");
        assert!(text.contains("disk_min_free_mib"), "{text}");
        assert!(
            health
                .report(false, false)
                .reasons
                .iter()
                .any(|r| r.contains("network"))
        );
    }
}
