//! C2SP signed notes (<https://c2sp.org/signed-note>, v1.0.0): parse, sign, verify.
//!
//! A note is UTF-8 text ending in a newline, a blank line, and one or more signature lines
//! `— <key name> <base64(4-byte key id ‖ signature)>`. Verification follows Go's
//! `golang.org/x/mod/sumdb/note.Open`: the text is split at the *last* blank line, signatures by
//! keys the reader does not know are ignored, a known key whose signature fails rejects the whole
//! note, and a note with no verified signature from a known key is rejected.
//!
//! Two deliberate differences from Go, both stricter:
//! - A second signature line by the same *known* key rejects the note
//!   ([`NoteError::DuplicateSignature`]). Go verifies the first such line and silently skips the
//!   rest, even when they are invalid; Herald never writes such notes (merging keeps one line per
//!   key), so a duplicate can only come from someone trying to be counted twice.
//! - Notes are bounded to [`MAX_NOTE_LEN`] bytes as well as [`MAX_SIGNATURES`] lines.
//!
//! Keys are written as Go writes them: verifier keys `name+hex8(keyid)+base64(type ‖ pubkey)` and
//! signer keys `PRIVATE+KEY+name+hex8(keyid)+base64(type ‖ seed)`. The key id is
//! `SHA-256(name ‖ 0x0A ‖ type ‖ pubkey)[:4]`, read big-endian.

mod key;

pub use key::{
    KeyError, KeyId, MAX_KEY_NAME_LEN, MAX_KEY_STRING_LEN, NoteSigner, NoteVerifier,
    SIGNATURE_TYPE_COSIGNATURE_V1, SIGNATURE_TYPE_ED25519, is_valid_key_name,
};
pub(crate) use key::{check_key_name, encode_key, parse_signer_key, parse_verifier_key};

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Largest note Herald reads or writes, in bytes (equal to the wire schema's
/// `MAX_CHECKPOINT_NOTE_BYTES`).
///
/// A Herald checkpoint body is under 320 bytes (a DNS name of at most 253 bytes plus `/herald`,
/// up to 20 digits, 44 base64 characters). An Ed25519 signature line is `— name ` plus 92 base64
/// characters; a cosignature line plus 104. So the 16 signatures the spec requires fit with names
/// of any DNS length (16 × ~370 B ≈ 6 KiB), and a log with dozens of witnesses stays far below;
/// the 100 lines Go accepts fit for names up to about 50 bytes. Herald supports no post-quantum
/// signature types, whose 2.4–5 kB signatures would need more.
pub const MAX_NOTE_LEN: usize = 16 * 1024;

/// Most signature lines a note may carry (Go's limit; the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The em dash and space that begin every signature line (U+2014, U+0020).
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Standard base64 with padding, as notes write keys and signatures and checkpoints their root
/// hash: the one spelling of a hash, key or signature that Herald's crates print.
pub fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Why a note was refused, or could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note (or the note being written) is longer than [`MAX_NOTE_LEN`].
    #[error("note is {len} bytes, more than {MAX_NOTE_LEN}")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// The note is not valid UTF-8.
    #[error("note is not valid UTF-8")]
    NotUtf8,
    /// The note contains an ASCII control character other than newline.
    #[error("note contains control character {byte:#04x} at byte {offset}")]
    ControlCharacter {
        /// The character.
        byte: u8,
        /// Its byte offset.
        offset: usize,
    },
    /// The note has no blank line separating text from signatures.
    #[error("note has no blank line before its signatures")]
    MissingSignatureBlock,
    /// The text is empty or does not end in a newline.
    #[error("note text does not end in a newline")]
    TextNotNewlineTerminated,
    /// The signature block is empty or does not end in a newline.
    #[error("note has no signature lines or they do not end in a newline")]
    EmptySignatureBlock,
    /// A signature line is malformed (`reason` says how).
    #[error("signature line {line} is malformed: {reason}")]
    MalformedSignatureLine {
        /// 0-based number of the line in the signature block.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    /// A key name is empty or contains white space or `+`.
    #[error("invalid key name")]
    InvalidKeyName,
    /// A known key's signature does not verify: the note is rejected.
    #[error("signature by known key {name}+{key_id} does not verify")]
    InvalidSignature {
        /// The key's name.
        name: String,
        /// The key's id.
        key_id: KeyId,
    },
    /// A known key signed the note more than once.
    #[error("known key {name}+{key_id} signed the note more than once")]
    DuplicateSignature {
        /// The key's name.
        name: String,
        /// The key's id.
        key_id: KeyId,
    },
    /// No known key signed the note.
    #[error("note has no verified signature from a known key")]
    NoVerifiedSignature,
    /// Two of the known keys share name and key id, so a signature cannot be attributed.
    #[error("two known keys share name and id {name}+{key_id}")]
    AmbiguousKey {
        /// The shared name.
        name: String,
        /// The shared key id.
        key_id: KeyId,
    },
}

/// A key a note reader knows and trusts to check signature lines with its name and key id.
pub trait KnownKey {
    /// The key's name.
    fn name(&self) -> &str;
    /// The key's id.
    fn key_id(&self) -> KeyId;
    /// Whether `signature` (the signature line's bytes after the key id) signs `text`.
    fn verify(&self, text: &[u8], signature: &[u8]) -> bool;
}

/// One signature line of a note, verified or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: KeyId,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// A signature line by key `name`+`key_id`; `signature` is what follows the key id.
    pub fn new(name: &str, key_id: KeyId, signature: Vec<u8>) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        if signature.is_empty() {
            return Err(NoteError::MalformedSignatureLine {
                line: 0,
                reason: "signature is empty",
            });
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id,
            signature,
        })
    }

    /// Parses one signature line, without its final newline. `line` numbers it in errors.
    fn parse_line(text: &str, line: usize) -> Result<Self, NoteError> {
        let malformed = |reason| NoteError::MalformedSignatureLine { line, reason };
        let rest = text
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(malformed("does not start with an em dash and a space"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(malformed("no space after the key name"))?;
        if !is_valid_key_name(name) {
            return Err(malformed("invalid key name"));
        }
        let raw = BASE64
            .decode(b64)
            .map_err(|_| malformed("signature is not base64"))?;
        // At least one byte of signature after the 4-byte key id, as in Go.
        let Some((id, signature)) = raw.split_first_chunk::<4>() else {
            return Err(malformed("signature is shorter than 5 bytes"));
        };
        if signature.is_empty() {
            return Err(malformed("signature is shorter than 5 bytes"));
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id: KeyId(u32::from_be_bytes(*id)),
            signature: signature.to_vec(),
        })
    }

    /// Parses one signature line as a witness sends it (`— name base64`, final newline optional).
    pub fn parse(line: &str) -> Result<Self, NoteError> {
        if line.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge { len: line.len() });
        }
        let line = line.strip_suffix('\n').unwrap_or(line);
        check_characters(line.as_bytes())?;
        if line.contains('\n') {
            return Err(NoteError::MalformedSignatureLine {
                line: 0,
                reason: "more than one line",
            });
        }
        Self::parse_line(line, 0)
    }

    /// The name of the key that made it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the key that made it.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The signature bytes after the key id.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The line as it appears in a note, final newline included.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.0.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, BASE64.encode(raw))
    }

    fn same_key(&self, key: &dyn KnownKey) -> bool {
        self.name == key.name() && self.key_id == key.key_id()
    }
}

