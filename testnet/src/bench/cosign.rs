//! `bench cosign`: time from a checkpoint's publication to its quorum cosignature, across N
//! local domains (DESIGN §6; target: p50 < 300 ms, p99 < 1 s on loopback).
//!
//! A testnet of `--domains` nodes, each registered with every other, quorum `--quorum`. Every
//! log receives a fresh entry every `--submit-every-ms`, so it keeps signing checkpoints. A
//! plain gossipsub subscriber ([`GossipObserver`]) watches `herald/checkpoints/1`, where a log
//! publishes each new checkpoint and, once a quorum of its witnesses has cosigned it, the same
//! checkpoint with the cosignature lines. The latency of a checkpoint is the time between the
//! two arrivals at the observer: both travel the same path from the same publisher, so the
//! delivery delay cancels. A message counts as cosigned only if it verifies under the log's
//! witness policy (proto `WitnessPolicy`). Checkpoints superseded by a newer one before their
//! quorum (the log only pushes its latest) are counted, not measured.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::Args;
use ed25519_dalek::SigningKey;
use herald_light_client::Gateway as _;
use herald_proto::checkpoint::{DEFAULT_MAX_SKEW_SECS, VerifiedCheckpoint, WitnessPolicy};
use herald_proto::wire::{CHECKPOINT_TOPIC, pb};
use prost::Message as _;
use serde::Serialize;

use super::{CommonArgs, Environment, Latency, scratch_dir, write_report};

use crate::load::notarization_entry;
use crate::observer::GossipObserver;
use crate::testnet::{Testnet, TestnetOptions};

/// Options of `bench cosign`.
#[derive(Args, Debug, Clone)]
pub struct CosignArgs {
    /// Domains (each witnesses every other).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(2..=32))]
    pub domains: u16,
    /// Cosignatures a checkpoint needs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=31))]
    pub quorum: u16,
    /// Cosigned checkpoints to measure (over all logs).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub checkpoints: u64,
    /// Every node's time between sequencing rounds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub sequence_interval_ms: u64,
    /// Time between two submissions to each log.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub submit_every_ms: u64,
    /// Give up after this many seconds of measurement.
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub max_seconds: u64,
    /// The options every run shares (report file, scratch directory).
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct CosignReport {
    bench: &'static str,
    domains: u16,
    quorum: u16,
    sequence_interval_ms: u64,
    submit_every_ms: u64,
    measured_seconds: f64,
    checkpoints_published: usize,
    checkpoints_cosigned: usize,
    superseded_before_quorum: usize,
    cosigned_without_seen_publication: usize,
    publication_to_quorum: Latency,
    target_p50_ms: f64,
    target_p99_ms: f64,
    target_met: bool,
    gossip_messages_dropped: u64,
    environment: Environment,
}

pub(super) async fn run(args: CosignArgs) -> anyhow::Result<()> {
    if usize::from(args.quorum) >= usize::from(args.domains) {
        bail!(
            "a quorum of {} needs more than {} domains",
            args.quorum,
            args.domains
        );
    }
    let dir = scratch_dir(&args.common, "cosign")?;
    let binary = std::env::current_exe().context("locating the herald-testnet executable")?;
    let options = TestnetOptions {
        sequence_interval: Duration::from_millis(args.sequence_interval_ms),
        quorum: Some(usize::from(args.quorum)),
        log_level: "warn".into(),
        ..TestnetOptions::new(&dir, binary)
    };
    eprintln!("starting {} domains ...", args.domains);
    let mut testnet = Testnet::spawn(usize::from(args.domains), options).await?;
    let mut observer = GossipObserver::start(&[CHECKPOINT_TOPIC])?;
    for node in testnet.nodes() {
        observer.dial(node.multiaddr()).await?;
    }
    let peers: Vec<_> = testnet.nodes().iter().map(|n| n.peer_id()).collect();
    observer
        .wait_subscribed(CHECKPOINT_TOPIC, &peers, Duration::from_secs(30))
        .await
        .map_err(|missing| anyhow::anyhow!("no subscription from {missing:?}"))?;
    let policies = policies(&testnet, usize::from(args.quorum))?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for i in 0..testnet.len() {
        let client = testnet.client(i).await?;
        let (stop, every) = (stop.clone(), Duration::from_millis(args.submit_every_ms));
        load.push(tokio::spawn(async move {
            let author = SigningKey::from_bytes(&[0x77; 32]);
            let mut tick = tokio::time::interval(every);
            let mut tag = (i as u64) << 40;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                tag += 1;
                let entry = notarization_entry(&author, tag, 256)?;
                // One submission at a time per log; a refusal or timeout only skips a beat.
                let _ = client.submit(entry).await;
            }
            Ok::<(), anyhow::Error>(())
        }));
    }

