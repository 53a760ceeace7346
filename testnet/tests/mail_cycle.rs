//! A reader's cycle in one request (`next_mails`, issue 12) through real gateway processes:
//! bob at d1 acknowledges the mails he read in the previous cycle, lists his mailbox and
//! fetches its first mails in one request. A reader cycling so reads every mail exactly once,
//! each fetched mail has its `Handover` logged, an id the mailbox does not hold is listed
//! missing, the acknowledgement is durable before the answer (d1 killed after it lists the
//! mail no more), and a request out of bounds is refused MALFORMED with nothing changed, its
//! acknowledgements included. Of a gateway that answers the kind MALFORMED as one that predates
//! it does (d1 with the test hook `test_refuse_next_mails`), the reader's session does the same
//! cycle in three requests from then on: every mail read once, its acknowledgements done.

mod common;
mod mail_support;
mod paep_support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{bounded, options};
use herald_light_client::keystore::MemoryKeyStore;
use herald_light_client::{GatewayClient, MemorySessionStore, NextMails, Session, SessionError};
use herald_proto::paep::{MailContent, ReplayCache};
use herald_proto::wire::client::MAX_FETCH_MAILS;
use herald_proto::wire::pb;
use herald_testnet::Testnet;
use mail_support::{SKEW, WITHIN, handed_over, inbox_of, login, pending, reconfigure, trusts};
use paep_support::{now, refusal, register};
use tempfile::TempDir;

const BOUND: Duration = Duration::from_secs(240);
const ALICE: &str = "alice@d0.test";
const CAROL: &str = "carol@d0.test";
const BOB: &str = "bob@d1.test";
/// An entry number no mailbox holds.
const NOT_HELD: u64 = 999_999;
/// How long a cycle's listing may be held on an empty mailbox.
const WAIT: Duration = Duration::from_millis(500);

/// Sends `body` from `account` (at d0) to bob, retrying while a binding is pending.
async fn send(net: &Testnet, account: &str, keys: &mut MemoryKeyStore, msg_id: &[u8]) {
    let (client, mut session) = login(net, 0, account).await;
    let plaintext = MailContent::build("cycle", msg_id, vec![]).unwrap();
    mail_support::send(net, &client, &mut session, keys, BOB, msg_id, &plaintext).await;
}

/// Bob at d1 as a reader cycles, with the senders alice and carol at d0 registered.
struct Reader {
    client: GatewayClient,
    session: Session<MemorySessionStore>,
    keys: MemoryKeyStore,
    replay: ReplayCache,
    trusts: Vec<herald_light_client::LogTrust>,
    /// The ids read in the last cycle, to acknowledge in the next.
    read: Vec<u64>,
}

impl Reader {
    /// Registers bob (with six prekeys), alice and carol; returns bob logged in and the
    /// senders' key stores.
    async fn set_up(net: &Testnet) -> (Reader, MemoryKeyStore, MemoryKeyStore) {
        let mut keys = register(net, 1, BOB, 1).await;
        let (client, mut session) = login(net, 1, BOB).await;
        session
            .upload_prekeys(&client, &mut keys, 6, true)
            .await
            .unwrap();
        let alice_keys = register(net, 0, ALICE, 2).await;
        let carol_keys = register(net, 0, CAROL, 3).await;
        let reader = Reader {
            client,
            session,
            keys,
            replay: ReplayCache::new(),
            trusts: trusts(net),
            read: Vec::new(),
        };
        (reader, alice_keys, carol_keys)
    }

    /// One cycle acknowledging `acknowledge`, its listing held up to `wait`.
    async fn cycle(&mut self, acknowledge: &[u64], wait: Duration) -> NextMails {
        self.session
            .next_mails(
                &self.client,
                &mut self.keys,
                acknowledge,
                wait,
                &self.trusts,
                &mut self.replay,
                now(),
                SKEW,
            )
            .await
            .unwrap()
    }

