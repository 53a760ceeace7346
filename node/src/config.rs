//! The node's typed configuration, its defaults, and the documented TOML file `init` writes.
//!
//! The library takes a [`NodeConfig`] and never reads files or the environment itself: the
//! `herald-node` binary reads the TOML file, then lets `HERALD_*` variables and flags override it
//! ([`crate::cli`]). Unknown keys are refused (`deny_unknown_fields`), so a misspelt option fails at
//! start instead of being silently ignored.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::is_valid_key_name;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use serde::{Deserialize, Serialize};

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
/// Default time a request-response exchange may take.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;

/// Longest domain name (RFC 1035).
const MAX_DOMAIN_LEN: usize = 253;
/// Largest pool: 2^24 entries of up to 64 KiB would already be a gigabyte per thousand.
const MAX_POOL: usize = 1 << 24;

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
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
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
    /// Milliseconds a request-response exchange may take.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// `tracing` filter used when `RUST_LOG` is not set (e.g. `info`, `herald_node=debug`).
    #[serde(default = "default_log_level")]
    pub log_level: String,
}

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
            sequence_interval_ms: DEFAULT_SEQUENCE_INTERVAL_MS,
            batch_max: DEFAULT_BATCH_MAX,
            pool_max: DEFAULT_POOL_MAX,
            max_inflight_requests: DEFAULT_MAX_INFLIGHT_REQUESTS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            log_level: default_log_level(),
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
        let origin_ok = is_valid_key_name(&self.origin());
        if self.domain.is_empty()
            || self.domain.len() > MAX_DOMAIN_LEN
            || self.domain.contains('/')
            || !origin_ok
        {
            return Err(ConfigError::BadDomain(self.domain.clone()));
        }
        if self.listen.is_empty() {
            return Err(ConfigError::NoListenAddress);
        }
        if let Some(bad) = self.listen.iter().find(|a| !is_tcp_or_quic(a)) {
            return Err(ConfigError::BadListenAddress(bad.clone()));
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
        range("request_timeout_ms", self.request_timeout_ms, 100, 600_000)?;
        if self.batch_max > self.pool_max {
            return Err(ConfigError::BatchOverPool {
                batch_max: self.batch_max,
                pool_max: self.pool_max,
            });
        }
        Ok(())
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

# The log's hash: "blake3" (default) or "sha256" (C2SP-compatible). Fixed at init; the node
# refuses to start if this differs from the log's recorded hash.
hash = {hash}

# libp2p listen addresses, TCP and QUIC (default port {p2p_port}). Use 0.0.0.0 (or ::) to serve
# other hosts, 127.0.0.1 for a local test; port 0 lets the OS choose (see node.json).
listen = [{listen}]

# The HTTP listener for /metrics (Prometheus), /health and /status. Default 127.0.0.1:{http_port}.
# Keep it on loopback unless a firewall protects it: /status is public information, but nothing
# here needs to face the internet.
http_listen = {http_listen}

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

# Milliseconds one request-response exchange may take before it is abandoned (default {timeout}).
request_timeout_ms = {request_timeout_ms}

# Log filter when RUST_LOG is not set: error, warn, info (default), debug, trace, or
# per-crate directives such as "info,herald_node=debug".
log_level = {log_level}
"#,
            domain = toml_string(&self.domain),
            data_dir = toml_string(&self.data_dir.to_string_lossy()),
            hash = toml_string(self.hash.as_str()),
            p2p_port = DEFAULT_P2P_PORT,
            listen = listen,
            http_port = DEFAULT_HTTP_PORT,
            http_listen = toml_string(&self.http_listen.to_string()),
            interval = DEFAULT_SEQUENCE_INTERVAL_MS,
            sequence_interval_ms = self.sequence_interval_ms,
            batch = DEFAULT_BATCH_MAX,
            batch_max = self.batch_max,
            pool = DEFAULT_POOL_MAX,
            pool_max = self.pool_max,
            inflight = DEFAULT_MAX_INFLIGHT_REQUESTS,
            max_inflight_requests = self.max_inflight_requests,
            timeout = DEFAULT_REQUEST_TIMEOUT_MS,
            request_timeout_ms = self.request_timeout_ms,
            log_level = toml_string(&self.log_level),
        )
    }
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

/// `/ip4|ip6|dns*/<host>/tcp/<port>` or `/ip4|ip6|dns*/<host>/udp/<port>/quic-v1`, nothing more.
fn is_tcp_or_quic(addr: &Multiaddr) -> bool {
    let parts: Vec<Protocol<'_>> = addr.iter().collect();
    let ip = |p: &Protocol<'_>| matches!(p, Protocol::Ip4(_) | Protocol::Ip6(_));
    match parts.as_slice() {
        [host, Protocol::Tcp(_)] => ip(host),
        [host, Protocol::Udp(_), Protocol::QuicV1] => ip(host),
        _ => false,
    }
}

fn default_hash() -> HashAlgorithm {
    HashAlgorithm::Blake3
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

fn default_request_timeout_ms() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_MS
}

fn default_log_level() -> String {
    "info".to_owned()
}

/// `HashAlgorithm` as its name ("blake3", "sha256"); the proto crate has no serde.
mod hash_serde {
    use super::HashAlgorithm;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(h: &HashAlgorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(h.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HashAlgorithm, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| D::Error::custom(format!("unknown hash {name:?}: use blake3 or sha256")))
    }
}

/// Multiaddrs as their text form.
mod multiaddrs_serde {
    use libp2p::Multiaddr;
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    pub fn serialize<S: Serializer>(addrs: &[Multiaddr], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(addrs.len()))?;
        for a in addrs {
            seq.serialize_element(&a.to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Multiaddr>, D::Error> {
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
        let text = config.to_toml();
        assert_eq!(NodeConfig::from_toml_str(&text).unwrap(), config);
    }

    #[test]
    fn the_template_documents_every_field() {
        // Every key of the serialized struct is written, each under a comment.
        let config = NodeConfig::new("alpha.test", "/var/lib/herald");
        let text = config.to_toml();
        let table: toml::Table = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
        for key in table.keys() {
            let line = text
                .lines()
                .position(|l| l.starts_with(&format!("{key} = ")))
                .unwrap_or_else(|| panic!("{key} missing from the template"));
            assert!(
                text.lines().nth(line - 1).unwrap().starts_with('#'),
                "{key} has no comment"
            );
        }
    }

    #[test]
    fn a_minimal_file_takes_the_defaults() {
        let config = NodeConfig::from_toml_str("domain = \"a.test\"\ndata_dir = \"/d\"\n").unwrap();
        assert_eq!(config, NodeConfig::new("a.test", "/d"));
        assert_eq!(config.origin(), "a.test/herald");
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
}
