//! Optimistic variant: B's signed receipt for the key of C, over
//! `lp(RECEIPT_LABEL) ‖ lp(req_hash) ‖ lp(H(C)) ‖ lp(c_K) ‖ lp(time)` (time 8-byte LE).
//!
//! A receipt is as good as a timely publication: with it A needs to publish nothing. It must be
//! signed by the key that signed the request, and that key must still be bound at `time`.

use super::request::VerifiedKeyRequest;
use super::{CertMailError, RECEIPT_LABEL, signed};
use crate::entry::{signing_input, verify_signature};
use crate::paep::IdentitySigner;
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
pub fn sign_receipt<S: IdentitySigner + ?Sized>(
    request: &VerifiedKeyRequest,
    identity: &S,
    time: u64,
) -> Result<pb::Receipt, CertMailError> {
    let input = receipt_signing_input(
        request.req_hash(),
        request.ciphertext_hash(),
        request.key_commitment(),
        time,
    );
    Ok(pb::Receipt {
        req_hash: request.req_hash().to_vec(),
        ciphertext_hash: request.ciphertext_hash().to_vec(),
        key_commitment: request.key_commitment().to_vec(),
        time,
        signature: signed(identity, &input)?.to_vec(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certmail::{KeyRequestDraft, Location, sign_request, verify_request};
    use crate::checkpoint::{WitnessPolicy, WitnessSigner};
    use crate::inclusion::LogTrust;
    use crate::merkle::HashAlgorithm;
    use crate::note::NoteSigner;
    use ed25519_dalek::SigningKey;

    fn request(ik: &SigningKey) -> VerifiedKeyRequest {
        let log = NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap();
        let w = WitnessSigner::new("w.test", SigningKey::from_bytes(&[2; 32])).unwrap();
        let policy = WitnessPolicy::new(log.verifier(), vec![w.verifier()], 1).unwrap();
        let draft = KeyRequestDraft {
            sender: "alice@a.test".into(),
            recipient: "bob@b.test".into(),
            msg_id: b"m".to_vec(),
            ciphertext_hash: [3; 32],
            key_commitment: [4; 32],
            deadline: 100,
            location: Location::new(LogTrust::new(policy, HashAlgorithm::Blake3), 1, 1).unwrap(),
            request_key: [5; 32],
            expect: None,
            nonce: [6; 32],
            created: 1,
        };
        verify_request(&sign_request(&draft, ik).unwrap()).unwrap()
    }

    #[test]
    fn a_receipt_verifies_for_its_request_only() {
        let ik = SigningKey::from_bytes(&[7; 32]);
        let r = request(&ik);
        let receipt = sign_receipt(&r, &ik, 50).unwrap();
        assert_eq!(verify_receipt(&receipt, &r), Ok(()));
        let mut later = receipt.clone();
        later.time = 51;
        assert!(matches!(
            verify_receipt(&later, &r),
            Err(CertMailError::Signature {
                what: "receipt",
                ..
            })
        ));
        // Signed by another key than the request's.
        let other = sign_receipt(&r, &SigningKey::from_bytes(&[8; 32]), 50).unwrap();
        assert!(matches!(
            verify_receipt(&other, &r),
            Err(CertMailError::Signature { .. })
        ));
        let mut short = receipt;
        short.req_hash.pop();
        assert!(matches!(
            verify_receipt(&short, &r),
            Err(CertMailError::Wire(_))
        ));
    }
}
