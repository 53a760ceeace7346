//! Herald testnet: N gateway domains on 127.0.0.1, each a real `herald-node` process, with the
//! fault controls and the load the multi-process tests and benchmarks need.
//!
//! - [`Testnet`] ([`testnet`]): spawn, reach (light clients, `/status`), kill, stop, restart;
//!   [`admin`] adds peer registration, `cut`/`heal` (partitions), `fork` and `alerts`.
//! - [`TestnetNode`] ([`node`]): one domain's keys, addresses and process.
//! - [`process`]: starting node processes, signals, bounded waits, the orphan watch.
//! - [`node_api`]: the nodes' HTTP listener (`/status`, `/metrics`, admin API).
//! - [`admin`]: peer registration, partitions, forks and alerts, through the nodes' admin API.
//! - [`accounts`]: enrolling and disabling accounts (admin API); a domain's log and location X.
//! - [`party`]: one account's owner with the light client's key store, records and checkpoints.
//! - [`postbox`]: a party logged in to its gateway, its certified mail travelling as mail.
//! - [`manifest`]: `testnet.json`, which `herald-testnet up` leaves for `status` and `down`.
//! - [`observer`]: a plain gossipsub subscriber (standard libp2p only) watching the topics.
//! - [`lying_gateway`]: a gateway in front of a real one that lies in one chosen way, for the
//!   light client's attack tests over real libp2p.
//! - [`load`]: signed notarization entries of exact sizes, seeded random schedules.
//! - [`demo`]: `herald-testnet demo`, certified mail end to end, told with its proofs.
//! - [`bench`](mod@bench): `herald-testnet bench`, multi-process benchmarks with JSON reports.
//! - [`chaos`]: `herald-testnet chaos`, faults on a seeded schedule under client load, then
//!   checks that no promise broke.
//! - [`tmpfs`]: a small tmpfs for a node's data directory (root only), unmounted on drop.
//! - [`wait`]: bounded polling.
//! - [`cli`]: the `herald-testnet` command line (the binary is a thin wrapper around it).
//!
//! Every node runs the real node command line: the testnet binary has a hidden `node`
//! subcommand that calls [`herald_node::cli::main_with_args`], and the library starts each node
//! as `<binary> node run --config <file>` (tests pass `env!("CARGO_BIN_EXE_herald-testnet")`).
#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod bench;
pub mod chaos;
pub mod cli;
pub mod demo;
pub mod error;
pub mod load;
pub mod lying_gateway;
pub mod manifest;
pub mod node;
pub mod node_api;
pub mod observer;
pub mod party;
pub mod postbox;
pub mod process;
pub mod testnet;
pub mod tmpfs;
pub mod wait;

pub use error::TestnetError;
pub use manifest::{Manifest, ManifestNode};
pub use node::TestnetNode;
pub use party::{Party, PartyError};
pub use testnet::{Testnet, TestnetOptions};
