//! The client's side of `/herald/client/1`, sans-IO: the request of each call, and the check that
//! an answer is the one that request asks for.
//!
//! Every party that asks a gateway something runs these: the light client, the node when it reads
//! its peers' logs and asks them for alerts (a witness is a light client of the logs it watches),
//! and the tests. A transport carries one `ClientRequest` and brings back one `ClientResponse`
//! (valid in shape: the codec validated it); `expect_*` then tells apart
//! - the answer asked for, returned as its message;
//! - the gateway's refusal ([`AnswerError::Refused`], its `ClientError`);
//! - another kind of answer ([`AnswerError::WrongKind`]: the gateway misbehaved);
//! - the right kind about something else: another first index, another tree size, another leaf,
//!   another pair of sizes, more entries than asked ([`AnswerError::Mismatch`]: misbehaved too).
//!
//! Whether what the answer says is *true* (signatures, proofs) is verification, done by the
//! caller against what it trusts; this module only says whether it answers the question.
//!
//! By what they answer: the reads of the log (checkpoint, entries, inclusion and consistency
//! proofs) are checked in `log_read`, the submissions (an entry, a batch, a registration) in
//! `submission`, the lookups (alerts, binding, publication, evidence, trust, policy) here.

use core::fmt;

use crate::wire::pb::{self, client_request, client_response, inclusion_request};

mod log_read;
mod submission;

pub use log_read::{expect_checkpoint, expect_consistency, expect_entries, expect_inclusion};
pub use submission::{
    batch_outcomes, expect_batch_submitted, expect_registered, expect_submitted,
    expect_submitted_proved,
};

/// Why an answer is not the one its request asks for. Closed: an answer is refused, of another
/// kind, or about something else.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AnswerError {
    /// The gateway refused (its `ClientError`, validated: a known kind, a bounded message).
    #[error("the gateway refused: {}", Refusal(.0))]
    Refused(pb::ClientError),
    /// The gateway answered with another kind of response than the request asks for.
    #[error("the gateway answered a {request} request with {response}")]
    WrongKind {
        /// The kind of request sent.
        request: &'static str,
        /// The kind of response received.
        response: &'static str,
    },
    /// The answer is of the right kind but about something else than was asked.
    #[error("{what}: asked {asked}, answered {answered}")]
    Mismatch {
        /// What differs.
        what: &'static str,
        /// What was asked.
        asked: String,
        /// What the answer says.
        answered: String,
    },
}

impl AnswerError {
    /// Whether the gateway misbehaved (any answer but a refusal).
    pub fn is_peer_misbehaviour(&self) -> bool {
        !matches!(self, AnswerError::Refused(_))
    }
}

/// A refusal as shown in messages: its message comes from the gateway, so it is escaped.
struct Refusal<'a>(&'a pb::ClientError);

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind =
            pb::ClientErrorKind::try_from(self.0.kind).unwrap_or(pb::ClientErrorKind::Unspecified);
        write!(f, "{} ({:?})", kind.as_str_name(), self.0.message)
    }
}

/// The requests of `/herald/client/1`, one constructor per call.
impl pb::ClientRequest {
    pub(super) fn of(request: client_request::Request) -> Self {
        pb::ClientRequest {
            request: Some(request),
        }
    }

    /// The latest checkpoint, or (`cosigned`) the latest one a quorum of the gateway's witnesses
    /// cosigned.
    pub fn checkpoint(cosigned: bool) -> Self {
        Self::of(client_request::Request::Checkpoint(pb::CheckpointRequest {
            cosigned,
        }))
    }

    /// Appends `entry`, an encoded `LogEntry` (the client trusts no checkpoint of the log yet).
    pub fn submit(entry: Vec<u8>) -> Self {
        Self::submit_trusting(entry, 0)
    }

    /// Appends `entry`; the ack proves it included and, from `trusted_size` (the size of the
    /// latest checkpoint the client trusts, 0 for none), consistent: one round trip.
    pub fn submit_trusting(entry: Vec<u8>, trusted_size: u64) -> Self {
        Self::of(client_request::Request::Submit(pb::SubmitEntry {
            entry,
            trusted_size,
            opening: None,
        }))
    }

