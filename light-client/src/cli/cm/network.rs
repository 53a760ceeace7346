//! The `herald cm` commands that talk to a gateway of X: `publish` and `wait` (the sender),
//! `fetch` and `prove-absence` (the recipient). Everything the gateway says is verified by the
//! library before anything is stored or written.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use herald_light_client::certmail::{Delivery, SenderStatus, SenderStep, decode_request, hex_name};
use herald_light_client::{FileCheckpointStore, Polling, prove_absence};
use herald_proto::certmail::{req_hash, request_signing_input};
use herald_proto::note::b64;
use herald_proto::wire::{MAX_CHECKPOINT_NOTE_BYTES, MAX_KEY_REQUEST_BYTES, pb};
use prost::Message as _;
use serde_json::json;

use super::CmCommand;
use super::files::read_bounded;
use super::steps::{Mail, open, print, report_steps, rng, sender_terms, status_text, write};
use super::when::now;
use crate::cli::args::KeyStoreArgs;
use crate::cli::connection::{GatewayArgs, runtime};

/// A key request file: its bytes, the request, its msg_id and req_hash.
struct RequestFile {
    bytes: Vec<u8>,
    signed: pb::SignedKeyRequest,
    msg_id: Vec<u8>,
    req_hash: [u8; 32],
}

fn read_request(path: &Path) -> anyhow::Result<RequestFile> {
    let bytes = read_bounded(path, MAX_KEY_REQUEST_BYTES, "key request")?;
    let signed = decode_request(&bytes).with_context(|| path.display().to_string())?;
    // A decoded request has its body (validated).
    let request = signed.request.clone().unwrap_or_default();
    let req_hash = req_hash(&request_signing_input(&request), &signed.signature);
    Ok(RequestFile {
        bytes,
        signed,
        msg_id: request.msg_id,
        req_hash,
    })
}

/// The request file given, or only the msg_id of a mail whose request arrived by mail (then
/// the request's bytes are empty: the sent record holds it).
fn request_or_msg_id(
    request: Option<std::path::PathBuf>,
    msg_id: Option<String>,
) -> anyhow::Result<RequestFile> {
    match (request, msg_id) {
        (Some(path), _) => read_request(&path),
        (None, Some(hex)) => Ok(RequestFile {
            bytes: Vec::new(),
            signed: pb::SignedKeyRequest::default(),
            msg_id: hex::decode(hex.trim()).context("--msg-id is not hex")?,
            req_hash: [0; 32],
        }),
        (None, None) => bail!("give --request or --msg-id"),
    }
}

fn checkpoints(keys: &KeyStoreArgs) -> anyhow::Result<FileCheckpointStore> {
    Ok(FileCheckpointStore::new(
        keys.state_dir()?.join("checkpoints"),
    ))
}

