//! [`Postbox`]: a [`Party`] logged in to its own gateway, so that its certified mail travels as
//! mail between the domains (issue 12 §4) instead of as files handed over by the caller.
//!
//! Everything protocol-shaped is the light client's ([`CertMail::send_by_mail`],
//! [`CertMail::take_mailed`], [`CertMail::request_by_mail`], [`TrustedLog::delivery_status`]);
//! this file only logs in, uploads prekeys, and bounds every wait on the testnet.
//!
//! [`CertMail::send_by_mail`]: herald_light_client::certmail::CertMail::send_by_mail
//! [`CertMail::take_mailed`]: herald_light_client::certmail::CertMail::take_mailed
//! [`CertMail::request_by_mail`]: herald_light_client::certmail::CertMail::request_by_mail
//! [`TrustedLog::delivery_status`]: herald_light_client::TrustedLog::delivery_status

use std::time::Duration;

use herald_light_client::certmail::{
    Arrival, CertifiedMailError, Letter, MailRoute, RequestMade, RequestTerms, SenderConfig,
};
use herald_light_client::{
    ClientError, GatewayClient, LogTrust, MemorySessionStore, Session, SessionError,
};
use herald_proto::evidence::DeliveryStatus;
use herald_proto::paep::ReplayCache;
use herald_proto::wire::pb;

use crate::party::{CLOCK_SKEW_SECS, PASSWORD, Party, PartyError, SERVED_WITHIN, os_rng, unix_now};
use crate::testnet::Testnet;

/// One-time prekeys a party uploads when it opens its postbox (each mail to it uses one).
pub const PREKEYS: usize = 8;
/// Bound on a mail reaching a mailbox, and on a gateway's evidence being cosigned and served.
pub const DELIVERED_WITHIN: Duration = Duration::from_secs(40);

/// A party's session with its own gateway, the replay cache of the mail it read, and the domain
/// logs it checks prekeys and bindings in (every domain of the testnet).
pub struct Postbox {
    client: GatewayClient,
    session: Session<MemorySessionStore>,
    replay: ReplayCache,
    trusts: Vec<LogTrust>,
}

impl std::fmt::Debug for Postbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postbox")
            .field("account", &self.session.account())
            .finish_non_exhaustive()
    }
}

