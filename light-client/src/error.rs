//! The light client's errors.
//!
//! [`ClientError`] keeps apart what the caller acts on differently:
//! - **the gateway misbehaved** ([`ClientError::is_peer_misbehaviour`]): a malformed or
//!   unexpected answer, or an answer that fails verification. [`VerifyError`] carries the
//!   evidence (both checkpoints and the proof), so the caller can keep or publish it.
//! - **the gateway refused** ([`ClientError::Refused`]): it answered, with its own
//!   `ClientError` kind; some refusals are worth retrying ([`ClientError::is_retryable`]).
//! - **the network failed** ([`ClientError::Transport`], [`ClientError::Timeout`]): retry later.
//! - **a local failure** (bad address, state file, a request this client will not send).

use core::fmt;
use std::time::Duration;

use herald_proto::wire::client::AnswerError;
use herald_proto::wire::{WireError, pb};

use crate::store::StoreError;
use crate::verify::VerifyError;

/// Why a light-client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The gateway address is not usable (local): it must be a multiaddr ending in
    /// `/p2p/<peer id>`, so that the connection is authenticated to that peer.
    #[error("gateway address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The gateway could not be reached or the connection broke (network; retrying may work).
    #[error("cannot reach the gateway: {reason}")]
    Transport {
        /// libp2p's description of the failure.
        reason: String,
    },
    /// The gateway did not answer in time (network; retrying may work). For a submission it is
    /// unknown whether the entry was appended.
    #[error("the gateway did not answer within {after:?}")]
    Timeout {
        /// How long the client waited.
        after: Duration,
    },
    /// The client's network task has stopped (local; make a new client).
    #[error("the client's network task has stopped")]
    Stopped,
    /// The peer does not speak `/herald/client/1`: it is not a Herald gateway.
    #[error("the peer does not speak {}", herald_proto::wire::CLIENT_PROTOCOL)]
    UnsupportedProtocol,
    /// The gateway answered with a refusal (see [`GatewayRefusal::kind`]).
    #[error("the gateway refused: {0}")]
    Refused(GatewayRefusal),
    /// The gateway's answer is not a valid `ClientResponse`: over the size limit, not protobuf,
    /// or a field out of its bounds (the gateway misbehaved).
    #[error("malformed answer from the gateway: {0}")]
    MalformedResponse(WireError),
    /// The gateway answered with another kind of response than the request asks for (the
    /// gateway misbehaved).
    #[error("the gateway answered a {request} request with {response}")]
    UnexpectedResponse {
        /// The kind of request sent.
        request: &'static str,
        /// The kind of response received.
        response: &'static str,
    },
    /// What the gateway sent does not verify (the gateway misbehaved); carries the evidence.
    #[error("verification failed: {0}")]
    Verification(Box<VerifyError>),
    /// The local checkpoint store failed or holds something unusable (local).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A request this client does not send (local): e.g. an index past the trusted tree or
    /// sizes out of order. Nothing was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl ClientError {
    /// Whether the gateway misbehaved: its answer was malformed, of the wrong kind, or failed
    /// verification. Retrying the same gateway is pointless; the evidence may be worth keeping.
    pub fn is_peer_misbehaviour(&self) -> bool {
        matches!(
            self,
            ClientError::MalformedResponse(_)
                | ClientError::UnexpectedResponse { .. }
                | ClientError::Verification(_)
        )
    }

    /// Whether trying again later may succeed: network failures and the gateway's transient
    /// refusals (busy, internal failure).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport { .. } | ClientError::Timeout { .. } => true,
            ClientError::Refused(r) => matches!(
                r.kind,
                pb::ClientErrorKind::Busy
                    | pb::ClientErrorKind::Internal
                    | pb::ClientErrorKind::Pending
            ),
            _ => false,
        }
    }

    /// The verification failure, if this is one.
    pub fn verification(&self) -> Option<&VerifyError> {
        match self {
            ClientError::Verification(v) => Some(v),
            _ => None,
        }
    }
}

impl From<VerifyError> for ClientError {
    fn from(e: VerifyError) -> Self {
        ClientError::Verification(Box::new(e))
    }
}

