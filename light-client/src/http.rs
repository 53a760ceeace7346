//! The one HTTP client of the project: a log's tiles (`herald log --tiles`), and the node's
//! HTTP listener for the node's CLI, the testnet and the tests.
//!
//! reqwest without TLS and without system proxies: every caller names the listener it talks
//! to. Connections are kept alive and reused (HTTP/1.1, or h2c by prior knowledge when asked
//! for). Every exchange is bounded in time ([`HttpClient::new`]'s timeout, from connecting to
//! the last byte) and the answer in size (read no further than the bound; over it is an
//! error, not a truncated answer).

use std::time::Duration;

/// Why an exchange failed. No answer at all is one of these; any status code is an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// The exchange's time bound passed (from connecting to the last byte of the answer, so a
    /// server that answers a byte at a time is cut off at the same bound as a silent one).
    #[error("{method} {url}: no whole answer within {after:?}")]
    Timeout {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// The bound.
        after: Duration,
    },
    /// Connecting, sending or reading failed.
    #[error("{method} {url}: {reason}")]
    Exchange {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The answer is larger than the bound.
    #[error("{url}: the answer is over {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The bound.
        limit: usize,
    },
}

/// An answer: status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// `Content-Type`, if given and readable.
    pub content_type: Option<String>,
    /// `Cache-Control`, if given and readable.
    pub cache_control: Option<String>,
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

/// A request.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    /// `GET`, `HEAD`, `POST`, `PUT`, `DELETE`.
    pub method: &'a str,
    /// The full URL, e.g. `http://127.0.0.1:8080/status`.
    pub url: &'a str,
    /// A bearer token (`Authorization: Bearer ...`).
    pub bearer: Option<&'a str>,
    /// A body and its content type.
    pub body: Option<(&'a str, &'a [u8])>,
}

impl<'a> HttpRequest<'a> {
    /// `GET url`.
    pub fn get(url: &'a str) -> Self {
        HttpRequest {
            method: "GET",
            url,
            bearer: None,
            body: None,
        }
    }
}

/// A bounded HTTP client (cheap to clone: clones share the connection pool).
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    max_answer: usize,
    timeout: Duration,
}

impl HttpClient {
    /// HTTP/1.1 with keep-alive; each exchange within `timeout`, answers up to `max_answer`.
    pub fn new(timeout: Duration, max_answer: usize) -> Result<Self, HttpError> {
        Self::build(reqwest::Client::builder(), timeout, max_answer)
    }

    /// HTTP/2 over clear text by prior knowledge (h2c): every request on one connection.
    pub fn h2c(timeout: Duration, max_answer: usize) -> Result<Self, HttpError> {
        Self::build(
            reqwest::Client::builder().http2_prior_knowledge(),
            timeout,
            max_answer,
        )
    }

    fn build(
        builder: reqwest::ClientBuilder,
        timeout: Duration,
        max_answer: usize,
    ) -> Result<Self, HttpError> {
        let client = builder
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| HttpError::Client(e.to_string()))?;
        Ok(HttpClient {
            client,
            max_answer,
            timeout,
        })
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<HttpAnswer, HttpError> {
        self.send(HttpRequest::get(url)).await
    }

    /// Sends `request`; any status is an answer. The whole exchange, from connecting to the
    /// answer's last byte, is bounded by the client's timeout ([`HttpError::Timeout`]).
    pub async fn send(&self, request: HttpRequest<'_>) -> Result<HttpAnswer, HttpError> {
        let fail = |reason: String| HttpError::Exchange {
            method: request.method.to_owned(),
            url: request.url.to_owned(),
            reason,
        };
        let failed = |error: reqwest::Error| {
            if error.is_timeout() {
                HttpError::Timeout {
                    method: request.method.to_owned(),
                    url: request.url.to_owned(),
                    after: self.timeout,
                }
            } else {
                fail(reason(&error))
            }
        };
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| fail("not an HTTP method".into()))?;
        let mut builder = self.client.request(method, request.url);
        if let Some(token) = request.bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some((content_type, body)) = request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body.to_vec());
        }
        let mut response = builder.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let cache_control = header(reqwest::header::CACHE_CONTROL);
        let too_large = || HttpError::TooLarge {
            url: request.url.to_owned(),
            limit: self.max_answer,
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_answer as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > self.max_answer {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpAnswer {
            status,
            content_type,
            cache_control,
            body,
        })
    }
}

