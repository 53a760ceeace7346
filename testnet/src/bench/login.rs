//! `bench login`: PAEP logins per second over `/herald/client/1` on loopback, against one real
//! node process (DESIGN §6 "PAEP logins/s").
//!
//! `--clients` connections (each its own libp2p peer) each keep `--inflight` logins going for
//! `--seconds`, every slot with an account of its own (a peer's attempts are per account). A
//! login is the two round trips of SPAKE2+ — message 1 answered with message 2, message 3
//! answered with the session — with the client's checks (confirmV) done by proto's prover; each
//! session is then closed (logout, not timed) so that live sessions stay bounded. The
//! password's Argon2id derivation is the client's cost and is done once per account before the
//! run (the secrets are reused), so the figure is what the gateway and the network sustain; the
//! gateway's own CPU per login in process is `cargo bench -p herald-proto --bench paep`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use clap::Args;
use ed25519_dalek::SigningKey;
use herald_light_client::keystore::MemoryKeyStore;
use herald_light_client::{
    ClientError, Gateway as _, GatewayClient, password_record, registration,
};
use herald_proto::paep::{AwaitingChallenge, LoginContext, ProverSecrets, Ristretto255Blake3};
use herald_proto::wire::pb;
use serde::Serialize;

use super::{CommonArgs, Environment, Latency, scratch_dir, write_report};
use crate::testnet::{Testnet, TestnetOptions, testnet_password_params};

/// Logins before this much time has passed are not measured (connections warm up).
const WARM_UP: Duration = Duration::from_secs(1);
/// The benchmark accounts' password.
const PASSWORD: &[u8] = b"bench password, throwaway";
/// The most logins one peer keeps in flight (the gateway keeps at most 4 attempts per peer).
const MAX_INFLIGHT: u16 = 4;

