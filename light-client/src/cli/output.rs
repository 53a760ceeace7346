//! What `herald log ...` prints: aligned lines for people, one JSON object with `--json`.
//!
//! JSON gives hashes and proofs in standard base64 and checkpoints as their signed-note text,
//! verbatim, so the output can be checked again by any C2SP implementation. Text that came from
//! the log (labels, media types) is printed escaped in human output.

use std::path::PathBuf;

use herald_light_client::{
    BatchEntry, CheckpointUpdate, GatewayRefusal, VerifiedConsistency, VerifiedEntry,
    VerifiedInclusion, VerifyError,
};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::entry::{verify_batch_notarization, verify_notarization};
use herald_proto::note::b64;
use herald_proto::succession::SuccessionError;
use herald_proto::wire::pb;
use prost::Message as _;
use serde_json::{Value, json};

fn checkpoint_json(c: &VerifiedCheckpoint) -> Value {
    json!({
        "origin": c.origin(),
        "size": c.size(),
        "root": b64(c.root()),
        "note": c.note(),
    })
}

fn inclusion_json(p: &pb::InclusionProof) -> Value {
    json!({
        "leaf_index": p.leaf_index,
        "tree_size": p.tree_size,
        "hashes": p.hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
    })
}

fn consistency_json(p: &pb::ConsistencyProof) -> Value {
    json!({
        "size1": p.size1,
        "size2": p.size2,
        "hashes": p.hashes.iter().map(|h| b64(h)).collect::<Vec<_>>(),
    })
}

