//! Known-answer files in `proto/testdata/`, for Herald's own formats: a checkpoint, a cosigned
//! checkpoint, one equivocation proof of each form (and form (ii) at a power-of-two size), an
//! evidence bundle with its verdict, and an absence proof. Other implementations and the mobile
//! binding's tests read the same files.
//!
//! Encodings are language-neutral: checkpoints are their C2SP note text; proofs, bundles and
//! absence proofs are their prost (protobuf) bytes; `expected.json` states the facts each file
//! must show (sizes, roots in standard base64, keys in C2SP spelling, the verdict and its
//! deciding check as the Rust variant names).
//!
//! Everything is generated deterministically from fixed keys, seeds and times by
//! [`artifacts`]. Two tests guard the files: one reads them and checks every stated fact with
//! the verifiers, the other makes them again and compares bytes, so a change of any format or
//! encoder fails here. After an intended change, rewrite them (and review the diff):
//!
//! ```sh
//! cargo test -p herald-proto --test known_answers -- --ignored regenerate_known_answers
//! ```

mod certmail_support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use certmail_support::*;
use herald_proto::certmail::sender::SenderState;
use herald_proto::checkpoint::{VerifiedCheckpoint, WitnessPolicy, WitnessVerifier};
use herald_proto::equivocation::{Equivocation, Evidence};
use herald_proto::evidence::{
    ArbiterContext, arbitrate_bytes, build_absence_proof, decode_absence_proof, verify_absence,
};
use herald_proto::merkle::{LogHasher as _, inclusion_proof};
use herald_proto::note::NoteVerifier;
use herald_proto::succession::{succession, succession_with_prefix};
use prost::Message as _;
use serde_json::{Value, json};

/// When the bundle is judged and the absence proof checked.
const JUDGED_AT: u64 = NOW + 3600;
/// Cosignature timestamps of the cosigned checkpoint.
const COSIGNED_AT: [u64; 2] = [NOW - 30, NOW - 20];

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// `kat.test`'s log (key seed 31) of `n` entries, entry `fork_at` rewritten when given.
fn log(n: u64, fork_at: Option<u64>) -> MemoryLog {
    let mut log = MemoryLog::new("kat.test", 31);
    for i in 0..n {
        if Some(i) == fork_at {
            log.append(b"rewritten");
        } else {
            log.append(format!("entry {i}").as_bytes());
        }
    }
    log
}

fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

fn checkpoint_facts(c: &VerifiedCheckpoint) -> Value {
    json!({ "origin": c.origin(), "size": c.size(), "root": b64(c.root()) })
}

fn equivocation_facts(file: &str, form: &str, e: &Equivocation) -> Value {
    let v = e.verify().expect("a generated equivocation verifies");
    json!({
        "file": file,
        "form": form,
        "log_key": e.log().to_string(),
        "hash": e.algorithm().as_str(),
        "first": checkpoint_facts(v.first()),
        "second": checkpoint_facts(v.second()),
    })
}

