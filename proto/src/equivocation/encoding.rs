//! An [`Equivocation`] on the wire: the prost message `herald.v1.Equivocation` (`alert.proto`),
//! gossiped on `herald/alerts/1` and kept in files. One encoding for gossip, storage and files,
//! decoded with the schema's size limit and validation, so every malformation is a typed error.

use super::{Equivocation, EquivocationError, Evidence};
use crate::merkle::Hash;
use crate::note::{KeyError, NoteVerifier};
use crate::wire::{self, WireError, pb};

/// Largest encoded equivocation (the schema's limit).
pub const MAX_EQUIVOCATION_LEN: usize = wire::MAX_EQUIVOCATION_BYTES;

/// Why bytes could not be decoded as an [`Equivocation`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not a valid `Equivocation` message: too large, malformed, or out of the schema's bounds.
    #[error("equivocation message: {0}")]
    Wire(#[from] WireError),
    /// A checkpoint note is not UTF-8.
    #[error("{field} is not UTF-8")]
    NotUtf8 {
        /// Which field.
        field: &'static str,
    },
    /// The log verifier key is not written as this encoding writes it (e.g. upper-case hex), so
    /// one equivocation would have several encodings.
    #[error("log key is not in canonical form")]
    NonCanonicalLogKey,
    /// The log verifier key does not parse.
    #[error("log key: {0}")]
    BadLogKey(#[from] KeyError),
    /// The parts are over the equivocation's own bounds.
    #[error("{0}")]
    Invalid(#[from] EquivocationError),
}

fn hashes(proof: &[Hash]) -> Vec<Vec<u8>> {
    proof.iter().map(|h| h.to_vec()).collect()
}

/// Proof hashes the schema validated as 32 bytes each.
fn validated_hashes(proof: &[Vec<u8>]) -> Vec<Hash> {
    proof
        .iter()
        .filter_map(|h| Hash::try_from(h.as_slice()).ok())
        .collect()
}

fn validated_hash(h: &[u8]) -> Hash {
    // `Validate` checked every hash field's length before this is called.
    Hash::try_from(h).unwrap_or([0; 32])
}

impl Equivocation {
    /// The wire message.
    pub fn to_wire(&self) -> pb::Equivocation {
        let evidence = match &self.evidence {
            Evidence::SameSize => pb::equivocation::Evidence::SameSize(pb::SameSize {}),
            Evidence::Consistency {
                proof,
                alternative_root,
            } => pb::equivocation::Evidence::Consistency(pb::ConsistencyEvidence {
                proof: hashes(proof),
                alternative_root1: alternative_root.map(|r| r.to_vec()).unwrap_or_default(),
            }),
            Evidence::Inclusion {
                index,
                first_leaf,
                first_proof,
                second_leaf,
                second_proof,
            } => pb::equivocation::Evidence::Inclusion(pb::InclusionEvidence {
                index: *index,
                leaf_hash_a: first_leaf.to_vec(),
                proof_a: hashes(first_proof),
                leaf_hash_b: second_leaf.to_vec(),
                proof_b: hashes(second_proof),
            }),
        };
        pb::Equivocation {
            log_key: self.log.to_string(),
            hash_algorithm: pb::HashAlgorithm::from(self.algorithm) as i32,
            checkpoint_a: self.first.as_bytes().to_vec(),
            checkpoint_b: self.second.as_bytes().to_vec(),
            evidence: Some(evidence),
        }
    }

    /// Reads a wire message that passed [`wire::Validate`]. The result still needs
    /// [`verify`](Self::verify).
    pub fn from_wire(msg: pb::Equivocation) -> Result<Self, DecodeError> {
        use wire::Validate as _;
        msg.validate()?;
        let log = NoteVerifier::parse(&msg.log_key)?;
        // Key strings accept upper-case hex ids (as Go does); the encoding admits one spelling.
        if log.to_string() != msg.log_key {
            return Err(DecodeError::NonCanonicalLogKey);
        }
        let algorithm = msg.algorithm()?;
        let first = String::from_utf8(msg.checkpoint_a).map_err(|_| DecodeError::NotUtf8 {
            field: "Equivocation.checkpoint_a",
        })?;
        let second = String::from_utf8(msg.checkpoint_b).map_err(|_| DecodeError::NotUtf8 {
            field: "Equivocation.checkpoint_b",
        })?;
        let evidence = match msg.evidence {
            // Validation refuses a message without evidence.
            None => {
                return Err(DecodeError::Wire(WireError::MissingField {
                    field: "Equivocation.evidence",
                }));
            }
            Some(pb::equivocation::Evidence::SameSize(_)) => Evidence::SameSize,
            Some(pb::equivocation::Evidence::Consistency(c)) => Evidence::Consistency {
                proof: validated_hashes(&c.proof),
                alternative_root: (!c.alternative_root1.is_empty())
                    .then(|| validated_hash(&c.alternative_root1)),
            },
            Some(pb::equivocation::Evidence::Inclusion(i)) => Evidence::Inclusion {
                index: i.index,
                first_leaf: validated_hash(&i.leaf_hash_a),
                first_proof: validated_hashes(&i.proof_a),
                second_leaf: validated_hash(&i.leaf_hash_b),
                second_proof: validated_hashes(&i.proof_b),
            },
        };
        Ok(Equivocation::new(log, algorithm, first, second, evidence)?)
    }

    /// The protobuf encoding of [`to_wire`](Self::to_wire); at most [`MAX_EQUIVOCATION_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        use prost::Message as _;
        self.to_wire().encode_to_vec()
    }

    /// Decodes bytes from gossip or a file under the schema's limit; the result still needs
    /// [`verify`](Self::verify).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_wire(wire::decode::<pb::Equivocation>(
            bytes,
            MAX_EQUIVOCATION_LEN,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::equivocation::tests::{inclusion_example, log, signed};
    use crate::merkle::HashAlgorithm;

    #[test]
    fn encoding_round_trips_every_form() {
        let inclusion = inclusion_example();
        let same = Equivocation::from_same_size(
            HashAlgorithm::Blake3,
            &signed(3, [1; 32]),
            &signed(3, [2; 32]),
        )
        .unwrap();
        let consistency = Equivocation::new(
            log().verifier(),
            HashAlgorithm::Sha256,
            signed(4, [1; 32]).note(),
            signed(9, [2; 32]).note(),
            Evidence::Consistency {
                proof: vec![[5; 32]; 3],
                alternative_root: Some([6; 32]),
            },
        )
        .unwrap();
        for e in [inclusion, same, consistency] {
            let bytes = e.encode();
            assert!(bytes.len() <= MAX_EQUIVOCATION_LEN);
            assert_eq!(Equivocation::decode(&bytes).unwrap(), e);
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = inclusion_example().encode();
        for cut in 0..bytes.len() {
            assert!(Equivocation::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn decode_errors_are_typed() {
        assert!(matches!(
            Equivocation::decode(&vec![0; MAX_EQUIVOCATION_LEN + 1]),
            Err(DecodeError::Wire(WireError::TooLarge { .. }))
        ));
        // Upper-case hex in the key id parses, but is not the key's canonical spelling.
        let mut msg = inclusion_example().to_wire();
        let (name, rest) = msg.log_key.split_once('+').unwrap();
        let (id, key) = rest.split_once('+').unwrap();
        let upper = format!("{name}+{}+{key}", id.to_uppercase());
        assert_ne!(upper, msg.log_key, "the example's key id has hex letters");
        msg.log_key = upper;
        assert!(matches!(
            Equivocation::from_wire(msg),
            Err(DecodeError::NonCanonicalLogKey)
        ));
        let mut msg = inclusion_example().to_wire();
        msg.checkpoint_a = vec![0xff, 0xfe];
        assert!(matches!(
            Equivocation::from_wire(msg),
            Err(DecodeError::NotUtf8 { .. })
        ));
    }
}
