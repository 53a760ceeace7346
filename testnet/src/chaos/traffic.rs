//! Client traffic while the faults happen: notarizations submitted through the light client's
//! gateway connection (as `load.rs` and the benches do), and a watcher per log that follows its
//! checkpoints, plain and cosigned. Certified mail is in [`super::letters`], mail in
//! `super::mail`.
//!
//! Client tasks never touch the [`Testnet`] (the conductor owns it and kills and restarts its
//! nodes): each gets a [`LogTarget`], the address and keys of one log taken before the run, and
//! keeps one connection, which the light client redials when the node comes back on the same
//! ports. Every answer is checked as it arrives — the leaf hash and index of an ack, the log's
//! signature on every checkpoint, the witness policy on every cosigned one — and recorded in the
//! [`Ledger`]; failures (the node is down, busy, cut off) are counted by kind, never retried
//! without a pause.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use herald_light_client::{
    ClientConfig, ClientError, Gateway as _, GatewayClient, MemoryCheckpointStore, TrustedLog,
};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::{AnyHasher, HashAlgorithm, LogHasher as _};
use libp2p::Multiaddr;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::ledger::{Ack, Check, Ledger};
use crate::error::TestnetError;
use crate::load::{Schedule, notarization_entry};
use crate::party::{CLOCK_SKEW_SECS, unix_now};
use crate::testnet::Testnet;

/// The kinds of client traffic a chaos run drives while faults happen.
///
/// Each runs as tasks in the run's `JoinSet`, reports to the `Ledger` and ends when the
/// `Stop` signal is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Notarizations submitted to every log, and a watcher per log.
    Submissions,
    /// Certified mail from an account of each domain to one of the next domain.
    CertifiedMail,
    /// Mail (relayed between gateways, read from a mailbox) from an account of each domain to
    /// one of the next domain (`mail.rs`), checked by [`Check::Mail`].
    Mail,
}

/// Bounds of the client connections: short, so that a dead node costs a client little.
pub(super) fn client_config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

/// How a client reaches one log and what it trusts of it.
#[derive(Clone, Debug)]
pub(super) struct LogTarget {
    /// The node's index.
    pub index: usize,
    /// The domain, `dN.test`.
    pub domain: String,
    /// The node's TCP address with `/p2p/<peer id>`.
    pub addr: Multiaddr,
    /// The node's HTTP listener.
    pub http: SocketAddr,
    /// The log's key, hash, and witness policy (every other domain's witness, the quorum);
    /// cosignatures count up to the testnet's clock skew ahead.
    pub trust: LogTrust,
}

impl LogTarget {
    /// Every node's target, in node order.
    pub(super) fn all(net: &Testnet) -> Result<Vec<LogTarget>, TestnetError> {
        (0..net.len())
            .map(|i| {
                let node = net.node(i);
                Ok(LogTarget {
                    index: i,
                    domain: node.domain().to_owned(),
                    addr: node.multiaddr(),
                    http: node.http_addr(),
                    trust: net.log_trust(i)?.with_max_skew(CLOCK_SKEW_SECS),
                })
            })
            .collect()
    }

    /// The log's hash algorithm.
    pub(super) fn hash(&self) -> HashAlgorithm {
        self.trust.algorithm()
    }

    /// A new light-client connection (bounded by [`client_config`]).
    pub(super) async fn connect(&self) -> Result<GatewayClient, ClientError> {
        GatewayClient::connect_with(&self.addr, &client_config()).await
    }

    /// Connects, trying again every 250 ms until it works or `stop` is given; `None` then.
    pub(super) async fn connect_until(&self, stop: &mut Stop) -> Option<GatewayClient> {
        loop {
            if let Ok(client) = self.connect().await {
                return Some(client);
            }
            if stop.sleep(Duration::from_millis(250)).await {
                return None;
            }
        }
    }
}

