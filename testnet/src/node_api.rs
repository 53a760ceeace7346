//! Calls to a node's loopback HTTP listener: `/status`, `/health`, `/metrics`, and the admin
//! API, through the node's one client of it ([`herald_node::node_client::NodeClient`]), with
//! its errors as the testnet's. Everything is bounded by that client's defaults.

use std::net::SocketAddr;

use herald_node::node_client::{NodeCallError, NodeClient};
use herald_node::routes::NodeStatus;

use crate::error::TestnetError;

pub use herald_light_client::http::HttpAnswer;

/// A node's failed call as the testnet's error; a refusal names `domain` when it is known.
pub(crate) fn testnet_error(e: NodeCallError, domain: Option<&str>) -> TestnetError {
    match e {
        NodeCallError::Refused {
            addr,
            path,
            status,
            reason,
        } => TestnetError::Refused {
            domain: domain.map_or_else(|| addr.to_string(), str::to_owned),
            path,
            status,
            body: reason,
        },
        NodeCallError::Transport { addr, path, reason }
        | NodeCallError::BadAnswer { addr, path, reason } => {
            TestnetError::Http { addr, path, reason }
        }
    }
}

/// One request to a node's HTTP listener: `method path`, with an optional bearer token and JSON
/// body; any status is an answer.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json_body: Option<&[u8]>,
) -> Result<HttpAnswer, TestnetError> {
    let node = match bearer {
        Some(token) => NodeClient::new(addr).with_token(token),
        None => NodeClient::new(addr),
    };
    node.send(method, path, json_body)
        .await
        .map_err(|e| testnet_error(e, None))
}

/// The node's `/status`.
pub async fn status(addr: SocketAddr) -> Result<NodeStatus, TestnetError> {
    NodeClient::new(addr)
        .status()
        .await
        .map_err(|e| testnet_error(e, None))
}

/// Whether `/health` answers 200.
pub async fn healthy(addr: SocketAddr) -> Result<bool, TestnetError> {
    NodeClient::new(addr)
        .healthy()
        .await
        .map_err(|e| testnet_error(e, None))
}

/// The node's `/metrics` text (Prometheus exposition format).
pub async fn metrics(addr: SocketAddr) -> Result<String, TestnetError> {
    NodeClient::new(addr)
        .metrics()
        .await
        .map_err(|e| testnet_error(e, None))
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
