//! Certified mail while the faults happen: a sender in each domain writes, one letter after
//! another, to a recipient in the next domain, through the whole protocol with the light
//! client's steps (as `bench certmail` and the demo run them): (a) seal, (b) the recipient's
//! request with X = the sender's domain log, (c) accept and publish, (d) fetch, check and
//! decrypt, the last two concurrently as two people's clients would.
//!
//! Under faults a letter may stall, lapse or fail (a node is down, cosigning is blocked by a
//! partition, X equivocated): that is counted, not a violation. What must never happen is
//! counted as one: a recipient reading another plaintext than the one sealed, an evidence
//! bundle the sender's client accepted that an arbiter (proto's, offline, with its own key of
//! the recipient's domain) does not judge "received", and an honest log caught misbehaving by
//! the light client.
//!
//! Senders and recipients are distinct accounts (`s{i}@d{i}.test`, `r{i}@d{i}.test`), so that
//! each party is driven by exactly one task.

use std::path::Path;
use std::time::{Duration, Instant};

use herald_light_client::certmail::{
    CertifiedMailError, Letter, RequestTerms, SenderConfig, SenderStep,
};
use herald_light_client::{ClientError, VerifiedBindingAnswer, VerifyError};
use herald_proto::certmail::Location;
use herald_proto::evidence::{ArbiterContext, Conclusion, arbitrate_bytes};
use tokio::task::JoinSet;

use super::ledger::Check;
use super::traffic::Context;
use crate::party::{
    CHEAP_KDF, CLOCK_SKEW_SECS, MAX_MERGE_DELAY_SECS, Party, PartyError, os_rng, polling,
    sender_config, unix_now,
};
use crate::testnet::Testnet;

/// Seconds from a request to its deadline T: long enough to ride out a short fault.
const DEADLINE_SECS: u64 = 90;
/// Bound on one letter's publication and fetch, seconds.
const LETTER_BOUND_SECS: u64 = 100;

/// One sender and its recipient, enrolled and introduced.
#[derive(Debug)]
pub(super) struct Correspondence {
    /// The sender's domain (X is its log).
    sender_domain: usize,
    sender: Party,
    recipient: Party,
    /// X: the sender's domain log, as the recipient asks for it.
    x: Location,
    /// What the sender accepts.
    config: SenderConfig,
    /// The recipient's binding, verified by the sender in the recipient's domain log.
    binding: VerifiedBindingAnswer,
    /// The recipient's domain log, as an arbiter trusts it on its own.
    recipient_trust: herald_proto::inclusion::LogTrust,
}

/// Enrols a sender in every domain and a recipient in the next, has each sender look up its
/// recipient's binding and each recipient follow X (before any fault: `net` is needed).
pub(super) async fn introduce(
    net: &Testnet,
    home: &Path,
) -> Result<Vec<Correspondence>, PartyError> {
    let n = net.len();
    let mut pairs = Vec::with_capacity(n);
    for i in 0..n {
        let j = (i + 1) % n;
        let s_account = format!("s{i}@{}", net.node(i).domain());
        let r_account = format!("r{j}@{}", net.node(j).domain());
        let (sender, _) =
            Party::enrol(net, i, &s_account, &home.join(&s_account), CHEAP_KDF).await?;
        let (recipient, _) =
            Party::enrol(net, j, &r_account, &home.join(&r_account), CHEAP_KDF).await?;
        let recipient_trust = net.log_trust(j)?;
        let binding = sender
            .binding(net, j, recipient.account(), &recipient_trust)
            .await?;
        let x = net.location(i, CLOCK_SKEW_SECS, MAX_MERGE_DELAY_SECS)?;
        recipient.follow(net, i, x.log()).await?;
        let config = sender_config(x.clone(), vec![recipient_trust.clone()], false);
        pairs.push(Correspondence {
            sender_domain: i,
            sender,
            recipient,
            x,
            config,
            binding,
            recipient_trust,
        });
    }
    Ok(pairs)
}

