//! Creating and opening a log: sled's database, meta, the checks against the high-water mark
//! (before anything is cut), the sealed files (cutting what a round that never committed left),
//! the right edge against the stored root, and the current epoch's leaves, with the edge
//! bundle's entries checked against them. O(log n) reads, whatever the log's size.

use std::path::Path;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use herald_proto::merkle::{AnyHasher, CompactRange, HashAlgorithm, LogHasher, tree_root};
use tracing::warn;

use super::appender::{check_edge_entries, edge_bundle_len};
use super::high_water::{HighWater, Mark};
use super::layout::{BUNDLE_WIDTH, EPOCH_LEAVES, SEALED_DIR, UPGRADABLE_FORMAT};
use super::leaf_index::EpochIndex;
use super::sealed::Sealed;
use super::tiles::TileReader;
use super::{
    Inner, LogHead, LogStore, OpenError, OpenTimes, Published, ReadError, WRITER_FREE, meta,
    tree_error, upgrade,
};

fn open_db(path: &Path) -> Result<sled::Db, OpenError> {
    crate::db::open(path)?.ok_or_else(|| OpenError::Locked {
        path: path.to_owned(),
    })
}

impl LogStore {
    /// Creates a new, empty log in the directory `path` (created if missing). Fails if a log is
    /// already there. The origin (`<domain>/herald`) and hash algorithm are fixed for good.
    pub fn create(
        path: impl AsRef<Path>,
        origin: &str,
        algorithm: HashAlgorithm,
    ) -> Result<Self, OpenError> {
        let path = path.as_ref();
        meta::check_origin(origin)?;
        let start = Instant::now();
        let db = open_db(path)?;
        let tree = crate::db::Tree::Log.open(&db)?;
        if meta::read(&tree)?.is_some() {
            return Err(OpenError::AlreadyExists {
                path: path.to_owned(),
            });
        }
        tree.apply_batch(meta::initial(origin, algorithm))?;
        tree.flush()?;
        Self::load(path, db, tree, start)
    }

