//! A log read through its C2SP tlog-tiles resources alone (`herald log --tiles URL`): a
//! [`Gateway`] whose checkpoint, entries and proofs are computed from `<prefix>/checkpoint`,
//! `<prefix>/tile/<L>/<N>[.p/<W>]` and `<prefix>/tile/entries/<N>[.p/<W>]`, fetched over HTTP
//! from the node or from any cache or mirror in front of it.
//!
//! Nothing here is trusted: [`crate::TrustedLog`] checks the checkpoint's signature and
//! succession, the proofs against its root, and the entries against their leaf hashes, exactly
//! as for a gateway over libp2p. A lying tile server is a misbehaving gateway. What a tile server
//! cannot answer (submissions, lookups by leaf hash, alerts, accounts) is an
//! [`ClientError::InvalidRequest`] and nothing is sent.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::try_join_all;
use herald_proto::merkle::{AnyHasher, HashAlgorithm, HashReader, NodeId, ProofNodes};
use herald_proto::merkle::{consistency_nodes, inclusion_nodes};
use herald_proto::tlog_tiles::{TILE_WIDTH, TileHashes, TileId, bundle_entries, tile_for_node};
use herald_proto::wire::{MAX_ENTRY_PAGE_COUNT, hash_list, pb};

use crate::error::ClientError;
use crate::gateway::Gateway;
use crate::http::{HttpClient, HttpError};

/// Largest resource read: a full bundle of 256 entries of at most 64 KiB each.
const MAX_RESOURCE_BYTES: usize = 256 * (2 + u16::MAX as usize);

/// A tile server, read as a gateway.
#[derive(Clone, Debug)]
pub struct TileGateway {
    http: HttpClient,
    prefix: String,
    hasher: AnyHasher,
    timeout: Duration,
}

/// What a tile fetch gave.
enum Fetched {
    Found(Vec<u8>),
    NotFound,
}

impl TileGateway {
    /// The log served under `prefix` (e.g. `http://127.0.0.1:8080` or `http://cache/log/`),
    /// hashed with `hash`; each fetch within `timeout`.
    pub fn new(prefix: &str, hash: HashAlgorithm, timeout: Duration) -> Result<Self, ClientError> {
        // The one HTTP client has no TLS (reqwest without default features): say so here
        // rather than fail at the first fetch.
        if !prefix.starts_with("http://") {
            return Err(ClientError::InvalidRequest(format!(
                "tile prefix {prefix:?} is not an http:// URL (https is not supported yet)"
            )));
        }
        let http = HttpClient::new(timeout, MAX_RESOURCE_BYTES).map_err(|e| transport(&e))?;
        Ok(TileGateway {
            http,
            prefix: prefix.trim_end_matches('/').to_owned(),
            hasher: AnyHasher(hash),
            timeout,
        })
    }

    async fn fetch(&self, path: &str) -> Result<Fetched, ClientError> {
        let url = format!("{}/{path}", self.prefix);
        let answer = self.http.get(&url).await.map_err(|e| match e {
            HttpError::TooLarge { limit, .. } => {
                ClientError::MalformedResponse(herald_proto::wire::WireError::TooLarge {
                    len: limit + 1,
                    limit,
                })
            }
            // A server that trickles its answer is cut off at the fetch's bound, as a silent one.
            HttpError::Timeout { after, .. } => ClientError::Timeout { after },
            other => transport(&other),
        })?;
        match answer.status {
            200 => Ok(Fetched::Found(answer.body)),
            404 => Ok(Fetched::NotFound),
            status => Err(ClientError::Transport {
                reason: format!("{url}: HTTP {status}: {}", answer.body_text(200)),
            }),
        }
    }

    /// Tile `id`, exactly its width in hashes.
    async fn tile(&self, id: TileId) -> Result<Vec<u8>, ClientError> {
        match self.fetch(&id.path()).await? {
            Fetched::Found(bytes) if bytes.len() == usize::from(id.width) * 32 => Ok(bytes),
            Fetched::Found(bytes) => Err(unexpected_len(id, bytes.len())),
            Fetched::NotFound => Err(ClientError::Transport {
                reason: format!("{} is missing from the tile server", id.path()),
            }),
        }
    }

