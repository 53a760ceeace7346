//! Records survive a restart: both parties run on an encrypted key store file and a record
//! directory, and every step starts from a freshly opened store (the process "restarted"
//! between steps). No private key leaves a key store: Bob's P_req is made inside his, the
//! records hold no secret of it, and Alice's store holds no secret at all (her `a` is evidence,
//! kept in her record).

use std::fs;
use std::path::{Path, PathBuf};

use crate::certmail_support::*;
use herald_light_client::MemoryCheckpointStore;
use herald_light_client::certmail::{
    CertMail, CertifiedMailError, DirRecordStore, Letter, RecordKind, SenderStatus, decode_request,
};
use herald_light_client::keystore::{FileKeyStore, KdfParams, SecretId, SecureKeyStore as _};
use herald_proto::certmail::{request_secret_name, verify_request};
use herald_proto::evidence::{ArbiterContext, Outcome, arbitrate_bytes};
use herald_proto::wire::{decode, pb};

const NOW: u64 = 1_800_000_000;
const DEADLINE: u64 = NOW + 600;
/// The floor: the cheapest costs a new store may have.
const FAST: KdfParams = KdfParams {
    memory_kib: herald_light_client::keystore::strength::MIN_MEMORY_KIB,
    iterations: herald_light_client::keystore::strength::MIN_ITERATIONS,
    parallelism: 1,
};
const PASSPHRASE: &[u8] = b"a long passphrase";

/// One account on disk.
struct Account {
    keystore: PathBuf,
    records: PathBuf,
}

impl Account {
    fn create(dir: &Path, name: &str, account: &str) -> (Account, FileKeyStore) {
        let keystore = dir.join(format!("{name}.keystore"));
        let mut store = FileKeyStore::create(&keystore, PASSPHRASE, FAST).unwrap();
        store.create_identity(account).unwrap();
        let records = dir.join(format!("{name}-records"));
        (Account { keystore, records }, store)
    }

    /// The driver as a new process would open it.
    fn open(&self) -> CertMail<FileKeyStore, DirRecordStore> {
        CertMail::new(
            FileKeyStore::open(&self.keystore, PASSPHRASE).unwrap(),
            DirRecordStore::new(&self.records),
        )
    }

    /// Every record file's bytes, concatenated.
    fn record_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for kind in ["sent", "sent-index", "received", "evidence"] {
            if let Ok(entries) = fs::read_dir(self.records.join(kind)) {
                for e in entries {
                    all.extend(fs::read(e.unwrap().path()).unwrap());
                }
            }
        }
        // The checks on these bytes look for what must NOT be there: they mean something only
        // if the records were found at all.
        assert!(
            !all.is_empty(),
            "no record files under {}",
            self.records.display()
        );
        all
    }
}

