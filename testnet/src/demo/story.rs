//! The demo's story, step by step: three domains, two accounts logged in to their gateways, the
//! four steps of certified mail with the sealed letter and the key request travelling as mail
//! through the gateways (issue 12 §4, §6), the evidence timeline of both domains, the evidence
//! bundle judged offline, and two forgeries rejected.
//!
//! Every step is the light client's or proto's, exactly as the `herald` CLI runs them; this
//! file only calls them in order and says what each established and on which proof.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use herald_light_client::certmail::{
    Arrival, Delivery, Letter, RequestTerms, SenderStep, decode_request,
};
use herald_light_client::keystore::KdfParams;
use herald_light_client::{CheckedTrustList, CheckpointStore as _};
use herald_proto::certmail::{Location, content_hash};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::evidence::{
    ArbiterContext, Conclusion, Outcome, Verdict, arbitrate, decode_bundle,
};
use herald_proto::inclusion::LogTrust;
use herald_proto::note::b64;
use herald_proto::wire::pb::{self, evidence_bundle};

use super::Started;
use super::narration::{
    Narrator, cosigners, deciding_detail, policy, short, tree, verdict_checks, verdict_summary,
};
use crate::party::{
    CLOCK_SKEW_SECS, MAX_MERGE_DELAY_SECS, Party, earliest_deadline, polling, sender_config,
    unix_now,
};
use crate::postbox::{PREKEYS, Postbox, timeline};
use crate::testnet::{Testnet, TestnetOptions};

/// Alice's domain (X) and Bob's.
const ALICE: usize = 0;
const BOB: usize = 1;
/// Seconds from Bob's request to his deadline T.
const DEADLINE_SECS: u64 = 60;
/// Bound on a publication or a fetch.
const POLL_SECS: u64 = 30;
/// The letter.
const MESSAGE: &str =
    "Dear Bob, the signed contract is attached. Payment of 1,000 € is due on 1 March. — Alice";

