//! What the certified-mail tests share: a 3-domain testnet shared by the tests of one file
//! (sender in d0, recipient in d1, X = d0's log cosigned by d1 and d2), pairs of fresh
//! accounts per test so that tests never share state, and small helpers around the light
//! client's steps.
//!
//! The shared testnet lives in a static: the test harness has no "after all tests" hook, so it
//! is never dropped. Its nodes stop on their own when this test process exits (the testnet's
//! parent watch), and its directory under `CARGO_TARGET_TMPDIR` is removed by the next run
//! (directories of processes that are gone).
#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::time::Duration;

use herald_light_client::certmail::{
    BindingMaterial, Opened, RequestMade, RequestTerms, SenderStep, decode_sealed,
};
use herald_light_client::keystore::KdfParams;
use herald_light_client::{ClientError, Gateway, GatewayClient, VerifiedBindingAnswer};
use herald_proto::certmail::Location;
use herald_proto::evidence::ArbiterContext;
use herald_proto::inclusion::LogTrust;
use herald_proto::wire::pb;
use herald_testnet::party::{
    CHEAP_KDF, CLOCK_SKEW_SECS, MAX_MERGE_DELAY_SECS, os_rng, polling, sender_config, unix_now,
};
use herald_testnet::process::{Liveness, liveness};
use herald_testnet::{Party, Testnet, TestnetOptions};
use prost::Message as _;
use tokio::sync::OnceCell;

/// The testnet binary: its hidden `node` subcommand runs the real node command line.
pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_herald-testnet");
/// Bound on each whole test.
pub(crate) const TEST_BOUND: Duration = Duration::from_secs(120);
/// Bound on a publication or a fetch (seconds of polling).
pub(crate) const POLL_SECS: u64 = 30;
/// The sender's and the recipient's domains, and the third witness.
pub(crate) const SENDER: usize = 0;
pub(crate) const RECIPIENT: usize = 1;
pub(crate) const THIRD: usize = 2;

/// Runs `test`, failing (not hanging) if it takes longer than [`TEST_BOUND`].
pub(crate) async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {TEST_BOUND:?}"))
}

/// A 3-domain testnet and where its data lives.
pub(crate) struct World {
    pub net: Testnet,
    pub dir: PathBuf,
}

static SHARED: OnceCell<World> = OnceCell::const_new();

/// The testnet shared by the tests of this file, started by the first that asks.
pub(crate) async fn shared(name: &str) -> &'static World {
    SHARED
        .get_or_init(|| async {
            let dir = scratch(name);
            let net = spawn(&dir, false).await;
            World { net, dir }
        })
        .await
}

/// A fresh directory `<CARGO_TARGET_TMPDIR>/<name>-<pid>`, after removing those of earlier runs
/// whose process is gone.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let prefix = format!("{name}-");
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let gone = file
                .strip_prefix(&prefix)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| liveness(pid) != Liveness::Alive);
            if gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = root.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Three domains with short rounds; `test_hooks` enables the fork switch.
pub(crate) async fn spawn(dir: &Path, test_hooks: bool) -> Testnet {
    let options = TestnetOptions {
        sequence_interval: Duration::from_millis(50),
        test_hooks,
        log_level: "warn".into(),
        ..TestnetOptions::new(dir.join("net"), BINARY)
    };
    Testnet::spawn(3, options).await.expect("3 domains start")
}

/// X: the sender's log, as the recipient asks for it.
pub(crate) fn location(net: &Testnet) -> Location {
    net.location(SENDER, CLOCK_SKEW_SECS, MAX_MERGE_DELAY_SECS)
        .unwrap()
}

/// A sender in d0 and a recipient in d1, fresh accounts named after the test; the sender holds
/// the recipient's verified binding, and the recipient trusts a cosigned checkpoint of X.
pub(crate) struct Pair {
    pub alice: Party,
    pub bob: Party,
    pub binding: VerifiedBindingAnswer,
}

pub(crate) async fn pair(net: &Testnet, dir: &Path, name: &str) -> Pair {
    let home = dir.join(name);
    let (alice, _) = enrol(net, SENDER, &format!("alice-{name}"), &home).await;
    let (bob, _) = enrol(net, RECIPIENT, &format!("bob-{name}"), &home).await;
    let binding = alice
        .binding(
            net,
            RECIPIENT,
            bob.account(),
            &net.log_trust(RECIPIENT).unwrap(),
        )
        .await
        .expect("bob's binding is served and verifies");
    bob.follow(net, SENDER, &net.log_trust(SENDER).unwrap())
        .await
        .expect("bob trusts a cosigned checkpoint of X");
    Pair {
        alice,
        bob,
        binding,
    }
}

/// Enrols `<local>@d<domain>.test` with a key store in `<home>/<local>`.
pub(crate) async fn enrol(
    net: &Testnet,
    domain: usize,
    local: &str,
    home: &Path,
) -> (Party, herald_testnet::party::Enrolment) {
    let account = format!("{local}@{}", net.node(domain).domain());
    let kdf: KdfParams = CHEAP_KDF;
    Party::enrol(net, domain, &account, &home.join(local), kdf)
        .await
        .unwrap_or_else(|e| panic!("enrolling {account}: {e}"))
}

