//! Serving `/herald/client-stream/1` (DESIGN §6): the client protocol pipelined on one
//! long-lived stream per client.
//!
//! Each accepted stream gets a task that reads `StreamRequest` frames and a writer that sends the
//! answers as they are ready, in any order, each with its request's id. The stream reads at most
//! `MAX_STREAM_INFLIGHT` requests ahead of its answers (back-pressure on the client, not a
//! refusal), and holds at most [`MAX_STREAM_BYTES_AHEAD`] bytes of requests read and not yet
//! worked through, all streams together at most [`MAX_CLIENT_STREAM_BYTES`] (back-pressure
//! too: a frame's length is reserved before its body is read, and given back once the answer
//! is made, so a client that does not read its answers holds none of it). A frame may carry a
//! whole batch (`wire::MAX_STREAM_REQUEST_BYTES`, some 1 MiB); a longer one is refused. The
//! requests being worked on share the worker's in-flight bound with
//! `/herald/client/1` (beyond it: `BUSY` with a retry time, as there). A frame that is not a valid
//! request is answered with the refusal `/herald/client/1` gives (`MALFORMED`, `TOO_LARGE`) under
//! the id that could be read; a frame whose id cannot be read is answered under id 0 and the
//! stream is closed. While the node drains, every request is answered "shutting down".
//!
//! The answers come from the same [`Inbound::client`] as the request-response path: the stream is
//! a transport, nothing more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use futures::{AsyncWriteExt as _, StreamExt as _};
use herald_light_client::net::stream::{
    WRITE_BURST_BYTES, append_stream_response, read_stream_request_body, read_stream_request_len,
};
use herald_light_client::net::{CLIENT_STREAM_PROTOCOL, StreamFrame};
use herald_proto::wire::pb::{ClientErrorKind, ClientResponse, client_response};
use herald_proto::wire::{MAX_STREAM_INFLIGHT, MAX_STREAM_REQUEST_BYTES, pb};
use libp2p::PeerId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::debug;

use super::inbound::Inbound;
use super::worker::{BUSY_RETRY_AFTER_MS, wire_error_response};
use crate::metrics::{NetworkMetrics, request_label};

/// Client streams served at once; a stream past this is closed at once.
pub(super) const MAX_CLIENT_STREAMS: usize = 1024;

/// Bytes of requests one stream may hold read and not yet answered: four full batches, so a
/// client pipelining whole batches keeps the sequencer fed without one stream taking the node.
pub(super) const MAX_STREAM_BYTES_AHEAD: usize = 4 * MAX_STREAM_REQUEST_BYTES;

/// Bytes of requests all client streams together may hold read and not yet answered.
pub(super) const MAX_CLIENT_STREAM_BYTES: usize = 64 * 1024 * 1024;

// Every frame the reader accepts fits both budgets, so reserving its length always ends.
const _: () = assert!(MAX_STREAM_REQUEST_BYTES <= MAX_STREAM_BYTES_AHEAD);
const _: () = assert!(MAX_STREAM_BYTES_AHEAD <= MAX_CLIENT_STREAM_BYTES);
const _: () = assert!(MAX_CLIENT_STREAM_BYTES <= u32::MAX as usize);

/// The bytes of requests held by one stream and by all of them (see the module docs).
#[derive(Clone, Debug)]
pub(super) struct RequestBytes {
    stream: Arc<Semaphore>,
    all: Arc<Semaphore>,
}

/// Bytes reserved for one request until it is dropped.
#[derive(Debug)]
pub(super) struct Reserved {
    _stream: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

impl RequestBytes {
    /// A new stream's budget of `per_stream` bytes, drawing on `all`.
    pub(super) fn new(per_stream: usize, all: Arc<Semaphore>) -> Self {
        RequestBytes {
            stream: Arc::new(Semaphore::new(per_stream)),
            all,
        }
    }

