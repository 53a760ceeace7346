//! `herald-node peer add|remove|list` and `herald-node alerts`.
//!
//! With the node running (its `node.json` names an HTTP listener that answers), these are admin
//! API calls with the bearer token from `<data_dir>/admin.token`. Otherwise they open the
//! stopped node's database (which fails if another process holds it) and use the same types the
//! node uses: [`PeerRegistry`] and [`AlertBook`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::read_config;
use crate::admin::{AlertRecord, AlertReport, PeerAdded, PeerList, PeerRemoved, ensure_token};
use crate::config::NodeConfig;
use crate::gateway::NodeInfo;
use crate::keys::NodeKeys;
use crate::node_client::NodeClient;
use crate::peers::{PeerDomain, PeerRecord, PeerRegistry};
use crate::store::LogStore;
use crate::watch::alerts::AlertBook;

/// How long one admin call may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest admin answer read.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

#[derive(Subcommand, Debug)]
pub(super) enum PeerCommand {
    /// Register a peer domain (or replace the registration of its domain).
    Add(PeerAddArgs),
    /// Unregister a peer domain.
    Remove(PeerRemoveArgs),
    /// List the registered peer domains.
    List(PeerListArgs),
}

#[derive(Args, Debug)]
pub(super) struct PeerAddArgs {
    /// The configuration file.
    #[arg(long, env = "HERALD_CONFIG")]
    config: PathBuf,
    /// The peer's mail domain.
    #[arg(long)]
    domain: String,
    /// The peer log's verifier key (`<domain>/herald+...`).
    #[arg(long)]
    log_key: String,
    /// The peer witness's verifier key.
    #[arg(long)]
    witness_key: String,
    /// The peer's libp2p peer id.
    #[arg(long)]
    peer_id: String,
    /// A TCP or QUIC multiaddr of the peer (repeat or comma-separate).
    #[arg(long = "addr", value_delimiter = ',')]
    addrs: Vec<String>,
    /// The peer log's hash: sha256 or blake3.
    #[arg(long, default_value = herald_proto::merkle::HashAlgorithm::DEFAULT.as_str())]
    hash: String,
}

#[derive(Args, Debug)]
pub(super) struct PeerRemoveArgs {
    /// The configuration file.
    #[arg(long, env = "HERALD_CONFIG")]
    config: PathBuf,
    /// The peer's mail domain.
    #[arg(long)]
    domain: String,
}

