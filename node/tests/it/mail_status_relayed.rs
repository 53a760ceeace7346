//! DESIGN §3.4 delivery status through the sender's gateway, on real in-process gateways: a
//! client of alpha (S_A) gets beta's (S_B) records of a mail through alpha alone, checked
//! against beta's log; every lie alpha could tell about beta's answer fails verification; a
//! status query from a peer that is not registered is refused and counted like a relay.

use std::time::Duration;

use crate::certmail_support::{now, own_trust};
use crate::network_support::TestClient;
use crate::witness_support::{Domain, WAIT, metric, register_all};
use herald_light_client::{
    ClientError, Gateway, GatewayClient, LogTrust, VerifyError, delivery_status_through,
};
use herald_node::service::{EvidenceRecorder, MailEvent};
use herald_proto::entry::MailParties;
use herald_proto::evidence::{DeliveryStatus, RelayedStatus, sign_relayed_answer};
use herald_proto::wire::pb::{self, client_response};

const ALICE: &str = "alice@alpha.test";
const BOB: &str = "bob@beta.test";

/// A change S_A makes to the answer it passes on.
type Lie<'a> = Box<dyn Fn(&mut pb::EvidenceAnswer) + Send + Sync + 'a>;

/// alpha as a lying S_A: passes beta's answers on after `lie` changed them.
struct Lying<'a> {
    alpha: &'a GatewayClient,
    lie: Lie<'a>,
}

impl Gateway for Lying<'_> {
    async fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        let mut response = self.alpha.exchange(request).await?;
        if let Some(client_response::Response::Evidence(answer)) = &mut response.response {
            (self.lie)(answer);
        }
        Ok(response)
    }
}

