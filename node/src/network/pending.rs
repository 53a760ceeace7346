//! Inbound connections still in their handshake, bounded per source address (reliability review F2).
//!
//! libp2p's connection limits bound pending inbound connections all together: some 130 sockets
//! that connect and say nothing took every slot, and every client and peer after them was
//! refused (and each refusal logged a warning). This behaviour bounds them per IP address, ahead
//! of the global bound, so one source can hold at most `max_per_ip` slots; the transport's
//! handshake timeout (`net::build_swarm_bounded`) frees a silent socket's slot quickly. A
//! refusal is counted (`herald_connections_refused`, by the worker) and logged at most once per
//! [`LOG_EVERY`] with the count since the last line, so a flood cannot fill the disk with logs.
//!
//! Loopback addresses are bounded too: every source is, whatever it is.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, ListenFailure, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use tracing::warn;

/// Least time between two log lines about refused connections.
pub(super) const LOG_EVERY: Duration = Duration::from_secs(10);

/// A connection refused because its source already has `max` connections in their handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{ip} already has {max} inbound connections in their handshake")]
pub(super) struct PendingPerIpExceeded {
    /// The source address.
    pub ip: IpAddr,
    /// The bound.
    pub max: u32,
}

/// Refused connections, logged at most once per [`LOG_EVERY`] with the count since the last
/// line.
#[derive(Debug, Default)]
pub(super) struct RefusalLog {
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl RefusalLog {
    /// Notes one refusal at `now`; returns how many to report when a line is due now.
    pub(super) fn note(&mut self, now: Instant) -> Option<u64> {
        self.unlogged += 1;
        if self
            .logged_at
            .is_some_and(|at| now.saturating_duration_since(at) < LOG_EVERY)
        {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// The behaviour (see the module docs). No protocol, no events.
#[derive(Debug)]
pub(super) struct PendingPerIp {
    max_per_ip: u32,
    /// Each pending inbound connection's source.
    pending: HashMap<ConnectionId, IpAddr>,
    /// How many each source has pending.
    per_ip: HashMap<IpAddr, u32>,
    log: RefusalLog,
}

/// The IP address a multiaddr starts with, if any.
fn source_ip(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}

impl PendingPerIp {
    /// At most `max_per_ip` (at least 1) pending inbound connections per source address.
    pub(super) fn new(max_per_ip: u32) -> Self {
        PendingPerIp {
            max_per_ip: max_per_ip.max(1),
            pending: HashMap::new(),
            per_ip: HashMap::new(),
            log: RefusalLog::default(),
        }
    }

    /// Connections of `ip` in their handshake now.
    #[cfg(test)]
    fn pending_from(&self, ip: IpAddr) -> u32 {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    /// Forgets a connection that finished its handshake or failed.
    fn settle(&mut self, connection_id: ConnectionId) {
        let Some(ip) = self.pending.remove(&connection_id) else {
            return;
        };
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// Logs the refusals so far, at most once per [`LOG_EVERY`].
    fn note_refusal(&mut self, ip: IpAddr, now: Instant) {
        if let Some(refused) = self.log.note(now) {
            warn!(
                %ip,
                refused,
                max_per_ip = self.max_per_ip,
                "inbound connections refused: too many in their handshake from one address \
                 (one line per {LOG_EVERY:?} at most)"
            );
        }
    }
}

impl NetworkBehaviour for PendingPerIp {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = source_ip(remote_addr) else {
            return Ok(());
        };
        let count = self.per_ip.entry(ip).or_default();
        if *count >= self.max_per_ip {
            let max = self.max_per_ip;
            self.note_refusal(ip, Instant::now());
            return Err(ConnectionDenied::new(PendingPerIpExceeded { ip, max }));
        }
        *count += 1;
        self.pending.insert(connection_id, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.settle(connection_id);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) = event {
            self.settle(connection_id);
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer_id: PeerId,
        _connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/4000").parse().unwrap()
    }

    #[test]
    fn one_source_is_held_to_its_bound_and_others_are_not() {
        let mut b = PendingPerIp::new(2);
        let local = addr("127.0.0.1");
        let flood = addr("127.0.0.2");
        let ids = [1, 2, 3].map(ConnectionId::new_unchecked);
        assert!(
            b.handle_pending_inbound_connection(ids[0], &local, &flood)
                .is_ok()
        );
        assert!(
            b.handle_pending_inbound_connection(ids[1], &local, &flood)
                .is_ok()
        );
        let refused = b
            .handle_pending_inbound_connection(ids[2], &local, &flood)
            .unwrap_err();
        assert!(refused.downcast::<PendingPerIpExceeded>().is_ok());
        // Another source is not affected.
        let other = ConnectionId::new_unchecked(9);
        assert!(
            b.handle_pending_inbound_connection(other, &local, &local)
                .is_ok()
        );
        // A handshake that finishes or fails frees its slot.
        b.handle_established_inbound_connection(ids[0], PeerId::random(), &local, &flood)
            .unwrap();
        assert_eq!(b.pending_from("127.0.0.2".parse().unwrap()), 1);
        b.settle(ids[1]);
        assert_eq!(b.pending_from("127.0.0.2".parse().unwrap()), 0);
        assert!(
            b.per_ip.len() == 1,
            "sources with nothing pending are forgotten"
        );
    }

    #[test]
    fn refusals_are_logged_at_a_bounded_rate() {
        let mut b = PendingPerIp::new(1);
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        b.note_refusal(ip, t0);
        assert_eq!(b.log.unlogged, 0, "the first refusal is logged");
        for i in 0..1000 {
            b.note_refusal(ip, t0 + Duration::from_millis(i));
        }
        assert_eq!(b.log.unlogged, 1000, "then counted, not logged");
        assert_eq!(
            b.log.note(t0 + LOG_EVERY),
            Some(1001),
            "one line with the count"
        );
    }
}
