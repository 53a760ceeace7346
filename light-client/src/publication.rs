//! Looking up a certified-mail key publication at X (DESIGN §3.3 steps (c) and (d)).
//!
//! The gateway of X answers a lookup by req_hash with the lowest-index `KeyPublication` naming
//! it, its inclusion proof and X's latest cosigned checkpoint (or `PENDING` while that
//! checkpoint does not cover it yet). [`publication_answer`] classifies such an answer once,
//! with proto's [`classify_publication`] under X's own witness policy (the request names it;
//! the gateway's quorum is no promise); [`await_publication`] asks until an answer is proven or
//! a time limit passes. The proven publication goes to the state machine as it is: nobody
//! checks the answer again.

// `VerifyError` carries whole checkpoints as evidence (see `verify.rs`).
#![allow(clippy::result_large_err)]

use std::time::Duration;

use herald_proto::certmail::{
    BadPublication, Location, ProvenPublication, PublicationAnswer, classify_publication,
};
use herald_proto::note::b64;
use herald_proto::wire::pb;
use tracing::debug;

use crate::clock::Clock;
use crate::error::ClientError;
use crate::gateway::Gateway;
use crate::verify::VerifyError;

/// How long and how often to ask for a publication that is not there or not cosigned yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Polling {
    /// Stop asking once the clock passes this Unix time.
    pub until: u64,
    /// The shortest pause between two lookups (also when the gateway asks for less).
    pub min_interval: Duration,
    /// The longest pause (also when the gateway asks for more).
    pub max_interval: Duration,
}

impl Polling {
    /// Ask until `until`, every 200 ms to 5 s as the gateway suggests.
    pub fn until(until: u64) -> Self {
        Polling {
            until,
            min_interval: Duration::from_millis(200),
            max_interval: Duration::from_secs(5),
        }
    }
}

/// Classifies `answer`, a gateway's answer to the lookup of `req_hash` at X (`location`), at
/// time `now` ([`classify_publication`]; `expected` is the leaf the sender submitted, when
/// given): the proven publication, [`VerifyError::NotCosigned`] for "not yet" (a later
/// checkpoint may be), or the evidence that the gateway misbehaved.
pub fn publication_answer(
    location: &Location,
    req_hash: &[u8; 32],
    expected: Option<&[u8]>,
    answer: &pb::IncludedLeaf,
    now: u64,
) -> Result<Box<ProvenPublication>, VerifyError> {
    match classify_publication(location, req_hash, expected, answer, now) {
        PublicationAnswer::Proven(p) => Ok(p),
        PublicationAnswer::NotYet(error) => Err(VerifyError::NotCosigned {
            note: answer.checkpoint.clone(),
            error,
        }),
        PublicationAnswer::Misbehaved(bad) => Err(match bad {
            BadPublication::NotAPublication => VerifyError::AnswerMismatch {
                what: "kind of the published leaf",
                asked: "a key publication".into(),
                answered: "another kind of leaf".into(),
            },
            BadPublication::OtherRequest => VerifyError::AnswerMismatch {
                what: "req_hash of the publication",
                asked: b64(req_hash),
                answered: "a publication naming another request".into(),
            },
            BadPublication::OtherLeaf => VerifyError::AnswerMismatch {
                what: "published leaf",
                asked: "the leaf submitted".into(),
                answered: "another leaf naming the request".into(),
            },
            BadPublication::NotProved(error) => VerifyError::LeafNotProved {
                leaf: Box::new(answer.clone()),
                error,
            },
            // A reason this version does not know: nothing it proved counts.
            other => VerifyError::AnswerMismatch {
                what: "publication answer",
                asked: "a proven publication".into(),
                answered: other.to_string(),
            },
        }),
    }
}

