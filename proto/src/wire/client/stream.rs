//! The bounds of `/herald/client-stream/1` frames: a request with its id, and a response.

use crate::wire::pb;
use crate::wire::{Validate, WireError};

use super::{MAX_STREAM_REQUEST_BYTES, MAX_STREAM_RESPONSE_BYTES};

impl Validate for pb::StreamRequest {
    const MAX_ENCODED_LEN: usize = MAX_STREAM_REQUEST_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        if self.id == 0 {
            return Err(WireError::Inconsistent {
                field: "StreamRequest.id",
                reason: "0 is the stream's own",
            });
        }
        self.request
            .as_ref()
            .ok_or(WireError::MissingField {
                field: "StreamRequest.request",
            })?
            .validate()
    }
}

impl Validate for pb::StreamRequestId {
    const MAX_ENCODED_LEN: usize = MAX_STREAM_REQUEST_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        Ok(())
    }
}

impl Validate for pb::StreamResponse {
    const MAX_ENCODED_LEN: usize = MAX_STREAM_RESPONSE_BYTES;

    fn validate(&self) -> Result<(), WireError> {
        self.response
            .as_ref()
            .ok_or(WireError::MissingField {
                field: "StreamResponse.response",
            })?
            .validate()
    }
}
