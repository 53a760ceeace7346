//! Step (b): B's key request, its canonical signing input, `req_hash`, and
//! [`VerifiedKeyRequest`], made only by [`verify_request`].
//!
//! `req` ([`request_signing_input`]) is
//! `lp(KEY_REQUEST_LABEL) ‖ lp(A) ‖ lp(B) ‖ lp(msg_id) ‖ lp(H(C)) ‖ lp(c_K) ‖ lp(T) ‖ lp(X) ‖
//! lp(P_req) ‖ lp(expect) ‖ lp(nonce) ‖ lp(created) ‖ lp(IK_B)` with
//! - integers as 8-byte little-endian;
//! - `X = lp(log_key) ‖ lp(hash_algorithm as 4-byte LE schema number) ‖ lp(n as 8-byte LE) ‖
//!   lp(witness_key_1) ‖ … ‖ lp(witness_key_n) ‖ lp(quorum) ‖ lp(δ) ‖ lp(MMD)`, key strings as
//!   spelled in the request (which must be the canonical spelling, so parsing and re-encoding
//!   cannot change them);
//! - `expect` = empty when absent, else `lp(media_type) ‖ lp(max_size) ‖ lp(content_hash)` (the
//!   hash empty when not given; `max_size` 0 when unbounded).
//!
//! sig_B is IK_B's Ed25519 signature over `req`, and `req_hash = BLAKE3(lp(req) ‖ lp(sig_B))`.

use super::location::{Expectation, Location};
use super::{CertMailError, KEY_REQUEST_LABEL, field, signed};
use crate::entry::{lp, signing_input, verify_signature};
use crate::identity::{VerifiedBinding, VerifiedRevocation};
use crate::paep::IdentitySigner;
use crate::wire::{Validate as _, WireError, pb};

/// What B fills in to ask for a key (the request before B's key and signature are added).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRequestDraft {
    /// A.
    pub sender: String,
    /// B.
    pub recipient: String,
    /// The mail's identifier.
    pub msg_id: Vec<u8>,
    /// H(C).
    pub ciphertext_hash: [u8; 32],
    /// c_K.
    pub key_commitment: [u8; 32],
    /// T, Unix seconds.
    pub deadline: u64,
    /// X.
    pub location: Location,
    /// P_req.
    pub request_key: [u8; 32],
    /// What B expects, if anything.
    pub expect: Option<Expectation>,
    /// A fresh random nonce.
    pub nonce: [u8; 32],
    /// When B makes the request, Unix seconds.
    pub created: u64,
}

fn location_bytes(location: &pb::Location) -> Vec<u8> {
    let mut out = Vec::new();
    let log = location.log.clone().unwrap_or_default();
    lp(&mut out, log.log_key.as_bytes());
    lp(&mut out, &log.hash_algorithm.to_le_bytes());
    lp(&mut out, &(log.witness_keys.len() as u64).to_le_bytes());
    for key in &log.witness_keys {
        lp(&mut out, key.as_bytes());
    }
    lp(&mut out, &u64::from(log.quorum).to_le_bytes());
    lp(&mut out, &location.clock_skew.to_le_bytes());
    lp(&mut out, &location.max_merge_delay.to_le_bytes());
    out
}

fn expect_bytes(expect: Option<&pb::Expectation>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(e) = expect {
        lp(&mut out, e.media_type.as_bytes());
        lp(&mut out, &e.max_size.to_le_bytes());
        lp(&mut out, &e.content_hash);
    }
    out
}

/// `req`: the bytes sig_B covers (see the module documentation). A missing location is encoded
/// as an empty one; [`verify_request`] refuses such requests before signatures matter.
pub fn request_signing_input(request: &pb::KeyRequest) -> Vec<u8> {
    let location = location_bytes(&request.location.clone().unwrap_or_default());
    let expect = expect_bytes(request.expect.as_ref());
    signing_input(
        KEY_REQUEST_LABEL,
        &[
            request.sender.as_bytes(),
            request.recipient.as_bytes(),
            &request.msg_id,
            &request.ciphertext_hash,
            &request.key_commitment,
            &request.deadline.to_le_bytes(),
            &location,
            &request.request_key,
            &expect,
            &request.nonce,
            &request.created.to_le_bytes(),
            &request.recipient_key,
        ],
    )
}

/// `req_hash = BLAKE3(lp(req) ‖ lp(sig_B))`.
pub fn req_hash(request_signing_input: &[u8], signature: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&(request_signing_input.len() as u64).to_le_bytes());
    h.update(request_signing_input);
    h.update(&(signature.len() as u64).to_le_bytes());
    h.update(signature);
    *h.finalize().as_bytes()
}

