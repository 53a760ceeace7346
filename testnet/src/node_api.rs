//! Calls to a node's loopback HTTP listener: `/status`, `/health`, `/metrics`, and the admin
//! API (bearer token), through the project's one HTTP client
//! ([`herald_light_client::http`]). Each call has its own client: a pooled connection belongs to
//! the runtime that opened it, and the testnet's tests run many runtimes. Everything is
//! bounded: [`HTTP_TIMEOUT`] for the whole exchange, [`MAX_ANSWER_BYTES`] for the answer.

use std::net::SocketAddr;
use std::time::Duration;

use herald_light_client::http::{HttpClient, HttpRequest};
use herald_node::routes::NodeStatus;

use crate::error::TestnetError;

pub use herald_light_client::http::HttpAnswer;

/// Longest time one HTTP exchange with a node may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read (`/metrics` of a busy node is a few KiB).
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

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
    let url = format!("http://{addr}{path}");
    let request = HttpRequest {
        method,
        url: &url,
        bearer,
        body: json_body.map(|b| ("application/json", b)),
    };
    HttpClient::new(HTTP_TIMEOUT, MAX_ANSWER_BYTES)
        .map_err(|e| fail(e.to_string()))?
        .send(request)
        .await
        .map_err(|e| fail(e.to_string()))
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
}
