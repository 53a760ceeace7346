//! Relays in batches between registered peers (proto's `wire::client::relay_batch`): S_A sends
//! the mails due for one peer in one `relay_mails` request, S_B takes each relay exactly as a
//! `relay_mail` of it ([`MailService::relay_in`]: only once durable in the mailbox, idempotent
//! by msg_id) and answers each on its own, so one mail's refusal is that mail's only.
//!
//! S_A's relay task ([`MailService::requests_of`]) limits requests in flight, not mails: while
//! few mails wait each goes alone as soon as it is due (no added delay), and when the requests
//! in flight are at their bound the mails due meanwhile go together, up to
//! `MAX_RELAYS_PER_REQUEST` and the request bound per peer, in the next request. A mail for an
//! account of this domain, or past its expiry, is still attempted alone.
//!
//! A peer that refuses a whole `relay_mails` request as malformed (a gateway that predates it
//! does not know the request) is not taken at its word for the mails: they are attempted one
//! per request at once, and the peer's mails go one per request for [`ONE_BY_ONE_FOR`]
//! ([`OneByOne`]), after which a batch is tried again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use herald_light_client::ClientError;
use herald_proto::wire::client::{AnswerError, MAX_RELAYS_PER_REQUEST, expect_relays_accepted};
use herald_proto::wire::pb::{self, ClientErrorKind};
use herald_proto::wire::{MAX_CLIENT_REQUEST_BYTES, MAX_ERROR_MESSAGE_BYTES};
use libp2p::PeerId;
use prost::Message as _;
use tracing::{error, warn};

use super::MailService;
use super::at_rest::StoreError;
use super::outbox::Queued;
use super::relay::{AttemptOutcome, no_longer_a_peer, refused_by};
use crate::service::Refusal;

/// Room left in a batch request for its framing: each relay's field tag and length, the
/// request's own, with a margin.
const RELAY_FRAMING_BYTES: usize = 16;
const REQUEST_FRAMING_BYTES: usize = 256;
/// How long a peer that refused a batch request gets its mails one per request.
pub(super) const ONE_BY_ONE_FOR: Duration = Duration::from_secs(600);
/// Most peers remembered as refusing batches (a peer list is far smaller; a bound anyway).
const MAX_ONE_BY_ONE_PEERS: usize = 1024;

/// The peer domains that refused a `relay_mails` request whole, and until when their mails go
/// one per request.
#[derive(Debug, Default)]
pub(super) struct OneByOne(Mutex<HashMap<String, Instant>>);

impl OneByOne {
    /// `domain` refused a batch at `now`.
    pub(super) fn remember(&self, domain: &str, now: Instant) {
        let mut peers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        peers.retain(|_, until| *until > now);
        if peers.len() < MAX_ONE_BY_ONE_PEERS {
            peers.insert(domain.to_ascii_lowercase(), now + ONE_BY_ONE_FOR);
        }
    }

    /// Whether `domain`'s mails go one per request at `now`.
    pub(super) fn holds(&self, domain: &str, now: Instant) -> bool {
        let peers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        peers
            .get(&domain.to_ascii_lowercase())
            .is_some_and(|until| *until > now)
    }
}

/// Whether a peer's refusal of a whole `relay_mails` request says it does not take batches: a
/// gateway that predates the request decodes it without its kind and answers `MALFORMED`
/// (as a current one does for a batch that does not validate; one per request is right then
/// too, each mail getting its own answer).
pub(super) fn refuses_batches(e: &ClientError) -> bool {
    matches!(e, ClientError::Refused(r) if r.kind == ClientErrorKind::Malformed)
}

impl MailService {
    /// S_B: the relays of one `relay_mails` request from `peer`, each taken as
    /// [`relay_in`](Self::relay_in) takes it, all at once (their records share evidence
    /// rounds); one outcome per relay, in order. A batch whose first relay is not from the
    /// registered peer of its domain is refused whole (and counted once as `unregistered`).
    pub(crate) async fn relay_in_all(
        &self,
        peer: PeerId,
        relays: Vec<pb::RelayEnvelope>,
    ) -> Result<pb::RelaysAccepted, Refusal> {
        let from_domain = relays
            .first()
            .map(|r| r.from_domain.as_str())
            .unwrap_or_default();
        self.admit_relay_peer(&peer, from_domain)?;
        if self.inner.settings.refuse_relay_batches {
            // The test hook: answered as a gateway that does not know the request.
            return Err(Refusal::Malformed(
                herald_proto::wire::WireError::MissingField {
                    field: "ClientRequest.request",
                },
            ));
        }
        let outcomes = futures::future::join_all(relays.into_iter().map(|relay| {
            let msg_id = relay
                .envelope
                .as_ref()
                .map(|e| e.msg_id.clone())
                .unwrap_or_default();
            async move {
                match self.relay_in(peer, relay).await {
                    Ok(accepted) => pb::RelayOutcome::accepted(accepted),
                    Err(refusal) => pb::RelayOutcome::refused(
                        msg_id,
                        refusal.to_wire().cut(MAX_ERROR_MESSAGE_BYTES),
                    ),
                }
            }
        }))
        .await;
        Ok(pb::RelaysAccepted { outcomes })
    }

