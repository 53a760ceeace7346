//! C2SP signed-note behaviour seen from outside: known answers from the spec and Go's reference,
//! and every malformation and attack the format has to refuse.

use ed25519_dalek::SigningKey;
use herald_proto::note::{
    self, KeyId, KnownKey, MAX_NOTE_LEN, MAX_SIGNATURES, NoteError, NoteSignature, NoteSigner,
    NoteVerifier, SignedNote,
};
use proptest::prelude::*;

const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const SPEC_TEXT: &str = "This is an example message.\n";
const SPEC_SIG: &str = "\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

// The worked example in golang.org/x/mod/sumdb/note's package documentation.
const GO_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const GO_SECOND_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn spec_note() -> String {
    format!("{SPEC_TEXT}\n{SPEC_SIG}")
}

fn spec_key() -> NoteVerifier {
    NoteVerifier::parse(SPEC_VKEY).unwrap()
}

fn signer(name: &str, seed: u8) -> NoteSigner {
    NoteSigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
}

#[test]
fn spec_vector_verifies() {
    let key = spec_key();
    assert_eq!(key.name(), "example.com/foo");
    assert_eq!(key.key_id(), KeyId(0x530d903a));
    let note = note::open(spec_note().as_bytes(), &[&key]).unwrap();
    assert_eq!(note.text(), SPEC_TEXT);
    assert_eq!(note.signatures().len(), 1);
}

#[test]
fn go_reference_example_signs_and_verifies_byte_for_byte() {
    let signer = NoteSigner::parse(GO_SKEY).unwrap();
    assert_eq!(signer.key_id(), KeyId(0xc74f20a3));
    assert_eq!(signer.verifier().to_string(), GO_VKEY);
    assert_eq!(signer.to_private_key_string(), GO_SKEY);
    // Ed25519 is deterministic, so our note must be Go's, byte for byte.
    let note = signer.sign(GO_TEXT).unwrap().to_string();
    assert_eq!(note, format!("{GO_TEXT}\n{GO_SIG}"));
    let key = NoteVerifier::parse(GO_VKEY).unwrap();
    note::open(note.as_bytes(), &[&key]).unwrap();
}

#[test]
fn unknown_signatures_are_ignored() {
    // Go's doubly-signed example: EnochRoot's key is not known here, so its line is skipped.
    let doubly = format!("{GO_TEXT}\n{GO_SIG}{GO_SECOND_SIG}");
    let key = NoteVerifier::parse(GO_VKEY).unwrap();
    let note = note::open(doubly.as_bytes(), &[&key]).unwrap();
    assert_eq!(note.text(), GO_TEXT);
    // Re-encoding gives back the verified bytes, unknown lines included.
    assert_eq!(note.to_string(), doubly);
    assert_eq!(note.verify(&[&key]).unwrap(), vec![(0, 0)]);
    // A line sharing the known name but not its id (or the id but not the name) is unknown too.
    let same_name = NoteSignature::new("example.com/foo", KeyId(1), vec![0; 64]).unwrap();
    let same_id = NoteSignature::new("example.com/bar", KeyId(0x530d903a), vec![0; 64]).unwrap();
    let with_strangers = format!(
        "{}{}{}",
        spec_note(),
        same_name.to_line(),
        same_id.to_line()
    );
    note::open(with_strangers.as_bytes(), &[&spec_key()]).unwrap();
}

#[test]
fn tampered_text_is_rejected() {
    let tampered = spec_note().replace("example message", "exemplary message");
    assert_eq!(
        note::open(tampered.as_bytes(), &[&spec_key()]),
        Err(NoteError::InvalidSignature {
            name: "example.com/foo".into(),
            key_id: KeyId(0x530d903a)
        })
    );
}

#[test]
fn wrong_key_is_rejected() {
    // Another key under the same name has another key id: the signature is unknown to it.
    let other = signer("example.com/foo", 9).verifier();
    assert_eq!(
        note::open(spec_note().as_bytes(), &[&other]),
        Err(NoteError::NoVerifiedSignature)
    );
    assert_eq!(
        note::open(spec_note().as_bytes(), &[]),
        Err(NoteError::NoVerifiedSignature)
    );
}

