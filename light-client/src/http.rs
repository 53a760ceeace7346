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
    /// Connecting, sending or reading failed, or the time bound passed.
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
        Ok(HttpClient { client, max_answer })
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> Result<HttpAnswer, HttpError> {
        self.send(HttpRequest::get(url)).await
    }

    /// Sends `request`; any status is an answer.
    pub async fn send(&self, request: HttpRequest<'_>) -> Result<HttpAnswer, HttpError> {
        let fail = |reason: String| HttpError::Exchange {
            method: request.method.to_owned(),
            url: request.url.to_owned(),
            reason,
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
        let mut response = builder.send().await.map_err(|e| fail(reason(&e)))?;
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
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(reason(&e)))? {
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
            Err(HttpError::Exchange { .. })
        ));
        assert!(started.elapsed() < Duration::from_secs(2));
        server.abort();
    }
}
