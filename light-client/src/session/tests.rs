//! The client's login and session against proto's own verifier machines, in memory (the
//! network tests against a real node are in `testnet/tests/login.rs`).

use std::sync::Mutex;

use herald_proto::paep::session::{Inbound, open_request, seal_response};
use herald_proto::paep::{
    Argon2Params, AwaitingConfirm, Channel, FakeRecords, LoginContext, ProverSecrets,
    Ristretto255Blake3, ServerStart, VerifierRecord,
};
use herald_proto::wire::pb::{self, client_request, client_response, session_response};

use super::*;

const BOB: &str = "bob@beta.test";
const PASSWORD: &[u8] = b"correct horse battery staple";

fn params() -> Argon2Params {
    Argon2Params::new(64, 1, 1).unwrap()
}

/// A gateway of beta.test with one account, running proto's verifier.
struct Verifier {
    record: VerifierRecord<Ristretto255Blake3>,
    fake: FakeRecords,
    params: Argon2Params,
    attempt: Mutex<Option<AwaitingConfirm>>,
    channel: Mutex<Option<Channel>>,
}

impl Verifier {
    fn new() -> Self {
        let secrets =
            ProverSecrets::<Ristretto255Blake3>::derive(PASSWORD, BOB, "beta.test", params())
                .unwrap();
        Verifier {
            record: secrets.record(),
            fake: FakeRecords::new([3; 32], params()),
            params: params(),
            attempt: Mutex::new(None),
            channel: Mutex::new(None),
        }
    }

    fn answer(&self, request: pb::ClientRequest) -> client_response::Response {
        use client_response::Response;
        let refuse = |m: &str| {
            pb::ClientResponse::refusal(pb::ClientErrorKind::Unauthorized, m)
                .response
                .unwrap()
        };
        match request.request.unwrap() {
            client_request::Request::PasswordParams(_) => {
                Response::PasswordParams(pb::PasswordParams {
                    argon2: Some(self.params.to_pb()),
                })
            }
            client_request::Request::LoginShare(share) => {
                let start = if share.account == BOB {
                    ServerStart::new(LoginContext::herald(BOB, "beta.test"), self.record.clone())
                } else {
                    self.fake.server_start(&share.account, "beta.test")
                };
                let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
                match start.handle(&share, NOW, &mut rng) {
                    Ok((attempt, challenge)) => {
                        *self.attempt.lock().unwrap() = Some(attempt);
                        Response::LoginChallenge(challenge)
                    }
                    Err(_) => refuse("bad share"),
                }
            }
            client_request::Request::LoginFinish(finish) => {
                let Some(attempt) = self.attempt.lock().unwrap().take() else {
                    return refuse("no attempt");
                };
                match attempt.handle(&finish.confirm.unwrap(), NOW) {
                    Ok(done) => {
                        let channel = done.into_channel(NOW, 600).unwrap();
                        let expires_at = channel.expires_at();
                        *self.channel.lock().unwrap() = Some(channel);
                        Response::LoginAccepted(pb::LoginAccepted { expires_at })
                    }
                    Err(_) => refuse("login failed"),
                }
            }
            client_request::Request::Session(frame) => {
                let mut slot = self.channel.lock().unwrap();
                let Some(channel) = slot.as_mut() else {
                    return refuse("no session");
                };
                match open_request(channel, &frame, NOW) {
                    Ok(Inbound::Request(_)) => {
                        let status = pb::SessionResponse {
                            response: Some(session_response::Response::PrekeyStatus(
                                pb::PrekeyStatus {
                                    one_time_remaining: 7,
                                    fallback_used: false,
                                },
                            )),
                        };
                        Response::Session(seal_response(channel, &status, NOW).unwrap())
                    }
                    Ok(Inbound::Closed) => {
                        *slot = None;
                        Response::SessionClosed(pb::SessionClosed {})
                    }
                    _ => refuse("frame refused"),
                }
            }
            _ => refuse("not served"),
        }
    }
}

