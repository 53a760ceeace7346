//! [`HeraldError`]: the one error an app sees, with the few cases it acts on differently, and
//! the conversions from the light client's errors into it.
//!
//! The variants are stable: an app switches on them (Kotlin `HeraldException.Network`, Swift
//! `HeraldError.Network`, Python `HeraldError.Network`). What each means for the app:
//! - [`HeraldError::Network`]: try again later. [`HeraldError::RateLimited`] and
//!   [`HeraldError::NotYet`] say when.
//! - [`HeraldError::RefusedByGateway`]: the gateway answered no, with its code and reason.
//! - [`HeraldError::GatewayMisbehaved`] and [`HeraldError::LogEquivocated`]: the gateway or its
//!   log lied; the evidence is attached for the app to keep or publish.
//! - [`HeraldError::BadPassword`], [`HeraldError::KeyStoreLocked`]: about the account's key
//!   store, or (`BadPassword`) the account's password at login.
//! - [`HeraldError::NotLoggedIn`]: log in (again) before this call.
//! - [`HeraldError::Quarantined`]: the mail to send matched the gateway's rules or a scanner;
//!   it was not sent.
//! - [`HeraldError::BadInput`]: what the app passed (or a message from the other party that it
//!   passed on) is not acceptable; nothing changed.
//! - [`HeraldError::Internal`]: a local failure (state directory, a bug). A panic inside the
//!   library ends up here, never across the boundary.
//!
//! Which light-client error becomes which variant is decided here and only here.

use std::any::Any;

use herald_light_client::certmail::{CertifiedMailError, RecordStoreError};
use herald_light_client::keystore::KeyStoreError;
use herald_light_client::{ClientError, SessionError, StoreError, VerifyError};
use herald_proto::paep::LoginError;
use herald_proto::succession::SuccessionError;
use herald_proto::wire::pb::ClientErrorKind;

/// Why a call failed (see the module documentation for what an app does with each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum HeraldError {
    /// The gateway could not be reached, the connection broke, or it did not answer in time.
    #[error("network: {reason}")]
    Network {
        /// What failed.
        reason: String,
    },
    /// The gateway answered with a refusal.
    #[error("refused by the gateway ({code}): {reason}")]
    RefusedByGateway {
        /// The gateway's error kind, e.g. `UNAUTHORIZED`, `NOT_FOUND`, `DUPLICATE`.
        code: String,
        /// The gateway's explanation (at most 1 KiB, as sent).
        reason: String,
    },
    /// The gateway's answer was malformed or did not verify: it misbehaved. Retrying the same
    /// gateway is pointless.
    #[error("the gateway misbehaved: {reason}")]
    GatewayMisbehaved {
        /// What did not verify.
        reason: String,
        /// The signed notes (checkpoints) involved, as received: evidence to keep or publish.
        evidence: Vec<String>,
    },
    /// A log signed two checkpoints that cannot both be true. It is refused from now on (also
    /// across restarts); the proof is transferable (`herald verify-equivocation` checks it).
    #[error("the log {origin} equivocated")]
    LogEquivocated {
        /// The log.
        origin: String,
        /// The encoded equivocation proof (`herald.v1.Equivocation`).
        proof: Vec<u8>,
    },
    /// Not there yet: the gateway has not covered it with a cosigned checkpoint (or asks to
    /// come back later). Ask again.
    #[error("not yet: {reason}")]
    NotYet {
        /// What is missing.
        reason: String,
        /// When to ask again, if the gateway said.
        retry_after_ms: Option<u64>,
    },
    /// The passphrase does not open the key store, or the gateway refused the password at
    /// login (a wrong password and an unknown account look the same there).
    #[error("wrong passphrase or password")]
    BadPassword,
    /// The gateway is busy: try again after this long.
    #[error("rate limited: retry after {retry_after_ms} ms")]
    RateLimited {
        /// Milliseconds to wait.
        retry_after_ms: u64,
    },
    /// The key store is in use (another process or handle) or locked by its platform.
    #[error("the key store is locked: {reason}")]
    KeyStoreLocked {
        /// Why.
        reason: String,
    },
    /// The call acts for the account at its gateway and needs a session: none was opened
    /// (`login`), it was closed (`logout`), it expired, or it fell out of step. Log in again.
    #[error("not logged in: {reason}")]
    NotLoggedIn {
        /// Why there is no usable session.
        reason: String,
    },
    /// The mail matched the gateway's rule set or a scanner (a virus, a forbidden attachment
    /// type, a content rule) and was not sent: it is kept in the account's quarantine.
    #[error("quarantined: {reason}")]
    Quarantined {
        /// What matched (the rule or the scanner's signature, and where).
        reason: String,
        /// The file holding the mail in the quarantine.
        path: String,
    },
    /// An input is out of its bounds or not acceptable; nothing changed.
    #[error("bad input: {reason}")]
    BadInput {
        /// Which input, and why.
        reason: String,
    },
    /// A local failure (state directory, a stored record) or a bug.
    #[error("internal error: {reason}")]
    Internal {
        /// What failed.
        reason: String,
    },
}

