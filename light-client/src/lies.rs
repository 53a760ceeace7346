//! The lies a gateway can tell about what it was asked, written once: the light client's
//! in-memory fake gateway (its unit tests) and the testnet's lying gateway in front of a real node
//! (over libp2p) both tell them through a [`Liar`], so a lie means the same thing in every test.
//!
//! A lie either asks the honest source *another question* than the client's (another first
//! index, tree size, leaf, pair of sizes or publication) and hands back the honest answer to it,
//! or edits one field of the honest answer (an acknowledgement's index or leaf hash, a proof's
//! hashes). Everything else in the answer stays the real log's, signatures and proofs included, so
//! the only untruth a client receives is the one under test.
//!
//! Behind the `testkit` feature (and in this crate's own tests); nothing in the client uses it.

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use herald_proto::checkpoint::Checkpoint;
use herald_proto::note::SignedNote;
use herald_proto::wire::pb::{self, client_request, client_response, inclusion_request};

/// How far past its checkpoint's size [`Lie::AckIndexPastTheSize`] puts an entry.
const PAST_THE_SIZE: u64 = 1_000;

/// One way to lie; each touches only the requests or answers it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lie {
    /// `entries(start, count)` is answered with the page from `start + 1`.
    EntriesFromAnotherStart,
    /// `entries(start, count)` is answered with the entries from `start + 1`, in a page that
    /// says it starts at `start` (another entry's bytes in the asked place).
    EntriesOfTheNextIndexes,
    /// `inclusion(leaf, size)` is answered with the proof of that leaf in the tree of `size - 1`.
    InclusionForAnotherSize,
    /// `inclusion(leaf, size)` is answered with the proof of a neighbouring leaf (by index: the
    /// one before, or after leaf 0; by hash: leaf 0).
    InclusionForAnotherLeaf,
    /// `consistency(size1, size2)` is answered with the proof from `size1 - 1` (or, from 1, to
    /// `size2 - 1`).
    ConsistencyForOtherSizes,
    /// A publication lookup is answered with the publication of this `req_hash` instead.
    PublicationOf([u8; 32]),
    /// A submission's ack names the index equal to its own checkpoint's size.
    AckIndexAtTheSize,
    /// A submission's ack names an index far past its own checkpoint's size.
    AckIndexPastTheSize,
    /// A submission's ack names this leaf hash.
    AckLeafHash([u8; 32]),
    /// `inclusion` is answered with the leaf's hash and no proof.
    InclusionWithoutProof,
    /// Every inclusion proof (answers and acks) loses its last hash.
    TruncatedInclusion,
    /// Every consistency proof (answers and acks) gains a hash of zeros.
    ExtendedConsistency,
    /// Every batch's range proof has its first hash changed.
    TamperedRange,
    /// A batch ack names the entry before its first refused one as refused instead (the
    /// accepted run it proves is then not the one the client is told was accepted).
    ShiftedRefusal,
}

/// The lies a gateway tells now, and how many answers carried one.
#[derive(Debug, Default)]
pub struct Liar {
    lies: Mutex<Vec<Lie>>,
    told: AtomicU64,
}

impl Liar {
    /// A liar that tells nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, also tells `lie`.
    pub fn tell(&self, lie: Lie) {
        let mut lies = self.lies.lock().unwrap_or_else(|e| e.into_inner());
        if !lies.contains(&lie) {
            lies.push(lie);
        }
    }

    /// From now on, no longer tells `lie`.
    pub fn stop_telling(&self, lie: &Lie) {
        self.lies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|told| told != lie);
    }

    /// From now on, tells nothing.
    pub fn be_honest(&self) {
        self.lies.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// How many answers carried a lie so far.
    pub fn lies_told(&self) -> u64 {
        self.told.load(Ordering::Relaxed)
    }

    /// Answers `request` through `honest` (the real log's answer to whatever it is asked), with
    /// the lies told now: the question changed before, the answer edited after.
    pub async fn exchange<F, Fut, E>(
        &self,
        request: pb::ClientRequest,
        honest: F,
    ) -> Result<pb::ClientResponse, E>
    where
        F: FnOnce(pb::ClientRequest) -> Fut,
        Fut: Future<Output = Result<pb::ClientResponse, E>>,
    {
        let lies = self.lies.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let asked = lies.iter().fold(request.clone(), |question, lie| {
            another_question(lie, question)
        });
        let changed_question = asked != request;
        let mut response = honest(asked).await?;
        let mut edited = false;
        for lie in &lies {
            edited |= edit(lie, &request, &mut response);
        }
        let refused = matches!(
            response.response,
            Some(client_response::Response::Error(_)) | None
        );
        if edited || (changed_question && !refused) {
            self.told.fetch_add(1, Ordering::Relaxed);
        }
        Ok(response)
    }
}

