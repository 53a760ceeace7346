//! What a gateway answers over `/herald/client/1`, as a trait with one required method.
//!
//! A gateway is anything that carries one `ClientRequest` to a gateway and brings back its
//! `ClientResponse` ([`Gateway::exchange`]). The typed calls (`checkpoint`, `entries`,
//! `consistency`, ...) are provided on top of it: each builds its request and checks that the
//! answer is the one asked for with proto's matchers (`herald_proto::wire::client::expect_*`),
//! so every gateway, and every wrapper around one, answers them the same way.
//!
//! [`crate::GatewayClient`] implements it over libp2p; the node implements it over its own swarm
//! to read its peers' logs; [`crate::TrustedLog`] is generic over it, so the verifying layer runs
//! unchanged against an in-memory log in tests. Answers are raw wire types, validated for shape
//! and matched to the question only: trusting them is the verifying layer's job.

use core::future::Future;

use herald_proto::merkle::Hash;
use herald_proto::wire::client::{
    expect_alerts, expect_batch_submitted, expect_binding, expect_checkpoint, expect_consistency,
    expect_entries, expect_evidence, expect_inclusion, expect_login_accepted,
    expect_login_challenge, expect_password_params, expect_policy, expect_prekey_bundle,
    expect_publication, expect_registered, expect_session_closed, expect_session_frame,
    expect_submitted, expect_submitted_proved, expect_trust,
};
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

/// A gateway, reached somehow: one required method, [`exchange`](Gateway::exchange); the typed
/// calls of `/herald/client/1` are provided. Each typed call sends one request and returns the
/// matching answer; a gateway's refusal is [`ClientError::Refused`], any other kind of response
/// [`ClientError::UnexpectedResponse`], an answer about something else than was asked (another
/// page, size or leaf) [`ClientError::Verification`] with `VerifyError::AnswerMismatch`.
pub trait Gateway: Sync {
    /// Sends `request` and returns the gateway's answer, of whatever kind (its refusals
    /// included), valid in shape. Fails only when no answer came (network, timeout), the answer
    /// was not a valid `ClientResponse`, or the request was not sent.
    fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> impl Future<Output = Result<pb::ClientResponse, ClientError>> + Send;

    /// The largest encoded request the transport in use carries now: what
    /// [`crate::TrustedLog::submit_batches`] cuts its batches at. `wire::MAX_CLIENT_REQUEST_BYTES`
    /// (`/herald/client/1`) unless the gateway says more (a client stream carries a whole
    /// `SubmitBatch`).
    fn max_request_bytes(&self) -> impl Future<Output = usize> + Send {
        async { herald_proto::wire::MAX_CLIENT_REQUEST_BYTES }
    }

    /// The gateway's policy rule set (no session needed), in bounds; `scan::rule_set` parses
    /// it.
    fn policy(&self) -> impl Future<Output = Result<pb::PolicyRules, ClientError>> + Send {
        let request = pb::ClientRequest::policy();
        async move { Ok(expect_policy(self.exchange(request).await?)?) }
    }

    /// The latest checkpoint.
    fn checkpoint(&self) -> impl Future<Output = Result<pb::SignedCheckpoint, ClientError>> + Send {
        let request = pb::ClientRequest::checkpoint(false);
        async move { Ok(expect_checkpoint(self.exchange(request).await?)?) }
    }

    /// Appends `entry` (an encoded `LogEntry`, at most `wire::MAX_LOG_ENTRY_BYTES`); answered
    /// once it is durable.
    fn submit(
        &self,
        entry: Vec<u8>,
    ) -> impl Future<Output = Result<pb::SubmitAck, ClientError>> + Send {
        let request = pb::ClientRequest::submit(entry);
        async move { Ok(expect_submitted(self.exchange(request).await?)?) }
    }

    /// Appends the sealed key publication `entry` with its `opening` (checked by the gateway,
    /// never logged), proved as [`submit_trusting`](Self::submit_trusting) proves.
    fn submit_publication(
        &self,
        entry: Vec<u8>,
        opening: pb::PublicationOpening,
        trusted_size: u64,
    ) -> impl Future<Output = Result<pb::SubmitAck, ClientError>> + Send {
        let request = pb::ClientRequest::submit_publication(entry, opening, trusted_size);
        async move {
            Ok(expect_submitted_proved(
                self.exchange(request).await?,
                trusted_size,
            )?)
        }
    }

