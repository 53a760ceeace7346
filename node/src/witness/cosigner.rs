//! The log side of witnessing: collecting cosignatures for this log's checkpoints.
//!
//! One task. For the latest checkpoint the sequencer published it sends `AddCheckpointRequest`
//! to every witness that has not cosigned it yet — registered peers over `/herald/witness/1`,
//! `[[external_witnesses]]` as C2SP `POST <url>/add-checkpoint` (the answer read back by proto's
//! `tlog_witness::answer_of`), both counting toward the quorum — from the size that witness is
//! believed to hold (0 after a start; a `CONFLICT` answer tells the real one and the request is
//! retried from it at once). Cosignature lines are checked and merged into the note
//! ([`VerifiedCheckpoint::with_cosignature`]). As soon as the note satisfies the
//! [`WitnessPolicy`] "quorum of the registered witnesses", and it is newer than (or has more
//! cosignatures than) the stored cosigned checkpoint, it is stored durably in meta
//! ([`LogStore::put_cosigned`]) and, the first time for its size, gossiped.
//!
//! Rules kept here:
//! - Only the latest checkpoint is pushed: a newer one supersedes an older one still
//!   collecting. Cosignatures that arrive late for one of the last few checkpoints are still
//!   merged, and that checkpoint may reach the quorum; the stored one never goes back.
//! - A witness that fails (offline, timeout, a refusal) is retried with exponential back-off
//!   from [`FIRST_RETRY`] to [`MAX_RETRY`]; the sequencer never waits for any of this.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use herald_light_client::http::{HttpClient, HttpRequest};
use herald_light_client::net;
use herald_proto::checkpoint::{
    Cosignature, DEFAULT_MAX_SKEW_SECS, VerifiedCheckpoint, WitnessPolicy, WitnessVerifier,
};
use herald_proto::note::NoteVerifier;
use herald_proto::tlog_witness::{ADD_CHECKPOINT_PATH, answer_of, encode_add_checkpoint};
use herald_proto::wire::pb::{self, add_checkpoint_response, witness_refusal::Reason};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::clock::Clock;
use crate::metrics::{WitnessMetrics, refusal_label};
use crate::network::{NetworkError, NodeHandle, Topic};
use crate::peers::PeerSet;
use crate::store::{LogHead, LogStore};

/// Wait after a witness's first failure.
pub const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Longest wait between two requests to a failing witness.
pub const MAX_RETRY: Duration = Duration::from_secs(5);
/// Largest answer read from an external witness (a few cosignature lines).
const MAX_WITNESS_ANSWER_BYTES: usize = 16 * 1024;
/// Recent checkpoints whose late cosignatures are still merged.
const COLLECTING: usize = 8;

/// How a witness is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Via {
    /// A registered peer, over `/herald/witness/1`.
    Peer {
        peer_id: PeerId,
        addrs: Vec<Multiaddr>,
    },
    /// An external C2SP witness, `POST <url>/add-checkpoint`.
    Http { url: String },
}

/// Where a witness stands, as far as this log knows.
#[derive(Debug)]
struct Witness {
    via: Via,
    key: WitnessVerifier,
    /// The size it is believed to hold (what it last cosigned for this log).
    held: u64,
    /// A request is out.
    in_flight: bool,
    failures: u32,
    next_try: Instant,
}

/// The answer to one request, back from its task.
struct Outcome {
    domain: String,
    key: WitnessVerifier,
    size: u64,
    root: [u8; 32],
    sent_old_size: u64,
    /// The answer, or why there was none.
    answer: Result<pb::AddCheckpointResponse, String>,
}

