//! The log's metadata keys: fixed at creation (format, origin, hash) and per round (size, root,
//! checkpoint, time). Everything read back is checked: disk is outside input.

use herald_proto::merkle::{HASH_LEN, Hash, HashAlgorithm};
use herald_proto::note::is_valid_key_name;
use herald_proto::wire::{MAX_CHECKPOINT_NOTE_BYTES, MAX_ORIGIN_BYTES};

use super::LogHead;
use super::error::{OpenError, ReadError};
use super::layout::{
    FORMAT_VERSION, META_CHECKPOINT, META_FORMAT, META_HASH, META_ORIGIN, META_ROOT, META_SIZE,
    META_TIME, UPGRADABLE_FORMAT,
};

/// Everything in meta.
#[derive(Clone, Debug)]
pub(crate) struct Meta {
    /// The layout version: [`FORMAT_VERSION`], or [`UPGRADABLE_FORMAT`] until opening
    /// upgrades it.
    pub(crate) format: u32,
    pub(crate) origin: String,
    pub(crate) algorithm: HashAlgorithm,
    /// `None` until the first checkpoint is written (a log just created).
    pub(crate) head: Option<LogHead>,
}

/// Whether `origin` may name a log: a note key name of at most `MAX_ORIGIN_BYTES`.
pub(crate) fn check_origin(origin: &str) -> Result<(), OpenError> {
    if origin.len() > MAX_ORIGIN_BYTES || !is_valid_key_name(origin) {
        return Err(OpenError::InvalidOrigin(origin.chars().take(64).collect()));
    }
    Ok(())
}

/// The fixed keys of a new log, as one batch.
pub(crate) fn initial(origin: &str, algorithm: HashAlgorithm) -> sled::Batch {
    let mut b = sled::Batch::default();
    b.insert(META_FORMAT, &FORMAT_VERSION.to_be_bytes()[..]);
    b.insert(META_ORIGIN, origin.as_bytes());
    b.insert(META_HASH, algorithm.as_str().as_bytes());
    b
}

/// Adds the round's head to `batch`.
pub(crate) fn put_head(batch: &mut sled::Batch, head: &LogHead) {
    batch.insert(META_SIZE, &head.size.to_be_bytes()[..]);
    batch.insert(META_ROOT, &head.root[..]);
    batch.insert(META_CHECKPOINT, head.checkpoint.as_slice());
    batch.insert(META_TIME, &head.time_ms.to_be_bytes()[..]);
}

fn u64_value(v: &[u8], what: &str) -> Result<u64, ReadError> {
    let bytes: [u8; 8] = v
        .try_into()
        .map_err(|_| ReadError::corrupt(format!("meta {what} is {} bytes", v.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Reads meta; `Ok(None)` when the tree holds no log at all.
pub(crate) fn read(tree: &sled::Tree) -> Result<Option<Meta>, OpenError> {
    let Some(format) = tree.get(META_FORMAT)? else {
        return Ok(None);
    };
    let format: [u8; 4] = format
        .as_ref()
        .try_into()
        .map_err(|_| ReadError::corrupt(format!("meta format is {} bytes", format.len())))?;
    let found = u32::from_be_bytes(format);
    if found != FORMAT_VERSION && found != UPGRADABLE_FORMAT {
        return Err(OpenError::UnsupportedFormat {
            found,
            supported: FORMAT_VERSION,
        });
    }
    let origin = tree
        .get(META_ORIGIN)?
        .ok_or_else(|| ReadError::corrupt("meta origin is missing"))?;
    let origin = std::str::from_utf8(&origin)
        .map_err(|_| ReadError::corrupt("meta origin is not UTF-8"))?
        .to_owned();
    check_origin(&origin).map_err(|_| ReadError::corrupt("meta origin is not a key name"))?;
    let hash = tree
        .get(META_HASH)?
        .ok_or_else(|| ReadError::corrupt("meta hash is missing"))?;
    let algorithm = std::str::from_utf8(&hash)
        .ok()
        .and_then(|s| s.parse::<HashAlgorithm>().ok())
        .ok_or_else(|| ReadError::corrupt("meta hash names no known algorithm"))?;

    let head = match tree.get(META_SIZE)? {
        None => None,
        Some(size) => {
            let size = u64_value(&size, "size")?;
            let root = tree
                .get(META_ROOT)?
                .ok_or_else(|| ReadError::corrupt("meta root is missing"))?;
            let root: Hash = root
                .as_ref()
                .try_into()
                .map_err(|_| ReadError::corrupt(format!("meta root is not {HASH_LEN} bytes")))?;
            let checkpoint = tree
                .get(META_CHECKPOINT)?
                .ok_or_else(|| ReadError::corrupt("meta checkpoint is missing"))?;
            if checkpoint.len() > MAX_CHECKPOINT_NOTE_BYTES {
                return Err(ReadError::corrupt("meta checkpoint is too long").into());
            }
            let time = tree
                .get(META_TIME)?
                .ok_or_else(|| ReadError::corrupt("meta time is missing"))?;
            Some(LogHead {
                size,
                root,
                checkpoint: checkpoint.to_vec(),
                time_ms: u64_value(&time, "time")?,
            })
        }
    };
    Ok(Some(Meta {
        format: found,
        origin,
        algorithm,
        head,
    }))
}
