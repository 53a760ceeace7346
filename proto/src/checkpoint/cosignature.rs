//! C2SP cosignature/v1 (<https://c2sp.org/tlog-cosignature>): a witness's timestamped Ed25519
//! signature over a checkpoint it has checked to be consistent with what it saw before.
//!
//! Key type 0x04, key id `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ pubkey)[:4]`; the signature line's payload
//! is `key id ‖ u64 BE timestamp ‖ Ed25519 signature` over
//! `"cosignature/v1\ntime <t>\n" ‖ checkpoint body`. The message does not commit to the witness's
//! name, so a [`super::WitnessPolicy`] refuses two witnesses sharing a public key.

use core::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::VerifiedCheckpoint;
use crate::note::{
    self, KeyError, KeyId, KnownKey, NoteError, NoteSignature, SIGNATURE_TYPE_COSIGNATURE_V1,
    SignedNote,
};

/// Length of a cosignature/v1 payload after the key id: timestamp and Ed25519 signature.
const PAYLOAD_LEN: usize = 8 + 64;

/// The largest timestamp the spec allows (2^63 − 1).
const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Why a cosignature was refused or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignatureError {
    /// The signature line, or the note it would be added to, was refused.
    #[error("cosignature line: {0}")]
    Note(#[from] NoteError),
    /// The payload after the key id is not an 8-byte timestamp and a 64-byte signature.
    #[error("cosignature payload is {len} bytes, expected {PAYLOAD_LEN}")]
    BadLength {
        /// Its length.
        len: usize,
    },
    /// The timestamp exceeds 2^63 − 1, which the spec forbids.
    #[error("cosignature timestamp {timestamp} exceeds 2^63-1")]
    TimestampOutOfRange {
        /// The timestamp.
        timestamp: u64,
    },
    /// The cosignature is by another key than this witness's.
    #[error("cosignature by {name}+{key_id} is not by this witness")]
    WrongWitness {
        /// The name on the line.
        name: String,
        /// The key id on the line.
        key_id: KeyId,
    },
    /// The signature does not verify over this checkpoint at this timestamp.
    #[error("cosignature does not verify for this checkpoint")]
    Invalid,
}

/// The message a cosignature/v1 signs: `"cosignature/v1\ntime <t>\n" ‖ body`.
pub fn cosigned_message(body: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{body}").into_bytes()
}

/// One cosignature line, parsed but not necessarily verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    name: String,
    key_id: KeyId,
    timestamp: u64,
    signature: [u8; 64],
}

impl Cosignature {
    /// Reads a note signature line as a cosignature/v1 (by shape; the key type is not on the line).
    pub fn from_note_signature(sig: &NoteSignature) -> Result<Self, CosignatureError> {
        let payload = sig.signature();
        let Some((timestamp, signature)) = payload.split_first_chunk::<8>() else {
            return Err(CosignatureError::BadLength { len: payload.len() });
        };
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| CosignatureError::BadLength { len: payload.len() })?;
        let timestamp = u64::from_be_bytes(*timestamp);
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange { timestamp });
        }
        Ok(Cosignature {
            name: sig.name().to_owned(),
            key_id: sig.key_id(),
            timestamp,
            signature,
        })
    }

    /// Parses a cosignature line as a witness returns it (`— name base64`, newline optional).
    pub fn parse(line: &str) -> Result<Self, CosignatureError> {
        Self::from_note_signature(&NoteSignature::parse(line)?)
    }

    /// The witness key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// When the witness signed, in POSIX seconds (as the witness claims).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The Ed25519 signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// As a note signature line.
    pub fn to_note_signature(&self) -> NoteSignature {
        let mut payload = Vec::with_capacity(PAYLOAD_LEN);
        payload.extend_from_slice(&self.timestamp.to_be_bytes());
        payload.extend_from_slice(&self.signature);
        // The name was valid when this was parsed or made, and the payload is not empty.
        NoteSignature::new(&self.name, self.key_id, payload)
            .expect("cosignature fields were validated on construction")
    }

    /// The line as it appears in a note, final newline included.
    pub fn to_line(&self) -> String {
        self.to_note_signature().to_line()
    }
}