/// Runs the network commands of `herald cm`.
pub(super) fn run(command: CmCommand) -> anyhow::Result<()> {
    match command {
        CmCommand::Publish {
            keys,
            gateway,
            request,
            msg_id,
            policy,
            optimistic,
            key_out,
            poll_for,
            output,
        } => {
            let request = request_or_msg_id(request, msg_id)?;
            let mut mail = open(&keys)?;
            let now = now()?;
            match mail.sender_status(&request.msg_id, now)? {
                SenderStatus::Sealed if request.bytes.is_empty() => bail!(
                    "no request was accepted for this mail yet: `herald cm inbox` takes it when it comes, or give --request"
                ),
                SenderStatus::Sealed => {
                    let (binding, config) = sender_terms(&policy, optimistic)?;
                    let binding = binding.context("--binding is needed to accept the request")?;
                    let steps = mail.accept(&request.bytes, &binding, &config, now, &mut rng())?;
                    if optimistic {
                        report_steps(&steps, None, key_out.as_deref(), output.json)?;
                        return Ok(());
                    }
                }
                SenderStatus::AwaitingReceipt { publish_by, .. } if now < publish_by => bail!(
                    "optimistic: waiting for the recipient's receipt until {publish_by}; \
                     `herald cm wait` publishes then if none came"
                ),
                SenderStatus::AwaitingReceipt { .. } => {
                    mail.sender_timer(&request.msg_id, now)?;
                }
                SenderStatus::Published { .. } | SenderStatus::Lapsed { .. } => {}
                SenderStatus::Done => return done(&request.msg_id, output.json),
            }
            publish(
                &mut mail,
                &keys,
                &gateway,
                &request.msg_id,
                poll_for,
                output.json,
            )
        }
        CmCommand::Wait {
            keys,
            gateway,
            request,
            msg_id,
            no_sleep,
            poll_for,
            output,
        } => {
            let request = request_or_msg_id(request, msg_id)?;
            let mut mail = open(&keys)?;
            let status = mail.sender_status(&request.msg_id, now()?)?;
            match status {
                SenderStatus::Sealed => bail!("no request was accepted for this mail yet"),
                SenderStatus::Done => return done(&request.msg_id, output.json),
                SenderStatus::AwaitingReceipt { publish_by, .. } => {
                    if !sleep_until(publish_by, no_sleep)? {
                        print(
                            output.json,
                            json!({ "due": publish_by, "status": status_text(&status) }),
                            &[format!("not due: {}", status_text(&status))],
                        );
                        return Ok(());
                    }
                    // A receipt may have been taken meanwhile (`herald cm receipt`).
                    let now = now()?;
                    match mail.sender_status(&request.msg_id, now)? {
                        SenderStatus::Done => return done(&request.msg_id, output.json),
                        SenderStatus::AwaitingReceipt { .. } => {
                            mail.sender_timer(&request.msg_id, now)?;
                        }
                        _ => {}
                    }
                }
                SenderStatus::Published { .. } | SenderStatus::Lapsed { .. } => {}
            }
            publish(
                &mut mail,
                &keys,
                &gateway,
                &request.msg_id,
                poll_for,
                output.json,
            )
        }
        CmCommand::Fetch {
            keys,
            gateway,
            request,
            req_hash,
            out,
            poll_for,
            output,
        } => {
            let req_hash: [u8; 32] = match (request, req_hash) {
                (Some(path), _) => read_request(&path)?.req_hash,
                (None, Some(hex)) => hex::decode(hex.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .context("--req-hash is not 32 bytes of hex")?,
                (None, None) => bail!("give --request or --req-hash"),
            };
            let mut mail = open(&keys)?;
            let store = checkpoints(&keys)?;
            let polling = Polling::until(now()?.saturating_add(poll_for));
            let opened = runtime()?.block_on(async {
                let gateway = gateway.connect().await?;
                anyhow::Ok(mail.fetch(&gateway, &req_hash, &store, &polling).await?)
            })?;
            // Keep M before the request secret is forgotten.
            write(&out, &opened.plaintext)?;
            mail.forget_request(&opened.req_hash)?;
            let (index, on_time) = match opened.delivery {
                Delivery::Published { index, on_time } => (Some(index), on_time),
                _ => (None, true),
            };
            let mut lines = vec![format!(
                "opened      {} bytes, written to {}",
                opened.plaintext.len(),
                out.display()
            )];
            if let Some(index) = index {
                lines.push(format!(
                    "verified    publication at index {index} of X, in a checkpoint cosigned as X requires and consistent with the last trusted one; key checked against c_K"
                ));
            }
            if !on_time {
                lines.push("late        the publication was cosigned after T + δ".into());
            }
            if !opened.expectation_met {
                lines
                    .push("WARNING     the message does not meet the request's expectation".into());
            }
            print(
                output.json,
                json!({
                    "req_hash": b64(&opened.req_hash),
                    "plaintext": out,
                    "bytes": opened.plaintext.len(),
                    "index": index,
                    "on_time": on_time,
                    "expectation_met": opened.expectation_met,
                }),
                &lines,
            );
            Ok(())
        }
        CmCommand::ProveAbsence {
            gateway,
            request,
            before,
            after,
            out,
            output,
        } => {
            let request = read_request(&request)?;
            let cp1 = read_bounded(&before, MAX_CHECKPOINT_NOTE_BYTES, "checkpoint")?;
            let cp2 = read_bounded(&after, MAX_CHECKPOINT_NOTE_BYTES, "checkpoint")?;
            let now = now()?;
            let (proof, shown) = runtime()?.block_on(async {
                let gateway = gateway.connect().await?;
                anyhow::Ok(prove_absence(&gateway, &request.signed, &cp1, &cp2, now).await?)
            })?;
            let bytes = proof.encode_to_vec();
            write(&out, &bytes)?;
            let origin = shown.request.location().origin().to_owned();
            print(
                output.json,
                json!({
                    "req_hash": b64(&request.req_hash),
                    "origin": origin,
                    "from_size": shown.from_size,
                    "to_size": shown.to_size,
                    "proof": out,
                    "bytes": bytes.len(),
                }),
                &[
                    format!(
                        "absent      no leaf of {} from index {} to {} names the request",
                        origin.escape_debug(),
                        shown.from_size,
                        shown.to_size
                    ),
                    "verified    both checkpoints cosigned in the window the rules need, every leaf between them scanned".into(),
                    format!(
                        "written     {} ({} bytes); check it with `herald verify-absence`",
                        out.display(),
                        bytes.len()
                    ),
                ],
            );
            Ok(())
        }
        other => bail!("not a network command: {other:?}"),
    }
}

/// Sleeps until `at` (Unix seconds); `false` without sleeping if it is not due and `no_sleep`.
fn sleep_until(at: u64, no_sleep: bool) -> anyhow::Result<bool> {
    let now = now()?;
    if now >= at {
        return Ok(true);
    }
    if no_sleep {
        return Ok(false);
    }
    eprintln!("herald: waiting {} s, until {at}", at - now);
    std::thread::sleep(Duration::from_secs(at - now));
    Ok(true)
}

fn done(msg_id: &[u8], json: bool) -> anyhow::Result<()> {
    print(
        json,
        json!({ "id": hex_name(msg_id), "done": true }),
        &["done      proof of delivery already kept: `herald cm evidence`".into()],
    );
    Ok(())
}

/// Step (c) at X's gateway, and what came of it.
pub(super) fn publish(
    mail: &mut Mail,
    keys: &KeyStoreArgs,
    gateway: &GatewayArgs,
    msg_id: &[u8],
    poll_for: u64,
    json: bool,
) -> anyhow::Result<()> {
    let store = checkpoints(keys)?;
    let polling = Polling::until(now()?.saturating_add(poll_for));
    let steps = runtime()?.block_on(async {
        let gateway = gateway.connect().await?;
        anyhow::Ok(mail.publish(gateway, store, msg_id, &polling).await?)
    })?;
    report_steps(&steps, None, None, json)?;
    if steps.iter().any(|s| matches!(s, SenderStep::Lapsed)) {
        bail!("the mail lapsed: no publication was cosigned by T + δ");
    }
    Ok(())
}