/// What the cosigner needs.
pub struct Cosigner {
    /// The network, for witness requests and gossip.
    pub node: NodeHandle,
    /// The log (consistency proofs, the stored cosigned checkpoint).
    pub store: LogStore,
    /// The sequencer's heads.
    pub heads: watch::Receiver<LogHead>,
    /// The registry.
    pub peers: watch::Receiver<Arc<PeerSet>>,
    /// This log's key.
    pub log: NoteVerifier,
    /// How many witnesses (registered peers and external ones) must cosign.
    pub quorum: usize,
    /// External C2SP witnesses, asked over HTTP: (URL prefix, key).
    pub external: Vec<(String, WitnessVerifier)>,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// Metrics.
    pub metrics: WitnessMetrics,
    /// Time, for the policy's clock-skew check.
    pub clock: Arc<dyn Clock>,
}

/// The running task's state.
struct Run {
    c: Cosigner,
    witnesses: HashMap<String, Witness>,
    /// The last few checkpoints, by size, with the cosignatures merged so far.
    collecting: BTreeMap<u64, VerifiedCheckpoint>,
    /// The latest checkpoint (the one pushed).
    latest: Option<u64>,
    /// Size and cosignature count of the stored cosigned checkpoint.
    stored: Option<(u64, usize)>,
    outcomes_tx: mpsc::Sender<Outcome>,
    outcomes_rx: mpsc::Receiver<Outcome>,
    /// Policy problems are logged once per change of the registry.
    policy_warned: bool,
}

fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(factor).min(MAX_RETRY)
}

impl Cosigner {
    /// Starts the task; it ends when the sequencer stops publishing heads.
    pub fn spawn(self) -> JoinHandle<()> {
        let stored = self
            .store
            .cosigned()
            .ok()
            .flatten()
            .and_then(|note| VerifiedCheckpoint::verify(&note, &self.log).ok())
            .map(|c| (c.size(), c.cosignatures().len()));
        if let Some((size, _)) = stored {
            self.metrics
                .cosigned_tree_size
                .set(i64::try_from(size).unwrap_or(i64::MAX));
        }
        let (outcomes_tx, outcomes_rx) = mpsc::channel(crate::peers::MAX_PEERS);
        let run = Run {
            c: self,
            witnesses: HashMap::new(),
            collecting: BTreeMap::new(),
            latest: None,
            stored,
            outcomes_tx,
            outcomes_rx,
            policy_warned: false,
        };
        tokio::spawn(run.run())
    }
}

impl Run {
    async fn run(mut self) {
        let peers = self.c.peers.borrow_and_update().clone();
        self.sync_witnesses(&peers);
        self.take_head();
        loop {
            self.push_due();
            let next = self
                .witnesses
                .values()
                .filter(|w| !w.in_flight && self.wants(w))
                .map(|w| w.next_try)
                .min();
            let sleep = async {
                match next {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = self.c.heads.changed() => match changed {
                    Ok(()) => self.take_head(),
                    Err(_) => break,
                },
                changed = self.c.peers.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let peers = self.c.peers.borrow_and_update().clone();
                    self.sync_witnesses(&peers);
                    self.policy_warned = false;
                }
                Some(outcome) = self.outcomes_rx.recv() => self.on_outcome(outcome).await,
                () = sleep => {}
            }
        }
        debug!("cosigner stopped");
    }

    /// Follows the registry (the external witnesses are fixed): new witnesses start from 0 (a
    /// `CONFLICT` corrects it).
    fn sync_witnesses(&mut self, peers: &PeerSet) {
        self.witnesses.retain(|name, w| match &w.via {
            Via::Peer { peer_id, .. } => peers
                .by_domain(name)
                .is_some_and(|p| p.witness_key == w.key && p.peer_id == *peer_id),
            Via::Http { .. } => true,
        });
        let wanted = peers
            .iter()
            .map(|p| {
                let via = Via::Peer {
                    peer_id: p.peer_id,
                    addrs: p.addrs.clone(),
                };
                (p.domain.clone(), via, p.witness_key.clone())
            })
            .chain(self.c.external.iter().map(|(url, key)| {
                let via = Via::Http { url: url.clone() };
                (url.clone(), via, key.clone())
            }));
        for (name, via, key) in wanted.collect::<Vec<_>>() {
            match self.witnesses.get_mut(&name) {
                Some(w) => w.via = via,
                None => {
                    self.witnesses.insert(
                        name,
                        Witness {
                            via,
                            key,
                            held: 0,
                            in_flight: false,
                            failures: 0,
                            next_try: Instant::now(),
                        },
                    );
                }
            }
        }
    }