/// A witness's cosigning key (type 0x04). Keep it secret.
#[derive(Clone)]
pub struct WitnessSigner {
    name: String,
    key_id: KeyId,
    key: SigningKey,
}

impl fmt::Debug for WitnessSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the seed.
        f.debug_struct("WitnessSigner")
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl WitnessSigner {
    /// The witness signer for `key` under `name`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, KeyError> {
        note::check_key_name(name)?;
        let key_id = KeyId::compute(
            name,
            SIGNATURE_TYPE_COSIGNATURE_V1,
            key.verifying_key().as_bytes(),
        );
        Ok(WitnessSigner {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+name+hex8+base64(0x04 ‖ seed)`.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let (name, key_id, key) = note::parse_signer_key(s, SIGNATURE_TYPE_COSIGNATURE_V1)?;
        Ok(WitnessSigner { name, key_id, key })
    }

    /// The signer key string, for the node's key file. It holds the secret seed.
    pub fn to_private_key_string(&self) -> String {
        note::encode_key(
            true,
            &self.name,
            self.key_id,
            SIGNATURE_TYPE_COSIGNATURE_V1,
            self.key.as_bytes(),
        )
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The matching verifier.
    pub fn verifier(&self) -> WitnessVerifier {
        WitnessVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Cosigns a checkpoint the caller has verified (and checked consistent), at `timestamp`
    /// POSIX seconds.
    pub fn cosign(
        &self,
        checkpoint: &VerifiedCheckpoint,
        timestamp: u64,
    ) -> Result<Cosignature, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampOutOfRange { timestamp });
        }
        let message = cosigned_message(checkpoint.body(), timestamp);
        Ok(Cosignature {
            name: self.name.clone(),
            key_id: self.key_id,
            timestamp,
            signature: self.key.sign(&message).to_bytes(),
        })
    }
}

/// A witness's public cosigning key (type 0x04).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessVerifier {
    name: String,
    key_id: KeyId,
    key: VerifyingKey,
}

impl WitnessVerifier {
    /// The verifier for witness `key` under `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, KeyError> {
        note::check_key_name(name)?;
        if key.is_weak() {
            return Err(KeyError::BadPublicKey);
        }
        Ok(WitnessVerifier {
            name: name.to_owned(),
            key_id: KeyId::compute(name, SIGNATURE_TYPE_COSIGNATURE_V1, key.as_bytes()),
            key,
        })
    }

    /// Parses `name+hex8+base64(0x04 ‖ pubkey)`.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let (name, key_id, key) = note::parse_verifier_key(s, SIGNATURE_TYPE_COSIGNATURE_V1)?;
        Ok(WitnessVerifier { name, key_id, key })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks that `cosignature` is this witness's, over `checkpoint`.
    pub fn verify(
        &self,
        checkpoint: &VerifiedCheckpoint,
        cosignature: &Cosignature,
    ) -> Result<(), CosignatureError> {
        if cosignature.name != self.name || cosignature.key_id != self.key_id {
            return Err(CosignatureError::WrongWitness {
                name: cosignature.name.clone(),
                key_id: cosignature.key_id,
            });
        }
        let message = cosigned_message(checkpoint.body(), cosignature.timestamp);
        crate::ed25519::verify_strict(
            &self.key,
            &message,
            &Signature::from_bytes(&cosignature.signature),
        )
        .then_some(())
        .ok_or(CosignatureError::Invalid)
    }
}

impl fmt::Display for WitnessVerifier {
    /// The verifier key string, `name+hex8+base64(0x04 ‖ pubkey)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&note::encode_key(
            false,
            &self.name,
            self.key_id,
            SIGNATURE_TYPE_COSIGNATURE_V1,
            self.key.as_bytes(),
        ))
    }
}

