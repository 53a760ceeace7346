//! PAEP login and session over real libp2p against a real node process (DESIGN
//! §3.1): every attack on the login the issue names that needs the network and the gateway —
//! wrong password, an unknown account answered like a wrong password (the answers compared),
//! the rate limit and its back-off, each login message replayed, a stolen verifier record,
//! session frames replayed or reordered, account requests without a session, logout — and the
//! `herald` command line's login, prekeys and logout across processes. The SPAKE2+ attacks that
//! need no gateway (flipped shares and confirmations, reflection, identity points) are proto's
//! (`proto/src/paep/login/attacks.rs`).

mod common;
mod paep_support;

use std::time::Duration;

use common::{bounded, options};
use herald_light_client::{Gateway as _, MemorySessionStore, Session, SessionError};
use herald_node::accounts::AccountBook;
use herald_node::store::LogStore;
use herald_proto::paep::session::{open_response, seal_request};
use herald_proto::paep::{
    AwaitingChallenge, Ciphersuite as _, LoginContext, ProverSecrets, Ristretto255Blake3,
};
use herald_proto::wire::pb::{self, ClientErrorKind};
use herald_testnet::Testnet;
use paep_support::{
    PASSWORD, counter, domain, now, raw_login, refusal, register, secrets, status_request,
};
use prost::Message as _;
use tempfile::TempDir;

const BOUND: Duration = Duration::from_secs(120);
const BOB: &str = "bob@d0.test";

async fn one_domain(dir: &TempDir) -> Testnet {
    Testnet::spawn(1, options(dir.path())).await.unwrap()
}