/// The run's stop signal as a client task sees it.
#[derive(Clone, Debug)]
pub(super) struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A signal and the sender that gives it.
    pub(super) fn new() -> (watch::Sender<bool>, Stop) {
        let (tx, rx) = watch::channel(false);
        (tx, Stop(rx))
    }

    /// Whether it was given.
    pub(super) fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the signal is given.
    pub(super) async fn given(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Sleeps `d`, or less if the signal comes first; whether it was given.
    pub(super) async fn sleep(&mut self, d: Duration) -> bool {
        if self.is_set() {
            return true;
        }
        let _ = tokio::time::timeout(d, self.0.wait_for(|stop| *stop)).await;
        self.is_set()
    }
}

/// What every client task of a run shares.
#[derive(Clone, Debug)]
pub(super) struct Context {
    /// The logs.
    pub targets: Arc<Vec<LogTarget>>,
    /// The record.
    pub ledger: Arc<Ledger>,
    /// The stop signal.
    pub stop: Stop,
    /// When the run's clock started (times in the record are ms since then).
    pub started: Instant,
    /// The run's seed (each task derives its own generator from it).
    pub seed: u64,
    /// The equivocating log, whose checkpoints are allowed to disagree.
    pub equivocator: Option<usize>,
}

impl Context {
    /// Milliseconds since the run started.
    pub(super) fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Starts `per_log` submitters on every log and a watcher per log.
pub(super) fn start_submissions(ctx: &Context, per_log: usize, tasks: &mut JoinSet<()>) {
    for target in ctx.targets.iter() {
        for k in 0..per_log {
            let seed = ctx.seed ^ ((target.index as u64) << 32) ^ k as u64;
            tasks.spawn(submitter(ctx.clone(), target.clone(), seed));
        }
        tasks.spawn(watcher(ctx.clone(), target.clone()));
    }
}

/// One submitter: fresh notarizations of 200–700 bytes, one at a time, with a short random
/// pause between them.
async fn submitter(ctx: Context, target: LogTarget, seed: u64) {
    let mut stop = ctx.stop.clone();
    let mut rng = Schedule::new(seed);
    let author = SigningKey::from_bytes(blake3::hash(&seed.to_le_bytes()).as_bytes());
    let hasher = AnyHasher(target.hash());
    let Some(client) = target.connect_until(&mut stop).await else {
        return;
    };
    while !stop.is_set() {
        let tag = ctx.ledger.next_tag();
        // A few sizes cannot be built exactly (where the label's length prefix grows): the
        // next one up can.
        let len = rng.range(200, 700) as usize;
        let Some(entry) = (len..len + 4).find_map(|l| notarization_entry(&author, tag, l).ok())
        else {
            ctx.ledger.failure(target.index, "entry could not be built");
            continue;
        };
        let leaf_hash = hasher.hash_leaf(&entry);
        ctx.ledger.submitted(target.index);
        match client.submit(entry).await {
            Ok(ack) => check_ack(&ctx, &target, leaf_hash, ack),
            Err(e) => {
                if e.is_peer_misbehaviour() {
                    ctx.ledger.violation(
                        Check::Acks,
                        format!("{} answered a submission wrongly: {e}", target.domain),
                    );
                }
                ctx.ledger.failure(target.index, &failure_kind(&e));
                if stop.sleep(Duration::from_millis(rng.range(100, 300))).await {
                    break;
                }
            }
        }
        if stop.sleep(Duration::from_millis(rng.range(0, 40))).await {
            break;
        }
    }
}

/// Checks an ack as it arrives (the leaf hash is the entry's, the checkpoint is the log's and
/// covers the index) and records it.
fn check_ack(
    ctx: &Context,
    target: &LogTarget,
    leaf_hash: [u8; 32],
    ack: herald_proto::wire::pb::SubmitAck,
) {
    let note = ack.checkpoint.map(|c| c.note).unwrap_or_default();
    let checkpoint = match target.trust.verify_checkpoint(&note) {
        Ok(c) => c,
        Err(e) => {
            ctx.ledger.violation(
                Check::Acks,
                format!(
                    "{}: ack for index {} carries a checkpoint that does not verify: {e}",
                    target.domain, ack.index
                ),
            );
            return;
        }
    };
    if ack.leaf_hash != leaf_hash || ack.index >= checkpoint.size() {
        ctx.ledger.violation(
            Check::Acks,
            format!(
                "{}: ack names leaf {} at index {} of a tree of {}; the entry sent is leaf {}",
                target.domain,
                hex::encode(&ack.leaf_hash),
                ack.index,
                checkpoint.size(),
                hex::encode(leaf_hash)
            ),
        );
        return;
    }
    let record = Ack {
        index: ack.index,
        leaf_hash,
        tree_size: checkpoint.size(),
    };
    ctx.ledger
        .ack(target.index, record, &checkpoint, ctx.now_ms());
}

/// One watcher: every ~300 ms the log's latest checkpoint, followed as a light client follows a
/// log ([`TrustedLog`]: signed by the log's key, and moved to only as proto's succession rule
/// allows, with the node's consistency proof — a smaller tree, another root at one size or a
/// proof that fails is refused), and its latest cosigned checkpoint (verified under its witness
/// policy).
async fn watcher(ctx: Context, target: LogTarget) {
    let mut stop = ctx.stop.clone();
    let mut rng = Schedule::new(ctx.seed ^ 0x5741_5443_4845_5200 ^ target.index as u64);
    let honest = ctx.equivocator != Some(target.index);
    let Some(client) = target.connect_until(&mut stop).await else {
        return;
    };
    let plain = LogTrust::unwitnessed(target.trust.log().clone(), target.trust.algorithm());
    let followed = TrustedLog::open(&client, plain, MemoryCheckpointStore::default());
    let mut followed = match followed {
        Ok(log) => log,
        Err(e) => {
            ctx.ledger.violation(
                Check::Checkpoints,
                format!("{}: its log could not be followed: {e}", target.domain),
            );
            return;
        }
    };
    while !stop.is_set() {
        match followed.refresh().await {
            Ok(update) => ctx.ledger.seen(target.index, &update.checkpoint, "watcher"),
            // The equivocating log's fork is refused here as it should be; the audit checks
            // that every honest domain proved it.
            Err(e) if honest && e.is_peer_misbehaviour() => ctx.ledger.violation(
                Check::Checkpoints,
                format!(
                    "{} served a checkpoint a light client refuses (it trusted size {}): {e}",
                    target.domain,
                    followed.trusted().map_or(0, VerifiedCheckpoint::size)
                ),
            ),
            Err(_) => {}
        }
        if let Ok(signed) = client.cosigned_checkpoint().await {
            match target.trust.verify_cosigned(&signed.note, unix_now()) {
                Ok(c) => ctx.ledger.cosigned(target.index, c.checkpoint()),
                Err(e) if honest => ctx.ledger.violation(
                    Check::Checkpoints,
                    format!(
                        "{} served a cosigned checkpoint its witness policy refuses: {e}",
                        target.domain
                    ),
                ),
                Err(_) => {}
            }
        }
        if stop.sleep(Duration::from_millis(rng.range(200, 400))).await {
            break;
        }
    }
}

/// A failure's kind, as counted in the report.
pub(super) fn failure_kind(e: &ClientError) -> String {
    match e {
        ClientError::Refused(r) => format!("refused {:?}", r.kind).to_lowercase(),
        ClientError::Timeout { .. } => "timeout".into(),
        ClientError::Transport { .. } => "transport".into(),
        e if e.is_peer_misbehaviour() => "misbehaviour".into(),
        _ => "other".into(),
    }
}

#[cfg(test)]
mod tests {
    use herald_light_client::GatewayRefusal;
    use herald_proto::wire::pb::ClientErrorKind;

    use super::*;

    #[test]
    fn failures_are_counted_by_kind() {
        let busy = ClientError::Refused(GatewayRefusal {
            kind: ClientErrorKind::Busy,
            message: String::new(),
            retry_after: None,
            tree_size: None,
        });
        assert_eq!(failure_kind(&busy), "refused busy");
        let timeout = ClientError::Timeout {
            after: Duration::from_secs(1),
        };
        assert_eq!(failure_kind(&timeout), "timeout");
    }

    #[tokio::test]
    async fn the_stop_signal_cuts_a_sleep_short() {
        let (tx, mut stop) = Stop::new();
        assert!(!stop.sleep(Duration::from_millis(1)).await);
        let started = Instant::now();
        let sleeper = tokio::spawn(async move { stop.sleep(Duration::from_secs(30)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.send_replace(true);
        assert!(sleeper.await.unwrap());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
