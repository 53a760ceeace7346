//! C2SP tlog checkpoints (<https://c2sp.org/tlog-checkpoint>), their cosignatures and witness
//! policies.
//!
//! A checkpoint body is `<origin>\n<size>\n<base64 root>\n`, signed as a note by the log's
//! Ed25519 key whose name is the origin (`<domain>/herald`). Herald writes no extension lines and
//! refuses checkpoints that carry any: they are opaque to monitors and witnesses (C2SP calls them
//! NOT RECOMMENDED), and allowing them would let two notes with the same tree differ in signed
//! bytes. The size is decimal without sign or leading zeros and must fit in a `u64`; the root must
//! be canonical base64 of exactly 32 bytes. Requiring origin = key name is a Herald rule (C2SP says
//! SHOULD), so one key can never vouch for another log's tree.
//!
//! Trust flows through types: [`VerifiedCheckpoint`] is only made by verifying note bytes against
//! the log's key; [`CosignedCheckpoint`] only by a [`WitnessPolicy`].

mod cosignature;
mod policy;

pub use cosignature::{
    Cosignature, CosignatureError, WitnessSigner, WitnessVerifier, cosigned_message,
};
pub use policy::{
    CosignedCheckpoint, DEFAULT_MAX_SKEW_SECS, PolicyError, WitnessCosignature, WitnessPolicy,
};

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::merkle::{AnyHasher, Hash, HashAlgorithm, LogHasher as _};
use crate::note::{KnownKey, NoteError, NoteSignature, NoteSigner, NoteVerifier, SignedNote};

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The note itself was refused (form, size, or signatures).
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The body has fewer than three lines.
    #[error("checkpoint body has fewer than three lines")]
    MissingLines,
    /// The body has lines after the root; Herald checkpoints carry no extension lines.
    #[error("checkpoint body has extension lines, which Herald does not accept")]
    ExtensionLines,
    /// The origin line is empty or not a valid key name.
    #[error("checkpoint origin is empty or not a valid key name")]
    BadOrigin,
    /// The size line is not a decimal `u64` without sign or leading zeros.
    #[error("checkpoint size is not a canonical decimal u64")]
    BadSize,
    /// The root line is not canonical base64 of exactly 32 bytes.
    #[error("checkpoint root is not base64 of 32 bytes")]
    BadRoot,
    /// The origin is not the signing key's name.
    #[error("checkpoint origin {origin:?} is not the log key's name {key_name:?}")]
    OriginMismatch {
        /// The origin in the body.
        origin: String,
        /// The name of the log key.
        key_name: String,
    },
    /// A checkpoint of size 0 whose root is not the empty tree's hash under the log's hash
    /// algorithm (or the verifier was given another algorithm than the log's).
    #[error("checkpoint of size 0 does not carry the empty tree's root")]
    EmptyTreeRoot,
}

/// A log's tree head: origin, size and root.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The log's identity, `<domain>/herald`; equal to its key's name.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962-shaped root of the first `size` leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// Parses a note text as a Herald checkpoint body (no extension lines).
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root), Some(end)) =
            (lines.next(), lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::MissingLines);
        };
        // `text` ends in a newline, so after the root line only an empty remainder may follow.
        if !end.is_empty() || lines.next().is_some() {
            return Err(CheckpointError::ExtensionLines);
        }
        if !crate::note::is_valid_key_name(origin) {
            return Err(CheckpointError::BadOrigin);
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size: parse_size(size)?,
            root: parse_root(root)?,
        })
    }

    /// Signs this checkpoint with the log's key, whose name must be the origin.
    pub fn sign(&self, log: &NoteSigner) -> Result<SignedNote, CheckpointError> {
        if self.origin != log.name() {
            return Err(CheckpointError::OriginMismatch {
                origin: self.origin.clone(),
                key_name: log.name().to_owned(),
            });
        }
        // Re-parse our own output so that nothing we sign could be refused by a reader.
        let body = self.body();
        Checkpoint::parse_body(&body)?;
        Ok(log.sign(&body)?)
    }
}

/// A decimal `u64` with no sign and no leading zeros (`0` alone is allowed).
fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let canonical = !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    if !canonical {
        return Err(CheckpointError::BadSize);
    }
    line.parse().map_err(|_| CheckpointError::BadSize)
}

fn parse_root(line: &str) -> Result<Hash, CheckpointError> {
    // 32 bytes are 44 base64 characters; checking first keeps decoding bounded.
    if line.len() != 44 {
        return Err(CheckpointError::BadRoot);
    }
    let raw = BASE64.decode(line).map_err(|_| CheckpointError::BadRoot)?;
    raw.try_into().map_err(|_| CheckpointError::BadRoot)
}

