//! The mailboxes' tests: entries whole and in pieces, index records, quota, retention.

use zeroize::Zeroizing;

use super::*;

fn envelope(msg_id: &[u8], size: usize) -> pb::MailEnvelope {
    pb::MailEnvelope {
        msg_id: msg_id.to_vec(),
        sender: "alice@alpha.test".into(),
        recipient: "bob@beta.test".into(),
        ephemeral_key: vec![9; 32],
        prekey_id: 1,
        ciphertext: vec![0x5a; size],
        sender_signature: vec![2; 64],
    }
}

fn mailboxes(dir: &std::path::Path, quota: u64) -> (sled::Db, Mailboxes) {
    let db = crate::db::open(dir).unwrap().unwrap();
    let tree = crate::db::Tree::Mail.open(&db).unwrap();
    let at_rest = Arc::new(AtRest::new(Zeroizing::new([3; 32])));
    (db.clone(), Mailboxes::new(db, tree, at_rest, quota))
}

/// Every byte of every key and value in the tree, for greps.
fn raw(db: &sled::Db) -> Vec<u8> {
    let tree = crate::db::Tree::Mail.open(db).unwrap();
    tree.iter()
        .flat_map(|kv| {
            let (k, v) = kv.unwrap();
            [k.to_vec(), v.to_vec()].concat()
        })
        .collect()
}

#[test]
fn attack_a_repeated_relay_makes_one_entry_even_after_acknowledgement() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, boxes) = mailboxes(dir.path(), 1 << 20);
    let mail = envelope(b"m-1", 40);
    let Delivered::Stored(id) = boxes.deliver(&mail, "alpha.test", 100).unwrap() else {
        panic!("not stored");
    };
    assert_eq!(
        boxes.deliver(&mail, "alpha.test", 101).unwrap(),
        Delivered::Duplicate
    );
    assert_eq!(boxes.list("bob@beta.test").unwrap().entries.len(), 1);
    let Some(Held::Whole(fetched)) = boxes.fetch("bob@beta.test", id).unwrap() else {
        panic!("not stored whole");
    };
    assert_eq!(fetched.envelope.unwrap(), mail);
    assert_eq!(fetched.from_domain, "alpha.test");
    // Another account sees nothing of it.
    assert!(boxes.list("carol@beta.test").unwrap().entries.is_empty());
    assert!(boxes.fetch("carol@beta.test", id).unwrap().is_none());
    assert!(boxes.acknowledge("bob@beta.test", id).unwrap());
    assert!(!boxes.acknowledge("bob@beta.test", id).unwrap());
    // Replayed after it was fetched and deleted: still taken once.
    assert_eq!(
        boxes.deliver(&mail, "alpha.test", 102).unwrap(),
        Delivered::Duplicate
    );
    assert!(boxes.list("bob@beta.test").unwrap().entries.is_empty());
}

#[test]
fn a_mailbox_holds_no_address_or_ciphertext_in_clear_and_keeps_its_quota() {
    let dir = tempfile::tempdir().unwrap();
    let (db, boxes) = mailboxes(dir.path(), 100);
    assert!(matches!(
        boxes
            .deliver(&envelope(b"m-1", 60), "alpha.test", 100)
            .unwrap(),
        Delivered::Stored(_)
    ));
    assert_eq!(
        boxes
            .deliver(&envelope(b"m-2", 60), "alpha.test", 100)
            .unwrap(),
        Delivered::OverQuota
    );
    let bytes = raw(&db);
    for clear in [&b"alice@alpha.test"[..], b"bob@beta.test", &[0x5a; 16]] {
        assert!(
            !bytes.windows(clear.len()).any(|w| w == clear),
            "{clear:?} in clear"
        );
    }
    let id = boxes.list("bob@beta.test").unwrap().entries[0].id;
    boxes.acknowledge("bob@beta.test", id).unwrap();
    assert!(matches!(
        boxes
            .deliver(&envelope(b"m-2", 60), "alpha.test", 100)
            .unwrap(),
        Delivered::Stored(_)
    ));
}

#[test]
fn entries_and_markers_past_the_retention_period_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, boxes) = mailboxes(dir.path(), 1 << 20);
    boxes
        .deliver(&envelope(b"old", 20), "alpha.test", 100)
        .unwrap();
    boxes
        .deliver(&envelope(b"new", 20), "alpha.test", 190)
        .unwrap();
    assert_eq!(boxes.sweep(200, 50).unwrap(), 1);
    let left = boxes.list("bob@beta.test").unwrap();
    assert_eq!(left.entries.len(), 1);
    assert_eq!(left.entries[0].msg_id, b"new");
    // The old marker went too (its relay has expired by now: verify_relay refuses it).
    assert!(matches!(
        boxes
            .deliver(&envelope(b"old", 20), "alpha.test", 200)
            .unwrap(),
        Delivered::Stored(_)
    ));
}

