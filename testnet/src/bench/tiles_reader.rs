//! `bench tiles`' reader: keeps `--clients` × `--inflight` GETs going for `--seconds`, checks
//! every body byte for byte, and measures the CPU each side spends per read.
//!
//! The HTTP/1.1 reader is lean by default, because it shares the two cores with the server it
//! measures and its CPU per read counts against the server's figure (docs/performance.md): each
//! GET in flight has its own keep-alive connection (hyper's client connection, no pool, no URL
//! parsing), one request at a time (no pipelining: browsers and CDNs do not pipeline). The
//! connections are spread over `--reader-threads` single-threaded runtimes, and each
//! connection's hyper driver runs in the task that sends on it, so an answer wakes no other
//! task or thread. Request targets are built once; each body is compared chunk by chunk as it
//! arrives, without gathering it; one deadline bounds a whole reading task (the run fails if a
//! GET is still unanswered `GET_TIMEOUT` after the measured window).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use herald_light_client::http::HttpClient;
use herald_proto::tlog_tiles::encode_index;
use http_body_util::{BodyExt as _, Empty};
use hyper::Uri;
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::cpu_time;
use super::tiles::{Expected, TilesArgs};
use crate::load::Schedule;

/// Requests before this much time has passed are not measured (connections warm up).
const WARM_UP: Duration = Duration::from_secs(1);
/// Longest a GET may stay unanswered (after the window's end, for the lean reader).
const GET_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest body read: a full bundle of the bench's entries is far below it.
const MAX_BODY: usize = 1 << 20;
/// The name of the lean reader's threads.
const READER_THREAD: &str = "tiles-reader";

/// The kinds of resource read, in the order the report lists them.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Level0,
    Level1,
    Bundle,
}

/// Every full resource's request target, built once.
pub(super) struct Targets {
    level0: Vec<Uri>,
    level1: Vec<Uri>,
    bundles: Vec<Uri>,
}

impl Targets {
    pub(super) fn of(expected: &Expected) -> anyhow::Result<Self> {
        let uris = |prefix: &str, count: usize| -> anyhow::Result<Vec<Uri>> {
            (0..count as u64)
                .map(|n| Ok(Uri::try_from(format!("{prefix}{}", encode_index(n)))?))
                .collect()
        };
        Ok(Targets {
            level0: uris("/tile/0/", expected.level0.len())?,
            level1: uris("/tile/1/", expected.level1.len())?,
            bundles: uris("/tile/entries/", expected.bundles.len())?,
        })
    }
}

/// Whose CPU time is the server's.
#[derive(Clone, Copy)]
pub(super) enum Server {
    /// A process of its own (the node).
    Process(u32),
    /// This process's threads of this name (the baseline server).
    OwnThreads(&'static str),
}

impl Server {
    fn cpu(self) -> Option<Duration> {
        match self {
            Server::Process(pid) => cpu_time::process(pid),
            Server::OwnThreads(name) => cpu_time::own_threads(name),
        }
    }
}

/// What one run measured.
pub(super) struct Measured {
    /// Round trips by [`Kind`].
    pub(super) latencies: [Vec<Duration>; 3],
    pub(super) bytes: u64,
    /// CPU time over the measured window: the server's, and the rest of this process (the
    /// reader, its runtime and anything else the bench does meanwhile).
    pub(super) cpu: Option<(Duration, Duration)>,
}

impl Measured {
    fn empty() -> Self {
        Measured {
            latencies: Default::default(),
            bytes: 0,
            cpu: None,
        }
    }

    fn add(&mut self, part: Measured) {
        for (all, part) in self.latencies.iter_mut().zip(part.latencies) {
            all.extend(part);
        }
        self.bytes += part.bytes;
    }

