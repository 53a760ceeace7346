//! The certified-mail driver end to end, every message moved as bytes: the honest run (the key
//! published at X, included in a checkpoint cosigned by a quorum), the optimistic run (direct
//! key and receipt), the optimistic sender that publishes when no receipt comes, a lapse, and a
//! recipient that refuses a publication from a log that showed it another tree. Keys never
//! leave the stores (the trait has no export), and a store's failure reaches the caller typed.

use crate::certmail_support::*;
use herald_light_client::MemoryCheckpointStore;
use herald_light_client::certmail::{
    CertMail, CertifiedMailError, Delivery, Letter, MemoryRecordStore, SenderStatus, SenderStep,
};
use herald_light_client::keystore::{KeyStoreError, SecretId, SecureKeyStore};
use herald_proto::certmail::CertMailError;
use herald_proto::evidence::{ArbiterContext, Check, Outcome, arbitrate_bytes};

const NOW: u64 = 1_800_000_000;
const DEADLINE: u64 = NOW + 600;

fn letter(text: &[u8]) -> Letter {
    Letter {
        recipient: BOB.into(),
        plaintext: text.to_vec(),
        sign: true,
    }
}

fn arbiter(world: &World, now: u64) -> ArbiterContext {
    ArbiterContext {
        now,
        max_skew: SKEW,
        trusted_logs: vec![world.beta.trust(2)],
        ..ArbiterContext::default()
    }
}

#[test]
fn the_honest_run_ends_in_evidence_the_arbiter_accepts() {
    let mut rng = TestRng::new(1);
    let mut world = World::new(NOW, &bob_key());
    let (mut alice, mut bob) = (memory_mail(ALICE, alice_key()), memory_mail(BOB, bob_key()));

    let (msg_id, steps) = alice
        .send(letter(b"the contract, signed"), &mut rng)
        .unwrap();
    let sealed = sealed_bytes(&steps);
    assert_eq!(
        alice.sender_status(&msg_id, NOW).unwrap(),
        SenderStatus::Sealed
    );

    let made = bob
        .request(&sealed, world.terms(DEADLINE), NOW, &mut rng)
        .unwrap();
    assert_eq!(made.origin, "alpha.test/herald");
    assert_eq!(made.wake_at, DEADLINE + SKEW + 1);
    assert_eq!(
        made.sender_key,
        Some(alice_key().verifying_key().to_bytes())
    );
    // P_req was made inside Bob's key store (only its public half came out).
    assert_eq!(secret_count(&bob), 1);

    let steps = alice
        .accept(
            &made.request,
            &world.binding(),
            &world.sender_config(false),
            NOW + 1,
            &mut rng,
        )
        .unwrap();
    let (req_hash, leaf) = publish_step(&steps);
    assert_eq!(req_hash, made.req_hash);
    // The sender keeps no secret in its store: `a` is evidence, in the record.
    assert_eq!(secret_count(&alice), 0);
    assert!(steps.contains(&SenderStep::WakeAt(DEADLINE + SKEW)));
    assert!(matches!(
        alice.sender_status(&msg_id, NOW + 2).unwrap(),
        SenderStatus::Published { limit, .. } if limit == DEADLINE + SKEW
    ));

    // The network part, by hand: the leaf lands in alpha and a quorum cosigns it.
    let included = world.publish(&leaf, NOW + 20);
    let steps = alice
        .take_inclusion(&req_hash, included.clone(), NOW + 21)
        .unwrap();
    let bundle = evidence_bytes(&steps);
    assert_eq!(alice.evidence(&msg_id).unwrap(), bundle);
    assert_eq!(
        alice.sender_status(&msg_id, NOW + 22).unwrap(),
        SenderStatus::Done
    );

    let checkpoints = MemoryCheckpointStore::new();
    let opened = bob
        .take_publication(&req_hash, included, &[], &checkpoints, NOW + 22)
        .unwrap();
    assert_eq!(opened.plaintext, b"the contract, signed");
    assert!(matches!(
        opened.delivery,
        Delivery::Published { on_time: true, .. }
    ));
    assert!(opened.receipt.is_none());
    // Bob now trusts that checkpoint of X.
    use herald_light_client::CheckpointStore as _;
    assert!(checkpoints.load("alpha.test/herald").unwrap().is_some());
    bob.forget_request(&req_hash).unwrap();
    assert_eq!(secret_count(&bob), 0);
    assert!(bob.requests().unwrap().is_empty());

    let verdict = arbitrate_bytes(&bundle, &arbiter(&world, NOW + 30)).unwrap();
    assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
    assert_eq!(verdict.decided_by, Check::PublicationCosignedInTime);
    assert!(verdict.fully_trusted());
}