async fn login(
    net: &Testnet,
    password: &[u8],
) -> Result<Session<MemorySessionStore>, SessionError> {
    let client = net.client(0).await.unwrap();
    Session::login(&client, BOB, password, MemorySessionStore::new()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_wrong_password_is_refused_and_the_right_one_logs_in() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = one_domain(&dir).await;
        register(&net, 0, BOB, 1).await;
        let wrong = login(&net, b"correct horse battery stapler").await;
        assert!(
            matches!(wrong, Err(SessionError::WrongPassword)),
            "{wrong:?}"
        );
        let mut session = login(&net, PASSWORD).await.unwrap();
        assert_eq!(session.account(), BOB);
        let client = net.client(0).await.unwrap();
        let status = session.prekey_status(&client).await.unwrap();
        assert_eq!(status.one_time_remaining, 0);
        // The attempt the wrong password left was never confirmed; the node counted the login.
        assert_eq!(counter(&net, 0, "herald_logins", "accepted").await, 1.0);
        assert_eq!(counter(&net, 0, "herald_logins", "started").await, 2.0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_unknown_user_is_indistinguishable_from_a_wrong_password_over_the_wire() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = one_domain(&dir).await;
        register(&net, 0, BOB, 1).await;
        const GHOST: &str = "ghost@d0.test";
        let client = net.client(0).await.unwrap();
        // Parameters: the same answer, byte for byte.
        let real = client.password_params(BOB).await.unwrap();
        let ghost = client.password_params(GHOST).await.unwrap();
        assert_eq!(real.encode_to_vec(), ghost.encode_to_vec());

        // Message 2 for a wrong password and for an unknown account: the same shape, valid
        // group elements both, and the client's check fails the same way for both.
        let mut answers = Vec::new();
        for account in [BOB, GHOST] {
            let (state, share) = AwaitingChallenge::start(
                LoginContext::herald(account, &domain(0)),
                secrets(account, b"a wrong guess", 0),
                now(),
                &mut rand_core::UnwrapErr(getrandom::SysRng),
            );
            let challenge = client.login_share(share).await.unwrap();
            assert!(Ristretto255Blake3::decode_element(&challenge.share_v).is_some());
            let encoded = challenge.encode_to_vec();
            let error = state.handle(&challenge, now()).unwrap_err();
            answers.push((encoded.len(), error));
        }
        assert_eq!(answers[0], answers[1], "{answers:?}");
        // A confirmation that does not verify: the same refusal, word for word.
        let mut refusals = Vec::new();
        for account in [BOB, GHOST] {
            let err = client
                .login_finish(
                    account,
                    pb::LoginConfirm {
                        confirm_p: vec![7; 32],
                    },
                )
                .await
                .unwrap_err();
            refusals.push(err.to_string());
        }
        assert_eq!(refusals[0], refusals[1]);
        assert!(refusals[0].contains("UNAUTHORIZED"), "{}", refusals[0]);

        // And the light client's verdict is the same for both.
        let ghost_login = Session::login(&client, GHOST, PASSWORD, MemorySessionStore::new()).await;
        assert!(
            matches!(ghost_login, Err(SessionError::WrongPassword)),
            "{ghost_login:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_login_rate_limit_per_account_and_per_peer_with_back_off() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = one_domain(&dir).await;
        register(&net, 0, BOB, 1).await;
        let share = |account: &str| {
            AwaitingChallenge::start(
                LoginContext::herald(account, &domain(0)),
                secrets(account, b"guess", 0),
                now(),
                &mut rand_core::UnwrapErr(getrandom::SysRng),
            )
            .1
        };
        // Per account: five guesses from five peers, then the sixth peer is refused.
        for _ in 0..5 {
            let fresh = net.client(0).await.unwrap();
            fresh.login_share(share(BOB)).await.unwrap();
        }
        let sixth = net.client(0).await.unwrap();
        let err = sixth.login_share(share(BOB)).await.unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::RateLimited), "{err}");
        let herald_light_client::ClientError::Refused(r) = &err else {
            unreachable!()
        };
        let wait = r.retry_after.unwrap();
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        // Even the right password waits: the back-off is per address.
        let blocked = login(&net, PASSWORD).await.unwrap_err();
        assert!(matches!(
            &blocked,
            SessionError::Gateway(e) if refusal(e) == Some(ClientErrorKind::RateLimited)
        ));

        // Per peer: one peer cycling over four other addresses (never five guesses for one)
        // is refused after ten unconfirmed attempts, for any address; another peer is not.
        let greedy = net.client(0).await.unwrap();
        let accounts = ["a@d0.test", "b@d0.test", "c@d0.test", "e@d0.test"];
        for n in 0..10 {
            greedy.login_share(share(accounts[n % 4])).await.unwrap();
        }
        let err = greedy.login_share(share("f@d0.test")).await.unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::RateLimited), "{err}");
        let other = net.client(0).await.unwrap();
        other.login_share(share("f@d0.test")).await.unwrap();
        assert!(counter(&net, 0, "herald_logins", "rate_limited").await >= 3.0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_replay_of_each_login_message_is_refused() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = one_domain(&dir).await;
        register(&net, 0, BOB, 1).await;
        let honest = net.client(0).await.unwrap();
        let (_, seen) = raw_login(&honest, BOB, secrets(BOB, PASSWORD, 0), 0)
            .await
            .unwrap();
        // Message 3 again, from the peer that logged in: no attempt is in progress.
        let err = honest
            .login_finish(BOB, seen.confirm.clone())
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");
        // Message 1 replayed by another peer: answered with a fresh challenge (new y), so the
        // recorded message 2 and message 3 are worth nothing.
        let replayer = net.client(0).await.unwrap();
        let fresh = replayer.login_share(seen.share.clone()).await.unwrap();
        assert_ne!(fresh.share_v, seen.challenge.share_v);
        assert_ne!(fresh.confirm_v, seen.challenge.confirm_v);
        let err = replayer
            .login_finish(BOB, seen.confirm.clone())
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");
        // Message 2 is the gateway's own; sent to it as a confirmation (its MAC field), it is
        // refused too.
        let again = replayer.login_share(seen.share.clone()).await.unwrap();
        let err = replayer
            .login_finish(
                BOB,
                pb::LoginConfirm {
                    confirm_p: again.confirm_v.clone(),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");
        assert!(counter(&net, 0, "herald_logins", "failed").await >= 3.0);
        let log = std::fs::read_to_string(net.node(0).log_path()).unwrap();
        assert!(log.contains("login failed"), "{log}");
        assert!(!log.contains(&hex::encode(&seen.confirm.confirm_p)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_stolen_verifier_record_cannot_complete_a_login() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let mut net = one_domain(&dir).await;
        register(&net, 0, BOB, 1).await;
        // Steal the stored record (w0, L) from the node's own database.
        net.stop(0).await.unwrap();
        let (w0, l) = {
            let store = LogStore::open(net.node(0).config().store_dir()).unwrap();
            let book = AccountBook::open(store.db(), "d0.test").unwrap();
            let record = book.login_record(BOB).unwrap().expect("bob has a password");
            let (verifier, _) = record.password.verifier().unwrap();
            verifier.encode()
        };
        assert_eq!((w0.len(), l.len()), (32, 32));
        net.restart(0).await.unwrap();
        let client = net.client(0).await.unwrap();
        // With w0 and any guess for w1 the prover cannot check the gateway's confirmation...
        let stolen_w0 = Ristretto255Blake3::decode_scalar(&w0).unwrap();
        let guess_w1 = Ristretto255Blake3::scalar_from_wide(&[7; 64]);
        let (state, share) = AwaitingChallenge::start(
            LoginContext::herald(BOB, &domain(0)),
            ProverSecrets::<Ristretto255Blake3>::from_scalars(stolen_w0, guess_w1),
            now(),
            &mut rand_core::UnwrapErr(getrandom::SysRng),
        );
        let challenge = client.login_share(share).await.unwrap();
        assert!(state.handle(&challenge, now()).is_err());
        // ...and any confirmation it sends instead is refused: it would need V = w1·Y.
        for forged in [vec![0; 32], challenge.confirm_v.clone(), l.clone()] {
            let again = client
                .login_share(
                    AwaitingChallenge::start(
                        LoginContext::herald(BOB, &domain(0)),
                        ProverSecrets::<Ristretto255Blake3>::from_scalars(
                            Ristretto255Blake3::decode_scalar(&w0).unwrap(),
                            guess_w1,
                        ),
                        now(),
                        &mut rand_core::UnwrapErr(getrandom::SysRng),
                    )
                    .1,
                )
                .await;
            assert!(again.is_ok());
            let err = client
                .login_finish(BOB, pb::LoginConfirm { confirm_p: forged })
                .await
                .unwrap_err();
            assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");
        }
        assert_eq!(counter(&net, 0, "herald_logins", "accepted").await, 0.0);
        // The password still logs in (the record was read, not changed).
        let mut session = Session::login(&client, BOB, PASSWORD, MemorySessionStore::new())
            .await
            .unwrap();
        session.prekey_status(&client).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_session_frames_replayed_reordered_or_forged_are_refused_by_the_node() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = one_domain(&dir).await;
        register(&net, 0, BOB, 1).await;
        let client = net.client(0).await.unwrap();
        let (mut channel, _) = raw_login(&client, BOB, secrets(BOB, PASSWORD, 0), 0)
            .await
            .unwrap();
        let f0 = seal_request(&mut channel, &status_request(), now()).unwrap();
        let f1 = seal_request(&mut channel, &status_request(), now()).unwrap();
        // Out of order: refused, nothing changes.
        let err = client.session_frame(f1.clone()).await.unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");
        // Forged (a bit flipped): refused.
        let mut forged = f0.clone();
        forged.ciphertext[0] ^= 1;
        let err = client.session_frame(forged).await.unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");
        // In order: answered, and the answer opens.
        let a0 = client.session_frame(f0.clone()).await.unwrap();
        assert!(open_response(&mut channel, &a0, now()).is_ok());
        // Replayed: refused, from this peer or any other.
        let err = client.session_frame(f0.clone()).await.unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");
        let other = net.client(0).await.unwrap();
        let err = other.session_frame(f0).await.unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");
        // The next frame is still taken: the refusals changed nothing.
        let a1 = client.session_frame(f1).await.unwrap();
        assert!(open_response(&mut channel, &a1, now()).is_ok());
        for kind in ["out_of_order", "forged", "replayed"] {
            assert!(
                counter(&net, 0, "herald_session_frames_refused", kind).await >= 1.0,
                "{kind}"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_account_requests_without_a_session_are_refused() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = one_domain(&dir).await;
        register(&net, 0, BOB, 1).await;
        let client = net.client(0).await.unwrap();
        // A frame of a session that never existed.
        let made_up = pb::SessionFrame {
            session_id: vec![9; 16],
            counter: 0,
            close: false,
            ciphertext: vec![0; 64],
        };
        let err = client.session_frame(made_up).await.unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");
        // A client whose confirmation the gateway never took holds a key the gateway never
        // had: its frames are refused as well.
        let (state, share) = AwaitingChallenge::start(
            LoginContext::herald(BOB, &domain(0)),
            secrets(BOB, PASSWORD, 0),
            now(),
            &mut rand_core::UnwrapErr(getrandom::SysRng),
        );
        let challenge = client.login_share(share).await.unwrap();
        let (unconfirmed, _) = state.handle(&challenge, now()).unwrap();
        let mut channel = unconfirmed.into_channel(now(), 600).unwrap();
        let frame = seal_request(&mut channel, &status_request(), now()).unwrap();
        let err = client.session_frame(frame).await.unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");
        assert!(counter(&net, 0, "herald_session_frames_refused", "unknown_session").await >= 2.0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_and_a_password_change_takes_effect() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = one_domain(&dir).await;
        register(&net, 0, BOB, 1).await;
        let client = net.client(0).await.unwrap();
        // Logout with the library: the store is cleared and the node forgets the session.
        let (channel, _) = raw_login(&client, BOB, secrets(BOB, PASSWORD, 0), 0)
            .await
            .unwrap();
        let copy = channel.to_record().unwrap();
        let close = channel.close().unwrap();
        client.session_close(close).await.unwrap();
        let mut stale = herald_proto::paep::Channel::resume(&copy, now()).unwrap();
        let frame = seal_request(&mut stale, &status_request(), now()).unwrap();
        let err = client.session_frame(frame).await.unwrap_err();
        assert_eq!(refusal(&err), Some(ClientErrorKind::Unauthorized), "{err}");

        let mut session = Session::login(&client, BOB, PASSWORD, MemorySessionStore::new())
            .await
            .unwrap();
        session
            .change_password(&client, b"a brand new password 2026")
            .await
            .unwrap();
        let store = session.logout(&client).await.unwrap();
        assert!(matches!(
            Session::resume(store),
            Err(SessionError::NoSession)
        ));
        let old = Session::login(&client, BOB, PASSWORD, MemorySessionStore::new()).await;
        assert!(matches!(old, Err(SessionError::WrongPassword)), "{old:?}");
        Session::login(
            &client,
            BOB,
            b"a brand new password 2026",
            MemorySessionStore::new(),
        )
        .await
        .unwrap();
    })
    .await;
}

/// A session acts for its account only while the account is active with the key it logged in
/// with. The gateway reads the account's record again only after some account changed
/// (`AccountBook::changes`): another account's password change leaves the session working; its
/// own account disabled ends it at the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_session_ends_when_its_account_is_disabled_not_when_another_changes() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = one_domain(&dir).await;
        const CAROL: &str = "carol@d0.test";
        register(&net, 0, BOB, 1).await;
        register(&net, 0, CAROL, 2).await;
        let client = net.client(0).await.unwrap();
        let mut bob = Session::login(&client, BOB, PASSWORD, MemorySessionStore::new())
            .await
            .unwrap();
        let answered = |r: &pb::SessionResponse| {
            matches!(
                r.response,
                Some(pb::session_response::Response::PrekeyStatus(_))
            )
        };
        let first = bob.request(&client, &status_request()).await.unwrap();
        assert!(answered(&first), "{first:?}");
        let mut carol = Session::login(&client, CAROL, PASSWORD, MemorySessionStore::new())
            .await
            .unwrap();
        carol
            .change_password(&client, b"carol's new password 2026")
            .await
            .unwrap();
        let after_carol = bob.request(&client, &status_request()).await.unwrap();
        assert!(answered(&after_carol), "{after_carol:?}");
        net.node(0).disable_account(BOB).await.unwrap();
        let refused = bob.request(&client, &status_request()).await.unwrap();
        assert!(
            matches!(
                refused.response,
                Some(pb::session_response::Response::Error(_))
            ),
            "{refused:?}"
        );
        // The session is over: its next frame is refused outside any session.
        assert!(bob.request(&client, &status_request()).await.is_err());
    })
    .await;
}

/// The `herald` command line: register with a password, log in, top prekeys up and read their
/// status in other processes (the session file carries the session), log out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_logs_in_tops_up_prekeys_and_logs_out_across_processes() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = one_domain(&dir).await;
        let code = net.node(0).enrol(BOB, None).await.unwrap().enrolment_code;
        let home = dir.path().join("bob");
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, b"correct horse battery staple\n").unwrap();
        let gateway = net.node(0).multiaddr().to_string();
        let log_key = net.node(0).log_key().to_string();
        let pw = password_file.to_str().unwrap().to_owned();
        let herald = |args: Vec<&str>| {
            let home = home.clone();
            let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
            async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let passphrase = "a long passphrase for bob";
                common::herald(&home, passphrase, &[], &args, Duration::from_secs(60)).await
            }
        };
        let ok = common::succeeded;
        ok(&herald(vec![
            "account",
            "init",
            "--account",
            BOB,
            "--kdf-memory-kib",
            "19456",
            "--kdf-iterations",
            "2",
        ])
        .await);
        ok(&herald(vec![
            "account",
            "register",
            "--gateway",
            &gateway,
            "--log-key",
            &log_key,
            "--code",
            &code,
            "--password-file",
            &pw,
        ])
        .await);
        let v = ok(&herald(vec![
            "login",
            "--gateway",
            &gateway,
            "--password-file",
            &pw,
            "--json",
        ])
        .await);
        assert_eq!(v["account"], BOB);
        let session = home.join("session");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&session).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let v = ok(&herald(vec![
            "prekeys",
            "top-up",
            "--gateway",
            &gateway,
            "--target",
            "5",
            "--json",
        ])
        .await);
        assert_eq!(v["one_time_remaining"], 5);
        let v = ok(&herald(vec!["prekeys", "status", "--gateway", &gateway, "--json"]).await);
        assert_eq!(v["one_time_remaining"], 5);
        assert_eq!(v["secrets_held"]["one_time"], 5);
        ok(&herald(vec!["logout", "--gateway", &gateway]).await);
        assert!(!session.exists());
        let after = herald(vec!["prekeys", "status", "--gateway", &gateway]).await;
        assert_eq!(after.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&after.stderr).contains("not logged in"));
        // A password is never an argument.
        let refused = herald(vec!["login", "--gateway", &gateway, "--password", "x"]).await;
        assert_eq!(refused.status.code(), Some(1));
    })
    .await;
}