#[test]
fn the_honest_run_survives_a_restart_between_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = TestRng::new(10);
    let (alice, _) = Account::create(dir.path(), "alice", ALICE);
    let (bob, bob_store) = Account::create(dir.path(), "bob", BOB);
    let mut world = World::new(NOW, &bob_store);
    drop(bob_store);

    let letter = Letter {
        recipient: BOB.into(),
        plaintext: b"kept across restarts".to_vec(),
        sign: true,
    };
    let (msg_id, steps) = alice.open().send(letter, &mut rng).unwrap();
    let made = bob
        .open()
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap();
    // P_req was made inside Bob's encrypted key store, under the name of the request's nonce:
    // the store holds it (its public half is the request's P_req), the record does not.
    let request = verify_request(&decode_request(&made.request).unwrap()).unwrap();
    let nonce: [u8; 32] = request.nonce().try_into().unwrap();
    let name = SecretId::new(request_secret_name(&nonce)).unwrap();
    let keys = bob.open().into_parts().0;
    assert_eq!(keys.secret_ids(), vec![name.clone()]);
    assert_eq!(keys.public_key(&name), Some(*request.request_key()));
    drop(keys);
    let record_file = DirRecordStore::new(&bob.records)
        .path(RecordKind::Received, &hex::encode(made.req_hash))
        .unwrap();
    let record: pb::RecipientRecord = decode(&fs::read(&record_file).unwrap(), 1 << 20).unwrap();
    assert_eq!(record.version, 2);
    assert!(record.request_secret.is_empty());

    let steps = alice
        .open()
        .accept(
            &made.request,
            &world.binding(),
            &world.sender_config(false),
            NOW + 1,
            &mut rng,
        )
        .unwrap();
    let (req_hash, leaf) = publish_step(&steps);
    // The sender needs no key-store secret: `a` is evidence, kept in the record.
    assert!(alice.open().keys().secret_ids().is_empty());
    assert!(!alice.record_bytes().is_empty());
    // After a restart the accepted terms are still known: no policy is passed again.
    assert!(matches!(
        alice.open().sender_status(&msg_id, NOW + 2).unwrap(),
        SenderStatus::Published { req_hash: r, .. } if r == req_hash
    ));

    let included = world.publish(&leaf, NOW + 20);
    let bundle = evidence_bytes(
        &alice
            .open()
            .take_inclusion(&req_hash, included.clone(), NOW + 21)
            .unwrap(),
    );
    // Finished: the bundle is on disk, the record is gone.
    let reopened = alice.open();
    assert_eq!(reopened.evidence(&msg_id).unwrap(), bundle);
    assert!(reopened.keys().secret_ids().is_empty());
    assert!(
        DirRecordStore::new(&alice.records)
            .path(RecordKind::Sent, &hex::encode(&msg_id))
            .map(|p| !p.exists())
            .unwrap()
    );

    let opened = bob
        .open()
        .take_publication(
            &req_hash,
            included,
            &[],
            &MemoryCheckpointStore::new(),
            NOW + 22,
        )
        .unwrap();
    assert_eq!(opened.plaintext, b"kept across restarts");
    bob.open().forget_request(&req_hash).unwrap();
    assert!(bob.open().keys().secret_ids().is_empty());

    let ctx = ArbiterContext {
        now: NOW + 30,
        max_skew: SKEW,
        trusted_logs: vec![world.beta.trust(2)],
        ..ArbiterContext::default()
    };
    assert_eq!(
        arbitrate_bytes(&bundle, &ctx).unwrap().outcome,
        Outcome::Received
    );
}

#[test]
fn an_optimistic_sender_resumes_waiting_for_the_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = TestRng::new(11);
    let (alice, _) = Account::create(dir.path(), "alice", ALICE);
    let (bob, bob_store) = Account::create(dir.path(), "bob", BOB);
    let world = World::new(NOW, &bob_store);
    drop(bob_store);
    let letter = Letter {
        recipient: BOB.into(),
        plaintext: b"receipt please".to_vec(),
        sign: false,
    };
    let (msg_id, steps) = alice.open().send(letter, &mut rng).unwrap();
    let made = bob
        .open()
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap();
    let steps = alice
        .open()
        .accept(
            &made.request,
            &world.binding(),
            &world.sender_config(true),
            NOW + 1,
            &mut rng,
        )
        .unwrap();
    let opened = bob
        .open()
        .take_direct_key(&direct_key_bytes(&steps), NOW + 2)
        .unwrap();
    assert_eq!(opened.plaintext, b"receipt please");
    // The sender restarted while waiting: it still knows its publish-by time.
    assert!(matches!(
        alice.open().sender_status(&msg_id, NOW + 3).unwrap(),
        SenderStatus::AwaitingReceipt { publish_by, .. } if publish_by == DEADLINE - 100
    ));
    let receipt = opened.receipt.unwrap();
    let bundle = evidence_bytes(&alice.open().take_receipt(&receipt, NOW + 3).unwrap());
    assert!(!bundle.is_empty());
    assert_eq!(
        alice.open().sender_status(&msg_id, NOW + 4).unwrap(),
        SenderStatus::Done
    );
}

