//! The admin API on the node's HTTP listener, and `herald-node peer` / `alerts` that use it:
//! the bearer token guards every call (401 and nothing changes), bodies are bounded (413), and
//! the registry, block list and alerts behave as `herald_node::admin` documents.

use std::process::Command;

use crate::witness_support::{Domain, FakeLog, http};
use herald_node::admin::{AlertReport, BlockList, PeerAdded, PeerList, PeerRemoved};

const BIN: &str = env!("CARGO_BIN_EXE_herald-node");

fn json<T: serde::de::DeserializeOwned>(body: &str) -> T {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_missing_or_wrong_token_is_401_and_changes_nothing() {
    let node = Domain::start("alpha.test", |_| {}).await;
    let addr = node.gateway.http_addr();
    let token = node.admin_token();
    let beta = serde_json::to_vec(&FakeLog::new("beta.test", 40, 0).record()).unwrap();
    let peer_id = FakeLog::new("beta.test", 40, 0).record().peer_id;
    let block = format!("{{\"peers\": [\"{peer_id}\"]}}");
    let wrong = format!("{token}x");
    for bearer in [None, Some("nonsense"), Some(wrong.as_str()), Some("")] {
        for (method, path, body) in [
            ("GET", "/admin/peers", None),
            ("POST", "/admin/peers", Some(beta.as_slice())),
            ("DELETE", "/admin/peers/beta.test", None),
            ("POST", "/admin/blocklist", Some(block.as_bytes())),
            ("DELETE", "/admin/blocklist", None),
            ("GET", "/admin/alerts", None),
            ("GET", "/admin/nothing-here", None),
        ] {
            let (status, answer) = http(addr, method, path, bearer, body).await;
            assert_eq!(status, 401, "{method} {path} with {bearer:?}: {answer}");
        }
    }
    // A token in another scheme is no token either.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let head = format!(
        "GET /admin/peers HTTP/1.1\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // The scheme's case does not matter (RFC 9110 §11.1; F12 of the reliability review).
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /admin/peers HTTP/1.1\r\nAuthorization: bEARER {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Nothing was registered or blocked.
    assert!(node.gateway.peers().list().is_empty());
    assert!(node.gateway.handle().blocked().await.unwrap().is_empty());
    let (status, list) = http(addr, "GET", "/admin/peers", Some(&token), None).await;
    assert_eq!(status, 200);
    assert_eq!(json::<PeerList>(&list).peers, vec![]);
    // The public routes need no token.
    assert_eq!(http(addr, "GET", "/status", None, None).await.0, 200);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_an_oversized_or_unsized_body_is_refused_and_changes_nothing() {
    let node = Domain::start("alpha.test", |_| {}).await;
    let addr = node.gateway.http_addr();
    let token = node.admin_token();
    let mut record = FakeLog::new("beta.test", 40, 0).record();
    // A valid record padded with whitespace past the 64 KiB bound.
    let mut big = serde_json::to_vec(&record).unwrap();
    big.extend(std::iter::repeat_n(b' ', 70 * 1024));
    let (status, body) = http(addr, "POST", "/admin/peers", Some(&token), Some(&big)).await;
    assert_eq!(status, 413, "{body}");
    // A chunked body, no length announced: cut at the bound while it is read.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let head = format!(
        "POST /admin/peers HTTP/1.1\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..70 {
        // The node may answer 413 and close before all of it is sent.
        let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // No body at all (HTTP/1.1 without a length has none): a bad JSON body.
    let (status, body) = http(addr, "POST", "/admin/peers", Some(&token), None).await;
    assert_eq!(status, 400, "{body}");
    // Bad JSON and a bad record are 400.
    let (status, _) = http(addr, "POST", "/admin/peers", Some(&token), Some(b"{")).await;
    assert_eq!(status, 400);
    record.log_key = "not a key".into();
    let bad = serde_json::to_vec(&record).unwrap();
    let (status, body) = http(addr, "POST", "/admin/peers", Some(&token), Some(&bad)).await;
    assert_eq!(status, 400);
    assert!(body.contains("log_key"), "{body}");
    assert!(node.gateway.peers().list().is_empty());
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_blocklist_and_alerts_through_the_api() {
    let node = Domain::start("alpha.test", |_| {}).await;
    let addr = node.gateway.http_addr();
    let token = Some(node.admin_token());
    let token = token.as_deref();
    let beta = FakeLog::new("beta.test", 40, 0).record();
    let body = serde_json::to_vec(&beta).unwrap();

    let (status, answer) = http(addr, "POST", "/admin/peers", token, Some(&body)).await;
    assert_eq!(status, 200, "{answer}");
    let added: PeerAdded = json(&answer);
    assert_eq!((added.peer.clone(), added.replaced), (beta.clone(), false));
    let (_, answer) = http(addr, "POST", "/admin/peers", token, Some(&body)).await;
    assert!(json::<PeerAdded>(&answer).replaced);
    let (_, answer) = http(addr, "GET", "/admin/peers", token, None).await;
    assert_eq!(json::<PeerList>(&answer).peers, vec![beta.clone()]);
    // This node itself, or another domain claiming beta's peer id: 409.
    let mut me = node.record();
    me.addrs.clear();
    let (status, _) = http(
        addr,
        "POST",
        "/admin/peers",
        token,
        Some(&serde_json::to_vec(&me).unwrap()),
    )
    .await;
    assert_eq!(status, 409);
    let mut thief = FakeLog::new("gamma.test", 60, 0).record();
    thief.peer_id = beta.peer_id.clone();
    let (status, _) = http(
        addr,
        "POST",
        "/admin/peers",
        token,
        Some(&serde_json::to_vec(&thief).unwrap()),
    )
    .await;
    assert_eq!(status, 409);

    // Block beta, list, clear.
    let block = format!("{{\"peers\": [\"{}\"], \"all\": false}}", beta.peer_id);
    let (status, answer) = http(
        addr,
        "POST",
        "/admin/blocklist",
        token,
        Some(block.as_bytes()),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        json::<BlockList>(&answer).blocked,
        vec![beta.peer_id.clone()]
    );
    let (_, answer) = http(
        addr,
        "POST",
        "/admin/blocklist",
        token,
        Some(b"{\"all\": true}"),
    )
    .await;
    assert_eq!(
        json::<BlockList>(&answer).blocked,
        vec![beta.peer_id.clone()]
    );
    let (status, answer) = http(addr, "DELETE", "/admin/blocklist", token, None).await;
    assert_eq!(status, 200);
    assert!(json::<BlockList>(&answer).blocked.is_empty());
    assert!(node.gateway.handle().blocked().await.unwrap().is_empty());
    let (status, _) = http(
        addr,
        "POST",
        "/admin/blocklist",
        token,
        Some(b"{\"peers\": [\"nope\"]}"),
    )
    .await;
    assert_eq!(status, 400);

    let (status, answer) = http(addr, "GET", "/admin/alerts", token, None).await;
    assert_eq!(status, 200);
    let report: AlertReport = json(&answer);
    assert!(report.alerts.is_empty() && report.distrusted.is_empty());

    // Unregister; a second time is 404.
    let (status, answer) = http(addr, "DELETE", "/admin/peers/beta.test", token, None).await;
    assert_eq!(status, 200);
    assert!(json::<PeerRemoved>(&answer).removed);
    let (status, _) = http(
        addr,
        "DELETE",
        "/admin/peers",
        token,
        Some(b"{\"domain\": \"beta.test\"}"),
    )
    .await;
    assert_eq!(status, 404);
    assert!(node.gateway.peers().list().is_empty());

    // Without test_hooks there is no fork switch; unknown calls and methods are refused.
    assert_eq!(
        http(addr, "POST", "/admin/test/fork", token, Some(b""))
            .await
            .0,
        404
    );
    assert_eq!(
        http(addr, "PUT", "/admin/peers", token, Some(b"{}"))
            .await
            .0,
        405
    );
    assert_eq!(
        http(addr, "GET", "/admin/nothing", token, None).await.0,
        404
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_node_peer_edits_a_stopped_node_and_asks_a_running_one() {
    let node = Domain::start("alpha.test", |_| {}).await;
    let config_path = herald_node::config::NodeConfig::default_file(&node.config.data_dir);
    let config = config_path.to_str().unwrap().to_owned();
    let node = node.stop().await;
    let beta = FakeLog::new("beta.test", 40, 0).record();
    let cli = move |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .args(args)
                .env_remove("RUST_LOG")
                .output()
                .expect("run herald-node")
        })
    };
    let add = vec![
        "peer",
        "add",
        "--config",
        &config,
        "--domain",
        "beta.test",
        "--log-key",
        &beta.log_key,
        "--witness-key",
        &beta.witness_key,
        "--peer-id",
        &beta.peer_id,
        "--addr",
        "/ip4/127.0.0.1/tcp/9",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let out = cli(add).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A bad key is refused with the field named, and changes nothing.
    let bad = vec![
        "peer",
        "add",
        "--config",
        &config,
        "--domain",
        "gamma.test",
        "--log-key",
        "junk",
        "--witness-key",
        &beta.witness_key,
        "--peer-id",
        &beta.peer_id,
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let out = cli(bad).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("log_key"));

    let node = node.start().await;
    assert_eq!(node.gateway.peers().list().len(), 1);
    let list = vec!["peer", "list", "--config", &config, "--json"]
        .into_iter()
        .map(String::from)
        .collect();
    let out = cli(list).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: PeerList = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(listed.peers[0].domain, "beta.test");
    // A "domain" that would smuggle text into the HTTP request line is refused before any call.
    let smuggle = vec![
        "peer",
        "remove",
        "--config",
        &config,
        "--domain",
        "beta.test HTTP/1.1\r\nX-Evil: 1\r\n",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let out = cli(smuggle).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid domain name"));
    assert_eq!(node.gateway.peers().list().len(), 1);
    // While the node runs, `peer remove` goes through its admin API.
    let remove = vec![
        "peer",
        "remove",
        "--config",
        &config,
        "--domain",
        "beta.test",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    let out = cli(remove).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(node.gateway.peers().list().is_empty());
    let alerts = vec!["alerts", "--config", &config]
        .into_iter()
        .map(String::from)
        .collect();
    let out = cli(alerts).await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("no split-view alert"));
    node.stop().await;
}
