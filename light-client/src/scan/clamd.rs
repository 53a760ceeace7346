//! A client of ClamAV's daemon over its socket protocol (DESIGN §4 "Anti-virus": clamd when
//! configured), as a [`Scanner`].
//!
//! One connection per scan: `zINSTREAM\0`, then the data in chunks, each behind its 4-byte
//! big-endian length, then a zero length; clamd answers one `\0`-terminated line:
//! `stream: OK`, `stream: <signature> FOUND`, or `<message> ERROR` (e.g. `INSTREAM size limit
//! exceeded. ERROR` past clamd's `StreamMaxLength`). Parsed into [`ClamdVerdict`] or a typed
//! [`ClamdError`].
//!
//! Bounds, so that a slow, hung or hostile daemon cannot hold or flood the client: data over
//! [`ClamdConfig::max_stream_bytes`] is refused before connecting; every read and write waits at
//! most [`ClamdConfig::timeout`], and the whole exchange ends by `2 × timeout` plus the time the
//! data takes to send at that pace; a reply longer than [`MAX_REPLY_BYTES`] is refused unread.
//!
//! The plaintext of a mail travels to clamd, so the daemon must be on this host: a Unix socket,
//! or TCP on a loopback address ([`ClamdError::NotLoopback`] otherwise).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use herald_proto::scan::{ScanError, ScanVerdict, Scanner};

/// Longest reply accepted: a signature name is well under 200 bytes in ClamAV's databases.
pub const MAX_REPLY_BYTES: usize = 1024;
/// Default largest stream: clamd's default `StreamMaxLength` (25 MiB) would take any mail.
pub const DEFAULT_MAX_STREAM_BYTES: usize = 25 * 1024 * 1024;
/// Default time one read or write may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes per INSTREAM chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Where clamd listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClamdAddress {
    /// Its `LocalSocket`.
    Unix(PathBuf),
    /// Its `TCPSocket` on a loopback address.
    Tcp(SocketAddr),
}

/// How to reach clamd and the bounds of one scan.
#[derive(Clone, Debug)]
pub struct ClamdConfig {
    /// Where it listens.
    pub address: ClamdAddress,
    /// Time one connect, read or write may take.
    pub timeout: Duration,
    /// Largest data sent; set it at most clamd's `StreamMaxLength`.
    pub max_stream_bytes: usize,
}

impl ClamdConfig {
    /// `address` with the default bounds.
    pub fn new(address: ClamdAddress) -> Self {
        ClamdConfig {
            address,
            timeout: DEFAULT_TIMEOUT,
            max_stream_bytes: DEFAULT_MAX_STREAM_BYTES,
        }
    }
}

/// What clamd said of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClamdVerdict {
    /// `stream: OK`.
    Clean,
    /// `stream: <signature> FOUND`.
    Found(String),
}

/// Why a clamd scan gave no verdict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClamdError {
    /// A TCP address that is not loopback: the plaintext would leave the host.
    #[error("clamd address {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// The data is larger than the configured stream bound; nothing was sent.
    #[error("{len} bytes exceed the clamd stream limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Connecting failed (clamd not running, wrong socket).
    #[error("connecting to clamd at {address:?}: {source}")]
    Connect {
        /// Where.
        address: ClamdAddress,
        /// Why.
        source: io::Error,
    },
    /// A read or write failed.
    #[error("talking to clamd: {0}")]
    Io(io::Error),
    /// clamd did not answer within the bounds.
    #[error("clamd did not answer within {0:?}")]
    Timeout(Duration),
    /// The reply is longer than [`MAX_REPLY_BYTES`].
    #[error("clamd's reply exceeds {MAX_REPLY_BYTES} bytes")]
    ReplyTooLong,
    /// The reply is not one the protocol has.
    #[error("clamd's reply is not its protocol: {0:?}")]
    BadReply(String),
    /// clamd reported an error (`... ERROR`).
    #[error("clamd: {0}")]
    Clamd(String),
}

