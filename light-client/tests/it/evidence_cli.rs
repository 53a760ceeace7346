//! `herald verify-evidence` and `herald verify-absence`, run as the real binary on files, with
//! no network: a valid bundle gives "recipient received it" and exit 0 with the recipient's
//! domain log from `--trust`, and only "unverified" (exit 4) without it; a flipped byte gives
//! another verdict or a parse error (exit 3 unless the proof still holds); `--json` parses; the
//! arbiter's own trusted key for the recipient's domain overrides the bundle's; absence proofs
//! true and false.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::certmail_support::*;
use herald_light_client::certmail::Letter;
use herald_proto::evidence::build_absence_proof;
use herald_proto::wire::pb;
use prost::Message as _;
use serde_json::Value;

fn herald(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .env_remove("HERALD_HOME")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn real_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An honest run that ended `now − 60`: returns the world and the bundle bytes.
fn honest_bundle(optimistic: bool) -> (World, Vec<u8>) {
    let now = real_now() - 600;
    let mut rng = TestRng::new(7);
    let mut world = World::new(now, &bob_key());
    let (mut alice, mut bob) = (memory_mail(ALICE, alice_key()), memory_mail(BOB, bob_key()));
    let letter = Letter {
        recipient: BOB.into(),
        plaintext: b"the deed to the house".to_vec(),
        sign: true,
    };
    let (_, steps) = alice.send(letter, &mut rng).unwrap();
    let made = bob
        .request(
            &sealed_bytes(&steps),
            world.terms(now + 3600),
            now,
            &mut rng,
        )
        .unwrap();
    let config = world.sender_config(optimistic);
    let steps = alice
        .accept(&made.request, &world.binding(), &config, now + 1, &mut rng)
        .unwrap();
    let bundle = if optimistic {
        let opened = bob
            .take_direct_key(&direct_key_bytes(&steps), now + 2)
            .unwrap();
        evidence_bytes(
            &alice
                .take_receipt(&opened.receipt.unwrap(), now + 3)
                .unwrap(),
        )
    } else {
        let (req_hash, leaf) = publish_step(&steps);
        let included = world.publish(&leaf, now + 20);
        evidence_bytes(&alice.take_inclusion(&req_hash, included, now + 21).unwrap())
    };
    (world, bundle)
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn a_valid_bundle_shows_receipt_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (world, bundle) = honest_bundle(false);
    let path = dir.path().join("bundle");
    std::fs::write(&path, &bundle).unwrap();
    let p = path.to_str().unwrap();

    let beta = world.beta.log_file(dir.path(), "beta.toml");
    let beta = beta.to_str().unwrap();
    let o = herald(&["verify-evidence", p, "--trust", beta]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("recipient received it"), "{text}");
    assert!(text.contains("publication-cosigned-in-time"), "{text}");

    let o = herald(&["verify-evidence", p, "--trust", beta, "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    assert_eq!(v["outcome"], "received");
    assert_eq!(v["decided_by"]["id"], "publication-cosigned-in-time");
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 10);
    assert!(checks.iter().all(|c| c["status"] == "passed"));
    assert_eq!(v["request"]["recipient"], BOB);
    // Bytes are base64.
    let req_hash = v["request"]["req_hash"].as_str().unwrap();
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(req_hash)
            .unwrap()
            .len(),
        32
    );

    // The arbiter's own copy of beta's log confirmed the bundle's: fully trusted.
    assert_eq!(v["fully_trusted"], true);
    assert!(
        v["trust"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["source"] == "confirmed")
    );
}

/// An arbiter who forgot `--trust` judged by the recipient domain's key as
/// the bundle states it, and said "received" with exit 0. Every check still passes, but the
/// verdict is "unverified" with exit 4, and says what to do.
#[test]
fn attack_without_trust_the_bundles_own_keys_make_it_unverified_not_received() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bundle) = honest_bundle(false);
    let path = dir.path().join("bundle");
    std::fs::write(&path, &bundle).unwrap();
    let p = path.to_str().unwrap();
    let o = herald(&["verify-evidence", p]);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("unverified"), "{text}");
    assert!(!text.contains("recipient received it"), "{text}");
    assert!(text.contains("ASSUMED"), "{text}");
    assert!(text.contains("--trust"), "{text}");
    let o = herald(&["verify-evidence", p, "--json"]);
    assert_eq!(o.status.code(), Some(4));
    let v = json(&o);
    assert_eq!(v["outcome"], "unverified");
    assert_eq!(v["fully_trusted"], false);
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "passed")
    );
    // The help documents the status.
    let help = stdout(&herald(&["verify-evidence", "--help"]));
    assert!(help.contains("4  UNVERIFIED"), "{help}");
}

