//! PAEP on `/herald/client/1` (DESIGN §3.1, §3.2): the bounds of the login and
//! session messages of `client.proto`, the requests a client sends, and the checks that an
//! answer is the one asked for — for the login (`password_params`, `login_share`,
//! `login_finish`), the session frames, the public prekey bundle, and the `SessionResponse`s a
//! session frame carries.
//!
//! | message | limit | reason |
//! |---|---|---|
//! | `LoginFinish` | inside a `ClientRequest` | one account address and one confirmation |
//! | `SessionRequest`, `SessionResponse` | [`MAX_SESSION_PLAINTEXT_BYTES`] | the plaintext of one session frame |

use super::answer::{AnswerKind, expect, expect_kind, mismatch};
use super::{AnswerError, MAX_ERROR_MESSAGE_BYTES};
use crate::wire::pb::{self, client_request, client_response, session_request, session_response};
use crate::wire::validate::{known_enum, sized};
use crate::wire::{MAX_ACCOUNT_BYTES, MAX_SESSION_PLAINTEXT_BYTES, Validate, WireError};

impl pb::LoginFinish {
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
        sized(
            "LoginFinish.account",
            self.account.len(),
            1,
            MAX_ACCOUNT_BYTES,
        )?;
        self.confirm
            .as_ref()
            .ok_or(WireError::MissingField {
                field: "LoginFinish.confirm",
            })?
            .validate()
    }
}

pub(super) fn error_fields(e: &pb::ClientError) -> Result<(), WireError> {
    known_enum::<pb::ClientErrorKind>("ClientError.kind", e.kind)?;
    sized(
        "ClientError.message",
        e.message.len(),
        0,
        MAX_ERROR_MESSAGE_BYTES,
    )
}

impl Validate for pb::SessionRequest {
    const MAX_ENCODED_LEN: usize = MAX_SESSION_PLAINTEXT_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        match &self.request {
            None => Err(WireError::MissingField {
                field: "SessionRequest.request",
            }),
            Some(session_request::Request::PrekeyUpload(u)) => u.validate(),
            Some(session_request::Request::PrekeyStatus(_)) => Ok(()),
            Some(session_request::Request::PasswordChange(r)) => r.validate(),
            Some(other) => super::mail::validate_session_request(other),
        }
    }
}

impl Validate for pb::SessionResponse {
    const MAX_ENCODED_LEN: usize = MAX_SESSION_PLAINTEXT_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        match &self.response {
            None => Err(WireError::MissingField {
                field: "SessionResponse.response",
            }),
            Some(session_response::Response::PrekeyStatus(s)) => s.validate(),
            Some(session_response::Response::PasswordChanged(_)) => Ok(()),
            Some(session_response::Response::Error(e)) => error_fields(e),
            Some(other) => super::mail::validate_session_response(other),
        }
    }
}

/// The gateway's refusals inside a session, as it seals them.
impl pb::SessionResponse {
    /// The answer carrying `error`, its message cut to the bound (as
    /// [`pb::ClientResponse::error`] does), so that it always passes validation.
    pub fn error(error: pb::ClientError) -> Self {
        let bounded = match pb::ClientResponse::error(error).response {
            Some(client_response::Response::Error(e)) => e,
            // `ClientResponse::error` always makes an error answer.
            _ => pb::ClientError::default(),
        };
        pb::SessionResponse {
            response: Some(session_response::Response::Error(bounded)),
        }
    }
}

/// The PAEP requests of `/herald/client/1`.
impl pb::ClientRequest {
    /// The Argon2id parameters of `account`'s password.
    pub fn password_params(account: &str) -> Self {
        Self::of(client_request::Request::PasswordParams(
            pb::PasswordParamsRequest {
                account: account.to_owned(),
            },
        ))
    }

    /// Login message 1.
    pub fn login_share(share: pb::LoginShare) -> Self {
        Self::of(client_request::Request::LoginShare(share))
    }

    /// Login message 3 for the attempt of `account`.
    pub fn login_finish(account: &str, confirm: pb::LoginConfirm) -> Self {
        Self::of(client_request::Request::LoginFinish(pb::LoginFinish {
            account: account.to_owned(),
            confirm: Some(confirm),
        }))
    }

    /// A session frame (a sealed request, or a close frame).
    pub fn session(frame: pb::SessionFrame) -> Self {
        Self::of(client_request::Request::Session(frame))
    }

    /// One prekey of `account`.
    pub fn prekey_bundle(account: &str) -> Self {
        Self::of(client_request::Request::PrekeyBundle(
            pb::PrekeyBundleRequest {
                account: account.to_owned(),
            },
        ))
    }
}

