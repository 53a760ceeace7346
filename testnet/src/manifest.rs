//! `testnet.json`: what `herald-testnet up` leaves behind for `status` and `down` (and for a
//! person): each node's process id, data directory, keys and addresses.
//!
//! Written atomically (temporary file, rename); read with a size bound.

use std::fs;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use herald_light_client::durable_file;
use serde::{Deserialize, Serialize};

use crate::error::{TestnetError, io_error};

/// The manifest's file name inside the testnet directory.
pub const MANIFEST_FILE: &str = "testnet.json";
/// Largest manifest read.
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// A running testnet, as `up` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The nodes, in index order.
    pub nodes: Vec<ManifestNode>,
}

/// One node of a [`Manifest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestNode {
    /// The mail domain.
    pub domain: String,
    /// The log's origin.
    pub origin: String,
    /// The data directory.
    pub dir: PathBuf,
    /// The configuration file the process runs with.
    pub config: PathBuf,
    /// The node's output.
    pub log: PathBuf,
    /// The process id (of the process `up` started).
    pub pid: u32,
    /// The libp2p peer id.
    pub peer_id: String,
    /// Listen addresses with `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// The HTTP listener.
    pub http_addr: SocketAddr,
    /// The log's verifier key.
    pub log_key: String,
    /// The witness's verifier key.
    pub witness_key: String,
}

impl Manifest {
    /// The manifest's path in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST_FILE)
    }

    /// Reads `<dir>/testnet.json`.
    pub fn read(dir: &Path) -> Result<Manifest, TestnetError> {
        let path = Self::path(dir);
        let file = fs::File::open(&path).map_err(io_error(&path))?;
        let mut bytes = Vec::new();
        file.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error(&path))?;
        if bytes.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(TestnetError::Manifest {
                path,
                reason: "larger than 1 MiB".into(),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| TestnetError::Manifest {
            path,
            reason: e.to_string(),
        })
    }

    /// Writes `<dir>/testnet.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, TestnetError> {
        let path = Self::path(dir);
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| TestnetError::Manifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        json.push(b'\n');
        durable_file::replace(&path, &json).map_err(|e| io_error(&e.path)(e.source))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            nodes: vec![ManifestNode {
                domain: "d0.test".into(),
                origin: "d0.test/herald".into(),
                dir: "/t/d0".into(),
                config: "/t/d0/herald-node.toml".into(),
                log: "/t/d0/node.log".into(),
                pid: 42,
                peer_id: "12D3KooW".into(),
                listen_addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
                http_addr: "127.0.0.1:2".parse().unwrap(),
                log_key: "d0.test/herald+00000000+AA".into(),
                witness_key: "d0.test/witness+00000000+AA".into(),
            }],
        }
    }

    #[test]
    fn a_manifest_reads_back_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = sample();
        manifest.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), manifest);
        assert!(!dir.path().join("testnet.json.tmp").exists());
        fs::write(Manifest::path(dir.path()), b"{\"nodes\": 3}").unwrap();
        assert!(matches!(
            Manifest::read(dir.path()),
            Err(TestnetError::Manifest { .. })
        ));
        let missing = tempfile::tempdir().unwrap();
        assert!(matches!(
            Manifest::read(missing.path()),
            Err(TestnetError::Io { .. })
        ));
    }
}