#[test]
fn a_receipt_bundle_shows_receipt_too() {
    let dir = tempfile::tempdir().unwrap();
    let (world, bundle) = honest_bundle(true);
    let path = dir.path().join("bundle");
    std::fs::write(&path, &bundle).unwrap();
    let beta = world.beta.log_file(dir.path(), "beta.toml");
    let o = herald(&[
        "verify-evidence",
        path.to_str().unwrap(),
        "--trust",
        beta.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(json(&o)["decided_by"]["id"], "receipt-key-bound");
}

/// As proto's tamper test: "a different verdict" compares the whole verdict. A flip in a
/// redundant cosignature line (three cosigned Bob's binding, two make the quorum) leaves the
/// evidence valid, but the verdict then reports one cosignature fewer.
#[test]
fn a_flipped_byte_changes_the_verdict_or_fails_to_parse() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bundle) = honest_bundle(false);
    let path = dir.path().join("tampered");
    std::fs::write(&path, &bundle).unwrap();
    let honest = json(&herald(&[
        "verify-evidence",
        path.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(honest["outcome"], "unverified");
    let (mut verdicts, mut not_shown) = (0, 0);
    // Spread over the file: M, K, C, the request, the binding, the leaf, the checkpoints.
    let step = (bundle.len() / 24).max(1);
    for at in (0..bundle.len()).step_by(step).chain([bundle.len() - 1]) {
        let mut t = bundle.clone();
        t[at] ^= 0x01;
        std::fs::write(&path, &t).unwrap();
        let o = herald(&["verify-evidence", path.to_str().unwrap(), "--json"]);
        let v = json(&o);
        assert_ne!(v, honest, "byte {at} flipped and the verdict is the same");
        match o.status.code() {
            // Without --trust the best there is: every check passed under the bundle's keys.
            Some(4) => assert_eq!(v["outcome"], "unverified", "byte {at}"),
            Some(3) => {
                assert_eq!(v["outcome"], "not-shown", "byte {at}");
                not_shown += 1;
            }
            other => panic!("byte {at}: exit {other:?}: {}", stdout(&o)),
        }
        if v["decided_by"].is_object() {
            verdicts += 1;
        }
    }
    // Most flips parse and are caught by a check, and most of those break the proof.
    assert!(verdicts > 10, "{verdicts}");
    assert!(not_shown > 20, "{not_shown}");
}

#[test]
fn the_arbiters_own_domain_key_overrides_a_forged_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bundle) = honest_bundle(false);
    let path = dir.path().join("bundle");
    std::fs::write(&path, &bundle).unwrap();
    // The arbiter knows beta.test/herald under another key: the bundle's binding is not
    // signed by the domain the arbiter trusts.
    let other_beta = MemoryLog::new("beta.test", 99).log_file(dir.path(), "beta.toml");
    let o = herald(&[
        "verify-evidence",
        path.to_str().unwrap(),
        "--trust",
        other_beta.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("not shown"), "{text}");
    assert!(text.contains("recipient-binding"), "{text}");
}

#[test]
fn unreadable_inputs_are_failures_or_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"\xff\xff\xff not protobuf").unwrap();
    let o = herald(&["verify-evidence", garbage.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains("not shown"));
    let missing = dir.path().join("missing");
    let o = herald(&["verify-evidence", missing.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(json(&o)["error"].is_string());
    let bad_trust = dir.path().join("trust.toml");
    std::fs::write(&bad_trust, "log_key = 1\n").unwrap();
    let o = herald(&[
        "verify-evidence",
        garbage.to_str().unwrap(),
        "--trust",
        bad_trust.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
}

/// Bob's request made at `created` for T = created + 600 at alpha, with alpha cosigned before
/// it; alice's publication leaf for it (not yet in the log).
struct Window {
    world: World,
    request: pb::SignedKeyRequest,
    publication: Vec<u8>,
    before: Vec<u8>,
    size1: u64,
    limit: u64,
}

fn window() -> Window {
    let created = real_now() - 3000;
    let mut rng = TestRng::new(9);
    let world = World::new(created, &bob_key());
    let (mut alice, mut bob) = (memory_mail(ALICE, alice_key()), memory_mail(BOB, bob_key()));
    let letter = Letter {
        recipient: BOB.into(),
        plaintext: b"never published".to_vec(),
        sign: true,
    };
    let (_, steps) = alice.send(letter, &mut rng).unwrap();
    let made = bob
        .request(
            &sealed_bytes(&steps),
            world.terms(created + 600),
            created,
            &mut rng,
        )
        .unwrap();
    let steps = alice
        .accept(
            &made.request,
            &world.binding(),
            &world.sender_config(false),
            created + 1,
            &mut rng,
        )
        .unwrap();
    let (_, publication) = publish_step(&steps);
    let before = world
        .alpha
        .cosigned(&[(1, created - 2 * SKEW - 10), (2, created - 2 * SKEW - 10)]);
    let size1 = world.alpha.size();
    Window {
        world,
        request: pb::SignedKeyRequest::decode(made.request.as_slice()).unwrap(),
        publication,
        before,
        size1,
        limit: created + 600 + SKEW,
    }
}

impl Window {
    fn after(&mut self, leaves: &[Vec<u8>], at: u64) -> Vec<u8> {
        for leaf in leaves {
            self.world.alpha.append(leaf);
        }
        self.world.alpha.cosigned(&[(1, at), (3, at)])
    }

    fn raw(&self, after: &[u8]) -> pb::AbsenceProof {
        pb::AbsenceProof {
            version: 1,
            request: Some(self.request.clone()),
            checkpoint_before: self.before.clone(),
            checkpoint_after: after.to_vec(),
            right_edge: self
                .world
                .alpha
                .edge(self.size1)
                .hashes()
                .iter()
                .map(|h| h.to_vec())
                .collect(),
            leaves: self.world.alpha.leaves[self.size1 as usize..].to_vec(),
        }
    }
}

fn verify_absence(dir: &Path, proof: &pb::AbsenceProof) -> Output {
    let path = dir.join("proof");
    std::fs::write(&path, proof.encode_to_vec()).unwrap();
    herald(&["verify-absence", path.to_str().unwrap(), "--json"])
}

#[test]
fn verify_absence_shows_non_publication_and_refuses_false_proofs() {
    let dir = tempfile::tempdir().unwrap();

    // True: three other leaves, cosigned by n − q + 1 = 2 witnesses after T + δ.
    let mut w = window();
    let limit = w.limit;
    let after = w.after(&[filler(60), filler(61), filler(62)], limit + 10);
    let edge = w.world.alpha.edge(w.size1);
    let proof = build_absence_proof(
        &w.request,
        &w.before,
        &after,
        &edge,
        w.world.alpha.leaves[w.size1 as usize..].to_vec(),
    )
    .unwrap();
    let o = verify_absence(dir.path(), &proof);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v = json(&o);
    assert_eq!(v["absent"], true);
    assert_eq!(
        (v["from_size"].as_u64(), v["to_size"].as_u64()),
        (Some(5), Some(8))
    );
    let text_path = dir.path().join("proof");
    let o = herald(&["verify-absence", text_path.to_str().unwrap()]);
    assert!(stdout(&o).contains("not published"), "{}", stdout(&o));

    // False: the window holds Alice's publication.
    let mut w = window();
    let publication = w.publication.clone();
    let after = w.after(&[filler(60), publication], limit + 10);
    let o = verify_absence(dir.path(), &w.raw(&after));
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let v = json(&o);
    assert_eq!(v["absent"], false);
    assert!(v["error"].as_str().unwrap().contains("names the request"));

    // False: checkpoint 2 cosigned before T + δ, so a publication could still come after it.
    let mut w = window();
    let after = w.after(&[filler(60)], limit - 5);
    let o = verify_absence(dir.path(), &w.raw(&after));
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));

    // Not an absence proof at all.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"\x08\x02").unwrap();
    let o = herald(&["verify-absence", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
}

/// A split-view alert checked offline, as an auditor would: a true proof (raw or in base64) is
/// PROVEN with exit 0 and names the log and both checkpoints; against another `--log-key`, made
/// false, or not a proof at all, it is NOT shown with exit 3.
#[test]
fn verify_equivocation_proves_a_true_alert_and_refuses_the_rest() {
    use herald_proto::checkpoint::{Checkpoint, VerifiedCheckpoint};
    use herald_proto::equivocation::Equivocation;
    use herald_proto::merkle::HashAlgorithm;
    use herald_proto::note::NoteSigner;

    let dir = tempfile::tempdir().unwrap();
    let signer = NoteSigner::new(
        "liar.test/herald",
        ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
    )
    .unwrap();
    let verifier = signer.verifier();
    let checkpoint = |root: [u8; 32]| {
        let note = Checkpoint {
            origin: "liar.test/herald".into(),
            size: 7,
            root,
        }
        .sign(&signer)
        .unwrap()
        .to_string();
        VerifiedCheckpoint::verify(note.as_bytes(), &verifier).unwrap()
    };
    let proof = Equivocation::from_same_size(
        HashAlgorithm::Blake3,
        &checkpoint([1; 32]),
        &checkpoint([2; 32]),
    )
    .unwrap();
    let raw = dir.path().join("proof.bin");
    std::fs::write(&raw, proof.encode()).unwrap();
    let text = dir.path().join("proof.b64");
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, proof.encode());
    std::fs::write(&text, format!("{b64}\n")).unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();

    for file in [&raw, &text] {
        let o = herald(&["verify-equivocation", &path(file)]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        assert!(stdout(&o).contains("PROVEN"), "{}", stdout(&o));
    }
    let o = herald(&[
        "verify-equivocation",
        &path(&raw),
        "--log-key",
        &verifier.to_string(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v = json(&o);
    assert_eq!(v["proven"], true);
    assert_eq!(v["origin"], "liar.test/herald");
    assert_eq!(v["checkpoints"][0]["size"], 7);

    // Against another key than the one the auditor follows the log by: not shown.
    let other = NoteSigner::new(
        "liar.test/herald",
        ed25519_dalek::SigningKey::from_bytes(&[6; 32]),
    )
    .unwrap();
    let o = herald(&[
        "verify-equivocation",
        &path(&raw),
        "--log-key",
        &other.verifier().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    // Made false (both checkpoints the same), or garbage: not shown.
    let mut wire = proof.to_wire();
    wire.checkpoint_b = wire.checkpoint_a.clone();
    let false_proof = dir.path().join("false.bin");
    std::fs::write(&false_proof, wire.encode_to_vec()).unwrap();
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"\xff\x00 not a proof").unwrap();
    for file in [&false_proof, &garbage] {
        let o = herald(&["verify-equivocation", &path(file), "--json"]);
        assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
        assert_eq!(json(&o)["proven"], false);
    }
    // A missing file, a file over the bound, or a --log-key that is no key: failures, not
    // verdicts.
    let o = herald(&["verify-equivocation", &path(&dir.path().join("nope"))]);
    assert_eq!(o.status.code(), Some(1));
    let huge = dir.path().join("huge.b64");
    std::fs::write(&huge, vec![b'A'; 200 * 1024]).unwrap();
    let o = herald(&["verify-equivocation", &path(&huge)]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = herald(&["verify-equivocation", &path(&raw), "--log-key", "not a key"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // The arbiter's --equivocation reads the same files (base64 too) and refuses garbage.
    for (file, code) in [(&garbage, 1), (&huge, 1)] {
        let o = herald(&[
            "verify-evidence",
            &path(&dir.path().join("nope.bundle")),
            "--equivocation",
            &path(file),
        ]);
        assert_eq!(o.status.code(), Some(code), "{}", stdout(&o));
    }
}

/// The arbiter takes an alert as printed in base64 (as `herald log alerts --json` gives it):
/// the recipient's domain log shown to equivocate, the bundle proves nothing.
#[test]
fn verify_evidence_takes_a_base64_equivocation_proof() {
    use herald_proto::checkpoint::VerifiedCheckpoint;
    use herald_proto::equivocation::Equivocation;
    use herald_proto::merkle::HashAlgorithm;

    let (world, bundle) = honest_bundle(false);
    let dir = tempfile::tempdir().unwrap();
    let bundle_path = dir.path().join("evidence.bundle");
    std::fs::write(&bundle_path, &bundle).unwrap();
    let decoded = pb::EvidenceBundle::decode(bundle.as_slice()).unwrap();
    let checkpoint = decoded
        .recipient_binding
        .as_ref()
        .unwrap()
        .checkpoint
        .clone();
    let note = String::from_utf8(checkpoint).unwrap();
    // Any second checkpoint of the same size with another root, signed by the same log key,
    // is what a lying domain log would have shown someone else.
    let key = &world.beta.signer;
    let first = VerifiedCheckpoint::verify(note.as_bytes(), &key.verifier()).unwrap();
    let other = herald_proto::checkpoint::Checkpoint {
        origin: first.origin().to_owned(),
        size: first.size(),
        root: [0xee; 32],
    }
    .sign(key)
    .unwrap()
    .to_string();
    let second = VerifiedCheckpoint::verify(other.as_bytes(), &key.verifier()).unwrap();
    let proof = Equivocation::from_same_size(HashAlgorithm::Blake3, &first, &second).unwrap();
    let proof_path = dir.path().join("alert.b64");
    std::fs::write(
        &proof_path,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, proof.encode()),
    )
    .unwrap();
    let o = herald(&[
        "verify-evidence",
        bundle_path.to_str().unwrap(),
        "--equivocation",
        proof_path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    let verdict = json(&o);
    assert_eq!(verdict["outcome"], "not-shown");
    assert_eq!(
        verdict["decided_by"]["id"], "recipient-log-consistent",
        "{verdict}"
    );
}
