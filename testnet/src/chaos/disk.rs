//! The disk fault: one node's data directory on a small tmpfs, filled with a filler file until
//! the file system refuses (ENOSPC), then freed.
//!
//! Mounting needs root (CI runs as root). The [`Tmpfs`] guard owns the mount: it is unmounted
//! when the guard drops — at the end of the run, on an error, on Ctrl-C — lazily (`umount -l`)
//! if something still holds it. Declare it before the `Testnet` whose node lives on it, so that
//! the node processes are gone first.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail, ensure};

/// The filler file's name inside the mount.
const FILLER: &str = "chaos-filler";
/// Write size while filling.
const CHUNK: usize = 1 << 20;

/// A mounted tmpfs (see the module docs).
#[derive(Debug)]
pub struct Tmpfs {
    path: PathBuf,
    mib: u64,
    mounted: bool,
}

impl Tmpfs {
    /// Creates `path` (which must not exist or be an empty directory that is no mount point)
    /// and mounts a tmpfs of `mib` MiB on it, mode 0700.
    pub fn mount(path: &Path, mib: u64) -> anyhow::Result<Tmpfs> {
        ensure!(mib > 0, "a tmpfs of 0 MiB");
        fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
        let path = fs::canonicalize(path)?;
        ensure!(
            fs::read_dir(&path)?.next().is_none(),
            "{} is not empty: it cannot hold a fresh node's data",
            path.display()
        );
        ensure!(
            !is_mount_point(&path)?,
            "{} is already a mount point",
            path.display()
        );
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .status()
            .context("running mount")?;
        if !status.success() {
            bail!(
                "mount -t tmpfs on {} failed ({status}): the disk fault needs root \
                 (or run without it: --no-disk-fault)",
                path.display()
            );
        }
        Ok(Tmpfs {
            path,
            mib,
            mounted: true,
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its size, MiB.
    pub fn mib(&self) -> u64 {
        self.mib
    }

    /// Deletes the filler file (no error if there is none).
    pub fn free(&self) -> io::Result<()> {
        match fs::remove_file(self.path.join(FILLER)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Bytes available on it (`df`).
    pub fn free_bytes(&self) -> Option<u64> {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.path)
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
    }

    /// Unmounts now (lazily if busy); also done on drop.
    pub fn unmount(&mut self) -> anyhow::Result<()> {
        if !self.mounted {
            return Ok(());
        }
        self.mounted = false;
        let plain = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if plain {
            return Ok(());
        }
        // Something still holds it (a process being reaped): detach it now, freed later.
        let lazy = Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status()
            .context("running umount -l")?;
        ensure!(lazy.success(), "umount -l {} failed", self.path.display());
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            eprintln!("herald-testnet chaos: {e:#}");
        }
    }
}

/// Writes the filler file in the tmpfs mounted at `mount` (of `mib` MiB) until the file system
/// is full (ENOSPC); the filler's size. Bounded: never more than `mib` MiB plus one chunk. A
/// free function so that a blocking task can run it without the guard.
pub fn fill(mount: &Path, mib: u64) -> io::Result<u64> {
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

/// Whether `path` (canonical) is a mount point, from `/proc/self/mountinfo`.
fn is_mount_point(path: &Path) -> io::Result<bool> {
    let info = fs::read_to_string("/proc/self/mountinfo")?;
    let wanted = path.to_string_lossy();
    // Field 5 is the mount point, with spaces and the like escaped as \040 etc.
    Ok(info.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .is_some_and(|m| m.replace("\\040", " ") == wanted)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_a_mount_point_and_a_fresh_directory_is_not() {
        assert!(is_mount_point(Path::new("/")).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = fs::canonicalize(dir.path()).unwrap();
        assert!(!is_mount_point(&path).unwrap());
    }

    /// Needs root, as CI runs (mount).
    #[test]
    fn a_tmpfs_fills_up_frees_and_unmounts() {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = Tmpfs::mount(&dir.path().join("disk"), 4).unwrap();
        let mount = disk.path().to_owned();
        assert!(is_mount_point(&mount).unwrap());
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
        disk.free().unwrap();
        assert!(disk.free_bytes().unwrap() > 3 << 20);
        disk.free().unwrap();
        disk.unmount().unwrap();
        assert!(!is_mount_point(&mount).unwrap());
        assert!(
            Tmpfs::mount(&dir.path().join("disk"), 4).is_ok(),
            "the empty mount point can be used again"
        );
    }

    #[test]
    fn a_full_disk_is_recognised() {
        assert!(is_full(&io::Error::from_raw_os_error(28)));
        assert!(!is_full(&io::Error::from_raw_os_error(13)));
    }
}
