//! Certified mail that `herald read` opened, kept for `herald cm inbox` (issue 12 §4).
//!
//! A mail can be opened once: its one-time prekey is erased when it is. So when `herald read`
//! meets a mail that carries a certified-mail message (a sealed letter, a key request, a
//! direct key, a receipt), it does not take it — that is `herald cm inbox`'s job — and does not
//! acknowledge it; it keeps what it opened (sender, msg_id, plaintext: verified already) in
//! `<private-state>/certmail-spool/<id>.json`, written durably before anything is printed.
//! `herald cm inbox` takes a spooled entry from there instead of reading it again, then
//! acknowledges it at the gateway as usual and removes the file.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald_light_client::ReadMail;
use herald_proto::paep::{MailContent, OpenedMail, PrekeyKind};
use herald_proto::wire::{MAX_ACCOUNT_BYTES, MAX_MAIL_CONTENT_BYTES, MAX_MSG_ID_BYTES};
use serde::{Deserialize, Serialize};

use super::cm::files::{read_bounded, write_atomic};

/// Largest spool file: the plaintext in base64 and the small fields around it.
const MAX_SPOOL_BYTES: usize = MAX_MAIL_CONTENT_BYTES * 4 / 3 + 4096;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spooled {
    id: u64,
    from_domain: String,
    received_at: u64,
    sender: String,
    msg_id: String,
    plaintext: String,
    prekey_id: u64,
    one_time: bool,
}

/// The spool directory of the private state directory `state`.
pub(super) fn dir(state: &Path) -> PathBuf {
    state.join("certmail-spool")
}

/// The spool file of mailbox entry `id`.
pub(super) fn path(state: &Path, id: u64) -> PathBuf {
    dir(state).join(format!("{id}.json"))
}

/// Keeps `mail` (opened by `herald read`) for `herald cm inbox`; returns where.
pub(super) fn keep(state: &Path, mail: &ReadMail) -> anyhow::Result<PathBuf> {
    let dir = dir(state);
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let spooled = Spooled {
        id: mail.id,
        from_domain: mail.from_domain.clone(),
        received_at: mail.received_at,
        sender: mail.opened.sender.clone(),
        msg_id: BASE64.encode(&mail.opened.msg_id),
        plaintext: BASE64.encode(&mail.opened.plaintext),
        prekey_id: mail.opened.prekey_id,
        one_time: mail.opened.prekey_kind == PrekeyKind::OneTime,
    };
    let path = path(state, mail.id);
    write_atomic(&path, &serde_json::to_vec(&spooled)?)?;
    Ok(path)
}

/// The mail kept for mailbox entry `id`, if `herald read` kept one.
pub(super) fn take(state: &Path, id: u64) -> anyhow::Result<Option<ReadMail>> {
    let path = path(state, id);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_bounded(&path, MAX_SPOOL_BYTES, "spooled mail")?;
    let bad = || format!("{} is not a spooled mail", path.display());
    let s: Spooled = serde_json::from_slice(&bytes).with_context(bad)?;
    let msg_id = BASE64.decode(&s.msg_id).with_context(bad)?;
    let plaintext = BASE64.decode(&s.plaintext).with_context(bad)?;
    if s.id != id
        || msg_id.is_empty()
        || msg_id.len() > MAX_MSG_ID_BYTES
        || s.sender.len() > MAX_ACCOUNT_BYTES
        || plaintext.len() > MAX_MAIL_CONTENT_BYTES
    {
        anyhow::bail!("{}", bad());
    }
    let content = MailContent::open(&plaintext).with_context(bad)?;
    Ok(Some(ReadMail {
        id,
        from_domain: s.from_domain,
        received_at: s.received_at,
        opened: OpenedMail {
            msg_id,
            sender: s.sender,
            plaintext,
            prekey_id: s.prekey_id,
            prekey_kind: if s.one_time {
                PrekeyKind::OneTime
            } else {
                PrekeyKind::Fallback
            },
        },
        content,
    }))
}

/// Removes the spool file of entry `id` (taken by `herald cm inbox`).
pub(super) fn remove(state: &Path, id: u64) -> anyhow::Result<()> {
    match std::fs::remove_file(path(state, id)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the spooled mail {id}"))
        }
        _ => Ok(()),
    }
}
