//! `bench proofs`: proof requests served per second over the client protocol on loopback, on
//! `/herald/client-stream/1` (the light client's default) and, in the same run with the same
//! load, on `/herald/client/1` (one substream per request), with the ratio of the two.
//!
//! One node process; `--entries` 256-byte notarizations preloaded through the client protocol
//! (that rate is reported too); then `--clients` connections each keep `--inflight` requests
//! going for `--seconds`: inclusion proofs by random index and consistency proofs from a random
//! earlier checkpoint, both against the final tree. Every answer is verified against checkpoints
//! the client verified (a wrong answer fails the run); latency is the request's round trip.
//! The two transports are measured one after the other, `--seconds` each.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use ed25519_dalek::SigningKey;
use herald_light_client::{
    ClientError, Gateway as _, GatewayClient, Leaf, LogTrust, verify_consistency,
};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::Hash;
use herald_proto::wire::pb;
use serde::Serialize;
use tokio::sync::Mutex;

use super::{CommonArgs, Environment, Latency, loaded_node, scratch_dir, write_report};
use crate::load::{Schedule, notarization_entry};
use crate::testnet::Testnet;

/// Longest a preloaded entry may be refused as "busy" before the bench gives up.
const MAX_BUSY: Duration = Duration::from_secs(60);
/// Encoded size of every preloaded entry.
const ENTRY_BYTES: usize = 256;
/// Connections used to preload, and submissions each keeps in flight (below the node's
/// `max_inflight_requests`, so preloading is not answered "busy").
const PRELOAD_CONNECTIONS: usize = 4;
const PRELOAD_INFLIGHT: usize = 64;
/// Requests before this much time has passed are not measured (connections warm up).
const WARM_UP: Duration = Duration::from_secs(1);

