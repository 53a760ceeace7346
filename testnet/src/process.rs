//! One node as an operating-system process: started from the testnet binary's hidden `node`
//! subcommand (so it runs the real `herald-node` command line), found through the `node.json` it
//! writes, and signalled by pid.
//!
//! Every wait here is bounded. A node the library starts learns its parent's pid from
//! [`PARENT_PID_ENV`] and shuts down if that parent disappears ([`watch_parent_from_env`]): a
//! test process killed by its harness cannot run its `Drop`s, and must still leave no node
//! behind. Nodes started for `herald-testnet up` are detached (own process group, no watch) so
//! that they outlive the command.

use std::fs::{self, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use herald_node::fault::FaultPoint;
use herald_node::gateway::NodeInfo;
use libp2p::Multiaddr;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::{TestnetError, io_error};

/// Environment variable carrying the pid of the process that supervises a node.
pub const PARENT_PID_ENV: &str = "HERALD_TESTNET_PARENT_PID";

/// Environment variable naming the test-only fault point a node arms
/// ([`herald_node::fault`]); set only for a node a test asked it for (`Launch::fault`).
pub const FAULT_ENV: &str = "HERALD_TESTNET_FAULT";

/// How often bounded waits look again.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// How a supervised node that lost its parent is given time to stop cleanly before it exits.
const ORPHAN_GRACE: Duration = Duration::from_secs(10);

/// Bytes of a node's log shown in an error.
const LOG_TAIL_BYTES: u64 = 4096;

/// What it takes to start one node process.
#[derive(Debug)]
pub(crate) struct Launch<'a> {
    /// The testnet executable (it has the hidden `node` subcommand).
    pub binary: &'a Path,
    /// The node's domain, for errors.
    pub domain: &'a str,
    /// Its configuration file.
    pub config: &'a Path,
    /// Where its stdout and stderr go (appended).
    pub log: &'a Path,
    /// libp2p listen addresses overriding the file's (empty: the file's).
    pub listen: &'a [Multiaddr],
    /// HTTP listen address overriding the file's.
    pub http_listen: Option<SocketAddr>,
    /// Own process group and no parent watch: the node outlives whoever started it.
    pub detached: bool,
    /// A test-only fault point the node arms ([`FAULT_ENV`]).
    pub fault: Option<FaultPoint>,
}

/// Starts `<binary> node run --config <config> [overrides]`, output appended to the log file.
/// `HERALD_*` variables of this process are not passed on: the configuration file and the
/// flags given here decide everything.
pub(crate) fn spawn(launch: &Launch<'_>) -> Result<Child, TestnetError> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(launch.log)
        .map_err(io_error(launch.log))?;
    let log_err = log.try_clone().map_err(io_error(launch.log))?;
    let mut command = Command::new(launch.binary);
    command
        .arg("node")
        .arg("run")
        .arg("--config")
        .arg(launch.config);
    if !launch.listen.is_empty() {
        let listen: Vec<String> = launch.listen.iter().map(|a| a.to_string()).collect();
        command.arg("--listen").arg(listen.join(","));
    }
    if let Some(http) = launch.http_listen {
        command.arg("--http-listen").arg(http.to_string());
    }
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HERALD_") {
            command.env_remove(key);
        }
    }
    if let Some(point) = launch.fault {
        command.env(FAULT_ENV, point.as_str());
    }
    if launch.detached {
        command.process_group(0);
    } else {
        command.env(PARENT_PID_ENV, std::process::id().to_string());
    }
    command
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|source| TestnetError::Spawn {
            domain: launch.domain.to_owned(),
            binary: launch.binary.to_owned(),
            source,
        })
}

