//! The documented TOML file `init` writes: [`NodeConfig::to_toml`].

use serde::Serialize;

use super::*;

impl NodeConfig {
    /// The documented TOML file for this configuration: every option with what it does, its
    /// default and when to change it. Parsing it gives back `self`.
    pub fn to_toml(&self) -> String {
        let listen = self
            .listen
            .iter()
            .map(|a| toml_string(&a.to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            r#"# Herald gateway node configuration, written by `herald-node init`.
# Every option can be overridden at `herald-node run` by a flag or a HERALD_* environment
# variable (see `herald-node run --help`). Unknown keys are an error.

# The mail domain this gateway serves. The log's origin and signing key name is
# "<domain>/herald". Fixed at init: the keys carry this name.
domain = {domain}

# Directory with the keys (keys/), the log database (log/) and node.json, which a running node
# writes with its bound addresses. Move it only with the node stopped.
data_dir = {data_dir}

# The log's hash: "sha256" (default, as C2SP tiles and witnesses expect) or "blake3". Fixed at init; the node
# refuses to start if this differs from the log's recorded hash.
hash = {hash}

# libp2p listen addresses, TCP and QUIC (default port {p2p_port}). Use 0.0.0.0 (or ::) to serve
# other hosts, 127.0.0.1 for a local test; port 0 lets the OS choose (see node.json).
listen = [{listen}]

# The HTTP listener for /metrics (Prometheus), /health, /status and the admin API (bearer
# token). Default 127.0.0.1:{http_port}. A non-loopback address is refused unless
# http_listen_public is true.
http_listen = {http_listen}

# Allow a non-loopback http_listen (default false). The admin API's bearer token then travels in
# clear HTTP on that interface, and the node logs a warning at every start: set it only behind a
# firewall or a TLS-terminating proxy.
http_listen_public = {http_listen_public}

# Milliseconds between sequencing rounds (default {interval}). A submitter waits up to this long
# for its entry to be durable; lower it for latency, raise it to sign fewer checkpoints.
sequence_interval_ms = {sequence_interval_ms}

# Waiting entries that start a round before the interval ends (default {batch}). Larger batches
# amortise the flush; at most pool_max.
batch_max = {batch_max}

# Capacity of the submission pool (default {pool}). When full, clients are told "busy, retry
# after"; raise it only if bursts are larger than the disk can absorb in one interval.
pool_max = {pool_max}

# Client requests being worked on at once (default {inflight}); more are answered "busy".
max_inflight_requests = {max_inflight_requests}

# Established inbound libp2p connections at once (default {incoming}); more are refused at the
# handshake. Outbound connections to registered peers do not count, so a flood of inbound
# connections cannot cut this gateway off from its witnesses.
max_incoming_connections = {max_incoming_connections}

# Established connections with any one peer at once, both directions (default {per_peer}).
max_connections_per_peer = {max_connections_per_peer}

# Milliseconds a request to a peer may take, the whole exchange to the answer's last byte (default {timeout}).
request_timeout_ms = {request_timeout_ms}

# Inbound connections from one IP address still in their handshake at once (default
# {pending_per_ip}); more from that address are refused at once, so one source holding idle
# sockets cannot take every handshake slot from clients and peers elsewhere.
max_pending_per_ip = {max_pending_per_ip}

# Milliseconds a new connection has to finish its handshake, noise and yamux (default
# {handshake}); a connection that has not is closed, so idle sockets free their slot quickly.
handshake_timeout_ms = {handshake_timeout_ms}

# Entries one client peer (libp2p peer id) may submit per second, sustained; 0 for no limit
# (default {submit_rate}). Beyond its limits a client is answered "rate limited, retry after".
# The pool (pool_max) still bounds every peer together.
peer_submit_rate = {peer_submit_rate}

# Entries one client peer may submit at once above its rate (default {submit_burst}); a batch
# larger than this is charged this much.
peer_submit_burst = {peer_submit_burst}

# Bytes of entries one client peer may submit per second, sustained; 0 for no limit (default
# {submit_bytes_rate}).
peer_submit_bytes_rate = {peer_submit_bytes_rate}

# Bytes of entries one client peer may submit at once above its rate (default
# {submit_bytes_burst}, at least one largest entry).
peer_submit_bytes_burst = {peer_submit_bytes_burst}

# Log filter when RUST_LOG is not set: error, warn, info (default), debug, trace, or
# per-crate directives such as "info,herald_node=debug".
log_level = {log_level}

# How many registered peers' witnesses must cosign a checkpoint of this log before it is stored
# and served as "cosigned" (default {quorum}, at most the number of peers). Clients apply their
# own witness policy; this only decides what the gateway stores, gossips and serves.
quorum = {quorum_value}

# Least milliseconds between two cross-logged checkpoints of one peer (default {crosslog}).
# Each gateway appends its peers' cosigned checkpoints to its own log; the interval keeps that
# from ping-ponging (my entry makes a checkpoint you log, which makes one I log, ...).
crosslog_interval_ms = {crosslog_interval_ms}

# Free space on the data directory's file system, in MiB. Below disk_warn_free_mib (default
# {disk_warn}) /health reports the node "degraded"; below disk_min_free_mib (default {disk_min})
# every new submission is answered BUSY and /health reports "unhealthy", until space is freed:
# the log then never meets a full disk in the middle of a round (which stops the node). Keep the
# minimum above what a few rounds write (batch_max entries of up to 64 KiB each at most). 0 turns
# either off. The herald_disk_* metrics show the free bytes and the state.
disk_warn_free_mib = {disk_warn_free_mib}
# At most disk_warn_free_mib (unless that is 0).
disk_min_free_mib = {disk_min_free_mib}

# KiB per second of sealed records (entries, hash tiles, leaf-hash buckets) that the background
# scrub reads and verifies against their checksums (default {scrub}; 0: no scrub). It starts at
# the first record at every start, makes at most one pass a minute, and reports a damaged record
# in /health ("degraded", the record named) and in the herald_scrub_* metrics.
scrub_kib_per_second = {scrub_kib_per_second}

# Seconds a login session lives (default {session_lifetime}, 60 to 604800). After it the
# client logs in again; a restart of the node also ends every session (they are kept in memory).
session_lifetime_secs = {session_lifetime_secs}

# Live login sessions at once (default {max_sessions}); a login beyond it is answered "busy".
max_sessions = {max_sessions_value}

# Prekey bundles one registered peer gateway may ask for per minute on behalf of all its
# senders (default {relay_bundles}, 1 to 10000000); each sender is limited at its own gateway.
relay_prekey_bundles_per_minute = {relay_bundles_value}

# Mail (DESIGN §3.2): seconds a mail is tried before the gateway gives up and records it as not
# delivered (default {mail_expiry}); also the latest expiry a sender may ask for.
mail_expiry_secs = {mail_expiry_secs}
# First delay before a failed relay to a peer is retried, ms (default {retry_min}); doubled per
# attempt up to relay_retry_max_ms.
relay_retry_min_ms = {relay_retry_min_ms}
# Longest delay between two relay attempts, ms (default {retry_max}).
relay_retry_max_ms = {relay_retry_max_ms}
# KiB of mail one mailbox holds at most (default {quota}); a relay beyond it is refused.
mailbox_quota_kib = {mailbox_quota_kib}
# Seconds a mail nobody acknowledged stays in a mailbox (default {retention}); at least
# mail_expiry_secs, so a relay replayed after it is refused as expired. A sender's delivery
# records (what its outbox lists) are kept as long.
mailbox_retention_secs = {mailbox_retention_secs}

# Argon2id costs offered to clients for their passwords (default {pw_memory} KiB, {pw_iterations}
# passes, {pw_parallelism} lanes: RFC 9106's second recommendation), and the least memory and
# passes a password record sent at registration or a password change may have. Unknown accounts
# are offered the same, so set what your accounts use; raising them applies to new passwords.
password_memory_kib = {password_memory_kib}
# Argon2id passes offered for passwords (see password_memory_kib).
password_iterations = {password_iterations}
# Argon2id lanes offered for passwords (see password_memory_kib).
password_parallelism = {password_parallelism}

# Test-only admin calls (POST /admin/test/fork makes this log sign a conflicting checkpoint
# with its real key). Leave false (default) on every real gateway.
test_hooks = {test_hooks}
# Test-only, with test_hooks: refuse relay_mails requests as a gateway that predates them.
test_refuse_relay_batches = {test_refuse_relay_batches}
# Test-only, with test_hooks: refuse next_mails session requests as a gateway that predates them.
test_refuse_next_mails = {test_refuse_next_mails}

# Peer domains this gateway trusts: it witnesses their logs, they witness this one, and only
# they may call the witness protocol. Entries here are registered (again) at every start;
# `herald-node peer add|remove|list` (or the admin API) change the registry at run time.
# Each entry: domain, log_key, witness_key, hash ("sha256" default or "blake3"), peer_id and
# addrs (TCP or QUIC multiaddrs). [[peers]] tables work as well as this inline form.
peers = [{peers}]

# Other C2SP logs this node witnesses, not peer domains: each entry's key (a C2SP signed-note
# verifier key, whose name is the log's origin) and hash ("sha256", C2SP's and the default, or
# "blake3"). Such a log (or anyone holding its checkpoints) asks with POST /add-checkpoint.
witnessed_logs = [{witnessed_logs}]

# External C2SP witnesses this log asks for cosignatures over HTTP (POST <url>/add-checkpoint):
# each entry's url (http:// only) and key (the witness's signed-note verifier key). Their
# cosignatures count toward quorum beside the registered peers'.
external_witnesses = [{external_witnesses}]
{policy}"#,
            domain = toml_string(&self.domain),
            data_dir = toml_string(&self.data_dir.to_string_lossy()),
            hash = toml_string(self.hash.as_str()),
            p2p_port = DEFAULT_P2P_PORT,
            listen = listen,
            http_port = DEFAULT_HTTP_PORT,
            http_listen = toml_string(&self.http_listen.to_string()),
            http_listen_public = self.http_listen_public,
            interval = DEFAULT_SEQUENCE_INTERVAL_MS,
            sequence_interval_ms = self.sequence_interval_ms,
            batch = DEFAULT_BATCH_MAX,
            batch_max = self.batch_max,
            pool = DEFAULT_POOL_MAX,
            pool_max = self.pool_max,
            inflight = DEFAULT_MAX_INFLIGHT_REQUESTS,
            max_inflight_requests = self.max_inflight_requests,
            incoming = DEFAULT_MAX_INCOMING_CONNECTIONS,
            max_incoming_connections = self.max_incoming_connections,
            per_peer = DEFAULT_MAX_CONNECTIONS_PER_PEER,
            max_connections_per_peer = self.max_connections_per_peer,
            timeout = DEFAULT_REQUEST_TIMEOUT_MS,
            request_timeout_ms = self.request_timeout_ms,
            pending_per_ip = DEFAULT_MAX_PENDING_PER_IP,
            max_pending_per_ip = self.max_pending_per_ip,
            handshake = DEFAULT_HANDSHAKE_TIMEOUT_MS,
            handshake_timeout_ms = self.handshake_timeout_ms,
            submit_rate = DEFAULT_PEER_SUBMIT_RATE,
            peer_submit_rate = self.peer_submit_rate,
            submit_burst = DEFAULT_PEER_SUBMIT_BURST,
            peer_submit_burst = self.peer_submit_burst,
            submit_bytes_rate = DEFAULT_PEER_SUBMIT_BYTES_RATE,
            peer_submit_bytes_rate = self.peer_submit_bytes_rate,
            submit_bytes_burst = DEFAULT_PEER_SUBMIT_BYTES_BURST,
            peer_submit_bytes_burst = self.peer_submit_bytes_burst,
            log_level = toml_string(&self.log_level),
            quorum = DEFAULT_QUORUM,
            quorum_value = self.quorum,
            crosslog = DEFAULT_CROSSLOG_INTERVAL_MS,
            crosslog_interval_ms = self.crosslog_interval_ms,
            disk_warn = DEFAULT_DISK_WARN_FREE_MIB,
            disk_warn_free_mib = self.disk_warn_free_mib,
            disk_min = DEFAULT_DISK_MIN_FREE_MIB,
            disk_min_free_mib = self.disk_min_free_mib,
            scrub = DEFAULT_SCRUB_KIB_PER_SECOND,
            scrub_kib_per_second = self.scrub_kib_per_second,
            session_lifetime = DEFAULT_SESSION_LIFETIME_SECS,
            session_lifetime_secs = self.session_lifetime_secs,
            max_sessions = DEFAULT_MAX_SESSIONS,
            max_sessions_value = self.max_sessions,
            relay_bundles = DEFAULT_RELAY_PREKEY_BUNDLES_PER_MINUTE,
            relay_bundles_value = self.relay_prekey_bundles_per_minute,
            mail_expiry = DEFAULT_MAIL_EXPIRY_SECS,
            mail_expiry_secs = self.mail_expiry_secs,
            retry_min = DEFAULT_RELAY_RETRY_MIN_MS,
            relay_retry_min_ms = self.relay_retry_min_ms,
            retry_max = DEFAULT_RELAY_RETRY_MAX_MS,
            relay_retry_max_ms = self.relay_retry_max_ms,
            quota = DEFAULT_MAILBOX_QUOTA_KIB,
            mailbox_quota_kib = self.mailbox_quota_kib,
            retention = DEFAULT_MAILBOX_RETENTION_SECS,
            mailbox_retention_secs = self.mailbox_retention_secs,
            pw_memory = default_password_memory_kib(),
            pw_iterations = default_password_iterations(),
            pw_parallelism = default_password_parallelism(),
            password_memory_kib = self.password_memory_kib,
            password_iterations = self.password_iterations,
            password_parallelism = self.password_parallelism,
            test_hooks = self.test_hooks,
            test_refuse_relay_batches = self.test_refuse_relay_batches,
            test_refuse_next_mails = self.test_refuse_next_mails,
            peers = tables_toml(&self.peers),
            witnessed_logs = tables_toml(&self.witnessed_logs),
            external_witnesses = tables_toml(&self.external_witnesses),
            policy = self.policy.to_toml_section(),
        )
    }
}

/// `items` (the `peers`, `witnessed_logs` or `external_witnesses` records) as the inside of a
/// TOML array of inline tables: one table a line, indented two spaces and followed by a comma,
/// then a line break before the `]`; nothing when there are none (`name = []`).
fn tables_toml<T: Serialize>(items: &[T]) -> String {
    let mut out = String::new();
    for p in items {
        // Invariant: a record of strings (and lists of strings) always converts to a TOML table.
        let table = toml::Value::try_from(p).expect("a record of strings is a TOML table");
        out.push_str("\n  ");
        out.push_str(&table.to_string());
        out.push(',');
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// A TOML basic string with every character escaped as TOML requires.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
