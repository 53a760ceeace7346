//! What the certified-mail network tests share: two in-process gateways witnessing each other,
//! Alice and Bob running the `herald` binary with their own state, and a gateway that lies.
#![allow(dead_code)] // not every test uses every helper

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use herald_light_client::{ClientError, Gateway, GatewayClient};
use herald_node::config::NodeConfig;
use herald_node::gateway::{Gateway as Node, init};
use herald_node::keys::NodeKeys;
use herald_node::peers::{PeerDomain, PeerRecord};
use herald_proto::checkpoint::Checkpoint;
use herald_proto::note::SignedNote;
use herald_proto::wire::pb;
use serde_json::Value;
use tempfile::TempDir;

pub(crate) const PASS: &str = "a long passphrase";
/// Bound on each whole test.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(150);
/// Bound on one wait for the gateways (cosigning) and on one `herald` run.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// One gateway, running in this process.
pub(crate) struct Domain {
    pub node: Node,
    pub keys: NodeKeys,
    pub config: NodeConfig,
}

impl Domain {
    pub(crate) async fn start(dir: &Path, domain: &str) -> Domain {
        let mut config = NodeConfig::for_loopback_test(domain, dir.join(domain));
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        config.sequence_interval_ms = 20;
        let c = config.clone();
        tokio::task::spawn_blocking(move || init(&c))
            .await
            .unwrap()
            .expect("init");
        let keys = NodeKeys::load(&config.key_dir(), domain).unwrap();
        let node = Node::start(config.clone()).await.expect("start");
        Domain { node, keys, config }
    }

    pub(crate) fn record(&self) -> PeerRecord {
        PeerRecord {
            domain: self.config.domain.clone(),
            log_key: self.keys.log_verifier().to_string(),
            witness_key: self.keys.witness_verifier().to_string(),
            hash: self.config.hash.as_str().into(),
            peer_id: self.keys.peer_id().to_string(),
            addrs: self
                .node
                .listen_addrs()
                .iter()
                .map(|a| a.to_string())
                .collect(),
        }
    }

    /// Registers `other` as a peer of this gateway (so this one witnesses it).
    pub(crate) async fn register(&self, other: &Domain) {
        let registry = self.node.peers().clone();
        let peer = PeerDomain::from_record(&other.record()).unwrap();
        tokio::task::spawn_blocking(move || registry.add(peer))
            .await
            .unwrap()
            .unwrap();
    }

    pub(crate) fn addr(&self) -> String {
        self.node.listen_addrs()[0].to_string()
    }

    pub(crate) fn log_key(&self) -> String {
        self.keys.log_verifier().to_string()
    }

    /// A one-time enrolment code for `account`, as `herald-node account add` prints it.
    pub(crate) async fn code(&self, account: &str) -> String {
        let (code, _) = self
            .node
            .intake()
            .issue_code(account.to_owned(), 3600)
            .await
            .expect("code issued");
        code.as_str().to_owned()
    }

