//! Mail through the gateways on the client (DESIGN §3.2): sending to an account of any
//! registered peer domain, and reading one's mailbox, over the session of `herald login`.
//!
//! - **Send** ([`Session::send_mail`]): the own gateway fetches one prekey of the recipient
//!   (from the recipient's gateway over the relay, handed out at most once); it is accepted only
//!   as proto's `VerifiedPrekeyBundle` against the recipient's domain log (the binding proven in
//!   a cosigned checkpoint, the prekey signed by the bound IK), so neither gateway can
//!   substitute a key. The envelope is sealed by proto (`seal_envelope`), its header signed by IK
//!   inside the key store, and handed to the own gateway, which answers once it is durably
//!   queued.
//! - **Read** ([`Session::read_mail`]): the mail is fetched from the own mailbox, the sender's
//!   binding fetched from the sender's domain (through the own gateway, with its proof) and
//!   verified against that domain's log; proto's `open_envelope` checks sig_A, refuses a replay
//!   ([`ReplayCache`]), agrees inside the key store, decrypts, and erases a one-time prekey's
//!   secret. The content's manifest is checked ([`MailContent::open`]). The caller keeps what it
//!   read, then acknowledges ([`Session::acknowledge_mail`]) and tops up prekeys.

use herald_proto::inclusion::LogTrust;
use herald_proto::paep::{
    MailContent, MailError, OpenedMail, Outgoing, ReplayCache, VerifiedPrekeyBundle, open_envelope,
    seal_envelope, verify_prekey_bundle_memo,
};
use herald_proto::wire::client::{
    AnswerError, MAX_SENDER_BINDINGS, expect_inbox, expect_mail, expect_mail_accepted,
    expect_mail_acknowledged, expect_mail_prekey, expect_mails, expect_mails_acknowledged,
    expect_outbox, expect_sender_binding, expect_sender_bindings,
};
use herald_proto::wire::pb;

use crate::gateway::Gateway;
use crate::key_transparency::VerifiedBindingAnswer;
use crate::keystore::{Card, SecureKeyStore};
use crate::session::{Session, SessionError, SessionStore, answer_error};

/// A mail read from the mailbox: opened, its sender's signature verified under the sender's
/// proven binding, its content checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadMail {
    /// Its entry in the mailbox.
    pub id: u64,
    /// The gateway that relayed it.
    pub from_domain: String,
    /// When it reached the mailbox (Unix seconds).
    pub received_at: u64,
    /// The opened envelope (sender, msg_id, plaintext, prekey used).
    pub opened: OpenedMail,
    /// The content (subject, body, attachments with their checked manifest).
    pub content: MailContent,
}

/// The log of `account`'s domain among `trusts` (by origin `<domain>/herald`).
fn trust_of<'a>(trusts: &'a [LogTrust], account: &str) -> Result<&'a LogTrust, SessionError> {
    let domain = herald_proto::identity::account_domain(account)
        .ok_or_else(|| SessionError::BadAccount(account.to_owned()))?;
    let origin = format!("{domain}/herald");
    trusts
        .iter()
        .find(|t| t.origin().eq_ignore_ascii_case(&origin))
        .ok_or(SessionError::UnknownDomain(domain.to_owned()))
}

/// Mails read in one batch ([`Session::read_mails`]).
#[derive(Debug)]
pub struct ReadBatch {
    /// Each mail fetched, by its entry number: opened, or why not.
    pub read: Vec<(u64, Result<ReadMail, SessionError>)>,
    /// Ids the mailbox does not hold.
    pub missing: Vec<u64>,
    /// Ids the gateway left for another request (the answer was full).
    pub deferred: Vec<u64>,
}

/// Why a sender's binding is not proven ([`Session::proven_bindings`]), for each of its mails.
#[derive(Clone, Debug)]
pub enum BindingUnproven {
    /// The gateway could not get it (its refusal).
    Refused(pb::ClientError),
    /// The answer does not verify against the sender domain's log.
    Unverified(Box<crate::verify::VerifyError>),
    /// No log is known for the sender's domain.
    UnknownDomain,
}

