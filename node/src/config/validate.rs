//! Parsing a configuration file and checking a [`NodeConfig`]: every field's range and every
//! table (`[[peers]]`, `[[witnessed_logs]]`, `[[external_witnesses]]`, `[policy]`).

use herald_proto::checkpoint::WitnessVerifier;
use herald_proto::inclusion::LogTrust;
use herald_proto::wire::MAX_LOG_ENTRY_BYTES;

use super::{
    ConfigError, MAX_EXTERNAL_WITNESSES, MAX_WITNESS_URL_LEN, MAX_WITNESSED_LOGS, NodeConfig,
};
use crate::peers::{PeerDomain, is_tcp_or_quic, valid_domain};

/// Largest pool: 2^24 entries of up to 64 KiB would already be a gigabyte per thousand.
const MAX_POOL: usize = 1 << 24;
/// Largest disk threshold: 1 PiB in MiB (and far from overflowing bytes).
const MAX_DISK_MIB: u64 = 1 << 30;
/// Fastest scrub: 1 GiB/s.
const MAX_SCRUB_KIB_PER_SECOND: u64 = 1 << 20;

impl NodeConfig {
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
