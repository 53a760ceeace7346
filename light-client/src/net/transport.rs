//! The transport every Herald swarm runs: TCP (with `nodelay`) secured by noise and multiplexed
//! by yamux, and QUIC, on tokio. Only standard libp2p protocols (DESIGN §2), so a peer written
//! with another libp2p implementation can connect.
//!
//! A TCP connection must finish its handshake (multistream-select, noise, yamux) within a bound
//! (reliability review F2): libp2p's builder sets none, so a socket that connects and then says nothing
//! would hold a pending-connection slot for ever. QUIC has its own handshake timeout.

use std::time::Duration;

use libp2p::core::upgrade;
use libp2p::core::{Transport as _, transport::timeout::TransportTimeout};
use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{Swarm, SwarmBuilder, noise, tcp, yamux};

/// Time a TCP connection has to finish its handshake when the caller names none.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a swarm could not be built (a transport or behaviour configuration refused).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("could not build the libp2p swarm: {reason}")]
pub struct SwarmBuildError {
    /// What refused, and why.
    pub reason: String,
}

impl SwarmBuildError {
    /// The error of `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        SwarmBuildError {
            reason: reason.into(),
        }
    }
}

/// A swarm with `identity` over TCP + noise + yamux and QUIC, running the behaviour `behaviour`
/// makes from the identity, closing connections idle for longer than `idle_timeout`; TCP
/// handshakes are bounded by [`DEFAULT_HANDSHAKE_TIMEOUT`].
pub fn build_swarm<B: NetworkBehaviour>(
    identity: Keypair,
    idle_timeout: Duration,
    behaviour: impl FnOnce(&Keypair) -> Result<B, SwarmBuildError>,
) -> Result<Swarm<B>, SwarmBuildError> {
    build_swarm_bounded(identity, idle_timeout, DEFAULT_HANDSHAKE_TIMEOUT, behaviour)
}

/// [`build_swarm`] with TCP handshakes bounded by `handshake_timeout` (a connection that has not
/// finished noise and yamux by then is closed).
pub fn build_swarm_bounded<B: NetworkBehaviour>(
    identity: Keypair,
    idle_timeout: Duration,
    handshake_timeout: Duration,
    behaviour: impl FnOnce(&Keypair) -> Result<B, SwarmBuildError>,
) -> Result<Swarm<B>, SwarmBuildError> {
    let mut refused = None;
    let swarm = SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_quic()
        .with_other_transport(|key| {
            // What SwarmBuilder::with_tcp builds, with the timeout it lacks.
            let noise = noise::Config::new(key)?;
            let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                .upgrade(upgrade::Version::V1Lazy)
                .authenticate(noise)
                .multiplex(yamux::Config::default());
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(TransportTimeout::new(
                tcp,
                handshake_timeout,
            ))
        })
        .map_err(|e| SwarmBuildError::new(format!("setting up noise: {e}")))?
        .with_behaviour(|key| {
            // The builder wants a boxed error; the behaviour's own is kept to be returned as is.
            behaviour(key).map_err(|e| {
                let boxed: Box<dyn std::error::Error + Send + Sync> = e.reason.clone().into();
                refused = Some(e);
                boxed
            })
        });
    let builder = match swarm {
        Ok(builder) => builder,
        Err(e) => return Err(refused.unwrap_or_else(|| SwarmBuildError::new(e.to_string()))),
    };
    Ok(builder
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle_timeout))
        .build())
}

#[cfg(test)]
mod tests {
    use libp2p::swarm::dummy;

    use super::*;

    #[test]
    fn a_refusing_behaviour_is_reported_as_it_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let key = Keypair::generate_ed25519();
            let peer = key.public().to_peer_id();
            let swarm = build_swarm(key, Duration::from_secs(1), |_| Ok(dummy::Behaviour)).unwrap();
            assert_eq!(*swarm.local_peer_id(), peer);
            let refused = build_swarm::<dummy::Behaviour>(
                Keypair::generate_ed25519(),
                Duration::from_secs(1),
                |_| Err(SwarmBuildError::new("no")),
            );
            assert!(matches!(refused, Err(e) if e == SwarmBuildError::new("no")));
        });
    }
}
