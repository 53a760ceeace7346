//! Herald's libp2p side, written once: the codec of `/herald/client/1` and `/herald/witness/1`,
//! the protocol and topic names as libp2p types, the gossipsub configuration and message id, and
//! the TCP + QUIC + noise + yamux transport.
//!
//! The light client uses it to reach a gateway ([`crate::GatewayClient`]); the node uses it for
//! its swarm, which serves both protocols and asks its peers (a witness is a light client of the
//! logs it watches); the testnet's gossip observer and every test that opens a libp2p connection
//! use it too, so no two of them can disagree on framing, limits, names or message ids. It lives
//! in the light client because that is the lowest crate with I/O: the node depends on the light
//! client, never the other way, and a mobile binding over the light client does not pull in the
//! node. What the messages *are* (schema, bounds, names as strings) stays in `herald-proto`.
//!
//! - [`codec`]: one length-prefixed prost message each way, its bound checked before the body
//!   is read, garbage kept apart from a broken stream.
//! - [`gossip`]: topics, content-addressed message ids, the gossipsub configuration and peer
//!   scoring.
//! - [`stream`]: `/herald/client-stream/1`, the client protocol pipelined on one stream.
//! - [`transport`]: the swarm builder.

pub mod codec;
pub mod gossip;
pub mod stream;
pub mod transport;

use std::time::Duration;

use herald_proto::wire::{self, Decoded, WireError, pb};
use libp2p::StreamProtocol;
use libp2p::request_response::OutboundFailure;

pub use codec::{ClientCodec, ProstCodec, WitnessCodec, read_frame, write_frame};
pub use gossip::{
    GossipMode, MAX_GOSSIP_TRANSMIT_BYTES, alert_topic, checkpoint_message, checkpoint_topic,
    gossipsub_behaviour, message_id, peer_scoring,
};
pub use stream::{CLIENT_STREAM_PROTOCOL, Pipeline, StreamFrame, StreamPath};
pub use transport::{DEFAULT_HANDSHAKE_TIMEOUT, SwarmBuildError, build_swarm, build_swarm_bounded};

use crate::error::ClientError;

/// The client protocol ([`wire::CLIENT_PROTOCOL`]): `ClientRequest` → `ClientResponse`.
pub const CLIENT_PROTOCOL: StreamProtocol = StreamProtocol::new(wire::CLIENT_PROTOCOL);

/// The witness protocol ([`wire::WITNESS_PROTOCOL`]): `AddCheckpointRequest` →
/// `AddCheckpointResponse`.
pub const WITNESS_PROTOCOL: StreamProtocol = StreamProtocol::new(wire::WITNESS_PROTOCOL);

/// The identify protocol version Herald nodes announce.
pub const IDENTIFY_PROTOCOL: &str = "/herald/1.0.0";

/// A gateway's answer as the codec read it: the response, or, for bytes that are not a valid
/// `ClientResponse`, the misbehaviour ([`ClientError::MalformedResponse`]); a frame cut short
/// is a broken stream ([`ClientError::Transport`]), as the connection failing looks the same.
pub fn client_answer(
    answer: Decoded<pb::ClientResponse>,
) -> Result<pb::ClientResponse, ClientError> {
    match answer {
        Ok(response) => Ok(response),
        Err(WireError::Truncated { part, .. }) => Err(ClientError::Transport {
            reason: format!("the stream ended inside the answer's {part}"),
        }),
        Err(error) => Err(ClientError::MalformedResponse(error)),
    }
}

/// Why a `/herald/client/1` request got no answer, as the client reports it; `request_timeout`
/// is the timeout the request ran with.
pub fn client_failure(error: OutboundFailure, request_timeout: Duration) -> ClientError {
    match error {
        OutboundFailure::DialFailure => ClientError::Transport {
            reason: "could not dial the gateway".into(),
        },
        OutboundFailure::Timeout => ClientError::Timeout {
            after: request_timeout,
        },
        OutboundFailure::ConnectionClosed => ClientError::Transport {
            reason: "the connection closed before the answer".into(),
        },
        OutboundFailure::UnsupportedProtocols => ClientError::UnsupportedProtocol,
        OutboundFailure::Io(e) => ClientError::Transport {
            reason: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;

    use super::*;

    #[test]
    fn a_refused_response_frame_is_peer_misbehaviour() {
        let e = client_answer(Err(WireError::UnknownEntryKind)).unwrap_err();
        assert!(e.is_peer_misbehaviour());
        let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof");
        let e = client_failure(OutboundFailure::Io(io), Duration::from_secs(1));
        assert!(!e.is_peer_misbehaviour() && e.is_retryable());
    }

    #[test]
    fn a_truncated_response_is_a_stream_failure() {
        let response = pb::ClientResponse {
            response: Some(pb::client_response::Response::Checkpoint(
                pb::SignedCheckpoint {
                    note: b"a.test/herald\n0\nAAAA\n\n".to_vec(),
                },
            )),
        };
        let frame = wire::encode_frame(&response);
        let cut = frame[..frame.len() - 3].to_vec();
        let read =
            block_on(ClientCodec::new().read_response(&CLIENT_PROTOCOL, &mut Cursor::new(cut)))
                .unwrap();
        let e = client_answer(read).unwrap_err();
        assert!(matches!(e, ClientError::Transport { .. }), "{e:?}");
        assert!(!e.is_peer_misbehaviour() && e.is_retryable());
    }
}
