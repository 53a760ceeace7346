//! What the witnessing tests share: in-process gateways on 127.0.0.1 (ports from the OS,
//! temporary data directories) that can be registered with each other and restarted on the same
//! ports; a fake log (a tree in memory, a real log key) that speaks `/herald/witness/1` to a
//! node as a registered peer would; an HTTP helper for the admin API; bounded waits.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt as _;
use herald_light_client::net::{self, WITNESS_PROTOCOL, WitnessCodec};
use herald_node::config::NodeConfig;
use herald_node::keys::NodeKeys;
use herald_node::peers::PeerRecord;
use herald_node::testkit::{self, StoppedGateway, TestGateway};
use herald_proto::checkpoint::Checkpoint;
use herald_proto::merkle::{
    AnyHasher, Hash, HashAlgorithm, LogHasher as _, MemoryHashes, consistency_proof, tree_root,
};
use herald_proto::wire::pb::{self, add_checkpoint_response, witness_refusal::Reason};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};

/// Every wait in these tests is bounded by this.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// Polls `check` every 50 ms until it holds; panics naming `what` after `WAIT`.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running gateway (the workspace's one in-process starter, [`TestGateway`]) with the views
/// the witnessing tests read: what it cosigned, holds and distrusts.
pub(crate) struct Domain(TestGateway);

impl std::ops::Deref for Domain {
    type Target = TestGateway;

    fn deref(&self) -> &TestGateway {
        &self.0
    }
}

impl Domain {
    /// Initialises and starts a node of `domain`: loopback TCP only, 20 ms rounds, 3 s peer
    /// requests, `tweak` applied to the configuration.
    pub(crate) async fn start(domain: &str, tweak: impl FnOnce(&mut NodeConfig)) -> Domain {
        Domain(
            TestGateway::start(domain, |config| {
                config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr")];
                config.request_timeout_ms = 3_000;
                tweak(config);
            })
            .await,
        )
    }

    /// Stops the node (cleanly) and keeps its directory.
    pub(crate) async fn stop(self) -> StoppedDomain {
        StoppedDomain(self.0.stop().await)
    }

    /// The TCP address with `/p2p/<peer id>`.
    pub(crate) fn addr(&self) -> Multiaddr {
        self.tcp_addr()
    }

    /// The stored cosigned checkpoint note, if any.
    pub(crate) fn cosigned(&self) -> Option<Vec<u8>> {
        self.gateway.store().cosigned().expect("meta read")
    }

    /// The tree size of the stored cosigned checkpoint, if any.
    pub(crate) fn cosigned_size(&self) -> Option<u64> {
        let note = self.cosigned()?;
        let parsed = herald_proto::note::SignedNote::parse(&note).expect("a note");
        Some(
            Checkpoint::parse_body(parsed.text())
                .expect("a checkpoint")
                .size,
        )
    }

    /// The log's entries from index `start` to its head, decoded. A gateway registered with
    /// peers appends their cosigned checkpoints (`WitnessedCheckpoint`) on its own, so a test
    /// that checks what was appended reads the kinds here rather than comparing tree sizes.
    pub(crate) fn entries_from(&self, start: u64) -> Vec<pb::LogEntry> {
        let size = self.gateway.head().size;
        let mut out = Vec::new();
        let mut at = start;
        while at < size {
            let page = self.gateway.store().entries(at, 256).expect("entries");
            at += page.len() as u64;
            out.extend(page.iter().map(|bytes| {
                herald_proto::wire::decode_valid::<pb::LogEntry>(bytes).expect("a log entry")
            }));
        }
        out
    }

    /// Whether the log gained anything from index `start` on besides peers' cross-logged
    /// checkpoints.
    pub(crate) fn appended_besides_crosslog(&self, start: u64) -> bool {
        self.entries_from(start)
            .iter()
            .any(|e| !matches!(e.kind, Some(pb::log_entry::Kind::WitnessedCheckpoint(_))))
    }

    /// What this witness holds for `origin`.
    pub(crate) fn held(&self, origin: &str) -> Option<(u64, [u8; 32])> {
        self.gateway.witness().held(origin).expect("witness state")
    }

    /// Whether this node distrusts `origin`.
    pub(crate) fn distrusts(&self, origin: &str) -> bool {
        self.gateway.watch().alerts().is_distrusted(origin)
    }

