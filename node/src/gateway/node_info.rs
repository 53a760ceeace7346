//! `<data_dir>/node.json`: how other processes find a running node ([`NodeInfo`]).

use std::fs;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;

use herald_light_client::durable_file;
use serde::{Deserialize, Serialize};

use super::GatewayError;
use super::error::{file_error, io_error};

/// Largest `node.json` read.
pub(super) const MAX_NODE_INFO_BYTES: u64 = 64 * 1024;

/// What a running node writes to `<data_dir>/node.json` (atomically: temporary file, rename)
/// after binding, and removes when it stops cleanly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The libp2p peer id.
    pub peer_id: String,
    /// The bound listen addresses, each ending in `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// The bound HTTP address (`/metrics`, `/health`, `/status`).
    pub http_addr: SocketAddr,
    /// The node's process id.
    pub pid: u32,
    /// The log's origin.
    pub origin: String,
    /// The log's verifier key.
    pub log_key: String,
}

impl NodeInfo {
    /// Reads `node.json` (bounded to 64 KiB).
    pub fn read(path: &Path) -> Result<Self, GatewayError> {
        let file = fs::File::open(path).map_err(io_error(path))?;
        let mut bytes = Vec::new();
        file.take(MAX_NODE_INFO_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error(path))?;
        if bytes.len() as u64 > MAX_NODE_INFO_BYTES {
            // Refused whole: a cut-off file would read as a JSON error about its last byte.
            return Err(io_error(path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("larger than {MAX_NODE_INFO_BYTES} bytes"),
            )));
        }
        serde_json::from_slice(&bytes).map_err(|source| GatewayError::NodeInfo {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes `path` atomically and durably (`durable_file::replace`): readers see the old
    /// file or the whole new one.
    pub fn write(&self, path: &Path) -> Result<(), GatewayError> {
        // Invariant: a struct of strings and numbers always serializes.
        let json = serde_json::to_vec_pretty(self).expect("NodeInfo serializes");
        durable_file::replace(path, &json).map_err(file_error)
    }
}
