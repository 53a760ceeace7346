//! `herald account register` and `herald account binding`: the account's identity binding at
//! its domain's gateway (key transparency, DESIGN §4).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use herald_light_client::keystore::{SecureKeyStore as _, strength};
use herald_light_client::{
    ClientError, FileCheckpointStore, LogTrust, TrustedLog, VerifiedBindingAnswer,
    offered_password_record, registration,
};
use herald_proto::identity::NotBound;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::b64;
use prost::Message as _;
use serde_json::json;

use super::args::KeyStoreArgs;
use super::cm::files::{LogDescription, read_trust, write_atomic};
use super::connection::{GatewayArgs, runtime};

/// Exit statuses of `herald account register` and `herald account binding`.
pub(super) const ACCOUNT_EXIT_STATUS: &str = "\
Exit status:
  0  success: what was printed and written was verified
  1  failure: bad arguments, the key store, local files, the network, or the gateway's
     refusal (e.g. UNAUTHORIZED: a wrong or used enrolment code)
  2  REFUSED: the gateway's answer did not verify (the evidence is printed; nothing was
     written), or the account's key is revoked (only --revocations-out was written)";

/// `herald account register`.
#[derive(Debug, Args)]
pub(super) struct RegisterArgs {
    #[command(flatten)]
    keys: KeyStoreArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The gateway's log verifier key (the account's domain log).
    #[arg(long, env = "HERALD_LOG_KEY", value_name = "VKEY")]
    log_key: String,
    /// The log's hash algorithm: sha256 or blake3.
    #[arg(long, default_value = HashAlgorithm::DEFAULT.as_str())]
    hash: HashAlgorithm,
    /// The one-time enrolment code the operator issued (`herald-node account add`).
    #[arg(long, value_name = "CODE")]
    code: String,
    /// Where the account's new password comes from.
    #[command(flatten)]
    password: super::password::PasswordArgs,
    /// Print one JSON object (bytes in base64).
    #[arg(long)]
    json: bool,
}

/// `herald account binding`.
#[derive(Debug, Args)]
pub(super) struct BindingArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The account whose binding to fetch, e.g. bob@beta.test.
    #[arg(long, value_name = "ADDR")]
    account: String,
    /// The account's domain log as a log file (as `herald log trust` writes).
    #[arg(long, value_name = "FILE", required_unless_present = "log_key",
          conflicts_with_all = ["log_key", "hash", "witness_keys", "quorum"])]
    domain: Option<PathBuf>,
    /// The domain log's verifier key (instead of --domain).
    #[arg(long, value_name = "VKEY", requires_all = ["witness_keys", "quorum"])]
    log_key: Option<String>,
    /// The domain log's hash algorithm [default: sha256].
    #[arg(long, value_name = "ALG")]
    hash: Option<String>,
    /// A witness verifier key of the domain log (repeat for each).
    #[arg(long = "witness-key", value_name = "VKEY")]
    witness_keys: Vec<String>,
    /// How many of the domain log's witnesses must cosign.
    #[arg(long, value_name = "Q")]
    quorum: Option<usize>,
    /// Where to write the binding: an encoded IncludedLeaf, what `herald cm accept --binding`
    /// reads.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// A directory to write the account's revocations into (`revocation-<index>.leaf`, for
    /// `herald cm accept --revocation`).
    #[arg(long, value_name = "DIR")]
    revocations_out: Option<PathBuf>,
    /// Cosignatures timestamped at most this far ahead of the clock count, seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    max_skew: u64,
    /// How long to keep asking while the binding is logged but not cosigned yet (PENDING),
    /// seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    poll_for: u64,
    /// Where trusted checkpoints live [default: $HERALD_HOME or ~/.herald].
    #[arg(long, env = "HERALD_HOME", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Print one JSON object (bytes in base64).
    #[arg(long)]
    json: bool,
}

/// The account's key is not bound now: a refusal, not a gateway failure.
#[derive(Debug, thiserror::Error)]
#[error("the key of {account} is not bound now: {reason}")]
struct NotBoundNow {
    account: String,
    reason: NotBound,
}

/// Prints a failure and picks the exit status (see [`ACCOUNT_EXIT_STATUS`]).
fn finish(result: anyhow::Result<()>, json: bool) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    if let Some(revoked) = e.downcast_ref::<NotBoundNow>() {
        eprintln!("herald: REFUSED (revoked): {revoked}");
        if json {
            let v = json!({ "error": format!("{e:#}"), "refused": true, "reason": "revoked" });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        return ExitCode::from(2);
    }
    super::report(&e, json)
}

/// Runs `herald account register`.
pub(super) fn register(args: RegisterArgs) -> ExitCode {
    let json = args.json;
    finish(run_register(args), json)
}

