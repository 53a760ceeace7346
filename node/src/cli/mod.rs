//! The `herald-node` command line: `init`, `run`, `status`, `peer add|remove|list`, `alerts`,
//! `account add|disable|list`.
//!
//! All of it is here, behind [`main_with_args`], so that another binary (the testnet) can run
//! exactly this code as a child process of its own; `main.rs` only calls it. This is the one
//! place that reads the configuration file and `HERALD_*` variables and installs tracing.
//!
//! Precedence for `run`: flag > `HERALD_*` variable > configuration file > default.
//! Exit codes: 0 success, 1 failure, 2 usage error, 3 (`status`) the node is not running.
//!
//! `peer`, `alerts` and `account` talk to the running node's admin API ([`crate::admin`], with
//! the token in the data directory); when the node is not running they open its database
//! directly. Both paths change the registry and the accounts through the same types
//! ([`crate::peers::PeerRegistry`], [`crate::accounts::AccountBook`]).

mod accounts;
mod admin;

use std::ffi::OsString;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use herald_proto::merkle::HashAlgorithm;
use libp2p::Multiaddr;
use tracing_subscriber::EnvFilter;

use crate::config::NodeConfig;
use crate::gateway::{self, NodeInfo};
use crate::keys::NodeKeys;
use crate::node_client::NodeClient;
use crate::routes::NodeStatus;

/// Largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// Largest `/status` answer read.
const MAX_STATUS_BYTES: usize = 1024 * 1024;
/// How long `status` waits for the running node.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// `status`'s exit code when the node is not running (as `systemctl status`).
const NOT_RUNNING: u8 = 3;
/// How long `run` lets the runtime's remaining tasks and threads finish once the node stopped.
const RUNTIME_SHUTDOWN_BOUND: Duration = Duration::from_secs(1);

#[derive(Parser, Debug)]
#[command(
    name = "herald-node",
    version,
    about = "Herald gateway node: a mail domain's transparency log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a node: keys, a documented configuration file and an empty log in a new directory.
    Init(InitArgs),
    /// Run the node until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Show the running node's status, or what its data directory holds.
    Status(StatusArgs),
    /// Register, unregister or list peer domains (the gateways this one trusts and witnesses).
    #[command(subcommand)]
    Peer(admin::PeerCommand),
    /// List the split-view alerts (equivocation proofs) this node holds.
    Alerts(admin::AlertsArgs),
    /// Enrol, disable or list this domain's accounts (the local CA).
    #[command(subcommand)]
    Account(accounts::AccountCommand),
}

#[derive(Args, Debug)]
struct InitArgs {
    /// The mail domain this gateway serves (its log is `<domain>/herald`).
    #[arg(long)]
    domain: String,
    /// The new data directory; must not exist or be empty.
    #[arg(long)]
    data_dir: PathBuf,
    /// The log's hash, fixed for its lifetime.
    #[arg(long, default_value = HashAlgorithm::DEFAULT.as_str(), value_parser = parse_hash)]
    hash: HashAlgorithm,
    /// libp2p listen addresses to write into the configuration (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    listen: Vec<Multiaddr>,
    /// HTTP listen address to write into the configuration (loopback unless
    /// --http-listen-public).
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// Allow a non-loopback --http-listen: the admin API's bearer token then travels in clear
    /// HTTP there (use only behind a firewall or a TLS proxy).
    #[arg(long)]
    http_listen_public: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The configuration file (`herald-node.toml` in the data directory after `init`).
    #[arg(long, env = "HERALD_CONFIG")]
    config: PathBuf,
    #[command(flatten)]
    overrides: Overrides,
}

