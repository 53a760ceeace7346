//! Gossip: what the node publishes and what it accepts, on two topics. The network worker only
//! carries the messages; the judgement is here, on the application floor ([`GossipJudge`],
//! which the worker reaches through `network::Inbound`), and what it believes goes to the
//! split-view watch's watcher.
//!
//! `herald/checkpoints/1`: each message is one encoded `SignedCheckpoint`. The node publishes
//! every new checkpoint its sequencer signs, and each cosigned one (the same note with
//! cosignature lines). A received message is validated before gossipsub forwards it: it must
//! decode within its limit and hold a C2SP note whose body is a Herald checkpoint and which
//! carries a signature line named after the checkpoint's origin (a log always signs its own
//! checkpoints). A checkpoint of a registered peer (or of this node's own log) must verify
//! under that log's key ([`judge_checkpoint`]); a well-formed checkpoint of an origin this node
//! does not know is forwarded without being believed.
//!
//! `herald/alerts/1`: each message is one encoded `Equivocation`, verified completely before it
//! is believed or forwarded ([`judge_alert`]). A proof against a log this node knows (a peer's
//! or its own, under the same key) is accepted; a valid proof about a log it does not know is
//! ignored (neither forwarded nor charged); anything that does not verify is rejected.
//!
//! Rejections are charged by gossipsub's peer scoring to the peer that sent the message.
//!
//! Alerts a registered peer lists when asked (`watch::alert_sync`) are judged like gossiped
//! ones ([`GossipJudge::listed_alert`]).

use std::sync::Arc;

use herald_proto::checkpoint::{Checkpoint, CheckpointError, VerifiedCheckpoint};
use herald_proto::equivocation::{
    DecodeError, Equivocation, EquivocationError, VerifiedEquivocation,
};
use herald_proto::note::{NoteError, NoteVerifier, SignedNote};
use herald_proto::wire::{self, WireError, pb};
use libp2p::PeerId;
use prost::Message as _;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::network::{GossipVerdict, Topic};
use crate::peers::{PeerDomain, PeerRegistry, PeerSet};

/// Gossip events waiting for the split-view watch's watcher; more are dropped (and logged).
pub const GOSSIP_EVENT_CAPACITY: usize = 256;

