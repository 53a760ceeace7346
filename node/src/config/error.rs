//! Why a configuration is not usable: [`ConfigError`].

use std::net::SocketAddr;

use libp2p::Multiaddr;

use crate::peers::PeerError;

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
