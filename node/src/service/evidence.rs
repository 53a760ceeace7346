//! The gateway's notary evidence for certified mail (DESIGN §3.4).
//!
//! For every `KeyPublication` this gateway logs (the lowest index for its req_hash; a duplicate
//! that slipped in gets none), it appends two `Evidence` records signed with its log key:
//!
//! | when | kind | why this kind |
//! |---|---|---|
//! | the publication is logged | `ACCEPTANCE` | ETSI REM "submission acceptance": the sender's gateway S_A took the sender's step (c) |
//! | the publication is first covered by a cosigned checkpoint | `CONSIGNMENT` | ETSI REM "content consignment": the content is made available to the recipient. Step (c)'s content is K wrapped to P_req, and from this moment B can fetch it with a proof every party accepts; `HANDOVER` would claim B retrieved it, which the gateway cannot see |
//!
//! Each record has `msg_id` = req_hash (so the `msg-id` index finds a publication's records),
//! `time` = when the gateway wrote it, and `reason` = `"key publication at index N"` (and
//! `", cosigned at tree size S"` for the consignment), which links the record to its leaf.
//!
//! **Address commitments.** For a sealed publication (every one admitted since the privacy fix,
//! DESIGN §3.4) the records carry the leaf's own commitments: `commit_address(mail salt, A)`
//! and `commit_address(mail salt, B)`, checked against the opening when the leaf was admitted.
//! The mail's salt comes from B's request (`certmail::mail_salt`), so both parties (and an
//! arbiter given the request) open the records as they open the leaf, and nobody else can.
//!
//! For a named publication (logged before the fix), whose records may still be due after an
//! upgrade: `sender_commitment = commit_address(salt, author)` and `recipient_commitment =
//! commit_address(salt, "")` (the named leaf does not say who the recipient is), with the
//! gateway's per-mail salt, derived, never stored:
//! `salt = KDF("herald v1 gateway evidence salt", lp(log key seed) ‖ lp(req_hash))`.
//! Only this gateway can compute it, so nobody can test address guesses against the public
//! log; the gateway can hand one mail's salt to its sender or an arbiter without revealing any
//! other mail's; and the same salt comes back after a restart without any state.
//!
//! **Durability.** The publications are listed in log order (`cm-publications`, written with
//! each leaf). Two cursors in the sled tree `evidence` say how far each kind was written; a
//! batch's records are queued in order, their acks awaited, and only then is the cursor moved
//! and flushed. A crash in between writes the batch again at the next start, minus any record
//! already logged (checked through the `msg-id` index): at least once, and never twice for what
//! is durable.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use herald_proto::entry::{EvidenceRecord, commit_address, is_sealed, lp};
use herald_proto::wire::pb::{self, log_entry};
use herald_proto::wire::{MAX_LOG_ENTRY_BYTES, decode};
use prost::Message as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::{Intake, PUBLICATIONS_INDEX, Refusal, index_writes};
use crate::sequencer::{PendingAck, SubmitError};
use crate::store::LogHead;

/// The KDF label of the per-mail address-commitment salt.
pub const EVIDENCE_SALT_LABEL: &str = "herald v1 gateway evidence salt";
/// The sled tree of the evidence cursors.
pub const EVIDENCE_TREE: &str = crate::db::Tree::Evidence.name();
/// Cursor: the next listed publication to write an `ACCEPTANCE` for (u64 BE log index).
const ACCEPTED: &[u8] = b"accepted";
/// Cursor: the next listed publication to write a `CONSIGNMENT` for.
const CONSIGNED: &[u8] = b"consigned";
/// Publications handled per batch.
const BATCH: usize = 64;
/// How often the cosigned checkpoint is looked at when no round was appended.
const POLL: Duration = Duration::from_millis(250);
/// Most evidence records looked at for one msg_id when checking for an earlier one.
const MAX_RECORDS_PER_MAIL: usize = 64;

/// The salt of the address commitments in the evidence of the mail `req_hash`.
pub fn evidence_salt(log_key: &SigningKey, req_hash: &[u8; 32]) -> [u8; 32] {
    let mut ikm = Vec::with_capacity(16 + 64);
    lp(&mut ikm, log_key.as_bytes());
    lp(&mut ikm, req_hash);
    blake3::derive_key(EVIDENCE_SALT_LABEL, &ikm)
}

