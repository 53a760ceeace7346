//! `herald verify-evidence` and `herald verify-absence`: the offline arbiter. No network, no key
//! store: the files given and the arbiter's own trusted logs are all that is read.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use herald_light_client::certmail::{MAX_INCLUDED_LEAF_BYTES, decode_included_leaf};
use herald_proto::certmail::{req_hash, request_signing_input};
use herald_proto::equivocation::{DecodeError, Equivocation, Evidence};
use herald_proto::evidence::{
    ArbiterContext, Conclusion, MAX_ABSENCE_PROOF_BYTES, MAX_EVIDENCE_BUNDLE_BYTES, Status,
    TrustSource, Verdict, arbitrate, decode_absence_proof, decode_bundle, verify_absence,
};
use herald_proto::note::NoteVerifier;
use herald_proto::note::b64;
use herald_proto::wire::{MAX_EQUIVOCATION_BYTES, pb};
use serde_json::{Value, json};

use super::cm::files::{read_bounded, read_trust};
use super::cm::when::{now, parse_time};

/// Exit statuses of the two commands.
pub(super) const VERIFY_EXIT_STATUS: &str = "\
Exit status:
  0  shown: the recipient received it (verify-evidence, with the recipient domain's log
     from --trust) / the key was not published (verify-absence)
  1  failure: bad arguments, an unreadable file, a bad --trust or --equivocation file
  3  NOT shown: a check failed, something is missing, or the file is not one this version
     reads (the deciding check and the reason are printed)
  4  UNVERIFIED (verify-evidence): every check passed, but only under the recipient
     domain's keys as the bundle itself states them; a sender running a copy of that domain
     can make such a bundle. Give --trust with the domain's log file to decide";

const EXIT_NOT_SHOWN: u8 = 3;
const EXIT_UNVERIFIED: u8 = 4;

/// `herald verify-evidence`.
#[derive(Debug, Args)]
pub(super) struct VerifyEvidence {
    /// The evidence bundle file.
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
    /// A log the arbiter trusts on its own (log file, repeatable); preferred over the bundle's
    /// copy of the recipient's domain log. Without the recipient's domain here, the verdict is
    /// at best "unverified" (exit 4): the bundle's own copy of that log proves nothing.
    #[arg(long, value_name = "FILE")]
    trust: Vec<PathBuf>,
    /// An equivocation proof (an encoded herald.v1.Equivocation, repeatable): a log shown to
    /// have split its view proves nothing.
    #[arg(long, value_name = "FILE")]
    equivocation: Vec<PathBuf>,
    /// Another publication naming the request, presented by the recipient (an encoded
    /// IncludedLeaf, repeatable): the lowest index counts.
    #[arg(long, value_name = "FILE")]
    publication: Vec<PathBuf>,
    /// A revocation of the recipient's key, presented by the recipient (an encoded
    /// IncludedLeaf, repeatable).
    #[arg(long, value_name = "FILE")]
    revocation: Vec<PathBuf>,
    /// Clock skew allowed for the recipient's domain log's cosignatures, seconds.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    max_skew: u64,
    /// Judge as of this time (RFC 3339, +DURATION or Unix seconds) [default: now].
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print one JSON object (bytes in base64; check ids are stable).
    #[arg(long)]
    json: bool,
}

/// `herald verify-absence`.
#[derive(Debug, Args)]
pub(super) struct VerifyAbsence {
    /// The absence proof file.
    #[arg(value_name = "PROOF")]
    proof: PathBuf,
    /// Judge as of this time (RFC 3339, +DURATION or Unix seconds) [default: now].
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Print one JSON object (bytes in base64).
    #[arg(long)]
    json: bool,
}

