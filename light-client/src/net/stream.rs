//! `/herald/client-stream/1`: the client protocol pipelined on one long-lived stream (DESIGN §6).
//!
//! `/herald/client/1` negotiates a substream, arms a timer and writes one small frame each way
//! per request; the profile in `docs/performance.md` put most of a proof request's cost there.
//! On a client stream the client writes `StreamRequest` frames without waiting, each with an id
//! of its choosing, and the gateway answers each with a `StreamResponse` of the same id, in any
//! order; the gateway reads at most [`MAX_STREAM_INFLIGHT`] requests ahead of its answers.
//!
//! Both sides are here: [`Pipeline`] is the client's (one stream, answers matched by id), and
//! [`read_stream_request`] is what a gateway reads off the stream (the node serves it in
//! `herald_node::network::stream`). The frames are the one codec's ([`super::codec`]).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use herald_proto::wire::{
    self, Decoded, FRAME_HEADER_LEN, MAX_STREAM_INFLIGHT, Validate as _, WireError, pb,
};
use libp2p::{PeerId, StreamProtocol};
use prost::Message as _;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tracing::debug;

use super::codec::{append_frame, read_frame, read_full, write_frame};
use crate::error::ClientError;

/// The client-stream protocol ([`wire::CLIENT_STREAM_PROTOCOL`]).
pub const CLIENT_STREAM_PROTOCOL: StreamProtocol =
    StreamProtocol::new(wire::CLIENT_STREAM_PROTOCOL);

/// One frame a gateway read off a client stream.
#[derive(Debug)]
pub enum StreamFrame {
    /// A valid request and its id.
    Request {
        /// The client's id for it (not 0).
        id: u64,
        /// The request, valid in shape.
        request: pb::ClientRequest,
    },
    /// A frame that is not a valid request. `id` is what could be read of its id: the gateway
    /// answers that id with a refusal, and closes the stream when it is 0 (nothing to answer).
    Refused {
        /// The request's id, or 0.
        id: u64,
        /// Why the frame was refused.
        error: WireError,
    },
}

/// Reads the next frame of a client stream; `Ok(None)` when the client closed its side between
/// frames. The length is checked against [`wire::MAX_STREAM_REQUEST_BYTES`] before the body is
/// read; a frame over it is refused with id 0 (its body is not read, so the stream cannot go on).
pub async fn read_stream_request<T>(io: &mut T) -> io::Result<Option<StreamFrame>>
where
    T: AsyncRead + Unpin + Send,
{
    match read_stream_request_len(io).await? {
        None => Ok(None),
        Some(Err(error)) => Ok(Some(StreamFrame::Refused { id: 0, error })),
        Some(Ok(len)) => read_stream_request_body(io, len).await.map(Some),
    }
}

/// The first half of [`read_stream_request`]: the next frame's header, and its body's length
/// checked against [`wire::MAX_STREAM_REQUEST_BYTES`] (`Some(Err)`: over it, refused with id 0).
/// A gateway that bounds the bytes it holds reserves the length before reading the body with
/// [`read_stream_request_body`].
pub async fn read_stream_request_len<T>(io: &mut T) -> io::Result<Option<Result<usize, WireError>>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut header = [0u8; FRAME_HEADER_LEN];
    match read_full(io, &mut header).await? {
        0 => return Ok(None),
        n if n < FRAME_HEADER_LEN => return Err(io::ErrorKind::UnexpectedEof.into()),
        _ => {}
    }
    Ok(Some(wire::frame_body_len(
        header,
        <pb::StreamRequest>::MAX_ENCODED_LEN,
    )))
}

/// The second half of [`read_stream_request`]: a body of `len` bytes (as
/// [`read_stream_request_len`] read it), decoded.
pub async fn read_stream_request_body<T>(io: &mut T, len: usize) -> io::Result<StreamFrame>
where
    T: AsyncRead + Unpin + Send,
{
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    // Decoded from a `Bytes`: each `bytes` field of the request (an entry's payload, key and
    // signature) is copied once out of the frame, not twice as from a slice.
    let body = bytes::Bytes::from(body);
    Ok(
        match wire::decode_valid_bytes::<pb::StreamRequest>(body.clone()) {
            Ok(pb::StreamRequest {
                id,
                request: Some(request),
            }) => StreamFrame::Request { id, request },
            // Validation requires the request; this arm only keeps the match total.
            Ok(pb::StreamRequest { id, request: None }) => StreamFrame::Refused {
                id,
                error: WireError::MissingField {
                    field: "StreamRequest.request",
                },
            },
            Err(error) => StreamFrame::Refused {
                id: pb::StreamRequestId::decode(body).map_or(0, |r| r.id),
                error,
            },
        },
    )
}

