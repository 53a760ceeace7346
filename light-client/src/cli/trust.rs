//! `herald log trust`: one log file per log the gateway trusts, trusted on first use only when
//! the user says so, and never silently changed afterwards.
//!
//! The gateway's own log key is the one the user gave (`--log-key`/`--log`); everything else —
//! its witnesses, and each peer's log key, hash, witnesses and quorum — is the gateway's word. So
//! every log is printed with its keys and a fingerprint, and each file is written only when:
//! - a file for that log already exists in DIR and says exactly the same (unchanged; δ and MMD
//!   are the user's own numbers and may change); or
//! - a log file the user already holds (`--known FILE`) says exactly the same (confirmed); or
//! - the user confirms the new logs: `--yes`, or "yes" typed at the prompt when standard input is
//!   a terminal.
//!
//! A log whose file in DIR (or whose `--known` file) says something else is refused, and then
//! nothing at all is written: a gateway that starts stating other keys for a log the user
//! trusts is exactly what this guards against. To accept a real key change, remove that file
//! and run again.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use herald_light_client::CheckedTrustList;
use herald_light_client::durable_file;
use herald_proto::inclusion::LogTrust;
use serde_json::json;

use super::cm::files::{log_file_text, read_trust, write_atomic};

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

/// What a log file commits to, in a form two descriptions compare by: the log key, the hash,
/// the quorum and the witness keys in sorted order (their order in a file means nothing).
fn canonical(trust: &LogTrust) -> String {
    let mut witnesses: Vec<String> = trust
        .policy()
        .map_or(&[][..], |p| p.witnesses())
        .iter()
        .map(ToString::to_string)
        .collect();
    witnesses.sort();
    format!(
        "log_key {}\nhash {}\nquorum {}\nwitnesses {}\n",
        trust.log(),
        trust.algorithm(),
        trust.policy().map_or(0, |p| p.quorum()),
        witnesses.join(" ")
    )
}

/// A short fingerprint of what a log file commits to (BLAKE3 of [`canonical`], 16 bytes in
/// groups of four hex digits), to compare by eye or over the phone with the domain's operator.
pub(super) fn fingerprint(trust: &LogTrust) -> String {
    let hash = blake3::derive_key(
        "herald v1 log file fingerprint",
        canonical(trust).as_bytes(),
    );
    hex::encode(&hash[..16])
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// Where one log stands against what the user already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Its file in DIR says the same.
    Unchanged,
    /// A `--known` file says the same.
    Confirmed,
    /// Nothing the user holds names it: trust on first use, if confirmed.
    New,
    /// Its file in DIR says something else.
    Changed,
    /// A `--known` file says something else.
    Contradicted,
}

impl Standing {
    fn id(self) -> &'static str {
        match self {
            Standing::Unchanged => "unchanged",
            Standing::Confirmed => "confirmed",
            Standing::New => "new",
            Standing::Changed => "CHANGED",
            Standing::Contradicted => "CONTRADICTED",
        }
    }
}

/// One log of the list, where its file goes, and how it stands.
struct Planned<'a> {
    role: &'static str,
    trust: &'a LogTrust,
    path: PathBuf,
    standing: Standing,
    /// What the user holds for it, when that differs.
    held: Option<(PathBuf, LogTrust)>,
}

/// Reads the `--known` log files (before any connection, so a typo costs no round trip).
pub(super) fn read_known(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, LogTrust)>> {
    paths
        .iter()
        .map(|p| Ok((p.clone(), read_trust(p)?)))
        .collect()
}

/// How `write` may get a confirmation for new logs.
pub(super) struct Confirmation {
    /// `--yes`: the user checked the printed keys already.
    pub yes: bool,
    /// Log files the user already holds.
    pub known: Vec<(PathBuf, LogTrust)>,
}

