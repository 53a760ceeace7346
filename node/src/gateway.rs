//! The node wired together: `init` a data directory, `run` it until shutdown, or `start` and
//! `stop` it from a test.
//!
//! Start order: configuration, keys, log store, admin token, peer registry (seeded from the
//! config's `[[peers]]`), sequencer (which registers its metrics), witness state and alerts,
//! account book and certified mail, network (binding every listen address), the witnessing
//! tasks (gossip watcher, cosigner, cross-logger) and the evidence writer, HTTP listener, then
//! `<data_dir>/node.json` so that other processes can find a node started on port 0. Stop
//! order: the network stops taking requests; the sequencer finishes the batches it has taken,
//! flushes and answers them; the network delivers those answers and closes the swarm; the
//! witnessing tasks, the evidence writer, the disk watch and the scrub end; the HTTP listener
//! closes; `node.json` is removed; the database is flushed once more, unless a write failed.
//!
//! [`run`] bounds the stop: whatever it waits on (storage that no longer answers, e.g. sled
//! after ENOSPC), `run` returns within [`STOP_BOUND`], or at once on a second signal. Nothing
//! acknowledged depends on the stop: every ack waited for its round's flush. After a failed
//! write the node stops and `run` returns the error, so the process exits non-zero and a
//! supervisor restarts it: reopening is the only way back to a known durable state (see
//! docs/decisions.md). A nearly full disk is refused before that happens (`store::space`).

use std::fs;
use std::io::{self, Read as _};
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use herald_light_client::durable_file::{self, CreateError, FileIoError};
use herald_proto::checkpoint::WitnessVerifier;
use herald_proto::note::NoteVerifier;
use libp2p::{Multiaddr, PeerId};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::accounts::attempts::EnrolmentMetrics;
use crate::accounts::prekeys::{PrekeyBook, PrekeyStoreError};
use crate::accounts::settle::{SettleError, settle_in_flight};
use crate::accounts::{AccountBook, AccountError};
use crate::admin::{self, AdminApi, ForkHook, TokenError};
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, NodeConfig};
use crate::gossip::{GOSSIP_EVENT_CAPACITY, GossipJudge};
use crate::health::Health;
use crate::http::{HttpLimits, HttpMetrics, HttpServer};
use crate::keys::{KeyFileError, NodeKeys};
use crate::metrics::{NetworkMetrics, PaepMetrics, WitnessMetrics};
use crate::network::{self, Network, NetworkError, NetworkParts, NodeHandle};
use crate::peers::{PeerError, PeerRegistry};
use crate::policy::PolicyGate;
use crate::routes::{NodeIdentity, NodeRoutes};
use crate::sequencer::{Sequencer, SequencerConfig, SequencerError, SequencerHandle};
use crate::service::evidence::EvidenceWriter;
use crate::service::{
    ClientService, Intake, IntakeParts, MailMetrics, MailParts, MailService, NodeService, Paep,
    PaepParts, SubmitLimiter, SubmitLimits,
};
use crate::store::scrub::{self, ScrubStatus};
use crate::store::{DiskSpace, LogHead, LogStore, OpenError};
use crate::watch::alert_sync::AlertSync;
use crate::watch::{LogScanner, SplitViewWatch, watcher};
use crate::witness::{Cosigner, CrossLogger, WitnessError, WitnessParts, WitnessService};