#[test]
fn a_mailbox_reopened_with_another_mailbox_key_does_not_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_db, boxes) = mailboxes(dir.path(), 1 << 20);
        boxes
            .deliver(&envelope(b"m", 20), "alpha.test", 100)
            .unwrap();
    }
    let db = crate::db::open(dir.path()).unwrap().unwrap();
    let tree = crate::db::Tree::Mail.open(&db).unwrap();
    let other = Mailboxes::new(
        db,
        tree,
        Arc::new(AtRest::new(Zeroizing::new([4; 32]))),
        1 << 20,
    );
    // Another key names other mailboxes: bob's is not even found.
    assert!(other.list("bob@beta.test").unwrap().entries.is_empty());
}

/// A Z that travels in chunks: 3 pieces and 5 bytes, every byte a known pattern.
fn large_z() -> Vec<u8> {
    b"LARGE-Z-AT-REST-MARK-7f1"
        .iter()
        .copied()
        .cycle()
        .take(3 * PIECE_BYTES + 5)
        .collect()
}

fn large_envelope(msg_id: &[u8]) -> pb::MailEnvelope {
    pb::MailEnvelope {
        ciphertext: large_z(),
        ..envelope(msg_id, 1)
    }
}

/// Reads Z of entry `id` by parts from `from` on, as a recipient does.
fn read_parts(boxes: &Mailboxes, id: u64, from: u64, upto: u64) -> Vec<u8> {
    let mut z = Vec::new();
    let mut offset = from;
    while offset < upto {
        let Some(HeldPart::Piece {
            head,
            total,
            data: Some(data),
        }) = boxes.part("bob@beta.test", id, offset).unwrap()
        else {
            panic!("no piece at {offset}");
        };
        assert_eq!(total, large_z().len() as u64);
        assert!(head.envelope.unwrap().ciphertext.is_empty());
        assert!(data.len() <= PIECE_BYTES);
        offset += data.len() as u64;
        z.extend(data);
    }
    z
}

fn count(db: &sled::Db, kind: u8) -> usize {
    let tree = crate::db::Tree::Mail.open(db).unwrap();
    tree.scan_prefix([kind]).count()
}

#[test]
fn a_large_mail_is_stored_in_pieces_and_read_by_parts_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let z = large_z();
    let total = z.len() as u64;
    let (first, id) = {
        let (db, boxes) = mailboxes(dir.path(), 1 << 30);
        let Delivered::Stored(id) = boxes
            .deliver(&large_envelope(b"big"), "alpha.test", 100)
            .unwrap()
        else {
            panic!("not stored");
        };
        // No record holds more than one piece.
        let tree = crate::db::Tree::Mail.open(&db).unwrap();
        let largest = tree.iter().map(|kv| kv.unwrap().1.len()).max().unwrap();
        assert!(
            largest <= PIECE_BYTES + SEALED_OVERHEAD,
            "a record of {largest}"
        );
        assert_eq!(count(&db, PIECE), 4);
        assert_eq!(
            boxes.fetch("bob@beta.test", id).unwrap().map(|h| match h {
                Held::Pieced { total, .. } => total,
                Held::Whole(_) => 0,
            }),
            Some(total)
        );
        let entry = &boxes.list("bob@beta.test").unwrap().entries[0];
        assert_eq!((entry.id, entry.size), (id, total));
        // The recipient reads half, then the gateway restarts.
        (read_parts(&boxes, id, 0, 2 * PIECE_BYTES as u64), id)
    };
    let (db, boxes) = mailboxes(dir.path(), 1 << 30);
    let rest = read_parts(&boxes, id, first.len() as u64, total);
    assert_eq!([first, rest].concat(), z);
    assert_eq!(
        boxes.part("bob@beta.test", id, total).unwrap(),
        Some(HeldPart::Piece {
            head: match boxes.fetch("bob@beta.test", id).unwrap() {
                Some(Held::Pieced { head, .. }) => Box::new(head),
                _ => panic!("not in pieces"),
            },
            total,
            data: None
        })
    );
    db.flush().unwrap();
    drop((db, boxes));
    // Nothing of Z, nor an address, in any file of the data directory.
    super::super::at_rest::tests::assert_no_file_holds(
        dir.path(),
        &[b"LARGE-Z-AT-REST", b"bob@beta.test", b"alice@alpha"],
    );
}

