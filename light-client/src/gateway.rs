//! What a gateway answers over `/herald/client/1`, as a trait.
//!
//! [`crate::GatewayClient`] implements it over libp2p; [`crate::TrustedLog`] is generic over it,
//! so the verifying layer runs unchanged against an in-memory log in tests (and, later, against
//! other transports). Answers are raw wire types, validated for shape only: trusting them is
//! the verifying layer's job.

use core::future::Future;

use herald_proto::merkle::Hash;
use herald_proto::wire::pb;

use crate::error::ClientError;

/// One leaf of a log, by index or by Merkle leaf hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    /// The leaf at this index.
    Index(u64),
    /// The leaf with this Merkle leaf hash.
    Hash(Hash),
}

/// The requests of `/herald/client/1`. Each call sends one request and returns the matching
/// response kind; a gateway's refusal is [`ClientError::Refused`], any other kind of response
/// [`ClientError::UnexpectedResponse`].
pub trait Gateway {
    /// The latest checkpoint.
    fn checkpoint(&self) -> impl Future<Output = Result<pb::SignedCheckpoint, ClientError>> + Send;

    /// Appends `entry` (an encoded `LogEntry`, at most `wire::MAX_LOG_ENTRY_BYTES`); answered
    /// once it is durable.
    fn submit(
        &self,
        entry: Vec<u8>,
    ) -> impl Future<Output = Result<pb::SubmitAck, ClientError>> + Send;

    /// Entries `start .. start + count` (`count` from 1 to `wire::MAX_ENTRY_PAGE_COUNT`); the
    /// page may be cut short.
    fn entries(
        &self,
        start: u64,
        count: u32,
    ) -> impl Future<Output = Result<pb::EntryPage, ClientError>> + Send;

    /// The audit path of `leaf` in the tree of `tree_size` leaves (0: the gateway's latest).
    fn inclusion(
        &self,
        leaf: Leaf,
        tree_size: u64,
    ) -> impl Future<Output = Result<pb::InclusionAnswer, ClientError>> + Send;

    /// A proof that the tree of `size2` extends the tree of `size1`.
    fn consistency(
        &self,
        size1: u64,
        size2: u64,
    ) -> impl Future<Output = Result<pb::ConsistencyProof, ClientError>> + Send;

    /// The latest checkpoint a quorum of the gateway's witnesses cosigned (`NOT_FOUND` while
    /// there is none).
    fn cosigned_checkpoint(
        &self,
    ) -> impl Future<Output = Result<pb::SignedCheckpoint, ClientError>> + Send;

    /// The split-view alerts the gateway holds against `origin` (`None`: any).
    fn alerts(
        &self,
        origin: Option<&str>,
    ) -> impl Future<Output = Result<Vec<pb::Equivocation>, ClientError>> + Send;

    /// Enrols an account (issue 5); answered with the ack of its `IdentityBinding` once durable.
    fn register(
        &self,
        request: pb::RegisterAccount,
    ) -> impl Future<Output = Result<pb::SubmitAck, ClientError>> + Send;

    /// An account's current identity binding and its revocations, proved against the latest
    /// cosigned checkpoint.
    fn binding(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<pb::BindingAnswer, ClientError>> + Send;

    /// The lowest-index key publication naming `req_hash`, proved against the latest cosigned
    /// checkpoint (`PENDING` while not covered yet, `NOT_FOUND` while none is logged).
    fn publication(
        &self,
        req_hash: &[u8; 32],
    ) -> impl Future<Output = Result<pb::IncludedLeaf, ClientError>> + Send;

    /// The gateway's own log and its registered peers' logs, with the witness policy it
    /// applies to each.
    fn trust(&self) -> impl Future<Output = Result<pb::TrustList, ClientError>> + Send;
}

impl Leaf {
    /// The request field for this leaf.
    pub(crate) fn to_wire(self) -> pb::inclusion_request::Leaf {
        match self {
            Leaf::Index(i) => pb::inclusion_request::Leaf::Index(i),
            Leaf::Hash(h) => pb::inclusion_request::Leaf::LeafHash(h.to_vec()),
        }
    }
}

/// A shared reference to a gateway is a gateway (one connection, several logs or tasks).
impl<G: Gateway + Sync> Gateway for &G {
    fn checkpoint(&self) -> impl Future<Output = Result<pb::SignedCheckpoint, ClientError>> + Send {
        (**self).checkpoint()
    }

    fn submit(
        &self,
        entry: Vec<u8>,
    ) -> impl Future<Output = Result<pb::SubmitAck, ClientError>> + Send {
        (**self).submit(entry)
    }

    fn entries(
        &self,
        start: u64,
        count: u32,
    ) -> impl Future<Output = Result<pb::EntryPage, ClientError>> + Send {
        (**self).entries(start, count)
    }

    fn inclusion(
        &self,
        leaf: Leaf,
        tree_size: u64,
    ) -> impl Future<Output = Result<pb::InclusionAnswer, ClientError>> + Send {
        (**self).inclusion(leaf, tree_size)
    }

    fn consistency(
        &self,
        size1: u64,
        size2: u64,
    ) -> impl Future<Output = Result<pb::ConsistencyProof, ClientError>> + Send {
        (**self).consistency(size1, size2)
    }

    fn cosigned_checkpoint(
        &self,
    ) -> impl Future<Output = Result<pb::SignedCheckpoint, ClientError>> + Send {
        (**self).cosigned_checkpoint()
    }

    fn alerts(
        &self,
        origin: Option<&str>,
    ) -> impl Future<Output = Result<Vec<pb::Equivocation>, ClientError>> + Send {
        (**self).alerts(origin)
    }

    fn register(
        &self,
        request: pb::RegisterAccount,
    ) -> impl Future<Output = Result<pb::SubmitAck, ClientError>> + Send {
        (**self).register(request)
    }

    fn binding(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<pb::BindingAnswer, ClientError>> + Send {
        (**self).binding(account)
    }

    fn publication(
        &self,
        req_hash: &[u8; 32],
    ) -> impl Future<Output = Result<pb::IncludedLeaf, ClientError>> + Send {
        (**self).publication(req_hash)
    }

    fn trust(&self) -> impl Future<Output = Result<pb::TrustList, ClientError>> + Send {
        (**self).trust()
    }
}
