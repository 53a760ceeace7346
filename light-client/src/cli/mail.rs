//! `herald send`, `herald inbox`, `herald read ID`, `herald outbox`: mail through the gateways
//! (DESIGN §3.2) over the session of `herald login`.
//!
//! The logs of the domains mail goes to and comes from are read from a trust directory
//! (`--trust-dir`, default `<state-dir>/trust`): the `<domain>.toml` files `herald log trust
//! --out` writes. A recipient's prekey and a sender's binding are verified against them; a domain
//! without a file is refused.
//!
//! Both `herald send` and `herald read` screen the mail's plaintext first (`--signatures`,
//! `--clamd`, `--quarantine-dir`: `super::screening`): the gateway's rule set and the scanners;
//! a mail that matches is not sent, or not shown, and is kept in the quarantine with its reason.
//!
//! `herald read` keeps the replay cache in `<state-dir>/mail-replay.json` (written atomically
//! before the mail is shown), writes attachments into `--out` if given, acknowledges the mail
//! (it is deleted at the gateway) unless `--keep`, and tops the prekeys up. Its one-time prekey's
//! secret is erased when it is opened: save what you need from its output.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use herald_light_client::scan::{Screened, Screening};
use herald_light_client::{DEFAULT_MAX_SKEW_SECS, DEFAULT_PREKEY_TARGET, LogTrust};
use herald_proto::certmail::Carried;
use herald_proto::paep::{Attachment, MailContent, ReplayCache};
use herald_proto::wire::{MAX_MAIL_PLAINTEXT_BYTES, pb};
use serde_json::json;

use super::args::KeyStoreArgs;
use super::cm::files::{read_bounded, read_trust, write_atomic};
use super::connection::{GatewayArgs, runtime};
use super::login::{hint, open_session};
use super::screening::ScanArgs;

/// The replay cache's file in the state directory.
const REPLAY_FILE: &str = "mail-replay.json";
/// Largest replay cache file read.
const MAX_REPLAY_FILE_BYTES: usize = 16 * 1024 * 1024;
/// Most trust files read from a directory.
const MAX_TRUST_FILES: usize = 1024;

/// Where the domains' logs are.
#[derive(Debug, Args)]
pub(super) struct TrustDirArgs {
    /// The directory of `<domain>.toml` log files (`herald log trust --out`) [default:
    /// <state-dir>/trust].
    #[arg(long, value_name = "DIR")]
    trust_dir: Option<PathBuf>,
}

/// `herald send`.
#[derive(Debug, Args)]
pub(super) struct SendArgs {
    #[command(flatten)]
    keys: KeyStoreArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
    #[command(flatten)]
    trust: TrustDirArgs,
    /// The recipient's address.
    #[arg(long, value_name = "ADDRESS")]
    to: String,
    /// The subject.
    #[arg(long, default_value = "")]
    subject: String,
    /// The file holding the body.
    #[arg(long, value_name = "FILE")]
    body_file: PathBuf,
    /// A file to attach (repeatable); its name, media type (by extension), size and hash are
    /// declared in the mail's manifest, inside the encryption.
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// Seconds the gateway keeps trying before it gives up [default: the gateway's].
    #[arg(long, value_name = "SECONDS")]
    expires_in: Option<u64>,
    #[command(flatten)]
    scan: ScanArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `herald inbox` and `herald outbox`.
#[derive(Debug, Args)]
pub(super) struct ListArgs {
    #[command(flatten)]
    keys: KeyStoreArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `herald read`.
#[derive(Debug, Args)]
pub(super) struct ReadArgs {
    #[command(flatten)]
    keys: KeyStoreArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
    #[command(flatten)]
    trust: TrustDirArgs,
    /// The mail's number in `herald inbox`.
    id: u64,
    /// Write the attachments into this directory (created if missing).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Leave the mail in the mailbox (it is deleted at the gateway by default).
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    scan: ScanArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn finish(result: anyhow::Result<()>, json: bool) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(hint) = hint(&e) {
                eprintln!("herald: {hint}");
            }
            super::report(&e, json)
        }
    }
}

/// Runs `herald send`.
pub(super) fn send(args: SendArgs) -> ExitCode {
    let json = args.json;
    finish(run_send(args), json)
}

/// Runs `herald inbox`.
pub(super) fn inbox(args: ListArgs) -> ExitCode {
    let json = args.json;
    finish(run_inbox(args), json)
}

/// Runs `herald outbox`.
pub(super) fn outbox(args: ListArgs) -> ExitCode {
    let json = args.json;
    finish(run_outbox(args), json)
}

