//! Opening a log of layout version 2 upgrades it to version 3: the partial right-edge bundle
//! moves from sled to the end of the sealed `bundles` file, and sled keeps only its length.
//!
//! Crash-safe by order: the bundle's bytes are written and synced past the last full bundle
//! first (cutting whatever an uncommitted round left there), then one sled batch stores the
//! length and the new version, and is flushed. A crash between the two leaves a version-2 log
//! whose bytes past the last full bundle are simply written again at the next open.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use tracing::{info, warn};

use super::error::{OpenError, ReadError};
use super::layout::{BUNDLE_WIDTH, FORMAT_VERSION, META_FORMAT, bundle_entries, bundle_key};

fn io_error(name: &str) -> impl FnOnce(std::io::Error) -> ReadError + '_ {
    move |source| ReadError::Io {
        file: name.to_owned(),
        source,
    }
}

/// Upgrades the version-2 log in `tree` (committed size `size`) whose sealed files are in
/// `sealed_dir`. Blocking.
pub(crate) fn from_v2(tree: &sled::Tree, sealed_dir: &Path, size: u64) -> Result<(), OpenError> {
    let mut batch = sled::Batch::default();
    let (n, count) = (size / BUNDLE_WIDTH, size % BUNDLE_WIDTH);
    if count > 0 {
        let stored = tree.get(bundle_key(n))?.ok_or_else(|| {
            ReadError::corrupt(format!("layout 2: partial bundle {n} is missing"))
        })?;
        let len: usize = bundle_entries(&stored, count as usize)
            .map_err(|e| ReadError::corrupt(format!("layout 2: partial bundle {n}: {e}")))?
            .iter()
            .map(|e| 2 + e.len())
            .sum();
        let start = match n {
            0 => 0,
            _ => {
                let index = OpenOptions::new()
                    .read(true)
                    .open(sealed_dir.join("bundles.idx"))
                    .map_err(io_error("bundles.idx"))?;
                let mut end = [0u8; 8];
                index
                    .read_exact_at(&mut end, (n - 1) * 16)
                    .map_err(io_error("bundles.idx"))?;
                u64::from_be_bytes(end)
            }
        };
        let bundles = OpenOptions::new()
            .write(true)
            .open(sealed_dir.join("bundles"))
            .map_err(io_error("bundles"))?;
        let found = bundles.metadata().map_err(io_error("bundles"))?.len();
        if found < start {
            return Err(ReadError::corrupt(format!(
                "sealed file bundles has {found} bytes, the log's size needs {start}"
            ))
            .into());
        }
        if found > start {
            warn!(
                file = "bundles",
                found_bytes = found,
                committed_bytes = start,
                "cutting sealed records of a round that never committed"
            );
        }
        bundles
            .set_len(start)
            .and_then(|()| bundles.write_all_at(&stored[..len], start))
            .and_then(|()| bundles.sync_data())
            .map_err(io_error("bundles"))?;
        batch.insert(&bundle_key(n)[..], &(len as u64).to_be_bytes()[..]);
    }
    batch.insert(META_FORMAT, &FORMAT_VERSION.to_be_bytes()[..]);
    tree.apply_batch(batch)?;
    tree.flush()?;
    info!(
        size,
        "log layout upgraded from version 2 to {FORMAT_VERSION}: the right-edge bundle moved to the sealed files"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::{SEALED_DIR, UPGRADABLE_FORMAT, push_bundle_entry};
    use crate::store::{LogHead, LogStore, RoundWriter};
    use herald_proto::merkle::{HashAlgorithm, LogHasher};

    fn entry(i: u64) -> Vec<u8> {
        let mut e = i.to_be_bytes().to_vec();
        e.resize(8 + (i % 40) as usize, i as u8);
        e
    }

    fn append(store: &LogStore, range: std::ops::Range<u64>) {
        let mut app = store.appender().unwrap();
        let mut round = app.round();
        let h = store.hasher();
        let leaves: Vec<_> = range
            .map(|i| {
                let leaf = h.hash_leaf(&entry(i));
                round.append(&entry(i), leaf);
                leaf
            })
            .collect();
        let head = LogHead {
            size: round.size(),
            root: round.root(),
            checkpoint: b"placeholder".to_vec(),
            time_ms: 1,
        };
        store.apply(round.finish(&head)).unwrap();
        RoundWriter::flush(store).unwrap();
        store.publish(head, &leaves);
    }

    /// Rewrites a stopped version-3 log of `size` entries as version 2 stored it.
    fn downgrade(dir: &Path, size: u64) {
        let db = crate::db::open(dir).unwrap().unwrap();
        let tree = crate::db::Tree::Log.open(&db).unwrap();
        let n = size / BUNDLE_WIDTH;
        let mut partial = Vec::new();
        for i in n * BUNDLE_WIDTH..size {
            push_bundle_entry(&mut partial, &entry(i));
        }
        tree.insert(bundle_key(n), partial.clone()).unwrap();
        tree.insert(META_FORMAT, &UPGRADABLE_FORMAT.to_be_bytes()[..])
            .unwrap();
        db.flush().unwrap();
        // Version 2 kept no partial bytes in `bundles`; leave junk of an uncommitted round.
        let bundles = dir.join(SEALED_DIR).join("bundles");
        let len = std::fs::metadata(&bundles).unwrap().len();
        let file = OpenOptions::new().write(true).open(&bundles).unwrap();
        file.set_len(len - partial.len() as u64).unwrap();
        file.write_all_at(&[0xa5; 100], len - partial.len() as u64)
            .unwrap();
    }

    #[test]
    fn a_version_2_log_is_upgraded_at_open_and_keeps_appending() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::create(dir.path(), "t.test/herald", HashAlgorithm::Blake3).unwrap();
        append(&store, 0..600);
        let head = store.head();
        drop(store);
        downgrade(dir.path(), 600);
        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(store.head(), head);
        let got = store.entries(500, 100).unwrap();
        assert_eq!(got, (500..600).map(entry).collect::<Vec<_>>());
        append(&store, 600..700);
        drop(store);
        // Upgraded for good: the next open reads version 3 and every entry.
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let format = crate::db::Tree::Log
            .open(&db)
            .unwrap()
            .get(META_FORMAT)
            .unwrap();
        assert_eq!(format.unwrap().as_ref(), FORMAT_VERSION.to_be_bytes());
        drop(db);
        let store = LogStore::open(dir.path()).unwrap();
        assert_eq!(store.head().size, 700);
        assert_eq!(
            store.entries(0, 256).unwrap(),
            (0..256).map(entry).collect::<Vec<_>>()
        );
        assert_eq!(
            store.entries(512, 188).unwrap(),
            (512..700).map(entry).collect::<Vec<_>>()
        );
    }
}
