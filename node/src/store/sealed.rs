//! Sealed values: entry bundles, full tiles and completed epochs' leaf-hash buckets, in
//! append-only files beside sled, at positions computed from their numbers.
//!
//! Why not in sled: sled 0.34.7 writes its recovery snapshot only when a database is opened
//! (`Config::snapshot_after_ops` is a no-op, `PageCache::take_fuzzy_snapshot` is never called;
//! `pagecache/snapshot.rs` `advance_snapshot` from `PageCache::start` is the only writer), so
//! the first open after a run re-reads and checksums every log segment and blob the run wrote,
//! and every open reads each segment header and loads one page-table entry per page. With the
//! bundles and tiles in sled a restart grew with the log (~0.2 s at 10^6 entries, seconds at
//! 10^7). What never changes once written needs none of sled's log: kept here, it leaves sled
//! with O(1) small values for the log (meta, the partial right-edge tiles, the edge bundle's
//! length, secondary indexes), and opening reads O(1) records of these files.
//!
//! The right-edge bundle's entries are here too, appended as they come (layout version 3):
//! version 2 rewrote the whole partial bundle in sled every round, and once it outgrew sled's
//! inline limit (~128 KiB, e.g. 256 entries of 1 KiB) every rewrite became a sled blob file that
//! a crash left behind for good (~1 MB per SIGKILL, reliability review F7). sled now holds only its length.
//!
//! | file | record |
//! |---|---|
//! | `bundles` | entry bundles, concatenated: the full ones, then the edge bundle's entries so far |
//! | `bundles.idx` | full bundle N at 16·N: u64 BE end offset of bundle N in `bundles` ‖ check |
//! | `tiles.L` (L = 0..7) | full tile (L, N) at 8200·N: its 256 hashes ‖ check |
//! | `buckets` | leaf-hash buckets of completed epochs, concatenated |
//! | `buckets.idx` | bucket b of epoch E at 16·(256·E + b): u64 BE end offset ‖ check |
//!
//! A check is the first 8 bytes of BLAKE3 over the record's kind, number and bytes: a torn,
//! damaged or misplaced record reads as `Corrupt`, never as other data. The edge bundle has no
//! check of its own until it is full; its entries are checked against their leaf hashes (which
//! sled holds, in the partial level-0 tile) when the log is opened and when they are read.
//!
//! Durability: a round writes its records past the committed ends and syncs them before its
//! sled batch is applied; the batch, which carries the new size and the edge bundle's length, is
//! the commit point. A crash before the batch is durable leaves bytes past the ends the
//! committed state implies, which [`Sealed::open`] cuts off (logged, with the sizes); nothing
//! below them is ever written again.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use herald_proto::merkle::{HASH_LEN, Hash};
use tracing::warn;

use super::checked_tiles::{CHECKED_TILES, CheckedTiles};
use super::error::ReadError;
use super::layout::{
    BUCKET_RECORD_BYTES, BUNDLE_WIDTH, EPOCH_LEAVES, FULL_TILE_BYTES, MAX_ENTRY_BYTES, TILE_HEIGHT,
    TILE_WIDTH,
};

/// Tile levels of a tree of at most 2^64 leaves.
pub(crate) const TILE_LEVELS: usize = 8;
const CHECK_BYTES: usize = 8;
const INDEX_RECORD: u64 = 8 + CHECK_BYTES as u64;
const TILE_RECORD: u64 = (FULL_TILE_BYTES + CHECK_BYTES) as u64;
const BUCKETS_PER_EPOCH: u64 = 256;
/// 256 entries of at most `MAX_ENTRY_BYTES`, each after its u16 length.
pub(crate) const MAX_BUNDLE_BYTES: u64 = BUNDLE_WIDTH * (2 + MAX_ENTRY_BYTES as u64);
/// Every leaf of an epoch in one bucket.
const MAX_BUCKET_BYTES: u64 = EPOCH_LEAVES * BUCKET_RECORD_BYTES as u64;

/// Most tiles [`Sealed::level0_tiles`] reads at once: an epoch's worth.
pub(crate) const MAX_TILES_READ: u64 = EPOCH_LEAVES / TILE_WIDTH;