/// B signs a request with IK_B through its key store; the request names IK_B as
/// `recipient_key`.
pub fn sign_request<S: IdentitySigner + ?Sized>(
    draft: &KeyRequestDraft,
    identity: &S,
) -> Result<pb::SignedKeyRequest, CertMailError> {
    let request = pb::KeyRequest {
        sender: draft.sender.clone(),
        recipient: draft.recipient.clone(),
        msg_id: draft.msg_id.clone(),
        ciphertext_hash: draft.ciphertext_hash.to_vec(),
        key_commitment: draft.key_commitment.to_vec(),
        deadline: draft.deadline,
        location: Some(draft.location.to_pb()),
        request_key: draft.request_key.to_vec(),
        expect: draft.expect.as_ref().map(Expectation::to_pb),
        nonce: draft.nonce.to_vec(),
        created: draft.created,
        recipient_key: identity.identity_key().to_vec(),
    };
    let signature = signed(identity, &request_signing_input(&request))?;
    Ok(pb::SignedKeyRequest {
        request: Some(request),
        signature: signature.to_vec(),
    })
}

/// The name under which B's key store holds the secret of a request's P_req: it is created
/// inside the store before the request is signed (so it cannot be named by req_hash), and
/// named by the request's fresh `nonce` instead, which the stored request carries.
pub fn request_secret_name(nonce: &[u8; 32]) -> String {
    let mut name = String::with_capacity(9 + 64);
    name.push_str("cm/p_req/");
    for b in nonce {
        name.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        name.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    name
}

/// A key request whose signature verifies under the key it names (`recipient_key`), with its
/// location and expectation parsed. Whether that key is B's is [`check_binding`]'s question.
///
/// [`check_binding`]: VerifiedKeyRequest::check_binding
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedKeyRequest {
    signed: pb::SignedKeyRequest,
    request: pb::KeyRequest,
    location: Location,
    expect: Option<Expectation>,
    req_hash: [u8; 32],
    ciphertext_hash: [u8; 32],
    key_commitment: [u8; 32],
    request_key: [u8; 32],
    recipient_key: [u8; 32],
}

/// Checks a signed request's form, location and signature; computes `req_hash`.
pub fn verify_request(signed: &pb::SignedKeyRequest) -> Result<VerifiedKeyRequest, CertMailError> {
    signed.validate()?;
    let request = signed.request.clone().ok_or(WireError::MissingField {
        field: "SignedKeyRequest.request",
    })?;
    let location =
        Location::from_pb(request.location.as_ref().ok_or(WireError::MissingField {
            field: "KeyRequest.location",
        })?)?;
    let expect = request
        .expect
        .as_ref()
        .map(Expectation::from_pb)
        .transpose()?;
    let input = request_signing_input(&request);
    verify_signature(&request.recipient_key, &input, &signed.signature).map_err(|error| {
        CertMailError::Signature {
            what: "request",
            error,
        }
    })?;
    Ok(VerifiedKeyRequest {
        req_hash: req_hash(&input, &signed.signature),
        ciphertext_hash: field("KeyRequest.ciphertext_hash", &request.ciphertext_hash)?,
        key_commitment: field("KeyRequest.key_commitment", &request.key_commitment)?,
        request_key: field("KeyRequest.request_key", &request.request_key)?,
        recipient_key: field("KeyRequest.recipient_key", &request.recipient_key)?,
        signed: signed.clone(),
        request,
        location,
        expect,
    })
}

impl VerifiedKeyRequest {
    /// B's fresh nonce, secret to the parties (the request travels inside PAEP, never in a log):
    /// it names P_req's secret ([`request_secret_name`]) and salts the mail's commitments.
    pub fn nonce(&self) -> &[u8] {
        &self.request.nonce
    }

    /// The signed request as received (for evidence).
    pub fn signed(&self) -> &pb::SignedKeyRequest {
        &self.signed
    }

    /// `req_hash = H(req ‖ sig_B)`.
    pub fn req_hash(&self) -> &[u8; 32] {
        &self.req_hash
    }

    /// A.
    pub fn sender(&self) -> &str {
        &self.request.sender
    }

    /// B.
    pub fn recipient(&self) -> &str {
        &self.request.recipient
    }

    /// The mail's identifier.
    pub fn msg_id(&self) -> &[u8] {
        &self.request.msg_id
    }

    /// H(C).
    pub fn ciphertext_hash(&self) -> &[u8; 32] {
        &self.ciphertext_hash
    }

    /// c_K.
    pub fn key_commitment(&self) -> &[u8; 32] {
        &self.key_commitment
    }

    /// T.
    pub fn deadline(&self) -> u64 {
        self.request.deadline
    }

    /// `T + δ`: the latest cosignature time that counts for the publication.
    pub fn publication_limit(&self) -> u64 {
        self.location.publication_limit(self.request.deadline)
    }

    /// X.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// P_req.
    pub fn request_key(&self) -> &[u8; 32] {
        &self.request_key
    }

    /// The expectation, if any.
    pub fn expect(&self) -> Option<&Expectation> {
        self.expect.as_ref()
    }

    /// When B made the request.
    pub fn created(&self) -> u64 {
        self.request.created
    }

    /// IK_B as named in the request.
    pub fn recipient_key(&self) -> &[u8; 32] {
        &self.recipient_key
    }

    /// Checks that `binding` binds this request's key to its recipient, and that the binding held
    /// at `created` given the `revocations` presented.
    pub fn check_binding(
        &self,
        binding: &VerifiedBinding,
        revocations: &[VerifiedRevocation],
    ) -> Result<(), CertMailError> {
        if binding.account() != self.recipient() {
            return Err(CertMailError::BindingMismatch { field: "account" });
        }
        if binding.identity_key() != &self.recipient_key {
            return Err(CertMailError::BindingMismatch {
                field: "identity key",
            });
        }
        binding.bound_at(self.created(), revocations)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{WitnessPolicy, WitnessSigner};
    use crate::inclusion::LogTrust;
    use crate::merkle::HashAlgorithm;
    use crate::note::NoteSigner;
    use ed25519_dalek::SigningKey;

    fn draft() -> KeyRequestDraft {
        let log = NoteSigner::new("alpha.test/herald", SigningKey::from_bytes(&[1; 32])).unwrap();
        let w = WitnessSigner::new("w.test", SigningKey::from_bytes(&[2; 32])).unwrap();
        let policy = WitnessPolicy::new(log.verifier(), vec![w.verifier()], 1).unwrap();
        KeyRequestDraft {
            sender: "alice@alpha.test".into(),
            recipient: "bob@beta.test".into(),
            msg_id: b"m-1".to_vec(),
            ciphertext_hash: [3; 32],
            key_commitment: [4; 32],
            deadline: 2_000,
            location: Location::new(LogTrust::new(policy, HashAlgorithm::Blake3), 60, 10).unwrap(),
            request_key: [5; 32],
            expect: None,
            nonce: [6; 32],
            created: 1_000,
        }
    }

    #[test]
    fn a_signed_request_verifies_and_hashes_as_documented() {
        let ik = SigningKey::from_bytes(&[7; 32]);
        let signed = sign_request(&draft(), &ik).unwrap();
        let v = verify_request(&signed).unwrap();
        let input = request_signing_input(signed.request.as_ref().unwrap());
        let mut framed = Vec::new();
        lp(&mut framed, &input);
        lp(&mut framed, &signed.signature);
        assert_eq!(v.req_hash(), blake3::hash(&framed).as_bytes());
        assert_eq!(v.recipient_key(), &ik.verifying_key().to_bytes());
        assert_eq!(v.location(), &draft().location);
        assert_eq!(v.publication_limit(), 2_060);
    }

    #[test]
    fn every_field_is_signed() {
        let ik = SigningKey::from_bytes(&[7; 32]);
        let good = sign_request(&draft(), &ik).unwrap();
        let edits: [fn(&mut pb::KeyRequest); 11] = [
            |r| r.sender.push('x'),
            |r| r.recipient.push('x'),
            |r| r.msg_id.push(0),
            |r| r.ciphertext_hash[0] ^= 1,
            |r| r.key_commitment[0] ^= 1,
            |r| r.deadline += 1,
            |r| r.location.as_mut().unwrap().clock_skew += 1,
            |r| r.request_key[0] ^= 1,
            |r| r.expect = Some(pb::Expectation::default()),
            |r| r.nonce[0] ^= 1,
            |r| r.created += 1,
        ];
        for edit in edits {
            let mut t = good.clone();
            edit(t.request.as_mut().unwrap());
            assert!(
                matches!(
                    verify_request(&t),
                    Err(CertMailError::Signature {
                        what: "request",
                        ..
                    })
                ),
                "{t:?}"
            );
        }
    }

    #[test]
    fn absent_and_empty_expectations_differ() {
        let mut a = sign_request(&draft(), &SigningKey::from_bytes(&[7; 32])).unwrap();
        let before = request_signing_input(a.request.as_ref().unwrap());
        a.request.as_mut().unwrap().expect = Some(pb::Expectation::default());
        assert_ne!(before, request_signing_input(a.request.as_ref().unwrap()));
    }
}
