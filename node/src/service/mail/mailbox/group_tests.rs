//! The mailboxes' changes in groups (`Mailboxes::change_all`, run by `db::GroupWork`) and the
//! reads in steps under a budget (`reads`).

use std::sync::atomic::{AtomicUsize, Ordering};

use zeroize::Zeroizing;

use super::reads::Budget;
use super::*;
use crate::db::GroupWork;

fn mailboxes(dir: &std::path::Path) -> Mailboxes {
    let db = crate::db::open(dir).unwrap().unwrap();
    let tree = crate::db::Tree::Mail.open(&db).unwrap();
    let at_rest = Arc::new(AtRest::new(Zeroizing::new([3; 32])));
    Mailboxes::new(db, tree, at_rest, 1 << 30)
}

fn envelope(recipient: &str, msg_id: &[u8], size: usize) -> pb::MailEnvelope {
    pb::MailEnvelope {
        msg_id: msg_id.to_vec(),
        sender: "alice@alpha.test".into(),
        recipient: recipient.into(),
        ephemeral_key: vec![9; 32],
        prekey_id: 1,
        ciphertext: vec![0x5a; size],
        sender_signature: vec![2; 64],
    }
}

fn stored(boxes: &Mailboxes, recipient: &str, msg_id: &[u8], size: usize) -> u64 {
    let mail = envelope(recipient, msg_id, size);
    let Delivered::Stored(id) = boxes.deliver(&mail, "alpha.test", 100).unwrap() else {
        panic!("not stored");
    };
    id
}

const ACCOUNTS: [&str; 4] = [
    "bob@beta.test",
    "carol@beta.test",
    "dave@beta.test",
    "erin@beta.test",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_acknowledgements_and_deliveries_of_several_accounts_each_get_their_own_answer()
{
    let dir = tempfile::tempdir().unwrap();
    let boxes = mailboxes(dir.path());
    let held: Vec<Vec<u64>> = (ACCOUNTS.iter())
        .map(|a| {
            (0..3u8)
                .map(|i| stored(&boxes, a, &[b'm', i], 40))
                .collect()
        })
        .collect();
    let groups = Arc::new(AtomicUsize::new(0));
    let (counted, store) = (groups.clone(), boxes.clone());
    let work = GroupWork::new(move |changes| {
        // The first group takes its time: the other changes wait for the next one together.
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        store.change_all(changes)
    });
    // Each account acknowledges its first two mails and another account's first (not its
    // own: missing); a new mail for each comes in the same groups.
    let acks = ACCOUNTS.iter().enumerate().map(|(n, account)| {
        let other = held[(n + 1) % ACCOUNTS.len()][0];
        let ids = vec![held[n][0], held[n][1], other];
        let work = work.clone();
        async move {
            work.submit(Change::Acknowledge((*account).into(), ids))
                .await
        }
    });
    let deliveries = ACCOUNTS.iter().map(|account| {
        let change = Change::Deliver(envelope(account, b"new", 50), "alpha.test".into(), 101);
        let work = work.clone();
        async move { work.submit(change).await }
    });
    let (acked, delivered) = futures::future::join(
        futures::future::join_all(acks),
        futures::future::join_all(deliveries),
    )
    .await;
    for outcome in acked {
        let Ok(Changed::Acknowledged(Ok(deleted))) = outcome else {
            panic!("an acknowledgement answered {outcome:?}");
        };
        assert_eq!(deleted, [true, true, false]);
    }
    for outcome in delivered {
        assert!(
            matches!(outcome, Ok(Changed::Delivered(Ok(Delivered::Stored(_))))),
            "{outcome:?}"
        );
    }
    let groups = groups.load(Ordering::SeqCst);
    assert!(groups < 8, "{groups} groups for 8 changes at once");
    // Each mailbox holds its third mail and the new one; the other account's id is untouched.
    for (n, account) in ACCOUNTS.iter().enumerate() {
        let listed: Vec<_> = (boxes.list(account).unwrap().entries.into_iter())
            .map(|e| (e.id, e.msg_id))
            .collect();
        assert_eq!(listed.len(), 2, "{account}: {listed:?}");
        assert_eq!(listed[0], (held[n][2], b"m\x02".to_vec()));
        assert_eq!(listed[1].1, b"new".to_vec());
    }
}

#[test]
fn an_acknowledgement_in_a_group_is_durable_when_it_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let boxes = mailboxes(&dir.path().join("db"));
    let a = stored(&boxes, "bob@beta.test", b"a", 40);
    let b = stored(&boxes, "bob@beta.test", b"b", 40);
    let changed = boxes.change_all(vec![
        Change::Acknowledge("bob@beta.test".into(), vec![a]),
        Change::Deliver(
            envelope("carol@beta.test", b"c", 40),
            "alpha.test".into(),
            100,
        ),
    ]);
    assert!(matches!(&changed[0], Changed::Acknowledged(Ok(d)) if d == &[true]));
    // Answered: a crash now (the files as they are, the database still open) keeps both.
    crate::db::copy_as_crashed(&dir.path().join("db"), &dir.path().join("crashed"));
    let crashed = mailboxes(&dir.path().join("crashed"));
    let left: Vec<_> = (crashed.list("bob@beta.test").unwrap().entries.iter())
        .map(|e| e.id)
        .collect();
    assert_eq!(left, [b]);
    assert_eq!(crashed.list("carol@beta.test").unwrap().entries.len(), 1);
    assert_eq!(crashed.used("bob@beta.test").unwrap(), 40);
}

#[test]
fn reads_in_steps_under_a_small_budget_answer_what_one_step_does() {
    let dir = tempfile::tempdir().unwrap();
    let boxes = mailboxes(dir.path());
    let ids: Vec<u64> = (0..20u8)
        .map(|i| stored(&boxes, "bob@beta.test", &[b'm', i], 300))
        .collect();
    let mut asked = ids.clone();
    asked.insert(5, u64::MAX);
    let whole = {
        let mut listing = boxes.listing("bob@beta.test");
        assert!(
            boxes
                .list_some(&mut listing, &mut Budget::inline())
                .unwrap()
        );
        let mut fetching = boxes.fetching("bob@beta.test", asked.clone());
        assert!(
            boxes
                .fetch_some(&mut fetching, &mut Budget::inline())
                .unwrap()
        );
        (listing.inbox, fetching.answer)
    };
    assert_eq!(whole.0.entries.len(), 20);
    assert_eq!(whole.1.mails.len(), 20);
    assert_eq!(whole.1.missing, [u64::MAX]);
    // A budget of two or three records a step: many steps, the same answers.
    let (mut listing, mut steps) = (boxes.listing("bob@beta.test"), 0);
    while !boxes
        .list_some(&mut listing, &mut Budget::bytes(150))
        .unwrap()
    {
        steps += 1;
        assert!(steps < 100);
    }
    assert!(steps > 1, "{steps} steps");
    assert_eq!(listing.inbox, whole.0);
    let (mut fetching, mut steps) = (boxes.fetching("bob@beta.test", asked), 0);
    while !boxes
        .fetch_some(&mut fetching, &mut Budget::bytes(3 * 400))
        .unwrap()
    {
        steps += 1;
        assert!(steps < 100);
    }
    assert!(steps > 1, "{steps} steps");
    assert_eq!(fetching.answer, whole.1);
    // A record larger than a step's budget is never opened there.
    let mut fetching = boxes.fetching("bob@beta.test", vec![ids[0]]);
    assert!(
        !boxes
            .fetch_some(&mut fetching, &mut Budget::bytes(10))
            .unwrap()
    );
    assert!(fetching.answer.mails.is_empty());
}
