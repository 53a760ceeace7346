//! The last check of a chaos run: no process it started is left. Read from the process table
//! (`/proc`): this process's children that are still alive, and any process whose command line
//! names the run's directory (every node's does: its configuration file lives there), sparing
//! this process and the ones that started it (a wrapper such as `timeout` may name it too).

use std::path::Path;
use std::time::Duration;

use crate::process::{self, Liveness};

/// Processes left behind by the run: this process's children that are still alive (not
/// zombies), and any process whose command line names `dir` (this process and the ones that
/// started it, which may name it too, excepted); waits at most `bound` for them to go. Each as
/// (pid, command line).
pub(super) async fn leftover_processes(dir: &Path, bound: Duration) -> Vec<(u32, String)> {
    let dir = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let mut ancestors = Vec::new();
    let mut next = parent_of(me);
    while let Some(pid) = next.filter(|p| *p > 1 && ancestors.len() < 64) {
        ancestors.push(pid);
        next = parent_of(pid);
    }
    let scan = || {
        let mut left = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return left;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == me || ancestors.contains(&pid) || process::liveness(pid) != Liveness::Alive {
                continue;
            }
            let Some(args) = process::command_line(pid) else {
                continue;
            };
            let line = args.join(" ");
            if parent_of(pid) == Some(me) || line.contains(&dir) {
                left.push((pid, line));
            }
        }
        left
    };
    match crate::wait::until(bound, Duration::from_millis(100), || async {
        let left = scan();
        if left.is_empty() { Ok(()) } else { Err(left) }
    })
    .await
    {
        Ok(()) => Vec::new(),
        Err(left) => left.unwrap_or_else(scan),
    }
}

/// The parent pid of `pid` (`/proc/<pid>/stat`, the field after the state).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_of_a_child_is_this_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert_eq!(parent_of(child.id()), Some(std::process::id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(parent_of(child.id()), None);
    }

    #[tokio::test]
    async fn a_child_left_running_is_found_and_a_reaped_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("marker");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let left = leftover_processes(&marker, Duration::from_millis(200)).await;
        assert!(left.iter().any(|(pid, _)| *pid == child.id()), "{left:?}");
        child.kill().unwrap();
        child.wait().unwrap();
        let left = leftover_processes(&marker, Duration::from_secs(5)).await;
        assert!(left.iter().all(|(pid, _)| *pid != child.id()), "{left:?}");
    }
}
