//! The built-in signature scanner: the EICAR test string, always, and the signatures of a
//! signature file.
//!
//! # Signature file format
//!
//! UTF-8 text of at most [`MAX_SIGNATURE_FILE_BYTES`], one signature per line:
//!
//! ```text
//! # comment lines and blank lines are ignored
//! Herald.Test.Custom:48455241c44d414c57415245
//! ```
//!
//! `NAME:HEX`, where `NAME` is 1 to [`MAX_SIGNATURE_NAME_BYTES`] characters of `A-Z a-z 0-9 . _ -`
//! and `HEX` is an even number of hex digits encoding [`MIN_SIGNATURE_BYTES`] to
//! [`MAX_SIGNATURE_BYTES`] bytes; at most [`MAX_SIGNATURES`] lines. Data matches a signature when
//! it contains its bytes anywhere. Any line that breaks a rule refuses the whole file, with the
//! line number ([`SignatureError`]). This is ClamAV's `.ndb` body signature without offsets and
//! wildcards, so a simple `.ndb` line `NAME:0:*:HEX` converts by dropping `0:*:`.

use std::collections::HashMap;

use super::{ScanError, ScanVerdict, Scanner};

/// The EICAR anti-virus test file (eicar.org): 68 printable bytes every scanner detects.
pub const EICAR: &[u8; 68] =
    br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// The name the built-in scanner reports for [`EICAR`].
pub const EICAR_NAME: &str = "EICAR-Test-File";

/// Largest signature file.
pub const MAX_SIGNATURE_FILE_BYTES: usize = 1024 * 1024;
/// Most signatures in one file.
pub const MAX_SIGNATURES: usize = 10_000;
/// Longest signature name.
pub const MAX_SIGNATURE_NAME_BYTES: usize = 64;
/// Shortest signature: four bytes, so a signature does not match half of all data.
pub const MIN_SIGNATURE_BYTES: usize = 4;
/// Longest signature.
pub const MAX_SIGNATURE_BYTES: usize = 1024;

/// Why a signature file is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The file is larger than [`MAX_SIGNATURE_FILE_BYTES`].
    #[error("signature file of {len} bytes exceeds {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The file is not UTF-8.
    #[error("signature file is not UTF-8")]
    NotText,
    /// The file has more than [`MAX_SIGNATURES`] signatures.
    #[error("signature file has more than {max} signatures")]
    TooMany {
        /// The bound.
        max: usize,
    },
    /// A line is not `NAME:HEX` as the format says.
    #[error("signature file line {line}: {reason}")]
    BadLine {
        /// Its number, from 1.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The built-in scanner (see the module docs).
#[derive(Clone, Debug)]
pub struct SignatureScanner {
    /// (name, bytes), EICAR first.
    signatures: Vec<(String, Vec<u8>)>,
    /// Indexes into `signatures` by their first two bytes: a scan looks at each position once.
    by_prefix: HashMap<[u8; 2], Vec<usize>>,
}

impl Default for SignatureScanner {
    fn default() -> Self {
        Self::with_signatures(Vec::new())
    }
}

fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16);
    hex.as_bytes()
        .chunks(2)
        .map(|p| Some((digit(p[0])? * 16 + digit(p[1])?) as u8))
        .collect()
}

impl SignatureScanner {
    /// EICAR and the signatures of `file` (the format in the module docs).
    pub fn from_file_bytes(file: &[u8]) -> Result<Self, SignatureError> {
        if file.len() > MAX_SIGNATURE_FILE_BYTES {
            return Err(SignatureError::TooLarge {
                len: file.len(),
                max: MAX_SIGNATURE_FILE_BYTES,
            });
        }
        let text = core::str::from_utf8(file).map_err(|_| SignatureError::NotText)?;
        let mut signatures = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line_no = n + 1;
            let bad = |reason| SignatureError::BadLine {
                line: line_no,
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, hex) = line.split_once(':').ok_or(bad("expected NAME:HEX"))?;
            if name.is_empty()
                || name.len() > MAX_SIGNATURE_NAME_BYTES
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(bad("the name must be 1 to 64 of A-Z a-z 0-9 . _ -"));
            }
            let bytes =
                hex_decode(hex).ok_or(bad("the pattern is not an even run of hex digits"))?;
            if bytes.len() < MIN_SIGNATURE_BYTES || bytes.len() > MAX_SIGNATURE_BYTES {
                return Err(bad("the pattern must be 4 to 1024 bytes"));
            }
            if signatures.len() == MAX_SIGNATURES {
                return Err(SignatureError::TooMany {
                    max: MAX_SIGNATURES,
                });
            }
            signatures.push((name.to_owned(), bytes));
        }
        Ok(Self::with_signatures(signatures))
    }

    fn with_signatures(extra: Vec<(String, Vec<u8>)>) -> Self {
        let mut signatures = vec![(EICAR_NAME.to_owned(), EICAR.to_vec())];
        signatures.extend(extra);
        let mut by_prefix: HashMap<[u8; 2], Vec<usize>> = HashMap::new();
        for (i, (_, bytes)) in signatures.iter().enumerate() {
            // Every signature has at least MIN_SIGNATURE_BYTES ≥ 2 bytes.
            by_prefix.entry([bytes[0], bytes[1]]).or_default().push(i);
        }
        SignatureScanner {
            signatures,
            by_prefix,
        }
    }

    /// How many signatures it knows (EICAR included).
    pub fn len(&self) -> usize {
        self.signatures.len()
    }

    /// Always false: EICAR is always known.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The name of the first signature `data` contains (by position in `data`).
    pub fn find(&self, data: &[u8]) -> Option<&str> {
        for at in 0..data.len().saturating_sub(1) {
            let Some(candidates) = self.by_prefix.get(&[data[at], data[at + 1]]) else {
                continue;
            };
            for &i in candidates {
                let (name, bytes) = &self.signatures[i];
                if data[at..].starts_with(bytes) {
                    return Some(name);
                }
            }
        }
        None
    }
}