#[test]
fn a_large_mail_counts_every_piece_against_the_quota_and_goes_whole() {
    let dir = tempfile::tempdir().unwrap();
    let total = large_z().len() as u64;
    let (db, boxes) = mailboxes(dir.path(), total + 10);
    let Delivered::Stored(id) = boxes
        .deliver(&large_envelope(b"big"), "alpha.test", 100)
        .unwrap()
    else {
        panic!("not stored");
    };
    assert_eq!(boxes.used("bob@beta.test").unwrap(), total);
    assert_eq!(
        boxes
            .deliver(&envelope(b"m", 11), "alpha.test", 100)
            .unwrap(),
        Delivered::OverQuota
    );
    // Idempotent by msg_id: no second set of pieces.
    assert_eq!(
        boxes
            .deliver(&large_envelope(b"big"), "alpha.test", 101)
            .unwrap(),
        Delivered::Duplicate
    );
    assert_eq!(count(&db, PIECE), 4);
    assert!(boxes.acknowledge("bob@beta.test", id).unwrap());
    assert_eq!(boxes.used("bob@beta.test").unwrap(), 0);
    assert_eq!(
        (count(&db, PIECE), count(&db, INDEX), count(&db, ENTRY)),
        (0, 0, 0)
    );
    // acknowledge_all takes pieces too.
    let Delivered::Stored(id) = boxes
        .deliver(&large_envelope(b"big-2"), "alpha.test", 100)
        .unwrap()
    else {
        panic!("not stored");
    };
    assert_eq!(
        boxes
            .acknowledge_all("bob@beta.test", &[id, id + 1])
            .unwrap(),
        [true, false]
    );
    assert_eq!((count(&db, PIECE), count(&db, INDEX)), (0, 0));
    assert_eq!(boxes.used("bob@beta.test").unwrap(), 0);
}

#[test]
fn the_retention_sweep_removes_a_large_mails_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let (db, boxes) = mailboxes(dir.path(), 1 << 30);
    boxes
        .deliver(&large_envelope(b"old"), "alpha.test", 100)
        .unwrap();
    boxes
        .deliver(&large_envelope(b"new"), "alpha.test", 190)
        .unwrap();
    assert_eq!(count(&db, PIECE), 8);
    assert_eq!(boxes.sweep(200, 50).unwrap(), 1);
    assert_eq!((count(&db, PIECE), count(&db, INDEX)), (4, 1));
    assert_eq!(boxes.used("bob@beta.test").unwrap(), large_z().len() as u64);
    assert_eq!(
        boxes.list("bob@beta.test").unwrap().entries[0].msg_id,
        b"new"
    );
}

/// Stores `envelope` as mailboxes did before pieces and index records: one whole entry.
fn deliver_before_pieces(boxes: &Mailboxes, envelope: &pb::MailEnvelope, now: u64) -> u64 {
    let label = boxes.at_rest.label(&envelope.recipient);
    let id = boxes.db.generate_id().unwrap();
    let entry_key = key(ENTRY, &label, &id.to_be_bytes());
    let stored = pb::StoredMail {
        id,
        envelope: Some(envelope.clone()),
        received_at: now,
        from_domain: "alpha.test".into(),
    };
    let mut value = now.to_le_bytes().to_vec();
    value.extend(
        (boxes.at_rest)
            .seal(&label, &entry_key, &stored.encode_to_vec())
            .unwrap(),
    );
    let used = boxes.used(&envelope.recipient).unwrap() + envelope.ciphertext.len() as u64;
    boxes.tree.insert(entry_key, value).unwrap();
    boxes
        .tree
        .insert(key(USED, &label, &[]), used.to_le_bytes().to_vec())
        .unwrap();
    id
}

#[test]
fn entries_stored_before_pieces_and_index_records_still_list_read_and_go() {
    let dir = tempfile::tempdir().unwrap();
    let (db, boxes) = mailboxes(dir.path(), 1 << 30);
    let small = envelope(b"old-small", 40);
    let large = large_envelope(b"old-large");
    let a = deliver_before_pieces(&boxes, &small, 100);
    let b = deliver_before_pieces(&boxes, &large, 100);
    let Delivered::Stored(c) = boxes
        .deliver(&envelope(b"new", 30), "alpha.test", 101)
        .unwrap()
    else {
        panic!("not stored");
    };
    assert_eq!(count(&db, INDEX), 1);
    let listed: Vec<_> = (boxes.list("bob@beta.test").unwrap().entries.into_iter())
        .map(|e| (e.id, e.msg_id, e.size))
        .collect();
    assert_eq!(
        listed,
        [
            (a, b"old-small".to_vec(), 40),
            (b, b"old-large".to_vec(), large_z().len() as u64),
            (c, b"new".to_vec(), 30)
        ]
    );
    assert!(
        matches!(boxes.fetch("bob@beta.test", b).unwrap(), Some(Held::Whole(m)) if m.envelope == Some(large.clone()))
    );
    assert_eq!(
        boxes.part("bob@beta.test", b, 0).unwrap(),
        Some(HeldPart::Whole)
    );
    assert_eq!(
        boxes.acknowledge_all("bob@beta.test", &[a, b]).unwrap(),
        [true, true]
    );
    assert_eq!(boxes.used("bob@beta.test").unwrap(), 30);
}
