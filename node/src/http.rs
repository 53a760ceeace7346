//! A small HTTP/1.1 listener for operators: `/metrics`, `/health`, `/status`.
//!
//! Hand-written on `tokio::net` because it serves three fixed GET routes: one request per
//! connection (`Connection: close`), the request head bounded to [`MAX_HEAD_BYTES`], the whole
//! exchange to [`EXCHANGE_TIMEOUT`], at most [`MAX_CONNECTIONS`] at once (more are closed
//! unanswered). A head that is not `GET|HEAD <path> HTTP/1.x` is answered 400, another method
//! 405, an unknown path 404, an oversized head 431. It listens on loopback by default; nothing
//! it serves is secret.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::metrics;
use crate::network::NodeHandle;
use crate::store::LogHead;

/// Largest request head (request line and headers) read.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Longest time one connection may take, from accept to the last byte of the answer.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// After refusing a request, at most this much more is read and dropped before closing.
const LINGER_BYTES: u64 = 64 * 1024;
/// ... for at most this long.
const LINGER_TIME: Duration = Duration::from_secs(1);

/// An HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A `text/plain` answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into().into_bytes(),
        }
    }

    /// The bytes on the wire; `HEAD` gets the headers only.
    fn encode(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// What the listener serves: the answer to `GET <path>`.
pub trait Routes: Clone + Send + Sync + 'static {
    /// Answers a GET (or HEAD) of `path` (the query string removed).
    fn get(&self, path: &str) -> impl Future<Output = Response> + Send;
}

/// A request head that passed the checks: method and path.
#[derive(Debug, PartialEq, Eq)]
struct RequestHead {
    head_only: bool,
    path: String,
}

/// Parses a complete request head (up to and including the blank line).
fn parse_head(head: &[u8]) -> Result<RequestHead, Response> {
    let bad = || Response::text(400, "bad request\n");
    let text = std::str::from_utf8(head).map_err(|_| bad())?;
    let line = text.split("\r\n").next().ok_or_else(bad)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") || !target.starts_with('/') {
        return Err(bad());
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(Response::text(405, "only GET and HEAD\n")),
    };
    let path = target.split('?').next().unwrap_or(target).to_owned();
    Ok(RequestHead { head_only, path })
}

