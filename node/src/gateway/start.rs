//! [`Gateway::start`]: every part opened, spawned and bound, in the order the module docs of
//! [`gateway`](super) give; and the disk watch it spawns.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::open::{open_registry, open_store};
use super::{
    Gateway, GatewayError, NodeInfo, make_data_dir_private, open_intake, sequencer_outcome,
};
use crate::accounts::AccountError;
use crate::accounts::attempts::EnrolmentMetrics;
use crate::admin::{self, AdminApi, ForkHook};
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, NodeConfig};
use crate::gossip::{GOSSIP_EVENT_CAPACITY, GossipJudge};
use crate::health::Health;
use crate::http::{HttpLimits, HttpMetrics, HttpServer};
use crate::keys::NodeKeys;
use crate::metrics::{NetworkMetrics, PaepMetrics, WitnessMetrics};
use crate::network::{self, NetworkParts};
use crate::policy::PolicyGate;
use crate::routes::{NodeIdentity, NodeRoutes};
use crate::sequencer::{Sequencer, SequencerConfig, SequencerError, SequencerHandle};
use crate::service::evidence::EvidenceWriter;
use crate::service::{
    ClientService, MailMetrics, MailParts, MailService, NodeService, Paep, PaepParts,
    SubmitLimiter, SubmitLimits,
};
use crate::store::DiskSpace;
use crate::store::scrub::{self, ScrubStatus};
use crate::watch::alert_sync::AlertSync;
use crate::watch::{LogScanner, watcher};
use crate::witness::{Cosigner, CrossLogger, WitnessParts};

/// Time between two rounds of reading registered peers' logs for cross-logged checkpoints.
const PEER_LOG_SCAN_INTERVAL: Duration = Duration::from_secs(2);
/// Time between two measures of the log's free disk space (the sequencer also measures before
/// every round).
const DISK_CHECK_INTERVAL: Duration = Duration::from_secs(1);

impl Gateway {
    /// Starts the node of `config` (initialised by [`init`](super::init)) and returns once every
    /// listener is bound and `node.json` is written. Ports configured as 0 are chosen by the OS;
    /// see [`Gateway::listen_addrs`] and [`Gateway::http_addr`].
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

async fn stop_sequencer(sequencer: &SequencerHandle, task: JoinHandle<Result<(), SequencerError>>) {
    sequencer.shutdown();
    if let Err(e) = sequencer_outcome(task.await) {
        warn!(error = %e, "sequencer stopped with an error");
    }
}
