//! The delivery status of a mail (DESIGN §3.4): a gateway's notary records of one msg_id,
//! every record proved, and the checkpoint they are proved in made part of what this client
//! trusts about the log.
//!
//! The checks are proto's ([`verify_status`]): each record included in one checkpoint cosigned
//! as the log's witness policy requires, signed by the log's key, about the asked msg_id. Then
//! [`TrustedLog::delivery_status`] takes that checkpoint like any other: consistent with the
//! trusted one (a split view is caught and the log distrusted), and trusted if newer. A sender
//! asks its own gateway (S_A) and the recipient's (S_B) the same way; for S_B the log is S_B's
//! (as the trust list or a log file describes it).
//!
//! A client that reaches only its own gateway asks it for S_B's records
//! ([`delivery_status_through`]): S_A asks S_B and returns S_B's answer unchanged, signed by
//! S_B over the client's fresh nonce; the client checks it against S_B's log from its own trust
//! list (proto's [`verify_relayed_status`]), so a record S_A altered, dropped or replayed is
//! refused like any unverifiable answer. That checkpoint of S_B's log is not adopted into the
//! client's trusted state: S_A carries no consistency proofs of S_B's log, and the witnesses'
//! cosignatures already stand for its consistency.

// `VerifyError` carries whole checkpoints as evidence (see `verify.rs`).
#![allow(clippy::result_large_err)]

use herald_proto::evidence::{DeliveryStatus, RelayedStatus, verify_relayed_status, verify_status};
use herald_proto::inclusion::LogTrust;
use herald_proto::wire::{EVIDENCE_NONCE_BYTES, MAX_MSG_ID_BYTES};
use rand_core::Rng as _;

use crate::error::ClientError;
use crate::gateway::Gateway;
use crate::store::CheckpointStore;
use crate::trusted_log::TrustedLog;
use crate::verify::VerifyError;

impl<G: Gateway, S: CheckpointStore> TrustedLog<G, S> {
    /// The records this log's gateway logged for `msg_id`, verified (see the module docs).
    /// `NOT_FOUND` and `PENDING` refusals come back as they are (the caller may ask again).
    pub async fn delivery_status(&mut self, msg_id: &[u8]) -> Result<DeliveryStatus, ClientError> {
        self.refuse_if_distrusted()?;
        check_msg_id(msg_id)?;
        let answer = self.gateway.evidence(msg_id).await?;
        let status =
            verify_status(&self.log, msg_id, &answer, self.clock.now_secs()).map_err(|error| {
                VerifyError::Status {
                    answer: Box::new(answer),
                    error,
                }
            })?;
        self.adopt_cosigned(status.checkpoint.checkpoint().clone())
            .await?;
        Ok(status)
    }
}

fn check_msg_id(msg_id: &[u8]) -> Result<(), ClientError> {
    if msg_id.is_empty() || msg_id.len() > MAX_MSG_ID_BYTES {
        return Err(ClientError::InvalidRequest(format!(
            "a msg_id is 1 to {MAX_MSG_ID_BYTES} bytes, this one {}",
            msg_id.len()
        )));
    }
    Ok(())
}

