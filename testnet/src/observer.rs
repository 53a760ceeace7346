//! [`GossipObserver`]: a plain libp2p gossipsub subscriber, as a peer written with another
//! libp2p implementation would be.
//!
//! It uses nothing of the node's network worker: only the transport (TCP + noise + yamux, QUIC)
//! and the gossipsub configuration every Herald party shares (`herald_light_client::net`): signed
//! messages with strict validation, and message ids = SHA-256 of the data, the content
//! addressing other implementations use (DESIGN §2, STACK.md), without judging messages itself
//! ([`GossipMode::Observing`]). It subscribes to the topics it is given, dials the nodes it is told
//! to, and hands every message received to the caller with its arrival time. The testnet uses it
//! to watch checkpoints and alerts (the gossip interoperability test, `bench cosign`).
//!
//! One worker task owns the swarm; the observer sends it dials over a bounded channel and
//! receives messages over another (bounded: when the caller does not keep up, messages are
//! dropped and counted, never buffered without limit).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use herald_light_client::net::{self, GossipMode};
use libp2p::gossipsub::{self, IdentTopic, TopicHash};
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, watch};

use crate::error::TestnetError;

/// Messages waiting for the caller; more are dropped (and counted).
const MESSAGE_CAPACITY: usize = 16_384;
/// Connections idle longer than this are closed.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(300);

/// One gossip message as received.
#[derive(Clone, Debug)]
pub struct GossipMessage {
    /// The topic it came on.
    pub topic: String,
    /// Its payload.
    pub data: Vec<u8>,
    /// Its signed author (strict validation: always present).
    pub source: Option<PeerId>,
    /// The peer that delivered it.
    pub from: PeerId,
    /// When it arrived here.
    pub received: Instant,
}

/// A running subscriber (see the module docs). Dropping it stops the worker.
#[derive(Debug)]
pub struct GossipObserver {
    peer_id: PeerId,
    dials: mpsc::Sender<Multiaddr>,
    messages: mpsc::Receiver<GossipMessage>,
    /// Peers known to be subscribed to each topic (from their subscription announcements).
    subscribed: watch::Receiver<HashMap<String, HashSet<PeerId>>>,
    dropped: Arc<AtomicU64>,
}

fn build_swarm(topics: &[&str]) -> Result<Swarm<gossipsub::Behaviour>, String> {
    let mut swarm = net::build_swarm(
        Keypair::generate_ed25519(),
        IDLE_CONNECTION_TIMEOUT,
        |key| net::gossipsub_behaviour(key, GossipMode::Observing),
    )
    .map_err(|e| e.to_string())?;
    for topic in topics {
        swarm
            .behaviour_mut()
            .subscribe(&IdentTopic::new(*topic))
            .map_err(|e| e.to_string())?;
    }
    Ok(swarm)
}

impl GossipObserver {
    /// Starts a subscriber of `topics` (inside a tokio runtime).
    pub fn start(topics: &[&str]) -> Result<Self, TestnetError> {
        let swarm = build_swarm(topics).map_err(TestnetError::Options)?;
        let peer_id = *swarm.local_peer_id();
        let (dials, dial_rx) = mpsc::channel(64);
        let (message_tx, messages) = mpsc::channel(MESSAGE_CAPACITY);
        let (subscribed_tx, subscribed) = watch::channel(HashMap::new());
        let dropped = Arc::new(AtomicU64::new(0));
        let topic_names: HashMap<TopicHash, String> = topics
            .iter()
            .map(|t| (IdentTopic::new(*t).hash(), (*t).to_owned()))
            .collect();
        tokio::spawn(
            Worker {
                swarm,
                dials: dial_rx,
                messages: message_tx,
                subscribed: subscribed_tx,
                topics: topic_names,
                dropped: dropped.clone(),
            }
            .run(),
        );
        Ok(GossipObserver {
            peer_id,
            dials,
            messages,
            subscribed,
            dropped,
        })
    }

    /// The observer's own peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Dials `addr` (ending in `/p2p/<peer id>`); returns once the dial is handed to the worker.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), TestnetError> {
        self.dials
            .send(addr)
            .await
            .map_err(|_| TestnetError::Options("the gossip observer has stopped".into()))
    }

    /// Waits (at most `bound`) until every one of `peers` has announced its subscription to
    /// `topic` to us; from then on they deliver its messages here.
    pub async fn wait_subscribed(
        &mut self,
        topic: &str,
        peers: &[PeerId],
        bound: Duration,
    ) -> Result<(), Vec<PeerId>> {
        let all = |seen: &HashMap<String, HashSet<PeerId>>| {
            seen.get(topic)
                .is_some_and(|set| peers.iter().all(|p| set.contains(p)))
        };
        let done = matches!(
            tokio::time::timeout(bound, self.subscribed.wait_for(all)).await,
            Ok(Ok(_))
        );
        if done {
            return Ok(());
        }
        let seen = self.subscribed.borrow();
        let set = seen.get(topic);
        Err(peers
            .iter()
            .filter(|p| !set.is_some_and(|s| s.contains(*p)))
            .copied()
            .collect())
    }

    /// The next message, waiting at most `bound`.
    pub async fn next(&mut self, bound: Duration) -> Option<GossipMessage> {
        tokio::time::timeout(bound, self.messages.recv())
            .await
            .ok()
            .flatten()
    }

    /// Messages dropped because the caller did not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The task owning the swarm.
struct Worker {
    swarm: Swarm<gossipsub::Behaviour>,
    dials: mpsc::Receiver<Multiaddr>,
    messages: mpsc::Sender<GossipMessage>,
    subscribed: watch::Sender<HashMap<String, HashSet<PeerId>>>,
    topics: HashMap<TopicHash, String>,
    dropped: Arc<AtomicU64>,
}

impl Worker {
    async fn run(mut self) {
        loop {
            tokio::select! {
                dial = self.dials.recv() => match dial {
                    Some(addr) => {
                        if let Err(e) = self.swarm.dial(addr.clone()) {
                            tracing::debug!(%addr, error = %e, "observer dial failed");
                        }
                    }
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_event(event),
                () = self.messages.closed() => break,
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<gossipsub::Event>) {
        match event {
            SwarmEvent::Behaviour(gossipsub::Event::Message {
                propagation_source,
                message,
                ..
            }) => {
                let topic = self
                    .topics
                    .get(&message.topic)
                    .cloned()
                    .unwrap_or_else(|| message.topic.to_string());
                let message = GossipMessage {
                    topic,
                    data: message.data,
                    source: message.source,
                    from: propagation_source,
                    received: Instant::now(),
                };
                if self.messages.try_send(message).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            SwarmEvent::Behaviour(gossipsub::Event::Subscribed { peer_id, topic }) => {
                let name = self
                    .topics
                    .get(&topic)
                    .cloned()
                    .unwrap_or_else(|| topic.to_string());
                self.subscribed.send_modify(|seen| {
                    seen.entry(name).or_default().insert(peer_id);
                });
            }
            SwarmEvent::Behaviour(gossipsub::Event::Unsubscribed { peer_id, topic }) => {
                let name = self
                    .topics
                    .get(&topic)
                    .cloned()
                    .unwrap_or_else(|| topic.to_string());
                self.subscribed.send_modify(|seen| {
                    if let Some(set) = seen.get_mut(&name) {
                        set.remove(&peer_id);
                    }
                });
            }
            other => tracing::trace!(event = ?other, "observer swarm event"),
        }
    }
}
