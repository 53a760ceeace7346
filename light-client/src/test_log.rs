//! Test support: an in-memory log signed with a known key, and a [`Gateway`] serving it that
//! can be told to misbehave. Proofs and checkpoints are made with `herald-proto` only.

use std::sync::Mutex;

use ed25519_dalek::SigningKey;
use herald_proto::certmail::{
    KeyRequestDraft, Location, VerifiedKeyRequest, sign_request, verify_request,
};
use herald_proto::checkpoint::{Checkpoint, VerifiedCheckpoint, WitnessPolicy, WitnessSigner};
use herald_proto::inclusion::LogTrust;
use herald_proto::merkle::HashAlgorithm;
use herald_proto::merkle::{
    Blake3Hasher, Hash, LogHasher, MemoryHashes, consistency_proof, inclusion_proof, range_proof,
    tree_root,
};
use herald_proto::note::{NoteSigner, NoteVerifier};
use herald_proto::wire::{hash_list, pb};
use prost::Message as _;

use herald_proto::wire::pb::client_response::Response;

use crate::error::ClientError;
use crate::gateway::{Gateway, Leaf};
use crate::lies::Liar;

/// A log of byte-string leaves, hashed with BLAKE3, whose checkpoints a fixed key signs.
#[derive(Clone, Debug)]
pub(crate) struct TestLog {
    key: SigningKey,
    signer: NoteSigner,
    leaves: Vec<Vec<u8>>,
}

impl TestLog {
    /// `alpha.test/herald` with `n` leaves `entry 0`, `entry 1`, ...
    pub(crate) fn new(n: u64) -> Self {
        Self::with_key("alpha.test/herald", [1; 32], n)
    }

    /// A log named `origin`, signed with the key of `seed`.
    pub(crate) fn with_key(origin: &str, seed: [u8; 32], n: u64) -> Self {
        TestLog {
            key: SigningKey::from_bytes(&seed),
            signer: NoteSigner::new(origin, SigningKey::from_bytes(&seed)).unwrap(),
            leaves: (0..n).map(|i| format!("entry {i}").into_bytes()).collect(),
        }
    }

    /// The log's (and its gateway's) signing key.
    pub(crate) fn key(&self) -> &SigningKey {
        &self.key
    }

    pub(crate) fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    pub(crate) fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    pub(crate) fn leaf(&self, index: u64) -> &[u8] {
        &self.leaves[index as usize]
    }

    pub(crate) fn leaf_hash(&self, index: u64) -> Hash {
        Blake3Hasher.hash_leaf(self.leaf(index))
    }

    pub(crate) fn push(&mut self, entry: Vec<u8>) -> u64 {
        self.leaves.push(entry);
        self.size() - 1
    }

    pub(crate) fn replace_leaf(&mut self, index: u64, entry: Vec<u8>) {
        self.leaves[index as usize] = entry;
    }

    fn hashes(&self) -> MemoryHashes {
        let leaves: Vec<Hash> = (0..self.size()).map(|i| self.leaf_hash(i)).collect();
        MemoryHashes::from_leaf_hashes(&Blake3Hasher, leaves).0
    }

    pub(crate) fn root(&self, size: u64) -> Hash {
        tree_root(&Blake3Hasher, &self.hashes(), size).unwrap()
    }

    /// The signed checkpoint of the first `size` leaves.
    pub(crate) fn checkpoint_note(&self, size: u64) -> Vec<u8> {
        self.sign_raw(size, self.root(size))
    }

