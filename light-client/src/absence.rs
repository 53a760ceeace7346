//! The recipient's absence proof (DESIGN §3.3 "Non-publication"), assembled from a gateway of X.
//!
//! B gives two cosigned checkpoints of X it kept (one cosigned before `created − 2δ`, one after
//! `T + δ`); [`prove_absence`] asks the gateway for what lies between them and lets proto
//! decide. The gateway is not trusted for anything:
//! - both checkpoints must be signed by X's log key (the request names it), and the gateway must
//!   prove the second extends the first (a failing proof of two signed trees is a split view,
//!   returned with its evidence);
//! - the right edge at checkpoint 1 comes from the audit path of its last leaf, verified against
//!   its root;
//! - the leaves are fetched page by page and handed to proto's [`build_absence_proof`], which
//!   refuses them unless they lead from checkpoint 1's root to checkpoint 2's;
//! - the finished proof is checked with proto's [`verify_absence`] before it is returned, so an
//!   absence proof that an arbiter would refuse is never written.

// `VerifyError` carries whole checkpoints as evidence (see `verify.rs`).
#![allow(clippy::result_large_err)]

use herald_proto::certmail::verify_request;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::evidence::{
    AbsenceError, MAX_ABSENCE_LEAVES, MAX_ABSENCE_PROOF_BYTES, VerifiedAbsence,
    build_absence_proof, verify_absence,
};
use herald_proto::merkle::{CompactRange, Hash};
use herald_proto::note::b64;
use herald_proto::wire::{MAX_ENTRY_PAGE_COUNT, pb};

use crate::error::ClientError;
use crate::gateway::{Gateway, Leaf};
use crate::verify::{self, VerifyError};
use herald_proto::inclusion::LogTrust;

/// Why no absence proof was made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AbsenceBuildError {
    /// A checkpoint given is not a checkpoint of X signed by X's log key (a local input error:
    /// the wrong file, or a file of another log).
    #[error("the {which} checkpoint is not a checkpoint of X: {error}")]
    Checkpoint {
        /// "before" or "after".
        which: &'static str,
        /// Why it does not verify.
        error: Box<VerifyError>,
    },
    /// The gateway failed, refused, or misbehaved: its proofs or leaves do not match the two
    /// signed checkpoints ([`ClientError::is_peer_misbehaviour`], with the evidence).
    #[error("gateway: {0}")]
    Gateway(#[from] ClientError),
    /// The proof does not show absence, with proto's reason: a leaf in the window names the
    /// request (it was published), a checkpoint is not cosigned in the window the rules need,
    /// the window is too large, or the request does not verify.
    #[error("absence is not shown: {0}")]
    NotShown(AbsenceError),
}

impl From<VerifyError> for AbsenceBuildError {
    fn from(e: VerifyError) -> Self {
        AbsenceBuildError::Gateway(e.into())
    }
}

/// Builds and checks the absence proof of `request`'s publication between the cosigned
/// checkpoints `before` and `after` of X (note bytes with their cosignature lines), fetching
/// the leaves between them from `gateway`, a gateway serving X's log. `now` is the time the
/// proof is checked at (Unix seconds).
///
/// Returns the proof (write it with `prost::Message::encode_to_vec`) and what it shows.
pub async fn prove_absence<G: Gateway>(
    gateway: &G,
    request: &pb::SignedKeyRequest,
    before: &[u8],
    after: &[u8],
    now: u64,
) -> Result<(pb::AbsenceProof, VerifiedAbsence), AbsenceBuildError> {
    let verified = verify_request(request)
        .map_err(|e| AbsenceBuildError::NotShown(AbsenceError::Request(e)))?;
    // X's key and hash: the checkpoints' cosignatures are proto's check, below.
    let log = verified.location().log();
    let checkpoint = |which, note: &[u8]| {
        verify::verify_checkpoint(log, note).map_err(|error| AbsenceBuildError::Checkpoint {
            which,
            error: Box::new(error),
        })
    };
    let (cp1, cp2) = (checkpoint("before", before)?, checkpoint("after", after)?);
    if cp1.size() > cp2.size() {
        return Err(AbsenceBuildError::NotShown(AbsenceError::SizesOutOfOrder {
            before: cp1.size(),
            after: cp2.size(),
        }));
    }
    let window = cp2.size() - cp1.size();
    if window > MAX_ABSENCE_LEAVES as u64 {
        return Err(AbsenceBuildError::NotShown(AbsenceError::WindowTooLarge {
            leaves: window,
            max: MAX_ABSENCE_LEAVES,
        }));
    }
    // Cheap checks first: the two trees are one log's, and the edge is proved, before the
    // window is downloaded.
    if cp1.size() > 0 {
        let proof = if cp1.size() == cp2.size() {
            pb::ConsistencyProof::new(cp1.size(), cp2.size(), &[])
        } else {
            gateway.consistency(cp1.size(), cp2.size()).await?
        };
        verify::verify_consistency(log, &cp1, &cp2, &proof)?;
    }
    let edge = right_edge(gateway, log, &cp1).await?;
    let leaves = window_leaves(gateway, cp1.size(), cp2.size()).await?;
    let proof =
        build_absence_proof(request, before, after, &edge, leaves).map_err(|e| match e {
            // Proved edge, proved consistent trees: leaves that do not fit are the gateway's.
            AbsenceError::WindowMismatch
            | AbsenceError::LeafCount { .. }
            | AbsenceError::RightEdgeMismatch
            | AbsenceError::RightEdge(_) => AbsenceBuildError::from(VerifyError::AnswerMismatch {
                what: "leaves between the checkpoints",
                asked: format!(
                    "indexes {} to {} of the tree with root {}",
                    cp1.size(),
                    cp2.size(),
                    b64(cp2.root())
                ),
                answered: format!("leaves that do not fit it ({e})"),
            }),
            other => AbsenceBuildError::NotShown(other),
        })?;
    let shown = verify_absence(&proof, now).map_err(AbsenceBuildError::NotShown)?;
    Ok((proof, shown))
}