impl HeraldError {
    pub(crate) fn bad_input(reason: impl Into<String>) -> Self {
        HeraldError::BadInput {
            reason: reason.into(),
        }
    }

    pub(crate) fn internal(reason: impl Into<String>) -> Self {
        HeraldError::Internal {
            reason: reason.into(),
        }
    }

    /// A panic's payload as an error (the library's bug, reported, never unwound into the app).
    pub(crate) fn from_panic(payload: &(dyn Any + Send)) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        HeraldError::internal(format!("panicked (a bug in the library): {what}"))
    }
}

/// A foreign implementation (key store, listener) threw something that is not a
/// [`HeraldError`].
impl From<uniffi::UnexpectedUniFFICallbackError> for HeraldError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HeraldError::internal(format!("the app's callback failed: {}", e.reason))
    }
}

impl From<ClientError> for HeraldError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::InvalidAddress { .. } | ClientError::InvalidRequest(_) => {
                HeraldError::bad_input(e.to_string())
            }
            ClientError::Transport { .. }
            | ClientError::Timeout { .. }
            | ClientError::Stopped
            | ClientError::UnsupportedProtocol => HeraldError::Network {
                reason: e.to_string(),
            },
            ClientError::Refused(r) => match (r.kind, r.retry_after) {
                (ClientErrorKind::Busy, after) => HeraldError::RateLimited {
                    retry_after_ms: after.map_or(1000, millis),
                },
                (ClientErrorKind::Pending, after) => HeraldError::NotYet {
                    reason: r.message,
                    retry_after_ms: after.map(millis),
                },
                (kind, _) => HeraldError::RefusedByGateway {
                    code: refusal_code(kind),
                    reason: r.message,
                },
            },
            ClientError::MalformedResponse(_) | ClientError::UnexpectedResponse { .. } => {
                HeraldError::GatewayMisbehaved {
                    reason: e.to_string(),
                    evidence: Vec::new(),
                }
            }
            ClientError::Verification(v) => (*v).into(),
            ClientError::Store(s) => s.into(),
            other => HeraldError::internal(other.to_string()),
        }
    }
}

