//! A gateway's answer to a publication lookup at X (DESIGN §3.3 steps (c) and (d)), classified
//! once: not yet proven, proof that the gateway misbehaved, or the publication proven.
//!
//! The gateway of X answers a lookup by req_hash with the lowest-index `KeyPublication` naming
//! it, its inclusion proof and X's latest cosigned checkpoint. [`classify_publication`] is the
//! one check of such an answer, for the light client's poll loop and for both state machines:
//! cheap comparisons first (the leaf's kind, the req_hash it names, the leaf the sender
//! submitted), then the Merkle path, then the log's signature and X's witnesses' cosignatures in
//! one pass. Only a checkpoint not (yet) cosigned as X requires is "not yet"; everything else
//! that fails shows the gateway served something it should not have. A
//! [`ProvenPublication`] remembers which request and location it was proven for, so a machine
//! takes it without checking the answer again.

use super::CertMailError;
use super::location::Location;
use crate::checkpoint::{CosignedCheckpoint, PolicyError};
use crate::inclusion::{InclusionError, VerifiedEntry};
use crate::wire::{decode_valid, pb};

/// How an answer shows that the gateway misbehaved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadPublication {
    /// The leaf is not a `KeyPublication`.
    #[error("the answer's leaf is not a key publication")]
    NotAPublication,
    /// The publication names another request.
    #[error("the publication names another request")]
    OtherRequest,
    /// Another leaf naming the request than the one the sender submitted.
    #[error("the leaf is another publication naming the request than the one submitted")]
    OtherLeaf,
    /// The leaf is not proved in a checkpoint of X signed by X's log key (a bad path, note,
    /// signature, or a failing cosignature by one of X's witnesses).
    #[error("the leaf is not proved in a checkpoint of X: {0}")]
    NotProved(InclusionError),
}

impl From<BadPublication> for CertMailError {
    fn from(bad: BadPublication) -> Self {
        match bad {
            BadPublication::NotAPublication => CertMailError::NotAPublication,
            BadPublication::OtherRequest => CertMailError::Mismatch {
                field: "KeyPublication.req_hash",
            },
            BadPublication::OtherLeaf => CertMailError::OtherLeaf,
            BadPublication::NotProved(e) => CertMailError::Inclusion(e),
        }
    }
}

/// What an answer to a publication lookup shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicationAnswer {
    /// The leaf is proved in a checkpoint of X, but not cosigned as X requires (yet): a later
    /// checkpoint may be. Why the policy refused it.
    NotYet(PolicyError),
    /// The gateway served something it should not have: the evidence.
    Misbehaved(BadPublication),
    /// The publication, proven (boxed: it holds the answer).
    Proven(Box<ProvenPublication>),
}

impl PublicationAnswer {
    /// The proven publication, or the classification as a state machine's refusal.
    pub fn proven(self) -> Result<Box<ProvenPublication>, CertMailError> {
        match self {
            PublicationAnswer::Proven(p) => Ok(p),
            PublicationAnswer::NotYet(e) => Err(InclusionError::Cosigned(e).into()),
            PublicationAnswer::Misbehaved(bad) => Err(bad.into()),
        }
    }
}

/// A `KeyPublication` naming `req_hash`, included in a checkpoint of X cosigned by a quorum of
/// X's witnesses (timestamps up to δ ahead of the clock it was checked at). Made only by
/// [`classify_publication`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenPublication {
    req_hash: [u8; 32],
    location: Location,
    answer: pb::IncludedLeaf,
    entry: VerifiedEntry<CosignedCheckpoint>,
}

impl ProvenPublication {
    /// The request it answers.
    pub fn req_hash(&self) -> &[u8; 32] {
        &self.req_hash
    }

    /// The location X it was proven at.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The answer as received (leaf, proof and cosigned checkpoint), for evidence bundles.
    pub fn answer(&self) -> &pb::IncludedLeaf {
        &self.answer
    }

    /// The leaf bytes.
    pub fn leaf(&self) -> &[u8] {
        self.entry.entry()
    }

    /// The leaf's index in X's log.
    pub fn index(&self) -> u64 {
        self.entry.index()
    }

    /// The cosigned checkpoint it is proven in (to trust, once shown consistent).
    pub fn checkpoint(&self) -> &CosignedCheckpoint {
        self.entry.checkpoint()
    }
}

/// Classifies `answer`, a gateway's answer to the lookup of `req_hash` at X (`location`), at
/// time `now` (see the module docs). `expected` is the leaf the sender submitted, if the caller
/// is the sender. Whether the quorum was reached by `T + δ` is the state machines' question.
pub fn classify_publication(
    location: &Location,
    req_hash: &[u8; 32],
    expected: Option<&[u8]>,
    answer: &pb::IncludedLeaf,
    now: u64,
) -> PublicationAnswer {
    let named = match decode_valid::<pb::LogEntry>(&answer.entry).map(|e| e.kind) {
        Ok(Some(pb::log_entry::Kind::KeyPublication(p))) => p.req_hash,
        _ => return PublicationAnswer::Misbehaved(BadPublication::NotAPublication),
    };
    if named != req_hash {
        return PublicationAnswer::Misbehaved(BadPublication::OtherRequest);
    }
    if expected.is_some_and(|leaf| answer.entry != leaf) {
        return PublicationAnswer::Misbehaved(BadPublication::OtherLeaf);
    }
    match location
        .log()
        .verify_included(answer, u64::MAX, now, location.clock_skew())
    {
        Ok(entry) => PublicationAnswer::Proven(Box::new(ProvenPublication {
            req_hash: *req_hash,
            location: location.clone(),
            answer: answer.clone(),
            entry,
        })),
        Err(InclusionError::Cosigned(e)) => PublicationAnswer::NotYet(e),
        Err(e) => PublicationAnswer::Misbehaved(BadPublication::NotProved(e)),
    }
}
