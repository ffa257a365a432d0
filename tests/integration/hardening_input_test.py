#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""Hostile input against a real `medchaind --dev`, and what the node keeps private.

Each case was a way to crash or mislead the node (issue 14):
  - `GET /x/%ff`: the 404 answer quoted the raw path and aborted the process;
  - a body of `[` nested thousands deep cost ~140 MB of parser state;
  - invalid UTF-8 in a JSON string, `1e400` and a 100,000-digit number were 500s.
Each now gets a 4xx JSON answer, the node stays healthy and the log size is
unchanged. Then: no core file (RLIMIT_CORE 0), a private data folder (0700,
files 0600) even when it was created 0755, the FHIR token not printed in the
banner, RocksDB's info log kept off the data disk, a node that starts over
a corrupted membership.json, and `medchain devnet` refusing ports above 65535 before it writes
anything.

Usage: hardening_input_test.py --bin-dir BUILD/bin --testdata PATH
"""
import json
import os
import stat
import sys
import tempfile

import mcutil


def log_size(node):
    return node.get_json("/v1/node").get("log_size")


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("hardening_input")
    tmp = tempfile.mkdtemp(prefix="medchain-hardening-")
    data_dir = os.path.join(tmp, "dev")
    os.mkdir(data_dir)
    os.chmod(data_dir, 0o755)  # as an operator's `mkdir` leaves it
    with mcutil.DevNode(args.bin_dir, data_dir=data_dir) as node:
        t.section("hostile requests")
        before = log_size(node)
        t.check(before is not None, "/v1/node reports log_size", node.get_json("/v1/node"))

        try:
            r = node.get("/x/%ff")
        except OSError as e:  # the node died
            t.check(False, "GET /x/%ff answers", f"{e}\n{node.log_tail()}")
            return t.finish()
        t.check(r.status == 404, "GET /x/%ff answers 404", (r.status, r.body[:200]))
        t.check(r.content_type.startswith("application/json") and "error" in r.json(),
                "... as a JSON error", r.body[:200])
        raw = mcutil.request("GET", node.url + "/v1/tx/%ff%fe")
        t.check(400 <= raw.status < 500, "GET /v1/tx/%ff%fe answers 4xx", raw.status)

        cases = [
            ("JSON nested 100,000 deep", b"[" * 100000, "nested deeper than 64"),
            ("objects nested 65 deep", b'{"a":' * 65 + b"1" + b"}" * 65, "nested deeper than 64"),
            ("invalid UTF-8 in a string", b'{"type":"\xff\xfe","body":{}}', "UTF-8"),
            ("a number that overflows a double", b'{"nonce":1e400}', "not valid JSON"),
            ("a 100,000-digit number", b'{"nonce":' + b"9" * 100000 + b"}", "not valid JSON"),
        ]
        for name, body, words in cases:
            r = node.post("/v1/transactions", body, content_type="application/json")
            t.check(r.status == 400, f"{name}: 400", (r.status, r.body[:300]))
            msg = r.json().get("message", "") if r.content_type.startswith("application/json") \
                else ""
            t.check(words in msg, f"{name}: the message says {words!r}", msg[:300])
        # Brackets inside strings are not nesting: 70 of them parse (and are
        # refused later, for what the body lacks, not for depth).
        r = node.post("/v1/transactions", b'{"type":"' + b"[" * 70 + b'"}',
                      content_type="application/json")
        t.check(r.status == 400 and "nested" not in r.json().get("message", ""),
                "brackets inside a string do not count as nesting", r.body[:300])

        t.check(node.running(), "the node is still running")
        t.check(node.get("/v1/healthz").status == 200, "and healthy")
        t.check(log_size(node) == before, "nothing was written to the log",
                (before, log_size(node)))

        t.section("what the process keeps private")
        with open(f"/proc/{node.proc.pid}/limits") as f:
            core = [line for line in f if line.startswith("Max core file size")]
        t.check(core and core[0].split()[4:6] == ["0", "0"],
                "core files are off (RLIMIT_CORE 0)", core)
        for path in (node.node_dir, os.path.join(node.node_dir, "ledger"),
                     os.path.join(data_dir, "keys")):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            t.check(mode == 0o700, f"{os.path.relpath(path, tmp)} is 0700", oct(mode))
        ledger_files = os.listdir(os.path.join(node.node_dir, "ledger"))
        t.check(not [f for f in ledger_files if f == "LOG" or f.startswith("LOG.old")],
                "RocksDB's info log goes to the node's log, not to a LOG file on the data disk",
                ledger_files)
        loose = []
        for root, _, files in os.walk(node.node_dir):
            for name in files:
                p = os.path.join(root, name)
                if stat.S_IMODE(os.stat(p).st_mode) & 0o077:
                    loose.append((os.path.relpath(p, tmp), oct(stat.S_IMODE(os.stat(p).st_mode))))
        t.check(not loose, "every file the node wrote is private (0600)", loose[:10])

        token_file = os.path.join(data_dir, "fhir-token")
        if t.check(os.path.isfile(token_file), "the dev node wrote DIR/fhir-token",
                   "the FHIR facade is off: are the definitions installed "
                   "(scripts/fhir-definitions.sh, $MEDCHAIN_FHIR_DEFINITIONS)?"):
            with open(token_file) as f:
                token = f.read().strip()
            with open(node.log_path, "rb") as f:
                banner = f.read().decode(errors="replace")
            t.check("fhir-token" in banner, "the banner names the token's file", banner[-600:])
            t.check(len(token) >= 32 and token not in banner, "the banner does not print the token")

        t.section("a corrupted membership.json")
        members_file = os.path.join(node.node_dir, "membership.json")
        with open(members_file) as f:
            good = json.load(f)
        for name, doc in [("a version of the wrong type", {"version": "one"}),
                          ("members of the wrong type", dict(good, members=[5, "x"])),
                          ("a height of the wrong type", dict(good, height="high"))]:
            node.stop()
            with open(members_file, "w") as f:
                json.dump(doc, f)
            try:
                node.start()
                ok = node.get("/v1/healthz").status == 200
            except RuntimeError as e:
                ok = False
                node.proc = None
                print(e)
            t.check(ok, f"{name}: the node starts (rebuilding the file from the ledger)")
            if not ok:
                break

    t.section("devnet ports")
    for name, extra in [("--base-port 65000 (Raft ports 75000..)", ["--base-port", "65000"]),
                        ("API ports 65534..65536", ["--base-port", "65534",
                                                     "--raft-base-port", "20000"])]:
        d = os.path.join(tmp, "devnet-" + extra[1])
        p = mcutil.run_cli(args.bin_dir, ["devnet", "--nodes", "3", "--dir", d, "--init-only",
                                          "--fast-kdf"] + extra)
        t.check(p.returncode != 0, f"{name}: refused", (p.returncode, p.stderr[-300:]))
        t.check("65535" in p.stderr, f"{name}: the error names the limit", p.stderr[-300:])
        t.check(not os.path.exists(os.path.join(d, "genesis.json")) and
                not os.path.exists(os.path.join(d, "keys")),
                f"{name}: nothing written", os.listdir(d) if os.path.isdir(d) else None)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
