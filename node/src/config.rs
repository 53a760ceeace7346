//! The node's typed configuration, its defaults, and the documented TOML file `init` writes.
//!
//! The library takes a [`NodeConfig`] and never reads files or the environment itself: the
//! `herald-node` binary reads the TOML file, then lets `HERALD_*` variables and flags override it
//! ([`crate::cli`]). Unknown keys are refused (`deny_unknown_fields`), so a misspelt option fails at
//! start instead of being silently ignored.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use herald_proto::checkpoint::WitnessVerifier;
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::wire::MAX_LOG_ENTRY_BYTES;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use serde::{Deserialize, Serialize};

use crate::peers::{PeerDomain, PeerError, PeerRecord, is_tcp_or_quic, valid_domain};
use crate::policy::PolicyConfig;

/// Default TCP and UDP (QUIC) port for the libp2p listeners.
pub const DEFAULT_P2P_PORT: u16 = 4710;
/// Default port of the loopback HTTP listener (`/metrics`, `/health`, `/status`).
pub const DEFAULT_HTTP_PORT: u16 = 4711;
/// Default time between two sequencing rounds (DESIGN §2).
pub const DEFAULT_SEQUENCE_INTERVAL_MS: u64 = 250;
/// Default number of waiting entries that starts a round before the interval ends.
pub const DEFAULT_BATCH_MAX: usize = 4096;
/// Default capacity of the submission pool; a full pool answers "busy".
pub const DEFAULT_POOL_MAX: usize = 65_536;
/// Default bound on client requests being worked on at once; more are answered "busy".
pub const DEFAULT_MAX_INFLIGHT_REQUESTS: usize = 1024;
/// Default bound on established inbound connections; more are refused at the handshake.
pub const DEFAULT_MAX_INCOMING_CONNECTIONS: u32 = 1024;
/// Default bound on established connections with one peer, both directions together.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: u32 = 8;
/// Default time a request-response exchange may take.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Default entries per second one client peer may submit, sustained.
pub const DEFAULT_PEER_SUBMIT_RATE: u64 = 2_000;
/// Default entries one client peer may submit in a burst above that rate (two full batches).
pub const DEFAULT_PEER_SUBMIT_BURST: u64 = 8_192;
/// Default bytes of entries per second one client peer may submit, sustained.
pub const DEFAULT_PEER_SUBMIT_BYTES_RATE: u64 = 4 * 1024 * 1024;
/// Default bytes of entries one client peer may submit in a burst (eight full batches).
pub const DEFAULT_PEER_SUBMIT_BYTES_BURST: u64 = 8 * 1024 * 1024;
/// Default inbound connections from one IP address still in their handshake at once.
pub const DEFAULT_MAX_PENDING_PER_IP: u32 = 8;
/// Default milliseconds a new connection has to finish its handshake (noise, yamux).
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 3_000;
/// Default number of registered witnesses whose cosignatures make a checkpoint "cosigned".
pub const DEFAULT_QUORUM: usize = 1;
/// Default least time between two cross-logged checkpoints of one peer (cross-logging, DESIGN §2 "Witnessing and gossip").
pub const DEFAULT_CROSSLOG_INTERVAL_MS: u64 = 30_000;
/// Default free space (MiB) on the data directory's file system below which `/health` warns.
pub const DEFAULT_DISK_WARN_FREE_MIB: u64 = 1024;
/// Default free space (MiB) below which new submissions are answered BUSY.
pub const DEFAULT_DISK_MIN_FREE_MIB: u64 = 128;
/// Default pace of the background scrub of the sealed files, KiB read per second.
pub const DEFAULT_SCRUB_KIB_PER_SECOND: u64 = 4096;

/// Default lifetime of a login session (PAEP), seconds: 12 hours.
pub const DEFAULT_SESSION_LIFETIME_SECS: u64 = herald_proto::paep::DEFAULT_SESSION_LIFETIME_SECS;
/// Default bound on live login sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Default prekey bundles one registered peer gateway may ask for per minute on behalf of all
/// its senders (each sender is limited at its own gateway; docs/decisions.md).
pub const DEFAULT_RELAY_PREKEY_BUNDLES_PER_MINUTE: u32 = 120_000;
/// Default (and longest) expiry of a mail, seconds from its acceptance: 3 days.
pub const DEFAULT_MAIL_EXPIRY_SECS: u64 = 3 * 24 * 3600;
/// Default first delay before a failed relay is retried, ms.
pub const DEFAULT_RELAY_RETRY_MIN_MS: u64 = 500;
/// Default longest delay between relay attempts, ms.
pub const DEFAULT_RELAY_RETRY_MAX_MS: u64 = 10_000;
/// Default mailbox quota, KiB of ciphertext per account: 64 MiB.
pub const DEFAULT_MAILBOX_QUOTA_KIB: u64 = 64 * 1024;
/// Default mailbox retention, seconds: 30 days.
pub const DEFAULT_MAILBOX_RETENTION_SECS: u64 = 30 * 24 * 3600;

/// Largest pool: 2^24 entries of up to 64 KiB would already be a gigabyte per thousand.
const MAX_POOL: usize = 1 << 24;
/// Largest disk threshold: 1 PiB in MiB (and far from overflowing bytes).
const MAX_DISK_MIB: u64 = 1 << 30;
/// Fastest scrub: 1 GiB/s.
const MAX_SCRUB_KIB_PER_SECOND: u64 = 1 << 20;

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