    /// A checkpoint with any root, signed by the log's key.
    pub(crate) fn sign_raw(&self, size: u64, root: Hash) -> Vec<u8> {
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

    pub(crate) fn inclusion(&self, index: u64, size: u64) -> pb::InclusionProof {
        let path = inclusion_proof(&Blake3Hasher, &self.hashes(), index, size).unwrap();
        pb::InclusionProof::new(index, size, &path)
    }

    pub(crate) fn consistency(&self, size1: u64, size2: u64) -> pb::ConsistencyProof {
        let path = consistency_proof(&Blake3Hasher, &self.hashes(), size1, size2).unwrap();
        pb::ConsistencyProof::new(size1, size2, &path)
    }
}

/// A witness of the test logs.
pub(crate) fn witness(seed: u8) -> WitnessSigner {
    WitnessSigner::new(
        &format!("w{seed}.test/witness"),
        SigningKey::from_bytes(&[seed; 32]),
    )
    .unwrap()
}

/// A leaf that names `req_hash` as a key publication (unsigned: enough for a window scan).
pub(crate) fn publication_leaf(req_hash: [u8; 32]) -> Vec<u8> {
    pb::LogEntry {
        kind: Some(pb::log_entry::Kind::KeyPublication(pb::KeyPublication {
            req_hash: req_hash.to_vec(),
            ..Default::default()
        })),
    }
    .encode_to_vec()
}

/// A key request from `bob@beta.test` to `alice@alpha.test` whose location X is a test log
/// witnessed by witnesses 7 and 8 with quorum 2; deterministic for given times.
#[derive(Clone, Debug)]
pub(crate) struct TestRequest {
    pub signed: pb::SignedKeyRequest,
    pub location: Location,
    pub witnesses: [WitnessSigner; 2],
}

impl TestRequest {
    pub(crate) fn new(log: &TestLog, created: u64, deadline: u64, skew: u64) -> Self {
        let witnesses = [witness(7), witness(8)];
        let policy = WitnessPolicy::new(
            log.verifier(),
            witnesses.iter().map(WitnessSigner::verifier).collect(),
            2,
        )
        .unwrap();
        let location =
            Location::new(LogTrust::new(policy, HashAlgorithm::Blake3), skew, 5).unwrap();
        let draft = KeyRequestDraft {
            sender: "alice@alpha.test".into(),
            recipient: "bob@beta.test".into(),
            msg_id: b"msg".to_vec(),
            ciphertext_hash: [3; 32],
            key_commitment: [4; 32],
            deadline,
            location: location.clone(),
            request_key: x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([6; 32]))
                .to_bytes(),
            expect: None,
            nonce: [created as u8; 32],
            created,
        };
        TestRequest {
            signed: sign_request(&draft, &SigningKey::from_bytes(&[5; 32]))
                .unwrap_or_else(|e| panic!("an in-memory key signs: {e}")),
            location,
            witnesses,
        }
    }

    pub(crate) fn verified(&self) -> VerifiedKeyRequest {
        verify_request(&self.signed).unwrap()
    }

    /// `log`'s checkpoint of `size` cosigned by both witnesses at `times`.
    pub(crate) fn cosigned(&self, log: &TestLog, size: u64, times: [u64; 2]) -> Vec<u8> {
        let mut c =
            VerifiedCheckpoint::verify(&log.checkpoint_note(size), &log.verifier()).unwrap();
        for (w, t) in self.witnesses.iter().zip(times) {
            let cos = w.cosign(&c, t).unwrap();
            c = c.with_cosignature(&w.verifier(), &cos).unwrap();
        }
        c.note().into_bytes()
    }
}

/// What the [`FakeGateway`]'s log is made to be (another size, a hidden entry, another account
/// bound, another log's checkpoint): misbehaviour only an in-memory log can act out. Lies about
/// answers are [`crate::lies::Lie`]s, told through its [`Liar`] as the testnet's lying gateway
/// tells them in front of a real node.
#[derive(Clone, Debug, Default)]
pub(crate) struct Mischief {
    /// Serve this tree size as the latest checkpoint instead of the whole log.
    pub checkpoint_size: Option<u64>,
    /// Serve other bytes in place of the entry at this index.
    pub hide_entry: Option<u64>,
    /// Log this account in registrations instead of the one asked for.
    pub bind_other_account: Option<String>,
    /// Answer every checkpoint request with this log's checkpoint instead.
    pub impostor: Option<TestLog>,
}

