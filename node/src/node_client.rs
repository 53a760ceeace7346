//! The one client of a node's loopback HTTP listener: `/status`, `/health`, `/metrics` and the
//! admin API (bearer token). `herald-node`'s CLI uses it to reach a running node, the testnet to
//! drive its nodes; both go through the project's one HTTP client ([`herald_light_client::http`]).
//!
//! Every call is bounded: the whole exchange by the client's timeout, the answer by its size
//! limit. An admin call succeeds only on a 2xx answer holding the expected JSON; a refusal
//! carries the reason from the node's [`ApiError`] body.

use std::net::SocketAddr;
use std::time::Duration;

use herald_light_client::http::{HttpAnswer, HttpClient, HttpRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::admin::ApiError;
use crate::routes::NodeStatus;

/// Longest time one exchange with a node may take, unless set otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read, unless set otherwise (`/metrics` of a busy node is a few KiB; an
/// alert list of full equivocation proofs is the largest admin answer).
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Why a call to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeCallError {
    /// No answer: the node is not listening, or the exchange failed or took too long.
    #[error("{path} on {addr}: {reason}")]
    Transport {
        /// The node's HTTP address.
        addr: SocketAddr,
        /// The path called.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The node answered with an error status.
    #[error("{path} on {addr}: the node refused ({status}): {reason}")]
    Refused {
        /// The node's HTTP address.
        addr: SocketAddr,
        /// The path called.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The node's reason (its `ApiError`, or the body cut to 500 characters).
        reason: String,
    },
    /// The node answered 2xx with something other than what the call expects.
    #[error("{path} on {addr}: unexpected answer: {reason}")]
    BadAnswer {
        /// The node's HTTP address.
        addr: SocketAddr,
        /// The path called.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// A node's HTTP listener, and the admin token if the caller holds it.
#[derive(Clone, Debug)]
pub struct NodeClient {
    addr: SocketAddr,
    token: Option<String>,
    timeout: Duration,
    max_answer: usize,
}

impl NodeClient {
    /// The listener at `addr`, without the admin token, with the default bounds.
    pub fn new(addr: SocketAddr) -> Self {
        NodeClient {
            addr,
            token: None,
            timeout: DEFAULT_TIMEOUT,
            max_answer: DEFAULT_MAX_ANSWER_BYTES,
        }
    }

    /// With the admin API's bearer token (`<data_dir>/admin.token`).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// With other bounds for each exchange.
    pub fn with_bounds(mut self, timeout: Duration, max_answer: usize) -> Self {
        self.timeout = timeout;
        self.max_answer = max_answer;
        self
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// One exchange: `method path` with the token (if held) and an optional JSON body; any
    /// status is an answer.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        json_body: Option<&[u8]>,
    ) -> Result<HttpAnswer, NodeCallError> {
        let url = format!("http://{}{path}", self.addr);
        let request = HttpRequest {
            method,
            url: &url,
            bearer: self.token.as_deref(),
            body: json_body.map(|b| ("application/json", b)),
        };
        // A client per call: a pooled connection belongs to the runtime that opened it, and the
        // CLI and the testnet's tests run many runtimes.
        HttpClient::new(self.timeout, self.max_answer)
            .map_err(|e| self.transport(path, e))?
            .send(request)
            .await
            .map_err(|e| self.transport(path, e))
    }

    /// `GET path`, which must answer 200: its body.
    pub async fn get_ok(&self, path: &str) -> Result<Vec<u8>, NodeCallError> {
        let answer = self.send("GET", path, None).await?;
        self.success(path, &answer, |status| status == 200)?;
        Ok(answer.body)
    }

    /// An admin call: `method path` with `body` as JSON; the answer, which must be 2xx, parsed.
    pub async fn admin<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, NodeCallError> {
        let json = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| self.bad_answer(path, format!("cannot encode the body: {e}")))?;
        let answer = self.send(method, path, json.as_deref()).await?;
        self.success(path, &answer, |status| (200..300).contains(&status))?;
        self.parse(path, &answer.body)
    }

    /// The node's `/status`.
    pub async fn status(&self) -> Result<NodeStatus, NodeCallError> {
        let body = self.get_ok("/status").await?;
        self.parse("/status", &body)
    }

    /// Whether `/health` answers 200 (any answer says a node listens).
    pub async fn healthy(&self) -> Result<bool, NodeCallError> {
        Ok(self.send("GET", "/health", None).await?.status == 200)
    }

    /// The node's `/metrics` text (Prometheus exposition format).
    pub async fn metrics(&self) -> Result<String, NodeCallError> {
        let body = self.get_ok("/metrics").await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    fn success(
        &self,
        path: &str,
        answer: &HttpAnswer,
        ok: impl Fn(u16) -> bool,
    ) -> Result<(), NodeCallError> {
        if ok(answer.status) {
            return Ok(());
        }
        let reason = serde_json::from_slice::<ApiError>(&answer.body)
            .map(|e| e.error)
            .unwrap_or_else(|_| answer.body_text(500));
        Err(NodeCallError::Refused {
            addr: self.addr,
            path: path.to_owned(),
            status: answer.status,
            reason,
        })
    }

    fn parse<T: DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T, NodeCallError> {
        serde_json::from_slice(body).map_err(|e| self.bad_answer(path, e.to_string()))
    }

    fn transport(&self, path: &str, e: impl std::fmt::Display) -> NodeCallError {
        NodeCallError::Transport {
            addr: self.addr,
            path: path.to_owned(),
            reason: e.to_string(),
        }
    }

    fn bad_answer(&self, path: &str, reason: String) -> NodeCallError {
        NodeCallError::BadAnswer {
            addr: self.addr,
            path: path.to_owned(),
            reason,
        }
    }
}
