//! Failed enrolment attempts on a real in-process gateway over libp2p (F4 of the reliability
//! review): limits per peer and per address, the right code never blocked by anyone else's
//! failures, and answers that do not tell unknown, active, disabled and pending accounts apart.
//! Each `TestClient` is a fresh libp2p identity, so each is a separate source.

use crate::network_support::{TestClient, error_of};
use crate::witness_support::{Domain, metric};
use herald_node::accounts::AccountState;
use herald_node::accounts::attempts::{
    FAILURE_WINDOW, MAX_ACCOUNT_FAILURES, MAX_SOURCE_FAILURES, SOURCE_BACKOFF,
};
use herald_proto::wire::pb::ClientErrorKind;
use prost::Message as _;

use crate::certmail_support::{Account, enrol, issue, register};

fn state(domain: &Domain, address: &str) -> Option<AccountState> {
    domain
        .gateway
        .intake()
        .accounts()
        .get(address)
        .expect("account book")
        .map(|r| r.state)
}

/// The review: five wrong codes from anyone and the account answered "retry after 900s" even
/// to the right code. Now a peer flooding wrong codes is refused itself — also with the right
/// code, since it is its own failures — and the owner, from another peer, registers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_flood_of_wrong_codes_from_one_peer_does_not_stop_the_right_code_from_another() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let bob = Account::new("bob@alpha.test", 1);
    let code = issue(&alpha, &bob.address, 3600).await;
    let size = alpha.gateway.head().size;

    let mut mallory = TestClient::connect(alpha.addr()).await;
    for guess in 0..3 * MAX_SOURCE_FAILURES {
        let answer = register(&mut mallory, &bob, &format!("guess-{guess}")).await;
        let (kind, e) = error_of(&answer).expect("refused");
        assert_eq!(kind, ClientErrorKind::Unauthorized);
        if guess < MAX_SOURCE_FAILURES {
            assert_eq!(e.retry_after_ms, 0, "guess {guess}: {e:?}");
        } else {
            // Blocked: the source's back-off, whatever it sends.
            assert!(e.retry_after_ms > 0, "guess {guess}: {e:?}");
            assert!(
                e.retry_after_ms <= SOURCE_BACKOFF.as_millis() as u64,
                "{e:?}"
            );
        }
    }
    let refused = register(&mut mallory, &bob, &code).await;
    assert!(error_of(&refused).is_some_and(|(_, e)| e.retry_after_ms > 0));
    assert_eq!(alpha.gateway.head().size, size, "refusals append nothing");
    assert!(matches!(
        state(&alpha, &bob.address),
        Some(AccountState::Pending { .. })
    ));

    // The owner, from another peer, with the right code: registered.
    let mut owner = TestClient::connect(alpha.addr()).await;
    let ok = register(&mut owner, &bob, &code).await;
    assert!(error_of(&ok).is_none(), "{ok:?}");
    assert!(matches!(
        state(&alpha, &bob.address),
        Some(AccountState::Active { identity_key, .. }) if identity_key == bob.key()
    ));

    // Every refusal is counted.
    let page = alpha.metrics().await;
    assert_eq!(
        metric(&page, "herald_enrolment_refusals_total"),
        f64::from(3 * MAX_SOURCE_FAILURES + 1),
        "{page}"
    );
    alpha.stop().await;
}

