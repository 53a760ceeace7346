//! One domain of a testnet: its identity (keys, data directory), the addresses it is reached
//! at, and the process running it, if any.
//!
//! Addresses are chosen by the OS at the first start (port 0) and then kept: a restarted node
//! listens on the same TCP, QUIC and HTTP ports, so that its peers' registrations and the
//! clients' addresses stay valid across kills and restarts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use herald_node::config::NodeConfig;
use herald_node::fault::FaultPoint;
use herald_node::gateway::NodeInfo;
use herald_proto::checkpoint::WitnessVerifier;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::NoteVerifier;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use nix::sys::signal::Signal;

use crate::error::{TestnetError, io_error};
use crate::process::{self, Launch};

/// How long a SIGKILLed process may take to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// Largest admin token file read.
const MAX_TOKEN_BYTES: usize = 4096;

/// One domain of the testnet (see the module docs).
#[derive(Debug)]
pub struct TestnetNode {
    domain: String,
    config: NodeConfig,
    config_path: PathBuf,
    log_key: NoteVerifier,
    witness_key: WitnessVerifier,
    peer_id: PeerId,
    /// Bound at the first start (without `/p2p`), reused on every restart.
    listen: Vec<Multiaddr>,
    /// Bound at the first start, reused on every restart.
    http_addr: Option<SocketAddr>,
    /// The running process and the `node.json` it wrote; `None` while stopped.
    running: Option<Running>,
    /// The test-only fault point the next start arms.
    fault: Option<FaultPoint>,
}

#[derive(Debug)]
struct Running {
    child: Child,
    info: NodeInfo,
}

impl TestnetNode {
    /// A node initialised in `config.data_dir` with these keys, not started yet.
    pub(crate) fn new(
        config: NodeConfig,
        config_path: PathBuf,
        log_key: NoteVerifier,
        witness_key: WitnessVerifier,
        peer_id: PeerId,
    ) -> Self {
        TestnetNode {
            domain: config.domain.clone(),
            config,
            config_path,
            log_key,
            witness_key,
            peer_id,
            listen: Vec::new(),
            http_addr: None,
            running: None,
            fault: None,
        }
    }

    /// The mail domain, `dN.test`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The log's origin, `<domain>/herald`.
    pub fn origin(&self) -> String {
        self.config.origin()
    }

    /// The node's data directory.
    pub fn dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The node's configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The node's configuration as initialised.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Where the node's stdout and stderr go.
    pub fn log_path(&self) -> PathBuf {
        process::log_path(&self.config.data_dir)
    }

    /// The log's verifier key (clients pin it).
    pub fn log_key(&self) -> &NoteVerifier {
        &self.log_key
    }

    /// The witness's verifier key (peers register it).
    pub fn witness_key(&self) -> &WitnessVerifier {
        &self.witness_key
    }

    /// The log's hash algorithm.
    pub fn hash(&self) -> HashAlgorithm {
        self.config.hash
    }

