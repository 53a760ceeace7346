//! Test fixtures for herald-proto's own tests and for the crates built on it: in-memory logs
//! with real log keys, witnesses cosigning with real cosignature/v1 signatures, two accounts
//! with real identity bindings, and a deterministic RNG.
//!
//! Compiled only with the `testkit` feature, which only dev-dependencies turn on: it is never
//! part of a normal build (`cargo tree -p herald-proto -e normal` is the same with or without
//! it, since it adds no dependency).
//!
//! Nothing here fakes a check. Every checkpoint is signed by its log's key and verified before
//! it is handed out, every cosignature verifies under its witness's key, every inclusion proof
//! is computed from the tree, every binding is signed by the identity key and the log key. Like
//! the rest of proto, nothing reads a clock or the OS's randomness: times are the caller's, and
//! [`TestRng`] is seeded. Builders panic on misuse (a leaf index past the end, a malformed
//! note): in a test that is a failed test, which is what misuse should be.
//!
//! The world the fixtures describe (DESIGN §3.3): `alpha.test` is the sender Alice's domain and
//! the location X; `beta.test` is the recipient Bob's, whose log holds his identity binding.
//! Witnesses `w1.test` to `w3.test` cosign both logs.

pub mod reference;

use ed25519_dalek::SigningKey;

use crate::certmail::Location;
use crate::checkpoint::{Checkpoint, VerifiedCheckpoint, WitnessPolicy, WitnessSigner};
use crate::entry::{IdentityBinding, fallback_prekey_signing_input};
use crate::inclusion::LogTrust;
use crate::merkle::{
    AnyHasher, CompactRange, Hash, HashAlgorithm, LogHasher as _, MemoryHashes, consistency_proof,
    inclusion_proof, tree_root,
};
use crate::note::NoteSigner;
use crate::wire::pb;
use prost::Message as _;

/// δ of the location X the fixtures describe: the clock skew allowed, in seconds.
pub const SKEW: u64 = 60;
/// MMD of X: the log's maximum merge delay, in seconds.
pub const MMD: u64 = 10;
/// The sender's account.
pub const ALICE: &str = "alice@alpha.test";
/// The recipient's account.
pub const BOB: &str = "bob@beta.test";
/// How long before "now" Bob's binding is valid from ([`Domains::new`]).
pub const BOUND_BEFORE: u64 = 1000;
/// How long before "now" the checkpoint covering Bob's binding is cosigned ([`Domains::new`]).
pub const BINDING_COSIGNED_BEFORE: u64 = 900;
/// Bob's fallback prekey in bindings made by [`binding_entry`].
pub const PREKEY: [u8; 32] = [7; 32];

/// Alice's identity key (IK).
pub fn alice_key() -> SigningKey {
    SigningKey::from_bytes(&[11; 32])
}

/// Bob's identity key (IK).
pub fn bob_key() -> SigningKey {
    SigningKey::from_bytes(&[12; 32])
}

/// A deterministic RNG: the BLAKE3 XOF of a seed. Tests pass it where production passes the OS's.
pub struct TestRng(blake3::OutputReader);