impl BindingUnproven {
    /// The error of a mail from `sender` (what [`Session::read_mail`] would have returned).
    fn for_mail(&self, sender: &str) -> SessionError {
        match self {
            BindingUnproven::Refused(e) => answer_error(AnswerError::Refused(e.clone())),
            BindingUnproven::Unverified(e) => SessionError::Gateway((**e).clone().into()),
            BindingUnproven::UnknownDomain => SessionError::UnknownDomain(
                herald_proto::identity::account_domain(sender)
                    .unwrap_or(sender)
                    .to_owned(),
            ),
        }
    }
}

/// The envelope of a fetched mail (the codec checked it is there).
fn envelope_of(stored: &pb::StoredMail) -> Result<&pb::MailEnvelope, SessionError> {
    stored
        .envelope
        .as_ref()
        .ok_or(SessionError::Mail(MailError::Wire(
            herald_proto::wire::WireError::MissingField {
                field: "StoredMail.envelope",
            },
        )))
}

impl<S: SessionStore> Session<S> {
    /// One prekey of `recipient`, through the own gateway, verified against `trust` (the
    /// recipient domain's log) at `now`.
    pub async fn mail_prekey<G: Gateway>(
        &mut self,
        gateway: &G,
        recipient: &str,
        trust: &LogTrust,
        now: u64,
        max_skew: u64,
    ) -> Result<VerifiedPrekeyBundle, SessionError> {
        let response = self
            .request(gateway, &pb::SessionRequest::mail_prekey(recipient))
            .await?;
        let bundle = expect_mail_prekey(response).map_err(answer_error)?;
        Ok(verify_prekey_bundle_memo(
            &bundle,
            recipient,
            trust,
            now,
            max_skew,
            &mut self.verified.checkpoints,
        )?)
    }

    /// Seals `plaintext` (a `MailContent::build` result) to `recipient` under `msg_id` with a
    /// prekey verified against the recipient's domain log among `trusts`, signs the header with
    /// IK inside `keys`, and hands it to the own gateway; `expires_at` 0 takes the gateway's
    /// default. Returns the gateway's acceptance (the mail is durably queued).
    #[allow(clippy::too_many_arguments)]
    pub async fn send_mail<G: Gateway, K: SecureKeyStore>(
        &mut self,
        gateway: &G,
        keys: &mut K,
        recipient: &str,
        trusts: &[LogTrust],
        msg_id: &[u8],
        plaintext: &[u8],
        expires_at: u64,
        now: u64,
        max_skew: u64,
    ) -> Result<pb::MailAccepted, SessionError> {
        let envelope = self
            .seal_mail(
                gateway, keys, recipient, trusts, msg_id, plaintext, now, max_skew,
            )
            .await?;
        self.send_envelope(gateway, envelope, expires_at).await
    }

    /// The first half of [`send_mail`](Self::send_mail): the sealed, signed envelope, not sent
    /// (a caller that must be able to send the very same envelope again keeps it first).
    #[allow(clippy::too_many_arguments)]
    pub async fn seal_mail<G: Gateway, K: SecureKeyStore>(
        &mut self,
        gateway: &G,
        keys: &mut K,
        recipient: &str,
        trusts: &[LogTrust],
        msg_id: &[u8],
        plaintext: &[u8],
        now: u64,
        max_skew: u64,
    ) -> Result<pb::MailEnvelope, SessionError> {
        let trust = trust_of(trusts, recipient)?.clone();
        let bundle = self
            .mail_prekey(gateway, recipient, &trust, now, max_skew)
            .await?;
        let sender = self.account().to_owned();
        let outgoing = Outgoing {
            msg_id,
            sender: &sender,
            plaintext,
        };
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        Ok(seal_envelope(&outgoing, &bundle, &Card(keys), &mut rng)?)
    }

