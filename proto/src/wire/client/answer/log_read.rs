//! The answers to the reads of a log: its checkpoint, a page of entries, an inclusion proof and a
//! consistency proof, each checked to be about what was asked (the first index, the leaf, the
//! tree size, the pair of sizes).

use super::{AnswerError, expect, mismatch};
use crate::note::b64;
use crate::wire::pb::{self, client_response, inclusion_request};

/// The answer to [`pb::ClientRequest::checkpoint`] (either kind): a signed checkpoint.
pub fn expect_checkpoint(
    response: pb::ClientResponse,
) -> Result<pb::SignedCheckpoint, AnswerError> {
    expect(response, "checkpoint", |r| match r {
        client_response::Response::Checkpoint(c) => Ok(c),
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

#[cfg(test)]
mod tests {
    use super::super::tests::{answer, page};
    use super::*;

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
}
