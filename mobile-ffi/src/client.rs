//! [`HeraldClient`]: the object an app creates first. It owns the runtime, the connections to
//! the configured gateways, and the state directory's trusted checkpoints; it follows logs,
//! checks proofs, looks bindings up, and opens accounts ([`crate::HeraldAccount`]).
//!
//! Every check is the light client's ([`TrustedLog`]: a checkpoint is trusted only when it
//! verifies under the configured log key, is cosigned by the configured witnesses, and is
//! proved consistent with the one trusted before; a log proved to equivocate is refused for
//! good). This file picks the log and the gateway for each call and converts the answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use herald_light_client::{
    ClientConfig, FileCheckpointStore, GatewayClient, Leaf, TrustedLog, VerifiedInclusion,
    verify_checkpoint, verify_cosigned,
};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::merkle::Hash;
use herald_proto::note::MAX_NOTE_LEN;
use herald_proto::wire::{MAX_ACCOUNT_BYTES, MAX_INCLUSION_PROOF_HASHES, pb};
use libp2p::Multiaddr;

use crate::config::{CheckedConfig, ConfiguredLog, HeraldConfig, LogConfig, check, log_config};
use crate::error::HeraldError;
use crate::mail::InboxEntry;
use crate::runtime::{Runtime, guard};

/// A checkpoint this client trusts: signed by the log, cosigned by a quorum of the configured
/// witnesses, consistent with every checkpoint of that log it trusted before.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TrustedCheckpoint {
    /// The log's origin, `<domain>/herald`.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The tree's root hash (32 bytes).
    pub root_hash: Vec<u8>,
    /// The signed note, with its cosignature lines (C2SP checkpoint format).
    pub note: String,
}

/// A leaf proved to be in a trusted checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Inclusion {
    /// The leaf's index.
    pub leaf_index: u64,
    /// Its Merkle leaf hash.
    pub leaf_hash: Vec<u8>,
    /// The tree it is proved in.
    pub checkpoint: TrustedCheckpoint,
    /// The audit path, leaf side first.
    pub proof: Vec<Vec<u8>>,
}

/// An account's identity binding, verified in its domain's cosigned log.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct IdentityBindingInfo {
    /// The account.
    pub account: String,
    /// Its identity key IK (Ed25519, 32 bytes).
    pub identity_key: Vec<u8>,
    /// Its signed fallback prekey (X25519, 32 bytes).
    pub signed_prekey: Vec<u8>,
    /// From when the binding holds, Unix seconds.
    pub valid_from: u64,
    /// The binding's leaf index in the domain log.
    pub index: u64,
    /// The cosigned checkpoint it is proved in.
    pub checkpoint: TrustedCheckpoint,
    /// Whether the key holds now (not revoked, already valid).
    pub bound_now: bool,
}

/// A split-view alert: a log signed two checkpoints that cannot both be true.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SplitViewAlert {
    /// The log.
    pub origin: String,
    /// The transferable proof (an encoded `herald.v1.Equivocation`).
    pub proof: Vec<u8>,
}

/// What the app implements to be told of events as they are found (by any call, and by
/// [`crate::HeraldAccount::check_mail`] and [`crate::HeraldAccount::watch`]). Calls come from
/// the binding's threads; what the listener throws or panics with is logged, never propagated.
#[uniffi::export(with_foreign)]
pub trait HeraldListener: Send + Sync {
    /// A log was proved to equivocate; it is refused from now on.
    fn on_split_view(&self, alert: SplitViewAlert) -> Result<(), HeraldError>;

    /// A mail arrived in `account`'s mailbox (told once per mailbox entry; `read` it to
    /// verify and open it).
    fn on_new_mail(&self, account: String, mail: InboxEntry) -> Result<(), HeraldError>;
}

/// The state every call shares (tasks hold it; the runtime is held only by app objects).
pub(crate) struct ClientState {
    pub(crate) config: CheckedConfig,
    pub(crate) checkpoints: FileCheckpointStore,
    connections: tokio::sync::Mutex<HashMap<Multiaddr, GatewayClient>>,
    listener: Mutex<Option<Arc<dyn HeraldListener>>>,
}

/// A log followed through its gateway, with this client's trusted checkpoints.
pub(crate) type FollowedLog<'a> = TrustedLog<GatewayClient, &'a FileCheckpointStore>;