/// Why a configuration is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML text does not parse or does not match the schema (unknown key, wrong type).
    #[error("invalid configuration: {0}")]
    Toml(#[from] toml::de::Error),
    /// The domain is empty, too long, or makes an invalid log origin.
    #[error("domain {0:?} is not a valid domain name")]
    BadDomain(String),
    /// No libp2p listen address is configured.
    #[error("no listen address configured")]
    NoListenAddress,
    /// A listen address is neither TCP nor QUIC over IP.
    #[error("listen address {0} is neither /ip*/../tcp/.. nor /ip*/../udp/../quic-v1")]
    BadListenAddress(Multiaddr),
    /// A number is outside its allowed range.
    #[error("{field} = {value} is out of range ({min}..={max})")]
    OutOfRange {
        /// The option's name.
        field: &'static str,
        /// Its value.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// The password Argon2id parameters are outside what clients accept.
    #[error("password_memory_kib / password_iterations / password_parallelism: {0}")]
    PasswordParams(herald_proto::paep::LoginError),
    /// A `[[peers]]` entry is invalid.
    #[error("peer {domain:?}: {source}")]
    Peer {
        /// The entry's domain, as written.
        domain: String,
        /// Why it was refused.
        source: PeerError,
    },
    /// A `[[witnessed_logs]]` key does not parse as a C2SP signed-note verifier key.
    #[error("witnessed log {key:?}: {source}")]
    WitnessedLog {
        /// The key, as written.
        key: String,
        /// Why it was refused.
        source: herald_proto::note::KeyError,
    },
    /// An `[[external_witnesses]]` entry is invalid.
    #[error("external witness {url:?}: {why}")]
    ExternalWitness {
        /// The entry's URL, as written.
        url: String,
        /// Why it was refused.
        why: String,
    },
    /// Two `[[witnessed_logs]]` share an origin, or one is this node's or a peer's log.
    #[error("witnessed log {0:?} is listed twice, or is this node's or a peer's log")]
    DuplicateWitnessedLog(String),
    /// Two `[[peers]]` entries share a domain or a peer id, or one is this node.
    #[error("peer {0:?} is listed twice, or is this node")]
    DuplicatePeer(String),
    /// `http_listen` is not a loopback address and `http_listen_public` is not set.
    #[error(
        "http_listen = {0} is not a loopback address: the admin API's bearer token would travel in clear HTTP; use 127.0.0.1 (or ::1), or set http_listen_public = true if a firewall or TLS proxy protects it"
    )]
    PublicHttp(SocketAddr),
    /// `disk_min_free_mib` is above `disk_warn_free_mib`: the refusal would come unwarned.
    #[error(
        "disk_min_free_mib ({min}) is above disk_warn_free_mib ({warn}); set the warning at least as high"
    )]
    DiskThresholds {
        /// The refusal threshold.
        min: u64,
        /// The warning threshold.
        warn: u64,
    },
    /// The `[policy]` table does not make a rule set.
    #[error("[policy]: {0}")]
    Policy(#[from] herald_proto::policy::RuleError),
    /// `batch_max` is larger than `pool_max`, so a round could never start early.
    #[error("batch_max ({batch_max}) is larger than pool_max ({pool_max})")]
    BatchOverPool {
        /// The configured batch size.
        batch_max: usize,
        /// The configured pool size.
        pool_max: usize,
    },
}

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

    /// Parses and checks the TOML text of a configuration file.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: NodeConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every field's range; `run` calls it before touching anything.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !valid_domain(&self.domain) {
            return Err(ConfigError::BadDomain(self.domain.clone()));
        }
        if self.listen.is_empty() {
            return Err(ConfigError::NoListenAddress);
        }
        if let Some(bad) = self.listen.iter().find(|a| !is_tcp_or_quic(a)) {
            return Err(ConfigError::BadListenAddress(bad.clone()));
        }
        if !self.http_listen.ip().is_loopback() && !self.http_listen_public {
            return Err(ConfigError::PublicHttp(self.http_listen));
        }
        range("sequence_interval_ms", self.sequence_interval_ms, 1, 60_000)?;
        range("pool_max", self.pool_max as u64, 1, MAX_POOL as u64)?;
        range("batch_max", self.batch_max as u64, 1, MAX_POOL as u64)?;
        range(
            "max_inflight_requests",
            self.max_inflight_requests as u64,
            1,
            1 << 16,
        )?;
        range(
            "max_incoming_connections",
            u64::from(self.max_incoming_connections),
            1,
            1 << 16,
        )?;
        range(
            "max_connections_per_peer",
            u64::from(self.max_connections_per_peer),
            1,
            64,
        )?;
        range("request_timeout_ms", self.request_timeout_ms, 100, 600_000)?;
        range(
            "max_pending_per_ip",
            u64::from(self.max_pending_per_ip),
            1,
            1 << 16,
        )?;
        range(
            "handshake_timeout_ms",
            self.handshake_timeout_ms,
            100,
            60_000,
        )?;
        range("peer_submit_rate", self.peer_submit_rate, 0, 1 << 30)?;
        range("peer_submit_burst", self.peer_submit_burst, 1, 1 << 30)?;
        range(
            "peer_submit_bytes_rate",
            self.peer_submit_bytes_rate,
            0,
            1 << 40,
        )?;
        range(
            "peer_submit_bytes_burst",
            self.peer_submit_bytes_burst,
            MAX_LOG_ENTRY_BYTES as u64,
            1 << 40,
        )?;
        if self.batch_max > self.pool_max {
            return Err(ConfigError::BatchOverPool {
                batch_max: self.batch_max,
                pool_max: self.pool_max,
            });
        }
        range(
            "quorum",
            self.quorum as u64,
            1,
            crate::peers::MAX_PEERS as u64,
        )?;
        range(
            "crosslog_interval_ms",
            self.crosslog_interval_ms,
            10,
            86_400_000,
        )?;
        range(
            "disk_warn_free_mib",
            self.disk_warn_free_mib,
            0,
            MAX_DISK_MIB,
        )?;
        range("disk_min_free_mib", self.disk_min_free_mib, 0, MAX_DISK_MIB)?;
        if self.disk_warn_free_mib != 0 && self.disk_min_free_mib > self.disk_warn_free_mib {
            return Err(ConfigError::DiskThresholds {
                min: self.disk_min_free_mib,
                warn: self.disk_warn_free_mib,
            });
        }
        range(
            "scrub_kib_per_second",
            self.scrub_kib_per_second,
            0,
            MAX_SCRUB_KIB_PER_SECOND,
        )?;
        range(
            "session_lifetime_secs",
            self.session_lifetime_secs,
            60,
            herald_proto::paep::MAX_SESSION_LIFETIME_SECS,
        )?;
        range("max_sessions", self.max_sessions as u64, 1, 1 << 20)?;
        range(
            "relay_prekey_bundles_per_minute",
            u64::from(self.relay_prekey_bundles_per_minute),
            1,
            10_000_000,
        )?;
        range(
            "mail_expiry_secs",
            self.mail_expiry_secs,
            1,
            365 * 24 * 3600,
        )?;
        range("relay_retry_min_ms", self.relay_retry_min_ms, 10, 3_600_000)?;
        range(
            "relay_retry_max_ms",
            self.relay_retry_max_ms,
            self.relay_retry_min_ms,
            24 * 3_600_000,
        )?;
        range("mailbox_quota_kib", self.mailbox_quota_kib, 1, 1 << 30)?;
        range(
            "mailbox_retention_secs",
            self.mailbox_retention_secs,
            self.mail_expiry_secs,
            10 * 365 * 24 * 3600,
        )?;
        self.password_params()?;
        let peers = self.peer_domains()?;
        self.witnessed_logs_checked(&peers)?;
        self.external_witnesses()?;
        self.policy.rule_set()?;
        Ok(())
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
    /// accepts.
    pub fn password_params(&self) -> Result<herald_proto::paep::Argon2Params, ConfigError> {
        herald_proto::paep::Argon2Params::new(
            self.password_memory_kib,
            self.password_iterations,
            self.password_parallelism,
        )
        .map_err(ConfigError::PasswordParams)
    }

    /// The `[[peers]]` entries, checked: valid, none twice, none this node.
    pub fn peer_domains(&self) -> Result<Vec<PeerDomain>, ConfigError> {
        let mut peers: Vec<PeerDomain> = Vec::with_capacity(self.peers.len());
        for record in &self.peers {
            let peer = PeerDomain::from_record(record).map_err(|source| ConfigError::Peer {
                domain: record.domain.clone(),
                source,
            })?;
            let twice = peer.domain == self.domain
                || peers
                    .iter()
                    .any(|p| p.domain == peer.domain || p.peer_id == peer.peer_id);
            if twice {
                return Err(ConfigError::DuplicatePeer(peer.domain));
            }
            peers.push(peer);
        }
        Ok(peers)
    }

    /// The `[[witnessed_logs]]` as verifiers, checked: keys that parse, at most
    /// [`MAX_WITNESSED_LOGS`], each origin once and none this node's own or a `[[peers]]`
    /// entry's (a peer's log is witnessed as the peer's).
    pub fn witnessed_logs(&self) -> Result<Vec<LogTrust>, ConfigError> {
        self.witnessed_logs_checked(&self.peer_domains()?)
    }

    fn witnessed_logs_checked(&self, peers: &[PeerDomain]) -> Result<Vec<LogTrust>, ConfigError> {
        if self.witnessed_logs.len() > MAX_WITNESSED_LOGS {
            return Err(ConfigError::OutOfRange {
                field: "witnessed_logs",
                value: self.witnessed_logs.len() as u64,
                min: 0,
                max: MAX_WITNESSED_LOGS as u64,
            });
        }
        let mut logs: Vec<LogTrust> = Vec::with_capacity(self.witnessed_logs.len());
        for entry in &self.witnessed_logs {
            let log = LogTrust::parse(&entry.key, entry.hash).map_err(|source| {
                ConfigError::WitnessedLog {
                    key: entry.key.clone(),
                    source,
                }
            })?;
            let origin = log.origin();
            let taken = origin == self.origin()
                || peers.iter().any(|p| p.origin() == origin)
                || logs.iter().any(|l| l.origin() == origin);
            if taken {
                return Err(ConfigError::DuplicateWitnessedLog(origin.to_owned()));
            }
            logs.push(log);
        }
        Ok(logs)
    }

    /// The `[[external_witnesses]]`, checked: at most [`MAX_EXTERNAL_WITNESSES`], `http://`
    /// URLs of at most [`MAX_WITNESS_URL_LEN`] bytes, keys that parse, each key once. Pairs of
    /// the URL (without a trailing `/`) and the key.
    pub fn external_witnesses(&self) -> Result<Vec<(String, WitnessVerifier)>, ConfigError> {
        if self.external_witnesses.len() > MAX_EXTERNAL_WITNESSES {
            return Err(ConfigError::OutOfRange {
                field: "external_witnesses",
                value: self.external_witnesses.len() as u64,
                min: 0,
                max: MAX_EXTERNAL_WITNESSES as u64,
            });
        }
        let mut out: Vec<(String, WitnessVerifier)> = Vec::new();
        for w in &self.external_witnesses {
            let bad = |why: String| ConfigError::ExternalWitness {
                url: w.url.clone(),
                why,
            };
            let rest = w.url.strip_prefix("http://").ok_or_else(|| {
                bad("the URL must start with http:// (the client has no TLS)".into())
            })?;
            if rest.is_empty()
                || w.url.len() > MAX_WITNESS_URL_LEN
                || w.url.contains(char::is_whitespace)
            {
                return Err(bad(format!(
                    "the URL must name a host and be at most {MAX_WITNESS_URL_LEN} bytes without spaces"
                )));
            }
            let key = WitnessVerifier::parse(&w.key).map_err(|e| bad(format!("key: {e}")))?;
            if out
                .iter()
                .any(|(_, k)| k.key_id() == key.key_id() && k.name() == key.name())
            {
                return Err(bad("the same witness key is listed twice".into()));
            }
            out.push((w.url.trim_end_matches('/').to_owned(), key));
        }
        Ok(out)
    }

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

    /// The documented TOML file for this configuration: every option with what it does, its
    /// default and when to change it. Parsing it gives back `self`.
    pub fn to_toml(&self) -> String {
        let listen = self
            .listen
            .iter()
            .map(|a| toml_string(&a.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            r#"# Herald gateway node configuration, written by `herald-node init`.
# Every option can be overridden at `herald-node run` by a flag or a HERALD_* environment
# variable (see `herald-node run --help`). Unknown keys are an error.

# The mail domain this gateway serves. The log's origin and signing key name is
# "<domain>/herald". Fixed at init: the keys carry this name.
domain = {domain}

# Directory with the keys (keys/), the log database (log/) and node.json, which a running node
# writes with its bound addresses. Move it only with the node stopped.
data_dir = {data_dir}

# The log's hash: "sha256" (default, as C2SP tiles and witnesses expect) or "blake3". Fixed at init; the node
# refuses to start if this differs from the log's recorded hash.
hash = {hash}

# libp2p listen addresses, TCP and QUIC (default port {p2p_port}). Use 0.0.0.0 (or ::) to serve
# other hosts, 127.0.0.1 for a local test; port 0 lets the OS choose (see node.json).
listen = [{listen}]

# The HTTP listener for /metrics (Prometheus), /health, /status and the admin API (bearer
# token). Default 127.0.0.1:{http_port}. A non-loopback address is refused unless
# http_listen_public is true.
http_listen = {http_listen}

# Allow a non-loopback http_listen (default false). The admin API's bearer token then travels in
# clear HTTP on that interface, and the node logs a warning at every start: set it only behind a
# firewall or a TLS-terminating proxy.
http_listen_public = {http_listen_public}

# Milliseconds between sequencing rounds (default {interval}). A submitter waits up to this long
# for its entry to be durable; lower it for latency, raise it to sign fewer checkpoints.
sequence_interval_ms = {sequence_interval_ms}

# Waiting entries that start a round before the interval ends (default {batch}). Larger batches
# amortise the flush; at most pool_max.
batch_max = {batch_max}

# Capacity of the submission pool (default {pool}). When full, clients are told "busy, retry
# after"; raise it only if bursts are larger than the disk can absorb in one interval.
pool_max = {pool_max}

# Client requests being worked on at once (default {inflight}); more are answered "busy".
max_inflight_requests = {max_inflight_requests}

# Established inbound libp2p connections at once (default {incoming}); more are refused at the
# handshake. Outbound connections to registered peers do not count, so a flood of inbound
# connections cannot cut this gateway off from its witnesses.
max_incoming_connections = {max_incoming_connections}

# Established connections with any one peer at once, both directions (default {per_peer}).
max_connections_per_peer = {max_connections_per_peer}

# Milliseconds one request-response exchange may take before it is abandoned (default {timeout}).
request_timeout_ms = {request_timeout_ms}

# Inbound connections from one IP address still in their handshake at once (default
# {pending_per_ip}); more from that address are refused at once, so one source holding idle
# sockets cannot take every handshake slot from clients and peers elsewhere.
max_pending_per_ip = {max_pending_per_ip}

# Milliseconds a new connection has to finish its handshake, noise and yamux (default
# {handshake}); a connection that has not is closed, so idle sockets free their slot quickly.
handshake_timeout_ms = {handshake_timeout_ms}

# Entries one client peer (libp2p peer id) may submit per second, sustained; 0 for no limit
# (default {submit_rate}). Beyond its limits a client is answered "rate limited, retry after".
# The pool (pool_max) still bounds every peer together.
peer_submit_rate = {peer_submit_rate}

# Entries one client peer may submit at once above its rate (default {submit_burst}); a batch
# larger than this is charged this much.
peer_submit_burst = {peer_submit_burst}

# Bytes of entries one client peer may submit per second, sustained; 0 for no limit (default
# {submit_bytes_rate}).
peer_submit_bytes_rate = {peer_submit_bytes_rate}

# Bytes of entries one client peer may submit at once above its rate (default
# {submit_bytes_burst}, at least one largest entry).
peer_submit_bytes_burst = {peer_submit_bytes_burst}

# Log filter when RUST_LOG is not set: error, warn, info (default), debug, trace, or
# per-crate directives such as "info,herald_node=debug".
log_level = {log_level}

# How many registered peers' witnesses must cosign a checkpoint of this log before it is stored
# and served as "cosigned" (default {quorum}, at most the number of peers). Clients apply their
# own witness policy; this only decides what the gateway stores, gossips and serves.
quorum = {quorum_value}

# Least milliseconds between two cross-logged checkpoints of one peer (default {crosslog}).
# Each gateway appends its peers' cosigned checkpoints to its own log; the interval keeps that
# from ping-ponging (my entry makes a checkpoint you log, which makes one I log, ...).
crosslog_interval_ms = {crosslog_interval_ms}

# Free space on the data directory's file system, in MiB. Below disk_warn_free_mib (default
# {disk_warn}) /health reports the node "degraded"; below disk_min_free_mib (default {disk_min})
# every new submission is answered BUSY and /health reports "unhealthy", until space is freed:
# the log then never meets a full disk in the middle of a round (which stops the node). Keep the
# minimum above what a few rounds write (batch_max entries of up to 64 KiB each at most). 0 turns
# either off. The herald_disk_* metrics show the free bytes and the state.
disk_warn_free_mib = {disk_warn_free_mib}
# At most disk_warn_free_mib (unless that is 0).
disk_min_free_mib = {disk_min_free_mib}

# KiB per second of sealed records (entries, hash tiles, leaf-hash buckets) that the background
# scrub reads and verifies against their checksums (default {scrub}; 0: no scrub). It starts at
# the first record at every start, makes at most one pass a minute, and reports a damaged record
# in /health ("degraded", the record named) and in the herald_scrub_* metrics.
scrub_kib_per_second = {scrub_kib_per_second}

# Seconds a login session lives (default {session_lifetime}, 60 to 604800). After it the
# client logs in again; a restart of the node also ends every session (they are kept in memory).
session_lifetime_secs = {session_lifetime_secs}

# Live login sessions at once (default {max_sessions}); a login beyond it is answered "busy".
max_sessions = {max_sessions_value}

# Prekey bundles one registered peer gateway may ask for per minute on behalf of all its
# senders (default {relay_bundles}, 1 to 10000000); each sender is limited at its own gateway.
relay_prekey_bundles_per_minute = {relay_bundles_value}

# Mail (DESIGN §3.2): seconds a mail is tried before the gateway gives up and records it as not
# delivered (default {mail_expiry}); also the latest expiry a sender may ask for.
mail_expiry_secs = {mail_expiry_secs}
# First delay before a failed relay to a peer is retried, ms (default {retry_min}); doubled per
# attempt up to relay_retry_max_ms.
relay_retry_min_ms = {relay_retry_min_ms}
# Longest delay between two relay attempts, ms (default {retry_max}).
relay_retry_max_ms = {relay_retry_max_ms}
# KiB of mail one mailbox holds at most (default {quota}); a relay beyond it is refused.
mailbox_quota_kib = {mailbox_quota_kib}
# Seconds a mail nobody acknowledged stays in a mailbox (default {retention}); at least
# mail_expiry_secs, so a relay replayed after it is refused as expired. A sender's delivery
# records (what its outbox lists) are kept as long.
mailbox_retention_secs = {mailbox_retention_secs}

# Argon2id costs offered to clients for their passwords (default {pw_memory} KiB, {pw_iterations}
# passes, {pw_parallelism} lanes: RFC 9106's second recommendation), and the least memory and
# passes a password record sent at registration or a password change may have. Unknown accounts
# are offered the same, so set what your accounts use; raising them applies to new passwords.
password_memory_kib = {password_memory_kib}
# Argon2id passes offered for passwords (see password_memory_kib).
password_iterations = {password_iterations}
# Argon2id lanes offered for passwords (see password_memory_kib).
password_parallelism = {password_parallelism}

# Test-only admin calls (POST /admin/test/fork makes this log sign a conflicting checkpoint
# with its real key). Leave false (default) on every real gateway.
test_hooks = {test_hooks}
# Test-only, with test_hooks: refuse relay_mails requests as a gateway that predates them.
test_refuse_relay_batches = {test_refuse_relay_batches}
# Test-only, with test_hooks: refuse next_mails session requests as a gateway that predates them.
test_refuse_next_mails = {test_refuse_next_mails}

# Peer domains this gateway trusts: it witnesses their logs, they witness this one, and only
# they may call the witness protocol. Entries here are registered (again) at every start;
# `herald-node peer add|remove|list` (or the admin API) change the registry at run time.
# Each entry: domain, log_key, witness_key, hash ("sha256" default or "blake3"), peer_id and
# addrs (TCP or QUIC multiaddrs). [[peers]] tables work as well as this inline form.
peers = [{peers}]

# Other C2SP logs this node witnesses, not peer domains: each entry's key (a C2SP signed-note
# verifier key, whose name is the log's origin) and hash ("sha256", C2SP's and the default, or
# "blake3"). Such a log (or anyone holding its checkpoints) asks with POST /add-checkpoint.
witnessed_logs = [{witnessed_logs}]

# External C2SP witnesses this log asks for cosignatures over HTTP (POST <url>/add-checkpoint):
# each entry's url (http:// only) and key (the witness's signed-note verifier key). Their
# cosignatures count toward quorum beside the registered peers'.
external_witnesses = [{external_witnesses}]
{policy}"#,
            domain = toml_string(&self.domain),
            data_dir = toml_string(&self.data_dir.to_string_lossy()),
            hash = toml_string(self.hash.as_str()),
            p2p_port = DEFAULT_P2P_PORT,
            listen = listen,
            http_port = DEFAULT_HTTP_PORT,
            http_listen = toml_string(&self.http_listen.to_string()),
            http_listen_public = self.http_listen_public,
            interval = DEFAULT_SEQUENCE_INTERVAL_MS,
            sequence_interval_ms = self.sequence_interval_ms,
            batch = DEFAULT_BATCH_MAX,
            batch_max = self.batch_max,
            pool = DEFAULT_POOL_MAX,
            pool_max = self.pool_max,
            inflight = DEFAULT_MAX_INFLIGHT_REQUESTS,
            max_inflight_requests = self.max_inflight_requests,
            incoming = DEFAULT_MAX_INCOMING_CONNECTIONS,
            max_incoming_connections = self.max_incoming_connections,
            per_peer = DEFAULT_MAX_CONNECTIONS_PER_PEER,
            max_connections_per_peer = self.max_connections_per_peer,
            timeout = DEFAULT_REQUEST_TIMEOUT_MS,
            request_timeout_ms = self.request_timeout_ms,
            pending_per_ip = DEFAULT_MAX_PENDING_PER_IP,
            max_pending_per_ip = self.max_pending_per_ip,
            handshake = DEFAULT_HANDSHAKE_TIMEOUT_MS,
            handshake_timeout_ms = self.handshake_timeout_ms,
            submit_rate = DEFAULT_PEER_SUBMIT_RATE,
            peer_submit_rate = self.peer_submit_rate,
            submit_burst = DEFAULT_PEER_SUBMIT_BURST,
            peer_submit_burst = self.peer_submit_burst,
            submit_bytes_rate = DEFAULT_PEER_SUBMIT_BYTES_RATE,
            peer_submit_bytes_rate = self.peer_submit_bytes_rate,
            submit_bytes_burst = DEFAULT_PEER_SUBMIT_BYTES_BURST,
            peer_submit_bytes_burst = self.peer_submit_bytes_burst,
            log_level = toml_string(&self.log_level),
            quorum = DEFAULT_QUORUM,
            quorum_value = self.quorum,
            crosslog = DEFAULT_CROSSLOG_INTERVAL_MS,
            crosslog_interval_ms = self.crosslog_interval_ms,
            disk_warn = DEFAULT_DISK_WARN_FREE_MIB,
            disk_warn_free_mib = self.disk_warn_free_mib,
            disk_min = DEFAULT_DISK_MIN_FREE_MIB,
            disk_min_free_mib = self.disk_min_free_mib,
            scrub = DEFAULT_SCRUB_KIB_PER_SECOND,
            scrub_kib_per_second = self.scrub_kib_per_second,
            session_lifetime = DEFAULT_SESSION_LIFETIME_SECS,
            session_lifetime_secs = self.session_lifetime_secs,
            max_sessions = DEFAULT_MAX_SESSIONS,
            max_sessions_value = self.max_sessions,
            relay_bundles = DEFAULT_RELAY_PREKEY_BUNDLES_PER_MINUTE,
            relay_bundles_value = self.relay_prekey_bundles_per_minute,
            mail_expiry = DEFAULT_MAIL_EXPIRY_SECS,
            mail_expiry_secs = self.mail_expiry_secs,
            retry_min = DEFAULT_RELAY_RETRY_MIN_MS,
            relay_retry_min_ms = self.relay_retry_min_ms,
            retry_max = DEFAULT_RELAY_RETRY_MAX_MS,
            relay_retry_max_ms = self.relay_retry_max_ms,
            quota = DEFAULT_MAILBOX_QUOTA_KIB,
            mailbox_quota_kib = self.mailbox_quota_kib,
            retention = DEFAULT_MAILBOX_RETENTION_SECS,
            mailbox_retention_secs = self.mailbox_retention_secs,
            pw_memory = default_password_memory_kib(),
            pw_iterations = default_password_iterations(),
            pw_parallelism = default_password_parallelism(),
            password_memory_kib = self.password_memory_kib,
            password_iterations = self.password_iterations,
            password_parallelism = self.password_parallelism,
            test_hooks = self.test_hooks,
            test_refuse_relay_batches = self.test_refuse_relay_batches,
            test_refuse_next_mails = self.test_refuse_next_mails,
            peers = tables_toml(&self.peers),
            witnessed_logs = tables_toml(&self.witnessed_logs),
            external_witnesses = tables_toml(&self.external_witnesses),
            policy = self.policy.to_toml_section(),
        )
    }
}