/// Options that override the configuration file.
#[derive(Args, Debug, Default)]
struct Overrides {
    /// Data directory.
    #[arg(long, env = "HERALD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// libp2p listen addresses (repeat or comma-separate).
    #[arg(long, env = "HERALD_LISTEN", value_delimiter = ',')]
    listen: Vec<Multiaddr>,
    /// HTTP listen address for /metrics, /health, /status and the admin API (loopback unless
    /// http_listen_public).
    #[arg(long, env = "HERALD_HTTP_LISTEN")]
    http_listen: Option<SocketAddr>,
    /// Allow a non-loopback HTTP listen address (the admin token then travels in clear HTTP;
    /// a warning is logged).
    #[arg(long)]
    http_listen_public: bool,
    /// Milliseconds between sequencing rounds.
    #[arg(long, env = "HERALD_SEQUENCE_INTERVAL_MS")]
    sequence_interval_ms: Option<u64>,
    /// Entries that start a round early.
    #[arg(long, env = "HERALD_BATCH_MAX")]
    batch_max: Option<usize>,
    /// Capacity of the submission pool.
    #[arg(long, env = "HERALD_POOL_MAX")]
    pool_max: Option<usize>,
    /// Client requests worked on at once.
    #[arg(long, env = "HERALD_MAX_INFLIGHT_REQUESTS")]
    max_inflight_requests: Option<usize>,
    /// Established inbound libp2p connections at once.
    #[arg(long, env = "HERALD_MAX_INCOMING_CONNECTIONS")]
    max_incoming_connections: Option<u32>,
    /// Established libp2p connections with one peer at once.
    #[arg(long, env = "HERALD_MAX_CONNECTIONS_PER_PEER")]
    max_connections_per_peer: Option<u32>,
    /// Milliseconds one request-response exchange may take.
    #[arg(long, env = "HERALD_REQUEST_TIMEOUT_MS")]
    request_timeout_ms: Option<u64>,
    /// Inbound connections from one IP address still in their handshake at once.
    #[arg(long, env = "HERALD_MAX_PENDING_PER_IP")]
    max_pending_per_ip: Option<u32>,
    /// Milliseconds a new connection has to finish its handshake.
    #[arg(long, env = "HERALD_HANDSHAKE_TIMEOUT_MS")]
    handshake_timeout_ms: Option<u64>,
    /// Entries one client peer may submit per second (0: no limit).
    #[arg(long, env = "HERALD_PEER_SUBMIT_RATE")]
    peer_submit_rate: Option<u64>,
    /// Entries one client peer may submit at once above its rate.
    #[arg(long, env = "HERALD_PEER_SUBMIT_BURST")]
    peer_submit_burst: Option<u64>,
    /// Bytes of entries one client peer may submit per second (0: no limit).
    #[arg(long, env = "HERALD_PEER_SUBMIT_BYTES_RATE")]
    peer_submit_bytes_rate: Option<u64>,
    /// Bytes of entries one client peer may submit at once above its rate.
    #[arg(long, env = "HERALD_PEER_SUBMIT_BYTES_BURST")]
    peer_submit_bytes_burst: Option<u64>,
    /// Log filter when RUST_LOG is not set.
    #[arg(long, env = "HERALD_LOG_LEVEL")]
    log_level: Option<String>,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// The configuration file.
    #[arg(long, env = "HERALD_CONFIG")]
    config: PathBuf,
    /// Print the running node's status as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_hash(s: &str) -> Result<HashAlgorithm, String> {
    s.parse().map_err(|e| format!("{e}"))
}