/// Runs `herald read`.
pub(super) fn read(args: ReadArgs) -> ExitCode {
    let json = args.json;
    finish(run_read(args), json)
}

pub(super) fn trust_dir(args: &TrustDirArgs, keys: &KeyStoreArgs) -> anyhow::Result<PathBuf> {
    match &args.trust_dir {
        Some(d) => Ok(d.clone()),
        None => Ok(keys.state_dir()?.join("trust")),
    }
}

/// Every `*.toml` log file of the trust directory.
pub(super) fn read_trusts(dir: &Path) -> anyhow::Result<Vec<LogTrust>> {
    let mut trusts = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "reading the trust directory {} (herald log trust --out)",
            dir.display()
        )
    })?;
    for entry in entries.take(MAX_TRUST_FILES) {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            trusts.push(read_trust(&path)?);
        }
    }
    Ok(trusts)
}

fn media_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("txt") => "text/plain",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("html" | "htm") => "text/html",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn run_send(args: SendArgs) -> anyhow::Result<()> {
    let body = read_bounded(&args.body_file, MAX_MAIL_PLAINTEXT_BYTES, "body file")?;
    let mut attachments = Vec::new();
    for path in &args.attach {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable file name", path.display()))?
            .to_owned();
        attachments.push(Attachment {
            media_type: media_type(path).to_owned(),
            data: read_bounded(path, MAX_MAIL_PLAINTEXT_BYTES, "attachment")?,
            name,
        });
    }
    let plaintext = MailContent::build(&args.subject, &body, attachments)
        .context("the mail (at most 8 MiB with its attachments)")?;
    let trusts = read_trusts(&trust_dir(&args.trust, &args.keys)?)?;
    let scanners = args.scan.scanners()?;
    let quarantine = args.scan.quarantine(&args.keys)?;
    let (mut keys, mut session) = open_session(&args.keys)?;
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let msg_id = hex::encode(id);
    let expires_at = args.expires_in.map_or(0, |s| now().saturating_add(s));
    let accepted = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        let screening = Screening::of_gateway(&gateway, scanners, quarantine)
            .await
            .context("the gateway's rule set")?;
        if let Screened::Quarantined(q) = screening
            .screen(plaintext.clone(), format!("sent-{msg_id}"))
            .await?
        {
            anyhow::bail!(
                "not sent: {} (the mail is kept in {})",
                q.reason,
                q.path.display()
            );
        }
        anyhow::Ok(
            session
                .send_mail(
                    &gateway,
                    &mut keys,
                    &args.to,
                    &trusts,
                    msg_id.as_bytes(),
                    &plaintext,
                    expires_at,
                    now(),
                    DEFAULT_MAX_SKEW_SECS,
                )
                .await?,
        )
    })?;
    if args.json {
        let v = json!({ "msg_id": msg_id, "to": args.to, "expires_at": accepted.expires_at });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!("msg_id      {msg_id}");
        println!("to          {}", args.to);
        println!(
            "accepted    by your gateway (queued durably); it tries until {}",
            accepted.expires_at
        );
        println!("next        herald outbox shows whether it was delivered");
    }
    Ok(())
}

fn run_inbox(args: ListArgs) -> anyhow::Result<()> {
    let (_keys, mut session) = open_session(&args.keys)?;
    let inbox = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        anyhow::Ok(session.inbox(&gateway).await?)
    })?;
    if args.json {
        let entries: Vec<_> = inbox
            .entries
            .iter()
            .map(|e| json!({ "id": e.id, "msg_id": String::from_utf8_lossy(&e.msg_id), "sender": e.sender, "received_at": e.received_at, "size": e.size }))
            .collect();
        let v = json!({ "entries": entries, "truncated": inbox.truncated });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if inbox.entries.is_empty() {
        println!("no mail");
    } else {
        println!(
            "{:>6}  {:<12}  {:>8}  from (unverified until read)",
            "id", "received", "bytes"
        );
        for e in &inbox.entries {
            println!(
                "{:>6}  {:<12}  {:>8}  {}",
                e.id, e.received_at, e.size, e.sender
            );
        }
    }
    Ok(())
}

fn state_label(state: i32) -> &'static str {
    match pb::DeliveryState::try_from(state) {
        Ok(pb::DeliveryState::Queued) => "queued",
        Ok(pb::DeliveryState::Delivered) => "delivered",
        Ok(pb::DeliveryState::NotDelivered) => "NOT DELIVERED",
        _ => "unknown",
    }
}

