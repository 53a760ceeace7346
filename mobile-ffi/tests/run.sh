#!/usr/bin/env bash
# The mobile binding's tests from real foreign runtimes, run by CI after
# `cargo test --workspace` (README's test command):
#   1. installs what it needs, idempotently (Python's `cryptography`, a JDK, Debian's JNA, the
#      Kotlin 2.x compiler inside PyPI's kotlin-jupyter-kernel); a toolchain that cannot be had
#      FAILS the run, it never skips;
#   2. builds the testnet, the cdylib (with the hidden `testing-hooks` exports) and uniffi-bindgen;
#   3. generates the Python, Kotlin and Swift bindings from the library (library mode);
#   4. checks the Swift bindings were produced (no Swift compiler here);
#   5. runs the Python tests (mobile-ffi/tests/python) and the Kotlin example app
#      (mobile-ffi/examples/kotlin), each against a real 2-domain testnet it starts and stops.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=$root/target/ffi-tests
bindings=$out/bindings

say() { echo "== mobile-ffi: $*"; }
fail() { echo "mobile-ffi tests: $*" >&2; exit 1; }
apt_install() {
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

say "toolchains"
command -v python3 >/dev/null || fail "python3 is missing"
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography
python3 -c 'import cryptography' || fail "Python's cryptography package could not be installed"
command -v javac >/dev/null || apt_install default-jdk-headless
command -v java >/dev/null || fail "no JDK could be installed"
jna=/usr/share/java/jna.jar
[ -f "$jna" ] || apt_install libjna-java
[ -f "$jna" ] || fail "JNA ($jna) could not be installed (Debian's libjna-java)"
python3 -m pip show kotlin-jupyter-kernel >/dev/null 2>&1 \
  || python3 -m pip install --quiet kotlin-jupyter-kernel
kernel=$(python3 -m pip show kotlin-jupyter-kernel 2>/dev/null | sed -n 's/^Location: //p')
jars=$kernel/run_kotlin_kernel/jars
# The kernel's fat jar carries the Kotlin compiler (K2JVMCompiler) and kotlinx.coroutines.
kotlin_jar=$(ls "$jars"/kotlin-jupyter-kernel-*-all.jar 2>/dev/null | head -n 1 || true)
kotlin_stdlib=$(ls "$jars"/kotlin-stdlib-*.jar 2>/dev/null | head -n 1 || true)
[ -n "$kotlin_jar" ] && [ -n "$kotlin_stdlib" ] \
  || fail "no Kotlin compiler in kotlin-jupyter-kernel (looked in $jars)"
java -version 2>&1 | head -n 1
echo "kotlin compiler: $kotlin_jar"

say "build"
# One invocation, one feature resolution: the testnet, the cdylib and uniffi-bindgen.
cargo build -p herald-testnet -p herald-mobile-ffi \
  --features herald-mobile-ffi/bindgen,herald-mobile-ffi/testing-hooks
lib=$root/target/debug/libherald_mobile_ffi.so
bindgen=$root/target/debug/uniffi-bindgen

say "generate bindings (library mode)"
rm -rf "$bindings"
for lang in python kotlin swift; do
  "$bindgen" generate --library "$lib" --language "$lang" --out-dir "$bindings/$lang" --no-format
done
# The Python module loads the library from its own directory.
cp "$lib" "$bindings/python/"

say "swift bindings produced"
swift=$bindings/swift
for f in herald_mobile_ffi.swift herald_mobile_ffiFFI.h herald_mobile_ffiFFI.modulemap; do
  [ -s "$swift/$f" ] || fail "the Swift bindings lack $f"
done
for api in 'class HeraldClient' 'class HeraldAccount' 'protocol SecureKeyStore' \
           'protocol HeraldListener' 'enum HeraldError' 'func verifyEvidence(' \
           'func login(' 'func send(' 'func inbox(' 'func read(' 'func deliveryStatus(' \
           'func onNewMail('; do
  grep -q "$api" "$swift/herald_mobile_ffi.swift" || fail "the Swift bindings lack '$api'"
done
echo "swift: $(wc -c < "$swift/herald_mobile_ffi.swift") bytes of Swift, header and modulemap"

export HERALD_TESTNET_BIN=$root/target/debug/herald-testnet
export HERALD_FFI_BINDINGS=$bindings/python
export HERALD_FFI_OUT=$out
export RUST_BACKTRACE=0

say "python (generated bindings, real testnet)"
python3 mobile-ffi/tests/python/test_binding.py

say "kotlin (example app, Kotlin 2.x compiler, JNA, real testnet)"
classes=$out/kotlin-classes
rm -rf "$classes"
java -Xmx2g -cp "$kotlin_jar" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
  -no-stdlib -no-reflect -nowarn \
  -cp "$kotlin_stdlib:$kotlin_jar:$jna" -d "$classes" \
  "$bindings/kotlin/uniffi/herald_mobile_ffi/herald_mobile_ffi.kt" \
  mobile-ffi/examples/kotlin/Main.kt
python3 mobile-ffi/tests/python/run_kotlin_example.py \
  "$classes:$kotlin_stdlib:$kotlin_jar:$jna" "$(dirname "$lib")"

say "all foreign-runtime tests passed"