/// Starts one task per correspondence.
pub(super) fn start(ctx: &Context, pairs: Vec<Correspondence>, tasks: &mut JoinSet<()>) {
    for pair in pairs {
        tasks.spawn(correspond(ctx.clone(), pair));
    }
}

/// Letters one after another until the stop signal.
async fn correspond(ctx: Context, mut pair: Correspondence) {
    let mut stop = ctx.stop.clone();
    let Some(target) = ctx.targets.get(pair.sender_domain).cloned() else {
        return;
    };
    let Some(sender_gateway) = target.connect_until(&mut stop).await else {
        return;
    };
    let Some(recipient_gateway) = target.connect_until(&mut stop).await else {
        return;
    };
    let honest = ctx.equivocator != Some(pair.sender_domain);
    let mut n: u64 = 0;
    while !stop.is_set() {
        n += 1;
        let plaintext = format!(
            "letter {n} from {} to {} (chaos seed {})",
            pair.sender.account(),
            pair.recipient.account(),
            ctx.seed
        )
        .into_bytes();
        // A letter still in flight when the run stops is abandoned, not counted.
        let outcome = tokio::select! {
            outcome = letter(&mut pair, &sender_gateway, &recipient_gateway, plaintext) => outcome,
            () = stop.given() => break,
        };
        ctx.ledger.letters(|l| l.sent += 1);
        let failed = outcome.fetched.is_err();
        let equivocated = outcome_equivocated(&outcome);
        record(&ctx, &pair, honest, outcome);
        if equivocated && !honest {
            // X is proven to have split its view: a sender's client would stop using it.
            ctx.ledger.letters(|l| l.senders_stopped += 1);
            break;
        }
        // After a failure (a node down, cosigning blocked) wait a little longer.
        let pause = if failed { 1_000 } else { 200 };
        if stop.sleep(Duration::from_millis(pause)).await {
            break;
        }
    }
}

/// Whether the letter failed because X was shown to equivocate.
fn outcome_equivocated(outcome: &Outcome) -> bool {
    let sides = [
        outcome.fetched.as_ref().err(),
        outcome.published.as_ref().and_then(|p| p.as_ref().err()),
    ];
    sides.into_iter().flatten().any(is_equivocated)
}

fn is_equivocated(e: &CertifiedMailError) -> bool {
    matches!(
        e,
        CertifiedMailError::Gateway(ClientError::Verification(v))
            if matches!(**v, VerifyError::Equivocated { .. })
    )
}

/// What became of one letter.
struct Outcome {
    /// The recipient's side: the time to the plaintext, or why not.
    fetched: Result<(Duration, bool), CertifiedMailError>,
    /// The sender's side: the evidence bundle, a lapse (`None`), or why not; `None` if the
    /// letter failed before publishing.
    published: Option<Result<Option<Vec<u8>>, CertifiedMailError>>,
}

