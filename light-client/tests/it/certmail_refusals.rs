//! The sender's refusals through the driver: T too soon, an unknown location, a request that does
//! not match the sealed message, a bad request signature, a binding that does not verify, and a
//! recipient domain the sender does not know. Each refusal says why, changes nothing, and a good
//! request is accepted afterwards.

use crate::certmail_support::*;
use herald_light_client::certmail::{
    CertifiedMailError, Letter, RequestTerms, SenderStatus, decode_sealed,
};
use herald_proto::certmail::{CertMailError, Location};
use herald_proto::wire::pb;
use prost::Message as _;

const NOW: u64 = 1_800_000_000;
const DEADLINE: u64 = NOW + 600;

struct Setup {
    world: World,
    alice: MemoryMail,
    bob: MemoryMail,
    msg_id: Vec<u8>,
    sealed: Vec<u8>,
    rng: TestRng,
}

fn setup(seed: u64, sign: bool) -> Setup {
    let mut rng = TestRng::new(seed);
    let world = World::new(NOW, &bob_key());
    let mut alice = memory_mail(ALICE, alice_key());
    let bob = memory_mail(BOB, bob_key());
    let letter = Letter {
        recipient: BOB.into(),
        plaintext: b"terms and conditions".to_vec(),
        sign,
    };
    let (msg_id, steps) = alice.send(letter, &mut rng).unwrap();
    Setup {
        world,
        alice,
        bob,
        msg_id,
        sealed: sealed_bytes(&steps),
        rng,
    }
}

impl Setup {
    fn request(&mut self, sealed: &[u8], terms: RequestTerms) -> Vec<u8> {
        self.bob
            .request(sealed, terms, NOW, &mut self.rng)
            .unwrap()
            .request
    }

    fn accept(&mut self, request: &[u8]) -> Result<(), CertifiedMailError> {
        let config = self.world.sender_config(false);
        let binding = self.world.binding();
        self.alice
            .accept(request, &binding, &config, NOW + 1, &mut self.rng)
            .map(|_| ())
    }

    /// The refusal left the mail as it was, and a good request still goes through.
    fn still_accepts_a_good_request(mut self) {
        assert_eq!(
            self.alice.sender_status(&self.msg_id, NOW + 1).unwrap(),
            SenderStatus::Sealed
        );
        let sealed = self.sealed.clone();
        let good = self.request(&sealed, self.world.terms(DEADLINE));
        self.accept(&good).unwrap();
    }
}

#[test]
fn a_deadline_too_soon_is_refused() {
    let mut s = setup(1, true);
    let sealed = s.sealed.clone();
    // Publishing takes MMD + witness period + margin = 100 s; T = now + 50 is too soon.
    let request = s.request(&sealed, s.world.terms(NOW + 50));
    let e = s.accept(&request).unwrap_err();
    assert!(
        matches!(
            e,
            CertifiedMailError::Refused(CertMailError::DeadlineTooSoon { earliest, .. })
                if earliest == NOW + 1 + 100
        ),
        "{e:?}"
    );
    s.still_accepts_a_good_request();
}

#[test]
fn a_location_the_sender_does_not_publish_at_is_refused() {
    let mut s = setup(2, true);
    let sealed = s.sealed.clone();
    // X = beta's log: Alice publishes only at alpha.
    let terms = RequestTerms {
        deadline: DEADLINE,
        location: Location::new(s.world.beta.trust(2), SKEW, MMD).unwrap(),
        expect: None,
    };
    let request = s.request(&sealed, terms);
    assert!(matches!(
        s.accept(&request),
        Err(CertifiedMailError::Refused(CertMailError::UnknownLocation { origin }))
            if origin == "beta.test/herald"
    ));
    s.still_accepts_a_good_request();
}

