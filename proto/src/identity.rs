//! Key transparency, the verifying side (DESIGN §4 "Accounts and local CA"): an account's
//! identity key is what its domain's log binds to it, proven by inclusion in a cosigned
//! checkpoint. [`VerifiedBinding`] and [`VerifiedRevocation`] are made only by
//! [`verify_binding`] / [`verify_revocation`].
//!
//! **Bound at time t** ([`VerifiedBinding::bound_at`]): `valid_from ≤ t`, and no presented
//! revocation of that key for that account is in force at t. A revocation is in force from the
//! later of its `revoked_at` and the time a quorum of witnesses had cosigned a checkpoint that
//! includes it: a domain cannot backdate a revocation to before it was public, so a recipient
//! cannot disown, with his gateway's help, a request his key signed while it was bound.
//!
//! A binding counts only in its own domain's log: the account's domain (after the last `@`)
//! must be the log origin's domain (`<domain>/herald`), so one gateway cannot bind keys for
//! another domain's accounts.

use crate::checkpoint::CosignedCheckpoint;
use crate::entry::{
    EntryError, IdentityBinding, IdentityRevocation, verify_identity_binding_keyed,
    verify_identity_revocation,
};
use crate::inclusion::{CheckpointMemo, InclusionError, LogTrust, VerifiedEntry};
use crate::wire::{WireError, decode_valid, pb};

/// The suffix of every Herald log origin after the domain.
pub const ORIGIN_SUFFIX: &str = "/herald";

/// Why a leaf is not a verified binding or revocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The leaf is not a valid `LogEntry`.
    #[error("leaf: {0}")]
    Wire(#[from] WireError),
    /// The leaf is an entry of another kind.
    #[error("the leaf is not an identity {expected}")]
    WrongKind {
        /// "binding" or "revocation".
        expected: &'static str,
    },
    /// The account does not belong to the log's domain.
    #[error("account {account:?} is not of the domain of log {origin:?}")]
    WrongDomain {
        /// The account named.
        account: String,
        /// The log's origin.
        origin: String,
    },
    /// The gateway's signature (or the prekey's signature) does not verify.
    #[error("entry: {0}")]
    Entry(#[from] EntryError),
    /// The leaf is not included in a cosigned checkpoint of the log.
    #[error("inclusion: {0}")]
    Inclusion(#[from] InclusionError),
}

/// Why a verified binding does not hold at a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotBound {
    /// The binding starts later.
    #[error("the binding holds only from {valid_from}, not at {at}")]
    NotYetValid {
        /// The binding's start.
        valid_from: u64,
        /// The time asked about.
        at: u64,
    },
    /// A revocation is in force.
    #[error("the key is revoked from {in_force_from} (revocation at index {index})")]
    Revoked {
        /// When the revocation took force.
        in_force_from: u64,
        /// Its index in the log.
        index: u64,
    },
}

/// The domain of an account address: what follows its last `@`.
pub fn account_domain(account: &str) -> Option<&str> {
    account
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

/// Whether `account` belongs to the domain whose log is `origin` (`<domain>/herald`). DNS names
/// compare case-insensitively.
pub fn account_in_log_domain(account: &str, origin: &str) -> bool {
    match (account_domain(account), origin.strip_suffix(ORIGIN_SUFFIX)) {
        (Some(a), Some(o)) => a.eq_ignore_ascii_case(o),
        _ => false,
    }
}

/// An identity binding proven in its domain's cosigned log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBinding {
    binding: IdentityBinding,
    /// IK as read when its prekey signature was checked, for the next signatures by it.
    identity_verifying_key: ed25519_dalek::VerifyingKey,
    inclusion: VerifiedEntry<CosignedCheckpoint>,
    /// The proof as verified, kept for evidence bundles.
    proof: pb::IncludedLeaf,
    /// The domain log it was verified against.
    trust: LogTrust,
}

impl VerifiedBinding {
    /// The account bound.
    pub fn account(&self) -> &str {
        &self.binding.account
    }

    /// Its Ed25519 identity key IK.
    pub fn identity_key(&self) -> &[u8; 32] {
        &self.binding.identity_key
    }

    /// IK read as a public key (decompressed once, when the binding was verified): what
    /// further signatures by IK are checked with.
    pub fn identity_verifying_key(&self) -> &ed25519_dalek::VerifyingKey {
        &self.identity_verifying_key
    }

    /// Its signed fallback X25519 prekey (the prekey's signature by IK was checked).
    pub fn signed_prekey(&self) -> &[u8; 32] {
        &self.binding.signed_prekey
    }

    /// From when the binding holds.
    pub fn valid_from(&self) -> u64 {
        self.binding.valid_from
    }

    /// The leaf's index in the domain's log.
    pub fn index(&self) -> u64 {
        self.inclusion.index()
    }

    /// The domain log's origin.
    pub fn origin(&self) -> &str {
        self.inclusion.origin()
    }

    /// The cosigned checkpoint the binding was proven in.
    pub fn checkpoint(&self) -> &CosignedCheckpoint {
        self.inclusion.checkpoint()
    }

    /// The leaf, proof and checkpoint, as verified (what an evidence bundle carries).
    pub fn proof(&self) -> &pb::IncludedLeaf {
        &self.proof
    }

    /// The domain log (key, hash, witness policy) the binding was verified against.
    pub fn trust(&self) -> &LogTrust {
        &self.trust
    }

    /// Whether the binding holds at `at`, given the revocations presented (those of other
    /// accounts, keys or logs are ignored).
    pub fn bound_at(&self, at: u64, revocations: &[VerifiedRevocation]) -> Result<(), NotBound> {
        if at < self.binding.valid_from {
            return Err(NotBound::NotYetValid {
                valid_from: self.binding.valid_from,
                at,
            });
        }
        let in_force = revocations
            .iter()
            .filter(|r| {
                r.origin() == self.origin()
                    && r.revocation.account == self.binding.account
                    && r.revocation.identity_key == self.binding.identity_key
            })
            .filter(|r| r.in_force_from() <= at)
            .min_by_key(|r| r.in_force_from());
        match in_force {
            Some(r) => Err(NotBound::Revoked {
                in_force_from: r.in_force_from(),
                index: r.index(),
            }),
            None => Ok(()),
        }
    }
}

/// An identity revocation proven in its domain's cosigned log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRevocation {
    revocation: IdentityRevocation,
    inclusion: VerifiedEntry<CosignedCheckpoint>,
}

