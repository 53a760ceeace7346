//! The disk fault: one node's data directory on a small [`Tmpfs`], filled with a filler file
//! until the file system refuses (ENOSPC), then freed.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

pub(super) use crate::tmpfs::Tmpfs;

/// The filler file's name inside the mount.
const FILLER: &str = "chaos-filler";
/// Write size while filling.
const CHUNK: usize = 1 << 20;

/// Deletes the filler file in `mount` (no error if there is none).
pub(super) fn free(mount: &Path) -> io::Result<()> {
    match fs::remove_file(mount.join(FILLER)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes the filler file in the tmpfs mounted at `mount` (of `mib` MiB) until the file system
/// is full (ENOSPC); the filler's size. Bounded: never more than `mib` MiB plus one chunk. A
/// free function so that a blocking task can run it without the guard.
pub(super) fn fill(mount: &Path, mib: u64) -> io::Result<u64> {
    let path = mount.join(FILLER);
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let chunk = vec![0xa5u8; CHUNK];
    let bound = mib * (1 << 20) + CHUNK as u64;
    let mut written = file.metadata()?.len();
    while written <= bound {
        match file.write_all(&chunk) {
            Ok(()) => written += CHUNK as u64,
            Err(e) if is_full(&e) => return Ok(file.metadata()?.len()),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "{} took {written} bytes without filling up",
        path.display()
    )))
}

fn is_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs root, as CI runs (mount).
    #[test]
    fn a_tmpfs_fills_up_and_frees() {
        let dir = tempfile::tempdir().unwrap();
        let disk = Tmpfs::mount(&dir.path().join("disk"), 4).unwrap();
        let filled = fill(disk.path(), disk.mib()).unwrap();
        assert!(filled > 3 << 20 && filled <= 4 << 20, "{filled}");
        assert!(
            disk.free_bytes().unwrap() < 64 << 10,
            "full: {:?}",
            disk.free_bytes()
        );
        assert_eq!(
            fill(disk.path(), disk.mib()).unwrap(),
            filled,
            "a full disk takes nothing more"
        );
        free(disk.path()).unwrap();
        assert!(disk.free_bytes().unwrap() > 3 << 20);
        free(disk.path()).unwrap();
    }

    #[test]
    fn a_full_disk_is_recognised() {
        assert!(is_full(&io::Error::from_raw_os_error(28)));
        assert!(!is_full(&io::Error::from_raw_os_error(13)));
    }
}
