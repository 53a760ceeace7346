//! The `herald cm` commands: read the input files, run one step of the driver, write the
//! output files, print what happened.

use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald_light_client::certmail::{
    BindingMaterial, CertMail, DirRecordStore, Letter, MAX_INCLUDED_LEAF_BYTES, RecipientStatus,
    RequestTerms, SenderConfig, SenderPolicy, SenderStatus, SenderStep, decode_included_leaf,
    decode_request, hex_name,
};
use herald_light_client::keystore::{FileKeyStore, SecureKeyStore as _};
use herald_proto::certmail::Expectation;
use herald_proto::note::b64;
use herald_proto::wire::{
    MAX_CM_PLAINTEXT_BYTES, MAX_DIRECT_KEY_BYTES, MAX_KEY_REQUEST_BYTES, MAX_MEDIA_TYPE_BYTES,
    MAX_RECEIPT_BYTES, MAX_SEALED_MESSAGE_BYTES,
};
use serde_json::{Value, json};

use super::files::{LogDescription, read_bounded, read_location, read_trust, write_atomic};
use super::when::{now, parse_time};
use super::{CmCommand, ExpectArgs, LocationArgs, PolicyArgs};
use crate::cli::args::KeyStoreArgs;

pub(super) type Mail = CertMail<FileKeyStore, DirRecordStore>;

pub(super) fn open(keys: &KeyStoreArgs) -> anyhow::Result<Mail> {
    let store = keys.open()?;
    let records = DirRecordStore::new(keys.private_state_dir()?.join("certmail"));
    Ok(CertMail::new(store, records))
}

pub(super) fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

pub(super) fn print(json: bool, value: Value, lines: &[String]) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        for line in lines {
            println!("{line}");
        }
    }
}

pub(super) fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(write_atomic(path, bytes)?)
}

