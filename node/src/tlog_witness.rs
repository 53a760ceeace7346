//! The C2SP tlog-witness HTTP API on the node's listener: `POST /add-checkpoint`, public (the
//! checkpoint's signature is the only credential, as the spec has it).
//!
//! The body and the answers' shapes are proto's ([`herald_proto::tlog_witness`]); the judgement,
//! the per-origin lock and the compare-and-swap of the held state are the witness service's,
//! the same as for `/herald/witness/1` ([`WitnessService::add_checkpoint_by_origin`]). Answers:
//! 200 with the cosignature line; 400 for a malformed body or an old size past the checkpoint;
//! 403 for a checkpoint the log did not sign, or an origin distrusted after an equivocation;
//! 404 for an origin that is neither a registered peer's nor a `[[witnessed_logs]]` entry's; 409 with the held size
//! (`text/x.tlog.size`) when the old size is not the one held; 422 for a consistency proof that
//! does not verify; 503 when the held state cannot be persisted. A refused request changes
//! nothing.

use herald_proto::tlog_witness::{
    ADD_CHECKPOINT_PATH, COSIGNATURE_CONTENT_TYPE, MAX_BODY_BYTES, SIZE_CONTENT_TYPE,
    parse_add_checkpoint, size_body, status_of,
};
use herald_proto::witness::Reason;

use crate::http::{Method, RequestHead, Response};
use crate::witness::WitnessService;

/// Whether `path` is this API's.
pub fn serves(path: &str) -> bool {
    path == ADD_CHECKPOINT_PATH
}

/// POST only, with a body of at most [`MAX_BODY_BYTES`].
pub fn admit(head: &RequestHead) -> Result<usize, Response> {
    match head.method {
        Method::Post => Ok(MAX_BODY_BYTES),
        _ => Err(Response::text(405, "add-checkpoint takes POST\n")),
    }
}

/// Answers one request.
pub async fn add_checkpoint(witness: &WitnessService, body: &[u8]) -> Response {
    let request = match parse_add_checkpoint(body) {
        Ok(r) => r,
        Err(e) => return Response::text(400, format!("{e}\n")),
    };
    match witness.add_checkpoint_by_origin(request).await {
        Ok(line) => Response::new(200, COSIGNATURE_CONTENT_TYPE, line.into_bytes()),
        Err(r) if r.reason == Reason::Conflict => {
            Response::new(409, SIZE_CONTENT_TYPE, size_body(r.held_size))
        }
        Err(r) => Response::text(status_of(r.reason), format!("{}\n", r.why)),
    }
}
