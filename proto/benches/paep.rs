//! PAEP benchmarks (DESIGN §6 "PAEP logins/s per core": ≥ 2,000 server-side logins/s).
//!
//! - `server_login`: the gateway's whole share of one SPAKE2+ login on one core —
//!   `ServerStart::handle` (check X, draw y, Y, Z, V, transcript, keys, confirmV) and
//!   `AwaitingConfirm::handle` (check confirmP). The client's part of each login (its share,
//!   its check of confirmV, its confirmP) is computed between the timed steps and not counted;
//!   Argon2id is the client's cost and is not run (the client's scalars are given).
//! - `server_login_unknown_account`: the same for an unknown account, from a fake record
//!   (includes deriving the fake record).
//! - `client_login_without_argon2`: the client's scalar work per login, for comparison.
//! - `argon2id_recommended`: one password derivation at `Argon2Params::RECOMMENDED` (64 MiB,
//!   3 passes, 4 lanes, run on one thread): the client's cost.
//! - `channel_seal_open_1KiB`: one 1 KiB frame sealed and opened.
//!
//! Run: `cargo bench -p herald-proto --bench paep`. The means are written to
//! `<target>/bench-report/paep.json` (ns per operation and operations per second), with
//! `server_login_cpu_ns`: the gateway's CPU time per login over 2,000 logins (Linux thread CPU
//! clock), which a loaded machine does not inflate as it does criterion's wall-clock means.

mod bench_report;

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use bench_report::{Bench, write_report};
use criterion::{Criterion, SamplingMode};
use curve25519_dalek::scalar::Scalar;
use herald_proto::paep::{
    Argon2Params, AwaitingChallenge, FakeRecords, LoginContext, ProverSecrets, Ristretto255Blake3,
    ServerStart, VerifierRecord,
};

type S = Ristretto255Blake3;

const ACCOUNT: &str = "bob@beta.test";
const DOMAIN: &str = "beta.test";
const NOW: u64 = 1_800_000_000;

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// The client's (w0, w1). Argon2id is the client's cost and is left out: the scalars stand for
/// its output (the gateway's work does not depend on how they were made).
fn secrets() -> ProverSecrets<S> {
    ProverSecrets::from_scalars(
        Scalar::from_bytes_mod_order_wide(&[3; 64]),
        Scalar::from_bytes_mod_order_wide(&[5; 64]),
    )
}

/// Times `iters` logins' gateway steps only; `start` makes the verifier for each login.
fn gateway_time(iters: u64, start: &dyn Fn() -> ServerStart<S>) -> Duration {
    let context = LoginContext::herald(ACCOUNT, DOMAIN);
    let mut rng = rng();
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (client, share) = AwaitingChallenge::start(context.clone(), secrets(), NOW, &mut rng);
        let t = Instant::now();
        let (server, challenge) = start()
            .handle(black_box(&share), NOW, &mut rng)
            .expect("an honest share");
        total += t.elapsed();
        let confirm = match client.handle(&challenge, NOW) {
            Ok((_, confirm)) => confirm,
            // An unknown account's answer does not verify for the client; the gateway's second
            // step is then timed on the confirmation an attacker would send.
            Err(_) => herald_proto::wire::pb::LoginConfirm {
                confirm_p: vec![0; 32],
            },
        };
        let t = Instant::now();
        let _ = black_box(server.handle(black_box(&confirm), NOW));
        total += t.elapsed();
    }
    total
}

fn login_benches(c: &mut Criterion, benches: &mut Vec<Bench>) {
    let mut group = c.benchmark_group("paep");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let record: VerifierRecord<S> = secrets().record();
    group.bench_function("server_login", |b| {
        b.iter_custom(|iters| {
            gateway_time(iters, &|| {
                ServerStart::new(LoginContext::herald(ACCOUNT, DOMAIN), record.clone())
            })
        })
    });
    let fake = FakeRecords::new([7; 32], Argon2Params::RECOMMENDED);
    group.bench_function("server_login_unknown_account", |b| {
        b.iter_custom(|iters| gateway_time(iters, &|| fake.server_start(ACCOUNT, DOMAIN)))
    });
    group.bench_function("client_login_without_argon2", |b| {
        let context = LoginContext::herald(ACCOUNT, DOMAIN);
        let mut rng = rng();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let secrets = secrets();
                let t = Instant::now();
                let (client, share) =
                    AwaitingChallenge::start(context.clone(), secrets, NOW, &mut rng);
                total += t.elapsed();
                let (_, challenge) = ServerStart::new(context.clone(), record.clone())
                    .handle(&share, NOW, &mut rng)
                    .expect("an honest share");
                let t = Instant::now();
                black_box(client.handle(&challenge, NOW).expect("the right password"));
                total += t.elapsed();
            }
            total
        })
    });
    for function in [
        "server_login",
        "server_login_unknown_account",
        "client_login_without_argon2",
    ] {
        benches.push(Bench {
            group: "paep",
            function: function.to_owned(),
            ops_per_iter: 1,
            op: "login",
        });
    }

    let (mut client, mut server) = channel_pair(&record);
    let frame = vec![0x5a; 1024];
    group.bench_function("channel_seal_open_1KiB", |b| {
        b.iter(|| {
            let f = client.seal(black_box(&frame), NOW).expect("a live channel");
            black_box(server.open(&f, NOW).expect("the next frame"))
        })
    });
    benches.push(Bench {
        group: "paep",
        function: "channel_seal_open_1KiB".to_owned(),
        ops_per_iter: 1,
        op: "frame",
    });
    group.finish();

    let mut slow = c.benchmark_group("paep_client");
    slow.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    slow.bench_function("argon2id_recommended", |b| {
        b.iter(|| {
            ProverSecrets::<S>::derive(
                black_box(b"correct horse"),
                ACCOUNT,
                DOMAIN,
                Argon2Params::RECOMMENDED,
            )
            .expect("argon2id")
        })
    });
    benches.push(Bench {
        group: "paep_client",
        function: "argon2id_recommended".to_owned(),
        ops_per_iter: 1,
        op: "derivation",
    });
    slow.finish();
}

