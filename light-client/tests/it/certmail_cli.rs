//! `herald account` and `herald cm`, run as the real binary, each party with its own state
//! directory and encrypted key store, messages as files: the optimistic run from `cm send` to a
//! bundle `herald verify-evidence` accepts, and the sender's refusals (T too soon, unknown
//! location, a request for another ciphertext) printed with their reason and exit 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::certmail_support::*;
use herald_light_client::certmail::decode_sealed;
use herald_light_client::keystore::{FileKeyStore, SecureKeyStore as _};
use prost::Message as _;
use serde_json::Value;

const PASS: &str = "a long passphrase";

struct Party {
    home: PathBuf,
}

impl Party {
    fn new(dir: &Path, name: &str, account: &str) -> Party {
        let home = dir.join(name);
        let party = Party { home };
        let o = party.run(&[
            "account",
            "init",
            "--account",
            account,
            // The floor, cheaper than the default 64 MiB so the test is quick.
            "--kdf-memory-kib",
            "19456",
            "--kdf-iterations",
            "2",
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["account"], account);
        party
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .env("HERALD_HOME", &self.home)
            .env("HERALD_PASSPHRASE", PASS)
            .output()
            .unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn real_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn the_optimistic_run_through_the_cli_ends_in_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Party::new(dir.path(), "alice", ALICE);
    let bob = Party::new(dir.path(), "bob", BOB);
    // A key store is private and refuses a second init.
    assert!(
        !alice
            .run(&["account", "init", "--account", ALICE])
            .status
            .success()
    );
    // The world: alpha is X; beta holds Bob's binding, its prekey signed inside Bob's store.
    let bob_store = FileKeyStore::open(bob.path("keystore"), PASS.as_bytes()).unwrap();
    let bob_ik = bob_store.identity().unwrap().key;
    let world = World::new(real_now() - 60, &bob_store);
    // The CLI opens Bob's store from here on: one process at a time.
    drop(bob_store);
    let o = bob.run(&["account", "show", "--json"]);
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    use base64::Engine as _;
    assert_eq!(
        shown["identity_key"],
        base64::engine::general_purpose::STANDARD.encode(bob_ik.as_bytes())
    );

    // Files for both sides.
    let alpha = world.alpha.log_file(dir.path(), "alpha.toml");
    let beta = world.beta.log_file(dir.path(), "beta.toml");
    let binding = dir.path().join("bob.binding");
    std::fs::write(&binding, world.bob_binding.encode_to_vec()).unwrap();
    let (alpha, beta, binding) = (
        alpha.to_str().unwrap(),
        beta.to_str().unwrap(),
        binding.to_str().unwrap(),
    );
    let m = dir.path().join("m.txt");
    std::fs::write(&m, b"Please find the signed lease attached.").unwrap();

    // (a)
    let o = alice.run(&[
        "cm",
        "send",
        "--to",
        BOB,
        "--file",
        m.to_str().unwrap(),
        "--out",
        &alice.p("msg"),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let sent: Value = serde_json::from_slice(&o.stdout).unwrap();
    let msg_id = sent["id"].as_str().unwrap().to_owned();
    let msg = alice.p("msg");

    // (b), first with a deadline too soon, then one for a location Alice does not offer.
    let accept = |req: &str| {
        alice.run(&[
            "cm",
            "accept",
            "--request",
            req,
            "--binding",
            binding,
            "--domain",
            beta,
            "--offer",
            alpha,
        ])
    };
    let o = bob.run(&[
        "cm",
        "request",
        "--in",
        &msg,
        "--deadline",
        "+30s",
        "--location",
        alpha,
        "--out",
        &bob.p("req-soon"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = accept(&bob.p("req-soon"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("REFUSED (T too soon)"), "{}", text(&o));

    let o = bob.run(&[
        "cm",
        "request",
        "--in",
        &msg,
        "--deadline",
        "+1h",
        "--location",
        beta,
        "--out",
        &bob.p("req-beta"),
    ]);
    // beta.toml has δ and MMD too, so it is a usable location, just not Alice's.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = accept(&bob.p("req-beta"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("unknown location X"), "{}", text(&o));

    // A request for a ciphertext Alice did not send (unsigned message altered on the way).
    let o = alice.run(&[
        "cm",
        "send",
        "--to",
        BOB,
        "--file",
        m.to_str().unwrap(),
        "--out",
        &alice.p("msg2"),
        "--unsigned",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut altered = decode_sealed(&std::fs::read(alice.path("msg2")).unwrap()).unwrap();
    altered.ciphertext[3] ^= 4;
    std::fs::write(bob.path("msg2"), altered.encode_to_vec()).unwrap();
    let o = bob.run(&[
        "cm",
        "request",
        "--in",
        &bob.p("msg2"),
        "--deadline",
        "+1h",
        "--location",
        alpha,
        "--out",
        &bob.p("req-altered"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = accept(&bob.p("req-altered"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("mismatch"), "{}", text(&o));

    // The good request, with X given as flags instead of a file.
    let o = bob.run(&[
        "cm",
        "request",
        "--in",
        &msg,
        "--deadline",
        "+1h",
        "--log-key",
        &world.alpha.signer.verifier().to_string(),
        // The test world's logs are BLAKE3 logs; the default is SHA-256.
        "--hash",
        "blake3",
        "--witness-key",
        &witness(1).verifier().to_string(),
        "--witness-key",
        &witness(2).verifier().to_string(),
        "--witness-key",
        &witness(3).verifier().to_string(),
        "--quorum",
        "2",
        "--clock-skew",
        "60",
        "--max-merge-delay",
        "10",
        "--out",
        &bob.p("req"),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::copy(bob.path("req"), alice.path("req")).unwrap();

    // Optimistic: the key goes straight to Bob.
    let o = alice.run(&[
        "cm",
        "send-key",
        "--request",
        &alice.p("req"),
        "--binding",
        binding,
        "--domain",
        beta,
        "--offer",
        alpha,
        "--out",
        &alice.p("keymsg"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::copy(alice.path("keymsg"), bob.path("keymsg")).unwrap();
    let o = bob.run(&[
        "cm",
        "open-key",
        "--in",
        &bob.p("keymsg"),
        "--out",
        &bob.p("receipt"),
        "--plaintext",
        &bob.p("m.txt"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read(bob.path("m.txt")).unwrap(),
        b"Please find the signed lease attached."
    );
    // Opened and forgotten: the same key does not open twice.
    assert!(
        !bob.run(&[
            "cm",
            "open-key",
            "--in",
            &bob.p("keymsg"),
            "--out",
            &bob.p("r2"),
            "--plaintext",
            &bob.p("m2")
        ])
        .status
        .success()
    );

    std::fs::copy(bob.path("receipt"), alice.path("receipt")).unwrap();
    let o = alice.run(&["cm", "receipt", "--in", &alice.p("receipt")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = alice.run(&["cm", "status", "--json"]);
    let status: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        status["sent"].as_array().unwrap().iter().any(
            |s| s["id"] == msg_id.as_str() && s["status"].as_str().unwrap().starts_with("done")
        ),
        "{status}"
    );

    let o = alice.run(&[
        "cm",
        "evidence",
        "--msg-id",
        &msg_id,
        "--out",
        &alice.p("bundle"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = alice.run(&[
        "cm",
        "evidence",
        "--request",
        &alice.p("req"),
        "--out",
        &alice.p("b2"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read(alice.path("bundle")).unwrap(),
        std::fs::read(alice.path("b2")).unwrap()
    );

    let o = alice.run(&["verify-evidence", &alice.p("bundle"), "--trust", beta]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("recipient received it"));
}

/// Every file of a party's state directory after the optimistic run — the key store, its lock,
/// the certified-mail records (M, K), and the outputs written there (the sealed message, the
/// request, the direct key, the receipt, the decrypted letter, the evidence bundle) — is 0600,
/// and every directory 0700, even though the state directories existed beforehand with mode
/// 0755.
#[test]
fn every_secret_and_plaintext_the_cli_writes_is_0600_in_a_0700_directory() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    for name in ["alice", "bob"] {
        let home = dir.path().join(name);
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let alice = Party::new(dir.path(), "alice", ALICE);
    let bob = Party::new(dir.path(), "bob", BOB);
    let bob_store = FileKeyStore::open(bob.path("keystore"), PASS.as_bytes()).unwrap();
    let world = World::new(real_now() - 60, &bob_store);
    drop(bob_store);
    let alpha = world.alpha.log_file(dir.path(), "alpha.toml");
    let beta = world.beta.log_file(dir.path(), "beta.toml");
    let binding = dir.path().join("bob.binding");
    std::fs::write(&binding, world.bob_binding.encode_to_vec()).unwrap();
    let (alpha, beta, binding) = (
        alpha.to_str().unwrap(),
        beta.to_str().unwrap(),
        binding.to_str().unwrap(),
    );
    let m = dir.path().join("m.txt");
    std::fs::write(&m, b"Please find the signed lease attached.").unwrap();
    let ok = |party: &Party, args: &[&str]| {
        let o = party.run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        o
    };
    let o = ok(
        &alice,
        &[
            "cm",
            "send",
            "--to",
            BOB,
            "--file",
            m.to_str().unwrap(),
            "--out",
            &alice.p("msg"),
            "--json",
        ],
    );
    let sent: Value = serde_json::from_slice(&o.stdout).unwrap();
    let msg_id = sent["id"].as_str().unwrap().to_owned();
    std::fs::copy(alice.path("msg"), bob.path("msg")).unwrap();
    ok(
        &bob,
        &[
            "cm",
            "request",
            "--in",
            &bob.p("msg"),
            "--deadline",
            "+1h",
            "--location",
            alpha,
            "--out",
            &bob.p("req"),
        ],
    );
    std::fs::copy(bob.path("req"), alice.path("req")).unwrap();
    ok(
        &alice,
        &[
            "cm",
            "send-key",
            "--request",
            &alice.p("req"),
            "--binding",
            binding,
            "--domain",
            beta,
            "--offer",
            alpha,
            "--out",
            &alice.p("keymsg"),
        ],
    );
    std::fs::copy(alice.path("keymsg"), bob.path("keymsg")).unwrap();
    ok(
        &bob,
        &[
            "cm",
            "open-key",
            "--in",
            &bob.p("keymsg"),
            "--out",
            &bob.p("receipt"),
            "--plaintext",
            &bob.p("letter.txt"),
        ],
    );
    std::fs::copy(bob.path("receipt"), alice.path("receipt")).unwrap();
    ok(&alice, &["cm", "receipt", "--in", &alice.p("receipt")]);
    ok(
        &alice,
        &[
            "cm",
            "evidence",
            "--msg-id",
            &msg_id,
            "--out",
            &alice.p("evidence.bundle"),
        ],
    );

    let mut files = 0;
    for party in [&alice, &bob] {
        let mut dirs = vec![party.home.clone()];
        while let Some(d) = dirs.pop() {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                let meta = std::fs::metadata(&path).unwrap();
                if meta.is_dir() {
                    dirs.push(path);
                } else {
                    files += 1;
                    let mode = meta.permissions().mode() & 0o777;
                    assert_eq!(mode, 0o600, "{}", path.display());
                }
            }
        }
    }
    // The key stores and locks, the outputs, and the records of both parties.
    assert!(files >= 12, "only {files} files");
    assert!(alice.path("evidence.bundle").exists() && bob.path("letter.txt").exists());
}

#[test]
fn bad_inputs_are_typed_failures() {
    let dir = tempfile::tempdir().unwrap();
    let alice = Party::new(dir.path(), "alice", ALICE);
    // A wrong passphrase.
    let o = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["account", "show"])
        .env("HERALD_HOME", &alice.home)
        .env("HERALD_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("wrong passphrase"), "{}", text(&o));
    // A message file larger than any sealed message is refused unread.
    let big = dir.path().join("big");
    std::fs::write(&big, vec![0u8; 9 * 1024 * 1024]).unwrap();
    let o = alice.run(&[
        "cm",
        "request",
        "--in",
        big.to_str().unwrap(),
        "--deadline",
        "+1h",
        "--log-key",
        "k",
        "--witness-key",
        "w",
        "--quorum",
        "1",
        "--clock-skew",
        "1",
        "--max-merge-delay",
        "1",
        "--out",
        &alice.p("x"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("larger than"), "{}", text(&o));
    // Garbage as a receipt: malformed, a refusal of the input.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"\xff\xfe").unwrap();
    let o = alice.run(&["cm", "receipt", "--in", junk.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reason"], "malformed");
    // A deadline that is not a time.
    let o = alice.run(&[
        "cm",
        "request",
        "--in",
        junk.to_str().unwrap(),
        "--deadline",
        "tomorrow",
        "--log-key",
        "k",
        "--witness-key",
        "w",
        "--quorum",
        "1",
        "--clock-skew",
        "1",
        "--max-merge-delay",
        "1",
        "--out",
        &alice.p("x"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not a time"), "{}", text(&o));
}
