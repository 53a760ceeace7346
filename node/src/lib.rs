//! Herald's gateway node: a mail domain's durable, networked transparency log.
//!
//! - [`store`]: the log in sled (entry bundles, hash tiles, meta, indexes).
//! - [`sequencer`]: the task that batches submissions, appends, signs and flushes.
//! - [`network`]: the libp2p swarm worker, a transport: it serves what the [`network::Inbound`]
//!   behind it answers, and never names the witness or the intake.
//! - [`http`], [`routes`], [`metrics`], [`health`]: the HTTP listener, and the routes it serves:
//!   `/metrics`, `/health` (a level with its reasons), `/status` and the admin API.
//! - [`peers`]: the registry of trusted peer domains.
//! - [`policy`]: the mail policy: the `[policy]` configuration table and the gate that judges
//!   every mail the gateway accepts (rules and rates), counting refusals.
//! - [`accounts`]: this domain's accounts (pending, active, disabled) and enrolment codes.
//! - [`service`]: the node's service to the network: client intake (admission of client
//!   entries, registration and key-transparency entries, certified-mail lookup indexes and
//!   lookups, notary evidence), the client protocol's server, and the router the network worker
//!   serves through.
//! - [`gossip`]: what the node believes of gossip (and of alerts peers list).
//! - [`witness`]: the witness service (cosigning peers' logs under proto's tlog-witness
//!   judgement), collecting cosignatures for this log, cross-logging.
//! - [`watch`]: the split-view watch: gossip, consistency audits, peers' logs, alerts.
//! - [`admin`]: the admin API on the HTTP listener (bearer token).
//! - [`db`]: every sled tree, its owner and its flush rule.
//! - [`config`], [`keys`]: typed configuration and key files; [`clock`]: the injected wall clock.
//! - [`gateway`]: `run(config, signals)`, wiring the parts together and stopping them within a
//!   bound.
//! - [`cli`]: the `herald-node` command line (the binary is a thin wrapper around it).
#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod fault;
pub mod gateway;
pub mod gossip;
pub mod health;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod network;
pub mod node_client;
pub mod peers;
pub mod policy;
pub mod routes;
pub mod sequencer;
pub mod service;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tlog_tiles;
pub mod tlog_witness;
pub mod watch;
pub mod witness;