/// The gateway's error kind without the protobuf enum's prefix: `UNAUTHORIZED`, `NOT_FOUND`.
fn refusal_code(kind: ClientErrorKind) -> String {
    let name = kind.as_str_name();
    name.strip_prefix("CLIENT_ERROR_KIND_")
        .unwrap_or(name)
        .to_owned()
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<VerifyError> for HeraldError {
    fn from(e: VerifyError) -> Self {
        if let Some(proof) = e.equivocation() {
            return HeraldError::LogEquivocated {
                origin: proof.log().name().to_owned(),
                proof: proof.encode(),
            };
        }
        if let VerifyError::NotCosigned { .. } = e {
            // Also what a log shows before its witnesses have caught up: ask again.
            return HeraldError::NotYet {
                reason: e.to_string(),
                retry_after_ms: None,
            };
        }
        HeraldError::GatewayMisbehaved {
            reason: e.to_string(),
            evidence: notes_of(&e),
        }
    }
}

/// The signed checkpoints a verification failure carries, as note text.
fn notes_of(e: &VerifyError) -> Vec<String> {
    let text = |note: &[u8]| String::from_utf8_lossy(note).into_owned();
    match e {
        VerifyError::Checkpoint { note, .. } | VerifyError::NotCosigned { note, .. } => {
            vec![text(note)]
        }
        VerifyError::Succession(s) => match s {
            SuccessionError::EmptyTreeRoot { checkpoint }
            | SuccessionError::ForeignCheckpoint { checkpoint } => vec![checkpoint.note()],
            SuccessionError::Rollback { held, next } => vec![held.note(), next.note()],
            SuccessionError::BadProof { older, newer, .. } => vec![older.note(), newer.note()],
            SuccessionError::Split(e) => {
                vec![e.first_note().to_owned(), e.second_note().to_owned()]
            }
            _ => Vec::new(),
        },
        VerifyError::BadConsistencyProof { anchor, .. } => vec![anchor.note()],
        VerifyError::NotIncluded { checkpoint, .. } => vec![checkpoint.note()],
        VerifyError::Identity { leaf, .. } | VerifyError::LeafNotProved { leaf, .. } => {
            vec![text(&leaf.checkpoint)]
        }
        _ => Vec::new(),
    }
}

impl From<StoreError> for HeraldError {
    fn from(e: StoreError) -> Self {
        HeraldError::internal(format!("state directory: {e}"))
    }
}

impl From<RecordStoreError> for HeraldError {
    fn from(e: RecordStoreError) -> Self {
        HeraldError::internal(format!("certified-mail records: {e}"))
    }
}

/// What an app's key store threw, carried through the light client's [`KeyStoreError`] (as the
/// source of its `Io` variant) so that it reaches the app again unchanged.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct AppKeyStoreFailure(pub(crate) HeraldError);

impl From<KeyStoreError> for HeraldError {
    fn from(e: KeyStoreError) -> Self {
        match e {
            KeyStoreError::WrongPassphrase { .. } => HeraldError::BadPassword,
            KeyStoreError::InUse { .. } => HeraldError::KeyStoreLocked {
                reason: e.to_string(),
            },
            KeyStoreError::Io { source, .. }
                if source
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<AppKeyStoreFailure>())
                    .is_some() =>
            {
                // Checked just above: the app's own error, given back as it was.
                match source
                    .into_inner()
                    .map(|b| b.downcast::<AppKeyStoreFailure>())
                {
                    Some(Ok(app)) => app.0,
                    _ => HeraldError::internal("the app's key store failed"),
                }
            }
            KeyStoreError::NoIdentity
            | KeyStoreError::IdentityExists { .. }
            | KeyStoreError::InvalidAccount { .. }
            | KeyStoreError::InvalidId { .. }
            | KeyStoreError::UnknownSecret { .. }
            | KeyStoreError::SecretExists { .. }
            | KeyStoreError::Full { .. }
            | KeyStoreError::WeakKey
            | KeyStoreError::AlreadyExists { .. }
            | KeyStoreError::NotFound { .. }
            | KeyStoreError::WeakPassphrase(_) => HeraldError::bad_input(format!("key store: {e}")),
            other => HeraldError::internal(format!("key store: {other}")),
        }
    }
}

impl From<CertifiedMailError> for HeraldError {
    fn from(e: CertifiedMailError) -> Self {
        match e {
            CertifiedMailError::KeyStore(k) => k.into(),
            CertifiedMailError::Gateway(c) => c.into(),
            CertifiedMailError::Records(r) => r.into(),
            CertifiedMailError::Checkpoints(s) => s.into(),
            CertifiedMailError::BadRecord { .. }
            | CertifiedMailError::UntrustedCheckpoint { .. } => {
                HeraldError::internal(e.to_string())
            }
            // The protocol refused a message, or the mail is not in a state for this step.
            other => HeraldError::bad_input(other.to_string()),
        }
    }
}

