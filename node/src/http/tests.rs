//! The listener's bounds and protocol handling, over real sockets on loopback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use herald_light_client::http::{HttpClient, HttpRequest};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::*;

#[derive(Clone)]
struct Echo;

impl Routes for Echo {
    async fn get(&self, path: &str) -> Response {
        match path {
            "/hello" => Response::text(200, "hi\n"),
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(800)).await;
                Response::text(200, "slow\n")
            }
            _ => Response::text(404, "not found\n"),
        }
    }

    fn admit(&self, head: &RequestHead) -> Result<usize, Response> {
        match (head.method, head.path.as_str()) {
            (Method::Get | Method::Head, _) => Ok(0),
            (Method::Post, "/echo") => Ok(16),
            _ => Err(Response::text(405, "no\n")),
        }
    }

    async fn call(&self, head: RequestHead, body: Vec<u8>) -> Response {
        match head.method {
            Method::Post => Response::new(200, "application/octet-stream", body),
            _ => self.get(&head.path).await,
        }
    }
}

async fn server(limits: HttpLimits) -> HttpServer {
    HttpServer::bind_with("127.0.0.1:0".parse().unwrap(), Echo, limits)
        .await
        .unwrap()
}

/// Writes `request` raw and reads until the server closes (or 10 s).
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn client() -> HttpClient {
    HttpClient::new(Duration::from_secs(5), 1 << 20).unwrap()
}

