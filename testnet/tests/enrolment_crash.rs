//! One code binds one key, even across a crash (F5 of the reliability review), on real node
//! processes.
//!
//! The review killed a node (gdb, then SIGKILL) after a registration's `IdentityBinding` was
//! durable and before the account was marked active; after the restart the same code bound a
//! second key, and the log held two unrevoked bindings of the account. Here the testnet arms the
//! node's test-only fault point `binding-durable` (`herald_node::fault`, honoured only by the
//! testnet's nodes), so the node SIGKILLs itself at exactly that moment. After the restart
//! another key presents the same code: refused; the light client's binding lookup shows the
//! first key, and reading the whole log finds exactly one binding of the account and no
//! revocation.

mod common;

use std::time::Duration;

use common::{bounded, options};
use herald_light_client::keystore::{MemoryKeyStore, SecureKeyStore as _};
use herald_light_client::{ClientError, Gateway as _, registration};
use herald_node::fault::FaultPoint;
use herald_proto::wire::pb::{self, ClientErrorKind, log_entry};
use herald_proto::wire::{MAX_ENTRY_PAGE_COUNT, MAX_LOG_ENTRY_BYTES, decode};
use herald_testnet::{Testnet, TestnetError, wait};
use tempfile::TempDir;

const ACCOUNT: &str = "carol@d0.test";
const BOUND: Duration = Duration::from_secs(120);
/// Bound on the binding becoming visible (cosigned) after the restart.
const SERVED_WITHIN: Duration = Duration::from_secs(30);

/// A password record claiming the testnet's costs (its contents do not matter here).
fn record() -> pb::PasswordRecord {
    let params = herald_testnet::testnet::testnet_password_params();
    herald_proto::paep::ProverSecrets::<herald_proto::paep::Ristretto255Blake3>::derive(
        b"pw", ACCOUNT, "d0.test", params,
    )
    .unwrap()
    .record()
    .to_pb(params)
}

fn keys(seed: u8) -> MemoryKeyStore {
    let ik = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    MemoryKeyStore::with_identity(ACCOUNT, ik).unwrap()
}

/// Every entry of node `i`'s log, page by page.
async fn all_entries(net: &Testnet, i: usize) -> Vec<Vec<u8>> {
    let client = net.client(i).await.unwrap();
    let size = net.status(i).await.unwrap().tree_size;
    let mut entries = Vec::new();
    while (entries.len() as u64) < size {
        let page = client
            .entries(entries.len() as u64, MAX_ENTRY_PAGE_COUNT)
            .await
            .unwrap();
        assert_eq!(page.start, entries.len() as u64);
        entries.extend(page.entries);
    }
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_crash_between_binding_and_activation_never_lets_one_code_bind_two_keys() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        // Two domains, so that d0's checkpoints get cosigned and its bindings are served.
        let mut net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        net.set_fault(0, Some(FaultPoint::BindingDurable)).unwrap();
        net.restart(0).await.unwrap();
        let code = net
            .node(0)
            .enrol(ACCOUNT, None)
            .await
            .unwrap()
            .enrolment_code;

        // The first key registers; the node dies right after the binding is durable.
        let mut first = keys(1);
        let request = registration(&mut first, &code, record()).unwrap();
        let state = dir.path().join("client");
        let mut log = net.trusted_log(0, &state).await.unwrap();
        let crashed = log.register(request).await;
        assert!(crashed.is_err(), "the node answered: {crashed:?}");
        drop(log);
        let died = wait::until(BOUND / 4, Duration::from_millis(20), || {
            let alive = net.check_alive(0);
            async move {
                match alive {
                    Err(TestnetError::Exited { .. }) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
        assert!(
            died.is_ok(),
            "the node did not die at the fault point: {died:?}"
        );
        let node_log = std::fs::read_to_string(net.node(0).log_path()).unwrap();
        assert!(
            node_log.contains("fault point binding-durable reached"),
            "{node_log}"
        );

        // Restarted without the fault; the registration left in flight is settled at start.
        net.set_fault(0, None).unwrap();
        net.restart(0).await.unwrap();

        // Another key with the same code: refused.
        let mut second = keys(2);
        let request = registration(&mut second, &code, record()).unwrap();
        let mut log = net.trusted_log(0, &state).await.unwrap();
        match log.register(request).await {
            Err(ClientError::Refused(r)) => assert_eq!(r.kind, ClientErrorKind::Unauthorized),
            other => panic!("the same code bound another key: {other:?}"),
        }

        // The light client's binding lookup: the first key, no revocation.
        let trust = net.log_trust(0).unwrap();
        let deadline = tokio::time::Instant::now() + SERVED_WITHIN;
        let bound = loop {
            match log.binding(&trust, ACCOUNT, 60).await {
                Ok(bound) => break bound,
                Err(e) => assert!(
                    tokio::time::Instant::now() < deadline,
                    "the binding is not served: {e}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let first_key = first.identity().unwrap().key;
        assert_eq!(bound.binding().identity_key(), first_key.as_bytes());
        assert!(bound.revocations().is_empty());

        // The whole log: exactly one binding of the account, of the first key; no revocation.
        let mut bindings = Vec::new();
        let mut revocations = 0;
        for (index, entry) in all_entries(&net, 0).await.iter().enumerate() {
            let entry: pb::LogEntry = decode(entry, MAX_LOG_ENTRY_BYTES).unwrap();
            match entry.kind {
                Some(log_entry::Kind::IdentityBinding(b)) if b.account == ACCOUNT => {
                    bindings.push((index, b.identity_key));
                }
                Some(log_entry::Kind::IdentityRevocation(r)) if r.account == ACCOUNT => {
                    revocations += 1;
                }
                _ => {}
            }
        }
        assert_eq!(bindings.len(), 1, "bindings of {ACCOUNT}: {bindings:?}");
        assert_eq!(bindings[0].1, first_key.as_bytes().to_vec());
        assert_eq!(revocations, 0);
    })
    .await;
}
