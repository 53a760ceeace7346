//! Herald light client: talks to a gateway over libp2p and verifies everything it is told.
//!
//! Two layers:
//! - [`GatewayClient`] is the connection: a client-side libp2p swarm (TCP + noise + yamux, and
//!   QUIC, from [`net`]) speaking `/herald/client/1`. It is a [`Gateway`]: one required method
//!   sends a request and returns the answer; the typed calls (`checkpoint`, `entries`,
//!   `consistency`, ...) are the trait's, each checking with proto's matchers that the answer is
//!   the one asked for. Answers are raw wire types, checked for shape, size and match only.
//! - [`TrustedLog`] is the verifying layer for one log. It knows the log as proto's [`LogTrust`]
//!   (key, hash algorithm, and optionally a witness policy), keeps the last verified checkpoint
//!   in a [`CheckpointStore`], and accepts a new checkpoint only as proto's succession rule
//!   allows. Entries, leaves and older trees are returned only as types that verification makes
//!   ([`VerifiedEntry`], [`VerifiedInclusion`], [`VerifiedConsistency`]).
//!
//! All protocol checks are `herald-proto`'s; this crate only asks for the right proofs and keeps
//! state. Errors keep "the gateway misbehaved" ([`ClientError::is_peer_misbehaviour`], with the
//! evidence in [`VerifyError`]) apart from network and local failures.
//!
//! PAEP (DESIGN §3.1, §3.2): [`Session::login`] logs an account in to its gateway with its
//! password (SPAKE2+, proto's machines) and keeps the session channel in a [`SessionStore`];
//! requests that act for the account (prekey uploads and status, a password change) travel
//! sealed in it; [`fetch_prekey_bundle`] fetches and verifies another account's prekey. The key
//! store does every key operation inside itself ([`keystore::card`]).
//!
//! Certified mail (DESIGN §3.3): [`keystore`] holds the account's private keys (the "IC card",
//! a trait an app may implement; an encrypted file by default), and [`certmail`] drives proto's
//! sender and recipient state machines over a key store and a record store, messages as bytes.
//!
//! Policy and scanning (DESIGN §4): [`scan`] fetches the gateway's rule set, scans a mail's
//! plaintext with the built-in signature scanner or clamd before sending and before showing, and
//! quarantines what matches.
//!
//! [`net`] is Herald's libp2p side written once (codec, names, gossipsub, transport): the node and
//! the testnet use it too, and the node reads its peers through [`Gateway`] as this client does.
//! Time is passed in ([`clock`]).
//!
//! The library never reads the environment or picks paths: the `herald` command line ([`cli`],
//! which the binary and the testnet run) does. Files it is given are written and read through
//! [`durable_file`] (crash-safe replace or create, bounded reads), which the command line uses
//! for its own files too.
#![forbid(unsafe_code)]

// The command line names this crate by its name, as any user of the library does.
extern crate self as herald_light_client;

mod absence;
pub mod certmail;
pub mod cli;
mod client;
pub mod clock;
mod delivery_status;
pub mod durable_file;
mod error;
mod gateway;
pub mod http;
mod key_transparency;
pub mod keystore;
#[cfg(any(test, feature = "testkit"))]
pub mod lies;
mod mail;
mod mail_cycle;
mod mail_transfer;
pub mod net;
mod prekeys;
mod publication;
pub mod scan;
mod sender_bindings;
pub mod session;
mod store;
mod submission;
#[cfg(test)]
mod test_log;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
mod tile_gateway;
mod trust_list;
mod trusted_log;
mod verified;
mod verified_checkpoints;
mod verify;
mod witnessed;

pub use absence::{AbsenceBuildError, prove_absence};
pub use client::{ClientConfig, GatewayClient};
pub use delivery_status::delivery_status_through;
pub use error::{ClientError, GatewayRefusal};
pub use gateway::{Gateway, Leaf};
pub use herald_proto::checkpoint::DEFAULT_MAX_SKEW_SECS;
pub use herald_proto::inclusion::{LogTrust, VerifiedEntry, VerifiedInclusion};
pub use key_transparency::{
    FALLBACK_PREKEY_ID, Registered, VerifiedBindingAnswer, registration, verify_binding_answer,
};
pub use mail::{BindingUnproven, ReadBatch, ReadMail};
pub use mail_cycle::NextMails;
pub use prekeys::{DEFAULT_PREKEY_TARGET, TopUp, fetch_prekey_bundle};
pub use publication::{Polling, await_publication, publication_answer};
pub use sender_bindings::{SenderBindings, Verified};
pub use session::{
    FileSessionStore, MemorySessionStore, Session, SessionError, SessionStore,
    offered_password_record, password_record,
};
pub use store::{
    CheckpointStore, FileCheckpointStore, MAX_STATE_FILE_BYTES, MemoryCheckpointStore, StoreError,
};
pub use submission::{BatchEntry, request_runs};
pub use tile_gateway::TileGateway;
pub use trust_list::{CheckedTrustList, check_trust_list};
pub use trusted_log::{CheckpointUpdate, TrustedLog};
pub use verified::VerifiedConsistency;
pub use verified_checkpoints::VerifiedCheckpoints;
pub use verify::{VerifyError, verify_checkpoint, verify_consistency, verify_cosigned};
pub use witnessed::proof_against;
