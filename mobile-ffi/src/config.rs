//! The configuration an app gives [`crate::HeraldClient`], and its checking.
//!
//! Every field is bounded and validated as any other input: keys go through proto's own parser
//! of a log description (`LogTrust::from_pb`: canonical C2SP keys, a known hash, a quorum that
//! the witnesses can meet), addresses through libp2p's multiaddr parser and must name the
//! gateway's peer id, δ and MMD through proto's `Location`. A configuration that fails any of
//! it is refused whole with [`HeraldError::BadInput`] naming the field.

use std::path::PathBuf;
use std::time::Duration;

use herald_proto::certmail::Location;
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::wire::{MAX_TRUSTED_PEERS, MAX_VERIFIER_KEY_BYTES, pb};
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

use crate::error::HeraldError;

/// Longest gateway address, in bytes.
pub(crate) const MAX_ADDRESS_BYTES: usize = 1024;
/// Longest state directory path, in bytes.
pub(crate) const MAX_PATH_BYTES: usize = 4096;
/// Longest timeout an app may set (connect, request, waits), in seconds.
pub(crate) const MAX_TIMEOUT_SECS: u64 = 3600;

/// How a log hashes its Merkle tree (fixed when the log was created).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum LogHash {
    /// SHA-256 (the default for new logs).
    Sha256,
    /// BLAKE3.
    Blake3,
}

impl From<LogHash> for HashAlgorithm {
    fn from(h: LogHash) -> Self {
        match h {
            LogHash::Sha256 => HashAlgorithm::Sha256,
            LogHash::Blake3 => HashAlgorithm::Blake3,
        }
    }
}

impl From<HashAlgorithm> for LogHash {
    fn from(h: HashAlgorithm) -> Self {
        match h {
            HashAlgorithm::Sha256 => LogHash::Sha256,
            HashAlgorithm::Blake3 => LogHash::Blake3,
        }
    }
}

/// One domain's log as the app trusts it, and where to reach its gateway.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct LogConfig {
    /// The log's C2SP verifier key, `<domain>/herald+<key id>+<base64>`; its name is the origin.
    pub log_key: String,
    /// The log's hash.
    pub hash: LogHash,
    /// The witnesses whose cosignatures count (C2SP verifier keys), at most 32.
    pub witness_keys: Vec<String>,
    /// How many of them must cosign a checkpoint (1 to the number of witnesses).
    pub quorum: u32,
    /// The gateway serving this log: a multiaddr ending in `/p2p/<peer id>`. Needed for the
    /// calls that ask this log (checkpoints, bindings of its accounts, certified mail at it).
    #[uniffi(default = None)]
    pub gateway: Option<String>,
    /// δ when this log is a certified-mail location X: the clock skew allowed for its
    /// cosignatures, seconds.
    #[uniffi(default = 60)]
    pub clock_skew_secs: u64,
    /// MMD when this log is a location X: its maximum merge delay, seconds.
    #[uniffi(default = 60)]
    pub max_merge_delay_secs: u64,
}

/// What a sender accepts in a recipient's key request (proto's `SenderPolicy` timing).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CertifiedMailPolicy {
    /// Seconds the sender allows the witnesses to cosign a publication.
    #[uniffi(default = 60)]
    pub witness_period_secs: u64,
    /// Safety margin before the recipient's deadline T, seconds.
    #[uniffi(default = 60)]
    pub margin_secs: u64,
    /// The furthest deadline accepted, seconds from now.
    #[uniffi(default = 604800)]
    pub max_wait_secs: u64,
}

/// A [`crate::HeraldClient`]'s configuration.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HeraldConfig {
    /// The account's own domain log; its gateway is the home gateway (required).
    pub home: LogConfig,
    /// Other domains' logs the app trusts (certified-mail partners, their locations).
    pub other_logs: Vec<LogConfig>,
    /// A directory the client owns: trusted checkpoints, key stores, certified-mail records.
    /// Absolute; created if missing.
    pub state_dir: String,
    /// Clock skew allowed for the cosignatures of a checkpoint this client trusts, seconds.
    #[uniffi(default = 300)]
    pub max_clock_skew_secs: u64,
    /// Bound on connecting to a gateway, milliseconds.
    #[uniffi(default = 10000)]
    pub connect_timeout_ms: u64,
    /// Bound on one request to a gateway, milliseconds.
    #[uniffi(default = 30000)]
    pub request_timeout_ms: u64,
    /// The sender's side of certified mail.
    pub certified_mail: CertifiedMailPolicy,
    /// A signature file for the built-in scanner that screens every mail sent and read, used
    /// beside its EICAR signature (as the CLI's `--signatures FILE`: one `name:hex` signature a
    /// line, `herald_proto::scan`). Absolute; read at each screening, so an update applies to
    /// the next mail. `None`: EICAR only.
    #[uniffi(default = None)]
    pub signature_file: Option<String>,
}

