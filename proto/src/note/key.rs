//! Signed-note keys: key ids, verifier key strings `name+hex8(keyid)+base64(type ‖ pubkey)`,
//! signer key strings `PRIVATE+KEY+name+hex8(keyid)+base64(type ‖ seed)` (Go's formats, for the
//! node's key files), and the Ed25519 (type 0x01) verifier and signer a log signs checkpoints with.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::Digest as _;

use super::{KnownKey, NoteError, NoteSignature, SignedNote, check_text};

/// Longest key string (verifier or signer) accepted, in bytes (the wire schema's bound on a log
/// key string).
pub const MAX_KEY_STRING_LEN: usize = 512;

/// Longest key name a key may be made with, in bytes: a DNS name (at most 253 bytes) plus a path
/// fits, and so do the name's key strings (at most 66 bytes more) within [`MAX_KEY_STRING_LEN`].
pub const MAX_KEY_NAME_LEN: usize = 400;

/// Signature type byte of a plain Ed25519 note signature (a log's checkpoint signature).
pub const SIGNATURE_TYPE_ED25519: u8 = 0x01;

/// Signature type byte of a C2SP cosignature/v1 (timestamped Ed25519 witness cosignature).
pub const SIGNATURE_TYPE_COSIGNATURE_V1: u8 = 0x04;

/// Prefix of a signer (private) key string.
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// The 32-bit identifier of a key, `SHA-256(name ‖ 0x0A ‖ type ‖ pubkey)[:4]` read big-endian.
///
/// Not a cryptographic commitment: it only picks which known key to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u32);

impl KeyId {
    /// The key id of `public_key` of `signature_type` under `name`.
    pub fn compute(name: &str, signature_type: u8, public_key: &[u8]) -> KeyId {
        let mut h = sha2::Sha256::new();
        h.update(name.as_bytes());
        h.update([b'\n', signature_type]);
        h.update(public_key);
        let digest = h.finalize();
        KeyId(u32::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3],
        ]))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// Whether `name` may name a key: non-empty, no Unicode white space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

/// Why a key string (verifier or signer key) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The string is longer than [`MAX_KEY_STRING_LEN`].
    #[error("key string is {len} bytes, more than {MAX_KEY_STRING_LEN}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// The string does not have the `name+keyid+key` (or `PRIVATE+KEY+…`) shape.
    #[error("key string is not of the form name+keyid+base64")]
    Malformed,
    /// The name is empty, longer than [`MAX_KEY_NAME_LEN`], or contains white space or `+`.
    #[error("key name is empty, too long, or contains white space or '+'")]
    InvalidName,
    /// The key id is not 8 hexadecimal digits.
    #[error("key id is not 8 hexadecimal digits")]
    BadKeyId,
    /// The key material is not standard, canonical base64.
    #[error("key material is not valid base64")]
    BadBase64,
    /// The key is of another signature type than the one expected here.
    #[error("key has signature type {found:#04x}, expected {expected:#04x}")]
    WrongType {
        /// The type this context needs.
        expected: u8,
        /// The type byte the key carries (0 when the key material is empty).
        found: u8,
    },
    /// The key material is not 32 bytes after the type byte.
    #[error("key material is {len} bytes, expected 32")]
    BadKeyLength {
        /// Its length, without the type byte.
        len: usize,
    },
    /// The stated key id is not the one computed from name, type and public key.
    #[error("stated key id {stated} does not match computed {computed}")]
    KeyIdMismatch {
        /// The key id written in the string.
        stated: KeyId,
        /// The key id computed from the key.
        computed: KeyId,
    },
    /// The public key is not a valid Ed25519 point, or is of small order (weak).
    #[error("not a usable Ed25519 public key")]
    BadPublicKey,
}

/// Checks a name for a key being made here (parsed key strings are bounded by their length).
pub(crate) fn check_key_name(name: &str) -> Result<(), KeyError> {
    if name.len() > MAX_KEY_NAME_LEN || !is_valid_key_name(name) {
        return Err(KeyError::InvalidName);
    }
    Ok(())
}