impl TestRng {
    /// The stream of `seed`; one seed, one stream.
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

/// Witness `i` (`w<i>.test`, key seed `100 + i`).
pub fn witness(i: u8) -> WitnessSigner {
    WitnessSigner::new(
        &format!("w{i}.test"),
        SigningKey::from_bytes(&[100 + i; 32]),
    )
    .expect("w<i>.test is a valid key name")
}

/// One domain's log in memory: its key, its leaves and its Merkle tree (BLAKE3).
pub struct MemoryLog {
    /// The log key (what signs checkpoints and the log's own entries, such as bindings).
    pub key: SigningKey,
    /// The same key as a note signer named `<domain>/herald`.
    pub signer: NoteSigner,
    /// The log's hash.
    pub h: AnyHasher,
    /// Every entry, in order.
    pub leaves: Vec<Vec<u8>>,
    /// Every tree node stored so far (for proofs).
    pub store: MemoryHashes,
    /// The right edge of the tree (for roots).
    pub range: CompactRange,
}

impl MemoryLog {
    /// The empty log of `domain` (origin `<domain>/herald`), its key made from `seed`.
    pub fn new(domain: &str, seed: u8) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32]);
        MemoryLog {
            signer: NoteSigner::new(&format!("{domain}/herald"), key.clone())
                .expect("<domain>/herald is a valid key name"),
            key,
            h: AnyHasher(HashAlgorithm::Blake3),
            leaves: Vec::new(),
            store: MemoryHashes::new(),
            range: CompactRange::new(),
        }
    }

    /// The origin, `<domain>/herald`.
    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    /// Appends an encoded entry; returns its index.
    pub fn append(&mut self, entry: &[u8]) -> u64 {
        let index = self.range.size();
        let store = &mut self.store;
        self.range
            .append(&self.h, self.h.hash_leaf(entry), |id, hash| {
                // The compact range hands out each node once, in order: never a conflict.
                store.store(id, *hash).expect("a new tree node")
            });
        self.leaves.push(entry.to_vec());
        index
    }

    /// The number of leaves.
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
        let note = cp
            .sign(&self.signer)
            .expect("a checkpoint of this log")
            .to_string();
        VerifiedCheckpoint::verify(note.as_bytes(), &self.signer.verifier())
            .expect("signed by this log's key")
    }

    /// The log-signed checkpoint of its first `size` leaves (`size` at most the current size).
    pub fn checkpoint_at(&self, size: u64) -> VerifiedCheckpoint {
        let cp = Checkpoint {
            origin: self.origin().to_owned(),
            size,
            root: tree_root(&self.h, &self.store, size).expect("a size this log has had"),
        };
        let note = cp
            .sign(&self.signer)
            .expect("a checkpoint of this log")
            .to_string();
        VerifiedCheckpoint::verify(note.as_bytes(), &self.signer.verifier())
            .expect("signed by this log's key")
    }

    /// The consistency proof from `size1` to `size2`, as the log would serve it.
    pub fn consistency(&self, size1: u64, size2: u64) -> Vec<Hash> {
        consistency_proof(&self.h, &self.store, size1, size2).expect("sizes this log has had")
    }

    /// The audit path of leaf `index` in the tree of `size`, as the log would serve it.
    pub fn inclusion(&self, index: u64, size: u64) -> pb::InclusionProof {
        let hashes = inclusion_proof(&self.h, &self.store, index, size)
            .expect("a leaf and a size this log has");
        pb::InclusionProof::new(index, size, &hashes)
    }

    /// The log as a verifier that knows only its key and hash knows it (no witness policy).
    pub fn unwitnessed(&self) -> LogTrust {
        LogTrust::unwitnessed(self.signer.verifier(), HashAlgorithm::Blake3)
    }

    /// The current checkpoint cosigned by `(witness, timestamp)` pairs: note bytes.
    pub fn cosigned(&self, cosigners: &[(u8, u64)]) -> Vec<u8> {
        cosign(self.checkpoint(), cosigners)
    }

    /// Leaf `index` with its proof against `note` (whose size is taken from the note's body).
    pub fn included(&self, index: u64, note: &[u8]) -> pb::IncludedLeaf {
        let size = note_size(note);
        let hashes = inclusion_proof(&self.h, &self.store, index, size)
            .expect("a leaf and a size this log has");
        pb::IncludedLeaf {
            entry: self.leaves[index as usize].clone(),
            proof: Some(pb::InclusionProof::new(index, size, &hashes)),
            checkpoint: note.to_vec(),
        }
    }

    /// The right edge of the tree at `size`.
    pub fn edge(&self, size: u64) -> CompactRange {
        CompactRange::from_reader(&self.store, size).expect("a size this log has had")
    }

    /// This log as a location X: witnesses 1..=3, quorum 2, δ = [`SKEW`], MMD = [`MMD`].
    pub fn location(&self) -> Location {
        Location::new(self.trust(2), SKEW, MMD).expect("δ and MMD within bounds")
    }

    /// The log with witnesses 1..=3 and quorum `q`.
    pub fn trust(&self, q: usize) -> LogTrust {
        let ws = (1..=3).map(|i| witness(i).verifier()).collect();
        let policy = WitnessPolicy::new(self.signer.verifier(), ws, q).expect("1 ≤ q ≤ 3");
        LogTrust::new(policy, HashAlgorithm::Blake3)
    }
}

/// A log-signed checkpoint with the cosignatures of `(witness, timestamp)` pairs merged in.
pub fn cosign(mut cp: VerifiedCheckpoint, cosigners: &[(u8, u64)]) -> Vec<u8> {
    for &(i, t) in cosigners {
        let w = witness(i);
        let c = w.cosign(&cp, t).expect("cosigning a verified checkpoint");
        cp = cp
            .with_cosignature(&w.verifier(), &c)
            .expect("the witness's own cosignature");
    }
    cp.note().into_bytes()
}

/// The tree size in a checkpoint note's body.
pub fn note_size(note: &[u8]) -> u64 {
    std::str::from_utf8(note)
        .ok()
        .and_then(|text| text.lines().nth(1))
        .and_then(|line| line.parse().ok())
        .expect("a checkpoint note")
}

