//! A small tmpfs mounted for one test (needs root, as CI runs), unmounted in every path: on
//! drop, after the nodes that use it are gone (declare it before the `Testnet`, so it drops
//! after), lazily if something still holds it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs of a fixed size.
#[derive(Debug)]
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Creates `path` if missing and mounts a tmpfs of `mib` MiB on it.
    pub fn mount(path: &Path, mib: u64) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mount -t tmpfs failed ({status}); this test needs root"
        );
        Tmpfs {
            path: path.to_owned(),
        }
    }

    /// Gives the mounted tmpfs a new size (its files stay).
    pub fn resize(&self, mib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.path)
            .status()
            .expect("running mount");
        assert!(status.success(), "remounting the tmpfs failed ({status})");
    }

    /// Bytes free on it.
    pub fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.path)
            .output()
            .expect("running df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df prints the free bytes")
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds it (a process being reaped): detach it now, freed later.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}
