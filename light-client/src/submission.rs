//! Submitting to a trusted log in one round trip (DESIGN §6): one entry, or a batch.
//!
//! The request names the size of the checkpoint the client trusts; the gateway answers once the
//! entries are durable with everything needed to verify them without asking again: the signed
//! checkpoint of the round, the proof of inclusion (an audit path for one entry, one range proof
//! for a batch) and the consistency proof from the trusted size. Each is checked here with the
//! log's key and proto's verifiers; only then is an entry reported as logged. A proof the
//! gateway should have sent and did not is a lie, not a reason to ask again.
//!
//! For a batch, the range proof of the accepted run proves every accepted entry at its index
//! (`LogTrust::verify_range_entries`: the run's leaf hashes folded into its subtrees in one
//! pass and checked against the signed root once); each entry's own audit path is read from the
//! subtrees that check computed, so every entry comes back as a [`VerifiedEntry`] that stands
//! alone, exactly as a single submission's, without a second pass of hashing per entry.
//! Refused entries come back with the gateway's typed refusal; one refusal says nothing about
//! the other entries.

use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::inclusion::VerifiedEntry;
use herald_proto::merkle::Hash;
use herald_proto::note::b64;
use herald_proto::succession::{Plan, plan};
use herald_proto::wire::client::batch_outcomes;
use herald_proto::wire::{MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_LOG_ENTRY_BYTES, pb};

use crate::error::{ClientError, GatewayRefusal};
use crate::gateway::Gateway;
use crate::store::CheckpointStore;
use crate::trusted_log::{TrustedLog, entry_of};
use crate::verify::{self, VerifyError};

/// One entry's outcome in a batch: the entry proved logged at its index, or the gateway's
/// refusal of it (that entry only).
pub type BatchEntry = Result<VerifiedEntry, GatewayRefusal>;

/// Checks `bytes` as gateways do: a valid `LogEntry` in its canonical encoding (gateways refuse
/// entries whose signed fields do not cover every byte), within the size limit.
pub(crate) fn check_entry(bytes: &[u8]) -> Result<(), ClientError> {
    herald_proto::wire::decode_canonical::<pb::LogEntry>(bytes)
        .map_err(|e| ClientError::InvalidRequest(format!("entry: {e}")))?;
    if bytes.len() > MAX_LOG_ENTRY_BYTES {
        return Err(ClientError::InvalidRequest(format!(
            "entry of {} bytes is over the limit of {MAX_LOG_ENTRY_BYTES}",
            bytes.len()
        )));
    }
    Ok(())
}