/// Options of `bench proofs`.
#[derive(Args, Debug, Clone)]
pub struct ProofsArgs {
    /// Entries preloaded into the log (256 bytes each).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(2..=10_000_000))]
    pub entries: u64,
    /// Client connections asking for proofs.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub clients: u16,
    /// Requests each connection keeps in flight.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub inflight: u16,
    /// Seconds of measurement (after a one-second warm-up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// The options every run shares (report file, scratch directory).
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The report.
#[derive(Debug, Serialize)]
struct ProofsReport {
    bench: &'static str,
    entries: u64,
    entry_bytes: usize,
    preload_seconds: f64,
    preload_appends_per_s: f64,
    clients: u16,
    inflight_per_client: u16,
    measured_seconds: f64,
    requests: usize,
    requests_per_s: f64,
    inclusion_per_s: f64,
    consistency_per_s: f64,
    inclusion: Latency,
    consistency: Latency,
    refused_busy: u64,
    /// The same load in the same run with one `/herald/client/1` substream per request (the
    /// figures above are on `/herald/client-stream/1`, the client's default).
    per_request: PerRequest,
    /// `requests_per_s` over `per_request.requests_per_s`.
    pipelined_over_per_request: f64,
    environment: Environment,
}

/// The proofs load on `/herald/client/1`.
#[derive(Debug, Serialize)]
struct PerRequest {
    requests_per_s: f64,
    inclusion: Latency,
    consistency: Latency,
    refused_busy: u64,
}

/// The acks of the preload, by index: the leaf hash, and the checkpoint note that came with it.
#[derive(Default)]
struct AckLog {
    leaf_hashes: BTreeMap<u64, Hash>,
    notes: BTreeMap<u64, Vec<u8>>,
}

/// What the preload left: the log's leaf hashes by index and the checkpoints the acks carried.
struct Preloaded {
    leaf_hashes: Vec<Hash>,
    checkpoints: Vec<VerifiedCheckpoint>,
    latest: VerifiedCheckpoint,
}

pub(super) async fn run(args: ProofsArgs) -> anyhow::Result<()> {
    let dir = scratch_dir(&args.common, "proofs")?;
    let mut testnet = loaded_node(&dir).await?;
    let identity = testnet.log_identity(0)?;
    eprintln!(
        "preloading {} entries of {ENTRY_BYTES} bytes ...",
        args.entries
    );
    let started = Instant::now();
    let preloaded = preload(&testnet, &identity, args.entries).await?;
    let preload_time = started.elapsed();
    eprintln!(
        "preloaded in {preload_time:.1?}; measuring {} s with {} clients x {} in flight ...",
        args.seconds, args.clients, args.inflight
    );
    let preloaded = Arc::new(preloaded);
    let measured = measure(&testnet, &identity, &args, preloaded.clone(), true).await?;
    eprintln!("and the same with one /herald/client/1 substream per request ...");
    let per_request = measure(&testnet, &identity, &args, preloaded, false).await?;
    testnet.stop(0).await?;
    drop(testnet);
    let _ = std::fs::remove_dir_all(&dir);

    let seconds = measured.seconds;
    let requests_per_s = (measured.inclusion.len() + measured.consistency.len()) as f64 / seconds;
    let per_request_per_s =
        (per_request.inclusion.len() + per_request.consistency.len()) as f64 / per_request.seconds;
    let report = ProofsReport {
        bench: "proofs",
        entries: args.entries,
        entry_bytes: ENTRY_BYTES,
        preload_seconds: preload_time.as_secs_f64(),
        preload_appends_per_s: args.entries as f64 / preload_time.as_secs_f64(),
        clients: args.clients,
        inflight_per_client: args.inflight,
        measured_seconds: seconds,
        requests: measured.inclusion.len() + measured.consistency.len(),
        requests_per_s,
        inclusion_per_s: measured.inclusion.len() as f64 / seconds,
        consistency_per_s: measured.consistency.len() as f64 / seconds,
        inclusion: Latency::of(&measured.inclusion),
        consistency: Latency::of(&measured.consistency),
        refused_busy: measured.busy,
        per_request: PerRequest {
            requests_per_s: per_request_per_s,
            inclusion: Latency::of(&per_request.inclusion),
            consistency: Latency::of(&per_request.consistency),
            refused_busy: per_request.busy,
        },
        pipelined_over_per_request: requests_per_s / per_request_per_s.max(f64::MIN_POSITIVE),
        environment: Environment::now(),
    };
    let path = write_report(&args.common, "proofs", &report)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!("report written to {}", path.display());
    Ok(())
}

/// Whether the gateway said "busy, retry": back-pressure, not failure.
fn is_busy(e: &ClientError) -> bool {
    matches!(e, ClientError::Refused(r) if r.kind == pb::ClientErrorKind::Busy)
}

/// Submits `entries` fresh notarizations; checks every ack (leaf hash, index, signed
/// checkpoint) and that the log ends at exactly `entries` leaves, all of them ours.
async fn preload(
    testnet: &Testnet,
    identity: &LogTrust,
    entries: u64,
) -> anyhow::Result<Preloaded> {
    let next = Arc::new(AtomicU64::new(0));
    let acks: Arc<Mutex<AckLog>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..PRELOAD_CONNECTIONS {
        let client = testnet.client(0).await?;
        for _ in 0..PRELOAD_INFLIGHT {
            let (client, next, acks, identity) =
                (client.clone(), next.clone(), acks.clone(), identity.clone());
            tasks.push(tokio::spawn(async move {
                let author = SigningKey::from_bytes(&[0x42; 32]);
                loop {
                    let tag = next.fetch_add(1, Ordering::Relaxed);
                    if tag >= entries {
                        return Ok::<(), anyhow::Error>(());
                    }
                    let entry = notarization_entry(&author, tag, ENTRY_BYTES)?;
                    let leaf_hash = identity.leaf_hash(&entry);
                    let busy_since = std::time::Instant::now();
                    let ack = loop {
                        match client.submit(entry.clone()).await {
                            Ok(ack) => break ack,
                            Err(e) if is_busy(&e) => {
                                ensure!(
                                    busy_since.elapsed() < MAX_BUSY,
                                    "the node answered busy for {MAX_BUSY:?}"
                                );
                                tokio::time::sleep(Duration::from_millis(10)).await
                            }
                            Err(e) => return Err(e).context("preloading"),
                        }
                    };
                    ensure!(ack.leaf_hash == leaf_hash, "ack for another leaf hash");
                    let note = ack.checkpoint.map(|c| c.note).unwrap_or_default();
                    let mut acks = acks.lock().await;
                    acks.leaf_hashes.insert(ack.index, leaf_hash);
                    acks.notes.insert(ack.index, note);
                }
            }));
        }
    }
    for task in tasks {
        task.await.context("preload task")??;
    }
    let AckLog {
        leaf_hashes: by_index,
        notes,
    } = std::mem::take(&mut *acks.lock().await);
    let client = testnet.client(0).await?;
    let latest = identity.verify_checkpoint(&client.checkpoint().await?.note)?;
    ensure!(
        latest.size() == entries && by_index.len() as u64 == entries,
        "the log holds {} leaves and {} acks for {entries} submissions",
        latest.size(),
        by_index.len()
    );
    // Acked indexes are 0..entries, each once: the log is exactly what was preloaded.
    let leaf_hashes: Vec<Hash> = by_index.into_values().collect();
    let mut checkpoints: BTreeMap<u64, VerifiedCheckpoint> = BTreeMap::new();
    for (index, note) in notes {
        let checkpoint = identity.verify_checkpoint(&note)?;
        ensure!(
            checkpoint.size() > index,
            "an ack's checkpoint does not include its entry"
        );
        checkpoints.insert(checkpoint.size(), checkpoint);
    }
    Ok(Preloaded {
        leaf_hashes,
        checkpoints: checkpoints
            .into_values()
            .filter(|c| c.size() < latest.size())
            .collect(),
        latest,
    })
}

struct Measured {
    inclusion: Vec<Duration>,
    consistency: Vec<Duration>,
    busy: u64,
    seconds: f64,
}

/// Runs the proof load and collects latencies; every answer is verified.
async fn measure(
    testnet: &Testnet,
    identity: &LogTrust,
    args: &ProofsArgs,
    log: Arc<Preloaded>,
    pipelined: bool,
) -> anyhow::Result<Measured> {
    let begin = Instant::now() + WARM_UP;
    let end = begin + Duration::from_secs(args.seconds);
    let seed = Schedule::fresh_seed();
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let client = testnet.client_with(0, pipelined).await?;
        for k in 0..args.inflight {
            let (client, log, identity) = (client.clone(), log.clone(), identity.clone());
            let mut schedule = Schedule::new(seed ^ (u64::from(c) << 16 | u64::from(k)));
            tasks.push(tokio::spawn(async move {
                let mut out = Measured {
                    inclusion: Vec::new(),
                    consistency: Vec::new(),
                    busy: 0,
                    seconds: 0.0,
                };
                let mut inclusion_turn = schedule.next_u64().is_multiple_of(2);
                loop {
                    let now = Instant::now();
                    if now >= end {
                        return Ok::<Measured, anyhow::Error>(out);
                    }
                    inclusion_turn = !inclusion_turn;
                    let outcome = if inclusion_turn || log.checkpoints.is_empty() {
                        ask_inclusion(&client, &identity, &log, &mut schedule).await
                    } else {
                        ask_consistency(&client, &identity, &log, &mut schedule).await
                    };
                    let elapsed = match outcome {
                        Ok(elapsed) => elapsed,
                        Err(e) if e.downcast_ref::<ClientError>().is_some_and(is_busy) => {
                            out.busy += 1;
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    if now >= begin {
                        if inclusion_turn || log.checkpoints.is_empty() {
                            out.inclusion.push(elapsed);
                        } else {
                            out.consistency.push(elapsed);
                        }
                    }
                }
            }));
        }
    }
    let mut all = Measured {
        inclusion: Vec::new(),
        consistency: Vec::new(),
        busy: 0,
        seconds: Duration::from_secs(args.seconds).as_secs_f64(),
    };
    for task in tasks {
        let part = task.await.context("measuring task")??;
        all.inclusion.extend(part.inclusion);
        all.consistency.extend(part.consistency);
        all.busy += part.busy;
    }
    if all.inclusion.is_empty() {
        bail!("no request completed in the measured window");
    }
    Ok(all)
}

/// One inclusion proof of a random leaf in the latest tree, verified; its round trip.
async fn ask_inclusion(
    client: &GatewayClient,
    identity: &LogTrust,
    log: &Preloaded,
    schedule: &mut Schedule,
) -> anyhow::Result<Duration> {
    let index = schedule.range(0, log.latest.size());
    let sent = Instant::now();
    let answer = client
        .inclusion(Leaf::Index(index), log.latest.size())
        .await?;
    let elapsed = sent.elapsed();
    let leaf_hash = log.leaf_hashes[index as usize];
    anyhow::ensure!(
        answer.leaf_hash == leaf_hash,
        "the answer is for another leaf hash"
    );
    let proof = answer
        .proof
        .context("an inclusion answer without a proof")?;
    anyhow::ensure!(proof.leaf_index == index, "the answer is for another leaf");
    identity.verify_inclusion(&log.latest, &leaf_hash, &proof)?;
    Ok(elapsed)
}

/// One consistency proof from a random earlier checkpoint to the latest, verified; its round
/// trip.
async fn ask_consistency(
    client: &GatewayClient,
    identity: &LogTrust,
    log: &Preloaded,
    schedule: &mut Schedule,
) -> anyhow::Result<Duration> {
    let older = &log.checkpoints[schedule.range(0, log.checkpoints.len() as u64) as usize];
    let sent = Instant::now();
    let proof = client.consistency(older.size(), log.latest.size()).await?;
    let elapsed = sent.elapsed();
    verify_consistency(identity, older, &log.latest, &proof)?;
    Ok(elapsed)
}
