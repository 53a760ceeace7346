//! The files `herald cm`, `herald verify-evidence` and `herald verify-absence` read and write:
//! every read has a size limit and a typed error, every write is atomic.
//!
//! ## Log files (`--location`, `--offer`, `--domain`, `--trust`)
//! One log and its witness policy, in TOML (or JSON, if the file starts with `{`):
//! ```toml
//! # The log's C2SP verifier key; its name is the log's origin, "<domain>/herald".
//! log_key = "alpha.test/herald+1a2b3c4d+AU..."
//! # The log's hash: "sha256" (default) or "blake3".
//! hash = "sha256"
//! # The witnesses' cosignature/v1 verifier keys (1 to 32) and how many must cosign.
//! witness_keys = ["w1.test+5e6f7a8b+BF...", "w2.test+..."]
//! quorum = 2
//! # Location X only (a request's --location, a sender's --offer): δ, the clock skew allowed,
//! # and MMD, the log's maximum merge delay, in seconds (each at most 86400).
//! clock_skew = 60
//! max_merge_delay = 10
//! ```
//! Unknown fields are refused. Keys are re-spelled canonically (what requests sign).

use std::io;
use std::path::{Path, PathBuf};

use herald_proto::certmail::Location;
use herald_proto::checkpoint::{WitnessPolicy, WitnessVerifier};
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::NoteVerifier;
use herald_proto::wire::MAX_LOCATION_WITNESSES;
use serde::Deserialize;

use herald_light_client::durable_file::{self, FileIoError, ReadError};

/// Largest log file read.
pub(crate) const MAX_LOG_FILE_BYTES: usize = 64 * 1024;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum FileError {
    /// Opening, reading or writing failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file is larger than its kind allows; it was not read.
    #[error("{what} {path} is larger than {limit} bytes")]
    TooLarge {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// The file does not hold what it should.
    #[error("{what} {path}: {reason}")]
    Format {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io_error(e: FileIoError) -> FileError {
    FileError::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    }
}

/// Reads at most `limit` bytes of `path`; a longer file is refused unread.
pub(crate) fn read_bounded(
    path: &Path,
    limit: usize,
    what: &'static str,
) -> Result<Vec<u8>, FileError> {
    durable_file::read_bounded(path, limit).map_err(|e| match e {
        ReadError::Io(e) => io_error(e),
        ReadError::TooLarge { path, limit } => FileError::TooLarge { what, path, limit },
    })
}

/// Writes `bytes` to `path` atomically and durably ([`durable_file::replace`]: a temporary file
/// with mode 0600, synced, renamed over `path`, the directory synced).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    durable_file::replace(path, bytes).map_err(io_error)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogFile {
    log_key: String,
    #[serde(default)]
    hash: Option<String>,
    witness_keys: Vec<String>,
    quorum: usize,
    #[serde(default)]
    clock_skew: Option<u64>,
    #[serde(default)]
    max_merge_delay: Option<u64>,
}

/// A log described by flags or a file: the parts of a log file.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogDescription {
    /// The log's verifier key.
    pub log_key: String,
    /// "sha256" or "blake3" (default sha256).
    pub hash: Option<String>,
    /// Witness verifier keys.
    pub witness_keys: Vec<String>,
    /// The quorum.
    pub quorum: usize,
    /// δ (locations only).
    pub clock_skew: Option<u64>,
    /// MMD (locations only).
    pub max_merge_delay: Option<u64>,
}