fn run_outbox(args: ListArgs) -> anyhow::Result<()> {
    let (_keys, mut session) = open_session(&args.keys)?;
    let outbox = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        anyhow::Ok(session.outbox(&gateway).await?)
    })?;
    if args.json {
        let entries: Vec<_> = outbox
            .entries
            .iter()
            .map(|e| json!({ "msg_id": String::from_utf8_lossy(&e.msg_id), "recipient": e.recipient, "state": state_label(e.state), "reason": e.reason, "attempts": e.attempts, "updated_at": e.updated_at }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "entries": entries })).unwrap_or_default()
        );
    } else {
        for e in &outbox.entries {
            println!(
                "{}  {:<13}  {}  {}",
                String::from_utf8_lossy(&e.msg_id),
                state_label(e.state),
                e.recipient,
                e.reason
            );
        }
    }
    Ok(())
}

fn read_replay(path: &Path) -> anyhow::Result<ReplayCache> {
    if !path.exists() {
        return Ok(ReplayCache::new());
    }
    let bytes = read_bounded(path, MAX_REPLAY_FILE_BYTES, "replay cache")?;
    let entries: Vec<(String, u64)> = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a replay cache", path.display()))?;
    let mut decoded = Vec::with_capacity(entries.len());
    for (msg_id, id) in entries {
        decoded.push((hex::decode(&msg_id).context("a replay cache entry")?, id));
    }
    Ok(ReplayCache::from_entries(decoded))
}

fn write_replay(path: &Path, cache: &ReplayCache) -> anyhow::Result<()> {
    let entries: Vec<(String, u64)> = cache.entries().map(|(m, i)| (hex::encode(m), i)).collect();
    write_atomic(path, &serde_json::to_vec(&entries)?)?;
    Ok(())
}

fn run_read(args: ReadArgs) -> anyhow::Result<()> {
    // Certified mail read before is kept for `herald cm inbox`: shown again from there (it
    // cannot be opened twice).
    let state = args.keys.private_state_dir()?;
    if let Some(mail) = super::spool::take(&state, args.id)?
        && let Ok(Some(carried)) = Carried::in_plaintext(&mail.opened.plaintext)
    {
        print_certified(
            &mail,
            &carried,
            &super::spool::path(&state, args.id),
            args.json,
        );
        return Ok(());
    }
    let trusts = read_trusts(&trust_dir(&args.trust, &args.keys)?)?;
    let scanners = args.scan.scanners()?;
    let quarantine = args.scan.quarantine(&args.keys)?;
    let (mut keys, mut session) = open_session(&args.keys)?;
    let replay_path = args.keys.private_state_dir()?.join(REPLAY_FILE);
    let mut replay = read_replay(&replay_path)?;
    let (mail, screened, certified) = runtime()?.block_on(async {
        let gateway = args.gateway.connect().await?;
        let screening = Screening::of_gateway(&gateway, scanners, quarantine)
            .await
            .context("the gateway's rule set")?;
        let mail = session
            .read_mail(
                &gateway,
                &mut keys,
                args.id,
                &trusts,
                &mut replay,
                now(),
                DEFAULT_MAX_SKEW_SECS,
            )
            .await?;
        write_replay(&replay_path, &replay)?;
        if let Ok(Some(carried)) = Carried::in_plaintext(&mail.opened.plaintext) {
            // Certified mail is `herald cm inbox`'s to take: kept for it, not acknowledged (a
            // sealed letter shows nothing to screen; `cm inbox` takes it from the spool).
            let kept = super::spool::keep(&args.keys.private_state_dir()?, &mail)?;
            return anyhow::Ok((mail, Screened::Clean, Some((carried, kept))));
        }
        // Its prekey is erased now: a quarantined mail lives on only in the quarantine.
        let quarantine_id = format!(
            "received-{}",
            hex::encode(&blake3::hash(&mail.opened.msg_id).as_bytes()[..16])
        );
        let screened = screening
            .screen(mail.opened.plaintext.clone(), quarantine_id)
            .await?;
        if let (Some(dir), Screened::Clean) = (&args.out, &screened) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for a in &mail.content.attachments {
                // proto checked the name is a plain file name.
                write_atomic(&dir.join(&a.name), &a.data)?;
            }
        }
        if !args.keep {
            session.acknowledge_mail(&gateway, args.id).await?;
            if let Err(e) = session
                .top_up_prekeys(&gateway, &mut keys, DEFAULT_PREKEY_TARGET)
                .await
            {
                eprintln!("herald: warning: prekeys not topped up: {e}");
            }
        }
        anyhow::Ok((mail, screened, None))
    })?;
    if let Some((carried, kept)) = certified {
        print_certified(&mail, &carried, &kept, args.json);
        return Ok(());
    }
    if let Screened::Quarantined(q) = &screened {
        print_quarantined(&mail, q, args.json);
        return Ok(());
    }
    let body = String::from_utf8_lossy(&mail.content.body);
    if args.json {
        let attachments: Vec<_> = mail
            .content
            .attachments
            .iter()
            .map(|a| json!({ "name": a.name, "media_type": a.media_type, "size": a.size, "blake3": hex::encode(&a.hash) }))
            .collect();
        let v = read_json(
            &mail,
            String::from_utf8_lossy(&mail.opened.msg_id).into_owned(),
            json!({ "subject": mail.content.subject, "body": body, "attachments": attachments }),
        );
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_sender(&mail.opened.sender);
        println!("subject     {}", mail.content.subject);
        println!(
            "msg_id      {}",
            String::from_utf8_lossy(&mail.opened.msg_id)
        );
        for a in &mail.content.attachments {
            println!(
                "attachment  {} ({}, {} bytes, blake3 {})",
                a.name,
                a.media_type,
                a.size,
                hex::encode(&a.hash)
            );
        }
        println!();
        println!("{body}");
    }
    Ok(())
}