    pub(super) fn reads(&self) -> usize {
        self.latencies.iter().map(Vec::len).sum()
    }
}

/// CPU time of (the server, this process without the server's threads) now.
fn cpu_now(server: Server) -> Option<(Duration, Duration)> {
    let server_cpu = server.cpu()?;
    let own = cpu_time::own_process()?;
    let server_here = match server {
        Server::Process(_) => Duration::ZERO,
        Server::OwnThreads(_) => server_cpu,
    };
    Some((server_cpu, own.saturating_sub(server_here)))
}

/// Runs the read load against `addr`; every body is checked against what it must be.
pub(super) async fn measure(
    addr: SocketAddr,
    server: Server,
    args: &TilesArgs,
    expected: Arc<Expected>,
    targets: Arc<Targets>,
) -> anyhow::Result<Measured> {
    let begin = Instant::now() + WARM_UP;
    let end = begin + Duration::from_secs(args.seconds);
    let seed = Schedule::fresh_seed();
    // The CPU clocks read at the window's start and end.
    let clock = tokio::spawn(async move {
        tokio::time::sleep_until(begin.into()).await;
        let start = cpu_now(server);
        tokio::time::sleep_until(end.into()).await;
        Some((start?, cpu_now(server)?))
    });
    let plan = Plan {
        begin,
        end,
        expected,
        targets,
    };
    let mut all = Measured::empty();
    if args.h2c || args.reqwest {
        let mut tasks = Vec::new();
        for c in 0..args.clients {
            let http = if args.h2c {
                HttpClient::h2c(GET_TIMEOUT, MAX_BODY)
            } else {
                HttpClient::new(GET_TIMEOUT, MAX_BODY)
            }
            .context("building an HTTP client")?;
            for k in 0..args.inflight {
                let mut reader = Reader::Pooled(http.clone(), format!("http://{addr}"));
                let schedule = Schedule::new(seed ^ (u64::from(c) << 16 | u64::from(k)));
                let plan = plan.clone();
                tasks.push(tokio::spawn(async move {
                    plan.read(&mut reader, schedule).await
                }));
            }
        }
        for task in tasks {
            all.add(task.await.context("reading task")??);
        }
    } else {
        let threads = usize::from(args.reader_threads);
        let mut shares: Vec<Vec<Schedule>> = (0..threads).map(|_| Vec::new()).collect();
        let mut i = 0;
        for c in 0..args.clients {
            for k in 0..args.inflight {
                shares[i % threads].push(Schedule::new(seed ^ (u64::from(c) << 16 | u64::from(k))));
                i += 1;
            }
        }
        let mut readers = Vec::new();
        for share in shares {
            let plan = plan.clone();
            let thread = std::thread::Builder::new()
                .name(READER_THREAD.into())
                .spawn(move || read_on_own_runtime(addr, plan, share))
                .context("starting a reader thread")?;
            readers.push(thread);
        }
        for thread in readers {
            let part = tokio::task::spawn_blocking(move || thread.join())
                .await
                .context("joining a reader thread")?
                .map_err(|_| anyhow::anyhow!("a reader thread panicked"))??;
            all.add(part);
        }
    }
    all.cpu = clock
        .await
        .context("the CPU clock task")?
        .map(|((s0, r0), (s1, r1))| (s1.saturating_sub(s0), r1.saturating_sub(r0)));
    if all.reads() == 0 {
        bail!("no read completed in the measured window");
    }
    Ok(all)
}

/// One lean reader thread: a single-threaded runtime running one task per connection.
fn read_on_own_runtime(
    addr: SocketAddr,
    plan: Plan,
    schedules: Vec<Schedule>,
) -> anyhow::Result<Measured> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("a reader runtime")?;
    runtime.block_on(async move {
        let deadline = plan.end + GET_TIMEOUT;
        let mut tasks = Vec::new();
        for schedule in schedules {
            let plan = plan.clone();
            tasks.push(tokio::spawn(tokio::time::timeout_at(
                deadline.into(),
                async move {
                    let mut reader = Reader::Lean(LeanConnection::open(addr).await?);
                    plan.read(&mut reader, schedule).await
                },
            )));
        }
        let mut all = Measured::empty();
        for task in tasks {
            let part = task
                .await
                .context("reading task")?
                .context("a GET unanswered 10 s after the window")??;
            all.add(part);
        }
        Ok(all)
    })
}

/// What every reading task shares.
#[derive(Clone)]
struct Plan {
    begin: Instant,
    end: Instant,
    expected: Arc<Expected>,
    targets: Arc<Targets>,
}

