//! The request-response codec of `/herald/client/1`: one length-prefixed prost message each way.
//!
//! Frames are `wire::encode_frame` / `wire::frame_body_len` (4-byte big-endian length, then the
//! message). The length is checked against the message's limit **before** the body is read, so a
//! gateway cannot make the client buffer more than `MAX_CLIENT_RESPONSE_BYTES`; the body is then
//! decoded and validated with `wire::decode_valid`.
//!
//! libp2p's codec trait speaks `io::Error`; a message that is refused is an
//! [`io::ErrorKind::InvalidData`] error wrapping the [`WireError`], which
//! [`wire_error`] recovers so the client can report "the gateway misbehaved" rather than "the
//! network failed".

use std::io;

use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use herald_proto::wire::{
    self, FRAME_HEADER_LEN, MAX_CLIENT_REQUEST_BYTES, MAX_CLIENT_RESPONSE_BYTES, Validate,
    WireError, encode_frame, frame_body_len, pb,
};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// The client protocol's name (proto's, re-exported for the client's users).
pub use herald_proto::wire::CLIENT_PROTOCOL;

/// The client protocol as libp2p negotiates it.
pub const CLIENT_STREAM_PROTOCOL: StreamProtocol = StreamProtocol::new(CLIENT_PROTOCOL);

/// The prost codec of `/herald/client/1`: `ClientRequest` out, `ClientResponse` in.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientCodec;

/// Reads one frame holding a message of type `M`, refusing a body over `limit` before reading it.
pub async fn read_frame<M, T>(io: &mut T, limit: usize) -> io::Result<M>
where
    M: Validate,
    T: AsyncRead + Unpin + Send,
{
    let mut header = [0u8; FRAME_HEADER_LEN];
    io.read_exact(&mut header).await?;
    let len = frame_body_len(header, limit).map_err(invalid_data)?;
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await?;
    wire::decode_valid::<M>(&body).map_err(invalid_data)
}

/// Writes `message` as one frame and flushes it (request-response closes the stream after).
pub async fn write_frame<T>(io: &mut T, message: &impl prost::Message) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    io.write_all(&encode_frame(message)).await?;
    io.flush().await
}

fn invalid_data(e: WireError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The [`WireError`] inside an error from [`read_frame`], if the message was refused (as opposed
/// to the stream failing).
pub fn wire_error(e: &io::Error) -> Option<&WireError> {
    e.get_ref()?.downcast_ref::<WireError>()
}

impl request_response::Codec for ClientCodec {
    type Protocol = StreamProtocol;
    type Request = pb::ClientRequest;
    type Response = pb::ClientResponse;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Self::Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_CLIENT_REQUEST_BYTES).await
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Self::Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_CLIENT_RESPONSE_BYTES).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Self::Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Self::Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response).await
    }
}

#[cfg(test)]
mod tests {
    use core::pin::Pin;
    use core::task::{Context, Poll};

    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;
    use prost::Message as _;

    use super::*;

    /// A stream that hands out `data`, then fails: reading past `data` means the codec read
    /// more than it should have.
    struct Guarded {
        data: Vec<u8>,
        pos: usize,
    }

