//! What every `herald` command that talks to a gateway shares: its address, the timeout, and
//! the async runtime the network calls run on.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use herald_light_client::{ClientConfig, ClientError, Gateway, GatewayClient, TileGateway};
use herald_proto::wire::pb;
use libp2p::Multiaddr;

/// `--gateway` and `--timeout`.
#[derive(Debug, Args)]
pub(super) struct GatewayArgs {
    /// The gateway's address, ending in /p2p/<peer id> (TCP or /quic-v1).
    #[arg(long, env = "HERALD_GATEWAY", value_name = "MULTIADDR")]
    pub gateway: Multiaddr,
    /// Seconds to wait for the connection and for each answer.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

impl GatewayArgs {
    /// Connects to the gateway (inside the runtime).
    pub(super) async fn connect(&self) -> anyhow::Result<GatewayClient> {
        let config = ClientConfig {
            connect_timeout: Duration::from_secs(self.timeout),
            request_timeout: Duration::from_secs(self.timeout),
            ..ClientConfig::default()
        };
        GatewayClient::connect_with(&self.gateway, &config)
            .await
            .with_context(|| format!("connecting to {}", self.gateway))
    }
}

/// The runtime network commands run on: two workers are plenty for one connection.
pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Where `herald log` reads the log: a gateway over libp2p, or a tile server (`--tiles`).
pub(super) enum LogSource {
    /// `--gateway`.
    Gateway(GatewayClient),
    /// `--tiles`.
    Tiles(TileGateway),
}

impl Gateway for LogSource {
    async fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        match self {
            LogSource::Gateway(g) => g.exchange(request).await,
            LogSource::Tiles(t) => t.exchange(request).await,
        }
    }

    async fn max_request_bytes(&self) -> usize {
        match self {
            LogSource::Gateway(g) => g.max_request_bytes().await,
            LogSource::Tiles(t) => t.max_request_bytes().await,
        }
    }
}
