//! `herald-testnet bench`: multi-process benchmarks against real node processes on loopback.
//!
//! Each writes its figures to a JSON report (default `TARGET/bench-report/NAME.json`,
//! `--out` to override) and prints them. They measure; they do not assert: timing targets are
//! checked by reading the report, never by timed tests. Run them from a release build
//! (`cargo run --release -p herald-testnet -- bench ...`); the report records the build profile.

mod certmail;
mod cosign;
mod cpu;
mod cpu_time;
mod login;
mod mail;
mod proofs;
mod submit;
mod tiles;
mod tiles_baseline;
mod tiles_reader;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::Serialize;

pub use certmail::CertmailArgs;
pub use cosign::CosignArgs;
pub use login::LoginArgs;
pub use mail::MailArgs;
pub use proofs::ProofsArgs;
pub use submit::SubmitArgs;
pub use tiles::TilesArgs;

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Proof requests served per second over the client protocol (one node, N entries).
    Proofs(ProofsArgs),
    /// Durable appends per second from networked clients (clients x in flight x batch size),
    /// latency to a verified ack, beside the in-process sequencer's figure.
    Submit(SubmitArgs),
    /// Time from a checkpoint's publication to its quorum cosignature across N domains.
    Cosign(CosignArgs),
    /// Certified mail end to end on 3 domains: step (a) to the recipient's verified plaintext.
    Certmail(CertmailArgs),
    /// PAEP logins per second over the client protocol against one node.
    Login(LoginArgs),
    /// Mails per second between two domains through their gateways (250 ms sequencing), and
    /// latency from send to the recipient's verified plaintext.
    Mail(MailArgs),
    /// C2SP tlog-tiles reads per second over the node's HTTP listener (keep-alive or h2c),
    /// every body checked against what the preloaded log must hold.
    Tiles(TilesArgs),
}

/// Options every benchmark takes.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Report file (default: TARGET/bench-report/NAME.json).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Directory for the nodes' data (default: TARGET/bench-scratch/...; removed afterwards).
    /// Keep it on a real disk: a RAM disk would flatter every flush.
    #[arg(long)]
    pub scratch: Option<PathBuf>,
}

/// Runs one benchmark.
pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Proofs(args) => proofs::run(args).await,
        BenchCommand::Submit(args) => submit::run(args).await,
        BenchCommand::Cosign(args) => cosign::run(args).await,
        BenchCommand::Certmail(args) => certmail::run(args).await,
        BenchCommand::Login(args) => login::run(args).await,
        BenchCommand::Mail(args) => mail::run(args).await,
        BenchCommand::Tiles(args) => tiles::run(args).await,
    }
}

/// The workspace's target directory: `CARGO_TARGET_DIR` if set, else `<workspace>/target`.
fn target_dir() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().unwrap_or(manifest_dir);
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