#[derive(Args, Debug)]
pub(super) struct PeerListArgs {
    /// The configuration file.
    #[arg(long, env = "HERALD_CONFIG")]
    config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub(super) struct AlertsArgs {
    /// The configuration file.
    #[arg(long, env = "HERALD_CONFIG")]
    config: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The running node's admin API, if it runs and answers.
pub(super) fn running_node(config: &NodeConfig) -> Option<NodeClient> {
    let info = NodeInfo::read(&config.node_info_path()).ok()?;
    let node = NodeClient::new(info.http_addr).with_bounds(ADMIN_TIMEOUT, MAX_ANSWER_BYTES);
    // Any answer, even 503, says a node listens there.
    block_on(node.healthy()).ok()?.ok()?;
    let token = ensure_token(&config.admin_token_path()).ok()?;
    Some(node.with_token(token))
}

/// Runs one call to the node from the (synchronous) CLI on a runtime of its own.
pub(super) fn block_on<T>(call: impl Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    Ok(runtime.block_on(call))
}

/// An admin call that must answer 2xx with a `T`.
pub(super) fn call_json<T: DeserializeOwned>(
    node: &NodeClient,
    method: &str,
    path: &str,
    body: Option<&impl Serialize>,
) -> anyhow::Result<T> {
    Ok(block_on(node.admin(method, path, body))??)
}

/// The stopped node's registry, opened through its log store.
fn offline_registry(config: &NodeConfig) -> anyhow::Result<(LogStore, PeerRegistry)> {
    let store = LogStore::open(config.store_dir()).with_context(|| {
        format!(
            "opening {} (is the node running?)",
            config.store_dir().display()
        )
    })?;
    let keys = NodeKeys::load(&config.key_dir(), &config.domain)?;
    let registry = PeerRegistry::open(store.db(), &config.domain, keys.peer_id())
        .context("opening the peer registry")?;
    Ok((store, registry))
}

pub(super) fn peer(command: PeerCommand) -> anyhow::Result<()> {
    match command {
        PeerCommand::Add(a) => {
            let config = read_config(&a.config)?;
            let record = PeerRecord {
                domain: a.domain,
                log_key: a.log_key,
                witness_key: a.witness_key,
                hash: a.hash,
                peer_id: a.peer_id,
                addrs: a.addrs,
            };
            let peer = PeerDomain::from_record(&record).context("invalid peer")?;
            let replaced = match running_node(&config) {
                Some(node) => {
                    call_json::<PeerAdded>(&node, "POST", "/admin/peers", Some(&record))?.replaced
                }
                None => {
                    let (store, registry) = offline_registry(&config)?;
                    let replaced = registry.add(peer)?;
                    drop(store);
                    replaced
                }
            };
            let verb = if replaced { "replaced" } else { "registered" };
            println!("{verb} {}", record.domain);
        }
        PeerCommand::Remove(a) => {
            // It becomes part of an HTTP request line: only a domain name may get there.
            if !crate::peers::valid_domain(&a.domain) {
                bail!("{:?} is not a valid domain name", a.domain);
            }
            let config = read_config(&a.config)?;
            match running_node(&config) {
                Some(node) => {
                    let path = format!("/admin/peers/{}", a.domain);
                    call_json::<PeerRemoved>(&node, "DELETE", &path, None::<&()>)?;
                }
                None => {
                    let (_store, registry) = offline_registry(&config)?;
                    if !registry.remove(&a.domain)? {
                        bail!("{} is not registered", a.domain);
                    }
                }
            }
            println!("removed {}", a.domain);
        }
        PeerCommand::List(a) => {
            let config = read_config(&a.config)?;
            let peers = match running_node(&config) {
                Some(node) => {
                    call_json::<PeerList>(&node, "GET", "/admin/peers", None::<&()>)?.peers
                }
                None => {
                    let (_store, registry) = offline_registry(&config)?;
                    registry.list().iter().map(PeerDomain::to_record).collect()
                }
            };
            if a.json {
                println!("{}", serde_json::to_string_pretty(&PeerList { peers })?);
            } else if peers.is_empty() {
                println!("no peer registered");
            } else {
                for p in peers {
                    println!("{}", p.domain);
                    println!("  log key:      {}", p.log_key);
                    println!("  witness key:  {}", p.witness_key);
                    println!("  hash:         {}", p.hash);
                    println!("  peer id:      {}", p.peer_id);
                    for addr in &p.addrs {
                        println!("  address:      {addr}");
                    }
                }
            }
        }
    }
    Ok(())
}

pub(super) fn alerts(args: AlertsArgs) -> anyhow::Result<()> {
    let config = read_config(&args.config)?;
    let report = match running_node(&config) {
        Some(node) => call_json::<AlertReport>(&node, "GET", "/admin/alerts", None::<&()>)?,
        None => {
            let store = LogStore::open(config.store_dir()).with_context(|| {
                format!(
                    "opening {} (is the node running?)",
                    config.store_dir().display()
                )
            })?;
            let book = AlertBook::open(store.db()).context("opening the alerts")?;
            AlertReport {
                alerts: book.list(None, 256)?.iter().map(AlertRecord::of).collect(),
                distrusted: book.distrusted(),
            }
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if report.alerts.is_empty() {
        println!("no split-view alert");
        return Ok(());
    }
    for origin in &report.distrusted {
        println!("DISTRUSTED: {origin}");
    }
    for a in &report.alerts {
        println!(
            "\n{} equivocated ({}); log key {}",
            a.origin, a.evidence, a.log_key
        );
        println!("first checkpoint:\n{}", a.first);
        println!("second checkpoint:\n{}", a.second);
        println!("proof (herald.v1.Equivocation, base64): {}", a.proof);
    }
    Ok(())
}