/// Largest `node.json` read.
const MAX_NODE_INFO_BYTES: u64 = 64 * 1024;
/// Time between two rounds of reading registered peers' logs for cross-logged checkpoints.
const PEER_LOG_SCAN_INTERVAL: Duration = Duration::from_secs(2);
/// Longest [`run`] waits for a stop once it began; then it returns, leaving what still waits.
pub const STOP_BOUND: Duration = Duration::from_secs(10);
/// Longest the stop waits for the final flush of the database.
const FINAL_FLUSH_BOUND: Duration = Duration::from_secs(5);
/// Time between two measures of the log's free disk space (the sequencer also measures before
/// every round).
const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why the node could not be initialised, started, or kept running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key file is missing, unreadable, too open, or malformed.
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    /// The log store could not be created or opened (or is another log).
    #[error("log store: {0}")]
    Store(#[from] OpenError),
    /// The sequencer could not start, or stopped with an error.
    #[error("sequencer: {0}")]
    Sequencer(#[from] SequencerError),
    /// The network could not start.
    #[error("network: {0}")]
    Network(#[from] NetworkError),
    /// The admin token could not be made or read.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The peer registry could not be opened or seeded.
    #[error("peer registry: {0}")]
    Peers(#[from] PeerError),
    /// The witness state or the alerts could not be opened.
    #[error("witness state: {0}")]
    Witness(#[from] WitnessError),
    /// The account book or the evidence cursors could not be opened.
    #[error("accounts: {0}")]
    Accounts(#[from] AccountError),
    /// A registration interrupted by a crash could not be settled from the log.
    #[error("settling registrations interrupted by a crash: {0}")]
    Enrolments(#[from] SettleError),
    /// The prekey book could not be opened.
    #[error("prekeys: {0}")]
    Prekeys(#[from] PrekeyStoreError),
    /// The HTTP listener could not bind.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    Http {
        /// The configured address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// `init` found something in the data directory.
    #[error("data directory {0} is not empty; refusing to initialise over it")]
    DataDirNotEmpty(PathBuf),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// `node.json` does not parse.
    #[error("{path} is not a node description: {source}")]
    NodeInfo {
        /// The path.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A part of the node stopped while it should have been running.
    #[error("the {0} stopped unexpectedly")]
    Stopped(&'static str),
    /// The stop did not finish within [`STOP_BOUND`]; what it still waited on was left.
    #[error("the node did not stop within {0:?}; left what it still waited on")]
    StopTimedOut(Duration),
    /// A second signal came while the node was stopping: it was not waited for.
    #[error("{0} while stopping: not waiting for the stop to finish")]
    StopInterrupted(&'static str),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> GatewayError + '_ {
    move |source| GatewayError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a running node writes to `<data_dir>/node.json` (atomically: temporary file, rename)
/// after binding, and removes when it stops cleanly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The libp2p peer id.
    pub peer_id: String,
    /// The bound listen addresses, each ending in `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// The bound HTTP address (`/metrics`, `/health`, `/status`).
    pub http_addr: SocketAddr,
    /// The node's process id.
    pub pid: u32,
    /// The log's origin.
    pub origin: String,
    /// The log's verifier key.
    pub log_key: String,
}

impl NodeInfo {
    /// Reads `node.json` (bounded to 64 KiB).
    pub fn read(path: &Path) -> Result<Self, GatewayError> {
        let file = fs::File::open(path).map_err(io_error(path))?;
        let mut bytes = Vec::new();
        file.take(MAX_NODE_INFO_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error(path))?;
        if bytes.len() as u64 > MAX_NODE_INFO_BYTES {
            // Refused whole: a cut-off file would read as a JSON error about its last byte.
            return Err(io_error(path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("larger than {MAX_NODE_INFO_BYTES} bytes"),
            )));
        }
        serde_json::from_slice(&bytes).map_err(|source| GatewayError::NodeInfo {
            path: path.to_owned(),
            source,
        })
    }

    /// Writes `path` atomically and durably (`durable_file::replace`): readers see the old
    /// file or the whole new one.
    pub fn write(&self, path: &Path) -> Result<(), GatewayError> {
        // Invariant: a struct of strings and numbers always serializes.
        let json = serde_json::to_vec_pretty(self).expect("NodeInfo serializes");
        durable_file::replace(path, &json).map_err(file_error)
    }
}

fn file_error(e: FileIoError) -> GatewayError {
    GatewayError::Io {
        path: e.path,
        source: e.source,
    }
}

/// What `init` made.
#[derive(Debug)]
pub struct InitReport {
    /// The configuration file written.
    pub config_path: PathBuf,
    /// The log's verifier key (clients pin it).
    pub log_key: NoteVerifier,
    /// The witness's verifier key (peers register it).
    pub witness_key: WitnessVerifier,
    /// The libp2p peer id.
    pub peer_id: PeerId,
}

/// Initialises a node in `config.data_dir`, which must be missing or empty: generates the keys
/// and the admin token (files 0600), creates the empty log with `config.hash`, and writes
/// `config` as the documented TOML file `herald-node.toml`. Blocking (file system and sled).
pub fn init(config: &NodeConfig) -> Result<InitReport, GatewayError> {
    config.validate()?;
    let dir = &config.data_dir;
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(GatewayError::DataDirNotEmpty(dir.clone()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io_error(dir))?,
        Err(e) => return Err(io_error(dir)(e)),
    }
    // An empty directory the operator made keeps the mode it was made with: tightened here.
    make_data_dir_private(dir)?;
    let keys = NodeKeys::generate(&config.domain)?;
    keys.write_new(&config.key_dir())?;
    crate::keys::login_secret(&config.key_dir())?;
    crate::keys::mailbox_key(&config.key_dir())?;
    drop(LogStore::create(
        config.store_dir(),
        &config.origin(),
        config.hash,
    )?);
    let config_path = NodeConfig::default_file(dir);
    durable_file::create(&config_path, config.to_toml().as_bytes()).map_err(|e| match e {
        CreateError::Exists { path } => GatewayError::DataDirNotEmpty(path),
        CreateError::Io(e) => file_error(e),
    })?;
    admin::ensure_token(&config.admin_token_path())?;
    Ok(InitReport {
        config_path,
        log_key: keys.log_verifier(),
        witness_key: keys.witness_verifier(),
        peer_id: keys.peer_id(),
    })
}

/// Sets the data directory's mode to 0700 if it allows its group or others anything (the keys
/// are 0600 on their own, but the database, node.json and the logs are not); whether it did.
/// Called by `init` and at every start, so a directory made (or loosened) by hand is made
/// private all the same.
pub fn make_data_dir_private(dir: &Path) -> Result<bool, GatewayError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(dir)
        .map_err(io_error(dir))?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error(dir))?;
    Ok(true)
}

/// The head stored in a stopped node's data directory. Fails if the node is running (the
/// store is locked). Blocking.
pub fn stored_head(config: &NodeConfig) -> Result<LogHead, GatewayError> {
    Ok(LogStore::open(config.store_dir())?.head())
}

/// Runs the node until the first of `signals` (or a part of it fails), then stops it within
/// [`STOP_BOUND`]; a second signal during the stop returns at once. The stop runs in a task of
/// its own, so whatever it still waits on when `run` returns is never dropped on the caller's
/// thread (a process shuts its runtime down with a timeout, as the `herald-node` binary does).
/// Returns the failure that stopped the node, else the stop's outcome.
pub async fn run(
    config: NodeConfig,
    mut signals: impl Stream<Item = &'static str> + Unpin,
) -> Result<(), GatewayError> {
    let mut gateway = Gateway::start(config).await?;
    let failure = tokio::select! {
        signal = signals.next() => {
            info!(signal = signal.unwrap_or("no more signals"), "shutting down");
            None
        }
        e = gateway.failed() => Some(e),
    };
    if let Some(e) = &failure {
        error!(error = %e, "node failed; stopping");
    }
    let mut stopping = tokio::spawn(gateway.stop());
    let stopped = tokio::select! {
        joined = &mut stopping => joined.unwrap_or(Err(GatewayError::Stopped("stop task"))),
        () = tokio::time::sleep(STOP_BOUND) => {
            error!(bound = ?STOP_BOUND, "the node did not stop in time; exiting without waiting");
            Err(GatewayError::StopTimedOut(STOP_BOUND))
        }
        Some(signal) = signals.next() => {
            warn!(signal, "second signal while stopping: exiting without waiting");
            Err(GatewayError::StopInterrupted(signal))
        }
    };
    match failure {
        Some(e) => Err(e),
        None => stopped,
    }
}

/// A running node.
#[derive(Debug)]
pub struct Gateway {
    config: NodeConfig,
    store: LogStore,
    sequencer: SequencerHandle,
    /// Taken once it has ended (by `failed` or `stop`).
    sequencer_task: Option<JoinHandle<Result<(), SequencerError>>>,
    network: Network,
    http: HttpServer,
    info: NodeInfo,
    log_key: NoteVerifier,
    registry: PeerRegistry,
    witness: WitnessService,
    watch: SplitViewWatch,
    intake: Intake,
    /// The gossip watcher, the cosigner, the cross-logger, the evidence writer, the disk
    /// watch and the scrub; ended at stop.
    tasks: Vec<JoinHandle<()>>,
}

/// Opens the peer registry in the store's database and registers the config's peers.
async fn open_registry(
    config: &NodeConfig,
    store: &LogStore,
    own_peer: PeerId,
) -> Result<PeerRegistry, GatewayError> {
    let peers = config.peer_domains()?;
    let db = store.db().clone();
    let domain = config.domain.clone();
    tokio::task::spawn_blocking(move || {
        let registry = PeerRegistry::open(&db, &domain, own_peer)?;
        for peer in peers {
            registry.add(peer)?;
        }
        Ok(registry)
    })
    .await
    .map_err(|_| GatewayError::Stopped("registry opening task"))?
}

impl Gateway {
    /// Starts the node of `config` (initialised by [`init`]) and returns once every listener is
    /// bound and `node.json` is written. Ports configured as 0 are chosen by the OS; see
    /// [`Gateway::listen_addrs`] and [`Gateway::http_addr`].
    pub async fn start(config: NodeConfig) -> Result<Gateway, GatewayError> {
        config.validate()?;
        let policy_rules = config.policy.rule_set().map_err(ConfigError::from)?;
        if make_data_dir_private(&config.data_dir)? {
            warn!(
                dir = %config.data_dir.display(),
                "the data directory was open to its group or others; set to mode 0700"
            );
        }
        if let Some(warning) = config.http_exposure_warning() {
            warn!("{warning}");
        }
        let keys = NodeKeys::load(&config.key_dir(), &config.domain)?;
        let (login_secret, made) = crate::keys::login_secret(&config.key_dir())?;
        if made {
            info!(
                "made the login secret (keys/login.key) for unknown accounts' fake login records"
            );
        }
        let (mailbox_key, made) = crate::keys::mailbox_key(&config.key_dir())?;
        if made {
            info!("made the mailbox key (keys/mailbox.key) that mail is sealed under at rest");
        }
        let store = open_store(&config).await?;
        let token_path = config.admin_token_path();
        let token = tokio::task::spawn_blocking(move || admin::ensure_token(&token_path))
            .await
            .map_err(|_| GatewayError::Stopped("admin token task"))??;
        let peers = open_registry(&config, &store, keys.peer_id()).await?;
        if config.test_hooks {
            warn!(
                "TEST HOOKS ARE ENABLED (test_hooks = true): the admin API can make this log sign a conflicting checkpoint. Never run a real gateway like this."
            );
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut registry = Registry::default();
        let space = Arc::new(DiskSpace::new(
            &config.store_dir(),
            config.disk_warn_free_bytes(),
            config.disk_min_free_bytes(),
        ));
        space.register(&mut registry);
        space.check();
        let scrub_status = ScrubStatus::default();
        scrub_status.register(&mut registry);
        let sequencer_config = SequencerConfig {
            sequence_interval: config.sequence_interval(),
            batch_max: config.batch_max,
            pool_max: config.pool_max,
            space: Some(space.clone()),
            ..SequencerConfig::default()
        };
        let (sequencer, sequencer_task) = Sequencer::spawn(
            store.clone(),
            keys.log.clone(),
            sequencer_config,
            &mut registry,
        )?;
        let metrics = NetworkMetrics::register(&mut registry);
        let witness_metrics = WitnessMetrics::register(&mut registry);
        let http_metrics = HttpMetrics::register(&mut registry);
        let heads = sequencer.latest();
        let (handle, commands) = network::command_channel(keys.peer_id());
        let parts = WitnessParts {
            db: store.db().clone(),
            peers: peers.clone(),
            signer: keys.witness.clone(),
            own_log: keys.log_verifier(),
            witnessed_logs: config.witnessed_logs()?,
            node: handle.clone(),
            metrics: witness_metrics.clone(),
            clock: clock.clone(),
        };
        let (witness, watch, crosslog_offers) =
            match tokio::task::spawn_blocking(move || crate::witness::open(parts)).await {
                Ok(Ok(w)) => w,
                Ok(Err(e)) => {
                    stop_sequencer(&sequencer, sequencer_task).await;
                    return Err(e.into());
                }
                Err(_) => {
                    stop_sequencer(&sequencer, sequencer_task).await;
                    return Err(GatewayError::Stopped("witness opening task"));
                }
            };
        let enrolment_metrics = EnrolmentMetrics::register(&mut registry);
        let intake = match open_intake(
            &config,
            &keys,
            &store,
            &sequencer,
            &peers,
            &clock,
            enrolment_metrics,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                stop_sequencer(&sequencer, sequencer_task).await;
                return Err(e);
            }
        };
        let evidence = match EvidenceWriter::open(intake.clone(), heads.clone(), store.db()) {
            Ok(w) => w,
            Err(e) => {
                stop_sequencer(&sequencer, sequencer_task).await;
                return Err(AccountError::Storage(e).into());
            }
        };
        let (gossip_events, gossip_rx) = mpsc::channel(GOSSIP_EVENT_CAPACITY);
        let judge = GossipJudge::new(peers.clone(), keys.log_verifier(), gossip_events);
        let policy = Arc::new(PolicyGate::new(policy_rules, &mut registry));
        let mail_parts = MailParts {
            db: store.db().clone(),
            mailbox_key,
            log_key: keys.log.signing_key().clone(),
            peers: peers.clone(),
            node: handle.clone(),
            intake: intake.clone(),
            settings: config.mail_settings(),
            metrics: MailMetrics::register(&mut registry),
            evidence: crate::service::EvidenceRecorder::new(intake.clone()),
            policy: policy.clone(),
        };
        let mail = match tokio::task::spawn_blocking(move || MailService::open(mail_parts)).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                stop_sequencer(&sequencer, sequencer_task).await;
                return Err(AccountError::Storage(e).into());
            }
            Err(_) => {
                stop_sequencer(&sequencer, sequencer_task).await;
                return Err(GatewayError::Stopped("mail opening task"));
            }
        };
        let paep = Paep::new(PaepParts {
            intake: intake.clone(),
            login_secret,
            session_lifetime: config.session_lifetime_secs,
            max_sessions: config.max_sessions,
            relay_prekey_bundles_per_minute: config.relay_prekey_bundles_per_minute,
            metrics: PaepMetrics::register(&mut registry),
            mail: Some(mail.clone()),
        });
        let service = NodeService::new(
            ClientService::new(
                intake.clone(),
                store.clone(),
                watch.clone(),
                paep,
                Arc::new(SubmitLimiter::new(
                    SubmitLimits::from_config(&config),
                    &mut registry,
                )),
            )
            .with_policy(policy),
            witness.clone(),
            watch.clone(),
            judge.clone(),
            AlertSync::new(handle.clone(), judge),
        );
        let parts = NetworkParts {
            identity: keys.identity.clone(),
            handle: handle.clone(),
            commands,
            service,
            heads: heads.clone(),
            peers: peers.watch(),
            metrics,
        };
        let network = match network::start(&config, parts).await {
            Ok(network) => network,
            Err(e) => {
                stop_sequencer(&sequencer, sequencer_task).await;
                return Err(e.into());
            }
        };
        let tasks = vec![
            watcher::spawn(watch.clone(), gossip_rx),
            Cosigner {
                node: handle.clone(),
                store: store.clone(),
                heads: heads.clone(),
                peers: peers.watch(),
                log: keys.log_verifier(),
                quorum: config.quorum,
                external: config.external_witnesses()?,
                request_timeout: config.request_timeout(),
                metrics: witness_metrics.clone(),
                clock: clock.clone(),
            }
            .spawn(),
            CrossLogger {
                sequencer: sequencer.clone(),
                peers: peers.clone(),
                own_witness: keys.witness_verifier(),
                quorum: config.quorum,
                interval: config.crosslog_interval(),
                metrics: witness_metrics.clone(),
                clock: clock.clone(),
            }
            .spawn(crosslog_offers),
            LogScanner {
                watch: watch.clone(),
                node: handle.clone(),
                store: store.clone(),
                metrics: witness_metrics,
                interval: PEER_LOG_SCAN_INTERVAL,
            }
            .spawn(),
            evidence.spawn(),
            mail.spawn(),
            watch_disk(space.clone()),
            scrub::spawn(
                store.clone(),
                config.scrub_bytes_per_second(),
                scrub_status.clone(),
            ),
        ];
        let fork = config.test_hooks.then(|| ForkHook {
            signer: keys.log.clone(),
            store: store.clone(),
            clock,
        });
        let admin = AdminApi::new(
            &token,
            peers.clone(),
            watch.clone(),
            intake.clone(),
            handle,
            fork,
        );
        let routes = NodeRoutes {
            registry: Arc::new(registry),
            node: network.handle.clone(),
            heads,
            identity: Arc::new(NodeIdentity {
                origin: config.origin(),
                hash: config.hash.to_string(),
                log_key: keys.log_verifier().to_string(),
                witness_key: keys.witness_verifier().to_string(),
            }),
            store: store.clone(),
            witness: witness.clone(),
            watch: watch.clone(),
            admin: Arc::new(admin),
            health: Health {
                sequencer: sequencer.status(),
                space: Some(space),
                scrub: Some(scrub_status),
            },
            served_tiles: Arc::default(),
        };
        let http = match HttpServer::bind_counted(
            config.http_listen,
            routes,
            HttpLimits::default(),
            http_metrics,
        )
        .await
        {
            Ok(http) => http,
            Err(source) => {
                network.join().await;
                stop_sequencer(&sequencer, sequencer_task).await;
                tasks.iter().for_each(JoinHandle::abort);
                return Err(GatewayError::Http {
                    addr: config.http_listen,
                    source,
                });
            }
        };
        let info = NodeInfo {
            peer_id: keys.peer_id().to_string(),
            listen_addrs: network.listen_addrs.iter().map(|a| a.to_string()).collect(),
            http_addr: http.local_addr,
            pid: std::process::id(),
            origin: config.origin(),
            log_key: keys.log_verifier().to_string(),
        };
        if let Err(e) = info.write(&config.node_info_path()) {
            http.stop().await;
            network.join().await;
            stop_sequencer(&sequencer, sequencer_task).await;
            tasks.iter().for_each(JoinHandle::abort);
            return Err(e);
        }
        let head = store.head();
        let opened = store.open_times();
        info!(
            origin = %info.origin,
            size = head.size,
            store_open_ms = opened.storage.as_secs_f64() * 1e3,
            log_open_ms = opened.log.as_secs_f64() * 1e3,
            peer_id = %info.peer_id,
            http = %info.http_addr,
            log_key = %info.log_key,
            "herald-node running"
        );
        Ok(Gateway {
            config,
            store,
            sequencer,
            sequencer_task: Some(sequencer_task),
            network,
            http,
            info,
            log_key: keys.log_verifier(),
            registry: peers,
            witness,
            watch,
            intake,
            tasks,
        })
    }

    /// Client intake: accounts, registration, lookups.
    pub fn intake(&self) -> &Intake {
        &self.intake
    }

    /// The peer registry.
    pub fn peers(&self) -> &PeerRegistry {
        &self.registry
    }

    /// The log store (reads; the sequencer is its only writer of entries).
    pub fn store(&self) -> &LogStore {
        &self.store
    }

    /// The witness service: what this node holds of its peers' logs.
    pub fn witness(&self) -> &WitnessService {
        &self.witness
    }

    /// The split-view watch: alerts, audits, the scan of peers' logs.
    pub fn watch(&self) -> &SplitViewWatch {
        &self.watch
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// A handle on the network worker.
    pub fn handle(&self) -> &NodeHandle {
        &self.network.handle
    }

    /// The libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.network.handle.peer_id()
    }

    /// The listen addresses bound at start, each ending in `/p2p/<peer id>`.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.network.listen_addrs
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr
    }

    /// What `node.json` says.
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// The log's verifier key.
    pub fn log_key(&self) -> &NoteVerifier {
        &self.log_key
    }

    /// The log's latest durable head.
    pub fn head(&self) -> LogHead {
        self.store.head()
    }

    /// Resolves when a part of the node stops on its own: the sequencer (e.g. a failed write)
    /// or the network worker. Cancel-safe; a node that runs fine never resolves it.
    pub async fn failed(&mut self) -> GatewayError {
        let sequencer = async {
            match self.sequencer_task.as_mut() {
                Some(task) => {
                    let outcome = task.await;
                    self.sequencer_task = None;
                    sequencer_outcome(outcome)
                        .err()
                        .unwrap_or(GatewayError::Stopped("sequencer"))
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            e = sequencer => e,
            () = self.network.stopped() => GatewayError::Stopped("network worker"),
        }
    }

    /// Stops the node cleanly (see the module docs); the sequencer's error if it had failed.
    pub async fn stop(mut self) -> Result<(), GatewayError> {
        info!("herald-node stopping");
        self.network.begin_shutdown();
        self.sequencer.shutdown();
        let outcome = match self.sequencer_task.take() {
            Some(task) => sequencer_outcome(task.await),
            None => Ok(()),
        };
        self.network.join().await;
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        self.http.stop().await;
        let path = self.config.node_info_path();
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                warn!(path = %path.display(), error = %e, "could not remove node.json");
            }
            _ => {}
        }
        let store = self.store;
        if store.writer_failed() {
            // Its storage failed (e.g. ENOSPC), and sled may never answer a flush again: it
            // blocked here for good and held the database lock (reliability review F1). Every round
            // acknowledged was flushed before its ack; the rest is lost to the failure anyway.
            warn!("a write failed: skipping the final flush");
        } else {
            // Every round was flushed by the sequencer; this covers anything else in the
            // database, bounded: a storage that stopped answering must not hold the stop.
            let flush = tokio::task::spawn_blocking(move || store.db().flush());
            match tokio::time::timeout(FINAL_FLUSH_BOUND, flush).await {
                Ok(Ok(Ok(_))) => {}
                Ok(Ok(Err(e))) => error!(error = %e, "final flush failed"),
                Ok(Err(_)) => error!("final flush panicked"),
                Err(_) => error!(bound = ?FINAL_FLUSH_BOUND, "final flush did not finish in time"),
            }
        }
        info!("herald-node stopped");
        outcome
    }
}

/// Measures the log's free disk space every [`DISK_CHECK_INTERVAL`], so that a refusal lifts
/// by itself once space is freed (the sequencer measures only when it has a round to write).
fn watch_disk(space: Arc<DiskSpace>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(DISK_CHECK_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let s = space.clone();
            if tokio::task::spawn_blocking(move || s.check())
                .await
                .is_err()
            {
                return;
            }
        }
    })
}

/// Opens the account book and makes the client intake (also used by
/// `herald-node account` on a stopped node, with a sequencer of its own).
pub async fn open_intake(
    config: &NodeConfig,
    keys: &NodeKeys,
    store: &LogStore,
    sequencer: &SequencerHandle,
    peers: &PeerRegistry,
    clock: &Arc<dyn Clock>,
    enrolment_metrics: EnrolmentMetrics,
) -> Result<Intake, GatewayError> {
    let db = store.db().clone();
    let domain = config.domain.clone();
    let log = store.clone();
    // Registrations a crash interrupted are settled before any client is served.
    let (accounts, prekeys) = tokio::task::spawn_blocking(move || {
        let book = AccountBook::open(&db, &domain)?;
        settle_in_flight(&book, &log)?;
        let prekeys = PrekeyBook::open(&db)?;
        Ok::<_, GatewayError>((book, prekeys))
    })
    .await
    .map_err(|_| GatewayError::Stopped("account book opening task"))??;
    Ok(Intake::new(IntakeParts {
        store: store.clone(),
        sequencer: sequencer.clone(),
        accounts,
        log_key: keys.log.signing_key().clone(),
        log: keys.log_verifier(),
        own_witness: keys.witness_verifier(),
        peers: peers.clone(),
        quorum: config.quorum,
        clock: clock.clone(),
        enrolment_metrics,
        password_params: config.password_params()?,
        prekeys,
    }))
}

async fn open_store(config: &NodeConfig) -> Result<LogStore, GatewayError> {
    let dir = config.store_dir();
    let store = tokio::task::spawn_blocking(move || LogStore::open(dir))
        .await
        .map_err(|_| GatewayError::Stopped("store opening task"))??;
    if store.origin() != config.origin() {
        return Err(OpenError::OriginMismatch {
            stored: store.origin().to_owned(),
            given: config.origin(),
        }
        .into());
    }
    if store.algorithm() != config.hash {
        return Err(OpenError::AlgorithmMismatch {
            stored: store.algorithm(),
            given: config.hash,
        }
        .into());
    }
    Ok(store)
}

fn sequencer_outcome(
    joined: Result<Result<(), SequencerError>, tokio::task::JoinError>,
) -> Result<(), GatewayError> {
    match joined {
        Ok(result) => result.map_err(GatewayError::from),
        Err(_) => Err(GatewayError::Sequencer(SequencerError::Panicked)),
    }
}

async fn stop_sequencer(sequencer: &SequencerHandle, task: JoinHandle<Result<(), SequencerError>>) {
    sequencer.shutdown();
    if let Err(e) = sequencer_outcome(task.await) {
        warn!(error = %e, "sequencer stopped with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_makes_keys_config_and_log_and_refuses_to_repeat() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("node");
        let config = NodeConfig::new("alpha.test", &dir);
        let report = init(&config).unwrap();
        let text = fs::read_to_string(&report.config_path).unwrap();
        assert_eq!(NodeConfig::from_toml_str(&text).unwrap(), config);
        let keys = NodeKeys::load(&config.key_dir(), "alpha.test").unwrap();
        assert_eq!(keys.log_verifier(), report.log_key);
        assert_eq!(keys.peer_id(), report.peer_id);
        let head = stored_head(&config).unwrap();
        assert_eq!(head.size, 0);
        assert!(matches!(
            init(&config),
            Err(GatewayError::DataDirNotEmpty(_))
        ));
    }

    #[test]
    fn node_info_is_replaced_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("node.json");
        let mut info = NodeInfo {
            peer_id: "p".into(),
            listen_addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
            http_addr: "127.0.0.1:2".parse().unwrap(),
            pid: 3,
            origin: "a.test/herald".into(),
            log_key: "k".into(),
        };
        info.write(&path).unwrap();
        info.pid = 4;
        info.write(&path).unwrap();
        assert_eq!(NodeInfo::read(&path).unwrap(), info);
        assert!(!tmp.path().join("node.json.tmp").exists());
        fs::write(&path, b"{").unwrap();
        assert!(matches!(
            NodeInfo::read(&path),
            Err(GatewayError::NodeInfo { .. })
        ));
        // Over the bound: refused unread past it, not parsed as a cut-off document.
        fs::write(&path, vec![b' '; MAX_NODE_INFO_BYTES as usize + 1]).unwrap();
        let err = NodeInfo::read(&path).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
    }
}