impl LogDescription {
    /// The log and its policy; the error says what is wrong.
    pub(crate) fn trust(&self) -> Result<LogTrust, String> {
        let log = NoteVerifier::parse(self.log_key.trim()).map_err(|e| format!("log_key: {e}"))?;
        if self.witness_keys.is_empty() || self.witness_keys.len() > MAX_LOCATION_WITNESSES {
            return Err(format!(
                "witness_keys: 1 to {MAX_LOCATION_WITNESSES} keys needed, {} given",
                self.witness_keys.len()
            ));
        }
        let witnesses = self
            .witness_keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                WitnessVerifier::parse(k.trim()).map_err(|e| format!("witness_keys[{i}]: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let algorithm: HashAlgorithm = self
            .hash
            .as_deref()
            .unwrap_or(HashAlgorithm::DEFAULT.as_str())
            .parse()
            .map_err(|e| format!("hash: {e}"))?;
        let policy =
            WitnessPolicy::new(log, witnesses, self.quorum).map_err(|e| format!("quorum: {e}"))?;
        Ok(LogTrust::new(policy, algorithm))
    }

    /// The location X; δ and MMD are required.
    pub(crate) fn location(&self) -> Result<Location, String> {
        let trust = self.trust()?;
        let skew = self
            .clock_skew
            .ok_or("clock_skew (δ) is required for a location")?;
        let mmd = self
            .max_merge_delay
            .ok_or("max_merge_delay (MMD) is required for a location")?;
        Location::new(trust, skew, mmd).map_err(|e| e.to_string())
    }
}

/// A log file as written: every field, in the order of the module documentation.
#[derive(serde::Serialize)]
struct LogFileOut {
    log_key: String,
    hash: String,
    witness_keys: Vec<String>,
    quorum: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    clock_skew: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_merge_delay: Option<u64>,
}

/// The text of a log file for `trust` (with δ and MMD when given, which make it a location),
/// keys in their canonical spelling; [`read_log_file`] reads it back.
pub(crate) fn log_file_text(
    trust: &LogTrust,
    clock_skew: Option<u64>,
    max_merge_delay: Option<u64>,
) -> Result<String, String> {
    let file = LogFileOut {
        log_key: trust.log().to_string(),
        hash: trust.algorithm().to_string(),
        witness_keys: trust
            .policy()
            .map(|p| p.witnesses().iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        quorum: trust.policy().map_or(0, |p| p.quorum()),
        clock_skew,
        max_merge_delay,
    };
    let body = toml::to_string(&file).map_err(|e| e.to_string())?;
    Ok(format!(
        "# The log {}.
{body}",
        trust.origin().escape_debug()
    ))
}

/// Reads a log file (module documentation).
pub(crate) fn read_log_file(path: &Path) -> Result<LogDescription, FileError> {
    let what = "log file";
    let bytes = read_bounded(path, MAX_LOG_FILE_BYTES, what)?;
    let format = |reason: String| FileError::Format {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| format("not UTF-8".into()))?;
    let file: LogFile = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format(e.to_string()))?
    } else {
        toml::from_str(text).map_err(|e| format(e.to_string()))?
    };
    Ok(LogDescription {
        log_key: file.log_key,
        hash: file.hash,
        witness_keys: file.witness_keys,
        quorum: file.quorum,
        clock_skew: file.clock_skew,
        max_merge_delay: file.max_merge_delay,
    })
}

/// Reads a log file as a domain log (δ and MMD ignored).
pub(crate) fn read_trust(path: &Path) -> Result<LogTrust, FileError> {
    read_log_file(path)?
        .trust()
        .map_err(|reason| FileError::Format {
            what: "log file",
            path: path.to_path_buf(),
            reason,
        })
}

/// Reads a log file as a location X.
pub(crate) fn read_location(path: &Path) -> Result<Location, FileError> {
    read_log_file(path)?
        .location()
        .map_err(|reason| FileError::Format {
            what: "location file",
            path: path.to_path_buf(),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use herald_proto::checkpoint::WitnessSigner;
    use herald_proto::note::NoteSigner;
    use std::fs;

    fn keys() -> (String, String) {
        let log = NoteSigner::new("alpha.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap();
        let w = WitnessSigner::new("w1.test", SigningKey::from_bytes(&[2; 32])).unwrap();
        (log.verifier().to_string(), w.verifier().to_string())
    }

    #[test]
    fn a_location_file_reads_in_toml_and_json() {
        let dir = tempfile::tempdir().unwrap();
        let (log, w) = keys();
        let toml_path = dir.path().join("x.toml");
        fs::write(
            &toml_path,
            format!(
                "log_key = \"{log}\"\nwitness_keys = [\"{w}\"]\nquorum = 1\nclock_skew = 60\nmax_merge_delay = 10\n"
            ),
        )
        .unwrap();
        let x = read_location(&toml_path).unwrap();
        assert_eq!(x.origin(), "alpha.test/herald");
        assert_eq!((x.clock_skew(), x.max_merge_delay()), (60, 10));
        let json_path = dir.path().join("x.json");
        fs::write(
            &json_path,
            format!(
                r#"{{"log_key":"{log}","hash":"sha256","witness_keys":["{w}"],"quorum":1,"clock_skew":60,"max_merge_delay":10}}"#
            ),
        )
        .unwrap();
        assert_eq!(read_location(&json_path).unwrap(), x);
        // As a domain, δ and MMD may be left out.
        fs::write(
            &toml_path,
            format!("log_key = \"{log}\"\nwitness_keys = [\"{w}\"]\nquorum = 1\n"),
        )
        .unwrap();
        assert_eq!(read_trust(&toml_path).unwrap(), *x.log());
        assert!(matches!(
            read_location(&toml_path),
            Err(FileError::Format { .. })
        ));
    }

    #[test]
    fn a_written_log_file_reads_back_as_the_same_log() {
        let dir = tempfile::tempdir().unwrap();
        let (log, w) = keys();
        let path = dir.path().join("x.toml");
        fs::write(
            &path,
            format!("log_key = \"{log}\"\nwitness_keys = [\"{w}\"]\nquorum = 1\n"),
        )
        .unwrap();
        let trust = read_trust(&path).unwrap();
        let text = log_file_text(&trust, Some(60), Some(10)).unwrap();
        write_atomic(&path, text.as_bytes()).unwrap();
        let x = read_location(&path).unwrap();
        assert_eq!(
            (x.log(), x.clock_skew(), x.max_merge_delay()),
            (&trust, 60, 10)
        );
        write_atomic(&path, log_file_text(&trust, None, None).unwrap().as_bytes()).unwrap();
        assert_eq!(read_trust(&path).unwrap(), trust);
        assert!(read_location(&path).is_err());
    }

    #[test]
    fn bad_log_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (log, w) = keys();
        let path = dir.path().join("x.toml");
        for bad in [
            format!("log_key = \"{log}\"\nwitness_keys = [\"{w}\"]\nquorum = 2\n"),
            format!("log_key = \"{log}\"\nwitness_keys = []\nquorum = 0\n"),
            format!("log_key = \"nope\"\nwitness_keys = [\"{w}\"]\nquorum = 1\n"),
            format!("log_key = \"{log}\"\nwitness_keys = [\"{w}\"]\nquorum = 1\nextra = 1\n"),
            format!("log_key = \"{log}\"\nhash = \"md5\"\nwitness_keys = [\"{w}\"]\nquorum = 1\n"),
            "\u{0}\u{1}".to_owned(),
        ] {
            fs::write(&path, bad.as_bytes()).unwrap();
            assert!(
                matches!(read_trust(&path), Err(FileError::Format { .. })),
                "{bad}"
            );
        }
        fs::write(&path, vec![b' '; MAX_LOG_FILE_BYTES + 1]).unwrap();
        assert!(matches!(read_trust(&path), Err(FileError::TooLarge { .. })));
        assert!(matches!(
            read_trust(&dir.path().join("missing")),
            Err(FileError::Io { .. })
        ));
    }

    #[test]
    fn writes_are_atomic_and_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(matches!(
            read_bounded(&path, 2, "x"),
            Err(FileError::TooLarge { .. })
        ));
    }
}
