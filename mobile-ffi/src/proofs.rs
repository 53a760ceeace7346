//! Offline checks of the other proofs an app, an auditor or an arbiter is handed, besides the
//! evidence bundle ([`crate::verify_evidence`]): a checkpoint against a log's key and witness
//! policy, a split-view (equivocation) proof, and an absence proof. No network, no state: each is
//! proto's verifier on bytes, as `herald verify-equivocation` and the light client run them.
//!
//! Every input is bounded before it is read; a proof that does not verify is
//! [`HeraldError::BadInput`] with the verifier's reason.

use herald_proto::checkpoint::{PolicyError, VerifiedCheckpoint};
use herald_proto::equivocation::{Equivocation, Evidence};
use herald_proto::evidence::{MAX_ABSENCE_PROOF_BYTES, decode_absence_proof, verify_absence};
use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::NoteVerifier;
use herald_proto::wire::{
    MAX_CHECKPOINT_NOTE_BYTES, MAX_EQUIVOCATION_BYTES, MAX_VERIFIER_KEY_BYTES,
};

use crate::account::check_len;
use crate::client::{TrustedCheckpoint, trusted_checkpoint, unix_now};
use crate::config::{LogConfig, check_log};
use crate::error::HeraldError;
use crate::runtime::guard;

/// How an equivocation proof shows that a log signed two views.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum EquivocationForm {
    /// Two checkpoints of one size with different roots.
    SameSize,
    /// A consistency proof from the smaller checkpoint that commits the log to another root.
    Consistency,
    /// One index with a different leaf in each tree.
    Inclusion,
}

/// A verified equivocation proof: the log's key signed both checkpoints, and they cannot both
/// be true. Anyone holding it may stop trusting the log.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ProvenEquivocation {
    /// The log's verifier key (C2SP), as the proof names it.
    pub log_key: String,
    /// How the proof shows it.
    pub form: EquivocationForm,
    /// One checkpoint.
    pub first: TrustedCheckpoint,
    /// The other.
    pub second: TrustedCheckpoint,
}

/// A verified absence proof: no publication for the request between two cosigned checkpoints
/// of its location.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ShownAbsence {
    /// The request's hash (the key publication it would have named).
    pub req_hash: Vec<u8>,
    /// The first index scanned (checkpoint 1's size).
    pub from_size: u64,
    /// One past the last index scanned (checkpoint 2's size).
    pub to_size: u64,
}

/// Verifies `note` as a checkpoint of `log`: signed by its key and cosigned by its witnesses'
/// quorum as of `at` (Unix seconds; default now). With no witnesses and a quorum of 0, the log's
/// signature alone is checked.
#[uniffi::export]
pub fn verify_checkpoint(
    note: Vec<u8>,
    log: LogConfig,
    at: Option<u64>,
) -> Result<TrustedCheckpoint, HeraldError> {
    guard(|| {
        check_len("note", &note, MAX_CHECKPOINT_NOTE_BYTES)?;
        let refused = |e: &dyn std::fmt::Display| HeraldError::bad_input(format!("note: {e}"));
        if log.witness_keys.is_empty() && log.quorum == 0 {
            // No witnesses named: the log's signature alone (a configured log always has a
            // quorum; this is for checking a bare checkpoint).
            if log.log_key.len() > MAX_VERIFIER_KEY_BYTES {
                return Err(HeraldError::bad_input(format!(
                    "log_key: longer than {MAX_VERIFIER_KEY_BYTES} bytes"
                )));
            }
            let key = NoteVerifier::parse(&log.log_key)
                .map_err(|e| HeraldError::bad_input(format!("log_key: {e}")))?;
            let checkpoint = VerifiedCheckpoint::verify(&note, &key).map_err(|e| refused(&e))?;
            checkpoint
                .check_empty_root(HashAlgorithm::from(log.hash))
                .map_err(|e| refused(&e))?;
            return Ok(trusted_checkpoint(&checkpoint));
        }
        let trust = check_log(&log)?.trust;
        match trust.verify_cosigned(&note, at.unwrap_or_else(unix_now)) {
            Ok(cosigned) => Ok(trusted_checkpoint(cosigned.checkpoint())),
            Err(PolicyError::NoWitnessPolicy) => trust
                .verify_checkpoint(&note)
                .map(|c| trusted_checkpoint(&c))
                .map_err(|e| refused(&e)),
            Err(e) => Err(refused(&e)),
        }
    })
}