type Check = [u8; CHECK_BYTES];

fn check(kind: &[u8], number: u64, bytes: &[u8]) -> Check {
    let mut h = blake3::Hasher::new();
    h.update(kind);
    h.update(&number.to_be_bytes());
    h.update(bytes);
    let mut c = [0u8; CHECK_BYTES];
    c.copy_from_slice(&h.finalize().as_bytes()[..CHECK_BYTES]);
    c
}

const BUNDLE_KIND: &[u8] = b"bundle";
const BUCKET_KIND: &[u8] = b"bucket";

fn tile_kind(level: u8) -> [u8; 5] {
    [b't', b'i', b'l', b'e', level]
}

/// How many records of each kind a log of `size` leaves has sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) bundles: u64,
    pub(crate) tiles: [u64; TILE_LEVELS],
    pub(crate) buckets: u64,
}

impl Counts {
    pub(crate) fn of(size: u64) -> Self {
        let mut tiles = [0; TILE_LEVELS];
        for (level, t) in tiles.iter_mut().enumerate() {
            *t = (size >> (level * usize::from(TILE_HEIGHT))) / TILE_WIDTH;
        }
        Counts {
            bundles: size / BUNDLE_WIDTH,
            tiles,
            buckets: size / EPOCH_LEAVES * BUCKETS_PER_EPOCH,
        }
    }
}

/// The sealed files of one log. Reads take `&self` (positioned reads), so request handlers
/// share it; only the sequencer writes, past the committed ends.
#[derive(Debug)]
pub(crate) struct Sealed {
    bundles: File,
    bundle_index: File,
    tiles: Vec<File>,
    buckets: File,
    bucket_index: File,
    /// Full tiles already read and checked (the read path's; the scrub reads the files).
    checked: CheckedTiles,
    /// The inner levels of checked full tiles, folded once (`TileReader::node_hash`'s).
    folded: CheckedTiles,
}

fn io_error(name: &str, e: io::Error) -> ReadError {
    ReadError::Io {
        file: name.to_owned(),
        source: e,
    }
}

/// Reads exactly `buf.len()` bytes at `at`; a file that ends first lacks a record.
fn read_at(file: &File, name: &str, buf: &mut [u8], at: u64) -> Result<(), ReadError> {
    file.read_exact_at(buf, at).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ReadError::corrupt(format!(
            "sealed file {name} ends before byte {}",
            at + buf.len() as u64
        )),
        _ => io_error(name, e),
    })
}

