#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""medchain keygen / keyinfo driven as a user would: exit codes, file mode,
refusal to overwrite, and that only public keys are ever printed."""
import argparse
import json
import os
import re
import stat
import subprocess
import sys
import tempfile


def run(medchain, args, passphrase=None):
    env = {k: v for k, v in os.environ.items() if k != "MEDCHAIN_PASSPHRASE"}
    if passphrase is not None:
        env["MEDCHAIN_PASSPHRASE"] = passphrase
    p = subprocess.run([medchain] + args, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120)
    print(f"$ medchain {' '.join(args)} -> {p.returncode}")
    return p


def field(output, name):
    m = re.search(rf"^{name}:\s+(\S+)$", output, re.M)
    assert m, f"no '{name}' in output:\n{output}"
    return m.group(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--testdata", required=False)
    a = ap.parse_args()
    medchain = os.path.join(a.bin_dir, "medchain")
    failures = 0
    passes = 0

    def check(cond, what):
        nonlocal failures, passes
        print(("ok   " if cond else "FAIL ") + what)
        if cond:
            passes += 1
        else:
            failures += 1

    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "clinic.key")
        p = run(medchain, ["keygen", "--out", key, "--label", "Clinic 7", "--fast-kdf"], "s3cret pass")
        check(p.returncode == 0, "keygen succeeds")
        spk = field(p.stdout, "signing public key")
        epk = field(p.stdout, "encryption public key")
        check(re.fullmatch(r"[0-9a-f]{64}", spk) is not None, "signing key printed as hex")
        check(stat.S_IMODE(os.stat(key).st_mode) == 0o600, "key file mode is 0600")
        doc = json.load(open(key))
        check(doc["signing_public_key"] == spk and doc["encryption_public_key"] == epk,
              "printed keys are the file's public keys")
        check(doc["label"] == "Clinic 7", "label stored")
        # Nothing but the two public keys (and the label) is printed: no 64-hex
        # string other than them appears in the output.
        printed = set(re.findall(r"[0-9a-f]{64}", p.stdout + p.stderr))
        check(printed == {spk, epk}, "no other key material printed")

        p = run(medchain, ["keyinfo", "--key", key])
        check(p.returncode == 0, "keyinfo succeeds without passphrase")
        check(field(p.stdout, "signing public key") == spk, "keyinfo shows the signing key")
        check(field(p.stdout, "encryption public key") == epk, "keyinfo shows the encryption key")

        p = run(medchain, ["keygen", "--out", key, "--fast-kdf"], "other")
        check(p.returncode == 1, "refuses to overwrite without --force")
        check(json.load(open(key))["signing_public_key"] == spk, "existing file untouched")

        p = run(medchain, ["keygen", "--out", key, "--fast-kdf", "--force"], "other")
        check(p.returncode == 0, "--force replaces")
        check(json.load(open(key))["signing_public_key"] != spk, "new key written")

        p = run(medchain, ["keygen", "--out", os.path.join(d, "x.key"), "--fast-kdf"])
        check(p.returncode == 2, "no passphrase (no terminal, no env) -> exit 2")
        check(not os.path.exists(os.path.join(d, "x.key")), "no file created without passphrase")

        p = run(medchain, ["keygen"], "pw")
        check(p.returncode == 2, "missing --out -> exit 2")

        p = run(medchain, ["keyinfo", "--key", os.path.join(d, "absent.key")])
        check(p.returncode == 2, "keyinfo on a missing file -> exit 2")

        broken = os.path.join(d, "broken.key")
        with open(broken, "w") as f:
            f.write('{"format": "medchain-keyfile", "version": 9}')
        p = run(medchain, ["keyinfo", "--key", broken])
        check(p.returncode == 2 and "unsupported version 9" in p.stderr,
              "unknown version reported clearly")
        check(sorted(os.listdir(d)) == ["broken.key", "clinic.key"], "no temporary files left")

    print(f"{passes} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