impl VerifiedRevocation {
    /// The account whose key is revoked.
    pub fn account(&self) -> &str {
        &self.revocation.account
    }

    /// The key revoked.
    pub fn identity_key(&self) -> &[u8; 32] {
        &self.revocation.identity_key
    }

    /// The revocation time the gateway stated.
    pub fn revoked_at(&self) -> u64 {
        self.revocation.revoked_at
    }

    /// When the revocation took force: the later of `revoked_at` and the quorum time of the
    /// checkpoint it was proven in (no backdating past publicity).
    pub fn in_force_from(&self) -> u64 {
        self.revocation
            .revoked_at
            .max(self.inclusion.checkpoint().quorum_time())
    }

    /// The leaf's index in the domain's log.
    pub fn index(&self) -> u64 {
        self.inclusion.index()
    }

    /// The domain log's origin.
    pub fn origin(&self) -> &str {
        self.inclusion.origin()
    }
}

fn decode_entry(leaf: &pb::IncludedLeaf) -> Result<pb::LogEntry, IdentityError> {
    Ok(decode_valid::<pb::LogEntry>(&leaf.entry)?)
}

fn check_domain(account: &str, trust: &LogTrust) -> Result<(), IdentityError> {
    if !account_in_log_domain(account, trust.origin()) {
        return Err(IdentityError::WrongDomain {
            account: account.to_owned(),
            origin: trust.origin().to_owned(),
        });
    }
    Ok(())
}

/// Verifies `leaf` as an identity binding of the log `trust` describes: the domain's gateway
/// signed it, IK signed the prekey, the account is of the log's domain, and the leaf is included
/// in a checkpoint cosigned by a quorum (timestamps no later than `now + max_skew`).
pub fn verify_binding(
    trust: &LogTrust,
    leaf: &pb::IncludedLeaf,
    now: u64,
    max_skew: u64,
) -> Result<VerifiedBinding, IdentityError> {
    binding(trust, leaf, now, max_skew, None)
}

