//! The node's typed configuration, its defaults, and the documented TOML file `init` writes.
//!
//! The library takes a [`NodeConfig`] and never reads files or the environment itself: the
//! `herald-node` binary reads the TOML file, then lets `HERALD_*` variables and flags override it
//! ([`crate::cli`]). Unknown keys are refused (`deny_unknown_fields`), so a misspelt option fails at
//! start instead of being silently ignored.
//!
//! The module's files, one concern each: this one holds [`NodeConfig`] and its tables and
//! derived values; `defaults` the `DEFAULT_*` constants and the serde defaults; `validate` the
//! parsing and every range and table check; `error` [`ConfigError`]; `template` the documented
//! TOML file ([`NodeConfig::to_toml`]); `serde_helpers` the text forms of hashes and multiaddrs.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use herald_proto::merkle::HashAlgorithm;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use serde::{Deserialize, Serialize};

use crate::peers::PeerRecord;
use crate::policy::PolicyConfig;

mod defaults;
mod error;
mod serde_helpers;
mod template;
mod validate;

#[cfg(test)]
mod tests;

// The `DEFAULT_*` constants (public) and the `default_*` functions (this module's only).
pub use defaults::*;
pub use error::ConfigError;
use serde_helpers::{hash_serde, multiaddrs_serde};

