#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/.

The seeds are real inputs, not made by hand: a dev node is started and
`medchain demo` fills it (registrations, records, grants, reads, erasure,
break-glass); its blocks, transactions, proposals, Raft frames and JSON forms
are dumped by fuzz_make_seeds; its signed checkpoint and key files are taken
as they are; FHIR resources and bundles, the sigstore checkpoint and RFC 6962
proofs come from ../shared/testdata. Files are named by content, so running
this again only adds what is new.

Usage: fuzz/make_corpus.py --bin-dir BUILD/bin --testdata PATH
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import mcutil  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha256(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def rfc6962_seeds():
    """Inclusion proofs of a real 7-leaf tree, in the merkle target's layout."""
    def leaf(b):
        return hashlib.sha256(b"\x00" + b).digest()

    def node(a, b):
        return hashlib.sha256(b"\x01" + a + b).digest()

    def root(hs):
        if len(hs) == 1:
            return hs[0]
        k = 1
        while k * 2 < len(hs):
            k *= 2
        return node(root(hs[:k]), root(hs[k:]))

    def path(i, hs):
        if len(hs) == 1:
            return []
        k = 1
        while k * 2 < len(hs):
            k *= 2
        if i < k:
            return path(i, hs[:k]) + [root(hs[k:])]
        return path(i - k, hs[k:]) + [root(hs[:k])]

    hs = [leaf(bytes([i])) for i in range(7)]
    r = root(hs)
    for i in range(7):
        put("merkle", i.to_bytes(8, "big") + (7).to_bytes(8, "big") + hs[i] + r +
            b"".join(path(i, hs)))


def main():
    args = mcutil.parse_args(__doc__)
    with mcutil.DevNode(args.bin_dir) as node:
        p = mcutil.run_cli(args.bin_dir, ["demo", "--node", node.url, "--dir", node.data_dir,
                                          "--examples", os.path.join(args.testdata, "fhir",
                                                                     "examples")])
        if p.returncode != 0:
            sys.exit("medchain demo failed:\n" + p.stdout + p.stderr)
        put("signed_note", node.get("/v1/checkpoint").body)
        for name in sorted(os.listdir(os.path.join(node.data_dir, "keys")))[:3]:
            with open(os.path.join(node.data_dir, "keys", name), "rb") as f:
                put("keyfile", f.read())
        node.stop()
        out = os.path.join(node.data_dir, "seeds")
        subprocess.run([os.path.join(args.bin_dir, "fuzz_make_seeds"), node.node_dir, out],
                       check=True)
        for target in os.listdir(out):
            for name in os.listdir(os.path.join(out, target)):
                with open(os.path.join(out, target, name), "rb") as f:
                    put(target, f.read())
    with open(os.path.join(args.testdata, "crypto", "signed_checkpoints_ed25519.json")) as f:
        for c in json.load(f)["checkpoints"]:
            put("signed_note", c["note_text"] + "\n" + c["signature_line"] + "\n")
            put("signed_note", c["note_text"])
    ex = os.path.join(args.testdata, "fhir", "examples")
    for name in sorted(os.listdir(ex)):
        path = os.path.join(ex, name)
        if os.path.isfile(path) and os.path.getsize(path) < 64 * 1024:
            with open(path, "rb") as f:
                put("fhir", f.read())
    syn = os.path.join(args.testdata, "fhir", "synthea")
    for name in sorted(os.listdir(syn), key=lambda n: os.path.getsize(os.path.join(syn, n)))[:2]:
        with open(os.path.join(syn, name), "rb") as f:
            put("fhir", f.read())
    rfc6962_seeds()
    put("state", b"\x00")
    for target in sorted(os.listdir(CORPUS)):
        print(f"{target}: {len(os.listdir(os.path.join(CORPUS, target)))} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
