//! `bench tiles`: C2SP tlog-tiles reads per second over the node's HTTP listener, keep-alive.
//!
//! One node process; `--entries` notarizations preloaded in signed batches through the client
//! protocol (every ack verified by the light client). The bench then knows what every full
//! resource must hold, from its own entries and the acked leaf hashes alone: level-0 tile N is
//! leaf hashes 256·N … 256·N+255, level-1 tile N the roots of 256 such tiles (folded with proto's
//! `fold_subtree`), entry bundle N the entries with their u16 lengths. `--clients` HTTP clients
//! (each a keep-alive connection pool, or one h2c connection with `--h2c`) keep `--inflight`
//! GETs going each for `--seconds`, of a random full level-0 tile, level-1 tile or entry bundle;
//! every body is compared with what it must be byte for byte (a wrong or partial answer fails
//! the run) and its round trip is measured.
//! The reading itself, and the CPU each side spends per read, are [`super::tiles_reader`]'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use clap::Args;
use ed25519_dalek::SigningKey;
use herald_light_client::{MemoryCheckpointStore, TrustedLog};
use herald_proto::merkle::{HASH_LEN, Hash};
use herald_proto::tlog_tiles::{TILE_WIDTH, fold_subtree};
use serde::Serialize;

use super::tiles_reader::{Kind, Measured, Server, Targets, measure};
use super::{CommonArgs, Environment, Latency, loaded_node, scratch_dir, write_report};
use crate::testnet::Testnet;

/// Entries per preloaded batch (one signed `BatchNotarization` each, well under one request).
const PRELOAD_BATCH: u16 = 128;
/// Batches the preload keeps in flight.
const PRELOAD_TASKS: usize = 8;

