//! Client requests to peer gateways pipelined on client streams (`/herald/client-stream/1`),
//! the way the light client sends its own (`herald_light_client::net::StreamPath`).
//!
//! On `/herald/client/1` every request a gateway sends a peer (a prekey bundle, a relay, the
//! senders' bindings, a status query) negotiates a substream, arms a `futures-timer` delay on
//! that crate's global timer thread (a cross-thread wake-up to arm it and another to drop it),
//! and goes through the swarm task on both sides; the mail benchmark's profile put these among
//! the gateways' task switches. On a client stream the requests of one peer are written as they
//! come, the answers come back matched by id, and one timer per stream keeps every deadline;
//! the serving side is the same [`super::Inbound::client`] (`super::stream`), with the same
//! peer id, in-flight bound and `BUSY` answer.
//!
//! Each peer gets up to [`STREAMS_PER_PEER`] streams, a request going on the one with the most
//! room (another is opened once the open ones have requests in flight): a stream carries at
//! most `MAX_STREAM_INFLIGHT` unanswered requests (128), and a gateway keeps more than that in
//! flight with a busy peer (up to 192 relay requests, each waiting for S_B's mailbox flush and
//! evidence round, and a prekey request per sender, each waiting for its flush); four give
//! what `/herald/client/1` allowed on the two connections two registered gateways hold (256
//! substreams each), and the serving side reads each stream on its own task, so one batch of
//! relays being checked does not hold up the prekey requests behind it.
//!
//! Owned here: which stream a request takes, and when it takes none. A request goes on
//! `/herald/client/1` instead (the worker's `peer_request`) when it is not valid in shape (so
//! the peer judges it as before), when no stream can be opened (the peer does not serve the
//! protocol, or is not reachable now: `StreamPath` then waits a second before trying again), or
//! when the stream broke before its answer: it is then sent once more there, which is safe for
//! every request sent this way (see `peer_request`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald_light_client::ClientError;
use herald_light_client::net::StreamPath;
use herald_proto::wire::{MAX_STREAM_INFLIGHT, Validate as _, pb};
use libp2p::PeerId;
use tokio::time::Instant;

/// Client streams kept open to one peer gateway.
pub(super) const STREAMS_PER_PEER: usize = 4;

/// Most peers with streams remembered (the registry is far smaller; a bound anyway: past it the
/// map is emptied and streams are opened again as they are needed).
const MAX_PEERS: usize = 1024;

/// What a request on a peer's stream came to.
pub(super) enum Sent {
    /// The peer's answer, or a failure that sending again would not mend (a timeout).
    Answered(Result<pb::ClientResponse, ClientError>),
    /// Not sent on a stream, or the stream broke before the answer: send it on
    /// `/herald/client/1`.
    Elsewhere(pb::ClientRequest),
}

/// The client streams this node keeps to its peer gateways.
pub(super) struct PeerStreams {
    control: libp2p_stream::Control,
    timeout: Duration,
    paths: Mutex<HashMap<PeerId, Arc<[StreamPath; STREAMS_PER_PEER]>>>,
}

impl std::fmt::Debug for PeerStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerStreams")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PeerStreams {
    /// Streams opened through `control`, each request answered within `timeout`.
    pub(super) fn new(control: libp2p_stream::Control, timeout: Duration) -> Self {
        PeerStreams {
            control,
            timeout,
            paths: Mutex::new(HashMap::new()),
        }
    }

    fn paths_of(&self, peer: PeerId) -> Arc<[StreamPath; STREAMS_PER_PEER]> {
        let mut paths = self.paths.lock().unwrap_or_else(PoisonError::into_inner);
        if !paths.contains_key(&peer) && paths.len() >= MAX_PEERS {
            paths.clear();
        }
        paths
            .entry(peer)
            .or_insert_with(|| {
                Arc::new(std::array::from_fn(|_| {
                    StreamPath::new(self.control.clone())
                }))
            })
            .clone()
    }

    /// Whether a request to `peer` would go on an open stream now.
    pub(super) fn is_open(&self, peer: PeerId) -> bool {
        let paths = self.paths.lock().unwrap_or_else(PoisonError::into_inner);
        paths
            .get(&peer)
            .is_some_and(|p| p.iter().any(|path| path.open_now().is_some()))
    }

    /// The request timeout: each request's whole exchange.
    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `request` to `peer` on the stream with the most room (opening one if a stream of
    /// the peer is not open yet), and waits for its answer until `deadline` (the caller's, set
    /// from the request timeout before anything else: opening the stream counts toward it, and
    /// an answer trickled a byte at a time is cut off at it; a timeout is
    /// `Timeout { after: timeout }`).
    pub(super) async fn exchange(
        &self,
        peer: PeerId,
        request: pb::ClientRequest,
        deadline: Instant,
    ) -> Sent {
        if request.validate().is_err() {
            return Sent::Elsewhere(request);
        }
        let paths = self.paths_of(peer);
        // An unopened stream counts as empty: it is opened when the open ones are not.
        let Some(path) = paths.iter().max_by_key(|path| {
            path.open_now()
                .map_or(MAX_STREAM_INFLIGHT, |pipeline| pipeline.room())
        }) else {
            return Sent::Elsewhere(request);
        };
        let Some(pipeline) = path.pipeline_until(peer, deadline).await else {
            return Sent::Elsewhere(request);
        };
        // Kept until the answer: a stream that breaks before it sends it on `/herald/client/1`.
        let again = request.clone();
        match pipeline
            .exchange_until(request, deadline, self.timeout)
            .await
        {
            Ok(answer) => Sent::Answered(Ok(answer)),
            Err(error) => {
                // A broken stream is replaced; so is one after a timeout, whose unanswered
                // request holds one of its slots.
                path.discard(&pipeline);
                match error {
                    ClientError::Transport { .. } => Sent::Elsewhere(again),
                    other => Sent::Answered(Err(other)),
                }
            }
        }
    }
}
