//! Mail while the faults happen (DESIGN §3.2, §4 "Mailboxes"): in every domain an account
//! writes ordinary mail, one after another, to an account of the next domain through its own
//! gateway, which queues it and relays it to the recipient's; the recipient's client logs in,
//! lists its mailbox, reads each mail (the sender's binding verified in the sender's domain log,
//! the envelope decrypted, a replay cache kept), acknowledges it and tops its prekeys up — as
//! `herald send` and `herald read` do.
//!
//! Counted, and allowed under faults: a login, a send or a read that fails (a node is down, a
//! session was forgotten at a restart: the client logs in again). Violations ([`Check::Mail`]):
//! a mail read with another body than the one sent, a mail read that nobody sent, one message
//! read twice (an at-least-once relay may leave two copies; the replay cache must refuse the
//! second), and — checked once every fault is undone — a mail its sender's gateway accepted
//! that never reaches the reader within the bound: accepted means durable at the sender's
//! gateway. Mails from or to the equivocating domain are exempt from the last check (its
//! witnesses stop cosigning it, so its bindings and prekeys stop verifying, as they should).
//!
//! The accounts (`m{i}@d{i}.test` writes to `n{j}@d{j}.test`, j the next domain) are their own,
//! apart from the certified-mail parties, so that each key store is driven by one task.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_light_client::keystore::FileKeyStore;
use herald_light_client::{
    DEFAULT_PREKEY_TARGET, GatewayClient, MemorySessionStore, Session, SessionError,
};
use herald_proto::inclusion::LogTrust;
use herald_proto::paep::{MailContent, MailError, ReplayCache};
use serde::Serialize;
use tokio::task::JoinSet;

use super::ledger::Check;
use super::traffic::{Context, LogTarget, Stop};
use crate::party::{CHEAP_KDF, PASSWORD, Party, PartyError, unix_now};
use crate::testnet::Testnet;

/// Cosignature skew a mail client allows when it verifies a binding or a prekey (as the
/// mail tests do: the testnet's nodes share one clock).
const MAIL_SKEW_SECS: u64 = 60;
/// Pause between two mails of one sender, and after a failure.
const SEND_PAUSE: Duration = Duration::from_millis(300);
const FAILURE_PAUSE: Duration = Duration::from_millis(1_000);
/// Pause between two looks at a mailbox.
const READ_PAUSE: Duration = Duration::from_millis(250);
/// Violations named one by one before the rest are only counted.
const NAMED: usize = 8;

/// What the mail clients achieved (in the report).
#[derive(Clone, Debug, Default, Serialize)]
pub struct MailRecord {
    /// Mails handed to a sender's gateway (accepted or not).
    pub sent: u64,
    /// Mails the sender's gateway accepted.
    pub accepted: u64,
    /// Mails the recipient read with the body sent.
    pub read: u64,
    /// Copies refused by the reader's replay cache or its erased prekey (a relay that went
    /// twice, an acknowledgement lost at a kill), acknowledged and dropped.
    pub copies_refused: u64,
    /// Accepted mails from and to honest domains not read by the end (each one a violation).
    pub not_read: u64,
    /// Failures by step and kind (allowed under faults).
    pub failed: BTreeMap<String, u64>,
}

impl MailRecord {
    /// The summary row of [`Check::Mail`].
    pub(super) fn summary(&self) -> String {
        format!(
            "{} sent, {} accepted, {} read once with the body sent",
            self.sent, self.accepted, self.read
        )
    }
}

/// One sender and its recipient, enrolled with passwords.
pub(super) struct MailPair {
    from: usize,
    to: usize,
    sender: String,
    recipient: String,
    sender_keys: FileKeyStore,
    recipient_keys: FileKeyStore,
}

impl std::fmt::Debug for MailPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {}", self.sender, self.recipient)
    }
}

/// Enrols a mail sender in every domain and its recipient in the next (before any fault).
pub(super) async fn introduce(net: &Testnet, home: &Path) -> Result<Vec<MailPair>, PartyError> {
    let n = net.len();
    let mut pairs = Vec::with_capacity(n);
    for from in 0..n {
        let to = (from + 1) % n;
        let sender = format!("m{from}@{}", net.node(from).domain());
        let recipient = format!("n{to}@{}", net.node(to).domain());
        let (s, _) = Party::enrol(net, from, &sender, &home.join(&sender), CHEAP_KDF).await?;
        let (r, _) = Party::enrol(net, to, &recipient, &home.join(&recipient), CHEAP_KDF).await?;
        pairs.push(MailPair {
            from,
            to,
            sender,
            recipient,
            sender_keys: s.into_keys(),
            recipient_keys: r.into_keys(),
        });
    }
    Ok(pairs)
}

/// Every mail sent: msg_id → what its reader must see.
#[derive(Debug, Default)]
pub(super) struct MailBook {
    mails: Mutex<BTreeMap<Vec<u8>, Sent>>,
}

