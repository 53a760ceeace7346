//! The `herald` command line: parses arguments and the environment, picks paths, and calls the
//! library. Everything it prints about the log has been verified by `TrustedLog`.

mod account;
mod args;
mod author;
mod binding;
mod cm;
mod connection;
mod evidence;
mod login;
mod mail;
mod output;
mod password;
mod prekeys;
mod screening;
mod spool;
mod status;
mod trust;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Args, Parser, Subcommand};
use connection::LogSource;
use herald_light_client::{
    ClientConfig, ClientError, FileCheckpointStore, GatewayClient, Leaf, LogTrust, TileGateway,
    TrustedLog,
};
use herald_proto::checkpoint::{WitnessPolicy, WitnessVerifier};
use herald_proto::entry::{Notarization, sign_notarization_batch};
use herald_proto::merkle::HashAlgorithm;
use herald_proto::wire::{MAX_LABEL_BYTES, MAX_MEDIA_TYPE_BYTES, MAX_NOTARIZATION_BATCH};
use libp2p::Multiaddr;

/// Exit status when the gateway misbehaved (see `EXIT_STATUS`).
const EXIT_VERIFICATION: u8 = 2;

const EXIT_STATUS: &str = "\
Exit status:
  0  success: everything printed was verified
  1  failure: bad arguments, network or gateway refusal, local files
  2  REFUSED: the gateway's answer did not verify (bad signature, a log that went back or
     forked, a bad proof, a malformed answer); the stored checkpoint is kept, and the
     evidence is printed (on stdout as JSON with --json)";