impl ClientState {
    /// The connection to `log`'s gateway (made on first use, then shared).
    pub(crate) async fn gateway(&self, log: &ConfiguredLog) -> Result<GatewayClient, HeraldError> {
        let address = log.gateway.clone().ok_or_else(|| {
            HeraldError::bad_input(format!("no gateway is configured for {}", log.origin()))
        })?;
        if let Some(client) = self.connections.lock().await.get(&address) {
            return Ok(client.clone());
        }
        let config = ClientConfig {
            connect_timeout: self.config.connect_timeout,
            request_timeout: self.config.request_timeout,
            ..ClientConfig::default()
        };
        // Connected without holding the lock: one slow gateway does not hold up the others.
        let client = GatewayClient::connect_with(&address, &config).await?;
        self.connections
            .lock()
            .await
            .insert(address, client.clone());
        Ok(client)
    }

    /// Forgets the connection to `log`'s gateway (its worker stopped).
    pub(crate) async fn drop_gateway(&self, log: &ConfiguredLog) {
        if let Some(address) = &log.gateway {
            self.connections.lock().await.remove(address);
        }
    }

    /// The log of `origin` through its gateway, trusting only checkpoints cosigned as
    /// configured. The one place the binding builds a `TrustedLog`.
    pub(crate) async fn follow(&self, origin: &str) -> Result<FollowedLog<'_>, HeraldError> {
        let log = self.config.log(origin)?;
        let gateway = self.gateway(log).await?;
        let followed = log.trust.clone().with_max_skew(self.config.max_clock_skew);
        Ok(TrustedLog::open(gateway, followed, &self.checkpoints)?)
    }

    /// Tells the listener about a split view in `result`, then returns it unchanged; forgets
    /// a connection whose worker stopped.
    pub(crate) async fn told<T>(
        &self,
        origin: Option<&str>,
        result: Result<T, HeraldError>,
    ) -> Result<T, HeraldError> {
        match &result {
            Err(HeraldError::LogEquivocated { origin, proof }) => self.alert(SplitViewAlert {
                origin: origin.clone(),
                proof: proof.clone(),
            }),
            Err(HeraldError::Network { .. }) => {
                if let Some(log) = origin.and_then(|o| self.config.log(o).ok()) {
                    self.drop_gateway(log).await;
                }
            }
            _ => {}
        }
        result
    }

    /// The configured log of `account`'s domain.
    pub(crate) fn domain_log(&self, account: &str) -> Result<String, HeraldError> {
        self.config
            .logs
            .iter()
            .find(|l| herald_proto::identity::account_in_log_domain(account, l.origin()))
            .map(|l| l.origin().to_owned())
            .ok_or_else(|| {
                HeraldError::bad_input(format!("no configured log for the domain of {account:?}"))
            })
    }

    pub(crate) fn alert(&self, alert: SplitViewAlert) {
        self.tell("a split-view alert", |l| l.on_split_view(alert));
    }

    /// Tells the listener (if any) of new mail of `account`.
    pub(crate) fn new_mail(&self, account: &str, mail: InboxEntry) {
        self.tell("new mail", |l| l.on_new_mail(account.to_owned(), mail));
    }

    fn tell(&self, what: &str, call: impl FnOnce(&dyn HeraldListener) -> Result<(), HeraldError>) {
        let listener = self.listener.lock().ok().and_then(|l| l.clone());
        if let Some(listener) = listener {
            // The app's code: a failure or a panic in it is logged, never propagated.
            let told =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(listener.as_ref())));
            if !matches!(told, Ok(Ok(()))) {
                tracing::warn!("the app's listener failed on {what}");
            }
        }
    }
}

/// The checkpoint as the app sees it.
pub(crate) fn trusted_checkpoint(c: &VerifiedCheckpoint) -> TrustedCheckpoint {
    TrustedCheckpoint {
        origin: c.origin().to_owned(),
        size: c.size(),
        root_hash: c.root().to_vec(),
        note: c.note(),
    }
}

fn inclusion(v: &VerifiedInclusion) -> Inclusion {
    Inclusion {
        leaf_index: v.index(),
        leaf_hash: v.leaf_hash().to_vec(),
        checkpoint: trusted_checkpoint(v.checkpoint()),
        proof: v.path().iter().map(|h| h.to_vec()).collect(),
    }
}

fn hash32(bytes: &[u8], what: &str) -> Result<Hash, HeraldError> {
    Hash::try_from(bytes)
        .map_err(|_| HeraldError::bad_input(format!("{what}: {} bytes, not 32", bytes.len())))
}