/// Splits `name+hex8+base64` into its checked parts. Shared by verifier and signer keys.
fn parse_key_parts(s: &str) -> Result<(&str, KeyId, u8, [u8; 32]), KeyError> {
    let (name, rest) = s.split_once('+').ok_or(KeyError::Malformed)?;
    // The base64 part may itself contain '+', so split only twice.
    let (id, b64) = rest.split_once('+').ok_or(KeyError::Malformed)?;
    if !is_valid_key_name(name) {
        return Err(KeyError::InvalidName);
    }
    if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::BadKeyId);
    }
    let id = u32::from_str_radix(id, 16).map_err(|_| KeyError::BadKeyId)?;
    let raw = BASE64.decode(b64).map_err(|_| KeyError::BadBase64)?;
    let Some((&key_type, key)) = raw.split_first() else {
        return Err(KeyError::BadKeyLength { len: 0 });
    };
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| KeyError::BadKeyLength { len: key.len() })?;
    Ok((name, KeyId(id), key_type, key))
}

fn check_length(s: &str) -> Result<(), KeyError> {
    if s.len() > MAX_KEY_STRING_LEN {
        return Err(KeyError::TooLong { len: s.len() });
    }
    Ok(())
}

fn check_type(expected: u8, found: u8) -> Result<(), KeyError> {
    if expected != found {
        return Err(KeyError::WrongType { expected, found });
    }
    Ok(())
}

fn check_key_id(stated: KeyId, computed: KeyId) -> Result<(), KeyError> {
    if stated != computed {
        return Err(KeyError::KeyIdMismatch { stated, computed });
    }
    Ok(())
}

/// A usable Ed25519 public key: a valid point that is not of small order.
fn public_key(bytes: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::BadPublicKey)?;
    if key.is_weak() {
        return Err(KeyError::BadPublicKey);
    }
    Ok(key)
}

/// Parses a verifier key string of `key_type`: `(name, key id, public key)`.
pub(crate) fn parse_verifier_key(
    s: &str,
    key_type: u8,
) -> Result<(String, KeyId, VerifyingKey), KeyError> {
    check_length(s)?;
    let (name, id, found, key) = parse_key_parts(s)?;
    check_type(key_type, found)?;
    check_key_id(id, KeyId::compute(name, key_type, &key))?;
    Ok((name.to_owned(), id, public_key(&key)?))
}

/// Parses a signer key string of `key_type`: `(name, key id, signing key)`.
pub(crate) fn parse_signer_key(
    s: &str,
    key_type: u8,
) -> Result<(String, KeyId, SigningKey), KeyError> {
    check_length(s)?;
    let rest = s
        .strip_prefix(PRIVATE_KEY_PREFIX)
        .ok_or(KeyError::Malformed)?;
    let (name, id, found, seed) = parse_key_parts(rest)?;
    check_type(key_type, found)?;
    let key = SigningKey::from_bytes(&seed);
    // The stated id is of the public key, which only the seed can tell.
    check_key_id(
        id,
        KeyId::compute(name, key_type, key.verifying_key().as_bytes()),
    )?;
    Ok((name.to_owned(), id, key))
}

/// `name+hex8+base64(type ‖ key)`, with `PRIVATE+KEY+` in front when `key` is a seed.
pub(crate) fn encode_key(private: bool, name: &str, id: KeyId, key_type: u8, key: &[u8]) -> String {
    let mut raw = Vec::with_capacity(1 + key.len());
    raw.push(key_type);
    raw.extend_from_slice(key);
    let prefix = if private { PRIVATE_KEY_PREFIX } else { "" };
    format!("{prefix}{name}+{id}+{}", BASE64.encode(raw))
}

/// An Ed25519 (type 0x01) verifier key: a log's checkpoint key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: KeyId,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// The verifier for `key` under `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, KeyError> {
        check_key_name(name)?;
        if key.is_weak() {
            return Err(KeyError::BadPublicKey);
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: KeyId::compute(name, SIGNATURE_TYPE_ED25519, key.as_bytes()),
            key,
        })
    }

    /// Parses a verifier key string `name+hex8+base64(0x01 ‖ pubkey)`.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let (name, key_id, key) = parse_verifier_key(s, SIGNATURE_TYPE_ED25519)?;
        Ok(NoteVerifier { name, key_id, key })
    }

    /// The key's name (for a log: its origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl fmt::Display for NoteVerifier {
    /// The verifier key string, `name+hex8+base64(0x01 ‖ pubkey)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_key(
            false,
            &self.name,
            self.key_id,
            SIGNATURE_TYPE_ED25519,
            self.key.as_bytes(),
        ))
    }
}

impl KnownKey for NoteVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> KeyId {
        self.key_id
    }

    fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = <&[u8; 64]>::try_from(signature) else {
            return false;
        };
        crate::ed25519::verify_strict(&self.key, text, &Signature::from_bytes(signature))
    }
}

