#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""Clusters of 1 and 5 voters, and `medchain devnet` start / stop / resume.

- 1 voter: elects itself, commits, restarts on its folder and goes on.
- 5 voters: writes through every node; the same chain everywhere; with the
  leader and one more killed (-9) the other three elect and commit; the two
  come back and catch up.
- devnet: `medchain devnet --nodes 3 --dir DIR` starts three nodes that
  elect a leader and write DATA_DIR/medchaind.pid; SIGTERM stops them all
  cleanly (exit 0, pid files gone, no process left); started again on the
  same DIR it resumes the same cluster (same genesis, same blocks).

Usage: cluster_sizes_test.py --bin-dir BUILD/bin --testdata PATH
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import cluster_harness as ch
import mcutil


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def one_voter(args, t):
    t.section("1 voter")
    with ch.Cluster(args.bin_dir, nodes=1, keep=args.keep) as c:
        n = c.nodes[0]
        t.check(c.wait_leader() is n, "a lone voter elects itself")
        rc, out = c.submit_load(n.url, txs=300, concurrency=8)
        t.check(rc == 0, "300 transactions commit", out[-300:])
        h1 = n.height()
        first = c.block_hashes(n, h1)
        t.check(n.stop() == 0, "SIGTERM: clean exit")
        n.start()
        c.wait_leader()
        rc, out = c.submit_load(n.url, txs=50, concurrency=4)
        t.check(rc == 0 and n.height() > h1, "restarted on its folder, it commits on top", out[-300:])
        t.check(c.block_hashes(n, h1) == first, "the earlier blocks are unchanged")


def five_voters(args, t):
    t.section("5 voters")
    with ch.Cluster(args.bin_dir, nodes=5, keep=args.keep) as c:
        leader = c.wait_leader()
        view = leader.cluster_view()
        t.check(sorted(x["role"] for x in view["nodes"]) == ["follower"] * 4 + ["leader"],
                "/v1/cluster: one leader, four followers", view)
        benches = [c.bench(n.url, txs=120, concurrency=4) for n in c.nodes]
        for n, b in zip(c.nodes, benches):
            out, _ = b.communicate(timeout=240)
            t.check(b.returncode == 0, f"120 transactions through {n.id}", out[-300:])
        tip = c.wait_same_tip()
        hashes = [c.block_hashes(n, tip) for n in c.nodes]
        t.check(all(h == hashes[0] for h in hashes), f"five nodes, same chain 0..{tip}")
        down = [leader, next(n for n in c.nodes if n is not leader)]
        for n in down:
            n.sigkill()
        up = [n for n in c.nodes if n not in down]
        new = c.wait_leader(among=up, timeout=30)
        t.check(new not in down, f"three of five elect {new.id}")
        rc, out = c.submit_load(up[0].url, txs=200, concurrency=4)
        t.check(rc == 0, "and commit 200 more", out[-300:])
        for n in down:
            n.start()
        tip = c.wait_same_tip(timeout=120)
        hashes = [c.block_hashes(n, tip) for n in c.nodes]
        t.check(all(h == hashes[0] for h in hashes), f"the two caught up: same chain 0..{tip}")


def start_devnet(args, d, extra):
    log = open(os.path.join(d + ".log"), "ab")
    p = subprocess.Popen([os.path.join(args.bin_dir, "medchain"), "devnet", "--nodes", "3",
                          "--dir", d, "--fast-kdf"] + extra,
                         stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True)
    mcutil._live_processes.append(p)
    urls, pids = [], []
    while len(urls) < 3:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("devnet exited early")
        m = re.match(r"node(\d+)\s+(\S+)\s+pid (\d+)", line)
        if m:
            urls.append(m.group(2))
            pids.append(int(m.group(3)))
    return p, urls, pids


def devnet(args, t):
    t.section("medchain devnet")
    tmp = tempfile.mkdtemp(prefix="medchain-devnet-")
    d = os.path.join(tmp, "dn")
    api = [mcutil.free_port() for _ in range(3)]
    raft = [mcutil.free_port() for _ in range(3)]
    procs = []
    children = []
    try:
        p, urls, pids = start_devnet(args, d, ["--api-ports", ",".join(map(str, api)),
                                               "--raft-ports", ",".join(map(str, raft))])
        procs.append(p)
        children += pids
        t.check(urls == [f"http://127.0.0.1:{x}" for x in api], "prints the three URLs", urls)

        def leader_known():
            try:
                views = [json.loads(mcutil.request("GET", u + "/v1/cluster", timeout=5).body)
                         for u in urls]
            except OSError:
                return None
            leaders = {v["leader"] for v in views}
            return leaders.pop() if len(leaders) == 1 and None not in leaders else None
        leader = mcutil.wait_for(leader_known, 60, "a devnet leader")
        t.check(leader in urls, f"the devnet elects a leader ({leader})")
        pid_files = [os.path.join(d, f"node{k}", "medchaind.pid") for k in (1, 2, 3)]
        t.check([int(open(f).read()) for f in pid_files] == pids,
                "each node wrote its pid to DATA_DIR/medchaind.pid")
        r = mcutil.run_cli(args.bin_dir, ["bench", "submit", "--node", urls[1], "--txs", "100",
                                          "--concurrency", "4"])
        t.check(r.returncode == 0, "100 transactions commit", r.stdout[-300:])
        h = json.loads(mcutil.request("GET", urls[0] + "/v1/healthz").body)["height"]
        b1 = json.loads(mcutil.request("GET", urls[0] + "/v1/blocks/1").body)["hash"]

        p.send_signal(signal.SIGTERM)
        rc = p.wait(60)
        t.check(rc == 0, "SIGTERM stops the devnet: exit 0", rc)
        t.check(not any(alive(x) for x in pids), "no node process left")
        t.check(not any(os.path.exists(f) for f in pid_files), "pid files removed")

        p, urls2, pids2 = start_devnet(args, d, [])
        procs.append(p)
        children += pids2
        t.check(urls2 == urls, "started again on the same DIR: the same nodes")
        mcutil.wait_for(leader_known, 60, "a leader after the restart")

        def caught_up():
            try:
                return all(json.loads(mcutil.request("GET", u + "/v1/healthz").body)["height"] >= h
                           for u in urls)
            except OSError:
                return False
        mcutil.wait_for(caught_up, 60, "the resumed devnet at the old height")
        same = all(json.loads(mcutil.request("GET", u + "/v1/blocks/1").body)["hash"] == b1
                   for u in urls)
        t.check(same, "it resumes the same chain (block 1 unchanged on every node)")
        r = mcutil.run_cli(args.bin_dir, ["bench", "submit", "--node", urls[2], "--txs", "50",
                                          "--concurrency", "4"])
        t.check(r.returncode == 0, "and commits on top", r.stdout[-300:])
        p.send_signal(signal.SIGTERM)
        t.check(p.wait(60) == 0, "SIGTERM again: exit 0")
        t.check(not any(alive(x) for x in pids2), "no node process left")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("cluster_sizes")
    start = time.monotonic()
    one_voter(args, t)
    five_voters(args, t)
    devnet(args, t)
    print(f"done in {ch.elapsed(start)}")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
