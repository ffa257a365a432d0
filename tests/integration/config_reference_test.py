#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""docs/configuration.md is what `medchaind --print-config-reference` prints.

The reference is generated from the key table in src/node/config.cpp (the
table LoadConfig takes its legal keys and ranges from), so a key added,
removed or changed there without regenerating the doc fails here. Regenerate:

    build/bin/medchaind --print-config-reference > docs/configuration.md

Also: every key of the config `medchain init --raft` writes is one the
reference lists.

Usage: config_reference_test.py --bin-dir BUILD/bin
"""
import difflib
import os
import re
import subprocess
import sys
import tempfile

import mcutil

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                   "configuration.md")


def section_keys(lines, section_re, key_re):
    """The "section.key" names in lines: a line matching section_re starts a
    section, and one matching key_re inside a section names a key."""
    keys, section = set(), None
    for line in lines:
        m = re.match(section_re, line)
        if m:
            section = m.group(1)
        m = re.match(key_re, line)
        if m and section:
            keys.add(f"{section}.{m.group(1)}")
    return keys


def main():
    args = mcutil.parse_args()
    t = mcutil.Checker("config_reference")
    medchaind = os.path.join(args.bin_dir, "medchaind")
    p = subprocess.run([medchaind, "--print-config-reference"], capture_output=True, text=True,
                       timeout=60)
    t.check(p.returncode == 0 and p.stderr == "", "--print-config-reference exits 0, quietly",
            f"exit {p.returncode}, stderr {p.stderr[-400:]!r}")
    with open(DOC) as f:
        doc = f.read()
    diff = "".join(difflib.unified_diff(doc.splitlines(True), p.stdout.splitlines(True),
                                        "docs/configuration.md", "medchaind output"))
    t.check(doc == p.stdout,
            "docs/configuration.md is exactly what the binary prints (else regenerate it: "
            "medchaind --print-config-reference > docs/configuration.md)", diff[:3000])

    # The keys the reference lists, as "section.key".
    listed = section_keys(p.stdout.splitlines(), r"^## \[([a-z]+)\]$", r"^\| `([a-z_]+)` \|")
    t.check(len(listed) >= 25 and {"node.id", "api.listen", "raft.join", "fhir.token"} <= listed,
            f"the reference lists every section's keys ({len(listed)})", sorted(listed))

    # Each key of a config `medchain init` writes is in the reference.
    with tempfile.TemporaryDirectory(prefix="medchain-cfgref-") as tmp:
        net = os.path.join(tmp, "net")
        r = mcutil.run_cli(args.bin_dir, ["init", "--dir", net, "--fast-kdf", "--raft",
                                          "--nodes", "3", "--base-port", "7070"],
                           passphrase="pw")
        t.check(r.returncode == 0, "medchain init --raft writes a network", r.stderr[-400:])
        with open(os.path.join(net, "node1", "medchaind.toml")) as f:
            written = section_keys(f, r"^\[([a-z]+)\]", r"^([a-z_]+) = ")
        t.check(written and written <= listed,
                "every key of init's config is in the reference", sorted(written - listed))
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
