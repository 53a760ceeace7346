//! The evidence bundle as a file format: one versioned [`pb::EvidenceBundle`], read with a size
//! limit and a version check before anything else looks at it.
//!
//! Only the envelope is checked here. Everything inside (a missing request, a 31-byte key, a
//! proof that does not verify) is for the arbiter to report as a failed check: DESIGN §3.3 says
//! anything missing is a verdict for the recipient, and the verdict says which check decided.

use prost::Message as _;

use crate::wire::{MAX_EVIDENCE_BUNDLE_BYTES, pb};

/// The bundle format version this code writes and reads.
pub const BUNDLE_VERSION: u32 = 1;

/// Why bytes are not an evidence bundle (or absence proof) this version can judge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The file is larger than the format allows; it was not decoded.
    #[error("file of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a protobuf encoding of the message.
    #[error("not an encoded {what}: {source}")]
    Malformed {
        /// "evidence bundle" or "absence proof".
        what: &'static str,
        /// prost's reason.
        #[source]
        source: prost::DecodeError,
    },
    /// The version field is not one this code reads (0: not set).
    #[error("{what} version {version} is not supported (this code reads {supported})")]
    UnsupportedVersion {
        /// "evidence bundle" or "absence proof".
        what: &'static str,
        /// The version found.
        version: u32,
        /// The version this code reads.
        supported: u32,
    },
}

/// Decodes `M` after checking the length against `limit`.
pub(super) fn decode_limited<M: prost::Message + Default>(
    bytes: &[u8],
    limit: usize,
    what: &'static str,
) -> Result<M, BundleError> {
    if bytes.len() > limit {
        return Err(BundleError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    M::decode(bytes).map_err(|source| BundleError::Malformed { what, source })
}

/// Reads an evidence bundle file: at most [`MAX_EVIDENCE_BUNDLE_BYTES`], a protobuf
/// [`pb::EvidenceBundle`] of version [`BUNDLE_VERSION`].
pub fn decode_bundle(bytes: &[u8]) -> Result<pb::EvidenceBundle, BundleError> {
    let bundle: pb::EvidenceBundle =
        decode_limited(bytes, MAX_EVIDENCE_BUNDLE_BYTES, "evidence bundle")?;
    if bundle.version != BUNDLE_VERSION {
        return Err(BundleError::UnsupportedVersion {
            what: "evidence bundle",
            version: bundle.version,
            supported: BUNDLE_VERSION,
        });
    }
    Ok(bundle)
}

impl pb::EvidenceBundle {
    /// The file's bytes.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_checked_and_size_first() {
        let mut b = pb::EvidenceBundle {
            version: BUNDLE_VERSION,
            plaintext: b"m".to_vec(),
            ..Default::default()
        };
        assert_eq!(decode_bundle(&b.to_file_bytes()), Ok(b.clone()));
        b.version = 2;
        assert!(matches!(
            decode_bundle(&b.to_file_bytes()),
            Err(BundleError::UnsupportedVersion { version: 2, .. })
        ));
        b.version = 0;
        assert!(matches!(
            decode_bundle(&b.to_file_bytes()),
            Err(BundleError::UnsupportedVersion { version: 0, .. })
        ));
        let huge = vec![0u8; MAX_EVIDENCE_BUNDLE_BYTES + 1];
        assert!(matches!(
            decode_bundle(&huge),
            Err(BundleError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_bundle(&[0xff, 0xff]),
            Err(BundleError::Malformed { .. })
        ));
    }
}
