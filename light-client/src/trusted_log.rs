//! [`TrustedLog`]: one log, seen through a gateway, trusting only what verifies.
//!
//! It holds the last verified checkpoint (loaded from, and saved to, a [`CheckpointStore`]) and
//! moves it forward only as proto's succession rule allows ([`herald_proto::succession`]): the
//! gateway must prove the new tree extends it. Every answer it returns is verified against a
//! checkpoint it trusts: entries and leaves by inclusion proofs, older trees by proofs against
//! the latest checkpoint. On any failure the trusted checkpoint is kept and the error carries
//! the evidence (see [`VerifyError`]).
//!
//! When the [`LogTrust`] it follows has a witness policy, it trusts only checkpoints cosigned as
//! that policy requires (see [`crate::witnessed`]), and a log proved to have equivocated is
//! refused for good.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::entry::Notarization;
use herald_proto::equivocation::Equivocation;
use herald_proto::inclusion::{LogTrust, VerifiedEntry, VerifiedInclusion};
use herald_proto::merkle::{Hash, LogHasher as _};
use herald_proto::succession::{Plan, plan, succession, succession_with_prefix};
use herald_proto::wire::{Validate as _, pb};
use prost::Message as _;
use tracing::{debug, warn};

use crate::clock::{Clock, SystemClock};
use crate::error::ClientError;
use crate::gateway::{Gateway, Leaf};
use crate::store::{CheckpointStore, StoreError};
use crate::verified::VerifiedConsistency;
use crate::verified_checkpoints::VerifiedCheckpoints;
use crate::verify::{self, VerifyError};
use crate::witnessed::proof_against;

/// What [`TrustedLog::refresh`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointUpdate {
    /// The checkpoint trusted now (the latest).
    pub checkpoint: VerifiedCheckpoint,
    /// The checkpoint trusted before, if any.
    pub previous: Option<VerifiedCheckpoint>,
    /// The consistency proof from `previous` to `checkpoint`, when one was needed.
    pub proof: Option<pb::ConsistencyProof>,
}

/// A log seen through a gateway `G`, with its trusted checkpoint kept in `S`.
#[derive(Debug)]
pub struct TrustedLog<G, S> {
    pub(crate) gateway: G,
    /// The log: key, hash, and (when set) the witness policy its checkpoints must satisfy.
    pub(crate) log: LogTrust,
    store: S,
    /// The last checkpoint verified and saved; moves only forward, and only by proof.
    trusted: Option<VerifiedCheckpoint>,
    /// Set once the log is proved to have equivocated; every call is refused after.
    pub(crate) distrusted: Option<Box<herald_proto::equivocation::Equivocation>>,
    /// "Now", for cosignature timestamps and binding answers ([`SystemClock`] by default).
    pub(crate) clock: Arc<dyn Clock>,
    /// Checkpoint notes already verified (every ack of a round carries the same one).
    pub(crate) verified: VerifiedCheckpoints,
}

impl<G: Gateway, S: CheckpointStore> TrustedLog<G, S> {
    /// The log `log` through `gateway`, starting from the checkpoint `store` holds for it (which
    /// must verify under the log's key). A log the store holds an equivocation proof against
    /// (verified again here) is refused from the start. With a witness policy in `log`, only
    /// checkpoints cosigned as it requires are trusted, and the gateway's alerts are checked at
    /// every refresh.
    pub fn open(gateway: G, log: LogTrust, store: S) -> Result<Self, ClientError> {
        let trusted =
            match store.load(log.origin())? {
                None => None,
                Some(note) => Some(verify::verify_checkpoint(&log, &note).map_err(|e| {
                    StoreError::Untrusted {
                        origin: log.origin().to_owned(),
                        error: Box::new(e),
                    }
                })?),
            };
        let distrusted = match store.load_equivocation(log.origin())? {
            None => None,
            Some(proof) => {
                let bad = |reason: String| StoreError::BadEquivocation {
                    origin: log.origin().to_owned(),
                    reason,
                };
                let verified = proof.verify().map_err(|e| bad(e.to_string()))?;
                if verified.equivocation().log() != log.log() {
                    return Err(bad("it is about another log key".into()).into());
                }
                Some(Box::new(proof))
            }
        };
        Ok(TrustedLog {
            gateway,
            log,
            store,
            trusted,
            distrusted,
            clock: Arc::new(SystemClock),
            verified: VerifiedCheckpoints::new(),
        })
    }

