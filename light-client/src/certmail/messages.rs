//! Reading the certified-mail messages from bytes: each under its own size limit, decoded and
//! checked against the schema's bounds before anything else looks at it.

use herald_proto::wire::{
    MAX_CHECKPOINT_NOTE_BYTES, MAX_INCLUSION_PROOF_BYTES, MAX_LOG_ENTRY_BYTES, Validate, decode,
    decode_valid, pb,
};

use super::CertifiedMailError;

/// Largest encoded [`pb::IncludedLeaf`] read (an identity binding or publication with its
/// inclusion proof and cosigned checkpoint): one entry, one proof, one note.
pub const MAX_INCLUDED_LEAF_BYTES: usize =
    MAX_LOG_ENTRY_BYTES + MAX_INCLUSION_PROOF_BYTES + MAX_CHECKPOINT_NOTE_BYTES + 64;

fn valid<M: Validate>(what: &'static str, bytes: &[u8]) -> Result<M, CertifiedMailError> {
    decode_valid(bytes).map_err(|error| CertifiedMailError::Malformed { what, error })
}

/// Step (a)'s sealed message.
pub fn decode_sealed(bytes: &[u8]) -> Result<pb::SealedMessage, CertifiedMailError> {
    valid("sealed message", bytes)
}

/// Step (b)'s signed key request.
pub fn decode_request(bytes: &[u8]) -> Result<pb::SignedKeyRequest, CertifiedMailError> {
    valid("key request", bytes)
}

/// The optimistic variant's direct key.
pub fn decode_direct_key(bytes: &[u8]) -> Result<pb::DirectKey, CertifiedMailError> {
    valid("direct key", bytes)
}

/// The optimistic variant's receipt.
pub fn decode_receipt(bytes: &[u8]) -> Result<pb::Receipt, CertifiedMailError> {
    valid("receipt", bytes)
}

/// A leaf with its inclusion proof and checkpoint (an identity binding, a revocation, or a
/// publication as a lookup returned it). Only the encoding and size are checked here; the
/// verifiers report a missing proof or a bad note.
pub fn decode_included_leaf(bytes: &[u8]) -> Result<pb::IncludedLeaf, CertifiedMailError> {
    decode(bytes, MAX_INCLUDED_LEAF_BYTES).map_err(|error| CertifiedMailError::Malformed {
        what: "included leaf",
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_proto::wire::WireError;
    use prost::Message as _;

    #[test]
    fn each_message_is_bounded_and_validated() {
        assert!(matches!(
            decode_direct_key(&[0u8; 300]),
            Err(CertifiedMailError::Malformed {
                what: "direct key",
                error: WireError::TooLarge { .. }
            })
        ));
        // Decodes, but a 31-byte req_hash breaks the schema.
        let short = pb::Receipt {
            req_hash: vec![0; 31],
            ciphertext_hash: vec![0; 32],
            key_commitment: vec![0; 32],
            time: 1,
            signature: vec![0; 64],
        }
        .encode_to_vec();
        assert!(matches!(
            decode_receipt(&short),
            Err(CertifiedMailError::Malformed {
                error: WireError::FieldLength { .. },
                ..
            })
        ));
        assert!(decode_request(&[0xff, 0xff, 0xff]).is_err());
        assert!(decode_sealed(&[]).is_err());
        assert!(decode_included_leaf(&vec![0u8; MAX_INCLUDED_LEAF_BYTES + 1]).is_err());
        let leaf = pb::IncludedLeaf {
            entry: vec![1],
            proof: None,
            checkpoint: Vec::new(),
        };
        assert_eq!(decode_included_leaf(&leaf.encode_to_vec()).unwrap(), leaf);
    }
}