impl Scanner for SignatureScanner {
    fn name(&self) -> &str {
        "builtin"
    }

    fn scan(&self, data: &[u8]) -> Result<ScanVerdict, ScanError> {
        Ok(match self.find(data) {
            Some(name) => ScanVerdict::Infected {
                signature: name.to_owned(),
            },
            None => ScanVerdict::Clean,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eicar_is_caught_by_the_builtin_scanner() {
        let scanner = SignatureScanner::default();
        let mut data = b"Hello Bob, see the attached file.\n".to_vec();
        data.extend_from_slice(EICAR);
        data.extend_from_slice(b"\r\n");
        assert_eq!(
            scanner.scan(&data),
            Ok(ScanVerdict::Infected {
                signature: EICAR_NAME.into()
            })
        );
        // One byte changed: not EICAR.
        let mut near = EICAR.to_vec();
        near[10] ^= 1;
        assert_eq!(scanner.scan(&near), Ok(ScanVerdict::Clean));
        assert_eq!(scanner.scan(b""), Ok(ScanVerdict::Clean));
        assert_eq!(scanner.scan(b"X"), Ok(ScanVerdict::Clean));
    }

    #[test]
    fn signature_file_adds_signatures() {
        let file =
            b"# test signatures\n\nHerald.Test.Custom:48455241c44d414c57415245\r\nOther:deadbeef\n";
        let scanner = SignatureScanner::from_file_bytes(file).unwrap();
        assert_eq!(scanner.len(), 3);
        assert_eq!(
            scanner.find(b"xx HERA\xc4MALWARE yy"),
            Some("Herald.Test.Custom")
        );
        assert_eq!(scanner.find(b"\x00\xde\xad\xbe\xef"), Some("Other"));
        assert_eq!(scanner.find(b"\xde\xad\xbe"), None);
        assert_eq!(scanner.find(EICAR), Some(EICAR_NAME));
    }

    #[test]
    fn malformed_signature_file_is_refused_with_a_typed_error() {
        let line = |text: &str| SignatureScanner::from_file_bytes(text.as_bytes()).unwrap_err();
        assert!(matches!(
            line("no colon\n"),
            SignatureError::BadLine { line: 1, .. }
        ));
        assert!(matches!(
            line("ok:deadbeef\nbad name:deadbeef"),
            SignatureError::BadLine { line: 2, .. }
        ));
        assert!(matches!(line(":deadbeef"), SignatureError::BadLine { .. }));
        assert!(matches!(line("n:deadbee"), SignatureError::BadLine { .. }));
        assert!(matches!(line("n:zzzzzzzz"), SignatureError::BadLine { .. }));
        assert!(matches!(line("n:dead"), SignatureError::BadLine { .. }));
        assert!(matches!(
            line(&format!("n:{}", "ab".repeat(MAX_SIGNATURE_BYTES + 1))),
            SignatureError::BadLine { .. }
        ));
        assert!(matches!(
            line(&format!("{}:deadbeef", "n".repeat(65))),
            SignatureError::BadLine { .. }
        ));
        assert_eq!(
            SignatureScanner::from_file_bytes(b"n:dead\xff").unwrap_err(),
            SignatureError::NotText
        );
        let big = vec![b'#'; MAX_SIGNATURE_FILE_BYTES + 1];
        assert!(matches!(
            SignatureScanner::from_file_bytes(&big),
            Err(SignatureError::TooLarge { .. })
        ));
        let many = "n:deadbeef\n".repeat(MAX_SIGNATURES + 1);
        assert_eq!(
            SignatureScanner::from_file_bytes(many.as_bytes()).unwrap_err(),
            SignatureError::TooMany {
                max: MAX_SIGNATURES
            }
        );
    }
}
