//! The node benchmarks' report file: `<target>/bench-report/node-log.json`, one section per
//! benchmark binary, merged so that running one bench keeps the other's figures.

use std::path::{Path, PathBuf};

fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

/// A directory on the same disk as the target dir for the benchmarks' logs (not /tmp, which
/// may be a RAM disk and would flatter every flush).
pub(crate) fn scratch_dir() -> PathBuf {
    let dir = target_dir().join("bench-scratch");
    std::fs::create_dir_all(&dir).expect("create bench scratch dir");
    dir
}

/// Replaces `section` in the report with `value`, keeping the other sections.
pub(crate) fn write_section(section: &str, value: serde_json::Value) {
    let dir = target_dir().join("bench-report");
    let path = dir.join("node-log.json");
    let mut report: serde_json::Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({ "crate": "herald-node" }));
    report[section] = value;
    report["cores"] = serde_json::json!(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let text = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
        std::fs::write(&path, text + "\n")
    });
    match written {
        Ok(()) => eprintln!("{section}: report written to {}", path.display()),
        Err(e) => eprintln!("{section}: cannot write {}: {e}", path.display()),
    }
}

/// The median of some durations, in seconds.
#[allow(dead_code)] // used by the sequencer bench only
pub(crate) fn median_secs(xs: &[std::time::Duration]) -> f64 {
    let v: Vec<f64> = xs.iter().map(|d| d.as_secs_f64()).collect();
    median(&v)
}

/// CPU time (user + system, all threads) this process has used so far, from `/proc/self/stat`
/// (clock ticks of 10 ms on Linux); `None` where that file does not exist.
#[allow(dead_code)] // used by the sequencer bench only
pub(crate) fn process_cpu() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_millis(ticks * 10))
}

/// The median of some ratios.
pub(crate) fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
