//! Mail larger than one request (issue 12 §1; `mail_transfer.proto`): the rules every hop of a
//! chunked transfer follows, decided once here and called by the node (S_A taking an upload,
//! S_B taking a relay, S_A sending one, S_B answering parts) and the client (uploading,
//! fetching).
//!
//! - **Which mails.** A mail whose Z is longer than
//!   [`MAX_ONE_REQUEST_CIPHERTEXT_BYTES`] ([`travels_in_chunks`]); up to
//!   [`MAX_TRANSFER_BYTES`] (DESIGN's 8 MiB of plaintext and the AEAD tag).
//! - **Chunks in order** ([`chunk_step`]): a chunk starts where the receiver's copy ends; a
//!   chunk that ends at or before it is one the receiver holds (a retry after a lost answer,
//!   answered without change); one that starts inside it and goes beyond, or starts beyond
//!   it, is refused; none passes the declared total, which every chunk repeats unchanged.
//! - **The hash of Z.** Nothing is checked per chunk: sig_A (A's header) and the relay
//!   signature (S_A's) cover BLAKE3-256(Z) already, so the receiver puts the chunks together
//!   ([`assemble`]) and checks the whole envelope as it checks a one-request mail — S_A
//!   sig_A under the sending account's key ([`verify_sender_signature`](super::verify_sender_signature)),
//!   S_B the relay signature (`verify_relay`), B's client sig_A under A's proven binding. A
//!   chunk altered on the way fails that check and the mail is refused.

use crate::wire::{
    MAIL_CHUNK_BYTES, MAX_ONE_REQUEST_CIPHERTEXT_BYTES, MAX_TRANSFER_BYTES, Validate as _,
    WireError, pb,
};

/// Why a chunk, or the end of a transfer, is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// A declared total outside `MAX_ONE_REQUEST_CIPHERTEXT_BYTES + 1 ..= MAX_TRANSFER_BYTES`.
    #[error("a transfer of {total} bytes: only {min}..={max} travel in chunks")]
    TotalOutOfRange {
        /// The declared total.
        total: u64,
        /// The smallest.
        min: u64,
        /// The largest.
        max: u64,
    },
    /// The chunk declares another total than the transfer's first chunk.
    #[error("the chunk declares {declared} bytes in all, the transfer {held}")]
    TotalChanged {
        /// This chunk's.
        declared: u64,
        /// The transfer's.
        held: u64,
    },
    /// The chunk is empty or longer than `MAIL_CHUNK_BYTES`.
    #[error("a chunk of {len} bytes (1..={max})")]
    ChunkSize {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The chunk would end past the declared total.
    #[error("the chunk ends at {end}, past the total {total}")]
    BeyondEnd {
        /// Where it ends.
        end: u64,
        /// The total.
        total: u64,
    },
    /// The chunk starts after what the receiver holds (a gap).
    #[error("out of order: the chunk starts at {offset}, {received} bytes are held")]
    OutOfOrder {
        /// Where it starts.
        offset: u64,
        /// What is held.
        received: u64,
    },
    /// The chunk starts inside what the receiver holds and goes beyond it.
    #[error("the chunk at {offset} overlaps the {received} bytes held")]
    Overlap {
        /// Where it starts.
        offset: u64,
        /// What is held.
        received: u64,
    },
    /// The transfer ends before all its bytes came.
    #[error("incomplete: {received} of {total} bytes")]
    Incomplete {
        /// What came.
        received: u64,
        /// The total.
        total: u64,
    },
    /// The envelope that ends the transfer carries a ciphertext (it must be empty: Z came in
    /// chunks), or breaks the schema's bounds with Z in place.
    #[error("the envelope: {0}")]
    Envelope(#[from] WireError),
    /// A part asked at or past the end of Z.
    #[error("no part at {offset}: Z has {total} bytes")]
    NoPart {
        /// The offset asked.
        offset: u64,
        /// Z's length.
        total: u64,
    },
}

/// What a receiver does with a chunk [`chunk_step`] accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkStep {
    /// Append it: it starts where the held bytes end.
    Append,
    /// It is held already (sent again): nothing changes.
    Held,
}

/// Whether a Z of `len` bytes travels in chunks (else in one request, as before).
pub fn travels_in_chunks(len: usize) -> bool {
    len > MAX_ONE_REQUEST_CIPHERTEXT_BYTES
}

/// `total` is a length that travels in chunks.
pub fn check_total(total: u64) -> Result<(), TransferError> {
    let (min, max) = (
        MAX_ONE_REQUEST_CIPHERTEXT_BYTES as u64 + 1,
        MAX_TRANSFER_BYTES as u64,
    );
    if (min..=max).contains(&total) {
        Ok(())
    } else {
        Err(TransferError::TotalOutOfRange { total, min, max })
    }
}

/// The receiver holds `received` bytes of a transfer of `held_total` bytes (as its first chunk
/// declared); what to do with a chunk declaring `total` at `offset` of `len` bytes.
pub fn chunk_step(
    received: u64,
    held_total: u64,
    total: u64,
    offset: u64,
    len: usize,
) -> Result<ChunkStep, TransferError> {
    check_total(total)?;
    if total != held_total {
        return Err(TransferError::TotalChanged {
            declared: total,
            held: held_total,
        });
    }
    if len == 0 || len > MAIL_CHUNK_BYTES {
        return Err(TransferError::ChunkSize {
            len,
            max: MAIL_CHUNK_BYTES,
        });
    }
    let end = offset.saturating_add(len as u64);
    if end > total {
        return Err(TransferError::BeyondEnd { end, total });
    }
    if offset == received {
        Ok(ChunkStep::Append)
    } else if end <= received {
        Ok(ChunkStep::Held)
    } else if offset < received {
        Err(TransferError::Overlap { offset, received })
    } else {
        Err(TransferError::OutOfOrder { offset, received })
    }
}

