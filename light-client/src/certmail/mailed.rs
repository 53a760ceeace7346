//! Certified mail carried as mail (issue 12 §4): the driver's messages travel between the two
//! parties through the gateways, over the sessions of `herald login`, instead of as files.
//!
//! Each message is proto's [`Carried`] in the plaintext of an ordinary mail (DESIGN §3.2): the
//! gateways see an envelope like any other. The steps:
//!
//! - A: [`CertMail::send_by_mail`] seals the letter (a) and mails the sealed message to B. The
//!   mail's msg_id is the certified mail's own, so the delivery-status records the gateways
//!   log for it (ACCEPTANCE, RELAY_ACCEPTED, CONSIGNMENT, HANDOVER) are found by the msg_id
//!   `herald cm status` shows.
//! - B: [`CertMail::take_mailed`] reads a mailbox entry. A sealed message is kept as an offer
//!   ([`RecordKind::Offered`]), and [`CertMail::request_by_mail`] makes the request (b) and
//!   mails it to A.
//! - A: [`CertMail::take_mailed`] with the sender's terms accepts the request (B's binding
//!   fetched from B's domain with its proof): it then publishes at X ([`CertMail::publish`],
//!   step (c)), or, optimistic, the direct key goes back to B by mail at once.
//! - B: a direct key is opened and the receipt mailed back to A; or B fetches the publication
//!   at X ([`CertMail::fetch`], step (d)). A's [`CertMail::take_mailed`] takes the receipt.
//!
//! Who may send what: the mail's sender is authenticated by sig_A under its binding proven from
//! its domain's log, and must be the author the message names (proto's
//! [`Carried::check_parties`]); the direct key and the receipt are checked by the state
//! machines' cryptography. A refused message is acknowledged (deleted) and reported
//! ([`Arrival::Refused`]): its one-time prekey is already erased, so it cannot be read again.
//! Local and network failures leave the mail in the mailbox.

use herald_proto::certmail::Carried;
use herald_proto::certmail::recipient::RequestTerms;
use herald_proto::inclusion::LogTrust;
use herald_proto::paep::{MailError, ReplayCache};
use herald_proto::wire::pb;
use prost::Message as _;
use rand_core::CryptoRng;

use super::messages::decode_sealed;
use super::recipient::{Opened, RequestMade};
use super::records::{RecordKind, RecordStore};
use super::sender::{Letter, SenderConfig, SenderStep};
use super::{CertMail, CertifiedMailError, hex_name};
use crate::error::ClientError;
use crate::gateway::Gateway;
use crate::keystore::SecureKeyStore;
use crate::mail::ReadMail;
use crate::session::{Session, SessionError, SessionStore};

/// What one mail of the mailbox brought ([`CertMail::take_mailed`]).
#[derive(Debug)]
pub enum Arrival {
    /// Plain mail, not certified: read (its one-time prekey is erased) but **not**
    /// acknowledged; the caller keeps or shows it.
    Plain(Box<ReadMail>),
    /// B: a sealed letter, kept as an offer until [`CertMail::request_by_mail`].
    Offered {
        /// The certified mail's msg_id.
        msg_id: Vec<u8>,
        /// Its sender.
        sender: String,
        /// The size of C, bytes.
        ciphertext_bytes: usize,
    },
    /// A: B's request, accepted under the sender's terms. The steps say what comes next:
    /// [`SenderStep::Publish`] (call [`CertMail::publish`]) or, optimistic, the direct key
    /// (already mailed to B) and a wake-up time.
    Accepted {
        /// The certified mail's msg_id.
        msg_id: Vec<u8>,
        /// The driver's steps.
        steps: Vec<SenderStep>,
    },
    /// B: the key came directly (optimistic) and the letter is opened; the receipt is mailed
    /// to A already. The mail is **not** acknowledged: the caller keeps M first, then
    /// acknowledges mail `id` and calls [`CertMail::forget_request`] (as `herald read` keeps a
    /// mail before deleting it at the gateway: M exists nowhere else).
    Opened {
        /// The mailbox entry, to acknowledge once M is kept.
        id: u64,
        /// The opened letter.
        opened: Box<Opened>,
    },
    /// A: B's receipt was taken; the steps hold the evidence.
    Receipt(Vec<SenderStep>),
    /// The certified-mail message was refused (and the mail acknowledged): why.
    Refused {
        /// The mail's sender.
        sender: String,
        /// Which message.
        what: &'static str,
        /// Why.
        error: Box<CertifiedMailError>,
    },
}

