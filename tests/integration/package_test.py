#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""The Debian package (cmake/Packaging.cmake, packaging/): built, inspected,
unpacked into a scratch root and run from there.

cpack packs the binaries of the build under test (nothing is rebuilt) into a
scratch folder. The .deb's control fields (Depends computed from the
binaries' shared libraries: every library they link belongs to a package it
names, and apt would install it on this machine), its files (both binaries
stripped in /usr/bin, the systemd unit, gzipped man pages) and its maintainer
scripts are checked. The scripts run for real (postinst twice, as a
reinstall does; prerm; postrm remove and purge) in a mount namespace whose
/etc and /var are overlays, so the machine is untouched. The unit carries
the hardening directives, passes `systemd-analyze verify` against the
unpacked root (ExecStart= and the man pages of Documentation= resolve there)
and `systemd-analyze security` rates it OK. Each man page renders without
warnings and names every option and command of its binary's --help. Then a
network made by the unpacked `medchain init` is laid out as
docs/operations.md tells an operator (ROOT/etc/medchain,
ROOT/var/lib/medchain), passes the unpacked `medchaind --check-config`, and
the unpacked medchaind serves /v1/healthz, stops on SIGTERM with exit 0, and
leaves a chain `medchain verify` accepts.

A tool it needs that is missing (cpack, dpkg-deb, dpkg-shlibdeps, file,
systemd-analyze, man, apt-get, readelf, ldd, unshare; and root, for the
mount namespace) fails the test, naming the Debian package
(scripts/setup.sh installs them all).

Usage: package_test.py --bin-dir BUILD/bin
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import mcutil

# tool -> the Debian package that has it (scripts/setup.sh)
TOOLS = {"cpack": "cmake", "dpkg-deb": "dpkg", "dpkg": "dpkg", "dpkg-query": "dpkg",
         "dpkg-shlibdeps": "dpkg-dev", "file": "file", "systemd-analyze": "systemd",
         "man": "man-db", "apt-get": "apt", "readelf": "binutils", "ldd": "libc-bin",
         "sh": "dash", "unshare": "util-linux"}

UNIT = "usr/lib/systemd/system/medchaind.service"
MAN_PAGES = ["usr/share/man/man1/medchaind.1.gz", "usr/share/man/man1/medchain.1.gz"]
HARDENING = {  # directive -> the value the unit must give it
    "User": "medchain", "ProtectSystem": "strict", "ProtectHome": "yes",
    "NoNewPrivileges": "yes", "PrivateTmp": "yes", "StateDirectory": "medchain",
    "UMask": "0077", "Restart": "on-failure",
    "ExecStart": "/usr/bin/medchaind --config /etc/medchain/medchaind.toml",
}
# A capability the node may keep (a port below 1024); any other is too much.
ALLOWED_CAPS = {"CAP_NET_BIND_SERVICE"}


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(cmd, **kw)


def unit_directives(text):
    """{directive: [values]} of a unit file (comments and sections dropped)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[" or "=" not in line:
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


def render_man(path):
    """(text, warnings) of a man page rendered as plain text."""
    env = dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="")
    p = run(["man", "--warnings=all", "-E", "UTF-8", "-l", path], env=env)
    text = re.sub(r".\x08", "", p.stdout)  # overstrike bold/underline
    return text, p.stderr.strip()


def help_options(text):
    return sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text)))


def help_subcommands(text):
    part = text.split("Subcommands:", 1)[1] if "Subcommands:" in text else ""
    return re.findall(r"^  ([a-z][a-z-]*) ", part.split("\n\n")[0], re.M)


def packaged_deps(deb):
    """Package names of the .deb's Depends (alternatives included)."""
    depends = run(["dpkg-deb", "-f", deb, "Depends"]).stdout
    return {re.split(r"[\s(:]", alt.strip())[0]
            for dep in depends.split(",") for alt in dep.split("|") if alt.strip()}


