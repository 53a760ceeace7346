//! [`Testnet`]: N gateway domains on 127.0.0.1, each a real `herald-node` process.
//!
//! `spawn` initialises every domain `dN.test` in `<dir>/dN` with the node library (`init`: keys,
//! configuration, empty log), then starts each as `<binary> node run --config ...`: the testnet
//! binary's hidden `node` subcommand runs the real node command line, so every node is the code
//! an operator runs, in its own process. Ports are chosen by the OS and kept across restarts.
//! Then every domain is registered with every other through the admin API, and `spawn` returns
//! once all are connected (see [`crate::admin`] for that and the partition and fork controls).
//!
//! Ownership: the `Testnet` owns its child processes. Dropping it SIGKILLs and reaps every one
//! (also when a test panics); a test process killed outright is covered by the nodes' own
//! parent watch ([`crate::process::watch_parent_from_env`]). Only [`Testnet::detach`] lets
//! processes outlive it (`herald-testnet up`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use herald_light_client::{ClientConfig, FileCheckpointStore, GatewayClient, LogTrust, TrustedLog};
use herald_node::config::NodeConfig;
use herald_node::gateway;
use herald_node::routes::NodeStatus;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::paep::Argon2Params;

use crate::error::{TestnetError, io_error};
use crate::manifest::{Manifest, ManifestNode};
use crate::node::TestnetNode;
use crate::node_api;

/// How a testnet is built and how long its waits may take.
#[derive(Clone, Debug)]
pub struct TestnetOptions {
    /// Directory holding every node's data directory (`dN`); created if missing. Each `dN`
    /// must be missing or empty.
    pub dir: PathBuf,
    /// The `herald-testnet` executable (it has the hidden `node` subcommand). Tests pass
    /// `env!("CARGO_BIN_EXE_herald-testnet")`; the CLI passes itself.
    pub binary: PathBuf,
    /// Every node's time between sequencing rounds.
    pub sequence_interval: Duration,
    /// Every log's hash.
    pub hash: HashAlgorithm,
    /// How many of its peers' witnesses must cosign a node's checkpoint (`None`: a majority of
    /// its peers, at least 1).
    pub quorum: Option<usize>,
    /// Least time between two cross-logged checkpoints of one peer.
    pub cross_log_interval: Duration,
    /// Enables the nodes' test-only admin calls ([`Testnet::fork`]).
    pub test_hooks: bool,
    /// The nodes' log filter when `RUST_LOG` is not set.
    pub log_level: String,
    /// Start the processes in their own process group without a parent watch, so that they
    /// outlive this process once [`Testnet::detach`]ed.
    pub detached: bool,
    /// Bound on a node's start (process start to `node.json`).
    pub start_timeout: Duration,
    /// Bound on a clean stop after SIGTERM, before SIGKILL.
    pub stop_timeout: Duration,
    /// Bound on a light client's connection.
    pub connect_timeout: Duration,
    /// Bound on one light-client request (a submission waits for a sequencing round).
    pub request_timeout: Duration,
    /// The Argon2id costs every node offers for account passwords (and requires at least):
    /// [`TESTNET_PASSWORD_PARAMS`] by default, since testnet accounts are throwaway and tests
    /// log in often.
    pub password_params: Argon2Params,
    /// Turns the nodes' per-peer submission limits off (`peer_submit_rate` and
    /// `peer_submit_bytes_rate` 0): for benchmarks, whose few clients submit far more than
    /// one user does.
    pub unlimited_submissions: bool,
    /// Every node's mailbox quota, KiB per account (`mailbox_quota_kib`); `None`: the node's
    /// default. Uploads of large mails count against it too.
    pub mailbox_quota_kib: Option<u64>,
}

/// The Argon2id costs a testnet's nodes offer for passwords: 1 MiB and 1 pass, cheap enough for
/// tests that log in many times. Never for a real gateway (its default is RFC 9106's 64 MiB).
pub const TESTNET_PASSWORD_PARAMS: (u32, u32, u32) = (1024, 1, 1);

impl TestnetOptions {
    /// Options for a testnet in `dir` run by `binary`, with short sequencing rounds (50 ms)
    /// and waits sized for a loaded 2-core machine.
    pub fn new(dir: impl Into<PathBuf>, binary: impl Into<PathBuf>) -> Self {
        TestnetOptions {
            dir: dir.into(),
            binary: binary.into(),
            sequence_interval: Duration::from_millis(50),
            hash: HashAlgorithm::Sha256,
            quorum: None,
            cross_log_interval: Duration::from_secs(30),
            test_hooks: false,
            log_level: "info".into(),
            detached: false,
            start_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
            password_params: testnet_password_params(),
            unlimited_submissions: false,
            mailbox_quota_kib: None,
        }
    }
}