    /// Cycles, as a reader runs them, until `want` more mails are read (bounded): each cycle
    /// acknowledges the mails read in the one before; returns the msg_ids read (each once: a
    /// second read of one fails) and leaves in `read` the ids still to acknowledge.
    async fn cycle_until(&mut self, want: usize) -> Vec<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + WITHIN;
        let mut got = Vec::new();
        while got.len() < want {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{got:?} read in time"
            );
            let read = std::mem::take(&mut self.read);
            let cycle = self.cycle(&read, WAIT).await;
            // Deleted now, or earlier by a cycle whose answer was lost: never listed again.
            assert_eq!(cycle.acknowledged.deleted.len(), read.len(), "{cycle:?}");
            for (id, mail) in cycle.batch.read {
                match mail {
                    Ok(mail) => {
                        got.push(mail.opened.msg_id.clone());
                        self.read.push(id);
                    }
                    Err(e) if pending(&e) => tokio::time::sleep(Duration::from_millis(100)).await,
                    Err(e) => panic!("mail {id}: {e:?}"),
                }
            }
        }
        got
    }

    /// Three mails, from alice and carol, then alice again, arrive while bob cycles: each is
    /// read once, across cycles, and has its `Handover` logged at d1.
    async fn reads_three_once(
        &mut self,
        net: &Testnet,
        dir: &std::path::Path,
        (alice_keys, carol_keys): (&mut MemoryKeyStore, &mut MemoryKeyStore),
        prefix: &str,
    ) {
        let ids: Vec<Vec<u8>> = ["alice-1", "carol-1", "alice-2"]
            .iter()
            .map(|m| format!("{prefix}-{m}").into_bytes())
            .collect();
        send(net, ALICE, alice_keys, &ids[0]).await;
        send(net, CAROL, carol_keys, &ids[1]).await;
        let mut got = self.cycle_until(2).await;
        send(net, ALICE, alice_keys, &ids[2]).await;
        got.extend(self.cycle_until(1).await);
        assert_eq!(got.len(), 3, "{got:?}");
        let all: BTreeSet<&Vec<u8>> = ids.iter().collect();
        assert_eq!(got.iter().collect::<BTreeSet<_>>(), all);
        for msg_id in &ids {
            assert!(handed_over(net, 1, dir, msg_id).await, "{msg_id:?}");
        }
    }
}