def needed_library_packages(binary):
    """{soname: owning Debian package, or None} of the libraries `binary`
    links directly (its NEEDED entries: what dpkg-shlibdeps computes Depends
    from; their own dependencies come with their packages)."""
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        run(["readelf", "-d", binary]).stdout)
    found = dict(re.findall(r"^\s*(\S+) => (/\S+)", run(["ldd", binary]).stdout, re.M))
    paths = {}
    for soname in needed:
        path = found.get(soname)
        if path:
            # merged /usr: dpkg may know /lib/x when the loader found /usr/lib/x, or the
            # symlink rather than the file it names
            real = os.path.realpath(path)
            paths[soname] = {path, real} | {re.sub(r"^/usr/lib/", "/lib/", x) for x in (path, real)}
    owner_of = {}
    query = sorted(set().union(*paths.values())) if paths else []
    for line in run(["dpkg", "-S"] + query).stdout.splitlines():
        pkg, _, path = line.partition(": ")
        owner_of[path.strip()] = pkg.split(":", 1)[0].strip()
    return {soname: next((owner_of[x] for x in sorted(paths.get(soname, ())) if x in owner_of),
                         None) for soname in needed}


def provided_names(packages):
    """{package: {its name and every name it Provides}} of installed packages
    (a Depends on a provided name is met by the package providing it)."""
    out = {pkg: {pkg} for pkg in packages}
    p = run(["dpkg-query", "-W", "-f=${Package}\t${Provides}\n"] + sorted(packages))
    for line in p.stdout.splitlines():
        pkg, _, provides = line.partition("\t")
        if pkg in out:
            out[pkg] |= {re.split(r"[\s(]", x.strip())[0] for x in provides.split(",") if x.strip()}
    return out


def lay_out_node(t, root, net):
    """Puts init's node-1 where the package's unit expects it:
    ROOT/etc/medchain/{medchaind.toml,node.key,genesis.json,passphrase},
    data in ROOT/var/lib/medchain. Returns the config's path."""
    etc = os.path.join(root, "etc", "medchain")
    data = os.path.join(root, "var", "lib", "medchain")
    os.makedirs(etc, mode=0o750)
    os.makedirs(data, mode=0o700)
    shutil.copy(os.path.join(net, "keys", "node-1.key"), os.path.join(etc, "node.key"))
    shutil.copy(os.path.join(net, "genesis.json"), os.path.join(etc, "genesis.json"))
    shutil.copy(os.path.join(net, "passphrase"), os.path.join(etc, "passphrase"))
    with open(os.path.join(net, "node1", "medchaind.toml")) as f:
        text = f.read()
    replacements = {"data_dir": data, "key_file": "node.key", "genesis": "genesis.json",
                    "passphrase_file": "passphrase"}
    section = None
    lines = []
    for line in text.splitlines():
        m = re.match(r"^\[([a-z]+)\]", line)
        if m:
            section = m.group(1)
        k = line.split(" = ", 1)[0]
        if section == "node" and k in replacements:
            line = f'{k} = "{replacements[k]}"'
        elif section == "fhir" and k == "key_file":
            continue  # the facade stays off: no organisation key on the node's host
        lines.append(line)
    config = os.path.join(etc, "medchaind.toml")
    with open(config, "w") as f:
        f.write("\n".join(lines) + "\n")
    t.check(f'data_dir = "{data}"' in "\n".join(lines), "config points node.data_dir at "
            "ROOT/var/lib/medchain")
    return config, data


# Runs in a private mount namespace whose /etc and /var are overlays on
# folders of the test (writes land there, the machine's files stay as they
# were) and whose /run is empty (no systemd to talk to): the maintainer
# scripts run for real (useradd, groupadd, mkdir, chown) without touching
# the host. Prints "name value" lines.
SCRIPTS_IN_NAMESPACE = r"""
set -e
mount -t overlay overlay -o lowerdir=/etc,upperdir="$S/etc-up",workdir="$S/etc-work" /etc
mount -t overlay overlay -o lowerdir=/var,upperdir="$S/var-up",workdir="$S/var-work" /var
mount -t tmpfs tmpfs /run
report() { echo "$1 $2"; }
sh -e "$C/postinst" configure ""
report user "$(getent passwd medchain | cut -d: -f3,6,7)"
report system_uid_max "$(awk '$1 == "SYS_UID_MAX" {print $2}' /etc/login.defs)"
report group "$(getent group medchain | cut -d: -f1)"
report etc "$(stat -c '%U:%G %a' /etc/medchain)"
report var "$(stat -c '%U:%G %a' /var/lib/medchain)"
echo 'operator edit' > /etc/medchain/medchaind.toml
chmod 0640 /etc/medchain/medchaind.toml
sh -e "$C/postinst" configure 0.1.0
report reinstall_users "$(getent passwd | grep -c '^medchain:')"
report reinstall_user "$(getent passwd medchain | cut -d: -f3,6,7)"
report reinstall_config "$(cat /etc/medchain/medchaind.toml)"
sh -e "$C/prerm" remove
sh -e "$C/postrm" remove
sh -e "$C/postrm" purge
report purge_config "$(cat /etc/medchain/medchaind.toml)"
rm /etc/medchain/medchaind.toml
sh -e "$C/postrm" purge
report purge_empty_etc "$(test -d /etc/medchain && echo kept || echo removed)"
report purge_var "$(test -d /var/lib/medchain && echo kept || echo removed)"
report purge_user "$(getent passwd medchain >/dev/null && echo kept || echo removed)"
"""