/// `hash` with its first byte's low bit flipped: a tampered proof hash (proof messages hold
/// their hashes as `bytes::Bytes`, which are not changed in place).
pub fn flipped(hash: &[u8]) -> bytes::Bytes {
    let mut bad = hash.to_vec();
    if let Some(first) = bad.first_mut() {
        *first ^= 1;
    }
    bad.into()
}

/// An unremarkable entry (a notarization labelled `filler <i>`), so indexes and proofs in a
/// test log are not trivial.
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

/// The identity binding of `account` to `ik` (a key, or a key store that signs with it) from
/// `valid_from`, with [`PREKEY`] signed by `ik` and the binding signed by `log`'s key: the entry
/// as the log would append it. Panics if the store does not sign (test data only).
pub fn binding_entry<S: crate::paep::IdentitySigner + ?Sized>(
    log: &MemoryLog,
    ik: &S,
    account: &str,
    valid_from: u64,
) -> Vec<u8> {
    let prekey_signature = ik
        .sign(&fallback_prekey_signing_input(account, &PREKEY))
        .unwrap_or_else(|e| panic!("the test key store does not sign: {e}"));
    IdentityBinding {
        account: account.into(),
        identity_key: ik.identity_key(),
        signed_prekey: PREKEY,
        signed_prekey_signature: prekey_signature,
        valid_from,
    }
    .sign(&log.key)
    .encode_to_vec()
}

/// The two domains at a time `now`: alpha (X, five filler entries) and beta (Bob's binding at
/// index 1 between two fillers, valid from `now − BOUND_BEFORE`, in a checkpoint cosigned by
/// witnesses 1..=3 at `now − BINDING_COSIGNED_BEFORE`).
pub struct Domains {
    /// Alice's domain and the location X (`alpha.test/herald`, key seed 1).
    pub alpha: MemoryLog,
    /// Bob's domain (`beta.test/herald`, key seed 2).
    pub beta: MemoryLog,
    /// Bob's binding with its proof against beta's cosigned checkpoint.
    pub bob_binding: pb::IncludedLeaf,
}

impl Domains {
    /// The domains at `now`, Bob's binding for `bob` (usually [`bob_key`], or a key store
    /// holding Bob's IK).
    pub fn new<S: crate::paep::IdentitySigner + ?Sized>(now: u64, bob: &S) -> Self {
        let mut alpha = MemoryLog::new("alpha.test", 1);
        let mut beta = MemoryLog::new("beta.test", 2);
        for i in 0..5u8 {
            alpha.append(&filler(i));
        }
        beta.append(&filler(9));
        let index = beta.append(&binding_entry(&beta, bob, BOB, now - BOUND_BEFORE));
        beta.append(&filler(10));
        let at = now - BINDING_COSIGNED_BEFORE;
        let note = beta.cosigned(&[(1, at), (2, at), (3, at)]);
        let bob_binding = beta.included(index, &note);
        Domains {
            alpha,
            beta,
            bob_binding,
        }
    }

    /// X: alpha's log ([`MemoryLog::location`]).
    pub fn location(&self) -> Location {
        self.alpha.location()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::verify_binding;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn the_fixtures_verify_like_real_ones() {
        let domains = Domains::new(NOW, &bob_key());
        // Bob's binding verifies under beta's policy: real signatures and a real proof.
        let binding = verify_binding(&domains.beta.trust(3), &domains.bob_binding, NOW, SKEW)
            .expect("the fixture binding verifies");
        assert_eq!(binding.account(), BOB);
        assert_eq!(
            binding.identity_key(),
            &bob_key().verifying_key().to_bytes()
        );
        assert_eq!(binding.valid_from(), NOW - BOUND_BEFORE);
        // A cosigned checkpoint of alpha proves each of its leaves, and only under its quorum.
        let note = domains.alpha.cosigned(&[(1, NOW), (2, NOW)]);
        assert_eq!(note_size(&note), 5);
        let leaf = domains.alpha.included(3, &note);
        assert_eq!(leaf.entry, filler(3));
        let trust = domains.alpha.trust(2);
        let included = trust.verify_included(&leaf, NOW, NOW, SKEW).unwrap();
        assert_eq!(included.index(), 3);
        let strict = domains.alpha.trust(3);
        assert!(strict.verify_included(&leaf, NOW, NOW, SKEW).is_err());
        // A leaf changed after the fact no longer verifies.
        let mut forged = leaf;
        forged.entry = filler(4);
        assert!(trust.verify_included(&forged, NOW, NOW, SKEW).is_err());
    }

    #[test]
    fn one_seed_one_stream() {
        use rand_core::Rng as _;
        let (mut a, mut b, mut c) = (TestRng::new(1), TestRng::new(1), TestRng::new(2));
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
    }
}