/// Runs the `herald-node` command line on `args` (the first is the program name).
pub fn main_with_args<I: IntoIterator<Item = OsString>>(args: I) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let result = match cli.command {
        Command::Init(args) => init(args).map(|()| ExitCode::SUCCESS),
        Command::Run(args) => run(args).map(|()| ExitCode::SUCCESS),
        Command::Status(args) => status(args),
        Command::Peer(command) => admin::peer(command).map(|()| ExitCode::SUCCESS),
        Command::Alerts(args) => admin::alerts(args).map(|()| ExitCode::SUCCESS),
        Command::Account(command) => accounts::account(command).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Not `eprintln!`, which panics when stderr cannot be written (a log file on the
            // disk that just filled up): the exit status must still say "failure", not "panic".
            let _ = writeln!(std::io::stderr(), "herald-node: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init(args: InitArgs) -> anyhow::Result<()> {
    let data_dir = std::path::absolute(&args.data_dir)
        .with_context(|| format!("data directory {}", args.data_dir.display()))?;
    let mut config = NodeConfig::new(&args.domain, data_dir);
    config.hash = args.hash;
    if !args.listen.is_empty() {
        config.listen = args.listen;
    }
    if let Some(http) = args.http_listen {
        config.http_listen = http;
    }
    config.http_listen_public = args.http_listen_public;
    config.validate().context("invalid init options")?;
    if let Some(warning) = config.http_exposure_warning() {
        eprintln!("herald-node: warning: {warning}");
    }
    let report = gateway::init(&config)
        .with_context(|| format!("initialising {}", config.data_dir.display()))?;
    println!(
        "initialised {} in {}",
        config.origin(),
        config.data_dir.display()
    );
    println!("config:       {}", report.config_path.display());
    println!("log key:      {}", report.log_key);
    println!("witness key:  {}", report.witness_key);
    println!("peer id:      {}", report.peer_id);
    Ok(())
}

/// Reads the configuration file, resolving a relative `data_dir` against the file's directory.
pub(crate) fn read_config(path: &Path) -> anyhow::Result<NodeConfig> {
    let file = fs::File::open(path).with_context(|| format!("config file {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading config file {}", path.display()))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        bail!("config file {} is larger than 1 MiB", path.display());
    }
    let mut config: NodeConfig =
        toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?;
    if config.data_dir.is_relative() {
        let base = path.parent().unwrap_or(Path::new("."));
        config.data_dir = base.join(&config.data_dir);
    }
    Ok(config)
}

fn apply(config: &mut NodeConfig, o: Overrides) {
    if let Some(v) = o.data_dir {
        config.data_dir = v;
    }
    if !o.listen.is_empty() {
        config.listen = o.listen;
    }
    if let Some(v) = o.http_listen {
        config.http_listen = v;
    }
    if o.http_listen_public {
        config.http_listen_public = true;
    }
    if let Some(v) = o.sequence_interval_ms {
        config.sequence_interval_ms = v;
    }
    if let Some(v) = o.batch_max {
        config.batch_max = v;
    }
    if let Some(v) = o.pool_max {
        config.pool_max = v;
    }
    if let Some(v) = o.max_inflight_requests {
        config.max_inflight_requests = v;
    }
    if let Some(v) = o.max_incoming_connections {
        config.max_incoming_connections = v;
    }
    if let Some(v) = o.max_connections_per_peer {
        config.max_connections_per_peer = v;
    }
    if let Some(v) = o.request_timeout_ms {
        config.request_timeout_ms = v;
    }
    if let Some(v) = o.max_pending_per_ip {
        config.max_pending_per_ip = v;
    }
    if let Some(v) = o.handshake_timeout_ms {
        config.handshake_timeout_ms = v;
    }
    if let Some(v) = o.peer_submit_rate {
        config.peer_submit_rate = v;
    }
    if let Some(v) = o.peer_submit_burst {
        config.peer_submit_burst = v;
    }
    if let Some(v) = o.peer_submit_bytes_rate {
        config.peer_submit_bytes_rate = v;
    }
    if let Some(v) = o.peer_submit_bytes_burst {
        config.peer_submit_bytes_burst = v;
    }
    if let Some(v) = o.log_level {
        config.log_level = v;
    }
}

fn install_tracing(level: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => {
            EnvFilter::try_new(&directives).with_context(|| format!("RUST_LOG={directives:?}"))?
        }
        _ => EnvFilter::try_new(level).with_context(|| format!("log_level {level:?}"))?,
    };
    // Fails only if a subscriber is already installed (an embedding binary's): keep that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // When stderr cannot be written (a log file on a full disk), the default reports that
        // with `eprintln!`, which panics: whichever thread logged would die (reliability review F1).
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    Ok(())
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut config = read_config(&args.config)?;
    apply(&mut config, args.overrides);
    config
        .validate()
        .with_context(|| format!("config file {}", args.config.display()))?;
    install_tracing(&config.log_level)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let outcome = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let terminate = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        // Every signal, for as long as the node runs: the first stops it, a second during the
        // stop ends the wait (the handlers replace the default action, so a signal nobody
        // listens to is lost).
        let signals = futures::stream::unfold((interrupt, terminate), |(mut i, mut t)| async {
            let name = tokio::select! {
                _ = i.recv() => "SIGINT",
                _ = t.recv() => "SIGTERM",
            };
            tracing::info!("{name} received");
            Some((name, (i, t)))
        });
        gateway::run(config, Box::pin(signals))
            .await
            .context("node failed")
    });
    // Threads still blocked in storage that stopped answering (a flush after ENOSPC) must not
    // keep the process alive: give the rest a moment, then exit without them.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_BOUND);
    outcome
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = read_config(&args.config)?;
    let info_path = config.node_info_path();
    let reason = match NodeInfo::read(&info_path) {
        Ok(info) => match fetch_status(info.http_addr) {
            Ok(status) => {
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&status)?);
                } else {
                    print_status(&status, &info);
                }
                return Ok(ExitCode::SUCCESS);
            }
            Err(e) => format!(
                "{} names pid {} at {}, which does not answer: {e:#}",
                info_path.display(),
                info.pid,
                info.http_addr
            ),
        },
        Err(e) => format!("{e}"),
    };
    println!("herald-node is not running ({reason})");
    print_data_dir(&config);
    Ok(ExitCode::from(NOT_RUNNING))
}