/// Rejects bytes that are not UTF-8 or hold ASCII control characters other than newline.
fn check_characters(bytes: &[u8]) -> Result<&str, NoteError> {
    let text = core::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
    // Control characters are single bytes in UTF-8, and never part of a multi-byte sequence.
    if let Some(offset) = bytes.iter().position(|&b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter {
            byte: bytes[offset],
            offset,
        });
    }
    Ok(text)
}

/// A parsed note: text and signature lines, none of them verified yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// A note of `text` (ending in a newline) with `signatures`, checked to be encodable within
    /// the limits.
    pub fn new(text: &str, signatures: Vec<NoteSignature>) -> Result<Self, NoteError> {
        check_text(text)?;
        if signatures.is_empty() {
            return Err(NoteError::EmptySignatureBlock);
        }
        if signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let note = SignedNote {
            text: text.to_owned(),
            signatures,
        };
        let len = note.encoded_len();
        if len > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge { len });
        }
        Ok(note)
    }

    /// Parses a note from outside; checks its form, not its signatures.
    pub fn parse(note: &[u8]) -> Result<Self, NoteError> {
        if note.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge { len: note.len() });
        }
        let note = check_characters(note)?;
        let split = note.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
        let (text, block) = (&note[..=split], &note[split + 2..]);
        let Some(block) = block.strip_suffix('\n') else {
            return Err(NoteError::EmptySignatureBlock);
        };
        let mut signatures = Vec::new();
        for (i, line) in block.split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(NoteSignature::parse_line(line, i)?);
        }
        Ok(SignedNote {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, final newline included (what every signature covers).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in note order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Checks the signatures by `known` keys, with C2SP/Go semantics (see the module docs).
    ///
    /// Returns, for each verified signature, `(index in signatures(), index in known)`, in note
    /// order. Signatures by unknown keys are ignored.
    pub fn verify(&self, known: &[&dyn KnownKey]) -> Result<Vec<(usize, usize)>, NoteError> {
        for (i, a) in known.iter().enumerate() {
            if known[..i]
                .iter()
                .any(|b| a.name() == b.name() && a.key_id() == b.key_id())
            {
                return Err(NoteError::AmbiguousKey {
                    name: a.name().to_owned(),
                    key_id: a.key_id(),
                });
            }
        }
        let mut verified: Vec<(usize, usize)> = Vec::new();
        for (i, sig) in self.signatures.iter().enumerate() {
            let Some(k) = known.iter().position(|k| sig.same_key(*k)) else {
                continue;
            };
            if verified.iter().any(|&(_, seen)| seen == k) {
                return Err(NoteError::DuplicateSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            if !known[k].verify(self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            verified.push((i, k));
        }
        if verified.is_empty() {
            return Err(NoteError::NoVerifiedSignature);
        }
        Ok(verified)
    }

    fn encoded_len(&self) -> usize {
        // Exact for every line: the prefix, name, space, base64 and newline.
        let lines: usize = self
            .signatures
            .iter()
            .map(|s| {
                SIGNATURE_PREFIX.len()
                    + s.name.len()
                    + 1
                    + (4 + s.signature.len()).div_ceil(3) * 4
                    + 1
            })
            .sum();
        self.text.len() + 1 + lines
    }
}

impl fmt::Display for SignedNote {
    /// The note's bytes: text, blank line, signature lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for s in &self.signatures {
            f.write_str(&s.to_line())?;
        }
        Ok(())
    }
}

/// Rejects note text that is empty, lacks its final newline or holds control characters.
pub(crate) fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge { len: text.len() });
    }
    check_characters(text.as_bytes())?;
    if !text.ends_with('\n') {
        return Err(NoteError::TextNotNewlineTerminated);
    }
    Ok(())
}

