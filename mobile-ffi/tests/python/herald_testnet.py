"""A real Herald testnet for the binding's foreign-runtime tests, driven through its CLI.

`herald-testnet up` starts N gateway domains on 127.0.0.1 as detached node processes and writes
DIR/testnet.json; accounts are enrolled as an operator does (`herald-node account add`, here the
testnet binary's `node` subcommand, which is the node's command line); `down` stops every node.
Every command runs with a timeout, and `Testnet` is a context manager whose exit always runs
`down`, so no node is left running whatever a test does.

The configuration handed to the binding comes from testnet.json (each domain's log key, the
other domains' witness keys, the gateway's TCP address) with the testnet's fixed choices: SHA-256
logs, quorum 1 of the one peer (`up --quorum 1`), and the timing `herald-testnet`'s own party
code uses (δ = MMD = 2 s, witness period and margin 1 s): every node runs on this machine's clock.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

# The generated module: run.sh puts the bindings' directory in HERALD_FFI_BINDINGS.
sys.path.insert(0, os.environ.get("HERALD_FFI_BINDINGS", "target/ffi-tests/bindings/python"))
import herald_mobile_ffi as herald  # noqa: E402

CLOCK_SKEW_SECS = 2
MAX_MERGE_DELAY_SECS = 2
PASSPHRASE = "herald binding test throwaway passphrase"
# Every test account's password at its gateway (throwaway too).
PASSWORD = "herald binding test throwaway password"
# Bounds on the testnet's commands (a loaded 2-core machine).
UP_TIMEOUT_SECS = 180
COMMAND_TIMEOUT_SECS = 60


def testnet_binary():
    path = os.environ.get("HERALD_TESTNET_BIN", "target/debug/herald-testnet")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no herald-testnet binary at {path} (cargo build -p herald-testnet)")
    return path


def run(args, timeout=COMMAND_TIMEOUT_SECS):
    """Runs a command, bounded; its output on failure."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class Testnet:
    """N domains d0.test, d1.test, ... (use as a context manager: `down` always runs)."""

    def __init__(self, domains=2, dir=None):
        self.binary = testnet_binary()
        self.domains = domains
        self._tmp = None
        if dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="herald-ffi-testnet-")
            dir = self._tmp.name
        self.dir = os.path.abspath(dir)
        self.nodes = []

    def __enter__(self):
        try:
            run([self.binary, "up", "--domains", str(self.domains), "--dir", self.dir,
                 "--sequence-interval-ms", "100", "--quorum", "1"], timeout=UP_TIMEOUT_SECS)
            with open(os.path.join(self.dir, "testnet.json")) as f:
                self.nodes = json.load(f)["nodes"]
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    def down(self):
        """Stops every node `up` started (idempotent; a missing testnet.json means none ran)."""
        if os.path.exists(os.path.join(self.dir, "testnet.json")):
            run([self.binary, "down", "--dir", self.dir], timeout=COMMAND_TIMEOUT_SECS)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def domain(self, i):
        return self.nodes[i]["domain"]

    def enrol(self, i, account):
        """The operator of domain i enrols `account`: its one-time enrolment code."""
        out = run([self.binary, "node", "account", "add", "--config", self.nodes[i]["config"],
                   account, "--json"])
        return json.loads(out)["enrolment_code"]

    def gateway(self, i):
        return next(a for a in self.nodes[i]["listen_addrs"] if "/tcp/" in a)

    def log_config(self, i, with_gateway=True):
        """Domain i's log as a client configures it (see the module docs)."""
        node = self.nodes[i]
        return herald.LogConfig(
            log_key=node["log_key"],
            hash=herald.LogHash.SHA256,
            witness_keys=[n["witness_key"] for n in self.nodes if n["domain"] != node["domain"]],
            quorum=1,
            gateway=self.gateway(i) if with_gateway else None,
            clock_skew_secs=CLOCK_SKEW_SECS,
            max_merge_delay_secs=MAX_MERGE_DELAY_SECS,
        )

    def client_config(self, home, state_dir, signature_file=None):
        """A client whose home is domain `home`, trusting every domain of the testnet (and
        screening with `signature_file` beside EICAR, if given)."""
        return herald.HeraldConfig(
            home=self.log_config(home),
            other_logs=[self.log_config(i) for i in range(len(self.nodes)) if i != home],
            state_dir=os.path.abspath(state_dir),
            max_clock_skew_secs=CLOCK_SKEW_SECS,
            connect_timeout_ms=10_000,
            request_timeout_ms=15_000,
            certified_mail=herald.CertifiedMailPolicy(
                witness_period_secs=1, margin_secs=1, max_wait_secs=86_400),
            signature_file=signature_file,
        )


async def until_served(call, timeout=30.0):
    """Awaits `call()` again while the gateway says "not yet" (no cosigned checkpoint covers
    it, or it is not logged yet), at most `timeout` seconds."""
    import asyncio
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncio.wait_for(call(), timeout=max(1.0, deadline - time.monotonic()))
        except (herald.HeraldError.NotYet, herald.HeraldError.RefusedByGateway) as e:
            not_found = isinstance(e, herald.HeraldError.RefusedByGateway) and e.code == "NOT_FOUND"
            if not (isinstance(e, herald.HeraldError.NotYet) or not_found):
                raise
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def enrolled(net, domain, name, state_dir, key_store=None, signature_file=None):
    """A client at `domain` and its account `name@<domain>`, enrolled by the operator and
    registered with a fresh identity key (in the Rust file key store, or in `key_store`, an
    app's `SecureKeyStore`). Waits until the binding is served cosigned."""
    import asyncio
    client = herald.HeraldClient(net.client_config(domain, state_dir, signature_file))
    account = f"{name}@{net.domain(domain)}"
    code = net.enrol(domain, account)
    if key_store is None:
        me = await asyncio.wait_for(client.create_account(account, PASSPHRASE), 60)
    else:
        me = await asyncio.wait_for(client.account_with_key_store(account, key_store), 60)
    registration = await asyncio.wait_for(me.register(code, PASSWORD), 60)
    binding = await until_served(lambda: client.lookup_binding(account))
    return client, me, registration, binding


async def certified_mail(alice, bob, message, wait_secs=30):
    """The four steps between two accounts (each a (client, account) pair), the sealed mail,
    the request and the key carried between them as bytes. Returns what each step made, and
    each step's wall time in milliseconds under "timings_ms"."""
    import asyncio
    (_, a), (_, b) = alice, bob
    timings = {}

    async def step(name, call, timeout):
        start = time.perf_counter()
        result = await asyncio.wait_for(call, timeout)
        timings[name] = round((time.perf_counter() - start) * 1000, 1)
        return result

    sealed = await step("send_certified", a.send_certified(b.account(), message, True), 30)
    deadline = int(time.time()) + 60
    request = await step("request_key", b.request_key(sealed.sealed, deadline, None), 30)
    accepted = await step("accept_request", a.accept_request(request.request), 60)
    outcome = await step("publish", a.publish(sealed.msg_id, wait_secs), wait_secs + 30)
    opened = await step("fetch", b.fetch(request.req_hash, wait_secs), wait_secs + 30)
    return {
        "sealed": sealed,
        "request": request,
        "accepted": accepted,
        "outcome": outcome,
        "opened": opened,
        "timings_ms": timings,
    }
