//! Mail read in batches through real gateway processes (issue 12 §7): bob at d1 fetches the
//! mails alice and carol at d0 wrote him in one request and acknowledges them in one more. Each
//! mail of a batch opens or fails on its own (a replayed one fails, the others open), an id the
//! mailbox does not hold is listed missing and changes nothing, every mail handed over has its
//! `Handover` record, and the client verifies each distinct sender's binding once per batch;
//! the senders' bindings come in one request, each proven or refused on its own, and what the
//! session remembers of a verified binding is never taken for other bytes.

mod common;
mod mail_support;
mod paep_support;

use std::time::Duration;

use common::{bounded, options};
use herald_light_client::keystore::MemoryKeyStore;
use herald_light_client::{BindingUnproven, Gateway as _, SessionError, Verified};
use herald_proto::paep::{MailContent, MailError, ReplayCache};
use herald_proto::wire::pb;
use herald_testnet::Testnet;
use mail_support::{SKEW, WITHIN, handed_over, inbox_of, login, trusts};
use paep_support::{now, refusal, register};
use tempfile::TempDir;

const BOUND: Duration = Duration::from_secs(240);
const ALICE: &str = "alice@d0.test";
const CAROL: &str = "carol@d0.test";
const BOB: &str = "bob@d1.test";
/// An entry number no mailbox holds.
const NOT_HELD: u64 = 999_999;

