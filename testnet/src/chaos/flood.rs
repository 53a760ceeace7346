//! The flood fault: many TCP connections to a node's libp2p port that never start the
//! handshake (half-open from the node's point of view: accepted, then silent), held for a
//! bounded time and reopened as the node closes them, while a fresh light client tries to
//! connect and be served every two seconds.
//!
//! Bounded in every way: 127.0.0.1 only (any other address is refused), at most
//! [`super::plan::MAX_FLOOD_CONNECTIONS`] at once, and a hard deadline even if nobody stops it.
//! The flood comes from another loopback address than the probes ([`FLOOD_SOURCE`]): the node
//! bounds connections in their handshake per source address (`max_pending_per_ip`, reliability
//! review F2), so a flood from the probes' own address would be the probes' own bound filling.
//! Above the node's global pending bound (128), code without per-source limits refuses every
//! new connection, which the probes then show.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{bail, ensure};
use herald_light_client::Gateway as _;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use serde::Serialize;
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::plan::MAX_FLOOD_CONNECTIONS;
use super::traffic::LogTarget;

/// Where the flood's connections come from: loopback, but not the probes' 127.0.0.1.
pub(super) const FLOOD_SOURCE: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

/// How long one connection attempt of the flood may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);
/// Time between two probes.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// Time given to the flood to build up before the first probe.
const PROBE_AFTER: Duration = Duration::from_secs(1);
/// Margin past the planned hold after which the flood stops by itself.
const DEADLINE_MARGIN: Duration = Duration::from_secs(30);
/// Pause before reopening a connection the node closed: bounds the reconnect rate at
/// `connections / 0.25 s` when the node refuses at once (as it does past its bound).
const REOPEN_AFTER: Duration = Duration::from_millis(250);
/// Probe failures kept in the report (the rest are only counted).
const KEPT_FAILURES: usize = 5;

/// What a flood did and what the probes met.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FloodReport {
    /// Connections held at once (asked).
    pub connections: usize,
    /// Connections opened in all (reopened ones included).
    pub opened: u64,
    /// Connections the node closed while the flood held them.
    pub closed_by_node: u64,
    /// Attempts that failed (refused, reset or timed out).
    pub failed_opens: u64,
    /// Fresh light clients that tried to connect and ask for the checkpoint.
    pub probes: u64,
    /// Of those, the ones served.
    pub probes_served: u64,
    /// The first few probe failures.
    pub probe_failures: Vec<String>,
}

/// A running flood; [`Flood::finish`] stops it and returns its report.
#[derive(Debug)]
pub(super) struct Flood {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    counters: Arc<Counters>,
    probes: Arc<std::sync::Mutex<(u64, u64, Vec<String>)>>,
    connections: usize,
}

#[derive(Debug, Default)]
struct Counters {
    opened: AtomicU64,
    closed_by_node: AtomicU64,
    failed_opens: AtomicU64,
}

/// The TCP address of a node's libp2p listener; refused unless it is a loopback address.
pub(super) fn loopback_tcp(addr: &Multiaddr) -> anyhow::Result<SocketAddr> {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    let (Some(ip), Some(port)) = (ip, port) else {
        bail!("{addr} has no IP and TCP port");
    };
    ensure!(
        ip.is_loopback(),
        "{addr}: a flood is only ever sent to a loopback address"
    );
    Ok(SocketAddr::new(ip, port))
}

impl Flood {
    /// Starts holding `connections` half-open connections to `target`'s libp2p port, for at
    /// most `hold` plus a margin, and probing it with fresh light clients.
    pub(super) fn start(
        target: &LogTarget,
        connections: usize,
        hold: Duration,
    ) -> anyhow::Result<Flood> {
        ensure!(
            (1..=MAX_FLOOD_CONNECTIONS).contains(&connections),
            "a flood holds 1 to {MAX_FLOOD_CONNECTIONS} connections"
        );
        let addr = loopback_tcp(&target.addr)?;
        let (stop, stopped) = watch::channel(false);
        let deadline = tokio::time::Instant::now() + hold + DEADLINE_MARGIN;
        let counters = Arc::new(Counters::default());
        let probes = Arc::new(std::sync::Mutex::new((0, 0, Vec::new())));
        let mut tasks = JoinSet::new();
        for _ in 0..connections {
            tasks.spawn(hold_one(addr, stopped.clone(), deadline, counters.clone()));
        }
        tasks.spawn(probe(target.clone(), stopped, deadline, probes.clone()));
        Ok(Flood {
            stop,
            tasks,
            counters,
            probes,
            connections,
        })
    }