/// Every known-answer file, by name, and `expected.json`.
fn artifacts() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let five = log(5, None);
    let checkpoint = five.checkpoint();
    files.insert("checkpoint.note".into(), checkpoint.note().into_bytes());
    let cosigned = five.cosigned(&[(1, COSIGNED_AT[0]), (2, COSIGNED_AT[1])]);
    files.insert("cosigned_checkpoint.note".into(), cosigned);
    let witnesses: Vec<String> = (1..=3).map(|i| witness(i).verifier().to_string()).collect();

    // Form (i): one size, two roots.
    let same = Equivocation::from_same_size(
        five.h.0,
        &log(6, None).checkpoint(),
        &log(6, Some(5)).checkpoint(),
    )
    .unwrap();
    // Form (ii): the fork's own consistency proof commits it to another root at 5.
    let (older, fork) = (log(5, None).checkpoint(), log(9, Some(1)));
    let consistency = succession(
        &five.unwitnessed(),
        Some(&older),
        &fork.checkpoint(),
        &fork.consistency(5, 9),
    )
    .unwrap_err()
    .equivocation()
    .cloned()
    .unwrap();
    // Form (ii) at a power of two: the root at 8 read off the audit path of leaf 8.
    let (older, fork) = (log(8, None).checkpoint(), log(21, Some(3)));
    let trust = fork.unwitnessed();
    let newer = fork.checkpoint();
    let proof = fork.consistency(8, 21);
    let leaf = fork.h.hash_leaf(&fork.leaves[8]);
    let prefix = trust
        .verify_inclusion(&newer, &leaf, &fork.inclusion(8, 21))
        .unwrap();
    let power_of_two = succession_with_prefix(&trust, Some(&older), &newer, &proof, &prefix)
        .unwrap_err()
        .equivocation()
        .cloned()
        .unwrap();
    // Form (iii): one index, two leaves.
    let (a, b) = (log(6, None), log(6, Some(3)));
    let path = |l: &MemoryLog| inclusion_proof(&l.h, &l.store, 3, 6).unwrap();
    let inclusion = Equivocation::from_inclusion(
        five.h.0,
        &a.checkpoint(),
        &b.checkpoint(),
        3,
        &a.h.hash_leaf(&a.leaves[3]),
        &path(&a),
        &b.h.hash_leaf(&b.leaves[3]),
        &path(&b),
    )
    .unwrap();
    let forms = [
        ("equivocation_same_size.bin", "same_size", &same),
        ("equivocation_consistency.bin", "consistency", &consistency),
        (
            "equivocation_consistency_power_of_two.bin",
            "consistency",
            &power_of_two,
        ),
        ("equivocation_inclusion.bin", "inclusion", &inclusion),
    ];
    let mut equivocations = Vec::new();
    for (file, form, e) in forms {
        files.insert(file.into(), e.encode());
        equivocations.push(equivocation_facts(file, form, e));
    }

    // An honest evidence bundle: Bob's key published at X, cosigned in time.
    let mut rng = TestRng::new(1);
    let mut world = World::new();
    let published = forge::publication(
        &mut world,
        &mut rng,
        b"known answer",
        |_| {},
        &[(1, NOW + 20), (2, NOW + 20)],
    );
    let bundle = published.bundle.to_file_bytes();
    let verdict = arbitrate_bytes(&bundle, &context()).unwrap();
    files.insert("evidence_bundle.bin".into(), bundle);

    // An absence proof: a window of seven fillers after Bob's request, no publication in it.
    let (absence, from_size, to_size) = absence();
    files.insert("absence_proof.bin".into(), absence.encode_to_vec());

    let expected = json!({
        "checkpoint": {
            "file": "checkpoint.note",
            "log_key": five.signer.verifier().to_string(),
            "hash": "blake3",
            "checkpoint": checkpoint_facts(&checkpoint),
        },
        "cosigned_checkpoint": {
            "file": "cosigned_checkpoint.note",
            "log_key": five.signer.verifier().to_string(),
            "witness_keys": witnesses,
            "quorum": 2,
            "checked_at": NOW,
            "max_skew": SKEW,
            "cosignature_timestamps": COSIGNED_AT,
            "checkpoint": checkpoint_facts(&checkpoint),
        },
        "equivocations": equivocations,
        "evidence_bundle": {
            "file": "evidence_bundle.bin",
            "judged_at": JUDGED_AT,
            "max_skew": SKEW,
            "outcome": format!("{:?}", verdict.outcome),
            "decided_by": format!("{:?}", verdict.decided_by),
        },
        "absence_proof": {
            "file": "absence_proof.bin",
            "checked_at": JUDGED_AT,
            "from_size": from_size,
            "to_size": to_size,
        },
    });
    let mut text = serde_json::to_string_pretty(&expected).unwrap();
    text.push('\n');
    files.insert("expected.json".into(), text.into_bytes());
    files
}

fn context() -> ArbiterContext {
    ArbiterContext {
        now: JUDGED_AT,
        max_skew: SKEW,
        ..Default::default()
    }
}

/// Bob's request at NOW; X cosigned before `created − 2δ` and again after `T + δ`, seven
/// fillers between.
fn absence() -> (herald_proto::wire::pb::AbsenceProof, u64, u64) {
    let mut rng = TestRng::new(2);
    let mut world = World::new();
    let (sealed, message) = world.seal(b"M", false, &mut rng);
    let (_, request) = world.request(&message, None, &mut rng);
    SenderState::Sealed(sealed)
        .handle(world.arrived(&request), &world.alice, NOW + 1, &mut rng)
        .unwrap();
    let before = world
        .alpha
        .cosigned(&[(1, NOW - 2 * SKEW), (2, NOW - 2 * SKEW)]);
    let from = world.alpha.size();
    for i in 0..7 {
        world.alpha.append(&filler(i));
    }
    let after_time = DEADLINE + SKEW + 1;
    let after = world.alpha.cosigned(&[(1, after_time), (3, after_time)]);
    let leaves = world.alpha.leaves[from as usize..].to_vec();
    let proof =
        build_absence_proof(&request, &before, &after, &world.alpha.edge(from), leaves).unwrap();
    let to = world.alpha.size();
    (proof, from, to)
}

