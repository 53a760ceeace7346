//! List indexes: every leaf listed under a key, in log order (written by the sequencer for
//! `IndexValue::LeafList`, keys `i ‖ name ‖ u16 BE len ‖ key ‖ u64 BE index`, see
//! [`layout::leaf_list_key`]). Nothing is ever overwritten, so the first leaf under a key stays
//! first (certified mail's "lowest index wins") and the latest is the last.
//!
//! Like every read, a list shows only published leaves: its keys are applied with their round a
//! moment before the round's head is published, and are skipped until then.

use super::layout::{self, MAX_INDEX_KEY_BYTES, MAX_INDEX_NAME_BYTES};
use super::{LogStore, ReadError};

impl LogStore {
    /// The published leaves listed under `key` in list index `name` (written with
    /// `IndexValue::LeafList`), in log order: those with index ≥ `from`, at most `limit`.
    pub fn index_leaves(
        &self,
        name: &str,
        key: &[u8],
        from: u64,
        limit: usize,
    ) -> Result<Vec<u64>, ReadError> {
        let Some(prefix) = list_prefix(name, key) else {
            return Ok(Vec::new());
        };
        let size = self.head_size();
        let mut start = prefix.clone();
        start.extend_from_slice(&from.to_be_bytes());
        let mut out = Vec::new();
        for item in self.inner.tree.range(start..) {
            let (k, _) = item?;
            let Some(index) = listed_index(&k, &prefix)? else {
                break;
            };
            // Listed a moment before its round is published; and every later one is too.
            if index >= size || out.len() >= limit {
                break;
            }
            out.push(index);
        }
        Ok(out)
    }

    /// The last `limit` published leaves listed under `key` in list index `name`, latest first.
    pub fn index_leaves_latest(
        &self,
        name: &str,
        key: &[u8],
        limit: usize,
    ) -> Result<Vec<u64>, ReadError> {
        let Some(prefix) = list_prefix(name, key) else {
            return Ok(Vec::new());
        };
        let size = self.head_size();
        let mut out = Vec::new();
        for item in self.inner.tree.scan_prefix(&prefix).rev() {
            let (k, _) = item?;
            let Some(index) = listed_index(&k, &prefix)? else {
                break;
            };
            if index >= size {
                continue;
            }
            if out.len() >= limit {
                break;
            }
            out.push(index);
        }
        Ok(out)
    }
}

/// The stored-key prefix of the leaves under `key` in list index `name`; `None` for a name or
/// key no index can have.
fn list_prefix(name: &str, key: &[u8]) -> Option<Vec<u8>> {
    if name.is_empty() || name.len() > MAX_INDEX_NAME_BYTES || key.len() > MAX_INDEX_KEY_BYTES {
        return None;
    }
    Some(layout::index_key(name, &layout::leaf_list_prefix(key)))
}

/// The leaf index of a stored list-index key, `None` past the keys of `prefix`.
fn listed_index(stored: &[u8], prefix: &[u8]) -> Result<Option<u64>, ReadError> {
    let Some(rest) = stored.strip_prefix(prefix) else {
        return Ok(None);
    };
    let bytes: [u8; 8] = rest.try_into().map_err(|_| {
        ReadError::corrupt(format!(
            "list index key has {} bytes after its prefix, not a leaf index",
            rest.len()
        ))
    })?;
    Ok(Some(u64::from_be_bytes(bytes)))
}

#[cfg(test)]
mod tests {
    use herald_proto::merkle::{HashAlgorithm, LogHasher as _};

    use super::*;
    use crate::store::{LogHead, RoundWriter};

    fn entry(i: u64) -> Vec<u8> {
        i.to_be_bytes().to_vec()
    }

    #[test]
    fn list_indexes_keep_every_leaf_in_order_and_show_only_published_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::create(dir.path(), "t.test/herald", HashAlgorithm::Blake3).unwrap();
        let mut app = store.appender().unwrap();
        let mut round = app.round();
        let h = store.hasher();
        let mut leaves = Vec::new();
        for i in 0..6u64 {
            let e = entry(i);
            let leaf = h.hash_leaf(&e);
            round.append(&e, leaf);
            leaves.push(leaf);
            // Even leaves under "a", odd ones under "a\0" (whose list must stay apart).
            let key: &[u8] = if i % 2 == 0 { b"a" } else { b"a\0" };
            round.put_index("l", &layout::leaf_list_key(key, i), &[]);
        }
        let head = LogHead {
            size: round.size(),
            root: round.root(),
            checkpoint: b"placeholder".to_vec(),
            time_ms: 1,
        };
        store.apply(round.finish(&head)).unwrap();
        RoundWriter::flush(&store).unwrap();
        // Written but not yet published: readers do not see it.
        assert_eq!(
            store.index_leaves("l", b"a", 0, 10).unwrap(),
            Vec::<u64>::new()
        );
        store.publish(head, &leaves);
        assert_eq!(store.index_leaves("l", b"a", 0, 10).unwrap(), vec![0, 2, 4]);
        assert_eq!(
            store.index_leaves("l", b"a\0", 0, 10).unwrap(),
            vec![1, 3, 5]
        );
        assert_eq!(store.index_leaves("l", b"a", 1, 1).unwrap(), vec![2]);
        assert_eq!(store.index_leaves_latest("l", b"a", 2).unwrap(), vec![4, 2]);
        assert_eq!(
            store.index_leaves("l", b"b", 0, 10).unwrap(),
            Vec::<u64>::new()
        );
        assert_eq!(
            store.index_leaves("", b"a", 0, 10).unwrap(),
            Vec::<u64>::new()
        );
        // A damaged list key is an error, not a panic.
        let mut bad = layout::index_key("l", &layout::leaf_list_prefix(b"a"));
        bad.extend_from_slice(&[1, 2, 3]);
        store.inner.tree.insert(bad, &[][..]).unwrap();
        assert!(matches!(
            store.index_leaves("l", b"a", 0, 10),
            Err(ReadError::Corrupt { .. })
        ));
    }
}