/// A logged-in pair of channel ends (one honest login).
fn channel_pair(
    record: &VerifierRecord<S>,
) -> (herald_proto::paep::Channel, herald_proto::paep::Channel) {
    let context = LoginContext::herald(ACCOUNT, DOMAIN);
    let mut rng = rng();
    let (client, share) = AwaitingChallenge::start(context.clone(), secrets(), NOW, &mut rng);
    let (server, challenge) = ServerStart::new(context, record.clone())
        .handle(&share, NOW, &mut rng)
        .expect("an honest share");
    let (client, confirm) = client.handle(&challenge, NOW).expect("the right password");
    let server = server
        .handle(&confirm, NOW)
        .expect("the right confirmation");
    // Long enough for any run: frames are timed at a fixed NOW.
    let lifetime = herald_proto::paep::MAX_SESSION_LIFETIME_SECS;
    (
        client
            .into_channel(NOW, lifetime)
            .expect("a valid lifetime"),
        server
            .into_channel(NOW, lifetime)
            .expect("a valid lifetime"),
    )
}

/// This thread's CPU time so far, in ns (Linux: the first field of
/// `/proc/thread-self/schedstat`). On a shared machine wall time counts other processes' turns;
/// CPU time counts only the work done on one core.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Gateway CPU time per login over `n` logins (known account): the gateway's steps run in two
/// batches, so the CPU clock is read four times in all, and the clients' steps in between are
/// not counted.
fn server_login_cpu_ns(n: usize) -> Option<f64> {
    let context = LoginContext::herald(ACCOUNT, DOMAIN);
    let record = secrets().record();
    let mut rng = rng();
    let (clients, shares): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| AwaitingChallenge::start(context.clone(), secrets(), NOW, &mut rng))
        .unzip();
    let t0 = thread_cpu_ns()?;
    let answered: Vec<_> = shares
        .iter()
        .map(|share| {
            ServerStart::new(context.clone(), record.clone())
                .handle(black_box(share), NOW, &mut rng)
                .expect("an honest share")
        })
        .collect();
    let t1 = thread_cpu_ns()?;
    let (servers, confirms): (Vec<_>, Vec<_>) = clients
        .into_iter()
        .zip(answered)
        .map(|(client, (server, challenge))| {
            let (_, confirm) = client.handle(&challenge, NOW).expect("the right password");
            (server, confirm)
        })
        .unzip();
    let t2 = thread_cpu_ns()?;
    for (server, confirm) in servers.into_iter().zip(&confirms) {
        black_box(server.handle(confirm, NOW).expect("the right confirmation"));
    }
    let t3 = thread_cpu_ns()?;
    Some(((t1 - t0) + (t3 - t2)) as f64 / n as f64)
}

fn main() {
    let started = SystemTime::now();
    let mut c = Criterion::default().configure_from_args();
    let mut benches = Vec::new();
    login_benches(&mut c, &mut benches);
    c.final_summary();
    // Not in test mode (`cargo test --benches` runs each bench once): only with `--bench`.
    let measuring = std::env::args().any(|a| a == "--bench");
    let cpu = if measuring {
        server_login_cpu_ns(2000)
    } else {
        None
    };
    let context = serde_json::json!({
        "target_server_logins_per_s": 2000,
        "suite": "ristretto255-BLAKE3",
        "server_login_cpu_ns": cpu,
        "server_logins_per_s_cpu": cpu.map(|ns| 1e9 / ns),
    });
    if let Some(ns) = cpu {
        eprintln!(
            "paep bench: gateway CPU time per login {:.1} µs = {:.0} logins/s per core",
            ns / 1e3,
            1e9 / ns
        );
    }
    write_report("paep", "paep", context, &benches, started);
}
