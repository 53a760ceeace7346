//! [`Tmpfs`]: a small tmpfs mounted for a node's data directory (the chaos run's disk fault, the
//! full-disk tests), unmounted in every path.
//!
//! Mounting needs root (CI runs as root). The guard owns the mount: it is unmounted when the
//! guard drops — at the end of a run or test, on an error, on Ctrl-C — lazily (`umount -l`) if
//! something still holds it. Declare it before the `Testnet` whose node lives on it, so that the
//! node processes are gone first.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail, ensure};

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

    /// Gives the mounted tmpfs a new size of `mib` MiB (its files stay).
    pub fn resize(&mut self, mib: u64) -> anyhow::Result<()> {
        ensure!(mib > 0, "a tmpfs of 0 MiB");
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.path)
            .status()
            .context("running mount")?;
        ensure!(
            status.success(),
            "remounting the tmpfs on {} failed ({status})",
            self.path.display()
        );
        self.mib = mib;
        Ok(())
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
            eprintln!("herald-testnet: {e:#}");
        }
    }
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
    fn a_tmpfs_mounts_resizes_and_unmounts() {
        let dir = tempfile::tempdir().unwrap();
        let mut disk = Tmpfs::mount(&dir.path().join("disk"), 4).unwrap();
        let mount = disk.path().to_owned();
        assert!(is_mount_point(&mount).unwrap());
        let free = disk.free_bytes().unwrap();
        assert!(free > 3 << 20 && free <= 4 << 20, "{free}");
        fs::write(mount.join("kept"), b"x").unwrap();
        disk.resize(8).unwrap();
        assert_eq!(disk.mib(), 8);
        assert!(disk.free_bytes().unwrap() > 7 << 20);
        assert_eq!(fs::read(mount.join("kept")).unwrap(), b"x", "files stay");
        fs::remove_file(mount.join("kept")).unwrap();
        disk.unmount().unwrap();
        assert!(!is_mount_point(&mount).unwrap());
        assert!(
            Tmpfs::mount(&dir.path().join("disk"), 4).is_ok(),
            "the empty mount point can be used again"
        );
        assert!(Tmpfs::mount(&dir.path().join("other"), 0).is_err());
    }
}
