//! Test support: an in-memory log signed with a known key, and a [`Gateway`] serving it that
//! can be told to misbehave. Proofs and checkpoints are made with `herald-proto` only.

use std::sync::Mutex;

use ed25519_dalek::SigningKey;
use herald_proto::checkpoint::Checkpoint;
use herald_proto::merkle::{
    Blake3Hasher, Hash, LogHasher, MemoryHashes, consistency_proof, inclusion_proof, tree_root,
};
use herald_proto::note::{NoteSigner, NoteVerifier};
use herald_proto::wire::pb;

use crate::error::{ClientError, GatewayRefusal};
use crate::gateway::{Gateway, Leaf};

/// A log of byte-string leaves, hashed with BLAKE3, whose checkpoints a fixed key signs.
#[derive(Clone, Debug)]
pub struct TestLog {
    signer: NoteSigner,
    leaves: Vec<Vec<u8>>,
}

impl TestLog {
    /// `alpha.test/herald` with `n` leaves `entry 0`, `entry 1`, ...
    pub fn new(n: u64) -> Self {
        Self::with_key("alpha.test/herald", [1; 32], n)
    }

    /// A log named `origin`, signed with the key of `seed`.
    pub fn with_key(origin: &str, seed: [u8; 32], n: u64) -> Self {
        TestLog {
            signer: NoteSigner::new(origin, SigningKey::from_bytes(&seed)).unwrap(),
            leaves: (0..n).map(|i| format!("entry {i}").into_bytes()).collect(),
        }
    }

    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    pub fn leaf(&self, index: u64) -> &[u8] {
        &self.leaves[index as usize]
    }

    pub fn leaf_hash(&self, index: u64) -> Hash {
        Blake3Hasher.hash_leaf(self.leaf(index))
    }

    pub fn push(&mut self, entry: Vec<u8>) -> u64 {
        self.leaves.push(entry);
        self.size() - 1
    }

    pub fn replace_leaf(&mut self, index: u64, entry: Vec<u8>) {
        self.leaves[index as usize] = entry;
    }

    fn hashes(&self) -> MemoryHashes {
        let leaves: Vec<Hash> = (0..self.size()).map(|i| self.leaf_hash(i)).collect();
        MemoryHashes::from_leaf_hashes(&Blake3Hasher, leaves).0
    }

    pub fn root(&self, size: u64) -> Hash {
        tree_root(&Blake3Hasher, &self.hashes(), size).unwrap()
    }

    /// The signed checkpoint of the first `size` leaves.
    pub fn checkpoint_note(&self, size: u64) -> Vec<u8> {
        self.sign_raw(size, self.root(size))
    }

    /// A checkpoint with any root, signed by the log's key.
    pub fn sign_raw(&self, size: u64, root: Hash) -> Vec<u8> {
        Checkpoint {
            origin: self.signer.name().to_owned(),
            size,
            root,
        }
        .sign(&self.signer)
        .unwrap()
        .to_string()
        .into_bytes()
    }

    pub fn inclusion(&self, index: u64, size: u64) -> pb::InclusionProof {
        let path = inclusion_proof(&Blake3Hasher, &self.hashes(), index, size).unwrap();
        pb::InclusionProof::new(index, size, &path)
    }

    pub fn consistency(&self, size1: u64, size2: u64) -> pb::ConsistencyProof {
        let path = consistency_proof(&Blake3Hasher, &self.hashes(), size1, size2).unwrap();
        pb::ConsistencyProof::new(size1, size2, &path)
    }
}

/// Ways the [`FakeGateway`] lies.
#[derive(Clone, Debug, Default)]
pub struct Mischief {
    /// Serve this tree size as the latest checkpoint instead of the whole log.
    pub checkpoint_size: Option<u64>,
    /// Drop the last hash of every inclusion proof.
    pub truncate_inclusion: bool,
    /// Add a hash to every consistency proof.
    pub extend_consistency: bool,
    /// Answer entry requests with another entry's bytes.
    pub wrong_entry: bool,
    /// Acknowledge submissions with this leaf hash.
    pub ack_leaf_hash: Option<Hash>,
    /// Answer every checkpoint request with this log's checkpoint instead.
    pub impostor: Option<TestLog>,
}

/// A gateway over a [`TestLog`], answering like `/herald/client/1` would.
#[derive(Debug)]
pub struct FakeGateway {
    pub log: Mutex<TestLog>,
    pub mischief: Mutex<Mischief>,
    /// What `cosigned_checkpoint` serves (`NOT_FOUND` when `None`).
    pub cosigned: Mutex<Option<Vec<u8>>>,
    /// What `alerts` serves.
    pub alerts: Mutex<Vec<pb::Equivocation>>,
}

