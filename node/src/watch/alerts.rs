//! Split-view alerts this node holds: verified equivocation proofs (sled tree `alerts`), and the
//! origins they make it distrust.
//!
//! Only a [`VerifiedEquivocation`] is recorded, so everything stored proves, offline, that its
//! log signed two checkpoints that cannot both be true. An origin with at least one stored
//! alert is distrusted for good: the witness refuses to cosign it (`DISTRUSTED_ORIGIN`), across
//! restarts. Storage is bounded: at most [`MAX_ALERTS_PER_ORIGIN`] proofs per origin (one is
//! enough to distrust it) and [`MAX_ALERTS`] in all; further proofs are verified and dropped.
//!
//! Keys are `origin ‖ 0x0A ‖ SHA-256(encoding)`: one record per distinct proof, found by origin
//! with a prefix scan (a newline cannot occur in an origin).

use std::collections::BTreeSet;
use std::sync::{PoisonError, RwLock};

use herald_proto::equivocation::{Equivocation, VerifiedEquivocation};
use herald_proto::wire::MAX_ALERTS_PER_ANSWER;
use sha2::{Digest as _, Sha256};

/// The sled tree of alerts.
pub const ALERTS_TREE: &str = crate::db::Tree::Alerts.name();
/// Most proofs kept per origin (as many as one client answer carries).
pub const MAX_ALERTS_PER_ORIGIN: usize = MAX_ALERTS_PER_ANSWER;
/// Most proofs kept in all.
pub const MAX_ALERTS: usize = 1024;