/// A log from the configuration, checked.
#[derive(Clone, Debug)]
pub(crate) struct ConfiguredLog {
    pub(crate) trust: LogTrust,
    pub(crate) gateway: Option<Multiaddr>,
    /// The log as a certified-mail location (its δ and MMD).
    pub(crate) location: Location,
}

impl ConfiguredLog {
    pub(crate) fn origin(&self) -> &str {
        self.trust.origin()
    }
}

/// The configuration, checked.
#[derive(Clone, Debug)]
pub(crate) struct CheckedConfig {
    /// The home log first, then the others; origins are distinct.
    pub(crate) logs: Vec<ConfiguredLog>,
    pub(crate) state_dir: PathBuf,
    pub(crate) max_clock_skew: u64,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) policy: CertifiedMailPolicy,
    /// The built-in scanner's signature file, if any (absolute).
    pub(crate) signature_file: Option<PathBuf>,
}

impl CheckedConfig {
    /// The home log.
    pub(crate) fn home(&self) -> &ConfiguredLog {
        // `check` refuses a configuration without one: `logs` starts with it.
        &self.logs[0]
    }

    /// The configured log of `origin`.
    pub(crate) fn log(&self, origin: &str) -> Result<&ConfiguredLog, HeraldError> {
        self.logs
            .iter()
            .find(|l| l.origin() == origin)
            .ok_or_else(|| HeraldError::bad_input(format!("no configured log {origin:?}")))
    }
}

/// Checks `config` (see the module docs).
pub(crate) fn check(config: HeraldConfig) -> Result<CheckedConfig, HeraldError> {
    if config.other_logs.len() > MAX_TRUSTED_PEERS {
        return Err(HeraldError::bad_input(format!(
            "other_logs: at most {MAX_TRUSTED_PEERS} logs"
        )));
    }
    let mut logs = Vec::with_capacity(1 + config.other_logs.len());
    let home = check_log(&config.home).map_err(|e| field("home", e))?;
    if home.gateway.is_none() {
        return Err(HeraldError::bad_input("home.gateway: required"));
    }
    logs.push(home);
    for (i, log) in config.other_logs.iter().enumerate() {
        let log = check_log(log).map_err(|e| field(&format!("other_logs[{i}]"), e))?;
        if logs
            .iter()
            .any(|l: &ConfiguredLog| l.origin() == log.origin())
        {
            return Err(HeraldError::bad_input(format!(
                "other_logs[{i}]: the log {} is configured twice",
                log.origin()
            )));
        }
        logs.push(log);
    }
    let state_dir = check_absolute_path("state_dir", &config.state_dir)?;
    let signature_file = config
        .signature_file
        .as_deref()
        .map(|path| check_absolute_path("signature_file", path))
        .transpose()?;
    Ok(CheckedConfig {
        logs,
        state_dir,
        max_clock_skew: bounded_secs("max_clock_skew_secs", config.max_clock_skew_secs)?,
        connect_timeout: timeout("connect_timeout_ms", config.connect_timeout_ms)?,
        request_timeout: timeout("request_timeout_ms", config.request_timeout_ms)?,
        policy: check_policy(config.certified_mail)?,
        signature_file,
    })
}

fn field(name: &str, e: HeraldError) -> HeraldError {
    match e {
        HeraldError::BadInput { reason } => HeraldError::bad_input(format!("{name}.{reason}")),
        other => other,
    }
}

/// Checks one log description with proto's own parser of a `LogTrust`.
pub(crate) fn check_log(log: &LogConfig) -> Result<ConfiguredLog, HeraldError> {
    if log.log_key.len() > MAX_VERIFIER_KEY_BYTES {
        return Err(HeraldError::bad_input(format!(
            "log_key: longer than {MAX_VERIFIER_KEY_BYTES} bytes"
        )));
    }
    if let Some(i) = log
        .witness_keys
        .iter()
        .position(|k| k.len() > MAX_VERIFIER_KEY_BYTES)
    {
        return Err(HeraldError::bad_input(format!(
            "witness_keys[{i}]: longer than {MAX_VERIFIER_KEY_BYTES} bytes"
        )));
    }
    let wire = pb::LogTrust {
        log_key: log.log_key.clone(),
        hash_algorithm: pb::HashAlgorithm::from(HashAlgorithm::from(log.hash)) as i32,
        witness_keys: log.witness_keys.clone(),
        quorum: log.quorum,
    };
    let trust = LogTrust::from_pb(&wire)
        .map_err(|e| HeraldError::bad_input(format!("log_key/witness_keys/quorum: {e}")))?;
    let gateway = log
        .gateway
        .as_deref()
        .map(gateway_address)
        .transpose()
        .map_err(|e| field("gateway", e))?;
    let location = Location::new(trust.clone(), log.clock_skew_secs, log.max_merge_delay_secs)
        .map_err(|e| {
            HeraldError::bad_input(format!("clock_skew_secs/max_merge_delay_secs: {e}"))
        })?;
    Ok(ConfiguredLog {
        trust,
        gateway,
        location,
    })
}

