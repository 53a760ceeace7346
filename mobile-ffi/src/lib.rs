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
//! - [`HeraldAccount`]: registration with an enrolment code; login and logout (PAEP) at the
//!   home gateway; mail — send (with attachments), inbox, read (verified, decrypted,
//!   acknowledged, prekeys topped up), a sent mail's delivery status with its proved notary
//!   records, prekey status and top-up; new mail and split views told to the listener
//!   ([`HeraldAccount::check_mail`], [`HeraldAccount::watch`]); and certified mail — send,
//!   request, accept, publish (to evidence), fetch, the evidence bundle as bytes.
//! - [`verify_evidence`]: the offline arbiter, with the deciding check.
//! - [`SecureKeyStore`]: the key store as operations, for the app to implement over Android
//!   Keystore or the iOS Keychain (see `key_store.rs` for what it runs until proto's machines
//!   take signer traits); the light client's encrypted file store is offered too.
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
mod listener;
mod mail;
mod proofs;
mod runtime;
mod session;
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
pub use listener::{MAX_WATCH_INTERVAL_MS, MIN_WATCH_INTERVAL_MS, MailCheck};
pub use mail::{
    DeliveryRecord, DeliveryState, DeliveryStatus, Inbox, InboxEntry, MAX_PREKEY_TARGET,
    MailAttachment, PrekeyStatus, PrekeyTopUp, ReceivedAttachment, ReceivedMail, SentMail,
};
pub use proofs::{
    EquivocationForm, ProvenEquivocation, ShownAbsence, verify_absence_proof, verify_checkpoint,
    verify_equivocation,
};
pub use session::LoginInfo;
