//! `herald account init` as a user runs it: the floor under a new key store (F10 of the
//! reliability review) — weak Argon2id costs and weak passphrases are refused with the rule they
//! break, and nothing is written.

use std::path::Path;
use std::process::{Command, Output};

fn init(home: &Path, passphrase: &str, memory_kib: &str, iterations: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "account",
            "init",
            "--account",
            "alice@alpha.test",
            "--kdf-memory-kib",
            memory_kib,
            "--kdf-iterations",
            iterations,
        ])
        .env("HERALD_HOME", home)
        .env("HERALD_PASSPHRASE", passphrase)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The review made a store with `--kdf-memory-kib 8 --kdf-iterations 1` and the passphrase
/// "a", and `herald` said nothing. Each weakness is refused now, exit 1, with its rule.
#[test]
fn attack_account_init_refuses_weak_kdf_costs_and_weak_passphrases() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    for (passphrase, memory, passes, says) in [
        ("a", "8", "1", "19456 KiB"),
        ("a long passphrase", "8", "1", "19456 KiB"),
        ("a long passphrase", "19456", "1", "2 passes"),
        ("a", "19456", "2", "at least 12"),
        ("password1234", "19456", "2", "too predictable"),
    ] {
        let o = init(&home, passphrase, memory, passes);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains(says), "{says:?} in {}", text(&o));
        assert!(!home.join("keystore").exists(), "{}", text(&o));
    }
    let o = init(&home, "a long passphrase", "19456", "2");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(home.join("keystore").exists());
}
