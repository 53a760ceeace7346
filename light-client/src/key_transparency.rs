//! Key transparency on the client (DESIGN §4 "Accounts and local CA"): registering the
//! account's identity key with its gateway, and fetching and verifying an account's binding.
//!
//! - [`registration`] makes the `RegisterAccount` request from the key store: IK signs the
//!   fallback prekey (whose secret the store keeps under [`FALLBACK_PREKEY_ID`]) and the
//!   registration with the operator's one-time code (proto's signing inputs, signed by the
//!   store's `sign`: IK never leaves it).
//! - [`TrustedLog::register`] sends it and verifies the gateway's acknowledgement: the
//!   checkpoint is the log's and consistent with the trusted one, the acknowledged leaf is in
//!   it, and that leaf is the gateway-signed binding of exactly this account, key and prekey.
//! - [`verify_binding_answer`] checks a binding lookup with proto's `verify_binding` and
//!   `verify_revocation` under the domain log's witness policy; [`TrustedLog::binding`] also
//!   proves the answer's checkpoint consistent with the one the client trusts.

// `VerifyError` carries whole checkpoints as evidence (see `verify.rs`).
#![allow(clippy::result_large_err)]

use herald_proto::entry::{
    IdentityBinding, fallback_prekey_signing_input, registration_signing_input,
    verify_identity_binding,
};
use herald_proto::identity::{
    NotBound, VerifiedBinding, VerifiedRevocation, account_in_log_domain, verify_binding_memo,
    verify_revocation_memo,
};
use herald_proto::inclusion::{CheckpointMemo, LogTrust, ProvenTree as _, VerifiedEntry};
use herald_proto::merkle::Hash;
use herald_proto::note::b64;
use herald_proto::wire::pb;

use crate::certmail::BindingMaterial;
use crate::error::ClientError;
use crate::gateway::Gateway;
use crate::keystore::{KeyStoreError, SecretId, SecureKeyStore};
use crate::store::CheckpointStore;
use crate::trusted_log::TrustedLog;
use crate::trusted_log::entry_of;
use crate::verify::VerifyError;

pub use crate::keystore::FALLBACK_PREKEY_ID;

/// The `RegisterAccount` request for the account in `keys` with the operator's one-time
/// `code` and the SPAKE2+ record of its password (`crate::session::password_record`; the
/// gateway stores it, never the password). The fallback prekey secret is made in the store on
/// first use and reused after (so a registration that failed can be retried with the same
/// prekey). Both signatures are made by the store's `sign` (IK never leaves it), so a store that
/// refuses export can register.
pub fn registration<K: SecureKeyStore>(
    keys: &mut K,
    code: &str,
    password: pb::PasswordRecord,
) -> Result<pb::RegisterAccount, KeyStoreError> {
    let identity = keys.identity().ok_or(KeyStoreError::NoIdentity)?;
    let id = SecretId::new(FALLBACK_PREKEY_ID)?;
    let prekey = match keys.public_key(&id) {
        Some(p) => p,
        None => keys.generate_secret(&id)?,
    };
    let account = &identity.account;
    let identity_key = identity.key.to_bytes();
    let prekey_signature = keys.sign(&fallback_prekey_signing_input(account, &prekey))?;
    let signature = keys.sign(&registration_signing_input(
        account,
        &identity_key,
        &prekey,
        code,
    ))?;
    Ok(pb::RegisterAccount {
        account: account.clone(),
        identity_key: identity_key.to_vec(),
        signed_prekey: prekey.to_vec(),
        signed_prekey_signature: prekey_signature.to_bytes().to_vec(),
        enrolment_code: code.to_owned(),
        signature: signature.to_bytes().to_vec(),
        password: Some(password),
    })
}

