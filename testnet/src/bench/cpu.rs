//! CPU time of the bench's processes over a measured run, per operation: a figure that does
//! not depend on how loaded the shared machine is (wall-clock rates do), so two binaries can be
//! compared by it even when their runs did not share the machine alike.
//!
//! Read through `cpu_time` (`/proc/<pid>/stat`). Elsewhere, or if a process is gone, there is
//! no figure (`None`), never a made-up one.

use std::time::Duration;

use serde::Serialize;

use super::cpu_time;

/// A reading of named processes' CPU time at one moment.
#[derive(Debug, Clone)]
pub(super) struct CpuReading {
    processes: Vec<(String, u32, Option<Duration>)>,
    /// Each process's context switches at the reading (`cpu_time::context_switches`).
    switches: Vec<Option<u64>>,
}

impl CpuReading {
    /// Reads `processes` (name, pid) now.
    pub(super) fn now(processes: &[(String, u32)]) -> Self {
        CpuReading {
            processes: (processes.iter())
                .map(|(name, pid)| (name.clone(), *pid, cpu_time::process(*pid)))
                .collect(),
            switches: (processes.iter())
                .map(|(_, pid)| cpu_time::context_switches(*pid))
                .collect(),
        }
    }

    /// The CPU each process spent from `self` to a reading of the same processes now, in
    /// milliseconds per operation for `operations` operations.
    pub(super) fn per_operation(&self, operations: usize) -> Option<CpuPerOperation> {
        if operations == 0 {
            return None;
        }
        let mut by_process = Vec::with_capacity(self.processes.len());
        for ((name, pid, before), switches) in self.processes.iter().zip(&self.switches) {
            let spent = cpu_time::process(*pid)?.checked_sub((*before)?)?;
            let ms = spent.as_secs_f64() * 1000.0 / operations as f64;
            let switched = cpu_time::context_switches(*pid)
                .zip(*switches)
                .map(|(now, before)| now.saturating_sub(before) as f64 / operations as f64);
            by_process.push(ProcessCpu {
                process: name.clone(),
                cpu_ms: ms,
                context_switches: switched,
            });
        }
        let total_cpu_ms = by_process.iter().map(|p| p.cpu_ms).sum();
        Some(CpuPerOperation {
            total_cpu_ms,
            by_process,
        })
    }
}

/// CPU milliseconds per operation, over the processes and by process.
#[derive(Debug, Clone, Serialize)]
pub(super) struct CpuPerOperation {
    /// All the processes together.
    pub total_cpu_ms: f64,
    /// Each process's share.
    pub by_process: Vec<ProcessCpu>,
}

/// One process's CPU milliseconds per operation.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ProcessCpu {
    /// Which process (`bench`, `d0`, ...).
    pub process: String,
    /// Its CPU (user + system) per operation.
    pub cpu_ms: f64,
    /// Its threads' context switches per operation (a lower bound: threads that ended during
    /// the run are not counted); `None` without `/proc`.
    pub context_switches: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_process_is_read_and_its_cpu_grows_with_work() {
        let me = vec![("bench".to_owned(), std::process::id())];
        let before = CpuReading::now(&me);
        assert!(before.processes[0].2.is_some(), "/proc/<pid>/stat readable");
        // Work until the process's own clock shows 30 ms more (three ticks), however loaded
        // the machine; bounded in wall time.
        let started = std::time::Instant::now();
        let mut x = 0u64;
        loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            let cpu = before.per_operation(1).expect("a figure");
            if cpu.total_cpu_ms >= 30.0 {
                assert_eq!(cpu.by_process[0].process, "bench");
                // Per operation: the same CPU over ten operations is a tenth.
                let tenth = before.per_operation(10).expect("a figure").total_cpu_ms;
                assert!(tenth >= 3.0 && tenth <= cpu.total_cpu_ms, "{tenth} {cpu:?}");
                return;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{cpu:?}"
            );
        }
    }

    #[test]
    fn a_process_that_is_not_there_gives_no_figure() {
        // Pids are at most 2^22 on Linux: this one cannot exist.
        let gone = vec![("d0".to_owned(), u32::MAX)];
        assert!(CpuReading::now(&gone).per_operation(10).is_none());
        let me = vec![("bench".to_owned(), std::process::id())];
        assert!(CpuReading::now(&me).per_operation(0).is_none());
    }
}
