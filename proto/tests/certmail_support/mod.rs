//! An in-memory world for certified-mail tests: two domains' logs (alpha: the sender's, the
//! location X; beta: the recipient's, holding his identity binding), three witnesses that cosign
//! both with real cosignature/v1 signatures, the two parties' keys, and a seeded RNG.
//!
//! Logs are built with `CompactRange` and `MemoryHashes`; every checkpoint is signed by the log's
//! key and cosigned at timestamps the test chooses, so time is entirely in the test's hands.
#![allow(dead_code)] // each test file uses a different part

pub mod forge;

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
use herald_proto::checkpoint::{Checkpoint, VerifiedCheckpoint, WitnessPolicy, WitnessSigner};
use herald_proto::entry::{IdentityBinding, IdentityRevocation, sign_fallback_prekey};
use herald_proto::identity::{
    VerifiedBinding, VerifiedRevocation, verify_binding, verify_revocation,
};
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::{
    AnyHasher, CompactRange, HashAlgorithm, LogHasher, MemoryHashes, inclusion_proof,
};
use herald_proto::note::NoteSigner;
use herald_proto::wire::pb;
use prost::Message as _;

/// The tests' "now": every time is an offset from it.
pub const NOW: u64 = 1_800_000_000;
/// T: the deadline the recipient asks for.
pub const DEADLINE: u64 = NOW + 600;
/// δ of X.
pub const SKEW: u64 = 60;
/// MMD of X.
pub const MMD: u64 = 10;

pub const ALICE: &str = "alice@alpha.test";
pub const BOB: &str = "bob@beta.test";

/// A deterministic RNG: the BLAKE3 XOF of a seed. Tests pass it where production passes the OS's.
pub struct TestRng(blake3::OutputReader);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        let mut h = blake3::Hasher::new_derive_key("herald tests rng");
        h.update(&seed.to_le_bytes());
        TestRng(h.finalize_xof())
    }
}

impl rand_core::TryRng for TestRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0; 4];
        self.0.fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0; 8];
        self.0.fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for TestRng {}

pub fn witness(i: u8) -> WitnessSigner {
    WitnessSigner::new(
        &format!("w{i}.test"),
        SigningKey::from_bytes(&[100 + i; 32]),
    )
    .unwrap()
}

/// One domain's log in memory.
pub struct Log {
    pub key: SigningKey,
    pub signer: NoteSigner,
    pub h: AnyHasher,
    pub leaves: Vec<Vec<u8>>,
    pub store: MemoryHashes,
    pub range: CompactRange,
}

impl Log {
    pub fn new(domain: &str, seed: u8) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32]);
        Log {
            signer: NoteSigner::new(&format!("{domain}/herald"), key.clone()).unwrap(),
            key,
            h: AnyHasher(HashAlgorithm::Blake3),
            leaves: Vec::new(),
            store: MemoryHashes::new(),
            range: CompactRange::new(),
        }
    }

    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// Appends an encoded entry; returns its index.
    pub fn append(&mut self, entry: &[u8]) -> u64 {
        let index = self.range.size();
        let store = &mut self.store;
        self.range
            .append(&self.h, self.h.hash_leaf(entry), |id, hash| {
                store.store(id, *hash).unwrap()
            });
        self.leaves.push(entry.to_vec());
        index
    }

    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// The log-signed checkpoint at the current size.
    pub fn checkpoint(&self) -> VerifiedCheckpoint {
        let cp = Checkpoint {
            origin: self.origin().to_owned(),
            size: self.size(),
            root: self.range.root(&self.h),
        };
        let note = cp.sign(&self.signer).unwrap().to_string();
        VerifiedCheckpoint::verify(note.as_bytes(), &self.signer.verifier()).unwrap()
    }

    /// The current checkpoint cosigned by `(witness, timestamp)` pairs: note bytes.
    pub fn cosigned(&self, cosigners: &[(u8, u64)]) -> Vec<u8> {
        cosign(self.checkpoint(), cosigners)
    }

    /// Leaf `index` with its proof against `note` (whose size is taken from the note's body).
    pub fn included(&self, index: u64, note: &[u8]) -> pb::IncludedLeaf {
        let size = note_size(note);
        let hashes = inclusion_proof(&self.h, &self.store, index, size).unwrap();
        pb::IncludedLeaf {
            entry: self.leaves[index as usize].clone(),
            proof: Some(pb::InclusionProof::new(index, size, &hashes)),
            checkpoint: note.to_vec(),
        }
    }

    /// The right edge at `size`.
    pub fn edge(&self, size: u64) -> CompactRange {
        CompactRange::from_reader(&self.store, size).unwrap()
    }

    /// The trust description with witnesses 1..=3 and quorum `q`.
    pub fn trust(&self, q: usize) -> LogTrust {
        let ws = (1..=3).map(|i| witness(i).verifier()).collect();
        let policy = WitnessPolicy::new(self.signer.verifier(), ws, q).unwrap();
        LogTrust::new(policy, HashAlgorithm::Blake3)
    }
}