/// An account address from the app: bounded, with a domain.
pub(crate) fn check_account(account: &str) -> Result<(), HeraldError> {
    if account.is_empty() || account.len() > MAX_ACCOUNT_BYTES {
        return Err(HeraldError::bad_input(format!(
            "account: 1 to {MAX_ACCOUNT_BYTES} bytes"
        )));
    }
    if herald_proto::identity::account_domain(account).is_none() {
        return Err(HeraldError::bad_input(format!(
            "account {account:?} has no @domain"
        )));
    }
    Ok(())
}

/// A Herald light client for one app: see the module docs.
#[derive(uniffi::Object)]
pub struct HeraldClient {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) state: Arc<ClientState>,
}

impl std::fmt::Debug for HeraldClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeraldClient")
            .field("state_dir", &self.state.config.state_dir)
            .finish_non_exhaustive()
    }
}

impl HeraldClient {
    /// Runs `work` on the runtime with the shared state; tells the listener of split views.
    async fn call<T, F, Fut>(&self, origin: Option<String>, work: F) -> Result<T, HeraldError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<ClientState>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, HeraldError>> + Send,
    {
        let state = self.state.clone();
        self.runtime
            .run(async move {
                let result = work(state.clone()).await;
                state.told(origin.as_deref(), result).await
            })
            .await
    }
}

#[uniffi::export]
impl HeraldClient {
    /// A client with `config` (checked whole; see [`HeraldConfig`]). Creates the state
    /// directory if missing. Connects to nothing yet.
    #[uniffi::constructor]
    pub fn new(config: HeraldConfig) -> Result<Arc<Self>, HeraldError> {
        guard(|| {
            let config = check(config)?;
            // It holds the accounts' key stores and records: private (0700) whether or not it
            // existed (reliability review item 12).
            herald_light_client::durable_file::make_private_dir(&config.state_dir).map_err(
                |e| {
                    HeraldError::internal(format!(
                        "creating the state directory {}: {e}",
                        config.state_dir.display()
                    ))
                },
            )?;
            let checkpoints = FileCheckpointStore::new(config.state_dir.join("checkpoints"));
            Ok(Arc::new(HeraldClient {
                runtime: Arc::new(Runtime::new()?),
                state: Arc::new(ClientState {
                    config,
                    checkpoints,
                    connections: tokio::sync::Mutex::new(HashMap::new()),
                    listener: Mutex::new(None),
                }),
            }))
        })
    }

    /// The configured logs, the home log first.
    pub fn logs(&self) -> Vec<LogConfig> {
        self.state
            .config
            .logs
            .iter()
            .map(|l| {
                log_config(
                    &l.trust,
                    l.gateway.as_ref().map(ToString::to_string),
                    Some(&l.location),
                )
            })
            .collect()
    }

    /// Sets (or, with none, removes) the listener told of split views.
    pub fn set_listener(&self, listener: Option<Arc<dyn HeraldListener>>) {
        if let Ok(mut l) = self.state.listener.lock() {
            *l = listener;
        }
    }

    /// Calls running now (started, neither finished nor cancelled).
    pub fn operations_in_flight(&self) -> u64 {
        self.runtime.in_flight() as u64
    }

    /// The checkpoint trusted now for each configured log that has one (read from the state
    /// directory and verified again under the configured key). No network.
    pub fn trusted_checkpoints(&self) -> Result<Vec<TrustedCheckpoint>, HeraldError> {
        guard(|| {
            let mut out = Vec::new();
            for log in &self.state.config.logs {
                let store = &self.state.checkpoints;
                let Some(note) = herald_light_client::CheckpointStore::load(store, log.origin())?
                else {
                    continue;
                };
                out.push(trusted_checkpoint(&verify_checkpoint(&log.trust, &note)?));
            }
            Ok(out)
        })
    }

    /// Fetches `origin`'s latest cosigned checkpoint from its gateway and trusts it once it is
    /// cosigned as configured and proved consistent with the one trusted before (the
    /// gateway's split-view alerts are checked first).
    pub async fn refresh_checkpoint(
        &self,
        origin: String,
    ) -> Result<TrustedCheckpoint, HeraldError> {
        self.call(Some(origin.clone()), move |state| async move {
            let mut log = state.follow(&origin).await?;
            let update = log.refresh().await?;
            Ok(trusted_checkpoint(&update.checkpoint))
        })
        .await
    }

