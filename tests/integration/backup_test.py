#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""Online backup and restore of a running `medchaind --dev` (docs/operations.md).

`medchain bench submit` keeps writing while `medchain backup --node` asks the
node for a backup (POST /v1/admin/backup, signed by the admin key). The backup
must check (`medchain backup --check`) and verify (`medchain verify`); its tip
must be at least the tip when the backup started; the node must keep
committing during and after it. Unsigned, badly signed and non-admin requests
get 401/403 and leave no backup behind. `medchain restore` refuses a non-empty
folder and a damaged backup; a restored node starts, serves the backup's tip,
and its chain is a prefix of the original's.

Usage: backup_test.py --bin-dir BUILD/bin
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import mcutil


def backups_made(node):
    d = os.path.join(node.node_dir, "backups")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def block_hashes(url, top):
    """Header hashes of blocks 0..top, by height."""
    out = {}
    h = 0
    while h <= top:
        r = mcutil.request("GET", f"{url}/v1/blocks?from={h}&limit=1000")
        blocks = r.json()["blocks"]
        if not blocks:
            break
        for b in blocks:
            if b["height"] <= top:
                out[b["height"]] = b["hash"]
        h = blocks[-1]["height"] + 1
    return out


def main():
    args = mcutil.parse_args()
    t = mcutil.Checker("backup")
    work = tempfile.mkdtemp(prefix="medchain-backup-")
    bench = None
    restored = None
    try:
        with mcutil.DevNode(args.bin_dir, keep=args.keep) as node:
            t.section("refused requests make nothing")
            r = mcutil.request("POST", node.url + "/v1/admin/backup", b"")
            t.check(r.status == 401, "an unsigned backup request is 401", r)
            r = mcutil.request("POST", node.url + "/v1/admin/backup", b"", headers={
                "X-Medchain-Signer": "admin", "X-Medchain-Time": str(int(time.time() * 1000)),
                "X-Medchain-Signature": "00" * 64})
            t.check(r.status == 401, "a backup request with a bad signature is 401", r)
            p = mcutil.run_cli(args.bin_dir, ["backup", "--node", node.url, "--key",
                                              node.key("dev-hospital")],
                               passphrase=mcutil.DEV_PASSPHRASE)
            t.check(p.returncode == 1 and "403" in p.stderr,
                    "a backup signed by an organisation (not an admin) is 403",
                    p.stderr.strip())
            t.check(backups_made(node) == [], "no refused request left a backup",
                    backups_made(node))

            t.section("backup while writes go on")
            ack_file = os.path.join(work, "acks")
            bench_log = open(os.path.join(work, "bench.log"), "w")
            bench = subprocess.Popen(
                [os.path.join(args.bin_dir, "medchain"), "bench", "submit", "--node", node.url,
                 "--txs", "200000", "--concurrency", "4", "--ack-file", ack_file,
                 "--retry-for", "60"],
                stdout=bench_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

            def acks():
                try:
                    with open(ack_file) as f:
                        return f.read().count("\n")
                except FileNotFoundError:
                    return 0

            mcutil.wait_for(lambda: acks() >= 500 or bench.poll() is not None, 120,
                            "500 acknowledged transactions")
            height_at_start, _ = node.tip()
            acks_at_start = acks()
            out = os.path.join(work, "b1")
            p = mcutil.run_cli(args.bin_dir, ["backup", "--node", node.url, "--key",
                                              node.key("admin"), "--out", out],
                               passphrase=mcutil.DEV_PASSPHRASE, timeout=600)
            print(p.stderr.strip()[-2000:], flush=True)
            t.check(p.returncode == 0 and p.stdout.startswith("ok: backup "),
                    "medchain backup --node --out says ok", p.stdout + p.stderr[-800:])
            t.check("copying:" in p.stderr and "files" in p.stderr and "MB" in p.stderr,
                    "backup printed progress (files and bytes)", p.stderr[-400:])
            t.check(bench.poll() is None, "the writer was still running after the backup")
            mcutil.wait_for(lambda: acks() > acks_at_start + 200, 60,
                            "writes to go on after the backup")
            t.check(True, "writes went on after the backup")
            node_backups = backups_made(node)
            t.check(len(node_backups) == 1, "the node wrote one backup in its backup.dir",
                    node_backups)
            with open(os.path.join(out, "backup.json")) as f:
                manifest = json.load(f)
            t.check(manifest["height"] >= height_at_start,
                    f"the backup's tip ({manifest['height']}) >= the tip when it began "
                    f"({height_at_start})")
            names = {f["path"] for f in manifest["files"]}
            t.check("genesis.json" in names and "medchaind.toml" in names and
                    any(n.startswith("ledger/") for n in names),
                    "the backup holds the ledger, the genesis and the config", sorted(names))
            t.check(not any(n.endswith(".key") or "passphrase" in n for n in names),
                    "the backup holds no key file or passphrase file", sorted(names))
            with open(os.path.join(out, "medchaind.toml")) as f:
                cfg = f.read()
            t.check("passphrase =" not in cfg and mcutil.DEV_PASSPHRASE + '"' not in cfg and
                    "token =" not in cfg,
                    "the backed-up config has no passphrase and no bearer token", cfg)

            t.section("the backup checks and verifies")
            v = mcutil.run_cli(args.bin_dir, ["verify", "--data-dir", out], timeout=600)
            t.check(v.returncode == 0 and v.stdout.startswith("ok:"),
                    "medchain verify passes on the backup", v.stdout + v.stderr)
            c = mcutil.run_cli(args.bin_dir, ["backup", "--check", out], timeout=600)
            t.check(c.returncode == 0 and c.stdout.startswith("ok: check"),
                    "medchain backup --check passes", c.stdout + c.stderr)

            t.section("restore")
            taken = os.path.join(work, "taken")
            os.makedirs(taken)
            with open(os.path.join(taken, "precious"), "w") as f:
                f.write("keep")
            p = mcutil.run_cli(args.bin_dir, ["restore", "--from", out, "--data-dir", taken])
            t.check(p.returncode != 0 and "not empty" in p.stderr,
                    "restore refuses a non-empty folder", p.stderr.strip())
            t.check(sorted(os.listdir(taken)) == ["precious"],
                    "the non-empty folder is untouched", os.listdir(taken))

            damaged = os.path.join(work, "damaged")
            shutil.copytree(out, damaged)
            victim = max((f for f in manifest["files"] if f["path"].endswith(".sst")),
                         key=lambda f: f["size"], default=manifest["files"][0])
            with open(os.path.join(damaged, victim["path"]), "r+b") as f:
                f.seek(victim["size"] // 2)
                b = f.read(1)
                f.seek(victim["size"] // 2)
                f.write(bytes([b[0] ^ 0x01]))
            p = mcutil.run_cli(args.bin_dir, ["restore", "--from", damaged, "--data-dir",
                                              os.path.join(work, "from-damaged")])
            t.check(p.returncode != 0 and "damaged" in p.stderr,
                    "restore refuses a backup with a flipped byte", p.stderr.strip())
            t.check(not os.path.exists(os.path.join(work, "from-damaged")),
                    "a refused restore leaves no folder behind")

            new_dir = os.path.join(work, "restored")
            port = mcutil.free_port()
            p = mcutil.run_cli(args.bin_dir, [
                "restore", "--from", out, "--data-dir", new_dir,
                "--listen", f"127.0.0.1:{port}",
                "--passphrase-file", os.path.join(node.data_dir, "passphrase")], timeout=600)
            t.check(p.returncode == 0 and p.stdout.startswith("ok: restore "),
                    "medchain restore says ok", p.stdout + p.stderr[-800:])

            bench.terminate()
            bench.wait(30)
            bench_log.close()

            restored = mcutil.ConfigNode(args.bin_dir, os.path.join(new_dir, "medchaind.toml"),
                                         work)
            restored.start()
            rh, _ = restored.tip()
            t.check(rh == manifest["height"] and rh >= height_at_start,
                    f"the restored node serves the backup's tip (height {rh})")
            oh, _ = node.tip()
            t.check(oh > rh, f"the original went on past the backup (height {oh} > {rh})")
            mine = block_hashes(restored.url, rh)
            theirs = block_hashes(node.url, rh)
            t.check(len(mine) == rh + 1 and mine == theirs,
                    "the restored chain is a prefix of the original's (every block hash)")
            restored.stop()
            v = mcutil.run_cli(args.bin_dir, ["verify", "--data-dir", new_dir], timeout=600)
            t.check(v.returncode == 0, "medchain verify passes on the restored folder",
                    v.stdout + v.stderr)
    finally:
        if bench and bench.poll() is None:
            bench.kill()
            bench.wait()
        if restored:
            restored.cleanup()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
