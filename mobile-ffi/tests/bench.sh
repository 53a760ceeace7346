#!/usr/bin/env bash
# Measures the mobile binding: the stripped release library's size, and one verify_evidence
# through Python against the same call in Rust (target: within 2x). Writes
# target/bench-report/ffi.json. Needs what run.sh installs (Python's cryptography); builds
# the release library twice (as shipped, and with the hidden timing export).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$root/target/ffi-bench
rm -rf "$work" && mkdir -p "$work/python"

# The library as an app ships it: no hidden exports, no bindgen.
cargo build --release -p herald-mobile-ffi
cp target/release/libherald_mobile_ffi.so "$work/lib-unstripped.so"
cp target/release/libherald_mobile_ffi.so "$work/lib-stripped.so"
strip "$work/lib-stripped.so"
stripped=$(stat -c %s "$work/lib-stripped.so")
unstripped=$(stat -c %s "$work/lib-unstripped.so")
staticlib=$(stat -c %s target/release/libherald_mobile_ffi.a)
echo "release cdylib: $unstripped bytes, stripped $stripped bytes; staticlib $staticlib bytes"

# The same library with the Rust-side timing export, and its Python bindings.
cargo build --release -p herald-mobile-ffi --features testing-hooks
cargo build -p herald-mobile-ffi --features bindgen,testing-hooks --bin uniffi-bindgen
cargo build -p herald-testnet
target/debug/uniffi-bindgen generate --library target/release/libherald_mobile_ffi.so \
  --language python --out-dir "$work/python" --no-format
cp target/release/libherald_mobile_ffi.so "$work/python/"

HERALD_FFI_BINDINGS=$work/python HERALD_TESTNET_BIN=$root/target/debug/herald-testnet \
  RUST_BACKTRACE=0 python3 mobile-ffi/tests/python/bench_verify_evidence.py \
  target/bench-report/ffi.json "$stripped" "$unstripped" "$staticlib"