/// The review: only pending accounts were ever rate-limited, so "too many failed attempts"
/// told an outsider which addresses had a pending enrolment. Now the answers for an unknown,
/// an active, a disabled and a pending address are byte for byte the same — after one wrong
/// code, and after so many (from many peers) that each address is answered "rate limited".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_answers_do_not_tell_unknown_active_disabled_and_pending_accounts_apart() {
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    let carol = Account::new("carol@alpha.test", 3);
    enrol(&alpha, &mut client, &carol).await;
    let erin = Account::new("erin@alpha.test", 5);
    issue(&alpha, &erin.address, 3600).await;
    alpha
        .gateway
        .intake()
        .disable(erin.address.clone())
        .await
        .unwrap();
    let bob = Account::new("bob@alpha.test", 1);
    issue(&alpha, &bob.address, 3600).await;
    let targets = [
        ("unknown", Account::new("dave@alpha.test", 40)),
        ("active", Account::new("carol@alpha.test", 41)),
        ("disabled", Account::new("erin@alpha.test", 42)),
        ("pending", Account::new("bob@alpha.test", 43)),
    ];

    // One wrong code each, each from a fresh peer.
    let mut first = Vec::new();
    for (what, account) in &targets {
        let mut peer = TestClient::connect(alpha.addr()).await;
        let answer = register(&mut peer, account, "0000-0000-0000-0000").await;
        let (kind, _) = error_of(&answer).unwrap_or_else(|| panic!("{what}: {answer:?}"));
        assert_eq!(kind, ClientErrorKind::Unauthorized, "{what}");
        first.push((what, answer.encode_to_vec()));
    }
    for (what, bytes) in &first {
        assert_eq!(
            bytes, &first[0].1,
            "{what} answers differently from unknown"
        );
    }

    // Wrong codes from many peers (each under its own limit) until every address is limited.
    for (_, account) in &targets {
        let mut sent = 1;
        while sent < MAX_ACCOUNT_FAILURES {
            let mut peer = TestClient::connect(alpha.addr()).await;
            for _ in 0..(MAX_SOURCE_FAILURES - 1).min(MAX_ACCOUNT_FAILURES - sent) {
                register(&mut peer, account, "1111-1111-1111-1111").await;
                sent += 1;
            }
        }
    }
    let mut limited = Vec::new();
    for (what, account) in &targets {
        let mut peer = TestClient::connect(alpha.addr()).await;
        let answer = register(&mut peer, account, "2222-2222-2222-2222").await;
        let (_, e) = error_of(&answer).unwrap_or_else(|| panic!("{what}: {answer:?}"));
        assert_eq!(
            e.retry_after_ms,
            FAILURE_WINDOW.as_millis() as u64,
            "{what}: {e:?}"
        );
        limited.push((what, answer.encode_to_vec()));
    }
    for (what, bytes) in &limited {
        assert_eq!(
            bytes, &limited[0].1,
            "{what} answers differently from unknown"
        );
    }
    // Still nobody's failures block the right code.
    let code = issue(&alpha, "frank@alpha.test", 3600).await;
    let frank = Account::new("frank@alpha.test", 6);
    let ok = register(&mut client, &frank, &code).await;
    assert!(error_of(&ok).is_none(), "{ok:?}");
    alpha.stop().await;
}

/// F4 asks for the same answers *and the same timing class* for unknown, active and pending
/// accounts: every wrong code is hashed and compared (against a dummy when nothing is
/// pending), looked up and counted alike, so no state answers measurably faster. Wrong codes
/// are sent in rounds, one per address in a rotating order, each round from a fresh peer (so
/// that no peer reaches its own limit); the median answer times must agree within half again
/// and 1 ms of slack (measured here: medians within 15% of each other, 3 to 9 ms a request on
/// loopback, depending on the machine's load). A path that did a flush or a key derivation
/// for one state only would stand out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_wrong_codes_for_unknown_active_and_pending_accounts_take_alike() {
    const ROUNDS: usize = 15;
    let alpha = Domain::start("alpha.test", |_| {}).await;
    let mut client = TestClient::connect(alpha.addr()).await;
    enrol(&alpha, &mut client, &Account::new("carol@alpha.test", 3)).await;
    issue(&alpha, "bob@alpha.test", 3600).await;
    let targets = [
        ("unknown", Account::new("dave@alpha.test", 40)),
        ("active", Account::new("carol@alpha.test", 41)),
        ("pending", Account::new("bob@alpha.test", 43)),
    ];
    let mut times = vec![Vec::with_capacity(ROUNDS); targets.len()];
    for round in 0..ROUNDS {
        let mut peer = TestClient::connect(alpha.addr()).await;
        // Warm the connection so the first timed request pays no stream set-up of its own.
        register(&mut peer, &Account::new("warm@alpha.test", 50), "0").await;
        for k in 0..targets.len() {
            let t = (round + k) % targets.len();
            let started = std::time::Instant::now();
            let answer = register(&mut peer, &targets[t].1, "3333-3333-3333-3333").await;
            times[t].push(started.elapsed());
            assert!(error_of(&answer).is_some(), "{}: {answer:?}", targets[t].0);
        }
    }
    let medians: Vec<std::time::Duration> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect();
    let fastest = *medians.iter().min().unwrap();
    for ((what, _), median) in targets.iter().zip(&medians) {
        eprintln!("{what}: median {median:?}");
        assert!(
            *median <= fastest * 3 / 2 + std::time::Duration::from_millis(1),
            "{what} answers in {median:?}, the fastest in {fastest:?}: {medians:?}"
        );
    }
    alpha.stop().await;
}
