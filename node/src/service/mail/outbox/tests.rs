//! The outbound queue's tests: queued once, retried, listed, what is due, large mail in pieces.

use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

use super::*;

fn relay(msg_id: &[u8]) -> pb::RelayEnvelope {
    relay_of(msg_id, vec![0x5a; 32])
}

/// A relay envelope of `msg_id` from alice@alpha.test to bob@beta.test carrying `ciphertext`.
fn relay_of(msg_id: &[u8], ciphertext: Vec<u8>) -> pb::RelayEnvelope {
    let envelope = pb::MailEnvelope {
        msg_id: msg_id.to_vec(),
        sender: "alice@alpha.test".into(),
        recipient: "bob@beta.test".into(),
        ephemeral_key: vec![9; 32],
        prekey_id: 1,
        ciphertext,
        sender_signature: vec![2; 64],
    };
    herald_proto::paep::sign_relay(
        envelope,
        "alpha.test",
        5000,
        &SigningKey::from_bytes(&[1; 32]),
    )
    .unwrap()
}

#[test]
fn a_mail_is_queued_once_retried_and_its_outcome_listed_for_its_sender_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::db::open(dir.path()).unwrap().unwrap();
    let tree = crate::db::Tree::Outbox.open(&db).unwrap();
    let outbox = Outbox::new(
        db.clone(),
        tree.clone(),
        Arc::new(AtRest::new(Zeroizing::new([3; 32]))),
    );
    assert!(outbox.enqueue(relay(b"m-1"), 1000).unwrap());
    assert!(!outbox.enqueue(relay(b"m-1"), 1001).unwrap(), "queued once");
    assert!(outbox.enqueue(relay(b"m-2"), 1000).unwrap());
    let queued: Vec<Queued> = outbox.queued().into_iter().map(Result::unwrap).collect();
    assert_eq!(queued.len(), 2);
    let first = queued
        .iter()
        .find(|q| q.envelope.msg_id == b"m-1")
        .unwrap()
        .clone();
    outbox.retry(first.clone(), 9000).unwrap();
    let again = outbox
        .queued()
        .into_iter()
        .map(Result::unwrap)
        .find(|q| q.envelope.msg_id == b"m-1")
        .unwrap();
    assert_eq!((again.attempts, again.next_attempt_ms), (1, 9000));
    outbox
        .finish(&again, pb::DeliveryState::NotDelivered, "expired", 6000)
        .unwrap();
    let listed = outbox.list("alice@alpha.test").unwrap();
    assert_eq!(listed.entries.len(), 2);
    let done = listed.entries.iter().find(|e| e.msg_id == b"m-1").unwrap();
    assert_eq!(done.state, pb::DeliveryState::NotDelivered as i32);
    assert_eq!((done.reason.as_str(), done.attempts), ("expired", 2));
    assert!(outbox.list("carol@alpha.test").unwrap().entries.is_empty());
    // Past the retention the delivery record goes; the queued mail stays.
    assert_eq!(
        outbox.sweep(6000 + 100, 100).unwrap(),
        0,
        "not older than 100 s"
    );
    assert_eq!(outbox.sweep(6000 + 101, 100).unwrap(), 1);
    let listed = outbox.list("alice@alpha.test").unwrap();
    assert_eq!(listed.entries.len(), 1);
    assert_eq!(listed.entries[0].msg_id, b"m-2");
    assert_eq!(listed.entries[0].state, pb::DeliveryState::Queued as i32);
    // Nothing of the addresses in clear.
    for kv in tree.iter() {
        let (k, v) = kv.unwrap();
        let bytes = [k.to_vec(), v.to_vec()].concat();
        assert!(!bytes.windows(13).any(|w| w == b"bob@beta.test"));
    }
}

fn large_relay(msg_id: &[u8], len: usize) -> pb::RelayEnvelope {
    relay_of(msg_id, (0..len).map(|i| (i % 251) as u8).collect())
}

#[test]
fn a_large_mail_is_queued_in_pieces_read_piece_by_piece_and_removed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(AtRest::new(Zeroizing::new([3; 32])));
    let len = 3 * PIECE_BYTES + 1000;
    let sent = large_relay(b"m-large", len);
    let z = sent.envelope.as_ref().unwrap().ciphertext.clone();
    {
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let tree = crate::db::Tree::Outbox.open(&db).unwrap();
        let outbox = Outbox::new(db.clone(), tree.clone(), key.clone());
        assert!(outbox.enqueue(sent.clone(), 1000).unwrap());
        assert!(!outbox.enqueue(sent.clone(), 1000).unwrap(), "queued once");
        // A record and four pieces, none larger than a piece and its sealing.
        assert_eq!(tree.len(), 5);
        for kv in tree.iter() {
            let (_, v) = kv.unwrap();
            assert!(v.len() <= PIECE_BYTES + 64, "{}", v.len());
        }
    }
    // Reopened (a restart): the record reads without its Z, each piece on its own.
    let db = crate::db::open(dir.path()).unwrap().unwrap();
    let tree = crate::db::Tree::Outbox.open(&db).unwrap();
    let outbox = Outbox::new(db.clone(), tree.clone(), key);
    let taken = outbox.take_due(1000, 10).pop().unwrap().unwrap();
    assert!(taken.travels_in_chunks());
    assert!(taken.envelope.ciphertext.is_empty());
    let pieces = taken.pieces.unwrap();
    assert_eq!(pieces.total, len as u64);
    assert_eq!(outbox.piece(&taken, 0).unwrap(), z[..PIECE_BYTES]);
    let last = 3 * PIECE_BYTES as u64;
    assert_eq!(outbox.piece(&taken, last).unwrap(), z[last as usize..]);
    // From inside a piece (S_B holds up to there): the rest of that piece.
    assert_eq!(outbox.piece(&taken, 10).unwrap(), z[10..PIECE_BYTES]);
    assert!(outbox.piece(&taken, len as u64).is_err());
    assert_eq!(
        outbox.whole(&taken).unwrap(),
        *sent.envelope.as_ref().unwrap()
    );
    // A retry rewrites the record only; the pieces stay.
    outbox.retry(taken.clone(), 2000).unwrap();
    assert_eq!(tree.len(), 5);
    let again = outbox.take_due(2000, 10).pop().unwrap().unwrap();
    assert_eq!((again.attempts, again.pieces), (1, Some(pieces)));
    // Delivered: the record and every piece go in one batch, the delivery record stays.
    outbox
        .finish(&again, pb::DeliveryState::Delivered, "", 3)
        .unwrap();
    assert_eq!(tree.len(), 1);
    assert_eq!(outbox.len(), 0);
}