impl Sealed {
    /// Opens the sealed files in `dir` for a log whose committed size is `size` and whose edge
    /// bundle has `edge_bytes` committed bytes, cutting off records of a round that never
    /// committed. A log of size 0 creates any missing file; a larger one requires them all,
    /// each holding at least what `size` implies.
    pub(crate) fn open(dir: &Path, size: u64, edge_bytes: u64) -> Result<Self, ReadError> {
        let create = size == 0;
        if create {
            std::fs::create_dir_all(dir).map_err(|e| io_error("sealed/", e))?;
        }
        let open = |name: &str| -> Result<File, ReadError> {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .open(dir.join(name))
                .map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => {
                        ReadError::corrupt(format!("sealed file {name} is missing"))
                    }
                    _ => io_error(name, e),
                })
        };
        let sealed = Sealed {
            bundles: open("bundles")?,
            bundle_index: open("bundles.idx")?,
            tiles: (0..TILE_LEVELS)
                .map(|l| open(&format!("tiles.{l}")))
                .collect::<Result<_, _>>()?,
            buckets: open("buckets")?,
            bucket_index: open("buckets.idx")?,
            checked: CheckedTiles::new(CHECKED_TILES),
            folded: CheckedTiles::new(CHECKED_TILES),
        };
        if create {
            // The files' names must be durable before a round commits records in them.
            for d in [dir, dir.parent().unwrap_or(dir)] {
                File::open(d)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| io_error("sealed/", e))?;
            }
        }
        let counts = Counts::of(size);
        cut(
            &sealed.bundle_index,
            "bundles.idx",
            counts.bundles * INDEX_RECORD,
        )?;
        cut(
            &sealed.bucket_index,
            "buckets.idx",
            counts.buckets * INDEX_RECORD,
        )?;
        let (bundle_end, bucket_end) = sealed.ends(counts)?;
        cut(&sealed.bundles, "bundles", bundle_end + edge_bytes)?;
        cut(&sealed.buckets, "buckets", bucket_end)?;
        for (level, file) in sealed.tiles.iter().enumerate() {
            let name = format!("tiles.{level}");
            cut(file, &name, counts.tiles[level] * TILE_RECORD)?;
        }
        Ok(sealed)
    }

    /// Where the next bundle and the next bucket go in their data files, for a log with
    /// `counts` sealed (from the last index record of each).
    pub(crate) fn ends(&self, counts: Counts) -> Result<(u64, u64), ReadError> {
        let end = |file: &File, name: &str, count: u64| -> Result<u64, ReadError> {
            if count == 0 {
                return Ok(0);
            }
            let mut record = [0u8; INDEX_RECORD as usize];
            read_at(file, name, &mut record, (count - 1) * INDEX_RECORD)?;
            Ok(index_end(&record))
        };
        Ok((
            end(&self.bundle_index, "bundles.idx", counts.bundles)?,
            end(&self.bucket_index, "buckets.idx", counts.buckets)?,
        ))
    }

    /// Where bundle `n` starts in `bundles`: the end of bundle `n - 1`, which must be sealed.
    pub(crate) fn bundle_start(&self, n: u64) -> Result<u64, ReadError> {
        if n == 0 {
            return Ok(0);
        }
        let mut record = [0u8; INDEX_RECORD as usize];
        read_at(
            &self.bundle_index,
            "bundles.idx",
            &mut record,
            (n - 1) * INDEX_RECORD,
        )?;
        Ok(index_end(&record))
    }

    /// The first `len` bytes of the edge bundle `n` (not sealed yet: no check of its own; the
    /// caller checks its entries against their leaf hashes).
    pub(crate) fn edge_bundle(&self, n: u64, len: u64) -> Result<Vec<u8>, ReadError> {
        if len > MAX_BUNDLE_BYTES {
            return Err(ReadError::corrupt(format!(
                "edge bundle {n} is said to hold {len} bytes"
            )));
        }
        let start = self.bundle_start(n)?;
        // len ≤ MAX_BUNDLE_BYTES, a few MiB.
        let mut bytes = vec![0u8; len as usize];
        read_at(&self.bundles, "bundles", &mut bytes, start)?;
        Ok(bytes)
    }

    /// Sealed bundle `n`.
    pub(crate) fn bundle(&self, n: u64) -> Result<Vec<u8>, ReadError> {
        indexed(
            (&self.bundles, "bundles"),
            (&self.bundle_index, "bundles.idx"),
            BUNDLE_KIND,
            n,
            MAX_BUNDLE_BYTES,
        )
    }

    /// Bucket `bucket` of completed epoch `epoch`.
    pub(crate) fn bucket(&self, epoch: u64, bucket: u8) -> Result<Vec<u8>, ReadError> {
        indexed(
            (&self.buckets, "buckets"),
            (&self.bucket_index, "buckets.idx"),
            BUCKET_KIND,
            epoch * BUCKETS_PER_EPOCH + u64::from(bucket),
            MAX_BUCKET_BYTES,
        )
    }

    /// Sealed (full) tile (`level`, `n`): its 256 hashes, checked when first read from the file
    /// and held in memory since (a sealed tile never changes).
    pub(crate) fn tile(&self, level: u8, n: u64) -> Result<sled::IVec, ReadError> {
        if let Some(tile) = self.checked.get(level, n) {
            return Ok(tile);
        }
        let tile = self.tile_on_disk(level, n)?;
        self.checked.insert(level, n, tile.clone());
        Ok(tile)
    }

    /// The inner levels of sealed tile (`level`, `n`) if they were folded and are still held
    /// (see [`Sealed::remember_folded`]).
    pub(crate) fn folded(&self, level: u8, n: u64) -> Option<sled::IVec> {
        self.folded.get(level, n)
    }

    /// Holds the inner levels of sealed tile (`level`, `n`), folded by the caller from the
    /// tile's checked hashes: a sealed tile never changes, so neither do they. Bounded like the
    /// checked tiles.
    pub(crate) fn remember_folded(&self, level: u8, n: u64, inner: sled::IVec) {
        self.folded.insert(level, n, inner);
    }

    /// Sealed tile (`level`, `n`) read from its file and checked, whatever is held in memory:
    /// the scrub's read.
    pub(crate) fn tile_on_disk(&self, level: u8, n: u64) -> Result<sled::IVec, ReadError> {
        let file = self
            .tiles
            .get(usize::from(level))
            .ok_or_else(|| ReadError::corrupt(format!("no tile level {level}")))?;
        let name = format!("tiles.{level}");
        let mut record = vec![0u8; TILE_RECORD as usize];
        read_at(file, &name, &mut record, n * TILE_RECORD)?;
        let (hashes, stored) = record.split_at(FULL_TILE_BYTES);
        if check(&tile_kind(level), n, hashes) != stored {
            return Err(ReadError::corrupt(format!(
                "sealed tile ({level}, {n}) fails its check"
            )));
        }
        Ok(sled::IVec::from(hashes))
    }

    /// The hashes of sealed level-0 tiles `first .. first + count`, in one read of at most
    /// [`MAX_TILES_READ`] tiles (more is cut to that).
    pub(crate) fn level0_tiles(
        &self,
        first: u64,
        count: u64,
        out: &mut Vec<Hash>,
    ) -> Result<(), ReadError> {
        // At most 256 records of 8200 bytes.
        let count = count.min(MAX_TILES_READ);
        let mut records = vec![0u8; (count * TILE_RECORD) as usize];
        read_at(&self.tiles[0], "tiles.0", &mut records, first * TILE_RECORD)?;
        for (n, record) in (first..).zip(records.chunks_exact(TILE_RECORD as usize)) {
            let (hashes, stored) = record.split_at(FULL_TILE_BYTES);
            if check(&tile_kind(0), n, hashes) != stored {
                return Err(ReadError::corrupt(format!(
                    "sealed tile (0, {n}) fails its check"
                )));
            }
            out.extend(hashes.chunks_exact(HASH_LEN).map(|c| {
                let mut h = [0u8; HASH_LEN];
                h.copy_from_slice(c);
                h
            }));
        }
        Ok(())
    }

    /// Writes a round's records and syncs them: when this returns `Ok`, a crash loses none of
    /// them (they still count only once the round's sled batch commits).
    pub(crate) fn write(&self, w: &SealedWrites) -> io::Result<()> {
        let files = [
            (&self.bundles, &w.bundles),
            (&self.bundle_index, &w.bundle_index),
            (&self.buckets, &w.buckets),
            (&self.bucket_index, &w.bucket_index),
        ]
        .into_iter()
        .chain(self.tiles.iter().zip(&w.tiles));
        let mut written = Vec::new();
        for (file, run) in files {
            if !run.bytes.is_empty() {
                file.write_all_at(&run.bytes, run.at)?;
                written.push(file);
            }
        }
        // One sync per file, side by side: a round touches 3 files (bundles, their index,
        // level-0 tiles), and syncing them one after the other tripled the round's wait.
        let Some((last, others)) = written.split_last() else {
            return Ok(());
        };
        std::thread::scope(|s| {
            let others: Vec<_> = others
                .iter()
                .map(|f| s.spawn(move || f.sync_data()))
                .collect();
            let mut result = last.sync_data();
            for t in others {
                // A sync thread that panicked synced nothing we can rely on.
                let synced = t
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("sync thread panicked")));
                result = result.and(synced);
            }
            result
        })
    }
}