/// The answer to [`pb::ClientRequest::password_params`].
pub fn expect_password_params(
    response: pb::ClientResponse,
) -> Result<pb::PasswordParams, AnswerError> {
    expect(response, "password_params", |r| match r {
        client_response::Response::PasswordParams(p) => Ok(p),
        other => Err(Box::new(other)),
    })
}

/// The answer to [`pb::ClientRequest::login_share`]: login message 2.
pub fn expect_login_challenge(
    response: pb::ClientResponse,
) -> Result<pb::LoginChallenge, AnswerError> {
    expect(response, "login_share", |r| match r {
        client_response::Response::LoginChallenge(c) => Ok(c),
        other => Err(Box::new(other)),
    })
}

/// The answer to [`pb::ClientRequest::login_finish`].
pub fn expect_login_accepted(
    response: pb::ClientResponse,
) -> Result<pb::LoginAccepted, AnswerError> {
    expect(response, "login_finish", |r| match r {
        client_response::Response::LoginAccepted(a) => Ok(a),
        other => Err(Box::new(other)),
    })
}

/// The answer to a data [`pb::ClientRequest::session`] frame of session `session_id`: a frame
/// of the same session (whether it opens is the channel's check).
pub fn expect_session_frame(
    response: pb::ClientResponse,
    session_id: &[u8],
) -> Result<pb::SessionFrame, AnswerError> {
    let frame = expect(response, "session", |r| match r {
        client_response::Response::Session(f) => Ok(f),
        other => Err(Box::new(other)),
    })?;
    if frame.session_id != session_id {
        return Err(mismatch(
            "session of the answer frame",
            hex(session_id),
            hex(&frame.session_id),
        ));
    }
    Ok(frame)
}

/// The answer to a close [`pb::ClientRequest::session`] frame (logout).
pub fn expect_session_closed(response: pb::ClientResponse) -> Result<(), AnswerError> {
    expect(response, "logout", |r| match r {
        client_response::Response::SessionClosed(_) => Ok(()),
        other => Err(Box::new(other)),
    })
}

/// The answer to [`pb::ClientRequest::prekey_bundle`] (unverified: `paep::verify_prekey_bundle`
/// checks it).
pub fn expect_prekey_bundle(response: pb::ClientResponse) -> Result<pb::PrekeyBundle, AnswerError> {
    expect(response, "prekey_bundle", |r| match r {
        client_response::Response::PrekeyBundle(b) => Ok(*b),
        other => Err(Box::new(other)),
    })
}

/// A session response kind's name, for messages.
pub fn session_response_kind(response: &session_response::Response) -> &'static str {
    match response {
        session_response::Response::PrekeyStatus(_) => "a prekey status",
        session_response::Response::PasswordChanged(_) => "a password change",
        session_response::Response::PrekeyBundle(_) => "a prekey bundle",
        session_response::Response::SenderBinding(_) => "a binding answer",
        session_response::Response::MailAccepted(_) => "a mail acceptance",
        session_response::Response::Inbox(_) => "an inbox",
        session_response::Response::Mail(_) => "a mail",
        session_response::Response::MailAcknowledged(_) => "a mail acknowledgement",
        session_response::Response::Mails(_) => "mails",
        session_response::Response::MailsAcknowledged(_) => "mail acknowledgements",
        session_response::Response::SenderBindings(_) => "sender bindings",
        session_response::Response::NextMails(_) => "a reader's cycle",
        session_response::Response::Outbox(_) => "an outbox",
        session_response::Response::UploadProgress(_) => "an upload progress",
        session_response::Response::MailPart(_) => "a mail part",
        session_response::Response::Error(_) => "an error",
    }
}

impl AnswerKind for session_response::Response {
    fn refusal(self) -> Result<pb::ClientError, Self> {
        match self {
            session_response::Response::Error(e) => Ok(e),
            other => Err(other),
        }
    }

    fn name(&self) -> &'static str {
        session_response_kind(self)
    }
}

pub(super) fn expect_in_session<T>(
    response: pb::SessionResponse,
    request: &'static str,
    pick: impl FnOnce(session_response::Response) -> Result<T, Box<session_response::Response>>,
) -> Result<T, AnswerError> {
    expect_kind(response.response, request, pick)
}

/// The answer to a `prekey_upload` or `prekey_status` session request.
pub fn expect_prekey_status(
    response: pb::SessionResponse,
) -> Result<pb::PrekeyStatus, AnswerError> {
    expect_in_session(response, "prekey_status", |r| match r {
        session_response::Response::PrekeyStatus(s) => Ok(s),
        other => Err(Box::new(other)),
    })
}

