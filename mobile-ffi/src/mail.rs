//! Mail for a logged-in [`HeraldAccount`] (DESIGN §3.2, §3.4), over the light client's
//! session calls: send, the inbox, reading a mail, a sent mail's delivery status with its
//! notary records, and the account's prekeys at its gateway.
//!
//! Every check is the light client's and proto's: the recipient's prekey and the sender's
//! binding are verified against the domain logs of the configuration (a domain without one is
//! refused), the envelope is sealed and opened by proto with the keys inside the account's key
//! store, and each delivery record is proved in a cosigned checkpoint by
//! [`herald_light_client::TrustedLog::delivery_status`]. This file bounds the app's inputs,
//! does the steps in the CLI's order (`herald read`: open, keep the replay cache durably,
//! acknowledge, top the prekeys up), and converts the answers.
//!
//! Both `send` and `read` screen the mail's plaintext where it is (DESIGN §4): the rule set the
//! home gateway serves and the built-in signature scanner (EICAR, and the configuration's
//! `signature_file`), through the light client's
//! [`Screening`]. A match is kept in `<account dir>/quarantine` with its reason: a send is
//! refused with [`HeraldError::Quarantined`], a read returns the mail with its
//! `quarantine_reason` and without its content.

use std::sync::Arc;

use herald_light_client::certmail::hex_name;
use herald_light_client::keystore::SecureKeyStore as _;
use herald_light_client::scan::{
    Quarantine, Screened, Screening, SignatureScanner, load_signatures,
};
use herald_light_client::{ClientError, DEFAULT_MAX_SKEW_SECS, DEFAULT_PREKEY_TARGET, LogTrust};
use herald_proto::paep::{Attachment, MailContent, PrekeyKind};
use herald_proto::wire::pb::{self, ClientErrorKind};
use herald_proto::wire::{
    MAX_ATTACHMENTS, MAX_MAIL_CONTENT_BYTES, MAX_MAIL_PLAINTEXT_BYTES, MAX_MANIFEST_NAME_BYTES,
    MAX_MEDIA_TYPE_BYTES, MAX_MSG_ID_BYTES,
};

use crate::account::{HeraldAccount, check_len};
use crate::client::{ClientState, check_account, unix_now};
use crate::error::HeraldError;
use crate::runtime::guard;
use crate::session::{load_replay, save_replay};

/// Most one-time prekeys a top-up may ask the gateway to hold.
pub const MAX_PREKEY_TARGET: u32 = 1000;

/// A file attached to a mail (its name, media type, size and BLAKE3 hash travel in the
/// mail's manifest, inside the encryption).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct MailAttachment {
    /// A plain file name, 1 to 255 bytes.
    pub name: String,
    /// Its media type, e.g. `application/pdf`; 1 to 128 bytes.
    pub media_type: String,
    /// Its bytes (the whole mail is at most 60 KiB).
    pub data: Vec<u8>,
}

/// A mail handed to the own gateway.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SentMail {
    /// Its msg_id (32 lowercase hex characters, as bytes): what `delivery_status` takes.
    pub msg_id: Vec<u8>,
    /// When the gateway stops trying to deliver it, Unix seconds.
    pub expires_at: u64,
}

/// One mail waiting in the mailbox (the sender is the envelope's word until it is read).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct InboxEntry {
    /// Its number in the mailbox: what `read` takes.
    pub id: u64,
    /// Its msg_id.
    pub msg_id: Vec<u8>,
    /// The sender the envelope names, not yet verified.
    pub sender: String,
    /// When it reached the mailbox, Unix seconds.
    pub received_at: u64,
    /// The sealed mail's size in bytes.
    pub size: u64,
}

/// The mailbox's listing.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Inbox {
    /// The entries, oldest first.
    pub entries: Vec<InboxEntry>,
    /// Whether the gateway holds more than it listed (read some, then list again).
    pub truncated: bool,
}