/// The right edge of `checkpoint`'s tree, from the proved audit path of its last leaf.
async fn right_edge<G: Gateway>(
    gateway: &G,
    log: &LogTrust,
    checkpoint: &VerifiedCheckpoint,
) -> Result<CompactRange, AbsenceBuildError> {
    let size = checkpoint.size();
    if size == 0 {
        return Ok(CompactRange::new());
    }
    let last = size - 1;
    let answer = gateway.inclusion(Leaf::Index(last), size).await?;
    // A validated answer's leaf hash is 32 bytes; the proof is checked against it.
    let leaf_hash = Hash::try_from(answer.leaf_hash.as_slice()).unwrap_or_default();
    let inclusion =
        verify::verify_inclusion_answer(log, checkpoint, Some(last), &leaf_hash, &answer)?;
    // The proof of the last leaf verified: its path always gives the edge.
    inclusion.right_edge().map_err(|e| {
        AbsenceBuildError::from(VerifyError::AnswerMismatch {
            what: "right-edge proof",
            asked: format!("the audit path of leaf {last} in {size}"),
            answered: e.to_string(),
        })
    })
}

/// Leaves `from .. to`, page by page, within the absence proof's byte bound.
async fn window_leaves<G: Gateway>(
    gateway: &G,
    from: u64,
    to: u64,
) -> Result<Vec<Vec<u8>>, AbsenceBuildError> {
    // The window is at most MAX_ABSENCE_LEAVES (checked by the caller): it fits a usize.
    let mut leaves = Vec::with_capacity(usize::try_from(to - from).unwrap_or(0));
    let mut bytes = 0usize;
    let mut next = from;
    while next < to {
        let count = (to - next).min(u64::from(MAX_ENTRY_PAGE_COUNT)) as u32;
        let page = gateway.entries(next, count).await?;
        if page.start != next {
            return Err(VerifyError::AnswerMismatch {
                what: "first index of the entry page",
                asked: next.to_string(),
                answered: page.start.to_string(),
            }
            .into());
        }
        // A validated page holds at least one entry; extra entries past `to` are dropped.
        for entry in page.entries.into_iter().take(count as usize) {
            bytes = bytes.saturating_add(entry.len());
            if bytes > MAX_ABSENCE_PROOF_BYTES {
                return Err(AbsenceBuildError::NotShown(AbsenceError::WindowTooLarge {
                    leaves: to - from,
                    max: leaves.len(),
                }));
            }
            leaves.push(entry);
            next += 1;
        }
    }
    Ok(leaves)
}

#[cfg(test)]
mod tests {
    use crate::lies::Lie;
    use futures::executor::block_on;
    use prost::Message as _;

    use super::*;
    use crate::test_log::{FakeGateway, TestLog, TestRequest, publication_leaf};

    /// X is the fake gateway's log: 5 leaves, then `a`, a publication for the request (if
    /// `publish`) or `b`, and `c`. The request: created 1000, T 2000, δ 10, so CP1 must be
    /// cosigned by 980 and CP2 after 2010; checked at 5000.
    fn world(publish: bool) -> (FakeGateway, TestRequest) {
        let mut log = TestLog::new(5);
        let request = TestRequest::new(&log, 1000, 2000, 10);
        log.push(b"a".to_vec());
        log.push(match publish {
            true => publication_leaf(*request.verified().req_hash()),
            false => publication_leaf([9; 32]),
        });
        log.push(b"c".to_vec());
        (FakeGateway::new(log), request)
    }

