//! Bundles built directly (not through the state machines), so arbiter tests can make every
//! part wrong in exactly one way: requests the sender would have refused, publications cosigned
//! at chosen times, receipts over chosen fields.

use herald_proto::certmail::{
    KeyRequestDraft, MessageKey, VerifiedKeyRequest, content_hash, encrypt_message,
    ephemeral_secret, publication_entry, receipt_signing_input, sign_request, verify_request,
};
use herald_proto::wire::pb;
use x25519_dalek::{PublicKey, StaticSecret};

use super::{ALICE, BOB, DEADLINE, NOW, TestRng, World};

/// One forged (or honest) certified mail: its bundle and the parts it was made from.
pub(crate) struct Forged {
    pub bundle: pb::EvidenceBundle,
    pub request: VerifiedKeyRequest,
    pub key: MessageKey,
    pub a: StaticSecret,
    pub entry: Vec<u8>,
}

pub(crate) const MSG_ID: &[u8] = b"msg-0001";

/// Bob's request for `plaintext` (after `edit`), signed by Bob; K and the request.
pub(crate) fn request(
    world: &World,
    rng: &mut TestRng,
    plaintext: &[u8],
    edit: impl FnOnce(&mut KeyRequestDraft),
) -> (MessageKey, Vec<u8>, VerifiedKeyRequest) {
    use rand_core::Rng as _;
    let key = MessageKey::generate(rng);
    let ciphertext = encrypt_message(&key, MSG_ID, plaintext).unwrap();
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    let mut draft = KeyRequestDraft {
        sender: ALICE.into(),
        recipient: BOB.into(),
        msg_id: MSG_ID.to_vec(),
        ciphertext_hash: content_hash(&ciphertext),
        key_commitment: key.commitment(),
        deadline: DEADLINE,
        location: world.location(),
        request_key: PublicKey::from(&ephemeral_secret(rng)).to_bytes(),
        expect: None,
        nonce,
        created: NOW,
    };
    edit(&mut draft);
    let request = verify_request(&sign_request(&draft, &world.bob).unwrap()).unwrap();
    (key, ciphertext, request)
}

/// A bundle with a publication appended to alpha and cosigned by `cosigners`.
pub(crate) fn publication(
    world: &mut World,
    rng: &mut TestRng,
    plaintext: &[u8],
    edit: impl FnOnce(&mut KeyRequestDraft),
    cosigners: &[(u8, u64)],
) -> Forged {
    let (key, ciphertext, request) = self::request(world, rng, plaintext, edit);
    let a = ephemeral_secret(rng);
    let entry = publication_entry(&request, &key, &a, &world.alice, NOW + 1).unwrap();
    let index = world.alpha.append(&entry);
    let note = world.alpha.cosigned(cosigners);
    let leaf = world.alpha.included(index, &note);
    let bundle = bundle(
        world,
        plaintext,
        &key,
        ciphertext,
        &request,
        pb::evidence_bundle::Delivery::Publication(pb::Publication {
            leaf: Some(leaf),
            ephemeral_secret: a.to_bytes().to_vec(),
        }),
    );
    Forged {
        bundle,
        request,
        key,
        a,
        entry,
    }
}

/// A bundle with Bob's receipt signed at `time` over (req_hash, H(C), c_K) after `edit`.
pub(crate) fn receipt(
    world: &World,
    rng: &mut TestRng,
    plaintext: &[u8],
    time: u64,
    edit: impl FnOnce(&mut pb::Receipt),
) -> pb::EvidenceBundle {
    use ed25519_dalek::Signer as _;
    let (key, ciphertext, request) = self::request(world, rng, plaintext, |_| {});
    let mut r = pb::Receipt {
        req_hash: request.req_hash().to_vec(),
        ciphertext_hash: request.ciphertext_hash().to_vec(),
        key_commitment: request.key_commitment().to_vec(),
        time,
        signature: Vec::new(),
    };
    edit(&mut r);
    let input = receipt_signing_input(&r.req_hash, &r.ciphertext_hash, &r.key_commitment, r.time);
    r.signature = world.bob.sign(&input).to_bytes().to_vec();
    bundle(
        world,
        plaintext,
        &key,
        ciphertext,
        &request,
        pb::evidence_bundle::Delivery::Receipt(r),
    )
}

pub(crate) fn bundle(
    world: &World,
    plaintext: &[u8],
    key: &MessageKey,
    ciphertext: Vec<u8>,
    request: &VerifiedKeyRequest,
    delivery: pb::evidence_bundle::Delivery,
) -> pb::EvidenceBundle {
    pb::EvidenceBundle {
        version: 1,
        plaintext: plaintext.to_vec(),
        message_key: key.as_bytes().to_vec(),
        ciphertext,
        request: Some(request.signed().clone()),
        recipient_binding: Some(world.bob_binding_leaf.clone()),
        recipient_domain: Some(world.beta.trust(2).to_pb()),
        delivery: Some(delivery),
    }
}

/// The bundle's publication leaf, to edit.
pub(crate) fn leaf_mut(bundle: &mut pb::EvidenceBundle) -> &mut pb::IncludedLeaf {
    match bundle.delivery.as_mut() {
        Some(pb::evidence_bundle::Delivery::Publication(p)) => p.leaf.as_mut().unwrap(),
        _ => panic!("not a publication bundle"),
    }
}
