//! `herald status` refuses bad input with its reason, before anything is sent (the delivery
//! status itself is verified in `delivery_status.rs` and against real gateways in herald-node's
//! `mail_evidence` test).

use std::process::{Command, Output};

fn status(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("status")
        .args(args)
        .args([
            "--gateway",
            "/ip4/127.0.0.1/tcp/9",
            "--domain",
            "/nonexistent/beta.toml",
        ])
        .env("HERALD_HOME", "/nonexistent/home")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn refused_with(out: &Output, reason: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(reason), "{stderr}");
}

#[test]
fn attack_status_refuses_oversized_or_malformed_input_before_asking() {
    refused_with(&status(&[&"m".repeat(65)]), "MSG_ID is 65 bytes");
    refused_with(&status(&["b64:!!"]), "not base64");
    refused_with(&status(&["b64:"]), "MSG_ID is 0 bytes");
    refused_with(
        &status(&[
            "m-1",
            "--salt",
            "c2hvcnQ=",
            "--sender",
            "a@x.test",
            "--recipient",
            "b@y.test",
        ]),
        "--salt is not 32 bytes",
    );
    let long = format!("{}@x.test", "a".repeat(320));
    let salt = "A".repeat(43) + "=";
    refused_with(
        &status(&[
            "m-1",
            "--salt",
            &salt,
            "--sender",
            &long,
            "--recipient",
            "b@y.test",
        ]),
        "--sender/--recipient",
    );
    // Well-formed, but the domain log file is not there: said so, nothing asked.
    refused_with(&status(&["m-1"]), "beta.toml");
    // --to names a domain whose log file must be in the trust directory.
    refused_with(&status(&["m-1", "--to", "bob@"]), "names no domain");
    refused_with(
        &status(&["m-1", "--to", &format!("b@{}", "d".repeat(254))]),
        "names no domain",
    );
    refused_with(&status(&["m-1", "--to", "bob@x/../y"]), "names no domain");
    refused_with(
        &status(&[
            "m-1",
            "--to",
            "bob@delta.test",
            "--trust-dir",
            "/nonexistent/t",
        ]),
        "delta.test.toml",
    );
}
