//! Prekeys over real libp2p against real node processes (DESIGN §3.2): a one-time
//! prekey is handed out at most once, also across a SIGKILL (plain, and at the fault point right
//! after its removal is durable); exhaustion falls back to the fallback prekey, logged and
//! counted; and a sender's client refuses a prekey with a bad signature, one for another or an
//! unbound key, and one of a revoked key.
//!
//! Two domains, so that d0's checkpoints are cosigned and its bindings can be proven.

mod common;
mod paep_support;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{bounded, options};
use ed25519_dalek::SigningKey;
use herald_light_client::keystore::{MemoryKeyStore, SecureKeyStore as _};
use herald_light_client::{
    ClientError, Gateway, GatewayClient, MemorySessionStore, Session, SessionError,
    fetch_prekey_bundle,
};
use herald_node::fault::FaultPoint;
use herald_proto::identity::NotBound;
use herald_proto::paep::{PrekeyError, PrekeyKind, VerifiedPrekeyBundle, prekey_signing_input};
use herald_proto::wire::pb;
use herald_testnet::{Testnet, TestnetError, wait};
use paep_support::{PASSWORD, counter, now, refusal, register};
use tempfile::TempDir;

const BOUND: Duration = Duration::from_secs(180);
const BOB: &str = "bob@d0.test";
/// Cosignatures up to this far ahead of the clock count (one machine, one clock).
const SKEW: u64 = 60;
/// Bound on the binding being served (cosigned) after registration or a restart.
const SERVED_WITHIN: Duration = Duration::from_secs(30);

async fn two_domains(dir: &TempDir) -> Testnet {
    Testnet::spawn(2, options(dir.path())).await.unwrap()
}

/// Bob registered at d0, logged in, with `one_time` prekeys (and a fallback if asked)
/// uploaded; his key store.
async fn bob_with_prekeys(net: &Testnet, one_time: usize, fallback: bool) -> MemoryKeyStore {
    let mut keys = register(net, 0, BOB, 1).await;
    let client = net.client(0).await.unwrap();
    let mut session = Session::login(&client, BOB, PASSWORD, MemorySessionStore::new())
        .await
        .unwrap();
    let status = session
        .upload_prekeys(&client, &mut keys, one_time, fallback)
        .await
        .unwrap();
    assert_eq!(status.one_time_remaining, one_time as u64);
    keys
}

