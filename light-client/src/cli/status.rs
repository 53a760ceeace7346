//! `herald status MSG_ID`: the delivery status of a mail (DESIGN §3.4) as one gateway's log
//! proves it: each notary record with its index, leaf hash and audit path, in one checkpoint
//! cosigned as the domain log's witness policy requires. Ask the sender's gateway for
//! `ACCEPTANCE`, `NON_DELIVERY`, `EXPIRY`; the recipient's for `RELAY_ACCEPTED`, `CONSIGNMENT`,
//! `HANDOVER`. With the mail's salt and addresses, each record's commitments are opened too.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use herald_light_client::{ClientError, FileCheckpointStore, TrustedLog};
use herald_proto::entry::MailParties;
use herald_proto::evidence::DeliveryStatus;
use herald_proto::note::b64;
use herald_proto::wire::MAX_MSG_ID_BYTES;
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

fn run(args: StatusArgs) -> anyhow::Result<()> {
    let msg_id = msg_id(&args.msg_id)?;
    let parties = parties(&args)?;
    let trust = read_trust(&args.domain)?;
    let store = FileCheckpointStore::new(state_dir(&args)?.join("checkpoints"));
    let status: DeliveryStatus = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        let mut log = TrustedLog::open(gateway, trust, store)?;
        let until = super::cm::when::now()?.saturating_add(args.poll_for);
        loop {
            match log.delivery_status(&msg_id).await {
                Err(ClientError::Refused(r))
                    if super::cm::when::now()? < until
                        && r.kind == herald_proto::wire::pb::ClientErrorKind::Pending =>
                {
                    let pause = r
                        .retry_after
                        .unwrap_or(Duration::from_millis(200))
                        .clamp(Duration::from_millis(100), Duration::from_secs(5));
                    tokio::time::sleep(pause).await;
                }
                result => break anyhow::Ok(result?),
            }
        }
    })?;
    print(&status, parties.as_ref(), args.json);
    Ok(())
}

fn print(status: &DeliveryStatus, parties: Option<&MailParties>, json: bool) {
    let checkpoint = status.checkpoint.checkpoint();
    let opens = |r: &herald_proto::entry::EvidenceRecord| parties.map(|p| p.open(r));
    if json {
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
                    "opens": opens(&r.record),
                })
            })
            .collect();
        let v = json!({
            "msg_id": b64(&status.msg_id),
            "origin": checkpoint.origin(),
            "checkpoint_size": checkpoint.size(),
            "checkpoint_root": b64(checkpoint.root()),
            "cosignatures": checkpoint.cosignatures().len(),
            "checkpoint": checkpoint.note(),
            "records": records,
            "pending": status.pending,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
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
