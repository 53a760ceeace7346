//! The defaults of [`NodeConfig`](super::NodeConfig): the public `DEFAULT_*` constants and the
//! functions serde calls for a missing key.

use std::net::{Ipv4Addr, SocketAddr};

use herald_proto::merkle::HashAlgorithm;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// Default TCP and UDP (QUIC) port for the libp2p listeners.
pub const DEFAULT_P2P_PORT: u16 = 4710;
/// Default port of the loopback HTTP listener (`/metrics`, `/health`, `/status`).
pub const DEFAULT_HTTP_PORT: u16 = 4711;
/// Default time between two sequencing rounds (DESIGN §2).
pub const DEFAULT_SEQUENCE_INTERVAL_MS: u64 = 250;
/// Default number of waiting entries that starts a round before the interval ends.
pub const DEFAULT_BATCH_MAX: usize = 4096;
/// Default capacity of the submission pool; a full pool answers "busy".
pub const DEFAULT_POOL_MAX: usize = 65_536;
/// Default bound on client requests being worked on at once; more are answered "busy".
pub const DEFAULT_MAX_INFLIGHT_REQUESTS: usize = 1024;
/// Default bound on established inbound connections; more are refused at the handshake.
pub const DEFAULT_MAX_INCOMING_CONNECTIONS: u32 = 1024;
/// Default bound on established connections with one peer, both directions together.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: u32 = 8;
/// Default time a request-response exchange may take.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Default entries per second one client peer may submit, sustained.
pub const DEFAULT_PEER_SUBMIT_RATE: u64 = 2_000;
/// Default entries one client peer may submit in a burst above that rate (two full batches).
pub const DEFAULT_PEER_SUBMIT_BURST: u64 = 8_192;
/// Default bytes of entries per second one client peer may submit, sustained.
pub const DEFAULT_PEER_SUBMIT_BYTES_RATE: u64 = 4 * 1024 * 1024;
/// Default bytes of entries one client peer may submit in a burst (eight full batches).
pub const DEFAULT_PEER_SUBMIT_BYTES_BURST: u64 = 8 * 1024 * 1024;
/// Default inbound connections from one IP address still in their handshake at once.
pub const DEFAULT_MAX_PENDING_PER_IP: u32 = 8;
/// Default milliseconds a new connection has to finish its handshake (noise, yamux).
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 3_000;
/// Default number of registered witnesses whose cosignatures make a checkpoint "cosigned".
pub const DEFAULT_QUORUM: usize = 1;
/// Default least time between two cross-logged checkpoints of one peer (cross-logging, DESIGN §2 "Witnessing and gossip").
pub const DEFAULT_CROSSLOG_INTERVAL_MS: u64 = 30_000;
/// Default free space (MiB) on the data directory's file system below which `/health` warns.
pub const DEFAULT_DISK_WARN_FREE_MIB: u64 = 1024;
/// Default free space (MiB) below which new submissions are answered BUSY.
pub const DEFAULT_DISK_MIN_FREE_MIB: u64 = 128;
/// Default pace of the background scrub of the sealed files, KiB read per second.
pub const DEFAULT_SCRUB_KIB_PER_SECOND: u64 = 4096;

/// Default lifetime of a login session (PAEP), seconds: 12 hours.
pub const DEFAULT_SESSION_LIFETIME_SECS: u64 = herald_proto::paep::DEFAULT_SESSION_LIFETIME_SECS;
/// Default bound on live login sessions.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Default prekey bundles one registered peer gateway may ask for per minute on behalf of all
/// its senders (each sender is limited at its own gateway; docs/decisions.md).
pub const DEFAULT_RELAY_PREKEY_BUNDLES_PER_MINUTE: u32 = 120_000;
/// Default (and longest) expiry of a mail, seconds from its acceptance: 3 days.
pub const DEFAULT_MAIL_EXPIRY_SECS: u64 = 3 * 24 * 3600;
/// Default first delay before a failed relay is retried, ms.
pub const DEFAULT_RELAY_RETRY_MIN_MS: u64 = 500;
/// Default longest delay between relay attempts, ms.
pub const DEFAULT_RELAY_RETRY_MAX_MS: u64 = 10_000;
/// Default mailbox quota, KiB of ciphertext per account: 64 MiB.
pub const DEFAULT_MAILBOX_QUOTA_KIB: u64 = 64 * 1024;
/// Default mailbox retention, seconds: 30 days.
pub const DEFAULT_MAILBOX_RETENTION_SECS: u64 = 30 * 24 * 3600;

pub(super) fn loopback(p: Protocol<'static>) -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4(Ipv4Addr::LOCALHOST))
        .with(p)
}

