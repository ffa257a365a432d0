#!/usr/bin/env python3
# Copyright (c) medchain developers.
"""A follower fed a tampered block refuses it and halts; the others go on.

The test-only fault hook MEDCHAIN_TEST_TAMPER_APPLY=<height> (docs/cluster.md)
makes one follower flip a byte of the block at that height before validating
it, as a corrupt link or a lying leader would. That node must:
- refuse the block: its chain stops at height - 1;
- halt loudly: log "HALTED" with the reason (the transaction root does not
  match), /v1/healthz 503 naming it, metric medchain_halted 1, and leave the
  Raft cluster;
while the other two keep committing. The hook announces itself at start-up,
and a malformed value refuses to start. Restarted without the hook, the node
applies the genuine block and catches up to the same chain.

Usage: cluster_tamper_test.py --bin-dir BUILD/bin --testdata PATH
"""
import sys
import time

import cluster_harness as ch
import mcutil


def main():
    args = mcutil.parse_args(__doc__)
    t = mcutil.Checker("cluster_tamper")
    start = time.monotonic()
    with ch.Cluster(args.bin_dir, nodes=3, keep=args.keep) as c:
        leader = c.wait_leader()
        victim = next(n for n in c.nodes if n is not leader)
        others = [n for n in c.nodes if n is not victim]
        c.submit_load(leader.url, txs=40, concurrency=2)
        c.wait_same_tip()

        victim.stop()
        victim.env = {"MEDCHAIN_TEST_TAMPER_APPLY": "seven"}
        try:
            victim.start()
            t.check(False, "a malformed hook value refuses to start")
        except RuntimeError as e:
            t.check("MEDCHAIN_TEST_TAMPER_APPLY" in str(e),
                    "a malformed hook value refuses to start, naming the variable", str(e)[-300:])
        target = leader.height() + 3
        victim.start(env={"MEDCHAIN_TEST_TAMPER_APPLY": str(target)})
        t.check("TEST FAULT HOOK ENABLED" in victim.log_text(),
                "the hook announces itself loudly at start-up")

        rc, out = c.submit_load(leader.url, txs=600, concurrency=8)
        t.check(rc == 0, "the cluster keeps committing (600 transactions)", out[-300:])
        mcutil.wait_for(lambda: victim.health()[0] == 503, 60, "the victim to halt")
        status, health = victim.health()
        msg = (health or {}).get("message", "")
        t.check(status == 503 and "halted" in msg and f"block {target}" in msg and
                "tx_root" in msg, "healthz: 503, halted, naming the block and the fault", health)
        t.check(victim.metric("medchain_halted") == 1, "metric medchain_halted 1")
        log = victim.log_text()
        t.check("HALTED" in log and "invalid block from the leader" in log,
                "the log says HALTED and why")
        t.check("leaves the Raft cluster" in log, "the halted node leaves the Raft cluster")
        t.check(victim.height() == target - 1, f"its chain stopped at height {target - 1}",
                victim.height())
        r = victim.get_json("/v1/cluster?local=1")["nodes"][0]
        t.check("halted" in r, "/v1/cluster shows it halted", r)

        height = c.wait_same_tip(nodes=others, at_least=target)
        t.check(height >= target, f"the other two went on to height {height}")
        rc, out = c.submit_load(others[1].url, txs=100, concurrency=4)
        t.check(rc == 0, "and still commit with the halted node out", out[-300:])

        victim.stop()
        victim.env = {}
        victim.start()
        tip = c.wait_same_tip(timeout=120)
        hashes = [c.block_hashes(n, tip) for n in c.nodes]
        t.check(hashes[0] == hashes[1] == hashes[2],
                f"restarted without the hook it catches up: same chain 0..{tip}")
        print(f"done in {ch.elapsed(start)}")
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
