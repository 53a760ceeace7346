//! The `herald-node` binary as an operator uses it: init, run, status, SIGTERM, restart.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::network_support::{TestClient, notarization};
use herald_node::gateway::NodeInfo;
use herald_node::routes::NodeStatus;
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::note::NoteVerifier;

const BIN: &str = env!("CARGO_BIN_EXE_herald-node");
const WAIT: Duration = Duration::from_secs(30);

fn herald_node(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run herald-node")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `herald-node init` in a fresh directory; the data dir and the log key it printed.
fn init(tmp: &Path) -> (PathBuf, NoteVerifier) {
    let dir = tmp.join("node");
    let out = herald_node(&[
        "init",
        "--domain",
        "alpha.test",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "init failed: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("log key:"))
        .expect("init prints the log key")
        .trim();
    (dir, NoteVerifier::parse(key).expect("a verifier key"))
}

/// A running `herald-node run` child, killed if a test fails before stopping it.
struct Running {
    child: Child,
    info: NodeInfo,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the node of `dir` on loopback ports chosen by the OS and waits for its `node.json`.
fn run(dir: &Path) -> Running {
    let info_path = dir.join("node.json");
    let _ = fs::remove_file(&info_path);
    let log_path = dir.with_extension("log");
    let log = fs::File::create(&log_path).expect("node log file");
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(dir.join("herald-node.toml"))
        .args([
            "--listen",
            "/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/udp/0/quic-v1",
        ])
        .env("HERALD_HTTP_LISTEN", "127.0.0.1:0")
        .env("HERALD_SEQUENCE_INTERVAL_MS", "20")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn herald-node run");
    let mut running = Running {
        child,
        info: NodeInfo {
            peer_id: String::new(),
            listen_addrs: Vec::new(),
            http_addr: "127.0.0.1:0".parse().unwrap(),
            pid: 0,
            origin: String::new(),
            log_key: String::new(),
        },
    };
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(info) = NodeInfo::read(&info_path) {
            running.info = info;
            return running;
        }
        if let Some(status) = running.child.try_wait().unwrap() {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            panic!("herald-node run exited early: {status}\n{log}");
        }
        assert!(Instant::now() < deadline, "no node.json in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Running {
    /// SIGTERM, then the exit status (bounded).
    fn terminate(mut self) -> ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn tcp_addr(&self) -> libp2p::Multiaddr {
        self.info
            .listen_addrs
            .iter()
            .find(|a| a.contains("/tcp/"))
            .expect("a TCP address")
            .parse()
            .unwrap()
    }
}

fn status(dir: &Path) -> Output {
    herald_node(&[
        "status",
        "--json",
        "--config",
        dir.join("herald-node.toml").to_str().unwrap(),
    ])
}

#[test]
fn init_writes_private_keys_and_a_documented_config() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log_key) = init(tmp.path());
    assert_eq!(log_key.name(), "alpha.test/herald");
    for key in ["log.key", "witness.key", "libp2p.key"] {
        let mode = fs::metadata(dir.join("keys").join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let config = fs::read_to_string(dir.join("herald-node.toml")).unwrap();
    assert!(config.contains("domain = \"alpha.test\""));
    assert!(config.contains("# The log's hash"));
}

#[test]
fn init_refuses_an_existing_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = init(tmp.path());
    let key_before = fs::read(dir.join("keys/log.key")).unwrap();
    let out = herald_node(&[
        "init",
        "--domain",
        "alpha.test",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs::read(dir.join("keys/log.key")).unwrap(), key_before);
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// F11 of the reliability review: a data directory that existed before `init` kept mode 0755
/// (and with it `log/` and the database), and so did one loosened later; a non-loopback HTTP
/// listener (the admin API, with its bearer token in clear) was accepted without a word.
#[test]
fn attack_an_open_data_dir_is_made_private_and_a_public_http_listener_needs_consent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let init = |dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "init",
            "--domain",
            "alpha.test",
            "--data-dir",
            dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        herald_node(&args)
    };
    let out = init(&dir, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        mode(&dir),
        0o700,
        "init makes an existing empty directory private"
    );

    // Loosened by hand after init: `run` makes it private again before anything else.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let running = run(&dir);
    assert_eq!(mode(&dir), 0o700, "run makes the data directory private");
    assert!(running.terminate().success());

    // A public HTTP listener: refused without consent, written with it (and warned about).
    let public = tmp.path().join("public");
    let out = init(&public, &["--http-listen", "0.0.0.0:4711"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("in clear"),
        "{}",
        text(&out.stderr)
    );
    assert!(!public.exists(), "nothing was created");
    let out = init(
        &public,
        &["--http-listen", "0.0.0.0:4711", "--http-listen-public"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bearer token travels in clear"),
        "{}",
        text(&out.stderr)
    );
    let config = fs::read_to_string(public.join("herald-node.toml")).unwrap();
    assert!(config.contains("http_listen_public = true"), "{config}");
    // The file without the consent is refused at run, before anything is bound.
    let config_path = public.join("herald-node.toml");
    fs::write(
        &config_path,
        config.replace("http_listen_public = true", "http_listen_public = false"),
    )
    .unwrap();
    let out = herald_node(&["run", "--config", config_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("http_listen_public"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn run_refuses_bad_configs_and_open_keys_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = init(tmp.path());
    let config_path = dir.join("herald-node.toml");
    let good = fs::read_to_string(&config_path).unwrap();
    let cases = [
        (format!("{good}\nbatch_size = 3\n"), "batch_size"),
        (
            good.replace("sequence_interval_ms = 250", "sequence_interval_ms = 0"),
            "sequence_interval_ms",
        ),
        (
            good.replace("hash = \"sha256\"", "hash = \"blake3\""),
            "blake3",
        ),
        (
            good.replace("domain = \"alpha.test\"", "domain = \"beta.test\""),
            "beta.test",
        ),
        ("this is not toml".to_owned(), "herald-node.toml"),
    ];
    for (config, word) in cases {
        fs::write(&config_path, &config).unwrap();
        let out = herald_node(&["run", "--config", config_path.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{word}: {stderr}");
        assert!(stderr.contains(word), "the error names {word:?}: {stderr}");
    }
    let out = herald_node(&[
        "run",
        "--config",
        tmp.path().join("missing.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.toml"));

    fs::write(&config_path, &good).unwrap();
    let key = dir.join("keys/log.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = herald_node(&["run", "--config", config_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("chmod 600"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_status_sigterm_and_restart_keep_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, log_key) = init(tmp.path());

    // Not running yet: status says so, with what the data dir holds.
    let out = status(&dir);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("not running"), "{stdout}");
    assert!(stdout.contains(&log_key.to_string()), "{stdout}");

    let node = run(&dir);
    assert_eq!(node.info.log_key, log_key.to_string());
    let mut client = TestClient::connect(node.tcp_addr()).await;
    for n in 0..3 {
        let response = client.submit(notarization(n)).await;
        assert!(
            crate::network_support::error_of(&response).is_none(),
            "{response:?}"
        );
    }
    let before = client.checkpoint().await;
    assert_eq!(
        VerifiedCheckpoint::verify(&before, &log_key)
            .unwrap()
            .size(),
        3
    );

    let out = status(&dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reported: NodeStatus = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(reported.tree_size, 3);
    assert_eq!(reported.checkpoint.as_bytes(), before.as_slice());
    assert_eq!(reported.log_key, log_key.to_string());
    assert_eq!(reported.peer_id, node.info.peer_id);
    drop(client);

    let exit = node.terminate();
    assert!(exit.success(), "SIGTERM gives a clean exit: {exit}");
    assert!(
        !dir.join("node.json").exists(),
        "node.json is removed on a clean stop"
    );

    // Restart: the same head, and appends continue after it.
    let node = run(&dir);
    let mut client = TestClient::connect(node.tcp_addr()).await;
    assert_eq!(client.checkpoint().await, before);
    let response = client.submit(notarization(10)).await;
    match response.response {
        Some(herald_proto::wire::pb::client_response::Response::Submitted(ack)) => {
            assert_eq!(ack.index, 3)
        }
        other => panic!("expected an ack, got {other:?}"),
    }
    drop(client);
    assert!(node.terminate().success());
}