/// Options of `bench login`.
#[derive(Args, Debug, Clone)]
pub struct LoginArgs {
    /// Client connections (libp2p peers) logging in.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub clients: u16,
    /// Logins each connection keeps in flight (one account each).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=MAX_INFLIGHT as i64))]
    pub inflight: u16,
    /// Seconds of measurement (after a one-second warm-up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub seconds: u64,
    /// The options every run shares (report file, scratch directory).
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The report.
#[derive(Debug, Serialize)]
struct LoginReport {
    bench: &'static str,
    clients: u16,
    inflight_per_client: u16,
    accounts: usize,
    argon2_memory_kib: u32,
    argon2_iterations: u32,
    measured_seconds: f64,
    logins: usize,
    logins_per_s: f64,
    login: Latency,
    refused: u64,
    environment: Environment,
}

pub(super) async fn run(args: LoginArgs) -> anyhow::Result<()> {
    let dir = scratch_dir(&args.common, "login")?;
    let binary = std::env::current_exe().context("locating the herald-testnet executable")?;
    let options = TestnetOptions {
        sequence_interval: Duration::from_millis(25),
        log_level: "error".into(),
        ..TestnetOptions::new(&dir, binary)
    };
    let params = options.password_params;
    let mut testnet = Testnet::spawn(1, options).await?;
    let accounts = usize::from(args.clients) * usize::from(args.inflight);
    eprintln!("registering {accounts} accounts ...");
    let secrets = register_all(&testnet, accounts).await?;
    eprintln!(
        "measuring {} s with {} clients x {} logins in flight ...",
        args.seconds, args.clients, args.inflight
    );
    let measured = measure(&testnet, &args, secrets).await?;
    testnet.stop(0).await?;
    drop(testnet);
    let _ = std::fs::remove_dir_all(&dir);

    let report = LoginReport {
        bench: "login",
        clients: args.clients,
        inflight_per_client: args.inflight,
        accounts,
        argon2_memory_kib: params.memory_kib(),
        argon2_iterations: params.iterations(),
        measured_seconds: measured.seconds,
        logins: measured.latencies.len(),
        logins_per_s: measured.latencies.len() as f64 / measured.seconds,
        login: Latency::of(&measured.latencies),
        refused: measured.refused,
        environment: Environment::now(),
    };
    let path = write_report(&args.common, "login", &report)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!("report written to {}", path.display());
    Ok(())
}

fn account(i: usize) -> String {
    format!("bench{i}@d0.test")
}

/// Enrols and registers `n` accounts with a password; their prover secrets, derived once.
async fn register_all(
    testnet: &Testnet,
    n: usize,
) -> anyhow::Result<Vec<ProverSecrets<Ristretto255Blake3>>> {
    let params = testnet_password_params();
    let client = testnet.client(0).await?;
    let mut secrets = Vec::with_capacity(n);
    for i in 0..n {
        let name = account(i);
        let code = testnet.node(0).enrol(&name, None).await?.enrolment_code;
        let seed = u8::try_from(i % 250).unwrap_or(0) + 1;
        let mut keys = MemoryKeyStore::with_identity(&name, SigningKey::from_bytes(&[seed; 32]))?;
        let record = password_record(PASSWORD, &name, params).await?;
        client
            .register(registration(&mut keys, &code, record)?)
            .await
            .with_context(|| format!("registering {name}"))?;
        secrets.push(ProverSecrets::derive(PASSWORD, &name, "d0.test", params)?);
    }
    Ok(secrets)
}

struct Measured {
    seconds: f64,
    latencies: Vec<Duration>,
    refused: u64,
}

/// One login of `account` over `client`, then its logout; the login's round trips' time.
async fn login_once(
    client: &GatewayClient,
    account: &str,
    secrets: &ProverSecrets<Ristretto255Blake3>,
) -> Result<Duration, ClientError> {
    let now = crate::party::unix_now();
    let started = Instant::now();
    let (state, share) = AwaitingChallenge::start(
        LoginContext::herald(account, "d0.test"),
        secrets.clone(),
        now,
        &mut rand_core::UnwrapErr(getrandom::SysRng),
    );
    let challenge = client.login_share(share).await?;
    let (logged_in, confirm) = state
        .handle(&challenge, now)
        .map_err(|e| ClientError::InvalidRequest(format!("confirmV: {e}")))?;
    let accepted = client.login_finish(account, confirm).await?;
    let elapsed = started.elapsed();
    let channel = logged_in
        .into_channel(now, accepted.expires_at.saturating_sub(now))
        .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
    let close = channel
        .close()
        .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
    client.session_close(close).await?;
    Ok(elapsed)
}

async fn measure(
    testnet: &Testnet,
    args: &LoginArgs,
    secrets: Vec<ProverSecrets<Ristretto255Blake3>>,
) -> anyhow::Result<Measured> {
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    let secrets = Arc::new(secrets);
    for c in 0..usize::from(args.clients) {
        let client = testnet.client(0).await?;
        for slot in 0..usize::from(args.inflight) {
            let i = c * usize::from(args.inflight) + slot;
            let (client, stop, refused, secrets) = (
                client.clone(),
                stop.clone(),
                refused.clone(),
                secrets.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let name = account(i);
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match login_once(&client, &name, &secrets[i]).await {
                        Ok(took) if start.elapsed() > WARM_UP => latencies.push(took),
                        Ok(_) => {}
                        Err(ClientError::Refused(r))
                            if r.kind == pb::ClientErrorKind::Busy
                                || r.kind == pb::ClientErrorKind::RateLimited =>
                        {
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err(e) => return Err(anyhow::Error::new(e).context(name)),
                    }
                }
                Ok::<_, anyhow::Error>(latencies)
            }));
        }
    }
    tokio::time::sleep(WARM_UP + Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let seconds = start.elapsed().saturating_sub(WARM_UP).as_secs_f64();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.context("login task")??);
    }
    ensure!(!latencies.is_empty(), "no login completed");
    Ok(Measured {
        seconds,
        latencies,
        refused: refused.load(Ordering::Relaxed),
    })
}