    /// The same log, remembering verified checkpoints in `verified` (shared with whoever else
    /// holds a clone of it: the submissions of one process acknowledged in one round then check
    /// the round's checkpoint signature once, not once each).
    pub fn with_verified_checkpoints(mut self, verified: VerifiedCheckpoints) -> Self {
        self.verified = verified;
        self
    }

    /// The same log, reading the time from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The log.
    pub fn log(&self) -> &LogTrust {
        &self.log
    }

    /// The gateway.
    pub fn gateway(&self) -> &G {
        &self.gateway
    }

    /// The checkpoint store.
    pub(crate) fn store(&self) -> &S {
        &self.store
    }

    /// The checkpoint trusted now, if any.
    pub fn trusted(&self) -> Option<&VerifiedCheckpoint> {
        self.trusted.as_ref()
    }

    /// Fetches the latest checkpoint, verifies its signature, and trusts it once it is proved
    /// to extend the trusted one. A smaller tree (the log went back), a same-size tree with
    /// another root, or a failing consistency proof is refused and the trusted one kept.
    ///
    /// With a witness policy, it is the latest *cosigned* checkpoint, accepted only if the
    /// policy is satisfied, and the gateway's alerts against the log are checked first.
    pub async fn refresh(&mut self) -> Result<CheckpointUpdate, ClientError> {
        self.refuse_if_distrusted()?;
        let received = if self.log.policy().is_some() {
            self.check_alerts().await?;
            let note = self.gateway.cosigned_checkpoint().await?;
            verify::verify_cosigned(&self.log, &note.note, self.clock.now_secs())?
        } else {
            let note = self.gateway.checkpoint().await?;
            self.verified.verify(&self.log, &note.note)?
        };
        self.advance(received).await
    }

    /// Trusts `received` (verified) if it succeeds the trusted checkpoint.
    async fn advance(
        &mut self,
        received: VerifiedCheckpoint,
    ) -> Result<CheckpointUpdate, ClientError> {
        let previous = self.trusted.clone();
        let planned = plan(&self.log, previous.as_ref(), &received);
        let proof = match (planned, &previous) {
            (Err(e), _) => {
                let e = VerifyError::Succession(e);
                warn!(origin = self.log.origin(), error = %e, "checkpoint refused");
                self.note_failure(&e);
                return Err(e.into());
            }
            (Ok(Plan::Same), _) => {
                return Ok(CheckpointUpdate {
                    checkpoint: received,
                    previous,
                    proof: None,
                });
            }
            (Ok(Plan::Unproven), _) | (Ok(Plan::NeedsProof { .. }), None) => None,
            (Ok(Plan::NeedsProof { size1, size2 }), Some(stored)) => {
                let proof = self.gateway.consistency(size1, size2).await?;
                if let Err(e) = self.judge(stored, &received, &proof).await {
                    warn!(origin = self.log.origin(), error = %e, "inconsistent checkpoint");
                    if let ClientError::Verification(v) = &e {
                        self.note_failure(v);
                    }
                    return Err(e);
                }
                Some(proof)
            }
        };
        self.store.save(&received)?;
        debug!(
            origin = self.log.origin(),
            size = received.size(),
            "trusting new checkpoint"
        );
        self.trusted = Some(received.clone());
        Ok(CheckpointUpdate {
            checkpoint: received,
            previous,
            proof,
        })
    }