/// Makes `file` exactly `len` bytes: longer is a round that never committed (cut, and logged:
/// nothing committed is ever cut, so an operator sees every one), shorter is a lost record.
fn cut(file: &File, name: &str, len: u64) -> Result<(), ReadError> {
    let found = file.metadata().map_err(|e| io_error(name, e))?.len();
    if found < len {
        return Err(ReadError::corrupt(format!(
            "sealed file {name} has {found} bytes, the log's size needs {len}"
        )));
    }
    if found > len {
        warn!(
            file = name,
            found_bytes = found,
            committed_bytes = len,
            cut_bytes = found - len,
            "cutting sealed records of a round that never committed"
        );
        file.set_len(len)
            .and_then(|()| file.sync_data())
            .map_err(|e| io_error(name, e))?;
    }
    Ok(())
}

fn index_end(record: &[u8]) -> u64 {
    let mut end = [0u8; 8];
    end.copy_from_slice(&record[..8]);
    u64::from_be_bytes(end)
}

/// Record `i` of a data file with an index of end offsets.
fn indexed(
    (data, data_name): (&File, &str),
    (index, index_name): (&File, &str),
    kind: &[u8],
    i: u64,
    max: u64,
) -> Result<Vec<u8>, ReadError> {
    let record = INDEX_RECORD as usize;
    // Record i and, before it, the end of record i - 1 (where record i starts).
    let mut two = [0u8; 2 * INDEX_RECORD as usize];
    let (start, this) = if i == 0 {
        read_at(index, index_name, &mut two[record..], 0)?;
        (0, &two[record..])
    } else {
        read_at(index, index_name, &mut two, (i - 1) * INDEX_RECORD)?;
        (index_end(&two[..record]), &two[record..])
    };
    let end = index_end(this);
    let len = end
        .checked_sub(start)
        .filter(|&len| len <= max)
        .ok_or_else(|| {
            ReadError::corrupt(format!(
                "sealed {index_name} record {i} spans {start}..{end}"
            ))
        })?;
    // len ≤ max, a few MiB.
    let mut bytes = vec![0u8; len as usize];
    read_at(data, data_name, &mut bytes, start)?;
    if check(kind, i, &bytes) != this[8..] {
        return Err(ReadError::corrupt(format!(
            "sealed {data_name} record {i} fails its check"
        )));
    }
    Ok(bytes)
}

