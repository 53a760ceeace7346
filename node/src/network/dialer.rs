//! Keeping the registered peers connected: which peers to dial now, with exponential back-off.
//!
//! Sans-IO: the worker tells it what happened (registry changed, connected, dial failed,
//! disconnected) and asks it, on a timer, which peers are due; it never touches the swarm.
//! A peer without addresses is never dialled (it is reached when it connects). A failed dial
//! waits [`FIRST_RETRY`], doubling up to [`MAX_RETRY`]; a dropped connection is redialled
//! after [`FIRST_RETRY`].

use std::collections::HashMap;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

use crate::peers::PeerSet;

/// Wait after the first failure (or a dropped connection).
pub(super) const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Longest wait between two dials of one peer.
pub(super) const MAX_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Target {
    addrs: Vec<Multiaddr>,
    connected: bool,
    failures: u32,
    next: Instant,
}

/// The redial schedule of the registered peers.
#[derive(Debug, Default)]
pub(super) struct Redial {
    targets: HashMap<PeerId, Target>,
}

/// The back-off after `failures` failed dials in a row.
pub(super) fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(factor).min(MAX_RETRY)
}

impl Redial {
    /// Follows the registry: new peers are due now, removed ones forgotten, changed addresses
    /// taken (and due now if the peer is not connected).
    pub(super) fn sync(&mut self, peers: &PeerSet, now: Instant) {
        self.targets.retain(|id, _| peers.by_peer_id(id).is_some());
        for p in peers.iter() {
            match self.targets.get_mut(&p.peer_id) {
                Some(t) if t.addrs == p.addrs => {}
                Some(t) => {
                    t.addrs = p.addrs.clone();
                    t.failures = 0;
                    t.next = now;
                }
                None => {
                    self.targets.insert(
                        p.peer_id,
                        Target {
                            addrs: p.addrs.clone(),
                            connected: false,
                            failures: 0,
                            next: now,
                        },
                    );
                }
            }
        }
    }

    /// A connection to `peer` is open.
    pub(super) fn connected(&mut self, peer: &PeerId) {
        if let Some(t) = self.targets.get_mut(peer) {
            t.connected = true;
            t.failures = 0;
        }
    }

    /// The last connection to `peer` closed: redial soon.
    pub(super) fn disconnected(&mut self, peer: &PeerId, now: Instant) {
        if let Some(t) = self.targets.get_mut(peer) {
            t.connected = false;
            t.next = now + FIRST_RETRY;
        }
    }

    /// A dial of `peer` failed: back off.
    pub(super) fn failed(&mut self, peer: &PeerId, now: Instant) {
        if let Some(t) = self.targets.get_mut(peer)
            && !t.connected
        {
            t.failures = t.failures.saturating_add(1);
            t.next = now + backoff(t.failures);
        }
    }

    /// The peers to dial now (not connected, not `blocked`, with addresses, due). Each is
    /// rescheduled as if the dial failed, so a dial that never reports back is retried.
    pub(super) fn due(
        &mut self,
        now: Instant,
        blocked: impl Fn(&PeerId) -> bool,
    ) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut out = Vec::new();
        for (id, t) in &mut self.targets {
            if t.connected || t.addrs.is_empty() || t.next > now || blocked(id) {
                continue;
            }
            out.push((*id, t.addrs.clone()));
            t.next = now + backoff(t.failures.saturating_add(1));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::PeerDomain;

    fn peers(n: u8) -> (PeerSet, Vec<PeerId>) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let reg = crate::peers::PeerRegistry::open(&db, "alpha.test", PeerId::random()).unwrap();
        for i in 0..n {
            let record = crate::peers::tests::record(&format!("p{i}.test"), 10 + 3 * i, 4000);
            reg.add(PeerDomain::from_record(&record).unwrap()).unwrap();
        }
        let set = reg.snapshot();
        let ids = set.iter().map(|p| p.peer_id).collect();
        (PeerSet::clone(&set), ids)
    }

    #[test]
    fn back_off_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), FIRST_RETRY);
        assert_eq!(backoff(2), FIRST_RETRY * 2);
        assert_eq!(backoff(4), FIRST_RETRY * 8);
        assert_eq!(backoff(60), MAX_RETRY);
    }

    #[test]
    fn new_peers_are_due_at_once_then_back_off_until_connected() {
        let (set, ids) = peers(2);
        let mut r = Redial::default();
        let t0 = Instant::now();
        r.sync(&set, t0);
        assert_eq!(r.due(t0, |_| false).len(), 2);
        // Both rescheduled: nothing due right after.
        assert!(r.due(t0, |_| false).is_empty());
        r.failed(&ids[0], t0);
        r.connected(&ids[1]);
        let later = t0 + MAX_RETRY;
        let due: Vec<PeerId> = r.due(later, |_| false).into_iter().map(|d| d.0).collect();
        assert_eq!(due, vec![ids[0]]);
        // A dropped connection is redialled after the first retry delay.
        r.disconnected(&ids[1], later);
        assert!(r.due(later, |_| false).is_empty());
        let due: Vec<PeerId> = r
            .due(later + FIRST_RETRY, |_| false)
            .into_iter()
            .map(|d| d.0)
            .collect();
        assert_eq!(due, vec![ids[1]]);
    }

    #[test]
    fn blocked_and_removed_peers_are_not_dialled() {
        let (set, ids) = peers(2);
        let mut r = Redial::default();
        let t0 = Instant::now();
        r.sync(&set, t0);
        let due = r.due(t0, |p| *p == ids[0]);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, ids[1]);
        r.sync(&PeerSet::default(), t0);
        assert!(r.due(t0 + MAX_RETRY, |_| false).is_empty());
    }
}
