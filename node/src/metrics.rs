//! The node's Prometheus metrics: one `prometheus-client` [`Registry`] shared by every part.
//!
//! The gateway builds the registry, lets each part register its own metrics into it (the
//! sequencer: tree size, appends, batch sizes and latencies, pool depth, write failures, how far
//! the clock is behind; the log's disk: free bytes, state, submissions refused
//! (`store::space`); the scrub of the sealed files: records, bytes, failures, passes
//! (`store::scrub`); the network: what [`NetworkMetrics`] holds), then freezes it behind an
//! `Arc` for the HTTP listener, which renders it with [`render`]. Metric handles are cheap
//! clones of shared atomics.
//!
//! Label values are fixed, short strings from the protocol's vocabulary (never peer ids or
//! anything a peer chooses), so a peer cannot grow the number of series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use herald_proto::wire::pb::{ClientErrorKind, client_request, witness_refusal};

/// The `Content-Type` of [`render`]'s output (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A metric label `kind="..."`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The request or error kind.
    pub kind: &'static str,
}

/// The network layer's metrics.
#[derive(Clone, Debug, Default)]
pub struct NetworkMetrics {
    /// Peers with at least one open connection.
    pub peers_connected: Gauge,
    /// Client requests received, by request kind (`invalid` when the request did not decode).
    pub requests: Family<KindLabel, Counter>,
    /// Client requests refused, by `ClientError` kind; `stream` counts exchanges that failed
    /// below the protocol (reset, timeout, oversized or truncated frame).
    pub request_errors: Family<KindLabel, Counter>,
    /// Gossip messages received from peers.
    pub gossip_received: Counter,
    /// Gossip messages this node published.
    pub gossip_published: Counter,
    /// Gossip messages rejected by validation (their sender is penalised).
    pub gossip_rejected: Counter,
    /// Inbound connections refused because a connection bound was reached.
    pub connections_refused: Counter,
}

impl NetworkMetrics {
    /// Creates the network metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = NetworkMetrics::default();
        registry.register(
            "herald_peers_connected",
            "Peers with at least one open libp2p connection",
            m.peers_connected.clone(),
        );
        registry.register(
            "herald_client_requests",
            "Client protocol requests received, by kind",
            m.requests.clone(),
        );
        registry.register(
            "herald_client_request_errors",
            "Client protocol requests refused, by error kind",
            m.request_errors.clone(),
        );
        registry.register(
            "herald_gossip_received",
            "Gossipsub messages received from peers",
            m.gossip_received.clone(),
        );
        registry.register(
            "herald_gossip_published",
            "Gossipsub messages published by this node",
            m.gossip_published.clone(),
        );
        registry.register(
            "herald_gossip_rejected",
            "Gossipsub messages rejected by validation",
            m.gossip_rejected.clone(),
        );
        registry.register(
            "herald_connections_refused",
            "Inbound libp2p connections refused at a connection bound or the per-address handshake bound",
            m.connections_refused.clone(),
        );
        m
    }

    /// Counts one request of `kind`.
    pub fn request(&self, kind: &'static str) {
        self.requests.get_or_create(&KindLabel { kind }).inc();
    }

    /// Counts one refusal of `kind`.
    pub fn request_error(&self, kind: ClientErrorKind) {
        self.request_errors
            .get_or_create(&KindLabel {
                kind: error_label(kind),
            })
            .inc();
    }

    /// Counts one exchange that failed below the protocol.
    pub fn stream_failure(&self) {
        self.request_errors
            .get_or_create(&KindLabel { kind: "stream" })
            .inc();
    }
}

/// The witnessing metrics: this node as a witness, as a log collecting cosignatures, and as a
/// watcher for split views.
#[derive(Clone, Debug, Default)]
pub struct WitnessMetrics {
    /// `AddCheckpoint` requests answered as a witness, by result (`cosigned` or the refusal).
    pub witness_requests: Family<KindLabel, Counter>,
    /// `AddCheckpoint` requests this log sent to its witnesses, by outcome.
    pub cosign_requests: Family<KindLabel, Counter>,
    /// Cosigned checkpoints stored (a quorum reached for a newer checkpoint).
    pub cosigned_checkpoints: Counter,
    /// Tree size of the latest cosigned checkpoint of this log.
    pub cosigned_tree_size: Gauge,
    /// Equivocation proofs held.
    pub alerts: Gauge,
    /// Equivocations this node detected itself.
    pub equivocations_detected: Counter,
    /// Valid alerts received by gossip about a known log.
    pub alerts_received: Counter,
    /// Origins distrusted after an equivocation.
    pub distrusted_origins: Gauge,
    /// Peers' cosigned checkpoints appended to this log.
    pub crosslogged: Counter,
    /// Consistency audits of peers' checkpoints seen by gossip, by outcome (`consistent`,
    /// `split`, `unproven`).
    pub audits: Family<KindLabel, Counter>,
    /// Entries of registered peers' logs read for cross-logged checkpoints.
    pub scanned_entries: Counter,
}