/// Everything a node needs to run, typed. Built by the binary from the TOML file, `HERALD_*`
/// environment variables and flags, or directly by tests and the testnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The mail domain this gateway serves; the log's origin is `<domain>/herald`.
    pub domain: String,
    /// Directory holding keys, the sled database and `node.json`.
    pub data_dir: PathBuf,
    /// The log's hash, fixed at init; `run` refuses a store created with another.
    #[serde(with = "hash_serde", default = "default_hash")]
    pub hash: HashAlgorithm,
    /// libp2p listen addresses (`/ip4/../tcp/..` and `/ip4/../udp/../quic-v1`); port 0 = any.
    #[serde(with = "multiaddrs_serde", default = "default_listen")]
    pub listen: Vec<Multiaddr>,
    /// Address of the HTTP listener for `/metrics`, `/health`, `/status`; port 0 = any.
    /// Loopback only unless `http_listen_public` is set.
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
    /// Allows a non-loopback `http_listen`. The admin API's bearer token then travels in clear
    /// HTTP on that interface; the node logs a warning at every start.
    #[serde(default)]
    pub http_listen_public: bool,
    /// Milliseconds between sequencing rounds.
    #[serde(default = "default_sequence_interval_ms")]
    pub sequence_interval_ms: u64,
    /// Entries that start a round early.
    #[serde(default = "default_batch_max")]
    pub batch_max: usize,
    /// Capacity of the submission pool.
    #[serde(default = "default_pool_max")]
    pub pool_max: usize,
    /// Client requests worked on at once.
    #[serde(default = "default_max_inflight_requests")]
    pub max_inflight_requests: usize,
    /// Established inbound libp2p connections at once; more are refused.
    #[serde(default = "default_max_incoming_connections")]
    pub max_incoming_connections: u32,
    /// Established libp2p connections with one peer at once (both directions); more are refused.
    #[serde(default = "default_max_connections_per_peer")]
    pub max_connections_per_peer: u32,
    /// Milliseconds a request to a peer may take, the whole exchange (opening a client stream,
    /// and every byte of the answer: a peer that trickles it is cut off here as a silent one);
    /// a push to an external C2SP witness gets a second more.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Inbound libp2p connections from one IP address still in their handshake at once; more
    /// are refused at once (reliability review F2).
    #[serde(default = "default_max_pending_per_ip")]
    pub max_pending_per_ip: u32,
    /// Milliseconds a new libp2p connection has to finish its handshake (noise and yamux);
    /// a connection that has not is closed.
    #[serde(default = "default_handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
    /// Entries one client peer may submit per second, sustained; 0: no limit (reliability review F8).
    #[serde(default = "default_peer_submit_rate")]
    pub peer_submit_rate: u64,
    /// Entries one client peer may submit at once above its rate.
    #[serde(default = "default_peer_submit_burst")]
    pub peer_submit_burst: u64,
    /// Bytes of entries one client peer may submit per second, sustained; 0: no limit.
    #[serde(default = "default_peer_submit_bytes_rate")]
    pub peer_submit_bytes_rate: u64,
    /// Bytes of entries one client peer may submit at once above its rate.
    #[serde(default = "default_peer_submit_bytes_burst")]
    pub peer_submit_bytes_burst: u64,
    /// `tracing` filter used when `RUST_LOG` is not set (e.g. `info`, `herald_node=debug`).
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// How many of the registered peers' witnesses must cosign a checkpoint of this log before
    /// it is stored and served as cosigned.
    #[serde(default = "default_quorum")]
    pub quorum: usize,
    /// Least milliseconds between two cross-logged checkpoints of one peer.
    #[serde(default = "default_crosslog_interval_ms")]
    pub crosslog_interval_ms: u64,
    /// Free MiB on the data directory's file system below which `/health` reports the node
    /// degraded (0: never).
    #[serde(default = "default_disk_warn_free_mib")]
    pub disk_warn_free_mib: u64,
    /// Free MiB below which new submissions are answered BUSY and `/health` reports the node
    /// unhealthy, so a write does not meet a full disk (0: never).
    #[serde(default = "default_disk_min_free_mib")]
    pub disk_min_free_mib: u64,
    /// KiB of sealed records the background scrub verifies per second (0: no scrub).
    #[serde(default = "default_scrub_kib_per_second")]
    pub scrub_kib_per_second: u64,
    /// Seconds a login session lives (PAEP): 60 to a week.
    #[serde(default = "default_session_lifetime_secs")]
    pub session_lifetime_secs: u64,
    /// Live login sessions at once; a login beyond it is answered "busy".
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// Prekey bundles one registered peer gateway may ask for per minute (`relay_prekey`, on
    /// behalf of all its senders, each limited at that gateway); an unregistered asker keeps
    /// the per-peer anonymous limit.
    #[serde(default = "default_relay_prekey_bundles_per_minute")]
    pub relay_prekey_bundles_per_minute: u32,
    /// Seconds a mail is tried before it is given up as not delivered (also the latest expiry
    /// a sender may ask for).
    #[serde(default = "default_mail_expiry_secs")]
    pub mail_expiry_secs: u64,
    /// First delay before a failed relay is retried, ms (doubled per attempt).
    #[serde(default = "default_relay_retry_min_ms")]
    pub relay_retry_min_ms: u64,
    /// Longest delay between relay attempts, ms.
    #[serde(default = "default_relay_retry_max_ms")]
    pub relay_retry_max_ms: u64,
    /// KiB of mail one mailbox holds at most.
    #[serde(default = "default_mailbox_quota_kib")]
    pub mailbox_quota_kib: u64,
    /// Seconds an unacknowledged mail stays in a mailbox, and a sender's delivery record in the
    /// outbox; at least `mail_expiry_secs`.
    #[serde(default = "default_mailbox_retention_secs")]
    pub mailbox_retention_secs: u64,
    /// Argon2id memory (KiB) the gateway offers for passwords, and the least a password record
    /// may have been derived with.
    #[serde(default = "default_password_memory_kib")]
    pub password_memory_kib: u32,
    /// Argon2id passes offered for passwords, and the least a record may have.
    #[serde(default = "default_password_iterations")]
    pub password_iterations: u32,
    /// Argon2id lanes offered for passwords.
    #[serde(default = "default_password_parallelism")]
    pub password_parallelism: u32,
    /// Enables test-only admin calls (`POST /admin/test/fork`: sign a conflicting checkpoint).
    /// Never in production.
    #[serde(default)]
    pub test_hooks: bool,
    /// Test only, and only with `test_hooks`: refuse every `relay_mails` request `MALFORMED`,
    /// as a gateway that predates batched relays does, so that a peer's fallback to one relay
    /// per request is tested end to end. Never in production.
    #[serde(default)]
    pub test_refuse_relay_batches: bool,
    /// Test only, and only with `test_hooks`: answer every session request `next_mails`
    /// `MALFORMED`, as a gateway that predates the kind does, so that a reader's fallback to
    /// three requests a cycle is tested end to end. Never in production.
    #[serde(default)]
    pub test_refuse_next_mails: bool,
    /// Peer domains registered at every start (`[[peers]]` tables).
    #[serde(default)]
    pub peers: Vec<PeerRecord>,
    /// Other C2SP logs this node witnesses (`[[witnessed_logs]]` tables), besides its
    /// registered peers: any log with a C2SP signed-note key, not only Herald's.
    #[serde(default)]
    pub witnessed_logs: Vec<WitnessedLog>,
    /// External C2SP witnesses this log pushes its checkpoints to over HTTP
    /// (`[[external_witnesses]]`); their cosignatures count toward `quorum` beside the
    /// registered peers'.
    #[serde(default)]
    pub external_witnesses: Vec<ExternalWitness>,
    /// The mail policy (`[policy]` table; DESIGN §4); defaults accept normal mail.
    #[serde(default)]
    pub policy: PolicyConfig,
}