/// Parses `note` and verifies it against `known` (see [`SignedNote::verify`]).
pub fn open(note: &[u8], known: &[&dyn KnownKey]) -> Result<SignedNote, NoteError> {
    let parsed = SignedNote::parse(note)?;
    parsed.verify(known)?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    #[test]
    fn spec_vector_verifies() {
        let v = NoteVerifier::parse(SPEC_VKEY).unwrap();
        assert_eq!(v.key_id(), KeyId(0x530d903a));
        let note = open(SPEC_NOTE.as_bytes(), &[&v]).unwrap();
        assert_eq!(note.text(), "This is an example message.\n");
        assert_eq!(note.to_string(), SPEC_NOTE);
        assert_eq!(v.to_string(), SPEC_VKEY);
    }

    #[test]
    fn text_is_split_at_the_last_blank_line() {
        let s = signer("a.test/herald", 1);
        let text = "one\n\ntwo\n\n\nthree\n";
        let note = s.sign(text).unwrap().to_string();
        let parsed = open(note.as_bytes(), &[&s.verifier()]).unwrap();
        assert_eq!(parsed.text(), text);
    }

    #[test]
    fn signing_rejects_bad_text() {
        let s = signer("a.test/herald", 1);
        assert_eq!(
            s.sign("no newline").unwrap_err(),
            NoteError::TextNotNewlineTerminated
        );
        assert_eq!(s.sign("").unwrap_err(), NoteError::TextNotNewlineTerminated);
        assert!(matches!(
            s.sign("tab\there\n").unwrap_err(),
            NoteError::ControlCharacter { byte: b'\t', .. }
        ));
        assert!(matches!(
            s.sign(&"x\n".repeat(MAX_NOTE_LEN / 2)).unwrap_err(),
            NoteError::TooLarge { .. }
        ));
    }

    #[test]
    fn encoded_len_is_exact() {
        let s = signer("a.test/herald", 1);
        for text in ["a\n", "ab\n", "abc\n", "\u{e9}t\u{e9}\n"] {
            let note = s.sign(text).unwrap();
            assert_eq!(note.encoded_len(), note.to_string().len());
        }
        let odd = NoteSignature::new("w", KeyId(1), vec![9; 5]).unwrap();
        let note = SignedNote::new("t\n", vec![odd]).unwrap();
        assert_eq!(note.encoded_len(), note.to_string().len());
    }

    #[test]
    fn ambiguous_known_keys_are_refused() {
        let s = signer("a.test/herald", 1);
        let v = s.verifier();
        let note = s.sign("x\n").unwrap();
        assert!(matches!(
            note.verify(&[&v, &v]),
            Err(NoteError::AmbiguousKey { .. })
        ));
    }

    #[test]
    fn single_signature_line_parses() {
        let s = signer("w.test", 2);
        let line = s.signature("x\n").unwrap().to_line();
        assert_eq!(NoteSignature::parse(&line).unwrap().to_line(), line);
        assert!(NoteSignature::parse(&format!("{line}{line}")).is_err());
    }
}