/// `herald verify-equivocation`.
#[derive(Debug, Args)]
pub(super) struct VerifyEquivocation {
    /// The equivocation proof: an encoded herald.v1.Equivocation, raw or in base64 (as
    /// `herald log alerts --json`, `herald-node alerts` and the admin API print it).
    #[arg(value_name = "PROOF")]
    proof: PathBuf,
    /// Only a proof against this log key counts (e.g. the key you follow the log by).
    #[arg(long, value_name = "VKEY")]
    log_key: Option<String>,
    /// Print one JSON object (roots in base64).
    #[arg(long)]
    json: bool,
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn failure(e: &anyhow::Error, json: bool) -> ExitCode {
    eprintln!("herald: {e:#}");
    if json {
        print_json(&json!({ "error": format!("{e:#}") }));
    }
    ExitCode::FAILURE
}

fn at(at: Option<&str>) -> anyhow::Result<u64> {
    let now = now()?;
    match at {
        None => Ok(now),
        Some(s) => Ok(parse_time(s, now).context("--at")?),
    }
}

fn leaves(paths: &[PathBuf]) -> anyhow::Result<Vec<pb::IncludedLeaf>> {
    paths
        .iter()
        .map(|p| {
            let bytes = read_bounded(p, MAX_INCLUDED_LEAF_BYTES, "included leaf")?;
            decode_included_leaf(&bytes).with_context(|| p.display().to_string())
        })
        .collect()
}

fn context(args: &VerifyEvidence) -> anyhow::Result<ArbiterContext> {
    let trusted_logs = args
        .trust
        .iter()
        .map(|p| read_trust(p))
        .collect::<Result<Vec<_>, _>>()?;
    let equivocations = args
        .equivocation
        .iter()
        .map(|p| read_equivocation(p)?.with_context(|| p.display().to_string()))
        .collect::<anyhow::Result<_>>()?;
    Ok(ArbiterContext {
        now: at(args.at.as_deref())?,
        max_skew: args.max_skew,
        trusted_logs,
        equivocations,
        publications: leaves(&args.publication)?,
        revocations: leaves(&args.revocation)?,
    })
}

/// What the bundle's request says (for the JSON output), if it is there.
fn request_json(signed: Option<&pb::SignedKeyRequest>) -> Value {
    let Some((signed, r)) = signed.and_then(|s| Some((s, s.request.as_ref()?))) else {
        return Value::Null;
    };
    json!({
        "sender": r.sender,
        "recipient": r.recipient,
        "msg_id": b64(&r.msg_id),
        "req_hash": b64(&req_hash(&request_signing_input(r), &signed.signature)),
        "deadline": r.deadline,
        "created": r.created,
        "location": r.location.as_ref().and_then(|l| l.log.as_ref()).map(|t| t.log_key.clone()),
    })
}

fn status_id(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::NotRun => "not-run",
    }
}

fn source_id(s: TrustSource) -> &'static str {
    match s {
        TrustSource::Confirmed => "confirmed",
        TrustSource::ArbiterOverride => "arbiter-override",
        TrustSource::Assumed => "assumed",
        TrustSource::SignedByRecipient => "signed-by-recipient",
    }
}

/// The outcome id and the verdict's words.
fn conclusion_words(v: &Verdict) -> (&'static str, &'static str) {
    match v.conclusion() {
        Conclusion::Received => ("received", "recipient received it"),
        Conclusion::Unverified => (
            "unverified",
            "unverified: keys taken from the bundle (give --trust)",
        ),
        Conclusion::NotShown => ("not-shown", "not shown"),
    }
}

fn verdict_json(v: &Verdict, request: Value) -> Value {
    let (outcome, verdict) = conclusion_words(v);
    json!({
        "outcome": outcome,
        "verdict": verdict,
        "decided_by": { "id": v.decided_by.id(), "description": v.decided_by.description() },
        "checks": v.checks.iter().map(|c| json!({
            "id": c.check.id(),
            "description": c.check.description(),
            "status": status_id(c.status),
            "detail": c.detail,
        })).collect::<Vec<_>>(),
        "trust": v.trust.iter().map(|t| json!({ "what": t.what, "source": source_id(t.source) }))
            .collect::<Vec<_>>(),
        "fully_trusted": v.fully_trusted(),
        "request": request,
        "error": Value::Null,
    })
}

