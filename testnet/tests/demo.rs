//! `herald-testnet demo` as a user runs it: it exits 0, tells the story's key steps with the
//! verdicts (the letter and the request travelling as mail, the evidence timeline of both
//! domains), rejects the forgeries, and leaves no node process or temporary directory behind.

use std::process::Command;
use std::time::{Duration, Instant};

use herald_testnet::process::{Liveness, liveness};

const BINARY: &str = env!("CARGO_BIN_EXE_herald-testnet");
/// The demo bounds itself; this is the test's own, larger bound.
const BOUND: Duration = Duration::from_secs(240);

#[test]
fn the_demo_tells_the_whole_story_and_stops_everything_it_started() {
    let mut child = Command::new(BINARY)
        .args(["demo", "--timeout-secs", "200"])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > BOUND {
            let _ = child.kill();
            panic!("the demo did not finish within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );

    for key_line in [
        "Three gateway domains",
        "alice@d0.test",
        "bob@d1.test",
        "Both log in to their own gateway; their certified mail travels as mail",
        "(a) Alice seals the letter for Bob and mails it",
        "Alice → d0.test → d1.test → Bob's mailbox",
        "Bob reads his mailbox: a certified letter from alice@d0.test",
        "(b) Bob asks for the key",
        "Bob → d1.test → d0.test → Alice's mailbox",
        "Alice reads her mailbox: Bob's request",
        "The evidence timeline of both domains",
        "d0.test: 1 record of msg_id",
        "d1.test: 3 records of msg_id",
        "(c) Alice checks the request and publishes the key at X",
        "(d) Bob finds the key at X and opens the letter",
        "Payment of 1,000 € is due",
        "verdict: recipient received it — decided by publication-cosigned-in-time",
        "verdict: not shown — decided by ciphertext-hash",
        "verdict: not shown — decided by decryption",
        "3 node processes started, none left running",
    ] {
        assert!(
            stdout.contains(key_line),
            "missing {key_line:?} in:\n{stdout}"
        );
    }
    // The publication was cosigned by both other domains, by T + δ.
    let cosigned = stdout
        .lines()
        .find(|l| l.contains("cosigned by") && l.contains("before T + δ"))
        .expect("who cosigned the publication");
    for witness in ["d1.test/witness", "d2.test/witness"] {
        assert!(cosigned.contains(witness), "{cosigned}");
    }
    assert!(!cosigned.contains("d0.test/witness"), "{cosigned}");
    // Each gateway's evidence of the letter's mail, each record with its inclusion proof:
    // d0 took it (ACCEPTANCE); d1 took the relay, put it in Bob's mailbox, and Bob fetched it.
    for kind in ["ACCEPTANCE", "RELAY_ACCEPTED", "CONSIGNMENT", "HANDOVER"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} record in:\n{stdout}"));
        assert!(line.contains("inclusion proof of"), "{line}");
    }
    // The bundle holds the letter and its key: private to its owner (every file holding a secret is 0600 in a 0700 directory).
    let kept = stdout
        .lines()
        .find(|l| l.contains("Alice keeps the evidence bundle"))
        .expect("where the bundle is kept");
    assert!(kept.contains("mode 600"), "{kept}");
    // Exactly one honest verdict and two rejections.
    assert_eq!(stdout.matches("verdict: recipient received it").count(), 1);
    assert_eq!(stdout.matches("verdict: not shown").count(), 2);

    // The pids it names are gone, and so is its directory.
    for line in stdout.lines().filter(|l| l.contains("(pid ")) {
        let pid: u32 = line
            .split("(pid ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no pid in {line:?}"));
        assert_ne!(liveness(pid), Liveness::Alive, "pid {pid} is left running");
    }
    let removed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("removed "))
        .expect("the demo says which directory it removed");
    assert!(!std::path::Path::new(removed).exists(), "{removed} is left");
}
