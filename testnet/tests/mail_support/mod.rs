//! What the mail tests share (`mail.rs`, `mail_batch.rs`, `mail_cycle.rs`): a logged-in session at a node, the
//! testnet's domain logs as trust, a send that waits out a binding not yet cosigned, and a
//! bounded wait for a mailbox to fill, a sender's outbox state, a node's evidence records of a
//! mail (its `Handover` among them), and a node restarted with another configuration.
#![allow(dead_code)] // Each test crate uses a different part.

use std::path::Path;
use std::time::Duration;

use herald_light_client::keystore::MemoryKeyStore;
use herald_light_client::{GatewayClient, LogTrust, MemorySessionStore, Session, SessionError};
use herald_proto::wire::pb;
use herald_testnet::Testnet;

use crate::paep_support::{PASSWORD, now, refusal};

/// Clock skew the clients allow, seconds.
pub(crate) const SKEW: u64 = 60;
/// Bound on a binding being cosigned and served after registration, and on a relay.
pub(crate) const WITHIN: Duration = Duration::from_secs(40);

/// `account` logged in at node `i`.
pub(crate) async fn login(
    net: &Testnet,
    i: usize,
    account: &str,
) -> (GatewayClient, Session<MemorySessionStore>) {
    let client = net.client(i).await.unwrap();
    let session = Session::login(&client, account, PASSWORD, MemorySessionStore::new())
        .await
        .unwrap();
    (client, session)
}

/// Every domain log of the testnet.
pub(crate) fn trusts(net: &Testnet) -> Vec<LogTrust> {
    (0..net.len()).map(|i| net.log_trust(i).unwrap()).collect()
}

/// Whether `e` is the gateway's PENDING (a binding not yet cosigned).
pub(crate) fn pending(e: &SessionError) -> bool {
    matches!(e, SessionError::Gateway(c) if refusal(c) == Some(pb::ClientErrorKind::Pending))
}

/// The outcome of `attempt`, tried again every 100 ms while the gateway answers PENDING (a
/// binding not yet cosigned), up to [`WITHIN`]; any other error fails the test.
pub(crate) async fn while_pending<T>(
    mut attempt: impl AsyncFnMut() -> Result<T, SessionError>,
) -> T {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        match attempt().await {
            Err(e) if pending(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other.unwrap(),
        }
    }
}

/// The session's envelope of `plaintext` to `to`, sealed (not sent), retrying while a binding
/// is pending.
pub(crate) async fn seal(
    net: &Testnet,
    client: &GatewayClient,
    session: &mut Session<MemorySessionStore>,
    keys: &mut MemoryKeyStore,
    to: &str,
    msg_id: &[u8],
    plaintext: &[u8],
) -> pb::MailEnvelope {
    let trusts = trusts(net);
    while_pending(async || {
        (session.seal_mail(client, keys, to, &trusts, msg_id, plaintext, now(), SKEW)).await
    })
    .await
}

/// Sends `plaintext` from the session's account to `to`, retrying while a binding is pending.
pub(crate) async fn send(
    net: &Testnet,
    client: &GatewayClient,
    session: &mut Session<MemorySessionStore>,
    keys: &mut MemoryKeyStore,
    to: &str,
    msg_id: &[u8],
    plaintext: &[u8],
) -> pb::MailAccepted {
    let trusts = trusts(net);
    while_pending(async || {
        let sent = session.send_mail(client, keys, to, &trusts, msg_id, plaintext, 0, now(), SKEW);
        sent.await
    })
    .await
}

/// Waits (bounded) until the session's mailbox lists `n` mails; returns the listing.
pub(crate) async fn inbox_of(
    client: &GatewayClient,
    session: &mut Session<MemorySessionStore>,
    n: usize,
) -> pb::Inbox {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let inbox = session.inbox(client).await.unwrap();
        if inbox.entries.len() >= n || tokio::time::Instant::now() >= deadline {
            return inbox;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Node `i`'s log as a client trusts it, cosigned by the other domain's witness (its state
/// under `dir`), for reading evidence with proofs.
pub(crate) async fn evidence_reader(
    net: &Testnet,
    i: usize,
    dir: &Path,
) -> herald_light_client::TrustedLog<GatewayClient, herald_light_client::FileCheckpointStore> {
    let (node, other) = (net.node(i), net.node(1 - i));
    let policy = herald_proto::checkpoint::WitnessPolicy::new(
        node.log_key().clone(),
        vec![other.witness_key().clone()],
        1,
    )
    .unwrap();
    herald_light_client::TrustedLog::open(
        net.client(i).await.unwrap(),
        herald_light_client::LogTrust::new(policy, node.hash()),
        herald_light_client::FileCheckpointStore::new(dir.join(format!("evidence-reader-{i}"))),
    )
    .unwrap()
}

/// The evidence records node `i` logged for `msg_id`, verified by a light client (proved in a
/// checkpoint it trusts); waits (bounded) until there are at least `count`.
pub(crate) async fn evidence_kinds(
    net: &Testnet,
    i: usize,
    dir: &Path,
    msg_id: &[u8],
    count: usize,
) -> Vec<herald_proto::entry::EvidenceRecord> {
    evidence_records(net, i, dir, msg_id, count)
        .await
        .into_iter()
        .map(|r| r.record)
        .collect()
}

/// [`evidence_kinds`] with each record's log index, in log order.
pub(crate) async fn evidence_records(
    net: &Testnet,
    i: usize,
    dir: &Path,
    msg_id: &[u8],
    count: usize,
) -> Vec<herald_proto::evidence::ProvenRecord> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let mut log = evidence_reader(net, i, dir).await;
        match log.delivery_status(msg_id).await {
            Ok(status) if status.records.len() >= count => {
                let mut records = status.records;
                records.sort_by_key(|r| r.index);
                return records;
            }
            Ok(_) | Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("no {count} records for {msg_id:?} at node {i} in time: {other:?}"),
        }
    }
}

/// Waits (bounded) until the outbox lists `msg_id` in `state`.
pub(crate) async fn outbox_state(
    client: &GatewayClient,
    session: &mut Session<MemorySessionStore>,
    msg_id: &[u8],
    state: pb::DeliveryState,
    within: Duration,
) -> pb::OutboxEntry {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let outbox = session.outbox(client).await.unwrap();
        let entry = outbox.entries.into_iter().find(|e| e.msg_id == msg_id);
        match entry {
            Some(e) if e.state == state as i32 => return e,
            other if tokio::time::Instant::now() >= deadline => {
                panic!("mail {msg_id:?} not {state:?} in time: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Node `i` stopped, its configuration file changed by `change`, and started again.
pub(crate) async fn reconfigure(
    net: &mut Testnet,
    i: usize,
    change: impl FnOnce(&mut herald_node::config::NodeConfig),
) {
    net.stop(i).await.unwrap();
    let path = net.node(i).config_path().to_owned();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut config = herald_node::config::NodeConfig::from_toml_str(&text).unwrap();
    change(&mut config);
    std::fs::write(&path, config.to_toml()).unwrap();
    net.restart(i).await.unwrap();
}

/// Whether node `i` proves a `Handover` record of `msg_id` (bounded wait for its checkpoint to
/// be cosigned; the record itself was logged before the fetch was answered).
pub(crate) async fn handed_over(
    net: &Testnet,
    i: usize,
    dir: &std::path::Path,
    msg_id: &[u8],
) -> bool {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let mut log = evidence_reader(net, i, dir).await;
        if let Ok(status) = log.delivery_status(msg_id).await
            && status
                .records
                .iter()
                .any(|r| r.record.kind == pb::EvidenceKind::Handover)
        {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
