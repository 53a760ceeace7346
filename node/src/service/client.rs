//! The client protocol `/herald/client/1`, server side: one `ClientRequest` in, one
//! `ClientResponse` out, never a panic.
//!
//! Submissions, one entry or a batch, are checked before anything changes (DESIGN §5) by
//! [`Intake::submit`] and [`Intake::submit_batch`] (kinds, bounds, canonical encoding,
//! signatures, and for key publications the author's account and duplicates); only then do
//! entries go to the sequencer, exactly as sent, and the answer waits until they are durable and
//! carries their proofs (`submit.rs`: one round trip). Reads see only the published (flushed)
//! log: proofs are read on the calling task (a few tiles from the page cache and O(log n)
//! hashes: the profile in `docs/performance.md` found the hand-off to a blocking thread and back
//! costing more than the read), entry pages and alerts on blocking threads.
//!
//! Certified mail (DESIGN §3.3): `register`, `binding`, `publication` and `trust` are answered
//! by [`Intake`]; its refusals carry their own kinds (`UNAUTHORIZED`, `DUPLICATE`, `PENDING`
//! with a retry time, ...).
//!
//! Witnessing (DESIGN §2): `CheckpointRequest { cosigned: true }` answers the latest checkpoint
//! a quorum of this gateway's witnesses cosigned (`NOT_FOUND` while there is none), and
//! `AlertsRequest` the equivocation proofs the gateway holds, each of which the client verifies
//! itself.
//!
//! PAEP (DESIGN §3.1, §3.2): `password_params`, `login_share`, `login_finish`, `session` and
//! `prekey_bundle` are answered by [`Paep`]; requests that act for an account reach it only
//! sealed in a session frame.
//!
//! The network worker has already answered what never reaches here: bytes that are not a valid
//! request, requests over the in-flight bound, requests while shutting down.

use herald_proto::merkle::{HASH_LEN, Hash};
use herald_proto::wire::MAX_ALERTS_PER_ANSWER;
use herald_proto::wire::pb::{
    self, ClientErrorKind, client_request, client_response, inclusion_request,
};
use libp2p::PeerId;
use tracing::error;

use std::sync::Arc;

use super::{Intake, Paep, Refusal, SubmitLimiter};
use crate::policy::PolicyGate;
use crate::store::{LogStore, ReadError};
use crate::watch::SplitViewWatch;

/// Answers client requests from the log. Cheap to clone (handles inside).
#[derive(Clone, Debug)]
pub struct ClientService {
    pub(super) intake: Intake,
    pub(super) store: LogStore,
    watch: SplitViewWatch,
    paep: Paep,
    pub(super) limiter: Arc<SubmitLimiter>,
    /// The mail policy: served to clients, and the gate the relay judges mails with.
    policy: Arc<PolicyGate>,
}

fn client_error(kind: ClientErrorKind, message: &str) -> pb::ClientResponse {
    pb::ClientResponse::refusal(kind, message)
}

fn answer(response: client_response::Response) -> pb::ClientResponse {
    pb::ClientResponse {
        response: Some(response),
    }
}

impl ClientService {
    /// A service over the intake (submissions, accounts, lookups), the store (for reads), the
    /// split-view watch (for alerts), PAEP (logins, sessions, prekeys) and the per-peer
    /// submission limits.
    pub fn new(
        intake: Intake,
        store: LogStore,
        watch: SplitViewWatch,
        paep: Paep,
        limiter: Arc<SubmitLimiter>,
    ) -> Self {
        ClientService {
            intake,
            store,
            watch,
            paep,
            limiter,
            policy: Arc::new(PolicyGate::unregistered(Default::default())),
        }
    }

    /// The same service with the gateway's configured `policy` (the default rule set
    /// otherwise).
    pub fn with_policy(mut self, policy: Arc<PolicyGate>) -> Self {
        self.policy = policy;
        self
    }

    /// The mail policy gate (the relay calls its `judge_from_client` / `judge_from_peer`).
    pub fn policy(&self) -> &Arc<PolicyGate> {
        &self.policy
    }