    /// Appends the sealed key publication `entry` with its `opening` (which the gateway
    /// checks and never logs), proved as [`submit_trusting`](Self::submit_trusting) is.
    pub fn submit_publication(
        entry: Vec<u8>,
        opening: pb::PublicationOpening,
        trusted_size: u64,
    ) -> Self {
        Self::of(client_request::Request::Submit(pb::SubmitEntry {
            entry,
            trusted_size,
            opening: Some(opening),
        }))
    }

    /// Appends `entries` as one batch (each admitted or refused on its own), proved in one
    /// answer against `trusted_size` as [`submit_trusting`](Self::submit_trusting) is.
    pub fn submit_batch(entries: Vec<Vec<u8>>, trusted_size: u64) -> Self {
        Self::of(client_request::Request::SubmitBatch(pb::SubmitBatch {
            entries,
            trusted_size,
        }))
    }

    /// Entries `start .. start + count`.
    pub fn entries(start: u64, count: u32) -> Self {
        Self::of(client_request::Request::Entries(pb::EntriesRequest {
            start,
            count,
        }))
    }

    /// The audit path of `leaf` in the tree of `tree_size` leaves (0: the gateway's latest).
    pub fn inclusion(leaf: inclusion_request::Leaf, tree_size: u64) -> Self {
        Self::of(client_request::Request::Inclusion(pb::InclusionRequest {
            leaf: Some(leaf),
            tree_size,
        }))
    }

    /// A proof that the tree of `size2` leaves extends the tree of `size1`.
    pub fn consistency(size1: u64, size2: u64) -> Self {
        Self::of(client_request::Request::Consistency(
            pb::ConsistencyRequest { size1, size2 },
        ))
    }

    /// The split-view alerts the gateway holds against `origin` (`None`: any).
    pub fn alerts(origin: Option<&str>) -> Self {
        Self::of(client_request::Request::Alerts(pb::AlertsRequest {
            origin: origin.unwrap_or_default().to_owned(),
        }))
    }

    /// Enrols an account.
    pub fn register(request: pb::RegisterAccount) -> Self {
        Self::of(client_request::Request::Register(request))
    }

    /// An account's current identity binding.
    pub fn binding(account: &str) -> Self {
        Self::of(client_request::Request::Binding(pb::BindingRequest {
            account: account.to_owned(),
        }))
    }

    /// The first key publication naming `req_hash`.
    pub fn publication(req_hash: &[u8; 32]) -> Self {
        Self::of(client_request::Request::Publication(
            pb::PublicationRequest {
                req_hash: req_hash.to_vec(),
            },
        ))
    }

    /// The notary records of the mail `msg_id` (DESIGN §3.4, delivery status).
    pub fn evidence(msg_id: &[u8]) -> Self {
        Self::of(client_request::Request::Evidence(pb::EvidenceRequest {
            msg_id: msg_id.to_vec(),
            ..Default::default()
        }))
    }

    /// The notary records of the mail `msg_id` in the log of the registered peer `domain`,
    /// asked of it by this gateway and signed by it over the client's `nonce`.
    pub fn peer_evidence(domain: &str, msg_id: &[u8], nonce: &[u8]) -> Self {
        Self::of(client_request::Request::Evidence(pb::EvidenceRequest {
            msg_id: msg_id.to_vec(),
            domain: domain.to_owned(),
            nonce: nonce.to_vec(),
        }))
    }

    /// The gateway's own log and its registered peers' logs.
    pub fn trust() -> Self {
        Self::of(client_request::Request::Trust(pb::TrustRequest {}))
    }

    /// The gateway's policy rule set.
    pub fn policy() -> Self {
        Self::of(client_request::Request::Policy(pb::PolicyRequest {}))
    }
}