/// An attachment of a mail read, its size and hash checked against its data.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ReceivedAttachment {
    /// Its file name (a plain one, checked).
    pub name: String,
    /// Its media type as the sender declared it.
    pub media_type: String,
    /// Its BLAKE3 hash (32 bytes).
    pub blake3: Vec<u8>,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A mail read: opened, its sender's signature verified under the sender's binding proved in
/// the sender domain's log, its content's manifest checked.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ReceivedMail {
    /// Its number in the mailbox (acknowledged: gone from there now).
    pub id: u64,
    /// Its msg_id.
    pub msg_id: Vec<u8>,
    /// The sender, verified.
    pub sender: String,
    /// The domain whose gateway relayed it.
    pub relayed_by: String,
    /// When it reached the mailbox, Unix seconds.
    pub received_at: u64,
    /// The subject.
    pub subject: String,
    /// The body.
    pub body: Vec<u8>,
    /// The attachments.
    pub attachments: Vec<ReceivedAttachment>,
    /// Why the mail was quarantined instead of shown (a gateway rule or a scanner matched):
    /// then `subject`, `body` and `attachments` are empty and the mail is kept in the
    /// account's quarantine directory. `None` for a mail to show.
    pub quarantine_reason: Option<String>,
    /// Whether the prekeys were topped up after it (a failed top-up does not lose the mail;
    /// `top_up_prekeys` again later).
    pub prekeys_topped_up: bool,
}

/// What became of a sent mail, as the own gateway's outbox says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum DeliveryState {
    /// Queued: the gateway is still trying.
    Queued,
    /// In the recipient's mailbox.
    Delivered,
    /// Given up (see the reason).
    NotDelivered,
    /// The outbox does not list it (not sent from this account, or forgotten by the gateway).
    Unknown,
}

/// One notary record of a mail (DESIGN §3.4), proved by the light client: included in a
/// checkpoint of `origin`'s log cosigned as configured, signed by that log's key, about this
/// msg_id.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DeliveryRecord {
    /// The log (and so the gateway) that recorded it.
    pub origin: String,
    /// `ACCEPTANCE`, `NON_DELIVERY`, `EXPIRY` (the sender's gateway), `RELAY_ACCEPTED`,
    /// `CONSIGNMENT`, `HANDOVER` (the recipient's).
    pub kind: String,
    /// When, Unix seconds, as the gateway recorded it.
    pub time: u64,
    /// Why, in the record's fixed words (empty for most kinds).
    pub reason: String,
    /// Its index in the log.
    pub index: u64,
    /// Its Merkle leaf hash.
    pub leaf_hash: Vec<u8>,
    /// The size of the cosigned checkpoint it is proved in.
    pub checkpoint_size: u64,
}

/// A sent mail's delivery status and its evidence timeline.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DeliveryStatus {
    /// The mail.
    pub msg_id: Vec<u8>,
    /// Its recipient (empty if the outbox does not list it).
    pub recipient: String,
    /// The outbox's state (the gateway's word; the records are proved).
    pub state: DeliveryState,
    /// Why it was not delivered (empty otherwise).
    pub reason: String,
    /// Relay attempts made.
    pub attempts: u32,
    /// The records of the sender's and (when configured with a gateway) the recipient's
    /// domain logs, each proved; in time order.
    pub records: Vec<DeliveryRecord>,
    /// Whether a gateway said it holds records not yet cosigned: ask again for them.
    pub more_pending: bool,
}

/// The account's prekeys.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PrekeyStatus {
    /// One-time prekeys the gateway still holds for the account.
    pub one_time_remaining: u64,
    /// Whether the gateway handed the fallback prekey out (a top-up replaces it).
    pub fallback_used: bool,
    /// One-time prekey secrets the key store keeps (mails to them are not read yet).
    pub one_time_held: u64,
}

/// What a top-up did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PrekeyTopUp {
    /// One-time prekeys uploaded.
    pub uploaded: u64,
    /// Whether a new fallback prekey was uploaded.
    pub new_fallback: bool,
    /// The gateway's count afterwards.
    pub one_time_remaining: u64,
}