/// The peers as lines of inline tables inside `peers = [...]`.
/// `items` as the inside of a TOML array of inline tables.
fn tables_toml<T: Serialize>(items: &[T]) -> String {
    let mut out = String::new();
    for p in items {
        // Invariant: a record of strings always converts to a TOML table.
        let table = toml::Value::try_from(p).expect("a record of strings is a TOML table");
        out.push_str("\n  ");
        out.push_str(&table.to_string());
        out.push(',');
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// A TOML basic string with every character escaped as TOML requires.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

fn loopback(p: Protocol<'static>) -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4(Ipv4Addr::LOCALHOST))
        .with(p)
}

fn default_witnessed_hash() -> HashAlgorithm {
    HashAlgorithm::Sha256
}

fn default_hash() -> HashAlgorithm {
    HashAlgorithm::DEFAULT
}

fn default_listen() -> Vec<Multiaddr> {
    let any = |p: Protocol<'static>| {
        Multiaddr::empty()
            .with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED))
            .with(p)
    };
    vec![
        any(Protocol::Tcp(DEFAULT_P2P_PORT)),
        any(Protocol::Udp(DEFAULT_P2P_PORT)).with(Protocol::QuicV1),
    ]
}

fn default_http_listen() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_HTTP_PORT))
}

fn default_sequence_interval_ms() -> u64 {
    DEFAULT_SEQUENCE_INTERVAL_MS
}

