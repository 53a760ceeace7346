//! Opening the stored parts the node runs on: the log store, the peer registry and the
//! account book with the client intake.

use std::sync::Arc;

use libp2p::PeerId;

use super::GatewayError;
use crate::accounts::AccountBook;
use crate::accounts::attempts::EnrolmentMetrics;
use crate::accounts::prekeys::PrekeyBook;
use crate::accounts::settle::settle_in_flight;
use crate::clock::Clock;
use crate::config::NodeConfig;
use crate::keys::NodeKeys;
use crate::peers::PeerRegistry;
use crate::sequencer::SequencerHandle;
use crate::service::{Intake, IntakeParts};
use crate::store::{LogStore, OpenError};

/// Opens the peer registry in the store's database and registers the config's peers.
pub(super) async fn open_registry(
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

pub(super) async fn open_store(config: &NodeConfig) -> Result<LogStore, GatewayError> {
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