    /// Appends `entry` in one round trip (DESIGN §6): the ack carries the entry's audit path in
    /// its checkpoint and the consistency proof from `trusted_size` (0: none), checked here for
    /// shape and sizes only.
    fn submit_trusting(
        &self,
        entry: Vec<u8>,
        trusted_size: u64,
    ) -> impl Future<Output = Result<pb::SubmitAck, ClientError>> + Send {
        let request = pb::ClientRequest::submit_trusting(entry, trusted_size);
        async move {
            Ok(expect_submitted_proved(
                self.exchange(request).await?,
                trusted_size,
            )?)
        }
    }

    /// Appends `entries` (1 to `wire::MAX_BATCH_ENTRIES`) in one request: each is accepted or
    /// refused on its own, the accepted ones proved together by one range proof, with the
    /// consistency proof from `trusted_size` (0: none). Checked here for shape and counts only.
    fn submit_batch(
        &self,
        entries: Vec<Vec<u8>>,
        trusted_size: u64,
    ) -> impl Future<Output = Result<pb::BatchAck, ClientError>> + Send {
        let count = entries.len();
        let request = pb::ClientRequest::submit_batch(entries, trusted_size);
        async move {
            Ok(expect_batch_submitted(
                self.exchange(request).await?,
                count,
                trusted_size,
            )?)
        }
    }

    /// Entries `start .. start + count` (`count` from 1 to `wire::MAX_ENTRY_PAGE_COUNT`); the
    /// page may be cut short, never longer, and starts at `start`.
    fn entries(
        &self,
        start: u64,
        count: u32,
    ) -> impl Future<Output = Result<pb::EntryPage, ClientError>> + Send {
        let request = pb::ClientRequest::entries(start, count);
        async move { Ok(expect_entries(self.exchange(request).await?, start, count)?) }
    }

    /// The audit path of `leaf` in the tree of `tree_size` leaves (0: the gateway's latest).
    fn inclusion(
        &self,
        leaf: Leaf,
        tree_size: u64,
    ) -> impl Future<Output = Result<pb::InclusionAnswer, ClientError>> + Send {
        let asked = leaf.to_wire();
        let request = pb::ClientRequest::inclusion(asked.clone(), tree_size);
        async move {
            Ok(expect_inclusion(
                self.exchange(request).await?,
                &asked,
                tree_size,
            )?)
        }
    }

    /// A proof that the tree of `size2` extends the tree of `size1`.
    fn consistency(
        &self,
        size1: u64,
        size2: u64,
    ) -> impl Future<Output = Result<pb::ConsistencyProof, ClientError>> + Send {
        let request = pb::ClientRequest::consistency(size1, size2);
        async move {
            Ok(expect_consistency(
                self.exchange(request).await?,
                size1,
                size2,
            )?)
        }
    }

    /// The latest checkpoint a quorum of the gateway's witnesses cosigned (`NOT_FOUND` while
    /// there is none).
    fn cosigned_checkpoint(
        &self,
    ) -> impl Future<Output = Result<pb::SignedCheckpoint, ClientError>> + Send {
        let request = pb::ClientRequest::checkpoint(true);
        async move { Ok(expect_checkpoint(self.exchange(request).await?)?) }
    }

    /// The split-view alerts the gateway holds against `origin` (`None`: any), at most
    /// `wire::MAX_ALERTS_PER_ANSWER`, unverified.
    fn alerts(
        &self,
        origin: Option<&str>,
    ) -> impl Future<Output = Result<Vec<pb::Equivocation>, ClientError>> + Send {
        let request = pb::ClientRequest::alerts(origin);
        async move { Ok(expect_alerts(self.exchange(request).await?)?) }
    }

    /// Enrols an account with its operator-issued code (`RegisterAccount`, signed by its IK);
    /// answered, once the account's `IdentityBinding` is durable, with that leaf's ack.
    /// Refusals: `UNAUTHORIZED` (wrong or used code, unknown or disabled account),
    /// `INVALID_ENTRY` (a signature that does not verify).
    fn register(
        &self,
        request: pb::RegisterAccount,
    ) -> impl Future<Output = Result<pb::SubmitAck, ClientError>> + Send {
        let request = pb::ClientRequest::register(request);
        async move { Ok(expect_registered(self.exchange(request).await?)?) }
    }

