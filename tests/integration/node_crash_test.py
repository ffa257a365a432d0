#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""Crash safety and clean shutdown of a real `medchaind --dev`.

SIGKILL: `medchain bench submit --ack-file` submits thousands of transactions
over many connections; once thousands of acknowledgements are on disk the
node is killed with SIGKILL and restarted on the same folder (the bench keeps
retrying through the outage). Every transaction acknowledged as committed,
before or after the crash, must be in the ledger; none may be in it twice;
`medchain verify` must pass on the stopped node's folder; and the node must
carry on (a new transaction commits).

SIGTERM: with the load generator running, the node must exit 0 promptly,
remove DATA_DIR/medchaind.pid and lose no acknowledged transaction; idle, it
must restart on the same chain (the same tip hash).

Usage: node_crash_test.py --bin-dir BUILD/bin --testdata PATH
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from http import client as httpclient

import mcutil

TXS = 20000
CONCURRENCY = 64


class Bench:
    """`medchain bench submit` running in the background."""

    def __init__(self, bin_dir, url, ack_file, txs, concurrency, log_path):
        self.ack_file = ack_file
        self.log = open(log_path, "w")
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "medchain"), "bench", "submit", "--node", url, "--txs",
             str(txs), "--concurrency", str(concurrency), "--ack-file", ack_file, "--json",
             "--retry-for", "120"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def acks(self):
        """Ids acknowledged so far (whole lines only)."""
        try:
            with open(self.ack_file) as f:
                data = f.read()
        except FileNotFoundError:
            return []
        return [line for line in data.split("\n")[:-1]]

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()


def missing_transactions(url, ids):
    """The ids GET /v1/transactions/ID does not find (one keep-alive connection)."""
    host, port = url[len("http://"):].split(":")
    conn = httpclient.HTTPConnection(host, int(port), timeout=30)
    missing = []
    try:
        for tx in ids:
            conn.request("GET", "/v1/transactions/" + tx)
            res = conn.getresponse()
            body = res.read()
            if res.status != 200 or json.loads(body).get("result", {}).get("code") != "ok":
                missing.append((tx, res.status))
    finally:
        conn.close()
    return missing


def tip(node):
    """(height, hash, log size) of the latest block."""
    b = node.get_json("/v1/blocks?limit=1")["blocks"][-1]
    return b["height"], b["hash"], b["log_size"]


