#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""Checks that every #include follows the module arrows of src/CMakeLists.txt.

The build gives every module one include path, so a wrong include (src/ledger
including RocksDB or the HTTP server) would compile and only show up, if at
all, at link time. This check reads the arrows from the one place that
declares them, the `medchain_module(NAME DEPS ...)` lines of src/CMakeLists.txt,
and refuses:
  - "medchain/X/..." (public headers) or "X/..." (a module's private headers)
    from a module that does not depend on X, directly or through its deps;
  - a third-party header (rocksdb/, httplib.h, raft.h, ...) from a module whose
    dependency closure does not link that library.
Files checked: src/<module>/** and include/medchain/<module>/**. src/cli,
src/medchaind.cpp, tests, bench and fuzz may use everything.

Usage: check_layering.py [--root REPO]     exit 0 clean, 1 with one line per offence
"""
import argparse
import os
import re
import sys

# Third-party headers: the prefix of an #include <...> and the CMake target
# whose link makes it legal.
THIRD_PARTY = [
    ("rocksdb/", "RocksDB::rocksdb-shared"),
    ("httplib.h", "PkgConfig::HTTPLIB"),
    ("raft.h", "PkgConfig::RAFT"),
    ("raft/", "PkgConfig::RAFT"),
    ("uv.h", "PkgConfig::UV"),
    ("uv/", "PkgConfig::UV"),
    ("nlohmann/", "nlohmann_json::nlohmann_json"),
    ("spdlog/", "spdlog::spdlog"),
    ("fmt/", "spdlog::spdlog"),
    ("toml++/", "tomlplusplus::tomlplusplus"),
    ("valijson/", "valijson"),
    ("CLI/", "CLI11::CLI11"),
    ("sodium.h", "PkgConfig::SODIUM"),
    ("sodium/", "PkgConfig::SODIUM"),
    ("openssl/", "OpenSSL::Crypto"),
]

MODULE_RE = re.compile(r"^\s*medchain_module\(\s*(\w+)\s+DEPS\s+([^)]*)\)", re.M)
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]', re.M)


def read_arrows(root):
    text = open(os.path.join(root, "src", "CMakeLists.txt")).read()
    deps = {}
    for name, rest in MODULE_RE.findall(text):
        deps[name] = rest.split()
    if not deps:
        sys.exit("check_layering: no medchain_module(...) lines in src/CMakeLists.txt")
    return deps


def closure(deps, module):
    """Modules and third-party targets `module` may use (itself included)."""
    modules, targets, todo = {module}, set(), list(deps[module])
    while todo:
        d = todo.pop()
        if d.startswith("mc_") and d[3:] in deps:
            if d[3:] not in modules:
                modules.add(d[3:])
                todo.extend(deps[d[3:]])
        else:
            targets.add(d)
    return modules, targets


def files_of(root, module):
    for base in (os.path.join(root, "src", module), os.path.join(root, "include", "medchain", module)):
        for dirpath, _, names in os.walk(base):
            for n in sorted(names):
                if n.endswith((".h", ".hpp", ".cpp", ".cc")):
                    yield os.path.join(dirpath, n)


def check(root):
    deps = read_arrows(root)
    offences = []
    for module in sorted(deps):
        modules, targets = closure(deps, module)
        for path in files_of(root, module):
            rel = os.path.relpath(path, root)
            text = open(path, errors="replace").read()
            for line_no, (kind, inc) in ((text.count("\n", 0, m.start()) + 1, m.groups())
                                          for m in INCLUDE_RE.finditer(text)):
                parts = inc.split("/")
                if kind == '"':
                    # "medchain/X/..." public, "X/..." private (X a module).
                    other = parts[1] if parts[0] == "medchain" and len(parts) > 2 else parts[0]
                    if len(parts) > 1 and other in deps and other not in modules:
                        offences.append(f"{rel}:{line_no}: module {module} includes \"{inc}\" "
                                        f"but does not depend on mc_{other} (src/CMakeLists.txt)")
                    continue
                for prefix, target in THIRD_PARTY:
                    if inc == prefix or (prefix.endswith("/") and inc.startswith(prefix)):
                        if target not in targets:
                            offences.append(f"{rel}:{line_no}: module {module} includes <{inc}> "
                                            f"but does not link {target} (src/CMakeLists.txt)")
                        break
    return offences


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    root = os.path.abspath(ap.parse_args().root)
    offences = check(root)
    for o in offences:
        print(o)
    if offences:
        print(f"check_layering: {len(offences)} include(s) against the module arrows", file=sys.stderr)
        return 1
    print("check_layering: every include follows the module arrows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