/// Waits until the node `child` writes `node.json` naming its own pid (a file left by a killed
/// predecessor names another), at most `bound`. Fails at once if the child exits.
pub(crate) async fn wait_for_node_info(
    child: &mut Child,
    domain: &str,
    info_path: &Path,
    log: &Path,
    bound: Duration,
) -> Result<NodeInfo, TestnetError> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().map_err(io_error(log))? {
            return Err(exited(domain, status, log));
        }
        if let Ok(info) = NodeInfo::read(info_path)
            && info.pid == child.id()
        {
            return Ok(info);
        }
        if Instant::now() >= deadline {
            return Err(TestnetError::Timeout {
                domain: domain.to_owned(),
                what: format!("{} naming pid {}", info_path.display(), child.id()),
                after: bound,
                log: log.to_owned(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The error for a node that exited on its own.
pub(crate) fn exited(domain: &str, status: ExitStatus, log: &Path) -> TestnetError {
    TestnetError::Exited {
        domain: domain.to_owned(),
        status: status.to_string(),
        log: log.to_owned(),
        tail: log_tail(log),
    }
}

/// Waits for `child` to exit, at most `bound`; `None` if it is still running.
pub(crate) async fn wait_exit(
    child: &mut Child,
    bound: Duration,
) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_exit`] for places that cannot await (`Drop`).
pub(crate) fn wait_exit_blocking(
    child: &mut Child,
    bound: Duration,
) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

fn pid_of(pid: u32) -> Result<Pid, TestnetError> {
    i32::try_from(pid)
        .map(Pid::from_raw)
        .map_err(|_| TestnetError::Signal {
            pid,
            errno: Errno::EINVAL,
        })
}

/// Sends `signal` to `pid`. `Ok(false)` if there is no such process.
pub fn send_signal(pid: u32, signal: Signal) -> Result<bool, TestnetError> {
    match kill(pid_of(pid)?, signal) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(errno) => Err(TestnetError::Signal { pid, errno }),
    }
}

/// Whether a process is still there, as `/proc` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// It runs (or sleeps, or is stopped).
    Alive,
    /// It has exited and waits for its parent to reap it: it holds no resources but a pid.
    Zombie,
    /// There is no such process.
    Gone,
}

/// The state of `pid` (Linux `/proc/<pid>/stat`).
pub fn liveness(pid: u32) -> Liveness {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Liveness::Gone;
    };
    // "pid (comm) S ...": comm may contain spaces and parentheses; the state follows the last ')'.
    match stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
    {
        Some("Z") | Some("X") => Liveness::Zombie,
        _ => Liveness::Alive,
    }
}

/// The command line of `pid`, or `None` if it is gone (Linux `/proc/<pid>/cmdline`).
pub fn command_line(pid: u32) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// The last few KiB of a log file, for error messages.
pub(crate) fn log_tail(path: &Path) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return format!("({} unreadable)", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.take(LOG_TAIL_BYTES).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Where the data directory of a node keeps its output.
pub(crate) fn log_path(data_dir: &Path) -> PathBuf {
    data_dir.join("node.log")
}

/// In a node started by the library: arms the fault point [`FAULT_ENV`] names, if any, so that
/// the node SIGKILLs itself when it reaches it (a crash at an exact place, as a test needs it).
/// The `herald-node` binary never calls this: only the testnet's nodes can be armed.
pub fn arm_fault_from_env() {
    let Ok(name) = std::env::var(FAULT_ENV) else {
        return;
    };
    let Some(point) = FaultPoint::parse(&name) else {
        eprintln!("herald-testnet node: unknown fault point {name:?}; none armed");
        return;
    };
    eprintln!("herald-testnet node: TEST FAULT ARMED: SIGKILL at {name}");
    herald_node::fault::arm(point, move || {
        eprintln!("herald-testnet node: fault point {name} reached: SIGKILL");
        let _ = kill(Pid::this(), Signal::SIGKILL);
        // Not reached: SIGKILL cannot be caught. Should it fail, end the process all the same.
        std::process::abort();
    });
}

/// In a node started by the library (see the module docs): shuts this process down when its
/// supervising parent is gone. SIGTERM to itself first, so the node stops cleanly; an exit
/// after `ORPHAN_GRACE` if that did not end it.
pub fn watch_parent_from_env() {
    let Some(expected) = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    else {
        return;
    };
    let watcher = std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || {
            loop {
                if std::os::unix::process::parent_id() != expected {
                    let _ = send_signal(std::process::id(), Signal::SIGTERM);
                    std::thread::sleep(ORPHAN_GRACE);
                    std::process::exit(1);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
    if let Err(e) = watcher {
        eprintln!("herald-testnet node: cannot watch the parent process: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_one_is_gone() {
        assert_eq!(liveness(std::process::id()), Liveness::Alive);
        let args = command_line(std::process::id()).unwrap();
        assert!(!args.is_empty());
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(liveness(pid), Liveness::Gone);
        assert!(!send_signal(pid, Signal::SIGTERM).unwrap());
    }

    #[test]
    fn an_unreaped_child_is_a_zombie() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while liveness(pid) != Liveness::Zombie && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        assert_eq!(liveness(pid), Liveness::Zombie);
        child.wait().unwrap();
    }

    #[test]
    fn the_tail_of_a_log_is_its_last_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.log");
        let mut text = "x".repeat(10_000);
        text.push_str("the end\n");
        fs::write(&path, &text).unwrap();
        let tail = log_tail(&path);
        assert_eq!(tail.len() as u64, LOG_TAIL_BYTES);
        assert!(tail.ends_with("the end\n"));
        assert!(log_tail(&dir.path().join("missing")).contains("unreadable"));
    }
}
