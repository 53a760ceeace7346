//! `/herald/witness/1` in the worker: inbound requests go to the application
//! ([`Inbound::witness`]) on their own tasks, outbound ones (from the cosigner and the fork hook)
//! are sent with the peer's registered addresses and answered through a `oneshot`.
//!
//! Whether the caller may use the protocol (a registered peer, checked by the connection's peer
//! id) is the witness's first check, so that the refusal is counted and logged with the others.

use herald_proto::wire;
use herald_proto::wire::Decoded;
use herald_proto::wire::pb::{self, add_checkpoint_response, witness_refusal};
use libp2p::request_response::{self, InboundRequestId, OutboundFailure};
use libp2p::{Multiaddr, PeerId};
use tracing::debug;

use super::NetworkError;
use super::inbound::Inbound;
use super::worker::{WitnessReply, WitnessResponder, Worker};

/// A refusal that carries no held size.
pub(super) fn refusal(reason: witness_refusal::Reason) -> pb::AddCheckpointResponse {
    pb::AddCheckpointResponse {
        result: Some(add_checkpoint_response::Result::Refusal(
            pb::WitnessRefusal {
                reason: reason as i32,
                held_size: 0,
            },
        )),
    }
}

impl<S: Inbound> Worker<S> {
    pub(super) fn on_witness_event(
        &mut self,
        event: request_response::Event<
            Decoded<pb::AddCheckpointRequest>,
            Decoded<pb::AddCheckpointResponse>,
        >,
        draining: bool,
    ) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => self.on_witness_request(peer, request_id, request, channel, draining),
            Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                let answer = response.map_err(|e| NetworkError::Exchange {
                    peer,
                    reason: format!("malformed answer: {e}"),
                });
                if let Some(reply) = self.pending_witness.remove(&request_id) {
                    let _ = reply.send(answer);
                }
            }
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let reason = match error {
                    OutboundFailure::DialFailure => "cannot dial the witness".to_owned(),
                    OutboundFailure::Timeout => {
                        // libp2p's request timeout covers the whole exchange (writing the
                        // request, reading the answer), so a trickled answer ends here too.
                        if let Some(reply) = self.pending_witness.remove(&request_id) {
                            let after = self.request_timeout;
                            let _ = reply.send(Err(NetworkError::Timeout { peer, after }));
                        }
                        return;
                    }
                    OutboundFailure::ConnectionClosed => "connection closed".to_owned(),
                    OutboundFailure::UnsupportedProtocols => {
                        format!("the peer does not speak {}", wire::WITNESS_PROTOCOL)
                    }
                    OutboundFailure::Io(e) => e.to_string(),
                };
                if let Some(reply) = self.pending_witness.remove(&request_id) {
                    let _ = reply.send(Err(NetworkError::Exchange { peer, reason }));
                }
            }
            Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.witness_unsent.remove(&request_id);
                debug!(%peer, %error, "witness exchange failed");
            }
            Event::ResponseSent { request_id, .. } => {
                self.witness_unsent.remove(&request_id);
            }
        }
    }

    fn on_witness_request(
        &mut self,
        peer: PeerId,
        request_id: InboundRequestId,
        request: Decoded<pb::AddCheckpointRequest>,
        channel: WitnessResponder,
        draining: bool,
    ) {
        if draining {
            return self.respond_witness(
                request_id,
                channel,
                refusal(witness_refusal::Reason::Unavailable),
            );
        }
        let Ok(permit) = self.witness_inflight.clone().try_acquire_owned() else {
            return self.respond_witness(
                request_id,
                channel,
                refusal(witness_refusal::Reason::Unavailable),
            );
        };
        let service = self.service.clone();
        let responses = self.witness_tx.clone();
        tokio::spawn(async move {
            let response = service.witness(peer, request).await;
            // The worker owns the receiver while it runs; if it stopped, the exchange ends.
            let _ = responses.send((request_id, channel, response)).await;
            drop(permit);
        });
    }

    /// Hands a witness answer to the swarm; pending until reported sent or failed.
    pub(super) fn respond_witness(
        &mut self,
        request_id: InboundRequestId,
        channel: WitnessResponder,
        response: pb::AddCheckpointResponse,
    ) {
        match self
            .swarm
            .behaviour_mut()
            .witness
            .send_response(channel, Ok(response))
        {
            Ok(()) => {
                self.witness_unsent.insert(request_id);
            }
            Err(_) => debug!("the log went away before the witness's answer"),
        }
    }

    pub(super) fn send_witness_request(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: pb::AddCheckpointRequest,
        reply: WitnessReply,
    ) {
        let id = self
            .swarm
            .behaviour_mut()
            .witness
            .send_request_with_addresses(&peer, Ok(request), addrs);
        self.pending_witness.insert(id, reply);
    }
}