/// Herald light client: talks to a Herald gateway and verifies every answer.
#[derive(Debug, Parser)]
#[command(name = "herald", version, after_help = EXIT_STATUS)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A gateway's transparency log: checkpoints, submissions, entries and proofs.
    #[command(subcommand)]
    Log(LogCommand),
    /// The account's identity key in the local key store.
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// Log in to the account's gateway with its password (SPAKE2+). The session is kept,
    /// encrypted like the key store, in the state directory until it expires or `herald logout`;
    /// the password is read from --password-file, a prompt, or standard input, never an argument.
    Login(login::LoginArgs),
    /// End the session at the gateway and forget it.
    Logout(login::LogoutArgs),
    /// The account's prekeys at its gateway (needs `herald login`).
    #[command(subcommand)]
    Prekeys(prekeys::PrekeysCommand),
    /// Send a mail to an account of this or a peer domain (needs `herald login`): sealed to the
    /// recipient's verified prekey, signed by your identity key, handed to your gateway.
    Send(mail::SendArgs),
    /// List the mails in your mailbox (needs `herald login`).
    Inbox(mail::ListArgs),
    /// Open mail ID of your mailbox: verify its sender, decrypt, show it, delete it at the
    /// gateway (unless --keep) (needs `herald login`).
    Read(mail::ReadArgs),
    /// What became of the mails you sent: queued, delivered, or not delivered and why.
    Outbox(mail::ListArgs),
    /// Certified mail: seal, request, accept, send and open keys, receipts, evidence.
    #[command(subcommand, after_help = cm::CM_EXIT_STATUS)]
    Cm(cm::CmCommand),
    /// Judge an evidence bundle offline: did the recipient receive the message?
    #[command(after_help = evidence::VERIFY_EXIT_STATUS)]
    VerifyEvidence(evidence::VerifyEvidence),
    /// Check a recipient's absence proof offline: was the key not published in time?
    #[command(after_help = evidence::VERIFY_EXIT_STATUS)]
    VerifyAbsence(evidence::VerifyAbsence),
    /// Check a split-view alert offline: did the log sign two checkpoints that cannot both be
    /// true?
    #[command(after_help = evidence::EQUIVOCATION_EXIT_STATUS)]
    VerifyEquivocation(evidence::VerifyEquivocation),
    /// The delivery status of a mail: a gateway's notary records of MSG_ID, each proved in its
    /// cosigned log.
    #[command(after_help = status::STATUS_EXIT_STATUS)]
    Status(status::StatusArgs),
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Fetch the latest checkpoint, verify its signature, and prove it extends the stored one.
    Checkpoint {
        #[command(flatten)]
        common: Common,
        /// Only a checkpoint cosigned by a quorum of the witnesses (--witness-key/--quorum or
        /// --log) is accepted [implied by any witness key].
        #[arg(long)]
        cosigned: bool,
        /// Also write the checkpoint (signed note with its cosignatures) to FILE, e.g. for
        /// `herald cm prove-absence --before/--after`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Ask the gateway which logs it trusts (its own and its registered peers', with the
    /// witnesses and quorum it applies) and write one log file per log into DIR, usable as
    /// `herald cm request --location`, `cm accept --domain/--offer` and `--log`. The own log
    /// must be the one --log-key names; the witnesses and the peers' keys are the gateway's
    /// word, so every log is printed with its keys and a fingerprint and written only when a
    /// file in DIR already says the same, a --known file says the same, or you confirm (--yes,
    /// or "yes" at the prompt on a terminal). A log that differs from the file you hold is
    /// refused and nothing is written; to accept a real key change, remove that file.
    Trust {
        #[command(flatten)]
        common: Common,
        /// The directory to write `<domain>.toml` files into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// δ written into each file (the clock skew a location allows), seconds.
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        clock_skew: u64,
        /// MMD written into each file (the log's maximum merge delay), seconds.
        #[arg(long, default_value_t = 10, value_name = "SECONDS")]
        max_merge_delay: u64,
        /// Trust the new logs as printed (after checking their keys and fingerprints with the
        /// domains' operators).
        #[arg(long)]
        yes: bool,
        /// A log file you already hold (repeatable): a log of the same origin must say exactly
        /// the same, and is then written without asking.
        #[arg(long, value_name = "FILE")]
        known: Vec<PathBuf>,
    },
    /// Notarize files: log their BLAKE3 digests, signed by your author key, and prove
    /// inclusion. Several files are signed once as a batch and sent in one request (more if
    /// they do not fit one), each proved and reported on its own.
    Submit {
        #[command(flatten)]
        common: Common,
        /// A file to notarize (only its digest is sent); repeat for several, at most
        /// 4096.
        #[arg(long, required = true, num_args = 1)]
        file: Vec<PathBuf>,
        /// The file's media type, e.g. application/pdf.
        #[arg(long, default_value = "")]
        media_type: String,
        /// A free-text label stored with the digest (public).
        #[arg(long, default_value = "")]
        label: String,
        /// The author key file (base64 Ed25519 seed). Default: <state-dir>/author.key, created
        /// with mode 0600 on first use.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Fetch the entry at an index and prove it is that leaf of the latest checkpoint.
    Entry {
        #[command(flatten)]
        common: Common,
        /// The entry's index.
        #[arg(long)]
        index: u64,
    },
    /// Prove that a leaf is in the latest checkpoint.
    Prove {
        #[command(flatten)]
        common: Common,
        /// The leaf's index.
        #[arg(
            long,
            required_unless_present = "leaf_hash",
            conflicts_with = "leaf_hash"
        )]
        index: Option<u64>,
        /// The leaf's Merkle hash, base64.
        #[arg(long)]
        leaf_hash: Option<String>,
    },
    /// Prove that the tree of size FROM is a prefix of the tree of size TO.
    Consistency {
        #[command(flatten)]
        common: Common,
        /// The older tree size.
        #[arg(long)]
        from: u64,
        /// The newer tree size (default: the latest checkpoint's).
        #[arg(long)]
        to: Option<u64>,
    },
    /// Ask the gateway for split-view alerts against this log and verify them: exit 2 with the
    /// proof if the log equivocated.
    Alerts {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// The gateway's address, ending in /p2p/<peer id> (TCP or /quic-v1).
    #[arg(
        long,
        env = "HERALD_GATEWAY",
        value_name = "MULTIADDR",
        required_unless_present = "tiles"
    )]
    gateway: Option<Multiaddr>,
    /// Read the log through its C2SP tlog-tiles resources under URL instead (the node's HTTP
    /// listener, or any cache or mirror of it): checkpoint, entry, prove --index and
    /// consistency, every answer verified as from a gateway.
    #[arg(long, value_name = "URL", conflicts_with = "gateway")]
    tiles: Option<String>,
    /// The log's verifier key, e.g. alpha.test/herald+1a2b3c4d+AU...
    #[arg(
        long,
        env = "HERALD_LOG_KEY",
        value_name = "VKEY",
        required_unless_present = "log"
    )]
    log_key: Option<String>,
    /// The log's hash algorithm: sha256 or blake3.
    #[arg(long, default_value = HashAlgorithm::DEFAULT.as_str())]
    hash: HashAlgorithm,
    /// The log, its hash, witnesses and quorum from a log file (as `herald log trust` writes);
    /// it takes the place of --log-key, --hash, --witness-key and --quorum.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["witness_keys", "quorum"])]
    log: Option<PathBuf>,
    /// Where stored checkpoints and the author key live [default: $HERALD_HOME or ~/.herald].
    #[arg(long, env = "HERALD_HOME", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Print one JSON object: hashes and proofs in base64, checkpoints verbatim.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the connection and for each answer.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    timeout: u64,
    /// A witness verifier key the client trusts (repeat). With any, only checkpoints cosigned
    /// by --quorum of these witnesses are trusted, and the gateway's alerts are checked.
    #[arg(long = "witness-key", value_name = "VKEY")]
    witness_keys: Vec<String>,
    /// How many of the --witness-key witnesses must cosign [default: all of them].
    #[arg(long, value_name = "Q", requires = "witness_keys")]
    quorum: Option<usize>,
}