/// Appends one answer frame to `out`, for a gateway that writes the answers it has ready at
/// once ([`write_stream_response`] writes one).
pub fn append_stream_response(
    out: &mut Vec<u8>,
    id: u64,
    response: pb::ClientResponse,
) -> io::Result<()> {
    let frame = pb::StreamResponse {
        id,
        response: Some(response),
    };
    append_frame(out, &frame)
}

/// Bytes of frames a writer gathers before it writes them (one write and one flush, so one
/// yamux frame and one noise message, for every request or answer ready at that moment).
pub const WRITE_BURST_BYTES: usize = 64 * 1024;

/// Writes one answer frame.
pub async fn write_stream_response<T>(
    io: &mut T,
    id: u64,
    response: pb::ClientResponse,
) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let frame = pb::StreamResponse {
        id,
        response: Some(response),
    };
    write_frame(io, Ok(frame)).await
}

/// How long opening a client stream may take (the connection is usually open already).
const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(2);
/// After a client stream could not be opened, requests use `/herald/client/1` this long.
const STREAM_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The client-stream side of a connection to one gateway (the light client's
/// `GatewayClient`, and a node's requests to its peer gateways): the stream open now, and
/// whether the gateway refused the protocol (then every request goes on `/herald/client/1`).
///
/// Every request reads `current` (a read lock held for an `Arc` clone, never across an
/// `await`); the async `opening` lock is taken only when no stream is open, so requests on an
/// open stream never wait for one another here.
pub struct StreamPath {
    current: std::sync::RwLock<Option<Arc<Pipeline>>>,
    opening: tokio::sync::Mutex<Opening>,
    unsupported: AtomicBool,
}

/// What opening a stream needs, one opener at a time.
struct Opening {
    control: libp2p_stream::Control,
    /// Until when requests go on `/herald/client/1` after a stream could not be opened.
    retry_at: Option<Instant>,
}

impl std::fmt::Debug for StreamPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamPath")
            .field("unsupported", &self.unsupported)
            .finish_non_exhaustive()
    }
}

impl StreamPath {
    /// A path that opens its streams through `control` (the swarm's `libp2p_stream` behaviour).
    pub fn new(control: libp2p_stream::Control) -> Self {
        StreamPath {
            current: std::sync::RwLock::new(None),
            opening: tokio::sync::Mutex::new(Opening {
                control,
                retry_at: None,
            }),
            unsupported: AtomicBool::new(false),
        }
    }

    /// The stream open now, if any.
    pub fn open_now(&self) -> Option<Arc<Pipeline>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|p| !p.is_closed())
            .cloned()
    }

    /// The open stream, or a new one. `None` sends the request on `/herald/client/1`: when
    /// the gateway does not serve the stream protocol (from then on), or when no stream could
    /// be opened within 2 s (for 1 s; request-response redials the gateway's address itself,
    /// and the next stream rides that connection).
    pub async fn pipeline(&self, peer: PeerId) -> Option<Arc<Pipeline>> {
        self.pipeline_until(peer, Instant::now() + STREAM_OPEN_TIMEOUT)
            .await
    }

    /// [`pipeline`](Self::pipeline), for a request that must be answered by `deadline`: waiting
    /// for another request's opening and opening a stream take no longer than 2 s and end at
    /// `deadline`. A gateway that trickles the opening request's answer thus holds a request no
    /// longer than its own bound; the stream it did not open in time is not tried again for 1 s.
    pub async fn pipeline_until(&self, peer: PeerId, deadline: Instant) -> Option<Arc<Pipeline>> {
        if self.unsupported.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(open) = self.open_now() {
            return Some(open);
        }
        let mut opening = tokio::time::timeout_at(deadline, self.opening.lock())
            .await
            .ok()?;
        // Another request may have opened one while this one waited.
        if let Some(open) = self.open_now() {
            return Some(open);
        }
        if self.unsupported.load(Ordering::Relaxed)
            || opening.retry_at.is_some_and(|at| Instant::now() < at)
        {
            return None;
        }
        let open = Pipeline::open(&mut opening.control, peer);
        let until = deadline.min(Instant::now() + STREAM_OPEN_TIMEOUT);
        match tokio::time::timeout_at(until, open).await {
            Ok(Ok(opened)) => {
                let opened = Arc::new(opened);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(opened.clone());
                opening.retry_at = None;
                Some(opened)
            }
            Ok(Err(ClientError::UnsupportedProtocol)) => {
                debug!(%peer, "the gateway serves no client stream: one substream per request");
                self.unsupported.store(true, Ordering::Relaxed);
                None
            }
            Ok(Err(error)) => {
                debug!(%peer, %error, "no client stream now: one substream per request");
                opening.retry_at = Some(Instant::now() + STREAM_RETRY_AFTER);
                None
            }
            Err(_) => {
                debug!(%peer, "no client stream in time: one substream per request");
                opening.retry_at = Some(Instant::now() + STREAM_RETRY_AFTER);
                None
            }
        }
    }

    /// Drops `broken` if it is still the stream in use, so the next request opens another.
    pub fn discard(&self, broken: &Arc<Pipeline>) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|p| Arc::ptr_eq(p, broken)) {
            *current = None;
        }
    }
}