/// Tells the whole story with the testnet in `dir`; records every node process it starts in
/// `started`. Stops the nodes cleanly at the end; on an error the testnet is dropped, which
/// kills them.
pub(super) async fn tell(
    dir: &Path,
    binary: std::path::PathBuf,
    sequence_interval: Duration,
    started: &Started,
) -> anyhow::Result<()> {
    let mut say = Narrator::default();
    let mut net = three_domains(&mut say, dir, binary, sequence_interval, started).await?;
    let (mut alice, mut bob) = accounts(&mut say, &net, dir).await?;
    let (x, offered, bob_domain) = trust(&mut say, &net, &alice, &bob).await?;

    say.step("Alice looks up Bob's key in his domain's log");
    let binding = alice
        .binding(&net, BOB, bob.account(), &bob_domain)
        .await
        .context("Bob's binding at d1.test")?;
    let b = binding.binding();
    say.say(format!(
        "IK_B = {} bound to {} at index {} of {}",
        b64(b.identity_key()),
        b.account(),
        b.index(),
        tree(b.checkpoint().checkpoint())
    ));
    say.say(cosigners(b.checkpoint(), None));
    say.say("verified: gateway signature on the binding, inclusion proof, the other domains' cosignatures");
    let followed = bob
        .follow(&net, ALICE, x.log())
        .await
        .context("Bob follows d0.test's log")?;
    say.say(format!(
        "Bob notes X's latest cosigned checkpoint, {}: his reference for consistency later",
        tree(&followed)
    ));

    say.step("Both log in to their own gateway; their certified mail travels as mail");
    let mut alice_box = Postbox::open(&net, &mut alice)
        .await
        .context("Alice's login at d0.test")?;
    let mut bob_box = Postbox::open(&net, &mut bob)
        .await
        .context("Bob's login at d1.test")?;
    say.say(format!(
        "Alice and Bob log in with their passwords (PAEP) and each uploads {PREKEYS} one-time prekeys, made inside the key store"
    ));
    say.say(
        "no file passes between them: each message below is a mail, relayed between the gateways",
    );

    say.step("(a) Alice seals the letter for Bob and mails it");
    let letter = Letter {
        recipient: bob.account().to_owned(),
        plaintext: MESSAGE.as_bytes().to_vec(),
        sign: true,
    };
    let msg_id = alice_box
        .send_letter(&mut alice, letter)
        .await
        .context("sealing and mailing the letter")?;
    say.say(format!("M = {MESSAGE:?} ({} bytes)", MESSAGE.len()));
    say.say(format!(
        "Alice → d0.test → d1.test → Bob's mailbox: a mail (msg_id {}) whose content carries the sealed message; K stays with Alice",
        short(&msg_id)
    ));
    match bob_box
        .next_arrival(&mut bob, None)
        .await
        .context("Bob's mailbox")?
    {
        Arrival::Offered { sender, .. } => say.say(format!(
            "Bob reads his mailbox: a certified letter from {sender} (sig_A checked under {sender}'s binding proven from d0.test's log); kept, acknowledged"
        )),
        other => bail!("Bob's mailbox held something else: {other:?}"),
    }
    let message = bob.mail_ref().offer(&msg_id).context("Bob's offer")?;
    say.say(format!(
        "C = ChaCha20-Poly1305(K, AD = msg_id, M): {} bytes, H(C) = {}",
        message.ciphertext.len(),
        b64(&content_hash(&message.ciphertext))
    ));
    say.say(format!(
        "c_K = {} commits to K; msg_id {}; signed by IK_A",
        b64(&message.key_commitment),
        short(&msg_id)
    ));

    say.step("(b) Bob asks for the key, to be published at X by T, and mails the request to Alice");
    let now = unix_now();
    let terms = RequestTerms {
        deadline: now + DEADLINE_SECS,
        location: x.clone(),
        expect: None,
    };
    let made = bob_box
        .request_key(&mut bob, &msg_id, terms)
        .await
        .context("Bob's request")?;
    let request = decode_request(&made.request)?;
    let body = request.request.clone().unwrap_or_default();
    // T + δ: the latest cosignature time that counts.
    let limit = x.publication_limit(body.deadline);
    say.say(format!(
        "X = {}, δ = {} s, MMD = {} s",
        policy(x.log()),
        x.clock_skew(),
        x.max_merge_delay()
    ));
    say.say(format!(
        "T = {} (created {} + {DEADLINE_SECS} s); T + δ = {}",
        body.deadline, body.created, limit
    ));
    say.say(format!(
        "H(C) and c_K as received; a fresh key P_req = {}; signed by IK_B",
        b64(&body.request_key)
    ));
    say.say(format!(
        "req_hash = H(req ‖ sig_B) = {}",
        b64(&made.req_hash)
    ));
    say.say("Bob → d1.test → d0.test → Alice's mailbox: the signed request, as mail");

    say.step("(c) Alice checks the request and publishes the key at X");
    let config = sender_config(offered, vec![bob_domain.clone()], false);
    let steps = match alice_box
        .next_arrival(&mut alice, Some(&config))
        .await
        .context("Alice's mailbox")?
    {
        Arrival::Accepted { steps, .. } => steps,
        other => bail!("Alice's mailbox held something else: {other:?}"),
    };
    let leaf = SenderStep::publication_in(&steps)
        .context("accepted, but no publication to make")?
        .1
        .to_vec();
    say.say("Alice reads her mailbox: Bob's request; she fetches Bob's binding from d1.test through her gateway, with its proof");
    say.say("accepted: sig_B verifies under IK_B, which was bound to Bob when he signed");
    say.say(format!(
        "          H(C), c_K and msg_id are her letter's; T ≥ now + MMD + witness period + margin = {}",
        earliest_deadline(unix_now())
    ));
    say.say(format!(
        "KeyPublication leaf ({} bytes): req_hash, H(C), A_eph, K wrapped to P_req, signed by IK_A",
        leaf.len()
    ));
    let started_at = Instant::now();
    let steps = alice
        .publish(net.client(ALICE).await?, &msg_id, &polling(POLL_SECS))
        .await
        .context("publishing at d0.test")?;
    let bundle = SenderStep::evidence_in(&steps)
        .with_context(|| format!("no evidence: {steps:?}"))?
        .to_vec();
    let published = publication(&bundle)?;
    let proven = x
        .log()
        .verify_included(&published, limit, unix_now(), x.clock_skew())
        .context("the bundle's publication")?;
    say.say(format!(
        "d0.test logged it at index {}; {} ms later it was in {}",
        proven.index(),
        started_at.elapsed().as_millis(),
        tree(proven.checkpoint().checkpoint())
    ));
    say.say(cosigners(proven.checkpoint(), Some(limit)));
    say.say(format!(
        "inclusion proof: {} hashes from leaf {} to that root; consistent with Alice's last trusted checkpoint",
        published.proof.as_ref().map_or(0, |p| p.hashes.len()),
        proven.index()
    ));
    let file = dir.join("evidence.bundle");
    // The bundle holds the letter and its key: written 0600 (in the demo's 0700 directory),
    // atomically and durably, as `herald cm evidence` writes it.
    herald_light_client::durable_file::replace(&file, &bundle)
        .with_context(|| format!("writing {}", file.display()))?;
    let mode = std::fs::metadata(&file)
        .with_context(|| format!("reading {}", file.display()))?
        .permissions()
        .mode()
        & 0o777;
    say.say(format!(
        "Alice keeps the evidence bundle: {} ({} bytes, mode {mode:o}: M, K, a, C, req, sig_B, Bob's binding, the leaf and its proof)",
        file.display(),
        bundle.len()
    ));

    say.step("(d) Bob finds the key at X and opens the letter");
    let opened = bob
        .fetch(
            &net.client(ALICE).await?,
            &made.req_hash,
            &polling(POLL_SECS),
        )
        .await
        .context("Bob's fetch at d0.test")?;
    let Delivery::Published { index, on_time } = opened.delivery else {
        bail!("the key came another way: {:?}", opened.delivery);
    };
    let now_trusted = bob
        .checkpoints()
        .load(x.origin())?
        .map(|note| VerifiedCheckpoint::verify(&note, x.log().log()))
        .transpose()?
        .context("Bob trusts no checkpoint of X")?;
    say.say(format!(
        "lookup by req_hash: leaf {index}, cosigned as X requires{}",
        if on_time { ", by T + δ" } else { ", but LATE" }
    ));
    say.say(format!(
        "consistency proof from size {} to {}: Bob now trusts {}",
        followed.size(),
        now_trusted.size(),
        tree(&now_trusted)
    ));
    say.say("unwrapped K with P_req's secret; K matches c_K; Dec_K(C):");
    say.detail(format!("{:?}", String::from_utf8_lossy(&opened.plaintext)));
    ensure!(
        opened.plaintext == MESSAGE.as_bytes(),
        "Bob read something else"
    );
    bob.mail().forget_request(&made.req_hash)?;

    timelines(&mut say, &net, &alice, &msg_id).await?;

    let context = ArbiterContext {
        now: unix_now(),
        max_skew: CLOCK_SKEW_SECS,
        // The arbiter's own copy of Bob's domain log: the keys the testnet made.
        trusted_logs: vec![net.log_trust(BOB)?],
        ..ArbiterContext::default()
    };
    say.step(
        "An arbiter judges the bundle offline (no network: the file and his own key of d1.test)",
    );
    let read = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let verdict = judge(&read, &context)?;
    say.say(verdict_summary(&verdict));
    for line in verdict_checks(&verdict) {
        say.detail(line);
    }
    ensure!(
        verdict.conclusion() == Conclusion::Received,
        "the honest bundle was not judged received"
    );

    say.step("Forged bundles are rejected");
    let mut flipped = decode_bundle(&read)?;
    let middle = flipped.ciphertext.len() / 2;
    flipped.ciphertext[middle] ^= 0x01;
    forged(
        &say,
        &format!("one bit of C flipped (byte {middle})"),
        &flipped,
        &context,
    )?;
    let mut claimed = decode_bundle(&read)?;
    claimed.plaintext = MESSAGE.replace("1,000", "10,000").into_bytes();
    forged(
        &say,
        "Alice claims she sent \"10,000 €\" instead",
        &claimed,
        &context,
    )?;

    say.step("Stopping the testnet");
    for i in 0..net.len() {
        net.stop(i).await?;
    }
    say.say("every node stopped cleanly (SIGTERM)");
    Ok(())
}