    /// The second half of [`send_mail`](Self::send_mail): hands `envelope` to the own gateway.
    /// Sending the same envelope again is harmless: the gateway queues a sender's msg_id once.
    pub async fn send_envelope<G: Gateway>(
        &mut self,
        gateway: &G,
        envelope: pb::MailEnvelope,
        expires_at: u64,
    ) -> Result<pb::MailAccepted, SessionError> {
        if herald_proto::paep::transfer::travels_in_chunks(envelope.ciphertext.len()) {
            // Larger than one request: its Z goes in chunks (`mail_transfer`).
            return self.upload_and_send(gateway, envelope, expires_at).await;
        }
        let response = self
            .request(
                gateway,
                &pb::SessionRequest::send_mail(envelope, expires_at),
            )
            .await?;
        expect_mail_accepted(response).map_err(answer_error)
    }

    /// `account`'s identity binding (and revocations) fetched from its domain through the own
    /// gateway, verified against that domain's log among `trusts` at `now`.
    pub async fn proven_binding<G: Gateway>(
        &mut self,
        gateway: &G,
        account: &str,
        trusts: &[LogTrust],
        now: u64,
        max_skew: u64,
    ) -> Result<VerifiedBindingAnswer, SessionError> {
        let trust = trust_of(trusts, account)?.clone();
        let response = self
            .request(gateway, &pb::SessionRequest::sender_binding(account))
            .await?;
        let answer = expect_sender_binding(response).map_err(answer_error)?;
        self.verified
            .binding_answer(&trust, account, answer, now, max_skew)
            .map_err(|e| SessionError::Gateway(e.into()))
    }

    /// The bindings of `accounts` (at most `MAX_SENDER_BINDINGS`, none twice) in one request,
    /// each verified as [`proven_binding`](Self::proven_binding) does; per account, the
    /// verified binding, or why there is none (the gateway's refusal, or an answer that does
    /// not verify: that account's alone).
    pub async fn proven_bindings<G: Gateway>(
        &mut self,
        gateway: &G,
        accounts: &[String],
        trusts: &[LogTrust],
        now: u64,
        max_skew: u64,
    ) -> Result<Vec<(String, Result<VerifiedBindingAnswer, BindingUnproven>)>, SessionError> {
        let response = self
            .request(
                gateway,
                &pb::SessionRequest::sender_bindings(accounts.to_vec()),
            )
            .await?;
        let answered = expect_sender_bindings(response, accounts).map_err(answer_error)?;
        let mut proven = Vec::with_capacity(accounts.len());
        for outcome in answered.outcomes {
            let verified = match (outcome.answer, outcome.refused) {
                (Some(answer), _) => match trust_of(trusts, &outcome.account) {
                    Ok(trust) => {
                        let trust = trust.clone();
                        self.verified
                            .binding_answer(&trust, &outcome.account, answer, now, max_skew)
                            .map_err(|e| BindingUnproven::Unverified(Box::new(e)))
                    }
                    Err(_) => Err(BindingUnproven::UnknownDomain),
                },
                // The codec checked exactly one is set.
                (None, refused) => Err(BindingUnproven::Refused(refused.unwrap_or_default())),
            };
            proven.push((outcome.account, verified));
        }
        Ok(proven)
    }

    /// The mailbox's entries.
    pub async fn inbox<G: Gateway>(&mut self, gateway: &G) -> Result<pb::Inbox, SessionError> {
        let response = self.request(gateway, &pb::SessionRequest::inbox()).await?;
        expect_inbox(response).map_err(answer_error)
    }

