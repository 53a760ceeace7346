//! herald-node's integration tests, linked as one test binary: each file below was a binary of its
//! own, and linking ~19 binaries against libp2p, sled and tokio cost more than running them.
//! Shared fixtures are the `*_support` modules; a test file reaches them as `crate::…`.

mod certmail_support;
mod network_support;
mod store_support;
mod witness_support;

mod admin_api;
mod certmail_cli;
mod certmail_publication;
mod certmail_registration;
mod cli_node;
mod enrolment_attempts;
mod mail_evidence;
mod mail_privacy;
mod mail_status_relayed;
mod mail_transfer;
mod network_client;
mod network_flood;
mod network_gossip;
mod network_stream;
mod network_submit;
mod peer_redial;
mod policy_served;
mod relay_batch;
mod sequencer_acks;
mod sequencer_failure;
mod sequencer_order;
mod sequencer_pool;
mod sequencer_status;
mod store_restart;
mod store_rollback;
mod store_roundtrip;
mod store_sealed;
mod tlog_tiles;
mod tlog_witness;
mod witness_audit;
mod witness_network;
mod witness_protocol;
