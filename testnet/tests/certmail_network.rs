//! Certified mail over real gateways: two `herald-node` gateways started in process
//! (`alpha.test`, the sender's and the location X; `beta.test`, the recipient's domain),
//! registered as each other's peers so that each cosigns the other's checkpoints, and the
//! `herald` binary run as Alice and Bob, each with an encrypted key store in its own state
//! directory. Covered: registration, bindings, trust lists, publish → fetch → evidence →
//! `verify-evidence` says received; the optimistic run with a receipt and without one (the
//! timer publishes); a fetch that refuses another request's publication; absence proofs true
//! and false; a disabled account's binding refused and its revocation refusing a request.
//! Every wait is bounded.

mod certmail_network_support;

use std::path::Path;
use std::time::Duration;

use certmail_network_support::{PASS, Swapping, TEST_TIMEOUT, WAIT, World, hash_of, now, text};
use herald_light_client::certmail::{CertMail, CertifiedMailError, DirRecordStore};
use herald_light_client::keystore::FileKeyStore;
use herald_light_client::{FileCheckpointStore, GatewayClient, Polling, VerifyError};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_is_published_fetched_and_judged_received_through_the_herald_binary() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let w = World::start().await;
        let msg = w.send("m1", "contract v1").await;
        let cp1 = w.checkpoint("cp1").await;
        let (req, _) = w.request("m1", &msg, "+60").await;

        // Step (c): accepted, published at alpha, cosigned by beta, verified; evidence kept.
        let o = w.publish(&req, &[]).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(v["evidence_bytes"].as_u64().unwrap() > 0, "{v}");
        // Publishing again finds the mail done.
        let o = w.publish(&req, &[]).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));

        // Step (d): Bob finds it, checks it, and reads M.
        let out = w.bob.p("m1.out");
        let o = w.fetch(&req, &out).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["on_time"], true);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "contract v1");

        // The arbiter, offline: received, decided by the publication.
        let verdict = w.judge(&req, "m1.bundle").await;
        assert_eq!(verdict["outcome"], "received", "{verdict}");
        assert_eq!(verdict["fully_trusted"], true, "{verdict}");

        // Bob cannot show the key was not published: the window holds the publication.
        let cp2 = w.checkpoint("cp2").await;
        let (addr, proof) = (w.alpha.addr(), w.bob.p("m1.absence"));
        let o = w
            .bob
            .run(&[
                "cm",
                "prove-absence",
                "--gateway",
                &addr,
                "--request",
                &req,
                "--before",
                &cp1,
                "--after",
                &cp2,
                "--out",
                &proof,
                "--json",
            ])
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["reason"], "published", "{v}");
        assert!(!Path::new(&proof).exists());

        // Beta disables Bob: the revocation is logged and cosigned; Alice's lookup refuses the
        // binding (exit 2, nothing written but the revocation), and with the revocation her
        // accept refuses Bob's next request.
        w.beta
            .node
            .intake()
            .disable("bob@beta.test".into())
            .await
            .unwrap();
        w.beta.cosigned().await;
        let (beta_addr, domain, out, revs) = (
            w.beta.addr(),
            w.alice.p("logs/beta.test.toml"),
            w.alice.p("bob-again.binding"),
            w.alice.p("revocations"),
        );
        let o = w
            .alice
            .run(&[
                "account",
                "binding",
                "--gateway",
                &beta_addr,
                "--account",
                "bob@beta.test",
                "--domain",
                &domain,
                "--out",
                &out,
                "--revocations-out",
                &revs,
                "--json",
            ])
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["reason"], "revoked", "{v}");
        assert!(!Path::new(&out).exists());
        let revocation = std::fs::read_dir(&revs)
            .unwrap()
            .next()
            .expect("the revocation was written")
            .unwrap()
            .path();
        let msg = w.send("m7", "after the revocation").await;
        let (req, _) = w.request("m7", &msg, "+60").await;
        let o = w
            .publish(&req, &["--revocation", revocation.to_str().unwrap()])
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["reason"], "bad binding", "{v}");
        w.stop().await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_optimistic_mail_ends_with_the_receipt_or_is_published_when_none_comes() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let w = World::start().await;

        // With a receipt: the key goes directly, the receipt comes back, nothing is published.
        let msg = w.send("m2", "invoice 2").await;
        let (req, _) = w.request("m2", &msg, "+60").await;
        let key = w.alice.p("m2.key");
        let o = w.publish(&req, &["--optimistic", "--key-out", &key]).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let (receipt, plain) = (w.bob.p("m2.receipt"), w.bob.p("m2.out"));
        w.bob
            .ok(&[
                "cm",
                "open-key",
                "--in",
                &key,
                "--out",
                &receipt,
                "--plaintext",
                &plain,
                "--json",
            ])
            .await;
        assert_eq!(std::fs::read_to_string(&plain).unwrap(), "invoice 2");
        w.alice
            .ok(&["cm", "receipt", "--in", &receipt, "--json"])
            .await;
        let addr = w.alpha.addr();
        let v = w
            .alice
            .ok(&[
                "cm",
                "wait",
                "--gateway",
                &addr,
                "--request",
                &req,
                "--json",
            ])
            .await;
        assert_eq!(v["done"], true, "{v}");
        assert_eq!(w.judge(&req, "m2.bundle").await["outcome"], "received");

        // Without one: publish-by = T − (MMD 2 + witness period 1 + margin 1) = now + 6.
        let msg = w.send("m3", "invoice 3").await;
        let (req, _) = w.request("m3", &msg, "+10").await;
        let key = w.alice.p("m3.key");
        let o = w.publish(&req, &["--optimistic", "--key-out", &key]).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        // Too early to publish: refused plainly, exit 1.
        let o = w.publish(&req, &[]).await;
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("receipt"),
            "{}",
            text(&o)
        );
        // `cm wait` sleeps until publish-by, then publishes and proves it.
        let v = w
            .alice
            .ok(&[
                "cm",
                "wait",
                "--gateway",
                &addr,
                "--request",
                &req,
                "--json",
            ])
            .await;
        assert!(v["evidence_bytes"].as_u64().unwrap() > 0, "{v}");
        let out = w.bob.p("m3.out");
        let o = w.fetch(&req, &out).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "invoice 3");
        assert_eq!(w.judge(&req, "m3.bundle").await["outcome"], "received");
        w.stop().await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_refuses_another_requests_publication_and_absence_is_proved_when_none_came() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let w = World::start().await;
        let m4 = w.send("m4", "letter 4").await;
        let m5 = w.send("m5", "letter 5").await;
        let (req4, hash4) = w.request("m4", &m4, "+60").await;
        let (req5, hash5) = w.request("m5", &m5, "+60").await;
        for req in [&req4, &req5] {
            let o = w.publish(req, &[]).await;
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        }

        // Bob's library, over his own state, through a gateway that serves m4's publication
        // for m5's request: refused as the gateway's misbehaviour, nothing opened or trusted.
        let keys = FileKeyStore::open(w.bob.home.join("keystore"), PASS.as_bytes()).unwrap();
        let mut mail = CertMail::new(keys, DirRecordStore::new(w.bob.home.join("certmail")));
        let checkpoints = FileCheckpointStore::new(w.bob.home.join("checkpoints"));
        let client = GatewayClient::connect(&w.alpha.node.listen_addrs()[0], WAIT)
            .await
            .unwrap();
        let lying = Swapping {
            inner: client,
            asked: hash_of(&hash5),
            served: hash_of(&hash4),
        };
        let err = mail
            .fetch(
                &lying,
                &hash_of(&hash5),
                &checkpoints,
                &Polling::until(now() + 10),
            )
            .await
            .unwrap_err();
        let CertifiedMailError::Gateway(e) = &err else {
            panic!("{err:?}")
        };
        assert!(
            matches!(
                e.verification(),
                Some(VerifyError::AnswerMismatch {
                    what: "req_hash of the publication",
                    ..
                })
            ),
            "{err:?}"
        );
        // Bob's CLI uses the same key store: the library lets go of it first.
        drop(mail);
        // The honest gateway: both open.
        for (req, name, text_) in [(&req5, "m5.out", "letter 5"), (&req4, "m4.out", "letter 4")] {
            let out = w.bob.p(name);
            let o = w.fetch(req, &out).await;
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            assert_eq!(std::fs::read_to_string(&out).unwrap(), text_);
        }

        // Absence: checkpoint 1 cosigned more than 2δ before Bob's request; nobody publishes;
        // the log grows after T + δ and checkpoint 2 is cosigned then.
        let cp1 = w.checkpoint("cp1").await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let m6 = w.send("m6", "never published").await;
        let (req6, _) = w.request("m6", &m6, "+2").await;
        let limit = now() + 2 + 1;
        while now() <= limit {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (addr, key, file) = (w.alpha.addr(), w.alpha.log_key(), w.alice.p("m1.txt"));
        std::fs::write(&file, "a notarized file").unwrap();
        w.alice
            .ok(&[
                "log",
                "submit",
                "--gateway",
                &addr,
                "--log-key",
                &key,
                "--file",
                &file,
                "--json",
            ])
            .await;
        let cp2 = w.checkpoint("cp2").await;
        let proof = w.bob.p("m6.absence");
        let v = w
            .bob
            .ok(&[
                "cm",
                "prove-absence",
                "--gateway",
                &addr,
                "--request",
                &req6,
                "--before",
                &cp1,
                "--after",
                &cp2,
                "--out",
                &proof,
                "--json",
            ])
            .await;
        assert!(v["to_size"].as_u64() > v["from_size"].as_u64(), "{v}");
        let v = w.bob.ok(&["verify-absence", &proof, "--json"]).await;
        assert_eq!(v["absent"], true, "{v}");
        // The same window with checkpoint 1 after the request is not accepted (not before
        // created − 2δ).
        let o = w
            .bob
            .run(&[
                "cm",
                "prove-absence",
                "--gateway",
                &addr,
                "--request",
                &req6,
                "--before",
                &cp2,
                "--after",
                &cp2,
                "--out",
                &proof,
                "--json",
            ])
            .await;
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        w.stop().await;
    })
    .await
    .expect("the test finished in time");
}

