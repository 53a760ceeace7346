//! The default `herald cm` flow, certified mail carried as mail through the gateways (issue 12
//! §4): `mail` (A, step (a)), `inbox` (both: take what arrived), `ask` (B, step (b)); then
//! `fetch --req-hash` (B, step (d)) and `evidence --msg-id`. Nothing passes between the
//! parties by hand: each message is a mail over the session of `herald login`, checked by the
//! library ([`herald_light_client::certmail::CertMail::take_mailed`]).
//!
//! `inbox` reads every mail of the mailbox (a mail can be read once: its one-time prekey is
//! erased). Certified mail is taken: a sealed letter is kept as an offer; a key request is
//! accepted under the sender's terms given (`--offer`, `--domain`, ...; without `--offer` it is
//! refused) and the key published at once through `--gateway` (X must be that gateway's log),
//! or with `--optimistic` sent back directly; a direct key is opened, the letter written to
//! `--out-dir` and the receipt mailed back; a receipt finishes the evidence. A plain mail that
//! `inbox` meets is saved, as its encoded content, to `<state-dir>/mail-saved/` (read it with
//! `herald read` next time is not possible: its prekey is erased).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use herald_light_client::certmail::{
    Arrival, CertMail, DirRecordStore, Letter, MailRoute, RequestTerms, SenderStep, hex_name,
};
use herald_light_client::{DEFAULT_MAX_SKEW_SECS, FileSessionStore, Session};
use herald_proto::note::b64;
use herald_proto::paep::ReplayCache;
use herald_proto::wire::MAX_CM_PLAINTEXT_BYTES;
use serde_json::{Value, json};

use super::files::read_bounded;
use super::steps::{Mail, print, rng, sender_terms, write};
use super::when::{now, parse_time};
use super::{CmCommand, ExpectArgs, LocationArgs, Output, PolicyArgs};
use crate::cli::args::KeyStoreArgs;
use crate::cli::connection::{GatewayArgs, runtime};
use crate::cli::mail::{TrustDirArgs, read_trusts, trust_dir};

/// Runs the by-mail commands of `herald cm`.
pub(super) fn run(command: CmCommand) -> anyhow::Result<()> {
    match command {
        CmCommand::Mail {
            keys,
            gateway,
            trust,
            to,
            file,
            unsigned,
            resend,
            output,
        } => match (resend, to, file) {
            (Some(id), _, _) => resend_mail(&keys, &gateway, &trust, &id, &output),
            (None, Some(to), Some(file)) => {
                mail(&keys, &gateway, &trust, &to, &file, unsigned, &output)
            }
            _ => bail!("give --to ADDR and FILE, or --resend MSG_ID"),
        },
        CmCommand::Inbox {
            keys,
            gateway,
            trust,
            policy,
            optimistic,
            out_dir,
            poll_for,
            output,
        } => inbox(InboxArgs {
            keys: &keys,
            gateway: &gateway,
            trust: &trust,
            policy: &policy,
            optimistic,
            out_dir: out_dir.as_ref(),
            poll_for,
            output: &output,
        }),
        CmCommand::Ask {
            keys,
            gateway,
            trust,
            msg_id,
            deadline,
            location,
            expect,
            output,
        } => ask(AskArgs {
            keys: &keys,
            gateway: &gateway,
            trust: &trust,
            msg_id: &msg_id,
            deadline: &deadline,
            location: &location,
            expect: &expect,
            output: &output,
        }),
        _ => bail!("not a by-mail command"),
    }
}

/// The account's certified mail and its live session, over one key store.
fn open_mailed(args: &KeyStoreArgs) -> anyhow::Result<(Mail, Session<FileSessionStore>)> {
    let (keys, session) = crate::cli::login::open_session(args)?;
    let records = DirRecordStore::new(args.private_state_dir()?.join("certmail"));
    Ok((CertMail::new(keys, records), session))
}