def last_json_line(text):
    lines = [l for l in text.strip().split("\n") if l.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return None


def test_sigkill(args, node, tmp, t):
    t.section(f"SIGKILL while {CONCURRENCY} connections submit {TXS} transactions")
    ack_file = os.path.join(tmp, "acks-kill.txt")
    bench = Bench(args.bin_dir, node.url, ack_file, TXS, CONCURRENCY,
                  os.path.join(tmp, "bench-kill.log"))
    try:
        mcutil.wait_for(lambda: len(bench.acks()) >= 3000 or bench.proc.poll() is not None, 120,
                        "3000 acknowledgements in the ack file")
        t.check(bench.proc.poll() is None, "the load generator is still running at the crash",
                bench.output())
        node.sigkill()
        acked_before = bench.acks()
        print(f"SIGKILL with {len(acked_before)} acknowledgements on disk", flush=True)
        t.check(len(acked_before) < TXS, "the node died mid-run", len(acked_before))
        t.check(os.path.exists(node.pid_file), "a killed node leaves its pid file behind")
        node.start()
        missing = missing_transactions(node.url, acked_before)
        t.check(not missing and len(acked_before) >= 3000,
                f"after the restart all {len(acked_before)} acknowledged before the crash are "
                "committed", missing[:5])
        rc = bench.wait(600)
        out = bench.output()
        summary = last_json_line(out)
        t.check(rc == 0 and summary is not None and summary.get("committed") == TXS
                and set(summary) == {"committed", "tx_per_s", "p50_ms", "p99_ms"},
                "the load generator carried on through the outage: every transaction committed",
                out[-2000:])
    finally:
        bench.kill()
    acked = bench.acks()
    t.check(len(acked) == TXS and len(set(acked)) == TXS,
            f"the ack file holds {TXS} distinct ids, one per line", len(acked))
    missing = missing_transactions(node.url, acked)
    t.check(not missing, "every acknowledged transaction is committed", missing[:5])
    height, _, log_size = tip(node)
    # genesis + the bench's registration + TXS attests: a retry never commits twice.
    t.check(log_size == TXS + 2, "the log holds each transaction exactly once",
            (log_size, TXS + 2))

    t.section("the chain verifies offline; the node carries on")
    rc = node.stop()
    t.check(rc == 0, "SIGTERM: exit status 0", rc)
    v = mcutil.run_cli(args.bin_dir, ["verify", "--data-dir", node.node_dir])
    t.check(v.returncode == 0 and v.stdout.startswith(f"ok: {height + 1} blocks, {log_size} "
                                                       "transactions"),
            "medchain verify --data-dir passes (every block, link, root, signature, checkpoint)",
            v.stdout + v.stderr)
    node.start()
    p = mcutil.run_cli(args.bin_dir, ["submit", "--node", node.url, "--key",
                                      node.key("dev-hospital"), "--type", "attest", "--body",
                                      json.dumps({"digest": os.urandom(32).hex()})],
                       passphrase=mcutil.DEV_PASSPHRASE)
    out = json.loads(p.stdout) if p.returncode == 0 else {}
    t.check(p.returncode == 0 and out.get("status") == "committed"
            and out.get("height") == height + 1 and out.get("leaf_index") == log_size,
            "a new transaction commits in the next block, at the next leaf", p.stdout + p.stderr)


def test_sigterm(args, node, tmp, t):
    t.section("SIGTERM under load: prompt exit 0, pid file removed, no acknowledgement lost")
    ack_file = os.path.join(tmp, "acks-term.txt")
    bench = Bench(args.bin_dir, node.url, ack_file, TXS, CONCURRENCY,
                  os.path.join(tmp, "bench-term.log"))
    try:
        mcutil.wait_for(lambda: len(bench.acks()) >= 2000 or bench.proc.poll() is not None, 120,
                        "2000 acknowledgements")
        t.check(bench.proc.poll() is None, "the load generator is running", bench.output())
        t.check(os.path.exists(node.pid_file), "DATA_DIR/medchaind.pid exists while it runs")
        start = time.monotonic()
        rc = node.stop(timeout=60)
        took = time.monotonic() - start
        t.check(rc == 0, "SIGTERM under load: exit status 0", rc)
        t.check(took < 10, f"it exits promptly ({took:.1f} s, limit 10 s)", node.log_tail())
        t.check(not os.path.exists(node.pid_file), "it removed DATA_DIR/medchaind.pid")
        acked = bench.acks()
        node.start()
        missing = missing_transactions(node.url, acked)
        t.check(not missing, f"all {len(acked)} acknowledged before the SIGTERM are committed",
                missing[:5])
        rc = bench.wait(600)
        t.check(rc == 0, "the load generator finishes after the restart", bench.output()[-2000:])
    finally:
        bench.kill()

    t.section("SIGTERM idle: restarts on the same chain")
    before = tip(node)
    pid = node.proc.pid
    with open(node.pid_file) as f:
        t.check(f.read().strip() == str(pid), "the pid file holds the node's pid")
    start = time.monotonic()
    rc = node.stop()
    took = time.monotonic() - start
    t.check(rc == 0 and took < 5, f"SIGTERM idle: exit 0 in {took:.2f} s", rc)
    t.check(not os.path.exists(node.pid_file), "the pid file is gone")
    node.start()
    after = tip(node)
    t.check(after == before, "restarted: same height, tip hash and log size", (before, after))


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("node_crash_test")
    with tempfile.TemporaryDirectory(prefix="medchain-crash-") as tmp, \
            mcutil.DevNode(args.bin_dir, keep=args.keep) as node:
        print(f"medchaind --dev at {node.url}, data in {node.data_dir}", flush=True)
        test_sigkill(args, node, tmp, t)
        test_sigterm(args, node, tmp, t)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