#[test]
fn the_optimistic_run_ends_with_a_receipt() {
    let mut rng = TestRng::new(2);
    let world = World::new(NOW, &bob_key());
    let (mut alice, mut bob) = (memory_mail(ALICE, alice_key()), memory_mail(BOB, bob_key()));
    let (msg_id, steps) = alice.send(letter(b"optimism"), &mut rng).unwrap();
    let made = bob
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap();
    let steps = alice
        .accept(
            &made.request,
            &world.binding(),
            &world.sender_config(true),
            NOW + 1,
            &mut rng,
        )
        .unwrap();
    // Nothing to publish yet: K goes to Bob, and A waits until T − publishing time.
    assert!(
        !steps
            .iter()
            .any(|s| matches!(s, SenderStep::Publish { .. }))
    );
    assert!(steps.contains(&SenderStep::WakeAt(DEADLINE - 100)));
    assert!(matches!(
        alice.sender_status(&msg_id, NOW + 1).unwrap(),
        SenderStatus::AwaitingReceipt { publish_by, .. } if publish_by == DEADLINE - 100
    ));

    let opened = bob
        .take_direct_key(&direct_key_bytes(&steps), NOW + 2)
        .unwrap();
    assert_eq!(opened.plaintext, b"optimism");
    assert!(matches!(opened.delivery, Delivery::Direct { .. }));
    let receipt = opened.receipt.expect("a receipt for a direct key");

    // A direct key sent again (Bob lost the first) opens too.
    let again = alice.direct_key(&msg_id, NOW + 2, &mut rng).unwrap();
    assert_eq!(
        bob.take_direct_key(&again, NOW + 3).unwrap().plaintext,
        b"optimism"
    );

    let bundle = evidence_bytes(&alice.take_receipt(&receipt, NOW + 3).unwrap());
    let verdict = arbitrate_bytes(&bundle, &arbiter(&world, NOW + 4)).unwrap();
    assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
    assert_eq!(verdict.decided_by, Check::ReceiptKeyBound);
    // A second receipt has nothing left to finish.
    assert!(matches!(
        alice.take_receipt(&receipt, NOW + 5),
        Err(CertifiedMailError::UnknownMail { .. })
    ));
}

#[test]
fn an_optimistic_sender_publishes_when_no_receipt_comes() {
    let mut rng = TestRng::new(3);
    let mut world = World::new(NOW, &bob_key());
    let (mut alice, mut bob) = (memory_mail(ALICE, alice_key()), memory_mail(BOB, bob_key()));
    let (msg_id, steps) = alice.send(letter(b"silence"), &mut rng).unwrap();
    let made = bob
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap();
    alice
        .accept(
            &made.request,
            &world.binding(),
            &world.sender_config(true),
            NOW + 1,
            &mut rng,
        )
        .unwrap();
    let publish_by = DEADLINE - 100;
    // Too early: wait on.
    assert_eq!(
        alice.sender_timer(&msg_id, publish_by - 1).unwrap(),
        vec![SenderStep::WakeAt(publish_by)]
    );
    let steps = alice.sender_timer(&msg_id, publish_by).unwrap();
    let (req_hash, leaf) = publish_step(&steps);
    let included = world.publish(&leaf, publish_by + 30);
    let bundle = evidence_bytes(
        &alice
            .take_inclusion(&req_hash, included, publish_by + 31)
            .unwrap(),
    );
    let verdict = arbitrate_bytes(&bundle, &arbiter(&world, publish_by + 40)).unwrap();
    assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
}

