"""Runs the Kotlin example app (mobile-ffi/examples/kotlin) against a real 2-domain testnet.

Starts the testnet (always stopped again), enrols alice@d0.test and bob@d1.test as their
operators would, and runs the compiled app with the testnet's keys, addresses and codes on a
JVM with JNA; the app's exit status is this script's. Usage:

    run_kotlin_example.py CLASSPATH LIBRARY_DIR
"""

import os
import subprocess
import sys
import tempfile

from herald_testnet import Testnet

APP_TIMEOUT_SECS = 240


def main(classpath, library_dir):
    with Testnet(domains=2) as net, tempfile.TemporaryDirectory(prefix="herald-kt-") as state:
        args = ["--state", state]
        for i, node in enumerate(net.nodes):
            args += [f"--d{i}-log", node["log_key"], f"--d{i}-witness", node["witness_key"],
                     f"--d{i}-gateway", net.gateway(i)]
        args += ["--alice-code", net.enrol(0, "alice@d0.test"),
                 "--bob-code", net.enrol(1, "bob@d1.test")]
        command = ["java", f"-Djna.library.path={os.path.abspath(library_dir)}",
                   "-cp", classpath, "MainKt"] + args
        done = subprocess.run(command, timeout=APP_TIMEOUT_SECS)
        return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