    /// An account's current identity binding and its revocations, proved against the latest
    /// cosigned checkpoint.
    fn binding(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<pb::BindingAnswer, ClientError>> + Send {
        let request = pb::ClientRequest::binding(account);
        async move { Ok(expect_binding(self.exchange(request).await?)?) }
    }

    /// The notary records of the mail `msg_id` (DESIGN §3.4), each proved against the latest
    /// cosigned checkpoint (`PENDING` while it covers none, `NOT_FOUND` while none is logged);
    /// unverified, see `TrustedLog::delivery_status`.
    fn evidence(
        &self,
        msg_id: &[u8],
    ) -> impl Future<Output = Result<pb::EvidenceAnswer, ClientError>> + Send {
        let request = pb::ClientRequest::evidence(msg_id);
        async move { Ok(expect_evidence(self.exchange(request).await?)?) }
    }

    /// The notary records of the mail `msg_id` in the log of the gateway's registered peer
    /// `domain`, asked of that peer by this gateway with the client's `nonce` and returned as
    /// the peer answered (unverified: see `delivery_status_through`).
    fn peer_evidence(
        &self,
        domain: &str,
        msg_id: &[u8],
        nonce: &[u8],
    ) -> impl Future<Output = Result<pb::EvidenceAnswer, ClientError>> + Send {
        let request = pb::ClientRequest::peer_evidence(domain, msg_id, nonce);
        async move { Ok(expect_evidence(self.exchange(request).await?)?) }
    }

    /// The lowest-index key publication naming `req_hash`, proved against the latest cosigned
    /// checkpoint (`PENDING` with a retry time while not covered yet, `NOT_FOUND` while none is
    /// logged).
    fn publication(
        &self,
        req_hash: &[u8; 32],
    ) -> impl Future<Output = Result<pb::IncludedLeaf, ClientError>> + Send {
        let request = pb::ClientRequest::publication(req_hash);
        async move { Ok(expect_publication(self.exchange(request).await?)?) }
    }

    /// The gateway's own log and its registered peers' logs, with the witness policy it
    /// applies to each (the gateway's word).
    fn trust(&self) -> impl Future<Output = Result<pb::TrustList, ClientError>> + Send {
        let request = pb::ClientRequest::trust();
        async move { Ok(expect_trust(self.exchange(request).await?)?) }
    }

    /// The Argon2id parameters `account`'s password is derived with (the gateway's defaults
    /// for an address without a password; unvalidated beyond the schema's bounds).
    fn password_params(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<pb::PasswordParams, ClientError>> + Send {
        let request = pb::ClientRequest::password_params(account);
        async move { Ok(expect_password_params(self.exchange(request).await?)?) }
    }

    /// Login message 1; answered with message 2 (`RATE_LIMITED` with a retry time after too
    /// many attempts). [`crate::Session::login`] runs the whole login.
    fn login_share(
        &self,
        share: pb::LoginShare,
    ) -> impl Future<Output = Result<pb::LoginChallenge, ClientError>> + Send {
        let request = pb::ClientRequest::login_share(share);
        async move { Ok(expect_login_challenge(self.exchange(request).await?)?) }
    }

    /// Login message 3 for `account`'s attempt; answered when confirmP verified
    /// (`UNAUTHORIZED` when it did not, or the attempt is gone).
    fn login_finish(
        &self,
        account: &str,
        confirm: pb::LoginConfirm,
    ) -> impl Future<Output = Result<pb::LoginAccepted, ClientError>> + Send {
        let request = pb::ClientRequest::login_finish(account, confirm);
        async move { Ok(expect_login_accepted(self.exchange(request).await?)?) }
    }

    /// Sends a data frame of a live session and returns the gateway's answer frame (of the
    /// same session; opening it is the channel's job). `UNAUTHORIZED` when the gateway does not
    /// take the frame.
    fn session_frame(
        &self,
        frame: pb::SessionFrame,
    ) -> impl Future<Output = Result<pb::SessionFrame, ClientError>> + Send {
        let session_id = frame.session_id.clone();
        let request = pb::ClientRequest::session(frame);
        async move {
            Ok(expect_session_frame(
                self.exchange(request).await?,
                &session_id,
            )?)
        }
    }

    /// Sends a session's close frame (logout); answered once the gateway ended the session.
    fn session_close(
        &self,
        frame: pb::SessionFrame,
    ) -> impl Future<Output = Result<(), ClientError>> + Send {
        let request = pb::ClientRequest::session(frame);
        async move { Ok(expect_session_closed(self.exchange(request).await?)?) }
    }

    /// One prekey of `account` from its own gateway, handed out to nobody else, with the
    /// account's binding (unverified: [`crate::fetch_prekey_bundle`] verifies it).
    fn prekey_bundle(
        &self,
        account: &str,
    ) -> impl Future<Output = Result<pb::PrekeyBundle, ClientError>> + Send {
        let request = pb::ClientRequest::prekey_bundle(account);
        async move { Ok(expect_prekey_bundle(self.exchange(request).await?)?) }
    }
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
impl<G: Gateway> Gateway for &G {
    fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> impl Future<Output = Result<pb::ClientResponse, ClientError>> + Send {
        (**self).exchange(request)
    }

    fn max_request_bytes(&self) -> impl Future<Output = usize> + Send {
        (**self).max_request_bytes()
    }
}
