//! The C2SP signed-note parser and verifier (`herald_proto::note`), fed arbitrary bytes and
//! note-shaped inputs.
//!
//! Checks, beyond "no panic":
//! - a note that parses re-encodes to exactly its input bytes (base64 is decoded canonically and
//!   every other byte is kept), so a verified note can be forwarded verbatim;
//! - a signature line and a verifier key string that parse re-encode to what parses the same;
//! - signature lines by keys the reader does not know are ignored: a note carrying a real
//!   signature by the known key opens whatever other well-formed lines it has, unless one of
//!   them claims the known key (name and key id); without it, the note never opens.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use herald_proto::note::{
    KnownKey, NoteError, NoteSignature, NoteSigner, NoteVerifier, SignedNote, open,
};
use libfuzzer_sys::fuzz_target;

const KEY_NAME: &str = "fuzz.test/herald";

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Bytes as a whole note, as one signature line and as a verifier key string.
    Raw(&'a [u8]),
    /// Text lines, then signature lines with fuzzer-chosen names and payloads (key id first),
    /// and, if `sign` is set, a real signature by the known key inserted among them.
    Shaped {
        text: Vec<&'a str>,
        lines: Vec<(&'a str, &'a [u8])>,
        sign: Option<u8>,
    },
}

fn signer() -> NoteSigner {
    NoteSigner::new(KEY_NAME, SigningKey::from_bytes(&[7; 32])).expect("a fixed valid key name")
}

fn raw(data: &[u8], verifier: &NoteVerifier) {
    if let Ok(note) = SignedNote::parse(data) {
        assert_eq!(
            note.to_string().as_bytes(),
            data,
            "re-encoding changed the note"
        );
    }
    let opened = open(data, &[verifier as &dyn KnownKey]);
    if opened.is_ok() {
        assert!(SignedNote::parse(data).is_ok());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(sig) = NoteSignature::parse(text) {
            let line = sig.to_line();
            assert_eq!(NoteSignature::parse(&line).as_ref(), Ok(&sig));
        }
        if let Ok(key) = NoteVerifier::parse(text) {
            let again = NoteVerifier::parse(&key.to_string()).expect("own key string parses");
            assert_eq!(again.name(), key.name());
            assert_eq!(again.key_id(), key.key_id());
            assert_eq!(again.public_key(), key.public_key());
        }
    }
}

fn shaped(text: &[&str], lines: &[(&str, &[u8])], sign: Option<u8>, signer: &NoteSigner) {
    let mut body = String::new();
    for line in text {
        body.push_str(line);
        body.push('\n');
    }
    let mut sig_lines: Vec<String> = lines
        .iter()
        .map(|(name, payload)| format!("\u{2014} {name} {}\n", BASE64.encode(payload)))
        .collect();
    // A fuzzed line that names the known key: then the outcome depends on its bytes.
    let claims_known_key = lines.iter().any(|(name, payload)| {
        *name == KEY_NAME && payload.get(..4) == Some(&signer.key_id().0.to_be_bytes()[..])
    });
    if let Some(at) = sign {
        let Ok(real) = signer.signature(&body) else {
            return; // text the signer refuses (control characters, too long)
        };
        let at = usize::from(at) % (sig_lines.len() + 1);
        sig_lines.insert(at, real.to_line());
    }
    let note = format!("{body}\n{}", sig_lines.concat());
    let verifier = signer.verifier();
    let parsed = SignedNote::parse(note.as_bytes());
    let opened = open(note.as_bytes(), &[&verifier as &dyn KnownKey]);
    match (&parsed, sign.is_some(), claims_known_key) {
        (Ok(parsed), true, false) if parsed.text() == body => {
            assert!(
                opened.is_ok(),
                "unknown signatures must be ignored: {opened:?}"
            );
        }
        (Ok(_), false, false) => {
            assert_eq!(opened.map(drop), Err(NoteError::NoVerifiedSignature));
        }
        _ => {}
    }
}

fuzz_target!(|input: Input| {
    let signer = signer();
    match input {
        Input::Raw(data) => raw(data, &signer.verifier()),
        Input::Shaped { text, lines, sign } => shaped(&text, &lines, sign, &signer),
    }
});