    /// The mailbox's entries; if it is empty, the gateway holds the answer until a mail
    /// arrives or `wait` (at most `MAX_INBOX_WAIT_MS`, longer is cut to it) has passed, then
    /// answers what it holds (perhaps nothing). A long poll: a reader waiting for mail asks
    /// once per `wait` instead of again and again. A gateway older than `wait_ms` answers at
    /// once.
    pub async fn inbox_waiting<G: Gateway>(
        &mut self,
        gateway: &G,
        wait: std::time::Duration,
    ) -> Result<pb::Inbox, SessionError> {
        let max = herald_proto::wire::MAX_INBOX_WAIT_MS;
        let wait_ms = u32::try_from(wait.as_millis()).unwrap_or(max).min(max);
        let request = pb::SessionRequest::inbox_waiting(wait_ms);
        let response = self.request(gateway, &request).await?;
        expect_inbox(response).map_err(answer_error)
    }

    /// What became of the mails sent (queued, delivered, not delivered and why).
    pub async fn outbox<G: Gateway>(&mut self, gateway: &G) -> Result<pb::Outbox, SessionError> {
        let response = self.request(gateway, &pb::SessionRequest::outbox()).await?;
        expect_outbox(response).map_err(answer_error)
    }

    /// Mail `id` of the mailbox as the gateway holds it (not opened).
    pub async fn fetch_mail<G: Gateway>(
        &mut self,
        gateway: &G,
        id: u64,
    ) -> Result<pb::StoredMail, SessionError> {
        let response = self
            .request(gateway, &pb::SessionRequest::fetch_mail(id))
            .await?;
        match expect_mail(response, id) {
            // Too large for one answer: by parts (`mail_transfer`).
            Err(herald_proto::wire::client::AnswerError::Refused(r))
                if r.kind == pb::ClientErrorKind::TooLarge as i32 =>
            {
                self.fetch_by_parts(gateway, id).await
            }
            other => other.map_err(answer_error),
        }
    }

    /// Fetches mail `id` and opens it (module docs): the sender's binding is verified against
    /// the sender domain's log among `trusts`, sig_A under it, the replay cache consulted and
    /// updated, the prekey secret used inside `keys` and a one-time one erased.
    #[allow(clippy::too_many_arguments)]
    pub async fn read_mail<G: Gateway, K: SecureKeyStore>(
        &mut self,
        gateway: &G,
        keys: &mut K,
        id: u64,
        trusts: &[LogTrust],
        replay: &mut ReplayCache,
        now: u64,
        max_skew: u64,
    ) -> Result<ReadMail, SessionError> {
        let stored = self.fetch_mail(gateway, id).await?;
        let envelope = envelope_of(&stored)?;
        let binding = self
            .proven_binding(gateway, &envelope.sender, trusts, now, max_skew)
            .await?;
        self.open_stored(stored, &binding, keys, replay, now)
    }

    /// Opens `stored` with its sender's proven `binding` (see [`read_mail`](Self::read_mail)).
    fn open_stored<K: SecureKeyStore>(
        &self,
        stored: pb::StoredMail,
        binding: &VerifiedBindingAnswer,
        keys: &mut K,
        replay: &mut ReplayCache,
        now: u64,
    ) -> Result<ReadMail, SessionError> {
        let envelope = envelope_of(&stored)?;
        let opened = open_envelope(
            envelope,
            self.account(),
            binding.binding(),
            binding.revocations(),
            &mut Card(keys),
            replay,
            now,
        )?;
        let content = MailContent::open(&opened.plaintext)
            .map_err(|e| SessionError::Mail(MailError::Wire(e)))?;
        Ok(ReadMail {
            id: stored.id,
            from_domain: stored.from_domain,
            received_at: stored.received_at,
            opened,
            content,
        })
    }

