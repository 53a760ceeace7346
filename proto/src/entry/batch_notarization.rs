//! `BatchNotarization`: a notarization its author signed as one item of a batch (DESIGN §6).
//!
//! One Ed25519 verification costs some 50 µs on a small machine, which caps a gateway that
//! checks one author signature per entry near 20k entries per second per core. An author with
//! many documents signs them as a batch instead: the items are the leaves of an RFC 6962 tree
//! (BLAKE3, built with rs_merkle: [`BatchTree`]), the author signs its root once, and every
//! item, logged as its own entry, carries its audit path to that root. So each leaf still
//! verifies offline on its own ([`verify_batch_notarization`]), and a verifier of many items of
//! one batch checks the signature once: [`batch_signature`] folds an item's path into the value
//! the signature covers, equal for every item of the batch.
//!
//! Signing inputs (`lp` as everywhere, DESIGN §3):
//! - an item (the tree's leaf data): `signing_input("herald v1 notarization batch item",
//!   digest, media_type, label, author_key, created)`;
//! - the batch: `signing_input("herald v1 notarization batch", root, author_key,
//!   batch_size as u32 LE)`.
//!
//! Both labels differ from a plain notarization's, so neither signature reads as the other.

use ed25519_dalek::{Signer as _, SigningKey};

use super::{EntryError, Notarization, signing_input, verify_signature};
use crate::merkle::{
    BatchError, BatchTree, Blake3Hasher, Hash, LogHasher as _, root_from_inclusion_proof,
};
use crate::wire::{MAX_NOTARIZATION_BATCH, pb};

/// The label of a batch item's tree leaf.
pub const NOTARIZATION_ITEM_LABEL: &str = "herald v1 notarization batch item";

/// The label of the message a batch's author signs.
pub const NOTARIZATION_BATCH_LABEL: &str = "herald v1 notarization batch";

impl Notarization {
    /// The item's leaf data in a batch tree.
    pub fn batch_item(&self, author_key: &[u8; 32]) -> Vec<u8> {
        signing_input(
            NOTARIZATION_ITEM_LABEL,
            &[
                &self.digest,
                self.media_type.as_bytes(),
                self.label.as_bytes(),
                author_key,
                &self.created.to_le_bytes(),
            ],
        )
    }
}

/// The message a batch's author signs: the batch tree's root, the key and the item count.
fn batch_message(root: &Hash, author_key: &[u8; 32], batch_size: u32) -> Vec<u8> {
    signing_input(
        NOTARIZATION_BATCH_LABEL,
        &[root, author_key, &batch_size.to_le_bytes()],
    )
}

/// Signs `items` (1 to [`MAX_NOTARIZATION_BATCH`]) as one batch with one signature; returns one
/// `BatchNotarization` log entry per item, in order.
pub fn sign_notarization_batch(
    items: &[Notarization],
    author: &SigningKey,
) -> Result<Vec<pb::LogEntry>, BatchError> {
    let author_key = author.verifying_key().to_bytes();
    let h = Blake3Hasher;
    let leaves: Vec<Hash> = items
        .iter()
        .map(|item| h.hash_leaf(&item.batch_item(&author_key)))
        .collect();
    // BatchTree bounds the count (at most MAX_BATCH_LEAVES, the same bound).
    let tree = BatchTree::new(&h, &leaves)?;
    let batch_size = u32::try_from(items.len()).unwrap_or(MAX_NOTARIZATION_BATCH);
    let signature = author
        .sign(&batch_message(&tree.root(), &author_key, batch_size))
        .to_bytes();
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let path = tree.inclusion_proof(index)?;
            Ok(pb::LogEntry {
                kind: Some(pb::log_entry::Kind::BatchNotarization(
                    pb::BatchNotarization {
                        digest: item.digest.to_vec(),
                        media_type: item.media_type.clone(),
                        label: item.label.clone(),
                        author_key: author_key.to_vec(),
                        created: item.created,
                        // index < items.len() ≤ MAX_NOTARIZATION_BATCH.
                        batch_size,
                        batch_index: index as u32,
                        batch_path: path.iter().map(|h| h.to_vec()).collect(),
                        signature: signature.to_vec(),
                    },
                )),
            })
        })
        .collect()
}

/// What a batch's signature covers, as one item shows it: equal for every item of one batch, so
/// a verifier of many items verifies each distinct value once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BatchSignature {
    author_key: [u8; 32],
    root: Hash,
    batch_size: u32,
    signature: [u8; 64],
}

impl BatchSignature {
    /// Checks the author's signature over the batch (strict Ed25519, as every entry's).
    pub fn verify(&self) -> Result<(), EntryError> {
        verify_signature(
            &self.author_key,
            &batch_message(&self.root, &self.author_key, self.batch_size),
            &self.signature,
        )
    }

    /// The batch tree's root.
    pub fn root(&self) -> &Hash {
        &self.root
    }
}