#[test]
fn without_inclusion_by_t_plus_delta_the_mail_lapses() {
    let mut rng = TestRng::new(4);
    let mut world = World::new(NOW, &bob_key());
    let (mut alice, mut bob) = (memory_mail(ALICE, alice_key()), memory_mail(BOB, bob_key()));
    let (msg_id, steps) = alice.send(letter(b"late"), &mut rng).unwrap();
    let made = bob
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap();
    let steps = alice
        .accept(
            &made.request,
            &world.binding(),
            &world.sender_config(false),
            NOW + 1,
            &mut rng,
        )
        .unwrap();
    let (req_hash, leaf) = publish_step(&steps);
    let limit = DEADLINE + SKEW;
    assert_eq!(
        alice.sender_timer(&msg_id, limit).unwrap(),
        vec![SenderStep::WakeAt(limit + 1)]
    );
    assert!(
        alice
            .sender_timer(&msg_id, limit + 1)
            .unwrap()
            .contains(&SenderStep::Lapsed)
    );
    assert_eq!(
        alice.sender_status(&msg_id, limit + 1).unwrap(),
        SenderStatus::Lapsed { req_hash }
    );
    // Cosigned only after T + δ: not evidence.
    let late = world.publish(&leaf, limit + 5);
    assert!(matches!(
        alice.take_inclusion(&req_hash, late, limit + 6),
        Err(CertifiedMailError::Refused(CertMailError::Inclusion(_)))
    ));
    assert!(alice.evidence(&msg_id).is_err());
}

#[test]
fn a_recipient_refuses_a_publication_from_a_log_that_showed_it_another_tree() {
    let mut rng = TestRng::new(5);
    let mut world = World::new(NOW, &bob_key());
    let (mut alice, mut bob) = (memory_mail(ALICE, alice_key()), memory_mail(BOB, bob_key()));
    let (_, steps) = alice.send(letter(b"split"), &mut rng).unwrap();
    let made = bob
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap();
    let steps = alice
        .accept(
            &made.request,
            &world.binding(),
            &world.sender_config(false),
            NOW + 1,
            &mut rng,
        )
        .unwrap();
    let (req_hash, leaf) = publish_step(&steps);

    // Bob trusted a checkpoint of alpha (same key) over a forked history of the same size.
    let mut fork = MemoryLog::new("alpha.test", 1);
    for i in 0..5u8 {
        fork.append(&filler(i + 50));
    }
    let checkpoints = MemoryCheckpointStore::new();
    use herald_light_client::CheckpointStore as _;
    checkpoints.save(&fork.checkpoint()).unwrap();

    let before = world.alpha.size();
    let included = world.publish(&leaf, NOW + 20);
    let proof = herald_proto::merkle::consistency_proof(
        &world.alpha.h,
        &world.alpha.store,
        before,
        world.alpha.size(),
    )
    .unwrap();
    let refused = bob
        .take_publication(&req_hash, included.clone(), &proof, &checkpoints, NOW + 21)
        .unwrap_err();
    assert!(
        matches!(
            refused,
            CertifiedMailError::Refused(CertMailError::Inconsistent(_))
        ),
        "{refused:?}"
    );
    // The forked checkpoint is still the trusted one, and Bob can still open with honest state.
    assert_eq!(
        checkpoints.load("alpha.test/herald").unwrap().unwrap(),
        fork.checkpoint().note().into_bytes()
    );
    let honest = MemoryCheckpointStore::new();
    honest.save(&world.alpha.checkpoint()).unwrap();
    let opened = bob
        .take_publication(&req_hash, included, &[], &honest, NOW + 22)
        .unwrap();
    assert_eq!(opened.plaintext, b"split");
}

/// A store that fails one operation, as an app's store does when the device is locked.
struct Failing {
    inner: herald_light_client::keystore::MemoryKeyStore,
    fail: &'static str,
}

impl Failing {
    fn locked() -> KeyStoreError {
        KeyStoreError::InUse {
            path: std::path::PathBuf::from("/locked"),
        }
    }
}

