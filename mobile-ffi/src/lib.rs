//! Herald's mobile binding: the light client for Android and iOS apps (and any language uniffi
//! generates for), built with uniffi's proc-macros in library mode (DESIGN §1 `mobile-ffi`).
//!
//! A thin layer (STYLE.md "Thin FFI"): every protocol decision stays in `herald-proto` and the
//! light client. This crate converts types at the boundary, checks every input the app gives
//! against a bound (as any other input), maps the light client's errors into one
//! [`HeraldError`] an app can switch on, and owns a tokio runtime on which the network work
//! runs (`runtime.rs`: cancelling a call from Kotlin, Swift or Python aborts its work; no panic
//! crosses the boundary).
//!
//! What an app gets today:
//! - [`HeraldClient`] from a [`HeraldConfig`] (gateway addresses, each log's key, hash and
//!   witnesses, a state directory): trusted cosigned checkpoints, inclusion proofs online and
//!   offline, identity-binding lookups, the gateway's trust list, split-view alerts to a
//!   [`HeraldListener`].
//! - [`HeraldAccount`]: registration with an enrolment code, and certified mail — send, request,
//!   accept, publish (to evidence), fetch, the evidence bundle as bytes.
//! - [`verify_evidence`]: the offline arbiter, with the deciding check.
//! - [`SecureKeyStore`]: the key store as operations, for the app to implement over Android
//!   Keystore or the iOS Keychain (see `key_store.rs` for what it runs until proto's machines
//!   take signer traits); the light client's encrypted file store is offered too.
//!
//! Not here yet (they do not exist below it yet): PAEP login and logout, mail, inbox and
//! delivery status, prekey status and top-up, and the listener's new-mail event.
//!
//! `#![forbid(unsafe_code)]` does not apply to this crate, alone in the workspace: uniffi's
//! scaffolding (`setup_scaffolding!` and the export macros) generates the `extern "C"`
//! functions and the unsafe pointer handling of the foreign ABI. The code written here has no
//! `unsafe` block.

uniffi::setup_scaffolding!();

mod account;
mod certified_mail;
mod client;
mod config;
mod error;
mod evidence;
mod key_store;
mod runtime;
#[cfg(feature = "testing-hooks")]
mod testing;

pub use account::{HeraldAccount, MAX_PASSPHRASE_BYTES, Registration};
pub use certified_mail::{
    AcceptedRequest, KeyDelivery, KeyRequest, OpenedMail, PublishOutcome, SealedMail,
};
pub use client::{
    HeraldClient, HeraldListener, IdentityBindingInfo, Inclusion, SplitViewAlert, TrustedCheckpoint,
};
pub use config::{CertifiedMailPolicy, HeraldConfig, LogConfig, LogHash};
pub use error::HeraldError;
pub use evidence::{
    ArbiterOptions, CheckStatus, TrustInput, TrustInputSource, Verdict, VerdictCheck,
    VerdictOutcome, verify_evidence,
};
pub use key_store::{KeyStoreIdentity, SecureKeyStore};
