//! The answers to submissions: an entry's ack (with the proofs asked for when the client said
//! what it trusts), a batch's ack read per entry, and a registration's ack.

use super::{AnswerError, expect, mismatch};
use crate::wire::pb::{self, client_response};

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

#[cfg(test)]
mod tests {
    use super::super::tests::answer;
    use super::*;

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
