//! The bounds `/herald/client/1` messages are checked against after decoding, and the
//! compile-time checks that the nested bounds fit the request and response limits.

use crate::merkle::HASH_LEN;
#[cfg(doc)]
use crate::wire::pb;
use crate::wire::validate::{KEY_LEN, SIGNATURE_LEN};
use crate::wire::{
    MAX_ACCOUNT_BYTES, MAX_EQUIVOCATION_BYTES, MAX_INCLUSION_PROOF_BYTES, MAX_LOCATION_WITNESSES,
    MAX_LOG_ENTRY_BYTES, MAX_SIGNED_CHECKPOINT_BYTES, MAX_VERIFIER_KEY_BYTES,
};

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

/// Longest enrolment code in a [`pb::RegisterAccount`].
pub const MAX_ENROLMENT_CODE_BYTES: usize = 64;

/// Most revocations in one [`pb::BindingAnswer`]: an account is disabled once per key, so a
/// handful is a long history; the gateway sends the latest ones.
pub const MAX_REVOCATIONS_PER_ANSWER: usize = 16;

/// Most peer logs in one [`pb::TrustList`]: 64 of the largest `LogTrust`s fit one response.
pub const MAX_TRUSTED_PEERS: usize = 64;

/// Largest encoded `IdentityBinding` or `IdentityRevocation` log entry (an account of 320
/// bytes, keys, signatures, a time and their tags): what a [`pb::BindingAnswer`] carries.
const MAX_IDENTITY_ENTRY_BYTES: usize = MAX_ACCOUNT_BYTES + 3 * KEY_LEN + 2 * SIGNATURE_LEN + 64;

/// Most records in one [`pb::EvidenceAnswer`]: a mail's life is a handful of events (DESIGN
/// §3.4); a gateway never logs more than this many for one msg_id.
pub const MAX_EVIDENCE_PER_ANSWER: usize = 64;

/// Largest encoded [`pb::PublicationOpening`]: two addresses, a salt and a key with their tags.
const MAX_OPENING_BYTES: usize = 2 * (MAX_ACCOUNT_BYTES + 3) + 2 * (KEY_LEN + 2);

/// Largest encoded [`pb::ClientRequest`] on `/herald/client/1`: one log entry, the opening a
/// sealed publication travels with, and framing (a [`pb::SubmitBatch`] there is bounded by
/// this too; whole batches travel on streams).
pub const MAX_CLIENT_REQUEST_BYTES: usize = MAX_LOG_ENTRY_BYTES + MAX_OPENING_BYTES + 64;

/// Most entries in one [`pb::SubmitBatch`]: one sequencing round at the default `batch_max`.
pub const MAX_BATCH_ENTRIES: usize = 4096;

/// Most bytes of entries (their lengths summed) in one [`pb::SubmitBatch`].
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Longest message of one entry's refusal in a [`pb::BatchAck`], so that a batch whose every
/// entry is refused still fits one response.
pub const MAX_BATCH_REFUSAL_MESSAGE_BYTES: usize = 128;

/// Largest encoded [`pb::StreamRequest`]: a full batch (each entry with at most 4 bytes of tag
/// and length), its id and framing.
pub const MAX_STREAM_REQUEST_BYTES: usize = MAX_BATCH_BYTES + 4 * MAX_BATCH_ENTRIES + 64;

/// Largest encoded [`pb::StreamResponse`]: a response and its id.
pub const MAX_STREAM_RESPONSE_BYTES: usize = MAX_CLIENT_RESPONSE_BYTES + 32;

/// Most requests a gateway reads from one stream ahead of its answers (and a client keeps in
/// flight on one stream): beyond it, the stream's flow control makes the client wait.
pub const MAX_STREAM_INFLIGHT: usize = 128;

/// Largest encoded [`pb::ClientResponse`]: a full page of entries (page bytes, one more entry,
/// and up to 6 bytes of tag and length per entry).
pub const MAX_CLIENT_RESPONSE_BYTES: usize =
    MAX_ENTRY_PAGE_BYTES + MAX_LOG_ENTRY_BYTES + 6 * MAX_ENTRY_PAGE_COUNT as usize + 64;

// The nested messages are bounded by the response limit; these keep the arithmetic honest.
// A batch ack refusing every entry (each refusal: position, kind, a full message, both numbers,
// and 12 bytes of tags and lengths), with a checkpoint and both proofs, fits one response.
const _: () = assert!(
    MAX_BATCH_ENTRIES * (MAX_BATCH_REFUSAL_MESSAGE_BYTES + 5 + 2 + 11 + 11 + 12)
        + MAX_SIGNED_CHECKPOINT_BYTES
        + crate::wire::MAX_RANGE_PROOF_BYTES
        + crate::wire::MAX_CONSISTENCY_PROOF_BYTES
        + 64
        < MAX_CLIENT_RESPONSE_BYTES
);
// A stream frame holds any request a plain one may hold.
const _: () = assert!(MAX_CLIENT_REQUEST_BYTES + 16 < MAX_STREAM_REQUEST_BYTES);
const _: () = assert!(MAX_SIGNED_CHECKPOINT_BYTES < MAX_CLIENT_RESPONSE_BYTES);
const _: () = assert!(MAX_INCLUSION_PROOF_BYTES + HASH_LEN < MAX_CLIENT_RESPONSE_BYTES);
const _: () = assert!(KEY_LEN == HASH_LEN);
// A full alert list: each alert with up to 4 bytes of tag and length, and the list's own framing.
const _: () =
    assert!(MAX_ALERTS_PER_ANSWER * (MAX_EQUIVOCATION_BYTES + 4) + 16 < MAX_CLIENT_RESPONSE_BYTES);

// A binding answer of identity leaves (each with a full proof and a full note, 8 bytes of tags
// and lengths) fits one response.
const _: () = assert!(
    (1 + MAX_REVOCATIONS_PER_ANSWER)
        * (MAX_IDENTITY_ENTRY_BYTES + MAX_INCLUSION_PROOF_BYTES + MAX_SIGNED_CHECKPOINT_BYTES + 16)
        < MAX_CLIENT_RESPONSE_BYTES
);
// A full trust list: 65 logs of 32 witness keys, every key string at its bound (3 bytes of tag
// and length each, 8 for each log's own framing and fields).
const _: () = assert!(
    (1 + MAX_TRUSTED_PEERS) * ((1 + MAX_LOCATION_WITNESSES) * (MAX_VERIFIER_KEY_BYTES + 3) + 16)
        < MAX_CLIENT_RESPONSE_BYTES
);
