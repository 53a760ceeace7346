//! The delivery-status query between registered peers (DESIGN §3.4: "S_A, and A through it,
//! asks S_B for the evidence of a msg_id").
//!
//! - S_B ([`MailService::relay_evidence`]): a `relay_evidence` request is taken only from the
//!   registered peer of its `from_domain` (refused and counted as `unregistered` like a relay);
//!   the answer is S_B's own `EvidenceAnswer`, signed by its log key over the asker's nonce
//!   (`evidence::sign_relayed_answer`), "nothing logged" and "not yet cosigned" included (an
//!   answer without records), so S_A can invent no answer of S_B's.
//! - S_A ([`MailService::peer_evidence`]): a client's `EvidenceRequest` naming a peer's domain is
//!   passed on to that peer and its answer returned unchanged; the client checks it against the
//!   peer's log from its own trust list (`evidence::verify_relayed_status`), so S_A is trusted
//!   for nothing. At most [`MAX_STATUS_QUERIES_AT_ONCE`] are in flight: more are refused `BUSY`,
//!   so clients cannot make this gateway flood its peers.

use herald_light_client::ClientError;
use herald_proto::evidence::sign_relayed_answer;
use herald_proto::wire::client::expect_evidence;
use herald_proto::wire::pb::{self, ClientErrorKind};
use libp2p::PeerId;

use super::MailService;
use crate::service::Refusal;

/// Most status queries this gateway passes on to its peers at once.
pub(crate) const MAX_STATUS_QUERIES_AT_ONCE: usize = 32;

impl MailService {
    /// S_B: the records of `request.msg_id` for the registered peer `peer`, signed over its
    /// client's nonce.
    pub(crate) async fn relay_evidence(
        &self,
        peer: PeerId,
        request: pb::RelayEvidenceRequest,
    ) -> Result<pb::EvidenceAnswer, Refusal> {
        self.admit_relay_peer(&peer, &request.from_domain)?;
        self.signed_evidence(request.msg_id, &request.nonce).await
    }

    /// This gateway's records of `msg_id`, signed over `nonce` by its log key; "none logged"
    /// and "none cosigned yet" are signed answers too (without records), never refusals, so
    /// the gateway passing them on cannot make them up.
    async fn signed_evidence(
        &self,
        msg_id: Vec<u8>,
        nonce: &[u8],
    ) -> Result<pb::EvidenceAnswer, Refusal> {
        let mut answer = self.inner.intake.evidence_found(msg_id.clone()).await?;
        sign_relayed_answer(&mut answer, &msg_id, nonce, &self.inner.log_key);
        Ok(answer)
    }

    /// S_A, for a client: the records of `msg_id` at the registered peer of `domain`, asked
    /// with the client's `nonce`, returned unchanged (this gateway's own, signed the same way,
    /// when `domain` is its own). The peer's refusals are passed on.
    pub(crate) async fn peer_evidence(
        &self,
        domain: &str,
        msg_id: Vec<u8>,
        nonce: Vec<u8>,
    ) -> Result<pb::EvidenceAnswer, Refusal> {
        if self.is_own(domain) {
            return self.signed_evidence(msg_id, &nonce).await;
        }
        let peer = self.peer_of(domain, "that domain is not a peer of this gateway")?;
        let Ok(_permit) = self.inner.status_queries.try_acquire() else {
            self.inner
                .metrics
                .relay_refused
                .get_or_create(&crate::metrics::KindLabel {
                    kind: "status_busy",
                })
                .inc();
            return Err(Refusal::MailRefused {
                kind: ClientErrorKind::Busy,
                reason: "too many delivery-status queries to peers at once; ask again".into(),
            });
        };
        let request = pb::ClientRequest::relay_evidence(&self.inner.domain, &msg_id, &nonce);
        let answered = self
            .inner
            .node
            .client_request(peer.peer_id, peer.addrs.clone(), request)
            .await
            .and_then(|response| expect_evidence(response).map_err(ClientError::from));
        answered.map_err(|e| match e {
            ClientError::Refused(r) => Refusal::MailRefused {
                kind: r.kind,
                reason: format!("{domain}'s gateway: {}", r.message),
            },
            other => Refusal::MailRefused {
                kind: ClientErrorKind::Busy,
                reason: format!("{domain}'s gateway could not be reached: {other}"),
            },
        })
    }
}