/// One kind of record and its cursor.
#[derive(Clone, Copy, Debug)]
struct Stage {
    kind: pb::EvidenceKind,
    cursor: &'static [u8],
}

const STAGES: [Stage; 2] = [
    Stage {
        kind: pb::EvidenceKind::Acceptance,
        cursor: ACCEPTED,
    },
    Stage {
        kind: pb::EvidenceKind::Consignment,
        cursor: CONSIGNED,
    },
];

/// The task that writes the records.
pub struct EvidenceWriter {
    mail: Intake,
    heads: watch::Receiver<LogHead>,
    cursors: sled::Tree,
}

impl EvidenceWriter {
    /// The writer for `mail`'s log, woken by `heads`; its cursors live in `db`.
    pub fn open(
        mail: Intake,
        heads: watch::Receiver<LogHead>,
        db: &sled::Db,
    ) -> Result<Self, sled::Error> {
        Ok(EvidenceWriter {
            mail,
            heads,
            cursors: crate::db::Tree::Evidence.open(db)?,
        })
    }

    /// The entry point for the mail path's events (relay, policy), writing to the same log.
    pub fn recorder(&self) -> super::EvidenceRecorder {
        super::EvidenceRecorder::new(self.mail.clone())
    }

    /// Starts the task; it ends when the sequencer stops publishing heads.
    pub fn spawn(mut self) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                for stage in STAGES {
                    match self.catch_up(stage).await {
                        Ok(()) => {}
                        // A full pool is the log's back-pressure: the records wait their turn.
                        Err(e @ Refusal::Busy { .. }) => {
                            debug!(kind = ?stage.kind, error = %e, "evidence records wait");
                        }
                        Err(e) => warn!(kind = ?stage.kind, error = %e, "evidence records delayed"),
                    }
                }
                tokio::select! {
                    changed = self.heads.changed() => if changed.is_err() { break },
                    () = tokio::time::sleep(POLL) => {}
                }
            }
            debug!("evidence writer stopped");
        })
    }

    /// Writes the records of `stage` for every publication that is due.
    async fn catch_up(&self, stage: Stage) -> Result<(), Refusal> {
        loop {
            let this = (self.mail.clone(), self.cursors.clone());
            let Batch { due, next } = self
                .mail
                .blocking(move |_| prepare(&this.0, &this.1, stage))
                .await?;
            let Some(next) = next else { return Ok(()) };
            let mut queued: Vec<PendingAck> = Vec::with_capacity(due.len());
            let mut advance_to = next;
            let mut busy = None;
            for (entry, after) in due {
                let bytes = entry.encode_to_vec();
                match self
                    .mail
                    .parts()
                    .sequencer
                    .enqueue(bytes, index_writes(&entry))
                {
                    Ok(ack) => queued.push(ack),
                    Err(e) => {
                        // Records are written in order: stop at the first that is not queued.
                        advance_to = after - 1;
                        busy = Some(e);
                        break;
                    }
                }
            }
            for ack in queued {
                ack.await.map_err(Refusal::from_submit)?;
            }
            let cursors = self.cursors.clone();
            self.mail
                .blocking(move |_| {
                    cursors
                        .insert(stage.cursor, &advance_to.to_be_bytes())
                        .and_then(|_| cursors.flush())
                        .map(drop)
                        .map_err(|e| Refusal::Internal(format!("evidence cursor: {e}")))
                })
                .await?;
            if let Some(e) = busy {
                return Err(match e {
                    SubmitError::Busy { retry_after } => Refusal::Busy { retry_after },
                    other => Refusal::from_submit(other),
                });
            }
        }
    }
}

/// One batch of a stage.
struct Batch {
    /// The records due, each with the cursor value after it.
    due: Vec<(pb::LogEntry, u64)>,
    /// The cursor after the whole batch; `None`: nothing is due.
    next: Option<u64>,
}

