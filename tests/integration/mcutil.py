# Copyright (c) medchain developers.
"""Shared helpers for medchain's functional tests (Python 3 standard library only).

A functional test drives the real binaries: it starts `medchaind --dev` on a
free 127.0.0.1 port in a fresh temporary folder, talks HTTP to it, runs the
`medchain` CLI, and always stops what it started. Typical use:

    import mcutil

    def main():
        args = mcutil.parse_args()              # --bin-dir, --testdata
        t = mcutil.Checker("node_api")
        with mcutil.DevNode(args.bin_dir) as node:   # started and healthy
            r = node.get("/v1/healthz")
            t.check(r.status == 200, "healthz answers 200")
            p = mcutil.run_cli(args.bin_dir, ["tx", "--node", node.url, tx_id])
            t.check(p.returncode == 0, "medchain tx finds it")
        return t.finish()                       # 0 if every check passed

    if __name__ == "__main__":
        sys.exit(main())

What is here:
  parse_args()        the arguments ctest passes (--bin-dir, --testdata)
  free_port()         a free port from this process's own slice (no race under ctest -j)
  wait_for(f, ...)    polls f() until it returns a true value, with a deadline
  request(...)        one HTTP request; returns a Reply (status, headers, body, json())
  sign_headers(...)   RFC 9421 Signature-Input/Signature for one request, made by
                      `medchain sign-request` with a key file (docs/api.md)
  DevNode             a `medchaind --dev` process: start, wait healthy, SIGTERM,
                      SIGKILL, restart on the same folder; its keys and files
  ConfigNode          the same for `medchaind --config` (a `medchain init` network)
  run_cli(...)        runs `medchain ...` (passphrase via $MEDCHAIN_PASSPHRASE)
  Checker             counts checks, prints "ok"/"FAIL" lines, gives the exit code;
                      known_issue() marks a check the product fails for a reported
                      reason (XFAIL), and fails once it holds
  decode_tx(...)      splits canonical transaction bytes into their fields
                      (docs/format.md), for crafting bad inputs

Conventions (tests/integration): only 127.0.0.1; ports from free_port(); data
in tempfile folders; no sleep in place of waiting for a condition (wait_for
polls one with a deadline); every process started is killed in a finally
block (DevNode does it on __exit__ and at interpreter exit).
"""
import argparse
import atexit
import hashlib
from http import client as _httpclient
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DEV_PASSPHRASE = "dev"  # medchaind --dev writes its key files with this passphrase