impl KnownKey for WitnessVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> KeyId {
        self.key_id
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Some((timestamp, signature)) = signature.split_first_chunk::<8>() else {
            return false;
        };
        let Ok(signature) = <&[u8; 64]>::try_from(signature) else {
            return false;
        };
        let timestamp = u64::from_be_bytes(*timestamp);
        if timestamp > MAX_TIMESTAMP {
            return false;
        }
        let mut message = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
        message.extend_from_slice(text);
        crate::ed25519::verify_strict(&self.key, &message, &Signature::from_bytes(signature))
    }
}

impl VerifiedCheckpoint {
    /// The same checkpoint with `cosignature` by `witness` added to its note, after checking it.
    ///
    /// This is how a log merges the cosignatures it collects: the note keeps at most one line per
    /// witness key, and the newest valid timestamp wins (an older or equal one leaves the note
    /// unchanged). Fails if the cosignature does not verify or the note would exceed its limits.
    pub fn with_cosignature(
        &self,
        witness: &WitnessVerifier,
        cosignature: &Cosignature,
    ) -> Result<VerifiedCheckpoint, CosignatureError> {
        witness.verify(self, cosignature)?;
        let same_key =
            |s: &NoteSignature| s.name() == witness.name() && s.key_id() == witness.key_id();
        let newer_present = self
            .inner
            .note
            .signatures()
            .iter()
            .filter(|s| same_key(s))
            .any(|s| {
                Cosignature::from_note_signature(s).is_ok_and(|c| {
                    c.timestamp >= cosignature.timestamp && witness.verify(self, &c).is_ok()
                })
            });
        if newer_present {
            return Ok(self.clone());
        }
        let own = &self.inner;
        let log_line = &own.note.signatures()[own.log_signature];
        let mut kept: Vec<NoteSignature> = Vec::with_capacity(own.note.signatures().len() + 1);
        let mut log_signature = None;
        for (i, s) in own.note.signatures().iter().enumerate() {
            // The log's own line stays even if a witness shared its name and id (it cannot:
            // the type byte in the key id differs, but the log line must never be dropped).
            if i == own.log_signature {
                log_signature = Some(kept.len());
            } else if same_key(s) {
                continue;
            }
            kept.push(s.clone());
        }
        kept.push(cosignature.to_note_signature());
        let note = SignedNote::new(own.note.text(), kept)?;
        debug_assert_eq!(log_signature.map(|i| &note.signatures()[i]), Some(log_line));
        Ok(VerifiedCheckpoint::new(
            own.checkpoint.clone(),
            note,
            log_signature.unwrap_or(own.log_signature),
            own.log.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::note::NoteSigner;

    fn verified(size: u64) -> VerifiedCheckpoint {
        let log = NoteSigner::new("alpha.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap();
        let c = Checkpoint {
            origin: "alpha.test/herald".into(),
            size,
            root: [7; 32],
        };
        let note = c.sign(&log).unwrap().to_string();
        VerifiedCheckpoint::verify(note.as_bytes(), &log.verifier()).unwrap()
    }

    fn witness(seed: u8) -> WitnessSigner {
        WitnessSigner::new(
            &format!("w{seed}.test"),
            SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap()
    }

    #[test]
    fn cosignature_round_trips_through_its_line() {
        let w = witness(2);
        let c = w.cosign(&verified(3), 1_700_000_000).unwrap();
        let again = Cosignature::parse(&c.to_line()).unwrap();
        assert_eq!(again, c);
        w.verifier().verify(&verified(3), &again).unwrap();
        assert_eq!(
            w.verifier().verify(&verified(4), &again),
            Err(CosignatureError::Invalid)
        );
    }

    #[test]
    fn known_remora_witness_key_parses() {
        // A cosignature/v1 verifier key published by transparency-dev/formats' tests.
        let v = WitnessVerifier::parse(
            "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
        )
        .unwrap();
        assert_eq!(v.key_id(), KeyId(0xda77ade7));
        assert_eq!(
            v.to_string(),
            "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
        );
    }

    #[test]
    fn known_cosignature_timestamp_is_read() {
        // From transparency-dev/formats' CosignatureTimestamp test: 1727964367.
        let line = "\u{2014} w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==";
        let c = Cosignature::parse(line).unwrap();
        assert_eq!(c.timestamp(), 1_727_964_367);
        assert_eq!(c.key_id(), KeyId(0x646846b9));
        // A plain Ed25519 signature line is not a cosignature.
        let plain = "\u{2014} w eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=";
        assert_eq!(
            Cosignature::parse(plain),
            Err(CosignatureError::BadLength { len: 64 })
        );
    }

    #[test]
    fn witness_key_strings_round_trip_and_are_typed() {
        let w = witness(5);
        let again = WitnessSigner::parse(&w.to_private_key_string()).unwrap();
        assert_eq!(again.verifier(), w.verifier());
        assert_eq!(
            WitnessVerifier::parse(&w.verifier().to_string()).unwrap(),
            w.verifier()
        );
        // A log (type 0x01) key is not a witness key.
        let log = NoteSigner::new("w5.test", SigningKey::from_bytes(&[5; 32])).unwrap();
        assert_eq!(
            WitnessVerifier::parse(&log.verifier().to_string()),
            Err(KeyError::WrongType {
                expected: SIGNATURE_TYPE_COSIGNATURE_V1,
                found: 0x01
            })
        );
    }

    #[test]
    fn timestamps_beyond_2_pow_63_are_refused() {
        let w = witness(2);
        assert_eq!(
            w.cosign(&verified(1), 1 << 63),
            Err(CosignatureError::TimestampOutOfRange { timestamp: 1 << 63 })
        );
        w.cosign(&verified(1), MAX_TIMESTAMP).unwrap();
    }

    #[test]
    fn merging_keeps_the_newest_cosignature_per_witness() {
        let cp = verified(9);
        let (a, b) = (witness(2), witness(3));
        let old = a.cosign(&cp, 100).unwrap();
        let new = a.cosign(&cp, 200).unwrap();
        let merged = cp
            .with_cosignature(&a.verifier(), &old)
            .and_then(|m| m.with_cosignature(&b.verifier(), &b.cosign(&cp, 150).unwrap()))
            .and_then(|m| m.with_cosignature(&a.verifier(), &new))
            .unwrap();
        let times: Vec<_> = merged
            .cosignatures()
            .iter()
            .map(|c| (c.name().to_owned(), c.timestamp()))
            .collect();
        assert_eq!(
            times,
            vec![("w3.test".to_owned(), 150), ("w2.test".to_owned(), 200)]
        );
        // An older one afterwards changes nothing.
        let again = merged.with_cosignature(&a.verifier(), &old).unwrap();
        assert_eq!(again.note(), merged.note());
        // The merged note still verifies as the log's checkpoint, byte for byte.
        let reread = VerifiedCheckpoint::verify(merged.note().as_bytes(), merged.log()).unwrap();
        assert_eq!(reread, merged);
    }

    #[test]
    fn merging_refuses_cosignatures_that_do_not_verify() {
        let cp = verified(9);
        let a = witness(2);
        let other = a.cosign(&verified(10), 100).unwrap();
        assert_eq!(
            cp.with_cosignature(&a.verifier(), &other),
            Err(CosignatureError::Invalid)
        );
        let by_b = witness(3).cosign(&cp, 100).unwrap();
        assert!(matches!(
            cp.with_cosignature(&a.verifier(), &by_b),
            Err(CosignatureError::WrongWitness { .. })
        ));
    }
}
