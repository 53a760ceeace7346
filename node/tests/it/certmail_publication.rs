//! Key publications on real in-process gateways (DESIGN §3.3 step (c), §3.4):
//! admission from registered accounts only, the req_hash lookup against the cosigned log
//! (`PENDING` first, then a proof the client's own policy accepts, the lowest index winning),
//! the gateway's evidence records, and all of it surviving a restart.

use std::time::Duration;

use crate::network_support::{TestClient, error_of};
use crate::witness_support::{Domain, eventually, register_all};
use ed25519_dalek::SigningKey;
use herald_node::accounts::AccountState;
use herald_node::sequencer::{Sequencer, SequencerConfig};
use herald_node::service::evidence::evidence_salt;
use herald_node::service::index_writes;
use herald_node::store::LogStore;
use herald_proto::entry::{EvidenceRecord, IdentityBinding, KeyPublication, verify_evidence};
use herald_proto::wire::pb::{self, ClientErrorKind, client_request, log_entry};
use herald_proto::wire::{MAX_LOG_ENTRY_BYTES, decode};
use prost::Message as _;

use crate::certmail_support::{Account, enrol, now, own_trust, publication, refusal, req_hash};

/// The evidence records alpha logged for `req_hash`, found through the `msg-id` index.
fn evidence(domain: &Domain, req_hash: &[u8; 32]) -> Vec<EvidenceRecord> {
    let store = domain.gateway.store();
    store
        .index_leaves("msg-id", req_hash, 0, 64)
        .unwrap()
        .into_iter()
        .map(|index| {
            let bytes = store.entries(index, 1).unwrap().remove(0);
            let entry: pb::LogEntry = decode(&bytes, MAX_LOG_ENTRY_BYTES).unwrap();
            let Some(log_entry::Kind::Evidence(e)) = entry.kind else {
                panic!("the msg-id index names a non-evidence leaf at {index}")
            };
            verify_evidence(&e, domain.keys.log_verifier().public_key())
                .expect("signed by the gateway's log key")
        })
        .collect()
}

