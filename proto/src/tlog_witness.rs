//! C2SP tlog-witness over HTTP (<https://c2sp.org/tlog-witness>): the `add-checkpoint` request
//! body, the answers' shapes and the status of each refusal.
//!
//! The judgement is [`crate::witness`]'s, shared with `/herald/witness/1`; this module is only
//! the HTTP encoding, used by the node's `POST /add-checkpoint` and by whoever asks a witness
//! over HTTP. A body is: `old <size>\n`, at most 63 base64 hash lines, an empty line, then the
//! checkpoint note. A 200 answer is one or more note signature lines (cosignatures); a 409 is
//! the held size and a newline, as `text/x.tlog.size`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::merkle::HASH_LEN;
use crate::wire::pb;
use crate::witness::Reason;

/// The request path under the witness's submission prefix.
pub const ADD_CHECKPOINT_PATH: &str = "/add-checkpoint";
/// Most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;
/// Largest request body taken: the proof, and a checkpoint with its signatures.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// `Content-Type` of a 409 answer.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// `Content-Type` of a 200 answer.
pub const COSIGNATURE_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Why a body is not an `add-checkpoint` request (a 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Over [`MAX_BODY_BYTES`].
    #[error("the body is over {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("the body is not UTF-8")]
    NotText,
    /// The first line is not `old <decimal>` without leading zeroes.
    #[error("the first line is not `old <size>`")]
    OldSize,
    /// A proof line is not the base64 of one hash, or there are more than 63.
    #[error("bad consistency proof line {0}")]
    ProofLine(usize),
    /// No empty line before a checkpoint.
    #[error("no checkpoint after the proof")]
    NoCheckpoint,
}

/// Parses a request body into the request both transports judge.
pub fn parse_add_checkpoint(body: &[u8]) -> Result<pb::AddCheckpointRequest, BodyError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotText)?;
    let (first, mut rest) = text.split_once('\n').ok_or(BodyError::OldSize)?;
    let old = first.strip_prefix("old ").ok_or(BodyError::OldSize)?;
    if old.is_empty()
        || !old.bytes().all(|b| b.is_ascii_digit())
        || (old.len() > 1 && old.starts_with('0'))
    {
        return Err(BodyError::OldSize);
    }
    let old_size: u64 = old.parse().map_err(|_| BodyError::OldSize)?;
    let mut consistency_proof = Vec::new();
    loop {
        let (line, tail) = rest.split_once('\n').ok_or(BodyError::NoCheckpoint)?;
        rest = tail;
        if line.is_empty() {
            break;
        }
        let n = consistency_proof.len() + 1;
        if n > MAX_PROOF_LINES {
            return Err(BodyError::ProofLine(n));
        }
        let hash = BASE64
            .decode(line)
            .ok()
            .filter(|h| h.len() == HASH_LEN)
            .ok_or(BodyError::ProofLine(n))?;
        consistency_proof.push(hash);
    }
    if rest.is_empty() {
        return Err(BodyError::NoCheckpoint);
    }
    Ok(pb::AddCheckpointRequest {
        old_size,
        consistency_proof,
        checkpoint: rest.as_bytes().to_vec(),
    })
}

