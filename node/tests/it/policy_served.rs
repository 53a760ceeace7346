//! The gateway's policy (DESIGN §4) as a client meets it: the rule set from the node's
//! configuration, served on `/herald/client/1` without a session, decoding to the same rules.

use crate::network_support::{TestClient, TestNode};
use herald_node::config::NodeConfig;
use herald_proto::policy::{PolicyRefusal, RuleSet};
use herald_proto::wire::pb::{self, client_request::Request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_rule_set_is_served_to_a_client_without_a_session() {
    let node = TestNode::start("alpha.test", |config| {
        config.policy.sender_deny = vec!["*@spam.test".into()];
        config.policy.accepted_media_types = vec!["image/*".into(), "application/pdf".into()];
        config.policy.max_mail_bytes = 1_000_000;
    })
    .await;
    let mut client = TestClient::connect(node.tcp_addr()).await;
    let response = client.request(Request::Policy(pb::PolicyRequest {})).await;
    let wire = herald_proto::wire::client::expect_policy(response).expect("a rule set");
    let rules = RuleSet::from_wire(&wire).expect("the served rule set is valid");
    let configured = node.gateway.config().policy.rule_set().unwrap();
    assert_eq!(rules, configured);
    assert_eq!(rules.max_mail_bytes, 1_000_000);
    // What the gateway serves is what its own gate judges with.
    let facts = herald_proto::policy::MailFacts {
        sender: "x@spam.test",
        recipient: "bob@alpha.test",
        size: 10,
        manifest: &[],
        recipient_mailbox: None,
    };
    assert_eq!(
        herald_proto::policy::judge(&rules, &facts),
        Err(PolicyRefusal::SenderRefused)
    );
    // The gate's refusal counters are in /metrics, every reason from the start.
    let (status, metrics) = node.http_get("/metrics").await;
    assert_eq!(status, 200);
    for reason in PolicyRefusal::LABELS {
        for from in ["client", "peer"] {
            let series =
                format!("herald_policy_rejections_total{{reason=\"{reason}\",from=\"{from}\"}} 0");
            assert!(metrics.contains(&series), "{series} missing:\n{metrics}");
        }
    }
    // Served to anyone: the policy request is counted like every other kind.
    assert!(
        metrics.contains(r#"herald_client_requests_total{kind="policy"} 1"#),
        "{metrics}"
    );
}

#[test]
fn a_malformed_policy_table_is_refused_at_load_with_a_clear_error() {
    let base = NodeConfig::new("alpha.test", "/var/lib/herald").to_toml();
    for (bad, says) in [
        ("sender_deny = [\"not-an-address\"]", "address pattern"),
        ("accepted_media_types = [\"pdf\"]", "media type"),
        ("account_burst = 0", "burst"),
        ("no_such_key = 1", "unknown field"),
    ] {
        let key = bad.split(' ').next().unwrap();
        let text = if base.contains(&format!("\n{key} = ")) {
            base.lines()
                .map(|l| {
                    if l.starts_with(&format!("{key} = ")) {
                        bad
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            format!("{base}\n{bad}\n")
        };
        let err = NodeConfig::from_toml_str(&text).expect_err(bad).to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}