/// The records the gateway `domain` logged for `msg_id`, asked through `gateway` (the client's
/// own, which passes the question on to its registered peer `domain`) and verified against
/// `peer_log`, `domain`'s log as the client's own trust list describes it, at time `now`.
/// "Nothing logged" and "not yet cosigned" are `domain`'s signed answers
/// ([`RelayedStatus::NotFound`], [`RelayedStatus::Pending`]); a refusal (`ClientError::Refused`)
/// is the passing gateway's word, never a status.
pub async fn delivery_status_through<G: Gateway>(
    gateway: &G,
    domain: &str,
    peer_log: &LogTrust,
    msg_id: &[u8],
    now: u64,
) -> Result<RelayedStatus, ClientError> {
    check_msg_id(msg_id)?;
    let mut nonce = [0u8; EVIDENCE_NONCE_BYTES];
    rand_core::UnwrapErr(getrandom::SysRng).fill_bytes(&mut nonce);
    let answer = gateway.peer_evidence(domain, msg_id, &nonce).await?;
    verify_relayed_status(peer_log, msg_id, &nonce, &answer, now).map_err(|error| {
        VerifyError::Status {
            answer: Box::new(answer),
            error,
        }
        .into()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ed25519_dalek::SigningKey;
    use herald_proto::checkpoint::{VerifiedCheckpoint, WitnessPolicy};
    use herald_proto::entry::{EvidenceRecord, MailParties};
    use herald_proto::inclusion::LogTrust;
    use herald_proto::merkle::HashAlgorithm;
    use herald_proto::wire::pb;
    use prost::Message as _;

    use super::*;
    use crate::clock::FixedClock;
    use crate::store::MemoryCheckpointStore;
    use crate::test_log::{FakeGateway, TestLog, witness};

    const NOW: u64 = 1_800_000_000;

    fn record(key: &SigningKey, kind: pb::EvidenceKind, msg_id: &[u8], reason: &str) -> Vec<u8> {
        let parties = MailParties::new([1; 32], "alice@alpha.test", "bob@beta.test").unwrap();
        EvidenceRecord::new(kind, msg_id, &parties, NOW, reason)
            .unwrap()
            .sign(key)
            .encode_to_vec()
    }

    /// A gateway whose log holds `leaves` after 3 fillers, cosigned by witnesses 7 and 8.
    fn gateway(leaves: impl FnOnce(&SigningKey) -> Vec<Vec<u8>>) -> FakeGateway {
        let mut log = TestLog::new(3);
        for leaf in leaves(&log.key().clone()) {
            log.push(leaf);
        }
        let mut c =
            VerifiedCheckpoint::verify(&log.checkpoint_note(log.size()), &log.verifier()).unwrap();
        for w in [witness(7), witness(8)] {
            let cos = w.cosign(&c, NOW).unwrap();
            c = c.with_cosignature(&w.verifier(), &cos).unwrap();
        }
        let gateway = FakeGateway::new(log);
        *gateway.cosigned.lock().unwrap() = Some(c.note().into_bytes());
        gateway
    }

    fn trusted<'a>(
        gateway: &'a FakeGateway,
        store: &'a MemoryCheckpointStore,
    ) -> TrustedLog<&'a FakeGateway, &'a MemoryCheckpointStore> {
        let verifier = gateway.log.lock().unwrap().verifier();
        let policy = WitnessPolicy::new(
            verifier,
            vec![witness(7).verifier(), witness(8).verifier()],
            2,
        )
        .unwrap();
        TrustedLog::open(gateway, LogTrust::new(policy, HashAlgorithm::Blake3), store)
            .unwrap()
            .with_clock(Arc::new(FixedClock(NOW)))
    }

    #[tokio::test]
    async fn a_status_is_verified_and_its_checkpoint_trusted() {
        let gateway = gateway(|key| {
            vec![
                record(key, pb::EvidenceKind::RelayAccepted, b"m", ""),
                record(key, pb::EvidenceKind::Handover, b"other", "x"),
                record(key, pb::EvidenceKind::Consignment, b"m", ""),
            ]
        });
        let store = MemoryCheckpointStore::new();
        let mut log = trusted(&gateway, &store);
        let status = log.delivery_status(b"m").await.unwrap();
        assert_eq!(
            status.records.iter().map(|r| r.index).collect::<Vec<_>>(),
            vec![3, 5]
        );
        assert_eq!(log.trusted().map(|c| c.size()), Some(6));
        // A msg_id over the bound is refused before anything is sent.
        assert!(matches!(
            log.delivery_status(&[0; 65]).await,
            Err(ClientError::InvalidRequest(_))
        ));
    }

    #[tokio::test]
    async fn attack_a_gateway_serving_a_record_signed_by_another_key_is_refused() {
        let gateway = gateway(|_| {
            vec![record(
                &SigningKey::from_bytes(&[99; 32]),
                pb::EvidenceKind::Handover,
                b"m",
                "fetched",
            )]
        });
        let store = MemoryCheckpointStore::new();
        let mut log = trusted(&gateway, &store);
        let refused = log.delivery_status(b"m").await;
        assert!(
            matches!(
                &refused,
                Err(ClientError::Verification(v)) if matches!(**v, VerifyError::Status { .. })
            ),
            "{refused:?}"
        );
        assert_eq!(log.trusted(), None);
    }
}
