//! The request-response codec of `/herald/client/1` and `/herald/witness/1`: any pair of prost
//! messages, framed as `wire::frame` says. The one codec of the workspace: the light client, the
//! node (both ways: it serves and it asks) and the tests all use it.
//!
//! One request and one response per stream, each a 4-byte big-endian length and that many bytes
//! of protobuf. Reading checks the announced length against the message's own limit
//! ([`Validate::MAX_ENCODED_LEN`]) **before** reading the body, then decodes and validates with
//! [`wire::decode_valid`].
//!
//! What the codec hands up is a [`Decoded`] message: `Ok` when it is valid, `Err(WireError)` when
//! the bytes arrived but are not an acceptable message. That keeps "the peer sent garbage" apart
//! from "the stream broke", so a server can answer garbage with a typed error (`MALFORMED`,
//! `TOO_LARGE`) instead of silently resetting the stream, and a client can report a misbehaving
//! gateway rather than a network failure:
//!
//! | what arrives | read result | server (node) | client |
//! |---|---|---|---|
//! | a frame within the limit, a valid message | `Ok(Ok(m))` | handles it | takes it |
//! | a frame within the limit, bad protobuf or a broken bound | `Ok(Err(Malformed/..))` | answers `MALFORMED` | peer misbehaved |
//! | a header announcing more than the limit | `Ok(Err(TooLarge))`, body never read | answers `TOO_LARGE` | peer misbehaved |
//! | a stream that ends inside the header or the body | `Ok(Err(Truncated))` | answers `MALFORMED` | network failure |
//! | a stream that ends before any byte, or fails | `Err(io)` | nothing to answer; dropped | network failure |

use std::io;
use std::marker::PhantomData;

use futures::prelude::*;
use herald_proto::wire::{self, Decoded, FRAME_HEADER_LEN, Validate, WireError, pb};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// The codec of `/herald/client/1`: `ClientRequest` → `ClientResponse`.
pub type ClientCodec = ProstCodec<pb::ClientRequest, pb::ClientResponse>;

/// The codec of `/herald/witness/1`, both ways (a node is a log and a witness).
pub type WitnessCodec = ProstCodec<pb::AddCheckpointRequest, pb::AddCheckpointResponse>;

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
    // Decoded from a `Bytes`: the proof hashes are slices of this frame, not copies.
    Ok(wire::decode_valid_bytes::<M>(body.into()))
}

/// A frame part that ended (the peer closed its side) before its announced length.
fn truncated(part: &'static str, len: usize, expected: usize) -> WireError {
    WireError::Truncated {
        part,
        len,
        expected,
    }
}

/// Reads until `buf` is full or the stream ends; how many bytes were read.
pub(super) async fn read_full<T: AsyncRead + Unpin>(
    io: &mut T,
    buf: &mut [u8],
) -> io::Result<usize> {
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
    let mut frame = Vec::new();
    append_frame(&mut frame, &message)?;
    io.write_all(&frame).await?;
    io.flush().await
}

/// Appends one frame holding `message` to `out`, refused as [`write_frame`] refuses it (a
/// message over its own limit): a writer that has several frames ready writes them at once.
pub fn append_frame<M: Validate>(out: &mut Vec<u8>, message: &M) -> io::Result<()> {
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
    out.reserve(FRAME_HEADER_LEN + len);
    // Within M's limit, far below 4 GiB.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    message.encode_raw(out);
    Ok(())
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
    use core::pin::Pin;
    use core::task::{Context, Poll};

    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;

    use super::*;

    const P: StreamProtocol = super::super::CLIENT_PROTOCOL;

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
            Ok(Err(WireError::Truncated {
                part: "frame body",
                len: 2,
                expected: 100,
            }))
        ));
        assert!(matches!(
            read_request(frame[..2].to_vec()),
            Ok(Err(WireError::Truncated {
                part: "frame header",
                len: 2,
                expected: FRAME_HEADER_LEN,
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
                trusted_size: 0,
                opening: None,
            })),
        };
        let err = block_on(ClientCodec::new().write_request(&P, &mut out, Ok(huge))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(out.into_inner().is_empty());
    }

    #[test]
    fn frames_appended_in_one_burst_read_back_one_by_one_and_an_oversized_one_adds_nothing() {
        let mut burst = Vec::new();
        let first = checkpoint_request();
        let second = pb::ClientRequest::checkpoint(true);
        append_frame(&mut burst, &first).unwrap();
        append_frame(&mut burst, &second).unwrap();
        let mut input = Cursor::new(burst.clone());
        let read = |input: &mut Cursor<Vec<u8>>| {
            block_on(ClientCodec::new().read_request(&P, input)).unwrap()
        };
        assert_eq!(read(&mut input).unwrap(), first);
        assert_eq!(read(&mut input).unwrap(), second);
        let huge = pb::ClientRequest {
            request: Some(pb::client_request::Request::Submit(pb::SubmitEntry {
                entry: vec![1; wire::MAX_CLIENT_REQUEST_BYTES],
                trusted_size: 0,
                opening: None,
            })),
        };
        let before = burst.len();
        let err = append_frame(&mut burst, &huge).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(burst.len(), before);
    }

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
        block_on(ClientCodec::new().write_response(&P, &mut out, Ok(checkpoint_response())))
            .unwrap();
        let mut input = Cursor::new(out.into_inner());
        let back = block_on(ClientCodec::new().read_response(&P, &mut input)).unwrap();
        assert_eq!(back, Ok(checkpoint_response()));
    }

    #[test]
    fn an_oversized_response_is_refused_before_its_body_is_read() {
        // Only the header may be read: the guard fails any read of the body.
        let len = (wire::MAX_CLIENT_RESPONSE_BYTES + 1) as u32;
        let mut io = Guarded {
            data: len.to_be_bytes().to_vec(),
            pos: 0,
        };
        let read = block_on(ClientCodec::new().read_response(&P, &mut io)).unwrap();
        assert_eq!(
            read,
            Err(WireError::TooLarge {
                len: wire::MAX_CLIENT_RESPONSE_BYTES + 1,
                limit: wire::MAX_CLIENT_RESPONSE_BYTES
            })
        );
        // The largest allowed length is accepted and its body read (here: the guard trips).
        let mut io = Guarded {
            data: (wire::MAX_CLIENT_RESPONSE_BYTES as u32)
                .to_be_bytes()
                .to_vec(),
            pos: 0,
        };
        assert!(block_on(ClientCodec::new().read_response(&P, &mut io)).is_err());
    }

    #[test]
    fn a_malformed_response_is_a_typed_wire_error() {
        let read = |bytes: Vec<u8>| {
            block_on(ClientCodec::new().read_response(&P, &mut Cursor::new(bytes))).unwrap()
        };
        // Not protobuf at all.
        let garbage = [0xffu8; 8];
        let mut frame = (garbage.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&garbage);
        assert!(matches!(read(frame), Err(WireError::Malformed(_))));
        // Valid protobuf, but no response kind.
        let empty = pb::ClientResponse { response: None };
        assert_eq!(
            read(wire::encode_frame(&empty)),
            Err(WireError::MissingField {
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
                inclusion: None,
                consistency: None,
            })),
        };
        assert!(matches!(
            read(wire::encode_frame(&ack)),
            Err(WireError::FieldLength { .. })
        ));
    }
}
