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

/// The answer `pick` takes out of `response`, or why there is none.
pub(super) fn expect<T>(
    response: pb::ClientResponse,
    request: &'static str,
    // The other kind comes back boxed: a response is large, a refusal small.
    pick: impl FnOnce(client_response::Response) -> Result<T, Box<client_response::Response>>,
) -> Result<T, AnswerError> {
    // A validated response has its kind set; a missing one is answered like another kind.
    let Some(response) = response.response else {
        return Err(AnswerError::WrongKind {
            request,
            response: "nothing",
        });
    };
    pick(response).map_err(|other| match *other {
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
        other => Err(Box::new(other)),
    })
}

/// The answer to [`pb::ClientRequest::submit`]: the entry's ack.
pub fn expect_submitted(response: pb::ClientResponse) -> Result<pb::SubmitAck, AnswerError> {
    expect(response, "submit", |r| match r {
        client_response::Response::Submitted(a) => Ok(a),
        other => Err(Box::new(other)),
    })
}

/// The answer to [`pb::ClientRequest::submit_trusting`]`(entry, trusted_size)`: an ack that
/// carries the entry's audit path (for its own index) and, unless the checkpoint is the trusted
/// one, the consistency proof from `trusted_size` to the audit path's tree. Whether the proofs
/// hold, and whether the tree is the checkpoint's, is the verifier's to check.
pub fn expect_submitted_proved(
    response: pb::ClientResponse,
    trusted_size: u64,
) -> Result<pb::SubmitAck, AnswerError> {
    let ack = expect_submitted(response)?;
    let Some(inclusion) = &ack.inclusion else {
        return Err(mismatch("submit ack", "an inclusion proof", "none"));
    };
    if inclusion.leaf_index != ack.index {
        return Err(mismatch(
            "inclusion proof leaf index",
            ack.index,
            inclusion.leaf_index,
        ));
    }
    check_growth(trusted_size, inclusion.tree_size, ack.consistency.as_ref())?;
    Ok(ack)
}

/// Checks that a tree of `size`, acknowledged after the client said it trusts `trusted_size`,
/// comes with the consistency proof between the two (none from 0, none for the same size).
fn check_growth(
    trusted_size: u64,
    size: u64,
    consistency: Option<&pb::ConsistencyProof>,
) -> Result<(), AnswerError> {
    // The gateway refuses a trusted size past its log before appending, so an ack's tree,
    // which holds the new entries, is larger.
    if size <= trusted_size {
        return Err(mismatch(
            "acknowledged tree size",
            format!("above the trusted size {trusted_size}"),
            size,
        ));
    }
    match consistency {
        None if trusted_size == 0 => Ok(()),
        None => Err(mismatch(
            "submit ack",
            format!("a consistency proof from {trusted_size}"),
            "none",
        )),
        Some(proof) if (proof.size1, proof.size2) != (trusted_size, size) => Err(mismatch(
            "consistency proof sizes",
            format!("{trusted_size} to {size}"),
            format!("{} to {}", proof.size1, proof.size2),
        )),
        Some(_) => Ok(()),
    }
}

/// The answer to [`pb::ClientRequest::submit_batch`]`(entries, trusted_size)` for a batch of
/// `count` entries: every refusal names a position inside the batch; when any entry was
/// accepted, the range proof covers exactly the accepted ones (as many as were not refused)
/// and comes with the consistency proof from `trusted_size`. [`batch_outcomes`] reads it per
/// entry.
pub fn expect_batch_submitted(
    response: pb::ClientResponse,
    count: usize,
    trusted_size: u64,
) -> Result<pb::BatchAck, AnswerError> {
    let ack = expect(response, "submit batch", |r| match r {
        client_response::Response::BatchSubmitted(a) => Ok(a),
        other => Err(Box::new(other)),
    })?;
    // Validation made the positions strictly increasing: the last one bounds them all.
    if let Some(last) = ack.refused.last()
        && last.position as usize >= count
    {
        return Err(mismatch(
            "refused entry position",
            format!("below {count}"),
            last.position,
        ));
    }
    let accepted = count - ack.refused.len();
    match &ack.range {
        // Validation made the checkpoint present exactly with the range.
        None if accepted == 0 => {
            if ack.consistency.is_some() {
                return Err(mismatch("batch ack", "no proof", "a consistency proof"));
            }
        }
        None => return Err(mismatch("batch ack", "a range proof", "none")),
        Some(range) => {
            if range.end - range.begin != accepted as u64 {
                return Err(mismatch(
                    "entries in the range proof",
                    accepted,
                    range.end - range.begin,
                ));
            }
            check_growth(trusted_size, range.tree_size, ack.consistency.as_ref())?;
        }
    }
    Ok(ack)
}

/// Each entry's outcome in a batch ack that [`expect_batch_submitted`] took for `count`
/// entries: its index, or the gateway's refusal of it.
pub fn batch_outcomes(ack: &pb::BatchAck, count: usize) -> Vec<Result<u64, pb::ClientError>> {
    let mut refused = ack.refused.iter().peekable();
    let mut next_index = ack.first_index;
    (0..count)
        .map(|position| match refused.peek() {
            Some(r) if r.position as usize == position => {
                let error = r.error.clone().unwrap_or_default();
                refused.next();
                Err(error)
            }
            _ => {
                let index = next_index;
                next_index = next_index.saturating_add(1);
                Ok(index)
            }
        })
        .collect()
}