/// Step 1: three domains, each witnessing the other two.
async fn three_domains(
    say: &mut Narrator,
    dir: &Path,
    binary: std::path::PathBuf,
    sequence_interval: Duration,
    started: &Started,
) -> anyhow::Result<Testnet> {
    say.step("Three gateway domains on 127.0.0.1, each a herald-node process");
    let options = TestnetOptions {
        sequence_interval,
        log_level: "warn".into(),
        ..TestnetOptions::new(dir.join("net"), binary)
    };
    let net = Testnet::spawn(3, options)
        .await
        .context("starting 3 domains")?;
    for node in net.nodes() {
        let pid = node.pid().unwrap_or(0);
        if let Ok(mut pids) = started.lock() {
            pids.push(pid);
        }
        say.say(format!("{} (pid {pid})", node.domain()));
        say.detail(format!("log key     {}", node.log_key()));
        say.detail(format!("witness key {}", node.witness_key()));
    }
    say.say(format!(
        "each registered the other two as peers: it cosigns their checkpoints and they cosign its own ({} ms sequencing)",
        sequence_interval.as_millis()
    ));
    Ok(net)
}

/// Step 2: alice@d0.test and bob@d1.test, enrolled and registered.
async fn accounts(say: &mut Narrator, net: &Testnet, dir: &Path) -> anyhow::Result<(Party, Party)> {
    say.step("Two accounts in different domains");
    let mut parties = Vec::new();
    for (i, name) in [(ALICE, "alice"), (BOB, "bob")] {
        let account = format!("{name}@{}", net.node(i).domain());
        let (party, enrolled) = Party::enrol(net, i, &account, &dir.join(name), KdfParams::DEFAULT)
            .await
            .with_context(|| format!("enrolling {account}"))?;
        let entry = &enrolled.registered.entry;
        say.say(format!(
            "{}'s operator enrols {account}: one-time code {}",
            net.node(i).domain(),
            enrolled.code
        ));
        say.detail(format!(
            "{name} makes an identity key in an encrypted key store ({}) and registers it with the code",
            enrolled.key_store.display()
        ));
        say.detail(format!(
            "→ IdentityBinding of IK = {} at index {} of {}",
            b64(&enrolled.registered.binding.identity_key),
            entry.index(),
            tree(entry.inclusion().checkpoint())
        ));
        parties.push(party);
    }
    let bob = parties.pop().context("two parties")?;
    let alice = parties.pop().context("two parties")?;
    Ok((alice, bob))
}