    /// `GET /status` as JSON.
    pub(crate) async fn status(&self) -> serde_json::Value {
        let (code, body) = http(self.gateway.http_addr(), "GET", "/status", None, None).await;
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).expect("status JSON")
    }

    /// `/metrics`.
    pub(crate) async fn metrics(&self) -> String {
        http(self.gateway.http_addr(), "GET", "/metrics", None, None)
            .await
            .1
    }
}

/// A stopped node's directory and configuration.
pub(crate) struct StoppedDomain(StoppedGateway);

impl std::ops::Deref for StoppedDomain {
    type Target = StoppedGateway;

    fn deref(&self) -> &StoppedGateway {
        &self.0
    }
}

impl std::ops::DerefMut for StoppedDomain {
    fn deref_mut(&mut self) -> &mut StoppedGateway {
        &mut self.0
    }
}

impl StoppedDomain {
    /// Starts it again, on the same ports.
    pub(crate) async fn start(self) -> Domain {
        Domain(self.0.start().await)
    }
}

/// Registers every domain with every other.
pub(crate) async fn register_all(domains: &[&Domain]) {
    let gateways: Vec<&TestGateway> = domains.iter().map(|d| &d.0).collect();
    testkit::register_all(&gateways).await;
}

/// The sum of a metric's samples (every label set) in a Prometheus page.
pub(crate) fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let value = match rest.chars().next()? {
                ' ' => rest.trim(),
                '{' => rest.rsplit_once('}')?.1.trim(),
                _ => return None,
            };
            value.parse::<f64>().ok()
        })
        .sum()
}