fn run_register(args: RegisterArgs) -> anyhow::Result<()> {
    let log = LogTrust::parse(&args.log_key, args.hash).context("--log-key")?;
    let mut keys = args.keys.open()?;
    let identity = keys
        .identity()
        .context("the key store holds no identity key (herald account init)")?;
    let password = args.password.new_password()?;
    strength::check_passphrase(&password).context("the account password")?;
    let store = FileCheckpointStore::new(args.keys.state_dir()?.join("checkpoints"));
    let registered = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        // The gateway's parameters, so that this account's look like every other's.
        let record = offered_password_record(&gateway, &password, &identity.account).await?;
        let request = registration(&mut keys, &args.code, record)?;
        let mut trusted = TrustedLog::open(gateway, log, store)?;
        anyhow::Ok(trusted.register(request).await?)
    })?;
    let index = registered.entry.index();
    let size = registered.entry.inclusion().checkpoint().size();
    if args.json {
        let v = json!({
            "account": identity.account,
            "identity_key": b64(identity.key.as_bytes()),
            "signed_prekey": b64(&registered.binding.signed_prekey),
            "valid_from": registered.binding.valid_from,
            "index": index,
            "checkpoint_size": size,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!("account       {}", identity.account);
        println!("identity key  {}", b64(identity.key.as_bytes()));
        println!(
            "bound         at index {index}, from {} (the gateway's signed binding, proved in its checkpoint of size {size})",
            registered.binding.valid_from
        );
        println!("next          others fetch it with `herald account binding` once it is cosigned");
    }
    Ok(())
}

/// Runs `herald account binding`.
pub(super) fn binding(args: BindingArgs) -> ExitCode {
    let json = args.json;
    finish(run_binding(args), json)
}

fn domain_trust(args: &BindingArgs) -> anyhow::Result<LogTrust> {
    if let Some(path) = &args.domain {
        return Ok(read_trust(path)?);
    }
    let description = LogDescription {
        log_key: args.log_key.clone().context("--domain or --log-key")?,
        hash: args.hash.clone(),
        witness_keys: args.witness_keys.clone(),
        quorum: args.quorum.unwrap_or(0),
        clock_skew: None,
        max_merge_delay: None,
    };
    description
        .trust()
        .map_err(|e| anyhow::anyhow!("domain log flags: {e}"))
}

fn state_dir(args: &BindingArgs) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.state_dir {
        return Ok(dir.clone());
    }
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home).join(".herald")),
        _ => bail!("no state directory: pass --state-dir or set HERALD_HOME or HOME"),
    }
}

fn run_binding(args: BindingArgs) -> anyhow::Result<()> {
    let trust = domain_trust(&args)?;
    // The domain's log as the file describes it, counting cosignatures up to `--max-skew` ahead
    // (the bound the binding is checked with).
    let log = trust.clone().with_max_skew(args.max_skew);
    let store = FileCheckpointStore::new(state_dir(&args)?.join("checkpoints"));
    let answer: VerifiedBindingAnswer = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        let mut trusted = TrustedLog::open(gateway, log, store)?;
        let until = super::cm::when::now()?.saturating_add(args.poll_for);
        loop {
            match trusted.binding(&trust, &args.account, args.max_skew).await {
                // Not cosigned yet, busy or unreachable: ask again, within the bound.
                Err(e) if e.is_retryable() && super::cm::when::now()? < until => {
                    let pause = match &e {
                        ClientError::Refused(r) => r.retry_after,
                        _ => None,
                    };
                    let pause = pause
                        .unwrap_or(Duration::from_millis(200))
                        .clamp(Duration::from_millis(100), Duration::from_secs(5));
                    tokio::time::sleep(pause).await;
                }
                result => break anyhow::Ok(result?),
            }
        }
    })?;
    // Revocations are written even when they revoke this key: a sender or an arbiter keeps
    // them (`herald cm accept --revocation`, `herald verify-evidence --revocation`).
    let material = answer.material();
    let mut revocation_files = Vec::new();
    if let Some(dir) = &args.revocations_out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (leaf, verified) in material.revocations.iter().zip(answer.revocations()) {
            let path = dir.join(format!("revocation-{}.leaf", verified.index()));
            write_atomic(&path, &leaf.encode_to_vec())?;
            revocation_files.push(path);
        }
    }
    let now = super::cm::when::now()?;
    answer.bound_at(now).map_err(|reason| NotBoundNow {
        account: args.account.clone(),
        reason,
    })?;
    write_atomic(&args.out, &material.binding.encode_to_vec())?;
    let b = answer.binding();
    let checkpoint = b.checkpoint().checkpoint();
    if args.json {
        let v = json!({
            "account": b.account(),
            "identity_key": b64(b.identity_key()),
            "signed_prekey": b64(b.signed_prekey()),
            "valid_from": b.valid_from(),
            "index": b.index(),
            "origin": b.origin(),
            "checkpoint_size": checkpoint.size(),
            "cosignatures": checkpoint.cosignatures().len(),
            "revocations": answer.revocations().len(),
            "out": args.out,
            "revocation_files": revocation_files,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!("account       {}", b.account().escape_debug());
        println!("identity key  {}", b64(b.identity_key()));
        println!(
            "bound         at index {} of {}, from {}",
            b.index(),
            b.origin(),
            b.valid_from()
        );
        println!(
            "verified      the gateway's signature, the prekey's, and inclusion in the checkpoint of size {} cosigned by {} witnesses (quorum {})",
            checkpoint.size(),
            checkpoint.cosignatures().len(),
            trust.policy().map_or(0, |p| p.quorum())
        );
        println!(
            "revocations   {} (of earlier keys; none in force for this one)",
            answer.revocations().len()
        );
        println!("written       {}", args.out.display());
    }
    Ok(())
}
