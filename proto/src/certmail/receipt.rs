//! Optimistic variant: B's signed receipt for the key of C, over
//! `lp(RECEIPT_LABEL) ‖ lp(req_hash) ‖ lp(H(C)) ‖ lp(c_K) ‖ lp(time)` (time 8-byte LE).
//!
//! A receipt is as good as a timely publication: with it A needs to publish nothing. It must be
//! signed by the key that signed the request, and that key must still be bound at `time`.

use ed25519_dalek::{Signer as _, SigningKey};

use super::request::VerifiedKeyRequest;
use super::{CertMailError, RECEIPT_LABEL};
use crate::entry::{signing_input, verify_signature};
use crate::wire::{Validate as _, pb};

/// The bytes B signs in a receipt.
pub fn receipt_signing_input(
    req_hash: &[u8],
    ciphertext_hash: &[u8],
    key_commitment: &[u8],
    time: u64,
) -> Vec<u8> {
    signing_input(
        RECEIPT_LABEL,
        &[
            req_hash,
            ciphertext_hash,
            key_commitment,
            &time.to_le_bytes(),
        ],
    )
}

/// B's receipt for the request, signed with IK_B at `time`.
pub fn sign_receipt(request: &VerifiedKeyRequest, identity: &SigningKey, time: u64) -> pb::Receipt {
    let input = receipt_signing_input(
        request.req_hash(),
        request.ciphertext_hash(),
        request.key_commitment(),
        time,
    );
    pb::Receipt {
        req_hash: request.req_hash().to_vec(),
        ciphertext_hash: request.ciphertext_hash().to_vec(),
        key_commitment: request.key_commitment().to_vec(),
        time,
        signature: identity.sign(&input).to_bytes().to_vec(),
    }
}

/// Checks that `receipt` answers `request` (same req_hash, H(C) and c_K) and is signed by the
/// request's key. Whether that key was still bound at `receipt.time` is the caller's question.
pub fn verify_receipt(
    receipt: &pb::Receipt,
    request: &VerifiedKeyRequest,
) -> Result<(), CertMailError> {
    receipt.validate()?;
    for (field, got, want) in [
        ("Receipt.req_hash", &receipt.req_hash, request.req_hash()),
        (
            "Receipt.ciphertext_hash",
            &receipt.ciphertext_hash,
            request.ciphertext_hash(),
        ),
        (
            "Receipt.key_commitment",
            &receipt.key_commitment,
            request.key_commitment(),
        ),
    ] {
        if got.as_slice() != want {
            return Err(CertMailError::Mismatch { field });
        }
    }
    let input = receipt_signing_input(
        &receipt.req_hash,
        &receipt.ciphertext_hash,
        &receipt.key_commitment,
        receipt.time,
    );
    verify_signature(request.recipient_key(), &input, &receipt.signature).map_err(|error| {
        CertMailError::Signature {
            what: "receipt",
            error,
        }
    })
}
