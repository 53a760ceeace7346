//! The admin API on the node's loopback HTTP listener (DESIGN §4): peer registry, block list,
//! alerts, accounts, and — only with `test_hooks = true` — a fork switch for
//! tests.
//!
//! Every call needs `Authorization: Bearer <token>`, the token being the content of
//! `<data_dir>/admin.token` (mode 0600, made at `init` or at the first start). A missing or wrong
//! token is answered 401 before anything else is looked at or read. Bodies are JSON, at most
//! [`MAX_ADMIN_BODY_BYTES`] (413 beyond); the exchange is bounded in time by the listener.
//! Answers are JSON; refusals are `{"error": "..."}` with 400 (bad input), 404 (no such
//! route or domain), 405 (method), 409 (a registry conflict), 500/503 (local failure).
//!
//! | call | body | answer |
//! |---|---|---|
//! | `GET /admin/peers` | | [`PeerList`] |
//! | `POST /admin/peers` | [`PeerRecord`] | [`PeerAdded`] (registered, or replaced by domain) |
//! | `DELETE /admin/peers/<domain>` | | [`PeerRemoved`] (404 if not registered) |
//! | `DELETE /admin/peers` | [`PeerRemoval`] | [`PeerRemoved`] |
//! | `GET /admin/blocklist` | | [`BlockList`] |
//! | `POST /admin/blocklist` | [`BlockRequest`] | [`BlockList`] (after adding) |
//! | `DELETE /admin/blocklist` | | [`BlockList`] (empty) |
//! | `GET /admin/alerts` | | [`AlertReport`] |
//! | `POST /admin/test/fork` | | [`ForkReport`] (404 unless `test_hooks`) |
//! | `GET /admin/accounts` | | [`AccountList`] |
//! | `POST /admin/accounts` | [`AccountAdd`] | [`AccountAdded`] (a new one-time enrolment code) |
//! | `POST /admin/accounts/disable` | [`AccountDisable`] | [`DisableReport`] (a revocation is logged first if the account was active) |
//!
//! The block list is the testnet's partition switch: blocked peers are disconnected and
//! refused (libp2p `allow_block_list`) until `DELETE /admin/blocklist`; it lives in memory only,
//! so a restart heals. `"all": true` blocks every peer registered at the time of the call.

use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald_light_client::net;
use herald_proto::checkpoint::Checkpoint;
use herald_proto::equivocation::{Equivocation, Evidence};
use herald_proto::note::NoteSigner;
use herald_proto::wire::pb;
use libp2p::PeerId;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tracing::{info, warn};

use crate::accounts::api::{
    AccountAdd, AccountAdded, AccountDisable, AccountList, MAX_ACCOUNTS_LISTED,
};
use crate::accounts::{AccountError, DEFAULT_CODE_VALIDITY_SECS};
use crate::clock::Clock;
use crate::http::{Method, RequestHead, Response};
use crate::network::{NodeHandle, Topic};
use crate::peers::{PeerDomain, PeerError, PeerRecord, PeerRegistry};
use crate::service::{DisableReport, Intake, Refusal};
use crate::store::LogStore;
use crate::watch::SplitViewWatch;

/// Largest admin request body.
pub const MAX_ADMIN_BODY_BYTES: usize = 64 * 1024;
/// Most alerts listed by `GET /admin/alerts`.
const MAX_ALERTS_LISTED: usize = 256;
/// Largest token file read.
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// `GET /admin/peers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerList {
    /// Every registered peer, by domain.
    pub peers: Vec<PeerRecord>,
}

/// `POST /admin/peers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAdded {
    /// The peer as registered (addresses without `/p2p/`).
    pub peer: PeerRecord,
    /// Whether a record of the same domain was replaced.
    pub replaced: bool,
}

/// The body of `DELETE /admin/peers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerRemoval {
    /// The domain to unregister.
    pub domain: String,
}

/// `DELETE /admin/peers...`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRemoved {
    /// The domain.
    pub domain: String,
    /// Whether it was registered (always true in a 200 answer).
    pub removed: bool,
}

/// The body of `POST /admin/blocklist`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// Peer ids to block.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Also block every registered peer.
    #[serde(default)]
    pub all: bool,
}

/// The block list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockList {
    /// The blocked peer ids.
    pub blocked: Vec<String>,
}

