//! Peer domains: the gateways this node trusts, witnesses and asks to witness (DESIGN §2, §4).
//!
//! Registering a domain is the trust relation of the Trusted Mail Gateway: only registered
//! peers' checkpoints are cosigned, only registered peers may call `/herald/witness/1` (checked
//! by the libp2p peer id of the connection), and only registered peers' witness keys count
//! towards this log's quorum.
//!
//! One type, [`PeerRegistry`], keeps the registry durably in the node's sled database (tree
//! `peers`, one JSON [`PeerRecord`] per domain, flushed before a change is reported done). Every
//! path that changes it goes through that type: the config's `[[peers]]` at start, the admin API
//! while the node runs, and `herald-node peer add|remove` on a stopped node's database. Readers
//! (the network worker, the witness, the cosigner) take cheap [`PeerSet`] snapshots from a
//! `watch` channel, so a change reaches them at once.
//!
//! A [`PeerRecord`] (strings, serde) is what files and the admin API carry; a [`PeerDomain`] is
//! what the node uses, made only by checking a record ([`PeerDomain::from_record`]).
//!
//! Departure from DESIGN §2 "Witnessing and gossip", decided here: a peer also carries its log's hash algorithm
//! (`hash`, default `"sha256"`, the default of new logs, `HashAlgorithm::DEFAULT`). A witness cannot check a consistency proof
//! without it, and a wrong guess would make every proof of that log look like garbage.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use herald_proto::checkpoint::WitnessVerifier;
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::note::{KeyError, NoteVerifier, is_valid_key_name};
use herald_proto::wire::MAX_LOCATION_WITNESSES;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::keys::log_key_name;

/// The sled tree of the registry.
pub const PEERS_TREE: &str = crate::db::Tree::Peers.name();
/// Longest domain name (RFC 1035).
const MAX_DOMAIN_LEN: usize = 253;
/// Most registered peers. Every peer is a witness of this log, and clients learn the witness set
/// from a location that lists at most [`MAX_LOCATION_WITNESSES`] witnesses: with more peers the
/// log could count a cosignature that its clients' policy does not.
pub const MAX_PEERS: usize = MAX_LOCATION_WITNESSES;
/// Most addresses kept per peer.
pub const MAX_PEER_ADDRS: usize = 8;
/// Longest stored record; anything longer in the database is corruption.
const MAX_RECORD_BYTES: usize = 16 * 1024;

/// A peer domain as files and the admin API write it (JSON or TOML):
///
/// ```json
/// { "domain": "beta.test",
///   "log_key": "beta.test/herald+1a2b3c4d+AU...",
///   "witness_key": "beta.test/witness+5e6f7a8b+BC...",
///   "hash": "sha256",
///   "peer_id": "12D3KooW...",
///   "addrs": ["/ip4/127.0.0.1/tcp/4710", "/ip4/127.0.0.1/udp/4710/quic-v1"] }
/// ```
/// `hash` defaults to `"sha256"` (`HashAlgorithm::DEFAULT`) and `addrs` to none (the peer is then only reached when it
/// connects); an address may end in `/p2p/<peer_id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerRecord {
    /// The peer's mail domain; its log's origin is `<domain>/herald`.
    pub domain: String,
    /// The peer log's verifier key (C2SP), named `<domain>/herald`.
    pub log_key: String,
    /// The peer witness's verifier key (C2SP cosignature/v1).
    pub witness_key: String,
    /// The peer log's hash algorithm, `blake3` or `sha256`.
    #[serde(default = "default_hash")]
    pub hash: String,
    /// The peer's libp2p peer id.
    pub peer_id: String,
    /// Where to dial it.
    #[serde(default)]
    pub addrs: Vec<String>,
}

fn default_hash() -> String {
    HashAlgorithm::DEFAULT.as_str().to_owned()
}