/// A C2SP tlog-witness this log asks for cosignatures over HTTP (`POST <url>/add-checkpoint`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExternalWitness {
    /// The witness's URL prefix, `http://host:port[/path]` (the client has no TLS).
    pub url: String,
    /// The witness's verifier key (C2SP signed-note form): the cosignatures it must make.
    pub key: String,
}

/// Most `[[external_witnesses]]`.
pub const MAX_EXTERNAL_WITNESSES: usize = 64;
/// Longest `[[external_witnesses]]` URL.
pub const MAX_WITNESS_URL_LEN: usize = 2048;

/// A C2SP log this node witnesses without registering it as a peer domain. C2SP tlog-witness
/// is push: the log (or anyone holding its checkpoints) POSTs `/add-checkpoint`, and the log's
/// signature is the only credential, so the witness needs the key and nothing else — no URL.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WitnessedLog {
    /// The log's verifier key in C2SP signed-note form (`<origin>+<key id>+<base64>`); its
    /// name is the log's origin, which its checkpoints' first line must match.
    pub key: String,
    /// The log's hash: `sha256` (what C2SP defines, and the default) or `blake3`.
    #[serde(with = "hash_serde", default = "default_witnessed_hash")]
    pub hash: HashAlgorithm,
}

/// Most `[[witnessed_logs]]`: each costs a held checkpoint and a lock.
pub const MAX_WITNESSED_LOGS: usize = 1024;

