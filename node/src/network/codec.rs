//! A request-response codec for any pair of prost messages, framed as `wire::frame` says.
//!
//! One request and one response per stream, each a 4-byte big-endian length and that many bytes
//! of protobuf. Reading checks the announced length against the message's own limit
//! ([`Validate::MAX_ENCODED_LEN`]) **before** reading the body, then decodes and validates with
//! [`wire::decode_valid`].
//!
//! What the codec hands up is a [`Decoded`] message: `Ok` when it is valid, `Err(WireError)` when
//! the bytes arrived but are not an acceptable message. That keeps "the peer sent garbage" apart
//! from "the stream broke", so the server can answer garbage with a typed error (`MALFORMED`,
//! `TOO_LARGE`) instead of silently resetting the stream:
//!
//! | what arrives | read result | what the client protocol does |
//! |---|---|---|
//! | a frame within the limit, a valid message | `Ok(Ok(m))` | handles it |
//! | a frame within the limit, bad protobuf or a broken bound | `Ok(Err(Malformed/..))` | answers `MALFORMED` |
//! | a header announcing more than the limit | `Ok(Err(TooLarge))`, body never read | answers `TOO_LARGE` |
//! | a stream that ends inside the header or the body | `Ok(Err(FieldSize))` | answers `MALFORMED` |
//! | a stream that ends before any byte, or fails | `Err(io)` | nothing to answer; the stream is dropped |
//!
//! The same codec serves `/herald/client/1` and `/herald/witness/1`, both ways (the node also
//! asks peers). The light client has its own (`herald_light_client::codec`): it cannot depend on
//! the node, and it fails a refused answer instead of answering it.

use std::io;
use std::marker::PhantomData;

use futures::prelude::*;
use herald_proto::wire::{self, FRAME_HEADER_LEN, Validate, WireError};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// A message read from a stream: valid, or why the bytes that arrived are not acceptable.
pub type Decoded<M> = Result<M, WireError>;

/// Codec for requests `Req` and responses `Resp`, both prost messages with wire limits.
///
/// To send, pass `Ok(message)`; writing an `Err` fails with `InvalidInput`.
pub struct ProstCodec<Req, Resp> {
    // `fn() -> _` keeps the codec Send + Sync whatever the message types are.
    _messages: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> ProstCodec<Req, Resp> {
    /// The codec.
    pub fn new() -> Self {
        ProstCodec {
            _messages: PhantomData,
        }
    }
}

impl<Req, Resp> Default for ProstCodec<Req, Resp> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Req, Resp> Clone for ProstCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<Req, Resp> std::fmt::Debug for ProstCodec<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProstCodec")
    }
}

/// Reads one frame holding an `M`: see the table in the module docs.
pub async fn read_frame<M, T>(io: &mut T) -> io::Result<Decoded<M>>
where
    M: Validate,
    T: AsyncRead + Unpin + Send,
{
    let mut header = [0u8; FRAME_HEADER_LEN];
    match read_full(io, &mut header).await? {
        0 => return Err(io::ErrorKind::UnexpectedEof.into()),
        n if n < FRAME_HEADER_LEN => {
            return Ok(Err(truncated("frame header", n, FRAME_HEADER_LEN)));
        }
        _ => {}
    }
    let len = match wire::frame_body_len(header, M::MAX_ENCODED_LEN) {
        Ok(len) => len,
        Err(too_large) => return Ok(Err(too_large)),
    };
    let mut body = vec![0u8; len];
    let got = read_full(io, &mut body).await?;
    if got < len {
        return Ok(Err(truncated("frame body", got, len)));
    }
    Ok(wire::decode_valid::<M>(&body))
}

/// A frame part that ended (the peer closed its side) before its announced length.
fn truncated(field: &'static str, len: usize, expected: usize) -> WireError {
    WireError::FieldSize {
        field,
        len,
        min: expected,
        max: expected,
    }
}