fn print_json(v: &Value) {
    // Serialising a Value built here cannot fail.
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn print_checkpoint_lines(c: &VerifiedCheckpoint) {
    println!("origin      {}", c.origin());
    println!("size        {}", c.size());
    println!("root        {}", b64(c.root()));
}

/// `herald log checkpoint`.
pub(super) fn checkpoint(u: &CheckpointUpdate, json: bool) {
    if json {
        print_json(&json!({
            "checkpoint": checkpoint_json(&u.checkpoint),
            "previous": u.previous.as_ref().map(checkpoint_json),
            "consistency_proof": u.proof.as_ref().map(consistency_json),
        }));
        return;
    }
    print_checkpoint_lines(&u.checkpoint);
    match (&u.previous, &u.proof) {
        (None, _) => println!("verified    signature; first checkpoint stored for this log"),
        (Some(p), Some(_)) => println!(
            "verified    signature; consistent with the stored checkpoint of size {}",
            p.size()
        ),
        (Some(p), None) if p.size() == u.checkpoint.size() => {
            println!("verified    signature; same tree as the stored checkpoint")
        }
        (Some(p), None) => println!(
            "verified    signature; the stored checkpoint was of size {}",
            p.size()
        ),
    }
}

/// What a log entry says, for display.
fn entry_json(bytes: &[u8], entry: &VerifiedEntry) -> Value {
    let decoded = entry.log_entry();
    let mut v = json!({ "entry": b64(bytes) });
    match decoded.as_ref().ok().and_then(|e| e.kind.as_ref()) {
        Some(pb::log_entry::Kind::Notarization(n)) => {
            v["kind"] = json!("notarization");
            v["notarization"] = json!({
                "digest": b64(&n.digest),
                "media_type": n.media_type,
                "label": n.label,
                "author_key": b64(&n.author_key),
                "created": n.created,
                "signature_valid": verify_notarization(n).is_ok(),
            });
        }
        Some(pb::log_entry::Kind::BatchNotarization(n)) => {
            v["kind"] = json!("batch_notarization");
            v["notarization"] = json!({
                "digest": b64(&n.digest),
                "media_type": n.media_type,
                "label": n.label,
                "author_key": b64(&n.author_key),
                "created": n.created,
                "batch_size": n.batch_size,
                "batch_index": n.batch_index,
                "signature_valid": verify_batch_notarization(n).is_ok(),
            });
        }
        Some(pb::log_entry::Kind::KeyPublication(_)) => v["kind"] = json!("key_publication"),
        Some(pb::log_entry::Kind::IdentityBinding(_)) => v["kind"] = json!("identity_binding"),
        Some(pb::log_entry::Kind::IdentityRevocation(_)) => {
            v["kind"] = json!("identity_revocation")
        }
        Some(pb::log_entry::Kind::Evidence(_)) => v["kind"] = json!("evidence"),
        Some(pb::log_entry::Kind::WitnessedCheckpoint(_)) => {
            v["kind"] = json!("witnessed_checkpoint")
        }
        None => v["kind"] = json!("unknown"),
    }
    v
}

/// `herald log submit` and `herald log entry`.
pub(super) fn entry(e: &VerifiedEntry, json: bool) {
    let inclusion = e.inclusion();
    let described = entry_json(e.entry(), e);
    if json {
        let mut v = json!({
            "index": e.index(),
            "leaf_hash": b64(inclusion.leaf_hash()),
            "checkpoint": checkpoint_json(inclusion.checkpoint()),
            "inclusion_proof": inclusion_json(&inclusion.to_pb()),
        });
        for (k, val) in described.as_object().into_iter().flatten() {
            v[k] = val.clone();
        }
        print_json(&v);
        return;
    }
    println!("index       {}", e.index());
    println!("leaf hash   {}", b64(inclusion.leaf_hash()));
    println!(
        "kind        {}",
        described["kind"].as_str().unwrap_or("unknown")
    );
    if let Some(n) = described.get("notarization") {
        println!("digest      {}", n["digest"].as_str().unwrap_or(""));
        println!("media type  {:?}", n["media_type"].as_str().unwrap_or(""));
        println!("label       {:?}", n["label"].as_str().unwrap_or(""));
        println!("author key  {}", n["author_key"].as_str().unwrap_or(""));
        println!("created     {}", n["created"]);
        println!(
            "author sig  {}",
            if n["signature_valid"] == json!(true) {
                "valid"
            } else {
                "INVALID"
            }
        );
    }
    print_checkpoint_lines(inclusion.checkpoint());
    println!(
        "verified    inclusion proof of {} hashes against the signed checkpoint",
        inclusion.path().len()
    );
}

/// `herald log prove`.
/// Each file's outcome in a batch: its entry, proved, or the gateway's refusal of it. Returns
/// how many were refused.
pub(super) fn batch(files: &[PathBuf], outcomes: &[BatchEntry], json: bool) -> usize {
    let refused = outcomes.iter().filter(|o| o.is_err()).count();
    if json {
        let items: Vec<Value> = files
            .iter()
            .zip(outcomes)
            .map(|(file, outcome)| match outcome {
                Ok(e) => json!({
                    "file": file.display().to_string(),
                    "index": e.index(),
                    "leaf_hash": b64(e.inclusion().leaf_hash()),
                    "checkpoint": checkpoint_json(e.inclusion().checkpoint()),
                    "inclusion_proof": inclusion_json(&e.inclusion().to_pb()),
                    "entry": entry_json(e.entry(), e),
                }),
                Err(r) => json!({
                    "file": file.display().to_string(),
                    "refused": refusal_json(r),
                }),
            })
            .collect();
        print_json(&json!({ "entries": items, "refused": refused }));
        return refused;
    }
    for (file, outcome) in files.iter().zip(outcomes) {
        match outcome {
            Ok(e) => println!(
                "{}  index {}  leaf {}  (inclusion proof of {} hashes verified)",
                file.display(),
                e.index(),
                b64(e.inclusion().leaf_hash()),
                e.inclusion().path().len()
            ),
            Err(r) => println!("{}  REFUSED  {r}", file.display()),
        }
    }
    if let Some(Ok(e)) = outcomes.iter().find(|o| o.is_ok()) {
        print_checkpoint_lines(e.inclusion().checkpoint());
    }
    refused
}

fn refusal_json(r: &GatewayRefusal) -> Value {
    json!({
        "kind": r.kind.as_str_name(),
        "message": r.message,
        "retry_after_ms": r.retry_after.map(|d| d.as_millis() as u64),
    })
}

pub(super) fn inclusion(i: &VerifiedInclusion, json: bool) {
    if json {
        print_json(&json!({
            "leaf_index": i.index(),
            "leaf_hash": b64(i.leaf_hash()),
            "checkpoint": checkpoint_json(i.checkpoint()),
            "inclusion_proof": inclusion_json(&i.to_pb()),
        }));
        return;
    }
    println!("leaf index  {}", i.index());
    println!("leaf hash   {}", b64(i.leaf_hash()));
    print_checkpoint_lines(i.checkpoint());
    println!(
        "verified    inclusion proof of {} hashes against the signed checkpoint",
        i.path().len()
    );
}

/// `herald log consistency`.
pub(super) fn consistency(c: &VerifiedConsistency, json: bool) {
    let (size1, root1) = c.older();
    let (size2, root2) = c.newer();
    if json {
        print_json(&json!({
            "size1": size1,
            "root1": b64(root1),
            "size2": size2,
            "root2": b64(root2),
            "checkpoint": checkpoint_json(c.anchor()),
            "consistency_proof": consistency_json(c.proof()),
        }));
        return;
    }
    println!("size1       {size1}");
    println!("root1       {}", b64(root1));
    println!("size2       {size2}");
    println!("root2       {}", b64(root2));
    println!(
        "verified    both roots against the signed checkpoint of size {}, and the consistency proof of {} hashes between them",
        c.anchor().size(),
        c.proof().hashes.len()
    );
}

/// The evidence of a refused succession (proto's rule), for keeping or publishing.
fn succession_json(e: &SuccessionError) -> Value {
    match e {
        SuccessionError::EmptyTreeRoot { checkpoint }
        | SuccessionError::ForeignCheckpoint { checkpoint } => {
            json!({ "received": checkpoint_json(checkpoint), "error": e.to_string() })
        }
        SuccessionError::Rollback { held, next } => json!({
            "stored": checkpoint_json(held),
            "received": checkpoint_json(next),
        }),
        SuccessionError::Split(equivocation) => json!({
            "first": equivocation.first_note(),
            "second": equivocation.second_note(),
            "equivocation": b64(&equivocation.encode()),
        }),
        SuccessionError::BadProof {
            older,
            newer,
            proof,
            error,
            ..
        } => json!({
            "older": checkpoint_json(older),
            "newer": checkpoint_json(newer),
            "consistency_proof": consistency_json(proof),
            "error": error.to_string(),
        }),
        other => json!({ "error": other.to_string() }),
    }
}

/// The evidence of a verification failure, for keeping or publishing.
pub(super) fn evidence_json(e: &VerifyError) -> Value {
    match e {
        VerifyError::Checkpoint { note, error } => json!({
            "received_note": String::from_utf8_lossy(note),
            "error": error.to_string(),
        }),
        VerifyError::Succession(e) => succession_json(e),
        VerifyError::BadConsistencyProof {
            anchor,
            size1,
            root1,
            size2,
            root2,
            proof,
            error,
        } => json!({
            "checkpoint": checkpoint_json(anchor),
            "size1": size1, "root1": b64(root1),
            "size2": size2, "root2": b64(root2),
            "consistency_proof": consistency_json(proof),
            "error": error.to_string(),
        }),
        VerifyError::NotIncluded {
            checkpoint,
            leaf_hash,
            proof,
            error,
        } => json!({
            "checkpoint": checkpoint_json(checkpoint),
            "leaf_hash": b64(leaf_hash),
            "inclusion_proof": inclusion_json(proof),
            "error": error.to_string(),
        }),
        VerifyError::AnswerMismatch {
            what,
            asked,
            answered,
        } => json!({ "what": what, "asked": asked, "answered": answered }),
        VerifyError::NotCosigned { note, error } => json!({
            "received_note": String::from_utf8_lossy(note),
            "error": error.to_string(),
        }),
        VerifyError::Equivocated { equivocation } => json!({
            "origin": equivocation.log().name(),
            "first": equivocation.first_note(),
            "second": equivocation.second_note(),
            "equivocation": b64(&equivocation.encode()),
        }),
        VerifyError::Identity {
            what,
            account,
            leaf,
            error,
        } => json!({
            "what": what,
            "account": account,
            "leaf": b64(&leaf.encode_to_vec()),
            "error": error.to_string(),
        }),
        VerifyError::LeafNotProved { leaf, error } => json!({
            "leaf": b64(&leaf.encode_to_vec()),
            "error": error.to_string(),
        }),
        other => json!({ "error": other.to_string() }),
    }
}

/// `herald log alerts` when the gateway holds no verified proof against the log.
pub(super) fn no_alert(origin: &str, json: bool) {
    if json {
        print_json(&json!({ "origin": origin, "equivocated": false }));
    } else {
        println!("no verified split-view alert against {origin}");
    }
}
