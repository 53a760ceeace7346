//! The canonical byte encoding of an [`Equivocation`], hand-written with strict bounds so that
//! evidence from gossip or a file is size-limited and every malformation is a typed error.
//!
//! ```text
//! u8 version=1 | u8 algorithm (1 sha256, 2 blake3) | u16 len, log verifier key
//! u16 len, first note | u16 len, second note | u8 form, then by form:
//!   1 same size:   (nothing)
//!   2 consistency: u8 n, n×32 proof | u8 has_root (0/1) [, 32 alternative root]
//!   3 inclusion:   u64 index | 32 leaf, u8 n, n×32 proof (first) | same (second)
//! ```
//!
//! Integers are big-endian. The log key must be in the canonical spelling [`NoteVerifier`]
//! writes, so one equivocation has exactly one encoding.

use super::{Equivocation, Evidence, MAX_CONSISTENCY_PROOF_LEN, MAX_INCLUSION_PROOF_LEN};
use crate::merkle::{HASH_LEN, Hash, HashAlgorithm};
use crate::note::{KeyError, MAX_KEY_STRING_LEN, MAX_NOTE_LEN, NoteVerifier};

/// Version byte that starts every encoded equivocation.
const VERSION: u8 = 1;

/// Largest encoded equivocation: header, key, two maximal notes, and the largest evidence.
pub const MAX_EQUIVOCATION_LEN: usize = 2
    + (2 + MAX_KEY_STRING_LEN)
    + 2 * (2 + MAX_NOTE_LEN)
    + 1
    + 8
    + 2 * (HASH_LEN + 1 + MAX_INCLUSION_PROOF_LEN * HASH_LEN);

/// Why bytes could not be decoded as an [`Equivocation`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Longer than [`MAX_EQUIVOCATION_LEN`].
    #[error("encoded equivocation is {len} bytes, more than {MAX_EQUIVOCATION_LEN}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The bytes end in the middle of a field.
    #[error("encoded equivocation is truncated")]
    Truncated,
    /// Bytes follow the last field.
    #[error("encoded equivocation has trailing bytes")]
    TrailingBytes,
    /// The version byte is not one this code reads.
    #[error("unknown equivocation encoding version {0}")]
    UnknownVersion(u8),
    /// The hash algorithm byte is not known.
    #[error("unknown hash algorithm code {0}")]
    UnknownHashAlgorithm(u8),
    /// The evidence form byte is not known.
    #[error("unknown evidence form {0}")]
    UnknownForm(u8),
    /// A presence flag is neither 0 nor 1.
    #[error("presence flag is {0}, expected 0 or 1")]
    BadFlag(u8),
    /// A length prefix exceeds the field's limit.
    #[error("{field} is longer than its limit")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
    },
    /// A text field is not UTF-8.
    #[error("{field} is not UTF-8")]
    NotUtf8 {
        /// Which field.
        field: &'static str,
    },
    /// The log verifier key is not written as this encoding writes it (e.g. upper-case hex).
    #[error("log key is not in canonical form")]
    NonCanonicalLogKey,
    /// The log verifier key does not parse.
    #[error("log key: {0}")]
    BadLogKey(#[from] KeyError),
}