/// One prekey of Bob, fetched by a sender and verified against d0's log; waits (bounded) while
/// the binding is not cosigned yet.
async fn fetch(
    net: &Testnet,
    client: &GatewayClient,
) -> Result<VerifiedPrekeyBundle, SessionError> {
    let trust = net.log_trust(0).unwrap();
    let deadline = tokio::time::Instant::now() + SERVED_WITHIN;
    loop {
        match fetch_prekey_bundle(client, BOB, &trust, now(), SKEW).await {
            Err(SessionError::Gateway(e))
                if refusal(&e) == Some(pb::ClientErrorKind::Pending)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_the_same_one_time_prekey_is_never_handed_out_twice_even_across_sigkill() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let mut net = two_domains(&dir).await;
        bob_with_prekeys(&net, 8, true).await;
        let mut handed = Vec::new();
        let sender = net.client(0).await.unwrap();
        for _ in 0..2 {
            let b = fetch(&net, &sender).await.unwrap();
            assert_eq!(b.kind(), PrekeyKind::OneTime);
            handed.push(b.id());
        }
        // SIGKILL right after the answers: what was handed out stays handed out.
        net.kill(0).await.unwrap();
        net.restart(0).await.unwrap();
        let sender = net.client(0).await.unwrap();
        handed.push(fetch(&net, &sender).await.unwrap().id());

        // Killed at the fault point: the prekey's removal is durable, it was not answered.
        net.set_fault(0, Some(FaultPoint::PrekeyTaken)).unwrap();
        net.restart(0).await.unwrap();
        let sender = net.client(0).await.unwrap();
        assert!(fetch(&net, &sender).await.is_err(), "the node answered");
        let died = wait::until(BOUND / 4, Duration::from_millis(20), || {
            let alive = net.check_alive(0);
            async move {
                match alive {
                    Err(TestnetError::Exited { .. }) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await;
        assert!(
            died.is_ok(),
            "the node did not die at the fault point: {died:?}"
        );
        let log = std::fs::read_to_string(net.node(0).log_path()).unwrap();
        assert!(log.contains("fault point prekey-taken reached"), "{log}");
        net.set_fault(0, None).unwrap();
        net.restart(0).await.unwrap();
        let sender = net.client(0).await.unwrap();
        let next = fetch(&net, &sender).await.unwrap();
        handed.push(next.id());
        // Ids 1..=8 were uploaded in order: 1, 2, 3 handed out, 4 taken by the killed node
        // (never answered, never again), then 5.
        assert_eq!(handed, vec![1, 2, 3, 5]);
        let distinct: BTreeSet<u64> = handed.iter().copied().collect();
        assert_eq!(distinct.len(), handed.len());
        // The gateway's count agrees: 8 uploaded, 5 gone.
        let client = net.client(0).await.unwrap();
        let mut session = Session::login(&client, BOB, PASSWORD, MemorySessionStore::new())
            .await
            .unwrap();
        assert_eq!(
            session
                .prekey_status(&client)
                .await
                .unwrap()
                .one_time_remaining,
            3
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhaustion_falls_back_to_the_fallback_prekey_logged_and_counted() {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = two_domains(&dir).await;
        let mut keys = bob_with_prekeys(&net, 2, true).await;
        let sender = net.client(0).await.unwrap();
        let mut kinds = Vec::new();
        for _ in 0..4 {
            let b = fetch(&net, &sender).await.unwrap();
            kinds.push((b.kind(), b.id()));
        }
        // Two one-time prekeys, then the uploaded fallback (id 3), as often as asked.
        assert_eq!(
            kinds,
            vec![
                (PrekeyKind::OneTime, 1),
                (PrekeyKind::OneTime, 2),
                (PrekeyKind::Fallback, 3),
                (PrekeyKind::Fallback, 3)
            ]
        );
        assert_eq!(
            counter(&net, 0, "herald_prekeys_handed_out", "fallback").await,
            2.0
        );
        assert_eq!(
            counter(&net, 0, "herald_prekeys_handed_out", "one_time").await,
            2.0
        );
        let log = std::fs::read_to_string(net.node(0).log_path()).unwrap();
        assert!(log.contains("handed out the fallback prekey"), "{log}");
        // The client sees it and tops up: new one-time prekeys and a new fallback.
        let client = net.client(0).await.unwrap();
        let mut session = Session::login(&client, BOB, PASSWORD, MemorySessionStore::new())
            .await
            .unwrap();
        let status = session.prekey_status(&client).await.unwrap();
        assert_eq!((status.one_time_remaining, status.fallback_used), (0, true));
        let done = session.top_up_prekeys(&client, &mut keys, 3).await.unwrap();
        assert_eq!((done.uploaded, done.new_fallback), (3, true));
        assert_eq!(
            (done.status.one_time_remaining, done.status.fallback_used),
            (3, false)
        );
        let b = fetch(&net, &sender).await.unwrap();
        assert_eq!((b.kind(), b.id()), (PrekeyKind::OneTime, 4));

        // An account that never uploaded one gets the binding's own prekey, fallback 0.
        let carol = "carol@d0.test";
        register(&net, 0, carol, 2).await;
        let trust = net.log_trust(0).unwrap();
        let deadline = tokio::time::Instant::now() + SERVED_WITHIN;
        let zero = loop {
            match fetch_prekey_bundle(&sender, carol, &trust, now(), SKEW).await {
                Ok(b) => break b,
                Err(e) => assert!(tokio::time::Instant::now() < deadline, "{e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!((zero.kind(), zero.id()), (PrekeyKind::Fallback, 0));
    })
    .await;
}

/// A gateway that tampers with the prekey bundles it hands out.
struct Tampering<'a> {
    inner: &'a GatewayClient,
    edit: fn(&mut pb::PrekeyBundle),
}

impl Gateway for Tampering<'_> {
    async fn exchange(
        &self,
        request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        let mut response = self.inner.exchange(request).await?;
        if let Some(pb::client_response::Response::PrekeyBundle(b)) = &mut response.response {
            (self.edit)(b);
        }
        Ok(response)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_prekey_with_a_bad_signature_or_of_an_unbound_or_revoked_key_is_refused_by_the_sender()
 {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = two_domains(&dir).await;
        let mut keys = bob_with_prekeys(&net, 6, false).await;
        let sender = net.client(0).await.unwrap();
        let trust = net.log_trust(0).unwrap();
        // An honest bundle verifies (and waits for the binding to be cosigned).
        fetch(&net, &sender).await.unwrap();
        let check = |edit: fn(&mut pb::PrekeyBundle)| {
            let gateway = Tampering {
                inner: &sender,
                edit,
            };
            let trust = trust.clone();
            async move { fetch_prekey_bundle(&gateway, BOB, &trust, now(), SKEW).await }
        };
        // A substituted key under Bob's signature.
        let err = check(|b| b.prekey.as_mut().unwrap().public_key = vec![0x66; 32])
            .await
            .unwrap_err();
        assert!(
            matches!(err, SessionError::Prekey(PrekeyError::BadSignature { .. })),
            "{err:?}"
        );
        // A flipped signature bit.
        let err = check(|b| b.prekey.as_mut().unwrap().signature[0] ^= 1)
            .await
            .unwrap_err();
        assert!(
            matches!(err, SessionError::Prekey(PrekeyError::BadSignature { .. })),
            "{err:?}"
        );
        // A prekey signed by a key that is not Bob's bound key (the gateway's own, say).
        let err = check(|b| {
            let p = b.prekey.as_mut().unwrap();
            let public: [u8; 32] = p.public_key[..].try_into().unwrap();
            let input = prekey_signing_input(BOB, PrekeyKind::OneTime, p.id, &public);
            p.signature = ed25519_dalek::Signer::sign(&SigningKey::from_bytes(&[0x77; 32]), &input)
                .to_bytes()
                .to_vec();
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err, SessionError::Prekey(PrekeyError::BadSignature { .. })),
            "{err:?}"
        );
        // Bob's bundle handed out as another account's: its binding names Bob.
        let other = fetch_prekey_bundle(&sender, "dave@d0.test", &trust, now(), SKEW).await;
        assert!(other.is_err(), "an unknown account has no prekeys");
        let bundle = sender.prekey_bundle(BOB).await.unwrap();
        let err = herald_proto::paep::verify_prekey_bundle(&bundle, "dave@d0.test", &trust, now(), SKEW)
            .unwrap_err();
        assert!(matches!(err, PrekeyError::OtherAccount { .. }), "{err:?}");

        // The gateway itself refuses an upload signed by another key (checked before storing).
        let client = net.client(0).await.unwrap();
        let mut session = Session::login(&client, BOB, PASSWORD, MemorySessionStore::new())
            .await
            .unwrap();
        let mut impostor =
            MemoryKeyStore::with_identity(BOB, SigningKey::from_bytes(&[0x55; 32])).unwrap();
        let err = session
            .upload_prekeys(&client, &mut impostor, 2, false)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SessionError::Gateway(e) if refusal(e) == Some(pb::ClientErrorKind::InvalidEntry)),
            "{err:?}"
        );
        assert!(impostor.prekeys().is_empty(), "refused prekeys are erased");
        let _ = &mut keys;

        // Revoked: a bundle fetched before Bob's key was revoked, shown after with the
        // revocation the gateway now serves, is refused.
        let old = sender.prekey_bundle(BOB).await.unwrap();
        net.node(0).disable_account(BOB).await.unwrap();
        let deadline = tokio::time::Instant::now() + SERVED_WITHIN;
        let answer = loop {
            match sender.binding(BOB).await {
                Ok(a) if !a.revocations.is_empty() => break a,
                other => assert!(tokio::time::Instant::now() < deadline, "{other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut stale = old;
        stale.binding = Some(answer);
        let err = herald_proto::paep::verify_prekey_bundle(&stale, BOB, &trust, now(), SKEW)
            .unwrap_err();
        assert!(
            matches!(err, PrekeyError::NotBound(NotBound::Revoked { .. })),
            "{err:?}"
        );
        // And the gateway hands out no prekey of a disabled account.
        let err = sender.prekey_bundle(BOB).await.unwrap_err();
        assert_eq!(refusal(&err), Some(pb::ClientErrorKind::NotFound), "{err}");
    })
    .await;
}

/// `herald_prekey_bundles_limited_total` of node `i` (unlabelled).
async fn bundles_limited(net: &Testnet, i: usize) -> f64 {
    let text = herald_testnet::node_api::metrics(net.node(i).http_addr())
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("herald_prekey_bundles_limited_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Asks d0 for one prekey of `to` in `session` (through the relay when `to` is at d1), waiting
/// (bounded) while its binding is pending; the gateway's refusal kind, if any.
async fn mail_prekey(
    net: &Testnet,
    client: &GatewayClient,
    session: &mut Session<MemorySessionStore>,
    to: &str,
    domain: usize,
) -> Option<pb::ClientErrorKind> {
    let trust = net.log_trust(domain).unwrap();
    let deadline = tokio::time::Instant::now() + SERVED_WITHIN;
    loop {
        match session.mail_prekey(client, to, &trust, now(), SKEW).await {
            Ok(_) => return None,
            Err(SessionError::Gateway(e)) => match refusal(&e) {
                Some(pb::ClientErrorKind::Pending) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some(kind) => return Some(kind),
                None => panic!("{e}"),
            },
            Err(e) => panic!("{e}"),
        }
    }
}

/// The anonymous limit is per asker: 30 bundles a minute per libp2p peer. A relaying gateway
/// asks for all its accounts, so d1 counts a registered peer's `relay_prekey` against the
/// relay limit (`relay_prekey_bundles_per_minute`), and d0 counts each of its senders' asks
/// (`mail_prekey`) against that sender's account: alice is stopped after 30, carol is not
/// stopped by alice's asks, and d1 keeps handing d0 prekeys past 30 while a stranger
/// asking d1 directly is still stopped after 30.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_prekey_bundles_are_limited_per_sending_account_and_per_stranger_not_per_relaying_gateway()
 {
    bounded(BOUND, async {
        let dir = TempDir::new().unwrap();
        let net = two_domains(&dir).await;
        let bob = "bob@d1.test";
        register(&net, 1, bob, 1).await;
        register(&net, 0, "alice@d0.test", 2).await;
        register(&net, 0, "carol@d0.test", 3).await;
        // Every ask counts, a PENDING one too: wait until bob's binding is served.
        let direct = net.client(1).await.unwrap();
        wait::until(SERVED_WITHIN, Duration::from_millis(100), || {
            direct.binding(bob)
        })
        .await
        .unwrap_or_else(|e| panic!("bob's binding not served: {e:?}"));
        let client = net.client(0).await.unwrap();
        let mut alice = Session::login(&client, "alice@d0.test", PASSWORD, MemorySessionStore::new())
            .await
            .unwrap();
        let mut carol = Session::login(&client, "carol@d0.test", PASSWORD, MemorySessionStore::new())
            .await
            .unwrap();
        for i in 0..30 {
            assert_eq!(mail_prekey(&net, &client, &mut alice, bob, 1).await, None, "ask {i}");
        }
        assert_eq!(
            mail_prekey(&net, &client, &mut alice, bob, 1).await,
            Some(pb::ClientErrorKind::RateLimited),
            "alice's 31st ask in a minute"
        );
        // d0 has now asked d1 30 times as one peer: past the anonymous limit, within its own.
        for i in 0..5 {
            assert_eq!(mail_prekey(&net, &client, &mut carol, bob, 1).await, None, "carol {i}");
        }
        assert_eq!(bundles_limited(&net, 1).await, 0.0);
        // A stranger asking d1 directly is one anonymous peer.
        let stranger = net.client(1).await.unwrap();
        let trust = net.log_trust(1).unwrap();
        for i in 0..30 {
            fetch_prekey_bundle(&stranger, bob, &trust, now(), SKEW)
                .await
                .unwrap_or_else(|e| panic!("stranger's ask {i}: {e}"));
        }
        let over = fetch_prekey_bundle(&stranger, bob, &trust, now(), SKEW).await;
        assert!(
            matches!(&over, Err(SessionError::Gateway(e)) if refusal(e) == Some(pb::ClientErrorKind::RateLimited)),
            "{over:?}"
        );
        assert_eq!(bundles_limited(&net, 1).await, 1.0);
    })
    .await;
}
