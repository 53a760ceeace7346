//! `herald status MSG_ID`: the delivery status of a mail (DESIGN §3.4) as one gateway's log
//! proves it: each notary record with its index, leaf hash and audit path, in one checkpoint
//! cosigned as the domain log's witness policy requires. Ask the sender's gateway for
//! `ACCEPTANCE`, `NON_DELIVERY`, `EXPIRY`; the recipient's for `RELAY_ACCEPTED`, `CONSIGNMENT`,
//! `HANDOVER`. With the mail's salt and addresses, each record's commitments are opened too.
//!
//! With `--to`, one command prints both timelines through the one gateway the client reaches:
//! its own gateway's records, then the recipient domain's, which the gateway asks its peer for
//! and passes on unchanged, signed by the peer over this client's nonce; they are checked
//! against the recipient domain's log file from the trust directory, never on the passing
//! gateway's word (`herald_light_client::delivery_status_through`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use herald_light_client::{
    ClientError, FileCheckpointStore, LogTrust, TrustedLog, delivery_status_through,
};
use herald_proto::entry::MailParties;
use herald_proto::evidence::{DeliveryStatus, RelayedStatus};
use herald_proto::note::b64;
use herald_proto::wire::MAX_MSG_ID_BYTES;
use herald_proto::wire::client::MAX_DOMAIN_BYTES;
use serde_json::json;

use super::cm::files::read_trust;
use super::connection::{GatewayArgs, runtime};

/// Exit statuses of `herald status`.
pub(super) const STATUS_EXIT_STATUS: &str = "\
Exit status:
  0  the records printed were each verified (included, signed by the log's key, cosigned)
  1  failure: bad arguments, local files, the network, or the gateway's refusal (NOT_FOUND:
     no record of this msg_id; PENDING: not cosigned yet, after --poll-for)
  2  REFUSED: the gateway's answer did not verify (the evidence is printed; nothing trusted)";

/// `herald status`.
#[derive(Debug, Args)]
pub(super) struct StatusArgs {
    /// The mail's msg_id: its bytes as UTF-8, or `b64:` and the bytes in base64. 1 to 64 bytes.
    #[arg(value_name = "MSG_ID")]
    msg_id: String,
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The gateway's domain log as a log file (as `herald log trust` writes).
    #[arg(long, value_name = "FILE")]
    domain: PathBuf,
    /// The mail's salt (base64, 32 bytes), to open the records' address commitments.
    #[arg(long, value_name = "B64", requires_all = ["sender", "recipient"])]
    salt: Option<String>,
    /// The mail's sender, with --salt.
    #[arg(long, value_name = "ADDR", requires = "salt")]
    sender: Option<String>,
    /// The mail's recipient, with --salt.
    #[arg(long, value_name = "ADDR", requires = "salt")]
    recipient: Option<String>,
    /// Also the recipient domain's records (an address or a domain), asked through --gateway
    /// and verified against <trust-dir>/<DOMAIN>.toml.
    #[arg(long, value_name = "ADDR|DOMAIN")]
    to: Option<String>,
    /// The directory of `<domain>.toml` log files (`herald log trust --out`), with --to
    /// [default: <state-dir>/trust].
    #[arg(long, value_name = "DIR", requires = "to")]
    trust_dir: Option<PathBuf>,
    /// How long to keep asking while no record is cosigned yet (PENDING), seconds.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    poll_for: u64,
    /// Where trusted checkpoints live [default: $HERALD_HOME or ~/.herald].
    #[arg(long, env = "HERALD_HOME", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Print one JSON object (bytes in base64).
    #[arg(long)]
    json: bool,
}

/// Runs `herald status`.
pub(super) fn status(args: StatusArgs) -> ExitCode {
    let json = args.json;
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::report(&e, json),
    }
}

/// The msg_id argument's bytes.
fn msg_id(arg: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = match arg.strip_prefix("b64:") {
        Some(encoded) => BASE64
            .decode(encoded)
            .context("MSG_ID after b64: is not base64")?,
        None => arg.as_bytes().to_vec(),
    };
    if bytes.is_empty() || bytes.len() > MAX_MSG_ID_BYTES {
        bail!(
            "MSG_ID is {} bytes; a msg_id is 1 to {MAX_MSG_ID_BYTES}",
            bytes.len()
        );
    }
    Ok(bytes)
}