/// Z cut into the chunks a sender sends, in order: `(offset, bytes)`.
pub fn chunks(z: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    z.chunks(MAIL_CHUNK_BYTES)
        .enumerate()
        .map(|(i, c)| ((i * MAIL_CHUNK_BYTES) as u64, c))
}

/// `envelope` without its Z: what follows the chunks.
pub fn head_of(envelope: &pb::MailEnvelope) -> pb::MailEnvelope {
    pb::MailEnvelope {
        ciphertext: Vec::new(),
        ..envelope.clone()
    }
}

/// The bounds of an envelope that follows chunks: every field as in a whole envelope, the
/// ciphertext empty.
pub fn validate_head(head: &pb::MailEnvelope) -> Result<(), WireError> {
    if !head.ciphertext.is_empty() {
        return Err(WireError::Inconsistent {
            field: "MailEnvelope.ciphertext",
            reason: "must be empty: Z travels in chunks",
        });
    }
    let mut whole = head.clone();
    whole.ciphertext = vec![0; crate::wire::AEAD_TAG_BYTES];
    whole.validate()
}

/// The whole envelope: `head` (as validated by [`validate_head`]) with the `z` put together
/// from a transfer of `total` bytes. Its signatures are the caller's to check next.
pub fn assemble(
    head: pb::MailEnvelope,
    z: Vec<u8>,
    total: u64,
) -> Result<pb::MailEnvelope, TransferError> {
    validate_head(&head)?;
    check_total(total)?;
    if z.len() as u64 != total {
        return Err(TransferError::Incomplete {
            received: z.len() as u64,
            total,
        });
    }
    let envelope = pb::MailEnvelope {
        ciphertext: z,
        ..head
    };
    envelope.validate()?;
    Ok(envelope)
}

/// The part of `z` a `FetchMailPart` at `offset` is answered with.
pub fn part_at(z: &[u8], offset: u64) -> Result<&[u8], TransferError> {
    let total = z.len() as u64;
    if offset >= total {
        return Err(TransferError::NoPart { offset, total });
    }
    let start = offset as usize;
    let end = start.saturating_add(MAIL_CHUNK_BYTES).min(z.len());
    Ok(&z[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: u64 = 3 * MAIL_CHUNK_BYTES as u64 + 5;

    #[test]
    fn chunks_come_in_order_and_a_resent_one_changes_nothing() {
        let c = MAIL_CHUNK_BYTES;
        assert_eq!(chunk_step(0, BIG, BIG, 0, c), Ok(ChunkStep::Append));
        assert_eq!(chunk_step(c as u64, BIG, BIG, 0, c), Ok(ChunkStep::Held));
        assert_eq!(
            chunk_step(c as u64, BIG, BIG, 2 * c as u64, c),
            Err(TransferError::OutOfOrder {
                offset: 2 * c as u64,
                received: c as u64
            })
        );
        assert_eq!(
            chunk_step(c as u64, BIG, BIG, 10, c),
            Err(TransferError::Overlap {
                offset: 10,
                received: c as u64
            })
        );
        assert!(matches!(
            chunk_step(3 * c as u64, BIG, BIG, 3 * c as u64, 6),
            Err(TransferError::BeyondEnd { .. })
        ));
        assert!(matches!(
            chunk_step(0, BIG, BIG + 1, 0, c),
            Err(TransferError::TotalChanged { .. })
        ));
        assert!(matches!(
            chunk_step(0, BIG, BIG, 0, c + 1),
            Err(TransferError::ChunkSize { .. })
        ));
        assert!(matches!(
            chunk_step(0, 10, 10, 0, 10),
            Err(TransferError::TotalOutOfRange { .. })
        ));
    }

    #[test]
    fn chunks_cover_z_once_and_parts_are_bounded() {
        let z: Vec<u8> = (0..BIG).map(|i| i as u8).collect();
        let mut joined = Vec::new();
        for (offset, c) in chunks(&z) {
            assert_eq!(offset, joined.len() as u64);
            assert_eq!(part_at(&z, offset).unwrap(), c);
            joined.extend_from_slice(c);
        }
        assert_eq!(joined, z);
        assert!(part_at(&z, BIG).is_err());
        assert!(travels_in_chunks(BIG as usize));
        assert!(!travels_in_chunks(MAX_ONE_REQUEST_CIPHERTEXT_BYTES));
    }

    #[test]
    fn the_envelope_after_the_chunks_is_empty_and_z_is_whole() {
        let whole = pb::MailEnvelope {
            msg_id: vec![1; 16],
            sender: "a@d0.test".into(),
            recipient: "b@d1.test".into(),
            ephemeral_key: vec![2; 32],
            prekey_id: 7,
            ciphertext: vec![3; BIG as usize],
            sender_signature: vec![4; 64],
        };
        assert!(validate_head(&whole).is_err());
        let head = head_of(&whole);
        assert_eq!(validate_head(&head), Ok(()));
        let z = whole.ciphertext.clone();
        assert_eq!(assemble(head.clone(), z.clone(), BIG), Ok(whole));
        assert!(matches!(
            assemble(head, z[1..].to_vec(), BIG),
            Err(TransferError::Incomplete { .. })
        ));
    }
}