/// The answer to a `password_change` session request.
pub fn expect_password_changed(response: pb::SessionResponse) -> Result<(), AnswerError> {
    expect_in_session(response, "password_change", |r| match r {
        session_response::Response::PasswordChanged(_) => Ok(()),
        other => Err(Box::new(other)),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::wire::decode_valid;

    fn frame(session_id: Vec<u8>) -> pb::SessionFrame {
        pb::SessionFrame {
            session_id,
            counter: 0,
            close: false,
            ciphertext: vec![0; 16],
        }
    }

    #[test]
    fn each_paep_request_is_valid_and_bounded() {
        let good = [
            pb::ClientRequest::password_params("bob@beta.test"),
            pb::ClientRequest::login_share(pb::LoginShare {
                account: "bob@beta.test".into(),
                share_p: vec![1; 32],
            }),
            pb::ClientRequest::login_finish(
                "bob@beta.test",
                pb::LoginConfirm {
                    confirm_p: vec![2; 32],
                },
            ),
            pb::ClientRequest::session(frame(vec![3; 16])),
            pb::ClientRequest::prekey_bundle("bob@beta.test"),
        ];
        for request in good {
            let bytes = request.encode_to_vec();
            assert_eq!(decode_valid::<pb::ClientRequest>(&bytes), Ok(request));
        }
        let bad = [
            pb::ClientRequest::password_params(""),
            pb::ClientRequest::login_share(pb::LoginShare {
                account: "bob@beta.test".into(),
                share_p: vec![1; 31],
            }),
            pb::ClientRequest::of(client_request::Request::LoginFinish(pb::LoginFinish {
                account: "bob@beta.test".into(),
                confirm: None,
            })),
            pb::ClientRequest::session(frame(vec![3; 15])),
            pb::ClientRequest::prekey_bundle(&"b".repeat(MAX_ACCOUNT_BYTES + 1)),
        ];
        for request in bad {
            assert!(request.validate().is_err(), "{request:?}");
        }
    }

    #[test]
    fn session_requests_and_responses_are_validated() {
        assert!(pb::SessionRequest { request: None }.validate().is_err());
        let upload = pb::SessionRequest {
            request: Some(session_request::Request::PrekeyUpload(pb::PrekeyUpload {
                one_time: vec![pb::SignedPrekey {
                    kind: pb::PrekeyKind::OneTime as i32,
                    id: 0,
                    public_key: vec![1; 32],
                    signature: vec![2; 64],
                }],
                fallback: None,
            })),
        };
        assert!(upload.validate().is_err(), "one-time prekey 0");
        let error = pb::SessionResponse::error(pb::ClientError {
            kind: pb::ClientErrorKind::Unauthorized as i32,
            message: "é".repeat(MAX_ERROR_MESSAGE_BYTES),
            retry_after_ms: 0,
            tree_size: 0,
        });
        assert!(error.validate().is_ok());
        let unknown = pb::SessionResponse {
            response: Some(session_response::Response::Error(pb::ClientError {
                kind: 99,
                ..Default::default()
            })),
        };
        assert!(unknown.validate().is_err());
    }

    #[test]
    fn answers_are_matched_to_their_requests() {
        let answer = |r| pb::ClientResponse { response: Some(r) };
        let f = frame(vec![7; 16]);
        assert_eq!(
            expect_session_frame(
                answer(client_response::Response::Session(f.clone())),
                &[7; 16]
            ),
            Ok(f.clone())
        );
        assert!(matches!(
            expect_session_frame(answer(client_response::Response::Session(f)), &[8; 16]),
            Err(AnswerError::Mismatch {
                what: "session of the answer frame",
                ..
            })
        ));
        assert!(matches!(
            expect_login_accepted(answer(client_response::Response::LoginChallenge(
                pb::LoginChallenge::default()
            ))),
            Err(AnswerError::WrongKind {
                request: "login_finish",
                response: "a login challenge"
            })
        ));
        let refused = pb::SessionResponse::error(pb::ClientError {
            kind: pb::ClientErrorKind::Duplicate as i32,
            ..Default::default()
        });
        assert!(matches!(
            expect_prekey_status(refused),
            Err(AnswerError::Refused(_))
        ));
        let changed = pb::SessionResponse {
            response: Some(session_response::Response::PasswordChanged(
                pb::PasswordChanged {},
            )),
        };
        assert!(matches!(
            expect_prekey_status(changed.clone()),
            Err(AnswerError::WrongKind { .. })
        ));
        assert_eq!(expect_password_changed(changed), Ok(()));
    }
}