/// Step 3: what each gateway trusts; X as Bob asks it, the location Alice offers, and Bob's
/// domain as Alice checks it — each from the party's own gateway's trust list, as
/// `herald log trust` writes them, and each compared with the testnet's own knowledge.
async fn trust(
    say: &mut Narrator,
    net: &Testnet,
    alice: &Party,
    bob: &Party,
) -> anyhow::Result<(Location, Location, LogTrust)> {
    say.step("Each asks its own gateway which logs it trusts");
    let alices = alice
        .trust_list(net)
        .await
        .context("d0.test's trust list")?;
    let bobs = bob.trust_list(net).await.context("d1.test's trust list")?;
    for (who, list) in [("Alice (d0.test)", &alices), ("Bob (d1.test)", &bobs)] {
        say.say(format!("{who}: own {}", policy(&list.own)));
        for peer in &list.peers {
            say.detail(format!("peer {}", policy(peer)));
        }
    }
    let x_log = listed(&bobs, "d0.test/herald")?;
    let bob_domain = listed(&alices, "d1.test/herald")?;
    ensure!(
        x_log == net.log_trust(ALICE)? && bob_domain == net.log_trust(BOB)?,
        "a gateway's trust list differs from the keys the testnet made"
    );
    say.say("both agree with the keys the testnet generated for each domain");
    let x = Location::new(x_log, CLOCK_SKEW_SECS, MAX_MERGE_DELAY_SECS)?;
    let offered = Location::new(alices.own.clone(), CLOCK_SKEW_SECS, MAX_MERGE_DELAY_SECS)?;
    Ok((x, offered, bob_domain))
}