fn print_status(s: &NodeStatus, info: &NodeInfo) {
    println!(
        "herald-node is running (pid {}, version {})",
        info.pid, s.version
    );
    println!("origin:       {}", s.origin);
    println!("hash:         {}", s.hash);
    println!("tree size:    {}", s.tree_size);
    println!("root:         {}", s.root);
    println!("log key:      {}", s.log_key);
    println!("witness key:  {}", s.witness_key);
    println!("peer id:      {}", s.peer_id);
    for addr in &s.listen_addrs {
        println!("listening:    {addr}");
    }
    println!("http:         {}", info.http_addr);
    for p in &s.peers {
        let state = if p.connected {
            "connected"
        } else {
            "not connected"
        };
        println!("peer:         {} ({}, {state})", p.domain, p.peer_id);
    }
    for (origin, size) in &s.witnessed {
        println!("witnessed:    {origin} at size {size}");
    }
    match s.cosigned_size {
        Some(size) => println!("cosigned:     size {size}"),
        None => println!("cosigned:     none yet"),
    }
    for origin in &s.distrusted {
        println!("DISTRUSTED:   {origin} (split view; see herald-node alerts)");
    }
    println!("checkpoint:\n{}", s.checkpoint);
}

/// What a stopped node's data directory holds: its public keys and its log head.
fn print_data_dir(config: &NodeConfig) {
    println!("data dir:     {}", config.data_dir.display());
    match NodeKeys::load(&config.key_dir(), &config.domain) {
        Ok(keys) => {
            println!("log key:      {}", keys.log_verifier());
            println!("witness key:  {}", keys.witness_verifier());
            println!("peer id:      {}", keys.peer_id());
        }
        Err(e) => println!("keys:         unreadable: {e}"),
    }
    match gateway::stored_head(config) {
        Ok(head) if head.checkpoint.is_empty() => {
            println!("tree size:    {} (no checkpoint signed yet)", head.size);
        }
        Ok(head) => {
            println!("tree size:    {}", head.size);
            println!("checkpoint:\n{}", String::from_utf8_lossy(&head.checkpoint));
        }
        Err(e) => println!("log:          unreadable: {e:#}"),
    }
}

/// `GET /status` from the node's HTTP listener, bounded in time and size.
fn fetch_status(addr: SocketAddr) -> anyhow::Result<NodeStatus> {
    let node = NodeClient::new(addr).with_bounds(STATUS_TIMEOUT, MAX_STATUS_BYTES);
    Ok(admin::block_on(node.status())??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("herald-node.toml");
        let mut base = NodeConfig::new("alpha.test", "data");
        base.batch_max = 10;
        fs::write(&path, base.to_toml()).unwrap();
        let mut config = read_config(&path).unwrap();
        assert_eq!(config.data_dir, dir.path().join("data"));
        let cli = Cli::try_parse_from([
            "herald-node",
            "run",
            "--config",
            "x",
            "--batch-max",
            "7",
            "--listen",
            "/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/udp/0/quic-v1",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        apply(&mut config, args.overrides);
        assert_eq!(config.batch_max, 7);
        assert_eq!(config.listen.len(), 2);
        assert_eq!(config.pool_max, base.pool_max);
    }
}