fn plan<'a>(
    list: &'a CheckedTrustList,
    dir: &Path,
    known: &[(PathBuf, LogTrust)],
) -> anyhow::Result<Vec<Planned<'a>>> {
    let mut planned: Vec<Planned<'a>> = Vec::new();
    let all = std::iter::once(("own", &list.own)).chain(list.peers.iter().map(|p| ("peer", p)));
    for (role, trust) in all {
        let path = dir.join(file_name(trust.origin()));
        if planned.iter().any(|p| p.path == path) {
            bail!(
                "two logs would be written to {} (origins that differ only in odd characters)",
                path.display()
            );
        }
        let mut standing = Standing::New;
        let mut held = None;
        if path.exists() {
            let existing = read_trust(&path).with_context(|| {
                format!(
                    "{} is in the way and is not a log file this version reads",
                    path.display()
                )
            })?;
            if canonical(&existing) == canonical(trust) {
                standing = Standing::Unchanged;
            } else {
                standing = Standing::Changed;
                held = Some((path.clone(), existing));
            }
        }
        if standing == Standing::New
            && let Some((file, mine)) = known.iter().find(|(_, k)| k.origin() == trust.origin())
        {
            if canonical(mine) == canonical(trust) {
                standing = Standing::Confirmed;
            } else {
                standing = Standing::Contradicted;
                held = Some((file.clone(), mine.clone()));
            }
        }
        planned.push(Planned {
            role,
            trust,
            path,
            standing,
            held,
        });
    }
    Ok(planned)
}

