//! `bench submit`: durable appends per second from networked clients (DESIGN §6), beside the
//! in-process sequencer's figure measured in the same run.
//!
//! One node process (per-peer submission limits off: a few bench clients stand for many
//! users). `--clients` libp2p connections each keep `--inflight` submissions going for
//! `--seconds`, each of `--batch` fresh notarizations: one entry per request (`Notarization`,
//! one signature each) or a batch (`BatchNotarization`, one signature per batch, one
//! `SubmitBatch` request). Every answer goes through the light client's verifying path
//! (`TrustedLog::submit_encoded` / `submit_batch`): checkpoint signature, inclusion (the audit
//! path, or the range proof with every entry's path rebuilt) and consistency from the trusted
//! size, all from the one ack. Latency is from sending to the verified ack. At the end the
//! log's size must equal the entries acknowledged.
//!
//! Then, in this process, the same number of entries of the same size go through a
//! `Sequencer` on a fresh store in the scratch directory, `--batch` per submission with many in
//! flight: the figure without network, admission or verification, for comparison.
//!
//! The clients pipeline on `/herald/client-stream/1`, where one request carries a whole batch
//! (`wire::MAX_STREAM_REQUEST_BYTES`: up to 4096 entries, 1 MiB of them). All the bench's
//! submissions share one memory of verified checkpoints
//! ([`VerifiedCheckpoints`]): every ack of a round carries the same signed checkpoint, whose
//! signature is then checked once, not once per ack; the proofs of every ack are checked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use ed25519_dalek::SigningKey;
use herald_light_client::{
    ClientError, Gateway as _, LogTrust, MemoryCheckpointStore, TrustedLog, VerifiedCheckpoints,
};
use herald_node::sequencer::{Sequencer, SequencerConfig};
use herald_node::store::LogStore;
use herald_proto::entry::{Notarization, sign_notarization_batch};
use herald_proto::note::NoteSigner;
use herald_proto::wire::{MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_STREAM_REQUEST_BYTES, pb};
use prost::Message as _;
use serde::Serialize;

use super::{CommonArgs, Environment, Latency, cpu_time, loaded_node, scratch_dir, write_report};
use crate::testnet::Testnet;

/// Requests before this much time has passed are not measured (connections warm up).
const WARM_UP: Duration = Duration::from_secs(1);
/// Longest one submission may be refused as busy before the bench gives up.
const MAX_BUSY: Duration = Duration::from_secs(60);
/// Entries the in-process figure appends at least (more when the networked run did).
const MIN_IN_PROCESS: u64 = 100_000;
/// Entries the in-process run keeps queued: four rounds of the default `batch_max`.
const IN_PROCESS_WINDOW: u64 = 16_384;
/// Entries signed ahead per second of the run (warm-up and a second of tail included) with
/// `--presigned`: 1.5 times the single-entry target, some 8 MB of entries a second of run.
const PRESIGNED_PER_SECOND: u64 = 30_000;

