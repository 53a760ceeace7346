//! The `herald cm` default flow by mail, as two people run it against two real gateway
//! processes: each registers with a password, logs in, tops up prekeys and writes its trust
//! directory (`herald log trust`); then `cm mail` (Alice), `cm inbox` + `cm ask` (Bob), `cm
//! inbox` accepting and publishing (Alice), `cm fetch --req-hash` (Bob), and `cm evidence` +
//! `verify-evidence` says received. No file is handed between Alice's and Bob's directories.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{bounded, options};
use herald_testnet::Testnet;
use serde_json::Value;
use tempfile::TempDir;

const BOUND: Duration = Duration::from_secs(300);
/// Bound on a binding, a mail or a publication being served.
const WITHIN: Duration = Duration::from_secs(40);

struct Person {
    home: PathBuf,
    gateway: String,
}

impl Person {
    fn p(&self, name: &str) -> String {
        self.home.join(name).display().to_string()
    }

    async fn run(&self, args: &[&str]) -> std::process::Output {
        let passphrase = "a long passphrase for the test";
        let env = [("HERALD_GATEWAY", self.gateway.as_str())];
        common::herald(&self.home, passphrase, &env, args, Duration::from_secs(120)).await
    }

    /// Runs and expects success; every JSON object it printed, in order (none for text output).
    async fn ok(&self, args: &[&str]) -> Vec<Value> {
        let o = self.run(args).await;
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        objects(&o.stdout)
    }

