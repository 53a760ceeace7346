//! The author key a person signs notarizations with: an Ed25519 seed in a small file.
//!
//! Format: one line, the standard base64 of the 32-byte seed. The file is created with mode
//! 0600 ([`durable_file::create`]: whole or not at all, and never over another process's key)
//! when the default path is used for the first time; a key file named with `--key` must
//! already exist.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use herald_light_client::durable_file;

/// Largest key file read: a base64 seed is 44 characters.
const MAX_KEY_FILE_BYTES: u64 = 1024;

/// Reads the author key at `path`, creating a new one there first if `create` and it is absent.
pub(super) fn load_or_create(path: &Path, create: bool) -> anyhow::Result<SigningKey> {
    if create && !path.exists() {
        match generate(path) {
            Ok(key) => return Ok(key),
            // Another process created it first: read theirs.
            Err(e) if path.exists() => tracing::debug!(error = %e, "author key appeared meanwhile"),
            Err(e) => return Err(e),
        }
    }
    load(path)
}

fn load(path: &Path) -> anyhow::Result<SigningKey> {
    let file =
        fs::File::open(path).with_context(|| format!("opening author key {}", path.display()))?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        eprintln!(
            "herald: warning: author key {} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading author key {}", path.display()))?;
    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        bail!(
            "author key {} is larger than {MAX_KEY_FILE_BYTES} bytes",
            path.display()
        );
    }
    let seed = BASE64
        .decode(text.trim())
        .ok()
        .and_then(|s| <[u8; 32]>::try_from(s).ok())
        .with_context(|| {
            format!(
                "author key {} is not the base64 of a 32-byte Ed25519 seed",
                path.display()
            )
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

fn generate(path: &Path) -> anyhow::Result<SigningKey> {
    // Only the default path (in the state directory) is ever generated: that directory is
    // Herald's, and holds secrets.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        durable_file::make_private_dir(dir)?;
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    durable_file::create(path, format!("{}\n", BASE64.encode(seed)).as_bytes())
        .with_context(|| format!("creating author key {}", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/author.key");
        let key = load_or_create(&path, true).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        assert_eq!(load_or_create(&path, true).unwrap(), key);
    }

    #[test]
    fn a_missing_named_key_is_not_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.key");
        assert!(load_or_create(&path, false).is_err());
        assert!(!path.exists());
    }

    #[test]
    fn a_bad_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        fs::write(&path, "AAAA\n").unwrap();
        assert!(load(&path).is_err());
        fs::write(&path, vec![b'A'; 2000]).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("larger"));
    }
}