/// Options of `bench submit`.
#[derive(Args, Debug, Clone)]
pub struct SubmitArgs {
    /// Client connections (libp2p peers).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub clients: u16,
    /// Submissions each connection keeps in flight.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub inflight: u16,
    /// Entries per request: 1 sends `SubmitEntry`, more a `SubmitBatch`.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub batch: u16,
    /// Seconds of measurement (after a one-second warm-up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// Sign the requests' entries before the clock starts (up to 30,000 entries a second of
    /// the run; past that a client signs as it goes, counted in the report).
    /// Every entry is still distinct and fresh, verified by the node, and every ack verified by
    /// the client: what goes is only the clients' signing on the cores the node runs on. A
    /// figure for the node and the protocol, labelled `presigned` in the report; the default
    /// signs each request's entries when it is sent, as a real client does.
    #[arg(long)]
    pub presigned: bool,
    /// The options every run shares (report file, scratch directory).
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The report.
#[derive(Debug, Serialize)]
struct SubmitReport {
    bench: &'static str,
    clients: u16,
    inflight_per_client: u16,
    batch: u16,
    /// Whether the entries were signed before the clock started (`--presigned`).
    presigned: bool,
    /// Requests whose entries were signed while measured although `--presigned` (the ones
    /// signed ahead ran out); 0 without `--presigned`, where every request is signed as sent.
    signed_while_measured: u64,
    entry_bytes_mean: f64,
    measured_seconds: f64,
    /// Entries acknowledged and verified in the measured window.
    appends: u64,
    appends_per_s: f64,
    requests_per_s: f64,
    /// From sending a request to its verified ack.
    latency: Latency,
    refused_busy: u64,
    /// CPU time per append in the measured window, of the node and of this (client) process:
    /// figures that do not move with the machine's load as throughput does.
    cpu: CpuPerAppend,
    /// Entries in the log at the end (all acknowledged, warm-up included).
    log_size: u64,
    /// The same entries through the sequencer in this process.
    in_process: InProcess,
    environment: Environment,
}

/// CPU time used in the measured window, per append and in cores kept busy.
#[derive(Debug, Serialize)]
struct CpuPerAppend {
    node_us_per_append: f64,
    client_us_per_append: f64,
    node_cores: f64,
    client_cores: f64,
}

#[derive(Debug, Serialize)]
struct InProcess {
    entries: u64,
    batch: u16,
    seconds: f64,
    appends_per_s: f64,
}

/// Fresh notarizations: one entry each (`batch` 1) or one signed batch. `tag` makes them unique.
pub(super) fn entries(author: &SigningKey, tag: u64, batch: u16) -> anyhow::Result<Vec<Vec<u8>>> {
    let items: Vec<Notarization> = (0..u64::from(batch))
        .map(|i| Notarization {
            digest: *blake3::hash(&(tag + i).to_le_bytes()).as_bytes(),
            media_type: "text/plain".into(),
            label: format!("bench entry {}", tag + i),
            created: 1_800_000_000,
        })
        .collect();
    if batch == 1 {
        return Ok(items
            .iter()
            .map(|n| n.sign(author).encode_to_vec())
            .collect());
    }
    Ok(sign_notarization_batch(&items, author)
        .context("signing a batch")?
        .iter()
        .map(prost::Message::encode_to_vec)
        .collect())
}

pub(super) async fn run(args: SubmitArgs) -> anyhow::Result<()> {
    let sample = entries(&SigningKey::from_bytes(&[1; 32]), 0, args.batch)?;
    let request_bytes = pb::ClientRequest::submit_batch(sample.clone(), u64::MAX).encoded_len();
    // The stream frame adds the id and the request's tag and length.
    ensure!(
        request_bytes + 17 <= MAX_STREAM_REQUEST_BYTES
            && usize::from(args.batch) <= MAX_BATCH_ENTRIES,
        "a batch of {} entries is {request_bytes} bytes, over the {MAX_STREAM_REQUEST_BYTES} \
         bytes one client-stream request may carry",
        args.batch
    );
    let batch_bytes = sample.iter().map(Vec::len).sum::<usize>();
    ensure!(
        batch_bytes <= MAX_BATCH_BYTES,
        "a batch of {} entries holds {batch_bytes} bytes of entries, over the {MAX_BATCH_BYTES} \
         a batch may hold",
        args.batch
    );
    let entry_bytes_mean = batch_bytes as f64 / sample.len() as f64;
    let dir = scratch_dir(&args.common, "submit")?;
    let mut testnet = loaded_node(&dir.join("net")).await?;
    let identity = testnet.log_identity(0)?;
    eprintln!(
        "measuring {} s: {} clients x {} in flight x {} entries per request ...",
        args.seconds, args.clients, args.inflight, args.batch
    );
    let measured = measure(&testnet, &identity, &args).await?;
    let client = testnet.client(0).await?;
    let log_size = identity
        .verify_checkpoint(&client.checkpoint().await?.note)?
        .size();
    testnet.stop(0).await?;
    drop(testnet);
    ensure!(
        log_size == measured.acked_total,
        "the log holds {log_size} entries, {} were acknowledged",
        measured.acked_total
    );
    let appends = measured.latencies.len() as u64 * u64::from(args.batch);
    let in_process_entries = appends.max(MIN_IN_PROCESS);
    eprintln!("in process: {in_process_entries} entries through the sequencer ...");
    let in_process = in_process(&dir.join("in-process"), in_process_entries, &sample).await?;
    let _ = std::fs::remove_dir_all(&dir);

    let seconds = Duration::from_secs(args.seconds).as_secs_f64();
    let per_append = |cpu: Duration| cpu.as_secs_f64() * 1e6 / appends.max(1) as f64;
    let (node_cpu, client_cpu) = measured.cpu;
    let report = SubmitReport {
        bench: "submit",
        clients: args.clients,
        inflight_per_client: args.inflight,
        batch: args.batch,
        presigned: args.presigned,
        signed_while_measured: measured.signed_while_measured,
        entry_bytes_mean,
        measured_seconds: seconds,
        appends,
        appends_per_s: appends as f64 / seconds,
        requests_per_s: measured.latencies.len() as f64 / seconds,
        latency: Latency::of(&measured.latencies),
        refused_busy: measured.busy,
        cpu: CpuPerAppend {
            node_us_per_append: per_append(node_cpu),
            client_us_per_append: per_append(client_cpu),
            node_cores: node_cpu.as_secs_f64() / seconds,
            client_cores: client_cpu.as_secs_f64() / seconds,
        },
        log_size,
        in_process: InProcess {
            batch: args.batch,
            ..in_process
        },
        environment: Environment::now(),
    };
    let path = write_report(&args.common, "submit", &report)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "networked{}: {:.0} appends/s (p50 {:.1} ms, p99 {:.1} ms to a verified ack); CPU per \
         append: node {:.1} us, client {:.1} us; in process: {:.0} appends/s",
        if args.presigned { ", presigned" } else { "" },
        report.appends_per_s,
        report.latency.p50_ms,
        report.latency.p99_ms,
        report.cpu.node_us_per_append,
        report.cpu.client_us_per_append,
        report.in_process.appends_per_s
    );
    eprintln!("report written to {}", path.display());
    Ok(())
}