    fn notes(gateway: &FakeGateway, t: &TestRequest, sizes: (u64, u64)) -> (Vec<u8>, Vec<u8>) {
        let log = gateway.log.lock().unwrap();
        (
            t.cosigned(&log, sizes.0, [970, 975]),
            t.cosigned(&log, sizes.1, [2100, 2200]),
        )
    }

    #[test]
    fn an_unpublished_request_is_proved_absent_and_the_proof_verifies() {
        let (gateway, t) = world(false);
        for (size1, size2) in [(5, 8), (0, 8), (8, 8), (4, 7)] {
            let (before, after) = notes(&gateway, &t, (size1, size2));
            let (proof, shown) =
                block_on(prove_absence(&gateway, &t.signed, &before, &after, 5000)).unwrap();
            assert_eq!((shown.from_size, shown.to_size), (size1, size2));
            assert_eq!(proof.leaves.len() as u64, size2 - size1);
            // What is written is what `herald verify-absence` reads.
            let read = herald_proto::evidence::decode_absence_proof(&proof.encode_to_vec());
            assert!(verify_absence(&read.unwrap(), 5000).is_ok());
        }
    }

    #[test]
    fn a_published_request_is_not_shown_absent() {
        let (gateway, t) = world(true);
        let (before, after) = notes(&gateway, &t, (5, 8));
        let err = block_on(prove_absence(&gateway, &t.signed, &before, &after, 5000)).unwrap_err();
        assert!(
            matches!(
                err,
                AbsenceBuildError::NotShown(AbsenceError::PublicationFound { index: 6 })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn checkpoints_outside_the_window_do_not_show_absence() {
        let (gateway, t) = world(false);
        let log = gateway.log.lock().unwrap().clone();
        // Checkpoint 1 cosigned too late (after created − 2δ = 980).
        let late = t.cosigned(&log, 5, [990, 995]);
        let after = t.cosigned(&log, 6, [2100, 2200]);
        let err = block_on(prove_absence(&gateway, &t.signed, &late, &after, 5000)).unwrap_err();
        assert!(
            matches!(
                err,
                AbsenceBuildError::NotShown(AbsenceError::NotBefore { .. })
            ),
            "{err:?}"
        );
        // Checkpoint 2 cosigned before T + δ = 2010.
        let before = t.cosigned(&log, 5, [970, 975]);
        let early = t.cosigned(&log, 6, [1500, 1600]);
        let err = block_on(prove_absence(&gateway, &t.signed, &before, &early, 5000)).unwrap_err();
        assert!(
            matches!(
                err,
                AbsenceBuildError::NotShown(AbsenceError::NotAfter { .. })
            ),
            "{err:?}"
        );
        // Out of order.
        let err = block_on(prove_absence(&gateway, &t.signed, &after, &before, 5000)).unwrap_err();
        assert!(
            matches!(
                err,
                AbsenceBuildError::NotShown(AbsenceError::SizesOutOfOrder { .. })
            ),
            "{err:?}"
        );
        // Another log's checkpoint.
        let other = TestLog::with_key("alpha.test/herald", [2; 32], 6).checkpoint_note(6);
        let err = block_on(prove_absence(&gateway, &t.signed, &before, &other, 5000)).unwrap_err();
        assert!(
            matches!(err, AbsenceBuildError::Checkpoint { which: "after", .. }),
            "{err:?}"
        );
    }

    #[test]
    fn attack_a_gateway_hiding_a_publication_is_caught() {
        let (gateway, t) = world(true);
        let (before, after) = notes(&gateway, &t, (5, 8));
        // Serving other bytes in place of the publication at index 6.
        gateway.lie(|m| m.hide_entry = Some(6));
        let err = block_on(prove_absence(&gateway, &t.signed, &before, &after, 5000)).unwrap_err();
        let AbsenceBuildError::Gateway(e) = err else {
            panic!("{err:?}")
        };
        assert!(e.is_peer_misbehaviour(), "{e:?}");
        // A bad audit path for the right edge.
        gateway.lie(|m| m.hide_entry = None);
        gateway.liar.tell(Lie::TruncatedInclusion);
        let err = block_on(prove_absence(&gateway, &t.signed, &before, &after, 5000)).unwrap_err();
        assert!(
            matches!(&err, AbsenceBuildError::Gateway(e) if e.is_peer_misbehaviour()),
            "{err:?}"
        );
        // A bad consistency proof between the two checkpoints.
        gateway.liar.be_honest();
        gateway.liar.tell(Lie::ExtendedConsistency);
        let err = block_on(prove_absence(&gateway, &t.signed, &before, &after, 5000)).unwrap_err();
        assert!(
            matches!(&err, AbsenceBuildError::Gateway(e) if e.is_peer_misbehaviour()),
            "{err:?}"
        );
    }
}
