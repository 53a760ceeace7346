//! `bench certmail`: end-to-end certified-mail latency on a 3-domain testnet (DESIGN §6).
//!
//! Alice (d0.test) sends Bob (d1.test) `--messages` letters one after another, each through
//! the whole protocol with the light client's steps: (a) seal, (b) Bob's request with
//! X = d0's log (witnesses d1 and d2, quorum 2), (c) Alice accepts and publishes, (d) Bob looks
//! the publication up until it verifies in a checkpoint cosigned as X requires, proves it
//! consistent with the checkpoint he trusted before, unwraps K, checks c_K and decrypts.
//! Alice's publishing and Bob's polling run concurrently, as two people's clients would.
//!
//! Measured per message: from the start of step (a) to Bob holding the decrypted plaintext
//! (`send_to_plaintext`, the figure with the target), and to Alice holding her evidence bundle
//! (`send_to_evidence`). Each party keeps one connection to X's gateway for the whole run. A
//! message that fails is counted, reported, and not measured. Letters start after a random
//! pause of up to one sequencing round (seeded; the seed is reported), so that they do not
//! fall into step with the nodes' rounds.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use herald_light_client::certmail::{Letter, RequestTerms, SenderStep};
use serde::Serialize;

use super::{CommonArgs, Environment, Latency, scratch_dir, write_report};
use crate::load::Schedule;
use crate::party::{
    CHEAP_KDF, CLOCK_SKEW_SECS, MAX_MERGE_DELAY_SECS, Party, os_rng, polling, sender_config,
    unix_now,
};
use crate::testnet::{Testnet, TestnetOptions};

/// Alice's domain (X) and Bob's.
const SENDER: usize = 0;
const RECIPIENT: usize = 1;
/// Seconds from a request to its deadline T.
const DEADLINE_SECS: u64 = 120;
/// Bound on one message's publication or fetch, seconds.
const MESSAGE_BOUND_SECS: u64 = 30;
/// Messages sent first and not measured (connections and caches warm up).
const WARM_UP_MESSAGES: u64 = 2;
/// The target: median below 2 s with 250 ms sequencing.
const TARGET_P50_MS: f64 = 2000.0;

/// Options of `bench certmail`.
#[derive(Args, Debug, Clone)]
pub struct CertmailArgs {
    /// Letters measured (after two warm-up letters).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub messages: u64,
    /// Size of each letter's plaintext, bytes.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub message_bytes: u64,
    /// Every node's time between sequencing rounds.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub sequence_interval_ms: u64,
    /// Give up after this many seconds of measurement.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub max_seconds: u64,
    /// The options every run shares (report file, scratch directory).
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Serialize)]
struct CertmailReport {
    bench: &'static str,
    domains: usize,
    quorum: usize,
    sequence_interval_ms: u64,
    message_bytes: u64,
    messages_asked: u64,
    messages_delivered: usize,
    messages_failed: usize,
    first_failure: Option<String>,
    seed: u64,
    measured_seconds: f64,
    send_to_plaintext: Latency,
    send_to_evidence: Latency,
    target_p50_ms: f64,
    target_met: bool,
    environment: Environment,
}

/// What one letter took.
struct Delivered {
    to_plaintext: Duration,
    to_evidence: Duration,
}

