//! The inbox long poll (`InboxRequest.wait_ms`) through real gateway processes: a reader whose
//! mailbox is empty asks d1 to hold the listing; a mail relayed from d0 meanwhile answers it at
//! once (not after the wait), an empty mailbox is answered empty once the wait has passed, and
//! a wait over `MAX_INBOX_WAIT_MS` is refused as malformed; a held request whose account was
//! disabled during its wait is refused as a fresh request would be.

mod common;
mod mail_support;
mod paep_support;

use std::time::{Duration, Instant};

use common::{bounded, options};
use herald_proto::paep::MailContent;
use herald_proto::wire::{MAX_INBOX_WAIT_MS, pb};
use herald_testnet::Testnet;
use mail_support::{inbox_of, login};
use paep_support::{refusal, register};
use tempfile::TempDir;

const BOUND: Duration = Duration::from_secs(240);
const ALICE: &str = "alice@d0.test";
const BOB: &str = "bob@d1.test";
const DAVE: &str = "dave@d1.test";
/// The longest wait a request may ask for.
const LONGEST: Duration = Duration::from_millis(MAX_INBOX_WAIT_MS as u64);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_inbox_is_answered_when_a_mail_arrives_and_empty_after_its_wait() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let mut bob_keys = register(&net, 1, BOB, 1).await;
        let mut dave_keys = register(&net, 1, DAVE, 2).await;
        let mut alice_keys = register(&net, 0, ALICE, 3).await;
        let (bob_client, mut bob) = login(&net, 1, BOB).await;
        bob.upload_prekeys(&bob_client, &mut bob_keys, 2, true)
            .await
            .unwrap();
        let (dave_client, mut dave) = login(&net, 1, DAVE).await;
        dave.upload_prekeys(&dave_client, &mut dave_keys, 2, true)
            .await
            .unwrap();
        let (alice_client, mut alice) = login(&net, 0, ALICE).await;
        let plaintext = MailContent::build("wait", b"held", vec![]).unwrap();
        // A first mail (to dave) waits out alice's binding being cosigned and warms the relay.
        mail_support::send(
            &net,
            &alice_client,
            &mut alice,
            &mut alice_keys,
            DAVE,
            b"w-1",
            &plaintext,
        )
        .await;
        assert_eq!(inbox_of(&dave_client, &mut dave, 1).await.entries.len(), 1);

        // Bob's mailbox is empty: his listing is held until alice's mail reaches it.
        let held = tokio::spawn(async move {
            let asked = Instant::now();
            let inbox = bob.inbox_waiting(&bob_client, LONGEST).await.unwrap();
            (inbox, asked.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!held.is_finished(), "an empty mailbox's listing is held");
        mail_support::send(
            &net,
            &alice_client,
            &mut alice,
            &mut alice_keys,
            BOB,
            b"w-2",
            &plaintext,
        )
        .await;
        let (inbox, waited) = held.await.unwrap();
        assert_eq!(
            inbox
                .entries
                .iter()
                .map(|e| &e.msg_id[..])
                .collect::<Vec<_>>(),
            [&b"w-2"[..]],
            "answered with the mail that arrived"
        );
        assert!(
            waited < LONGEST,
            "answered on arrival, not after {waited:?}"
        );

        // A listing that is not empty is answered at once whatever the wait asked.
        let asked = Instant::now();
        let inbox = dave.inbox_waiting(&dave_client, LONGEST).await.unwrap();
        assert_eq!(inbox.entries.len(), 1);
        assert!(asked.elapsed() < LONGEST);

        // Nothing arrives: answered empty once the wait has passed.
        let (erin_client, mut erin) = {
            let _ = register(&net, 1, "erin@d1.test", 4).await;
            login(&net, 1, "erin@d1.test").await
        };
        let asked = Instant::now();
        let inbox = erin
            .inbox_waiting(&erin_client, Duration::from_millis(600))
            .await
            .unwrap();
        assert!(inbox.entries.is_empty());
        assert!(
            asked.elapsed() >= Duration::from_millis(600),
            "held its wait"
        );

        // A wait over the bound is refused, not cut short silently by the gateway.
        let over = erin
            .request(
                &erin_client,
                &pb::SessionRequest::inbox_waiting(MAX_INBOX_WAIT_MS + 1),
            )
            .await;
        let refused = match over {
            Ok(pb::SessionResponse {
                response: Some(pb::session_response::Response::Error(e)),
            }) => e.kind,
            Err(herald_light_client::SessionError::Gateway(e)) => {
                refusal(&e).map_or(-1, |k| k as i32)
            }
            other => panic!("a wait over the bound was taken: {other:?}"),
        };
        assert_eq!(refused, pb::ClientErrorKind::Malformed as i32);
        // The session still works after the refusal.
        assert!(erin.inbox(&erin_client).await.unwrap().entries.is_empty());
    })
    .await;
}

/// The refusal a session request met: its kind and message.
fn refused(outcome: Result<pb::Inbox, herald_light_client::SessionError>) -> (i32, String) {
    match outcome {
        Err(herald_light_client::SessionError::Gateway(e)) => match e {
            herald_light_client::ClientError::Refused(r) => (r.kind as i32, r.message),
            other => panic!("not a refusal: {other:?}"),
        },
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_inbox_of_an_account_disabled_during_its_wait_is_refused_as_a_fresh_request() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let _ = register(&net, 1, BOB, 1).await;
        let _ = register(&net, 1, DAVE, 2).await;
        let (bob_client, mut bob) = login(&net, 1, BOB).await;
        let (dave_client, mut dave) = login(&net, 1, DAVE).await;

        // Bob's empty mailbox is held; the administrator disables his account meanwhile.
        let held = tokio::spawn(async move {
            let outcome = bob.inbox_waiting(&bob_client, LONGEST).await;
            (outcome, bob, bob_client)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!held.is_finished(), "an empty mailbox's listing is held");
        let _: serde_json::Value = net
            .node(1)
            .admin(
                "POST",
                "/admin/accounts/disable",
                Some(&serde_json::json!({ "account": BOB })),
            )
            .await
            .unwrap();
        let (outcome, _bob, _) = held.await.unwrap();
        let (kind, message) = refused(outcome);
        assert_eq!(kind, pb::ClientErrorKind::Unauthorized as i32, "{message}");
        assert!(message.contains("no longer active"), "{message}");

        // What a fresh request of a session whose account was disabled gets: the same.
        let _: serde_json::Value = net
            .node(1)
            .admin(
                "POST",
                "/admin/accounts/disable",
                Some(&serde_json::json!({ "account": DAVE })),
            )
            .await
            .unwrap();
        let (fresh_kind, fresh_message) = refused(dave.inbox(&dave_client).await);
        assert_eq!((fresh_kind, fresh_message), (kind, message));
    })
    .await;
}