pub(super) fn run(command: CmCommand) -> anyhow::Result<()> {
    match command {
        CmCommand::Send {
            keys,
            to,
            file,
            out,
            unsigned,
            output,
        } => {
            let plaintext = read_bounded(&file, MAX_CM_PLAINTEXT_BYTES, "message")?;
            let mut mail = open(&keys)?;
            let letter = Letter {
                recipient: to.clone(),
                plaintext,
                sign: !unsigned,
            };
            let (msg_id, steps) = mail.send(letter, &mut rng())?;
            for step in steps {
                if let SenderStep::SendSealed(bytes) = step {
                    write(&out, &bytes)?;
                }
            }
            let id = hex_name(&msg_id);
            print(
                output.json,
                json!({ "id": id, "msg_id": b64(&msg_id), "to": to, "out": out }),
                &[
                    format!("msg_id   {id}"),
                    format!("sealed   for {to}, written to {}", out.display()),
                    "next     give it to the recipient; take the key request with `herald cm accept`".into(),
                ],
            );
        }
        CmCommand::Request {
            keys,
            input,
            deadline,
            location,
            expect,
            out,
            output,
        } => {
            let sealed = read_bounded(&input, MAX_SEALED_MESSAGE_BYTES, "sealed message")?;
            let now = now()?;
            let deadline = parse_time(&deadline, now).context("--deadline")?;
            let terms = RequestTerms {
                deadline,
                location: location_of(&location)?,
                expect: expectation(&expect)?,
            };
            let mut mail = open(&keys)?;
            let made = mail.request(&sealed, terms, now, &mut rng())?;
            write(&out, &made.request)?;
            let id = hex_name(&made.req_hash);
            print(
                output.json,
                json!({
                    "req_hash": b64(&made.req_hash),
                    "id": id,
                    "location": made.origin,
                    "deadline": deadline,
                    "undelivered_after": made.wake_at,
                    "sender_key": made.sender_key.map(|k| b64(&k)),
                    "out": out,
                }),
                &[
                    format!("req_hash  {id}"),
                    format!("location  {}, deadline {deadline}", made.origin),
                    format!(
                        "request   written to {}: give it to the sender",
                        out.display()
                    ),
                ],
            );
        }
        CmCommand::Accept {
            keys,
            request,
            policy,
            leaf_out,
            output,
        } => {
            let bytes = read_bounded(&request, MAX_KEY_REQUEST_BYTES, "key request")?;
            let (binding, config) = sender_terms(&policy, false)?;
            let binding = binding.context("--binding is needed to accept a request")?;
            let mut mail = open(&keys)?;
            let steps = mail.accept(&bytes, &binding, &config, now()?, &mut rng())?;
            report_steps(&steps, leaf_out.as_deref(), None, output.json)?;
        }
        CmCommand::SendKey {
            keys,
            request,
            policy,
            out,
            output,
        } => {
            let bytes = read_bounded(&request, MAX_KEY_REQUEST_BYTES, "key request")?;
            let signed = decode_request(&bytes)?;
            let msg_id = signed.request.map(|r| r.msg_id).unwrap_or_default();
            let mut mail = open(&keys)?;
            let now = now()?;
            match mail.sender_status(&msg_id, now)? {
                SenderStatus::Sealed => {
                    let (binding, config) = sender_terms(&policy, true)?;
                    let binding = binding.context("--binding is needed to accept a request")?;
                    let steps = mail.accept(&bytes, &binding, &config, now, &mut rng())?;
                    report_steps(&steps, None, Some(&out), output.json)?;
                }
                SenderStatus::AwaitingReceipt { publish_by, .. } => {
                    write(&out, &mail.direct_key(&msg_id, now, &mut rng())?)?;
                    print(
                        output.json,
                        json!({ "direct_key": out, "publish_by": publish_by }),
                        &[format!(
                            "direct key written to {} (again); publish by {publish_by} without a receipt",
                            out.display()
                        )],
                    );
                }
                other => bail!(
                    "the key cannot be sent directly any more: {}",
                    status_text(&other)
                ),
            }
        }
        CmCommand::OpenKey {
            keys,
            input,
            out,
            plaintext,
            output,
        } => {
            let direct = read_bounded(&input, MAX_DIRECT_KEY_BYTES, "direct key")?;
            let mut mail = open(&keys)?;
            let opened = mail.take_direct_key(&direct, now()?)?;
            let receipt = opened
                .receipt
                .as_deref()
                .context("a direct key always gives a receipt")?;
            // Keep M and the receipt before the request secret is forgotten.
            write(&plaintext, &opened.plaintext)?;
            write(&out, receipt)?;
            mail.forget_request(&opened.req_hash)?;
            print(
                output.json,
                json!({
                    "req_hash": b64(&opened.req_hash),
                    "plaintext": plaintext,
                    "bytes": opened.plaintext.len(),
                    "receipt": out,
                    "expectation_met": opened.expectation_met,
                }),
                &[
                    format!(
                        "opened   {} bytes, key checked against c_K, written to {}",
                        opened.plaintext.len(),
                        plaintext.display()
                    ),
                    format!(
                        "receipt  written to {}: give it to the sender",
                        out.display()
                    ),
                ],
            );
        }
        CmCommand::Receipt {
            keys,
            input,
            output,
        } => {
            let receipt = read_bounded(&input, MAX_RECEIPT_BYTES, "receipt")?;
            let mut mail = open(&keys)?;
            let steps = mail.take_receipt(&receipt, now()?)?;
            report_steps(&steps, None, None, output.json)?;
        }
        CmCommand::Evidence {
            keys,
            msg_id,
            request,
            out,
            output,
        } => {
            let msg_id = match (msg_id, request) {
                (Some(hex), _) => hex::decode(hex.trim()).context("--msg-id is not hex")?,
                (None, Some(path)) => {
                    let bytes = read_bounded(&path, MAX_KEY_REQUEST_BYTES, "key request")?;
                    decode_request(&bytes)?
                        .request
                        .map(|r| r.msg_id)
                        .unwrap_or_default()
                }
                (None, None) => bail!("give --msg-id or --request"),
            };
            let mail = open(&keys)?;
            let bundle = mail.evidence(&msg_id)?;
            write(&out, &bundle)?;
            print(
                output.json,
                json!({ "id": hex_name(&msg_id), "bundle": out, "bytes": bundle.len() }),
                &[format!(
                    "evidence bundle written to {} ({} bytes); check it with `herald verify-evidence`",
                    out.display(),
                    bundle.len()
                )],
            );
        }
        CmCommand::Status { keys, output } => status(&keys, output.json)?,
        CmCommand::Publish { .. }
        | CmCommand::Wait { .. }
        | CmCommand::Fetch { .. }
        | CmCommand::ProveAbsence { .. }
        | CmCommand::Mail { .. }
        | CmCommand::Inbox { .. }
        | CmCommand::Ask { .. } => {
            bail!("the network commands run in network.rs and by_mail.rs")
        }
    }
    Ok(())
}