    /// Trusts `checkpoint`, which the caller proved to succeed the trusted one (e.g. with the
    /// consistency proof an ack carried): saved, then trusted.
    pub(crate) fn trust_proved(
        &mut self,
        checkpoint: VerifiedCheckpoint,
    ) -> Result<(), ClientError> {
        self.store.save(&checkpoint)?;
        debug!(
            origin = self.log.origin(),
            size = checkpoint.size(),
            "trusting acknowledged checkpoint"
        );
        self.trusted = Some(checkpoint);
        Ok(())
    }

    /// Proto's succession rule from `older` to `newer` with the gateway's `proof`. When the
    /// rule cannot tell garbage from a split view (the older size is a power of two), asks the
    /// gateway for the audit path that decides it; a gateway that cannot give one leaves the
    /// refusal as it was (a bad proof, accusing nobody).
    pub(crate) async fn judge(
        &self,
        older: &VerifiedCheckpoint,
        newer: &VerifiedCheckpoint,
        proof: &pb::ConsistencyProof,
    ) -> Result<(), ClientError> {
        verify::check_proof_sizes(older, newer, proof)?;
        let decided = succession(&self.log, Some(older), newer, &proof.hashes);
        let Err(refusal) = decided else {
            return Ok(());
        };
        let Some((index, _)) = refusal.wants_prefix() else {
            return Err(VerifyError::Succession(refusal).into());
        };
        let prefix = match self.prove_index(newer, index, None).await {
            Ok(prefix) => prefix,
            Err(e) => {
                debug!(origin = self.log.origin(), error = %e, "no audit path to decide a bad proof");
                return Err(VerifyError::Succession(refusal).into());
            }
        };
        succession_with_prefix(&self.log, Some(older), newer, &proof.hashes, &prefix)
            .map(|_| ())
            .map_err(|e| VerifyError::Succession(e).into())
    }

    /// Checks that two verified checkpoints are consistent, whichever is larger, without
    /// changing what is trusted.
    async fn link(
        &self,
        a: &VerifiedCheckpoint,
        b: &VerifiedCheckpoint,
    ) -> Result<(), ClientError> {
        let (older, newer) = if a.size() <= b.size() { (a, b) } else { (b, a) };
        match plan(&self.log, Some(older), newer).map_err(VerifyError::Succession)? {
            Plan::Same | Plan::Unproven => Ok(()),
            Plan::NeedsProof { size1, size2 } => {
                let proof = self.gateway.consistency(size1, size2).await?;
                self.judge(older, newer, &proof).await
            }
        }
    }

    /// The trusted checkpoint after a refresh.
    async fn latest(&mut self) -> Result<VerifiedCheckpoint, ClientError> {
        Ok(self.refresh().await?.checkpoint)
    }

    /// Submits `entry`; verifies the acknowledgement's checkpoint and its consistency with the
    /// trusted one, then the inclusion of the entry's leaf in it. When this returns, the gateway
    /// has signed a checkpoint that provably includes the entry.
    pub async fn submit(&mut self, entry: &pb::LogEntry) -> Result<VerifiedEntry, ClientError> {
        entry
            .validate()
            .map_err(|e| ClientError::InvalidRequest(format!("entry: {e}")))?;
        self.submit_encoded(entry.encode_to_vec()).await
    }

    /// Asks the gateway for the audit path of leaf `index` in `checkpoint` and verifies it:
    /// against `leaf_hash` when the caller knows the leaf, otherwise against the hash the
    /// answer names (which then proves only that some leaf with that hash is at `index`).
    pub(crate) async fn prove_index(
        &self,
        checkpoint: &VerifiedCheckpoint,
        index: u64,
        leaf_hash: Option<&Hash>,
    ) -> Result<VerifiedInclusion, ClientError> {
        let answer = self
            .gateway
            .inclusion(Leaf::Index(index), checkpoint.size())
            .await?;
        // A validated answer's leaf hash is 32 bytes.
        let named = Hash::try_from(answer.leaf_hash.as_slice()).unwrap_or_default();
        let leaf_hash = leaf_hash.unwrap_or(&named);
        Ok(verify::verify_inclusion_answer(
            &self.log,
            checkpoint,
            Some(index),
            leaf_hash,
            &answer,
        )?)
    }

