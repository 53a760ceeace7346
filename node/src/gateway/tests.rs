use super::node_info::MAX_NODE_INFO_BYTES;
use super::*;
use crate::keys::NodeKeys;

#[test]
fn init_makes_keys_config_and_log_and_refuses_to_repeat() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let config = NodeConfig::new("alpha.test", &dir);
    let report = init(&config).unwrap();
    let text = fs::read_to_string(&report.config_path).unwrap();
    assert_eq!(NodeConfig::from_toml_str(&text).unwrap(), config);
    let keys = NodeKeys::load(&config.key_dir(), "alpha.test").unwrap();
    assert_eq!(keys.log_verifier(), report.log_key);
    assert_eq!(keys.peer_id(), report.peer_id);
    let head = stored_head(&config).unwrap();
    assert_eq!(head.size, 0);
    assert!(matches!(
        init(&config),
        Err(GatewayError::DataDirNotEmpty(_))
    ));
}

#[test]
fn node_info_is_replaced_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("node.json");
    let mut info = NodeInfo {
        peer_id: "p".into(),
        listen_addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
        http_addr: "127.0.0.1:2".parse().unwrap(),
        pid: 3,
        origin: "a.test/herald".into(),
        log_key: "k".into(),
    };
    info.write(&path).unwrap();
    info.pid = 4;
    info.write(&path).unwrap();
    assert_eq!(NodeInfo::read(&path).unwrap(), info);
    assert!(!tmp.path().join("node.json.tmp").exists());
    fs::write(&path, b"{").unwrap();
    assert!(matches!(
        NodeInfo::read(&path),
        Err(GatewayError::NodeInfo { .. })
    ));
    // Over the bound: refused unread past it, not parsed as a cut-off document.
    fs::write(&path, vec![b' '; MAX_NODE_INFO_BYTES as usize + 1]).unwrap();
    let err = NodeInfo::read(&path).unwrap_err().to_string();
    assert!(err.contains("larger than"), "{err}");
}
