//! `bench mail`: mail between two domains through their gateways (DESIGN §6 "mails/s between
//! two domains", issue 12 §7), with 250 ms sequencing.
//!
//! `--senders` accounts at d0 each send `--mails` mails, one after another, to the
//! `--recipients` accounts at d1 (sender `s`'s `k`-th mail to recipient `(s + k) % M`), each
//! send the light client's whole path: the prekey fetched through d0 from d1 and verified
//! against d1's log, the envelope sealed and signed, handed to d0, which answers once it is
//! durably queued and its acceptance logged, and relays it. Every recipient is logged in and
//! reads its mailbox as it fills, one request per cycle (`next_mails`): the mails read in the
//! previous cycle acknowledged, the mailbox listed (d1 holds an empty mailbox's listing until a
//! mail arrives, `wait_ms`, instead of the reader asking every 20 ms), and the listed backlog
//! fetched in the same answer (up to `MAX_FETCH_MAILS`; d1 logs each mail's handover first,
//! all in one round); then each distinct sender's binding from d0 with its proof, decryption
//! with the one-time prekey (or the fallback, once the uploaded ones are spent). The last
//! cycle's mails are acknowledged before the reader ends. A mail's latency runs from the start of its
//! send to its plaintext in the recipient's hands; every plaintext is compared with what was
//! sent (a difference fails the bench). mails/s is mails read over the time from the first
//! send to the last read.
//!
//! Every account is registered, every recipient's prekeys uploaded and both domains' bindings
//! cosigned before the clock starts. Passwords use the testnet's cheap Argon2id costs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use ed25519_dalek::SigningKey;
use herald_light_client::keystore::MemoryKeyStore;
use herald_light_client::{
    ClientError, Gateway as _, GatewayClient, LogTrust, MemorySessionStore, Session, SessionError,
    password_record, registration,
};
use herald_proto::paep::{MailContent, ReplayCache};
use herald_proto::wire::pb;
use serde::Serialize;

use super::cpu::{CpuPerOperation, CpuReading};
use super::{CommonArgs, Environment, Latency, scratch_dir, write_report};
use crate::testnet::{Testnet, TestnetOptions, testnet_password_params};

/// The benchmark accounts' password.
const PASSWORD: &[u8] = b"bench password, throwaway";
/// The sequencing interval the figures are for (issue 12 §7).
const SEQUENCING: Duration = Duration::from_millis(250);
/// Registrations in flight at once while setting up.
const SETUP_PARALLEL: usize = 32;
/// Allowed clock skew when verifying checkpoints (every node runs on this machine's clock).
const SKEW: u64 = 60;
/// A recipient's wait before it asks again after a refusal (PENDING, BUSY), or after an empty
/// answer its gateway did not hold (a gateway that does not wait).
const POLL: Duration = Duration::from_millis(20);
/// The largest `--body-bytes`: the largest mail content less room for its subject and framing.
const MAX_BODY_BYTES: i64 = herald_proto::wire::MAX_MAIL_PLAINTEXT_BYTES as i64 - 1024;
/// How long a recipient asks its gateway to hold an inbox request on an empty mailbox (the
/// long poll of `InboxRequest.wait_ms`): the answer comes as soon as a mail arrives.
const INBOX_WAIT: Duration = Duration::from_secs(2);
/// Bound on setup steps and on the whole measured run.
const SETUP_BOUND: Duration = Duration::from_secs(300);