/// `GET /admin/alerts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertReport {
    /// The equivocation proofs held (at most 256).
    pub alerts: Vec<AlertRecord>,
    /// The origins distrusted.
    pub distrusted: Vec<String>,
}

/// One equivocation proof, readable and verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// The log that equivocated.
    pub origin: String,
    /// Its verifier key.
    pub log_key: String,
    /// `same_size`, `consistency` or `inclusion`.
    pub evidence: String,
    /// The first checkpoint note.
    pub first: String,
    /// The second checkpoint note.
    pub second: String,
    /// The proof as gossiped (`herald.v1.Equivocation`), base64: anyone can check it offline.
    pub proof: String,
}

/// `POST /admin/test/fork`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkReport {
    /// The log's origin.
    pub origin: String,
    /// The size of both the published and the conflicting checkpoint.
    pub size: u64,
    /// The conflicting root, base64.
    pub root: String,
    /// The conflicting checkpoint note, signed with the log's real key.
    pub checkpoint: String,
}

/// A refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Why.
    pub error: String,
}

impl AlertRecord {
    /// The readable form of `proof`.
    pub fn of(proof: &Equivocation) -> Self {
        let evidence = match proof.evidence() {
            Evidence::SameSize => "same_size",
            Evidence::Consistency { .. } => "consistency",
            Evidence::Inclusion { .. } => "inclusion",
        };
        AlertRecord {
            origin: proof.log().name().to_owned(),
            log_key: proof.log().to_string(),
            evidence: evidence.to_owned(),
            first: proof.first_note().to_owned(),
            second: proof.second_note().to_owned(),
            proof: BASE64.encode(proof.encode()),
        }
    }
}

/// What the fork switch needs: the log's real key and its published head.
#[derive(Clone)]
pub struct ForkHook {
    /// The log's signing key.
    pub signer: NoteSigner,
    /// The log.
    pub store: LogStore,
    /// Time, mixed into the conflicting root.
    pub clock: Arc<dyn Clock>,
}

/// The admin API (see the module docs).
pub struct AdminApi {
    token_digest: [u8; 32],
    registry: PeerRegistry,
    watch: SplitViewWatch,
    intake: Intake,
    node: NodeHandle,
    fork: Option<ForkHook>,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApi")
            .field("test_hooks", &self.fork.is_some())
            .finish_non_exhaustive()
    }
}

fn error(status: u16, message: impl Into<String>) -> Response {
    Response::json(
        status,
        &ApiError {
            error: message.into(),
        },
    )
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| error(400, format!("bad JSON body: {e}")))
}

fn account_error(e: Refusal) -> Response {
    match e {
        Refusal::Account(AccountError::Unknown(_)) => error(404, e.to_string()),
        Refusal::Account(
            AccountError::Active(_)
            | AccountError::AlreadyDisabled(_)
            | AccountError::TooManyRevocations(_)
            | AccountError::Changed(_)
            | AccountError::BindingInFlight(_),
        ) => error(409, e.to_string()),
        Refusal::Account(
            AccountError::BadAddress { .. }
            | AccountError::OtherDomain { .. }
            | AccountError::BadValidity(_),
        ) => error(400, e.to_string()),
        Refusal::Busy { .. } => error(503, e.to_string()),
        _ => error(500, e.to_string()),
    }
}

fn peer_error(e: PeerError) -> Response {
    match e {
        PeerError::Itself(_) | PeerError::PeerIdTaken { .. } | PeerError::TooManyPeers => {
            error(409, e.to_string())
        }
        PeerError::Storage(_) | PeerError::Corrupt { .. } => error(500, e.to_string()),
        _ => error(400, e.to_string()),
    }
}

/// The routes, by path and method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    ListPeers,
    AddPeer,
    RemovePeer,
    ListBlocked,
    Block,
    Unblock,
    Alerts,
    Fork,
    ListAccounts,
    AddAccount,
    DisableAccount,
}

impl AdminApi {
    /// The API with the token `token`, or none.
    pub fn new(
        token: &str,
        registry: PeerRegistry,
        watch: SplitViewWatch,
        intake: Intake,
        node: NodeHandle,
        fork: Option<ForkHook>,
    ) -> Self {
        AdminApi {
            token_digest: Sha256::digest(token.as_bytes()).into(),
            registry,
            watch,
            intake,
            node,
            fork,
        }
    }

    /// Whether `path` is the admin API's.
    pub fn serves(path: &str) -> bool {
        path == "/admin" || path.starts_with("/admin/")
    }