/// Options of `bench tiles`.
#[derive(Args, Debug, Clone)]
pub struct TilesArgs {
    /// Entries preloaded into the log (rounded down to whole level-0 tiles of 256; at least
    /// 65,536 so one level-1 tile is full).
    #[arg(long, default_value_t = 262_144, value_parser = clap::value_parser!(u64).range(65_536..=4_194_304))]
    pub entries: u64,
    /// HTTP clients (each its own connection pool).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub clients: u16,
    /// GETs each client keeps in flight.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub inflight: u16,
    /// One HTTP/2 (h2c) connection per client instead of HTTP/1.1 keep-alive connections
    /// (through the project's reqwest `HttpClient`).
    #[arg(long)]
    pub h2c: bool,
    /// HTTP/1.1 through the project's reqwest `HttpClient` (a pool per client) instead of the
    /// lean reader (one hyper connection per GET in flight).
    #[arg(long, conflicts_with = "h2c")]
    pub reqwest: bool,
    /// Threads of the lean reader, each a single-threaded runtime with its share of the
    /// connections.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub reader_threads: u16,
    /// Seconds of measurement (after a one-second warm-up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// Then reads the same bodies, with the same reader, from a trivial in-memory hyper server
    /// (the machine's bound for this mix), and reports the node's fraction of it.
    #[arg(long)]
    pub baseline: bool,
    /// The options every run shares (report file, scratch directory).
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The same mix read from the trivial in-memory server (`--baseline`), measured after the node.
#[derive(Debug, Serialize)]
struct BaselineFigures {
    reads_per_s: f64,
    bytes_per_s: f64,
    level0_tiles: Latency,
    /// CPU per read of the trivial server and of the reader.
    cpu: Option<CpuPerRead>,
    /// The node's reads/s over these.
    node_fraction: f64,
}

/// CPU time per read over the measured window, in microseconds: a figure that moves little
/// with the machine's load, unlike reads/s. Two cores give 2,000,000 µs of CPU a second, so
/// `server + reader` above 40 µs puts 50k reads/s out of reach of this machine.
#[derive(Debug, Serialize)]
struct CpuPerRead {
    /// The server's (the node's whole process, or the baseline server's threads).
    server_us: f64,
    /// The bench process's, without the baseline server's threads: the reader.
    reader_us: f64,
    /// Both.
    total_us: f64,
}

impl CpuPerRead {
    fn of(measured: &Measured) -> Option<Self> {
        let (server, reader) = measured.cpu?;
        let reads = measured.reads().max(1) as f64;
        let per = |d: Duration| d.as_secs_f64() * 1e6 / reads;
        Some(CpuPerRead {
            server_us: per(server),
            reader_us: per(reader),
            total_us: per(server + reader),
        })
    }
}

/// The report.
#[derive(Debug, Serialize)]
struct TilesReport {
    bench: &'static str,
    entries: u64,
    preload_seconds: f64,
    preload_appends_per_s: f64,
    clients: u16,
    inflight_per_client: u16,
    http: &'static str,
    measured_seconds: f64,
    reads: usize,
    reads_per_s: f64,
    bytes_per_s: f64,
    level0_tiles: Latency,
    level1_tiles: Latency,
    entry_bundles: Latency,
    cpu: Option<CpuPerRead>,
    baseline: Option<BaselineFigures>,
    environment: Environment,
}

/// What every full resource of the preloaded log must hold.
pub(super) struct Expected {
    pub(super) level0: Vec<Vec<u8>>,
    pub(super) level1: Vec<Vec<u8>>,
    pub(super) bundles: Vec<Vec<u8>>,
}

pub(super) async fn run(args: TilesArgs) -> anyhow::Result<()> {
    let entries = args.entries / TILE_WIDTH * TILE_WIDTH;
    let dir = scratch_dir(&args.common, "tiles")?;
    let mut testnet = loaded_node(&dir).await?;
    eprintln!("preloading {entries} entries in signed batches of {PRELOAD_BATCH} ...");
    let started = Instant::now();
    let expected = Arc::new(preload(&testnet, entries).await?);
    let preload_time = started.elapsed();
    eprintln!(
        "preloaded in {preload_time:.1?}; measuring {} s with {} clients x {} in flight ({}) ...",
        args.seconds,
        args.clients,
        args.inflight,
        if args.h2c { "h2c" } else { "HTTP/1.1" }
    );
    let targets = Arc::new(Targets::of(&expected)?);
    let node = testnet.node(0);
    let server = Server::Process(node.pid().context("the node's process id")?);
    let measured = measure(
        node.http_addr(),
        server,
        &args,
        expected.clone(),
        targets.clone(),
    )
    .await;
    testnet.stop(0).await?;
    drop(testnet);
    let _ = std::fs::remove_dir_all(&dir);
    let measured = measured?;

    let seconds = Duration::from_secs(args.seconds).as_secs_f64();
    let reads = measured.reads();
    let baseline = if args.baseline {
        eprintln!("the same mix from a trivial in-memory hyper server ...");
        let server = super::tiles_baseline::Baseline::start(&expected)?;
        let threads = Server::OwnThreads(super::tiles_baseline::THREAD);
        let read = measure(server.addr(), threads, &args, expected, targets).await;
        server.stop();
        let read = read?;
        let base_reads = read.reads() as f64 / seconds;
        Some(BaselineFigures {
            reads_per_s: base_reads,
            bytes_per_s: read.bytes as f64 / seconds,
            level0_tiles: Latency::of(&read.latencies[Kind::Level0 as usize]),
            cpu: CpuPerRead::of(&read),
            node_fraction: reads as f64 / seconds / base_reads,
        })
    } else {
        None
    };
    let report = TilesReport {
        bench: "tiles",
        entries,
        preload_seconds: preload_time.as_secs_f64(),
        preload_appends_per_s: entries as f64 / preload_time.as_secs_f64(),
        clients: args.clients,
        inflight_per_client: args.inflight,
        http: if args.h2c {
            "h2c (reqwest)"
        } else if args.reqwest {
            "http/1.1 keep-alive (reqwest)"
        } else {
            "http/1.1 keep-alive (hyper, a connection per GET in flight, on single-threaded runtimes)"
        },
        measured_seconds: seconds,
        reads,
        reads_per_s: reads as f64 / seconds,
        bytes_per_s: measured.bytes as f64 / seconds,
        level0_tiles: Latency::of(&measured.latencies[Kind::Level0 as usize]),
        level1_tiles: Latency::of(&measured.latencies[Kind::Level1 as usize]),
        entry_bundles: Latency::of(&measured.latencies[Kind::Bundle as usize]),
        cpu: CpuPerRead::of(&measured),
        baseline,
        environment: Environment::now(),
    };
    let path = write_report(&args.common, "tiles", &report)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "{:.0} verified tile reads/s (level-0 tile p50 {:.2} ms, p99 {:.2} ms)",
        report.reads_per_s, report.level0_tiles.p50_ms, report.level0_tiles.p99_ms
    );
    let cpu = |c: &Option<CpuPerRead>| {
        c.as_ref().map_or("no CPU figures".to_owned(), |c| {
            format!(
                "CPU per read: server {:.1} µs, reader {:.1} µs",
                c.server_us, c.reader_us
            )
        })
    };
    eprintln!("node: {}", cpu(&report.cpu));
    if let Some(baseline) = &report.baseline {
        eprintln!(
            "baseline: {:.0} reads/s (node {:.3} of it); {}",
            baseline.reads_per_s,
            baseline.node_fraction,
            cpu(&baseline.cpu)
        );
    }
    eprintln!("report written to {}", path.display());
    Ok(())
}

