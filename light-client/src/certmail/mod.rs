//! Certified mail for one account: the driver around `herald-proto`'s sans-IO sender and
//! recipient state machines (DESIGN §3.3).
//!
//! [`CertMail`] owns the account's [`SecureKeyStore`] and a [`RecordStore`]. Each call loads
//! the record of one mail, resumes the state machine from it, feeds it one input, and carries
//! out the actions that need no network: it persists records (before anything is handed out),
//! encodes what goes to the other party as bytes, and stores the evidence bundle when the
//! sender's machine ends. What needs the network is returned to the caller:
//! [`SenderStep::Publish`] ("submit this leaf to X") and the req_hash a recipient looks up
//! ([`RequestMade::req_hash`] at [`RequestMade::origin`]); the answers come back through
//! [`CertMail::take_inclusion`] and [`CertMail::take_publication`].
//!
//! Messages are bytes in and bytes out (encoded protobuf of `certmail.proto`); where they travel
//! (files, PAEP, a mailbox) is the caller's choice.
//!
//! Keys: no private key leaves the key store. The machines sign through the store
//! ([`crate::keystore::CardView`]); the recipient's P_req is created inside the store under
//! proto's `request_secret_name` (only its public half comes out), K is unwrapped from the
//! store's X25519 output, and the secret is erased by [`CertMail::forget_request`] when the mail
//! is finished. The sender's ephemeral `a` is not a key-store secret: it goes into the evidence
//! bundle anyway, so the sent record keeps it next to M and K, which the sender already has:
//! keep the record directory private ([`DirRecordStore`] makes it 0700).
//!
//! Time and randomness are passed in, as in proto: the driver's steps take `now`. The network
//! steps ([`CertMail::publish`], [`CertMail::fetch`], in `network.rs`) wait for cosignatures,
//! so they read the driver's [`Clock`] to know when to stop (the system's unless
//! [`CertMail::with_clock`] gave another).

mod mailed;
mod messages;
mod network;
mod recipient;
mod records;
mod sender;

pub use mailed::{Arrival, MailRoute};
pub use messages::{
    MAX_INCLUDED_LEAF_BYTES, decode_direct_key, decode_included_leaf, decode_receipt,
    decode_request, decode_sealed,
};
pub use recipient::{Opened, RecipientStatus, RequestMade};
pub use records::{DirRecordStore, MemoryRecordStore, RecordKind, RecordStore, RecordStoreError};
pub use sender::{BindingMaterial, Letter, SenderConfig, SenderStatus, SenderStep};

pub use herald_proto::certmail::recipient::{Delivery, RequestTerms};
pub use herald_proto::certmail::sender::SenderPolicy;

use std::sync::Arc;

use herald_proto::certmail::CertMailError;
use herald_proto::checkpoint::CheckpointError;
use herald_proto::identity::IdentityError;
use herald_proto::paep::{IdentitySigner, SecretAgreement, SecretCreator};
use herald_proto::wire::WireError;

use crate::clock::{Clock, SystemClock};
use crate::error::ClientError;
use crate::keystore::{Identity, KeyStoreError, SecureKeyStore};
use crate::store::StoreError;