/// The answer to [`pb::ClientRequest::register`]: the ack of the account's identity binding.
pub fn expect_registered(response: pb::ClientResponse) -> Result<pb::SubmitAck, AnswerError> {
    expect(response, "register", |r| match r {
        client_response::Response::Submitted(a) => Ok(a),
        other => Err(Box::new(other)),
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
        other => Err(Box::new(other)),
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
        other => Err(Box::new(other)),
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
        other => Err(Box::new(other)),
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

    fn submitted(index: u64, size: u64, consistency: Option<(u64, u64)>) -> pb::ClientResponse {
        answer(client_response::Response::Submitted(pb::SubmitAck {
            index,
            leaf_hash: vec![1; 32],
            checkpoint: Some(pb::SignedCheckpoint {
                note: b"n".to_vec(),
            }),
            inclusion: Some(pb::InclusionProof {
                leaf_index: index,
                tree_size: size,
                hashes: Vec::new(),
            }),
            consistency: consistency.map(|(size1, size2)| pb::ConsistencyProof {
                size1,
                size2,
                hashes: Vec::new(),
            }),
        }))
    }

    #[test]
    fn a_proved_submit_ack_carries_the_proofs_asked_for() {
        assert!(expect_submitted_proved(submitted(5, 6, None), 0).is_ok());
        assert!(expect_submitted_proved(submitted(5, 6, Some((3, 6))), 3).is_ok());
        let wrong = [
            (submitted(5, 6, None), 3, "submit ack"),
            (submitted(5, 6, Some((2, 6))), 3, "consistency proof sizes"),
            (submitted(5, 6, Some((3, 7))), 3, "consistency proof sizes"),
            (submitted(5, 6, None), 6, "acknowledged tree size"),
            (submitted(5, 6, None), 9, "acknowledged tree size"),
        ];
        for (response, trusted, what) in wrong {
            assert!(
                matches!(
                    expect_submitted_proved(response, trusted),
                    Err(AnswerError::Mismatch { what: w, .. }) if w == what
                ),
                "{what}"
            );
        }
        let mut other_leaf = submitted(5, 6, None);
        if let Some(client_response::Response::Submitted(a)) = &mut other_leaf.response {
            a.inclusion.as_mut().unwrap().leaf_index = 4;
        }
        assert!(expect_submitted_proved(other_leaf, 0).is_err());
        let mut unproved = submitted(5, 6, None);
        if let Some(client_response::Response::Submitted(a)) = &mut unproved.response {
            a.inclusion = None;
        }
        assert!(expect_submitted_proved(unproved, 0).is_err());
    }

    fn batch(first: u64, refused: &[u32], range: Option<(u64, u64, u64)>) -> pb::ClientResponse {
        answer(client_response::Response::BatchSubmitted(pb::BatchAck {
            first_index: first,
            refused: refused
                .iter()
                .map(|&position| pb::EntryRefusal {
                    position,
                    error: Some(pb::ClientError {
                        kind: pb::ClientErrorKind::InvalidEntry as i32,
                        message: format!("entry {position}"),
                        retry_after_ms: 0,
                        tree_size: 0,
                    }),
                })
                .collect(),
            checkpoint: range.map(|_| pb::SignedCheckpoint {
                note: b"n".to_vec(),
            }),
            range: range.map(|(begin, end, tree_size)| pb::RangeProof {
                begin,
                end,
                tree_size,
                hashes: Vec::new(),
            }),
            consistency: None,
        }))
    }

    #[test]
    fn a_batch_ack_answers_each_entry_of_the_batch_asked() {
        let ack = expect_batch_submitted(batch(10, &[1, 3], Some((10, 13, 20))), 5, 0).unwrap();
        let outcomes = batch_outcomes(&ack, 5);
        let indexes: Vec<Option<u64>> = outcomes.iter().map(|o| o.as_ref().ok().copied()).collect();
        assert_eq!(indexes, vec![Some(10), None, Some(11), None, Some(12)]);
        assert_eq!(outcomes[3].as_ref().unwrap_err().message, "entry 3");
        // Everything refused.
        let ack = expect_batch_submitted(batch(0, &[0, 1], None), 2, 7).unwrap();
        assert!(batch_outcomes(&ack, 2).iter().all(Result::is_err));
        // A refusal past the batch; a range of another length; no range for accepted entries;
        // a range from a trusted size with no consistency proof.
        for (response, count, trusted) in [
            (batch(10, &[5], Some((10, 14, 20))), 5, 0),
            (batch(10, &[1], Some((10, 12, 20))), 4, 0),
            (batch(10, &[1], None), 4, 0),
            (batch(10, &[], Some((10, 12, 20))), 2, 5),
            (batch(10, &[], Some((10, 12, 12))), 2, 12),
        ] {
            assert!(
                matches!(
                    expect_batch_submitted(response, count, trusted),
                    Err(AnswerError::Mismatch { .. })
                ),
                "{count} {trusted}"
            );
        }
        assert!(matches!(
            expect_batch_submitted(submitted(1, 2, None), 1, 0),
            Err(AnswerError::WrongKind { .. })
        ));
    }
}
