use super::*;

#[test]
fn the_template_parses_back_to_the_same_config() {
    let mut config = NodeConfig::for_loopback_test("alpha.test", "/tmp/herald \"quoted\"\\dir");
    config.hash = HashAlgorithm::Sha256;
    config.batch_max = 17;
    config.log_level = "info,herald_node=debug".into();
    config.quorum = 2;
    config.disk_warn_free_mib = 9;
    config.disk_min_free_mib = 3;
    config.scrub_kib_per_second = 0;
    config.test_hooks = true;
    config.test_refuse_relay_batches = true;
    config.test_refuse_next_mails = true;
    config.peers = vec![
        crate::peers::tests::record("beta.test", 10, 4000),
        crate::peers::tests::record("gamma.test", 20, 4001),
    ];
    let text = config.to_toml();
    assert_eq!(NodeConfig::from_toml_str(&text).unwrap(), config);
}

#[test]
fn the_refusal_hooks_are_honoured_only_with_test_hooks() {
    let mut config = NodeConfig::for_loopback_test("alpha.test", "/tmp/herald");
    config.test_refuse_relay_batches = true;
    config.test_refuse_next_mails = true;
    config.test_hooks = false;
    let settings = config.mail_settings();
    assert!(!settings.refuse_relay_batches && !settings.refuse_next_mails);
    config.test_hooks = true;
    let settings = config.mail_settings();
    assert!(settings.refuse_relay_batches && settings.refuse_next_mails);
    config.test_refuse_next_mails = false;
    assert!(!config.mail_settings().refuse_next_mails);
}

#[test]
fn the_template_documents_every_field() {
    // Every key of the serialized struct is written, each under a comment.
    let config = NodeConfig::new("alpha.test", "/var/lib/herald");
    let text = config.to_toml();
    let table: toml::Table = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
    for key in table.keys() {
        // A table (`[policy]`) is written as its header.
        let line = text
            .lines()
            .position(|l| l.starts_with(&format!("{key} = ")) || l == format!("[{key}]"))
            .unwrap_or_else(|| panic!("{key} missing from the template"));
        assert!(
            text.lines().nth(line - 1).unwrap().starts_with('#'),
            "{key} has no comment"
        );
    }
}

/// F11 of the reliability review: `http_listen = 0.0.0.0:…` was accepted silently, and the
/// admin token then travelled in clear on every interface.
#[test]
fn attack_a_public_http_listener_is_refused_unless_explicitly_allowed() {
    let mut config = NodeConfig::new("alpha.test", "/d");
    for public in ["0.0.0.0:4711", "192.0.2.1:4711", "[::]:4711"] {
        config.http_listen = public.parse().unwrap();
        config.http_listen_public = false;
        assert!(
            matches!(config.validate(), Err(ConfigError::PublicHttp(_))),
            "{public}"
        );
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("in clear")
        );
        config.http_listen_public = true;
        assert!(config.validate().is_ok(), "{public}");
        let warning = config.http_exposure_warning().expect("a warning");
        assert!(warning.contains("bearer token"), "{warning}");
    }
    for loopback in ["127.0.0.1:4711", "[::1]:4711", "127.0.0.2:0"] {
        config.http_listen = loopback.parse().unwrap();
        config.http_listen_public = false;
        assert!(config.validate().is_ok(), "{loopback}");
        assert_eq!(config.http_exposure_warning(), None);
    }
    // The file says so too.
    let text = "domain = \"a.test\"\ndata_dir = \"/d\"\nhttp_listen = \"0.0.0.0:1\"\n";
    assert!(NodeConfig::from_toml_str(text).is_err());
    let allowed = format!("{text}http_listen_public = true\n");
    assert!(
        NodeConfig::from_toml_str(&allowed)
            .unwrap()
            .http_listen_public
    );
}

#[test]
fn a_minimal_file_takes_the_defaults() {
    let config = NodeConfig::from_toml_str("domain = \"a.test\"\ndata_dir = \"/d\"\n").unwrap();
    assert_eq!(config, NodeConfig::new("a.test", "/d"));
    assert_eq!(config.origin(), "a.test/herald");
}

#[test]
fn peers_may_be_written_as_tables_and_are_checked() {
    let beta = crate::peers::tests::record("beta.test", 10, 4000);
    let text = format!(
        "domain = \"a.test\"\ndata_dir = \"/d\"\nquorum = 1\n\n[[peers]]\ndomain = \"beta.test\"\n\
         log_key = \"{}\"\nwitness_key = \"{}\"\npeer_id = \"{}\"\naddrs = [\"{}\"]\n",
        beta.log_key, beta.witness_key, beta.peer_id, beta.addrs[0]
    );
    let config = NodeConfig::from_toml_str(&text).unwrap();
    assert_eq!(config.peers, vec![beta.clone()]);
    assert_eq!(
        config.peer_domains().unwrap()[0].origin(),
        "beta.test/herald"
    );
    // A misspelt field of a peer is refused like any other.
    let typo = text.replace("peer_id =", "peerid =");
    assert!(NodeConfig::from_toml_str(&typo).is_err());
}

#[test]
fn unknown_keys_are_refused() {
    let err = NodeConfig::from_toml_str("domain = \"a.test\"\ndata_dir = \"/d\"\nbatch = 3\n")
        .unwrap_err();
    assert!(err.to_string().contains("batch"), "{err}");
}

