//! Writes a benchmark's figures to `<target>/bench-report/<file>.json` after criterion has
//! measured them (DESIGN §6: figures in a machine-readable report). Shared by proto's benches.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One benchmark: its criterion group and function, and how many operations one iteration is.
pub(crate) struct Bench {
    /// Criterion's group name.
    pub group: &'static str,
    /// Criterion's function name within the group.
    pub function: String,
    /// Operations per measured iteration.
    pub ops_per_iter: u64,
    /// What an operation is called in the report (`"<op>s_per_s"`).
    pub op: &'static str,
}

/// The workspace's target directory, as cargo and criterion find it.
fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

fn criterion_dir() -> PathBuf {
    std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("criterion"))
}

/// Criterion's mean for one benchmark, in ns per iteration, if it was measured since `started`.
fn fresh_mean_ns(bench: &Bench, started: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(bench.group)
        .join(&bench.function)
        .join("new/estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < started {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}

/// Writes the mean of every benchmark in `benches` measured since `started` to
/// `<target>/bench-report/<file>.json`, with `context`'s fields merged into the report.
pub(crate) fn write_report(
    name: &str,
    file: &str,
    context: serde_json::Value,
    benches: &[Bench],
    started: SystemTime,
) {
    let mut results = Vec::new();
    for bench in benches {
        let Some(mean) = fresh_mean_ns(bench, started) else {
            continue;
        };
        let per_op = mean / bench.ops_per_iter as f64;
        results.push(serde_json::json!({
            "id": format!("{}/{}", bench.group, bench.function),
            "mean_ns_per_iter": mean,
            "ops_per_iter": bench.ops_per_iter,
            "mean_ns_per_op": per_op,
            format!("{}s_per_s", bench.op): 1e9 / per_op,
        }));
    }
    if results.is_empty() {
        eprintln!("{name} bench: nothing measured in this run (test mode?); no report written");
        return;
    }
    let mut report = serde_json::json!({
        "crate": "herald-proto",
        "bench": name,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    if let (Some(report), serde_json::Value::Object(extra)) = (report.as_object_mut(), context) {
        report.extend(extra);
    }
    report["results"] = serde_json::Value::Array(results);
    let dir = target_dir().join("bench-report");
    let path = dir.join(format!("{file}.json"));
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let text = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
        std::fs::write(&path, text + "\n")
    });
    match written {
        Ok(()) => eprintln!("{name} bench: report written to {}", path.display()),
        Err(e) => eprintln!("{name} bench: cannot write {}: {e}", path.display()),
    }
}
