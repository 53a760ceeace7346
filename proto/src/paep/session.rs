//! What a session frame carries on `/herald/client/1`: the client seals one
//! [`pb::SessionRequest`] per frame and the gateway answers with one [`pb::SessionResponse`] in
//! its next frame; a close frame is a logout. Sans-IO over [`Channel`]: the caller moves the
//! frames, this decides what their plaintexts are and checks them.
//!
//! - **A plaintext is the request's (or response's) protobuf encoding**, at most
//!   [`MAX_SESSION_PLAINTEXT_BYTES`], decoded with that bound and validated. The frame's AEAD
//!   already authenticates the bytes, so nothing is signed as protobuf.
//! - **One request, one answer, in order.** Frames are strictly ordered per direction
//!   ([`Channel`]), so the n-th response answers the n-th request; a lost answer leaves the
//!   client's receive counter behind the gateway's send counter, and every later answer is
//!   refused as out of order: the client logs in again.
//! - **A frame that authenticates but does not decode** still used its counter (the channel
//!   accepted it); the gateway answers it with a sealed `MALFORMED` error so both counters stay
//!   in step ([`Inbound::Malformed`]).

use prost::Message as _;

use super::channel::{Channel, ChannelError, Received};
use crate::wire::{MAX_SESSION_PLAINTEXT_BYTES, WireError, decode_valid, pb};

/// What a frame from the client carried, as the gateway sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Inbound {
    /// A request to carry out for the session's account.
    Request(pb::SessionRequest),
    /// An authenticated plaintext that is not a valid `SessionRequest`: answer it `MALFORMED`.
    Malformed(WireError),
    /// The client closed the session (logout); the channel refuses everything from now on.
    Closed,
}

/// Client: seals `request` as the next frame.
pub fn seal_request(
    channel: &mut Channel,
    request: &pb::SessionRequest,
    now: u64,
) -> Result<pb::SessionFrame, ChannelError> {
    channel.seal(&request.encode_to_vec(), now)
}

/// Gateway: opens the client's next frame. A refused frame (replayed, reordered, forged,
/// expired, of another session) changes nothing.
pub fn open_request(
    channel: &mut Channel,
    frame: &pb::SessionFrame,
    now: u64,
) -> Result<Inbound, ChannelError> {
    Ok(match channel.open(frame, now)? {
        Received::Closed => Inbound::Closed,
        Received::Data(plaintext) => match decode_valid::<pb::SessionRequest>(&plaintext) {
            Ok(request) => Inbound::Request(request),
            Err(e) => Inbound::Malformed(e),
        },
    })
}

/// Gateway: seals `response` as the next frame to the client.
pub fn seal_response(
    channel: &mut Channel,
    response: &pb::SessionResponse,
    now: u64,
) -> Result<pb::SessionFrame, ChannelError> {
    channel.seal(&response.encode_to_vec(), now)
}

/// Client: opens the gateway's answer frame. A close frame from the gateway ends the session
/// ([`ChannelError::Closed`]); an authenticated plaintext that is not a valid response is
/// [`ChannelError::Wire`] (the gateway misbehaved).
pub fn open_response(
    channel: &mut Channel,
    frame: &pb::SessionFrame,
    now: u64,
) -> Result<pb::SessionResponse, ChannelError> {
    match channel.open(frame, now)? {
        Received::Closed => Err(ChannelError::Closed),
        Received::Data(plaintext) => Ok(decode_valid::<pb::SessionResponse>(&plaintext)?),
    }
}

// A session plaintext bound that a request of the largest upload fits.
const _: () = assert!(crate::wire::MAX_PREKEY_UPLOAD_BYTES + 16 < MAX_SESSION_PLAINTEXT_BYTES);

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::super::channel::Role;
    use super::super::login::SessionKey;
    use super::*;
    use crate::wire::pb::{session_request, session_response};

    const NOW: u64 = 1_800_000_000;

    fn pair() -> (Channel, Channel) {
        let key = SessionKey::new(Zeroizing::new(vec![9; 32]));
        (
            Channel::new(&key, Role::Client, NOW, 600).unwrap(),
            Channel::new(&key, Role::Server, NOW, 600).unwrap(),
        )
    }

    fn status_request() -> pb::SessionRequest {
        pb::SessionRequest {
            request: Some(session_request::Request::PrekeyStatus(
                pb::PrekeyStatusRequest {},
            )),
        }
    }

    #[test]
    fn a_request_and_its_answer_travel_sealed() {
        let (mut client, mut server) = pair();
        let frame = seal_request(&mut client, &status_request(), NOW).unwrap();
        assert_eq!(
            open_request(&mut server, &frame, NOW).unwrap(),
            Inbound::Request(status_request())
        );
        let status = pb::SessionResponse {
            response: Some(session_response::Response::PrekeyStatus(pb::PrekeyStatus {
                one_time_remaining: 3,
                fallback_used: false,
            })),
        };
        let answer = seal_response(&mut server, &status, NOW).unwrap();
        assert_eq!(open_response(&mut client, &answer, NOW).unwrap(), status);
        // The request frame replayed is refused, and changes nothing.
        assert!(matches!(
            open_request(&mut server, &frame, NOW),
            Err(ChannelError::Replayed { .. })
        ));
        let close = client.close().unwrap();
        assert_eq!(
            open_request(&mut server, &close, NOW).unwrap(),
            Inbound::Closed
        );
    }

    #[test]
    fn an_authenticated_plaintext_that_is_no_request_is_malformed_and_uses_its_counter() {
        let (mut client, mut server) = pair();
        let garbage = client.seal(&[0xff, 0xff, 0xff], NOW).unwrap();
        assert!(matches!(
            open_request(&mut server, &garbage, NOW).unwrap(),
            Inbound::Malformed(_)
        ));
        let next = seal_request(&mut client, &status_request(), NOW).unwrap();
        assert_eq!(next.counter, 1);
        assert!(matches!(
            open_request(&mut server, &next, NOW).unwrap(),
            Inbound::Request(_)
        ));
        // A gateway's answer that is not a response is the gateway's fault.
        let bad = server.seal(&[0xff], NOW).unwrap();
        assert!(matches!(
            open_response(&mut client, &bad, NOW),
            Err(ChannelError::Wire(_))
        ));
    }
}