pub(super) fn default_witnessed_hash() -> HashAlgorithm {
    HashAlgorithm::Sha256
}

pub(super) fn default_hash() -> HashAlgorithm {
    HashAlgorithm::DEFAULT
}

pub(super) fn default_listen() -> Vec<Multiaddr> {
    let any = |p: Protocol<'static>| {
        Multiaddr::empty()
            .with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED))
            .with(p)
    };
    vec![
        any(Protocol::Tcp(DEFAULT_P2P_PORT)),
        any(Protocol::Udp(DEFAULT_P2P_PORT)).with(Protocol::QuicV1),
    ]
}

pub(super) fn default_http_listen() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_HTTP_PORT))
}

pub(super) fn default_sequence_interval_ms() -> u64 {
    DEFAULT_SEQUENCE_INTERVAL_MS
}

pub(super) fn default_batch_max() -> usize {
    DEFAULT_BATCH_MAX
}

pub(super) fn default_pool_max() -> usize {
    DEFAULT_POOL_MAX
}

pub(super) fn default_max_inflight_requests() -> usize {
    DEFAULT_MAX_INFLIGHT_REQUESTS
}

pub(super) fn default_max_incoming_connections() -> u32 {
    DEFAULT_MAX_INCOMING_CONNECTIONS
}

pub(super) fn default_max_connections_per_peer() -> u32 {
    DEFAULT_MAX_CONNECTIONS_PER_PEER
}

pub(super) fn default_request_timeout_ms() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_MS
}

pub(super) fn default_max_pending_per_ip() -> u32 {
    DEFAULT_MAX_PENDING_PER_IP
}

pub(super) fn default_handshake_timeout_ms() -> u64 {
    DEFAULT_HANDSHAKE_TIMEOUT_MS
}

pub(super) fn default_peer_submit_rate() -> u64 {
    DEFAULT_PEER_SUBMIT_RATE
}

pub(super) fn default_peer_submit_burst() -> u64 {
    DEFAULT_PEER_SUBMIT_BURST
}

pub(super) fn default_peer_submit_bytes_rate() -> u64 {
    DEFAULT_PEER_SUBMIT_BYTES_RATE
}

pub(super) fn default_peer_submit_bytes_burst() -> u64 {
    DEFAULT_PEER_SUBMIT_BYTES_BURST
}

pub(super) fn default_log_level() -> String {
    "info".to_owned()
}

pub(super) fn default_quorum() -> usize {
    DEFAULT_QUORUM
}

pub(super) fn default_session_lifetime_secs() -> u64 {
    DEFAULT_SESSION_LIFETIME_SECS
}

pub(super) fn default_max_sessions() -> usize {
    DEFAULT_MAX_SESSIONS
}

pub(super) fn default_relay_prekey_bundles_per_minute() -> u32 {
    DEFAULT_RELAY_PREKEY_BUNDLES_PER_MINUTE
}

pub(super) fn default_mail_expiry_secs() -> u64 {
    DEFAULT_MAIL_EXPIRY_SECS
}

pub(super) fn default_relay_retry_min_ms() -> u64 {
    DEFAULT_RELAY_RETRY_MIN_MS
}

pub(super) fn default_relay_retry_max_ms() -> u64 {
    DEFAULT_RELAY_RETRY_MAX_MS
}

pub(super) fn default_mailbox_quota_kib() -> u64 {
    DEFAULT_MAILBOX_QUOTA_KIB
}

pub(super) fn default_mailbox_retention_secs() -> u64 {
    DEFAULT_MAILBOX_RETENTION_SECS
}

pub(super) fn default_password_memory_kib() -> u32 {
    herald_proto::paep::Argon2Params::RECOMMENDED.memory_kib()
}

pub(super) fn default_password_iterations() -> u32 {
    herald_proto::paep::Argon2Params::RECOMMENDED.iterations()
}

pub(super) fn default_password_parallelism() -> u32 {
    herald_proto::paep::Argon2Params::RECOMMENDED.parallelism()
}

pub(super) fn default_crosslog_interval_ms() -> u64 {
    DEFAULT_CROSSLOG_INTERVAL_MS
}

pub(super) fn default_disk_warn_free_mib() -> u64 {
    DEFAULT_DISK_WARN_FREE_MIB
}

pub(super) fn default_disk_min_free_mib() -> u64 {
    DEFAULT_DISK_MIN_FREE_MIB
}

pub(super) fn default_scrub_kib_per_second() -> u64 {
    DEFAULT_SCRUB_KIB_PER_SECOND
}