    /// Waits until `len` bytes are free in both budgets and holds them; `None` once a budget is
    /// closed. `len` is at most the frame limit, which both budgets exceed.
    pub(super) async fn reserve(&self, len: usize) -> Option<Reserved> {
        let n = u32::try_from(len).ok()?;
        let stream = self.stream.clone().acquire_many_owned(n).await.ok()?;
        let all = self.all.clone().acquire_many_owned(n).await.ok()?;
        Some(Reserved {
            _stream: stream,
            _all: all,
        })
    }
}

/// What every stream's task shares.
pub(super) struct StreamServer<S> {
    /// The application that answers.
    pub service: S,
    /// The worker's bound on requests being worked on (shared with `/herald/client/1`).
    pub inflight: Arc<Semaphore>,
    /// Set when the node starts draining.
    pub draining: Arc<AtomicBool>,
    pub metrics: NetworkMetrics,
}

/// Accepts client streams from `control` and serves each on a task of its own, until the
/// swarm's behaviour is dropped.
pub(super) fn serve<S: Inbound>(
    control: &mut libp2p_stream::Control,
    server: StreamServer<S>,
) -> Result<JoinHandle<()>, super::NetworkError> {
    let mut incoming = control
        .accept(CLIENT_STREAM_PROTOCOL)
        .map_err(|e| super::NetworkError::Build(e.to_string()))?;
    let server = Arc::new(server);
    let streams = Arc::new(Semaphore::new(MAX_CLIENT_STREAMS));
    let bytes = Arc::new(Semaphore::new(MAX_CLIENT_STREAM_BYTES));
    Ok(tokio::spawn(async move {
        while let Some((peer, stream)) = incoming.next().await {
            let Ok(slot) = streams.clone().try_acquire_owned() else {
                server.metrics.stream_failure();
                debug!(%peer, "client stream refused: too many open");
                continue;
            };
            let budget = RequestBytes::new(MAX_STREAM_BYTES_AHEAD, bytes.clone());
            tokio::spawn(serve_stream(server.clone(), peer, stream, slot, budget));
        }
    }))
}

/// Serves one stream until the client closes it or it breaks, then writes the answers still in
/// flight.
async fn serve_stream<S: Inbound>(
    server: Arc<StreamServer<S>>,
    peer: PeerId,
    stream: libp2p::Stream,
    _slot: OwnedSemaphorePermit,
    budget: RequestBytes,
) {
    let (mut reader, mut writer) = futures::AsyncReadExt::split(stream);
    let (answers, mut outbox) = mpsc::channel::<(u64, ClientResponse)>(MAX_STREAM_INFLIGHT);
    let metrics = server.metrics.clone();
    let write = async move {
        // The answers ready when the writer wakes go out in one write and one flush (up to
        // WRITE_BURST_BYTES), not one yamux frame, noise message and send each.
        let mut burst = Vec::new();
        while let Some(first) = outbox.recv().await {
            // A sequencer round wakes the tasks of all its submissions at once, and the first
            // answer wakes this writer next on the same thread: without this yield it would
            // write that answer alone, and each of the others in a write (a send each) of its
            // own. After it, the answers made meanwhile go in the same write.
            tokio::task::yield_now().await;
            let mut next = Some(first);
            while let Some((id, response)) = next.take() {
                if let Err(error) = append_stream_response(&mut burst, id, response) {
                    metrics.stream_failure();
                    debug!(%peer, %error, "client stream answer not encodable");
                    return;
                }
                if burst.len() < WRITE_BURST_BYTES {
                    next = outbox.try_recv().ok();
                }
            }
            let sent = async {
                writer.write_all(&burst).await?;
                writer.flush().await
            };
            if let Err(error) = sent.await {
                metrics.stream_failure();
                debug!(%peer, %error, "client stream write failed");
                return;
            }
            burst.clear();
        }
        let _ = writer.close().await;
    };
    let read = async move {
        let ahead = Arc::new(Semaphore::new(MAX_STREAM_INFLIGHT));
        loop {
            let Ok(room) = ahead.clone().acquire_owned().await else {
                return;
            };
            let (frame, reserved) = match read_stream_request_len(&mut reader).await {
                Ok(Some(Ok(len))) => {
                    // Held from before the body is read until the request is answered.
                    let Some(reserved) = budget.reserve(len).await else {
                        return;
                    };
                    match read_stream_request_body(&mut reader, len).await {
                        Ok(frame) => (frame, Some(reserved)),
                        Err(error) => {
                            debug!(%peer, %error, "client stream ended inside a frame");
                            return;
                        }
                    }
                }
                Ok(Some(Err(error))) => (StreamFrame::Refused { id: 0, error }, None),
                Ok(None) => return,
                Err(error) => {
                    debug!(%peer, %error, "client stream ended inside a frame");
                    return;
                }
            };
            match frame {
                StreamFrame::Refused { id, error } => {
                    server.metrics.request("invalid");
                    debug!(%peer, id, %error, "invalid request on a client stream");
                    answer(&server.metrics, &answers, id, wire_error_response(&error)).await;
                    if id == 0 {
                        return;
                    }
                }
                StreamFrame::Request { id, request } => {
                    start(&server, peer, id, request, &answers, (room, reserved)).await;
                }
            }
        }
    };
    // The reader's sender goes with it; the writer ends once every answer in flight is sent.
    tokio::join!(read, write);
}

/// Starts answering one valid request (or refuses it at once: draining, `BUSY`).
async fn start<S: Inbound>(
    server: &StreamServer<S>,
    peer: PeerId,
    id: u64,
    request: pb::ClientRequest,
    answers: &mpsc::Sender<(u64, ClientResponse)>,
    (room, reserved): (OwnedSemaphorePermit, Option<Reserved>),
) {
    // Validation guarantees a kind.
    let kind = request.request.as_ref().map_or("invalid", request_label);
    server.metrics.request(kind);
    if server.draining.load(Ordering::Relaxed) {
        let refusal =
            ClientResponse::refusal(ClientErrorKind::Internal, "the gateway is shutting down");
        return answer(&server.metrics, answers, id, refusal).await;
    }
    let Ok(permit) = server.inflight.clone().try_acquire_owned() else {
        let mut busy =
            ClientResponse::refusal(ClientErrorKind::Busy, "too many requests in flight");
        if let Some(client_response::Response::Error(e)) = &mut busy.response {
            e.retry_after_ms = BUSY_RETRY_AFTER_MS;
        }
        return answer(&server.metrics, answers, id, busy).await;
    };
    let service = server.service.clone();
    let mut work = Box::pin(async move { service.client(peer, request).await });
    // Most reads (proofs, the checkpoint) are answered on their first poll, from the store's
    // memory: answered here, they cost no task of their own. What has to wait (a submission's
    // round, the blocking pool) goes on its own task, which polls the same future on.
    let first_poll = work.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    if let Poll::Ready(response) = first_poll {
        drop(reserved);
        answer(&server.metrics, answers, id, response).await;
        drop((permit, room));
        return;
    }
    let (metrics, answers) = (server.metrics.clone(), answers.clone());
    tokio::spawn(async move {
        let response = work.await;
        // The request's bytes are gone: whether the client reads its answer or not.
        drop(reserved);
        answer(&metrics, &answers, id, response).await;
        drop((permit, room));
    });
}

/// Hands an answer to the stream's writer, counting a refusal as `/herald/client/1` does.
async fn answer(
    metrics: &NetworkMetrics,
    answers: &mpsc::Sender<(u64, ClientResponse)>,
    id: u64,
    response: ClientResponse,
) {
    if let Some(client_response::Response::Error(e)) = &response.response {
        metrics
            .request_error(ClientErrorKind::try_from(e.kind).unwrap_or(ClientErrorKind::Internal));
    }
    // The writer has stopped only if the stream broke; the answer has nowhere to go then.
    let _ = answers.send((id, response)).await;
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;

    use super::*;

    #[test]
    fn a_stream_holds_at_most_its_bytes_and_all_streams_at_most_theirs() {
        let all = Arc::new(Semaphore::new(15));
        let one = RequestBytes::new(10, all.clone());
        let two = RequestBytes::new(10, all.clone());
        let first = one
            .reserve(10)
            .now_or_never()
            .flatten()
            .expect("within both");
        // The first stream is full: its next request waits (its body is not read).
        assert!(one.reserve(1).now_or_never().is_none());
        // Another stream has its own budget, up to what is left of all of them.
        let second = two
            .reserve(5)
            .now_or_never()
            .flatten()
            .expect("within both");
        assert!(two.reserve(1).now_or_never().is_none(), "all streams full");
        // Answering gives the bytes back.
        drop(first);
        assert!(two.reserve(5).now_or_never().flatten().is_some());
        drop(second);
        assert_eq!(all.available_permits(), 15);
    }
}