/// Why a gossip message was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GossipRejection {
    /// The data is not a valid `SignedCheckpoint`.
    #[error("not a SignedCheckpoint: {0}")]
    Wire(#[from] WireError),
    /// The note does not parse.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The note's text is not a Herald checkpoint body.
    #[error("checkpoint body: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// No signature line is named after the checkpoint's origin.
    #[error("checkpoint of {origin} carries no signature by its log")]
    NoLogSignature {
        /// The checkpoint's origin.
        origin: String,
    },
    /// A checkpoint of a known log does not verify under its key.
    #[error("checkpoint of {origin} does not verify: {source}")]
    BadSignature {
        /// The checkpoint's origin.
        origin: String,
        /// Why.
        source: CheckpointError,
    },
    /// The data is not a valid `Equivocation`.
    #[error("not an Equivocation: {0}")]
    Alert(#[from] DecodeError),
    /// The equivocation proof does not verify.
    #[error("equivocation does not verify: {0}")]
    FalseAlert(#[from] EquivocationError),
}

/// What the judge hands the split-view watch's watcher once a message passed validation.
// Each event is moved once through a bounded channel; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum GossipEvent {
    /// A registered peer's checkpoint, verified under its log key.
    Checkpoint(Arc<PeerDomain>, VerifiedCheckpoint),
    /// A verified equivocation proof against a known log.
    Alert(VerifiedEquivocation),
}

/// A checkpoint gossip message that passed validation.
#[derive(Clone, Debug)]
pub enum SeenCheckpoint {
    /// A registered peer's checkpoint, verified under its log key.
    Peer(Arc<PeerDomain>, VerifiedCheckpoint),
    /// This node's own checkpoint, verified under its key (echoed, or a fork it published).
    Own(VerifiedCheckpoint),
    /// A well-formed checkpoint of a log this node does not know: forwarded, not believed.
    Unknown(Checkpoint),
}

/// Checks a received checkpoint message; the checkpoint it announces if acceptable.
pub fn check_checkpoint_message(data: &[u8]) -> Result<Checkpoint, GossipRejection> {
    let message: pb::SignedCheckpoint = wire::decode_valid(data)?;
    let note = SignedNote::parse(&message.note)?;
    let checkpoint = Checkpoint::parse_body(note.text())?;
    if !note
        .signatures()
        .iter()
        .any(|s| s.name() == checkpoint.origin)
    {
        return Err(GossipRejection::NoLogSignature {
            origin: checkpoint.origin,
        });
    }
    Ok(checkpoint)
}

/// Checks a received checkpoint message against the registry: see the module docs.
pub fn judge_checkpoint(
    data: &[u8],
    peers: &PeerSet,
    own_log: &NoteVerifier,
) -> Result<SeenCheckpoint, GossipRejection> {
    let checkpoint = check_checkpoint_message(data)?;
    // Decoded once more: the bounds were checked by the call above.
    let note = pb::SignedCheckpoint::decode(data)
        .map_err(WireError::Malformed)?
        .note;
    let verify = |key: &NoteVerifier| {
        VerifiedCheckpoint::verify(&note, key).map_err(|source| GossipRejection::BadSignature {
            origin: checkpoint.origin.clone(),
            source,
        })
    };
    if checkpoint.origin == own_log.name() {
        return Ok(SeenCheckpoint::Own(verify(own_log)?));
    }
    match peers.by_origin(&checkpoint.origin) {
        Some(peer) => Ok(SeenCheckpoint::Peer(peer.clone(), verify(peer.log_key())?)),
        None => Ok(SeenCheckpoint::Unknown(checkpoint)),
    }
}

/// Checks a received alert message: `Ok(Some)` for a verified proof against a log this node
/// knows (under the key it knows it by), `Ok(None)` for a verified proof about another log.
pub fn judge_alert(
    data: &[u8],
    peers: &PeerSet,
    own_log: &NoteVerifier,
) -> Result<Option<VerifiedEquivocation>, GossipRejection> {
    judged(Equivocation::decode(data)?, peers, own_log)
}

/// [`judge_alert`] for an alert that arrived decoded (a peer's alert list).
pub fn judge_listed_alert(
    alert: pb::Equivocation,
    peers: &PeerSet,
    own_log: &NoteVerifier,
) -> Result<Option<VerifiedEquivocation>, GossipRejection> {
    judged(Equivocation::from_wire(alert)?, peers, own_log)
}

fn judged(
    claimed: Equivocation,
    peers: &PeerSet,
    own_log: &NoteVerifier,
) -> Result<Option<VerifiedEquivocation>, GossipRejection> {
    let verified = claimed.verify()?;
    Ok(concerns_known_log(&verified, peers, own_log).then_some(verified))
}

/// Whether a verified proof is against this node's own log or a registered peer's, under the
/// key this node knows that log by.
pub fn concerns_known_log(
    proof: &VerifiedEquivocation,
    peers: &PeerSet,
    own_log: &NoteVerifier,
) -> bool {
    let key = proof.equivocation().log();
    if proof.origin() == own_log.name() {
        return key == own_log;
    }
    peers
        .by_origin(proof.origin())
        .is_some_and(|p| p.log_key() == key)
}

/// The node's judgement of received gossip (and of alerts peers list), and where what it
/// believes goes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct GossipJudge {
    /// The registry: which logs this node knows, under which keys.
    peers: PeerRegistry,
    /// This node's own log key (its own checkpoints must verify under it).
    own_log: NoteVerifier,
    /// The split-view watch's watcher (bounded: see [`GOSSIP_EVENT_CAPACITY`]).
    events: mpsc::Sender<GossipEvent>,
}

impl GossipJudge {
    /// A judge that knows the logs of `peers` and `own_log`, telling `events` what it believes.
    pub fn new(
        peers: PeerRegistry,
        own_log: NoteVerifier,
        events: mpsc::Sender<GossipEvent>,
    ) -> Self {
        GossipJudge {
            peers,
            own_log,
            events,
        }
    }