def parse_args(description=None):
    """The command line ctest gives every functional test."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--bin-dir", required=True, help="folder of medchain and medchaind")
    ap.add_argument("--testdata", required=False, help="../shared/testdata")
    ap.add_argument("--keep", action="store_true", help="keep temporary folders (debugging)")
    return ap.parse_args()


_port_slice = {"base": None, "next": 0, "lock": None}
PORT_SLICES = (10000, 78)  # first port, number of slices of 128 (10000-19983)


def _claim_port_slice():
    """Claims a slice of 128 ports for this process for as long as it lives:
    an flock on /tmp/medchain-test-ports/<base>, which the kernel drops when
    the process exits (even on SIGKILL), so no stale claim survives."""
    import fcntl
    lock_dir = os.path.join(tempfile.gettempdir(), "medchain-test-ports")
    os.makedirs(lock_dir, exist_ok=True)
    first, count = PORT_SLICES
    start = os.getpid() % count
    for i in range(count):
        base = first + ((start + i) % count) * 128
        f = open(os.path.join(lock_dir, str(base)), "w")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _port_slice.update(base=base, next=0, lock=f)
        return
    raise RuntimeError("free_port: every port slice is claimed by a running test")


def free_port():
    """A TCP port on 127.0.0.1 that is free now and that no other test will be
    handed: each test process claims its own slice of 128 ports (an flock,
    see _claim_port_slice) below the kernel's ephemeral range (32768 and up),
    and hands each port out once. Tests running in parallel under `ctest -j`
    therefore cannot race for a port, as bind-to-0-then-close would let them.
    (Unit tests use 20000-32767 the same way, tests/unit/port_util.h.)"""
    if _port_slice["base"] is None:
        _claim_port_slice()
    while _port_slice["next"] < 128:
        port = _port_slice["base"] + _port_slice["next"]
        _port_slice["next"] += 1
        # No SO_REUSEADDR: a port any socket still holds (a listener, a
        # connection, TIME_WAIT) is skipped, not handed out.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # held by something outside the tests
            return port
    raise RuntimeError("free_port: this process used all 128 ports of its slice")


def wait_for(predicate, timeout=30.0, what="condition", interval=0.02):
    """Calls predicate() until it returns a true value and returns that value.

    Raises TimeoutError naming `what` when `timeout` seconds pass first. The
    short pause between calls is polling, not a guess at how long anything
    takes: the deadline is the only fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Reply:
    """An HTTP answer: status, headers (lower-case names), body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def content_type(self):
        return self.headers.get("content-type", "")

    def text(self):
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return f"Reply({self.status}, {self.body[:200]!r})"


def request(method, url, body=None, content_type=None, headers=None, timeout=60.0):
    """One HTTP/1.1 request to `url` ("http://127.0.0.1:PORT/path?query").

    `body` may be bytes, str or a JSON-able object (sent as application/json
    unless `content_type` says otherwise). Returns a Reply; raises OSError
    when the node cannot be reached."""
    assert url.startswith("http://"), url
    rest = url[len("http://"):]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            content_type = content_type or "application/json"
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    conn = _httpclient.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request(method, "/" + path, body=data, headers=hdrs)
        res = conn.getresponse()
        payload = res.read()
        return Reply(res.status, {k.lower(): v for k, v in res.getheaders()}, payload)
    finally:
        conn.close()


def sign_headers(bin_dir, key_path, url, method="GET", created=None, passphrase=DEV_PASSPHRASE):
    """The two headers that sign `method url` with the key file at `key_path`
    (RFC 9421, docs/api.md "Signed requests"), from `medchain sign-request`:
    the C++ signer the CLI uses, so the tests need no ed25519 of their own.
    `created` (s since the epoch) overrides the signing time."""
    args = ["sign-request", "--key", key_path, "--method", method, url]
    if created is not None:
        args[1:1] = ["--created", str(int(created))]
    p = run_cli(bin_dir, args, passphrase=passphrase)
    if p.returncode != 0:
        raise RuntimeError(f"medchain sign-request failed: {p.stderr.strip()}")
    out = {}
    for line in p.stdout.splitlines():
        name, _, value = line.partition(": ")
        out[name] = value
    return out


_live_processes = []


class PortTaken(RuntimeError):
    """medchaind could not listen on its port: it was taken after free_port()."""


def _kill_leftovers():
    for p in _live_processes:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_kill_leftovers)


class DevNode:
    """A `medchaind --dev` node on a free 127.0.0.1 port in its own folder.

        node = DevNode(bin_dir)           # a fresh temporary folder
        node.start()                      # returns once /v1/healthz says ok
        node.url, node.port, node.data_dir
        node.key("dev-hospital")          # path of a key file (passphrase "dev")
        node.get("/v1/node"), node.post("/v1/transactions", body, content_type)
        node.sigkill(); node.start()      # crash and restart on the same chain
        rc = node.stop()                  # SIGTERM; returns the exit status
        node.cleanup()                    # stop and remove the folder

    Used as a context manager it starts on entry and stops (SIGKILL if still
    running) and cleans up on exit. `data_dir` is what --data-dir names: it
    holds genesis.json, keys/ and node1/; the node's own files (ledger/,
    medchaind.pid) are in `node_dir` = data_dir/node1."""

    def __init__(self, bin_dir, data_dir=None, keep=False):
        self.bin_dir = bin_dir
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="medchain-node-")
        self.keep = keep
        self.port = None
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "medchaind.log")
        self._log = None

    # -- paths --
    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def node_dir(self):
        return os.path.join(self.data_dir, "node1")

    @property
    def pid_file(self):
        return os.path.join(self.node_dir, "medchaind.pid")

    @property
    def genesis_file(self):
        return os.path.join(self.data_dir, "genesis.json")

    def key(self, name):
        """Path of a dev key file: "node-1", "admin" or "dev-hospital"."""
        return os.path.join(self.data_dir, "keys", name + ".key")

    # -- life cycle --
    def start(self, timeout=60.0, port=None):
        """Starts medchaind (on `port`, else the last port, else a free one)
        and waits until /v1/healthz answers 200."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        chosen = not (port or self.port)
        self.port = port or self.port or free_port()
        for _ in range(4):
            try:
                return self._start_once(timeout)
            except PortTaken:
                # Something outside the tests took the port between the probe
                # and medchaind's listen: only then, and only for a port this
                # class picked, try the next one.
                if not chosen:
                    raise
                self.port = free_port()
        return self._start_once(timeout)

    def _start_once(self, timeout):
        self._log = open(self.log_path, "ab")
        log_start = self._log.tell()
        self.proc = subprocess.Popen(self._command(), stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        _live_processes.append(self.proc)

        def healthy():
            if self.proc.poll() is not None:
                self._close_log()
                tail = self.log_tail()
                with open(self.log_path, "rb") as f:
                    f.seek(log_start)
                    this_run = f.read().decode(errors="replace")
                if "cannot listen on 127.0.0.1:" in this_run:
                    raise PortTaken(tail)
                raise RuntimeError(f"medchaind exited with {self.proc.returncode} while starting:\n"
                                   + tail)
            try:
                return request("GET", self.url + "/v1/healthz", timeout=5).status == 200
            except OSError:
                return False

        wait_for(healthy, timeout, f"medchaind on port {self.port} to be healthy")
        return self

    def _command(self):
        return [os.path.join(self.bin_dir, "medchaind"), "--dev", "--data-dir", self.data_dir,
                "--listen", f"127.0.0.1:{self.port}"]

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30.0):
        """SIGTERM, then waits for the exit; returns the exit status (None if
        it had to be killed after `timeout` seconds)."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self._close_log()

    def sigkill(self):
        """Kills the node at once (a crash): no shutdown code runs."""
        if self.running():
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def cleanup(self):
        self.sigkill()
        if self._own_dir and not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _close_log(self):
        if self._log:
            self._log.close()
            self._log = None

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        if exc[0] is not None:
            print("medchaind log (last lines):\n" + self.log_tail(), flush=True)
        self.cleanup()
        return False

    # -- API --
    def get(self, path, timeout=60.0, key=None, headers=None):
        """GET `path`; signed with the key file `key` when given (a dev key
        name such as "dev-hospital", or a path)."""
        hdrs = dict(headers or {})
        if key is not None:
            hdrs.update(sign_headers(self.bin_dir, self._key_path(key), self.url + path))
        return request("GET", self.url + path, headers=hdrs, timeout=timeout)

    def _key_path(self, key):
        return key if os.sep in key else self.key(key)

    def auditor(self):
        """The name of a registered auditor's dev key ("test-auditor"), made
        and registered by the admin on first use: an auditor may read every
        patient's metadata (docs/security.md), which tests that check other
        things use to read it."""
        name = "test-auditor"
        path = self.key(name)
        if not os.path.exists(path):
            p = run_cli(self.bin_dir, ["keygen", "--out", path, "--participant-id", name],
                        passphrase=DEV_PASSPHRASE)
            if p.returncode != 0:
                raise RuntimeError(f"keygen {name}: {p.stderr.strip()}")
            p = run_cli(self.bin_dir, ["identity", "register", "--node", self.url, "--key",
                                       self.key("admin"), "--id", name, "--role", "auditor",
                                       "--subject-key", path], passphrase=DEV_PASSPHRASE)
            if p.returncode != 0:
                raise RuntimeError(f"registering {name}: {p.stderr.strip()} {p.stdout.strip()}")
        return name

    def post(self, path, body, content_type=None, timeout=60.0):
        return request("POST", self.url + path, body, content_type=content_type, timeout=timeout)

    def get_json(self, path, key=None):
        """GET that must answer 200 with JSON (signed with `key` when given)."""
        r = self.get(path, key=key)
        if r.status != 200 or r.json() is None:
            raise AssertionError(f"GET {path}: {r!r}")
        return r.json()

    def tip(self):
        """(height, log_size) from /v1/healthz."""
        h = self.get_json("/v1/healthz")
        return h["height"], h["log_size"]


class ConfigNode(DevNode):
    """`medchaind --config FILE` of a network made by `medchain init`.

        node = ConfigNode(bin_dir, os.path.join(net, "node1", "medchaind.toml"), net)

    `network_dir` is init's --dir (genesis.json, keys/); the node's files are
    beside its config (node_dir). The port is the config's api.listen, so
    init is run with --base-port free_port(). The folder is not removed by
    cleanup(): it belongs to whoever ran init."""

    def __init__(self, bin_dir, config_path, network_dir, keep=False):
        super().__init__(bin_dir, data_dir=network_dir, keep=keep)
        self._own_dir = False
        self.config_path = config_path
        with open(config_path) as f:
            m = re.search(r'^listen = "127\.0\.0\.1:(\d+)"$', f.read(), re.M)
        if not m:
            raise ValueError(f"{config_path}: api.listen is not 127.0.0.1:PORT")
        self.port = int(m.group(1))
        self.log_path = os.path.join(os.path.dirname(config_path), "medchaind.log")

    @property
    def node_dir(self):
        return os.path.dirname(os.path.abspath(self.config_path))

    def _command(self):
        return [os.path.join(self.bin_dir, "medchaind"), "--config", self.config_path]


def run_cli(bin_dir, args, passphrase=None, timeout=120, stdin=None):
    """Runs `medchain args...` and returns the CompletedProcess (text mode).

    $MEDCHAIN_PASSPHRASE is set to `passphrase` (or removed when None), and
    stdin is not a terminal, so no command can stop to prompt."""
    env = {k: v for k, v in os.environ.items() if k not in ("MEDCHAIN_PASSPHRASE", "MEDCHAIN_NODE")}
    if passphrase is not None:
        env["MEDCHAIN_PASSPHRASE"] = passphrase
    return subprocess.run([os.path.join(bin_dir, "medchain")] + list(args), env=env,
                          stdin=subprocess.DEVNULL if stdin is None else stdin,
                          capture_output=True, text=True, timeout=timeout)


class Checker:
    """Counts checks; prints one line per check, "ok" or "FAIL" with detail."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=None):
        if cond:
            self.passed += 1
            print(f"ok   {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {what}" + (f"\n     {detail}" if detail is not None else ""), flush=True)
        return bool(cond)

    def known_issue(self, cond, what, issue, detail=None):
        """A check the product fails today for a reported reason: prints
        XFAIL while it fails; once it holds it FAILS, asking to remove the
        marker so the check guards the fix."""
        if cond:
            self.failed += 1
            print(f"FAIL {what}: holds now; the known issue is fixed, make this a plain check\n"
                  f"     ({issue})", flush=True)
        else:
            print(f"XFAIL {what} (known issue: {issue})" + (f"\n     {detail}" if detail else ""),
                  flush=True)

    def section(self, title):
        print(f"== {title}", flush=True)

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed or not self.passed else 0