fn listed(list: &CheckedTrustList, origin: &str) -> anyhow::Result<LogTrust> {
    std::iter::once(&list.own)
        .chain(&list.peers)
        .find(|t| t.origin() == origin)
        .cloned()
        .with_context(|| format!("{origin} is not in the trust list"))
}

/// The publication leaf of a bundle.
fn publication(bundle: &[u8]) -> anyhow::Result<pb::IncludedLeaf> {
    match decode_bundle(bundle)?.delivery {
        Some(evidence_bundle::Delivery::Publication(p)) => p.leaf.context("no leaf"),
        other => bail!("not a publication bundle: {other:?}"),
    }
}

/// What `herald verify-evidence` does with a file: decode (size limit, version), arbitrate.
fn judge(bytes: &[u8], context: &ArbiterContext) -> anyhow::Result<Verdict> {
    Ok(arbitrate(&decode_bundle(bytes)?, context))
}

/// Judges a forged bundle and says why it was rejected; an error if it was not.
fn forged(
    say: &Narrator,
    what: &str,
    bundle: &pb::EvidenceBundle,
    context: &ArbiterContext,
) -> anyhow::Result<()> {
    let verdict = judge(&bundle.to_file_bytes(), context)?;
    say.say(format!("{what}:"));
    say.detail(verdict_summary(&verdict));
    say.detail(format!("because: {}", deciding_detail(&verdict)));
    ensure!(
        verdict.outcome == Outcome::NotShown,
        "a forged bundle ({what}) was judged received"
    );
    Ok(())
}

/// The evidence timeline of both domains for the sealed letter's mail: each gateway's
/// delivery-status records (DESIGN §3.4), proven in a checkpoint cosigned as its log requires
/// and trusted by Alice, as `herald status` prints them.
async fn timelines(
    say: &mut Narrator,
    net: &Testnet,
    alice: &Party,
    msg_id: &[u8],
) -> anyhow::Result<()> {
    say.step("The evidence timeline of both domains (delivery status of the letter's mail)");
    for (domain, count) in [(ALICE, 1), (BOB, 3)] {
        let status = timeline(net, alice, domain, msg_id, count)
            .await
            .with_context(|| format!("the evidence of {}", net.node(domain).domain()))?;
        let cp = status.checkpoint.checkpoint();
        say.say(format!(
            "{}: {} record{} of msg_id {}, proven in {}",
            net.node(domain).domain(),
            status.records.len(),
            if status.records.len() == 1 { "" } else { "s" },
            short(msg_id),
            tree(cp)
        ));
        for r in &status.records {
            say.detail(format!(
                "{:<14} at {}  leaf {} ({}), inclusion proof of {} hashes",
                r.record
                    .kind
                    .as_str_name()
                    .trim_start_matches("EVIDENCE_KIND_"),
                r.record.time,
                r.index,
                b64(&r.leaf_hash),
                r.path.len()
            ));
        }
        say.detail(cosigners(&status.checkpoint, None));
    }
    say.say("the sender and recipient appear only as salted commitments; a party to the mail can open them");
    Ok(())
}
