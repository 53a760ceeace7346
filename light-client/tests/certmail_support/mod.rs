//! An in-memory world for the certified-mail driver and CLI tests: alpha's log (the sender's,
//! the location X) and beta's log (the recipient's domain, holding Bob's identity binding),
//! three witnesses cosigning with real cosignature/v1 signatures, and the two accounts' stores.
//! Logs are built with proto's `CompactRange` and `MemoryHashes`; every checkpoint is signed by
//! the log key and cosigned at times the test chooses.
#![allow(dead_code)] // each test file uses a different part

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use herald_light_client::certmail::{
    BindingMaterial, CertMail, MemoryRecordStore, RecordStore, RequestTerms, SenderConfig,
    SenderPolicy, SenderStep,
};
use herald_light_client::keystore::{MemoryKeyStore, SecureKeyStore};
use herald_proto::certmail::Location;
use herald_proto::checkpoint::{Checkpoint, VerifiedCheckpoint, WitnessPolicy, WitnessSigner};
use herald_proto::entry::{IdentityBinding, sign_fallback_prekey};
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::{
    AnyHasher, CompactRange, HashAlgorithm, LogHasher, MemoryHashes, inclusion_proof,
};
use herald_proto::note::NoteSigner;
use herald_proto::wire::pb;
use prost::Message as _;

/// δ of X.
pub const SKEW: u64 = 60;
/// MMD of X.
pub const MMD: u64 = 10;
pub const ALICE: &str = "alice@alpha.test";
pub const BOB: &str = "bob@beta.test";

