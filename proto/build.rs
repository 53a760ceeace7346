//! Compiles Herald's wire schema (`proto/herald/v1/*.proto`) to Rust with protox and prost-build,
//! so no system `protoc` is needed (STACK.md). The generated module is `herald.v1.rs` in `OUT_DIR`,
//! included by `src/wire/mod.rs`.

use std::error::Error;

/// The schema files, relative to the crate; all in package `herald.v1`.
const PROTO_FILES: &[&str] = &[
    "proto/herald/v1/log_entry.proto",
    "proto/herald/v1/log_proof.proto",
    "proto/herald/v1/witness.proto",
    "proto/herald/v1/alert.proto",
    "proto/herald/v1/client.proto",
    "proto/herald/v1/certmail.proto",
    "proto/herald/v1/paep.proto",
    "proto/herald/v1/policy.proto",
    "proto/herald/v1/mail.proto",
    "proto/herald/v1/mail_transfer.proto",
];

/// The include root: imports are written `herald/v1/<file>.proto`.
const PROTO_ROOT: &str = "proto";

fn main() -> Result<(), Box<dyn Error>> {
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    // The folder too, so that a new schema file triggers a rebuild.
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed=build.rs");
    let fds = protox::compile(PROTO_FILES, [PROTO_ROOT])?;
    prost_build::Config::new()
        // A prekey bundle holds a binding answer inline: boxed, so that every `ClientResponse`
        // (and every `Result` carrying one) stays small.
        .boxed(".herald.v1.ClientResponse.response.prekey_bundle")
        // A relay chunk's head (a whole relay envelope) likewise keeps `ClientRequest` small.
        .boxed(".herald.v1.RelayMailChunk.head")
        // Proof hashes as `bytes::Bytes`: decoded from a `Bytes` frame they are slices of it, and
        // a gateway builds all of an answer's hashes in one buffer, instead of one allocation
        // per 32-byte hash on each side (35 to 40 per single-entry ack). The wire is unchanged.
        .bytes([
            ".herald.v1.InclusionProof.hashes",
            ".herald.v1.ConsistencyProof.hashes",
            ".herald.v1.RangeProof.hashes",
        ])
        .compile_fds(fds)?;
    Ok(())
}