impl NodeConfig {
    /// A configuration with every default, for `domain` in `data_dir`.
    pub fn new(domain: &str, data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            domain: domain.to_owned(),
            data_dir: data_dir.into(),
            hash: default_hash(),
            listen: default_listen(),
            http_listen: default_http_listen(),
            http_listen_public: false,
            sequence_interval_ms: DEFAULT_SEQUENCE_INTERVAL_MS,
            batch_max: DEFAULT_BATCH_MAX,
            pool_max: DEFAULT_POOL_MAX,
            max_inflight_requests: DEFAULT_MAX_INFLIGHT_REQUESTS,
            max_incoming_connections: DEFAULT_MAX_INCOMING_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            max_pending_per_ip: DEFAULT_MAX_PENDING_PER_IP,
            handshake_timeout_ms: DEFAULT_HANDSHAKE_TIMEOUT_MS,
            peer_submit_rate: DEFAULT_PEER_SUBMIT_RATE,
            peer_submit_burst: DEFAULT_PEER_SUBMIT_BURST,
            peer_submit_bytes_rate: DEFAULT_PEER_SUBMIT_BYTES_RATE,
            peer_submit_bytes_burst: DEFAULT_PEER_SUBMIT_BYTES_BURST,
            log_level: default_log_level(),
            quorum: DEFAULT_QUORUM,
            crosslog_interval_ms: DEFAULT_CROSSLOG_INTERVAL_MS,
            disk_warn_free_mib: DEFAULT_DISK_WARN_FREE_MIB,
            disk_min_free_mib: DEFAULT_DISK_MIN_FREE_MIB,
            scrub_kib_per_second: DEFAULT_SCRUB_KIB_PER_SECOND,
            session_lifetime_secs: DEFAULT_SESSION_LIFETIME_SECS,
            max_sessions: DEFAULT_MAX_SESSIONS,
            relay_prekey_bundles_per_minute: DEFAULT_RELAY_PREKEY_BUNDLES_PER_MINUTE,
            mail_expiry_secs: DEFAULT_MAIL_EXPIRY_SECS,
            relay_retry_min_ms: DEFAULT_RELAY_RETRY_MIN_MS,
            relay_retry_max_ms: DEFAULT_RELAY_RETRY_MAX_MS,
            mailbox_quota_kib: DEFAULT_MAILBOX_QUOTA_KIB,
            mailbox_retention_secs: DEFAULT_MAILBOX_RETENTION_SECS,
            password_memory_kib: default_password_memory_kib(),
            password_iterations: default_password_iterations(),
            password_parallelism: default_password_parallelism(),
            test_hooks: false,
            test_refuse_relay_batches: false,
            test_refuse_next_mails: false,
            peers: Vec::new(),
            witnessed_logs: Vec::new(),
            external_witnesses: Vec::new(),
            policy: PolicyConfig::default(),
        }
    }

    /// A configuration for tests: loopback only, every port chosen by the OS.
    pub fn for_loopback_test(domain: &str, data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            listen: vec![
                loopback(Protocol::Tcp(0)),
                loopback(Protocol::Udp(0)).with(Protocol::QuicV1),
            ],
            http_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            ..NodeConfig::new(domain, data_dir)
        }
    }

    /// The mail settings.
    pub fn mail_settings(&self) -> crate::service::MailSettings {
        crate::service::MailSettings {
            max_expiry_secs: self.mail_expiry_secs,
            retry_min: Duration::from_millis(self.relay_retry_min_ms),
            retry_max: Duration::from_millis(self.relay_retry_max_ms),
            quota_bytes: self.mailbox_quota_kib.saturating_mul(1024),
            retention_secs: self.mailbox_retention_secs,
            refuse_relay_batches: self.test_hooks && self.test_refuse_relay_batches,
            refuse_next_mails: self.test_hooks && self.test_refuse_next_mails,
        }
    }

    /// The Argon2id parameters offered for passwords, checked against the bounds every client
    /// Free bytes below which `/health` warns (0: never).
    pub fn disk_warn_free_bytes(&self) -> u64 {
        self.disk_warn_free_mib * 1024 * 1024
    }

    /// Free bytes below which submissions are refused (0: never).
    pub fn disk_min_free_bytes(&self) -> u64 {
        self.disk_min_free_mib * 1024 * 1024
    }

    /// The scrub's pace in bytes per second (0: no scrub).
    pub fn scrub_bytes_per_second(&self) -> u64 {
        self.scrub_kib_per_second * 1024
    }

    /// The least time between two cross-logged checkpoints of one peer.
    pub fn crosslog_interval(&self) -> Duration {
        Duration::from_millis(self.crosslog_interval_ms)
    }

    /// The admin API's bearer token file (mode 0600).
    pub fn admin_token_path(&self) -> PathBuf {
        self.data_dir.join("admin.token")
    }

    /// The warning a node logs at start when its HTTP listener (with the admin API) is not on
    /// loopback; `None` when it is.
    pub fn http_exposure_warning(&self) -> Option<String> {
        (!self.http_listen.ip().is_loopback()).then(|| {
            format!(
                "the HTTP listener {} is not on loopback (http_listen_public = true): the admin API's bearer token travels in clear HTTP there; protect it with a firewall or a TLS proxy",
                self.http_listen
            )
        })
    }

    /// The log's origin and signing key name, `<domain>/herald`.
    pub fn origin(&self) -> String {
        format!("{}/herald", self.domain)
    }

    /// The time between sequencing rounds.
    pub fn sequence_interval(&self) -> Duration {
        Duration::from_millis(self.sequence_interval_ms)
    }

    /// The time a request-response exchange may take.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The directory of the key files.
    pub fn key_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    /// The sled database directory.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("log")
    }

    /// Where a running node writes its bound addresses ([`crate::gateway::NodeInfo`]).
    pub fn node_info_path(&self) -> PathBuf {
        self.data_dir.join("node.json")
    }

    /// The configuration file `init` writes into a data directory.
    pub fn default_file(data_dir: &Path) -> PathBuf {
        data_dir.join("herald-node.toml")
    }
}