/// Why a certified-mail step failed.
///
/// [`CertifiedMailError::Refused`], [`CertifiedMailError::Malformed`] and
/// [`CertifiedMailError::Binding`] mean the other party (or the log) sent something not
/// acceptable: the state is unchanged and the same input gives the same answer. The store
/// variants are local failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertifiedMailError {
    /// The protocol refused the input, with proto's reason (a request whose deadline is too
    /// soon, an unknown location, a mismatch, a bad signature, a key that fails c_K, ...).
    #[error("refused: {0}")]
    Refused(#[from] CertMailError),
    /// A message's bytes do not decode, or break the schema's bounds.
    #[error("{what} is malformed: {error}")]
    Malformed {
        /// Which message: "sealed message", "key request", ...
        what: &'static str,
        /// Why.
        error: WireError,
    },
    /// The recipient's identity binding does not verify against the domain log the sender
    /// trusts (bad signature, not included, not cosigned, another domain's account).
    #[error("refused: the recipient's identity binding does not verify: {0}")]
    Binding(IdentityError),
    /// The sender trusts no domain log for the recipient's domain, so it cannot check the
    /// recipient's key.
    #[error("refused: no trusted domain log for the recipient {recipient}")]
    UnknownDomain {
        /// The recipient's address.
        recipient: String,
    },
    /// The message is addressed to another account than this store's.
    #[error("the message is for {addressed}, this account is {account}")]
    NotOurs {
        /// The address in the message.
        addressed: String,
        /// This store's account.
        account: String,
    },
    /// No mail with this msg_id or req_hash is kept here.
    #[error("no certified mail with {what} {id}")]
    UnknownMail {
        /// "msg_id" or "req_hash".
        what: &'static str,
        /// Its hex.
        id: String,
    },
    /// The input does not apply in the mail's current state (e.g. a second request for a mail
    /// already accepted, a direct key for a published one).
    #[error("mail {id} is {state}: {input} does not apply")]
    WrongState {
        /// The msg_id or req_hash, hex.
        id: String,
        /// The state.
        state: &'static str,
        /// The input.
        input: &'static str,
    },
    /// A stored record cannot be read back.
    #[error("stored record {name} is unusable: {reason}")]
    BadRecord {
        /// The record's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A certified-mail message arrived in a mail from another account than its author, or
    /// for another account (proto's [`herald_proto::certmail::Carried::check_parties`]).
    #[error("refused: {0}")]
    Carried(#[from] herald_proto::certmail::CarriedError),
    /// Mail through the gateways failed: the session, the own gateway, a prekey or binding
    /// that does not verify, a mail that cannot be opened.
    #[error("mail: {0}")]
    Mail(#[from] crate::session::SessionError),
    /// The key store failed (or holds no identity yet).
    #[error("key store: {0}")]
    KeyStore(#[from] KeyStoreError),
    /// The record store failed.
    #[error("records: {0}")]
    Records(#[from] RecordStoreError),
    /// The trusted-checkpoint store failed, or holds a checkpoint of X that does not verify.
    #[error("trusted checkpoint of X: {0}")]
    Checkpoints(#[from] StoreError),
    /// The gateway of a log (X, or a domain log) failed, refused, or misbehaved
    /// ([`ClientError::is_peer_misbehaviour`], with the evidence).
    #[error("gateway: {0}")]
    Gateway(#[from] ClientError),
    /// Mailing the sealed letter `id` failed after it may have reached the own gateway (no
    /// answer in time, the connection lost): the letter is kept as it was sealed, and
    /// [`CertMail::resend_by_mail`] sends the same sealed message again under the same msg_id,
    /// which the gateways take once.
    #[error(
        "the sealed letter {id} may have reached your gateway ({error}); it is kept: `herald cm mail --resend {id}` sends the same letter again (the gateways take it once)"
    )]
    Unconfirmed {
        /// The letter's msg_id, hex.
        id: String,
        /// Why the send was not confirmed.
        error: Box<CertifiedMailError>,
    },
    /// The stored trusted checkpoint of X does not verify under X's log key.
    #[error("the stored checkpoint of {origin} does not verify under X's key: {error}")]
    UntrustedCheckpoint {
        /// X's origin.
        origin: String,
        /// Why.
        error: CheckpointError,
    },
}

/// The certified mail of one account: its key store and its records.
#[derive(Debug)]
pub struct CertMail<K, R> {
    keys: K,
    records: R,
    /// "Now", for the network steps ([`SystemClock`] by default).
    clock: Arc<dyn Clock>,
}

impl<K: SecureKeyStore, R: RecordStore> CertMail<K, R> {
    /// The driver over `keys` (which must hold the account's identity) and `records`.
    pub fn new(keys: K, records: R) -> Self {
        CertMail {
            keys,
            records,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same driver, its network steps reading the time from `clock` instead of the
    /// system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The key store.
    pub fn keys(&self) -> &K {
        &self.keys
    }

    /// The key store, to act with it outside certified mail (mail, prekeys) while the driver
    /// keeps it.
    pub fn keys_mut(&mut self) -> &mut K {
        &mut self.keys
    }

    /// The record store.
    pub fn records(&self) -> &R {
        &self.records
    }

    /// Gives the stores back.
    pub fn into_parts(self) -> (K, R) {
        (self.keys, self.records)
    }

    /// The account and IK's public half (IK itself stays in the store).
    fn account(&self) -> Result<Identity, CertifiedMailError> {
        Ok(self.keys.identity().ok_or(KeyStoreError::NoIdentity)?)
    }
}

/// Lowercase hex, as records are named.
pub fn hex_name(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn bad_record(name: &str, reason: impl ToString) -> CertifiedMailError {
    CertifiedMailError::BadRecord {
        name: name.to_owned(),
        reason: reason.to_string(),
    }
}

/// A key store lent to proto's machines that keeps the store's own error of a failed operation:
/// proto carries it only as text ([`CertMailError::KeyStore`]), and the caller should get the
/// typed [`KeyStoreError`] (an app's store says "locked" in a way the app acts on).
struct Lent<T> {
    keys: T,
    failure: std::cell::RefCell<Option<KeyStoreError>>,
    /// The name of the secret proto created through this loan, if any (to erase it if the
    /// step then fails).
    created: Option<String>,
}

/// What proto sees of a failed key-store operation (the driver keeps the original).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct LentFailure(String);

impl<T> Lent<T> {
    fn new(keys: T) -> Self {
        Lent {
            keys,
            failure: std::cell::RefCell::new(None),
            created: None,
        }
    }

    fn keep<V>(&self, result: Result<V, KeyStoreError>) -> Result<V, LentFailure> {
        result.map_err(|e| {
            let shown = LentFailure(e.to_string());
            *self.failure.borrow_mut() = Some(e);
            shown
        })
    }

    /// Proto's refusal as the driver's error: a key-store failure as the store reported it.
    fn refusal(&self, error: CertMailError) -> CertifiedMailError {
        match (&error, self.failure.borrow_mut().take()) {
            (CertMailError::KeyStore(_), Some(failure)) => CertifiedMailError::KeyStore(failure),
            _ => CertifiedMailError::Refused(error),
        }
    }
}

impl<T: IdentitySigner<Error = KeyStoreError>> IdentitySigner for Lent<T> {
    type Error = LentFailure;

    fn identity_key(&self) -> [u8; 32] {
        self.keys.identity_key()
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], LentFailure> {
        self.keep(self.keys.sign(message))
    }
}

impl<T: SecretAgreement<Error = KeyStoreError>> SecretAgreement for Lent<T> {
    type Error = LentFailure;

    fn agree_secret(
        &self,
        name: &str,
        peer: &[u8; 32],
    ) -> Result<zeroize::Zeroizing<[u8; 32]>, LentFailure> {
        self.keep(self.keys.agree_secret(name, peer))
    }
}

impl<T: SecretCreator<Error = KeyStoreError>> SecretCreator for Lent<T> {
    type Error = LentFailure;

    fn create_secret(&mut self, name: &str) -> Result<[u8; 32], LentFailure> {
        let result = self.keys.create_secret(name);
        if result.is_ok() {
            self.created = Some(name.to_owned());
        }
        self.keep(result)
    }
}