#[test]
fn a_large_mail_queued_whole_before_pieces_still_reads_and_relays() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::db::open(dir.path()).unwrap().unwrap();
    let tree = crate::db::Tree::Outbox.open(&db).unwrap();
    let key = Arc::new(AtRest::new(Zeroizing::new([3; 32])));
    let outbox = Outbox::new(db.clone(), tree.clone(), key.clone());
    let sent = large_relay(b"m-old", 2 * PIECE_BYTES);
    // As written before pieces: Z in the one record.
    let envelope = sent.envelope.clone().unwrap();
    outbox
        .write(&Queued {
            key: outbox.queue_key(&envelope),
            next_attempt_ms: 1000,
            attempts: 0,
            relay: sent.clone(),
            envelope: envelope.clone(),
            pieces: None,
        })
        .unwrap();
    let outbox = Outbox::new(db.clone(), tree, key);
    let taken = outbox.take_due(1000, 10).pop().unwrap().unwrap();
    assert!(taken.pieces.is_none() && taken.travels_in_chunks());
    assert_eq!(taken.envelope, envelope);
    assert_eq!(outbox.whole(&taken).unwrap(), envelope);
}

#[test]
fn the_relay_takes_only_due_mail_and_a_reopened_queue_knows_what_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(AtRest::new(Zeroizing::new([3; 32])));
    let failed;
    {
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let tree = crate::db::Tree::Outbox.open(&db).unwrap();
        let outbox = Outbox::new(db.clone(), tree, key.clone());
        for (id, at) in [(&b"m-1"[..], 1000), (b"m-2", 1000), (b"m-3", 3000)] {
            assert!(outbox.enqueue(relay(id), at).unwrap());
        }
        assert_eq!((outbox.len(), outbox.next_due_ms()), (3, Some(1000)));
        // At 2000 two are due; one at a time when there is room for one.
        let first = outbox.take_due(2000, 1);
        assert_eq!(first.len(), 1);
        let second: Vec<Queued> = outbox
            .take_due(2000, 10)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(second.len(), 1, "m-3 is not due yet");
        assert!(
            outbox.take_due(2000, 10).is_empty(),
            "taken mail is not taken again"
        );
        assert_eq!((outbox.len(), outbox.next_due_ms()), (3, Some(3000)));
        // One fails and waits until 9000; the other is delivered.
        let first = first.into_iter().next().unwrap().unwrap();
        failed = first.envelope.msg_id.clone();
        assert_ne!(failed, second[0].envelope.msg_id);
        outbox.retry(first, 9000).unwrap();
        outbox
            .finish(&second[0], pb::DeliveryState::Delivered, "", 2)
            .unwrap();
        assert_eq!(outbox.len(), 2);
        let due: Vec<Vec<u8>> = outbox
            .take_due(5000, 10)
            .into_iter()
            .map(|q| q.unwrap().envelope.msg_id)
            .collect();
        assert_eq!(due, [b"m-3".to_vec()]);
        let back = outbox.take_due(5000, 10);
        assert!(back.is_empty());
        // m-3's attempt could not be recorded: back in, due again at once.
        let m3 = outbox
            .queued()
            .into_iter()
            .map(Result::unwrap)
            .find(|q| q.envelope.msg_id == b"m-3")
            .unwrap();
        outbox.put_back(&m3, 5000);
        assert_eq!(outbox.next_due_ms(), Some(5000));
        db.flush().unwrap();
    }
    // Reopened (a restart): what is due when is read back from the tree.
    let db = crate::db::open(dir.path()).unwrap().unwrap();
    let tree = crate::db::Tree::Outbox.open(&db).unwrap();
    let outbox = Outbox::new(db.clone(), tree, key);
    assert_eq!((outbox.len(), outbox.next_due_ms()), (2, Some(3000)));
    let due: Vec<(Vec<u8>, u32)> = outbox
        .take_due(8999, 10)
        .into_iter()
        .map(|q| q.map(|q| (q.envelope.msg_id, q.attempts)).unwrap())
        .collect();
    assert_eq!(due, [(b"m-3".to_vec(), 0)]);
    let later: Vec<(Vec<u8>, u32)> = outbox
        .take_due(9000, 10)
        .into_iter()
        .map(|q| q.map(|q| (q.envelope.msg_id, q.attempts)).unwrap())
        .collect();
    assert_eq!(later, [(failed, 1)]);
}