/// Why alerts could not be read or written (always local).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// sled failed.
    #[error("alert storage: {0}")]
    Storage(#[from] sled::Error),
    /// A stored alert does not decode or verify (the database was damaged or edited).
    #[error("stored alert for {origin:?} is damaged: {reason}")]
    Corrupt {
        /// The origin in its key.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

/// What recording a proof did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A proof this node did not have; stored and flushed.
    New,
    /// The same proof was already stored.
    Known,
    /// The origin (or the whole book) is at its bound: verified, not stored. The origin is
    /// distrusted anyway.
    Full,
}

/// The alert book (see the module docs). Blocking.
#[derive(Debug)]
pub struct AlertBook {
    tree: sled::Tree,
    /// Origins with at least one stored alert; mirrors the tree.
    distrusted: RwLock<BTreeSet<String>>,
}

fn key(origin: &str, encoded: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(origin.len() + 33);
    k.extend_from_slice(origin.as_bytes());
    k.push(b'\n');
    k.extend_from_slice(&Sha256::digest(encoded));
    k
}

fn prefix(origin: &str) -> Vec<u8> {
    let mut p = origin.as_bytes().to_vec();
    p.push(b'\n');
    p
}

impl AlertBook {
    /// Opens the book in `db`, verifying every stored proof.
    pub fn open(db: &sled::Db) -> Result<Self, AlertError> {
        let tree = crate::db::Tree::Alerts.open(db)?;
        let mut distrusted = BTreeSet::new();
        for item in tree.iter() {
            let (k, v) = item?;
            let origin = k
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| String::from_utf8_lossy(&k[..i]).into_owned())
                .unwrap_or_default();
            let corrupt = |reason: String| AlertError::Corrupt {
                origin: origin.clone(),
                reason,
            };
            let verified = Equivocation::decode(&v)
                .map_err(|e| corrupt(e.to_string()))?
                .verify()
                .map_err(|e| corrupt(e.to_string()))?;
            if verified.origin() != origin {
                return Err(corrupt(format!("the proof is about {}", verified.origin())));
            }
            distrusted.insert(origin);
        }
        Ok(AlertBook {
            tree,
            distrusted: RwLock::new(distrusted),
        })
    }

    /// Records a verified proof (flushed before this returns `New`) and distrusts its origin.
    pub fn record(&self, proof: &VerifiedEquivocation) -> Result<Recorded, AlertError> {
        let origin = proof.origin();
        let encoded = proof.equivocation().encode();
        let k = key(origin, &encoded);
        let held = self.tree.scan_prefix(prefix(origin)).count();
        let outcome = if self.tree.contains_key(&k)? {
            Recorded::Known
        } else if held >= MAX_ALERTS_PER_ORIGIN || (held > 0 && self.tree.len() >= MAX_ALERTS) {
            // The first proof against an origin is always stored, so that its distrust is
            // durable; only further ones count against the bound.
            Recorded::Full
        } else {
            self.tree.insert(k, encoded)?;
            self.tree.flush()?;
            Recorded::New
        };
        self.distrusted
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(origin.to_owned());
        Ok(outcome)
    }

    /// Whether this node holds a proof against `origin`.
    pub fn is_distrusted(&self, origin: &str) -> bool {
        self.distrusted
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(origin)
    }

    /// The distrusted origins.
    pub fn distrusted(&self) -> Vec<String> {
        self.distrusted
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// How many proofs are stored.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether no proof is stored.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Up to `max` stored proofs, against `origin` or (for `None`) any origin, in key order.
    pub fn list(&self, origin: Option<&str>, max: usize) -> Result<Vec<Equivocation>, AlertError> {
        let scan = match origin {
            Some(o) => self.tree.scan_prefix(prefix(o)),
            None => self.tree.iter(),
        };
        let mut out = Vec::new();
        for item in scan.take(max) {
            let (_, v) = item?;
            out.push(Equivocation::decode(&v).map_err(|e| AlertError::Corrupt {
                origin: origin.unwrap_or("?").to_owned(),
                reason: e.to_string(),
            })?);
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use herald_proto::checkpoint::{Checkpoint, VerifiedCheckpoint};
    use herald_proto::merkle::HashAlgorithm;
    use herald_proto::note::NoteSigner;

    /// A same-size equivocation by the log `origin` signed with `seed`, roots `a` and `b`.
    pub(crate) fn fork(origin: &str, seed: u8, a: u8, b: u8) -> VerifiedEquivocation {
        let key = NoteSigner::new(origin, SigningKey::from_bytes(&[seed; 32])).unwrap();
        let signed = |root| {
            let note = Checkpoint {
                origin: origin.into(),
                size: 7,
                root: [root; 32],
            }
            .sign(&key)
            .unwrap()
            .to_string();
            VerifiedCheckpoint::verify(note.as_bytes(), &key.verifier()).unwrap()
        };
        Equivocation::from_same_size(HashAlgorithm::Blake3, &signed(a), &signed(b))
            .unwrap()
            .verify()
            .unwrap()
    }

    #[test]
    fn a_recorded_proof_distrusts_its_origin_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let book = AlertBook::open(&db).unwrap();
        assert!(!book.is_distrusted("b.test/herald"));
        let proof = fork("b.test/herald", 3, 1, 2);
        assert_eq!(book.record(&proof).unwrap(), Recorded::New);
        assert_eq!(book.record(&proof).unwrap(), Recorded::Known);
        assert!(book.is_distrusted("b.test/herald"));
        assert!(!book.is_distrusted("b.test/heral"));
        drop(book);
        let book = AlertBook::open(&db).unwrap();
        assert_eq!(book.distrusted(), vec!["b.test/herald".to_owned()]);
        assert_eq!(
            book.list(Some("b.test/herald"), 16).unwrap(),
            vec![proof.equivocation().clone()]
        );
        assert!(book.list(Some("c.test/herald"), 16).unwrap().is_empty());
    }

    #[test]
    fn proofs_per_origin_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let book = AlertBook::open(&db).unwrap();
        for b in 0..MAX_ALERTS_PER_ORIGIN as u8 {
            let recorded = book.record(&fork("b.test/herald", 3, 200, b)).unwrap();
            assert_eq!(recorded, Recorded::New);
        }
        let recorded = book.record(&fork("b.test/herald", 3, 201, 0)).unwrap();
        assert_eq!(recorded, Recorded::Full);
        assert_eq!(book.len(), MAX_ALERTS_PER_ORIGIN);
    }

    #[test]
    fn a_damaged_record_fails_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let tree = crate::db::Tree::Alerts.open(&db).unwrap();
        tree.insert(key("b.test/herald", b"x"), &b"garbage"[..])
            .unwrap();
        assert!(matches!(
            AlertBook::open(&db),
            Err(AlertError::Corrupt { .. })
        ));
    }
}