    impl AsyncRead for Guarded {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let rest = &self.data[self.pos..];
            if rest.is_empty() {
                return Poll::Ready(Err(io::Error::other("read past the allowed bytes")));
            }
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n;
            Poll::Ready(Ok(n))
        }
    }

    fn checkpoint_response() -> pb::ClientResponse {
        pb::ClientResponse {
            response: Some(pb::client_response::Response::Checkpoint(
                pb::SignedCheckpoint {
                    note: b"a.test/herald\n0\nAAAA\n\n".to_vec(),
                },
            )),
        }
    }

    #[test]
    fn a_response_round_trips() {
        let mut out = Cursor::new(Vec::new());
        block_on(ClientCodec.write_response(
            &CLIENT_STREAM_PROTOCOL,
            &mut out,
            checkpoint_response(),
        ))
        .unwrap();
        let mut input = Cursor::new(out.into_inner());
        let back =
            block_on(ClientCodec.read_response(&CLIENT_STREAM_PROTOCOL, &mut input)).unwrap();
        assert_eq!(back, checkpoint_response());
    }

    #[test]
    fn an_oversized_response_is_refused_before_its_body_is_read() {
        // Only the header may be read: the guard fails any read of the body.
        let len = (MAX_CLIENT_RESPONSE_BYTES + 1) as u32;
        let mut io = Guarded {
            data: len.to_be_bytes().to_vec(),
            pos: 0,
        };
        let err =
            block_on(ClientCodec.read_response(&CLIENT_STREAM_PROTOCOL, &mut io)).unwrap_err();
        assert_eq!(
            wire_error(&err),
            Some(&WireError::TooLarge {
                len: MAX_CLIENT_RESPONSE_BYTES + 1,
                limit: MAX_CLIENT_RESPONSE_BYTES
            })
        );
        // The largest allowed length is accepted and its body read (here: the guard trips).
        let mut io = Guarded {
            data: (MAX_CLIENT_RESPONSE_BYTES as u32).to_be_bytes().to_vec(),
            pos: 0,
        };
        let err =
            block_on(ClientCodec.read_response(&CLIENT_STREAM_PROTOCOL, &mut io)).unwrap_err();
        assert_eq!(wire_error(&err), None);
    }

    #[test]
    fn a_malformed_response_is_a_typed_wire_error() {
        // Not protobuf at all.
        let garbage = [0xffu8; 8];
        let mut frame = (garbage.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&garbage);
        let err =
            block_on(ClientCodec.read_response(&CLIENT_STREAM_PROTOCOL, &mut Cursor::new(frame)))
                .unwrap_err();
        assert!(
            matches!(wire_error(&err), Some(WireError::Malformed(_))),
            "{err:?}"
        );

        // Valid protobuf, but no response kind.
        let empty = pb::ClientResponse { response: None };
        let err = block_on(ClientCodec.read_response(
            &CLIENT_STREAM_PROTOCOL,
            &mut Cursor::new(encode_frame(&empty)),
        ))
        .unwrap_err();
        assert_eq!(
            wire_error(&err),
            Some(&WireError::MissingField {
                field: "ClientResponse.response"
            })
        );

        // An ack whose leaf hash is not 32 bytes.
        let ack = pb::ClientResponse {
            response: Some(pb::client_response::Response::Submitted(pb::SubmitAck {
                index: 0,
                leaf_hash: vec![1; 31],
                checkpoint: Some(pb::SignedCheckpoint {
                    note: b"x".to_vec(),
                }),
            })),
        };
        let err = block_on(ClientCodec.read_response(
            &CLIENT_STREAM_PROTOCOL,
            &mut Cursor::new(encode_frame(&ack)),
        ))
        .unwrap_err();
        assert!(
            matches!(wire_error(&err), Some(WireError::FieldLength { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn a_truncated_response_is_a_stream_failure() {
        let frame = encode_frame(&checkpoint_response());
        let cut = frame[..frame.len() - 3].to_vec();
        let err =
            block_on(ClientCodec.read_response(&CLIENT_STREAM_PROTOCOL, &mut Cursor::new(cut)))
                .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(wire_error(&err), None);
    }

    #[test]
    fn requests_are_framed_with_their_encoded_length() {
        let request = pb::ClientRequest {
            request: Some(pb::client_request::Request::Entries(pb::EntriesRequest {
                start: 5,
                count: 3,
            })),
        };
        let mut out = Cursor::new(Vec::new());
        block_on(ClientCodec.write_request(&CLIENT_STREAM_PROTOCOL, &mut out, request.clone()))
            .unwrap();
        let bytes = out.into_inner();
        assert_eq!(bytes[..4], (request.encoded_len() as u32).to_be_bytes());
        let back =
            block_on(ClientCodec.read_request(&CLIENT_STREAM_PROTOCOL, &mut Cursor::new(bytes)))
                .unwrap();
        assert_eq!(back, request);
    }
}