    /// Asks `origin`'s gateway for the split-view alerts it holds against that log and
    /// verifies them; a verified one refuses the log from now on
    /// ([`HeraldError::LogEquivocated`], and the listener is told).
    pub async fn check_alerts(&self, origin: String) -> Result<(), HeraldError> {
        self.call(Some(origin.clone()), move |state| async move {
            let mut log = state.follow(&origin).await?;
            Ok(log.check_alerts().await?)
        })
        .await
    }

    /// Proves that the leaf with `leaf_hash` is in `origin`'s latest trusted checkpoint
    /// (refreshed first).
    pub async fn prove_inclusion(
        &self,
        origin: String,
        leaf_hash: Vec<u8>,
    ) -> Result<Inclusion, HeraldError> {
        let hash = guard(|| hash32(&leaf_hash, "leaf_hash"))?;
        self.call(Some(origin.clone()), move |state| async move {
            let mut log = state.follow(&origin).await?;
            Ok(inclusion(&log.prove(Leaf::Hash(hash)).await?))
        })
        .await
    }

    /// Checks, offline, that leaf `leaf_index` with `leaf_hash` is in the checkpoint `note` of
    /// `origin` by the audit path `proof`; the checkpoint must be signed by the log and
    /// cosigned as configured. Trusts nothing new; a failing check is [`HeraldError::BadInput`].
    pub fn check_inclusion(
        &self,
        origin: String,
        note: String,
        leaf_index: u64,
        leaf_hash: Vec<u8>,
        proof: Vec<Vec<u8>>,
    ) -> Result<Inclusion, HeraldError> {
        guard(|| {
            if note.len() > MAX_NOTE_LEN {
                return Err(HeraldError::bad_input(format!(
                    "note: longer than {MAX_NOTE_LEN} bytes"
                )));
            }
            if proof.len() > MAX_INCLUSION_PROOF_HASHES {
                return Err(HeraldError::bad_input(format!(
                    "proof: more than {MAX_INCLUSION_PROOF_HASHES} hashes"
                )));
            }
            let hash = hash32(&leaf_hash, "leaf_hash")?;
            for (i, h) in proof.iter().enumerate() {
                hash32(h, &format!("proof[{i}]"))?;
            }
            let log = self.state.config.log(&origin)?;
            let required = log
                .trust
                .clone()
                .with_max_skew(self.state.config.max_clock_skew);
            // Offline: what fails here is the input the app gave, not a gateway.
            let refused =
                |e: herald_light_client::VerifyError| HeraldError::bad_input(e.to_string());
            let checkpoint =
                verify_cosigned(&required, note.as_bytes(), unix_now()).map_err(refused)?;
            let wire = pb::InclusionProof {
                leaf_index,
                tree_size: checkpoint.size(),
                hashes: proof.into_iter().map(Into::into).collect(),
            };
            let verified = required
                .verify_inclusion(&checkpoint, &hash, &wire)
                .map_err(|e| HeraldError::bad_input(e.to_string()))?;
            Ok(inclusion(&verified))
        })
    }

    /// `account`'s identity binding, from its domain's gateway, verified under that domain's
    /// configured log and witnesses (and its checkpoint proved consistent with the trusted one).
    /// [`HeraldError::NotYet`] while no cosigned checkpoint covers it.
    pub async fn lookup_binding(
        &self,
        account: String,
    ) -> Result<IdentityBindingInfo, HeraldError> {
        guard(|| check_account(&account))?;
        let origin = guard(|| self.state.domain_log(&account))?;
        self.call(Some(origin.clone()), move |state| async move {
            lookup(&state, &origin, &account).await.map(|v| {
                let b = v.binding();
                IdentityBindingInfo {
                    account: b.account().to_owned(),
                    identity_key: b.identity_key().to_vec(),
                    signed_prekey: b.signed_prekey().to_vec(),
                    valid_from: b.valid_from(),
                    index: b.index(),
                    checkpoint: trusted_checkpoint(b.checkpoint().checkpoint()),
                    bound_now: v.bound_at(unix_now()).is_ok(),
                }
            })
        })
        .await
    }