/// Verifies a split-view proof (an encoded `herald.v1.Equivocation`) from its bytes alone and,
/// when `log_key` is given, that it is against that log.
#[uniffi::export]
pub fn verify_equivocation(
    proof: Vec<u8>,
    log_key: Option<String>,
) -> Result<ProvenEquivocation, HeraldError> {
    guard(|| {
        check_len("proof", &proof, MAX_EQUIVOCATION_BYTES)?;
        let expected = match log_key {
            Some(k) if k.len() > MAX_VERIFIER_KEY_BYTES => {
                return Err(HeraldError::bad_input(format!(
                    "log_key: longer than {MAX_VERIFIER_KEY_BYTES} bytes"
                )));
            }
            Some(k) => Some(
                NoteVerifier::parse(&k)
                    .map_err(|e| HeraldError::bad_input(format!("log_key: {e}")))?,
            ),
            None => None,
        };
        let claimed = Equivocation::decode(&proof)
            .map_err(|e| HeraldError::bad_input(format!("proof: not an equivocation: {e}")))?;
        let verified = claimed
            .verify()
            .map_err(|e| HeraldError::bad_input(format!("proof: does not verify: {e}")))?;
        let log = verified.equivocation().log();
        if let Some(key) = expected
            && &key != log
        {
            return Err(HeraldError::bad_input(format!(
                "proof: against {log}, not the key given ({key})"
            )));
        }
        Ok(ProvenEquivocation {
            log_key: log.to_string(),
            form: match verified.equivocation().evidence() {
                Evidence::SameSize => EquivocationForm::SameSize,
                Evidence::Consistency { .. } => EquivocationForm::Consistency,
                Evidence::Inclusion { .. } => EquivocationForm::Inclusion,
            },
            first: trusted_checkpoint(verified.first()),
            second: trusted_checkpoint(verified.second()),
        })
    })
}

/// Verifies an absence proof (an encoded `herald.v1.AbsenceProof`) as of `at` (Unix seconds;
/// default now).
#[uniffi::export]
pub fn verify_absence_proof(proof: Vec<u8>, at: Option<u64>) -> Result<ShownAbsence, HeraldError> {
    guard(|| {
        check_len("proof", &proof, MAX_ABSENCE_PROOF_BYTES)?;
        let decoded = decode_absence_proof(&proof)
            .map_err(|e| HeraldError::bad_input(format!("proof: {e}")))?;
        let shown = verify_absence(&decoded, at.unwrap_or_else(unix_now))
            .map_err(|e| HeraldError::bad_input(format!("proof: does not verify: {e}")))?;
        Ok(ShownAbsence {
            req_hash: shown.request.req_hash().to_vec(),
            from_size: shown.from_size,
            to_size: shown.to_size,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_out_of_bounds_or_unreadable_are_bad_input() {
        let bad = |r: Result<ProvenEquivocation, HeraldError>| {
            assert!(matches!(r, Err(HeraldError::BadInput { .. })), "{r:?}");
        };
        bad(verify_equivocation(
            vec![0; MAX_EQUIVOCATION_BYTES + 1],
            None,
        ));
        bad(verify_equivocation(b"garbage".to_vec(), None));
        bad(verify_equivocation(Vec::new(), Some("x".repeat(10_000))));
        bad(verify_equivocation(Vec::new(), Some("not a key".into())));
        assert!(matches!(
            verify_absence_proof(vec![0xff; 64], None),
            Err(HeraldError::BadInput { .. })
        ));
        assert!(matches!(
            verify_absence_proof(vec![0; MAX_ABSENCE_PROOF_BYTES + 1], None),
            Err(HeraldError::BadInput { .. })
        ));
    }
}