fn default_batch_max() -> usize {
    DEFAULT_BATCH_MAX
}

fn default_pool_max() -> usize {
    DEFAULT_POOL_MAX
}

fn default_max_inflight_requests() -> usize {
    DEFAULT_MAX_INFLIGHT_REQUESTS
}

fn default_max_incoming_connections() -> u32 {
    DEFAULT_MAX_INCOMING_CONNECTIONS
}

fn default_max_connections_per_peer() -> u32 {
    DEFAULT_MAX_CONNECTIONS_PER_PEER
}

fn default_request_timeout_ms() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_MS
}

fn default_max_pending_per_ip() -> u32 {
    DEFAULT_MAX_PENDING_PER_IP
}

fn default_handshake_timeout_ms() -> u64 {
    DEFAULT_HANDSHAKE_TIMEOUT_MS
}

fn default_peer_submit_rate() -> u64 {
    DEFAULT_PEER_SUBMIT_RATE
}

fn default_peer_submit_burst() -> u64 {
    DEFAULT_PEER_SUBMIT_BURST
}

fn default_peer_submit_bytes_rate() -> u64 {
    DEFAULT_PEER_SUBMIT_BYTES_RATE
}

fn default_peer_submit_bytes_burst() -> u64 {
    DEFAULT_PEER_SUBMIT_BYTES_BURST
}

