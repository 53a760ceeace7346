//! The worker as a transport, against a fake service: what it carries reaches the [`Inbound`]
//! with the caller's peer id and the answer goes back; what the worker refuses itself (bytes
//! that are not a request, requests over the in-flight bound) never reaches the service; and
//! only a registered peer's connection is reported. Real libp2p on 127.0.0.1, bounded waits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_light_client::{ClientError, Gateway as _, GatewayClient};
use herald_proto::wire::Decoded;
use herald_proto::wire::pb::{self, ClientErrorKind, add_checkpoint_response, witness_refusal};
use libp2p::PeerId;
use libp2p::identity::Keypair;
use prometheus_client::registry::Registry;
use tokio::sync::{Semaphore, watch};

use super::{GossipVerdict, Inbound, Network, NetworkParts, NodeHandle, Topic, start};
use crate::config::NodeConfig;
use crate::keys::NodeKeys;
use crate::metrics::NetworkMetrics;
use crate::peers::{PeerDomain, PeerRegistry, PeerSet};
use crate::store::LogHead;

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(20);
/// What the fake answers every checkpoint request with.
const NOTE: &[u8] = b"fake.test/herald\n1\nAAAA\n";

/// What reached the fake, in order.
#[derive(Clone, Debug, PartialEq)]
enum Call {
    Client(PeerId),
    Witness(PeerId, Decoded<pb::AddCheckpointRequest>),
    Connected(PeerId),
}

/// A service that records every call and answers client requests once `gate` lets it.
#[derive(Clone)]
pub(super) struct Fake {
    calls: Arc<Mutex<Vec<Call>>>,
    gate: Arc<Semaphore>,
}

impl Fake {
    pub(super) fn new(open: bool) -> Self {
        Fake {
            calls: Arc::default(),
            gate: Arc::new(Semaphore::new(if open {
                Semaphore::MAX_PERMITS
            } else {
                0
            })),
        }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn note(&self, call: Call) {
        self.calls.lock().unwrap().push(call);
    }
}

impl Inbound for Fake {
    async fn client(&self, peer: PeerId, _request: pb::ClientRequest) -> pb::ClientResponse {
        self.note(Call::Client(peer));
        let _permit = self.gate.acquire().await;
        pb::ClientResponse {
            response: Some(pb::client_response::Response::Checkpoint(
                pb::SignedCheckpoint {
                    note: NOTE.to_vec(),
                },
            )),
        }
    }

    async fn witness(
        &self,
        peer: PeerId,
        request: Decoded<pb::AddCheckpointRequest>,
    ) -> pb::AddCheckpointResponse {
        self.note(Call::Witness(peer, request));
        pb::AddCheckpointResponse {
            result: Some(add_checkpoint_response::Result::Refusal(
                pb::WitnessRefusal {
                    reason: witness_refusal::Reason::UnknownOrigin as i32,
                    held_size: 0,
                },
            )),
        }
    }

    fn gossip(&self, _from: PeerId, _topic: Topic, _data: &[u8]) -> GossipVerdict {
        GossipVerdict::Ignore
    }