    /// The tiles the nodes of `plan` need in the tree of `size`, fetched at once.
    async fn tiles_for(
        &self,
        plan: &ProofNodes,
        extra: &[NodeId],
        size: u64,
    ) -> Result<TileHashes<AnyHasher>, ClientError> {
        let ids: BTreeSet<TileId> = plan
            .ids
            .iter()
            .chain(extra)
            .filter_map(|id| tile_for_node(*id, size))
            .collect();
        let fetched = try_join_all(ids.iter().map(|id| self.tile(*id))).await?;
        let mut tiles = TileHashes::new(self.hasher, size);
        for (id, bytes) in ids.iter().zip(fetched) {
            tiles
                .add(*id, &bytes)
                .map_err(|_| unexpected_len(*id, bytes.len()))?;
        }
        Ok(tiles)
    }

    async fn checkpoint(&self) -> Result<pb::ClientResponse, ClientError> {
        Ok(match self.fetch("checkpoint").await? {
            Fetched::Found(note) => answer(pb::client_response::Response::Checkpoint(
                pb::SignedCheckpoint { note },
            )),
            Fetched::NotFound => refusal(pb::ClientErrorKind::NotFound, "no checkpoint yet"),
        })
    }

    /// Entries `start ..` of the bundle holding `start` (a page ends at a bundle's end). The
    /// bundle is fetched full if it exists, else as wide as the tile server has it.
    async fn entries(&self, start: u64, count: u32) -> Result<pb::ClientResponse, ClientError> {
        if count == 0 {
            return Err(ClientError::InvalidRequest("zero entries asked".into()));
        }
        let n = start / TILE_WIDTH;
        let offset = (start % TILE_WIDTH) as usize;
        let want = (offset as u64 + u64::from(count.min(MAX_ENTRY_PAGE_COUNT))).min(TILE_WIDTH);
        // The full bundle first; if it is not complete yet, the partial one that holds `want`.
        let (bundle, width) = match self.fetch(&TileId::entries(n, 256).path()).await? {
            Fetched::Found(b) => (b, 256),
            Fetched::NotFound => {
                let id = TileId::entries(n, want as u16);
                match self.fetch(&id.path()).await? {
                    Fetched::Found(b) => (b, usize::from(id.width)),
                    Fetched::NotFound => {
                        return Ok(refusal(
                            pb::ClientErrorKind::OutOfRange,
                            "entries past the tile server's tree",
                        ));
                    }
                }
            }
        };
        let entries = bundle_entries(&bundle, width).map_err(|e| {
            tracing::debug!(bundle = n, error = %e, "malformed entry bundle");
            ClientError::UnexpectedResponse {
                request: "entry bundle",
                response: "a malformed bundle",
            }
        })?;
        let end = (want as usize).min(entries.len());
        Ok(answer(pb::client_response::Response::Entries(
            pb::EntryPage {
                start,
                entries: entries[offset..end].iter().map(|e| e.to_vec()).collect(),
            },
        )))
    }

    async fn inclusion(&self, index: u64, size: u64) -> Result<pb::ClientResponse, ClientError> {
        let plan = match inclusion_nodes(index, size) {
            Ok(plan) => plan,
            Err(e) => return Ok(refusal(pb::ClientErrorKind::OutOfRange, &e.to_string())),
        };
        let leaf = NodeId::leaf(index);
        let tiles = self.tiles_for(&plan, &[leaf], size).await?;
        let leaf_hash = tiles.node_hash(leaf).map_err(tile_error)?;
        let hashes = plan.resolve(&self.hasher, &tiles).map_err(tile_error)?;
        Ok(answer(pb::client_response::Response::Inclusion(
            pb::InclusionAnswer {
                proof: Some(pb::InclusionProof {
                    leaf_index: index,
                    tree_size: size,
                    hashes: hash_list(&hashes),
                }),
                leaf_hash: leaf_hash.to_vec(),
            },
        )))
    }

    async fn consistency(&self, size1: u64, size2: u64) -> Result<pb::ClientResponse, ClientError> {
        let plan = match consistency_nodes(size1, size2) {
            Ok(plan) => plan,
            Err(e) => return Ok(refusal(pb::ClientErrorKind::OutOfRange, &e.to_string())),
        };
        let tiles = self.tiles_for(&plan, &[], size2).await?;
        let hashes = plan.resolve(&self.hasher, &tiles).map_err(tile_error)?;
        Ok(answer(pb::client_response::Response::Consistency(
            pb::ConsistencyProof {
                size1,
                size2,
                hashes: hash_list(&hashes),
            },
        )))
    }
}