/// A log-signed checkpoint with cosignatures merged in.
pub fn cosign(mut cp: VerifiedCheckpoint, cosigners: &[(u8, u64)]) -> Vec<u8> {
    for &(i, t) in cosigners {
        let w = witness(i);
        let c = w.cosign(&cp, t).unwrap();
        cp = cp.with_cosignature(&w.verifier(), &c).unwrap();
    }
    cp.note().into_bytes()
}

pub fn note_size(note: &[u8]) -> u64 {
    let text = std::str::from_utf8(note).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}

/// The whole world at `NOW`: alpha (X) and beta (Bob's binding at index 1, after a filler leaf).
pub struct World {
    pub alpha: Log,
    pub beta: Log,
    pub alice: SigningKey,
    pub bob: SigningKey,
    pub bob_binding_leaf: pb::IncludedLeaf,
}

/// Witness timestamps of Bob's binding checkpoint.
pub const BINDING_COSIGNED: u64 = NOW - 900;
/// Bob's binding's valid_from.
pub const BOUND_FROM: u64 = NOW - 1000;

impl World {
    pub fn new() -> Self {
        let mut alpha = Log::new("alpha.test", 1);
        let mut beta = Log::new("beta.test", 2);
        // Some history in both logs, so indexes and proofs are not trivial.
        for i in 0..5u8 {
            alpha.append(&filler(i));
        }
        beta.append(&filler(9));
        let alice = SigningKey::from_bytes(&[11; 32]);
        let bob = SigningKey::from_bytes(&[12; 32]);
        let index = beta.append(&binding_entry(&beta, &bob, BOB, BOUND_FROM));
        beta.append(&filler(10));
        let note = beta.cosigned(&[
            (1, BINDING_COSIGNED),
            (2, BINDING_COSIGNED),
            (3, BINDING_COSIGNED),
        ]);
        let bob_binding_leaf = beta.included(index, &note);
        World {
            alpha,
            beta,
            alice,
            bob,
            bob_binding_leaf,
        }
    }

    /// X: alpha's log, witnesses 1..=3, quorum 2, δ = SKEW, MMD = MMD.
    pub fn location(&self) -> Location {
        Location::new(self.alpha.trust(2), SKEW, MMD).unwrap()
    }

    pub fn bob_binding(&self) -> VerifiedBinding {
        verify_binding(&self.beta.trust(2), &self.bob_binding_leaf, NOW, SKEW).unwrap()
    }