/// The records of `stage` due now.
fn prepare(mail: &Intake, cursors: &sled::Tree, stage: Stage) -> Result<Batch, Refusal> {
    let store = &mail.parts().store;
    let cursor = match cursors
        .get(stage.cursor)
        .map_err(|e| Refusal::Internal(format!("evidence cursor: {e}")))?
    {
        Some(v) => u64::from_be_bytes(
            v.as_ref()
                .try_into()
                .map_err(|_| Refusal::Internal(format!("evidence cursor of {} bytes", v.len())))?,
        ),
        None => 0,
    };
    let covered = match stage.kind {
        pb::EvidenceKind::Consignment => match mail.cosigned()? {
            Some((_, size)) => size,
            None => {
                return Ok(Batch {
                    due: Vec::new(),
                    next: None,
                });
            }
        },
        _ => u64::MAX,
    };
    let listed = store
        .index_leaves(PUBLICATIONS_INDEX, b"", cursor, BATCH)
        .map_err(Refusal::from_read)?;
    let mut due = Vec::new();
    let mut next = None;
    for index in listed.into_iter().take_while(|i| *i < covered) {
        next = Some(index + 1);
        if let Some(entry) = record_for(mail, index, stage, covered)? {
            due.push((entry, index + 1));
        }
    }
    Ok(Batch { due, next })
}

/// The record of `stage` for the publication at `index`, unless it is a duplicate or its
/// record is already logged.
fn record_for(
    mail: &Intake,
    index: u64,
    stage: Stage,
    covered: u64,
) -> Result<Option<pb::LogEntry>, Refusal> {
    let store = &mail.parts().store;
    let Some(publication) = read_entry(mail, index)?.and_then(|e| match e.kind {
        Some(log_entry::Kind::KeyPublication(k)) => Some(k),
        _ => None,
    }) else {
        warn!(index, "listed publication is not a key publication");
        return Ok(None);
    };
    let Ok(req_hash) = <[u8; 32]>::try_from(publication.req_hash.as_slice()) else {
        return Ok(None);
    };
    let first = store
        .index_leaves("cm-req", &req_hash, 0, 1)
        .map_err(Refusal::from_read)?;
    if first.first() != Some(&index) {
        return Ok(None);
    }
    for logged in store
        .index_leaves("msg-id", &req_hash, 0, MAX_RECORDS_PER_MAIL)
        .map_err(Refusal::from_read)?
    {
        if let Some(log_entry::Kind::Evidence(e)) = read_entry(mail, logged)?.and_then(|e| e.kind)
            && e.kind == stage.kind as i32
        {
            return Ok(None);
        }
    }
    let (sender_commitment, recipient_commitment) = if is_sealed(&publication) {
        match (
            <[u8; 32]>::try_from(publication.author_commitment.as_slice()),
            <[u8; 32]>::try_from(publication.recipient_commitment.as_slice()),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Ok(None),
        }
    } else {
        let salt = evidence_salt(&mail.parts().log_key, &req_hash);
        (
            commit_address(&salt, &publication.author),
            commit_address(&salt, ""),
        )
    };
    let reason = match stage.kind {
        pb::EvidenceKind::Consignment => {
            format!("key publication at index {index}, cosigned at tree size {covered}")
        }
        _ => format!("key publication at index {index}"),
    };
    Ok(Some(
        EvidenceRecord {
            kind: stage.kind,
            msg_id: req_hash.to_vec(),
            sender_commitment,
            recipient_commitment,
            time: mail.now_secs(),
            reason,
        }
        .sign(&mail.parts().log_key),
    ))
}

fn read_entry(mail: &Intake, index: u64) -> Result<Option<pb::LogEntry>, Refusal> {
    let bytes = mail
        .parts()
        .store
        .entries(index, 1)
        .map_err(Refusal::from_read)?;
    Ok(bytes
        .first()
        .and_then(|b| decode::<pb::LogEntry>(b, MAX_LOG_ENTRY_BYTES).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_salt_is_the_documented_kdf_and_differs_per_mail_and_gateway() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let mut ikm = Vec::new();
        ikm.extend_from_slice(&32u64.to_le_bytes());
        ikm.extend_from_slice(&[3; 32]);
        ikm.extend_from_slice(&32u64.to_le_bytes());
        ikm.extend_from_slice(&[9; 32]);
        assert_eq!(
            evidence_salt(&key, &[9; 32]),
            blake3::derive_key("herald v1 gateway evidence salt", &ikm)
        );
        assert_ne!(evidence_salt(&key, &[9; 32]), evidence_salt(&key, &[8; 32]));
        let other = SigningKey::from_bytes(&[4; 32]);
        assert_ne!(
            evidence_salt(&key, &[9; 32]),
            evidence_salt(&other, &[9; 32])
        );
    }
}
