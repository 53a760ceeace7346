//! Herald's gateway node: a mail domain's durable, networked transparency log.
//!
//! - [`store`]: the log in sled (entry bundles, hash tiles, meta, indexes).
//! - [`sequencer`]: the task that batches submissions, appends, signs and flushes.
//! - [`network`]: the libp2p swarm worker and the protocols it serves.
//! - [`http`], [`metrics`]: `/metrics`, `/health`, `/status`.
//! - [`config`], [`keys`]: typed configuration and key files.
//! - [`gateway`]: `run(config, shutdown)`, wiring the parts together.
//! - [`cli`]: the `herald-node` command line (the binary is a thin wrapper around it).
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod gateway;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod network;
pub mod sequencer;
pub mod store;
