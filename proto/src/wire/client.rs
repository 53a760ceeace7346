//! Bounds of the client protocol `/herald/client/1` (`client.proto`), checked after decoding.

use super::pb::{self, client_request, client_response, inclusion_request};
use super::validate::{KEY_LEN, exact, known_enum, sized};
use super::{
    MAX_EQUIVOCATION_BYTES, MAX_INCLUSION_PROOF_BYTES, MAX_LOG_ENTRY_BYTES, MAX_ORIGIN_BYTES,
    MAX_SIGNED_CHECKPOINT_BYTES,
};
use super::{Validate, WireError};
use crate::merkle::HASH_LEN;

/// Most entries in one [`pb::EntryPage`] (and the largest `EntriesRequest.count`): one entry bundle.
pub const MAX_ENTRY_PAGE_COUNT: u32 = 256;

/// A gateway stops filling an [`pb::EntryPage`] once it holds this many bytes of entries (it always
/// returns at least one entry, so a page holds at most this plus one entry).
pub const MAX_ENTRY_PAGE_BYTES: usize = 1024 * 1024;

/// Longest human-readable message in a [`pb::ClientError`].
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;

/// Most equivocation proofs in one [`pb::AlertList`]: a gateway distrusts a log after one, so a
/// handful per origin is all a client needs, and 16 of the largest fit one response.
pub const MAX_ALERTS_PER_ANSWER: usize = 16;

/// Largest encoded [`pb::ClientRequest`]: one log entry and its framing.
pub const MAX_CLIENT_REQUEST_BYTES: usize = MAX_LOG_ENTRY_BYTES + 64;

/// Largest encoded [`pb::ClientResponse`]: a full page of entries (page bytes, one more entry,
/// and up to 6 bytes of tag and length per entry).
pub const MAX_CLIENT_RESPONSE_BYTES: usize =
    MAX_ENTRY_PAGE_BYTES + MAX_LOG_ENTRY_BYTES + 6 * MAX_ENTRY_PAGE_COUNT as usize + 64;

impl Validate for pb::ClientRequest {
    const MAX_ENCODED_LEN: usize = MAX_CLIENT_REQUEST_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        match &self.request {
            None => Err(WireError::MissingField {
                field: "ClientRequest.request",
            }),
            Some(client_request::Request::Submit(s)) => {
                sized("SubmitEntry.entry", s.entry.len(), 1, MAX_LOG_ENTRY_BYTES)
            }
            Some(client_request::Request::Checkpoint(_)) => Ok(()),
            Some(client_request::Request::Entries(e)) => sized(
                "EntriesRequest.count",
                e.count as usize,
                1,
                MAX_ENTRY_PAGE_COUNT as usize,
            ),
            Some(client_request::Request::Inclusion(i)) => match &i.leaf {
                None => Err(WireError::MissingField {
                    field: "InclusionRequest.leaf",
                }),
                Some(inclusion_request::Leaf::Index(_)) => Ok(()),
                Some(inclusion_request::Leaf::LeafHash(h)) => {
                    exact("InclusionRequest.leaf_hash", h, HASH_LEN)
                }
            },
            Some(client_request::Request::Consistency(_)) => Ok(()),
            Some(client_request::Request::Alerts(a)) => {
                sized("AlertsRequest.origin", a.origin.len(), 0, MAX_ORIGIN_BYTES)
            }
        }
    }
}

impl Validate for pb::ClientResponse {
    const MAX_ENCODED_LEN: usize = MAX_CLIENT_RESPONSE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        match &self.response {
            None => Err(WireError::MissingField {
                field: "ClientResponse.response",
            }),
            Some(client_response::Response::Submitted(ack)) => {
                exact("SubmitAck.leaf_hash", &ack.leaf_hash, HASH_LEN)?;
                ack.checkpoint
                    .as_ref()
                    .ok_or(WireError::MissingField {
                        field: "SubmitAck.checkpoint",
                    })?
                    .validate()
            }
            Some(client_response::Response::Checkpoint(c)) => c.validate(),
            Some(client_response::Response::Entries(page)) => page.validate_fields(),
            Some(client_response::Response::Inclusion(answer)) => {
                exact("InclusionAnswer.leaf_hash", &answer.leaf_hash, HASH_LEN)?;
                answer
                    .proof
                    .as_ref()
                    .ok_or(WireError::MissingField {
                        field: "InclusionAnswer.proof",
                    })?
                    .validate()
            }
            Some(client_response::Response::Consistency(c)) => c.validate(),
            Some(client_response::Response::Alerts(list)) => {
                if list.alerts.len() > MAX_ALERTS_PER_ANSWER {
                    return Err(WireError::TooManyElements {
                        field: "AlertList.alerts",
                        count: list.alerts.len(),
                        max: MAX_ALERTS_PER_ANSWER,
                    });
                }
                list.alerts.iter().try_for_each(Validate::validate)
            }
            Some(client_response::Response::Error(e)) => {
                known_enum::<pb::ClientErrorKind>("ClientError.kind", e.kind)?;
                sized(
                    "ClientError.message",
                    e.message.len(),
                    0,
                    MAX_ERROR_MESSAGE_BYTES,
                )
            }
        }
    }
}

impl pb::EntryPage {
    fn validate_fields(&self) -> Result<(), WireError> {
        let count = self.entries.len();
        if count == 0 || count > MAX_ENTRY_PAGE_COUNT as usize {
            return Err(WireError::FieldSize {
                field: "EntryPage.entries",
                len: count,
                min: 1,
                max: MAX_ENTRY_PAGE_COUNT as usize,
            });
        }
        let mut total = 0usize;
        for entry in &self.entries {
            sized("EntryPage.entries[]", entry.len(), 1, MAX_LOG_ENTRY_BYTES)?;
            total += entry.len();
        }
        sized(
            "EntryPage.entries (total bytes)",
            total,
            1,
            MAX_ENTRY_PAGE_BYTES + MAX_LOG_ENTRY_BYTES,
        )
    }
}