/// Whether the gateway said "busy" or "rate limited": back-pressure, not failure.
fn retry_after(e: &ClientError) -> Option<Duration> {
    match e {
        ClientError::Refused(r)
            if matches!(
                r.kind,
                pb::ClientErrorKind::Busy | pb::ClientErrorKind::RateLimited
            ) =>
        {
            Some(r.retry_after.unwrap_or(Duration::from_millis(10)))
        }
        _ => None,
    }
}

struct Measured {
    latencies: Vec<Duration>,
    busy: u64,
    /// Entries acknowledged, warm-up and tail included.
    acked_total: u64,
    /// Requests signed as sent although `--presigned`.
    signed_while_measured: u64,
    /// CPU time of the node and of this process in the measured window.
    cpu: (Duration, Duration),
}

/// The requests of one submitter signed ahead (`--presigned`): `per_submitter` requests of
/// `batch` entries, each tagged from `next_tag` like those signed as sent.
fn presign(
    author: &SigningKey,
    next_tag: &AtomicU64,
    batch: u16,
    per_submitter: u64,
) -> anyhow::Result<std::collections::VecDeque<Vec<Vec<u8>>>> {
    (0..per_submitter)
        .map(|_| {
            entries(
                author,
                next_tag.fetch_add(u64::from(batch), Ordering::Relaxed),
                batch,
            )
        })
        .collect()
}

