//! The testnet's own promises, against real node processes: nodes start on OS-chosen ports,
//! are reached by light clients, are killed, stopped and restarted on the same addresses, and
//! no process outlives the testnet: not after a drop, not after a panic, not after the test
//! process itself dies, not after `herald-testnet down`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{BINARY, assert_gone, bounded, options};
use herald_light_client::MemoryCheckpointStore;
use herald_light_client::TrustedLog;
use herald_node::config::NodeConfig;
use herald_testnet::{Manifest, Testnet, TestnetError};
use tempfile::TempDir;

const TEST_BOUND: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_killed_stopped_and_restarted_on_the_same_addresses() {
    bounded(TEST_BOUND, async {
        let dir = TempDir::new().unwrap();
        let mut net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        assert_eq!(net.len(), 2);
        for i in 0..2 {
            let status = net.status(i).await.unwrap();
            assert_eq!(status.origin, format!("d{i}.test/herald"));
            assert_eq!(status.peer_id, net.node(i).peer_id().to_string());
            assert_eq!(status.log_key, net.node(i).log_key().to_string());
        }
        let first_pid = net.node(0).pid().unwrap();
        let addr = net.node(0).multiaddr();
        let http = net.node(0).http_addr();

        // A verifying client appends through node 0.
        let identity = net.log_identity(0).unwrap();
        let store = MemoryCheckpointStore::new();
        let mut log = TrustedLog::open(net.client(0).await.unwrap(), identity, &store).unwrap();
        let author = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let entry = herald_testnet::load::notarization_entry(&author, 1, 256).unwrap();
        let entry = prost::Message::decode(entry.as_slice()).unwrap();
        let acked = log.submit(&entry).await.unwrap();

        // SIGKILL: the process is gone at once; a restart keeps the addresses and the entry.
        net.kill(0).await.unwrap();
        assert_gone(&[first_pid], Duration::from_secs(5)).await;
        assert!(!net.node(0).is_running());
        assert!(matches!(
            net.kill(0).await,
            Err(TestnetError::NotRunning { .. })
        ));
        net.restart(0).await.unwrap();
        assert_ne!(net.node(0).pid(), Some(first_pid));
        assert_eq!(net.node(0).multiaddr(), addr);
        assert_eq!(net.node(0).http_addr(), http);
        // The old connection's address still reaches the node.
        let again = log.entry(acked.index()).await.unwrap();
        assert_eq!(again.entry(), acked.entry());

        // SIGTERM: a clean exit, which removes node.json.
        let pid = net.node(1).pid().unwrap();
        net.stop(1).await.unwrap();
        assert_gone(&[pid], Duration::from_secs(5)).await;
        assert!(!net.node(1).config().node_info_path().exists());
        net.restart(1).await.unwrap();
        net.check_alive(1).unwrap();
        // restart() of a running node stops it first.
        let pid = net.node(1).pid().unwrap();
        net.restart(1).await.unwrap();
        assert_gone(&[pid], Duration::from_secs(5)).await;
        assert!(net.node(1).is_running());

        assert!(matches!(
            net.kill(7).await,
            Err(TestnetError::NoSuchNode { index: 7, count: 2 })
        ));
        let pids: Vec<u32> = net.nodes().iter().filter_map(|n| n.pid()).collect();
        drop(net);
        assert_gone(&pids, Duration::from_secs(5)).await;
    })
    .await;
}