    /// The libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The listen addresses (TCP and QUIC), each ending in `/p2p/<peer id>`; empty before the
    /// first start.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen
            .iter()
            .map(|a| a.clone().with(Protocol::P2p(self.peer_id)))
            .collect()
    }

    /// The TCP listen address with `/p2p/<peer id>`, as clients dial it.
    ///
    /// # Panics
    /// Before the node's first start (a [`crate::Testnet`] starts every node before returning).
    pub fn multiaddr(&self) -> Multiaddr {
        self.listen_addrs()
            .into_iter()
            .find(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
            .expect("a started node listens on TCP (the testnet configures it)")
    }

    /// The QUIC listen address with `/p2p/<peer id>`, if any.
    pub fn quic_multiaddr(&self) -> Option<Multiaddr> {
        self.listen_addrs()
            .into_iter()
            .find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)))
    }

    /// The HTTP listener (`/status`, `/metrics`, `/health`, admin API).
    ///
    /// # Panics
    /// Before the node's first start.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
            .expect("a started node has an HTTP address (the testnet starts every node)")
    }

    /// The admin API's bearer token (`<data_dir>/admin.token`).
    pub fn admin_token(&self) -> Result<String, TestnetError> {
        let path = self.config.data_dir.join("admin.token");
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        if bytes.len() > MAX_TOKEN_BYTES {
            return Err(TestnetError::Manifest {
                path,
                reason: format!("larger than {MAX_TOKEN_BYTES} bytes"),
            });
        }
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.child.id())
    }

    /// Whether the testnet started this node and has not stopped or killed it. (A process that
    /// died on its own still counts until an operation notices.)
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// What the running node wrote to `node.json`.
    pub fn info(&self) -> Option<&NodeInfo> {
        self.running.as_ref().map(|r| &r.info)
    }

    /// Starts the node process and waits (at most `bound`) for its `node.json`. The first start
    /// records the addresses the OS chose; later starts reuse them.
    pub(crate) async fn start(
        &mut self,
        binary: &Path,
        detached: bool,
        bound: Duration,
    ) -> Result<(), TestnetError> {
        if let Some(pid) = self.pid() {
            return Err(TestnetError::AlreadyRunning {
                domain: self.domain.clone(),
                pid,
            });
        }
        let log = self.log_path();
        let mut child = process::spawn(&Launch {
            binary,
            domain: &self.domain,
            config: &self.config_path,
            log: &log,
            listen: &self.listen,
            http_listen: self.http_addr,
            detached,
            fault: self.fault,
        })?;
        let info = match process::wait_for_node_info(
            &mut child,
            &self.domain,
            &self.config.node_info_path(),
            &log,
            bound,
        )
        .await
        {
            Ok(info) => info,
            Err(e) => {
                let _ = child.kill();
                let _ = process::wait_exit(&mut child, KILL_WAIT).await;
                return Err(e);
            }
        };
        if self.listen.is_empty() {
            self.listen = bound_addrs(&info, &self.config_path)?;
            self.http_addr = Some(info.http_addr);
        }
        self.running = Some(Running { child, info });
        Ok(())
    }

    /// SIGKILL, then waits until the process is reaped. A node that had already exited on its
    /// own is reported as [`TestnetError::Exited`] (it is stopped all the same).
    pub(crate) async fn kill(&mut self) -> Result<(), TestnetError> {
        let mut running = self.take_running()?;
        let log = self.log_path();
        // Out of `self` now: on any early error the child is killed here, never left behind.
        let status = running.child.try_wait().map_err(|e| {
            let _ = running.child.kill();
            io_error(&log)(e)
        })?;
        if let Some(status) = status {
            return Err(process::exited(&self.domain, status, &log));
        }
        running.child.kill().map_err(io_error(&log))?;
        match process::wait_exit(&mut running.child, KILL_WAIT)
            .await
            .map_err(io_error(&log))?
        {
            Some(_) => Ok(()),
            None => Err(self.timeout("exit after SIGKILL", KILL_WAIT)),
        }
    }

    /// SIGTERM, then waits at most `bound` for a clean exit (status 0). If the node does not
    /// exit in time it is SIGKILLed and the timeout reported; a non-zero exit is
    /// [`TestnetError::Exited`].
    pub(crate) async fn stop(&mut self, bound: Duration) -> Result<(), TestnetError> {
        let mut running = self.take_running()?;
        let log = self.log_path();
        // Out of `self` now: on any early error the child is killed here, never left behind.
        if let Err(e) = process::send_signal(running.child.id(), Signal::SIGTERM) {
            let _ = running.child.kill();
            return Err(e);
        }
        let status = match process::wait_exit(&mut running.child, bound).await {
            Ok(status) => status,
            Err(e) => {
                let _ = running.child.kill();
                return Err(io_error(&log)(e));
            }
        };
        match status {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(process::exited(&self.domain, status, &log)),
            None => {
                let _ = running.child.kill();
                let _ = process::wait_exit(&mut running.child, KILL_WAIT).await;
                Err(self.timeout("a clean exit after SIGTERM", bound))
            }
        }
    }

    /// Sets the test-only fault point the node arms from its next start on (`None`: none).
    pub(crate) fn set_fault(&mut self, fault: Option<FaultPoint>) {
        self.fault = fault;
    }

    /// Forgets the process without stopping it (detached testnets).
    pub(crate) fn release(&mut self) {
        self.running = None;
    }

    /// SIGKILL and reap, without waiting asynchronously (for `Drop`).
    pub(crate) fn kill_now(&mut self) {
        if let Some(mut running) = self.running.take() {
            let _ = running.child.kill();
            let _ = process::wait_exit_blocking(&mut running.child, KILL_WAIT);
        }
    }

    /// Checks that a node the testnet believes running has not exited on its own.
    pub(crate) fn check_alive(&mut self) -> Result<(), TestnetError> {
        let log = self.log_path();
        let Some(running) = self.running.as_mut() else {
            return Err(TestnetError::NotRunning {
                domain: self.domain.clone(),
            });
        };
        match running.child.try_wait().map_err(io_error(&log))? {
            None => Ok(()),
            Some(status) => {
                self.running = None;
                Err(process::exited(&self.domain, status, &log))
            }
        }
    }

    fn take_running(&mut self) -> Result<Running, TestnetError> {
        self.running.take().ok_or_else(|| TestnetError::NotRunning {
            domain: self.domain.clone(),
        })
    }

    pub(crate) fn timeout(&self, what: &str, after: Duration) -> TestnetError {
        TestnetError::Timeout {
            domain: self.domain.clone(),
            what: what.to_owned(),
            after,
            log: self.log_path(),
        }
    }
}

/// The bound listen addresses of `node.json`, without their `/p2p/<peer id>`.
fn bound_addrs(info: &NodeInfo, config_path: &Path) -> Result<Vec<Multiaddr>, TestnetError> {
    info.listen_addrs
        .iter()
        .map(|text| {
            let mut addr: Multiaddr = text.parse().map_err(|e| TestnetError::Manifest {
                path: config_path.with_file_name("node.json"),
                reason: format!("listen address {text:?}: {e}"),
            })?;
            if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
                addr.pop();
            }
            Ok(addr)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_addresses_lose_their_peer_id() {
        let peer = PeerId::random();
        let info = NodeInfo {
            peer_id: peer.to_string(),
            listen_addrs: vec![
                format!("/ip4/127.0.0.1/tcp/4000/p2p/{peer}"),
                "/ip4/127.0.0.1/udp/4001/quic-v1".into(),
            ],
            http_addr: "127.0.0.1:4002".parse().unwrap(),
            pid: 1,
            origin: "d0.test/herald".into(),
            log_key: String::new(),
        };
        let addrs = bound_addrs(&info, Path::new("/x/herald-node.toml")).unwrap();
        assert_eq!(
            addrs,
            vec![
                "/ip4/127.0.0.1/tcp/4000".parse::<Multiaddr>().unwrap(),
                "/ip4/127.0.0.1/udp/4001/quic-v1".parse().unwrap(),
            ]
        );
        let bad = NodeInfo {
            listen_addrs: vec!["tcp:4000".into()],
            ..info
        };
        assert!(matches!(
            bound_addrs(&bad, Path::new("/x/herald-node.toml")),
            Err(TestnetError::Manifest { .. })
        ));
    }
}
