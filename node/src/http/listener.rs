//! Accepting connections and keeping them bounded.
//!
//! Every accepted connection gets a [`Ticket`] in the [`Connections`] book. The book never
//! refuses a connection for lack of room: at [`HttpLimits::max_connections`] (or a source's
//! [`HttpLimits::max_per_source`]) it asks the oldest connection of the fullest source to close,
//! which hyper does at once if no request is in flight and after the answer otherwise. So a
//! pile of idle sockets (the reliability review's F6: 64 of them took the old listener down)
//! only ever costs its own sockets, and a real request still gets in. Connections being shed
//! still count; at twice the bound the listener stops accepting until one closes (new
//! connections wait in the kernel's backlog), so the book stays bounded while the shed ones
//! finish their answers. Each connection's watchdog (one timer per connection, none per
//! request) closes it after [`HttpLimits::idle_timeout`] with no request in flight and no byte
//! of a new one, or when a request head has been arriving for
//! [`HttpLimits::header_read_timeout`] (HTTP/1.1; see `counted`). hyper's HTTP/2 keep-alive
//! pings bound a dead h2c peer; the routes' time is bounded in `exchange`.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use super::counted::CountedStream;
use super::exchange::{Activity, Exchange, Shared};
use super::{HttpLimits, HttpMetrics, Routes};