impl Gateway for TileGateway {
    async fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        use pb::client_request::Request;
        let exchange = async {
            match request.request {
                Some(Request::Checkpoint(_)) => self.checkpoint().await,
                Some(Request::Entries(e)) => self.entries(e.start, e.count).await,
                Some(Request::Inclusion(pb::InclusionRequest {
                    leaf: Some(pb::inclusion_request::Leaf::Index(index)),
                    tree_size,
                })) => self.inclusion(index, tree_size).await,
                Some(Request::Consistency(c)) => self.consistency(c.size1, c.size2).await,
                _ => Err(ClientError::InvalidRequest(
                    "a tile server answers only checkpoints, entries and proofs by index".into(),
                )),
            }
        };
        // Each fetch is bounded; so is the whole answer (proofs fetch tiles in parallel).
        tokio::time::timeout(self.timeout * 2, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                after: self.timeout * 2,
            })?
    }
}

fn answer(response: pb::client_response::Response) -> pb::ClientResponse {
    pb::ClientResponse {
        response: Some(response),
    }
}

fn refusal(kind: pb::ClientErrorKind, message: &str) -> pb::ClientResponse {
    answer(pb::client_response::Response::Error(pb::ClientError {
        kind: kind as i32,
        message: message.to_owned(),
        retry_after_ms: 0,
        tree_size: 0,
    }))
}

fn transport(e: &HttpError) -> ClientError {
    ClientError::Transport {
        reason: e.to_string(),
    }
}

/// A tile of another length than its path says: the server misbehaved.
fn unexpected_len(id: TileId, len: usize) -> ClientError {
    tracing::debug!(tile = %id, len, "tile of the wrong length");
    ClientError::UnexpectedResponse {
        request: "tile",
        response: "a tile of another width than its path",
    }
}

fn tile_error<E: std::fmt::Display>(e: E) -> ClientError {
    ClientError::Transport {
        reason: format!("tiles: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use herald_proto::inclusion::LogTrust;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::store::{CheckpointStore as _, MemoryCheckpointStore};
    use crate::test_log::TestLog;

    /// A tile server that answers `GET /checkpoint` with `note` while `trickle` is false, and
    /// after that with a head promising 1 MiB and then a byte every 50 ms (a bounded loop).
    async fn tile_server(note: Vec<u8>, trickle: Arc<AtomicBool>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (note, trickle) = (note.clone(), trickle.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    if !trickle.load(Ordering::SeqCst) {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            note.len()
                        );
                        let _ = stream.write_all(head.as_bytes()).await;
                        let _ = stream.write_all(&note).await;
                        return;
                    }
                    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n";
                    if stream.write_all(head).await.is_err() {
                        return;
                    }
                    for _ in 0..200 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if stream.write_all(b"x").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_trickling_tile_server_times_out_and_the_trusted_checkpoint_is_kept() {
        let log = TestLog::new(3);
        let trickle = Arc::new(AtomicBool::new(false));
        let prefix = tile_server(log.checkpoint_note(3), trickle.clone()).await;
        let timeout = Duration::from_millis(500);
        let tiles = TileGateway::new(&prefix, HashAlgorithm::Blake3, timeout).unwrap();
        let store = MemoryCheckpointStore::new();
        let trust = LogTrust::unwitnessed(log.verifier(), HashAlgorithm::Blake3);
        let mut trusted = crate::TrustedLog::open(tiles, trust, &store).unwrap();
        assert_eq!(trusted.refresh().await.unwrap().checkpoint.size(), 3);
        let saved = store.load("alpha.test/herald").unwrap();

        trickle.store(true, Ordering::SeqCst);
        let started = std::time::Instant::now();
        let err = trusted.refresh().await.unwrap_err();
        let waited = started.elapsed();
        assert!(
            matches!(err, ClientError::Timeout { after } if after == timeout),
            "{err:?}"
        );
        assert!(err.is_retryable() && !err.is_peer_misbehaviour());
        // One fetch's bound (the whole answer's is twice that), with margin.
        assert!(
            waited >= timeout && waited < 2 * timeout + Duration::from_secs(1),
            "after {waited:?}"
        );
        assert_eq!(trusted.trusted().map(|c| c.size()), Some(3));
        assert_eq!(store.load("alpha.test/herald").unwrap(), saved);
    }
}