fn read(name: &str) -> Vec<u8> {
    let path = testdata().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn assert_checkpoint(c: &VerifiedCheckpoint, facts: &Value) {
    assert_eq!(c.origin(), str_of(facts, "origin"));
    assert_eq!(c.size(), u64_of(facts, "size"));
    assert_eq!(b64(c.root()), str_of(facts, "root"));
}

/// Reads every file and checks every fact `expected.json` states, with the verifiers only.
#[test]
fn known_answer_files_show_what_expected_json_says() {
    let expected: Value = serde_json::from_slice(&read("expected.json")).unwrap();

    let facts = &expected["checkpoint"];
    let key = NoteVerifier::parse(str_of(facts, "log_key")).unwrap();
    let checkpoint = VerifiedCheckpoint::verify(&read(str_of(facts, "file")), &key).unwrap();
    assert_checkpoint(&checkpoint, &facts["checkpoint"]);

    let facts = &expected["cosigned_checkpoint"];
    let key = NoteVerifier::parse(str_of(facts, "log_key")).unwrap();
    let witnesses = facts["witness_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| WitnessVerifier::parse(w.as_str().unwrap()).unwrap())
        .collect();
    let policy = WitnessPolicy::new(key, witnesses, u64_of(facts, "quorum") as usize).unwrap();
    let cosigned = policy
        .verify(
            &read(str_of(facts, "file")),
            u64_of(facts, "checked_at"),
            u64_of(facts, "max_skew"),
        )
        .unwrap();
    assert_checkpoint(cosigned.checkpoint(), &facts["checkpoint"]);
    let times: Vec<u64> = cosigned
        .cosignatures()
        .iter()
        .map(|c| c.timestamp())
        .collect();
    let stated: Vec<u64> = facts["cosignature_timestamps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    assert_eq!(times, stated);

    let forms = expected["equivocations"].as_array().unwrap();
    assert_eq!(forms.len(), 4);
    for facts in forms {
        let e = Equivocation::decode(&read(str_of(facts, "file"))).unwrap();
        let v = e.verify().unwrap();
        assert_eq!(e.log().to_string(), str_of(facts, "log_key"));
        assert_eq!(e.algorithm().as_str(), str_of(facts, "hash"));
        assert_checkpoint(v.first(), &facts["first"]);
        assert_checkpoint(v.second(), &facts["second"]);
        let form = match e.evidence() {
            Evidence::SameSize => "same_size",
            Evidence::Consistency { .. } => "consistency",
            Evidence::Inclusion { .. } => "inclusion",
        };
        assert_eq!(form, str_of(facts, "form"));
    }

    let facts = &expected["evidence_bundle"];
    let verdict = arbitrate_bytes(
        &read(str_of(facts, "file")),
        &ArbiterContext {
            now: u64_of(facts, "judged_at"),
            max_skew: u64_of(facts, "max_skew"),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(format!("{:?}", verdict.outcome), str_of(facts, "outcome"));
    assert_eq!(
        format!("{:?}", verdict.decided_by),
        str_of(facts, "decided_by")
    );

    let facts = &expected["absence_proof"];
    let proof = decode_absence_proof(&read(str_of(facts, "file"))).unwrap();
    let shown = verify_absence(&proof, u64_of(facts, "checked_at")).unwrap();
    assert_eq!(
        (shown.from_size, shown.to_size),
        (u64_of(facts, "from_size"), u64_of(facts, "to_size"))
    );
}

/// A bundle written before the privacy fix, whose key publication names its author in clear
/// (`evidence_bundle_named.bin`, frozen: the generator no longer makes it). Logs are
/// append-only and bundles are kept for years, so the arbiter still judges it, with the same
/// verdict as the sealed bundle the generator makes now.
#[test]
fn a_bundle_with_a_named_publication_from_before_the_privacy_fix_still_verifies() {
    let expected: Value = serde_json::from_slice(&read("expected.json")).unwrap();
    let facts = &expected["evidence_bundle"];
    let bundle = read("evidence_bundle_named.bin");
    let decoded = herald_proto::evidence::decode_bundle(&bundle).unwrap();
    let Some(herald_proto::wire::pb::evidence_bundle::Delivery::Publication(p)) = &decoded.delivery
    else {
        panic!("the frozen bundle shows a publication")
    };
    let leaf: herald_proto::wire::pb::LogEntry =
        herald_proto::wire::decode_valid(&p.leaf.as_ref().unwrap().entry).unwrap();
    let Some(herald_proto::wire::pb::log_entry::Kind::KeyPublication(k)) = leaf.kind else {
        panic!("not a publication")
    };
    assert!(
        !k.author.is_empty() && k.author_commitment.is_empty(),
        "named"
    );
    let verdict = arbitrate_bytes(
        &bundle,
        &ArbiterContext {
            now: u64_of(facts, "judged_at"),
            max_skew: u64_of(facts, "max_skew"),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(format!("{:?}", verdict.outcome), str_of(facts, "outcome"));
    assert_eq!(
        format!("{:?}", verdict.decided_by),
        str_of(facts, "decided_by")
    );
}

/// The generator makes exactly the stored bytes: a change of any encoding shows up here.
#[test]
fn known_answer_files_are_what_the_generator_makes() {
    for (name, bytes) in artifacts() {
        assert!(
            read(&name) == bytes,
            "{name} differs from what the generator makes; if the format change is intended, \
             run the ignored test regenerate_known_answers and review the diff"
        );
    }
}

/// Rewrites `proto/testdata/` (see the module docs).
#[test]
#[ignore = "rewrites proto/testdata; run by hand after an intended format change"]
fn regenerate_known_answers() {
    let dir = testdata();
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in artifacts() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