/// Why a peer record or a registry change was refused, or the registry failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The domain is empty, too long, or makes no valid log origin.
    #[error("domain {0:?} is not a valid domain name")]
    BadDomain(String),
    /// A verifier key does not parse.
    #[error("{field}: {source}")]
    BadKey {
        /// `log_key` or `witness_key`.
        field: &'static str,
        /// Why it was refused.
        source: KeyError,
    },
    /// The log key is not named after the domain's log.
    #[error("log_key is named {found:?}; the log of this domain is {expected:?}")]
    LogKeyName {
        /// `<domain>/herald`.
        expected: String,
        /// The key's name.
        found: String,
    },
    /// The witness key shares the log key's name and key id.
    #[error("witness_key must not be the log key")]
    WitnessIsLogKey,
    /// Another registered peer has this witness key (its name and key id, or its public key):
    /// one key would count twice in a quorum, and every witness policy would be refused.
    #[error("witness_key is already the witness key of {0}")]
    WitnessKeyTaken(String),
    /// The hash is neither `blake3` nor `sha256`.
    #[error("hash {0:?} is neither blake3 nor sha256")]
    BadHash(String),
    /// The peer id does not parse.
    #[error("peer_id {0:?} is not a libp2p peer id")]
    BadPeerId(String),
    /// An address does not parse, is not TCP or QUIC, or names another peer.
    #[error("address {addr:?}: {reason}")]
    BadAddress {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More than [`MAX_PEER_ADDRS`] addresses.
    #[error("a peer has at most {MAX_PEER_ADDRS} addresses")]
    TooManyAddresses,
    /// The record names this node itself.
    #[error("{0} is this node itself")]
    Itself(String),
    /// Another registered domain already has this peer id (one peer speaks for one domain).
    #[error("peer id {peer_id} is already registered for {domain}")]
    PeerIdTaken {
        /// The peer id.
        peer_id: String,
        /// The domain holding it.
        domain: String,
    },
    /// The registry is full.
    #[error("at most {MAX_PEERS} peers can be registered")]
    TooManyPeers,
    /// The database failed (local).
    #[error("peer registry storage: {0}")]
    Storage(#[from] sled::Error),
    /// A stored record does not parse (local: the database was damaged or edited).
    #[error("peer registry holds a bad record for {key:?}: {reason}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why it was refused.
        reason: String,
    },
}

/// A registered peer domain, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerDomain {
    /// The mail domain.
    pub domain: String,
    /// The peer's log as this node knows it: its key (whose name is the origin) and hash
    /// algorithm, with no witness policy (the witnesses that count for a peer's log depend on
    /// the whole registry; whoever needs a policy adds one, e.g. the cross-logger).
    pub log: LogTrust,
    /// The witness's verifier key.
    pub witness_key: WitnessVerifier,
    /// The libp2p peer id.
    pub peer_id: PeerId,
    /// Where to dial it, without `/p2p/<peer id>`.
    pub addrs: Vec<Multiaddr>,
}