impl Equivocation {
    /// The canonical encoding (see the module documentation for the layout); at most
    /// [`MAX_EQUIVOCATION_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.first.len() + self.second.len());
        out.push(VERSION);
        out.push(algorithm_code(self.algorithm));
        // Lengths fit: notes are bounded by `new`/verification, keys by their format.
        put_bytes(&mut out, self.log.to_string().as_bytes());
        put_bytes(&mut out, self.first.as_bytes());
        put_bytes(&mut out, self.second.as_bytes());
        match &self.evidence {
            Evidence::SameSize => out.push(1),
            Evidence::Consistency {
                proof,
                alternative_root,
            } => {
                out.push(2);
                put_proof(&mut out, proof);
                match alternative_root {
                    None => out.push(0),
                    Some(root) => {
                        out.push(1);
                        out.extend_from_slice(root);
                    }
                }
            }
            Evidence::Inclusion {
                index,
                first_leaf,
                first_proof,
                second_leaf,
                second_proof,
            } => {
                out.push(3);
                out.extend_from_slice(&index.to_be_bytes());
                out.extend_from_slice(first_leaf);
                put_proof(&mut out, first_proof);
                out.extend_from_slice(second_leaf);
                put_proof(&mut out, second_proof);
            }
        }
        out
    }

    /// Decodes [`encode`](Self::encode)'s format; bytes from outside are bounded and every
    /// malformation is a typed error. The result still needs [`verify`](Self::verify).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_EQUIVOCATION_LEN {
            return Err(DecodeError::TooLong { len: bytes.len() });
        }
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::UnknownVersion(version));
        }
        let algorithm = match r.u8()? {
            1 => HashAlgorithm::Sha256,
            2 => HashAlgorithm::Blake3,
            other => return Err(DecodeError::UnknownHashAlgorithm(other)),
        };
        let key = r.text("log key", MAX_KEY_STRING_LEN)?;
        let log = NoteVerifier::parse(key)?;
        // Key strings accept upper-case hex ids (as Go does); the encoding admits one spelling.
        if log.to_string() != key {
            return Err(DecodeError::NonCanonicalLogKey);
        }
        let first = r.text("first note", MAX_NOTE_LEN)?.to_owned();
        let second = r.text("second note", MAX_NOTE_LEN)?.to_owned();
        let evidence = match r.u8()? {
            1 => Evidence::SameSize,
            2 => {
                let proof = r.proof(MAX_CONSISTENCY_PROOF_LEN)?;
                let alternative_root = match r.u8()? {
                    0 => None,
                    1 => Some(r.hash()?),
                    other => return Err(DecodeError::BadFlag(other)),
                };
                Evidence::Consistency {
                    proof,
                    alternative_root,
                }
            }
            3 => Evidence::Inclusion {
                index: r.u64()?,
                first_leaf: r.hash()?,
                first_proof: r.proof(MAX_INCLUSION_PROOF_LEN)?,
                second_leaf: r.hash()?,
                second_proof: r.proof(MAX_INCLUSION_PROOF_LEN)?,
            },
            other => return Err(DecodeError::UnknownForm(other)),
        };
        if !r.0.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(Equivocation {
            log,
            algorithm,
            first,
            second,
            evidence,
        })
    }
}

fn algorithm_code(algorithm: HashAlgorithm) -> u8 {
    match algorithm {
        HashAlgorithm::Sha256 => 1,
        HashAlgorithm::Blake3 => 2,
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every caller's field is at most MAX_NOTE_LEN (32 KiB) or MAX_KEY_STRING_LEN bytes.
    let len = u16::try_from(bytes.len()).expect("encoded fields are bounded below 64 KiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_proof(out: &mut Vec<u8>, proof: &[Hash]) {
    // Proofs are bounded by MAX_CONSISTENCY_PROOF_LEN (65) in `new` and the constructors.
    let len = u8::try_from(proof.len()).expect("proofs are bounded below 256 hashes");
    out.push(len);
    for h in proof {
        out.extend_from_slice(h);
    }
}

/// A cursor over bytes from outside; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }

    fn hash(&mut self) -> Result<Hash, DecodeError> {
        let mut h = [0u8; HASH_LEN];
        h.copy_from_slice(self.take(HASH_LEN)?);
        Ok(h)
    }

    fn text(&mut self, field: &'static str, max: usize) -> Result<&'a str, DecodeError> {
        let len = usize::from(u16::from_be_bytes([self.u8()?, self.u8()?]));
        if len > max {
            return Err(DecodeError::FieldTooLong { field });
        }
        core::str::from_utf8(self.take(len)?).map_err(|_| DecodeError::NotUtf8 { field })
    }

    fn proof(&mut self, max: usize) -> Result<Vec<Hash>, DecodeError> {
        let n = usize::from(self.u8()?);
        if n > max {
            return Err(DecodeError::FieldTooLong { field: "proof" });
        }
        (0..n).map(|_| self.hash()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::equivocation::tests::{inclusion_example, log, signed};

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
    fn every_truncation_and_any_trailing_byte_is_refused() {
        let bytes = inclusion_example().encode();
        for cut in 0..bytes.len() {
            assert!(Equivocation::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Equivocation::decode(&long), Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn decode_errors_are_typed() {
        let bytes = inclusion_example().encode();
        let with = |i: usize, v: u8| {
            let mut b = bytes.clone();
            b[i] = v;
            Equivocation::decode(&b)
        };
        assert_eq!(with(0, 2), Err(DecodeError::UnknownVersion(2)));
        assert_eq!(with(1, 9), Err(DecodeError::UnknownHashAlgorithm(9)));
        // The log key length's high byte: 0xff.. exceeds the key limit.
        assert_eq!(
            with(2, 0xff),
            Err(DecodeError::FieldTooLong { field: "log key" })
        );
        assert!(matches!(
            Equivocation::decode(&vec![0; MAX_EQUIVOCATION_LEN + 1]),
            Err(DecodeError::TooLong { .. })
        ));
    }
}
