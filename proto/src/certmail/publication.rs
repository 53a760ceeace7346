//! Step (c): the `KeyPublication` leaf A appends to X's log, and the check that a leaf answers a
//! given request (used by B in step (d) and by the arbiter).

use prost::Message as _;
use x25519_dalek::StaticSecret;

use super::CertMailError;
use super::keys::{MessageKey, WrappedKey, wrap_key};
use super::request::VerifiedKeyRequest;
use crate::entry::{KeyPublication, verify_key_publication};
use crate::paep::IdentitySigner;
use crate::wire::{decode_valid, pb};

/// The encoded `LogEntry` A submits to X's log for `request`: K wrapped to P_req with the
/// ephemeral secret `a`, signed by IK_A through its key store, stamped `created`.
pub fn publication_entry<S: IdentitySigner + ?Sized>(
    request: &VerifiedKeyRequest,
    key: &MessageKey,
    ephemeral_secret: &StaticSecret,
    identity: &S,
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
    let entry = publication
        .sign_with(identity)
        .map_err(|e| CertMailError::KeyStore(e.to_string()))?;
    Ok(entry.encode_to_vec())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certmail::{
        KeyRequestDraft, Location, ephemeral_secret, sign_request, unwrap_key, verify_request,
    };
    use crate::checkpoint::{WitnessPolicy, WitnessSigner};
    use crate::inclusion::LogTrust;
    use crate::merkle::HashAlgorithm;
    use crate::note::NoteSigner;
    use ed25519_dalek::SigningKey;
    use x25519_dalek::PublicKey;

    fn request(p_req: &StaticSecret, sender: &str) -> VerifiedKeyRequest {
        let log = NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap();
        let w = WitnessSigner::new("w.test", SigningKey::from_bytes(&[2; 32])).unwrap();
        let policy = WitnessPolicy::new(log.verifier(), vec![w.verifier()], 1).unwrap();
        let draft = KeyRequestDraft {
            sender: sender.into(),
            recipient: "bob@b.test".into(),
            msg_id: b"m".to_vec(),
            ciphertext_hash: [3; 32],
            key_commitment: [4; 32],
            deadline: 100,
            location: Location::new(LogTrust::new(policy, HashAlgorithm::Blake3), 1, 1).unwrap(),
            request_key: PublicKey::from(p_req).to_bytes(),
            expect: None,
            nonce: [6; 32],
            created: 1,
        };
        verify_request(&sign_request(&draft, &SigningKey::from_bytes(&[7; 32])).unwrap()).unwrap()
    }

    #[test]
    fn a_publication_answers_its_request_and_unwraps_for_the_recipient() {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let p_req = ephemeral_secret(&mut rng);
        let r = request(&p_req, "alice@a.test");
        let k = MessageKey::from_bytes([9; 32]);
        let alice = SigningKey::from_bytes(&[8; 32]);
        let entry = publication_entry(&r, &k, &ephemeral_secret(&mut rng), &alice, 10).unwrap();
        let p = check_publication(&entry, &r).unwrap();
        let agree = |peer: &[u8; 32]| {
            let shared = p_req.diffie_hellman(&PublicKey::from(*peer));
            Ok(zeroize::Zeroizing::new(shared.to_bytes()))
        };
        assert_eq!(unwrap_key(&wrapped(&p), r.req_hash(), agree).unwrap(), k);
        // The same leaf does not answer another request.
        let other = request(&ephemeral_secret(&mut rng), "alice@a.test");
        assert!(matches!(
            check_publication(&entry, &other),
            Err(CertMailError::Mismatch { .. })
        ));
        // Not a key publication at all.
        let n = crate::entry::Notarization {
            digest: [0; 32],
            media_type: String::new(),
            label: String::new(),
            created: 0,
        }
        .sign(&alice)
        .encode_to_vec();
        assert_eq!(
            check_publication(&n, &r),
            Err(CertMailError::NotAPublication)
        );
    }
}
