//! What the mail tests on the `herald` command line share (`mail.rs`, `mail_large.rs`): two
//! users, one per domain, each with an account made, registered and logged in by the CLI and a
//! trust file of its own domain's log; the recipient's one-time prekeys topped up; and the
//! search of a data directory for what must not be at rest in clear.

use std::path::{Path, PathBuf};
use std::time::Duration;

use herald_testnet::Testnet;

use crate::common;
use crate::mail_support::WITHIN;
use crate::paep_support::PASSWORD;

/// The key store passphrase of every test user.
const PASSPHRASE: &str = "a long passphrase for the test";

/// A user of the `herald` command line: its state directory and its gateway's address.
pub(crate) struct CliUser {
    /// `HERALD_HOME` of the user's processes.
    pub(crate) home: PathBuf,
    /// The multiaddr of the user's gateway.
    pub(crate) gateway: String,
}

/// Runs `herald args` as the user of `home`, bounded by `bound`.
pub(crate) async fn herald(home: &Path, args: &[&str], bound: Duration) -> std::process::Output {
    common::herald(home, PASSPHRASE, &[], args, bound).await
}

/// `sender` at node 0 and `recipient` at node 1, set up on the command line (account init,
/// register with an enrolment code, login, trust of the own domain's log); the recipient has
/// three one-time prekeys. Each step must succeed within `bound`.
pub(crate) async fn sender_and_recipient(
    net: &Testnet,
    dir: &Path,
    sender: &str,
    recipient: &str,
    bound: Duration,
) -> (CliUser, CliUser) {
    let password_file = dir.join("password");
    std::fs::write(&password_file, PASSWORD).unwrap();
    let pw = password_file.to_str().unwrap().to_owned();
    let mut users = Vec::new();
    for (i, account) in [(0, sender), (1, recipient)] {
        let home = dir.join(account);
        let gateway = net.node(i).multiaddr().to_string();
        let log_key = net.node(i).log_key().to_string();
        let code = net
            .node(i)
            .enrol(account, None)
            .await
            .unwrap()
            .enrolment_code;
        let trust = home.join("trust");
        let trust = trust.to_str().unwrap();
        for step in [
            &[
                "account",
                "init",
                "--account",
                account,
                "--kdf-memory-kib",
                "19456",
                "--kdf-iterations",
                "2",
            ][..],
            &[
                "account",
                "register",
                "--gateway",
                &gateway,
                "--log-key",
                &log_key,
                "--code",
                &code,
                "--password-file",
                &pw,
            ],
            &["login", "--gateway", &gateway, "--password-file", &pw],
            &[
                "log",
                "trust",
                "--gateway",
                &gateway,
                "--log-key",
                &log_key,
                "--out",
                trust,
                "--yes",
            ],
        ] {
            common::succeeded(&herald(&home, step, bound).await);
        }
        users.push(CliUser { home, gateway });
    }
    let recipient = users.pop().unwrap();
    let sender = users.pop().unwrap();
    let top_up = [
        "prekeys",
        "top-up",
        "--gateway",
        &recipient.gateway,
        "--target",
        "3",
    ];
    common::succeeded(&herald(&recipient.home, &top_up, bound).await);
    (sender, recipient)
}

impl CliUser {
    /// `herald send --json` of `body` and `attachment` to `to`, sent again (within
    /// `mail_support::WITHIN`) while the CLI refuses because a binding is not yet cosigned; the
    /// answer of the send that succeeded.
    pub(crate) async fn send_when_cosigned(
        &self,
        to: &str,
        subject: &str,
        body: &Path,
        attachment: &Path,
        bound: Duration,
    ) -> serde_json::Value {
        let (body, attachment) = (body.to_str().unwrap(), attachment.to_str().unwrap());
        let send = [
            "send",
            "--gateway",
            &self.gateway,
            "--to",
            to,
            "--subject",
            subject,
            "--body-file",
            body,
            "--attach",
            attachment,
            "--json",
        ];
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let out = herald(&self.home, &send, bound).await;
            if out.status.success() || tokio::time::Instant::now() >= deadline {
                return common::succeeded(&out);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// `herald read ID --out OUT_DIR --json`: mail `id` read, its attachments written to
    /// `out_dir`; the answer.
    pub(crate) async fn read(&self, id: u64, out_dir: &Path, bound: Duration) -> serde_json::Value {
        let id = id.to_string();
        let read = [
            "read",
            &id,
            "--gateway",
            &self.gateway,
            "--out",
            out_dir.to_str().unwrap(),
            "--json",
        ];
        common::succeeded(&herald(&self.home, &read, bound).await)
    }

    /// The id of the first mail in the user's inbox, which must be from `sender`, once one has
    /// arrived (within `mail_support::WITHIN`).
    pub(crate) async fn first_mail_from(&self, sender: &str, bound: Duration) -> u64 {
        let inbox = ["inbox", "--gateway", &self.gateway, "--json"];
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let listed = common::succeeded(&herald(&self.home, &inbox, bound).await);
            if let Some(first) = listed["entries"].as_array().and_then(|e| e.first()) {
                assert_eq!(first["sender"], sender, "{listed}");
                return first["id"].as_u64().unwrap();
            }
            assert!(tokio::time::Instant::now() < deadline, "no mail arrived");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Every file under `dir` whose bytes contain `needle`.
pub(crate) fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}
