//! Length-prefixed frames for request-response streams (`/herald/client/1`, `/herald/witness/1`).
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of one protobuf message.
//! The reader learns the length before it reads the body, so it can refuse an oversized message
//! without buffering it. This is the sans-IO half; the one libp2p codec
//! (`herald_light_client::net`, used by node, client and testnet) wraps it.

use super::WireError;

/// A message read from a frame: valid, or why the bytes that arrived are not acceptable.
///
/// Keeping "the peer sent garbage" (`Err`) apart from "the stream broke" (the reader's I/O
/// error) lets a server answer garbage with a typed refusal (`MALFORMED`, `TOO_LARGE`) instead
/// of silently resetting the stream, and lets a client tell a misbehaving peer from a network
/// failure.
pub type Decoded<M> = Result<M, WireError>;

/// Length of the frame header.
pub const FRAME_HEADER_LEN: usize = 4;

/// The header and body of one frame holding `message`.
pub fn encode_frame(message: &impl prost::Message) -> Vec<u8> {
    let len = message.encoded_len();
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + len);
    // Every message Herald frames is bounded far below 4 GiB by its own limit.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    message.encode_raw(&mut out);
    out
}

/// The body length a frame header announces, refused if it is over `limit`.
pub fn frame_body_len(header: [u8; FRAME_HEADER_LEN], limit: usize) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > limit {
        return Err(WireError::TooLarge { len, limit });
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::pb;

    #[test]
    fn a_frame_announces_its_body_length() {
        let msg = pb::SignedCheckpoint {
            note: b"x.test/herald\n0\nAAAA\n".to_vec(),
        };
        let frame = encode_frame(&msg);
        let header: [u8; 4] = frame[..4].try_into().unwrap();
        let len = frame_body_len(header, 1024).unwrap();
        assert_eq!(len, frame.len() - 4);
        let back: pb::SignedCheckpoint = crate::wire::decode(&frame[4..], 1024).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn an_oversized_header_is_refused_before_the_body() {
        assert_eq!(
            frame_body_len(u32::MAX.to_be_bytes(), 1 << 20),
            Err(WireError::TooLarge {
                len: u32::MAX as usize,
                limit: 1 << 20
            })
        );
    }
}
