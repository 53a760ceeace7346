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

use core::fmt;

use crate::note::b64;
use crate::wire::pb::{self, client_request, client_response, inclusion_request};

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

    /// Appends `entry`, an encoded `LogEntry`.
    pub fn submit(entry: Vec<u8>) -> Self {
        Self::of(client_request::Request::Submit(pb::SubmitEntry { entry }))
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

    /// The gateway's own log and its registered peers' logs.
    pub fn trust() -> Self {
        Self::of(client_request::Request::Trust(pb::TrustRequest {}))
    }
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
        Response::Error(_) => "an error",
    }
}

/// The answer `pick` takes out of `response`, or why there is none.
pub(super) fn expect<T>(
    response: pb::ClientResponse,
    request: &'static str,
    pick: impl FnOnce(client_response::Response) -> Result<T, client_response::Response>,
) -> Result<T, AnswerError> {
    // A validated response has its kind set; a missing one is answered like another kind.
    let Some(response) = response.response else {
        return Err(AnswerError::WrongKind {
            request,
            response: "nothing",
        });
    };
    pick(response).map_err(|other| match other {
        client_response::Response::Error(e) => AnswerError::Refused(e),
        other => AnswerError::WrongKind {
            request,
            response: response_kind(&other),
        },
    })
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

/// The answer to [`pb::ClientRequest::checkpoint`] (either kind): a signed checkpoint.
pub fn expect_checkpoint(
    response: pb::ClientResponse,
) -> Result<pb::SignedCheckpoint, AnswerError> {
    expect(response, "checkpoint", |r| match r {
        client_response::Response::Checkpoint(c) => Ok(c),
        other => Err(other),
    })
}

/// The answer to [`pb::ClientRequest::submit`]: the entry's ack.
pub fn expect_submitted(response: pb::ClientResponse) -> Result<pb::SubmitAck, AnswerError> {
    expect(response, "submit", |r| match r {
        client_response::Response::Submitted(a) => Ok(a),
        other => Err(other),
    })
}

/// The answer to [`pb::ClientRequest::register`]: the ack of the account's identity binding.
pub fn expect_registered(response: pb::ClientResponse) -> Result<pb::SubmitAck, AnswerError> {
    expect(response, "register", |r| match r {
        client_response::Response::Submitted(a) => Ok(a),
        other => Err(other),
    })
}

/// The answer to [`pb::ClientRequest::entries`]`(start, count)`: a page that starts at `start`
/// and holds at most `count` entries (validation made it hold at least one).
pub fn expect_entries(
    response: pb::ClientResponse,
    start: u64,
    count: u32,
) -> Result<pb::EntryPage, AnswerError> {
    let page = expect(response, "entries", |r| match r {
        client_response::Response::Entries(p) => Ok(p),
        other => Err(other),
    })?;
    if page.start != start {
        return Err(mismatch("first index of the entry page", start, page.start));
    }
    if page.entries.len() > count as usize {
        return Err(mismatch(
            "entries in the page",
            format!("at most {count}"),
            page.entries.len(),
        ));
    }
    Ok(page)
}

/// The answer to [`pb::ClientRequest::inclusion`]`(leaf, tree_size)`: a proof for that leaf (by
/// index, or with that leaf hash) in the tree of `tree_size` leaves (any size when 0 asked for
/// the latest).
pub fn expect_inclusion(
    response: pb::ClientResponse,
    leaf: &inclusion_request::Leaf,
    tree_size: u64,
) -> Result<pb::InclusionAnswer, AnswerError> {
    let answer = expect(response, "inclusion", |r| match r {
        client_response::Response::Inclusion(a) => Ok(a),
        other => Err(other),
    })?;
    if let inclusion_request::Leaf::LeafHash(hash) = leaf
        && answer.leaf_hash != *hash
    {
        return Err(mismatch("leaf hash", b64(hash), b64(&answer.leaf_hash)));
    }
    let Some(proof) = answer.proof.as_ref() else {
        return Err(mismatch("inclusion answer", "a proof", "none"));
    };
    if tree_size != 0 && proof.tree_size != tree_size {
        return Err(mismatch(
            "inclusion proof tree size",
            tree_size,
            proof.tree_size,
        ));
    }
    if let inclusion_request::Leaf::Index(index) = leaf
        && proof.leaf_index != *index
    {
        return Err(mismatch(
            "inclusion proof leaf index",
            index,
            proof.leaf_index,
        ));
    }
    Ok(answer)
}

/// The answer to [`pb::ClientRequest::consistency`]`(size1, size2)`: a proof between exactly
/// those sizes.
pub fn expect_consistency(
    response: pb::ClientResponse,
    size1: u64,
    size2: u64,
) -> Result<pb::ConsistencyProof, AnswerError> {
    let proof = expect(response, "consistency", |r| match r {
        client_response::Response::Consistency(c) => Ok(c),
        other => Err(other),
    })?;
    if (proof.size1, proof.size2) != (size1, size2) {
        return Err(mismatch(
            "consistency proof sizes",
            format!("{size1} to {size2}"),
            format!("{} to {}", proof.size1, proof.size2),
        ));
    }
    Ok(proof)
}

/// The answer to [`pb::ClientRequest::alerts`]: the gateway's alerts (unverified).
pub fn expect_alerts(response: pb::ClientResponse) -> Result<Vec<pb::Equivocation>, AnswerError> {
    expect(response, "alerts", |r| match r {
        client_response::Response::Alerts(list) => Ok(list.alerts),
        other => Err(other),
    })
}

/// The answer to [`pb::ClientRequest::binding`]: a binding answer (unverified).
pub fn expect_binding(response: pb::ClientResponse) -> Result<pb::BindingAnswer, AnswerError> {
    expect(response, "binding", |r| match r {
        client_response::Response::Binding(b) => Ok(b),
        other => Err(other),
    })
}

/// The answer to [`pb::ClientRequest::publication`]: an included leaf (unverified).
pub fn expect_publication(response: pb::ClientResponse) -> Result<pb::IncludedLeaf, AnswerError> {
    expect(response, "publication", |r| match r {
        client_response::Response::Included(l) => Ok(l),
        other => Err(other),
    })
}

/// The answer to [`pb::ClientRequest::trust`]: a trust list (the gateway's word).
pub fn expect_trust(response: pb::ClientResponse) -> Result<pb::TrustList, AnswerError> {
    expect(response, "trust", |r| match r {
        client_response::Response::Trust(t) => Ok(t),
        other => Err(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(response: client_response::Response) -> pb::ClientResponse {
        pb::ClientResponse {
            response: Some(response),
        }
    }

    fn page(start: u64, entries: usize) -> pb::ClientResponse {
        answer(client_response::Response::Entries(pb::EntryPage {
            start,
            entries: vec![vec![1]; entries],
        }))
    }

    #[test]
    fn the_page_asked_for_is_taken_and_any_other_is_a_mismatch() {
        assert_eq!(expect_entries(page(7, 3), 7, 3).unwrap().entries.len(), 3);
        assert_eq!(expect_entries(page(7, 1), 7, 3).unwrap().entries.len(), 1);
        let err = expect_entries(page(8, 1), 7, 3).unwrap_err();
        assert_eq!(
            err,
            AnswerError::Mismatch {
                what: "first index of the entry page",
                asked: "7".into(),
                answered: "8".into()
            }
        );
        assert!(err.is_peer_misbehaviour());
        assert!(matches!(
            expect_entries(page(7, 4), 7, 3),
            Err(AnswerError::Mismatch {
                what: "entries in the page",
                ..
            })
        ));
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
    fn an_inclusion_answer_must_be_for_the_leaf_and_size_asked() {
        let proof = |leaf_index, tree_size, leaf_hash: [u8; 32]| {
            answer(client_response::Response::Inclusion(pb::InclusionAnswer {
                proof: Some(pb::InclusionProof {
                    leaf_index,
                    tree_size,
                    hashes: Vec::new(),
                }),
                leaf_hash: leaf_hash.to_vec(),
            }))
        };
        let by_index = inclusion_request::Leaf::Index(3);
        assert!(expect_inclusion(proof(3, 10, [1; 32]), &by_index, 10).is_ok());
        // Size 0 asks for the latest tree, whatever its size.
        assert!(expect_inclusion(proof(3, 12, [1; 32]), &by_index, 0).is_ok());
        for (wrong, what) in [
            (proof(4, 10, [1; 32]), "inclusion proof leaf index"),
            (proof(3, 11, [1; 32]), "inclusion proof tree size"),
        ] {
            assert!(matches!(
                expect_inclusion(wrong, &by_index, 10),
                Err(AnswerError::Mismatch { what: w, .. }) if w == what
            ));
        }
        let by_hash = inclusion_request::Leaf::LeafHash(vec![1; 32]);
        assert!(expect_inclusion(proof(5, 10, [1; 32]), &by_hash, 10).is_ok());
        assert!(matches!(
            expect_inclusion(proof(5, 10, [2; 32]), &by_hash, 10),
            Err(AnswerError::Mismatch {
                what: "leaf hash",
                ..
            })
        ));
    }

    #[test]
    fn a_consistency_proof_must_be_between_the_sizes_asked() {
        let proof = |size1, size2| {
            answer(client_response::Response::Consistency(
                pb::ConsistencyProof {
                    size1,
                    size2,
                    hashes: Vec::new(),
                },
            ))
        };
        assert!(expect_consistency(proof(3, 7), 3, 7).is_ok());
        for wrong in [proof(2, 7), proof(3, 8), proof(7, 3)] {
            assert!(matches!(
                expect_consistency(wrong, 3, 7),
                Err(AnswerError::Mismatch {
                    what: "consistency proof sizes",
                    ..
                })
            ));
        }
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