impl Plan {
    /// GETs random resources one at a time until the window's end; what it measured.
    async fn read(&self, reader: &mut Reader, mut schedule: Schedule) -> anyhow::Result<Measured> {
        let mut out = Measured::empty();
        let (expected, targets) = (&*self.expected, &*self.targets);
        loop {
            let now = Instant::now();
            if now >= self.end {
                return Ok(out);
            }
            // Mostly level-0 tiles (what a proof or a mirror reads most), then bundles.
            let (kind, list, bodies) = match schedule.range(0, 10) {
                0..=5 => (Kind::Level0, &targets.level0, &expected.level0),
                6 => (Kind::Level1, &targets.level1, &expected.level1),
                _ => (Kind::Bundle, &targets.bundles, &expected.bundles),
            };
            let n = schedule.range(0, list.len() as u64) as usize;
            let (target, want) = (&list[n], &bodies[n]);
            reader
                .get_expecting(target, want)
                .await
                .with_context(|| format!("GET {target}"))?;
            if now >= self.begin {
                out.latencies[kind as usize].push(now.elapsed());
                out.bytes += want.len() as u64;
            }
        }
    }
}

/// How one reading task sends its GETs.
enum Reader {
    /// The project's reqwest client (HTTP/1.1 pool or h2c), with the server's base URL.
    Pooled(HttpClient, String),
    /// The lean reader's own connection.
    Lean(LeanConnection),
}

impl Reader {
    /// GETs `target` and checks the answer is 200 with exactly `want` as its body.
    async fn get_expecting(&mut self, target: &Uri, want: &[u8]) -> anyhow::Result<()> {
        match self {
            Reader::Lean(connection) => connection.get_expecting(target, want).await,
            Reader::Pooled(http, base) => {
                let answer = http.get(&format!("{base}{target}")).await?;
                ensure!(
                    answer.status == 200,
                    "{} {}",
                    answer.status,
                    answer.body_text(200)
                );
                ensure!(answer.body == want, "not the resource's bytes");
                Ok(())
            }
        }
    }
}

/// One keep-alive HTTP/1.1 connection of the lean reader (hyper's client connection), driven
/// by the task that sends on it.
struct LeanConnection {
    send: SendRequest<Empty<Bytes>>,
    driver: std::pin::Pin<Box<Connection<TokioIo<TcpStream>, Empty<Bytes>>>>,
    host: hyper::header::HeaderValue,
}

impl LeanConnection {
    async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await.context("connecting")?;
        stream.set_nodelay(true)?;
        let (send, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        let host = hyper::header::HeaderValue::from_str(&addr.to_string())?;
        Ok(LeanConnection {
            send,
            driver: Box::pin(driver),
            host,
        })
    }

    /// GETs `target` and checks the answer is 200 with exactly `want` as its body, chunk by
    /// chunk as it arrives (never more than `want.len()` bytes read), driving the connection
    /// meanwhile.
    async fn get_expecting(&mut self, target: &Uri, want: &[u8]) -> anyhow::Result<()> {
        let mut request = hyper::Request::new(Empty::new());
        *request.uri_mut() = target.clone();
        request
            .headers_mut()
            .insert(hyper::header::HOST, self.host.clone());
        let send = &mut self.send;
        let exchange = async move {
            send.ready().await?;
            let answer = send.send_request(request).await?;
            check_body(answer, want).await
        };
        tokio::select! {
            checked = exchange => checked,
            ended = self.driver.as_mut() => match ended {
                Ok(()) => bail!("the server closed the connection"),
                Err(e) => Err(anyhow::Error::new(e).context("the connection failed")),
            },
        }
    }
}

/// Checks a 200 answer's body is exactly `want`, chunk by chunk as it arrives.
async fn check_body(answer: hyper::Response<Incoming>, want: &[u8]) -> anyhow::Result<()> {
    let status = answer.status();
    let mut body = answer.into_body();
    if status != hyper::StatusCode::OK {
        let text = body.collect().await?.to_bytes();
        bail!(
            "{status} {}",
            String::from_utf8_lossy(&text[..text.len().min(200)])
        );
    }
    let mut at = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(chunk) = frame?.into_data() {
            let end = at + chunk.len();
            ensure!(
                want.get(at..end) == Some(&chunk[..]),
                "not the resource's bytes (at byte {at})"
            );
            at = end;
        }
    }
    ensure!(at == want.len(), "{at} bytes of {}", want.len());
    Ok(())
}