impl Pair {
    /// Step (a): Alice seals `text` for Bob; the msg_id and the sealed message.
    pub(crate) fn send(&mut self, text: &str) -> (Vec<u8>, Vec<u8>) {
        let letter = herald_light_client::certmail::Letter {
            recipient: self.bob.account().to_owned(),
            plaintext: text.as_bytes().to_vec(),
            sign: true,
        };
        let (msg_id, steps) = self.alice.mail().send(letter, &mut os_rng()).unwrap();
        (msg_id, sealed_bytes(&steps))
    }

    /// Step (b): Bob asks for the key of `sealed` at X by `deadline`.
    pub(crate) fn request(&mut self, net: &Testnet, sealed: &[u8], deadline: u64) -> RequestMade {
        let terms = RequestTerms {
            deadline,
            location: location(net),
            expect: None,
        };
        self.bob
            .mail()
            .request(sealed, terms, unix_now(), &mut os_rng())
            .expect("bob makes the request")
    }

    /// Alice's answer to `request` with her policy (publishing at X).
    pub(crate) fn accept(
        &mut self,
        net: &Testnet,
        request: &[u8],
        optimistic: bool,
    ) -> Result<Vec<SenderStep>, herald_light_client::certmail::CertifiedMailError> {
        let config = sender_config(
            location(net),
            vec![net.log_trust(RECIPIENT).unwrap()],
            optimistic,
        );
        let material = self.binding.material().clone();
        self.alice
            .mail()
            .accept(request, &material, &config, unix_now(), &mut os_rng())
    }

    /// Step (c) at d0: until the evidence is kept (or the mail lapses).
    pub(crate) async fn publish(&mut self, net: &Testnet, msg_id: &[u8]) -> Vec<SenderStep> {
        let gateway = net.client(SENDER).await.unwrap();
        self.alice
            .publish(gateway, msg_id, &polling(POLL_SECS))
            .await
            .expect("alice publishes")
    }

    /// Step (d) at d0.
    pub(crate) async fn fetch(
        &mut self,
        net: &Testnet,
        req_hash: &[u8; 32],
    ) -> Result<Opened, herald_light_client::certmail::CertifiedMailError> {
        let gateway = net.client(SENDER).await.unwrap();
        self.bob
            .fetch(&gateway, req_hash, &polling(POLL_SECS))
            .await
    }

    /// The whole honest run of `text` with deadline `T = now + secs`: the request made and
    /// the evidence bundle kept.
    pub(crate) async fn deliver(
        &mut self,
        net: &Testnet,
        text: &str,
        secs: u64,
    ) -> (RequestMade, Vec<u8>) {
        let (msg_id, sealed) = self.send(text);
        let made = self.request(net, &sealed, unix_now() + secs);
        self.accept(net, &made.request, false).expect("accepted");
        let steps = self.publish(net, &msg_id).await;
        (made, evidence_bytes(&steps))
    }

    /// Bob's binding material, as Alice checked it.
    pub(crate) fn material(&self) -> BindingMaterial {
        self.binding.material().clone()
    }
}

/// What an arbiter brings: its clock, and its own copy of the recipient's domain log.
pub(crate) fn arbiter(net: &Testnet) -> ArbiterContext {
    ArbiterContext {
        now: unix_now(),
        max_skew: CLOCK_SKEW_SECS,
        trusted_logs: vec![net.log_trust(RECIPIENT).unwrap()],
        ..ArbiterContext::default()
    }
}

pub(crate) fn sealed_bytes(steps: &[SenderStep]) -> Vec<u8> {
    SenderStep::sealed_in(steps)
        .unwrap_or_else(|| panic!("a sealed message, not {steps:?}"))
        .to_vec()
}

pub(crate) fn evidence_bytes(steps: &[SenderStep]) -> Vec<u8> {
    SenderStep::evidence_in(steps)
        .unwrap_or_else(|| panic!("evidence, not {steps:?}"))
        .to_vec()
}

pub(crate) fn publish_step(steps: &[SenderStep]) -> Vec<u8> {
    SenderStep::publication_in(steps)
        .unwrap_or_else(|| panic!("a publish step, not {steps:?}"))
        .1
        .to_vec()
}

pub(crate) fn direct_key_bytes(steps: &[SenderStep]) -> Vec<u8> {
    SenderStep::direct_key_in(steps)
        .unwrap_or_else(|| panic!("a direct key, not {steps:?}"))
        .to_vec()
}

/// The sealed message with `edit` applied, as tampered in transit.
pub(crate) fn tampered_sealed(sealed: &[u8], edit: impl FnOnce(&mut pb::SealedMessage)) -> Vec<u8> {
    let mut m = decode_sealed(sealed).unwrap();
    edit(&mut m);
    m.encode_to_vec()
}

/// A gateway that answers the publication lookup of `asked` with the publication of `served`,
/// and everything else honestly.
pub(crate) struct Swapping {
    pub inner: GatewayClient,
    pub asked: [u8; 32],
    pub served: [u8; 32],
}

impl Gateway for Swapping {
    async fn exchange(
        &self,
        mut request: pb::ClientRequest,
    ) -> Result<pb::ClientResponse, ClientError> {
        if let Some(pb::client_request::Request::Publication(p)) = &mut request.request
            && p.req_hash == self.asked
        {
            p.req_hash = self.served.to_vec();
        }
        self.inner.exchange(request).await
    }
}

/// The domain log of the recipient, as the arbiter holds it.
pub(crate) fn recipient_domain(net: &Testnet) -> LogTrust {
    net.log_trust(RECIPIENT).unwrap()
}
