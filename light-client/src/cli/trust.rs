//! `herald log trust`: one log file per log the gateway trusts.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use herald_light_client::CheckedTrustList;
use herald_proto::inclusion::LogTrust;
use serde_json::json;

use super::cm::files::{log_file_text, write_atomic};

/// A file name for `origin`'s log: its domain, with anything but letters, digits, `.` and `-`
/// replaced (origins come from the gateway).
fn file_name(origin: &str) -> String {
    let domain = origin.strip_suffix("/herald").unwrap_or(origin);
    let safe: String = domain
        .chars()
        .take(200)
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' => c,
            '.' => '.',
            _ => '_',
        })
        .collect();
    // Never "." or "..", never hidden.
    format!("{}.toml", safe.trim_start_matches('.'))
}

/// Writes `list` into `dir` as `<domain>.toml` files and prints what was written.
pub fn write(
    list: &CheckedTrustList,
    dir: &Path,
    clock_skew: u64,
    max_merge_delay: u64,
    json: bool,
) -> anyhow::Result<()> {
    // δ and MMD out of proto's bounds would be written now and refused only when the file is
    // read: refused here, before any file is written.
    herald_proto::certmail::Location::new(list.own.clone(), clock_skew, max_merge_delay)
        .context("--clock-skew / --max-merge-delay")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written: Vec<(&str, &LogTrust, PathBuf)> = Vec::new();
    let all = std::iter::once(("own", &list.own)).chain(list.peers.iter().map(|p| ("peer", p)));
    for (role, trust) in all {
        let path = dir.join(file_name(trust.origin()));
        if written.iter().any(|(_, _, p)| *p == path) {
            anyhow::bail!(
                "two logs would be written to {} (origins that differ only in odd characters)",
                path.display()
            );
        }
        let text = log_file_text(trust, Some(clock_skew), Some(max_merge_delay))
            .map_err(|e| anyhow::anyhow!("writing the log file of {}: {e}", trust.origin()))?;
        write_atomic(&path, text.as_bytes())?;
        written.push((role, trust, path));
    }
    if json {
        let logs: Vec<_> = written
            .iter()
            .map(|(role, t, path)| {
                json!({
                    "role": role,
                    "origin": t.origin(),
                    "log_key": t.policy().log().to_string(),
                    "witnesses": t.policy().witnesses().len(),
                    "quorum": t.policy().quorum(),
                    "file": path,
                })
            })
            .collect();
        let v =
            json!({ "logs": logs, "clock_skew": clock_skew, "max_merge_delay": max_merge_delay });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        for (role, t, path) in &written {
            println!(
                "{role:<5} {:<28} {} witnesses, quorum {}  -> {}",
                t.origin().escape_debug().to_string(),
                t.policy().witnesses().len(),
                t.policy().quorum(),
                path.display()
            );
        }
        println!(
            "each file names δ = {clock_skew} s and MMD = {max_merge_delay} s; the peers' keys are the gateway's word"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_the_directory() {
        assert_eq!(file_name("beta.test/herald"), "beta.test.toml");
        assert_eq!(file_name("../../etc/herald"), "_.._etc.toml");
        assert_eq!(file_name(".hidden/herald"), "hidden.toml");
        assert!(!file_name("a/b\u{0}c").contains('/'));
    }
}