/// An Ed25519 (type 0x01) signer: a log's checkpoint signing key. Keep it secret.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_id: KeyId,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the seed.
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// The signer for `key` under `name`.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, KeyError> {
        check_key_name(name)?;
        Ok(NoteSigner {
            name: name.to_owned(),
            key_id: KeyId::compute(name, SIGNATURE_TYPE_ED25519, key.verifying_key().as_bytes()),
            key,
        })
    }

    /// Parses a signer key string `PRIVATE+KEY+name+hex8+base64(0x01 ‖ seed)`.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let (name, key_id, key) = parse_signer_key(s, SIGNATURE_TYPE_ED25519)?;
        Ok(NoteSigner { name, key_id, key })
    }

    /// The signer key string, for the node's key file. It holds the secret seed.
    pub fn to_private_key_string(&self) -> String {
        encode_key(
            true,
            &self.name,
            self.key_id,
            SIGNATURE_TYPE_ED25519,
            self.key.as_bytes(),
        )
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 key itself, for the log entries a gateway signs with its log key (identity
    /// bindings, revocations, evidence; `entry::identity` explains why those signatures can
    /// never be read as checkpoint signatures).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// This key's signature line over `text`.
    pub fn signature(&self, text: &str) -> Result<NoteSignature, NoteError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes());
        NoteSignature::new(&self.name, self.key_id, signature.to_bytes().to_vec())
    }

    /// The note of `text` signed by this key alone.
    pub fn sign(&self, text: &str) -> Result<SignedNote, NoteError> {
        SignedNote::new(text, vec![self.signature(text)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verifier key string of the C2SP signed-note example.
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    #[test]
    fn spec_key_id_is_computed_from_name_type_and_key() {
        let v = NoteVerifier::parse(SPEC_VKEY).unwrap();
        let computed = KeyId::compute(v.name(), SIGNATURE_TYPE_ED25519, v.public_key().as_bytes());
        assert_eq!(computed, KeyId(0x530d903a));
        assert_eq!(computed.to_string(), "530d903a");
    }

    #[test]
    fn longest_allowed_name_gives_key_strings_within_the_limit() {
        let name = "n".repeat(MAX_KEY_NAME_LEN);
        let s = signer(&name, 4);
        assert!(s.to_private_key_string().len() <= MAX_KEY_STRING_LEN);
        NoteSigner::parse(&s.to_private_key_string()).unwrap();
        NoteVerifier::parse(&s.verifier().to_string()).unwrap();
        let longer = "n".repeat(MAX_KEY_NAME_LEN + 1);
        assert_eq!(
            NoteSigner::new(&longer, SigningKey::from_bytes(&[4; 32])).unwrap_err(),
            KeyError::InvalidName
        );
    }

    #[test]
    fn key_strings_round_trip() {
        let s = signer("a.test/herald", 7);
        let again = NoteSigner::parse(&s.to_private_key_string()).unwrap();
        assert_eq!(again.verifier(), s.verifier());
        let v = NoteVerifier::parse(&s.verifier().to_string()).unwrap();
        assert_eq!(v, s.verifier());
        assert!(!format!("{s:?}").contains(&s.to_private_key_string()[20..]));
    }

    #[test]
    fn bad_key_strings_are_typed_errors() {
        assert_eq!(NoteVerifier::parse("nope"), Err(KeyError::Malformed));
        assert_eq!(
            NoteVerifier::parse(
                "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
            ),
            Err(KeyError::KeyIdMismatch {
                stated: KeyId(0x530d903b),
                computed: KeyId(0x530d903a)
            })
        );
        assert_eq!(
            NoteVerifier::parse(
                "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
            ),
            Err(KeyError::BadKeyId)
        );
        assert_eq!(
            NoteVerifier::parse("a b+530d903a+AQ=="),
            Err(KeyError::InvalidName)
        );
        assert_eq!(
            NoteVerifier::parse("a+530d903a+AQ=="),
            Err(KeyError::BadKeyLength { len: 0 })
        );
        assert!(matches!(
            NoteVerifier::parse(&"a".repeat(MAX_KEY_STRING_LEN + 1)),
            Err(KeyError::TooLong { .. })
        ));
        // A signer key string is not a verifier key and vice versa.
        let s = signer("a.test/herald", 3);
        assert!(NoteVerifier::parse(&s.to_private_key_string()).is_err());
        assert_eq!(
            NoteSigner::parse(&s.verifier().to_string()).unwrap_err(),
            KeyError::Malformed
        );
    }
}
