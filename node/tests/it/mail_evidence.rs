//! The mail path's notary records on real in-process gateways (DESIGN §3.4): every event
//! recorded once and durably through `EvidenceRecorder::record`, also across a restart, and the
//! delivery-status answer a client (or a peer gateway) verifies against its own policy.

use crate::certmail_support::{ask, now, own_trust, refusal};
use crate::network_support::TestClient;
use std::time::Duration;

use crate::witness_support::{Domain, WAIT, register_all};
use herald_node::service::{EvidenceRecorder, MailEvent, Recorded, Refusal};
use herald_proto::entry::MailParties;
use herald_proto::evidence::verify_status;
use herald_proto::wire::pb::{self, ClientErrorKind, client_request, client_response};

const SALT: [u8; 32] = [0x33; 32];

fn event(kind: pb::EvidenceKind, msg_id: &[u8], reason: &str) -> MailEvent {
    MailEvent {
        kind,
        msg_id: msg_id.to_vec(),
        parties: MailParties::new(SALT, "alice@alpha.test", "bob@beta.test").unwrap(),
        reason: reason.into(),
    }
}

async fn status(client: &mut TestClient, msg_id: &[u8]) -> pb::ClientResponse {
    ask(
        client,
        client_request::Request::Evidence(pb::EvidenceRequest {
            msg_id: msg_id.to_vec(),
            ..Default::default()
        }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mail_event_is_recorded_once_and_its_status_is_proven_to_the_client() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    register_all(&[&alpha, &beta]).await;
    let recorder = EvidenceRecorder::new(beta.gateway.intake().clone());
    let mut client = TestClient::connect(beta.addr()).await;
    assert_eq!(
        refusal(&status(&mut client, b"m-1").await),
        Some(ClientErrorKind::NotFound)
    );

    let mut indexes = Vec::new();
    for (kind, reason) in [
        (pb::EvidenceKind::RelayAccepted, ""),
        (pb::EvidenceKind::Consignment, ""),
        (pb::EvidenceKind::Handover, "fetched"),
    ] {
        let Recorded::Logged(index) = recorder.record(event(kind, b"m-1", reason)).await.unwrap()
        else {
            panic!("{kind:?} was not new")
        };
        indexes.push(index);
    }
    // The same event again (a relay retried after a crash): not written twice.
    assert_eq!(
        recorder
            .record(event(pb::EvidenceKind::Consignment, b"m-1", ""))
            .await
            .unwrap(),
        Recorded::AlreadyLogged(indexes[1])
    );
    // A rejection that does not say why is refused, and nothing is logged for it.
    let size = beta.gateway.store().head().size;
    assert!(matches!(
        recorder
            .record(event(pb::EvidenceKind::Rejection, b"m-2", ""))
            .await,
        Err(Refusal::BadEvent(_))
    ));
    // (beta may have cross-logged alpha's checkpoints meanwhile: nothing else was appended.)
    assert!(!beta.appended_besides_crosslog(size));

    // The client asks until the cosigned checkpoint covers all three, and checks every proof.
    let trust = own_trust(&mut client).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let proven = loop {
        if let Some(client_response::Response::Evidence(a)) =
            status(&mut client, b"m-1").await.response
            && a.pending == 0
        {
            break verify_status(&trust, b"m-1", &a, now()).expect("every proof holds");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the three records were not cosigned in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        proven.records.iter().map(|r| r.index).collect::<Vec<_>>(),
        indexes
    );
    let parties = MailParties::new(SALT, "alice@alpha.test", "bob@beta.test").unwrap();
    assert!(proven.records.iter().all(|r| parties.open(&r.record)));

    // A msg_id over the bound is refused before anything is looked up.
    let long = status(&mut client, &[7; 65]).await;
    assert_eq!(refusal(&long), Some(ClientErrorKind::TooLarge));

    // After a restart the record is found, not written again.
    // (The recorder holds the gateway's intake, and with it the database: dropped first.)
    drop((client, recorder));
    let beta = beta.stop().await.start().await;
    let recorder = EvidenceRecorder::new(beta.gateway.intake().clone());
    assert_eq!(
        recorder
            .record(event(pb::EvidenceKind::Handover, b"m-1", "fetched"))
            .await
            .unwrap(),
        Recorded::AlreadyLogged(indexes[2])
    );
    drop(alpha);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handover_queued_behind_its_consignment_lands_in_the_same_round_after_it() {
    // A long interval, controlled here: a round closes 3 s after its first submission, so two
    // rounds in a row cannot pass unseen between the two acks below.
    let beta = Domain::start("beta.test", |c| c.sequence_interval_ms = 3_000).await;
    let recorder = EvidenceRecorder::new(beta.gateway.intake().clone());
    let consignment = recorder
        .queue_all(vec![
            event(pb::EvidenceKind::RelayAccepted, b"m-9", ""),
            event(pb::EvidenceKind::Consignment, b"m-9", ""),
        ])
        .await
        .unwrap();
    // Queued, not durable: the same records are being written (never twice).
    assert!(matches!(
        recorder
            .queue_all(vec![event(pb::EvidenceKind::Consignment, b"m-9", "")])
            .await,
        Err(Refusal::Busy { .. })
    ));
    // The handover does not wait for the consignment's round.
    let handover = recorder
        .queue_all(vec![event(pb::EvidenceKind::Handover, b"m-9", "fetched")])
        .await
        .unwrap();
    let consigned = consignment.durable().await.unwrap();
    // The consignment's round is the head now (the next could close 3 s later at the soonest).
    let round = beta.gateway.store().head().size;
    let handed = handover.durable().await.unwrap();
    let [Recorded::Logged(relayed), Recorded::Logged(consigned)] = consigned[..] else {
        panic!("{consigned:?}")
    };
    let [Recorded::Logged(handed)] = handed[..] else {
        panic!("{handed:?}")
    };
    assert_eq!(
        (consigned, handed),
        (relayed + 1, relayed + 2),
        "in that order"
    );
    assert!(handed < round, "the handover is in the consignment's round");
    // Durable now: found, not written again.
    assert_eq!(
        recorder
            .record_all(vec![event(pb::EvidenceKind::Consignment, b"m-9", "")])
            .await
            .unwrap(),
        [Recorded::AlreadyLogged(consigned)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_dropped_before_their_round_stay_claimed_until_it_is_answered() {
    let beta = Domain::start("beta.test", |c| c.sequence_interval_ms = 1_000).await;
    let recorder = EvidenceRecorder::new(beta.gateway.intake().clone());
    let consignment = || vec![event(pb::EvidenceKind::Consignment, b"m-8", "")];
    // The caller stops waiting: the records are still on their way to the log.
    drop(recorder.queue_all(consignment()).await.unwrap());
    // So another call cannot find them missing and write them a second time.
    assert!(matches!(
        recorder.queue_all(consignment()).await,
        Err(Refusal::Busy { .. })
    ));
    // Once their round is answered: found, logged once.
    let deadline = tokio::time::Instant::now() + WAIT;
    let found = loop {
        match recorder.record_all(consignment()).await {
            Ok(found) => break found,
            Err(Refusal::Busy { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{other:?}"),
        }
    };
    assert!(
        matches!(found[..], [Recorded::AlreadyLogged(_)]),
        "{found:?}"
    );
}