    /// Runs until it succeeds (bounded): what is asked for may not be served yet.
    async fn eventually(&self, args: &[&str]) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let o = self.run(args).await;
            if o.status.code() == Some(0) {
                return objects(&o.stdout);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{args:?}: {}",
                text(&o)
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

fn text(o: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn objects(stdout: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(stdout)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect()
}

/// Enrols `account` at node `i`, and as its owner: key store, registration, login, prekeys,
/// and the trust directory (δ and MMD as the testnet's locations state them).
async fn person(net: &Testnet, i: usize, account: &str, home: &Path) -> Person {
    std::fs::create_dir_all(home).unwrap();
    let code = net
        .node(i)
        .enrol(account, None)
        .await
        .unwrap()
        .enrolment_code;
    let person = Person {
        home: home.to_owned(),
        gateway: net.node(i).multiaddr().to_string(),
    };
    let password = home.with_extension("password").display().to_string();
    std::fs::write(&password, b"correct horse battery staple\n").unwrap();
    let log_key = net.node(i).log_key().to_string();
    person
        .ok(&[
            "account",
            "init",
            "--account",
            account,
            "--kdf-memory-kib",
            "19456",
            "--kdf-iterations",
            "2",
        ])
        .await;
    person
        .ok(&[
            "account",
            "register",
            "--log-key",
            &log_key,
            "--code",
            &code,
            "--password-file",
            &password,
        ])
        .await;
    person
        .ok(&["login", "--password-file", &password, "--json"])
        .await;
    person
        .ok(&["prekeys", "top-up", "--target", "5", "--json"])
        .await;
    let trust = person.p("trust");
    person
        .eventually(&[
            "log",
            "trust",
            "--log-key",
            &log_key,
            "--out",
            &trust,
            "--clock-skew",
            "2",
            "--max-merge-delay",
            "2",
            "--yes",
            "--json",
        ])
        .await;
    person
}

/// Runs `herald cm inbox ARGS --json` until a mail of `kind` is taken (bounded); every JSON
/// object that run printed (the inbox's, then a publication's if it published). Every run must
/// succeed: a gateway whose connection to a restarted peer gateway was lost sends its request
/// again on a fresh one (`network::peer_request`) instead of answering BUSY.
async fn inbox_until(person: &Person, args: &[&str], kind: &str) -> (Value, Vec<Value>) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    let mut all = vec!["cm", "inbox", "--json"];
    all.extend_from_slice(args);
    loop {
        let o = person.run(&all).await;
        assert_eq!(o.status.code(), Some(0), "{all:?}: {}", text(&o));
        let v = objects(&o.stdout);
        let mail = v[0]["mail"].as_array().unwrap().clone();
        if let Some(m) = mail.into_iter().find(|m| m["kind"] == kind) {
            return (m, v);
        }
        assert!(tokio::time::Instant::now() < deadline, "no {kind}: {v:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_cm_by_mail_optimistic_sends_key_and_receipt_as_mail() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let alice = person(&net, 0, "alice@d0.test", &dir.path().join("alice")).await;
        let bob = person(&net, 1, "bob@d1.test", &dir.path().join("bob")).await;
        let letter = alice.p("letter.txt");
        std::fs::write(&letter, "optimistic, by mail").unwrap();
        let sent = alice
            .eventually(&["cm", "mail", "--to", "bob@d1.test", &letter, "--json"])
            .await;
        let msg_id = sent[0]["id"].as_str().unwrap().to_owned();
        inbox_until(&bob, &[], "offered").await;
        let location = bob.p("trust/d0.test.toml");
        bob.ok(&[
            "cm",
            "ask",
            "--msg-id",
            &msg_id,
            "--deadline",
            "+60",
            "--location",
            &location,
            "--json",
        ])
        .await;
        // Alice accepts optimistically: the key goes back to Bob by mail, nothing published.
        let (offer, domain) = (alice.p("trust/d0.test.toml"), alice.p("trust/d1.test.toml"));
        let terms = [
            "--offer",
            &offer,
            "--domain",
            &domain,
            "--witness-period",
            "1",
            "--margin",
            "1",
            "--max-skew",
            "2",
            "--optimistic",
        ];
        let (_, printed) = inbox_until(&alice, &terms, "request").await;
        assert_eq!(printed.len(), 1, "published: {printed:?}");
        // Bob's inbox opens the key, writes the letter, and mails the receipt.
        let out_dir = bob.p("letters");
        let (opened, _) = inbox_until(&bob, &["--out-dir", &out_dir], "direct-key").await;
        let path = opened["letter"].as_str().unwrap();
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            "optimistic, by mail"
        );
        // Alice's inbox takes the receipt: the evidence is kept, judged received.
        let (receipt, _) = inbox_until(&alice, &[], "receipt").await;
        assert_eq!(receipt["evidence"], true);
        let bundle = alice.p("letter.bundle");
        alice
            .ok(&["cm", "evidence", "--msg-id", &msg_id, "--out", &bundle])
            .await;
        let verdict = alice
            .ok(&["verify-evidence", &bundle, "--trust", &domain, "--json"])
            .await;
        assert_eq!(verdict[0]["outcome"], "received", "{verdict:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_cm_by_mail_runs_to_a_received_verdict_with_no_file_between_the_parties() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let alice = person(&net, 0, "alice@d0.test", &dir.path().join("alice")).await;
        let bob = person(&net, 1, "bob@d1.test", &dir.path().join("bob")).await;
        let letter = alice.p("letter.txt");
        std::fs::write(&letter, "the lease, certified, by mail").unwrap();

        // (a) Alice mails the sealed letter (asking again while Bob's binding is not served).
        let sent = alice
            .eventually(&["cm", "mail", "--to", "bob@d1.test", &letter, "--json"])
            .await;
        let msg_id = sent[0]["id"].as_str().unwrap().to_owned();

        // Bob's inbox keeps it as an offer.
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let v = bob.ok(&["cm", "inbox", "--json"]).await;
            let mail = v[0]["mail"].as_array().unwrap().clone();
            if let Some(m) = mail.iter().find(|m| m["kind"] == "offered") {
                assert_eq!(m["msg_id"], msg_id.as_str());
                assert_eq!(m["from"], "alice@d0.test");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no letter: {v:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        // (b) Bob asks for the key, at X = d0's log (his trust file of d0 as the location).
        let location = bob.p("trust/d0.test.toml");
        let asked = bob
            .ok(&[
                "cm",
                "ask",
                "--msg-id",
                &msg_id,
                "--deadline",
                "+60",
                "--location",
                &location,
                "--json",
            ])
            .await;
        let req_hash = asked[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(asked[0]["mailed"], true);

        // (c) Alice's inbox accepts the request under her terms and publishes at d0.
        let (offer, domain) = (alice.p("trust/d0.test.toml"), alice.p("trust/d1.test.toml"));
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let v = alice
                .ok(&[
                    "cm",
                    "inbox",
                    "--offer",
                    &offer,
                    "--domain",
                    &domain,
                    "--witness-period",
                    "1",
                    "--margin",
                    "1",
                    "--max-skew",
                    "2",
                    "--poll-for",
                    "40",
                    "--json",
                ])
                .await;
            let mail = v[0]["mail"].as_array().unwrap().clone();
            if mail.iter().any(|m| m["kind"] == "request") {
                assert!(v[1]["evidence_bytes"].as_u64().unwrap() > 0, "{v:?}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no request: {v:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }

        // (d) Bob fetches the key at X by the req_hash and reads the letter.
        let out = bob.p("letter.out");
        let v = bob
            .ok(&[
                "cm",
                "fetch",
                "--gateway",
                &alice.gateway,
                "--req-hash",
                &req_hash,
                "--out",
                &out,
                "--poll-for",
                "30",
                "--json",
            ])
            .await;
        assert_eq!(v[0]["on_time"], true);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "the lease, certified, by mail"
        );

        // The arbiter: received.
        let bundle = alice.p("letter.bundle");
        alice
            .ok(&[
                "cm", "evidence", "--msg-id", &msg_id, "--out", &bundle, "--json",
            ])
            .await;
        let verdict = alice
            .ok(&["verify-evidence", &bundle, "--trust", &domain, "--json"])
            .await;
        assert_eq!(verdict[0]["outcome"], "received", "{verdict:?}");

        // Nothing of the other's was handed over: each directory holds only what its own
        // commands wrote (no sealed message, request, key or receipt file).
        for home in [&alice.home, &bob.home] {
            for entry in std::fs::read_dir(home).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                assert!(
                    !name.ends_with(".msg")
                        && !name.ends_with(".req")
                        && !name.ends_with(".receipt"),
                    "{name}"
                );
            }
        }
    })
    .await;
}

/// The evidence kinds of one side of `herald status --to --json`.
fn kinds(side: &Value) -> Vec<String> {
    side["records"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| r["kind"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_read_names_a_certified_letter_and_status_shows_both_domains_through_one_gateway() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let alice = person(&net, 0, "alice@d0.test", &dir.path().join("alice")).await;
        let bob = person(&net, 1, "bob@d1.test", &dir.path().join("bob")).await;
        let letter = alice.p("letter.txt");
        std::fs::write(&letter, "read me through cm").unwrap();
        let sent = alice
            .eventually(&["cm", "mail", "--to", "bob@d1.test", &letter, "--json"])
            .await;
        let (msg_id, hex_id) = (
            sent[0]["msg_id"].as_str().unwrap().to_owned(),
            sent[0]["id"].as_str().unwrap().to_owned(),
        );

        // Bob's `herald read` says what the mail carries and which command takes it, and
        // leaves it for `herald cm inbox`, which takes it as the offer it is.
        let deadline = tokio::time::Instant::now() + WITHIN;
        let id = loop {
            let v = bob.ok(&["inbox", "--json"]).await;
            if let Some(e) = v[0]["entries"].as_array().and_then(|e| e.first()) {
                break e["id"].as_u64().unwrap().to_string();
            }
            assert!(tokio::time::Instant::now() < deadline, "no mail: {v:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        let read = bob.ok(&["read", &id, "--json"]).await;
        assert_eq!(read[0]["certified"]["kind"], "offered", "{read:?}");
        assert_eq!(read[0]["msg_id"], hex_id.as_str());
        assert_eq!(read[0]["from"], "alice@d0.test");
        assert!(
            read[0]["certified"]["take_with"]
                .as_str()
                .unwrap()
                .contains("herald cm inbox")
        );
        let listed = bob.ok(&["inbox", "--json"]).await;
        assert_eq!(listed[0]["entries"].as_array().unwrap().len(), 1, "kept");
        let text_read = bob.run(&["read", &id]).await;
        assert_eq!(text_read.status.code(), Some(0), "{}", text(&text_read));
        assert!(String::from_utf8_lossy(&text_read.stdout).contains("sealed certified letter"));
        let taken = bob.ok(&["cm", "inbox", "--json"]).await;
        let mail = taken[0]["mail"].as_array().unwrap();
        assert_eq!(mail.len(), 1, "{taken:?}");
        assert_eq!(mail[0]["kind"], "offered");
        assert_eq!(mail[0]["msg_id"], hex_id.as_str());
        let emptied = bob.ok(&["inbox", "--json"]).await;
        assert!(emptied[0]["entries"].as_array().unwrap().is_empty());

        // Alice, reaching only her gateway, sees both domains' records, d1's checked against
        // her trust file of d1.
        let own = alice.p("trust/d0.test.toml");
        let b64_id = format!("b64:{msg_id}");
        let status_args = [
            "status",
            b64_id.as_str(),
            "--to",
            "bob@d1.test",
            "--domain",
            own.as_str(),
            "--poll-for",
            "20",
            "--json",
        ];
        let deadline = tokio::time::Instant::now() + WITHIN;
        let status = loop {
            let v = alice.eventually(&status_args).await;
            if kinds(&v[0]["recipient_gateway"]).contains(&"EVIDENCE_KIND_HANDOVER".to_owned()) {
                break v;
            }
            assert!(tokio::time::Instant::now() < deadline, "no handover: {v:?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(
            kinds(&status[0]["sender_gateway"]),
            ["EVIDENCE_KIND_ACCEPTANCE"]
        );
        assert_eq!(
            kinds(&status[0]["recipient_gateway"]),
            [
                "EVIDENCE_KIND_RELAY_ACCEPTED",
                "EVIDENCE_KIND_CONSIGNMENT",
                "EVIDENCE_KIND_HANDOVER"
            ]
        );
        assert_eq!(status[0]["sender_gateway"]["origin"], "d0.test/herald");
        assert_eq!(status[0]["recipient_gateway"]["origin"], "d1.test/herald");
        let text_status = alice.run(&status_args[..status_args.len() - 1]).await;
        let out = String::from_utf8_lossy(&text_status.stdout);
        assert!(
            out.contains("recipient's gateway") && out.contains("HANDOVER"),
            "{out}"
        );
        // A trust directory without d1's log: refused before anything is asked.
        let empty = alice.p("empty-trust");
        std::fs::create_dir_all(&empty).unwrap();
        let mut no_trust = status_args.to_vec();
        no_trust.extend(["--trust-dir", empty.as_str()]);
        let refused = alice.run(&no_trust).await;
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("d1.test.toml"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certified_send_cut_off_after_queueing_is_resent_and_arrives_once() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let mut net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        // d0 dies (SIGKILL) the first time a mail is durable in its queue, before answering.
        net.set_fault(0, Some(herald_node::fault::FaultPoint::MailQueued))
            .unwrap();
        net.restart(0).await.unwrap();
        let alice = person(&net, 0, "alice@d0.test", &dir.path().join("alice")).await;
        let bob = person(&net, 1, "bob@d1.test", &dir.path().join("bob")).await;
        let letter = alice.p("letter.txt");
        std::fs::write(&letter, "sent once, whatever happens").unwrap();

        // The send is cut off: the letter is kept, and the command says how to send it again.
        let deadline = tokio::time::Instant::now() + WITHIN;
        let id = loop {
            let o = alice
                .run(&["cm", "mail", "--to", "bob@d1.test", &letter, "--json"])
                .await;
            assert_ne!(o.status.code(), Some(0), "d0 answered: {}", text(&o));
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            if let Some(rest) = err.split("--resend ").nth(1) {
                break rest.split('`').next().unwrap().to_owned();
            }
            assert!(tokio::time::Instant::now() < deadline, "{}", text(&o));
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(id.len(), 32, "{id}");
        // Nothing is sealed twice: one sent record, the one named.
        let sent: Vec<_> = std::fs::read_dir(alice.home.join("certmail/sent"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert_eq!(sent.len(), 1, "{sent:?}");

        // d0 died at the fault point (its death noticed before it is started again).
        let died = herald_testnet::wait::until(WITHIN, Duration::from_millis(20), || {
            let alive = net.check_alive(0);
            async move {
                match alive {
                    Err(herald_testnet::TestnetError::Exited { .. }) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
        assert!(died.is_ok(), "d0 did not die at the fault point: {died:?}");
        net.set_fault(0, None).unwrap();
        net.restart(0).await.unwrap();
        let password = alice.home.with_extension("password").display().to_string();
        alice
            .ok(&["login", "--password-file", &password, "--json"])
            .await;
        let resent = alice.ok(&["cm", "mail", "--resend", &id, "--json"]).await;
        assert_eq!(resent[0]["id"], id.as_str());
        assert_eq!(resent[0]["resent"], true);
        // A second resend is as harmless.
        alice.ok(&["cm", "mail", "--resend", &id, "--json"]).await;
        // d0 died before it logged the ACCEPTANCE; the resend wrote it, once.
        let own = alice.p("trust/d0.test.toml");
        let b64_id = format!("b64:{}", resent[0]["msg_id"].as_str().unwrap());
        let status = alice
            .eventually(&[
                "status",
                &b64_id,
                "--domain",
                &own,
                "--poll-for",
                "20",
                "--json",
            ])
            .await;
        assert_eq!(
            kinds(&status[0]),
            ["EVIDENCE_KIND_ACCEPTANCE"],
            "{status:?}"
        );

        // Bob gets the one letter, under its msg_id.
        let (offered, _) = inbox_until(&bob, &[], "offered").await;
        assert_eq!(offered["msg_id"], id.as_str());
        // Whatever d0 relays again (its queue, the resends), d1 takes once: nothing more comes.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = bob.ok(&["cm", "inbox", "--json"]).await;
        assert!(after[0]["mail"].as_array().unwrap().is_empty(), "{after:?}");
        // A resend for a letter the recipient asked for, or an unknown one, is refused.
        let unknown = alice
            .run(&["cm", "mail", "--resend", &"0".repeat(32)])
            .await;
        assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
        let bad = alice.run(&["cm", "mail", "--resend", "zz"]).await;
        assert!(String::from_utf8_lossy(&bad.stderr).contains("not a msg_id"));
    })
    .await;
}