    /// Judges a message received `from` a peer on `topic` (see the module docs); a believed
    /// peer checkpoint or alert goes to the watcher.
    pub fn judge(&self, from: PeerId, topic: Topic, data: &[u8]) -> GossipVerdict {
        let peers = self.peers.snapshot();
        let judged = match topic {
            Topic::Checkpoints => judge_checkpoint(data, &peers, &self.own_log)
                .map(|seen| self.on_checkpoint(from, seen)),
            Topic::Alerts => {
                judge_alert(data, &peers, &self.own_log).map(|alert| self.on_alert(from, alert))
            }
        };
        judged.unwrap_or_else(|reason| GossipVerdict::Reject(reason.to_string()))
    }

    /// A valid checkpoint message: forwarded; a peer's goes to the split-view watch's watcher.
    fn on_checkpoint(&self, from: PeerId, seen: SeenCheckpoint) -> GossipVerdict {
        match seen {
            SeenCheckpoint::Peer(peer, checkpoint) => {
                debug!(%from, origin = peer.origin(), size = checkpoint.size(), "checkpoint gossip");
                self.tell_watcher(GossipEvent::Checkpoint(peer, checkpoint));
            }
            SeenCheckpoint::Own(checkpoint) => {
                debug!(%from, size = checkpoint.size(), "own checkpoint gossip");
            }
            SeenCheckpoint::Unknown(checkpoint) => {
                debug!(%from, origin = %checkpoint.origin, "checkpoint of an unregistered log");
            }
        }
        GossipVerdict::Accept
    }

    /// A verified alert: believed and forwarded if it concerns a known log, ignored otherwise.
    fn on_alert(&self, from: PeerId, alert: Option<VerifiedEquivocation>) -> GossipVerdict {
        match alert {
            Some(proof) => {
                info!(%from, origin = proof.origin(), "split-view alert received");
                self.tell_watcher(GossipEvent::Alert(proof));
                GossipVerdict::Accept
            }
            None => {
                debug!(%from, "valid alert about a log this node does not know: ignored");
                GossipVerdict::Ignore
            }
        }
    }

    /// An alert `peer` listed when asked: believed (and told to the watcher) like a gossiped
    /// one; one that does not verify gains its sender nothing and is logged.
    pub fn listed_alert(&self, peer: PeerId, alert: pb::Equivocation) {
        let peers = self.peers.snapshot();
        match judge_listed_alert(alert, &peers, &self.own_log) {
            Ok(Some(proof)) => {
                debug!(%peer, origin = proof.origin(), "alert received from a peer's list");
                self.tell_watcher(GossipEvent::Alert(proof));
            }
            Ok(None) => debug!(%peer, "listed alert about a log this node does not know"),
            Err(error) => warn!(%peer, %error, "a peer listed an alert that does not verify"),
        }
    }