    /// Appends a revocation of Bob's key at `revoked_at`, cosigned at `cosigned_at`.
    pub fn revoke_bob(
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

    pub fn policy(&self, optimistic: bool) -> SenderPolicy {
        SenderPolicy {
            locations: vec![self.location()],
            witness_period: 30,
            margin: 60,
            max_wait: 7 * 24 * 3600,
            max_clock_skew: SKEW,
            optimistic,
        }
    }

    pub fn outgoing(&self, plaintext: &[u8]) -> Outgoing {
        Outgoing {
            sender: ALICE.into(),
            recipient: BOB.into(),
            msg_id: b"msg-0001".to_vec(),
            plaintext: plaintext.to_vec(),
            sign: true,
        }
    }

    /// Step (a).
    pub fn seal(
        &self,
        plaintext: &[u8],
        optimistic: bool,
        rng: &mut TestRng,
    ) -> (Sealed, pb::SealedMessage) {
        let (sealed, actions) = Sealed::seal(
            self.outgoing(plaintext),
            self.alice.clone(),
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
    pub fn request(
        &self,
        message: &pb::SealedMessage,
        expect: Option<Expectation>,
        rng: &mut TestRng,
    ) -> (Requested, pb::SignedKeyRequest) {
        let received = Received::receive(message.clone(), BOB, self.bob.clone()).unwrap();
        let terms = RequestTerms {
            deadline: DEADLINE,
            location: self.location(),
            expect,
        };
        let (requested, actions) = received.request(terms, NOW, rng).unwrap();
        let request = actions
            .iter()
            .find_map(|a| match a {
                RecipientAction::Send(ToSender::Request(r)) => Some((**r).clone()),
                _ => None,
            })
            .unwrap();
        (requested, request)
    }

    pub fn arrived(&self, request: &pb::SignedKeyRequest) -> SenderInput {
        SenderInput::Request(Box::new(RequestArrived {
            request: request.clone(),
            binding: self.bob_binding(),
            revocations: Vec::new(),
        }))
    }

    /// Appends `leaf` to alpha and cosigns the new checkpoint with witnesses 1..=3 at `at`;
    /// returns the included leaf.
    pub fn publish(&mut self, leaf: &[u8], at: u64) -> pb::IncludedLeaf {
        let index = self.alpha.append(leaf);
        let note = self.alpha.cosigned(&[(1, at), (2, at), (3, at)]);
        self.alpha.included(index, &note)
    }
}

pub fn filler(i: u8) -> Vec<u8> {
    pb::LogEntry {
        kind: Some(pb::log_entry::Kind::Notarization(pb::Notarization {
            digest: vec![i; 32],
            media_type: String::new(),
            label: format!("filler {i}"),
            author_key: vec![0; 32],
            created: 0,
            signature: vec![0; 64],
        })),
    }
    .encode_to_vec()
}

pub fn binding_entry(log: &Log, ik: &SigningKey, account: &str, valid_from: u64) -> Vec<u8> {
    let prekey = [7u8; 32];
    IdentityBinding {
        account: account.into(),
        identity_key: ik.verifying_key().to_bytes(),
        signed_prekey: prekey,
        signed_prekey_signature: sign_fallback_prekey(ik, account, &prekey),
        valid_from,
    }
    .sign(&log.key)
    .encode_to_vec()
}

/// The leaf a sender action list publishes.
pub fn published_leaf(actions: &[SenderAction]) -> Vec<u8> {
    actions
        .iter()
        .find_map(|a| match a {
            SenderAction::Publish(leaf) => Some(leaf.clone()),
            _ => None,
        })
        .expect("a publish action")
}

pub fn done_bundle(state: &SenderState) -> pb::EvidenceBundle {
    match state {
        SenderState::Done(done) => done.bundle().clone(),
        other => panic!("not done: {}", other.name()),
    }
}

pub fn decrypted(state: RecipientState) -> Decrypted {
    match state {
        RecipientState::Decrypted(d) => d,
        other => panic!("not decrypted: {other:?}"),
    }
}

/// The honest run through both state machines; returns the world, the finished bundle, the
/// recipient's result and the signed request.
pub fn honest_run(
    plaintext: &[u8],
    seed: u64,
) -> (World, pb::EvidenceBundle, Decrypted, pb::SignedKeyRequest) {
    let mut rng = TestRng::new(seed);
    let mut world = World::new();
    let (sealed, message) = world.seal(plaintext, false, &mut rng);
    let (requested, request) = world.request(&message, None, &mut rng);
    let (state, actions) = SenderState::Sealed(sealed)
        .handle(world.arrived(&request), NOW + 1, &mut rng)
        .unwrap();
    let leaf = world.publish(&published_leaf(&actions), NOW + 20);
    let (state, _) = state
        .handle(SenderInput::Included(leaf.clone()), NOW + 21, &mut rng)
        .unwrap();
    let bundle = done_bundle(&state);
    let (bob_state, _) = requested
        .handle(
            RecipientInput::Publication {
                leaf,
                trusted: None,
            },
            NOW + 22,
        )
        .unwrap();
    (world, bundle, decrypted(bob_state), request)
}