    /// Fetches mails `ids` (at most `wire::MAX_FETCH_MAILS`) in one request and opens each as
    /// [`read_mail`](Self::read_mail) does, asking for each distinct sender's binding once. One
    /// mail that does not open (forged, replayed, its sender's binding not proven) is that
    /// mail's error in [`ReadBatch::read`], not the batch's; a refused request is the batch's.
    #[allow(clippy::too_many_arguments)]
    pub async fn read_mails<G: Gateway, K: SecureKeyStore>(
        &mut self,
        gateway: &G,
        keys: &mut K,
        ids: &[u64],
        trusts: &[LogTrust],
        replay: &mut ReplayCache,
        now: u64,
        max_skew: u64,
    ) -> Result<ReadBatch, SessionError> {
        let response = self
            .request(gateway, &pb::SessionRequest::fetch_mails(ids.to_vec()))
            .await?;
        let fetched = expect_mails(response, ids).map_err(answer_error)?;
        self.read_fetched(gateway, keys, fetched, trusts, replay, now, max_skew)
            .await
    }

    /// Opens the mails of a checked `fetch_mails` (or `next_mails`) answer as
    /// [`read_mails`](Self::read_mails) does.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn read_fetched<G: Gateway, K: SecureKeyStore>(
        &mut self,
        gateway: &G,
        keys: &mut K,
        fetched: pb::StoredMails,
        trusts: &[LogTrust],
        replay: &mut ReplayCache,
        now: u64,
        max_skew: u64,
    ) -> Result<ReadBatch, SessionError> {
        // Each distinct sender's binding, asked for in one request (per `MAX_SENDER_BINDINGS`)
        // and verified once; a sender whose binding is not proven fails each of its mails.
        let mut senders: Vec<String> = Vec::new();
        for stored in &fetched.mails {
            if let Ok(e) = envelope_of(stored)
                && !senders.contains(&e.sender)
            {
                senders.push(e.sender.clone());
            }
        }
        let mut bindings = Vec::with_capacity(senders.len());
        for chunk in senders.chunks(MAX_SENDER_BINDINGS) {
            let proven = self
                .proven_bindings(gateway, chunk, trusts, now, max_skew)
                .await?;
            bindings.extend(proven);
        }
        let mut read = Vec::with_capacity(fetched.mails.len());
        for stored in fetched.mails {
            let id = stored.id;
            let opened = envelope_of(&stored)
                .map(|e| e.sender.clone())
                .and_then(|sender| {
                    match bindings.iter().find(|(a, _)| *a == sender).map(|(_, b)| b) {
                        Some(Ok(binding)) => Ok(binding),
                        Some(Err(why)) => Err(why.for_mail(&sender)),
                        None => Err(SessionError::BadAccount(sender)),
                    }
                })
                .and_then(|binding| self.open_stored(stored, binding, keys, replay, now));
            read.push((id, opened));
        }
        // Mails too large for a batch: each by parts (`mail_transfer`).
        for &id in &fetched.large {
            let opened = self
                .read_mail(gateway, keys, id, trusts, replay, now, max_skew)
                .await;
            read.push((id, opened));
        }
        Ok(ReadBatch {
            read,
            missing: fetched.missing,
            deferred: fetched.deferred,
        })
    }

    /// Deletes mails `ids` (at most `wire::MAX_FETCH_MAILS`) in one request; the answer says
    /// which were deleted now and which were not held.
    pub async fn acknowledge_mails<G: Gateway>(
        &mut self,
        gateway: &G,
        ids: &[u64],
    ) -> Result<pb::MailsAcknowledged, SessionError> {
        let response = self
            .request(
                gateway,
                &pb::SessionRequest::acknowledge_mails(ids.to_vec()),
            )
            .await?;
        expect_mails_acknowledged(response, ids).map_err(answer_error)
    }

    /// What this session's verifications remembered (checkpoints, senders' bindings).
    pub fn verified(&self) -> &crate::sender_bindings::Verified {
        &self.verified
    }

    /// Deletes mail `id` from the mailbox (once it is kept, or refused, on this side).
    pub async fn acknowledge_mail<G: Gateway>(
        &mut self,
        gateway: &G,
        id: u64,
    ) -> Result<(), SessionError> {
        let response = self
            .request(gateway, &pb::SessionRequest::acknowledge_mail(id))
            .await?;
        expect_mail_acknowledged(response).map_err(answer_error)
    }
}