fn parties(args: &StatusArgs) -> anyhow::Result<Option<MailParties>> {
    let (Some(salt), Some(sender), Some(recipient)) = (&args.salt, &args.sender, &args.recipient)
    else {
        return Ok(None);
    };
    let salt: [u8; 32] = BASE64
        .decode(salt)
        .ok()
        .and_then(|s| s.try_into().ok())
        .context("--salt is not 32 bytes of base64")?;
    Ok(Some(
        MailParties::new(salt, sender, recipient).context("--sender/--recipient")?,
    ))
}

fn state_dir(args: &StatusArgs) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.state_dir {
        return Ok(dir.clone());
    }
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => Ok(PathBuf::from(home).join(".herald")),
        _ => bail!("no state directory: pass --state-dir or set HERALD_HOME or HOME"),
    }
}

/// The recipient domain named by `--to` (an address's domain, or a domain), in bounds.
fn to_domain(to: &str) -> anyhow::Result<String> {
    let domain = to.rsplit_once('@').map_or(to, |(_, d)| d);
    if domain.is_empty()
        || domain.len() > MAX_DOMAIN_BYTES
        || !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        bail!("--to: {to:?} names no domain (1 to {MAX_DOMAIN_BYTES} letters, digits, '-', '.')");
    }
    Ok(domain.to_ascii_lowercase())
}

/// The recipient domain's log from the trust directory, which must describe that domain's log.
fn peer_log(args: &StatusArgs, domain: &str) -> anyhow::Result<LogTrust> {
    let dir = match &args.trust_dir {
        Some(d) => d.clone(),
        None => state_dir(args)?.join("trust"),
    };
    let trust = read_trust(&dir.join(format!("{domain}.toml")))?;
    let origin = format!("{domain}/herald");
    if !trust.origin().eq_ignore_ascii_case(&origin) {
        bail!(
            "the log file for {domain} describes the log {}, not {origin}",
            trust.origin()
        );
    }
    Ok(trust)
}

/// How long to wait before asking again, if `result` is a PENDING refusal and `until` has not
/// passed; `None`: the result stands.
fn retry_pause<T>(result: &Result<T, ClientError>, until: u64) -> Option<Duration> {
    use herald_proto::wire::pb::ClientErrorKind;
    match result {
        Err(ClientError::Refused(r))
            if super::cm::when::now().is_ok_and(|now| now < until)
                && r.kind == ClientErrorKind::Pending =>
        {
            Some(
                r.retry_after
                    .unwrap_or(Duration::from_millis(200))
                    .clamp(Duration::from_millis(100), Duration::from_secs(5)),
            )
        }
        _ => None,
    }
}

/// The wait between two questions while the recipient's gateway answers (signed) that it
/// has nothing proven of the mail yet.
const UNPROVEN_PAUSE: Duration = Duration::from_millis(250);

/// The recipient domain's last answer through the gateway: its records, or why there are
/// none — its own signed word (nothing logged, or not yet cosigned) or the passing gateway's
/// refusal.
fn relayed_outcome(
    result: Result<RelayedStatus, ClientError>,
    domain: &str,
) -> anyhow::Result<DeliveryStatus> {
    match result {
        Ok(RelayedStatus::Found(status)) => Ok(*status),
        Ok(RelayedStatus::NotFound) => {
            bail!("{domain}'s gateway answered (signed) that it has logged no record of this mail")
        }
        Ok(RelayedStatus::Pending { pending }) => bail!(
            "{domain}'s gateway answered (signed) that {pending} record(s) of this mail are logged but not yet in a cosigned checkpoint"
        ),
        Err(e) => Err(anyhow::Error::from(e)).with_context(|| {
            format!(
                "{domain}'s records, asked through the gateway (a refusal is its word, not verified)"
            )
        }),
    }
}