/// What a registration logged: the gateway-signed binding, proved to be the acknowledged leaf
/// of a checkpoint signed by the log (not cosigned yet: ask [`TrustedLog::binding`] later).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The leaf and its inclusion.
    pub entry: VerifiedEntry,
    /// The binding it states (the gateway's signature and the prekey's were checked).
    pub binding: IdentityBinding,
}

/// An account's binding as its domain's gateway answered, verified: the binding and every
/// revocation in the answer verify under the domain log's witness policy, all name the asked
/// account, and all are proved against one cosigned checkpoint. Made only by
/// [`verify_binding_answer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBindingAnswer {
    binding: VerifiedBinding,
    revocations: Vec<VerifiedRevocation>,
    material: BindingMaterial,
}

impl VerifiedBindingAnswer {
    /// The binding.
    pub fn binding(&self) -> &VerifiedBinding {
        &self.binding
    }

    /// The account's revocations (of this key or earlier ones).
    pub fn revocations(&self) -> &[VerifiedRevocation] {
        &self.revocations
    }

    /// Whether the bound key holds at `at` (not before its start, and no revocation of it in
    /// force).
    pub fn bound_at(&self, at: u64) -> Result<(), NotBound> {
        self.binding.bound_at(at, &self.revocations)
    }

    /// The leaves as verified, for files and for the sender's `accept`.
    pub fn material(&self) -> &BindingMaterial {
        &self.material
    }
}

fn tree(binding: &VerifiedBinding) -> (u64, Hash) {
    let t = binding.checkpoint().tree();
    (t.size, t.root)
}

/// Verifies a gateway's answer to the binding lookup for `account` in the domain log `trust`
/// at time `now`, counting cosignatures timestamped up to `max_skew` ahead (see
/// [`VerifiedBindingAnswer`]).
pub fn verify_binding_answer(
    trust: &LogTrust,
    account: &str,
    answer: pb::BindingAnswer,
    now: u64,
    max_skew: u64,
) -> Result<VerifiedBindingAnswer, VerifyError> {
    verify_binding_answer_memo(
        trust,
        account,
        answer,
        now,
        max_skew,
        &mut CheckpointMemo::new(),
    )
}

/// [`verify_binding_answer`], with each checkpoint's signatures checked once per `memo` (a
/// mail reader keeps one across the senders' bindings it checks).
pub(crate) fn verify_binding_answer_memo(
    trust: &LogTrust,
    account: &str,
    answer: pb::BindingAnswer,
    now: u64,
    max_skew: u64,
    memo: &mut CheckpointMemo,
) -> Result<VerifiedBindingAnswer, VerifyError> {
    let identity = |what, leaf: &pb::IncludedLeaf, error| VerifyError::Identity {
        what,
        account: account.to_owned(),
        leaf: Box::new(leaf.clone()),
        error,
    };
    let other_account = |answered: &str| VerifyError::AnswerMismatch {
        what: "account of the identity leaf",
        asked: account.to_owned(),
        answered: answered.to_owned(),
    };
    // The codec checked the binding is there.
    let leaf = answer.binding.unwrap_or_default();
    let binding = verify_binding_memo(trust, &leaf, now, max_skew, memo)
        .map_err(|e| identity("binding", &leaf, e))?;
    if binding.account() != account {
        return Err(other_account(binding.account()));
    }
    let mut revocations = Vec::with_capacity(answer.revocations.len());
    for r in &answer.revocations {
        let v = verify_revocation_memo(trust, r, now, max_skew, memo)
            .map_err(|e| identity("revocation", r, e))?;
        if v.account() != account {
            return Err(other_account(v.account()));
        }
        revocations.push(v);
    }
    // All against the same tree, as the protocol says: a revocation shown against an older
    // tree than the binding could hide a newer state of the account.
    let (size, root) = tree(&binding);
    for r in &answer.revocations {
        let t = herald_proto::note::SignedNote::parse(&r.checkpoint)
            .ok()
            .and_then(|n| herald_proto::checkpoint::Checkpoint::parse_body(n.text()).ok());
        if t.as_ref().map(|t| (t.size, t.root)) != Some((size, root)) {
            return Err(VerifyError::AnswerMismatch {
                what: "checkpoint of a revocation",
                asked: format!("the binding's, of size {size}"),
                answered: t.map_or("none".into(), |t| format!("size {}", t.size)),
            });
        }
    }
    Ok(VerifiedBindingAnswer {
        binding,
        revocations,
        material: BindingMaterial {
            binding: leaf,
            revocations: answer.revocations,
        },
    })
}

