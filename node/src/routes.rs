//! The node's HTTP routes: `/metrics`, `/health`, `/status`, the admin API under `/admin/`
//! ([`AdminApi`]), the C2SP tlog-tiles read API ([`crate::tlog_tiles`]) and tlog-witness
//! `POST /add-checkpoint` ([`crate::tlog_witness`]), served by [`crate::http`]'s listener through its [`Routes`] trait. The
//! listener knows no route; this file is where the node's parts meet it. `/health` answers 200
//! (`ok`, or `degraded` with reasons) or 503 (`unhealthy` with reasons): see [`crate::health`].

use std::sync::Arc;

use herald_proto::note::b64;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::admin::AdminApi;
use crate::health::Health;
use crate::http::{Method, RequestHead, Response, Routes};
use crate::metrics;
use crate::network::NodeHandle;
use crate::store::{LogHead, LogStore};
use crate::watch::SplitViewWatch;
use crate::witness::WitnessService;
use crate::{tlog_tiles, tlog_witness};

/// What `/status` reports, as JSON. `herald-node status` reads it back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The log's origin, `<domain>/herald`.
    pub origin: String,
    /// The log's hash algorithm.
    pub hash: String,
    /// The latest durable tree size.
    pub tree_size: u64,
    /// Its root, base64.
    pub root: String,
    /// The latest signed checkpoint, verbatim note text.
    pub checkpoint: String,
    /// The libp2p peer id.
    pub peer_id: String,
    /// Listen addresses with `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// The log's verifier key (C2SP), which clients pin.
    pub log_key: String,
    /// The witness's verifier key.
    pub witness_key: String,
    /// The node's version.
    pub version: String,
    /// The registered peer domains and whether each is connected.
    #[serde(default)]
    pub peers: Vec<PeerStatus>,
    /// The latest checkpoint a quorum of the registered witnesses cosigned (verbatim note with
    /// its cosignature lines); empty while there is none.
    #[serde(default)]
    pub cosigned_checkpoint: String,
    /// Its tree size.
    #[serde(default)]
    pub cosigned_size: Option<u64>,
    /// What this node, as a witness, holds for each origin: the size it last cosigned.
    #[serde(default)]
    pub witnessed: std::collections::BTreeMap<String, u64>,
    /// Equivocation proofs held.
    #[serde(default)]
    pub alerts: usize,
    /// Origins distrusted after an equivocation.
    #[serde(default)]
    pub distrusted: Vec<String>,
}

/// A registered peer in `/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The peer's domain.
    pub domain: String,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Whether a connection to it is open.
    pub connected: bool,
}

/// The parts of `/status` that do not change while the node runs.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    /// The log's origin.
    pub origin: String,
    /// The log's hash algorithm.
    pub hash: String,
    /// The log's verifier key string.
    pub log_key: String,
    /// The witness's verifier key string.
    pub witness_key: String,
}

/// The node's routes: `/metrics`, `/health`, `/status`, and `/admin/...` ([`AdminApi`]).
#[derive(Clone)]
pub struct NodeRoutes {
    /// The registry every part registered its metrics in.
    pub registry: Arc<Registry>,
    /// The network worker.
    pub node: NodeHandle,
    /// The sequencer's latest durable head.
    pub heads: watch::Receiver<LogHead>,
    /// What does not change.
    pub identity: Arc<NodeIdentity>,
    /// The log (its cosigned checkpoint).
    pub store: LogStore,
    /// The witness service (held sizes).
    pub witness: WitnessService,
    /// The split-view watch (peers, alerts).
    pub watch: SplitViewWatch,
    /// The admin API.
    pub admin: Arc<AdminApi>,
    /// What `/health` reports beyond the sequencer and the network worker being alive.
    pub health: Health,
    /// Full tiles and bundles as answered before ([`tlog_tiles::ServedTiles`]).
    pub served_tiles: Arc<tlog_tiles::ServedTiles>,
}

impl NodeRoutes {
    /// `/health`: the level and its reasons ([`crate::health`]).
    fn health(&self) -> Response {
        // `has_changed` fails once the sequencer has dropped its end.
        let sequencer_running = self.heads.has_changed().is_ok();
        self.health
            .report(self.node.is_running(), sequencer_running)
            .response()
    }

