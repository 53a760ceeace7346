//! The bounds of a submission's acknowledgement: one entry's ([`pb::SubmitAck`]) and a
//! batch's ([`pb::BatchAck`]: its refusals in order, its range with its checkpoint).

use crate::merkle::HASH_LEN;
use crate::wire::pb;
use crate::wire::validate::exact;
use crate::wire::{Validate, WireError};

use super::{MAX_BATCH_ENTRIES, MAX_BATCH_REFUSAL_MESSAGE_BYTES};

impl pb::BatchAck {
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
        if self.refused.len() > MAX_BATCH_ENTRIES {
            return Err(WireError::TooManyElements {
                field: "BatchAck.refused",
                count: self.refused.len(),
                max: MAX_BATCH_ENTRIES,
            });
        }
        let mut next = 0usize;
        for refusal in &self.refused {
            let position = refusal.position as usize;
            if position < next || position >= MAX_BATCH_ENTRIES {
                return Err(WireError::Inconsistent {
                    field: "BatchAck.refused",
                    reason: "positions out of order or past the batch bound",
                });
            }
            next = position + 1;
            refusal
                .error
                .as_ref()
                .ok_or(WireError::MissingField {
                    field: "EntryRefusal.error",
                })?
                .validate_fields(MAX_BATCH_REFUSAL_MESSAGE_BYTES)?;
        }
        match (&self.checkpoint, &self.range) {
            (None, None) => {}
            (Some(checkpoint), Some(range)) => {
                checkpoint.validate()?;
                range.validate()?;
                if range.begin != self.first_index {
                    return Err(WireError::Inconsistent {
                        field: "BatchAck.range",
                        reason: "it does not begin at the first index",
                    });
                }
            }
            (Some(_), None) => {
                return Err(WireError::MissingField {
                    field: "BatchAck.range",
                });
            }
            (None, Some(_)) => {
                return Err(WireError::MissingField {
                    field: "BatchAck.checkpoint",
                });
            }
        }
        self.consistency.as_ref().map_or(Ok(()), Validate::validate)
    }
}

impl pb::SubmitAck {
    pub(super) fn validate_fields(&self) -> Result<(), WireError> {
        exact("SubmitAck.leaf_hash", &self.leaf_hash, HASH_LEN)?;
        self.checkpoint
            .as_ref()
            .ok_or(WireError::MissingField {
                field: "SubmitAck.checkpoint",
            })?
            .validate()?;
        self.inclusion.as_ref().map_or(Ok(()), Validate::validate)?;
        self.consistency.as_ref().map_or(Ok(()), Validate::validate)
    }
}