/// Bytes appended to one file by a round: contiguous, from `at`.
#[derive(Debug, Default)]
struct Run {
    at: u64,
    bytes: Vec<u8>,
}

impl Run {
    fn push(&mut self, at: u64, bytes: &[u8]) {
        if self.bytes.is_empty() {
            self.at = at;
        }
        debug_assert_eq!(
            self.at + self.bytes.len() as u64,
            at,
            "records are sealed in order"
        );
        self.bytes.extend_from_slice(bytes);
    }
}

/// The records a round seals, built by the appender in log order.
#[derive(Debug, Default)]
pub(crate) struct SealedWrites {
    bundles: Run,
    bundle_index: Run,
    tiles: [Run; TILE_LEVELS],
    buckets: Run,
    bucket_index: Run,
}

impl SealedWrites {
    /// Appends bytes of the edge bundle (entries, each after its u16 length) at `at` in
    /// `bundles`.
    pub(crate) fn bundle_bytes(&mut self, at: u64, bytes: &[u8]) {
        self.bundles.push(at, bytes);
    }

    /// Seals bundle `n`, whose bytes (all of them `bytes`) end at `end` in `bundles` and are
    /// written already (by [`bundle_bytes`](Self::bundle_bytes), this round or earlier ones).
    pub(crate) fn seal_bundle(&mut self, n: u64, bytes: &[u8], end: u64) {
        self.bundle_index.push(
            n * INDEX_RECORD,
            &index_record(end, check(BUNDLE_KIND, n, bytes)),
        );
    }

    /// Writes and seals bundle `n` at once: it starts at `*end` in `bundles`; advances `*end`.
    #[cfg(test)]
    pub(crate) fn bundle(&mut self, n: u64, bytes: &[u8], end: &mut u64) {
        self.bundle_bytes(*end, bytes);
        *end += bytes.len() as u64;
        self.seal_bundle(n, bytes, *end);
    }

