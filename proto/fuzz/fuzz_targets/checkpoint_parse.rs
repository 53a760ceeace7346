//! The C2SP checkpoint parser and verifier (`herald_proto::checkpoint`), fed arbitrary bytes and
//! real signed checkpoints with one byte changed.
//!
//! Checks, beyond "no panic":
//! - a body that parses is canonical: re-encoding gives back the same text;
//! - a note that verifies re-encodes to exactly its input bytes and names the log's origin;
//! - a cosignature line that parses re-encodes to a line that parses the same;
//! - a checkpoint signed by the log verifies with its size and root, and changing any one byte of
//!   the note makes it fail (no malleable byte: canonical base64, strict lines);
//! - a witness cosignature on it passes a quorum-1 policy, and fails it once a byte changes.
#![no_main]

use arbitrary::Arbitrary;
use ed25519_dalek::SigningKey;
use herald_proto::checkpoint::{
    Checkpoint, Cosignature, VerifiedCheckpoint, WitnessPolicy, WitnessSigner,
};
use herald_proto::note::NoteSigner;
use libfuzzer_sys::fuzz_target;

const ORIGIN: &str = "fuzz.test/herald";
const WITNESS: &str = "witness.test/w1";

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Bytes as a note to verify, as a body to parse and as a cosignature line.
    Raw(&'a [u8]),
    /// A real checkpoint of `size` and `root`, cosigned at `time`, with the byte at `flip_at`
    /// xored with `flip` (nothing changes when `flip` is 0).
    Signed {
        size: u64,
        root: [u8; 32],
        time: u64,
        flip_at: u16,
        flip: u8,
    },
}

fn raw(data: &[u8], log: &NoteSigner) {
    let verified = VerifiedCheckpoint::verify(data, &log.verifier());
    if let Ok(v) = &verified {
        assert_eq!(v.note().as_bytes(), data);
        assert_eq!(v.origin(), ORIGIN);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = Checkpoint::parse_body(text) {
            assert_eq!(c.body(), text, "a parsed body is canonical");
        }
        if let Ok(c) = Cosignature::parse(text) {
            assert_eq!(Cosignature::parse(&c.to_line()).as_ref(), Ok(&c));
        }
    }
}

fn signed(size: u64, root: [u8; 32], time: u64, flip_at: u16, flip: u8, log: &NoteSigner) {
    let witness = WitnessSigner::new(WITNESS, SigningKey::from_bytes(&[9; 32]))
        .expect("a fixed valid witness name");
    let checkpoint = Checkpoint {
        origin: ORIGIN.to_owned(),
        size,
        root,
    };
    let note = checkpoint
        .sign(log)
        .expect("the origin is the key's name")
        .to_string();
    let verified = VerifiedCheckpoint::verify(note.as_bytes(), &log.verifier())
        .expect("a checkpoint the log signed verifies");
    assert_eq!(verified.checkpoint(), &checkpoint);
    let Ok(cosignature) = witness.cosign(&verified, time) else {
        return; // a timestamp out of the cosignature range
    };
    let cosigned = verified
        .with_cosignature(&witness.verifier(), &cosignature)
        .expect("a fresh cosignature merges")
        .note();
    let policy = WitnessPolicy::new(log.verifier(), vec![witness.verifier()], 1)
        .expect("one witness, quorum one");
    let now = time;
    assert!(policy.verify(cosigned.as_bytes(), now, 0).is_ok());

    let mut bytes = cosigned.into_bytes();
    let at = usize::from(flip_at) % bytes.len();
    bytes[at] ^= flip;
    let outcome = policy.verify(&bytes, now, 0);
    if flip == 0 {
        assert!(outcome.is_ok());
    } else {
        assert!(
            outcome.is_err(),
            "byte {at} changed and the note still verified"
        );
    }
}

fuzz_target!(|input: Input| {
    let log =
        NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[7; 32])).expect("a fixed valid key name");
    match input {
        Input::Raw(data) => raw(data, &log),
        Input::Signed {
            size,
            root,
            time,
            flip_at,
            flip,
        } => signed(size, root, time, flip_at, flip, &log),
    }
});