/// `herald cm mail`: step (a) by mail.
pub(super) fn mail(
    keys: &KeyStoreArgs,
    gateway: &GatewayArgs,
    trust: &TrustDirArgs,
    to: &str,
    file: &Path,
    unsigned: bool,
    output: &Output,
) -> anyhow::Result<()> {
    let plaintext = read_bounded(file, MAX_CM_PLAINTEXT_BYTES, "message")?;
    let trusts = read_trusts(&trust_dir(trust, keys)?)?;
    let (mut mail, mut session) = open_mailed(keys)?;
    let letter = Letter {
        recipient: to.to_owned(),
        plaintext,
        sign: !unsigned,
    };
    let msg_id = runtime()?.block_on(async {
        let client = gateway.connect().await?;
        let mut route = MailRoute {
            session: &mut session,
            gateway: &client,
            trusts: &trusts,
            max_skew: DEFAULT_MAX_SKEW_SECS,
        };
        anyhow::Ok(
            mail.send_by_mail(&mut route, letter, now()?, &mut rng())
                .await?,
        )
    })?;
    let id = hex_name(&msg_id);
    print(
        output.json,
        json!({ "msg_id": b64(&msg_id), "id": id, "to": to, "mailed": true }),
        &[
            format!("msg_id   {id}"),
            format!("mailed   sealed for {to}, handed to your gateway"),
            "next     `herald cm inbox` takes the recipient's key request when it comes; `herald status` shows the delivery".into(),
        ],
    );
    Ok(())
}

/// `herald cm mail --resend MSG_ID`: step (a) again, the same sealed letter (see
/// `CertMail::resend_by_mail`).
fn resend_mail(
    keys: &KeyStoreArgs,
    gateway: &GatewayArgs,
    trust: &TrustDirArgs,
    id: &str,
    output: &Output,
) -> anyhow::Result<()> {
    let msg_id = hex::decode(id)
        .ok()
        .filter(|m| !m.is_empty() && m.len() <= herald_proto::wire::MAX_MSG_ID_BYTES)
        .with_context(|| format!("--resend {id:?} is not a msg_id in hex"))?;
    let trusts = read_trusts(&trust_dir(trust, keys)?)?;
    let (mut mail, mut session) = open_mailed(keys)?;
    let to = runtime()?.block_on(async {
        let client = gateway.connect().await?;
        let mut route = MailRoute {
            session: &mut session,
            gateway: &client,
            trusts: &trusts,
            max_skew: DEFAULT_MAX_SKEW_SECS,
        };
        anyhow::Ok(mail.resend_by_mail(&mut route, &msg_id, now()?).await?)
    })?;
    let id = hex_name(&msg_id);
    print(
        output.json,
        json!({ "msg_id": b64(&msg_id), "id": id, "to": to, "mailed": true, "resent": true }),
        &[
            format!("msg_id   {id}"),
            format!("mailed   the same sealed letter for {to}, handed to your gateway again (taken once)"),
            "next     `herald cm inbox` takes the recipient's key request when it comes; `herald status` shows the delivery".into(),
        ],
    );
    Ok(())
}

/// What `herald cm inbox` is told.
pub(super) struct InboxArgs<'a> {
    pub keys: &'a KeyStoreArgs,
    pub gateway: &'a GatewayArgs,
    pub trust: &'a TrustDirArgs,
    pub policy: &'a PolicyArgs,
    pub optimistic: bool,
    pub out_dir: Option<&'a PathBuf>,
    pub poll_for: u64,
    pub output: &'a Output,
}

