#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""`medchain audit-cluster`: consistent nodes pass; a fork is proven.

- Three honest nodes: every node's checkpoint verifies with its registered
  key and the logs are consistent (exit 0). Under load, with the nodes at
  different sizes, consistency proofs link them (exit 0).
- An unreachable URL: exit 2.
- A fork: node-1's key is used by a second, rogue medchaind that orders
  blocks alone from the same genesis (a node operator that equivocates).
  Once it has signed a checkpoint of exactly the cluster's log size with a
  different root, audit-cluster reports FORK, prints both signed notes as
  evidence and exits 1. With the rogue further ahead (different sizes), the
  fork is still reported (different blocks at one height, or no consistency
  proof).

Usage: cluster_audit_test.py --bin-dir BUILD/bin --testdata PATH
"""
import os
import re
import subprocess
import sys
import time

import cluster_harness as ch
import mcutil


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("cluster_audit")
    start = time.monotonic()
    with ch.Cluster(args.bin_dir, nodes=3, keep=args.keep) as c:
        leader = c.wait_leader()
        urls = [n.url for n in c.nodes]
        rc, out = c.submit_load(leader.url, txs=150, concurrency=4)
        t.check(rc == 0, "150 transactions committed", out[-300:])
        c.wait_same_tip()
        p = c.cli("audit-cluster", "--nodes", ",".join(urls))
        t.check(p.returncode == 0 and p.stdout.count("ok   node-") == 3,
                "three honest nodes: consistent, exit 0", p.stdout + p.stderr)

        bench = c.bench(leader.url, txs=3000, concurrency=16)
        h0 = leader.height()
        mcutil.wait_for(lambda: leader.height() >= h0 + 10, 60, "ten blocks of load")
        p = c.cli("audit-cluster", "--nodes", ",".join(urls))
        t.check(p.returncode == 0, "under load (nodes at different sizes): consistent",
                p.stdout + p.stderr)
        bench.communicate(timeout=300)

        p = c.cli("audit-cluster", "--nodes",
                  ",".join(urls + [f"http://127.0.0.1:{mcutil.free_port()}"]))
        t.check(p.returncode == 2 and "UNREACHABLE" in p.stdout, "an unreachable node: exit 2",
                p.stdout + p.stderr)

        # The rogue: node-1's key and the genesis, ordering alone.
        height = c.wait_same_tip()
        size = leader.get_json(f"/v1/blocks/{height}")["log_size"]
        rogue_dir = os.path.join(c.dir, "rogue")
        os.makedirs(rogue_dir)
        with open(c.nodes[0].config) as f:
            text = f.read()
        port = mcutil.free_port()
        text = re.sub(r"^enabled = true$", "enabled = false", text, flags=re.M)
        text = re.sub(r'^listen = ".*"$', f'listen = "127.0.0.1:{port}"', text, flags=re.M)
        text = re.sub(r'^public_url = ".*"$', f'public_url = "http://127.0.0.1:{port}"', text,
                      flags=re.M)
        with open(os.path.join(rogue_dir, "medchaind.toml"), "w") as f:
            f.write(text)
        rogue = ch.ClusterNode(c, 1, port, 0)
        rogue.dir = rogue_dir
        rogue.config = os.path.join(rogue_dir, "medchaind.toml")
        rogue.log_path = os.path.join(rogue_dir, "medchaind.log")
        c._bench.append(rogue)  # killed on the way out, whatever happens
        rogue.start()
        # Genesis (1) + the bench's registration (1) + N attests = the cluster's size.
        rc, out = c.submit_load(rogue.url, txs=size - 2, concurrency=4)
        t.check(rc == 0 and rogue.get_json("/v1/healthz")["log_size"] == size,
                f"the rogue signed a log of the cluster's size {size}", out[-300:])

        p = c.cli("audit-cluster", "--nodes", ",".join([c.nodes[1].url, rogue.url]))
        t.check(p.returncode == 1 and "FORK" in p.stdout, "same size, different roots: FORK, exit 1",
                p.stdout + p.stderr)
        notes = re.findall(r"^\u2014 (node-\d) ", p.stdout, re.M)
        t.check(sorted(notes) == ["node-1", "node-2"] and p.stdout.count(f"\n{size}\n") == 2,
                "both signed notes (node-1's and node-2's, same size) printed as evidence",
                p.stdout)

        rc, out = c.submit_load(rogue.url, txs=30, concurrency=2)
        p = c.cli("audit-cluster", "--nodes", ",".join(urls + [rogue.url]))
        t.check(p.returncode == 1 and ("FORK" in p.stdout or "INCONSISTENT" in p.stdout),
                "rogue ahead (different sizes): still reported, exit 1", p.stdout + p.stderr)
        rogue.stop()
        print(f"done in {ch.elapsed(start)}")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
