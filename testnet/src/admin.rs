//! The testnet's use of the nodes' admin API (`herald_node::admin`): registering every domain with every
//! other, waiting until they are connected, and the fault controls that need the node's help —
//! partitions (the block list) and equivocation (the `test_hooks` fork switch).
//!
//! The block list lives in the node's memory: a restarted node has none (it is healed on its
//! side; its peers may still block it until [`Testnet::heal`]).

use std::time::Duration;

use herald_node::admin::{AlertReport, BlockList, BlockRequest, ForkReport};
use herald_node::node_client::NodeClient;
use herald_node::peers::PeerRecord;
use herald_node::routes::NodeStatus;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::TestnetError;
use crate::node::TestnetNode;
use crate::testnet::Testnet;
use crate::{node_api, wait};

impl TestnetNode {
    /// One admin call: `method path` with the node's bearer token and `body` as JSON; the
    /// answer, which must be 2xx, parsed.
    pub async fn admin<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, TestnetError> {
        NodeClient::new(self.http_addr())
            .with_token(self.admin_token()?)
            .admin(method, path, body)
            .await
            .map_err(|e| node_api::testnet_error(e, Some(self.domain())))
    }

    /// How the node's peers register it: keys, hash, peer id and listen addresses.
    pub fn peer_record(&self) -> PeerRecord {
        PeerRecord {
            domain: self.domain().to_owned(),
            log_key: self.log_key().to_string(),
            witness_key: self.witness_key().to_string(),
            hash: self.hash().as_str().to_owned(),
            peer_id: self.peer_id().to_string(),
            addrs: self.listen_addrs().iter().map(|a| a.to_string()).collect(),
        }
    }
}

impl Testnet {
    /// Registers every node with every other (`POST /admin/peers`).
    pub(crate) async fn register_peers(&self) -> Result<(), TestnetError> {
        for node in self.nodes() {
            for peer in self.nodes().iter().filter(|p| p.domain() != node.domain()) {
                let _: serde_json::Value = node
                    .admin("POST", "/admin/peers", Some(&peer.peer_record()))
                    .await?;
            }
        }
        Ok(())
    }

    /// Waits (at most `bound`) until every running node reports a connection to every other
    /// running node in its `/status`.
    pub async fn wait_connected(&self, bound: Duration) -> Result<(), TestnetError> {
        let running: Vec<&TestnetNode> = self.nodes().iter().filter(|n| n.is_running()).collect();
        let connected = wait::until(bound, wait::PROBE_EVERY, || async {
            for node in &running {
                let status = node_api::status(node.http_addr())
                    .await
                    .map_err(|e| e.to_string())?;
                for peer in running.iter().filter(|p| p.domain() != node.domain()) {
                    if !is_connected(&status, &peer.peer_id().to_string()) {
                        return Err(format!(
                            "{} is not connected to {}",
                            node.domain(),
                            peer.domain()
                        ));
                    }
                }
            }
            Ok(())
        })
        .await;
        connected.map_err(|last| {
            let first = running.first().copied();
            TestnetError::Timeout {
                domain: first.map(|n| n.domain().to_owned()).unwrap_or_default(),
                what: format!(
                    "all nodes connected ({})",
                    last.unwrap_or_else(|| "no answer".into())
                ),
                after: bound,
                log: first.map(|n| n.log_path()).unwrap_or_default(),
            }
        })
    }

    /// Cuts node `i` off from its peers: it blocks every registered peer, and every other
    /// running node blocks it. Clients and other unregistered peers still reach it.
    pub async fn cut(&self, i: usize) -> Result<(), TestnetError> {
        let cut = self.checked(i)?;
        let _: BlockList = cut
            .admin(
                "POST",
                "/admin/blocklist",
                Some(&BlockRequest {
                    peers: Vec::new(),
                    all: true,
                }),
            )
            .await?;
        let victim = cut.peer_id().to_string();
        for other in self.others_running(i) {
            let _: BlockList = other
                .admin(
                    "POST",
                    "/admin/blocklist",
                    Some(&BlockRequest {
                        peers: vec![victim.clone()],
                        all: false,
                    }),
                )
                .await?;
        }
        Ok(())
    }

    /// Undoes [`cut`](Self::cut) of node `i`: it clears its block list, and every other running
    /// node unblocks it (keeping any other block). Does not wait for the connections; see
    /// [`wait_connected`](Self::wait_connected).
    pub async fn heal(&self, i: usize) -> Result<(), TestnetError> {
        let cut = self.checked(i)?;
        let _: BlockList = cut.admin("DELETE", "/admin/blocklist", None::<&()>).await?;
        let victim = cut.peer_id().to_string();
        for other in self.others_running(i) {
            let list: BlockList = other.admin("GET", "/admin/blocklist", None::<&()>).await?;
            if !list.blocked.contains(&victim) {
                continue;
            }
            let _: BlockList = other
                .admin("DELETE", "/admin/blocklist", None::<&()>)
                .await?;
            let rest: Vec<String> = list.blocked.into_iter().filter(|p| *p != victim).collect();
            if !rest.is_empty() {
                let _: BlockList = other
                    .admin(
                        "POST",
                        "/admin/blocklist",
                        Some(&BlockRequest {
                            peers: rest,
                            all: false,
                        }),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Makes node `i`'s log sign, with its real key, a checkpoint that conflicts with its
    /// published one, and publish it (needs `test_hooks`).
    pub async fn fork(&self, i: usize) -> Result<ForkReport, TestnetError> {
        self.checked(i)?
            .admin("POST", "/admin/test/fork", None::<&()>)
            .await
    }

    /// The equivocation proofs node `i` holds and the origins it distrusts.
    pub async fn alerts(&self, i: usize) -> Result<AlertReport, TestnetError> {
        self.checked(i)?
            .admin("GET", "/admin/alerts", None::<&()>)
            .await
    }

    fn others_running(&self, i: usize) -> impl Iterator<Item = &TestnetNode> {
        self.nodes()
            .iter()
            .enumerate()
            .filter(move |(j, n)| *j != i && n.is_running())
            .map(|(_, n)| n)
    }
}

/// Whether `/status` lists `peer_id` as a connected peer.
pub fn is_connected(status: &NodeStatus, peer_id: &str) -> bool {
    status
        .peers
        .iter()
        .any(|p| p.peer_id == peer_id && p.connected)
}