/// What carrying certified mail as mail needs besides the driver: the session of the account,
/// its own gateway, the logs of the domains mail goes to and comes from, and the time.
pub struct MailRoute<'a, S: SessionStore, G> {
    /// The logged-in session of the driver's account.
    pub session: &'a mut Session<S>,
    /// The account's own gateway.
    pub gateway: &'a G,
    /// The domain logs (by origin `<domain>/herald`) that prekeys and bindings are checked in.
    pub trusts: &'a [LogTrust],
    /// How far a cosignature or prekey may be dated ahead, seconds.
    pub max_skew: u64,
}

fn fresh_mail_id(rng: &mut impl CryptoRng) -> Vec<u8> {
    let mut id = vec![0u8; 16];
    rng.fill_bytes(&mut id);
    id
}

/// Whether the failed sending `e` certainly left the envelope with nobody: the own gateway
/// answered with a refusal, or the prekey, the recipient's domain or the content failed before
/// anything was handed over. A transport failure or a timeout may come after the gateway
/// queued the mail, so it keeps the record.
fn never_handed_over(e: &CertifiedMailError) -> bool {
    matches!(
        e,
        CertifiedMailError::Mail(
            SessionError::Gateway(ClientError::Refused(_))
                | SessionError::UnknownDomain(_)
                | SessionError::BadAccount(_)
                | SessionError::Prekey(_)
                | SessionError::Mail(_)
        )
    )
}

/// Whether `e` says the other party's message is not acceptable (a final answer: the mail is
/// acknowledged) rather than a local or network failure (the mail stays).
fn is_refusal(e: &CertifiedMailError) -> bool {
    matches!(
        e,
        CertifiedMailError::Refused(_)
            | CertifiedMailError::Malformed { .. }
            | CertifiedMailError::Binding(_)
            | CertifiedMailError::UnknownDomain { .. }
            | CertifiedMailError::NotOurs { .. }
            | CertifiedMailError::UnknownMail { .. }
            | CertifiedMailError::WrongState { .. }
            | CertifiedMailError::Carried(_)
    )
}

impl<K: SecureKeyStore, R: RecordStore> CertMail<K, R> {
    /// Mails `carried` to `to` under the mail msg_id `mail_id`, sealed and signed as any mail.
    pub async fn mail_carried<S: SessionStore, G: Gateway>(
        &mut self,
        route: &mut MailRoute<'_, S, G>,
        to: &str,
        mail_id: &[u8],
        carried: &Carried,
        now: u64,
    ) -> Result<pb::MailAccepted, CertifiedMailError> {
        let plaintext = carried
            .to_plaintext()
            .map_err(|e| SessionError::Mail(MailError::Wire(e)))?;
        Ok(route
            .session
            .send_mail(
                route.gateway,
                &mut self.keys,
                to,
                route.trusts,
                mail_id,
                &plaintext,
                0,
                now,
                route.max_skew,
            )
            .await?)
    }