/// Options of `bench mail`.
#[derive(Args, Debug, Clone)]
pub struct MailArgs {
    /// Sending accounts at d0, each one logged-in session sending one mail after another.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=2000))]
    pub senders: u16,
    /// Receiving accounts at d1, each one logged-in session reading its mailbox.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=2000))]
    pub recipients: u16,
    /// Mails each sender sends (at most 30: a gateway hands one sending account at most 30
    /// prekey bundles a minute).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u16).range(1..=30))]
    pub mails: u16,
    /// One-time prekeys each recipient uploads before the run (the rest use the fallback).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(0..=100))]
    pub prekeys: u16,
    /// Bytes of body per mail (`--size`): up to 8 MiB less the content's framing; a mail past
    /// 60 KiB travels in chunks on every hop (large mail).
    #[arg(long, alias = "size", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=MAX_BODY_BYTES))]
    pub body_bytes: u32,
    /// Bound on the measured run, seconds (a mail not read by then fails the bench).
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// The options every run shares (report file, scratch directory).
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The report.
#[derive(Debug, Serialize)]
struct MailReport {
    bench: &'static str,
    sequence_interval_ms: u64,
    senders: u16,
    recipients: u16,
    mails_per_sender: u16,
    one_time_prekeys_per_recipient: u16,
    body_bytes: u32,
    mails: usize,
    measured_seconds: f64,
    mails_per_s: f64,
    /// Body bytes read over the measured time, MiB/s.
    body_mib_per_s: f64,
    /// From the start of a send to the recipient's verified plaintext.
    send_to_plaintext: Latency,
    /// From the start of a send to the sender's gateway's acceptance.
    send_to_accepted: Latency,
    /// Sends answered PENDING / BUSY / RATE_LIMITED and retried.
    send_retries: u64,
    /// Reads answered PENDING / BUSY and retried.
    read_retries: u64,
    /// The readers' `next_mails` requests answered, all recipients together (each one cycle:
    /// acknowledge, list, fetch), and those of them that fetched a mail; a cycle's other
    /// request is `sender_bindings` for senders its session has not verified yet.
    read_cycles: u64,
    read_cycles_with_mail: u64,
    /// CPU (user + system) per mail of the bench client and each node over the measured run:
    /// independent of the machine's load, unlike mails/s (none where `/proc` is not readable).
    cpu_ms_per_mail: Option<CpuPerOperation>,
    environment: Environment,
}

/// What was sent, for the recipient to compare with.
struct Sent {
    started: Instant,
    plaintext: Vec<u8>,
}

type Ledger = Arc<Mutex<HashMap<Vec<u8>, Sent>>>;

pub(super) async fn run(args: MailArgs) -> anyhow::Result<()> {
    let dir = scratch_dir(&args.common, "mail")?;
    let binary = std::env::current_exe().context("locating the herald-testnet executable")?;
    let options = TestnetOptions {
        sequence_interval: SEQUENCING,
        log_level: "error".into(),
        unlimited_submissions: true,
        ..TestnetOptions::new(&dir, binary)
    };
    let mut testnet = Testnet::spawn(2, options).await?;
    let result = measure(&testnet, &args).await;
    testnet.stop(1).await?;
    testnet.stop(0).await?;
    drop(testnet);
    let _ = std::fs::remove_dir_all(&dir);
    let report = result?;
    let path = write_report(&args.common, "mail", &report)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!("report written to {}", path.display());
    Ok(())
}

fn sender(i: usize) -> String {
    format!("s{i}@d0.test")
}

fn recipient(i: usize) -> String {
    format!("r{i}@d1.test")
}

/// A distinct identity key per account.
fn identity(account: &str) -> anyhow::Result<MemoryKeyStore> {
    let seed: [u8; 32] = *blake3::hash(account.as_bytes()).as_bytes();
    Ok(MemoryKeyStore::with_identity(
        account,
        SigningKey::from_bytes(&seed),
    )?)
}

/// Enrols and registers `account` at node `i` over `client`; its key store.
async fn register(
    net: &Testnet,
    client: &GatewayClient,
    i: usize,
    account: String,
) -> anyhow::Result<MemoryKeyStore> {
    let code = net.node(i).enrol(&account, None).await?.enrolment_code;
    let mut keys = identity(&account)?;
    let record = password_record(PASSWORD, &account, testnet_password_params()).await?;
    client
        .register(registration(&mut keys, &code, record)?)
        .await
        .with_context(|| format!("registering {account}"))?;
    Ok(keys)
}

/// Registers `accounts` at node `i`, `SETUP_PARALLEL` at once over one connection (a node
/// refuses many handshakes from one address at once); their key stores in order.
async fn register_all(
    net: &Testnet,
    i: usize,
    accounts: Vec<String>,
) -> anyhow::Result<Vec<MemoryKeyStore>> {
    use futures::StreamExt as _;
    let client = net.client(i).await?;
    let client = &client;
    futures::stream::iter(accounts)
        .map(|account| register(net, client, i, account))
        .buffered(SETUP_PARALLEL)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Waits (bounded) until node `i` serves `account`'s binding (cosigned): every account
/// registered before it is then served too.
async fn served(net: &Testnet, i: usize, account: &str) -> anyhow::Result<()> {
    let client = net.client(i).await?;
    let deadline = Instant::now() + SETUP_BOUND;
    loop {
        match client.binding(account).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => bail!("{account}'s binding not served in time: {e}"),
        }
    }
}

/// Whether `e` is a refusal that passes with time (PENDING, BUSY, RATE_LIMITED).
fn passing(e: &SessionError) -> bool {
    matches!(e, SessionError::Gateway(ClientError::Refused(r)) if matches!(
        r.kind,
        pb::ClientErrorKind::Pending | pb::ClientErrorKind::Busy | pb::ClientErrorKind::RateLimited
    ))
}

async fn login(
    client: &GatewayClient,
    account: &str,
) -> anyhow::Result<Session<MemorySessionStore>> {
    Session::login(client, account, PASSWORD, MemorySessionStore::new())
        .await
        .with_context(|| format!("logging in {account}"))
}

/// The content of sender `s`'s `k`-th mail: distinct per mail, `body_bytes` long.
fn content(s: usize, k: usize, body_bytes: usize) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let msg_id = format!("bench-{s}-{k}").into_bytes();
    let mut body = format!("mail {k} of sender {s}: ").into_bytes();
    let fill = blake3::hash(&msg_id);
    while body.len() < body_bytes {
        body.extend_from_slice(fill.to_hex().as_bytes());
    }
    body.truncate(body_bytes);
    let plaintext = MailContent::build(&format!("bench {s}/{k}"), &body, vec![])?;
    Ok((msg_id, plaintext))
}