    /// Opens the log in `path`. Fails if there is none, if its layout version is not this
    /// build's, or if another process holds it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let path = path.as_ref();
        // sled would create an empty database in a missing directory.
        if !path.is_dir() {
            return Err(OpenError::NotALog {
                path: path.to_owned(),
            });
        }
        let start = Instant::now();
        let db = open_db(path)?;
        let tree = crate::db::Tree::Log.open(&db)?;
        Self::load(path, db, tree, start)
    }

    /// Opens the log in `path` if there is one, checking that it has this origin and algorithm;
    /// creates it otherwise. What a node calls at every start.
    pub fn open_or_create(
        path: impl AsRef<Path>,
        origin: &str,
        algorithm: HashAlgorithm,
    ) -> Result<Self, OpenError> {
        let path = path.as_ref();
        meta::check_origin(origin)?;
        let start = Instant::now();
        let db = open_db(path)?;
        let tree = crate::db::Tree::Log.open(&db)?;
        match meta::read(&tree)? {
            None => {
                tree.apply_batch(meta::initial(origin, algorithm))?;
                tree.flush()?;
            }
            Some(m) if m.origin != origin => {
                return Err(OpenError::OriginMismatch {
                    stored: m.origin,
                    given: origin.to_owned(),
                });
            }
            Some(m) if m.algorithm != algorithm => {
                return Err(OpenError::AlgorithmMismatch {
                    stored: m.algorithm,
                    given: algorithm,
                });
            }
            Some(_) => {}
        }
        Self::load(path, db, tree, start)
    }

    /// Reads meta, checks the log against its high-water mark and the stored right edge
    /// against the stored root: O(log n). `start` is when opening sled began.
    fn load(
        path: &Path,
        db: sled::Db,
        tree: sled::Tree,
        start: Instant,
    ) -> Result<Self, OpenError> {
        let storage = start.elapsed();
        let meta = meta::read(&tree)?.ok_or_else(|| OpenError::NotALog {
            path: path.to_owned(),
        })?;
        let hasher = AnyHasher(meta.algorithm);
        let head = match meta.head {
            Some(h) => h,
            None => LogHead {
                size: 0,
                root: hasher.empty_root(),
                checkpoint: Vec::new(),
                time_ms: 0,
            },
        };
        let sealed_dir = path.join(SEALED_DIR);
        // Before anything is cut: a log behind what it signed is refused as it is.
        let found = HighWater::read(&sealed_dir)?;
        if let Some((mark, _)) = found {
            if head.size < mark.size {
                return Err(OpenError::BehindSigned {
                    path: path.to_owned(),
                    stored: head.size,
                    signed: mark.size,
                });
            }
            if head.size == mark.size && head.root != mark.root {
                return Err(OpenError::ForkOfSigned {
                    path: path.to_owned(),
                    size: mark.size,
                });
            }
        }
        if meta.format == UPGRADABLE_FORMAT {
            upgrade::from_v2(&tree, &sealed_dir, head.size)?;
        }
        let (edge_n, edge_count) = (head.size / BUNDLE_WIDTH, head.size % BUNDLE_WIDTH);
        let edge_bytes = match edge_count {
            0 => 0,
            _ => edge_bundle_len(&tree, edge_n)?.ok_or_else(|| {
                ReadError::corrupt(format!("edge bundle {edge_n}'s length is missing"))
            })?,
        };
        let sealed = Sealed::open(&sealed_dir, head.size, edge_bytes)?;
        let reader = TileReader::new(&tree, &sealed, hasher, head.size);
        let edge = CompactRange::from_reader(&reader, head.size)?;
        if edge.root(&hasher) != head.root {
            return Err(
                ReadError::corrupt("stored right edge does not hash to the stored root").into(),
            );
        }
        if let Some((mark, _)) = found
            && mark.size < head.size
        {
            let root =
                tree_root(&hasher, &reader, mark.size).map_err(|e| tree_error(e, head.size))?;
            if root != mark.root {
                return Err(OpenError::ForkOfSigned {
                    path: path.to_owned(),
                    size: mark.size,
                });
            }
        }
        let epoch = head.size / EPOCH_LEAVES;
        let mut leaves = Vec::with_capacity((head.size % EPOCH_LEAVES) as usize);
        reader.leaf_hashes(epoch * EPOCH_LEAVES, head.size % EPOCH_LEAVES, &mut leaves)?;
        drop(reader);
        if edge_count > 0 {
            let bundle = sealed.edge_bundle(edge_n, edge_bytes)?;
            let from = leaves.len() - edge_count as usize;
            let used = check_edge_entries(&hasher, edge_n, &bundle, &leaves[from..])?;
            if used as u64 != edge_bytes {
                return Err(ReadError::corrupt(format!(
                    "edge bundle {edge_n} holds {edge_bytes} bytes, its {edge_count} entries {used}"
                ))
                .into());
            }
        }
        let current = Mark {
            size: head.size,
            root: head.root,
        };
        if found.is_none() && head.size > 0 {
            warn!(
                size = head.size,
                "no high-water mark file: starting it at the stored size (a log written before \
                 marks existed, or the file was removed)"
            );
        }
        let high_water = HighWater::open(&sealed_dir, found, current)?;
        let published = Published {
            epoch: EpochIndex::from_leaves(epoch, leaves),
            head,
        };
        let opened = OpenTimes {
            storage,
            log: start.elapsed().saturating_sub(storage),
        };
        Ok(LogStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                opened,
                db,
                tree,
                sealed,
                origin: meta.origin,
                hasher,
                published: RwLock::new(published),
                writer: AtomicU8::new(WRITER_FREE),
                high_water,
                applied: Mutex::new(None),
                edge: Default::default(),
            }),
        })
    }
}