type Reply = oneshot::Sender<Result<pb::ClientResponse, ClientError>>;

/// A request for the stream's task: what to send, where its answer goes, and until when it is
/// waited for (with the timeout it is reported with).
type Queued = (pb::ClientRequest, Reply, Option<Deadline>);

/// When a request stops being waited for, and the timeout that made it (for the error).
#[derive(Clone, Copy, Debug)]
struct Deadline {
    at: Instant,
    after: Duration,
}

impl Deadline {
    fn timeout(self) -> ClientError {
        ClientError::Timeout { after: self.after }
    }
}

/// Requests written and not yet answered, by id; each holds one of the
/// [`MAX_STREAM_INFLIGHT`] permits until its answer comes or its deadline passes. The
/// deadlines are kept in the order requests were written; one timer per stream (the sweep in
/// [`run`]) answers the expired ones, instead of one timer per request.
#[derive(Default)]
struct InFlight {
    answers: HashMap<u64, (Reply, OwnedSemaphorePermit, Option<Deadline>)>,
    deadlines: VecDeque<(Instant, u64)>,
    /// Requests answered `Timeout` whose answer has not come: each keeps its slot (the gateway
    /// may still be working on it), and its late answer is dropped.
    expired: HashMap<u64, OwnedSemaphorePermit>,
}

impl InFlight {
    /// Answers `Timeout` to every request whose deadline is at or before `now` (its slot stays
    /// taken until its late answer comes); returns the next deadline to wait for.
    fn expire(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&(at, id)) = self.deadlines.front() {
            if at > now {
                return Some(at);
            }
            self.deadlines.pop_front();
            if let Some((reply, permit, Some(deadline))) = self.answers.remove(&id) {
                let _ = reply.send(Err(deadline.timeout()));
                self.expired.insert(id, permit);
            }
        }
        None
    }
}

type Waiting = Arc<Mutex<InFlight>>;

/// The client's side of one client stream: requests written as they come, answers handed to
/// whoever asked, matched by id. Cheap to share (`Arc`); calls may run concurrently. When the
/// stream breaks, every request waiting fails with [`ClientError::Transport`] and
/// [`Pipeline::is_closed`] turns true: the owner opens another.
#[derive(Debug)]
pub struct Pipeline {
    requests: mpsc::Sender<Queued>,
    room: Arc<Semaphore>,
}