fn print_verdict(v: &Verdict) {
    let (_, summary) = conclusion_words(v);
    let mark = match v.conclusion() {
        Conclusion::Received => "",
        Conclusion::Unverified => {
            " (receipt is NOT proven: the checks pass under the recipient domain's keys as the bundle states them, which a sender running a copy of that domain can choose)"
        }
        Conclusion::NotShown => " (receipt is NOT proven)",
    };
    println!("verdict     {summary}{mark}");
    println!(
        "decided by  {}: {}",
        v.decided_by.id(),
        v.decided_by.description()
    );
    println!("checks");
    for c in &v.checks {
        let status = match c.status {
            Status::Passed => "pass",
            Status::Failed => "FAIL",
            Status::NotRun => "skip",
        };
        // Details may quote bundle text: print it escaped.
        println!("  [{status}] {}: {}", c.check.id(), c.detail.escape_debug());
    }
    if !v.trust.is_empty() {
        println!("trust");
    }
    for t in &v.trust {
        let source = match t.source {
            TrustSource::Confirmed => "confirmed by the arbiter's trusted key",
            TrustSource::ArbiterOverride => "the arbiter's trusted key (the bundle's differs)",
            TrustSource::Assumed => "ASSUMED from the bundle, not confirmed (give --trust)",
            TrustSource::SignedByRecipient => "named in the request the recipient signed",
        };
        println!("  {}: {source}", t.what.escape_debug());
    }
}

/// Runs `herald verify-evidence`.
pub(super) fn verify_evidence(args: VerifyEvidence) -> ExitCode {
    let json = args.json;
    let (bytes, ctx) = match read_bounded(&args.bundle, MAX_EVIDENCE_BUNDLE_BYTES, "bundle")
        .map_err(anyhow::Error::from)
        .and_then(|b| Ok((b, context(&args)?)))
    {
        Ok(x) => x,
        Err(e) => return failure(&e, json),
    };
    let bundle = match decode_bundle(&bytes) {
        Ok(b) => b,
        Err(e) => return not_a_file(&args.bundle, &e.to_string(), json),
    };
    let verdict = arbitrate(&bundle, &ctx);
    if json {
        print_json(&verdict_json(
            &verdict,
            request_json(bundle.request.as_ref()),
        ));
    } else {
        print_verdict(&verdict);
    }
    match verdict.conclusion() {
        Conclusion::Received => ExitCode::SUCCESS,
        Conclusion::Unverified => ExitCode::from(EXIT_UNVERIFIED),
        Conclusion::NotShown => ExitCode::from(EXIT_NOT_SHOWN),
    }
}

/// A file that is not one this version reads: not shown, with the reason.
fn not_a_file(path: &Path, reason: &str, json: bool) -> ExitCode {
    if json {
        print_json(&json!({
            "outcome": "not-shown",
            "verdict": "not shown",
            "decided_by": Value::Null,
            "checks": [],
            "error": format!("{}: {reason}", path.display()),
        }));
    } else {
        println!(
            "verdict     not shown: {} is not readable: {reason}",
            path.display()
        );
    }
    ExitCode::from(EXIT_NOT_SHOWN)
}