    /// Answers one validated request from `peer` (registrations are limited per peer).
    ///
    /// The future is as large as its largest branch, and every request's is boxed by the
    /// stream that carries it: the large, rare branches (`session`, the relays, registration,
    /// peer evidence) box their own, so a submission's or a read's stays small (bounded by
    /// `service::inbound`'s `a_client_requests_future_stays_small`).
    pub async fn handle(&self, peer: PeerId, request: pb::ClientRequest) -> pb::ClientResponse {
        match request.request {
            None => client_error(ClientErrorKind::Malformed, "request has no kind"),
            Some(client_request::Request::Submit(s)) => refused_or(
                self.submit(peer, s.entry, s.opening, s.trusted_size).await,
                |r| r,
            ),
            Some(client_request::Request::SubmitBatch(b)) => refused_or(
                self.submit_batch(peer, b.entries, b.trusted_size).await,
                |r| r,
            ),
            Some(client_request::Request::Checkpoint(r)) if r.cosigned => self
                .read(|store| match store.cosigned()? {
                    Some(note) => Ok(client_response::Response::Checkpoint(
                        pb::SignedCheckpoint { note },
                    )),
                    None => Err(ReadError::NotFound),
                })
                .await
                .map_not_found("no checkpoint of this log has been cosigned yet"),
            Some(client_request::Request::Checkpoint(_)) => self.checkpoint(),
            Some(client_request::Request::Alerts(r)) => self.alerts(r.origin).await,
            Some(client_request::Request::Entries(r)) => {
                self.read(move |store| {
                    let entries = store.entries(r.start, r.count)?;
                    Ok(client_response::Response::Entries(pb::EntryPage {
                        start: r.start,
                        entries,
                    }))
                })
                .await
            }
            Some(client_request::Request::Inclusion(r)) => {
                self.read_now(|store| inclusion(store, r))
            }
            Some(client_request::Request::Consistency(r)) => self.read_now(|store| {
                let hashes = store.consistency_proof(r.size1, r.size2)?;
                Ok(client_response::Response::Consistency(
                    pb::ConsistencyProof::new(r.size1, r.size2, &hashes),
                ))
            }),
            Some(client_request::Request::Register(r)) => refused_or(
                Box::pin(self.intake.register(peer, r))
                    .await
                    .and_then(|ack| super::submit::proved_ack(&self.store, ack, 0)),
                client_response::Response::Submitted,
            ),
            Some(client_request::Request::Binding(r)) => refused_or(
                self.intake.binding(r.account).await,
                client_response::Response::Binding,
            ),
            Some(client_request::Request::Publication(r)) => refused_or(
                self.intake.publication(r.req_hash).await,
                client_response::Response::Included,
            ),
            Some(client_request::Request::Evidence(r)) if !r.domain.is_empty() => refused_or(
                Box::pin(self.paep.peer_evidence(r)).await,
                client_response::Response::Evidence,
            ),
            Some(client_request::Request::Evidence(r)) => refused_or(
                self.intake.evidence_status(r.msg_id).await,
                client_response::Response::Evidence,
            ),
            Some(client_request::Request::Trust(_)) => {
                refused_or(self.intake.trust(), client_response::Response::Trust)
            }
            Some(client_request::Request::PasswordParams(r)) => refused_or(
                self.paep.password_params(&r.account).await,
                client_response::Response::PasswordParams,
            ),
            Some(client_request::Request::LoginShare(share)) => refused_or(
                self.paep.login_share(peer, share).await,
                client_response::Response::LoginChallenge,
            ),
            Some(client_request::Request::LoginFinish(finish)) => refused_or(
                self.paep.login_finish(peer, finish).await,
                client_response::Response::LoginAccepted,
            ),
            Some(client_request::Request::Session(frame)) => {
                refused_or(Box::pin(self.paep.session(frame)).await, |r| r)
            }
            Some(client_request::Request::PrekeyBundle(r)) => {
                refused_or(self.paep.prekey_bundle(peer, r.account).await, |b| {
                    client_response::Response::PrekeyBundle(Box::new(b))
                })
            }
            Some(client_request::Request::Policy(_)) => {
                answer(client_response::Response::Policy(self.policy.wire_rules()))
            }
            Some(client_request::Request::RelayPrekey(r)) => {
                refused_or(self.paep.relay_prekey(peer, r).await, |b| {
                    client_response::Response::PrekeyBundle(Box::new(b))
                })
            }
            Some(client_request::Request::RelayMail(r)) => refused_or(
                Box::pin(self.paep.relay_mail(peer, r)).await,
                client_response::Response::RelayAccepted,
            ),
            Some(client_request::Request::RelayEvidence(r)) => refused_or(
                self.paep.relay_evidence(peer, r).await,
                client_response::Response::Evidence,
            ),
            Some(client_request::Request::RelayMails(b)) => refused_or(
                self.paep.relay_mails(peer, b).await,
                client_response::Response::RelaysAccepted,
            ),
            Some(client_request::Request::RelayChunk(r)) => refused_or(
                Box::pin(self.paep.relay_chunk(peer, r)).await,
                client_response::Response::RelayChunkProgress,
            ),
            Some(client_request::Request::RelayLargeMail(r)) => refused_or(
                Box::pin(self.paep.relay_large_mail(peer, r)).await,
                client_response::Response::RelayAccepted,
            ),
        }
    }

    fn checkpoint(&self) -> pb::ClientResponse {
        let head = self.store.head();
        if head.checkpoint.is_empty() {
            return client_error(ClientErrorKind::Internal, "no checkpoint signed yet");
        }
        answer(client_response::Response::Checkpoint(
            pb::SignedCheckpoint {
                note: head.checkpoint,
            },
        ))
    }

