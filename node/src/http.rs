//! A small HTTP/1.1 listener for operators: `/metrics`, `/health`, `/status`, and the admin API
//! ([`crate::admin`]).
//!
//! Hand-written on `tokio::net` because it serves a few fixed routes: one request per
//! connection (`Connection: close`), the request head bounded to [`MAX_HEAD_BYTES`], a body only
//! where a route admits one and only up to the length it allows (413 beyond, 411 without a
//! `Content-Length`), the whole exchange bounded by [`EXCHANGE_TIMEOUT`], at most
//! [`MAX_CONNECTIONS`] at once (more are closed unanswered). A head that is not
//! `<METHOD> <path> HTTP/1.x` is answered 400, a method a route does not take 405, an unknown
//! path 404, an oversized head 431. [`Routes::admit`] looks at a request (method, path,
//! credentials) before any of its body is read. It listens on loopback by default; what is not
//! public (the admin API) needs the bearer token. Which routes the node serves is
//! [`crate::routes`]'s; this listener knows none of them.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

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

    /// An `application/json` answer of `value`.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec_pretty(value) {
            Ok(body) => Response {
                status,
                content_type: "application/json",
                body,
            },
            Err(_) => Response::text(500, "answer unavailable\n"),
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
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
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

/// A request head that passed the checks.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: Method,
    /// The path, query string removed.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The `Content-Length` header, if any.
    pub content_length: Option<usize>,
    /// A `Transfer-Encoding` header was sent (not supported: bodies need a length).
    pub chunked: bool,
}

/// Parses a complete request head (up to and including the blank line).
fn parse_head(head: &[u8]) -> Result<RequestHead, Response> {
    let bad = || Response::text(400, "bad request\n");
    let text = std::str::from_utf8(head).map_err(|_| bad())?;
    let mut lines = text.split("\r\n");
    let line = lines.next().ok_or_else(bad)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") || !target.starts_with('/') {
        return Err(bad());
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => Method::Other,
        _ => return Err(bad()),
    };
    let mut authorization = None;
    let mut content_length = None;
    let mut chunked = false;
    for header in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = header.split_once(':').ok_or_else(bad)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            let len: usize = value.parse().map_err(|_| bad())?;
            if content_length.is_some_and(|l| l != len) {
                return Err(bad());
            }
            content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        }
    }
    let path = target.split('?').next().unwrap_or(target).to_owned();
    Ok(RequestHead {
        method,
        path,
        authorization,
        content_length,
        chunked,
    })
}

/// Whether the request needs a body length it did not give.
fn length_required(head: &RequestHead, limit: usize) -> bool {
    head.chunked || (limit > 0 && head.content_length.is_none() && head.method == Method::Post)
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

/// One exchange: read the head (bounded), admit, read the body (bounded), answer, close.
async fn serve<R: Routes>(mut stream: TcpStream, routes: R) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let response = loop {
        if let Some(end) = find_head_end(&head) {
            let req = match parse_head(&head[..end]) {
                Ok(req) => req,
                Err(refusal) => break refusal,
            };
            let limit = match routes.admit(&req) {
                Ok(limit) => limit,
                Err(refusal) => break refusal,
            };
            if length_required(&req, limit) {
                break Response::text(411, "a body needs a Content-Length\n");
            }
            let length = req.content_length.unwrap_or(0);
            if length > limit {
                break Response::text(413, format!("the body may be at most {limit} bytes\n"));
            }
            // Bytes read past the head are the body's start (one request per connection).
            let mut body = head.split_off(end);
            body.truncate(length);
            while body.len() < length {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => body.extend_from_slice(&buf[..n.min(length - body.len())]),
                }
            }
            let head_only = req.method == Method::Head;
            let answer = routes.call(req, body).await;
            let _ = stream.write_all(&answer.encode(head_only)).await;
            let _ = stream.shutdown().await;
            return;
        }
        if head.len() >= MAX_HEAD_BYTES {
            break Response::text(431, "request head too large\n");
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
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
                method: Method::Get,
                path: "/status".into(),
                authorization: None,
                content_length: None,
                chunked: false,
            })
        );
        let post = parse_head(
            b"POST /admin/peers HTTP/1.1\r\nauthorization: Bearer abc\r\nContent-Length: 12\r\n\r\n",
        )
        .unwrap();
        assert_eq!(post.method, Method::Post);
        assert_eq!(post.authorization.as_deref(), Some("Bearer abc"));
        assert_eq!(post.content_length, Some(12));
        for bad in [
            &b"POST /a HTTP/1.1\r\nContent-Length: x\r\n\r\n"[..],
            b"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST /a HTTP/1.1\r\nno colon\r\n\r\n",
            b"get /a HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad).unwrap_err().status, 400, "{bad:?}");
        }
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