/// `herald cm inbox`: takes every mail of the mailbox (module docs).
pub(super) fn inbox(args: InboxArgs<'_>) -> anyhow::Result<()> {
    let trusts = read_trusts(&trust_dir(args.trust, args.keys)?)?;
    let (mut mail, mut session) = open_mailed(args.keys)?;
    let terms = if args.policy.offer.is_empty() {
        None
    } else {
        Some(sender_terms(args.policy, args.optimistic)?.1)
    };
    let state = args.keys.private_state_dir()?;
    let letters = args
        .out_dir
        .cloned()
        .unwrap_or_else(|| state.join("letters"));
    let saved = state.join("mail-saved");
    // Made before any mail is read: what is read is deleted at the gateway once taken, and
    // the letter or mail must have somewhere to go.
    for dir in [&letters, &saved] {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut lines = Vec::new();
    let mut items = Vec::new();
    let mut to_publish = Vec::new();
    let arrivals = runtime()?.block_on(async {
        let client = args.gateway.connect().await?;
        let listed = session.inbox(&client).await?;
        let mut route = MailRoute {
            session: &mut session,
            gateway: &client,
            trusts: &trusts,
            max_skew: DEFAULT_MAX_SKEW_SECS,
        };
        // The replay cache of these reads: a mail read here is acknowledged, so a replay of it
        // would need a new envelope, which proto's msg_id check per sender refuses.
        let mut replay = ReplayCache::new();
        let mut arrivals = Vec::new();
        for entry in &listed.entries {
            // A mail `herald read` opened and kept for us is taken from the spool: it cannot be
            // opened again.
            let spooled = crate::cli::spool::take(&state, entry.id)?;
            let from_spool = spooled.is_some();
            let arrival = match spooled {
                Some(opened) => {
                    mail.take_opened(&mut route, opened, terms.as_ref(), now()?, &mut rng())
                        .await
                }
                None => {
                    mail.take_mailed(
                        &mut route,
                        entry.id,
                        &mut replay,
                        terms.as_ref(),
                        now()?,
                        &mut rng(),
                    )
                    .await
                }
            };

            match arrival {
                Ok(Arrival::Plain(m)) => {
                    // Kept before it is deleted at the gateway: it cannot be read again.
                    let path = saved.join(format!("{}.mail", entry.id));
                    write(&path, &m.opened.plaintext)?;
                    route
                        .session
                        .acknowledge_mail(route.gateway, entry.id)
                        .await?;
                    arrivals.push((entry.id, Ok(Arrival::Plain(m)), Some(path)));
                }
                Ok(Arrival::Opened { id, opened }) => {
                    // M is written before the mail is deleted at the gateway.
                    let path = letters.join(format!("{}.letter", hex_name(&opened.req_hash)));
                    write(&path, &opened.plaintext)?;
                    route.session.acknowledge_mail(route.gateway, id).await?;
                    arrivals.push((entry.id, Ok(Arrival::Opened { id, opened }), Some(path)));
                }
                other => arrivals.push((entry.id, other, None)),
            }
            if from_spool && arrivals.last().is_some_and(|(_, a, _)| a.is_ok()) {
                // Taken, kept where it belongs and acknowledged at the gateway.
                crate::cli::spool::remove(&state, entry.id)?;
            }
        }
        anyhow::Ok(arrivals)
    })?;
    let mut failure = None;
    for (id, arrival, path) in arrivals {
        match arrival {
            Ok(Arrival::Plain(m)) => {
                let path = path.unwrap_or_default();
                lines.push(format!(
                    "mail {id:<4} plain mail from {} ({:?}), saved to {}",
                    m.opened.sender,
                    m.content.subject,
                    path.display()
                ));
                items.push(
                    json!({ "id": id, "kind": "plain", "from": m.opened.sender, "saved": path }),
                );
            }
            Ok(Arrival::Offered {
                msg_id,
                sender,
                ciphertext_bytes,
            }) => {
                let hex = hex_name(&msg_id);
                lines.push(format!(
                    "mail {id:<4} certified letter {hex} from {sender} ({ciphertext_bytes} bytes sealed): `herald cm ask --msg-id {hex}` asks for its key"
                ));
                items.push(json!({ "id": id, "kind": "offered", "msg_id": hex, "from": sender }));
            }
            Ok(Arrival::Accepted { msg_id, steps }) => {
                let hex = hex_name(&msg_id);
                lines.push(format!("mail {id:<4} key request for {hex}: accepted"));
                items.push(json!({ "id": id, "kind": "request", "msg_id": hex }));
                if SenderStep::publication_in(&steps).is_some() {
                    to_publish.push(msg_id);
                } else if SenderStep::direct_key_in(&steps).is_some() {
                    lines.push("          (optimistic) the key went back by mail; `herald cm wait` publishes if no receipt comes".into());
                }
            }
            Ok(Arrival::Opened { opened, .. }) => {
                let hex = hex_name(&opened.req_hash);
                let path = path.unwrap_or_default();
                mail.forget_request(&opened.req_hash)?;
                lines.push(format!(
                    "mail {id:<4} the key of request {hex}: letter opened ({} bytes, key checked against c_K), written to {}; receipt mailed",
                    opened.plaintext.len(),
                    path.display()
                ));
                items.push(json!({ "id": id, "kind": "direct-key", "req_hash": hex, "letter": path, "expectation_met": opened.expectation_met }));
            }
            Ok(Arrival::Receipt(steps)) => {
                lines.push(format!("mail {id:<4} receipt:"));
                let done = SenderStep::evidence_in(&steps).is_some();
                items.push(json!({ "id": id, "kind": "receipt", "evidence": done }));
                if done {
                    lines.push("          delivery is proven by the receipt; `herald cm evidence` writes the bundle".into());
                }
            }
            Ok(Arrival::Refused {
                sender,
                what,
                error,
            }) => {
                lines.push(format!(
                    "mail {id:<4} REFUSED {what} from {sender}: {error}"
                ));
                items.push(json!({ "id": id, "kind": "refused", "what": what, "from": sender, "reason": error.to_string() }));
            }
            Err(e) => {
                lines.push(format!("mail {id:<4} not taken (left in the mailbox): {e}"));
                items.push(json!({ "id": id, "kind": "error", "error": e.to_string() }));
                failure.get_or_insert(e);
            }
        }
    }
    if items.is_empty() {
        lines.push("no mail".into());
    }
    print(args.output.json, json!({ "mail": items }), &lines);
    for msg_id in to_publish {
        super::network::publish(
            &mut mail,
            args.keys,
            args.gateway,
            &msg_id,
            args.poll_for,
            args.output.json,
        )?;
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// What `herald cm ask` is told.
pub(super) struct AskArgs<'a> {
    pub keys: &'a KeyStoreArgs,
    pub gateway: &'a GatewayArgs,
    pub trust: &'a TrustDirArgs,
    pub msg_id: &'a str,
    pub deadline: &'a str,
    pub location: &'a LocationArgs,
    pub expect: &'a ExpectArgs,
    pub output: &'a Output,
}

/// `herald cm ask`: step (b) by mail for an offered letter.
pub(super) fn ask(args: AskArgs<'_>) -> anyhow::Result<()> {
    let msg_id = hex::decode(args.msg_id.trim()).context("--msg-id is not hex")?;
    let now = now()?;
    let deadline = parse_time(args.deadline, now).context("--deadline")?;
    let terms = RequestTerms {
        deadline,
        location: super::steps::location_of(args.location)?,
        expect: super::steps::expectation(args.expect)?,
    };
    let trusts = read_trusts(&trust_dir(args.trust, args.keys)?)?;
    let (mut mail, mut session) = open_mailed(args.keys)?;
    let made = runtime()?.block_on(async {
        let client = args.gateway.connect().await?;
        let mut route = MailRoute {
            session: &mut session,
            gateway: &client,
            trusts: &trusts,
            max_skew: DEFAULT_MAX_SKEW_SECS,
        };
        anyhow::Ok(
            mail.request_by_mail(&mut route, &msg_id, terms, now, &mut rng())
                .await?,
        )
    })?;
    let id = hex_name(&made.req_hash);
    let value: Value = json!({
        "req_hash": b64(&made.req_hash),
        "id": id,
        "location": made.origin,
        "deadline": deadline,
        "undelivered_after": made.wake_at,
        "mailed": true,
    });
    print(
        args.output.json,
        value,
        &[
            format!("req_hash  {id}"),
            format!("location  {}, deadline {deadline}", made.origin),
            "mailed    the signed request, to the sender".into(),
            format!(
                "next      `herald cm fetch --req-hash {id}` at X's gateway, or `herald cm inbox` for a key sent directly"
            ),
        ],
    );
    Ok(())
}
