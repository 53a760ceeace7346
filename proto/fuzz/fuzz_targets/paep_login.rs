//! The PAEP login state machines and the session channel driven with arbitrary messages.
//!
//! Checks, beyond "no panic":
//! - any message (of any length, not only what the schema allows) is answered with a result;
//! - in an honest login, a challenge or a confirmation changed by the fuzzer is refused unless
//!   it is byte for byte the honest one: nothing else completes a login;
//! - a channel accepts a fuzzed frame only if it is exactly the honest next frame.
#![no_main]

use arbitrary::Arbitrary;
use herald_proto::paep::{
    Argon2Params, AwaitingChallenge, FakeRecords, LoginContext, ProverSecrets, Received,
    Ristretto255Blake3, ServerStart,
};
use herald_proto::testkit::TestRng;
use herald_proto::wire::{decode_valid, pb};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;
const ACCOUNT: &str = "bob@beta.test";
const DOMAIN: &str = "beta.test";

type S = Ristretto255Blake3;

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    /// Raw fields of each message, not bounded by the schema.
    account: String,
    share_p: Vec<u8>,
    share_v: Vec<u8>,
    confirm_v: Vec<u8>,
    confirm_p: Vec<u8>,
    /// XOR masks applied to an honest run's messages.
    challenge_mask: Vec<u8>,
    confirm_mask: Vec<u8>,
    /// Encoded messages, as a peer would send them.
    encoded_share: Vec<u8>,
    encoded_frame: Vec<u8>,
    later: u16,
}

fn secrets() -> ProverSecrets<S> {
    let cheap = Argon2Params::new(8, 1, 1).expect("within bounds");
    ProverSecrets::derive(b"pw", ACCOUNT, DOMAIN, cheap).expect("argon2id with 8 KiB")
}

fn masked(bytes: &[u8], mask: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (i, m) in mask.iter().enumerate() {
        match out.get_mut(i) {
            Some(b) => *b ^= m,
            None => out.push(*m),
        }
    }
    out
}

fuzz_target!(|input: Input| {
    let mut rng = TestRng::new(input.seed);
    let context = LoginContext::herald(ACCOUNT, DOMAIN);
    let record = secrets().record();
    let now = NOW + u64::from(input.later);

    // The gateway against an arbitrary message 1 and 3.
    let share = pb::LoginShare {
        account: input.account.clone(),
        share_p: input.share_p.clone(),
    };
    if let Ok((state, _)) =
        ServerStart::new(context.clone(), record.clone()).handle(&share, NOW, &mut rng)
    {
        let confirm = pb::LoginConfirm {
            confirm_p: input.confirm_p.clone(),
        };
        // Without the password the fuzzer cannot make confirmP (nor guess 256 bits).
        assert!(state.handle(&confirm, now).is_err());
    }
    if let Ok(share) = decode_valid::<pb::LoginShare>(&input.encoded_share) {
        let fake = FakeRecords::new([1; 32], Argon2Params::RECOMMENDED);
        let _ = fake
            .server_start(&share.account, DOMAIN)
            .handle(&share, NOW, &mut rng);
    }

    // The client against an arbitrary message 2.
    let (client, _) = AwaitingChallenge::start(context.clone(), secrets(), NOW, &mut rng);
    let challenge = pb::LoginChallenge {
        share_v: input.share_v.clone(),
        confirm_v: input.confirm_v.clone(),
    };
    assert!(client.handle(&challenge, now).is_err());

    // An honest run, with the fuzzer changing message 2 or 3 in transit.
    let (client, share) = AwaitingChallenge::start(context.clone(), secrets(), NOW, &mut rng);
    let (server, honest) = ServerStart::new(context, record)
        .handle(&share, NOW, &mut rng)
        .expect("an honest share");
    let tampered = pb::LoginChallenge {
        share_v: masked(&honest.share_v, &input.challenge_mask),
        confirm_v: honest.confirm_v.clone(),
    };
    let outcome = client.handle(&tampered, now);
    if tampered != honest {
        assert!(outcome.is_err(), "a changed challenge was accepted");
        return;
    }
    let Ok((client, confirm)) = outcome else {
        // Only the attempt's deadline can refuse the honest challenge.
        assert!(now > NOW + herald_proto::paep::LOGIN_TIMEOUT_SECS);
        return;
    };
    let changed = pb::LoginConfirm {
        confirm_p: masked(&confirm.confirm_p, &input.confirm_mask),
    };
    let done = server.handle(&changed, now);
    if changed != confirm {
        assert!(done.is_err(), "a changed confirmation was accepted");
        return;
    }
    let Ok(server) = done else { return };

    // The channel against an arbitrary frame.
    let mut client = client.into_channel(NOW, 3600).expect("a valid lifetime");
    let mut server = server.into_channel(NOW, 3600).expect("a valid lifetime");
    let honest_frame = client.seal(b"hello", NOW).expect("a live channel");
    if let Ok(frame) = decode_valid::<pb::SessionFrame>(&input.encoded_frame) {
        match server.open(&frame, now) {
            Ok(Received::Data(d)) => {
                assert_eq!(frame, honest_frame);
                assert_eq!(d, b"hello");
            }
            Ok(Received::Closed) => panic!("a close frame nobody sent"),
            Err(_) => {}
        }
    }
});
