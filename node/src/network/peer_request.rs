//! Client requests this node sends to its peer gateways (relays, prekeys, bindings, status
//! queries, log reads) and who waits for each answer (owned by the worker).
//!
//! A request whose connection broke before its answer came — typically a peer that restarted
//! while this node still held a connection to its old process — is sent again, on another
//! connection or a fresh one dialled from the peer's addresses, if the failure came before the
//! request's deadline (the worker's request timeout from when it was first sent), instead of
//! its caller hearing a transport failure (which a gateway passes on to its client as BUSY).
//! At most [`MAX_SENDINGS`] times in all: a peer restarted more than once (or killed, which a
//! QUIC connection learns only from its idle timeout) can leave more than one connection to its
//! old processes here, and each failed sending takes one of them out; a peer that is down is
//! reported as before. Every request sent this way is safe to send more than once: a relay is
//! idempotent by msg_id at S_B, the reads change nothing, and a prekey request at worst spends
//! one more prekey.

use herald_light_client::ClientError;
use herald_proto::wire::pb::{self, ClientResponse};
use libp2p::request_response::OutboundFailure;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

/// How many times one request is sent at most, the first sending included.
pub(super) const MAX_SENDINGS: u8 = 3;

/// Who waits for a client request's answer.
pub(super) type ClientReply = oneshot::Sender<Result<ClientResponse, ClientError>>;

/// A client request in flight: its waiter and what to send again after a broken connection.
#[derive(Debug)]
pub(super) struct PendingClient {
    /// Who waits for the answer.
    pub reply: ClientReply,
    again: SendAgain,
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
    /// The first sending's deadline: no further sending after it.
    deadline: Instant,
    /// How many times it has been sent.
    sent: u8,
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
            again: SendAgain {
                peer,
                addrs,
                request,
                deadline: Instant::now() + timeout,
                sent: 1,
            },
        }
    }

    /// `again`, sent once more, for `reply`.
    pub(super) fn again(reply: ClientReply, mut again: SendAgain) -> Self {
        again.sent += 1;
        PendingClient { reply, again }
    }

    /// What to send again after `error` (the connection broke, before the deadline, fewer
    /// than [`MAX_SENDINGS`] sendings so far), or the request's failure for its waiter.
    pub(super) fn after(
        self,
        error: OutboundFailure,
        timeout: Duration,
    ) -> Result<(SendAgain, ClientReply), (ClientReply, ClientError)> {
        let broken = matches!(
            error,
            OutboundFailure::ConnectionClosed | OutboundFailure::Io(_)
        );
        let again = self.again;
        if broken && again.sent < MAX_SENDINGS && Instant::now() < again.deadline {
            Ok((again, self.reply))
        } else {
            Err((
                self.reply,
                herald_light_client::net::client_failure(error, timeout),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Waiter = oneshot::Receiver<Result<ClientResponse, ClientError>>;

    /// A request first sent now, with `timeout` to its deadline.
    fn sent(timeout: Duration) -> (PendingClient, Waiter) {
        let (reply, waiter) = oneshot::channel();
        let request = pb::ClientRequest::default();
        let pending = PendingClient::first(reply, PeerId::random(), Vec::new(), request, timeout);
        (pending, waiter)
    }

    #[tokio::test]
    async fn a_broken_connection_is_sent_again_up_to_the_bound_and_then_reported() {
        let timeout = Duration::from_secs(30);
        let (mut pending, _waiter) = sent(timeout);
        for _ in 1..MAX_SENDINGS {
            let (again, reply) = pending
                .after(OutboundFailure::ConnectionClosed, timeout)
                .expect("sent again");
            pending = PendingClient::again(reply, again);
        }
        let Err((_, failure)) = pending.after(OutboundFailure::ConnectionClosed, timeout) else {
            panic!("sent more than {MAX_SENDINGS} times");
        };
        assert!(
            matches!(failure, ClientError::Transport { .. }),
            "{failure:?}"
        );
    }

    #[tokio::test]
    async fn a_timeout_or_a_failure_past_the_deadline_is_not_sent_again() {
        let timeout = Duration::from_secs(30);
        let (pending, _waiter) = sent(timeout);
        assert!(pending.after(OutboundFailure::Timeout, timeout).is_err());
        let (late, _waiter) = sent(Duration::ZERO);
        assert!(
            late.after(OutboundFailure::ConnectionClosed, Duration::ZERO)
                .is_err()
        );
    }
}
