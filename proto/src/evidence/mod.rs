//! What certified mail leaves behind for a dispute (DESIGN §3.3): the sender's evidence bundle,
//! the offline arbiter that judges it, and the recipient's absence proof.
//!
//! - [`decode_bundle`] reads an [`EvidenceBundle`](crate::wire::pb::EvidenceBundle) file: size
//!   limit, protobuf, version, each a typed [`BundleError`].
//! - [`arbitrate`] judges a bundle offline against an [`ArbiterContext`] (the arbiter's clock,
//!   its own trusted keys, and whatever B presents: equivocation proofs, lower-index duplicate
//!   publications, revocations). The [`Verdict`] lists every check and the one that decided.
//! - [`verify_absence`] checks B's proof that no leaf between two cosigned checkpoints of X names
//!   the request; [`build_absence_proof`] assembles one.
//! - [`verify_status`] checks a gateway's delivery-status answer: a mail's notary records
//!   (DESIGN §3.4), each proven in one cosigned checkpoint; [`verify_relayed_status`] the same
//!   answer passed on by the asker's own gateway, signed by the answering one.

mod absence;
mod arbiter;
mod bundle;
mod relayed;
mod status;
mod verdict;

pub use crate::wire::{MAX_ABSENCE_LEAVES, MAX_ABSENCE_PROOF_BYTES, MAX_EVIDENCE_BUNDLE_BYTES};
pub use absence::{
    ABSENCE_PROOF_VERSION, AbsenceError, VerifiedAbsence, build_absence_proof,
    decode_absence_proof, verify_absence,
};
pub use arbiter::{ArbiterContext, arbitrate, arbitrate_bytes};
pub use bundle::{BUNDLE_VERSION, BundleError, decode_bundle};
pub use relayed::{
    RELAYED_EVIDENCE_LABEL, RelayedStatus, relayed_answer_message, sign_relayed_answer,
    unproven_relayed_answer, verify_relayed_status,
};
pub use status::{DeliveryStatus, ProvenRecord, StatusError, verify_status};
pub use verdict::{
    Check, CheckResult, Conclusion, Outcome, Status, TrustNote, TrustSource, Verdict,
};

/// Whether a leaf is a `KeyPublication` naming `req_hash` (signed or not: the log's order, not
/// the leaf's validity, says which publication came first). One definition for the arbiter's
/// lowest-index rule and the absence proof, which must agree on it.
pub(crate) fn names_request(entry: &[u8], req_hash: &[u8; 32]) -> bool {
    matches!(
        crate::wire::decode::<crate::wire::pb::LogEntry>(entry, crate::wire::MAX_LOG_ENTRY_BYTES)
            .map(|e| e.kind),
        Ok(Some(crate::wire::pb::log_entry::Kind::KeyPublication(k))) if k.req_hash == req_hash
    )
}