/// The plaintext of a mail to send, or why the app's parts are not acceptable.
fn mail_content(
    subject: &str,
    body: &[u8],
    attachments: Vec<MailAttachment>,
) -> Result<Vec<u8>, HeraldError> {
    // Past `MAX_MAIL_CONTENT_BYTES` the light client sends the mail in chunks.
    if subject.len() > MAX_MAIL_CONTENT_BYTES || body.len() > MAX_MAIL_PLAINTEXT_BYTES {
        return Err(HeraldError::bad_input(format!(
            "subject: at most {MAX_MAIL_CONTENT_BYTES} bytes; body: at most {MAX_MAIL_PLAINTEXT_BYTES} bytes"
        )));
    }
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(HeraldError::bad_input(format!(
            "attachments: at most {MAX_ATTACHMENTS}"
        )));
    }
    let mut parts = Vec::with_capacity(attachments.len());
    for (i, a) in attachments.into_iter().enumerate() {
        check_len(
            &format!("attachments[{i}].name"),
            a.name.as_bytes(),
            MAX_MANIFEST_NAME_BYTES,
        )?;
        check_len(
            &format!("attachments[{i}].media_type"),
            a.media_type.as_bytes(),
            MAX_MEDIA_TYPE_BYTES,
        )?;
        if a.data.len() > MAX_MAIL_PLAINTEXT_BYTES {
            return Err(HeraldError::bad_input(format!(
                "attachments[{i}].data: at most {MAX_MAIL_PLAINTEXT_BYTES} bytes"
            )));
        }
        parts.push(Attachment {
            name: a.name,
            media_type: a.media_type,
            data: a.data,
        });
    }
    // The whole encoding's bound, the subject's, plain and distinct file names: proto's.
    MailContent::build(subject, body, parts)
        .map_err(|e| HeraldError::bad_input(format!("the mail: {e}")))
}

fn check_msg_id(msg_id: &[u8]) -> Result<(), HeraldError> {
    check_len("msg_id", msg_id, MAX_MSG_ID_BYTES)
}

/// Every configured domain log (what mail to and from a domain is verified against).
fn trusts(client: &ClientState) -> Vec<LogTrust> {
    client.config.logs.iter().map(|l| l.trust.clone()).collect()
}

fn inbox_entry(e: &pb::InboxEntry) -> InboxEntry {
    InboxEntry {
        id: e.id,
        msg_id: e.msg_id.clone(),
        sender: e.sender.clone(),
        received_at: e.received_at,
        size: e.size,
    }
}

pub(crate) fn inbox_of(inbox: &pb::Inbox) -> Inbox {
    Inbox {
        entries: inbox.entries.iter().map(inbox_entry).collect(),
        truncated: inbox.truncated,
    }
}

fn delivery_state(state: i32) -> DeliveryState {
    match pb::DeliveryState::try_from(state) {
        Ok(pb::DeliveryState::Queued) => DeliveryState::Queued,
        Ok(pb::DeliveryState::Delivered) => DeliveryState::Delivered,
        Ok(pb::DeliveryState::NotDelivered) => DeliveryState::NotDelivered,
        _ => DeliveryState::Unknown,
    }
}

/// The proved records of `msg_id` in the log `origin` of the registered peer `domain`, asked
/// through the own `gateway` and verified against `trust` (the configured log): as
/// [`records_at`], except that "none" and "not cosigned yet" must be the peer's signed answers;
/// a refusal by the own gateway is an error, never a status.
async fn records_through(
    gateway: &herald_light_client::GatewayClient,
    domain: &str,
    origin: &str,
    trust: &LogTrust,
    msg_id: &[u8],
) -> Result<(Vec<DeliveryRecord>, bool), HeraldError> {
    use herald_proto::evidence::RelayedStatus;
    match herald_light_client::delivery_status_through(gateway, domain, trust, msg_id, unix_now())
        .await?
    {
        RelayedStatus::Found(status) => proved_records(origin, Ok(*status)),
        RelayedStatus::NotFound => Ok((Vec::new(), false)),
        RelayedStatus::Pending { .. } => Ok((Vec::new(), true)),
    }
}