/// A gateway address: a multiaddr ending in `/p2p/<peer id>` (the connection is authenticated
/// to that peer).
pub(crate) fn gateway_address(address: &str) -> Result<Multiaddr, HeraldError> {
    if address.len() > MAX_ADDRESS_BYTES {
        return Err(HeraldError::bad_input(format!(
            "longer than {MAX_ADDRESS_BYTES} bytes"
        )));
    }
    let parsed: Multiaddr = address
        .parse()
        .map_err(|e| HeraldError::bad_input(format!("{address:?} is not a multiaddr: {e}")))?;
    match parsed.iter().last() {
        Some(Protocol::P2p(_)) => Ok(parsed),
        _ => Err(HeraldError::bad_input(format!(
            "{address:?} does not end in /p2p/<peer id>"
        ))),
    }
}

/// The path of field `name`: 1 to `MAX_PATH_BYTES` bytes, absolute.
fn check_absolute_path(name: &str, path: &str) -> Result<PathBuf, HeraldError> {
    if path.is_empty() || path.len() > MAX_PATH_BYTES {
        return Err(HeraldError::bad_input(format!(
            "{name}: 1 to {MAX_PATH_BYTES} bytes"
        )));
    }
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err(HeraldError::bad_input(format!(
            "{name}: must be an absolute path"
        )));
    }
    Ok(path)
}

fn bounded_secs(name: &str, secs: u64) -> Result<u64, HeraldError> {
    if secs > MAX_TIMEOUT_SECS {
        return Err(HeraldError::bad_input(format!(
            "{name}: at most {MAX_TIMEOUT_SECS} seconds"
        )));
    }
    Ok(secs)
}

fn timeout(name: &str, ms: u64) -> Result<Duration, HeraldError> {
    if ms == 0 || ms > MAX_TIMEOUT_SECS * 1000 {
        return Err(HeraldError::bad_input(format!(
            "{name}: 1 to {} ms",
            MAX_TIMEOUT_SECS * 1000
        )));
    }
    Ok(Duration::from_millis(ms))
}

fn check_policy(policy: CertifiedMailPolicy) -> Result<CertifiedMailPolicy, HeraldError> {
    bounded_secs(
        "certified_mail.witness_period_secs",
        policy.witness_period_secs,
    )?;
    bounded_secs("certified_mail.margin_secs", policy.margin_secs)?;
    // A deadline up to a year ahead.
    if policy.max_wait_secs == 0 || policy.max_wait_secs > 366 * 86_400 {
        return Err(HeraldError::bad_input(
            "certified_mail.max_wait_secs: 1 second to 366 days",
        ));
    }
    Ok(policy)
}