impl<G: Gateway, S: CheckpointStore> TrustedLog<G, S> {
    /// Registers an account with this log's gateway (its domain must be the log's) and
    /// verifies what the gateway logged (see the module documentation). When this returns, the
    /// binding is durable in a checkpoint the gateway signed.
    pub async fn register(
        &mut self,
        request: pb::RegisterAccount,
    ) -> Result<Registered, ClientError> {
        self.refuse_if_distrusted()?;
        if !account_in_log_domain(&request.account, self.log.origin()) {
            return Err(ClientError::InvalidRequest(format!(
                "account {:?} is not of the domain of {}",
                request.account,
                self.log.origin()
            )));
        }
        let ack = self.gateway.register(request.clone()).await?;
        let leaf_hash = Hash::try_from(ack.leaf_hash.as_slice()).unwrap_or_default();
        let (index, checkpoint) = self.acknowledged(ack).await?;
        let page = self.gateway.entries(index, 1).await?;
        // A validated page has at least one entry; its hash is checked against the ack's.
        let entry = page.entries.into_iter().next().unwrap_or_default();
        if page.start != index || self.log.leaf_hash(&entry) != leaf_hash {
            return Err(VerifyError::AnswerMismatch {
                what: "registered leaf",
                asked: format!("index {index} with hash {}", b64(&leaf_hash)),
                answered: format!("index {} with another hash", page.start),
            }
            .into());
        }
        let inclusion = self
            .prove_index(&checkpoint, index, Some(&leaf_hash))
            .await?;
        let binding = logged_binding(&self.log, &entry, &request)?;
        Ok(Registered {
            entry: entry_of(entry, inclusion)?,
            binding,
        })
    }

    /// `account`'s current binding, from this log's gateway, verified with `trust` (this log's
    /// key and witness policy) at the log's clock, then its checkpoint proved consistent with
    /// the trusted one (and trusted, if newer).
    pub async fn binding(
        &mut self,
        trust: &LogTrust,
        account: &str,
        max_skew: u64,
    ) -> Result<VerifiedBindingAnswer, ClientError> {
        self.refuse_if_distrusted()?;
        if trust.log() != self.log.log() || trust.algorithm() != self.log.algorithm() {
            return Err(ClientError::InvalidRequest(
                "the domain log's policy is for another log key or hash".into(),
            ));
        }
        let answer = self.gateway.binding(account).await?;
        let verified =
            verify_binding_answer(trust, account, answer, self.clock.now_secs(), max_skew)?;
        self.adopt(verified.binding.checkpoint().checkpoint().clone())
            .await?;
        Ok(verified)
    }
}