impl FakeGateway {
    pub fn new(log: TestLog) -> Self {
        FakeGateway {
            log: Mutex::new(log),
            mischief: Mutex::new(Mischief::default()),
            cosigned: Mutex::new(None),
            alerts: Mutex::new(Vec::new()),
        }
    }

    pub fn set_log(&self, log: TestLog) {
        *self.log.lock().unwrap() = log;
    }

    pub fn lie(&self, f: impl FnOnce(&mut Mischief)) {
        f(&mut self.mischief.lock().unwrap());
    }

    fn out_of_range(size: u64) -> ClientError {
        ClientError::Refused(GatewayRefusal {
            kind: pb::ClientErrorKind::OutOfRange,
            message: "past the end".into(),
            retry_after: None,
            tree_size: Some(size),
        })
    }
}

impl Gateway for FakeGateway {
    async fn checkpoint(&self) -> Result<pb::SignedCheckpoint, ClientError> {
        let log = self.log.lock().unwrap();
        let m = self.mischief.lock().unwrap();
        let note = match &m.impostor {
            Some(other) => other.checkpoint_note(other.size()),
            None => log.checkpoint_note(m.checkpoint_size.unwrap_or(log.size())),
        };
        Ok(pb::SignedCheckpoint { note })
    }

    async fn submit(&self, entry: Vec<u8>) -> Result<pb::SubmitAck, ClientError> {
        let mut log = self.log.lock().unwrap();
        let m = self.mischief.lock().unwrap();
        let index = log.push(entry);
        Ok(pb::SubmitAck {
            index,
            leaf_hash: m.ack_leaf_hash.unwrap_or(log.leaf_hash(index)).to_vec(),
            checkpoint: Some(pb::SignedCheckpoint {
                note: log.checkpoint_note(log.size()),
            }),
        })
    }

    async fn entries(&self, start: u64, count: u32) -> Result<pb::EntryPage, ClientError> {
        let log = self.log.lock().unwrap();
        let m = self.mischief.lock().unwrap();
        if start >= log.size() {
            return Err(Self::out_of_range(log.size()));
        }
        let end = log.size().min(start + u64::from(count));
        let entries = (start..end)
            .map(|i| {
                let i = if m.wrong_entry {
                    (i + 1) % log.size()
                } else {
                    i
                };
                log.leaf(i).to_vec()
            })
            .collect();
        Ok(pb::EntryPage { start, entries })
    }

    async fn inclusion(
        &self,
        leaf: Leaf,
        tree_size: u64,
    ) -> Result<pb::InclusionAnswer, ClientError> {
        let log = self.log.lock().unwrap();
        let m = self.mischief.lock().unwrap();
        let size = if tree_size == 0 {
            log.size()
        } else {
            tree_size
        };
        let index = match leaf {
            Leaf::Index(i) => i,
            Leaf::Hash(h) => (0..size)
                .find(|&i| log.leaf_hash(i) == h)
                .ok_or_else(|| Self::out_of_range(size))?,
        };
        if index >= size || size > log.size() {
            return Err(Self::out_of_range(log.size()));
        }
        let mut proof = log.inclusion(index, size);
        if m.truncate_inclusion {
            proof.hashes.pop();
        }
        Ok(pb::InclusionAnswer {
            proof: Some(proof),
            leaf_hash: log.leaf_hash(index).to_vec(),
        })
    }

    async fn consistency(
        &self,
        size1: u64,
        size2: u64,
    ) -> Result<pb::ConsistencyProof, ClientError> {
        let log = self.log.lock().unwrap();
        let m = self.mischief.lock().unwrap();
        if size1 > size2 || size2 > log.size() {
            return Err(Self::out_of_range(log.size()));
        }
        let mut proof = log.consistency(size1, size2);
        if m.extend_consistency {
            proof.hashes.push(vec![0; 32]);
        }
        Ok(proof)
    }

    async fn cosigned_checkpoint(&self) -> Result<pb::SignedCheckpoint, ClientError> {
        match self.cosigned.lock().unwrap().clone() {
            Some(note) => Ok(pb::SignedCheckpoint { note }),
            None => Err(ClientError::Refused(GatewayRefusal {
                kind: pb::ClientErrorKind::NotFound,
                message: "nothing cosigned yet".into(),
                retry_after: None,
                tree_size: None,
            })),
        }
    }

    async fn alerts(&self, _origin: Option<&str>) -> Result<Vec<pb::Equivocation>, ClientError> {
        Ok(self.alerts.lock().unwrap().clone())
    }
}
