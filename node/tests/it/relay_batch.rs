//! Relays in batches (`relay_mails`) on a real S_B: each relay of a batch is taken or refused
//! on its own, answered in the order sent, only once durable, idempotent by msg_id across
//! batches; a batch from a peer that is not registered is refused whole and stores nothing.
//! S_A here is a libp2p peer in the test holding a registered domain's keys.

use std::time::Duration;

use crate::certmail_support::{Account, enrol, now};
use crate::network_support::TestClient;
use crate::witness_support::{Domain, FakeLog, WAIT, metric};
use futures::StreamExt as _;
use herald_light_client::net::{self, CLIENT_PROTOCOL, ClientCodec};
use herald_proto::paep::sign_relay;
use herald_proto::wire::client::expect_relays_accepted;
use herald_proto::wire::pb;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};

const BOB: &str = "bob@beta.test";

/// A peer speaking `/herald/client/1` to one node as `identity`.
struct Peer {
    swarm: Swarm<request_response::Behaviour<ClientCodec>>,
    node: PeerId,
}

impl Peer {
    fn connect(identity: Keypair, node: PeerId, addr: Multiaddr) -> Self {
        let mut swarm = net::build_swarm(identity, WAIT, |_| {
            Ok(request_response::Behaviour::with_codec(
                ClientCodec::new(),
                [(CLIENT_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(WAIT),
            ))
        })
        .expect("swarm");
        swarm.add_peer_address(node, addr);
        Peer { swarm, node }
    }

    async fn ask(&mut self, request: pb::ClientRequest) -> pb::ClientResponse {
        let id = self
            .swarm
            .behaviour_mut()
            .send_request(&self.node, Ok(request));
        tokio::time::timeout(WAIT, async {
            loop {
                match self.swarm.select_next_some().await {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message:
                            request_response::Message::Response {
                                request_id,
                                response,
                            },
                        ..
                    }) if request_id == id => return response.expect("a valid response"),
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                        request_id,
                        error,
                        ..
                    }) if request_id == id => panic!("request failed: {error}"),
                    _ => {}
                }
            }
        })
        .await
        .expect("an answer in time")
    }
}

/// alpha's relay of mail `msg_id` to `recipient`, signed with `alpha`'s log key.
fn relay(alpha: &FakeLog, msg_id: &[u8], recipient: &str) -> pb::RelayEnvelope {
    let envelope = pb::MailEnvelope {
        msg_id: msg_id.to_vec(),
        sender: "alice@alpha.test".into(),
        recipient: recipient.into(),
        ephemeral_key: vec![9; 32],
        prekey_id: 1,
        ciphertext: vec![0x5a; 64],
        sender_signature: vec![2; 64],
    };
    sign_relay(
        envelope,
        "alpha.test",
        now() + 3600,
        alpha.keys.log.signing_key(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_relay_of_a_batch_is_taken_or_refused_on_its_own_once() {
    let beta = Domain::start("beta.test", |_| {}).await;
    let mut client = TestClient::connect(beta.addr()).await;
    enrol(&beta, &mut client, &Account::new(BOB, 2)).await;
    let alpha = FakeLog::new("alpha.test", 70, 0);
    beta.register(&alpha.record()).await;
    let beta_id = beta.keys.peer_id();

    // A stranger's batch: refused whole, nothing stored.
    let mut stranger = Peer::connect(Keypair::generate_ed25519(), beta_id, beta.addr());
    let refused = stranger
        .ask(pb::ClientRequest::relay_mails(vec![relay(
            &alpha, b"m-0", BOB,
        )]))
        .await;
    assert!(
        matches!(
            expect_relays_accepted(refused, &[b"m-0"]),
            Err(herald_proto::wire::client::AnswerError::Refused(e))
                if e.kind == pb::ClientErrorKind::Forbidden as i32
        ),
        "a batch from an unregistered peer"
    );

    // alpha's batch: bob's mails taken, the one for nobody refused alone, in order.
    let mut peer = Peer::connect(alpha.keys.identity.clone(), beta_id, beta.addr());
    let first = vec![
        relay(&alpha, b"m-1", BOB),
        relay(&alpha, b"m-2", "nobody@beta.test"),
        relay(&alpha, b"m-3", BOB),
    ];
    let answer = peer.ask(pb::ClientRequest::relay_mails(first)).await;
    let outcomes = expect_relays_accepted(answer, &[b"m-1", b"m-2", b"m-3"]).unwrap();
    assert_eq!(outcomes[0].as_ref().map(|a| a.duplicate), Ok(false));
    assert_eq!(
        outcomes[1].as_ref().map_err(|e| e.kind),
        Err(pb::ClientErrorKind::NotFound as i32)
    );
    assert_eq!(outcomes[2].as_ref().map(|a| a.duplicate), Ok(false));

    // Sent again (S_A heard nothing): taken once, answered as duplicates.
    let again = vec![relay(&alpha, b"m-3", BOB), relay(&alpha, b"m-1", BOB)];
    let answer = peer.ask(pb::ClientRequest::relay_mails(again)).await;
    let outcomes = expect_relays_accepted(answer, &[b"m-3", b"m-1"]).unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| o.as_ref().is_ok_and(|a| a.duplicate))
    );

    // Bob's mailbox holds the two mails once each.
    let page = beta.metrics().await;
    assert_eq!(metric(&page, "herald_relay_duplicates_total"), 2.0);
    let consigned = page
        .lines()
        .find(|l| l.starts_with("herald_mail_events_total{kind=\"consignment\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok());
    assert_eq!(consigned, Some(2.0), "{page}");
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop((client, stranger, peer));
    drop(beta);
}