#[tokio::test]
async fn routes_and_refusals() {
    let server = server(HttpLimits::default()).await;
    let addr = server.local_addr;
    let ok = raw(
        addr,
        b"GET /hello?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("cache-control: no-store\r\n"), "{ok}");
    assert!(ok.ends_with("\r\n\r\nhi\n"), "{ok}");
    let head = raw(addr, b"HEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert!(
        head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"),
        "HEAD has no body: {head}"
    );
    assert!(head.contains("content-length: 3\r\n"), "{head}");
    let c = client();
    let url = |p: &str| format!("http://{addr}{p}");
    assert_eq!(c.get(&url("/nope")).await.unwrap().status, 404);
    let post = HttpRequest {
        method: "POST",
        url: &url("/hello"),
        bearer: None,
        body: Some(("text/plain", b"x")),
    };
    assert_eq!(c.send(post).await.unwrap().status, 405);
    let garbage = raw(addr, b"\x00\x01\x02 nonsense\r\n\r\n").await;
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    server.stop().await;
}

#[tokio::test]
async fn an_endless_head_is_refused_431() {
    let server = server(HttpLimits::default()).await;
    let mut request = b"GET /hello HTTP/1.1\r\nX-Long: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 3 * MAX_HEAD_BYTES));
    let answer = raw(server.local_addr, &request).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn bodies_are_bounded_by_what_the_route_admits() {
    let server = server(HttpLimits::default()).await;
    let url = format!("http://{}/echo", server.local_addr);
    let c = client();
    let post = |body: &'static [u8]| HttpRequest {
        method: "POST",
        url: &url,
        bearer: None,
        body: Some(("application/octet-stream", body)),
    };
    let echoed = c.send(post(b"sixteen bytes!!!")).await.unwrap();
    assert_eq!((echoed.status, echoed.body.len()), (200, 16));
    assert_eq!(
        c.send(post(b"seventeen bytes!!")).await.unwrap().status,
        413
    );
    // Chunked, with no length announced: cut at the bound while reading.
    let answer = raw(
        server.local_addr,
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn connections_are_kept_alive_and_h2c_is_served() {
    let server = server(HttpLimits::default()).await;
    let url = format!("http://{}/hello", server.local_addr);
    // Two requests on one HTTP/1.1 connection.
    let mut stream = TcpStream::connect(server.local_addr).await.unwrap();
    let mut answers = String::new();
    for _ in 0..2 {
        stream
            .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        answers.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_eq!(answers.matches("HTTP/1.1 200 OK").count(), 2, "{answers}");
    // HTTP/2 by prior knowledge.
    let h2 = HttpClient::h2c(Duration::from_secs(5), 1024).unwrap();
    for _ in 0..3 {
        let answer = h2.get(&url).await.unwrap();
        assert_eq!((answer.status, answer.body), (200, b"hi\n".to_vec()));
    }
    server.stop().await;
}

/// F6 of the reliability review: 64 idle connections took the old listener down (`/health`
/// failed 184 times out of 184). Now idle and half-sent connections past the bound are shed,
/// oldest first, and a real request answers.
#[tokio::test]
async fn attack_idle_connections_do_not_take_the_listener_down() {
    let limits = HttpLimits {
        max_connections: 64,
        max_per_source: 64,
        ..HttpLimits::default()
    };
    let metrics = HttpMetrics::default();
    let server = HttpServer::bind_counted(
        "127.0.0.1:0".parse().unwrap(),
        Echo,
        limits,
        metrics.clone(),
    )
    .await
    .unwrap();
    let addr = server.local_addr;
    let mut idle = Vec::new();
    for i in 0..300 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            // Half a head, never finished (past hyper's 24-byte look for the HTTP/2 preface).
            stream
                .write_all(b"GET /hello HTTP/1.1\r\nX-Slow: yes\r\n")
                .await
                .unwrap();
        }
        idle.push(stream);
    }
    let c = client();
    let started = Instant::now();
    for _ in 0..20 {
        let answer = c.get(&format!("http://{addr}/hello")).await.unwrap();
        assert_eq!(answer.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The oldest idle sockets were closed by the server.
    let mut first = idle.swap_remove(0);
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), first.read(&mut buf))
        .await
        .expect("the shed socket is closed, not left hanging");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    // Counted: at least one shed per connection past the bound.
    assert!(metrics.connections_shed.get() >= 300 - 64, "{metrics:?}");
    assert!(metrics.open_connections.get() <= 2 * 64 + 1, "{metrics:?}");
    server.stop().await;
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed_in_time() {
    let limits = HttpLimits {
        idle_timeout: Duration::from_millis(300),
        header_read_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..HttpLimits::default()
    };
    let server = server(limits).await;
    let closed_within = |mut stream: TcpStream| async move {
        let started = Instant::now();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
        (
            started.elapsed(),
            String::from_utf8_lossy(&out).into_owned(),
        )
    };
    // Silent after connecting.
    let silent = TcpStream::connect(server.local_addr).await.unwrap();
    let (took, _) = closed_within(silent).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    // A head that never ends.
    let mut slow = TcpStream::connect(server.local_addr).await.unwrap();
    slow.write_all(b"GET /hello HTTP/1.1\r\nX: ").await.unwrap();
    let (took, _) = closed_within(slow).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    // Idle after an answer (keep-alive).
    let mut kept = TcpStream::connect(server.local_addr).await.unwrap();
    kept.write_all(b"GET /hello HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let (took, answer) = closed_within(kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    // F12: a body shorter than announced is answered 408, not dropped in silence.
    let mut short = TcpStream::connect(server.local_addr).await.unwrap();
    short
        .write_all(b"POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let (_, answer) = closed_within(short).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    server.stop().await;
}

/// One read of an answer (a short one arrives whole on loopback).
async fn answer(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("an answer in time")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The watchdog (one timer per connection, none per request) tells a keep-alive connection
/// resting between requests from one dribbling a head: the first stays for `idle_timeout`, the
/// second is closed after `header_read_timeout`, counted from its head's first byte.
#[tokio::test]
async fn attack_a_slow_head_after_a_rest_is_closed_but_a_resting_connection_is_kept() {
    let limits = HttpLimits {
        idle_timeout: Duration::from_secs(20),
        header_read_timeout: Duration::from_millis(400),
        ..HttpLimits::default()
    };
    let server = server(limits).await;
    let mut kept = TcpStream::connect(server.local_addr).await.unwrap();
    kept.write_all(b"GET /hello HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    assert!(answer(&mut kept).await.starts_with("HTTP/1.1 200"));
    // Resting three head bounds long: still open, and it answers the next request.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    kept.write_all(b"GET /hello HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    assert!(answer(&mut kept).await.starts_with("HTTP/1.1 200"));
    // Then half a head, after another rest: closed about a head bound after its first byte.
    tokio::time::sleep(Duration::from_millis(600)).await;
    kept.write_all(b"GET /hello HTTP/1.1\r\nX: ").await.unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), kept.read_to_end(&mut out)).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn requests_in_flight_are_bounded_and_the_rest_told_to_retry() {
    let limits = HttpLimits {
        max_in_flight: 1,
        queue_wait: Duration::from_millis(100),
        ..HttpLimits::default()
    };
    let server = server(limits).await;
    let url = format!("http://{}/slow", server.local_addr);
    let c = client();
    let (a, b) = tokio::join!(c.get(&url), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        c.get(&url).await
    });
    assert_eq!(a.unwrap().status, 200);
    let b = b.unwrap();
    assert_eq!(b.status, 503, "{}", b.body_text(100));
    server.stop().await;
}

/// F12 of the reliability review: `Content-Length: +5` was accepted by the old listener's
/// `usize::parse`. hyper takes digits only.
#[tokio::test]
async fn attack_a_signed_content_length_is_refused() {
    let server = server(HttpLimits::default()).await;
    for length in ["+5", "-5", "5 5", "0x5"] {
        let request = format!("POST /echo HTTP/1.1\r\nContent-Length: {length}\r\n\r\nhello");
        let answer = raw(server.local_addr, request.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{length}: {answer}");
    }
    server.stop().await;
}

/// F12 of the reliability review: bare-LF requests got no answer from the old listener and
/// were dropped after 5 s. hyper (httparse) takes LF as a line end, as RFC 9112 §2.2 allows a
/// recipient to: they are answered like any other request.
#[tokio::test]
async fn a_bare_lf_request_is_answered() {
    let server = server(HttpLimits::default()).await;
    let started = Instant::now();
    let answer = raw(
        server.local_addr,
        b"GET /hello HTTP/1.1\nHost: x\nConnection: close\n\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("hi\n"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A bare CR is no line end: refused, still answered.
    let answer = raw(server.local_addr, b"GET /hello HTTP/1.1\rHost: x\r\r").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    server.stop().await;
}
