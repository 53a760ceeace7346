//! The client protocol `/herald/client/1` (`client.proto`): the bounds its messages are checked
//! against after decoding (the files named below), and its client side: the request of each call
//! and the check that an answer is the one asked for (`answer/`: by what it answers).
//!
//! The bounds, one concern a file: `limits` (every `MAX_*` and the checks that they fit one
//! another), `request` (a request), `stream` (stream frames), `acks` (a submission's
//! acknowledgements), `response` (an answer, and the refusals a gateway sends); the answers
//! of mail and sessions are checked beside their calls (`mail`, `session`, ...).

mod acks;
mod answer;
mod limits;
mod mail;
mod mail_batch;
mod mail_cycle;
mod mail_transfer;
mod relay_batch;
mod request;
mod response;
mod session;
mod stream;
#[cfg(test)]
mod tests;

pub use answer::{
    AnswerError, batch_outcomes, expect_alerts, expect_batch_submitted, expect_binding,
    expect_checkpoint, expect_consistency, expect_entries, expect_evidence, expect_inclusion,
    expect_policy, expect_publication, expect_registered, expect_submitted,
    expect_submitted_proved, expect_trust, response_kind,
};
pub use limits::{
    MAX_ALERTS_PER_ANSWER, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_BATCH_REFUSAL_MESSAGE_BYTES,
    MAX_CLIENT_REQUEST_BYTES, MAX_CLIENT_RESPONSE_BYTES, MAX_ENROLMENT_CODE_BYTES,
    MAX_ENTRY_PAGE_BYTES, MAX_ENTRY_PAGE_COUNT, MAX_ERROR_MESSAGE_BYTES, MAX_EVIDENCE_PER_ANSWER,
    MAX_REVOCATIONS_PER_ANSWER, MAX_STREAM_INFLIGHT, MAX_STREAM_REQUEST_BYTES,
    MAX_STREAM_RESPONSE_BYTES, MAX_TRUSTED_PEERS,
};
pub use mail::{
    MAX_ATTACHMENT_MEDIA_TYPE_BYTES, MAX_ATTACHMENT_NAME_BYTES, MAX_ATTACHMENTS,
    MAX_DELIVERY_REASON_BYTES, MAX_DOMAIN_BYTES, MAX_INBOX_ENTRIES, MAX_INBOX_WAIT_MS,
    MAX_MAIL_CONTENT_BYTES, MAX_OUTBOX_ENTRIES, MAX_SUBJECT_BYTES, expect_inbox, expect_mail,
    expect_mail_accepted, expect_mail_acknowledged, expect_mail_prekey, expect_outbox,
    expect_relay_accepted, expect_sender_binding,
};
pub use mail_batch::{
    MAX_FETCH_MAILS, MAX_FETCHED_MAILS_BYTES, MAX_SENDER_BINDINGS, MAX_SENDER_BINDINGS_BYTES,
    expect_mails, expect_mails_acknowledged, expect_sender_bindings, fetch_batches,
};
pub use mail_cycle::expect_next_mails;
pub use mail_transfer::{
    MAIL_CHUNK_BYTES, MAX_ONE_REQUEST_CIPHERTEXT_BYTES, MAX_TRANSFER_BYTES, UPLOAD_ID_BYTES,
    expect_mail_part, expect_relay_chunk_progress, expect_upload_progress,
};
pub use relay_batch::{MAX_RELAYS_PER_REQUEST, expect_relays_accepted};
pub use session::{
    expect_login_accepted, expect_login_challenge, expect_password_changed, expect_password_params,
    expect_prekey_bundle, expect_prekey_status, expect_session_closed, expect_session_frame,
    session_response_kind,
};
