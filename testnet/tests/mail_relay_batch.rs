//! Relays in batches to a gateway that predates them (issue 12, `service::mail::relay_batch`),
//! through real gateway processes: d1 runs with the test hook `test_refuse_relay_batches`,
//! which answers every `relay_mails` request `MALFORMED` as a gateway that does not know the
//! request does. The mails d0 queued for d1 while it was down go in one batch when d0 finds
//! them all due at once; d1 refuses the batch whole, and d0 relays each mail in a `relay_mail`
//! of its own: every mail is delivered, once.

mod common;
mod mail_support;
mod paep_support;

use std::time::Duration;

use common::{bounded, options};
use herald_proto::paep::MailContent;
use herald_proto::wire::pb;
use mail_support::{WITHIN, inbox_of, login, reconfigure};
use paep_support::register;
use tempfile::TempDir;

const BOUND: Duration = Duration::from_secs(300);
const ALICE: &str = "alice@d0.test";
const BOB: &str = "bob@d1.test";
const MAILS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mails_batched_to_a_gateway_that_refuses_batches_go_one_per_request_and_each_arrives_once()
{
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let mut opts = options(dir.path());
        opts.test_hooks = true;
        let mut net = herald_testnet::Testnet::spawn(2, opts).await.unwrap();
        reconfigure(&mut net, 1, |c| c.test_refuse_relay_batches = true).await;
        let mut bob_keys = register(&net, 1, BOB, 1).await;
        let (bob_client, mut bob) = login(&net, 1, BOB).await;
        bob.upload_prekeys(&bob_client, &mut bob_keys, MAILS + 1, true)
            .await
            .unwrap();
        let mut alice_keys = register(&net, 0, ALICE, 2).await;
        let (alice_client, mut alice) = login(&net, 0, ALICE).await;

        // Sealed while d1 is up (bob's prekeys come from it), sent while it is down: d0
        // queues them all.
        let mut envelopes = Vec::new();
        for i in 0..MAILS {
            let plaintext =
                MailContent::build("batched", format!("mail {i}").as_bytes(), vec![]).unwrap();
            let msg_id = format!("m-batched-{i}").into_bytes();
            let envelope = mail_support::seal(
                &net,
                &alice_client,
                &mut alice,
                &mut alice_keys,
                BOB,
                &msg_id,
                &plaintext,
            )
            .await;
            envelopes.push(envelope);
        }
        net.stop(1).await.unwrap();
        for envelope in envelopes {
            alice
                .send_envelope(&alice_client, envelope, 0)
                .await
                .unwrap();
        }
        // d0 stopped until every mail's next attempt has passed (the retry delay is at most
        // 10 s): started again, its first look at the queue finds all of them due and sends
        // them to d1 in one batch.
        net.stop(0).await.unwrap();
        tokio::time::sleep(Duration::from_secs(11)).await;
        net.restart(1).await.unwrap();
        net.restart(0).await.unwrap();

        // Every mail delivered, each once.
        let (alice_client, mut alice) = login(&net, 0, ALICE).await;
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            let outbox = alice.outbox(&alice_client).await.unwrap();
            let delivered = (outbox.entries.iter())
                .filter(|e| e.state == pb::DeliveryState::Delivered as i32)
                .count();
            if delivered == MAILS {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not all delivered in time: {outbox:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (bob_client, mut bob) = login(&net, 1, BOB).await;
        let inbox = inbox_of(&bob_client, &mut bob, MAILS).await;
        let mut ids: Vec<Vec<u8>> = inbox.entries.iter().map(|e| e.msg_id.clone()).collect();
        ids.sort();
        let expected: Vec<Vec<u8>> = (0..MAILS)
            .map(|i| format!("m-batched-{i}").into_bytes())
            .collect();
        assert_eq!(ids, expected, "each mail once");

        // d1 was asked for a batch (and refused it), then took each mail on its own.
        let count = |kind| paep_support::counter(&net, 1, "herald_client_requests", kind);
        assert!(count("relay_mails").await >= 1.0);
        assert!(count("relay_mail").await >= MAILS as f64);
    })
    .await;
}