/// The running listener.
#[derive(Debug)]
pub struct HttpServer {
    /// The bound address (the OS's port when configured with port 0).
    pub local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `addr` and serves `routes` until [`HttpServer::stop`].
    pub async fn bind<R: Routes>(addr: SocketAddr, routes: R) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (shutdown, stop) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, routes, stop));
        Ok(HttpServer {
            local_addr,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// Stops accepting and waits for the accept loop to end (connections in progress finish
    /// on their own within [`EXCHANGE_TIMEOUT`]).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

async fn accept_loop<R: Routes>(listener: TcpListener, routes: R, mut stop: oneshot::Receiver<()>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        debug!(%peer, "HTTP connection refused: too many at once");
                        continue;
                    };
                    let routes = routes.clone();
                    tokio::spawn(async move {
                        if tokio::time::timeout(EXCHANGE_TIMEOUT, serve(stream, routes)).await.is_err() {
                            debug!(%peer, "HTTP exchange timed out");
                        }
                        drop(slot);
                    });
                }
                Err(error) => {
                    // e.g. out of file descriptors: back off instead of spinning.
                    warn!(%error, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// One exchange: read the head (bounded), answer, close.
async fn serve<R: Routes>(mut stream: TcpStream, routes: R) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let response = loop {
        if let Some(end) = find_head_end(&head) {
            break match parse_head(&head[..end]) {
                Ok(req) => {
                    let answer = routes.get(&req.path).await;
                    let _ = stream.write_all(&answer.encode(req.head_only)).await;
                    let _ = stream.shutdown().await;
                    return;
                }
                Err(refusal) => refusal,
            };
        }
        if head.len() >= MAX_HEAD_BYTES {
            break Response::text(431, "request head too large\n");
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let room = MAX_HEAD_BYTES - head.len();
                head.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    };
    let _ = stream.write_all(&response.encode(false)).await;
    let _ = stream.shutdown().await;
    // Lingering close: read what the client is still sending (bounded in bytes and time), so
    // that closing with unread data does not reset the connection before it reads the answer.
    let mut rest = stream.take(LINGER_BYTES);
    let _ = tokio::time::timeout(
        LINGER_TIME,
        tokio::io::copy(&mut rest, &mut tokio::io::sink()),
    )
    .await;
}

/// The length of the head including its terminating blank line, once complete.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// What `/status` reports, as JSON. `herald-node status` reads it back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The log's origin, `<domain>/herald`.
    pub origin: String,
    /// The log's hash algorithm.
    pub hash: String,
    /// The latest durable tree size.
    pub tree_size: u64,
    /// Its root, base64.
    pub root: String,
    /// The latest signed checkpoint, verbatim note text.
    pub checkpoint: String,
    /// The libp2p peer id.
    pub peer_id: String,
    /// Listen addresses with `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// The log's verifier key (C2SP), which clients pin.
    pub log_key: String,
    /// The witness's verifier key.
    pub witness_key: String,
    /// The node's version.
    pub version: String,
}

/// The parts of `/status` that do not change while the node runs.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    /// The log's origin.
    pub origin: String,
    /// The log's hash algorithm.
    pub hash: String,
    /// The log's verifier key string.
    pub log_key: String,
    /// The witness's verifier key string.
    pub witness_key: String,
}

/// The node's routes: `/metrics`, `/health`, `/status`.
#[derive(Clone)]
pub struct NodeRoutes {
    /// The registry every part registered its metrics in.
    pub registry: Arc<Registry>,
    /// The network worker.
    pub node: NodeHandle,
    /// The sequencer's latest durable head.
    pub heads: watch::Receiver<LogHead>,
    /// What does not change.
    pub identity: Arc<NodeIdentity>,
}

impl NodeRoutes {
    /// Whether the sequencer and the network worker are both alive.
    fn healthy(&self) -> bool {
        // `has_changed` fails once the sequencer has dropped its end.
        self.node.is_running() && self.heads.has_changed().is_ok()
    }

    async fn status(&self) -> NodeStatus {
        let head = self.heads.borrow().clone();
        let listen_addrs = self.node.listen_addrs().await.unwrap_or_default();
        NodeStatus {
            origin: self.identity.origin.clone(),
            hash: self.identity.hash.clone(),
            tree_size: head.size,
            root: BASE64.encode(head.root),
            checkpoint: String::from_utf8_lossy(&head.checkpoint).into_owned(),
            peer_id: self.node.peer_id().to_string(),
            listen_addrs: listen_addrs.iter().map(|a| a.to_string()).collect(),
            log_key: self.identity.log_key.clone(),
            witness_key: self.identity.witness_key.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

impl Routes for NodeRoutes {
    async fn get(&self, path: &str) -> Response {
        match path {
            "/metrics" => Response {
                status: 200,
                content_type: metrics::CONTENT_TYPE,
                body: metrics::render(&self.registry).into_bytes(),
            },
            "/health" if self.healthy() => Response::text(200, "ok\n"),
            "/health" => Response::text(503, "unhealthy\n"),
            "/status" => {
                let status = self.status().await;
                match serde_json::to_vec_pretty(&status) {
                    Ok(body) => Response {
                        status: 200,
                        content_type: "application/json",
                        body,
                    },
                    Err(_) => Response::text(503, "status unavailable\n"),
                }
            }
            _ => Response::text(404, "not found\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Echo;

    impl Routes for Echo {
        async fn get(&self, path: &str) -> Response {
            match path {
                "/hello" => Response::text(200, "hi\n"),
                _ => Response::text(404, "not found\n"),
            }
        }
    }

    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn routes_and_refusals() {
        let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), Echo)
            .await
            .unwrap();
        let addr = server.local_addr;
        let ok = exchange(addr, b"GET /hello?x=1 HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nhi\n"), "{ok}");
        let head = exchange(addr, b"HEAD /hello HTTP/1.1\r\n\r\n").await;
        assert!(
            head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        let missing = exchange(addr, b"GET /nope HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        let post = exchange(addr, b"POST /hello HTTP/1.1\r\n\r\n").await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        let garbage = exchange(addr, b"\x00\x01\x02 nonsense\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
        server.stop().await;
    }

    #[tokio::test]
    async fn an_endless_head_is_cut_at_8_kib() {
        let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), Echo)
            .await
            .unwrap();
        let mut request = b"GET /hello HTTP/1.1\r\n".to_vec();
        request.extend(std::iter::repeat_n(b'a', 3 * MAX_HEAD_BYTES));
        let answer = exchange(server.local_addr, &request).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        server.stop().await;
    }

    #[test]
    fn request_lines_are_checked() {
        assert_eq!(
            parse_head(b"GET /status HTTP/1.0\r\n\r\n"),
            Ok(RequestHead {
                head_only: false,
                path: "/status".into()
            })
        );
        for bad in [
            &b"GET /status\r\n\r\n"[..],
            b"GET status HTTP/1.1\r\n\r\n",
            b"GET /a HTTP/2\r\n\r\n",
            b"GET  /a HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad).unwrap_err().status, 400, "{bad:?}");
        }
    }
}