pub(super) fn location_of(args: &LocationArgs) -> anyhow::Result<herald_proto::certmail::Location> {
    if let Some(path) = &args.location {
        return Ok(read_location(path)?);
    }
    let description = LogDescription {
        log_key: args.log_key.clone().context("--location or --log-key")?,
        hash: args.hash.clone(),
        witness_keys: args.witness_keys.clone(),
        quorum: args.quorum.unwrap_or(0),
        clock_skew: args.clock_skew,
        max_merge_delay: args.max_merge_delay,
    };
    description
        .location()
        .map_err(|e| anyhow::anyhow!("location flags: {e}"))
}

pub(super) fn expectation(args: &ExpectArgs) -> anyhow::Result<Option<Expectation>> {
    let content_hash = match (&args.expect_hash, &args.expect_file) {
        (Some(h), _) => Some(
            BASE64
                .decode(h.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .context("--expect-hash is not the base64 of 32 bytes")?,
        ),
        (None, Some(path)) => Some(
            *blake3::hash(&read_bounded(
                path,
                MAX_CM_PLAINTEXT_BYTES,
                "expected file",
            )?)
            .as_bytes(),
        ),
        (None, None) => None,
    };
    let media_type = args.expect_media_type.clone().unwrap_or_default();
    if media_type.len() > MAX_MEDIA_TYPE_BYTES {
        bail!("--expect-media-type is longer than {MAX_MEDIA_TYPE_BYTES} bytes");
    }
    if content_hash.is_none() && args.expect_max_size.is_none() && media_type.is_empty() {
        return Ok(None);
    }
    if args.expect_max_size == Some(0) {
        bail!("--expect-max-size must be at least 1");
    }
    Ok(Some(Expectation {
        media_type,
        max_size: args.expect_max_size,
        content_hash,
    }))
}

pub(super) fn sender_terms(
    args: &PolicyArgs,
    optimistic: bool,
) -> anyhow::Result<(Option<BindingMaterial>, SenderConfig)> {
    let binding = match &args.binding {
        None => None,
        Some(path) => {
            let leaf = |p: &Path| -> anyhow::Result<_> {
                let bytes = read_bounded(p, MAX_INCLUDED_LEAF_BYTES, "included leaf")?;
                decode_included_leaf(&bytes).with_context(|| p.display().to_string())
            };
            Some(BindingMaterial {
                binding: leaf(path)?,
                revocations: args
                    .revocation
                    .iter()
                    .map(|p| leaf(p))
                    .collect::<anyhow::Result<_>>()?,
            })
        }
    };
    let locations = args
        .offer
        .iter()
        .map(|p| read_location(p))
        .collect::<Result<Vec<_>, _>>()?;
    if binding.is_some() && locations.is_empty() {
        bail!("no --offer: this sender publishes nowhere, so it can accept no request");
    }
    let recipient_domains = args
        .domain
        .iter()
        .map(|p| read_trust(p))
        .collect::<Result<Vec<_>, _>>()?;
    let config = SenderConfig {
        policy: SenderPolicy {
            locations,
            witness_period: args.witness_period,
            margin: args.margin,
            max_wait: args.max_wait,
            max_clock_skew: args.max_skew,
            optimistic,
        },
        recipient_domains,
    };
    Ok((binding, config))
}

/// Carries out (writes) and prints the sender's steps.
pub(super) fn report_steps(
    steps: &[SenderStep],
    leaf_out: Option<&Path>,
    key_out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    let mut value = serde_json::Map::new();
    for step in steps {
        match step {
            SenderStep::SendSealed(_) => {}
            SenderStep::SendDirectKey(bytes) => {
                let path = key_out.context("a direct key to write, but no --out")?;
                write(path, bytes)?;
                lines.push(format!(
                    "accepted  (optimistic) direct key written to {}: give it to the recipient",
                    path.display()
                ));
                value.insert("direct_key".into(), json!(path));
            }
            SenderStep::Publish {
                origin,
                req_hash,
                leaf,
            } => {
                lines.push(format!(
                    "accepted  req_hash {}: the key is to be published at {origin}",
                    hex_name(req_hash)
                ));
                if let Some(path) = leaf_out {
                    write(path, leaf)?;
                    lines.push(format!("leaf      written to {}", path.display()));
                    value.insert("leaf_file".into(), json!(path));
                }
                value.insert("publish_at".into(), json!(origin));
                value.insert("req_hash".into(), json!(b64(req_hash)));
                value.insert("leaf".into(), json!(b64(leaf)));
            }
            SenderStep::WakeAt(at) => {
                lines.push(format!("deadline  act again at {at} (Unix seconds)"));
                value.insert("wake_at".into(), json!(at));
            }
            SenderStep::Evidence(bundle) => {
                lines.push(format!(
                    "done      delivery is proven (a receipt, or the cosigned publication); evidence kept ({} bytes): `herald cm evidence`",
                    bundle.len()
                ));
                value.insert("evidence_bytes".into(), json!(bundle.len()));
            }
            SenderStep::Lapsed => {
                lines.push("lapsed    no proof of receipt by T + δ".into());
                value.insert("lapsed".into(), json!(true));
            }
        }
    }
    print(json, Value::Object(value), &lines);
    Ok(())
}

pub(super) fn status_text(s: &SenderStatus) -> String {
    match s {
        SenderStatus::Sealed => "sealed: waiting for the key request".into(),
        SenderStatus::AwaitingReceipt { publish_by, .. } => {
            format!("key sent: waiting for the receipt until {publish_by}")
        }
        SenderStatus::Published { limit, .. } => {
            format!("published: waiting for a quorum of cosignatures by {limit}")
        }
        SenderStatus::Done => "done: evidence kept".into(),
        SenderStatus::Lapsed { .. } => "lapsed: no proof of receipt by T + δ".into(),
    }
}

fn status(keys: &KeyStoreArgs, json: bool) -> anyhow::Result<()> {
    let mail = open(keys)?;
    let now = now()?;
    let account = mail.keys().identity().map(|i| i.account);
    let mut sent = Vec::new();
    let mut lines = vec![format!("account  {}", account.clone().unwrap_or_default())];
    for msg_id in mail.sent()? {
        let status = match mail.sender_status(&msg_id, now) {
            Ok(s) => status_text(&s),
            Err(e) => format!("unreadable: {e}"),
        };
        lines.push(format!("sent     {}  {status}", hex_name(&msg_id)));
        sent.push(json!({ "id": hex_name(&msg_id), "status": status }));
    }
    let mut requests = Vec::new();
    for req_hash in mail.requests()? {
        let status = match mail.recipient_status(&req_hash, now) {
            Ok(RecipientStatus::Waiting { until }) => format!("waiting until {until}"),
            Ok(RecipientStatus::Undelivered) => "undelivered (T + δ passed)".into(),
            Err(e) => format!("unreadable: {e}"),
        };
        lines.push(format!("request  {}  {status}", hex_name(&req_hash)));
        requests.push(json!({ "id": hex_name(&req_hash), "status": status }));
    }
    let mut offers = Vec::new();
    for msg_id in mail.offers()? {
        let from = match mail.offer(&msg_id) {
            Ok(sealed) => sealed.sender,
            Err(e) => format!("unreadable: {e}"),
        };
        lines.push(format!(
            "letter   {}  from {from}: `herald cm ask` asks for its key",
            hex_name(&msg_id)
        ));
        offers.push(json!({ "id": hex_name(&msg_id), "from": from }));
    }
    print(
        json,
        json!({ "account": account, "sent": sent, "requests": requests, "offers": offers }),
        &lines,
    );
    Ok(())
}
