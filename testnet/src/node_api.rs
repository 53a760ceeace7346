//! A minimal HTTP/1.1 client for a node's loopback listener: `/status`, `/health`, `/metrics`,
//! and the admin API (bearer token).
//!
//! The node's listener answers one request per connection (`Connection: close`), so a request
//! is: connect, write the head and body, read to the end, split head from body. Everything is
//! bounded: [`HTTP_TIMEOUT`] for the whole exchange, [`MAX_ANSWER_BYTES`] for the answer.

use std::net::SocketAddr;
use std::time::Duration;

use herald_node::routes::NodeStatus;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::error::TestnetError;

/// Longest time one HTTP exchange with a node may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read (`/metrics` of a busy node is a few KiB).
pub const MAX_ANSWER_BYTES: u64 = 4 * 1024 * 1024;

/// An HTTP answer: status code and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The body as text (lossy), cut to `max` characters, for error messages.
    pub fn body_text(&self, max: usize) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(max)
            .collect()
    }
}

/// One request to a node's HTTP listener: `method path`, with an optional bearer token and JSON
/// body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json_body: Option<&[u8]>,
) -> Result<HttpAnswer, TestnetError> {
    let fail = |reason: String| TestnetError::Http {
        addr,
        path: path.to_owned(),
        reason,
    };
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(token) = bearer {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = json_body.unwrap_or_default();
        if json_body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if json_body.is_some() || method != "GET" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut answer = Vec::new();
        (&mut stream)
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut answer)
            .await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(HTTP_TIMEOUT, exchange)
        .await
        .map_err(|_| fail(format!("no answer within {HTTP_TIMEOUT:?}")))?
        .map_err(|e| fail(e.to_string()))?;
    parse_answer(&answer).map_err(|reason| fail(reason.to_owned()))
}

/// Splits an HTTP/1.x answer into status and body.
fn parse_answer(answer: &[u8]) -> Result<HttpAnswer, &'static str> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no complete head")?;
    let head = std::str::from_utf8(&answer[..split]).map_err(|_| "the head is not UTF-8")?;
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err("malformed status line");
    };
    if !version.starts_with("HTTP/1.") {
        return Err("not an HTTP/1.x answer");
    }
    let status = code.parse().map_err(|_| "malformed status code")?;
    Ok(HttpAnswer {
        status,
        body: answer[split + 4..].to_vec(),
    })
}

/// `GET path`, which must answer 200.
async fn get_ok(addr: SocketAddr, path: &str) -> Result<Vec<u8>, TestnetError> {
    let answer = request(addr, "GET", path, None, None).await?;
    if answer.status != 200 {
        return Err(TestnetError::Http {
            addr,
            path: path.to_owned(),
            reason: format!("status {}: {}", answer.status, answer.body_text(200)),
        });
    }
    Ok(answer.body)
}

/// The node's `/status`.
pub async fn status(addr: SocketAddr) -> Result<NodeStatus, TestnetError> {
    let body = get_ok(addr, "/status").await?;
    serde_json::from_slice(&body).map_err(|e| TestnetError::Http {
        addr,
        path: "/status".into(),
        reason: format!("not a node status: {e}"),
    })
}

/// Whether `/health` answers 200.
pub async fn healthy(addr: SocketAddr) -> Result<bool, TestnetError> {
    Ok(request(addr, "GET", "/health", None, None).await?.status == 200)
}

/// The node's `/metrics` text (Prometheus exposition format).
pub async fn metrics(addr: SocketAddr) -> Result<String, TestnetError> {
    let body = get_ok(addr, "/metrics").await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The sum of every sample of metric `name` (all label sets) in Prometheus text, if present.
pub fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        // `name 3` or `name{labels} 3`, not `name_longer 3`.
        let value = match rest.chars().next() {
            Some(' ') => rest.trim(),
            Some('{') => match rest.rsplit_once('}') {
                Some((_, v)) => v.trim(),
                None => continue,
            },
            _ => continue,
        };
        if let Ok(v) = value.split_whitespace().next().unwrap_or("").parse::<f64>() {
            found = Some(found.unwrap_or(0.0) + v);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_split_into_status_and_body() {
        let answer = parse_answer(b"HTTP/1.1 404 Not Found\r\nA: b\r\n\r\nnot found\n").unwrap();
        assert_eq!(answer.status, 404);
        assert_eq!(answer.body, b"not found\n");
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_answer(b"SSH-2.0 hello\r\n\r\n").is_err());
        assert!(parse_answer(b"HTTP/1.1 abc\r\n\r\n").is_err());
    }

    #[test]
    fn metric_sums_cover_every_label_set_and_only_that_name() {
        let text = "# HELP herald_x_total x\n\
                    herald_x_total{kind=\"a\"} 2\n\
                    herald_x_total{kind=\"b\"} 3.5\n\
                    herald_x_total_more 100\n\
                    herald_y 7\n";
        assert_eq!(metric_sum(text, "herald_x_total"), Some(5.5));
        assert_eq!(metric_sum(text, "herald_y"), Some(7.0));
        assert_eq!(metric_sum(text, "herald_z"), None);
    }

    #[tokio::test]
    async fn a_silent_or_closed_listener_is_an_error_not_a_hang() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts and closes at once: no answer head.
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            drop(stream);
        });
        let err = request(addr, "GET", "/status", None, None)
            .await
            .unwrap_err();
        assert!(matches!(err, TestnetError::Http { .. }), "{err}");
        server.await.unwrap();
    }
}