/// A configured log as the app sees it (for trust lists and checkpoints).
pub(crate) fn log_config(
    trust: &LogTrust,
    gateway: Option<String>,
    location: Option<&Location>,
) -> LogConfig {
    let wire = trust.to_pb();
    LogConfig {
        log_key: wire.log_key,
        hash: trust.algorithm().into(),
        witness_keys: wire.witness_keys,
        quorum: wire.quorum,
        gateway,
        clock_skew_secs: location.map_or(60, Location::clock_skew),
        max_merge_delay_secs: location.map_or(60, Location::max_merge_delay),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use ed25519_dalek::SigningKey;
    use herald_proto::checkpoint::WitnessSigner;
    use herald_proto::note::NoteSigner;

    use super::*;

    pub(crate) fn log_key(domain: &str, seed: u8) -> String {
        NoteSigner::new(
            &format!("{domain}/herald"),
            SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap()
        .verifier()
        .to_string()
    }

    pub(crate) fn witness_key(domain: &str, seed: u8) -> String {
        WitnessSigner::new(
            &format!("{domain}/witness"),
            SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap()
        .verifier()
        .to_string()
    }

    /// A configuration with a gateway address nobody listens at (for offline tests).
    pub(crate) fn sample() -> HeraldConfig {
        HeraldConfig {
            home: LogConfig {
                log_key: log_key("d0.test", 1),
                hash: LogHash::Blake3,
                witness_keys: vec![witness_key("d1.test", 2)],
                quorum: 1,
                gateway: Some(format!(
                    "/ip4/127.0.0.1/tcp/4710/p2p/{}",
                    libp2p::PeerId::random()
                )),
                clock_skew_secs: 2,
                max_merge_delay_secs: 2,
            },
            other_logs: vec![LogConfig {
                log_key: log_key("d1.test", 3),
                hash: LogHash::Sha256,
                witness_keys: vec![witness_key("d0.test", 4)],
                quorum: 1,
                gateway: None,
                clock_skew_secs: 60,
                max_merge_delay_secs: 60,
            }],
            state_dir: "/tmp/herald-state".into(),
            max_clock_skew_secs: 300,
            connect_timeout_ms: 1000,
            request_timeout_ms: 1000,
            certified_mail: CertifiedMailPolicy {
                witness_period_secs: 1,
                margin_secs: 1,
                max_wait_secs: 3600,
            },
            signature_file: None,
        }
    }

    fn refused(config: HeraldConfig, naming: &str) {
        match check(config) {
            Err(HeraldError::BadInput { reason }) => {
                assert!(reason.contains(naming), "{reason:?} should name {naming:?}")
            }
            other => panic!("expected BadInput naming {naming}, got {other:?}"),
        }
    }

    #[test]
    fn a_good_configuration_is_checked_into_logs_and_round_trips() {
        let config = sample();
        let checked = check(config.clone()).unwrap();
        assert_eq!(checked.home().origin(), "d0.test/herald");
        assert_eq!(checked.logs.len(), 2);
        assert!(checked.log("d1.test/herald").is_ok());
        assert!(matches!(
            checked.log("d9.test/herald"),
            Err(HeraldError::BadInput { .. })
        ));
        let home = checked.home();
        let back = log_config(
            &home.trust,
            config.home.gateway.clone(),
            Some(&home.location),
        );
        assert_eq!(back, config.home);
    }

    #[test]
    fn every_field_out_of_bounds_is_refused_and_named() {
        let mut c = sample();
        c.home.gateway = None;
        refused(c, "home.gateway");
        let mut c = sample();
        c.home.gateway = Some("/ip4/127.0.0.1/tcp/4710".into());
        refused(c, "home.gateway");
        let mut c = sample();
        c.home.gateway = Some("x".repeat(MAX_ADDRESS_BYTES + 1));
        refused(c, "home.gateway");
        let mut c = sample();
        c.home.log_key = "not a key".into();
        refused(c, "home.log_key");
        let mut c = sample();
        c.home.log_key = "k".repeat(MAX_VERIFIER_KEY_BYTES + 1);
        refused(c, "home.log_key");
        let mut c = sample();
        c.home.quorum = 2;
        refused(c, "quorum");
        let mut c = sample();
        c.home.quorum = 0;
        refused(c, "quorum");
        let mut c = sample();
        c.home.witness_keys = (0..40).map(|i| witness_key("w.test", i)).collect();
        refused(c, "witness");
        let mut c = sample();
        c.other_logs[0].clock_skew_secs = 10 * 86_400;
        refused(c, "other_logs[0].clock_skew_secs");
        let mut c = sample();
        c.other_logs.push(c.home.clone());
        refused(c, "configured twice");
        let mut c = sample();
        c.other_logs = vec![c.other_logs[0].clone(); MAX_TRUSTED_PEERS + 1];
        refused(c, "other_logs");
        let mut c = sample();
        c.state_dir = "relative/dir".into();
        refused(c, "state_dir");
        let mut c = sample();
        c.state_dir = String::new();
        refused(c, "state_dir");
        let mut c = sample();
        c.signature_file = Some("signatures.txt".into());
        refused(c, "signature_file");
        let mut c = sample();
        c.signature_file = Some(format!("/{}", "s".repeat(MAX_PATH_BYTES)));
        refused(c, "signature_file");
        let mut c = sample();
        c.request_timeout_ms = 0;
        refused(c, "request_timeout_ms");
        let mut c = sample();
        c.connect_timeout_ms = MAX_TIMEOUT_SECS * 1000 + 1;
        refused(c, "connect_timeout_ms");
        let mut c = sample();
        c.certified_mail.max_wait_secs = 0;
        refused(c, "max_wait_secs");
        let mut c = sample();
        c.max_clock_skew_secs = MAX_TIMEOUT_SECS + 1;
        refused(c, "max_clock_skew_secs");
    }
}