    /// Stops the flood (every connection closed) and returns what happened.
    pub(super) async fn finish(mut self) -> FloodReport {
        self.stop.send_replace(true);
        // Each task ends at the signal; the bound is only against a task stuck in a connect.
        let drained = tokio::time::timeout(Duration::from_secs(10), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.tasks.abort_all();
        }
        let (probes, served, failures) = self
            .probes
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|e| e.into_inner().clone());
        FloodReport {
            connections: self.connections,
            opened: self.counters.opened.load(Ordering::Relaxed),
            closed_by_node: self.counters.closed_by_node.load(Ordering::Relaxed),
            failed_opens: self.counters.failed_opens.load(Ordering::Relaxed),
            probes,
            probes_served: served,
            probe_failures: failures,
        }
    }
}

/// One slot of the flood: a connection that sends nothing, reopened when the node closes it.
async fn hold_one(
    addr: SocketAddr,
    mut stop: watch::Receiver<bool>,
    deadline: tokio::time::Instant,
    counters: Arc<Counters>,
) {
    let mut buf = [0u8; 256];
    while !*stop.borrow() && tokio::time::Instant::now() < deadline {
        let opened = tokio::time::timeout(OPEN_TIMEOUT, connect_from_flood_source(addr)).await;
        let Ok(Ok(mut stream)) = opened else {
            counters.failed_opens.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        };
        counters.opened.fetch_add(1, Ordering::Relaxed);
        // Never write; read only to notice when the node gives up on us (EOF or reset). What
        // the node sends (its multistream header) is thrown away.
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => {
                        counters.closed_by_node.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(_) => {}
                },
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(REOPEN_AFTER) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// A TCP connection to `addr` from [`FLOOD_SOURCE`] (IPv4 targets; IPv6 ones from the
/// system's choice).
async fn connect_from_flood_source(addr: SocketAddr) -> std::io::Result<TcpStream> {
    if !addr.is_ipv4() {
        return TcpStream::connect(addr).await;
    }
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((FLOOD_SOURCE, 0)))?;
    socket.connect(addr).await
}

/// Every [`PROBE_EVERY`]: a fresh light client connects to the flooded node and asks for its
/// checkpoint.
async fn probe(
    target: LogTarget,
    mut stop: watch::Receiver<bool>,
    deadline: tokio::time::Instant,
    out: Arc<std::sync::Mutex<(u64, u64, Vec<String>)>>,
) {
    let mut wait = PROBE_AFTER;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        wait = PROBE_EVERY;
        let served = async {
            let client = target.connect().await?;
            client.checkpoint().await
        };
        let outcome = tokio::select! {
            outcome = served => outcome,
            // Stopped mid-probe: the flood is over; this probe says nothing about it.
            _ = stop.wait_for(|s| *s) => return,
        };
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        out.0 += 1;
        match outcome {
            Ok(_) => out.1 += 1,
            Err(e) if out.2.len() < KEPT_FAILURES => out.2.push(e.to_string()),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_flooded() {
        let local: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        assert_eq!(
            loopback_tcp(&local).unwrap(),
            "127.0.0.1:4001".parse().unwrap()
        );
        let remote: Multiaddr = "/ip4/192.0.2.7/tcp/4001".parse().unwrap();
        assert!(loopback_tcp(&remote).is_err());
        let quic: Multiaddr = "/ip4/127.0.0.1/udp/4001/quic-v1".parse().unwrap();
        assert!(loopback_tcp(&quic).is_err());
    }

    #[tokio::test]
    async fn a_flood_holds_its_connections_and_reopens_closed_ones() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The "node" accepts everything and closes every second connection at once: four slots
        // end up holding connections 0, 2, 4 and 6.
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                if count.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
                    held.push(stream);
                }
            }
        });
        let (stop, stopped) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut tasks = JoinSet::new();
        for _ in 0..4 {
            tasks.spawn(hold_one(addr, stopped.clone(), deadline, counters.clone()));
        }
        let grew = crate::wait::until(Duration::from_secs(10), Duration::from_millis(10), || {
            let n = accepted.load(Ordering::Relaxed);
            async move { if n >= 7 { Ok(()) } else { Err(n) } }
        })
        .await;
        assert!(grew.is_ok(), "closed connections are reopened: {grew:?}");
        stop.send_replace(true);
        while tasks.join_next().await.is_some() {}
        // Accepted 0..7: the odd ones closed at once and reopened, the even ones held.
        assert!(counters.opened.load(Ordering::Relaxed) >= 7);
        assert!(counters.closed_by_node.load(Ordering::Relaxed) >= 3);
        server.abort();
    }
}
