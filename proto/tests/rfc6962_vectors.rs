//! Runs every public RFC 6962 test vector (transparency-dev/merkle, in `../shared/vectors/rfc6962`)
//! through the SHA-256 verifiers. The test fails, never skips, when the folder is missing.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use herald_proto::merkle::{Sha256Hasher, verify_consistency, verify_inclusion};
use serde::Deserialize;

/// Every case in the published set; fewer means the folder is incomplete.
const EXPECTED_CASES: usize = 196;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/rfc6962")
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read vector folder {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn b64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).expect("vector holds valid base64")
}

fn b64_list(v: &Option<Vec<String>>) -> Vec<Vec<u8>> {
    v.iter().flatten().map(|s| b64(s)).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionCase {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyCase {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

fn run(kind: &str) -> usize {
    let mut files = Vec::new();
    json_files(&vectors_dir().join(kind), &mut files);
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read vector");
        let (got_err, want_err, desc) = if kind == "inclusion" {
            let c: InclusionCase = serde_json::from_str(&text).expect("inclusion vector");
            let r = verify_inclusion(
                &Sha256Hasher,
                c.leaf_idx,
                c.tree_size,
                &b64(&c.leaf_hash),
                &b64_list(&c.proof),
                &b64(&c.root),
            );
            (r.err(), c.want_err, c.desc)
        } else {
            let c: ConsistencyCase = serde_json::from_str(&text).expect("consistency vector");
            let r = verify_consistency(
                &Sha256Hasher,
                c.size1,
                c.size2,
                &b64_list(&c.proof),
                &b64(&c.root1),
                &b64(&c.root2),
            );
            (r.err(), c.want_err, c.desc)
        };
        assert_eq!(
            got_err.is_some(),
            want_err,
            "{} ({desc}): verifier said {got_err:?}",
            path.display()
        );
    }
    files.len()
}

#[test]
fn every_rfc6962_vector_passes_the_sha256_verifiers() {
    let n = run("inclusion") + run("consistency");
    assert!(
        n >= EXPECTED_CASES,
        "only {n} vector files under {}, expected {EXPECTED_CASES}",
        vectors_dir().display()
    );
}