/// Sends `body` from `account` (at d0) to bob, retrying while a binding is pending.
async fn send(net: &Testnet, account: &str, keys: &mut MemoryKeyStore, msg_id: &[u8], body: &[u8]) {
    let (client, mut session) = login(net, 0, account).await;
    let plaintext = MailContent::build("batch", body, vec![]).unwrap();
    mail_support::send(net, &client, &mut session, keys, BOB, msg_id, &plaintext).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_opens_each_mail_on_its_own_and_one_acknowledgement_deletes_them() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let mut bob_keys = register(&net, 1, BOB, 1).await;
        let (bob_client, mut bob) = login(&net, 1, BOB).await;
        bob.upload_prekeys(&bob_client, &mut bob_keys, 4, true)
            .await
            .unwrap();
        let mut alice_keys = register(&net, 0, ALICE, 2).await;
        let mut carol_keys = register(&net, 0, CAROL, 3).await;
        send(
            &net,
            ALICE,
            &mut alice_keys,
            b"b-alice-1",
            b"first of alice",
        )
        .await;
        send(
            &net,
            ALICE,
            &mut alice_keys,
            b"b-alice-2",
            b"second of alice",
        )
        .await;
        send(&net, CAROL, &mut carol_keys, b"b-carol-1", b"one of carol").await;
        let inbox = inbox_of(&bob_client, &mut bob, 3).await;
        assert_eq!(inbox.entries.len(), 3, "{inbox:?}");
        let id_of = |msg_id: &[u8]| {
            inbox
                .entries
                .iter()
                .find(|e| e.msg_id == msg_id)
                .map(|e| e.id)
                .unwrap()
        };
        let (a1, a2, c1) = (
            id_of(b"b-alice-1"),
            id_of(b"b-alice-2"),
            id_of(b"b-carol-1"),
        );

        // Bob reads alice's first mail alone; in the batch it is a replay, refused on its own.
        let trusts = trusts(&net);
        let mut replay = ReplayCache::new();
        bob.read_mail(
            &bob_client,
            &mut bob_keys,
            a1,
            &trusts,
            &mut replay,
            now(),
            SKEW,
        )
        .await
        .unwrap();
        let batch = bob
            .read_mails(
                &bob_client,
                &mut bob_keys,
                &[a1, NOT_HELD, a2, c1],
                &trusts,
                &mut replay,
                now(),
                SKEW,
            )
            .await
            .unwrap();
        assert_eq!(batch.missing, [NOT_HELD]);
        assert!(batch.deferred.is_empty());
        assert_eq!(
            batch.read.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [a1, a2, c1]
        );
        assert!(
            matches!(
                batch.read[0].1,
                Err(SessionError::Mail(MailError::Replayed))
            ),
            "{:?}",
            batch.read[0].1
        );
        let body = |i: usize| {
            let mail = batch.read[i].1.as_ref().unwrap();
            (mail.opened.sender.clone(), mail.content.body.clone())
        };
        assert_eq!(body(1), (ALICE.to_owned(), b"second of alice".to_vec()));
        assert_eq!(body(2), (CAROL.to_owned(), b"one of carol".to_vec()));
        // Every mail handed over in the batch has its record.
        for msg_id in [&b"b-alice-2"[..], b"b-carol-1"] {
            assert!(handed_over(&net, 1, dir.path(), msg_id).await, "{msg_id:?}");
        }

        // One acknowledgement deletes the two read; the id not held changes nothing.
        let acknowledged = bob
            .acknowledge_mails(&bob_client, &[a2, NOT_HELD, c1])
            .await
            .unwrap();
        assert_eq!(acknowledged.deleted, [a2, c1]);
        assert_eq!(acknowledged.missing, [NOT_HELD]);
        let left = bob.inbox(&bob_client).await.unwrap();
        assert_eq!(left.entries.iter().map(|e| e.id).collect::<Vec<_>>(), [a1]);
        // Acknowledged twice: missing the second time, nothing else deleted.
        let again = bob.acknowledge_mails(&bob_client, &[a2]).await.unwrap();
        assert!(again.deleted.is_empty() && again.missing == [a2]);
        assert_eq!(bob.inbox(&bob_client).await.unwrap().entries.len(), 1);

        // A batch naming one id twice is refused whole by the gateway, and changes nothing.
        let twice = bob
            .request(
                &bob_client,
                &pb::SessionRequest::acknowledge_mails(vec![a1, a1]),
            )
            .await;
        let refused = match twice {
            Ok(pb::SessionResponse {
                response: Some(pb::session_response::Response::Error(e)),
            }) => e.kind,
            Err(SessionError::Gateway(e)) => refusal(&e).map_or(-1, |k| k as i32),
            other => panic!("a batch naming an id twice was taken: {other:?}"),
        };
        assert_eq!(refused, pb::ClientErrorKind::Malformed as i32);
        assert_eq!(bob.inbox(&bob_client).await.unwrap().entries.len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_bindings_in_one_request_each_proven_or_refused_on_its_own() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        register(&net, 1, BOB, 1).await;
        register(&net, 0, ALICE, 2).await;
        register(&net, 0, CAROL, 3).await;
        let (bob_client, mut bob) = login(&net, 1, BOB).await;
        let trusts = trusts(&net);
        let asked: Vec<String> = [ALICE, "nobody@d0.test", CAROL, "x@elsewhere.test"]
            .map(String::from)
            .to_vec();
        // Bounded wait for both bindings to be cosigned and served.
        let deadline = tokio::time::Instant::now() + WITHIN;
        let proven = loop {
            let proven = bob
                .proven_bindings(&bob_client, &asked, &trusts, now(), SKEW)
                .await
                .unwrap();
            if (proven[0].1.is_ok() && proven[2].1.is_ok())
                || tokio::time::Instant::now() >= deadline
            {
                break proven;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(
            proven.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
            asked.iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert_eq!(proven[0].1.as_ref().unwrap().binding().account(), ALICE);
        assert_eq!(proven[2].1.as_ref().unwrap().binding().account(), CAROL);
        // An account d0 does not have, a domain that is no peer: refused, each on its own.
        for i in [1, 3] {
            assert!(
                matches!(&proven[i].1, Err(BindingUnproven::Refused(e))
                    if e.kind == pb::ClientErrorKind::NotFound as i32),
                "{:?}",
                proven[i].1
            );
        }
        // A request naming one account twice is refused whole.
        let twice = bob
            .request(
                &bob_client,
                &pb::SessionRequest::sender_bindings(vec![ALICE.into(), ALICE.into()]),
            )
            .await
            .unwrap();
        assert!(
            matches!(&twice.response, Some(pb::session_response::Response::Error(e))
                if e.kind == pb::ClientErrorKind::Malformed as i32),
            "{twice:?}"
        );

        // The session's memory of binding answers: the same bytes verified once; a key
        // substituted in the binding (other bytes) or another domain's log is checked in full
        // and refused.
        let answer = net.client(0).await.unwrap().binding(ALICE).await.unwrap();
        let mut verified = Verified::default();
        let t = now();
        verified
            .binding_answer(&trusts[0], ALICE, answer.clone(), t, SKEW)
            .unwrap();
        verified
            .binding_answer(&trusts[0], ALICE, answer.clone(), t + 1, SKEW)
            .unwrap();
        assert_eq!(verified.bindings.hits(), 1);
        let mut substituted = answer.clone();
        let leaf = substituted.binding.as_mut().unwrap();
        let at = leaf.entry.len() / 2;
        leaf.entry[at] ^= 1;
        assert!(
            verified
                .binding_answer(&trusts[0], ALICE, substituted, t + 1, SKEW)
                .is_err()
        );
        assert!(
            verified
                .binding_answer(&trusts[1], ALICE, answer.clone(), t + 1, SKEW)
                .is_err()
        );
        // Nor for another account.
        assert!(
            verified
                .binding_answer(&trusts[0], CAROL, answer.clone(), t + 1, SKEW)
                .is_err()
        );
        assert_eq!(verified.bindings.hits(), 1);
    })
    .await;
}
