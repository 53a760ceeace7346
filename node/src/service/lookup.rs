//! The certified-mail lookups (DESIGN §3.3, steps (c) and (d)).
//!
//! - `publication`: the **lowest**-index `KeyPublication` naming a req_hash (the one an arbiter
//!   counts), with its inclusion proof against the latest cosigned checkpoint.
//! - `binding`: an account's latest `IdentityBinding` and its latest revocations (at most
//!   `MAX_REVOCATIONS_PER_ANSWER`), all proved against the same cosigned checkpoint.
//! - `trust`: this log and each registered peer's log, each with the witness policy this
//!   gateway applies to it.
//!
//! A leaf the cosigned checkpoint does not cover yet is answered `PENDING` with a retry time;
//! for a binding, that is the case while the account's newest entry (binding or revocation) is
//! not covered, so nobody is shown a binding without the revocation that follows it.

use herald_proto::checkpoint::{WitnessPolicy, WitnessVerifier};
use herald_proto::inclusion::LogTrust;
use herald_proto::wire::pb::{self, log_entry};
use herald_proto::wire::{
    MAX_LOCATION_WITNESSES, MAX_LOG_ENTRY_BYTES, MAX_REVOCATIONS_PER_ANSWER, MAX_TRUSTED_PEERS,
    decode,
};
use tracing::warn;

use super::{Intake, PENDING_RETRY, Refusal};
use crate::peers::PeerDomain;

/// Most leaves of one account's list read for a binding answer: each enrolment adds a binding
/// and each disabling a revocation, at most `MAX_REVOKED_KEYS` times.
const MAX_ACCOUNT_LEAVES: usize = 4 * MAX_REVOCATIONS_PER_ANSWER + 2;

fn pending() -> Refusal {
    Refusal::Pending {
        retry_after: PENDING_RETRY,
    }
}

impl Intake {
    /// Leaf `index` with its proof against the cosigned checkpoint `note` of `size`.
    fn included(&self, index: u64, note: &[u8], size: u64) -> Result<pb::IncludedLeaf, Refusal> {
        let store = &self.parts().store;
        let entry = store
            .entries(index, 1)
            .map_err(Refusal::from_read)?
            .into_iter()
            .next()
            .ok_or_else(|| Refusal::Internal(format!("entry {index} is missing")))?;
        let hashes = store
            .inclusion_proof(index, size)
            .map_err(Refusal::from_read)?;
        Ok(pb::IncludedLeaf {
            entry,
            proof: Some(pb::InclusionProof::new(index, size, &hashes)),
            checkpoint: note.to_vec(),
        })
    }

    /// The publication answering `req_hash` (see the module docs).
    pub async fn publication(&self, req_hash: Vec<u8>) -> Result<pb::IncludedLeaf, Refusal> {
        self.blocking(move |mail| {
            let first = mail
                .parts()
                .store
                .index_leaves("cm-req", &req_hash, 0, 1)
                .map_err(Refusal::from_read)?;
            let Some(&index) = first.first() else {
                return Err(Refusal::NotFound("no publication names this req_hash"));
            };
            match mail.cosigned()? {
                Some((note, size)) if index < size => mail.included(index, &note, size),
                _ => Err(pending()),
            }
        })
        .await
    }

    /// The binding of `account` and its revocations (see the module docs).
    pub async fn binding(&self, account: String) -> Result<pb::BindingAnswer, Refusal> {
        self.blocking(move |intake| intake.binding_now(&account))
            .await
    }

    /// [`binding`](Self::binding), on the calling thread. Blocking (sled and the log's files):
    /// for callers already on a blocking thread, which do more there in the same hand-off
    /// (a prekey take, `service::prekeys`).
    pub(super) fn binding_now(&self, account: &str) -> Result<pb::BindingAnswer, Refusal> {
        let store = &self.parts().store;
        let listed = store
            .index_leaves_latest("account", account.as_bytes(), MAX_ACCOUNT_LEAVES)
            .map_err(Refusal::from_read)?;
        let Some(&newest) = listed.first() else {
            return Err(Refusal::NotFound("no binding is logged for this account"));
        };
        let (note, size) = match self.cosigned()? {
            Some((note, size)) if newest < size => (note, size),
            _ => return Err(pending()),
        };
        let mut binding = None;
        let mut revocations = Vec::new();
        for index in listed {
            let leaf = self.included(index, &note, size)?;
            let entry: pb::LogEntry = decode(&leaf.entry, MAX_LOG_ENTRY_BYTES).map_err(|e| {
                Refusal::Internal(format!("logged entry {index} does not decode: {e}"))
            })?;
            match entry.kind {
                Some(log_entry::Kind::IdentityBinding(_)) if binding.is_none() => {
                    binding = Some(leaf);
                }
                Some(log_entry::Kind::IdentityRevocation(_))
                    if revocations.len() < MAX_REVOCATIONS_PER_ANSWER =>
                {
                    revocations.push(leaf);
                }
                _ => {}
            }
        }
        let binding = binding.ok_or(Refusal::NotFound("no binding is logged for this account"))?;
        // Oldest first, as the log has them.
        revocations.reverse();
        Ok(pb::BindingAnswer {
            binding: Some(binding),
            revocations,
        })
    }

    /// This log and the registered peers' logs (see the module docs).
    pub fn trust(&self) -> Result<pb::TrustList, Refusal> {
        let parts = self.parts();
        let peers = parts.peers.snapshot();
        let own_witnesses: Vec<WitnessVerifier> = peers
            .iter()
            .map(|p| p.witness_key.clone())
            .take(MAX_LOCATION_WITNESSES)
            .collect();
        if own_witnesses.is_empty() {
            return Err(Refusal::NotFound(
                "this gateway has no registered witnesses, so none of its checkpoints is cosigned",
            ));
        }
        let own =
            WitnessPolicy::new(parts.log.clone(), own_witnesses, parts.quorum).map_err(|_| {
                Refusal::NotFound("the configured quorum cannot be met by the registered witnesses")
            })?;
        let own = LogTrust::new(own, parts.store.algorithm()).to_pb();
        let mut list = Vec::new();
        for peer in peers.iter().take(MAX_TRUSTED_PEERS) {
            match self.peer_trust(peer, &peers) {
                Some(trust) => list.push(trust),
                None => warn!(domain = peer.domain, "no witness policy for a peer's log"),
            }
        }
        Ok(pb::TrustList {
            own: Some(own),
            peers: list,
        })
    }

    /// How this gateway checks `peer`'s log: this node's witness and every other registered
    /// peer's, with the configured quorum capped at their number (as the cross-logger does).
    fn peer_trust(&self, peer: &PeerDomain, peers: &crate::peers::PeerSet) -> Option<pb::LogTrust> {
        let parts = self.parts();
        let witnesses: Vec<WitnessVerifier> = std::iter::once(parts.own_witness.clone())
            .chain(
                peers
                    .iter()
                    .filter(|p| p.domain != peer.domain)
                    .map(|p| p.witness_key.clone()),
            )
            .take(MAX_LOCATION_WITNESSES)
            .collect();
        let quorum = parts.quorum.min(witnesses.len());
        let policy = WitnessPolicy::new(peer.log_key().clone(), witnesses, quorum).ok()?;
        Some(peer.log.clone().with_policy(policy).ok()?.to_pb())
    }
}