/// [`verify_binding`], with the checkpoint's signatures checked once per `memo`
/// ([`CheckpointMemo`]).
pub fn verify_binding_memo(
    trust: &LogTrust,
    leaf: &pb::IncludedLeaf,
    now: u64,
    max_skew: u64,
    memo: &mut CheckpointMemo,
) -> Result<VerifiedBinding, IdentityError> {
    binding(trust, leaf, now, max_skew, Some(memo))
}

fn included(
    trust: &LogTrust,
    leaf: &pb::IncludedLeaf,
    now: u64,
    max_skew: u64,
    memo: Option<&mut CheckpointMemo>,
) -> Result<VerifiedEntry<CosignedCheckpoint>, IdentityError> {
    Ok(match memo {
        Some(memo) => trust.verify_included_memo(leaf, u64::MAX, now, max_skew, memo)?,
        None => trust.verify_included(leaf, u64::MAX, now, max_skew)?,
    })
}

fn binding(
    trust: &LogTrust,
    leaf: &pb::IncludedLeaf,
    now: u64,
    max_skew: u64,
    memo: Option<&mut CheckpointMemo>,
) -> Result<VerifiedBinding, IdentityError> {
    let Some(pb::log_entry::Kind::IdentityBinding(entry)) = decode_entry(leaf)?.kind else {
        return Err(IdentityError::WrongKind {
            expected: "binding",
        });
    };
    check_domain(&entry.account, trust)?;
    let inclusion = included(trust, leaf, now, max_skew, memo)?;
    let (binding, identity_verifying_key) =
        verify_identity_binding_keyed(&entry, trust.log().public_key())?;
    Ok(VerifiedBinding {
        binding,
        identity_verifying_key,
        inclusion,
        proof: leaf.clone(),
        trust: trust.clone(),
    })
}

/// Verifies `leaf` as an identity revocation of the log `trust` describes (as
/// [`verify_binding`] does a binding).
pub fn verify_revocation(
    trust: &LogTrust,
    leaf: &pb::IncludedLeaf,
    now: u64,
    max_skew: u64,
) -> Result<VerifiedRevocation, IdentityError> {
    revocation(trust, leaf, now, max_skew, None)
}

/// [`verify_revocation`], with the checkpoint's signatures checked once per `memo`
/// ([`CheckpointMemo`]).
pub fn verify_revocation_memo(
    trust: &LogTrust,
    leaf: &pb::IncludedLeaf,
    now: u64,
    max_skew: u64,
    memo: &mut CheckpointMemo,
) -> Result<VerifiedRevocation, IdentityError> {
    revocation(trust, leaf, now, max_skew, Some(memo))
}

fn revocation(
    trust: &LogTrust,
    leaf: &pb::IncludedLeaf,
    now: u64,
    max_skew: u64,
    memo: Option<&mut CheckpointMemo>,
) -> Result<VerifiedRevocation, IdentityError> {
    let Some(pb::log_entry::Kind::IdentityRevocation(entry)) = decode_entry(leaf)?.kind else {
        return Err(IdentityError::WrongKind {
            expected: "revocation",
        });
    };
    check_domain(&entry.account, trust)?;
    let inclusion = included(trust, leaf, now, max_skew, memo)?;
    let revocation = verify_identity_revocation(&entry, trust.log().public_key())?;
    Ok(VerifiedRevocation {
        revocation,
        inclusion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_domains_match_log_origins() {
        assert!(account_in_log_domain("bob@beta.test", "beta.test/herald"));
        assert!(account_in_log_domain("bob@BETA.test", "beta.test/herald"));
        assert!(account_in_log_domain(
            "\"a@b\"@beta.test",
            "beta.test/herald"
        ));
        assert!(!account_in_log_domain("bob@beta.test", "alpha.test/herald"));
        assert!(!account_in_log_domain("bob@beta.test", "beta.test"));
        assert!(!account_in_log_domain("bob", "beta.test/herald"));
        assert!(!account_in_log_domain("bob@", "/herald"));
        assert_eq!(account_domain("a@b@c"), Some("c"));
    }
}
