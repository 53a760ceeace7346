//! The light client against a real gateway: `herald-node` started in process on loopback ports
//! the OS picks, spoken to over real libp2p connections (TCP and QUIC), and the `herald` command
//! line (the testnet binary's hidden `herald`) run as a process against it. Every wait is
//! bounded.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use herald_light_client::{
    ClientError, FileCheckpointStore, Gateway as _, GatewayClient, Leaf, LogTrust, TrustedLog,
    VerifyError,
};
use herald_proto::note::{NoteSigner, NoteVerifier, b64};
use herald_proto::wire::pb;
use prost::Message as _;
use tempfile::TempDir;

use common::in_process::{request, start_node};

/// Bound on each whole test: a hang fails the test instead of stalling CI.
const TEST_TIMEOUT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, f)
        .await
        .expect("the test finished in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_follows_the_log_and_proves_what_it_submitted() {
    bounded(async {
        let dir = TempDir::new().unwrap();
        let node = start_node().await;
        let gateway = &node.gateway;
        let identity = LogTrust::unwitnessed(gateway.log_key().clone(), gateway.config().hash);
        let client = GatewayClient::connect(&node.tcp_addr(), CONNECT_TIMEOUT)
            .await
            .unwrap();
        let state = dir.path().join("client");
        let mut log =
            TrustedLog::open(client, identity.clone(), FileCheckpointStore::new(&state)).unwrap();

        // Checkpoint of the fresh log.
        let first = log.refresh().await.unwrap();
        assert_eq!(first.checkpoint.origin(), "alpha.test/herald");
        let start = first.checkpoint.size();

        // Submit: the ack's checkpoint verifies, and so does the inclusion of the entry.
        let author = SigningKey::from_bytes(&[7; 32]);
        let mut submitted = Vec::new();
        for i in 0..3 {
            let entry = log.submit_notarization(&request(i), &author).await.unwrap();
            assert_eq!(entry.index(), start + u64::from(i));
            assert_eq!(entry.entry(), request(i).sign(&author).encode_to_vec());
            assert!(entry.inclusion().checkpoint().size() > entry.index());
            submitted.push(entry);
        }
        let after_three = log.refresh().await.unwrap().checkpoint;
        assert_eq!(after_three.size(), start + 3);

        // Entry fetched and verified, decoded as the notarization sent.
        let fetched = log.entry(start + 1).await.unwrap();
        assert_eq!(fetched.entry(), submitted[1].entry());
        match fetched.log_entry().unwrap().kind {
            Some(pb::log_entry::Kind::Notarization(n)) => {
                assert_eq!(n.digest, request(1).digest.to_vec());
                assert!(herald_proto::entry::verify_notarization(&n).is_ok());
            }
            other => panic!("not a notarization: {other:?}"),
        }

        // Leaves proved by index and by hash.
        let by_hash = log
            .prove(Leaf::Hash(*submitted[2].inclusion().leaf_hash()))
            .await
            .unwrap();
        assert_eq!(by_hash.index(), start + 2);
        assert_eq!(log.prove(Leaf::Index(start + 2)).await.unwrap(), by_hash);

        // More submissions, then consistency from the tree we saw to the latest.
        for i in 3..8 {
            log.submit_notarization(&request(i), &author).await.unwrap();
        }
        let update = log.refresh().await.unwrap();
        assert_eq!(update.checkpoint.size(), start + 8);
        let proof = log.consistency(after_three.size(), None).await.unwrap();
        assert_eq!(proof.older(), (after_three.size(), after_three.root()));
        assert_eq!(proof.newer().0, start + 8);
        // Between two older sizes too, including a power of two.
        let c = log.consistency(2, Some(start + 4)).await.unwrap();
        assert_eq!(c.newer().0, start + 4);

        // A second client over QUIC, from the state the first one saved, moves on from it.
        let quic = GatewayClient::connect(&node.quic_addr(), CONNECT_TIMEOUT)
            .await
            .unwrap();
        let mut again = TrustedLog::open(quic, identity, FileCheckpointStore::new(&state)).unwrap();
        assert_eq!(again.trusted().unwrap().size(), start + 8);
        let same = again.refresh().await.unwrap();
        assert_eq!(same.checkpoint.size(), start + 8);

        node.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_the_wrong_log_key_refuses_the_checkpoint() {
    bounded(async {
        let dir = TempDir::new().unwrap();
        let node = start_node().await;
        let gateway = &node.gateway;
        let addr = node.tcp_addr();
        // Same origin, another key; and the right key's bytes under another origin.
        let impostor = NoteSigner::new("alpha.test/herald", SigningKey::from_bytes(&[3; 32]))
            .unwrap()
            .verifier();
        let renamed =
            NoteVerifier::new("beta.test/herald", *gateway.log_key().public_key()).unwrap();
        for key in [impostor, renamed] {
            let client = GatewayClient::connect(&addr, CONNECT_TIMEOUT)
                .await
                .unwrap();
            let state = dir.path().join("wrong");
            let store = FileCheckpointStore::new(&state);
            let origin = key.name().to_owned();
            let mut log = TrustedLog::open(
                client,
                LogTrust::unwitnessed(key, gateway.config().hash),
                &store,
            )
            .unwrap();
            let err = log.refresh().await.unwrap_err();
            assert!(err.is_peer_misbehaviour(), "{err:?}");
            assert!(
                matches!(err.verification(), Some(VerifyError::Checkpoint { .. })),
                "{err:?}"
            );
            assert!(log.trusted().is_none());
            assert!(
                herald_light_client::CheckpointStore::load(&store, &origin)
                    .unwrap()
                    .is_none()
            );
        }
        node.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_refusals_are_typed() {
    bounded(async {
        let node = start_node().await;
        let client = GatewayClient::connect(&node.tcp_addr(), CONNECT_TIMEOUT)
            .await
            .unwrap();
        // Past the end of the log.
        let err = client.entries(1_000_000, 1).await.unwrap_err();
        match err {
            ClientError::Refused(r) => assert_eq!(r.kind, pb::ClientErrorKind::OutOfRange),
            other => panic!("{other:?}"),
        }
        // An entry no client may author is not appended.
        let forbidden = pb::LogEntry {
            kind: Some(pb::log_entry::Kind::WitnessedCheckpoint(
                pb::WitnessedCheckpoint {
                    origin: "beta.test/herald".into(),
                    checkpoint: b"x".to_vec(),
                    seen_at: 1,
                },
            )),
        };
        match client.submit(forbidden.encode_to_vec()).await.unwrap_err() {
            ClientError::Refused(r) => assert_eq!(r.kind, pb::ClientErrorKind::Forbidden),
            other => panic!("{other:?}"),
        }
        node.stop().await;
    })
    .await;
}

/// Runs the `herald` command line (the testnet binary's hidden `herald`) with `args`, bounded
/// in time.
async fn herald(args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald-testnet"))
        .arg("herald")
        .args(args)
        .env_remove("HERALD_HOME")
        .env_remove("HERALD_GATEWAY")
        .env_remove("HERALD_LOG_KEY")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("herald finished in time")
        .expect("herald ran")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "herald failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON object")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_herald_cli_verifies_and_refuses() {
    bounded(async {
        let dir = TempDir::new().unwrap();
        let node = start_node().await;
        let gateway = &node.gateway;
        let addr = node.tcp_addr().to_string();
        let key = gateway.log_key().to_string();
        let state = dir.path().join("cli");
        let state = state.to_str().unwrap();
        let common = [
            "--gateway",
            &addr,
            "--log-key",
            &key,
            "--state-dir",
            state,
            "--json",
        ];
        let with = |cmd: &[&'static str], extra: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = ["log"].iter().chain(cmd).map(|s| s.to_string()).collect();
            v.extend(common.iter().map(|s| s.to_string()));
            v.extend(extra.iter().map(|s| s.to_string()));
            v
        };
        let run = |args: Vec<String>| async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            herald(&refs).await
        };

        let cp = json(&run(with(&["checkpoint"], &[])).await);
        assert_eq!(cp["checkpoint"]["origin"], "alpha.test/herald");
        let note = cp["checkpoint"]["note"].as_str().unwrap();
        assert!(note.starts_with("alpha.test/herald\n"));

        let doc = dir.path().join("contract.txt");
        std::fs::write(&doc, b"contract v3").unwrap();
        let doc = doc.to_str().unwrap();
        let sub = json(&run(with(&["submit"], &["--file", doc, "--label", "contract"])).await);
        let index = sub["index"].as_u64().unwrap();
        assert_eq!(sub["kind"], "notarization");
        assert_eq!(
            sub["notarization"]["digest"],
            b64(blake3::hash(b"contract v3").as_bytes())
        );
        // The default author key was created, private.
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(Path::new(state).join("author.key"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);

        let idx = index.to_string();
        let entry = json(&run(with(&["entry"], &["--index", &idx])).await);
        assert_eq!(entry["leaf_hash"], sub["leaf_hash"]);
        assert_eq!(entry["notarization"]["signature_valid"], true);
        let leaf = sub["leaf_hash"].as_str().unwrap().to_owned();
        let proved = json(&run(with(&["prove"], &["--leaf-hash", &leaf])).await);
        assert_eq!(proved["leaf_index"].as_u64(), Some(index));
        json(&run(with(&["submit"], &["--file", doc])).await);
        // Several files: one signed batch, one request, each file proved on its own.
        let second = dir.path().join("annex.txt");
        std::fs::write(&second, b"annex").unwrap();
        let second = second.to_str().unwrap();
        let batch = json(&run(with(&["submit"], &["--file", doc, "--file", second])).await);
        assert_eq!(batch["refused"], 0);
        let logged = batch["entries"].as_array().unwrap();
        assert_eq!(logged.len(), 2);
        assert_eq!(logged[0]["entry"]["kind"], "batch_notarization");
        assert_eq!(
            logged[1]["entry"]["notarization"]["digest"],
            b64(blake3::hash(b"annex").as_bytes())
        );
        assert_eq!(logged[1]["entry"]["notarization"]["signature_valid"], true);
        assert_eq!(
            logged[1]["index"].as_u64(),
            logged[0]["index"].as_u64().map(|i| i + 1)
        );
        let cons = json(&run(with(&["consistency"], &["--from", "1"])).await);
        assert_eq!(cons["size1"], 1);

        // The wrong key: refused with exit status 2 and nothing stored for it.
        let wrong = NoteSigner::new("alpha.test/herald", SigningKey::from_bytes(&[5; 32]))
            .unwrap()
            .verifier()
            .to_string();
        let other_state = dir.path().join("other");
        let out = herald(&[
            "log",
            "checkpoint",
            "--gateway",
            &addr,
            "--log-key",
            &wrong,
            "--state-dir",
            other_state.to_str().unwrap(),
        ])
        .await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("REFUSED"));
        assert!(!other_state.join("checkpoints").exists());

        node.stop().await;
    })
    .await;
}

/// `herald log --tiles`: the same answers as over libp2p, read and proved from the node's C2SP
/// tlog-tiles resources alone; what a tile server cannot answer is refused before sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_herald_cli_reads_and_proves_the_log_from_tiles() {
    bounded(async {
        let dir = TempDir::new().unwrap();
        let node = start_node().await;
        let gateway = &node.gateway;
        let author = SigningKey::from_bytes(&[5; 32]);
        for i in 0..40u8 {
            let entry = request(i).sign(&author).encode_to_vec();
            gateway.intake().submit(entry).await.expect("appended");
        }
        let addr = node.tcp_addr().to_string();
        let tiles = format!("http://{}", gateway.http_addr());
        let key = gateway.log_key().to_string();
        let state = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        let run = |source: [&str; 2], state: String, cmd: Vec<&str>| {
            let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
            args.extend(source.iter().map(|s| s.to_string()));
            args.extend(["--log-key", &key, "--state-dir", &state, "--json"].map(String::from));
            async move {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                herald(&refs).await
            }
        };
        let over_tiles = ["--tiles", tiles.as_str()];
        let over_p2p = ["--gateway", addr.as_str()];
        let cp = json(&run(over_tiles, state("t"), vec!["log", "checkpoint"]).await);
        assert_eq!(cp["checkpoint"]["origin"], "alpha.test/herald");
        let size = cp["checkpoint"]["size"].as_u64().unwrap();
        assert!(size >= 40);
        for index in ["0", "17", "39"] {
            let by_tiles = json(
                &run(
                    over_tiles,
                    state("t"),
                    vec!["log", "entry", "--index", index],
                )
                .await,
            );
            let by_p2p =
                json(&run(over_p2p, state("p"), vec!["log", "entry", "--index", index]).await);
            assert_eq!(by_tiles["entry"], by_p2p["entry"]);
            assert_eq!(by_tiles["leaf_hash"], by_p2p["leaf_hash"]);
            assert_eq!(by_tiles["inclusion_proof"], by_p2p["inclusion_proof"]);
            json(
                &run(
                    over_tiles,
                    state("t"),
                    vec!["log", "prove", "--index", index],
                )
                .await,
            );
        }
        let to = size.to_string();
        json(
            &run(
                over_tiles,
                state("t"),
                vec!["log", "consistency", "--from", "3", "--to", &to],
            )
            .await,
        );
        // A submission needs a gateway.
        let doc = dir.path().join("doc.txt");
        std::fs::write(&doc, b"x").unwrap();
        let out = run(
            over_tiles,
            state("t"),
            vec!["log", "submit", "--file", doc.to_str().unwrap()],
        )
        .await;
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("needs --gateway"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        node.stop().await;
    })
    .await;
}
