//! An in-memory world for the certified-mail driver and CLI tests, built from
//! `herald_proto::testkit`: alpha's log (the sender's, the location X) and beta's log (the
//! recipient's domain, holding Bob's identity binding), three witnesses cosigning with real
//! cosignature/v1 signatures, and the two accounts' stores. Every checkpoint is signed by the
//! log key and cosigned at times the test chooses. What is here is the light client's side:
//! its drivers, stores and log files.
#![allow(dead_code, unused_imports)] // each test file uses a different part (and re-export)

use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use herald_light_client::certmail::{
    BindingMaterial, CertMail, MemoryRecordStore, RecordStore, RequestTerms, SenderConfig,
    SenderPolicy, SenderStep,
};
use herald_light_client::keystore::{MemoryKeyStore, SecureKeyStore};
use herald_proto::certmail::Location;
pub(crate) use herald_proto::testkit::{
    ALICE, BOB, Domains, MMD, MemoryLog, SKEW, TestRng, alice_key, binding_entry, bob_key, filler,
    witness,
};
use herald_proto::wire::pb;

/// A log as the `herald` CLI reads it from a file.
pub(crate) trait LogFile {
    /// This log as a log file (TOML) in `dir`, witnesses 1..=3, quorum 2, δ and MMD included.
    fn log_file(&self, dir: &Path, name: &str) -> PathBuf;
}

impl LogFile for MemoryLog {
    fn log_file(&self, dir: &Path, name: &str) -> PathBuf {
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

/// The two domains at time `now`. Bob's binding is in beta, cosigned at `now − 900`.
pub(crate) struct World {
    pub now: u64,
    pub alpha: MemoryLog,
    pub beta: MemoryLog,
    pub bob_binding: pb::IncludedLeaf,
}

impl World {
    /// A world whose binding is for `bob_key` (a key, or a key store that signs with Bob's IK:
    /// the binding's prekey signature is made inside it).
    pub(crate) fn new<S: herald_proto::paep::IdentitySigner + ?Sized>(
        now: u64,
        bob_key: &S,
    ) -> Self {
        let Domains {
            alpha,
            beta,
            bob_binding,
        } = Domains::new(now, bob_key);
        World {
            now,
            alpha,
            beta,
            bob_binding,
        }
    }

    /// X: alpha, witnesses 1..=3, quorum 2, δ = SKEW, MMD = MMD.
    pub(crate) fn location(&self) -> Location {
        self.alpha.location()
    }

    pub(crate) fn terms(&self, deadline: u64) -> RequestTerms {
        RequestTerms {
            deadline,
            location: self.location(),
            expect: None,
        }
    }

    /// Alice publishes at alpha and trusts beta for bindings; publishing takes
    /// MMD + 30 + 60 = 100 s.
    pub(crate) fn sender_config(&self, optimistic: bool) -> SenderConfig {
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

    pub(crate) fn binding(&self) -> BindingMaterial {
        BindingMaterial {
            binding: self.bob_binding.clone(),
            revocations: Vec::new(),
        }
    }

    /// Appends `leaf` to alpha, cosigned by witnesses 1 and 2 at `at`.
    pub(crate) fn publish(&mut self, leaf: &[u8], at: u64) -> pb::IncludedLeaf {
        let index = self.alpha.append(leaf);
        let note = self.alpha.cosigned(&[(1, at), (2, at)]);
        self.alpha.included(index, &note)
    }
}

pub(crate) type MemoryMail = CertMail<MemoryKeyStore, MemoryRecordStore>;

/// An account's driver over memory stores.
pub(crate) fn memory_mail(account: &str, key: SigningKey) -> MemoryMail {
    CertMail::new(
        MemoryKeyStore::with_identity(account, key).unwrap(),
        MemoryRecordStore::new(),
    )
}

/// The one step of a kind in a list.
pub(crate) fn sealed_bytes(steps: &[SenderStep]) -> Vec<u8> {
    SenderStep::sealed_in(steps)
        .expect("a sealed message to send")
        .to_vec()
}

pub(crate) fn direct_key_bytes(steps: &[SenderStep]) -> Vec<u8> {
    SenderStep::direct_key_in(steps)
        .expect("a direct key to send")
        .to_vec()
}

pub(crate) fn publish_step(steps: &[SenderStep]) -> ([u8; 32], Vec<u8>) {
    let (req_hash, leaf) = SenderStep::publication_in(steps).expect("a publish step");
    (*req_hash, leaf.to_vec())
}

pub(crate) fn evidence_bytes(steps: &[SenderStep]) -> Vec<u8> {
    SenderStep::evidence_in(steps).expect("evidence").to_vec()
}

/// A key store and records count no secrets the test did not expect.
pub(crate) fn secret_count(mail: &CertMail<impl SecureKeyStore, impl RecordStore>) -> usize {
    mail.keys().secret_ids().len()
}