const NOW: u64 = 1_800_000_000;

impl Gateway for Verifier {
    async fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        Ok(pb::ClientResponse {
            response: Some(self.answer(request)),
        })
    }
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(crate::clock::FixedClock(NOW))
}

fn block_on<F: core::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_login_opens_a_session_that_is_saved_resumed_and_logged_out() {
    let gateway = Verifier::new();
    let mut session = block_on(Session::login_with_clock(
        &gateway,
        BOB,
        PASSWORD,
        MemorySessionStore::new(),
        clock(),
    ))
    .unwrap();
    assert_eq!(session.account(), BOB);
    assert_eq!(session.expires_at(), NOW + 600);
    let status = block_on(session.prekey_status(&gateway)).unwrap();
    assert_eq!(status.one_time_remaining, 7);
    // The store holds the session as it is after the answer: resumed, it goes on.
    let mut resumed = Session::resume_with_clock(session.into_store(), clock()).unwrap();
    assert_eq!(
        block_on(resumed.prekey_status(&gateway))
            .unwrap()
            .one_time_remaining,
        7
    );
    let store = block_on(resumed.logout(&gateway)).unwrap();
    assert!(matches!(
        Session::resume_with_clock(store, clock()),
        Err(SessionError::NoSession)
    ));
    // The gateway ended the session: a frame of it is refused, and that needs a login.
    let mut again = block_on(Session::login_with_clock(
        &gateway,
        BOB,
        PASSWORD,
        MemorySessionStore::new(),
        clock(),
    ))
    .unwrap();
    *gateway.channel.lock().unwrap() = None;
    let err = block_on(again.prekey_status(&gateway)).unwrap_err();
    assert!(err.needs_login(), "{err:?}");
}

#[test]
fn attack_a_wrong_password_and_an_unknown_account_fail_alike() {
    let gateway = Verifier::new();
    let wrong = block_on(Session::login_with_clock(
        &gateway,
        BOB,
        b"not the password",
        MemorySessionStore::new(),
        clock(),
    ));
    assert!(
        matches!(wrong, Err(SessionError::WrongPassword)),
        "{wrong:?}"
    );
    let unknown = block_on(Session::login_with_clock(
        &gateway,
        "ghost@beta.test",
        PASSWORD,
        MemorySessionStore::new(),
        clock(),
    ));
    assert!(
        matches!(unknown, Err(SessionError::WrongPassword)),
        "{unknown:?}"
    );
    // Neither got as far as sending confirmP: the gateway's attempt is still waiting for it.
    assert!(gateway.attempt.lock().unwrap().is_some());
}

#[test]
fn attack_a_gateway_cannot_make_the_client_spend_unbounded_memory() {
    let mut gateway = Verifier::new();
    gateway.params = Argon2Params::new(MAX_CLIENT_ARGON2_MEMORY_KIB + 1, 1, 1).unwrap();
    let err = block_on(Session::login_with_clock(
        &gateway,
        BOB,
        PASSWORD,
        MemorySessionStore::new(),
        clock(),
    ))
    .unwrap_err();
    assert!(matches!(err, SessionError::CostTooHigh { .. }), "{err:?}");
}

#[test]
fn an_address_needs_a_domain() {
    assert_eq!(domain_of("bob@beta.test").unwrap(), "beta.test");
    for bad in ["bob", "@beta.test", "bob@"] {
        assert!(matches!(domain_of(bad), Err(SessionError::BadAccount(_))));
    }
}

#[test]
fn only_the_client_confirmation_failure_is_a_wrong_password() {
    assert!(matches!(
        SessionError::from(LoginError::BadConfirmation { what: "confirmV" }),
        SessionError::WrongPassword
    ));
    assert!(matches!(
        SessionError::from(LoginError::IdentityResult),
        SessionError::Login(_)
    ));
    assert!(SessionError::NoSession.needs_login());
    assert!(SessionError::Channel(ChannelError::Closed).needs_login());
    assert!(!SessionError::WrongPassword.needs_login());
}