/// Serves `listener` until `stop` turns true; then asks every connection to close and waits for
/// them (the caller bounds that wait and drops this future, which aborts what is left).
pub(super) async fn accept_loop<R: Routes>(
    listener: TcpListener,
    routes: R,
    limits: HttpLimits,
    metrics: HttpMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let builder = Arc::new(protocol_builder(&limits));
    let shared = Arc::new(Shared::new(limits, metrics.busy.clone()));
    let book = Arc::new(Connections::with_metrics(limits, metrics));
    let open_slots = Arc::new(Semaphore::new(limits.max_connections.saturating_mul(2)));
    let mut tasks = JoinSet::new();
    let connection_stop = stop.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            // No accept while twice the bound is open (shed ones finishing their answers): new
            // connections wait in the kernel's backlog meanwhile, they are not refused.
            (accepted, room) = accept(&listener, &open_slots) => match accepted {
                Ok((stream, peer)) => {
                    let ticket = book.admit(peer.ip(), room);
                    let exchange = Exchange::new(routes.clone(), shared.clone());
                    tasks.spawn(serve(stream, peer, exchange, ticket, builder.clone(), limits, connection_stop.clone()));
                }
                Err(error) => {
                    // e.g. out of file descriptors: back off instead of spinning.
                    warn!(%error, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

/// The next connection, once there is room for it.
async fn accept(
    listener: &TcpListener,
    open_slots: &Arc<Semaphore>,
) -> (
    std::io::Result<(TcpStream, SocketAddr)>,
    Option<OwnedSemaphorePermit>,
) {
    let room = open_slots.clone().acquire_owned().await.ok();
    (listener.accept().await, room)
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// hyper's builder: HTTP/1.1 with keep-alive and HTTP/2 by prior knowledge (h2c).
fn protocol_builder(limits: &HttpLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        // The connection's watchdog in `serve` bounds a head's time: hyper's own bound arms
        // and drops a timer for every request (`counted`).
        .header_read_timeout(None)
        .max_buf_size(limits.max_head_bytes.max(8 * 1024))
        .half_close(false);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams_per_connection)
        .max_header_list_size(u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(limits.idle_timeout))
        .keep_alive_timeout(limits.header_read_timeout);
    builder
}

/// One connection, from accept to close. Told to close (shed, idle, or the listener stopping)
/// with no request in flight, it closes at once, whatever part of a head it has read; with one,
/// it answers that and then closes.
async fn serve<R: Routes>(
    stream: TcpStream,
    peer: SocketAddr,
    exchange: Exchange<R>,
    ticket: Ticket,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: HttpLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = exchange.activity();
    let stream = CountedStream::new(stream, activity.clone());
    let connection = builder.serve_connection(TokioIo::new(stream), exchange);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        let idle_check = tokio::time::sleep(activity.next_check(&limits));
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    debug!(%peer, %error, "HTTP connection ended");
                }
                return;
            }
            _ = ticket.shed.notified(), if !closing => {
                debug!(%peer, "HTTP connection shed to make room");
                if !activity.in_flight() {
                    return;
                }
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = stopped(&mut stop), if !closing => {
                if !activity.in_flight() {
                    return;
                }
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = idle_check, if !closing => {
                if activity.idle_for() >= limits.idle_timeout {
                    debug!(%peer, "HTTP connection idle: closed");
                    return;
                }
                if activity.head_for().is_some_and(|t| t >= limits.header_read_timeout) {
                    debug!(%peer, "HTTP request head too slow: closed");
                    return;
                }
            }
            // A connection told to close has this long to answer what it is serving.
            _ = tokio::time::sleep(limits.handler_timeout + limits.body_timeout), if closing => return,
        }
    }
}

/// A connection's place in the book; leaving the book when dropped.
pub(super) struct Ticket {
    book: Arc<Connections>,
    source: IpAddr,
    id: u64,
    shed: Arc<Notify>,
    _room: Option<OwnedSemaphorePermit>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.book.leave(self.source, self.id);
    }
}

/// The open connections, by source and age.
pub(super) struct Connections {
    limits: HttpLimits,
    metrics: HttpMetrics,
    state: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    next_id: u64,
    /// Per source: connection id (increasing with age) → its shed signal, for those not yet shed.
    live: HashMap<IpAddr, BTreeMap<u64, Arc<Notify>>>,
    /// Connections not yet shed.
    live_count: usize,
    /// Every open connection, shed or not.
    open_count: usize,
}

impl Connections {
    #[cfg(test)]
    pub(super) fn new(limits: HttpLimits) -> Self {
        Self::with_metrics(limits, HttpMetrics::default())
    }

    pub(super) fn with_metrics(limits: HttpLimits, metrics: HttpMetrics) -> Self {
        Connections {
            limits,
            metrics,
            state: Mutex::new(Book::default()),
        }
    }

    /// Takes a new connection from `source`, shedding the oldest where the bounds say so.
    /// `room` is its place among the open connections (held until it closes).
    pub(super) fn admit(
        self: &Arc<Self>,
        source: IpAddr,
        room: Option<OwnedSemaphorePermit>,
    ) -> Ticket {
        let mut book = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let own = book.live.get(&source).map_or(0, BTreeMap::len);
        let shed = if own >= self.limits.max_per_source {
            Some(source)
        } else if book.live_count >= self.limits.max_connections {
            book.live
                .iter()
                .max_by_key(|(_, conns)| conns.len())
                .map(|(ip, _)| *ip)
        } else {
            None
        };
        if let Some(source) = shed
            && book.shed_oldest(source)
        {
            self.metrics.connections_shed.inc();
        }
        let id = book.next_id;
        book.next_id += 1;
        let shed = Arc::new(Notify::new());
        book.live
            .entry(source)
            .or_default()
            .insert(id, shed.clone());
        book.live_count += 1;
        book.open_count += 1;
        self.metrics.open_connections.inc();
        Ticket {
            book: self.clone(),
            source,
            id,
            shed,
            _room: room,
        }
    }

    fn leave(&self, source: IpAddr, id: u64) {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let book = &mut *guard;
        book.open_count = book.open_count.saturating_sub(1);
        self.metrics.open_connections.dec();
        if let Some(conns) = book.live.get_mut(&source) {
            if conns.remove(&id).is_some() {
                book.live_count = book.live_count.saturating_sub(1);
            }
            if conns.is_empty() {
                book.live.remove(&source);
            }
        }
    }

    /// (connections not being shed, all open connections).
    #[cfg(test)]
    pub(super) fn counts(&self) -> (usize, usize) {
        let book = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (book.live_count, book.open_count)
    }
}

impl Book {
    /// Asks the oldest connection of `source` to close; whether there was one.
    fn shed_oldest(&mut self, source: IpAddr) -> bool {
        let Some(conns) = self.live.get_mut(&source) else {
            return false;
        };
        let shed = conns.pop_first().map(|(_, shed)| {
            // `notify_one` keeps the signal if the connection is not waiting right now.
            shed.notify_one();
        });
        if conns.is_empty() {
            self.live.remove(&source);
        }
        if shed.is_some() {
            self.live_count = self.live_count.saturating_sub(1);
        }
        shed.is_some()
    }
}

/// When the watchdog of a connection looks again.
impl Activity {
    /// The time until the nearer of the idle bound and the head bound: the time left to the
    /// head arriving now, or (none arriving) a whole `header_read_timeout`, since one may start
    /// at any moment. At least 50 ms, so a connection near a bound is not polled in a spin.
    fn next_check(&self, limits: &HttpLimits) -> Duration {
        let idle_left = limits.idle_timeout.saturating_sub(self.idle_for());
        let head_left = match self.head_for() {
            Some(taken) => limits.header_read_timeout.saturating_sub(taken),
            None => limits.header_read_timeout,
        };
        idle_left.min(head_left).max(Duration::from_millis(50))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, max_per_source: usize) -> HttpLimits {
        HttpLimits {
            max_connections,
            max_per_source,
            ..HttpLimits::default()
        }
    }

    #[test]
    fn the_oldest_connection_of_the_fullest_source_is_shed() {
        let book = Arc::new(Connections::new(limits(4, 3)));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = book.admit(a, None);
        let a2 = book.admit(a, None);
        let b1 = book.admit(b, None);
        let _a3 = book.admit(a, None);
        assert_eq!(book.counts(), (4, 4));
        // Full: the fifth connection (from b) sheds a's oldest.
        let _b2 = book.admit(b, None);
        assert_eq!(book.counts(), (4, 5));
        assert!(shed(&a1) && !shed(&a2) && !shed(&b1));
        drop(a1);
        assert_eq!(book.counts(), (4, 4));
        // A source at its own bound sheds its own oldest, even with room overall.
        drop(a2);
        let _b3 = book.admit(b, None);
        let _b4 = book.admit(b, None);
        assert!(shed(&b1));
    }

    #[test]
    fn a_connection_leaves_the_book_and_frees_its_room_when_dropped() {
        let book = Arc::new(Connections::new(limits(2, 2)));
        let room = Arc::new(Semaphore::new(4));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..4)
            .map(|_| book.admit(ip, room.clone().try_acquire_owned().ok()))
            .collect();
        assert_eq!(book.counts(), (2, 4));
        assert!(
            room.clone().try_acquire_owned().is_err(),
            "twice the bound is open"
        );
        drop(held);
        assert_eq!(book.counts(), (0, 0));
        assert_eq!(room.available_permits(), 4);
    }

    /// Whether the ticket's connection was told to close.
    fn shed(ticket: &Ticket) -> bool {
        let notified = ticket.shed.notified();
        tokio::pin!(notified);
        // A stored `notify_one` permit completes the future on its first poll.
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        notified.as_mut().poll(&mut cx).is_ready()
    }
}