/// A checkpoint whose note carries a valid signature by the log key it names.
///
/// Made only by [`VerifiedCheckpoint::verify`]; functions that need a trusted tree head take it.
///
/// Shared: a clone is a reference count, not a copy of the note's text and signatures (a
/// client holds the checkpoint of every ack it verifies, its trusted one and the memory of
/// verified notes at once: `docs/performance.md`, "Allocation on the single-entry ack path").
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    inner: Arc<Verified>,
}

#[derive(PartialEq, Eq)]
struct Verified {
    checkpoint: Checkpoint,
    /// The parsed note; re-encoding it gives back the verified bytes exactly (base64 decoding
    /// is canonical, and every other byte is kept).
    note: SignedNote,
    /// `note` encoded once: what [`VerifiedCheckpoint::note`] hands out.
    encoded: String,
    /// Index in `note.signatures()` of the log's signature.
    log_signature: usize,
    log: NoteVerifier,
}

impl fmt::Debug for VerifiedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedCheckpoint")
            .field("checkpoint", &self.inner.checkpoint)
            .field("note", &self.inner.note)
            .field("log_signature", &self.inner.log_signature)
            .field("log", &self.inner.log)
            .finish()
    }
}

impl VerifiedCheckpoint {
    /// Verifies note bytes from outside as a checkpoint signed by `log`.
    pub fn verify(note: &[u8], log: &NoteVerifier) -> Result<Self, CheckpointError> {
        Ok(Self::verify_with(note, log, &[])?.0)
    }

    /// Verifies `note` against the log key plus `others` (witnesses) in one pass, so a failing
    /// signature by any known key rejects the note. Returns the verified signatures by `others`
    /// as `(index in note, index in others)`.
    pub(crate) fn verify_with(
        note: &[u8],
        log: &NoteVerifier,
        others: &[&dyn KnownKey],
    ) -> Result<(Self, Vec<(usize, usize)>), CheckpointError> {
        let parsed = SignedNote::parse(note)?;
        let checkpoint = Checkpoint::parse_body(parsed.text())?;
        if checkpoint.origin != log.name() {
            return Err(CheckpointError::OriginMismatch {
                origin: checkpoint.origin,
                key_name: log.name().to_owned(),
            });
        }
        let mut known: Vec<&dyn KnownKey> = Vec::with_capacity(1 + others.len());
        known.push(log);
        known.extend_from_slice(others);
        let verified = parsed.verify(&known)?;
        let Some(&(log_signature, _)) = verified.iter().find(|&&(_, k)| k == 0) else {
            // Only witnesses signed: the log itself never vouched for this tree.
            return Err(NoteError::NoVerifiedSignature.into());
        };
        let others = verified
            .into_iter()
            .filter(|&(_, k)| k != 0)
            .map(|(i, k)| (i, k - 1))
            .collect();
        let verified = VerifiedCheckpoint::new(checkpoint, parsed, log_signature, log.clone());
        Ok((verified, others))
    }

    /// The checkpoint of `note`, whose signature number `log_signature` verified under `log`.
    fn new(
        checkpoint: Checkpoint,
        note: SignedNote,
        log_signature: usize,
        log: NoteVerifier,
    ) -> Self {
        let encoded = note.to_string();
        VerifiedCheckpoint {
            inner: Arc::new(Verified {
                checkpoint,
                note,
                encoded,
                log_signature,
                log,
            }),
        }
    }