/// The answer to [`pb::ClientRequest::policy`]: the gateway's rule set (in bounds; whether its
/// patterns parse is `policy::RuleSet::from_wire`'s to check).
pub fn expect_policy(response: pb::ClientResponse) -> Result<pb::PolicyRules, AnswerError> {
    expect(response, "policy", |r| match r {
        client_response::Response::Policy(rules) => Ok(rules),
        other => Err(Box::new(other)),
    })
}

/// A response kind's name, for messages.
pub fn response_kind(response: &client_response::Response) -> &'static str {
    use client_response::Response;
    match response {
        Response::Submitted(_) => "a submit ack",
        Response::Checkpoint(_) => "a checkpoint",
        Response::Entries(_) => "an entry page",
        Response::Inclusion(_) => "an inclusion proof",
        Response::Consistency(_) => "a consistency proof",
        Response::Alerts(_) => "an alert list",
        Response::Included(_) => "an included leaf",
        Response::Binding(_) => "a binding answer",
        Response::Trust(_) => "a trust list",
        Response::PasswordParams(_) => "password parameters",
        Response::LoginChallenge(_) => "a login challenge",
        Response::LoginAccepted(_) => "a login acceptance",
        Response::Session(_) => "a session frame",
        Response::PrekeyBundle(_) => "a prekey bundle",
        Response::SessionClosed(_) => "a session close",
        Response::BatchSubmitted(_) => "a batch ack",
        Response::RelayAccepted(_) => "a relay acceptance",
        Response::RelaysAccepted(_) => "relay outcomes",
        Response::RelayChunkProgress(_) => "a relay chunk progress",
        Response::Error(_) => "an error",
        Response::Evidence(_) => "an evidence answer",
        Response::Policy(_) => "a rule set",
    }
}

/// A kind of answer: a client response's, or a session response's inside a session frame.
pub(super) trait AnswerKind: Sized {
    /// The gateway's refusal, or the answer as it was.
    fn refusal(self) -> Result<pb::ClientError, Self>;
    /// What to call this kind when another was expected.
    fn name(&self) -> &'static str;
}

impl AnswerKind for client_response::Response {
    fn refusal(self) -> Result<pb::ClientError, Self> {
        match self {
            client_response::Response::Error(e) => Ok(e),
            other => Err(other),
        }
    }

    fn name(&self) -> &'static str {
        response_kind(self)
    }
}

/// The answer `pick` takes out of `answer` (an answer's kind, `None` when it has none), or why
/// there is none.
pub(super) fn expect_kind<K: AnswerKind, T>(
    answer: Option<K>,
    request: &'static str,
    // The other kind comes back boxed: an answer is large, a refusal small.
    pick: impl FnOnce(K) -> Result<T, Box<K>>,
) -> Result<T, AnswerError> {
    // A validated answer has its kind set; a missing one is answered like another kind.
    let Some(answer) = answer else {
        return Err(AnswerError::WrongKind {
            request,
            response: "nothing",
        });
    };
    pick(answer).map_err(|other| match other.refusal() {
        Ok(e) => AnswerError::Refused(e),
        Err(other) => AnswerError::WrongKind {
            request,
            response: other.name(),
        },
    })
}

/// The answer `pick` takes out of `response`, or why there is none.
pub(super) fn expect<T>(
    response: pb::ClientResponse,
    request: &'static str,
    pick: impl FnOnce(client_response::Response) -> Result<T, Box<client_response::Response>>,
) -> Result<T, AnswerError> {
    expect_kind(response.response, request, pick)
}

pub(super) fn mismatch(
    what: &'static str,
    asked: impl ToString,
    answered: impl ToString,
) -> AnswerError {
    AnswerError::Mismatch {
        what,
        asked: asked.to_string(),
        answered: answered.to_string(),
    }
}

/// The answer to [`pb::ClientRequest::alerts`]: the gateway's alerts (unverified).
pub fn expect_alerts(response: pb::ClientResponse) -> Result<Vec<pb::Equivocation>, AnswerError> {
    expect(response, "alerts", |r| match r {
        client_response::Response::Alerts(list) => Ok(list.alerts),
        other => Err(Box::new(other)),
    })
}

