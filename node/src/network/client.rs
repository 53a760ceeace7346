//! The client protocol `/herald/client/1`, server side: one `ClientRequest` in, one
//! `ClientResponse` out, never a panic.
//!
//! Submissions are checked before anything changes (DESIGN §5): the entry must decode, have a
//! kind this node knows (`UNKNOWN_ENTRY_KIND`), be a kind clients may author (for now only
//! `Notarization`; others are `FORBIDDEN`), satisfy the schema's bounds (`MALFORMED`) and carry a
//! valid author signature (`INVALID_ENTRY`). Only then does it go to the sequencer, exactly as
//! sent, and the answer waits until it is durable. Reads (entries, proofs) run on blocking
//! threads and see only the published (flushed) log.
//!
//! Witnessing (issue 4): `CheckpointRequest { cosigned: true }` answers the latest checkpoint a
//! quorum of this gateway's witnesses cosigned (`NOT_FOUND` while there is none), and
//! `AlertsRequest` the equivocation proofs the gateway holds, each of which the client verifies
//! itself.

use herald_proto::entry::verify_notarization;
use herald_proto::merkle::{HASH_LEN, Hash};
use herald_proto::wire::pb::{
    self, ClientErrorKind, client_request, client_response, inclusion_request,
};
use herald_proto::wire::{
    self, MAX_ALERTS_PER_ANSWER, MAX_ERROR_MESSAGE_BYTES, MAX_LOG_ENTRY_BYTES, Validate as _,
    WireError,
};
use tracing::{debug, error};

use crate::sequencer::{SequencerHandle, SubmitError};
use crate::store::{LogStore, ReadError};
use crate::witness::Witnessing;

/// Answers client requests from the log. Cheap to clone (handles inside).
#[derive(Clone, Debug)]
pub struct ClientService {
    sequencer: SequencerHandle,
    store: LogStore,
    witnessing: Witnessing,
}

/// A `ClientResponse` holding a `ClientError` of `kind`, its message cut to the wire limit.
pub fn client_error(kind: ClientErrorKind, message: &str) -> pb::ClientResponse {
    let mut end = message.len().min(MAX_ERROR_MESSAGE_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    error_response(pb::ClientError {
        kind: kind as i32,
        message: message[..end].to_owned(),
        retry_after_ms: 0,
        tree_size: 0,
    })
}

fn error_response(e: pb::ClientError) -> pb::ClientResponse {
    pb::ClientResponse {
        response: Some(client_response::Response::Error(e)),
    }
}

fn answer(response: client_response::Response) -> pb::ClientResponse {
    pb::ClientResponse {
        response: Some(response),
    }
}

impl ClientService {
    /// A service over the sequencer (for submissions), the store (for reads) and the witness
    /// (for alerts).
    pub fn new(sequencer: SequencerHandle, store: LogStore, witnessing: Witnessing) -> Self {
        ClientService {
            sequencer,
            store,
            witnessing,
        }
    }

    /// Answers one validated request.
    pub async fn handle(&self, request: pb::ClientRequest) -> pb::ClientResponse {
        match request.request {
            None => client_error(ClientErrorKind::Malformed, "request has no kind"),
            Some(client_request::Request::Submit(submit)) => self.submit(submit.entry).await,
            Some(client_request::Request::Checkpoint(r)) if r.cosigned => self
                .read(|store| match store.cosigned()? {
                    Some(note) => Ok(client_response::Response::Checkpoint(
                        pb::SignedCheckpoint { note },
                    )),
                    None => Err(ReadError::NotFound),
                })
                .await
                .map_not_found("no checkpoint of this log has been cosigned yet"),
            Some(client_request::Request::Checkpoint(_)) => self.checkpoint(),
            Some(client_request::Request::Alerts(r)) => self.alerts(r.origin).await,
            Some(client_request::Request::Entries(r)) => {
                self.read(move |store| {
                    let entries = store.entries(r.start, r.count)?;
                    Ok(client_response::Response::Entries(pb::EntryPage {
                        start: r.start,
                        entries,
                    }))
                })
                .await
            }
            Some(client_request::Request::Inclusion(r)) => {
                self.read(move |store| inclusion(store, r)).await
            }
            Some(client_request::Request::Consistency(r)) => {
                self.read(move |store| {
                    let hashes = store.consistency_proof(r.size1, r.size2)?;
                    Ok(client_response::Response::Consistency(
                        pb::ConsistencyProof::new(r.size1, r.size2, &hashes),
                    ))
                })
                .await
            }
            // Certified mail's requests (issue 5) are answered once this node serves accounts.
            Some(
                client_request::Request::Register(_)
                | client_request::Request::Binding(_)
                | client_request::Request::Publication(_)
                | client_request::Request::Trust(_),
            ) => client_error(
                ClientErrorKind::Malformed,
                "this gateway does not serve certified-mail requests yet",
            ),
        }
    }

    fn checkpoint(&self) -> pb::ClientResponse {
        let head = self.store.head();
        if head.checkpoint.is_empty() {
            return client_error(ClientErrorKind::Internal, "no checkpoint signed yet");
        }
        answer(client_response::Response::Checkpoint(
            pb::SignedCheckpoint {
                note: head.checkpoint,
            },
        ))
    }

    async fn alerts(&self, origin: String) -> pb::ClientResponse {
        let witnessing = self.witnessing.clone();
        let listed = tokio::task::spawn_blocking(move || {
            let origin = (!origin.is_empty()).then_some(origin.as_str());
            witnessing.alerts().list(origin, MAX_ALERTS_PER_ANSWER)
        })
        .await;
        match listed {
            Ok(Ok(alerts)) => answer(client_response::Response::Alerts(pb::AlertList {
                alerts: alerts.iter().map(|a| a.to_wire()).collect(),
            })),
            Ok(Err(e)) => {
                error!(error = %e, "alert read failed");
                client_error(
                    ClientErrorKind::Internal,
                    "the gateway could not read its alerts",
                )
            }
            Err(e) => {
                error!(error = %e, "alert read task failed");
                client_error(ClientErrorKind::Internal, "read failed")
            }
        }
    }

    async fn submit(&self, entry: Vec<u8>) -> pb::ClientResponse {
        if let Err(refusal) = check_entry(&entry) {
            return refusal;
        }
        match self.sequencer.submit(entry).await {
            Ok(ack) => answer(client_response::Response::Submitted(pb::SubmitAck {
                index: ack.index,
                leaf_hash: ack.leaf_hash.to_vec(),
                checkpoint: Some(pb::SignedCheckpoint {
                    note: ack.checkpoint,
                }),
            })),
            Err(SubmitError::Busy { retry_after }) => error_response(pb::ClientError {
                kind: ClientErrorKind::Busy as i32,
                message: "the submission pool is full".into(),
                retry_after_ms: u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
                tree_size: 0,
            }),
            Err(SubmitError::EntrySize { len }) => client_error(
                ClientErrorKind::TooLarge,
                &format!("entry is {len} bytes; the log stores 1 to 65535"),
            ),
            Err(e) => {
                error!(error = %e, "submission failed");
                client_error(
                    ClientErrorKind::Internal,
                    &format!("submission failed: {e}"),
                )
            }
        }
    }

    /// Runs a store read on a blocking thread and maps its errors to client errors.
    async fn read<F>(&self, read: F) -> pb::ClientResponse
    where
        F: FnOnce(&LogStore) -> Result<client_response::Response, ReadError> + Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || read(&store)).await {
            Ok(Ok(response)) => answer(response),
            Ok(Err(e)) => read_error(e),
            Err(e) => {
                error!(error = %e, "store read task failed");
                client_error(ClientErrorKind::Internal, "read failed")
            }
        }
    }
}