    /// The tree head.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.inner.checkpoint
    }

    /// Herald's rule for the empty tree, which only a verifier that knows the log's hash
    /// algorithm can apply: a checkpoint of size 0 carries the empty tree's root. Every
    /// verifier of a log applies it through `LogTrust::verify_checkpoint` or the succession
    /// rule (`crate::succession`), never by hand.
    pub fn check_empty_root(&self, algorithm: HashAlgorithm) -> Result<(), CheckpointError> {
        if self.size() == 0 && *self.root() != AnyHasher(algorithm).empty_root() {
            return Err(CheckpointError::EmptyTreeRoot);
        }
        Ok(())
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.inner.checkpoint.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.inner.checkpoint.size
    }

    /// The tree root.
    pub fn root(&self) -> &Hash {
        &self.inner.checkpoint.root
    }

    /// The log key that signed it.
    pub fn log(&self) -> &NoteVerifier {
        &self.inner.log
    }

    /// The note body (the text every signature covers).
    pub fn body(&self) -> &str {
        self.inner.note.text()
    }

    /// The full note, byte for byte as verified (for JSON output and gossip).
    pub fn note(&self) -> String {
        self.inner.encoded.clone()
    }

    /// The full note, byte for byte as verified, borrowed.
    pub fn note_str(&self) -> &str {
        &self.inner.encoded
    }

    /// The parsed note.
    pub fn signed_note(&self) -> &SignedNote {
        &self.inner.note
    }

    /// The note reduced to the body and the log's own signature (compact evidence).
    pub fn log_signed_note(&self) -> String {
        let sig = &self.inner.note.signatures()[self.inner.log_signature];
        format!("{}\n{}", self.inner.note.text(), sig.to_line())
    }

    /// The signature lines other than the log's, none of them verified here.
    pub fn other_signatures(&self) -> impl Iterator<Item = &NoteSignature> {
        let log = self.inner.log_signature;
        self.inner
            .note
            .signatures()
            .iter()
            .enumerate()
            .filter(move |&(i, _)| i != log)
            .map(|(_, s)| s)
    }

    /// The cosignature/v1 lines present (those of the right shape), **not verified**: only a
    /// [`WitnessPolicy`] says which of them count.
    pub fn cosignatures(&self) -> Vec<Cosignature> {
        self.other_signatures()
            .filter_map(|s| Cosignature::from_note_signature(s).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn log_key() -> NoteSigner {
        NoteSigner::new("alpha.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint {
            origin: "alpha.test/herald".into(),
            size,
            root: [size as u8; 32],
        }
    }

    #[test]
    fn body_round_trips() {
        for size in [0, 1, 9, 10, u64::MAX] {
            let c = checkpoint(size);
            assert_eq!(Checkpoint::parse_body(&c.body()).unwrap(), c);
        }
    }

    #[test]
    fn sizes_must_be_canonical_u64() {
        let root = BASE64.encode([0u8; 32]);
        for bad in [
            "",
            "01",
            "00",
            "+1",
            "-1",
            " 1",
            "1 ",
            "0x10",
            "18446744073709551616",
            "１",
        ] {
            let body = format!("o\n{bad}\n{root}\n");
            assert_eq!(
                Checkpoint::parse_body(&body),
                Err(CheckpointError::BadSize),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_clone_shares_the_verified_checkpoint_and_its_note_is_the_verified_bytes() {
        let key = log_key();
        let bytes = checkpoint(7).sign(&key).unwrap().to_string().into_bytes();
        let verified = VerifiedCheckpoint::verify(&bytes, &key.verifier()).unwrap();
        let clone = verified.clone();
        assert!(
            Arc::ptr_eq(&verified.inner, &clone.inner),
            "a count, not a copy"
        );
        assert_eq!(clone, verified);
        assert_eq!(clone.note().into_bytes(), bytes);
        assert_eq!(clone.size(), 7);
    }

    #[test]
    fn roots_must_be_32_bytes_of_canonical_base64() {
        let short = BASE64.encode([0u8; 31]);
        let long = BASE64.encode([0u8; 33]);
        let mut noncanonical = BASE64.encode([0u8; 32]);
        noncanonical.replace_range(42..43, "B"); // sets bits that the padding discards
        for bad in [
            short.as_str(),
            long.as_str(),
            noncanonical.as_str(),
            "",
            "!",
        ] {
            let body = format!("o\n1\n{bad}\n");
            assert_eq!(
                Checkpoint::parse_body(&body),
                Err(CheckpointError::BadRoot),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn extension_lines_and_missing_lines_are_refused() {
        let body = checkpoint(3).body();
        assert_eq!(
            Checkpoint::parse_body(&format!("{body}ext\n")),
            Err(CheckpointError::ExtensionLines)
        );
        assert_eq!(
            Checkpoint::parse_body("o\n1\n"),
            Err(CheckpointError::MissingLines)
        );
        assert_eq!(
            Checkpoint::parse_body(&body.replace("alpha.test/herald", "")),
            Err(CheckpointError::BadOrigin)
        );
    }

    #[test]
    fn signing_requires_origin_to_be_the_key_name() {
        let mut c = checkpoint(1);
        c.origin = "beta.test/herald".into();
        assert!(matches!(
            c.sign(&log_key()),
            Err(CheckpointError::OriginMismatch { .. })
        ));
    }

    #[test]
    fn verified_checkpoint_exposes_the_signed_note() {
        let key = log_key();
        let note = checkpoint(5).sign(&key).unwrap().to_string();
        let v = VerifiedCheckpoint::verify(note.as_bytes(), &key.verifier()).unwrap();
        assert_eq!(v.checkpoint(), &checkpoint(5));
        assert_eq!(v.note(), note);
        assert_eq!(v.log_signed_note(), note);
        assert_eq!(v.other_signatures().count(), 0);
    }

    #[test]
    fn a_key_named_otherwise_cannot_vouch_for_the_origin() {
        // The same Ed25519 key, but named as another log: its signature line is unknown to the
        // real log's verifier, and its own verifier refuses the foreign origin.
        let other = NoteSigner::new("beta.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap();
        let note = other.sign(&checkpoint(5).body()).unwrap().to_string();
        assert!(matches!(
            VerifiedCheckpoint::verify(note.as_bytes(), &log_key().verifier()),
            Err(CheckpointError::Note(NoteError::NoVerifiedSignature))
        ));
        assert!(matches!(
            VerifiedCheckpoint::verify(note.as_bytes(), &other.verifier()),
            Err(CheckpointError::OriginMismatch { .. })
        ));
    }
}
