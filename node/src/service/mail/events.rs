//! Where the mail path writes its notary evidence (DESIGN §3.4): [`MailEvents`].
//!
//! **Queued, then durable.** An event's records are written in two steps: queued in the
//! sequencer ([`EvidenceRecorder::queue_all`]: claimed, looked up, signed, in the pool), then
//! awaited until durable ([`QueuedEvidence::durable`]). Every answer that depends on a record
//! still leaves only after the second step. The split is for S_B's record order
//! ([`record_order`](super::record_order)): the consignment holds the mail's turn only until its
//! records are queued, and the handover queues its record after them, so both usually land in
//! one sequencing round instead of one round each (docs/decisions.md, "One round at the
//! recipient's gateway").

use std::sync::Arc;

use herald_proto::identity::account_domain;
use herald_proto::paep::mail_parties;
use herald_proto::wire::pb;
use tracing::{info, warn};

use super::{MailMetrics, record_order};
use crate::metrics::KindLabel;
use crate::service::Refusal;
use crate::service::mail_evidence::{EvidenceRecorder, MailEvent, QueuedRecords};

/// Where the mail path writes its notary evidence (DESIGN §3.4): each event is counted in
/// `herald_mail_events_total{kind}`, logged, and — where this gateway saw the mail's verified
/// envelope — recorded in the log through the one [`EvidenceRecorder`], keyed by msg_id, its
/// addresses committed with the salt of proto's `paep::mail_parties` (from msg_id and Y_A) so
/// both parties can open the records of both gateways. A record is durable before the event's
/// answer leaves (the answer awaits `QueuedEvidence::durable`, which returns once the record is
/// in a signed checkpoint); a record that cannot be written is logged and counted
/// (`herald_mail_events_total{kind="evidence_failed"}`) and does not undo the mail's progress
/// (the mail is durable either way).
#[derive(Clone, Debug)]
pub struct MailEvents {
    metrics: MailMetrics,
    recorder: EvidenceRecorder,
    /// Each mail's consignment records before its handover ([`record_order`]).
    order: Arc<record_order::RecordOrder>,
}

/// How often a record that is being written by another call (`Busy`) is tried again.
const EVIDENCE_TRIES: u32 = 20;

/// An event's records, queued in the sequencer (or not written: counted already).
#[must_use = "the records are queued; the event's answer waits for `durable`"]
pub(crate) struct QueuedEvidence {
    events: MailEvents,
    queued: Option<(QueuedRecords, Vec<MailEvent>)>,
}

impl QueuedEvidence {
    /// Returns once the records are durable, or counted as not written. A round refused
    /// (`Busy`: the disk ran low after they were queued) is tried again, queued anew: by then
    /// the mail's turn may have passed on, so a record written this way can follow a later
    /// event's record in the log (the one case the record order does not cover).
    pub(crate) async fn durable(self) {
        let Some((mut queued, events)) = self.queued else {
            return;
        };
        for _ in 1..EVIDENCE_TRIES {
            match queued.durable().await {
                Ok(_) => return,
                Err(Refusal::Busy { retry_after }) => {
                    warn!(
                        kinds = ?names(&events),
                        "evidence round refused after its records were queued; queueing again"
                    );
                    tokio::time::sleep(retry_after).await;
                }
                Err(e) => return self.events.not_written(&events, &e.to_string()),
            }
            queued = match self.events.queue(&events).await {
                Some(q) => q,
                None => return,
            };
        }
        if let Err(e) = queued.durable().await {
            self.events.not_written(&events, &e.to_string());
        }
    }
}

fn names(events: &[MailEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str_name()).collect()
}

impl MailEvents {
    pub(super) fn new(metrics: MailMetrics, recorder: EvidenceRecorder) -> Self {
        MailEvents {
            metrics,
            recorder,
            order: Arc::default(),
        }
    }

    fn count(&self, kind: &'static str) {
        self.metrics.events.get_or_create(&KindLabel { kind }).inc();
    }

    fn not_written(&self, events: &[MailEvent], why: &str) {
        self.count("evidence_failed");
        warn!(error = why, kinds = ?names(events), "evidence record not written");
    }

    /// Queues `events`, trying again while another call writes one of them (`Busy`); `None`
    /// (counted) if they cannot be queued.
    async fn queue(&self, events: &[MailEvent]) -> Option<QueuedRecords> {
        for _ in 0..EVIDENCE_TRIES {
            match self.recorder.queue_all(events.to_vec()).await {
                Ok(queued) => return Some(queued),
                Err(Refusal::Busy { retry_after }) => tokio::time::sleep(retry_after).await,
                Err(e) => {
                    self.not_written(events, &e.to_string());
                    return None;
                }
            }
        }
        self.not_written(events, "still busy");
        None
    }

    /// Queues `kinds` for `envelope` with `reason`, in order, in one sequencing round.
    async fn queue_all(
        &self,
        kinds: &[pb::EvidenceKind],
        envelope: &pb::MailEnvelope,
        reason: &str,
    ) -> QueuedEvidence {
        let queued = match mail_parties(envelope) {
            Ok(parties) => {
                let events: Vec<MailEvent> = kinds
                    .iter()
                    .map(|&kind| MailEvent {
                        kind,
                        msg_id: envelope.msg_id.clone(),
                        parties: parties.clone(),
                        reason: reason.to_owned(),
                    })
                    .collect();
                self.queue(&events).await.map(|q| (q, events))
            }
            Err(e) => {
                self.count("evidence_failed");
                warn!(error = %e, "no evidence record: the envelope's parties do not commit");
                None
            }
        };
        QueuedEvidence {
            events: self.clone(),
            queued,
        }
    }