/// Rewording a `NOT_FOUND` answer for requests that are not about a leaf.
trait NotFoundMessage {
    fn map_not_found(self, message: &str) -> Self;
}

impl NotFoundMessage for pb::ClientResponse {
    fn map_not_found(mut self, message: &str) -> Self {
        if let Some(client_response::Response::Error(e)) = &mut self.response
            && e.kind == ClientErrorKind::NotFound as i32
        {
            message.clone_into(&mut e.message);
        }
        self
    }
}

/// The inclusion proof a request asks for; tree size 0 means the latest.
fn inclusion(
    store: &LogStore,
    r: pb::InclusionRequest,
) -> Result<client_response::Response, ReadError> {
    let size = match r.tree_size {
        0 => store.head().size,
        n => n,
    };
    let (index, leaf_hash, hashes) = match r.leaf {
        Some(inclusion_request::Leaf::Index(index)) => {
            let hashes = store.inclusion_proof(index, size)?;
            (index, store.leaf_hash(index)?, hashes)
        }
        Some(inclusion_request::Leaf::LeafHash(bytes)) => {
            // Validation made it exactly 32 bytes; anything else finds nothing.
            let leaf: Hash =
                <[u8; HASH_LEN]>::try_from(bytes.as_slice()).map_err(|_| ReadError::NotFound)?;
            let (index, hashes) = store.inclusion_proof_by_leaf_hash(&leaf, size)?;
            (index, leaf, hashes)
        }
        None => return Err(ReadError::NotFound),
    };
    Ok(client_response::Response::Inclusion(pb::InclusionAnswer {
        proof: Some(pb::InclusionProof::new(index, size, &hashes)),
        leaf_hash: leaf_hash.to_vec(),
    }))
}

