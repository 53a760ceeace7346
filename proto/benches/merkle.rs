//! Merkle benchmarks (DESIGN §6): appending 1M leaves to the right edge, and inclusion and
//! consistency proof generation and verification in a tree of 2^20 leaves, for both hashes.
//!
//! Run: `cargo bench -p herald-proto --bench merkle`. After criterion has measured, the mean
//! of every benchmark that ran in this invocation is written to
//! `<target>/bench-report/proto.json` (ns per operation and operations per second).

mod bench_report;

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use bench_report::{Bench, write_report};

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use herald_proto::merkle::{
    AnyHasher, CompactRange, Hash, HashAlgorithm, HashReader, LogHasher, MemoryHashes, NodeId,
    consistency_proof, inclusion_proof, tree_root, verify_consistency, verify_inclusion,
};

/// Leaves appended per iteration of the append benchmarks.
const APPEND_LEAVES: u64 = 1_000_000;
/// Size of the tree proofs are generated in.
const PROOF_TREE: u64 = 1 << 20;
/// Distinct proofs cycled through by the proof benchmarks.
const PROOF_SAMPLES: usize = 1024;

const HASHERS: [HashAlgorithm; 2] = [HashAlgorithm::Blake3, HashAlgorithm::Sha256];

fn leaves(h: &AnyHasher, n: u64) -> Vec<Hash> {
    (0..n).map(|i| h.hash_leaf(&i.to_le_bytes())).collect()
}

/// Deterministic spread of sample points (no RNG in the measured code).
fn spread(i: usize, modulo: u64) -> u64 {
    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % modulo
}

fn append_benches(c: &mut Criterion, benches: &mut Vec<Bench>) {
    let mut group = c.benchmark_group("append_1M");
    configure_long(&mut group);
    group.throughput(Throughput::Elements(APPEND_LEAVES));
    for alg in HASHERS {
        let h = AnyHasher(alg);
        let leaf_hashes = leaves(&h, APPEND_LEAVES);
        group.bench_function(alg.as_str(), |b| {
            b.iter(|| {
                let mut range = CompactRange::new();
                for leaf in &leaf_hashes {
                    range.append(&h, *leaf, |id, hash| {
                        black_box((id, hash));
                    });
                }
                black_box(range.root(&h))
            })
        });
        benches.push(Bench {
            group: "append_1M",
            function: alg.as_str().to_owned(),
            ops_per_iter: APPEND_LEAVES,
            op: "append",
        });
    }
    // With every completed subtree stored, as the node does (into memory here, not sled).
    let h = AnyHasher(HashAlgorithm::Blake3);
    let leaf_hashes = leaves(&h, APPEND_LEAVES);
    group.bench_function("blake3_stored", |b| {
        b.iter(|| {
            let (store, range) = MemoryHashes::from_leaf_hashes(&h, leaf_hashes.iter().copied());
            black_box((store.len(), range.root(&h)))
        })
    });
    benches.push(Bench {
        group: "append_1M",
        function: "blake3_stored".to_owned(),
        ops_per_iter: APPEND_LEAVES,
        op: "append",
    });
    group.finish();
}

fn proof_benches(c: &mut Criterion, benches: &mut Vec<Bench>) {
    let mut group = c.benchmark_group("proofs_2pow20");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for alg in HASHERS {
        let h = AnyHasher(alg);
        let (store, range) = MemoryHashes::from_leaf_hashes(&h, leaves(&h, PROOF_TREE));
        let root = range.root(&h);
        let indexes: Vec<u64> = (0..PROOF_SAMPLES).map(|i| spread(i, PROOF_TREE)).collect();
        let sizes1: Vec<u64> = (0..PROOF_SAMPLES)
            .map(|i| 1 + spread(i, PROOF_TREE - 1))
            .collect();

        let mut next = 0usize;
        group.bench_function(format!("{alg}_inclusion_generate"), |b| {
            b.iter(|| {
                next = (next + 1) % PROOF_SAMPLES;
                inclusion_proof(&h, &store, indexes[next], PROOF_TREE).expect("index in tree")
            })
        });

        let inclusions: Vec<(u64, Hash, Vec<Hash>)> = indexes
            .iter()
            .map(|&i| {
                let leaf = store.node_hash(NodeId::leaf(i)).expect("stored leaf");
                let proof = inclusion_proof(&h, &store, i, PROOF_TREE).expect("index in tree");
                (i, leaf, proof)
            })
            .collect();
        group.bench_function(format!("{alg}_inclusion_verify"), |b| {
            b.iter(|| {
                next = (next + 1) % PROOF_SAMPLES;
                let (i, leaf, proof) = &inclusions[next];
                verify_inclusion(&h, *i, PROOF_TREE, leaf, proof, &root).expect("valid proof")
            })
        });

        group.bench_function(format!("{alg}_consistency_generate"), |b| {
            b.iter(|| {
                next = (next + 1) % PROOF_SAMPLES;
                consistency_proof(&h, &store, sizes1[next], PROOF_TREE).expect("sizes in order")
            })
        });

        let consistencies: Vec<(u64, Hash, Vec<Hash>)> = sizes1
            .iter()
            .map(|&m| {
                let root1 = tree_root(&h, &store, m).expect("size in tree");
                let proof = consistency_proof(&h, &store, m, PROOF_TREE).expect("sizes in order");
                (m, root1, proof)
            })
            .collect();
        group.bench_function(format!("{alg}_consistency_verify"), |b| {
            b.iter(|| {
                next = (next + 1) % PROOF_SAMPLES;
                let (m, root1, proof) = &consistencies[next];
                verify_consistency(&h, *m, PROOF_TREE, proof, root1, &root).expect("valid proof")
            })
        });

        for (what, op) in [
            ("inclusion_generate", "proof"),
            ("inclusion_verify", "verification"),
            ("consistency_generate", "proof"),
            ("consistency_verify", "verification"),
        ] {
            benches.push(Bench {
                group: "proofs_2pow20",
                function: format!("{alg}_{what}"),
                ops_per_iter: 1,
                op,
            });
        }
    }
    group.finish();
}

/// Iterations of ~0.2–0.5 s: few flat samples, so the whole run stays within minutes.
fn configure_long(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
}

fn main() {
    let started = SystemTime::now();
    let mut c = Criterion::default().configure_from_args();
    let mut benches = Vec::new();
    append_benches(&mut c, &mut benches);
    proof_benches(&mut c, &mut benches);
    c.final_summary();
    let context = serde_json::json!({
        "append_leaves": APPEND_LEAVES,
        "proof_tree_size": PROOF_TREE,
    });
    write_report("merkle", "proto", context, &benches, started);
}