struct Figures {
    seconds: f64,
    latencies: Vec<Duration>,
    accepted: Vec<Duration>,
    send_retries: u64,
    read_retries: u64,
    cycles: (u64, u64),
    cpu: Option<CpuPerOperation>,
}

async fn measure(net: &Testnet, args: &MailArgs) -> anyhow::Result<MailReport> {
    let (n, m, per) = (
        usize::from(args.senders),
        usize::from(args.recipients),
        usize::from(args.mails),
    );
    eprintln!("registering {m} recipients at d1 and {n} senders at d0 ...");
    let recipient_keys = register_all(net, 1, (0..m).map(recipient).collect()).await?;
    let sender_keys = register_all(net, 0, (0..n).map(sender).collect()).await?;
    served(net, 1, &recipient(m - 1)).await?;
    served(net, 0, &sender(n - 1)).await?;
    let trusts = Arc::new(vec![net.log_trust(0)?, net.log_trust(1)?]);

    eprintln!(
        "logging in and uploading {} prekeys per recipient ...",
        args.prekeys
    );
    let mut readers = Vec::with_capacity(m);
    for (r, mut keys) in recipient_keys.into_iter().enumerate() {
        let client = net.client(1).await?;
        let mut session = login(&client, &recipient(r)).await?;
        session
            .upload_prekeys(&client, &mut keys, usize::from(args.prekeys), false)
            .await
            .with_context(|| format!("uploading {}'s prekeys", recipient(r)))?;
        readers.push((client, session, keys));
    }
    let mut writers = Vec::with_capacity(n);
    for (s, keys) in sender_keys.into_iter().enumerate() {
        let client = net.client(0).await?;
        let session = login(&client, &sender(s)).await?;
        writers.push((client, session, keys));
    }
    // How many mails each recipient will read.
    let mut expected = vec![0usize; m];
    for s in 0..n {
        for k in 0..per {
            expected[(s + k) % m] += 1;
        }
    }

    eprintln!(
        "sending {} mails ({n} senders x {per}) to {m} recipients ...",
        n * per
    );
    let ledger: Ledger = Arc::new(Mutex::new(HashMap::with_capacity(n * per)));
    let bound = Duration::from_secs(args.timeout);
    let mut processes = vec![("bench".to_owned(), std::process::id())];
    for (i, node) in net.nodes().iter().enumerate() {
        processes.extend(node.pid().map(|pid| (format!("d{i}"), pid)));
    }
    let cpu_before = CpuReading::now(&processes);
    let start = Instant::now();
    let mut read_tasks = Vec::with_capacity(m);
    for (r, (client, session, keys)) in readers.into_iter().enumerate() {
        let (ledger, trusts, want) = (ledger.clone(), trusts.clone(), expected[r]);
        read_tasks.push(tokio::spawn(async move {
            read_all(client, session, keys, &trusts, want, &ledger, start + bound).await
        }));
    }
    let mut send_tasks = Vec::with_capacity(n);
    for (s, (client, session, keys)) in writers.into_iter().enumerate() {
        let (ledger, trusts, body) = (ledger.clone(), trusts.clone(), args.body_bytes as usize);
        send_tasks.push(tokio::spawn(async move {
            send_all(
                client,
                session,
                keys,
                &trusts,
                (s, per, m, body),
                &ledger,
                start + bound,
            )
            .await
        }));
    }
    let mut accepted = Vec::with_capacity(n * per);
    let mut send_retries = 0;
    for task in send_tasks {
        let (times, retries) = task.await.context("send task")??;
        accepted.extend(times);
        send_retries += retries;
    }
    let mut latencies = Vec::with_capacity(n * per);
    let (mut read_retries, mut cycles) = (0, (0, 0));
    for task in read_tasks {
        let (times, retries, (all, with_mail)) = task.await.context("read task")??;
        latencies.extend(times);
        read_retries += retries;
        cycles = (cycles.0 + all, cycles.1 + with_mail);
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = cpu_before.per_operation(latencies.len());
    ensure!(
        latencies.len() == n * per,
        "{} mails read of {} sent",
        latencies.len(),
        n * per
    );
    let figures = Figures {
        seconds,
        latencies,
        accepted,
        send_retries,
        read_retries,
        cycles,
        cpu,
    };
    Ok(MailReport {
        bench: "mail",
        sequence_interval_ms: SEQUENCING.as_millis() as u64,
        senders: args.senders,
        recipients: args.recipients,
        mails_per_sender: args.mails,
        one_time_prekeys_per_recipient: args.prekeys,
        body_bytes: args.body_bytes,
        mails: figures.latencies.len(),
        measured_seconds: figures.seconds,
        mails_per_s: figures.latencies.len() as f64 / figures.seconds,
        body_mib_per_s: (figures.latencies.len() as f64 * f64::from(args.body_bytes))
            / figures.seconds
            / (1024.0 * 1024.0),
        send_to_plaintext: Latency::of(&figures.latencies),
        send_to_accepted: Latency::of(&figures.accepted),
        send_retries: figures.send_retries,
        read_retries: figures.read_retries,
        read_cycles: figures.cycles.0,
        read_cycles_with_mail: figures.cycles.1,
        cpu_ms_per_mail: figures.cpu,
        environment: Environment::now(),
    })
}

/// Sender `s` sends its `per` mails to recipients `(s + k) % m`, one after another; the time
/// of each send to its acceptance, and the retries.
async fn send_all(
    client: GatewayClient,
    mut session: Session<MemorySessionStore>,
    mut keys: MemoryKeyStore,
    trusts: &[LogTrust],
    (s, per, m, body): (usize, usize, usize, usize),
    ledger: &Ledger,
    deadline: Instant,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let mut times = Vec::with_capacity(per);
    let mut retries = 0;
    for k in 0..per {
        let to = recipient((s + k) % m);
        let (msg_id, plaintext) = content(s, k, body)?;
        let started = Instant::now();
        ledger
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                msg_id.clone(),
                Sent {
                    started,
                    plaintext: plaintext.clone(),
                },
            );
        loop {
            let now = crate::party::unix_now();
            match session
                .send_mail(
                    &client, &mut keys, &to, trusts, &msg_id, &plaintext, 0, now, SKEW,
                )
                .await
            {
                Ok(accepted) => {
                    ensure!(accepted.msg_id == msg_id, "acceptance of another mail");
                    times.push(started.elapsed());
                    break;
                }
                Err(e) if passing(&e) && Instant::now() < deadline => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("{} sending to {to}", sender(s)))
                    );
                }
            }
        }
    }
    Ok((times, retries))
}