impl PeerDomain {
    /// Checks a record: the domain, keys named as Herald names them, a known hash, a peer id,
    /// and TCP or QUIC addresses (a trailing `/p2p/` must name the same peer).
    pub fn from_record(record: &PeerRecord) -> Result<Self, PeerError> {
        if !valid_domain(&record.domain) {
            return Err(PeerError::BadDomain(record.domain.clone()));
        }
        let log_key = NoteVerifier::parse(&record.log_key).map_err(|source| PeerError::BadKey {
            field: "log_key",
            source,
        })?;
        let expected = log_key_name(&record.domain);
        if log_key.name() != expected {
            return Err(PeerError::LogKeyName {
                expected,
                found: log_key.name().to_owned(),
            });
        }
        let witness_key =
            WitnessVerifier::parse(&record.witness_key).map_err(|source| PeerError::BadKey {
                field: "witness_key",
                source,
            })?;
        if witness_key.name() == log_key.name() && witness_key.key_id() == log_key.key_id() {
            return Err(PeerError::WitnessIsLogKey);
        }
        let hash: HashAlgorithm = record
            .hash
            .parse()
            .map_err(|_| PeerError::BadHash(record.hash.clone()))?;
        let peer_id: PeerId = record
            .peer_id
            .parse()
            .map_err(|_| PeerError::BadPeerId(record.peer_id.clone()))?;
        if record.addrs.len() > MAX_PEER_ADDRS {
            return Err(PeerError::TooManyAddresses);
        }
        let addrs = record
            .addrs
            .iter()
            .map(|a| dial_address(a, peer_id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PeerDomain {
            domain: record.domain.clone(),
            log: LogTrust::unwitnessed(log_key, hash),
            witness_key,
            peer_id,
            addrs,
        })
    }

    /// The record that gives back this peer.
    pub fn to_record(&self) -> PeerRecord {
        PeerRecord {
            domain: self.domain.clone(),
            log_key: self.log.log().to_string(),
            witness_key: self.witness_key.to_string(),
            hash: self.log.algorithm().as_str().to_owned(),
            peer_id: self.peer_id.to_string(),
            addrs: self.addrs.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The peer log's origin, `<domain>/herald`.
    pub fn origin(&self) -> &str {
        self.log.origin()
    }

    /// The peer log's verifier key.
    pub fn log_key(&self) -> &NoteVerifier {
        self.log.log()
    }
}

/// A TCP or QUIC address of `peer`, with any trailing `/p2p/<peer>` removed.
fn dial_address(text: &str, peer: PeerId) -> Result<Multiaddr, PeerError> {
    let bad = |reason| PeerError::BadAddress {
        addr: text.to_owned(),
        reason,
    };
    let mut addr: Multiaddr = text.parse().map_err(|_| bad("not a multiaddr"))?;
    if let Some(Protocol::P2p(named)) = addr.iter().last() {
        if named != peer {
            return Err(bad("its /p2p/ names another peer"));
        }
        addr.pop();
    }
    if !is_tcp_or_quic(&addr) {
        return Err(bad("not /ip*/../tcp/.. or /ip*/../udp/../quic-v1"));
    }
    Ok(addr)
}

/// A snapshot of the registry: every peer by domain, with lookups by peer id and by origin.
#[derive(Clone, Debug, Default)]
pub struct PeerSet {
    by_domain: BTreeMap<String, Arc<PeerDomain>>,
    by_peer: HashMap<PeerId, Arc<PeerDomain>>,
    by_origin: HashMap<String, Arc<PeerDomain>>,
}

impl PeerSet {
    fn from_peers(peers: impl IntoIterator<Item = PeerDomain>) -> Self {
        let mut set = PeerSet::default();
        for p in peers {
            let p = Arc::new(p);
            set.by_peer.insert(p.peer_id, p.clone());
            set.by_origin.insert(p.origin().to_owned(), p.clone());
            set.by_domain.insert(p.domain.clone(), p);
        }
        set
    }

    /// The peer whose connection has this peer id.
    pub fn by_peer_id(&self, peer: &PeerId) -> Option<&Arc<PeerDomain>> {
        self.by_peer.get(peer)
    }

    /// The peer whose log has this origin.
    pub fn by_origin(&self, origin: &str) -> Option<&Arc<PeerDomain>> {
        self.by_origin.get(origin)
    }

    /// The peer of this domain.
    pub fn by_domain(&self, domain: &str) -> Option<&Arc<PeerDomain>> {
        self.by_domain.get(domain)
    }

    /// Every peer, by domain.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<PeerDomain>> {
        self.by_domain.values()
    }

    /// How many peers are registered.
    pub fn len(&self) -> usize {
        self.by_domain.len()
    }

    /// Whether no peer is registered.
    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty()
    }
}

struct RegistryInner {
    tree: sled::Tree,
    own_domain: String,
    own_peer: PeerId,
    /// Changes are serialized so that the uniqueness checks see the state they change.
    write: Mutex<()>,
    current: watch::Sender<Arc<PeerSet>>,
}

/// The durable registry (see the module docs). Cheap to clone; methods that change it block
/// on a flush, so async callers run them on a blocking thread.
#[derive(Clone)]
pub struct PeerRegistry {
    inner: Arc<RegistryInner>,
}

impl std::fmt::Debug for PeerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerRegistry")
            .field("peers", &self.snapshot().len())
            .finish_non_exhaustive()
    }
}