#[test]
fn bad_values_are_refused_with_their_field() {
    let base = NodeConfig::new("a.test", "/d");
    let cases: Vec<(NodeConfig, &str)> = vec![
        (
            NodeConfig {
                domain: String::new(),
                ..base.clone()
            },
            "domain",
        ),
        (
            NodeConfig {
                domain: "a b".into(),
                ..base.clone()
            },
            "domain",
        ),
        (
            NodeConfig {
                listen: vec![],
                ..base.clone()
            },
            "listen",
        ),
        (
            NodeConfig {
                listen: vec!["/ip4/1.2.3.4/udp/5".parse().unwrap()],
                ..base.clone()
            },
            "/udp/5",
        ),
        (
            NodeConfig {
                sequence_interval_ms: 0,
                ..base.clone()
            },
            "sequence_interval_ms",
        ),
        (
            NodeConfig {
                batch_max: base.pool_max + 1,
                ..base.clone()
            },
            "batch_max",
        ),
        (
            NodeConfig {
                quorum: 0,
                ..base.clone()
            },
            "quorum",
        ),
        (
            NodeConfig {
                disk_warn_free_mib: 10,
                disk_min_free_mib: 20,
                ..base.clone()
            },
            "disk_min_free_mib",
        ),
        (
            NodeConfig {
                scrub_kib_per_second: u64::MAX,
                ..base.clone()
            },
            "scrub_kib_per_second",
        ),
        (
            NodeConfig {
                peers: vec![crate::peers::tests::record("a.test", 10, 1)],
                ..base.clone()
            },
            "a.test",
        ),
        (
            NodeConfig {
                peers: vec![crate::peers::tests::record("b.test", 10, 1); 2],
                ..base.clone()
            },
            "b.test",
        ),
    ];
    for (config, word) in cases {
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(word), "{err:?} does not name {word}");
    }
    assert!(base.validate().is_ok());
}

#[test]
fn a_bad_hash_or_multiaddr_is_a_parse_error() {
    for text in [
        "domain = \"a.test\"\ndata_dir = \"/d\"\nhash = \"md5\"\n",
        "domain = \"a.test\"\ndata_dir = \"/d\"\nlisten = [\"tcp:4710\"]\n",
    ] {
        assert!(matches!(
            NodeConfig::from_toml_str(text),
            Err(ConfigError::Toml(_))
        ));
    }
}

#[test]
fn witnessed_logs_are_checked_keys_each_origin_once() {
    let base = NodeConfig::new("me.test", "/tmp/x");
    let peer = crate::peers::tests::record("peer.test", 10, 1);
    let key = |domain: &str, seed: u8| crate::peers::tests::record(domain, seed, 1).log_key;
    let entry = |key: String| WitnessedLog {
        key,
        hash: HashAlgorithm::Sha256,
    };
    let ok = NodeConfig {
        peers: vec![peer.clone()],
        witnessed_logs: vec![entry(key("a.example", 20)), entry(key("b.example", 30))],
        ..base.clone()
    };
    ok.validate().unwrap();
    let origins: Vec<String> = (ok.witnessed_logs().unwrap().iter())
        .map(|l| l.origin().to_owned())
        .collect();
    assert_eq!(origins, ["a.example/herald", "b.example/herald"]);
    let refused = [
        vec![entry("not a key".into())],
        vec![entry(key("a.example", 20)), entry(key("a.example", 40))],
        vec![entry(key("me.test", 50))],
        vec![entry(peer.log_key.clone())],
    ];
    for logs in refused {
        let config = NodeConfig {
            peers: vec![peer.clone()],
            witnessed_logs: logs.clone(),
            ..base.clone()
        };
        assert!(
            matches!(
                config.validate(),
                Err(ConfigError::WitnessedLog { .. } | ConfigError::DuplicateWitnessedLog(_))
            ),
            "{logs:?}"
        );
    }
    // External witnesses: http:// URLs and keys that parse, each key once.
    let witness_key = |seed: u8| crate::peers::tests::record("w.example", seed, 1).witness_key;
    let external = |url: &str, key: String| ExternalWitness {
        url: url.into(),
        key,
    };
    let ok = NodeConfig {
        external_witnesses: vec![external("http://127.0.0.1:9/w/", witness_key(70))],
        ..base.clone()
    };
    assert_eq!(
        ok.external_witnesses().unwrap()[0].0,
        "http://127.0.0.1:9/w",
        "the trailing slash is dropped"
    );
    for bad in [
        vec![external("https://w.example", witness_key(70))],
        vec![external("http://", witness_key(70))],
        vec![external("http://w.example", "not a key".into())],
        vec![
            external("http://a.example", witness_key(70)),
            external("http://b.example", witness_key(70)),
        ],
    ] {
        let config = NodeConfig {
            external_witnesses: bad.clone(),
            ..base.clone()
        };
        assert!(
            matches!(config.validate(), Err(ConfigError::ExternalWitness { .. })),
            "{bad:?}"
        );
    }
    // From TOML: the hash defaults to C2SP's SHA-256.
    let text = format!(
        "domain = \"me.test\"\ndata_dir = \"/tmp/x\"\n[[witnessed_logs]]\nkey = \"{}\"\n",
        key("c.example", 60)
    );
    let config = NodeConfig::from_toml_str(&text).unwrap();
    assert_eq!(config.witnessed_logs[0].hash, HashAlgorithm::Sha256);
}