/// A fresh scratch directory for benchmark `name`: `--scratch`, or one under the target dir.
pub(crate) fn scratch_dir(common: &CommonArgs, name: &str) -> anyhow::Result<PathBuf> {
    let dir = match &common.scratch {
        Some(dir) => dir.clone(),
        None => target_dir()
            .join("bench-scratch")
            .join(format!("testnet-{name}-{}", std::process::id())),
    };
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// One node process in `dir` for a bench that loads it: 25 ms rounds, warnings only, and no
/// per-peer submission limit (a bench's few connections submit far more than one user does).
pub(crate) async fn loaded_node(dir: &Path) -> anyhow::Result<crate::testnet::Testnet> {
    let binary = std::env::current_exe().context("locating the herald-testnet executable")?;
    let options = crate::testnet::TestnetOptions {
        sequence_interval: Duration::from_millis(25),
        log_level: "warn".into(),
        unlimited_submissions: true,
        ..crate::testnet::TestnetOptions::new(dir, binary)
    };
    Ok(crate::testnet::Testnet::spawn(1, options).await?)
}

/// Writes `report` as JSON to `--out` or `<target>/bench-report/<name>.json`.
pub(crate) fn write_report(
    common: &CommonArgs,
    name: &str,
    report: &impl Serialize,
) -> anyhow::Result<PathBuf> {
    let path = match &common.out {
        Some(path) => path.clone(),
        None => target_dir()
            .join("bench-report")
            .join(format!("{name}.json")),
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Where and how the figures were measured.
#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    /// `release` or `debug`: debug figures are not the project's figures.
    pub profile: &'static str,
    /// Cores available to this process.
    pub cores: usize,
    /// Unix seconds at the end of the run.
    pub finished_at: u64,
    /// The CPU's model name as Linux names it (`/proc/cpuinfo`), or `unknown`.
    pub cpu: String,
    /// The curve25519-dalek backend that signs and verifies in this process: `avx512ifma`,
    /// `avx2` or `serial`. Ed25519 takes about twice as long on `avx2` as on `avx512ifma`, and
    /// every bench that signs or verifies moves with it (docs/performance.md, "The same code on
    /// a CPU without AVX-512").
    pub curve_backend: &'static str,
}

impl Environment {
    pub(crate) fn now() -> Self {
        Environment {
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            finished_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            cpu: cpu_model(),
            curve_backend: curve_backend(),
        }
    }
}

/// The first `model name` of `/proc/cpuinfo`, or `unknown` where there is none.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| model_name(&text))
        .unwrap_or_else(|| "unknown".into())
}

/// The value of the first `model name` line of a `/proc/cpuinfo` text.
fn model_name(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// The backend curve25519-dalek picks at run time, by its own rule: IFMA where the build
/// allows it (`.cargo/config.toml`'s cfg) and the CPU has `avx512ifma` and `avx512vl`, else
/// AVX2 where the CPU has it, else the serial code.
fn curve_backend() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if cfg!(curve25519_dalek_backend = "avx512")
            && std::is_x86_feature_detected!("avx512ifma")
            && std::is_x86_feature_detected!("avx512vl")
        {
            return "avx512ifma";
        }
        if std::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "serial"
}

/// Latency figures of one kind of operation, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    /// Operations measured.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Latency {
    /// Nearest-rank percentiles of `samples` (all zero when there are none).
    pub fn of(samples: &[Duration]) -> Self {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| -> f64 {
            if ms.is_empty() {
                return 0.0;
            }
            let i = ((p / 100.0) * ms.len() as f64).ceil() as usize;
            ms[i.clamp(1, ms.len()) - 1]
        };
        Latency {
            count: ms.len(),
            p50_ms: rank(50.0),
            p99_ms: rank(99.0),
            max_ms: ms.last().copied().unwrap_or(0.0),
            mean_ms: if ms.is_empty() {
                0.0
            } else {
                ms.iter().sum::<f64>() / ms.len() as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&samples);
        assert_eq!(
            (l.count, l.p50_ms, l.p99_ms, l.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        assert!((l.mean_ms - 50.5).abs() < 1e-9);
        let one = Latency::of(&[Duration::from_millis(7)]);
        assert_eq!((one.p50_ms, one.p99_ms), (7.0, 7.0));
        assert_eq!(Latency::of(&[]).count, 0);
    }

    #[test]
    fn reports_go_where_asked() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sub").join("r.json");
        let common = CommonArgs {
            out: Some(out.clone()),
            scratch: None,
        };
        let written = write_report(&common, "x", &serde_json::json!({ "a": 1 })).unwrap();
        assert_eq!(written, out);
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(back["a"], 1);
    }

    /// A report says which CPU and which curve backend made its figures: the model is the
    /// first `model name` line (two-socket texts repeat it), and a text without one has none.
    #[test]
    fn a_report_names_its_cpu_and_curve_backend() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n\n\
                       processor\t: 1\nmodel name\t: AMD EPYC\n";
        assert_eq!(model_name(cpuinfo).as_deref(), Some("AMD EPYC"));
        assert_eq!(model_name("processor\t: 0\nmodel\t\t: 85\n"), None);

        let environment = Environment::now();
        assert!(!environment.cpu.is_empty());
        assert!(["avx512ifma", "avx2", "serial"].contains(&environment.curve_backend));
        #[cfg(target_arch = "x86_64")]
        {
            let ifma = std::is_x86_feature_detected!("avx512ifma")
                && std::is_x86_feature_detected!("avx512vl");
            match (ifma, std::is_x86_feature_detected!("avx2")) {
                (false, true) => assert_eq!(environment.curve_backend, "avx2"),
                (false, false) => assert_eq!(environment.curve_backend, "serial"),
                (true, _) => assert_ne!(environment.curve_backend, "serial"),
            }
        }
        let json = serde_json::to_value(&environment).unwrap();
        assert_eq!(json["curve_backend"], environment.curve_backend);
        assert_eq!(json["cpu"], environment.cpu.as_str());
    }
}