/// Submits `entries` fresh notarizations in signed batches, each batch's ack verified by the
/// light client; returns what the full tiles and bundles of the resulting log must hold.
async fn preload(testnet: &Testnet, entries: u64) -> anyhow::Result<Expected> {
    let identity = testnet.log_identity(0)?;
    let batches = entries.div_ceil(u64::from(PRELOAD_BATCH));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..PRELOAD_TASKS {
        let client = testnet.client(0).await?;
        let mut log = TrustedLog::open(client, identity.clone(), MemoryCheckpointStore::new())?;
        let next = next.clone();
        let author = SigningKey::from_bytes(&[0x50 + t as u8; 32]);
        tasks.push(tokio::spawn(async move {
            let mut acked: Vec<(u64, Hash, Vec<u8>)> = Vec::new();
            loop {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if b >= batches {
                    return Ok::<_, anyhow::Error>(acked);
                }
                let tag = b * u64::from(PRELOAD_BATCH);
                let count = (entries - tag).min(u64::from(PRELOAD_BATCH)) as u16;
                let batch = super::submit::entries(&author, tag, count)?;
                let outcomes = log.submit_batch(batch).await.context("preloading")?;
                for outcome in outcomes {
                    let entry = outcome.map_err(|r| anyhow::anyhow!("entry refused: {r:?}"))?;
                    acked.push((
                        entry.index(),
                        *entry.inclusion().leaf_hash(),
                        entry.entry().to_vec(),
                    ));
                }
            }
        }));
    }
    let mut leaves: Vec<Option<(Hash, Vec<u8>)>> = vec![None; entries as usize];
    for task in tasks {
        for (index, leaf_hash, entry) in task.await.context("preload task")?? {
            let slot = leaves
                .get_mut(index as usize)
                .with_context(|| format!("an ack at index {index}, past {entries}"))?;
            ensure!(slot.is_none(), "two acks at index {index}");
            *slot = Some((leaf_hash, entry));
        }
    }
    let leaves: Vec<(Hash, Vec<u8>)> = leaves
        .into_iter()
        .enumerate()
        .map(|(i, l)| l.with_context(|| format!("no ack for index {i}")))
        .collect::<anyhow::Result<_>>()?;
    Ok(expect(&identity.hasher(), &leaves))
}

/// The bytes of every full level-0 and level-1 tile and entry bundle of a log whose leaves are
/// `leaves` (leaf hash, entry), by index.
fn expect(hasher: &herald_proto::merkle::AnyHasher, leaves: &[(Hash, Vec<u8>)]) -> Expected {
    let width = TILE_WIDTH as usize;
    let level0: Vec<Vec<u8>> = leaves
        .chunks_exact(width)
        .map(|tile| tile.iter().flat_map(|(h, _)| *h).collect())
        .collect();
    let bundles = leaves
        .chunks_exact(width)
        .map(|bundle| {
            let mut bytes = Vec::new();
            for (_, entry) in bundle {
                bytes.extend_from_slice(&(entry.len() as u16).to_be_bytes());
                bytes.extend_from_slice(entry);
            }
            bytes
        })
        .collect();
    // Each level-0 tile's root is one hash of level 8; 256 of them make a level-1 tile.
    let roots: Vec<Hash> = level0
        .iter()
        .map(|tile| {
            let mut hashes: Vec<Hash> = tile
                .chunks_exact(HASH_LEN)
                .map(|h| h.try_into().expect("chunks of HASH_LEN"))
                .collect();
            fold_subtree(hasher, &mut hashes).expect("256 is a power of two")
        })
        .collect();
    let level1 = roots
        .chunks_exact(width)
        .map(|tile| tile.concat())
        .collect();
    Expected {
        level0,
        level1,
        bundles,
    }
}