#[derive(Debug)]
struct Sent {
    from: usize,
    to: usize,
    body: Vec<u8>,
    accepted: bool,
    read: bool,
}

impl MailBook {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<Vec<u8>, Sent>) -> T) -> T {
        let mut mails = self.mails.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut mails)
    }

    /// Accepted mails not read yet, between two domains neither of which is `exempt`.
    pub(super) fn unread(&self, exempt: Option<usize>) -> Vec<String> {
        self.with(|m| {
            m.iter()
                .filter(|(_, s)| s.accepted && !s.read)
                .filter(|(_, s)| exempt.is_none_or(|e| s.from != e && s.to != e))
                .map(|(id, _)| String::from_utf8_lossy(id).into_owned())
                .collect()
        })
    }
}

/// Starts a sender and a reader per pair; the book is what the end of the run checks.
pub(super) fn start(ctx: &Context, pairs: Vec<MailPair>, tasks: &mut JoinSet<()>) -> Arc<MailBook> {
    let book = Arc::new(MailBook::default());
    let trusts: Vec<LogTrust> = ctx.targets.iter().map(|t| t.trust.clone()).collect();
    for pair in pairs {
        let (Some(from), Some(to)) = (
            ctx.targets.get(pair.from).cloned(),
            ctx.targets.get(pair.to).cloned(),
        ) else {
            continue;
        };
        tasks.spawn(send_loop(
            ctx.clone(),
            book.clone(),
            from,
            pair.to,
            pair.sender,
            pair.recipient.clone(),
            pair.sender_keys,
            trusts.clone(),
        ));
        tasks.spawn(read_loop(
            ctx.clone(),
            book.clone(),
            to,
            pair.recipient,
            pair.recipient_keys,
            trusts.clone(),
        ));
    }
    book
}

/// The end of the run: every accepted mail between honest domains was read (`Check::Mail`).
pub(super) fn judge(ctx: &Context, book: &MailBook) {
    let unread = book.unread(ctx.equivocator);
    ctx.ledger.mail(|m| m.not_read = unread.len() as u64);
    for id in unread.iter().take(NAMED) {
        ctx.ledger.violation(
            Check::Mail,
            format!("mail {id} was accepted by its sender's gateway and never read"),
        );
    }
    if unread.len() > NAMED {
        ctx.ledger.violation(
            Check::Mail,
            format!("{} more accepted mails never read", unread.len() - NAMED),
        );
    }
}

fn count(ctx: &Context, step: &str, e: &SessionError) {
    let kind = match e {
        SessionError::Gateway(c) => super::traffic::failure_kind(c),
        SessionError::Mail(m) => format!("mail: {m}"),
        e if e.needs_login() => "session lost".into(),
        _ => "other".into(),
    };
    ctx.ledger
        .mail(|m| *m.failed.entry(format!("{step}: {kind}")).or_default() += 1);
}

/// A logged-in session, logging in again when there is none (`None` if the login failed; it
/// is counted).
async fn session<'a>(
    ctx: &Context,
    client: &GatewayClient,
    account: &str,
    held: &'a mut Option<Session<MemorySessionStore>>,
) -> Option<&'a mut Session<MemorySessionStore>> {
    if held.is_none() {
        match Session::login(client, account, PASSWORD, MemorySessionStore::new()).await {
            Ok(s) => *held = Some(s),
            Err(e) => {
                count(ctx, "login", &e);
                return None;
            }
        }
    }
    held.as_mut()
}

#[allow(clippy::too_many_arguments)] // one sender's whole state, owned by its loop
async fn send_loop(
    ctx: Context,
    book: Arc<MailBook>,
    from: LogTarget,
    to: usize,
    sender: String,
    recipient: String,
    mut keys: FileKeyStore,
    trusts: Vec<LogTrust>,
) {
    let mut stop: Stop = ctx.stop.clone();
    let Some(client) = from.connect_until(&mut stop).await else {
        return;
    };
    let mut held = None;
    let mut n: u64 = 0;
    while !stop.is_set() {
        let Some(s) = session(&ctx, &client, &sender, &mut held).await else {
            if stop.sleep(FAILURE_PAUSE).await {
                break;
            }
            continue;
        };
        n += 1;
        let msg_id = format!("chaos-{}-{sender}-{n}", ctx.seed).into_bytes();
        let body = format!("mail {n} from {sender} to {recipient}").into_bytes();
        let Ok(content) = MailContent::build(&format!("chaos {n}"), &body, vec![]) else {
            // A short subject and body always fit; should it ever not, say so and go on.
            ctx.ledger
                .mail(|m| *m.failed.entry("content not built".into()).or_default() += 1);
            continue;
        };
        // In the book before it is sent: the reader may see it before the answer comes.
        book.with(|m| {
            m.insert(
                msg_id.clone(),
                Sent {
                    from: from.index,
                    to,
                    body: body.clone(),
                    accepted: false,
                    read: false,
                },
            )
        });
        let sending = s.send_mail(
            &client,
            &mut keys,
            &recipient,
            &trusts,
            &msg_id,
            &content,
            0,
            unix_now(),
            MAIL_SKEW_SECS,
        );
        // A mail in flight when the run stops is abandoned, not counted.
        let outcome = tokio::select! {
            outcome = sending => outcome,
            () = stop.given() => break,
        };
        ctx.ledger.mail(|m| m.sent += 1);
        let pause = match outcome {
            Ok(_) => {
                book.with(|m| {
                    if let Some(sent) = m.get_mut(&msg_id) {
                        sent.accepted = true;
                    }
                });
                ctx.ledger.mail(|m| m.accepted += 1);
                SEND_PAUSE
            }
            Err(e) => {
                if e.needs_login() {
                    held = None;
                }
                count(&ctx, "send", &e);
                FAILURE_PAUSE
            }
        };
        if stop.sleep(pause).await {
            break;
        }
    }
}