/// One HTTP exchange: status and body.
pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, String) {
    let client = herald_light_client::http::HttpClient::new(WAIT, 16 << 20).expect("client");
    let url = format!("http://{addr}{path}");
    let request = herald_light_client::http::HttpRequest {
        method,
        url: &url,
        bearer: token,
        body: body.map(|b| ("application/json", b)),
    };
    let answer = client.send(request).await.expect("an HTTP answer");
    (
        answer.status,
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

/// A log that lives in the test: a real log key (`NodeKeys` of a domain), leaves in memory.
#[derive(Clone)]
pub(crate) struct FakeLog {
    pub keys: NodeKeys,
    pub domain: String,
    pub leaves: Vec<Hash>,
}

fn hasher() -> AnyHasher {
    AnyHasher(HashAlgorithm::Blake3)
}

impl FakeLog {
    /// The log of `domain` with keys from `seed`, holding `size` leaves.
    pub(crate) fn new(domain: &str, seed: u8, size: u64) -> Self {
        let keys = NodeKeys::from_seeds(domain, [[seed; 32], [seed + 1; 32], [seed + 2; 32]])
            .expect("test keys");
        let mut log = FakeLog {
            keys,
            domain: domain.into(),
            leaves: Vec::new(),
        };
        log.grow_to(size);
        log
    }

    /// Appends leaves up to `size`.
    pub(crate) fn grow_to(&mut self, size: u64) {
        while (self.leaves.len() as u64) < size {
            let i = self.leaves.len();
            let leaf = hasher().hash_leaf(format!("{} entry {i}", self.domain).as_bytes());
            self.leaves.push(leaf);
        }
    }

    /// The same log with leaf `index` replaced (a fork).
    pub(crate) fn forked_at(&self, index: usize) -> Self {
        let mut fork = self.clone();
        fork.leaves[index] = hasher().hash_leaf(b"rewritten history");
        fork
    }

    /// The record a witness registers this log with (its peer id is the test client's).
    pub(crate) fn record(&self) -> PeerRecord {
        PeerRecord {
            domain: self.domain.clone(),
            log_key: self.keys.log_verifier().to_string(),
            witness_key: self.keys.witness_verifier().to_string(),
            hash: "blake3".into(),
            peer_id: self.keys.peer_id().to_string(),
            addrs: Vec::new(),
        }
    }

    pub(crate) fn origin(&self) -> String {
        format!("{}/herald", self.domain)
    }

    fn model(&self, size: u64) -> MemoryHashes {
        MemoryHashes::from_leaf_hashes(&hasher(), self.leaves[..size as usize].iter().copied()).0
    }

    /// The root of the first `size` leaves.
    pub(crate) fn root(&self, size: u64) -> Hash {
        tree_root(&hasher(), &self.model(size), size).expect("root")
    }

    /// The signed checkpoint note of the first `size` leaves.
    pub(crate) fn checkpoint(&self, size: u64) -> Vec<u8> {
        Checkpoint {
            origin: self.origin(),
            size,
            root: self.root(size),
        }
        .sign(&self.keys.log)
        .expect("sign")
        .to_string()
        .into_bytes()
    }

    /// The consistency proof from `old` to `new` leaves (empty from 0 or between equal sizes).
    pub(crate) fn proof(&self, old: u64, new: u64) -> Vec<Vec<u8>> {
        if old == 0 || old == new {
            return Vec::new();
        }
        consistency_proof(&hasher(), &self.model(new), old, new)
            .expect("proof")
            .iter()
            .map(|h| h.to_vec())
            .collect()
    }

    /// The answer to an inclusion request for leaf `index` in the tree of `size` leaves.
    pub(crate) fn inclusion(&self, index: u64, size: u64) -> pb::InclusionAnswer {
        let hashes =
            herald_proto::merkle::inclusion_proof(&hasher(), &self.model(size), index, size)
                .expect("a leaf of the tree");
        pb::InclusionAnswer {
            proof: Some(pb::InclusionProof::new(index, size, &hashes)),
            leaf_hash: self.leaves[index as usize].to_vec(),
        }
    }

    /// A well-formed request to cosign size `new`, proving it from `old`.
    pub(crate) fn request(&self, old: u64, new: u64) -> pb::AddCheckpointRequest {
        pb::AddCheckpointRequest {
            old_size: old,
            consistency_proof: self.proof(old, new),
            checkpoint: self.checkpoint(new),
        }
    }
}

/// A witness answer, classified.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A cosignature line.
    Cosigned(String),
    /// A refusal and the held size.
    Refused(Reason, u64),
    /// The exchange failed below the protocol.
    Failed(String),
}

impl Answer {
    pub(crate) fn reason(&self) -> Option<Reason> {
        match self {
            Answer::Refused(r, _) => Some(*r),
            _ => None,
        }
    }
}

/// A libp2p peer that calls `/herald/witness/1` with a chosen identity.
pub(crate) struct WitnessClient {
    swarm: Swarm<request_response::Behaviour<WitnessCodec>>,
    node: PeerId,
}

impl WitnessClient {
    /// Connects to the node at `addr` (ending in `/p2p/`) as `identity`.
    pub(crate) async fn connect(identity: Keypair, addr: Multiaddr) -> Self {
        let node = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => peer,
            _ => panic!("{addr} has no /p2p/ part"),
        };
        let mut swarm = net::build_swarm(identity, Duration::from_secs(60), |_| {
            Ok(request_response::Behaviour::with_codec(
                WitnessCodec::new(),
                [(WITNESS_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
            ))
        })
        .expect("swarm");
        swarm.add_peer_address(node, addr);
        WitnessClient { swarm, node }
    }

    /// Sends one request and waits for the answer.
    pub(crate) async fn send(&mut self, request: pb::AddCheckpointRequest) -> Answer {
        let id = self
            .swarm
            .behaviour_mut()
            .send_request(&self.node, Ok(request));
        tokio::time::timeout(WAIT, async {
            loop {
                match self.swarm.select_next_some().await {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message:
                            request_response::Message::Response {
                                request_id,
                                response,
                            },
                        ..
                    }) if request_id == id => return classify(response),
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                        request_id,
                        error,
                        ..
                    }) if request_id == id => return Answer::Failed(error.to_string()),
                    _ => {}
                }
            }
        })
        .await
        .expect("an answer in time")
    }
}

fn classify(response: Result<pb::AddCheckpointResponse, herald_proto::wire::WireError>) -> Answer {
    match response {
        Ok(pb::AddCheckpointResponse {
            result: Some(add_checkpoint_response::Result::Cosignature(line)),
        }) => Answer::Cosigned(String::from_utf8(line).expect("UTF-8 line")),
        Ok(pb::AddCheckpointResponse {
            result: Some(add_checkpoint_response::Result::Refusal(r)),
        }) => Answer::Refused(
            Reason::try_from(r.reason).expect("a known reason"),
            r.held_size,
        ),
        Ok(other) => Answer::Failed(format!("unexpected {other:?}")),
        Err(e) => Answer::Failed(e.to_string()),
    }
}
