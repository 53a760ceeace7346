//! A connection's socket that counts the reads which brought bytes, so the connection's own
//! watchdog (`listener::serve`) can tell a connection idle between requests from one that is
//! sending a request head, without a timer per request.
//!
//! hyper's own `header_read_timeout` allocates and arms a timer for every request head and
//! drops it when the head is in: a timer-wheel insertion and removal, under the runtime's timer
//! lock, for every GET of a keep-alive reader. The watchdog, one timer per connection, bounds
//! the same thing (see [`super::HttpLimits::header_read_timeout`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::exchange::Activity;

/// A TCP stream whose reads are counted in the connection's [`Activity`]; writes, vectored
/// ones included (hyper writes a head and a shared body in one `writev`, without copying the
/// body), go straight through.
pub(super) struct CountedStream {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl CountedStream {
    pub(super) fn new(inner: TcpStream, activity: Arc<Activity>) -> Self {
        CountedStream { inner, activity }
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_arrived(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
