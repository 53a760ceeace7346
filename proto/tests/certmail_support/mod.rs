//! An in-memory world for certified-mail tests, built from `herald_proto::testkit`: two
//! domains' logs (alpha: the sender's, the location X; beta: the recipient's, holding his
//! identity binding), three witnesses that cosign both with real cosignature/v1 signatures, the
//! two parties' keys, and a seeded RNG. What is here drives proto's own state machines.
//!
//! Every checkpoint is signed by the log's key and cosigned at timestamps the test chooses, so
//! time is entirely in the test's hands.
#![allow(dead_code, unused_imports)] // each test file uses a different part (and re-export)

pub(crate) mod forge;

use ed25519_dalek::SigningKey;
use herald_proto::certmail::recipient::{
    Decrypted, Received, RecipientAction, RecipientInput, RecipientState, RequestTerms, Requested,
    ToSender,
};
use herald_proto::certmail::sender::{
    Outgoing, RequestArrived, Sealed, SenderAction, SenderInput, SenderPolicy, SenderState,
    ToRecipient,
};
use herald_proto::certmail::{Expectation, Location};
use herald_proto::entry::IdentityRevocation;
use herald_proto::identity::{
    VerifiedBinding, VerifiedRevocation, verify_binding, verify_revocation,
};
use herald_proto::paep::MemoryCard;
pub(crate) use herald_proto::testkit::{
    ALICE, BOB, Domains, MMD, MemoryLog, SKEW, TestRng, binding_entry, cosign, filler, note_size,
    witness,
};
use herald_proto::testkit::{BINDING_COSIGNED_BEFORE, BOUND_BEFORE, alice_key, bob_key};
use herald_proto::wire::pb;
use prost::Message as _;

/// The tests' "now": every time is an offset from it.
pub(crate) const NOW: u64 = 1_800_000_000;
/// T: the deadline the recipient asks for.
pub(crate) const DEADLINE: u64 = NOW + 600;

/// The whole world at `NOW`: alpha (X) and beta (Bob's binding at index 1, after a filler leaf).
pub(crate) struct World {
    pub alpha: MemoryLog,
    pub beta: MemoryLog,
    pub alice: SigningKey,
    pub bob: SigningKey,
    /// Bob's key store: IK_B and the request secrets made inside it.
    pub bob_card: std::cell::RefCell<MemoryCard>,
    pub bob_binding_leaf: pb::IncludedLeaf,
}

/// Witness timestamps of Bob's binding checkpoint.
pub(crate) const BINDING_COSIGNED: u64 = NOW - BINDING_COSIGNED_BEFORE;
/// Bob's binding's valid_from.
pub(crate) const BOUND_FROM: u64 = NOW - BOUND_BEFORE;

impl World {
    pub(crate) fn new() -> Self {
        let bob = bob_key();
        let Domains {
            alpha,
            beta,
            bob_binding,
        } = Domains::new(NOW, &bob);
        World {
            alpha,
            beta,
            alice: alice_key(),
            bob_card: std::cell::RefCell::new(MemoryCard::new(bob.clone())),
            bob,
            bob_binding_leaf: bob_binding,
        }
    }

