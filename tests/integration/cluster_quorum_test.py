#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""Without a quorum nothing commits; with it back, nothing acknowledged is lost.

Three nodes, a short commit wait (api.wait_timeout_ms = 2000):
- load with acknowledgements, then two of the three nodes stop;
- the remaining node accepts no commit: a submit with wait is refused or
  times out (503/504, never 200), its height does not move, and its health
  says there is no leader;
- the two restart from their folders: a leader is elected, a new submit
  commits, and every transaction acknowledged before is committed on all
  three nodes, whose chains agree.

Usage: cluster_quorum_test.py --bin-dir BUILD/bin --testdata PATH
"""
import json
import os
import sys
import time

import cluster_harness as ch
import mcutil


def attest(c, node, note, extra=()):
    body = json.dumps({"digest": os.urandom(32).hex(), "note": note})
    return c.cli("submit", "--node", node.url, "--key", c.key("admin"), "--type", "attest",
                 "--body", body, *extra, timeout=60)


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("cluster_quorum")
    start = time.monotonic()
    with ch.Cluster(args.bin_dir, nodes=3, wait_timeout_ms=2000, keep=args.keep) as c:
        leader = c.wait_leader()
        acks = os.path.join(c.dir, "acks.txt")
        bench = c.bench(leader.url, txs=600, concurrency=8, ack_file=acks)
        out, _ = bench.communicate(timeout=240)
        t.check(bench.returncode == 0, "600 transactions committed with 3 nodes", out[-400:])
        acked = ch.read_acks(acks)
        t.check(len(acked) == 600, f"{len(acked)} acknowledged")
        c.wait_same_tip()

        # Keep a follower; stop the leader and the other follower.
        survivor = next(n for n in c.nodes if n is not leader)
        stopped = [n for n in c.nodes if n is not survivor]
        for n in stopped:
            n.stop()
        print(f"stopped {[n.id for n in stopped]}; {survivor.id} alone ({ch.elapsed(start)})")
        height = survivor.height()

        mcutil.wait_for(lambda: survivor.health()[0] == 503, 30, "the survivor to see no leader")
        status, j = survivor.health()
        t.check(status == 503 and "leader" in (j or {}).get("message", ""),
                "healthz: 503, no Raft leader", j)
        before = time.monotonic()
        p = attest(c, survivor, "no quorum")
        took = time.monotonic() - before
        t.check(p.returncode != 0, "a submit with wait to the lone node does not commit",
                p.stdout + p.stderr)
        t.check(took < 30, f"it is refused within the short wait ({took:.1f} s)")
        t.check("leader" in p.stderr or "not committed" in p.stderr,
                "the refusal says why (no leader / not committed)", p.stderr)
        t.check(survivor.height() == height, "the lone node's height did not move")

        for n in stopped:
            n.start()
        new = c.wait_leader(timeout=60)
        t.check(new is not None, f"with the two back, {new.id} leads")
        p = attest(c, survivor, "quorum again")
        t.check(p.returncode == 0 and json.loads(p.stdout)["status"] == "committed",
                "progress resumes: a submit through the same node commits", p.stdout + p.stderr)
        tip = c.wait_same_tip(at_least=height + 1)
        missing = ch.committed_everywhere(c.nodes, acked)
        t.check(not missing, "nothing acknowledged was lost", missing[:5])
        hashes = [c.block_hashes(n, tip) for n in c.nodes]
        t.check(hashes[0] == hashes[1] == hashes[2], f"chains agree at every height 0..{tip}")
        print(f"done in {ch.elapsed(start)}")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
