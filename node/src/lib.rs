//! Herald's gateway node: a mail domain's durable, networked transparency log.
//!
//! - [`store`]: the log in sled (entry bundles, hash tiles, meta, indexes).
//! - [`sequencer`]: the task that batches submissions, appends, signs and flushes.
//! - [`network`]: the libp2p swarm worker and the protocols it serves.
//! - [`http`], [`metrics`]: `/metrics`, `/health`, `/status`.
//! - [`peers`]: the registry of trusted peer domains.
//! - [`witness`]: cosigning peers' logs, collecting cosignatures for this one, cross-logging,
//!   split-view detection and alerts.
//! - [`admin`]: the admin API on the HTTP listener (bearer token).
//! - [`config`], [`keys`]: typed configuration and key files.
//! - [`gateway`]: `run(config, shutdown)`, wiring the parts together.
//! - [`cli`]: the `herald-node` command line (the binary is a thin wrapper around it).
#![forbid(unsafe_code)]

pub mod admin;
pub mod cli;
pub mod config;
pub mod gateway;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod network;
pub mod peers;
pub mod sequencer;
pub mod store;
pub mod witness;