/// A gateway over a [`TestLog`], answering like `/herald/client/1` would.
#[derive(Debug)]
pub(crate) struct FakeGateway {
    pub log: Mutex<TestLog>,
    pub mischief: Mutex<Mischief>,
    /// The lies it tells about its answers.
    pub liar: Liar,
    /// What `cosigned_checkpoint` serves (`NOT_FOUND` when `None`).
    pub cosigned: Mutex<Option<Vec<u8>>>,
    /// What `alerts` serves.
    pub alerts: Mutex<Vec<pb::Equivocation>>,
    /// What `trust` serves (`NOT_FOUND` when `None`).
    pub trust_list: Mutex<Option<pb::TrustList>>,
}

impl FakeGateway {
    /// A `TrustedLog` following this gateway's log (unwitnessed), state in `store`.
    pub(crate) fn trusted<'a>(
        &'a self,
        store: &'a crate::store::MemoryCheckpointStore,
    ) -> crate::TrustedLog<&'a FakeGateway, &'a crate::store::MemoryCheckpointStore> {
        let verifier = self.log.lock().unwrap().verifier();
        crate::TrustedLog::open(
            self,
            LogTrust::unwitnessed(verifier, HashAlgorithm::Blake3),
            store,
        )
        .unwrap()
    }

    pub(crate) fn new(log: TestLog) -> Self {
        FakeGateway {
            log: Mutex::new(log),
            mischief: Mutex::new(Mischief::default()),
            liar: Liar::new(),
            cosigned: Mutex::new(None),
            alerts: Mutex::new(Vec::new()),
            trust_list: Mutex::new(None),
        }
    }

    pub(crate) fn set_log(&self, log: TestLog) {
        *self.log.lock().unwrap() = log;
    }

    pub(crate) fn lie(&self, f: impl FnOnce(&mut Mischief)) {
        f(&mut self.mischief.lock().unwrap());
    }

    fn refusal(kind: pb::ClientErrorKind, message: &str) -> pb::ClientError {
        pb::ClientError {
            kind: kind as i32,
            message: message.into(),
            retry_after_ms: if kind == pb::ClientErrorKind::Pending {
                10
            } else {
                0
            },
            tree_size: 0,
        }
    }

    /// The served cosigned checkpoint and its size.
    fn cosigned_tree(&self) -> Result<(Vec<u8>, u64), pb::ClientError> {
        let note = self
            .cosigned
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| Self::refusal(pb::ClientErrorKind::NotFound, "nothing cosigned"))?;
        let parsed = herald_proto::note::SignedNote::parse(&note).unwrap();
        let size = Checkpoint::parse_body(parsed.text()).unwrap().size;
        Ok((note, size))
    }

    /// Leaf `index` with its proof against the served cosigned checkpoint.
    fn included(&self, index: u64) -> Result<pb::IncludedLeaf, pb::ClientError> {
        let (note, size) = self.cosigned_tree()?;
        if index >= size {
            return Err(Self::refusal(
                pb::ClientErrorKind::Pending,
                "not cosigned yet",
            ));
        }
        let log = self.log.lock().unwrap();
        Ok(pb::IncludedLeaf {
            entry: log.leaf(index).to_vec(),
            proof: Some(log.inclusion(index, size)),
            checkpoint: note,
        })
    }

    /// The evidence records of `msg_id` the served cosigned checkpoint covers, with proofs.
    fn evidence(&self, msg_id: &[u8]) -> Result<pb::EvidenceAnswer, pb::ClientError> {
        let (note, size) = self.cosigned_tree()?;
        let listed =
            self.find(|k| matches!(k, pb::log_entry::Kind::Evidence(e) if e.msg_id == msg_id));
        let log = self.log.lock().unwrap();
        let records: Vec<pb::LoggedRecord> = listed
            .iter()
            .filter(|&&i| i < size)
            .map(|&i| pb::LoggedRecord {
                entry: log.leaf(i).to_vec(),
                proof: Some(log.inclusion(i, size)),
            })
            .collect();
        if records.is_empty() {
            return Err(Self::refusal(pb::ClientErrorKind::NotFound, "no evidence"));
        }
        Ok(pb::EvidenceAnswer {
            checkpoint: note,
            pending: (listed.len() - records.len()) as u32,
            records,
            gateway_signature: Vec::new(),
        })
    }

    /// The indexes of the leaves that decode to a kind `pick` selects, in order.
    fn find(&self, pick: impl Fn(&pb::log_entry::Kind) -> bool) -> Vec<u64> {
        let log = self.log.lock().unwrap();
        (0..log.size())
            .filter(|&i| {
                herald_proto::wire::decode_valid::<pb::LogEntry>(log.leaf(i))
                    .ok()
                    .and_then(|e| e.kind)
                    .is_some_and(|k| pick(&k))
            })
            .collect()
    }

    fn out_of_range(size: u64) -> pb::ClientError {
        pb::ClientError {
            kind: pb::ClientErrorKind::OutOfRange as i32,
            message: "past the end".into(),
            retry_after_ms: 0,
            tree_size: size,
        }
    }

    /// The answer to one request, as a gateway serving `/herald/client/1` would give it (with
    /// the mischief it was told to do).
    fn answer(&self, request: pb::ClientRequest) -> Result<Response, pb::ClientError> {
        use pb::client_request::Request;
        match request.request {
            Some(Request::Checkpoint(r)) if r.cosigned => {
                self.cosigned_checkpoint().map(Response::Checkpoint)
            }
            Some(Request::Checkpoint(_)) => Ok(Response::Checkpoint(self.checkpoint())),
            Some(Request::Submit(s)) => self
                .submit_trusting(s.entry, s.trusted_size)
                .map(Response::Submitted),
            Some(Request::SubmitBatch(b)) => self
                .submit_batch(b.entries, b.trusted_size)
                .map(Response::BatchSubmitted),
            Some(Request::Entries(r)) => self.entries(r.start, r.count).map(Response::Entries),
            Some(Request::Inclusion(r)) => {
                let leaf = match r.leaf {
                    Some(pb::inclusion_request::Leaf::Index(i)) => Leaf::Index(i),
                    Some(pb::inclusion_request::Leaf::LeafHash(h)) => {
                        Leaf::Hash(h.try_into().map_err(|_| Self::out_of_range(0))?)
                    }
                    None => return Err(Self::refusal(pb::ClientErrorKind::Malformed, "no leaf")),
                };
                self.inclusion(leaf, r.tree_size).map(Response::Inclusion)
            }
            Some(Request::Consistency(r)) => self
                .consistency(r.size1, r.size2)
                .map(Response::Consistency),
            Some(Request::Alerts(_)) => Ok(Response::Alerts(pb::AlertList {
                alerts: self.alerts.lock().unwrap().clone(),
            })),
            Some(Request::Register(r)) => Ok(Response::Submitted(self.register(r))),
            Some(Request::Binding(r)) => self.binding(&r.account).map(Response::Binding),
            Some(Request::Publication(r)) => {
                let req_hash = r.req_hash.try_into().map_err(|_| Self::out_of_range(0))?;
                self.publication(&req_hash).map(Response::Included)
            }
            Some(Request::Trust(_)) => self.trust().map(Response::Trust),
            Some(Request::Evidence(r)) => self.evidence(&r.msg_id).map(Response::Evidence),
            // The in-memory gateway keeps the default rules.
            Some(Request::Policy(_)) => Ok(Response::Policy(
                herald_proto::policy::RuleSet::default().to_wire(),
            )),
            // PAEP is tested against proto's own verifier (`session/tests.rs`) and real nodes.
            Some(
                Request::PasswordParams(_)
                | Request::LoginShare(_)
                | Request::LoginFinish(_)
                | Request::Session(_)
                | Request::PrekeyBundle(_)
                | Request::RelayPrekey(_)
                | Request::RelayMail(_)
                | Request::RelayMails(_)
                | Request::RelayEvidence(_)
                | Request::RelayChunk(_)
                | Request::RelayLargeMail(_),
            ) => Err(Self::refusal(
                pb::ClientErrorKind::Forbidden,
                "the test log serves no logins",
            )),
            None => Err(Self::refusal(pb::ClientErrorKind::Malformed, "no kind")),
        }
    }

    fn checkpoint(&self) -> pb::SignedCheckpoint {
        let log = self.log.lock().unwrap();
        let m = self.mischief.lock().unwrap();
        let note = match &m.impostor {
            Some(other) => other.checkpoint_note(other.size()),
            None => log.checkpoint_note(m.checkpoint_size.unwrap_or(log.size())),
        };
        pb::SignedCheckpoint { note }
    }

    fn submit(&self, entry: Vec<u8>) -> pb::SubmitAck {
        let mut log = self.log.lock().unwrap();
        let index = log.push(entry);
        pb::SubmitAck {
            index,
            leaf_hash: log.leaf_hash(index).to_vec(),
            checkpoint: Some(pb::SignedCheckpoint {
                note: log.checkpoint_note(log.size()),
            }),
            inclusion: None,
            consistency: None,
        }
    }

    /// A submission answered in one round trip, as current gateways answer it.
    fn submit_trusting(
        &self,
        entry: Vec<u8>,
        trusted_size: u64,
    ) -> Result<pb::SubmitAck, pb::ClientError> {
        let size = self.log.lock().unwrap().size();
        if trusted_size > size {
            return Err(Self::out_of_range(size));
        }
        let mut ack = self.submit(entry);
        let log = self.log.lock().unwrap();
        ack.inclusion = Some(log.inclusion(ack.index, log.size()));
        if trusted_size != 0 {
            ack.consistency = Some(self.consistency_from(&log, trusted_size));
        }
        Ok(ack)
    }

    /// The consistency proof from `trusted_size` to the whole log, with the mischief asked.
    fn consistency_from(&self, log: &TestLog, trusted_size: u64) -> pb::ConsistencyProof {
        log.consistency(trusted_size, log.size())
    }

    /// A batch: entries holding the bytes `refuse me` are refused `INVALID_ENTRY`, the others appended
    /// and proved by one range proof.
    fn submit_batch(
        &self,
        entries: Vec<Vec<u8>>,
        trusted_size: u64,
    ) -> Result<pb::BatchAck, pb::ClientError> {
        let mut log = self.log.lock().unwrap();
        if trusted_size > log.size() {
            return Err(Self::out_of_range(log.size()));
        }
        let first = log.size();
        let mut refused = Vec::new();
        for (position, entry) in entries.into_iter().enumerate() {
            if entry.windows(9).any(|w| w == b"refuse me") {
                refused.push(pb::EntryRefusal {
                    position: position as u32,
                    error: Some(Self::refusal(
                        pb::ClientErrorKind::InvalidEntry,
                        "a bad entry",
                    )),
                });
            } else {
                log.push(entry);
            }
        }
        let size = log.size();
        if size == first {
            return Ok(pb::BatchAck {
                first_index: 0,
                refused,
                checkpoint: None,
                range: None,
                consistency: None,
            });
        }
        let hashes = hash_list(&range_proof(&log.hashes(), first, size, size).unwrap());
        Ok(pb::BatchAck {
            first_index: first,
            refused,
            checkpoint: Some(pb::SignedCheckpoint {
                note: log.checkpoint_note(size),
            }),
            range: Some(pb::RangeProof {
                begin: first,
                end: size,
                tree_size: size,
                hashes,
            }),
            consistency: (trusted_size != 0).then(|| self.consistency_from(&log, trusted_size)),
        })
    }

    fn entries(&self, start: u64, count: u32) -> Result<pb::EntryPage, pb::ClientError> {
        let log = self.log.lock().unwrap();
        let m = self.mischief.lock().unwrap();
        if start >= log.size() {
            return Err(Self::out_of_range(log.size()));
        }
        let end = log.size().min(start + u64::from(count));
        let entries = (start..end)
            .map(|i| match m.hide_entry {
                Some(h) if h == i => b"hidden".to_vec(),
                _ => log.leaf(i).to_vec(),
            })
            .collect();
        Ok(pb::EntryPage { start, entries })
    }

    fn inclusion(
        &self,
        leaf: Leaf,
        tree_size: u64,
    ) -> Result<pb::InclusionAnswer, pb::ClientError> {
        let log = self.log.lock().unwrap();
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
        Ok(pb::InclusionAnswer {
            proof: Some(log.inclusion(index, size)),
            leaf_hash: log.leaf_hash(index).to_vec(),
        })
    }

    fn consistency(&self, size1: u64, size2: u64) -> Result<pb::ConsistencyProof, pb::ClientError> {
        let log = self.log.lock().unwrap();
        if size1 > size2 || size2 > log.size() {
            return Err(Self::out_of_range(log.size()));
        }
        Ok(log.consistency(size1, size2))
    }

    fn cosigned_checkpoint(&self) -> Result<pb::SignedCheckpoint, pb::ClientError> {
        match self.cosigned.lock().unwrap().clone() {
            Some(note) => Ok(pb::SignedCheckpoint { note }),
            None => Err(Self::refusal(
                pb::ClientErrorKind::NotFound,
                "nothing cosigned yet",
            )),
        }
    }

    fn register(&self, request: pb::RegisterAccount) -> pb::SubmitAck {
        let account = self
            .mischief
            .lock()
            .unwrap()
            .bind_other_account
            .clone()
            .unwrap_or(request.account);
        let binding = herald_proto::entry::IdentityBinding {
            account,
            identity_key: request.identity_key.try_into().unwrap(),
            signed_prekey: request.signed_prekey.try_into().unwrap(),
            signed_prekey_signature: request.signed_prekey_signature.try_into().unwrap(),
            valid_from: 1_000,
        };
        let entry = binding.sign(self.log.lock().unwrap().key()).encode_to_vec();
        self.submit(entry)
    }

    fn binding(&self, account: &str) -> Result<pb::BindingAnswer, pb::ClientError> {
        use pb::log_entry::Kind;
        let bindings = self.find(|k| matches!(k, Kind::IdentityBinding(b) if b.account == account));
        let latest = bindings
            .last()
            .ok_or_else(|| Self::refusal(pb::ClientErrorKind::NotFound, "no binding"))?;
        let revocations = self
            .find(|k| matches!(k, Kind::IdentityRevocation(r) if r.account == account))
            .into_iter()
            .map(|i| self.included(i))
            .collect::<Result<_, _>>()?;
        Ok(pb::BindingAnswer {
            binding: Some(self.included(*latest)?),
            revocations,
        })
    }

    fn publication(&self, req_hash: &[u8; 32]) -> Result<pb::IncludedLeaf, pb::ClientError> {
        use pb::log_entry::Kind;
        let found = self.find(|k| matches!(k, Kind::KeyPublication(p) if p.req_hash == req_hash));
        let first = found
            .first()
            .ok_or_else(|| Self::refusal(pb::ClientErrorKind::NotFound, "no publication"))?;
        self.included(*first)
    }

    fn trust(&self) -> Result<pb::TrustList, pb::ClientError> {
        self.trust_list
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| Self::refusal(pb::ClientErrorKind::NotFound, "no trust list"))
    }
}

/// The fake answers like a gateway: its typed calls are [`Gateway`]'s, over this one method.
impl Gateway for FakeGateway {
    async fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        self.liar
            .exchange(request, |asked| async move {
                let response = self.answer(asked).unwrap_or_else(Response::Error);
                Ok(pb::ClientResponse {
                    response: Some(response),
                })
            })
            .await
    }
}