async fn read_loop(
    ctx: Context,
    book: Arc<MailBook>,
    to: LogTarget,
    recipient: String,
    mut keys: FileKeyStore,
    trusts: Vec<LogTrust>,
) {
    let mut stop = ctx.stop.clone();
    let Some(client) = to.connect_until(&mut stop).await else {
        return;
    };
    let mut held = None;
    let mut replay = ReplayCache::new();
    let mut topped_up = false;
    while !stop.is_set() {
        let pause = match read_once(
            &ctx,
            &book,
            &client,
            &recipient,
            &mut keys,
            &trusts,
            &mut replay,
            &mut held,
            &mut topped_up,
        )
        .await
        {
            Ok(()) => READ_PAUSE,
            Err(e) => {
                if e.needs_login() {
                    held = None;
                }
                FAILURE_PAUSE
            }
        };
        if stop.sleep(pause).await {
            break;
        }
    }
}

/// One look at the mailbox: every mail listed read and acknowledged, prekeys topped up.
#[allow(clippy::too_many_arguments)] // the reader's whole state, owned by its loop
async fn read_once(
    ctx: &Context,
    book: &MailBook,
    client: &GatewayClient,
    recipient: &str,
    keys: &mut FileKeyStore,
    trusts: &[LogTrust],
    replay: &mut ReplayCache,
    held: &mut Option<Session<MemorySessionStore>>,
    topped_up: &mut bool,
) -> Result<(), SessionError> {
    let Some(s) = session(ctx, client, recipient, held).await else {
        return Err(SessionError::NoSession);
    };
    if !*topped_up {
        s.top_up_prekeys(client, keys, DEFAULT_PREKEY_TARGET)
            .await
            .inspect_err(|e| count(ctx, "prekeys", e))?;
        *topped_up = true;
    }
    let inbox = s
        .inbox(client)
        .await
        .inspect_err(|e| count(ctx, "inbox", e))?;
    for entry in inbox.entries {
        match s
            .read_mail(
                client,
                keys,
                entry.id,
                trusts,
                replay,
                unix_now(),
                MAIL_SKEW_SECS,
            )
            .await
        {
            Ok(mail) => {
                judge_read(ctx, book, &mail.opened.msg_id, &mail.content.body);
                // Its one-time prekey is gone: top up at the next look.
                *topped_up = false;
            }
            // A second copy, or the copy of a mail whose acknowledgement was lost: the prekey
            // it used is erased. Had it never been read, the end of the run says so.
            Err(SessionError::Mail(MailError::Replayed | MailError::PrekeyUnavailable { .. })) => {
                ctx.ledger.mail(|m| m.copies_refused += 1);
            }
            Err(e) => {
                count(ctx, "read", &e);
                if e.needs_login() {
                    return Err(e);
                }
                // Left in the mailbox for the next look (a log not reachable, not cosigned).
                continue;
            }
        }
        s.acknowledge_mail(client, entry.id)
            .await
            .inspect_err(|e| count(ctx, "acknowledge", e))?;
    }
    Ok(())
}

/// A mail opened: it must be one that was sent, with its body, and read once.
fn judge_read(ctx: &Context, book: &MailBook, msg_id: &[u8], body: &[u8]) {
    let id = String::from_utf8_lossy(msg_id).into_owned();
    let verdict = book.with(|m| match m.get_mut(msg_id) {
        None => Some(format!("mail {id} was read but nobody sent it")),
        Some(sent) if sent.body != body => Some(format!(
            "mail {id} was read with another body than the one sent"
        )),
        Some(sent) if sent.read => Some(format!(
            "mail {id} was read twice (the replay cache let a copy through)"
        )),
        Some(sent) => {
            sent.read = true;
            None
        }
    });
    match verdict {
        None => ctx.ledger.mail(|m| m.read += 1),
        Some(detail) => ctx.ledger.violation(Check::Mail, detail),
    }
}