/// The binding in `entry`, which must be the gateway-signed binding of what `request` asked.
fn logged_binding(
    log: &LogTrust,
    entry: &[u8],
    request: &pb::RegisterAccount,
) -> Result<IdentityBinding, VerifyError> {
    let mismatch = |answered: String| VerifyError::AnswerMismatch {
        what: "registered binding",
        asked: format!(
            "{} bound to {}",
            request.account,
            b64(&request.identity_key)
        ),
        answered,
    };
    let decoded = herald_proto::wire::decode_valid::<pb::LogEntry>(entry)
        .map_err(|e| mismatch(format!("an entry that does not decode: {e}")))?;
    let Some(pb::log_entry::Kind::IdentityBinding(b)) = decoded.kind else {
        return Err(mismatch("an entry of another kind".into()));
    };
    let binding = verify_identity_binding(&b, log.log().public_key())
        .map_err(|e| mismatch(format!("a binding that does not verify: {e}")))?;
    if binding.account != request.account
        || binding.identity_key[..] != request.identity_key[..]
        || binding.signed_prekey[..] != request.signed_prekey[..]
        || binding.signed_prekey_signature[..] != request.signed_prekey_signature[..]
    {
        return Err(mismatch(format!(
            "{} bound to {}",
            binding.account,
            b64(&binding.identity_key)
        )));
    }
    Ok(binding)
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use herald_proto::checkpoint::WitnessPolicy;
    use herald_proto::entry::IdentityRevocation;
    use herald_proto::identity::IdentityError;
    use herald_proto::merkle::HashAlgorithm;
    use prost::Message as _;

    use super::*;
    use crate::keystore::MemoryKeyStore;
    use crate::store::MemoryCheckpointStore;
    use crate::test_log::{FakeGateway, TestLog, witness};

    /// The system clock: a [`TrustedLog`] reads it unless given another.
    fn clock() -> u64 {
        crate::clock::Clock::now_secs(&crate::clock::SystemClock)
    }

    /// The domain log `alpha.test/herald` (the fake gateway's), witnesses 7 and 8, quorum 2.
    fn trust(log: &TestLog) -> LogTrust {
        let policy = WitnessPolicy::new(
            log.verifier(),
            vec![witness(7).verifier(), witness(8).verifier()],
            2,
        )
        .unwrap();
        LogTrust::new(policy, HashAlgorithm::Blake3)
    }

    fn store_of(account: &str) -> MemoryKeyStore {
        let mut keys = MemoryKeyStore::new();
        keys.create_identity(account).unwrap();
        keys
    }

    /// The gateway's latest checkpoint, cosigned by `witnesses` at `at`.
    fn cosign(gateway: &FakeGateway, witnesses: &[u8], at: u64) {
        let log = gateway.log.lock().unwrap();
        let size = log.size();
        let mut c = herald_proto::checkpoint::VerifiedCheckpoint::verify(
            &log.checkpoint_note(size),
            &log.verifier(),
        )
        .unwrap();
        for w in witnesses {
            let w = witness(*w);
            c = c
                .with_cosignature(&w.verifier(), &w.cosign(&c, at).unwrap())
                .unwrap();
        }
        *gateway.cosigned.lock().unwrap() = Some(c.note().into_bytes());
    }

    fn open(gateway: &FakeGateway) -> TrustedLog<&FakeGateway, MemoryCheckpointStore> {
        let verifier = gateway.log.lock().unwrap().verifier();
        TrustedLog::open(
            gateway,
            LogTrust::unwitnessed(verifier, HashAlgorithm::Blake3),
            MemoryCheckpointStore::new(),
        )
        .unwrap()
    }

    /// A password record (the fake gateway does not look at it).
    fn record() -> pb::PasswordRecord {
        pb::PasswordRecord {
            w0: vec![1; 32],
            l: vec![2; 32],
            argon2: Some(herald_proto::paep::Argon2Params::RECOMMENDED.to_pb()),
        }
    }

    /// A gateway with bob and carol registered, cosigned by both witnesses.
    fn registered() -> (FakeGateway, MemoryKeyStore) {
        let gateway = FakeGateway::new(TestLog::new(3));
        let mut bob = store_of("bob@alpha.test");
        let mut carol = store_of("carol@alpha.test");
        let mut log = open(&gateway);
        for store in [&mut bob, &mut carol] {
            let request = registration(store, "code", record()).unwrap();
            block_on(log.register(request)).unwrap();
        }
        cosign(&gateway, &[7, 8], clock() - 10);
        (gateway, bob)
    }

    #[test]
    fn a_registration_is_verified_as_the_binding_asked_for() {
        let gateway = FakeGateway::new(TestLog::new(3));
        let mut keys = store_of("bob@alpha.test");
        let request = registration(&mut keys, "123456", record()).unwrap();
        // Registering again reuses the prekey made the first time.
        assert_eq!(
            registration(&mut keys, "123456", record())
                .unwrap()
                .signed_prekey,
            request.signed_prekey
        );
        let mut log = open(&gateway);
        let done = block_on(log.register(request.clone())).unwrap();
        assert_eq!(done.entry.index(), 3);
        assert_eq!(done.binding.account, "bob@alpha.test");
        assert_eq!(done.binding.identity_key[..], request.identity_key[..]);
        assert_eq!(log.trusted().unwrap().size(), 4);

        // A gateway that logs a binding of another account is caught.
        gateway.lie(|m| m.bind_other_account = Some("mallory@alpha.test".into()));
        let err = block_on(log.register(request.clone())).unwrap_err();
        assert!(
            matches!(
                err.verification(),
                Some(VerifyError::AnswerMismatch {
                    what: "registered binding",
                    ..
                })
            ),
            "{err:?}"
        );
        // An account of another domain is not sent.
        let mut other = store_of("bob@beta.test");
        let request = registration(&mut other, "1", record()).unwrap();
        assert!(matches!(
            block_on(log.register(request)),
            Err(ClientError::InvalidRequest(_))
        ));
    }

    /// A store that keeps its keys inside (an app's hardware store): every operation, no export.
    struct NoExport(MemoryKeyStore);

    impl SecureKeyStore for NoExport {
        fn identity(&self) -> Option<crate::keystore::Identity> {
            self.0.identity()
        }
        fn create_identity(
            &mut self,
            account: &str,
        ) -> Result<crate::keystore::Identity, KeyStoreError> {
            self.0.create_identity(account)
        }
        fn sign(&self, message: &[u8]) -> Result<ed25519_dalek::Signature, KeyStoreError> {
            self.0.sign(message)
        }
        fn generate_secret(&mut self, id: &SecretId) -> Result<[u8; 32], KeyStoreError> {
            self.0.generate_secret(id)
        }
        fn public_key(&self, id: &SecretId) -> Option<[u8; 32]> {
            self.0.public_key(id)
        }
        fn diffie_hellman(
            &self,
            id: &SecretId,
            public: &[u8; 32],
        ) -> Result<[u8; 32], KeyStoreError> {
            self.0.diffie_hellman(id, public)
        }
        fn erase(&mut self, id: &SecretId) -> Result<bool, KeyStoreError> {
            self.0.erase(id)
        }
        fn secret_ids(&self) -> Vec<SecretId> {
            self.0.secret_ids()
        }
    }

    #[test]
    fn a_store_that_never_exports_can_register() {
        let mut keys = NoExport(store_of("carol@alpha.test"));
        let request = registration(&mut keys, "654321", record()).unwrap();
        let ik: [u8; 32] = request.identity_key.as_slice().try_into().unwrap();
        let prekey: [u8; 32] = request.signed_prekey.as_slice().try_into().unwrap();
        herald_proto::entry::verify_registration(
            "carol@alpha.test",
            &ik,
            &prekey,
            "654321",
            &request.signature,
        )
        .unwrap();
        herald_proto::entry::verify_fallback_prekey(
            &ik,
            "carol@alpha.test",
            &prekey,
            &request.signed_prekey_signature,
        )
        .unwrap();
        let gateway = FakeGateway::new(TestLog::new(3));
        let mut log = open(&gateway);
        assert_eq!(block_on(log.register(request)).unwrap().entry.index(), 3);
    }

    #[test]
    fn a_binding_answer_verifies_and_moves_the_trusted_checkpoint() {
        let (gateway, bob) = registered();
        let trust = trust(&gateway.log.lock().unwrap());
        let mut log = open(&gateway);
        let answer = block_on(log.binding(&trust, "bob@alpha.test", 60)).unwrap();
        assert_eq!(answer.binding().account(), "bob@alpha.test");
        assert_eq!(
            answer.binding().identity_key(),
            bob.identity().unwrap().key.as_bytes()
        );
        assert!(answer.revocations().is_empty());
        assert!(answer.bound_at(clock()).is_ok());
        assert_eq!(log.trusted().unwrap().size(), 5);
        // The material round-trips as the file `cm accept --binding` reads.
        let bytes = answer.material().binding.encode_to_vec();
        assert_eq!(
            crate::certmail::decode_included_leaf(&bytes).unwrap(),
            answer.material().binding
        );
    }

    #[test]
    fn attack_tampered_binding_answers_are_refused() {
        let (gateway, _) = registered();
        let trust = trust(&gateway.log.lock().unwrap());
        let answer = |account| block_on(gateway.binding(account)).unwrap();
        let now = clock();
        let check = |a, asked| verify_binding_answer(&trust, asked, a, now, 60);

        assert!(check(answer("bob@alpha.test"), "bob@alpha.test").is_ok());
        // Carol's binding given for bob: the wrong account.
        assert!(matches!(
            check(answer("carol@alpha.test"), "bob@alpha.test"),
            Err(VerifyError::AnswerMismatch { .. })
        ));
        // A leaf that is not a binding (the log's first entry).
        let mut wrong = answer("bob@alpha.test");
        wrong.binding.as_mut().unwrap().entry = gateway.log.lock().unwrap().leaf(0).to_vec();
        assert!(matches!(
            check(wrong, "bob@alpha.test"),
            Err(VerifyError::Identity { .. })
        ));
        // A flipped byte in the leaf: its proof no longer leads to the root.
        let mut flipped = answer("bob@alpha.test");
        let entry = &mut flipped.binding.as_mut().unwrap().entry;
        let last = entry.len() - 1;
        entry[last] ^= 1;
        assert!(matches!(
            check(flipped, "bob@alpha.test"),
            Err(VerifyError::Identity { .. })
        ));
        // Proved against a checkpoint only one of the two required witnesses cosigned.
        cosign(&gateway, &[7], now - 10);
        let err = check(answer("bob@alpha.test"), "bob@alpha.test").unwrap_err();
        assert!(
            matches!(
                &err,
                VerifyError::Identity {
                    error: IdentityError::Inclusion(_),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_revoked_key_verifies_but_is_not_bound() {
        let (gateway, bob) = registered();
        let now = clock();
        let key = gateway.log.lock().unwrap().key().clone();
        let revocation = IdentityRevocation {
            account: "bob@alpha.test".into(),
            identity_key: bob.identity().unwrap().key.to_bytes(),
            revoked_at: now - 100,
        };
        gateway
            .log
            .lock()
            .unwrap()
            .push(revocation.sign(&key).encode_to_vec());
        cosign(&gateway, &[7, 8], now - 10);
        let trust = trust(&gateway.log.lock().unwrap());
        let answer = block_on(gateway.binding("bob@alpha.test")).unwrap();
        let verified =
            verify_binding_answer(&trust, "bob@alpha.test", answer.clone(), now, 60).unwrap();
        assert_eq!(verified.revocations().len(), 1);
        // In force from the later of revoked_at and the quorum time (now − 10).
        assert!(matches!(
            verified.bound_at(now),
            Err(NotBound::Revoked { in_force_from, .. }) if in_force_from == now - 10
        ));
        assert!(verified.bound_at(now - 11).is_ok());
        // A revocation of another account slipped into the answer is refused.
        let mut mixed = block_on(gateway.binding("carol@alpha.test")).unwrap();
        mixed.revocations = answer.revocations;
        assert!(matches!(
            verify_binding_answer(&trust, "carol@alpha.test", mixed, now, 60),
            Err(VerifyError::AnswerMismatch { .. })
        ));
    }
}
