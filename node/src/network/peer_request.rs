//! Client requests this node sends to its peer gateways (relays, prekeys, bindings, status
//! queries, log reads) and who waits for each answer (owned by the worker).
//!
//! A request whose connection broke before its answer came — typically a peer that restarted
//! while this node still held a connection to its old process — is sent once more, on a fresh
//! connection dialled from the peer's addresses, if the failure came before the request's
//! deadline (the worker's request timeout from when it was first sent), instead of its caller
//! hearing a transport failure (which a gateway passes on to its client as BUSY). Only once:
//! a peer that is down is reported as before. Every request sent this way is safe to send
//! twice: a relay is idempotent by msg_id at S_B, the reads change nothing, and a prekey
//! request at worst spends one more prekey.

use herald_light_client::ClientError;
use herald_proto::wire::pb::{self, ClientResponse};
use libp2p::request_response::OutboundFailure;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

/// Who waits for a client request's answer.
pub(super) type ClientReply = oneshot::Sender<Result<ClientResponse, ClientError>>;

/// A client request in flight: its waiter and, until it has been sent again, what to send
/// again.
#[derive(Debug)]
pub(super) struct PendingClient {
    /// Who waits for the answer.
    pub reply: ClientReply,
    again: Option<SendAgain>,
}

/// A request as it can be sent once more.
#[derive(Debug)]
pub(super) struct SendAgain {
    /// To whom.
    pub peer: PeerId,
    /// Where to dial it.
    pub addrs: Vec<Multiaddr>,
    /// What.
    pub request: pb::ClientRequest,
    /// The first sending's deadline: no second sending after it.
    deadline: Instant,
}

impl PendingClient {
    /// `request`, sent now to `peer` (at `addrs`), answered within `timeout`, to `reply`.
    pub(super) fn first(
        reply: ClientReply,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::ClientRequest,
        timeout: Duration,
    ) -> Self {
        PendingClient {
            reply,
            again: Some(SendAgain {
                peer,
                addrs,
                request,
                deadline: Instant::now() + timeout,
            }),
        }
    }

    /// The request sent again: its waiter, and nothing to send a third time.
    pub(super) fn again(reply: ClientReply) -> Self {
        PendingClient { reply, again: None }
    }

    /// What to send again after `error` (the connection broke, the first sending, before the
    /// deadline), or the request's failure for its waiter.
    pub(super) fn after(
        self,
        error: OutboundFailure,
        timeout: Duration,
    ) -> Result<(SendAgain, ClientReply), (ClientReply, ClientError)> {
        let broken = matches!(
            error,
            OutboundFailure::ConnectionClosed | OutboundFailure::Io(_)
        );
        match self.again {
            Some(again) if broken && Instant::now() < again.deadline => Ok((again, self.reply)),
            _ => Err((
                self.reply,
                herald_light_client::net::client_failure(error, timeout),
            )),
        }
    }
}
