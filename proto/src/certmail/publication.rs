//! Step (c): the `KeyPublication` leaf A appends to X's log, and the check that a leaf answers a
//! given request (used by B in step (d) and by the arbiter).

use ed25519_dalek::SigningKey;
use prost::Message as _;
use x25519_dalek::StaticSecret;

use super::CertMailError;
use super::keys::{MessageKey, WrappedKey, wrap_key};
use super::request::VerifiedKeyRequest;
use crate::entry::{KeyPublication, verify_key_publication};
use crate::wire::{decode_valid, pb};

/// The encoded `LogEntry` A submits to X's log for `request`: K wrapped to P_req with the
/// ephemeral secret `a`, signed by IK_A, stamped `created`.
pub fn publication_entry(
    request: &VerifiedKeyRequest,
    key: &MessageKey,
    ephemeral_secret: &StaticSecret,
    identity: &SigningKey,
    created: u64,
) -> Result<Vec<u8>, CertMailError> {
    let WrappedKey {
        ephemeral_key,
        wrapped_key,
    } = wrap_key(
        key,
        ephemeral_secret,
        request.request_key(),
        request.req_hash(),
    )?;
    let publication = KeyPublication {
        req_hash: *request.req_hash(),
        ciphertext_hash: *request.ciphertext_hash(),
        ephemeral_key,
        wrapped_key,
        author: request.sender().to_owned(),
        created,
    };
    Ok(publication.sign(identity).encode_to_vec())
}

/// Checks that the leaf `entry` is a validly signed `KeyPublication` answering `request`: it
/// names the request's req_hash and H(C), and its author is the request's sender.
pub fn check_publication(
    entry: &[u8],
    request: &VerifiedKeyRequest,
) -> Result<KeyPublication, CertMailError> {
    let Some(pb::log_entry::Kind::KeyPublication(leaf)) = decode_valid::<pb::LogEntry>(entry)?.kind
    else {
        return Err(CertMailError::NotAPublication);
    };
    // Cheap comparisons first: a leaf for another request costs no signature check.
    if leaf.req_hash != request.req_hash() {
        return Err(CertMailError::Mismatch {
            field: "KeyPublication.req_hash",
        });
    }
    if leaf.ciphertext_hash != request.ciphertext_hash() {
        return Err(CertMailError::Mismatch {
            field: "KeyPublication.ciphertext_hash",
        });
    }
    if leaf.author != request.sender() {
        return Err(CertMailError::Mismatch {
            field: "KeyPublication.author",
        });
    }
    let (publication, _) =
        verify_key_publication(&leaf).map_err(|error| CertMailError::Signature {
            what: "publication",
            error,
        })?;
    Ok(publication)
}

/// The wrap fields of a checked publication.
pub(crate) fn wrapped(publication: &KeyPublication) -> WrappedKey {
    WrappedKey {
        ephemeral_key: publication.ephemeral_key,
        wrapped_key: publication.wrapped_key,
    }
}