#[test]
fn a_record_whose_secret_is_gone_is_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = TestRng::new(12);
    let (bob, bob_store) = Account::create(dir.path(), "bob", BOB);
    let world = World::new(NOW, &bob_store);
    drop(bob_store);
    let mut alice = memory_mail(ALICE, alice_key());
    let letter = Letter {
        recipient: BOB.into(),
        plaintext: b"x".to_vec(),
        sign: true,
    };
    let (_, steps) = alice.send(letter, &mut rng).unwrap();
    let made = bob
        .open()
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap();
    let record = DirRecordStore::new(&bob.records)
        .path(RecordKind::Received, &hex::encode(made.req_hash))
        .unwrap();
    let backup = fs::read(&record).unwrap();
    bob.open().forget_request(&made.req_hash).unwrap();
    assert!(!record.exists());
    // The record comes back (say, from a backup), but its secret was erased: reported, and
    // nothing is opened with it.
    fs::write(&record, backup).unwrap();
    let again = bob.open();
    assert_eq!(again.requests().unwrap(), vec![made.req_hash]);
    assert!(matches!(
        again.recipient_status(&made.req_hash, NOW),
        Err(CertifiedMailError::BadRecord { .. })
    ));
}

/// Records written before keys stayed in the store (version 1: Bob's P_req secret under
/// `cm/request/<req_hash>`, Alice's `a` in her key store) are refused with an error that says
/// so, never misread; `forget_request` still clears an old request and its secret.
#[test]
fn records_of_version_1_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = TestRng::new(13);
    let (alice, _) = Account::create(dir.path(), "alice", ALICE);
    let (bob, bob_store) = Account::create(dir.path(), "bob", BOB);
    let world = World::new(NOW, &bob_store);
    drop(bob_store);
    let letter = Letter {
        recipient: BOB.into(),
        plaintext: b"old".to_vec(),
        sign: false,
    };
    let (msg_id, steps) = alice.open().send(letter, &mut rng).unwrap();
    let made = bob
        .open()
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap();
    alice
        .open()
        .accept(
            &made.request,
            &world.binding(),
            &world.sender_config(false),
            NOW + 1,
            &mut rng,
        )
        .unwrap();

    // Bob's record as version 1 wrote it, with its secret where version 1 kept it.
    let record_file = DirRecordStore::new(&bob.records)
        .path(RecordKind::Received, &hex::encode(made.req_hash))
        .unwrap();
    let mut record: pb::RecipientRecord =
        decode(&fs::read(&record_file).unwrap(), 1 << 20).unwrap();
    record.version = 1;
    fs::write(&record_file, prost::Message::encode_to_vec(&record)).unwrap();
    let legacy = SecretId::new(format!("cm/request/{}", hex::encode(made.req_hash))).unwrap();
    let (mut keys, _) = bob.open().into_parts();
    keys.generate_secret(&legacy).unwrap();
    drop(keys);
    let err = bob
        .open()
        .recipient_status(&made.req_hash, NOW)
        .unwrap_err();
    assert!(
        matches!(&err, CertifiedMailError::BadRecord { reason, .. } if reason.contains("version 1")),
        "{err}"
    );
    let mut bob_mail = bob.open();
    bob_mail.forget_request(&made.req_hash).unwrap();
    assert!(!record_file.exists());
    assert!(!bob_mail.keys().secret_ids().contains(&legacy));

    // Alice's accepted mail as version 1 stored it (the first field, the version, 2 → 1).
    let sent_file = DirRecordStore::new(&alice.records)
        .path(RecordKind::Sent, &hex::encode(&msg_id))
        .unwrap();
    let mut bytes = fs::read(&sent_file).unwrap();
    assert_eq!(bytes[..2], [0x08, 2], "SentMail.version comes first");
    bytes[1] = 1;
    fs::write(&sent_file, bytes).unwrap();
    let err = alice.open().sender_status(&msg_id, NOW + 2).unwrap_err();
    assert!(
        matches!(&err, CertifiedMailError::BadRecord { reason, .. } if reason.contains("version 1")),
        "{err}"
    );
}