impl Pipeline {
    /// Opens a client stream to `peer` (dialling it with the addresses the swarm knows, if not
    /// connected) and has one request answered on it (the latest checkpoint), so that the
    /// stream is known to be taken. [`ClientError::UnsupportedProtocol`] when the gateway does
    /// not serve it.
    /// Must be called inside a tokio runtime: the stream's reader and writer run on a task.
    pub async fn open(
        control: &mut libp2p_stream::Control,
        peer: PeerId,
    ) -> Result<Pipeline, ClientError> {
        let stream = control
            .open_stream(peer, CLIENT_STREAM_PROTOCOL)
            .await
            .map_err(|e| match e {
                libp2p_stream::OpenStreamError::UnsupportedProtocol(_) => {
                    ClientError::UnsupportedProtocol
                }
                other => ClientError::Transport {
                    reason: other.to_string(),
                },
            })?;
        let (requests, queue) = mpsc::channel(MAX_STREAM_INFLIGHT);
        let room = Arc::new(Semaphore::new(MAX_STREAM_INFLIGHT));
        tokio::spawn(run(stream, queue, room.clone(), peer));
        let pipeline = Pipeline { requests, room };
        // A gateway may drop a stream it has no room to take (libp2p-stream hands inbound
        // streams over a channel of one): one answered request shows the stream was taken
        // before any request that must not be sent twice goes on it.
        match pipeline
            .exchange(pb::ClientRequest::checkpoint(false))
            .await
        {
            Ok(_) => Ok(pipeline),
            Err(ClientError::Transport { reason }) => Err(ClientError::Transport {
                reason: format!("the gateway did not take the client stream: {reason}"),
            }),
            Err(e) => Err(e),
        }
    }

    /// Whether the stream has ended (no request can be sent on it any more).
    pub fn is_closed(&self) -> bool {
        self.requests.is_closed()
    }

    /// Sends `request` (checked for shape and the stream's bound) and waits for its answer. No
    /// timeout of its own: the caller bounds the wait.
    pub async fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((request, reply, None))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// [`exchange`](Self::exchange), answered [`ClientError::Timeout`] when no answer came
    /// within `timeout`. The stream's task keeps the deadline: no timer is armed for the
    /// request unless the stream's queue is full when it is sent.
    pub async fn exchange_within(
        &self,
        request: pb::ClientRequest,
        timeout: Duration,
    ) -> Result<pb::ClientResponse, ClientError> {
        self.exchange_until(request, Instant::now() + timeout, timeout)
            .await
    }

    /// [`exchange_within`](Self::exchange_within) with a deadline fixed before (a request whose
    /// bound also covered opening the stream), answered `Timeout { after }` past it. The
    /// deadline is the whole exchange's: an answer that arrives a byte at a time is cut off at
    /// it exactly as one that never comes, whatever the reads in between.
    pub async fn exchange_until(
        &self,
        request: pb::ClientRequest,
        at: Instant,
        after: Duration,
    ) -> Result<pb::ClientResponse, ClientError> {
        let deadline = Deadline { at, after };
        let (reply, answer) = oneshot::channel();
        match self.requests.try_send((request, reply, Some(deadline))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(closed()),
            Err(mpsc::error::TrySendError::Full(queued)) => {
                // Back-pressure: the queue is full, so this wait needs a timer of its own.
                tokio::time::timeout_at(deadline.at, self.requests.send(queued))
                    .await
                    .map_err(|_| deadline.timeout())?
                    .map_err(|_| closed())?;
            }
        }
        answer.await.map_err(|_| closed())?
    }

    /// How many more requests may be written before the gateway answers one.
    pub fn room(&self) -> usize {
        self.room.available_permits()
    }
}

fn closed() -> ClientError {
    ClientError::Transport {
        reason: "the client stream closed before the answer".into(),
    }
}

