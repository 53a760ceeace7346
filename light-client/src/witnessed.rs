//! Witnessed checkpoints and split-view alerts, on the client side.
//!
//! A [`LogTrust`] with a witness policy (the log key, the witness keys the client trusts, the
//! quorum, and how far ahead of the client's clock a cosignature may be timestamped) makes a
//! [`TrustedLog`] accept only checkpoints that a quorum of those witnesses cosigned: it asks the
//! gateway for its latest cosigned checkpoint and lets the policy decide. The gateway's own
//! quorum is no promise.
//!
//! Split views: whatever the gateway says about them is checked here with proto's verifier.
//! A verified equivocation proof against this log's key — from the gateway's alerts
//! ([`TrustedLog::check_alerts`]) or built by proto's succession rule when a gateway shows the
//! client two conflicting checkpoints — makes the `TrustedLog` refuse the log from then on
//! ([`VerifyError::Equivocated`]). An alert that does not verify proves nothing and is ignored.

// `VerifyError` carries whole checkpoints as evidence (see `verify.rs`); `ClientError` boxes it.
#![allow(clippy::result_large_err)]

use herald_proto::equivocation::Equivocation;
use herald_proto::inclusion::LogTrust;
use herald_proto::wire::pb;
use tracing::warn;

/// The first of `alerts` that verifies and proves that `log` (under its key) equivocated.
pub fn proof_against(log: &LogTrust, alerts: Vec<pb::Equivocation>) -> Option<Equivocation> {
    alerts.into_iter().find_map(|wire| {
        let claimed = match Equivocation::from_wire(wire) {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "the gateway served an alert that does not decode");
                return None;
            }
        };
        match claimed.verify() {
            Ok(v) if v.equivocation().log() == log.log() => Some(claimed),
            Ok(_) => None,
            Err(e) => {
                warn!(error = %e, "the gateway served an alert that does not verify");
                None
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use futures::executor::block_on;
    use herald_proto::checkpoint::{VerifiedCheckpoint, WitnessPolicy, WitnessSigner};
    use herald_proto::merkle::HashAlgorithm;
    use herald_proto::succession::SuccessionError;

    use super::*;
    use std::sync::Arc;

    use crate::clock::{Clock as _, FixedClock, SystemClock};
    use crate::error::ClientError;
    use crate::store::{MemoryCheckpointStore, StoreError};
    use crate::test_log::{FakeGateway, TestLog};
    use crate::trusted_log::TrustedLog;
    use crate::verify::VerifyError;

    type Log<'a> = TrustedLog<&'a FakeGateway, &'a MemoryCheckpointStore>;

    fn witness(seed: u8) -> WitnessSigner {
        WitnessSigner::new(
            &format!("w{seed}.test/witness"),
            SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap()
    }

    fn open<'a>(gateway: &'a FakeGateway, store: &'a MemoryCheckpointStore) -> Log<'a> {
        gateway.trusted(store)
    }

    /// The gateway's checkpoint of `size` with cosignatures by `witnesses`, made now.
    fn cosigned(gateway: &FakeGateway, size: u64, witnesses: &[&WitnessSigner]) -> Vec<u8> {
        cosigned_at(gateway, size, witnesses, SystemClock.now_secs())
    }

    /// [`cosigned`] with cosignatures timestamped `time`.
    fn cosigned_at(
        gateway: &FakeGateway,
        size: u64,
        witnesses: &[&WitnessSigner],
        time: u64,
    ) -> Vec<u8> {
        let log = gateway.log.lock().unwrap();
        let mut c =
            VerifiedCheckpoint::verify(&log.checkpoint_note(size), &log.verifier()).unwrap();
        for w in witnesses {
            let cos = w.cosign(&c, time).unwrap();
            c = c.with_cosignature(&w.verifier(), &cos).unwrap();
        }
        c.note().into_bytes()
    }

    /// The gateway's log with witnesses 7 and 8 and `quorum`.
    fn witnessed<'a>(
        gateway: &'a FakeGateway,
        store: &'a MemoryCheckpointStore,
        quorum: usize,
    ) -> Log<'a> {
        let verifier = gateway.log.lock().unwrap().verifier();
        let policy = WitnessPolicy::new(
            verifier,
            vec![witness(7).verifier(), witness(8).verifier()],
            quorum,
        )
        .unwrap();
        TrustedLog::open(gateway, LogTrust::new(policy, HashAlgorithm::Blake3), store).unwrap()
    }

    fn verification(e: ClientError) -> VerifyError {
        match e {
            ClientError::Verification(v) => *v,
            other => panic!("expected a verification failure, got {other:?}"),
        }
    }

    #[test]
    fn only_checkpoints_cosigned_by_a_quorum_are_trusted() {
        let gateway = FakeGateway::new(TestLog::new(5));
        let store = MemoryCheckpointStore::new();
        let mut log = witnessed(&gateway, &store, 2);
        // Nothing cosigned yet: the gateway's refusal, nothing trusted.
        assert!(matches!(
            block_on(log.refresh()),
            Err(ClientError::Refused(_))
        ));
        // One policy witness and a stranger do not make a quorum of 2.
        *gateway.cosigned.lock().unwrap() =
            Some(cosigned(&gateway, 5, &[&witness(7), &witness(9)]));
        let err = verification(block_on(log.refresh()).unwrap_err());
        assert!(matches!(err, VerifyError::NotCosigned { .. }), "{err:?}");
        assert_eq!(log.trusted(), None);
        // Both policy witnesses: trusted.
        *gateway.cosigned.lock().unwrap() =
            Some(cosigned(&gateway, 5, &[&witness(7), &witness(8)]));
        assert_eq!(block_on(log.refresh()).unwrap().checkpoint.size(), 5);
        // A newer, merely log-signed checkpoint served as "cosigned" is refused.
        gateway.log.lock().unwrap().push(b"six".to_vec());
        let note = gateway.log.lock().unwrap().checkpoint_note(6);
        *gateway.cosigned.lock().unwrap() = Some(note);
        assert!(matches!(
            verification(block_on(log.refresh()).unwrap_err()),
            VerifyError::NotCosigned { .. }
        ));
        assert_eq!(log.trusted().unwrap().size(), 5);
    }

    #[test]
    fn cosignature_times_are_judged_by_the_clock_the_log_is_given() {
        let gateway = FakeGateway::new(TestLog::new(5));
        *gateway.cosigned.lock().unwrap() = Some(cosigned_at(
            &gateway,
            5,
            &[&witness(7), &witness(8)],
            50_000,
        ));
        let store = MemoryCheckpointStore::new();
        // At 10,000 the cosignatures are from the future, beyond any skew: not trusted.
        let mut early = witnessed(&gateway, &store, 2).with_clock(Arc::new(FixedClock(10_000)));
        assert!(matches!(
            verification(block_on(early.refresh()).unwrap_err()),
            VerifyError::NotCosigned { .. }
        ));
        assert_eq!(early.trusted(), None);
        // At 50,000 they are timely.
        let mut on_time = witnessed(&gateway, &store, 2).with_clock(Arc::new(FixedClock(50_000)));
        assert_eq!(block_on(on_time.refresh()).unwrap().checkpoint.size(), 5);
    }

    #[test]
    fn attack_a_verified_alert_makes_the_log_refused_and_a_false_one_does_not() {
        let gateway = FakeGateway::new(TestLog::new(6));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        let (honest, fork) = {
            let l = gateway.log.lock().unwrap();
            let v = l.verifier();
            (
                VerifiedCheckpoint::verify(&l.checkpoint_note(6), &v).unwrap(),
                VerifiedCheckpoint::verify(&l.sign_raw(6, [9; 32]), &v).unwrap(),
            )
        };
        let proof = Equivocation::from_same_size(HashAlgorithm::Blake3, &honest, &fork).unwrap();
        // A "proof" whose checkpoints agree, garbage, and a stranger's real proof: ignored.
        let mut false_proof = proof.to_wire();
        false_proof.checkpoint_b = false_proof.checkpoint_a.clone();
        let stranger = TestLog::with_key("alpha.test/herald", [2; 32], 3);
        let (s1, s2) = (
            VerifiedCheckpoint::verify(&stranger.checkpoint_note(3), &stranger.verifier()).unwrap(),
            VerifiedCheckpoint::verify(&stranger.sign_raw(3, [1; 32]), &stranger.verifier())
                .unwrap(),
        );
        let strangers = Equivocation::from_same_size(HashAlgorithm::Blake3, &s1, &s2).unwrap();
        *gateway.alerts.lock().unwrap() = vec![
            false_proof,
            pb::Equivocation::default(),
            strangers.to_wire(),
        ];
        block_on(log.check_alerts()).unwrap();
        assert!(block_on(log.refresh()).is_ok());
        // The real one: refused from now on, whatever the gateway serves after.
        gateway.alerts.lock().unwrap().push(proof.to_wire());
        let err = verification(block_on(log.check_alerts()).unwrap_err());
        assert!(matches!(err, VerifyError::Equivocated { .. }), "{err:?}");
        gateway.alerts.lock().unwrap().clear();
        assert!(matches!(
            verification(block_on(log.refresh()).unwrap_err()),
            VerifyError::Equivocated { .. }
        ));
        assert!(matches!(
            verification(block_on(log.entry(1)).unwrap_err()),
            VerifyError::Equivocated { .. }
        ));
        assert_eq!(log.equivocation(), Some(&proof));
    }

    /// A log once proved to equivocate stays refused in every later run over the same state,
    /// even when its gateway stops serving the alert (as the lying gateway would); a saved proof
    /// that was tampered with, or is about another key, is an error, never a reason to trust.
    #[test]
    fn attack_distrust_survives_a_restart_and_a_gateway_that_hides_the_alert() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::FileCheckpointStore::new(dir.path().join("state"));
        let gateway = FakeGateway::new(TestLog::new(6));
        let verifier = gateway.log.lock().unwrap().verifier();
        let open_file = || {
            TrustedLog::open(
                &gateway,
                LogTrust::unwitnessed(verifier.clone(), HashAlgorithm::Blake3),
                &store,
            )
        };
        let mut log = open_file().unwrap();
        block_on(log.refresh()).unwrap();
        let proof = {
            let l = gateway.log.lock().unwrap();
            Equivocation::from_same_size(
                HashAlgorithm::Blake3,
                &VerifiedCheckpoint::verify(&l.checkpoint_note(6), &verifier).unwrap(),
                &VerifiedCheckpoint::verify(&l.sign_raw(6, [9; 32]), &verifier).unwrap(),
            )
            .unwrap()
        };
        gateway.alerts.lock().unwrap().push(proof.to_wire());
        block_on(log.check_alerts()).unwrap_err();
        drop(log);

        // The next run: the gateway hides the alert; the log is refused before any request.
        gateway.alerts.lock().unwrap().clear();
        let mut log = open_file().unwrap();
        assert_eq!(log.equivocation(), Some(&proof));
        assert!(matches!(
            verification(block_on(log.refresh()).unwrap_err()),
            VerifyError::Equivocated { .. }
        ));
        drop(log);

        // A saved proof made false (both checkpoints the same) is refused, not ignored.
        let path = store.equivocation_path(verifier.name());
        let mut false_proof = proof.to_wire();
        false_proof.checkpoint_b = false_proof.checkpoint_a.clone();
        std::fs::write(&path, prost::Message::encode_to_vec(&false_proof)).unwrap();
        assert!(matches!(
            open_file(),
            Err(ClientError::Store(StoreError::BadEquivocation { .. }))
        ));
        std::fs::write(&path, b"\xffnot a proof").unwrap();
        assert!(matches!(
            open_file(),
            Err(ClientError::Store(StoreError::BadEquivocation { .. }))
        ));
        // A proof against another key, saved under this origin, is refused too.
        let stranger = TestLog::with_key(verifier.name(), [2; 32], 3);
        let (s1, s2) = (
            VerifiedCheckpoint::verify(&stranger.checkpoint_note(3), &stranger.verifier()).unwrap(),
            VerifiedCheckpoint::verify(&stranger.sign_raw(3, [1; 32]), &stranger.verifier())
                .unwrap(),
        );
        let strangers = Equivocation::from_same_size(HashAlgorithm::Blake3, &s1, &s2).unwrap();
        std::fs::write(&path, strangers.encode()).unwrap();
        assert!(matches!(
            open_file(),
            Err(ClientError::Store(StoreError::BadEquivocation { .. }))
        ));
    }

    #[test]
    fn attack_a_fork_shown_to_the_client_distrusts_the_log() {
        let gateway = FakeGateway::new(TestLog::new(6));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        block_on(log.refresh()).unwrap();
        let mut fork = TestLog::new(6);
        fork.replace_leaf(5, b"other".to_vec());
        let honest = gateway.log.lock().unwrap().clone();
        gateway.set_log(fork);
        assert!(matches!(
            verification(block_on(log.refresh()).unwrap_err()),
            VerifyError::Succession(SuccessionError::Split(_))
        ));
        // Back to the honest tree: still refused, the client holds the proof.
        gateway.set_log(honest);
        assert!(matches!(
            verification(block_on(log.refresh()).unwrap_err()),
            VerifyError::Equivocated { .. }
        ));
        assert!(log.equivocation().unwrap().verify().is_ok());
    }
}
