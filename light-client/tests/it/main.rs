//! herald-light-client's integration tests, linked as one test binary: each file below was a binary of its
//! own, and linking ~7 binaries against libp2p, sled and tokio cost more than running them.
//! Shared fixtures are the `*_support` modules; a test file reaches them as `crate::…`.

mod certmail_support;

mod account_cli;
mod certmail_cli;
mod certmail_driver;
mod certmail_refusals;
mod certmail_resume;
mod evidence_cli;
mod misbehaving_gateway;
mod misbehaving_trickle;
mod scan_clamd;
mod status_cli;
