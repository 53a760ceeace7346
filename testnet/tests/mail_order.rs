//! S_B's record order for a mail its recipient fetches the moment it arrives, through real
//! gateway processes: bob@d1.test waits on his inbox (the long poll), alice@d0.test's mail
//! wakes him as soon as it is durable in his mailbox and its consignment records are queued,
//! and he fetches it at once. d1's records of it are in the log as `RELAY_ACCEPTED`,
//! `CONSIGNMENT`, `HANDOVER`; and with d1's rounds seconds apart, the `HANDOVER` lands in the
//! consignment's round — no round of d1 ends between the two records, so the fetch was
//! answered after one round, not two (docs/decisions.md, "One round at the recipient's
//! gateway").

mod common;
mod mail_support;
mod paep_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{bounded, options};
use herald_light_client::keystore::MemoryKeyStore;
use herald_light_client::{GatewayClient, MemorySessionStore, Session};
use herald_proto::paep::MailContent;
use herald_proto::wire::{MAX_INBOX_WAIT_MS, pb};
use herald_testnet::{Testnet, TestnetOptions};
use mail_support::{evidence_records, login, reconfigure};
use paep_support::register;
use tempfile::TempDir;

const BOUND: Duration = Duration::from_secs(300);
const ALICE: &str = "alice@d0.test";
const BOB: &str = "bob@d1.test";
/// d1's sequencing interval in the second part: long enough that every round is seen.
const LONG_ROUNDS_MS: u64 = 4_000;

/// Bob waiting on his inbox, then fetching its first mail at once; gives back his session.
fn fetch_on_arrival(
    client: GatewayClient,
    mut bob: Session<MemorySessionStore>,
) -> tokio::task::JoinHandle<(GatewayClient, Session<MemorySessionStore>, Vec<u8>)> {
    tokio::spawn(async move {
        let wait = Duration::from_millis(u64::from(MAX_INBOX_WAIT_MS));
        for _ in 0..20 {
            let inbox = bob.inbox_waiting(&client, wait).await.unwrap();
            if let Some(entry) = inbox.entries.first() {
                let mail = bob.fetch_mail(&client, entry.id).await.unwrap();
                let msg_id = mail.envelope.unwrap().msg_id;
                bob.acknowledge_mail(&client, entry.id).await.unwrap();
                return (client, bob, msg_id);
            }
        }
        panic!("no mail arrived");
    })
}

/// Alice sends `msg_id` to bob while he waits on his inbox; returns once he has fetched it.
async fn fetched_on_arrival(
    net: &Testnet,
    bob: (GatewayClient, Session<MemorySessionStore>),
    alice: &mut (GatewayClient, Session<MemorySessionStore>),
    alice_keys: &mut MemoryKeyStore,
    msg_id: &[u8],
) {
    let fetched = fetch_on_arrival(bob.0, bob.1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let plaintext = MailContent::build("order", b"fetched at once", vec![]).unwrap();
    let (client, session) = alice;
    mail_support::send(net, client, session, alice_keys, BOB, msg_id, &plaintext).await;
    let (_, _, fetched) = fetched.await.unwrap();
    assert_eq!(fetched, msg_id);
}

/// Every tree size node `addr` reports until `stop` is set, polled every 20 ms.
fn watch_sizes(
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<BTreeSet<u64>> {
    tokio::spawn(async move {
        let mut sizes = BTreeSet::new();
        while !stop.load(Ordering::Acquire) {
            if let Ok(status) = herald_testnet::node_api::status(addr).await {
                sizes.insert(status.tree_size);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sizes
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_fetched_on_arrival_has_its_handover_after_its_consignment_in_the_same_round() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        // Cross-logged checkpoints are rounds of their own: rare here.
        let options = TestnetOptions {
            cross_log_interval: Duration::from_secs(3600),
            ..options(dir.path())
        };
        let mut net = Testnet::spawn(2, options).await.unwrap();
        let mut bob_keys = register(&net, 1, BOB, 1).await;
        let mut alice_keys = register(&net, 0, ALICE, 2).await;
        let (bob_client, mut bob) = login(&net, 1, BOB).await;
        bob.upload_prekeys(&bob_client, &mut bob_keys, 4, true)
            .await
            .unwrap();
        let mut alice = login(&net, 0, ALICE).await;

        // Short rounds: woken by the arrival, bob fetches at once.
        fetched_on_arrival(&net, (bob_client, bob), &mut alice, &mut alice_keys, b"o-1").await;
        let records = evidence_records(&net, 1, dir.path(), b"o-1", 3).await;
        let kinds: Vec<_> = records.iter().map(|r| r.record.kind).collect();
        assert_eq!(
            kinds,
            [
                pb::EvidenceKind::RelayAccepted,
                pb::EvidenceKind::Consignment,
                pb::EvidenceKind::Handover
            ],
            "in log order"
        );

        // d1's rounds 4 s apart: every round's size is seen by a 20 ms poll.
        reconfigure(&mut net, 1, |c| c.sequence_interval_ms = LONG_ROUNDS_MS).await;
        let bob = login(&net, 1, BOB).await;
        let stop = Arc::new(AtomicBool::new(false));
        let sizes = watch_sizes(net.node(1).http_addr(), stop.clone());
        fetched_on_arrival(&net, bob, &mut alice, &mut alice_keys, b"o-2").await;
        // The fetch's round is published before its answer: a few more polls see it (the next
        // round is seconds away).
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Release);
        let sizes = sizes.await.unwrap();
        let records = evidence_records(&net, 1, dir.path(), b"o-2", 3).await;
        let index = |kind| {
            records
                .iter()
                .find(|r| r.record.kind == kind)
                .map(|r| r.index)
                .unwrap()
        };
        let (consigned, handed) = (
            index(pb::EvidenceKind::Consignment),
            index(pb::EvidenceKind::Handover),
        );
        assert!(index(pb::EvidenceKind::RelayAccepted) < consigned);
        assert!(consigned < handed, "the handover after the consignment");
        assert!(
            sizes.iter().any(|&s| s > handed),
            "the round holding the handover was seen: {sizes:?}, records at {:?}",
            records.iter().map(|r| r.index).collect::<Vec<_>>()
        );
        assert!(
            sizes.iter().all(|&s| s <= consigned || s > handed),
            "no round ended between the consignment ({consigned}) and the handover ({handed}): \
             {sizes:?}"
        );
    })
    .await;
}
