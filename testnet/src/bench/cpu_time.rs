//! CPU time (user + system) of the processes and threads a bench runs, read from Linux's
//! `/proc`, so a bench can report CPU per operation: a figure that, unlike operations per
//! second, does not move much with whatever else the shared machine is running.
//!
//! `/proc/<pid>/stat` counts a process's every thread, dead ones included;
//! `/proc/self/task/<tid>/stat` one thread. Both count in clock ticks of `USER_HZ`, which Linux
//! fixes at 100 for user space on every architecture the project builds for: 10 ms resolution,
//! under 1% of the seconds of CPU a bench window spends. On a system without `/proc` every
//! figure is `None` and the bench reports none.

use std::time::Duration;

/// Linux's `USER_HZ` (the unit of `utime` and `stime` in `/proc/.../stat`).
const USER_HZ: u64 = 100;

/// CPU time process `pid` has used so far.
pub(super) fn process(pid: u32) -> Option<Duration> {
    stat_cpu(&format!("/proc/{pid}/stat"))
}

/// CPU time this process has used so far.
pub(super) fn own_process() -> Option<Duration> {
    stat_cpu("/proc/self/stat")
}

/// CPU time used so far by this process's live threads named `name` (a thread's name is cut to
/// 15 bytes by Linux; `name` should be shorter).
pub(super) fn own_threads(name: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(task) = task else { continue };
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name
            && let Some(cpu) = stat_cpu(&task.path().join("stat").to_string_lossy())
        {
            total += cpu;
        }
    }
    Some(total)
}

/// Context switches (voluntary and not) of process `pid`'s live threads so far, from each
/// `/proc/<pid>/task/<tid>/status`: a thread that ended since an earlier reading takes its
/// count with it, so a difference of two readings can only be low, never high.
pub(super) fn context_switches(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(task) = task else { continue };
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += n.trim().parse::<u64>().ok()?;
            }
        }
    }
    Some(total)
}

/// `utime + stime` of a `stat` file. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its closing parenthesis: `utime` and `stime` are
/// the 12th and 13th there (fields 14 and 15 of proc(5)).
fn stat_cpu(path: &str) -> Option<Duration> {
    let text = std::fs::read_to_string(path).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_grows_with_work_and_threads_are_found_by_name() {
        let before = own_process().expect("Linux /proc");
        let worker = std::thread::Builder::new()
            .name("cpu-time-test".into())
            .spawn(|| {
                // Work until this thread's own clock shows 30 ms (three ticks), however loaded
                // the machine; bounded in wall time.
                let started = std::time::Instant::now();
                let mut x = 0u64;
                loop {
                    for _ in 0..100_000 {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                    let own = own_threads("cpu-time-test").expect("Linux /proc");
                    if own >= Duration::from_millis(30) {
                        return own;
                    }
                    assert!(started.elapsed() < Duration::from_secs(20), "{own:?}");
                }
            })
            .unwrap();
        let thread_cpu = worker.join().unwrap();
        assert!(own_process().unwrap() >= before + thread_cpu);
        assert_eq!(own_threads("no-such-thread"), Some(Duration::ZERO));
        assert!(process(std::process::id()).is_some());
    }
}