impl From<ClamdError> for ScanError {
    fn from(e: ClamdError) -> Self {
        match e {
            ClamdError::TooLarge { len, max } => ScanError::TooLarge { len, max },
            ClamdError::ReplyTooLong | ClamdError::BadReply(_) => {
                ScanError::BadReply(e.to_string())
            }
            ClamdError::Clamd(message) => ScanError::Failed(message),
            other => ScanError::Unavailable(other.to_string()),
        }
    }
}

/// One connection to clamd.
enum Connection {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Connection {
    fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        // A zero duration means "block forever" to the socket API: never pass one.
        let timeout = Some(timeout.max(Duration::from_millis(1)));
        match self {
            Connection::Unix(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            Connection::Tcp(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
        }
    }
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Connection::Unix(s) => s.read(buf),
            Connection::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Connection::Unix(s) => s.write(buf),
            Connection::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Connection::Unix(s) => s.flush(),
            Connection::Tcp(s) => s.flush(),
        }
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The clamd scanner (see the module docs).
#[derive(Clone, Debug)]
pub struct ClamdScanner {
    config: ClamdConfig,
}

impl ClamdScanner {
    /// A scanner for `config`; a TCP address must be loopback.
    pub fn new(config: ClamdConfig) -> Result<Self, ClamdError> {
        if let ClamdAddress::Tcp(addr) = &config.address
            && !addr.ip().is_loopback()
        {
            return Err(ClamdError::NotLoopback(*addr));
        }
        Ok(ClamdScanner { config })
    }

    fn connect(&self) -> Result<Connection, ClamdError> {
        let address = &self.config.address;
        let connection = match address {
            ClamdAddress::Unix(path) => UnixStream::connect(path).map(Connection::Unix),
            ClamdAddress::Tcp(addr) => {
                TcpStream::connect_timeout(addr, self.config.timeout).map(Connection::Tcp)
            }
        }
        .map_err(|source| ClamdError::Connect {
            address: address.clone(),
            source,
        })?;
        connection
            .set_timeout(self.config.timeout)
            .map_err(ClamdError::Io)?;
        Ok(connection)
    }

    /// `zPING`: whether clamd answers `PONG`.
    pub fn ping(&self) -> Result<(), ClamdError> {
        let mut connection = self.connect()?;
        let deadline = Instant::now() + 2 * self.config.timeout;
        connection.write_all(b"zPING\0").map_err(|e| self.io(e))?;
        match read_reply(&mut connection, deadline, self.config.timeout)?.as_str() {
            "PONG" => Ok(()),
            other => Err(ClamdError::BadReply(other.to_owned())),
        }
    }

    /// Scans `data` with `zINSTREAM`.
    pub fn scan_stream(&self, data: &[u8]) -> Result<ClamdVerdict, ClamdError> {
        if data.len() > self.config.max_stream_bytes {
            return Err(ClamdError::TooLarge {
                len: data.len(),
                max: self.config.max_stream_bytes,
            });
        }
        let mut connection = self.connect()?;
        // Sending takes at most one timeout per chunk; the reply gets two more.
        let chunks = data.len().div_ceil(CHUNK_BYTES) as u32;
        let deadline = Instant::now() + self.config.timeout * (chunks + 2);
        let sent = send_stream(&mut connection, data);
        // clamd may stop reading and answer early (a size limit): read its reply either way,
        // and report the write error only if there is no reply.
        match (
            sent,
            read_reply(&mut connection, deadline, self.config.timeout),
        ) {
            (_, Ok(reply)) => parse_reply(&reply),
            (Err(e), Err(_)) => Err(self.io(e)),
            (Ok(()), Err(e)) => Err(e),
        }
    }

