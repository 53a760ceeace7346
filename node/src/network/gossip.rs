//! Checkpoint gossip (`herald/checkpoints/1`): what the node publishes and what it accepts.
//!
//! Each message is one encoded `SignedCheckpoint`. The node publishes every new checkpoint its
//! sequencer signs. A received message is validated before gossipsub forwards it: it must decode
//! within its limit and hold a C2SP note whose body is a Herald checkpoint and which carries a
//! signature line named after the checkpoint's origin (a log always signs its own checkpoints).
//! Signatures are checked against log keys once peer domains are registered (the witness issue);
//! until then a well-formed checkpoint of any origin is accepted. Anything else is rejected,
//! which gossipsub's peer scoring charges to the peer that sent it.

use herald_proto::checkpoint::{Checkpoint, CheckpointError};
use herald_proto::note::{NoteError, SignedNote};
use herald_proto::wire::{self, WireError, pb};
use prost::Message as _;

/// Why a gossip message was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GossipRejection {
    /// The message arrived on a topic the node does not validate.
    #[error("message on unexpected topic {0}")]
    UnexpectedTopic(String),
    /// The data is not a valid `SignedCheckpoint`.
    #[error("not a SignedCheckpoint: {0}")]
    Wire(#[from] WireError),
    /// The note does not parse.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The note's text is not a Herald checkpoint body.
    #[error("checkpoint body: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// No signature line is named after the checkpoint's origin.
    #[error("checkpoint of {origin} carries no signature by its log")]
    NoLogSignature {
        /// The checkpoint's origin.
        origin: String,
    },
}

/// The gossip message announcing the signed checkpoint `note`.
pub fn checkpoint_message(note: &[u8]) -> Vec<u8> {
    pb::SignedCheckpoint {
        note: note.to_vec(),
    }
    .encode_to_vec()
}

/// Checks a received checkpoint message; the checkpoint it announces if acceptable.
pub fn check_checkpoint_message(data: &[u8]) -> Result<Checkpoint, GossipRejection> {
    let message: pb::SignedCheckpoint = wire::decode_valid(data)?;
    let note = SignedNote::parse(&message.note)?;
    let checkpoint = Checkpoint::parse_body(note.text())?;
    if !note
        .signatures()
        .iter()
        .any(|s| s.name() == checkpoint.origin)
    {
        return Err(GossipRejection::NoLogSignature {
            origin: checkpoint.origin,
        });
    }
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use herald_proto::note::NoteSigner;

    use super::*;

    fn signed(origin: &str, signer: &str) -> Vec<u8> {
        let key = NoteSigner::new(signer, SigningKey::from_bytes(&[5; 32])).unwrap();
        let body = Checkpoint {
            origin: origin.into(),
            size: 3,
            root: [7; 32],
        }
        .body();
        key.sign(&body).unwrap().to_string().into_bytes()
    }

    #[test]
    fn a_checkpoint_signed_by_its_log_is_accepted() {
        let data = checkpoint_message(&signed("a.test/herald", "a.test/herald"));
        let checkpoint = check_checkpoint_message(&data).unwrap();
        assert_eq!(
            (checkpoint.origin.as_str(), checkpoint.size),
            ("a.test/herald", 3)
        );
    }

    #[test]
    fn garbage_and_foreign_signatures_are_rejected() {
        assert!(matches!(
            check_checkpoint_message(b"\xff\xff"),
            Err(GossipRejection::Wire(_))
        ));
        assert!(matches!(
            check_checkpoint_message(&checkpoint_message(b"not a note")),
            Err(GossipRejection::Note(_))
        ));
        let other = checkpoint_message(&signed("a.test/herald", "b.test/herald"));
        assert!(matches!(
            check_checkpoint_message(&other),
            Err(GossipRejection::NoLogSignature { .. })
        ));
        let key = NoteSigner::new("a.test/herald", SigningKey::from_bytes(&[5; 32])).unwrap();
        let not_checkpoint = key.sign("hello\n").unwrap().to_string();
        assert!(matches!(
            check_checkpoint_message(&checkpoint_message(not_checkpoint.as_bytes())),
            Err(GossipRejection::Checkpoint(_))
        ));
    }
}