/// Beta's records of `msg_id` through `gateway`, waiting (bounded) until `count` are cosigned.
async fn through(
    gateway: &GatewayClient,
    beta: &LogTrust,
    msg_id: &[u8],
    count: usize,
) -> DeliveryStatus {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match delivery_status_through(gateway, "beta.test", beta, msg_id, now()).await {
            Ok(RelayedStatus::Found(s)) if s.records.len() >= count => return *s,
            Ok(_) | Err(ClientError::Refused(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("no {count} records of beta through alpha in time: {other:?}"),
        }
    }
}

fn refused_as_unverifiable(result: Result<RelayedStatus, ClientError>, what: &str) {
    assert!(
        matches!(
            &result,
            Err(ClientError::Verification(v)) if matches!(**v, VerifyError::Status { .. })
        ),
        "{what}: {result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_the_senders_gateway_cannot_alter_the_recipient_gateways_status_answer() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    register_all(&[&alpha, &beta]).await;
    // Beta's log as the client's own trust list describes it (here: beta's word, read once).
    let beta_log = own_trust(&mut TestClient::connect(beta.addr()).await).await;

    let parties = MailParties::new([0x77; 32], ALICE, BOB).unwrap();
    let event = |kind, reason: &str| MailEvent {
        kind,
        msg_id: b"mail-1".to_vec(),
        parties: parties.clone(),
        reason: reason.into(),
    };
    let s_b = EvidenceRecorder::new(beta.gateway.intake().clone());
    for (kind, reason) in [
        (pb::EvidenceKind::RelayAccepted, ""),
        (pb::EvidenceKind::Consignment, ""),
        (pb::EvidenceKind::Handover, "fetched"),
    ] {
        s_b.record(event(kind, reason)).await.unwrap();
    }

    // The client reaches alpha only.
    let client = GatewayClient::connect(&alpha.addr(), WAIT).await.unwrap();
    let status = through(&client, &beta_log, b"mail-1", 3).await;
    assert_eq!(
        status
            .records
            .iter()
            .map(|r| r.record.kind)
            .collect::<Vec<_>>(),
        [
            pb::EvidenceKind::RelayAccepted,
            pb::EvidenceKind::Consignment,
            pb::EvidenceKind::Handover
        ]
    );
    assert!(status.records.iter().all(|r| parties.open(&r.record)));
    assert_eq!(status.checkpoint.checkpoint().origin(), beta_log.origin());

    // Every change alpha could make to beta's answer on the way fails verification.
    let replayed = std::sync::Mutex::new(None::<pb::EvidenceAnswer>);
    let alpha_key = alpha.keys.log.signing_key().clone();
    let lies: Vec<(&str, Lie)> = vec![
        (
            "a record dropped",
            Box::new(|a: &mut pb::EvidenceAnswer| {
                a.records.pop();
            }),
        ),
        (
            "only the first record kept",
            Box::new(|a: &mut pb::EvidenceAnswer| a.records.truncate(1)),
        ),
        (
            "pending invented",
            Box::new(|a: &mut pb::EvidenceAnswer| a.pending += 1),
        ),
        (
            "a byte of a record changed",
            Box::new(|a: &mut pb::EvidenceAnswer| {
                if let Some(b) = a.records[0].entry.last_mut() {
                    *b ^= 1;
                }
            }),
        ),
        (
            "re-signed by alpha",
            Box::new(move |a: &mut pb::EvidenceAnswer| {
                sign_relayed_answer(a, b"mail-1", &[0; 32], &alpha_key)
            }),
        ),
        (
            "an earlier answer replayed",
            Box::new(|a: &mut pb::EvidenceAnswer| {
                let mut kept = replayed.lock().unwrap();
                match &*kept {
                    Some(old) => *a = old.clone(),
                    None => *kept = Some(a.clone()),
                }
            }),
        ),
    ];
    for (what, lie) in lies {
        let lying = Lying {
            alpha: &client,
            lie,
        };
        if what == "an earlier answer replayed" {
            // The first call keeps beta's genuine answer (and verifies); the second replays it.
            delivery_status_through(&lying, "beta.test", &beta_log, b"mail-1", now())
                .await
                .unwrap();
        }
        refused_as_unverifiable(
            delivery_status_through(&lying, "beta.test", &beta_log, b"mail-1", now()).await,
            what,
        );
    }
    // Alpha's own records, signed the same way, verify against alpha's log; passed off as
    // beta's they are refused.
    let alpha_log = own_trust(&mut TestClient::connect(alpha.addr()).await).await;
    EvidenceRecorder::new(alpha.gateway.intake().clone())
        .record(event(pb::EvidenceKind::Acceptance, ""))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match delivery_status_through(&client, "alpha.test", &alpha_log, b"mail-1", now()).await {
            Ok(RelayedStatus::Found(s)) => {
                assert_eq!(s.records[0].record.kind, pb::EvidenceKind::Acceptance);
                break;
            }
            Ok(_) | Err(ClientError::Refused(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("alpha's own records: {other:?}"),
        }
    }
    refused_as_unverifiable(
        delivery_status_through(&client, "alpha.test", &beta_log, b"mail-1", now()).await,
        "alpha's own answer",
    );
    // A domain that is not alpha's peer: alpha says so (a refusal, not a status).
    assert!(matches!(
        delivery_status_through(&client, "gamma.test", &beta_log, b"mail-1", now()).await,
        Err(ClientError::Refused(r)) if r.kind == pb::ClientErrorKind::NotFound
    ));

    // Beta answers the status query of a registered peer only: a client claiming to be alpha
    // is refused and counted as an unregistered relay.
    let before = metric(&beta.metrics().await, "herald_relay_refused_total");
    let stranger = GatewayClient::connect(&beta.addr(), WAIT).await.unwrap();
    let refused = stranger
        .exchange(pb::ClientRequest::relay_evidence(
            "alpha.test",
            b"mail-1",
            &[1; 32],
        ))
        .await
        .unwrap();
    assert_eq!(
        refused.response,
        Some(client_response::Response::Error(pb::ClientError {
            kind: pb::ClientErrorKind::Forbidden as i32,
            ..match &refused.response {
                Some(client_response::Response::Error(e)) => e.clone(),
                other => panic!("not refused: {other:?}"),
            }
        }))
    );
    let page = beta.metrics().await;
    assert!(page.contains("herald_relay_refused_total{kind=\"unregistered\"}"));
    assert_eq!(metric(&page, "herald_relay_refused_total"), before + 1.0);
    // A malformed query (a short nonce) never reaches the service.
    let short = stranger
        .exchange(pb::ClientRequest::peer_evidence(
            "beta.test",
            b"mail-1",
            &[1; 8],
        ))
        .await;
    assert!(
        short.is_err()
            || matches!(
                short.as_ref().ok().and_then(|r| r.response.clone()),
                Some(client_response::Response::Error(e)) if e.kind == pb::ClientErrorKind::Malformed as i32
            ),
        "{short:?}"
    );
    drop((client, stranger, s_b));
    drop((alpha, beta));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_the_senders_gateway_cannot_invent_the_recipient_gateways_not_found() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = Domain::start("beta.test", |_| {}).await;
    register_all(&[&alpha, &beta]).await;
    let beta_log = own_trust(&mut TestClient::connect(beta.addr()).await).await;
    let client = GatewayClient::connect(&alpha.addr(), WAIT).await.unwrap();

    // Beta logged nothing of mail-0: its answer says so, signed over this client's nonce.
    assert_eq!(
        delivery_status_through(&client, "beta.test", &beta_log, b"mail-0", now())
            .await
            .unwrap(),
        RelayedStatus::NotFound
    );
    // Beta logged mail-1's consignment: found (or, until cosigned, pending), never not found.
    let parties = MailParties::new([0x77; 32], ALICE, BOB).unwrap();
    EvidenceRecorder::new(beta.gateway.intake().clone())
        .record(MailEvent {
            kind: pb::EvidenceKind::Consignment,
            msg_id: b"mail-1".to_vec(),
            parties,
            reason: String::new(),
        })
        .await
        .unwrap();
    let answer = delivery_status_through(&client, "beta.test", &beta_log, b"mail-1", now())
        .await
        .unwrap();
    assert!(
        matches!(
            answer,
            RelayedStatus::Found(_) | RelayedStatus::Pending { pending: 1 }
        ),
        "{answer:?}"
    );
    through(&client, &beta_log, b"mail-1", 1).await;

    // Alpha turning beta's answer into "nothing logged" or "not yet cosigned", unsigned or
    // signed with its own key, is refused: only beta's key signs beta's answers.
    let alpha_key = alpha.keys.log.signing_key().clone();
    let lies: Vec<(&str, Lie)> = vec![
        (
            "not found, beta's signature of its real answer kept",
            Box::new(|a: &mut pb::EvidenceAnswer| {
                *a = pb::EvidenceAnswer {
                    gateway_signature: a.gateway_signature.clone(),
                    ..pb::EvidenceAnswer::default()
                }
            }),
        ),
        (
            "pending, beta's signature kept",
            Box::new(|a: &mut pb::EvidenceAnswer| {
                *a = pb::EvidenceAnswer {
                    pending: 1,
                    gateway_signature: a.gateway_signature.clone(),
                    ..pb::EvidenceAnswer::default()
                }
            }),
        ),
        (
            "not found, signed by alpha",
            Box::new(move |a: &mut pb::EvidenceAnswer| {
                *a = herald_proto::evidence::unproven_relayed_answer(
                    b"mail-1", &[0; 32], 0, &alpha_key,
                )
            }),
        ),
    ];
    for (what, lie) in lies {
        let lying = Lying {
            alpha: &client,
            lie,
        };
        refused_as_unverifiable(
            delivery_status_through(&lying, "beta.test", &beta_log, b"mail-1", now()).await,
            what,
        );
    }
    drop(client);
    drop((alpha, beta));
}
