//! What the sender's state machine takes and gives: its policy, its inputs and its actions.

use super::super::location::Location;
use crate::identity::{VerifiedBinding, VerifiedRevocation};
use crate::wire::pb;

/// What the sender accepts and how it times its publication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderPolicy {
    /// The locations the sender can publish at; a request's X must be met by one of them
    /// ([`Location::is_met_by`]).
    pub locations: Vec<Location>,
    /// How long the witnesses take to cosign a new checkpoint, seconds.
    pub witness_period: u64,
    /// Extra time kept in hand, seconds.
    pub margin: u64,
    /// The furthest deadline accepted, seconds from now.
    pub max_wait: u64,
    /// How far in the future a request's `created` may be (the parties' clock skew), seconds.
    /// The request's own δ bounds it too (see `evidence::verify_absence`).
    pub max_clock_skew: u64,
    /// Send K directly and wait for a receipt before publishing (optimistic variant).
    pub optimistic: bool,
}

impl SenderPolicy {
    /// Publishing takes MMD + witness period + margin: the earliest deadline accepted is now
    /// plus that, and an optimistic sender stops waiting for a receipt that long before T.
    pub(super) fn publishing_time(&self, asked: &Location, offered: &Location) -> u64 {
        asked
            .max_merge_delay()
            .max(offered.max_merge_delay())
            .saturating_add(self.witness_period)
            .saturating_add(self.margin)
    }

    pub(super) fn offering(&self, asked: &Location) -> Option<&Location> {
        self.locations
            .iter()
            .find(|offered| asked.is_met_by(offered))
    }
}

/// What to send to the recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToRecipient {
    /// Step (a).
    Sealed(pb::SealedMessage),
    /// Optimistic variant: K encrypted to P_req.
    DirectKey(pb::DirectKey),
}

/// What the caller must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderAction {
    /// Store this record durably before carrying out the actions after it.
    Persist(Box<pb::SenderRecord>),
    /// Send this to B.
    Send(ToRecipient),
    /// Submit this encoded `LogEntry` to X's log.
    Publish(Vec<u8>),
    /// Call `handle(SenderInput::Timer, ..)` at this Unix time.
    ArmTimer(u64),
    /// The finished evidence bundle: keep it for as long as receipt may need proving.
    Evidence(Box<pb::EvidenceBundle>),
}

/// B's request, with B's identity binding as the caller fetched and verified it
/// ([`crate::identity::verify_binding`]) and any revocations of B's keys it found.
#[derive(Clone, Debug)]
pub struct RequestArrived {
    /// req and sig_B.
    pub request: pb::SignedKeyRequest,
    /// B's binding in B's domain log.
    pub binding: VerifiedBinding,
    /// Revocations for B's account in B's domain log.
    pub revocations: Vec<VerifiedRevocation>,
}

/// Something that happened.
#[derive(Clone, Debug)]
pub enum SenderInput {
    /// B's key request arrived.
    Request(Box<RequestArrived>),
    /// B's receipt arrived (optimistic variant).
    Receipt(pb::Receipt),
    /// X's log answered the lookup by req_hash: the leaf, its proof and a cosigned checkpoint,
    /// as received (the machine classifies it).
    Included(pb::IncludedLeaf),
    /// The answer, already classified as proven for this request at X (a driver that polled
    /// with [`crate::certmail::classify_publication`] hands over its result: one check).
    Proven(Box<crate::certmail::ProvenPublication>),
    /// A timer armed by [`SenderAction::ArmTimer`] fired.
    Timer,
}

impl SenderInput {
    pub(super) fn name(&self) -> &'static str {
        match self {
            SenderInput::Request(_) => "request",
            SenderInput::Receipt(_) => "receipt",
            SenderInput::Included(_) | SenderInput::Proven(_) => "included",
            SenderInput::Timer => "timer",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{WitnessPolicy, WitnessSigner};
    use crate::inclusion::LogTrust;
    use crate::merkle::HashAlgorithm;
    use crate::note::NoteSigner;
    use ed25519_dalek::SigningKey;

    fn location(quorum: usize, mmd: u64) -> Location {
        let log = NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap();
        let ws = (2..5u8)
            .map(|i| {
                WitnessSigner::new(&format!("w{i}.test"), SigningKey::from_bytes(&[i; 32]))
                    .unwrap()
                    .verifier()
            })
            .collect();
        let policy = WitnessPolicy::new(log.verifier(), ws, quorum).unwrap();
        Location::new(LogTrust::new(policy, HashAlgorithm::Blake3), 60, mmd).unwrap()
    }

    fn policy() -> SenderPolicy {
        SenderPolicy {
            locations: vec![location(2, 10)],
            witness_period: 30,
            margin: 60,
            max_wait: 3600,
            max_clock_skew: 60,
            optimistic: false,
        }
    }

    #[test]
    fn publishing_time_uses_the_larger_merge_delay() {
        let p = policy();
        let offered = &p.locations[0];
        assert_eq!(p.publishing_time(offered, offered), 100);
        // A request may not shorten the sender's budget by stating a smaller MMD.
        assert_eq!(p.publishing_time(&location(2, 1), offered), 100);
        assert_eq!(p.publishing_time(&location(2, 50), offered), 140);
    }

    #[test]
    fn only_locations_met_by_an_offer_are_served() {
        let p = policy();
        assert!(p.offering(&location(2, 10)).is_some());
        assert!(p.offering(&location(1, 10)).is_some());
        assert!(p.offering(&location(3, 10)).is_none());
    }
}