impl WitnessMetrics {
    /// Creates the witnessing metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = WitnessMetrics::default();
        registry.register(
            "herald_witness_requests",
            "AddCheckpoint requests answered as a witness, by result",
            m.witness_requests.clone(),
        );
        registry.register(
            "herald_cosign_requests",
            "AddCheckpoint requests sent to this log's witnesses, by outcome",
            m.cosign_requests.clone(),
        );
        registry.register(
            "herald_cosigned_checkpoints",
            "Cosigned checkpoints of this log stored after reaching the quorum",
            m.cosigned_checkpoints.clone(),
        );
        registry.register(
            "herald_cosigned_tree_size",
            "Tree size of the latest cosigned checkpoint of this log",
            m.cosigned_tree_size.clone(),
        );
        registry.register(
            "herald_alerts",
            "Split-view alerts (verified equivocation proofs) held",
            m.alerts.clone(),
        );
        registry.register(
            "herald_equivocations_detected",
            "Equivocations this node detected itself",
            m.equivocations_detected.clone(),
        );
        registry.register(
            "herald_alerts_received",
            "Valid split-view alerts about a known log received by gossip",
            m.alerts_received.clone(),
        );
        registry.register(
            "herald_distrusted_origins",
            "Log origins distrusted after an equivocation",
            m.distrusted_origins.clone(),
        );
        registry.register(
            "herald_crosslogged_checkpoints",
            "Peers' cosigned checkpoints appended to this log",
            m.crosslogged.clone(),
        );
        registry.register(
            "herald_consistency_audits",
            "Peers' gossiped checkpoints checked against the held one with the log's own \
             consistency proof, by outcome",
            m.audits.clone(),
        );
        registry.register(
            "herald_peer_log_entries_scanned",
            "Entries of registered peers' logs read for cross-logged checkpoints",
            m.scanned_entries.clone(),
        );
        m
    }

    /// Counts one consistency audit's outcome.
    pub fn audit(&self, kind: &'static str) {
        self.audits.get_or_create(&KindLabel { kind }).inc();
    }

    /// Counts one witness answer: `cosigned` or a refusal's reason.
    pub fn witness_answer(&self, kind: &'static str) {
        self.witness_requests
            .get_or_create(&KindLabel { kind })
            .inc();
    }

    /// Counts one outcome of a request to a witness.
    pub fn cosign_outcome(&self, kind: &'static str) {
        self.cosign_requests
            .get_or_create(&KindLabel { kind })
            .inc();
    }
}

/// The label of a witness refusal reason.
pub fn refusal_label(reason: witness_refusal::Reason) -> &'static str {
    use witness_refusal::Reason;
    match reason {
        Reason::Unspecified => "unspecified",
        Reason::UnknownOrigin => "unknown_origin",
        Reason::BadSignature => "bad_signature",
        Reason::OldSizeTooLarge => "old_size_too_large",
        Reason::Conflict => "conflict",
        Reason::BadProof => "bad_proof",
        Reason::MalformedRequest => "malformed_request",
        Reason::UnregisteredPeer => "unregistered_peer",
        Reason::DistrustedOrigin => "distrusted_origin",
        Reason::Unavailable => "unavailable",
    }
}

/// PAEP's metrics: logins, sessions, prekeys.
#[derive(Clone, Debug, Default)]
pub struct PaepMetrics {
    /// Login steps by outcome: `started` (message 1 answered), `accepted` (confirmP verified),
    /// `failed` (confirmP refused), `abandoned` (an attempt that expired or was replaced without
    /// message 3: a wrong password, an unknown account, or a client that gave up),
    /// `rate_limited`, `busy` (no room for another attempt).
    pub logins: Family<KindLabel, Counter>,
    /// Sessions held (live, or expired and not yet asked for or purged).
    pub sessions: Gauge,
    /// Session frames refused, by reason (`unknown_session`, `replayed`, `out_of_order`,
    /// `forged`, `expired`, `closed`, `malformed`).
    pub frames_refused: Family<KindLabel, Counter>,
    /// Prekeys handed out, by kind (`one_time`, `fallback`).
    pub prekeys_handed_out: Family<KindLabel, Counter>,
    /// Prekey bundle requests refused because the asking peer asked too often.
    pub prekey_bundles_limited: Counter,
}

