//! DESIGN §3.4 privacy on real in-process gateways: after a certified-mail exchange (B's real
//! signed request, A's sealed publication admitted with its opening, the gateway's evidence
//! records) and a relayed mail's records on both gateways, no leaf of either public log names
//! either address; the parties open every commitment, from the request or the mail's salt.

use std::time::Duration;

use crate::certmail_support::{Account, enrol, now, own_trust, publication};
use crate::network_support::{TestClient, error_of};
use crate::witness_support::{Domain, WAIT, register_all};
use ed25519_dalek::SigningKey;
use herald_node::service::{EvidenceRecorder, MailEvent};
use herald_proto::certmail::{
    KeyRequestDraft, Location, MessageKey, check_publication, ephemeral_secret, mail_parties,
    publication_entry, publication_opening, sign_request, verify_request,
};
use herald_proto::entry::{EvidenceRecord, MailParties, SealedKeyPublication, verify_evidence};
use herald_proto::wire::pb::{self, log_entry};
use herald_proto::wire::{MAX_LOG_ENTRY_BYTES, decode};

const ALICE: &str = "alice@alpha.test";
const BOB: &str = "bob@beta.test";

/// Every leaf of `domain`'s log, decoded.
fn leaves(domain: &Domain) -> Vec<(Vec<u8>, pb::LogEntry)> {
    let store = domain.gateway.store();
    let size = store.head().size;
    store
        .entries(0, size as u32)
        .unwrap()
        .into_iter()
        .map(|bytes| {
            let entry = decode(&bytes, MAX_LOG_ENTRY_BYTES).unwrap();
            (bytes, entry)
        })
        .collect()
}

/// Whether `needle` occurs in `bytes`.
fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_log_reader_finds_no_address_in_clear_in_any_leaf_of_a_mail_exchange() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    register_all(&[&alpha, &beta]).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let alice = Account::new(ALICE, 1);
    enrol(&alpha, &mut client, &alice).await;

    // B's real request for A's letter, A's sealed publication of K at alpha (X).
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let key = MessageKey::generate(&mut rng);
    let p_req = ephemeral_secret(&mut rng);
    let location = Location::new(own_trust(&mut client).await, 60, 10).unwrap();
    let draft = KeyRequestDraft {
        sender: ALICE.into(),
        recipient: BOB.into(),
        msg_id: b"letter-1".to_vec(),
        ciphertext_hash: [3; 32],
        key_commitment: key.commitment(),
        deadline: now() + 3600,
        location,
        request_key: x25519_dalek::PublicKey::from(&p_req).to_bytes(),
        expect: None,
        nonce: [0x4e; 32],
        created: now(),
    };
    let request =
        verify_request(&sign_request(&draft, &SigningKey::from_bytes(&[2; 32])).unwrap()).unwrap();
    let leaf = publication_entry(
        &request,
        &key,
        &ephemeral_secret(&mut rng),
        &alice.identity,
        now(),
    )
    .unwrap();
    let opening = publication_opening(&request, alice.key()).unwrap();
    let submitted = client.submit_with(leaf.clone(), Some(opening)).await;
    assert!(error_of(&submitted).is_none(), "{submitted:?}");

    // A relayed mail's records on both sides, through the one entry point.
    let parties = MailParties::new([0x77; 32], ALICE, BOB).unwrap();
    let event = |kind, reason: &str| MailEvent {
        kind,
        msg_id: b"mail-2".to_vec(),
        parties: parties.clone(),
        reason: reason.into(),
    };
    let s_a = EvidenceRecorder::new(alpha.gateway.intake().clone());
    let s_b = EvidenceRecorder::new(beta.gateway.intake().clone());
    s_a.record(event(pb::EvidenceKind::Acceptance, ""))
        .await
        .unwrap();
    s_b.record(event(pb::EvidenceKind::RelayAccepted, ""))
        .await
        .unwrap();
    s_b.record(event(pb::EvidenceKind::Consignment, ""))
        .await
        .unwrap();
    s_b.record(event(pb::EvidenceKind::Handover, "fetched"))
        .await
        .unwrap();

    // Wait for the publication's consignment (it needs a cosigned checkpoint).
    let leaf_answer = publication(&mut client, *request.req_hash()).await;
    assert_eq!(leaf_answer.entry, leaf);
    let deadline = tokio::time::Instant::now() + WAIT;
    let publication_records = loop {
        let records: Vec<EvidenceRecord> = leaves(&alpha)
            .into_iter()
            .filter_map(|(_, e)| match e.kind {
                Some(log_entry::Kind::Evidence(ev)) if ev.msg_id == request.req_hash() => {
                    Some(verify_evidence(&ev, alpha.keys.log_verifier().public_key()).unwrap())
                }
                _ => None,
            })
            .collect();
        if records.len() == 2 {
            break records;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no consignment in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // The scan: every leaf of both logs, except the bindings (a key directory names its
    // accounts, DESIGN §3.4), holds neither address nor either local part.
    let mut scanned = 0;
    for domain in [&alpha, &beta] {
        for (bytes, entry) in leaves(domain) {
            if matches!(
                entry.kind,
                Some(log_entry::Kind::IdentityBinding(_) | log_entry::Kind::IdentityRevocation(_))
            ) {
                continue;
            }
            scanned += 1;
            for needle in [ALICE, BOB, "alice@", "bob@"] {
                assert!(
                    !contains(&bytes, needle),
                    "{needle} in clear in a leaf of {}: {entry:?}",
                    domain.origin()
                );
            }
        }
    }
    assert!(
        scanned >= 7,
        "the publication, its 2 records and the 4 relay records"
    );

    // The parties open everything: B (and an arbiter) from the request...
    let opened = mail_parties(&request).unwrap();
    let Some(log_entry::Kind::KeyPublication(k)) =
        decode::<pb::LogEntry>(&leaf, MAX_LOG_ENTRY_BYTES)
            .unwrap()
            .kind
    else {
        unreachable!()
    };
    assert!(SealedKeyPublication::read(&k).unwrap().opens_to(&opened));
    assert_eq!(check_publication(&leaf, &request).unwrap().author, ALICE);
    assert!(publication_records.iter().all(|r| opened.open(r)));
    // ...and both parties of the relayed mail from its salt, in both logs.
    for domain in [&alpha, &beta] {
        for (_, entry) in leaves(domain) {
            if let Some(log_entry::Kind::Evidence(ev)) = entry.kind
                && ev.msg_id == b"mail-2"
            {
                let record = verify_evidence(&ev, domain.keys.log_verifier().public_key()).unwrap();
                assert!(parties.open(&record));
            }
        }
    }
    drop((client, s_a, s_b));
    drop((alpha, beta));
}