fn run(args: StatusArgs) -> anyhow::Result<()> {
    let msg_id = msg_id(&args.msg_id)?;
    let parties = parties(&args)?;
    let peer = match &args.to {
        Some(to) => {
            let domain = to_domain(to)?;
            let log = peer_log(&args, &domain)?;
            Some((domain, log))
        }
        None => None,
    };
    let trust = read_trust(&args.domain)?;
    let store = FileCheckpointStore::new(state_dir(&args)?.join("checkpoints"));
    let (own, theirs) = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        let until = super::cm::when::now()?.saturating_add(args.poll_for);
        let mut log = TrustedLog::open(&gateway, trust, store)?;
        let own = loop {
            let result = log.delivery_status(&msg_id).await;
            match retry_pause(&result, until) {
                Some(pause) => tokio::time::sleep(pause).await,
                None => break result.map_err(anyhow::Error::from),
            }
        };
        let theirs = match &peer {
            None => None,
            Some((domain, peer_log)) => Some(loop {
                let now = super::cm::when::now()?;
                let result =
                    delivery_status_through(&gateway, domain, peer_log, &msg_id, now).await;
                // A relay may not have reached the recipient's gateway yet, or its records
                // may wait for a cosigned checkpoint: ask again until `until`.
                let pause = match &result {
                    Ok(RelayedStatus::Found(_)) => None,
                    Ok(_) => (now < until).then_some(UNPROVEN_PAUSE),
                    Err(_) => retry_pause(&result, until),
                };
                match pause {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => break relayed_outcome(result, domain),
                }
            }),
        };
        anyhow::Ok((own, theirs))
    })?;
    let Some(theirs) = theirs else {
        let own = own?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&to_json(&own, parties.as_ref())).unwrap_or_default()
            );
        } else {
            print_text(&own, parties.as_ref());
        }
        return Ok(());
    };
    match (own, theirs) {
        (Ok(own), Ok(theirs)) => {
            if args.json {
                let v = json!({
                    "msg_id": b64(&msg_id),
                    "sender_gateway": to_json(&own, parties.as_ref()),
                    "recipient_gateway": to_json(&theirs, parties.as_ref()),
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!("sender's gateway (its own log):");
                print_text(&own, parties.as_ref());
                println!("recipient's gateway (its log, passed on unchanged, signed by it):");
                print_text(&theirs, parties.as_ref());
            }
            Ok(())
        }
        // What verified is printed (text only); the first failure is the command's.
        (own, theirs) => {
            if !args.json {
                for (heading, side) in [
                    ("sender's gateway (its own log):", &own),
                    (
                        "recipient's gateway (its log, passed on unchanged, signed by it):",
                        &theirs,
                    ),
                ] {
                    if let Ok(status) = side {
                        println!("{heading}");
                        print_text(status, parties.as_ref());
                    }
                }
            }
            own.and(theirs).map(drop)
        }
    }
}

fn to_json(status: &DeliveryStatus, parties: Option<&MailParties>) -> serde_json::Value {
    let checkpoint = status.checkpoint.checkpoint();
    let records: Vec<_> = status
        .records
        .iter()
        .map(|r| {
            json!({
                "kind": r.record.kind.as_str_name(),
                "time": r.record.time,
                "reason": r.record.reason,
                "index": r.index,
                "leaf_hash": b64(&r.leaf_hash),
                "audit_path": r.path.iter().map(|h| b64(h)).collect::<Vec<_>>(),
                "sender_commitment": b64(&r.record.sender_commitment),
                "recipient_commitment": b64(&r.record.recipient_commitment),
                "opens": parties.map(|p| p.open(&r.record)),
            })
        })
        .collect();
    json!({
        "msg_id": b64(&status.msg_id),
        "origin": checkpoint.origin(),
        "checkpoint_size": checkpoint.size(),
        "checkpoint_root": b64(checkpoint.root()),
        "cosignatures": checkpoint.cosignatures().len(),
        "checkpoint": checkpoint.note(),
        "records": records,
        "pending": status.pending,
    })
}

fn print_text(status: &DeliveryStatus, parties: Option<&MailParties>) {
    let checkpoint = status.checkpoint.checkpoint();
    let opens = |r: &herald_proto::entry::EvidenceRecord| parties.map(|p| p.open(r));
    println!(
        "mail {} at {}: {} record(s), each proved in the checkpoint of size {} (root {}) cosigned by {} witness(es)",
        String::from_utf8_lossy(&status.msg_id).escape_debug(),
        checkpoint.origin(),
        status.records.len(),
        checkpoint.size(),
        b64(checkpoint.root()),
        checkpoint.cosignatures().len()
    );
    for r in &status.records {
        let reason = if r.record.reason.is_empty() {
            String::new()
        } else {
            format!("  \"{}\"", r.record.reason.escape_debug())
        };
        let opened = match opens(&r.record) {
            Some(true) => "  (commitments open to the given sender and recipient)",
            Some(false) => "  (commitments do NOT open to the given sender and recipient)",
            None => "",
        };
        println!(
            "  {:>10}  {:<14} index {:>8}  leaf {}  path {} hash(es){reason}{opened}",
            r.record.time,
            r.record
                .kind
                .as_str_name()
                .trim_start_matches("EVIDENCE_KIND_"),
            r.index,
            b64(&r.leaf_hash),
            r.path.len()
        );
    }
    if status.pending > 0 {
        println!(
            "  and {} record(s) logged after this checkpoint (the gateway's word; ask again once cosigned)",
            status.pending
        );
    }
}