// The nested messages are bounded by the response limit; these keep the arithmetic honest.
const _: () = assert!(MAX_SIGNED_CHECKPOINT_BYTES < MAX_CLIENT_RESPONSE_BYTES);
const _: () = assert!(MAX_INCLUSION_PROOF_BYTES + HASH_LEN < MAX_CLIENT_RESPONSE_BYTES);
const _: () = assert!(KEY_LEN == HASH_LEN);
// A full alert list: each alert with up to 4 bytes of tag and length, and the list's own framing.
const _: () =
    assert!(MAX_ALERTS_PER_ANSWER * (MAX_EQUIVOCATION_BYTES + 4) + 16 < MAX_CLIENT_RESPONSE_BYTES);

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::wire::decode_valid;

    fn request(r: client_request::Request) -> Vec<u8> {
        pb::ClientRequest { request: Some(r) }.encode_to_vec()
    }

    #[test]
    fn a_request_without_kind_is_refused() {
        let bytes = pb::ClientRequest { request: None }.encode_to_vec();
        assert_eq!(
            decode_valid::<pb::ClientRequest>(&bytes),
            Err(WireError::MissingField {
                field: "ClientRequest.request"
            })
        );
    }

    #[test]
    fn page_count_is_bounded_both_ways() {
        for (count, ok) in [(0, false), (1, true), (256, true), (257, false)] {
            let bytes = request(client_request::Request::Entries(pb::EntriesRequest {
                start: 0,
                count,
            }));
            assert_eq!(
                decode_valid::<pb::ClientRequest>(&bytes).is_ok(),
                ok,
                "{count}"
            );
        }
    }

    #[test]
    fn inclusion_by_hash_needs_a_32_byte_hash() {
        for (len, ok) in [(31, false), (32, true), (33, false)] {
            let bytes = request(client_request::Request::Inclusion(pb::InclusionRequest {
                leaf: Some(inclusion_request::Leaf::LeafHash(vec![7; len])),
                tree_size: 0,
            }));
            assert_eq!(
                decode_valid::<pb::ClientRequest>(&bytes).is_ok(),
                ok,
                "{len}"
            );
        }
    }

    #[test]
    fn an_oversized_submission_is_refused() {
        // Just over the entry bound: decoded (the frame is small enough), then refused.
        let bytes = request(client_request::Request::Submit(pb::SubmitEntry {
            entry: vec![1; MAX_LOG_ENTRY_BYTES + 1],
        }));
        assert!(matches!(
            decode_valid::<pb::ClientRequest>(&bytes),
            Err(WireError::FieldSize {
                field: "SubmitEntry.entry",
                ..
            })
        ));
        // Far over: refused on length alone, never decoded.
        let bytes = request(client_request::Request::Submit(pb::SubmitEntry {
            entry: vec![1; MAX_CLIENT_REQUEST_BYTES],
        }));
        assert!(matches!(
            decode_valid::<pb::ClientRequest>(&bytes),
            Err(WireError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_full_page_fits_the_response_limit() {
        let entry = vec![9u8; MAX_ENTRY_PAGE_BYTES / MAX_ENTRY_PAGE_COUNT as usize];
        let mut entries = vec![entry; MAX_ENTRY_PAGE_COUNT as usize - 1];
        entries.push(vec![1u8; MAX_LOG_ENTRY_BYTES]);
        let bytes = pb::ClientResponse {
            response: Some(client_response::Response::Entries(pb::EntryPage {
                start: 0,
                entries,
            })),
        }
        .encode_to_vec();
        assert!(decode_valid::<pb::ClientResponse>(&bytes).is_ok());
    }

    #[test]
    fn alert_lists_are_bounded_and_each_alert_validated() {
        let alert = |log_key: &str| pb::Equivocation {
            log_key: log_key.into(),
            hash_algorithm: pb::HashAlgorithm::Blake3 as i32,
            checkpoint_a: b"a".to_vec(),
            checkpoint_b: b"b".to_vec(),
            evidence: Some(pb::equivocation::Evidence::SameSize(pb::SameSize {})),
        };
        let list = |alerts| {
            pb::ClientResponse {
                response: Some(client_response::Response::Alerts(pb::AlertList { alerts })),
            }
            .encode_to_vec()
        };
        assert!(decode_valid::<pb::ClientResponse>(&list(vec![alert("k"); 16])).is_ok());
        assert!(matches!(
            decode_valid::<pb::ClientResponse>(&list(vec![alert("k"); 17])),
            Err(WireError::TooManyElements { .. })
        ));
        assert!(matches!(
            decode_valid::<pb::ClientResponse>(&list(vec![alert("")])),
            Err(WireError::FieldSize { .. })
        ));
        let origin = |len| {
            request(client_request::Request::Alerts(pb::AlertsRequest {
                origin: "o".repeat(len),
            }))
        };
        assert!(decode_valid::<pb::ClientRequest>(&origin(0)).is_ok());
        assert!(decode_valid::<pb::ClientRequest>(&origin(MAX_ORIGIN_BYTES + 1)).is_err());
    }

    #[test]
    fn an_error_needs_a_known_kind() {
        let bytes = pb::ClientResponse {
            response: Some(client_response::Response::Error(pb::ClientError {
                kind: 99,
                message: String::new(),
                retry_after_ms: 0,
                tree_size: 0,
            })),
        }
        .encode_to_vec();
        assert!(matches!(
            decode_valid::<pb::ClientResponse>(&bytes),
            Err(WireError::UnknownEnumValue { .. })
        ));
    }
}