/// An answer that is not the one asked for: a refusal stays a refusal; another kind of answer,
/// or one about something else, is the gateway's misbehaviour.
impl From<AnswerError> for ClientError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Refused(refusal) => {
                ClientError::Refused(GatewayRefusal::from_wire(refusal))
            }
            AnswerError::WrongKind { request, response } => {
                ClientError::UnexpectedResponse { request, response }
            }
            AnswerError::Mismatch {
                what,
                asked,
                answered,
            } => VerifyError::AnswerMismatch {
                what,
                asked,
                answered,
            }
            .into(),
        }
    }
}

/// A gateway's refusal: its `ClientError` message, validated (known kind, bounded message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayRefusal {
    /// Why the gateway did not carry out the request.
    pub kind: pb::ClientErrorKind,
    /// The gateway's explanation (at most `wire::MAX_ERROR_MESSAGE_BYTES`).
    pub message: String,
    /// For [`pb::ClientErrorKind::Busy`], [`pb::ClientErrorKind::Pending`] and
    /// [`pb::ClientErrorKind::RateLimited`]: when to retry.
    pub retry_after: Option<Duration>,
    /// For [`pb::ClientErrorKind::OutOfRange`]: the gateway's tree size.
    pub tree_size: Option<u64>,
}

impl GatewayRefusal {
    /// Reads a validated `pb::ClientError` (its kind is known and not `UNSPECIFIED`).
    pub(crate) fn from_wire(e: pb::ClientError) -> Self {
        let kind =
            pb::ClientErrorKind::try_from(e.kind).unwrap_or(pb::ClientErrorKind::Unspecified);
        GatewayRefusal {
            retry_after: matches!(
                kind,
                pb::ClientErrorKind::Busy
                    | pb::ClientErrorKind::Pending
                    | pb::ClientErrorKind::RateLimited
            )
            .then(|| Duration::from_millis(e.retry_after_ms)),
            tree_size: (kind == pb::ClientErrorKind::OutOfRange).then_some(e.tree_size),
            kind,
            message: e.message,
        }
    }
}

impl fmt::Display for GatewayRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The message comes from the gateway: shown escaped, so it cannot forge terminal output.
        write!(f, "{} ({:?})", self.kind.as_str_name(), self.message)?;
        if let Some(after) = self.retry_after {
            write!(f, ", retry after {after:?}")?;
        }
        if let Some(size) = self.tree_size {
            write!(f, ", tree size {size}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(kind: pb::ClientErrorKind) -> GatewayRefusal {
        GatewayRefusal::from_wire(pb::ClientError {
            kind: kind as i32,
            message: "no\x1b[31m".into(),
            retry_after_ms: 1500,
            tree_size: 7,
        })
    }

    #[test]
    fn refusals_keep_only_the_fields_of_their_kind() {
        let busy = refusal(pb::ClientErrorKind::Busy);
        assert_eq!(busy.retry_after, Some(Duration::from_millis(1500)));
        assert_eq!(busy.tree_size, None);
        let pending = refusal(pb::ClientErrorKind::Pending);
        assert_eq!(pending.retry_after, Some(Duration::from_millis(1500)));
        assert!(ClientError::Refused(pending).is_retryable());
        let range = refusal(pb::ClientErrorKind::OutOfRange);
        assert_eq!(range.retry_after, None);
        assert_eq!(range.tree_size, Some(7));
        // Control characters from the gateway are escaped in the message shown.
        assert!(!busy.to_string().contains('\x1b'));
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        assert!(ClientError::Refused(refusal(pb::ClientErrorKind::Busy)).is_retryable());
        assert!(!ClientError::Refused(refusal(pb::ClientErrorKind::Forbidden)).is_retryable());
        assert!(
            ClientError::Timeout {
                after: Duration::from_secs(1)
            }
            .is_retryable()
        );
        let malformed = ClientError::MalformedResponse(WireError::UnknownEntryKind);
        assert!(!malformed.is_retryable());
        assert!(malformed.is_peer_misbehaviour());
        assert!(!ClientError::Stopped.is_peer_misbehaviour());
    }
}