    fn tell_watcher(&self, event: GossipEvent) {
        if let Err(e) = self.events.try_send(event) {
            warn!(error = %e, "the split-view watcher is behind; gossip event dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use herald_light_client::net::checkpoint_message;
    use herald_proto::note::NoteSigner;

    use super::*;

    fn signed(origin: &str, signer: &str) -> Vec<u8> {
        let key = NoteSigner::new(signer, SigningKey::from_bytes(&[5; 32])).unwrap();
        let body = Checkpoint {
            origin: origin.into(),
            size: 3,
            root: [7; 32],
        }
        .body();
        key.sign(&body).unwrap().to_string().into_bytes()
    }

    #[test]
    fn a_checkpoint_signed_by_its_log_is_accepted() {
        let data = checkpoint_message(&signed("a.test/herald", "a.test/herald"));
        let checkpoint = check_checkpoint_message(&data).unwrap();
        assert_eq!(
            (checkpoint.origin.as_str(), checkpoint.size),
            ("a.test/herald", 3)
        );
    }

    #[test]
    fn garbage_and_foreign_signatures_are_rejected() {
        assert!(matches!(
            check_checkpoint_message(b"\xff\xff"),
            Err(GossipRejection::Wire(_))
        ));
        assert!(matches!(
            check_checkpoint_message(&checkpoint_message(b"not a note")),
            Err(GossipRejection::Note(_))
        ));
        let other = checkpoint_message(&signed("a.test/herald", "b.test/herald"));
        assert!(matches!(
            check_checkpoint_message(&other),
            Err(GossipRejection::NoLogSignature { .. })
        ));
        let key = NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[5; 32])).unwrap();
        let not_checkpoint = key.sign("hello\n").unwrap().to_string();
        assert!(matches!(
            check_checkpoint_message(&checkpoint_message(not_checkpoint.as_bytes())),
            Err(GossipRejection::Checkpoint(_))
        ));
    }

    #[test]
    fn registered_logs_must_verify_and_unknown_ones_pass_unbelieved() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::open(dir.path()).unwrap().unwrap();
        let reg =
            crate::peers::PeerRegistry::open(&db, "a.test", libp2p::PeerId::random()).unwrap();
        let record = crate::peers::tests::record("beta.test", 10, 1);
        reg.add(PeerDomain::from_record(&record).unwrap()).unwrap();
        let peers = reg.snapshot();
        let own = NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[5; 32])).unwrap();
        let beta_key =
            crate::keys::NodeKeys::from_seeds("beta.test", [[10; 32], [11; 32], [12; 32]])
                .unwrap()
                .log;
        let sign = |key: &NoteSigner, origin: &str| {
            let body = Checkpoint {
                origin: origin.into(),
                size: 3,
                root: [7; 32],
            }
            .body();
            checkpoint_message(key.sign(&body).unwrap().to_string().as_bytes())
        };
        assert!(matches!(
            judge_checkpoint(
                &sign(&beta_key, "beta.test/herald"),
                &peers,
                &own.verifier()
            ),
            Ok(SeenCheckpoint::Peer(..))
        ));
        assert!(matches!(
            judge_checkpoint(&sign(&own, "a.test/herald"), &peers, &own.verifier()),
            Ok(SeenCheckpoint::Own(_))
        ));
        // beta's origin signed by another key named like beta's log: rejected.
        let forger = NoteSigner::new("beta.test/herald", SigningKey::from_bytes(&[9; 32])).unwrap();
        assert!(matches!(
            judge_checkpoint(&sign(&forger, "beta.test/herald"), &peers, &own.verifier()),
            Err(GossipRejection::BadSignature { .. })
        ));
        let stranger = NoteSigner::new("z.test/herald", SigningKey::from_bytes(&[9; 32])).unwrap();
        assert!(matches!(
            judge_checkpoint(&sign(&stranger, "z.test/herald"), &peers, &own.verifier()),
            Ok(SeenCheckpoint::Unknown(_))
        ));
    }

    #[test]
    fn alerts_are_verified_and_only_known_logs_believed() {
        let own = NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[5; 32])).unwrap();
        let peers = PeerSet::default();
        assert!(matches!(
            judge_alert(b"\xff garbage", &peers, &own.verifier()),
            Err(GossipRejection::Alert(_))
        ));
        // A proof against this node's own key is believed; one about a stranger is not.
        let own_fork = crate::watch::alerts::tests::fork("a.test/herald", 5, 1, 2);
        let data = own_fork.equivocation().encode();
        assert!(
            judge_alert(&data, &peers, &own.verifier())
                .unwrap()
                .is_some()
        );
        let stranger = crate::watch::alerts::tests::fork("z.test/herald", 9, 1, 2);
        let data = stranger.equivocation().encode();
        assert!(
            judge_alert(&data, &peers, &own.verifier())
                .unwrap()
                .is_none()
        );
        // A proof whose two checkpoints agree is no proof: rejected.
        let mut wire = own_fork.equivocation().to_wire();
        wire.checkpoint_b = wire.checkpoint_a.clone();
        assert!(matches!(
            judge_alert(&wire.encode_to_vec(), &peers, &own.verifier()),
            Err(GossipRejection::FalseAlert(_))
        ));
    }
}