/// [`TESTNET_PASSWORD_PARAMS`] as parameters.
pub fn testnet_password_params() -> Argon2Params {
    let (m, t, p) = TESTNET_PASSWORD_PARAMS;
    // Invariant: the constant is within the bounds every client accepts (a unit test checks).
    Argon2Params::new(m, t, p).unwrap_or(Argon2Params::RECOMMENDED)
}

/// A running testnet (see the module docs).
#[derive(Debug)]
pub struct Testnet {
    options: TestnetOptions,
    nodes: Vec<TestnetNode>,
}

impl Testnet {
    /// Initialises and starts `n_domains` nodes (`d0.test` … in `<dir>/d0` …), registers every
    /// domain with every other (admin API), and returns once every node is connected to every
    /// other. On any failure the nodes already started are killed.
    pub async fn spawn(n_domains: usize, options: TestnetOptions) -> Result<Testnet, TestnetError> {
        if n_domains == 0 {
            return Err(TestnetError::Options(
                "a testnet needs at least one domain".into(),
            ));
        }
        let mut options = options;
        options.dir = std::path::absolute(&options.dir).map_err(io_error(&options.dir))?;
        std::fs::create_dir_all(&options.dir).map_err(io_error(&options.dir))?;
        let mut testnet = Testnet {
            nodes: Vec::with_capacity(n_domains),
            options,
        };
        for i in 0..n_domains {
            let node = init_node(&testnet.options, i, n_domains).await?;
            testnet.nodes.push(node);
        }
        let (binary, detached, bound) = (
            testnet.options.binary.clone(),
            testnet.options.detached,
            testnet.options.start_timeout,
        );
        // Started together: the processes boot in parallel.
        let starts = testnet
            .nodes
            .iter_mut()
            .map(|node| node.start(&binary, detached, bound));
        for outcome in futures::future::join_all(starts).await {
            outcome?;
        }
        if n_domains > 1 {
            testnet.register_peers().await?;
            testnet.wait_connected(bound).await?;
        }
        Ok(testnet)
    }

    /// The options the testnet was built with (`dir` made absolute).
    pub fn options(&self) -> &TestnetOptions {
        &self.options
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes (never, for a spawned testnet).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node, in index order.
    pub fn nodes(&self) -> &[TestnetNode] {
        &self.nodes
    }

    /// Node `i` (`d<i>.test`).
    ///
    /// # Panics
    /// If `i >= len()`, like slice indexing.
    pub fn node(&self, i: usize) -> &TestnetNode {
        &self.nodes[i]
    }

    fn node_mut(&mut self, i: usize) -> Result<&mut TestnetNode, TestnetError> {
        let count = self.nodes.len();
        self.nodes
            .get_mut(i)
            .ok_or(TestnetError::NoSuchNode { index: i, count })
    }

    pub(crate) fn checked(&self, i: usize) -> Result<&TestnetNode, TestnetError> {
        self.nodes.get(i).ok_or(TestnetError::NoSuchNode {
            index: i,
            count: self.nodes.len(),
        })
    }

    /// SIGKILLs node `i` and reaps it: a crash, with no chance to flush or say goodbye.
    pub async fn kill(&mut self, i: usize) -> Result<(), TestnetError> {
        self.node_mut(i)?.kill().await
    }

    /// SIGTERMs node `i` and waits (bounded) for its clean exit.
    pub async fn stop(&mut self, i: usize) -> Result<(), TestnetError> {
        let bound = self.options.stop_timeout;
        self.node_mut(i)?.stop(bound).await
    }

    /// Starts node `i` again after [`kill`](Self::kill) or [`stop`](Self::stop) (a running node
    /// is stopped first), on the same ports, and waits for its `node.json`.
    pub async fn restart(&mut self, i: usize) -> Result<(), TestnetError> {
        let (binary, detached, start, stop) = (
            self.options.binary.clone(),
            self.options.detached,
            self.options.start_timeout,
            self.options.stop_timeout,
        );
        let node = self.node_mut(i)?;
        if node.is_running() {
            node.stop(stop).await?;
        }
        node.start(&binary, detached, start).await
    }

    /// Arms the test-only fault point `fault` in node `i` from its next start on (`None`
    /// disarms it): the node SIGKILLs itself when it reaches that point
    /// ([`herald_node::fault`]). Only the testnet's nodes can be armed.
    pub fn set_fault(
        &mut self,
        i: usize,
        fault: Option<herald_node::fault::FaultPoint>,
    ) -> Result<(), TestnetError> {
        self.node_mut(i)?.set_fault(fault);
        Ok(())
    }

    /// Fails if node `i` is not running, or has exited on its own since it was started.
    pub fn check_alive(&mut self, i: usize) -> Result<(), TestnetError> {
        self.node_mut(i)?.check_alive()
    }

    /// A light-client connection to node `i` (TCP), with the testnet's timeouts.
    pub async fn client(&self, i: usize) -> Result<GatewayClient, TestnetError> {
        self.client_with(i, true).await
    }

    /// [`Testnet::client`], pipelining on `/herald/client-stream/1` or (`pipelined` false)
    /// one `/herald/client/1` substream per request, as a client without streams would.
    pub async fn client_with(
        &self,
        i: usize,
        pipelined: bool,
    ) -> Result<GatewayClient, TestnetError> {
        let node = self.checked(i)?;
        let config = ClientConfig {
            connect_timeout: self.options.connect_timeout,
            request_timeout: self.options.request_timeout,
            pipelined,
            ..ClientConfig::default()
        };
        GatewayClient::connect_with(&node.multiaddr(), &config)
            .await
            .map_err(|source| TestnetError::Client {
                domain: node.domain().to_owned(),
                source: Box::new(source),
            })
    }

    /// The identity a client pins for node `i`'s log: its key and hash.
    pub fn log_identity(&self, i: usize) -> Result<LogTrust, TestnetError> {
        let node = self.checked(i)?;
        Ok(LogTrust::unwitnessed(node.log_key().clone(), node.hash()))
    }

    /// A verifying light client of node `i`'s log, keeping its trusted checkpoint in
    /// `state_dir`.
    pub async fn trusted_log(
        &self,
        i: usize,
        state_dir: &Path,
    ) -> Result<TrustedLog<GatewayClient, FileCheckpointStore>, TestnetError> {
        let client = self.client(i).await?;
        let domain = self.checked(i)?.domain().to_owned();
        TrustedLog::open(
            client,
            self.log_identity(i)?,
            FileCheckpointStore::new(state_dir),
        )
        .map_err(|source| TestnetError::Client {
            domain,
            source: Box::new(source),
        })
    }

    /// Node `i`'s `/status`.
    pub async fn status(&self, i: usize) -> Result<NodeStatus, TestnetError> {
        node_api::status(self.checked(i)?.http_addr()).await
    }

    /// What `testnet.json` says about the running testnet.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            nodes: self
                .nodes
                .iter()
                .map(|n| ManifestNode {
                    domain: n.domain().to_owned(),
                    origin: n.origin(),
                    dir: n.dir().to_owned(),
                    config: n.config_path().to_owned(),
                    log: n.log_path(),
                    pid: n.pid().unwrap_or(0),
                    peer_id: n.peer_id().to_string(),
                    listen_addrs: n.listen_addrs().iter().map(|a| a.to_string()).collect(),
                    http_addr: n.http_addr(),
                    log_key: n.log_key().to_string(),
                    witness_key: n.witness_key().to_string(),
                })
                .collect(),
        }
    }

    /// Lets the processes outlive the `Testnet` (`herald-testnet up`); returns their manifest.
    /// Only meaningful with `detached` options: attached nodes stop when this process exits.
    pub fn detach(mut self) -> Manifest {
        let manifest = self.manifest();
        for node in &mut self.nodes {
            node.release();
        }
        manifest
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill_now();
        }
    }
}