/// Reads until `buf` is full or the stream ends; how many bytes were read.
async fn read_full<T: AsyncRead + Unpin>(io: &mut T, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match io.read(&mut buf[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes one frame holding `message`. Refuses (`InvalidInput`) an `Err`, or a message over its
/// own limit, which the peer would refuse anyway: that is a local bug, not something to send.
pub async fn write_frame<M, T>(io: &mut T, message: Decoded<M>) -> io::Result<()>
where
    M: Validate,
    T: AsyncWrite + Unpin + Send,
{
    let message = message.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let len = message.encoded_len();
    if len > M::MAX_ENCODED_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            WireError::TooLarge {
                len,
                limit: M::MAX_ENCODED_LEN,
            },
        ));
    }
    io.write_all(&wire::encode_frame(&message)).await?;
    io.flush().await
}

impl<Req, Resp> request_response::Codec for ProstCodec<Req, Resp>
where
    Req: Validate + Send + 'static,
    Resp: Validate + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Decoded<Req>;
    type Response = Decoded<Resp>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Self::Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Self::Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io).await
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
        write_frame(io, request).await
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
        write_frame(io, response).await
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;
    use futures::io::Cursor;
    use herald_proto::wire::pb;
    use libp2p::request_response::Codec as _;

    use super::*;

    type ClientCodec = ProstCodec<pb::ClientRequest, pb::ClientResponse>;
    const P: StreamProtocol = StreamProtocol::new(herald_proto::wire::CLIENT_PROTOCOL);

    fn checkpoint_request() -> pb::ClientRequest {
        pb::ClientRequest {
            request: Some(pb::client_request::Request::Checkpoint(
                pb::CheckpointRequest { cosigned: false },
            )),
        }
    }

    fn read_request(bytes: Vec<u8>) -> io::Result<Decoded<pb::ClientRequest>> {
        block_on(ClientCodec::new().read_request(&P, &mut Cursor::new(bytes)))
    }

    #[test]
    fn a_written_request_reads_back() {
        let mut out = Cursor::new(Vec::new());
        block_on(ClientCodec::new().write_request(&P, &mut out, Ok(checkpoint_request()))).unwrap();
        assert_eq!(
            read_request(out.into_inner()).unwrap(),
            Ok(checkpoint_request())
        );
    }

    #[test]
    fn an_oversized_header_is_refused_without_reading_the_body() {
        let mut bytes = ((wire::MAX_CLIENT_REQUEST_BYTES + 1) as u32)
            .to_be_bytes()
            .to_vec();
        bytes.extend_from_slice(&[0; 16]); // far less than announced: never read
        assert!(matches!(
            read_request(bytes),
            Ok(Err(WireError::TooLarge { .. }))
        ));
    }

    #[test]
    fn garbage_within_the_limit_is_a_typed_error() {
        let body = [0xff, 0xff, 0xff];
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&body);
        assert!(matches!(
            read_request(bytes),
            Ok(Err(WireError::Malformed(_)))
        ));
        // An empty body is a request with no kind.
        assert!(matches!(
            read_request(vec![0, 0, 0, 0]),
            Ok(Err(WireError::MissingField { .. }))
        ));
    }

    #[test]
    fn a_truncated_frame_is_a_typed_error_and_an_empty_stream_an_io_error() {
        let frame = wire::encode_frame(&checkpoint_request());
        let mut bytes = 100u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0x12, 0x05]);
        assert!(matches!(
            read_request(bytes),
            Ok(Err(WireError::FieldSize {
                field: "frame body",
                len: 2,
                ..
            }))
        ));
        assert!(matches!(
            read_request(frame[..2].to_vec()),
            Ok(Err(WireError::FieldSize {
                field: "frame header",
                ..
            }))
        ));
        assert_eq!(
            read_request(Vec::new()).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn writing_an_error_or_oversized_message_is_refused() {
        let mut out = Cursor::new(Vec::new());
        let err = block_on(ClientCodec::new().write_request(
            &P,
            &mut out,
            Err(WireError::UnknownEntryKind),
        ))
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let huge = pb::ClientRequest {
            request: Some(pb::client_request::Request::Submit(pb::SubmitEntry {
                entry: vec![1; wire::MAX_CLIENT_REQUEST_BYTES],
            })),
        };
        let err = block_on(ClientCodec::new().write_request(&P, &mut out, Ok(huge))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(out.into_inner().is_empty());
    }
}