/// The answer to [`pb::ClientRequest::binding`]: a binding answer (unverified).
pub fn expect_binding(response: pb::ClientResponse) -> Result<pb::BindingAnswer, AnswerError> {
    expect(response, "binding", |r| match r {
        client_response::Response::Binding(b) => Ok(b),
        other => Err(Box::new(other)),
    })
}

/// The answer to [`pb::ClientRequest::publication`]: an included leaf (unverified).
pub fn expect_publication(response: pb::ClientResponse) -> Result<pb::IncludedLeaf, AnswerError> {
    expect(response, "publication", |r| match r {
        client_response::Response::Included(l) => Ok(l),
        other => Err(Box::new(other)),
    })
}

/// The answer to [`pb::ClientRequest::evidence`]: the mail's records (unverified: see
/// `evidence::verify_status`).
pub fn expect_evidence(response: pb::ClientResponse) -> Result<pb::EvidenceAnswer, AnswerError> {
    expect(response, "evidence", |r| match r {
        client_response::Response::Evidence(a) => Ok(a),
        other => Err(Box::new(other)),
    })
}

/// The answer to [`pb::ClientRequest::trust`]: a trust list (the gateway's word).
pub fn expect_trust(response: pb::ClientResponse) -> Result<pb::TrustList, AnswerError> {
    expect(response, "trust", |r| match r {
        client_response::Response::Trust(t) => Ok(t),
        other => Err(Box::new(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn answer(response: client_response::Response) -> pb::ClientResponse {
        pb::ClientResponse {
            response: Some(response),
        }
    }

    pub(super) fn page(start: u64, entries: usize) -> pb::ClientResponse {
        answer(client_response::Response::Entries(pb::EntryPage {
            start,
            entries: vec![vec![1]; entries],
        }))
    }

    #[test]
    fn a_refusal_is_not_misbehaviour_and_another_kind_is() {
        let refusal = answer(client_response::Response::Error(pb::ClientError {
            kind: pb::ClientErrorKind::NotFound as i32,
            message: "none\x1b[31m".into(),
            retry_after_ms: 0,
            tree_size: 0,
        }));
        let err = expect_trust(refusal).unwrap_err();
        assert!(matches!(err, AnswerError::Refused(_)));
        assert!(!err.is_peer_misbehaviour());
        // The gateway's message is shown escaped.
        assert!(!err.to_string().contains('\x1b'), "{err}");
        let err = expect_checkpoint(page(0, 1)).unwrap_err();
        assert_eq!(
            err,
            AnswerError::WrongKind {
                request: "checkpoint",
                response: "an entry page"
            }
        );
        assert!(matches!(
            expect_alerts(pb::ClientResponse { response: None }),
            Err(AnswerError::WrongKind {
                response: "nothing",
                ..
            })
        ));
    }

    #[test]
    fn each_request_constructor_makes_a_valid_request_of_its_kind() {
        use crate::wire::Validate as _;
        let requests = [
            pb::ClientRequest::checkpoint(true),
            pb::ClientRequest::submit(vec![1]),
            pb::ClientRequest::entries(0, 1),
            pb::ClientRequest::inclusion(inclusion_request::Leaf::Index(0), 0),
            pb::ClientRequest::consistency(1, 2),
            pb::ClientRequest::alerts(Some("a.test/herald")),
            pb::ClientRequest::binding("alice@a.test"),
            pb::ClientRequest::publication(&[1; 32]),
            pb::ClientRequest::trust(),
            pb::ClientRequest::submit_trusting(vec![1], 4),
            pb::ClientRequest::submit_batch(vec![vec![1], vec![2]], 4),
        ];
        for request in requests {
            assert!(request.validate().is_ok(), "{request:?}");
        }
        assert_eq!(
            pb::ClientRequest::alerts(None).request,
            Some(client_request::Request::Alerts(pb::AlertsRequest {
                origin: String::new()
            }))
        );
    }
}