/// The kind of the gateway's refusal of `answer`, or -1 if it was not refused.
fn refused(answer: Result<pb::SessionResponse, SessionError>) -> i32 {
    match answer {
        Ok(pb::SessionResponse {
            response: Some(pb::session_response::Response::Error(e)),
        }) => e.kind,
        Err(SessionError::Gateway(e)) => refusal(&e).map_or(-1, |k| k as i32),
        _ => -1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_cycling_in_one_request_reads_every_mail_once_and_its_acknowledgement_is_durable()
{
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let mut net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let (mut bob, mut alice_keys, mut carol_keys) = Reader::set_up(&net).await;
        bob.reads_three_once(&net, dir.path(), (&mut alice_keys, &mut carol_keys), "c")
            .await;

        // The last cycle's mails acknowledged with an id never held: that one is missing.
        let mut last = bob.read.clone();
        last.push(NOT_HELD);
        let cycle = bob.cycle(&last, Duration::ZERO).await;
        assert_eq!(cycle.acknowledged.deleted, bob.read);
        assert_eq!(cycle.acknowledged.missing, [NOT_HELD]);
        assert!(cycle.inbox.entries.is_empty(), "{cycle:?}");
        assert!(cycle.batch.read.is_empty());
        // d1 answers the kind itself (the session did not fall back to three requests).
        let answer = bob
            .session
            .request(&bob.client, &pb::SessionRequest::next_mails(vec![], 0, 1))
            .await
            .unwrap();
        assert!(
            matches!(
                answer.response,
                Some(pb::session_response::Response::NextMails(_))
            ),
            "{answer:?}"
        );
        assert!(!bob.session.cycles_in_three_requests());

        // Durable before the answer: d1 crashes right after; nothing is listed again.
        net.kill(1).await.unwrap();
        net.restart(1).await.unwrap();
        let (bob_client, mut bob) = login(&net, 1, BOB).await;
        let inbox = bob.inbox(&bob_client).await.unwrap();
        assert!(inbox.entries.is_empty(), "{inbox:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_out_of_bounds_is_refused_and_changes_nothing() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = Testnet::spawn(2, options(dir.path())).await.unwrap();
        let (mut bob, mut alice_keys, _) = Reader::set_up(&net).await;
        send(&net, ALICE, &mut alice_keys, b"o-alice-1").await;
        let inbox = inbox_of(&bob.client, &mut bob.session, 1).await;
        assert_eq!(inbox.entries.len(), 1, "{inbox:?}");
        let id = inbox.entries[0].id;

        // Each names the held mail to acknowledge; none may delete it.
        let most = MAX_FETCH_MAILS as u32;
        let too_many: Vec<u64> = std::iter::once(id)
            .chain(1_000_000..1_000_000 + MAX_FETCH_MAILS as u64)
            .collect();
        for bad in [
            pb::SessionRequest::next_mails(too_many, 0, 1),
            pb::SessionRequest::next_mails(vec![id, NOT_HELD, id], 0, 1),
            pb::SessionRequest::next_mails(vec![id], 0, 0),
            pb::SessionRequest::next_mails(vec![id], 0, most + 1),
        ] {
            let answer = bob.session.request(&bob.client, &bad).await;
            assert_eq!(
                refused(answer),
                pb::ClientErrorKind::Malformed as i32,
                "{bad:?}"
            );
            let left = bob.session.inbox(&bob.client).await.unwrap();
            assert_eq!(left.entries.iter().map(|e| e.id).collect::<Vec<_>>(), [id]);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_of_a_gateway_that_does_not_know_next_mails_reads_every_mail_once_in_three_requests()
 {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let mut opts = options(dir.path());
        opts.test_hooks = true;
        let mut net = Testnet::spawn(2, opts).await.unwrap();
        reconfigure(&mut net, 1, |c| c.test_refuse_next_mails = true).await;
        let (mut bob, mut alice_keys, mut carol_keys) = Reader::set_up(&net).await;

        // d1 answers the kind as a gateway without it does.
        let answer = bob
            .session
            .request(&bob.client, &pb::SessionRequest::next_mails(vec![], 0, 1))
            .await;
        assert_eq!(refused(answer), pb::ClientErrorKind::Malformed as i32);
        assert!(!bob.session.cycles_in_three_requests());

        // The reader's first cycle is refused, and it and every later one go in three
        // requests; each mail is read once, across cycles.
        bob.reads_three_once(&net, dir.path(), (&mut alice_keys, &mut carol_keys), "t")
            .await;
        assert!(bob.session.cycles_in_three_requests());

        // The last cycle's mails acknowledged: d1 takes two session requests for it
        // (acknowledge_mails, then inbox; nothing is left to fetch), no next_mails.
        let sessions = || paep_support::counter(&net, 1, "herald_client_requests", "session");
        let before = sessions().await;
        let read = bob.read.clone();
        let cycle = bob.cycle(&read, Duration::ZERO).await;
        assert_eq!(sessions().await - before, 2.0);
        assert_eq!(cycle.acknowledged.deleted, read);
        assert!(cycle.acknowledged.missing.is_empty(), "{cycle:?}");
        assert!(cycle.inbox.entries.is_empty(), "{cycle:?}");
        assert!(cycle.batch.read.is_empty());

        // The acknowledgements took effect: a new session finds the mailbox empty.
        let (bob_client, mut bob) = login(&net, 1, BOB).await;
        let inbox = bob.inbox(&bob_client).await.unwrap();
        assert!(inbox.entries.is_empty(), "{inbox:?}");
    })
    .await;
}