    async fn alerts(&self, origin: String) -> pb::ClientResponse {
        let watch = self.watch.clone();
        let listed = tokio::task::spawn_blocking(move || {
            let origin = (!origin.is_empty()).then_some(origin.as_str());
            watch.alerts().list(origin, MAX_ALERTS_PER_ANSWER)
        })
        .await;
        match listed {
            Ok(Ok(alerts)) => answer(client_response::Response::Alerts(pb::AlertList {
                alerts: alerts.iter().map(|a| a.to_wire()).collect(),
            })),
            Ok(Err(e)) => {
                error!(error = %e, "alert read failed");
                client_error(
                    ClientErrorKind::Internal,
                    "the gateway could not read its alerts",
                )
            }
            Err(e) => {
                error!(error = %e, "alert read task failed");
                client_error(ClientErrorKind::Internal, "read failed")
            }
        }
    }

    /// Runs a short store read (a proof: O(log n) hashes) on this task and maps its errors.
    fn read_now<F>(&self, read: F) -> pb::ClientResponse
    where
        F: FnOnce(&LogStore) -> Result<client_response::Response, ReadError>,
    {
        match read(&self.store) {
            Ok(response) => answer(response),
            Err(e) => read_error(e),
        }
    }

    /// Runs a store read on a blocking thread and maps its errors to client errors.
    async fn read<F>(&self, read: F) -> pb::ClientResponse
    where
        F: FnOnce(&LogStore) -> Result<client_response::Response, ReadError> + Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || read(&store)).await {
            Ok(Ok(response)) => answer(response),
            Ok(Err(e)) => read_error(e),
            Err(e) => {
                error!(error = %e, "store read task failed");
                client_error(ClientErrorKind::Internal, "read failed")
            }
        }
    }
}

/// The answer made by `to_response`, or the refusal.
fn refused_or<T>(
    result: Result<T, Refusal>,
    to_response: impl FnOnce(T) -> client_response::Response,
) -> pb::ClientResponse {
    match result {
        Ok(value) => answer(to_response(value)),
        Err(e) => pb::ClientResponse::error(e.to_wire()),
    }
}

/// Rewording a `NOT_FOUND` answer for requests that are not about a leaf.
trait NotFoundMessage {
    fn map_not_found(self, message: &str) -> Self;
}

impl NotFoundMessage for pb::ClientResponse {
    fn map_not_found(mut self, message: &str) -> Self {
        if let Some(client_response::Response::Error(e)) = &mut self.response
            && e.kind == ClientErrorKind::NotFound as i32
        {
            message.clone_into(&mut e.message);
        }
        self
    }
}

/// The inclusion proof a request asks for; tree size 0 means the latest.
fn inclusion(
    store: &LogStore,
    r: pb::InclusionRequest,
) -> Result<client_response::Response, ReadError> {
    let size = match r.tree_size {
        0 => store.head_size(),
        n => n,
    };
    let (index, leaf_hash, hashes) = match r.leaf {
        Some(inclusion_request::Leaf::Index(index)) => {
            let hashes = store.inclusion_proof(index, size)?;
            (index, store.leaf_hash(index)?, hashes)
        }
        Some(inclusion_request::Leaf::LeafHash(bytes)) => {
            // Validation made it exactly 32 bytes; anything else finds nothing.
            let leaf: Hash =
                <[u8; HASH_LEN]>::try_from(bytes.as_slice()).map_err(|_| ReadError::NotFound)?;
            let (index, hashes) = store.inclusion_proof_by_leaf_hash(&leaf, size)?;
            (index, leaf, hashes)
        }
        None => return Err(ReadError::NotFound),
    };
    Ok(client_response::Response::Inclusion(pb::InclusionAnswer {
        proof: Some(pb::InclusionProof::new(index, size, &hashes)),
        leaf_hash: leaf_hash.to_vec(),
    }))
}

fn read_error(e: ReadError) -> pb::ClientResponse {
    match e {
        ReadError::OutOfRange { size } => pb::ClientResponse::error(pb::ClientError {
            kind: ClientErrorKind::OutOfRange as i32,
            message: format!("out of range: the log has {size} entries"),
            retry_after_ms: 0,
            tree_size: size,
        }),
        ReadError::NotFound => client_error(ClientErrorKind::NotFound, "no leaf has that hash"),
        ReadError::InvalidCount => client_error(
            ClientErrorKind::Malformed,
            "an entry page must ask for at least one entry",
        ),
        e => {
            error!(error = %e, "log read failed");
            client_error(
                ClientErrorKind::Internal,
                "the gateway could not read its log",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use herald_proto::wire::{MAX_ERROR_MESSAGE_BYTES, Validate as _};

    use super::*;

    #[test]
    fn error_messages_are_cut_at_a_char_boundary() {
        let long = "é".repeat(MAX_ERROR_MESSAGE_BYTES);
        let response = client_error(ClientErrorKind::Internal, &long);
        let Some(client_response::Response::Error(e)) = response.response else {
            unreachable!()
        };
        assert!(e.message.len() <= MAX_ERROR_MESSAGE_BYTES);
        assert!(
            pb::ClientResponse {
                response: Some(client_response::Response::Error(e))
            }
            .validate()
            .is_ok()
        );
        let refusal = refused_or::<()>(
            Err(Refusal::Unauthorized("é".repeat(MAX_ERROR_MESSAGE_BYTES))),
            |()| unreachable!(),
        );
        assert!(refusal.validate().is_ok());
    }
}
