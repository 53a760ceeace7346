//! Command-line options shared by several `herald` commands, so that no command module borrows
//! them from another: [`KeyStoreArgs`], where the key store is and how to open it.
//!
//! The passphrase comes from `--passphrase-file` (its first line), else `$HERALD_PASSPHRASE`,
//! else one line of standard input.

use std::io::{BufRead as _, Read as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use herald_light_client::durable_file;
use herald_light_client::keystore::FileKeyStore;
use zeroize::Zeroizing;

use super::cm::files::read_bounded;

/// Longest passphrase read.
const MAX_PASSPHRASE_BYTES: usize = 1024;

/// Where the key store is and how to open it.
#[derive(Debug, Args)]
pub(super) struct KeyStoreArgs {
    /// Where the key store and certified-mail records live [default: $HERALD_HOME or ~/.herald].
    #[arg(long, env = "HERALD_HOME", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The key store file [default: <state-dir>/keystore].
    #[arg(long, value_name = "FILE")]
    pub keystore: Option<PathBuf>,
    /// A file whose first line is the key store passphrase [default: $HERALD_PASSPHRASE, else
    /// one line of standard input].
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

impl KeyStoreArgs {
    /// The state directory.
    pub(super) fn state_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.state_dir {
            return Ok(dir.clone());
        }
        match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => Ok(Path::new(&home).join(".herald")),
            _ => bail!("no state directory: pass --state-dir or set HERALD_HOME or HOME"),
        }
    }

    /// The state directory, made private (mode 0700, created or tightened): it holds the key
    /// store, the certified-mail records and the author key.
    pub(super) fn private_state_dir(&self) -> anyhow::Result<PathBuf> {
        let dir = self.state_dir()?;
        durable_file::make_private_dir(&dir)?;
        Ok(dir)
    }

    /// The key store file.
    pub(super) fn keystore_path(&self) -> anyhow::Result<PathBuf> {
        match &self.keystore {
            Some(p) => Ok(p.clone()),
            None => Ok(self.state_dir()?.join("keystore")),
        }
    }

    pub(super) fn passphrase(&self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let mut line = Zeroizing::new(Vec::new());
        if let Some(path) = &self.passphrase_file {
            let bytes =
                Zeroizing::new(read_bounded(path, MAX_PASSPHRASE_BYTES, "passphrase file")?);
            line.extend(bytes.split(|&b| b == b'\n').next().unwrap_or_default());
        } else if let Some(p) = std::env::var_os("HERALD_PASSPHRASE") {
            line.extend(p.into_encoded_bytes());
        } else {
            eprint!("key store passphrase: ");
            std::io::stdin()
                .lock()
                .take(MAX_PASSPHRASE_BYTES as u64)
                .read_until(b'\n', &mut line)
                .context("reading the passphrase from standard input")?;
            if line.last() == Some(&b'\n') {
                line.pop();
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            bail!("the key store passphrase is empty");
        }
        Ok(line)
    }

    /// Opens the key store (warning on standard error if it had to be re-keyed because its
    /// Argon2id costs were under the floor).
    pub(super) fn open(&self) -> anyhow::Result<FileKeyStore> {
        let path = self.keystore_path()?;
        if self.keystore.is_none() && path.exists() {
            self.private_state_dir()?;
        }
        let passphrase = self.passphrase()?;
        let store = FileKeyStore::open(&path, &passphrase)?;
        warn_if_rekeyed(&store);
        Ok(store)
    }
}

/// Tells the user that `store` was re-encrypted at open (see `FileKeyStore::rekeyed_from`).
pub(super) fn warn_if_rekeyed(store: &FileKeyStore) {
    if let Some(old) = store.rekeyed_from() {
        let new = store.params();
        eprintln!(
            "herald: warning: key store {} was protected by weak Argon2id costs ({} KiB, {} passes); it has been re-encrypted with {} KiB and {} passes. If its passphrase is weak too, make a new store.",
            store.path().display(),
            old.memory_kib,
            old.iterations,
            new.memory_kib,
            new.iterations
        );
    }
}
