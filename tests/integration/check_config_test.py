#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""`medchaind --check-config FILE`: validates a node config, starts nothing.

A config `medchain init` writes passes (exit 0, one "ok:" line), with the
passphrase file (the key file is opened) and without any passphrase (the key
file is parsed, not opened); the node then starts with it. Each broken
config exits 2 with an error naming the file and the key: an unknown key, a
bad api.listen, a missing genesis file, a missing or another node's key
file, a wrong passphrase, an id the genesis does not know, a Raft network
with raft off, a wrong raft.address, a FHIR facade without definitions or
with a key that is not an organisation's. No run creates anything on disk.

Usage: check_config_test.py --bin-dir BUILD/bin
"""
import os
import re
import subprocess
import sys
import tempfile

import mcutil

PASS = "check config pass"


def set_key(text, section, key, value):
    """The TOML text with [section] key set to the TOML `value` (added when
    absent, removed when None); init's configs are one key per line."""
    out, current, done = [], None, False
    for line in text.splitlines():
        m = re.match(r"^\[([a-z]+)\]", line)
        if m:
            if current == section and not done and value is not None:
                out.append(f"{key} = {value}")
                done = True
            current = m.group(1)
        elif current == section and re.match(rf"^{re.escape(key)} = ", line):
            if value is not None:
                out.append(f"{key} = {value}")
            done = True
            continue
        out.append(line)
    if not done and value is not None:
        if current != section:
            out.append(f"[{section}]")
        out.append(f"{key} = {value}")
    return "\n".join(out) + "\n"