#[test]
fn a_panicking_test_leaves_no_process() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let net = Testnet::spawn(2, options(&path)).await.unwrap();
            let pids: Vec<u32> = net.nodes().iter().filter_map(|n| n.pid()).collect();
            tx.send(pids).unwrap();
            panic!("a failing assertion while the testnet runs");
        })
    })
    .join();
    // The thread panicked (by construction); what matters is what it left behind.
    drop(outcome);
    let pids = rx.recv().unwrap();
    assert_eq!(pids.len(), 2);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(assert_gone(&pids, Duration::from_secs(5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_test_process_died_stops_itself() {
    bounded(TEST_BOUND, async {
        let dir = TempDir::new().unwrap();
        let data = dir.path().join("d0");
        let config = NodeConfig::for_loopback_test("d0.test", &data);
        herald_node::gateway::init(&config).unwrap();
        let config_path = NodeConfig::default_file(&data);
        // A shell plays the test process: it starts the node as the library would (with its
        // own pid as the parent to watch), prints the node's pid, waits (bounded) until the
        // node runs, and exits without cleaning up.
        let script = format!(
            "HERALD_TESTNET_PARENT_PID=$$ {BINARY} node run --config {} >{} 2>&1 & echo $!; \
             for i in $(seq 400); do [ -f {} ] && break; sleep 0.05; done",
            config_path.display(),
            data.join("node.log").display(),
            config.node_info_path().display(),
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(config.node_info_path().exists(), "the node started");
        // The orphan notices, stops cleanly (removing node.json) and exits.
        assert_gone(&[pid], Duration::from_secs(20)).await;
        let log = std::fs::read_to_string(data.join("node.log")).unwrap();
        assert!(log.contains("SIGTERM"), "{log}");
        assert!(!config.node_info_path().exists());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_brings_a_testnet_up_and_down_without_leftovers() {
    bounded(TEST_BOUND, async {
        let dir = TempDir::new().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new(BINARY).args(args).output().unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let dir_arg = dir.path().to_str().unwrap();
        let (code, stdout, stderr) = tokio::task::block_in_place(|| {
            run(&[
                "up",
                "--domains",
                "2",
                "--dir",
                dir_arg,
                "--sequence-interval-ms",
                "50",
            ])
        });
        // Whatever fails from here on, the detached nodes are taken down.
        let _down = DownOnDrop(dir.path().to_owned());
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert!(
            stdout.contains("herald log checkpoint --gateway"),
            "{stdout}"
        );
        let manifest = Manifest::read(dir.path()).unwrap();
        assert_eq!(manifest.nodes.len(), 2);
        let pids: Vec<u32> = manifest.nodes.iter().map(|n| n.pid).collect();
        // The nodes outlived `up` and answer.
        for node in &manifest.nodes {
            let status = herald_testnet::node_api::status(node.http_addr)
                .await
                .unwrap();
            assert_eq!(status.peer_id, node.peer_id);
        }
        let (code, stdout, _) =
            tokio::task::block_in_place(|| run(&["status", "--dir", dir_arg, "--json"]));
        assert_eq!(code, Some(0));
        let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(rows[1]["status"]["origin"], "d1.test/herald");
        assert_eq!(rows[0]["running"], true);
        // A second `up` over a running testnet is refused.
        let (code, _, stderr) =
            tokio::task::block_in_place(|| run(&["up", "--domains", "1", "--dir", dir_arg]));
        assert_eq!(code, Some(1), "{stderr}");
        let (code, stdout, stderr) =
            tokio::task::block_in_place(|| run(&["down", "--dir", dir_arg]));
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert_gone(&pids, Duration::from_secs(5)).await;
        // Stopped cleanly: each node removed its node.json.
        for node in &manifest.nodes {
            assert!(!node.dir.join("node.json").exists());
        }
        let (code, stdout, _) = tokio::task::block_in_place(|| run(&["down", "--dir", dir_arg]));
        assert_eq!(code, Some(0));
        assert!(stdout.contains("2 were not running"), "{stdout}");
    })
    .await;
}

/// Runs `herald-testnet down --dir` when dropped, so a failing assertion in a test that used
/// `up` (detached nodes, no parent watching them) leaves no process behind.
struct DownOnDrop(std::path::PathBuf);

impl Drop for DownOnDrop {
    fn drop(&mut self) {
        let _ = Command::new(BINARY)
            .arg("down")
            .arg("--dir")
            .arg(&self.0)
            .output();
    }
}
