//! A real gateway started in the test's own process: the one in-process node starter every test
//! of the workspace uses (the node's integration tests, the testnet's in-process tests). It runs
//! the product's [`Gateway`] on 127.0.0.1 with ports chosen by the OS, a temporary data
//! directory, and the same `init` an operator runs; only the sequencing interval is shortened.
//!
//! Behind the `testkit` feature: nothing in the node's binary uses it. Its functions panic with
//! the step that failed, as a test fixture should; none of them takes outside input.

use std::path::Path;
use std::time::Duration;

use herald_proto::note::NoteVerifier;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

use crate::config::NodeConfig;
use crate::gateway::{self, Gateway};
use crate::keys::NodeKeys;
use crate::peers::{PeerDomain, PeerRecord};

/// Every start, stop and HTTP exchange of a test gateway is bounded by this.
pub const START_BOUND: Duration = Duration::from_secs(30);

/// A running gateway, its keys, its configuration and its temporary data directory (removed when
/// the value is dropped).
pub struct TestGateway {
    /// The running node.
    pub gateway: Gateway,
    /// Its keys, as `init` wrote them.
    pub keys: NodeKeys,
    /// The log's verifier key (what clients pin).
    pub log_key: NoteVerifier,
    /// Its configuration. After the start, `listen` and `http_listen` hold the bound addresses,
    /// so a restart listens where this start did.
    pub config: NodeConfig,
    dir: tempfile::TempDir,
}

impl TestGateway {
    /// Initialises and starts a node of `domain` on loopback (TCP and QUIC, HTTP), with 20 ms
    /// sequencing rounds, after `tweak` has changed the configuration.
    ///
    /// # Panics
    /// If the node cannot be initialised or started within [`START_BOUND`].
    pub async fn start(domain: &str, tweak: impl FnOnce(&mut NodeConfig)) -> TestGateway {
        // RUST_LOG=herald_node=debug shows the node's side of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let mut config = NodeConfig::for_loopback_test(domain, dir.path().join("node"));
        // Short rounds keep the tests quick; acknowledgements still wait for a real flush.
        config.sequence_interval_ms = 20;
        tweak(&mut config);
        let init_config = config.clone();
        let report = tokio::task::spawn_blocking(move || gateway::init(&init_config))
            .await
            .expect("the init task")
            .expect("init");
        let keys = NodeKeys::load(&config.key_dir(), domain).expect("the keys init wrote");
        let gateway = Self::run(config.clone()).await;
        config.listen = gateway.listen_addrs().iter().map(without_p2p).collect();
        config.http_listen = gateway.http_addr();
        TestGateway {
            gateway,
            keys,
            log_key: report.log_key,
            config,
            dir,
        }
    }

    async fn run(config: NodeConfig) -> Gateway {
        tokio::time::timeout(START_BOUND, Gateway::start(config))
            .await
            .expect("the node starts in time")
            .expect("the node starts")
    }

    /// Stops the node cleanly and keeps its data directory for [`StoppedGateway::start`].
    ///
    /// # Panics
    /// If the node does not stop cleanly.
    pub async fn stop(self) -> StoppedGateway {
        self.gateway.stop().await.expect("a clean stop");
        StoppedGateway {
            keys: self.keys,
            log_key: self.log_key,
            config: self.config,
            dir: self.dir,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The first listen address on TCP, with `/p2p/<peer id>`.
    ///
    /// # Panics
    /// If the configuration listens on no TCP address.
    pub fn tcp_addr(&self) -> Multiaddr {
        self.listen_addr(false).expect("a TCP listen address")
    }

    /// The first listen address on QUIC, with `/p2p/<peer id>`.
    ///
    /// # Panics
    /// If the configuration listens on no QUIC address.
    pub fn quic_addr(&self) -> Multiaddr {
        self.listen_addr(true).expect("a QUIC listen address")
    }

    fn listen_addr(&self, quic: bool) -> Option<Multiaddr> {
        self.gateway
            .listen_addrs()
            .iter()
            .find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)) == quic)
            .cloned()
    }

    /// The log's origin.
    pub fn origin(&self) -> String {
        self.config.origin()
    }

    /// The record peers register this node with.
    pub fn record(&self) -> PeerRecord {
        PeerRecord {
            domain: self.config.domain.clone(),
            log_key: self.keys.log_verifier().to_string(),
            witness_key: self.keys.witness_verifier().to_string(),
            hash: self.config.hash.as_str().to_owned(),
            peer_id: self.keys.peer_id().to_string(),
            addrs: self.config.listen.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Registers `peer` here, durably, as `herald-node peer add` does.
    ///
    /// # Panics
    /// If the record is invalid or the registry refuses it.
    pub async fn register(&self, peer: &PeerRecord) {
        let registry = self.gateway.peers().clone();
        let peer = PeerDomain::from_record(peer).expect("a valid peer record");
        tokio::task::spawn_blocking(move || registry.add(peer))
            .await
            .expect("the registry task")
            .expect("registered");
    }

    /// The admin API's bearer token.
    ///
    /// # Panics
    /// If the token file cannot be read.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.config.admin_token_path())
            .expect("the admin token file")
            .trim()
            .to_owned()
    }

    /// `GET path` from the node's HTTP listener: status code and body (lossy UTF-8).
    ///
    /// # Panics
    /// If no HTTP answer arrives within [`START_BOUND`].
    pub async fn http_get(&self, path: &str) -> (u16, String) {
        let client = herald_light_client::http::HttpClient::new(START_BOUND, 16 << 20)
            .expect("an HTTP client");
        let url = format!("http://{}{path}", self.gateway.http_addr());
        let answer = client.get(&url).await.expect("an HTTP answer in time");
        (
            answer.status,
            String::from_utf8_lossy(&answer.body).into_owned(),
        )
    }
}

/// A stopped test gateway: its data directory, keys and configuration, ready to start again.
pub struct StoppedGateway {
    /// Its keys.
    pub keys: NodeKeys,
    /// The log's verifier key.
    pub log_key: NoteVerifier,
    /// Its configuration (listening where the first start was bound).
    pub config: NodeConfig,
    dir: tempfile::TempDir,
}

impl StoppedGateway {
    /// Starts the node again on the same data directory and ports.
    ///
    /// # Panics
    /// If the node does not start within [`START_BOUND`].
    pub async fn start(self) -> TestGateway {
        let gateway = TestGateway::run(self.config.clone()).await;
        TestGateway {
            gateway,
            keys: self.keys,
            log_key: self.log_key,
            config: self.config,
            dir: self.dir,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }
}

/// Registers every gateway with every other.
pub async fn register_all(gateways: &[&TestGateway]) {
    for a in gateways {
        for b in gateways {
            if a.config.domain != b.config.domain {
                a.register(&b.record()).await;
            }
        }
    }
}

fn without_p2p(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect()
}
