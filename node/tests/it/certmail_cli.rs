//! `herald-node account add|disable|list` as an operator uses it: through the admin API while
//! the node runs, on the database while it is stopped (disabling an active account still logs
//! its revocation, signed and flushed as the running node would).

use std::path::Path;
use std::process::{Command, Output};

use crate::network_support::{TestClient, error_of};
use crate::witness_support::Domain;
use herald_node::accounts::api::{AccountAdded, AccountList};
use herald_node::config::NodeConfig;
use herald_node::service::DisableReport;
use herald_proto::entry::verify_identity_revocation;
use herald_proto::wire::pb::{self, log_entry};
use herald_proto::wire::{MAX_LOG_ENTRY_BYTES, decode};

use crate::certmail_support::{Account, register};

const BIN: &str = env!("CARGO_BIN_EXE_herald-node");

fn account(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("account")
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .output()
        .expect("run herald-node")
}

fn ok_json<T: serde::de::DeserializeOwned>(out: Output) -> T {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_managed_through_the_running_node_and_on_a_stopped_one() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let config = NodeConfig::default_file(&alpha.config.data_dir);

    // Running: the CLI goes through the admin API; the code it prints registers the account.
    let added: AccountAdded = ok_json(account(
        &config,
        &["add", "carol@alpha.test", "--valid-days", "2", "--json"],
    ));
    assert_eq!(added.account.state, "pending");
    let carol = Account::new("carol@alpha.test", 3);
    let mut client = TestClient::connect(alpha.addr()).await;
    let ack = register(&mut client, &carol, &added.enrolment_code).await;
    assert!(error_of(&ack).is_none(), "{ack:?}");
    let list: AccountList = ok_json(account(&config, &["list", "--json"]));
    assert_eq!(list.accounts.len(), 1);
    assert_eq!(list.accounts[0].state, "active");
    assert_eq!(
        list.accounts[0].identity_key,
        Some(hex::encode(carol.key()))
    );
    // Refusals are reported, and nothing is added.
    let refused = account(&config, &["add", "Carol@alpha.test"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("lower case"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    drop(client);

    // Stopped: the same commands edit the database.
    let stopped = alpha.stop().await;
    let out = account(&config, &["add", "dave@alpha.test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let code = text
        .lines()
        .find_map(|l| l.strip_prefix("enrolment code for dave@alpha.test: "))
        .unwrap_or_else(|| panic!("no code in {text}"))
        .trim()
        .to_owned();
    let report: DisableReport =
        ok_json(account(&config, &["disable", "carol@alpha.test", "--json"]));
    let revocation_index = report.revocation_index.expect("carol's key revoked");
    assert!(revocation_index > ack_index(&ack));
    let unknown = account(&config, &["disable", "nobody@alpha.test"]);
    assert!(!unknown.status.success());
    let list: AccountList = ok_json(account(&config, &["list", "--json"]));
    let states: Vec<(&str, &str)> = list
        .accounts
        .iter()
        .map(|a| (a.account.as_str(), a.state.as_str()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("carol@alpha.test", "disabled"),
            ("dave@alpha.test", "pending")
        ]
    );

    // Running again: the revocation is in the log, signed with the log key; the code issued
    // offline works.
    let alpha = stopped.start().await;
    let bytes = alpha
        .gateway
        .store()
        .entries(revocation_index, 1)
        .unwrap()
        .remove(0);
    let entry: pb::LogEntry = decode(&bytes, MAX_LOG_ENTRY_BYTES).unwrap();
    let Some(log_entry::Kind::IdentityRevocation(r)) = entry.kind else {
        panic!("not a revocation: {entry:?}")
    };
    let revocation =
        verify_identity_revocation(&r, alpha.keys.log_verifier().public_key()).unwrap();
    assert_eq!(revocation.account, "carol@alpha.test");
    assert_eq!(revocation.identity_key, carol.key());
    let mut client = TestClient::connect(alpha.addr()).await;
    let dave = Account::new("dave@alpha.test", 4);
    let ack = register(&mut client, &dave, &code).await;
    assert!(error_of(&ack).is_none(), "{ack:?}");
    alpha.stop().await;
}

fn ack_index(response: &pb::ClientResponse) -> u64 {
    match &response.response {
        Some(pb::client_response::Response::Submitted(ack)) => ack.index,
        other => panic!("{other:?}"),
    }
}
