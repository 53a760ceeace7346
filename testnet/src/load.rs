//! What the testnet drives through nodes: signed `Notarization` entries of an exact encoded
//! size, and a small seeded generator for random moments and indexes (a failing run can be
//! repeated with the seed it printed).

use ed25519_dalek::SigningKey;
use herald_proto::entry::Notarization;
use herald_proto::wire::{MAX_LABEL_BYTES, pb};
use prost::Message as _;

/// The smallest encoded notarization this module builds (empty label, `text/plain`). The next
/// two sizes are impossible: a label of one byte adds three.
pub const MIN_NOTARIZATION_BYTES: usize = 155;

/// Why an entry of the asked size cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntrySizeError {
    /// The size is below what the fixed fields take, or needs a label over the wire limit.
    #[error("a notarization entry cannot be exactly {0} bytes")]
    Impossible(usize),
}

/// A notarization of a synthetic document, unique per `(author, tag)`, signed by `author`, whose
/// encoded `LogEntry` is exactly `len` bytes (the label is padded to fit). The node accepts it
/// from any client: it is the entry kind clients may author.
pub fn notarization_entry(
    author: &SigningKey,
    tag: u64,
    len: usize,
) -> Result<Vec<u8>, EntrySizeError> {
    let request = |label: String| Notarization {
        digest: *blake3::hash(&tag.to_le_bytes()).as_bytes(),
        media_type: "text/plain".into(),
        label,
        created: 1_800_000_000 + tag % 1_000_000,
    };
    let base = request(String::new()).sign(author).encoded_len();
    let mut pad = len
        .checked_sub(base)
        .ok_or(EntrySizeError::Impossible(len))?;
    // The label's length prefix grows by a byte at 128 (and 16384): shrink the padding by the
    // bytes the prefix gained.
    loop {
        // The digest makes the entry unique; the label only pads it.
        let label = ".".repeat(pad);
        if label.len() > MAX_LABEL_BYTES {
            return Err(EntrySizeError::Impossible(len));
        }
        let entry: pb::LogEntry = request(label).sign(author);
        let got = entry.encoded_len();
        if got == len {
            return Ok(entry.encode_to_vec());
        }
        let over = got
            .checked_sub(len)
            .ok_or(EntrySizeError::Impossible(len))?;
        pad = pad
            .checked_sub(over)
            .ok_or(EntrySizeError::Impossible(len))?;
    }
}

/// SplitMix64: a tiny, fast, seedable generator. Not for keys; for test schedules only.
#[derive(Clone, Debug)]
pub struct Schedule {
    state: u64,
}

impl Schedule {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Schedule { state: seed }
    }

    /// A seed from the clock and the process id, different on every run.
    pub fn fresh_seed() -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        now ^ (u64::from(std::process::id()) << 32)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..high` (`low` if the range is empty).
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next_u64() % (high - low)
    }
}

#[cfg(test)]
mod tests {
    use herald_proto::wire::Validate as _;

    use super::*;

    #[test]
    fn entries_have_the_exact_size_and_a_valid_signature() {
        let author = SigningKey::from_bytes(&[9; 32]);
        for len in [MIN_NOTARIZATION_BYTES, 158, 256, 300, 1000, 1100] {
            let bytes = notarization_entry(&author, 7, len).unwrap();
            assert_eq!(bytes.len(), len);
            let entry = pb::LogEntry::decode(bytes.as_slice()).unwrap();
            entry.validate().unwrap();
            let Some(pb::log_entry::Kind::Notarization(n)) = entry.kind else {
                panic!("not a notarization")
            };
            herald_proto::entry::verify_notarization(&n).unwrap();
        }
        assert_ne!(
            notarization_entry(&author, 1, 256).unwrap(),
            notarization_entry(&author, 2, 256).unwrap()
        );
        for impossible in [10, MIN_NOTARIZATION_BYTES + 1] {
            assert_eq!(
                notarization_entry(&author, 1, impossible),
                Err(EntrySizeError::Impossible(impossible))
            );
        }
        assert_eq!(
            notarization_entry(&author, 1, 5000),
            Err(EntrySizeError::Impossible(5000))
        );
    }

    #[test]
    fn a_schedule_repeats_from_its_seed_and_stays_in_range() {
        let mut a = Schedule::new(42);
        let mut b = Schedule::new(42);
        let xs: Vec<u64> = (0..100).map(|_| a.range(300, 1000)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.range(300, 1000)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (300..1000).contains(x)));
        assert!(xs.iter().any(|x| *x != xs[0]));
        assert_eq!(a.range(5, 5), 5);
    }
}
