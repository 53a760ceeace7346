//! Every attack on the login that DESIGN §3.1 lists, each shown failing against
//! the real state machines on Herald's suite.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use prost::Message as _;

use super::super::spake2plus::{KeySchedule, LoginContext, transcript};
use super::super::{
    Argon2Params, Ciphersuite, FakeRecords, LoginError, ProverSecrets, Received,
    Ristretto255Blake3, VerifierRecord,
};
use super::{AwaitingChallenge, AwaitingConfirm, LOGIN_TIMEOUT_SECS, LoggedIn, ServerStart};
use crate::testkit::TestRng;
use crate::wire::pb;

type S = Ristretto255Blake3;

const ACCOUNT: &str = "bob@beta.test";
const DOMAIN: &str = "beta.test";
const NOW: u64 = 1_800_000_000;

fn params() -> Argon2Params {
    Argon2Params::new(64, 1, 1).unwrap()
}

fn secrets(password: &[u8]) -> ProverSecrets<S> {
    ProverSecrets::derive(password, ACCOUNT, DOMAIN, params()).unwrap()
}

fn context() -> LoginContext {
    LoginContext::herald(ACCOUNT, DOMAIN)
}

fn client(password: &[u8], rng: &mut TestRng) -> (AwaitingChallenge<S>, pb::LoginShare) {
    AwaitingChallenge::start(context(), secrets(password), NOW, rng)
}

fn server() -> ServerStart<S> {
    ServerStart::new(context(), secrets(b"correct horse").record())
}

/// A whole honest login; returns its three messages and both ends.
fn honest(
    rng: &mut TestRng,
) -> (
    pb::LoginShare,
    pb::LoginChallenge,
    pb::LoginConfirm,
    LoggedIn,
    LoggedIn,
) {
    let (c, share) = client(b"correct horse", rng);
    let (s, challenge) = server().handle(&share, NOW, rng).unwrap();
    let (client_done, confirm) = c.handle(&challenge, NOW + 1).unwrap();
    let server_done = s.handle(&confirm, NOW + 2).unwrap();
    (share, challenge, confirm, client_done, server_done)
}