/// The proved records of `msg_id` in `origin`'s log: none if the gateway has none, and
/// whether it says more are waiting to be cosigned.
async fn records_at(
    client: &ClientState,
    origin: &str,
    msg_id: &[u8],
) -> Result<(Vec<DeliveryRecord>, bool), HeraldError> {
    let mut log = client.follow(origin).await?;
    proved_records(origin, log.delivery_status(msg_id).await)
}

/// A delivery-status answer as records: a gateway with no record of the mail (`NOT_FOUND`) has
/// none; one whose records are not cosigned yet (`PENDING`) says more are waiting.
fn proved_records(
    origin: &str,
    answer: Result<herald_proto::evidence::DeliveryStatus, ClientError>,
) -> Result<(Vec<DeliveryRecord>, bool), HeraldError> {
    let status = match answer {
        Ok(status) => status,
        Err(ClientError::Refused(r)) if r.kind == ClientErrorKind::NotFound => {
            return Ok((Vec::new(), false));
        }
        Err(ClientError::Refused(r)) if r.kind == ClientErrorKind::Pending => {
            return Ok((Vec::new(), true));
        }
        Err(e) => return Err(e.into()),
    };
    Ok((delivery_records(origin, &status), status.pending > 0))
}

fn delivery_records(
    origin: &str,
    status: &herald_proto::evidence::DeliveryStatus,
) -> Vec<DeliveryRecord> {
    let size = status.checkpoint.checkpoint().size();
    status
        .records
        .iter()
        .map(|r| DeliveryRecord {
            origin: origin.to_owned(),
            kind: r
                .record
                .kind
                .as_str_name()
                .trim_start_matches("EVIDENCE_KIND_")
                .to_owned(),
            time: r.record.time,
            reason: r.record.reason.clone(),
            index: r.index,
            leaf_hash: r.leaf_hash.to_vec(),
            checkpoint_size: size,
        })
        .collect()
}

/// The screening of an account: the rule set its gateway serves now, the built-in scanner
/// (with the configuration's signature file, if any), and the quarantine in its directory. The
/// file and the directory are read and made off the async threads.
async fn screening(
    gateway: &herald_light_client::GatewayClient,
    account_dir: &std::path::Path,
    signature_file: Option<std::path::PathBuf>,
) -> Result<Screening, HeraldError> {
    let dir = account_dir.join("quarantine");
    let (scanner, quarantine) = tokio::task::spawn_blocking(move || {
        let scanner = match signature_file {
            Some(path) => load_signatures(&path)
                .map_err(|e| HeraldError::bad_input(format!("signature_file: {e}")))?,
            None => SignatureScanner::default(),
        };
        let quarantine = Quarantine::open(&dir)
            .map_err(|e| HeraldError::internal(format!("the quarantine: {e}")))?;
        Ok::<_, HeraldError>((scanner, quarantine))
    })
    .await
    .map_err(|e| HeraldError::internal(format!("the screening task: {e}")))??;
    Screening::of_gateway(gateway, vec![Arc::new(scanner)], quarantine)
        .await
        .map_err(|e| match e {
            herald_light_client::scan::RuleSetError::Gateway(e) => e.into(),
            other => HeraldError::GatewayMisbehaved {
                reason: other.to_string(),
                evidence: vec![],
            },
        })
}