    /// S_A: the requests that relay the mails `due` — a mail of this domain or past its expiry
    /// alone, the others grouped per peer domain up to `MAX_RELAYS_PER_REQUEST` and the request
    /// bound. A record that does not read is reported and left in place.
    pub(super) fn requests_of(&self, due: Vec<Result<Queued, StoreError>>) -> Vec<Vec<Queued>> {
        let now = self.now();
        let mut requests = Vec::new();
        let mut by_peer: BTreeMap<String, Vec<Queued>> = BTreeMap::new();
        for item in due {
            match item {
                // A large mail goes alone, in chunks (`transfer`).
                Ok(q)
                    if self.is_own(&q.relay.to_domain)
                        || q.relay.expires_at <= now
                        || q.travels_in_chunks()
                        || self
                            .inner
                            .one_by_one
                            .holds(&q.relay.to_domain, Instant::now()) =>
                {
                    requests.push(vec![q]);
                }
                Ok(q) => by_peer
                    .entry(q.relay.to_domain.to_ascii_lowercase())
                    .or_default()
                    .push(q),
                Err(e) => {
                    error!(error = %e, "an outbound queue record does not read; left in place")
                }
            }
        }
        let budget = MAX_CLIENT_REQUEST_BYTES - REQUEST_FRAMING_BYTES;
        for mails in by_peer.into_values() {
            let (mut batch, mut bytes) = (Vec::new(), 0);
            for q in mails {
                let size = q.relay.encoded_len() + RELAY_FRAMING_BYTES;
                if !batch.is_empty()
                    && (batch.len() == MAX_RELAYS_PER_REQUEST || bytes + size > budget)
                {
                    requests.push(std::mem::take(&mut batch));
                    bytes = 0;
                }
                bytes += size;
                batch.push(q);
            }
            if !batch.is_empty() {
                requests.push(batch);
            }
        }
        requests
    }

    /// S_A: one attempt at relaying `batch` (mails for one peer domain) in one request, and
    /// what follows from each mail's outcome; a failure of the whole request (the peer not
    /// reached, or refusing it) is each mail's.
    pub(super) async fn attempt_batch(&self, batch: Vec<Queued>) {
        let Some(to) = batch.first().map(|q| q.relay.to_domain.clone()) else {
            return;
        };
        let now = self.now();
        let outcomes: Vec<AttemptOutcome> = match self.inner.peers.snapshot().by_domain(&to) {
            None => batch.iter().map(|_| Err(no_longer_a_peer(&to))).collect(),
            Some(peer) => {
                let request =
                    pb::ClientRequest::relay_mails(batch.iter().map(|q| q.relay.clone()).collect());
                let msg_ids: Vec<&[u8]> =
                    batch.iter().map(|q| q.envelope.msg_id.as_slice()).collect();
                let answered = self
                    .inner
                    .node
                    .client_request(peer.peer_id, peer.addrs.clone(), request)
                    .await
                    .and_then(|response| {
                        expect_relays_accepted(response, &msg_ids).map_err(ClientError::from)
                    });
                match answered {
                    Err(e) if refuses_batches(&e) => {
                        warn!(peer = %to, error = %e, "a peer refused a batch of relays; relaying its mails one per request for a while");
                        self.inner.one_by_one.remember(&to, Instant::now());
                        futures::future::join_all(batch.into_iter().map(|q| self.attempt(q))).await;
                        return;
                    }
                    Ok(each) => each
                        .into_iter()
                        .map(|outcome| {
                            outcome.map(|a| a.duplicate).map_err(|refusal| {
                                refused_by(&to, ClientError::from(AnswerError::Refused(refusal)))
                            })
                        })
                        .collect(),
                    Err(e) => {
                        let failure = refused_by(&to, e);
                        batch.iter().map(|_| Err(failure.clone())).collect()
                    }
                }
            }
        };
        futures::future::join_all(
            batch
                .into_iter()
                .zip(outcomes)
                .map(|(queued, outcome)| self.settle(queued, outcome, now)),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use herald_light_client::ClientError;

    use super::*;

    fn refusal(kind: ClientErrorKind) -> ClientError {
        ClientError::Refused(herald_light_client::GatewayRefusal {
            kind,
            message: "x".into(),
            retry_after: None,
            tree_size: None,
        })
    }

    #[test]
    fn only_a_malformed_answer_to_the_whole_batch_means_one_per_request() {
        assert!(refuses_batches(&refusal(ClientErrorKind::Malformed)));
        for other in [
            ClientErrorKind::Forbidden,
            ClientErrorKind::Busy,
            ClientErrorKind::NotFound,
        ] {
            assert!(!refuses_batches(&refusal(other)), "{other:?}");
        }
    }

    #[test]
    fn a_peer_that_refused_a_batch_gets_one_per_request_for_a_while() {
        let peers = OneByOne::default();
        let t0 = Instant::now();
        assert!(!peers.holds("beta.test", t0));
        peers.remember("Beta.Test", t0);
        assert!(peers.holds("beta.test", t0 + ONE_BY_ONE_FOR / 2));
        assert!(!peers.holds("gamma.test", t0));
        // Then a batch is tried again.
        assert!(!peers.holds("beta.test", t0 + ONE_BY_ONE_FOR));
    }
}
