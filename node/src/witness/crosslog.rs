//! Cross-logging (DESIGN §2 "Witnessing and gossip"): this gateway appends the cosigned checkpoints of its peers to its
//! own log as `WitnessedCheckpoint` entries, through the sequencer like any entry — the
//! inter-domain notary exchange, and a durable record of what each peer showed this node.
//!
//! A peer's checkpoint counts as cosigned when its note satisfies a [`WitnessPolicy`] over the
//! witnesses this node knows for that log: every other registered peer's witness key and this
//! node's own, with `quorum` (capped at their number). That is the peer's own witness set when
//! the domains register each other, which is what Herald's trust relation asks for.
//!
//! To keep two gateways from ping-ponging (my entry makes a checkpoint you log, which makes one
//! I log, ...), a peer's checkpoint is logged at most once per `crosslog_interval`, and only if
//! it is larger than the last one logged for that peer; the newest one seen in between waits
//! for the interval to end.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use herald_proto::checkpoint::{VerifiedCheckpoint, WitnessPolicy, WitnessVerifier};
use herald_proto::wire::{MAX_LOG_ENTRY_BYTES, pb};
use prost::Message as _;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::clock::Clock;
use crate::metrics::WitnessMetrics;
use crate::peers::{PeerDomain, PeerRegistry};
use crate::sequencer::SequencerHandle;
use crate::watch::CrossLogOffers;

/// Longest time between two looks at the waiting checkpoints.
const MAX_TICK: Duration = Duration::from_secs(1);

/// What the cross-logger needs.
pub struct CrossLogger {
    /// Where entries go.
    pub sequencer: SequencerHandle,
    /// The registry (the witnesses of each peer's log).
    pub peers: PeerRegistry,
    /// This node's witness key (a witness of every peer's log).
    pub own_witness: WitnessVerifier,
    /// The configured quorum.
    pub quorum: usize,
    /// Least time between two entries for one peer.
    pub interval: Duration,
    /// Metrics.
    pub metrics: WitnessMetrics,
    /// Time (`seen_at`, the policy's skew check).
    pub clock: Arc<dyn Clock>,
}

/// What was logged for one peer, and what waits.
#[derive(Default)]
struct PeerLog {
    logged_size: Option<u64>,
    logged_at: Option<Instant>,
    waiting: Option<(VerifiedCheckpoint, u64)>,
}

impl CrossLogger {
    /// Starts the task; it ends when every sender of `offers` is gone.
    pub fn spawn(self, mut offers: CrossLogOffers) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut logs: HashMap<String, PeerLog> = HashMap::new();
            let mut tick = tokio::time::interval(self.interval.min(MAX_TICK));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    offer = offers.recv() => match offer {
                        Some((peer, checkpoint)) => {
                            if self.is_cosigned(&peer, &checkpoint) {
                                let log = logs.entry(peer.domain.clone()).or_default();
                                let newer = log.logged_size.is_none_or(|s| checkpoint.size() > s)
                                    && log
                                        .waiting
                                        .as_ref()
                                        .is_none_or(|(w, _)| checkpoint.size() > w.size());
                                if newer {
                                    let seen_at = self.clock.now_ms() / 1000;
                                    log.waiting = Some((checkpoint, seen_at));
                                }
                                self.flush(&peer.domain, log);
                            }
                        }
                        None => break,
                    },
                    _ = tick.tick() => {
                        for (domain, log) in &mut logs {
                            self.flush(domain, log);
                        }
                    }
                }
            }
        })
    }

    /// Whether the note satisfies the policy of the witnesses known for `peer`'s log.
    fn is_cosigned(&self, peer: &PeerDomain, checkpoint: &VerifiedCheckpoint) -> bool {
        let mut witnesses: Vec<WitnessVerifier> = self
            .peers
            .snapshot()
            .iter()
            .filter(|p| p.domain != peer.domain)
            .map(|p| p.witness_key.clone())
            .collect();
        witnesses.push(self.own_witness.clone());
        let quorum = self.quorum.min(witnesses.len());
        let Ok(policy) = WitnessPolicy::new(peer.log_key().clone(), witnesses, quorum) else {
            return false;
        };
        let Ok(log) = peer.log.clone().with_policy(policy) else {
            return false;
        };
        let now = self.clock.now_ms() / 1000;
        log.verify_cosigned(checkpoint.note().as_bytes(), now)
            .is_ok()
    }

    /// Logs the waiting checkpoint of `domain` if its interval has passed.
    fn flush(&self, domain: &str, log: &mut PeerLog) {
        let now = Instant::now();
        if log.logged_at.is_some_and(|at| now < at + self.interval) {
            return;
        }
        let Some((checkpoint, seen_at)) = log.waiting.take() else {
            return;
        };
        let entry = pb::LogEntry {
            kind: Some(pb::log_entry::Kind::WitnessedCheckpoint(
                pb::WitnessedCheckpoint {
                    origin: checkpoint.origin().to_owned(),
                    checkpoint: checkpoint.note().into_bytes(),
                    seen_at,
                },
            )),
        }
        .encode_to_vec();
        if entry.len() > MAX_LOG_ENTRY_BYTES {
            warn!(domain, "cosigned checkpoint too large to cross-log");
            return;
        }
        log.logged_size = Some(checkpoint.size());
        log.logged_at = Some(now);
        let sequencer = self.sequencer.clone();
        let metrics = self.metrics.clone();
        let domain = domain.to_owned();
        let size = checkpoint.size();
        tokio::spawn(async move {
            match sequencer.submit(entry).await {
                Ok(ack) => {
                    metrics.crosslogged.inc();
                    debug!(
                        domain,
                        size,
                        index = ack.index,
                        "peer checkpoint cross-logged"
                    );
                }
                Err(e) => warn!(domain, size, error = %e, "could not cross-log a peer checkpoint"),
            }
        });
    }
}
