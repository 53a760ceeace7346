//! `herald account ...`: the account's identity key in the local key store (opened with the
//! options every command that needs it shares, [`KeyStoreArgs`]).

use anyhow::{Context as _, bail};
use clap::Subcommand;
use herald_light_client::keystore::{FileKeyStore, KdfParams, KeyStoreError, SecureKeyStore as _};
use herald_proto::note::b64;
use serde_json::json;

use super::args::{KeyStoreArgs, warn_if_rekeyed};

/// `herald account ...`.
#[derive(Debug, Subcommand)]
pub(super) enum AccountCommand {
    /// Create the account's Ed25519 identity key in a new key store (encrypted with a
    /// passphrase). Registering the key with the gateway is a later step.
    ///
    /// The passphrase must have at least 12 characters and an estimated 50 bits (the estimate
    /// counts the letter, digit and punctuation classes used, and skips characters that repeat
    /// or step by one from the one before, like aaaa or 1234); Argon2id costs under 19456 KiB
    /// or 2 passes are refused.
    Init {
        #[command(flatten)]
        keys: KeyStoreArgs,
        /// The account address, e.g. alice@alpha.test.
        #[arg(long, value_name = "ADDR")]
        account: String,
        /// Argon2id memory cost of the key store, KiB (at least 19456, the OWASP minimum).
        #[arg(long, default_value_t = KdfParams::DEFAULT.memory_kib, value_name = "KIB")]
        kdf_memory_kib: u32,
        /// Argon2id passes (at least 2).
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
    /// enrolment code, and set the account's password (the gateway stores only its SPAKE2+
    /// record); the gateway logs the binding, which is verified before this succeeds.
    #[command(after_help = super::binding::ACCOUNT_EXIT_STATUS)]
    Register(super::binding::RegisterArgs),
    /// Change the account's password at its gateway (needs `herald login`): the gateway stores
    /// the SPAKE2+ record of the new one; open sessions stay open.
    Password(super::login::PasswordChangeArgs),
    /// Fetch an account's identity binding from its domain's gateway, verify it against a
    /// cosigned checkpoint of the domain log, and write it (for `herald cm accept --binding`).
    #[command(after_help = super::binding::ACCOUNT_EXIT_STATUS)]
    Binding(super::binding::BindingArgs),
}

/// Runs `herald account ...` and picks the exit status.
pub(super) fn main(command: AccountCommand) -> std::process::ExitCode {
    let command = match command {
        AccountCommand::Register(args) => return super::binding::register(args),
        AccountCommand::Binding(args) => return super::binding::binding(args),
        AccountCommand::Password(args) => return super::login::change_password(args),
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
            if keys.keystore.is_none() {
                keys.private_state_dir()?;
            }
            let params = KdfParams {
                memory_kib: kdf_memory_kib,
                iterations: kdf_iterations,
                parallelism: 1,
            };
            let passphrase = keys.passphrase()?;
            // A store left without an identity (an init that stopped half-way) is reused.
            let mut store = match FileKeyStore::create(&path, &passphrase, params) {
                Err(KeyStoreError::AlreadyExists { .. }) => {
                    let store = FileKeyStore::open(&path, &passphrase)?;
                    warn_if_rekeyed(&store);
                    store
                }
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
        AccountCommand::Register(_) | AccountCommand::Binding(_) | AccountCommand::Password(_) => {
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
