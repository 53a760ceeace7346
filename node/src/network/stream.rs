//! Serving `/herald/client-stream/1` (DESIGN §6): the client protocol pipelined on one
//! long-lived stream per client.
//!
//! Each accepted stream gets a task that reads `StreamRequest` frames and a writer that sends the
//! answers as they are ready, in any order, each with its request's id. The stream reads at most
//! `MAX_STREAM_INFLIGHT` requests ahead of its answers (back-pressure on the client, not a
//! refusal); the requests being worked on share the worker's in-flight bound with
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
    WRITE_BURST_BYTES, append_stream_response, read_stream_request,
};
use herald_light_client::net::{CLIENT_STREAM_PROTOCOL, StreamFrame};
use herald_proto::wire::pb::{ClientErrorKind, ClientResponse, client_response};
use herald_proto::wire::{MAX_STREAM_INFLIGHT, pb};
use libp2p::PeerId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::debug;

use super::inbound::Inbound;
use super::worker::{BUSY_RETRY_AFTER_MS, wire_error_response};
use crate::metrics::{NetworkMetrics, request_label};

/// Client streams served at once; a stream past this is closed at once.
pub(super) const MAX_CLIENT_STREAMS: usize = 1024;

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
    Ok(tokio::spawn(async move {
        while let Some((peer, stream)) = incoming.next().await {
            let Ok(slot) = streams.clone().try_acquire_owned() else {
                server.metrics.stream_failure();
                debug!(%peer, "client stream refused: too many open");
                continue;
            };
            tokio::spawn(serve_stream(server.clone(), peer, stream, slot));
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
) {
    let (mut reader, mut writer) = futures::AsyncReadExt::split(stream);
    let (answers, mut outbox) = mpsc::channel::<(u64, ClientResponse)>(MAX_STREAM_INFLIGHT);
    let metrics = server.metrics.clone();
    let write = async move {
        // The answers ready when the writer wakes go out in one write and one flush (up to
        // WRITE_BURST_BYTES), not one yamux frame, noise message and send each.
        let mut burst = Vec::new();
        while let Some(first) = outbox.recv().await {
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
            let frame = match read_stream_request(&mut reader).await {
                Ok(Some(frame)) => frame,
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
                    start(&server, peer, id, request, &answers, room).await;
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
    room: OwnedSemaphorePermit,
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
        answer(&server.metrics, answers, id, response).await;
        drop((permit, room));
        return;
    }
    let (metrics, answers) = (server.metrics.clone(), answers.clone());
    tokio::spawn(async move {
        let response = work.await;
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