fn flipped(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

#[test]
fn a_login_with_the_right_password_opens_one_channel_on_both_sides() {
    let mut rng = TestRng::new(1);
    let (_, _, _, c, s) = honest(&mut rng);
    assert_eq!((c.account(), s.account()), (ACCOUNT, ACCOUNT));
    assert_eq!(c.key().as_bytes(), s.key().as_bytes());
    let mut c = c.into_channel(NOW, 3600).unwrap();
    let mut s = s.into_channel(NOW, 3600).unwrap();
    let frame = c.seal(b"hello gateway", NOW).unwrap();
    assert_eq!(
        s.open(&frame, NOW).unwrap(),
        Received::Data(b"hello gateway".to_vec())
    );
    let back = s.seal(b"hello client", NOW).unwrap();
    assert_eq!(
        c.open(&back, NOW).unwrap(),
        Received::Data(b"hello client".to_vec())
    );
}

#[test]
fn attack_wrong_password_is_refused_by_both_sides() {
    let mut rng = TestRng::new(2);
    let (c, share) = client(b"battery staple", &mut rng);
    let (s, challenge) = server().handle(&share, NOW, &mut rng).unwrap();
    // The client notices first and sends no confirmation at all.
    assert_eq!(
        c.handle(&challenge, NOW).unwrap_err(),
        LoginError::BadConfirmation { what: "confirmV" }
    );
    // Whatever it might send instead is refused by the gateway.
    let guess = pb::LoginConfirm {
        confirm_p: vec![0x5a; 32],
    };
    assert_eq!(
        s.handle(&guess, NOW).unwrap_err(),
        LoginError::BadConfirmation { what: "confirmP" }
    );
}

#[test]
fn attack_flipped_share_p_never_completes_a_login() {
    for bit in (0..256).step_by(7) {
        let mut rng = TestRng::new(3);
        let (c, mut share) = client(b"correct horse", &mut rng);
        share.share_p = flipped(&share.share_p, bit);
        let outcome = server()
            .handle(&share, NOW, &mut rng)
            .and_then(|(s, challenge)| {
                // The gateway answered a different X: the client's check of confirmV fails.
                let (_, confirm) = c.handle(&challenge, NOW)?;
                s.handle(&confirm, NOW)
            });
        assert!(
            matches!(
                outcome,
                Err(LoginError::BadShare { what: "shareP" })
                    | Err(LoginError::BadConfirmation { what: "confirmV" })
            ),
            "bit {bit}: {outcome:?}"
        );
    }
}

#[test]
fn attack_flipped_share_v_is_refused_by_the_client() {
    for bit in (0..256).step_by(7) {
        let mut rng = TestRng::new(4);
        let (c, share) = client(b"correct horse", &mut rng);
        let (_, mut challenge) = server().handle(&share, NOW, &mut rng).unwrap();
        challenge.share_v = flipped(&challenge.share_v, bit);
        let refused = c.handle(&challenge, NOW).unwrap_err();
        assert!(
            matches!(
                refused,
                LoginError::BadShare { what: "shareV" }
                    | LoginError::BadConfirmation { what: "confirmV" }
            ),
            "bit {bit}: {refused:?}"
        );
    }
}

#[test]
fn attack_flipped_confirm_v_is_refused_and_no_confirm_p_is_sent() {
    for bit in [0, 9, 100, 255] {
        let mut rng = TestRng::new(5);
        let (c, share) = client(b"correct horse", &mut rng);
        let (_, mut challenge) = server().handle(&share, NOW, &mut rng).unwrap();
        challenge.confirm_v = flipped(&challenge.confirm_v, bit);
        assert_eq!(
            c.handle(&challenge, NOW).unwrap_err(),
            LoginError::BadConfirmation { what: "confirmV" }
        );
    }
    // A truncated confirmation is refused too (not compared as a prefix).
    let mut rng = TestRng::new(5);
    let (c, share) = client(b"correct horse", &mut rng);
    let (_, mut challenge) = server().handle(&share, NOW, &mut rng).unwrap();
    challenge.confirm_v.truncate(16);
    assert!(c.handle(&challenge, NOW).is_err());
}

#[test]
fn attack_flipped_confirm_p_is_refused_by_the_gateway() {
    for bit in [0, 9, 100, 255] {
        let mut rng = TestRng::new(6);
        let (c, share) = client(b"correct horse", &mut rng);
        let (s, challenge) = server().handle(&share, NOW, &mut rng).unwrap();
        let (_, mut confirm) = c.handle(&challenge, NOW).unwrap();
        confirm.confirm_p = flipped(&confirm.confirm_p, bit);
        assert_eq!(
            s.handle(&confirm, NOW).unwrap_err(),
            LoginError::BadConfirmation { what: "confirmP" }
        );
    }
}

#[test]
fn attack_confirm_p_before_the_check_of_confirm_v_is_impossible() {
    // At run time: a client handed a challenge it cannot verify returns an error and no
    // LoginConfirm at all (the `Ok` side is the only one that carries one). The compile-time
    // half is the `compile_fail` examples in `login`'s docs: the state is consumed by the
    // refused attempt, and a SessionKey cannot be made outside the machines.
    let mut rng = TestRng::new(7);
    let (c, share) = client(b"correct horse", &mut rng);
    let (_, mut challenge) = server().handle(&share, NOW, &mut rng).unwrap();
    challenge.confirm_v = vec![0; 32];
    let result: Result<(LoggedIn, pb::LoginConfirm), LoginError> = c.handle(&challenge, NOW);
    assert!(result.is_err());
    // And the gateway's session key exists only past AwaitingConfirm::handle: a gateway that
    // has answered holds an AwaitingConfirm, which has no key accessor and no channel.
    let (s, _) = server().handle(&share, NOW, &mut rng).unwrap();
    let _: AwaitingConfirm = s;
}

#[test]
fn attack_identity_shares_are_refused() {
    let mut rng = TestRng::new(8);
    let (c, mut share) = client(b"correct horse", &mut rng);
    let identity = S::encode_element(&RistrettoPoint::default());
    assert_eq!(identity, vec![0; 32]);
    share.share_p = identity.clone();
    assert_eq!(
        server().handle(&share, NOW, &mut rng).unwrap_err(),
        LoginError::IdentityShare { what: "shareP" }
    );
    let challenge = pb::LoginChallenge {
        share_v: identity,
        confirm_v: vec![0; 32],
    };
    assert_eq!(
        c.handle(&challenge, NOW).unwrap_err(),
        LoginError::IdentityShare { what: "shareV" }
    );
}

#[test]
fn attack_non_canonical_encodings_are_refused() {
    // 2^255 − 1 (not a field element), an odd s ("negative"), and a canonical-looking point
    // that is not on the curve's ristretto image.
    let mut negative = [0u8; 32];
    negative[0] = 1;
    for bad in [
        vec![0xff; 32],
        negative.to_vec(),
        vec![0x7f; 32],
        vec![2; 31],
    ] {
        let mut rng = TestRng::new(9);
        let (c, mut share) = client(b"correct horse", &mut rng);
        share.share_p = bad.clone();
        assert_eq!(
            server().handle(&share, NOW, &mut rng).unwrap_err(),
            LoginError::BadShare { what: "shareP" },
            "{bad:02x?}"
        );
        let challenge = pb::LoginChallenge {
            share_v: bad.clone(),
            confirm_v: vec![0; 32],
        };
        assert_eq!(
            c.handle(&challenge, NOW).unwrap_err(),
            LoginError::BadShare { what: "shareV" },
            "{bad:02x?}"
        );
    }
}

#[test]
fn attack_a_share_crafted_to_cancel_w0_is_refused() {
    // Someone holding w0 (a stolen record) sends X = w0·M: then X − w0·M is the identity and so
    // would Z be. Refused before any key is derived.
    let w0 = *secrets(b"correct horse").record().w0();
    let share = pb::LoginShare {
        account: ACCOUNT.into(),
        share_p: S::encode_element(&S::m_mul(&w0)),
    };
    assert_eq!(
        server()
            .handle(&share, NOW, &mut TestRng::new(10))
            .unwrap_err(),
        LoginError::IdentityResult
    );
}

#[test]
fn attack_replayed_messages_fail_in_a_fresh_session() {
    let mut rng = TestRng::new(11);
    let (share, challenge, confirm, _, _) = honest(&mut rng);
    // Message 1 and 3 replayed to a fresh gateway session: it answers with a new Y, so the old
    // confirmP is not the one it expects.
    let (s, fresh) = server().handle(&share, NOW + 10, &mut rng).unwrap();
    assert_ne!(fresh.share_v, challenge.share_v);
    assert_eq!(
        s.handle(&confirm, NOW + 10).unwrap_err(),
        LoginError::BadConfirmation { what: "confirmP" }
    );
    // Message 2 replayed to a fresh client session (new x): confirmV covers the old X.
    let (c, _) = client(b"correct horse", &mut rng);
    assert_eq!(
        c.handle(&challenge, NOW + 10).unwrap_err(),
        LoginError::BadConfirmation { what: "confirmV" }
    );
    // Message 3 replayed into a fresh honest run in place of the client's real confirmation.
    let (c, share2) = client(b"correct horse", &mut rng);
    let (s, challenge2) = server().handle(&share2, NOW + 20, &mut rng).unwrap();
    let (_, real) = c.handle(&challenge2, NOW + 20).unwrap();
    assert_ne!(real, confirm);
    assert_eq!(
        s.handle(&confirm, NOW + 20).unwrap_err(),
        LoginError::BadConfirmation { what: "confirmP" }
    );
}

#[test]
fn attack_reflection_fails() {
    let mut rng = TestRng::new(12);
    let (_, challenge, _, _, _) = honest(&mut rng);
    // The gateway's own shareV sent back to it as a client's shareP, and its answer's confirmV
    // reflected as confirmP: different key (K_confirmV ≠ K_confirmP) and input (X ≠ Y).
    let reflected = pb::LoginShare {
        account: ACCOUNT.into(),
        share_p: challenge.share_v.clone(),
    };
    let (s, answer) = server().handle(&reflected, NOW, &mut rng).unwrap();
    let mirror = pb::LoginConfirm {
        confirm_p: answer.confirm_v.clone(),
    };
    assert_eq!(
        s.handle(&mirror, NOW).unwrap_err(),
        LoginError::BadConfirmation { what: "confirmP" }
    );
    // The client's own shareP sent back to it as shareV, with any confirmation.
    let (c, share) = client(b"correct horse", &mut rng);
    let back = pb::LoginChallenge {
        share_v: share.share_p.clone(),
        confirm_v: vec![0; 32],
    };
    assert_eq!(
        c.handle(&back, NOW).unwrap_err(),
        LoginError::BadConfirmation { what: "confirmV" }
    );
}

/// confirmP as an attacker computes it for a run with shareP = `x`·G + w0·M against the
/// gateway's challenge, with its best guess `v` for V.
fn forged_confirm_p(
    w0: &Scalar,
    x: &Scalar,
    share_p: &[u8],
    share_v: &[u8],
    v: RistrettoPoint,
) -> pb::LoginConfirm {
    let y = S::decode_element(share_v).unwrap();
    // Z the attacker CAN compute: it knows x and w0.
    let z = S::mul(&S::sub(&y, &S::n_mul(w0)), x);
    let tt = transcript::<S>(&context(), share_p, share_v, &z, &v, w0);
    pb::LoginConfirm {
        confirm_p: KeySchedule::derive::<S>(&tt).confirm_p::<S>(share_v),
    }
}

#[test]
fn attack_a_stolen_verifier_record_cannot_log_in_as_the_client() {
    // The attacker has exactly what the gateway stores: (w0, L), and the record's wire form.
    let stolen = secrets(b"correct horse").record().to_pb(params());
    let (record, _) = VerifierRecord::<S>::from_pb(&stolen).unwrap();
    let w0 = *record.w0();
    let l = *record.l();
    let mut rng = TestRng::new(13);
    let x = S::random_scalar(&mut rng);
    let share_p = S::encode_element(&(S::base_mul(&x) + S::m_mul(&w0)));
    let share = pb::LoginShare {
        account: ACCOUNT.into(),
        share_p: share_p.clone(),
    };
    // V = w1·(Y − w0·N) = y·L needs w1 (L's discrete log) or y: the attacker has neither.
    // Every guess it can compute from (w0, L, x, Y) is refused.
    let guesses: [&dyn Fn(RistrettoPoint) -> RistrettoPoint; 5] = [
        &|_| l * x,                                   // "x·L": a Diffie–Hellman with L
        &|_| l,                                       // L itself
        &|y| y - S::n_mul(&w0),                       // y·G, the unmasked share
        &|y| (y - S::n_mul(&w0)) * x,                 // Z again
        &|y| (y - S::n_mul(&w0)) * Scalar::from(7u8), // a guessed w1
    ];
    for (i, guess) in guesses.iter().enumerate() {
        let (s, challenge) = server().handle(&share, NOW, &mut rng).unwrap();
        let y = S::decode_element(&challenge.share_v).unwrap();
        let confirm = forged_confirm_p(&w0, &x, &share_p, &challenge.share_v, guess(y));
        assert_eq!(
            s.handle(&confirm, NOW).unwrap_err(),
            LoginError::BadConfirmation { what: "confirmP" },
            "guess {i}"
        );
    }
    // Nor does the client machine help: it needs ProverSecrets (w0, w1), and a record gives
    // only w0 and L. With a made-up w1 the machine refuses the gateway's confirmV itself.
    let fake_w1 = S::random_scalar(&mut rng);
    let (c, share) = AwaitingChallenge::start(
        context(),
        ProverSecrets::<S>::from_scalars(w0, fake_w1),
        NOW,
        &mut rng,
    );
    let (_, challenge) = server().handle(&share, NOW, &mut rng).unwrap();
    assert_eq!(
        c.handle(&challenge, NOW).unwrap_err(),
        LoginError::BadConfirmation { what: "confirmV" }
    );
}

#[test]
fn attack_unknown_account_is_indistinguishable_from_a_wrong_password() {
    let fake = FakeRecords::new([42; 32], params());
    let ghost = "ghost@beta.test";
    let mut rng = TestRng::new(14);
    let mut answers = Vec::new();
    for attempt in 0..4 {
        // A real account with a wrong password…
        let (c, share) = client(b"wrong guess", &mut rng);
        let (_, real) = server().handle(&share, NOW, &mut rng).unwrap();
        let real_error = c.handle(&real, NOW).unwrap_err();
        // …and an account that does not exist, answered from its fake record.
        let (c, share) = AwaitingChallenge::start(
            LoginContext::herald(ghost, DOMAIN),
            ProverSecrets::<S>::derive(b"wrong guess", ghost, DOMAIN, params()).unwrap(),
            NOW,
            &mut rng,
        );
        let (_, faked) = fake
            .server_start(ghost, DOMAIN)
            .handle(&share, NOW, &mut rng)
            .unwrap();
        let fake_error = c.handle(&faked, NOW).unwrap_err();
        // Same error for the client, same shapes on the wire, both shares valid points.
        assert_eq!(real_error, fake_error, "attempt {attempt}");
        assert_eq!(real.encoded_len(), faked.encoded_len());
        assert_eq!(real.share_v.len(), faked.share_v.len());
        assert_eq!(real.confirm_v.len(), faked.confirm_v.len());
        for answer in [&real, &faked] {
            let y = S::decode_element(&answer.share_v).expect("a valid point");
            assert!(!S::is_identity(&y));
        }
        answers.push(faked);
    }
    // Repeated tries meet a fixed record (fresh y each time, as for a real account).
    assert_eq!(
        fake.record(ghost).encode(),
        fake.record(ghost).encode(),
        "stable"
    );
    assert!(answers.windows(2).all(|w| w[0].share_v != w[1].share_v));
    // The parameters a ghost is offered are the ones real accounts are registered with.
    assert_eq!(fake.params(), params());
}

#[test]
fn a_login_attempt_expires() {
    let mut rng = TestRng::new(15);
    let (c, share) = client(b"correct horse", &mut rng);
    let (s, challenge) = server().handle(&share, NOW, &mut rng).unwrap();
    let late = NOW + LOGIN_TIMEOUT_SECS + 1;
    assert_eq!(
        c.handle(&challenge, late).unwrap_err(),
        LoginError::Expired {
            deadline: NOW + LOGIN_TIMEOUT_SECS,
            now: late
        }
    );
    let (c, share) = client(b"correct horse", &mut rng);
    let (s2, challenge) = server().handle(&share, NOW, &mut rng).unwrap();
    let (_, confirm) = c.handle(&challenge, NOW).unwrap();
    assert!(matches!(
        s2.handle(&confirm, late),
        Err(LoginError::Expired { .. })
    ));
    drop(s);
}

#[test]
fn a_share_for_another_account_is_refused() {
    let mut rng = TestRng::new(16);
    let (_, mut share) = client(b"correct horse", &mut rng);
    share.account = "eve@beta.test".into();
    assert_eq!(
        server().handle(&share, NOW, &mut rng).unwrap_err(),
        LoginError::WrongAccount
    );
}