fn default_log_level() -> String {
    "info".to_owned()
}

fn default_quorum() -> usize {
    DEFAULT_QUORUM
}

fn default_session_lifetime_secs() -> u64 {
    DEFAULT_SESSION_LIFETIME_SECS
}

fn default_max_sessions() -> usize {
    DEFAULT_MAX_SESSIONS
}

fn default_relay_prekey_bundles_per_minute() -> u32 {
    DEFAULT_RELAY_PREKEY_BUNDLES_PER_MINUTE
}

fn default_mail_expiry_secs() -> u64 {
    DEFAULT_MAIL_EXPIRY_SECS
}

fn default_relay_retry_min_ms() -> u64 {
    DEFAULT_RELAY_RETRY_MIN_MS
}

fn default_relay_retry_max_ms() -> u64 {
    DEFAULT_RELAY_RETRY_MAX_MS
}

fn default_mailbox_quota_kib() -> u64 {
    DEFAULT_MAILBOX_QUOTA_KIB
}

fn default_mailbox_retention_secs() -> u64 {
    DEFAULT_MAILBOX_RETENTION_SECS
}

fn default_password_memory_kib() -> u32 {
    herald_proto::paep::Argon2Params::RECOMMENDED.memory_kib()
}

fn default_password_iterations() -> u32 {
    herald_proto::paep::Argon2Params::RECOMMENDED.iterations()
}