    async fn status(&self) -> NodeStatus {
        let head = self.heads.borrow().clone();
        let listen_addrs = self.node.listen_addrs().await.unwrap_or_default();
        let connected = self.node.connected_peers().await.unwrap_or_default();
        let peers = self
            .watch
            .peers()
            .snapshot()
            .iter()
            .map(|p| PeerStatus {
                domain: p.domain.clone(),
                peer_id: p.peer_id.to_string(),
                connected: connected.contains(&p.peer_id),
            })
            .collect();
        let (store, witness, watch) =
            (self.store.clone(), self.witness.clone(), self.watch.clone());
        let stored = tokio::task::spawn_blocking(move || {
            let cosigned = store.cosigned().ok().flatten().unwrap_or_default();
            let held = witness.held_sizes().unwrap_or_default();
            // `len` walks the sled tree: here, not on the async thread.
            let alerts = watch.alerts().len();
            (cosigned, held, alerts)
        })
        .await;
        let (cosigned, held, alert_count) = stored.unwrap_or_default();
        let cosigned_size = herald_proto::note::SignedNote::parse(&cosigned)
            .ok()
            .and_then(|n| herald_proto::checkpoint::Checkpoint::parse_body(n.text()).ok())
            .map(|c| c.size);
        NodeStatus {
            origin: self.identity.origin.clone(),
            hash: self.identity.hash.clone(),
            tree_size: head.size,
            root: b64(&head.root),
            checkpoint: String::from_utf8_lossy(&head.checkpoint).into_owned(),
            peer_id: self.node.peer_id().to_string(),
            listen_addrs: listen_addrs.iter().map(|a| a.to_string()).collect(),
            log_key: self.identity.log_key.clone(),
            witness_key: self.identity.witness_key.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            peers,
            cosigned_checkpoint: String::from_utf8_lossy(&cosigned).into_owned(),
            cosigned_size,
            witnessed: held.into_iter().collect(),
            alerts: alert_count,
            distrusted: self.watch.alerts().distrusted(),
        }
    }
}

impl Routes for NodeRoutes {
    async fn get(&self, path: &str) -> Response {
        if tlog_tiles::serves(path) {
            // A full tile or bundle answered before is answered again from memory, here;
            // anything else reads the store on the blocking pool.
            if let Some(held) = tlog_tiles::get_served(&self.served_tiles, path) {
                return held;
            }
            let (store, served, path) = (
                self.store.clone(),
                self.served_tiles.clone(),
                path.to_owned(),
            );
            return tokio::task::spawn_blocking(move || tlog_tiles::get(&store, &served, &path))
                .await
                .unwrap_or_else(|_| Response::text(500, "tile read failed\n"));
        }
        match path {
            "/metrics" => Response::new(
                200,
                metrics::CONTENT_TYPE,
                metrics::render(&self.registry).into_bytes(),
            ),
            "/health" => self.health(),
            "/status" => {
                let status = self.status().await;
                match serde_json::to_vec_pretty(&status) {
                    Ok(body) => Response::new(200, "application/json", body),
                    Err(_) => Response::text(503, "status unavailable\n"),
                }
            }
            _ => Response::text(404, "not found\n"),
        }
    }

    fn admit(&self, head: &RequestHead) -> Result<usize, Response> {
        if AdminApi::serves(&head.path) {
            return self.admin.admit(head);
        }
        if tlog_witness::serves(&head.path) {
            return tlog_witness::admit(head);
        }
        match head.method {
            Method::Get | Method::Head => Ok(0),
            _ => Err(Response::text(405, "only GET and HEAD\n")),
        }
    }

    async fn call(&self, head: RequestHead, body: Vec<u8>) -> Response {
        if AdminApi::serves(&head.path) {
            return self.admin.call(head, body).await;
        }
        if tlog_witness::serves(&head.path) {
            return tlog_witness::add_checkpoint(&self.witness, &body).await;
        }
        self.get(&head.path).await
    }
}