/// The body of `request`.
pub fn encode_add_checkpoint(request: &pb::AddCheckpointRequest) -> Vec<u8> {
    let mut body = format!("old {}\n", request.old_size);
    for hash in &request.consistency_proof {
        body.push_str(&BASE64.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    let mut body = body.into_bytes();
    body.extend_from_slice(&request.checkpoint);
    body
}

/// The HTTP status of a refusal (the table in [`crate::witness`]).
pub fn status_of(reason: Reason) -> u16 {
    match reason {
        Reason::UnknownOrigin => 404,
        Reason::BadSignature | Reason::DistrustedOrigin | Reason::UnregisteredPeer => 403,
        Reason::Conflict => 409,
        Reason::BadProof => 422,
        Reason::Unavailable => 503,
        Reason::MalformedRequest | Reason::OldSizeTooLarge | Reason::Unspecified => 400,
    }
}

/// A witness's HTTP answer as the log reads it (the client side of [`status_of`]): 200 is the
/// first cosignature line of the body (C2SP lets a witness send several, one per key; a log
/// registers one key per witness), 409 a `CONFLICT` with the held size of its body, and the
/// other statuses of the table their refusal (403 reads as a bad signature: the log cannot
/// tell it from a distrusted origin, and retries either way). `None` for a status outside the
/// table or a 200/409 whose body is not what the spec says: the exchange failed.
pub fn answer_of(status: u16, body: &[u8]) -> Option<pb::AddCheckpointResponse> {
    use pb::add_checkpoint_response::Result as Answer;
    let refusal = |reason: Reason, held_size: u64| pb::WitnessRefusal {
        reason: reason as i32,
        held_size,
    };
    let result = match status {
        200 => {
            let text = std::str::from_utf8(body).ok()?;
            let line = text.lines().next().filter(|l| !l.is_empty())?;
            Answer::Cosignature(line.as_bytes().to_vec())
        }
        409 => Answer::Refusal(refusal(Reason::Conflict, parse_size_body(body)?)),
        404 => Answer::Refusal(refusal(Reason::UnknownOrigin, 0)),
        403 => Answer::Refusal(refusal(Reason::BadSignature, 0)),
        422 => Answer::Refusal(refusal(Reason::BadProof, 0)),
        503 => Answer::Refusal(refusal(Reason::Unavailable, 0)),
        400 => Answer::Refusal(refusal(Reason::MalformedRequest, 0)),
        _ => return None,
    };
    Some(pb::AddCheckpointResponse {
        result: Some(result),
    })
}

/// The body of a 409: the held size and a newline.
pub fn size_body(held_size: u64) -> Vec<u8> {
    format!("{held_size}\n").into_bytes()
}

/// The held size of a 409 body, if it is one.
pub fn parse_size_body(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?.strip_suffix('\n')?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example request body of C2SP tlog-witness, "add-checkpoint".
    const SPEC_EXAMPLE: &str = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
";

    #[test]
    fn a_witness_answer_reads_back_as_the_refusal_it_encodes() {
        use pb::add_checkpoint_response::Result as Answer;
        let reason_of = |status: u16, body: &[u8]| match answer_of(status, body)?.result? {
            Answer::Refusal(r) => Some((Reason::try_from(r.reason).ok()?, r.held_size)),
            Answer::Cosignature(_) => None,
        };
        for reason in [
            Reason::UnknownOrigin,
            Reason::BadProof,
            Reason::Unavailable,
            Reason::MalformedRequest,
        ] {
            assert_eq!(reason_of(status_of(reason), b""), Some((reason, 0)));
        }
        assert_eq!(
            reason_of(status_of(Reason::Conflict), &size_body(42)),
            Some((Reason::Conflict, 42))
        );
        assert_eq!(reason_of(403, b""), Some((Reason::BadSignature, 0)));
        // A 409 without its size, an empty 200, a status outside the table: no answer.
        assert!(answer_of(409, b"soon\n").is_none());
        assert!(answer_of(200, b"").is_none());
        assert!(answer_of(500, b"").is_none());
        let line = "\u{2014} w.test abcd\n";
        assert_eq!(
            answer_of(200, format!("{line}second line\n").as_bytes()).and_then(|a| a.result),
            Some(Answer::Cosignature(line.trim_end().as_bytes().to_vec()))
        );
    }

    #[test]
    fn the_c2sp_tlog_witness_example_body_parses_and_round_trips() {
        let request = parse_add_checkpoint(SPEC_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(request.old_size, 20_852_014);
        assert_eq!(request.consistency_proof.len(), 4);
        assert!(
            request
                .checkpoint
                .starts_with(b"example.com/behind-the-sofa\n20852163\n")
        );
        assert_eq!(encode_add_checkpoint(&request), SPEC_EXAMPLE.as_bytes());
    }

    #[test]
    fn malformed_bodies_are_refused_by_kind() {
        let cp = "\nexample.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let hash = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n";
        for (body, want) in [
            (format!("old 01\n{cp}"), BodyError::OldSize),
            (format!("old -1\n{cp}"), BodyError::OldSize),
            (format!("old +1\n{cp}"), BodyError::OldSize),
            (format!("Old 1\n{cp}"), BodyError::OldSize),
            (format!("old 1x\n{cp}"), BodyError::OldSize),
            (format!("old  1\n{cp}"), BodyError::OldSize),
            (format!("old 1\nnot base64\n{cp}"), BodyError::ProofLine(1)),
            (format!("old 1\nAAAA\n{cp}"), BodyError::ProofLine(1)),
            (
                format!("old 1\n{}{cp}", hash.repeat(64)),
                BodyError::ProofLine(64),
            ),
            ("old 1\n".to_owned(), BodyError::NoCheckpoint),
            (format!("old 1\n{hash}"), BodyError::NoCheckpoint),
            ("old 1\n\n".to_owned(), BodyError::NoCheckpoint),
        ] {
            assert_eq!(parse_add_checkpoint(body.as_bytes()), Err(want), "{body:?}");
        }
        assert!(parse_add_checkpoint(format!("old 1\n{}{cp}", hash.repeat(63)).as_bytes()).is_ok());
        assert_eq!(
            parse_add_checkpoint(&vec![b'a'; MAX_BODY_BYTES + 1]),
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            parse_add_checkpoint(b"old 1\n\n\xff"),
            Err(BodyError::NotText)
        );
    }

    #[test]
    fn size_bodies_round_trip() {
        assert_eq!(size_body(0), b"0\n");
        assert_eq!(parse_size_body(&size_body(20_852_014)), Some(20_852_014));
        for bad in [&b"12"[..], b"\n", b"1 \n", b"-1\n"] {
            assert_eq!(parse_size_body(bad), None);
        }
    }
}