    /// Checks an acknowledgement's checkpoint (signed by the log, its index inside it) and its
    /// consistency with the trusted one; returns the index and the checkpoint. The checkpoint
    /// is trusted from now on unless cosignatures are required (it has none yet) or a larger
    /// one is trusted already.
    pub(crate) async fn acknowledged(
        &mut self,
        ack: pb::SubmitAck,
    ) -> Result<(u64, VerifiedCheckpoint), ClientError> {
        // The codec validated the ack: its checkpoint is present.
        let note = ack.checkpoint.map(|c| c.note).unwrap_or_default();
        let checkpoint = self.verified.verify(&self.log, &note)?;
        if ack.index >= checkpoint.size() {
            return Err(VerifyError::AnswerMismatch {
                what: "acknowledged index",
                asked: format!("below the checkpoint size {}", checkpoint.size()),
                answered: ack.index.to_string(),
            }
            .into());
        }
        let witnessed = self.log.policy().is_some();
        match self.trusted.clone() {
            // The ack's tree may be older than the trusted one (another process refreshed the
            // state meanwhile): prove it is a prefix, and keep trusting the larger one.
            Some(stored) if stored.size() > checkpoint.size() => {
                self.link(&checkpoint, &stored).await?
            }
            // Not cosigned yet: proved consistent with the trusted one, but not trusted itself.
            Some(stored) if witnessed => self.link(&stored, &checkpoint).await?,
            _ if witnessed => {}
            _ => {
                self.advance(checkpoint.clone()).await?;
            }
        }
        Ok((ack.index, checkpoint))
    }

    /// Takes a checkpoint of this log that the caller verified by other means (e.g. cosigned
    /// under a location's witness policy, in a lookup answer): checks it is consistent with
    /// the trusted one and trusts it if it is larger. With a witness policy it must also
    /// satisfy that. A checkpoint shown to conflict with the trusted one distrusts the log.
    pub async fn adopt(&mut self, checkpoint: VerifiedCheckpoint) -> Result<(), ClientError> {
        self.refuse_if_distrusted()?;
        if self.log.policy().is_some() {
            verify::verify_cosigned(
                &self.log,
                checkpoint.note().as_bytes(),
                self.clock.now_secs(),
            )?;
        }
        self.adopt_cosigned(checkpoint).await
    }

    /// [`adopt`](Self::adopt) for a checkpoint the caller proved cosigned under this log's own
    /// witness policy (a publication proven at the location this log was opened for): its
    /// cosignatures are not checked again.
    pub(crate) async fn adopt_cosigned(
        &mut self,
        checkpoint: VerifiedCheckpoint,
    ) -> Result<(), ClientError> {
        self.refuse_if_distrusted()?;
        let result = match self.trusted.clone() {
            Some(stored) if stored.size() > checkpoint.size() => {
                self.link(&checkpoint, &stored).await
            }
            _ => self.advance(checkpoint).await.map(|_| ()),
        };
        if let Err(ClientError::Verification(v)) = &result {
            self.note_failure(v);
        }
        result
    }

    /// Signs `request` with `author` and submits it as a `Notarization` entry (see
    /// [`submit`](Self::submit)).
    pub async fn submit_notarization(
        &mut self,
        request: &Notarization,
        author: &SigningKey,
    ) -> Result<VerifiedEntry, ClientError> {
        self.submit(&request.sign(author)).await
    }

