use prost::Message as _;

use super::*;
use crate::wire::decode_valid;
use crate::wire::pb::{self, client_request, client_response, inclusion_request};
use crate::wire::{
    MAX_ACCOUNT_BYTES, MAX_LOCATION_WITNESSES, MAX_LOG_ENTRY_BYTES, MAX_ORIGIN_BYTES,
    MAX_VERIFIER_KEY_BYTES, WireError,
};

fn request(r: client_request::Request) -> Vec<u8> {
    pb::ClientRequest { request: Some(r) }.encode_to_vec()
}

#[test]
fn a_status_request_through_a_peer_needs_its_nonce_and_only_then() {
    use crate::wire::EVIDENCE_NONCE_BYTES;
    let ok = |r: pb::ClientRequest| decode_valid::<pb::ClientRequest>(&r.encode_to_vec());
    assert!(ok(pb::ClientRequest::evidence(b"m")).is_ok());
    assert!(
        ok(pb::ClientRequest::peer_evidence(
            "d1.test",
            b"m",
            &[7; EVIDENCE_NONCE_BYTES]
        ))
        .is_ok()
    );
    assert!(
        ok(pb::ClientRequest::relay_evidence(
            "d0.test",
            b"m",
            &[7; EVIDENCE_NONCE_BYTES]
        ))
        .is_ok()
    );
    for bad in [
        // A peer's records without a nonce, or with a short one.
        pb::ClientRequest::peer_evidence("d1.test", b"m", &[]),
        pb::ClientRequest::peer_evidence("d1.test", b"m", &[7; 8]),
        // A nonce without a domain.
        pb::ClientRequest::peer_evidence("", b"m", &[7; EVIDENCE_NONCE_BYTES]),
        // A domain over the DNS bound, a msg_id over its bound.
        pb::ClientRequest::peer_evidence(&"d".repeat(254), b"m", &[7; EVIDENCE_NONCE_BYTES]),
        pb::ClientRequest::peer_evidence("d1.test", &[1; 65], &[7; EVIDENCE_NONCE_BYTES]),
        pb::ClientRequest::relay_evidence("", b"m", &[7; EVIDENCE_NONCE_BYTES]),
        pb::ClientRequest::relay_evidence("d0.test", b"", &[7; EVIDENCE_NONCE_BYTES]),
        pb::ClientRequest::relay_evidence("d0.test", b"m", &[7; 31]),
    ] {
        assert!(ok(bad.clone()).is_err(), "{bad:?}");
    }
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
        trusted_size: 0,
        opening: None,
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
        trusted_size: 0,
        opening: None,
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

fn register() -> pb::RegisterAccount {
    pb::RegisterAccount {
        account: "bob@beta.test".into(),
        identity_key: vec![1; 32],
        signed_prekey: vec![2; 32],
        signed_prekey_signature: vec![3; 64],
        enrolment_code: "code".into(),
        signature: vec![4; 64],
        password: Some(pb::PasswordRecord {
            w0: vec![5; 32],
            l: vec![6; 32],
            argon2: Some(pb::Argon2Params {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            }),
        }),
    }
}

fn register_ok(r: pb::RegisterAccount) -> bool {
    decode_valid::<pb::ClientRequest>(&request(client_request::Request::Register(r))).is_ok()
}

#[test]
fn a_registration_has_exact_keys_and_signatures() {
    assert!(register_ok(register()));
    let edits: [fn(&mut pb::RegisterAccount); 10] = [
        |r| r.identity_key.truncate(31),
        |r| r.identity_key.push(0),
        |r| r.signed_prekey.truncate(31),
        |r| r.signed_prekey_signature.push(0),
        |r| r.signature.truncate(63),
        |r| r.signature.clear(),
        |r| r.account.clear(),
        |r| r.enrolment_code.clear(),
        |r| r.password = None,
        |r| r.password.as_mut().unwrap().l.truncate(31),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut r = register();
        edit(&mut r);
        assert!(!register_ok(r), "edit {i}");
    }
}

#[test]
fn a_registration_bounds_account_and_code() {
    for (len, ok) in [(MAX_ACCOUNT_BYTES, true), (MAX_ACCOUNT_BYTES + 1, false)] {
        let mut r = register();
        r.account = "a".repeat(len);
        assert_eq!(register_ok(r), ok, "account {len}");
    }
    for (len, ok) in [
        (1, true),
        (MAX_ENROLMENT_CODE_BYTES, true),
        (MAX_ENROLMENT_CODE_BYTES + 1, false),
    ] {
        let mut r = register();
        r.enrolment_code = "c".repeat(len);
        assert_eq!(register_ok(r), ok, "code {len}");
    }
}

#[test]
fn lookups_bound_their_keys() {
    for (len, ok) in [(0, false), (1, true), (320, true), (321, false)] {
        let bytes = request(client_request::Request::Binding(pb::BindingRequest {
            account: "a".repeat(len),
        }));
        assert_eq!(
            decode_valid::<pb::ClientRequest>(&bytes).is_ok(),
            ok,
            "{len}"
        );
    }
    for (len, ok) in [(0, false), (31, false), (32, true), (33, false)] {
        let bytes = request(client_request::Request::Publication(
            pb::PublicationRequest {
                req_hash: vec![9; len],
            },
        ));
        assert_eq!(
            decode_valid::<pb::ClientRequest>(&bytes).is_ok(),
            ok,
            "{len}"
        );
    }
    let trust = request(client_request::Request::Trust(pb::TrustRequest {}));
    assert!(decode_valid::<pb::ClientRequest>(&trust).is_ok());
}

fn leaf(proved: bool) -> pb::IncludedLeaf {
    pb::IncludedLeaf {
        entry: vec![1; 100],
        proof: proved.then(|| pb::InclusionProof {
            leaf_index: 0,
            tree_size: 1,
            hashes: vec![],
        }),
        checkpoint: if proved { b"note".to_vec() } else { vec![] },
    }
}

fn response(r: client_response::Response) -> Result<pb::ClientResponse, WireError> {
    decode_valid::<pb::ClientResponse>(&pb::ClientResponse { response: Some(r) }.encode_to_vec())
}

#[test]
fn a_publication_answer_must_be_proved() {
    assert!(response(client_response::Response::Included(leaf(true))).is_ok());
    // A draft (no proof, no checkpoint) is a file format, never an answer.
    assert_eq!(
        response(client_response::Response::Included(leaf(false))),
        Err(WireError::MissingField {
            field: "IncludedLeaf.proof"
        })
    );
}

#[test]
fn a_binding_answer_needs_its_binding_and_bounds_revocations() {
    let answer = |binding, revocations| {
        response(client_response::Response::Binding(pb::BindingAnswer {
            binding,
            revocations,
        }))
    };
    assert!(answer(Some(leaf(true)), vec![]).is_ok());
    assert!(
        answer(
            Some(leaf(true)),
            vec![leaf(true); MAX_REVOCATIONS_PER_ANSWER]
        )
        .is_ok()
    );
    assert!(matches!(
        answer(
            Some(leaf(true)),
            vec![leaf(true); MAX_REVOCATIONS_PER_ANSWER + 1]
        ),
        Err(WireError::TooManyElements { .. })
    ));
    assert_eq!(
        answer(None, vec![]),
        Err(WireError::MissingField {
            field: "BindingAnswer.binding"
        })
    );
    assert!(answer(Some(leaf(true)), vec![leaf(false)]).is_err());
}

fn log_trust(witnesses: usize, key_len: usize) -> pb::LogTrust {
    pb::LogTrust {
        log_key: "k".repeat(key_len),
        hash_algorithm: pb::HashAlgorithm::Blake3 as i32,
        witness_keys: vec!["w".repeat(key_len); witnesses],
        quorum: 1,
    }
}

#[test]
fn a_trust_list_needs_its_own_log_and_bounds_peers() {
    let list = |own, peers| {
        response(client_response::Response::Trust(pb::TrustList {
            own,
            peers,
        }))
    };
    assert!(list(Some(log_trust(2, 10)), vec![]).is_ok());
    assert_eq!(
        list(None, vec![]),
        Err(WireError::MissingField {
            field: "TrustList.own"
        })
    );
    assert!(matches!(
        list(
            Some(log_trust(2, 10)),
            vec![log_trust(2, 10); MAX_TRUSTED_PEERS + 1]
        ),
        Err(WireError::TooManyElements { .. })
    ));
    // Each peer's policy is checked as a location's is: a peer without witnesses is refused.
    assert!(list(Some(log_trust(2, 10)), vec![log_trust(0, 10)]).is_err());
    // The largest trust list the bounds allow fits the response limit.
    let biggest = log_trust(MAX_LOCATION_WITNESSES, MAX_VERIFIER_KEY_BYTES);
    assert!(list(Some(biggest.clone()), vec![biggest; MAX_TRUSTED_PEERS]).is_ok());
}

#[test]
fn the_certified_mail_error_kinds_are_known() {
    for kind in [
        pb::ClientErrorKind::Duplicate,
        pb::ClientErrorKind::Pending,
        pb::ClientErrorKind::Unauthorized,
    ] {
        let bytes = pb::ClientResponse {
            response: Some(client_response::Response::Error(pb::ClientError {
                kind: kind as i32,
                message: String::new(),
                retry_after_ms: 500,
                tree_size: 0,
            })),
        }
        .encode_to_vec();
        assert!(
            decode_valid::<pb::ClientResponse>(&bytes).is_ok(),
            "{kind:?}"
        );
    }
}

fn batch_request(entries: Vec<Vec<u8>>) -> Result<pb::ClientRequest, WireError> {
    decode_valid::<pb::ClientRequest>(&request(client_request::Request::SubmitBatch(
        pb::SubmitBatch {
            entries,
            trusted_size: 0,
        },
    )))
}

fn stream_request(entries: Vec<Vec<u8>>) -> Result<pb::StreamRequest, WireError> {
    let frame = pb::StreamRequest {
        id: 1,
        request: Some(pb::ClientRequest::submit_batch(entries, 0)),
    };
    decode_valid::<pb::StreamRequest>(&frame.encode_to_vec())
}

#[test]
fn a_batch_is_bounded_by_count_and_bytes() {
    assert!(batch_request(vec![vec![1; 10]; 3]).is_ok());
    assert!(batch_request(vec![]).is_err());
    assert!(batch_request(vec![vec![1; 10], vec![]]).is_err());
    // A full batch travels on a stream, never as a plain request.
    let full = vec![vec![7u8; MAX_BATCH_BYTES / MAX_BATCH_ENTRIES]; MAX_BATCH_ENTRIES];
    assert!(stream_request(full.clone()).is_ok());
    assert!(matches!(
        batch_request(full.clone()),
        Err(WireError::TooLarge { .. })
    ));
    let mut too_many = full.clone();
    too_many.push(vec![1]);
    assert!(matches!(
        stream_request(too_many),
        Err(WireError::FieldSize {
            field: "SubmitBatch.entries",
            ..
        })
    ));
    let mut too_big = full;
    too_big[0].push(1);
    assert!(matches!(
        stream_request(too_big),
        Err(WireError::FieldSize {
            field: "SubmitBatch.entries (total bytes)",
            ..
        })
    ));
    // The largest entries a batch can hold fit the stream's frame limit.
    let largest = vec![vec![3u8; MAX_LOG_ENTRY_BYTES]; MAX_BATCH_BYTES / MAX_LOG_ENTRY_BYTES];
    assert!(stream_request(largest).is_ok());
}

#[test]
fn a_stream_request_has_an_id_and_a_request() {
    let ok = pb::StreamRequest {
        id: 9,
        request: Some(pb::ClientRequest::checkpoint(false)),
    };
    assert!(decode_valid::<pb::StreamRequest>(&ok.encode_to_vec()).is_ok());
    let zero = pb::StreamRequest {
        id: 0,
        ..ok.clone()
    };
    assert!(matches!(
        decode_valid::<pb::StreamRequest>(&zero.encode_to_vec()),
        Err(WireError::Inconsistent { .. })
    ));
    let empty = pb::StreamRequest {
        id: 3,
        request: None,
    };
    assert!(decode_valid::<pb::StreamRequest>(&empty.encode_to_vec()).is_err());
    // A request that does not validate inside a frame that decodes: its id is still read.
    let bad = pb::StreamRequest {
        id: 77,
        request: Some(pb::ClientRequest::entries(0, 0)),
    }
    .encode_to_vec();
    assert!(decode_valid::<pb::StreamRequest>(&bad).is_err());
    assert_eq!(
        decode_valid::<pb::StreamRequestId>(&bad).map(|r| r.id),
        Ok(77)
    );
}

fn refusal(position: u32, message_len: usize) -> pb::EntryRefusal {
    pb::EntryRefusal {
        position,
        error: Some(pb::ClientError {
            kind: pb::ClientErrorKind::InvalidEntry as i32,
            message: "m".repeat(message_len),
            retry_after_ms: u64::MAX,
            tree_size: u64::MAX,
        }),
    }
}

fn batch_ack(ack: pb::BatchAck) -> Result<pb::ClientResponse, WireError> {
    response(client_response::Response::BatchSubmitted(ack))
}

fn proved_ack() -> pb::BatchAck {
    pb::BatchAck {
        first_index: 4,
        refused: vec![refusal(1, 5)],
        checkpoint: Some(pb::SignedCheckpoint {
            note: b"note".to_vec(),
        }),
        range: Some(pb::RangeProof {
            begin: 4,
            end: 6,
            tree_size: 6,
            hashes: vec![vec![1; 32].into()],
        }),
        consistency: None,
    }
}

#[test]
fn a_batch_ack_is_checked_as_a_whole() {
    assert!(batch_ack(proved_ack()).is_ok());
    let edits: [fn(&mut pb::BatchAck); 7] = [
        |a| a.refused = vec![refusal(3, 1), refusal(3, 1)],
        |a| a.refused = vec![refusal(3, 1), refusal(2, 1)],
        |a| a.refused = vec![refusal(MAX_BATCH_ENTRIES as u32, 1)],
        |a| a.refused = vec![refusal(0, MAX_BATCH_REFUSAL_MESSAGE_BYTES + 1)],
        |a| a.range = None,
        |a| a.first_index = 5,
        |a| a.range.as_mut().unwrap().hashes.clear(),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut ack = proved_ack();
        edit(&mut ack);
        assert!(batch_ack(ack).is_err(), "edit {i}");
    }
    let mut no_error = proved_ack();
    no_error.refused[0].error = None;
    assert!(batch_ack(no_error).is_err());
    // Everything refused: no checkpoint, no range.
    let all_refused = pb::BatchAck {
        first_index: 0,
        refused: (0..MAX_BATCH_ENTRIES as u32)
            .map(|p| refusal(p, MAX_BATCH_REFUSAL_MESSAGE_BYTES))
            .collect(),
        checkpoint: None,
        range: None,
        consistency: None,
    };
    assert!(batch_ack(all_refused).is_ok());
}

#[test]
fn a_submit_ack_bounds_its_proofs() {
    let ack = |hashes: usize| pb::SubmitAck {
        index: 1,
        leaf_hash: vec![1; 32],
        checkpoint: Some(pb::SignedCheckpoint {
            note: b"note".to_vec(),
        }),
        inclusion: Some(pb::InclusionProof {
            leaf_index: 1,
            tree_size: 2,
            hashes: vec![vec![2; 32].into(); hashes],
        }),
        consistency: None,
    };
    assert!(response(client_response::Response::Submitted(ack(1))).is_ok());
    assert!(response(client_response::Response::Submitted(ack(65))).is_err());
}

#[test]
fn rate_limited_is_a_known_error_kind() {
    let bytes = pb::ClientResponse::error(pb::ClientError {
        kind: pb::ClientErrorKind::RateLimited as i32,
        message: "slow down".into(),
        retry_after_ms: 250,
        tree_size: 0,
    })
    .encode_to_vec();
    assert!(decode_valid::<pb::ClientResponse>(&bytes).is_ok());
}