    /// Seals full tile (`level`, `n`).
    pub(crate) fn tile(&mut self, level: u8, n: u64, hashes: &[u8]) {
        debug_assert_eq!(hashes.len(), FULL_TILE_BYTES);
        let run = &mut self.tiles[usize::from(level)];
        run.push(n * TILE_RECORD, hashes);
        run.push(
            n * TILE_RECORD + FULL_TILE_BYTES as u64,
            &check(&tile_kind(level), n, hashes),
        );
    }

    /// Seals bucket `bucket` of completed epoch `epoch`, which starts at `*end` in `buckets`;
    /// advances `*end`.
    pub(crate) fn bucket(&mut self, epoch: u64, bucket: u8, bytes: &[u8], end: &mut u64) {
        let i = epoch * BUCKETS_PER_EPOCH + u64::from(bucket);
        self.buckets.push(*end, bytes);
        *end += bytes.len() as u64;
        self.bucket_index.push(
            i * INDEX_RECORD,
            &index_record(*end, check(BUCKET_KIND, i, bytes)),
        );
    }
}

fn index_record(end: u64, check: Check) -> [u8; INDEX_RECORD as usize] {
    let mut r = [0u8; INDEX_RECORD as usize];
    r[..8].copy_from_slice(&end.to_be_bytes());
    r[8..].copy_from_slice(&check);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// New files in `dir` holding `w`'s records.
    fn written(dir: &Path, w: &SealedWrites) -> Sealed {
        let s = Sealed::open(dir, 0, 0).unwrap();
        s.write(w).unwrap();
        s
    }

    #[test]
    fn a_checked_tile_is_read_once_and_the_disk_read_still_sees_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SealedWrites::default();
        w.tile(0, 0, &[3; FULL_TILE_BYTES]);
        let s = written(dir.path(), &w);
        assert_eq!(&s.tile(0, 0).unwrap()[..], &[3; FULL_TILE_BYTES][..]);
        // Damage the record on disk after its first, checked read.
        let path = dir.path().join("tiles.0");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        // Readers get the bytes that passed the check, not the damaged ones ...
        assert_eq!(&s.tile(0, 0).unwrap()[..], &[3; FULL_TILE_BYTES][..]);
        // ... and the scrub's read of the file names the damage.
        assert!(matches!(
            s.tile_on_disk(0, 0),
            Err(ReadError::Corrupt { .. })
        ));
    }

    #[test]
    fn records_read_back_at_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SealedWrites::default();
        let (mut bundle_end, mut bucket_end) = (0, 0);
        let bundles: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        for (n, b) in bundles.iter().enumerate() {
            w.bundle(n as u64, b, &mut bundle_end);
        }
        let tiles: Vec<Vec<u8>> = (0..1024u64 / 256)
            .map(|n| vec![n as u8; FULL_TILE_BYTES])
            .collect();
        for (n, t) in tiles.iter().enumerate() {
            w.tile(0, n as u64, t);
        }
        for b in 0..=255u8 {
            w.bucket(0, b, &vec![b; usize::from(b) * 10], &mut bucket_end);
        }
        let s = written(dir.path(), &w);
        for (n, b) in bundles.iter().enumerate() {
            assert_eq!(&s.bundle(n as u64).unwrap(), b);
        }
        for (n, t) in tiles.iter().enumerate() {
            assert_eq!(&s.tile(0, n as u64).unwrap()[..], &t[..]);
        }
        let mut hashes = Vec::new();
        s.level0_tiles(1, 3, &mut hashes).unwrap();
        assert_eq!(hashes.concat(), tiles[1..].concat());
        assert!(
            s.level0_tiles(2, 3, &mut hashes).is_err(),
            "tile 4 is not there"
        );
        assert_eq!(s.bucket(0, 7).unwrap(), vec![7u8; 70]);
        assert_eq!(s.bucket(0, 0).unwrap(), Vec::<u8>::new());
        assert!(matches!(s.bundle(3), Err(ReadError::Corrupt { .. })));
        assert!(matches!(s.tile(0, 4), Err(ReadError::Corrupt { .. })));
        assert!(matches!(s.tile(1, 0), Err(ReadError::Corrupt { .. })));
        assert!(matches!(s.bucket(1, 0), Err(ReadError::Corrupt { .. })));
    }

    #[test]
    fn open_cuts_uncommitted_records_and_refuses_lost_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SealedWrites::default();
        let mut end = 0;
        for n in 0..4 {
            w.bundle(n, &[n as u8; 300], &mut end);
            w.tile(0, n, &[n as u8; FULL_TILE_BYTES]);
        }
        drop(written(dir.path(), &w));
        // Committed: 512 leaves, so 2 bundles and 2 tiles; the others belong to a round that
        // never committed, and go.
        let s = Sealed::open(dir.path(), 512, 0).unwrap();
        assert_eq!(s.ends(Counts::of(512)).unwrap(), (600, 0));
        assert_eq!(s.bundle(1).unwrap(), vec![1u8; 300]);
        assert!(s.bundle(2).is_err() && s.tile(0, 2).is_err());
        let len = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().len();
        assert_eq!((len("bundles"), len("bundles.idx")), (600, 32));
        assert_eq!(len("tiles.0"), 2 * TILE_RECORD);
        drop(s);
        // A log of 1024 leaves needs 4 bundles: 2 are there.
        assert!(matches!(
            Sealed::open(dir.path(), 1024, 0),
            Err(ReadError::Corrupt { .. })
        ));
        std::fs::remove_file(dir.path().join("tiles.3")).unwrap();
        assert!(matches!(
            Sealed::open(dir.path(), 512, 0),
            Err(ReadError::Corrupt { what }) if what.contains("tiles.3")
        ));
    }

    #[test]
    fn damaged_or_misplaced_records_are_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SealedWrites::default();
        let mut end = 0;
        w.bundle(0, &[1; 50], &mut end);
        w.bundle(1, &[1; 50], &mut end);
        w.tile(0, 0, &[5; FULL_TILE_BYTES]);
        w.tile(0, 1, &[5; FULL_TILE_BYTES]);
        let s = written(dir.path(), &w);
        assert!(s.bundle(1).is_ok() && s.tile(0, 1).is_ok());
        // The same bytes under another number do not pass: checks cover the number.
        let tiles = dir.path().join("tiles.0");
        let mut bytes = std::fs::read(&tiles).unwrap();
        bytes.copy_within(0..TILE_RECORD as usize, TILE_RECORD as usize);
        std::fs::write(&tiles, &bytes).unwrap();
        assert!(matches!(
            s.tile_on_disk(0, 1),
            Err(ReadError::Corrupt { .. })
        ));
        assert!(matches!(
            s.level0_tiles(0, 2, &mut Vec::new()),
            Err(ReadError::Corrupt { .. })
        ));
        let data = dir.path().join("bundles");
        let mut bytes = std::fs::read(&data).unwrap();
        bytes[70] ^= 1;
        std::fs::write(&data, &bytes).unwrap();
        assert!(s.bundle(0).is_ok());
        assert!(matches!(s.bundle(1), Err(ReadError::Corrupt { .. })));
        // An index whose ends go backwards, or claim a huge record, is refused before reading.
        let index = dir.path().join("bundles.idx");
        let mut bytes = std::fs::read(&index).unwrap();
        bytes[16..24].copy_from_slice(&u64::MAX.to_be_bytes());
        std::fs::write(&index, &bytes).unwrap();
        assert!(matches!(s.bundle(1), Err(ReadError::Corrupt { .. })));
        bytes[16..24].copy_from_slice(&10u64.to_be_bytes());
        std::fs::write(&index, &bytes).unwrap();
        assert!(matches!(s.bundle(1), Err(ReadError::Corrupt { .. })));
    }

    #[test]
    fn counts_follow_the_tlog_tiles_numbering() {
        let c = Counts::of(65_536 * 3 + 300);
        assert_eq!(c.bundles, 768 + 1);
        assert_eq!(c.tiles[0], 769);
        assert_eq!(c.tiles[1], 3, "a level-1 tile spans 65536 leaves");
        assert_eq!(c.tiles[2], 0);
        assert_eq!(c.buckets, 3 * 256);
        assert_eq!(Counts::of(1 << 24).tiles[2], 1);
        assert_eq!(Counts::of(u64::MAX).tiles[7], 0);
    }
}