    fn alerts_to_republish(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    fn peer_connected(&self, peer: PeerId) {
        self.note(Call::Connected(peer));
    }
}

/// A network on loopback serving `fake`, with `identity`, keeping `peers` registered.
pub(super) async fn network(
    fake: Fake,
    identity: Keypair,
    peers: Arc<PeerSet>,
    tweak: impl FnOnce(&mut NodeConfig),
) -> Network {
    let mut config = NodeConfig::for_loopback_test("alpha.test", "/nonexistent");
    tweak(&mut config);
    let (handle, commands) = super::command_channel(identity.public().to_peer_id());
    let (_heads_tx, heads) = watch::channel(LogHead {
        size: 0,
        root: [0; 32],
        checkpoint: Vec::new(),
        time_ms: 0,
    });
    let (_peers_tx, peers) = watch::channel(peers);
    let parts = NetworkParts {
        identity,
        handle,
        commands,
        service: fake,
        heads,
        peers,
        metrics: NetworkMetrics::register(&mut Registry::default()),
    };
    start(&config, parts).await.expect("network starts")
}

/// A network serving a fake that answers at once, with a fresh identity and no peers.
async fn plain_network() -> Network {
    network(
        Fake::new(true),
        Keypair::generate_ed25519(),
        Arc::default(),
        |_| {},
    )
    .await
}

/// A witness request the fake answers (it judges nothing).
fn witness_request() -> pb::AddCheckpointRequest {
    pb::AddCheckpointRequest {
        old_size: 0,
        consistency_proof: Vec::new(),
        checkpoint: NOTE.to_vec(),
    }
}

/// A registry holding beta.test (whose identity is `beta_keys()`), in a temporary database.
fn registry_with_beta() -> (tempfile::TempDir, Arc<PeerSet>) {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::db::open(dir.path()).unwrap().unwrap();
    let registry = PeerRegistry::open(&db, "alpha.test", PeerId::random()).unwrap();
    let beta = crate::peers::tests::record("beta.test", 10, 1);
    registry
        .add(PeerDomain::from_record(&beta).unwrap())
        .unwrap();
    (dir, registry.snapshot())
}

fn beta_keys() -> NodeKeys {
    NodeKeys::from_seeds("beta.test", [[10; 32], [11; 32], [12; 32]]).unwrap()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asks `to` for its checkpoint through `gateway` until `from` has a client stream open to it.
async fn pipelined(from: &NodeHandle, gateway: &super::PeerGateway, to: PeerId) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        assert_eq!(gateway.checkpoint().await.unwrap().note, NOTE);
        if from.is_pipelined_to(to) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no client stream");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn connect(network: &Network) -> GatewayClient {
    GatewayClient::connect(&network.listen_addrs[0], WAIT)
        .await
        .expect("client connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_routes_requests_to_the_service_and_its_answers_back() {
    let fake = Fake::new(true);
    let alpha = network(
        fake.clone(),
        Keypair::generate_ed25519(),
        Arc::default(),
        |_| {},
    )
    .await;
    let beta = plain_network().await;
    // A client request from another node: the service sees who sent it, and its answer is what
    // the asker's typed call returns.
    let gateway = beta
        .handle
        .gateway(alpha.handle.peer_id(), alpha.listen_addrs.clone());
    let note = tokio::time::timeout(WAIT, gateway.checkpoint())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(note.note, NOTE);
    // It went on a client stream beta opened to alpha (whose opening asks for the checkpoint
    // once as well), or, on a machine too slow to open one in time, on a substream of its own
    // until a stream is open.
    pipelined(&beta.handle, &gateway, alpha.handle.peer_id()).await;
    // Many at once are all answered, on the peer's streams.
    let many = (0..300).map(|_| gateway.checkpoint());
    let answers = tokio::time::timeout(WAIT, futures::future::join_all(many))
        .await
        .unwrap();
    assert!(answers.iter().all(|a| a.as_ref().unwrap().note == NOTE));
    assert!(beta.handle.is_pipelined_to(alpha.handle.peer_id()));
    let from_beta = fake.calls().len();
    assert!(from_beta >= 302, "{from_beta}");
    assert!(
        fake.calls()
            .iter()
            .all(|c| *c == Call::Client(beta.handle.peer_id()))
    );
    // The light client's connection is served alike (on its client stream, whose opening
    // asks for the checkpoint once as well).
    let client = connect(&alpha).await;
    assert_eq!(client.checkpoint().await.unwrap().note, NOTE);
    assert!(client.is_pipelined().await);
    assert_eq!(fake.calls().len(), from_beta + 2);

    // A witness request: the service sees who sent it and what, and its answer is what the
    // asker gets.
    let request = witness_request();
    let answer = tokio::time::timeout(
        WAIT,
        beta.handle.witness_request(
            alpha.handle.peer_id(),
            alpha.listen_addrs.clone(),
            request.clone(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(matches!(
        answer.result,
        Some(add_checkpoint_response::Result::Refusal(r))
            if r.reason == witness_refusal::Reason::UnknownOrigin as i32
    ));
    assert!(
        fake.calls()
            .contains(&Call::Witness(beta.handle.peer_id(), Ok(request)))
    );
    alpha.join().await;
    beta.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_requests_over_the_bound_are_refused_without_reaching_the_service() {
    let fake = Fake::new(true);
    let alpha = network(
        fake.clone(),
        Keypair::generate_ed25519(),
        Arc::default(),
        |c| {
            c.max_inflight_requests = 1;
        },
    )
    .await;
    let beta = plain_network().await;
    let asker: &NodeHandle = &beta.handle;
    let alpha_peer = alpha.handle.peer_id();
    // Beta's client stream to alpha is opened while the service answers (its opening asks for
    // the checkpoint); then the service holds every request until the gate opens again.
    let gateway = asker.gateway(alpha_peer, alpha.listen_addrs.clone());
    pipelined(asker, &gateway, alpha_peer).await;
    fake.gate.forget_permits(Semaphore::MAX_PERMITS);
    let opened = fake.calls().len();

    // A request with no kind: not a valid request, answered MALFORMED by the worker.
    let garbage = asker
        .client_request(
            alpha_peer,
            alpha.listen_addrs.clone(),
            pb::ClientRequest { request: None },
        )
        .await
        .unwrap();
    assert!(matches!(
        garbage.response,
        Some(pb::client_response::Response::Error(e)) if e.kind == ClientErrorKind::Malformed as i32
    ));
    assert_eq!(fake.calls().len(), opened, "garbage reached the service");

    // One request held by the service takes the only slot; the next is BUSY at once.
    let held = tokio::spawn({
        let gateway = gateway.clone();
        async move { gateway.checkpoint().await }
    });
    eventually("the first request reached the service", || {
        fake.calls().len() == opened + 1
    })
    .await;
    let busy = gateway.checkpoint().await.unwrap_err();
    let ClientError::Refused(refusal) = &busy else {
        panic!("{busy:?}")
    };
    assert_eq!(refusal.kind, ClientErrorKind::Busy);
    assert!(refusal.retry_after.is_some());
    assert_eq!(
        fake.calls().len(),
        opened + 1,
        "the refused request reached the service"
    );
    fake.gate.add_permits(Semaphore::MAX_PERMITS);
    let first = tokio::time::timeout(WAIT, held).await.unwrap().unwrap();
    assert_eq!(first.unwrap().note, NOTE);

    // Bytes over the request bound are refused before they are sent.
    let too_big = pb::ClientRequest::submit(vec![0; herald_proto::wire::MAX_CLIENT_REQUEST_BYTES]);
    assert!(
        asker
            .client_request(alpha_peer, Vec::new(), too_big)
            .await
            .is_err()
    );
    assert_eq!(fake.calls().len(), opened + 1);
    alpha.join().await;
    beta.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_registered_peers_connection_is_reported() {
    let (_dir, peers) = registry_with_beta();
    let fake = Fake::new(true);
    let alpha = network(fake.clone(), Keypair::generate_ed25519(), peers, |_| {}).await;
    // A client nobody registered connects and asks: not reported.
    let client = connect(&alpha).await;
    client.checkpoint().await.unwrap();
    // The registered beta connects (it asks alpha to witness): reported.
    let beta = network(
        Fake::new(true),
        beta_keys().identity,
        Arc::default(),
        |_| {},
    )
    .await;
    let request = witness_request();
    beta.handle
        .witness_request(alpha.handle.peer_id(), alpha.listen_addrs.clone(), request)
        .await
        .unwrap();
    let beta_peer = beta.handle.peer_id();
    eventually("beta's connection reported", || {
        fake.calls().contains(&Call::Connected(beta_peer))
    })
    .await;
    let connected: Vec<Call> = fake
        .calls()
        .into_iter()
        .filter(|c| matches!(c, Call::Connected(_)))
        .collect();
    // Each time beta goes from no connection to one it is reported again (a connection that a
    // loaded machine lets idle out and the redialer opens anew is a new first connection), so
    // the count is not fixed; that the unregistered client never is, is.
    assert!(connected.iter().all(|c| *c == Call::Connected(beta_peer)));
    alpha.join().await;
    beta.join().await;
}