impl LogCommand {
    fn common(&self) -> &Common {
        match self {
            LogCommand::Checkpoint { common, .. }
            | LogCommand::Trust { common, .. }
            | LogCommand::Submit { common, .. }
            | LogCommand::Entry { common, .. }
            | LogCommand::Prove { common, .. }
            | LogCommand::Consistency { common, .. }
            | LogCommand::Alerts { common } => common,
        }
    }
}

impl Common {
    /// The log of `--log`, or of `--log-key` with the witness policy of `--witness-key` and
    /// `--quorum` (if any key is given). Cosignatures count up to the default skew ahead.
    fn log(&self) -> anyhow::Result<LogTrust> {
        if let Some(path) = &self.log {
            return Ok(cm::files::read_trust(path)?);
        }
        let key = self.log_key.as_deref().context("--log-key or --log")?;
        let log = LogTrust::parse(key, self.hash).context("--log-key")?;
        match self.witness_policy(&log)? {
            Some(policy) => Ok(log.with_policy(policy)?),
            None => Ok(log),
        }
    }

    /// The witness policy of `--witness-key` and `--quorum`, if any key is given.
    fn witness_policy(&self, log: &LogTrust) -> anyhow::Result<Option<WitnessPolicy>> {
        if self.witness_keys.is_empty() {
            return Ok(None);
        }
        let witnesses = self
            .witness_keys
            .iter()
            .map(|k| WitnessVerifier::parse(k).with_context(|| format!("--witness-key {k}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let quorum = self.quorum.unwrap_or(witnesses.len());
        let policy = WitnessPolicy::new(log.log().clone(), witnesses, quorum)
            .context("--witness-key / --quorum")?;
        Ok(Some(policy))
    }

    fn state_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.state_dir {
            return Ok(dir.clone());
        }
        match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => Ok(Path::new(&home).join(".herald")),
            _ => bail!("no state directory: pass --state-dir or set HERALD_HOME or HOME"),
        }
    }
}

/// Runs `herald` with the process's arguments.
pub fn main() -> ExitCode {
    main_with_args(std::env::args_os())
}

/// Runs `herald` with `args` (the first is the program name).
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version go to stdout and succeed; usage errors are failures (1, so that
            // 2 always means "the gateway misbehaved").
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .try_init()
        .ok();
    let command = match cli.command {
        Command::Log(command) => command,
        Command::Account(command) => return account::main(command),
        Command::Login(args) => return login::login(args),
        Command::Logout(args) => return login::logout(args),
        Command::Prekeys(command) => return prekeys::main(command),
        Command::Send(args) => return mail::send(args),
        Command::Inbox(args) => return mail::inbox(args),
        Command::Read(args) => return mail::read(args),
        Command::Outbox(args) => return mail::outbox(args),
        Command::Cm(command) => return cm::run(command),
        Command::VerifyEvidence(args) => return evidence::verify_evidence(args),
        Command::VerifyAbsence(args) => return evidence::verify_absence_command(args),
        Command::VerifyEquivocation(args) => return evidence::verify_equivocation(args),
        Command::Status(args) => return status::status(args),
    };
    let json = command.common().json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("herald: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, json),
    }
}

/// Prints a failure and picks the exit status.
pub(crate) fn report(e: &anyhow::Error, json: bool) -> ExitCode {
    let client = e.downcast_ref::<ClientError>();
    let misbehaved = client.is_some_and(ClientError::is_peer_misbehaviour);
    let evidence = client
        .and_then(ClientError::verification)
        .map(output::evidence_json);
    if misbehaved {
        eprintln!("herald: REFUSED: {e:#}");
        eprintln!(
            "herald: nothing unverified was stored; the trusted checkpoint is unchanged by this answer"
        );
        if client.is_some_and(|c| {
            matches!(
                c.verification(),
                Some(herald_light_client::VerifyError::NotIncluded { .. })
            )
        }) {
            eprintln!(
                "herald: (if this log does not hash with the given --hash, proofs cannot verify)"
            );
        }
    } else {
        eprintln!("herald: {e:#}");
    }
    if json {
        let v = serde_json::json!({
            "error": format!("{e:#}"),
            "gateway_misbehaved": misbehaved,
            "evidence": evidence,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if let Some(evidence) = evidence {
        eprintln!(
            "herald: evidence:\n{}",
            serde_json::to_string_pretty(&evidence).unwrap_or_default()
        );
    }
    if misbehaved {
        ExitCode::from(EXIT_VERIFICATION)
    } else {
        ExitCode::FAILURE
    }
}

async fn run(command: LogCommand) -> anyhow::Result<()> {
    let common = command.common();
    let log = common.log()?;
    if let LogCommand::Checkpoint { cosigned: true, .. } = &command
        && log.policy().is_none()
    {
        bail!("--cosigned needs the witnesses to check: --witness-key and --quorum, or --log");
    }
    let state_dir = common.state_dir()?;
    let config = ClientConfig {
        connect_timeout: Duration::from_secs(common.timeout),
        request_timeout: Duration::from_secs(common.timeout),
        ..ClientConfig::default()
    };
    // Read local inputs before connecting, so a typo costs no round trip.
    let submission = match &command {
        LogCommand::Submit {
            file,
            media_type,
            label,
            key,
            ..
        } => Some(notarizations(
            file,
            media_type,
            label,
            key.as_deref(),
            &state_dir,
        )?),
        _ => None,
    };
    let known = match &command {
        LogCommand::Trust { known, .. } => Some(trust::read_known(known)?),
        _ => None,
    };
    let leaf = match &command {
        LogCommand::Prove { index: Some(i), .. } => Some(Leaf::Index(*i)),
        LogCommand::Prove {
            leaf_hash: Some(h), ..
        } => Some(Leaf::Hash(parse_leaf_hash(h)?)),
        _ => None,
    };
    let gateway = match (&common.gateway, &common.tiles) {
        (_, Some(prefix)) => {
            if matches!(
                command,
                LogCommand::Submit { .. } | LogCommand::Trust { .. } | LogCommand::Alerts { .. }
            ) || leaf.is_some_and(|l| matches!(l, Leaf::Hash(_)))
            {
                bail!(
                    "a tile server answers checkpoint, entry, prove --index and consistency; this needs --gateway"
                );
            }
            LogSource::Tiles(TileGateway::new(
                prefix,
                log.algorithm(),
                Duration::from_secs(common.timeout),
            )?)
        }
        (Some(addr), None) => LogSource::Gateway(
            GatewayClient::connect_with(addr, &config)
                .await
                .with_context(|| format!("connecting to {addr}"))?,
        ),
        (None, None) => bail!("--gateway or --tiles is needed"),
    };
    let store = FileCheckpointStore::new(state_dir.join("checkpoints"));
    let mut trusted = TrustedLog::open(gateway, log, store)?;
    let json = common.json;
    match &command {
        LogCommand::Checkpoint { out, .. } => {
            let update = trusted.refresh().await?;
            if let Some(path) = out {
                cm::files::write_atomic(path, update.checkpoint.note().as_bytes())?;
            }
            output::checkpoint(&update, json);
        }
        LogCommand::Trust {
            out,
            clock_skew,
            max_merge_delay,
            yes,
            ..
        } => {
            let list = trusted.trust_list().await?;
            let confirmation = trust::Confirmation {
                yes: *yes,
                known: known.context("known log files read above")?,
            };
            trust::write(
                &list,
                out,
                *clock_skew,
                *max_merge_delay,
                json,
                &confirmation,
            )?;
        }
        LogCommand::Submit { file, .. } => {
            let (requests, author) = submission.context("submission prepared above")?;
            // Start from a verified checkpoint, so the ack's is proved consistent with it.
            trusted.refresh().await?;
            if let [request] = requests.as_slice() {
                let entry = trusted.submit_notarization(request, &author).await?;
                output::entry(&entry, json);
            } else {
                let entries = sign_notarization_batch(&requests, &author)
                    .context("signing the batch")?
                    .iter()
                    .map(prost::Message::encode_to_vec)
                    .collect();
                let outcomes = trusted.submit_batches(entries).await?;
                let refused = output::batch(file, &outcomes, json);
                if refused > 0 {
                    bail!("{refused} of {} files were refused", file.len());
                }
            }
        }
        LogCommand::Entry { index, .. } => output::entry(&trusted.entry(*index).await?, json),
        LogCommand::Prove { .. } => {
            let leaf = leaf.context("leaf parsed above")?;
            output::inclusion(&trusted.prove(leaf).await?, json);
        }
        LogCommand::Consistency { from, to, .. } => {
            output::consistency(&trusted.consistency(*from, *to).await?, json)
        }
        LogCommand::Alerts { .. } => {
            trusted.check_alerts().await?;
            output::no_alert(trusted.log().origin(), json);
        }
    }
    Ok(())
}

fn parse_leaf_hash(s: &str) -> anyhow::Result<[u8; 32]> {
    if s.len() > 64 {
        bail!("--leaf-hash is not the base64 of 32 bytes");
    }
    BASE64
        .decode(s.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .context("--leaf-hash is not the base64 of 32 bytes")
}

/// The notarization request for `file` and the key that signs it.
/// The notarization of each file (at most `wire::MAX_NOTARIZATION_BATCH`) and the author key.
fn notarizations(
    files: &[PathBuf],
    media_type: &str,
    label: &str,
    key: Option<&Path>,
    state_dir: &Path,
) -> anyhow::Result<(Vec<Notarization>, ed25519_dalek::SigningKey)> {
    if files.len() > MAX_NOTARIZATION_BATCH as usize {
        bail!(
            "at most {MAX_NOTARIZATION_BATCH} files at once, not {}",
            files.len()
        );
    }
    let mut requests = Vec::with_capacity(files.len());
    let mut author = None;
    for file in files {
        let (request, key) = notarization(file, media_type, label, key, state_dir)?;
        requests.push(request);
        author = Some(key);
    }
    Ok((requests, author.context("--file is required")?))
}

fn notarization(
    file: &Path,
    media_type: &str,
    label: &str,
    key: Option<&Path>,
    state_dir: &Path,
) -> anyhow::Result<(Notarization, ed25519_dalek::SigningKey)> {
    if media_type.len() > MAX_MEDIA_TYPE_BYTES {
        bail!("--media-type is longer than {MAX_MEDIA_TYPE_BYTES} bytes");
    }
    if label.len() > MAX_LABEL_BYTES {
        bail!("--label is longer than {MAX_LABEL_BYTES} bytes");
    }
    let mut hasher = blake3::Hasher::new();
    let reader =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    hasher
        .update_reader(reader)
        .with_context(|| format!("reading {}", file.display()))?;
    let author = match key {
        Some(path) => author::load_or_create(path, false)?,
        None => author::load_or_create(&state_dir.join("author.key"), true)?,
    };
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let request = Notarization {
        digest: *hasher.finalize().as_bytes(),
        media_type: media_type.to_owned(),
        label: label.to_owned(),
        created,
    };
    Ok((request, author))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(args)
    }

    const GW: &str =
        "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    #[test]
    fn every_subcommand_parses() {
        for extra in [
            &["checkpoint"][..],
            &["checkpoint", "--cosigned", "--out", "cp"],
            &["trust", "--out", "dir", "--clock-skew", "5"],
            &["submit", "--file", "f", "--label", "x"],
            &["submit", "--file", "f", "--file", "g"],
            &["entry", "--index", "3"],
            &["prove", "--index", "3"],
            &["prove", "--leaf-hash", "AAAA"],
            &["consistency", "--from", "2", "--to", "5"],
            &["alerts"],
            &[
                "checkpoint",
                "--witness-key",
                "w1",
                "--witness-key",
                "w2",
                "--quorum",
                "1",
            ],
        ] {
            let mut args = vec!["herald", "log"];
            args.extend_from_slice(&extra[..1]);
            args.extend_from_slice(&["--gateway", GW, "--log-key", "k", "--hash", "sha256"]);
            args.extend_from_slice(&extra[1..]);
            parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    #[test]
    fn the_certified_mail_network_commands_parse() {
        for args in [
            &[
                "account",
                "register",
                "--gateway",
                GW,
                "--log-key",
                "k",
                "--code",
                "c",
            ][..],
            &[
                "account",
                "binding",
                "--gateway",
                GW,
                "--account",
                "b@x",
                "--domain",
                "d",
                "--out",
                "o",
            ],
            &[
                "account",
                "binding",
                "--gateway",
                GW,
                "--account",
                "b@x",
                "--log-key",
                "k",
                "--witness-key",
                "w",
                "--quorum",
                "1",
                "--out",
                "o",
                "--revocations-out",
                "r",
            ],
            &[
                "cm",
                "publish",
                "--gateway",
                GW,
                "--request",
                "r",
                "--binding",
                "b",
                "--offer",
                "x",
            ],
            &[
                "cm",
                "publish",
                "--gateway",
                GW,
                "--request",
                "r",
                "--optimistic",
                "--key-out",
                "k",
            ],
            &[
                "cm",
                "wait",
                "--gateway",
                GW,
                "--request",
                "r",
                "--no-sleep",
            ],
            &[
                "cm",
                "fetch",
                "--gateway",
                GW,
                "--request",
                "r",
                "--out",
                "m",
                "--poll-for",
                "5",
            ],
            &[
                "cm",
                "prove-absence",
                "--gateway",
                GW,
                "--request",
                "r",
                "--before",
                "a",
                "--after",
                "b",
                "--out",
                "p",
            ],
            &[
                "log",
                "checkpoint",
                "--gateway",
                GW,
                "--log",
                "f",
                "--cosigned",
                "--out",
                "cp",
            ],
        ] {
            let mut all = vec!["herald"];
            all.extend_from_slice(args);
            parse(&all).unwrap_or_else(|e| panic!("{all:?}: {e}"));
        }
        // --optimistic needs somewhere to write the key; --domain and --log-key exclude each
        // other; a log file excludes witness flags.
        for bad in [
            &[
                "cm",
                "publish",
                "--gateway",
                GW,
                "--request",
                "r",
                "--optimistic",
            ][..],
            &[
                "account",
                "binding",
                "--gateway",
                GW,
                "--account",
                "b",
                "--domain",
                "d",
                "--log-key",
                "k",
                "--out",
                "o",
            ],
            &[
                "log",
                "checkpoint",
                "--gateway",
                GW,
                "--log",
                "f",
                "--quorum",
                "1",
            ],
            &["cm", "fetch", "--gateway", GW, "--request", "r"],
        ] {
            let mut all = vec!["herald"];
            all.extend_from_slice(bad);
            assert!(parse(&all).is_err(), "{all:?}");
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        let base = ["herald", "log", "prove", "--gateway", GW, "--log-key", "k"];
        // Neither or both of --index and --leaf-hash.
        assert!(parse(&base).is_err());
        let mut both = base.to_vec();
        both.extend_from_slice(&["--index", "1", "--leaf-hash", "AAAA"]);
        assert!(parse(&both).is_err());
        let mut hash = base.to_vec();
        hash.extend_from_slice(&["--index", "1", "--hash", "md5"]);
        assert!(parse(&hash).is_err());
        let bad_addr = [
            "herald",
            "log",
            "checkpoint",
            "--gateway",
            "nope",
            "--log-key",
            "k",
        ];
        assert!(parse(&bad_addr).is_err());
        assert!(parse_leaf_hash("AAAA").is_err());
        // A quorum needs witnesses to count.
        let quorum_alone = [
            "herald",
            "log",
            "checkpoint",
            "--gateway",
            GW,
            "--log-key",
            "k",
            "--quorum",
            "1",
        ];
        assert!(parse(&quorum_alone).is_err());
        assert!(parse_leaf_hash(&BASE64.encode([7u8; 32])).is_ok());
    }

    #[test]
    fn usage_errors_exit_1_and_help_exits_0() {
        assert_eq!(
            main_with_args(["herald", "log", "nonsense"]),
            ExitCode::FAILURE
        );
        assert_eq!(main_with_args(["herald", "--help"]), ExitCode::SUCCESS);
    }

    #[test]
    fn a_notarization_is_of_the_file_digest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("doc.txt");
        std::fs::write(&file, b"contract v3").unwrap();
        let (request, author) = notarization(&file, "text/plain", "c", None, dir.path()).unwrap();
        assert_eq!(request.digest, *blake3::hash(b"contract v3").as_bytes());
        // The default key was created and is reused.
        let (_, again) = notarization(&file, "", "", None, dir.path()).unwrap();
        assert_eq!(author, again);
        assert!(notarization(&file, &"m".repeat(200), "", None, dir.path()).is_err());
    }
}
