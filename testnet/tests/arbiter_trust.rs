//! The arbiter without independently trusted keys, on real node processes.
//!
//! A sender who wants to claim delivery runs a copy of the recipient's domain — same domain
//! names, keys of her own — enrols a "recipient" there whose key she holds, and runs the
//! protocol with him. Her bundle passes every check under the keys it carries itself. An arbiter
//! who judges it with the real domain's log key says "not shown"; one who has no key of his own
//! must not say "received": the verdict is "unverified" (`herald verify-evidence` exit 4, which
//! `light-client/tests/evidence_cli.rs` checks on the binary).

mod certmail_support;

use std::time::Duration;

use certmail_support::{BINARY, RECIPIENT, arbiter, bounded, pair, scratch, spawn};
use herald_proto::evidence::{ArbiterContext, Conclusion, Outcome, arbitrate, decode_bundle};
use herald_testnet::party::{CLOCK_SKEW_SECS, unix_now};
use herald_testnet::{Testnet, TestnetOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_bundle_from_a_copy_of_the_recipients_domain_is_never_received() {
    bounded(async {
        let dir = scratch("arbiter-trust");
        // The real domains d0.test and d1.test (Bob's).
        let options = TestnetOptions {
            sequence_interval: Duration::from_millis(50),
            log_level: "warn".into(),
            ..TestnetOptions::new(dir.join("real"), BINARY)
        };
        let real = Testnet::spawn(2, options).await.expect("2 real domains");
        // The sender's copy: the same names, her own keys.
        let fake = spawn(&dir.join("fake"), false).await;
        let (real_d1, fake_d1) = (
            real.log_trust(RECIPIENT).unwrap(),
            fake.log_trust(RECIPIENT).unwrap(),
        );
        assert_eq!(real_d1.origin(), fake_d1.origin());
        assert_ne!(real_d1, fake_d1);

        let mut p = pair(&fake, &dir, "arbiter").await;
        let (_, bytes) = p.deliver(&fake, "a letter nobody received", 60).await;
        let bundle = decode_bundle(&bytes).expect("a bundle");
        // Kept for `herald verify-evidence` by hand (the scratch directory outlives the test).
        std::fs::write(dir.join("from-a-copy.bundle"), &bytes).unwrap();

        // No key of the arbiter's own: every check passes, under the bundle's keys only.
        let alone = ArbiterContext {
            now: unix_now(),
            max_skew: CLOCK_SKEW_SECS,
            ..ArbiterContext::default()
        };
        let verdict = arbitrate(&bundle, &alone);
        assert_eq!(verdict.outcome, Outcome::Received, "{verdict}");
        assert!(!verdict.fully_trusted(), "{verdict}");
        assert_eq!(verdict.conclusion(), Conclusion::Unverified, "{verdict}");

        // With the real d1's key: not shown, decided by the recipient's binding.
        let verdict = arbitrate(&bundle, &arbiter(&real));
        assert_eq!(verdict.conclusion(), Conclusion::NotShown, "{verdict}");
        // With the copy's key (the sender's own word): received, as the protocol says.
        let verdict = arbitrate(&bundle, &arbiter(&fake));
        assert_eq!(verdict.conclusion(), Conclusion::Received, "{verdict}");
    })
    .await;
}