impl PeerRegistry {
    /// Opens the registry in `db` for the node of `own_domain` with peer id `own_peer` (neither
    /// may be registered as a peer), reading every stored record.
    pub fn open(db: &sled::Db, own_domain: &str, own_peer: PeerId) -> Result<Self, PeerError> {
        let tree = crate::db::Tree::Peers.open(db)?;
        let mut peers = Vec::new();
        for item in tree.iter() {
            let (key, value) = item?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let corrupt = |reason: String| PeerError::Corrupt {
                key: key.clone(),
                reason,
            };
            if value.len() > MAX_RECORD_BYTES {
                return Err(corrupt(format!("{} bytes", value.len())));
            }
            let record: PeerRecord =
                serde_json::from_slice(&value).map_err(|e| corrupt(e.to_string()))?;
            let peer = PeerDomain::from_record(&record).map_err(|e| corrupt(e.to_string()))?;
            if peer.domain != key {
                return Err(corrupt(format!("the record is for {}", peer.domain)));
            }
            peers.push(peer);
        }
        let (current, _) = watch::channel(Arc::new(PeerSet::from_peers(peers)));
        Ok(PeerRegistry {
            inner: Arc::new(RegistryInner {
                tree,
                own_domain: own_domain.to_owned(),
                own_peer,
                write: Mutex::new(()),
                current,
            }),
        })
    }

    /// The registry now.
    pub fn snapshot(&self) -> Arc<PeerSet> {
        self.inner.current.borrow().clone()
    }

    /// A receiver of every new snapshot.
    pub fn watch(&self) -> watch::Receiver<Arc<PeerSet>> {
        self.inner.current.subscribe()
    }

    /// Registers `peer`, replacing the record of its domain if there is one; returns whether
    /// one was replaced. Durable (flushed) when this returns. Blocking.
    pub fn add(&self, peer: PeerDomain) -> Result<bool, PeerError> {
        if peer.domain == self.inner.own_domain {
            return Err(PeerError::Itself(peer.domain));
        }
        if peer.peer_id == self.inner.own_peer {
            return Err(PeerError::Itself(peer.peer_id.to_string()));
        }
        let _write = self
            .inner
            .write
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let set = self.snapshot();
        if let Some(holder) = set.by_peer_id(&peer.peer_id)
            && holder.domain != peer.domain
        {
            return Err(PeerError::PeerIdTaken {
                peer_id: peer.peer_id.to_string(),
                domain: holder.domain.clone(),
            });
        }
        if let Some(holder) = set.iter().find(|p| {
            p.domain != peer.domain
                && ((p.witness_key.name() == peer.witness_key.name()
                    && p.witness_key.key_id() == peer.witness_key.key_id())
                    || p.witness_key.public_key() == peer.witness_key.public_key())
        }) {
            return Err(PeerError::WitnessKeyTaken(holder.domain.clone()));
        }
        let replaced = set.by_domain(&peer.domain).is_some();
        if !replaced && set.len() >= MAX_PEERS {
            return Err(PeerError::TooManyPeers);
        }
        // Invariant: a record of strings always serializes.
        let value = serde_json::to_vec(&peer.to_record()).expect("a PeerRecord serializes");
        self.inner.tree.insert(peer.domain.as_bytes(), value)?;
        self.inner.tree.flush()?;
        let domain = peer.domain.clone();
        let peers = set
            .iter()
            .filter(|p| p.domain != domain)
            .map(|p| PeerDomain::clone(p))
            .chain([peer]);
        self.inner
            .current
            .send_replace(Arc::new(PeerSet::from_peers(peers)));
        Ok(replaced)
    }