    /// Takes the sequencer's newest checkpoint as the one to push.
    fn take_head(&mut self) {
        let note = self.c.heads.borrow_and_update().checkpoint.clone();
        if note.is_empty() {
            return;
        }
        let checkpoint = match VerifiedCheckpoint::verify(&note, &self.c.log) {
            Ok(c) => c,
            Err(e) => {
                error!(error = %e, "the sequencer's checkpoint does not verify under the log key");
                return;
            }
        };
        let size = checkpoint.size();
        if self.latest.is_some_and(|l| l >= size) {
            return;
        }
        self.collecting.entry(size).or_insert(checkpoint);
        while self.collecting.len() > COLLECTING {
            self.collecting.pop_first();
        }
        self.latest = Some(size);
        let now = Instant::now();
        for w in self.witnesses.values_mut() {
            // Healthy witnesses are asked at once; failing ones keep their back-off.
            if w.failures == 0 {
                w.next_try = now;
            }
        }
    }

    /// Whether `w` still has to cosign the latest checkpoint.
    fn wants(&self, w: &Witness) -> bool {
        self.latest.is_some_and(|latest| {
            w.held < latest
                || self
                    .collecting
                    .get(&latest)
                    .is_some_and(|c| !has_cosignature_of(c, &w.key))
        })
    }

    fn push_due(&mut self) {
        let Some(latest) = self.latest else { return };
        let Some(checkpoint) = self.collecting.get(&latest).cloned() else {
            return;
        };
        let now = Instant::now();
        let due: Vec<String> = self
            .witnesses
            .iter()
            .filter(|(_, w)| !w.in_flight && w.next_try <= now && self.wants(w))
            .map(|(d, _)| d.clone())
            .collect();
        for domain in due {
            let Some(w) = self.witnesses.get_mut(&domain) else {
                continue;
            };
            if w.held > latest {
                // The witness holds a larger tree of this log than the log has: this log lost
                // entries or someone signed with its key. Nothing to prove; keep asking rarely.
                error!(
                    witness = domain,
                    held = w.held,
                    size = latest,
                    "a witness holds a larger checkpoint of this log than the log has"
                );
                w.failures = w.failures.saturating_add(1);
                w.next_try = now + MAX_RETRY;
                continue;
            }
            w.in_flight = true;
            let old_size = w.held;
            let job = Job {
                node: self.c.node.clone(),
                store: self.c.store.clone(),
                via: w.via.clone(),
                key: w.key.clone(),
                domain,
                old_size,
                checkpoint: checkpoint.clone(),
                timeout: self.c.request_timeout,
                outcomes: self.outcomes_tx.clone(),
            };
            tokio::spawn(job.run());
        }
    }

