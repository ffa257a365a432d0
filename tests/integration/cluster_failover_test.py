#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""kill -9 of the Raft leader while a load generator runs.

A `medchain bench submit --ack-file` sends through a follower (which
forwards to whoever leads). The leader is killed with SIGKILL mid-run:
- a new leader is elected and serving within a few seconds;
- the load goes on: acknowledgements keep coming after the kill, and the
  bench ends with every transaction committed;
- the killed node restarts from its folder and catches up;
- no acknowledged transaction is lost: every id in the ack file is committed
  on all three nodes;
- all three chains agree (same block hash at every height) and, once
  stopped, each verifies offline (`medchain verify --data-dir`).

Usage: cluster_failover_test.py --bin-dir BUILD/bin --testdata PATH
"""
import json
import os
import sys
import time

import cluster_harness as ch
import mcutil

TXS = 3000


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("cluster_failover")
    start = time.monotonic()
    with ch.Cluster(args.bin_dir, nodes=3, election_ms=300, heartbeat_ms=30,
                    keep=args.keep) as c:
        old = c.wait_leader()
        via = next(n for n in c.nodes if n is not old)
        acks = os.path.join(c.dir, "acks.txt")
        bench = c.bench(via.url, txs=TXS, concurrency=16, ack_file=acks)
        mcutil.wait_for(lambda: len(ch.read_acks(acks)) >= 500, 120, "500 acknowledgements")
        acked_before = len(ch.read_acks(acks))
        height_before = via.height()
        print(f"killing leader {old.id} at height {height_before}, {acked_before} acks "
              f"({ch.elapsed(start)})")
        killed_at = time.monotonic()
        old.sigkill()

        new = c.wait_leader(among=c.live(), timeout=30, exclude=old)
        failover = time.monotonic() - killed_at
        t.check(new is not old, f"new leader {new.id} serving {failover:.2f} s after the kill")
        t.check(failover < 5.0, "failover within 5 s (election timeout 300 ms)", f"{failover:.2f} s")
        mcutil.wait_for(lambda: len(ch.read_acks(acks)) >= acked_before + 300, 120,
                        "acknowledgements after the kill")
        t.check(True, "the load continues: 300 more acknowledgements after the kill")

        out, _ = bench.communicate(timeout=300)
        last = out.strip().splitlines()[-1] if out.strip() else ""
        res = json.loads(last) if last.startswith("{") else {}
        t.check(bench.returncode == 0 and res.get("committed") == TXS,
                f"bench: all {TXS} committed, none failed", out[-800:])
        acked = ch.read_acks(acks)
        t.check(len(acked) == TXS, f"{len(acked)} acknowledgements in the ack file")

        old.start()
        height = c.wait_same_tip(timeout=120)
        t.check(height > height_before, f"the restarted node caught up to height {height}")
        missing = ch.committed_everywhere(c.nodes, acked)
        t.check(not missing, "every acknowledged transaction is committed on all three nodes",
                missing[:5])
        hashes = [c.block_hashes(n, height) for n in c.nodes]
        t.check(hashes[0] == hashes[1] == hashes[2],
                f"the three chains agree at every height 0..{height}")
        terms = {b["term"] for b in c.nodes[0].get_json(f"/v1/blocks?from=1&limit=1000")["blocks"]}
        t.check(len(terms) >= 2, f"blocks were proposed in {len(terms)} terms", terms)

        # A clean stop (SIGTERM) of the leader under load: it hands over
        # leadership, ends its requests in progress and exits promptly.
        acks2 = os.path.join(c.dir, "acks2.txt")
        lead = c.wait_leader()
        via2 = next(n for n in c.nodes if n is not lead)
        bench = c.bench(via2.url, txs=1500, concurrency=16, ack_file=acks2)
        mcutil.wait_for(lambda: len(ch.read_acks(acks2)) >= 200, 120, "load on the new leader")
        before = time.monotonic()
        rc = lead.stop(timeout=60)
        took = time.monotonic() - before
        t.check(rc == 0 and took < 10, f"SIGTERM of leader {lead.id} under load: exit 0 in "
                f"{took:.1f} s", rc)
        out, _ = bench.communicate(timeout=300)
        t.check(bench.returncode == 0, "the load goes on through the hand-over", out[-500:])
        lead.start()
        height = c.wait_same_tip(timeout=120)
        missing = ch.committed_everywhere(c.nodes, ch.read_acks(acks2))
        t.check(not missing and len(ch.read_acks(acks2)) == 1500,
                "nothing acknowledged lost across the clean stop", missing[:5])

        c.stop_all()
        for n in c.nodes:
            p = c.verify(n)
            t.check(p.returncode == 0 and p.stdout.startswith("ok:"),
                    f"medchain verify --data-dir {n.id}: ok", p.stdout + p.stderr)
        print(f"done in {ch.elapsed(start)}")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