fn count(records: &[EvidenceRecord], kind: pb::EvidenceKind) -> usize {
    records.iter().filter(|r| r.kind == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publication_is_pending_then_found_with_a_proof_the_client_policy_accepts() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let alice = Account::new("alice@alpha.test", 1);
    enrol(&alpha, &mut client, &alice).await;
    let ask = client_request::Request::Publication(pb::PublicationRequest {
        req_hash: req_hash(1).to_vec(),
    });
    let answer = client.request(ask.clone()).await;
    assert_eq!(refusal(&answer), Some(ClientErrorKind::NotFound));

    let leaf_bytes = alice.publication(req_hash(1));
    let submitted = client
        .submit_with(leaf_bytes.clone(), Some(alice.opening(req_hash(1))))
        .await;
    let Some(pb::client_response::Response::Submitted(ack)) = submitted.response else {
        panic!("{submitted:?}")
    };
    // Logged, but alpha has no witness: no cosigned checkpoint covers it.
    let answer = client.request(ask.clone()).await;
    let (kind, e) = error_of(&answer).expect("pending");
    assert_eq!(kind, ClientErrorKind::Pending);
    assert!(e.retry_after_ms > 0);

    let beta = Domain::start("beta.test", |_| {}).await;
    register_all(&[&alpha, &beta]).await;
    let trust = own_trust(&mut client).await;
    let leaf = publication(&mut client, req_hash(1)).await;
    let verified = trust
        .verify_included(&leaf, u64::MAX, now(), 60)
        .expect("included in a checkpoint beta cosigned");
    assert_eq!(verified.index(), ack.index);
    assert_eq!(verified.entry(), &leaf_bytes[..]);

    // The evidence: acceptance, and once cosigned, consignment; found by msg_id = req_hash,
    // committing to alice and bob with the leaf's own commitments (the mail's salt).
    eventually("acceptance and consignment evidence", || async {
        let records = evidence(&alpha, &req_hash(1));
        count(&records, pb::EvidenceKind::Acceptance) == 1
            && count(&records, pb::EvidenceKind::Consignment) == 1
    })
    .await;
    let parties = alice.parties(req_hash(1));
    for record in evidence(&alpha, &req_hash(1)) {
        assert_eq!(record.msg_id, req_hash(1));
        assert!(parties.open(&record));
        assert!(!record.names(&[0; 32], "alice@alpha.test", "bob@beta.test"));
        // The gateway's own salt, used for named leaves, is not this mail's.
        let salt = evidence_salt(alpha.keys.log.signing_key(), &req_hash(1));
        assert!(!record.names(&salt, "alice@alpha.test", ""));
        assert!(record.reason.contains(&format!("index {}", ack.index)));
        assert!(record.time + 60 > now());
    }
    alpha.stop().await;
    beta.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_publications_by_strangers_wrong_keys_or_bad_signatures_are_refused() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let alice = Account::new("alice@alpha.test", 1);
    enrol(&alpha, &mut client, &alice).await;
    let size = alpha.gateway.head().size;

    let stranger = Account::new("carol@alpha.test", 2);
    let foreign = Account::new("alice@beta.test", 3);
    // Signed by another key than the one bound to alice.
    let impostor = Account::new("alice@alpha.test", 4);
    for (who, account) in [
        ("unregistered author", &stranger),
        ("author of another domain", &foreign),
        ("key not bound to the author", &impostor),
    ] {
        let answer = account.publish(&mut client, req_hash(1)).await;
        assert_eq!(
            refusal(&answer),
            Some(ClientErrorKind::Unauthorized),
            "{who}"
        );
    }
    let mut tampered: pb::LogEntry = decode(&alice.publication(req_hash(1)), 65535).unwrap();
    let Some(log_entry::Kind::KeyPublication(k)) = &mut tampered.kind else {
        unreachable!()
    };
    k.wrapped_key[0] ^= 1;
    let answer = client
        .submit_with(tampered.encode_to_vec(), Some(alice.opening(req_hash(1))))
        .await;
    assert_eq!(refusal(&answer), Some(ClientErrorKind::InvalidEntry));
    // Sent without its opening, alice's own leaf is not admitted: the gateway cannot check
    // who wrote it. And a leaf naming its author in clear is not admitted at all.
    let bare = client.submit(alice.publication(req_hash(1))).await;
    assert_eq!(refusal(&bare), Some(ClientErrorKind::Unauthorized));
    let named = KeyPublication {
        req_hash: req_hash(1),
        ciphertext_hash: [9; 32],
        ephemeral_key: [9; 32],
        wrapped_key: [9; 32],
        author: alice.address.clone(),
        created: now(),
    }
    .sign(&alice.identity)
    .encode_to_vec();
    let named = client.submit(named).await;
    assert_eq!(refusal(&named), Some(ClientErrorKind::InvalidEntry));
    assert_eq!(alpha.gateway.head().size, size, "nothing was appended");
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_second_publication_for_a_req_hash_is_refused_even_concurrently() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut first = TestClient::connect(alpha.addr()).await;
    let mut second = TestClient::connect(alpha.addr()).await;
    let alice = Account::new("alice@alpha.test", 1);
    enrol(&alpha, &mut first, &alice).await;

    let ok = alice.publish(&mut first, req_hash(1)).await;
    assert!(error_of(&ok).is_none(), "{ok:?}");
    let size = alpha.gateway.head().size;
    let again = alice.publish(&mut second, req_hash(1)).await;
    assert_eq!(refusal(&again), Some(ClientErrorKind::Duplicate));
    assert_eq!(alpha.gateway.head().size, size);

    // Two submissions of one new req_hash at the same moment: exactly one is logged.
    let a = alice.publication(req_hash(2));
    let b = alice.publication_of(req_hash(2), [8; 32]);
    let opening = alice.opening(req_hash(2));
    let (ra, rb) = tokio::join!(
        first.submit_with(a, Some(opening.clone())),
        second.submit_with(b, Some(opening))
    );
    let outcomes = [refusal(&ra), refusal(&rb)];
    assert!(
        outcomes.contains(&None) && outcomes.contains(&Some(ClientErrorKind::Duplicate)),
        "{outcomes:?}"
    );
    let listed = alpha
        .gateway
        .store()
        .index_leaves("cm-req", &req_hash(2), 0, 8)
        .unwrap();
    assert_eq!(listed.len(), 1);
    alpha.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_non_canonical_bytes_and_gateway_kinds_are_refused_and_change_nothing() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let alice = Account::new("alice@alpha.test", 1);
    enrol(&alpha, &mut client, &alice).await;
    let size = alpha.gateway.head().size;

    // alice's valid publication with bytes her signature does not cover: an unknown field
    // inside the publication, the whole entry twice, an unknown field after it.
    let good = alice.publication(req_hash(1));
    let entry: pb::LogEntry = decode(&good, MAX_LOG_ENTRY_BYTES).unwrap();
    let Some(log_entry::Kind::KeyPublication(k)) = entry.kind else {
        unreachable!()
    };
    let mut inner = k.encode_to_vec();
    inner.extend_from_slice(&[0xb8, 0x06, 0x01]);
    let mut smuggled = vec![good[0]];
    prost::encoding::encode_varint(inner.len() as u64, &mut smuggled);
    smuggled.extend_from_slice(&inner);
    for bytes in [
        smuggled,
        [good.clone(), good.clone()].concat(),
        [good.clone(), vec![0xb8, 0x06, 0x01]].concat(),
    ] {
        let answer = client
            .submit_with(bytes, Some(alice.opening(req_hash(1))))
            .await;
        assert_eq!(refusal(&answer), Some(ClientErrorKind::InvalidEntry));
    }

    // A binding signed with alpha's real log key is still the gateway's to write, not a
    // client's; so are revocations, evidence and witnessed checkpoints.
    let binding = IdentityBinding {
        account: "mallory@alpha.test".into(),
        identity_key: [1; 32],
        signed_prekey: [2; 32],
        signed_prekey_signature: [3; 64],
        valid_from: now(),
    }
    .sign(alpha.keys.log.signing_key());
    let evidence = EvidenceRecord {
        kind: pb::EvidenceKind::Handover,
        msg_id: req_hash(1).to_vec(),
        sender_commitment: [0; 32],
        recipient_commitment: [0; 32],
        time: now(),
        reason: String::new(),
    }
    .sign(&SigningKey::from_bytes(&[7; 32]));
    for entry in [binding, evidence] {
        let answer = client.submit(entry.encode_to_vec()).await;
        assert_eq!(refusal(&answer), Some(ClientErrorKind::Forbidden));
    }
    assert_eq!(alpha.gateway.head().size, size);
    // The canonical publication itself is fine.
    let answer = client
        .submit_with(good, Some(alice.opening(req_hash(1))))
        .await;
    assert!(error_of(&answer).is_none(), "{answer:?}");
    alpha.stop().await;
}

/// Appends `entry` to a stopped node's log with a sequencer of the test's own, as a faulty
/// or older gateway might have: no admission checks, the indexes written as the node does.
async fn append_offline(store: &LogStore, keys: &herald_node::keys::NodeKeys, entry: &[u8]) -> u64 {
    let mut registry = prometheus_client::registry::Registry::default();
    let (sequencer, task) = Sequencer::spawn(
        store.clone(),
        keys.log.clone(),
        SequencerConfig {
            sequence_interval: Duration::from_millis(10),
            ..SequencerConfig::default()
        },
        &mut registry,
    )
    .unwrap();
    let decoded: pb::LogEntry = decode(entry, MAX_LOG_ENTRY_BYTES).unwrap();
    let ack = sequencer
        .submit_with_indexes(entry.to_vec(), index_writes(&decoded))
        .await
        .unwrap();
    sequencer.shutdown();
    task.await.unwrap().unwrap();
    ack.index
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lowest_index_wins_and_accounts_indexes_and_evidence_survive_a_restart() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    register_all(&[&alpha, &beta]).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let alice = Account::new("alice@alpha.test", 1);
    enrol(&alpha, &mut client, &alice).await;
    let first_bytes = alice.publication(req_hash(1));
    let submitted = client
        .submit_with(first_bytes.clone(), Some(alice.opening(req_hash(1))))
        .await;
    let Some(pb::client_response::Response::Submitted(ack)) = submitted.response else {
        panic!("{submitted:?}")
    };
    eventually("both evidence records", || async {
        let records = evidence(&alpha, &req_hash(1));
        count(&records, pb::EvidenceKind::Consignment) == 1
    })
    .await;
    drop(client);

    // Stopped, a second publication for the same req_hash gets into the log behind the
    // node's back (named, as an older gateway logged them: still read).
    let stopped = alpha.stop().await;
    let store = LogStore::open(stopped.config.store_dir()).unwrap();
    let later = KeyPublication {
        req_hash: req_hash(1),
        ciphertext_hash: [9; 32],
        ephemeral_key: [9; 32],
        wrapped_key: [9; 32],
        author: alice.address.clone(),
        created: now(),
    }
    .sign(&alice.identity)
    .encode_to_vec();
    let later_index = append_offline(&store, &stopped.keys, &later).await;
    assert!(later_index > ack.index);
    drop(store);

    let alpha = stopped.start().await;
    let mut client = TestClient::connect(alpha.addr()).await;
    // The account survived, and so did the indexes: the lookup answers the first leaf.
    assert!(matches!(
        alpha.gateway.intake().accounts().get(&alice.address).unwrap().map(|r| r.state),
        Some(AccountState::Active { identity_key, .. }) if identity_key == alice.key()
    ));
    let trust = own_trust(&mut client).await;
    eventually("the restarted log cosigned past the late leaf", || async {
        alpha.cosigned_size().is_some_and(|size| size > later_index)
    })
    .await;
    let leaf = publication(&mut client, req_hash(1)).await;
    let verified = trust.verify_included(&leaf, u64::MAX, now(), 60).unwrap();
    assert_eq!(verified.index(), ack.index);
    assert_eq!(verified.entry(), &first_bytes[..]);
    let listed = alpha
        .gateway
        .store()
        .index_leaves("cm-req", &req_hash(1), 0, 8)
        .unwrap();
    assert_eq!(listed, vec![ack.index, later_index]);
    // A publication for the req_hash is logged, so a client's is a duplicate.
    let answer = alice.publish(&mut client, req_hash(1)).await;
    assert_eq!(refusal(&answer), Some(ClientErrorKind::Duplicate));
    // The evidence writer resumed where it was: no record twice, none for the duplicate.
    assert!(error_of(&alice.publish(&mut client, req_hash(2)).await).is_none());
    eventually("evidence for the next publication", || async {
        count(
            &evidence(&alpha, &req_hash(2)),
            pb::EvidenceKind::Consignment,
        ) == 1
    })
    .await;
    let records = evidence(&alpha, &req_hash(1));
    assert_eq!(count(&records, pb::EvidenceKind::Acceptance), 1);
    assert_eq!(count(&records, pb::EvidenceKind::Consignment), 1);
    let first = format!("key publication at index {}", ack.index);
    assert!(
        records
            .iter()
            .all(|r| r.reason == first || r.reason.starts_with(&format!("{first},"))),
        "{records:?}"
    );
    alpha.stop().await;
    beta.stop().await;
}