    async fn on_outcome(&mut self, o: Outcome) {
        let Some(w) = self.witnesses.get_mut(&o.domain) else {
            return; // unregistered meanwhile
        };
        w.in_flight = false;
        if w.key != o.key {
            return;
        }
        let now = Instant::now();
        let result = match o.answer {
            Ok(pb::AddCheckpointResponse { result: Some(r) }) => r,
            Ok(_) => {
                // Validation guarantees a result; treated as a failure anyway.
                w.failures = w.failures.saturating_add(1);
                w.next_try = now + backoff(w.failures);
                return;
            }
            Err(e) => {
                self.c.metrics.cosign_outcome("failed");
                w.failures = w.failures.saturating_add(1);
                w.next_try = now + backoff(w.failures);
                debug!(witness = o.domain, error = %e, "witness unreachable; backing off");
                return;
            }
        };
        match result {
            add_checkpoint_response::Result::Cosignature(line) => {
                let merged = String::from_utf8(line)
                    .ok()
                    .and_then(|l| Cosignature::parse(&l).ok())
                    .and_then(|cos| {
                        let c = self.collecting.get(&o.size)?;
                        if c.root() != &o.root {
                            return None;
                        }
                        c.with_cosignature(&w.key, &cos).ok()
                    });
                match merged {
                    Some(c) => {
                        self.c.metrics.cosign_outcome("cosigned");
                        w.held = o.size;
                        w.failures = 0;
                        w.next_try = now;
                        self.collecting.insert(o.size, c);
                        self.check_quorum(o.size).await;
                    }
                    None if self.collecting.contains_key(&o.size) => {
                        self.c.metrics.cosign_outcome("bad_cosignature");
                        warn!(
                            witness = o.domain,
                            size = o.size,
                            "witness sent an invalid cosignature"
                        );
                        w.failures = w.failures.saturating_add(1);
                        w.next_try = now + backoff(w.failures);
                    }
                    None => {
                        // Cosigned a checkpoint that no longer collects: it holds that size.
                        w.held = o.size;
                        w.next_try = now;
                    }
                }
            }
            add_checkpoint_response::Result::Refusal(r) => {
                let reason = Reason::try_from(r.reason).unwrap_or(Reason::Unspecified);
                self.c.metrics.cosign_outcome(refusal_label(reason));
                if reason == Reason::Conflict && r.held_size != o.sent_old_size {
                    debug!(
                        witness = o.domain,
                        held = r.held_size,
                        "witness holds another size"
                    );
                    w.held = r.held_size;
                    w.next_try = now;
                    return;
                }
                if reason == Reason::DistrustedOrigin {
                    error!(
                        witness = o.domain,
                        "a witness distrusts this log (it holds an equivocation proof)"
                    );
                } else {
                    warn!(
                        witness = o.domain,
                        reason = refusal_label(reason),
                        size = o.size,
                        "witness refused"
                    );
                }
                w.failures = w.failures.saturating_add(1);
                w.next_try = now + backoff(w.failures);
            }
        }
    }

    /// Stores (and, the first time for its size, gossips) checkpoint `size` if it satisfies
    /// the quorum and improves on the stored one.
    async fn check_quorum(&mut self, size: u64) {
        let Some(checkpoint) = self.collecting.get(&size) else {
            return;
        };
        // Cheap checks first: verifying the whole note (every signature) on each cosignature
        // that arrives would cost O(witnesses²) signature checks per checkpoint.
        let merged = checkpoint.cosignatures().len();
        if merged < self.c.quorum.max(1) {
            return;
        }
        match self.stored {
            Some((s, _)) if s > size => return,
            Some((s, n)) if s == size && n >= merged => return,
            _ => {}
        }
        let witnesses: Vec<WitnessVerifier> = (self.c.peers.borrow().iter())
            .map(|p| p.witness_key.clone())
            .chain(self.c.external.iter().map(|(_, key)| key.clone()))
            .collect();
        let policy = match WitnessPolicy::new(self.c.log.clone(), witnesses, self.c.quorum) {
            Ok(p) => p,
            Err(e) => {
                if !self.policy_warned {
                    warn!(error = %e, "no checkpoint can be cosigned with the registered witnesses");
                    self.policy_warned = true;
                }
                return;
            }
        };
        let note = checkpoint.note();
        let now = self.c.clock.now_ms() / 1000;
        let Ok(cosigned) = policy.verify(note.as_bytes(), now, DEFAULT_MAX_SKEW_SECS) else {
            return;
        };
        let count = cosigned.cosignatures().len();
        let first_for_size = match self.stored {
            Some((s, _)) if s > size => return,
            Some((s, n)) if s == size && n >= count => return,
            Some((s, _)) => s < size,
            None => true,
        };
        let store = self.c.store.clone();
        let bytes = note.clone().into_bytes();
        match tokio::task::spawn_blocking(move || store.put_cosigned(&bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return error!(size, error = %e, "could not store the cosigned checkpoint");
            }
            Err(e) => return error!(size, error = %e, "cosigned checkpoint storage task failed"),
        }
        self.stored = Some((size, count));
        self.c.metrics.cosigned_checkpoints.inc();
        self.c
            .metrics
            .cosigned_tree_size
            .set(i64::try_from(size).unwrap_or(i64::MAX));
        if first_for_size {
            info!(
                size,
                cosignatures = count,
                "checkpoint cosigned by a quorum"
            );
            let data = net::checkpoint_message(note.as_bytes());
            if let Err(e) = self.c.node.publish(Topic::Checkpoints, data).await {
                debug!(size, error = %e, "cosigned checkpoint not gossiped");
            }
        }
    }
}