# ---- canonical bytes (docs/format.md) ----

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(data, pos):
    """(value, new position) of the LEB128 varint at data[pos]."""
    shift = value = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def encode_bytes(b):
    return varint(len(b)) + b


def decode_tx(data):
    """The fields of a canonical transaction (docs/format.md, "Transaction"):
    version, type, author, nonce, timestamp_ms, body, signature, and
    unsigned_len (the length of the signed part, without the domain)."""
    version = data[0]
    tx_type = int.from_bytes(data[1:3], "big")
    author = data[3:35]
    nonce = int.from_bytes(data[35:43], "big")
    timestamp = int.from_bytes(data[43:51], "big")
    blen, pos = read_varint(data, 51)
    body = data[pos:pos + blen]
    pos += blen
    return {"version": version, "type": tx_type, "author": author, "nonce": nonce,
            "timestamp_ms": timestamp, "body": body, "signature": data[pos:pos + 64],
            "unsigned_len": pos}


def tx_id(data):
    """SHA-256 of the unsigned part: the transaction id (hex)."""
    return hashlib.sha256(data[:decode_tx(data)["unsigned_len"]]).hexdigest()


def batch(envelopes):
    """The application/vnd.medchain.batch body (docs/api.md):
    u8 1 | u32 count (big-endian) | count x bytes submission envelope."""
    return b"\x01" + len(envelopes).to_bytes(4, "big") + b"".join(
        encode_bytes(e) for e in envelopes)


def submission(tx_bytes, sidecar=None):
    """The application/vnd.medchain.submission body:
    u8 1 | bytes tx | bool has_sidecar | [bytes sidecar]."""
    out = b"\x01" + encode_bytes(tx_bytes)
    if sidecar is None:
        return out + b"\x00"
    return out + b"\x01" + encode_bytes(sidecar)
