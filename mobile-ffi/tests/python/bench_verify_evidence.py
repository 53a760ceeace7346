"""The cost of the binding: one `verify_evidence` through Python against the same call in Rust,
in one run, on one real evidence bundle; and the stripped library's size. Writes
target/bench-report/ffi.json (run by mobile-ffi/tests/bench.sh, which builds the release
library and passes its sizes).

Also records the wall time of each certified-mail step through the binding (the "send" the issue
asks to time; PAEP login does not exist yet). The bundle is made the way an app makes it: two accounts on a real 2-domain testnet run
certified mail through the binding. The Rust figure is `testing_time_verify_evidence` (a hidden
export of the `testing-hooks` build) running exactly what `verify_evidence` runs, in Rust; the
Python figure adds what the binding adds: lowering the bundle and the trusted logs, lifting
the verdict record.

Usage: bench_verify_evidence.py REPORT STRIPPED_BYTES UNSTRIPPED_BYTES STATICLIB_BYTES
"""

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time

from herald_testnet import Testnet, certified_mail, enrolled, herald

ITERATIONS = 300
ROUNDS = 5
MESSAGE = b"Dear Bob, the signed contract is attached. Payment is due on 1 March. -- Alice"


async def bundle_from_testnet():
    with Testnet(domains=2) as net, tempfile.TemporaryDirectory() as state:
        alice = await enrolled(net, 0, "alice", os.path.join(state, "alice"))
        bob = await enrolled(net, 1, "bob", os.path.join(state, "bob"))
        steps = await certified_mail(alice[:2], bob[:2], MESSAGE)
        trusted = [net.log_config(1, with_gateway=False)]
        return steps["outcome"].evidence, trusted, steps["timings_ms"]


def python_ns_per_call(bundle, trusted, options):
    start = time.perf_counter_ns()
    for _ in range(ITERATIONS):
        verdict = herald.verify_evidence(bundle, trusted, options)
    elapsed = time.perf_counter_ns() - start
    assert verdict.outcome == herald.VerdictOutcome.RECEIVED, verdict
    return elapsed // ITERATIONS


def main(report, stripped, unstripped, staticlib):
    bundle, trusted, timings = asyncio.run(bundle_from_testnet())
    options = herald.ArbiterOptions()
    # Warm both paths, then alternate rounds so both see the same machine load.
    python_ns_per_call(bundle, trusted, options)
    herald.testing_time_verify_evidence(bundle, trusted, options, ITERATIONS)
    python, rust = [], []
    for _ in range(ROUNDS):
        python.append(python_ns_per_call(bundle, trusted, options))
        rust.append(herald.testing_time_verify_evidence(bundle, trusted, options, ITERATIONS))
    py, rs = statistics.median(python), statistics.median(rust)
    figures = {
        "library": {
            "profile": "release",
            "cdylib_stripped_bytes": int(stripped),
            "cdylib_unstripped_bytes": int(unstripped),
            "staticlib_bytes": int(staticlib),
        },
        "verify_evidence": {
            "bundle_bytes": len(bundle),
            "iterations_per_round": ITERATIONS,
            "rounds": ROUNDS,
            "python_ns_per_call_median": py,
            "rust_ns_per_call_median": rs,
            "python_over_rust": round(py / rs, 3),
            "target_python_over_rust": 2.0,
            "python_rounds_ns": python,
            "rust_rounds_ns": rust,
        },
        # One certified mail through the binding on a 2-domain testnet (100 ms sequencing):
        # each step's wall time, publish = submit + wait for a quorum of cosignatures.
        "certified_mail_ms": timings,
    }
    os.makedirs(os.path.dirname(os.path.abspath(report)), exist_ok=True)
    with open(report, "w") as f:
        json.dump(figures, f, indent=2)
        f.write("\n")
    print(json.dumps(figures, indent=2))
    return 0 if py / rs <= 2.0 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