/// A read mail that was quarantined: who sent it and why it is not shown.
fn print_quarantined(
    mail: &herald_light_client::ReadMail,
    q: &herald_light_client::scan::Quarantined,
    json: bool,
) {
    if json {
        let v = read_json(
            mail,
            String::from_utf8_lossy(&mail.opened.msg_id).into_owned(),
            json!({ "quarantined": { "reason": q.reason.to_string(), "path": q.path.display().to_string() } }),
        );
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_sender(&mail.opened.sender);
        println!("QUARANTINED {}", q.reason);
        println!(
            "kept in     {} (not shown; its attachments were not written)",
            q.path.display()
        );
    }
}

/// What a certified-mail message is, in the CLI's words: its kind (as `herald cm inbox --json`
/// names it), a description, and the `herald cm` command that takes it.
fn certified_kind(carried: &Carried) -> (&'static str, &'static str, &'static str) {
    match carried {
        Carried::Sealed(_) => (
            "offered",
            "a sealed certified letter (step a): its key is published only when you ask for it",
            "`herald cm inbox` keeps it as an offer; then `herald cm ask --msg-id ID` asks for the key",
        ),
        Carried::Request(_) => (
            "request",
            "a request for the key of a certified letter you sent (step b)",
            "`herald cm inbox --offer X.toml --domain D.toml` accepts it and publishes the key",
        ),
        Carried::DirectKey(_) => (
            "direct-key",
            "the key of a certified letter, sent directly (optimistic)",
            "`herald cm inbox` opens the letter and mails the receipt back",
        ),
        Carried::Receipt(_) => (
            "receipt",
            "a receipt for the key of a certified letter you sent (optimistic)",
            "`herald cm inbox` takes it into your evidence",
        ),
    }
}

/// `herald read` of a mail that carries certified mail: what it is and which command takes it.
fn print_certified(
    mail: &herald_light_client::ReadMail,
    carried: &Carried,
    kept: &Path,
    json: bool,
) {
    let (kind, what, take_with) = certified_kind(carried);
    let msg_id = hex::encode(&mail.opened.msg_id);
    if json {
        let v = read_json(
            mail,
            msg_id,
            json!({ "certified": {
                "kind": kind,
                "what": what,
                "take_with": take_with,
                "kept_for_cm_inbox": kept,
            } }),
        );
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print_sender(&mail.opened.sender);
        println!("msg_id      {msg_id}");
        println!("certified   {what}");
        println!("take it     {take_with}");
        println!(
            "kept        {} (not taken, not deleted at the gateway: `herald cm inbox` takes it)",
            kept.display()
        );
    }
}

/// What every `herald read --json` answer starts with: the mail's number, its msg_id (as each
/// kind of mail shows it), the verified sender and where it came from; then `rest`'s fields.
fn read_json(
    mail: &herald_light_client::ReadMail,
    msg_id: String,
    rest: serde_json::Value,
) -> serde_json::Value {
    let mut v = json!({
        "id": mail.id,
        "msg_id": msg_id,
        "from": mail.opened.sender,
        "relayed_by": mail.from_domain,
        "received_at": mail.received_at,
    });
    if let (Some(fields), serde_json::Value::Object(rest)) = (v.as_object_mut(), rest) {
        fields.extend(rest);
    }
    v
}

/// The first line of every `herald read` text answer.
fn print_sender(sender: &str) {
    println!("from        {sender} (signature verified under the sender's proven binding)");
}
