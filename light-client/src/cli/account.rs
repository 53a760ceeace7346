//! `herald account ...`: the account's identity key in the local key store, and the options
//! every command that needs the key store shares ([`KeyStoreArgs`]).
//!
//! The passphrase comes from `--passphrase-file` (its first line), else `$HERALD_PASSPHRASE`,
//! else one line of standard input.

use std::io::{BufRead as _, Read as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use herald_light_client::keystore::{FileKeyStore, KdfParams, KeyStoreError, SecureKeyStore as _};
use herald_proto::note::b64;
use serde_json::json;
use zeroize::Zeroizing;

use super::cm::files::read_bounded;

/// Longest passphrase read.
const MAX_PASSPHRASE_BYTES: usize = 1024;

/// Where the key store is and how to open it.
#[derive(Debug, Args)]
pub struct KeyStoreArgs {
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
    pub fn state_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.state_dir {
            return Ok(dir.clone());
        }
        match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => Ok(Path::new(&home).join(".herald")),
            _ => bail!("no state directory: pass --state-dir or set HERALD_HOME or HOME"),
        }
    }

    /// The key store file.
    pub fn keystore_path(&self) -> anyhow::Result<PathBuf> {
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

    /// Opens the key store.
    pub fn open(&self) -> anyhow::Result<FileKeyStore> {
        let path = self.keystore_path()?;
        let passphrase = self.passphrase()?;
        Ok(FileKeyStore::open(&path, &passphrase)?)
    }
}

/// `herald account ...`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create the account's Ed25519 identity key in a new key store (encrypted with a
    /// passphrase). Registering the key with the gateway is a later step.
    Init {
        #[command(flatten)]
        keys: KeyStoreArgs,
        /// The account address, e.g. alice@alpha.test.
        #[arg(long, value_name = "ADDR")]
        account: String,
        /// Argon2id memory cost of the key store, KiB.
        #[arg(long, default_value_t = KdfParams::DEFAULT.memory_kib, value_name = "KIB")]
        kdf_memory_kib: u32,
        /// Argon2id passes.
        #[arg(long, default_value_t = KdfParams::DEFAULT.iterations, value_name = "N")]
        kdf_iterations: u32,
        /// Print one JSON object (the key in base64).
        #[arg(long)]
        json: bool,
    },
    /// Show the account and identity key in the key store.
    Show {
        #[command(flatten)]
        keys: KeyStoreArgs,
        /// Print one JSON object (the key in base64).
        #[arg(long)]
        json: bool,
    },
    /// Register the identity key with the account's gateway using the operator's one-time
    /// enrolment code; the gateway logs the binding, which is verified before this succeeds.
    #[command(after_help = super::binding::ACCOUNT_EXIT_STATUS)]
    Register(super::binding::RegisterArgs),
    /// Fetch an account's identity binding from its domain's gateway, verify it against a
    /// cosigned checkpoint of the domain log, and write it (for `herald cm accept --binding`).
    #[command(after_help = super::binding::ACCOUNT_EXIT_STATUS)]
    Binding(super::binding::BindingArgs),
}

/// Runs `herald account ...` and picks the exit status.
pub fn main(command: AccountCommand) -> std::process::ExitCode {
    let command = match command {
        AccountCommand::Register(args) => return super::binding::register(args),
        AccountCommand::Binding(args) => return super::binding::binding(args),
        other => other,
    };
    match run(command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herald: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs `herald account ...`.
fn run(command: AccountCommand) -> anyhow::Result<()> {
    let (keys, json, store, created) = match command {
        AccountCommand::Init {
            keys,
            account,
            kdf_memory_kib,
            kdf_iterations,
            json,
        } => {
            let path = keys.keystore_path()?;
            let params = KdfParams {
                memory_kib: kdf_memory_kib,
                iterations: kdf_iterations,
                parallelism: 1,
            };
            let passphrase = keys.passphrase()?;
            // A store left without an identity (an init that stopped half-way) is reused.
            let mut store = match FileKeyStore::create(&path, &passphrase, params) {
                Err(KeyStoreError::AlreadyExists { .. }) => FileKeyStore::open(&path, &passphrase)?,
                other => {
                    other.with_context(|| format!("creating the key store {}", path.display()))?
                }
            };
            store.create_identity(&account)?;
            (keys, json, store, true)
        }
        AccountCommand::Show { keys, json } => {
            let store = keys.open()?;
            (keys, json, store, false)
        }
        AccountCommand::Register(_) | AccountCommand::Binding(_) => {
            bail!("network account commands run in binding.rs")
        }
    };
    let identity = store
        .identity()
        .context("the key store holds no identity key (herald account init)")?;
    let path = keys.keystore_path()?;
    if json {
        let v = json!({
            "account": identity.account,
            "identity_key": b64(identity.key.as_bytes()),
            "keystore": path.display().to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!("account       {}", identity.account);
        println!("identity key  {}", b64(identity.key.as_bytes()));
        println!("key store     {}", path.display());
        if created {
            println!("created the identity key; register it with your gateway to be bound");
        }
    }
    Ok(())
}