async fn letter(
    pair: &mut Correspondence,
    sender_gateway: &herald_light_client::GatewayClient,
    recipient_gateway: &herald_light_client::GatewayClient,
    plaintext: Vec<u8>,
) -> Outcome {
    let started = Instant::now();
    let failed = |e: CertifiedMailError| Outcome {
        fetched: Err(e),
        published: None,
    };
    // (a)
    let letter = Letter {
        recipient: pair.recipient.account().to_owned(),
        plaintext: plaintext.clone(),
        sign: true,
    };
    let (msg_id, steps) = match pair.sender.mail().send(letter, &mut os_rng()) {
        Ok(sent) => sent,
        Err(e) => return failed(e),
    };
    let Some(sealed) = SenderStep::sealed_in(&steps).map(<[u8]>::to_vec) else {
        return failed(CertifiedMailError::WrongState {
            id: hex::encode(&msg_id),
            state: "sealed",
            input: "sending (no sealed message came out)",
        });
    };
    // (b)
    let now = unix_now();
    let terms = RequestTerms {
        deadline: now + DEADLINE_SECS,
        location: pair.x.clone(),
        expect: None,
    };
    let made = match pair
        .recipient
        .mail()
        .request(&sealed, terms, now, &mut os_rng())
    {
        Ok(made) => made,
        Err(e) => return failed(e),
    };
    // (c)
    if let Err(e) = pair.sender.mail().accept(
        &made.request,
        pair.binding.material(),
        &pair.config,
        unix_now(),
        &mut os_rng(),
    ) {
        return failed(e);
    }
    // (c) and (d), concurrently.
    let Correspondence {
        sender, recipient, ..
    } = pair;
    let publishing = async {
        let steps = sender
            .publish(sender_gateway, &msg_id, &polling(LETTER_BOUND_SECS))
            .await?;
        Ok(SenderStep::evidence_in(&steps).map(<[u8]>::to_vec))
    };
    let fetching = async {
        let opened = recipient
            .fetch(
                recipient_gateway,
                &made.req_hash,
                &polling(LETTER_BOUND_SECS),
            )
            .await?;
        Ok((started.elapsed(), opened.plaintext == plaintext))
    };
    let (published, fetched) = tokio::join!(publishing, fetching);
    // Keep the recipient's store small on long runs; a failure here changes nothing checked.
    let _ = recipient.mail().forget_request(&made.req_hash);
    Outcome {
        fetched,
        published: Some(published),
    }
}

fn record(ctx: &Context, pair: &Correspondence, honest: bool, outcome: Outcome) {
    let who = format!("{} → {}", pair.sender.account(), pair.recipient.account());
    match outcome.fetched {
        Ok((elapsed, true)) => ctx.ledger.letters(|l| {
            l.delivered += 1;
            l.delivery_ms.push(elapsed.as_secs_f64() * 1e3);
        }),
        Ok((_, false)) => ctx.ledger.violation(
            Check::Letters,
            format!("{who}: the recipient decrypted another plaintext than the one sealed"),
        ),
        Err(e) => failed(ctx, &who, honest, "fetch", &e),
    }
    match outcome.published {
        None => {}
        Some(Ok(Some(bundle))) => {
            let context = ArbiterContext {
                now: unix_now(),
                max_skew: CLOCK_SKEW_SECS,
                trusted_logs: vec![pair.recipient_trust.clone()],
                ..ArbiterContext::default()
            };
            match arbitrate_bytes(&bundle, &context) {
                Ok(verdict) if verdict.conclusion() == Conclusion::Received => {
                    ctx.ledger.letters(|l| l.evidence += 1)
                }
                Ok(verdict) => ctx.ledger.violation(
                    Check::Letters,
                    format!(
                        "{who}: the sender's evidence bundle is judged {:?}, not received",
                        verdict.conclusion()
                    ),
                ),
                Err(e) => ctx.ledger.violation(
                    Check::Letters,
                    format!("{who}: the sender's evidence bundle does not decode: {e}"),
                ),
            }
        }
        Some(Ok(None)) => ctx.ledger.letters(|l| l.lapsed += 1),
        Some(Err(e)) => failed(ctx, &who, honest, "publish", &e),
    }
}

/// Counts a failed step; a light-client verdict of misbehaviour against an honest X is a
/// violation (against the equivocating X it is the point).
fn failed(ctx: &Context, who: &str, honest: bool, step: &str, e: &CertifiedMailError) {
    let misbehaved = match e {
        CertifiedMailError::Gateway(c) => c.is_peer_misbehaviour(),
        _ => false,
    };
    let equivocated = is_equivocated(e);
    if misbehaved && honest {
        ctx.ledger.violation(
            Check::Letters,
            format!("{who}: {step}: the light client caught an honest log misbehaving: {e}"),
        );
    }
    let kind = match e {
        _ if equivocated => "X equivocated".to_owned(),
        CertifiedMailError::Gateway(c) => format!("{step}: {}", super::traffic::failure_kind(c)),
        CertifiedMailError::Refused(_) => format!("{step}: refused by the protocol"),
        _ => format!("{step}: other"),
    };
    ctx.ledger
        .letters(|l| *l.failed.entry(kind).or_default() += 1);
}