impl PaepMetrics {
    /// Creates the PAEP metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = PaepMetrics::default();
        registry.register(
            "herald_logins",
            "Login steps by outcome (started, accepted, failed, abandoned, rate_limited, busy)",
            m.logins.clone(),
        );
        registry.register("herald_sessions", "Live sessions", m.sessions.clone());
        registry.register(
            "herald_session_frames_refused",
            "Session frames refused, by reason",
            m.frames_refused.clone(),
        );
        registry.register(
            "herald_prekeys_handed_out",
            "Prekeys handed out, by kind (one_time, fallback)",
            m.prekeys_handed_out.clone(),
        );
        registry.register(
            "herald_prekey_bundles_limited",
            "Prekey bundle requests refused because the peer asked too often",
            m.prekey_bundles_limited.clone(),
        );
        m
    }

    /// Counts one login step with `outcome`.
    pub fn login(&self, outcome: &'static str) {
        self.logins
            .get_or_create(&KindLabel { kind: outcome })
            .inc();
    }
}

/// The label of a request kind.
pub fn request_label(request: &client_request::Request) -> &'static str {
    match request {
        client_request::Request::Submit(_) => "submit",
        client_request::Request::Checkpoint(_) => "checkpoint",
        client_request::Request::Entries(_) => "entries",
        client_request::Request::Inclusion(_) => "inclusion",
        client_request::Request::Consistency(_) => "consistency",
        client_request::Request::Alerts(_) => "alerts",
        client_request::Request::Register(_) => "register",
        client_request::Request::Binding(_) => "binding",
        client_request::Request::Publication(_) => "publication",
        client_request::Request::Trust(_) => "trust",
        client_request::Request::PasswordParams(_) => "password_params",
        client_request::Request::LoginShare(_) => "login_share",
        client_request::Request::LoginFinish(_) => "login_finish",
        client_request::Request::Session(_) => "session",
        client_request::Request::PrekeyBundle(_) => "prekey_bundle",
        client_request::Request::SubmitBatch(_) => "submit_batch",
        client_request::Request::Evidence(_) => "evidence",
        client_request::Request::Policy(_) => "policy",
        client_request::Request::RelayPrekey(_) => "relay_prekey",
        client_request::Request::RelayMail(_) => "relay_mail",
        client_request::Request::RelayMails(_) => "relay_mails",
        client_request::Request::RelayEvidence(_) => "relay_evidence",
        client_request::Request::RelayChunk(_) => "relay_chunk",
        client_request::Request::RelayLargeMail(_) => "relay_large_mail",
    }
}

/// The label of an error kind.
pub fn error_label(kind: ClientErrorKind) -> &'static str {
    match kind {
        ClientErrorKind::Unspecified => "unspecified",
        ClientErrorKind::Busy => "busy",
        ClientErrorKind::Malformed => "malformed",
        ClientErrorKind::TooLarge => "too_large",
        ClientErrorKind::UnknownEntryKind => "unknown_entry_kind",
        ClientErrorKind::Forbidden => "forbidden",
        ClientErrorKind::InvalidEntry => "invalid_entry",
        ClientErrorKind::OutOfRange => "out_of_range",
        ClientErrorKind::NotFound => "not_found",
        ClientErrorKind::Internal => "internal",
        ClientErrorKind::Duplicate => "duplicate",
        ClientErrorKind::Pending => "pending",
        ClientErrorKind::Unauthorized => "unauthorized",
        ClientErrorKind::RateLimited => "rate_limited",
    }
}

/// The registry in the text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; an encoder error would mean a bug in a metric type,
    // and an empty page is the honest answer then.
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_rendered_page() {
        let mut registry = Registry::default();
        let m = NetworkMetrics::register(&mut registry);
        m.request("submit");
        m.request("submit");
        m.request_error(ClientErrorKind::OutOfRange);
        m.stream_failure();
        m.peers_connected.set(3);
        m.gossip_rejected.inc();
        let page = render(&registry);
        for line in [
            "herald_client_requests_total{kind=\"submit\"} 2",
            "herald_client_request_errors_total{kind=\"out_of_range\"} 1",
            "herald_client_request_errors_total{kind=\"stream\"} 1",
            "herald_peers_connected 3",
            "herald_gossip_rejected_total 1",
            "herald_gossip_published_total 0",
        ] {
            assert!(page.lines().any(|l| l == line), "{line:?} not in\n{page}");
        }
        assert!(page.ends_with("# EOF\n"));
    }
}