    /// Step (a) by mail: seals `letter` and mails the sealed message to its recipient, under
    /// the certified mail's msg_id. A letter whose sealed message does not fit one mail is
    /// refused before anything is kept (use the file-based `send`). Returns the msg_id.
    pub async fn send_by_mail<S: SessionStore, G: Gateway>(
        &mut self,
        route: &mut MailRoute<'_, S, G>,
        letter: Letter,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<u8>, CertifiedMailError> {
        let to = letter.recipient.clone();
        let (msg_id, steps) = self.send(letter, rng)?;
        let sealed = SenderStep::sealed_in(&steps)
            .map(decode_sealed)
            .transpose()?;
        let carried = match sealed {
            Some(sealed) => Carried::Sealed(sealed),
            None => {
                return Err(super::bad_record(
                    &hex_name(&msg_id),
                    "sealing gave no sealed message",
                ));
            }
        };
        if let Err(e) = carried.to_plaintext() {
            // Too large for one mail: nothing was sent, so nothing is kept.
            self.records.remove(RecordKind::Sent, &hex_name(&msg_id))?;
            return Err(CertifiedMailError::Malformed {
                what: "sealed message as mail",
                error: e,
            });
        }
        let name = hex_name(&msg_id);
        let sent = async {
            let plaintext = carried
                .to_plaintext()
                .map_err(|e| SessionError::Mail(MailError::Wire(e)))?;
            let envelope = route
                .session
                .seal_mail(
                    route.gateway,
                    &mut self.keys,
                    &to,
                    route.trusts,
                    &msg_id,
                    &plaintext,
                    now,
                    route.max_skew,
                )
                .await?;
            // Kept before it leaves: a resend is this very envelope (`resend_by_mail`).
            self.records
                .save(RecordKind::Envelope, &name, &envelope.encode_to_vec())?;
            route
                .session
                .send_envelope(route.gateway, envelope, 0)
                .await
                .map_err(CertifiedMailError::from)
        };
        match sent.await {
            Ok(_) => Ok(msg_id),
            Err(e) => {
                if never_handed_over(&e) {
                    // No one holds the sealed message: a retry seals afresh, and no record of
                    // a letter that never left lingers as "sealed".
                    self.records.remove(RecordKind::Sent, &name)?;
                    self.records.remove(RecordKind::Envelope, &name)?;
                    return Err(e);
                }
                // It may be queued at the gateway: sealing afresh would make a second letter
                // (another msg_id, another K). The record stays for `resend_by_mail`.
                Err(CertifiedMailError::Unconfirmed {
                    id: hex_name(&msg_id),
                    error: Box::new(e),
                })
            }
        }
    }

    /// Step (a) again, for a letter whose mailing was not confirmed
    /// ([`CertifiedMailError::Unconfirmed`]): mails the sealed message kept for `msg_id`, as it
    /// was sealed, under the same msg_id. The own gateway queues a sender's msg_id once and the
    /// recipient's gateway takes it into the mailbox once, so however many times this runs the
    /// recipient gets one letter. Refused once the recipient asked for the key (it has the
    /// letter) or the mail is finished. Returns the recipient.
    pub async fn resend_by_mail<S: SessionStore, G: Gateway>(
        &mut self,
        route: &mut MailRoute<'_, S, G>,
        msg_id: &[u8],
        now: u64,
    ) -> Result<String, CertifiedMailError> {
        let name = hex_name(msg_id);
        if self.records.load(RecordKind::Evidence, &name)?.is_some() {
            return Err(CertifiedMailError::WrongState {
                id: name,
                state: "finished",
                input: "a resend",
            });
        }
        let (record, _) = self.load_sent(msg_id)?;
        if record.request.is_some() {
            return Err(CertifiedMailError::WrongState {
                id: name,
                state: "requested (the recipient has the letter)",
                input: "a resend",
            });
        }
        let sealed = record
            .sealed
            .ok_or_else(|| super::bad_record(&name, "no sealed message"))?;
        let to = sealed.recipient.clone();
        let kept = match self.records.load(RecordKind::Envelope, &name)? {
            Some(bytes) => Some(
                herald_proto::wire::decode::<pb::MailEnvelope>(
                    &bytes,
                    herald_proto::wire::MAX_CLIENT_REQUEST_BYTES,
                )
                .map_err(|e| super::bad_record(&name, e))?,
            ),
            None => None,
        };
        let sent = match kept {
            // The very envelope of the first try: the same record at both gateways.
            Some(envelope) => route
                .session
                .send_envelope(route.gateway, envelope, 0)
                .await
                .map(drop)
                .map_err(CertifiedMailError::from),
            // Sealing failed before the envelope was kept: nothing left then; seal it now.
            None => self
                .mail_carried(route, &to, msg_id, &Carried::Sealed(sealed), now)
                .await
                .map(drop),
        };
        match sent {
            Ok(_) => Ok(to),
            Err(e) if never_handed_over(&e) => Err(e),
            Err(e) => Err(CertifiedMailError::Unconfirmed {
                id: name,
                error: Box::new(e),
            }),
        }
    }

    /// Reads mailbox entry `id` and takes the certified-mail message it carries (module docs).
    /// `sender_terms` are the sender's policy for accepting a key request (`None`: this account
    /// only receives, and a request is refused).
    pub async fn take_mailed<S: SessionStore, G: Gateway>(
        &mut self,
        route: &mut MailRoute<'_, S, G>,
        id: u64,
        replay: &mut ReplayCache,
        sender_terms: Option<&SenderConfig>,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Arrival, CertifiedMailError> {
        let mail = route
            .session
            .read_mail(
                route.gateway,
                &mut self.keys,
                id,
                route.trusts,
                replay,
                now,
                route.max_skew,
            )
            .await?;
        self.take_opened(route, mail, sender_terms, now, rng).await
    }

    /// Takes the certified-mail message of mailbox entry `mail.id`, already read and opened
    /// (by `herald read`, which keeps what it opened for this): as
    /// [`take_mailed`](Self::take_mailed) after its read.
    pub async fn take_opened<S: SessionStore, G: Gateway>(
        &mut self,
        route: &mut MailRoute<'_, S, G>,
        mail: ReadMail,
        sender_terms: Option<&SenderConfig>,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Arrival, CertifiedMailError> {
        let id = mail.id;
        let carried = match Carried::in_plaintext(&mail.opened.plaintext) {
            Ok(Some(carried)) => carried,
            Ok(None) => return Ok(Arrival::Plain(Box::new(mail))),
            Err(error) => {
                let error = CertifiedMailError::Malformed {
                    what: "mail content",
                    error,
                };
                return self.refused(route, id, &mail, "mail content", error).await;
            }
        };
        let sender = mail.opened.sender.clone();
        let what = carried.name();
        let arrival = match self
            .take_carried(route, &sender, carried, sender_terms, now, rng)
            .await
        {
            Ok(Arrival::Opened { opened, .. }) => Arrival::Opened { id, opened },
            Ok(arrival) => arrival,
            Err(e) if is_refusal(&e) => return self.refused(route, id, &mail, what, e).await,
            Err(e) => return Err(e),
        };
        if !matches!(arrival, Arrival::Opened { .. }) {
            route.session.acknowledge_mail(route.gateway, id).await?;
        }
        Ok(arrival)
    }

    async fn refused<S: SessionStore, G: Gateway>(
        &mut self,
        route: &mut MailRoute<'_, S, G>,
        id: u64,
        mail: &ReadMail,
        what: &'static str,
        error: CertifiedMailError,
    ) -> Result<Arrival, CertifiedMailError> {
        route.session.acknowledge_mail(route.gateway, id).await?;
        Ok(Arrival::Refused {
            sender: mail.opened.sender.clone(),
            what,
            error: Box::new(error),
        })
    }

    async fn take_carried<S: SessionStore, G: Gateway>(
        &mut self,
        route: &mut MailRoute<'_, S, G>,
        sender: &str,
        carried: Carried,
        sender_terms: Option<&SenderConfig>,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<Arrival, CertifiedMailError> {
        let me = self.account()?;
        carried.check_parties(sender, &me.account)?;
        match carried {
            Carried::Sealed(sealed) => {
                let msg_id = sealed.msg_id.clone();
                let bytes = Carried::Sealed(sealed.clone()).encode();
                let name = hex_name(&msg_id);
                if self.records.load(RecordKind::Received, &name)?.is_some() {
                    return Err(CertifiedMailError::WrongState {
                        id: name,
                        state: "requested",
                        input: "a sealed message",
                    });
                }
                self.records.save(RecordKind::Offered, &name, &bytes)?;
                Ok(Arrival::Offered {
                    msg_id,
                    sender: sender.to_owned(),
                    ciphertext_bytes: sealed.ciphertext.len(),
                })
            }
            Carried::Request(ref signed) => {
                let msg_id = signed
                    .request
                    .as_ref()
                    .map(|r| r.msg_id.clone())
                    .unwrap_or_default();
                let Some(config) = sender_terms else {
                    return Err(CertifiedMailError::UnknownMail {
                        what: "msg_id (no sender terms to accept a request with)",
                        id: hex_name(&msg_id),
                    });
                };
                let binding = route
                    .session
                    .proven_binding(route.gateway, sender, route.trusts, now, route.max_skew)
                    .await?;
                let steps = self.accept(&carried.encode(), binding.material(), config, now, rng)?;
                if let Some(direct) = SenderStep::direct_key_in(&steps) {
                    let direct = super::decode_direct_key(direct)?;
                    let mail_id = fresh_mail_id(rng);
                    self.mail_carried(route, sender, &mail_id, &Carried::DirectKey(direct), now)
                        .await?;
                }
                Ok(Arrival::Accepted { msg_id, steps })
            }
            Carried::DirectKey(direct) => {
                let opened = self.take_direct_key(&Carried::DirectKey(direct).encode(), now)?;
                if let Some(receipt) = &opened.receipt {
                    let receipt = super::decode_receipt(receipt)?;
                    let mail_id = fresh_mail_id(rng);
                    self.mail_carried(route, sender, &mail_id, &Carried::Receipt(receipt), now)
                        .await?;
                }
                // The mailbox id is set by `take_mailed`, which knows it.
                Ok(Arrival::Opened {
                    id: 0,
                    opened: Box::new(opened),
                })
            }
            Carried::Receipt(receipt) => Ok(Arrival::Receipt(
                self.take_receipt(&Carried::Receipt(receipt).encode(), now)?,
            )),
        }
    }

    /// The msg_ids of the sealed letters kept as offers (arrived by mail, not requested yet).
    pub fn offers(&self) -> Result<Vec<Vec<u8>>, CertifiedMailError> {
        Ok(self
            .records
            .list(RecordKind::Offered)?
            .iter()
            .filter_map(|n| hex::decode(n).ok())
            .collect())
    }

    /// The sealed message of the offer `msg_id`.
    pub fn offer(&self, msg_id: &[u8]) -> Result<pb::SealedMessage, CertifiedMailError> {
        let name = hex_name(msg_id);
        let bytes = self
            .records
            .load(RecordKind::Offered, &name)?
            .ok_or_else(|| CertifiedMailError::UnknownMail {
                what: "msg_id",
                id: name.clone(),
            })?;
        decode_sealed(&bytes)
    }

    /// Step (b) by mail, by B: asks for the key of the offered letter `msg_id` under `terms`,
    /// and mails the signed request to its sender. The offer is dropped once the request is
    /// mailed.
    pub async fn request_by_mail<S: SessionStore, G: Gateway>(
        &mut self,
        route: &mut MailRoute<'_, S, G>,
        msg_id: &[u8],
        terms: RequestTerms,
        now: u64,
        rng: &mut impl CryptoRng,
    ) -> Result<RequestMade, CertifiedMailError> {
        let sealed = self.offer(msg_id)?;
        let made = self.request(&Carried::Sealed(sealed.clone()).encode(), terms, now, rng)?;
        let signed = super::decode_request(&made.request)?;
        let mail_id = fresh_mail_id(rng);
        self.mail_carried(
            route,
            &sealed.sender,
            &mail_id,
            &Carried::Request(signed),
            now,
        )
        .await?;
        self.records
            .remove(RecordKind::Offered, &hex_name(msg_id))?;
        Ok(made)
    }
}
