//! The node's service to what reaches it over the network, on the application floor: client
//! intake ([`Intake`]: what clients may append, accounts and their key-transparency entries, the
//! lookup indexes and lookups of certified mail, the notary evidence records; DESIGN §3.3, §3.4,
//! §4), the server of `/herald/client/1` over it ([`client`]), and [`NodeService`], which the
//! network worker reaches through `network::Inbound` and which routes to the intake, the witness,
//! the gossip judgement and alert sync. The worker knows none of them.
//!
//! Every client request that is refused is refused with a [`Refusal`], which names its
//! `ClientErrorKind`.
//!
//! - **Registration** (`registration`): an account enrolled by the operator registers its
//!   identity key IK with its one-time code; the gateway appends an `IdentityBinding` signed
//!   with its log key and answers with the binding's `SubmitAck`. Disabling an active account
//!   appends an `IdentityRevocation` first.
//! - **Admission** (`admission`): every client entry must decode, be of a kind clients may
//!   author (`Notarization`, `KeyPublication`; gateway kinds are `FORBIDDEN`), satisfy the
//!   schema's bounds, re-encode to exactly its bytes (prost skips unknown fields, so bytes the
//!   signature does not cover are refused), and carry a valid author signature. A
//!   `KeyPublication` must come from an active account of this domain whose bound key is its
//!   `author_key`, and name a req_hash no earlier publication names (`DUPLICATE`).
//! - **Indexes** ([`index_writes`]): each leaf with a lookup key (proto's `entry::lookup_key`)
//!   is listed under `i ‖ index-name ‖ key` in the same atomic batch as the leaf. The index is
//!   a list of leaf indexes per key (`IndexValue::LeafList`), so nothing is ever overwritten:
//!   the lowest listed index is the first leaf, and the latest the newest.
//! - **Lookups** (`lookup`): `publication` and `binding` are answered with inclusion proofs
//!   against the latest cosigned checkpoint, `PENDING` while it does not cover the leaf yet;
//!   `trust` describes this log and each registered peer's log.
//! - **Evidence** ([`evidence`]): the notary records of DESIGN §3.4 for each publication, with
//!   the parties' addresses as salted commitments; the kinds and salts are documented there.
//!   [`mail_evidence`]: the one entry point for the mail path's events
//!   ([`EvidenceRecorder::record`]) and the delivery-status answer.

mod admission;
pub mod client;
pub mod evidence;
mod inbound;
pub mod limits;
mod login;
mod lookup;
pub mod mail;
pub mod mail_evidence;
pub mod paep;
mod prekeys;
mod registration;
mod sessions;
mod submit;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use herald_proto::checkpoint::{VerifiedCheckpoint, WitnessVerifier};
use herald_proto::entry::{EntryError, lookup_key};
use herald_proto::note::NoteVerifier;
use herald_proto::wire::pb::{self, ClientErrorKind};
use herald_proto::wire::{MAX_LOG_ENTRY_BYTES, WireError};
use prost::Message as _;
use tracing::error;

pub use admission::BatchOutcome;
pub use client::ClientService;
pub use inbound::NodeService;
pub use limits::{Rate, SubmitLimiter, SubmitLimits};
pub use mail::{MailEvents, MailMetrics, MailParts, MailService, MailSettings};
pub use mail_evidence::{EvidenceRecorder, MailEvent, QueuedRecords, Recorded};
pub use paep::{Paep, PaepParts};
pub use registration::DisableReport;

use crate::accounts::attempts::{EnrolmentAttempts, EnrolmentMetrics};
use crate::accounts::{AccountBook, AccountError};
use crate::clock::Clock;
use crate::peers::PeerRegistry;
use crate::sequencer::{Ack, IndexValue, IndexWrite, SequencerHandle, SubmitError};
use crate::store::{LogStore, ReadError};

/// The list index of every `KeyPublication` leaf (empty key), in log order: the queue the
/// evidence records follow.
pub const PUBLICATIONS_INDEX: &str = "cm-publications";

/// How long a client is asked to wait before asking again for a leaf not yet covered by a
/// cosigned checkpoint (a round and a witness exchange).
pub const PENDING_RETRY: Duration = Duration::from_millis(500);

