//! The node's HTTP listener: `/metrics`, `/health`, `/status`, the admin API
//! ([`crate::admin`]), and whatever else [`crate::routes`] serves.
//!
//! Built on hyper (HTTP/1.1 with keep-alive, and h2c by prior knowledge, told apart by the
//! connection preface). What this module owns is the bounding: see [`HttpLimits`] for every
//! bound and `listener` for how connections are admitted, shed and timed out; `exchange`
//! turns one hyper request into a [`Routes`] call. [`Routes::admit`] looks at a request (method,
//! path, credentials) before any of its body is read, and sets the most body bytes it may
//! carry (413 beyond). Which routes the node serves is [`crate::routes`]'s; this listener knows
//! none of them. It listens on loopback by default; what is not public (the admin API) needs
//! the bearer token.

mod counted;
mod exchange;
mod listener;

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Every bound of the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections held open at once. At this number a new connection is still taken, and the
    /// oldest connection of the source holding the most is asked to close (it finishes the
    /// request it is serving, if any): idle sockets cannot lock anyone out (F6).
    pub max_connections: usize,
    /// Connections one source address holds before its own oldest is asked to close.
    pub max_per_source: usize,
    /// Requests handled at once, over all connections and streams; more wait up to
    /// [`queue_wait`](Self::queue_wait), then get 503.
    pub max_in_flight: usize,
    /// Longest wait for a handling slot.
    pub queue_wait: Duration,
    /// Longest time from the first byte of a request head to its end (HTTP/1.1), bounded by
    /// the connection's watchdog (checked at least this often; not a timer per request).
    pub header_read_timeout: Duration,
    /// Longest time a connection may stay open with no request in flight and no request head
    /// arriving.
    pub idle_timeout: Duration,
    /// Longest time reading an admitted body may take (408 beyond).
    pub body_timeout: Duration,
    /// Longest time a route may take to answer (503 beyond).
    pub handler_timeout: Duration,
    /// Largest request head (request line and headers), HTTP/1.1 buffer and HTTP/2 header list.
    pub max_head_bytes: usize,
    /// Streams one HTTP/2 connection may have open.
    pub max_streams_per_connection: u32,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 1024,
            max_per_source: 256,
            max_in_flight: 256,
            queue_wait: Duration::from_secs(2),
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            handler_timeout: Duration::from_secs(30),
            max_head_bytes: MAX_HEAD_BYTES,
            max_streams_per_connection: 64,
        }
    }
}

/// What the listener counts (`/metrics`).
#[derive(Clone, Debug, Default)]
pub struct HttpMetrics {
    /// Connections open now.
    pub open_connections: Gauge,
    /// Connections asked to close to make room for newer ones.
    pub connections_shed: Counter,
    /// Requests answered 503 for want of a handling slot or because the route was too slow.
    pub busy: Counter,
}

impl HttpMetrics {
    /// Creates the listener's metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = HttpMetrics::default();
        registry.register(
            "herald_http_open_connections",
            "Connections open on the HTTP listener",
            m.open_connections.clone(),
        );
        registry.register(
            "herald_http_connections_shed",
            "HTTP connections asked to close to make room for newer ones",
            m.connections_shed.clone(),
        );
        registry.register(
            "herald_http_busy",
            "HTTP requests answered 503: no handling slot in time, or no answer in time",
            m.busy.clone(),
        );
        m
    }
}

/// Largest request head by default.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: `GET` without the body.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
    /// Any other token.
    Other,
}

/// `Cache-Control` of answers that must not be cached (the default).
pub const NO_STORE: &str = "no-store";

/// An HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: &'static str,
    /// `Cache-Control` header ([`NO_STORE`] unless a route says otherwise).
    pub cache_control: Cow<'static, str>,
    /// Body: shared bytes, handed to hyper without a copy (a held tile is answered by a
    /// reference-count increment).
    pub body: Bytes,
}

impl Response {
    /// An answer of `content_type`, not to be cached.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Response {
            status,
            content_type,
            cache_control: Cow::Borrowed(NO_STORE),
            body: body.into(),
        }
    }

    /// A `text/plain` answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response::new(
            status,
            "text/plain; charset=utf-8",
            body.into().into_bytes(),
        )
    }

    /// An `application/json` answer of `value`.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec_pretty(value) {
            Ok(body) => Response::new(status, "application/json", body),
            Err(_) => Response::text(500, "answer unavailable\n"),
        }
    }

    /// The same answer with another `Cache-Control`.
    pub fn cached(mut self, cache_control: impl Into<Cow<'static, str>>) -> Self {
        self.cache_control = cache_control.into();
        self
    }
}

/// What the listener serves.
pub trait Routes: Clone + Send + Sync + 'static {
    /// Answers a GET (or HEAD) of `path` (the query string removed).
    fn get(&self, path: &str) -> impl Future<Output = Response> + Send;

    /// Looks at a request before any of its body is read: the most body bytes it may carry,
    /// or the answer to give at once (401, 404, 405, ...). By default only GET and HEAD are
    /// taken, without a body.
    fn admit(&self, head: &RequestHead) -> Result<usize, Response> {
        match head.method {
            Method::Get | Method::Head => Ok(0),
            _ => Err(Response::text(405, "only GET and HEAD\n")),
        }
    }

    /// Answers an admitted request and its body. By default [`get`](Self::get) of its path.
    fn call(&self, head: RequestHead, body: Vec<u8>) -> impl Future<Output = Response> + Send {
        drop(body);
        async move { self.get(&head.path).await }
    }
}

/// What a route sees of a request before its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The path, query string removed.
    pub path: String,
    /// The `Authorization` header, if any (and if it is visible ASCII).
    pub authorization: Option<String>,
    /// The `Content-Length` header, if any (hyper has checked it is digits only).
    pub content_length: Option<u64>,
}

/// The running listener.
#[derive(Debug)]
pub struct HttpServer {
    /// The bound address (the OS's port when configured with port 0).
    pub local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// How long [`HttpServer::stop`] lets open connections finish their requests.
const STOP_GRACE: Duration = Duration::from_secs(2);

impl HttpServer {
    /// Binds `addr` and serves `routes` with the default [`HttpLimits`] until
    /// [`HttpServer::stop`].
    pub async fn bind<R: Routes>(addr: SocketAddr, routes: R) -> io::Result<Self> {
        Self::bind_with(addr, routes, HttpLimits::default()).await
    }

    /// Binds `addr` and serves `routes` within `limits`.
    pub async fn bind_with<R: Routes>(
        addr: SocketAddr,
        routes: R,
        limits: HttpLimits,
    ) -> io::Result<Self> {
        Self::bind_counted(addr, routes, limits, HttpMetrics::default()).await
    }

    /// Binds `addr` and serves `routes` within `limits`, counting in `metrics`.
    pub async fn bind_counted<R: Routes>(
        addr: SocketAddr,
        routes: R,
        limits: HttpLimits,
        metrics: HttpMetrics,
    ) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(listener::accept_loop(
            listener, routes, limits, metrics, stop,
        ));
        Ok(HttpServer {
            local_addr,
            shutdown,
            task,
        })
    }

    /// Stops accepting, asks every open connection to close once its request is answered,
    /// and waits for that (at most a couple of seconds; the rest are cut).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests;