    /// The home gateway's trust list: its own log (checked to be the configured home log) and
    /// its registered peers' logs, as the gateway describes them. The peers are the gateway's
    /// word: an app that trusts its operator may configure them (without gateway addresses,
    /// which the list does not carry).
    pub async fn gateway_trust_list(&self) -> Result<Vec<LogConfig>, HeraldError> {
        let home = self.state.config.home().origin().to_owned();
        self.call(Some(home.clone()), move |state| async move {
            let log = state.follow(&home).await?;
            let list = log.trust_list().await?;
            Ok(std::iter::once(&list.own)
                .chain(&list.peers)
                .map(|t| log_config(t, None, None))
                .collect())
        })
        .await
    }
}

/// `account`'s binding at `origin` (its domain log), verified.
pub(crate) async fn lookup(
    state: &ClientState,
    origin: &str,
    account: &str,
) -> Result<herald_light_client::VerifiedBindingAnswer, HeraldError> {
    let trust = state.config.log(origin)?.trust.clone();
    let mut log = state.follow(origin).await?;
    Ok(log
        .binding(&trust, account, state.config.max_clock_skew)
        .await?)
}

/// The system clock, Unix seconds (the light client's steps take time as an argument).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use futures_executor_free::block_on;
    use herald_light_client::{ClientError, VerifyError};
    use herald_proto::equivocation::Equivocation;
    use herald_proto::merkle::{HashAlgorithm, LogHasher as _};
    use herald_proto::testkit::{MemoryLog, filler};

    use super::*;
    use crate::config::tests::sample;

    /// Runs a future to completion on a throwaway runtime.
    mod futures_executor_free {
        pub(super) fn block_on<F: std::future::Future>(f: F) -> F::Output {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        }
    }

    /// A listener that keeps what it is told.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<SplitViewAlert>>);

    impl HeraldListener for Recorder {
        fn on_split_view(&self, alert: SplitViewAlert) -> Result<(), HeraldError> {
            self.0.lock().unwrap().push(alert);
            Ok(())
        }
        fn on_new_mail(&self, _: String, _: InboxEntry) -> Result<(), HeraldError> {
            Ok(())
        }
    }

    /// A listener whose code panics: the binding must not.
    struct Panicking;

    impl HeraldListener for Panicking {
        fn on_split_view(&self, _: SplitViewAlert) -> Result<(), HeraldError> {
            panic!("the app's listener has a bug")
        }
        fn on_new_mail(&self, _: String, _: InboxEntry) -> Result<(), HeraldError> {
            panic!("the app's listener has a bug")
        }
    }

    fn client_with(mut config: HeraldConfig) -> (tempfile::TempDir, Arc<HeraldClient>) {
        let dir = tempfile::tempdir().unwrap();
        // A port nobody listens at.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        config.home.gateway = Some(format!(
            "/ip4/127.0.0.1/tcp/{port}/p2p/{}",
            libp2p::PeerId::random()
        ));
        let config = HeraldConfig {
            state_dir: dir.path().join("state").to_string_lossy().into_owned(),
            ..config
        };
        (dir, HeraldClient::new(config).unwrap())
    }

    /// Two checkpoints of `d0.test/herald` (key seed 1) of one size with different roots.
    fn split_view() -> Equivocation {
        let (mut a, mut b) = (MemoryLog::new("d0.test", 1), MemoryLog::new("d0.test", 1));
        a.append(&filler(1));
        b.append(&filler(2));
        Equivocation::from_same_size(HashAlgorithm::Blake3, &a.checkpoint(), &b.checkpoint())
            .unwrap()
    }

    #[test]
    fn a_split_view_reaches_the_app_as_log_equivocated_and_its_listener() {
        let proof = split_view();
        let err: HeraldError = ClientError::from(VerifyError::Equivocated {
            equivocation: Box::new(proof.clone()),
        })
        .into();
        assert_eq!(
            err,
            HeraldError::LogEquivocated {
                origin: "d0.test/herald".into(),
                proof: proof.encode(),
            }
        );
        // The proof the app gets is transferable: it decodes and verifies on its own.
        let HeraldError::LogEquivocated { proof: bytes, .. } = &err else {
            unreachable!()
        };
        assert!(Equivocation::decode(bytes).unwrap().verify().is_ok());

        let (_dir, client) = client_with(sample());
        let recorder = Arc::new(Recorder::default());
        client.set_listener(Some(recorder.clone()));
        let back = block_on(client.state.told(None, Err::<(), _>(err.clone())));
        assert_eq!(back, Err(err.clone()));
        assert_eq!(
            *recorder.0.lock().unwrap(),
            vec![SplitViewAlert {
                origin: "d0.test/herald".into(),
                proof: proof.encode(),
            }]
        );
        // Other errors are not alerts; a panicking listener is contained.
        let other = Err::<(), _>(HeraldError::bad_input("x"));
        assert!(block_on(client.state.told(None, other)).is_err());
        assert_eq!(recorder.0.lock().unwrap().len(), 1);
        client.set_listener(Some(Arc::new(Panicking)));
        assert_eq!(
            block_on(client.state.told(None, Err::<(), _>(err.clone()))),
            Err(err)
        );
    }

    /// The home log of the test configuration, as a log in memory with witnesses 1..=3.
    fn home_log() -> (MemoryLog, HeraldConfig) {
        let mut log = MemoryLog::new("d0.test", 1);
        for i in 0..5 {
            log.append(&filler(i));
        }
        let mut config = sample();
        let trust = log.trust(2);
        config.home.log_key = trust.log().to_string();
        config.home.witness_keys = trust.to_pb().witness_keys;
        config.home.quorum = 2;
        (log, config)
    }

    #[test]
    fn an_inclusion_proof_is_checked_offline_and_a_bad_one_refused() {
        let (log, config) = home_log();
        let (_dir, client) = client_with(config);
        let now = unix_now();
        let note = log.cosigned(&[(1, now), (2, now)]);
        let leaf = log.included(3, &note);
        let proof = leaf.proof.clone().unwrap();
        // As an app hands them over: one `Vec` each.
        let hashes: Vec<Vec<u8>> = proof.hashes.iter().map(|h| h.to_vec()).collect();
        let hash = log.h.hash_leaf(&leaf.entry);
        let check = |note: &[u8], index: u64, hash: &[u8], proof: Vec<Vec<u8>>| {
            client.check_inclusion(
                "d0.test/herald".into(),
                String::from_utf8(note.to_vec()).unwrap(),
                index,
                hash.to_vec(),
                proof,
            )
        };
        let ok = check(&note, 3, &hash, hashes.clone()).unwrap();
        assert_eq!((ok.leaf_index, ok.checkpoint.size), (3, 5));

        let bad_input = |r: Result<Inclusion, HeraldError>| {
            assert!(matches!(r, Err(HeraldError::BadInput { .. })), "{r:?}")
        };
        // Another index, a flipped bit, a short proof, a leaf hash of 31 bytes.
        bad_input(check(&note, 2, &hash, hashes.clone()));
        let mut flipped = hashes.clone();
        flipped[0][0] ^= 1;
        bad_input(check(&note, 3, &hash, flipped));
        bad_input(check(&note, 3, &hash, hashes[1..].to_vec()));
        bad_input(check(&note, 3, &hash[1..], hashes.clone()));
        bad_input(check(&note, 3, &hash, vec![vec![0; 32]; 65]));
        // Cosigned by one witness where two are needed; not cosigned at all.
        bad_input(check(&log.cosigned(&[(1, now)]), 3, &hash, hashes.clone()));
        let plain = log.checkpoint().note().into_bytes();
        bad_input(check(&plain, 3, &hash, hashes.clone()));
        // An unknown log.
        assert!(matches!(
            client.check_inclusion(
                "d9.test/herald".into(),
                String::new(),
                0,
                hash.to_vec(),
                vec![]
            ),
            Err(HeraldError::BadInput { .. })
        ));
    }

    #[test]
    fn calls_that_need_a_gateway_fail_as_network_errors_not_hangs() {
        let (_dir, client) = client_with(sample());
        // Nobody listens at the configured address: connecting fails within its bound.
        let started = std::time::Instant::now();
        let err = block_on(client.refresh_checkpoint("d0.test/herald".into())).unwrap_err();
        assert!(matches!(err, HeraldError::Network { .. }), "{err:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // A log with no gateway, and one not configured, are the app's error.
        let err = block_on(client.refresh_checkpoint("d1.test/herald".into())).unwrap_err();
        assert!(matches!(err, HeraldError::BadInput { .. }), "{err:?}");
        let err = block_on(client.lookup_binding("bob@d9.test".into())).unwrap_err();
        assert!(matches!(err, HeraldError::BadInput { .. }), "{err:?}");
        let err = block_on(client.lookup_binding("no-domain".into())).unwrap_err();
        assert!(matches!(err, HeraldError::BadInput { .. }), "{err:?}");
        assert_eq!(client.operations_in_flight(), 0);
        assert!(client.trusted_checkpoints().unwrap().is_empty());
    }
}