/// Runs `herald verify-absence`.
pub(super) fn verify_absence_command(args: VerifyAbsence) -> ExitCode {
    let json = args.json;
    let (bytes, now) = match read_bounded(&args.proof, MAX_ABSENCE_PROOF_BYTES, "absence proof")
        .map_err(anyhow::Error::from)
        .and_then(|b| Ok((b, at(args.at.as_deref())?)))
    {
        Ok(x) => x,
        Err(e) => return failure(&e, json),
    };
    let proof = match decode_absence_proof(&bytes) {
        Ok(p) => p,
        Err(e) => return not_a_file(&args.proof, &e.to_string(), json),
    };
    let request = request_json(proof.request.as_ref());
    match verify_absence(&proof, now) {
        Ok(v) => {
            let origin = v.request.location().origin().to_owned();
            if json {
                print_json(&json!({
                    "outcome": "absence-shown",
                    "absent": true,
                    "origin": origin,
                    "from_size": v.from_size,
                    "to_size": v.to_size,
                    "request": request,
                    "error": Value::Null,
                }));
            } else {
                println!("verdict     not published: no leaf of {origin} names the request");
                println!(
                    "window      indexes {} to {} (every leaf scanned, both checkpoints cosigned)",
                    v.from_size, v.to_size
                );
                println!("req_hash    {}", b64(v.request.req_hash()));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if json {
                print_json(&json!({
                    "outcome": "not-shown",
                    "absent": false,
                    "request": request,
                    "error": e.to_string(),
                }));
            } else {
                println!("verdict     not shown: {}", e.to_string().escape_debug());
            }
            ExitCode::from(EXIT_NOT_SHOWN)
        }
    }
}

/// Exit status of `herald verify-equivocation`.
pub(super) const EQUIVOCATION_EXIT_STATUS: &str = "Exit status:
  0  PROVEN: the log signed two checkpoints that cannot both be true
  1  failure: bad arguments or an unreadable file
  3  NOT shown: the file is not a proof, the proof does not verify, or it is against
     another key than --log-key (the reason is printed)";

/// Reads an equivocation proof file: the raw encoding, or failing that the file as base64 text
/// (as `herald log alerts --json`, `herald-node alerts` and the admin API print proofs). The
/// outer error is the file (missing, over the bound), the inner one its contents.
fn read_equivocation(path: &Path) -> anyhow::Result<Result<Equivocation, DecodeError>> {
    // Base64 of the largest proof, with room for line breaks.
    let limit = MAX_EQUIVOCATION_BYTES.div_ceil(3) * 4 + MAX_EQUIVOCATION_BYTES / 32;
    let bytes = read_bounded(path, limit, "equivocation proof")?;
    Ok(Equivocation::decode(&bytes).or_else(|raw_error| {
        let text: String = String::from_utf8_lossy(&bytes).split_whitespace().collect();
        BASE64
            .decode(text.as_bytes())
            .ok()
            .and_then(|b| Equivocation::decode(&b).ok())
            .ok_or(raw_error)
    }))
}

/// Runs `herald verify-equivocation`: checks the proof offline, from its bytes alone.
pub(super) fn verify_equivocation(args: VerifyEquivocation) -> ExitCode {
    let json = args.json;
    let expected = match args.log_key.as_deref().map(NoteVerifier::parse).transpose() {
        Ok(k) => k,
        Err(e) => return failure(&anyhow::anyhow!("--log-key: {e}"), json),
    };
    let claimed = match read_equivocation(&args.proof) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return not_proven(&format!("not an equivocation proof: {e}"), json),
        Err(e) => return failure(&e, json),
    };
    let verified = match claimed.verify() {
        Ok(v) => v,
        Err(e) => return not_proven(&format!("the proof does not verify: {e}"), json),
    };
    let log = verified.equivocation().log();
    if let Some(key) = &expected
        && key != log
    {
        return not_proven(
            &format!("the proof is against {log}, not the key given ({key})"),
            json,
        );
    }
    let form = match verified.equivocation().evidence() {
        Evidence::SameSize => "same size, different roots",
        Evidence::Consistency { .. } => {
            "a consistency proof from the smaller checkpoint that commits the log to another root"
        }
        Evidence::Inclusion { .. } => "one index with a different leaf in each tree",
    };
    let checkpoints = [verified.first(), verified.second()];
    if json {
        print_json(&json!({
            "proven": true,
            "origin": verified.origin(),
            "log_key": log.to_string(),
            "form": form,
            "checkpoints": checkpoints.iter().map(|c| json!({
                "size": c.size(),
                "root": b64(c.root()),
            })).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "PROVEN      {} signed two checkpoints that cannot both be true",
            verified.origin().escape_debug()
        );
        // Key names are the signer's choice: printed escaped, like everything from the file.
        println!("log key     {}", log.to_string().escape_debug());
        println!("form        {form}");
        for (n, c) in ["first", "second"].iter().zip(checkpoints) {
            println!("{n:<11} size {} root {}", c.size(), b64(c.root()));
        }
    }
    ExitCode::SUCCESS
}

fn not_proven(reason: &str, json: bool) -> ExitCode {
    if json {
        print_json(&json!({ "proven": false, "reason": reason }));
    } else {
        println!("NOT shown   {}", reason.escape_debug());
    }
    ExitCode::from(EXIT_NOT_SHOWN)
}