    /// Records `kind` for `envelope` with `reason` (see the type's docs).
    pub(super) async fn record(
        &self,
        kind: pb::EvidenceKind,
        envelope: &pb::MailEnvelope,
        reason: &str,
    ) {
        self.queue_all(&[kind], envelope, reason)
            .await
            .durable()
            .await;
    }

    /// `Acceptance`: S_A took `envelope` from its sender (durable in the outbound queue).
    pub async fn accepted(&self, envelope: &pb::MailEnvelope, expires_at: u64) {
        self.count("acceptance");
        info!(
            msg_id = hex::encode(&envelope.msg_id),
            expires_at, "mail accepted from sender"
        );
        self.record(pb::EvidenceKind::Acceptance, envelope, "")
            .await;
    }

    /// S_A's side of the relay: S_B acknowledged `envelope` (S_B records `RelayAccepted`).
    pub fn relayed(&self, envelope: &pb::MailEnvelope, duplicate: bool) {
        self.count("relayed");
        info!(
            msg_id = hex::encode(&envelope.msg_id),
            duplicate, "mail relayed; the recipient's gateway took it"
        );
    }

    /// `RelayAccepted` (when relayed from another domain) and `Consignment` (S_B): `envelope` is
    /// durable in its recipient's mailbox as entry `id`. Returns once the records are queued;
    /// the relay's answer waits for [`QueuedEvidence::durable`].
    pub(crate) async fn consigned(
        &self,
        envelope: &pb::MailEnvelope,
        from_domain: &str,
        id: u64,
    ) -> QueuedEvidence {
        self.count("consignment");
        info!(
            msg_id = hex::encode(&envelope.msg_id),
            from_domain, id, "mail put in mailbox"
        );
        if account_domain(&envelope.recipient) != Some(from_domain) {
            self.count("relay_accepted");
        }
        self.queue_consignment(envelope, from_domain).await
    }

    /// The records of [`consigned`](Self::consigned), queued again for a repeated relay: a
    /// crash between the mailbox write and its records (or between queueing them and their
    /// round) leaves them unwritten, and a record already logged is not logged twice.
    pub(crate) async fn queue_consignment(
        &self,
        envelope: &pb::MailEnvelope,
        from_domain: &str,
    ) -> QueuedEvidence {
        // No reason text: the relaying domain is the sender's, and a public record names no
        // domain of the mail's parties.
        // Both in one round: a relay waits for one round of evidence, not two.
        let kinds: &[pb::EvidenceKind] = if account_domain(&envelope.recipient) != Some(from_domain)
        {
            &[
                pb::EvidenceKind::RelayAccepted,
                pb::EvidenceKind::Consignment,
            ]
        } else {
            &[pb::EvidenceKind::Consignment]
        };
        self.queue_all(kinds, envelope, "").await
    }

    /// The mail's turn to queue its consignment records: taken before the mailbox write and
    /// dropped once they are queued, so a fetch's `Handover` is queued after them
    /// ([`record_order`]).
    pub(super) async fn consignment_turn(&self, msg_id: &[u8]) -> record_order::Turn {
        self.order.turn(msg_id).await
    }

    /// `Handover` (S_B): the recipient fetched `mail`; its record is queued after the
    /// consignment's (the mail's turn) and durable when this returns.
    pub async fn handed_over(&self, mail: &pb::StoredMail) {
        self.count("handover");
        let Some(envelope) = mail.envelope.as_ref() else {
            return;
        };
        let queued = {
            let _after_the_consignment = self.order.turn(&envelope.msg_id).await;
            info!(
                msg_id = hex::encode(&envelope.msg_id),
                id = mail.id,
                "mail handed over to its recipient"
            );
            self.queue_all(&[pb::EvidenceKind::Handover], envelope, "")
                .await
        };
        queued.durable().await;
    }

    /// `NonDelivery` (S_A): `envelope` will not be delivered, for `reason`.
    pub async fn not_delivered(&self, envelope: &pb::MailEnvelope, reason: &str) {
        self.count("non_delivery");
        warn!(
            msg_id = hex::encode(&envelope.msg_id),
            reason, "mail not delivered"
        );
        self.record(pb::EvidenceKind::NonDelivery, envelope, reason)
            .await;
    }

    /// A refusal of `msg_id` before its envelope was verified (counted and logged only: an
    /// unverified envelope's addresses are nobody's to commit to).
    pub fn rejected(&self, msg_id: &[u8], reason: &str) {
        self.count("rejection");
        warn!(msg_id = hex::encode(msg_id), reason, "mail rejected");
    }

    /// `Rejection`: this gateway refused the verified `envelope` (from its own sender, or
    /// relayed by a registered peer), for `reason`.
    pub async fn rejected_mail(&self, envelope: &pb::MailEnvelope, reason: &str) {
        self.rejected(&envelope.msg_id, reason);
        self.record(pb::EvidenceKind::Rejection, envelope, reason)
            .await;
    }
}