    /// Removes the peer of `domain`; whether it was registered. Durable when this returns.
    /// Blocking.
    pub fn remove(&self, domain: &str) -> Result<bool, PeerError> {
        let _write = self
            .inner
            .write
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let set = self.snapshot();
        if set.by_domain(domain).is_none() {
            return Ok(false);
        }
        self.inner.tree.remove(domain.as_bytes())?;
        self.inner.tree.flush()?;
        let peers = set
            .iter()
            .filter(|p| p.domain != domain)
            .map(|p| PeerDomain::clone(p));
        self.inner
            .current
            .send_replace(Arc::new(PeerSet::from_peers(peers)));
        Ok(true)
    }

    /// Every registered peer, by domain.
    pub fn list(&self) -> Vec<PeerDomain> {
        self.snapshot()
            .iter()
            .map(|p| PeerDomain::clone(p))
            .collect()
    }
}

// Which names and addresses a gateway may have: peer records and the node's own configuration
// are checked alike.

/// Whether `domain` can name a gateway: 1 to 253 bytes, no `/`, and `<domain>/herald` is a
/// valid note key name.
pub(crate) fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= MAX_DOMAIN_LEN
        && !domain.contains('/')
        && is_valid_key_name(&format!("{domain}/herald"))
}

/// `/ip4|ip6|dns*/<host>/tcp/<port>` or `/ip4|ip6|dns*/<host>/udp/<port>/quic-v1`, nothing more.
pub(crate) fn is_tcp_or_quic(addr: &Multiaddr) -> bool {
    let parts: Vec<Protocol<'_>> = addr.iter().collect();
    let ip = |p: &Protocol<'_>| matches!(p, Protocol::Ip4(_) | Protocol::Ip6(_));
    match parts.as_slice() {
        [host, Protocol::Tcp(_)] => ip(host),
        [host, Protocol::Udp(_), Protocol::QuicV1] => ip(host),
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::NodeKeys;

    /// The record of the node of `domain` made from `seed`, reachable at `port`.
    pub(crate) fn record(domain: &str, seed: u8, port: u16) -> PeerRecord {
        let keys = NodeKeys::from_seeds(domain, [[seed; 32], [seed + 1; 32], [seed + 2; 32]])
            .expect("valid test keys");
        PeerRecord {
            domain: domain.into(),
            log_key: keys.log_verifier().to_string(),
            witness_key: keys.witness_verifier().to_string(),
            hash: HashAlgorithm::DEFAULT.as_str().into(),
            peer_id: keys.peer_id().to_string(),
            addrs: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        }
    }

    fn registry(db: &sled::Db) -> PeerRegistry {
        let own = NodeKeys::from_seeds("alpha.test", [[1; 32], [2; 32], [3; 32]]).unwrap();
        PeerRegistry::open(db, "alpha.test", own.peer_id()).unwrap()
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_refused_by_field() {
        let good = record("beta.test", 10, 4000);
        let peer = PeerDomain::from_record(&good).unwrap();
        assert_eq!(peer.to_record(), good);
        assert_eq!(peer.origin(), "beta.test/herald");
        // A /p2p/ suffix naming the peer is accepted and dropped.
        let mut with_p2p = good.clone();
        with_p2p.addrs = vec![format!("/ip4/127.0.0.1/tcp/4000/p2p/{}", good.peer_id)];
        assert_eq!(PeerDomain::from_record(&with_p2p).unwrap(), peer);

        let other = record("gamma.test", 20, 1);
        type Change<'a> = Box<dyn Fn(&mut PeerRecord) + 'a>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|r| r.domain = "a b".into()), "domain"),
            (Box::new(|r| r.log_key = "nonsense".into()), "log_key"),
            (
                Box::new(|r| r.log_key = other.log_key.clone()),
                "gamma.test/herald",
            ),
            (Box::new(|r| r.witness_key = "x".into()), "witness_key"),
            (Box::new(|r| r.hash = "md5".into()), "md5"),
            (Box::new(|r| r.peer_id = "peer".into()), "peer_id"),
            (
                Box::new(|r| r.addrs = vec!["/ip4/1.2.3.4/udp/5".into()]),
                "udp/5",
            ),
            (
                Box::new(|r| r.addrs = vec![format!("/ip4/1.2.3.4/tcp/5/p2p/{}", other.peer_id)]),
                "another peer",
            ),
            (
                Box::new(|r| r.addrs = vec!["/ip4/1.2.3.4/tcp/5".into(); 9]),
                "at most",
            ),
        ];
        for (change, word) in cases {
            let mut r = good.clone();
            change(&mut r);
            let err = PeerDomain::from_record(&r).unwrap_err().to_string();
            assert!(err.contains(word), "{err:?} does not name {word}");
        }
    }

    #[test]
    fn changes_are_durable_and_seen_by_watchers() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let reg = registry(&db);
        let mut watcher = reg.watch();
        let beta = PeerDomain::from_record(&record("beta.test", 10, 4000)).unwrap();
        assert!(!reg.add(beta.clone()).unwrap());
        assert!(watcher.has_changed().unwrap());
        assert_eq!(
            watcher
                .borrow_and_update()
                .by_peer_id(&beta.peer_id)
                .unwrap()
                .domain,
            "beta.test"
        );
        // Re-registering replaces (new address), it does not duplicate.
        let mut moved = beta.clone();
        moved.addrs = vec!["/ip4/127.0.0.1/tcp/5000".parse().unwrap()];
        assert!(reg.add(moved.clone()).unwrap());
        let gamma = PeerDomain::from_record(&record("gamma.test", 20, 4001)).unwrap();
        reg.add(gamma).unwrap();
        drop(reg);
        let reopened = registry(&db);
        let list = reopened.list();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0], moved);
        assert!(reopened.remove("gamma.test").unwrap());
        assert!(!reopened.remove("gamma.test").unwrap());
        assert_eq!(registry(&db).list(), vec![moved]);
    }

    #[test]
    fn itself_and_a_taken_peer_id_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let reg = registry(&db);
        let me = PeerDomain::from_record(&record("alpha.test", 1, 1)).unwrap();
        assert!(matches!(reg.add(me), Err(PeerError::Itself(_))));
        let beta = PeerDomain::from_record(&record("beta.test", 10, 4000)).unwrap();
        reg.add(beta.clone()).unwrap();
        let mut impostor = PeerDomain::from_record(&record("gamma.test", 20, 4001)).unwrap();
        impostor.peer_id = beta.peer_id;
        assert!(matches!(
            reg.add(impostor),
            Err(PeerError::PeerIdTaken { .. })
        ));
        // Another domain with beta's witness key: one key would count twice in a quorum.
        let mut twin = PeerDomain::from_record(&record("gamma.test", 20, 4001)).unwrap();
        twin.witness_key = beta.witness_key.clone();
        assert!(matches!(
            reg.add(twin),
            Err(PeerError::WitnessKeyTaken(d)) if d == "beta.test"
        ));
        assert_eq!(reg.list(), vec![beta]);
    }

    #[test]
    fn a_damaged_record_is_an_error_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let tree = crate::db::Tree::Peers.open(&db).unwrap();
        tree.insert("beta.test", &b"{not json"[..]).unwrap();
        let own = NodeKeys::from_seeds("alpha.test", [[1; 32], [2; 32], [3; 32]]).unwrap();
        assert!(matches!(
            PeerRegistry::open(&db, "alpha.test", own.peer_id()),
            Err(PeerError::Corrupt { .. })
        ));
    }
}
