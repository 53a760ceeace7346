//! The light client and two real gateways that witness each other: a `TrustedLog`
//! that requires cosignatures accepts only what its witness policy accepts, and refuses a log
//! once a verified equivocation proof against it exists; the `herald` CLI does the same with
//! `--witness-key` / `--quorum` and `herald log alerts`. Every wait is bounded.

use std::process::Output;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use herald_light_client::{
    ClientError, FileCheckpointStore, GatewayClient, LogTrust, TrustedLog, VerifyError,
};
use herald_node::testkit::TestGateway;
use herald_proto::checkpoint::{WitnessPolicy, WitnessSigner, WitnessVerifier};
use herald_proto::entry::Notarization;
use tempfile::TempDir;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The workspace's one in-process gateway.
type Node = TestGateway;

/// `domain` on loopback TCP, with the test hooks (equivocation on demand) if asked.
async fn start(domain: &str, test_hooks: bool) -> Node {
    TestGateway::start(domain, |config| {
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        config.test_hooks = test_hooks;
    })
    .await
}

async fn client(node: &Node) -> GatewayClient {
    GatewayClient::connect(&node.tcp_addr(), CONNECT_TIMEOUT)
        .await
        .unwrap()
}

fn identity(node: &Node) -> LogTrust {
    LogTrust::unwitnessed(node.keys.log_verifier(), node.config.hash)
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `log` followed with `quorum` of `witnesses` required.
fn requirement(log: &Node, witnesses: Vec<WitnessVerifier>, quorum: usize) -> LogTrust {
    let policy = WitnessPolicy::new(log.keys.log_verifier(), witnesses, quorum).unwrap();
    identity(log).with_policy(policy).unwrap()
}

fn verification(e: ClientError) -> VerifyError {
    match e {
        ClientError::Verification(v) => *v,
        other => panic!("expected a verification failure, got {other:?}"),
    }
}

async fn herald(args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald-testnet"))
        .arg("herald")
        .args(args)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(WAIT, run).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trusts_only_cosigned_checkpoints_and_refuses_an_equivocating_log() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let dir = TempDir::new().unwrap();
        let alpha = start("alpha.test", true).await;
        let beta = start("beta.test", false).await;
        alpha.register(&beta.record()).await;
        beta.register(&alpha.record()).await;

        // Entries appended, and alpha's latest checkpoint cosigned by beta.
        let mut plain = TrustedLog::open(
            client(&alpha).await,
            identity(&alpha),
            FileCheckpointStore::new(dir.path().join("plain")),
        )
        .unwrap();
        for i in 0..3u8 {
            let request = Notarization {
                digest: [i; 32],
                media_type: String::new(),
                label: format!("doc {i}"),
                created: 1_790_000_000,
            };
            plain
                .submit_notarization(&request, &SigningKey::from_bytes(&[3; 32]))
                .await
                .unwrap();
        }
        let size = alpha.gateway.head().size;
        eventually("alpha's checkpoint is cosigned", || {
            alpha.gateway.store().cosigned().unwrap().is_some_and(|n| {
                herald_proto::note::SignedNote::parse(&n)
                    .ok()
                    .and_then(|n| herald_proto::checkpoint::Checkpoint::parse_body(n.text()).ok())
                    .is_some_and(|c| c.size == size)
            })
        })
        .await;

        // Requiring beta's cosignature: trusted.
        let mut witnessed = TrustedLog::open(
            client(&alpha).await,
            requirement(&alpha, vec![beta.keys.witness_verifier()], 1),
            FileCheckpointStore::new(dir.path().join("witnessed")),
        )
        .unwrap();
        // alpha also cross-logs beta's checkpoints, so its log may have grown past `size` by
        // now: what is trusted covers the three entries, whatever else was appended after them.
        let update = witnessed.refresh().await.unwrap();
        assert!(
            update.checkpoint.size() >= size,
            "{}",
            update.checkpoint.size()
        );
        assert_eq!(update.checkpoint.cosignatures().len(), 1);
        let entry = witnessed.entry(1).await.unwrap();
        assert!(entry.inclusion().checkpoint().size() >= size);

        // Requiring a witness that never cosigned: refused, nothing trusted.
        let stranger = WitnessSigner::new("x.test/witness", SigningKey::from_bytes(&[8; 32]))
            .unwrap()
            .verifier();
        let mut demanding = TrustedLog::open(
            client(&alpha).await,
            requirement(&alpha, vec![beta.keys.witness_verifier(), stranger], 2),
            FileCheckpointStore::new(dir.path().join("demanding")),
        )
        .unwrap();
        assert!(matches!(
            verification(demanding.refresh().await.unwrap_err()),
            VerifyError::NotCosigned { .. }
        ));
        assert_eq!(demanding.trusted(), None);

        // The CLI with --witness-key and --quorum.
        let gateway_addr = alpha.gateway.listen_addrs()[0].to_string();
        let log_key = alpha.keys.log_verifier().to_string();
        let witness_key = beta.keys.witness_verifier().to_string();
        let state = dir.path().join("cli");
        let state = state.to_str().unwrap();
        let common = [
            "--gateway",
            &gateway_addr,
            "--log-key",
            &log_key,
            "--state-dir",
            state,
            "--json",
        ];
        let mut args = vec!["log", "checkpoint"];
        args.extend(common);
        args.extend(["--witness-key", &witness_key, "--quorum", "1"]);
        let out = herald(&args).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["checkpoint"]["size"].as_u64().unwrap() >= size, "{v}");
        let mut alerts = vec!["log", "alerts"];
        alerts.extend(common);
        let out = herald(&alerts).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // alpha signs a conflicting checkpoint (test hook); beta detects it and gossips the
        // proof, which alpha's own gateway then holds too.
        let token = std::fs::read_to_string(alpha.config.admin_token_path()).unwrap();
        let answer = herald_testnet::node_api::request(
            alpha.gateway.http_addr(),
            "POST",
            "/admin/test/fork",
            Some(token.trim()),
            None,
        )
        .await
        .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body_text(200));
        let origin = alpha.config.origin();
        eventually("alpha's gateway holds the proof against its log", || {
            alpha.gateway.watch().alerts().is_distrusted(&origin)
        })
        .await;

        // The client checks the alerts, verifies the proof itself, and refuses the log.
        let err = verification(witnessed.refresh().await.unwrap_err());
        let VerifyError::Equivocated { equivocation } = err else {
            panic!("{err:?}");
        };
        assert!(equivocation.verify().is_ok());
        assert!(matches!(
            verification(witnessed.entry(1).await.unwrap_err()),
            VerifyError::Equivocated { .. }
        ));
        assert!(matches!(
            verification(plain.check_alerts().await.unwrap_err()),
            VerifyError::Equivocated { .. }
        ));
        // The CLI says so with exit status 2 and the proof.
        let out = herald(&alerts).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["evidence"]["equivocation"].is_string(), "{v}");

        alpha.stop().await;
        beta.stop().await;
    })
    .await
    .expect("the test finished in time");
}
