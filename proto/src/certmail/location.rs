//! The location X of a key request, and the recipient's expectation of the plaintext.
//!
//! X = (log, witness set, quorum q, clock skew δ, maximum merge delay MMD). A publication counts
//! when it is included in a checkpoint of X's log carrying ≥ q valid cosignatures from X's
//! witnesses timestamped ≤ T + δ ([`Location::publication_limit`]).

use super::{CertMailError, content_hash};
use crate::checkpoint::{WitnessPolicy, WitnessVerifier};
use crate::inclusion::LogTrust;
use crate::wire::{MAX_LOCATION_DELAY_SECS, WireError, pb};

/// Where and under which rules a key is published: X.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    log: LogTrust,
    clock_skew: u64,
    max_merge_delay: u64,
}

impl Location {
    /// X for `log`, with clock skew δ and maximum merge delay MMD in seconds (each at most
    /// [`MAX_LOCATION_DELAY_SECS`]). The log must have a witness policy: a publication counts
    /// only when a quorum of X's witnesses cosigned it.
    pub fn new(log: LogTrust, clock_skew: u64, max_merge_delay: u64) -> Result<Self, WireError> {
        if log.policy().is_none() {
            return Err(WireError::MissingField {
                field: "Location.log.witness_keys",
            });
        }
        let location = Location {
            log,
            clock_skew,
            max_merge_delay,
        };
        location.to_pb().validate_delays()?;
        Ok(location)
    }

    /// Reads X from the wire (keys must be canonically spelled).
    pub fn from_pb(location: &pb::Location) -> Result<Self, CertMailError> {
        location.validate_delays()?;
        let log = location.log.as_ref().ok_or(WireError::MissingField {
            field: "Location.log",
        })?;
        // `from_pb` always makes a log with a witness policy (a quorum of at least one).
        Ok(Location {
            log: LogTrust::from_pb(log)?,
            clock_skew: location.clock_skew,
            max_merge_delay: location.max_merge_delay,
        })
    }

    /// X on the wire.
    pub fn to_pb(&self) -> pb::Location {
        pb::Location {
            log: Some(self.log.to_pb()),
            clock_skew: self.clock_skew,
            max_merge_delay: self.max_merge_delay,
        }
    }

    /// The log and its witness policy.
    pub fn log(&self) -> &LogTrust {
        &self.log
    }

    /// X's witnesses and quorum.
    pub fn policy(&self) -> &WitnessPolicy {
        self.log
            .policy()
            .expect("a location's log has a witness policy (checked when it is made)")
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.log.origin()
    }

    /// δ, seconds.
    pub fn clock_skew(&self) -> u64 {
        self.clock_skew
    }

    /// MMD, seconds.
    pub fn max_merge_delay(&self) -> u64 {
        self.max_merge_delay
    }

    /// `T + δ`: the latest cosignature timestamp that counts for a publication due at `deadline`.
    pub fn publication_limit(&self, deadline: u64) -> u64 {
        deadline.saturating_add(self.clock_skew)
    }

    /// Whether a sender that publishes at `offered` can meet every request for this location:
    /// the same log and hash; only witnesses it offers; clocks no tighter (`δ` at least the
    /// offered one); and a quorum that any `q'` of the offered witnesses cosigning satisfies
    /// (`q ≤ q' − |offered witnesses not named here|`), so a request cannot hinge on the one
    /// witness the sender's log happens to miss.
    pub fn is_met_by(&self, offered: &Location) -> bool {
        let (asked, given) = (self.policy(), offered.policy());
        if asked.log() != given.log() || self.log.algorithm() != offered.log.algorithm() {
            return false;
        }
        let named = |w: &WitnessVerifier| asked.witnesses().contains(w);
        if !asked
            .witnesses()
            .iter()
            .all(|w| given.witnesses().contains(w))
        {
            return false;
        }
        let missing = given.witnesses().iter().filter(|w| !named(w)).count();
        let worst_case = given.quorum().saturating_sub(missing);
        asked.quorum() <= worst_case && self.clock_skew >= offered.clock_skew
    }
}

impl pb::Location {
    /// δ and MMD are at most [`MAX_LOCATION_DELAY_SECS`].
    pub(crate) fn validate_delays(&self) -> Result<(), WireError> {
        for (field, value) in [
            ("Location.clock_skew", self.clock_skew),
            ("Location.max_merge_delay", self.max_merge_delay),
        ] {
            if value > MAX_LOCATION_DELAY_SECS {
                return Err(WireError::FieldSize {
                    field,
                    len: usize::try_from(value).unwrap_or(usize::MAX),
                    min: 0,
                    max: MAX_LOCATION_DELAY_SECS as usize,
                });
            }
        }
        Ok(())
    }
}