    /// Bob's key store, to sign and agree with (no request in flight may be holding it).
    pub(crate) fn bob_keys(&self) -> std::cell::Ref<'_, MemoryCard> {
        self.bob_card.borrow()
    }

    /// X: alpha's log, witnesses 1..=3, quorum 2, δ = SKEW, MMD = MMD.
    pub(crate) fn location(&self) -> Location {
        self.alpha.location()
    }

    pub(crate) fn bob_binding(&self) -> VerifiedBinding {
        verify_binding(&self.beta.trust(2), &self.bob_binding_leaf, NOW, SKEW).unwrap()
    }

    /// Appends a revocation of Bob's key at `revoked_at`, cosigned at `cosigned_at`.
    pub(crate) fn revoke_bob(
        &mut self,
        revoked_at: u64,
        cosigned_at: u64,
    ) -> (pb::IncludedLeaf, VerifiedRevocation) {
        let entry = IdentityRevocation {
            account: BOB.into(),
            identity_key: self.bob.verifying_key().to_bytes(),
            revoked_at,
        }
        .sign(&self.beta.key)
        .encode_to_vec();
        let index = self.beta.append(&entry);
        let note = self.beta.cosigned(&[(1, cosigned_at), (2, cosigned_at)]);
        let leaf = self.beta.included(index, &note);
        let verified =
            verify_revocation(&self.beta.trust(2), &leaf, cosigned_at.max(NOW) + 1, SKEW).unwrap();
        (leaf, verified)
    }

    pub(crate) fn policy(&self, optimistic: bool) -> SenderPolicy {
        SenderPolicy {
            locations: vec![self.location()],
            witness_period: 30,
            margin: 60,
            max_wait: 7 * 24 * 3600,
            max_clock_skew: SKEW,
            optimistic,
        }
    }

    pub(crate) fn outgoing(&self, plaintext: &[u8]) -> Outgoing {
        Outgoing {
            sender: ALICE.into(),
            recipient: BOB.into(),
            msg_id: b"msg-0001".to_vec(),
            plaintext: plaintext.to_vec(),
            sign: true,
        }
    }

    /// Step (a).
    pub(crate) fn seal(
        &self,
        plaintext: &[u8],
        optimistic: bool,
        rng: &mut TestRng,
    ) -> (Sealed, pb::SealedMessage) {
        let (sealed, actions) = Sealed::seal(
            self.outgoing(plaintext),
            &self.alice,
            self.policy(optimistic),
            rng,
        )
        .unwrap();
        let message = actions
            .iter()
            .find_map(|a| match a {
                SenderAction::Send(ToRecipient::Sealed(m)) => Some(m.clone()),
                _ => None,
            })
            .unwrap();
        (sealed, message)
    }

    /// Step (b) by Bob at `NOW` with deadline `DEADLINE` at X.
    pub(crate) fn request(
        &self,
        message: &pb::SealedMessage,
        expect: Option<Expectation>,
        rng: &mut TestRng,
    ) -> (Requested, pb::SignedKeyRequest) {
        let received = Received::receive(message.clone(), BOB).unwrap();
        let terms = RequestTerms {
            deadline: DEADLINE,
            location: self.location(),
            expect,
        };
        let (requested, actions) = received
            .request(terms, &mut *self.bob_card.borrow_mut(), NOW, rng)
            .unwrap();
        let request = actions
            .iter()
            .find_map(|a| match a {
                RecipientAction::Send(ToSender::Request(r)) => Some((**r).clone()),
                _ => None,
            })
            .unwrap();
        (requested, request)
    }

    pub(crate) fn arrived(&self, request: &pb::SignedKeyRequest) -> SenderInput {
        SenderInput::Request(Box::new(RequestArrived {
            request: request.clone(),
            binding: self.bob_binding(),
            revocations: Vec::new(),
        }))
    }

    /// Appends `leaf` to alpha and cosigns the new checkpoint with witnesses 1..=3 at `at`;
    /// returns the included leaf.
    pub(crate) fn publish(&mut self, leaf: &[u8], at: u64) -> pb::IncludedLeaf {
        let index = self.alpha.append(leaf);
        let note = self.alpha.cosigned(&[(1, at), (2, at), (3, at)]);
        self.alpha.included(index, &note)
    }
}

/// The leaf a sender action list publishes.
pub(crate) fn published_leaf(actions: &[SenderAction]) -> Vec<u8> {
    actions
        .iter()
        .find_map(|a| match a {
            SenderAction::Publish(leaf) => Some(leaf.clone()),
            _ => None,
        })
        .expect("a publish action")
}

pub(crate) fn done_bundle(state: &SenderState) -> pb::EvidenceBundle {
    match state {
        SenderState::Done(done) => done.bundle().clone(),
        other => panic!("not done: {}", other.name()),
    }
}

pub(crate) fn decrypted(state: RecipientState) -> Decrypted {
    match state {
        RecipientState::Decrypted(d) => d,
        other => panic!("not decrypted: {other:?}"),
    }
}

/// The honest run through both state machines; returns the world, the finished bundle, the
/// recipient's result and the signed request.
pub(crate) fn honest_run(
    plaintext: &[u8],
    seed: u64,
) -> (World, pb::EvidenceBundle, Decrypted, pb::SignedKeyRequest) {
    let mut rng = TestRng::new(seed);
    let mut world = World::new();
    let (sealed, message) = world.seal(plaintext, false, &mut rng);
    let (requested, request) = world.request(&message, None, &mut rng);
    let (state, actions) = SenderState::Sealed(sealed)
        .handle(world.arrived(&request), &world.alice, NOW + 1, &mut rng)
        .unwrap();
    let leaf = world.publish(&published_leaf(&actions), NOW + 20);
    let (state, _) = state
        .handle(
            SenderInput::Included(leaf.clone()),
            &world.alice,
            NOW + 21,
            &mut rng,
        )
        .unwrap();
    let bundle = done_bundle(&state);
    let (bob_state, _) = requested
        .handle(
            RecipientInput::Publication {
                leaf,
                trusted: None,
            },
            &*world.bob_keys(),
            NOW + 22,
        )
        .unwrap();
    (world, bundle, decrypted(bob_state), request)
}