fn default_password_parallelism() -> u32 {
    herald_proto::paep::Argon2Params::RECOMMENDED.parallelism()
}

fn default_crosslog_interval_ms() -> u64 {
    DEFAULT_CROSSLOG_INTERVAL_MS
}

fn default_disk_warn_free_mib() -> u64 {
    DEFAULT_DISK_WARN_FREE_MIB
}

fn default_disk_min_free_mib() -> u64 {
    DEFAULT_DISK_MIN_FREE_MIB
}

fn default_scrub_kib_per_second() -> u64 {
    DEFAULT_SCRUB_KIB_PER_SECOND
}

/// `HashAlgorithm` as its name ("blake3", "sha256"); the proto crate has no serde.
mod hash_serde {
    use super::HashAlgorithm;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(h: &HashAlgorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(h.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HashAlgorithm, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| D::Error::custom(format!("unknown hash {name:?}: use blake3 or sha256")))
    }
}

/// Multiaddrs as their text form.
mod multiaddrs_serde {
    use libp2p::Multiaddr;
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    pub(super) fn serialize<S: Serializer>(addrs: &[Multiaddr], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(addrs.len()))?;
        for a in addrs {
            seq.serialize_element(&a.to_string())?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Multiaddr>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| D::Error::custom(format!("bad multiaddr {s:?}: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_back_to_the_same_config() {
        let mut config = NodeConfig::for_loopback_test("alpha.test", "/tmp/herald \"quoted\"\\dir");
        config.hash = HashAlgorithm::Sha256;
        config.batch_max = 17;
        config.log_level = "info,herald_node=debug".into();
        config.quorum = 2;
        config.disk_warn_free_mib = 9;
        config.disk_min_free_mib = 3;
        config.scrub_kib_per_second = 0;
        config.test_hooks = true;
        config.test_refuse_relay_batches = true;
        config.test_refuse_next_mails = true;
        config.peers = vec![
            crate::peers::tests::record("beta.test", 10, 4000),
            crate::peers::tests::record("gamma.test", 20, 4001),
        ];
        let text = config.to_toml();
        assert_eq!(NodeConfig::from_toml_str(&text).unwrap(), config);
    }

    #[test]
    fn the_refusal_hooks_are_honoured_only_with_test_hooks() {
        let mut config = NodeConfig::for_loopback_test("alpha.test", "/tmp/herald");
        config.test_refuse_relay_batches = true;
        config.test_refuse_next_mails = true;
        config.test_hooks = false;
        let settings = config.mail_settings();
        assert!(!settings.refuse_relay_batches && !settings.refuse_next_mails);
        config.test_hooks = true;
        let settings = config.mail_settings();
        assert!(settings.refuse_relay_batches && settings.refuse_next_mails);
        config.test_refuse_next_mails = false;
        assert!(!config.mail_settings().refuse_next_mails);
    }

    #[test]
    fn the_template_documents_every_field() {
        // Every key of the serialized struct is written, each under a comment.
        let config = NodeConfig::new("alpha.test", "/var/lib/herald");
        let text = config.to_toml();
        let table: toml::Table = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
        for key in table.keys() {
            // A table (`[policy]`) is written as its header.
            let line = text
                .lines()
                .position(|l| l.starts_with(&format!("{key} = ")) || l == format!("[{key}]"))
                .unwrap_or_else(|| panic!("{key} missing from the template"));
            assert!(
                text.lines().nth(line - 1).unwrap().starts_with('#'),
                "{key} has no comment"
            );
        }
    }

    /// F11 of the reliability review: `http_listen = 0.0.0.0:…` was accepted silently, and the
    /// admin token then travelled in clear on every interface.
    #[test]
    fn attack_a_public_http_listener_is_refused_unless_explicitly_allowed() {
        let mut config = NodeConfig::new("alpha.test", "/d");
        for public in ["0.0.0.0:4711", "192.0.2.1:4711", "[::]:4711"] {
            config.http_listen = public.parse().unwrap();
            config.http_listen_public = false;
            assert!(
                matches!(config.validate(), Err(ConfigError::PublicHttp(_))),
                "{public}"
            );
            assert!(
                config
                    .validate()
                    .unwrap_err()
                    .to_string()
                    .contains("in clear")
            );
            config.http_listen_public = true;
            assert!(config.validate().is_ok(), "{public}");
            let warning = config.http_exposure_warning().expect("a warning");
            assert!(warning.contains("bearer token"), "{warning}");
        }
        for loopback in ["127.0.0.1:4711", "[::1]:4711", "127.0.0.2:0"] {
            config.http_listen = loopback.parse().unwrap();
            config.http_listen_public = false;
            assert!(config.validate().is_ok(), "{loopback}");
            assert_eq!(config.http_exposure_warning(), None);
        }
        // The file says so too.
        let text = "domain = \"a.test\"\ndata_dir = \"/d\"\nhttp_listen = \"0.0.0.0:1\"\n";
        assert!(NodeConfig::from_toml_str(text).is_err());
        let allowed = format!("{text}http_listen_public = true\n");
        assert!(
            NodeConfig::from_toml_str(&allowed)
                .unwrap()
                .http_listen_public
        );
    }

    #[test]
    fn a_minimal_file_takes_the_defaults() {
        let config = NodeConfig::from_toml_str("domain = \"a.test\"\ndata_dir = \"/d\"\n").unwrap();
        assert_eq!(config, NodeConfig::new("a.test", "/d"));
        assert_eq!(config.origin(), "a.test/herald");
    }

    #[test]
    fn peers_may_be_written_as_tables_and_are_checked() {
        let beta = crate::peers::tests::record("beta.test", 10, 4000);
        let text = format!(
            "domain = \"a.test\"\ndata_dir = \"/d\"\nquorum = 1\n\n[[peers]]\ndomain = \"beta.test\"\n\
             log_key = \"{}\"\nwitness_key = \"{}\"\npeer_id = \"{}\"\naddrs = [\"{}\"]\n",
            beta.log_key, beta.witness_key, beta.peer_id, beta.addrs[0]
        );
        let config = NodeConfig::from_toml_str(&text).unwrap();
        assert_eq!(config.peers, vec![beta.clone()]);
        assert_eq!(
            config.peer_domains().unwrap()[0].origin(),
            "beta.test/herald"
        );
        // A misspelt field of a peer is refused like any other.
        let typo = text.replace("peer_id =", "peerid =");
        assert!(NodeConfig::from_toml_str(&typo).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = NodeConfig::from_toml_str("domain = \"a.test\"\ndata_dir = \"/d\"\nbatch = 3\n")
            .unwrap_err();
        assert!(err.to_string().contains("batch"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_their_field() {
        let base = NodeConfig::new("a.test", "/d");
        let cases: Vec<(NodeConfig, &str)> = vec![
            (
                NodeConfig {
                    domain: String::new(),
                    ..base.clone()
                },
                "domain",
            ),
            (
                NodeConfig {
                    domain: "a b".into(),
                    ..base.clone()
                },
                "domain",
            ),
            (
                NodeConfig {
                    listen: vec![],
                    ..base.clone()
                },
                "listen",
            ),
            (
                NodeConfig {
                    listen: vec!["/ip4/1.2.3.4/udp/5".parse().unwrap()],
                    ..base.clone()
                },
                "/udp/5",
            ),
            (
                NodeConfig {
                    sequence_interval_ms: 0,
                    ..base.clone()
                },
                "sequence_interval_ms",
            ),
            (
                NodeConfig {
                    batch_max: base.pool_max + 1,
                    ..base.clone()
                },
                "batch_max",
            ),
            (
                NodeConfig {
                    quorum: 0,
                    ..base.clone()
                },
                "quorum",
            ),
            (
                NodeConfig {
                    disk_warn_free_mib: 10,
                    disk_min_free_mib: 20,
                    ..base.clone()
                },
                "disk_min_free_mib",
            ),
            (
                NodeConfig {
                    scrub_kib_per_second: u64::MAX,
                    ..base.clone()
                },
                "scrub_kib_per_second",
            ),
            (
                NodeConfig {
                    peers: vec![crate::peers::tests::record("a.test", 10, 1)],
                    ..base.clone()
                },
                "a.test",
            ),
            (
                NodeConfig {
                    peers: vec![crate::peers::tests::record("b.test", 10, 1); 2],
                    ..base.clone()
                },
                "b.test",
            ),
        ];
        for (config, word) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(word), "{err:?} does not name {word}");
        }
        assert!(base.validate().is_ok());
    }

    #[test]
    fn a_bad_hash_or_multiaddr_is_a_parse_error() {
        for text in [
            "domain = \"a.test\"\ndata_dir = \"/d\"\nhash = \"md5\"\n",
            "domain = \"a.test\"\ndata_dir = \"/d\"\nlisten = [\"tcp:4710\"]\n",
        ] {
            assert!(matches!(
                NodeConfig::from_toml_str(text),
                Err(ConfigError::Toml(_))
            ));
        }
    }

    #[test]
    fn witnessed_logs_are_checked_keys_each_origin_once() {
        let base = NodeConfig::new("me.test", "/tmp/x");
        let peer = crate::peers::tests::record("peer.test", 10, 1);
        let key = |domain: &str, seed: u8| crate::peers::tests::record(domain, seed, 1).log_key;
        let entry = |key: String| WitnessedLog {
            key,
            hash: HashAlgorithm::Sha256,
        };
        let ok = NodeConfig {
            peers: vec![peer.clone()],
            witnessed_logs: vec![entry(key("a.example", 20)), entry(key("b.example", 30))],
            ..base.clone()
        };
        ok.validate().unwrap();
        let origins: Vec<String> = (ok.witnessed_logs().unwrap().iter())
            .map(|l| l.origin().to_owned())
            .collect();
        assert_eq!(origins, ["a.example/herald", "b.example/herald"]);
        let refused = [
            vec![entry("not a key".into())],
            vec![entry(key("a.example", 20)), entry(key("a.example", 40))],
            vec![entry(key("me.test", 50))],
            vec![entry(peer.log_key.clone())],
        ];
        for logs in refused {
            let config = NodeConfig {
                peers: vec![peer.clone()],
                witnessed_logs: logs.clone(),
                ..base.clone()
            };
            assert!(
                matches!(
                    config.validate(),
                    Err(ConfigError::WitnessedLog { .. } | ConfigError::DuplicateWitnessedLog(_))
                ),
                "{logs:?}"
            );
        }
        // External witnesses: http:// URLs and keys that parse, each key once.
        let witness_key = |seed: u8| crate::peers::tests::record("w.example", seed, 1).witness_key;
        let external = |url: &str, key: String| ExternalWitness {
            url: url.into(),
            key,
        };
        let ok = NodeConfig {
            external_witnesses: vec![external("http://127.0.0.1:9/w/", witness_key(70))],
            ..base.clone()
        };
        assert_eq!(
            ok.external_witnesses().unwrap()[0].0,
            "http://127.0.0.1:9/w",
            "the trailing slash is dropped"
        );
        for bad in [
            vec![external("https://w.example", witness_key(70))],
            vec![external("http://", witness_key(70))],
            vec![external("http://w.example", "not a key".into())],
            vec![
                external("http://a.example", witness_key(70)),
                external("http://b.example", witness_key(70)),
            ],
        ] {
            let config = NodeConfig {
                external_witnesses: bad.clone(),
                ..base.clone()
            };
            assert!(
                matches!(config.validate(), Err(ConfigError::ExternalWitness { .. })),
                "{bad:?}"
            );
        }
        // From TOML: the hash defaults to C2SP's SHA-256.
        let text = format!(
            "domain = \"me.test\"\ndata_dir = \"/tmp/x\"\n[[witnessed_logs]]\nkey = \"{}\"\n",
            key("c.example", 60)
        );
        let config = NodeConfig::from_toml_str(&text).unwrap();
        assert_eq!(config.witnessed_logs[0].hash, HashAlgorithm::Sha256);
    }
}