#[uniffi::export]
impl HeraldAccount {
    /// Sends a mail to `to` (an account of any configured domain): its prekey is fetched
    /// through the own gateway and verified against `to`'s domain log, the mail sealed to it
    /// and signed inside the key store, and handed to the own gateway. Returns once the gateway
    /// holds it durably. [`HeraldError::NotYet`] while `to`'s binding is not cosigned yet.
    pub async fn send(
        &self,
        to: String,
        subject: String,
        body: Vec<u8>,
        attachments: Vec<MailAttachment>,
    ) -> Result<SentMail, HeraldError> {
        let plaintext = guard(|| {
            check_account(&to)?;
            mail_content(&subject, &body, attachments)
        })?;
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| HeraldError::internal(format!("randomness: {e}")))?;
        let msg_id = hex_name(&id).into_bytes();
        self.with_session(move |a| {
            Box::pin(async move {
                let screening =
                    screening(&a.gateway, a.dir, a.client.config.signature_file.clone()).await?;
                if let Screened::Quarantined(q) = screening
                    .screen(
                        plaintext.clone(),
                        format!("sent-{}", String::from_utf8_lossy(&msg_id)),
                    )
                    .await
                    .map_err(|e| HeraldError::internal(format!("screening: {e}")))?
                {
                    return Err(HeraldError::Quarantined {
                        reason: q.reason.to_string(),
                        path: q.path.display().to_string(),
                    });
                }
                let trusts = trusts(a.client);
                let accepted = a
                    .session
                    .send_mail(
                        &a.gateway,
                        &mut *a.keys,
                        &to,
                        &trusts,
                        &msg_id,
                        &plaintext,
                        0,
                        unix_now(),
                        DEFAULT_MAX_SKEW_SECS,
                    )
                    .await?;
                Ok(SentMail {
                    msg_id,
                    expires_at: accepted.expires_at,
                })
            })
        })
        .await
    }

    /// The mails waiting in the mailbox.
    pub async fn inbox(&self) -> Result<Inbox, HeraldError> {
        self.with_session(|a| {
            Box::pin(async move { Ok(inbox_of(&a.session.inbox(&a.gateway).await?)) })
        })
        .await
    }

    /// Reads mail `id` of the mailbox: the sender's binding verified in its domain's log, the
    /// signature under it, a replay refused, decrypted inside the key store (a one-time
    /// prekey's secret is erased), the manifest checked; the replay cache is saved, the mail
    /// acknowledged (deleted at the gateway) and the prekeys topped up. A mail that does not
    /// verify is [`HeraldError::BadInput`] and stays in the mailbox.
    pub async fn read(&self, id: u64) -> Result<ReceivedMail, HeraldError> {
        self.with_session(move |a| {
            Box::pin(async move {
                if a.replay.is_none() {
                    *a.replay = Some(load_replay(a.dir)?);
                }
                let replay = a
                    .replay
                    .as_mut()
                    .ok_or_else(|| HeraldError::internal("the replay cache"))?;
                let trusts = trusts(a.client);
                let mail = a
                    .session
                    .read_mail(
                        &a.gateway,
                        &mut *a.keys,
                        id,
                        &trusts,
                        replay,
                        unix_now(),
                        DEFAULT_MAX_SKEW_SECS,
                    )
                    .await;
                let mail = match mail {
                    Ok(mail) => mail,
                    Err(e) => {
                        // The cache may have been updated before the failure: reload it.
                        *a.replay = None;
                        return Err(e.into());
                    }
                };
                save_replay(a.dir, replay)?;
                // The one-time prekey is erased now: a quarantined mail lives on only in the
                // quarantine, so it is kept there before the gateway deletes it.
                let screened = screening(&a.gateway, a.dir, a.client.config.signature_file.clone())
                    .await?
                    .screen(
                        mail.opened.plaintext.clone(),
                        format!(
                            "received-{}",
                            hex_name(&blake3::hash(&mail.opened.msg_id).as_bytes()[..16])
                        ),
                    )
                    .await
                    .map_err(|e| HeraldError::internal(format!("screening: {e}")))?;
                a.session.acknowledge_mail(&a.gateway, id).await?;
                a.told.remove(&id);
                let topped_up = match a
                    .session
                    .top_up_prekeys(&a.gateway, &mut *a.keys, DEFAULT_PREKEY_TARGET)
                    .await
                {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!(error = %e, "prekeys not topped up after a read");
                        false
                    }
                };
                let mut received = ReceivedMail {
                    id,
                    msg_id: mail.opened.msg_id.clone(),
                    sender: mail.opened.sender.clone(),
                    relayed_by: mail.from_domain,
                    received_at: mail.received_at,
                    subject: mail.content.subject,
                    body: mail.content.body,
                    attachments: mail
                        .content
                        .attachments
                        .into_iter()
                        .map(|a| ReceivedAttachment {
                            name: a.name,
                            media_type: a.media_type,
                            blake3: a.hash,
                            data: a.data,
                        })
                        .collect(),
                    quarantine_reason: None,
                    prekeys_topped_up: topped_up,
                };
                if let Screened::Quarantined(q) = screened {
                    received.subject.clear();
                    received.body.clear();
                    received.attachments.clear();
                    received.quarantine_reason = Some(q.reason.to_string());
                }
                Ok(received)
            })
        })
        .await
    }

    /// The delivery status of the mail `msg_id` this account sent: the own gateway's outbox
    /// entry, and the notary records of the own domain's log and of the recipient's (if its
    /// log is configured; asked through the own gateway, which asks its peer and passes the
    /// peer's signed answer on), each proved by the light client against the configured log.
    pub async fn delivery_status(&self, msg_id: Vec<u8>) -> Result<DeliveryStatus, HeraldError> {
        guard(|| check_msg_id(&msg_id))?;
        self.with_session(move |a| {
            Box::pin(async move {
                let outbox = a.session.outbox(&a.gateway).await?;
                let entry = outbox.entries.into_iter().find(|e| e.msg_id == msg_id);
                let home = a.client.config.home().origin().to_owned();
                let (mut records, mut more_pending) = records_at(a.client, &home, &msg_id).await?;
                // The recipient domain's records come through the own gateway, which asks its
                // peer; they are checked against that domain's configured log.
                if let Some(e) = &entry
                    && let Ok(origin) = a.client.domain_log(&e.recipient)
                    && origin != home
                    && let Some(domain) = herald_proto::identity::account_domain(&e.recipient)
                {
                    let trust = a.client.config.log(&origin)?.trust.clone();
                    let (found, pending) =
                        records_through(&a.gateway, domain, &origin, &trust, &msg_id).await?;
                    records.extend(found);
                    more_pending |= pending;
                }
                // By the gateways' times; one log's records of one second in log order.
                records.sort_by(|x, y| {
                    (x.time, &x.origin, x.index).cmp(&(y.time, &y.origin, y.index))
                });
                Ok(DeliveryStatus {
                    msg_id,
                    recipient: entry
                        .as_ref()
                        .map(|e| e.recipient.clone())
                        .unwrap_or_default(),
                    state: entry
                        .as_ref()
                        .map_or(DeliveryState::Unknown, |e| delivery_state(e.state)),
                    reason: entry.as_ref().map(|e| e.reason.clone()).unwrap_or_default(),
                    attempts: entry.as_ref().map_or(0, |e| e.attempts),
                    records,
                    more_pending,
                })
            })
        })
        .await
    }

    /// How many one-time prekeys the gateway holds for the account, and the key store keeps.
    pub async fn prekey_status(&self) -> Result<PrekeyStatus, HeraldError> {
        self.with_session(|a| {
            Box::pin(async move {
                let status = a.session.prekey_status(&a.gateway).await?;
                let held = a
                    .keys
                    .prekeys()
                    .iter()
                    .filter(|p| p.kind == PrekeyKind::OneTime)
                    .count();
                Ok(PrekeyStatus {
                    one_time_remaining: status.one_time_remaining,
                    fallback_used: status.fallback_used,
                    one_time_held: held as u64,
                })
            })
        })
        .await
    }

    /// Uploads one-time prekeys (made and signed inside the key store) until the gateway holds
    /// `target` (1 to 1000), and a new fallback if the old one was handed out.
    pub async fn top_up_prekeys(&self, target: u32) -> Result<PrekeyTopUp, HeraldError> {
        if target == 0 || target > MAX_PREKEY_TARGET {
            return Err(HeraldError::bad_input(format!(
                "target: 1 to {MAX_PREKEY_TARGET}"
            )));
        }
        self.with_session(move |a| {
            Box::pin(async move {
                let done = a
                    .session
                    .top_up_prekeys(&a.gateway, &mut *a.keys, target as usize)
                    .await?;
                Ok(PrekeyTopUp {
                    uploaded: done.uploaded as u64,
                    new_fallback: done.new_fallback,
                    one_time_remaining: done.status.one_time_remaining,
                })
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::tests::{bad_input, block_on, offline_client};

    fn attachment(name: &str, media_type: &str, len: usize) -> MailAttachment {
        MailAttachment {
            name: name.into(),
            media_type: media_type.into(),
            data: vec![7; len],
        }
    }

    #[test]
    fn a_mail_out_of_bounds_is_refused_before_anything_is_sent() {
        let ok = mail_content(
            "Contract",
            b"see attached",
            vec![attachment("c.pdf", "a/b", 10)],
        );
        assert!(MailContent::open(&ok.unwrap()).is_ok());
        bad_input(mail_content(
            &"s".repeat(MAX_MAIL_CONTENT_BYTES + 1),
            b"",
            vec![],
        ));
        let big = MAX_MAIL_PLAINTEXT_BYTES + 1;
        bad_input(mail_content("s", &vec![0; big], vec![]));
        // A mail over one request is taken (it travels in chunks).
        let large = mail_content("s", &vec![0; 100_000], vec![]).unwrap();
        assert!(MailContent::open(&large).is_ok());
        // Each part within bounds, the whole over 8 MiB: proto's bound.
        bad_input(mail_content(
            "s",
            &vec![0; 5 << 20],
            vec![attachment("a", "t/x", 5 << 20)],
        ));
        bad_input(mail_content(
            "s",
            b"",
            vec![attachment("a", "t/x", 1); MAX_ATTACHMENTS + 1],
        ));
        bad_input(mail_content("s", b"", vec![attachment("", "t/x", 1)]));
        bad_input(mail_content(
            "s",
            b"",
            vec![attachment(&"n".repeat(256), "t/x", 1)],
        ));
        bad_input(mail_content("s", b"", vec![attachment("a", "", 1)]));
        bad_input(mail_content(
            "s",
            b"",
            vec![attachment("a", &"t".repeat(129), 1)],
        ));
        bad_input(mail_content("s", b"", vec![attachment("a", "t/x", big)]));
        // Not a plain file name, or the same name twice: proto refuses.
        bad_input(mail_content("s", b"", vec![attachment("../x", "t/x", 1)]));
        bad_input(mail_content(
            "s",
            b"",
            vec![attachment("a", "t/x", 1), attachment("a", "t/x", 1)],
        ));
        bad_input(check_msg_id(b""));
        bad_input(check_msg_id(&[1; MAX_MSG_ID_BYTES + 1]));
    }

    #[test]
    fn mail_calls_bound_their_inputs_and_need_a_session() {
        let (_dir, client) = offline_client();
        let alice =
            block_on(client.create_account("alice@d0.test".into(), "a passphrase".into())).unwrap();
        bad_input(block_on(alice.send(
            "no-domain".into(),
            "s".into(),
            vec![],
            vec![],
        )));
        bad_input(block_on(alice.send(
            "bob@d1.test".into(),
            "s".into(),
            vec![0; MAX_MAIL_PLAINTEXT_BYTES + 1],
            vec![],
        )));
        bad_input(block_on(alice.delivery_status(vec![])));
        bad_input(block_on(alice.top_up_prekeys(0)));
        bad_input(block_on(alice.top_up_prekeys(MAX_PREKEY_TARGET + 1)));
        for err in [
            block_on(alice.send("bob@d1.test".into(), "s".into(), vec![], vec![])).unwrap_err(),
            block_on(alice.read(1)).unwrap_err(),
            block_on(alice.delivery_status(b"m".to_vec())).unwrap_err(),
            block_on(alice.prekey_status()).unwrap_err(),
            block_on(alice.top_up_prekeys(10)).unwrap_err(),
        ] {
            assert!(matches!(err, HeraldError::NotLoggedIn { .. }), "{err:?}");
        }
    }
}