/// [`presign`] for every author, on one blocking task per core; in the authors' order.
async fn presign_all(
    authors: Vec<SigningKey>,
    next_tag: &Arc<AtomicU64>,
    batch: u16,
    per_submitter: u64,
) -> anyhow::Result<Vec<(SigningKey, std::collections::VecDeque<Vec<Vec<u8>>>)>> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = authors.len().div_ceil(cores).max(1);
    let mut chunks = Vec::new();
    let mut authors = authors.into_iter();
    loop {
        let part: Vec<SigningKey> = authors.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        let next_tag = next_tag.clone();
        chunks.push(tokio::task::spawn_blocking(move || {
            part.into_iter()
                .map(|author| {
                    let ahead = presign(&author, &next_tag, batch, per_submitter)?;
                    Ok((author, ahead))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        }));
    }
    let mut all = Vec::new();
    for part in chunks {
        all.extend(part.await.context("signing ahead")??);
    }
    Ok(all)
}

/// Runs the submission load; every ack is verified.
async fn measure(
    testnet: &Testnet,
    identity: &LogTrust,
    args: &SubmitArgs,
) -> anyhow::Result<Measured> {
    let submitters = u64::from(args.clients) * u64::from(args.inflight);
    let next_tag = Arc::new(AtomicU64::new(0));
    // Requests each submitter signs ahead: enough for PRESIGNED_PER_SECOND over the warm-up,
    // the measured seconds and one more.
    let per_submitter = if args.presigned {
        let seconds = WARM_UP.as_secs() + args.seconds + 1;
        (PRESIGNED_PER_SECOND * seconds).div_ceil(submitters * u64::from(args.batch))
    } else {
        0
    };
    let verified = VerifiedCheckpoints::new();
    let mut prepared = Vec::new();
    for c in 0..args.clients {
        let client = testnet.client(0).await?;
        for k in 0..args.inflight {
            let log = TrustedLog::open(
                client.clone(),
                identity.clone(),
                MemoryCheckpointStore::new(),
            )?
            .with_verified_checkpoints(verified.clone());
            let mut seed = [7u8; 32];
            seed[..2].copy_from_slice(&c.to_le_bytes());
            seed[2..4].copy_from_slice(&k.to_le_bytes());
            prepared.push((log, SigningKey::from_bytes(&seed)));
        }
    }
    // Signed before the clock starts, on one blocking task per core.
    let (logs, authors): (Vec<_>, Vec<_>) = prepared.into_iter().unzip();
    let ready = logs
        .into_iter()
        .zip(presign_all(authors, &next_tag, args.batch, per_submitter).await?);
    if args.presigned {
        eprintln!(
            "signed ahead: {per_submitter} requests of {} entries for each of {submitters} \
             submitters",
            args.batch
        );
    }
    let begin = Instant::now() + WARM_UP;
    let end = begin + Duration::from_secs(args.seconds);
    let node_pid = testnet
        .node(0)
        .pid()
        .context("the bench's node is not running")?;
    let cpu_window = tokio::spawn(async move {
        let read = || {
            cpu_time::process(node_pid)
                .zip(cpu_time::own_process())
                .context("reading CPU time from /proc")
        };
        tokio::time::sleep_until(begin.into()).await;
        let (node, own) = read()?;
        tokio::time::sleep_until(end.into()).await;
        let (node_after, own_after) = read()?;
        Ok::<_, anyhow::Error>((
            node_after.saturating_sub(node),
            own_after.saturating_sub(own),
        ))
    });
    let mut tasks = Vec::new();
    for (mut log, (author, mut ahead)) in ready {
        let (next_tag, batch) = (next_tag.clone(), args.batch);
        let presigned = args.presigned;
        tasks.push(tokio::spawn(async move {
            let mut out = Measured {
                latencies: Vec::new(),
                busy: 0,
                acked_total: 0,
                signed_while_measured: 0,
                cpu: Default::default(),
            };
            loop {
                if Instant::now() >= end {
                    return Ok::<Measured, anyhow::Error>(out);
                }
                let entries = match ahead.pop_front() {
                    Some(entries) => entries,
                    None => {
                        out.signed_while_measured += u64::from(presigned);
                        let tag = next_tag.fetch_add(u64::from(batch), Ordering::Relaxed);
                        entries(&author, tag, batch)?
                    }
                };
                let busy_since = Instant::now();
                let (sent, outcome) = loop {
                    let sent = Instant::now();
                    let outcome = if batch == 1 {
                        let entry = entries[0].clone();
                        log.submit_encoded(entry).await.map(|_| 1)
                    } else {
                        log.submit_batch(entries.clone())
                            .await
                            .map(|o| o.iter().filter(|e| e.is_ok()).count())
                    };
                    match outcome.as_ref().err().and_then(retry_after) {
                        Some(after) => {
                            out.busy += 1;
                            ensure!(
                                busy_since.elapsed() < MAX_BUSY,
                                "the node answered busy for {MAX_BUSY:?}"
                            );
                            tokio::time::sleep(after).await;
                        }
                        None => break (sent, outcome),
                    }
                };
                let accepted = outcome.context("a submission")?;
                let elapsed = sent.elapsed();
                ensure!(
                    accepted == usize::from(batch),
                    "{} of {batch} entries refused",
                    usize::from(batch) - accepted
                );
                out.acked_total += accepted as u64;
                if sent >= begin && sent < end {
                    out.latencies.push(elapsed);
                }
            }
        }));
    }
    let mut all = Measured {
        latencies: Vec::new(),
        busy: 0,
        acked_total: 0,
        signed_while_measured: 0,
        cpu: Default::default(),
    };
    for task in tasks {
        let part = task.await.context("submitting task")??;
        all.latencies.extend(part.latencies);
        all.busy += part.busy;
        all.acked_total += part.acked_total;
        all.signed_while_measured += part.signed_while_measured;
    }
    all.cpu = cpu_window.await.context("reading CPU time")??;
    if all.latencies.is_empty() {
        bail!("no submission completed in the measured window");
    }
    Ok(all)
}

/// `entries` copies of the sample's sizes through a sequencer on a fresh store in `dir`,
/// `sample.len()` per submission, [`IN_PROCESS_WINDOW`] entries in flight (enough to fill every
/// round: the sequencer's capacity, not a window's).
async fn in_process(
    dir: &std::path::Path,
    entries: u64,
    sample: &[Vec<u8>],
) -> anyhow::Result<InProcess> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let origin = "bench.test/herald";
    // The testnet's nodes use the default hash: so does this log.
    let store = LogStore::create(dir, origin, herald_proto::merkle::HashAlgorithm::DEFAULT)
        .context("creating the in-process log")?;
    let signer = NoteSigner::new(origin, SigningKey::from_bytes(&[3; 32]))?;
    let config = SequencerConfig {
        sequence_interval: Duration::from_millis(25),
        ..SequencerConfig::default()
    };
    let (handle, task) = Sequencer::spawn(
        store,
        signer,
        config,
        &mut prometheus_client::registry::Registry::default(),
    )?;
    let per = sample.len() as u64;
    let submissions = entries.div_ceil(per);
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for s in 0..submissions {
        // Distinct bytes per entry, the sample's sizes.
        let batch: Vec<(Vec<u8>, Vec<_>)> = sample
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut e = e.clone();
                let n = s * per + i as u64;
                e[..8].copy_from_slice(&n.to_le_bytes());
                (e, Vec::new())
            })
            .collect();
        loop {
            match handle.enqueue_batch(batch.clone()) {
                Ok(p) => {
                    pending.push_back(p);
                    break;
                }
                Err(_) if !pending.is_empty() => {
                    // Busy: wait for the oldest answer, then try again.
                    if let Some(p) = pending.pop_front() {
                        p.await?;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        while pending.len() as u64 * per > IN_PROCESS_WINDOW {
            if let Some(p) = pending.pop_front() {
                p.await?;
            }
        }
    }
    for p in pending {
        p.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    handle.shutdown();
    task.await.context("sequencer task")??;
    let appended = submissions * per;
    Ok(InProcess {
        entries: appended,
        batch: 0,
        seconds,
        appends_per_s: appended as f64 / seconds,
    })
}