/// Asks `gateway` (a gateway of X) for the publication of `req_hash` until an answer is
/// proven ([`publication_answer`]), and returns it. While the gateway answers `PENDING` or
/// `NOT_FOUND`, is busy or unreachable, or serves a checkpoint not yet cosigned as X requires,
/// it asks again (pausing as the gateway suggests, within `polling`'s bounds) until
/// `polling.until`, then returns the last such error. An answer that shows misbehaviour ends
/// it at once.
pub async fn await_publication<G: Gateway>(
    gateway: &G,
    location: &Location,
    req_hash: &[u8; 32],
    expected: Option<&[u8]>,
    polling: &Polling,
    clock: &dyn Clock,
) -> Result<Box<ProvenPublication>, ClientError> {
    loop {
        let (error, suggested) = match gateway.publication(req_hash).await {
            Ok(answer) => {
                let now = clock.now_secs();
                match publication_answer(location, req_hash, expected, &answer, now) {
                    Ok(proven) => return Ok(proven),
                    Err(e @ VerifyError::NotCosigned { .. }) => (ClientError::from(e), None),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(ClientError::Refused(r))
                if matches!(
                    r.kind,
                    pb::ClientErrorKind::Pending | pb::ClientErrorKind::NotFound
                ) =>
            {
                let after = r.retry_after;
                (ClientError::Refused(r), after)
            }
            Err(e) if e.is_retryable() => (e, None),
            Err(e) => return Err(e),
        };
        let now = clock.now_secs();
        if now >= polling.until {
            return Err(error);
        }
        let left = Duration::from_secs(polling.until - now);
        let pause = suggested
            .unwrap_or(polling.min_interval)
            .clamp(polling.min_interval, polling.max_interval)
            .min(left);
        debug!(error = %error, ?pause, "publication not available yet");
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use crate::lies::Lie;
    use ed25519_dalek::SigningKey;
    use herald_proto::entry::KeyPublication;
    use prost::Message as _;

    use super::*;
    use crate::clock::SystemClock;
    use crate::test_log::{FakeGateway, TestLog, TestRequest};

    /// A signed publication answering `t`'s request.
    fn publication(t: &TestRequest) -> Vec<u8> {
        let r = t.verified();
        KeyPublication {
            req_hash: *r.req_hash(),
            ciphertext_hash: *r.ciphertext_hash(),
            ephemeral_key: [1; 32],
            wrapped_key: [2; 32],
            author: r.sender().to_owned(),
            created: 1500,
        }
        .sign(&SigningKey::from_bytes(&[9; 32]))
        .encode_to_vec()
    }

    /// X with 4 leaves, a publication for request `a` at 4 and one for request `b` at 5,
    /// cosigned at 1600 and 1700 (both witnesses). Requests: created 1000, T 2000, δ 10.
    fn world() -> (FakeGateway, TestRequest, TestRequest) {
        let mut log = TestLog::new(4);
        let a = TestRequest::new(&log, 1000, 2000, 10);
        let b = TestRequest::new(&log, 1001, 2000, 10);
        log.push(publication(&a));
        log.push(publication(&b));
        let note = a.cosigned(&log, 6, [1600, 1700]);
        let gateway = FakeGateway::new(log);
        *gateway.cosigned.lock().unwrap() = Some(note);
        (gateway, a, b)
    }

    fn answer(gateway: &FakeGateway, t: &TestRequest) -> pb::IncludedLeaf {
        futures::executor::block_on(gateway.publication(t.verified().req_hash())).unwrap()
    }

    #[test]
    fn a_cosigned_publication_verifies() {
        let (gateway, a, _) = world();
        let r = a.verified();
        let answer = answer(&gateway, &a);
        let v = publication_answer(&a.location, r.req_hash(), None, &answer, 5000).unwrap();
        assert_eq!((v.index(), v.checkpoint().quorum_time()), (4, 1700));
        assert_eq!(v.answer(), &answer);
        let leaf = publication(&a);
        assert!(publication_answer(&a.location, r.req_hash(), Some(&leaf), &answer, 5000).is_ok());
    }

    #[test]
    fn attack_a_publication_for_another_request_is_refused() {
        let (gateway, a, b) = world();
        let ra = a.verified();
        // The gateway answers the lookup of a's req_hash with b's publication.
        gateway
            .liar
            .tell(Lie::PublicationOf(*b.verified().req_hash()));
        let wrong = answer(&gateway, &a);
        assert!(matches!(
            publication_answer(&a.location, ra.req_hash(), None, &wrong, 5000),
            Err(VerifyError::AnswerMismatch {
                what: "req_hash of the publication",
                ..
            })
        ));
        // Another leaf naming the request than the one the sender submitted.
        gateway.liar.be_honest();
        let right = answer(&gateway, &a);
        let mut other = publication(&a);
        other.push(0);
        assert!(matches!(
            publication_answer(&a.location, ra.req_hash(), Some(&other), &right, 5000),
            Err(VerifyError::AnswerMismatch {
                what: "published leaf",
                ..
            })
        ));
        // Not a publication at all.
        let mut notarization = right.clone();
        notarization.entry = gateway.log.lock().unwrap().leaf(0).to_vec();
        assert!(matches!(
            publication_answer(&a.location, ra.req_hash(), None, &notarization, 5000),
            Err(VerifyError::AnswerMismatch { .. })
        ));
    }

    #[test]
    fn attack_bad_proofs_and_uncosigned_checkpoints_are_refused() {
        let (gateway, a, _) = world();
        let r = a.verified();
        let good = answer(&gateway, &a);
        // A truncated proof, an index past the size.
        let mut short = good.clone();
        short.proof.as_mut().unwrap().hashes.pop();
        let mut past = good.clone();
        past.proof.as_mut().unwrap().leaf_index = 6;
        for bad in [short, past] {
            assert!(matches!(
                publication_answer(&a.location, r.req_hash(), None, &bad, 5000),
                Err(VerifyError::LeafNotProved { .. })
            ));
        }
        // Only log-signed, or cosigned by one of the two witnesses X requires: not yet.
        let log = gateway.log.lock().unwrap().clone();
        let mut unsigned = good.clone();
        unsigned.checkpoint = log.checkpoint_note(6);
        let one = {
            let c = herald_proto::checkpoint::VerifiedCheckpoint::verify(
                &log.checkpoint_note(6),
                &log.verifier(),
            )
            .unwrap();
            let w = &a.witnesses[0];
            c.with_cosignature(&w.verifier(), &w.cosign(&c, 1600).unwrap())
                .unwrap()
                .note()
                .into_bytes()
        };
        let mut half = good.clone();
        half.checkpoint = one;
        for bad in [unsigned, half] {
            assert!(matches!(
                publication_answer(&a.location, r.req_hash(), None, &bad, 5000),
                Err(VerifyError::NotCosigned { .. })
            ));
        }
        // Cosignatures from the future (beyond now + δ) do not count either.
        assert!(matches!(
            publication_answer(&a.location, r.req_hash(), None, &good, 1600),
            Err(VerifyError::NotCosigned { .. })
        ));
        // Another log's checkpoint.
        let mut other = good;
        other.checkpoint = TestLog::with_key("alpha.test/herald", [2; 32], 6).checkpoint_note(6);
        assert!(matches!(
            publication_answer(&a.location, r.req_hash(), None, &other, 5000),
            Err(VerifyError::LeafNotProved { .. })
        ));
    }

    #[tokio::test]
    async fn awaiting_stops_at_misbehaviour_and_at_the_limit() {
        let (gateway, a, b) = world();
        let r = a.verified();
        let soon = Polling {
            until: SystemClock.now_secs() + 1,
            min_interval: Duration::from_millis(20),
            max_interval: Duration::from_millis(50),
        };
        let found = await_publication(
            &gateway,
            &a.location,
            r.req_hash(),
            None,
            &soon,
            &SystemClock,
        )
        .await;
        assert_eq!(found.unwrap().answer(), &answer(&gateway, &a));
        // Misbehaviour ends the wait at once.
        gateway
            .liar
            .tell(Lie::PublicationOf(*b.verified().req_hash()));
        let started = std::time::Instant::now();
        let err = await_publication(
            &gateway,
            &a.location,
            r.req_hash(),
            None,
            &soon,
            &SystemClock,
        )
        .await
        .unwrap_err();
        assert!(err.is_peer_misbehaviour(), "{err:?}");
        assert!(started.elapsed() < Duration::from_millis(500));
        // Not covered by the cosigned checkpoint: PENDING until the limit, then that refusal.
        gateway.liar.be_honest();
        let note = a.cosigned(&gateway.log.lock().unwrap(), 4, [1600, 1700]);
        *gateway.cosigned.lock().unwrap() = Some(note);
        let err = await_publication(
            &gateway,
            &a.location,
            r.req_hash(),
            None,
            &soon,
            &SystemClock,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ClientError::Refused(r) if r.kind == pb::ClientErrorKind::Pending),
            "{err:?}"
        );
    }
}