/// The question `lie` asks in place of `request` (`request` itself when the lie is not about it).
fn another_question(lie: &Lie, request: pb::ClientRequest) -> pb::ClientRequest {
    use client_request::Request as Q;
    match (lie, &request.request) {
        (Lie::EntriesFromAnotherStart | Lie::EntriesOfTheNextIndexes, Some(Q::Entries(e))) => {
            pb::ClientRequest::entries(e.start.saturating_add(1), e.count)
        }
        (Lie::InclusionForAnotherSize, Some(Q::Inclusion(i))) if i.tree_size > 1 => {
            pb::ClientRequest::inclusion(leaf_of(i), i.tree_size - 1)
        }
        (Lie::InclusionForAnotherLeaf, Some(Q::Inclusion(i))) => {
            let other = match leaf_of(i) {
                inclusion_request::Leaf::Index(0) => 1,
                inclusion_request::Leaf::Index(n) => n - 1,
                inclusion_request::Leaf::LeafHash(_) => 0,
            };
            pb::ClientRequest::inclusion(inclusion_request::Leaf::Index(other), i.tree_size)
        }
        (Lie::ConsistencyForOtherSizes, Some(Q::Consistency(c))) if c.size1 > 1 => {
            pb::ClientRequest::consistency(c.size1 - 1, c.size2)
        }
        (Lie::ConsistencyForOtherSizes, Some(Q::Consistency(c))) if c.size2 > 2 => {
            pb::ClientRequest::consistency(c.size1, c.size2 - 1)
        }
        (Lie::PublicationOf(other), Some(Q::Publication(_))) => {
            let mut changed = request.clone();
            if let Some(Q::Publication(p)) = &mut changed.request {
                p.req_hash = other.to_vec();
            }
            changed
        }
        _ => request,
    }
}

/// Edits `response` (the answer to another question, or to `request`) as `lie` says; whether it
/// changed anything.
fn edit(lie: &Lie, request: &pb::ClientRequest, response: &mut pb::ClientResponse) -> bool {
    use client_request::Request as Q;
    use client_response::Response as A;
    match (lie, &mut response.response) {
        (Lie::EntriesOfTheNextIndexes, Some(A::Entries(page))) => match &request.request {
            Some(Q::Entries(asked)) if page.start != asked.start => {
                page.start = asked.start;
                true
            }
            _ => false,
        },
        (Lie::AckIndexAtTheSize, Some(A::Submitted(ack))) => set_ack_index(ack, 0),
        (Lie::AckIndexPastTheSize, Some(A::Submitted(ack))) => set_ack_index(ack, PAST_THE_SIZE),
        (Lie::AckLeafHash(hash), Some(A::Submitted(ack))) => {
            ack.leaf_hash = hash.to_vec();
            true
        }
        (Lie::InclusionWithoutProof, Some(A::Inclusion(answer))) => answer.proof.take().is_some(),
        (Lie::TruncatedInclusion, Some(A::Inclusion(answer))) => {
            truncated(answer.proof.as_mut().map(|p| &mut p.hashes))
        }
        (Lie::TruncatedInclusion, Some(A::Submitted(ack))) => {
            truncated(ack.inclusion.as_mut().map(|p| &mut p.hashes))
        }
        (Lie::ExtendedConsistency, Some(A::Consistency(proof))) => extended(Some(proof)),
        (Lie::ExtendedConsistency, Some(A::Submitted(ack))) => extended(ack.consistency.as_mut()),
        (Lie::ExtendedConsistency, Some(A::BatchSubmitted(ack))) => {
            extended(ack.consistency.as_mut())
        }
        (Lie::ShiftedRefusal, Some(A::BatchSubmitted(ack))) => match ack.refused.first_mut() {
            Some(refused) if refused.position > 0 => {
                refused.position -= 1;
                true
            }
            _ => false,
        },
        (Lie::TamperedRange, Some(A::BatchSubmitted(ack))) => {
            match ack.range.as_mut().and_then(|r| r.hashes.first_mut()) {
                Some(hash) if !hash.is_empty() => {
                    let mut tampered = hash.to_vec();
                    tampered[0] ^= 1;
                    *hash = tampered.into();
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

fn truncated<T>(hashes: Option<&mut Vec<T>>) -> bool {
    hashes.and_then(|h| h.pop()).is_some()
}

fn extended(proof: Option<&mut pb::ConsistencyProof>) -> bool {
    match proof {
        Some(proof) => {
            proof.hashes.push(vec![0; 32].into());
            true
        }
        None => false,
    }
}

/// The leaf an inclusion request asks about (validated requests name one).
fn leaf_of(request: &pb::InclusionRequest) -> inclusion_request::Leaf {
    request
        .leaf
        .clone()
        .unwrap_or(inclusion_request::Leaf::Index(0))
}

/// Sets `ack`'s index to its checkpoint's size plus `past`; whether it could (the checkpoint
/// parses).
fn set_ack_index(ack: &mut pb::SubmitAck, past: u64) -> bool {
    let size = ack
        .checkpoint
        .as_ref()
        .and_then(|c| SignedNote::parse(&c.note).ok())
        .and_then(|note| Checkpoint::parse_body(note.text()).ok())
        .map(|c| c.size);
    match size {
        Some(size) => {
            ack.index = size.saturating_add(past);
            true
        }
        None => false,
    }
}