/// Why a postbox step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostboxError {
    /// The party's own step (connection, binding lookup).
    #[error(transparent)]
    Party(#[from] PartyError),
    /// Login, prekeys or the mailbox.
    #[error("mail: {0}")]
    Session(#[from] SessionError),
    /// The certified-mail driver refused or failed.
    #[error("certified mail: {0}")]
    CertMail(#[from] CertifiedMailError),
    /// A gateway's evidence could not be read or verified.
    #[error("evidence: {0}")]
    Evidence(#[from] ClientError),
    /// Nothing came within the bound.
    #[error("{0}")]
    Timeout(String),
}

impl From<crate::TestnetError> for PostboxError {
    fn from(e: crate::TestnetError) -> Self {
        PostboxError::Party(e.into())
    }
}

/// Whether `e` is the gateway's PENDING (a binding or prekey not yet cosigned and served).
fn pending(e: &CertifiedMailError) -> bool {
    let session = match e {
        CertifiedMailError::Mail(s) => s,
        _ => return false,
    };
    matches!(session, SessionError::Gateway(ClientError::Refused(r))
        if r.kind == pb::ClientErrorKind::Pending || r.kind == pb::ClientErrorKind::NotFound)
}

impl Postbox {
    /// Logs `party` in to its own gateway with [`PASSWORD`] and uploads [`PREKEYS`] one-time
    /// prekeys and a fallback, made inside its key store.
    pub async fn open(net: &Testnet, party: &mut Party) -> Result<Postbox, PostboxError> {
        let client = net.client(party.domain()).await?;
        let mut session = Session::login(
            &client,
            party.account(),
            PASSWORD,
            MemorySessionStore::new(),
        )
        .await?;
        session
            .upload_prekeys(&client, party.mail().keys_mut(), PREKEYS, true)
            .await?;
        let trusts = (0..net.len())
            .map(|i| net.log_trust(i))
            .collect::<Result<_, _>>()?;
        Ok(Postbox {
            client,
            session,
            replay: ReplayCache::new(),
            trusts,
        })
    }

    fn route(&mut self) -> MailRoute<'_, MemorySessionStore, GatewayClient> {
        MailRoute {
            session: &mut self.session,
            gateway: &self.client,
            trusts: &self.trusts,
            max_skew: CLOCK_SKEW_SECS,
        }
    }

    /// Step (a) by mail: seals `letter` and mails it; asks again while the recipient's binding
    /// or prekeys are not yet served (bounded). Returns the msg_id.
    pub async fn send_letter(
        &mut self,
        party: &mut Party,
        letter: Letter,
    ) -> Result<Vec<u8>, PostboxError> {
        let deadline = tokio::time::Instant::now() + SERVED_WITHIN;
        loop {
            let result = party
                .mail()
                .send_by_mail(&mut self.route(), letter.clone(), unix_now(), &mut os_rng())
                .await;
            match result {
                Err(e) if pending(&e) && tokio::time::Instant::now() < deadline => {
                    // The sealed record of the failed attempt stays "sealed" and unsent.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Waits (bounded) for the next mail in the mailbox and takes it: what it brought.
    /// `sender_terms` are the party's terms for accepting a key request.
    pub async fn next_arrival(
        &mut self,
        party: &mut Party,
        sender_terms: Option<&SenderConfig>,
    ) -> Result<Arrival, PostboxError> {
        let deadline = tokio::time::Instant::now() + DELIVERED_WITHIN;
        let id = loop {
            let inbox = self.session.inbox(&self.client).await?;
            if let Some(entry) = inbox.entries.first() {
                break entry.id;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PostboxError::Timeout(format!(
                    "no mail reached {} within {DELIVERED_WITHIN:?}",
                    party.account()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut route = MailRoute {
            session: &mut self.session,
            gateway: &self.client,
            trusts: &self.trusts,
            max_skew: CLOCK_SKEW_SECS,
        };
        let arrival = party
            .mail()
            .take_mailed(
                &mut route,
                id,
                &mut self.replay,
                sender_terms,
                unix_now(),
                &mut os_rng(),
            )
            .await?;
        if let Arrival::Opened { id, .. } = &arrival {
            // The caller holds M in the answer; the tests and the demo keep it in memory.
            route.session.acknowledge_mail(route.gateway, *id).await?;
        }
        Ok(arrival)
    }

    /// Step (b) by mail: asks for the key of the offered letter `msg_id` and mails the
    /// request to its sender.
    pub async fn request_key(
        &mut self,
        party: &mut Party,
        msg_id: &[u8],
        terms: RequestTerms,
    ) -> Result<RequestMade, PostboxError> {
        Ok(party
            .mail()
            .request_by_mail(&mut self.route(), msg_id, terms, unix_now(), &mut os_rng())
            .await?)
    }

    /// How many mails the mailbox lists now.
    pub async fn waiting(&mut self) -> Result<usize, PostboxError> {
        Ok(self.session.inbox(&self.client).await?.entries.len())
    }

    /// Mails `carried` to `to` as this party (for tests that send what an honest client would
    /// not).
    pub async fn mail_carried(
        &mut self,
        party: &mut Party,
        to: &str,
        mail_id: &[u8],
        carried: &herald_proto::certmail::Carried,
    ) -> Result<pb::MailAccepted, PostboxError> {
        Ok(party
            .mail()
            .mail_carried(&mut self.route(), to, mail_id, carried, unix_now())
            .await?)
    }
}

/// The delivery-status records node `domain` logged for `msg_id`, each proven in a checkpoint
/// cosigned as the testnet's witness policy for that log requires, and that checkpoint trusted
/// by `reader` (consistent with what it trusted before): waits (bounded) until there are at
/// least `count`.
pub async fn timeline(
    net: &Testnet,
    reader: &Party,
    domain: usize,
    msg_id: &[u8],
    count: usize,
) -> Result<DeliveryStatus, PostboxError> {
    let trust = net.log_trust(domain)?;
    let deadline = tokio::time::Instant::now() + DELIVERED_WITHIN;
    loop {
        let mut log = reader.follow_log(net, domain, &trust).await?;
        let last = match log.delivery_status(msg_id).await {
            Ok(status) if status.records.len() >= count => return Ok(status),
            Ok(status) => format!("{} records", status.records.len()),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(PostboxError::Timeout(format!(
                "node {domain} served no {count} evidence records within {DELIVERED_WITHIN:?} ({last})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