#[test]
fn a_request_for_another_ciphertext_is_refused() {
    // Unsigned, so Bob cannot tell the ciphertext was changed on the way.
    let mut s = setup(3, false);
    let mut tampered = decode_sealed(&s.sealed).unwrap();
    tampered.ciphertext[0] ^= 1;
    let request = s.request(&tampered.encode_to_vec(), s.world.terms(DEADLINE));
    assert!(matches!(
        s.accept(&request),
        Err(CertifiedMailError::Refused(CertMailError::Mismatch {
            field: "ciphertext hash"
        }))
    ));
    s.still_accepts_a_good_request();
}

#[test]
fn a_bad_request_signature_is_refused() {
    let mut s = setup(4, true);
    let sealed = s.sealed.clone();
    let request = s.request(&sealed, s.world.terms(DEADLINE));
    let mut forged = pb::SignedKeyRequest::decode(request.as_slice()).unwrap();
    forged.signature[10] ^= 1;
    assert!(matches!(
        s.accept(&forged.encode_to_vec()),
        Err(CertifiedMailError::Refused(CertMailError::Signature {
            what: "request",
            ..
        }))
    ));
    // A request signed by another key than Bob's bound one: the signature verifies under the
    // key it names, but the binding says Bob's key is another.
    let mut other = memory_mail(BOB, alice_key());
    let request = other
        .request(&sealed, s.world.terms(DEADLINE), NOW, &mut s.rng)
        .unwrap()
        .request;
    assert!(matches!(
        s.accept(&request),
        Err(CertifiedMailError::Refused(
            CertMailError::BindingMismatch {
                field: "identity key"
            }
        ))
    ));
    s.still_accepts_a_good_request();
}

#[test]
fn a_binding_that_does_not_verify_or_an_unknown_domain_is_refused() {
    let mut s = setup(5, true);
    let sealed = s.sealed.clone();
    let request = s.request(&sealed, s.world.terms(DEADLINE));
    let config = s.world.sender_config(false);
    // A binding whose proof was cut short.
    let mut binding = s.world.binding();
    binding.binding.proof.as_mut().unwrap().hashes.pop();
    assert!(matches!(
        s.alice
            .accept(&request, &binding, &config, NOW + 1, &mut s.rng),
        Err(CertifiedMailError::Binding(_))
    ));
    // A sender that trusts no log of beta.test cannot check Bob's key.
    let mut blind = config.clone();
    blind.recipient_domains.clear();
    assert!(matches!(
        s.alice
            .accept(&request, &s.world.binding(), &blind, NOW + 1, &mut s.rng),
        Err(CertifiedMailError::UnknownDomain { .. })
    ));
    // Garbage is malformed, not a crash.
    assert!(matches!(
        s.alice.accept(
            &[0xff; 40],
            &s.world.binding(),
            &config,
            NOW + 1,
            &mut s.rng
        ),
        Err(CertifiedMailError::Malformed { .. })
    ));
    s.still_accepts_a_good_request();
}

#[test]
fn a_request_for_a_mail_not_sent_from_here_is_unknown() {
    let mut s = setup(6, true);
    let mut carol = memory_mail(ALICE, alice_key());
    let sealed = s.sealed.clone();
    let request = s.request(&sealed, s.world.terms(DEADLINE));
    assert!(matches!(
        carol.accept(
            &request,
            &s.world.binding(),
            &s.world.sender_config(false),
            NOW + 1,
            &mut s.rng
        ),
        Err(CertifiedMailError::UnknownMail { .. })
    ));
    // And a sealed message for Carol is not Bob's to request.
    let mut carol_mail = memory_mail("carol@beta.test", bob_key());
    assert!(matches!(
        carol_mail.request(&sealed, s.world.terms(DEADLINE), NOW, &mut s.rng),
        Err(CertifiedMailError::NotOurs { .. })
    ));
    // The same request twice: the second finds the mail accepted.
    s.accept(&request).unwrap();
    assert!(matches!(
        s.accept(&request),
        Err(CertifiedMailError::WrongState { .. })
    ));
}