/// The stream's task: writes requests as they come (at most [`MAX_STREAM_INFLIGHT`] unanswered)
/// and hands each answer to its caller, until either side ends.
async fn run(
    stream: libp2p::Stream,
    mut queue: mpsc::Receiver<Queued>,
    room: Arc<Semaphore>,
    peer: PeerId,
) {
    let (mut reader, mut writer) = stream.split();
    let waiting: Waiting = Arc::default();
    // Wakes the sweep when a deadline is queued while it had none to wait for.
    let armed = Notify::new();
    let sweep = async {
        loop {
            let next = lock(&waiting).expire(Instant::now());
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => armed.notified().await,
            }
        }
    };
    let write = {
        let waiting = waiting.clone();
        let armed = &armed;
        async move {
            let mut next_id: u64 = 0;
            // The requests queued when the writer wakes go out in one write (up to
            // WRITE_BURST_BYTES): one yamux frame and one flush for all of them.
            let mut burst = Vec::new();
            'stream: while let Some(first) = queue.recv().await {
                // Callers answered by one read send their next requests each from its own
                // task; the first wakes this one, which would otherwise write it alone. After
                // this yield, the requests queued meanwhile go in the same write.
                tokio::task::yield_now().await;
                let mut next = Some(first);
                while let Some((request, reply, deadline)) = next.take() {
                    if deadline.is_some_and(|d| d.at <= Instant::now()) {
                        // Waited too long in the queue: not sent at all.
                        let _ = reply.send(Err(deadline.map_or_else(closed, Deadline::timeout)));
                        if burst.len() < WRITE_BURST_BYTES {
                            next = queue.try_recv().ok();
                        }
                        continue;
                    }
                    let permit = match room.clone().try_acquire_owned() {
                        Ok(permit) => permit,
                        Err(_) => {
                            // No room until an answer comes: send what is gathered first.
                            if send_burst(&mut writer, &mut burst, peer).await.is_err() {
                                break 'stream;
                            }
                            match room.clone().acquire_owned().await {
                                Ok(permit) => permit,
                                Err(_) => break 'stream,
                            }
                        }
                    };
                    next_id = next_id.wrapping_add(1).max(1);
                    let frame = pb::StreamRequest {
                        id: next_id,
                        request: Some(request),
                    };
                    if let Err(e) = frame.validate() {
                        let _ = reply.send(Err(ClientError::InvalidRequest(e.to_string())));
                    } else if let Err(e) = append_frame(&mut burst, &frame) {
                        let _ = reply.send(Err(ClientError::InvalidRequest(e.to_string())));
                    } else {
                        let mut in_flight = lock(&waiting);
                        if let Some(d) = deadline {
                            if in_flight.deadlines.is_empty() {
                                armed.notify_one();
                            }
                            in_flight.deadlines.push_back((d.at, next_id));
                        }
                        in_flight.answers.insert(next_id, (reply, permit, deadline));
                    }
                    if burst.len() < WRITE_BURST_BYTES {
                        next = queue.try_recv().ok();
                    }
                }
                if send_burst(&mut writer, &mut burst, peer).await.is_err() {
                    break;
                }
            }
            let _ = writer.close().await;
        }
    };
    let read = {
        let waiting = waiting.clone();
        async move {
            loop {
                let frame: Decoded<pb::StreamResponse> = match read_frame(&mut reader).await {
                    Ok(frame) => frame,
                    Err(error) => {
                        debug!(%peer, %error, "client stream ended");
                        return;
                    }
                };
                let (id, answer) = match frame {
                    Ok(pb::StreamResponse {
                        id,
                        response: Some(response),
                    }) => (id, super::client_answer(Ok(response))),
                    Ok(pb::StreamResponse { id, response: None }) => (
                        id,
                        Err(ClientError::MalformedResponse(WireError::MissingField {
                            field: "StreamResponse.response",
                        })),
                    ),
                    Err(error) => {
                        debug!(%peer, %error, "garbage on the client stream");
                        return;
                    }
                };
                let mut in_flight = lock(&waiting);
                let Some((reply, _permit, _)) = in_flight.answers.remove(&id) else {
                    if in_flight.expired.remove(&id).is_some() {
                        // The late answer of a request that timed out: its slot is free now.
                        continue;
                    }
                    // Id 0 (the gateway could not read a request's id) or an id nobody
                    // waits for: the stream cannot be trusted to match answers any more.
                    debug!(%peer, id, "answer for no request on the client stream");
                    return;
                };
                // Answers mostly come in order: drop the deadlines of answered requests at the
                // front, so the list holds about what is in flight, not a timeout's worth.
                while let Some(&(_, front)) = in_flight.deadlines.front() {
                    if in_flight.answers.contains_key(&front) {
                        break;
                    }
                    in_flight.deadlines.pop_front();
                }
                drop(in_flight);
                let _ = reply.send(answer);
            }
        }
    };
    tokio::select! {
        () = write => {}
        () = read => {}
        () = sweep => {}
    }
    // Whoever still waits learns the stream is gone (dropping the reply says so).
    let mut in_flight = lock(&waiting);
    in_flight.answers.clear();
    in_flight.deadlines.clear();
    in_flight.expired.clear();
}

/// Writes and flushes the frames gathered in `burst` (nothing when it is empty), and empties it.
async fn send_burst<T>(writer: &mut T, burst: &mut Vec<u8>, peer: PeerId) -> io::Result<()>
where
    T: AsyncWrite + Unpin,
{
    if burst.is_empty() {
        return Ok(());
    }
    let sent = async {
        writer.write_all(burst).await?;
        writer.flush().await
    }
    .await;
    burst.clear();
    if let Err(error) = &sent {
        debug!(%peer, %error, "client stream write failed");
    }
    sent
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
