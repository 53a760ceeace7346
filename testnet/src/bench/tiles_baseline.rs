//! `bench tiles --baseline`: what this machine allows for the same read mix. The same bodies
//! (every full tile and bundle the bench expects) are served from memory by a trivial hyper
//! HTTP/1.1 server in this process — a map lookup and hyper's own headers, no routing, limits,
//! store or cache headers — on its own two-thread runtime (as the node's), and read by the same
//! reader right after the node was measured (the node stopped). The node's figure over this one
//! is the fraction of the machine's bound that Herald reaches.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context as _;
use herald_proto::tlog_tiles::encode_index;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use super::tiles::Expected;

/// The name of the server's threads (its CPU time is told apart from the reader's by it).
pub(super) const THREAD: &str = "tiles-baseline";

/// The trivial server, running until [`Baseline::stop`].
pub(super) struct Baseline {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Baseline {
    /// Serves `expected`'s resources at the node's paths on 127.0.0.1 (an OS-chosen port).
    pub(super) fn start(expected: &Expected) -> anyhow::Result<Self> {
        let mut bodies: HashMap<String, Bytes> = HashMap::new();
        for (prefix, list) in [
            ("/tile/0/", &expected.level0),
            ("/tile/1/", &expected.level1),
            ("/tile/entries/", &expected.bundles),
        ] {
            for (n, body) in (0u64..).zip(list) {
                bodies.insert(
                    format!("{prefix}{}", encode_index(n)),
                    Bytes::from(body.clone()),
                );
            }
        }
        let bodies = Arc::new(bodies);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(THREAD)
            .enable_all()
            .build()
            .context("the baseline server's runtime")?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(THREAD.into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::pin!(stopped);
                    loop {
                        let accepted = tokio::select! {
                            _ = &mut stopped => break,
                            accepted = listener.accept() => accepted,
                        };
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        let bodies = bodies.clone();
                        tokio::spawn(async move {
                            let service =
                                service_fn(move |request: Request<hyper::body::Incoming>| {
                                    let answer = match bodies.get(request.uri().path()) {
                                        Some(body) => Response::new(Full::new(body.clone())),
                                        None => {
                                            let mut r = Response::new(Full::new(Bytes::new()));
                                            *r.status_mut() = StatusCode::NOT_FOUND;
                                            r
                                        }
                                    };
                                    async move { Ok::<_, Infallible>(answer) }
                                });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                });
            })
            .context("starting the baseline server thread")?;
        Ok(Baseline {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it (its connections end with its runtime).
    pub(super) fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