pub(super) async fn run(args: CertmailArgs) -> anyhow::Result<()> {
    let dir = scratch_dir(&args.common, "certmail")?;
    let binary = std::env::current_exe().context("locating the herald-testnet executable")?;
    let options = TestnetOptions {
        sequence_interval: Duration::from_millis(args.sequence_interval_ms),
        log_level: "warn".into(),
        ..TestnetOptions::new(dir.join("net"), binary)
    };
    eprintln!("starting 3 domains ...");
    let mut net = Testnet::spawn(3, options).await?;
    let quorum = net.node(SENDER).config().quorum;
    let (mut alice, _) =
        Party::enrol(&net, SENDER, "alice@d0.test", &dir.join("alice"), CHEAP_KDF).await?;
    let (mut bob, _) =
        Party::enrol(&net, RECIPIENT, "bob@d1.test", &dir.join("bob"), CHEAP_KDF).await?;
    let bob_domain = net.log_trust(RECIPIENT)?;
    let binding = alice
        .binding(&net, RECIPIENT, bob.account(), &bob_domain)
        .await?;
    let x = net.location(SENDER, CLOCK_SKEW_SECS, MAX_MERGE_DELAY_SECS)?;
    bob.follow(&net, SENDER, x.log()).await?;
    let config = sender_config(x.clone(), vec![bob_domain], false);
    let alice_gateway = net.client(SENDER).await?;
    let bob_gateway = net.client(SENDER).await?;

    let plaintext: Vec<u8> = (0..args.message_bytes).map(|i| (i % 251) as u8).collect();
    let letter = Letter {
        recipient: bob.account().to_owned(),
        plaintext: plaintext.clone(),
        sign: true,
    };
    eprintln!(
        "sending {} letters ({} warm-up) ...",
        args.messages, WARM_UP_MESSAGES
    );
    let mut delivered = Vec::new();
    let mut failures = Vec::new();
    let mut measured_from = None;
    let seed = Schedule::fresh_seed();
    let mut schedule = Schedule::new(seed);
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    for n in 0..args.messages + WARM_UP_MESSAGES {
        if Instant::now() > deadline {
            break;
        }
        let pause = schedule.range(0, args.sequence_interval_ms);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if n == WARM_UP_MESSAGES {
            measured_from = Some(Instant::now());
        }
        let started = Instant::now();
        let outcome = async {
            // (a)
            let (msg_id, steps) = alice.mail().send(letter.clone(), &mut os_rng())?;
            let sealed = SenderStep::sealed_in(&steps)
                .context("no sealed message")?
                .to_vec();
            // (b)
            let now = unix_now();
            let terms = RequestTerms {
                deadline: now + DEADLINE_SECS,
                location: x.clone(),
                expect: None,
            };
            let made = bob.mail().request(&sealed, terms, now, &mut os_rng())?;
            // (c) and (d), concurrently.
            alice.mail().accept(
                &made.request,
                binding.material(),
                &config,
                unix_now(),
                &mut os_rng(),
            )?;
            let publishing = async {
                let steps = alice
                    .publish(&alice_gateway, &msg_id, &polling(MESSAGE_BOUND_SECS))
                    .await?;
                ensure!(
                    steps.iter().any(|s| matches!(s, SenderStep::Evidence(_))),
                    "no evidence: {steps:?}"
                );
                Ok(started.elapsed())
            };
            let fetching = async {
                let opened = bob
                    .fetch(&bob_gateway, &made.req_hash, &polling(MESSAGE_BOUND_SECS))
                    .await?;
                let at = started.elapsed();
                ensure!(opened.plaintext == plaintext, "Bob read another plaintext");
                Ok((at, opened.req_hash))
            };
            let (evidence, opened) = tokio::join!(publishing, fetching);
            let (to_plaintext, req_hash) = opened?;
            let to_evidence = evidence?;
            bob.mail().forget_request(&req_hash)?;
            anyhow::Ok(Delivered {
                to_plaintext,
                to_evidence,
            })
        }
        .await;
        match outcome {
            Ok(d) if n >= WARM_UP_MESSAGES => delivered.push(d),
            Ok(_) => {}
            Err(e) => {
                eprintln!("letter {n}: {e:#}");
                failures.push(format!("{e:#}"));
            }
        }
        if n > 0 && n % 25 == 0 {
            eprintln!("  {n} letters ...");
        }
    }
    let measured_seconds = measured_from.map_or(0.0, |t| t.elapsed().as_secs_f64());
    drop((alice_gateway, bob_gateway));
    for i in 0..net.len() {
        net.stop(i).await?;
    }
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);

    let to_plaintext: Vec<Duration> = delivered.iter().map(|d| d.to_plaintext).collect();
    let to_evidence: Vec<Duration> = delivered.iter().map(|d| d.to_evidence).collect();
    let latency = Latency::of(&to_plaintext);
    let report = CertmailReport {
        bench: "certmail",
        domains: 3,
        quorum,
        sequence_interval_ms: args.sequence_interval_ms,
        message_bytes: args.message_bytes,
        messages_asked: args.messages,
        messages_delivered: delivered.len(),
        messages_failed: failures.len(),
        first_failure: failures.first().cloned(),
        seed,
        measured_seconds,
        target_p50_ms: TARGET_P50_MS,
        target_met: latency.count > 0 && failures.is_empty() && latency.p50_ms < TARGET_P50_MS,
        send_to_plaintext: latency,
        send_to_evidence: Latency::of(&to_evidence),
        environment: Environment::now(),
    };
    let path = write_report(&args.common, "certmail", &report)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!("report written to {}", path.display());
    if report.messages_delivered == 0 {
        bail!("no letter was delivered");
    }
    Ok(())
}
