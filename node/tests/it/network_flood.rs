//! Half-open connections from one source do not lock everyone else out (reliability review F2): the
//! node bounds connections in their handshake per source address, closes the ones that do not
//! finish it in time, and counts its refusals.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::witness_support::{Domain, FakeLog, WAIT};
use futures::StreamExt as _;
use herald_light_client::net::{self, CLIENT_PROTOCOL, ClientCodec};
use herald_light_client::{Gateway as _, GatewayClient};
use herald_proto::wire::pb;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpSocket, TcpStream};

/// Half-open connections the flood opens: far more than the per-source bound, and than the
/// global pending bound (16 with `max_incoming_connections` 64).
const FLOOD: usize = 96;

/// The node's TCP port.
fn tcp_port(domain: &Domain) -> u16 {
    domain
        .addr()
        .iter()
        .find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .expect("a TCP address")
}

/// A TCP connection to `port` from `source` (another loopback address than the clients').
async fn half_open(source: Ipv4Addr, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind a second loopback address");
    socket
        .connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .expect("the kernel accepts the connection")
}

/// `herald_connections_refused_total` from `/metrics`.
async fn refused(domain: &Domain) -> u64 {
    domain
        .metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("herald_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_flood_of_half_open_connections_from_one_source_locks_out_no_one_else() {
    let alpha = Domain::start("alpha.test", |c| {
        c.max_incoming_connections = 64;
        c.max_pending_per_ip = 4;
        c.handshake_timeout_ms = 1_000;
    })
    .await;
    let peer = FakeLog::new("peer.test", 40, 3);
    alpha.register(&peer.record()).await;
    let port = tcp_port(&alpha);

    // The flood: sockets from 127.0.0.2 that connect and never speak, held open.
    let flooder = Ipv4Addr::new(127, 0, 0, 2);
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(half_open(flooder, port).await);
    }

    // A client still connects and is served.
    let client = GatewayClient::connect(&alpha.addr(), WAIT)
        .await
        .expect("a client connects during the flood");
    let checkpoint = client.checkpoint().await.expect("and is answered");
    assert!(!checkpoint.note.is_empty());

    // A registered peer still connects: the node asks it for its alerts, as it asks every
    // registered peer that connects.
    let mut swarm = net::build_swarm(peer.keys.identity.clone(), Duration::from_secs(60), |_| {
        Ok(request_response::Behaviour::with_codec(
            ClientCodec::new(),
            [(CLIENT_PROTOCOL, ProtocolSupport::Inbound)],
            request_response::Config::default(),
        ))
    })
    .unwrap();
    swarm.dial(alpha.addr()).unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            }) = swarm.select_next_some().await
            {
                let none = pb::ClientResponse {
                    response: Some(pb::client_response::Response::Alerts(pb::AlertList {
                        alerts: Vec::new(),
                    })),
                };
                let _ = swarm.behaviour_mut().send_response(channel, Ok(none));
                return;
            }
        }
    })
    .await
    .expect("the registered peer connects and is asked for its alerts during the flood");

    // Every flood socket is closed by the node: refused at once beyond the per-source bound,
    // or after the handshake timeout.
    for mut socket in flood {
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(WAIT, async {
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    // multistream-select's greeting, or noise: keep reading until the close.
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a half-open socket was left open");
    }
    let count = refused(&alpha).await;
    assert!(
        count >= (FLOOD / 2) as u64,
        "refusals beyond the per-source bound are counted: {count}"
    );
    alpha.stop().await;
}