/// The item `entry` in the batch it claims: its leaf folded up its path into the root, with the
/// key, size and signature. The entry must already have passed [`crate::wire::Validate`] (a
/// path of the wrong length is [`EntryError::BadFieldLength`] here). The signature is not checked:
/// [`BatchSignature::verify`] does that.
pub fn batch_signature(entry: &pb::BatchNotarization) -> Result<BatchSignature, EntryError> {
    let author_key: [u8; 32] = super::fixed("BatchNotarization.author_key", &entry.author_key)?;
    let signature: [u8; 64] = entry
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| EntryError::BadSignatureLength(entry.signature.len()))?;
    let item = Notarization {
        digest: super::fixed("BatchNotarization.digest", &entry.digest)?,
        media_type: entry.media_type.clone(),
        label: entry.label.clone(),
        created: entry.created,
    };
    let h = Blake3Hasher;
    let leaf = h.hash_leaf(&item.batch_item(&author_key));
    let root = root_from_inclusion_proof(
        &h,
        u64::from(entry.batch_index),
        u64::from(entry.batch_size),
        &leaf,
        &entry.batch_path,
    )
    .map_err(|_| EntryError::BadFieldLength {
        field: "BatchNotarization.batch_path",
    })?;
    Ok(BatchSignature {
        author_key,
        root,
        batch_size: entry.batch_size,
        signature,
    })
}

/// Checks one batch item on its own: its path leads to a root its author signed.
pub fn verify_batch_notarization(entry: &pb::BatchNotarization) -> Result<(), EntryError> {
    batch_signature(entry)?.verify()
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::wire::{Validate as _, decode_valid};

    fn items(n: usize) -> Vec<Notarization> {
        (0..n)
            .map(|i| Notarization {
                digest: *blake3::hash(&i.to_le_bytes()).as_bytes(),
                media_type: "application/pdf".into(),
                label: format!("document {i}"),
                created: 1_790_000_000 + i as u64,
            })
            .collect()
    }

    fn inner(entry: &pb::LogEntry) -> pb::BatchNotarization {
        match &entry.kind {
            Some(pb::log_entry::Kind::BatchNotarization(n)) => n.clone(),
            other => panic!("not a batch notarization: {other:?}"),
        }
    }

    #[test]
    fn every_item_of_a_batch_verifies_alone_with_one_shared_signature() {
        let key = SigningKey::from_bytes(&[7; 32]);
        for n in [1, 2, 3, 7, 100] {
            let entries = sign_notarization_batch(&items(n), &key).unwrap();
            assert_eq!(entries.len(), n);
            let mut signatures = Vec::new();
            for entry in &entries {
                // Each leaf decodes and validates as a log entry, then verifies on its own.
                let bytes = entry.encode_to_vec();
                let back = decode_valid::<pb::LogEntry>(&bytes).unwrap();
                let item = inner(&back);
                assert_eq!(verify_batch_notarization(&item), Ok(()));
                signatures.push(batch_signature(&item).unwrap());
            }
            signatures.dedup();
            assert_eq!(signatures.len(), 1, "batch of {n}: one signed value");
        }
    }

    #[test]
    fn attack_a_changed_item_path_or_position_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let entries = sign_notarization_batch(&items(9), &key).unwrap();
        let good = inner(&entries[4]);
        let edits: [fn(&mut pb::BatchNotarization); 8] = [
            |n| n.digest[0] ^= 1,
            |n| n.label.push('!'),
            |n| n.media_type.clear(),
            |n| n.created += 1,
            |n| n.batch_path[0][0] ^= 1,
            |n| n.batch_index = 5,
            |n| n.batch_size = 10,
            |n| n.signature[0] ^= 1,
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut n = good.clone();
            edit(&mut n);
            assert!(verify_batch_notarization(&n).is_err(), "edit {i} verified");
        }
        // Another author's key with this signature.
        let mut n = good.clone();
        n.author_key = SigningKey::from_bytes(&[8; 32])
            .verifying_key()
            .to_bytes()
            .to_vec();
        assert!(verify_batch_notarization(&n).is_err());
    }

    #[test]
    fn a_batch_signature_is_not_a_notarization_signature() {
        // A one-item batch and a plain notarization of the same fields sign different inputs.
        let key = SigningKey::from_bytes(&[7; 32]);
        let item = &items(1)[0];
        let batch = inner(&sign_notarization_batch(std::slice::from_ref(item), &key).unwrap()[0]);
        let plain = match item.sign(&key).kind {
            Some(pb::log_entry::Kind::Notarization(n)) => n,
            _ => unreachable!(),
        };
        assert_ne!(batch.signature, plain.signature);
        let mut forged = plain.clone();
        forged.signature = batch.signature.clone();
        assert!(super::super::verify_notarization(&forged).is_err());
    }

    #[test]
    fn paths_of_the_wrong_shape_are_refused_by_validation() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let entries = sign_notarization_batch(&items(9), &key).unwrap();
        let check = |n: pb::BatchNotarization| {
            pb::LogEntry {
                kind: Some(pb::log_entry::Kind::BatchNotarization(n)),
            }
            .validate()
        };
        let good = inner(&entries[2]);
        assert!(check(good.clone()).is_ok());
        let mut n = good.clone();
        n.batch_path.pop();
        assert!(check(n).is_err());
        let mut n = good.clone();
        n.batch_path.push(vec![0; 32]);
        assert!(check(n).is_err());
        let mut n = good.clone();
        n.batch_index = n.batch_size;
        assert!(check(n).is_err());
        let mut n = good.clone();
        n.batch_size = 0;
        assert!(check(n).is_err());
        let mut n = good;
        n.batch_size = MAX_NOTARIZATION_BATCH + 1;
        assert!(check(n).is_err());
        assert!(sign_notarization_batch(&[], &key).is_err());
    }
}