/// Whether `checkpoint`'s note carries a line by witness `key` (checked when it was merged).
fn has_cosignature_of(checkpoint: &VerifiedCheckpoint, key: &WitnessVerifier) -> bool {
    checkpoint
        .cosignatures()
        .iter()
        .any(|c| c.name() == key.name() && c.key_id() == key.key_id())
}

/// One request to one witness, on its own task.
struct Job {
    node: NodeHandle,
    store: LogStore,
    via: Via,
    key: WitnessVerifier,
    domain: String,
    old_size: u64,
    checkpoint: VerifiedCheckpoint,
    timeout: Duration,
    outcomes: mpsc::Sender<Outcome>,
}

impl Job {
    async fn run(self) {
        let size = self.checkpoint.size();
        let answer = self.exchange().await;
        let _ = self
            .outcomes
            .send(Outcome {
                domain: self.domain,
                key: self.key,
                size,
                root: *self.checkpoint.root(),
                sent_old_size: self.old_size,
                answer,
            })
            .await;
    }

    async fn exchange(&self) -> Result<pb::AddCheckpointResponse, String> {
        let size = self.checkpoint.size();
        let proof = if self.old_size == 0 || self.old_size == size {
            Vec::new()
        } else {
            let store = self.store.clone();
            let old = self.old_size;
            tokio::task::spawn_blocking(move || store.consistency_proof(old, size))
                .await
                .map_err(|e| format!("proof task failed: {e}"))?
                .map_err(|e| format!("no consistency proof from {old} to {size}: {e}"))?
        };
        let request = pb::AddCheckpointRequest {
            old_size: self.old_size,
            consistency_proof: proof.iter().map(|h| h.to_vec()).collect(),
            checkpoint: self.checkpoint.log_signed_note().into_bytes(),
        };
        let deadline = self.timeout + Duration::from_secs(1);
        match &self.via {
            Via::Peer { peer_id, addrs } => {
                let exchange = self.node.witness_request(*peer_id, addrs.clone(), request);
                match tokio::time::timeout(deadline, exchange).await {
                    Ok(answer) => answer.map_err(|e: NetworkError| e.to_string()),
                    Err(_) => Err("no answer in time".into()),
                }
            }
            Via::Http { url } => {
                let body = encode_add_checkpoint(&request);
                let target = format!("{url}{ADD_CHECKPOINT_PATH}");
                let http = HttpClient::new(deadline, MAX_WITNESS_ANSWER_BYTES)
                    .map_err(|e| e.to_string())?;
                let answer = http
                    .send(HttpRequest {
                        method: "POST",
                        url: &target,
                        bearer: None,
                        body: Some(("text/plain", &body)),
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                answer_of(answer.status, &answer.body).ok_or_else(|| {
                    format!(
                        "{target} answered {} {}",
                        answer.status,
                        answer.body_text(200)
                    )
                })
            }
        }
    }
}