/// A recipient reads `want` mails as they arrive, one request per cycle (`next_mails`: the
/// previous cycle's mails acknowledged, the mailbox listed, its first mails fetched); each
/// one's time from its send to its plaintext, checked against what was sent, the retries, and
/// the cycles (all, and those that fetched a mail).
async fn read_all(
    client: GatewayClient,
    mut session: Session<MemorySessionStore>,
    mut keys: MemoryKeyStore,
    trusts: &[LogTrust],
    want: usize,
    ledger: &Ledger,
    deadline: Instant,
) -> anyhow::Result<(Vec<Duration>, u64, (u64, u64))> {
    let mut replay = ReplayCache::new();
    let mut cycles = (0, 0);
    let mut times = Vec::with_capacity(want);
    let mut retries = 0;
    let account = session.account().to_owned();
    // Read in the previous cycle, acknowledged in the next request (sent again until one is
    // answered: a deleted mail then comes back missing).
    let mut read: Vec<u64> = Vec::new();
    while times.len() < want {
        ensure!(
            Instant::now() < deadline,
            "{account}: {} of {want} mails read in time",
            times.len()
        );
        let asked = Instant::now();
        let now = crate::party::unix_now();
        let cycle = match session
            .next_mails(
                &client,
                &mut keys,
                &read,
                INBOX_WAIT,
                trusts,
                &mut replay,
                now,
                SKEW,
            )
            .await
        {
            Ok(cycle) => cycle,
            Err(e) if passing(&e) => {
                retries += 1;
                tokio::time::sleep(POLL).await;
                continue;
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("{account}: next mails"))),
        };
        read.clear();
        cycles.0 += 1;
        if !cycle.batch.read.is_empty() {
            cycles.1 += 1;
        }
        if cycle.inbox.entries.is_empty() {
            if asked.elapsed() < POLL {
                tokio::time::sleep(POLL).await;
            }
            continue;
        }
        for (id, mail) in cycle.batch.read {
            let mail = match mail {
                Ok(mail) => mail,
                Err(e) if passing(&e) => {
                    retries += 1;
                    continue;
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!("{account}: reading mail")));
                }
            };
            let read_at = Instant::now();
            let sent = ledger
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&mail.opened.msg_id);
            let Some(sent) = sent else {
                bail!("{account}: a mail that was not sent (or read twice)");
            };
            ensure!(
                mail.opened.plaintext == sent.plaintext,
                "{account}: mail {:?} decrypted to something else than was sent",
                String::from_utf8_lossy(&mail.opened.msg_id)
            );
            times.push(read_at.duration_since(sent.started));
            read.push(id);
        }
    }
    if !read.is_empty() {
        session
            .acknowledge_mails(&client, &read)
            .await
            .with_context(|| format!("{account}: acknowledging"))?;
    }
    Ok((times, retries, cycles))
}