    /// Waits until the latest checkpoint is cosigned.
    pub(crate) async fn cosigned(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let head = self.node.head().size;
            let covered = self.node.store().cosigned().unwrap().is_some_and(|n| {
                SignedNote::parse(&n)
                    .ok()
                    .and_then(|n| Checkpoint::parse_body(n.text()).ok())
                    .is_some_and(|c| c.size >= head)
            });
            if covered {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}'s checkpoint of size {head} is not cosigned",
                self.config.domain
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A person using the `herald` binary, with a state directory and a key store.
pub(crate) struct Party {
    pub home: PathBuf,
}

impl Party {
    pub(crate) async fn new(dir: &Path, name: &str, account: &str) -> Party {
        let party = Party {
            home: dir.join(name),
        };
        party
            .ok(&[
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
            ])
            .await;
        party
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Output {
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald-testnet"))
            .arg("herald")
            .args(args)
            .env("HERALD_HOME", &self.home)
            .env("HERALD_PASSPHRASE", PASS)
            .env_remove("RUST_LOG")
            .kill_on_drop(true)
            .env_remove("HERALD_GATEWAY")
            .env_remove("HERALD_LOG_KEY")
            .output();
        tokio::time::timeout(WAIT, run)
            .await
            .expect("herald finished in time")
            .unwrap()
    }

    /// Runs `args` (which end in `--json`), expects success, returns the JSON printed.
    pub(crate) async fn ok(&self, args: &[&str]) -> Value {
        let o = self.run(args).await;
        assert_eq!(o.status.code(), Some(0), "{args:?}\n{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{}", text(&o)))
    }

    pub(crate) fn p(&self, name: &str) -> String {
        self.home.join(name).to_str().unwrap().to_owned()
    }
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Two gateways witnessing each other; Alice registered at alpha, Bob at beta; each has the
/// log files of their gateway's trust list (δ = 1 s, MMD = 2 s), and Alice has Bob's verified
/// binding.
pub(crate) struct World {
    _dir: TempDir,
    pub alpha: Domain,
    pub beta: Domain,
    pub alice: Party,
    pub bob: Party,
}

impl World {
    pub(crate) async fn start() -> World {
        let dir = TempDir::new().unwrap();
        let alpha = Domain::start(dir.path(), "alpha.test").await;
        let beta = Domain::start(dir.path(), "beta.test").await;
        alpha.register(&beta).await;
        beta.register(&alpha).await;
        let alice = Party::new(dir.path(), "alice", "alice@alpha.test").await;
        let bob = Party::new(dir.path(), "bob", "bob@beta.test").await;

        for (party, domain, account) in [
            (&alice, &alpha, "alice@alpha.test"),
            (&bob, &beta, "bob@beta.test"),
        ] {
            let code = domain.code(account).await;
            let (addr, key) = (domain.addr(), domain.log_key());
            let password = party.p("password");
            std::fs::write(&password, "correct horse battery staple 42\n").unwrap();
            let args = [
                "account",
                "register",
                "--gateway",
                &addr,
                "--log-key",
                &key,
                "--code",
                &code,
                "--password-file",
                &password,
                "--json",
            ];
            let v = party.ok(&args).await;
            assert_eq!(v["account"], account);
            // A used code does not register again: the gateway's refusal, exit 1.
            let again = party.run(&args).await;
            assert_eq!(again.status.code(), Some(1), "{}", text(&again));
            let (logs, addr) = (party.p("logs"), domain.addr());
            let v = party
                .ok(&[
                    "log",
                    "trust",
                    "--gateway",
                    &addr,
                    "--log-key",
                    &key,
                    "--out",
                    &logs,
                    "--clock-skew",
                    "1",
                    "--max-merge-delay",
                    "2",
                    "--yes",
                    "--json",
                ])
                .await;
            assert_eq!(v["logs"].as_array().unwrap().len(), 2, "{v}");
            // A δ beyond what any location may carry is refused before a file is written.
            let bad = party.p("bad-logs");
            let refused = party
                .run(&[
                    "log",
                    "trust",
                    "--gateway",
                    &addr,
                    "--log-key",
                    &key,
                    "--out",
                    &bad,
                    "--clock-skew",
                    "99999999",
                ])
                .await;
            assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
            assert!(!std::path::Path::new(&bad).exists());
        }

        // Alice fetches and verifies Bob's binding from beta (polling until it is cosigned).
        let (beta_addr, domain, out) = (
            beta.addr(),
            alice.p("logs/beta.test.toml"),
            alice.p("bob.binding"),
        );
        let v = alice
            .ok(&[
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
                "--json",
            ])
            .await;
        assert_eq!(v["account"], "bob@beta.test");
        assert_eq!(v["cosignatures"], 1);
        World {
            _dir: dir,
            alpha,
            beta,
            alice,
            bob,
        }
    }

    /// Alice seals `text` for Bob; returns the sealed message's path.
    pub(crate) async fn send(&self, name: &str, text: &str) -> String {
        let file = self.alice.p(&format!("{name}.txt"));
        std::fs::write(&file, text).unwrap();
        let out = self.alice.p(&format!("{name}.msg"));
        self.alice
            .ok(&[
                "cm",
                "send",
                "--to",
                "bob@beta.test",
                "--file",
                &file,
                "--out",
                &out,
                "--json",
            ])
            .await;
        out
    }

    /// Bob asks for the key of `msg`, at X = alpha's log, by `deadline`; returns the request's
    /// path and its req_hash (hex).
    pub(crate) async fn request(&self, name: &str, msg: &str, deadline: &str) -> (String, String) {
        let (location, out) = (
            self.bob.p("logs/alpha.test.toml"),
            self.bob.p(&format!("{name}.req")),
        );
        let v = self
            .bob
            .ok(&[
                "cm",
                "request",
                "--in",
                msg,
                "--deadline",
                deadline,
                "--location",
                &location,
                "--out",
                &out,
                "--json",
            ])
            .await;
        (out, v["id"].as_str().unwrap().to_owned())
    }

    /// Alice's `cm publish` for `request`, with her policy; `extra` adds flags.
    pub(crate) async fn publish(&self, request: &str, extra: &[&str]) -> Output {
        let (addr, binding, domain, offer) = (
            self.alpha.addr(),
            self.alice.p("bob.binding"),
            self.alice.p("logs/beta.test.toml"),
            self.alice.p("logs/alpha.test.toml"),
        );
        let mut args = vec![
            "cm",
            "publish",
            "--gateway",
            &addr,
            "--request",
            request,
            "--binding",
            &binding,
            "--domain",
            &domain,
            "--offer",
            &offer,
            "--witness-period",
            "1",
            "--margin",
            "1",
            "--json",
        ];
        args.extend_from_slice(extra);
        self.alice.run(&args).await
    }

    /// Bob's `cm fetch` for `request`, writing the plaintext to `out`.
    pub(crate) async fn fetch(&self, request: &str, out: &str) -> Output {
        let addr = self.alpha.addr();
        self.bob
            .run(&[
                "cm",
                "fetch",
                "--gateway",
                &addr,
                "--request",
                request,
                "--out",
                out,
                "--poll-for",
                "20",
                "--json",
            ])
            .await
    }

    /// Bob saves alpha's latest cosigned checkpoint to `name`.
    pub(crate) async fn checkpoint(&self, name: &str) -> String {
        let (addr, log, out) = (
            self.alpha.addr(),
            self.bob.p("logs/alpha.test.toml"),
            self.bob.p(name),
        );
        self.alpha.cosigned().await;
        self.bob
            .ok(&[
                "log",
                "checkpoint",
                "--gateway",
                &addr,
                "--log",
                &log,
                "--cosigned",
                "--out",
                &out,
                "--json",
            ])
            .await;
        out
    }

    /// Alice's evidence for `request`, judged by `herald verify-evidence`.
    pub(crate) async fn judge(&self, request: &str, name: &str) -> Value {
        let bundle = self.alice.p(name);
        self.alice
            .ok(&[
                "cm",
                "evidence",
                "--request",
                request,
                "--out",
                &bundle,
                "--json",
            ])
            .await;
        let trust = self.alice.p("logs/beta.test.toml");
        self.alice
            .ok(&["verify-evidence", &bundle, "--trust", &trust, "--json"])
            .await
    }

    pub(crate) async fn stop(self) {
        self.alpha.node.stop().await.unwrap();
        self.beta.node.stop().await.unwrap();
    }
}

/// A gateway that answers the publication lookup of `asked` with the publication of `served`,
/// and everything else honestly.
pub(crate) struct Swapping {
    pub inner: GatewayClient,
    pub asked: [u8; 32],
    pub served: [u8; 32],
}

impl Gateway for Swapping {
    async fn exchange(
        &self,
        mut request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        if let Some(pb::client_request::Request::Publication(p)) = &mut request.request
            && p.req_hash == self.asked
        {
            p.req_hash = self.served.to_vec();
        }
        self.inner.exchange(request).await
    }
}

pub(crate) fn hash_of(hex: &str) -> [u8; 32] {
    hex::decode(hex).unwrap().try_into().unwrap()
}