/// Why a client request (any kind: an entry, a registration, a lookup) or an account change was
/// not carried out: the node's one client-refusal type. Each variant maps to one
/// `ClientErrorKind` ([`Refusal::kind`]); the message is safe to send to the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The entry has no kind this gateway knows.
    #[error("the entry has no kind this gateway knows")]
    UnknownEntryKind,
    /// The entry is of a kind only the gateway writes.
    #[error("clients may not submit {0} entries")]
    Forbidden(&'static str),
    /// The entry breaks a bound of the schema (or is over the size limit).
    #[error("entry: {0}")]
    Malformed(WireError),
    /// The entry does not re-encode to exactly its bytes: some bytes are not covered by its
    /// signed fields (unknown fields, non-minimal or repeated encodings).
    #[error("the entry is not canonically encoded (it does not re-encode to its bytes)")]
    NonCanonical,
    /// An author, prekey or registration signature does not verify.
    #[error("{what}: {source}")]
    BadSignature {
        /// Which signature.
        what: &'static str,
        /// Why.
        source: EntryError,
    },
    /// A wrong, expired or used enrolment code; an unknown or disabled account; a key that is
    /// not the account's bound key.
    #[error("{0}")]
    Unauthorized(String),
    /// Too many failed enrolment attempts from this peer, or with wrong codes for this address,
    /// lately (`accounts::attempts`).
    #[error("too many failed enrolment attempts; retry after {retry_after:?}")]
    RateLimited {
        /// When the account may try again.
        retry_after: Duration,
    },
    /// Too many login attempts (or prekey bundles) lately from this peer or for this account
    /// (`service::login`, `service::prekeys`).
    #[error("too many attempts lately; retry after {retry_after:?}")]
    TooManyAttempts {
        /// When to try again.
        retry_after: std::time::Duration,
    },
    /// A login did not complete: confirmP does not verify, or no attempt of this peer for this
    /// account is in progress (it expired, or never began). Says nothing about whether the
    /// account exists.
    #[error("login failed")]
    LoginFailed,
    /// A session frame the gateway does not take: no live session has its id, or it is
    /// replayed, out of order, forged or expired (the client logs in again).
    #[error("no live session takes this frame: {0}")]
    NoSession(String),
    /// A password record that is malformed or derived with less than the gateway offers.
    #[error("password record: {0}")]
    BadPassword(String),
    /// Uploaded prekeys that do not verify under the account's identity key.
    #[error("prekeys: {0}")]
    BadPrekeys(herald_proto::paep::PrekeyError),
    /// A prekey id used before for the account (`accounts::prekeys`).
    #[error("prekey id {id} was used before; upload prekeys with new ids")]
    PrekeyIdReused {
        /// The id.
        id: u64,
    },
    /// The upload would hold more one-time prekeys than the gateway keeps per account.
    #[error("too many one-time prekeys for one account (at most {max})")]
    TooManyPrekeys {
        /// The bound.
        max: usize,
    },
    /// A publication for this req_hash is already logged (or being logged).
    #[error("a publication for this req_hash is already logged")]
    Duplicate,
    /// The leaf is logged but not yet in a cosigned checkpoint.
    #[error("logged but not yet in a cosigned checkpoint; retry after {retry_after:?}")]
    Pending {
        /// When to ask again.
        retry_after: Duration,
    },
    /// Nothing is logged for what was asked.
    #[error("{0}")]
    NotFound(&'static str),
    /// This peer submitted more than its limits allow lately (`service::limits`).
    #[error("too many submissions from this peer; retry after {retry_after:?}")]
    Throttled {
        /// When its buckets will hold enough.
        retry_after: Duration,
    },
    /// The request names a tree size the log has not reached.
    #[error("the log has {size} entries")]
    OutOfRange {
        /// The log's size.
        size: u64,
    },
    /// The log's pool is full.
    #[error("the log is busy; retry after {retry_after:?}")]
    Busy {
        /// When to retry.
        retry_after: Duration,
    },
    /// The operator's account change was refused (or the account book failed).
    #[error(transparent)]
    Account(#[from] AccountError),
    /// A mail or relay was refused (`service::mail`), with the kind the client protocol names
    /// and the reason.
    #[error("{reason}")]
    MailRefused {
        /// The client protocol's kind.
        kind: ClientErrorKind,
        /// Why.
        reason: String,
    },
    /// The gateway failed (storage, sequencer stopped); retrying later may work.
    #[error("the gateway failed: {0}")]
    Internal(String),
    /// A mail event whose evidence record no honest gateway writes (`mail_evidence`).
    #[error("evidence record refused: {0}")]
    BadEvent(String),
}

impl Refusal {
    /// The client protocol's name for this refusal.
    pub fn kind(&self) -> ClientErrorKind {
        match self {
            Refusal::UnknownEntryKind => ClientErrorKind::UnknownEntryKind,
            Refusal::Forbidden(_) => ClientErrorKind::Forbidden,
            Refusal::Malformed(WireError::TooLarge { .. }) => ClientErrorKind::TooLarge,
            Refusal::Malformed(WireError::UnknownEntryKind) => ClientErrorKind::UnknownEntryKind,
            Refusal::Malformed(_) => ClientErrorKind::Malformed,
            Refusal::NonCanonical | Refusal::BadSignature { .. } => ClientErrorKind::InvalidEntry,
            Refusal::Unauthorized(_) | Refusal::RateLimited { .. } => ClientErrorKind::Unauthorized,
            Refusal::TooManyAttempts { .. } => ClientErrorKind::RateLimited,
            Refusal::LoginFailed | Refusal::NoSession(_) => ClientErrorKind::Unauthorized,
            Refusal::BadPassword(_) | Refusal::BadPrekeys(_) => ClientErrorKind::InvalidEntry,
            Refusal::PrekeyIdReused { .. } => ClientErrorKind::Duplicate,
            Refusal::TooManyPrekeys { .. } => ClientErrorKind::TooLarge,
            Refusal::Duplicate => ClientErrorKind::Duplicate,
            Refusal::Pending { .. } => ClientErrorKind::Pending,
            Refusal::NotFound(_) => ClientErrorKind::NotFound,
            Refusal::Throttled { .. } => ClientErrorKind::RateLimited,
            Refusal::OutOfRange { .. } => ClientErrorKind::OutOfRange,
            Refusal::Busy { .. } => ClientErrorKind::Busy,
            Refusal::Account(AccountError::BadAddress { .. })
            | Refusal::Account(AccountError::OtherDomain { .. })
            | Refusal::Account(AccountError::Unknown(_)) => ClientErrorKind::Unauthorized,
            Refusal::MailRefused { kind, .. } => *kind,
            Refusal::Account(_) | Refusal::Internal(_) => ClientErrorKind::Internal,
            Refusal::BadEvent(_) => ClientErrorKind::InvalidEntry,
        }
    }

    /// When the client may retry, for the kinds that say so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::RateLimited { retry_after }
            | Refusal::TooManyAttempts { retry_after }
            | Refusal::Throttled { retry_after }
            | Refusal::Pending { retry_after }
            | Refusal::Busy { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The refusal as a `ClientError`; local failures are logged here and described vaguely.
    pub fn to_wire(&self) -> pb::ClientError {
        let kind = self.kind();
        let message = if kind == ClientErrorKind::Internal {
            error!(error = %self, "client request failed");
            "the gateway failed; retry later".to_owned()
        } else {
            self.to_string()
        };
        pb::ClientError {
            kind: kind as i32,
            message,
            retry_after_ms: self.retry_after().map_or(0, |d| {
                // Rounded up: a wait of 0.4 ms is a wait, not "retry at once".
                u64::try_from(d.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
            }),
            tree_size: match self {
                Refusal::OutOfRange { size } => *size,
                _ => 0,
            },
        }
    }

    fn from_submit(e: SubmitError) -> Self {
        match e {
            SubmitError::Busy { retry_after } => Refusal::Busy { retry_after },
            other => Refusal::Internal(format!("appending failed: {other}")),
        }
    }

    fn from_read(e: ReadError) -> Self {
        Refusal::Internal(format!("reading the log failed: {e}"))
    }
}

/// The index writes that go into the same batch as `entry`: its lookup key's list, and for a
/// key publication the publication queue.
pub fn index_writes(entry: &pb::LogEntry) -> Vec<IndexWrite> {
    let mut writes = Vec::with_capacity(2);
    if let Some(key) = lookup_key(entry) {
        writes.push(IndexWrite {
            name: key.index_name(),
            key: key.key_bytes().to_vec(),
            value: IndexValue::LeafList,
        });
    }
    if matches!(entry.kind, Some(pb::log_entry::Kind::KeyPublication(_))) {
        writes.push(IndexWrite {
            name: PUBLICATIONS_INDEX,
            key: Vec::new(),
            value: IndexValue::LeafList,
        });
    }
    writes
}

/// What [`Intake`] works with.
pub struct IntakeParts {
    /// The log (reads).
    pub store: LogStore,
    /// Where entries go.
    pub sequencer: SequencerHandle,
    /// The accounts.
    pub accounts: AccountBook,
    /// The log key, which signs bindings, revocations and evidence.
    pub log_key: SigningKey,
    /// Its verifier (the log's name is the origin).
    pub log: NoteVerifier,
    /// This node's witness key (a witness of every peer's log).
    pub own_witness: WitnessVerifier,
    /// The registered peers.
    pub peers: PeerRegistry,
    /// The configured witness quorum.
    pub quorum: usize,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// Where enrolment refusals are counted.
    pub enrolment_metrics: EnrolmentMetrics,
    /// The Argon2id costs offered for passwords: a registration's password record must have
    /// at least these (`paep::Argon2Params::covers`).
    pub password_params: herald_proto::paep::Argon2Params,
    /// The accounts' prekeys (reset when an account registers a new key or is disabled).
    pub prekeys: crate::accounts::prekeys::PrekeyBook,
}

struct Inner {
    parts: IntakeParts,
    /// Enrolments of one account are checked and carried out one at a time, so one code
    /// registers one key; different accounts enrol side by side (one sequencing round binds
    /// many).
    enrolling: registration::AccountLocks,
    /// Failed enrolment attempts per peer and per address (memory only: a restart forgets
    /// them).
    failures: Mutex<EnrolmentAttempts<libp2p::PeerId>>,
    /// req_hashes of publications admitted and not yet answered, so two submissions of one
    /// req_hash cannot both pass the duplicate check.
    publishing: Mutex<HashSet<[u8; 32]>>,
    /// Batch notarization signatures that verified (admission).
    batches: admission::VerifiedBatches,
    /// Author keys decompressed by admission's signature checks.
    author_keys: herald_proto::entry::AuthorKeys,
    /// Evidence records being written (`mail_evidence`), so one is never written twice.
    recording: Mutex<HashSet<Vec<u8>>>,
}

/// Client intake (see the module docs): admission of entries, registration, lookups, evidence.
/// Cheap to clone.
#[derive(Clone)]
pub struct Intake {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("origin", &self.inner.parts.log.name())
            .finish_non_exhaustive()
    }
}

impl Intake {
    /// The service over `parts`.
    pub fn new(parts: IntakeParts) -> Self {
        Intake {
            inner: Arc::new(Inner {
                parts,
                enrolling: registration::AccountLocks::default(),
                failures: Mutex::new(EnrolmentAttempts::default()),
                publishing: Mutex::new(HashSet::new()),
                batches: admission::VerifiedBatches::default(),
                author_keys: Default::default(),
                recording: Mutex::new(HashSet::new()),
            }),
        }
    }

    fn parts(&self) -> &IntakeParts {
        &self.inner.parts
    }

    /// The account book.
    pub fn accounts(&self) -> &AccountBook {
        &self.inner.parts.accounts
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        self.inner.parts.log.name()
    }

    fn now_secs(&self) -> u64 {
        self.parts().clock.now_ms() / 1000
    }

    /// Marks an evidence record as being written; false if it already is.
    fn claim_record(&self, key: &[u8]) -> bool {
        self.inner
            .recording
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.to_vec())
    }

    /// Ends [`claim_record`](Self::claim_record).
    fn release_record(&self, key: &[u8]) {
        self.inner
            .recording
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }

    /// Runs blocking work (sled) off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Intake) -> Result<T, Refusal> + Send + 'static,
    ) -> Result<T, Refusal> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(|e| Refusal::Internal(format!("task failed: {e}")))?
    }

    /// Appends a gateway-authored entry with its index writes; returns when it is durable.
    async fn append(&self, entry: &pb::LogEntry) -> Result<Ack, Refusal> {
        let bytes = entry.encode_to_vec();
        if bytes.len() > MAX_LOG_ENTRY_BYTES {
            return Err(Refusal::Internal(format!(
                "a gateway entry of {} bytes is over the limit",
                bytes.len()
            )));
        }
        self.parts()
            .sequencer
            .submit_with_indexes(bytes, index_writes(entry))
            .await
            .map_err(Refusal::from_submit)
    }

    /// Queues `entries` at consecutive indexes of one round, in order, without waiting (the
    /// evidence of one mail event that has several records); the returned future is their
    /// durability. Whatever is queued after this returns gets later indexes.
    fn enqueue_batch(
        &self,
        entries: &[pb::LogEntry],
    ) -> Result<crate::sequencer::PendingBatch, Refusal> {
        let mut batch = Vec::with_capacity(entries.len());
        for entry in entries {
            let bytes = entry.encode_to_vec();
            if bytes.len() > MAX_LOG_ENTRY_BYTES {
                return Err(Refusal::Internal(format!(
                    "a gateway entry of {} bytes is over the limit",
                    bytes.len()
                )));
            }
            batch.push((bytes, index_writes(entry)));
        }
        self.parts()
            .sequencer
            .enqueue_batch(batch)
            .map_err(Refusal::from_submit)
    }

    /// The latest cosigned checkpoint: its note and size (`None` before the first).
    fn cosigned(&self) -> Result<Option<(Vec<u8>, u64)>, Refusal> {
        let Some(note) = self.parts().store.cosigned().map_err(Refusal::from_read)? else {
            return Ok(None);
        };
        // Stored by the cosigner after checking it; checked again, as anything read back is.
        let checkpoint = VerifiedCheckpoint::verify(&note, &self.parts().log)
            .map_err(|e| Refusal::Internal(format!("stored cosigned checkpoint: {e}")))?;
        Ok(Some((note, checkpoint.size())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_are_listed_twice_and_notarizations_not_at_all() {
        let publication = pb::LogEntry {
            kind: Some(pb::log_entry::Kind::KeyPublication(pb::KeyPublication {
                req_hash: vec![7; 32],
                ..Default::default()
            })),
        };
        let writes = index_writes(&publication);
        assert_eq!(
            writes
                .iter()
                .map(|w| (w.name, w.key.clone(), w.value.clone()))
                .collect::<Vec<_>>(),
            vec![
                ("cm-req", vec![7; 32], IndexValue::LeafList),
                (PUBLICATIONS_INDEX, vec![], IndexValue::LeafList),
            ]
        );
        let notarization = pb::LogEntry {
            kind: Some(pb::log_entry::Kind::Notarization(
                pb::Notarization::default(),
            )),
        };
        assert!(index_writes(&notarization).is_empty());
        let evidence = pb::LogEntry {
            kind: Some(pb::log_entry::Kind::Evidence(pb::Evidence {
                msg_id: b"m".to_vec(),
                ..Default::default()
            })),
        };
        assert_eq!(index_writes(&evidence)[0].name, "msg-id");
    }

    #[test]
    fn refusals_map_to_their_kinds_and_retry_times() {
        let pending = Refusal::Pending {
            retry_after: PENDING_RETRY,
        };
        let wire = pending.to_wire();
        assert_eq!(wire.kind, ClientErrorKind::Pending as i32);
        assert_eq!(wire.retry_after_ms, 500);
        assert_eq!(Refusal::Duplicate.kind(), ClientErrorKind::Duplicate);
        assert_eq!(Refusal::NonCanonical.kind(), ClientErrorKind::InvalidEntry);
        assert_eq!(
            Refusal::Malformed(WireError::TooLarge { len: 2, limit: 1 }).kind(),
            ClientErrorKind::TooLarge
        );
        let internal = Refusal::Internal("disk /secret/path failed".into()).to_wire();
        assert!(
            !internal.message.contains("/secret"),
            "{}",
            internal.message
        );
    }
}
