//! A gateway whose connection to a registered peer broke while it still held it (the peer
//! restarted: its old process is gone, the connection this gateway kept is dead) sends the
//! request through that peer again on a fresh connection, within the request's deadline,
//! instead of answering its client BUSY (`network::peer_request`).
//!
//! The peer here is a libp2p peer in the test that speaks `/herald/client/1` as beta.test's
//! gateway would and closes the connection a status query arrives on the first time, as a
//! restarted peer's dead connection fails the request sent on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use herald_light_client::net::{self, CLIENT_PROTOCOL, ClientCodec};
use herald_light_client::{Gateway as _, GatewayClient};
use herald_proto::evidence::unproven_relayed_answer;
use herald_proto::wire::pb::{self, client_request, client_response};
use libp2p::Multiaddr;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;

use crate::witness_support::{Domain, FakeLog, WAIT};

/// Runs beta.test's stand-in on 127.0.0.1: answers every `relay_evidence` with a signed
/// "nothing logged", except the first, whose connection it closes unanswered; refuses
/// anything else. Counts the status queries. Its address once listening.
async fn flaky_beta(log: FakeLog, queries: Arc<AtomicUsize>) -> Multiaddr {
    let mut swarm = net::build_swarm(log.keys.identity.clone(), WAIT, |_| {
        Ok(request_response::Behaviour::with_codec(
            ClientCodec::new(),
            [(CLIENT_PROTOCOL, ProtocolSupport::Inbound)],
            request_response::Config::default(),
        ))
    })
    .expect("swarm");
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("multiaddr"))
        .expect("listen");
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    let key = log.keys.log.signing_key().clone();
    tokio::spawn(async move {
        loop {
            let SwarmEvent::Behaviour(request_response::Event::Message {
                connection_id,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) = swarm.select_next_some().await
            else {
                continue;
            };
            let answer = match request.ok().and_then(|r| r.request) {
                Some(client_request::Request::RelayEvidence(q)) => {
                    if queries.fetch_add(1, Ordering::SeqCst) == 0 {
                        swarm.close_connection(connection_id);
                        continue;
                    }
                    pb::ClientResponse {
                        response: Some(client_response::Response::Evidence(
                            unproven_relayed_answer(&q.msg_id, &q.nonce, 0, &key),
                        )),
                    }
                }
                _ => pb::ClientResponse::refusal(pb::ClientErrorKind::Internal, "not served here"),
            };
            let _ = swarm.behaviour_mut().send_response(channel, Ok(answer));
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_through_a_peer_whose_connection_broke_is_answered_the_first_time() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let beta = FakeLog::new("beta.test", 60, 0);
    let queries = Arc::new(AtomicUsize::new(0));
    let addr = flaky_beta(beta.clone(), queries.clone()).await;
    let mut record = beta.record();
    record.addrs = vec![addr.to_string()];
    alpha.register(&record).await;

    let client = GatewayClient::connect(&alpha.addr(), WAIT).await.unwrap();
    let answer = tokio::time::timeout(
        WAIT,
        client.exchange(pb::ClientRequest::peer_evidence(
            "beta.test",
            b"mail-1",
            &[3; 32],
        )),
    )
    .await
    .expect("an answer in time")
    .unwrap();
    assert!(
        matches!(
            &answer.response,
            Some(client_response::Response::Evidence(e)) if e.records.is_empty() && e.pending == 0
        ),
        "answered through the fresh connection, not BUSY: {answer:?}"
    );
    assert_eq!(
        queries.load(Ordering::SeqCst),
        2,
        "sent once more, and only once"
    );
    // The same again: one try, on the new connection.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let again = client
        .exchange(pb::ClientRequest::peer_evidence(
            "beta.test",
            b"mail-2",
            &[4; 32],
        ))
        .await
        .unwrap();
    assert!(matches!(
        again.response,
        Some(client_response::Response::Evidence(_))
    ));
    assert_eq!(queries.load(Ordering::SeqCst), 3);
    drop(client);
    drop(alpha);
}