    /// Compares digests, so the time taken says nothing about the token.
    fn authorized(&self, head: &RequestHead) -> bool {
        let Some(token) = head.authorization.as_deref().and_then(bearer_token) else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        given
            .iter()
            .zip(self.token_digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    fn route(&self, head: &RequestHead) -> Result<Route, Response> {
        let not_allowed = || error(405, "method not allowed");
        let path = head.path.as_str();
        match path {
            "/admin/peers" => match head.method {
                Method::Get => Ok(Route::ListPeers),
                Method::Post => Ok(Route::AddPeer),
                Method::Delete => Ok(Route::RemovePeer),
                _ => Err(not_allowed()),
            },
            p if p.starts_with("/admin/peers/") => match head.method {
                Method::Delete => Ok(Route::RemovePeer),
                _ => Err(not_allowed()),
            },
            "/admin/blocklist" => match head.method {
                Method::Get => Ok(Route::ListBlocked),
                Method::Post => Ok(Route::Block),
                Method::Delete => Ok(Route::Unblock),
                _ => Err(not_allowed()),
            },
            "/admin/alerts" => match head.method {
                Method::Get => Ok(Route::Alerts),
                _ => Err(not_allowed()),
            },
            "/admin/accounts" => match head.method {
                Method::Get => Ok(Route::ListAccounts),
                Method::Post => Ok(Route::AddAccount),
                _ => Err(not_allowed()),
            },
            "/admin/accounts/disable" => match head.method {
                Method::Post => Ok(Route::DisableAccount),
                _ => Err(not_allowed()),
            },
            "/admin/test/fork" if self.fork.is_some() => match head.method {
                Method::Post => Ok(Route::Fork),
                _ => Err(not_allowed()),
            },
            _ => Err(error(404, "no such admin call")),
        }
    }

    /// Admits a request: 401 without the token, then 404/405 for unknown calls; else the body
    /// bound.
    pub fn admit(&self, head: &RequestHead) -> Result<usize, Response> {
        if !self.authorized(head) {
            return Err(error(401, "missing or wrong bearer token"));
        }
        self.route(head).map(|_| MAX_ADMIN_BODY_BYTES)
    }

    /// Answers an admitted request.
    pub async fn call(&self, head: RequestHead, body: Vec<u8>) -> Response {
        // `admit` ran first; checked again so that no path reaches a route unauthorized.
        if !self.authorized(&head) {
            return error(401, "missing or wrong bearer token");
        }
        let route = match self.route(&head) {
            Ok(r) => r,
            Err(refusal) => return refusal,
        };
        let outcome = match route {
            Route::ListPeers => Ok(Response::json(
                200,
                &PeerList {
                    peers: self
                        .registry
                        .list()
                        .iter()
                        .map(PeerDomain::to_record)
                        .collect(),
                },
            )),
            Route::AddPeer => self.add_peer(&body).await,
            Route::RemovePeer => self.remove_peer(&head.path, &body).await,
            Route::ListBlocked => self.blocked(self.node.blocked().await).await,
            Route::Block => self.block(&body).await,
            Route::Unblock => {
                let cleared = self.node.unblock_all().await.map(|()| Vec::new());
                self.blocked(cleared).await
            }
            Route::Alerts => self.alerts().await,
            Route::Fork => self.fork().await,
            Route::ListAccounts => self.list_accounts().await,
            Route::AddAccount => self.add_account(&body).await,
            Route::DisableAccount => self.disable_account(&body).await,
        };
        outcome.unwrap_or_else(|refusal| refusal)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Response> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| error(500, format!("task failed: {e}")))
    }

    async fn add_peer(&self, body: &[u8]) -> Result<Response, Response> {
        let record: PeerRecord = parse_json(body)?;
        let peer = PeerDomain::from_record(&record).map_err(peer_error)?;
        let registry = self.registry.clone();
        let registered = peer.to_record();
        let replaced = self
            .blocking(move || registry.add(peer))
            .await?
            .map_err(peer_error)?;
        info!(
            domain = registered.domain,
            peer_id = registered.peer_id,
            replaced,
            "peer registered"
        );
        Ok(Response::json(
            200,
            &PeerAdded {
                peer: registered,
                replaced,
            },
        ))
    }

    async fn remove_peer(&self, path: &str, body: &[u8]) -> Result<Response, Response> {
        let domain = match path.strip_prefix("/admin/peers/") {
            Some(d) => d.to_owned(),
            None => parse_json::<PeerRemoval>(body)?.domain,
        };
        let registry = self.registry.clone();
        let d = domain.clone();
        let removed = self
            .blocking(move || registry.remove(&d))
            .await?
            .map_err(peer_error)?;
        if !removed {
            return Err(error(404, format!("{domain} is not registered")));
        }
        info!(domain, "peer unregistered");
        Ok(Response::json(200, &PeerRemoved { domain, removed }))
    }

    async fn blocked(
        &self,
        list: Result<Vec<PeerId>, crate::network::NetworkError>,
    ) -> Result<Response, Response> {
        let list = list.map_err(|e| error(503, e.to_string()))?;
        let mut blocked: Vec<String> = list.iter().map(|p| p.to_string()).collect();
        blocked.sort();
        Ok(Response::json(200, &BlockList { blocked }))
    }

    async fn block(&self, body: &[u8]) -> Result<Response, Response> {
        let request: BlockRequest = parse_json(body)?;
        let mut peers = request
            .peers
            .iter()
            .map(|p| {
                p.parse::<PeerId>()
                    .map_err(|_| error(400, format!("{p:?} is not a peer id")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if request.all {
            peers.extend(self.registry.snapshot().iter().map(|p| p.peer_id));
        }
        self.blocked(self.node.block(peers).await).await
    }

    async fn alerts(&self) -> Result<Response, Response> {
        let watch = self.watch.clone();
        let listed = self
            .blocking(move || watch.alerts().list(None, MAX_ALERTS_LISTED))
            .await?
            .map_err(|e| error(500, e.to_string()))?;
        Ok(Response::json(
            200,
            &AlertReport {
                alerts: listed.iter().map(AlertRecord::of).collect(),
                distrusted: self.watch.alerts().distrusted(),
            },
        ))
    }

    async fn list_accounts(&self) -> Result<Response, Response> {
        let accounts = self.intake.accounts().clone();
        let listed = self
            .blocking(move || accounts.list(MAX_ACCOUNTS_LISTED))
            .await?
            .map_err(|e| account_error(e.into()))?;
        Ok(Response::json(
            200,
            &AccountList {
                accounts: listed.iter().map(|r| r.view()).collect(),
            },
        ))
    }

    async fn add_account(&self, body: &[u8]) -> Result<Response, Response> {
        let request: AccountAdd = parse_json(body)?;
        let valid_for = request.valid_for_secs.unwrap_or(DEFAULT_CODE_VALIDITY_SECS);
        let (code, record) = self
            .intake
            .issue_code(request.account, valid_for)
            .await
            .map_err(account_error)?;
        Ok(Response::json(
            200,
            &AccountAdded {
                account: record.view(),
                enrolment_code: code.as_str().to_owned(),
            },
        ))
    }

    async fn disable_account(&self, body: &[u8]) -> Result<Response, Response> {
        let request: AccountDisable = parse_json(body)?;
        let report: DisableReport = self
            .intake
            .disable(request.account)
            .await
            .map_err(account_error)?;
        Ok(Response::json(200, &report))
    }

    /// Signs, with the log's real key, a checkpoint of the published size with another root,
    /// and shows it to every peer (gossip, and `AddCheckpoint` from that size). Test hook.
    async fn fork(&self) -> Result<Response, Response> {
        let Some(hook) = &self.fork else {
            return Err(error(404, "no such admin call"));
        };
        let head = hook.store.head();
        if head.size == 0 {
            return Err(error(409, "the log is empty; nothing to fork"));
        }
        let mut hasher = Sha256::new();
        hasher.update(b"herald test fork\n");
        hasher.update(head.root);
        hasher.update(hook.clock.now_ms().to_be_bytes());
        let checkpoint = Checkpoint {
            origin: hook.signer.name().to_owned(),
            size: head.size,
            root: hasher.finalize().into(),
        };
        let note = checkpoint
            .sign(&hook.signer)
            .map_err(|e| error(500, e.to_string()))?
            .to_string();
        warn!(
            size = head.size,
            "TEST HOOK: signed a conflicting checkpoint with the real log key"
        );
        if let Err(e) = self
            .node
            .publish(Topic::Checkpoints, net::checkpoint_message(note.as_bytes()))
            .await
        {
            warn!(error = %e, "fork not gossiped");
        }
        for peer in self.registry.snapshot().iter() {
            let request = pb::AddCheckpointRequest {
                old_size: head.size,
                consistency_proof: Vec::new(),
                checkpoint: note.clone().into_bytes(),
            };
            let node = self.node.clone();
            let (id, addrs, domain) = (peer.peer_id, peer.addrs.clone(), peer.domain.clone());
            tokio::spawn(async move {
                match node.witness_request(id, addrs, request).await {
                    Ok(answer) => info!(domain, ?answer, "fork shown to witness"),
                    Err(e) => warn!(domain, error = %e, "fork not shown to witness"),
                }
            });
        }
        Ok(Response::json(
            200,
            &ForkReport {
                origin: checkpoint.origin,
                size: checkpoint.size,
                root: BASE64.encode(checkpoint.root),
                checkpoint: note,
            },
        ))
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is matched without regard
/// to case (RFC 9110 §11.1; the reliability review's F12 found `bearer` refused).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

/// Why the admin token could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Reading or writing the file failed.
    #[error("admin token {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file may be read by group or others.
    #[error("admin token {path} has mode {mode:04o}; it must be 0600 (chmod 600 {path})")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is empty, too large, or not text.
    #[error("admin token {0} is not a token (empty, over 4 KiB, or not UTF-8)")]
    Malformed(PathBuf),
    /// The OS random number generator failed.
    #[error("OS random number generator failed: {0}")]
    Random(getrandom::Error),
}

/// The admin token in `path`: read (it must be 0600) or, if missing, made (32 random bytes,
/// hex, mode 0600). Blocking.
pub fn ensure_token(path: &Path) -> Result<String, TokenError> {
    let io_error = |source| TokenError::Io {
        path: path.to_owned(),
        source,
    };
    match fs::File::open(path) {
        Ok(file) => {
            let meta = file.metadata().map_err(io_error)?;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(TokenError::Permissions {
                    path: path.to_owned(),
                    mode,
                });
            }
            let mut text = String::new();
            file.take(MAX_TOKEN_FILE_BYTES + 1)
                .read_to_string(&mut text)
                .map_err(|_| TokenError::Malformed(path.to_owned()))?;
            let token = text.trim();
            if token.is_empty() || text.len() as u64 > MAX_TOKEN_FILE_BYTES {
                return Err(TokenError::Malformed(path.to_owned()));
            }
            Ok(token.to_owned())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(TokenError::Random)?;
            let token = hex::encode(secret);
            // Written whole to a temporary file and linked into place (as key files are): a
            // crash mid-write leaves no partial token that would stop the node from starting.
            match crate::keys::write_secret(path, format!("{token}\n").as_bytes()) {
                Ok(()) => Ok(token),
                // Another process made it meanwhile: use that one.
                Err(crate::keys::KeyFileError::Exists(_)) => ensure_token(path),
                Err(e) => Err(TokenError::Io {
                    path: path.to_owned(),
                    source: io::Error::other(e.to_string()),
                }),
            }
        }
        Err(e) => Err(io_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_made_once_with_mode_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.token");
        let token = ensure_token(&path).unwrap();
        assert_eq!(token.len(), 64);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(ensure_token(&path).unwrap(), token);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            ensure_token(&path),
            Err(TokenError::Permissions { .. })
        ));
        // No temporary file is left next to it.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_empty_oversized_or_binary_token_file_is_malformed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.token");
        for bytes in [
            b"".to_vec(),
            b"\n".to_vec(),
            vec![b'a'; MAX_TOKEN_FILE_BYTES as usize + 1],
            vec![0xff, 0xfe, 0x00],
        ] {
            fs::write(&path, &bytes).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            assert!(matches!(ensure_token(&path), Err(TokenError::Malformed(_))));
            assert_eq!(
                fs::read(&path).unwrap(),
                bytes,
                "the file is left as it was"
            );
        }
    }

    /// F12 of the reliability review: the scheme was matched case-sensitively.
    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "bEaReR abc"] {
            assert_eq!(bearer_token(value), Some("abc"), "{value}");
        }
        for value in ["Basic abc", "Bearerabc", "abc", "Bear abc", ""] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }

    #[test]
    fn only_admin_paths_are_served_here() {
        assert!(AdminApi::serves("/admin/peers"));
        assert!(AdminApi::serves("/admin"));
        assert!(!AdminApi::serves("/administrator"));
        assert!(!AdminApi::serves("/status"));
    }
}