def maintainer_scripts(t, controls, scratch):
    """postinst twice (install, then a reinstall), prerm and postrm, run
    for real in a mount namespace (SCRIPTS_IN_NAMESPACE)."""
    if not t.check(os.geteuid() == 0 and shutil.which("unshare"),
                   "root and unshare (util-linux) to run the maintainer scripts in a "
                   "mount namespace", f"euid {os.geteuid()}, unshare {shutil.which('unshare')}"):
        return
    ns = os.path.join(scratch, "ns")
    for d in ("etc-up", "etc-work", "var-up", "var-work"):
        os.makedirs(os.path.join(ns, d))
    p = run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
             SCRIPTS_IN_NAMESPACE], env=dict(os.environ, S=ns, C=controls))
    got = dict(line.split(" ", 1) if " " in line else (line, "")
               for line in p.stdout.splitlines())
    if not t.check(p.returncode == 0, "postinst, prerm and postrm run in a mount namespace",
                   p.stdout + p.stderr):
        return
    uid, _, rest = got.get("user", "").partition(":")
    t.check(uid.isdigit() and int(uid) <= int(got.get("system_uid_max") or 999) and
            rest == "/var/lib/medchain:/usr/sbin/nologin",
            "postinst: medchain is a system user (uid <= SYS_UID_MAX), home /var/lib/medchain, "
            "no login", got.get("user"))
    t.check(got.get("group") == "medchain", "postinst: the medchain group exists")
    t.check(got.get("etc") == "root:medchain 750", "postinst: /etc/medchain root:medchain 0750",
            got.get("etc"))
    t.check(got.get("var") == "medchain:medchain 700",
            "postinst: /var/lib/medchain medchain:medchain 0700", got.get("var"))
    t.check(got.get("reinstall_users") == "1" and got.get("reinstall_user") == got.get("user"),
            "postinst again (reinstall): succeeds, same single medchain user",
            (got.get("reinstall_users"), got.get("reinstall_user")))
    t.check(got.get("reinstall_config") == "operator edit",
            "postinst again leaves the operator's config as it was")
    t.check(got.get("purge_config") == "operator edit",
            "prerm remove, postrm remove and purge keep a configured /etc/medchain")
    t.check(got.get("purge_empty_etc") == "removed", "postrm purge removes an empty /etc/medchain")
    t.check(got.get("purge_var") == "kept" and got.get("purge_user") == "kept",
            "postrm purge keeps /var/lib/medchain (the ledger) and the medchain user",
            (got.get("purge_var"), got.get("purge_user")))


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("package")
    started = time.monotonic()

    missing = [f"{tool} (Debian package {pkg})" for tool, pkg in TOOLS.items()
               if shutil.which(tool) is None]
    if not t.check(not missing, "the tools the test needs are installed",
                   "missing: " + ", ".join(missing) + "; run scripts/setup.sh"):
        return t.finish()
    build_dir = os.path.dirname(os.path.abspath(args.bin_dir))
    cpack_config = os.path.join(build_dir, "CPackConfig.cmake")
    if not t.check(os.path.isfile(cpack_config), f"{cpack_config} exists (cmake/Packaging.cmake)"):
        return t.finish()

    scratch = tempfile.mkdtemp(prefix="medchain-package-")
    node = None
    try:
        t.section("cpack")
        out = os.path.join(scratch, "out")
        t0 = time.monotonic()
        p = run(["cpack", "--config", cpack_config, "-B", out], timeout=300)
        print(f"cpack took {time.monotonic() - t0:.1f} s", flush=True)
        debs = [f for f in os.listdir(out) if f.endswith(".deb")] if os.path.isdir(out) else []
        if not t.check(p.returncode == 0 and len(debs) == 1, "cpack writes one .deb",
                       (p.stdout + p.stderr)[-2000:]):
            return t.finish()
        deb = os.path.join(out, debs[0])

        version = run([os.path.join(args.bin_dir, "medchaind"), "--version"]).stdout.split()
        cli_version = run([os.path.join(args.bin_dir, "medchain"), "--version"]).stdout.split()
        field = lambda name: run(["dpkg-deb", "-f", deb, name]).stdout.strip()  # noqa: E731
        t.check(field("Package") == "medchain", "Package: medchain", field("Package"))
        t.check(version[-1:] == [field("Version")] and cli_version[-1:] == [field("Version")],
                "Version is what medchaind --version and medchain --version print",
                (field("Version"), version, cli_version))
        t.check(debs[0] == f"medchain_{field('Version')}_{field('Architecture')}.deb",
                "file name is medchain_VERSION_ARCH.deb", debs[0])
        deps = packaged_deps(deb)
        print(f"Depends: {field('Depends')}", flush=True)
        t.check({"libc6", "libsodium23", "passwd"} <= deps and any(
            d.startswith("librocksdb") for d in deps),
            "Depends names libc6, libsodium23, librocksdb*, passwd (shlibdeps ran)", deps)

        t.section("dpkg-deb -I / -c")
        info = run(["dpkg-deb", "-I", deb]).stdout
        for script in ("postinst", "prerm", "postrm"):
            t.check(re.search(rf"^\s+\d+ bytes,\s+\d+ lines\s+\*\s+{script}\s+#!/bin/sh", info,
                              re.M), f"control holds an executable {script} (#!/bin/sh)", info)
        listing = run(["dpkg-deb", "-c", deb]).stdout
        entries = {}
        for line in listing.splitlines():
            parts = line.split()
            entries[parts[-1].lstrip("./")] = parts[0]
        for binary in ("usr/bin/medchaind", "usr/bin/medchain"):
            t.check(entries.get(binary, "").startswith("-rwxr-xr-x"), f"{binary} 0755",
                    entries.get(binary))
        t.check(entries.get(UNIT, "").startswith("-rw-r--r--"), f"{UNIT} 0644")
        for page in MAN_PAGES:
            t.check(page in entries, f"{page} packaged")
        owners = {line.split()[1] for line in listing.splitlines()}
        t.check(owners == {"root/root"}, "every file is owned by root/root", owners)

        controls = os.path.join(scratch, "control")
        run(["dpkg-deb", "-e", deb, controls], check=True)
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(controls, script)
            p = run(["sh", "-n", path])
            t.check(p.returncode == 0, f"{script} parses (sh -n)", p.stderr)
        t.section("maintainer scripts, run in a mount namespace")
        maintainer_scripts(t, controls, scratch)

        t.section("dpkg -x and the unit")
        root = os.path.join(scratch, "root")
        p = run(["dpkg", "-x", deb, root])
        t.check(p.returncode == 0, "dpkg -x unpacks the package", p.stderr)
        bindir = os.path.join(root, "usr", "bin")
        for binary in ("medchaind", "medchain"):
            desc = run(["file", "-b", os.path.join(bindir, binary)]).stdout
            t.check("ELF" in desc and ", stripped" in desc, f"{binary} is a stripped ELF", desc)
        with open(os.path.join(root, UNIT)) as f:
            unit = unit_directives(f.read())
        for key, value in HARDENING.items():
            t.check(unit.get(key) == [value], f"unit: {key}={value}", unit.get(key))
        caps = unit.get("CapabilityBoundingSet")
        t.check(caps is not None and set(" ".join(caps).split()) <= ALLOWED_CAPS,
                "unit: CapabilityBoundingSet keeps no capability but CAP_NET_BIND_SERVICE", caps)

        env = dict(os.environ, MANPATH=os.path.join(root, "usr", "share", "man"))
        p = run(["systemd-analyze", "verify", "--recursive-errors=no", f"--root={root}",
                 "medchaind.service"], env=env)
        t.check(p.returncode == 0 and not p.stderr.strip(),
                "systemd-analyze verify: the unit parses, ExecStart and its man pages resolve "
                "in the unpacked root", p.stdout + p.stderr)
        p = run(["systemd-analyze", "security", "--offline=yes", f"--root={root}",
                 "medchaind.service"])
        m = re.search(r"Overall exposure level for medchaind\.service: ([\d.]+) (\w+)", p.stdout)
        print(m.group(0) if m else p.stdout[-500:] + p.stderr, flush=True)
        t.check(m and float(m.group(1)) <= 2.0, "systemd-analyze security: exposure 2.0 or less",
                m and m.group(0))

        t.section("man pages and --help")
        for page, binary in zip(MAN_PAGES, ("medchaind", "medchain")):
            text, warnings = render_man(os.path.join(root, page))
            t.check(not warnings and "NAME" in text and "EXIT STATUS" in text,
                    f"{page} renders without warnings (NAME, EXIT STATUS)", warnings)
            helped = run([os.path.join(bindir, binary), "--help"]).stdout
            t.check("Exit status" in helped and "Environment" in helped,
                    f"{binary} --help tells exit status and environment", helped[-600:])
            words = help_options(helped) + help_subcommands(helped)
            absent = [w for w in words if not re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])",
                                                        text)]
            t.check(len(words) > 3 and not absent,
                    f"{page} names each option and command of {binary} --help ({len(words)})",
                    absent)

        t.section("shared libraries and apt")
        deps = packaged_deps(deb)
        for binary in ("medchaind", "medchain"):
            libs = needed_library_packages(os.path.join(bindir, binary))
            unowned = [lib for lib, pkg in libs.items() if pkg is None]
            names = provided_names({pkg for pkg in libs.values() if pkg})
            undeclared = {lib: pkg for lib, pkg in libs.items()
                          if pkg is not None and not names[pkg] & deps}
            t.check(libs and not unowned and not undeclared,
                    f"every library {binary} links ({len(libs)}) is in a package of Depends",
                    {"unowned": unowned, "undeclared": undeclared})
        p = run(["apt-get", "install", "--simulate", "--no-install-recommends", deb],
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        t.check(p.returncode == 0 and re.search(r"^Inst medchain ", p.stdout, re.M),
                "apt-get install --simulate resolves the package's dependencies",
                (p.stdout + p.stderr)[-1500:])

        t.section("a node from the unpacked package")
        net = os.path.join(scratch, "net")
        p = mcutil.run_cli(bindir, ["init", "--dir", net, "--orgs", "st-mary", "--nodes", "1",
                                    "--fast-kdf", "--base-port", str(mcutil.free_port()),
                                    "--raft-base-port", str(mcutil.free_port())],
                           passphrase="package-test")
        if not t.check(p.returncode == 0, "unpacked medchain init makes a network", p.stderr):
            return t.finish()
        config, data = lay_out_node(t, root, net)
        p = run([os.path.join(bindir, "medchaind"), "--check-config", config])
        t.check(p.returncode == 0 and p.stdout.startswith("ok:"),
                "unpacked medchaind --check-config accepts the /etc/medchain layout",
                p.stdout + p.stderr)
        node = mcutil.ConfigNode(bindir, config, os.path.dirname(config))
        node.start()
        t.check(True, f"unpacked medchaind serves /v1/healthz 200 on port {node.port}")
        info = node.get_json("/v1/node")
        t.check(info.get("id", info.get("node_id")) == "node-1" or "node-1" in str(info),
                "GET /v1/node names node-1", info)
        p = mcutil.run_cli(bindir, ["block", "0", "--node", node.url])
        t.check(p.returncode == 0, "unpacked medchain block 0 reads the genesis block", p.stderr)
        rc = node.stop()
        t.check(rc == 0, "SIGTERM stops it with exit 0", rc)
        t.check(os.path.isdir(os.path.join(data, "ledger")),
                "its ledger is in ROOT/var/lib/medchain/ledger")
        p = mcutil.run_cli(bindir, ["verify", "--data-dir", data])
        t.check(p.returncode == 0, "unpacked medchain verify accepts the chain",
                p.stdout + p.stderr)
    except Exception:
        if node is not None:
            print("medchaind log (last lines):\n" + node.log_tail(), flush=True)
        raise
    finally:
        if node is not None:
            node.cleanup()
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
        print(f"package test took {time.monotonic() - started:.1f} s", flush=True)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
