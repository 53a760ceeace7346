//! The names Herald's messages travel under: libp2p protocol ids and gossipsub topics.
//!
//! They are protocol decisions like the schema itself: a node, a light client and a test peer
//! that spell one differently cannot talk, and nothing tells them why. So each name is written
//! once, here, and node, light client and testnet use these constants (wrapping them in
//! libp2p's `StreamProtocol` or topic types where they need them). A breaking change of a
//! protocol gets a new name (`/2`), never a new meaning under the old one.

/// The client protocol (request-response): a light client sends one `ClientRequest` and the
/// gateway answers one `ClientResponse`, each a length-prefixed frame ([`super::encode_frame`]).
pub const CLIENT_PROTOCOL: &str = "/herald/client/1";

/// The client protocol pipelined (DESIGN §6): one long-lived stream per client connection, each
/// frame a `StreamRequest` (the client's) or `StreamResponse` (the gateway's), matched by id.
/// Same requests and answers as [`CLIENT_PROTOCOL`], without a negotiated stream per request.
pub const CLIENT_STREAM_PROTOCOL: &str = "/herald/client-stream/1";

/// The witness protocol (request-response, between gateways): a log sends an
/// `AddCheckpointRequest` and the witness answers an `AddCheckpointResponse`, framed alike.
pub const WITNESS_PROTOCOL: &str = "/herald/witness/1";

/// The gossipsub topic of checkpoints: each message is one encoded `SignedCheckpoint`, every
/// new checkpoint of a log and every cosigned one.
pub const CHECKPOINT_TOPIC: &str = "herald/checkpoints/1";

/// The gossipsub topic of split-view alerts: each message is one encoded `Equivocation`,
/// relayed only after it verifies completely.
pub const ALERT_TOPIC: &str = "herald/alerts/1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_ids_are_libp2p_paths_and_topics_are_distinct() {
        // libp2p refuses a protocol id that does not start with '/'.
        for id in [CLIENT_PROTOCOL, CLIENT_STREAM_PROTOCOL, WITNESS_PROTOCOL] {
            assert!(id.starts_with('/') && id.is_ascii(), "{id}");
        }
        assert_ne!(CLIENT_PROTOCOL, WITNESS_PROTOCOL);
        assert_ne!(CLIENT_PROTOCOL, CLIENT_STREAM_PROTOCOL);
        assert_ne!(CHECKPOINT_TOPIC, ALERT_TOPIC);
    }
}