/// `herald log trust` wrote the peers' keys exactly as the gateway stated
/// them. Now every log is shown with its keys and fingerprint; new logs are written only with
/// `--yes` (or a `--known` file that says the same), and a later run that finds the gateway
/// stating other keys for a log the user holds refuses and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_log_trust_shows_new_keys_asks_before_trusting_and_refuses_changed_ones() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let w = World::start().await;
        let (addr, key) = (w.alpha.addr(), w.alpha.log_key());
        let dir = w.alice.p("tofu");
        let trust = |extra: &[&str]| {
            let mut args = vec![
                "log",
                "trust",
                "--gateway",
                &addr,
                "--log-key",
                &key,
                "--out",
                &dir,
            ];
            args.extend_from_slice(extra);
            args.into_iter().map(String::from).collect::<Vec<_>>()
        };
        let run = |args: Vec<String>| {
            let alice = &w.alice;
            async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                alice.run(&args).await
            }
        };
        let beta_file = Path::new(&dir).join("beta.test.toml");

        // First use, not confirmed (standard input is not a terminal): shown, not written.
        let o = run(trust(&[])).await;
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let out = text(&o);
        assert!(
            out.contains(&w.beta.log_key()),
            "the peer's key is shown: {out}"
        );
        assert!(out.contains("fingerprint"), "{out}");
        assert!(out.contains("--yes"), "{out}");
        assert!(!beta_file.exists(), "nothing written without confirmation");

        // Confirmed: written; a second run finds them unchanged and needs no confirmation.
        let o = run(trust(&["--yes", "--json"])).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let logs = v["logs"].as_array().unwrap();
        assert!(logs.iter().all(|l| l["status"] == "new"), "{v}");
        let o = run(trust(&["--json"])).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            v["logs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|l| l["status"] == "unchanged"),
            "{v}"
        );

        // The file the user holds for beta names another key than the gateway now states
        // (as if the gateway had started lying about beta): refused, nothing rewritten.
        let held = std::fs::read_to_string(&beta_file).unwrap();
        let other = herald_proto::note::NoteSigner::new(
            "beta.test/herald",
            ed25519_dalek::SigningKey::from_bytes(&[77; 32]),
        )
        .unwrap()
        .verifier()
        .to_string();
        let swapped = held.replace(&w.beta.log_key(), &other);
        assert_ne!(swapped, held);
        std::fs::write(&beta_file, &swapped).unwrap();
        let o = run(trust(&["--yes"])).await;
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("CHANGED"), "{}", text(&o));
        assert_eq!(std::fs::read_to_string(&beta_file).unwrap(), swapped);

        // Logs the user already holds confirm new ones without --yes; a contradicting one is
        // refused.
        let fresh = w.alice.p("tofu-known");
        let known = w.alice.p("logs/beta.test.toml");
        let own = w.alice.p("logs/alpha.test.toml");
        let with_known = |out: &str, file: &str| {
            vec![
                "log",
                "trust",
                "--gateway",
                &addr,
                "--log-key",
                &key,
                "--out",
                out,
                "--known",
                file,
                "--known",
                &own,
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
        };
        let o = run(with_known(&fresh, &known)).await;
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(text(&o).contains("confirmed"), "{}", text(&o));
        let o = run(with_known(
            &w.alice.p("tofu-contradicted"),
            beta_file.to_str().unwrap(),
        ))
        .await;
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("CONTRADICTED"), "{}", text(&o));
        w.stop().await;
    })
    .await
    .expect("the test finished in time");
}
