//! One request through the bounds to a [`Routes`] call and back.
//!
//! In order: wait for a handling slot ([`HttpLimits::max_in_flight`], 503 after
//! [`HttpLimits::queue_wait`]); [`Routes::admit`] on the head; 413 if the announced length is
//! past what the route admits; read the body, bounded in bytes (413) and time (408); call the
//! route, bounded in time (503). hyper has already refused what is not HTTP (400), a head past
//! its buffer (431), and a `Content-Length` that is not digits only (400: the reliability
//! review's F12 found `+5` accepted by the old listener).

use std::borrow::Cow;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::Semaphore;

use super::{HttpLimits, Method, RequestHead, Response, Routes};

/// What every connection of a listener shares.
pub(super) struct Shared {
    limits: HttpLimits,
    slots: Arc<Semaphore>,
    busy: Counter,
}

impl Shared {
    pub(super) fn new(limits: HttpLimits, busy: Counter) -> Self {
        Shared {
            limits,
            slots: Arc::new(Semaphore::new(limits.max_in_flight)),
            busy,
        }
    }
}

/// Whether a connection has a request in flight, since when it has had none, and whether a
/// request head has begun to arrive since (its bytes counted by `counted::CountedStream`).
#[derive(Debug)]
pub(super) struct Activity {
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `epoch` of the last answer (or of the accept).
    last_ms: AtomicU64,
    /// Reads that brought bytes, ever.
    reads: AtomicU64,
    /// `reads` when the last answer ended: more since means a head is arriving.
    reads_at_answer: AtomicU64,
    /// Milliseconds after `epoch` of the first read after the last answer.
    head_from_ms: AtomicU64,
    /// Whether the connection opened with the HTTP/2 preface: its frames between requests
    /// (pings, window updates) are no request head, so only the idle bound applies to it.
    http2: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            reads_at_answer: AtomicU64::new(0),
            head_from_ms: AtomicU64::new(0),
            http2: AtomicBool::new(false),
        }
    }

    /// Whether a request is in flight.
    pub(super) fn in_flight(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// Zero while a request is in flight; else the time since the last answer.
    pub(super) fn idle_for(&self) -> Duration {
        if self.in_flight() {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// How long the request head now arriving has taken so far: `None` when no byte came since
    /// the last answer, while a request is in flight, and on HTTP/2.
    pub(super) fn head_for(&self) -> Option<Duration> {
        if self.in_flight()
            || self.http2.load(Ordering::Relaxed)
            || self.reads.load(Ordering::Acquire) == self.reads_at_answer.load(Ordering::Acquire)
        {
            return None;
        }
        let from = Duration::from_millis(self.head_from_ms.load(Ordering::Acquire));
        Some(self.epoch.elapsed().saturating_sub(from))
    }

    /// A read brought `first` (its bytes); the first one after an answer starts a head's clock.
    pub(super) fn bytes_arrived(&self, first: &[u8]) {
        let before = self.reads.fetch_add(1, Ordering::AcqRel);
        if before == 0 && first.starts_with(b"PRI * HTTP/2") {
            self.http2.store(true, Ordering::Relaxed);
        }
        if before == self.reads_at_answer.load(Ordering::Acquire) {
            self.head_from_ms.store(self.now_ms(), Ordering::Release);
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// A request in flight on its connection; ends when dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.last_ms.store(activity.now_ms(), Ordering::Release);
        // Bytes read until now were this request's (or, pipelined, the next one's, which is
        // then bounded as idle time).
        activity
            .reads_at_answer
            .store(activity.reads.load(Ordering::Acquire), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The hyper service of one connection.
pub(super) struct Exchange<R> {
    routes: R,
    shared: Arc<Shared>,
    activity: Arc<Activity>,
}

impl<R: Routes> Exchange<R> {
    pub(super) fn new(routes: R, shared: Arc<Shared>) -> Self {
        Exchange {
            routes,
            shared,
            activity: Arc::new(Activity::new()),
        }
    }

    pub(super) fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }
}

type Answer = hyper::Response<Full<Bytes>>;

impl<R: Routes> hyper::service::Service<hyper::Request<Incoming>> for Exchange<R> {
    type Response = Answer;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let (routes, shared) = (self.routes.clone(), self.shared.clone());
        let in_flight = self.activity.begin();
        Box::pin(async move {
            let response = answer(routes, &shared, request).await;
            drop(in_flight);
            Ok(encode(response))
        })
    }
}

async fn answer<R: Routes>(
    routes: R,
    shared: &Shared,
    request: hyper::Request<Incoming>,
) -> Response {
    let limits = &shared.limits;
    // A free slot is taken at once, without reading the clock or arming the wait's timer (the
    // usual case); only a request that must wait is bounded by `queue_wait`.
    let _slot = match shared.slots.clone().try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => {
            match tokio::time::timeout(limits.queue_wait, shared.slots.clone().acquire_owned())
                .await
            {
                Ok(Ok(slot)) => slot,
                _ => {
                    shared.busy.inc();
                    return Response::text(503, "busy; retry shortly\n");
                }
            }
        }
    };
    let head = match request_head(&request) {
        Ok(head) => head,
        Err(refusal) => return refusal,
    };
    let limit = match routes.admit(&head) {
        Ok(limit) => limit,
        Err(refusal) => return refusal,
    };
    if head.content_length.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    // A request without a body (every GET a reader sends) has nothing to wait for.
    let body = if request.body().is_end_stream() {
        Vec::new()
    } else {
        match read_body(request.into_body(), limit, limits.body_timeout).await {
            Ok(body) => body,
            Err(refusal) => return refusal,
        }
    };
    match tokio::time::timeout(limits.handler_timeout, routes.call(head, body)).await {
        Ok(response) => response,
        Err(_) => {
            shared.busy.inc();
            Response::text(503, "no answer in time\n")
        }
    }
}

/// Reads a body of at most `limit` bytes within `timeout`: 413 beyond, 408 when too slow.
async fn read_body(body: Incoming, limit: usize, timeout: Duration) -> Result<Vec<u8>, Response> {
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(Response::text(408, "the body did not arrive in time\n")),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(too_large(limit)),
        Ok(Err(_)) => Err(Response::text(400, "the body could not be read\n")),
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
    }
}

fn too_large(limit: usize) -> Response {
    Response::text(413, format!("the body may be at most {limit} bytes\n"))
}

/// The head a route sees; 400 for what hyper let through but a route cannot take.
fn request_head(request: &hyper::Request<Incoming>) -> Result<RequestHead, Response> {
    let method = match *request.method() {
        hyper::Method::GET => Method::Get,
        hyper::Method::HEAD => Method::Head,
        hyper::Method::POST => Method::Post,
        hyper::Method::PUT => Method::Put,
        hyper::Method::DELETE => Method::Delete,
        _ => Method::Other,
    };
    let path = request.uri().path();
    if !path.starts_with('/') {
        return Err(Response::text(400, "the target must be a path\n"));
    }
    let headers = request.headers();
    let authorization = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // hyper refuses a request whose Content-Length is not one run of digits (or several that
    // disagree); what is left here parses.
    let content_length = headers
        .get(hyper::header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| Response::text(400, "bad Content-Length\n"))
        })
        .transpose()?;
    Ok(RequestHead {
        method,
        path: path.to_owned(),
        authorization,
        content_length,
    })
}

/// The hyper answer (hyper itself leaves the body out of an answer to HEAD).
fn encode(response: Response) -> Answer {
    let status = response.status;
    let mut answer = hyper::Response::new(Full::new(response.body));
    *answer.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = answer.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(response.content_type),
    );
    // A route's policy is nearly always a `&'static str` (a tile's `immutable`): its header
    // wraps the static bytes after checking them, without allocating or copying.
    let cache = match response.cache_control {
        Cow::Borrowed(policy) => {
            HeaderValue::from_maybe_shared(Bytes::from_static(policy.as_bytes()))
        }
        Cow::Owned(policy) => HeaderValue::from_str(&policy),
    };
    if let Ok(cache) = cache {
        headers.insert(CACHE_CONTROL, cache);
    }
    if status == 503 {
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    answer
}