    eprintln!("measuring {} cosigned checkpoints ...", args.checkpoints);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.max_seconds);
    let mut tally = Tally::default();
    while (tally.latencies.len() as u64) < args.checkpoints && Instant::now() < deadline {
        let Some(message) = observer.next(Duration::from_secs(1)).await else {
            continue;
        };
        tally.record(&policies, &message.data, message.received);
    }
    let measured_seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.context("load task")??;
    }
    for i in 0..testnet.len() {
        testnet.stop(i).await?;
    }
    drop(testnet);
    let _ = std::fs::remove_dir_all(&dir);

    let latency = Latency::of(&tally.latencies);
    let report = CosignReport {
        bench: "cosign",
        domains: args.domains,
        quorum: args.quorum,
        sequence_interval_ms: args.sequence_interval_ms,
        submit_every_ms: args.submit_every_ms,
        measured_seconds,
        checkpoints_published: tally.published.len(),
        checkpoints_cosigned: tally.cosigned.len(),
        superseded_before_quorum: tally.superseded(),
        cosigned_without_seen_publication: tally.unseen,
        target_p50_ms: 300.0,
        target_p99_ms: 1000.0,
        target_met: latency.count > 0 && latency.p50_ms < 300.0 && latency.p99_ms < 1000.0,
        publication_to_quorum: latency,
        gossip_messages_dropped: observer.dropped(),
        environment: Environment::now(),
    };
    let path = write_report(&args.common, "cosign", &report)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!("report written to {}", path.display());
    if report.publication_to_quorum.count == 0 {
        bail!(
            "no checkpoint reached its quorum within {} s",
            args.max_seconds
        );
    }
    Ok(())
}

/// Each log's witness policy: its key, its peers' witness keys, the quorum.
fn policies(testnet: &Testnet, quorum: usize) -> anyhow::Result<HashMap<String, WitnessPolicy>> {
    let mut out = HashMap::new();
    for node in testnet.nodes() {
        let witnesses = testnet
            .nodes()
            .iter()
            .filter(|w| w.domain() != node.domain())
            .map(|w| w.witness_key().clone())
            .collect();
        let policy = WitnessPolicy::new(node.log_key().clone(), witnesses, quorum)?;
        out.insert(node.origin(), policy);
    }
    Ok(out)
}

/// What the observer saw, by (origin, size).
#[derive(Default)]
struct Tally {
    published: HashMap<(String, u64), Instant>,
    cosigned: HashSet<(String, u64)>,
    /// Largest cosigned size per origin.
    cosigned_up_to: HashMap<String, u64>,
    latencies: Vec<Duration>,
    unseen: usize,
}

impl Tally {
    fn record(&mut self, policies: &HashMap<String, WitnessPolicy>, data: &[u8], at: Instant) {
        let Ok(message) = pb::SignedCheckpoint::decode(data) else {
            return;
        };
        // Which log: the note's first line names its origin; its policy decides the rest.
        let origin = String::from_utf8_lossy(&message.note)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let Some(policy) = policies.get(&origin) else {
            return;
        };
        let Ok(checkpoint) = VerifiedCheckpoint::verify(&message.note, policy.log()) else {
            return;
        };
        let key = (origin.clone(), checkpoint.size());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if policy
            .verify(&message.note, now, DEFAULT_MAX_SKEW_SECS)
            .is_err()
        {
            self.published.entry(key).or_insert(at);
            return;
        }
        if !self.cosigned.insert(key.clone()) {
            return;
        }
        let up_to = self.cosigned_up_to.entry(origin).or_insert(0);
        *up_to = (*up_to).max(checkpoint.size());
        match self.published.get(&key) {
            Some(published) => self
                .latencies
                .push(at.saturating_duration_since(*published)),
            None => self.unseen += 1,
        }
    }

    /// Published checkpoints never cosigned themselves though a larger one of their log was.
    fn superseded(&self) -> usize {
        self.published
            .keys()
            .filter(|key| {
                !self.cosigned.contains(*key)
                    && self
                        .cosigned_up_to
                        .get(&key.0)
                        .is_some_and(|up| *up > key.1)
            })
            .count()
    }
}