fn read_error(e: ReadError) -> pb::ClientResponse {
    match e {
        ReadError::OutOfRange { size } => error_response(pb::ClientError {
            kind: ClientErrorKind::OutOfRange as i32,
            message: format!("out of range: the log has {size} entries"),
            retry_after_ms: 0,
            tree_size: size,
        }),
        ReadError::NotFound => client_error(ClientErrorKind::NotFound, "no leaf has that hash"),
        ReadError::InvalidCount => client_error(
            ClientErrorKind::Malformed,
            "an entry page must ask for at least one entry",
        ),
        e => {
            error!(error = %e, "log read failed");
            client_error(
                ClientErrorKind::Internal,
                "the gateway could not read its log",
            )
        }
    }
}

/// Checks a submitted entry; the refusal to send back if it may not be appended.
///
/// The kind is looked at before the fields, so a client learns that a kind is unknown or
/// forbidden whatever else is wrong with the entry.
fn check_entry(bytes: &[u8]) -> Result<(), pb::ClientResponse> {
    let entry: pb::LogEntry = wire::decode(bytes, MAX_LOG_ENTRY_BYTES).map_err(entry_wire_error)?;
    let notarization = match &entry.kind {
        None => {
            return Err(client_error(
                ClientErrorKind::UnknownEntryKind,
                "the entry has no kind this gateway knows",
            ));
        }
        Some(pb::log_entry::Kind::Notarization(n)) => n,
        Some(_) => {
            return Err(client_error(
                ClientErrorKind::Forbidden,
                "clients may submit only notarization entries",
            ));
        }
    };
    entry.validate().map_err(entry_wire_error)?;
    verify_notarization(notarization).map_err(|e| {
        debug!(error = %e, "notarization refused");
        client_error(ClientErrorKind::InvalidEntry, &format!("notarization: {e}"))
    })
}

fn entry_wire_error(e: WireError) -> pb::ClientResponse {
    let kind = match e {
        WireError::TooLarge { .. } => ClientErrorKind::TooLarge,
        WireError::UnknownEntryKind => ClientErrorKind::UnknownEntryKind,
        _ => ClientErrorKind::Malformed,
    };
    client_error(kind, &format!("entry: {e}"))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use herald_proto::entry::Notarization;
    use prost::Message as _;

    use super::*;

    fn kind_of(response: &pb::ClientResponse) -> Option<ClientErrorKind> {
        match &response.response {
            Some(client_response::Response::Error(e)) => ClientErrorKind::try_from(e.kind).ok(),
            _ => None,
        }
    }

    fn notarization() -> pb::LogEntry {
        Notarization {
            digest: [3; 32],
            media_type: "text/plain".into(),
            label: "a".into(),
            created: 1_800_000_000,
        }
        .sign(&SigningKey::from_bytes(&[4; 32]))
    }

    fn refusal(entry: &[u8]) -> Option<ClientErrorKind> {
        check_entry(entry).err().as_ref().and_then(kind_of)
    }

    #[test]
    fn a_signed_notarization_passes() {
        assert_eq!(refusal(&notarization().encode_to_vec()), None);
    }

    #[test]
    fn entries_are_refused_by_kind_before_fields() {
        assert_eq!(refusal(&[]), Some(ClientErrorKind::UnknownEntryKind));
        // Field 99 (no kind) with a varint: prost skips it, so the entry has no kind.
        assert_eq!(
            refusal(&[0xb8, 0x06, 0x01]),
            Some(ClientErrorKind::UnknownEntryKind)
        );
        let evidence = pb::LogEntry {
            kind: Some(pb::log_entry::Kind::Evidence(pb::Evidence::default())),
        };
        assert_eq!(
            refusal(&evidence.encode_to_vec()),
            Some(ClientErrorKind::Forbidden)
        );
        assert_eq!(refusal(&[0xff, 0xff]), Some(ClientErrorKind::Malformed));
    }

    #[test]
    fn a_bad_signature_or_field_is_refused() {
        let mut entry = notarization();
        let Some(pb::log_entry::Kind::Notarization(n)) = &mut entry.kind else {
            unreachable!()
        };
        n.label.push('!');
        assert_eq!(
            refusal(&entry.encode_to_vec()),
            Some(ClientErrorKind::InvalidEntry)
        );
        let Some(pb::log_entry::Kind::Notarization(n)) = &mut entry.kind else {
            unreachable!()
        };
        n.digest.pop();
        assert_eq!(
            refusal(&entry.encode_to_vec()),
            Some(ClientErrorKind::Malformed)
        );
    }

    #[test]
    fn error_messages_are_cut_at_a_char_boundary() {
        let long = "é".repeat(MAX_ERROR_MESSAGE_BYTES);
        let response = client_error(ClientErrorKind::Internal, &long);
        let Some(client_response::Response::Error(e)) = response.response else {
            unreachable!()
        };
        assert!(e.message.len() <= MAX_ERROR_MESSAGE_BYTES);
        assert!(
            pb::ClientResponse {
                response: Some(client_response::Response::Error(e))
            }
            .validate()
            .is_ok()
        );
    }
}