#[test]
fn forged_line_with_a_known_name_and_id_rejects_the_note() {
    // Key ids are not authentication: a line claiming the known key must verify, and when it
    // fails the whole note is refused, even though another line by that key would verify.
    let forged = NoteSignature::new("example.com/foo", KeyId(0x530d903a), vec![7; 64]).unwrap();
    let note = format!("{SPEC_TEXT}\n{}{SPEC_SIG}", forged.to_line());
    assert!(matches!(
        note::open(note.as_bytes(), &[&spec_key()]),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn failing_known_signature_rejects_even_with_another_valid_key() {
    let (a, b) = (signer("a.test", 1), signer("b.test", 2));
    let text = "x\n";
    let bad_b = NoteSignature::new("b.test", b.key_id(), vec![0; 64]).unwrap();
    let note = SignedNote::new(text, vec![a.signature(text).unwrap(), bad_b]).unwrap();
    assert!(matches!(
        note.verify(&[&a.verifier(), &b.verifier()]),
        Err(NoteError::InvalidSignature { .. })
    ));
    // Knowing only `a`, the bad line is someone else's and is ignored.
    note.verify(&[&a.verifier()]).unwrap();
}

#[test]
fn duplicate_signatures_by_a_known_key_are_rejected() {
    let key = spec_key();
    let twice = format!("{}{SPEC_SIG}", spec_note());
    assert_eq!(
        note::open(twice.as_bytes(), &[&key]),
        Err(NoteError::DuplicateSignature {
            name: "example.com/foo".into(),
            key_id: KeyId(0x530d903a)
        })
    );
    // Duplicate lines by an unknown key are merely ignored.
    let doubly = format!("{GO_TEXT}\n{GO_SIG}{GO_SECOND_SIG}{GO_SECOND_SIG}");
    note::open(doubly.as_bytes(), &[&NoteVerifier::parse(GO_VKEY).unwrap()]).unwrap();
}

#[test]
fn hyphen_instead_of_em_dash_is_rejected() {
    let hyphen = spec_note().replace('\u{2014}', "-");
    assert!(matches!(
        note::open(hyphen.as_bytes(), &[&spec_key()]),
        Err(NoteError::MalformedSignatureLine { line: 0, .. })
    ));
    let en_dash = spec_note().replace('\u{2014}', "\u{2013}");
    assert!(matches!(
        SignedNote::parse(en_dash.as_bytes()),
        Err(NoteError::MalformedSignatureLine { .. })
    ));
}

#[test]
fn missing_blank_line_is_rejected() {
    let joined = format!("{SPEC_TEXT}{SPEC_SIG}");
    assert_eq!(
        SignedNote::parse(joined.as_bytes()),
        Err(NoteError::MissingSignatureBlock)
    );
}

#[test]
fn signature_block_must_end_in_a_newline_and_not_be_empty() {
    let unterminated = spec_note().trim_end_matches('\n').to_owned();
    assert_eq!(
        SignedNote::parse(unterminated.as_bytes()),
        Err(NoteError::EmptySignatureBlock)
    );
    let empty = format!("{SPEC_TEXT}\n");
    assert_eq!(
        SignedNote::parse(empty.as_bytes()),
        Err(NoteError::EmptySignatureBlock)
    );
    // Trailing garbage after the last line is a malformed line.
    let garbage = format!("{}junk\n", spec_note());
    assert!(matches!(
        SignedNote::parse(garbage.as_bytes()),
        Err(NoteError::MalformedSignatureLine { line: 1, .. })
    ));
}

#[test]
fn malformed_signature_lines_are_rejected() {
    for bad in [
        "\u{2014} example.com/foo\n",           // no signature
        "\u{2014} example.com/foo !!!!\n",      // not base64
        "\u{2014} example.com/foo AAAAAA==\n",  // 4 bytes: key id only
        "\u{2014}  AAAAAAA=\n",                 // empty name
        "\u{2014} a+b AAAAAAA=\n",              // '+' in name
        "\u{2014} example.com/foo AAAAAAA= \n", // space inside the base64 part
        "\u{2014}example.com/foo AAAAAAA=\n",   // no space after the dash
        "\u{2014} example.com/foo AAAAAAB=\n",  // non-canonical base64 padding bits
    ] {
        let note = format!("{SPEC_TEXT}\n{bad}");
        assert!(
            matches!(
                SignedNote::parse(note.as_bytes()),
                Err(NoteError::MalformedSignatureLine { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn non_utf8_and_control_characters_are_rejected() {
    let mut bytes = spec_note().into_bytes();
    bytes[3] = 0xff;
    assert_eq!(SignedNote::parse(&bytes), Err(NoteError::NotUtf8));
    for c in ['\r', '\t', '\0', '\x1b'] {
        let note = spec_note().replacen(' ', &c.to_string(), 1);
        assert!(
            matches!(
                SignedNote::parse(note.as_bytes()),
                Err(NoteError::ControlCharacter { .. })
            ),
            "{c:?}"
        );
    }
}

#[test]
fn oversize_note_is_rejected_before_parsing() {
    let padding = "a".repeat(MAX_NOTE_LEN);
    let big = format!("{padding}\n{}", spec_note());
    assert_eq!(
        note::open(big.as_bytes(), &[&spec_key()]),
        Err(NoteError::TooLarge { len: big.len() })
    );
}

#[test]
fn more_signatures_than_allowed_are_rejected() {
    let s = signer("s", 1);
    let text = "x\n";
    let line =
        |i: usize| NoteSignature::new(&format!("k{i}"), KeyId(i as u32), vec![1; 64]).unwrap();
    let mut lines: Vec<NoteSignature> = (0..MAX_SIGNATURES - 1).map(line).collect();
    lines.push(s.signature(text).unwrap());
    // Exactly the limit parses and verifies.
    let at_limit = SignedNote::new(text, lines.clone()).unwrap().to_string();
    note::open(at_limit.as_bytes(), &[&s.verifier()]).unwrap();
    // One more is refused, both when parsing and when building.
    let over = format!("{at_limit}{}", line(MAX_SIGNATURES).to_line());
    assert_eq!(
        SignedNote::parse(over.as_bytes()),
        Err(NoteError::TooManySignatures)
    );
    lines.push(line(MAX_SIGNATURES));
    assert_eq!(
        SignedNote::new(text, lines),
        Err(NoteError::TooManySignatures)
    );
}

#[test]
fn sixteen_known_signatures_all_verify() {
    let signers: Vec<NoteSigner> = (0..16)
        .map(|i| signer(&format!("k{i}.test"), i + 1))
        .collect();
    let text = "sixteen\n";
    let sigs = signers.iter().map(|s| s.signature(text).unwrap()).collect();
    let note = SignedNote::new(text, sigs).unwrap().to_string();
    let verifiers: Vec<NoteVerifier> = signers.iter().map(|s| s.verifier()).collect();
    let known: Vec<&dyn KnownKey> = verifiers.iter().map(|v| v as &dyn KnownKey).collect();
    let verified = note::open(note.as_bytes(), &known)
        .unwrap()
        .verify(&known)
        .unwrap();
    assert_eq!(verified.len(), 16);
}

proptest! {
    #[test]
    fn sign_then_open_round_trips(
        lines in proptest::collection::vec("[ -~\u{a0}-\u{2fff}]{0,40}", 1..8),
        seed in any::<[u8; 32]>(),
    ) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let s = NoteSigner::new("prop.test/herald", SigningKey::from_bytes(&seed)).unwrap();
        let note = s.sign(&text).unwrap().to_string();
        let opened = note::open(note.as_bytes(), &[&s.verifier()]).unwrap();
        prop_assert_eq!(opened.text(), text.as_str());
        prop_assert_eq!(opened.to_string(), note);
    }

    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(note) = SignedNote::parse(&bytes) {
            // Whatever parses re-encodes to exactly the bytes that were parsed.
            let encoded = note.to_string();
            prop_assert_eq!(encoded.as_bytes(), &bytes[..]);
        }
        let _ = NoteVerifier::parse(&String::from_utf8_lossy(&bytes));
    }
}