    fn io(&self, e: io::Error) -> ClamdError {
        if timed_out(&e) {
            ClamdError::Timeout(self.config.timeout)
        } else {
            ClamdError::Io(e)
        }
    }
}

fn send_stream(connection: &mut Connection, data: &[u8]) -> io::Result<()> {
    connection.write_all(b"zINSTREAM\0")?;
    for chunk in data.chunks(CHUNK_BYTES) {
        // A chunk is at most CHUNK_BYTES, far below u32::MAX.
        connection.write_all(&(chunk.len() as u32).to_be_bytes())?;
        connection.write_all(chunk)?;
    }
    connection.write_all(&0u32.to_be_bytes())?;
    connection.flush()
}

/// Reads one reply up to its `\0` (or the end of the stream), bounded in length and time.
fn read_reply(
    connection: &mut Connection,
    deadline: Instant,
    timeout: Duration,
) -> Result<String, ClamdError> {
    let mut reply = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(ClamdError::Timeout(timeout));
        }
        connection
            .set_timeout(deadline - now)
            .map_err(ClamdError::Io)?;
        let n = match connection.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if timed_out(&e) => return Err(ClamdError::Timeout(timeout)),
            Err(e) => return Err(ClamdError::Io(e)),
        };
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        let end = chunk.iter().position(|&b| b == 0);
        reply.extend_from_slice(&chunk[..end.unwrap_or(n)]);
        if reply.len() > MAX_REPLY_BYTES {
            return Err(ClamdError::ReplyTooLong);
        }
        if end.is_some() {
            break;
        }
    }
    let text = String::from_utf8(reply)
        .map_err(|e| ClamdError::BadReply(String::from_utf8_lossy(e.as_bytes()).into_owned()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Parses a reply to `zINSTREAM`.
fn parse_reply(reply: &str) -> Result<ClamdVerdict, ClamdError> {
    if reply.is_empty() {
        return Err(ClamdError::BadReply(String::new()));
    }
    if let Some(message) = reply.strip_suffix(" ERROR") {
        return Err(ClamdError::Clamd(message.to_owned()));
    }
    let Some(result) = reply.strip_prefix("stream: ") else {
        return Err(ClamdError::BadReply(reply.to_owned()));
    };
    if result == "OK" {
        return Ok(ClamdVerdict::Clean);
    }
    match result.strip_suffix(" FOUND") {
        Some(name)
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            Ok(ClamdVerdict::Found(name.to_owned()))
        }
        _ => Err(ClamdError::BadReply(reply.to_owned())),
    }
}

impl Scanner for ClamdScanner {
    fn name(&self) -> &str {
        "clamd"
    }

    fn scan(&self, data: &[u8]) -> Result<ScanVerdict, ScanError> {
        Ok(match self.scan_stream(data)? {
            ClamdVerdict::Clean => ScanVerdict::Clean,
            ClamdVerdict::Found(signature) => ScanVerdict::Infected { signature },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_into_typed_results() {
        assert_eq!(parse_reply("stream: OK").unwrap(), ClamdVerdict::Clean);
        assert_eq!(
            parse_reply("stream: Win.Test.EICAR_HDB-1 FOUND").unwrap(),
            ClamdVerdict::Found("Win.Test.EICAR_HDB-1".into())
        );
        assert!(matches!(
            parse_reply("INSTREAM size limit exceeded. ERROR"),
            Err(ClamdError::Clamd(m)) if m == "INSTREAM size limit exceeded."
        ));
        for bad in [
            "",
            "OK",
            "stream: ",
            "stream:  FOUND",
            "stream: x\u{7}y FOUND",
            "PONG",
        ] {
            assert!(
                matches!(parse_reply(bad), Err(ClamdError::BadReply(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_remote_tcp_clamd_is_refused() {
        let remote = ClamdConfig::new(ClamdAddress::Tcp("192.0.2.1:3310".parse().unwrap()));
        assert!(matches!(
            ClamdScanner::new(remote),
            Err(ClamdError::NotLoopback(_))
        ));
        let local = ClamdConfig::new(ClamdAddress::Tcp("127.0.0.1:3310".parse().unwrap()));
        assert!(ClamdScanner::new(local).is_ok());
    }

    #[test]
    fn oversized_data_is_refused_before_connecting() {
        let scanner = ClamdScanner::new(ClamdConfig {
            max_stream_bytes: 10,
            ..ClamdConfig::new(ClamdAddress::Unix("/nonexistent/clamd.sock".into()))
        })
        .unwrap();
        assert!(matches!(
            scanner.scan_stream(&[0; 11]),
            Err(ClamdError::TooLarge { len: 11, max: 10 })
        ));
        // In bounds, the missing socket is a connect error, not a verdict.
        assert!(matches!(
            scanner.scan_stream(&[0; 10]),
            Err(ClamdError::Connect { .. })
        ));
    }
}