/// reqwest's error with its causes (its `Display` alone says only "error sending request").
fn reason(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A listener that answers every connection with `answer` (after reading the head).
    async fn canned(answer: &'static [u8]) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(answer).await;
                let _ = stream.shutdown().await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn answers_over_the_bound_are_refused_not_truncated() {
        let addr = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789").await;
        let url = format!("http://{addr}/x");
        let small = HttpClient::new(Duration::from_secs(5), 9).unwrap();
        assert!(matches!(
            small.get(&url).await,
            Err(HttpError::TooLarge { limit: 9, .. })
        ));
        let fits = HttpClient::new(Duration::from_secs(5), 10).unwrap();
        let answer = fits.get(&url).await.unwrap();
        assert_eq!((answer.status, answer.body), (200, b"0123456789".to_vec()));
        // Without a length, the bound holds while reading.
        let addr = canned(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n0123456789").await;
        assert!(matches!(
            small.get(&format!("http://{addr}/x")).await,
            Err(HttpError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn a_silent_or_closed_listener_is_an_error_not_a_hang() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            drop(stream);
            // The second is held open and never answered.
            let (_silent, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(3)).await;
        });
        let client = HttpClient::new(Duration::from_millis(500), 1024).unwrap();
        let url = format!("http://{addr}/status");
        assert!(matches!(
            client.get(&url).await,
            Err(HttpError::Exchange { .. })
        ));
        let started = std::time::Instant::now();
        assert!(matches!(
            client.get(&url).await,
            Err(HttpError::Timeout { after, .. }) if after == Duration::from_millis(500)
        ));
        assert!(started.elapsed() < Duration::from_secs(2));
        server.abort();
    }

    /// A listener that reads each request's head, writes `head` at once, then `dribble` one
    /// byte every `every` (a bounded loop: `dribble`'s length), until the client goes away.
    async fn trickling(head: &'static [u8], dribble: Vec<u8>, every: Duration) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let dribble = dribble.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    if stream.write_all(head).await.is_err() {
                        return;
                    }
                    for byte in dribble {
                        tokio::time::sleep(every).await;
                        if stream.write_all(&[byte]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        format!("http://{addr}/checkpoint")
    }

    /// Asserts `get` of `url` fails with the typed timeout of a 500 ms client, within its bound.
    async fn times_out_within_the_bound(url: &str) {
        let timeout = Duration::from_millis(500);
        let client = HttpClient::new(timeout, 2 << 20).unwrap();
        let started = std::time::Instant::now();
        let answer = client.get(url).await;
        let waited = started.elapsed();
        assert!(
            matches!(&answer, Err(HttpError::Timeout { after, .. }) if *after == timeout),
            "{answer:?}"
        );
        assert!(
            waited >= timeout && waited < timeout + Duration::from_millis(1500),
            "after {waited:?}"
        );
    }

    #[tokio::test]
    async fn a_body_trickled_a_byte_at_a_time_is_cut_off_at_the_whole_exchange_bound() {
        // The head promises 1 MiB (within the size bound), then a byte every 50 ms: each read
        // succeeds well within the bound, but the exchange as a whole does not.
        let url = trickling(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n",
            vec![b'x'; 200],
            Duration::from_millis(50),
        )
        .await;
        times_out_within_the_bound(&url).await;
    }

    #[tokio::test]
    async fn a_status_line_dribbled_a_byte_at_a_time_is_cut_off_at_the_whole_exchange_bound() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: ".to_vec();
        let dribble = head.into_iter().chain([b'a'; 100]).collect();
        let url = trickling(b"", dribble, Duration::from_millis(50)).await;
        times_out_within_the_bound(&url).await;
    }
}