fn print_plan(planned: &[Planned<'_>], json: bool, clock_skew: u64, max_merge_delay: u64) {
    if json {
        let logs: Vec<_> = planned
            .iter()
            .map(|p| {
                json!({
                    "role": p.role,
                    "origin": p.trust.origin(),
                    "status": p.standing.id().to_lowercase(),
                    "fingerprint": fingerprint(p.trust),
                    "log_key": p.trust.log().to_string(),
                    "hash": p.trust.algorithm().to_string(),
                    "witness_keys": p.trust.policy().map_or(&[][..], |p| p.witnesses()).iter().map(ToString::to_string)
                        .collect::<Vec<_>>(),
                    "witnesses": p.trust.policy().map_or(&[][..], |p| p.witnesses()).len(),
                    "quorum": p.trust.policy().map_or(0, |p| p.quorum()),
                    "held_fingerprint": p.held.as_ref().map(|(_, t)| fingerprint(t)),
                    "held_file": p.held.as_ref().map(|(f, _)| f.clone()),
                    "file": p.path,
                })
            })
            .collect();
        let v =
            json!({ "logs": logs, "clock_skew": clock_skew, "max_merge_delay": max_merge_delay });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    for p in planned {
        // Names and keys come from the gateway: printed escaped.
        println!(
            "{:<5} {:<28} {:<12} fingerprint {}",
            p.role,
            p.trust.origin().escape_debug().to_string(),
            p.standing.id(),
            fingerprint(p.trust)
        );
        println!(
            "      log key  {}",
            p.trust.log().to_string().escape_debug()
        );
        for w in p.trust.policy().map_or(&[][..], |p| p.witnesses()) {
            println!("      witness  {}", w.to_string().escape_debug());
        }
        println!(
            "      hash {}, quorum {} of {}  -> {}",
            p.trust.algorithm(),
            p.trust.policy().map_or(0, |p| p.quorum()),
            p.trust.policy().map_or(&[][..], |p| p.witnesses()).len(),
            p.path.display()
        );
        if let Some((file, held)) = &p.held {
            println!(
                "      but {} says fingerprint {} (log key {})",
                file.display(),
                fingerprint(held),
                held.log().to_string().escape_debug()
            );
        }
    }
}

/// Asks on the terminal whether to trust `new` logs; `false` unless "yes" is typed.
fn ask(new: usize) -> anyhow::Result<bool> {
    eprint!(
        "trust {new} new log(s) as printed above? Check the fingerprints with their operators. Type yes to write them: "
    );
    std::io::stderr().flush().ok();
    let mut line = String::new();
    // One short line: anything longer is not "yes".
    std::io::stdin()
        .lock()
        .take(64)
        .read_line(&mut line)
        .context("reading the confirmation")?;
    Ok(line.trim() == "yes")
}

/// Writes `list` into `dir` as `<domain>.toml` files, after showing every log and getting the
/// confirmation the module docs describe; nothing is written if any log is refused.
pub(super) fn write(
    list: &CheckedTrustList,
    dir: &Path,
    clock_skew: u64,
    max_merge_delay: u64,
    json: bool,
    confirmation: &Confirmation,
) -> anyhow::Result<()> {
    // δ and MMD out of proto's bounds would be written now and refused only when the file is
    // read: refused here, before any file is written.
    herald_proto::certmail::Location::new(list.own.clone(), clock_skew, max_merge_delay)
        .context("--clock-skew / --max-merge-delay")?;
    let planned = plan(list, dir, &confirmation.known)?;
    print_plan(&planned, json, clock_skew, max_merge_delay);
    let refused: Vec<&Planned<'_>> = planned
        .iter()
        .filter(|p| matches!(p.standing, Standing::Changed | Standing::Contradicted))
        .collect();
    if let Some(first) = refused.first() {
        bail!(
            "nothing written: the gateway states {} log(s) differently from what you hold ({} first). If a domain really changed its keys, check with its operator, remove the file you hold and run again",
            refused.len(),
            first.trust.origin().escape_debug()
        );
    }
    let new = planned
        .iter()
        .filter(|p| p.standing == Standing::New)
        .count();
    if new > 0 && !confirmation.yes {
        let interactive = !json && std::io::stdin().is_terminal();
        if !interactive || !ask(new)? {
            bail!(
                "nothing written: {new} new log(s) are the gateway's word; check the keys and fingerprints printed above with the domains' operators, then run again with --yes (or give the log files you hold with --known)"
            );
        }
    }
    durable_file::create_private_dir(dir)?;
    for p in &planned {
        let text = log_file_text(p.trust, Some(clock_skew), Some(max_merge_delay))
            .map_err(|e| anyhow::anyhow!("writing the log file of {}: {e}", p.trust.origin()))?;
        write_atomic(&p.path, text.as_bytes())?;
    }
    if !json {
        println!(
            "wrote {} log file(s) ({new} new); each names δ = {clock_skew} s and MMD = {max_merge_delay} s",
            planned.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use herald_proto::checkpoint::{WitnessPolicy, WitnessSigner};
    use herald_proto::merkle::HashAlgorithm;
    use herald_proto::note::NoteSigner;

    fn log(domain: &str, seed: u8, witnesses: &[u8]) -> LogTrust {
        let signer = NoteSigner::new(
            &format!("{domain}/herald"),
            SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap();
        let witnesses = witnesses
            .iter()
            .map(|&s| {
                WitnessSigner::new(&format!("w{s}.test"), SigningKey::from_bytes(&[s; 32]))
                    .unwrap()
                    .verifier()
            })
            .collect();
        let policy = WitnessPolicy::new(signer.verifier(), witnesses, 1).unwrap();
        LogTrust::new(policy, HashAlgorithm::Blake3)
    }

    #[test]
    fn file_names_stay_in_the_directory() {
        assert_eq!(file_name("beta.test/herald"), "beta.test.toml");
        assert_eq!(file_name("../../etc/herald"), "_.._etc.toml");
        assert_eq!(file_name(".hidden/herald"), "hidden.toml");
        assert!(!file_name("a/b\u{0}c").contains('/'));
    }

    #[test]
    fn fingerprints_follow_keys_not_the_order_of_witnesses() {
        let a = log("beta.test", 1, &[2, 3]);
        assert_eq!(fingerprint(&a), fingerprint(&log("beta.test", 1, &[3, 2])));
        assert_ne!(fingerprint(&a), fingerprint(&log("beta.test", 9, &[2, 3])));
        assert_ne!(fingerprint(&a), fingerprint(&log("beta.test", 1, &[2, 4])));
        // 16 bytes in eight groups of four hex digits.
        assert_eq!(fingerprint(&a).len(), 8 * 4 + 7);
    }

    #[test]
    fn a_log_file_in_the_way_is_unchanged_changed_or_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let list = CheckedTrustList {
            own: log("alpha.test", 1, &[2]),
            peers: vec![log("beta.test", 3, &[4]), log("gamma.test", 5, &[6])],
        };
        let write_file = |name: &str, t: &LogTrust| {
            std::fs::write(
                dir.path().join(name),
                log_file_text(t, Some(1), Some(2)).unwrap(),
            )
            .unwrap();
        };
        write_file("alpha.test.toml", &list.own);
        // The user trusted another key for beta than the gateway states now.
        write_file("beta.test.toml", &log("beta.test", 33, &[4]));
        let known_gamma = dir.path().join("gamma-known.toml");
        std::fs::write(
            &known_gamma,
            log_file_text(&list.peers[1], None, None).unwrap(),
        )
        .unwrap();
        let known = read_known(&[known_gamma]).unwrap();
        let planned = plan(&list, dir.path(), &known).unwrap();
        let standings: Vec<Standing> = planned.iter().map(|p| p.standing).collect();
        assert_eq!(
            standings,
            [Standing::Unchanged, Standing::Changed, Standing::Confirmed]
        );
        // Changed: nothing is written, not even the confirmed gamma.
        let confirmation = Confirmation { yes: true, known };
        assert!(write(&list, dir.path(), 1, 2, true, &confirmation).is_err());
        assert!(!dir.path().join("gamma.test.toml").exists());
    }
}