impl From<SessionError> for HeraldError {
    fn from(e: SessionError) -> Self {
        if e.needs_login() {
            return HeraldError::NotLoggedIn {
                reason: e.to_string(),
            };
        }
        match e {
            SessionError::WrongPassword => HeraldError::BadPassword,
            SessionError::Gateway(c) => c.into(),
            SessionError::KeyStore(k) => k.into(),
            SessionError::Store(s) => HeraldError::internal(format!("session store: {s}")),
            SessionError::Login(LoginError::Argon2(reason)) => {
                HeraldError::internal(format!("deriving the password: {reason}"))
            }
            SessionError::Login(LoginError::Expired { .. }) => HeraldError::Network {
                reason: e.to_string(),
            },
            // The gateway asked too much of the device, sent a share or a prekey bundle that
            // does not verify.
            SessionError::CostTooHigh { .. } | SessionError::Login(_) | SessionError::Prekey(_) => {
                HeraldError::GatewayMisbehaved {
                    reason: e.to_string(),
                    evidence: Vec::new(),
                }
            }
            // An address without a domain or of a domain with no configured log, a mail too
            // large to seal, or a mail that does not open (forged, replayed, tampered).
            SessionError::BadAccount(_)
            | SessionError::UnknownDomain(_)
            | SessionError::Mail(_) => HeraldError::bad_input(e.to_string()),
            other => HeraldError::internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use herald_light_client::GatewayRefusal;

    use super::*;

    fn refused(kind: ClientErrorKind, retry: Option<u64>) -> HeraldError {
        ClientError::Refused(GatewayRefusal {
            kind,
            message: "because".into(),
            retry_after: retry.map(Duration::from_millis),
            tree_size: None,
        })
        .into()
    }

    #[test]
    fn refusals_keep_their_code_and_their_retry_time() {
        assert_eq!(
            refused(ClientErrorKind::Busy, Some(1500)),
            HeraldError::RateLimited {
                retry_after_ms: 1500
            }
        );
        assert_eq!(
            refused(ClientErrorKind::Pending, Some(200)),
            HeraldError::NotYet {
                reason: "because".into(),
                retry_after_ms: Some(200)
            }
        );
        assert_eq!(
            refused(ClientErrorKind::Unauthorized, None),
            HeraldError::RefusedByGateway {
                code: "UNAUTHORIZED".into(),
                reason: "because".into()
            }
        );
    }

    #[test]
    fn network_and_local_failures_are_told_apart() {
        let e: HeraldError = ClientError::Timeout {
            after: Duration::from_secs(3),
        }
        .into();
        assert!(matches!(e, HeraldError::Network { .. }), "{e:?}");
        let e: HeraldError = ClientError::InvalidRequest("index past the tree".into()).into();
        assert!(matches!(e, HeraldError::BadInput { .. }), "{e:?}");
        let e: HeraldError =
            ClientError::MalformedResponse(herald_proto::wire::WireError::UnknownEntryKind).into();
        assert!(matches!(e, HeraldError::GatewayMisbehaved { .. }), "{e:?}");
    }

    #[test]
    fn key_store_failures_map_to_what_the_app_acts_on() {
        let path = std::path::PathBuf::from("/k");
        let e: HeraldError = KeyStoreError::WrongPassphrase { path: path.clone() }.into();
        assert_eq!(e, HeraldError::BadPassword);
        let e: HeraldError = KeyStoreError::InUse { path }.into();
        assert!(matches!(e, HeraldError::KeyStoreLocked { .. }), "{e:?}");
        // The app's own error travels through the light client unchanged.
        let app = HeraldError::KeyStoreLocked {
            reason: "the user must unlock the device".into(),
        };
        let carried = KeyStoreError::Io {
            action: "the app's key store",
            path: std::path::PathBuf::new(),
            source: std::io::Error::other(AppKeyStoreFailure(app.clone())),
        };
        assert_eq!(HeraldError::from(carried), app);
        // Also when certified mail's machines hit it (the driver keeps the typed error).
        let carried = KeyStoreError::Io {
            action: "the app's key store",
            path: std::path::PathBuf::new(),
            source: std::io::Error::other(AppKeyStoreFailure(app.clone())),
        };
        let wrapped = CertifiedMailError::KeyStore(carried);
        assert_eq!(HeraldError::from(wrapped), app);
    }

    #[test]
    fn session_failures_map_to_what_the_app_acts_on() {
        assert_eq!(
            HeraldError::from(SessionError::WrongPassword),
            HeraldError::BadPassword
        );
        let e = HeraldError::from(SessionError::NoSession);
        assert!(matches!(e, HeraldError::NotLoggedIn { .. }), "{e:?}");
        // A gateway that forgot the session (restarted) asks for a new login.
        let forgot = SessionError::Gateway(ClientError::Refused(GatewayRefusal {
            kind: ClientErrorKind::Unauthorized,
            message: "no such session".into(),
            retry_after: None,
            tree_size: None,
        }));
        let e = HeraldError::from(forgot);
        assert!(matches!(e, HeraldError::NotLoggedIn { .. }), "{e:?}");
        let busy = SessionError::Gateway(ClientError::Refused(GatewayRefusal {
            kind: ClientErrorKind::Busy,
            message: "slow down".into(),
            retry_after: Some(Duration::from_millis(700)),
            tree_size: None,
        }));
        assert_eq!(
            HeraldError::from(busy),
            HeraldError::RateLimited {
                retry_after_ms: 700
            }
        );
        let e = HeraldError::from(SessionError::UnknownDomain("d9.test".into()));
        assert!(matches!(e, HeraldError::BadInput { .. }), "{e:?}");
        let e = HeraldError::from(SessionError::CostTooHigh {
            memory_kib: u32::MAX,
            max: 1,
        });
        assert!(matches!(e, HeraldError::GatewayMisbehaved { .. }), "{e:?}");
    }

    #[test]
    fn a_panic_payload_becomes_an_internal_error() {
        let payload = std::panic::catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
        let e = HeraldError::from_panic(payload.as_ref());
        assert!(
            matches!(&e, HeraldError::Internal { reason } if reason.contains("boom 7")),
            "{e:?}"
        );
    }
}