    /// The entry at `index`, proved to be that leaf of the latest trusted checkpoint.
    pub async fn entry(&mut self, index: u64) -> Result<VerifiedEntry, ClientError> {
        let checkpoint = self.latest().await?;
        check_below(index, checkpoint.size(), "index")?;
        let page = self.gateway.entries(index, 1).await?;
        if page.start != index {
            return Err(VerifyError::AnswerMismatch {
                what: "first index of the entry page",
                asked: index.to_string(),
                answered: page.start.to_string(),
            }
            .into());
        }
        // A validated page has at least one entry.
        let entry = page.entries.into_iter().next().unwrap_or_default();
        let leaf_hash = self.log.hasher().hash_leaf(&entry);
        let answer = self
            .gateway
            .inclusion(Leaf::Index(index), checkpoint.size())
            .await?;
        // Checked against the hash of the bytes received, whatever the answer claims.
        let proof = answer.proof.unwrap_or_default();
        let inclusion =
            verify::verify_inclusion(&self.log, &checkpoint, Some(index), &leaf_hash, &proof)?;
        entry_of(entry, inclusion)
    }

    /// Proves that `leaf` is in the latest trusted checkpoint.
    pub async fn prove(&mut self, leaf: Leaf) -> Result<VerifiedInclusion, ClientError> {
        let checkpoint = self.latest().await?;
        if let Leaf::Index(index) = leaf {
            check_below(index, checkpoint.size(), "index")?;
        }
        match leaf {
            Leaf::Index(index) => self.prove_index(&checkpoint, index, None).await,
            Leaf::Hash(hash) => {
                let answer = self.gateway.inclusion(leaf, checkpoint.size()).await?;
                Ok(verify::verify_inclusion_answer(
                    &self.log,
                    &checkpoint,
                    None,
                    &hash,
                    &answer,
                )?)
            }
        }
    }

    /// The root of the first `size` leaves, proved against `anchor`.
    async fn root_at(&self, anchor: &VerifiedCheckpoint, size: u64) -> Result<Hash, ClientError> {
        if size == anchor.size() {
            return Ok(*anchor.root());
        }
        if size == 0 {
            return Ok(self.log.hasher().empty_root());
        }
        let inclusion = self.prove_index(anchor, size, None).await?;
        Ok(verify::prefix_root(&inclusion, size)?)
    }

    /// Proves that the log's tree of `size1` leaves is a prefix of its tree of `size2` (default:
    /// the latest), both roots proved against the latest trusted checkpoint, and verifies the
    /// gateway's consistency proof between them.
    pub async fn consistency(
        &mut self,
        size1: u64,
        size2: Option<u64>,
    ) -> Result<VerifiedConsistency, ClientError> {
        let anchor = self.latest().await?;
        let size2 = size2.unwrap_or(anchor.size());
        if size2 > anchor.size() {
            return Err(ClientError::InvalidRequest(format!(
                "size {size2} is past the trusted tree of {} leaves",
                anchor.size()
            )));
        }
        if size1 == 0 || size1 > size2 {
            return Err(ClientError::InvalidRequest(format!(
                "sizes must satisfy 0 < size1 <= size2, got {size1} and {size2}"
            )));
        }
        let root2 = self.root_at(&anchor, size2).await?;
        if size1 == size2 {
            return Ok(verify::same_tree(&anchor, size2, root2));
        }
        let root1 = self.root_at(&anchor, size1).await?;
        let proof = self.gateway.consistency(size1, size2).await?;
        Ok(verify::verify_consistency_between(
            &self.log, &anchor, size1, root1, size2, root2, &proof,
        )?)
    }

    /// The verified proof that this log equivocated, once one is known.
    pub fn equivocation(&self) -> Option<&Equivocation> {
        self.distrusted.as_deref()
    }