/// What the recipient expects the plaintext to be (the essay's "description of what he expects").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expectation {
    /// The media type, informative only.
    pub media_type: String,
    /// The largest plaintext accepted, if bounded.
    pub max_size: Option<u64>,
    /// BLAKE3 of the expected plaintext, if known.
    pub content_hash: Option<[u8; 32]>,
}

impl Expectation {
    /// Reads an expectation from the wire.
    pub fn from_pb(e: &pb::Expectation) -> Result<Self, CertMailError> {
        let content_hash = if e.content_hash.is_empty() {
            None
        } else {
            Some(super::field("Expectation.content_hash", &e.content_hash)?)
        };
        Ok(Expectation {
            media_type: e.media_type.clone(),
            max_size: (e.max_size != 0).then_some(e.max_size),
            content_hash,
        })
    }

    /// The expectation on the wire.
    pub fn to_pb(&self) -> pb::Expectation {
        pb::Expectation {
            media_type: self.media_type.clone(),
            max_size: self.max_size.unwrap_or(0),
            content_hash: self.content_hash.map(|h| h.to_vec()).unwrap_or_default(),
        }
    }

    /// Whether `plaintext` meets the size bound and content hash.
    pub fn check(&self, plaintext: &[u8]) -> Result<(), CertMailError> {
        if let Some(max) = self.max_size
            && plaintext.len() as u64 > max
        {
            return Err(CertMailError::ExpectationNotMet { reason: "size" });
        }
        if let Some(hash) = self.content_hash
            && content_hash(plaintext) != hash
        {
            return Err(CertMailError::ExpectationNotMet {
                reason: "content hash",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{WitnessPolicy, WitnessSigner};
    use crate::merkle::HashAlgorithm;
    use crate::note::NoteSigner;
    use ed25519_dalek::SigningKey;

    fn w(i: u8) -> WitnessVerifier {
        WitnessSigner::new(&format!("w{i}.test"), SigningKey::from_bytes(&[i; 32]))
            .unwrap()
            .verifier()
    }

    fn location(witnesses: &[u8], quorum: usize, skew: u64) -> Location {
        let log = NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap();
        let policy = WitnessPolicy::new(
            log.verifier(),
            witnesses.iter().map(|&i| w(i)).collect(),
            quorum,
        )
        .unwrap();
        Location::new(LogTrust::new(policy, HashAlgorithm::Blake3), skew, 10).unwrap()
    }

    #[test]
    fn location_round_trips_and_bounds_its_delays() {
        let x = location(&[2, 3], 2, 60);
        assert_eq!(Location::from_pb(&x.to_pb()), Ok(x.clone()));
        let mut p = x.to_pb();
        p.max_merge_delay = MAX_LOCATION_DELAY_SECS + 1;
        assert!(Location::from_pb(&p).is_err());
        assert_eq!(x.publication_limit(u64::MAX), u64::MAX);
    }

    #[test]
    fn a_request_may_ask_only_what_the_sender_offers() {
        let offered = location(&[2, 3, 4], 2, 60);
        assert!(location(&[2, 3, 4], 2, 60).is_met_by(&offered));
        assert!(location(&[2, 3], 1, 60).is_met_by(&offered));
        assert!(location(&[2, 3, 4], 1, 600).is_met_by(&offered));
        // One witness alone: the two that cosign may both be others.
        assert!(!location(&[2], 1, 60).is_met_by(&offered));
        // More than offered.
        assert!(!location(&[2, 3, 4], 3, 60).is_met_by(&offered));
        assert!(!location(&[2, 3, 5], 1, 60).is_met_by(&offered));
        // Tighter clocks than offered.
        assert!(!location(&[2, 3, 4], 2, 59).is_met_by(&offered));
    }

    #[test]
    fn expectations_bound_size_and_content() {
        let e = Expectation {
            media_type: "text/plain".into(),
            max_size: Some(5),
            content_hash: Some(content_hash(b"hello")),
        };
        assert_eq!(Expectation::from_pb(&e.to_pb()), Ok(e.clone()));
        assert_eq!(e.check(b"hello"), Ok(()));
        assert_eq!(
            e.check(b"hello!"),
            Err(CertMailError::ExpectationNotMet { reason: "size" })
        );
        assert_eq!(
            e.check(b"jello"),
            Err(CertMailError::ExpectationNotMet {
                reason: "content hash"
            })
        );
        assert_eq!(Expectation::default().check(&[0; 100]), Ok(()));
    }
}
