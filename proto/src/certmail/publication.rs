//! Step (c): the `KeyPublication` leaf A appends to X's log, and the check that a leaf answers a
//! given request (used by B in step (d) and by the arbiter).
//!
//! The leaf is **sealed** (DESIGN §3.4, `entry::key_publication`): it commits to A and B under
//! the mail's salt [`mail_salt`] = `KDF("herald v1 cm mail salt", lp(nonce) ‖ lp(req_hash))`,
//! where `nonce` is B's fresh nonce inside the signed request. The request travels only
//! between the parties (inside PAEP) and in A's evidence bundle, so A, B and an arbiter derive
//! the salt and open the commitments, and a reader of the public log cannot. The gateway of X
//! is shown the [`publication_opening`] beside the leaf to check that A is its account.

use prost::Message as _;
use x25519_dalek::StaticSecret;

use super::CertMailError;
use super::keys::{MessageKey, WrappedKey, wrap_key};
use super::request::VerifiedKeyRequest;
use crate::entry::{
    KeyPublication, MailParties, PublicationOpening, SealedKeyPublication, is_sealed, lp,
    verify_key_publication,
};
use crate::paep::IdentitySigner;
use crate::wire::{decode_valid, pb};

/// The KDF label of a certified mail's salt.
pub const MAIL_SALT_LABEL: &str = "herald v1 cm mail salt";

/// The salt of `request`'s mail: `KDF("herald v1 cm mail salt", lp(nonce) ‖ lp(req_hash))`.
pub fn mail_salt(request: &VerifiedKeyRequest) -> [u8; 32] {
    let mut ikm = Vec::with_capacity(16 + 64);
    lp(&mut ikm, request.nonce());
    lp(&mut ikm, request.req_hash());
    blake3::derive_key(MAIL_SALT_LABEL, &ikm)
}

/// The parties of `request`'s mail with its salt: what opens its sealed publication's (and its
/// evidence records') commitments.
pub fn mail_parties(request: &VerifiedKeyRequest) -> Result<MailParties, CertMailError> {
    MailParties::new(mail_salt(request), request.sender(), request.recipient()).map_err(|error| {
        CertMailError::Signature {
            what: "publication opening",
            error,
        }
    })
}

/// The opening A sends beside its publication for `request`, signed by `author_key` (IK_A).
pub fn publication_opening(
    request: &VerifiedKeyRequest,
    author_key: [u8; 32],
) -> Result<pb::PublicationOpening, CertMailError> {
    Ok(PublicationOpening {
        parties: mail_parties(request)?,
        author_key,
    }
    .to_pb())
}

/// The encoded, sealed `LogEntry` A submits to X's log for `request` (with
/// [`publication_opening`] beside it): K wrapped to P_req with the ephemeral secret `a`,
/// signed by IK_A, stamped `created`.
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
    let parties = mail_parties(request)?;
    let (author_commitment, recipient_commitment) = parties.commitments();
    let publication = SealedKeyPublication {
        req_hash: *request.req_hash(),
        ciphertext_hash: *request.ciphertext_hash(),
        ephemeral_key,
        wrapped_key,
        author_commitment,
        recipient_commitment,
        created,
    };
    publication
        .sign_with(identity, parties.salt())
        .map(|entry| entry.encode_to_vec())
        .map_err(|e| CertMailError::KeyStore(e.to_string()))
}

/// Checks that the leaf `entry` is a `KeyPublication` answering `request`: it names the
/// request's req_hash and H(C), and its author is the request's sender. A named leaf (before
/// the privacy fix) names the sender and carries IK_A's signature, checked here. A sealed leaf's
/// commitments must open to the request's sender and recipient under the mail's salt; its
/// signature needs IK_A, which B and an arbiter are not given: the gateway of X checked it
/// against the account's bound key when it admitted the leaf, which is what the named leaf's
/// self-declared `author_key` rested on too. Returns the publication with its author opened.
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
    if is_sealed(&leaf) {
        let sealed =
            SealedKeyPublication::read(&leaf).map_err(|error| CertMailError::Signature {
                what: "publication",
                error,
            })?;
        if !sealed.opens_to(&mail_parties(request)?) {
            return Err(CertMailError::Mismatch {
                field: "KeyPublication.author_commitment",
            });
        }
        return Ok(KeyPublication {
            req_hash: sealed.req_hash,
            ciphertext_hash: sealed.ciphertext_hash,
            ephemeral_key: sealed.ephemeral_key,
            wrapped_key: sealed.wrapped_key,
            author: request.sender().to_owned(),
            created: sealed.created,
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
