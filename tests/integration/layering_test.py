#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""scripts/check_layering.py: the tree follows the module arrows of
src/CMakeLists.txt, and a deliberately wrong include in src/ledger (RocksDB,
the HTTP server, the store's header, the API's private header) is caught,
each named with its file and line.

Usage: layering_test.py --bin-dir BUILD/bin --testdata PATH
"""
import os
import shutil
import subprocess
import sys
import tempfile

import mcutil

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(REPO, "scripts", "check_layering.py")


def run(root):
    return subprocess.run([sys.executable, SCRIPT, "--root", root], capture_output=True, text=True,
                          timeout=120)


def main():
    mcutil.parse_args(__doc__)
    t = mcutil.Checker("layering")
    p = run(REPO)
    t.check(p.returncode == 0, "the tree follows the module arrows", p.stdout + p.stderr)

    tmp = tempfile.mkdtemp(prefix="medchain-layering-")
    try:
        # A copy of the tree's sources with one bad file added to the ledger.
        for d in ("src", "include"):
            shutil.copytree(os.path.join(REPO, d), os.path.join(tmp, d))
        bad = os.path.join(tmp, "src", "ledger", "wrong_arrow.cpp")
        with open(bad, "w") as f:
            f.write('#include "medchain/ledger/state.h"\n'   # its own module: fine
                    '#include "medchain/crypto/ed25519.h"\n'  # a dependency: fine
                    "#include <nlohmann/json.hpp>\n"            # linked through mc_crypto: fine
                    "#include <rocksdb/db.h>\n"                 # line 4
                    "#include <httplib.h>\n"                    # line 5
                    '#include "medchain/store/store.h"\n'     # line 6
                    '#include "api/fhir_facade.h"\n')          # line 7
        p = run(tmp)
        out = p.stdout
        t.check(p.returncode == 1, "a wrong include in src/ledger fails the check", out + p.stderr)
        for line, what in [(4, "<rocksdb/db.h>"), (5, "<httplib.h>"),
                           (6, '"medchain/store/store.h"'), (7, '"api/fhir_facade.h"')]:
            t.check(f"src/ledger/wrong_arrow.cpp:{line}: module ledger includes {what}" in out,
                    f"... naming {what} at line {line}", out)
        t.check(out.count("wrong_arrow.cpp") == 4, "... and nothing the ledger may include", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