/// Initialises node `i`'s data directory with the node library.
async fn init_node(
    options: &TestnetOptions,
    i: usize,
    n_domains: usize,
) -> Result<TestnetNode, TestnetError> {
    let domain = format!("d{i}.test");
    let mut config = NodeConfig::for_loopback_test(&domain, options.dir.join(format!("d{i}")));
    config.hash = options.hash;
    config.log_level = options.log_level.clone();
    let peers = n_domains.saturating_sub(1);
    config.quorum = options.quorum.unwrap_or(peers / 2 + 1).max(1);
    config.crosslog_interval_ms = millis(options.cross_log_interval);
    config.test_hooks = options.test_hooks;
    config.sequence_interval_ms = millis(options.sequence_interval);
    config.password_memory_kib = options.password_params.memory_kib();
    config.password_iterations = options.password_params.iterations();
    config.password_parallelism = options.password_params.parallelism();
    if options.unlimited_submissions {
        config.peer_submit_rate = 0;
        config.peer_submit_bytes_rate = 0;
    }
    if let Some(kib) = options.mailbox_quota_kib {
        config.mailbox_quota_kib = kib;
    }
    let init_config = config.clone();
    let report = tokio::task::spawn_blocking(move || gateway::init(&init_config))
        .await
        .map_err(|e| TestnetError::Options(format!("init task for {domain}: {e}")))?
        .map_err(|source| TestnetError::Init {
            domain: domain.clone(),
            source: Box::new(source),
        })?;
    Ok(TestnetNode::new(
        config,
        report.config_path,
        report.log_key,
        report.witness_key,
        report.peer_id,
    ))
}

/// Whole milliseconds, at least 1.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_testnet_password_costs_are_within_every_clients_bounds() {
        let (m, t, p) = TESTNET_PASSWORD_PARAMS;
        assert_eq!(
            Argon2Params::new(m, t, p).ok(),
            Some(testnet_password_params())
        );
    }
}