/// Splits `entries` into runs that each fit one `SubmitBatch` of at most `max_request_bytes`
/// encoded (what the transport carries: [`Gateway::max_request_bytes`]), at most
/// `wire::MAX_BATCH_ENTRIES` entries and `wire::MAX_BATCH_BYTES` of them. Each entry costs its
/// length and at most 4 bytes of tag and length; 16 bytes for the rest.
pub fn request_runs(entries: Vec<Vec<u8>>, max_request_bytes: usize) -> Vec<Vec<Vec<u8>>> {
    let mut runs: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut run: Vec<Vec<u8>> = Vec::new();
    let (mut bytes, mut entry_bytes) = (16, 0);
    for entry in entries {
        let cost = entry.len() + 4;
        if !run.is_empty()
            && (bytes + cost > max_request_bytes
                || entry_bytes + entry.len() > MAX_BATCH_BYTES
                || run.len() == MAX_BATCH_ENTRIES)
        {
            runs.push(std::mem::take(&mut run));
            (bytes, entry_bytes) = (16, 0);
        }
        bytes += cost;
        entry_bytes += entry.len();
        run.push(entry);
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

fn mismatch(what: &'static str, asked: impl ToString, answered: impl ToString) -> ClientError {
    VerifyError::AnswerMismatch {
        what,
        asked: asked.to_string(),
        answered: answered.to_string(),
    }
    .into()
}

impl<G: Gateway, S: CheckpointStore> TrustedLog<G, S> {
    /// The size the gateway is told the client trusts (0: none).
    fn trusted_size(&self) -> u64 {
        self.trusted().map_or(0, VerifiedCheckpoint::size)
    }

    /// Checks `bytes` (see [`check_entry`]), submits it naming the trusted size, and checks the
    /// ack names its leaf hash. Returns the leaf hash and the (not yet verified) ack, which
    /// carries its proofs.
    pub(crate) async fn send_entry(
        &mut self,
        bytes: Vec<u8>,
    ) -> Result<(Hash, pb::SubmitAck), ClientError> {
        self.send_with_opening(bytes, None).await
    }

    /// [`send_entry`](Self::send_entry) of a sealed key publication with its `opening`, which
    /// the gateway checks and never logs (DESIGN §3.4).
    pub(crate) async fn send_with_opening(
        &mut self,
        bytes: Vec<u8>,
        opening: Option<pb::PublicationOpening>,
    ) -> Result<(Hash, pb::SubmitAck), ClientError> {
        self.refuse_if_distrusted()?;
        check_entry(&bytes)?;
        let leaf_hash = self.log.leaf_hash(&bytes);
        let trusted_size = self.trusted_size();
        let ack = match opening {
            None => self.gateway.submit_trusting(bytes, trusted_size).await?,
            Some(opening) => {
                self.gateway
                    .submit_publication(bytes, opening, trusted_size)
                    .await?
            }
        };
        if ack.leaf_hash != leaf_hash {
            return Err(mismatch(
                "acknowledged leaf hash",
                b64(&leaf_hash),
                b64(&ack.leaf_hash),
            ));
        }
        Ok((leaf_hash, ack))
    }

    /// Submits an encoded `LogEntry` (e.g. a certified-mail publication leaf), stored and
    /// hashed byte for byte, and verifies it as [`submit`](Self::submit) does.
    pub async fn submit_encoded(&mut self, bytes: Vec<u8>) -> Result<VerifiedEntry, ClientError> {
        let (leaf_hash, ack) = self.send_entry(bytes.clone()).await?;
        let checkpoint = self.ack_checkpoint(ack.checkpoint.as_ref())?;
        // The gateway's matcher made the audit path present and for this index.
        let proof = ack.inclusion.unwrap_or_default();
        let inclusion =
            verify::verify_inclusion(&self.log, &checkpoint, Some(ack.index), &leaf_hash, &proof)?;
        self.settle(&checkpoint, ack.consistency).await?;
        entry_of(bytes, inclusion)
    }

    /// Submits `entries` (each an encoded `LogEntry`) as one batch in one round trip and
    /// verifies the answer: each entry comes back proved logged at its index, or with the
    /// gateway's refusal of it alone. Fails as a whole only when the batch was not carried out
    /// (refused whole, e.g. `RATE_LIMITED` or `BUSY`; the network) or the answer does not
    /// verify.
    ///
    /// 1 to `wire::MAX_BATCH_ENTRIES` entries, together at most `wire::MAX_BATCH_BYTES`; over
    /// `/herald/client/1` the whole request must also fit `wire::MAX_CLIENT_REQUEST_BYTES`.
    pub async fn submit_batch(
        &mut self,
        entries: Vec<Vec<u8>>,
    ) -> Result<Vec<BatchEntry>, ClientError> {
        self.refuse_if_distrusted()?;
        if entries.is_empty() || entries.len() > MAX_BATCH_ENTRIES {
            return Err(ClientError::InvalidRequest(format!(
                "a batch holds 1 to {MAX_BATCH_ENTRIES} entries, not {}",
                entries.len()
            )));
        }
        let total: usize = entries.iter().map(Vec::len).sum();
        if total > MAX_BATCH_BYTES {
            return Err(ClientError::InvalidRequest(format!(
                "a batch of {total} bytes is over the limit of {MAX_BATCH_BYTES}"
            )));
        }
        for (position, entry) in entries.iter().enumerate() {
            check_entry(entry)
                .map_err(|e| ClientError::InvalidRequest(format!("batch entry {position}: {e}")))?;
        }
        let count = entries.len();
        let ack = self
            .gateway
            .submit_batch(entries.clone(), self.trusted_size())
            .await?;
        let outcomes = batch_outcomes(&ack, count);
        let Some(range) = &ack.range else {
            // The matcher allows no range only when every entry was refused.
            return outcomes
                .into_iter()
                .map(|o| match o {
                    Err(refusal) => Ok(Err(GatewayRefusal::from_wire(refusal))),
                    Ok(index) => Err(mismatch(
                        "batch ack",
                        "a range proof",
                        format!("entry {index} accepted without one"),
                    )),
                })
                .collect();
        };
        let checkpoint = self.ack_checkpoint(ack.checkpoint.as_ref())?;
        if range.tree_size != checkpoint.size() {
            return Err(mismatch(
                "range proof tree size",
                checkpoint.size(),
                range.tree_size,
            ));
        }
        // The accepted entries, in order, are the run the range proof proves: their leaf
        // hashes are folded into the run's subtrees once and checked against the signed root,
        // and each entry's audit path is read from that check (proto's `verify_range_entries`).
        let accepted: Vec<Vec<u8>> = outcomes
            .iter()
            .zip(entries)
            .filter(|(outcome, _)| outcome.is_ok())
            .map(|(_, entry)| entry)
            .collect();
        let mut proved = self
            .log
            .verify_range_entries(&checkpoint, range.begin, accepted, &range.hashes)
            .map_err(|error| mismatch("batch range proof", "a proof that holds", error))?
            .into_iter();
        let mut logged = Vec::with_capacity(count);
        for outcome in outcomes {
            logged.push(match outcome {
                Err(refusal) => Err(GatewayRefusal::from_wire(refusal)),
                Ok(index) => match proved.next() {
                    Some(entry) if entry.index() == index => Ok(entry),
                    _ => return Err(mismatch("batch range proof", index, "another index")),
                },
            });
        }
        self.settle(&checkpoint, ack.consistency).await?;
        Ok(logged)
    }

    /// [`submit_batch`](Self::submit_batch) for any number of entries: one request per run
    /// that fits a request of the transport in use ([`request_runs`] at
    /// [`Gateway::max_request_bytes`]: a whole batch on a client stream, 64 KiB on
    /// `/herald/client/1`), each verified; the outcomes in order.
    pub async fn submit_batches(
        &mut self,
        entries: Vec<Vec<u8>>,
    ) -> Result<Vec<BatchEntry>, ClientError> {
        let mut outcomes = Vec::with_capacity(entries.len());
        let max_request_bytes = self.gateway.max_request_bytes().await;
        for run in request_runs(entries, max_request_bytes) {
            outcomes.extend(self.submit_batch(run).await?);
        }
        Ok(outcomes)
    }

    /// Verifies the signature of an ack's checkpoint under the log's key.
    fn ack_checkpoint(
        &self,
        checkpoint: Option<&pb::SignedCheckpoint>,
    ) -> Result<VerifiedCheckpoint, ClientError> {
        // The codec validated the ack: its checkpoint is present.
        let note = checkpoint.map(|c| c.note.as_slice()).unwrap_or_default();
        Ok(self.verified.verify(&self.log, note)?)
    }

    /// Takes the checkpoint of an ack with the consistency proof it carried from the trusted
    /// size: proves it extends the trusted checkpoint, and trusts it unless the log needs
    /// cosignatures (it has none yet). The gateway's matcher made the proof present and for
    /// (trusted size, checkpoint size) whenever the sizes differ.
    async fn settle(
        &mut self,
        checkpoint: &VerifiedCheckpoint,
        consistency: Option<pb::ConsistencyProof>,
    ) -> Result<(), ClientError> {
        let witnessed = self.log.policy().is_some();
        let previous = self.trusted().cloned();
        let planned = match plan(&self.log, previous.as_ref(), checkpoint) {
            Ok(planned) => planned,
            Err(e) => {
                let e = VerifyError::Succession(e);
                self.note_failure(&e);
                return Err(e.into());
            }
        };
        if let (Plan::NeedsProof { size1, size2 }, Some(stored)) = (planned, &previous) {
            let proof = consistency
                .filter(|p| (p.size1, p.size2) == (size1, size2))
                .ok_or_else(|| {
                    mismatch(
                        "submit ack",
                        format!("a consistency proof from {size1} to {size2}"),
                        "none",
                    )
                })?;
            if let Err(e) = self.judge(stored, checkpoint, &proof).await {
                if let ClientError::Verification(v) = &e {
                    self.note_failure(v);
                }
                return Err(e);
            }
        }
        if !witnessed {
            self.trust_proved(checkpoint.clone())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::lies::Lie;
    use ed25519_dalek::SigningKey;
    use futures::executor::block_on;
    use herald_proto::entry::Notarization;
    use prost::Message as _;

    use super::*;
    use crate::store::MemoryCheckpointStore;
    use crate::test_log::{FakeGateway, TestLog};
    use herald_proto::wire::{MAX_CLIENT_REQUEST_BYTES, MAX_STREAM_REQUEST_BYTES};

    type Log<'a> = TrustedLog<&'a FakeGateway, &'a MemoryCheckpointStore>;

    fn open<'a>(gateway: &'a FakeGateway, store: &'a MemoryCheckpointStore) -> Log<'a> {
        gateway.trusted(store)
    }

    fn notarization(label: &str) -> Vec<u8> {
        Notarization {
            digest: [5; 32],
            media_type: "text/plain".into(),
            label: label.into(),
            created: 1,
        }
        .sign(&SigningKey::from_bytes(&[4; 32]))
        .encode_to_vec()
    }

    fn verification(e: ClientError) -> VerifyError {
        match e {
            ClientError::Verification(v) => *v,
            other => panic!("expected a verification failure, got {other:?}"),
        }
    }

    #[test]
    fn a_batch_is_proved_entry_by_entry_and_a_bad_entry_refuses_only_itself() {
        let gateway = FakeGateway::new(TestLog::new(5));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        block_on(log.refresh()).unwrap();
        let entries: Vec<Vec<u8>> = ["a", "b", "refuse me", "c", "d"]
            .iter()
            .map(|l| notarization(l))
            .collect();
        let outcomes = block_on(log.submit_batch(entries.clone())).unwrap();
        assert_eq!(outcomes.len(), 5);
        let indexes: Vec<Option<u64>> = outcomes
            .iter()
            .map(|o| o.as_ref().ok().map(VerifiedEntry::index))
            .collect();
        assert_eq!(indexes, [Some(5), Some(6), None, Some(7), Some(8)]);
        let refusal = outcomes[2].as_ref().unwrap_err();
        assert_eq!(refusal.kind, pb::ClientErrorKind::InvalidEntry);
        for (outcome, entry) in outcomes.iter().zip(&entries) {
            if let Ok(logged) = outcome {
                assert_eq!(logged.entry(), entry.as_slice());
                assert_eq!(logged.inclusion().checkpoint().size(), 9);
            }
        }
        // The ack's checkpoint is trusted, proved from 5 by the ack's own consistency proof.
        assert_eq!(log.trusted().unwrap().size(), 9);
        // A batch whose every entry is refused comes back with every refusal and no proof.
        let all_bad = vec![notarization("refuse me"), notarization("refuse me too")];
        let outcomes = block_on(log.submit_batch(all_bad)).unwrap();
        assert!(outcomes.iter().all(Result::is_err));
        assert_eq!(log.trusted().unwrap().size(), 9);
    }

    #[test]
    fn attack_a_batch_ack_with_a_bad_range_or_consistency_proof_is_refused() {
        let gateway = FakeGateway::new(TestLog::new(5));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        block_on(log.refresh()).unwrap();
        gateway.liar.tell(Lie::TamperedRange);
        let err = block_on(log.submit_batch(vec![notarization("a"), notarization("b")]));
        assert!(matches!(
            verification(err.unwrap_err()),
            VerifyError::AnswerMismatch {
                what: "batch range proof",
                ..
            }
        ));
        assert_eq!(
            log.trusted().unwrap().size(),
            5,
            "nothing trusted from a lie"
        );
        gateway.liar.be_honest();
        gateway.liar.tell(Lie::ExtendedConsistency);
        assert!(block_on(log.submit_batch(vec![notarization("c")])).is_err());
        assert_eq!(log.trusted().unwrap().size(), 5);
    }

    #[test]
    fn attack_a_batch_ack_that_shifts_a_refusal_proves_nothing() {
        // Each entry's audit path is read from the one range check, not verified on its own:
        // the check must bind every accepted entry to its position, so an ack that calls
        // another entry refused (and so another run accepted) is refused whole.
        let gateway = FakeGateway::new(TestLog::new(5));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        block_on(log.refresh()).unwrap();
        gateway.liar.tell(Lie::ShiftedRefusal);
        let entries: Vec<Vec<u8>> = ["a", "b", "refuse me", "c"]
            .iter()
            .map(|l| notarization(l))
            .collect();
        let err = block_on(log.submit_batch(entries)).unwrap_err();
        assert!(matches!(
            verification(err),
            VerifyError::AnswerMismatch {
                what: "batch range proof",
                ..
            }
        ));
        assert!(gateway.liar.lies_told() > 0, "the lie was told");
        assert_eq!(
            log.trusted().unwrap().size(),
            5,
            "nothing trusted from a lie"
        );
    }

    #[test]
    fn a_single_submission_is_verified_from_its_ack_alone() {
        let gateway = FakeGateway::new(TestLog::new(4));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        block_on(log.refresh()).unwrap();
        let entry = block_on(log.submit_encoded(notarization("one"))).unwrap();
        assert_eq!(entry.index(), 4);
        assert_eq!(log.trusted().unwrap().size(), 5);
        // Entry pages served wrongly change nothing: a submission reads none.
        gateway.liar.tell(Lie::EntriesOfTheNextIndexes);
        let entry = block_on(log.submit_encoded(notarization("two"))).unwrap();
        assert_eq!(entry.index(), 5);
        // A consistency proof in the ack that does not hold is refused.
        gateway.liar.tell(Lie::ExtendedConsistency);
        assert!(block_on(log.submit_encoded(notarization("three"))).is_err());
        assert_eq!(log.trusted().unwrap().size(), 6);
    }

    #[test]
    fn request_runs_fit_a_request_of_either_transport() {
        let encoded = |run: &Vec<Vec<u8>>| {
            prost::Message::encoded_len(&pb::ClientRequest::submit_batch(run.clone(), u64::MAX))
        };
        let entries: Vec<Vec<u8>> = (0..300).map(|_| vec![7; 1000]).collect();
        let runs = request_runs(entries.clone(), MAX_CLIENT_REQUEST_BYTES);
        assert_eq!(runs.iter().map(Vec::len).sum::<usize>(), 300);
        for run in &runs {
            assert!(encoded(run) <= MAX_CLIENT_REQUEST_BYTES, "{}", encoded(run));
        }
        assert_eq!(runs.len(), 5, "a request holds 65 entries of 1000 bytes");
        // A client stream carries them in one request.
        let stream_limit = MAX_STREAM_REQUEST_BYTES - 17;
        assert_eq!(
            request_runs(entries, stream_limit),
            vec![vec![vec![7; 1000]; 300]]
        );
        // There, runs are cut at the batch's own bounds: 1 MiB of entries, 4096 entries.
        let big: Vec<Vec<u8>> = (0..3000).map(|_| vec![3; 1000]).collect();
        let runs = request_runs(big, stream_limit);
        assert_eq!(
            runs.iter().map(Vec::len).collect::<Vec<_>>(),
            [1048, 1048, 904]
        );
        for run in &runs {
            assert!(run.iter().map(Vec::len).sum::<usize>() <= MAX_BATCH_BYTES);
            assert!(encoded(run) <= stream_limit, "{}", encoded(run));
        }
        let small: Vec<Vec<u8>> = (0..5000).map(|_| vec![1; 2]).collect();
        assert_eq!(
            request_runs(small.clone(), MAX_CLIENT_REQUEST_BYTES)[0].len(),
            MAX_BATCH_ENTRIES
        );
        assert_eq!(
            request_runs(small, stream_limit)[0].len(),
            MAX_BATCH_ENTRIES
        );
    }
}