/// A deterministic RNG: the BLAKE3 XOF of a seed.
pub struct TestRng(blake3::OutputReader);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        let mut h = blake3::Hasher::new_derive_key("herald light-client tests rng");
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
            origin: self.signer.name().to_owned(),
            size: self.size(),
            root: self.range.root(&self.h),
        };
        let note = cp.sign(&self.signer).unwrap().to_string();
        VerifiedCheckpoint::verify(note.as_bytes(), &self.signer.verifier()).unwrap()
    }

    /// The current checkpoint cosigned by `(witness, timestamp)` pairs: note bytes.
    pub fn cosigned(&self, cosigners: &[(u8, u64)]) -> Vec<u8> {
        let mut cp = self.checkpoint();
        for &(i, t) in cosigners {
            let w = witness(i);
            let c = w.cosign(&cp, t).unwrap();
            cp = cp.with_cosignature(&w.verifier(), &c).unwrap();
        }
        cp.note().into_bytes()
    }

    /// Leaf `index` with its proof against `note`.
    pub fn included(&self, index: u64, note: &[u8]) -> pb::IncludedLeaf {
        let text = std::str::from_utf8(note).unwrap();
        let size: u64 = text.lines().nth(1).unwrap().parse().unwrap();
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

    /// Witnesses 1..=3 with quorum `q`.
    pub fn trust(&self, q: usize) -> LogTrust {
        let ws = (1..=3).map(|i| witness(i).verifier()).collect();
        let policy = WitnessPolicy::new(self.signer.verifier(), ws, q).unwrap();
        LogTrust::new(policy, HashAlgorithm::Blake3)
    }

    /// This log as a log file (TOML), δ and MMD included.
    pub fn log_file(&self, dir: &Path, name: &str) -> PathBuf {
        let witnesses: Vec<String> = (1..=3)
            .map(|i| format!("\"{}\"", witness(i).verifier()))
            .collect();
        let path = dir.join(name);
        fs::write(
            &path,
            format!(
                "log_key = \"{}\"\nhash = \"blake3\"\nwitness_keys = [{}]\nquorum = 2\nclock_skew = {SKEW}\nmax_merge_delay = {MMD}\n",
                self.signer.verifier(),
                witnesses.join(", ")
            ),
        )
        .unwrap();
        path
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

/// The two domains at time `now`. Bob's binding is in beta, cosigned at `now − 900`.
pub struct World {
    pub now: u64,
    pub alpha: Log,
    pub beta: Log,
    pub bob_binding: pb::IncludedLeaf,
}

impl World {
    /// A world whose binding is for `bob_key`.
    pub fn new(now: u64, bob_key: &SigningKey) -> Self {
        let mut alpha = Log::new("alpha.test", 1);
        let mut beta = Log::new("beta.test", 2);
        for i in 0..5u8 {
            alpha.append(&filler(i));
        }
        beta.append(&filler(9));
        let index = beta.append(&binding_entry(&beta, bob_key, BOB, now - 1000));
        beta.append(&filler(10));
        let at = now - 900;
        let note = beta.cosigned(&[(1, at), (2, at), (3, at)]);
        let bob_binding = beta.included(index, &note);
        World {
            now,
            alpha,
            beta,
            bob_binding,
        }
    }

    /// X: alpha, witnesses 1..=3, quorum 2, δ = SKEW, MMD = MMD.
    pub fn location(&self) -> Location {
        Location::new(self.alpha.trust(2), SKEW, MMD).unwrap()
    }

    pub fn terms(&self, deadline: u64) -> RequestTerms {
        RequestTerms {
            deadline,
            location: self.location(),
            expect: None,
        }
    }

    /// Alice publishes at alpha and trusts beta for bindings; publishing takes
    /// MMD + 30 + 60 = 100 s.
    pub fn sender_config(&self, optimistic: bool) -> SenderConfig {
        SenderConfig {
            policy: SenderPolicy {
                locations: vec![self.location()],
                witness_period: 30,
                margin: 60,
                max_wait: 86_400,
                max_clock_skew: SKEW,
                optimistic,
            },
            recipient_domains: vec![self.beta.trust(2)],
        }
    }

    pub fn binding(&self) -> BindingMaterial {
        BindingMaterial {
            binding: self.bob_binding.clone(),
            revocations: Vec::new(),
        }
    }

    /// Appends `leaf` to alpha, cosigned by witnesses 1 and 2 at `at`.
    pub fn publish(&mut self, leaf: &[u8], at: u64) -> pb::IncludedLeaf {
        let index = self.alpha.append(leaf);
        let note = self.alpha.cosigned(&[(1, at), (2, at)]);
        self.alpha.included(index, &note)
    }
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

pub type MemoryMail = CertMail<MemoryKeyStore, MemoryRecordStore>;

pub fn alice_key() -> SigningKey {
    SigningKey::from_bytes(&[11; 32])
}

pub fn bob_key() -> SigningKey {
    SigningKey::from_bytes(&[12; 32])
}

/// An account's driver over memory stores.
pub fn memory_mail(account: &str, key: SigningKey) -> MemoryMail {
    CertMail::new(
        MemoryKeyStore::with_identity(account, key).unwrap(),
        MemoryRecordStore::new(),
    )
}

/// The one step of a kind in a list.
pub fn sealed_bytes(steps: &[SenderStep]) -> Vec<u8> {
    steps
        .iter()
        .find_map(|s| match s {
            SenderStep::SendSealed(b) => Some(b.clone()),
            _ => None,
        })
        .expect("a sealed message to send")
}

pub fn direct_key_bytes(steps: &[SenderStep]) -> Vec<u8> {
    steps
        .iter()
        .find_map(|s| match s {
            SenderStep::SendDirectKey(b) => Some(b.clone()),
            _ => None,
        })
        .expect("a direct key to send")
}

pub fn publish_step(steps: &[SenderStep]) -> ([u8; 32], Vec<u8>) {
    steps
        .iter()
        .find_map(|s| match s {
            SenderStep::Publish { req_hash, leaf, .. } => Some((*req_hash, leaf.clone())),
            _ => None,
        })
        .expect("a publish step")
}

pub fn evidence_bytes(steps: &[SenderStep]) -> Vec<u8> {
    steps
        .iter()
        .find_map(|s| match s {
            SenderStep::Evidence(b) => Some(b.clone()),
            _ => None,
        })
        .expect("evidence")
}

/// A key store and records count no secrets the test did not expect.
pub fn secret_count(mail: &CertMail<impl SecureKeyStore, impl RecordStore>) -> usize {
    mail.keys().secret_ids().len()
}