impl SecureKeyStore for Failing {
    fn identity(&self) -> Option<herald_light_client::keystore::Identity> {
        self.inner.identity()
    }
    fn create_identity(
        &mut self,
        account: &str,
    ) -> Result<herald_light_client::keystore::Identity, KeyStoreError> {
        self.inner.create_identity(account)
    }
    fn sign(&self, message: &[u8]) -> Result<ed25519_dalek::Signature, KeyStoreError> {
        if self.fail == "sign" {
            return Err(Failing::locked());
        }
        self.inner.sign(message)
    }
    fn generate_secret(&mut self, id: &SecretId) -> Result<[u8; 32], KeyStoreError> {
        if self.fail == "create" {
            return Err(Failing::locked());
        }
        self.inner.generate_secret(id)
    }
    fn public_key(&self, id: &SecretId) -> Option<[u8; 32]> {
        self.inner.public_key(id)
    }
    fn diffie_hellman(&self, id: &SecretId, peer: &[u8; 32]) -> Result<[u8; 32], KeyStoreError> {
        if self.fail == "agree" {
            return Err(Failing::locked());
        }
        self.inner.diffie_hellman(id, peer)
    }
    fn erase(&mut self, id: &SecretId) -> Result<bool, KeyStoreError> {
        self.inner.erase(id)
    }
    fn secret_ids(&self) -> Vec<SecretId> {
        self.inner.secret_ids()
    }
}

fn failing(
    account: &str,
    key: ed25519_dalek::SigningKey,
    fail: &'static str,
) -> CertMail<Failing, MemoryRecordStore> {
    let inner = herald_light_client::keystore::MemoryKeyStore::with_identity(account, key).unwrap();
    CertMail::new(Failing { inner, fail }, MemoryRecordStore::new())
}

/// proto carries a key-store failure only as text; the driver hands the caller the store's own
/// error (an app acts on "locked"), and nothing is sent or kept.
#[test]
fn a_key_store_failure_reaches_the_caller_as_the_stores_error() {
    let mut rng = TestRng::new(5);
    let world = World::new(NOW, &bob_key());
    // The sender's store cannot sign: nothing sealed, nothing stored.
    let mut alice = failing(ALICE, alice_key(), "sign");
    let err = alice.send(letter(b"x"), &mut rng).unwrap_err();
    assert!(
        matches!(
            err,
            CertifiedMailError::KeyStore(KeyStoreError::InUse { .. })
        ),
        "{err:?}"
    );
    assert!(alice.sent().unwrap().is_empty());

    // The recipient's store cannot create P_req: no request.
    let mut alice = memory_mail(ALICE, alice_key());
    let (_, steps) = alice.send(letter(b"x"), &mut rng).unwrap();
    let mut bob = failing(BOB, bob_key(), "create");
    let err = bob
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap_err();
    assert!(
        matches!(
            err,
            CertifiedMailError::KeyStore(KeyStoreError::InUse { .. })
        ),
        "{err:?}"
    );
    assert!(bob.requests().unwrap().is_empty());
    // It makes P_req but cannot sign the request: P_req's secret is not left behind.
    let mut bob = failing(BOB, bob_key(), "sign");
    let err = bob
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap_err();
    assert!(
        matches!(
            err,
            CertifiedMailError::KeyStore(KeyStoreError::InUse { .. })
        ),
        "{err:?}"
    );
    assert!(bob.keys().secret_ids().is_empty());
    assert!(bob.requests().unwrap().is_empty());

    // The recipient's store cannot agree: the key is not opened, the request stays.
    let mut bob = failing(BOB, bob_key(), "agree");
    let made = bob
        .request(&sealed_bytes(&steps), world.terms(DEADLINE), NOW, &mut rng)
        .unwrap();
    let mut world = world;
    let accepted = alice
        .accept(
            &made.request,
            &world.binding(),
            &world.sender_config(false),
            NOW + 1,
            &mut rng,
        )
        .unwrap();
    let (req_hash, leaf) = publish_step(&accepted);
    let included = world.publish(&leaf, NOW + 20);
    let err = bob
        .take_publication(
            &req_hash,
            included,
            &[],
            &MemoryCheckpointStore::new(),
            NOW + 22,
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            CertifiedMailError::KeyStore(KeyStoreError::InUse { .. })
        ),
        "{err:?}"
    );
    assert_eq!(bob.requests().unwrap(), vec![req_hash]);
}