    /// Asks the gateway for its alerts against this log and verifies them: a verified proof
    /// makes this log refused from now on (returned as [`VerifyError::Equivocated`]).
    pub async fn check_alerts(&mut self) -> Result<(), ClientError> {
        self.refuse_if_distrusted()?;
        let alerts = self.gateway.alerts(Some(self.log.origin())).await?;
        if let Some(proof) = proof_against(&self.log, alerts) {
            self.distrust(proof);
        }
        self.refuse_if_distrusted()
    }

    /// Fails with the proof if this log is known to have equivocated.
    pub(crate) fn refuse_if_distrusted(&self) -> Result<(), ClientError> {
        match &self.distrusted {
            Some(e) => Err(VerifyError::Equivocated {
                equivocation: e.clone(),
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Distrusts this log for good: in this `TrustedLog`, and in the store, so that every later
    /// `TrustedLog` over it refuses the log from the start.
    pub(crate) fn distrust(&mut self, proof: Equivocation) {
        warn!(
            origin = self.log.origin(),
            "the log equivocated; refusing it from now on"
        );
        if let Err(e) = self.store().save_equivocation(self.log.origin(), &proof) {
            warn!(
                origin = self.log.origin(),
                error = %e,
                "could not save the equivocation proof; the log is refused in this run only"
            );
        }
        self.distrusted = Some(Box::new(proof));
    }

    /// Remembers the split view a verification failure proves, if any.
    pub(crate) fn note_failure(&mut self, error: &VerifyError) {
        if let VerifyError::Succession(e) = error
            && let Some(p) = e.equivocation()
            && self.distrusted.is_none()
        {
            self.distrust(p.clone());
        }
    }
}

/// `entry` as proved by `inclusion`, which was verified against `entry`'s own leaf hash.
pub(crate) fn entry_of(
    entry: Vec<u8>,
    inclusion: VerifiedInclusion,
) -> Result<VerifiedEntry, ClientError> {
    let index = inclusion.index();
    VerifiedEntry::new(entry, inclusion).ok_or_else(|| {
        VerifyError::AnswerMismatch {
            what: "proved leaf",
            asked: format!("the entry's own leaf hash at {index}"),
            answered: "another leaf hash".into(),
        }
        .into()
    })
}

fn check_below(value: u64, size: u64, what: &str) -> Result<(), ClientError> {
    if value >= size {
        return Err(ClientError::InvalidRequest(format!(
            "{what} {value} is past the trusted tree of {size} leaves"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::lies::Lie;
    use futures::executor::block_on;
    use herald_proto::merkle::HashAlgorithm;
    use herald_proto::succession::SuccessionError;

    use super::*;
    use crate::store::MemoryCheckpointStore;
    use crate::test_log::{FakeGateway, TestLog};

    type Log<'a> = TrustedLog<&'a FakeGateway, &'a MemoryCheckpointStore>;

    fn open<'a>(gateway: &'a FakeGateway, store: &'a MemoryCheckpointStore) -> Log<'a> {
        gateway.trusted(store)
    }

    fn verification(e: ClientError) -> VerifyError {
        match e {
            ClientError::Verification(v) => *v,
            other => panic!("expected a verification failure, got {other:?}"),
        }
    }

    #[test]
    fn refresh_follows_a_growing_log_and_persists_it() {
        let gateway = FakeGateway::new(TestLog::new(3));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        let first = block_on(log.refresh()).unwrap();
        assert_eq!((first.checkpoint.size(), first.proof), (3, None));
        gateway.log.lock().unwrap().push(b"four".to_vec());
        gateway.log.lock().unwrap().push(b"five".to_vec());
        let update = block_on(log.refresh()).unwrap();
        assert_eq!(update.checkpoint.size(), 5);
        assert_eq!(update.previous.unwrap().size(), 3);
        assert_eq!(update.proof.unwrap().size1, 3);
        // A new client over the same store starts from size 5.
        let reopened = open(&gateway, &store);
        assert_eq!(reopened.trusted().unwrap().size(), 5);
    }

    #[test]
    fn a_forked_log_is_refused_and_the_trusted_checkpoint_kept() {
        let gateway = FakeGateway::new(TestLog::new(5));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        let trusted = block_on(log.refresh()).unwrap().checkpoint;
        // The gateway now serves a log whose leaf 1 differs, grown to 9.
        let mut fork = TestLog::new(9);
        fork.replace_leaf(1, b"rewritten".to_vec());
        gateway.set_log(fork);
        let err = verification(block_on(log.refresh()).unwrap_err());
        let VerifyError::Succession(SuccessionError::Split(equivocation)) = err else {
            panic!("{err:?}")
        };
        let split = equivocation.verify().unwrap();
        assert_eq!(split.first(), &trusted);
        assert_eq!(split.second().size(), 9);
        assert_eq!(log.trusted(), Some(&trusted));
        assert_eq!(open(&gateway, &store).trusted(), Some(&trusted));
    }

    /// A consistency proof from a power-of-two size does not carry the trusted root; the log
    /// is asked for the audit path of that leaf in its new tree, which proves the fork.
    #[test]
    fn attack_a_fork_from_a_power_of_two_size_is_proved_with_one_more_proof() {
        let gateway = FakeGateway::new(TestLog::new(4));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        let trusted = block_on(log.refresh()).unwrap().checkpoint;
        let mut fork = TestLog::new(9);
        fork.replace_leaf(1, b"rewritten".to_vec());
        gateway.set_log(fork);
        let err = verification(block_on(log.refresh()).unwrap_err());
        let split = err.equivocation().expect("a split view").verify().unwrap();
        assert_eq!((split.first(), split.second().size()), (&trusted, 9));
        assert_eq!(log.equivocation(), err.equivocation());
    }

    #[test]
    fn a_rollback_and_a_same_size_fork_are_refused() {
        let gateway = FakeGateway::new(TestLog::new(6));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        let trusted = block_on(log.refresh()).unwrap().checkpoint;
        gateway.lie(|m| m.checkpoint_size = Some(4));
        assert!(matches!(
            verification(block_on(log.refresh()).unwrap_err()),
            VerifyError::Succession(SuccessionError::Rollback { .. })
        ));
        gateway.lie(|m| m.checkpoint_size = None);
        let mut fork = TestLog::new(6);
        fork.replace_leaf(5, b"other".to_vec());
        gateway.set_log(fork);
        assert!(matches!(
            verification(block_on(log.refresh()).unwrap_err()),
            VerifyError::Succession(SuccessionError::Split(_))
        ));
        assert_eq!(log.trusted(), Some(&trusted));
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let gateway = FakeGateway::new(TestLog::new(2));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        gateway.lie(|m| m.impostor = Some(TestLog::with_key("alpha.test/herald", [2; 32], 4)));
        assert!(matches!(
            verification(block_on(log.refresh()).unwrap_err()),
            VerifyError::Checkpoint { .. }
        ));
        assert_eq!(log.trusted(), None);
        assert!(store.load("alpha.test/herald").unwrap().is_none());
    }

    #[test]
    fn a_bad_consistency_proof_is_refused() {
        let gateway = FakeGateway::new(TestLog::new(3));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        block_on(log.refresh()).unwrap();
        gateway.log.lock().unwrap().push(b"x".to_vec());
        gateway.liar.tell(Lie::ExtendedConsistency);
        let err = verification(block_on(log.refresh()).unwrap_err());
        assert!(
            matches!(
                err,
                VerifyError::Succession(SuccessionError::BadProof { .. })
            ),
            "garbage proves no split view: {err:?}"
        );
        assert_eq!(log.trusted().unwrap().size(), 3);
    }

    #[test]
    fn a_submission_is_proved_included() {
        let gateway = FakeGateway::new(TestLog::new(4));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        block_on(log.refresh()).unwrap();
        let request = Notarization {
            digest: [5; 32],
            media_type: "text/plain".into(),
            label: "l".into(),
            created: 1,
        };
        let key = SigningKey::from_bytes(&[4; 32]);
        let entry = block_on(log.submit_notarization(&request, &key)).unwrap();
        assert_eq!(entry.index(), 4);
        assert_eq!(entry.inclusion().checkpoint().size(), 5);
        assert_eq!(entry.entry(), request.sign(&key).encode_to_vec());
        assert_eq!(log.trusted().unwrap().size(), 5);

        // An ack for another leaf hash is refused.
        gateway.liar.tell(Lie::AckLeafHash([0; 32]));
        assert!(matches!(
            verification(block_on(log.submit_notarization(&request, &key)).unwrap_err()),
            VerifyError::AnswerMismatch { .. }
        ));
        // A truncated inclusion proof is refused.
        gateway.liar.be_honest();
        gateway.liar.tell(Lie::TruncatedInclusion);
        assert!(matches!(
            verification(block_on(log.submit_notarization(&request, &key)).unwrap_err()),
            VerifyError::NotIncluded { .. }
        ));
    }

    #[test]
    fn entries_and_leaves_are_proved() {
        let gateway = FakeGateway::new(TestLog::new(11));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        let entry = block_on(log.entry(7)).unwrap();
        assert_eq!(entry.entry(), b"entry 7");
        let hash = *entry.inclusion().leaf_hash();
        let by_hash = block_on(log.prove(Leaf::Hash(hash))).unwrap();
        assert_eq!(by_hash.index(), 7);
        assert_eq!(block_on(log.prove(Leaf::Index(7))).unwrap(), by_hash);
        assert!(matches!(
            block_on(log.entry(11)),
            Err(ClientError::InvalidRequest(_))
        ));
        // Another entry's bytes do not pass as entry 7.
        gateway.liar.tell(Lie::EntriesOfTheNextIndexes);
        assert!(matches!(
            verification(block_on(log.entry(7)).unwrap_err()),
            VerifyError::NotIncluded { .. }
        ));
    }

    #[test]
    fn consistency_between_any_two_sizes_is_proved() {
        let gateway = FakeGateway::new(TestLog::new(21));
        let store = MemoryCheckpointStore::new();
        let mut log = open(&gateway, &store);
        let expected = gateway.log.lock().unwrap().clone();
        for (size1, size2) in [(1, 21), (4, 21), (5, 16), (8, 13), (13, 13), (20, 21)] {
            let c = block_on(log.consistency(size1, Some(size2))).unwrap();
            assert_eq!(c.older(), (size1, &expected.root(size1)));
            assert_eq!(c.newer(), (size2, &expected.root(size2)));
        }
        assert!(matches!(
            block_on(log.consistency(3, Some(22))),
            Err(ClientError::InvalidRequest(_))
        ));
        gateway.liar.tell(Lie::ExtendedConsistency);
        assert!(matches!(
            verification(block_on(log.consistency(3, None)).unwrap_err()),
            VerifyError::BadConsistencyProof { .. }
        ));
    }

    #[test]
    fn a_stored_checkpoint_under_another_key_is_not_trusted() {
        let store = MemoryCheckpointStore::new();
        let impostor = TestLog::with_key("alpha.test/herald", [2; 32], 3);
        let id = LogTrust::unwitnessed(impostor.verifier(), HashAlgorithm::Blake3);
        store
            .save(&verify::verify_checkpoint(&id, &impostor.checkpoint_note(3)).unwrap())
            .unwrap();
        let gateway = FakeGateway::new(TestLog::new(3));
        let verifier = gateway.log.lock().unwrap().verifier();
        let err = TrustedLog::open(
            &gateway,
            LogTrust::unwitnessed(verifier, HashAlgorithm::Blake3),
            &store,
        )
        .unwrap_err();
        assert!(
            matches!(err, ClientError::Store(StoreError::Untrusted { .. })),
            "{err:?}"
        );
    }
}