def tree(root):
    """Every path below root with its size and mtime: what a run may not change."""
    found = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.lstat(p)
            found[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return found


class Checker:
    def __init__(self, bin_dir, t, root):
        self.medchaind = os.path.join(bin_dir, "medchaind")
        self.t = t
        self.root = root

    def run(self, config, passphrase=None):
        env = {k: v for k, v in os.environ.items() if k != "MEDCHAIN_PASSPHRASE"}
        if passphrase is not None:
            env["MEDCHAIN_PASSPHRASE"] = passphrase
        before = tree(self.root)
        p = subprocess.run([self.medchaind, "--check-config", config], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        print(f"$ medchaind --check-config {os.path.relpath(config, self.root)} -> "
              f"{p.returncode}: {(p.stdout + p.stderr).strip()[:300]}", flush=True)
        after = tree(self.root)
        self.t.check(before == after, "  ... and nothing on disk changed",
                     sorted(set(after.items()) ^ set(before.items())))
        return p

    def passes(self, what, config, out_has=(), passphrase=None):
        p = self.run(config, passphrase)
        lines = p.stdout.splitlines()
        self.t.check(p.returncode == 0 and len(lines) == 1 and lines[0].startswith("ok: " + config)
                     and all(s in p.stdout for s in out_has) and p.stderr == "",
                     what, f"exit {p.returncode}, stdout {p.stdout!r}, stderr {p.stderr!r}")
        return p

    def fails(self, what, config, key, err_has=(), passphrase=None):
        p = self.run(config, passphrase)
        ok = (p.returncode == 2 and p.stdout == ""
              and p.stderr.startswith(f"error: {config}: {key}")
              and all(s in p.stderr for s in err_has))
        self.t.check(ok, f"{what}: exit 2 naming {key}",
                     f"exit {p.returncode}, stdout {p.stdout!r}, stderr {p.stderr!r}")
        return p


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def main():
    args = mcutil.parse_args()
    t = mcutil.Checker("check_config")
    with tempfile.TemporaryDirectory(prefix="medchain-checkcfg-") as tmp:
        c = Checker(args.bin_dir, t, tmp)
        single, raft = os.path.join(tmp, "single"), os.path.join(tmp, "raft")
        port = mcutil.free_port()
        for net, extra in [(single, ["--base-port", str(port)]),
                           (raft, ["--raft", "--nodes", "3", "--base-port", "7070"])]:
            p = mcutil.run_cli(args.bin_dir, ["init", "--dir", net, "--fast-kdf", "--orgs",
                                              "city-hospital"] + extra, passphrase=PASS)
            if not t.check(p.returncode == 0, f"medchain init {' '.join(extra)}", p.stderr):
                return t.finish()
        config = os.path.join(single, "node1", "medchaind.toml")
        with open(config) as f:
            base = f.read()

        t.section("valid configs")
        c.passes("init's config passes; the passphrase file opens the key file", config,
                 out_has=["node node-1", "in the genesis", f"127.0.0.1:{port}", "raft off",
                          "opened with the passphrase from node.passphrase_file"])
        no_pass = write(os.path.join(single, "node1", "no-pass.toml"),
                        set_key(base, "node", "passphrase_file", None))
        c.passes("without any passphrase it passes, the key file parsed but not opened", no_pass,
                 out_has=["key file not opened", "$MEDCHAIN_PASSPHRASE is not set"])
        c.passes("with $MEDCHAIN_PASSPHRASE the key file is opened", no_pass,
                 out_has=["opened with the passphrase from $MEDCHAIN_PASSPHRASE"], passphrase=PASS)
        new_dir = write(os.path.join(single, "node1", "new-dir.toml"),
                        set_key(base, "node", "data_dir", '"data"'))
        c.passes("a data folder that does not exist yet is fine, and is not created", new_dir,
                 out_has=["(not created yet)"])
        t.check(not os.path.exists(os.path.join(single, "node1", "data")),
                "--check-config created no data folder")
        for k in (1, 2, 3):
            c.passes(f"Raft network: node {k}'s config passes",
                     os.path.join(raft, f"node{k}", "medchaind.toml"),
                     out_has=[f"node node-{k}", f"raft 127.0.0.1:{17069 + k}"])
        t.check(not any(os.path.exists(os.path.join(net, "node1", x))
                        for net in (single, raft) for x in ("ledger", "raft", "medchaind.pid")),
                "no ledger, Raft folder or pid file was created")

        t.section("broken configs")
        d = os.path.join(single, "node1")

        def broken(name, section, key, value):
            return write(os.path.join(d, name + ".toml"), set_key(base, section, key, value))

        c.fails("an unknown key", broken("unknown", "api", "listen_address", '"127.0.0.1:1"'),
                "api.listen_address", ["unknown key"])
        c.fails("an unknown section", write(os.path.join(d, "section.toml"),
                                            base + "\n[consensus]\nenabled = true\n"),
                "consensus", ["unknown section"])
        for bad, why in [("127.0.0.1", "not host:port"), ("127.0.0.1:99999", "no valid port"),
                         ("bad host:7070", "not an IP address or host name"),
                         ("999.1.1.1:7070", "not an IP address or host name")]:
            c.fails(f"api.listen {bad!r}", broken("listen", "api", "listen", f'"{bad}"'),
                    "api.listen", [why])
        c.fails("a value of the wrong type", broken("type", "api", "threads", '"many"'),
                "api.threads", ["must be an integer"])
        c.fails("a missing genesis file", broken("genesis", "node", "genesis", '"../nowhere.json"'),
                "node.genesis", [os.path.join(single, "nowhere.json")])
        write(os.path.join(single, "not-a-genesis.json"), '{"format": "medchain-genesis"}\n')
        c.fails("a genesis file that is not a genesis",
                broken("genesis2", "node", "genesis", '"../not-a-genesis.json"'), "node.genesis")
        c.fails("a missing key file", broken("key", "node", "key_file", '"../keys/none.key"'),
                "node.key_file", ["does not exist"])
        c.fails("another participant's key file",
                broken("key2", "node", "key_file", '"../keys/city-hospital.key"'),
                "node.key_file", ["is not node node-1's registered key"])
        c.fails("a wrong passphrase", no_pass, "node.key_file",
                ["wrong passphrase", "$MEDCHAIN_PASSPHRASE"], passphrase="not it")
        c.fails("an id the genesis does not have", broken("id", "node", "id", '"node-9"'),
                "node.id", ["not a node of the genesis"])
        c.fails("an organisation's id as node.id", broken("id2", "node", "id", '"city-hospital"'),
                "node.id", ["is not a node"])
        c.fails("a missing required key", broken("required", "node", "data_dir", None),
                "node.data_dir", ["required"])

        raft1 = os.path.join(raft, "node1", "medchaind.toml")
        with open(raft1) as f:
            raft_base = f.read()
        c.fails("a three-node genesis with raft off",
                write(os.path.join(raft, "node1", "off.toml"),
                      set_key(raft_base, "raft", "enabled", "false")),
                "raft.enabled", ["3 nodes"])
        c.fails("a Raft address other than the registered one",
                write(os.path.join(raft, "node1", "addr.toml"),
                      set_key(raft_base, "raft", "address", '"127.0.0.1:17999"')),
                "raft.address", ["registered Raft address 127.0.0.1:17070"])

        fhir = set_key(base, "fhir", "token", '"a-long-test-token-for-the-facade-0123"')
        c.fails("the FHIR facade with a definitions folder that does not exist",
                write(os.path.join(d, "fhir1.toml"),
                      set_key(fhir, "fhir", "definitions", '"/nonexistent/r4"')),
                "fhir.definitions", ["not a folder"])
        c.fails("the FHIR facade acting with a node's key",
                write(os.path.join(d, "fhir2.toml"),
                      set_key(fhir, "fhir", "key_file", '"../keys/node-1.key"')),
                "fhir.key_file", ["not of an organisation"])
        defs = os.environ.get("MEDCHAIN_FHIR_DEFINITIONS")
        if defs:
            c.passes("the FHIR facade with its definitions passes",
                     write(os.path.join(d, "fhir3.toml"),
                           set_key(fhir, "fhir", "definitions", f'"{defs}"')),
                     out_has=["FHIR facade on", "key files opened"])

        t.section("what passes starts")
        node = mcutil.ConfigNode(args.bin_dir, config, single)
        try:
            node.start()
            t.check(node.get("/v1/healthz").status == 200, "the checked config runs a node")
            t.check(node.stop() == 0, "and it stops cleanly")
        finally:
            node.cleanup()
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
